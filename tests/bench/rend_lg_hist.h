/*
 * rend_lg_hist.h - log-linear latency histogram of the load generator.
 *
 * Values are nanoseconds.  Below 64 every value has its own bucket; above,
 * each power of two is split into 64 equal buckets, so a bucket's width is
 * at most 1/64 (1.6%) of its value.  A histogram is a plain array: one per
 * thread, merged after the threads have stopped.
 */
#ifndef REND_LG_HIST_H
#define REND_LG_HIST_H

#include <stdint.h>

#define REND_LG_HIST_SUB_BITS 6
#define REND_LG_HIST_SUB (1u << REND_LG_HIST_SUB_BITS)
#define REND_LG_HIST_BUCKETS (REND_LG_HIST_SUB * (64 - REND_LG_HIST_SUB_BITS + 1))

struct rend_lg_hist {
    uint64_t count;
    uint64_t max;
    uint64_t bucket[REND_LG_HIST_BUCKETS];
};

/* Adds one value.  Not thread-safe: the caller owns h. */
void rend_lg_hist_record(struct rend_lg_hist *h, uint64_t ns);

/* Adds every value of src to dst.  Both owned by the caller. */
void rend_lg_hist_merge(struct rend_lg_hist *dst, const struct rend_lg_hist *src);

/* The value at quantile q (0..1) of h, as the midpoint of its bucket
 * (0 for an empty histogram).  Read-only. */
uint64_t rend_lg_hist_quantile(const struct rend_lg_hist *h, double q);

#endif
