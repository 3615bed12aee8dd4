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

/* rend_hist_first[b]: the first bucket whose bound is >= 2^b, so a value
 * of bit length b + 1 lies in that bucket or the next (consecutive bounds
 * are at least a factor 2 apart).  Filled before main runs. */
extern uint8_t rend_hist_first[64];

/* Non-zero when histograms are recorded (set once, before the workers). */
extern int rend_metrics_on;

static inline uint64_t
rend_hist_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One worker's histograms, written by that worker only. */
struct rend_hist_worker {
    struct rend_hist req[REND_CMD__COUNT];
    struct rend_hist tier[2][REND_OP__COUNT];
} __attribute__((aligned(64)));
extern struct rend_hist_worker rend_hist_workers[REND_HIST_MAX_WORKERS];

static inline void
rend_hist_observe(struct rend_hist *h, uint64_t ns)
{
    /* The bucket from the value's bit length and one comparison, not a
     * walk over the bounds. */
    unsigned i = rend_hist_first[63 - __builtin_clzll(ns | 1)];

    if (i < REND_HIST_NBOUNDS && ns > rend_hist_bounds_ns[i]) {
        i++;
    }
    __atomic_store_n(&h->bucket[i], h->bucket[i] + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&h->sum_ns, h->sum_ns + ns, __ATOMIC_RELAXED);
}

/* Worker `wid` observed a request of command cmd taking ns. */
void rend_hist_req(unsigned wid, unsigned cmd, uint64_t ns);
/* Worker `wid` observed an op on tier (1 or 2) taking ns. */
void rend_hist_tier(unsigned wid, unsigned tier, unsigned op, uint64_t ns);

/* Sum of every worker's histogram (scraper; any thread). */
void rend_hist_sum_req(unsigned cmd, struct rend_hist *out);
void rend_hist_sum_tier(unsigned tier, unsigned op, struct rend_hist *out);

/* The last clock reading of this thread's hooks and the op it was taken
 * for: an op issued right after the previous stage of the same key
 * completed, and a request completed right after its last op, reuse it
 * instead of reading the clock again (two readings per single-key request
 * instead of four). */
struct rend_hist_tls {
    uint64_t now;
    const struct rend_kop *kop;
};
extern __thread struct rend_hist_tls rend_hist_tls
    __attribute__((tls_model("initial-exec"))); /* in the executable */

static inline void
rend_hist_req_start(struct rend_req *r)
{
    r->t_start = rend_hist_now();
    rend_hist_tls.now = r->t_start;
    rend_hist_tls.kop = r->kops;
}

static inline void
rend_hist_req_done(unsigned wid, const struct rend_req *r)
{
    const struct rend_kop *k = rend_hist_tls.kop;
    uint64_t now = k >= r->kops && k < r->kops + r->nkeys
                   ? rend_hist_tls.now : rend_hist_now();

    if (wid < REND_HIST_MAX_WORKERS) {
        rend_hist_observe(&rend_hist_workers[wid].req[r->cmd],
                          now - r->t_start);
    }
}

static inline void
rend_hist_op_issue(struct rend_kop *k)
{
    k->t_issue = rend_hist_tls.kop == k ? rend_hist_tls.now
                                        : rend_hist_now();
}

static inline void
rend_hist_op_done(unsigned wid, const struct rend_kop *k)
{
    uint64_t now = rend_hist_now();

    if (wid < REND_HIST_MAX_WORKERS && (k->tier == 1 || k->tier == 2)
        && k->op.code < REND_OP__COUNT) {
        rend_hist_observe(&rend_hist_workers[wid].tier[k->tier - 1]
                                                      [k->op.code],
                          now - k->t_issue);
    }
    rend_hist_tls.now = now;
    rend_hist_tls.kop = k;
}

/* The hooks, a line each at the call sites. */
#define REND_HIST_REQ_START(r)                                              \
    do { if (rend_metrics_on) rend_hist_req_start(r); } while (0)
#define REND_HIST_REQ_DONE(wid, r)                                          \
    do { if (rend_metrics_on && (r)->t_start)                               \
        rend_hist_req_done(wid, r); } while (0)
#define REND_HIST_OP_ISSUE(k)                                               \
    do { if (rend_metrics_on) rend_hist_op_issue(k); } while (0)
#define REND_HIST_OP_DONE(wid, k)                                           \
    do { if (rend_metrics_on && (k)->t_issue)                               \
        rend_hist_op_done(wid, k); } while (0)

#endif /* REND_HIST_H */
