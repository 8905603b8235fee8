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

/* Prepared statements keyed by the address of their (static) SQL text. */
struct store__cache {
	const char *sql[STORE__CACHE];
	sqlite3_stmt *st[STORE__CACHE];
};

struct sb_tx {
	struct sb_store *st;
	sqlite3 *db;
	struct store__cache *cache;
	struct sb_wjob *job; /* the job running, whose events we collect */
	int64_t now;
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
/* Runs a statement expected to finish with SQLITE_DONE. */
int store__exec_done(sqlite3_stmt *s, sqlite3 *db, const char *what);

/* Emits JSON for one row of each kind (shared by reads and write results). */
int store__conv_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t agent, int64_t id,
		     struct sb_buf *json);
int store__message_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t id,
			struct sb_buf *json);
int store__contact_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t id,
			struct sb_buf *json);
/* Appends an event whose data is the JSON in `json` (from the helpers above). */
int store__event_buf(struct sb_tx *tx, int64_t tenant, const char *type, struct sb_buf *json);
/* Bumps the conversation's last activity (and reopens it when reopen is set). */
int store__conv_touch(struct sb_tx *tx, int64_t tenant, int64_t conv, bool reopen);

int store__migrate(sqlite3 *db);

#endif
