/*
 * rend_conn.c - client connections: read, parse, execute in order, write
 * gathered replies, apply backpressure.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rend_config.h"
#include "rend_conn.h"
#include "rend_exec.h"
#include "rend_flow.h"
#include "rend_log.h"
#include "rend_proto.h"
#include "rend_settings.h"
#include "rend_stats.h"
#include "rend_tls.h"
#include "rend_util.h"
#include "rend_worker.h"

#define RBUF_INIT (16 * 1024)
#define OBUF_INIT 4096
#define SMALL_VALUE REND_SMALL_VALUE
#define IOV_BATCH 64

uint64_t rend_conn_buffer_bytes;

/* Input buffer bytes beyond the initial size, counted globally. */
static void
rbuf_account(uint32_t oldcap, uint32_t newcap)
{
    uint64_t o = oldcap > RBUF_INIT ? oldcap - RBUF_INIT : 0;
    uint64_t n = newcap > RBUF_INIT ? newcap - RBUF_INIT : 0;

    if (n > o) {
        __atomic_add_fetch(&rend_conn_buffer_bytes, n - o, __ATOMIC_RELAXED);
    } else if (o > n) {
        __atomic_sub_fetch(&rend_conn_buffer_bytes, o - n, __ATOMIC_RELAXED);
    }
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);
static void process(struct rend_conn *c);
static void try_write(struct rend_conn *c);
static void emit_ready(struct rend_conn *c);
static int tls_attach(struct rend_conn *c, struct rend_tls_ctx *ctx);
static void tls_detach(struct rend_conn *c);

struct rend_conn *
rend_conn_new(struct rend_worker *w, int fd, unsigned listener)
{
    struct rend_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        close(fd);
        __atomic_sub_fetch(&rend_curr_conns, 1, __ATOMIC_RELAXED);
        REND_LISTENER_CLOSED(listener);
        return NULL;
    }
    c->fd = fd;
    c->w = w;
    c->listener = (uint8_t)listener;
    c->last_active = rend_now();
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    c->rio.data = c;
    c->wio.data = c;
    if (w->gen != NULL && listener < w->gen->nlisteners
        && w->gen->listeners[listener].tls != NULL
        && tls_attach(c, w->gen->listeners[listener].tls) != 0) {
        free(c);
        close(fd);
        __atomic_sub_fetch(&rend_curr_conns, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    ev_io_start(w->loop, &c->rio);
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    w->nconns++;
    REND_STAT_INC(&w->st, total_connections);
    return c;
}

/* Free (or give back to its handler) a written or dropped segment's
 * buffer. */
static void
seg_release(struct rend_oseg *s)
{
    if (s->release != NULL) {
        s->release(s->rowner, s->rref);
        s->release = NULL;
    } else {
        free(s->ext);
    }
    s->ext = NULL;
}

static void
free_output(struct rend_conn *c)
{
    for (uint32_t i = c->segpos; i < c->nseg; i++) {
        seg_release(&c->seg[i]);
    }
    c->nseg = c->segpos = c->segdone = 0;
    c->olen = 0;
    c->unsent = 0;
}

static void
conn_free(struct rend_conn *c)
{
    struct rend_worker *w = c->w;

    free_output(c);
    rend_vpipe_discard(c);
    free(c->seg);
    free(c->obuf);
    rbuf_account(c->rcap, 0);
    free(c->rbuf);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    w->nconns--;
    free(c);
}

void
rend_conn_close(struct rend_conn *c)
{
    struct rend_req *r, *next;

    if (c->closed) {
        return;
    }
    c->closed = 1;
    ev_io_stop(c->w->loop, &c->rio);
    ev_io_stop(c->w->loop, &c->wio);
    if (c->tls != NULL) {
        tls_detach(c); /* close_notify goes before the fd */
    }
    close(c->fd);
    c->fd = -1;
    __atomic_sub_fetch(&rend_curr_conns, 1, __ATOMIC_RELAXED);
    REND_LISTENER_CLOSED(c->listener);
    free_output(c);
    if (c->parked != NULL) {
        /* never started: nothing refers to it */
        c->parked = NULL;
    }
    /* Drop complete and never-started requests; pending ones are freed
     * when their ops finish (rend_conn_req_done). */
    for (r = c->qhead, c->qhead = c->qtail = NULL; r != NULL; r = next) {
        next = r->next;
        r->next = NULL;
        if (r->complete || r->kops_left == 0) {
            rend_req_free(r);
        } else {
            r->conn = c; /* stays; counted in npending */
            r->next = c->qhead;
            c->qhead = r;
        }
    }
}

/* Free c if it is closed and nothing refers to it any more.  Called last
 * by every entry point (event callbacks, completions); c must not be used
 * after it. */
static void
finish(struct rend_conn *c)
{
    if (c->closed && c->nstalled > 0 && !c->in_process) {
        rend_flow_pump(c); /* drops the keys it never issued */
    }
    if (c->closed && c->npending == 0 && !c->in_process) {
        conn_free(c);
    }
}

void
rend_conn_reap(struct rend_conn *c)
{
    rend_conn_close(c);
    finish(c);
}

/* ---- output ------------------------------------------------------ */

static inline int
seg_push(struct rend_conn *c, char *ext, uint32_t off, uint32_t len)
{
    if (c->nseg == c->segcap) {
        uint32_t ncap = c->segcap ? c->segcap * 2 : 16;
        struct rend_oseg *n = realloc(c->seg, ncap * sizeof(*n));
        if (n == NULL) {
            return -1;
        }
        c->seg = n;
        c->segcap = ncap;
    }
    c->seg[c->nseg].ext = ext;
    c->seg[c->nseg].off = off;
    c->seg[c->nseg].len = len;
    c->seg[c->nseg].release = NULL;
    c->nseg++;
    c->unsent += len;
    return 0;
}

char *
rend_conn_out_reserve(struct rend_conn *c, size_t n)
{
    if (c->olen + n > c->ocap) {
        size_t ncap = c->ocap ? c->ocap : OBUF_INIT;
        char *nb;
        while (ncap < c->olen + n) {
            ncap *= 2;
        }
        if (ncap > UINT32_MAX) {
            return NULL;
        }
        nb = realloc(c->obuf, ncap);
        if (nb == NULL) {
            return NULL;
        }
        c->obuf = nb;
        c->ocap = (uint32_t)ncap;
    }
    return c->obuf + c->olen;
}

void
rend_conn_out_commit(struct rend_conn *c, size_t used)
{
    struct rend_oseg *last = c->nseg > c->segpos ? &c->seg[c->nseg - 1] : NULL;

    if (used == 0) {
        return;
    }
    if (last != NULL && last->ext == NULL && last->off + last->len == c->olen) {
        last->len += (uint32_t)used;
        c->unsent += used;
    } else if (seg_push(c, NULL, c->olen, (uint32_t)used) != 0) {
        rend_conn_close(c);
        return;
    }
    c->olen += (uint32_t)used;
}

int
rend_conn_out(struct rend_conn *c, const void *data, size_t n)
{
    char *p;

    if (c->closed) {
        return -1;
    }
    p = rend_conn_out_reserve(c, n);
    if (p == NULL) {
        rend_conn_close(c);
        return -1;
    }
    memcpy(p, data, n);
    rend_conn_out_commit(c, n);
    return 0;
}

int
rend_conn_out_take(struct rend_conn *c, char *buf, size_t n)
{
    if (c->closed) {
        free(buf);
        return -1;
    }
    if (n <= SMALL_VALUE) {
        int rc = rend_conn_out(c, buf, n);
        free(buf);
        return rc;
    }
    if (seg_push(c, buf, 0, (uint32_t)n) != 0) {
        free(buf);
        rend_conn_close(c);
        return -1;
    }
    return 0;
}

int
rend_conn_out_value(struct rend_conn *c, struct rend_kop *k, size_t n)
{
    struct rend_oseg *s;

    if (k->vrelease == NULL) {
        int rc = rend_conn_out_take(c, k->value, n);

        k->value = NULL;
        k->nvalue = 0;
        return rc;
    }
    if (c->closed || n <= SMALL_VALUE) {
        int rc = c->closed ? -1 : rend_conn_out(c, k->value, n);

        rend_kop_value_drop(k);
        return rc;
    }
    if (seg_push(c, k->value, 0, (uint32_t)n) != 0) {
        rend_kop_value_drop(k);
        rend_conn_close(c);
        return -1;
    }
    /* the segment owns the lent bytes now */
    s = &c->seg[c->nseg - 1];
    s->release = k->vrelease;
    s->rowner = k->vowner;
    s->rref = k->vref;
    k->vrelease = NULL;
    k->value = NULL;
    k->nvalue = 0;
    return 0;
}

static void try_write_once(struct rend_conn *c);

/* Write what can be written; while everything goes out and a multi-key
 * request waits for budget, let it issue and stream more. */
static void
try_write(struct rend_conn *c)
{
    for (;;) {
        try_write_once(c);
        if (c->closed || c->unsent > 0 || c->nstalled == 0 || c->in_process
            || c->pumping) {
            return;
        }
        emit_ready(c);
        if (c->closed || c->unsent == 0) {
            return;
        }
    }
}

static void
try_write_once(struct rend_conn *c)
{
    struct iovec iov[IOV_BATCH];
    ssize_t n;

    while (!c->closed && c->segpos < c->nseg) {
        int cnt = 0;
        for (uint32_t i = c->segpos; i < c->nseg && cnt < IOV_BATCH; i++) {
            struct rend_oseg *s = &c->seg[i];
            char *base = s->ext ? s->ext : c->obuf + s->off;
            size_t skip = i == c->segpos ? c->segdone : 0;
            iov[cnt].iov_base = base + skip;
            iov[cnt].iov_len = s->len - skip;
            cnt++;
        }
        n = c->tls == NULL ? writev(c->fd, iov, cnt)
                           : rend_tls_writev(c->tls, iov, cnt);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (c->tls != NULL && c->tls->want == REND_TLS_WANT_READ) {
                    /* the session needs input first: retried when the
                     * socket is readable, not while it is writable */
                    if (c->write_armed) {
                        ev_io_stop(c->w->loop, &c->wio);
                        c->write_armed = 0;
                    }
                    ev_io_start(c->w->loop, &c->tls->hr);
                    return;
                }
                if (!c->write_armed) {
                    ev_io_start(c->w->loop, &c->wio);
                    c->write_armed = 1;
                }
                return;
            }
            rend_conn_close(c);
            return;
        }
        REND_STAT_ADD(&c->w->st, bytes_written, n);
        c->unsent -= (size_t)n;
        c->last_active = rend_now();
        while (n > 0) {
            struct rend_oseg *s = &c->seg[c->segpos];
            size_t left = s->len - c->segdone;
            if ((size_t)n >= left) {
                n -= (ssize_t)left;
                seg_release(s);
                c->segpos++;
                c->segdone = 0;
            } else {
                c->segdone += (uint32_t)n;
                n = 0;
            }
        }
    }
    if (c->closed) {
        return;
    }
    /* all written */
    c->nseg = c->segpos = c->segdone = 0;
    c->olen = 0;
    if (c->write_armed) {
        ev_io_stop(c->w->loop, &c->wio);
        c->write_armed = 0;
    }
    if (c->closing) {
        rend_conn_close(c);
        return;
    }
    if (c->read_paused) {
        c->read_paused = 0;
        ev_io_start(c->w->loop, &c->rio);
        if (c->tls != NULL) {
            /* input may wait inside the session, unannounced */
            ev_feed_event(c->w->loop, &c->rio, EV_READ);
        }
        process(c);
        if (!c->closed && c->unsent > 0) {
            try_write(c);
        }
    }
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rend_conn *c = w->data;

    try_write(c);
    if (!c->closed && c->nstalled > 0 && !c->in_process) {
        /* output drained: a multi-key request may issue more keys */
        rend_flow_progress(c);
        return;
    }
    finish(c);
}

/* ---- requests in order ---------------------------------------------- */

/* Format every complete request at the head of the queue. */
static void
emit_ready(struct rend_conn *c)
{
    struct rend_req *r;

again:
    /* A parked request may be complete already (a reply made by the
     * parser): it stays queued until process() starts it and clears
     * c->parked; writing and freeing it here left c->parked dangling. */
    while ((r = c->qhead) != NULL && r->complete && r != c->parked) {
        c->qhead = r->next;
        if (c->qhead == NULL) {
            c->qtail = NULL;
        }
        if (!c->closed) {
            if (c->proto == REND_PROTO_BINARY) {
                rend_bin_format(c, r);
            } else {
                rend_text_format(c, r);
            }
        }
        if (r->cmd == REND_CMD_QUIT) {
            c->closing = 1;
        }
        rend_req_free(r);
        c->nemitted++;
    }
    if (c->qhead != NULL && (c->nstalled > 0 || c->qhead->nkeys > 1)) {
        /* budget freed or a new head: issue more keys, stream values */
        rend_flow_pump(c);
        if (c->qhead != NULL && c->qhead->complete) {
            goto again;
        }
    }
    if (c->closing && !c->closed && c->unsent == 0 && c->npending == 0) {
        rend_conn_close(c);
    }
}

/* May `r` start now, given the requests still pending before it?  Reads
 * run alongside reads, and writes alongside writes (each handler applies
 * one connection's writes in the order they are issued), but a read never
 * overtakes a write or a write a read, and a barrier (flush_all, quit)
 * waits for everything. */
static int
may_start(struct rend_conn *c, struct rend_req *r)
{
    unsigned fl = rend_req_sched(r);

    if (c->npending == 0) {
        return 1;
    }
    if ((fl & REND_CMD_BARRIER) || c->npend_barrier > 0) {
        return 0;
    }
    /* The started, incomplete requests are the npending ones (r is not
     * started yet): all of them reads, or none of them. */
    return (fl & REND_CMD_READ) ? c->npend_read == c->npending
                                : c->npend_read == 0;
}

static void
enqueue(struct rend_conn *c, struct rend_req *r)
{
    r->next = NULL;
    if (c->qtail != NULL) {
        c->qtail->next = r;
    } else {
        c->qhead = r;
    }
    c->qtail = r;
}

static void
start(struct rend_conn *c, struct rend_req *r)
{
    /* Anything that may wait must not point into rbuf. */
    if ((c->qhead != r || rend_exec_may_pend(c, r)) && rend_req_own(r) != 0) {
        rend_req_fail(r, REND_ENOMEM);
        return;
    }
    rend_exec_start(c, r);
}

void
rend_conn_req_done(struct rend_conn *c, struct rend_req *r)
{
    c->npending--;
    if (r->sched & REND_CMD_BARRIER) {
        c->npend_barrier--;
    } else if (r->sched & REND_CMD_READ) {
        c->npend_read--;
    }
    if (c->closed) {
        /* unlink and free */
        struct rend_req **pp = &c->qhead;
        while (*pp != NULL && *pp != r) {
            pp = &(*pp)->next;
        }
        if (*pp == r) {
            *pp = r->next;
        }
        rend_req_free(r);
        finish(c);
        return;
    }
    if (c->in_process) {
        return; /* process() emits and writes when it returns */
    }
    emit_ready(c);
    if (c->parked != NULL || c->rpos < c->rlen || c->read_paused) {
        process(c);
    }
    if (!c->closed && c->unsent > 0 && !c->write_armed) {
        try_write(c);
    }
    finish(c);
}

/* Below these, a key op that finishes mid-request moves nothing: the
 * request's completion emits and writes (one write for a whole multi-get
 * of small values, not one per key). */
#define FLOW_HELD_MIN (256 * 1024)
#define FLOW_WRITE_MIN (256 * 1024)

void
rend_flow_progress(struct rend_conn *c)
{
    if (c->in_process || c->pumping) {
        return; /* the running entry point emits and writes */
    }
    if (c->nstalled == 0 && (c->closed || c->held < FLOW_HELD_MIN)) {
        return; /* nothing waits for this op */
    }
    if (!c->closed) {
        uint32_t emitted = c->nemitted;
        emit_ready(c);
        if (c->read_paused && rend_flow_may_parse(c)) {
            process(c);
        }
        /* A request may complete in here (the pump issues its last keys
         * and they fail at once, e.g. a backend marked down): its reply
         * must go out now, as no later event is due to write it. */
        if (!c->closed && c->unsent > 0 && !c->write_armed
            && (c->unsent >= FLOW_WRITE_MIN || c->nemitted != emitted)) {
            try_write(c);
        }
    }
    finish(c);
}

/* ---- input -------------------------------------------------------- */

static int
detect_proto(struct rend_conn *c)
{
    unsigned char b = (unsigned char)c->rbuf[c->rpos];

    c->proto = b == 0x80 ? REND_PROTO_BINARY : REND_PROTO_TEXT;
    c->proto_known = 1;
    return 0;
}

static void
compact(struct rend_conn *c)
{
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = 0;
    } else if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
}

static void
pause_input(struct rend_conn *c)
{
    if (!c->read_paused) {
        c->read_paused = 1;
        ev_io_stop(c->w->loop, &c->rio);
    }
}

/* Read again once neither reason to pause holds: output below the high
 * mark, and no parsed request waiting for earlier ones.  Every pause must
 * end here or in try_write; a pause nobody lifts leaves the connection
 * silent and unclosed (the client's EOF is never read). */
static void
resume_input(struct rend_conn *c)
{
    if (c->read_paused && !c->closed && !c->closing && c->parked == NULL
        && rend_flow_may_parse(c)) {
        c->read_paused = 0;
        ev_io_start(c->w->loop, &c->rio);
        if (c->tls != NULL) {
            /* input may wait inside the session, unannounced */
            ev_feed_event(c->w->loop, &c->rio, EV_READ);
        }
    }
}

static void
process(struct rend_conn *c)
{
    struct rend_worker *w = c->w;

    c->in_process = 1;
    if (c->parked != NULL) {
        struct rend_req *r = c->parked;
        if (!may_start(c, r)) {
            goto out;
        }
        c->parked = NULL;
        start(c, r);
        emit_ready(c);
    }
    while (!c->closed && !c->closing && c->rpos < c->rlen) {
        struct rend_req *r = NULL;
        int rc;

        if (c->swallow > 0) {
            uint64_t n = c->rlen - c->rpos;
            if (n > c->swallow) {
                n = c->swallow;
            }
            c->rpos += (uint32_t)n;
            c->swallow -= n;
            continue;
        }
        if (!rend_flow_may_parse(c)) {
            /* the client is not reading its replies (or has too much in
             * flight): stop reading */
            if (!c->read_paused) {
                pause_input(c);
                REND_STAT_INC(&w->st, conn_yields);
            }
            break;
        }
        if (!c->proto_known) {
            detect_proto(c);
        }
        rc = c->proto == REND_PROTO_BINARY ? rend_bin_parse(c, &r)
                                           : rend_text_parse(c, &r);
        if (rc < 0) {
            /* unrecoverable framing error: reply (if any) then close */
            if (r != NULL) {
                enqueue(c, r);
            }
            c->closing = 1;
            break;
        }
        if (rc == 0) {
            break; /* need more input */
        }
        c->rpos += (uint32_t)rc;
        if (r == NULL) {
            continue;
        }
        enqueue(c, r);
        if (!may_start(c, r)) {
            if (rend_req_own(r) != 0) {
                rend_req_fail(r, REND_ENOMEM);
            } else {
                c->parked = r;
                break;
            }
        } else {
            start(c, r);
        }
        emit_ready(c);
    }
out:
    emit_ready(c);
    c->in_process = 0;
    if (c->closed) {
        return;
    }
    compact(c);
    if ((c->rlen > 0 && !c->read_paused && c->parked == NULL)
        || c->swallow > 0) {
        if (c->partial_since == 0) {
            c->partial_since = rend_now(); /* read_timeout runs */
        }
    } else {
        c->partial_since = 0;
    }
    resume_input(c);
    /* Handlers' buffered ops are flushed once per loop iteration (the
     * worker's prepare watcher), so requests of many connections read in
     * one iteration share one backend write. */
}

static uint64_t
rbuf_limit(void)
{
    return (uint64_t)rend_settings.item_size_max + REND_LINE_MAX + 4096;
}

static int
grow_rbuf(struct rend_conn *c)
{
    uint64_t limit = rbuf_limit();
    uint64_t ncap;
    char *nb;

    if (c->rbuf == NULL) {
        c->rbuf = malloc(RBUF_INIT);
        if (c->rbuf == NULL) {
            return -1;
        }
        c->rcap = RBUF_INIT;
        return 0;
    }
    compact(c);
    if (c->rlen < c->rcap) {
        return 0;
    }
    ncap = (uint64_t)c->rcap * 2;
    if (ncap > limit) {
        ncap = limit;
    }
    if (ncap <= c->rcap) {
        return -1; /* a request bigger than anything we accept */
    }
    nb = realloc(c->rbuf, (size_t)ncap);
    if (nb == NULL) {
        return -1;
    }
    rbuf_account(c->rcap, (uint32_t)ncap);
    c->rbuf = nb;
    c->rcap = (uint32_t)ncap;
    return 0;
}

/* See rend_conn.h.  The old buffer goes to the caller unaccounted (as a
 * copy of its bytes would be); the connection keeps its capacity, so the
 * next large value is read in as few reads as before. */
int
rend_conn_rbuf_lend(struct rend_conn *c, const char *lo, const char *hi,
                    char **block)
{
    uintptr_t b = (uintptr_t)c->rbuf, l = (uintptr_t)lo, h = (uintptr_t)hi;
    uint32_t tail;
    size_t span;
    char *nb;

    if (c->rbuf == NULL || l < b || h > b + c->rpos || h <= l) {
        return -1; /* not (only) consumed bytes of this buffer */
    }
    span = (size_t)(h - l);
    tail = c->rlen - c->rpos;
    if ((size_t)tail * 2 > span || c->rcap > 2 * span + RBUF_INIT) {
        /* moving the pipelined tail would cost more than copying the
         * request, or the buffer is far larger than what it would keep
         * (a request pending holds at most about twice its bytes) */
        return -1;
    }
    nb = malloc(c->rcap);
    if (nb == NULL) {
        return -1;
    }
    memcpy(nb, c->rbuf + c->rpos, tail);
    *block = c->rbuf;
    c->rbuf = nb;
    c->rpos = 0;
    c->rlen = tail;
    return 0;
}

int
rend_conn_rbuf_admit(struct rend_conn *c, uint64_t total)
{
    uint64_t cap = c->rcap ? c->rcap : RBUF_INIT;
    uint64_t grow;

    if (total <= cap) {
        return 0;
    }
    while (cap < total) {
        cap *= 2;
    }
    if (cap > rbuf_limit()) {
        cap = rbuf_limit(); /* grow_rbuf's cap */
    }
    grow = cap - (c->rcap > RBUF_INIT ? c->rcap : RBUF_INIT);
    if (__atomic_load_n(&rend_conn_buffer_bytes, __ATOMIC_RELAXED) + grow
        <= rend_settings.conn_buffer_max || rend_settings.conn_buffer_max == 0) {
        /* Take the whole buffer now (the parser returns "need more" next,
         * so nothing points into it): what is admitted is counted at once,
         * and many connections admitted before any of them has grown
         * cannot together overshoot the cap (or be refused mid-value). */
        char *nb;
        if (cap > c->rcap && c->rbuf != NULL) {
            compact(c);
            nb = realloc(c->rbuf, (size_t)cap);
            if (nb == NULL) {
                REND_STAT_INC(&c->w->st, conn_buffer_refused);
                return -1;
            }
            rbuf_account(c->rcap, (uint32_t)cap);
            c->rbuf = nb;
            c->rcap = (uint32_t)cap;
        }
        return 0;
    }
    REND_STAT_INC(&c->w->st, conn_buffer_refused);
    return -1;
}

/* ---- TLS (rend_tls.h) ----------------------------------------------
 * A TLS connection keeps the plain path's watchers and adds two: hw, armed
 * when a read (the handshake, a session ticket) must wait for the socket
 * to take output, and hr, armed when a write must wait for input.  Bytes
 * already decrypted inside the session are not announced by the socket,
 * so a read that leaves some, and every resume of reading, queues one more
 * read event.  The handshake runs under read_timeout: partial_since is set
 * from the accept until it completes. */

static void on_tls_writable(struct ev_loop *loop, ev_io *w, int revents);
static void on_tls_readable(struct ev_loop *loop, ev_io *w, int revents);

static int
tls_attach(struct rend_conn *c, struct rend_tls_ctx *ctx)
{
    c->tls = rend_tls_new(ctx, c->fd);
    if (c->tls == NULL) {
        rend_log(REND_LOG_WARN, "tls: no memory for a session");
        return -1;
    }
    ev_io_init(&c->tls->hw, on_tls_writable, c->fd, EV_WRITE);
    ev_io_init(&c->tls->hr, on_tls_readable, c->fd, EV_READ);
    c->tls->hw.data = c;
    c->tls->hr.data = c;
    c->partial_since = c->last_active; /* handshake timeout */
    return 0;
}

static void
tls_detach(struct rend_conn *c)
{
    ev_io_stop(c->w->loop, &c->tls->hw);
    ev_io_stop(c->w->loop, &c->tls->hr);
    if (!c->tls->up) {
        REND_STAT_INC(&c->w->st, tls_handshake_failures);
        REND_LISTENER_TLS(c->listener, 0);
    }
    rend_tls_free(c->tls);
    c->tls = NULL;
}

static ssize_t
tls_read(struct rend_conn *c, char *buf, size_t n)
{
    struct rend_tls *t = c->tls;
    uint8_t was_up = t->up;
    ssize_t r = rend_tls_read(t, buf, n);
    int e = errno; /* the caller's, after the watcher calls below */

    if (!was_up && t->up) {
        REND_STAT_INC(&c->w->st, tls_handshakes);
        REND_LISTENER_TLS(c->listener, 1);
        c->last_active = rend_now();
        if (c->rlen == 0 && c->swallow == 0) {
            c->partial_since = 0; /* idle from now: idle_timeout's */
        }
    }
    if (ev_is_active(&t->hr)) {
        /* a write waited for input, which this read may have taken */
        ev_io_stop(c->w->loop, &t->hr);
        ev_feed_event(c->w->loop, &c->wio, EV_WRITE);
    }
    if (r > 0) {
        if (rend_tls_pending(t)) {
            ev_feed_event(c->w->loop, &c->rio, EV_READ);
        }
    } else if (r < 0 && errno == EAGAIN && t->want == REND_TLS_WANT_WRITE) {
        ev_io_start(c->w->loop, &t->hw);
    }
    errno = e;
    return r;
}

static void
on_tls_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rend_conn *c = w->data;

    ev_io_stop(loop, w);
    if (!c->read_paused) {
        on_read(loop, &c->rio, EV_READ); /* resuming reads retries it */
    }
}

static void
on_tls_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rend_conn *c = w->data;

    ev_io_stop(loop, w);
    on_write(loop, &c->wio, EV_WRITE);
}

static void
on_read(struct ev_loop *loop, ev_io *watcher, int revents)
{
    struct rend_conn *c = watcher->data;
    ssize_t n;

    if (c->parked != NULL && c->rbuf != NULL && c->rlen == c->rcap
        && c->rpos == 0) {
        /* A parsed request waits for earlier ones and the input buffer is
         * full: stop reading until it starts, so a slow backend cannot make
         * us buffer without bound.  process() resumes reading once the
         * parked request has started.  (Without a parked request, a full
         * buffer holds one incomplete request: grow it, up to the request
         * size limit, or nothing could ever move.) */
        pause_input(c);
        return;
    }
    if (c->piping > 0) {
        /* a set value goes from the socket into a pipe (rend_vpipe.h) */
        int rc = rend_vpipe_fill(c);
        if (rc < 0) {
            rend_conn_reap(c);
            return;
        }
        c->last_active = rend_now();
        if (rc == 0) {
            return;
        }
        /* all of it is in: read on (its "\r\n", the next requests) */
    }
    if (c->rbuf == NULL || c->rlen == c->rcap) {
        if (grow_rbuf(c) != 0) {
            rend_log(REND_LOG_INFO, "closing a connection whose request "
                     "exceeds the input limit");
            REND_STAT_INC(&c->w->st, protocol_errors);
            rend_conn_reap(c);
            return;
        }
    }
    if (c->tls == NULL) {
        size_t room = c->rcap - c->rlen;
        if (c->rpos == c->rlen && room > REND_VPIPE_PEEK
            && c->w->gen != NULL && c->listener < c->w->gen->nlisteners
            && c->w->gen->listeners[c->listener].routes.may_pipe) {
            /* a new request: read its start only, so that a large set's
             * value can still be spliced (rend_vpipe.h) */
            room = REND_VPIPE_PEEK;
        }
        n = read(c->fd, c->rbuf + c->rlen, room);
    } else {
        n = tls_read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
    }
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR
                      || errno == EWOULDBLOCK)) {
            return;
        }
        rend_conn_reap(c);
        return;
    }
    REND_STAT_ADD(&c->w->st, bytes_read, n);
    c->rlen += (uint32_t)n;
    c->last_active = rend_now();
    process(c);
    if (!c->closed && c->unsent > 0 && !c->write_armed) {
        try_write(c);
    }
    finish(c);
}

void
rend_conn_sweep(struct rend_conn *c, int64_t now)
{
    if (c->closed) {
        return;
    }
    if (rend_settings.read_timeout > 0 && c->partial_since != 0
        && now - c->partial_since >= rend_settings.read_timeout) {
        /* stopped mid-request (slowloris): free its buffer */
        rend_log(REND_LOG_INFO, "closing a connection whose request has "
                 "been half-received for %lld s",
                 (long long)(now - c->partial_since));
        REND_STAT_INC(&c->w->st, read_timeouts);
        rend_conn_reap(c);
        return;
    }
    if (rend_settings.idle_timeout > 0
        && now - c->last_active >= rend_settings.idle_timeout
        && (c->npending == 0 || c->unsent > 0)) {
        /* memcached's idle_timeout: nothing read or written for that long
         * (a client that does not read its replies is idle too) */
        REND_STAT_INC(&c->w->st, idle_kicks);
        rend_conn_reap(c);
        return;
    }
    if (c->npending > 0 || c->qhead != NULL
        || now - c->last_active < 2) {
        return;
    }
    if (c->rbuf != NULL && c->rpos == c->rlen) {
        rbuf_account(c->rcap, 0);
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = c->rpos = c->rlen = 0;
    }
    if (c->nseg == 0) {
        free(c->obuf);
        c->obuf = NULL;
        c->ocap = c->olen = 0;
        free(c->seg);
        c->seg = NULL;
        c->segcap = 0;
    }
}

const struct rend_listen_conf *
rend_conn_listen_conf(const struct rend_conn *c)
{
    const struct rend_gen *g = c->w != NULL ? c->w->gen : NULL;

    return g != NULL && c->listener < g->nlisteners
           ? &g->listeners[c->listener] : NULL;
}
