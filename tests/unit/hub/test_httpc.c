/* SPDX-License-Identifier: MIT
 * test_httpc.c: hub/httpc.c's promise that each request's done runs exactly once. Against a
 * loopback listener in this test: an answered request is delivered (through sb_loop_post,
 * here a list this test runs) with its status; a request that is in flight when the client
 * stops (the listener read it and never answers) is delivered at sb_httpc_fini, abandoned,
 * marked sent, so that its owner can free what it gave as arg (the outbox's op: a graceful
 * stop with requests in flight once leaked them, which LeakSanitizer reported).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "hub.h"
#include "httpc.h"

/* ---- the loop's mailbox, as this test's list ---- */

struct letter {
	struct letter *next;
	void (*fn)(void *arg);
	void *arg;
};
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct letter *mail;

void sb_loop_post(void (*fn)(void *arg), void *arg)
{
	struct letter *l = malloc(sizeof *l);
	l->fn = fn;
	l->arg = arg;
	pthread_mutex_lock(&mu);
	l->next = mail;
	mail = l;
	pthread_mutex_unlock(&mu);
}

static int run_mail(void)
{
	pthread_mutex_lock(&mu);
	struct letter *l = mail;
	mail = NULL;
	pthread_mutex_unlock(&mu);
	int n = 0;
	while (l) {
		struct letter *next = l->next;
		l->fn(l->arg);
		free(l);
		l = next;
		n++;
	}
	return n;
}

/* ---- what done saw ---- */

struct seen {
	int calls;
	int status;
	bool abandoned, sent;
	char *owned; /* what the caller gave: freed by done, as the outbox frees its op */
};

static void on_done(void *arg, const struct sb_httpc_res *res)
{
	struct seen *s = arg;
	s->calls++;
	s->status = res->status;
	s->abandoned = res->abandoned;
	s->sent = res->sent;
	free(s->owned);
	s->owned = NULL;
}

/* ---- a listener that answers 200, or reads and stays silent ---- */

static int listen_fd(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 8), 0);
	socklen_t l = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* accepts one connection and reads until the end of the request's head; answers 200 when
 * answer, else returns the connection open */
static int serve_one(int lfd, bool answer)
{
	int c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	char buf[4096];
	size_t len = 0;
	while (len < sizeof buf - 1) {
		ssize_t n = read(c, buf + len, sizeof buf - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
		buf[len] = 0;
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	if (answer) {
		const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
		assert_int_equal(write(c, a, strlen(a)), (ssize_t)strlen(a));
	}
	return c;
}

static void submit(int port, struct seen *s)
{
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	const char *h[] = { "Content-Type: text/plain" };
	s->owned = strdup("the caller's");
	assert_int_equal(sb_httpc_submit("POST", url, h, 1, "hi", 2, 5000, on_done, s), 0);
}

static void test_answered_then_abandoned(void **state)
{
	(void)state;
	int port;
	int lfd = listen_fd(&port);
	assert_int_equal(sb_httpc_init(2000, 5000, NULL, false), 0);

	struct seen a = { 0 };
	submit(port, &a);
	int c1 = serve_one(lfd, true);
	for (int i = 0; i < 500 && !a.calls; i++) {
		run_mail();
		usleep(10000);
	}
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 200);
	assert_false(a.abandoned);
	assert_null(a.owned);

	/* the second request is read by the listener and never answered */
	struct seen b = { 0 };
	submit(port, &b);
	int c2 = c1;
	/* it may reuse the first connection or open another */
	{
		fd_set rd;
		FD_ZERO(&rd);
		FD_SET(c1, &rd);
		FD_SET(lfd, &rd);
		struct timeval tv = { .tv_sec = 5 };
		assert_true(select((c1 > lfd ? c1 : lfd) + 1, &rd, NULL, NULL, &tv) > 0);
		if (FD_ISSET(lfd, &rd)) {
			c2 = serve_one(lfd, false);
		} else {
			char buf[4096];
			assert_true(read(c1, buf, sizeof buf) > 0);
		}
	}
	usleep(20000);
	assert_int_equal(run_mail(), 0); /* no answer yet */
	assert_int_equal(b.calls, 0);

	sb_httpc_fini();
	run_mail();
	assert_int_equal(b.calls, 1);
	assert_true(b.abandoned);
	assert_true(b.sent); /* it left: the provider may have acted on it */
	assert_null(b.owned);
	assert_int_equal(a.calls, 1);

	if (c2 != c1)
		close(c2);
	close(c1);
	close(lfd);
}

/* Requests submitted just before the stop: each one's done runs exactly once, whether the
 * client's thread had taken it from the queue, handed it to libcurl, or neither. (The thread
 * used to take the queue and then see the stop, and drop what it had taken: never done,
 * leaked with its owner's op; found by reliability-stop-under-load under LeakSanitizer.) */
static void test_stop_right_after_submit(void **state)
{
	(void)state;
	int port;
	int lfd = listen_fd(&port); /* never accepts: connections wait in its backlog */
	enum { ROUNDS = 200, N = 4 };
	for (int r = 0; r < ROUNDS; r++) {
		assert_int_equal(sb_httpc_init(2000, 5000, NULL, false), 0);
		struct seen s[N] = { 0 };
		for (int i = 0; i < N; i++) {
			submit(port, &s[i]);
			if (r % 3 == i % 3)
				usleep((useconds_t)(r % 7) * 20); /* vary where the thread is at the stop */
		}
		sb_httpc_fini();
		run_mail();
		for (int i = 0; i < N; i++) {
			if (s[i].calls != 1)
				fail_msg("round %d request %d: done ran %d times", r, i, s[i].calls);
			assert_null(s[i].owned);
		}
	}
	close(lfd);
}

static void test_submit_after_fini(void **state)
{
	(void)state;
	struct seen s = { 0 };
	assert_int_equal(sb_httpc_submit("GET", "http://127.0.0.1:9/", NULL, 0, NULL, 0, 0,
					 on_done, &s),
			 SB_EBUSY);
	assert_int_equal(s.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answered_then_abandoned),
		cmocka_unit_test(test_stop_right_after_submit),
		cmocka_unit_test(test_submit_after_fini),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
