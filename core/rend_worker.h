/*
 * rend_worker.h - worker threads: one libev loop each, connections pinned
 * to a worker, completions from other threads delivered through a locked
 * list and an ev_async.
 */
#ifndef REND_WORKER_H
#define REND_WORKER_H

#include <pthread.h>
#include <stdint.h>
#include <ev.h>

#include "rend_req.h"
#include "rend_stats.h"
#include "rend_vpipe.h"

struct rend_conn;
struct rend_gen;
struct rend_hinst;

/* A generation a worker has swapped out, kept until its requests end. */
struct rend_retired {
    struct rend_retired *next;
    struct rend_gen *gen;
    uint64_t inflight;
};

struct rend_newconn {
    struct rend_newconn *next;
    int fd;
    unsigned listener;
};

#define REND_DIRTY_MAX 32

struct rend_kops_spare;
struct rend_hist_worker;

struct rend_worker {
    unsigned id;
    pthread_t tid;
    struct ev_loop *loop;
    ev_async wake;            /* remote completions, new conns, swaps, stop */
    ev_prepare prep;          /* drains local completions, flushes handlers */
    ev_check clk;             /* refreshes the unix-seconds clock */
    ev_timer tick;            /* clock and idle-buffer sweep */
    pthread_mutex_t mu;       /* guards the four fields below */
    struct rend_kop *remote;
    struct rend_newconn *newconns;
    struct rend_gen *next_gen;
    int stop;
    struct rend_kop *local_head, *local_tail;  /* this thread only */
    struct rend_conn *conns;
    unsigned nconns;
    struct rend_req *free_reqs;
    unsigned nfree_reqs;
    /* idle pipes for spliced set values, and how many are lent out
     * (rend_vpipe.c; this thread only) */
    struct rend_vpipe_idle vpool[REND_VPIPE_POOL];
    unsigned nvpool, vpipes_out;
    /* Spare key-op arrays of finished multi-key requests, reused by the
     * next ones: no calloc per multi-get (rend_exec.c; a list linked
     * through the arrays themselves, free_kops_n entries in all).  Only
     * this worker touches it. */
    struct rend_kops_spare *free_kops;
    uint32_t free_kops_n, free_kops_count;
    struct rend_gen *gen;     /* config generation new requests use */
    struct rend_hinst *dirty[REND_DIRTY_MAX];
    unsigned ndirty;
    uint64_t inflight;        /* requests started and not complete */
    uint64_t inflight_gen;    /* ... of them on gen */
    struct rend_retired *retired; /* older generations still in use */
    struct rend_lua *lua;     /* route_fn VM for gen, or NULL */
    /* Latency histograms (rend_hist.h): this worker's, or NULL when metrics
     * are off; the hooks' last clock reading and the op it was taken for.
     * This thread only (the scraper reads the histograms). */
    struct rend_hist_worker *hist;
    void (*hist_op_done)(struct rend_worker *, struct rend_kop *);
    uint64_t hist_now;
    const struct rend_kop *hist_kop;
    struct rend_stats st;
};

extern struct rend_worker *rend_workers;
extern unsigned rend_nworkers;
/* The worker running on this thread, or NULL.  initial-exec: librend is linked at program start (never dlopen'ed),
 * so this thread's pointer is read at a fixed offset without a
 * __tls_get_addr call (the completion path reads it once per op). */
extern __thread struct rend_worker *rend_self
    __attribute__((tls_model("initial-exec")));

/* Start n workers on gen (each takes a reference).  0 or -1. */
int rend_workers_start(unsigned n, struct rend_gen *gen);
/* Hand an accepted socket to the next worker (round robin). */
void rend_workers_dispatch(int fd, unsigned listener);
/* Size gen's handler context tables for the workers (main thread, before
 * the workers see gen).  0 or -1. */
int rend_workers_prepare(struct rend_gen *gen);
/* Publish a new config generation to every worker. */
void rend_workers_swap(struct rend_gen *gen);
/* Stop and join every worker; connections are closed. */
void rend_workers_stop(void);
/* Fuzz targets and tests: worker 0 of 1 on gen, set up on the calling
 * thread with no thread of its own; the caller runs its loop (ev_run on
 * w->loop) and hands it sockets with rend_conn_new.  NULL on failure. */
struct rend_worker *rend_worker_inline(struct rend_gen *gen);

/* host->done: deliver an op completion to the worker owning it. */
void rend_worker_complete(struct rend_kop *k, int status);
/* A request that started on generation g has completed. */
void rend_worker_req_end(struct rend_worker *w, struct rend_gen *g);
/* Remember that hi got ops this round and needs its flush hook called. */
void rend_worker_mark_dirty(struct rend_worker *w, struct rend_hinst *hi);
void rend_worker_flush_dirty(struct rend_worker *w);

#endif /* REND_WORKER_H */
