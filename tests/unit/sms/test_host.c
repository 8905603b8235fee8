/* SPDX-License-Identifier: MIT
 * test_host.c: the host services a test lends a bridge (see test_host.h).
 */
#include "test_host.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>

#include "sb_sha1.h"

static void t_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bridge log %d: ", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t t_wall_ms(void)
{
	return TEST_NOW_MS;
}

static void *t_alloc(struct sb_arena *a, size_t n)
{
	void *p = sb_arena_alloc(a, n ? n : 1);
	memset(p, 0, n ? n : 1);
	return p;
}

static struct sb_bridge_event *t_event_add(struct sb_bridge_events *out)
{
	if (out->n >= out->cap)
		return NULL;
	struct sb_bridge_event *e = &out->v[out->n++];
	memset(e, 0, sizeof *e);
	return e;
}

static void t_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
			  unsigned char out[32])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, klen);
	crypto_auth_hmacsha256_update(&st, msg, mlen);
	crypto_auth_hmacsha256_final(&st, out);
}

static void t_hmac_sha512(const void *key, size_t klen, const void *msg, size_t mlen,
			  unsigned char out[64])
{
	crypto_auth_hmacsha512_state st;
	crypto_auth_hmacsha512_init(&st, key, klen);
	crypto_auth_hmacsha512_update(&st, msg, mlen);
	crypto_auth_hmacsha512_final(&st, out);
}

static void t_sha256(const void *msg, size_t mlen, unsigned char out[32])
{
	crypto_hash_sha256(out, msg, mlen);
}

static bool t_mem_eq(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

static size_t t_b64enc(const void *p, size_t n, char *out, size_t outlen)
{
	if (outlen < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL))
		return 0;
	sodium_bin2base64(out, outlen, p, n, sodium_base64_VARIANT_ORIGINAL);
	return strlen(out);
}

static long t_b64dec(const char *p, size_t n, void *out, size_t outlen)
{
	size_t len;
	if (sodium_base642bin(out, outlen, p, n, NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) == 0 ||
	    sodium_base642bin(out, outlen, p, n, NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0)
		return (long)len;
	return -1;
}

static int t_json(struct sb_arena *a, const char *p, size_t n, struct sb_json **out)
{
	return sb_json_parse(a, p, n, out, NULL);
}

const struct sb_host test_host = {
	.size = sizeof(struct sb_host),
	.abi_major = SB_BRIDGE_ABI_MAJOR,
	.abi_minor = SB_BRIDGE_ABI_MINOR,
	.log = t_log,
	.wall_ms = t_wall_ms,
	.alloc = t_alloc,
	.event_add = t_event_add,
	.hmac_sha1 = sb_hmac_sha1,
	.hmac_sha256 = t_hmac_sha256,
	.hmac_sha512 = t_hmac_sha512,
	.sha256 = t_sha256,
	.mem_eq = t_mem_eq,
	.base64_encode = t_b64enc,
	.base64_decode = t_b64dec,
	.json_parse = t_json,
};

void test_call_init(struct test_call *t, void *priv)
{
	memset(t, 0, sizeof *t);
	t->ev.cap = 16;
	t->ctx = (struct sb_bridge_ctx){ .host = &test_host, .arena = &t->arena, .priv = priv,
					 .now_ms = TEST_NOW_MS };
}

void test_call_fini(struct test_call *t)
{
	sb_arena_free(&t->arena);
}
