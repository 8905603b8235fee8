/* SPDX-License-Identifier: MIT
 * main.c: hubd's entry: the administration subcommands, and `serve`: the lws context on one
 * port (HTTP/1.1 only, the agent WebSocket, the console's files), the store's writer thread,
 * the loop mailbox that brings other threads' results back to the service thread, the
 * snooze timer, and a clean drain on SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include "hub.h"
#include "api_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct mail {
	struct mail *next;
	void (*fn)(void *arg);
	void *arg;
};

struct sb_hub {
	struct sb_config cfg;
	struct sb_store *store;
	struct lws_context *lws;
	struct ev_loop *loop;	/* epoll, through libev: lws 4.1's own loop poll()s every fd */
	ev_timer drain_tick;	/* keeps the loop turning while draining */
	ev_timer lws_tick;	/* see lws_tick_cb */
	ev_prepare log_flush;	/* buffered log lines leave before the loop waits */
	pthread_mutex_t mu;
	struct mail *mail_head, *mail_tail;
	bool mail_signalled; /* a wake-up is on its way and the mailbox not yet taken */
	struct sb_timer snooze_timer;
	struct sb_wjob snooze_job;
	bool snooze_running;
	int64_t snooze_next;
	volatile sig_atomic_t signalled;
	bool draining;
	uint64_t drain_deadline, drain_quiet_at;
};

struct sb_hub *sb_hub_g;

int sb_hub_worker(void)
{
	return sb_hub_g ? sb_hub_g->cfg.worker_index : 0;
}

struct sb_store *sb_hub_store(void)
{
	return sb_hub_g ? sb_hub_g->store : NULL;
}

const struct sb_config *sb_hub_config(void)
{
	return sb_hub_g ? &sb_hub_g->cfg : NULL;
}

struct lws_context *sb_hub_lws(void)
{
	return sb_hub_g ? sb_hub_g->lws : NULL;
}

bool sb_hub_ready(void)
{
	return sb_hub_g && !sb_hub_g->draining;
}

bool sb_hub_draining(void)
{
	return sb_hub_g && sb_hub_g->draining;
}

/* ---- timers ---- */

static void timer_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct sb_timer *t = (struct sb_timer *)((char *)w - offsetof(struct sb_timer, w));
	t->cb(t);
}

void sb_timer_after(struct sb_timer *t, void (*cb)(struct sb_timer *t), uint64_t us)
{
	struct ev_loop *l = sb_hub_g ? sb_hub_g->loop : NULL;
	if (!l)
		return;
	ev_timer_stop(l, &t->w);
	t->cb = cb;
	/* libev counts from the loop's cached time: refresh it, so "at least us" holds */
	ev_now_update(l);
	ev_timer_init(&t->w, timer_fire, (ev_tstamp)us / 1e6, 0.);
	ev_timer_start(l, &t->w);
}

void sb_timer_stop(struct sb_timer *t)
{
	if (sb_hub_g && sb_hub_g->loop)
		ev_timer_stop(sb_hub_g->loop, &t->w);
}

/* lws 4.1's libev glue re-arms its one timer with ev_timer_start on a running watcher
 * (a no-op), so a deadline earlier than the armed one waits for it. A wake once a second
 * runs lws's idle pass, which serves every ripe lws timer (HTTP body and handshake
 * timeouts, keep-alive): they fire within a second of their time. */
static void lws_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (sb_hub_g && sb_hub_g->lws)
		lws_cancel_service(sb_hub_g->lws);
	sb_log_flush();
}

static void log_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sb_log_flush();
}

/* ---- the mailbox ---- */

void sb_loop_post(void (*fn)(void *arg), void *arg)
{
	struct sb_hub *h = sb_hub_g;
	struct mail *m = sb_malloc(sizeof *m);
	m->next = NULL;
	m->fn = fn;
	m->arg = arg;
	/* one wake-up per taking of the mailbox, not one per letter: while one is on its way,
	 * the mailbox_run it causes takes this letter too (a wake-up is a pipe write and a
	 * cross-thread wake, for every answer from a provider) */
	bool wake = false;
	pthread_mutex_lock(&h->mu);
	if (h->mail_tail)
		h->mail_tail->next = m;
	else
		h->mail_head = m;
	h->mail_tail = m;
	if (!h->mail_signalled && h->lws)
		wake = h->mail_signalled = true;
	pthread_mutex_unlock(&h->mu);
	if (wake)
		lws_cancel_service(h->lws);
}

static void mailbox_run(struct sb_hub *h)
{
	pthread_mutex_lock(&h->mu);
	struct mail *m = h->mail_head;
	h->mail_head = h->mail_tail = NULL;
	h->mail_signalled = false;
	pthread_mutex_unlock(&h->mu);
	while (m) {
		struct mail *n = m->next;
		m->fn(m->arg);
		free(m);
		m = n;
	}
}

void sb_loop_run_mail(void)
{
	mailbox_run(sb_hub_g);
}

static void store_wake(void *ud)
{
	struct sb_hub *h = ud;
	if (h->lws)
		lws_cancel_service(h->lws);
}

static void store_event(void *ud, const struct sb_event *ev)
{
	(void)ud;
	sb_ws_on_event(ev);
	sb_cluster_publish(ev);
}

static void store_commit(void *ud, uint64_t us, int jobs)
{
	(void)ud;
	sb_metrics_commit(us, jobs);
}

/* Called on the service thread when lws_cancel_service woke it. */
void sb_hub_on_cancel(void)
{
	struct sb_hub *h = sb_hub_g;
	sb_store_drain(h->store);
	mailbox_run(h);
	sb_ws_flush();
}

/* ---- snoozed conversations wake up ---- */

static void snooze_fire(struct sb_timer *t);

static int snooze_run(struct sb_tx *tx, void *arg)
{
	struct sb_hub *h = arg;
	return sb_tx_conv_wake_due(tx, sb_tx_now(tx), &h->snooze_next);
}

static void snooze_schedule(struct sb_hub *h, int64_t due)
{
	if (!due) {
		sb_timer_stop(&h->snooze_timer);
		return;
	}
	int64_t wait = due - sb_wall_ms();
	if (wait < 0)
		wait = 0;
	sb_timer_after(&h->snooze_timer, snooze_fire, (uint64_t)wait * 1000 + 1000);
}

static void snooze_done(void *arg, int rc)
{
	struct sb_hub *h = arg;
	h->snooze_running = false;
	if (rc)
		sb_log(SB_LOG_WARN, "msg=snooze_wake_failed err=\"%s\"", sb_err_str(rc));
	snooze_schedule(h, rc ? sb_wall_ms() + 5000 : h->snooze_next);
}

static void snooze_fire(struct sb_timer *t)
{
	struct sb_hub *h = lws_container_of(t, struct sb_hub, snooze_timer);
	if (h->snooze_running || h->draining)
		return;
	h->snooze_running = true;
	h->snooze_job.run = snooze_run;
	h->snooze_job.done = snooze_done;
	h->snooze_job.arg = h;
	sb_store_submit(h->store, &h->snooze_job);
}

void sb_hub_snooze_kick(void)
{
	struct sb_hub *h = sb_hub_g;
	if (!h->snooze_running)
		snooze_schedule(h, sb_store_conv_next_snooze(h->store));
}

/* ---- logging from lws ---- */

static void lws_emit(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	sb_log(level == LLL_ERR ? SB_LOG_ERR : SB_LOG_WARN, "msg=lws text=\"%.*s\"", (int)n, line);
}

/* ---- a listener shared by several workers ----
 * lws 4.1 sets no SO_REUSEPORT, so the master binds the port once and every worker accepts
 * from that one socket (inherited across exec): the listen fd is adopted as a raw
 * descriptor, and each readiness accepts what is queued and hands it to lws as if its own
 * listener had. A draining worker just stops accepting; the others take every new
 * connection, so an upgrade refuses nothing. */

static struct lws *accept_wsi;
static int shared_listen_fd = -1;

static int cb_accept(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		     size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		for (int i = 0; i < 64 && !sb_hub_draining(); i++) {
			int fd = accept4(shared_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0)
				break; /* EAGAIN: another worker took it, or none left */
			if (!lws_adopt_socket_vhost(lws_get_vhost(wsi), fd))
				sb_log(SB_LOG_WARN, "msg=adopt_failed");
		}
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		accept_wsi = NULL;
		return 0;
	default:
		return 0;
	}
	(void)user;
	(void)in;
	(void)len;
}

static const struct lws_protocols accept_protocol = {
	.name = "sb-accept",
	.callback = cb_accept,
};

/* Closes our listening sockets: the kernel stops handing us connections (new ones are
 * refused) while the connections we have go on. Each listener's descriptor is replaced
 * (dup2) by an eventfd that is never readable: a listener merely shut down stays readable,
 * and lws, still polling it, would spin on accept() failing with EINVAL for the whole drain
 * (thousands of log lines a second). */
static void stop_listening(void)
{
	if (shared_listen_fd >= 0) {
		/* the listener is shared: stop accepting here only, never shut it down */
		if (accept_wsi)
			lws_set_timeout(accept_wsi, PENDING_TIMEOUT_KILLED_BY_PARENT,
					LWS_TO_KILL_ASYNC);
		return;
	}
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name), v = 0;
		socklen_t l = sizeof v;
		if (fd > 2 && fd != dirfd(d) &&
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v) {
			int quiet = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (quiet < 0 || dup2(quiet, fd) < 0)
				shutdown(fd, SHUT_RDWR);
			if (quiet >= 0)
				close(quiet);
		}
	}
	closedir(d);
}

/* ---- signals ---- */

static void on_signal(int sig)
{
	(void)sig;
	if (sb_hub_g) {
		sb_hub_g->signalled = 1;
		if (sb_hub_g->lws)
			lws_cancel_service(sb_hub_g->lws);
	}
}

/* ---- serve ---- */

static void drain_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents; /* returning from ev_run is all it is for */
}

static const struct lws_http_mount mount_static = {
	.mountpoint = "/",
	.mountpoint_len = 1,
	.origin_protocol = LWSMPRO_FILE,
	.def = "index.html",
	/* file completions go to the HTTP protocol, which ends the transaction (keep-alive) */
	.protocol = "sb-http",
};

static struct lws_http_mount mounts[7];

static void build_mounts(const struct sb_config *cfg)
{
	static const char *const dyn[] = { "/api", "/webhooks", "/sandbox", "/healthz", "/readyz",
					   "/metrics" };
	for (int i = 0; i < 6; i++) {
		memset(&mounts[i], 0, sizeof mounts[i]);
		mounts[i].mountpoint = dyn[i];
		mounts[i].mountpoint_len = (unsigned char)strlen(dyn[i]);
		mounts[i].origin = "sb-http";
		mounts[i].origin_protocol = LWSMPRO_CALLBACK;
		mounts[i].mount_next = &mounts[i + 1];
	}
	mounts[6] = mount_static;
	mounts[6].origin = cfg->web_root;
	mounts[6].mount_next = NULL;
}

static int demo_setup(struct sb_hub *h);

static int serve(struct sb_hub *h)
{
	struct sb_config *cfg = &h->cfg;
	struct stat sst;
	if (stat(cfg->web_root, &sst) || !S_ISDIR(sst.st_mode)) {
		sb_log(SB_LOG_ERR, "msg=web_root_missing path=%s", cfg->web_root);
		return 1;
	}
	if (sb_auth_init())
		return 1;
	if (cfg->demo && demo_setup(h))
		return 1;

	/* the agent protocol first: a WebSocket without a subprotocol header binds to it */
	struct lws_protocols prot[4];
	prot[0] = sb_ws_protocol;
	prot[1] = sb_http_protocol;
	prot[2] = accept_protocol;
	memset(&prot[3], 0, sizeof prot[3]);
	const char *lfd = getenv("SB_LISTEN_FD");
	shared_listen_fd = lfd ? atoi(lfd) : -1;
	build_mounts(cfg);

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = cfg->port;
	info.iface = cfg->listen_host;
	info.protocols = prot;
	info.mounts = mounts;
	info.vhost_name = "switchboard";
	info.alpn = "http/1.1";
	info.timeout_secs = SB_HTTP_TIMEOUT_SECONDS; /* also the whole-body limit (http.c) */
	info.max_http_header_data = 8192;
	info.max_http_header_pool = 1024;
	info.fd_limit_per_thread = 0;
	/* No lws "validity" timers: lws 4.1 keeps every connection's timer in one sorted
	 * list with an O(n) insert, so at 15,000 sockets its default (a ping after 300 s idle,
	 * re-armed on traffic) was 56% of the loop during connection storms. A dead peer is
	 * found by the kernel instead: TCP keepalive after 60 s idle, 3 probes 10 s apart. */
	static const lws_retry_bo_t no_validity = { .secs_since_valid_ping = 0,
						    .secs_since_valid_hangup = 0 };
	info.retry_and_idle_policy = &no_validity;
	info.ka_time = 60;
	info.ka_probes = 3;
	info.ka_interval = 10;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	if (!strchr(cfg->listen_host, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (shared_listen_fd >= 0)
		info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* the master's socket is ours */
	/* security headers on every answer, files included */
	static struct lws_protocol_vhost_options hdrs[] = {
		{ &hdrs[1], NULL, "X-Content-Type-Options:", "nosniff" },
		{ &hdrs[2], NULL, "X-Frame-Options:", "DENY" },
		{ &hdrs[3], NULL, "Referrer-Policy:", "same-origin" },
		{ NULL, NULL, "Content-Security-Policy:",
		  "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:; "
		  "style-src 'self'; script-src 'self'; frame-ancestors 'none'" },
	};
	info.headers = hdrs;

	struct sb_store_hooks hooks = {
		.wake = store_wake,
		.on_event = store_event,
		.on_commit = store_commit,
		.ud = h,
	};
	if (sb_store_start(h->store, &hooks))
		return 1;
	/* Our own libev loop, handed to lws as a foreign loop: epoll costs per ready fd,
	 * where lws 4.1's default loop poll()s every open fd on every pass (DESIGN.md §6).
	 * Signals stay ours (sigaction below; EVFLAG_NOSIGMASK: libev leaves them alone). */
	h->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
	if (!h->loop) {
		sb_log(SB_LOG_ERR, "msg=event_loop_failed backend=epoll");
		sb_store_stop(h->store);
		return 1;
	}
	void *foreign[1] = { h->loop };
	info.options |= LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = foreign;
	h->lws = lws_create_context(&info);
	if (!h->lws) {
		sb_log(SB_LOG_ERR, "msg=listen_failed host=%s port=%d", cfg->listen_host, cfg->port);
		sb_store_stop(h->store);
		ev_loop_destroy(h->loop);
		h->loop = NULL;
		return 1;
	}
	if (shared_listen_fd >= 0) {
		lws_sock_file_fd_type d = { .filefd = shared_listen_fd };
		struct lws_vhost *vh = lws_get_vhost_by_name(h->lws, "switchboard");
		accept_wsi = vh ? lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, d,
							     "sb-accept", NULL)
				: NULL;
		if (!accept_wsi) {
			sb_log(SB_LOG_ERR, "msg=shared_listener_failed fd=%d", shared_listen_fd);
			lws_context_destroy(h->lws);
			ev_loop_destroy(h->loop);
			sb_store_stop(h->store);
			return 1;
		}
	}
	if (sb_channels_start() ||
	    sb_cluster_start(cfg->worker_index > 0, cfg->nats_url)) {
		lws_context_destroy(h->lws);
		ev_loop_destroy(h->loop);
		sb_store_stop(h->store);
		return 1;
	}
	/* tell a supervising master we are serving */
	const char *rfd = getenv("SB_READY_FD");
	if (rfd && atoi(rfd) > 2) {
		int32_t me = (int32_t)getpid();
		if (write(atoi(rfd), &me, sizeof me) != (ssize_t)sizeof me)
			sb_log(SB_LOG_WARN, "msg=ready_signal_failed");
		close(atoi(rfd));
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ev_timer_init(&h->lws_tick, lws_tick_cb, 1., 1.);
	ev_timer_start(h->loop, &h->lws_tick);
	ev_prepare_init(&h->log_flush, log_flush_cb);
	ev_prepare_start(h->loop, &h->log_flush);
	sb_log_buffered(true);
	sb_hub_snooze_kick();
	sb_log(SB_LOG_INFO, "msg=listening host=%s port=%d public_url=%s db=%s pid=%d",
	       cfg->listen_host, cfg->port, cfg->public_url, cfg->db_path, (int)getpid());

	while (1) {
		if (h->signalled && !h->draining) {
			h->draining = true;
			h->drain_deadline = sb_now_us() + 10 * 1000000ull;
			sb_log(SB_LOG_INFO, "msg=draining");
			/* Stop accepting (the listener is shut down, so with several workers
			 * the kernel hands new connections to the others), answer what is
			 * already on a connection with Connection: close, say 1001 on every
			 * socket, and let queued writes commit. */
			stop_listening();
			sb_ws_shutdown();
			sb_cluster_stop();
			h->drain_quiet_at = sb_now_us() + 2 * 1000000ull;
			ev_timer_init(&h->drain_tick, drain_tick_cb, 0.05, 0.05);
			ev_timer_start(h->loop, &h->drain_tick);
		}
		if (h->draining) {
			sb_store_drain(h->store);
			sb_ws_flush();
			bool quiet = sb_store_queue_depth(h->store) == 0 && sb_ws_count() == 0 &&
				     (sb_http_open() == 0 || sb_now_us() > h->drain_quiet_at);
			if (quiet || sb_now_us() > h->drain_deadline)
				break;
		}
		/* one pass: wait for what is ready, serve it (a signal wakes it through
		 * lws_cancel_service, the drain through its tick) */
		ev_run(h->loop, EVRUN_ONCE);
	}
	if (h->draining)
		ev_timer_stop(h->loop, &h->drain_tick);
	ev_timer_stop(h->loop, &h->lws_tick);
	ev_prepare_stop(h->loop, &h->log_flush);
	sb_log_buffered(false);
	sb_timer_stop(&h->snooze_timer);
	/* let every queued write commit before the sockets go */
	sb_channels_stop();
	sb_store_stop(h->store);
	lws_context_destroy(h->lws);
	h->lws = NULL;
	ev_loop_destroy(h->loop);
	h->loop = NULL;
	sb_auth_fini();
	mailbox_run(h);
	sb_log(SB_LOG_INFO, "msg=stopped");
	return 0;
}


/* ---- several workers: the master process ---- */

static volatile sig_atomic_t m_term, m_hup;
static int m_wake = -1; /* write end of the master's self-pipe: a signal wakes its poll() */

static void m_signal(int sig)
{
	int e = errno;
	if (sig == SIGHUP)
		m_hup = 1;
	else if (sig != SIGCHLD)
		m_term = 1;
	if (m_wake >= 0 && write(m_wake, "s", 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	errno = e;
}

struct worker {
	pid_t pid;		/* 0: the slot waits for restart_at */
	int index, gen;
	bool ready, draining;
	int quick_deaths;	/* deaths in a row within a second of their start */
	uint64_t started_us, restart_at_us;
};

static char self_path[4096];

/* Starts worker `index` from the binary at self_path (a new binary after an upgrade), with
 * the master's own serve arguments. Returns the pid; when it serves, the worker writes its
 * pid (4 bytes, one atomic pipe write) to ready_wr. */
static pid_t spawn_worker(int index, int argc, char **argv, int ready_wr)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	char idx[16], rfd[16];
	snprintf(idx, sizeof idx, "%d", index);
	snprintf(rfd, sizeof rfd, "%d", ready_wr);
	setenv("SB_WORKER_INDEX", idx, 1);
	setenv("SB_READY_FD", rfd, 1);
	setenv("SB_WORKERS", "1", 1); /* a worker is one process */
	setenv("SB_DEMO", "0", 1);    /* the master made the demo tenant */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	char **av = sb_calloc((size_t)argc + 4, sizeof *av);
	int n = 0;
	av[n++] = self_path;
	av[n++] = "serve";
	for (int i = 0; i < argc; i++) {
		/* the master's --workers/--demo are not the worker's business */
		if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
			i++;
			continue;
		}
		if (!strncmp(argv[i], "--workers=", 10) || !strcmp(argv[i], "--demo"))
			continue;
		av[n++] = argv[i];
	}
	av[n] = NULL;
	execv(self_path, av);
	fprintf(stderr, "hubd: exec %s failed: %s\n", self_path, strerror(errno));
	_exit(127);
}

#define MAX_SLOTS 128
#define GEN_READY_US (15 * 1000000ull) /* a generation not all serving by then goes on anyway */

struct master {
	struct worker w[MAX_SLOTS];
	int nw, n, gen, argc, ready_wr;
	char **argv;
	int upgrading;		/* the generation being started by an upgrade, or 0 */
	uint64_t gen_deadline;	/* for the first generation, then for an upgrade */
	bool announced, ever_ready;
};

static void m_start(struct master *m, struct worker *w)
{
	w->pid = spawn_worker(w->index, m->argc, m->argv, m->ready_wr);
	w->ready = false;
	w->started_us = sb_now_us();
	w->restart_at_us = 0;
	if (w->pid < 0) {
		sb_log(SB_LOG_ERR, "msg=fork_failed index=%d err=\"%s\"", w->index, strerror(errno));
		w->pid = 0;
		w->restart_at_us = sb_now_us() + 1000000;
	}
}

static void m_spawn_gen(struct master *m)
{
	for (int i = 1; i <= m->n && m->nw < MAX_SLOTS; i++) {
		struct worker *w = &m->w[m->nw++];
		*w = (struct worker){ .index = i, .gen = m->gen };
		m_start(m, w);
	}
}

static int m_gen_ready(const struct master *m, int gen)
{
	int k = 0;
	for (int i = 0; i < m->nw; i++)
		k += m->w[i].gen == gen && m->w[i].pid > 0 && m->w[i].ready;
	return k;
}

/* A worker exited: a drained one is forgotten; any other crashed, and is restarted at once
 * (its agents reconnect and resume by seq), or after a growing pause if it keeps dying
 * within a second of its start. */
static void m_reaped(struct master *m, pid_t pid, int status)
{
	for (int i = 0; i < m->nw; i++) {
		struct worker *w = &m->w[i];
		if (w->pid != pid)
			continue;
		w->pid = 0;
		if (w->draining || m_term)
			return;
		uint64_t now = sb_now_us();
		w->quick_deaths = now - w->started_us < 1000000 ? w->quick_deaths + 1 : 0;
		uint64_t pause = 0;
		if (w->quick_deaths > 1) {
			pause = 100000ull << (w->quick_deaths - 2 < 6 ? w->quick_deaths - 2 : 6);
			if (pause > 5000000)
				pause = 5000000;
		}
		sb_log(SB_LOG_ERR, "msg=worker_died index=%d gen=%d pid=%d status=%d signal=%d "
				   "restart_in_ms=%llu", w->index, w->gen, (int)pid,
		       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0, (unsigned long long)pause / 1000);
		if (pause)
			w->restart_at_us = now + pause;
		else
			m_start(m, w);
		return;
	}
}

static void m_write_pidfile(const char *path)
{
	char tmp[1200];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *pf = fopen(tmp, "w");
	if (!pf || fprintf(pf, "%d\n", (int)getpid()) < 0 || fclose(pf) || rename(tmp, path))
		sb_log(SB_LOG_WARN, "msg=pidfile_failed path=%s err=\"%s\"", path, strerror(errno));
}

/* The master: binds the port once, writes its pid file (so `hubd upgrade` finds it from the
 * start), forks the workers, and then sits in one poll() loop that at any moment reaps and
 * restarts a crashed worker, counts workers that report they serve, and runs an upgrade:
 * the new binary's workers start beside the old ones; once they all serve (or 15 s passed)
 * the old ones drain. Nothing here blocks on one thing while another waits. */
static int serve_master(struct sb_hub *h, int argc, char **argv)
{
	const struct sb_config *cfg = &h->cfg;
	if (cfg->workers > MAX_SLOTS / 2) {
		sb_log(SB_LOG_ERR, "msg=too_many_workers workers=%d max=%d", cfg->workers,
		       MAX_SLOTS / 2);
		return 1;
	}
	if (cfg->demo && demo_setup(h))
		return 1;
	/* the workers open their own connections: none crosses the fork */
	sb_store_close(h->store);
	h->store = NULL;
	ssize_t l = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
	if (l <= 0)
		return 1;
	self_path[l] = '\0';
	char *del = strstr(self_path, " (deleted)");
	if (del)
		*del = '\0';
	/* one listening socket for every worker, of every generation */
	struct sockaddr_in sa_in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port) };
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	if (lfd < 0 || inet_pton(AF_INET, cfg->listen_host, &sa_in.sin_addr) != 1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(lfd, (struct sockaddr *)&sa_in, sizeof sa_in) || listen(lfd, 4096)) {
		sb_log(SB_LOG_ERR, "msg=listen_failed host=%s port=%d err=\"%s\"", cfg->listen_host,
		       cfg->port, strerror(errno));
		return 1;
	}
	char lfds[16];
	snprintf(lfds, sizeof lfds, "%d", lfd);
	setenv("SB_LISTEN_FD", lfds, 1);
	int ready[2], wake[2];
	if (pipe2(ready, 0) || pipe2(wake, O_CLOEXEC | O_NONBLOCK))
		return 1;
	fcntl(ready[0], F_SETFL, O_NONBLOCK);
	fcntl(ready[0], F_SETFD, FD_CLOEXEC);
	m_wake = wake[1];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = m_signal;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	char pidfile[1100];
	snprintf(pidfile, sizeof pidfile, "%s.master.pid", cfg->db_path);
	m_write_pidfile(pidfile);

	static struct master m;
	m = (struct master){ .n = cfg->workers, .gen = 1, .argc = argc, .argv = argv,
			     .ready_wr = ready[1], .gen_deadline = sb_now_us() + GEN_READY_US };
	m_spawn_gen(&m);
	int rc = 0, quick_total = 0;

	while (!m_term) {
		uint64_t now = sb_now_us(), next = now + 1000000;
		if ((!m.announced || m.upgrading) && m.gen_deadline < next)
			next = m.gen_deadline;
		for (int i = 0; i < m.nw; i++)
			if (m.w[i].pid == 0 && m.w[i].restart_at_us && m.w[i].restart_at_us < next)
				next = m.w[i].restart_at_us;
		struct pollfd p[2] = { { .fd = wake[0], .events = POLLIN },
				       { .fd = ready[0], .events = POLLIN } };
		int wait_ms = next > now ? (int)((next - now + 999) / 1000) : 0;
		if (poll(p, 2, wait_ms) < 0 && errno != EINTR)
			break;
		char sink[64];
		while (read(wake[0], sink, sizeof sink) > 0) {
		}
		int32_t rp[64];
		ssize_t r;
		while ((r = read(ready[0], rp, sizeof rp)) > 0)
			for (int k = 0; k < (int)(r / (ssize_t)sizeof rp[0]); k++)
				for (int i = 0; i < m.nw; i++)
					if (m.w[i].pid == rp[k]) {
						m.w[i].ready = true;
						m.w[i].quick_deaths = 0;
						m.ever_ready = true;
					}
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			m_reaped(&m, pid, status);
			quick_total += !m.ever_ready;
		}
		if (!m.ever_ready && quick_total >= 3 * m.n) {
			sb_log(SB_LOG_ERR, "msg=workers_fail_to_start deaths=%d (see their lines above)",
			       quick_total);
			rc = 1;
			break;
		}
		now = sb_now_us();
		for (int i = 0; i < m.nw; i++)
			if (m.w[i].pid == 0 && m.w[i].restart_at_us && m.w[i].restart_at_us <= now)
				m_start(&m, &m.w[i]);
		if (m_hup) {
			m_hup = 0;
			if (m.nw + m.n > MAX_SLOTS) {
				sb_log(SB_LOG_ERR, "msg=upgrade_refused reason=\"an upgrade is still draining\"");
			} else {
				m.gen++;
				m.upgrading = m.gen;
				m.gen_deadline = now + GEN_READY_US;
				sb_log(SB_LOG_INFO, "msg=upgrade_started gen=%d binary=%s", m.gen, self_path);
				m_spawn_gen(&m);
			}
		}
		if (!m.announced) {
			int up = m_gen_ready(&m, 1);
			if (up == m.n || now >= m.gen_deadline) {
				m.announced = true;
				sb_log(SB_LOG_INFO, "msg=master workers=%d ready=%d pid=%d", m.n, up,
				       (int)getpid());
				printf("hubd: %d workers serving on %s:%d\n", up, cfg->listen_host,
				       cfg->port);
				fflush(stdout);
			}
		}
		if (m.upgrading) {
			int up = m_gen_ready(&m, m.upgrading);
			if (up == m.n || now >= m.gen_deadline) {
				/* the new generation serves (or had its time): the old ones drain */
				sb_log(SB_LOG_INFO, "msg=upgrade gen=%d ready=%d", m.upgrading, up);
				for (int i = 0; i < m.nw; i++)
					if (m.w[i].gen < m.upgrading && !m.w[i].draining) {
						m.w[i].draining = true;
						if (m.w[i].pid > 0)
							kill(m.w[i].pid, SIGTERM);
					}
				m.upgrading = 0;
			}
		}
		/* forget finished slots so upgrades can go on forever */
		int k = 0;
		for (int i = 0; i < m.nw; i++)
			if (m.w[i].pid > 0 || (m.w[i].restart_at_us && !m.w[i].draining))
				m.w[k++] = m.w[i];
		m.nw = k;
	}
	sb_log(SB_LOG_INFO, "msg=master_stopping workers=%d", m.nw);
	for (int i = 0; i < m.nw; i++)
		if (m.w[i].pid > 0)
			kill(m.w[i].pid, SIGTERM);
	uint64_t end = sb_now_us() + 20 * 1000000ull;
	bool killed = false;
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			for (int i = 0; i < m.nw; i++)
				if (m.w[i].pid == pid)
					m.w[i].pid = 0;
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (!killed && sb_now_us() > end) {
			for (int i = 0; i < m.nw; i++)
				if (m.w[i].pid > 0)
					kill(m.w[i].pid, SIGKILL);
			killed = true;
		}
		usleep(20000);
	}
	unlink(pidfile);
	sb_log(SB_LOG_INFO, "msg=master_stopped");
	return rc;
}

/* ---- administration ---- */

static const char *take_opt(int *argc, char **argv, const char *name)
{
	for (int i = 0; i < *argc; i++)
		if (!strcmp(argv[i], name)) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "hubd: %s needs a value\n", name);
				exit(2);
			}
			const char *v = argv[i + 1];
			memmove(&argv[i], &argv[i + 2], sizeof(char *) * (size_t)(*argc - i - 2));
			*argc -= 2;
			return v;
		}
	return NULL;
}

struct create_ctx {
	const char *name, *email, *pw_hash;
	int role;
	int64_t tenant, id;
	unsigned char key_hash[32];
	char prefix[16];
};

static int tenant_run(struct sb_tx *tx, void *arg)
{
	struct create_ctx *c = arg;
	return sb_tx_tenant_create(tx, c->name, &c->id);
}

static int agent_run(struct sb_tx *tx, void *arg)
{
	struct create_ctx *c = arg;
	return sb_tx_agent_create(tx, c->tenant, c->email, c->name, c->role, c->pw_hash, NULL,
				  &c->id);
}

static int apikey_run(struct sb_tx *tx, void *arg)
{
	struct create_ctx *c = arg;
	return sb_tx_apikey_create(tx, c->tenant, c->key_hash, c->prefix, &c->id);
}

static int parse_tenant(const char *s, int64_t *out)
{
	char *end;
	if (!s)
		return -1;
	long long v = strtoll(s, &end, 10);
	if (*end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

static int read_password(char *out, size_t cap)
{
	if (!fgets(out, (int)cap, stdin))
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int cmd_admin(struct sb_hub *h, const char *what, const char *verb, int argc, char **argv)
{
	struct create_ctx c = { 0 };
	int rc;
	if (!strcmp(what, "tenant") && !strcmp(verb, "create")) {
		c.name = take_opt(&argc, argv, "--name");
		if (!c.name || !*c.name || strlen(c.name) > 200) {
			fprintf(stderr, "usage: hubd tenant create --name NAME\n");
			return 2;
		}
		sb_config_load(&h->cfg, NULL, argc, argv);
		if (sb_store_open(h->cfg.db_path, &h->store))
			return 1;
		rc = sb_store_run_sync(h->store, tenant_run, &c);
		if (rc) {
			fprintf(stderr, "hubd: tenant create failed: %s\n", sb_err_str(rc));
			return 1;
		}
		printf("%lld\n", (long long)c.id);
		return 0;
	}
	if (!strcmp(what, "agent") && !strcmp(verb, "create")) {
		const char *t = take_opt(&argc, argv, "--tenant"), *role;
		c.email = take_opt(&argc, argv, "--email");
		role = take_opt(&argc, argv, "--role");
		c.name = take_opt(&argc, argv, "--name");
		c.role = role ? sb_role_parse(SB_STRZ(role)) : SB_EINVAL;
		if (parse_tenant(t, &c.tenant) || !c.email || !strchr(c.email, '@') || c.role < 0) {
			fprintf(stderr, "usage: hubd agent create --tenant ID --email EMAIL "
					"--role owner|admin|agent [--name NAME] (password on stdin)\n");
			return 2;
		}
		sb_config_load(&h->cfg, NULL, argc, argv);
		char pw[1024], hash[crypto_pwhash_STRBYTES];
		if (isatty(0))
			fprintf(stderr, "password: ");
		if (read_password(pw, sizeof pw) || strlen(pw) < 8) {
			fprintf(stderr, "hubd: the password (on stdin) needs at least 8 characters\n");
			return 2;
		}
		if (sb_auth_hash_sync(pw, hash)) {
			fprintf(stderr, "hubd: hashing failed\n");
			return 1;
		}
		sodium_memzero(pw, sizeof pw);
		c.pw_hash = hash;
		if (sb_store_open(h->cfg.db_path, &h->store))
			return 1;
		rc = sb_store_run_sync(h->store, agent_run, &c);
		if (rc) {
			fprintf(stderr, "hubd: agent create failed: %s\n",
				rc == SB_ECONFLICT   ? "an agent with this email exists"
				: rc == SB_ENOTFOUND ? "no such tenant"
						     : sb_err_str(rc));
			return 1;
		}
		printf("%lld\n", (long long)c.id);
		return 0;
	}
	if (!strcmp(what, "apikey") && !strcmp(verb, "create")) {
		const char *t = take_opt(&argc, argv, "--tenant");
		if (parse_tenant(t, &c.tenant)) {
			fprintf(stderr, "usage: hubd apikey create --tenant ID\n");
			return 2;
		}
		sb_config_load(&h->cfg, NULL, argc, argv);
		if (sodium_init() < 0)
			return 1;
		char tok[64], key[80];
		sb_token(32, tok, sizeof tok);
		snprintf(key, sizeof key, "sbk_%s", tok);
		sb_auth_sid_hash(key, strlen(key), c.key_hash);
		snprintf(c.prefix, sizeof c.prefix, "%.10s", key);
		if (sb_store_open(h->cfg.db_path, &h->store))
			return 1;
		rc = sb_store_run_sync(h->store, apikey_run, &c);
		if (rc) {
			fprintf(stderr, "hubd: apikey create failed: %s\n",
				rc == SB_ENOTFOUND ? "no such tenant" : sb_err_str(rc));
			return 1;
		}
		printf("%s\n", key);
		sodium_memzero(key, sizeof key);
		return 0;
	}
	fprintf(stderr, "hubd: unknown command '%s %s'\n", what, verb);
	return 2;
}

/* The demo tenant: made once, its owner's login kept in demo_file (mode 0600). */
static int demo_setup(struct sb_hub *h)
{
	const struct sb_config *cfg = &h->cfg;
	char email[128] = "owner@demo.example", pw[64] = "";
	long long tenant = 0;
	FILE *f = fopen(cfg->demo_file, "r");
	if (f) {
		if (fscanf(f, "tenant=%lld email=%127s password=%63s", &tenant, email, pw) != 3)
			tenant = 0;
		fclose(f);
	}
	if (!tenant || sb_store_tenant_exists(h->store, tenant)) {
		struct create_ctx c = { .name = "Demo Business" };
		if (sb_store_run_sync(h->store, tenant_run, &c))
			return 1;
		tenant = c.id;
		sb_token(12, pw, sizeof pw);
		char hash[crypto_pwhash_STRBYTES];
		if (sb_auth_hash_sync(pw, hash))
			return 1;
		snprintf(email, sizeof email, "owner+%lld@demo.example", tenant);
		struct create_ctx a = { .tenant = tenant, .email = email, .name = "Demo Owner",
					.role = SB_ROLE_OWNER, .pw_hash = hash };
		if (sb_store_run_sync(h->store, agent_run, &a))
			return 1;
		if (sb_channels_demo(tenant))
			return 1;
		int fd = open(cfg->demo_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0) {
			sb_log(SB_LOG_ERR, "msg=demo_file_failed path=%s", cfg->demo_file);
			return 1;
		}
		dprintf(fd, "tenant=%lld email=%s password=%s\n", tenant, email, pw);
		close(fd);
	}
	printf("\n  Switchboard is starting.\n"
	       "  Console:  %s/\n"
	       "  Login:    %s\n"
	       "  Password: %s\n"
	       "  (kept in %s)\n\n",
	       cfg->public_url, email, pw, cfg->demo_file);
	fflush(stdout);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: hubd [serve] [options]       run the hub (hubd serve --help)\n"
		"       hubd migrate [--db PATH]     apply schema migrations\n"
		"       hubd backup DEST [--db PATH] online backup to DEST\n"
		"       hubd check [--db PATH]       PRAGMA integrity_check\n"
		"       hubd tenant create --name NAME\n"
		"       hubd agent create --tenant ID --email EMAIL --role owner|admin|agent"
		" [--name NAME]   (password on stdin)\n"
		"       hubd apikey create --tenant ID\n"
		"       hubd upgrade [--db PATH]     zero-downtime restart of a --workers hub\n");
}

int main(int argc, char **argv)
{
	static struct sb_hub hub;
	struct sb_hub *h = &hub;
	pthread_mutex_init(&h->mu, NULL);
	sb_hub_g = h;
	if (sodium_init() < 0) {
		fprintf(stderr, "hubd: libsodium failed to start\n");
		return 1;
	}
	const char *cmd = argc > 1 && argv[1][0] != '-' ? argv[1] : "serve";
	int skip = argc > 1 && argv[1][0] != '-' ? 2 : 1;
	int rc;
	if (!strcmp(cmd, "serve")) {
		sb_config_load(&h->cfg, NULL, argc - skip, argv + skip);
		if (sb_store_open(h->cfg.db_path, &h->store))
			return 1;
		rc = h->cfg.workers > 1 ? serve_master(h, argc - skip, argv + skip) : serve(h);
	} else if (!strcmp(cmd, "upgrade")) {
		/* hubd upgrade [--db PATH]: the master of the hub on that database starts the
		 * (new) binary's workers, then drains the old ones */
		sb_config_load(&h->cfg, NULL, argc - skip, argv + skip);
		char pidfile[1100];
		snprintf(pidfile, sizeof pidfile, "%s.master.pid", h->cfg.db_path);
		FILE *pf = fopen(pidfile, "r");
		int pid = 0;
		if (!pf || fscanf(pf, "%d", &pid) != 1 || pid <= 1) {
			fprintf(stderr, "hubd: no running master for %s (%s); upgrades need --workers "
					"2 or more\n", h->cfg.db_path, pidfile);
			if (pf)
				fclose(pf);
			return 1;
		}
		fclose(pf);
		if (kill(pid, SIGHUP)) {
			fprintf(stderr, "hubd: signalling %d: %s\n", pid, strerror(errno));
			return 1;
		}
		printf("upgrade started: master %d is starting new workers\n", pid);
		rc = 0;
	} else if (!strcmp(cmd, "migrate") || !strcmp(cmd, "check")) {
		sb_config_load(&h->cfg, NULL, argc - skip, argv + skip);
		if (sb_store_open(h->cfg.db_path, &h->store))
			return 1;
		if (!strcmp(cmd, "migrate")) {
			printf("schema version %d\n", sb_store_schema_version(h->store));
			rc = 0;
		} else {
			rc = sb_store_integrity(h->store) ? 1 : 0;
			printf("%s\n", rc ? "integrity check FAILED" : "ok");
		}
	} else if (!strcmp(cmd, "backup")) {
		if (argc <= skip || argv[skip][0] == '-') {
			usage();
			return 2;
		}
		const char *dest = argv[skip];
		sb_config_load(&h->cfg, NULL, argc - skip - 1, argv + skip + 1);
		if (sb_store_open(h->cfg.db_path, &h->store))
			return 1;
		rc = sb_store_backup(h->store, dest) ? 1 : 0;
		if (!rc)
			printf("backed up %s to %s\n", h->cfg.db_path, dest);
	} else if ((!strcmp(cmd, "tenant") || !strcmp(cmd, "agent") || !strcmp(cmd, "apikey")) &&
		   argc > skip) {
		rc = cmd_admin(h, cmd, argv[skip], argc - skip - 1, argv + skip + 1);
	} else {
		usage();
		return 2;
	}
	sb_store_close(h->store);
	h->store = NULL;
	sb_config_free(&h->cfg);
	sb_hub_g = NULL;
	return rc;
}
