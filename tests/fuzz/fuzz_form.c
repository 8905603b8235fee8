/* SPDX-License-Identifier: MIT
 * fuzz_form.c: sb_form_parse and sb_url_query (bridges/common/sb_form.c), what every
 * Twilio webhook body and URL query goes through before its signature is checked.
 * Checks: the caps, NUL-terminated decoded slices no longer than the input, sb_form_get
 * returning the first value, and an encode-then-parse round trip of what was decoded.
 */
#include "fuzz.h"

#include "sb_form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_arena a = { 0 };
	struct sb_str in = { (const char *)data, size };
	struct sb_form f;
	int rc = sb_form_parse(&fuzz_host, &a, in, &f);
	FUZZ_CHECK(rc == 0 || rc == SB_EINVAL || rc == SB_ETOOBIG);
	if (rc) {
		FUZZ_CHECK(f.n == 0);
	} else {
		FUZZ_CHECK(f.n <= SB_FORM_MAX_PARAMS && size <= SB_FORM_MAX_BYTES);
		size_t total = 0;
		struct sb_buf enc;
		sb_buf_init(&enc, 0);
		for (size_t i = 0; i < f.n; i++) {
			FUZZ_CHECK(f.v[i].name.p[f.v[i].name.len] == '\0');
			FUZZ_CHECK(f.v[i].value.p[f.v[i].value.len] == '\0');
			total += f.v[i].name.len + f.v[i].value.len;
			if (i)
				sb_buf_addc(&enc, '&');
			sb_url_encode(&enc, f.v[i].name.p, f.v[i].name.len);
			sb_buf_addc(&enc, '=');
			sb_url_encode(&enc, f.v[i].value.p, f.v[i].value.len);
			/* the first pair of a name wins */
			if (f.v[i].name.len == strlen(f.v[i].name.p)) {
				struct sb_str v;
				FUZZ_CHECK(sb_form_get(&f, f.v[i].name.p, &v));
				size_t k = 0;
				while (!sb_str_eq(f.v[k].name, f.v[i].name))
					k++;
				FUZZ_CHECK(v.p == f.v[k].value.p);
			}
		}
		FUZZ_CHECK(total <= size);
		/* re-encoded pairs parse back to the same pairs (empty names are dropped
		 * only when the whole piece is empty, which encoding never produces) */
		if (enc.len <= SB_FORM_MAX_BYTES) {
			struct sb_form g;
			struct sb_str e = { sb_buf_data(&enc), enc.len };
			FUZZ_CHECK(sb_form_parse(&fuzz_host, &a, e, &g) == 0);
			FUZZ_CHECK(g.n == f.n);
			for (size_t i = 0; i < f.n; i++)
				FUZZ_CHECK(sb_str_eq(g.v[i].name, f.v[i].name) &&
					   sb_str_eq(g.v[i].value, f.v[i].value));
		}
		sb_buf_free(&enc);
	}
	struct sb_str q = sb_url_query(in);
	FUZZ_CHECK(q.len == 0 || (q.p > in.p && q.p + q.len <= in.p + in.len));
	sb_arena_free(&a);
	return 0;
}
