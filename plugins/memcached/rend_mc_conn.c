/*
 * rend_mc_conn.c - per-worker connections to the memcached servers.
 *
 * Every request is queued on one connection (FIFO) and its command text
 * appended to that connection's output buffer; the buffers of all dirty
 * connections are written from an ev_prepare watcher (and from the flush
 * hook), so the requests of all clients of a worker go out together.
 * Replies come back in order and are matched to the FIFO head; the O<n>
 * opaque is checked when the reply carries one.
 *
 * Grouped gets (rend_mc_conn_push_get): consecutive plain gets on one
 * connection share one `get k1 k2 ...` (or `gets`) line; its replies are
 * VALUE blocks for the hits, in key order, then END.  The parser matches
 * each VALUE's key to the head of the FIFO: the keys it skips, and those
 * still queued at END, are misses.  A failure line (SERVER_ERROR, ...)
 * in place of the rest of a line answers every key of it still queued;
 * a connection failure fails them as any request.
 *
 * Failures: a connection error or a request older than timeout_ms resets
 * the connection and fails all its requests.  fail_limit failures in a row
 * mark the server down: requests then fail at once with REND_EDOWN while a
 * probe reconnects with exponential backoff; a probe that connects brings
 * the server back.  Everything here runs on the owning worker thread.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rend_mc.h"

#define READ_BUF 262144   /* input buffer size: one read takes a burst */
#define READ_MIN 16384    /* free room below which the buffer grows */
#define MAX_LINE 65536
#define FREE_REQS_MAX 1024

static void conn_drop(struct rend_mc_conn *c, int err, int count);
static void conn_write(struct rend_mc_conn *c);
static void wio_cb(struct ev_loop *loop, ev_io *w, int revents);
static void rio_cb(struct ev_loop *loop, ev_io *w, int revents);

static void
stat_add(uint64_t *p, uint64_t n)
{
    __atomic_add_fetch(p, n, __ATOMIC_RELAXED);
}

static void
stat_sadd(int64_t *p, int64_t n)
{
    __atomic_add_fetch(p, n, __ATOMIC_RELAXED);
}

/* Publishes s's request count and queue depth to the shared counters:
 * once per batch (flush, read event, reset), not once per request. */
static void
srv_publish(struct rend_mc_srv *s)
{
    if (s->nreq_unpub != 0) {
        stat_add(&s->conf->requests, s->nreq_unpub);
        s->nreq_unpub = 0;
    }
    if (s->depth != s->depth_pub) {
        stat_sadd(&s->conf->queued, s->depth - s->depth_pub);
        s->depth_pub = s->depth;
    }
}

static struct rend_mc_req *
req_alloc(struct rend_mc_thr *t)
{
    struct rend_mc_req *r = t->free_reqs;

    if (r != NULL) {
        t->free_reqs = r->next;
        t->nfree_reqs--;
        return r;
    }
    return malloc(sizeof(*r));
}

static void
req_free(struct rend_mc_thr *t, struct rend_mc_req *r)
{
    if (t->nfree_reqs >= FREE_REQS_MAX) {
        free(r);
        return;
    }
    r->next = t->free_reqs;
    t->free_reqs = r;
    t->nfree_reqs++;
}

static void
conn_close(struct rend_mc_conn *c)
{
    struct ev_loop *loop = c->srv->thr->loop;

    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    ev_timer_stop(loop, &c->tmo);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->state = REND_MC_CLOSED;
    c->out.off = c->out.len = 0;
    rend_mc_in_reset(c); /* lent values keep their bytes */
    c->ext.head = c->ext.n = 0; /* spliced pieces: forgotten (chunked) */
    c->probe = 0;
    c->gopen = 0;
    c->gend = 0;
}

/* Ends the grouped get line open at the end of c->out (its CRLF has room:
 * rend_mc_conn_push_get reserved it). */
static inline void
group_close(struct rend_mc_conn *c)
{
    if (c->gopen) {
        char *w = c->out.data + c->out.len;
        w[0] = '\r';
        w[1] = '\n';
        c->out.len += 2;
        c->tail->glast = 1;
        c->gopen = 0;
    }
}

static void
retry_start(struct rend_mc_srv *s)
{
    ev_timer_stop(s->thr->loop, &s->retry);
    ev_timer_set(&s->retry, s->backoff, 0.);
    ev_timer_start(s->thr->loop, &s->retry);
}

static void
srv_mark_down(struct rend_mc_srv *s)
{
    struct rend_mc_inst *in = s->thr->inst;

    s->down = 1;
    s->backoff = in->retry_min;
    stat_sadd(&s->conf->down, 1);
    in->host->log(REND_LOG_WARN, in->name,
                  "server %s marked down after %u failures",
                  s->conf->name, s->fails);
    for (unsigned i = 0; i < s->nconns; i++) {
        if (s->conns[i].state != REND_MC_CLOSED || s->conns[i].head) {
            conn_drop(&s->conns[i], REND_EDOWN, 0);
        }
    }
    retry_start(s);
}

static void
srv_failed(struct rend_mc_srv *s, int err)
{
    struct rend_mc_inst *in = s->thr->inst;

    s->fails++;
    stat_add(&s->conf->errors, 1);
    if (err == REND_ETIMEDOUT) {
        stat_add(&s->conf->timeouts, 1);
    }
    if (s->down) {
        s->backoff = fmin(s->backoff * 2, in->retry_max);
        retry_start(s);
    } else if (s->fails >= in->fail_limit) {
        srv_mark_down(s);
    }
}

static void
srv_up(struct rend_mc_srv *s)
{
    struct rend_mc_inst *in = s->thr->inst;

    if (!s->down) {
        return;
    }
    s->down = 0;
    stat_sadd(&s->conf->down, -1);
    ev_timer_stop(s->thr->loop, &s->retry);
    /* One more failure marks it down again until a reply succeeds. */
    s->fails = in->fail_limit > 0 ? in->fail_limit - 1 : 0;
    in->host->log(REND_LOG_INFO, in->name, "server %s is back",
                  s->conf->name);
}

/* Closes c and fails all of its requests with err; count = a failure of
 * the server.  Deferred while c's reply loop runs. */
static void
conn_drop(struct rend_mc_conn *c, int err, int count)
{
    struct rend_mc_thr *t = c->srv->thr;
    struct rend_mc_req *r, *list;

    if (c->parsing) {
        if (c->deferred_err == 0) {
            c->deferred_err = err;
        }
        return;
    }
    list = c->head;
    c->head = c->tail = NULL;
    c->srv->depth -= c->depth;
    c->depth = 0;
    srv_publish(c->srv);
    c->deferred_err = 0;
    conn_close(c);
    if (count) {
        srv_failed(c->srv, err);
    }
    while ((r = list) != NULL) {
        list = r->next;
        r->cb(r->ud, err, NULL);
        req_free(t, r);
    }
}

static void
arm_timeout(struct rend_mc_conn *c)
{
    struct rend_mc_thr *t = c->srv->thr;
    double left;

    ev_timer_stop(t->loop, &c->tmo);
    if (c->head == NULL) {
        return;
    }
    left = c->head->sent + t->inst->timeout - ev_now(t->loop);
    ev_timer_set(&c->tmo, left > 0.0005 ? left : 0.0005, 0.);
    ev_timer_start(t->loop, &c->tmo);
}

static void
tmo_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rend_mc_conn *c = w->data;
    struct rend_mc_inst *in = c->srv->thr->inst;

    if (c->state == REND_MC_CONNECTING) {
        /* After a loop iteration longer than the connect timeout (a busy
         * worker) this timer runs before the write watcher: a connect
         * that has completed (or failed) by now is not a timeout. */
        struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
        if (poll(&pfd, 1, 0) == 1) {
            wio_cb(loop, &c->wio, EV_WRITE);
            return;
        }
        in->host->log(REND_LOG_WARN, in->name, "connect to %s timed out",
                      c->srv->conf->name);
        conn_drop(c, REND_ETIMEDOUT, 1);
        return;
    }
    if (c->head == NULL) {
        return;
    }
    if (ev_now(loop) - c->head->sent >= in->timeout - 0.0005
        && c->state == REND_MC_CONNECTED && !c->parsing) {
        /* After a long loop iteration (a busy or descheduled worker) this
         * timer runs before the read watcher: take the replies already
         * waiting in the socket first, and time out only a request that
         * is still unanswered. */
        const struct rend_mc_req *h = c->head;
        for (int i = 0; i < 64 && c->head == h && c->state == REND_MC_CONNECTED;
             i++) {
            unsigned depth = c->depth;
            size_t len = c->in.len;
            rio_cb(loop, &c->rio, EV_READ);
            if (c->depth == depth && c->in.len == len) {
                break; /* nothing more has arrived */
            }
        }
        if (c->state != REND_MC_CONNECTED) {
            return; /* the reads failed the connection */
        }
        if (c->head != h) {
            if (c->head != NULL) {
                arm_timeout(c);
            }
            return;
        }
    }
    if (ev_now(loop) - c->head->sent >= in->timeout - 0.0005) {
        in->host->log(REND_LOG_WARN, in->name,
                      "request to %s timed out; resetting connection",
                      c->srv->conf->name);
        conn_drop(c, REND_ETIMEDOUT, 1);
        return;
    }
    arm_timeout(c);
}

static void
connected(struct rend_mc_conn *c)
{
    struct rend_mc_thr *t = c->srv->thr;

    c->state = REND_MC_CONNECTED;
    ev_timer_stop(t->loop, &c->tmo);
    ev_io_start(t->loop, &c->rio);
    if (c->probe) {
        c->probe = 0;
        srv_up(c->srv);
    }
    if (c->ever_connected) {
        stat_add(&c->srv->conf->reconnects, 1);
    }
    c->ever_connected = 1;
    arm_timeout(c);
    if (c->out.len > c->out.off || c->ext.n > 0) {
        conn_write(c);
    }
}

/* Starts a non-blocking connect.  0, or a REND_E* status. */
static int
conn_open(struct rend_mc_conn *c)
{
    struct rend_mc_server_conf *sc = c->srv->conf;
    struct rend_mc_thr *t = c->srv->thr;
    int fd, one = 1;

    fd = socket(sc->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        return REND_EIO;
    }
    if (sc->addr.ss_family != AF_UNIX) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (t->inst->chunked && sc->addr.ss_family == AF_UNIX) {
        /* several large values per batch fit in one write (capped by the
         * kernel's wmem_max; a failure keeps the default).  Not on TCP,
         * whose buffer autotuning a fixed size would switch off. */
        int sndbuf = 1 << 20;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    }
    c->fd = fd;
    ev_io_set(&c->rio, fd, EV_READ);
    ev_io_set(&c->wio, fd, EV_WRITE);
    if (connect(fd, (struct sockaddr *)&sc->addr, sc->addrlen) == 0) {
        connected(c);
        return 0;
    }
    if (errno != EINPROGRESS && errno != EAGAIN) {
        close(fd);
        c->fd = -1;
        return REND_EIO;
    }
    c->state = REND_MC_CONNECTING;
    ev_io_start(t->loop, &c->wio);
    ev_timer_set(&c->tmo, t->inst->connect_timeout, 0.);
    ev_timer_start(t->loop, &c->tmo);
    return 0;
}

static void
conn_write(struct rend_mc_conn *c)
{
    struct ev_loop *loop = c->srv->thr->loop;

    group_close(c);
    if (c->ext.n > 0) {
        /* chunked mode's spliced payloads (rend_mc_splice.c) */
        int rc = rend_mc_conn_write_ext(c);
        if (rc < 0) {
            conn_drop(c, REND_EIO, 1);
        } else if (rc > 0) {
            ev_io_start(loop, &c->wio);
        } else {
            ev_io_stop(loop, &c->wio);
        }
        return;
    }
    while (c->out.len > c->out.off) {
        ssize_t n = write(c->fd, c->out.data + c->out.off,
                          c->out.len - c->out.off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_start(loop, &c->wio);
                return;
            }
            conn_drop(c, REND_EIO, 1);
            return;
        }
        c->out.off += (size_t)n;
    }
    c->out.off = c->out.len = 0;
    ev_io_stop(loop, &c->wio);
}

static void
wio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rend_mc_conn *c = w->data;

    if (c->state == REND_MC_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0
            || err != 0) {
            conn_drop(c, REND_EIO, 1);
            return;
        }
        ev_io_stop(loop, &c->wio);
        connected(c);
        return;
    }
    conn_write(c);
}

/* Reply kind from the first bytes of a line; -1 when unknown. */
static int
kind_of(const char *p, size_t n)
{
    if (n >= 2 && (n == 2 || p[2] == ' ')) {
        switch (p[0] << 8 | p[1]) {
        case 'H' << 8 | 'D': return REND_MC_R_HD;
        case 'V' << 8 | 'A': return REND_MC_R_VA;
        case 'E' << 8 | 'N': return REND_MC_R_EN;
        case 'N' << 8 | 'F': return REND_MC_R_NF;
        case 'N' << 8 | 'S': return REND_MC_R_NS;
        case 'E' << 8 | 'X': return REND_MC_R_EX;
        case 'M' << 8 | 'N': return REND_MC_R_MN;
        case 'O' << 8 | 'K': return REND_MC_R_OK;
        default: break;
        }
    }
    if (n >= 12 && !memcmp(p, "CLIENT_ERROR", 12)) return REND_MC_R_CLIENT_ERROR;
    if (n >= 12 && !memcmp(p, "SERVER_ERROR", 12)) return REND_MC_R_SERVER_ERROR;
    if (n >= 5 && !memcmp(p, "ERROR", 5)) return REND_MC_R_ERROR;
    return -1;
}

/* Parses the flag tokens of a meta reply line from p to end (the flags
 * this plugin asks for: f, t, c, O; others are skipped).  0 or -1. */
static int
parse_flags(struct rend_mc_reply *r, const char *p, const char *end)
{
    while (p < end) {
        const char *stop;
        uint64_t v;
        char f;
        int neg = 0;

        if (*p == ' ') {
            p++;
            continue;
        }
        f = *p++;
        if (f != 'f' && f != 't' && f != 'c' && f != 'O') {
            while (p < end && *p != ' ') {
                p++;
            }
            continue;
        }
        if (f == 't' && p < end && *p == '-') {
            neg = 1;
            p++;
        }
        stop = rend_mc_get_u64(p, end, &v);
        if (stop == NULL || (stop < end && *stop != ' ')) {
            return -1;
        }
        p = stop;
        switch (f) {
        case 'f':
            r->flags = (uint32_t)v;
            r->has_flags = 1;
            break;
        case 't':
            r->ttl = neg ? -(int64_t)v : (int64_t)v;
            r->has_ttl = 1;
            break;
        case 'c':
            r->cas = v;
            r->has_cas = 1;
            break;
        default:
            r->opaque = (uint32_t)v;
            r->has_opaque = 1;
            break;
        }
    }
    return 0;
}

/* The reply line at start (avail bytes there): 1 with its length with the
 * newline (*linelen) and without CR LF (*nline), 0 when it is not all in
 * yet, -1 when it is longer than any reply line may be. */
static inline int
next_line(const char *start, size_t avail, size_t *linelen, size_t *nline)
{
    const char *nl = memchr(start, '\n', avail);

    if (nl == NULL) {
        return avail > MAX_LINE ? -1 : 0;
    }
    *linelen = (size_t)(nl - start) + 1;
    *nline = *linelen - 1;
    if (*nline > 0 && start[*nline - 1] == '\r') {
        (*nline)--;
    }
    return 1;
}

/* One reply from c->in: 1 = parsed into r (bytes consumed), 0 = need more
 * input, -1 = protocol error. */
static int
parse_reply(struct rend_mc_conn *c, struct rend_mc_reply *r)
{
    struct rend_mc_buf *in = &c->in;
    char *start = in->data + in->off;
    size_t avail = in->len - in->off, linelen, nline;
    const char *p, *end;
    int got = next_line(start, avail, &linelen, &nline);

    if (got <= 0) {
        return got;
    }
    r->kind = kind_of(start, nline);
    if (r->kind < 0) {
        return -1;
    }
    r->value = NULL;
    r->nvalue = 0;
    r->has_flags = r->has_ttl = r->has_cas = r->has_opaque = 0;
    r->flags = 0;
    r->ttl = 0;
    r->cas = 0;
    r->opaque = 0;
    r->line = start;
    r->nline = nline;
    r->conn = c;
    end = start + nline;
    p = start + 2;
    if (r->kind == REND_MC_R_VA) {
        uint64_t n;
        const char *stop = rend_mc_get_u64(start + 3, end, &n);
        if (stop == NULL || n > UINT32_MAX) {
            return -1;
        }
        if (avail < linelen + n + 2) {
            if (rend_mc_in_reserve(c, linelen + n + 2 - avail) != 0) {
                return -1;
            }
            return 0;
        }
        r->value = start + linelen;
        r->nvalue = (uint32_t)n;
        p = stop;
        linelen += n + 2;
    }
    if (r->kind <= REND_MC_R_MN && parse_flags(r, p, end) != 0) {
        return -1;
    }
    in->off += linelen;
    return 1;
}

static void
dispatch(struct rend_mc_conn *c, const struct rend_mc_reply *r)
{
    struct rend_mc_thr *t = c->srv->thr;
    struct rend_mc_req *q = c->head;

    if (q == NULL) {
        conn_drop(c, REND_EIO, 1);
        return;
    }
    if (q->multi && r->kind != REND_MC_R_MN) {
        q->sent = ev_now(t->loop);
        q->cb(q->ud, 0, r);
        return;
    }
    if (!q->multi && r->has_opaque && r->opaque != q->opaque) {
        t->inst->host->log(REND_LOG_ERR, t->inst->name,
                           "reply out of order from %s", c->srv->conf->name);
        conn_drop(c, REND_EIO, 1);
        return;
    }
    c->head = q->next;
    if (c->head == NULL) {
        c->tail = NULL;
    }
    c->depth--;
    c->srv->depth--;
    if (r->kind != REND_MC_R_SERVER_ERROR && r->kind != REND_MC_R_ERROR) {
        c->srv->fails = 0;
        if (c->srv->down == 0) {
            c->srv->backoff = t->inst->retry_min;
        }
    }
    q->cb(q->ud, 0, r);
    req_free(t, q);
}

/* Answers the grouped keys at the head of the FIFO up to the end of
 * their line (glast) with r: the misses at END, a failure line.  -1 when
 * the head is not a grouped key (out of step). */
static int
group_answer_rest(struct rend_mc_conn *c, const struct rend_mc_reply *r)
{
    for (;;) {
        struct rend_mc_req *q = c->head;
        int last;
        if (q == NULL || !q->grp) {
            return -1;
        }
        last = q->glast;
        dispatch(c, r);
        if (last) {
            return 0;
        }
    }
}

/* One reply of a grouped get line from c->in (the FIFO head is a grouped
 * key, or c->gend): a VALUE block, END or a failure line.  1 = consumed
 * and answered, 0 = need more input, -1 = protocol error. */
static int
parse_group(struct rend_mc_conn *c)
{
    struct rend_mc_buf *in = &c->in;
    char *start = in->data + in->off;
    size_t avail = in->len - in->off, linelen, nline;
    const char *end, *k, *ke, *p;
    struct rend_mc_req *q;
    struct rend_mc_reply r;
    uint64_t flags, n, cas = 0;
    int has_cas = 0;
    int got = next_line(start, avail, &linelen, &nline);

    if (got <= 0) {
        return got;
    }
    end = start + nline;
    if (nline < 6 || memcmp(start, "VALUE ", 6) != 0) {
        int kind = nline == 3 && memcmp(start, "END", 3) == 0
                       ? REND_MC_R_EN : kind_of(start, nline);
        if (kind == REND_MC_R_EN) {
            in->off += linelen;
            if (c->gend) {
                c->gend = 0; /* the line's last key had its VALUE */
                return 1;
            }
        } else if (kind >= REND_MC_R_CLIENT_ERROR && !c->gend) {
            /* the rest of the line is not answered: fail its keys */
            in->off += linelen;
        } else {
            return -1;
        }
        memset(&r, 0, sizeof(r));
        r.kind = kind;
        r.line = start;
        r.nline = nline;
        r.conn = c;
        return group_answer_rest(c, &r) == 0 ? 1 : -1;
    }
    if (c->gend) {
        return -1; /* a VALUE after the line's last key */
    }
    /* VALUE <key> <flags> <bytes>[ <cas>]: the key is most often the
     * head's (a hit in order), tried first without looking for its end */
    k = start + 6;
    q = c->head;
    if (q != NULL && q->grp && (size_t)(end - k) > q->gnkey
        && k[q->gnkey] == ' ' && memcmp(k, q->gkey, q->gnkey) == 0) {
        ke = k + q->gnkey;
    } else {
        q = NULL; /* misses first: matched below */
        ke = memchr(k, ' ', (size_t)(end - k));
        if (ke == NULL || ke == k) {
            return -1;
        }
    }
    p = rend_mc_get_u64(ke + 1, end, &flags);
    if (p == NULL || p >= end || *p != ' ' || flags > UINT32_MAX) {
        return -1;
    }
    p = rend_mc_get_u64(p + 1, end, &n);
    if (p == NULL || n > UINT32_MAX) {
        return -1;
    }
    if (p < end) {
        if (*p != ' ' || (p = rend_mc_get_u64(p + 1, end, &cas)) != end) {
            return -1;
        }
        has_cas = 1;
    }
    if (avail < linelen + n + 2) {
        if (rend_mc_in_reserve(c, linelen + n + 2 - avail) != 0) {
            return -1;
        }
        return 0;
    }
    if (start[linelen + n] != '\r' || start[linelen + n + 1] != '\n') {
        return -1;
    }
    in->off += linelen + n + 2;
    /* keys before this one got nothing: misses */
    while (q == NULL) {
        q = c->head;
        if (q == NULL || !q->grp) {
            return -1;
        }
        if (q->gnkey == (size_t)(ke - k) && memcmp(q->gkey, k, q->gnkey) == 0) {
            break;
        }
        if (q->glast) {
            return -1; /* not a key of this line */
        }
        memset(&r, 0, sizeof(r));
        r.kind = REND_MC_R_EN;
        r.conn = c;
        dispatch(c, &r);
        q = NULL;
    }
    r.kind = REND_MC_R_VA;
    r.value = start + linelen;
    r.nvalue = (uint32_t)n;
    r.has_flags = 1;
    r.has_ttl = 0;
    r.has_cas = has_cas;
    r.has_opaque = 0;
    r.flags = (uint32_t)flags;
    r.ttl = 0;
    r.cas = cas;
    r.opaque = 0;
    r.line = start;
    r.nline = nline;
    r.conn = c;
    if (q->glast) {
        c->gend = 1;
    }
    dispatch(c, &r);
    return 1;
}

/* Answers the relayed get line at the head of the FIFO with r (its END
 * or a failure line). */
static void
relay_answer(struct rend_mc_conn *c, int kind, const char *line,
             size_t nline, const char *value, size_t nvalue)
{
    struct rend_mc_req *q = c->head;
    struct rend_mc_reply r;

    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.line = line;
    r.nline = nline;
    r.conn = c;
    r.value = value;
    r.nvalue = (uint32_t)nvalue;
    r.nblocks = q->rhits;
    r.dropped = q->rdrop;
    dispatch(c, &r);
}

/* The reply of the relayed get line at the head of the FIFO: VALUE blocks
 * up to END, left in c->in (checked as they come, rscan bytes so far) so
 * that END hands them over in one piece.  Past REND_MC_RELAY_MAX the
 * blocks are consumed and skipped instead.  1 = answered, 0 = need more
 * input, -1 = protocol error. */
static int
parse_relay(struct rend_mc_conn *c)
{
    struct rend_mc_buf *in = &c->in;
    struct rend_mc_req *q = c->head;

    for (;;) {
        char *start = in->data + in->off + q->rscan;
        size_t avail = in->len - in->off - q->rscan, linelen, nline, need;
        const char *p, *b, *end;
        uint64_t n;
        int got;

        if (q->rskip > 0) { /* the rest of a skipped value */
            size_t d = avail < q->rskip ? avail : q->rskip;
            in->off += d;
            q->rskip -= d;
            if (q->rskip > 0) {
                return 0;
            }
            continue;
        }
        got = next_line(start, avail, &linelen, &nline);
        if (got <= 0) {
            return got;
        }
        end = start + nline;
        if (nline == 3 && memcmp(start, "END", 3) == 0) {
            const char *v = q->rdrop ? NULL : in->data + in->off;
            size_t nv = q->rdrop ? 0 : q->rscan;
            in->off += q->rscan + linelen;
            relay_answer(c, REND_MC_R_EN, start, nline, v, nv);
            return 1;
        }
        if (nline < 6 || memcmp(start, "VALUE ", 6) != 0) {
            int kind = kind_of(start, nline);
            if (kind < REND_MC_R_CLIENT_ERROR) {
                return -1;
            }
            in->off += q->rscan + linelen;
            relay_answer(c, kind, start, nline, NULL, 0);
            return 1;
        }
        /* VALUE <key> <flags> <bytes>[ <cas>]: the blocks go to the
         * client as they are, so only <bytes> is read, from the end (the
         * last token, or the one before the cas of a `gets`) */
        p = end;
        if (q->rcas) {
            while (p > start + 6 && p[-1] != ' ') {
                p--;
            }
            p--;
        }
        b = p;
        while (b > start + 6 && b[-1] != ' ') {
            b--;
        }
        if (b - 1 <= start + 6 || p <= b
            || rend_mc_get_u64(b, p, &n) != p || n > UINT32_MAX
            || memchr(start + 6, ' ', (size_t)(b - 1 - (start + 6))) == NULL) {
            return -1;
        }
        need = linelen + n + 2;
        if (!q->rdrop && q->rscan + need > REND_MC_RELAY_MAX) {
            q->rdrop = 1; /* too large to keep: skip it all */
            in->off += q->rscan;
            q->rscan = 0;
        }
        if (q->rdrop) {
            in->off += linelen;
            q->rskip = n + 2;
            continue;
        }
        if (avail < need) {
            return rend_mc_in_reserve(c, need - avail) == 0 ? 0 : -1;
        }
        if (start[linelen + n] != '\r' || start[linelen + n + 1] != '\n') {
            return -1;
        }
        q->rscan += need;
        q->rhits++;
    }
}

static void
rio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rend_mc_conn *c = w->data;
    struct rend_mc_reply r;
    ssize_t n;
    int rc;

    if (rend_mc_in_reserve(c, c->in.cap == 0 ? READ_BUF : READ_MIN) != 0) {
        conn_drop(c, REND_ENOMEM, 0);
        return;
    }
    n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        conn_drop(c, REND_EIO, 1);
        return;
    }
    c->in.len += (size_t)n;
    c->parsing = 1;
    while (c->deferred_err == 0) {
        if (c->gend || (c->head != NULL && c->head->grp)) {
            rc = parse_group(c);
        } else if (c->head != NULL && c->head->relay) {
            rc = parse_relay(c);
        } else if ((rc = parse_reply(c, &r)) > 0) {
            dispatch(c, &r);
        }
        if (rc <= 0) {
            if (rc < 0) {
                c->deferred_err = REND_EIO;
            }
            break;
        }
    }
    c->parsing = 0;
    if (c->deferred_err != 0) {
        conn_drop(c, c->deferred_err, 1);
        return;
    }
    /* With an empty queue the timer is left to run out (tmo_cb ignores
     * it): cheaper than stopping and restarting it for every batch. */
    if (c->head != NULL && !ev_is_active(&c->tmo)) {
        arm_timeout(c);
    }
    srv_publish(c->srv);
    /* (all parsed: the next rend_mc_in_reserve restarts at the front,
     * unless values lent from this buffer are still out) */
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rend_mc_srv *s = w->data;
    struct rend_mc_conn *c = &s->conns[0];
    int err;

    if (!s->down || c->state != REND_MC_CLOSED) {
        return;
    }
    c->probe = 1;
    err = conn_open(c);
    if (err != 0) {
        c->probe = 0;
        srv_failed(s, err);
    }
}

static void
prep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    rend_mc_thr_flush(w->data);
}

/* Sets up t->srvs for t->inst on t->loop. */
int
rend_mc_thr_open(struct rend_mc_thr *t)
{
    struct rend_mc_inst *in = t->inst;

    t->srvs = calloc(in->nservers, sizeof(*t->srvs));
    if (t->srvs == NULL) {
        return REND_ENOMEM;
    }
    for (unsigned i = 0; i < in->nservers; i++) {
        struct rend_mc_srv *s = &t->srvs[i];
        s->thr = t;
        s->conf = &in->servers[i];
        s->nconns = in->conns_per_server;
        s->backoff = in->retry_min;
        s->conns = calloc(s->nconns, sizeof(*s->conns));
        if (s->conns == NULL) {
            return REND_ENOMEM;
        }
        ev_timer_init(&s->retry, retry_cb, 1., 0.);
        s->retry.data = s;
        for (unsigned j = 0; j < s->nconns; j++) {
            struct rend_mc_conn *c = &s->conns[j];
            c->srv = s;
            c->fd = -1;
            ev_io_init(&c->rio, rio_cb, -1, EV_READ);
            ev_io_init(&c->wio, wio_cb, -1, EV_WRITE);
            ev_timer_init(&c->tmo, tmo_cb, 1., 0.);
            c->rio.data = c->wio.data = c->tmo.data = c;
        }
    }
    ev_prepare_init(&t->prep, prep_cb);
    t->prep.data = t;
    ev_prepare_start(t->loop, &t->prep);
    return 0;
}

/* Fails every outstanding request (REND_EIO), closes all connections and
 * frees t's servers. */
void
rend_mc_thr_close(struct rend_mc_thr *t)
{
    struct rend_mc_req *r;

    t->closing = 1;
    ev_prepare_stop(t->loop, &t->prep);
    for (unsigned i = 0; t->srvs != NULL && i < t->inst->nservers; i++) {
        struct rend_mc_srv *s = &t->srvs[i];
        ev_timer_stop(t->loop, &s->retry);
        for (unsigned j = 0; s->conns != NULL && j < s->nconns; j++) {
            conn_drop(&s->conns[j], REND_EIO, 0);
            rend_mc_buf_free(&s->conns[j].out);
            free(s->conns[j].ext.v);
            rend_mc_in_free(&s->conns[j]);
        }
        if (s->down) {
            stat_sadd(&s->conf->down, -1);
        }
        free(s->conns);
    }
    free(t->srvs);
    t->srvs = NULL;
    while ((r = t->free_reqs) != NULL) {
        t->free_reqs = r->next;
        free(r);
    }
    rend_mc_pool_drain(&t->pops);
    rend_mc_pool_drain(&t->cops);
    rend_mc_pool_drain(&t->relays);
}

/* See rend_mc.h. */
struct rend_mc_conn *
rend_mc_conn_get(struct rend_mc_thr *t, unsigned srv, uint32_t keyhash,
                 int *err)
{
    struct rend_mc_srv *s = &t->srvs[srv];
    struct rend_mc_conn *c;
    int rc;

    if (s->down) {
        *err = REND_EDOWN;
        return NULL;
    }
    c = &s->conns[keyhash % s->nconns];
    if (c->depth >= t->inst->max_inflight) {
        /* Shed load rather than queue it: a backlog this deep would time
         * out every request behind it (and reset the connection). */
        *err = REND_EBUSY;
        return NULL;
    }
    if (c->state == REND_MC_CLOSED) {
        rc = conn_open(c);
        if (rc != 0) {
            srv_failed(s, rc);
            *err = s->down ? REND_EDOWN : rc;
            return NULL;
        }
    }
    return c;
}

/* A plain request (not grouped, not relayed) answered by cb(ud, ...). */
static inline void
req_init(struct rend_mc_req *r, rend_mc_reply_f *cb, void *ud)
{
    r->next = NULL;
    r->cb = cb;
    r->ud = ud;
    r->multi = 0;
    r->grp = 0;
    r->glast = 0;
    r->relay = 0;
    r->rcas = 0;
    r->rdrop = 0;
    r->rhits = 0;
    r->rscan = 0;
    r->rskip = 0;
}

/* Queues r (its callback and key fields set) at c's tail: stamps its send
 * time and opaque, counts it, marks c dirty for the next flush and arms the
 * request timeout.  Returns r's opaque. */
static inline uint32_t
enqueue(struct rend_mc_conn *c, struct rend_mc_req *r)
{
    struct rend_mc_thr *t = c->srv->thr;

    r->sent = ev_now(t->loop);
    if (++c->next_opaque == 0) {
        c->next_opaque = 1;
    }
    r->opaque = c->next_opaque;
    if (c->tail != NULL) {
        c->tail->next = r;
    } else {
        c->head = r;
    }
    c->tail = r;
    c->depth++;
    c->srv->nreq_unpub++;
    c->srv->depth++;
    if (!c->dirty) {
        c->dirty = 1;
        c->next_dirty = t->dirty;
        t->dirty = c;
    }
    if (c->state == REND_MC_CONNECTED && !ev_is_active(&c->tmo)) {
        arm_timeout(c);
    }
    return r->opaque;
}

/* See rend_mc.h. */
uint32_t
rend_mc_conn_push(struct rend_mc_conn *c, rend_mc_reply_f *cb, void *ud,
                  int multi)
{
    struct rend_mc_thr *t = c->srv->thr;
    struct rend_mc_req *r = req_alloc(t);

    if (r == NULL) {
        return 0;
    }
    group_close(c); /* this request's text follows the grouped line */
    req_init(r, cb, ud);
    r->multi = (uint8_t)multi;
    return enqueue(c, r);
}

/* See rend_mc.h. */
uint32_t
rend_mc_conn_push_get(struct rend_mc_conn *c, rend_mc_reply_f *cb, void *ud,
                      const char *key, size_t nkey, int cas)
{
    struct rend_mc_thr *t = c->srv->thr;
    struct rend_mc_req *r;
    struct rend_mc_buf *b = &c->out;
    char *w;
    int open = c->gopen && (c->gcas || !cas)
               && c->glen + 1 + nkey + 2 <= REND_MC_GROUP_LINE_MAX;

    /* room for the open line's CRLF, a new verb, this key and its CRLF */
    if (b->cap - b->len < nkey + 10 && rend_mc_buf_reserve(b, nkey + 10) != 0) {
        return 0;
    }
    r = req_alloc(t);
    if (r == NULL) {
        return 0;
    }
    if (!open) {
        group_close(c);
    }
    w = b->data + b->len;
    if (!open) {
        w = cas ? REND_MC_PUTS(w, "gets ") : REND_MC_PUTS(w, "get ");
        c->gopen = 1;
        c->gcas = (uint8_t)(cas != 0);
        c->glen = (size_t)(cas ? 5 : 4);
    } else {
        *w++ = ' ';
        c->glen++;
    }
    w = rend_mc_put(w, key, nkey);
    c->glen += nkey;
    b->len = (size_t)(w - b->data);
    req_init(r, cb, ud);
    r->grp = 1;
    r->gkey = key;
    r->gnkey = nkey;
    return enqueue(c, r);
}

/* See rend_mc.h. */
uint32_t
rend_mc_conn_push_relay(struct rend_mc_conn *c, rend_mc_reply_f *cb,
                        void *ud, const char *keys, size_t nkeys, int cas)
{
    struct rend_mc_thr *t = c->srv->thr;
    struct rend_mc_req *r;
    struct rend_mc_buf *b = &c->out;
    char *w;

    /* room for an open line's CRLF, the verb, the keys and a CRLF */
    if (b->cap - b->len < nkeys + 9 && rend_mc_buf_reserve(b, nkeys + 9) != 0) {
        return 0;
    }
    r = req_alloc(t);
    if (r == NULL) {
        return 0;
    }
    group_close(c);
    w = b->data + b->len;
    w = cas ? REND_MC_PUTS(w, "gets ") : REND_MC_PUTS(w, "get ");
    w = rend_mc_put(w, keys, nkeys);
    w = REND_MC_PUTS(w, "\r\n");
    b->len = (size_t)(w - b->data);
    req_init(r, cb, ud);
    r->relay = 1;
    r->rcas = (uint8_t)(cas != 0);
    return enqueue(c, r);
}

/* Writes every dirty connection of t. */
void
rend_mc_thr_flush(struct rend_mc_thr *t)
{
    struct rend_mc_conn *c;

    while ((c = t->dirty) != NULL) {
        t->dirty = c->next_dirty;
        c->dirty = 0;
        srv_publish(c->srv);
        if (c->deferred_err != 0 && !c->parsing) {
            conn_drop(c, c->deferred_err, 0);
        } else if (c->state == REND_MC_CONNECTED && !ev_is_active(&c->wio)) {
            conn_write(c);
        }
    }
}

/* See rend_mc.h. */
int
rend_mc_reply_error(const struct rend_mc_reply *r)
{
    if (r->kind == REND_MC_R_SERVER_ERROR) {
        if (memmem(r->line, r->nline, "too large", 9) != NULL) {
            return REND_ETOOBIG;
        }
        if (memmem(r->line, r->nline, "out of memory", 13) != NULL) {
            return REND_ENOMEM;
        }
        return REND_EIO;
    }
    if (r->kind == REND_MC_R_CLIENT_ERROR) {
        return REND_EINVAL;
    }
    return REND_EIO;
}
