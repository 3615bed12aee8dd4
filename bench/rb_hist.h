/*
 * rb_hist.h - log-linear latency histogram of rend-bench.
 *
 * Values are nanoseconds.  Below 64 every value has its own bucket; above,
 * each power of two is split into 64 equal buckets, so a bucket's width is
 * at most 1/64 (1.6%) of its value.  A histogram is a plain array: one per
 * thread, merged after the threads have stopped.
 */
#ifndef RB_HIST_H
#define RB_HIST_H

#include <stdint.h>

#define RB_HIST_SUB_BITS 6
#define RB_HIST_SUB (1u << RB_HIST_SUB_BITS)
#define RB_HIST_BUCKETS (RB_HIST_SUB * (64 - RB_HIST_SUB_BITS + 1))

struct rb_hist {
    uint64_t count;
    uint64_t max;
    uint64_t min;    /* valid when count > 0 */
    uint64_t sum;
    uint64_t bucket[RB_HIST_BUCKETS];
};

/* Adds one value.  Not thread-safe: the caller owns h. */
void rb_hist_record(struct rb_hist *h, uint64_t ns);

/* Adds every value of src to dst.  Both owned by the caller. */
void rb_hist_merge(struct rb_hist *dst, const struct rb_hist *src);

/* The value at quantile q (0..1) of h, as the midpoint of its bucket
 * (0 for an empty histogram).  Read-only. */
uint64_t rb_hist_quantile(const struct rb_hist *h, double q);

/* The mean of the recorded values (0 when empty).  Read-only. */
double rb_hist_mean(const struct rb_hist *h);

#endif
