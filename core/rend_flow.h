/*
 * rend_flow.h - flow control: how much one client connection may have
 * in flight and in memory.
 *
 * A connection's budget is REND_OUT_HIGH bytes of replies: output not yet
 * written, values finished but not yet formatted (held), and an estimate
 * for the key ops still in flight (their count times the connection's
 * recent large value size).  At most REND_CONN_KOPS_MAX key ops of one
 * connection are in flight at a time, whatever the handler, so a client
 * that does not read its replies cannot consume a backend's capacity; a
 * connection starts with REND_CONN_KOPS_START and opens the window as ops
 * come back, and shrinks it again when a value is larger than expected.
 *
 * Parsing stops while the budget is used up (the connection stops
 * reading).  A multi-key request issues its keys as the budget allows;
 * a text multi-get (or a folded binary GetQ/GetKQ batch) at the head of
 * the queue streams its values out as they arrive, so one `get k1 ... kN`
 * of large values costs the budget plus one item, not N items.  The request at the head of the queue may
 * always have one key op in flight, so the connection always moves.
 */
#ifndef REND_FLOW_H
#define REND_FLOW_H

#include <stddef.h>

#include "rend_req.h"

#define REND_CONN_KOPS_MAX 128  /* key ops in flight per connection */
#define REND_CONN_KOPS_START 4  /* ... before anything has come back */

struct rend_conn;

/* May c parse (and start) another request now? */
int rend_flow_may_parse(const struct rend_conn *c);
/* r has started: issue its keys as the budget allows (called by the
 * executor once; the rest are issued by rend_flow_pump). */
void rend_flow_issue(struct rend_conn *c, struct rend_req *r);
/* Key op k of r finished (before r->kops_left drops). */
void rend_flow_kop_finished(struct rend_conn *c, struct rend_req *r,
                            struct rend_kop *k);
/* A key op finished without completing its request: let c move on
 * (streams output, issues more keys, writes) unless c is busy already. */
void rend_flow_progress(struct rend_conn *c);
/* Issue more keys of c's partly issued requests and stream the head's
 * finished values; requests completed here are left for the caller to
 * emit.  Closed connections drop their unissued keys. */
void rend_flow_pump(struct rend_conn *c);

#endif /* REND_FLOW_H */
