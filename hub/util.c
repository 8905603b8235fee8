/* SPDX-License-Identifier: MIT
 * util.c: the helpers declared in sb.h: errors, slices, buffers, arena, logging,
 * clocks, randomness, UTF-8 and URL encoding. Thread-safe except where noted.
 */
#define _GNU_SOURCE
#include "sb.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

const char *sb_err_str(int err)
{
	switch (err) {
	case SB_OK: return "ok";
	case SB_ENOMEM: return "out of memory";
	case SB_EINVAL: return "invalid";
	case SB_ENOTFOUND: return "not found";
	case SB_EAUTH: return "unauthenticated";
	case SB_ETOOBIG: return "too big";
	case SB_ETENANT: return "wrong tenant";
	case SB_EPROVIDER: return "provider error";
	case SB_ERETRY: return "retry later";
	case SB_EDB: return "database error";
	case SB_ECONFLICT: return "conflict";
	case SB_EFORBIDDEN: return "forbidden";
	case SB_ERATE: return "rate limited";
	case SB_EBUSY: return "busy";
	case SB_EPOLICY: return "refused by policy";
	}
	return "unknown error";
}

bool sb_str_eq(struct sb_str a, struct sb_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool sb_str_eqz(struct sb_str a, const char *z)
{
	size_t n = strlen(z);
	return a.len == n && (n == 0 || memcmp(a.p, z, n) == 0);
}

bool sb_str_caseeqz(struct sb_str a, const char *z)
{
	size_t n = strlen(z);
	return a.len == n && (n == 0 || strncasecmp(a.p, z, n) == 0);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

struct sb_str sb_str_trim(struct sb_str s)
{
	while (s.len && is_ws(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && is_ws(s.p[s.len - 1]))
		s.len--;
	return s;
}

void *sb_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		sb_assert_fail("malloc", __FILE__, __LINE__);
	return p;
}

void *sb_calloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		sb_assert_fail("calloc", __FILE__, __LINE__);
	return p;
}

void *sb_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		sb_assert_fail("realloc", __FILE__, __LINE__);
	return q;
}

char *sb_strdup(const char *s)
{
	return s ? sb_strndup(s, strlen(s)) : NULL;
}

char *sb_strndup(const char *s, size_t n)
{
	char *p = sb_malloc(n + 1);
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

size_t sb_fmt_u64(char *out, uint64_t v, unsigned base)
{
	SB_ASSERT(base == 10 || base == 16);
	char tmp[21];
	size_t n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

/* ---- buffers ---- */

void sb_buf_add_i64(struct sb_buf *b, int64_t v)
{
	char d[24];
	size_t n = 0;
	if (v < 0)
		d[n++] = '-';
	/* the magnitude as unsigned: -INT64_MIN does not fit an int64_t */
	n += sb_fmt_u64(d + n, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10);
	sb_buf_add(b, d, n);
}

void sb_buf_init(struct sb_buf *b, size_t pre)
{
	b->base = NULL;
	b->pre = pre;
	b->len = 0;
	b->cap = 0;
}

void sb_buf_free(struct sb_buf *b)
{
	free(b->base);
	b->base = NULL;
	b->len = b->cap = 0;
}

void sb_buf_reset(struct sb_buf *b)
{
	b->len = 0;
}

void sb_buf_reserve(struct sb_buf *b, size_t more)
{
	/* keep one spare byte for the NUL of sb_buf_cstr */
	if (b->base && b->len + more + 1 <= b->cap)
		return;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < b->len + more + 1)
		ncap *= 2;
	b->base = sb_realloc(b->base, b->pre + ncap);
	b->cap = ncap;
}

void sb_buf_add(struct sb_buf *b, const void *p, size_t n)
{
	sb_buf_reserve(b, n);
	if (n)
		memcpy(b->base + b->pre + b->len, p, n);
	b->len += n;
}

void sb_buf_adds(struct sb_buf *b, const char *z)
{
	sb_buf_add(b, z, strlen(z));
}

void sb_buf_addc(struct sb_buf *b, char c)
{
	sb_buf_reserve(b, 1);
	b->base[b->pre + b->len++] = c;
}

void sb_buf_printf(struct sb_buf *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[256];
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		sb_buf_add(b, tmp, (size_t)n);
		return;
	}
	sb_buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->base + b->pre + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

const char *sb_buf_cstr(struct sb_buf *b)
{
	sb_buf_reserve(b, 0);
	b->base[b->pre + b->len] = '\0';
	return b->base + b->pre;
}

char *sb_buf_steal(struct sb_buf *b, size_t *len)
{
	SB_ASSERT(b->pre == 0);
	sb_buf_cstr(b);
	char *p = b->base;
	if (len)
		*len = b->len;
	b->base = NULL;
	b->len = b->cap = 0;
	return p;
}

/* ---- arena ---- */

struct sb_arena_chunk {
	struct sb_arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

void *sb_arena_alloc(struct sb_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct sb_arena_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 3000 ? n : 4096 - sizeof *c;
		c = sb_malloc(sizeof *c + cap);
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

char *sb_arena_strndup(struct sb_arena *a, const char *p, size_t n)
{
	char *q = sb_arena_alloc(a, n + 1);
	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

void sb_arena_free(struct sb_arena *a)
{
	struct sb_arena_chunk *c = a->head;
	while (c) {
		struct sb_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	a->head = NULL;
}

/* ---- logging ---- */

int sb_log_level_max = SB_LOG_INFO;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
#define LOG_BUF 65536
static char *log_buf; /* LOG_BUF bytes while buffered */
static size_t log_len;

static void log_write_locked(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(2, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to log to */
		p += w;
		n -= (size_t)w;
	}
}

static void log_flush_locked(void)
{
	log_write_locked(log_buf, log_len);
	log_len = 0;
}

void sb_log_flush(void)
{
	pthread_mutex_lock(&log_mu);
	if (log_len)
		log_flush_locked();
	pthread_mutex_unlock(&log_mu);
}

void sb_log_buffered(bool on)
{
	pthread_mutex_lock(&log_mu);
	if (on && !log_buf) {
		log_buf = sb_malloc(LOG_BUF);
		log_len = 0;
	} else if (!on && log_buf) {
		log_flush_locked();
		free(log_buf);
		log_buf = NULL;
	}
	pthread_mutex_unlock(&log_mu);
}

int sb_log_level_parse(const char *s)
{
	if (!s)
		return -1;
	if (!strcasecmp(s, "error") || !strcmp(s, "0"))
		return SB_LOG_ERR;
	if (!strcasecmp(s, "warn") || !strcmp(s, "1"))
		return SB_LOG_WARN;
	if (!strcasecmp(s, "info") || !strcmp(s, "2"))
		return SB_LOG_INFO;
	if (!strcasecmp(s, "debug") || !strcmp(s, "3"))
		return SB_LOG_DEBUG;
	return -1;
}

void sb_log(int level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	if (level > sb_log_level_max)
		return;
	char ts[32];
	sb_time_fmt(sb_wall_ms(), ts, sizeof ts);
	char line[1024];
	int n = snprintf(line, sizeof line, "ts=%s level=%s ", ts, names[level & 3]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	pthread_mutex_lock(&log_mu);
	if (!log_buf) {
		log_write_locked(line, len);
	} else {
		if (log_len + len > LOG_BUF)
			log_flush_locked();
		memcpy(log_buf + log_len, line, len);
		log_len += len;
		if (level <= SB_LOG_WARN || log_len > LOG_BUF / 2)
			log_flush_locked();
	}
	pthread_mutex_unlock(&log_mu);
}

_Noreturn void sb_assert_fail(const char *what, const char *file, int line)
{
	sb_log_flush();
	fprintf(stderr, "level=error msg=assertion_failed what=\"%s\" at=%s:%d\n", what, file, line);
	abort();
}

/* ---- clocks ---- */

uint64_t sb_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t sb_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* Every message's JSON carries two of these, and an event's is built for each write: the
 * date and time of the last second formatted are kept per thread, and the rest is digits
 * (no snprintf). */
void sb_time_fmt(int64_t ms, char *out, size_t outlen)
{
	static __thread int64_t last_sec = INT64_MIN;
	static __thread char last[20]; /* "YYYY-MM-DDTHH:MM:SS" */
	int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000, frac = ms - sec * 1000;
	if (sec != last_sec) {
		time_t t = (time_t)sec;
		struct tm tm = { 0 };
		bool ok = gmtime_r(&t, &tm) != NULL;
		int y = tm.tm_year + 1900;
		if (!ok || y < 0 || y > 9999) { /* out of RFC 3339's range: as before, by snprintf */
			snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, tm.tm_mon + 1,
				 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
			return;
		}
		put2(last, y / 100);
		put2(last + 2, y % 100);
		last[4] = '-';
		put2(last + 5, tm.tm_mon + 1);
		last[7] = '-';
		put2(last + 8, tm.tm_mday);
		last[10] = 'T';
		put2(last + 11, tm.tm_hour);
		last[13] = ':';
		put2(last + 14, tm.tm_min);
		last[16] = ':';
		put2(last + 17, tm.tm_sec);
		last_sec = sec;
	}
	char buf[25];
	memcpy(buf, last, 19);
	buf[19] = '.';
	buf[20] = (char)('0' + frac / 100);
	put2(buf + 21, (int)(frac % 100));
	buf[23] = 'Z';
	buf[24] = '\0';
	if (outlen) {
		size_t n = outlen - 1 < 24 ? outlen - 1 : 24;
		memcpy(out, buf, n);
		out[n] = '\0';
	}
}

static int digits(const char *p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

int sb_time_parse(struct sb_str s, int64_t *ms_out)
{
	int Y, M, D, h, m, sec, frac = 0;
	const char *p = s.p;
	if (s.len < 20 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != 't') ||
	    p[13] != ':' || p[16] != ':')
		return SB_EINVAL;
	if (digits(p, 4, &Y) || digits(p + 5, 2, &M) || digits(p + 8, 2, &D) ||
	    digits(p + 11, 2, &h) || digits(p + 14, 2, &m) || digits(p + 17, 2, &sec))
		return SB_EINVAL;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return SB_EINVAL;
	size_t i = 19;
	if (i < s.len && p[i] == '.') {
		i++;
		int nd = 0;
		while (i < s.len && p[i] >= '0' && p[i] <= '9') {
			if (nd < 3)
				frac = frac * 10 + (p[i] - '0');
			nd++;
			i++;
		}
		if (!nd)
			return SB_EINVAL;
		while (nd < 3) {
			frac *= 10;
			nd++;
		}
	}
	int off = 0;
	if (i < s.len && (p[i] == 'Z' || p[i] == 'z')) {
		i++;
	} else if (i + 6 == s.len && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
		int oh, om;
		if (digits(p + i + 1, 2, &oh) || digits(p + i + 4, 2, &om))
			return SB_EINVAL;
		off = (oh * 60 + om) * (p[i] == '-' ? -1 : 1);
		i += 6;
	} else {
		return SB_EINVAL;
	}
	if (i != s.len)
		return SB_EINVAL;
	struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
			 .tm_hour = h, .tm_min = m, .tm_sec = sec };
	time_t t = timegm(&tm);
	*ms_out = ((int64_t)t - (int64_t)off * 60) * 1000 + frac;
	return 0;
}

/* ---- randomness ---- */

void sb_random(void *p, size_t n)
{
	randombytes_buf(p, n);
}

void sb_hex(const void *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void sb_token(size_t bytes, char *out, size_t outlen)
{
	unsigned char raw[64];
	SB_ASSERT(bytes <= sizeof raw);
	sb_random(raw, bytes);
	sodium_bin2base64(out, outlen, raw, bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
}

/* ---- UTF-8 ---- */

bool sb_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		if (c < 0x80) {
			/* ASCII, nearly all of what arrives: eight bytes a step while no byte has
			 * its top bit set */
			i++;
			while (n - i >= 8) {
				uint64_t w;
				memcpy(&w, p + i, 8);
				if (w & UINT64_C(0x8080808080808080))
					break;
				i += 8;
			}
			continue;
		}
		size_t need;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < need + 1)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

size_t sb_utf8_count(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

/* ---- URL encoding ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long sb_url_decode(char *dst, const char *src, size_t n, bool plus_is_space)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == '%') {
			if (n - i < 3)
				return -1;
			int h = hexval(src[i + 1]), l = hexval(src[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			dst[o++] = (char)(h * 16 + l);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			dst[o++] = ' ';
		} else {
			dst[o++] = c;
		}
	}
	return (long)o;
}

void sb_url_encode(struct sb_buf *out, const char *p, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			sb_buf_addc(out, (char)c);
		} else {
			sb_buf_addc(out, '%');
			sb_buf_addc(out, hx[c >> 4]);
			sb_buf_addc(out, hx[c & 15]);
		}
	}
}
