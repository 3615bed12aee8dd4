/*
 * rend_lg_hist.c - log-linear latency histogram (see rend_lg_hist.h).
 */
#include "rend_lg_hist.h"

#include <math.h>

static unsigned
bucket_of(uint64_t v)
{
    unsigned e, shift;

    if (v < REND_LG_HIST_SUB) {
        return (unsigned)v;
    }
    e = 63u - (unsigned)__builtin_clzll(v);
    shift = e - REND_LG_HIST_SUB_BITS;
    return REND_LG_HIST_SUB + shift * REND_LG_HIST_SUB
           + (unsigned)((v >> shift) - REND_LG_HIST_SUB);
}

static uint64_t
bucket_mid(unsigned i)
{
    unsigned shift, sub;
    uint64_t low, width;

    if (i < REND_LG_HIST_SUB) {
        return i;
    }
    shift = (i - REND_LG_HIST_SUB) / REND_LG_HIST_SUB;
    sub = (i - REND_LG_HIST_SUB) % REND_LG_HIST_SUB;
    low = (uint64_t)(REND_LG_HIST_SUB + sub) << shift;
    width = (uint64_t)1 << shift;
    return low + (width - 1) / 2;
}

void
rend_lg_hist_record(struct rend_lg_hist *h, uint64_t ns)
{
    h->bucket[bucket_of(ns)]++;
    h->count++;
    if (ns > h->max) {
        h->max = ns;
    }
}

void
rend_lg_hist_merge(struct rend_lg_hist *dst, const struct rend_lg_hist *src)
{
    for (unsigned i = 0; i < REND_LG_HIST_BUCKETS; i++) {
        dst->bucket[i] += src->bucket[i];
    }
    dst->count += src->count;
    if (src->max > dst->max) {
        dst->max = src->max;
    }
}

uint64_t
rend_lg_hist_quantile(const struct rend_lg_hist *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->count == 0) {
        return 0;
    }
    rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1) {
        rank = 1;
    }
    for (unsigned i = 0; i < REND_LG_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t mid = bucket_mid(i);
            return mid > h->max ? h->max : mid;
        }
    }
    return h->max;
}
