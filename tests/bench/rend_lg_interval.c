/*
 * rend_lg_interval.c - per-interval figures of the load generator; see
 * rend_lg_interval.h.
 */
#include "rend_lg_interval.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t ops;
    struct rend_lg_hist hist;
};

static struct slot *slots;
static unsigned nslots;
static uint64_t interval_ns, duration_ns;
static _Atomic uint64_t window_t0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int
rend_lg_iv_init(double interval_s, double duration_s)
{
    interval_ns = (uint64_t)(interval_s * 1e9);
    duration_ns = (uint64_t)(duration_s * 1e9);
    if (interval_ns == 0) {
        return -1;
    }
    /* one more slot than whole intervals: the last may be partial */
    nslots = (unsigned)(duration_s / interval_s) + 1;
    slots = calloc(nslots, sizeof(*slots));
    return slots == NULL ? -1 : 0;
}

void
rend_lg_iv_start(uint64_t t0)
{
    atomic_store(&window_t0, t0);
}

static unsigned
slot_of(uint64_t now)
{
    uint64_t t0 = atomic_load(&window_t0);
    uint64_t k = now > t0 ? (now - t0) / interval_ns : 0;

    return k < nslots ? (unsigned)k : nslots - 1;
}

void
rend_lg_iv_publish(struct rend_lg_iv_local *l)
{
    if (l->ops == 0) {
        return;
    }
    pthread_mutex_lock(&lock);
    slots[l->slot].ops += l->ops;
    rend_lg_hist_merge(&slots[l->slot].hist, &l->hist);
    pthread_mutex_unlock(&lock);
    l->ops = 0;
    memset(&l->hist, 0, sizeof(l->hist));
}

void
rend_lg_iv_tick(struct rend_lg_iv_local *l, uint64_t now)
{
    unsigned k = slot_of(now);

    if (k != l->slot) {
        rend_lg_iv_publish(l);
        l->slot = k;
    }
}

void
rend_lg_iv_record(struct rend_lg_iv_local *l, uint64_t now, uint64_t ns)
{
    rend_lg_iv_tick(l, now);
    rend_lg_hist_record(&l->hist, ns);
    l->ops++;
}

unsigned
rend_lg_iv_slots(void)
{
    return nslots;
}

void
rend_lg_iv_print(unsigned k)
{
    struct slot *s = &slots[k];
    uint64_t start = (uint64_t)k * interval_ns;
    uint64_t len = duration_ns - start < interval_ns ? duration_ns - start
                                                     : interval_ns;
    double secs = (double)len / 1e9;

    if (start >= duration_ns) {
        return;
    }

    pthread_mutex_lock(&lock);
    printf("INTERVAL t_s=%.1f ops_s=%.0f p50_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f\n", (double)(start + len) / 1e9,
           (double)s->ops / secs,
           (double)rend_lg_hist_quantile(&s->hist, 0.50) / 1e3,
           (double)rend_lg_hist_quantile(&s->hist, 0.99) / 1e3,
           (double)rend_lg_hist_quantile(&s->hist, 0.999) / 1e3,
           (double)s->hist.max / 1e3);
    pthread_mutex_unlock(&lock);
    fflush(stdout);
}
