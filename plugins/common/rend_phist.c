/*
 * rend_phist.c - plugin histograms (see rend_phist.h).
 */
#include <stdio.h>

#include "rend_phist.h"

/* The same bounds as core/rend_hist.c's rend_hist_bounds_ns. */
const uint64_t rend_phist_ns[REND_PHIST_NBOUNDS] = {
    10000, 20000, 50000,
    100000, 200000, 500000,
    1000000, 2000000, 5000000,
    10000000, 20000000, 50000000,
    100000000, 200000000, 500000000,
    1000000000, 2000000000, 5000000000ull,
    10000000000ull,
};

const uint64_t rend_phist_count[REND_PHIST_NBOUNDS] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
    10000, 20000, 50000, 100000, 200000, 500000, 1000000,
};

void
rend_phist_observe(struct rend_phist *h, const uint64_t *bounds, uint64_t v)
{
    unsigned i = 0;

    while (i < REND_PHIST_NBOUNDS && v > bounds[i]) {
        i++;
    }
    __atomic_fetch_add(&h->bucket[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
}

void
rend_phist_emit(rend_stat_emit_f *emit, void *ud, const char *base,
                const struct rend_phist *h, const uint64_t *bounds,
                double scale)
{
    char name[128], val[48];
    uint64_t cum = 0;

    for (unsigned i = 0; i < REND_PHIST_NBOUNDS; i++) {
        cum += __atomic_load_n(&h->bucket[i], __ATOMIC_RELAXED);
        snprintf(name, sizeof(name), "%s_le_%g", base,
                 (double)bounds[i] / scale);
        rend_stat_u64(emit, ud, name, cum);
    }
    cum += __atomic_load_n(&h->bucket[REND_PHIST_NBOUNDS], __ATOMIC_RELAXED);
    snprintf(name, sizeof(name), "%s_sum", base);
    snprintf(val, sizeof(val), "%.17g",
             (double)__atomic_load_n(&h->sum, __ATOMIC_RELAXED) / scale);
    emit(ud, name, val);
    snprintf(name, sizeof(name), "%s_count", base);
    rend_stat_u64(emit, ud, name, cum);
}

void
rend_phist_emit_commits(rend_stat_emit_f *emit, void *ud,
                        const struct rend_phist *batches,
                        const struct rend_phist *commit_ns)
{
    rend_phist_emit(emit, ud, "write_batch_ops", batches, rend_phist_count,
                    1);
    rend_phist_emit(emit, ud, "commit_duration_seconds", commit_ns,
                    rend_phist_ns, 1e9);
}
