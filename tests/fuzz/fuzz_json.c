/* SPDX-License-Identifier: MIT
 * fuzz_json.c: sb_json_parse (hub/json.c) on untrusted bytes. Beyond "no crash", it checks
 * what callers rely on: the caps hold (depth <= 32, nodes <= 20000), counts match the
 * children, every string and key is NUL-terminated in the arena, and a parsed tree written
 * back with the hub's own writers (sb_json_esc) parses again to the same shape.
 * Decoded strings that are not valid UTF-8 (from \u escapes) are counted, not fatal, unless
 * SB_FUZZ_STRICT_UTF8=1 (see README.md).
 */
#include "fuzz.h"

static bool strict_utf8;
static unsigned long bad_utf8;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *s = getenv("SB_FUZZ_STRICT_UTF8");
	strict_utf8 = s && *s == '1';
	return 0;
}

static void check_str(struct sb_str s)
{
	FUZZ_CHECK(s.len == 0 || s.p);
	if (s.p)
		FUZZ_CHECK(s.p[s.len] == '\0');
	if (s.p && !sb_utf8_valid(s.p, s.len)) {
		bad_utf8++;
		FUZZ_CHECK(!strict_utf8);
	}
}

/* Walks n at depth d; returns the nodes counted. */
static size_t walk(const struct sb_json *n, int d, struct sb_buf *out)
{
	FUZZ_CHECK(d <= SB_JSON_MAX_DEPTH);
	size_t nodes = 1;
	switch (n->type) {
	case SB_JSON_NULL:
		sb_buf_adds(out, "null");
		break;
	case SB_JSON_BOOL:
		sb_buf_adds(out, n->b ? "true" : "false");
		break;
	case SB_JSON_NUMBER:
		check_str(n->str);
		FUZZ_CHECK(n->str.len > 0);
		sb_buf_add(out, n->str.p, n->str.len);
		break;
	case SB_JSON_STRING:
		check_str(n->str);
		sb_json_esc(out, n->str.p ? n->str.p : "", n->str.len);
		break;
	case SB_JSON_ARRAY:
	case SB_JSON_OBJECT: {
		bool obj = n->type == SB_JSON_OBJECT;
		size_t count = 0;
		sb_buf_addc(out, obj ? '{' : '[');
		for (const struct sb_json *c = n->child; c; c = c->next) {
			if (count)
				sb_buf_addc(out, ',');
			if (obj) {
				check_str(c->key);
				sb_json_esc(out, c->key.p ? c->key.p : "", c->key.len);
				sb_buf_addc(out, ':');
				/* lookups must find a member (the last duplicate) of that name */
				if (c->key.p && c->key.len == strlen(c->key.p)) {
					const struct sb_json *g = sb_json_get(n, c->key.p);
					FUZZ_CHECK(g && sb_str_eq(g->key, c->key));
					struct sb_str sv;
					int64_t iv;
					bool bv;
					FUZZ_CHECK(sb_json_str(n, c->key.p, &sv) ==
						   (g->type == SB_JSON_STRING));
					FUZZ_CHECK(sb_json_int(n, c->key.p, &iv) ==
						   (g->type == SB_JSON_NUMBER && g->is_int));
					FUZZ_CHECK(sb_json_bool(n, c->key.p, &bv) ==
						   (g->type == SB_JSON_BOOL));
				}
			} else {
				FUZZ_CHECK(c->key.len == 0);
			}
			nodes += walk(c, d + 1, out);
			count++;
		}
		FUZZ_CHECK(count == n->count);
		sb_buf_addc(out, obj ? '}' : ']');
		break;
	}
	default:
		FUZZ_CHECK(!"unknown node type");
	}
	return nodes;
}

/* The same shape: types, counts, keys, scalar values. */
static void same(const struct sb_json *a, const struct sb_json *b)
{
	FUZZ_CHECK(a->type == b->type && a->count == b->count);
	FUZZ_CHECK(sb_str_eq(a->key, b->key));
	if (a->type == SB_JSON_STRING || a->type == SB_JSON_NUMBER)
		FUZZ_CHECK(sb_str_eq(a->str, b->str));
	if (a->type == SB_JSON_BOOL)
		FUZZ_CHECK(a->b == b->b);
	if (a->type == SB_JSON_NUMBER)
		FUZZ_CHECK(a->is_int == b->is_int && (!a->is_int || a->i == b->i));
	const struct sb_json *x = a->child, *y = b->child;
	for (; x && y; x = x->next, y = y->next)
		same(x, y);
	FUZZ_CHECK(!x && !y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_arena a = { 0 };
	struct sb_json *root = NULL;
	const char *err = NULL;
	int rc = sb_json_parse(&a, (const char *)data, size, &root, &err);
	FUZZ_CHECK(rc == 0 || rc == SB_EINVAL || rc == SB_ETOOBIG);
	if (rc) {
		FUZZ_CHECK(err != NULL);
		sb_arena_free(&a);
		return 0;
	}
	FUZZ_CHECK(root && root->key.len == 0 && !root->next);
	struct sb_buf out;
	sb_buf_init(&out, 0);
	unsigned long bad_before = bad_utf8;
	size_t nodes = walk(root, 0, &out);
	FUZZ_CHECK(nodes <= SB_JSON_MAX_NODES);

	/* round trip: only when every decoded string was valid UTF-8, since the writer copies
	 * bytes as they are and the parser (rightly) refuses invalid UTF-8 */
	if (bad_utf8 == bad_before) {
		struct sb_arena a2 = { 0 };
		struct sb_json *again = NULL;
		rc = sb_json_parse(&a2, sb_buf_data(&out), out.len, &again, &err);
		if (rc) {
			fprintf(stderr, "round trip failed (%s): %.*s\n", err, (int)out.len,
				sb_buf_data(&out));
			FUZZ_CHECK(rc == 0);
		}
		same(root, again);
		sb_arena_free(&a2);
	}
	sb_buf_free(&out);
	sb_arena_free(&a);
	return 0;
}

int sb_fuzz_replay_done(void)
{
	if (bad_utf8)
		fprintf(stderr, "fuzz_json: %lu decoded strings were not valid UTF-8\n", bad_utf8);
	return 0;
}
