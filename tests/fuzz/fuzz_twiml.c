/* SPDX-License-Identifier: MIT
 * fuzz_twiml.c: the hub's only XML reader, twiml_reply() (hub/sandbox.c; see twiml.h), on
 * arbitrary provider answers. Checks: the output stays inside its buffer and is
 * NUL-terminated, at the hub's own cap and at small ones. Soft property, counted (fatal
 * with SB_FUZZ_STRICT_UTF8=1): a valid UTF-8 answer gives a valid UTF-8 reply.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include "twiml.h"

static bool strict_utf8;
static unsigned long bad_utf8;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *s = getenv("SB_FUZZ_STRICT_UTF8");
	strict_utf8 = s && *s == '1';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size buffers, so ASan sees a write past the cap */
	char *out = malloc(TWIML_REPLY_CAP);
	twiml_reply((const char *)data, size, out, TWIML_REPLY_CAP);
	size_t len = strnlen(out, TWIML_REPLY_CAP);
	FUZZ_CHECK(len < TWIML_REPLY_CAP);
	if (sb_utf8_valid((const char *)data, size) && !sb_utf8_valid(out, len)) {
		bad_utf8++;
		FUZZ_CHECK(!strict_utf8);
	}
	free(out);

	size_t cap = size ? (size_t)(data[0] % 16) + 1 : 1;
	char *small = malloc(cap);
	twiml_reply((const char *)data, size, small, cap);
	FUZZ_CHECK(strnlen(small, cap) < cap);
	free(small);
	return 0;
}

int sb_fuzz_replay_done(void)
{
	if (bad_utf8)
		fprintf(stderr, "fuzz_twiml: %lu replies cut inside a UTF-8 sequence\n", bad_utf8);
	return 0;
}
