/* SPDX-License-Identifier: MIT
 * test_common.c: the bridges' shared helpers: SHA-1 and HMAC-SHA1 against FIPS 180-4 and
 * RFC 2202 vectors, SMS segment counting at every boundary, form parsing and its caps,
 * arena strings with escaping, and Retry-After.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "test_host.h"
#include "sb_abuf.h"
#include "sb_form.h"
#include "sb_retry_after.h"
#include "sb_segments.h"
#include "sb_sha1.h"

static bool sb_bstr_eq_test(struct sb_str s, const char *z)
{
	return s.len == strlen(z) && memcmp(s.p ? s.p : "", z, s.len) == 0;
}

static void hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1_vectors(void **state)
{
	unsigned char d[20];
	char h[41];
	sb_sha1("abc", 3, d);
	hex(d, 20, h);
	assert_string_equal(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
	sb_sha1("", 0, d);
	hex(d, 20, h);
	assert_string_equal(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 448 bits */
	sb_sha1(m, strlen(m), d);
	hex(d, 20, h);
	assert_string_equal(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");

	/* one million 'a', fed in uneven pieces through the streaming API */
	struct sb_sha1 s;
	char buf[997];
	memset(buf, 'a', sizeof buf);
	sb_sha1_init(&s);
	size_t left = 1000000;
	for (size_t k = 1; left; k = k % 997 + 1) {
		size_t take = k < left ? k : left;
		sb_sha1_update(&s, buf, take);
		left -= take;
	}
	sb_sha1_final(&s, d);
	hex(d, 20, h);
	assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_hmac_sha1_rfc2202(void **state)
{
	unsigned char d[20], key[80];
	char h[41];
	memset(key, 0x0b, 20);
	sb_hmac_sha1(key, 20, "Hi There", 8, d);
	hex(d, 20, h);
	assert_string_equal(h, "b617318655057264e28bc0b6fb378c8ef146be00");
	sb_hmac_sha1("Jefe", 4, "what do ya want for nothing?", 28, d);
	hex(d, 20, h);
	assert_string_equal(h, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
	memset(key, 0xaa, 80); /* a key longer than the block is hashed first */
	const char *m = "Test Using Larger Than Block-Size Key - Hash Key First";
	sb_hmac_sha1(key, 80, m, strlen(m), d);
	hex(d, 20, h);
	assert_string_equal(h, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

/* The vectors above through each compression this CPU has, and the two compressions agree
 * on every length from 0 to 1,100 bytes (all paddings, 1 to 18 blocks) of pseudo-random
 * input. Where the CPU lacks the SHA extensions only the portable code is checked (and the
 * test says so). */
static void test_sha1_impls_agree(void **state)
{
	(void)state;
	int had = sb_sha1_impl(0);
	bool ni = sb_sha1_impl(2) == 2;
	if (!ni)
		print_message("note: this CPU has no SHA extensions; only the portable SHA-1 runs\n");
	for (int impl = 1; impl <= (ni ? 2 : 1); impl++) {
		assert_int_equal(sb_sha1_impl(impl), impl);
		test_sha1_vectors(NULL);
		test_hmac_sha1_rfc2202(NULL);
	}
	if (ni) {
		unsigned char buf[1100], a[20], b[20];
		uint32_t x = 0x9e3779b9u;
		for (size_t i = 0; i < sizeof buf; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			buf[i] = (unsigned char)x;
		}
		for (size_t n = 0; n <= sizeof buf; n++) {
			sb_sha1_impl(1);
			sb_sha1(buf, n, a);
			sb_sha1_impl(2);
			sb_sha1(buf, n, b);
			assert_memory_equal(a, b, 20);
			sb_sha1_impl(1);
			sb_hmac_sha1(buf + 7, 33, buf, n, a);
			sb_sha1_impl(2);
			sb_hmac_sha1(buf + 7, 33, buf, n, b);
			assert_memory_equal(a, b, 20);
		}
	}
	sb_sha1_impl(had);
}

static struct sb_seg_info seg(const char *s)
{
	struct sb_seg_info i;
	assert_int_equal(sb_seg_count(s, strlen(s), &i), 0);
	return i;
}

static char *rep(char *dst, const char *unit, int n)
{
	for (int i = 0; i < n; i++)
		strcat(dst, unit);
	return dst;
}

static void test_segments_gsm7(void **state)
{
	char b[2048] = "";
	struct sb_seg_info i = seg(rep(b, "a", 160));
	assert_int_equal(i.encoding, SB_SEG_GSM7);
	assert_int_equal(i.units, 160);
	assert_int_equal(i.segments, 1);
	i = seg(rep(b, "a", 1));
	assert_int_equal(i.units, 161);
	assert_int_equal(i.segments, 2);

	/* calculator vector: '{' (2 septets) + 158 digits = 160 -> 1; one more -> 2 */
	b[0] = '\0';
	strcat(b, "{");
	i = seg(rep(b, "5", 158));
	assert_int_equal(i.units, 160);
	assert_int_equal(i.chars, 159);
	assert_int_equal(i.segments, 1);
	i = seg(rep(b, "5", 1));
	assert_int_equal(i.segments, 2);

	/* an escape pair at a part boundary moves whole to the next part: 152 + 2 + 152 = 306
	 * septets is 3 parts, while 153 + 2 + 151 (no pair on the boundary) is 2 */
	b[0] = '\0';
	rep(b, "a", 152);
	strcat(b, "{");
	i = seg(rep(b, "a", 152));
	assert_int_equal(i.units, 306);
	assert_int_equal(i.segments, 3);
	b[0] = '\0';
	rep(b, "a", 153);
	strcat(b, "{");
	i = seg(rep(b, "a", 151));
	assert_int_equal(i.units, 306);
	assert_int_equal(i.segments, 2);

	/* extension and non-ASCII basic characters */
	i = seg("\xe2\x82\xac"); /* euro: 2 septets */
	assert_int_equal(i.encoding, SB_SEG_GSM7);
	assert_int_equal(i.units, 2);
	i = seg("\xc3\xa9\xc3\x9f\xce\xa9 @$_"); /* e-acute, sharp s, Omega */
	assert_int_equal(i.encoding, SB_SEG_GSM7);
	assert_int_equal(i.units, 7);
	i = seg("");
	assert_int_equal(i.segments, 0);
}

static void test_segments_ucs2(void **state)
{
	char b[4096] = "";
	struct sb_seg_info i = seg(rep(b, "\xd0\xb6", 70)); /* Cyrillic zhe */
	assert_int_equal(i.encoding, SB_SEG_UCS2);
	assert_int_equal(i.units, 70);
	assert_int_equal(i.segments, 1);
	i = seg(rep(b, "\xd0\xb6", 1));
	assert_int_equal(i.segments, 2);

	/* calculator vector: an emoji (2 UTF-16 units) + 68 chars = 70 units -> 1; +1 -> 2 */
	strcpy(b, "\xf0\x9f\x98\x9c");
	i = seg(rep(b, "a", 68));
	assert_int_equal(i.encoding, SB_SEG_UCS2);
	assert_int_equal(i.units, 70);
	assert_int_equal(i.chars, 69);
	assert_int_equal(i.segments, 1);
	i = seg(rep(b, "a", 1));
	assert_int_equal(i.segments, 2);

	/* a surrogate pair is never split: 66 + 2 + 66 = 134 units is 3 parts, not 2 */
	b[0] = '\0';
	rep(b, "\xd0\xb6", 66);
	strcat(b, "\xf0\x9f\x98\x9c");
	i = seg(rep(b, "\xd0\xb6", 66));
	assert_int_equal(i.units, 134);
	assert_int_equal(i.segments, 3);

	/* one character outside GSM turns the whole text UCS-2: backtick is not GSM */
	i = seg("plain text`");
	assert_int_equal(i.encoding, SB_SEG_UCS2);
	assert_int_equal(i.units, 11);

	struct sb_seg_info bad;
	assert_int_equal(sb_seg_count("\xc3", 1, &bad), SB_EINVAL);
	assert_int_equal(sb_seg_count("\xed\xa0\x80", 3, &bad), SB_EINVAL); /* surrogate */
	assert_int_equal(sb_seg_count("\xc0\xaf", 2, &bad), SB_EINVAL);     /* overlong */
}

static void test_form(void **state)
{
	struct test_call t;
	test_call_init(&t, NULL);
	struct sb_form f;
	assert_int_equal(sb_form_parse(&test_host, &t.arena,
				       SB_STR("a=1&b=x+y%21&&a=2&flag&=v&c="), &f), 0);
	assert_int_equal(f.n, 6);
	assert_true(sb_bstr_eq_test(f.v[0].name, "a") && sb_bstr_eq_test(f.v[0].value, "1"));
	assert_true(sb_bstr_eq_test(f.v[1].value, "x y!"));
	assert_true(sb_bstr_eq_test(f.v[2].name, "a") && sb_bstr_eq_test(f.v[2].value, "2"));
	assert_true(sb_bstr_eq_test(f.v[3].name, "flag") && f.v[3].value.len == 0);
	assert_true(f.v[4].name.len == 0 && sb_bstr_eq_test(f.v[4].value, "v"));
	struct sb_str v;
	assert_true(sb_form_get(&f, "a", &v) && sb_bstr_eq_test(v, "1"));
	assert_false(sb_form_get(&f, "missing", &v));

	assert_int_equal(sb_form_parse(&test_host, &t.arena, SB_STR("a=%2"), &f), SB_EINVAL);
	assert_int_equal(sb_form_parse(&test_host, &t.arena, SB_STR("a=%zz"), &f), SB_EINVAL);
	assert_int_equal(f.n, 0);

	static char big[SB_FORM_MAX_BYTES + 2];
	memset(big, 'a', sizeof big - 1);
	assert_int_equal(sb_form_parse(&test_host, &t.arena,
				       (struct sb_str){ big, SB_FORM_MAX_BYTES + 1 }, &f),
			 SB_ETOOBIG);
	memset(big, '&', SB_FORM_MAX_PARAMS + 1);
	assert_int_equal(sb_form_parse(&test_host, &t.arena,
				       (struct sb_str){ big, SB_FORM_MAX_PARAMS + 1 }, &f),
			 SB_ETOOBIG);

	assert_true(sb_bstr_eq_test(sb_url_query(SB_STR("https://h/p?x=1&y=2#frag")), "x=1&y=2"));
	assert_int_equal(sb_url_query(SB_STR("https://h/p#a?b")).len, 0);
	assert_int_equal(sb_url_query(SB_STR("https://h/p")).len, 0);
	test_call_fini(&t);
}

/* A byte-at-a-time reading of the form rules, for sb_form_parse's runs to be compared
 * with: returns the number of pairs, or -1 for a bad escape. */
static int ref_hex(char c)
{
	const char *d = "0123456789abcdef", *u = "0123456789ABCDEF";
	for (int i = 0; i < 16; i++)
		if (c == d[i] || c == u[i])
			return i;
	return -1;
}

static int ref_decode(const char *p, size_t n, char *out, size_t *olen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '%') {
			if (i + 2 >= n) /* fewer than two hex digits follow */
				return -1;
			int hi = ref_hex(p[i + 1]), lo = ref_hex(p[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = p[i] == '+' ? ' ' : p[i];
		}
	}
	*olen = o;
	return 0;
}

static void test_form_random(void **state)
{
	(void)state;
	uint64_t x = 0x853c49e6748fea9bull;
	static const char alpha[] = "ab=&%+2F0z\xc3";
	for (int iter = 0; iter < 20000; iter++) {
		char in[48];
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t n = x % sizeof in;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			in[i] = alpha[x % (sizeof alpha - 1)];
		}
		/* the reference: split on '&', skip empty parts, split at the first '=' */
		char names[48][48], values[48][48];
		size_t nl[48], vl[48];
		int want = 0;
		bool bad = false;
		for (size_t i = 0; i <= n && !bad;) {
			size_t e = i;
			while (e < n && in[e] != '&')
				e++;
			if (e > i) {
				size_t q = i;
				while (q < e && in[q] != '=')
					q++;
				size_t vs = q < e ? q + 1 : e;
				bad = ref_decode(in + i, q - i, names[want], &nl[want]) < 0 ||
				      ref_decode(in + vs, e - vs, values[want], &vl[want]) < 0;
				want++;
			}
			i = e + 1;
		}
		struct test_call t;
		test_call_init(&t, NULL);
		struct sb_form f;
		int rc = sb_form_parse(&test_host, &t.arena, (struct sb_str){ in, n }, &f);
		if (bad) {
			assert_int_equal(rc, SB_EINVAL);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(f.n, want);
			for (int k = 0; k < want; k++) {
				assert_int_equal(f.v[k].name.len, nl[k]);
				assert_memory_equal(f.v[k].name.p, names[k], nl[k]);
				assert_int_equal(f.v[k].value.len, vl[k]);
				assert_memory_equal(f.v[k].value.p, values[k], vl[k]);
				/* decoded pieces are NUL-terminated for the bridges */
				assert_int_equal(f.v[k].value.p[vl[k]], '\0');
			}
		}
		test_call_fini(&t);
	}
}

static void test_abuf(void **state)
{
	struct test_call t;
	test_call_init(&t, NULL);
	struct sb_abuf b;
	sb_abuf_init(&b, &test_host, &t.arena);
	sb_abuf_formkv(&b, "To", SB_STR("+1 555&x=y"));
	sb_abuf_formkv(&b, "Body", SB_STR("caf\xc3\xa9~"));
	assert_string_equal(b.p, "To=%2B1+555%26x%3Dy&Body=caf%C3%A9~");
	sb_abuf_init(&b, &test_host, &t.arena);
	sb_abuf_xmlesc(&b, "a<b>&\"c'\x01\td", 12);
	assert_string_equal(b.p, "a&lt;b&gt;&amp;&quot;c&apos;\td");
	sb_abuf_init(&b, &test_host, &t.arena);
	for (int i = 0; i < 1000; i++) /* growth across many arena blocks keeps the content */
		sb_abuf_printf(&b, "%03d,", i % 1000);
	assert_int_equal(b.len, 4000);
	assert_memory_equal(b.p + 3996, "999,", 4);
	test_call_fini(&t);
}

static void test_retry_after(void **state)
{
	assert_int_equal(sb_retry_after_ms(SB_STR("7"), TEST_NOW_MS), 7000);
	assert_int_equal(sb_retry_after_ms(SB_STR(" 0 "), TEST_NOW_MS), 0);
	assert_int_equal(sb_retry_after_ms(SB_STR("99999999999999"), TEST_NOW_MS),
			 SB_RETRY_AFTER_MAX_MS);
	/* TEST_NOW_MS is Thu, 01 Jan 2026 00:00:00 GMT */
	assert_int_equal(sb_retry_after_ms(SB_STR("Thu, 01 Jan 2026 00:01:30 GMT"), TEST_NOW_MS),
			 90000);
	assert_int_equal(sb_retry_after_ms(SB_STR("Wed, 31 Dec 2025 23:00:00 GMT"), TEST_NOW_MS),
			 0);
	int64_t ms;
	assert_int_equal(sb_http_date_parse(SB_STR("Sun, 06 Nov 1994 08:49:37 GMT"), &ms), 0);
	assert_int_equal(ms, 784111777000LL);
	assert_int_equal(sb_retry_after_ms(SB_STR(""), TEST_NOW_MS), -1);
	assert_int_equal(sb_retry_after_ms(SB_STR("5s"), TEST_NOW_MS), -1);
	assert_int_equal(sb_retry_after_ms(SB_STR("Thu, 01 Foo 2026 00:01:30 GMT"), TEST_NOW_MS),
			 -1);
	assert_int_equal(sb_retry_after_ms(SB_STR("Thu, 01 Jan 2026 00:01:30 UTC"), TEST_NOW_MS),
			 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha1_vectors),  cmocka_unit_test(test_hmac_sha1_rfc2202),
		cmocka_unit_test(test_sha1_impls_agree),
		cmocka_unit_test(test_segments_gsm7), cmocka_unit_test(test_segments_ucs2),
		cmocka_unit_test(test_form),          cmocka_unit_test(test_form_random),          cmocka_unit_test(test_abuf),
		cmocka_unit_test(test_retry_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
