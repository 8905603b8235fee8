/* SPDX-License-Identifier: MIT
 * bridge_services.c: the shared half of every sb_host table (see bridge_services.h), on
 * libsodium and the hub's JSON parser.
 */
#include "bridge_services.h"

#include <sodium.h>

void *sb_svc_alloc(struct sb_arena *a, size_t n)
{
	void *p = sb_arena_alloc(a, n ? n : 1);
	memset(p, 0, n ? n : 1);
	return p;
}

void sb_svc_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
			unsigned char out[32])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, klen);
	crypto_auth_hmacsha256_update(&st, msg, mlen);
	crypto_auth_hmacsha256_final(&st, out);
}

void sb_svc_hmac_sha512(const void *key, size_t klen, const void *msg, size_t mlen,
			unsigned char out[64])
{
	crypto_auth_hmacsha512_state st;
	crypto_auth_hmacsha512_init(&st, key, klen);
	crypto_auth_hmacsha512_update(&st, msg, mlen);
	crypto_auth_hmacsha512_final(&st, out);
}

void sb_svc_sha256(const void *msg, size_t mlen, unsigned char out[32])
{
	crypto_hash_sha256(out, msg, mlen);
}

bool sb_svc_mem_eq(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

size_t sb_svc_base64_encode(const void *p, size_t n, char *out, size_t outlen)
{
	if (outlen < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL))
		return 0;
	sodium_bin2base64(out, outlen, p, n, sodium_base64_VARIANT_ORIGINAL);
	return strlen(out);
}

long sb_svc_base64_decode(const char *p, size_t n, void *out, size_t outlen)
{
	size_t len;
	if (sodium_base642bin(out, outlen, p, n, NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) == 0 ||
	    sodium_base642bin(out, outlen, p, n, NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0)
		return (long)len;
	return -1;
}

int sb_svc_json_parse(struct sb_arena *a, const char *p, size_t n, struct sb_json **out)
{
	return sb_json_parse(a, p, n, out, NULL);
}
