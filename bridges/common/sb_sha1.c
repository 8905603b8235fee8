/* SPDX-License-Identifier: MIT
 * sb_sha1.c: SHA-1 written from FIPS 180-4 section 6.1 (80-word schedule, big-endian
 * words, length-padded final block) and HMAC per RFC 2104. Every signed Twilio webhook costs
 * one HMAC over ~10 blocks, so on x86-64 CPUs with the SHA extensions the blocks go through
 * them (about 15x faster than the portable loops, which remain the fallback).
 */
#include "sb_sha1.h"
#include "sb_wipe.h"

#include <stdlib.h>
#include <string.h>

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

/* The portable compression: the 80 rounds as four loops of 20, one per round function,
 * so the loop body has no branch. */
static void compress_c(uint32_t h[5], const unsigned char *b, size_t blocks)
{
	for (; blocks--; b += 64) {
		uint32_t w[80];
		for (int t = 0; t < 16; t++)
			w[t] = (uint32_t)b[4 * t] << 24 | (uint32_t)b[4 * t + 1] << 16 |
			       (uint32_t)b[4 * t + 2] << 8 | (uint32_t)b[4 * t + 3];
		for (int t = 16; t < 80; t++)
			w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
		uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], tmp;
#define STEP(f, k)                                                  \
	do {                                                        \
		tmp = rol(a, 5) + (f) + e + (k) + w[t];             \
		e = d;                                              \
		d = c;                                              \
		c = rol(bb, 30);                                    \
		bb = a;                                             \
		a = tmp;                                            \
	} while (0)
		int t = 0;
		for (; t < 20; t++)
			STEP((bb & c) | (~bb & d), 0x5a827999u); /* Ch */
		for (; t < 40; t++)
			STEP(bb ^ c ^ d, 0x6ed9eba1u); /* Parity */
		for (; t < 60; t++)
			STEP((bb & c) | (bb & d) | (c & d), 0x8f1bbcdcu); /* Maj */
		for (; t < 80; t++)
			STEP(bb ^ c ^ d, 0xca62c1d6u);
#undef STEP
		h[0] += a;
		h[1] += bb;
		h[2] += c;
		h[3] += d;
		h[4] += e;
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The x86 SHA extensions (Intel SHA-NI, also on AMD since Zen): sha1rnds4 does four rounds,
 * sha1nexte derives the next E, sha1msg1/sha1msg2 the message schedule. Lanes hold the
 * words big-end first (A in lane 3), hence the byte reversal of each 16-byte load. */
#include <cpuid.h>
#include <immintrin.h>

#define SHA_NI __attribute__((target("sha,ssse3,sse4.1")))

SHA_NI static void compress_ni(uint32_t h[5], const unsigned char *b, size_t blocks)
{
	const __m128i rev = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
	__m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)h), 0x1b);
	__m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0);
	for (; blocks--; b += 64) {
		const __m128i abcd_in = abcd, e_in = e0;
		__m128i w[4], prev, e;
		for (int i = 0; i < 4; i++)
			w[i] = _mm_shuffle_epi8(
				_mm_loadu_si128((const __m128i *)(const void *)(b + 16 * i)), rev);
		/* group g (rounds 4g..4g+3) uses w[g % 4]; from g = 4 on it is computed in place
		 * from the four before it: msg2(msg1(w[g-4], w[g-3]) ^ w[g-2], w[g-1]) */
#define NEXT_W(g)                                                                         \
	(w[(g) & 3] = _mm_sha1msg2_epu32(                                                \
		 _mm_xor_si128(_mm_sha1msg1_epu32(w[(g) & 3], w[((g) + 1) & 3]),         \
			       w[((g) + 2) & 3]),                                        \
		 w[((g) + 3) & 3]))
#define GROUP(g, f)                                                                        \
	do {                                                                               \
		if ((g) >= 4)                                                              \
			NEXT_W(g);                                                         \
		e = (g) == 0 ? _mm_add_epi32(e0, w[0]) : _mm_sha1nexte_epu32(prev, w[(g) & 3]); \
		prev = abcd;                                                               \
		abcd = _mm_sha1rnds4_epu32(abcd, e, f);                                    \
	} while (0)
		prev = abcd;
		GROUP(0, 0);
		GROUP(1, 0);
		GROUP(2, 0);
		GROUP(3, 0);
		GROUP(4, 0);
		GROUP(5, 1);
		GROUP(6, 1);
		GROUP(7, 1);
		GROUP(8, 1);
		GROUP(9, 1);
		GROUP(10, 2);
		GROUP(11, 2);
		GROUP(12, 2);
		GROUP(13, 2);
		GROUP(14, 2);
		GROUP(15, 3);
		GROUP(16, 3);
		GROUP(17, 3);
		GROUP(18, 3);
		GROUP(19, 3);
#undef GROUP
#undef NEXT_W
		e0 = _mm_sha1nexte_epu32(prev, e_in);
		abcd = _mm_add_epi32(abcd, abcd_in);
	}
	_mm_storeu_si128((__m128i *)(void *)h, _mm_shuffle_epi32(abcd, 0x1b));
	h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

static int have_sha_ni(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b & bit_SHA) != 0;
}
#endif

/* 0 unknown, 1 portable, 2 SHA-NI; chosen once (a race only picks the same answer twice).
 * SB_SHA1_PORTABLE=1 forces the portable code (valgrind does not know these instructions). */
static int impl;

static void compress(uint32_t h[5], const unsigned char *b, size_t blocks)
{
	if (!impl) {
		impl = 1;
#if defined(__x86_64__) && defined(__GNUC__)
		const char *p = getenv("SB_SHA1_PORTABLE");
		if ((!p || strcmp(p, "1")) && have_sha_ni())
			impl = 2;
#endif
	}
#if defined(__x86_64__) && defined(__GNUC__)
	if (impl == 2) {
		compress_ni(h, b, blocks);
		return;
	}
#endif
	compress_c(h, b, blocks);
}

int sb_sha1_impl(int force)
{
	if (force == 1 || force == 2) {
		impl = force;
#if defined(__x86_64__) && defined(__GNUC__)
		if (force == 2 && !have_sha_ni())
			impl = 1;
#else
		impl = 1;
#endif
	}
	if (!impl) {
		uint32_t h[5] = { 0 };
		unsigned char blk[64] = { 0 };
		compress(h, blk, 1);
	}
	return impl;
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
		compress(s->h, s->blk, 1);
		s->fill = 0;
	}
	if (n >= 64) {
		compress(s->h, in, n / 64);
		in += n & ~(size_t)63;
		n &= 63;
	}
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
		compress(s->h, s->blk, 1);
		s->fill = 0;
	}
	memset(s->blk + s->fill, 0, 56 - s->fill);
	for (int i = 0; i < 8; i++)
		s->blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
	compress(s->h, s->blk, 1);
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
	sb_wipe(k, sizeof k);
	sb_wipe(pad, sizeof pad);
	sb_wipe(inner, sizeof inner);
}
