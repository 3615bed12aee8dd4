/*
 * rend_kvop.h - memcached's op semantics over a get-modify-put, for a
 * store that keeps whole items (the lmdb and rocksdb handlers): given the
 * live item an op finds (or none) and the op, what the op answers and what
 * the store must write.  No I/O, no locks, no allocation except the result
 * value of a GET/GAT hit (host->value_alloc).
 *
 * The store's part around rend_kvop_apply: find the key's live item
 * (expired and flushed items are none), call it, and on REND_OK do what
 * res->act says; on STORE give the item a new cas and set op->out_cas to
 * it.  FLUSH (and FILL) stay the store's own: REND_ENOTSUP here.
 */
#ifndef REND_KVOP_H
#define REND_KVOP_H

#include <stddef.h>
#include <stdint.h>

#include <rend/handler.h>

/* A live item as the store found it; data stays the store's. */
struct rend_kvop_item {
    const char *data;
    size_t ndata;
    uint32_t flags;
    int64_t exptime;
    uint64_t cas;
};

enum rend_kvop_act {
    REND_KVOP_KEEP = 0, /* nothing to write */
    REND_KVOP_STORE,    /* write the new value (below) under a new cas */
    REND_KVOP_TOUCH,    /* same value and cas, expiry becomes res->exptime */
    REND_KVOP_DELETE,   /* remove the item */
};

struct rend_kvop_res {
    int act;              /* enum rend_kvop_act */
    uint32_t flags;       /* STORE: the item's flags */
    int64_t exptime;      /* STORE, TOUCH: the item's expiry */
    /* STORE: the value is head, then tail, then npad spaces (nvalue in
     * all).  head and tail point into the op, the old item or num: valid
     * while those are and res is. */
    const char *head, *tail;
    size_t nhead, ntail, npad, nvalue;
    char num[24];         /* INCR/DECR: the new number's digits */
};

/*
 * Decide op against old (NULL: no live item).  Returns the op's status
 * (handler.h's table, REND_ETOOBIG when an append would pass
 * item_size_max, REND_ENOMEM when a hit's value cannot be allocated);
 * res->act is KEEP unless it is REND_OK.  GET and GAT hits are filled in
 * here (rend_kvop_fill), INCR/DECR set op->out_number, TOUCH and GAT set
 * op->out_cas to the (kept) cas.  Any thread.
 */
int rend_kvop_apply(const struct rend_host *host, struct rend_op *op,
                    const struct rend_kvop_item *old, uint64_t item_size_max,
                    struct rend_kvop_res *res);

/* Write a STORE's value (res->nvalue bytes) into dst. */
void rend_kvop_value(const struct rend_kvop_res *res, char *dst);

/* 1 when a STORE's value is exactly op->value (the store may keep
 * pointing at it instead of copying while the op is alive). */
static inline int
rend_kvop_is_op_value(const struct rend_kvop_res *res,
                      const struct rend_op *op)
{
    return res->head == op->value && res->nvalue == res->nhead;
}

/* A hit into op: out_flags, out_exptime, out_cas and, unless
 * REND_OPF_NO_VALUE, a copy of the value.  REND_OK or REND_ENOMEM. */
int rend_kvop_fill(const struct rend_host *host, struct rend_op *op,
                   const struct rend_kvop_item *it);

/* The ops table (struct rend_handler's .ops) of such a store: GET is
 * `get`, every other op goes to `write` (its writer, which applies the
 * op with rend_kvop_apply). */
#define REND_KVOP_OPS(get, write)                                            \
    {                                                                        \
        [REND_OP_GET] = (get), [REND_OP_GAT] = (write),                      \
        [REND_OP_TOUCH] = (write), [REND_OP_SET] = (write),                  \
        [REND_OP_ADD] = (write), [REND_OP_REPLACE] = (write),                \
        [REND_OP_APPEND] = (write), [REND_OP_PREPEND] = (write),             \
        [REND_OP_CAS] = (write), [REND_OP_DELETE] = (write),                 \
        [REND_OP_INCR] = (write), [REND_OP_DECR] = (write),                  \
        [REND_OP_FLUSH] = (write),                                           \
    }

#endif /* REND_KVOP_H */
