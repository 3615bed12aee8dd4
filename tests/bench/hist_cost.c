/*
 * hist_cost.c - nanoseconds the latency-histogram hooks add to one
 * single-key request (REQ_START, OP_ISSUE, OP_DONE, REQ_DONE: two clock
 * readings, one pair observation), timed over many iterations on one core.
 * A figure to record in BENCHMARKS.md, not a test.
 *
 *   cc -O2 -std=gnu11 -I. -Icore -Icore/include tests/bench/hist_cost.c \
 *      core/rend_hist.c core/rend_cmd.c core/rend_log.c -o /tmp/hist_cost \
 *      && /tmp/hist_cost
 */
#include <stdio.h>
#include <string.h>

#include "rend_hist.h"

struct rend_worker *rend_workers; /* rend_hist.c links against these */
unsigned rend_nworkers = 1;

int
main(void)
{
    static struct rend_req r;
    static struct rend_worker wk;
    struct rend_worker *w = &wk;
    const unsigned n = 20000000;
    uint64_t t0, t1, base;

    rend_metrics_on = 1;
    rend_hist_clock_init();
    printf("clock: %s\n", rend_hist_use_tsc ? "TSC" : "clock_gettime");
    w->hist = &rend_hist_workers[0];
    w->hist_op_done = rend_hist_op_done_fn();
    r.cmd = REND_CMD_GET;
    r.nkeys = 1;
    r.kops = &r.kop1;
    r.kop1.req = &r;
    r.kop1.tier = 1;
    r.kop1.op.code = REND_OP_GET;
    /* the loop alone */
    t0 = rend_hist_now();
    for (unsigned i = 0; i < n; i++) {
        __asm__ volatile("" ::: "memory");
    }
    base = rend_hist_now() - t0;
    t0 = rend_hist_now();
    for (unsigned i = 0; i < n; i++) {
        REND_HIST_REQ_START(w, &r);
        REND_HIST_OP_ISSUE(w, &r.kop1);
        REND_HIST_OP_DONE(w, &r.kop1);
        REND_HIST_REQ_DONE(w, &r);
        __asm__ volatile("" ::: "memory");
    }
    t1 = rend_hist_now();
    printf("histogram hooks: %.1f ns per single-key request (%u requests)\n",
           ((double)(t1 - t0) - (double)base) / n, n);
    rend_metrics_on = 0;
    w->hist = NULL;
    t0 = rend_hist_now();
    for (unsigned i = 0; i < n; i++) {
        REND_HIST_REQ_START(w, &r);
        REND_HIST_OP_ISSUE(w, &r.kop1);
        REND_HIST_OP_DONE(w, &r.kop1);
        REND_HIST_REQ_DONE(w, &r);
        __asm__ volatile("" ::: "memory");
    }
    t1 = rend_hist_now();
    printf("hooks with metrics off: %.1f ns per request (one branch each; "
           "within the timing noise)\n", ((double)(t1 - t0) - (double)base) / n);
    return 0;
}
