/* SPDX-License-Identifier: MIT
 * sb_retry_after.h: the HTTP Retry-After header (RFC 9110 10.2.3), delay-seconds or an
 * HTTP-date, as a delay in milliseconds from a given now.
 */
#ifndef SB_RETRY_AFTER_H
#define SB_RETRY_AFTER_H

#include "../bridge.h"

#define SB_RETRY_AFTER_MAX_MS (24LL * 3600 * 1000) /* longer asks are clamped to a day */

/* Returns the delay in ms (0 for a date in the past, clamped to SB_RETRY_AFTER_MAX_MS), or
 * -1 when v is empty or neither form. now_ms: ms since the epoch. */
int64_t sb_retry_after_ms(struct sb_str v, int64_t now_ms);
/* Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") to ms since the epoch. */
int sb_http_date_parse(struct sb_str v, int64_t *ms_out);

#endif
