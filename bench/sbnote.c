/* SPDX-License-Identifier: MIT
 * sbnote: an open-loop REST publisher of notes (POST /api/v1/conversations/:id/notes) for
 * the hub's fan-out benchmark. Note n is due at go + n * interval and its body carries that
 * scheduled CLOCK_MONOTONIC time as "t=<ns> n=<seq>", so sbload's subscribers measure from
 * the schedule, not from the write (no coordinated omission). Raw epoll, HTTP/1.1
 * keep-alive, one request in flight per connection, requests queued while all are busy.
 *
 * The schedule comes from the options or, when sbload runs it through --pub-cmd, from the
 * environment (SBLOAD_GO_NS, SBLOAD_INTERVAL_NS, SBLOAD_MESSAGES), so that sbload can
 * attribute every delivery to its note and report the time to the last socket.
 */
#include "bench_hist.h"
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
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MAX_CONNS 64
#define RBUF 16384
#define TIMER_ID UINT32_MAX

enum { C_CLOSED, C_CONNECTING, C_READY, C_BUSY };

/* One keep-alive connection with one request in flight. */
struct hconn {
	int fd;
	int st;
	uint64_t sched;			/* of the request in flight */
	uint64_t sent_at;
	uint64_t retry_at;
	size_t rlen;
	char rbuf[RBUF];
};

static struct {
	struct bench_url u;
	const char *cookie, *csrf;
	long pad;
	int client_ids;     /* each request carries a client id: 1 time-ordered (the console's), 2 random */
	uint64_t rng;
	double timeout;
	int epfd;
	struct hconn c[MAX_CONNS];
	int nc;
	uint64_t *queue;		/* scheduled seqs waiting for a connection (ring) */
	size_t qcap, qhead, qlen;
	uint64_t go, iv;
	/* results */
	uint64_t scheduled, sent, answered, st_201, st_other, st_other_last;
	uint64_t err_connect, err_reset, err_timeout, err_parse;
	struct bench_hist lat;
} g;

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "sbnote: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(2);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sbnote --url http://127.0.0.1:PORT/api/v1/conversations/ID/notes\n"
		"              --cookie TOK --csrf TOK [options]\n"
		"  --cookie TOK        session (a bare token means sb_session=TOK)\n"
		"  --csrf TOK          X-CSRF-Token from the login answer\n"
		"  --rate R            notes per second, open loop (20)\n"
		"  --messages M        notes to send (200)\n"
		"  --go NS             CLOCK_MONOTONIC start (default: env SBLOAD_GO_NS or now+0.2s)\n"
		"  --conns C           keep-alive connections (4, at most 64)\n"
		"  --pad B             extra characters in the body (0)\n"
		"  --client-ids MODE   give each reply a client_id: time (12 hex digits of\n"
		"                      milliseconds, then 20 random: the console's) or random (32)\n"
		"  --drain S           wait for answers after the last note (5)\n"
		"  --timeout S         per-request bound (10)\n"
		"  --quiet             no progress lines\n"
		"env SBLOAD_GO_NS, SBLOAD_INTERVAL_NS, SBLOAD_MESSAGES (set by sbload --pub-cmd)\n"
		"override --go, --rate and --messages.\n");
}

static uint64_t env_u64(const char *name)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 10) : 0;
}

static void hc_close(struct hconn *c, uint64_t now)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_CLOSED;
	c->rlen = 0;
	c->retry_at = now + 100000000ull;
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
	if (connect(c->fd, (struct sockaddr *)&g.u.addr, sizeof(g.u.addr)) < 0 &&
	    errno != EINPROGRESS) {
		g.err_connect++;
		hc_close(c, now);
		return;
	}
	ev.data.u32 = idx;
	epoll_ctl(g.epfd, EPOLL_CTL_ADD, c->fd, &ev);
	c->st = C_CONNECTING;
}

static void hc_send(struct hconn *c, uint64_t seq, uint64_t now)
{
	static char req[4096];
	char body[1200];
	uint64_t sched = g.go + seq * g.iv;
	int bl, len;
	ssize_t w;

	bl = snprintf(body, sizeof(body), "{\"body\":\"t=%llu n=%llu%s", (unsigned long long)sched,
		      (unsigned long long)seq, g.pad > 0 ? " " : "");
	for (long i = 0; i < g.pad && bl < (int)sizeof(body) - 4; i++)
		body[bl++] = 'x';
	if (g.client_ids) {
		uint64_t a = bench_rand(&g.rng), b = bench_rand(&g.rng);
		if (g.client_ids == 1)
			a = (bench_now_ns() / 1000000) << 16 | (a & 0xffff); /* wall-clock-ish, sorts by time */
		bl += snprintf(body + bl, sizeof(body) - (size_t)bl, "\",\"client_id\":\"%016llx%016llx",
			       (unsigned long long)a, (unsigned long long)b);
	}
	bl += snprintf(body + bl, sizeof(body) - (size_t)bl, "\"}");
	len = snprintf(req, sizeof(req),
		       "POST %s HTTP/1.1\r\nHost: %s\r\nCookie: %s%s\r\nX-CSRF-Token: %s\r\n"
		       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		       g.u.path, g.u.host, strchr(g.cookie, '=') ? "" : "sb_session=", g.cookie,
		       g.csrf, bl, body);
	w = write(c->fd, req, (size_t)len);
	if (w != len) {
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

/* Bytes of one complete response at the start of rbuf, 0 if incomplete, -1 if bad. */
static long parse_response(struct hconn *c, int *status, int *close_after)
{
	char *end, *p, *e, *cl;
	size_t hl, blen;

	end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	if (!end)
		return c->rlen >= RBUF - 1 ? -1 : 0;
	hl = (size_t)(end - c->rbuf) + 4;
	end[2] = '\0';
	if (sscanf(c->rbuf, "HTTP/1.%*c %d", status) != 1) {
		end[2] = '\r';
		return -1;
	}
	*close_after = 0;
	p = strcasestr(c->rbuf, "\r\nconnection:");
	if (p) {
		e = strstr(p + 2, "\r\n");
		*close_after = e && memmem(p, (size_t)(e - p), "close", 5) != NULL;
	}
	cl = strcasestr(c->rbuf, "\r\ncontent-length:");
	if (strcasestr(c->rbuf, "\r\ntransfer-encoding:"))
		*close_after = 1;	/* not expected from the hub: read it and reconnect */
	end[2] = '\r';
	blen = cl ? strtoul(cl + 17, NULL, 10) : 0;
	if (hl + blen > RBUF - 1)
		return -1;
	if (hl + blen > c->rlen)
		return 0;
	return (long)(hl + blen);
}

static void hc_readable(struct hconn *c)
{
	int status = 0, close_after = 0;
	uint64_t now;
	ssize_t n;
	long used;

	for (;;) {
		n = read(c->fd, c->rbuf + c->rlen, RBUF - 1 - c->rlen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		now = bench_now_ns();
		if (n <= 0) {
			if (c->st == C_BUSY)
				g.err_reset++;
			hc_close(c, now);
			return;
		}
		c->rlen += (size_t)n;
		if (c->st != C_BUSY) {
			c->rlen = 0;
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
		g.answered++;
		bench_hist_record_ns(&g.lat, (int64_t)(now - c->sched));
		if (status == 201) {
			g.st_201++;
		} else {
			g.st_other++;
			g.st_other_last = (uint64_t)status;
		}
		c->st = C_READY;
		memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
		c->rlen -= (size_t)used;
		if (close_after) {
			hc_close(c, now);
			c->retry_at = now;
			return;
		}
	}
}

int main(int argc, char **argv)
{
	enum { O_URL = 256, O_COOKIE, O_CSRF, O_RATE, O_MSGS, O_GO, O_CONNS, O_PAD, O_DRAIN,
	       O_TIMEOUT, O_QUIET, O_CLIENT_IDS, O_HELP };
	static const struct option lo[] = {
		{ "url", 1, 0, O_URL }, { "cookie", 1, 0, O_COOKIE }, { "csrf", 1, 0, O_CSRF },
		{ "rate", 1, 0, O_RATE }, { "messages", 1, 0, O_MSGS }, { "go", 1, 0, O_GO },
		{ "conns", 1, 0, O_CONNS }, { "pad", 1, 0, O_PAD }, { "drain", 1, 0, O_DRAIN },
		{ "timeout", 1, 0, O_TIMEOUT }, { "quiet", 0, 0, O_QUIET },
		{ "client-ids", 1, 0, O_CLIENT_IDS },
		{ "help", 0, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	const char *url = NULL;
	double rate = 20, drain = 5;
	long messages = 200, conns = 4;
	uint64_t total, next_seq = 0, now, deadline, next_print, next_tick, end_sched;
	struct epoll_event evs[128];
	struct itimerspec its = { 0 };
	char err[256];
	int opt, i, k, n, tfd, quiet = 0;

	g.timeout = 10;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case O_URL: url = optarg; break;
		case O_COOKIE: g.cookie = optarg; break;
		case O_CSRF: g.csrf = optarg; break;
		case O_RATE:
			if (bench_parse_double(optarg, 0.001, 1e6, &rate) < 0)
				die("bad --rate", optarg);
			break;
		case O_MSGS:
			if (bench_parse_long(optarg, 1, 10000000, &messages) < 0)
				die("bad --messages", optarg);
			break;
		case O_GO: g.go = strtoull(optarg, NULL, 10); break;
		case O_CONNS:
			if (bench_parse_long(optarg, 1, MAX_CONNS, &conns) < 0)
				die("bad --conns (1..64)", optarg);
			break;
		case O_PAD:
			if (bench_parse_long(optarg, 0, 1000, &g.pad) < 0)
				die("bad --pad (0..1000)", optarg);
			break;
		case O_DRAIN:
			if (bench_parse_double(optarg, 0, 600, &drain) < 0)
				die("bad --drain", optarg);
			break;
		case O_TIMEOUT:
			if (bench_parse_double(optarg, 0.01, 600, &g.timeout) < 0)
				die("bad --timeout", optarg);
			break;
		case O_QUIET: quiet = 1; break;
		case O_CLIENT_IDS:
			if (strcmp(optarg, "time") && strcmp(optarg, "random"))
				die("bad --client-ids (time or random)", optarg);
			g.client_ids = strcmp(optarg, "time") ? 2 : 1;
			break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	g.rng = bench_rand_seed();
	if (optind < argc || !url || !g.cookie || !g.csrf) {
		usage(stderr);
		return 2;
	}
	if (strpbrk(g.cookie, "\r\n") || strpbrk(g.csrf, "\r\n"))
		die("bad --cookie or --csrf", NULL);
	if (bench_url_parse(url, &g.u, err, sizeof(err)) < 0 || strcmp(g.u.scheme, "http"))
		die(err[0] ? err : "--url must be http://", url);
	g.iv = (uint64_t)llround(1e9 / rate);
	if (env_u64("SBLOAD_INTERVAL_NS"))
		g.iv = env_u64("SBLOAD_INTERVAL_NS");
	if (env_u64("SBLOAD_MESSAGES"))
		messages = (long)env_u64("SBLOAD_MESSAGES");
	if (!g.go)
		g.go = env_u64("SBLOAD_GO_NS");
	if (!g.iv)
		g.iv = 1;
	total = (uint64_t)messages;
	g.qcap = (size_t)total;
	g.queue = calloc(g.qcap, sizeof(*g.queue));
	g.nc = (int)conns;
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!g.queue || g.epfd < 0 || tfd < 0)
		die("out of memory or epoll", NULL);
	{
		struct epoll_event tev = { .events = EPOLLIN, .data.u32 = TIMER_ID };

		epoll_ctl(g.epfd, EPOLL_CTL_ADD, tfd, &tev);
	}
	now = bench_now_ns();
	for (i = 0; i < g.nc; i++) {
		g.c[i].fd = -1;
		hc_connect(&g.c[i], (uint32_t)i, now);
	}
	if (!g.go)
		g.go = now + 200000000ull;	/* connections open first */
	end_sched = g.go + total * g.iv;
	deadline = end_sched + (uint64_t)(drain * 1e9);
	if (!quiet)
		printf("sbnote url=http://%s%s conns=%d rate=%.1f/s notes=%llu\n", g.u.host,
		       g.u.path, g.nc, 1e9 / (double)g.iv, (unsigned long long)total);
	fflush(stdout);
	next_print = g.go + 1000000000ull;
	next_tick = now;
	for (;;) {
		uint64_t due;
		int busy = 0;

		now = bench_now_ns();
		if (now > deadline)
			break;
		due = now < g.go ? 0 : (now - g.go) / g.iv + 1;
		if (due > total)
			due = total;
		while (next_seq < due) {
			g.queue[(g.qhead + g.qlen) % g.qcap] = next_seq++;
			g.qlen++;
			g.scheduled++;
		}
		for (i = 0; i < g.nc; i++) {
			struct hconn *c = &g.c[i];

			if (c->st == C_CLOSED && now >= c->retry_at)
				hc_connect(c, (uint32_t)i, now);
			if (c->st == C_READY && g.qlen) {
				uint64_t seq = g.queue[g.qhead];

				g.qhead = (g.qhead + 1) % g.qcap;
				g.qlen--;
				hc_send(c, seq, now);
			}
			busy += c->st == C_BUSY;
		}
		if (next_seq >= total && !busy && !g.qlen)
			break;
		if (next_seq < total) {
			uint64_t t = g.go + next_seq * g.iv;

			its.it_value.tv_sec = (time_t)(t / 1000000000ull);
			its.it_value.tv_nsec = (long)(t % 1000000000ull);
			timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
		}
		n = epoll_wait(g.epfd, evs, 128, 10);
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
				int e = 0;
				socklen_t el = sizeof(e);

				if ((evs[k].events & (EPOLLERR | EPOLLHUP)) ||
				    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
					g.err_connect++;
					hc_close(c, bench_now_ns());
					continue;
				}
				if (evs[k].events & EPOLLOUT)
					c->st = C_READY;
			}
			if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				hc_readable(c);
		}
		now = bench_now_ns();
		if (now >= next_tick) {
			next_tick = now + 100000000ull;
			for (i = 0; i < g.nc; i++)
				if (g.c[i].st == C_BUSY &&
				    now - g.c[i].sent_at > (uint64_t)(g.timeout * 1e9)) {
					g.err_timeout++;
					hc_close(&g.c[i], now);
				}
		}
		if (!quiet && now >= next_print) {
			printf("  sbnote %5.1fs: scheduled %llu sent %llu answered %llu\n",
			       (now - g.go) / 1e9, (unsigned long long)g.scheduled,
			       (unsigned long long)g.sent, (unsigned long long)g.answered);
			fflush(stdout);
			next_print += 1000000000ull;
		}
	}
	printf("sbnote: scheduled %llu, sent %llu, answered %llu (201: %llu, other %llu%s",
	       (unsigned long long)g.scheduled, (unsigned long long)g.sent,
	       (unsigned long long)g.answered, (unsigned long long)g.st_201,
	       (unsigned long long)g.st_other, g.st_other_last ? ", last " : "");
	if (g.st_other_last)
		printf("%llu", (unsigned long long)g.st_other_last);
	printf("); errors: connect %llu, reset %llu, timeout %llu, parse %llu, unsent %zu\n",
	       (unsigned long long)g.err_connect, (unsigned long long)g.err_reset,
	       (unsigned long long)g.err_timeout, (unsigned long long)g.err_parse, g.qlen);
	bench_hist_print(stdout, "note-ack", &g.lat);
	fflush(stdout);
	for (i = 0; i < g.nc; i++)
		hc_close(&g.c[i], 0);
	free(g.queue);
	close(tfd);
	close(g.epfd);
	return g.st_201 == total ? 0 : 1;
}
