/* SPDX-License-Identifier: MIT
 * Helpers shared by sbload and sbwebhook (see bench_util.h). The loopback check lives
 * here so that both tools refuse any target outside 127.0.0.0/8 the same way.
 */
#include "bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_loopback_addr(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (!strcmp(s, "localhost"))
		s = "127.0.0.1";
	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	if ((ntohl(a.s_addr) >> 24) != 127)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

int bench_url_parse(const char *url, struct bench_url *u, char *err, size_t errlen)
{
	const char *p, *hs, *he, *ps;
	uint32_t a;
	long port;
	size_t n;

	memset(u, 0, sizeof(*u));
	p = strstr(url, "://");
	if (!p || (size_t)(p - url) >= sizeof(u->scheme)) {
		snprintf(err, errlen, "bad URL '%s': no scheme", url);
		return -1;
	}
	memcpy(u->scheme, url, (size_t)(p - url));
	if (strcmp(u->scheme, "ws") && strcmp(u->scheme, "http")) {
		snprintf(err, errlen, "bad URL '%s': only ws:// and http:// (no TLS)", url);
		return -1;
	}
	hs = p + 3;
	ps = strchr(hs, '/');
	he = strchr(hs, ':');
	if (ps && he && he > ps)
		he = NULL;
	n = (size_t)((he ? he : ps ? ps : hs + strlen(hs)) - hs);
	if (!n || n >= sizeof(u->host)) {
		snprintf(err, errlen, "bad URL '%s': host", url);
		return -1;
	}
	memcpy(u->host, hs, n);
	port = 80;
	if (he) {
		char *end;

		errno = 0;
		port = strtol(he + 1, &end, 10);
		if (errno || end == he + 1 || port < 1 || port > 65535 || (*end && *end != '/')) {
			snprintf(err, errlen, "bad URL '%s': port", url);
			return -1;
		}
	}
	if (bench_loopback_addr(u->host, &a) < 0) {
		snprintf(err, errlen, "refusing '%s': only 127.0.0.0/8 targets are allowed", url);
		return -1;
	}
	u->port = (uint16_t)port;
	u->addr.sin_family = AF_INET;
	u->addr.sin_port = htons(u->port);
	u->addr.sin_addr.s_addr = htonl(a);
	if (!ps)
		ps = "/";
	if (strlen(ps) >= sizeof(u->path)) {
		snprintf(err, errlen, "bad URL '%s': path too long", url);
		return -1;
	}
	strcpy(u->path, ps);
	if (he)
		snprintf(u->host + n, sizeof(u->host) - n, ":%ld", port);
	return 0;
}

uint64_t bench_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t bench_rand_seed(void)
{
	uint64_t s = 0;

	if (getrandom(&s, sizeof(s), 0) != (ssize_t)sizeof(s) || !s)
		s = bench_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	return s ? s : 1;
}

void bench_hist_print(FILE *f, const char *label, const struct bench_hist *h)
{
	fprintf(f, "%-10s %10llu %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", label,
		(unsigned long long)h->count, bench_hist_percentile(h, 50) / 1e3,
		bench_hist_percentile(h, 90) / 1e3, bench_hist_percentile(h, 99) / 1e3,
		bench_hist_percentile(h, 99.9) / 1e3, h->max_us / 1e3,
		h->count ? (double)h->sum_us / (double)h->count / 1e3 : 0.0);
}

double bench_proc_cpu_s(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the command name may hold spaces */
	/* fields 14 and 15 (utime, stime) counted from the state, field 3 */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			 &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long bench_proc_rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int bench_lines_read(const char *path, char ***out)
{
	char *line = NULL, **v = NULL, **nv;
	size_t cap = 0;
	ssize_t len;
	int n = 0, vcap = 0;
	FILE *f = fopen(path, "r");

	*out = NULL;
	if (!f)
		return -1;
	while ((len = getline(&line, &cap, f)) >= 0) {
		while (len && strchr("\r\n ", line[len - 1]))
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		if (n == vcap) {
			vcap = vcap ? 2 * vcap : 64;
			nv = realloc(v, (size_t)vcap * sizeof(*v));
			if (!nv)
				goto fail;
			v = nv;
		}
		v[n] = strdup(line);
		if (!v[n])
			goto fail;
		n++;
	}
	free(line);
	fclose(f);
	*out = v;
	return n;
fail:
	free(line);
	fclose(f);
	bench_lines_free(v, n);
	return -1;
}

void bench_lines_free(char **lines, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

int bench_parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int bench_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
