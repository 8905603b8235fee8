/* SPDX-License-Identifier: MIT
 * store.h: the only door to the database. Every function takes the tenant first (after the
 * store or transaction handle) and every query is by (tenant_id, id), so a row of one tenant
 * can never answer a call made for another.
 *
 * Threads: reads (sb_store_*) run on the service (loop) thread through its own read
 * connection; writes (sb_tx_*) run only inside a write job on the writer thread, which commits
 * queued jobs in batches (group commit: one fsync for many jobs) and hands completions back to
 * the loop thread through sb_store_drain(). Read functions emit JSON straight into an sb_buf,
 * in the shapes documented in docs/API.md.
 */
#ifndef SB_STORE_H
#define SB_STORE_H

#include "../sb.h"

struct sb_store;
struct sb_tx;

/* A committed event, handed to the on_event callback on the loop thread in seq order.
 * Lifetime: `frame` is valid for the duration of the callback only; it has `frame_pre` bytes
 * of writable headroom before it (LWS_PRE for the sockets). */
struct sb_event {
	int64_t tenant;
	int64_t seq;
	char *frame;     /* {"type":"event","seq":N,"event":"...","data":{...}} */
	size_t len;
	struct sb_event *next;
	void *alloc_; /* private: the allocation that frame points into */
};

typedef int (*sb_store_run_fn)(struct sb_tx *tx, void *arg);  /* writer thread */
typedef void (*sb_store_done_fn)(void *arg, int rc);           /* loop thread */

/* A queued write. Lifetime: owned by the submitter, who must keep it alive until `done`
 * runs (embed it in the request's state; the request may detach by setting arg's owner
 * pointer to NULL, never by freeing the job). `run` returns 0 to keep its changes or an
 * sb_err to roll back only its own savepoint. */
struct sb_wjob {
	sb_store_run_fn run;
	sb_store_done_fn done;
	void *arg;
	/* private to the store */
	int rc;
	uint64_t t_submit;
	struct sb_event *events, *events_tail;
	struct sb_wjob *next;
};

struct sb_store_hooks {
	void (*wake)(void *ud);                                   /* any thread: wake the loop */
	void (*on_event)(void *ud, const struct sb_event *ev);    /* loop thread */
	void (*on_commit)(void *ud, uint64_t latency_us, int jobs); /* writer thread, for metrics */
	void *ud;
	size_t frame_pre;
};

/* Opens (creating if needed) the database at path, applies pending migrations, opens the
 * read connection. Returns 0 or SB_EDB with a log line naming the cause. */
int sb_store_open(const char *path, struct sb_store **out);
void sb_store_close(struct sb_store *st); /* stops the writer first; NULL is a no-op */
int sb_store_schema_version(struct sb_store *st);
/* Online backup (sqlite backup API) to dest; safe while the hub runs. */
int sb_store_backup(struct sb_store *st, const char *dest);
/* PRAGMA integrity_check; 0 when "ok". */
int sb_store_integrity(struct sb_store *st);

/* Starts the writer thread. Before this, sb_store_run_sync runs a job inline (CLI use). */
int sb_store_start(struct sb_store *st, const struct sb_store_hooks *hooks);
void sb_store_submit(struct sb_store *st, struct sb_wjob *job);
int sb_store_run_sync(struct sb_store *st, sb_store_run_fn run, void *arg);
/* Loop thread: delivers finished jobs (events first, then done callbacks). */
void sb_store_drain(struct sb_store *st);
/* Lets queued jobs commit, then stops the writer and drains. */
void sb_store_stop(struct sb_store *st);
size_t sb_store_queue_depth(struct sb_store *st);

/* ---- inside a write job (writer thread) ---- */

/* Appends an event with the tenant's next seq; data_json is a JSON object. */
int sb_tx_event(struct sb_tx *tx, int64_t tenant, const char *type, const char *data_json,
		size_t len);
int64_t sb_tx_now(struct sb_tx *tx); /* wall ms, one value per batch */

/* ---- tenants, agents, auth ---- */

int sb_tx_tenant_create(struct sb_tx *tx, const char *name, int64_t *id_out);
int sb_store_tenant_exists(struct sb_store *st, int64_t tenant);
int sb_store_tenant_settings(struct sb_store *st, int64_t tenant, struct sb_buf *json);
int sb_tx_tenant_settings_set(struct sb_tx *tx, int64_t tenant, const char *json);

enum sb_role { SB_ROLE_AGENT = 1, SB_ROLE_ADMIN = 2, SB_ROLE_OWNER = 3 };
const char *sb_role_name(int role);
int sb_role_parse(struct sb_str s);

struct sb_agent_auth {
	int64_t id, tenant;
	int role;
	bool active;
	char pw_hash[160];
	char name[128];
};
/* Looks an agent up by email for login (the only lookup not keyed by tenant: an email belongs
 * to one agent of one tenant). SB_ENOTFOUND when absent. */
int sb_store_agent_by_email(struct sb_store *st, struct sb_str email, struct sb_agent_auth *out);
int sb_store_agent_get(struct sb_store *st, int64_t tenant, int64_t id, struct sb_agent_auth *out);
int sb_tx_agent_create(struct sb_tx *tx, int64_t tenant, const char *email, const char *name,
		       int role, const char *pw_hash, const char *invite_hash, int64_t *id_out);
int sb_store_agents_json(struct sb_store *st, int64_t tenant, struct sb_buf *json);
int sb_store_agent_json(struct sb_store *st, int64_t tenant, int64_t id, struct sb_buf *json);
/* role <= 0 or active < 0 leaves that field alone. */
int sb_tx_agent_update(struct sb_tx *tx, int64_t tenant, int64_t id, int role, int active,
		       const char *name);
int sb_tx_agent_set_password(struct sb_tx *tx, int64_t tenant, int64_t id, const char *pw_hash);
/* Consumes an invite token (by hash): sets the password, clears the invite. */
int sb_tx_agent_accept_invite(struct sb_tx *tx, const unsigned char hash[32], const char *pw_hash,
			      int64_t *tenant_out, int64_t *agent_out);

struct sb_session_info {
	int64_t tenant, agent;
	int role;
	char csrf[48];
	int64_t expires_at;
};
int sb_tx_session_create(struct sb_tx *tx, int64_t tenant, int64_t agent,
			 const unsigned char hash[32], const char *csrf, int64_t expires_at);
int sb_store_session_get(struct sb_store *st, const unsigned char hash[32],
			 struct sb_session_info *out);
int sb_tx_session_delete(struct sb_tx *tx, int64_t tenant, const unsigned char hash[32]);
int sb_tx_sessions_delete_agent(struct sb_tx *tx, int64_t tenant, int64_t agent);

int sb_tx_apikey_create(struct sb_tx *tx, int64_t tenant, const unsigned char hash[32],
			const char *prefix, int64_t *id_out);
int sb_store_apikey_get(struct sb_store *st, const unsigned char hash[32], int64_t *tenant_out);

/* ---- contacts ---- */

struct sb_contact_in {
	const char *name, *phone, *email, *notes; /* NULL: unchanged (update) or empty (create) */
};
int sb_tx_contact_create(struct sb_tx *tx, int64_t tenant, const struct sb_contact_in *in,
			 int64_t *id_out, struct sb_buf *json);
int sb_tx_contact_update(struct sb_tx *tx, int64_t tenant, int64_t id,
			 const struct sb_contact_in *in, struct sb_buf *json);
int sb_store_contact_json(struct sb_store *st, int64_t tenant, int64_t id, struct sb_buf *json);
int sb_store_contacts_search(struct sb_store *st, int64_t tenant, struct sb_str q, int limit,
			     struct sb_str cursor, struct sb_buf *json);

/* ---- conversations ---- */

enum sb_conv_status { SB_CONV_OPEN = 0, SB_CONV_PENDING, SB_CONV_SNOOZED, SB_CONV_CLOSED };
const char *sb_conv_status_name(int s);
int sb_conv_status_parse(struct sb_str s);

struct sb_conv_filter {
	int status;          /* -1: any */
	int assignee_mode;   /* 0 all, 1 me, 2 unassigned, 3 a specific agent */
	int64_t assignee;
	int64_t channel;     /* 0: any */
	struct sb_str q;     /* text search, may be empty */
	struct sb_str cursor;
	int limit;
};
int sb_tx_conv_create(struct sb_tx *tx, int64_t tenant, int64_t contact, int64_t channel,
		      int64_t *id_out, struct sb_buf *json);
int sb_store_conv_json(struct sb_store *st, int64_t tenant, int64_t agent, int64_t id,
		       struct sb_buf *json);
int sb_store_conv_list(struct sb_store *st, int64_t tenant, int64_t agent,
		       const struct sb_conv_filter *f, struct sb_buf *json);
/* assignee 0 = unassign; the assignee must be an active agent of the tenant. */
int sb_tx_conv_assign(struct sb_tx *tx, int64_t tenant, int64_t id, int64_t assignee,
		      struct sb_buf *json);
int sb_tx_conv_set_status(struct sb_tx *tx, int64_t tenant, int64_t id, int status,
			  int64_t snoozed_until, struct sb_buf *json);
int sb_tx_conv_mark_read(struct sb_tx *tx, int64_t tenant, int64_t id, int64_t agent);
/* Wakes snoozed conversations whose time has come; *next_out gets the next due time or 0. */
int sb_tx_conv_wake_due(struct sb_tx *tx, int64_t now_ms, int64_t *next_out);
int64_t sb_store_conv_next_snooze(struct sb_store *st);

/* ---- messages and notes ---- */

int sb_store_messages_list(struct sb_store *st, int64_t tenant, int64_t conv, struct sb_str before,
			   int limit, struct sb_buf *json);
int sb_tx_note_create(struct sb_tx *tx, int64_t tenant, int64_t conv, int64_t agent,
		      const char *body, const char *client_id, struct sb_buf *json);

/* ---- canned responses ---- */

int sb_store_canned_list(struct sb_store *st, int64_t tenant, struct sb_buf *json);
int sb_tx_canned_create(struct sb_tx *tx, int64_t tenant, const char *shortcut, const char *title,
			const char *body, struct sb_buf *json);
int sb_tx_canned_update(struct sb_tx *tx, int64_t tenant, int64_t id, const char *shortcut,
			const char *title, const char *body, struct sb_buf *json);
int sb_tx_canned_delete(struct sb_tx *tx, int64_t tenant, int64_t id);

/* ---- the event log ---- */

int64_t sb_store_tenant_seq(struct sb_store *st, int64_t tenant);
/* Calls fn for each event with seq in (after, after+limit], in order; returns the count or an
 * sb_err. The frame pointer is valid during the call only. */
int sb_store_events_since(struct sb_store *st, int64_t tenant, int64_t after, int limit,
			  void (*fn)(void *ud, int64_t seq, const char *frame, size_t len),
			  void *ud);

#endif
