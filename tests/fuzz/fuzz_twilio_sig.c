/* SPDX-License-Identifier: MIT
 * fuzz_twilio_sig.c: X-Twilio-Signature verification (bridges/sms/sms_sig.c).
 * Input: url NUL form-params NUL token NUL signature NUL body (missing fields are empty).
 * Checks: verify never crashes and answers 0 or SB_EAUTH; a signature computed for the same
 * URL and params verifies (also through the other spelling of the default port); toggling
 * the default port twice gives a well-formed URL back; and a signature with one byte changed fails.
 */
#include "fuzz.h"

#include "sb_bstr.h"
#include "sb_sms.h"

static bool has_body_hash(struct sb_arena *a, struct sb_str url)
{
	struct sb_form q;
	struct sb_str v;
	return sb_form_parse(&fuzz_host, a, sb_url_query(url), &q) != 0 ||
	       sb_form_get(&q, "bodySHA256", &v);
}

/* True when the authority (after "://", before / ? #) is well formed: [userinfo@] then a
 * host of letters, digits, '.', '-' or a [bracketed literal], then optionally :digits. The
 * port toggle is an involution only for those; the hub's own origin always is one. */
static bool authority_ok(struct sb_str url)
{
	size_t i = 0;
	while (i + 2 < url.len && memcmp(url.p + i, "://", 3))
		i++;
	if (i + 2 >= url.len)
		return false;
	size_t as = i + 3, ae = as;
	while (ae < url.len && url.p[ae] != '/' && url.p[ae] != '?' && url.p[ae] != '#')
		ae++;
	size_t k = as;
	for (size_t j = as; j < ae; j++)
		if (url.p[j] == '@')
			k = j + 1;
	if (k < ae && url.p[k] == '[') {
		while (k < ae && url.p[k] != ']')
			k++;
		if (k == ae)
			return false;
		k++;
	} else {
		size_t hs = k;
		while (k < ae && (sb_bstr_isalnum(url.p[k]) || url.p[k] == '.' || url.p[k] == '-'))
			k++;
		if (k == hs)
			return false;
	}
	if (k < ae && url.p[k] == ':')
		for (k++; k < ae && url.p[k] >= '0' && url.p[k] <= '9'; k++)
			;
	return k == ae;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	struct sb_str url = fuzz_field(&p, &n), form = fuzz_field(&p, &n);
	struct sb_str token = fuzz_field(&p, &n), sig = fuzz_field(&p, &n);
	struct sb_str body = { (const char *)p, n };
	struct sb_arena a = { 0 };

	struct sb_form f;
	bool have_params = sb_form_parse(&fuzz_host, &a, form, &f) == 0;
	int rc = sb_sms_sig_verify(&fuzz_host, &a, url, have_params ? &f : NULL, body, token, sig);
	FUZZ_CHECK(rc == 0 || rc == SB_EAUTH);

	if (token.len && !has_body_hash(&a, url)) {
		char good[29];
		sb_sms_sig_compute(&fuzz_host, &a, url, have_params ? &f : NULL, token, good);
		FUZZ_CHECK(strlen(good) == SB_SMS_SIG_LEN);
		struct sb_str gs = { good, SB_SMS_SIG_LEN };
		FUZZ_CHECK(sb_sms_sig_verify(&fuzz_host, &a, url, have_params ? &f : NULL, body,
					     token, gs) == 0);
		char bad[29];
		memcpy(bad, good, sizeof bad);
		bad[size % SB_SMS_SIG_LEN] ^= 0x01;
		struct sb_str bs = { bad, SB_SMS_SIG_LEN };
		FUZZ_CHECK(sb_sms_sig_verify(&fuzz_host, &a, url, have_params ? &f : NULL, body,
					     token, bs) == SB_EAUTH);

		struct sb_str alt, back;
		if (sb_sms_url_port_variant(&fuzz_host, &a, url, &alt)) {
			/* an unterminated IPv6 literal ("http://[::1?]") has no real port to
			 * toggle; the hub's origin is always well formed, so only then */
			if (authority_ok(url)) {
				FUZZ_CHECK(sb_sms_url_port_variant(&fuzz_host, &a, alt, &back));
				FUZZ_CHECK(sb_str_eq(back, url));
			}
			/* Twilio signed the other spelling: still accepted */
			char other[29];
			sb_sms_sig_compute(&fuzz_host, &a, alt, have_params ? &f : NULL, token,
					   other);
			struct sb_str os = { other, SB_SMS_SIG_LEN };
			if (!has_body_hash(&a, alt))
				FUZZ_CHECK(sb_sms_sig_verify(&fuzz_host, &a, url,
							     have_params ? &f : NULL, body, token,
							     os) == 0);
		}
	}
	sb_arena_free(&a);
	return 0;
}
