/*
 * rend_kvop.c - memcached's op semantics for whole-item stores (see
 * rend_kvop.h; the statuses are rend/handler.h's table).
 */
#include <string.h>

#include "rend_kvop.h"

int
rend_kvop_fill(const struct rend_host *host, struct rend_op *op,
               const struct rend_kvop_item *it)
{
    op->out_flags = it->flags;
    op->out_exptime = it->exptime;
    op->out_cas = it->cas;
    if (op->opflags & REND_OPF_NO_VALUE) {
        return REND_OK;
    }
    if (host->value_alloc(op, it->ndata) == NULL) {
        return REND_ENOMEM;
    }
    if (it->ndata > 0) {
        memcpy(op->out_value, it->data, it->ndata);
    }
    return REND_OK;
}

void
rend_kvop_value(const struct rend_kvop_res *res, char *dst)
{
    if (res->nhead > 0) {
        memcpy(dst, res->head, res->nhead);
    }
    if (res->ntail > 0) {
        memcpy(dst + res->nhead, res->tail, res->ntail);
    }
    memset(dst + res->nhead + res->ntail, ' ', res->npad);
}

/* A new value of one or two pieces, keeping or replacing flags/expiry. */
static void
store(struct rend_kvop_res *res, const char *head, size_t nhead,
      const char *tail, size_t ntail, uint32_t flags, int64_t exptime)
{
    res->act = REND_KVOP_STORE;
    res->head = head;
    res->nhead = nhead;
    res->tail = tail;
    res->ntail = ntail;
    res->npad = 0;
    res->nvalue = nhead + ntail;
    res->flags = flags;
    res->exptime = exptime;
}

/* INCR/DECR on a live item: incr wraps at 2^64, decr stops at 0; the new
 * number is space-padded to the old length (memcached's rule). */
static int
arith(struct rend_op *op, const struct rend_kvop_item *old,
      struct rend_kvop_res *res)
{
    uint64_t v;
    size_t n;

    if (rend_counter_read(old->data, old->ndata, &v) != 0) {
        return REND_NON_NUMERIC;
    }
    if (op->code == REND_OP_INCR) {
        v += op->delta;
    } else {
        v = op->delta > v ? 0 : v - op->delta;
    }
    n = rend_counter_format(v, 0, res->num);
    store(res, res->num, n, NULL, 0, old->flags, old->exptime);
    res->npad = old->ndata > n ? old->ndata - n : 0;
    res->nvalue = n + res->npad;
    op->out_number = v;
    return REND_OK;
}

/* Ops whose non-zero op->cas must still be the live item's (ABI minor 1). */
static int
checks_cas(int code)
{
    return code == REND_OP_DELETE || code == REND_OP_APPEND
           || code == REND_OP_PREPEND || code == REND_OP_INCR
           || code == REND_OP_DECR;
}

int
rend_kvop_apply(const struct rend_host *host, struct rend_op *op,
                const struct rend_kvop_item *old, uint64_t item_size_max,
                struct rend_kvop_res *res)
{
    int code = op->code;
    int st;

    memset(res, 0, sizeof(*res));
    if (old != NULL && op->cas != 0 && old->cas != op->cas
        && checks_cas(code)) {
        return REND_EXISTS;
    }
    switch (code) {
    case REND_OP_GET:
        return old != NULL ? rend_kvop_fill(host, op, old) : REND_MISS;
    case REND_OP_GAT:
    case REND_OP_TOUCH:
        if (old == NULL) {
            return code == REND_OP_GAT ? REND_MISS : REND_NOT_FOUND;
        }
        if (code == REND_OP_GAT) {
            st = rend_kvop_fill(host, op, old);
            if (st != REND_OK) {
                return st;
            }
            op->out_exptime = op->exptime < 0 ? -1 : op->exptime;
        }
        op->out_cas = old->cas; /* a touch keeps the cas, as memcached */
        res->act = REND_KVOP_TOUCH;
        res->flags = old->flags;
        res->exptime = op->exptime;
        return REND_OK;
    case REND_OP_SET:
        break;
    case REND_OP_ADD:
        if (old != NULL) {
            return REND_NOT_STORED;
        }
        break;
    case REND_OP_REPLACE:
        if (old == NULL) {
            return REND_NOT_STORED;
        }
        break;
    case REND_OP_CAS:
        if (old == NULL) {
            return REND_NOT_FOUND;
        }
        if (old->cas != op->cas) {
            return REND_EXISTS;
        }
        break;
    case REND_OP_APPEND:
    case REND_OP_PREPEND:
        if (old == NULL) {
            return REND_NOT_STORED;
        }
        if ((uint64_t)old->ndata + op->nvalue > item_size_max) {
            return REND_ETOOBIG;
        }
        if (code == REND_OP_APPEND) {
            store(res, old->data, old->ndata, op->value, op->nvalue,
                  old->flags, old->exptime);
        } else {
            store(res, op->value, op->nvalue, old->data, old->ndata,
                  old->flags, old->exptime);
        }
        return REND_OK;
    case REND_OP_DELETE:
        if (old == NULL) {
            return REND_NOT_FOUND;
        }
        res->act = REND_KVOP_DELETE;
        return REND_OK;
    case REND_OP_INCR:
    case REND_OP_DECR:
        if (old == NULL) {
            return REND_NOT_FOUND;
        }
        return arith(op, old, res);
    default:
        return REND_ENOTSUP;
    }
    /* SET, and ADD/REPLACE/CAS that passed their check */
    store(res, op->value, op->nvalue, NULL, 0, op->flags, op->exptime);
    return REND_OK;
}
