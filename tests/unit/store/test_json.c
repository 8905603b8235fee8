/* SPDX-License-Identifier: MIT
 * test_json.c: the untrusted-JSON parser's caps and its UTF-8 and shape checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "json.h"

static int parse(const char *s, size_t n, struct sb_json **out)
{
	static struct sb_arena a;
	sb_arena_free(&a);
	return sb_json_parse(&a, s, n, out, NULL);
}

static void test_values(void **state)
{
	(void)state;
	struct sb_json *j;
	const char *doc = "{\"a\":1,\"b\":\"x\\u00e9\",\"c\":[true,null,2.5],\"a\":-7}";
	assert_int_equal(parse(doc, strlen(doc), &j), 0);
	int64_t v;
	assert_true(sb_json_int(j, "a", &v));
	assert_int_equal(v, -7); /* the last duplicate wins */
	struct sb_str s;
	assert_true(sb_json_str(j, "b", &s));
	assert_int_equal(s.len, 3);
	assert_memory_equal(s.p, "x\xc3\xa9", 3);
	const struct sb_json *c = sb_json_get_type(j, "c", SB_JSON_ARRAY);
	assert_non_null(c);
	assert_int_equal(c->count, 3);
	assert_int_equal(c->child->next->next->type, SB_JSON_NUMBER);
	assert_false(c->child->next->next->is_int);
	assert_false(sb_json_int(j, "b", &v));
}

static void test_depth_cap(void **state)
{
	(void)state;
	struct sb_json *j;
	char buf[200];
	/* 32 levels parse, 33 do not */
	int n = 0;
	for (int i = 0; i < 32; i++)
		buf[n++] = '[';
	for (int i = 0; i < 32; i++)
		buf[n++] = ']';
	assert_int_equal(parse(buf, (size_t)n, &j), 0);
	n = 0;
	for (int i = 0; i < 33; i++)
		buf[n++] = '[';
	for (int i = 0; i < 33; i++)
		buf[n++] = ']';
	assert_int_equal(parse(buf, (size_t)n, &j), SB_ETOOBIG);
	/* 100,000 deep stops early, without recursion */
	size_t big = 100000;
	char *deep = malloc(big);
	memset(deep, '[', big);
	assert_int_equal(parse(deep, big, &j), SB_ETOOBIG);
	free(deep);
}

static void test_node_cap(void **state)
{
	(void)state;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_buf_addc(&b, '[');
	for (int i = 0; i < SB_JSON_MAX_NODES + 10; i++)
		sb_buf_adds(&b, i ? ",0" : "0");
	sb_buf_addc(&b, ']');
	struct sb_json *j;
	assert_int_equal(parse(sb_buf_data(&b), b.len, &j), SB_ETOOBIG);
	sb_buf_free(&b);
}

static void test_bad_input(void **state)
{
	(void)state;
	struct sb_json *j;
	static const char *const bad[] = { "{", "{\"a\":}", "[1,]", "{'a':1}", "{\"a\":1} x", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(parse(bad[i], strlen(bad[i]), &j), SB_EINVAL);
	/* overlong '/', a UTF-16 surrogate, a stray continuation byte */
	static const char *const utf[] = { "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\x80\"",
					   "\"\xf4\x90\x80\x80\"",
					   /* an escape that decodes to a lone low surrogate (yajl turns a lone high one
					    * into "?", which is valid) */
					   "\"\\udc00\"" };
	for (size_t i = 0; i < sizeof utf / sizeof utf[0]; i++)
		assert_int_equal(parse(utf[i], strlen(utf[i]), &j), SB_EINVAL);
	assert_true(sb_utf8_valid("\xf0\x9f\x98\x80", 4));
}

static void test_escape(void **state)
{
	(void)state;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_json_esc(&b, "a\"\\\n<\x01", 6);
	assert_string_equal(sb_buf_cstr(&b), "\"a\\\"\\\\\\n\\u003c\\u0001\"");
	sb_buf_free(&b);
}

/* A plain reading of the escaping rules, byte by byte, for sb_json_esc's fast runs to be
 * compared with. */
static void ref_esc(char *out, const unsigned char *p, size_t n)
{
	*out++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned c = p[i];
		if (c == '"' || c == '\\') {
			*out++ = '\\';
			*out++ = (char)c;
		} else if (c == '\n') {
			out += sprintf(out, "\\n");
		} else if (c == '\r') {
			out += sprintf(out, "\\r");
		} else if (c == '\t') {
			out += sprintf(out, "\\t");
		} else if (c < 0x20 || c == '<' || c == '>') {
			out += sprintf(out, "\\u%04x", c);
		} else {
			*out++ = (char)c;
		}
	}
	*out++ = '"';
	*out = '\0';
}

static void test_escape_random(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	static const char pool[] = "ab \"\\\n\r\t<>\x01\x1f\x7f\xc3\xa9/";
	unsigned char in[64];
	char want[64 * 6 + 3];
	for (int iter = 0; iter < 50000; iter++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t n = x % sizeof in;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* mostly plain bytes, so that long runs and lone escapes both occur */
			in[i] = x % 4 ? (unsigned char)('a' + x % 26) : (unsigned char)pool[x % (sizeof pool - 1)];
		}
		ref_esc(want, in, n);
		struct sb_buf b;
		sb_buf_init(&b, 0);
		sb_buf_adds(&b, "k");
		sb_json_esc(&b, (const char *)in, n);
		assert_string_equal(sb_buf_cstr(&b) + 1, want);
		/* a key goes through its own fast path */
		bool first = iter % 2;
		sb_buf_reset(&b);
		char key[64];
		memcpy(key, in, n);
		key[n] = '\0';
		sb_json_key(&b, &first, key);
		assert_false(first);
		char wk[64 * 6 + 8];
		ref_esc(wk + (iter % 2 ? 0 : 1), (const unsigned char *)key, strlen(key));
		if (!(iter % 2))
			wk[0] = ',';
		strcat(wk, ":");
		assert_string_equal(sb_buf_cstr(&b), wk);
		sb_buf_free(&b);
	}
	/* nothing at all, from a NULL pointer */
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_json_esc(&b, NULL, 0);
	assert_string_equal(sb_buf_cstr(&b), "\"\"");
	sb_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),   cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_node_cap), cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
