/* SPDX-License-Identifier: MIT
 * Small helpers shared by the load tools: the monotonic clock, loopback-only URL
 * parsing, a bounded xorshift generator, printing a latency table, and reading a
 * server's CPU time and RSS from /proc for per-CPU-second and per-connection figures.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>

#include "bench_hist.h"

/* A parsed ws:// or http:// URL. The host must be an IPv4 literal in 127.0.0.0/8 or
 * "localhost": the tools refuse every other target. Lifetime: plain value. */
struct bench_url {
	char scheme[8];		/* "ws" or "http" */
	char host[64];		/* as written, for the Host header */
	uint16_t port;
	struct sockaddr_in addr;
	char path[1024];	/* path and query, at least "/" */
};

uint64_t bench_now_ns(void);
/* Parses url into u. Returns 0, or -1 with a message in err (errlen bytes). */
int bench_url_parse(const char *url, struct bench_url *u, char *err, size_t errlen);
/* Parses a dotted IPv4 address in 127.0.0.0/8 into a host-order value; -1 if not. */
int bench_loopback_addr(const char *s, uint32_t *out);

/* xorshift64*: fast, not cryptographic; used for mask keys and varied test data. */
uint64_t bench_rand(uint64_t *state);
/* Seeds from getrandom(2), falling back to the clock and pid. */
uint64_t bench_rand_seed(void);

/* Prints "label count p50 p90 p99 p99.9 max mean" in milliseconds. */
void bench_hist_print(FILE *f, const char *label, const struct bench_hist *h);

/* CPU seconds (user + system) and RSS in KiB of a process; -1 when unreadable. */
double bench_proc_cpu_s(int pid);
long bench_proc_rss_kib(int pid);

/* Reads a whole file of lines into a NULL-free array of strings (blank lines and lines
 * starting with '#' skipped). Returns the count (0 if none) or -1; *out is malloc'd and
 * owned by the caller, who frees it with bench_lines_free. */
int bench_lines_read(const char *path, char ***out);
void bench_lines_free(char **lines, int n);

/* Strict numeric option parsing: returns 0 or -1 if s is not a number in [lo, hi]. */
int bench_parse_double(const char *s, double lo, double hi, double *out);
int bench_parse_long(const char *s, long lo, long hi, long *out);

#endif
