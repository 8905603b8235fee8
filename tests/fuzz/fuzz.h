/* SPDX-License-Identifier: MIT
 * fuzz.h: what the fuzz targets share: the libFuzzer entry points (also driven by
 * replay_main.c), a struct sb_host like the unit tests' one (libsodium, the bridges' SHA-1,
 * the hub's arena and JSON) and a splitter for inputs made of NUL-separated fields.
 */
#ifndef SB_FUZZ_H
#define SB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: run once before the first input (weak; replay_main calls it when defined). */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Optional: called by replay_main after the last file; non-zero fails the replay. */
int sb_fuzz_replay_done(void) __attribute__((weak));

/* A property the target checks is false: print and abort, so libFuzzer keeps the input. */
#define FUZZ_CHECK(x)                                                                      \
	do {                                                                               \
		if (!(x)) {                                                                \
			fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #x, __FILE__,    \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

#define FUZZ_NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

/* The event sink behind fuzz_host.event_add. Lifetime: the caller's (stack). */
struct sb_bridge_events {
	struct sb_bridge_event v[16];
	size_t n;
	size_t cap; /* <= 16 */
};

extern const struct sb_host fuzz_host;

/* Cuts the next field (up to the next NUL, or the rest) off the input (p, n). It is a slice
 * into the input, never NUL-terminated by this function. */
static inline struct sb_str fuzz_field(const uint8_t **p, size_t *n)
{
	const uint8_t *z = *n ? memchr(*p, 0, *n) : NULL;
	size_t len = z ? (size_t)(z - *p) : *n;
	struct sb_str s = { (const char *)*p, len };
	*p += z ? len + 1 : len;
	*n -= z ? len + 1 : len;
	return s;
}

#endif
