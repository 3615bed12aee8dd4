/*
 * rend_exec.h - request objects and their execution: route lookup, the
 * orchestration state machines (rend_route.c) and completion.
 */
#ifndef REND_EXEC_H
#define REND_EXEC_H

#include "rend_req.h"

struct rend_conn;

/* A fresh request for c (from the worker's pool). */
struct rend_req *rend_req_new(struct rend_conn *c);
/* Size the per-key array for n keys (1 uses the inline kop).  0 or -1. */
int rend_req_set_keys(struct rend_req *r, uint32_t n);
/* Copy keys, value and arg into r->mem so r no longer points into the
 * connection's input; a large value still in the input buffer instead
 * takes that buffer as r->mem (see rend_req.h).  0 or -1 (out of
 * memory). */
int rend_req_own(struct rend_req *r);
/* Free r and everything it owns (back to the worker's pool). */
void rend_req_free(struct rend_req *r);
/* At worker exit (its loop stopped, no request left): free the worker's
 * spare requests and spare key-op arrays. */
struct rend_worker;
void rend_req_pools_free(struct rend_worker *w);

/* Result values are malloc'd (host->value_alloc) or lent by the handler
 * (host->value_ref, released with a callback on this worker thread).
 * drop: free or release op's out_value / k's value (none is fine).
 * take: k's value becomes op's out_value (k's old one dropped first). */
void rend_op_value_release(struct rend_op *op);
void rend_kop_value_release(struct rend_kop *k);
void rend_kop_value_take(struct rend_kop *k);

static inline void
rend_op_value_drop(struct rend_op *op)
{
    if (op->out_value != NULL || op->out_release != NULL) {
        rend_op_value_release(op);
    } else {
        op->out_nvalue = 0;
    }
}

static inline void
rend_kop_value_drop(struct rend_kop *k)
{
    if (k->value != NULL || k->vrelease != NULL) {
        rend_kop_value_release(k);
    } else {
        k->nvalue = 0;
    }
}
/* Make r a complete local reply: text is a static string (or owned when
 * owned != 0), status is the binary status. */
void rend_req_reply(struct rend_req *r, const char *text, int owned,
                    int status);
/* Complete r with a failure status before it started. */
void rend_req_fail(struct rend_req *r, int status);

/* Could executing r wait for an async handler? */
int rend_exec_may_pend(struct rend_conn *c, struct rend_req *r);
/* Execute r; calls rend_conn_req_done when complete (maybe at once). */
void rend_exec_start(struct rend_conn *c, struct rend_req *r);

/* Start key op k of r (rend_flow.c decides when). */
void rend_exec_issue_key(struct rend_req *r, struct rend_kop *k);
/* r's last pending op is done: answer it. */
void rend_exec_complete(struct rend_req *r);

/* The host API given to plugins (rend_exec.c). */
extern const struct rend_host rend_host_api;

#endif /* REND_EXEC_H */
