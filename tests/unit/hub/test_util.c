/* SPDX-License-Identifier: MIT
 * test_util.c: the hot-path formatters of hub/util.c against the printf and gmtime they
 * replace: sb_fmt_u64 (decimal and hex), sb_buf_add_i64 (the extremes included), and
 * sb_time_fmt over random instants, both sides of the epoch, leap days, year ends, and runs
 * of milliseconds within and across seconds (its per-thread cache of the last second).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "sb.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void ref_time(int64_t ms, char *out, size_t n)
{
	int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	time_t t = (time_t)sec;
	struct tm tm;
	assert_non_null(gmtime_r(&t, &tm));
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - sec * 1000) % 1000);
}

static void check_time(int64_t ms)
{
	char got[32], want[80];
	sb_time_fmt(ms, got, sizeof got);
	ref_time(ms, want, sizeof want);
	if (strcmp(got, want))
		fail_msg("ms %lld: got %s, want %s", (long long)ms, got, want);
}

static void test_fmt_u64(void **state)
{
	(void)state;
	static const uint64_t edge[] = { 0, 1, 9, 10, 15, 16, 99, 100, 0xffffff, UINT32_MAX,
					 (uint64_t)INT64_MAX, UINT64_MAX };
	char got[32], want[32];
	for (size_t i = 0; i < sizeof edge / sizeof edge[0] + 100000; i++) {
		uint64_t v = i < sizeof edge / sizeof edge[0] ? edge[i] : next() >> (next() % 64);
		assert_int_equal(sb_fmt_u64(got, v, 10), (size_t)snprintf(want, sizeof want, "%llu",
									   (unsigned long long)v));
		assert_string_equal(got, want);
		assert_int_equal(sb_fmt_u64(got, v, 16), (size_t)snprintf(want, sizeof want, "%llx",
									   (unsigned long long)v));
		assert_string_equal(got, want);
	}
}

static void test_buf_add_i64(void **state)
{
	(void)state;
	static const int64_t edge[] = { 0, 1, -1, 9, -9, 10, -10, INT64_MAX, INT64_MIN,
					INT64_MIN + 1 };
	char want[32];
	for (size_t i = 0; i < sizeof edge / sizeof edge[0] + 100000; i++) {
		int64_t v = i < sizeof edge / sizeof edge[0] ? edge[i]
							    : (int64_t)(next() >> (next() % 64)) * (next() & 1 ? -1 : 1);
		struct sb_buf b;
		sb_buf_init(&b, 0);
		sb_buf_adds(&b, "x=");
		sb_buf_add_i64(&b, v);
		snprintf(want, sizeof want, "x=%lld", (long long)v);
		assert_string_equal(sb_buf_cstr(&b), want);
		sb_buf_free(&b);
	}
}

static void test_time_fmt(void **state)
{
	(void)state;
	/* fixed instants: the epoch, just before it, leap days, year ends, the year 9999 */
	static const int64_t fixed[] = { 0, 1, 999, 1000, -1, -999, -1000, -1001,
					 951782400000, 951868799999, /* 2000-02-29 */
					 1709164800123,                /* 2024-02-29 */
					 1798761599999, 1798761600000, /* the end of 2026 */
					 253402300799999 };            /* 9999-12-31T23:59:59.999 */
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		check_time(fixed[i]);
	/* random instants from 1900 to 9999, and a run of milliseconds after each */
	for (int i = 0; i < 20000; i++) {
		int64_t ms = (int64_t)(next() % 10231200000000ull) - 2208988800000;
		check_time(ms);
		for (int k = 1; k < 20; k++)
			check_time(ms + (int64_t)(next() % 1500));
	}
	/* a short buffer is cut, as snprintf cut it */
	char small[11];
	sb_time_fmt(1798761600000, small, sizeof small);
	assert_string_equal(small, "2027-01-01");
}

/* Unicode's table of well-formed byte sequences (3.9, table 3-7), written out range by range:
 * a second reading of UTF-8 for sb_utf8_valid's to be compared with */
static bool ref_utf8(const unsigned char *p, size_t n)
{
	static const struct {
		unsigned char lo[4], hi[4];
		int len;
	} forms[] = {
		{ { 0x00 }, { 0x7f }, 1 },
		{ { 0xc2, 0x80 }, { 0xdf, 0xbf }, 2 },
		{ { 0xe0, 0xa0, 0x80 }, { 0xe0, 0xbf, 0xbf }, 3 },
		{ { 0xe1, 0x80, 0x80 }, { 0xec, 0xbf, 0xbf }, 3 },
		{ { 0xed, 0x80, 0x80 }, { 0xed, 0x9f, 0xbf }, 3 },
		{ { 0xee, 0x80, 0x80 }, { 0xef, 0xbf, 0xbf }, 3 },
		{ { 0xf0, 0x90, 0x80, 0x80 }, { 0xf0, 0xbf, 0xbf, 0xbf }, 4 },
		{ { 0xf1, 0x80, 0x80, 0x80 }, { 0xf3, 0xbf, 0xbf, 0xbf }, 4 },
		{ { 0xf4, 0x80, 0x80, 0x80 }, { 0xf4, 0x8f, 0xbf, 0xbf }, 4 },
	};
	size_t i = 0;
	while (i < n) {
		int len = 0;
		for (size_t f = 0; f < sizeof forms / sizeof forms[0] && !len; f++) {
			int k = 0;
			while (k < forms[f].len && i + (size_t)k < n && p[i + k] >= forms[f].lo[k] &&
			       p[i + k] <= forms[f].hi[k])
				k++;
			if (k == forms[f].len)
				len = k;
		}
		if (!len)
			return false;
		i += (size_t)len;
	}
	return true;
}

static void test_utf8_valid(void **state)
{
	(void)state;
	/* pieces that straddle the validator's 8-byte steps at every offset */
	static const char *const piece[] = {
		"a", "hello, w", "0123456789abcdef", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\x7f", "",
		/* not UTF-8: stray continuation, overlong, surrogate, above U+10FFFF, cut short,
		 * bytes that never occur */
		"\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xfe", "\xff",
	};
	size_t np = sizeof piece / sizeof piece[0];
	unsigned char buf[160];
	int valid = 0, invalid = 0;
	for (int iter = 0; iter < 200000; iter++) {
		size_t n = 0, want = next() % 120;
		bool clean = next() % 3 == 0; /* a third use only the first, valid pieces */
		while (n < want) {
			const char *s = piece[next() % (clean ? 10 : np)];
			size_t l = strlen(s);
			if (n + l > sizeof buf)
				break;
			memcpy(buf + n, s, l);
			n += l;
		}
		size_t off = next() % 8; /* from an unaligned start too */
		if (off > n)
			off = n;
		bool ref = ref_utf8(buf + off, n - off);
		if (sb_utf8_valid((const char *)buf + off, n - off) != ref) {
			fprintf(stderr, "sb_utf8_valid disagrees (reference %d) on %zu bytes:", ref,
				n - off);
			for (size_t k = off; k < n; k++)
				fprintf(stderr, " %02x", buf[k]);
			fprintf(stderr, "\n");
			fail();
		}
		ref ? valid++ : invalid++;
	}
	/* both answers were exercised, many times */
	assert_true(valid > 50000 && invalid > 50000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_u64),
		cmocka_unit_test(test_buf_add_i64),
		cmocka_unit_test(test_time_fmt),
		cmocka_unit_test(test_utf8_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
