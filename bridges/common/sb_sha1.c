/* SPDX-License-Identifier: MIT
 * sb_sha1.c: SHA-1 written from FIPS 180-4 section 6.1 (80-word schedule, big-endian
 * words, length-padded final block) and HMAC per RFC 2104. Plain and portable; speed is
 * irrelevant for a few hundred bytes per webhook.
 */
#include "sb_sha1.h"

#include <string.h>

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void compress(uint32_t h[5], const unsigned char *b)
{
	uint32_t w[80];
	for (int t = 0; t < 16; t++)
		w[t] = (uint32_t)b[4 * t] << 24 | (uint32_t)b[4 * t + 1] << 16 |
		       (uint32_t)b[4 * t + 2] << 8 | (uint32_t)b[4 * t + 3];
	for (int t = 16; t < 80; t++)
		w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

	uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
	for (int t = 0; t < 80; t++) {
		uint32_t f, k;
		if (t < 20) {
			f = (bb & c) | (~bb & d); /* Ch */
			k = 0x5a827999;
		} else if (t < 40) {
			f = bb ^ c ^ d; /* Parity */
			k = 0x6ed9eba1;
		} else if (t < 60) {
			f = (bb & c) | (bb & d) | (c & d); /* Maj */
			k = 0x8f1bbcdc;
		} else {
			f = bb ^ c ^ d;
			k = 0xca62c1d6;
		}
		uint32_t tmp = rol(a, 5) + f + e + k + w[t];
		e = d;
		d = c;
		c = rol(bb, 30);
		bb = a;
		a = tmp;
	}
	h[0] += a;
	h[1] += bb;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void sb_sha1_init(struct sb_sha1 *s)
{
	static const uint32_t iv[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
					0xc3d2e1f0 };
	memcpy(s->h, iv, sizeof iv);
	s->bytes = 0;
	s->fill = 0;
}

void sb_sha1_update(struct sb_sha1 *s, const void *p, size_t n)
{
	const unsigned char *in = p;
	s->bytes += n;
	if (s->fill) {
		size_t take = 64 - s->fill < n ? 64 - s->fill : n;
		memcpy(s->blk + s->fill, in, take);
		s->fill += take;
		in += take;
		n -= take;
		if (s->fill < 64)
			return;
		compress(s->h, s->blk);
		s->fill = 0;
	}
	for (; n >= 64; in += 64, n -= 64)
		compress(s->h, in);
	if (n) {
		memcpy(s->blk, in, n);
		s->fill = n;
	}
}

void sb_sha1_final(struct sb_sha1 *s, unsigned char out[SB_SHA1_LEN])
{
	uint64_t bits = s->bytes * 8;
	s->blk[s->fill++] = 0x80;
	if (s->fill > 56) {
		memset(s->blk + s->fill, 0, 64 - s->fill);
		compress(s->h, s->blk);
		s->fill = 0;
	}
	memset(s->blk + s->fill, 0, 56 - s->fill);
	for (int i = 0; i < 8; i++)
		s->blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
	compress(s->h, s->blk);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(s->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)s->h[i];
	}
	/* the state is not secret (HMAC wipes its own key copy), so a plain memset will do */
	memset(s, 0, sizeof *s);
}

void sb_sha1(const void *p, size_t n, unsigned char out[SB_SHA1_LEN])
{
	struct sb_sha1 s;
	sb_sha1_init(&s);
	sb_sha1_update(&s, p, n);
	sb_sha1_final(&s, out);
}

void sb_hmac_sha1(const void *key, size_t klen, const void *msg, size_t mlen,
		  unsigned char out[SB_SHA1_LEN])
{
	unsigned char k[64] = { 0 }, pad[64], inner[SB_SHA1_LEN];
	struct sb_sha1 s;

	if (klen > 64)
		sb_sha1(key, klen, k); /* long keys are hashed first */
	else if (klen)
		memcpy(k, key, klen);

	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sb_sha1_init(&s);
	sb_sha1_update(&s, pad, 64);
	sb_sha1_update(&s, msg, mlen);
	sb_sha1_final(&s, inner);

	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sb_sha1_init(&s);
	sb_sha1_update(&s, pad, 64);
	sb_sha1_update(&s, inner, sizeof inner);
	sb_sha1_final(&s, out);

	/* the key material must not linger on the stack */
	volatile unsigned char *vk = k, *vp = pad;
	for (int i = 0; i < 64; i++)
		vk[i] = vp[i] = 0;
}
