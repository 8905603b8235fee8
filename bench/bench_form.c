/* SPDX-License-Identifier: MIT
 * Form encoding and Twilio request signing (PROVIDERS.md §1.4): the string to sign is
 * the URL exactly as configured, then name + value of each parameter in byte order of the
 * names, with no separators; the signature is base64(HMAC-SHA1(auth token, that string)).
 */
#include "bench_form.h"
#include "bench_sha1.h"

#include <stdlib.h>
#include <string.h>

size_t bench_form_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char b = (unsigned char)*s;

		if (o + 4 > cap)
			return 0;
		if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
		    b == '-' || b == '_' || b == '.' || b == '*') {
			out[o++] = (char)b;
		} else if (b == ' ') {
			out[o++] = '+';
		} else {
			out[o++] = '%';
			out[o++] = hex[b >> 4];
			out[o++] = hex[b & 15];
		}
	}
	if (o < cap)
		out[o] = '\0';
	return o;
}

static int param_cmp(const void *a, const void *b)
{
	const struct bench_param *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->value, y->value);
}

void bench_twilio_sign(const char *token, const char *url, struct bench_param *params, size_t n,
		       char out[29])
{
	struct bench_hmac m;
	uint8_t mac[BENCH_SHA1_LEN];
	size_t i;

	qsort(params, n, sizeof(*params), param_cmp);
	bench_hmac_init(&m, token, strlen(token));
	bench_hmac_update(&m, url, strlen(url));
	for (i = 0; i < n; i++) {
		if (i && !param_cmp(&params[i - 1], &params[i]))
			continue;
		bench_hmac_update(&m, params[i].name, strlen(params[i].name));
		bench_hmac_update(&m, params[i].value, strlen(params[i].value));
	}
	bench_hmac_final(&m, mac);
	bench_b64_encode(mac, sizeof(mac), out);
}
