/* SPDX-License-Identifier: MIT
 * bridge_services.h: the services of struct sb_host (bridges/bridge.h) that every host table
 * shares: hubd's own and the ones the unit tests and fuzzers lend a bridge, so a bridge is
 * tested against exactly the crypto, encoding and parsing it gets in production.
 * Only the clock, the log and the event sink differ between hosts.
 */
#ifndef SB_BRIDGE_SERVICES_H
#define SB_BRIDGE_SERVICES_H

#include "sb.h"
#include "json.h"

void *sb_svc_alloc(struct sb_arena *a, size_t n); /* zeroed, 16-byte aligned */
void sb_svc_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
			unsigned char out[32]);
void sb_svc_hmac_sha512(const void *key, size_t klen, const void *msg, size_t mlen,
			unsigned char out[64]);
void sb_svc_sha256(const void *msg, size_t mlen, unsigned char out[32]);
bool sb_svc_mem_eq(const void *a, const void *b, size_t n);
/* Standard base64 with padding, NUL-terminated; 0 when out is too small. */
size_t sb_svc_base64_encode(const void *p, size_t n, char *out, size_t outlen);
/* Standard base64, padding optional; the byte count or -1. */
long sb_svc_base64_decode(const char *p, size_t n, void *out, size_t outlen);
int sb_svc_json_parse(struct sb_arena *a, const char *p, size_t n, struct sb_json **out);

#endif
