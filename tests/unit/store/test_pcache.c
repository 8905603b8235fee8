/* SPDX-License-Identifier: MIT
 * test_pcache.c: the page-cache wrapper (hub/store/pcache.c).
 * - Against pcache1 itself: the same random fetches, unpins, rekeys (often through the
 *   pending-byte key, as b-tree page swaps do) and truncations on a wrapped cache and a bare
 *   one leave the same pages in both, after every step.
 * - The truncation after a swap through the pending key reaches pcache1 no more (the walk
 *   this wrapper exists to save), and one that has pages to drop still does.
 * - A real database through the wrapper: random-key inserts (page swaps), rolled-back
 *   transactions and savepoints (truncations that matter): the rows are the ones committed
 *   and integrity_check says ok.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store_internal.h"

#define PAGE 4096u
#define PENDING (0x40000000u / PAGE + 1)
#define NKEYS 48

static const sqlite3_pcache_methods2 *W, *B;

static int group_setup(void **state)
{
	(void)state;
	assert_int_equal(store__pcache_install(), 0);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
	W = store__pcache_methods();
	B = store__pcache_base();
	assert_non_null(W);
	assert_non_null(B);
	return 0;
}

/* one cache of each kind, driven the same way; pinned[k] says whether key k is pinned */
struct pair {
	sqlite3_pcache *w, *b;
	bool pinned[NKEYS + 1];
	bool pinned_pending;
	sqlite3_pcache_page *wp[NKEYS + 1], *bp[NKEYS + 1], *wpend, *bpend;
};

static bool *pin_of(struct pair *p, unsigned k)
{
	return k == PENDING ? &p->pinned_pending : &p->pinned[k];
}

static sqlite3_pcache_page **wslot(struct pair *p, unsigned k)
{
	return k == PENDING ? &p->wpend : &p->wp[k];
}

static sqlite3_pcache_page **bslot(struct pair *p, unsigned k)
{
	return k == PENDING ? &p->bpend : &p->bp[k];
}

static void fetch(struct pair *p, unsigned k, int create)
{
	sqlite3_pcache_page *a = W->xFetch(p->w, k, create);
	sqlite3_pcache_page *b = B->xFetch(p->b, k, create);
	assert_int_equal(a != NULL, b != NULL);
	if (a) {
		*pin_of(p, k) = true;
		*wslot(p, k) = a;
		*bslot(p, k) = b;
	}
}

static void unpin(struct pair *p, unsigned k, int discard)
{
	if (!*pin_of(p, k))
		return;
	W->xUnpin(p->w, *wslot(p, k), discard);
	B->xUnpin(p->b, *bslot(p, k), discard);
	*pin_of(p, k) = false;
}

/* the same keys are present in both (looking pins a page; it is unpinned again) */
static void same_pages(struct pair *p)
{
	assert_int_equal(W->xPagecount(p->w), B->xPagecount(p->b));
	for (unsigned k = 0; k <= NKEYS + 1; k++) {
		unsigned key = k == NKEYS + 1 ? PENDING : k;
		if (key == 0)
			continue;
		bool was = *pin_of(p, key);
		sqlite3_pcache_page *a = W->xFetch(p->w, key, 0);
		sqlite3_pcache_page *b = B->xFetch(p->b, key, 0);
		if ((a != NULL) != (b != NULL))
			fail_msg("key %u: wrapped cache %s it, pcache1 %s", key, a ? "has" : "lacks",
				 b ? "has" : "lacks");
		if (a && !was) {
			W->xUnpin(p->w, a, 0);
			B->xUnpin(p->b, b, 0);
		}
	}
}

/* rekey the pinned page at `from` to `to`, first dropping whatever page has `to` (sqlite
 * does the same before it moves a page) */
static void rekey(struct pair *p, unsigned from, unsigned to)
{
	if (!*pin_of(p, from) || from == to)
		return;
	fetch(p, to, 0);
	unpin(p, to, 1);
	W->xRekey(p->w, *wslot(p, from), from, to);
	B->xRekey(p->b, *bslot(p, from), from, to);
	*pin_of(p, to) = true;
	*wslot(p, to) = *wslot(p, from);
	*bslot(p, to) = *bslot(p, from);
	*pin_of(p, from) = false;
}

static void truncate_at(struct pair *p, unsigned limit)
{
	for (unsigned k = 1; k <= NKEYS; k++)
		if (k >= limit)
			unpin(p, k, 0);
	if (PENDING >= limit)
		unpin(p, PENDING, 0);
	W->xTruncate(p->w, limit);
	B->xTruncate(p->b, limit);
}

static unsigned rnd_key(void)
{
	return 1 + (unsigned)(rand() % NKEYS);
}

static void test_same_as_pcache1(void **state)
{
	(void)state;
	srand(7);
	for (int round = 0; round < 200; round++) {
		struct pair p;
		memset(&p, 0, sizeof p);
		p.w = W->xCreate((int)PAGE, 64, 1);
		p.b = B->xCreate((int)PAGE, 64, 1);
		/* a small cache, so that pcache1 recycles unpinned pages on its own */
		W->xCachesize(p.w, 16 + round % 24);
		B->xCachesize(p.b, 16 + round % 24);
		for (int step = 0; step < 400; step++) {
			int op = rand() % 10;
			unsigned k = rnd_key(), k2 = rnd_key();
			if (op < 4)
				fetch(&p, k, 1 + rand() % 2);
			else if (op < 6)
				unpin(&p, k, rand() % 3 == 0);
			else if (op < 8) { /* a swap of two pages through the pending key */
				if (p.pinned[k] && p.pinned[k2] && k != k2) {
					rekey(&p, k, PENDING);
					rekey(&p, k2, k);
					rekey(&p, PENDING, k2);
				} else {
					rekey(&p, k, rand() % 4 ? k2 : PENDING);
				}
			} else if (op == 8) {
				truncate_at(&p, (unsigned)(rand() % (NKEYS + 2)));
			} else {
				unpin(&p, PENDING, rand() % 2);
			}
			same_pages(&p);
		}
		truncate_at(&p, 0);
		same_pages(&p);
		W->xDestroy(p.w);
		B->xDestroy(p.b);
	}
}

static void test_skips_the_walk(void **state)
{
	(void)state;
	struct pair p;
	memset(&p, 0, sizeof p);
	p.w = W->xCreate((int)PAGE, 64, 1);
	p.b = B->xCreate((int)PAGE, 64, 1);
	W->xCachesize(p.w, 1000);
	B->xCachesize(p.b, 1000);
	for (unsigned k = 1; k <= 10; k++)
		fetch(&p, k, 2);
	rekey(&p, 3, PENDING); /* a b-tree swap of pages 3 and 7 */
	rekey(&p, 7, 3);
	rekey(&p, PENDING, 7);
	unsigned long before = store__pcache_truncations_passed();
	truncate_at(&p, 11); /* the commit's "drop what is past the end": nothing is */
	truncate_at(&p, 11);
	assert_int_equal(store__pcache_truncations_passed(), before);
	same_pages(&p);
	truncate_at(&p, 9); /* a rollback that shrinks the database: pages 9, 10 go */
	assert_int_equal(store__pcache_truncations_passed(), before + 1);
	same_pages(&p);
	fetch(&p, 9, 0);
	assert_false(p.pinned[9]);
	/* a page still keyed `pending` is dropped by a limit below it */
	rekey(&p, 2, PENDING);
	unpin(&p, PENDING, 0);
	truncate_at(&p, 9);
	assert_int_equal(store__pcache_truncations_passed(), before + 2);
	same_pages(&p);
	truncate_at(&p, 0);
	W->xDestroy(p.w);
	B->xDestroy(p.b);
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static long long count_rows(sqlite3 *db)
{
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	long long n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void test_real_database(void **state)
{
	(void)state;
	char dir[] = "/tmp/sb-pcache-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/p.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA cache_size=-8000;"
		    "CREATE TABLE t(id INTEGER PRIMARY KEY, k BLOB, v TEXT);"
		    "CREATE INDEX t_k ON t(k);");
	sqlite3_stmt *ins;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(k, v) VALUES (randomblob(24), "
					    "printf('%0*d', 200, ?1))", -1, &ins, NULL),
			 SQLITE_OK);
	/* plain commits of random keys (page swaps): nothing is past the end at a commit, so
	 * no truncation reaches pcache1 */
	unsigned long before = store__pcache_truncations_passed();
	long long want = 0;
	for (int tx = 0; tx < 100; tx++) {
		exec_ok(db, "BEGIN");
		for (int i = 0; i < 100; i++) {
			sqlite3_bind_int(ins, 1, i);
			assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
			sqlite3_reset(ins);
		}
		exec_ok(db, "COMMIT");
		want += 100;
	}
	assert_int_equal(store__pcache_truncations_passed(), before);
	/* with savepoints and transactions rolled back */
	srand(11);
	for (int tx = 0; tx < 300; tx++) {
		exec_ok(db, "BEGIN");
		int n = 0;
		for (int i = 0; i < 100; i++) {
			bool sp = i % 10 == 0;
			if (sp)
				exec_ok(db, "SAVEPOINT s");
			sqlite3_bind_int(ins, 1, i);
			assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
			sqlite3_reset(ins);
			if (sp && rand() % 2)
				exec_ok(db, "ROLLBACK TO s");
			else
				n++;
			if (sp)
				exec_ok(db, "RELEASE s");
		}
		if (tx % 7 == 3) {
			exec_ok(db, "ROLLBACK"); /* the file shrinks back: a truncation that matters */
		} else {
			exec_ok(db, "COMMIT");
			want += n;
		}
	}
	sqlite3_finalize(ins);
	assert_int_equal(count_rows(db), want);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	/* the rollbacks' truncations went through */
	assert_true(store__pcache_truncations_passed() - before >= 300 / 7);
	sqlite3_close(db);
	/* and a second connection reads what the first committed */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(count_rows(db), want);
	sqlite3_close(db);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_pcache1),
		cmocka_unit_test(test_skips_the_walk),
		cmocka_unit_test(test_real_database),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
