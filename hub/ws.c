/* SPDX-License-Identifier: MIT
 * ws.c: the agent WebSocket (docs/PROTOCOL.md) and the tenant fan-out.
 *
 * Memory per socket is one small struct ws_pss: a socket remembers only the last seq it was
 * sent. Event frames live once per tenant in a ring (a bounded cache of the store's event
 * log), so fan-out costs one lws_callback_on_writable per socket and no copies; a socket
 * that falls behind the ring reads the missing frames from the store, and one that falls
 * further behind than CULL_LAG is closed (1008) and resyncs on reconnect. Nothing queues
 * without bound and nothing is dropped: the store is the truth.
 */
#include "hub.h"
#include "api_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#define RING 256              /* recent frames kept per tenant (power of two) */
#define CULL_LAG 8192         /* events behind before a socket is culled */
#define RELOAD_LAG 10000      /* events missed before a client must reload */
#define MSG_MAX (64 * 1024)
#define CTL_MAX 32            /* queued control frames per socket */
#define RATE_PER_S 20
#define RATE_BURST 40
#define BATCH_BYTES 32768   /* what one send may carry: control frames, presence, events */

struct cframe {
	struct cframe *next;
	size_t len;
	unsigned char data[]; /* the JSON text */
};

struct agent_rt {
	struct agent_rt *next;
	int64_t id;
	int sockets;
	char name[64];
};

struct ring_slot {
	int64_t seq;
	size_t len;
	unsigned char *buf; /* the frame text */
};

struct ws_pss;

/* A tenant with connected sockets. Lifetime: from its first socket to its last. */
struct tenant_rt {
	struct tenant_rt *next;
	int64_t id;
	int64_t last_seq;
	struct ring_slot ring[RING];
	struct ws_pss *socks;
	struct agent_rt *agents;
	int nsocks;
};

/* Lets an async operation find its socket again, or learn it closed. */
struct ws_handle {
	struct ws_pss *pss;
	int refs;
};

enum { WS_AUTHED = 0, WS_LIVE = 1 };

/* Per socket. Lifetime: allocated by lws for the connection, zeroed at accept. */
struct ws_pss {
	struct lws *wsi;
	struct tenant_rt *t;
	struct ws_pss *prev, *next;
	int64_t tenant, agent;
	int64_t sent_seq;
	uint64_t sid_tag;
	struct cframe *ctl, *ctl_tail;
	struct sb_buf *rx;
	struct ws_handle *h;
	uint32_t last_refill_ms;
	uint16_t tokens;
	uint16_t close_code;
	uint8_t nctl, state, strikes;
	bool presence_dirty, reload_sent, dirty;
	struct ws_pss *dirty_next; /* on the flush list (see sb_ws_flush) */
};

#define TBUCKETS 1024
static struct tenant_rt *tenants[TBUCKETS];
static size_t nsockets;
static unsigned char *obuf;      /* LWS_PRE + the frames of one send */
static size_t ocap, olen;
static struct ws_pss *dirty;     /* sockets with events to write when the drain ends */

uint64_t sb_ws_fanned_out;

size_t sb_ws_count(void)
{
	return nsockets;
}

static struct tenant_rt **tenant_slot(int64_t id)
{
	struct tenant_rt **pp = &tenants[(uint64_t)id % TBUCKETS];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

static struct tenant_rt *tenant_get(int64_t id, bool create)
{
	struct tenant_rt **pp = tenant_slot(id);
	if (*pp || !create)
		return *pp;
	struct tenant_rt *t = sb_calloc(1, sizeof *t);
	t->id = id;
	t->last_seq = sb_store_tenant_seq(sb_hub_store(), id);
	*pp = t;
	return t;
}

static void tenant_maybe_free(struct tenant_rt *t)
{
	if (t->nsocks)
		return;
	struct tenant_rt **pp = tenant_slot(t->id);
	*pp = t->next;
	for (int i = 0; i < RING; i++)
		free(t->ring[i].buf);
	while (t->agents) {
		struct agent_rt *a = t->agents;
		t->agents = a->next;
		free(a);
	}
	free(t);
}

/* ---- control frames ---- */

static bool ctl_push(struct ws_pss *p, const char *json, size_t len)
{
	if (p->nctl >= CTL_MAX) {
		/* the client does not read what it asks for: close rather than queue more */
		p->close_code = 1008;
		lws_callback_on_writable(p->wsi);
		return false;
	}
	struct cframe *f = sb_malloc(sizeof *f + len);
	f->next = NULL;
	f->len = len;
	memcpy(f->data, json, len);
	if (p->ctl_tail)
		p->ctl_tail->next = f;
	else
		p->ctl = f;
	p->ctl_tail = f;
	p->nctl++;
	lws_callback_on_writable(p->wsi);
	return true;
}

static void add_id(struct sb_buf *b, const struct sb_json *id);

static void ctl_error(struct ws_pss *p, const struct sb_json *id, const char *code,
		      const char *msg)
{
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_buf_adds(&b, "{\"type\":\"error\"");
	if (id && (id->type == SB_JSON_NUMBER || id->type == SB_JSON_STRING)) {
		sb_buf_adds(&b, ",\"id\":");
		add_id(&b, id);
	}
	sb_buf_adds(&b, ",\"code\":");
	sb_json_escz(&b, code);
	sb_buf_adds(&b, ",\"message\":");
	sb_json_escz(&b, msg);
	sb_buf_addc(&b, '}');
	ctl_push(p, sb_buf_data(&b), b.len);
	sb_buf_free(&b);
}

static void add_id(struct sb_buf *b, const struct sb_json *id)
{
	if (!id || (id->type != SB_JSON_NUMBER && id->type != SB_JSON_STRING)) {
		sb_buf_adds(b, "null");
		return;
	}
	if (id->type == SB_JSON_NUMBER)
		sb_buf_add(b, id->str.p, id->str.len);
	else
		sb_json_esc(b, id->str.p, id->str.len);
}

/* ---- presence ---- */

static void presence_changed(struct tenant_rt *t)
{
	for (struct ws_pss *p = t->socks; p; p = p->next)
		if (p->state == WS_LIVE) {
			p->presence_dirty = true;
			lws_callback_on_writable(p->wsi);
		}
}

static void presence_frame(struct tenant_rt *t, struct sb_buf *b)
{
	sb_buf_adds(b, "{\"type\":\"presence\",\"agents\":[");
	int n = 0;
	for (struct agent_rt *a = t->agents; a; a = a->next) {
		if (!a->sockets)
			continue;
		bool f = true;
		sb_buf_adds(b, n++ ? ",{" : "{");
		sb_json_kv_int(b, &f, "id", a->id);
		sb_json_kv_str(b, &f, "name", a->name);
		sb_json_kv_bool(b, &f, "online", true);
		sb_buf_addc(b, '}');
	}
	sb_buf_adds(b, "]}");
}

static void agent_join(struct tenant_rt *t, int64_t agent)
{
	struct agent_rt *a = t->agents;
	while (a && a->id != agent)
		a = a->next;
	if (!a) {
		a = sb_calloc(1, sizeof *a);
		a->id = agent;
		struct sb_agent_auth aa;
		if (!sb_store_agent_get(sb_hub_store(), t->id, agent, &aa))
			snprintf(a->name, sizeof a->name, "%.63s", aa.name);
		sodium_memzero(&aa, sizeof aa);
		a->next = t->agents;
		t->agents = a;
	}
	if (a->sockets++ == 0)
		presence_changed(t);
}

static void agent_leave(struct tenant_rt *t, int64_t agent)
{
	for (struct agent_rt *a = t->agents; a; a = a->next)
		if (a->id == agent) {
			if (--a->sockets == 0)
				presence_changed(t);
			return;
		}
}

/* ---- fan-out ---- */

static void mark_dirty(struct ws_pss *p)
{
	if (p->dirty)
		return;
	p->dirty = true;
	p->dirty_next = dirty;
	dirty = p;
}

static void unmark_dirty(struct ws_pss *p)
{
	if (!p->dirty)
		return;
	for (struct ws_pss **pp = &dirty; *pp; pp = &(*pp)->dirty_next)
		if (*pp == p) {
			*pp = p->dirty_next;
			break;
		}
	p->dirty = false;
}

void sb_ws_on_event(const struct sb_event *ev)
{
	struct tenant_rt *t = tenant_get(ev->tenant, false);
	if (!t)
		return; /* nobody of this tenant is connected here */
	struct ring_slot *s = &t->ring[ev->seq & (RING - 1)];
	free(s->buf);
	s->buf = sb_malloc(ev->len);
	memcpy(s->buf, ev->frame, ev->len);
	s->len = ev->len;
	s->seq = ev->seq;
	if (ev->seq > t->last_seq)
		t->last_seq = ev->seq;
	for (struct ws_pss *p = t->socks; p; p = p->next) {
		if (p->state != WS_LIVE)
			continue;
		if (t->last_seq - p->sent_seq > CULL_LAG && !p->close_code) {
			sb_log(SB_LOG_WARN, "msg=ws_cull tenant=%lld agent=%lld lag=%lld",
			       (long long)p->tenant, (long long)p->agent,
			       (long long)(t->last_seq - p->sent_seq));
			p->close_code = 1008;
		}
		/* written when the drain ends (sb_ws_flush): the events of one batch of
		 * commits leave in one send per socket, without a WRITEABLE round (two
		 * epoll_ctl and a wake per socket) */
		if (p->close_code)
			lws_callback_on_writable(p->wsi);
		else
			mark_dirty(p);
	}
}

void sb_ws_resync_from_store(void)
{
	for (int b = 0; b < TBUCKETS; b++)
		for (struct tenant_rt *t = tenants[b]; t; t = t->next) {
			int64_t seq = sb_store_tenant_seq(sb_hub_store(), t->id);
			if (seq <= t->last_seq)
				continue;
			/* committed by another worker and not (yet) heard of: the sockets read
			 * the frames from the store */
			t->last_seq = seq;
			for (struct ws_pss *p = t->socks; p; p = p->next)
				if (p->state == WS_LIVE)
					lws_callback_on_writable(p->wsi);
		}
}

/* ---- writing: every frame due on a socket leaves in one send ---- */

/* Appends one unmasked, unfragmented text frame (RFC 6455 §5.2) to obuf. */
static void out_frame(const void *payload, size_t len)
{
	size_t need = LWS_PRE + olen + 10 + len;
	if (need > ocap) {
		ocap = need < 2 * BATCH_BYTES ? 2 * BATCH_BYTES : need;
		obuf = sb_realloc(obuf, ocap);
	}
	unsigned char *h = obuf + LWS_PRE + olen;
	size_t n = 0;
	h[n++] = 0x81; /* FIN, text */
	if (len < 126) {
		h[n++] = (unsigned char)len;
	} else if (len < 65536) {
		h[n++] = 126;
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	} else {
		h[n++] = 127;
		for (int i = 7; i >= 0; i--)
			h[n++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	memcpy(h + n, payload, len);
	olen += n + len;
}

static void store_frame(void *ud, int64_t seq, const char *frame, size_t len)
{
	(void)seq;
	*(bool *)ud = true;
	out_frame(frame, len);
}

/* Appends p's next event; 0 if none was due, -1 on a store error. */
static int append_next_event(struct ws_pss *p)
{
	struct tenant_rt *t = p->t;
	if (p->sent_seq >= t->last_seq)
		return 0;
	int64_t want = p->sent_seq + 1;
	struct ring_slot *s = &t->ring[want & (RING - 1)];
	if (s->buf && s->seq == want) {
		out_frame(s->buf, s->len);
	} else {
		bool got = false;
		int n = sb_store_events_since(sb_hub_store(), t->id, p->sent_seq, 1, store_frame,
					      &got);
		if (n < 0)
			return -1;
		/* n == 0: a gap the store does not have (only after a rollback of seq, never) */
		if (n > 0 && got)
			sb_ws_fanned_out++;
		p->sent_seq = want;
		return 1;
	}
	p->sent_seq = want;
	sb_ws_fanned_out++;
	return 1;
}

static bool more_due(const struct ws_pss *p)
{
	return p->ctl || (p->state == WS_LIVE && (p->presence_dirty ||
						  p->sent_seq < p->t->last_seq));
}

/* Writes what is due on p, in order (control frames, presence, events), up to
 * BATCH_BYTES, as one send. lws keeps what the kernel does not take and asks for
 * WRITEABLE itself; the frames are whole, so LWS_WRITE_HTTP (no framing by lws) is right.
 * -1 on an error. */
static int write_batch(struct ws_pss *p)
{
	olen = 0;
	while (p->ctl && olen < BATCH_BYTES) {
		struct cframe *f = p->ctl;
		p->ctl = f->next;
		if (!p->ctl)
			p->ctl_tail = NULL;
		p->nctl--;
		out_frame(f->data, f->len);
		free(f);
	}
	if (p->state == WS_LIVE) {
		if (p->presence_dirty && olen < BATCH_BYTES) {
			p->presence_dirty = false;
			struct sb_buf b;
			sb_buf_init(&b, 0);
			presence_frame(p->t, &b);
			out_frame(sb_buf_data(&b), b.len);
			sb_buf_free(&b);
		}
		while (olen < BATCH_BYTES) {
			int w = append_next_event(p);
			if (w < 0)
				return -1;
			if (w == 0)
				break;
		}
	}
	if (!olen)
		return 0;
	return lws_write(p->wsi, obuf + LWS_PRE, olen, LWS_WRITE_HTTP) < 0 ? -1 : 0;
}

void sb_ws_flush(void)
{
	while (dirty) {
		struct ws_pss *p = dirty;
		dirty = p->dirty_next;
		p->dirty = false;
		if (!p->close_code && !lws_partial_buffered(p->wsi)) {
			if (write_batch(p) < 0)
				p->close_code = 1011;
			else if (!more_due(p))
				continue;
		}
		lws_callback_on_writable(p->wsi);
	}
}

/* ---- requests from the client ---- */

struct ws_op {
	struct ws_handle *h;
	int64_t tenant, agent, conv;
	char id[72];   /* the request id, as JSON */
	struct sb_buf out;
	struct sb_wjob job;
};

#define HANDLE_MAX_REFS 32 /* requests of one socket in flight at once */

static struct ws_handle *handle_get(struct ws_pss *p)
{
	if (!p->h) {
		p->h = sb_calloc(1, sizeof *p->h);
		p->h->pss = p;
	}
	if (p->h->refs >= HANDLE_MAX_REFS)
		return NULL;
	p->h->refs++;
	return p->h;
}

static void handle_put(struct ws_handle *h)
{
	if (--h->refs == 0) {
		if (h->pss)
			h->pss->h = NULL;
		free(h);
	}
}

struct ws_handle *sb_ws_hold(struct ws_pss *p)
{
	return handle_get(p);
}

struct ws_pss *sb_ws_held(const struct ws_handle *h)
{
	return h->pss;
}

void sb_ws_release(struct ws_handle *h)
{
	handle_put(h);
}

void sb_ws_id_json(const struct sb_json *id, char *out, size_t cap)
{
	struct sb_buf b;
	sb_buf_init(&b, 0);
	add_id(&b, id);
	snprintf(out, cap, "%s", b.len < cap ? sb_buf_cstr(&b) : "null");
	sb_buf_free(&b);
}

static int read_run(struct sb_tx *tx, void *arg)
{
	struct ws_op *op = arg;
	return sb_tx_conv_mark_read(tx, op->tenant, op->conv, op->agent);
}

static void op_done(void *arg, int rc)
{
	struct ws_op *op = arg;
	struct ws_pss *p = op->h->pss;
	if (p && !p->close_code) {
		struct sb_buf b;
		sb_buf_init(&b, 0);
		if (rc < 0) {
			sb_buf_printf(&b, "{\"type\":\"error\",\"id\":%s,\"code\":\"%s\","
					  "\"message\":\"%s\"}",
				      op->id, rc == SB_ENOTFOUND ? "not_found" : "failed",
				      rc == SB_ENOTFOUND ? "no such conversation" : sb_err_str(rc));
		} else {
			sb_buf_printf(&b, "{\"type\":\"ack\",\"id\":%s,\"data\":%s}", op->id,
				      op->out.len ? sb_buf_cstr(&op->out) : "null");
		}
		ctl_push(p, sb_buf_data(&b), b.len);
		sb_buf_free(&b);
	}
	handle_put(op->h);
	sb_buf_free(&op->out);
	free(op);
}

static bool conv_in_tenant(int64_t tenant, int64_t conv)
{
	struct sb_buf b;
	sb_buf_init(&b, 0);
	int rc = sb_store_conv_json(sb_hub_store(), tenant, 0, conv, &b);
	sb_buf_free(&b);
	return rc == 0;
}

static bool rate_ok(struct ws_pss *p)
{
	uint32_t now = (uint32_t)(sb_now_us() / 1000);
	uint32_t el = now - p->last_refill_ms;
	if (el >= 50) {
		uint32_t add = el * RATE_PER_S / 1000;
		p->tokens = (uint16_t)(p->tokens + add > RATE_BURST ? RATE_BURST : p->tokens + add);
		p->last_refill_ms = now;
	}
	if (p->tokens) {
		p->tokens--;
		return true;
	}
	return false;
}

static void relay_live(struct ws_pss *from, const char *frame, size_t len)
{
	for (struct ws_pss *p = from->t->socks; p; p = p->next)
		if (p != from && p->state == WS_LIVE && p->nctl < CTL_MAX - 4)
			ctl_push(p, frame, len); /* typing is live-only: a full queue skips it */
}

static void handle_hello(struct ws_pss *p, const struct sb_json *msg)
{
	struct tenant_rt *t = p->t;
	const struct sb_json *ls = sb_json_get(msg, "last_seq");
	const char *resume = "ok";
	if (!ls || ls->type == SB_JSON_NULL) {
		p->sent_seq = t->last_seq;
	} else if (ls->type == SB_JSON_NUMBER && ls->is_int && ls->i >= 0) {
		if (ls->i > t->last_seq || t->last_seq - ls->i > RELOAD_LAG) {
			resume = "reload";
			p->sent_seq = t->last_seq;
		} else {
			p->sent_seq = ls->i;
		}
	} else {
		ctl_error(p, NULL, "invalid", "last_seq must be a number or null");
		return;
	}
	char buf[200];
	int n = snprintf(buf, sizeof buf,
			 "{\"type\":\"welcome\",\"tenant_id\":%lld,\"agent_id\":%lld,"
			 "\"seq\":%lld,\"resume\":\"%s\"}",
			 (long long)p->tenant, (long long)p->agent, (long long)t->last_seq, resume);
	ctl_push(p, buf, (size_t)n);
	p->state = WS_LIVE;
	p->presence_dirty = true;
	lws_callback_on_writable(p->wsi);
}

static void handle_message(struct ws_pss *p, const char *data, size_t len)
{
	if (!rate_ok(p)) {
		if (++p->strikes > 20) {
			p->close_code = 1008;
			lws_callback_on_writable(p->wsi);
			return;
		}
		ctl_error(p, NULL, "rate_limited", "slow down: at most 20 frames a second");
		return;
	}
	struct sb_arena a = { 0 };
	struct sb_json *msg;
	const char *err = NULL;
	if (sb_json_parse(&a, data, len, &msg, &err) || msg->type != SB_JSON_OBJECT) {
		ctl_error(p, NULL, "malformed_json", err ? err : "expected a JSON object");
		sb_arena_free(&a);
		return;
	}
	struct sb_str type;
	const struct sb_json *id = sb_json_get(msg, "id");
	if (!sb_json_str(msg, "type", &type)) {
		ctl_error(p, id, "invalid", "every frame needs a \"type\"");
	} else if (sb_str_eqz(type, "hello")) {
		if (p->state == WS_LIVE)
			ctl_error(p, id, "invalid", "hello was already sent");
		else
			handle_hello(p, msg);
	} else if (p->state != WS_LIVE) {
		ctl_error(p, id, "hello_first", "send hello first");
	} else if (sb_str_eqz(type, "ping")) {
		struct sb_buf b;
		sb_buf_init(&b, 0);
		sb_buf_adds(&b, "{\"type\":\"pong\",\"id\":");
		add_id(&b, id);
		sb_buf_addc(&b, '}');
		ctl_push(p, sb_buf_data(&b), b.len);
		sb_buf_free(&b);
	} else if (sb_str_eqz(type, "typing") || sb_str_eqz(type, "viewing")) {
		int64_t conv = 0;
		bool on = true;
		const struct sb_json *cj = sb_json_get(msg, "conversation_id");
		bool typing = sb_str_eqz(type, "typing");
		if (!p->agent) {
			ctl_error(p, id, "agent_required", "only agents type or view");
		} else if ((cj && cj->type != SB_JSON_NULL && !sb_json_int(msg, "conversation_id", &conv)) ||
			   (typing && !conv) || (conv && !conv_in_tenant(p->tenant, conv))) {
			ctl_error(p, id, "not_found", "no such conversation");
		} else {
			if (typing)
				sb_json_bool(msg, "on", &on);
			char buf[200];
			int n = typing ? snprintf(buf, sizeof buf,
						  "{\"type\":\"typing\",\"conversation_id\":%lld,"
						  "\"agent_id\":%lld,\"on\":%s}",
						  (long long)conv, (long long)p->agent,
						  on ? "true" : "false")
				       : snprintf(buf, sizeof buf,
						  "{\"type\":\"viewing\",\"conversation_id\":%lld,"
						  "\"agent_id\":%lld}",
						  (long long)conv, (long long)p->agent);
			if (!typing && !conv)
				n = snprintf(buf, sizeof buf,
					     "{\"type\":\"viewing\",\"conversation_id\":null,"
					     "\"agent_id\":%lld}",
					     (long long)p->agent);
			relay_live(p, buf, (size_t)n);
		}
	} else if (sb_str_eqz(type, "read")) {
		int64_t conv;
		if (!p->agent)
			ctl_error(p, id, "agent_required", "only agents mark conversations read");
		else if (!sb_json_int(msg, "conversation_id", &conv) || conv <= 0)
			ctl_error(p, id, "invalid", "conversation_id is required");
		else {
			struct ws_handle *h = handle_get(p);
			if (!h) {
				ctl_error(p, id, "busy", "too many requests in flight; retry");
				sb_arena_free(&a);
				return;
			}
			struct ws_op *op = sb_calloc(1, sizeof *op);
			sb_ws_id_json(id, op->id, sizeof op->id);
			op->h = h;
			op->tenant = p->tenant;
			op->agent = p->agent;
			op->conv = conv;
			sb_buf_init(&op->out, 0);
			op->job.run = read_run;
			op->job.done = op_done;
			op->job.arg = op;
			sb_store_submit(sb_hub_store(), &op->job);
		}
	} else if (sb_str_eqz(type, "send")) {
		if (!sb_ws_send_hook || !sb_ws_send_hook(p, msg, id))
			ctl_error(p, id, "unsupported", "sending is not available");
	} else {
		ctl_error(p, id, "unknown_type", "unknown frame type");
	}
	sb_arena_free(&a);
}

/* ---- lws glue ---- */

static bool origin_ok(struct lws *wsi)
{
	char origin[300];
	if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
		return false;
	return !strcmp(origin, sb_config_origin(sb_hub_config()));
}

static int authenticate(struct lws *wsi, struct ws_pss *p)
{
	char uri[64];
	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws")) {
		sb_log(SB_LOG_INFO, "msg=ws_refused why=path");
		return -1;
	}
	if (!origin_ok(wsi)) {
		sb_log(SB_LOG_INFO, "msg=ws_refused why=origin");
		sb_metrics_inc("sb_ws_refused_total{why=\"origin\"}", 1);
		return -1;
	}
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE);
	int an = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	struct sb_req r = { 0 };
	if (n > 0 && n < 8192) {
		r.cookie = sb_malloc((size_t)n + 1);
		lws_hdr_copy(wsi, r.cookie, n + 1, WSI_TOKEN_HTTP_COOKIE);
	}
	if (an > 0 && an < 1024) {
		r.authorization = sb_malloc((size_t)an + 1);
		lws_hdr_copy(wsi, r.authorization, an + 1, WSI_TOKEN_HTTP_AUTHORIZATION);
	}
	sb_auth_resolve(&r);
	free(r.cookie);
	free(r.authorization);
	if (!r.auth.tenant) {
		sb_log(SB_LOG_INFO, "msg=ws_refused why=auth");
		sb_metrics_inc("sb_ws_refused_total{why=\"auth\"}", 1);
		return -1;
	}
	memset(p, 0, sizeof *p);
	p->tenant = r.auth.tenant;
	p->agent = r.auth.agent;
	memcpy(&p->sid_tag, r.auth.sid_hash, sizeof p->sid_tag);
	sodium_memzero(&r.auth, sizeof r.auth);
	return 0;
}

static void detach(struct ws_pss *p)
{
	struct tenant_rt *t = p->t;
	if (!t)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		t->socks = p->next;
	if (p->next)
		p->next->prev = p->prev;
	t->nsocks--;
	nsockets--;
	unmark_dirty(p);
	if (p->agent)
		agent_leave(t, p->agent);
	p->t = NULL;
	while (p->ctl) {
		struct cframe *f = p->ctl;
		p->ctl = f->next;
		free(f);
	}
	if (p->rx) {
		sb_buf_free(p->rx);
		free(p->rx);
		p->rx = NULL;
	}
	if (p->h) {
		p->h->pss = NULL;
		p->h = NULL;
	}
	tenant_maybe_free(t);
}

static int do_close(struct ws_pss *p)
{
	static const char *const why[] = { "going away", "lagging or flooding", "logged out",
					   "deactivated", "too big" };
	const char *reason = p->close_code == 1001   ? why[0]
			     : p->close_code == 4001 ? why[2]
			     : p->close_code == 4003 ? why[3]
			     : p->close_code == 1009 ? why[4]
						     : why[1];
	lws_close_reason(p->wsi, (enum lws_close_status)p->close_code, (unsigned char *)reason,
			 strlen(reason));
	return -1;
}

static int cb_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		 size_t len)
{
	struct ws_pss *p = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* see http.c: h2c is served as HTTP/1.1; nothing is refused here */
		if (in && !strcasecmp((const char *)in, "h2c"))
			return 1;
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* the Origin and session are checked here, before the upgrade, and not in
		 * confirm-upgrade (a use-after-free in lws 4.1.6 lives there) */
		if (!p || sb_hub_draining() || authenticate(wsi, p)) {
			lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED: {
		struct tenant_rt *t = tenant_get(p->tenant, true);
		p->wsi = wsi;
		p->t = t;
		p->tokens = RATE_BURST;
		p->last_refill_ms = (uint32_t)(sb_now_us() / 1000);
		p->next = t->socks;
		if (t->socks)
			t->socks->prev = p;
		t->socks = p;
		t->nsocks++;
		nsockets++;
		if (p->agent)
			agent_join(t, p->agent);
		sb_log(SB_LOG_DEBUG, "msg=ws_open tenant=%lld agent=%lld", (long long)p->tenant,
		       (long long)p->agent);
		if (sb_hub_draining()) {
			p->close_code = 1001;
			lws_callback_on_writable(wsi);
		}
		return 0;
	}
	case LWS_CALLBACK_CLOSED:
		detach(p);
		return 0;
	case LWS_CALLBACK_RECEIVE: {
		if (p->close_code)
			return 0;
		if (lws_frame_is_binary(wsi)) {
			p->close_code = 1003;
			return do_close(p);
		}
		bool first = lws_is_first_fragment(wsi), last = lws_is_final_fragment(wsi);
		if (first && last && !lws_remaining_packet_payload(wsi) && !p->rx) {
			handle_message(p, in, len);
			return 0;
		}
		if (!p->rx) {
			p->rx = sb_malloc(sizeof *p->rx);
			sb_buf_init(p->rx, 0);
		}
		if (p->rx->len + len > MSG_MAX) {
			p->close_code = 1009;
			return do_close(p);
		}
		sb_buf_add(p->rx, in, len);
		if (last && !lws_remaining_packet_payload(wsi)) {
			struct sb_buf *b = p->rx;
			p->rx = NULL;
			handle_message(p, sb_buf_data(b), b->len);
			sb_buf_free(b);
			free(b);
		}
		return 0;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		if (p->close_code)
			return do_close(p);
		if (write_batch(p) < 0)
			return -1;
		if (more_due(p))
			lws_callback_on_writable(wsi);
		return 0;
	}
	default:
		break;
	}
	/* HTTP-level reasons reach the first protocol too: let lws finish them */
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void close_matching(int64_t tenant, bool (*match)(struct ws_pss *, const void *),
			   const void *arg, int code)
{
	struct tenant_rt *t = tenant_get(tenant, false);
	if (!t)
		return;
	for (struct ws_pss *p = t->socks; p; p = p->next)
		if (match(p, arg)) {
			p->close_code = (uint16_t)code;
			lws_callback_on_writable(p->wsi);
		}
}

static bool match_sid(struct ws_pss *p, const void *arg)
{
	uint64_t tag;
	memcpy(&tag, arg, sizeof tag);
	return p->agent && p->sid_tag == tag;
}

static bool match_agent(struct ws_pss *p, const void *arg)
{
	return p->agent == *(const int64_t *)arg;
}

void sb_ws_close_session(int64_t tenant, const unsigned char sid_hash[32])
{
	close_matching(tenant, match_sid, sid_hash, 4001);
}

void sb_ws_close_agent(int64_t tenant, int64_t agent, int code)
{
	close_matching(tenant, match_agent, &agent, code);
}

void sb_ws_shutdown(void)
{
	for (int b = 0; b < TBUCKETS; b++)
		for (struct tenant_rt *t = tenants[b]; t; t = t->next)
			for (struct ws_pss *p = t->socks; p; p = p->next) {
				p->close_code = 1001;
				lws_callback_on_writable(p->wsi);
			}
}

/* Helpers for the send hook (outbound messages, in the channels module). */
void sb_ws_reply(struct ws_pss *p, const char *frame, size_t len)
{
	ctl_push(p, frame, len);
}

int64_t sb_ws_tenant(const struct ws_pss *p)
{
	return p->tenant;
}

int64_t sb_ws_agent(const struct ws_pss *p)
{
	return p->agent;
}

bool (*sb_ws_send_hook)(struct ws_pss *p, const struct sb_json *msg, const struct sb_json *id);

const struct lws_protocols sb_ws_protocol = {
	.name = "sb-agent.v1",
	.callback = cb_ws,
	.per_session_data_size = sizeof(struct ws_pss),
	.rx_buffer_size = 256,
	.tx_packet_size = 512,
};
