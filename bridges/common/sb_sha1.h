/* SPDX-License-Identifier: MIT
 * sb_sha1.h: SHA-1 and HMAC-SHA1 (FIPS 180-4, RFC 2104), needed only to check Twilio's
 * X-Twilio-Signature. libsodium has no SHA-1, so the hub fills sb_host.hmac_sha1 from here.
 * SHA-1 is used as a MAC only (HMAC), where its collision weakness does not apply.
 */
#ifndef SB_SHA1_H
#define SB_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SB_SHA1_LEN 20

/* Streaming state. Lifetime: the caller's (stack); no heap. */
struct sb_sha1 {
	uint32_t h[5];
	uint64_t bytes;         /* total message length so far */
	unsigned char blk[64];  /* pending partial block */
	size_t fill;            /* bytes in blk */
};

void sb_sha1_init(struct sb_sha1 *s);
void sb_sha1_update(struct sb_sha1 *s, const void *p, size_t n);
/* Writes the digest and wipes the state. */
void sb_sha1_final(struct sb_sha1 *s, unsigned char out[SB_SHA1_LEN]);
/* One shot. */
void sb_sha1(const void *p, size_t n, unsigned char out[SB_SHA1_LEN]);
/* HMAC-SHA1 with a key of any length; the signature matches sb_host.hmac_sha1. */
void sb_hmac_sha1(const void *key, size_t klen, const void *msg, size_t mlen,
		  unsigned char out[SB_SHA1_LEN]);

/* Which compression runs: 1 portable, 2 the x86 SHA extensions. force 1 or 2 switches
 * (2 only where the CPU has them), 0 just reports. For tests and benchmarks. */
int sb_sha1_impl(int force);

#endif
