/*
 * rend_route.h - orchestrations: the per-key state machines that run a
 * request across the tiers of its route (L1-only, L1/L2, L1/L2 batch).
 * All run on the connection's worker thread; an op that returns
 * REND_PENDING resumes through rend_route_step when host->done fires.
 */
#ifndef REND_ROUTE_H
#define REND_ROUTE_H

#include "rend_req.h"

struct rend_hinst;

/* Begin k's orchestration (k->route, k->req and k->op.key are set). */
void rend_route_start(struct rend_kop *k);

/* 1 when route rt hands a set of key with nvalue bytes to one handler
 * that takes it piped (L1-only on a REND_CAP_PIPE_VALUE handler whose
 * pipe_ok agrees; rend_vpipe.h).  key NULL: whether any set on rt may be
 * piped (pipe_ok's probe). */
int rend_route_takes_pipe(const struct rend_route *rt, const char *key,
                          uint32_t nkey, uint32_t nvalue);
/* The op in flight for k finished with status. */
void rend_route_step(struct rend_kop *k, int status);

/* Issue k->op (code and inputs set by the caller) on handler hi.  Returns
 * the final status, or REND_PENDING. */
int rend_kop_issue(struct rend_kop *k, struct rend_hinst *hi, int code);
/* k is finished with the outcome the client sees. */
void rend_kop_finish(struct rend_kop *k, int status);
/* As rend_kop_finish for a kop that carried a whole relayed multi-get
 * (rend_relay.h): its per-key outcomes are counted by the caller. */
void rend_kop_finish_as_one(struct rend_kop *k, int status);

/* Issue REND_OP_GET_TEXT for the relayed multi-get on k (k->route set):
 * the keys as one space-separated span, their count, and opflags. */
void rend_route_start_relay(struct rend_kop *k, const char *keys,
                            uint32_t nkeys_len, uint32_t count,
                            uint16_t opflags);

#endif /* REND_ROUTE_H */
