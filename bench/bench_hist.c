/* SPDX-License-Identifier: MIT
 * Log-linear histogram: values below 2 * SUB land in buckets of width 1; above that, a
 * value with its top bit at position m lands in one of SUB buckets of width 2^(m - 5).
 * Index arithmetic only, no floating point on the record path.
 */
#include "bench_hist.h"

#include <string.h>

void bench_hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
}

unsigned bench_hist_index(uint64_t us)
{
	unsigned msb, shift;

	if (us < 2 * BENCH_HIST_SUB)
		return (unsigned)us;
	msb = 63 - (unsigned)__builtin_clzll(us);
	shift = msb - BENCH_HIST_SUB_BITS;	/* >= 1 here */
	return 2 * BENCH_HIST_SUB + (shift - 1) * BENCH_HIST_SUB +
	       (unsigned)((us >> shift) - BENCH_HIST_SUB);
}

uint64_t bench_hist_bucket_high(unsigned idx)
{
	unsigned shift, top;

	if (idx < 2 * BENCH_HIST_SUB)
		return idx;
	shift = (idx - 2 * BENCH_HIST_SUB) / BENCH_HIST_SUB + 1;
	top = (idx - 2 * BENCH_HIST_SUB) % BENCH_HIST_SUB + BENCH_HIST_SUB;
	return (((uint64_t)top + 1) << shift) - 1;
}

void bench_hist_record_us(struct bench_hist *h, uint64_t us)
{
	if (us > BENCH_HIST_MAX_US) {
		us = BENCH_HIST_MAX_US;
		h->clamped++;
	}
	if (!h->count || us < h->min_us)
		h->min_us = us;
	if (us > h->max_us)
		h->max_us = us;
	h->count++;
	h->sum_us += us;
	h->counts[bench_hist_index(us)]++;
}

void bench_hist_record_ns(struct bench_hist *h, int64_t ns)
{
	bench_hist_record_us(h, ns > 0 ? (uint64_t)ns / 1000 : 0);
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	unsigned i;

	if (!src->count)
		return;
	if (!dst->count || src->min_us < dst->min_us)
		dst->min_us = src->min_us;
	if (src->max_us > dst->max_us)
		dst->max_us = src->max_us;
	dst->count += src->count;
	dst->sum_us += src->sum_us;
	dst->clamped += src->clamped;
	for (i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double q)
{
	uint64_t rank, seen = 0, v;
	unsigned i;

	if (!h->count)
		return 0;
	if (q >= 100.0)
		return h->max_us;
	rank = (uint64_t)(q / 100.0 * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			v = bench_hist_bucket_high(i);
			return v > h->max_us ? h->max_us : v;
		}
	}
	return h->max_us;
}
