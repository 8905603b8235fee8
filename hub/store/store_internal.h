/* SPDX-License-Identifier: MIT
 * store_internal.h: what the store's files share: the connections, the statement cache,
 * and small binding helpers. Nothing outside hub/store/ includes this.
 */
#ifndef SB_STORE_INTERNAL_H
#define SB_STORE_INTERNAL_H

#include "store.h"
#include "../json.h"

#include <pthread.h>
#include <sqlite3.h>

#define STORE__CACHE 128

/* pcache.c: sqlite's page cache behind a wrapper that skips truncations with nothing to drop.
 * Installed once, before sqlite initialises (0; -1 when sqlite was initialised already).
 * The two getters are for tests: the wrapper's methods and pcache1's own. */
int store__pcache_install(void);
const sqlite3_pcache_methods2 *store__pcache_methods(void);
const sqlite3_pcache_methods2 *store__pcache_base(void);
unsigned long store__pcache_truncations_passed(void);

/* walbuf.c: the writer's VFS, which gathers a commit's WAL writes into one pwrite. Its name
 * for sqlite3_open_v2, or NULL (SB_DB_WALBUF=0, or it could not be registered): the default
 * VFS. The counts are for tests: WAL writes sqlite made through it, and pwrites it made. */
const char *store__walbuf_vfs(void);
void store__walbuf_counts(unsigned long *writes, unsigned long *flushes);

/* Prepared statements keyed by the address of their (static) SQL text. */
struct store__cache {
	const char *sql[STORE__CACHE];
	sqlite3_stmt *st[STORE__CACHE];
};

/* The writer's tenant seq counters during one batch (see sb_tx_event): loaded from
 * tenants.last_seq on first use, advanced in memory, written back once before COMMIT. The
 * batch holds the database's write lock, so nobody else can move them meanwhile. Each job
 * keeps an undo list so that a job rolled back to its savepoint takes its seqs back too.
 * Writer thread only; empty between batches. */
#define STORE__SEQ_SLOTS 1024
struct store__seqs {
	struct store__seq {
		int64_t tenant, seq, saved; /* saved: the value before the running job touched it */
		bool dirty;                 /* differs from the row */
		bool saved_dirty;
		uint32_t job;               /* the job that last touched it (a counter) */
	} slot[STORE__SEQ_SLOTS];
	uint32_t used[STORE__SEQ_SLOTS]; /* indexes of the slots in use, in order of use */
	size_t n_used;
	uint32_t job;                    /* the running job's counter */
	uint32_t undo[STORE__SEQ_SLOTS]; /* slots the running job touched */
	size_t n_undo;
};

struct sb_tx {
	struct sb_store *st;
	sqlite3 *db;
	struct store__cache *cache;
	struct sb_wjob *job; /* the job running, whose events we collect */
	int64_t now;
	char now_str[32];    /* now as JSON shows it (sb_time_fmt), formatted on first use */
	struct store__seqs *seqs; /* NULL: every event updates tenants.last_seq itself */
	bool config_changed;      /* a channel or a tenant's settings was written */
};

struct sb_store {
	char *path;
	sqlite3 *wdb, *rdb;
	struct store__cache wcache, rcache;
	struct sb_store_hooks hooks;

	pthread_t thread;
	bool started, stopping;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sb_wjob *q_head, *q_tail;   /* submitted */
	struct sb_wjob *d_head, *d_tail;   /* done, for the loop */
	size_t depth;

	struct store__seqs seqs; /* writer thread only */
	uint64_t replays;        /* batches run again carefully (sb_store_replays) */

	/* the configuration generation (sb_store_config_gen): a counter in a small file beside
	 * the database, mapped shared by every process that opens it; local_gen when the file
	 * cannot be mapped. gen[0]: configuration; gen[1]: commits that wrote events
	 * (sb_store_event_gen) */
	uint64_t *gen;
	int wlock_fd; /* <path>-wlock, flocked around each write transaction; -1 if none */
	uint64_t local_gen[2];
	bool gen_mapped;

	/* writer thread only: when this process last stamped a channel's health (by channel id
	 * modulo the size), so the once-a-second stamp costs no statement in between */
	struct store__health {
		int64_t channel, inbound_at, send_ok_at;
	} health[64];
};

/* Returns a reset statement for sql on db (cached; the SQL must be a static string). */
sqlite3_stmt *store__stmt(sqlite3 *db, struct store__cache *c, const char *sql);
void store__cache_free(struct store__cache *c);
#define TX_STMT(tx, sql) store__stmt((tx)->db, (tx)->cache, (sql))
#define RD_STMT(st, sql) store__stmt((st)->rdb, &(st)->rcache, (sql))

/* Binds a C string or NULL. */
void store__bind_text(sqlite3_stmt *s, int i, const char *z);
void store__bind_str(sqlite3_stmt *s, int i, struct sb_str v);
/* Maps a sqlite result to sb_err with one log line for unexpected failures. */
int store__err(sqlite3 *db, int rc, const char *what);
/* Appends column i as a JSON string (or null). */
void store__json_col(struct sb_buf *b, bool *first, const char *key, sqlite3_stmt *s, int i);
void store__json_col_int(struct sb_buf *b, bool *first, const char *key, sqlite3_stmt *s, int i);
void store__json_col_time(struct sb_buf *b, bool *first, const char *key, sqlite3_stmt *s, int i);
/* Steps a statement expected to give at most one row: 0 with the row to read, SB_ENOTFOUND
 * when there is none, else an sb_err (logged). The caller resets it. */
int store__step_row(sqlite3_stmt *s, const char *what);
/* Runs a statement expected to finish with SQLITE_DONE. */
int store__exec_done(sqlite3_stmt *s, sqlite3 *db, const char *what);

/* Emits JSON for one row of each kind (shared by reads and write results). */
int store__conv_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t agent, int64_t id,
		     struct sb_buf *json);
int store__message_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t id,
			struct sb_buf *json);
int store__contact_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t id,
			struct sb_buf *json);
/* A message row as the writer has just inserted it: what store__new_message_json needs to
 * write it in store__message_json's shape without reading it back. NULL strings and a zero
 * agent are JSON null (as the inserts store them); segments is null when has_segments is
 * false. */
struct store__new_msg {
	int64_t id, conv, channel, agent;
	bool outbound, has_segments;
	int segments;
	const char *body, *media_json, *status, *provider_id, *client_id;
};
void store__new_message_json(struct sb_tx *tx, const struct store__new_msg *m, struct sb_buf *b);
/* tx->now formatted as JSON times are (sb_time_fmt), computed once per transaction. */
static inline const char *store__tx_time(struct sb_tx *tx)
{
	if (!tx->now_str[0])
		sb_time_fmt(tx->now, tx->now_str, sizeof tx->now_str);
	return tx->now_str;
}
/* Appends an event whose data is the JSON in `json` (from the helpers above). */
int store__event_buf(struct sb_tx *tx, int64_t tenant, const char *type, struct sb_buf *json);
/* Bumps the conversation's last activity (and reopens it when reopen is set). */
int store__conv_touch(struct sb_tx *tx, int64_t tenant, int64_t conv, bool reopen);

/* Marks the transaction as changing configuration (channels, tenant settings): its commit
 * moves the configuration generation. */
void store__config_changed(struct sb_tx *tx);

int store__migrate(sqlite3 *db);

#endif
