/*
 * rend_mc_relay.c - REND_OP_GET_TEXT (ABI minor 5): a client's text
 * multi-get goes to the servers as one `get`/`gets` line per server its
 * keys land on, and the servers' VALUE blocks come back to the core as one
 * value.  When every key is on one server, that value is lent in place
 * from the connection's read buffer (rend_mc_rbuf.c): no per-key request,
 * reply or copy.  Over several servers, each server's blocks are copied out
 * as its END arrives and merged in the client's key order when the last
 * one has (what the key-by-key path and memcached would write).
 *
 * Plain mode, one connection per server and no replicas only (a key's ops
 * stay on its one connection, and no replica failover is skipped); raw
 * keys only (as memcached shows them back).  Anything else is declined
 * and the core runs the keys one by one; so is a request one of whose
 * servers is down, which the key-by-key path answers with the other
 * servers' hits and an error.  Worker thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "rend_mc.h"

/* One relayed op on one server, in flight (from t->relays). */
struct relay {
    struct rend_mc_thr *t;
    struct rend_op *op;
};

static void
relay_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct relay *x = ud;
    struct rend_mc_thr *t = x->t;
    struct rend_op *op = x->op;
    const struct rend_host *h = t->inst->host;

    rend_mc_pool_put(&t->relays, x);
    if (err != 0) {
        h->done(op, err);
        return;
    }
    if (r->kind != REND_MC_R_EN) {
        h->done(op, rend_mc_reply_error(r));
        return;
    }
    if (r->dropped) {
        h->done(op, REND_ENOTSUP); /* too large to hold: key by key */
        return;
    }
    op->out_number = r->nblocks;
    if (r->nvalue > 0
        && rend_mc_in_lend(r->conn, h, op, r->value, r->nvalue) != 0) {
        char *v = h->value_alloc(op, r->nvalue);
        if (v == NULL) {
            h->done(op, REND_ENOMEM);
            return;
        }
        memcpy(v, r->value, r->nvalue);
    }
    h->done(op, REND_OK);
}

/* Sends op's keys (keys, n bytes) to server srv as one line. */
static int
relay_one(struct rend_mc_thr *t, struct rend_op *op, unsigned srv,
          const char *keys, size_t n)
{
    struct rend_mc_conn *c;
    struct relay *x;
    int err = REND_EIO;

    c = rend_mc_conn_get(t, srv, 0, &err);
    if (c == NULL) {
        return t->inst->nservers > 1 ? REND_ENOTSUP : err;
    }
    x = rend_mc_pool_get(&t->relays, sizeof(*x));
    if (x == NULL) {
        return REND_ENOMEM;
    }
    x->t = t;
    x->op = op;
    if (rend_mc_conn_push_relay(c, relay_reply, x, keys, n,
                                !(op->opflags & REND_OPF_NO_CAS)) == 0) {
        rend_mc_pool_put(&t->relays, x);
        return REND_ENOMEM;
    }
    return REND_PENDING;
}

/* ---- several servers ---- */

struct multi;

/* One server's part of a relayed op. */
struct part {
    struct multi *m;
    unsigned srv;
    char *keys;        /* its keys one space apart, in m's allocation */
    size_t nkeys;      /* bytes at keys */
    char *blocks;      /* its VALUE blocks, malloc'd at its END */
    size_t nblocks;    /* bytes at blocks */
    size_t cur;        /* merge: the next block not yet taken */
};

/* A relayed op over several servers: one allocation holding the parts,
 * the part of each key and the parts' key lines. */
struct multi {
    struct rend_mc_thr *t;
    struct rend_op *op;
    unsigned nparts, pending;
    int err;           /* first failure of a part */
    int declined;      /* a part's reply, or all of them, too large */
    size_t held;       /* bytes of blocks copied so far */
    uint32_t nhits;    /* VALUE blocks in them */
    uint32_t *part_of; /* per key, in order */
    struct part part[];
};

static void
multi_free(struct multi *m)
{
    for (unsigned i = 0; i < m->nparts; i++) {
        free(m->part[i].blocks);
    }
    free(m);
}

/* Length of the VALUE block at p (n bytes left) if it is key's, else 0. */
static size_t
block_of(const char *p, size_t n, const char *key, size_t nkey)
{
    const char *eol, *q;
    uint64_t bytes = 0;

    if (n < 6 + nkey + 1 || memcmp(p, "VALUE ", 6) != 0
        || memcmp(p + 6, key, nkey) != 0 || p[6 + nkey] != ' ') {
        return 0;
    }
    eol = memchr(p, '\n', n);
    if (eol == NULL) {
        return 0;
    }
    q = p + 6 + nkey + 1;
    while (q < eol && *q != ' ') { /* the flags */
        q++;
    }
    for (q++; q < eol && *q >= '0' && *q <= '9'; q++) {
        bytes = bytes * 10 + (uint64_t)(*q - '0');
        if (bytes > n) {
            return 0;
        }
    }
    if ((size_t)(eol + 1 - p) + bytes + 2 > n) {
        return 0;
    }
    return (size_t)(eol + 1 - p) + (size_t)bytes + 2;
}

/* Every part has answered: the blocks, merged in key order, or the first
 * failure. */
static void
multi_finish(struct multi *m)
{
    const struct rend_host *h = m->t->inst->host;
    struct rend_op *op = m->op;
    const char *k = op->value, *end = op->value + op->nvalue;
    int st = m->err != 0 ? m->err : m->declined ? REND_ENOTSUP : REND_OK;
    char *out = NULL;
    size_t at = 0;

    if (st == REND_OK && m->held > 0) {
        out = h->value_alloc(op, m->held);
        if (out == NULL) {
            st = REND_ENOMEM;
        }
    }
    for (uint32_t i = 0; st == REND_OK && k < end; i++) {
        const char *sp = memchr(k, ' ', (size_t)(end - k));
        size_t nk = sp != NULL ? (size_t)(sp - k) : (size_t)(end - k);
        struct part *p = &m->part[m->part_of[i]];
        size_t b = p->cur < p->nblocks
                       ? block_of(p->blocks + p->cur, p->nblocks - p->cur, k,
                                  nk)
                       : 0;

        if (b > 0) { /* a hit; a miss has no block */
            memcpy(out + at, p->blocks + p->cur, b);
            at += b;
            p->cur += b;
        }
        k += nk + 1;
    }
    for (unsigned i = 0; st == REND_OK && i < m->nparts; i++) {
        if (m->part[i].cur != m->part[i].nblocks) {
            st = REND_EIO; /* a block for no key asked of that server */
        }
    }
    op->out_number = m->nhits;
    multi_free(m);
    h->done(op, st);
}

static void
part_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct part *p = ud;
    struct multi *m = p->m;

    if (err == 0 && r->kind != REND_MC_R_EN) {
        err = rend_mc_reply_error(r);
    }
    if (err != 0) {
        if (m->err == 0) {
            m->err = err;
        }
    } else if (r->dropped || m->held + r->nvalue > REND_MC_RELAY_MAX) {
        m->declined = 1;
    } else if (r->nvalue > 0 && m->err == 0 && !m->declined) {
        p->blocks = malloc(r->nvalue);
        if (p->blocks == NULL) {
            m->err = REND_ENOMEM;
        } else {
            memcpy(p->blocks, r->value, r->nvalue);
            p->nblocks = r->nvalue;
            m->held += r->nvalue;
            m->nhits += r->nblocks;
        }
    }
    if (--m->pending == 0) {
        multi_finish(m);
    }
}

/* Splits op's keys by server; all on one: relay_one.  Else one line per
 * server, REND_PENDING, or a final status. */
static int
relay_multi(struct rend_mc_thr *t, struct rend_op *op)
{
    const struct rend_mc_inst *in = t->inst;
    const char *k, *end = op->value + op->nvalue;
    uint32_t nkeys = 0, i;
    unsigned maxparts, *part_at, srv;
    struct rend_mc_conn **conn;
    struct multi *m;
    char *text;
    size_t size;
    uint32_t h;

    for (k = op->value; k < end; k++) {
        nkeys += *k == ' ';
    }
    nkeys++;
    maxparts = nkeys < in->nservers ? nkeys : in->nservers;
    /* the parts and their connections, then per key its part, then per
     * server its part + 1 (0: none yet), then the key lines (in the order
     * of their alignment) */
    size = sizeof(*m) + maxparts * (sizeof(struct part) + sizeof(*conn))
           + nkeys * sizeof(uint32_t) + in->nservers * sizeof(unsigned)
           + op->nvalue + 1;
    m = calloc(1, size);
    if (m == NULL) {
        return REND_ENOMEM;
    }
    conn = (struct rend_mc_conn **)(void *)&m->part[maxparts];
    m->part_of = (uint32_t *)(void *)(conn + maxparts);
    part_at = (unsigned *)(void *)(m->part_of + nkeys);
    text = (char *)(part_at + in->nservers);
    /* 1: each key's server, and each part's line length */
    k = op->value;
    for (i = 0; i < nkeys; i++) {
        const char *sp = memchr(k, ' ', (size_t)(end - k));
        size_t nk = sp != NULL ? (size_t)(sp - k) : (size_t)(end - k);
        unsigned pi;

        rend_mc_route(in, k, nk, &srv, 1, &h);
        if (part_at[srv] == 0) {
            pi = m->nparts++;
            part_at[srv] = pi + 1;
            m->part[pi].m = m;
            m->part[pi].srv = srv;
        }
        pi = part_at[srv] - 1;
        m->part[pi].nkeys += nk + 1;
        m->part_of[i] = pi;
        k += nk + 1;
    }
    if (m->nparts == 1) {
        free(m);
        return relay_one(t, op, srv, op->value, op->nvalue);
    }
    /* 2: the lines (a part's nkeys counts again from 0 as it fills) */
    for (unsigned pi = 0; pi < m->nparts; pi++) {
        m->part[pi].keys = text;
        text += m->part[pi].nkeys;
        m->part[pi].nkeys = 0;
    }
    k = op->value;
    for (i = 0; i < nkeys; i++) {
        const char *sp = memchr(k, ' ', (size_t)(end - k));
        size_t nk = sp != NULL ? (size_t)(sp - k) : (size_t)(end - k);
        struct part *p = &m->part[m->part_of[i]];

        if (p->nkeys > 0) {
            p->keys[p->nkeys++] = ' ';
        }
        memcpy(p->keys + p->nkeys, k, nk);
        p->nkeys += nk;
        k += nk + 1;
    }
    /* 3: every server up before anything is sent */
    for (unsigned pi = 0; pi < m->nparts; pi++) {
        int err = REND_EIO;
        conn[pi] = rend_mc_conn_get(t, m->part[pi].srv, 0, &err);
        if (conn[pi] == NULL) {
            free(m);
            return err == REND_ENOMEM ? err : REND_ENOTSUP;
        }
    }
    m->t = t;
    m->op = op;
    for (unsigned pi = 0; pi < m->nparts; pi++) {
        struct part *p = &m->part[pi];
        if (rend_mc_conn_push_relay(conn[pi], part_reply, p, p->keys,
                                    p->nkeys,
                                    !(op->opflags & REND_OPF_NO_CAS)) == 0) {
            m->err = REND_ENOMEM; /* the parts sent end the op */
            break;
        }
        m->pending++;
    }
    if (m->pending == 0) {
        free(m);
        return REND_ENOMEM;
    }
    return REND_PENDING;
}

/* 1 when every key goes on the wire as it is (a key rend_mc_key_raw
 * refuses, one with a control byte, is stored under its base64 form,
 * which a relayed line would not find).  Eight bytes at a time: a byte
 * under 0x20 or equal to 0x7f sets its word's high bits below. */
static int
keys_raw(const char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, high = ones * 0x80;
    uint64_t bad = 0, w;
    size_t i = 0;

    if (n == 0 || p[0] == ' ' || p[n - 1] == ' ') {
        return 0;
    }
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        bad |= (w - ones * 0x20) & ~w & high;    /* < 0x20 */
        bad |= ((w ^ (ones * 0x7f)) - ones) & ~(w ^ (ones * 0x7f)) & high;
    }
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        bad |= ch < 0x20 || ch == 0x7f;
    }
    return bad == 0;
}

int
rend_mc_op_get_text(struct rend_mc_thr *t, struct rend_op *op)
{
    const struct rend_mc_inst *in = t->inst;

    if (in->chunked || in->conns_per_server != 1 || in->replicas != 1
        || op->nvalue + sizeof("gets \r\n") > REND_MC_GROUP_LINE_MAX
        || !keys_raw(op->value, op->nvalue)) {
        return REND_ENOTSUP;
    }
    if (in->nservers == 1) {
        return relay_one(t, op, 0, op->value, op->nvalue);
    }
    return relay_multi(t, op);
}
