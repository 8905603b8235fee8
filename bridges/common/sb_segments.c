/* SPDX-License-Identifier: MIT
 * sb_segments.c: GSM 03.38 table membership and greedy segment packing. The tables follow
 * 3GPP TS 23.038 (basic set and the default extension table) as Twilio applies them.
 */
#include "sb_segments.h"

#include <stdint.h>

/* Decodes one code point at p[*i]; returns it and advances *i, or -1 on invalid UTF-8
 * (overlong, surrogate, > U+10FFFF, truncated). */
static long next_cp(const unsigned char *p, size_t n, size_t *i)
{
	unsigned c = p[*i];
	size_t need;
	unsigned long cp;
	if (c < 0x80) {
		(*i)++;
		return c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		cp = c & 0x07;
	} else {
		return -1;
	}
	if (n - *i < need + 1)
		return -1;
	for (size_t k = 1; k <= need; k++) {
		if ((p[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[*i + k] & 0x3f);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += need + 1;
	return (long)cp;
}

int sb_seg_gsm7_septets(unsigned long cp)
{
	static const uint16_t basic_hi[] = {
		0x00a1, 0x00a3, 0x00a4, 0x00a5, 0x00a7, 0x00bf, 0x00c4, 0x00c5, 0x00c6, 0x00c7,
		0x00c9, 0x00d1, 0x00d6, 0x00d8, 0x00dc, 0x00df, 0x00e0, 0x00e4, 0x00e5, 0x00e6,
		0x00e8, 0x00e9, 0x00ec, 0x00f1, 0x00f2, 0x00f6, 0x00f8, 0x00f9, 0x00fc, 0x0393,
		0x0394, 0x0398, 0x039b, 0x039e, 0x03a0, 0x03a3, 0x03a6, 0x03a8, 0x03a9,
	};
	if (cp < 0x80) {
		if (cp == '\n' || cp == '\r')
			return 1;
		if (cp == 0x0c || cp == '[' || cp == '\\' || cp == ']' || cp == '^' || cp == '{' ||
		    cp == '|' || cp == '}' || cp == '~')
			return 2;
		if (cp < 0x20 || cp == '`' || cp == 0x7f)
			return 0;
		return 1; /* the rest of printable ASCII, '@', '$' and '_' included */
	}
	if (cp == 0x20ac)
		return 2; /* euro sign, extension table */
	for (size_t i = 0; i < sizeof basic_hi / sizeof basic_hi[0]; i++)
		if (basic_hi[i] == cp)
			return 1;
	return 0;
}

size_t sb_utf8_chars(const char *p, size_t n)
{
	size_t i = 0, c = 0;
	while (i < n) {
		if (next_cp((const unsigned char *)p, n, &i) < 0)
			return (size_t)-1;
		c++;
	}
	return c;
}

int sb_seg_count(const char *s, size_t n, struct sb_seg_info *out)
{
	const unsigned char *p = (const unsigned char *)s;
	bool gsm = true;
	size_t i = 0, chars = 0;

	/* pass 1: validate, count, and pick the encoding */
	while (i < n) {
		long cp = next_cp(p, n, &i);
		if (cp < 0)
			return -2;
		chars++;
		if (gsm && sb_seg_gsm7_septets((unsigned long)cp) == 0)
			gsm = false;
	}

	/* pass 2: total units, and greedy packing into parts without splitting a pair */
	size_t part_cap = gsm ? SB_SEG_GSM7_PART : SB_SEG_UCS2_PART;
	size_t units = 0, parts = 0, fill = part_cap;
	for (i = 0; i < n;) {
		long cp = next_cp(p, n, &i);
		size_t w = gsm ? (size_t)sb_seg_gsm7_septets((unsigned long)cp)
			       : (cp > 0xffff ? 2u : 1u);
		units += w;
		if (fill + w > part_cap) {
			parts++;
			fill = 0;
		}
		fill += w;
	}

	out->encoding = gsm ? SB_SEG_GSM7 : SB_SEG_UCS2;
	out->units = units;
	out->chars = chars;
	if (units == 0)
		out->segments = 0;
	else if (units <= (gsm ? SB_SEG_GSM7_SINGLE : SB_SEG_UCS2_SINGLE))
		out->segments = 1;
	else
		out->segments = parts;
	return 0;
}
