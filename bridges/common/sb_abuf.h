/* SPDX-License-Identifier: MIT
 * sb_abuf.h: a growable string built in a call's arena, for bridges, which cannot use the
 * hub's sb_buf (it allocates with the hub's malloc). Growth copies into a new arena block;
 * the old one is reclaimed with the arena, so build small things (requests, answers).
 */
#ifndef SB_ABUF_H
#define SB_ABUF_H

#include "../bridge.h"

/* Lifetime: the arena's. p is always NUL-terminated (the NUL is not counted in len). */
struct sb_abuf {
	const struct sb_host *host;
	struct sb_arena *arena;
	char *p;
	size_t len, cap;
};

void sb_abuf_init(struct sb_abuf *b, const struct sb_host *host, struct sb_arena *arena);
void sb_abuf_add(struct sb_abuf *b, const void *p, size_t n);
void sb_abuf_adds(struct sb_abuf *b, const char *z);
static inline void sb_abuf_addstr(struct sb_abuf *b, struct sb_str s)
{
	sb_abuf_add(b, s.p, s.len);
}
void sb_abuf_printf(struct sb_abuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* application/x-www-form-urlencoded: unreserved bytes as-is, space as '+', others %XX. */
void sb_abuf_formenc(struct sb_abuf *b, const char *p, size_t n);
/* Appends name=value (form-encoded), with '&' first unless the buffer is empty. */
void sb_abuf_formkv(struct sb_abuf *b, const char *name, struct sb_str value);
/* XML character data / attribute value: & < > " ' escaped; control characters other than
 * TAB, LF and CR (not allowed in XML 1.0) are dropped. */
void sb_abuf_xmlesc(struct sb_abuf *b, const char *p, size_t n);
/* The contents as a slice (borrowed from the arena). */
static inline struct sb_str sb_abuf_str(const struct sb_abuf *b)
{
	return (struct sb_str){ b->p ? b->p : "", b->len };
}

#endif
