/*
 * rend_vpipe.c - set values spliced into pipes: see rend_vpipe.h.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "rend_cmd.h"
#include "rend_config.h"
#include "rend_conn.h"
#include "rend_plugin.h"
#include "rend_req.h"
#include "rend_route.h"
#include "rend_stats.h"
#include "rend_vpipe.h"
#include "rend_worker.h"

/* A pipe from the pool or a new one, and its capacity; 0, or -1 (none
 * to be had). */
static int
vpipe_get(struct rend_worker *w, int fd[2], int *cap)
{
    if (w->vpipes_out >= REND_VPIPE_MAX) {
        return -1;
    }
    if (w->nvpool > 0) {
        w->nvpool--;
        fd[0] = w->vpool[w->nvpool].fd[0];
        fd[1] = w->vpool[w->nvpool].fd[1];
        *cap = w->vpool[w->nvpool].cap;
    } else {
        if (pipe2(fd, O_NONBLOCK | O_CLOEXEC) != 0) {
            return -1;
        }
        /* may fail past fs.pipe-max-size or the user's pipe pages: the
         * size it got is what counts */
        (void)fcntl(fd[1], F_SETPIPE_SZ, REND_VPIPE_SIZE);
        *cap = fcntl(fd[1], F_GETPIPE_SZ);
    }
    w->vpipes_out++;
    return 0;
}

void
rend_vpipe_put(struct rend_worker *w, int fd[2], int fcap)
{
    int left = 1;

    w->vpipes_out--;
    if (ioctl(fd[0], FIONREAD, &left) == 0 && left == 0
        && w->nvpool < REND_VPIPE_POOL) {
        w->vpool[w->nvpool].fd[0] = fd[0];
        w->vpool[w->nvpool].fd[1] = fd[1];
        w->vpool[w->nvpool].cap = fcap;
        w->nvpool++;
    } else {
        close(fd[0]);
        close(fd[1]);
    }
    fd[0] = fd[1] = -1;
}

void
rend_vpipe_pool_free(struct rend_worker *w)
{
    while (w->nvpool > 0) {
        w->nvpool--;
        close(w->vpool[w->nvpool].fd[0]);
        close(w->vpool[w->nvpool].fd[1]);
    }
}

/* The set goes to one handler that takes piped values. */
static int
route_takes_pipe(const struct rend_conn *c, int cmd, const char *key,
                 uint32_t nkey, uint32_t nvalue)
{
    const struct rend_gen *g = c->w->gen;
    const struct rend_route *rt;

    if (g == NULL || c->listener >= g->nlisteners
        || !g->listeners[c->listener].routes.may_pipe) {
        return 0;
    }
    rt = rend_routes_find(&g->listeners[c->listener].routes, cmd, key, nkey);
    return rend_route_takes_pipe(rt, key, nkey, nvalue);
}

int
rend_vpipe_begin(struct rend_conn *c, int cmd, const char *key,
                 uint32_t nkey, uint32_t nvalue, uint32_t left)
{
    int fd[2], cap;

    if (cmd != REND_CMD_SET || left < REND_VPIPE_MIN || c->tls != NULL
        || c->has_vpipe || c->vpipe_skip
        || !route_takes_pipe(c, cmd, key, nkey, nvalue)
        || vpipe_get(c->w, fd, &cap) != 0) {
        return 0;
    }
    if (cap < 0 || (uint32_t)cap < left) {
        rend_vpipe_put(c->w, fd, cap); /* too small to hold it: read it */
        return 0;
    }
    c->vpipe[0] = fd[0];
    c->vpipe[1] = fd[1];
    c->vpipe_cap = cap;
    c->has_vpipe = 1;
    c->piping = left;
    c->piped = 0;
    return 1;
}

/* Read exactly n bytes of pipe fd into buf: all of them are in the pipe
 * already, so no read waits.  0, or -1. */
static int
pipe_read_all(int fd, char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* The pipe ran out of slots before the value was in (splice fills one
 * pipe buffer per socket fragment: a value sent in small segments can
 * fill 256 slots with far fewer bytes than the pipe's size).  Take the
 * piped bytes back into the input buffer, right after the value's start,
 * and read the rest as before.  0, or -1 (no buffer for it). */
static int
vpipe_unwind(struct rend_conn *c)
{
    uint64_t total = (uint64_t)(c->rlen - c->rpos) + c->piped + c->piping + 2;

    if (rend_conn_rbuf_admit(c, total) != 0
        || (uint64_t)c->rcap - c->rlen < c->piped) {
        return -1;
    }
    if (pipe_read_all(c->vpipe[0], c->rbuf + c->rlen, c->piped) != 0) {
        return -1;
    }
    c->rlen += c->piped;
    c->piped = 0;
    rend_vpipe_put(c->w, c->vpipe, c->vpipe_cap); /* empty: pooled */
    c->has_vpipe = 0;
    c->piping = 0;
    c->vpipe_skip = 1; /* this request is read, not piped */
    return 0;
}

int
rend_vpipe_fill(struct rend_conn *c)
{
    ssize_t n;

    /* one splice per readable event, as on_read does one read */
    do {
        n = splice(c->fd, NULL, c->vpipe[1], NULL, c->piping,
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int queued = 0;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return -1;
        }
        if (ioctl(c->fd, FIONREAD, &queued) == 0 && queued > 0) {
            /* input waits, so the pipe is what is full */
            return vpipe_unwind(c) == 0 ? 1 : -1;
        }
        return 0;
    }
    if (n == 0) {
        return -1;
    }
    REND_STAT_ADD(&c->w->st, bytes_read, n);
    c->piping -= (uint32_t)n;
    c->piped += (uint32_t)n;
    return c->piping == 0;
}

void
rend_vpipe_hand(struct rend_conn *c, struct rend_req *r)
{
    r->vpipe[0] = c->vpipe[0];
    r->vpipe[1] = c->vpipe[1];
    r->vpipe_cap = c->vpipe_cap;
    r->npipe = c->piped;
    r->has_vpipe = 1;
    c->has_vpipe = 0;
    c->piped = 0;
    REND_STAT_INC(&c->w->st, set_values_spliced);
}

void
rend_vpipe_discard(struct rend_conn *c)
{
    if (c->has_vpipe) {
        rend_vpipe_put(c->w, c->vpipe, c->vpipe_cap); /* closed unless empty */
        c->has_vpipe = 0;
    }
    c->piping = c->piped = 0;
}

int
rend_req_unpipe(struct rend_req *r)
{
    size_t inmem = (size_t)r->nvalue - r->npipe;
    char *buf;

    if (r->npipe == 0) {
        return 0;
    }
    buf = malloc(r->nvalue);
    if (buf == NULL) {
        return -1;
    }
    memcpy(buf, r->value, inmem);
    if (pipe_read_all(r->vpipe[0], buf + inmem, r->npipe) != 0) {
        free(buf);
        return -1;
    }
    free(r->vmem);
    r->vmem = buf;
    r->value = buf;
    r->npipe = 0;
    r->has_vpipe = 0;
    rend_vpipe_put(r->conn->w, r->vpipe, r->vpipe_cap);
    return 0;
}
