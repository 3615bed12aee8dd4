/*
 * rend_opq.h - a queue of ops served by threads the plugin owns: the
 * group-commit writer of the lmdb and rocksdb handlers (one thread that
 * takes up to max_batch queued ops at a time and applies them together)
 * and their reader pools (N threads).
 *
 * Worker threads submit ops (rend_opq_submit) and return REND_PENDING;
 * a queue thread takes a batch in queue order and hands it to run(),
 * which completes every op exactly once through host->done.  Ops are
 * pointers the core owns: the queue never frees or touches one after
 * run() got it.  rend_opq_stop lets the threads finish everything queued
 * (every op still gets its done), then joins them.
 *
 * The struct is the caller's (embed it, zeroed); every field is private
 * to rend_opq.c.  Every size of batch run() got is counted in batches
 * (a rend_phist of rend_phist_count bounds), for the plugin's stats.
 */
#ifndef REND_OPQ_H
#define REND_OPQ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <rend/handler.h>

#include "rend_phist.h"

/* tick's answer: sleep until an op comes. */
#define REND_OPQ_FOREVER UINT64_MAX

struct rend_opq_cb {
    /* Optional: on each queue thread before its first batch; what it
     * returns is that thread's tls for run() (NULL is fine). */
    void *(*thread_init)(void *ud);
    /* Optional: on each queue thread after its last batch. */
    void (*thread_exit)(void *ud, void *tls);
    /* Apply ops[0..n-1] (queue order) and complete each exactly once.
     * Queue thread, without the queue's lock. */
    void (*run)(void *ud, void *tls, struct rend_op **ops, size_t n);
    /* Optional (one-thread queues only): timed work, run at start, after
     * every batch and every wake-up; returns the longest the thread may
     * sleep before it runs again, in ms (0 = at once, REND_OPQ_FOREVER). */
    uint64_t (*tick)(void *ud);
};

struct rend_opq_thr;

struct rend_opq {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct rend_op **ring;   /* FIFO of queued ops (grows on demand) */
    size_t cap, head, len;
    size_t max_batch, queue_max;
    unsigned nthreads, started, idle;
    int stopping, ready;
    struct rend_opq_thr *thr;
    struct rend_opq_cb cb;
    void *ud;
    struct rend_phist batches; /* sizes of the batches run() got */
};

/* Start nthreads threads (at least 1; tick needs exactly 1) taking up to
 * max_batch ops at a time; queue_max bounds the queue (0 = unbounded).
 * Thread of create().  REND_OK, or a negative status with one line in err
 * (nothing left running; rend_opq_stop is still safe). */
int rend_opq_start(struct rend_opq *q, const struct rend_opq_cb *cb,
                   void *ud, unsigned nthreads, size_t max_batch,
                   size_t queue_max, char *err, size_t errlen);

/* Queue op.  Any thread.  REND_PENDING (run() will complete it),
 * REND_EBUSY (queue_max ops are queued) or REND_ENOMEM. */
int rend_opq_submit(struct rend_opq *q, struct rend_op *op);

/* Ops queued and not yet taken.  Any thread. */
size_t rend_opq_len(struct rend_opq *q);

/* Finish every queued op, join the threads, free the queue.  Thread of
 * destroy(); safe on a zeroed or failed queue and when called twice. */
void rend_opq_stop(struct rend_opq *q);

#endif /* REND_OPQ_H */
