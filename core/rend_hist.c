/*
 * rend_hist.c - per-worker latency histograms (see rend_hist.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rend_hist.h"
#include "rend_log.h"
#include "rend_worker.h"

int rend_metrics_on;
int rend_hist_use_tsc;
uint64_t rend_hist_mult = 1ull << 32; /* clock_gettime: ticks are ns */

const uint64_t rend_hist_bounds_ns[REND_HIST_NBOUNDS] = {
    10000, 20000, 50000,                     /* 10us .. 50us */
    100000, 200000, 500000,                  /* 100us .. 500us */
    1000000, 2000000, 5000000,               /* 1ms .. 5ms */
    10000000, 20000000, 50000000,            /* 10ms .. 50ms */
    100000000, 200000000, 500000000,         /* 100ms .. 500ms */
    1000000000, 2000000000, 5000000000ull,   /* 1s .. 5s */
    10000000000ull,                          /* 10s */
};

const uint64_t rend_hist_upper_ns[REND_HIST_NBOUNDS + 1] = {
    10000, 20000, 50000, 100000, 200000, 500000,
    1000000, 2000000, 5000000, 10000000, 20000000, 50000000,
    100000000, 200000000, 500000000,
    1000000000, 2000000000, 5000000000ull, 10000000000ull,
    UINT64_MAX,                              /* +Inf */
};

uint8_t rend_hist_first[64];
uint8_t rend_hist_natop[REND_CMD__COUNT];

static void __attribute__((constructor))
hist_first_init(void)
{
    unsigned i = 0;

    for (unsigned c = 0; c < REND_CMD__COUNT; c++) {
        int op = rend_cmd_table[c].op;
        rend_hist_natop[c] = op >= 0 && op < REND_OP__COUNT ? (uint8_t)op
                                                              : 0xff;
    }
    for (unsigned b = 0; b < 64; b++) {
        while (i < REND_HIST_NBOUNDS && rend_hist_bounds_ns[i] < (1ull << b)) {
            i++;
        }
        rend_hist_first[b] = (uint8_t)i;
    }
}

#if defined(__x86_64__)
/* Does the kernel keep time with a TSC it found stable?  Its clocksource is
 * "tsc" and the CPU says constant_tsc and nonstop_tsc (one rate whatever
 * the frequency and sleep states). */
static int
tsc_trusted(void)
{
    char line[4096];
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/"
                    "current_clocksource", "r");
    int ok = 0;

    if (f == NULL) {
        return 0;
    }
    ok = fgets(line, sizeof(line), f) != NULL && strcmp(line, "tsc\n") == 0;
    fclose(f);
    if (!ok || (f = fopen("/proc/cpuinfo", "r")) == NULL) {
        return 0;
    }
    ok = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "flags", 5) == 0) {
            ok = strstr(line, " constant_tsc") != NULL
                 && strstr(line, " nonstop_tsc") != NULL;
            break;
        }
    }
    fclose(f);
    return ok;
}

/* A TSC reading and the CLOCK_MONOTONIC time it was taken at: the middle
 * of the narrowest of a few bracketing pairs of clock readings. */
static void
tsc_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;

    for (int i = 0; i < 8; i++) {
        uint64_t a = rend_hist_mono_ns();
        uint64_t t = __rdtsc();
        uint64_t b = rend_hist_mono_ns();
        if (b - a < best) {
            best = b - a;
            *tsc = t;
            *ns = a + (b - a) / 2;
        }
    }
}
#endif

void
rend_hist_clock_init(void)
{
#if defined(__x86_64__)
    static int done;
    const char *e = getenv("REND_HIST_CLOCK");
    uint64_t t0, n0, t1, n1, mult;
    struct timespec gap = { 0, 20000000 }; /* 20 ms */

    if (done) {
        return;
    }
    done = 1;
    if ((e != NULL && strcmp(e, "monotonic") == 0) || !tsc_trusted()) {
        rend_log(REND_LOG_DEBUG, "histograms: clock_gettime clock");
        return;
    }
    tsc_pair(&t0, &n0);
    nanosleep(&gap, NULL);
    tsc_pair(&t1, &n1);
    /* ns per tick << 32; the rate must be a plausible 100 MHz .. 20 GHz */
    if (t1 <= t0 || n1 <= n0) {
        return;
    }
    mult = (uint64_t)((((unsigned __int128)(n1 - n0)) << 32) / (t1 - t0));
    if (mult > (10ull << 32) || mult < (1ull << 32) / 20) {
        rend_log(REND_LOG_WARN, "histograms: TSC rate out of range; "
                 "using clock_gettime");
        return;
    }
    rend_hist_mult = mult;
    rend_hist_use_tsc = 1;
    rend_log(REND_LOG_DEBUG, "histograms: TSC clock, %.3f MHz",
             (double)(1ull << 32) * 1e3 / (double)mult);
#endif
}

/* Zero-filled; a worker's pages are touched only once it records. */
struct rend_hist_worker rend_hist_workers[REND_HIST_MAX_WORKERS];

void
rend_hist_req(unsigned wid, unsigned cmd, uint64_t ns)
{
    if (wid < REND_HIST_MAX_WORKERS && cmd < REND_CMD__COUNT) {
        rend_hist_observe(&rend_hist_workers[wid].req[cmd], ns);
    }
}

void
rend_hist_tier(unsigned wid, unsigned tier, unsigned op, uint64_t ns)
{
    if (wid < REND_HIST_MAX_WORKERS && (tier == 1 || tier == 2)
        && op < REND_OP__COUNT) {
        rend_hist_observe(&rend_hist_workers[wid].tier[tier - 1][op], ns);
    }
}

void
rend_hist_pair(unsigned wid, unsigned cmd, unsigned tier, uint64_t ns)
{
    if (wid < REND_HIST_MAX_WORKERS && cmd < REND_CMD__COUNT
        && rend_hist_natop[cmd] != 0xff && (tier == 1 || tier == 2)) {
        rend_hist_observe(&rend_hist_workers[wid].pair[cmd][tier - 1], ns);
    }
}

/* ---- the hooks' out-of-line parts (rend_hist.h) ---- */

static inline struct rend_hist *
tier_of(struct rend_worker *w, const struct rend_kop *k)
{
    /* issue() set tier 1 or 2 and an opcode below REND_OP__COUNT */
    return &w->hist->tier[(k->tier - 1u) & 1][k->op.code
                                               & (REND_HIST_OPS - 1)];
}

/* The fast parts below are leaves that end in a tail call when they need
 * more: no registers to save, no frame. */

static void __attribute__((noinline))
op_done_tier(struct rend_worker *w, struct rend_kop *k, uint64_t now)
{
    rend_hist_observe(tier_of(w, k), rend_hist_ns(now - k->t_issue));
    k->t_issue = 0;
    w->hist_now = now;
    w->hist_kop = k;
}

/* An op done at now: a single-key request's own op that ran from the
 * request's start is left pending, to be recorded once with its request
 * (the pair); any other op is recorded in its tier now. */
static inline void
op_done_at(struct rend_worker *w, struct rend_kop *k, uint64_t now)
{
    const struct rend_req *r = k->req;

    if (k->t_issue == r->t_start && r->nkeys == 1
        && k->op.code == rend_hist_natop[r->cmd]) {
        k->t_issue = now | REND_HIST_PEND; /* ran from r->t_start */
        w->hist_now = now;
        w->hist_kop = k;
        return;
    }
    op_done_tier(w, k, now);
}

static void __attribute__((noinline))
op_done_mono(struct rend_worker *w, struct rend_kop *k)
{
    op_done_at(w, k, rend_hist_mono_ns());
}

#if defined(__x86_64__)
static void
op_done_tsc(struct rend_worker *w, struct rend_kop *k)
{
    if ((int64_t)k->t_issue <= 0) {
        return; /* never issued with metrics on, or done twice */
    }
    op_done_at(w, k, __rdtsc());
}
#endif

static void
op_done_clock(struct rend_worker *w, struct rend_kop *k)
{
    if ((int64_t)k->t_issue <= 0) {
        return; /* never issued with metrics on, or done twice */
    }
    op_done_mono(w, k);
}

rend_hist_op_done_f *
rend_hist_op_done_fn(void)
{
#if defined(__x86_64__)
    if (rend_hist_use_tsc) {
        return op_done_tsc;
    }
#endif
    return op_done_clock;
}

void
rend_hist_op_flush(struct rend_worker *w, struct rend_kop *k)
{
    uint64_t done = k->t_issue & ~REND_HIST_PEND;

    rend_hist_observe(tier_of(w, k), rend_hist_ns(done - k->req->t_start));
    k->t_issue = 0;
}

static void __attribute__((noinline))
req_done_slow(struct rend_worker *w, const struct rend_req *r)
{
    const struct rend_kop *k = r->kops;
    uintptr_t off = (uintptr_t)w->hist_kop - (uintptr_t)k;
    uint64_t now;

    if (r->t_start == 0) {
        return; /* not started with metrics on */
    }
    if (k->t_issue & REND_HIST_PEND) { /* nkeys == 1, and it ends later */
        rend_hist_observe(tier_of(w, k),
                          rend_hist_ns((k->t_issue & ~REND_HIST_PEND)
                                       - r->t_start));
    }
    now = off < (uintptr_t)r->nkeys * sizeof(struct rend_kop)
          ? w->hist_now : rend_hist_ticks();
    /* a folded binary batch or run of mg lines (rend_req.bin_fold,
     * meta_fold) was one request per packet or line on the wire: each
     * counts, with the batch's time */
    for (uint32_t i = r->bin_fold || r->meta_fold ? r->nkeys : 1; i > 0;
         i--) {
        rend_hist_observe(&w->hist->req[r->cmd],
                          rend_hist_ns(now - r->t_start));
    }
}

void
rend_hist_req_done(struct rend_worker *w, const struct rend_req *r)
{
    const struct rend_kop *k = r->kops;

    if ((k->t_issue & REND_HIST_PEND) && w->hist_kop == k) {
        /* a single-key request right after its op: the same time, once */
        rend_hist_observe(&w->hist->pair[0][0] + (r->cmd * 2u
                                                  + ((k->tier - 1u) & 1)),
                          rend_hist_ns((k->t_issue & ~REND_HIST_PEND)
                                       - r->t_start));
        return;
    }
    req_done_slow(w, r);
}

static void
add(struct rend_hist *out, const struct rend_hist *h)
{
    for (unsigned i = 0; i <= REND_HIST_NBOUNDS; i++) {
        out->bucket[i] += __atomic_load_n(&h->bucket[i], __ATOMIC_RELAXED);
    }
    out->sum_ns += __atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED);
}

void
rend_hist_sum_req(unsigned cmd, struct rend_hist *out)
{
    memset(out, 0, sizeof(*out));
    if (cmd >= REND_CMD__COUNT) {
        return;
    }
    for (unsigned w = 0; w < rend_nworkers && w < REND_HIST_MAX_WORKERS;
         w++) {
        const struct rend_hist_worker *hw = &rend_hist_workers[w];
        add(out, &hw->req[cmd]);
        add(out, &hw->pair[cmd][0]);
        add(out, &hw->pair[cmd][1]);
    }
}

void
rend_hist_sum_tier(unsigned tier, unsigned op, struct rend_hist *out)
{
    memset(out, 0, sizeof(*out));
    if (tier < 1 || tier > 2 || op >= REND_OP__COUNT) {
        return;
    }
    for (unsigned w = 0; w < rend_nworkers && w < REND_HIST_MAX_WORKERS;
         w++) {
        const struct rend_hist_worker *hw = &rend_hist_workers[w];
        add(out, &hw->tier[tier - 1][op]);
        for (unsigned c = 0; c < REND_CMD__COUNT; c++) {
            if (rend_hist_natop[c] == op) {
                add(out, &hw->pair[c][tier - 1]);
            }
        }
    }
}
