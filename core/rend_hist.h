/*
 * rend_hist.h - latency histograms for /metrics: the whole request by
 * command, and each tier's op by tier and opcode.
 *
 * Each worker owns its histograms and is their only writer (plain
 * increments, no lock, no atomic read-modify-write); the scraper sums the
 * workers.  Buckets are log spaced (1, 2, 5 per decade) from 10 us to 10 s,
 * plus +Inf.  Nothing is timed unless rend_metrics_on (set at start when
 * the config declares admin{}), so a server without an admin listener
 * pays one load and a predictable branch per hook.
 */
#ifndef REND_HIST_H
#define REND_HIST_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif
#include <rend/handler.h>

#include "rend_req.h"
#include "rend_worker.h"

#define REND_HIST_NBOUNDS 19     /* 10us .. 10s */
#define REND_HIST_MAX_WORKERS 256

/* 192 bytes, three cache lines: the sum first, so that it shares its line
 * with the low buckets every fast request lands in, and a size that makes
 * an index a shift and an lea rather than a multiply. */
struct rend_hist {
    uint64_t sum_ns;
    uint64_t bucket[REND_HIST_NBOUNDS + 1]; /* not cumulative; last = +Inf */
    uint64_t pad_[3];
} __attribute__((aligned(64)));

/* Upper bounds, nanoseconds. */
extern const uint64_t rend_hist_bounds_ns[REND_HIST_NBOUNDS];
/* The same, and UINT64_MAX for +Inf: a value v lies in bucket i, the
 * first with v <= rend_hist_upper_ns[i]. */
extern const uint64_t rend_hist_upper_ns[REND_HIST_NBOUNDS + 1]
    __attribute__((visibility("hidden")));

/* rend_hist_first[b]: the first bucket whose bound is >= 2^b, so a value
 * of bit length b + 1 lies in that bucket or the next (consecutive bounds
 * are at least a factor 2 apart).  Filled before main runs. */
extern uint8_t rend_hist_first[64]
    __attribute__((visibility("hidden")));

/* Non-zero when histograms are recorded (set once, before the workers;
 * each worker then has w->hist). */
extern int rend_metrics_on;

/* The hooks' clock, chosen once by rend_hist_clock_init() before the
 * workers start: the CPU's time-stamp counter where the kernel keeps its
 * own time with it (x86-64, constant and nonstop TSC, clocksource "tsc";
 * one instruction instead of a clock_gettime call), else
 * clock_gettime(CLOCK_MONOTONIC).  A reading is in ticks of that clock;
 * rend_hist_ns() turns a difference of two readings into nanoseconds
 * (the TSC's rate is measured against CLOCK_MONOTONIC at init).
 * REND_HIST_CLOCK=monotonic in the environment forces clock_gettime. */
extern int rend_hist_use_tsc
    __attribute__((visibility("hidden")));
/* nanoseconds per tick, times 2^32 */
extern uint64_t rend_hist_mult __attribute__((visibility("hidden")));

void rend_hist_clock_init(void);

static inline uint64_t
rend_hist_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
rend_hist_ticks(void)
{
#if defined(__x86_64__)
    if (rend_hist_use_tsc) {
        return __rdtsc();
    }
#endif
    return rend_hist_mono_ns();
}

static inline uint64_t
rend_hist_ns(uint64_t ticks)
{
    return (uint64_t)(((unsigned __int128)ticks * rend_hist_mult) >> 32);
}

/* Nanoseconds on CLOCK_MONOTONIC (bench and tests). */
static inline uint64_t
rend_hist_now(void)
{
    return rend_hist_mono_ns();
}

/* Opcode slots per tier: a power of two, so an index is a shift. */
#define REND_HIST_OPS 16
_Static_assert(REND_OP__COUNT <= REND_HIST_OPS, "REND_HIST_OPS too small");

/* rend_hist_natop[cmd]: the opcode a request of cmd issues first (its
 * rend_cmd_table row's op), or 0xff. */
extern uint8_t rend_hist_natop[REND_CMD__COUNT]
    __attribute__((visibility("hidden")));

/* One worker's histograms, written by that worker only.
 *
 * pair[cmd][t]: single-key requests of cmd whose one op was cmd's own
 * opcode on tier t + 1, issued when the request started and completed
 * right before the request did.  The request and the op then took the same
 * time, read off the same two clock readings, so one observation counts
 * for both: the scraper adds pair[cmd][t] into req[cmd] and into
 * tier[t][natop[cmd]].  Every other case is observed in req and tier
 * directly.  Each observation lands in exactly one histogram, once, so
 * every series stays monotonic. */
struct rend_hist_worker {
    struct rend_hist req[REND_CMD__COUNT];
    struct rend_hist tier[2][REND_HIST_OPS];
    struct rend_hist pair[REND_CMD__COUNT][2];
} __attribute__((aligned(64)));
extern struct rend_hist_worker rend_hist_workers[REND_HIST_MAX_WORKERS];

/* One more observation of ns.  The owner is the only writer, so a plain
 * read-modify-write (one instruction on x86-64, no lock prefix); the
 * scraper's relaxed 64-bit loads of aligned words never see one torn. */
static inline void
rend_hist_observe(struct rend_hist *h, uint64_t ns)
{
    /* The bucket from the value's bit length and one comparison, not a
     * walk over the bounds. */
    unsigned long i = rend_hist_first[63u ^ (unsigned)__builtin_clzll(ns | 1)];

    /* h in one register: both updates address off it, rather than each
     * being recomputed from the caller's indices */
    __asm__("" : "+r"(h));
    i += ns > rend_hist_upper_ns[i];
    h->bucket[i]++;
    h->sum_ns += ns;
}

/* Worker `wid` observed a request of command cmd taking ns. */
void rend_hist_req(unsigned wid, unsigned cmd, uint64_t ns);
/* Worker `wid` observed an op on tier (1 or 2) taking ns. */
void rend_hist_tier(unsigned wid, unsigned tier, unsigned op, uint64_t ns);
/* Worker `wid` observed a request of cmd and its one op on tier, the
 * same ns (what the hooks record as a pair; tests). */
void rend_hist_pair(unsigned wid, unsigned cmd, unsigned tier, uint64_t ns);

/* Sum of every worker's histogram (scraper; any thread), pairs included. */
void rend_hist_sum_req(unsigned cmd, struct rend_hist *out);
void rend_hist_sum_tier(unsigned tier, unsigned op, struct rend_hist *out);

/* The hooks.  w is the worker running the request; w->hist is its
 * histograms, NULL when metrics are off (one load and a predictable
 * branch per hook then).  w->hist_now is the hooks' last clock reading
 * and w->hist_kop the op it was taken for: an op issued right after its
 * request started, or right after its key's previous stage completed,
 * and a request completed right after its last op, reuse it instead of
 * reading the clock again (two readings per single-key request, not
 * four).
 *
 * k->t_issue holds the op's issue reading while it runs.  When the op of
 * a single-key request, issued on the request's own start reading with
 * the command's own opcode, completes, its observation waits: k->t_issue
 * becomes the completion reading with REND_HIST_PEND set (the op took
 * from r->t_start to there).  The request completing right after it
 * records that once, as a pair; anything else (a next stage issued on k,
 * a request that ends later) records it in tier first. */
#define REND_HIST_PEND (1ull << 63)

static inline void
rend_hist_req_start(struct rend_worker *w, struct rend_req *r)
{
    uint64_t now = rend_hist_ticks();

    r->t_start = now;
    w->hist_now = now;
    w->hist_kop = r->kops;
}

/* The out-of-line parts (rend_hist.c): a call only when metrics are on,
 * so that the callers' code without metrics stays as it was.  req_done
 * takes a request rend_exec_start started (r->kops set). */
void rend_hist_req_done(struct rend_worker *w, const struct rend_req *r)
    __attribute__((visibility("hidden")));
/* The op-done hook for the clock rend_hist_clock_init() chose (no test
 * of the clock on every op): w->hist_op_done, set with w->hist. */
typedef void rend_hist_op_done_f(struct rend_worker *w, struct rend_kop *k);
rend_hist_op_done_f *rend_hist_op_done_fn(void);
void rend_hist_op_flush(struct rend_worker *w, struct rend_kop *k)
    __attribute__((visibility("hidden"), cold));

/* Called before issue() changes k->tier (a waiting observation of the
 * previous stage is recorded on that stage's tier and opcode). */
static inline void
rend_hist_op_issue(struct rend_worker *w, struct rend_kop *k)
{
    if (__builtin_expect((k->t_issue & REND_HIST_PEND) != 0, 0)) {
        rend_hist_op_flush(w, k);
    }
    k->t_issue = w->hist_kop == k ? w->hist_now : rend_hist_ticks();
}

/* The hooks, a line each at the call sites (w: the request's worker). */
#define REND_HIST_REQ_START(w, r)                                           \
    do { if ((w)->hist) rend_hist_req_start(w, r); } while (0)
#define REND_HIST_REQ_DONE(w, r)                                            \
    do { if ((w)->hist) rend_hist_req_done(w, r); } while (0)
#define REND_HIST_OP_ISSUE(w, k)                                            \
    do { if ((w)->hist) rend_hist_op_issue(w, k); } while (0)
#define REND_HIST_OP_DONE(w, k)                                             \
    do { if ((w)->hist) (w)->hist_op_done(w, k); } while (0)

#endif /* REND_HIST_H */
