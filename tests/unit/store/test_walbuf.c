/* SPDX-License-Identifier: MIT
 * walbuf.c, the writer's VFS that gathers WAL writes: what it writes must be what sqlite
 * would have written. Each case writes through a connection on the "sb-walbuf" VFS with
 * synchronous=FULL, then reads back through a plain connection (the unix VFS, as the hub's
 * readers and other workers do) and runs integrity_check. Cases: many small commits (the
 * writes are gathered), a commit larger than the buffer and than the unix VFS's largest
 * single write, a page cache too small for the transaction (frames spilled, then read back
 * before the commit), a savepoint rolled back and written again (frames overwritten in
 * place), a checkpoint and WAL restart, and a writer killed (SIGKILL) at random points:
 * every commit it reported is there after recovery, and nothing is torn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../../hub/store/store_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/sb-walbuf-XXXXXX";
static char path[256];
static int ncase;

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof path, "%s/t%d.db", dir, ++ncase);
	return 0;
}

static sqlite3 *open_db(bool walbuf, int cache_pages)
{
	sqlite3 *db = NULL;
	const char *vfs = walbuf ? store__walbuf_vfs() : NULL;
	if (walbuf)
		assert_non_null(vfs);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
			 SQLITE_OK);
	char sql[160];
	snprintf(sql, sizeof sql,
		 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=%d;"
		 "PRAGMA wal_autocheckpoint=0;",
		 cache_pages);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static int64_t one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* A plain connection's view: integrity, the row count and the sum of a column. */
static void check_plain(int64_t rows, int64_t sum)
{
	sqlite3 *db = open_db(false, 2000);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	assert_int_equal(one(db, "SELECT count(*) FROM t"), rows);
	assert_int_equal(one(db, "SELECT coalesce(sum(n), 0) FROM t"), sum);
	sqlite3_close(db);
}

static void insert_rows(sqlite3 *db, int from, int n, int blob)
{
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(n, b) VALUES(?1, randomblob(?2))",
					    -1, &s, NULL),
			 SQLITE_OK);
	for (int i = from; i < from + n; i++) {
		sqlite3_bind_int(s, 1, i);
		sqlite3_bind_int(s, 2, blob);
		assert_int_equal(sqlite3_step(s), SQLITE_DONE);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
}

static void test_small_commits_are_gathered(void **state)
{
	(void)state;
	sqlite3 *db = open_db(true, 2000);
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, b BLOB);"
		    "CREATE INDEX t_n ON t(n)");
	unsigned long w0, f0, w1, f1;
	store__walbuf_counts(&w0, &f0);
	int64_t sum = 0;
	for (int c = 0; c < 50; c++) {
		exec_ok(db, "BEGIN");
		insert_rows(db, c * 20, 20, 300);
		exec_ok(db, "COMMIT");
		for (int i = c * 20; i < c * 20 + 20; i++)
			sum += i;
	}
	store__walbuf_counts(&w1, &f1);
	/* each commit's frames (two writes each) leave in one pwrite */
	assert_true(w1 - w0 >= 50 * 4);
	assert_true(f1 - f0 <= 50 + 2);
	check_plain(1000, sum);
	sqlite3_close(db);
	check_plain(1000, sum);
}

static void test_large_commit(void **state)
{
	(void)state;
	sqlite3 *db = open_db(true, 20000);
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, b BLOB)");
	/* ~3 MB in one commit: past the 1 MiB buffer and the unix VFS's 128 KiB write */
	exec_ok(db, "BEGIN");
	insert_rows(db, 0, 1500, 2000);
	exec_ok(db, "COMMIT");
	check_plain(1500, 1500 * 1499 / 2);
	sqlite3_close(db);
}

static void test_spilled_pages_read_back(void **state)
{
	(void)state;
	/* a 10-page cache: the transaction spills frames into the WAL and reads them back */
	sqlite3 *db = open_db(true, 10);
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, b BLOB);"
		    "CREATE INDEX t_n ON t(n)");
	exec_ok(db, "BEGIN");
	insert_rows(db, 0, 2000, 200);
	exec_ok(db, "UPDATE t SET n = n + 1 WHERE id % 3 = 0");
	/* read inside the transaction: most of these pages are only in the WAL by now */
	int64_t bumped = 2000 / 3;
	assert_int_equal(one(db, "SELECT count(*) FROM t"), 2000);
	assert_int_equal(one(db, "SELECT sum(n) FROM t"), 2000 * 1999 / 2 + bumped);
	assert_int_equal(one(db, "SELECT count(*) FROM t WHERE n BETWEEN 100 AND 199"), 100);
	exec_ok(db, "COMMIT");
	check_plain(2000, 2000 * 1999 / 2 + bumped);
	sqlite3_close(db);
}

static void test_savepoint_rewrites(void **state)
{
	(void)state;
	sqlite3 *db = open_db(true, 10);
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, b BLOB)");
	exec_ok(db, "BEGIN");
	insert_rows(db, 0, 300, 500);
	exec_ok(db, "SAVEPOINT a");
	insert_rows(db, 300, 300, 500);
	exec_ok(db, "ROLLBACK TO a");
	exec_ok(db, "RELEASE a");
	insert_rows(db, 1000, 100, 700);
	exec_ok(db, "COMMIT");
	check_plain(400, 300 * 299 / 2 + (1000 + 1099) * 100 / 2);
	sqlite3_close(db);
}

static void test_checkpoint_and_restart(void **state)
{
	(void)state;
	sqlite3 *db = open_db(true, 2000);
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, b BLOB)");
	int64_t sum = 0;
	for (int round = 0; round < 4; round++) {
		for (int c = 0; c < 10; c++) {
			exec_ok(db, "BEGIN");
			insert_rows(db, round * 1000 + c * 10, 10, 400);
			exec_ok(db, "COMMIT");
			for (int i = 0; i < 10; i++)
				sum += round * 1000 + c * 10 + i;
		}
		/* copies the WAL into the database; the next commit starts the WAL over */
		assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
							   NULL, NULL),
				 SQLITE_OK);
		check_plain(100 * (round + 1), sum);
	}
	sqlite3_close(db);
}

/* A child commits through the VFS and reports each commit's last n on a pipe; it is killed
 * at a random moment. What it reported must be there, integrity ok. */
static void test_killed_writer(void **state)
{
	(void)state;
	srand((unsigned)time(NULL));
	int checked = 0;
	for (int round = 0; round < 6; round++) {
		snprintf(path, sizeof path, "%s/kill%d.db", dir, round);
		int fd[2];
		assert_int_equal(pipe(fd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (!pid) {
			close(fd[0]);
			sqlite3 *db = open_db(true, 50);
			exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, b BLOB)");
			for (int c = 0;; c++) {
				exec_ok(db, "BEGIN");
				insert_rows(db, c * 40, 40, 1500);
				exec_ok(db, "COMMIT");
				int32_t last = c;
				if (write(fd[1], &last, sizeof last) != sizeof last)
					_exit(1);
			}
		}
		close(fd[1]);
		usleep(20000 + (useconds_t)(rand() % 150000));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		int32_t last = -1, v;
		while (read(fd[0], &v, sizeof v) == sizeof v)
			last = v;
		close(fd[0]);
		if (last < 0)
			continue; /* killed before its first commit */
		sqlite3 *db = open_db(false, 2000);
		int64_t rows = one(db, "SELECT count(*) FROM t");
		/* every reported commit is there; at most the one in flight more */
		assert_true(rows == (last + 1) * 40 || rows == (last + 2) * 40);
		assert_int_equal(rows % 40, 0);
		sqlite3_close(db);
		int64_t n = rows / 40;
		check_plain(rows, 40 * n * (40 * n - 1) / 2);
		checked++;
	}
	/* a child reaches its first commit within milliseconds and is killed after 20 ms or more */
	assert_true(checked >= 5);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_small_commits_are_gathered, setup),
		cmocka_unit_test_setup(test_large_commit, setup),
		cmocka_unit_test_setup(test_spilled_pages_read_back, setup),
		cmocka_unit_test_setup(test_savepoint_rewrites, setup),
		cmocka_unit_test_setup(test_checkpoint_and_restart, setup),
		cmocka_unit_test_setup(test_killed_writer, setup),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd))
		rc = rc ? rc : 1;
	return rc;
}
