/* SPDX-License-Identifier: MIT
 * idset.h: a set of positive int64 ids (row ids), open addressing with linear probing, at
 * most half full, 0 marking an empty slot; deletion shifts the rest of a probe run back
 * instead of leaving tombstones. The outbox keeps its in-flight rows in one: every due row
 * is checked against it, and a process may have thousands in flight.
 */
#ifndef SB_IDSET_H
#define SB_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct sb_idset {
	int64_t *slot; /* cap entries, 0 = empty */
	size_t n, cap; /* cap: 0 or a power of two */
};

static inline size_t sb_idset_home(int64_t id, size_t mask)
{
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ull;
	return (size_t)(x ^ (x >> 29)) & mask;
}

/* The slot holding id, or the empty slot where it would go (cap > 0). */
static inline size_t sb_idset_find(const int64_t *t, size_t cap, int64_t id)
{
	size_t i = sb_idset_home(id, cap - 1);
	while (t[i] && t[i] != id)
		i = (i + 1) & (cap - 1);
	return i;
}

static inline bool sb_idset_has(const struct sb_idset *s, int64_t id)
{
	return s->cap && s->slot[sb_idset_find(s->slot, s->cap, id)] == id;
}

/* Adds id (> 0); adding one already there changes nothing. Returns false when out of memory. */
static inline bool sb_idset_add(struct sb_idset *s, int64_t id)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 128;
		int64_t *t = calloc(cap, sizeof *t);
		if (!t)
			return false;
		for (size_t i = 0; i < s->cap; i++)
			if (s->slot[i])
				t[sb_idset_find(t, cap, s->slot[i])] = s->slot[i];
		free(s->slot);
		s->slot = t;
		s->cap = cap;
	}
	size_t i = sb_idset_find(s->slot, s->cap, id);
	if (!s->slot[i]) {
		s->slot[i] = id;
		s->n++;
	}
	return true;
}

static inline void sb_idset_del(struct sb_idset *s, int64_t id)
{
	if (!s->cap)
		return;
	size_t mask = s->cap - 1, i = sb_idset_find(s->slot, s->cap, id);
	if (s->slot[i] != id)
		return;
	/* pull later entries of the run into the hole unless their home slot lies cyclically
	 * after the hole */
	for (size_t j = (i + 1) & mask; s->slot[j]; j = (j + 1) & mask) {
		size_t home = sb_idset_home(s->slot[j], mask);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slot[i] = s->slot[j];
			i = j;
		}
	}
	s->slot[i] = 0;
	s->n--;
}

static inline void sb_idset_free(struct sb_idset *s)
{
	free(s->slot);
	*s = (struct sb_idset){ 0 };
}

#endif
