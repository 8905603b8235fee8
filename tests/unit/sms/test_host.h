/* SPDX-License-Identifier: MIT
 * test_host.h: a struct sb_host for bridge tests: libsodium for SHA-2 and base64, the
 * bridges' own SHA-1, the hub's arena and JSON parser, and a bounded event sink.
 */
#ifndef TEST_HOST_H
#define TEST_HOST_H

#include "bridge.h"

#define TEST_NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

/* The sink behind sb_host.event_add. Lifetime: the test's (stack). */
struct sb_bridge_events {
	struct sb_bridge_event v[16];
	size_t n;
	size_t cap;  /* <= 16; event_add fails past it */
};

extern const struct sb_host test_host;

/* A C string as a slice (SB_STRZ warns on arrays). */
static inline struct sb_str tstr(const char *z)
{
	return (struct sb_str){ z, z ? strlen(z) : 0 };
}

/* A per-test fixture: arena, event sink and a context over priv. */
struct test_call {
	struct sb_arena arena;
	struct sb_bridge_events ev;
	struct sb_bridge_ctx ctx;
};
void test_call_init(struct test_call *t, void *priv);
void test_call_fini(struct test_call *t);

#endif
