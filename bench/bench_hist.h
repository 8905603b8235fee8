/* SPDX-License-Identifier: MIT
 * A fixed-size log-linear latency histogram in the spirit of HdrHistogram: 1 µs
 * resolution, every power of two split into 32 linear sub-buckets (about 3% relative
 * error), values up to 60 s. Plain data with no pointers, so a child process can fill
 * one in shared memory and the parent can merge them all after the children exit.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 5			/* 32 sub-buckets per power of two */
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_MAX_US 60000000ull		/* 60 s; larger values are clamped */
#define BENCH_HIST_BUCKETS (2 * BENCH_HIST_SUB + 22 * BENCH_HIST_SUB)

/* Lifetime: owned by whoever holds the memory; zero-initialised is an empty histogram. */
struct bench_hist {
	uint64_t count;
	uint64_t sum_us;
	uint64_t min_us;			/* valid when count > 0 */
	uint64_t max_us;
	uint64_t clamped;			/* values above BENCH_HIST_MAX_US */
	uint64_t counts[BENCH_HIST_BUCKETS];
};

void bench_hist_reset(struct bench_hist *h);
/* Records one value given in microseconds. */
void bench_hist_record_us(struct bench_hist *h, uint64_t us);
/* Records one value given in nanoseconds (rounded down to the microsecond). Negative
 * values (a clock stepping back is impossible with CLOCK_MONOTONIC, but a stamp written
 * in the future is not) are recorded as 0. */
void bench_hist_record_ns(struct bench_hist *h, int64_t ns);
/* Adds every sample of src into dst. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* The value at percentile q (0..100): the highest value equivalent to the bucket that
 * holds that rank, capped at the exact maximum. 0 when empty. */
uint64_t bench_hist_percentile(const struct bench_hist *h, double q);
/* Bucket index for a value and the highest value that bucket holds (for tests). */
unsigned bench_hist_index(uint64_t us);
uint64_t bench_hist_bucket_high(unsigned idx);

#endif
