/* SPDX-License-Identifier: MIT
 * fuzz_server.c: the whole hub, fed raw bytes over TCP (the shape of h2o's fuzz/driver.cc).
 * hubd's own main (hub/main.c, built here as sb_hubd_main) runs in this process: the admin
 * subcommands in forked children make a tenant and an owner in a fresh temp database
 * (SB_PWHASH=min), then `serve` runs on a thread on a free 127.0.0.1 port and we log in
 * once. Running in process lets libFuzzer see the server's coverage and ASan/UBSan see its
 * memory. Each input is one connection: the bytes are sent (placeholders @COOKIE@, @CSRF@,
 * @HOST@ and @ORIGIN@ replaced by the session's values, so inputs reach authenticated
 * REST handlers and the agent WebSocket; @CLOSE@ hangs up right after the bytes before it), the write side is shut, the answer read until the
 * server closes. GET /healthz must keep answering (checked every 64 inputs and at the end).
 * SB_FUZZ_SERVER_LOG=1 keeps the hub's log (info) on stderr; SB_FUZZ_SERVER_TRACE=1 prints
 * the first line of each answer.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SB_WEB_ROOT
#define SB_WEB_ROOT "web"
#endif

int sb_hubd_main(int argc, char **argv);

static char dir[64], db[128], listen_at[64], origin[80], cookie[256], csrf[128];
static int port;
static pthread_t server;
static unsigned long inputs;
static bool trace; /* SB_FUZZ_SERVER_TRACE=1: each answer's first line on stderr */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_server: %s\n", what);
	abort();
}

/* Runs `hubd args...` in a child with stdin from `in`; its stdout into out. */
static int run_cli(char **args, const char *in, char *out, size_t outlen)
{
	int ip[2], op[2];
	if (pipe(ip) || pipe(op))
		die("pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(ip[0], 0);
		dup2(op[1], 1);
		close(ip[1]);
		close(op[0]);
		int argc = 0;
		while (args[argc])
			argc++;
		int rc = sb_hubd_main(argc, args);
		fflush(NULL);
		_exit(rc);
	}
	close(ip[0]);
	close(op[1]);
	if (in && write(ip[1], in, strlen(in)) < 0)
		die("write to the CLI");
	close(ip[1]);
	size_t n = 0;
	ssize_t k;
	while (n + 1 < outlen && (k = read(op[0], out + n, outlen - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(op[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int connect_hub(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends p and reads the answer into out (NUL-terminated; NULL: discard). Handlers answer
 * asynchronously (store thread, password hashing), so the write side stays open while
 * answers come: reading stops once the server closes or has said nothing for idle_ms after
 * its first bytes. When it says nothing at all for first_ms (an incomplete request), the
 * write side is shut and the server's close awaited, up to timeout_ms in all.
 * Returns the bytes read, or -1 when no connection could be made. */
static long exchange(const char *p, size_t n, char *out, size_t outlen, int first_ms,
		     int idle_ms, int timeout_ms)
{
	int fd = connect_hub();
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < n) {
		ssize_t k = send(fd, p + off, n - off, MSG_NOSIGNAL);
		if (k <= 0)
			break; /* the server may close early on garbage */
		off += (size_t)k;
	}
	size_t got = 0, total = 0;
	char sink[4096];
	uint64_t start = now_ms(), end = start + (uint64_t)timeout_ms;
	bool shut = false;
	for (;;) {
		uint64_t t = now_ms();
		if (t >= end)
			break;
		int wait = (int)(end - t);
		if (!total && !shut && wait > first_ms)
			wait = first_ms;
		else if (total && wait > idle_ms)
			wait = idle_ms;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, wait) <= 0) {
			if (total)
				break;
			if (!shut) {
				shutdown(fd, SHUT_WR);
				shut = true;
			}
			continue;
		}
		char *dst = out && got + 1 < outlen ? out + got : sink;
		size_t room = out && got + 1 < outlen ? outlen - 1 - got : sizeof sink;
		ssize_t k = recv(fd, dst, room, 0);
		if (k <= 0)
			break;
		if (dst != sink)
			got += (size_t)k;
		total += (size_t)k;
	}
	if (out)
		out[got] = '\0';
	close(fd);
	return (long)total;
}

static bool healthy(int timeout_ms)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	char ans[512];
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	do {
		if (exchange(req, sizeof req - 1, ans, sizeof ans, 1000, 20, 2000) > 0 &&
		    !strncmp(ans, "HTTP/1.1 200", 12))
			return true;
		usleep(50 * 1000);
	} while (now_ms() < end);
	return false;
}

static void *serve_thread(void *arg)
{
	(void)arg;
	char web[] = SB_WEB_ROOT;
	char *args[] = { "hubd", "serve", "--listen", listen_at, "--db", db, "--public-url",
			 origin, "--web-root", web, NULL };
	int rc = sb_hubd_main(10, args);
	fprintf(stderr, "fuzz_server: hubd serve returned %d\n", rc);
	return NULL;
}

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "fuzz_server: could not remove %s\n", dir);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl))
		die("no free port");
	close(fd);
	return ntohs(sa.sin_port);
}

static void login(bool must)
{
	static const char body[] = "{\"email\":\"owner@fuzz.example\",\"password\":\"fuzz-password-1\"}";
	char req[1024], ans[8192];
	snprintf(req, sizeof req,
		 "POST /api/v1/auth/login HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 listen_at, origin, sizeof body - 1, body);
	if (exchange(req, strlen(req), ans, sizeof ans, 5000, 50, 5000) <= 0 ||
	    strncmp(ans, "HTTP/1.1 200", 12)) {
		fprintf(stderr, "fuzz_server: login answered: %.300s\n", ans);
		if (must)
			die("login failed");
		return;
	}
	const char *c = strcasestr(ans, "\r\nset-cookie: ");
	const char *t = strstr(ans, "\"csrf_token\":\"");
	if (!c || !t)
		die("no session cookie or csrf token in the login answer");
	c += 14;
	t += 14;
	snprintf(cookie, sizeof cookie, "%.*s", (int)strcspn(c, ";\r\n"), c);
	snprintf(csrf, sizeof csrf, "%.*s", (int)strcspn(t, "\""), t);
}

/* An input may have logged the session out: log in again so later inputs stay
 * authenticated. Failing that (the owner deactivated) inputs go on anonymously. */
static void relogin_if_needed(void)
{
	char req[512], ans[256];
	snprintf(req, sizeof req, "GET /api/v1/me HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n",
		 listen_at, cookie);
	if (exchange(req, strlen(req), ans, sizeof ans, 2000, 20, 2000) > 0 &&
	    !strncmp(ans, "HTTP/1.1 401", 12))
		login(false);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *log = getenv("SB_FUZZ_SERVER_LOG");
	setenv("SB_LOG_LEVEL", log && *log == '1' ? "info" : "error", 1);
	setenv("SB_PWHASH", "min", 1);
	const char *tr = getenv("SB_FUZZ_SERVER_TRACE");
	trace = tr && *tr == '1';
	unsetenv("SB_CONFIG");
	unsetenv("SB_SECRET_KEY");
	snprintf(dir, sizeof dir, "/tmp/sb-fuzz-server-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(db, sizeof db, "%s/hub.db", dir);
	atexit(remove_dir);

	char out[256];
	char *tenant[] = { "hubd", "tenant", "create", "--name", "Fuzz Inc", "--db", db, NULL };
	if (run_cli(tenant, NULL, out, sizeof out))
		die("hubd tenant create failed");
	char tid[32];
	snprintf(tid, sizeof tid, "%lld", atoll(out));
	char *agent[] = { "hubd", "agent", "create", "--tenant", tid, "--email",
			  "owner@fuzz.example", "--role", "owner", "--name", "Fuzz Owner", "--db",
			  db, NULL };
	if (run_cli(agent, "fuzz-password-1\n", out, sizeof out))
		die("hubd agent create failed");

	port = free_port();
	snprintf(listen_at, sizeof listen_at, "127.0.0.1:%d", port);
	snprintf(origin, sizeof origin, "http://127.0.0.1:%d", port);
	if (pthread_create(&server, NULL, serve_thread, NULL))
		die("pthread_create");
	if (!healthy(15000))
		die("the hub did not answer /healthz");
	login(true);
	fprintf(stderr, "fuzz_server: hub on %s, db %s\n", origin, db);
	return 0;
}

/* The input with the placeholders replaced. */
static char *expand(const uint8_t *data, size_t size, size_t *outlen)
{
	static const struct {
		const char *name;
		const char *value;
	} ph[] = { { "@COOKIE@", cookie }, { "@CSRF@", csrf }, { "@HOST@", listen_at },
		   { "@ORIGIN@", origin } };
	struct sb_buf b;
	sb_buf_init(&b, 0);
	size_t i = 0, run = 0;
	while (i < size) {
		bool hit = false;
		if (data[i] == '@') {
			for (size_t k = 0; k < sizeof ph / sizeof ph[0] && !hit; k++) {
				size_t l = strlen(ph[k].name);
				if (size - i >= l && !memcmp(data + i, ph[k].name, l)) {
					sb_buf_add(&b, data + run, i - run);
					sb_buf_adds(&b, ph[k].value);
					i += l;
					run = i;
					hit = true;
				}
			}
		}
		if (!hit)
			i++;
	}
	sb_buf_add(&b, data + run, size - run);
	return sb_buf_steal(&b, outlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;
	char *req = expand(data, size, &n);
	static char ans[16384];
	long got;
	char *cut = memmem(req, n, "@CLOSE@", 7);
	if (cut) { /* send up to the mark and hang up: a client gone mid-request */
		got = exchange(req, (size_t)(cut - req), trace ? ans : NULL, sizeof ans, 0, 0, 0);
		usleep(200 * 1000); /* let what it started finish without it */
	}
	else
		got = exchange(req, n, trace ? ans : NULL, sizeof ans, 50, 10, 500);
	if (got < 0 && !healthy(5000))
		die("the hub refuses connections");
	if (trace)
		fprintf(stderr, "fuzz_server: %zu bytes in, %ld out: %.*s\n", size, got,
			(int)strcspn(ans, "\r\n"), ans);
	free(req);
	if (++inputs % 64 == 0) {
		if (!healthy(5000))
			die("the hub stopped answering GET /healthz");
		relogin_if_needed();
	}
	return 0;
}

int sb_fuzz_replay_done(void)
{
	if (!healthy(5000))
		die("the hub stopped answering GET /healthz");
	/* a clean drain, as on SIGTERM: serve returns and the thread ends */
	kill(getpid(), SIGTERM);
	pthread_join(server, NULL);
	return 0;
}
