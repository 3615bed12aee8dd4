/*
 * rend_mc_splice.c - output with pieces the caller owns spliced in, for
 * chunked mode's large values: a set's chunk payloads go from the client's
 * value straight to the socket (writev) instead of being copied into
 * c->out.  The pieces wait in c->ext until written; the caller keeps them
 * valid until its request is answered (a set is answered only after
 * memcached has read all of it), and conn_close forgets them before the
 * requests are failed.  Runs on the connection's worker thread, like the
 * rest of rend_mc_conn.c, whose conn_write hands over to
 * rend_mc_conn_write_ext while pieces are queued.
 *
 * The logical output is c->out's unsent bytes with every queued piece
 * inserted after the first `at` of them.  `at` counts from c->out.off, not
 * from c->out.data: rend_mc_buf_reserve may move the unsent bytes to the
 * front of the buffer while commands are being built.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rend_mc.h"

#define EXT_IOV 128

/* See rend_mc.h. */
int
rend_mc_conn_out_ext(struct rend_mc_conn *c, const struct rend_mc_ext *ext,
                     unsigned next)
{
    struct rend_mc_extq *q = &c->ext;

    if (q->head > 0 && q->head == q->n) {
        q->head = q->n = 0;
    }
    if (q->n + next > q->cap) {
        unsigned cap = q->cap ? q->cap : 64;
        struct rend_mc_ext *v;
        while (cap < q->n + next) {
            cap *= 2;
        }
        v = realloc(q->v, cap * sizeof(*v));
        if (v == NULL) {
            c->deferred_err = REND_ENOMEM;
            return -1;
        }
        q->v = v;
        q->cap = cap;
    }
    memcpy(q->v + q->n, ext, next * sizeof(*ext));
    q->n += next;
    return 0;
}

/* See rend_mc.h. */
unsigned
rend_mc_value_pieces(const struct rend_op *op, const char *value, size_t vin,
                     size_t off, size_t n, size_t at, const void *owner,
                     struct rend_mc_ext *ext)
{
    unsigned k = 0;

    if (off < vin) {
        size_t m = off + n <= vin ? n : vin - off;
        ext[k].at = at;
        ext[k].p = value + off;
        ext[k].n = m;
        ext[k].owner = owner;
        ext[k].pipe = -1;
        k++;
        off += m;
        n -= m;
    }
    if (n > 0) {
        ext[k].at = at;
        ext[k].p = NULL;
        ext[k].n = n;
        ext[k].owner = owner;
        ext[k].pipe = op->value_pipe;
        k++;
    }
    return k;
}

/* iov[] (at most max entries) from the start of the logical output, up to
 * the first piped piece. */
static int
ext_iov(const struct rend_mc_conn *c, struct iovec *iov, int max)
{
    const struct rend_mc_extq *q = &c->ext;
    size_t pos = 0, unsent = c->out.len - c->out.off;
    int cnt = 0;

    for (unsigned i = q->head; cnt < max; i++) {
        size_t stop = i < q->n ? q->v[i].at : unsent;
        if (stop > pos) {
            iov[cnt].iov_base = c->out.data + c->out.off + pos;
            iov[cnt].iov_len = stop - pos;
            cnt++;
            pos = stop;
        }
        if (i >= q->n || cnt == max || q->v[i].pipe >= 0) {
            break;
        }
        if (q->v[i].n > 0) {
            iov[cnt].iov_base = (char *)q->v[i].p;
            iov[cnt].iov_len = q->v[i].n;
            cnt++;
        }
    }
    return cnt;
}

/* Drops n written bytes from the front of the logical output. */
static void
consume(struct rend_mc_conn *c, size_t n)
{
    struct rend_mc_extq *q = &c->ext;

    while (n > 0) {
        size_t take;
        if (q->head < q->n && q->v[q->head].at == 0) {
            struct rend_mc_ext *e = &q->v[q->head];
            take = n < e->n ? n : e->n;
            if (e->pipe < 0) {
                e->p += take;
            }
            e->n -= take;
            if (e->n == 0) {
                q->head++;
            }
        } else {
            size_t lim = q->head < q->n ? q->v[q->head].at
                                        : c->out.len - c->out.off;
            take = n < lim ? n : lim;
            c->out.off += take;
            for (unsigned i = q->head; i < q->n; i++) {
                q->v[i].at -= take;
            }
        }
        n -= take;
    }
    /* pieces emptied in place (n == 0 at at == 0) are done too */
    while (q->head < q->n && q->v[q->head].at == 0 && q->v[q->head].n == 0) {
        q->head++;
    }
    if (q->head == q->n) {
        q->head = q->n = 0;
    }
    if (c->out.off == c->out.len) {
        c->out.off = c->out.len = 0;
    }
}

/* See rend_mc.h. */
int
rend_mc_conn_write_ext(struct rend_mc_conn *c)
{
    struct iovec iov[EXT_IOV];
    const struct rend_mc_extq *q = &c->ext;
    int cnt;

    for (;;) {
        ssize_t n;
        if (q->head < q->n && q->v[q->head].at == 0 && q->v[q->head].pipe >= 0
            && q->v[q->head].n > 0) {
            /* a piped value's bytes: from the core's pipe to the socket */
            n = splice(q->v[q->head].pipe, NULL, c->fd, NULL, q->v[q->head].n,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n == 0) {
                return -1; /* the pipe has fewer bytes than it should */
            }
        } else if ((cnt = ext_iov(c, iov, EXT_IOV)) > 0) {
            n = writev(c->fd, iov, cnt);
        } else {
            break;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        }
        consume(c, (size_t)n);
    }
    return 0;
}

/* See rend_mc.h. */
void
rend_mc_conn_ext_release(struct rend_mc_conn *c, const void *owner)
{
    struct rend_mc_extq *q = &c->ext;

    for (unsigned i = q->head; i < q->n; i++) {
        if (q->v[i].owner == owner) {
            /* answered before it was all sent: the stream is out of step,
             * and the pieces are about to go away; the connection is
             * reset before anything else is written */
            q->head = q->n = 0;
            c->deferred_err = REND_EIO;
            return;
        }
    }
}
