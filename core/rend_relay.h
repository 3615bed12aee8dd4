/*
 * rend_relay.h - relayed multi-gets: a text get/gets of several keys that
 * all take one L1-only route to a handler with REND_OP_GET_TEXT (ABI
 * minor 5) goes to it as one op, and its reply (the hits' VALUE blocks,
 * as memcached writes them) goes to the client as it came.  One route
 * step, one op and one completion per request instead of per key.
 *
 * A folded binary batch of gets (rend_req.bin_fold) is relayed too, as a
 * `gets`: its packets are answered from the blocks, matched to its keys
 * in order (rend_relay_next_block).
 *
 * The op rides on the request's first key op (kops[0]); the request's
 * other key ops are never issued.  A handler that declines (REND_ENOTSUP)
 * gets the keys one by one instead, as if the relay had never been tried.
 * Worker thread only.
 */
#ifndef REND_RELAY_H
#define REND_RELAY_H

#include "rend_req.h"

struct rend_conn;

/* Start r (set up by rend_exec_start) as a relayed multi-get when it can
 * be one.  1: started (its completion finishes r), 0: run it key by key. */
int rend_relay_start(struct rend_conn *c, struct rend_req *r);

/* The relay op on k (r->kops[0]) finished with status. */
void rend_relay_done(struct rend_kop *k, int status);

/* One block of a relayed reply: "VALUE <key> <flags> <bytes>[ <cas>]\r\n"
 * and its data; pointers into the reply. */
struct rend_relay_block {
    const char *key, *data;
    uint32_t nkey, ndata, flags;
    uint64_t cas;
};

/* Parse the block at *p (before end) into b and move *p past it.  1, or 0
 * at the end or on anything malformed (*p unchanged). */
int rend_relay_next_block(const char **p, const char *end,
                          struct rend_relay_block *b);

/* The blocks of a relayed reply matched to the request's keys, in order:
 * rend_relay_match_init on kops[0]'s value, then rend_relay_match once per
 * key op, in key order: the key's block, or NULL when the key missed. */
struct rend_relay_match {
    const char *p, *end;
    struct rend_relay_block b;
    int have;                   /* b is read and not matched yet */
};
void rend_relay_match_init(struct rend_relay_match *m,
                           const struct rend_kop *k0);
const struct rend_relay_block *
rend_relay_match(struct rend_relay_match *m, const struct rend_kop *k);

#endif /* REND_RELAY_H */
