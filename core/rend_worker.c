/*
 * rend_worker.c - worker threads.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "rend_config.h"
#include "rend_hist.h"
#include "rend_conn.h"
#include "rend_log.h"
#include "rend_lua.h"
#include "rend_plugin.h"
#include "rend_route.h"
#include "rend_util.h"
#include "rend_worker.h"

struct rend_worker *rend_workers;
unsigned rend_nworkers;
__thread struct rend_worker *rend_self __attribute__((tls_model("initial-exec")));
unsigned rend_curr_conns;

static unsigned next_worker;

void
rend_worker_mark_dirty(struct rend_worker *w, struct rend_hinst *hi)
{
    /* from the last marked: usually the same instance as the last op */
    for (unsigned i = w->ndirty; i-- > 0;) {
        if (w->dirty[i] == hi) {
            return;
        }
    }
    if (w->ndirty == REND_DIRTY_MAX) {
        rend_worker_flush_dirty(w);
    }
    w->dirty[w->ndirty++] = hi;
}

void
rend_worker_flush_dirty(struct rend_worker *w)
{
    while (w->ndirty > 0) {
        struct rend_hinst *hi = w->dirty[--w->ndirty];
        hi->h.flush(hi->tctx[w->id]);
    }
}

void
rend_worker_complete(struct rend_kop *k, int status)
{
    struct rend_worker *w = k->req->conn->w;

    k->cstatus = status;
    k->cnext = NULL;
    if (rend_self == w) {
        if (w->local_tail != NULL) {
            w->local_tail->cnext = k;
        } else {
            w->local_head = k;
        }
        w->local_tail = k;
        return;
    }
    pthread_mutex_lock(&w->mu);
    k->cnext = w->remote;
    w->remote = k;
    pthread_mutex_unlock(&w->mu);
    ev_async_send(w->loop, &w->wake);
}

static void
drain_local(struct rend_worker *w)
{
    struct rend_kop *k;

    while ((k = w->local_head) != NULL) {
        w->local_head = k->cnext;
        if (w->local_head == NULL) {
            w->local_tail = NULL;
        }
        rend_route_step(k, k->cstatus);
    }
    rend_worker_flush_dirty(w);
}

/* Is hi part of generation g? */
static int
gen_has(const struct rend_gen *g, const struct rend_hinst *hi)
{
    for (unsigned i = 0; i < g->nhinsts; i++) {
        if (g->hinsts[i] == hi) {
            return 1;
        }
    }
    return 0;
}

/* Let go of a retired generation: end this thread's part of the handler
 * instances the current generation no longer has. */
static void
release_retired(struct rend_worker *w, struct rend_retired *rt)
{
    for (unsigned i = 0; i < rt->gen->nhinsts; i++) {
        struct rend_hinst *hi = rt->gen->hinsts[i];
        int in_use = gen_has(w->gen, hi);
        for (struct rend_retired *o = w->retired; o && !in_use; o = o->next) {
            in_use = o != rt && gen_has(o->gen, hi);
        }
        if (!in_use) {
            rend_hinst_thread_exit(hi, w->id);
        }
    }
    rend_gen_put(rt->gen);
}

static void
unlink_retired(struct rend_worker *w, struct rend_retired *rt)
{
    struct rend_retired **pp = &w->retired;

    while (*pp != rt) {
        pp = &(*pp)->next;
    }
    *pp = rt->next;
    release_retired(w, rt);
    free(rt);
}

void
rend_worker_req_end(struct rend_worker *w, struct rend_gen *g)
{
    w->inflight--;
    if (g == w->gen) {
        w->inflight_gen--;
        return;
    }
    for (struct rend_retired *rt = w->retired; rt != NULL; rt = rt->next) {
        if (rt->gen == g) {
            if (--rt->inflight == 0) {
                unlink_retired(w, rt);
            }
            return;
        }
    }
}

static void
adopt(struct rend_worker *w, struct rend_newconn *nc)
{
    int one = 1;

    setsockopt(nc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rend_conn_new(w, nc->fd, nc->listener);
}

static void
thread_init_handlers(struct rend_worker *w, struct rend_gen *g)
{
    struct rend_thread thr = { w->loop, w->id, rend_nworkers };

    for (unsigned i = 0; i < g->nhinsts; i++) {
        struct rend_hinst *hi = g->hinsts[i];
        if (hi->tctx == NULL || hi->tctx[w->id] == NULL) {
            rend_hinst_thread_init(hi, &thr);
        }
    }
    rend_lua_free(w->lua);
    w->lua = g->has_lua ? rend_lua_new(g) : NULL;
}

static void
on_wake(struct ev_loop *loop, ev_async *watcher, int revents)
{
    struct rend_worker *w = watcher->data;
    struct rend_kop *remote, *rev = NULL;
    struct rend_newconn *nc;
    struct rend_gen *gen;
    int stop;

    pthread_mutex_lock(&w->mu);
    remote = w->remote;
    w->remote = NULL;
    nc = w->newconns;
    w->newconns = NULL;
    gen = w->next_gen;
    w->next_gen = NULL;
    stop = w->stop;
    pthread_mutex_unlock(&w->mu);

    if (gen != NULL) {
        struct rend_retired *rt = calloc(1, sizeof(*rt));
        thread_init_handlers(w, gen);
        if (rt == NULL) {
            rend_log(REND_LOG_ERR, "worker %u: out of memory swapping the "
                     "config; keeping the old one", w->id);
            rend_gen_put(gen);
        } else {
            rt->gen = w->gen;
            rt->inflight = w->inflight_gen;
            w->gen = gen; /* reference handed over by rend_workers_swap */
            w->inflight_gen = 0;
            rt->next = w->retired;
            w->retired = rt;
            if (rt->inflight == 0) {
                unlink_retired(w, rt);
            }
        }
    }
    /* completions in the order they arrived */
    while (remote != NULL) {
        struct rend_kop *n = remote->cnext;
        remote->cnext = rev;
        rev = remote;
        remote = n;
    }
    while (rev != NULL) {
        struct rend_kop *n = rev->cnext;
        rend_route_step(rev, rev->cstatus);
        rev = n;
    }
    drain_local(w);
    while (nc != NULL) {
        struct rend_newconn *n = nc->next;
        adopt(w, nc);
        free(nc);
        nc = n;
    }
    if (stop) {
        ev_break(loop, EVBREAK_ALL);
    }
}

static void
on_prepare(struct ev_loop *loop, ev_prepare *watcher, int revents)
{
    struct rend_worker *w = watcher->data;

    if (w->local_head != NULL || w->ndirty > 0) {
        drain_local(w);
    }
}

/* After every poll, before the I/O callbacks: the requests this iteration
 * serves see the current second (a 1 s timer on one worker let the clock lag
 * by a second or more, and TTLs with it). */
static void
on_check(struct ev_loop *loop, ev_check *watcher, int revents)
{
    (void)loop;
    (void)watcher;
    (void)revents;
    rend_clock_tick();
}

static void
on_tick(struct ev_loop *loop, ev_timer *watcher, int revents)
{
    struct rend_worker *w = watcher->data;
    int64_t now;

    now = rend_now();
    for (struct rend_conn *c = w->conns, *next; c != NULL; c = next) {
        next = c->next; /* the sweep may close and free c */
        rend_conn_sweep(c, now);
    }
}

static void *
worker_main(void *arg)
{
    struct rend_worker *w = arg;

    rend_self = w;
    thread_init_handlers(w, w->gen);
    ev_run(w->loop, 0);
    /* shutting down: close every connection, let pending ops finish */
    for (struct rend_conn *c = w->conns, *n; c != NULL; c = n) {
        n = c->next;
        rend_conn_reap(c);
    }
    for (int i = 0; i < 200 && w->inflight > 0; i++) {
        ev_run(w->loop, EVRUN_NOWAIT);
        drain_local(w);
        usleep(10000);
    }
    if (w->inflight > 0) {
        rend_log(REND_LOG_WARN, "worker %u: %llu requests still pending at "
                 "exit", w->id, (unsigned long long)w->inflight);
    }
    while (w->retired != NULL) {
        unlink_retired(w, w->retired);
    }
    rend_lua_free(w->lua);
    w->lua = NULL;
    for (unsigned i = 0; i < w->gen->nhinsts; i++) {
        rend_hinst_thread_exit(w->gen->hinsts[i], w->id);
    }
    return NULL;
}

/* Worker i's loop and watchers, on gen (a reference is taken). */
static int
worker_setup(struct rend_worker *w, unsigned i, struct rend_gen *gen)
{
    w->id = i;
    w->hist = rend_metrics_on && i < REND_HIST_MAX_WORKERS
              ? &rend_hist_workers[i] : NULL;
    w->hist_op_done = rend_hist_op_done_fn();
    w->loop = ev_loop_new(EVFLAG_AUTO);
    if (w->loop == NULL) {
        return -1;
    }
    pthread_mutex_init(&w->mu, NULL);
    ev_async_init(&w->wake, on_wake);
    w->wake.data = w;
    ev_async_start(w->loop, &w->wake);
    ev_prepare_init(&w->prep, on_prepare);
    w->prep.data = w;
    ev_prepare_start(w->loop, &w->prep);
    ev_check_init(&w->clk, on_check);
    ev_check_start(w->loop, &w->clk);
    ev_timer_init(&w->tick, on_tick, 1.0, 1.0);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    rend_gen_get(gen);
    w->gen = gen;
    return 0;
}

int
rend_workers_start(unsigned n, struct rend_gen *gen)
{
    rend_workers = calloc(n, sizeof(*rend_workers));
    if (rend_workers == NULL) {
        return -1;
    }
    rend_nworkers = n;
    if (rend_workers_prepare(gen) != 0) {
        return -1;
    }
    rend_clock_tick();
    if (rend_metrics_on) {
        rend_hist_clock_init(); /* before any worker times anything */
    }
    for (unsigned i = 0; i < n; i++) {
        if (worker_setup(&rend_workers[i], i, gen) != 0) {
            return -1;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&rend_workers[i].tid, NULL, worker_main,
                           &rend_workers[i]) != 0) {
            rend_log(REND_LOG_ERR, "cannot start worker thread %u", i);
            return -1;
        }
    }
    return 0;
}

void
rend_workers_dispatch(int fd, unsigned listener)
{
    struct rend_worker *w = &rend_workers[next_worker++ % rend_nworkers];
    struct rend_newconn *nc = malloc(sizeof(*nc));

    if (nc == NULL) {
        close(fd);
        __atomic_sub_fetch(&rend_curr_conns, 1, __ATOMIC_RELAXED);
        REND_LISTENER_CLOSED(listener);
        return;
    }
    nc->fd = fd;
    nc->listener = listener;
    pthread_mutex_lock(&w->mu);
    nc->next = w->newconns;
    w->newconns = nc;
    pthread_mutex_unlock(&w->mu);
    ev_async_send(w->loop, &w->wake);
}

int
rend_workers_prepare(struct rend_gen *gen)
{
    for (unsigned i = 0; i < gen->nhinsts; i++) {
        if (rend_hinst_prepare(gen->hinsts[i], rend_nworkers) != 0) {
            rend_log(REND_LOG_ERR, "handler %s: cannot prepare %u workers",
                     gen->hinsts[i]->name, rend_nworkers);
            return -1;
        }
    }
    return 0;
}

void
rend_workers_swap(struct rend_gen *gen)
{
    for (unsigned i = 0; i < rend_nworkers; i++) {
        struct rend_worker *w = &rend_workers[i];
        struct rend_gen *stale;
        rend_gen_get(gen);
        pthread_mutex_lock(&w->mu);
        stale = w->next_gen;
        w->next_gen = gen;
        pthread_mutex_unlock(&w->mu);
        if (stale != NULL) {
            rend_gen_put(stale);
        }
        ev_async_send(w->loop, &w->wake);
    }
}

void
rend_workers_stop(void)
{
    for (unsigned i = 0; i < rend_nworkers; i++) {
        struct rend_worker *w = &rend_workers[i];
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_mutex_unlock(&w->mu);
        ev_async_send(w->loop, &w->wake);
    }
    for (unsigned i = 0; i < rend_nworkers; i++) {
        pthread_join(rend_workers[i].tid, NULL);
    }
}

struct rend_worker *
rend_worker_inline(struct rend_gen *gen)
{
    rend_workers = calloc(1, sizeof(*rend_workers));
    if (rend_workers == NULL) {
        return NULL;
    }
    rend_nworkers = 1;
    rend_clock_tick();
    if (rend_workers_prepare(gen) != 0
        || worker_setup(&rend_workers[0], 0, gen) != 0) {
        return NULL;
    }
    rend_self = &rend_workers[0];
    thread_init_handlers(rend_self, gen);
    return rend_self;
}
