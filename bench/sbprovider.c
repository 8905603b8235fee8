/* SPDX-License-Identifier: MIT
 * sbprovider: a Twilio Messages API for benchmarks (B5), in C on one epoll loop, so that the
 * provider is not what a benchmark of the hub's outbound path measures (the node fake,
 * tests/fakes/fake_twilio.mjs, takes a core at ~2,500 creates a second).
 *
 * It answers the happy path only, with the same request and answer as the node fake and
 * Twilio (PROVIDERS.md §1): POST /2010-04-01/Accounts/<AC>/Messages.json with HTTP Basic
 * <AC>:<token> and a form body (To, From or MessagingServiceSid, Body) gets 201 and the
 * message resource as JSON (status "queued", or "accepted" through a Messaging Service); a
 * wrong account or password gets 401 and Twilio's error 20003. No status callbacks, no
 * faults, no TLS: the fault suites use the node fake. --latency-ms L holds every answer for
 * L ms (connections stay keep-alive; requests on one connection are answered in order).
 * --busy S answers every create 429 with Twilio's error 20429 and Retry-After: S, creating
 * nothing (an outage: hub_b5_backlog.sh builds its backlog so, one attempt a reply).
 * GET /_fake/requests answers {"created":N,"requests":N,"http2_requests":0} like the node
 * fake's control endpoint.
 *
 * usage: sbprovider --port P [--latency-ms L] [--busy S] [--account AC...] [--token T]
 * Prints {"port":P,"control":"http://127.0.0.1:P/_fake"} once it listens.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_sha1.h"
#include "bench_util.h"


#define IN_MAX (64 * 1024)

struct conn {
	int fd;
	char *in;
	size_t in_len, in_cap;
	char *out;           /* the answer being sent or held */
	size_t out_len, out_off;
	uint64_t due_ns;     /* when a held answer may go */
	struct conn *next;   /* in the held queue (due order: every hold is the same length) */
	bool held, want_out, closing;
};

static int ep;
static uint64_t latency_ns;
static long busy_s = -1; /* --busy: every create answered 429 with this Retry-After */
static char account[64] = "ACffffffffffffffffffffffffffffffff";
static char want_auth[256];
static unsigned long long created, requests;
static struct conn *held_head, *held_tail;
static volatile sig_atomic_t stop;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

static void conn_close(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->held) { /* unlink from the held queue */
		struct conn **pp = &held_head, *prev = NULL;
		while (*pp && *pp != c) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp) {
			*pp = c->next;
			if (held_tail == c)
				held_tail = prev;
		}
	}
	free(c->in);
	free(c->out);
	free(c);
}

static void want_out(struct conn *c, bool on)
{
	if (c->want_out == on)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = on;
}

/* sends what is left of c's answer; false when the connection is gone */
static bool flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			want_out(c, true);
			return true;
		}
		if (n <= 0) {
			conn_close(c);
			return false;
		}
		c->out_off += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	want_out(c, false);
	if (c->closing) {
		conn_close(c);
		return false;
	}
	return true;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* the decoded value of form field `name` into out (NUL-terminated); false when absent */
static bool form_get(const char *body, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name), i = 0;
	while (i < len) {
		size_t e = i;
		while (e < len && body[e] != '&')
			e++;
		if (e - i > nl && !memcmp(body + i, name, nl) && body[i + nl] == '=') {
			size_t o = 0;
			for (size_t k = i + nl + 1; k < e && o + 1 < cap; k++) {
				int ch = body[k];
				if (ch == '+')
					ch = ' ';
				else if (ch == '%' && k + 2 < e && hexval(body[k + 1]) >= 0 &&
					 hexval(body[k + 2]) >= 0) {
					ch = hexval(body[k + 1]) << 4 | hexval(body[k + 2]);
					k += 2;
				}
				out[o++] = (char)ch;
			}
			out[o] = 0;
			return true;
		}
		i = e + 1;
	}
	out[0] = 0;
	return false;
}

/* JSON string body of s (quotes, backslashes, control characters escaped) */
static size_t json_str(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s && o + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = 0;
	return o;
}

/* GSM-7 when every byte is ASCII (a benchmark approximation), else UCS-2 per code point */
static int segments(const char *s)
{
	size_t n = 0;
	bool ascii = true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80)
			ascii = false;
		if ((*p & 0xc0) != 0x80)
			n++;
	}
	size_t one = ascii ? 160 : 70, many = ascii ? 153 : 67;
	return n <= one ? 1 : (int)((n + many - 1) / many);
}

static void rfc2822(char *out, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static void answer(struct conn *c, int status, const char *reason, const char *body)
{
	size_t bl = strlen(body);
	c->out = malloc(bl + 256);
	char ra[40] = "";
	if (status == 429)
		snprintf(ra, sizeof ra, "Retry-After: %ld\r\n", busy_s);
	int n = snprintf(c->out, bl + 256,
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
			 "Content-Length: %zu\r\n%s%s\r\n%s",
			 status, reason, bl, ra, c->closing ? "Connection: close\r\n" : "", body);
	c->out_len = (size_t)n;
	c->out_off = 0;
}

static void twilio_error(struct conn *c, int status, const char *reason, int code,
			 const char *msg)
{
	char b[512];
	snprintf(b, sizeof b,
		 "{\"code\":%d,\"message\":\"%s\",\"more_info\":\"https://www.twilio.com/docs/"
		 "errors/%d\",\"status\":%d}",
		 code, msg, code, status);
	answer(c, status, reason, b);
}

static void create_message(struct conn *c, const char *body, size_t len)
{
	char to[128], from[128], mg[64], text[4096], jto[256], jfrom[256], jtext[8192], date[64];
	form_get(body, len, "To", to, sizeof to);
	bool has_from = form_get(body, len, "From", from, sizeof from);
	bool has_mg = form_get(body, len, "MessagingServiceSid", mg, sizeof mg);
	form_get(body, len, "Body", text, sizeof text);
	if (!to[0] || (!has_from && !has_mg)) {
		twilio_error(c, 400, "Bad Request", 21604, "A 'To' phone number is required.");
		return;
	}
	created++;
	char sid[35];
	snprintf(sid, sizeof sid, "SM%016llx%016llx", created * 0x9e3779b97f4a7c15ull, created);
	json_str(jto, sizeof jto, to);
	json_str(jfrom, sizeof jfrom, has_from ? from : "");
	json_str(jtext, sizeof jtext, text);
	rfc2822(date, sizeof date);
	char mgj[80];
	if (has_mg)
		snprintf(mgj, sizeof mgj, "\"%s\"", mg);
	else
		snprintf(mgj, sizeof mgj, "null");
	char fromj[300];
	if (has_from)
		snprintf(fromj, sizeof fromj, "\"%s\"", jfrom);
	else
		snprintf(fromj, sizeof fromj, "null");
	size_t cap = strlen(jtext) + 2048;
	char *b = malloc(cap);
	snprintf(b, cap,
		 "{\"account_sid\":\"%s\",\"api_version\":\"2010-04-01\",\"body\":\"%s\","
		 "\"date_created\":\"%s\",\"date_sent\":null,\"date_updated\":\"%s\","
		 "\"direction\":\"outbound-api\",\"error_code\":null,\"error_message\":null,"
		 "\"from\":%s,\"messaging_service_sid\":%s,\"num_media\":\"0\","
		 "\"num_segments\":\"%d\",\"price\":null,\"price_unit\":null,\"sid\":\"%s\","
		 "\"status\":\"%s\",\"subresource_uris\":{\"media\":\"/2010-04-01/Accounts/%s/"
		 "Messages/%s/Media.json\"},\"to\":\"%s\",\"uri\":\"/2010-04-01/Accounts/%s/"
		 "Messages/%s.json\"}",
		 account, jtext, date, date, fromj, mgj, segments(text), sid,
		 has_mg ? "accepted" : "queued", account, sid, jto, account, sid);
	answer(c, 201, "Created", b);
	free(b);
}

/* one complete request (head [0, hl), body [hl, hl + bl)): sets c's answer; true when the
 * answer is to be held for --latency-ms (every Messages answer; never the control one) */
static bool handle(struct conn *c, char *req, size_t hl, size_t bl)
{
	requests++;
	char *eol = memchr(req, '\r', hl);
	char line[512];
	size_t ll = eol ? (size_t)(eol - req) : 0;
	if (ll >= sizeof line)
		ll = sizeof line - 1;
	memcpy(line, req, ll);
	line[ll] = 0;
	char method[16] = "", path[400] = "";
	sscanf(line, "%15s %399s", method, path);
	/* headers: Authorization, Connection */
	char auth[256] = "";
	for (char *p = eol ? eol + 2 : req; p < req + hl;) {
		char *e = memchr(p, '\r', (size_t)(req + hl - p));
		if (!e || e == p)
			break;
		size_t n = (size_t)(e - p);
		if (n > 14 && !strncasecmp(p, "Authorization:", 14)) {
			char *v = p + 14;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(e - v) < sizeof auth - 1 ? (size_t)(e - v) : sizeof auth - 1;
			memcpy(auth, v, vl);
			auth[vl] = 0;
		} else if (n > 11 && !strncasecmp(p, "Connection:", 11) &&
			   memmem(p, n, "close", 5)) {
			c->closing = true;
		}
		p = e + 2;
	}
	char want_path[160];
	snprintf(want_path, sizeof want_path, "/2010-04-01/Accounts/%s/Messages.json", account);
	if (!strcmp(method, "GET") && !strcmp(path, "/_fake/requests")) {
		char b[160];
		snprintf(b, sizeof b, "{\"created\":%llu,\"requests\":%llu,\"http2_requests\":0}",
			 created, requests);
		answer(c, 200, "OK", b);
		return false;
	}
	if (!strcmp(method, "POST") && !strncmp(path, "/2010-04-01/Accounts/", 21) &&
	    strstr(path, "/Messages.json")) {
		if (strcmp(path, want_path) || strcmp(auth, want_auth))
			twilio_error(c, 401, "Unauthorized", 20003, "Authenticate");
		else if (busy_s >= 0)
			twilio_error(c, 429, "Too Many Requests", 20429, "Too Many Requests");
		else
			create_message(c, req + hl, bl);
	} else {
		twilio_error(c, 404, "Not Found", 20404,
			     "The requested resource was not found");
	}
	return true;
}

/* parses and answers what c's buffer holds; false when the connection is gone */
static bool process(struct conn *c)
{
	while (!c->out && !c->held) {
		char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		if (!end) {
			if (c->in_len < IN_MAX)
				return true;
			conn_close(c);
			return false;
		}
		size_t hl = (size_t)(end - c->in) + 4;
		size_t bl = 0;
		for (char *p = c->in; p < end; p++) {
			if ((p == c->in || p[-1] == '\n') && !strncasecmp(p, "Content-Length:", 15)) {
				bl = strtoul(p + 15, NULL, 10);
				break;
			}
		}
		if (hl + bl > IN_MAX) {
			conn_close(c);
			return false;
		}
		if (c->in_len < hl + bl)
			return true;
		bool hold = handle(c, c->in, hl, bl);
		memmove(c->in, c->in + hl + bl, c->in_len - hl - bl);
		c->in_len -= hl + bl;
		if (hold && latency_ns) {
			c->held = true;
			c->due_ns = bench_now_ns() + latency_ns;
			c->next = NULL;
			if (held_tail)
				held_tail->next = c;
			else
				held_head = c;
			held_tail = c;
			return true;
		}
		if (!flush_out(c))
			return false;
	}
	return true;
}

static void release_due(void)
{
	uint64_t now = bench_now_ns();
	while (held_head && held_head->due_ns <= now) {
		struct conn *c = held_head;
		held_head = c->next;
		if (!held_head)
			held_tail = NULL;
		c->held = false;
		c->next = NULL;
		if (flush_out(c) && !c->out)
			process(c);
	}
}

int main(int argc, char **argv)
{
	long port = 0, lat_ms = 0;
	const char *token = "fake_twilio_auth_token";
	for (int i = 1; i < argc; i++) {
		bool ok = true;
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			ok = !bench_parse_long(argv[++i], 0, 65535, &port);
		else if (!strcmp(argv[i], "--latency-ms") && i + 1 < argc)
			ok = !bench_parse_long(argv[++i], 0, 600000, &lat_ms);
		else if (!strcmp(argv[i], "--busy") && i + 1 < argc)
			ok = !bench_parse_long(argv[++i], 0, 86400, &busy_s);
		else if (!strcmp(argv[i], "--account") && i + 1 < argc)
			snprintf(account, sizeof account, "%s", argv[++i]);
		else if (!strcmp(argv[i], "--token") && i + 1 < argc)
			token = argv[++i];
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "usage: sbprovider --port P [--latency-ms L] [--busy S] "
					"[--account AC] [--token T]\n");
			return 2;
		}
	}
	latency_ns = (uint64_t)lat_ms * 1000000ull;
	char creds[128];
	int cl = snprintf(creds, sizeof creds, "%s:%s", account, token);
	if (cl < 0 || (size_t)cl >= sizeof creds) {
		fprintf(stderr, "sbprovider: account and token too long\n");
		return 2;
	}
	char enc[176];
	bench_b64_encode(creds, (size_t)cl, enc);
	snprintf(want_auth, sizeof want_auth, "Basic %s", enc);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) {
		perror("sbprovider: listen");
		return 1;
	}
	socklen_t al = sizeof a;
	getsockname(ls, (struct sockaddr *)&a, &al);
	port = ntohs(a.sin_port);
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
	printf("{\"port\":%ld,\"control\":\"http://127.0.0.1:%ld/_fake\"}\n", port, port);
	fflush(stdout);

	struct epoll_event evs[256];
	while (!stop) {
		int timeout = -1;
		if (held_head) {
			uint64_t now = bench_now_ns();
			timeout = held_head->due_ns <= now ? 0
							   : (int)((held_head->due_ns - now + 999999) / 1000000);
		}
		int n = epoll_wait(ep, evs, 256, timeout);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct conn *nc = calloc(1, sizeof *nc);
					nc->fd = fd;
					struct epoll_event ev = { .events = EPOLLIN, .data.ptr = nc };
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				if (!flush_out(c))
					continue;
				if (!c->out && !process(c))
					continue;
			}
			if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				continue;
			bool gone = false;
			for (;;) {
				if (c->in_cap - c->in_len < 4096) {
					c->in_cap = c->in_cap ? c->in_cap * 2 : 8192;
					c->in = realloc(c->in, c->in_cap);
				}
				ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
				if (r > 0) {
					c->in_len += (size_t)r;
					if (c->in_len > 4 * IN_MAX) { /* a flood while an answer is held */
						conn_close(c);
						gone = true;
						break;
					}
					continue;
				}
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				conn_close(c); /* EOF or error */
				gone = true;
				break;
			}
			if (!gone)
				process(c);
		}
		release_due();
	}
	fprintf(stderr, "sbprovider: %llu requests, %llu created\n", requests, created);
	return 0;
}
