/* SPDX-License-Identifier: MIT
 * json.h: parsing untrusted JSON into a small read-only tree allocated in an arena, through
 * yajl's callback parser with a depth cap and a node cap (never yajl_tree, which has
 * neither); and writing JSON into an sb_buf with correct escaping.
 */
#ifndef SB_JSON_H
#define SB_JSON_H

#include "sb.h"

enum sb_json_type {
	SB_JSON_NULL,
	SB_JSON_BOOL,
	SB_JSON_NUMBER,
	SB_JSON_STRING,
	SB_JSON_ARRAY,
	SB_JSON_OBJECT,
};

/* A node of a parsed document. Lifetime: the arena passed to sb_json_parse. */
struct sb_json {
	enum sb_json_type type;
	struct sb_str key;      /* member name when the parent is an object */
	struct sb_str str;      /* string value, or the number's text */
	bool b;
	bool is_int;            /* number without fraction or exponent that fits int64 */
	int64_t i;
	double d;
	struct sb_json *child;  /* first member or element */
	struct sb_json *next;   /* next sibling */
	size_t count;           /* members or elements */
};

#define SB_JSON_MAX_DEPTH 32
#define SB_JSON_MAX_NODES 20000

/* Parses `len` bytes. Returns 0 and the root in *out, or SB_EINVAL (syntax, invalid UTF-8,
 * trailing bytes) or SB_ETOOBIG (depth or node cap); errmsg (optional) gets a short reason. */
int sb_json_parse(struct sb_arena *a, const char *p, size_t len, struct sb_json **out,
		  const char **errmsg);

/* Lookups; NULL when absent or of another type. */
const struct sb_json *sb_json_get(const struct sb_json *obj, const char *key);
const struct sb_json *sb_json_get_type(const struct sb_json *obj, const char *key,
				       enum sb_json_type t);
/* The string member as a slice; false when absent or not a string. */
bool sb_json_str(const struct sb_json *obj, const char *key, struct sb_str *out);
bool sb_json_int(const struct sb_json *obj, const char *key, int64_t *out);
bool sb_json_bool(const struct sb_json *obj, const char *key, bool *out);

/* Writer helpers: append to b. */
void sb_json_esc(struct sb_buf *b, const char *p, size_t n);   /* "quoted and escaped" */
static inline void sb_json_escz(struct sb_buf *b, const char *z)
{
	if (z)
		sb_json_esc(b, z, strlen(z));
	else
		sb_buf_add(b, "null", 4);
}
/* ,"key": (comma only when first is false, and first is then cleared) */
void sb_json_key(struct sb_buf *b, bool *first, const char *key);
void sb_json_kv_str(struct sb_buf *b, bool *first, const char *key, const char *z);
void sb_json_kv_strn(struct sb_buf *b, bool *first, const char *key, const char *p, size_t n);
void sb_json_kv_int(struct sb_buf *b, bool *first, const char *key, int64_t v);
void sb_json_kv_bool(struct sb_buf *b, bool *first, const char *key, bool v);
void sb_json_kv_time(struct sb_buf *b, bool *first, const char *key, int64_t ms); /* 0 -> null */

#endif
