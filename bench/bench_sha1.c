/* SPDX-License-Identifier: MIT
 * SHA-1 (FIPS 180-4), HMAC-SHA1 (RFC 2104) and base64 (RFC 4648) for the load tools.
 * Written for clarity over speed: a benchmark client hashes once per handshake or
 * webhook, far below the cost of the socket work around it.
 */
#include "bench_sha1.h"

#include <string.h>

static uint32_t rol32(uint32_t v, unsigned n)
{
	return (v << n) | (v >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80];
	uint32_t a, b, c, d, e, f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void bench_sha1_init(struct bench_sha1 *s)
{
	s->h[0] = 0x67452301;
	s->h[1] = 0xefcdab89;
	s->h[2] = 0x98badcfe;
	s->h[3] = 0x10325476;
	s->h[4] = 0xc3d2e1f0;
	s->total = 0;
	s->fill = 0;
}

void bench_sha1_update(struct bench_sha1 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->total += len;
	while (len) {
		size_t n = 64 - s->fill;

		if (n > len)
			n = len;
		memcpy(s->block + s->fill, p, n);
		s->fill += n;
		p += n;
		len -= n;
		if (s->fill == 64) {
			sha1_block(s->h, s->block);
			s->fill = 0;
		}
	}
}

void bench_sha1_final(struct bench_sha1 *s, uint8_t out[BENCH_SHA1_LEN])
{
	uint64_t bits = s->total * 8;
	uint8_t pad = 0x80;
	uint8_t lenbe[8];
	int i;

	bench_sha1_update(s, &pad, 1);
	pad = 0;
	while (s->fill != 56)
		bench_sha1_update(s, &pad, 1);
	for (i = 0; i < 8; i++)
		lenbe[i] = (uint8_t)(bits >> (56 - 8 * i));
	bench_sha1_update(s, lenbe, 8);
	for (i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

void bench_sha1(const void *data, size_t len, uint8_t out[BENCH_SHA1_LEN])
{
	struct bench_sha1 s;

	bench_sha1_init(&s);
	bench_sha1_update(&s, data, len);
	bench_sha1_final(&s, out);
}

void bench_hmac_init(struct bench_hmac *m, const void *key, size_t klen)
{
	uint8_t k[64] = { 0 };
	uint8_t ikey[64];
	int i;

	if (klen > 64)
		bench_sha1(key, klen, k);	/* long keys are hashed first */
	else
		memcpy(k, key, klen);
	for (i = 0; i < 64; i++) {
		ikey[i] = k[i] ^ 0x36;
		m->okey[i] = k[i] ^ 0x5c;
	}
	bench_sha1_init(&m->inner);
	bench_sha1_update(&m->inner, ikey, 64);
}

void bench_hmac_update(struct bench_hmac *m, const void *data, size_t len)
{
	bench_sha1_update(&m->inner, data, len);
}

void bench_hmac_final(struct bench_hmac *m, uint8_t out[BENCH_SHA1_LEN])
{
	uint8_t ih[BENCH_SHA1_LEN];
	struct bench_sha1 outer;

	bench_sha1_final(&m->inner, ih);
	bench_sha1_init(&outer);
	bench_sha1_update(&outer, m->okey, 64);
	bench_sha1_update(&outer, ih, sizeof(ih));
	bench_sha1_final(&outer, out);
}

size_t bench_b64_encode(const void *in, size_t len, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = in;
	size_t o = 0;

	while (len >= 3) {
		out[o++] = tab[p[0] >> 2];
		out[o++] = tab[(p[0] & 3) << 4 | p[1] >> 4];
		out[o++] = tab[(p[1] & 15) << 2 | p[2] >> 6];
		out[o++] = tab[p[2] & 63];
		p += 3;
		len -= 3;
	}
	if (len) {
		out[o++] = tab[p[0] >> 2];
		if (len == 1) {
			out[o++] = tab[(p[0] & 3) << 4];
			out[o++] = '=';
		} else {
			out[o++] = tab[(p[0] & 3) << 4 | p[1] >> 4];
			out[o++] = tab[(p[1] & 15) << 2];
		}
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

void bench_ws_accept(const char *key, size_t klen, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	uint8_t d[BENCH_SHA1_LEN];
	struct bench_sha1 s;

	bench_sha1_init(&s);
	bench_sha1_update(&s, key, klen);
	bench_sha1_update(&s, guid, sizeof(guid) - 1);
	bench_sha1_final(&s, d);
	bench_b64_encode(d, sizeof(d), out);
}
