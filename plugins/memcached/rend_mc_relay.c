/*
 * rend_mc_relay.c - REND_OP_GET_TEXT (ABI minor 5): a client's text
 * multi-get goes to the server as one `get`/`gets` line of its keys, and
 * the server's VALUE blocks come back to the core as one value, lent in
 * place from the connection's read buffer (rend_mc_rbuf.c): no per-key
 * request, reply or copy.  Plain mode with one server only (every key on
 * it, raw keys as memcached shows them back); anything else is declined
 * and the core runs the keys one by one.  Worker thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "rend_mc.h"

/* One relayed op in flight (from t->relays). */
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

/* Bytes a raw wire key may not hold (rend_mc_key_raw), but the space
 * that separates the keys. */
static const unsigned char not_raw[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,
    [0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1,
    [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1,
    [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
    [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1,
    [0x1e] = 1, [0x1f] = 1, [0x7f] = 1,
};

/* 1 when every key goes on the wire as it is (a key rend_mc_key_raw
 * refuses is stored under its base64 form, which a relayed line would
 * not find). */
static int
keys_raw(const char *p, size_t n)
{
    unsigned bad = 0;

    for (size_t i = 0; i < n; i++) {
        bad |= not_raw[(unsigned char)p[i]];
    }
    return bad == 0 && n > 0 && p[0] != ' ' && p[n - 1] != ' ';
}

int
rend_mc_op_get_text(struct rend_mc_thr *t, struct rend_op *op)
{
    const struct rend_mc_inst *in = t->inst;
    struct rend_mc_conn *c;
    struct relay *x;
    int err = REND_EIO;

    if (in->chunked || in->nservers != 1
        || op->nvalue + sizeof("gets \r\n") > REND_MC_GROUP_LINE_MAX
        || !keys_raw(op->value, op->nvalue)) {
        return REND_ENOTSUP;
    }
    c = rend_mc_conn_get(t, 0, 0, &err);
    if (c == NULL) {
        return err;
    }
    x = rend_mc_pool_get(&t->relays, sizeof(*x));
    if (x == NULL) {
        return REND_ENOMEM;
    }
    x->t = t;
    x->op = op;
    if (rend_mc_conn_push_relay(c, relay_reply, x, op->value, op->nvalue,
                                !(op->opflags & REND_OPF_NO_CAS)) == 0) {
        rend_mc_pool_put(&t->relays, x);
        return REND_ENOMEM;
    }
    return REND_PENDING;
}
