/*
 * rend_opq.c - op queue and its threads (see rend_opq.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rend_opq.h"

/* One queue thread and the batch it works on. */
struct rend_opq_thr {
    struct rend_opq *q;
    pthread_t tid;
    struct rend_op **batch; /* max_batch slots */
};

/* --- the ring (caller holds q->lock) --- */

static int
ring_push(struct rend_opq *q, struct rend_op *op)
{
    if (q->len == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 256;
        struct rend_op **n = malloc(ncap * sizeof(*n));

        if (n == NULL) {
            return -1;
        }
        for (size_t i = 0; i < q->len; i++) {
            n[i] = q->ring[(q->head + i) % q->cap];
        }
        free(q->ring);
        q->ring = n;
        q->cap = ncap;
        q->head = 0;
    }
    q->ring[(q->head + q->len) % q->cap] = op;
    q->len++;
    return 0;
}

/* Up to max_batch ops; with several threads only a fair share of what is
 * queued, so one thread does not take everything while the others idle. */
static size_t
ring_take(struct rend_opq *q, struct rend_op **out)
{
    size_t n = q->len < q->max_batch ? q->len : q->max_batch;

    if (q->nthreads > 1 && n > 1) {
        size_t share = (q->len + q->nthreads - 1) / q->nthreads;
        n = share < n ? share : n;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
    }
    q->len -= n;
    return n;
}

/* --- threads --- */

/* Sleep on q->wake for at most ms (q->lock held). */
static void
sleep_locked(struct rend_opq *q, uint64_t ms)
{
    q->idle++;
    if (ms == REND_OPQ_FOREVER) {
        pthread_cond_wait(&q->wake, &q->lock);
    } else {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&q->wake, &q->lock, &ts);
    }
    q->idle--;
}

static void *
thr_main(void *arg)
{
    struct rend_opq_thr *t = arg;
    struct rend_opq *q = t->q;
    void *tls = q->cb.thread_init ? q->cb.thread_init(q->ud) : NULL;
    uint64_t wait = q->cb.tick ? q->cb.tick(q->ud) : REND_OPQ_FOREVER;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        size_t n = ring_take(q, t->batch);

        if (n == 0) {
            if (q->stopping) {
                break;
            }
            if (wait > 0) {
                sleep_locked(q, wait);
                if (q->len > 0 || q->stopping || q->cb.tick == NULL) {
                    continue;
                }
            }
        }
        pthread_mutex_unlock(&q->lock);
        if (n > 0) {
            rend_phist_observe(&q->batches, rend_phist_count, n);
            q->cb.run(q->ud, tls, t->batch, n);
        }
        if (q->cb.tick) {
            wait = q->cb.tick(q->ud);
        }
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    if (q->cb.thread_exit) {
        q->cb.thread_exit(q->ud, tls);
    }
    return NULL;
}

static int
init_locks(struct rend_opq *q)
{
    pthread_condattr_t ca;
    int rc;

    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        return -1;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&q->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        pthread_mutex_destroy(&q->lock);
        return -1;
    }
    q->ready = 1;
    return 0;
}

int
rend_opq_start(struct rend_opq *q, const struct rend_opq_cb *cb, void *ud,
               unsigned nthreads, size_t max_batch, size_t queue_max,
               char *err, size_t errlen)
{
    if (cb->run == NULL || nthreads == 0 || max_batch == 0
        || (cb->tick != NULL && nthreads != 1)) {
        snprintf(err, errlen, "op queue: bad parameters");
        return REND_EINVAL;
    }
    memset(q, 0, sizeof(*q));
    q->cb = *cb;
    q->ud = ud;
    q->max_batch = max_batch;
    q->queue_max = queue_max;
    q->nthreads = nthreads;
    if (init_locks(q) != 0) {
        snprintf(err, errlen, "op queue: cannot initialise locks");
        return REND_EINTERNAL;
    }
    q->thr = calloc(nthreads, sizeof(*q->thr));
    if (q->thr == NULL) {
        snprintf(err, errlen, "out of memory for the op queue");
        return REND_ENOMEM;
    }
    for (unsigned i = 0; i < nthreads; i++) {
        q->thr[i].q = q;
        q->thr[i].batch = malloc(max_batch * sizeof(*q->thr[i].batch));
        if (q->thr[i].batch == NULL) {
            rend_opq_stop(q);
            snprintf(err, errlen, "out of memory for the op queue");
            return REND_ENOMEM;
        }
    }
    for (unsigned i = 0; i < nthreads; i++) {
        int rc = pthread_create(&q->thr[i].tid, NULL, thr_main, &q->thr[i]);

        if (rc != 0) {
            rend_opq_stop(q);
            snprintf(err, errlen, "cannot start a queue thread: %s",
                     strerror(rc));
            return REND_EINTERNAL;
        }
        q->started++;
    }
    return REND_OK;
}

int
rend_opq_submit(struct rend_opq *q, struct rend_op *op)
{
    int st = REND_PENDING;

    pthread_mutex_lock(&q->lock);
    if (q->queue_max != 0 && q->len >= q->queue_max) {
        st = REND_EBUSY;
    } else if (ring_push(q, op) != 0) {
        st = REND_ENOMEM;
    } else if (q->idle > 0) {
        pthread_cond_signal(&q->wake);
    }
    pthread_mutex_unlock(&q->lock);
    return st;
}

size_t
rend_opq_len(struct rend_opq *q)
{
    size_t n;

    pthread_mutex_lock(&q->lock);
    n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void
rend_opq_stop(struct rend_opq *q)
{
    if (!q->ready) {
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
    for (unsigned i = 0; i < q->started; i++) {
        pthread_join(q->thr[i].tid, NULL);
    }
    if (q->thr != NULL) {
        for (unsigned i = 0; i < q->nthreads; i++) {
            free(q->thr[i].batch);
        }
    }
    free(q->thr);
    free(q->ring);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->wake);
    q->thr = NULL;
    q->ring = NULL;
    q->cap = q->head = q->len = 0;
    q->started = 0;
    q->ready = 0;
}
