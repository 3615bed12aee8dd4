/*
 * rend_phist.h - histograms a plugin keeps and exports through its stats
 * callback (the naming rule is in rend/handler.h, "Histograms in stats"),
 * so /metrics renders them as Prometheus histograms.
 *
 * Buckets are the core's: log spaced (1, 2, 5 per decade), 19 upper
 * bounds plus +Inf.  Latencies use rend_phist_ns (10 us .. 10 s, the
 * bounds of core/rend_hist.c, so the series line up with the core's) and
 * are exported in seconds; sizes use rend_phist_count (1 .. 1e6).
 *
 * Any thread may observe (relaxed atomic adds) and emit; a histogram is
 * plain memory owned by whoever embeds it (zeroed = empty).
 */
#ifndef REND_PHIST_H
#define REND_PHIST_H

#include <stdint.h>
#include <time.h>

#include <rend/handler.h>

#define REND_PHIST_NBOUNDS 19

struct rend_phist {
    uint64_t bucket[REND_PHIST_NBOUNDS + 1]; /* not cumulative; last +Inf */
    uint64_t sum;
};

/* Upper bounds: nanoseconds (10 us .. 10 s) and counts (1 .. 1e6). */
extern const uint64_t rend_phist_ns[REND_PHIST_NBOUNDS];
extern const uint64_t rend_phist_count[REND_PHIST_NBOUNDS];

/* Count one value v against bounds. */
void rend_phist_observe(struct rend_phist *h, const uint64_t *bounds,
                        uint64_t v);

/* Emit h as the stats <base>_le_<bound> (cumulative), <base>_sum and
 * <base>_count.  Values (bounds and sum) are divided by scale: 1e9 for a
 * histogram of nanoseconds exported in seconds, 1 for counts. */
void rend_phist_emit(rend_stat_emit_f *emit, void *ud, const char *base,
                     const struct rend_phist *h, const uint64_t *bounds,
                     double scale);

/* The two histograms of a group-commit writer, under the names /metrics
 * documents: write_batch_ops (batches: the sizes of the batches its
 * rend_opq ran, counts) and commit_duration_seconds (commit_ns: one
 * observation per commit, nanoseconds). */
void rend_phist_emit_commits(rend_stat_emit_f *emit, void *ud,
                             const struct rend_phist *batches,
                             const struct rend_phist *commit_ns);

/* Monotonic nanoseconds, for timing what goes into a histogram. */
static inline uint64_t
rend_phist_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* REND_PHIST_H */
