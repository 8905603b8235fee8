/* SPDX-License-Identifier: MIT
 * httpc.c: outbound HTTP for the hub (provider sends, lookups, the sandbox's callbacks), on
 * one thread that owns a libcurl multi handle: keep-alive connections reused per host, at
 * most SB_PROVIDER_CONNS (512) per host, connect and total timeouts, no redirects. Results go
 * back to the service thread through the loop mailbox; nothing here touches lws or sqlite.
 *
 * HTTP/1.1 by default. With provider_http2, https hosts are offered HTTP/2 (ALPN) and requests
 * share connections as streams, so a slow provider is not capped at one request in flight
 * per connection.
 * It is off by default because Debian 12's libcurl 7.88.1 is unsteady there under load: a
 * refused stream closes the whole connection and its other streams come back as refused
 * resends (ambiguous: settled by callback or lookup, never resent blindly), and now and then
 * "Error in the HTTP2 framing layer" (docs/INTERNALS.md, "Outbound HTTP"). Plain http is
 * always HTTP/1.1: 7.88.1 breaks reused h2c prior-knowledge connections (curl #10634).
 */
#include "hub.h"
#include "httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Connections per provider host. One host (api.twilio.com) serves every tenant, and each
 * channel is capped by its own max_inflight (16 by default), so the host cap is what all
 * tenants share: 64 let four busy channels take every connection, and at 50 ms an answer
 * capped the whole hub at 1,280 sends a second over HTTP/1.1 (512: 10,240, B5 measured
 * 5,000 at 50 ms). SB_PROVIDER_CONNS, 1..4096. */
#define HTTPC_HOST_CONNS_DEFAULT 512
#define HTTPC_BODY_MAX (256 * 1024)
/* Easy handles kept for reuse: a fresh one costs libcurl a few large allocations (its
 * state, the download and upload buffers, ~90 KB in all) and their zeroing, every send. The
 * pool keeps at most 64 (four busy channels at the default max_inflight), so what a burst
 * leaves behind is bounded (~6 MB); handles beyond it are made and freed as before. */
#define HTTPC_POOL 64

struct sb_httpc_job {
	struct sb_httpc_job *next;
	struct sb_httpc_job *run_prev, *run_next; /* in hc.running while libcurl has it */
	CURL *easy;
	struct curl_slist *hdrs;
	char *url, *body;
	size_t body_len;
	bool requested, resend_refused; /* see on_prereq */
	struct sb_buf resp;
	struct sb_httpc_res res;
	void (*done)(void *arg, const struct sb_httpc_res *res);
	void *arg;
};

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	CURLM *multi;
	struct sb_httpc_job *queue;
	struct sb_httpc_job *running; /* added to the multi handle (the client's thread only) */
	bool woken; /* a wake-up is on its way and the queue not yet taken */
	CURL *pool[HTTPC_POOL]; /* reset handles, ready for the next job */
	size_t npool;
	bool stop, started;
	int active;
	long connect_ms, total_ms;
	char *ca_file;
	bool http2;
} hc = { .mu = PTHREAD_MUTEX_INITIALIZER };

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct sb_httpc_job *j = ud;
	size_t len = sz * n;
	if (j->resp.len + len > HTTPC_BODY_MAX)
		return 0; /* too big: the transfer fails, the result is ambiguous */
	sb_buf_add(&j->resp, p, len);
	return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct sb_httpc_job *j = ud;
	size_t len = sz * n;
	if (len > 12 && !strncasecmp(p, "retry-after:", 12)) {
		size_t v = 12;
		while (v < len && (p[v] == ' ' || p[v] == '\t'))
			v++;
		size_t e = len;
		while (e > v && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '))
			e--;
		snprintf(j->res.retry_after, sizeof j->res.retry_after, "%.*s", (int)(e - v), p + v);
	}
	return len;
}

/* libcurl resends a request on its own when a reused keep-alive connection dies before any
 * answer (a "retry" on a fresh connection), which for a provider's create could send a
 * message twice. Every send, first or again, passes through the pre-request callback just
 * before its request is written: the second time for one transfer is that resend, and it
 * is refused. The transfer then fails (CURLE_ABORTED_BY_CALLBACK), counted as sent, and the
 * outbox treats it as ambiguous. The body itself is given as POSTFIELDS, so libcurl writes
 * it with the headers in one send (one loopback segment and one wake of the provider, not
 * two). */
static int on_prereq(void *ud, char *remote_ip, char *local_ip, int remote_port, int local_port)
{
	(void)remote_ip;
	(void)local_ip;
	(void)remote_port;
	(void)local_port;
	struct sb_httpc_job *j = ud;
	if (j->requested) {
		j->resend_refused = true;
		return CURL_PREREQFUNC_ABORT;
	}
	j->requested = true;
	return CURL_PREREQFUNC_OK;
}

/* A handle with every option at its default: from the pool, or a new one. */
static CURL *easy_get(void)
{
	CURL *e = NULL;
	pthread_mutex_lock(&hc.mu);
	if (hc.npool)
		e = hc.pool[--hc.npool];
	pthread_mutex_unlock(&hc.mu);
	return e ? e : curl_easy_init();
}

/* Back to the pool, its options reset (curl_easy_reset keeps no request state; the
 * connections stay with the multi handle's cache either way). */
static void easy_put(CURL *e)
{
	curl_easy_reset(e);
	pthread_mutex_lock(&hc.mu);
	if (hc.started && hc.npool < HTTPC_POOL) {
		hc.pool[hc.npool++] = e;
		e = NULL;
	}
	pthread_mutex_unlock(&hc.mu);
	if (e)
		curl_easy_cleanup(e);
}

static void job_free(struct sb_httpc_job *j)
{
	if (j->easy)
		easy_put(j->easy);
	curl_slist_free_all(j->hdrs);
	free(j->url);
	free(j->body);
	sb_buf_free(&j->resp);
	free(j);
}

static void deliver(void *arg)
{
	struct sb_httpc_job *j = arg;
	j->res.body = sb_buf_data(&j->resp);
	j->res.body_len = j->resp.len;
	j->done(j->arg, &j->res);
	job_free(j);
}

static void running_del(struct sb_httpc_job *j)
{
	if (j->run_prev)
		j->run_prev->run_next = j->run_next;
	else
		hc.running = j->run_next;
	if (j->run_next)
		j->run_next->run_prev = j->run_prev;
	j->run_prev = j->run_next = NULL;
}

/* At sb_httpc_fini: the job's done is told that no answer will come (so its owner can free
 * what it holds), and whether the request may have left (the prerequest callback ran). */
static void abandon(struct sb_httpc_job *j)
{
	j->res.abandoned = true;
	j->res.sent = j->requested;
	snprintf(j->res.error, sizeof j->res.error, "hub is stopping");
	deliver(j);
}

static void finish(CURLMsg *m)
{
	struct sb_httpc_job *j;
	curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
	curl_multi_remove_handle(hc.multi, m->easy_handle);
	running_del(j);
	hc.active--;
	CURLcode cc = m->data.result;
	long status = 0, req_size = 0;
	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(j->easy, CURLINFO_REQUEST_SIZE, &req_size);
	j->res.curl_code = (int)cc;
	j->res.status = cc == CURLE_OK ? (int)status : 0;
	/* did any byte of the request leave? if not, the provider cannot have acted on it */
	j->res.sent = req_size > 0 && cc != CURLE_COULDNT_CONNECT &&
		      cc != CURLE_COULDNT_RESOLVE_HOST && cc != CURLE_COULDNT_RESOLVE_PROXY &&
		      cc != CURLE_PEER_FAILED_VERIFICATION && cc != CURLE_SSL_CONNECT_ERROR &&
		      cc != CURLE_SSL_CACERT_BADFILE; /* a TLS handshake precedes any request byte */
	if (j->resend_refused)
		j->res.sent = true; /* the first attempt's request went out before its connection died */
	if (cc != CURLE_OK)
		snprintf(j->res.error, sizeof j->res.error, "%s", curl_easy_strerror(cc));
	sb_loop_post(deliver, j);
}

static void *httpc_main(void *unused)
{
	(void)unused;
	for (;;) {
		pthread_mutex_lock(&hc.mu);
		bool stop = hc.stop;
		if (stop) {
			/* what is still queued stays there: sb_httpc_fini abandons it */
			pthread_mutex_unlock(&hc.mu);
			break;
		}
		struct sb_httpc_job *q = hc.queue;
		hc.queue = NULL;
		hc.woken = false;
		pthread_mutex_unlock(&hc.mu);
		/* jobs were pushed newest first: add them oldest first */
		struct sb_httpc_job *rev = NULL;
		while (q) {
			struct sb_httpc_job *n = q->next;
			q->next = rev;
			rev = q;
			q = n;
		}
		for (; rev; rev = rev->next) {
			curl_multi_add_handle(hc.multi, rev->easy);
			rev->run_next = hc.running;
			if (hc.running)
				hc.running->run_prev = rev;
			hc.running = rev;
			hc.active++;
		}
		int running;
		curl_multi_perform(hc.multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(hc.multi, &left)))
			if (m->msg == CURLMSG_DONE)
				finish(m);
		curl_multi_poll(hc.multi, NULL, 0, 200, NULL);
	}
	return NULL;
}

int sb_httpc_init(long connect_ms, long total_ms, const char *ca_file, bool http2)
{
	hc.http2 = http2;
	if (ca_file && *ca_file && access(ca_file, R_OK)) {
		sb_log(SB_LOG_ERR, "msg=provider_ca_unreadable path=%s err=\"%s\"", ca_file,
		       strerror(errno));
		return SB_EINVAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return SB_ENOMEM;
	free(hc.ca_file);
	hc.ca_file = ca_file && *ca_file ? sb_strdup(ca_file) : NULL;
	hc.multi = curl_multi_init();
	const char *hv = getenv("SB_PROVIDER_CONNS");
	long host_conns = hv ? atol(hv) : HTTPC_HOST_CONNS_DEFAULT;
	if (host_conns < 1 || host_conns > 4096) {
		sb_log(SB_LOG_WARN, "msg=provider_conns_ignored value=\"%s\" used=%d", hv,
		       HTTPC_HOST_CONNS_DEFAULT);
		host_conns = HTTPC_HOST_CONNS_DEFAULT;
	}
	curl_multi_setopt(hc.multi, CURLMOPT_MAX_HOST_CONNECTIONS, host_conns);
	curl_multi_setopt(hc.multi, CURLMOPT_MAXCONNECTS, host_conns * 2);
	curl_multi_setopt(hc.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	hc.connect_ms = connect_ms;
	hc.total_ms = total_ms;
	hc.stop = false;
	if (pthread_create(&hc.thread, NULL, httpc_main, NULL))
		return SB_ENOMEM;
	hc.started = true;
	return 0;
}

void sb_httpc_fini(void)
{
	if (!hc.started)
		return;
	pthread_mutex_lock(&hc.mu);
	hc.stop = true;
	pthread_mutex_unlock(&hc.mu);
	curl_multi_wakeup(hc.multi);
	pthread_join(hc.thread, NULL);
	hc.started = false;
	/* abandon what is queued or in flight: the outbox keeps those rows SENDING, so the next
	 * start reconciles them instead of resending; each owner frees its part */
	while (hc.running) {
		struct sb_httpc_job *j = hc.running;
		curl_multi_remove_handle(hc.multi, j->easy);
		running_del(j);
		hc.active--;
		abandon(j);
	}
	pthread_mutex_lock(&hc.mu);
	struct sb_httpc_job *q = hc.queue;
	hc.queue = NULL;
	hc.woken = false;
	pthread_mutex_unlock(&hc.mu);
	while (q) {
		struct sb_httpc_job *n = q->next;
		abandon(q);
		q = n;
	}
	pthread_mutex_lock(&hc.mu);
	while (hc.npool)
		curl_easy_cleanup(hc.pool[--hc.npool]);
	pthread_mutex_unlock(&hc.mu);
	curl_multi_cleanup(hc.multi);
	hc.multi = NULL;
	free(hc.ca_file);
	hc.ca_file = NULL;
	curl_global_cleanup();
}

int sb_httpc_submit(const char *method, const char *url, const char *const *headers,
		    size_t n_headers, const char *body, size_t body_len, long timeout_ms,
		    void (*done)(void *arg, const struct sb_httpc_res *res), void *arg)
{
	if (!hc.started)
		return SB_EBUSY;
	struct sb_httpc_job *j = sb_calloc(1, sizeof *j);
	j->url = sb_strdup(url);
	j->done = done;
	j->arg = arg;
	sb_buf_init(&j->resp, 0);
	j->easy = easy_get();
	CURL *e = j->easy;
	curl_easy_setopt(e, CURLOPT_URL, j->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, hc.connect_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : hc.total_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
			 hc.http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
	if (hc.ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, hc.ca_file);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "switchboard-hubd/1");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, j);
	for (size_t i = 0; i < n_headers; i++)
		j->hdrs = curl_slist_append(j->hdrs, headers[i]);
	j->hdrs = curl_slist_append(j->hdrs, "Expect:");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
	if (!strcmp(method, "POST")) {
		j->body = sb_strndup(body ? body : "", body_len);
		j->body_len = body_len;
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	/* one wake-up per taking of the queue (see sb_loop_post): a batch of sends is one */
	pthread_mutex_lock(&hc.mu);
	j->next = hc.queue;
	hc.queue = j;
	bool wake = !hc.woken;
	hc.woken = true;
	pthread_mutex_unlock(&hc.mu);
	if (wake)
		curl_multi_wakeup(hc.multi);
	return 0;
}
