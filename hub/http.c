/* SPDX-License-Identifier: MIT
 * http.c: the HTTP/1.1 side of hubd on lws: one struct sb_req per request, body collection
 * with a size cap, answers written in WRITEABLE (never from another thread), and the bridge
 * between a request and its write job: a request whose connection drops while its job is
 * in the writer's queue is detached (wsi = NULL) and freed when the job completes.
 */
#include "hub.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#define BODY_CAP (256 * 1024)
#define BODY_SECONDS SB_HTTP_TIMEOUT_SECONDS

struct http_pss {
	struct sb_req *req;
};

static uint64_t req_counter;

static void req_free(struct sb_req *r)
{
	if (!r)
		return;
	free(r->path);
	free(r->query);
	free(r->route);
	free(r->cookie);
	free(r->csrf);
	free(r->authorization);
	free(r->content_type);
	free(r->origin);
	free(r->twilio_sig);
	free(r->idem);
	sb_buf_free(&r->body);
	sb_buf_free(&r->out);
	sb_buf_free(&r->headers);
	sb_arena_free(&r->arena);
	sodium_memzero(&r->auth, sizeof r->auth);
	free(r);
}

static char *hdr_dup(struct lws *wsi, enum lws_token_indexes t)
{
	int n = lws_hdr_total_length(wsi, t);
	if (n <= 0)
		return NULL;
	char *p = sb_malloc((size_t)n + 1);
	if (lws_hdr_copy(wsi, p, n + 1, t) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static char *custom_dup(struct lws *wsi, const char *name)
{
	int n = lws_hdr_custom_length(wsi, name, (int)strlen(name));
	if (n <= 0)
		return NULL;
	char *p = sb_malloc((size_t)n + 1);
	if (lws_hdr_custom_copy(wsi, p, n + 1, name, (int)strlen(name)) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static char *query_dup(struct lws *wsi)
{
	/* lws splits the query into '&'-separated fragments; join them back */
	struct sb_buf b;
	sb_buf_init(&b, 0);
	char frag[1024];
	for (int i = 0;; i++) {
		int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n <= 0)
			break;
		if (b.len)
			sb_buf_addc(&b, '&');
		sb_buf_add(&b, frag, (size_t)n);
	}
	if (!b.len) {
		sb_buf_free(&b);
		return NULL;
	}
	return sb_buf_steal(&b, NULL);
}

static struct sb_req *req_start(struct lws *wsi)
{
	char *uri;
	int ulen;
	int m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
	struct sb_req *r = sb_calloc(1, sizeof *r);
	r->wsi = wsi;
	r->t_start = sb_now_us();
	switch (m) {
	case LWSHUMETH_GET: r->method = SB_GET; break;
	case LWSHUMETH_POST: r->method = SB_POST; break;
	case LWSHUMETH_PUT: r->method = SB_PUT; break;
	case LWSHUMETH_PATCH: r->method = SB_PATCH; break;
	case LWSHUMETH_DELETE: r->method = SB_DELETE; break;
	case LWSHUMETH_HEAD: r->method = SB_HEAD; break;
	case LWSHUMETH_OPTIONS: r->method = SB_OPTIONS; break;
	default: r->method = 0;
	}
	r->path = m >= 0 ? sb_strndup(uri, (size_t)ulen) : sb_strdup("/");
	r->query = query_dup(wsi);
	r->cookie = hdr_dup(wsi, WSI_TOKEN_HTTP_COOKIE);
	r->authorization = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	r->content_type = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
	r->origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN);
	r->csrf = custom_dup(wsi, "x-csrf-token:");
	r->twilio_sig = custom_dup(wsi, "x-twilio-signature:");
	r->idem = custom_dup(wsi, "i-twilio-idempotency-token:");
	/* "<µs clock & 0xffffff in hex>-<counter in hex>", without snprintf (hot path) */
	size_t n = sb_fmt_u64(r->rid, r->t_start & 0xffffff, 16);
	r->rid[n++] = '-';
	sb_fmt_u64(r->rid + n, ++req_counter, 16);
	sb_buf_init(&r->body, 0);
	sb_buf_init(&r->out, 0);
	sb_buf_init(&r->headers, 0);
	r->body_cap = BODY_CAP;
	return r;
}

void sb_http_header(struct sb_req *r, const char *name, const char *value)
{
	sb_buf_printf(&r->headers, "%s: %s\r\n", name, value);
}

void sb_http_respond(struct sb_req *r, int status, const char *ctype, const char *body,
		     size_t len)
{
	SB_ASSERT(!r->answered);
	r->answered = true;
	r->status = status;
	r->ctype = ctype;
	if (body && len)
		sb_buf_add(&r->out, body, len);
	sb_metrics_request(r->route ? r->route : "other", status, sb_now_us() - r->t_start);
	sb_log(status >= 500 ? SB_LOG_WARN : SB_LOG_DEBUG,
	       "msg=http rid=%s tenant=%lld agent=%lld method=%d route=%s status=%d us=%llu",
	       r->rid, (long long)r->auth.tenant, (long long)r->auth.agent, r->method,
	       r->route ? r->route : "other", status,
	       (unsigned long long)(sb_now_us() - r->t_start));
	if (r->wsi)
		lws_callback_on_writable(r->wsi);
}

void sb_http_json(struct sb_req *r, int status, struct sb_buf *json)
{
	sb_http_respond(r, status, "application/json", sb_buf_data(json), json->len);
	sb_buf_free(json);
}

void sb_http_error(struct sb_req *r, int status, const char *code, const char *msg)
{
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_buf_adds(&b, "{\"error\":{\"code\":");
	sb_json_escz(&b, code);
	sb_buf_adds(&b, ",\"message\":");
	sb_json_escz(&b, msg);
	sb_buf_adds(&b, "}}");
	sb_http_json(r, status, &b);
}

void sb_http_err(struct sb_req *r, int err, const char *msg)
{
	switch (err) {
	case SB_EINVAL: sb_http_error(r, 400, "invalid", msg ? msg : "invalid request"); break;
	case SB_ENOTFOUND: sb_http_error(r, 404, "not_found", msg ? msg : "not found"); break;
	case SB_EAUTH: sb_http_error(r, 401, "unauthenticated", msg ? msg : "log in first"); break;
	case SB_EFORBIDDEN:
		sb_http_error(r, 403, "forbidden", msg ? msg : "not allowed for your role");
		break;
	case SB_ECONFLICT: sb_http_error(r, 409, "conflict", msg ? msg : "already exists"); break;
	case SB_ETOOBIG: sb_http_error(r, 413, "too_big", msg ? msg : "request too large"); break;
	case SB_ERATE:
		sb_http_error(r, 429, "rate_limited", msg ? msg : "too many requests");
		break;
	case SB_EPOLICY: sb_http_error(r, 422, "refused", msg ? msg : "refused by policy"); break;
	case SB_EBUSY:
	case SB_EDB:
		sb_http_header(r, "Retry-After", "1");
		sb_http_error(r, 503, "unavailable", "the database is busy; try again");
		break;
	default: sb_http_error(r, 500, "internal", "internal error"); break;
	}
}

const char *sb_http_qparam(struct sb_req *r, const char *name)
{
	if (!r->query)
		return NULL;
	size_t nl = strlen(name);
	const char *p = r->query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		if (seg > nl && !strncmp(p, name, nl) && p[nl] == '=')
			/* lws has already decoded each argument: decoding again would turn a
			 * literal "%2B" or "+" into something else */
			return sb_arena_strndup(&r->arena, p + nl + 1, seg - nl - 1);
		if (!amp)
			break;
		p = amp + 1;
	}
	return NULL;
}

bool sb_http_body_json(struct sb_req *r)
{
	if (!r->content_type || strncasecmp(r->content_type, "application/json", 16)) {
		sb_http_error(r, 415, "unsupported_media_type", "send Content-Type: application/json");
		return false;
	}
	const char *err = NULL;
	int rc = sb_json_parse(&r->arena, sb_buf_data(&r->body), r->body.len, &r->json, &err);
	if (rc == SB_ETOOBIG) {
		sb_http_error(r, 413, "too_big", err);
		return false;
	}
	if (rc || r->json->type != SB_JSON_OBJECT) {
		sb_http_error(r, 400, "malformed_json",
			      rc ? "the body is not valid JSON (UTF-8)" : "expected a JSON object");
		return false;
	}
	return true;
}

/* ---- write jobs ---- */

void sb_http_hold(struct sb_req *r)
{
	r->pending++;
}

bool sb_http_release(struct sb_req *r)
{
	SB_ASSERT(r->pending > 0);
	r->pending--;
	if (r->wsi)
		return true;
	if (!r->pending) /* the client went away; what it asked for still happened */
		req_free(r);
	return false;
}

static void job_done(void *arg, int rc)
{
	struct sb_req *r = arg;
	r->job.run = NULL;
	if (sb_http_release(r))
		r->wdone(r, rc);
}

static void http_write(struct sb_req *r, sb_store_run_fn run, void (*done)(struct sb_req *r, int rc),
		       void *ctx, bool replayable)
{
	SB_ASSERT(!r->job.run);
	r->job.run = run;
	r->job.replayable = replayable;
	r->job.done = job_done;
	r->job.arg = r;
	r->ctx = ctx;
	r->wdone = done;
	sb_http_hold(r);
	sb_store_submit(sb_hub_store(), &r->job);
}

void sb_http_write(struct sb_req *r, sb_store_run_fn run, void (*done)(struct sb_req *r, int rc),
		   void *ctx)
{
	http_write(r, run, done, ctx, false);
}

void sb_http_write_replayable(struct sb_req *r, sb_store_run_fn run,
			      void (*done)(struct sb_req *r, int rc), void *ctx)
{
	http_write(r, run, done, ctx, true);
}

/* ---- the protocol ---- */

static void dispatch(struct sb_req *r)
{
	/* lws may also report a body completion for an empty body: answer once */
	if (r->dispatched)
		return;
	r->dispatched = true;
	/* while draining, requests already on a connection are still served (nothing is
	 * refused during an upgrade), and the client is told to reconnect: to a new worker */
	if (sb_hub_draining())
		sb_http_header(r, "Connection", "close");
	if (r->body_too_big) {
		r->route = sb_strdup("too_big");
		sb_http_header(r, "Connection", "close");
		sb_http_error(r, 413, "too_big", "the body is larger than the limit");
		return;
	}
	sb_api_route(r);
}

/* The header lines every answer carries after the status and the content headers: the
 * handler's extra ones ("Name: value\r\n" lines), then ours. 0, or -1 when they do not fit. */
static int add_headers(struct lws *wsi, struct sb_req *r, unsigned char **p, unsigned char *end)
{
	const char *h = sb_buf_cstr(&r->headers);
	while (*h) {
		const char *colon = strchr(h, ':'), *eol = strstr(h, "\r\n");
		if (!colon || !eol)
			break;
		char name[64];
		size_t nl = (size_t)(colon - h) < sizeof name - 2 ? (size_t)(colon - h) : sizeof name - 2;
		memcpy(name, h, nl);
		name[nl] = ':';
		name[nl + 1] = '\0';
		const char *v = colon + 2;
		if (lws_add_http_header_by_name(wsi, (unsigned char *)name, (unsigned char *)v,
						(int)(eol - v), p, end))
			return -1;
		h = eol + 2;
	}
	/* the vhost adds the security headers; API answers are never cached */
	static char wk[16];
	static int wk_len;
	if (!wk_len)
		wk_len = snprintf(wk, sizeof wk, "%d", sb_hub_worker());
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-sb-worker:",
					(const unsigned char *)wk, wk_len, p, end))
		return -1;
	return 0;
}

/* Answers of at most this size leave in one write, headers and body together. */
#define ONE_WRITE_MAX 16384

static int write_answer(struct lws *wsi, struct sb_req *r)
{
	if (!r->headers_sent && r->out.len <= ONE_WRITE_MAX) {
		/* one send() for the whole answer: the Content-Length is written as a plain header,
		 * so lws keeps no count of body bytes still owed (lws copies whatever the socket
		 * does not take at once and sends it before the next request is read) */
		static unsigned char buf[LWS_PRE + 2048 + ONE_WRITE_MAX];
		size_t body = r->method != SB_HEAD ? r->out.len : 0;
		if (r->headers.len + body > sizeof buf - LWS_PRE - 1024)
			goto headers_apart;
		unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - body - 1;
		const char *ct = r->ctype ? r->ctype : "text/plain";
		char cl[24];
		int cl_len = (int)sb_fmt_u64(cl, r->out.len, 10);
		if (lws_add_http_header_status(wsi, (unsigned)r->status, &p, end) ||
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
						 (const unsigned char *)ct, (int)strlen(ct), &p, end) ||
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
						 (const unsigned char *)cl, cl_len, &p, end) ||
		    add_headers(wsi, r, &p, end) || lws_finalize_http_header(wsi, &p, end))
			return -1;
		if (body) {
			memcpy(p, sb_buf_data(&r->out), body);
			p += body;
		}
		if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0)
			return -1;
		r->headers_sent = true;
		r->sent = r->out.len;
	}
headers_apart:
	if (!r->headers_sent) {
		size_t hcap = LWS_PRE + 1024 + r->headers.len;
		unsigned char *buf = sb_malloc(hcap);
		unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + hcap - 1;
		const char *ct = r->ctype ? r->ctype : "text/plain";
		if (lws_add_http_common_headers(wsi, (unsigned)r->status, ct, r->out.len, &p, end) ||
		    add_headers(wsi, r, &p, end)) {
			free(buf);
			return -1;
		}
		int rc = lws_finalize_write_http_header(wsi, start, &p, end);
		free(buf);
		if (rc)
			return -1;
		r->headers_sent = true;
		/* the body follows at once unless lws had to keep part of the headers */
		if (r->out.len && r->method != SB_HEAD && lws_partial_buffered(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	if (r->sent < r->out.len && r->method != SB_HEAD) {
		size_t chunk = r->out.len - r->sent;
		if (chunk > 16384)
			chunk = 16384;
		bool last = r->sent + chunk == r->out.len;
		unsigned char *buf = sb_malloc(LWS_PRE + chunk);
		memcpy(buf + LWS_PRE, sb_buf_data(&r->out) + r->sent, chunk);
		int n = lws_write(wsi, buf + LWS_PRE, chunk,
				  last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
		free(buf);
		if (n < 0)
			return -1;
		r->sent += chunk;
		if (!last) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	/* done: keep-alive unless told to close */
	bool close = strstr(sb_buf_cstr(&r->headers), "Connection: close") != NULL;
	struct http_pss *pss = lws_wsi_user(wsi);
	pss->req = NULL;
	req_free(r);
	if (close)
		return -1;
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct http_pss *pss = user;
	struct sb_req *r = pss ? pss->req : NULL;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		sb_hub_on_cancel();
		return 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* HTTP/1.1 only: an "Upgrade: h2c" is answered as the plain HTTP/1.1 request it
		 * also is (1 = serve as HTTP, never -1: refusing here reaches a use-after-free in
		 * lws 4.1.6; WebSocket authentication and the Origin check live in
		 * FILTER_PROTOCOL_CONNECTION) */
		if (in && !strcasecmp((const char *)in, "h2c"))
			return 1;
		return 0;
	case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
		sb_metrics_gauge_http(1);
		break;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		sb_metrics_gauge_http(-1);
		break;
	case LWS_CALLBACK_HTTP: {
		if (r) { /* a previous request never finished: should not happen */
			pss->req = NULL;
			req_free(r);
		}
		r = req_start(wsi);
		pss->req = r;
		/* lws has just armed PENDING_TIMEOUT_HTTP_CONTENT with the context's timeout_secs,
		 * which is BODY_SECONDS (main.c): arming it again cost one more walk of lws's
		 * sorted timer list (O(connections)) per request */
		char cl[32] = "";
		lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
		unsigned long long clen = strtoull(cl, NULL, 10);
		bool chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
		if ((clen > 0 || chunked) && (r->method == SB_POST || r->method == SB_PUT ||
					      r->method == SB_PATCH || r->method == SB_DELETE)) {
			if (clen > r->body_cap)
				r->body_too_big = true;
			return 0; /* wait for the body (a too-big one is read and dropped) */
		}
		dispatch(r);
		return 0;
	}
	case LWS_CALLBACK_HTTP_BODY:
		if (!r)
			return -1;
		/* lws re-arms its timeout on every chunk: a body trickled byte by byte would hold
		 * the connection for ever, so the whole body gets BODY_SECONDS from the request */
		if (sb_now_us() - r->t_start > BODY_SECONDS * 1000000ull) {
			sb_log(SB_LOG_INFO, "msg=slow_body_closed rid=%s", r->rid);
			sb_metrics_inc("sb_http_slow_body_closed_total", 1);
			return -1;
		}
		if (r->body_too_big || r->body.len + len > r->body_cap) {
			r->body_too_big = true;
			sb_buf_free(&r->body);
			return 0;
		}
		sb_buf_add(&r->body, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!r)
			return -1;
		lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
		dispatch(r);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!r)
			break; /* a static file: lws's own writer */
		if (!r->answered)
			return 0;
		return write_answer(wsi, r);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (r) {
			pss->req = NULL;
			if (r->pending) {
				/* a write or a hash is under way: its completion frees it */
				r->wsi = NULL;
			} else {
				req_free(r);
			}
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols sb_http_protocol = {
	.name = "sb-http",
	.callback = cb_http,
	.per_session_data_size = sizeof(struct http_pss),
	.rx_buffer_size = 4096,
};
