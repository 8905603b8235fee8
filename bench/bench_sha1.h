/* SPDX-License-Identifier: MIT
 * SHA-1, HMAC-SHA1 and base64 for the benchmark tools: enough to compute a WebSocket
 * Sec-WebSocket-Accept value and a Twilio X-Twilio-Signature without linking a crypto
 * library. Not for protecting anything: SHA-1 is only used where the protocols demand it.
 */
#ifndef BENCH_SHA1_H
#define BENCH_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_SHA1_LEN 20

/* Streaming SHA-1 state; lives on the caller's stack for one digest. */
struct bench_sha1 {
	uint32_t h[5];
	uint64_t total;		/* bytes fed so far */
	uint8_t block[64];
	size_t fill;		/* bytes waiting in block */
};

void bench_sha1_init(struct bench_sha1 *s);
void bench_sha1_update(struct bench_sha1 *s, const void *data, size_t len);
void bench_sha1_final(struct bench_sha1 *s, uint8_t out[BENCH_SHA1_LEN]);
/* One-shot digest of data[0..len). */
void bench_sha1(const void *data, size_t len, uint8_t out[BENCH_SHA1_LEN]);

/* Streaming HMAC-SHA1 (RFC 2104): init with the key, feed the message, take the MAC. */
struct bench_hmac {
	struct bench_sha1 inner;
	uint8_t okey[64];	/* key ^ opad, kept for the outer hash */
};

void bench_hmac_init(struct bench_hmac *m, const void *key, size_t klen);
void bench_hmac_update(struct bench_hmac *m, const void *data, size_t len);
void bench_hmac_final(struct bench_hmac *m, uint8_t out[BENCH_SHA1_LEN]);

/* Standard base64 with '=' padding. out needs 4 * ((len + 2) / 3) + 1 bytes; it is
 * NUL-terminated. Returns the length written, without the NUL. */
size_t bench_b64_encode(const void *in, size_t len, char *out);

/* The Sec-WebSocket-Accept value for a client key (RFC 6455 §4.2.2): base64(SHA-1(key +
 * GUID)). key is the base64 text the client sent; out needs 29 bytes (28 + NUL). */
void bench_ws_accept(const char *key, size_t klen, char out[29]);

#endif
