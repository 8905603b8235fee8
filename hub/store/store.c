/* SPDX-License-Identifier: MIT
 * store.c: connections, the statement cache, the writer thread and its group commit, the
 * event log append, backup and integrity check.
 *
 * Group commit: the writer takes every queued job (up to BATCH_MAX), runs each inside its own
 * SAVEPOINT of one transaction, and commits once, so one fsync (synchronous=FULL) covers the
 * whole batch. A job that fails rolls back only its savepoint. Completions go back to the loop
 * through the done queue and the wake hook (lws_cancel_service in hubd).
 */
#define _GNU_SOURCE
#include "store_internal.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_MAX 512

/* ---- statement cache ---- */

sqlite3_stmt *store__stmt(sqlite3 *db, struct store__cache *c, const char *sql)
{
	size_t h = ((uintptr_t)sql >> 3) % STORE__CACHE;
	for (size_t i = 0; i < STORE__CACHE; i++) {
		size_t k = (h + i) % STORE__CACHE;
		if (c->sql[k] == sql) {
			sqlite3_reset(c->st[k]);
			sqlite3_clear_bindings(c->st[k]);
			return c->st[k];
		}
		if (!c->sql[k]) {
			sqlite3_stmt *s = NULL;
			if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
			    SQLITE_OK) {
				sb_log(SB_LOG_ERR, "msg=prepare_failed err=\"%s\" sql=\"%.60s\"",
				       sqlite3_errmsg(db), sql);
				SB_ASSERT(!"SQL does not prepare");
			}
			c->sql[k] = sql;
			c->st[k] = s;
			return s;
		}
	}
	SB_ASSERT(!"statement cache full");
}

void store__cache_free(struct store__cache *c)
{
	for (size_t i = 0; i < STORE__CACHE; i++) {
		if (c->st[i])
			sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
		c->sql[i] = NULL;
	}
}

void store__bind_text(sqlite3_stmt *s, int i, const char *z)
{
	if (z)
		sqlite3_bind_text(s, i, z, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

void store__bind_str(sqlite3_stmt *s, int i, struct sb_str v)
{
	sqlite3_bind_text(s, i, v.p ? v.p : "", (int)v.len, SQLITE_TRANSIENT);
}

int store__err(sqlite3 *db, int rc, const char *what)
{
	int prim = rc & 0xff;
	if (prim == SQLITE_CONSTRAINT)
		return SB_ECONFLICT;
	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		return SB_EBUSY;
	sb_log(SB_LOG_ERR, "msg=db_error what=%s rc=%d err=\"%s\"", what, rc, sqlite3_errmsg(db));
	return SB_EDB;
}

int store__step_row(sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? SB_ENOTFOUND : store__err(sqlite3_db_handle(s), rc, what);
}

int store__exec_done(sqlite3_stmt *s, sqlite3 *db, const char *what)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return store__err(db, rc, what);
}

void store__json_col(struct sb_buf *b, bool *first, const char *key, sqlite3_stmt *s, int i)
{
	sb_json_key(b, first, key);
	if (sqlite3_column_type(s, i) == SQLITE_NULL) {
		sb_buf_adds(b, "null");
		return;
	}
	const char *p = (const char *)sqlite3_column_text(s, i);
	sb_json_esc(b, p, (size_t)sqlite3_column_bytes(s, i));
}

void store__json_col_int(struct sb_buf *b, bool *first, const char *key, sqlite3_stmt *s, int i)
{
	sb_json_key(b, first, key);
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		sb_buf_adds(b, "null");
	else
		sb_buf_add_i64(b, sqlite3_column_int64(s, i));
}

void store__json_col_time(struct sb_buf *b, bool *first, const char *key, sqlite3_stmt *s, int i)
{
	sb_json_kv_time(b, first, key,
			sqlite3_column_type(s, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, i));
}

/* ---- open and close ---- */

static int open_conn(const char *path, bool writer, sqlite3 **out)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    (writer ? SQLITE_OPEN_CREATE : 0);
	/* the writer's commits are synced (synchronous=FULL below), which walbuf.c relies on */
	if (sqlite3_open_v2(path, &db, flags, writer ? store__walbuf_vfs() : NULL) != SQLITE_OK) {
		sb_log(SB_LOG_ERR, "msg=db_open_failed path=%s err=\"%s\"", path,
		       db ? sqlite3_errmsg(db) : "?");
		sqlite3_close(db);
		return SB_EDB;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	const char *pragmas = writer ? "PRAGMA journal_mode=WAL;"
				       "PRAGMA synchronous=FULL;"
				       "PRAGMA foreign_keys=ON;"
				       "PRAGMA temp_store=MEMORY;"
				     : "PRAGMA foreign_keys=ON;"
				       "PRAGMA query_only=ON;";
	/* each connection's page cache: SB_DB_CACHE_KB (default 32 MiB) */
	const char *ck = getenv("SB_DB_CACHE_KB");
	long cache_kb = ck ? atol(ck) : 32000;
	char cache[64];
	snprintf(cache, sizeof cache, "PRAGMA cache_size=-%ld;", cache_kb > 0 ? cache_kb : 32000);
	char *err = NULL;
	if (sqlite3_exec(db, pragmas, NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_exec(db, cache, NULL, NULL, &err) != SQLITE_OK) {
		sb_log(SB_LOG_ERR, "msg=db_pragma_failed path=%s err=\"%s\"", path, err);
		sqlite3_free(err);
		sqlite3_close(db);
		return SB_EDB;
	}
	/* The writer checkpoints when the WAL holds SB_DB_WAL_PAGES frames (default 20,000: 80 MB
	 * of 4 KiB pages at most). A checkpoint copies each page the WAL holds once, with two
	 * fsyncs: the longer the WAL, the more of the random index leaves that every webhook
	 * rewrites (its dedupe row, its place in its conversation) are copied once for many
	 * commits. sqlite's 1,000 made a checkpoint of each ~400 webhooks at full ingest; 4,000
	 * held 16,000/s in B3, 20,000 holds 18,000/s (docs/INTERNALS.md). */
	if (writer) {
		const char *wp = getenv("SB_DB_WAL_PAGES");
		long pages = wp ? atol(wp) : 20000;
		sqlite3_wal_autocheckpoint(db, pages > 0 && pages <= 1000000 ? (int)pages : 20000);
	}
	*out = db;
	return 0;
}

/* ---- the writers' lock ----
 * sqlite lets one writer in at a time and makes the others wait in its busy handler, which
 * sleeps and retries: two workers' writers then spend their time asleep (ingest fell from
 * 7,000/s to 1,430/s with two workers). Every writer of this database first takes an
 * exclusive flock on <path>-wlock, so a waiting writer sleeps in the kernel and wakes the
 * moment the other commits; the kernel drops the lock of a process that dies. */

static void wlock_open(struct sb_store *st)
{
	size_t n = strlen(st->path);
	char *p = sb_malloc(n + 7);
	memcpy(p, st->path, n);
	memcpy(p + n, "-wlock", 7);
	st->wlock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->wlock_fd < 0) /* then sqlite's busy handler alone orders the writers */
		sb_log(SB_LOG_WARN, "msg=writer_lock_unavailable path=%s", p);
	free(p);
}

static void wlock(struct sb_store *st, bool on)
{
	if (st->wlock_fd < 0)
		return;
	while (flock(st->wlock_fd, on ? LOCK_EX : LOCK_UN) && errno == EINTR)
		;
}

/* ---- the configuration generation ---- */

static void gen_map(struct sb_store *st)
{
	st->gen = st->local_gen;
	size_t n = strlen(st->path);
	char *p = sb_malloc(n + 8);
	memcpy(p, st->path, n);
	memcpy(p + n, "-cfggen", 8);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	void *m = MAP_FAILED;
	if (fd >= 0) {
		struct stat sb;
		if (!fstat(fd, &sb) && (sb.st_size >= 16 || !ftruncate(fd, 16)))
			m = mmap(NULL, 16, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	}
	if (m == MAP_FAILED) {
		/* caches then see this process's own changes only: say so */
		sb_log(SB_LOG_WARN, "msg=config_gen_unshared path=%s", p);
	} else {
		st->gen = m;
		st->gen_mapped = true;
	}
	free(p);
}

uint64_t sb_store_replays(struct sb_store *st)
{
	return __atomic_load_n(&st->replays, __ATOMIC_RELAXED);
}

uint64_t sb_store_config_gen(struct sb_store *st)
{
	return __atomic_load_n(&st->gen[0], __ATOMIC_ACQUIRE);
}

bool sb_store_gen_shared(struct sb_store *st)
{
	return st->gen_mapped;
}

uint64_t sb_store_event_gen(struct sb_store *st)
{
	return __atomic_load_n(&st->gen[1], __ATOMIC_ACQUIRE);
}

/* After a commit that changed configuration: every process's caches look again. */
static void gen_bump(struct sb_store *st)
{
	__atomic_add_fetch(&st->gen[0], 1, __ATOMIC_RELEASE);
}

void store__config_changed(struct sb_tx *tx)
{
	tx->config_changed = true;
}

int sb_store_open(const char *path, struct sb_store **out)
{
	/* no global allocation statistics: they take a process-wide mutex on every malloc
	 * (fails harmlessly with SQLITE_MISUSE once sqlite is initialised) */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (store__pcache_install())
		sb_log(SB_LOG_WARN, "msg=pcache_wrapper_not_installed why=sqlite_initialised_before");
	struct sb_store *st = sb_calloc(1, sizeof *st);
	st->wlock_fd = -1;
	st->path = sb_strdup(path);
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	if (open_conn(path, true, &st->wdb) || store__migrate(st->wdb) ||
	    open_conn(path, false, &st->rdb)) {
		sb_store_close(st);
		return SB_EDB;
	}
	gen_map(st);
	wlock_open(st);
	*out = st;
	return 0;
}

void sb_store_close(struct sb_store *st)
{
	if (!st)
		return;
	sb_store_stop(st);
	store__cache_free(&st->wcache);
	store__cache_free(&st->rcache);
	if (st->wdb) {
		/* leave a clean WAL behind */
		sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		sqlite3_close(st->wdb);
	}
	sqlite3_close(st->rdb);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	if (st->gen_mapped)
		munmap(st->gen, 16);
	if (st->wlock_fd >= 0)
		close(st->wlock_fd);
	free(st->path);
	free(st);
}

int sb_store_schema_version(struct sb_store *st)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT coalesce(max(version),0) FROM schema_migrations");
	int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	sqlite3_reset(s);
	return v;
}

int sb_store_backup(struct sb_store *st, const char *dest)
{
	sqlite3 *d = NULL;
	if (sqlite3_open_v2(dest, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		sb_log(SB_LOG_ERR, "msg=backup_open_failed path=%s", dest);
		sqlite3_close(d);
		return SB_EDB;
	}
	/* a private source connection, so a running hub's connections are not disturbed */
	sqlite3 *src = NULL;
	int rc = open_conn(st->path, false, &src);
	if (rc) {
		sqlite3_close(d);
		return rc;
	}
	sqlite3_backup *b = sqlite3_backup_init(d, "main", src, "main");
	if (!b) {
		sb_log(SB_LOG_ERR, "msg=backup_failed err=\"%s\"", sqlite3_errmsg(d));
		sqlite3_close(src);
		sqlite3_close(d);
		return SB_EDB;
	}
	do {
		rc = sqlite3_backup_step(b, 256);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(20);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	sqlite3_backup_finish(b);
	int ok = rc == SQLITE_DONE;
	if (!ok)
		sb_log(SB_LOG_ERR, "msg=backup_failed rc=%d err=\"%s\"", rc, sqlite3_errmsg(d));
	sqlite3_close(src);
	sqlite3_close(d);
	return ok ? 0 : SB_EDB;
}

int sb_store_integrity(struct sb_store *st)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->rdb, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK)
		return SB_EDB;
	int ok = sqlite3_step(s) == SQLITE_ROW &&
		 !strcmp((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	return ok ? 0 : SB_EDB;
}

/* ---- events ---- */

/* The next seq of tenant from the batch's counters; SB_ENOTFOUND for no such tenant. With
 * the table full it returns 1: the caller updates the row itself. */
static int seq_next(struct sb_tx *tx, int64_t tenant, int64_t *seq)
{
	struct store__seqs *q = tx->seqs;
	size_t k = (size_t)((uint64_t)tenant * 0x9e3779b97f4a7c15ull >> 54) % STORE__SEQ_SLOTS;
	struct store__seq *e = NULL;
	for (size_t i = 0; i < STORE__SEQ_SLOTS; i++, k = (k + 1) % STORE__SEQ_SLOTS) {
		if (q->slot[k].tenant == tenant) {
			e = &q->slot[k];
			break;
		}
		if (!q->slot[k].tenant) {
			/* never more than three quarters full, so lookups stay short */
			if (q->n_used >= STORE__SEQ_SLOTS * 3 / 4)
				return 1;
			sqlite3_stmt *s = TX_STMT(tx, "SELECT last_seq FROM tenants WHERE id = ?1");
			sqlite3_bind_int64(s, 1, tenant);
			int rc = sqlite3_step(s);
			int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
			sqlite3_reset(s);
			if (rc != SQLITE_ROW)
				return rc == SQLITE_DONE ? SB_ENOTFOUND : store__err(tx->db, rc, "event_seq");
			e = &q->slot[k];
			*e = (struct store__seq){ .tenant = tenant, .seq = v, .saved = v };
			e->job = q->job - 1; /* not yet touched by this job */
			q->used[q->n_used++] = (uint32_t)k;
			break;
		}
	}
	if (!e)
		return 1;
	if (e->job != q->job) {
		/* first touch in this job: remember how to take it back */
		e->job = q->job;
		e->saved = e->seq;
		e->saved_dirty = e->dirty;
		q->undo[q->n_undo++] = (uint32_t)(e - q->slot);
	}
	*seq = ++e->seq;
	e->dirty = true;
	return 0;
}

/* Around each job of a batch: a new undo list; a failed job's counters taken back. */
static void seqs_job_begin(struct store__seqs *q)
{
	q->job++;
	q->n_undo = 0;
}

static void seqs_job_undo(struct store__seqs *q)
{
	for (size_t i = 0; i < q->n_undo; i++) {
		struct store__seq *e = &q->slot[q->undo[i]];
		e->seq = e->saved;
		e->dirty = e->saved_dirty;
	}
	q->n_undo = 0;
}

/* Writes the batch's counters back (inside the transaction, before COMMIT). */
static int seqs_flush(struct sb_tx *tx)
{
	struct store__seqs *q = tx->seqs;
	for (size_t i = 0; i < q->n_used; i++) {
		struct store__seq *e = &q->slot[q->used[i]];
		if (!e->dirty)
			continue;
		sqlite3_stmt *s = TX_STMT(tx, "UPDATE tenants SET last_seq = ?2 WHERE id = ?1");
		sqlite3_bind_int64(s, 1, e->tenant);
		sqlite3_bind_int64(s, 2, e->seq);
		int rc = store__exec_done(s, tx->db, "event_seq_flush");
		if (rc)
			return rc;
		e->dirty = false;
	}
	return 0;
}

static void seqs_clear(struct store__seqs *q)
{
	for (size_t i = 0; i < q->n_used; i++)
		q->slot[q->used[i]] = (struct store__seq){ 0 };
	q->n_used = 0;
	q->n_undo = 0;
}

int sb_tx_event(struct sb_tx *tx, int64_t tenant, const char *type, const char *data, size_t len)
{
	int64_t seq = 0;
	int rc = tx->seqs ? seq_next(tx, tenant, &seq) : 1;
	if (rc < 0)
		return rc;
	if (rc == 1) {
		sqlite3_stmt *s =
			TX_STMT(tx, "UPDATE tenants SET last_seq = last_seq + 1 WHERE id = ?1 "
				    "RETURNING last_seq");
		sqlite3_bind_int64(s, 1, tenant);
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(s);
			return rc == SQLITE_DONE ? SB_ENOTFOUND : store__err(tx->db, rc, "event_seq");
		}
		seq = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
	}
	sqlite3_stmt *s;

	struct sb_buf f;
	sb_buf_init(&f, 0);
	sb_buf_reserve(&f, len + 64 + strlen(type));
	sb_buf_adds(&f, "{\"type\":\"event\",\"seq\":");
	sb_buf_add_i64(&f, seq);
	sb_buf_adds(&f, ",\"event\":");
	sb_json_escz(&f, type);
	sb_buf_adds(&f, ",\"data\":");
	sb_buf_add(&f, data, len);
	sb_buf_addc(&f, '}');

	s = TX_STMT(tx, "INSERT INTO events(tenant_id, seq, type, frame, created_at) "
			"VALUES (?1, ?2, ?3, ?4, ?5)");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, seq);
	sqlite3_bind_text(s, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, sb_buf_data(&f), (int)f.len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, tx->now);
	rc = store__exec_done(s, tx->db, "event_insert");
	sqlite3_clear_bindings(s);
	if (rc) {
		sb_buf_free(&f);
		return rc;
	}
	if (!tx->job) { /* a synchronous job (CLI): nobody to fan out to */
		sb_buf_free(&f);
		return 0;
	}
	struct sb_event *ev = sb_calloc(1, sizeof *ev);
	ev->tenant = tenant;
	ev->seq = seq;
	ev->frame = sb_buf_steal(&f, &ev->len);
	if (tx->job->events_tail)
		tx->job->events_tail->next = ev;
	else
		tx->job->events = ev;
	tx->job->events_tail = ev;
	return 0;
}

int store__event_buf(struct sb_tx *tx, int64_t tenant, const char *type, struct sb_buf *json)
{
	return sb_tx_event(tx, tenant, type, sb_buf_data(json), json->len);
}

int64_t sb_tx_now(struct sb_tx *tx)
{
	return tx->now;
}

static void free_events(struct sb_event *ev)
{
	while (ev) {
		struct sb_event *n = ev->next;
		free(ev->frame);
		free(ev);
		ev = n;
	}
}

/* ---- the writer ---- */

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	return rc;
}

/* A statement of the writer's own (SAVEPOINT, RELEASE...), prepared once and cached like the
 * jobs' statements: sqlite3_exec would parse and compile it again for every job. */
static int exec_cached(struct sb_store *st, const char *sql)
{
	sqlite3_stmt *s = store__stmt(st->wdb, &st->wcache, sql);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static const char sql_savepoint[] = "SAVEPOINT job";
static const char sql_rollback_to[] = "ROLLBACK TO job";
static const char sql_release[] = "RELEASE job";

/* Runs the batch's jobs inside the open transaction. Replayable jobs at the head of the batch
 * run without savepoints; from the first job that is not replayable (or from the start, when
 * `careful`), each job runs in a savepoint of its own. Returns true when a job without a
 * savepoint failed after writing: nothing can undo it alone, so the caller rolls back and
 * runs the batch again carefully (every job run so far was replayable). A job that fails
 * before writing anything needs no undo in either mode. */
static bool run_jobs(struct sb_store *st, struct sb_tx *tx, struct sb_wjob *batch, bool careful)
{
	for (struct sb_wjob *j = batch; j; j = j->next) {
		tx->job = j;
		seqs_job_begin(&st->seqs);
		careful = careful || !j->replayable;
		if (careful)
			exec_cached(st, sql_savepoint);
		sqlite3_int64 changes = sqlite3_total_changes64(st->wdb);
		j->rc = j->run(tx, j->arg);
		if (j->rc) {
			if (!careful && sqlite3_total_changes64(st->wdb) != changes)
				return true;
			if (careful)
				exec_cached(st, sql_rollback_to);
			seqs_job_undo(&st->seqs);
			free_events(j->events);
			j->events = j->events_tail = NULL;
		}
		if (careful)
			exec_cached(st, sql_release);
	}
	return false;
}

static void run_batch(struct sb_store *st, struct sb_wjob *batch)
{
	struct sb_tx tx = { .st = st, .db = st->wdb, .cache = &st->wcache, .now = sb_wall_ms(),
			    .seqs = &st->seqs };
	/* the busy handler already waited up to its timeout (5 s): when another process still
	 * holds the database, fail this batch (503: providers retry) rather than hang */
	wlock(st, true);
	int rc = exec(st->wdb, "BEGIN IMMEDIATE");
	bool began = rc == SQLITE_OK;
	if (began && run_jobs(st, &tx, batch, false)) {
		exec(st->wdb, "ROLLBACK");
		for (struct sb_wjob *j = batch; j; j = j->next) {
			j->rc = 0;
			free_events(j->events);
			j->events = j->events_tail = NULL;
		}
		seqs_clear(&st->seqs);
		__atomic_add_fetch(&st->replays, 1, __ATOMIC_RELAXED);
		rc = exec(st->wdb, "BEGIN IMMEDIATE");
		began = rc == SQLITE_OK;
		if (began)
			run_jobs(st, &tx, batch, true);
	}
	int njobs = 0;
	for (struct sb_wjob *j = batch; j; j = j->next) {
		njobs++;
		if (!began)
			j->rc = store__err(st->wdb, rc, "begin");
	}
	if (began) {
		rc = seqs_flush(&tx);
		if (!rc)
			rc = exec(st->wdb, "COMMIT");
		if (tx.config_changed)
			gen_bump(st); /* even after a failed commit: a needless look costs little */
		for (struct sb_wjob *j = batch; j; j = j->next)
			if (j->events) { /* after the commit: a poller that sees it finds the rows */
				__atomic_add_fetch(&st->gen[1], 1, __ATOMIC_RELEASE);
				break;
			}
		if (rc != SQLITE_OK) {
			int e = rc < 0 ? rc : store__err(st->wdb, rc, "commit");
			exec(st->wdb, "ROLLBACK");
			for (struct sb_wjob *j = batch; j; j = j->next) {
				if (!j->rc)
					j->rc = e;
				free_events(j->events);
				j->events = j->events_tail = NULL;
			}
		}
	}
	wlock(st, false);
	seqs_clear(&st->seqs);
	if (st->hooks.on_commit) {
		uint64_t now = sb_now_us();
		for (struct sb_wjob *j = batch; j; j = j->next)
			st->hooks.on_commit(st->hooks.ud, now - j->t_submit, njobs);
	}
}

static void *writer_main(void *arg)
{
	struct sb_store *st = arg;
	/* When the loop and the writer share one core, the writer should not cut in the moment
	 * a job arrives (one commit, one fsync, per request): a little less weight lets the
	 * loop take what is waiting first, so the next batch is larger. With a core to itself
	 * this changes nothing. SB_WRITER_NICE (default 5; 0 turns it off). */
	const char *nv = getenv("SB_WRITER_NICE");
	int nice_v = nv ? atoi(nv) : 5;
	if (nice_v > 0 && nice_v < 20)
		setpriority(PRIO_PROCESS, (id_t)gettid(), nice_v);
	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (!st->q_head && !st->stopping)
			pthread_cond_wait(&st->cv, &st->mu);
		if (!st->q_head && st->stopping)
			break;
		/* take up to BATCH_MAX jobs */
		struct sb_wjob *batch = st->q_head, *last = batch;
		int n = 1;
		while (last->next && n < BATCH_MAX) {
			last = last->next;
			n++;
		}
		st->q_head = last->next;
		if (!st->q_head)
			st->q_tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&st->mu);

		run_batch(st, batch);

		pthread_mutex_lock(&st->mu);
		if (st->d_tail)
			st->d_tail->next = batch;
		else
			st->d_head = batch;
		st->d_tail = last;
		pthread_mutex_unlock(&st->mu);
		if (st->hooks.wake)
			st->hooks.wake(st->hooks.ud);
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

int sb_store_start(struct sb_store *st, const struct sb_store_hooks *hooks)
{
	st->hooks = *hooks;
	st->stopping = false;
	if (pthread_create(&st->thread, NULL, writer_main, st)) {
		sb_log(SB_LOG_ERR, "msg=writer_thread_failed");
		return SB_ENOMEM;
	}
	st->started = true;
	return 0;
}

void sb_store_submit(struct sb_store *st, struct sb_wjob *job)
{
	SB_ASSERT(st->started);
	job->next = NULL;
	job->rc = 0;
	job->events = job->events_tail = NULL;
	job->t_submit = sb_now_us();
	pthread_mutex_lock(&st->mu);
	if (st->q_tail)
		st->q_tail->next = job;
	else
		st->q_head = job;
	st->q_tail = job;
	st->depth++;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

bool sb_store_running(struct sb_store *st)
{
	return st->started;
}

size_t sb_store_queue_depth(struct sb_store *st)
{
	pthread_mutex_lock(&st->mu);
	size_t d = st->depth;
	pthread_mutex_unlock(&st->mu);
	return d;
}

void sb_store_drain(struct sb_store *st)
{
	pthread_mutex_lock(&st->mu);
	struct sb_wjob *j = st->d_head;
	st->d_head = st->d_tail = NULL;
	pthread_mutex_unlock(&st->mu);
	while (j) {
		struct sb_wjob *next = j->next;
		pthread_mutex_lock(&st->mu);
		st->depth--;
		pthread_mutex_unlock(&st->mu);
		for (struct sb_event *ev = j->events; ev; ev = ev->next)
			if (st->hooks.on_event)
				st->hooks.on_event(st->hooks.ud, ev);
		free_events(j->events);
		j->events = j->events_tail = NULL;
		/* done may free the job: read nothing of it afterwards */
		j->done(j->arg, j->rc);
		j = next;
	}
}

bool sb_store_quiesce(struct sb_store *st, int wait_ms)
{
	uint64_t end = sb_now_us() + (uint64_t)wait_ms * 1000;
	for (;;) {
		sb_store_drain(st); /* a done may submit more: the depth counts those too */
		if (!sb_store_queue_depth(st))
			return true;
		if (!st->started || sb_now_us() > end)
			return false;
		usleep(500); /* a stop only: no need for a wake-up of its own */
	}
}

void sb_store_stop(struct sb_store *st)
{
	if (!st->started)
		return;
	pthread_mutex_lock(&st->mu);
	st->stopping = true;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->thread, NULL);
	st->started = false;
	sb_store_drain(st);
}

int sb_store_run_sync(struct sb_store *st, sb_store_run_fn run, void *arg)
{
	SB_ASSERT(!st->started);
	struct sb_tx tx = { .st = st, .db = st->wdb, .cache = &st->wcache, .now = sb_wall_ms() };
	wlock(st, true);
	int rc = exec(st->wdb, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK) {
		wlock(st, false);
		return store__err(st->wdb, rc, "begin");
	}
	rc = run(&tx, arg);
	if (rc) {
		exec(st->wdb, "ROLLBACK");
		wlock(st, false);
		return rc;
	}
	rc = exec(st->wdb, "COMMIT");
	wlock(st, false);
	if (tx.config_changed)
		gen_bump(st);
	if (rc != SQLITE_OK) {
		int e = store__err(st->wdb, rc, "commit");
		exec(st->wdb, "ROLLBACK");
		return e;
	}
	return 0;
}

/* ---- the event log, read side ---- */

int64_t sb_store_tenant_seq(struct sb_store *st, int64_t tenant)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT last_seq FROM tenants WHERE id = ?1");
	sqlite3_bind_int64(s, 1, tenant);
	int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return v;
}

int sb_store_events_since(struct sb_store *st, int64_t tenant, int64_t after, int limit,
			  void (*fn)(void *ud, int64_t seq, const char *frame, size_t len),
			  void *ud)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT seq, frame FROM events WHERE tenant_id = ?1 "
				      "AND seq > ?2 ORDER BY seq LIMIT ?3");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int(s, 3, limit);
	int n = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fn(ud, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
		   (size_t)sqlite3_column_bytes(s, 1));
		n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__err(st->rdb, rc, "events_since");
	return n;
}
