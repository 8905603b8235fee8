/* SPDX-License-Identifier: MIT
 * sb.h: the small vocabulary every Switchboard module shares: error codes, string
 * slices, growable buffers, a bump arena for per-request scratch, logging and clocks.
 * No libwebsockets, sqlite or curl here, so bridges and tests can include it freely.
 */
#ifndef SB_H
#define SB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

/* Errors: 0 is success, everything else is a negative enum sb_err. */
enum sb_err {
	SB_OK = 0,
	SB_ENOMEM = -1,
	SB_EINVAL = -2,
	SB_ENOTFOUND = -3,
	SB_EAUTH = -4,
	SB_ETOOBIG = -5,
	SB_ETENANT = -6,
	SB_EPROVIDER = -7,
	SB_ERETRY = -8,
	SB_EDB = -9,
	SB_ECONFLICT = -10,
	SB_EFORBIDDEN = -11,
	SB_ERATE = -12,
	SB_EBUSY = -13,
	SB_EPOLICY = -14,
};
const char *sb_err_str(int err);

/* A borrowed, not necessarily NUL-terminated, byte slice. */
struct sb_str {
	const char *p;
	size_t len;
};
#define SB_STR(lit) ((struct sb_str){ (lit), sizeof(lit) - 1 })
static inline struct sb_str sb_strz_(const char *z)
{
	return (struct sb_str){ z, z ? strlen(z) : 0 };
}
#define SB_STRZ(z) sb_strz_(z)
bool sb_str_eq(struct sb_str a, struct sb_str b);
bool sb_str_eqz(struct sb_str a, const char *z);
bool sb_str_caseeqz(struct sb_str a, const char *z);
/* Trims ASCII white space at both ends. */
struct sb_str sb_str_trim(struct sb_str s);

/* Allocation: aborts on out-of-memory, so callers never check. */
void *sb_malloc(size_t n);
void *sb_calloc(size_t n, size_t sz);
void *sb_realloc(void *p, size_t n);
char *sb_strdup(const char *s);
char *sb_strndup(const char *s, size_t n);

/* A growable byte buffer. Lifetime: owned by whoever declared it; sb_buf_free releases.
 * `pre` bytes of headroom are reserved before the data (LWS_PRE for frames). */
struct sb_buf {
	char *base;  /* allocation start */
	size_t pre;  /* headroom before data */
	size_t len;  /* bytes of data */
	size_t cap;  /* bytes available after headroom */
};
void sb_buf_init(struct sb_buf *b, size_t pre);
void sb_buf_free(struct sb_buf *b);
void sb_buf_reset(struct sb_buf *b);
void sb_buf_reserve(struct sb_buf *b, size_t more);
void sb_buf_add(struct sb_buf *b, const void *p, size_t n);
void sb_buf_adds(struct sb_buf *b, const char *z);
void sb_buf_addc(struct sb_buf *b, char c);
void sb_buf_printf(struct sb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline char *sb_buf_data(const struct sb_buf *b) { return b->base ? b->base + b->pre : NULL; }
/* Returns the data NUL-terminated (the NUL is not counted in len). */
const char *sb_buf_cstr(struct sb_buf *b);
/* Hands the data (NUL-terminated) to the caller, who frees it; the buffer is emptied.
 * Only valid when pre == 0. */
char *sb_buf_steal(struct sb_buf *b, size_t *len);

/* A bump arena: many small allocations freed at once. Lifetime: per request/webhook. */
struct sb_arena {
	struct sb_arena_chunk *head;
};
void *sb_arena_alloc(struct sb_arena *a, size_t n);
char *sb_arena_strndup(struct sb_arena *a, const char *p, size_t n);
void sb_arena_free(struct sb_arena *a);

/* Logging: one line per event, key=value. Never pass bodies, tokens or phone numbers. */
enum sb_log_level { SB_LOG_ERR = 0, SB_LOG_WARN = 1, SB_LOG_INFO = 2, SB_LOG_DEBUG = 3 };
extern int sb_log_level_max;
void sb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sb_log_level_parse(const char *s);
/* Buffered logging (the serving worker): info and debug lines collect in memory and leave
 * with sb_log_flush (the loop calls it before it waits, and once a second) or when 32 KiB
 * are waiting; warnings and errors flush at once. Off: one write per line. */
void sb_log_buffered(bool on);
void sb_log_flush(void);
#define sb_log_enabled(l) ((l) <= sb_log_level_max)
#define SB_ASSERT(x)                                                                   \
	do {                                                                           \
		if (!(x))                                                              \
			sb_assert_fail(#x, __FILE__, __LINE__);                        \
	} while (0)
_Noreturn void sb_assert_fail(const char *what, const char *file, int line);

/* Clocks. */
uint64_t sb_now_us(void);       /* CLOCK_MONOTONIC */
int64_t sb_wall_ms(void);       /* CLOCK_REALTIME in ms since the epoch */
/* Formats ms since the epoch as RFC 3339 UTC with milliseconds into out (>= 25 bytes). */
void sb_time_fmt(int64_t ms, char *out, size_t outlen);
/* Parses RFC 3339 ("2026-01-02T03:04:05Z", optional fraction and offset). */
int sb_time_parse(struct sb_str s, int64_t *ms_out);

/* Random bytes and tokens (libsodium). */
void sb_random(void *p, size_t n);
/* Writes 2*n lowercase hex chars plus NUL into out. */
void sb_hex(const void *p, size_t n, char *out);
/* v in decimal (base 10) or lowercase hex (base 16), NUL-terminated, into out (at least 21
 * bytes); returns the length. For hot paths, where snprintf's format parsing costs more
 * than the digits. */
size_t sb_fmt_u64(char *out, uint64_t v, unsigned base);
/* Appends v in decimal (what "%lld" would print, without printf's cost). */
void sb_buf_add_i64(struct sb_buf *b, int64_t v);
/* A url-safe random token of `bytes` bytes of entropy (base64url, no padding) into out. */
void sb_token(size_t bytes, char *out, size_t outlen);

/* UTF-8 validation (rejects overlongs, surrogates, > U+10FFFF). */
bool sb_utf8_valid(const char *p, size_t n);
/* Counts code points in valid UTF-8. */
size_t sb_utf8_count(const char *p, size_t n);

/* URL form decoding helpers (application/x-www-form-urlencoded). Decodes into dst (which
 * may equal src); returns the decoded length or -1 on a bad escape. */
long sb_url_decode(char *dst, const char *src, size_t n, bool plus_is_space);
void sb_url_encode(struct sb_buf *out, const char *p, size_t n);

#endif
