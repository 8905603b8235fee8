/* SPDX-License-Identifier: MIT
 * sandbox.c: a provider simulated inside hubd, so a fresh `make run` needs no account.
 * It speaks Twilio's Messages API (the same requests and answers, Basic auth, the magic test
 * numbers of PROVIDERS.md §1.5) at /sandbox/sms/<channel key>/2010-04-01/..., sends signed
 * status callbacks queued -> sent -> delivered, and plays the customer for the console's
 * simulator: a simulated SMS enters through the real signed webhook path.
 */
#define _GNU_SOURCE
#include "channels.h"
#include "api_internal.h"
#include "httpc.h"
#include "../bridges/common/sb_sha1.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- Twilio's signature, as the provider computes it ---- */

struct kv {
	const char *k, *v;
};

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

static void twilio_sign(const char *token, const char *url, struct kv *p, size_t n, char out[40])
{
	qsort(p, n, sizeof *p, kv_cmp);
	struct sb_buf s;
	sb_buf_init(&s, 0);
	sb_buf_adds(&s, url);
	for (size_t i = 0; i < n; i++) {
		sb_buf_adds(&s, p[i].k);
		sb_buf_adds(&s, p[i].v);
	}
	unsigned char mac[20];
	sb_hmac_sha1(token, strlen(token), sb_buf_data(&s), s.len, mac);
	sodium_bin2base64(out, 40, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
	sb_buf_free(&s);
}

static void form_add(struct sb_buf *b, const char *k, const char *v)
{
	if (b->len)
		sb_buf_addc(b, '&');
	sb_url_encode(b, k, strlen(k));
	sb_buf_addc(b, '=');
	sb_url_encode(b, v, strlen(v));
}

/* Posts a signed form to url (as the provider was told it) through our own listener. */
static void post_signed(const char *token, const char *url, struct kv *p, size_t n,
			void (*done)(void *arg, const struct sb_httpc_res *res), void *arg)
{
	char sig[40], hdr[80];
	twilio_sign(token, url, p, n, sig);
	snprintf(hdr, sizeof hdr, "X-Twilio-Signature: %s", sig);
	struct sb_buf body;
	sb_buf_init(&body, 0);
	for (size_t i = 0; i < n; i++)
		form_add(&body, p[i].k, p[i].v);
	/* the provider reaches the public URL; the simulator reaches the same path locally */
	const char *pub = sb_hub_config()->public_url;
	char target[800];
	if (!strncmp(url, pub, strlen(pub)))
		snprintf(target, sizeof target, "%s%s", sb_chan_self_url(), url + strlen(pub));
	else
		snprintf(target, sizeof target, "%s", url);
	const char *hdrs[] = { hdr, "Content-Type: application/x-www-form-urlencoded" };
	if (sb_httpc_submit("POST", target, hdrs, 2, sb_buf_data(&body) ? sb_buf_data(&body) : "",
			    body.len, 10000, done, arg))
		/* the client has stopped: done is told, as for a request abandoned in flight */
		done(arg, &(struct sb_httpc_res){ .abandoned = true, .error = "hub is stopping" });
	sb_buf_free(&body);
}

/* ---- status callbacks ---- */

struct cb_timer {
	struct sb_timer timer;
	struct sb_wjob job;
	struct cb_timer *prev, *next; /* in cbs, from creation to free */
	bool armed;                   /* waiting on its timer (not in a write job or a post) */
	int64_t tenant, channel;
	char sid[40], status[16], to[64], from[64], account[64], token[80], url[600];
	int step;
};

static struct cb_timer *cbs; /* every callback sequence under way */

static void cb_fire(struct sb_timer *timer);

static void cb_arm(struct cb_timer *t, uint64_t us)
{
	t->armed = true;
	sb_timer_after(&t->timer, cb_fire, us);
}

static void cb_free(struct cb_timer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		cbs = t->next;
	if (t->next)
		t->next->prev = t->prev;
	sodium_memzero(t->token, sizeof t->token);
	free(t);
}

void sb_sandbox_stop(void)
{
	/* a sequence waiting on its timer would never fire again; one in a write job or a post
	 * ends through that job's or post's done (abandoned at a stop) */
	int dropped = 0;
	for (struct cb_timer *t = cbs, *n; t; t = n) {
		n = t->next;
		if (t->armed) {
			sb_timer_stop(&t->timer);
			cb_free(t);
			dropped++;
		}
	}
	if (dropped) /* the simulator shows those messages at their last status */
		sb_log(SB_LOG_INFO, "msg=sandbox_callbacks_dropped n=%d", dropped);
}

static void cb_posted(void *arg, const struct sb_httpc_res *res)
{
	struct cb_timer *t = arg;
	if (res->abandoned)
		t->step = 2; /* the hub stops: no further callback */
	else if (res->status < 200 || res->status > 299)
		sb_log(SB_LOG_WARN, "msg=sandbox_callback_failed status=%d", res->status);
	if (t->step == 1) {
		t->step = 2;
		snprintf(t->status, sizeof t->status, "delivered");
		cb_arm(t, 60 * 1000);
		return;
	}
	cb_free(t);
}

static int cb_record_run(struct sb_tx *tx, void *arg)
{
	struct cb_timer *t = arg;
	return sb_tx_sandbox_status(tx, t->sid, t->status);
}

static void cb_recorded(void *arg, int rc)
{
	struct cb_timer *t = arg;
	(void)rc;
	if (!t->url[0]) {
		cb_posted(t, &(struct sb_httpc_res){ .status = 200 });
		return;
	}
	struct kv p[] = {
		{ "SmsSid", t->sid },     { "SmsStatus", t->status }, { "MessageStatus", t->status },
		{ "To", t->to },          { "MessageSid", t->sid },   { "AccountSid", t->account },
		{ "From", t->from },      { "ApiVersion", "2010-04-01" },
	};
	post_signed(t->token, t->url, p, sizeof p / sizeof p[0], cb_posted, t);
}

static void cb_fire(struct sb_timer *timer)
{
	struct cb_timer *t = lws_container_of(timer, struct cb_timer, timer);
	t->armed = false;
	t->job.run = cb_record_run;
	t->job.done = cb_recorded;
	t->job.arg = t;
	t->job.replayable = true;
	sb_store_submit(sb_hub_store(), &t->job);
}

/* ---- the Messages API ---- */

struct create_ctx {
	/* copied from the channel: no chan_rt pointer outlives the service-thread turn (a
	 * channel changed while the write runs is freed and rebuilt) */
	char account[64], token[80];
	int64_t tenant, channel;
	char sid[40], to[64], from[64], callback[600];
	const char *body;
	struct sb_buf out;
};

static int create_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct create_ctx *c = r->ctx;
	return sb_tx_sandbox_record(tx, c->tenant, c->channel, c->sid, 1, c->to, c->body, "queued",
				    NULL, c->callback[0] ? c->callback : NULL);
}

static void twilio_error(struct sb_req *r, int http, int code, const char *msg)
{
	char out[400];
	int n = snprintf(out, sizeof out,
			 "{\"code\":%d,\"message\":\"%s\",\"more_info\":"
			 "\"https://www.twilio.com/docs/errors/%d\",\"status\":%d}",
			 code, msg, code, http);
	sb_http_respond(r, http, "application/json", out, (size_t)n);
}

static void create_done(struct sb_req *r, int rc)
{
	struct create_ctx *c = r->ctx;
	if (rc) {
		sodium_memzero(c->token, sizeof c->token);
		sb_http_respond(r, 500, "application/json", "{\"status\":500}", 14);
		return;
	}
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	struct sb_buf b;
	sb_buf_init(&b, 0);
	bool f = true;
	sb_buf_addc(&b, '{');
	sb_json_kv_str(&b, &f, "account_sid", c->account);
	sb_json_kv_str(&b, &f, "api_version", "2010-04-01");
	sb_json_kv_str(&b, &f, "body", c->body);
	sb_json_kv_str(&b, &f, "date_created", date);
	sb_json_key(&b, &f, "date_sent");
	sb_buf_adds(&b, "null");
	sb_json_kv_str(&b, &f, "date_updated", date);
	sb_json_kv_str(&b, &f, "direction", "outbound-api");
	sb_json_key(&b, &f, "error_code");
	sb_buf_adds(&b, "null");
	sb_json_key(&b, &f, "error_message");
	sb_buf_adds(&b, "null");
	sb_json_kv_str(&b, &f, "from", c->from);
	sb_json_kv_str(&b, &f, "num_media", "0");
	sb_json_kv_str(&b, &f, "num_segments", "1");
	sb_json_kv_str(&b, &f, "sid", c->sid);
	sb_json_kv_str(&b, &f, "status", "queued");
	sb_json_kv_str(&b, &f, "to", c->to);
	sb_buf_addc(&b, '}');
	sb_http_json(r, 201, &b);

	struct cb_timer *t = sb_calloc(1, sizeof *t);
	t->tenant = c->tenant;
	t->channel = c->channel;
	t->step = 1;
	snprintf(t->sid, sizeof t->sid, "%s", c->sid);
	snprintf(t->status, sizeof t->status, "sent");
	snprintf(t->to, sizeof t->to, "%s", c->to);
	snprintf(t->from, sizeof t->from, "%s", c->from);
	snprintf(t->account, sizeof t->account, "%s", c->account);
	snprintf(t->token, sizeof t->token, "%s", c->token);
	sodium_memzero(c->token, sizeof c->token);
	snprintf(t->url, sizeof t->url, "%s", c->callback);
	t->next = cbs;
	if (cbs)
		cbs->prev = t;
	cbs = t;
	cb_arm(t, 40 * 1000);
}

static bool basic_ok(struct sb_req *r, struct chan_rt *c)
{
	if (!r->authorization || strncmp(r->authorization, "Basic ", 6))
		return false;
	char want[200], enc[300];
	snprintf(want, sizeof want, "%s:%s", c->account, c->token);
	sodium_bin2base64(enc, sizeof enc, (const unsigned char *)want, strlen(want),
			  sodium_base64_VARIANT_ORIGINAL);
	const char *got = r->authorization + 6;
	bool ok = strlen(got) == strlen(enc) && !sodium_memcmp(got, enc, strlen(enc));
	sodium_memzero(want, sizeof want);
	return ok;
}

/* The first value of name in the form body, decoded ('+' is a space), in the arena. */
static const char *form_get(struct sb_req *r, const char *name)
{
	size_t nl = strlen(name);
	const char *p = sb_buf_cstr(&r->body);
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		if (seg > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			char *v = sb_arena_strndup(&r->arena, p + nl + 1, seg - nl - 1);
			long n = sb_url_decode(v, v, seg - nl - 1, true);
			if (n < 0)
				return NULL;
			v[n] = '\0';
			return v;
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	return NULL;
}

void sb_sandbox_route(struct sb_req *r, const char **s, int n)
{
	/* s: sms, <key>, 2010-04-01, Accounts, <AC>, Messages.json | Messages, <SID>.json */
	if (n < 6 || strcmp(s[0], "sms") || strcmp(s[2], "2010-04-01") || strcmp(s[3], "Accounts"))
		return sb_http_error(r, 404, "not_found", "no such sandbox resource");
	struct chan_rt *c = sb_chan_by_key(s[1]);
	if (!c || !c->row.sandbox || strcmp(s[4], c->account))
		return twilio_error(r, 404, 20404, "The requested resource was not found");
	if (!basic_ok(r, c)) {
		sb_http_respond(r, 401, "application/json",
				"{\"code\":20003,\"detail\":\"Your AccountSid or AuthToken was "
				"incorrect.\",\"message\":\"Authenticate\",\"more_info\":"
				"\"https://www.twilio.com/docs/errors/20003\",\"status\":401}",
				strlen("{\"code\":20003,\"detail\":\"Your AccountSid or AuthToken was "
				       "incorrect.\",\"message\":\"Authenticate\",\"more_info\":"
				       "\"https://www.twilio.com/docs/errors/20003\",\"status\":401}"));
		return;
	}
	if (n == 7 && !strcmp(s[5], "Messages") && r->method == SB_GET) {
		char sid[40];
		snprintf(sid, sizeof sid, "%.34s", s[6]);
		struct sb_buf b;
		sb_buf_init(&b, 0);
		if (strlen(s[6]) != 39 || strcmp(s[6] + 34, ".json") ||
		    sb_store_sandbox_get(sb_hub_store(), sid, &b)) {
			sb_buf_free(&b);
			return twilio_error(r, 404, 20404, "The requested resource was not found");
		}
		/* reshape our record as Twilio's resource: sid and status are what matter */
		struct sb_arena a = { 0 };
		struct sb_json *j;
		struct sb_str st = SB_STR("queued");
		if (!sb_json_parse(&a, sb_buf_data(&b), b.len, &j, NULL))
			sb_json_str(j, "status", &st);
		char out[200];
		int len = snprintf(out, sizeof out, "{\"sid\":\"%s\",\"status\":\"%.*s\"}", sid,
				   (int)st.len, st.p);
		sb_arena_free(&a);
		sb_buf_free(&b);
		return sb_http_respond(r, 200, "application/json", out, (size_t)len);
	}
	if (n != 6 || strcmp(s[5], "Messages.json") || r->method != SB_POST)
		return twilio_error(r, 404, 20404, "The requested resource was not found");
	const char *to = form_get(r, "To"), *from = form_get(r, "From"),
		   *body = form_get(r, "Body"), *cb = form_get(r, "StatusCallback");
	if (!to || !*to)
		return twilio_error(r, 400, 21604, "A 'To' phone number is required.");
	if (!body || !*body)
		return twilio_error(r, 400, 21602, "Message body is required.");
	static const struct {
		const char *to;
		int code;
		const char *msg;
	} magic[] = {
		{ "+15005550001", 21211, "The 'To' number is not a valid phone number." },
		{ "+15005550002", 21612, "The 'To' phone number is not currently reachable via SMS." },
		{ "+15005550003", 21408, "Permission to send an SMS has not been enabled for the "
					 "region indicated by the 'To' number." },
		{ "+15005550004", 21610, "Attempt to send to unsubscribed recipient" },
		{ "+15005550009", 21614, "'To' number is not a valid mobile number" },
	};
	for (size_t i = 0; i < sizeof magic / sizeof magic[0]; i++)
		if (!strcmp(to, magic[i].to))
			return twilio_error(r, 400, magic[i].code, magic[i].msg);
	if (sb_store_optout_get(sb_hub_store(), c->row.tenant, c->row.sender, to) == 1)
		return twilio_error(r, 400, 21610, "Attempt to send to unsubscribed recipient");
	struct create_ctx *cc = sb_arena_alloc(&r->arena, sizeof *cc);
	memset(cc, 0, sizeof *cc);
	snprintf(cc->account, sizeof cc->account, "%s", c->account);
	snprintf(cc->token, sizeof cc->token, "%s", c->token);
	cc->tenant = c->row.tenant;
	cc->channel = c->row.id;
	unsigned char raw[16];
	sb_random(raw, sizeof raw);
	cc->sid[0] = 'S';
	cc->sid[1] = 'M';
	sb_hex(raw, sizeof raw, cc->sid + 2);
	snprintf(cc->to, sizeof cc->to, "%s", to);
	snprintf(cc->from, sizeof cc->from, "%s", from ? from : c->row.sender);
	snprintf(cc->callback, sizeof cc->callback, "%s", cb ? cb : "");
	cc->body = body;
	sb_http_write(r, create_run, create_done, cc);
}

/* ---- the simulator: play the customer ---- */

struct sim {
	struct sb_req *r;
	struct sb_wjob job;
	int64_t tenant, channel;
	char sid[40], from[40], reply[400];
	char *body;
	int status;
};

static int sim_record_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct sim *m = r->ctx;
	int rc = sb_tx_sandbox_record(tx, m->tenant, m->channel, m->sid, 0, m->from, m->body,
				      m->status == 200 ? "received" : "failed", NULL, NULL);
	if (!rc && m->reply[0]) {
		char sid[40];
		unsigned char raw[16];
		sb_random(raw, sizeof raw);
		sid[0] = 'S';
		sid[1] = 'M';
		sb_hex(raw, sizeof raw, sid + 2);
		rc = sb_tx_sandbox_record(tx, m->tenant, m->channel, sid, 1, m->from, m->reply,
					  "delivered", NULL, NULL);
	}
	return rc;
}

static void sim_recorded(struct sb_req *r, int rc)
{
	struct sim *m = r->ctx;
	char out[200];
	int n = snprintf(out, sizeof out, "{\"sid\":\"%s\",\"webhook_status\":%d}", m->sid,
			 m->status);
	free(m->body);
	if (rc)
		return sb_http_err(r, rc, NULL);
	sb_http_respond(r, m->status == 200 ? 202 : 502, "application/json", out, (size_t)n);
}

/* TwiML <Message> text, unescaped, for the simulator's record of an auto-reply. */
static void twiml_reply(const char *xml, size_t n, char *out, size_t cap)
{
	out[0] = '\0';
	const char *end = xml + n, *p = memmem(xml, n, "<Message>", 9);
	if (!p)
		return;
	p += 9;
	const char *q = memmem(p, (size_t)(end - p), "</Message>", 10);
	if (!q)
		return;
	size_t o = 0;
	while (p < q && o + 1 < cap) {
		static const struct {
			const char *ent;
			char c;
		} ents[] = { { "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' }, { "&quot;", '"' },
			     { "&apos;", '\'' } };
		bool hit = false;
		for (size_t i = 0; i < 5 && !hit; i++) {
			size_t l = strlen(ents[i].ent);
			if ((size_t)(q - p) >= l && !strncmp(p, ents[i].ent, l)) {
				out[o++] = ents[i].c;
				p += l;
				hit = true;
			}
		}
		if (!hit)
			out[o++] = *p++;
	}
	/* cut short: never in the middle of a UTF-8 sequence */
	if (p < q)
		while (o && ((unsigned char)out[o] & 0xc0) == 0x80)
			o--;
	out[o] = '\0';
}

static void sim_posted(void *arg, const struct sb_httpc_res *res)
{
	struct sb_req *r = arg;
	struct sim *m = r->ctx;
	char *body = m->body; /* m lives in the request's arena: gone if the client left */
	if (!sb_http_release(r)) {
		free(body);
		return;
	}
	if (res->abandoned) {
		free(body);
		sb_http_error(r, 503, "stopping", "The hub is stopping; send it again.");
		return;
	}
	m->status = res->status;
	if (res->status == 200 && res->body)
		twiml_reply(res->body, res->body_len, m->reply, sizeof m->reply);
	sb_http_write(r, sim_record_run, sim_recorded, m);
}

void sb_sandbox_simulate(struct sb_req *r, struct chan_rt *c)
{
	if (!sb_http_body_json(r))
		return;
	static const char *const f[] = { "from", "body", NULL };
	const char *from, *body;
	if (!api__fields_ok(r, f) || !api__req_str(r, "from", 16, &from) ||
	    !api__req_str(r, "body", 1600, &body))
		return;
	size_t fl = strlen(from);
	bool ok = from[0] == '+' && fl >= 9;
	for (size_t i = 1; ok && i < fl; i++)
		ok = from[i] >= '0' && from[i] <= '9';
	if (!ok)
		return sb_http_error(r, 400, "invalid", "\"from\" must be E.164, like +14155550123");
	struct sim *m = sb_arena_alloc(&r->arena, sizeof *m);
	memset(m, 0, sizeof *m);
	m->tenant = c->row.tenant;
	m->channel = c->row.id;
	snprintf(m->from, sizeof m->from, "%s", from);
	m->body = sb_strdup(body);
	unsigned char raw[16];
	sb_random(raw, sizeof raw);
	m->sid[0] = 'S';
	m->sid[1] = 'M';
	sb_hex(raw, sizeof raw, m->sid + 2);
	r->ctx = m;
	char url[600];
	snprintf(url, sizeof url, "%s/webhooks/%s/%s", sb_hub_config()->public_url, c->row.kind,
		 c->row.key);
	struct kv p[] = {
		{ "ToCountry", "US" },       { "SmsMessageSid", m->sid }, { "NumMedia", "0" },
		{ "SmsSid", m->sid },        { "SmsStatus", "received" }, { "Body", body },
		{ "To", c->row.sender },     { "NumSegments", "1" },      { "MessageSid", m->sid },
		{ "AccountSid", c->account }, { "From", from },            { "ApiVersion", "2010-04-01" },
	};
	sb_http_hold(r);
	post_signed(c->token, url, p, sizeof p / sizeof p[0], sim_posted, r);
}
