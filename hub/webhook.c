/* SPDX-License-Identifier: MIT
 * webhook.c: provider webhooks, /webhooks/<kind>/<channel key>[/status]. The channel (and so
 * the tenant) comes from the unguessable key in the URL; the bridge verifies the signature on
 * the exact public URL and the raw body before anything is parsed into the store; every
 * event of one delivery commits in one transaction, and only then does the provider get its
 * 2xx. A duplicate delivery answers 2xx and writes nothing; a failed commit answers 503 so
 * the provider retries.
 */
#include "channels.h"
#include "api_internal.h"

#include <stdio.h>
#include <stdlib.h>

static const char *status_name(enum sb_bridge_status s)
{
	switch (s) {
	case SB_BRIDGE_ST_ACCEPTED: return "accepted";
	case SB_BRIDGE_ST_SCHEDULED: return "scheduled";
	case SB_BRIDGE_ST_QUEUED: return "queued";
	case SB_BRIDGE_ST_SENDING: return "sending";
	case SB_BRIDGE_ST_SENT: return "sent";
	case SB_BRIDGE_ST_DELIVERED: return "delivered";
	case SB_BRIDGE_ST_UNDELIVERED: return "undelivered";
	case SB_BRIDGE_ST_FAILED: return "failed";
	case SB_BRIDGE_ST_READ: return "read";
	case SB_BRIDGE_ST_CANCELED: return "canceled";
	default: return NULL;
	}
}

const char *sb_bridge_status_name(enum sb_bridge_status s)
{
	return status_name(s);
}

/* One event, copied into NUL-terminated strings in the request's arena. */
struct wh_item {
	enum sb_bridge_event_kind kind;
	const char *provider_id, *from, *to, *body, *media, *status, *code, *reason;
	int64_t outbox_id; /* STATUS: the outbox row it is about (our reference, or the URL's o=) */
};

/* Lifetime: the request's arena. Only the fields before `items` are zeroed when it is made;
 * items[0..n) are zeroed one by one as they are filled, help_text and auto_reply by
 * tenant_prefs (a webhook's scratch is ~6 KiB: no need to clear it all). */
struct wh_ctx {
	char kind[16];             /* the channel's kind (metrics); no chan_rt pointer is kept:
				    * a channel changed while the write runs is freed and rebuilt */
	int64_t tenant, channel;
	char sender[64];
	int64_t outbox_id;
	bool unified, help, dup, new_conv;
	int unmatched; /* statuses that found no message (no reference, or a replaced attempt) */
	size_t n;
	struct sb_http_answer answer;
	struct wh_item items[64];
	char help_text[400];
	char auto_reply[400];
};

static const char *az(struct sb_arena *a, struct sb_str s)
{
	return s.p ? sb_arena_strndup(a, s.p, s.len) : NULL;
}

static const char *media_json(struct sb_arena *a, const struct sb_bridge_event *e)
{
	if (!e->n_media)
		return NULL;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_buf_addc(&b, '[');
	for (size_t i = 0; i < e->n_media; i++) {
		bool f = true;
		sb_buf_adds(&b, i ? ",{" : "{");
		sb_json_kv_strn(&b, &f, "url", e->media[i].url.p, e->media[i].url.len);
		sb_json_kv_strn(&b, &f, "content_type", e->media[i].content_type.p,
				e->media[i].content_type.len);
		sb_buf_addc(&b, '}');
	}
	sb_buf_addc(&b, ']');
	const char *out = sb_arena_strndup(a, sb_buf_data(&b), b.len);
	sb_buf_free(&b);
	return out;
}

static int wh_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct wh_ctx *w = r->ctx;
	int dups = 0, msgs = 0;
	w->new_conv = false; /* set, not added to: the writer may run this again (replayable) */
	w->unmatched = 0;
	for (size_t i = 0; i < w->n; i++) {
		struct wh_item *it = &w->items[i];
		int rc = 0;
		switch (it->kind) {
		case SB_BRIDGE_EV_MESSAGE: {
			struct sb_inbound_msg m = {
				.channel = w->channel, .kind = "phone", .provider_id = it->provider_id,
				.from = it->from, .to = it->to, .body = it->body,
				.media_json = it->media, .unified = w->unified,
			};
			msgs++;
			rc = sb_tx_inbound_message(tx, w->tenant, &m, NULL);
			w->new_conv |= m.new_conv;
			if (rc == 1) {
				dups++;
				rc = 0;
			}
			break;
		}
		case SB_BRIDGE_EV_OPT_OUT:
		case SB_BRIDGE_EV_OPT_IN:
			if (dups) /* a redelivery: the ledger already has it */
				break;
			rc = sb_tx_optout_set(tx, w->tenant, w->sender, it->from,
					      it->kind == SB_BRIDGE_EV_OPT_OUT);
			break;
		case SB_BRIDGE_EV_STATUS:
			rc = sb_tx_status_update(tx, w->tenant, w->channel, it->provider_id,
						 it->outbox_id, it->status, it->code, it->reason);
			if (rc == SB_ENOTFOUND) { /* not ours, or no longer: nothing to change */
				w->unmatched++;
				rc = 0;
			}
			break;
		default:
			break;
		}
		if (rc)
			return rc;
	}
	w->dup = msgs && dups == msgs;
	return 0;
}

/* sb_webhooks_total{kind,result}'s counter id (result 0 error, 1 duplicate, 2 accepted),
 * looked up by name once per pair rather than formatted and searched for on every webhook.
 * Loop thread. */
static int webhook_counter(const char *kind, int result)
{
	static const char *const results[3] = { "error", "duplicate", "accepted" };
	static struct {
		char kind[16];
		int slot[3];
	} memo[8];
	size_t k = 0, n = sizeof memo / sizeof memo[0];
	while (k < n && memo[k].kind[0] && strcmp(memo[k].kind, kind))
		k++;
	if (k < n && !memo[k].kind[0] && strlen(kind) < sizeof memo[k].kind)
		memcpy(memo[k].kind, kind, strlen(kind) + 1);
	int unkept = 0; /* more kinds than slots: looked up by name each time, still correct */
	int *slot = k < n && !strcmp(memo[k].kind, kind) ? &memo[k].slot[result] : &unkept;
	return sb_metrics_counter_at(slot, "sb_webhooks_total{kind=\"%s\",result=\"%s\"}", kind,
				     results[result]);
}

static void wh_done(struct sb_req *r, int rc)
{
	struct wh_ctx *w = r->ctx;
	sb_metrics_add(webhook_counter(w->kind[0] ? w->kind : "?", rc ? 0 : w->dup ? 1 : 2), 1);
	if (!rc && w->unmatched) {
		/* answered 200 all the same: the provider cannot do better by retrying */
		char metric[96];
		snprintf(metric, sizeof metric, "sb_status_unmatched_total{kind=\"%s\"}", w->kind);
		sb_metrics_inc(metric, (uint64_t)w->unmatched);
		sb_log(SB_LOG_INFO, "msg=status_unmatched rid=%s tenant=%lld channel=%lld n=%d",
		       r->rid, (long long)w->tenant, (long long)w->channel, w->unmatched);
	}
	if (rc) {
		/* nothing was committed: the provider must retry */
		sb_log(SB_LOG_WARN, "msg=webhook_commit_failed rid=%s tenant=%lld channel=%lld err=\"%s\"",
		       r->rid, (long long)w->tenant, (long long)w->channel, sb_err_str(rc));
		sb_http_header(r, "Retry-After", "1");
		sb_http_respond(r, 503, "text/plain", "retry\n", 6);
		return;
	}
	/* one line per webhook is for debugging: at 20,000 a second it would be most of the log
	 * (and 2% of the loop); /metrics counts them by result */
	sb_log(SB_LOG_DEBUG, "msg=webhook rid=%s tenant=%lld channel=%lld events=%zu dup=%d", r->rid,
	       (long long)w->tenant, (long long)w->channel, w->n, w->dup);
	struct sb_http_answer ans = w->answer;
	/* HELP: the tenant's help text rides the answer (TwiML <Message>) */
	/* or the tenant's auto-reply to a customer who starts a new conversation */
	const char *text = w->help ? w->help_text
			   : w->new_conv && w->auto_reply[0] ? w->auto_reply
							      : NULL;
	struct chan_rt *c = text ? sb_chan_get(w->tenant, w->channel) : NULL;
	if (c && !w->dup && SB_BRIDGE_HAS(c->bridge, webhook_reply)) {
		struct sb_bridge_ctx ctx;
		sb_chan_ctx(c, &r->arena, &ctx);
		struct sb_http_answer reply = { 0 };
		if (!c->bridge->webhook_reply(&ctx, SB_STRZ(text), &reply))
			ans = reply;
	}
	sb_http_respond(r, ans.status ? ans.status : 200,
			ans.content_type ? ans.content_type : "text/plain", ans.body.p, ans.body.len);
}

/* A tenant's webhook settings, kept while the configuration generation stands still (a
 * settings change in any process moves it). Loop thread only. */
static struct prefs_cache {
	int64_t tenant;
	uint64_t gen;
	bool unified;
	char help_text[400], auto_reply[400];
} prefs[64];

static bool tenant_prefs_read(int64_t tenant, struct wh_ctx *w);

static void tenant_prefs(int64_t tenant, struct wh_ctx *w)
{
	uint64_t gen = sb_store_config_gen(sb_hub_store());
	struct prefs_cache *p = &prefs[(uint64_t)tenant % (sizeof prefs / sizeof prefs[0])];
	if (p->tenant != tenant || p->gen != gen) {
		if (!tenant_prefs_read(tenant, w))
			return; /* the defaults, this once */
		p->tenant = tenant;
		p->gen = gen;
		p->unified = w->unified;
		memcpy(p->help_text, w->help_text, sizeof p->help_text);
		memcpy(p->auto_reply, w->auto_reply, sizeof p->auto_reply);
		return;
	}
	w->unified = p->unified;
	memcpy(w->help_text, p->help_text, sizeof w->help_text);
	memcpy(w->auto_reply, p->auto_reply, sizeof w->auto_reply);
}

static bool tenant_prefs_read(int64_t tenant, struct wh_ctx *w)
{
	struct sb_buf b;
	bool ok = false;
	sb_buf_init(&b, 0);
	w->unified = true;
	snprintf(w->help_text, sizeof w->help_text,
		 "Reply STOP to unsubscribe. Msg&data rates may apply.");
	w->auto_reply[0] = '\0';
	if (!sb_store_tenant_settings(sb_hub_store(), tenant, &b)) {
		ok = true;
		struct sb_arena a = { 0 };
		struct sb_json *j;
		if (!sb_json_parse(&a, sb_buf_data(&b), b.len, &j, NULL)) {
			bool u;
			struct sb_str h;
			if (sb_json_bool(j, "unified_threads", &u))
				w->unified = u;
			if (sb_json_str(j, "sms_help_text", &h) && h.len)
				snprintf(w->help_text, sizeof w->help_text, "%.*s", (int)h.len, h.p);
			if (sb_json_str(j, "auto_reply", &h) && h.len)
				snprintf(w->auto_reply, sizeof w->auto_reply, "%.*s", (int)h.len, h.p);
		}
		sb_arena_free(&a);
	}
	sb_buf_free(&b);
	return ok;
}

void sb_webhook_route(struct sb_req *r, const char **s, int n)
{
	if (n < 2 || n > 3 || (n == 3 && strcmp(s[2], "status")))
		return sb_http_error(r, 404, "not_found", "no such webhook");
	/* "/webhooks/<kind>/:key[/status]", composed without snprintf (hot path) */
	char label[64];
	static const char head[] = "/webhooks/";
	const char *tail = n == 3 ? "/:key/status" : "/:key";
	size_t lk = strnlen(s[0], 16);
	memcpy(label, head, sizeof head - 1);
	memcpy(label + sizeof head - 1, s[0], lk);
	memcpy(label + sizeof head - 1 + lk, tail, strlen(tail) + 1);
	free(r->route);
	r->route = sb_strdup(label);
	struct chan_rt *c = sb_chan_by_key(s[1]);
	if (!c || strcmp(c->row.kind, s[0]) || !c->row.active)
		return sb_http_error(r, 404, "not_found", "no such webhook");
	if (r->method != SB_POST)
		return sb_http_error(r, 405, "method_not_allowed", "webhooks are POSTed");

	/* the URL exactly as the provider was given it: our public origin + the path as sent */
	struct sb_buf url;
	sb_buf_init(&url, 0);
	sb_buf_adds(&url, sb_hub_config()->public_url);
	sb_buf_adds(&url, r->path);
	if (r->query) {
		sb_buf_addc(&url, '?');
		sb_buf_adds(&url, r->query);
	}
	struct sb_http_header hdrs[4];
	size_t nh = 0;
	if (r->content_type)
		hdrs[nh++] = (struct sb_http_header){ SB_STR("Content-Type"), SB_STRZ(r->content_type) };
	if (r->twilio_sig)
		hdrs[nh++] = (struct sb_http_header){ SB_STR("X-Twilio-Signature"),
						      SB_STRZ(r->twilio_sig) };
	if (r->idem)
		hdrs[nh++] = (struct sb_http_header){ SB_STR("I-Twilio-Idempotency-Token"),
						      SB_STRZ(r->idem) };
	struct sb_http_in in = {
		.method = SB_STR("POST"),
		.url = { sb_arena_strndup(&r->arena, sb_buf_data(&url), url.len), url.len },
		.headers = hdrs,
		.n_headers = nh,
		.body = { sb_buf_data(&r->body) ? sb_buf_data(&r->body) : "", r->body.len },
	};
	sb_buf_free(&url);

	/* the bridge's events live only until they are copied into w below, within this call
	 * on the loop thread: one buffer serves every webhook (~20 KiB not allocated and
	 * cleared per request; the host clears each event it hands out) */
	static struct sb_bridge_events events;
	struct sb_bridge_events *evs = &events;
	evs->n = 0;
	struct wh_ctx *w = sb_arena_alloc(&r->arena, sizeof *w);
	memset(w, 0, offsetof(struct wh_ctx, items));
	struct sb_bridge_ctx ctx;
	sb_chan_ctx(c, &r->arena, &ctx);
	r->auth.tenant = c->row.tenant; /* for the logs */
	int rc = c->bridge->webhook(&ctx, &in, evs, &w->answer);
	if (rc == SB_EAUTH) {
		char metric[96];
		snprintf(metric, sizeof metric, "sb_webhook_signature_failures_total{kind=\"%s\"}",
			 c->row.kind);
		sb_metrics_inc(metric, 1);
		sb_log(SB_LOG_WARN, "msg=webhook_bad_signature rid=%s tenant=%lld channel=%lld",
		       r->rid, (long long)c->row.tenant, (long long)c->row.id);
		return sb_http_error(r, 403, "bad_signature", "the signature does not match");
	}
	if (rc == SB_ETOOBIG)
		return sb_http_error(r, 413, "too_big", "too many events or fields");
	if (rc)
		return sb_http_error(r, 400, "malformed", "the webhook body is malformed");

	snprintf(w->kind, sizeof w->kind, "%s", c->row.kind);
	w->tenant = c->row.tenant;
	w->channel = c->row.id;
	snprintf(w->sender, sizeof w->sender, "%s", c->row.sender);
	const char *o = sb_http_qparam(r, "o");
	if (o && !api__parse_id(o, &w->outbox_id))
		w->outbox_id = 0;
	tenant_prefs(w->tenant, w);
	for (size_t i = 0; i < evs->n && w->n < 64; i++) {
		const struct sb_bridge_event *e = &evs->ev[i];
		struct wh_item *it = &w->items[w->n];
		memset(it, 0, sizeof *it);
		it->kind = e->kind;
		switch (e->kind) {
		case SB_BRIDGE_EV_MESSAGE:
			if (!e->provider_id.len || !e->from.len)
				continue;
			it->provider_id = az(&r->arena, e->provider_id);
			it->from = az(&r->arena, e->from);
			it->to = az(&r->arena, e->to);
			it->body = az(&r->arena, e->body);
			it->media = media_json(&r->arena, e);
			break;
		case SB_BRIDGE_EV_OPT_OUT:
		case SB_BRIDGE_EV_OPT_IN:
			it->from = az(&r->arena, e->from);
			break;
		case SB_BRIDGE_EV_HELP:
			w->help = true;
			continue;
		case SB_BRIDGE_EV_STATUS: {
			/* found by our own reference: one the provider echoes in the event, else the
			 * o= it was given in the status callback URL (sb_tx_status_update) */
			it->outbox_id = w->outbox_id;
			if (e->client_ref.len) {
				const char *ref = az(&r->arena, e->client_ref);
				if (!api__parse_id(ref, &it->outbox_id))
					it->outbox_id = 0;
			}
			it->provider_id = az(&r->arena, e->provider_id);
			it->status = status_name(e->status);
			it->code = e->error_code.len ? az(&r->arena, e->error_code) : NULL;
			if (it->code) {
				char *why = sb_arena_alloc(&r->arena, 120);
				snprintf(why, 120, "The carrier could not deliver it (provider code %s).",
					 it->code);
				it->reason = why;
			}
			if (!it->status)
				continue;
			break;
		}
		default:
			continue; /* typing, reads: live-only or not stored for SMS */
		}
		w->n++;
	}
	sb_http_write_replayable(r, wh_run, wh_done, w);
}
