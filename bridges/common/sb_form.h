/* SPDX-License-Identifier: MIT
 * sb_form.h: application/x-www-form-urlencoded (or a URL query) parsed into name/value
 * slices decoded into the call's arena. Order and repeated names are kept, because
 * signatures (Twilio) are computed over every parameter received, duplicates included.
 */
#ifndef SB_FORM_H
#define SB_FORM_H

#include "../bridge.h"

#define SB_FORM_MAX_BYTES  (64u * 1024u) /* input size cap */
#define SB_FORM_MAX_PARAMS 512u

/* One decoded pair; both slices are NUL-terminated in the arena. */
struct sb_form_kv {
	struct sb_str name;
	struct sb_str value;
};

/* Lifetime: the arena given to sb_form_parse. */
struct sb_form {
	struct sb_form_kv *v;
	size_t n;
};

/* Parses s ("a=1&b=2", '+' is a space, %XX escapes). Empty pieces ("a=1&&b") are skipped; a
 * piece without '=' is a name with an empty value. Returns 0; SB_ETOOBIG past the caps;
 * SB_EINVAL on a bad %-escape. out is empty on error. */
int sb_form_parse(const struct sb_host *h, struct sb_arena *a, struct sb_str s,
		  struct sb_form *out);
/* The first value of name, or false. */
bool sb_form_get(const struct sb_form *f, const char *name, struct sb_str *out);
/* The query part of a URL (after '?', before '#'), or an empty slice. */
struct sb_str sb_url_query(struct sb_str url);

#endif
