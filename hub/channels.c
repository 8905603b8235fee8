/* SPDX-License-Identifier: MIT
 * channels.c: the bridge host. Channel records (credentials sealed with libsodium's
 * secretbox under SB_SECRET_KEY), their REST routes, the provider webhooks
 * (/webhooks/<kind>/<key>[/status]), and sending a message (REST and the agent socket).
 * The core reaches bridges only through struct sb_bridge; no provider is named here but in
 * the table of in-tree bridges.
 */
#define _GNU_SOURCE
#include "channels.h"
#include "api_internal.h"
#include "httpc.h"
#include "bridge_services.h"
#include "../bridges/common/sb_sha1.h"
#include "../bridges/common/sb_segments.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern const struct sb_bridge sb_bridge_sms;

/* In-tree bridges, by channel kind. With --bridge-dir, each is loaded instead from
 * <dir>/sb_bridge_<kind>.so at start (and refused there if its ABI does not fit). */
static struct {
	const char *kind;
	const struct sb_bridge *bridge;
} bridges[] = {
	{ "sms", &sb_bridge_sms },
};

static unsigned char seal_key[crypto_secretbox_KEYBYTES];
static char self_url[300];

#define CHAN_BUCKETS 256
static struct chan_rt *chans[CHAN_BUCKETS];        /* by id */
static struct chan_rt *chans_by_key[CHAN_BUCKETS]; /* the same objects, by webhook key */

static size_t key_bucket(const char *key)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ull;
	return (size_t)(h % CHAN_BUCKETS);
}

static void key_link(struct chan_rt *c)
{
	struct chan_rt **pp = &chans_by_key[key_bucket(c->row.key)];
	c->next_key = *pp;
	*pp = c;
}

static void key_unlink(struct chan_rt *c)
{
	for (struct chan_rt **pp = &chans_by_key[key_bucket(c->row.key)]; *pp;
	     pp = &(*pp)->next_key)
		if (*pp == c) {
			*pp = c->next_key;
			return;
		}
}

/* ---- host services for bridges ---- */

static void host_log(int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	sb_log(level, "%s", line);
}



static struct sb_bridge_event *host_event_add(struct sb_bridge_events *out)
{
	if (out->n >= SB_HUB_MAX_EVENTS)
		return NULL;
	struct sb_bridge_event *e = &out->ev[out->n++];
	memset(e, 0, sizeof *e);
	return e;
}








const struct sb_host sb_bridge_host = {
	.size = sizeof(struct sb_host),
	.abi_major = SB_BRIDGE_ABI_MAJOR,
	.abi_minor = SB_BRIDGE_ABI_MINOR,
	.log = host_log,
	.wall_ms = sb_wall_ms,
	.alloc = sb_svc_alloc,
	.event_add = host_event_add,
	.hmac_sha1 = sb_hmac_sha1,
	.hmac_sha256 = sb_svc_hmac_sha256,
	.hmac_sha512 = sb_svc_hmac_sha512,
	.sha256 = sb_svc_sha256,
	.mem_eq = sb_svc_mem_eq,
	.base64_encode = sb_svc_base64_encode,
	.base64_decode = sb_svc_base64_decode,
	.json_parse = sb_svc_json_parse,
};

/* ---- sealing credentials ---- */

static int load_key(void)
{
	const struct sb_config *cfg = sb_hub_config();
	if (cfg->secret_key) {
		size_t n;
		if (sodium_hex2bin(seal_key, sizeof seal_key, cfg->secret_key,
				   strlen(cfg->secret_key), NULL, &n, NULL) ||
		    n != sizeof seal_key) {
			sb_log(SB_LOG_ERR, "msg=bad_secret_key why=\"expects 64 hex characters\"");
			return SB_EINVAL;
		}
		return 0;
	}
	/* no key given: keep one beside the database (fine for a demo, said loudly) */
	char path[1100];
	snprintf(path, sizeof path, "%s.key", cfg->db_path);
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, seal_key, sizeof seal_key);
		close(fd);
		if (n == (ssize_t)sizeof seal_key)
			return 0;
		sb_log(SB_LOG_ERR, "msg=bad_key_file path=%s", path);
		return SB_EINVAL;
	}
	sb_random(seal_key, sizeof seal_key);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, seal_key, sizeof seal_key) != (ssize_t)sizeof seal_key) {
		sb_log(SB_LOG_ERR, "msg=key_file_failed path=%s", path);
		if (fd >= 0)
			close(fd);
		return SB_EINVAL;
	}
	close(fd);
	sb_log(SB_LOG_WARN, "msg=generated_secret_key path=%s hint=\"set SB_SECRET_KEY in "
			    "production\"",
	       path);
	return 0;
}

/* nonce || secretbox(plaintext) */
static size_t seal(const char *plain, size_t n, unsigned char *out, size_t cap)
{
	size_t need = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
	if (need > cap)
		return 0;
	randombytes_buf(out, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, n,
			      out, seal_key);
	return need;
}

static char *unseal(const unsigned char *p, size_t n)
{
	if (n < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
		return NULL;
	size_t m = n - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	char *out = sb_malloc(m + 1);
	if (crypto_secretbox_open_easy((unsigned char *)out, p + crypto_secretbox_NONCEBYTES,
				       n - crypto_secretbox_NONCEBYTES, p, seal_key)) {
		free(out);
		return NULL;
	}
	out[m] = '\0';
	return out;
}

/* ---- channels at run time ---- */

static const struct sb_bridge *bridge_for(const char *kind)
{
	for (size_t i = 0; i < sizeof bridges / sizeof bridges[0]; i++)
		if (!strcmp(bridges[i].kind, kind))
			return bridges[i].bridge;
	return NULL;
}

const char *sb_chan_self_url(void)
{
	return self_url;
}

/* Builds the bridge config from the sealed JSON object of strings. */
static int config_from_json(struct sb_arena *a, const char *json, struct sb_bridge_kv *kv,
			    size_t cap, size_t *n)
{
	struct sb_json *root;
	if (sb_json_parse(a, json, strlen(json), &root, NULL) || root->type != SB_JSON_OBJECT)
		return SB_EINVAL;
	*n = 0;
	for (const struct sb_json *m = root->child; m && *n < cap; m = m->next) {
		if (m->type != SB_JSON_STRING)
			continue;
		kv[*n].key = sb_arena_strndup(a, m->key.p, m->key.len);
		kv[*n].value = m->str.p;
		(*n)++;
	}
	return 0;
}

static void chan_free(struct chan_rt *c)
{
	if (!c)
		return;
	if (c->priv) {
		if (SB_BRIDGE_HAS(c->bridge, channel_fini))
			c->bridge->channel_fini(c->priv);
		sodium_memzero(c->priv, c->bridge->priv_size);
		free(c->priv);
	}
	sodium_memzero(c, sizeof *c);
	free(c);
}

static struct chan_rt *chan_build(const struct sb_channel_row *row)
{
	const struct sb_bridge *b = bridge_for(row->kind);
	if (!b)
		return NULL;
	char *plain = unseal(row->config, row->config_len);
	if (!plain) {
		sb_log(SB_LOG_ERR, "msg=channel_unseal_failed tenant=%lld channel=%lld",
		       (long long)row->tenant, (long long)row->id);
		return NULL;
	}
	struct sb_arena a = { 0 };
	struct sb_bridge_kv kv[24];
	size_t n = 0;
	struct chan_rt *c = sb_calloc(1, sizeof *c);
	c->gen = UINT64_MAX; /* not validated until its caller says at which generation */
	c->row = *row;
	c->bridge = b;
	int rc = config_from_json(&a, plain, kv, 22, &n);
	if (!rc && row->sandbox) {
		/* the sandbox is the provider: point the bridge at the hub itself */
		static char base[400];
		snprintf(base, sizeof base, "%s/sandbox/%s/%s", self_url, row->kind, row->key);
		kv[n].key = "api_base";
		kv[n++].value = base;
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(kv[i].key, "account_sid"))
				snprintf(c->account, sizeof c->account, "%s", kv[i].value);
			if (!strcmp(kv[i].key, "auth_token"))
				snprintf(c->token, sizeof c->token, "%s", kv[i].value);
		}
	}
	char err[200] = "";
	if (!rc) {
		c->priv = sb_calloc(1, b->priv_size ? b->priv_size : 1);
		rc = b->channel_init(&sb_bridge_host, c->priv, &(struct sb_bridge_config){ kv, n },
				     err, sizeof err);
	}
	sodium_memzero(plain, strlen(plain));
	free(plain);
	sb_arena_free(&a);
	if (rc) {
		sb_log(SB_LOG_ERR, "msg=channel_init_failed tenant=%lld channel=%lld err=\"%s\"",
		       (long long)row->tenant, (long long)row->id, err);
		chan_free(c);
		return NULL;
	}
	return c;
}

static struct chan_rt *chan_cache(const struct sb_channel_row *row)
{
	struct chan_rt **pp = &chans[(uint64_t)row->id % CHAN_BUCKETS];
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->row.id != row->id)
			continue;
		if ((*pp)->row.updated_at == row->updated_at && (*pp)->row.tenant == row->tenant)
			return *pp;
		/* changed: rebuild, keeping the in-flight count */
		struct chan_rt *old = *pp, *c = chan_build(row);
		if (!c)
			return NULL;
		c->inflight = old->inflight;
		c->next = old->next;
		*pp = c;
		key_unlink(old);
		key_link(c);
		chan_free(old);
		return c;
	}
	struct chan_rt *c = chan_build(row);
	if (c) {
		c->next = chans[(uint64_t)row->id % CHAN_BUCKETS];
		chans[(uint64_t)row->id % CHAN_BUCKETS] = c;
		key_link(c);
	}
	return c;
}

/* A cached channel is used without reading its row again while the configuration
 * generation has not moved (any process's commit that changes a channel moves it); the
 * generation is read before the row, so a change racing the read is seen next time. */
struct chan_rt *sb_chan_get(int64_t tenant, int64_t id)
{
	uint64_t gen = sb_store_config_gen(sb_hub_store());
	for (struct chan_rt *c = chans[(uint64_t)id % CHAN_BUCKETS]; c; c = c->next)
		if (c->row.id == id && c->gen == gen)
			return c->row.tenant == tenant ? c : NULL;
	struct sb_channel_row row;
	if (sb_store_channel_get(sb_hub_store(), tenant, id, &row))
		return NULL;
	struct chan_rt *c = chan_cache(&row);
	if (c)
		c->gen = gen;
	return c;
}

int sb_chan_free_slots(void)
{
	int n = 0;
	for (size_t i = 0; i < CHAN_BUCKETS; i++)
		for (struct chan_rt *c = chans[i]; c; c = c->next)
			if (!sb_chan_full(c))
				n += sb_chan_cap(c) - c->inflight;
	return n;
}

struct chan_rt *sb_chan_by_key(const char *key)
{
	if (strlen(key) > 60)
		return NULL;
	uint64_t gen = sb_store_config_gen(sb_hub_store());
	for (struct chan_rt *c = chans_by_key[key_bucket(key)]; c; c = c->next_key)
		if (c->gen == gen && !strcmp(c->row.key, key))
			return c;
	struct sb_channel_row row;
	if (sb_store_channel_by_key(sb_hub_store(), key, &row))
		return NULL;
	struct chan_rt *c = chan_cache(&row);
	if (c)
		c->gen = gen;
	return c;
}

void sb_chan_ctx(struct chan_rt *c, struct sb_arena *a, struct sb_bridge_ctx *ctx)
{
	ctx->host = &sb_bridge_host;
	ctx->arena = a;
	ctx->priv = c->priv;
	ctx->now_ms = sb_wall_ms();
}

/* ---- start and stop ---- */

int sb_channels_start(void)
{
	const char *dir = sb_hub_config()->bridge_dir;
	for (size_t i = 0; i < sizeof bridges / sizeof bridges[0]; i++) {
		char err[200];
		if (dir) {
			const struct sb_bridge *b;
			if (sb_bridge_load(dir, bridges[i].kind, &b, err, sizeof err)) {
				sb_log(SB_LOG_ERR, "msg=bridge_refused kind=%s dir=%s err=\"%s\"",
				       bridges[i].kind, dir, err);
				return SB_EINVAL;
			}
			bridges[i].bridge = b;
			sb_log(SB_LOG_INFO, "msg=bridge_loaded kind=%s abi=%u.%u", bridges[i].kind,
			       b->abi_major, b->abi_minor);
		}
		if (sb_bridge_check(bridges[i].bridge, err, sizeof err)) {
			sb_log(SB_LOG_ERR, "msg=bridge_refused kind=%s err=\"%s\"", bridges[i].kind,
			       err);
			return SB_EINVAL;
		}
	}
	const struct sb_config *cfg = sb_hub_config();
	snprintf(self_url, sizeof self_url, "http://%s:%d",
		 !strcmp(cfg->listen_host, "0.0.0.0") ? "127.0.0.1" : cfg->listen_host, cfg->port);
	if (load_key())
		return SB_EINVAL;
	const char *t = getenv("SB_SEND_TIMEOUT_MS");
	if (sb_httpc_init(3000, t ? atol(t) : 15000, cfg->provider_ca, cfg->provider_http2))
		return SB_ENOMEM;
	return sb_outbox_start();
}

void sb_channels_stop(void)
{
	sb_outbox_stop();
	sb_httpc_fini();
	/* Answers that arrived just before the client stopped wait in the loop's mailbox: they
	 * are classified now, while the channels are known, and settled while the writer still
	 * commits (sb_store_stop comes after this). Run later, after the store stopped, their
	 * settle was submitted to a stopped writer: an assertion, and an abort at a graceful
	 * stop under load. */
	sb_loop_run_mail();
	/* Marks and settles still with the writer: their dones run now, so a send marked but
	 * never sent goes back to RETRY (and its settle commits) before the writer stops */
	if (!sb_store_quiesce(sb_hub_store(), 3000))
		sb_log(SB_LOG_WARN, "msg=stop_writes_pending depth=%zu",
		       sb_store_queue_depth(sb_hub_store()));
	sb_sandbox_stop();
	for (int i = 0; i < CHAN_BUCKETS; i++) {
		chans_by_key[i] = NULL;
		while (chans[i]) {
			struct chan_rt *c = chans[i];
			chans[i] = c->next;
			chan_free(c);
		}
	}
}

/* ---- REST: /api/v1/channels ---- */

struct chan_ctx {
	struct sb_channel_row row;
	const char *name;
	int sandbox, active;
	int max_inflight; /* 0: unchanged (16 for a new channel) */
	bool config_set;
};

static int chan_create_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	struct chan_ctx *cc = c->extra;
	return sb_tx_channel_create(tx, c->tenant, &cc->row, &c->id);
}

static int chan_update_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	struct chan_ctx *cc = c->extra;
	return sb_tx_channel_update(tx, c->tenant, c->id, cc->name, cc->config_set ? cc->row.sender : NULL,
				    cc->config_set ? cc->row.config : NULL,
				    cc->config_set ? cc->row.config_len : 0, NULL, cc->sandbox,
				    cc->active, cc->max_inflight);
}

static void chan_after(struct sb_req *r)
{
	struct api_ctx *c = r->ctx;
	sb_buf_reset(&c->out);
	sb_store_channels_json(sb_hub_store(), c->tenant, sb_hub_config()->public_url, c->id,
			       &c->out);
}

/* Validates a config object against the bridge (channel_init on a scratch priv) and seals
 * it into cc->row. For a sandbox channel the simulated account is generated. */
static bool chan_config(struct sb_req *r, const struct sb_bridge *b, bool sandbox,
			struct chan_ctx *cc)
{
	const struct sb_json *cfg = sb_json_get(r->json, "config");
	if (cfg && cfg->type != SB_JSON_OBJECT) {
		sb_http_error(r, 400, "invalid", "\"config\" must be an object of strings");
		return false;
	}
	struct sb_buf plain;
	sb_buf_init(&plain, 0);
	sb_buf_addc(&plain, '{');
	bool first = true;
	struct sb_bridge_kv kv[24];
	size_t n = 0;
	char acct[40], tok[40];
	for (const struct sb_json *m = cfg ? cfg->child : NULL; m; m = m->next) {
		bool known = false;
		for (const struct sb_bridge_key *k = b->config_keys; k && k->name; k++)
			known |= sb_str_eqz(m->key, k->name);
		if (!known || m->type != SB_JSON_STRING || m->str.len > 200 || n >= 20) {
			char msg[160];
			snprintf(msg, sizeof msg, "config.%.*s: %s", (int)(m->key.len > 40 ? 40 : m->key.len),
				 m->key.p, known ? "must be a string of at most 200 characters"
						 : "unknown key");
			sb_http_error(r, 400, "invalid_config", msg);
			sb_buf_free(&plain);
			return false;
		}
		if (sandbox && (sb_str_eqz(m->key, "account_sid") || sb_str_eqz(m->key, "auth_token") ||
				sb_str_eqz(m->key, "api_base")))
			continue; /* the sandbox makes its own account */
		kv[n].key = sb_arena_strndup(&r->arena, m->key.p, m->key.len);
		kv[n++].value = m->str.p;
		sb_json_kv_strn(&plain, &first, kv[n - 1].key, m->str.p, m->str.len);
	}
	if (sandbox) {
		unsigned char raw[16];
		sb_random(raw, sizeof raw);
		acct[0] = 'A';
		acct[1] = 'C';
		sb_hex(raw, sizeof raw, acct + 2);
		sb_token(24, tok, sizeof tok);
		kv[n].key = "account_sid";
		kv[n++].value = acct;
		kv[n].key = "auth_token";
		kv[n++].value = tok;
		sb_json_kv_str(&plain, &first, "account_sid", acct);
		sb_json_kv_str(&plain, &first, "auth_token", tok);
		kv[n].key = "api_base";
		kv[n++].value = "http://127.0.0.1";
	}
	sb_buf_addc(&plain, '}');
	/* the bridge says whether this configuration can work */
	char err[200] = "";
	void *priv = sb_calloc(1, b->priv_size ? b->priv_size : 1);
	int rc = b->channel_init(&sb_bridge_host, priv, &(struct sb_bridge_config){ kv, n }, err,
				 sizeof err);
	if (!rc && SB_BRIDGE_HAS(b, channel_fini))
		b->channel_fini(priv);
	sodium_memzero(priv, b->priv_size);
	free(priv);
	if (rc) {
		sodium_memzero(sb_buf_data(&plain), plain.len);
		sb_buf_free(&plain);
		sb_http_error(r, 400, "invalid_config", err[0] ? err : "invalid configuration");
		return false;
	}
	const char *sender = NULL;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].key, "messaging_service_sid") && *kv[i].value)
			sender = kv[i].value;
	for (size_t i = 0; i < n && !sender; i++)
		if (!strcmp(kv[i].key, "from"))
			sender = kv[i].value;
	snprintf(cc->row.sender, sizeof cc->row.sender, "%s", sender ? sender : "");
	cc->row.config_len = seal(sb_buf_data(&plain), plain.len, cc->row.config,
				  sizeof cc->row.config);
	sodium_memzero(sb_buf_data(&plain), plain.len);
	sb_buf_free(&plain);
	if (!cc->row.config_len) {
		sb_http_error(r, 400, "invalid_config", "configuration too large");
		return false;
	}
	cc->config_set = true;
	return true;
}

static void channels_route(struct sb_req *r, const char **s, int n)
{
	int64_t tenant = r->auth.tenant, id = 0;
	bool write = r->method != SB_GET;
	if (write && r->auth.role < SB_ROLE_ADMIN)
		return sb_http_error(r, 403, "forbidden", "your role does not allow this");
	if (n == 0 && r->method == SB_GET) {
		struct sb_buf b;
		sb_buf_init(&b, 0);
		sb_store_channels_json(sb_hub_store(), tenant, sb_hub_config()->public_url, 0, &b);
		return sb_http_json(r, 200, &b);
	}
	if (n >= 1 && !api__parse_id(s[0], &id))
		return sb_http_error(r, 404, "not_found", "no such channel");
	if (n == 1 && r->method == SB_GET) {
		struct sb_buf b;
		sb_buf_init(&b, 0);
		if (sb_store_channels_json(sb_hub_store(), tenant, sb_hub_config()->public_url, id,
					   &b)) {
			sb_buf_free(&b);
			return sb_http_error(r, 404, "not_found", "no such channel");
		}
		return sb_http_json(r, 200, &b);
	}
	if (n == 2 && !strcmp(s[1], "simulate") && r->method == SB_POST) {
		struct chan_rt *c = sb_chan_get(tenant, id);
		if (!c)
			return sb_http_error(r, 404, "not_found", "no such channel");
		if (!c->row.sandbox)
			return sb_http_error(r, 409, "not_sandbox",
					     "the simulator works on sandbox channels only");
		return sb_sandbox_simulate(r, c);
	}
	if (n == 2 && !strcmp(s[1], "simulator") && r->method == SB_GET) {
		struct sb_channel_row row;
		if (sb_store_channel_get(sb_hub_store(), tenant, id, &row))
			return sb_http_error(r, 404, "not_found", "no such channel");
		struct sb_buf b;
		sb_buf_init(&b, 0);
		sb_store_sandbox_json(sb_hub_store(), tenant, id, sb_http_qparam(r, "customer"), &b);
		return sb_http_json(r, 200, &b);
	}
	if (n > 1)
		return sb_http_error(r, 404, "not_found", "no such route");
	if (!((n == 0 && r->method == SB_POST) || (n == 1 && r->method == SB_PATCH)))
		return sb_http_error(r, 405, "method_not_allowed",
				     "this route does not take that method");
	if (!sb_http_body_json(r))
		return;
	static const char *const f[] = { "kind",   "name",	    "sandbox", "config",
					 "active", "max_inflight", NULL };
	struct api_ctx *c = api__ctx(r);
	struct chan_ctx *cc = sb_arena_alloc(&r->arena, sizeof *cc);
	memset(cc, 0, sizeof *cc);
	cc->sandbox = cc->active = -1;
	c->extra = cc;
	c->tenant = tenant;
	c->id = id;
	const char *kind = NULL;
	if (!api__fields_ok(r, f) || !api__opt_str(r, "kind", 16, &kind) ||
	    !api__opt_str(r, "name", 100, &cc->name))
		return;
	const struct sb_json *sb = sb_json_get(r->json, "sandbox"),
			     *act = sb_json_get(r->json, "active");
	if ((sb && sb->type != SB_JSON_BOOL) || (act && act->type != SB_JSON_BOOL))
		return sb_http_error(r, 400, "invalid", "sandbox and active must be true or false");
	if (sb)
		cc->sandbox = sb->b;
	if (act)
		cc->active = act->b;
	const struct sb_json *mi = sb_json_get(r->json, "max_inflight");
	if (mi) {
		if (mi->type != SB_JSON_NUMBER || !mi->is_int || mi->i < 1 ||
		    mi->i > SB_CHAN_MAX_INFLIGHT)
			return sb_http_error(r, 400, "invalid",
					     "max_inflight must be a whole number from 1 to 1000");
		cc->max_inflight = (int)mi->i;
	}
	c->after = chan_after;
	c->notfound_msg = "no such channel";
	if (n == 0) {
		if (!kind)
			kind = "sms";
		const struct sb_bridge *b = bridge_for(kind);
		if (!b)
			return sb_http_error(r, 400, "invalid", "unknown channel kind");
		if (!cc->name || !*cc->name)
			return sb_http_error(r, 400, "invalid", "\"name\" is required");
		if (!chan_config(r, b, cc->sandbox == 1, cc))
			return;
		snprintf(cc->row.kind, sizeof cc->row.kind, "%s", kind);
		snprintf(cc->row.name, sizeof cc->row.name, "%s", cc->name);
		sb_token(24, cc->row.key, sizeof cc->row.key); /* 192 bits, unguessable */
		cc->row.sandbox = cc->sandbox == 1;
		cc->row.max_inflight = cc->max_inflight;
		c->ok_status = 201;
		return sb_http_write(r, chan_create_run, api__done_json, c);
	}
	struct sb_channel_row row;
	if (sb_store_channel_get(sb_hub_store(), tenant, id, &row))
		return sb_http_error(r, 404, "not_found", "no such channel");
	if (kind && strcmp(kind, row.kind))
		return sb_http_error(r, 400, "invalid", "a channel's kind cannot change");
	if (sb_json_get(r->json, "config") || (cc->sandbox >= 0 && cc->sandbox != row.sandbox)) {
		bool sandbox = cc->sandbox >= 0 ? cc->sandbox == 1 : row.sandbox;
		if (!chan_config(r, bridge_for(row.kind), sandbox, cc))
			return;
	}
	sb_http_write(r, chan_update_run, api__done_json, c);
}

/* ---- sending ---- */

struct send_ctx {
	struct sb_send_in in;
	int64_t msg, outbox, created_at;
	int64_t want_channel; /* the one asked for, or 0: the conversation's, else the default */
	char to[64];
	const char *code, *why; /* a refusal the send's own checks found (then rc < 0) */
	struct sb_buf out;
};

static int send_refuse(struct send_ctx *sc, int rc, const char *code, const char *why)
{
	sc->code = code;
	sc->why = why;
	return rc;
}

/* Nothing leaves for a customer who texted STOP to sender's number (until START). */
static int send_ledger(struct sb_tx *tx, int64_t tenant, struct send_ctx *sc, const char *sender)
{
	if (sb_tx_optout_get(tx, tenant, sender, sc->to) != 1)
		return 0;
	return send_refuse(sc, SB_EPOLICY, "opted_out",
			   "the customer replied STOP to this number; they must text START before "
			   "you can message them");
}

/* The checks that need the store, made in the send's own transaction: the conversation and
 * its contact's number, the channel, and the opt-out ledger. So a STOP committed a moment
 * before is seen, and the loop does not open a read transaction per send. */
static int send_target(struct sb_tx *tx, int64_t tenant, struct send_ctx *sc)
{
	int64_t conv_channel = 0, id = 0;
	sc->to[0] = '\0';
	int rc = sb_tx_conv_target(tx, tenant, sc->in.conv, &conv_channel, sc->to, sizeof sc->to);
	if (rc == SB_ENOTFOUND)
		return send_refuse(sc, rc, "not_found", "no such conversation");
	if (rc)
		return rc;
	if (!sc->to[0])
		return send_refuse(sc, SB_EINVAL, "no_address",
				   "the contact has no phone number to text");
	int64_t want = sc->want_channel ? sc->want_channel : conv_channel;
	char sender[64];
	bool active = false;
	rc = sb_tx_send_channel(tx, tenant, want, &id, &active, sender, sizeof sender);
	if (rc == SB_ENOTFOUND)
		return send_refuse(sc, SB_EINVAL, "no_channel",
				   want ? "no such channel" : "this business has no SMS channel yet");
	if (rc)
		return rc;
	if (!active)
		return send_refuse(sc, SB_EINVAL, "channel_disabled", "this channel is disabled");
	if ((rc = send_ledger(tx, tenant, sc, sender)))
		return rc;
	sc->in.channel = id;
	return 0;
}

/* Replayable: the writer may run it again after a rollback, so the answer starts empty. */
static int send_ctx_run(struct sb_tx *tx, int64_t tenant, struct send_ctx *sc, struct sb_buf *out)
{
	sb_buf_reset(out);
	sc->msg = sc->outbox = 0;
	sc->code = sc->why = NULL;
	sc->created_at = sb_tx_now(tx);
	int rc = send_target(tx, tenant, sc);
	if (rc)
		return rc;
	return sb_tx_message_send(tx, tenant, &sc->in, &sc->msg, &sc->outbox, out);
}

/* The HTTP status of a refused send. */
static int send_status(int rc)
{
	return rc == SB_ENOTFOUND ? 404 : rc == SB_ETOOBIG ? 413 : rc == SB_EPOLICY ? 422 : 400;
}

/* After the send committed: the new outbox row goes straight to the dispatcher, which then
 * need not read it back from the store. */
static void send_ctx_queue(int64_t tenant, const struct send_ctx *sc)
{
	if (!sc->outbox) {
		sb_outbox_kick(); /* no new row (the client id existed) */
		return;
	}
	struct sb_outbox_row *row = sb_calloc(1, sizeof *row);
	row->id = sc->outbox;
	row->tenant = tenant;
	row->message = sc->msg;
	row->channel = sc->in.channel;
	row->state = SB_OB_PENDING;
	row->next_at = row->created_at = sc->created_at;
	snprintf(row->to, sizeof row->to, "%s", sc->to);
	row->body = sb_strdup(sc->in.body);
	sb_outbox_take(row);
}

static int send_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return send_ctx_run(tx, c->tenant, c->extra, &c->out);
}

static void send_after(struct sb_req *r)
{
	struct api_ctx *c = r->ctx;
	send_ctx_queue(c->tenant, c->extra); /* a retry makes no row here: a kick */
}

/* The checks that need nothing but the request, and sc->in filled for the send job (which
 * makes the rest: send_target); answers nothing, returns an sb_err with a message in *why. */
static int send_prepare(int64_t agent, int64_t conv, int64_t channel, const char *body,
			const char *client_id, struct send_ctx *sc, const char **why,
			const char **code)
{
	*code = "invalid";
	struct sb_seg_info seg;
	if (!body || !*body) {
		*why = "\"body\" is required";
		return SB_EINVAL;
	}
	if (sb_seg_count(body, strlen(body), &seg)) {
		*why = "\"body\" is not valid UTF-8";
		return SB_EINVAL;
	}
	if (seg.chars > 1600) {
		*code = "too_long";
		*why = "an SMS body has at most 1600 characters";
		return SB_ETOOBIG;
	}
	struct sb_send_in *in = &sc->in;
	in->conv = conv;
	sc->want_channel = channel;
	in->agent = agent;
	in->body = body;
	in->client_id = client_id;
	in->segments = (int)seg.segments;
	return 0;
}

static void send_done(struct sb_req *r, int rc)
{
	struct api_ctx *c = r->ctx;
	struct send_ctx *sc = c->extra;
	if (rc < 0 && sc->why) {
		sb_buf_free(&c->out);
		sb_http_error(r, send_status(rc), sc->code, sc->why);
		return;
	}
	api__done_json(r, rc);
}

static void api_send(struct sb_req *r, int64_t conv)
{
	if (!sb_http_body_json(r))
		return;
	static const char *const f[] = { "body", "client_id", "channel_id", NULL };
	struct api_ctx *c = api__ctx(r);
	struct send_ctx *sc = sb_arena_alloc(&r->arena, sizeof *sc);
	memset(sc, 0, sizeof *sc);
	const char *body, *client_id;
	int64_t channel;
	if (!api__fields_ok(r, f) || !api__opt_str(r, "body", 100000, &body) ||
	    !api__opt_str(r, "client_id", 64, &client_id) || !api__opt_id(r, "channel_id", &channel))
		return;
	const char *why, *code;
	int rc = send_prepare(r->auth.agent, conv, channel, body, client_id, sc, &why, &code);
	if (rc)
		return sb_http_error(r, send_status(rc), code, why);
	c->extra = sc;
	c->tenant = r->auth.tenant;
	c->ok_status = 201;
	c->after = send_after;
	c->notfound_msg = "no such conversation";
	sb_http_write_replayable(r, send_run, send_done, c);
}

/* An agent's retry of a failed message, in one transaction: the customer may have opted out
 * since, and then nothing leaves for them. */
static int retry_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	struct send_ctx *sc = c->extra;
	sb_buf_reset(&c->out);
	sc->code = sc->why = NULL;
	int64_t conv = 0, chan = 0, id = 0;
	int rc = sb_tx_message_conv(tx, c->tenant, c->id, &conv, &chan);
	if (!rc)
		rc = sb_tx_conv_target(tx, c->tenant, conv, &(int64_t){ 0 }, sc->to, sizeof sc->to);
	if (rc)
		return rc; /* no such message (404), or the store failed */
	char sender[64];
	bool active;
	rc = chan ? sb_tx_send_channel(tx, c->tenant, chan, &id, &active, sender, sizeof sender)
		  : SB_ENOTFOUND;
	if (rc && rc != SB_ENOTFOUND)
		return rc;
	if (!rc && (rc = send_ledger(tx, c->tenant, sc, sender)))
		return rc;
	return sb_tx_message_retry(tx, c->tenant, c->id, &c->out);
}

bool api__extra_route(struct sb_req *r, const char **s, int n)
{
	int64_t id;
	if (n >= 1 && !strcmp(s[0], "channels")) {
		channels_route(r, s + 1, n - 1);
		return true;
	}
	/* POST /api/v1/conversations/:id/messages arrives here with s = {":id", "messages"} */
	if (n == 2 && !strcmp(s[1], "messages") && r->method == SB_POST && api__parse_id(s[0], &id)) {
		api_send(r, id);
		return true;
	}
	if (n == 3 && !strcmp(s[0], "messages") && !strcmp(s[2], "retry")) {
		if (r->method != SB_POST || !api__parse_id(s[1], &id)) {
			sb_http_error(r, 404, "not_found", "no such message");
			return true;
		}
		struct api_ctx *c = api__ctx(r);
		struct send_ctx *sc = sb_arena_alloc(&r->arena, sizeof *sc);
		memset(sc, 0, sizeof *sc);
		c->extra = sc;
		c->tenant = r->auth.tenant;
		c->id = id;
		c->after = send_after;
		c->notfound_msg = "no such message";
		c->conflict_msg = "only a failed outbound message can be retried";
		sb_http_write(r, retry_run, send_done, c);
		return true;
	}
	if (n == 2 && !strcmp(s[0], "segments") && !strcmp(s[1], "count") && r->method == SB_POST) {
		/* the console's counter: the same rules the send uses */
		if (!sb_http_body_json(r))
			return true;
		const char *body;
		if (!api__opt_str(r, "body", 100000, &body))
			return true;
		struct sb_seg_info seg;
		if (sb_seg_count(body ? body : "", body ? strlen(body) : 0, &seg)) {
			sb_http_error(r, 400, "invalid", "not valid UTF-8");
			return true;
		}
		char out[160];
		int len = snprintf(out, sizeof out,
				   "{\"encoding\":\"%s\",\"chars\":%zu,\"units\":%zu,"
				   "\"segments\":%zu,\"max_chars\":1600}",
				   seg.encoding == SB_SEG_GSM7 ? "GSM-7" : "UCS-2", seg.chars, seg.units,
				   seg.segments);
		sb_http_respond(r, 200, "application/json", out, (size_t)len);
		return true;
	}
	return false;
}

/* The agent socket's {"type":"send"}: the same checks and the same write as REST. */
/* A send from an agent socket. Lifetime: until its write completes; the socket may close
 * meanwhile (the handle then says so and the ack is dropped). */
struct ws_send {
	struct sb_wjob job;
	struct ws_handle *h;
	int64_t tenant;
	struct send_ctx sc;
	char id[72];
};

static int ws_send_run(struct sb_tx *tx, void *arg)
{
	struct ws_send *w = arg;
	return send_ctx_run(tx, w->tenant, &w->sc, &w->sc.out);
}

static void ws_send_done(void *arg, int rc)
{
	struct ws_send *w = arg;
	struct ws_pss *p = sb_ws_held(w->h);
	if (p) {
		struct sb_buf b;
		sb_buf_init(&b, 0);
		if (rc < 0)
			sb_buf_printf(&b, "{\"type\":\"error\",\"id\":%s,\"code\":\"%s\","
					  "\"message\":\"%s\"}",
				      w->id, w->sc.why ? w->sc.code : "failed",
				      w->sc.why ? w->sc.why : sb_err_str(rc));
		else
			sb_buf_printf(&b, "{\"type\":\"ack\",\"id\":%s,\"data\":%s}", w->id,
				      sb_buf_cstr(&w->sc.out));
		sb_ws_reply(p, sb_buf_data(&b), b.len);
		sb_buf_free(&b);
	}
	sb_ws_release(w->h);
	if (rc >= 0)
		send_ctx_queue(w->tenant, &w->sc);
	sb_buf_free(&w->sc.out);
	free((char *)w->sc.in.body);
	free((char *)w->sc.in.client_id);
	free(w);
}

static bool ws_send_hook(struct ws_pss *p, const struct sb_json *msg, const struct sb_json *id)
{
	char idj[72];
	sb_ws_id_json(id, idj, sizeof idj);
	struct sb_str body = { 0 }, cid = { 0 };
	int64_t conv = 0, channel = 0;
	sb_json_str(msg, "body", &body);
	sb_json_str(msg, "client_id", &cid);
	sb_json_int(msg, "channel_id", &channel);
	const char *why = "conversation_id is required", *code = "invalid";
	int rc = SB_EINVAL;
	struct ws_send *w = sb_calloc(1, sizeof *w);
	char *bz = sb_strndup(body.p ? body.p : "", body.len);
	char *cz = cid.len && cid.len <= 64 ? sb_strndup(cid.p, cid.len) : NULL;
	if (sb_json_int(msg, "conversation_id", &conv) && conv > 0 && sb_ws_agent(p))
		rc = send_prepare(sb_ws_agent(p), conv, channel, bz, cz, &w->sc, &why, &code);
	struct ws_handle *h = rc ? NULL : sb_ws_hold(p);
	if (!rc && !h) {
		rc = SB_EBUSY;
		code = "busy";
		why = "too many sends in flight; retry";
	}
	if (rc) {
		char out[400];
		int n = snprintf(out, sizeof out,
				 "{\"type\":\"error\",\"id\":%s,\"code\":\"%s\",\"message\":\"%s\"}",
				 idj, code, why);
		sb_ws_reply(p, out, (size_t)n);
		free(bz);
		free(cz);
		free(w);
		return true;
	}
	w->h = h;
	w->tenant = sb_ws_tenant(p);
	snprintf(w->id, sizeof w->id, "%s", idj);
	sb_buf_init(&w->sc.out, 0);
	w->sc.in.body = bz;
	w->sc.in.client_id = cz;
	w->job.run = ws_send_run;
	w->job.done = ws_send_done;
	w->job.arg = w;
	w->job.replayable = true;
	sb_store_submit(sb_hub_store(), &w->job);
	return true;
}

__attribute__((constructor)) static void install_ws_hook(void)
{
	sb_ws_send_hook = ws_send_hook;
}

/* ---- the demo channel ---- */

struct demo_ctx {
	struct sb_channel_row row;
	int64_t tenant, id;
};

static int demo_run(struct sb_tx *tx, void *arg)
{
	struct demo_ctx *d = arg;
	return sb_tx_channel_create(tx, d->tenant, &d->row, &d->id);
}

int sb_channels_demo(int64_t tenant)
{
	if (load_key())
		return SB_EINVAL;
	struct demo_ctx d = { .tenant = tenant };
	char acct[40], tok[40], plain[256];
	unsigned char raw[16];
	sb_random(raw, sizeof raw);
	acct[0] = 'A';
	acct[1] = 'C';
	sb_hex(raw, sizeof raw, acct + 2);
	sb_token(24, tok, sizeof tok);
	int n = snprintf(plain, sizeof plain,
			 "{\"account_sid\":\"%s\",\"auth_token\":\"%s\",\"from\":\"+15005550006\"}",
			 acct, tok);
	d.row.config_len = seal(plain, (size_t)n, d.row.config, sizeof d.row.config);
	sodium_memzero(plain, sizeof plain);
	snprintf(d.row.kind, sizeof d.row.kind, "sms");
	snprintf(d.row.name, sizeof d.row.name, "Demo SMS (sandbox)");
	snprintf(d.row.sender, sizeof d.row.sender, "+15005550006");
	sb_token(24, d.row.key, sizeof d.row.key);
	d.row.sandbox = true;
	return sb_store_run_sync(sb_hub_store(), demo_run, &d);
}
