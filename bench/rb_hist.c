/*
 * rb_hist.c - log-linear latency histogram (see rb_hist.h).
 */
#include "rb_hist.h"

#include <math.h>

static unsigned
bucket_of(uint64_t v)
{
    unsigned e, shift;

    if (v < RB_HIST_SUB) {
        return (unsigned)v;
    }
    e = 63u - (unsigned)__builtin_clzll(v);
    shift = e - RB_HIST_SUB_BITS;
    return RB_HIST_SUB + shift * RB_HIST_SUB
           + (unsigned)((v >> shift) - RB_HIST_SUB);
}

static uint64_t
bucket_mid(unsigned i)
{
    unsigned shift, sub;
    uint64_t low, width;

    if (i < RB_HIST_SUB) {
        return i;
    }
    shift = (i - RB_HIST_SUB) / RB_HIST_SUB;
    sub = (i - RB_HIST_SUB) % RB_HIST_SUB;
    low = (uint64_t)(RB_HIST_SUB + sub) << shift;
    width = (uint64_t)1 << shift;
    return low + (width - 1) / 2;
}

void
rb_hist_record(struct rb_hist *h, uint64_t ns)
{
    h->bucket[bucket_of(ns)]++;
    if (h->count == 0 || ns < h->min) {
        h->min = ns;
    }
    h->count++;
    h->sum += ns;
    if (ns > h->max) {
        h->max = ns;
    }
}

void
rb_hist_merge(struct rb_hist *dst, const struct rb_hist *src)
{
    for (unsigned i = 0; i < RB_HIST_BUCKETS; i++) {
        dst->bucket[i] += src->bucket[i];
    }
    if (src->count > 0 && (dst->count == 0 || src->min < dst->min)) {
        dst->min = src->min;
    }
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max) {
        dst->max = src->max;
    }
}

uint64_t
rb_hist_quantile(const struct rb_hist *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->count == 0) {
        return 0;
    }
    rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1) {
        rank = 1;
    }
    for (unsigned i = 0; i < RB_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t mid = bucket_mid(i);
            if (mid < h->min) {
                mid = h->min;
            }
            return mid > h->max ? h->max : mid;
        }
    }
    return h->max;
}

double
rb_hist_mean(const struct rb_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0;
}
