/* SPDX-License-Identifier: MIT
 * pcache.c: sqlite's own page cache (pcache1) behind a thin wrapper that skips truncations
 * with nothing to drop.
 *
 * Why: when a b-tree balance puts sibling pages in order, sqlite swaps two page numbers
 * through a temporary key, the "pending byte" page (page 262,145 with 4 KiB pages). pcache1
 * remembers the largest key it has ever held, so after such a swap that bound is 262,145
 * although no page has that key any more. Every commit then asks the cache to drop the
 * pages beyond the end of the database, and with that bound pcache1 walks its whole hash
 * table and every page in it: ~8,000 buckets and pages per commit with the default 32 MB
 * cache, 5.8% of the hub's CPU at 8,000 inbound webhooks a second (perf, B3), and more with
 * a larger cache.
 *
 * The wrapper keeps its own bound of the keys present, with the pending-byte key apart, and
 * passes a truncation on only when some page may be at or past the limit. The bound may be
 * loose (a page the cache dropped on its own is still counted), never tight, so a
 * truncation that matters always reaches pcache1. Every other call goes straight through.
 */
#include "store_internal.h"

#include <stdlib.h>

struct pc {
	sqlite3_pcache *inner;
	unsigned pending;                /* the temporary key of b-tree page swaps */
	unsigned max_key;                /* no page other than `pending` has a larger key */
	sqlite3_pcache_page *at_pending; /* the page now keyed `pending`, if any may be */
};

static sqlite3_pcache_methods2 base; /* pcache1's methods */
static sqlite3_pcache_methods2 wrap;
static unsigned long passed; /* truncations passed on to pcache1 (tests) */

/* sqlite's PENDING_BYTE (1 GiB): the page holding it is never used for data */
#define PENDING_BYTE_OFFSET 0x40000000u

static int pc_init(void *arg)
{
	(void)arg;
	return base.xInit ? base.xInit(base.pArg) : SQLITE_OK;
}

static void pc_shutdown(void *arg)
{
	(void)arg;
	if (base.xShutdown)
		base.xShutdown(base.pArg);
}

static sqlite3_pcache *pc_create(int sz_page, int sz_extra, int purgeable)
{
	struct pc *p = sqlite3_malloc(sizeof *p);
	if (!p)
		return NULL;
	p->inner = base.xCreate(sz_page, sz_extra, purgeable);
	if (!p->inner) {
		sqlite3_free(p);
		return NULL;
	}
	p->pending = PENDING_BYTE_OFFSET / (unsigned)sz_page + 1;
	p->max_key = 0;
	p->at_pending = NULL;
	return (sqlite3_pcache *)p;
}

static void pc_cachesize(sqlite3_pcache *c, int n)
{
	base.xCachesize(((struct pc *)c)->inner, n);
}

static int pc_pagecount(sqlite3_pcache *c)
{
	return base.xPagecount(((struct pc *)c)->inner);
}

static sqlite3_pcache_page *pc_fetch(sqlite3_pcache *c, unsigned key, int create)
{
	struct pc *p = (struct pc *)c;
	sqlite3_pcache_page *pg = base.xFetch(p->inner, key, create);
	if (!pg)
		return NULL;
	if (key == p->pending) {
		p->at_pending = pg;
	} else {
		if (key > p->max_key)
			p->max_key = key;
		if (pg == p->at_pending) /* that page was recycled: nothing is at `pending` now */
			p->at_pending = NULL;
	}
	return pg;
}

static void pc_unpin(sqlite3_pcache *c, sqlite3_pcache_page *pg, int discard)
{
	struct pc *p = (struct pc *)c;
	base.xUnpin(p->inner, pg, discard);
	if (discard && pg == p->at_pending)
		p->at_pending = NULL;
}

static void pc_rekey(sqlite3_pcache *c, sqlite3_pcache_page *pg, unsigned old_key,
		     unsigned new_key)
{
	struct pc *p = (struct pc *)c;
	base.xRekey(p->inner, pg, old_key, new_key);
	if (new_key == p->pending) {
		p->at_pending = pg;
	} else {
		if (new_key > p->max_key)
			p->max_key = new_key;
		if (pg == p->at_pending)
			p->at_pending = NULL;
	}
}

static void pc_truncate(sqlite3_pcache *c, unsigned limit)
{
	struct pc *p = (struct pc *)c;
	bool pending_hit = p->at_pending && p->pending >= limit;
	if (p->max_key < limit && !pending_hit)
		return; /* no page has a key >= limit */
	__atomic_add_fetch(&passed, 1, __ATOMIC_RELAXED);
	base.xTruncate(p->inner, limit);
	if (p->max_key >= limit)
		p->max_key = limit ? limit - 1 : 0;
	if (pending_hit)
		p->at_pending = NULL;
}

static void pc_destroy(sqlite3_pcache *c)
{
	struct pc *p = (struct pc *)c;
	base.xDestroy(p->inner);
	sqlite3_free(p);
}

static void pc_shrink(sqlite3_pcache *c)
{
	base.xShrink(((struct pc *)c)->inner);
}

int store__pcache_install(void)
{
	static int done = 0;
	if (done)
		return done > 0 ? 0 : -1;
	if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &base) != SQLITE_OK || !base.xCreate ||
	    base.iVersion < 1) {
		done = -1;
		return -1;
	}
	wrap = (sqlite3_pcache_methods2){
		.iVersion = 1,
		.pArg = NULL,
		.xInit = pc_init,
		.xShutdown = pc_shutdown,
		.xCreate = pc_create,
		.xCachesize = pc_cachesize,
		.xPagecount = pc_pagecount,
		.xFetch = pc_fetch,
		.xUnpin = pc_unpin,
		.xRekey = pc_rekey,
		.xTruncate = pc_truncate,
		.xDestroy = pc_destroy,
		.xShrink = pc_shrink,
	};
	if (sqlite3_config(SQLITE_CONFIG_PCACHE2, &wrap) != SQLITE_OK) {
		done = -1; /* sqlite was initialised already: its own cache stays */
		return -1;
	}
	done = 1;
	return 0;
}

const sqlite3_pcache_methods2 *store__pcache_methods(void)
{
	return store__pcache_install() == 0 ? &wrap : NULL;
}

const sqlite3_pcache_methods2 *store__pcache_base(void)
{
	return store__pcache_install() == 0 ? &base : NULL;
}

unsigned long store__pcache_truncations_passed(void)
{
	return __atomic_load_n(&passed, __ATOMIC_RELAXED);
}
