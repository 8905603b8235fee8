/* SPDX-License-Identifier: MIT
 * Twilio-style webhook helpers for sbwebhook: application/x-www-form-urlencoded
 * encoding and the X-Twilio-Signature of PROVIDERS.md §1.4 (HMAC-SHA1 over the URL
 * followed by every parameter's name and value, sorted by name).
 */
#ifndef BENCH_FORM_H
#define BENCH_FORM_H

#include <stddef.h>

/* One form parameter; the strings are borrowed for the duration of a call. */
struct bench_param {
	const char *name;
	const char *value;	/* decoded (the text that is signed) */
};

/* Form-encodes s into out: unreserved bytes as they are, space as '+', the rest as %XX.
 * Returns the length written (NUL-terminated), or 0 if out (cap bytes) is too small and
 * s is not empty. */
size_t bench_form_encode(const char *s, char *out, size_t cap);

/* Computes the signature for a form POST to url with the n params into out (29 bytes:
 * 28 base64 characters and a NUL). Sorts params in place by name, then value; a repeated
 * identical name and value is signed once. */
void bench_twilio_sign(const char *token, const char *url, struct bench_param *params, size_t n,
		       char out[29]);

#endif
