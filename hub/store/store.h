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
 * Lifetime: `frame` is valid for the duration of the callback only. */
struct sb_event {
	int64_t tenant;
	int64_t seq;
	char *frame;     /* {"type":"event","seq":N,"event":"...","data":{...}} */
	size_t len;
	struct sb_event *next;
};

typedef int (*sb_store_run_fn)(struct sb_tx *tx, void *arg);  /* writer thread */
typedef void (*sb_store_done_fn)(void *arg, int rc);           /* loop thread */

/* A queued write. Lifetime: owned by the submitter, who must keep it alive until `done`
 * runs (embed it in the request's state; the request may detach by setting arg's owner
 * pointer to NULL, never by freeing the job). `run` returns 0 to keep its changes, or
 * anything else to have only its own changes undone.
 *
 * `replayable`: set it when `run` may run a second time after its transaction was rolled
 * back, and then does exactly what it would have done the first time: it sets its outputs
 * instead of adding to them, and changes nothing outside the transaction that it would not
 * change again. Such a job needs no savepoint of its own (a savepoint copies every page the
 * job writes that an earlier job of the batch had already written, 12-15% of the writer's
 * time for an inbound webhook): when one fails after writing, the writer rolls the whole
 * batch back and runs it again with a savepoint per job. A job that is not replayable is
 * never run twice. */
struct sb_wjob {
	sb_store_run_fn run;
	sb_store_done_fn done;
	void *arg;
	bool replayable;
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
};

/* The configuration generation: a counter that moves after every commit that changed a
 * channel or a tenant's settings, in any process using this database (it lives in the file
 * <path>-cfggen, mapped shared). Caches of channels and tenant settings on the loop check it
 * (one memory load) instead of reading the rows for every request. Any thread. */
uint64_t sb_store_config_gen(struct sb_store *st);

/* Batches the writer rolled back and ran again with a savepoint per job, because a
 * replayable job failed after writing (struct sb_wjob). Any thread. */
uint64_t sb_store_replays(struct sb_store *st);

/* The same for commits that wrote events (same file): a worker polling for other workers'
 * events reads the log only when it moved. */
uint64_t sb_store_event_gen(struct sb_store *st);
/* Whether the generations are shared with other processes (the file could be mapped). */
bool sb_store_gen_shared(struct sb_store *st);

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
/* On the loop thread, at a stop, while the writer runs: waits until every job submitted so
 * far, and every job their done submits in turn, has committed and had its done run here.
 * False if some are still out after wait_ms. */
bool sb_store_quiesce(struct sb_store *st, int wait_ms);
/* Does the writer take jobs (between sb_store_start and sb_store_stop)? Loop thread. */
bool sb_store_running(struct sb_store *st);

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

/* hub/auth.c keeps what sb_store_session_get and sb_store_apikey_get answered for as long as
 * the configuration generation does not move: a write that ends or changes a session or an
 * API key, or an agent's role or activity, must call store__config_changed (the functions
 * below and sb_tx_agent_update do). */
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

/* ---- channels (store_chan.c) ---- */

struct sb_channel_row {
	int64_t id, tenant;
	char kind[16];
	char name[128];
	char sender[64];
	char key[64];
	unsigned char config[2048]; /* sealed credentials (see hub/channels.c) */
	size_t config_len;
	char api_base[256];
	bool sandbox, active;
	int max_inflight;
	int64_t updated_at;
};

/* By the unguessable webhook key (the key is the credential that names the tenant). */
int sb_store_channel_by_key(struct sb_store *st, const char *key, struct sb_channel_row *out);
int sb_store_channel_get(struct sb_store *st, int64_t tenant, int64_t id,
			 struct sb_channel_row *out);
/* JSON list/one; webhook URLs are built from public_url and the key. */
int sb_store_channels_json(struct sb_store *st, int64_t tenant, const char *public_url,
			   int64_t only_id, struct sb_buf *json);
int sb_tx_channel_create(struct sb_tx *tx, int64_t tenant, const struct sb_channel_row *c,
			 int64_t *id_out);
/* Fields: name/sender/api_base NULL = unchanged; config_len 0 = unchanged; sandbox/active
 * < 0 = unchanged; max_inflight < 1 = unchanged. */
int sb_tx_channel_update(struct sb_tx *tx, int64_t tenant, int64_t id, const char *name,
			 const char *sender, const unsigned char *config, size_t config_len,
			 const char *api_base, int sandbox, int active, int max_inflight);
/* Health: ok_send / inbound stamp the time; error (may be NULL) records the last error. */
int sb_tx_channel_health(struct sb_tx *tx, int64_t tenant, int64_t id, bool ok_send, bool inbound,
			 const char *error);

/* ---- inbound ---- */

struct sb_inbound_msg {
	int64_t channel;
	const char *kind;        /* identity kind: "phone" */
	const char *provider_id; /* dedupe key with the channel */
	const char *from, *to, *body;
	const char *media_json;  /* JSON array or NULL */
	bool unified;            /* one thread per person across the tenant's channels */
	bool new_conv;           /* out: a new conversation was started */
};
/* One customer message: dedupe, contact and identity, conversation (reopened), message,
 * events. Returns 0, 1 when it is a duplicate (nothing written), or an sb_err. */
int sb_tx_inbound_message(struct sb_tx *tx, int64_t tenant, struct sb_inbound_msg *m,
			  int64_t *msg_out);
int sb_tx_optout_set(struct sb_tx *tx, int64_t tenant, const char *sender, const char *customer,
		     bool opted_out);
/* 1 when customer opted out of sender, 0 otherwise. */
int sb_store_optout_get(struct sb_store *st, int64_t tenant, const char *sender,
			const char *customer);
/* Rank of a message status for monotonic updates (pending 0 ... read 6; unknown -1). */
int sb_status_rank(const char *status);
/* A provider status for our message, found by the outbox id that rode with the request (the
 * status callback URL's o=, or a reference the provider echoes): never by the provider's id,
 * which would need an index whose random keys cost each send a leaf page (docs/INTERNALS.md).
 * SB_ENOTFOUND for no outbox id, an unknown one, or an attempt that a retry replaced.
 * Applies only if it ranks higher; settles a sending or reconciling outbox row. */
int sb_tx_status_update(struct sb_tx *tx, int64_t tenant, int64_t channel, const char *provider_id,
			int64_t outbox_id, const char *status, const char *code,
			const char *reason);

/* The conversation's channel (0 when none yet) and the contact's phone. */
int sb_store_conv_target(struct sb_store *st, int64_t tenant, int64_t conv, int64_t *channel,
			 char *to, size_t tolen);
/* The same inside a job (a send checks its target in its own transaction). */
int sb_tx_conv_target(struct sb_tx *tx, int64_t tenant, int64_t conv, int64_t *channel, char *to,
		      size_t tolen);
/* The channel a send goes out on: channel, or with 0 the tenant's first active SMS channel.
 * SB_ENOTFOUND when there is none. */
int sb_tx_send_channel(struct sb_tx *tx, int64_t tenant, int64_t channel, int64_t *id,
		       bool *active, char *sender, size_t senderlen);

/* ---- outbound and the outbox ---- */

enum sb_outbox_state {
	SB_OB_PENDING = 0,
	SB_OB_SENDING = 1,   /* a request may be on the wire */
	SB_OB_RETRY = 2,
	SB_OB_RECONCILE = 3, /* outcome unknown: settled by a status callback or a lookup */
	SB_OB_DONE = 4,
	SB_OB_FAILED = 5,
};

struct sb_send_in {
	int64_t conv, channel, agent;
	const char *to, *body, *client_id;
	int segments;
};
/* Message (pending) + outbox row + event, one transaction. 1 when client_id existed (then
 * *outbox_out is 0: no new row). outbox_out may be NULL. */
int sb_tx_message_send(struct sb_tx *tx, int64_t tenant, const struct sb_send_in *in,
		       int64_t *msg_out, int64_t *outbox_out, struct sb_buf *json);
/* A message's conversation and channel (the loop's view, and inside a job). */
int sb_store_message_conv(struct sb_store *st, int64_t tenant, int64_t msg, int64_t *conv,
			  int64_t *channel);
int sb_tx_message_conv(struct sb_tx *tx, int64_t tenant, int64_t msg, int64_t *conv,
		       int64_t *channel);
/* An agent's retry of a failed outbound message: a new outbox row, status pending.
 * SB_ENOTFOUND when there is no such message, SB_ECONFLICT when it cannot be retried. */
int sb_tx_message_retry(struct sb_tx *tx, int64_t tenant, int64_t msg, struct sb_buf *json);

struct sb_outbox_row {
	int64_t id, tenant, message, channel;
	int state, attempts;
	int64_t next_at, created_at;
	char to[64];
	char provider_id[64];
	char *body; /* heap; sb_outbox_row_free */
};
void sb_outbox_row_free(struct sb_outbox_row *r);
/* Inside a job: 1 when customer opted out of sender (the writer's view, authoritative). */
int sb_tx_optout_get(struct sb_tx *tx, int64_t tenant, const char *sender, const char *customer);
/* Due rows (pending/retry/reconcile with next_at <= now), oldest first. fn takes ownership
 * of the row's heap parts. Returns the count. */
int sb_store_outbox_due(struct sb_store *st, int64_t now, int limit,
			void (*fn)(void *ud, struct sb_outbox_row *row), void *ud);
/* The same, asking want(ud, tenant, channel, id, state) first for each due row: 1 takes it
 * (fn gets it), 0 skips it without reading its message, -2 skips the rest of its channel's
 * rows, -1 ends the scan. Reconcile rows come first, then retries, then (first_sends) first sends;
 * within each, channel by channel (those after *cursor first, then the others; 0: all in
 * id order), each channel's oldest first, looking at max_channels channels at most (0: no
 * bound). *cursor (may be NULL) gets where the next walk should start: the channel this one
 * stopped in or after, 0 when it went round. next_at (may be NULL) gets when the store
 * next holds a due row the scan did not take: now when it left one (skipped, cut short, or
 * a first send stored while first sends were not looked at), else the earliest next_at of
 * the rows not yet due that it passed, 0 for none. */
int sb_store_outbox_due_filtered(struct sb_store *st, int64_t now, int limit, bool first_sends,
				 int max_channels, int64_t *cursor,
				 int (*want)(void *ud, int64_t tenant, int64_t channel, int64_t id,
						     int state),
				 void (*fn)(void *ud, struct sb_outbox_row *row), void *ud,
				 int64_t *next_at);
/* pending/retry -> sending (attempts + 1); SB_ECONFLICT when the row moved on. */
int sb_tx_outbox_mark_sending(struct sb_tx *tx, int64_t tenant, int64_t id);
/* Undoes the attempt a mark counted, for a request that never left (a stop). */
int sb_tx_outbox_attempt_undo(struct sb_tx *tx, int64_t tenant, int64_t id);
/* The outcome of a send or lookup. state is the outbox row's next state; status/code/reason
 * go to the message (status NULL: unchanged); provider_id (may be NULL) is recorded. */
int sb_tx_outbox_settle(struct sb_tx *tx, int64_t tenant, int64_t id, int state, int64_t next_at,
			const char *provider_id, const char *status, const char *code,
			const char *reason);
/* At start: rows left in SENDING by a crash become RECONCILE (never resent blindly), due for
 * their lookup or verdict at next_at. */
int sb_tx_outbox_recover(struct sb_tx *tx, int64_t next_at);

/* ---- sandbox provider ---- */

int sb_tx_sandbox_record(struct sb_tx *tx, int64_t tenant, int64_t channel, const char *sid,
			 int direction, const char *customer, const char *body, const char *status,
			 const char *error_code, const char *status_callback);
int sb_tx_sandbox_status(struct sb_tx *tx, const char *sid, const char *status);
int sb_store_sandbox_json(struct sb_store *st, int64_t tenant, int64_t channel,
			  const char *customer, struct sb_buf *json);
int sb_store_sandbox_get(struct sb_store *st, const char *sid, struct sb_buf *json);

/* ---- the event log ---- */

int64_t sb_store_tenant_seq(struct sb_store *st, int64_t tenant);
/* Calls fn for each event with seq in (after, after+limit], in order; returns the count or an
 * sb_err. The frame pointer is valid during the call only. */
int sb_store_events_since(struct sb_store *st, int64_t tenant, int64_t after, int limit,
			  void (*fn)(void *ud, int64_t seq, const char *frame, size_t len),
			  void *ud);

#endif
