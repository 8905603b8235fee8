/* SPDX-License-Identifier: MIT
 * sbload: a WebSocket load client on raw epoll for Switchboard and its peers (mosquitto,
 * nats-server, a Node ws relay). The parent parses options, forks workers that each hold
 * up to 19,000 connections from their own 127.0.0.x source address, starts an optional
 * open-loop publisher once every subscriber is ready, and merges the workers' latency
 * histograms from shared memory into one report.
 */
#include "sbload.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sbload --url ws://127.0.0.1:PORT/PATH [options]\n"
		"  --proto hub|mqtt|nats|ws  server protocol (ws)\n"
		"  --mode M             hold: connect, idle, ping; subscribe: log in and\n"
		"                       subscribe; recv: log in, no subscription (subscribe)\n"
		"  --conns N            connections (1000)\n"
		"  --procs P            worker processes (ceil(N / 19000))\n"
		"  --src A              first source address, worker i uses A + i (127.0.0.1)\n"
		"  --connect-rate R     new connections per second in all (0: unpaced)\n"
		"  --inflight K         handshakes in flight per worker (256)\n"
		"  --connect-timeout S  per-connection setup bound (30)\n"
		"  --duration S         hold time, or publishing time bound (10)\n"
		"  --drain S            wait for stragglers after the last publish (2)\n"
		"  --ping-interval S    keepalive per connection, 0 = off (20)\n"
		"  --cookie TOK         Cookie (a bare token means sb_session=TOK)\n"
		"  --cookie-file F      one cookie or token per line, round-robin\n"
		"  --origin O           Origin header\n"
		"  --subprotocol P      Sec-WebSocket-Protocol (per proto; '' for none)\n"
		"  --header 'K: V'      extra handshake header (repeatable, up to 8)\n"
		"  --hello JSON         hub: first frame ({\"type\":\"hello\",\"last_seq\":null})\n"
		"  --topic T            mqtt topic / nats subject (bench)\n"
		"  --stamp-marker M     latency stamp is M followed by digits (t=)\n"
		"  --count-marker M     count messages containing M (hub: \"type\":\"event\")\n"
		"  --pub-rate R         publisher messages per second, 0 = none (0)\n"
		"  --messages M         messages to publish (50)\n"
		"  --pub-template S     payload; %%T stamp, %%N seq, %%P padding\n"
		"                       ({\"n\":%%N,\"body\":\"t=%%T\",\"pad\":\"%%P\"})\n"
		"  --pub-size B         pad the payload to B bytes (0)\n"
		"  --pub-cmd CMD        publish with CMD (sh -c) instead of a WebSocket; it gets\n"
		"                       SBLOAD_GO_NS, SBLOAD_INTERVAL_NS, SBLOAD_MESSAGES and\n"
		"                       must stamp message n with go + n * interval (sbnote)\n"
		"  --server-pid PID     report CPU and RSS of this server (repeatable)\n"
		"  --stall-every K      every K-th connection stops reading when the\n"
		"                       publisher starts (a slow consumer; 0 = none)\n"
		"  --quiet              no progress lines\n");
}

static const char *proto_name[] = { "hub", "mqtt", "nats", "ws" };
static const char *mode_name[] = { "hold", "subscribe", "recv" };

static int pick(const char *s, const char **names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "sbload: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(2);
}

static void parse_opts(int argc, char **argv, struct sbload_opts *o)
{
	enum { O_PROTO = 256, O_MODE, O_URL, O_CONNS, O_PROCS, O_SRC, O_CRATE, O_INFLIGHT,
	       O_CTIMEOUT, O_DURATION, O_DRAIN, O_PING, O_COOKIE, O_COOKIEFILE, O_ORIGIN,
	       O_SUBPROTO, O_HEADER, O_HELLO, O_TOPIC, O_SMARK, O_CMARK, O_PRATE, O_MSGS,
	       O_PTPL, O_PSIZE, O_PCMD, O_SPID, O_QUIET, O_STALL, O_HELP };
	static const struct option lo[] = {
		{ "proto", 1, 0, O_PROTO }, { "mode", 1, 0, O_MODE }, { "url", 1, 0, O_URL },
		{ "conns", 1, 0, O_CONNS }, { "procs", 1, 0, O_PROCS }, { "src", 1, 0, O_SRC },
		{ "connect-rate", 1, 0, O_CRATE }, { "inflight", 1, 0, O_INFLIGHT },
		{ "connect-timeout", 1, 0, O_CTIMEOUT }, { "duration", 1, 0, O_DURATION },
		{ "drain", 1, 0, O_DRAIN }, { "ping-interval", 1, 0, O_PING },
		{ "cookie", 1, 0, O_COOKIE }, { "cookie-file", 1, 0, O_COOKIEFILE },
		{ "origin", 1, 0, O_ORIGIN }, { "subprotocol", 1, 0, O_SUBPROTO },
		{ "header", 1, 0, O_HEADER }, { "hello", 1, 0, O_HELLO },
		{ "topic", 1, 0, O_TOPIC },
		{ "stamp-marker", 1, 0, O_SMARK }, { "count-marker", 1, 0, O_CMARK },
		{ "pub-rate", 1, 0, O_PRATE }, { "messages", 1, 0, O_MSGS },
		{ "pub-template", 1, 0, O_PTPL }, { "pub-size", 1, 0, O_PSIZE },
		{ "pub-cmd", 1, 0, O_PCMD },
		{ "server-pid", 1, 0, O_SPID }, { "quiet", 0, 0, O_QUIET },
		{ "stall-every", 1, 0, O_STALL },
		{ "help", 0, 0, O_HELP },
		{ 0, 0, 0, 0 }
	};
	const char *url = NULL, *cookie_file = NULL, *cmark = NULL, *subp = NULL;
	int c, have_subp = 0;
	char err[256];
	long v;

	*o = (struct sbload_opts){
		.proto = PROTO_WS, .mode = MODE_SUBSCRIBE, .conns = 1000, .procs = 0,
		.inflight = 256, .connect_timeout = 30, .duration = 10, .drain = 2,
		.ping_interval = 20, .hello = "{\"type\":\"hello\",\"last_seq\":null}",
		.topic = "bench", .messages = 50,
		.pub_template = "{\"n\":%N,\"body\":\"t=%T\",\"pad\":\"%P\"}",
	};
	strcpy(o->stamp_marker, "t=");
	bench_loopback_addr("127.0.0.1", &o->src_base);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_PROTO:
			if ((v = pick(optarg, proto_name, 4)) < 0)
				die("unknown --proto", optarg);
			o->proto = (enum sbload_proto)v;
			break;
		case O_MODE:
			if ((v = pick(optarg, mode_name, 3)) < 0)
				die("unknown --mode", optarg);
			o->mode = (enum sbload_mode)v;
			break;
		case O_URL: url = optarg; break;
		case O_CONNS:
			if (bench_parse_long(optarg, 0,
					     SBLOAD_MAX_PER_PROC * (long)SBLOAD_MAX_PROCS,
					     &o->conns) < 0)
				die("bad --conns", optarg);
			break;
		case O_PROCS:
			if (bench_parse_long(optarg, 1, SBLOAD_MAX_PROCS, &o->procs) < 0)
				die("bad --procs (1..64)", optarg);
			break;
		case O_SRC:
			if (bench_loopback_addr(optarg, &o->src_base) < 0)
				die("--src must be in 127.0.0.0/8", optarg);
			break;
		case O_CRATE:
			if (bench_parse_double(optarg, 0, 1e6, &o->connect_rate) < 0)
				die("bad --connect-rate", optarg);
			break;
		case O_INFLIGHT:
			if (bench_parse_long(optarg, 1, SBLOAD_MAX_PER_PROC, &o->inflight) < 0)
				die("bad --inflight", optarg);
			break;
		case O_CTIMEOUT:
			if (bench_parse_double(optarg, 0.1, 600, &o->connect_timeout) < 0)
				die("bad --connect-timeout (0.1..600)", optarg);
			break;
		case O_DURATION:
			if (bench_parse_double(optarg, 0, 3600, &o->duration) < 0)
				die("bad --duration (0..3600)", optarg);
			break;
		case O_DRAIN:
			if (bench_parse_double(optarg, 0, 600, &o->drain) < 0)
				die("bad --drain (0..600)", optarg);
			break;
		case O_PING:
			if (bench_parse_double(optarg, 0, 3600, &o->ping_interval) < 0)
				die("bad --ping-interval", optarg);
			break;
		case O_COOKIE: o->cookie = optarg; break;
		case O_COOKIEFILE: cookie_file = optarg; break;
		case O_ORIGIN: o->origin = optarg; break;
		case O_SUBPROTO: subp = optarg; have_subp = 1; break;
		case O_HEADER:
			if (o->nheaders == SBLOAD_MAX_HEADERS || !strchr(optarg, ':') ||
			    strpbrk(optarg, "\r\n"))
				die("bad or too many --header", optarg);
			o->headers[o->nheaders++] = optarg;
			break;
		case O_HELLO: o->hello = optarg; break;
		case O_TOPIC:
			if (!*optarg || strlen(optarg) > 200 || strpbrk(optarg, " \t\r\n"))
				die("bad --topic", optarg);
			o->topic = optarg;
			break;
		case O_SMARK:
			if (strlen(optarg) >= SBLOAD_MARKER_MAX)
				die("--stamp-marker too long", optarg);
			strcpy(o->stamp_marker, optarg);
			break;
		case O_CMARK:
			if (strlen(optarg) >= SBLOAD_MARKER_MAX)
				die("--count-marker too long", optarg);
			cmark = optarg;
			break;
		case O_PRATE:
			if (bench_parse_double(optarg, 0, 1e6, &o->pub_rate) < 0)
				die("bad --pub-rate (0..1e6)", optarg);
			break;
		case O_MSGS:
			if (bench_parse_long(optarg, 0, 100000000, &o->messages) < 0)
				die("bad --messages", optarg);
			break;
		case O_PTPL: o->pub_template = optarg; break;
		case O_PSIZE:
			if (bench_parse_long(optarg, 0, 60000, &o->pub_size) < 0)
				die("bad --pub-size (0..60000)", optarg);
			break;
		case O_PCMD: o->pub_cmd = *optarg ? optarg : NULL; break;
		case O_SPID:
			if (o->nserver_pids == 8 || bench_parse_long(optarg, 1, 1 << 22, &v) < 0)
				die("bad or too many --server-pid", optarg);
			o->server_pids[o->nserver_pids++] = (int)v;
			break;
		case O_QUIET: o->quiet = 1; break;
		case O_STALL:
			if (bench_parse_long(optarg, 0, 1 << 30, &o->stall_every) < 0)
				die("bad --stall-every", optarg);
			break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc || !url) {
		usage(stderr);
		exit(2);
	}
	if (bench_url_parse(url, &o->url, err, sizeof(err)) < 0 || strcmp(o->url.scheme, "ws"))
		die(err[0] ? err : "--url must be ws://", url);
	if (cookie_file) {
		o->ncookies = bench_lines_read(cookie_file, &o->cookies);
		if (o->ncookies <= 0)
			die("cannot read cookies from", cookie_file);
	}
	if (have_subp)
		o->subprotocol = subp;
	else if (o->proto == PROTO_HUB)
		o->subprotocol = "sb-agent.v1";
	else if (o->proto == PROTO_MQTT)
		o->subprotocol = "mqtt";
	if (cmark)
		strcpy(o->count_marker, cmark);
	else if (o->proto == PROTO_HUB)
		strcpy(o->count_marker, "\"type\":\"event\"");
	if (!o->procs)
		o->procs = (o->conns + SBLOAD_MAX_PER_PROC - 1) / SBLOAD_MAX_PER_PROC;
	if (!o->procs)
		o->procs = 1;
	if (o->conns > o->procs * SBLOAD_MAX_PER_PROC)
		die("too many connections per worker (19000 each): raise --procs", NULL);
	if (((o->src_base + (uint32_t)o->procs) >> 24) != 127)
		die("--src leaves too few loopback addresses for the workers", NULL);
	if (o->pub_rate > 0 && o->duration > 0 && o->messages > o->pub_rate * o->duration)
		o->messages = (long)(o->pub_rate * o->duration);
}

/* ---- reporting ---- */

static void sum_slot(struct sbload_slot *t, const struct sbload_slot *s)
{
	const uint64_t *a = (const uint64_t *)s;
	uint64_t *b = (uint64_t *)t;
	size_t i, n = offsetof(struct sbload_slot, lat) / sizeof(uint64_t);

	for (i = 0; i < n; i++) {
		/* "last" and time fields take the maximum; counters add up */
		if (&b[i] == &t->last_close_code || &b[i] == &t->last_http_status ||
		    &b[i] == &t->last_rx_ns || &b[i] == &t->pub_last_ns ||
		    &b[i] == &t->setup_done) {
			if (a[i] > b[i])
				b[i] = a[i];
		} else {
			b[i] += a[i];
		}
	}
	bench_hist_merge(&t->lat, &s->lat);
	bench_hist_merge(&t->hs, &s->hs);
}

static void totals(const struct sbload_shared *sh, int nslots, struct sbload_slot *t)
{
	int i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < nslots; i++)
		sum_slot(t, &sh->slot[i]);
}

static void live_totals(const struct sbload_shared *sh, int nslots, uint64_t *ready,
			uint64_t *open, uint64_t *stamps, int *all_done)
{
	int i;

	*ready = *open = *stamps = 0;
	*all_done = 1;
	for (i = 0; i < nslots; i++) {
		const struct sbload_slot *s = &sh->slot[i];

		*ready += __atomic_load_n(&s->ready, __ATOMIC_RELAXED);
		*open += __atomic_load_n(&s->open, __ATOMIC_RELAXED);
		*stamps += __atomic_load_n(&s->stamps, __ATOMIC_RELAXED);
		if (!__atomic_load_n(&s->setup_done, __ATOMIC_RELAXED))
			*all_done = 0;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Runs --pub-cmd through sh -c with the schedule in its environment; its pid, or -1. */
static pid_t start_pub_cmd(const struct sbload_opts *o, uint64_t go, uint64_t interval)
{
	char v[32];
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid)
		return pid;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)go);
	setenv("SBLOAD_GO_NS", v, 1);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)interval);
	setenv("SBLOAD_INTERVAL_NS", v, 1);
	snprintf(v, sizeof(v), "%ld", o->messages);
	setenv("SBLOAD_MESSAGES", v, 1);
	execl("/bin/sh", "sh", "-c", o->pub_cmd, (char *)NULL);
	fprintf(stderr, "sbload: cannot run --pub-cmd: %s\n", strerror(errno));
	_exit(127);
}

int main(int argc, char **argv)
{
	struct sbload_opts o;
	struct sbload_shared *sh;
	struct sbload_slot tot;
	struct bench_hist last;
	pid_t pids[SBLOAD_MAX_PROCS + 1];
	int nworkers, nslots, i, all_done;
	uint64_t t_start, t_ready, t_go, t_stop, ready, open_now, open_end, stamps, next_print;
	double cpu0[8], cpu1[8], cpu2[8];
	long rss0[8], rss1[8];
	size_t shsize, nlast = 0;
	int have_pub, ext_pub;
	long base, extra;

	parse_opts(argc, argv, &o);
	have_pub = o.pub_rate > 0 && o.messages > 0;
	nworkers = (int)o.procs;
	nslots = nworkers + (have_pub ? 1 : 0);
	if (have_pub && o.messages <= 1000000)
		nlast = (size_t)o.messages;
	shsize = sizeof(*sh) + (size_t)nworkers * nlast * sizeof(uint32_t);
	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap failed", strerror(errno));
	sh->nlast = nlast;
	if (have_pub)
		sh->interval_ns = (uint64_t)llround(1e9 / o.pub_rate);
	if (!sh->interval_ns)
		sh->interval_ns = 1;
	for (i = 0; i < o.nserver_pids; i++) {
		cpu0[i] = bench_proc_cpu_s(o.server_pids[i]);
		rss0[i] = bench_proc_rss_kib(o.server_pids[i]);
	}
	printf("sbload proto=%s mode=%s url=ws://%s%s conns=%ld procs=%d%s\n",
	       proto_name[o.proto], mode_name[o.mode], o.url.host, o.url.path, o.conns, nworkers,
	       have_pub ? " +publisher" : "");
	fflush(stdout);
	t_start = bench_now_ns();
	base = o.conns / nworkers;
	extra = o.conns % nworkers;
	ext_pub = have_pub && o.pub_cmd;
	if (ext_pub) {
		/* the external publisher starts after setup; its slot has nothing to set up */
		SLOT_SET(&sh->slot[nworkers], setup_done, 1);
		pids[nworkers] = 0;
	}
	for (i = 0; i < nslots; i++) {
		int pub = i == nworkers;
		long n = pub ? 1 : base + (i < extra ? 1 : 0);
		long g0 = pub ? o.conns : i * base + (i < extra ? i : extra);

		if (pub && ext_pub)
			continue;
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork failed", strerror(errno));
		if (!pids[i])
			sbload_worker(&o, sh, i, g0, n, o.src_base + (uint32_t)i,
				      pub ? ROLE_PUB : ROLE_SUB);
	}
	/* setup: wait until every connection is ready or failed (bounded) */
	next_print = t_start + 1000000000ull;
	for (;;) {
		uint64_t now = bench_now_ns();

		live_totals(sh, nslots, &ready, &open_now, &stamps, &all_done);
		if (all_done)
			break;
		if (now - t_start > (uint64_t)((o.connect_timeout + 10) * 1e9)) {
			fprintf(stderr, "sbload: setup did not finish in time; going on\n");
			break;
		}
		if (!o.quiet && now >= next_print) {
			printf("  setup %5.1fs: ready %llu open %llu\n", (now - t_start) / 1e9,
			       (unsigned long long)ready, (unsigned long long)open_now);
			fflush(stdout);
			next_print += 1000000000ull;
		}
		sleep_ms(20);
	}
	t_ready = bench_now_ns();
	for (i = 0; i < o.nserver_pids; i++) {
		rss1[i] = bench_proc_rss_kib(o.server_pids[i]);
		cpu1[i] = bench_proc_cpu_s(o.server_pids[i]);
	}
	/* go: the publisher starts one interval from now */
	t_go = bench_now_ns() + (ext_pub ? 150000000ull : 10000000ull);
	__atomic_store_n(&sh->go, t_go, __ATOMIC_RELEASE);
	if (ext_pub)
		pids[nworkers] = start_pub_cmd(&o, t_go, sh->interval_ns);
	{
		uint64_t pub_end = have_pub ? t_go + (uint64_t)o.messages * sh->interval_ns : 0;
		uint64_t hold_end = t_go + (uint64_t)(o.duration * 1e9);
		uint64_t expected, drained_at = 0;

		next_print = t_go + 1000000000ull;
		for (;;) {
			uint64_t now = bench_now_ns();
			uint64_t sent = have_pub ? __atomic_load_n(&sh->slot[nworkers].pub_sent,
								   __ATOMIC_RELAXED) : 0;

			if (ext_pub && now >= t_go) {
				/* an external publisher is charged by its schedule, sent or not */
				uint64_t due = (now - t_go) / sh->interval_ns + 1;

				if (due > (uint64_t)o.messages)
					due = (uint64_t)o.messages;
				SLOT_SET(&sh->slot[nworkers], pub_sent, due);
				SLOT_SET(&sh->slot[nworkers], pub_last_ns,
					 t_go + (due - 1) * sh->interval_ns);
				sent = due;
			}
			live_totals(sh, nworkers, &ready, &open_now, &stamps, &all_done);
			if (!have_pub && now >= hold_end)
				break;
			if (have_pub) {
				uint64_t st = 0;

				/* stalled readers are not expected to receive anything */
				for (i = 0; i < nworkers; i++)
					st += __atomic_load_n(&sh->slot[i].stalled, __ATOMIC_RELAXED);
				expected = (uint64_t)o.messages * (ready - st);
				if (sent >= (uint64_t)o.messages && !drained_at)
					drained_at = now;
				if (drained_at && (stamps >= expected ||
						   now - drained_at > (uint64_t)(o.drain * 1e9)))
					break;
				/* a publisher that cannot keep up is not waited for forever */
				if (now > pub_end + (uint64_t)((o.drain + 10) * 1e9))
					break;
			}
			if (!o.quiet && now >= next_print) {
				printf("  run %5.1fs: open %llu sent %llu received %llu\n",
				       (now - t_go) / 1e9, (unsigned long long)open_now,
				       (unsigned long long)sent, (unsigned long long)stamps);
				fflush(stdout);
				next_print += 1000000000ull;
			}
			sleep_ms(have_pub ? 5 : 50);
		}
	}
	t_stop = bench_now_ns();
	live_totals(sh, nworkers, &ready, &open_end, &stamps, &all_done);
	for (i = 0; i < o.nserver_pids; i++)
		cpu2[i] = bench_proc_cpu_s(o.server_pids[i]);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < nslots; i++) {
		int st, tries;

		if (pids[i] <= 0)
			continue;
		for (tries = 0; tries < 500; tries++) {
			if (waitpid(pids[i], &st, WNOHANG) == pids[i])
				break;
			sleep_ms(20);
		}
		if (tries == 500) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &st, 0);
		}
	}

	/* ---- report ---- */
	totals(sh, nworkers, &tot);
	printf("connections: ready %llu of %ld (failed: connect %llu, http %llu",
	       (unsigned long long)tot.ready, o.conns, (unsigned long long)tot.fail_connect,
	       (unsigned long long)tot.fail_http);
	if (tot.last_http_status)
		printf(" (last status %llu)", (unsigned long long)tot.last_http_status);
	printf(", accept %llu, timeout %llu, protocol %llu) in %.2f s\n",
	       (unsigned long long)tot.fail_accept, (unsigned long long)tot.fail_timeout,
	       (unsigned long long)tot.fail_proto, (t_ready - t_start) / 1e9);
	printf("at the end: open %llu, closed by server %llu, close frames %llu (last code %llu),"
	       " pongs %llu, rx %.1f MB\n",
	       (unsigned long long)open_end, (unsigned long long)tot.closed_peer,
	       (unsigned long long)tot.close_codes, (unsigned long long)tot.last_close_code,
	       (unsigned long long)tot.pongs, tot.bytes_rx / 1e6);
	if (o.stall_every)
		printf("stalled readers: %llu (every %ld-th), closed by the server %llu\n",
		       (unsigned long long)tot.stalled, o.stall_every,
		       (unsigned long long)tot.stalled_cut);
	printf("%-10s %10s %9s %9s %9s %9s %9s %9s  (ms)\n", "", "count", "p50", "p90", "p99",
	       "p99.9", "max", "mean");
	bench_hist_print(stdout, "handshake", &tot.hs);
	if (have_pub) {
		const struct sbload_slot *p = &sh->slot[nworkers];
		uint64_t expected = (uint64_t)p->pub_sent * (tot.ready - tot.stalled);
		double span = (tot.last_rx_ns > t_go ? tot.last_rx_ns - t_go : 1) / 1e9;

		bench_hist_print(stdout, "latency", &tot.lat);
		memset(&last, 0, sizeof(last));
		for (size_t m = 0; m < nlast; m++) {
			uint32_t mx = 0;

			for (i = 0; i < nworkers; i++)
				if (sh->last_us[(size_t)i * nlast + m] > mx)
					mx = sh->last_us[(size_t)i * nlast + m];
			if (mx)
				bench_hist_record_us(&last, mx - 1);
		}
		if (last.count)
			bench_hist_print(stdout, "to-last", &last);
		printf("published %llu at %.0f/s; delivered %llu of %llu (%.2f%%), %.0f per second"
		       " over %.2f s\n",
		       (unsigned long long)p->pub_sent, o.pub_rate, (unsigned long long)tot.stamps,
		       (unsigned long long)expected,
		       expected ? 100.0 * (double)tot.stamps / (double)expected : 0.0,
		       (double)tot.stamps / span, span);
	} else if (tot.lat.count) {
		bench_hist_print(stdout, "latency", &tot.lat);
	}
	printf("messages received %llu, counted %llu, stamped %llu\n",
	       (unsigned long long)tot.frames_rx, (unsigned long long)tot.counted,
	       (unsigned long long)tot.stamps);
	for (i = 0; i < o.nserver_pids; i++) {
		double cpu = cpu2[i] - cpu1[i];

		if (rss0[i] < 0 || rss1[i] < 0 || cpu1[i] < 0 || cpu2[i] < 0) {
			printf("server pid %d: not readable (gone?)\n", o.server_pids[i]);
			continue;
		}
		printf("server pid %d: rss %ld KiB -> %ld KiB (%.2f KiB per ready connection);"
		       " cpu %.2f s during the run",
		       o.server_pids[i], rss0[i], rss1[i],
		       tot.ready ? (double)(rss1[i] - rss0[i]) / (double)tot.ready : 0.0, cpu);
		if (cpu > 0 && tot.stamps)
			printf(", %.0f deliveries per CPU-second", (double)tot.stamps / cpu);
		printf("; setup cpu %.2f s\n", cpu1[i] - cpu0[i]);
	}
	(void)t_stop;
	bench_lines_free(o.cookies, o.ncookies);
	munmap(sh, shsize);
	return tot.ready ? 0 : 1;
}
