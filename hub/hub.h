/* SPDX-License-Identifier: MIT
 * hub.h: the daemon's shared state and the seams between its parts: configuration, the
 * loop mailbox (how other threads hand work back to the service thread), HTTP requests and
 * responses, the REST router, auth, agent sockets and fan-out, and metrics.
 * Everything here runs on the lws service thread unless a comment says otherwise.
 */
#ifndef SB_HUB_H
#define SB_HUB_H

#include "sb.h"
#include "json.h"
#include "store/store.h"

#include <ev.h>
#include <libwebsockets.h>

/* lws's timeout_secs (main.c), which lws arms when a request's headers are read; also the
 * time a request's whole body may take (http.c) */
#define SB_HTTP_TIMEOUT_SECONDS 20

/* ---- configuration (config.c) ---- */

struct sb_config {
	char *listen_host;     /* "127.0.0.1" */
	int port;              /* 8080; 0 picks a free port */
	char *db_path;         /* "switchboard.db" */
	char *public_url;      /* "http://127.0.0.1:8080": origin check, cookies, webhook URLs */
	char *web_root;        /* directory served at / */
	int log_level;
	char *pwhash;          /* "interactive" (default), "moderate" or "min" (tests) */
	int pwhash_threads;    /* concurrent argon2id hashes: 2 */
	int session_days;      /* 30 */
	char *demo_file;       /* where `serve --demo` keeps the demo login */
	bool demo;
	char *bridge_dir;      /* where loadable bridge modules live */
	char *secret_key;      /* SB_SECRET_KEY: encrypts channel credentials */
	int workers;           /* worker processes sharing the port (1) */
	char *nats_url;        /* NATS for events across workers, e.g. nats://127.0.0.1:4222 */
	int worker_index;      /* internal: set by the master for its workers */
	char *provider_ca;     /* PEM CA bundle for providers' https (the system's when unset) */
	bool provider_http2;   /* offer HTTP/2 to https providers (off: HTTP/1.1 only) */
};

/* Applies defaults, then the JSON file (if any), then SB_* variables, then flags; argv is
 * what follows the subcommand. Exits with a message naming the bad key on error. */
int sb_config_load(struct sb_config *c, const char *file, int argc, char **argv);
void sb_config_free(struct sb_config *c);
/* The origin ("scheme://host[:port]") of the public URL, and whether it is https. */
const char *sb_config_origin(const struct sb_config *c);
bool sb_config_https(const struct sb_config *c);

/* ---- the hub ---- */

struct sb_hub;
extern struct sb_hub *sb_hub_g; /* the one hub of this process */

struct sb_store *sb_hub_store(void);
const struct sb_config *sb_hub_config(void);
struct lws_context *sb_hub_lws(void);

/* Service-thread timers on the hub's event loop (libev). A timer must start zeroed; it
 * fires once, on the service thread, at least `us` from now; scheduling it again moves it. */
struct sb_timer {
	ev_timer w;
	void (*cb)(struct sb_timer *t);
};
void sb_timer_after(struct sb_timer *t, void (*cb)(struct sb_timer *t), uint64_t us);
void sb_timer_stop(struct sb_timer *t);

/* Service thread, when lws_cancel_service woke it: store completions, then the mailbox. */
void sb_hub_on_cancel(void);
/* Any thread: run fn(arg) on the service thread soon. */
void sb_loop_post(void (*fn)(void *arg), void *arg);
/* Service thread: runs the letters posted so far (at a stop, once the threads that post them
 * have ended, so that their results are handled while the store still commits). */
void sb_loop_run_mail(void);

/* ---- HTTP (http.c) ---- */

enum sb_method { SB_GET = 1, SB_POST, SB_PUT, SB_PATCH, SB_DELETE, SB_HEAD, SB_OPTIONS };

struct sb_auth {
	int64_t tenant;        /* 0: anonymous */
	int64_t agent;         /* 0 for API keys */
	int role;
	bool api_key;
	bool csrf_ok;          /* cookie + matching X-CSRF-Token, or an API key */
	unsigned char sid_hash[32];
	bool has_sid;
};

/* One HTTP request. Lifetime: from the request line to the last byte of the answer, or, when
 * the connection drops while a write job is pending, until that job's completion (wsi NULL). */
struct sb_req {
	struct lws *wsi;
	enum sb_method method;
	char *path;            /* decoded path, no query */
	char *query;           /* raw query string or NULL */
	char *route;           /* route label for metrics ("/api/v1/conversations/:id") */
	char *cookie, *csrf, *authorization, *content_type, *origin, *twilio_sig, *idem;
	char rid[24];          /* request id, for logs: 6 + 1 + up to 16 hex digits */
	struct sb_buf body;
	size_t body_cap;
	bool body_too_big;
	uint64_t t_start;
	struct sb_auth auth;
	struct sb_arena arena;
	struct sb_json *json;  /* parsed body, when the handler asked for it */

	/* answer */
	int status;
	const char *ctype;
	struct sb_buf out;
	struct sb_buf headers; /* extra "Name: value\r\n" lines */
	size_t sent;
	bool headers_sent, answered, dispatched;

	struct sb_wjob job;    /* at most one write in flight per request; run gets the request */
	void *ctx;             /* handler's state for the write */
	void (*wdone)(struct sb_req *r, int rc);
	int pending;           /* async operations holding the request */
};

/* Queues the answer and asks for WRITEABLE. body may be NULL. */
void sb_http_respond(struct sb_req *r, int status, const char *ctype, const char *body,
		     size_t len);
void sb_http_json(struct sb_req *r, int status, struct sb_buf *json); /* takes json's data */
/* {"error":{"code":code,"message":msg}} with the status. */
void sb_http_error(struct sb_req *r, int status, const char *code, const char *msg);
/* Maps an sb_err to a status and code. */
void sb_http_err(struct sb_req *r, int err, const char *msg);
void sb_http_header(struct sb_req *r, const char *name, const char *value);
/* Submits r->job: run(tx, r) on the writer thread, then done(r, rc) on the loop thread, unless
 * the client went away meanwhile (then the request is freed without calling done). */
void sb_http_write(struct sb_req *r, sb_store_run_fn run, void (*done)(struct sb_req *r, int rc),
		   void *ctx);
/* The same for a run that is replayable (struct sb_wjob in store/store.h): the writer may run
 * it again after rolling its batch back, so it must set its outputs, not add to them. */
void sb_http_write_replayable(struct sb_req *r, sb_store_run_fn run,
			      void (*done)(struct sb_req *r, int rc), void *ctx);
/* Async work outside the store (password hashing) holds the request; release returns false
 * when the client went away meanwhile (the request is then freed: touch it no more). */
void sb_http_hold(struct sb_req *r);
bool sb_http_release(struct sb_req *r);
/* The value of a query parameter, decoded into the request's arena, or NULL. */
const char *sb_http_qparam(struct sb_req *r, const char *name);
/* Parses the body as JSON (415 unless application/json, 400 when malformed, 413 when
 * too big); false when it already answered. */
bool sb_http_body_json(struct sb_req *r);

extern const struct lws_protocols sb_http_protocol;

/* ---- REST (api.c) ---- */

/* Routes a complete request; the handler answers now or after a write. */
void sb_api_route(struct sb_req *r);

/* ---- auth (auth.c) ---- */

/* Resolves r->auth from the cookie or the bearer API key; checks CSRF for state changes. */
void sb_auth_resolve(struct sb_req *r);
/* Session id hashing, cookie names. */
void sb_auth_sid_hash(const char *sid, size_t len, unsigned char out[32]);
const char *sb_auth_cookie_name(void);
/* Finds the session cookie's value in a Cookie header. */
bool sb_auth_cookie_value(const char *cookie, struct sb_str *out);
/* Password hashing off the loop, at most config.pwhash_threads at once. done runs on the
 * loop thread with 0 (match / hashed) or an sb_err. hash_out has room for
 * crypto_pwhash_STRBYTES. */
int sb_auth_hash_async(const char *password, char *hash_out, void (*done)(void *arg, int rc),
		       void *arg);
int sb_auth_verify_async(const char *password, const char *hash,
			 void (*done)(void *arg, int rc), void *arg);
int sb_auth_hash_sync(const char *password, char *hash_out);
/* Failed-login throttling per account: 0, or the seconds to wait. */
int sb_auth_throttle_check(struct sb_str email);
void sb_auth_throttle_fail(struct sb_str email);
void sb_auth_throttle_ok(struct sb_str email);
int sb_auth_init(void);
void sb_auth_fini(void);
void sb_auth_login(struct sb_req *r);
void sb_auth_logout(struct sb_req *r);
void sb_auth_accept_invite(struct sb_req *r);

/* ---- agent sockets and fan-out (ws.c) ---- */

extern const struct lws_protocols sb_ws_protocol;
void sb_ws_on_event(const struct sb_event *ev);
/* After a drain of the store (or the mailbox): write what sb_ws_on_event made due. */
void sb_ws_flush(void);
/* Closes sockets of a session (logout, code 4001) or of an agent (deactivated, 4003). */
void sb_ws_close_session(int64_t tenant, const unsigned char sid_hash[32]);
void sb_ws_close_agent(int64_t tenant, int64_t agent, int code);
/* Starts the shutdown: every socket closes with 1001. */
void sb_ws_shutdown(void);
size_t sb_ws_count(void);
extern uint64_t sb_ws_fanned_out; /* event frames written to sockets */
/* The send hook lets the channels module take {"type":"send"} frames; it answers through
 * sb_ws_reply on the same socket. */
struct ws_pss;
extern bool (*sb_ws_send_hook)(struct ws_pss *p, const struct sb_json *msg,
			       const struct sb_json *id);
void sb_ws_reply(struct ws_pss *p, const char *frame, size_t len);
int64_t sb_ws_tenant(const struct ws_pss *p);
int64_t sb_ws_agent(const struct ws_pss *p);
/* An asynchronous request of a socket holds it: held() is NULL once the socket closed. hold()
 * is NULL when the socket already has too many requests in flight. */
struct ws_handle;
struct ws_handle *sb_ws_hold(struct ws_pss *p);
struct ws_pss *sb_ws_held(const struct ws_handle *h);
void sb_ws_release(struct ws_handle *h);
/* A client request's id as JSON (a number, a string, or null), for its ack or error. */
void sb_ws_id_json(const struct sb_json *id, char *out, size_t cap);
/* Channels (channels.c): bridges, the outbox, the sandbox. */
int sb_channels_start(void);
void sb_channels_stop(void);
int sb_channels_demo(int64_t tenant);
/* Another worker may have committed: learn each connected tenant's seq from the store. */
void sb_ws_resync_from_store(void);

/* ---- several workers (cluster.c) ---- */

/* multi: poll the store for other workers' events; nats_url (may be NULL): also carry them
 * over NATS. */
int sb_cluster_start(bool multi, const char *nats_url);
void sb_cluster_publish(const struct sb_event *ev);
void sb_cluster_stop(void);
/* This process's worker number (1..N), 0 when it is the only one. */
int sb_hub_worker(void);

/* True once SIGTERM/SIGINT started the drain. */
bool sb_hub_draining(void);

/* ---- metrics (metrics.c) ---- */

void sb_metrics_request(const char *route, int status, uint64_t us);
void sb_metrics_commit(uint64_t us, int batch);  /* any thread */
void sb_metrics_inc(const char *name, uint64_t by);
/* The id of the counter named by fmt (made on first use; -1 when the table is full),
 * remembered in *slot: with a caller's static slot (zero at first), every later call is a
 * load, with no formatting and no lookup by name (for hot paths). Loop thread. */
int sb_metrics_counter_at(int *slot, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_metrics_add(int id, uint64_t by);
void sb_metrics_gauge_http(int delta);
int sb_http_open(void); /* HTTP connections open now */
void sb_metrics_render(struct sb_buf *out);

#endif
