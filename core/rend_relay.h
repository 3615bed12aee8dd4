/*
 * rend_relay.h - relayed multi-gets: a text get/gets of several keys that
 * all take one L1-only route to a handler with REND_OP_GET_TEXT (ABI
 * minor 5) goes to it as one op, and its reply (the hits' VALUE blocks,
 * as memcached writes them) goes to the client as it came.  One route
 * step, one op and one completion per request instead of per key.
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

#endif /* REND_RELAY_H */
