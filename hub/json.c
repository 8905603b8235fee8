/* SPDX-License-Identifier: MIT
 * json.c: untrusted JSON to an arena tree through yajl callbacks (depth and node caps
 * enforced in the callbacks, so a 100,000-deep document stops at depth 33), and escaping
 * for the writers.
 */
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <yajl_parse.h>

struct pctx {
	struct sb_arena *a;
	struct sb_json *stack[SB_JSON_MAX_DEPTH + 1];
	struct sb_json *last[SB_JSON_MAX_DEPTH + 1]; /* last child at each level */
	int depth;
	size_t nodes;
	struct sb_json *root;
	struct sb_str pending_key;
	bool too_big;
};

static struct sb_json *add_node(struct pctx *c, enum sb_json_type t)
{
	if (++c->nodes > SB_JSON_MAX_NODES) {
		c->too_big = true;
		return NULL;
	}
	struct sb_json *n = sb_arena_alloc(c->a, sizeof *n);
	memset(n, 0, sizeof *n);
	n->type = t;
	if (c->depth == 0) {
		if (c->root)
			return NULL;
		c->root = n;
		return n;
	}
	struct sb_json *parent = c->stack[c->depth - 1];
	if (parent->type == SB_JSON_OBJECT) {
		n->key = c->pending_key;
		c->pending_key = (struct sb_str){ 0 };
	}
	if (c->last[c->depth - 1])
		c->last[c->depth - 1]->next = n;
	else
		parent->child = n;
	c->last[c->depth - 1] = n;
	parent->count++;
	return n;
}

static int cb_null(void *ctx)
{
	return add_node(ctx, SB_JSON_NULL) != NULL;
}

static int cb_bool(void *ctx, int v)
{
	struct sb_json *n = add_node(ctx, SB_JSON_BOOL);
	if (!n)
		return 0;
	n->b = v != 0;
	return 1;
}

static int cb_number(void *ctx, const char *s, size_t len)
{
	struct pctx *c = ctx;
	struct sb_json *n = add_node(c, SB_JSON_NUMBER);
	if (!n)
		return 0;
	char *z = sb_arena_strndup(c->a, s, len);
	n->str = (struct sb_str){ z, len };
	char *end;
	errno = 0;
	long long v = strtoll(z, &end, 10);
	if (*end == '\0' && errno == 0) {
		n->is_int = true;
		n->i = v;
		n->d = (double)v;
	} else {
		n->d = strtod(z, NULL);
	}
	return 1;
}

static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
	struct pctx *c = ctx;
	/* \u escapes can spell lone surrogates: the decoded text must be UTF-8 too */
	if (!sb_utf8_valid((const char *)s, len))
		return 0;
	struct sb_json *n = add_node(c, SB_JSON_STRING);
	if (!n)
		return 0;
	n->str = (struct sb_str){ sb_arena_strndup(c->a, (const char *)s, len), len };
	return 1;
}

static int open_container(struct pctx *c, enum sb_json_type t)
{
	if (c->depth >= SB_JSON_MAX_DEPTH) {
		c->too_big = true;
		return 0;
	}
	struct sb_json *n = add_node(c, t);
	if (!n)
		return 0;
	c->stack[c->depth] = n;
	c->last[c->depth] = NULL;
	c->depth++;
	return 1;
}

static int cb_start_map(void *ctx)
{
	return open_container(ctx, SB_JSON_OBJECT);
}

static int cb_map_key(void *ctx, const unsigned char *s, size_t len)
{
	struct pctx *c = ctx;
	if (!sb_utf8_valid((const char *)s, len))
		return 0;
	c->pending_key = (struct sb_str){ sb_arena_strndup(c->a, (const char *)s, len), len };
	return 1;
}

static int cb_end(void *ctx)
{
	struct pctx *c = ctx;
	c->depth--;
	return 1;
}

static int cb_start_array(void *ctx)
{
	return open_container(ctx, SB_JSON_ARRAY);
}

static const yajl_callbacks callbacks = {
	.yajl_null = cb_null,
	.yajl_boolean = cb_bool,
	.yajl_number = cb_number,
	.yajl_string = cb_string,
	.yajl_start_map = cb_start_map,
	.yajl_map_key = cb_map_key,
	.yajl_end_map = cb_end,
	.yajl_start_array = cb_start_array,
	.yajl_end_array = cb_end,
};

int sb_json_parse(struct sb_arena *a, const char *p, size_t len, struct sb_json **out,
		  const char **errmsg)
{
	struct pctx c = { .a = a };
	/* yajl's own check lets overlong forms and UTF-16 surrogates through */
	if (!sb_utf8_valid(p, len)) {
		if (errmsg)
			*errmsg = "the body is not valid UTF-8";
		return SB_EINVAL;
	}
	yajl_handle h = yajl_alloc(&callbacks, NULL, &c);
	if (!h)
		return SB_ENOMEM;
	/* strings are UTF-8 validated by yajl (the default); no comments, no garbage */
	yajl_status st = yajl_parse(h, (const unsigned char *)p, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	if (c.too_big) {
		if (errmsg)
			*errmsg = "document too deep or too large";
		return SB_ETOOBIG;
	}
	if (st != yajl_status_ok || !c.root) {
		if (errmsg)
			*errmsg = "malformed JSON";
		return SB_EINVAL;
	}
	*out = c.root;
	return 0;
}

const struct sb_json *sb_json_get(const struct sb_json *obj, const char *key)
{
	if (!obj || obj->type != SB_JSON_OBJECT)
		return NULL;
	/* the last duplicate wins, like most parsers */
	const struct sb_json *found = NULL;
	for (const struct sb_json *n = obj->child; n; n = n->next)
		if (sb_str_eqz(n->key, key))
			found = n;
	return found;
}

const struct sb_json *sb_json_get_type(const struct sb_json *obj, const char *key,
				       enum sb_json_type t)
{
	const struct sb_json *n = sb_json_get(obj, key);
	return n && n->type == t ? n : NULL;
}

bool sb_json_str(const struct sb_json *obj, const char *key, struct sb_str *out)
{
	const struct sb_json *n = sb_json_get_type(obj, key, SB_JSON_STRING);
	if (!n)
		return false;
	*out = n->str;
	return true;
}

bool sb_json_int(const struct sb_json *obj, const char *key, int64_t *out)
{
	const struct sb_json *n = sb_json_get_type(obj, key, SB_JSON_NUMBER);
	if (!n || !n->is_int)
		return false;
	*out = n->i;
	return true;
}

bool sb_json_bool(const struct sb_json *obj, const char *key, bool *out)
{
	const struct sb_json *n = sb_json_get_type(obj, key, SB_JSON_BOOL);
	if (!n)
		return false;
	*out = n->b;
	return true;
}

/* Bytes that JSON strings here never carry as they are: controls, the quote and the
 * backslash, and < > so that JSON is safe inside HTML. */
static const unsigned char json_esc_tab[256] = {
	[0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
	[0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
	[0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
	[0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
	[0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1, ['<'] = 1,
	['>'] = 1,
};

/* The length of p's leading run of bytes that need no escape. */
static size_t json_plain_run(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && !json_esc_tab[(unsigned char)p[i]])
		i++;
	return i;
}

void sb_json_esc(struct sb_buf *b, const char *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t run = json_plain_run(p, n);
	/* nearly every string needs no escape: one reservation, one copy */
	sb_buf_reserve(b, n + 2);
	char *o = b->base + b->pre + b->len;
	*o++ = '"';
	if (run)
		memcpy(o, p, run);
	b->len += run + 1;
	while (run < n) {
		unsigned char c = (unsigned char)p[run++];
		switch (c) {
		case '"': sb_buf_add(b, "\\\"", 2); break;
		case '\\': sb_buf_add(b, "\\\\", 2); break;
		case '\n': sb_buf_add(b, "\\n", 2); break;
		case '\r': sb_buf_add(b, "\\r", 2); break;
		case '\t': sb_buf_add(b, "\\t", 2); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hx[c >> 4], hx[c & 15] };
			sb_buf_add(b, u, 6);
		}
		}
		size_t k = json_plain_run(p + run, n - run);
		sb_buf_add(b, p + run, k);
		run += k;
	}
	sb_buf_addc(b, '"');
}

void sb_json_key(struct sb_buf *b, bool *first, const char *key)
{
	size_t n = strlen(key);
	if (json_plain_run(key, n) != n) { /* keys are the code's names: never, but be exact */
		if (!*first)
			sb_buf_addc(b, ',');
		*first = false;
		sb_json_esc(b, key, n);
		sb_buf_addc(b, ':');
		return;
	}
	sb_buf_reserve(b, n + 4);
	char *o = b->base + b->pre + b->len, *start = o;
	if (!*first)
		*o++ = ',';
	*first = false;
	*o++ = '"';
	memcpy(o, key, n);
	o += n;
	*o++ = '"';
	*o++ = ':';
	b->len += (size_t)(o - start);
}

void sb_json_kv_str(struct sb_buf *b, bool *first, const char *key, const char *z)
{
	sb_json_key(b, first, key);
	sb_json_escz(b, z);
}

void sb_json_kv_strn(struct sb_buf *b, bool *first, const char *key, const char *p, size_t n)
{
	sb_json_key(b, first, key);
	if (p)
		sb_json_esc(b, p, n);
	else
		sb_buf_add(b, "null", 4);
}

void sb_json_kv_int(struct sb_buf *b, bool *first, const char *key, int64_t v)
{
	sb_json_key(b, first, key);
	sb_buf_add_i64(b, v);
}

void sb_json_kv_bool(struct sb_buf *b, bool *first, const char *key, bool v)
{
	sb_json_key(b, first, key);
	sb_buf_adds(b, v ? "true" : "false");
}

void sb_json_kv_time(struct sb_buf *b, bool *first, const char *key, int64_t ms)
{
	sb_json_key(b, first, key);
	if (!ms) {
		sb_buf_adds(b, "null");
		return;
	}
	char ts[32];
	sb_time_fmt(ms, ts, sizeof ts);
	sb_json_escz(b, ts);
}
