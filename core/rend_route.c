/*
 * rend_route.c - orchestrations.  Each key of a request runs one of these
 * state machines; see rend_route.h.
 *
 * L1-only: the op goes to L1, its outcome is the client's.  Binary
 * incr/decr with an initial value adds the initial value on a miss (and
 * retries the incr once if a concurrent add won).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rend_config.h"
#include "rend_plugin.h"
#include "rend_route.h"
#include "rend_util.h"

enum {
    ST_FIRST = 0,     /* the command's own op */
    ST_INCR_ADD,      /* binary incr miss: add the initial value */
    ST_INCR_RETRY,    /* the add lost a race: incr again */
};

/* Fill k->op's inputs from the request for op `code`. */
static void
set_inputs(struct rend_kop *k)
{
    const struct rend_req *r = k->req;
    struct rend_op *op = &k->op;

    op->value = r->value;
    op->nvalue = r->nvalue;
    op->flags = r->flags;
    op->exptime = r->exptime;
    op->cas = r->cas;
    op->delta = r->delta;
}

/* Keep op's results as the client's result. */
static void
capture(struct rend_kop *k)
{
    struct rend_op *op = &k->op;

    if (op->out_value != NULL) {
        free(k->value);
        k->value = op->out_value;
        k->nvalue = op->out_nvalue;
        op->out_value = NULL;
        op->out_nvalue = 0;
    }
    k->flags = op->out_flags;
    k->exptime = op->out_exptime;
    k->cas = op->out_cas;
    k->number = op->out_number;
}

static void
issue(struct rend_kop *k, struct rend_hinst *hi, int code)
{
    int st = rend_kop_issue(k, hi, code);

    if (st != REND_PENDING) {
        rend_route_step(k, st);
    }
}

static int
cmd_op(const struct rend_kop *k)
{
    return rend_cmd_table[k->req->cmd].op;
}

static void
l1only_step(struct rend_kop *k, int st)
{
    struct rend_req *r = k->req;

    switch (k->stage) {
    case ST_FIRST:
    case ST_INCR_RETRY:
        capture(k);
        if (st == REND_NOT_FOUND && k->stage == ST_FIRST
            && r->bin_incr_create) {
            size_t n = rend_u64toa(r->initial, r->numbuf);
            k->stage = ST_INCR_ADD;
            k->op.value = r->numbuf;
            k->op.nvalue = (uint32_t)n;
            k->op.flags = 0;
            k->op.exptime = r->bin_exptime;
            issue(k, k->route->l1, REND_OP_ADD);
            return;
        }
        rend_kop_finish(k, st);
        return;
    case ST_INCR_ADD:
        if (st == REND_NOT_STORED) {
            k->stage = ST_INCR_RETRY;
            set_inputs(k);
            issue(k, k->route->l1, cmd_op(k));
            return;
        }
        capture(k);
        k->number = r->initial;
        rend_kop_finish(k, st);
        return;
    default:
        rend_kop_finish(k, REND_EINTERNAL);
        return;
    }
}

void
rend_route_start(struct rend_kop *k)
{
    k->stage = ST_FIRST;
    set_inputs(k);
    switch (k->route->strategy) {
    case REND_ST_L1ONLY:
    default:
        issue(k, k->route->l1, cmd_op(k));
        break;
    }
}

void
rend_route_step(struct rend_kop *k, int status)
{
    switch (k->route->strategy) {
    case REND_ST_L1ONLY:
    default:
        l1only_step(k, status);
        break;
    }
}
