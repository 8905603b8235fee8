/* SPDX-License-Identifier: MIT
 * sb_bstr.h: slice helpers for bridges. The hub's sb_str_* functions live in the hub
 * binary, which a bridge module must not link, so bridges use these inline twins.
 */
#ifndef SB_BSTR_H
#define SB_BSTR_H

#include "../bridge.h"

/* A NUL-terminated string (never NULL) as a slice; unlike SB_STRZ it takes arrays too. */
static inline struct sb_str sb_bstr_z(const char *z)
{
	return (struct sb_str){ z, strlen(z) };
}

static inline bool sb_bstr_eqz(struct sb_str a, const char *z)
{
	size_t n = strlen(z);
	return a.len == n && (n == 0 || memcmp(a.p, z, n) == 0);
}

/* ASCII case-insensitive equality with a NUL-terminated string. */
static inline bool sb_bstr_caseeqz(struct sb_str a, const char *z)
{
	size_t n = strlen(z);
	if (a.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a.p[i], y = (unsigned char)z[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

static inline bool sb_bstr_isspace(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline bool sb_bstr_isalnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Trims ASCII white space (space, TAB, CR, LF, VT, FF) at both ends. */
static inline struct sb_str sb_bstr_trim(struct sb_str s)
{
	while (s.len && sb_bstr_isspace(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && sb_bstr_isspace(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* Parses a non-negative decimal integer of at most 9 digits; false otherwise. */
static inline bool sb_bstr_uint(struct sb_str s, long *out)
{
	if (!s.len || s.len > 9)
		return false;
	long v = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		v = v * 10 + (s.p[i] - '0');
	}
	*out = v;
	return true;
}

#endif
