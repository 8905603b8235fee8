/* SPDX-License-Identifier: MIT
 * sb_form.c: form/query parsing into arena slices, with size and count caps checked
 * before anything is allocated.
 */
#include "sb_form.h"

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

/* Decodes n bytes of src into dst (room for n + 1); returns the length or -1. Runs of bytes
 * that need no decoding are copied whole. */
static long decode(char *dst, const char *src, size_t n)
{
	size_t o = 0, i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && src[run] != '%' && src[run] != '+')
			run++;
		memcpy(dst + o, src + i, run - i);
		o += run - i;
		i = run;
		if (i == n)
			break;
		if (src[i] == '+') {
			dst[o++] = ' ';
			i++;
			continue;
		}
		if (n - i < 3)
			return -1;
		int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		dst[o++] = (char)(hi * 16 + lo);
		i += 3;
	}
	dst[o] = '\0';
	return (long)o;
}

static int piece(const struct sb_host *h, struct sb_arena *a, const char *p, size_t n,
		 struct sb_str *out)
{
	char *d = h->alloc(a, n + 1);
	long len = decode(d, p, n);
	if (len < 0)
		return SB_EINVAL;
	*out = (struct sb_str){ d, (size_t)len };
	return 0;
}

int sb_form_parse(const struct sb_host *h, struct sb_arena *a, struct sb_str s,
		  struct sb_form *out)
{
	out->v = NULL;
	out->n = 0;
	if (s.len > SB_FORM_MAX_BYTES)
		return SB_ETOOBIG;
	size_t count = 0;
	const char *e = s.p + s.len;
	for (const char *q = s.p; q && q < e; q++) {
		q = memchr(q, '&', (size_t)(e - q));
		if (!q)
			break;
		count++;
	}
	if (count + 1 > SB_FORM_MAX_PARAMS)
		return SB_ETOOBIG;

	struct sb_form_kv *v = h->alloc(a, (count + 1) * sizeof *v);
	size_t n = 0, i = 0;
	while (i < s.len) {
		size_t start = i;
		const char *amp = memchr(s.p + i, '&', s.len - i);
		size_t end = amp ? (size_t)(amp - s.p) : s.len;
		i = end + 1;
		if (end == start)
			continue;
		const char *eqp = memchr(s.p + start, '=', end - start);
		size_t eq = eqp ? (size_t)(eqp - s.p) : end;
		size_t vs = eq < end ? eq + 1 : end; /* value start ("name" alone: empty) */
		int rc = piece(h, a, s.p + start, eq - start, &v[n].name);
		if (rc == 0)
			rc = piece(h, a, s.p + vs, end - vs, &v[n].value);
		if (rc)
			return rc;
		n++;
	}
	out->v = v;
	out->n = n;
	return 0;
}

bool sb_form_get(const struct sb_form *f, const char *name, struct sb_str *out)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < f->n; i++) {
		if (f->v[i].name.len == nl && memcmp(f->v[i].name.p, name, nl) == 0) {
			*out = f->v[i].value;
			return true;
		}
	}
	return false;
}

struct sb_str sb_url_query(struct sb_str url)
{
	size_t q = 0;
	while (q < url.len && url.p[q] != '?' && url.p[q] != '#')
		q++;
	if (q == url.len || url.p[q] == '#')
		return (struct sb_str){ NULL, 0 };
	size_t e = ++q;
	while (e < url.len && url.p[e] != '#')
		e++;
	return (struct sb_str){ url.p + q, e - q };
}
