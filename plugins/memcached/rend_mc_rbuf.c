/*
 * rend_mc_rbuf.c - a backend connection's read buffer, whose bytes GET
 * hits lend to the core (host->value_ref, ABI minor 2) instead of copying
 * each value into a value_alloc buffer: a hit costs no malloc and no copy
 * here, and the core copies it once into the client's output (or writes
 * a large one from here with writev).
 *
 * The storage is a reference-counted block (struct rend_mc_rblk): the
 * connection holds one reference while it reads into it, every lent value
 * one more.  While values are out the bytes before c->in.len must not
 * move or change, so a shared block is only appended to; when it is
 * short of room the unparsed tail moves to a fresh block and the old one
 * is retired (freed by the last release).  In the common case the core
 * has copied and released the batch's small hits before the next read,
 * the block is unshared again and reads restart at its front.
 *
 * Bound: a held value pins a whole block, so retired blocks still pinned
 * are counted (all threads); past REND_MC_LEND_RETIRED_MAX bytes hits are
 * copied (value_alloc) until some come back.
 *
 * Threads: a block belongs to one worker thread's connection, and the
 * core releases lent values on that same worker thread, so the count in
 * the block is plain.  The release may come after thread_exit and
 * destroy(): a block needs nothing but itself (and the process-wide
 * counter) to be freed.
 */
#include <stdlib.h>

#include "rend_mc.h"

#define READ_BUF 262144 /* a fresh block: one read takes a burst */
#define REND_MC_LEND_RETIRED_MAX (64u << 20)

struct rend_mc_rblk {
    uint32_t refs;     /* the connection's (while attached) + lent values */
    uint8_t retired;   /* detached from its connection, counted below */
    size_t cap;
    char data[];
};

/* Bytes of retired blocks still held by lent values, all threads. */
static size_t retired_bytes;

static struct rend_mc_rblk *
blk_new(size_t cap)
{
    struct rend_mc_rblk *b = malloc(sizeof(*b) + cap);

    if (b != NULL) {
        b->refs = 1;
        b->retired = 0;
        b->cap = cap;
    }
    return b;
}

static void
blk_unref(struct rend_mc_rblk *b)
{
    if (--b->refs > 0) {
        return;
    }
    if (b->retired) {
        __atomic_sub_fetch(&retired_bytes, b->cap, __ATOMIC_RELAXED);
    }
    free(b);
}

/* The connection lets go of its block while values are still lent. */
static void
blk_retire(struct rend_mc_rblk *b)
{
    if (b->refs > 1) {
        b->retired = 1;
        __atomic_add_fetch(&retired_bytes, b->cap, __ATOMIC_RELAXED);
    }
    blk_unref(b);
}

static void
attach(struct rend_mc_conn *c, struct rend_mc_rblk *b)
{
    c->inblk = b;
    c->in.data = b->data;
    c->in.cap = b->cap;
}

/* See rend_mc.h. */
int
rend_mc_in_reserve(struct rend_mc_conn *c, size_t n)
{
    struct rend_mc_rblk *b = c->inblk, *nb;
    struct rend_mc_buf *in = &c->in;
    size_t keep, cap;

    if (b == NULL) {
        nb = blk_new(n > READ_BUF ? n : READ_BUF);
        if (nb == NULL) {
            return -1;
        }
        attach(c, nb);
        in->off = in->len = 0;
        return 0;
    }
    if (b->refs == 1) {
        /* nothing lent: the plain buffer rules (reset, compact, grow) */
        if (in->off > 0 && in->off == in->len) {
            in->off = in->len = 0;
        }
        if (in->cap - in->len >= n) {
            return 0;
        }
        if (in->off > 0 && in->cap - (in->len - in->off) >= n
            && in->off >= in->cap / 2) {
            memmove(in->data, in->data + in->off, in->len - in->off);
            in->len -= in->off;
            in->off = 0;
            if (in->cap - in->len >= n) {
                return 0;
            }
        }
        cap = in->cap;
        while (cap < in->len + n) {
            cap *= 2;
        }
        nb = realloc(b, sizeof(*b) + cap);
        if (nb == NULL) {
            return -1;
        }
        nb->cap = cap;
        attach(c, nb);
        return 0;
    }
    /* values lent from b: append only, or move the tail to a new block */
    if (in->cap - in->len >= n) {
        return 0;
    }
    keep = in->len - in->off;
    cap = READ_BUF;
    while (cap < keep + n) {
        cap *= 2;
    }
    nb = blk_new(cap);
    if (nb == NULL) {
        return -1;
    }
    memcpy(nb->data, in->data + in->off, keep);
    blk_retire(b);
    attach(c, nb);
    in->off = 0;
    in->len = keep;
    return 0;
}

/* See rend_mc.h. */
void
rend_mc_in_reset(struct rend_mc_conn *c)
{
    if (c->inblk != NULL && c->inblk->refs > 1) {
        /* lent values keep the old bytes: read into a new block later */
        blk_retire(c->inblk);
        c->inblk = NULL;
        c->in.data = NULL;
        c->in.cap = 0;
    }
    c->in.off = c->in.len = 0;
}

/* See rend_mc.h. */
void
rend_mc_in_free(struct rend_mc_conn *c)
{
    if (c->inblk != NULL) {
        blk_retire(c->inblk);
    }
    c->inblk = NULL;
    c->in.data = NULL;
    c->in.cap = c->in.off = c->in.len = 0;
}

/* rend_value_release_f for values lent out of a block. */
static void
lent_release(void *owner, void *ref)
{
    (void)ref;
    blk_unref(owner);
}

/* See rend_mc.h. */
int
rend_mc_in_lend(struct rend_mc_conn *c, const struct rend_host *h,
                struct rend_op *op, const char *p, size_t n)
{
    struct rend_mc_rblk *b = c->inblk;

    if (b == NULL || !REND_HOST_HAS_VALUE_REF(h)
        || __atomic_load_n(&retired_bytes, __ATOMIC_RELAXED)
               > REND_MC_LEND_RETIRED_MAX) {
        return -1;
    }
    b->refs++;
    h->value_ref(op, p, n, lent_release, b, NULL);
    return 0;
}
