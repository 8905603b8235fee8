/* SPDX-License-Identifier: MIT
 * sb_segments.h: how many SMS parts a text costs (GSM 03.38 7-bit or UCS-2), as carriers
 * and Twilio count them. Exported for the hub (console counters, pricing hints).
 */
#ifndef SB_SEGMENTS_H
#define SB_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>

enum sb_seg_encoding {
	SB_SEG_GSM7 = 1,  /* every character in the GSM basic or extension table */
	SB_SEG_UCS2 = 2,  /* anything else: the whole message becomes UTF-16 */
};

#define SB_SEG_GSM7_SINGLE 160u  /* septets in a lone SMS */
#define SB_SEG_GSM7_PART   153u  /* septets per part of a multipart SMS (6-octet UDH) */
#define SB_SEG_UCS2_SINGLE 70u   /* UTF-16 units in a lone SMS */
#define SB_SEG_UCS2_PART   67u

/* The count for one text. */
struct sb_seg_info {
	enum sb_seg_encoding encoding;
	size_t units;     /* septets (GSM-7; escapes count 2) or UTF-16 code units (UCS-2) */
	size_t chars;     /* Unicode code points */
	size_t segments;  /* 0 for an empty text */
};

/* Counts p (UTF-8). Multipart parts are filled greedily and an escape pair or a surrogate
 * pair is never split across parts. Returns 0, or SB_EINVAL (-2) for invalid UTF-8. */
int sb_seg_count(const char *p, size_t n, struct sb_seg_info *out);
/* Septets for code point cp in GSM-7: 1 (basic), 2 (extension), 0 (not representable). */
int sb_seg_gsm7_septets(unsigned long cp);
/* Code points in UTF-8 text, or (size_t)-1 when invalid. */
size_t sb_utf8_chars(const char *p, size_t n);

#endif
