/* SPDX-License-Identifier: MIT
 * sbwebhook: an open-loop generator of signed Twilio inbound-SMS webhooks. Requests are
 * scheduled at fixed intervals and each one's latency is measured from its scheduled
 * time, so a slow server is charged for the queueing it causes (no coordinated omission).
 * Raw epoll, HTTP/1.1 keep-alive, one request in flight per connection.
 */
#include "bench_form.h"
#include "bench_hist.h"
#include "bench_sha1.h"
#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MAX_URLS 4096
#define MAX_EPS 16
#define MAX_CONNS 4096
#define RBUF 16384
#define TIMER_ID UINT32_MAX

/* One webhook target: the URL to connect to, the URL to sign, and its auth token. */
struct target {
	struct bench_url u;
	char sign_url[1200];
	const char *token;
	int ep;				/* endpoint index */
};

/* A scheduled request waiting for a free connection. */
struct pending {
	uint64_t sched;
	uint64_t seq;
};

/* A distinct host:port with its ring of pending requests. Lifetime: the run. */
struct endpoint {
	struct sockaddr_in addr;
	struct pending *ring;
	size_t cap, head, len;
};

enum { C_IDLE_CLOSED, C_CONNECTING, C_READY, C_BUSY };

/* One keep-alive connection: its own small response buffer, one request in flight. */
struct hconn {
	int fd;
	int st;
	int ep;
	uint64_t sched;			/* of the request in flight */
	uint64_t sent_at;
	uint64_t retry_at;		/* reconnect not before */
	size_t rlen;
	char rbuf[RBUF];
};

static struct {
	struct target *t;
	int nt;
	struct endpoint ep[MAX_EPS];
	int nep;
	struct hconn *c;
	int nc;
	int epfd;
	double rate, duration, drain, timeout;
	long from_count;
	const char *to;
	const char *token;
	const char *public_base;
	long body_pad;
	uint64_t run_id;
	uint64_t rng;
	int quiet;
	int server_pids[8];
	int nserver_pids;
	/* results */
	uint64_t scheduled, sent, answered, st_codes[6], st_200, st_other_last;
	uint64_t err_connect, err_reset, err_timeout, err_overflow, err_parse;
	struct bench_hist lat;
	uint64_t last_answer;
} g;

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "sbwebhook: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(2);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sbwebhook --url http://127.0.0.1:PORT/webhooks/sms/KEY [options]\n"
		"  --url U             target (repeatable); requests go round-robin over targets\n"
		"  --url-file F        one target per line: URL [TOKEN]\n"
		"  --token T           token for targets without their own (test_auth_token)\n"
		"  --public-base B     sign as B + path (the hub's public URL), not as the URL\n"
		"  --rate R            requests per second, open loop (default 100)\n"
		"  --duration S        scheduling time (default 10)\n"
		"  --conns C           keep-alive connections per endpoint (default 16)\n"
		"  --drain S           wait for answers after the last request (default 5)\n"
		"  --timeout S         per-request answer bound (default 15, as Twilio)\n"
		"  --from-count N      distinct From numbers (default 1000)\n"
		"  --to NUMBER         To number (default +15550100000)\n"
		"  --body-pad B        extra characters in Body (default 0)\n"
		"  --server-pid PID    report this server's CPU use (repeatable)\n"
		"  --quiet             no progress lines\n");
}

static void add_target(const char *url, const char *token)
{
	struct target *t;
	char err[256];
	int i;

	if (g.nt == MAX_URLS)
		die("too many targets", NULL);
	t = &g.t[g.nt];
	if (bench_url_parse(url, &t->u, err, sizeof(err)) < 0 || strcmp(t->u.scheme, "http"))
		die(err, url);
	t->token = token;
	if (g.public_base)
		snprintf(t->sign_url, sizeof(t->sign_url), "%s%s", g.public_base, t->u.path);
	else
		snprintf(t->sign_url, sizeof(t->sign_url), "%s", url);
	for (i = 0; i < g.nep; i++)
		if (!memcmp(&g.ep[i].addr, &t->u.addr, sizeof(t->u.addr)))
			break;
	if (i == g.nep) {
		if (g.nep == MAX_EPS)
			die("too many distinct host:port endpoints", NULL);
		g.ep[g.nep++].addr = t->u.addr;
	}
	t->ep = i;
	g.nt++;
}

/* ---- connections ---- */

static void hc_close(struct hconn *c, uint64_t now)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_IDLE_CLOSED;
	c->rlen = 0;
	c->retry_at = now;
}

static void hc_connect(struct hconn *c, uint32_t idx, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		g.err_connect++;
		c->retry_at = now + 100000000ull;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&g.ep[c->ep].addr, sizeof(g.ep[c->ep].addr)) < 0 &&
	    errno != EINPROGRESS) {
		g.err_connect++;
		hc_close(c, now);
		c->retry_at = now + 100000000ull;
		return;
	}
	ev.data.u32 = idx;
	epoll_ctl(g.epfd, EPOLL_CTL_ADD, c->fd, &ev);
	c->st = C_CONNECTING;
}

/* Builds and writes one webhook for request seq scheduled at sched. */
static void hc_send(struct hconn *c, uint64_t seq, uint64_t sched, uint64_t now)
{
	const struct target *t = &g.t[seq % (uint64_t)g.nt];
	char sid[35], from[24], body[512], sig[29], idem[40];
	static char form[8192], req[12288];
	struct bench_param p[19];
	size_t n = 0, fl = 0, i;
	ssize_t w;
	int len;

	snprintf(sid, sizeof(sid), "SM%016llx%016llx", (unsigned long long)g.run_id,
		 (unsigned long long)seq);
	snprintf(from, sizeof(from), "+1555%07llu",
		 (unsigned long long)(2000000 + (seq * 7919) % (uint64_t)g.from_count));
	len = snprintf(body, sizeof(body), "t=%llu n=%llu", (unsigned long long)sched,
		       (unsigned long long)seq);
	if (g.body_pad > 0) {
		body[len++] = ' ';
		for (i = 0; i < (size_t)g.body_pad && (size_t)len < sizeof(body) - 1; i++)
			body[len++] = 'x';
		body[len] = '\0';
	}
	snprintf(idem, sizeof(idem), "%016llx-%llu", (unsigned long long)g.run_id,
		 (unsigned long long)seq);
	/* the fields Twilio sends for an inbound SMS, in its order (PROVIDERS.md §1.1) */
	p[n++] = (struct bench_param){ "ToCountry", "US" };
	p[n++] = (struct bench_param){ "ToState", "CA" };
	p[n++] = (struct bench_param){ "SmsMessageSid", sid };
	p[n++] = (struct bench_param){ "NumMedia", "0" };
	p[n++] = (struct bench_param){ "ToCity", "SAN FRANCISCO" };
	p[n++] = (struct bench_param){ "FromZip", "" };
	p[n++] = (struct bench_param){ "SmsSid", sid };
	p[n++] = (struct bench_param){ "FromState", "CA" };
	p[n++] = (struct bench_param){ "SmsStatus", "received" };
	p[n++] = (struct bench_param){ "FromCity", "" };
	p[n++] = (struct bench_param){ "Body", body };
	p[n++] = (struct bench_param){ "FromCountry", "US" };
	p[n++] = (struct bench_param){ "To", g.to };
	p[n++] = (struct bench_param){ "ToZip", "94105" };
	p[n++] = (struct bench_param){ "NumSegments", "1" };
	p[n++] = (struct bench_param){ "MessageSid", sid };
	p[n++] = (struct bench_param){ "AccountSid", "AC0123456789abcdef0123456789abcdef" };
	p[n++] = (struct bench_param){ "From", from };
	p[n++] = (struct bench_param){ "ApiVersion", "2010-04-01" };
	for (i = 0; i < n; i++) {
		size_t k;

		if (i)
			form[fl++] = '&';
		k = strlen(p[i].name);
		memcpy(form + fl, p[i].name, k);
		fl += k;
		form[fl++] = '=';
		fl += bench_form_encode(p[i].value, form + fl, sizeof(form) - fl);
	}
	form[fl] = '\0';
	bench_twilio_sign(t->token, t->sign_url, p, n, sig);	/* sorts p */
	len = snprintf(req, sizeof(req),
		       "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: TwilioProxy/1.1\r\n"
		       "Content-Type: application/x-www-form-urlencoded\r\n"
		       "Content-Length: %zu\r\nX-Twilio-Signature: %s\r\n"
		       "I-Twilio-Idempotency-Token: %s\r\nAccept: */*\r\n\r\n%s",
		       t->u.path, t->u.host, fl, sig, idem, form);
	w = write(c->fd, req, (size_t)len);
	if (w != len) {
		/* a fresh keep-alive socket takes a 1 KiB request whole; anything else is a
		 * dead connection */
		g.err_reset++;
		hc_close(c, now);
		return;
	}
	g.sent++;
	c->st = C_BUSY;
	c->sched = sched;
	c->sent_at = now;
	c->rlen = 0;
}

/* Parses a complete response in c->rbuf; returns bytes used, 0 if incomplete, -1 bad. */
static long parse_head(struct hconn *c, size_t hl, int *status, int *close_after)
{
	char *p, *e, *cl, *te;
	size_t blen, off;

	if (sscanf(c->rbuf, "HTTP/1.%*c %d", status) != 1)
		return -1;
	*close_after = 0;
	p = strcasestr(c->rbuf, "\r\nconnection:");
	if (p) {
		e = strstr(p + 2, "\r\n");
		*close_after = e && memmem(p, (size_t)(e - p), "close", 5) != NULL;
	}
	cl = strcasestr(c->rbuf, "\r\ncontent-length:");
	te = strcasestr(c->rbuf, "\r\ntransfer-encoding:");
	if (te && !strncasecmp(te + 20 + strspn(te + 20, " "), "chunked", 7)) {
		/* chunked: walk the chunks to the zero-size one and its final CRLF */
		off = hl;
		for (;;) {
			char *nl = memmem(c->rbuf + off, c->rlen - off, "\r\n", 2);
			unsigned long sz;

			if (!nl)
				return 0;
			sz = strtoul(c->rbuf + off, NULL, 16);
			off = (size_t)(nl - c->rbuf) + 2;
			if (!sz) {
				nl = memmem(c->rbuf + off, c->rlen - off, "\r\n", 2);
				return nl ? (long)(nl - c->rbuf) + 2 : 0;
			}
			if (sz > RBUF)
				return -1;
			if (off + sz + 2 > c->rlen)
				return 0;
			off += sz + 2;
		}
	}
	blen = cl ? strtoul(cl + 17, NULL, 10) : 0;
	if (!cl && *status >= 200 && *status != 204 && *status != 304)
		*close_after = 1;	/* a body delimited by close: take what is there */
	if (hl + blen > RBUF - 1)
		return -1;
	if (hl + blen > c->rlen)
		return 0;
	return (long)(hl + blen);
}

static long parse_response(struct hconn *c, int *status, int *close_after)
{
	char *end;
	size_t hl;
	long r;

	end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	if (!end)
		return c->rlen >= RBUF - 1 ? -1 : 0;
	hl = (size_t)(end - c->rbuf) + 4;
	end[2] = '\0';		/* confine header searches to the head, then restore */
	r = parse_head(c, hl, status, close_after);
	end[2] = '\r';
	return r;
}

static void hc_readable(struct hconn *c, uint64_t now)
{
	ssize_t n;
	long used;
	int status = 0, close_after = 0;

	for (;;) {
		n = read(c->fd, c->rbuf + c->rlen, RBUF - 1 - c->rlen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			if (c->st == C_BUSY)
				g.err_reset++;
			hc_close(c, now);
			return;
		}
		c->rlen += (size_t)n;
		if (c->st != C_BUSY) {
			c->rlen = 0;	/* nothing was asked */
			continue;
		}
		used = parse_response(c, &status, &close_after);
		if (used < 0) {
			g.err_parse++;
			hc_close(c, now);
			return;
		}
		if (!used)
			continue;
		now = bench_now_ns();
		g.answered++;
		g.last_answer = now;
		bench_hist_record_ns(&g.lat, (int64_t)(now - c->sched));
		if (status >= 100 && status < 600)
			g.st_codes[status / 100]++;
		if (status == 200)
			g.st_200++;
		else
			g.st_other_last = (uint64_t)status;
		c->st = C_READY;
		memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
		c->rlen -= (size_t)used;
		if (close_after) {
			hc_close(c, now);
			return;
		}
	}
}

static void dispatch(uint64_t now)
{
	int i;

	for (i = 0; i < g.nc; i++) {
		struct hconn *c = &g.c[i];
		struct endpoint *e = &g.ep[c->ep];
		struct pending p;

		if (c->st == C_IDLE_CLOSED && e->len && now >= c->retry_at)
			hc_connect(c, (uint32_t)i, now);
		if (c->st != C_READY || !e->len)
			continue;
		p = e->ring[e->head];
		e->head = (e->head + 1) % e->cap;
		e->len--;
		hc_send(c, p.seq, p.sched, now);
	}
}

int main(int argc, char **argv)
{
	enum { O_URL = 256, O_URLFILE, O_TOKEN, O_PBASE, O_RATE, O_DUR, O_CONNS, O_DRAIN,
	       O_TIMEOUT, O_FROM, O_TO, O_PAD, O_SPID, O_QUIET, O_HELP };
	static const struct option lo[] = {
		{ "url", 1, 0, O_URL }, { "url-file", 1, 0, O_URLFILE }, { "token", 1, 0, O_TOKEN },
		{ "public-base", 1, 0, O_PBASE }, { "rate", 1, 0, O_RATE },
		{ "duration", 1, 0, O_DUR }, { "conns", 1, 0, O_CONNS }, { "drain", 1, 0, O_DRAIN },
		{ "timeout", 1, 0, O_TIMEOUT }, { "from-count", 1, 0, O_FROM },
		{ "to", 1, 0, O_TO },
		{ "body-pad", 1, 0, O_PAD }, { "server-pid", 1, 0, O_SPID },
		{ "quiet", 0, 0, O_QUIET }, { "help", 0, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	const char *urls[MAX_URLS], *url_file = NULL;
	int nurls = 0, opt, i, k, n;
	long conns = 16, v;
	char **lines = NULL;
	int nlines = 0;
	struct epoll_event evs[512];
	struct itimerspec its = { 0 };
	uint64_t t0, now, iv, total, next_seq = 0, end_sched, deadline, next_print, next_tick;
	double cpu0[8];
	struct rlimit rl;
	int tfd;

	g.rate = 100;
	g.duration = 10;
	g.drain = 5;
	g.timeout = 15;
	g.from_count = 1000;
	g.to = "+15550100000";
	g.token = "test_auth_token";
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case O_URL:
			if (nurls == MAX_URLS)
				die("too many --url", NULL);
			urls[nurls++] = optarg;
			break;
		case O_URLFILE: url_file = optarg; break;
		case O_TOKEN: g.token = optarg; break;
		case O_PBASE: g.public_base = optarg; break;
		case O_RATE:
			if (bench_parse_double(optarg, 0.001, 1e6, &g.rate) < 0)
				die("bad --rate", optarg);
			break;
		case O_DUR:
			if (bench_parse_double(optarg, 0.001, 3600, &g.duration) < 0)
				die("bad --duration (..3600)", optarg);
			break;
		case O_CONNS:
			if (bench_parse_long(optarg, 1, 1024, &conns) < 0)
				die("bad --conns (1..1024)", optarg);
			break;
		case O_DRAIN:
			if (bench_parse_double(optarg, 0, 600, &g.drain) < 0)
				die("bad --drain", optarg);
			break;
		case O_TIMEOUT:
			if (bench_parse_double(optarg, 0.01, 600, &g.timeout) < 0)
				die("bad --timeout", optarg);
			break;
		case O_FROM:
			if (bench_parse_long(optarg, 1, 9999999, &g.from_count) < 0)
				die("bad --from-count", optarg);
			break;
		case O_TO: g.to = optarg; break;
		case O_PAD:
			if (bench_parse_long(optarg, 0, 400, &g.body_pad) < 0)
				die("bad --body-pad (0..400)", optarg);
			break;
		case O_SPID:
			if (g.nserver_pids == 8 || bench_parse_long(optarg, 1, 1 << 22, &v) < 0)
				die("bad or too many --server-pid", optarg);
			g.server_pids[g.nserver_pids++] = (int)v;
			break;
		case O_QUIET: g.quiet = 1; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || (!nurls && !url_file)) {
		usage(stderr);
		return 2;
	}
	g.t = calloc(MAX_URLS, sizeof(*g.t));
	if (!g.t)
		die("out of memory", NULL);
	for (i = 0; i < nurls; i++)
		add_target(urls[i], g.token);
	if (url_file) {
		nlines = bench_lines_read(url_file, &lines);
		if (nlines <= 0)
			die("cannot read targets from", url_file);
		for (i = 0; i < nlines; i++) {
			char *sp = strchr(lines[i], ' ');

			if (sp) {
				*sp++ = '\0';
				sp += strspn(sp, " \t");
			}
			add_target(lines[i], sp && *sp ? sp : g.token);
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	g.run_id = bench_rand_seed();
	g.rng = g.run_id;
	iv = (uint64_t)llround(1e9 / g.rate);
	if (!iv)
		iv = 1;
	total = (uint64_t)(g.duration * g.rate);
	if (!total)
		total = 1;
	for (i = 0; i < g.nep; i++) {
		g.ep[i].cap = total < (1u << 20) ? (size_t)total : (1u << 20);
		g.ep[i].ring = calloc(g.ep[i].cap, sizeof(struct pending));
		if (!g.ep[i].ring)
			die("out of memory", NULL);
	}
	g.nc = (int)conns * g.nep;
	if (g.nc > MAX_CONNS)
		die("too many connections (endpoints x --conns)", NULL);
	g.c = calloc((size_t)g.nc, sizeof(*g.c));
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!g.c || g.epfd < 0 || tfd < 0)
		die("out of memory or epoll", NULL);
	{
		struct epoll_event tev = { .events = EPOLLIN, .data.u32 = TIMER_ID };

		epoll_ctl(g.epfd, EPOLL_CTL_ADD, tfd, &tev);
	}
	for (i = 0; i < g.nc; i++) {
		g.c[i].fd = -1;
		g.c[i].ep = i % g.nep;
	}
	for (i = 0; i < g.nserver_pids; i++)
		cpu0[i] = bench_proc_cpu_s(g.server_pids[i]);
	printf("sbwebhook targets=%d endpoints=%d conns=%d rate=%.0f/s duration=%.1fs"
	       " (%llu requests)\n",
	       g.nt, g.nep, g.nc, g.rate, g.duration, (unsigned long long)total);
	fflush(stdout);
	/* open the connections first, then start the schedule */
	now = bench_now_ns();
	for (i = 0; i < g.nc; i++)
		hc_connect(&g.c[i], (uint32_t)i, now);
	t0 = now + 200000000ull;
	end_sched = t0 + total * iv;
	deadline = end_sched + (uint64_t)((g.drain) * 1e9);
	next_print = t0 + 1000000000ull;
	next_tick = t0;
	for (;;) {
		uint64_t due;
		int busy = 0, queued = 0;

		now = bench_now_ns();
		if (now > deadline)
			break;
		/* schedule: request i is due at t0 + i * iv, whether or not it can be sent */
		due = now < t0 ? 0 : (now - t0) / iv + 1;
		if (due > total)
			due = total;
		while (next_seq < due) {
			uint64_t seq = next_seq++;
			struct endpoint *e = &g.ep[g.t[seq % (uint64_t)g.nt].ep];

			g.scheduled++;
			if (e->len == e->cap) {
				g.err_overflow++;
				continue;
			}
			e->ring[(e->head + e->len) % e->cap] =
				(struct pending){ t0 + seq * iv, seq };
			e->len++;
		}
		dispatch(now);
		for (i = 0; i < g.nc; i++)
			busy += g.c[i].st == C_BUSY;
		for (i = 0; i < g.nep; i++)
			queued += g.ep[i].len != 0;
		if (next_seq >= total && !busy && !queued)
			break;
		if (next_seq < total) {
			uint64_t t = t0 + next_seq * iv;

			its.it_value.tv_sec = (time_t)(t / 1000000000ull);
			its.it_value.tv_nsec = (long)(t % 1000000000ull);
			timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
		}
		n = epoll_wait(g.epfd, evs, 512, 10);
		now = bench_now_ns();
		for (k = 0; k < n; k++) {
			struct hconn *c;

			if (evs[k].data.u32 == TIMER_ID) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) < 0)
					(void)0;
				continue;
			}
			c = &g.c[evs[k].data.u32];
			if (c->fd < 0)
				continue;
			if (c->st == C_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);

				if ((evs[k].events & (EPOLLERR | EPOLLHUP)) ||
				    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
					g.err_connect++;
					hc_close(c, now);
					c->retry_at = now + 100000000ull;
					continue;
				}
				if (evs[k].events & EPOLLOUT)
					c->st = C_READY;
			}
			if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				hc_readable(c, now);
		}
		if (now >= next_tick) {
			next_tick = now + 100000000ull;
			for (i = 0; i < g.nc; i++)
				if (g.c[i].st == C_BUSY &&
				    now - g.c[i].sent_at > (uint64_t)(g.timeout * 1e9)) {
					g.err_timeout++;
					hc_close(&g.c[i], now);
				}
		}
		if (!g.quiet && now >= next_print) {
			printf("  %5.1fs: scheduled %llu sent %llu answered %llu\n",
			       (now - t0) / 1e9, (unsigned long long)g.scheduled,
			       (unsigned long long)g.sent,
			       (unsigned long long)g.answered);
			fflush(stdout);
			next_print += 1000000000ull;
		}
	}
	{
		uint64_t unsent = 0, inflight = 0;
		double span = (g.last_answer > t0 ? g.last_answer - t0 : 1) / 1e9;

		for (i = 0; i < g.nep; i++)
			unsent += g.ep[i].len;
		for (i = 0; i < g.nc; i++)
			inflight += g.c[i].st == C_BUSY;
		printf("scheduled %llu, sent %llu, answered %llu (%.0f/s over %.2f s)\n",
		       (unsigned long long)g.scheduled, (unsigned long long)g.sent,
		       (unsigned long long)g.answered, (double)g.answered / span, span);
		printf("status: 200 %llu, 2xx %llu, 3xx %llu, 4xx %llu, 5xx %llu%s",
		       (unsigned long long)g.st_200, (unsigned long long)g.st_codes[2],
		       (unsigned long long)g.st_codes[3], (unsigned long long)g.st_codes[4],
		       (unsigned long long)g.st_codes[5], g.st_other_last ? ", last non-200 " : "");
		if (g.st_other_last)
			printf("%llu", (unsigned long long)g.st_other_last);
		printf("\nerrors: connect %llu, reset %llu, timeout %llu, parse %llu,"
		       " overflow %llu, unsent %llu, unanswered %llu\n",
		       (unsigned long long)g.err_connect, (unsigned long long)g.err_reset,
		       (unsigned long long)g.err_timeout, (unsigned long long)g.err_parse,
		       (unsigned long long)g.err_overflow, (unsigned long long)unsent,
		       (unsigned long long)inflight);
		printf("%-10s %10s %9s %9s %9s %9s %9s %9s  (ms, from the scheduled time)\n", "",
		       "count", "p50", "p90", "p99", "p99.9", "max", "mean");
		bench_hist_print(stdout, "ack", &g.lat);
		for (i = 0; i < g.nserver_pids; i++) {
			double cpu = bench_proc_cpu_s(g.server_pids[i]) - cpu0[i];

			printf("server pid %d: cpu %.2f s, %.0f answered per CPU-second,"
			       " rss %ld KiB\n",
			       g.server_pids[i], cpu, cpu > 0 ? (double)g.answered / cpu : 0.0,
			       bench_proc_rss_kib(g.server_pids[i]));
		}
	}
	for (i = 0; i < g.nc; i++)
		hc_close(&g.c[i], 0);
	for (i = 0; i < g.nep; i++)
		free(g.ep[i].ring);
	bench_lines_free(lines, nlines);
	free(g.c);
	free(g.t);
	close(tfd);
	close(g.epfd);
	return g.answered ? 0 : 1;
}
