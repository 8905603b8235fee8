/* SPDX-License-Identifier: MIT
 * sb_retry_after.c: Retry-After parsing without libc time zone state (timegm is not in
 * C11, and mktime reads TZ): days from the civil date computed directly.
 */
#include "sb_retry_after.h"

/* Days since 1970-01-01 for a proleptic Gregorian date (era arithmetic). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool num(const char *p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

int sb_http_date_parse(struct sb_str v, int64_t *ms_out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	/* "Sun, 06 Nov 1994 08:49:37 GMT": 29 bytes, fixed positions */
	if (v.len != 29 || v.p[3] != ',' || v.p[4] != ' ' || v.p[7] != ' ' || v.p[11] != ' ' ||
	    v.p[16] != ' ' || v.p[19] != ':' || v.p[22] != ':' || v.p[25] != ' ' ||
	    memcmp(v.p + 26, "GMT", 3) != 0)
		return SB_EINVAL;
	int day, year, hh, mm, ss, mon = -1;
	for (int i = 0; i < 12; i++)
		if (memcmp(v.p + 8, months + 3 * i, 3) == 0)
			mon = i + 1;
	if (mon < 0 || !num(v.p + 5, 2, &day) || !num(v.p + 12, 4, &year) ||
	    !num(v.p + 17, 2, &hh) || !num(v.p + 20, 2, &mm) || !num(v.p + 23, 2, &ss) ||
	    day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return SB_EINVAL;
	int64_t days = days_from_civil(year, (unsigned)mon, (unsigned)day);
	*ms_out = ((days * 24 + hh) * 60 + mm) * 60000LL + ss * 1000LL;
	return 0;
}

int64_t sb_retry_after_ms(struct sb_str v, int64_t now_ms)
{
	while (v.len && (v.p[0] == ' ' || v.p[0] == '\t')) {
		v.p++;
		v.len--;
	}
	while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
		v.len--;
	if (!v.len)
		return -1;
	if (v.p[0] >= '0' && v.p[0] <= '9') {
		int64_t s = 0;
		for (size_t i = 0; i < v.len; i++) {
			if (v.p[i] < '0' || v.p[i] > '9')
				return -1;
			if (s < SB_RETRY_AFTER_MAX_MS / 1000)
				s = s * 10 + (v.p[i] - '0');
		}
		int64_t ms = s * 1000;
		return ms > SB_RETRY_AFTER_MAX_MS ? SB_RETRY_AFTER_MAX_MS : ms;
	}
	int64_t at;
	if (sb_http_date_parse(v, &at) != 0)
		return -1;
	int64_t d = at - now_ms;
	if (d < 0)
		return 0;
	return d > SB_RETRY_AFTER_MAX_MS ? SB_RETRY_AFTER_MAX_MS : d;
}
