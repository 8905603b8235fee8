/* SPDX-License-Identifier: MIT
 * fuzz_host.c: the host services the fuzz targets lend a bridge: the same choices as
 * tests/unit/sms/test_host.c (libsodium, the bridges' SHA-1, the hub's arena and JSON
 * parser), without cmocka, and quiet: bridge log lines are dropped.
 */
#include "fuzz.h"

#include <sodium.h>

#include "sb_sha1.h"

static void f_log(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

static int64_t f_wall_ms(void)
{
	return FUZZ_NOW_MS;
}

static void *f_alloc(struct sb_arena *a, size_t n)
{
	void *p = sb_arena_alloc(a, n ? n : 1);
	memset(p, 0, n ? n : 1);
	return p;
}

static struct sb_bridge_event *f_event_add(struct sb_bridge_events *out)
{
	if (out->n >= out->cap)
		return NULL;
	struct sb_bridge_event *e = &out->v[out->n++];
	memset(e, 0, sizeof *e);
	return e;
}

static void f_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
			  unsigned char out[32])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, klen);
	crypto_auth_hmacsha256_update(&st, msg, mlen);
	crypto_auth_hmacsha256_final(&st, out);
}

static void f_hmac_sha512(const void *key, size_t klen, const void *msg, size_t mlen,
			  unsigned char out[64])
{
	crypto_auth_hmacsha512_state st;
	crypto_auth_hmacsha512_init(&st, key, klen);
	crypto_auth_hmacsha512_update(&st, msg, mlen);
	crypto_auth_hmacsha512_final(&st, out);
}

static void f_sha256(const void *msg, size_t mlen, unsigned char out[32])
{
	crypto_hash_sha256(out, msg, mlen);
}

static bool f_mem_eq(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

static size_t f_b64enc(const void *p, size_t n, char *out, size_t outlen)
{
	if (outlen < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL))
		return 0;
	sodium_bin2base64(out, outlen, p, n, sodium_base64_VARIANT_ORIGINAL);
	return strlen(out);
}

static long f_b64dec(const char *p, size_t n, void *out, size_t outlen)
{
	size_t len;
	if (sodium_base642bin(out, outlen, p, n, NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) == 0 ||
	    sodium_base642bin(out, outlen, p, n, NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0)
		return (long)len;
	return -1;
}

static int f_json(struct sb_arena *a, const char *p, size_t n, struct sb_json **out)
{
	return sb_json_parse(a, p, n, out, NULL);
}

const struct sb_host fuzz_host = {
	.size = sizeof(struct sb_host),
	.abi_major = SB_BRIDGE_ABI_MAJOR,
	.abi_minor = SB_BRIDGE_ABI_MINOR,
	.log = f_log,
	.wall_ms = f_wall_ms,
	.alloc = f_alloc,
	.event_add = f_event_add,
	.hmac_sha1 = sb_hmac_sha1,
	.hmac_sha256 = f_hmac_sha256,
	.hmac_sha512 = f_hmac_sha512,
	.sha256 = f_sha256,
	.mem_eq = f_mem_eq,
	.base64_encode = f_b64enc,
	.base64_decode = f_b64dec,
	.json_parse = f_json,
};
