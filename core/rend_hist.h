/*
 * rend_hist.h - latency histograms for /metrics: the whole request by
 * command, and each tier's op by tier and opcode.
 *
 * Each worker owns its histograms and is their only writer (relaxed atomic
 * stores, no lock, as the counters in rend_stats.h); the scraper sums the
 * workers.  Buckets are log spaced (1, 2, 5 per decade) from 10 us to 10 s,
 * plus +Inf.  Nothing is timed unless rend_metrics_on (set at start when
 * the config declares admin{}), so a server without an admin listener
 * pays one predictable branch per hook.
 */
#ifndef REND_HIST_H
#define REND_HIST_H

#include <stdint.h>
#include <time.h>
#include <rend/handler.h>

#include "rend_req.h"

#define REND_HIST_NBOUNDS 19     /* 10us .. 10s */
#define REND_HIST_MAX_WORKERS 256

struct rend_hist {
    uint64_t bucket[REND_HIST_NBOUNDS + 1]; /* not cumulative; last = +Inf */
    uint64_t sum_ns;
};

/* Upper bounds, nanoseconds. */
extern const uint64_t rend_hist_bounds_ns[REND_HIST_NBOUNDS];

/* Non-zero when histograms are recorded (set once, before the workers). */
extern int rend_metrics_on;

static inline uint64_t
rend_hist_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Worker `wid` observed a request of command cmd taking ns. */
void rend_hist_req(unsigned wid, unsigned cmd, uint64_t ns);
/* Worker `wid` observed an op on tier (1 or 2) taking ns. */
void rend_hist_tier(unsigned wid, unsigned tier, unsigned op, uint64_t ns);

/* Sum of every worker's histogram (scraper; any thread). */
void rend_hist_sum_req(unsigned cmd, struct rend_hist *out);
void rend_hist_sum_tier(unsigned tier, unsigned op, struct rend_hist *out);

/* The hooks, a line each at the call sites. */
#define REND_HIST_REQ_START(r)                                              \
    do { if (rend_metrics_on) (r)->t_start = rend_hist_now(); } while (0)
#define REND_HIST_REQ_DONE(wid, r)                                          \
    do { if (rend_metrics_on && (r)->t_start)                               \
        rend_hist_req(wid, (r)->cmd, rend_hist_now() - (r)->t_start);       \
    } while (0)
#define REND_HIST_OP_ISSUE(k)                                               \
    do { if (rend_metrics_on) (k)->t_issue = rend_hist_now(); } while (0)
#define REND_HIST_OP_DONE(wid, k)                                           \
    do { if (rend_metrics_on && (k)->t_issue)                               \
        rend_hist_tier(wid, (k)->tier, (k)->op.code,                        \
                       rend_hist_now() - (k)->t_issue);                     \
    } while (0)

#endif /* REND_HIST_H */
