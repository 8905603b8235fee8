/* SPDX-License-Identifier: MIT
 * One sbload worker process: opens its share of connections from its own 127.0.0.x
 * source address (IP_BIND_ADDRESS_NO_PORT, so ephemeral ports are per source address),
 * performs the RFC 6455 client handshake, runs the WebSocket framing on raw edge-
 * triggered epoll, and reports counters and histograms through shared memory. All reads
 * land in one shared scratch buffer; a connection owns heap memory only while a
 * handshake answer, a control frame or a write is split across system calls.
 */
#include "sbload.h"
#include "bench_sha1.h"

#include <errno.h>
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

#define SCRATCH_SIZE (256 * 1024)
#define HS_MAX 8192			/* largest handshake answer accepted */
#define WBUF_MAX (4u << 20)		/* unsent output above this closes the connection */
#define TICK_NS 100000000ull		/* 100 ms housekeeping */
#define TIMER_ID UINT32_MAX

static uint8_t scratch[HS_MAX + SCRATCH_SIZE];
static int epfd = -1;
static uint64_t n_opened, n_resolved;

static void conn_free_bufs(struct sbload_conn *c)
{
	free(c->part);
	free(c->ctl);
	free(c->wbuf);
	c->part = c->ctl = c->wbuf = NULL;
	c->part_len = c->wlen = c->woff = 0;
	c->ctl_len = 0;
}

static void conn_close(struct sbload_ctx *x, struct sbload_conn *c)
{
	if (c->st == CS_FREE || c->st == CS_DEAD)
		return;
	if (c->st == CS_OPEN) {
		SLOT_ADD(x->slot, open, (uint64_t)-1);
		if (c->ready && !x->stopping && !x->sh->stop)
			SLOT_ADD(x->slot, closed_peer, 1);
	}
	close(c->fd);
	c->fd = -1;
	c->st = CS_DEAD;
	conn_free_bufs(c);
}

static void resolve(struct sbload_conn *c)
{
	if (!c->resolved) {
		c->resolved = 1;
		n_resolved++;
	}
}

void sbload__fail(struct sbload_ctx *x, struct sbload_conn *c, uint64_t *counter)
{
	if (!c->resolved && counter)
		__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
	resolve(c);
	conn_close(x, c);
}

void sbload__ready(struct sbload_ctx *x, struct sbload_conn *c)
{
	if (c->ready)
		return;
	c->ready = 1;
	resolve(c);
	SLOT_ADD(x->slot, ready, 1);
	if (sbload__stalls(x, c))
		SLOT_ADD(x->slot, stalled, 1);
}

static int flush_wbuf(struct sbload_ctx *x, struct sbload_conn *c)
{
	ssize_t n;

	while (c->woff < c->wlen) {
		n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			sbload__fail(x, c, &x->slot->fail_connect);
			return -1;
		}
		c->woff += (uint32_t)n;
	}
	free(c->wbuf);
	c->wbuf = NULL;
	c->wlen = c->woff = 0;
	return 0;
}

int sbload__send(struct sbload_ctx *x, struct sbload_conn *c, const void *p, size_t len)
{
	ssize_t n = 0;
	uint8_t *nb;

	if (c->st != CS_OPEN && c->st != CS_HANDSHAKE)
		return -1;
	if (!c->wbuf) {
		n = write(c->fd, p, len);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				sbload__fail(x, c, &x->slot->fail_connect);
				return -1;
			}
			n = 0;
		}
		if ((size_t)n == len)
			return 0;
	}
	/* keep the rest until EPOLLOUT: rare, since loopback writes are small */
	if (c->wlen - c->woff + (len - (size_t)n) > WBUF_MAX) {
		sbload__fail(x, c, &x->slot->fail_proto);
		return -1;
	}
	if (c->woff) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	nb = realloc(c->wbuf, c->wlen + (len - (size_t)n));
	if (!nb) {
		sbload__fail(x, c, &x->slot->fail_proto);
		return -1;
	}
	memcpy(nb + c->wlen, (const uint8_t *)p + n, len - (size_t)n);
	c->wbuf = nb;
	c->wlen += (uint32_t)(len - (size_t)n);
	return 0;
}

int sbload__send_frame(struct sbload_ctx *x, struct sbload_conn *c, unsigned opcode,
		       const void *p, size_t len)
{
	uint8_t mask[4], buf[BENCH_WS_HDR_MAX + 1024];
	uint64_t r = bench_rand(&x->rng);
	size_t n;

	memcpy(mask, &r, 4);
	if (len > sizeof(buf) - BENCH_WS_HDR_MAX)
		return -1;
	n = bench_ws_encode(buf, sizeof(buf), opcode, 1, p, len, mask);
	return sbload__send(x, c, buf, n);
}

/* ---- connecting and the handshake ---- */

static void conn_open_one(struct sbload_ctx *x, struct sbload_conn *c, uint32_t src)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	int one = 1, fd;

	n_opened++;
	SLOT_ADD(x->slot, opened, 1);
	c->t0 = bench_now_ns();
	c->st = CS_CONNECTING;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		c->st = CS_DEAD;
		resolve(c);
		SLOT_ADD(x->slot, fail_connect, 1);
		return;
	}
	c->fd = fd;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (connect(fd, (const struct sockaddr *)&x->o->url.addr, sizeof(x->o->url.addr)) < 0 &&
	     errno != EINPROGRESS)) {
		sbload__fail(x, c, &x->slot->fail_connect);
		return;
	}
	ev.data.u32 = c->idx;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		sbload__fail(x, c, &x->slot->fail_connect);
}

static void send_handshake(struct sbload_ctx *x, struct sbload_conn *c)
{
	const struct sbload_opts *o = x->o;
	char key[32], req[4096];
	long gidx = x->gidx0 + (long)c->idx;
	size_t n = 0;
	int i, err = 0;
	socklen_t el = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		sbload__fail(x, c, &x->slot->fail_connect);
		return;
	}
	for (i = 0; i < 16; i += 8) {
		uint64_t r = bench_rand(&x->rng);

		memcpy(c->key + i, &r, 8);
	}
	bench_b64_encode(c->key, 16, key);
	n += (size_t)snprintf(req + n, sizeof(req) - n,
			      "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
			      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
			      "Sec-WebSocket-Version: 13\r\n",
			      o->url.path, o->url.host, key);
	if (o->subprotocol && *o->subprotocol)
		n += (size_t)snprintf(req + n, sizeof(req) - n, "Sec-WebSocket-Protocol: %s\r\n",
				      o->subprotocol);
	if (o->origin)
		n += (size_t)snprintf(req + n, sizeof(req) - n, "Origin: %s\r\n", o->origin);
	if (o->ncookies) {
		const char *ck = o->cookies[gidx % o->ncookies];

		n += (size_t)snprintf(req + n, sizeof(req) - n, "Cookie: %s%s\r\n",
				      strchr(ck, '=') ? "" : "sb_session=", ck);
	} else if (o->cookie) {
		n += (size_t)snprintf(req + n, sizeof(req) - n, "Cookie: %s%s\r\n",
				      strchr(o->cookie, '=') ? "" : "sb_session=", o->cookie);
	}
	for (i = 0; i < o->nheaders; i++)
		n += (size_t)snprintf(req + n, sizeof(req) - n, "%s\r\n", o->headers[i]);
	if (n + 3 > sizeof(req)) {
		sbload__fail(x, c, &x->slot->fail_http);
		return;
	}
	memcpy(req + n, "\r\n", 2);
	n += 2;
	c->st = CS_HANDSHAKE;
	sbload__send(x, c, req, n);
}

/* Finds header name (case-insensitive) in the answer head; returns its value or NULL. */
static const char *find_header(const char *head, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\r') {
		p += 2;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1, *e;

			while (*v == ' ' || *v == '\t')
				v++;
			e = strstr(v, "\r\n");
			if (!e)
				return NULL;
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			*vlen = (size_t)(e - v);
			return v;
		}
		p = strstr(p, "\r\n");
	}
	return NULL;
}

/* Handles the handshake answer in buf[0..len). Returns the offset where WebSocket bytes
 * begin, or -1 when the connection was closed, or -2 when more bytes are needed. */
static long handle_answer(struct sbload_ctx *x, struct sbload_conn *c, uint8_t *buf, size_t len)
{
	char key[32], want[29];
	const char *v, *end;
	size_t vlen, hl;
	int status = 0;
	char save;

	end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end) {
		if (len >= HS_MAX) {
			sbload__fail(x, c, &x->slot->fail_http);
			return -1;
		}
		c->part = malloc(len);
		if (!c->part) {
			sbload__fail(x, c, &x->slot->fail_http);
			return -1;
		}
		memcpy(c->part, buf, len);
		c->part_len = (uint32_t)len;
		return -2;
	}
	hl = (size_t)(end - (const char *)buf) + 4;
	save = (char)buf[hl - 1];
	buf[hl - 1] = '\0';	/* the head ends "\r\n\r"; keeps strstr inside it */
	if (sscanf((const char *)buf, "HTTP/1.%*c %d", &status) != 1 || status != 101) {
		SLOT_SET(x->slot, last_http_status, (uint64_t)status);
		sbload__fail(x, c, &x->slot->fail_http);
		return -1;
	}
	bench_b64_encode(c->key, 16, key);
	bench_ws_accept(key, strlen(key), want);
	v = find_header((const char *)buf, "Sec-WebSocket-Accept", &vlen);
	if (!v || vlen != 28 || memcmp(v, want, 28)) {
		sbload__fail(x, c, &x->slot->fail_accept);
		return -1;
	}
	buf[hl - 1] = (uint8_t)save;
	bench_hist_record_ns(&x->slot->hs, (int64_t)(bench_now_ns() - c->t0));
	c->st = CS_OPEN;
	SLOT_ADD(x->slot, open, 1);
	bench_wsdec_init(&c->dec, SBLOAD_MAX_FRAME);
	sbload__proto_open(x, c);
	return c->st == CS_OPEN ? (long)hl : -1;
}

/* ---- frames ---- */

static void on_control(struct sbload_ctx *x, struct sbload_conn *c, unsigned op, uint8_t *p,
		       size_t n)
{
	uint64_t code;

	switch (op) {
	case BENCH_WS_PING:
		sbload__send_frame(x, c, BENCH_WS_PONG, p, n);
		break;
	case BENCH_WS_PONG:
		SLOT_ADD(x->slot, pongs, 1);
		break;
	case BENCH_WS_CLOSE:
		code = n >= 2 ? (uint64_t)p[0] << 8 | p[1] : 1005;
		SLOT_ADD(x->slot, close_codes, 1);
		SLOT_SET(x->slot, last_close_code, code);
		if (!c->ready)
			sbload__fail(x, c, &x->slot->fail_proto);
		else
			conn_close(x, c);
		break;
	default:
		break;
	}
}

static void feed_ws(struct sbload_ctx *x, struct sbload_conn *c, uint8_t *p, size_t len)
{
	struct bench_ws_ev ev;
	size_t n;

	while (len && c->st == CS_OPEN) {
		n = bench_wsdec_step(&c->dec, p, len, &ev);
		p += n;
		len -= n;
		switch (ev.kind) {
		case BENCH_WS_EV_ERROR:
			if (c->ready)
				SLOT_ADD(x->slot, fail_proto, 1);
			sbload__fail(x, c, &x->slot->fail_proto);
			return;
		case BENCH_WS_EV_HEADER:
			if (ev.end) {
				if (ev.opcode & 8)
					on_control(x, c, ev.opcode, NULL, 0);
				else if (ev.fin)
					sbload__proto_data(x, c, NULL, 0, 1);
			}
			break;
		case BENCH_WS_EV_DATA:
			if (!(ev.opcode & 8)) {
				sbload__proto_data(x, c, ev.data, ev.len, ev.end && ev.fin);
				break;
			}
			if (!c->ctl_len && ev.end) {
				on_control(x, c, ev.opcode, ev.data, ev.len);
				break;
			}
			/* a control payload split across reads: gather it */
			if (!c->ctl) {
				c->ctl = malloc(125);
				if (!c->ctl) {
					sbload__fail(x, c, &x->slot->fail_proto);
					return;
				}
			}
			memcpy(c->ctl + c->ctl_len, ev.data, ev.len);
			c->ctl_len = (uint8_t)(c->ctl_len + ev.len);
			if (ev.end) {
				uint8_t tmp[125];
				size_t tl = c->ctl_len;

				memcpy(tmp, c->ctl, tl);
				free(c->ctl);
				c->ctl = NULL;
				c->ctl_len = 0;
				on_control(x, c, ev.opcode, tmp, tl);
			}
			break;
		default:
			break;
		}
	}
}

static void on_readable(struct sbload_ctx *x, struct sbload_conn *c)
{
	uint8_t *buf;
	ssize_t n;
	size_t len;
	long off;

	while (c->st == CS_OPEN || c->st == CS_HANDSHAKE) {
		n = read(c->fd, scratch + HS_MAX, SCRATCH_SIZE);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			sbload__fail(x, c, c->st == CS_HANDSHAKE ? &x->slot->fail_http
								 : &x->slot->fail_proto);
			return;
		}
		SLOT_ADD(x->slot, bytes_rx, (uint64_t)n);
		buf = scratch + HS_MAX;
		len = (size_t)n;
		if (c->st == CS_HANDSHAKE) {
			if (c->part) {
				/* HS_MAX bytes in front of the read are reserved for this */
				buf -= c->part_len;
				memcpy(buf, c->part, c->part_len);
				len += c->part_len;
				free(c->part);
				c->part = NULL;
				c->part_len = 0;
			}
			off = handle_answer(x, c, buf, len);
			if (off < 0)
				continue;	/* -2: read more; -1: closed and the loop ends */
			buf += off;
			len -= (size_t)off;
		}
		feed_ws(x, c, buf, len);
	}
}

static void on_event(struct sbload_ctx *x, struct sbload_conn *c, uint32_t evs)
{
	if (c->st == CS_CONNECTING) {
		if (evs & (EPOLLERR | EPOLLHUP)) {
			sbload__fail(x, c, &x->slot->fail_connect);
			return;
		}
		if (evs & EPOLLOUT)
			send_handshake(x, c);
		if (c->st != CS_HANDSHAKE)
			return;
	}
	if ((evs & EPOLLOUT) && c->wbuf && flush_wbuf(x, c) < 0)
		return;
	if (c->ready && sbload__stalls(x, c) && __atomic_load_n(&x->sh->go, __ATOMIC_ACQUIRE)) {
		/* a slow consumer: never reads again; only notices the server giving up */
		if (evs & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			SLOT_ADD(x->slot, stalled_cut, 1);
			conn_close(x, c);
		}
		return;
	}
	if (evs & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		on_readable(x, c);
}

/* ---- publisher ---- */

struct pub_state {
	int tfd;
	uint64_t next;		/* next message index */
	uint64_t total;		/* messages to send */
};

static void pub_pump(struct sbload_ctx *x, struct pub_state *ps)
{
	struct sbload_conn *c = &x->conns[0];
	uint64_t go = __atomic_load_n(&x->sh->go, __ATOMIC_ACQUIRE);
	uint64_t iv = x->sh->interval_ns, now, due;
	struct itimerspec its = { 0 };
	size_t off = 0, n;

	if (!go || !c->ready || c->st != CS_OPEN || ps->next >= ps->total)
		return;
	now = bench_now_ns();
	if (now < go)
		due = 0;
	else
		due = (now - go) / iv + 1;
	if (due > ps->total)
		due = ps->total;
	while (ps->next < due) {
		/* open loop: the stamp is the scheduled time, not the time of the write */
		n = sbload__proto_publish(x, c, off, ps->next, go + ps->next * iv);
		if (!n) {
			if (!off)
				break;
			if (sbload__send(x, c, x->out, off) < 0)
				return;
			off = 0;
			continue;
		}
		off += n;
		ps->next++;
	}
	if (off && sbload__send(x, c, x->out, off) < 0)
		return;
	SLOT_SET(x->slot, pub_sent, ps->next);
	SLOT_SET(x->slot, pub_last_ns, go + (ps->next ? ps->next - 1 : 0) * iv);
	if (ps->next < ps->total) {
		uint64_t t = go + ps->next * iv;

		its.it_value.tv_sec = (time_t)(t / 1000000000ull);
		its.it_value.tv_nsec = (long)(t % 1000000000ull);
		timerfd_settime(ps->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	}
}

/* ---- the loop ---- */

void sbload_worker(const struct sbload_opts *o, struct sbload_shared *sh, int proc, long gidx0,
		   long nconns, uint32_t src, enum sbload_role role)
{
	struct sbload_ctx ctx = { 0 }, *x = &ctx;
	struct epoll_event evs[1024];
	struct pub_state ps = { .tfd = -1 };
	uint64_t start, now, next_tick, deadline, ping_cursor = 0;
	struct rlimit rl;
	long i;
	int n, k;

	x->o = o;
	x->sh = sh;
	x->slot = &sh->slot[proc];
	x->role = role;
	x->proc = proc;
	x->gidx0 = gidx0;
	x->nconns = nconns;
	x->rng = bench_rand_seed() ^ ((uint64_t)proc << 48);
	x->stamp_len = (uint8_t)strlen(o->stamp_marker);
	x->count_len = (uint8_t)strlen(o->count_marker);
	sbload__kmp_init(o->stamp_marker, x->stamp_fail);
	sbload__kmp_init(o->count_marker, x->count_fail);
	if (sh->nlast && role == ROLE_SUB)
		x->last_us = sh->last_us + (size_t)proc * sh->nlast;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	x->conns = calloc((size_t)nconns, sizeof(*x->conns));
	x->out_cap = 1u << 20;
	x->out = malloc(x->out_cap);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!x->conns || !x->out || epfd < 0) {
		fprintf(stderr, "sbload: worker %d: out of memory or epoll\n", proc);
		_exit(2);
	}
	for (i = 0; i < nconns; i++) {
		x->conns[i].fd = -1;
		x->conns[i].idx = (uint32_t)i;
	}
	if (role == ROLE_PUB) {
		struct epoll_event tev = { .events = EPOLLIN, .data.u32 = TIMER_ID };

		ps.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		ps.total = (uint64_t)o->messages;
		if (ps.tfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, ps.tfd, &tev) < 0) {
			fprintf(stderr, "sbload: publisher: timerfd\n");
			_exit(2);
		}
	}
	start = bench_now_ns();
	next_tick = start + TICK_NS;
	/* a hard bound on the whole run, whatever the parent does */
	deadline = start + (uint64_t)((o->connect_timeout + o->duration + o->drain + 30) * 1e9) +
		   (o->pub_rate > 0 ? (uint64_t)((double)o->messages / o->pub_rate * 1e9) : 0);
	for (;;) {
		if (__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
			break;
		now = bench_now_ns();
		if (now > deadline)
			break;
		/* open more connections: bounded by in-flight handshakes and the rate */
		while (n_opened < (uint64_t)nconns &&
		       n_opened - n_resolved < (uint64_t)o->inflight) {
			if (o->connect_rate > 0 &&
			    (double)n_opened >= o->connect_rate / (double)o->procs *
							 (double)(now - start) / 1e9 + 1)
				break;
			conn_open_one(x, &x->conns[n_opened], src);
		}
		n = epoll_wait(epfd, evs, 1024, role == ROLE_PUB ? 5 : 20);
		for (k = 0; k < n; k++) {
			if (evs[k].data.u32 == TIMER_ID) {
				uint64_t exp;

				if (read(ps.tfd, &exp, sizeof(exp)) < 0)
					(void)0;
				continue;
			}
			on_event(x, &x->conns[evs[k].data.u32], evs[k].events);
		}
		if (role == ROLE_PUB)
			pub_pump(x, &ps);
		now = bench_now_ns();
		if (now < next_tick)
			continue;
		next_tick = now + TICK_NS;
		/* handshake and setup timeouts, until everything is resolved */
		if (!x->slot->setup_done) {
			for (i = 0; i < (long)n_opened; i++) {
				struct sbload_conn *c = &x->conns[i];

				if (!c->resolved && c->st != CS_DEAD &&
				    now - c->t0 > (uint64_t)(o->connect_timeout * 1e9))
					sbload__fail(x, c, &x->slot->fail_timeout);
			}
			if (n_opened == (uint64_t)nconns && n_resolved == n_opened)
				SLOT_SET(x->slot, setup_done, now);
		}
		/* periodic pings: each open connection once per interval, spread over ticks */
		if (o->ping_interval > 0 && role == ROLE_SUB) {
			uint64_t per = (uint64_t)((double)nconns * (TICK_NS / 1e9) /
						  o->ping_interval) + 1;

			for (uint64_t j = 0; j < per && nconns; j++) {
				struct sbload_conn *c = &x->conns[ping_cursor++ % (uint64_t)nconns];

				if (c->st == CS_OPEN && c->ready &&
				    now - c->t0 > (uint64_t)(o->ping_interval * 1e9))
					sbload__proto_ping(x, c);
			}
		}
	}
	/* goodbye: a close frame (1000) to every open connection, then close */
	x->stopping = 1;
	for (i = 0; i < nconns; i++) {
		struct sbload_conn *c = &x->conns[i];
		static const uint8_t code[2] = { 0x03, 0xe8 };

		if (c->st == CS_OPEN && !c->wbuf)
			sbload__send_frame(x, c, BENCH_WS_CLOSE, code, 2);
		conn_close(x, c);
	}
	SLOT_SET(x->slot, exited, 1);
	_exit(0);
}
