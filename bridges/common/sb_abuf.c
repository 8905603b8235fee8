/* SPDX-License-Identifier: MIT
 * sb_abuf.c: arena-backed string building with form and XML escaping for bridges.
 */
#include "sb_abuf.h"

#include <stdarg.h>
#include <stdio.h>

void sb_abuf_init(struct sb_abuf *b, const struct sb_host *host, struct sb_arena *arena)
{
	b->host = host;
	b->arena = arena;
	b->p = NULL;
	b->len = b->cap = 0;
}

static void grow(struct sb_abuf *b, size_t more)
{
	if (b->cap - b->len > more)
		return; /* room for the data and the NUL */
	size_t cap = b->cap ? b->cap * 2 : 256;
	while (cap - b->len <= more)
		cap *= 2;
	char *np = b->host->alloc(b->arena, cap);
	if (b->len)
		memcpy(np, b->p, b->len);
	np[b->len] = '\0';
	b->p = np;
	b->cap = cap;
}

void sb_abuf_add(struct sb_abuf *b, const void *p, size_t n)
{
	grow(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sb_abuf_adds(struct sb_abuf *b, const char *z)
{
	sb_abuf_add(b, z, strlen(z));
}

void sb_abuf_printf(struct sb_abuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sb_abuf_formenc(struct sb_abuf *b, const char *p, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	grow(b, n * 3);
	char *o = b->p + b->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			*o++ = (char)c;
		} else if (c == ' ') {
			*o++ = '+';
		} else {
			*o++ = '%';
			*o++ = hx[c >> 4];
			*o++ = hx[c & 15];
		}
	}
	b->len = (size_t)(o - b->p);
	b->p[b->len] = '\0';
}

void sb_abuf_formkv(struct sb_abuf *b, const char *name, struct sb_str value)
{
	if (b->len)
		sb_abuf_add(b, "&", 1);
	sb_abuf_formenc(b, name, strlen(name));
	sb_abuf_add(b, "=", 1);
	sb_abuf_formenc(b, value.p, value.len);
}

void sb_abuf_xmlesc(struct sb_abuf *b, const char *p, size_t n)
{
	size_t run = 0; /* start of the pending unescaped run */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		const char *rep = NULL;
		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		default:
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				rep = "";
		}
		if (!rep)
			continue;
		sb_abuf_add(b, p + run, i - run);
		sb_abuf_adds(b, rep);
		run = i + 1;
	}
	sb_abuf_add(b, p + run, n - run);
}
