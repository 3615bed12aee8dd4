/*
 * rend_hist.c - per-worker latency histograms (see rend_hist.h).
 */
#include "config.h"

#include <string.h>

#include "rend_hist.h"
#include "rend_worker.h"

int rend_metrics_on;
__thread struct rend_hist_tls rend_hist_tls
    __attribute__((tls_model("initial-exec")));

const uint64_t rend_hist_bounds_ns[REND_HIST_NBOUNDS] = {
    10000, 20000, 50000,                     /* 10us .. 50us */
    100000, 200000, 500000,                  /* 100us .. 500us */
    1000000, 2000000, 5000000,               /* 1ms .. 5ms */
    10000000, 20000000, 50000000,            /* 10ms .. 50ms */
    100000000, 200000000, 500000000,         /* 100ms .. 500ms */
    1000000000, 2000000000, 5000000000ull,   /* 1s .. 5s */
    10000000000ull,                          /* 10s */
};

uint8_t rend_hist_first[64];

static void __attribute__((constructor))
hist_first_init(void)
{
    unsigned i = 0;

    for (unsigned b = 0; b < 64; b++) {
        while (i < REND_HIST_NBOUNDS && rend_hist_bounds_ns[i] < (1ull << b)) {
            i++;
        }
        rend_hist_first[b] = (uint8_t)i;
    }
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
    for (unsigned w = 0; w < rend_nworkers && w < REND_HIST_MAX_WORKERS
         && cmd < REND_CMD__COUNT; w++) {
        add(out, &rend_hist_workers[w].req[cmd]);
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
        add(out, &rend_hist_workers[w].tier[tier - 1][op]);
    }
}
