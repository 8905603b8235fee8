/* SPDX-License-Identifier: MIT
 * auth.c: who is asking. Session cookies (256-bit random ids, stored as SHA-256), CSRF
 * tokens, API keys (stored as SHA-256), argon2id password hashing on a small thread pool so
 * the loop never waits on it (at most pwhash_threads hashes at once, a bounded queue past
 * that), and failed-login throttling per account.
 */
#include "hub.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- password hashing pool ---- */

struct hash_task {
	bool verify;
	char password[1024];
	char *hash;          /* in: hash to verify; out: hash made (caller's buffer) */
	char made[crypto_pwhash_STRBYTES];
	int rc;
	void (*done)(void *arg, int rc);
	void *arg;
	struct hash_task *next;
};

#define HASH_QUEUE_MAX 64

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hash_task *head, *tail;
	int queued;
	bool stop;
	pthread_t threads[64];
	int nthreads;
	unsigned long long ops;
	size_t mem;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void hash_finish(void *arg)
{
	struct hash_task *t = arg;
	if (!t->verify && !t->rc)
		memcpy(t->hash, t->made, sizeof t->made);
	t->done(t->arg, t->rc);
	sodium_memzero(t, sizeof *t);
	free(t);
}

static int hash_now(const char *pw, char out[crypto_pwhash_STRBYTES])
{
	if (crypto_pwhash_str(out, pw, strlen(pw), pool.ops, pool.mem))
		return SB_ENOMEM;
	return 0;
}

static void *hash_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (!pool.head && !pool.stop)
			pthread_cond_wait(&pool.cv, &pool.mu);
		if (pool.stop)
			break;
		struct hash_task *t = pool.head;
		pool.head = t->next;
		if (!pool.head)
			pool.tail = NULL;
		pthread_mutex_unlock(&pool.mu);
		if (t->verify)
			t->rc = crypto_pwhash_str_verify(t->hash, t->password, strlen(t->password))
					? SB_EAUTH
					: 0;
		else
			t->rc = hash_now(t->password, t->made);
		sodium_memzero(t->password, sizeof t->password);
		sb_loop_post(hash_finish, t);
		pthread_mutex_lock(&pool.mu);
		pool.queued--;
	}
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

static void set_cost(void)
{
	const char *p = sb_hub_config() ? sb_hub_config()->pwhash : "interactive";
	if (!strcmp(p, "min")) {
		pool.ops = crypto_pwhash_OPSLIMIT_MIN;
		pool.mem = crypto_pwhash_MEMLIMIT_MIN;
	} else if (!strcmp(p, "moderate")) {
		pool.ops = crypto_pwhash_OPSLIMIT_MODERATE;
		pool.mem = crypto_pwhash_MEMLIMIT_MODERATE;
	} else {
		pool.ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		pool.mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	}
}

int sb_auth_init(void)
{
	if (sodium_init() < 0)
		return SB_ENOMEM;
	set_cost();
	pool.stop = false;
	int n = sb_hub_config() ? sb_hub_config()->pwhash_threads : 1;
	for (int i = 0; i < n; i++) {
		if (pthread_create(&pool.threads[i], NULL, hash_main, NULL))
			return SB_ENOMEM;
		pool.nthreads++;
	}
	return 0;
}

void sb_auth_fini(void)
{
	pthread_mutex_lock(&pool.mu);
	pool.stop = true;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < pool.nthreads; i++)
		pthread_join(pool.threads[i], NULL);
	pool.nthreads = 0;
	/* tasks never started are dropped with their requests */
	while (pool.head) {
		struct hash_task *t = pool.head;
		pool.head = t->next;
		sodium_memzero(t, sizeof *t);
		free(t);
	}
	pool.tail = NULL;
	pool.queued = 0;
}

static int enqueue(struct hash_task *t)
{
	pthread_mutex_lock(&pool.mu);
	if (pool.queued >= HASH_QUEUE_MAX) {
		pthread_mutex_unlock(&pool.mu);
		sodium_memzero(t, sizeof *t);
		free(t);
		return SB_EBUSY;
	}
	pool.queued++;
	if (pool.tail)
		pool.tail->next = t;
	else
		pool.head = t;
	pool.tail = t;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	return 0;
}

int sb_auth_hash_async(const char *password, char *hash_out, void (*done)(void *arg, int rc),
		       void *arg)
{
	if (strlen(password) >= sizeof ((struct hash_task *)0)->password)
		return SB_ETOOBIG;
	struct hash_task *t = sb_calloc(1, sizeof *t);
	snprintf(t->password, sizeof t->password, "%s", password);
	t->hash = hash_out;
	t->done = done;
	t->arg = arg;
	return enqueue(t);
}

int sb_auth_verify_async(const char *password, const char *hash,
			 void (*done)(void *arg, int rc), void *arg)
{
	if (strlen(password) >= sizeof ((struct hash_task *)0)->password)
		return SB_ETOOBIG;
	struct hash_task *t = sb_calloc(1, sizeof *t);
	t->verify = true;
	snprintf(t->password, sizeof t->password, "%s", password);
	t->hash = (char *)hash;
	t->done = done;
	t->arg = arg;
	return enqueue(t);
}

int sb_auth_hash_sync(const char *password, char *hash_out)
{
	if (!pool.ops) {
		if (sodium_init() < 0)
			return SB_ENOMEM;
		set_cost();
	}
	return hash_now(password, hash_out);
}

/* ---- throttling ---- */

#define THR_BUCKETS 4096
#define THR_MAX 50000
#define THR_FREE 5         /* failures allowed before a lock */
#define THR_WINDOW_MS (15 * 60 * 1000)

struct thr {
	struct thr *next;
	int fails;
	int64_t first_ms, locked_until;
	char email[];
};
static struct thr *thr_tab[THR_BUCKETS];
static size_t thr_count;

static uint32_t thr_hash(struct sb_str e)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < e.len; i++) {
		char c = e.p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		h = (h ^ (uint8_t)c) * 16777619u;
	}
	return h % THR_BUCKETS;
}

static struct thr **thr_find(struct sb_str e)
{
	struct thr **pp = &thr_tab[thr_hash(e)];
	for (; *pp; pp = &(*pp)->next)
		if (sb_str_caseeqz(e, (*pp)->email))
			return pp;
	return pp;
}

static void thr_sweep(int64_t now)
{
	for (int b = 0; b < THR_BUCKETS; b++) {
		struct thr **pp = &thr_tab[b];
		while (*pp) {
			struct thr *t = *pp;
			if (t->locked_until < now && now - t->first_ms > THR_WINDOW_MS) {
				*pp = t->next;
				free(t);
				thr_count--;
			} else {
				pp = &t->next;
			}
		}
	}
}

int sb_auth_throttle_check(struct sb_str email)
{
	struct thr *t = *thr_find(email);
	int64_t now = sb_wall_ms();
	if (t && t->locked_until > now)
		return (int)((t->locked_until - now + 999) / 1000);
	return 0;
}

void sb_auth_throttle_fail(struct sb_str email)
{
	if (email.len > 254)
		email.len = 254;
	int64_t now = sb_wall_ms();
	struct thr **pp = thr_find(email), *t = *pp;
	if (!t) {
		if (thr_count >= THR_MAX)
			thr_sweep(now);
		t = sb_calloc(1, sizeof *t + email.len + 1);
		memcpy(t->email, email.p, email.len);
		*pp = t;
		thr_count++;
	}
	if (now - t->first_ms > THR_WINDOW_MS && t->locked_until < now) {
		t->fails = 0;
		t->first_ms = now;
	}
	t->fails++;
	if (t->fails >= THR_FREE) {
		/* 30 s, doubling with each further failure, at most 15 minutes */
		int extra = t->fails - THR_FREE;
		int64_t lock = 30000LL << (extra > 5 ? 5 : extra);
		if (lock > THR_WINDOW_MS)
			lock = THR_WINDOW_MS;
		t->locked_until = now + lock;
		sb_log(SB_LOG_WARN, "msg=login_throttled fails=%d lock_s=%lld", t->fails,
		       (long long)(lock / 1000));
	}
}

void sb_auth_throttle_ok(struct sb_str email)
{
	struct thr **pp = thr_find(email), *t = *pp;
	if (t) {
		*pp = t->next;
		free(t);
		thr_count--;
	}
}

/* ---- sessions, cookies, API keys ---- */

void sb_auth_sid_hash(const char *sid, size_t len, unsigned char out[32])
{
	crypto_hash_sha256(out, (const unsigned char *)sid, len);
}

const char *sb_auth_cookie_name(void)
{
	return sb_config_https(sb_hub_config()) ? "__Host-sb_session" : "sb_session";
}

bool sb_auth_cookie_value(const char *cookie, struct sb_str *out)
{
	if (!cookie)
		return false;
	const char *name = sb_auth_cookie_name();
	size_t nl = strlen(name);
	const char *p = cookie;
	while (*p) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t seg = end ? (size_t)(end - p) : strlen(p);
		if (seg > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			out->p = p + nl + 1;
			out->len = seg - nl - 1;
			return out->len > 0;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

/* ---- the credential cache ----
 * What the store said about a session or an API key, so that a request costs no read of the
 * store (a read transaction and a join, ~12k instructions: about 3% of an agent's reply in
 * B5) while nothing about credentials changed. Direct-mapped by the credential's SHA-256
 * (uniformly random). An entry is good only under the configuration generation it was read
 * under, read before the lookup so that a change racing it is seen next time. Every write
 * that ends or changes a session or a key (a logout, an agent's sessions deleted, an agent's
 * role or activity changed) moves that generation (store__config_changed). The generation
 * is shared by every worker of the database, so a logout on one worker is seen by the
 * others' next request. Expiry is checked on every hit; misses are not kept. Service thread
 * only. */
#define CRED_SLOTS 1024

struct cred_entry {
	unsigned char hash[32];
	uint64_t gen1; /* 1 + sb_store_config_gen() before the read; 0: an empty slot */
	bool api_key;
	struct sb_session_info si; /* api keys: tenant only */
};

static struct cred_entry cred[CRED_SLOTS];

static struct cred_entry *cred_slot(const unsigned char hash[32])
{
	uint32_t i;
	memcpy(&i, hash, sizeof i);
	return &cred[i % CRED_SLOTS];
}

/* The cached answer for hash, or NULL (then read the store and call cred_keep). */
static const struct cred_entry *cred_find(const unsigned char hash[32], bool api_key,
					  uint64_t gen)
{
	struct cred_entry *e = cred_slot(hash);
	if (e->gen1 != gen + 1 || e->api_key != api_key || sodium_memcmp(e->hash, hash, 32))
		return NULL;
	if (!api_key && e->si.expires_at <= sb_wall_ms()) {
		sodium_memzero(e, sizeof *e);
		return NULL;
	}
	return e;
}

static void cred_keep(const unsigned char hash[32], bool api_key, uint64_t gen,
		      const struct sb_session_info *si)
{
	struct cred_entry *e = cred_slot(hash);
	sodium_memzero(e, sizeof *e);
	memcpy(e->hash, hash, 32);
	e->gen1 = gen + 1;
	e->api_key = api_key;
	e->si = *si;
}

static void cred_forget(const unsigned char hash[32])
{
	struct cred_entry *e = cred_slot(hash);
	if (!sodium_memcmp(e->hash, hash, 32))
		sodium_memzero(e, sizeof *e);
}

void sb_auth_resolve(struct sb_req *r)
{
	struct sb_auth *a = &r->auth;
	memset(a, 0, sizeof *a);
	struct sb_store *st = sb_hub_store();
	uint64_t gen = sb_store_config_gen(st);
	if (r->authorization && !strncmp(r->authorization, "Bearer ", 7)) {
		const char *key = r->authorization + 7;
		unsigned char h[32];
		sb_auth_sid_hash(key, strlen(key), h);
		const struct cred_entry *e = cred_find(h, true, gen);
		struct sb_session_info si = { 0 };
		if (e)
			a->tenant = e->si.tenant;
		else if (!sb_store_apikey_get(st, h, &si.tenant)) {
			a->tenant = si.tenant;
			cred_keep(h, true, gen, &si);
		} else {
			cred_forget(h);
		}
		if (a->tenant) {
			a->api_key = true;
			a->role = SB_ROLE_ADMIN;
			a->csrf_ok = true;
		}
		return; /* a bad key is anonymous, never a fallback to the cookie */
	}
	struct sb_str sid;
	if (!sb_auth_cookie_value(r->cookie, &sid) || sid.len > 128)
		return;
	sb_auth_sid_hash(sid.p, sid.len, a->sid_hash);
	struct sb_session_info si;
	const struct cred_entry *e = cred_find(a->sid_hash, false, gen);
	if (e) {
		si = e->si;
	} else if (sb_store_session_get(st, a->sid_hash, &si)) {
		cred_forget(a->sid_hash);
		return;
	} else {
		cred_keep(a->sid_hash, false, gen, &si);
	}
	a->tenant = si.tenant;
	a->agent = si.agent;
	a->role = si.role;
	a->has_sid = true;
	size_t cl = strlen(si.csrf);
	a->csrf_ok = r->csrf && strlen(r->csrf) == cl &&
		     !sodium_memcmp(r->csrf, si.csrf, cl);
	sodium_memzero(&si, sizeof si);
}

/* ---- login ---- */

/* A hash to verify against when the account does not exist, so that answering "no such
 * account" takes as long as "wrong password". Made once, lazily. */
static char dummy_hash[crypto_pwhash_STRBYTES];

struct login_ctx {
	char email[256];
	char password[1024];
	struct sb_agent_auth agent;
	bool exists;
	char sid[64];
	unsigned char sid_hash[32];
	char csrf[48];
	int64_t expires;
};

static void login_free(struct login_ctx *c)
{
	sodium_memzero(c, sizeof *c);
	free(c);
}

static int login_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct login_ctx *c = r->ctx;
	return sb_tx_session_create(tx, c->agent.tenant, c->agent.id, c->sid_hash, c->csrf,
				    c->expires);
}

static void login_written(struct sb_req *r, int rc)
{
	struct login_ctx *c = r->ctx;
	if (rc) {
		sb_http_err(r, rc, NULL);
		login_free(c);
		return;
	}
	const struct sb_config *cfg = sb_hub_config();
	char cookie[256];
	snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%d%s",
		 sb_auth_cookie_name(), c->sid, cfg->session_days * 86400,
		 sb_config_https(cfg) ? "; Secure" : "");
	sb_http_header(r, "Set-Cookie", cookie);
	r->auth.tenant = c->agent.tenant;
	r->auth.agent = c->agent.id;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_buf_adds(&b, "{\"agent\":");
	sb_store_agent_json(sb_hub_store(), c->agent.tenant, c->agent.id, &b);
	sb_buf_printf(&b, ",\"tenant_id\":%lld,\"csrf_token\":", (long long)c->agent.tenant);
	sb_json_escz(&b, c->csrf);
	sb_buf_addc(&b, '}');
	sb_log(SB_LOG_INFO, "msg=login rid=%s tenant=%lld agent=%lld", r->rid,
	       (long long)c->agent.tenant, (long long)c->agent.id);
	sb_http_json(r, 200, &b);
	login_free(c);
}

static void login_verified(void *arg, int rc)
{
	struct sb_req *r = arg;
	struct login_ctx *c = r->ctx;
	if (!sb_http_release(r)) {
		login_free(c);
		return;
	}
	struct sb_str email = SB_STRZ(c->email);
	if (rc || !c->exists || !c->agent.active) {
		sb_auth_throttle_fail(email);
		sb_log(SB_LOG_INFO, "msg=login_failed rid=%s", r->rid);
		login_free(c);
		sb_http_error(r, 401, "invalid_credentials", "wrong email or password");
		return;
	}
	sb_auth_throttle_ok(email);
	unsigned char raw[32];
	sb_random(raw, sizeof raw);
	sodium_bin2base64(c->sid, sizeof c->sid, raw, sizeof raw,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
	sb_auth_sid_hash(c->sid, strlen(c->sid), c->sid_hash);
	sb_token(32, c->csrf, sizeof c->csrf);
	c->expires = sb_wall_ms() + (int64_t)sb_hub_config()->session_days * 86400000;
	sb_http_write(r, login_run, login_written, c);
}

void sb_auth_login(struct sb_req *r)
{
	if (!sb_http_body_json(r))
		return;
	struct sb_str email, pw;
	if (!sb_json_str(r->json, "email", &email) || !sb_json_str(r->json, "password", &pw) ||
	    !email.len || !pw.len) {
		sb_http_error(r, 400, "invalid", "email and password are required");
		return;
	}
	if (email.len > 254 || pw.len > 1000) {
		sb_http_error(r, 400, "invalid", "email or password too long");
		return;
	}
	int wait = sb_auth_throttle_check(email);
	if (wait) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", wait);
		sb_http_header(r, "Retry-After", ra);
		sb_http_error(r, 429, "too_many_attempts",
			      "too many failed logins for this account; wait and try again");
		return;
	}
	struct login_ctx *c = sb_calloc(1, sizeof *c);
	snprintf(c->email, sizeof c->email, "%.*s", (int)email.len, email.p);
	snprintf(c->password, sizeof c->password, "%.*s", (int)pw.len, pw.p);
	sodium_memzero((void *)pw.p, pw.len);
	c->exists = !sb_store_agent_by_email(sb_hub_store(), email, &c->agent) &&
		    c->agent.pw_hash[0];
	if (!c->exists && !dummy_hash[0])
		sb_auth_hash_sync("not a password", dummy_hash);
	r->ctx = c;
	sb_http_hold(r);
	int rc = sb_auth_verify_async(c->password, c->exists ? c->agent.pw_hash : dummy_hash,
				      login_verified, r);
	sodium_memzero(c->password, sizeof c->password);
	if (rc) {
		sb_http_release(r);
		login_free(c);
		sb_http_err(r, rc, NULL);
	}
}

/* ---- logout ---- */

static int logout_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	return sb_tx_session_delete(tx, r->auth.tenant, r->auth.sid_hash);
}

static void logout_written(struct sb_req *r, int rc)
{
	if (rc) {
		sb_http_err(r, rc, NULL);
		return;
	}
	sb_ws_close_session(r->auth.tenant, r->auth.sid_hash);
	char cookie[128];
	snprintf(cookie, sizeof cookie, "%s=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0%s",
		 sb_auth_cookie_name(), sb_config_https(sb_hub_config()) ? "; Secure" : "");
	sb_http_header(r, "Set-Cookie", cookie);
	sb_log(SB_LOG_INFO, "msg=logout rid=%s tenant=%lld agent=%lld", r->rid,
	       (long long)r->auth.tenant, (long long)r->auth.agent);
	sb_http_respond(r, 204, NULL, NULL, 0);
}

void sb_auth_logout(struct sb_req *r)
{
	if (!r->auth.has_sid) {
		sb_http_error(r, 400, "invalid", "logout needs a session cookie");
		return;
	}
	sb_http_write(r, logout_run, logout_written, NULL);
}

/* ---- accepting an invitation ---- */

struct invite_ctx {
	unsigned char hash[32];
	char pw_hash[crypto_pwhash_STRBYTES];
	int64_t tenant, agent;
};

static int invite_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct invite_ctx *c = r->ctx;
	return sb_tx_agent_accept_invite(tx, c->hash, c->pw_hash, &c->tenant, &c->agent);
}

static void invite_written(struct sb_req *r, int rc)
{
	struct invite_ctx *c = r->ctx;
	if (rc == SB_ENOTFOUND)
		sb_http_error(r, 404, "not_found", "this invitation is not valid (used or revoked)");
	else if (rc)
		sb_http_err(r, rc, NULL);
	else
		sb_http_respond(r, 204, NULL, NULL, 0);
	free(c);
}

static void invite_hashed(void *arg, int rc)
{
	struct sb_req *r = arg;
	struct invite_ctx *c = r->ctx;
	if (!sb_http_release(r)) {
		free(c);
		return;
	}
	if (rc) {
		free(c);
		sb_http_err(r, rc, NULL);
		return;
	}
	sb_http_write(r, invite_run, invite_written, c);
}

void sb_auth_accept_invite(struct sb_req *r)
{
	if (!sb_http_body_json(r))
		return;
	struct sb_str tok, pw;
	if (!sb_json_str(r->json, "token", &tok) || !sb_json_str(r->json, "password", &pw) ||
	    !tok.len) {
		sb_http_error(r, 400, "invalid", "token and password are required");
		return;
	}
	if (pw.len < 8 || pw.len > 1000) {
		sb_http_error(r, 400, "weak_password", "the password needs 8 to 1000 characters");
		return;
	}
	struct invite_ctx *c = sb_calloc(1, sizeof *c);
	sb_auth_sid_hash(tok.p, tok.len, c->hash);
	char pwz[1024];
	snprintf(pwz, sizeof pwz, "%.*s", (int)pw.len, pw.p);
	r->ctx = c;
	sb_http_hold(r);
	int rc = sb_auth_hash_async(pwz, c->pw_hash, invite_hashed, r);
	sodium_memzero(pwz, sizeof pwz);
	if (rc) {
		sb_http_release(r);
		free(c);
		sb_http_err(r, rc, NULL);
	}
}
