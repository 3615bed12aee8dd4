/*
 * rend_route.c - orchestrations.  Each key of a request runs one of these
 * state machines; see rend_route.h and the table in README.md
 * ("Orchestrations").
 *
 * L1-only: the op goes to L1; its outcome is the client's.
 *
 * L1/L2 (L2 is the source of truth, L1 a cache of it):
 *   get      L1.get; hit -> reply.  Miss (or L1 failure) -> L2.get; hit ->
 *            L1.set with L2's flags and absolute expiry (a failed back-fill
 *            deletes the L1 key and never fails the request) -> reply.
 *   gets     L2.get (the cas a client may send back must be L2's), then
 *            back-fill L1 as above.
 *   gat      L1.gat; hit -> L2.touch; L2 has no such item -> the L1 copy is
 *            deleted, counted as an inconsistency, reply miss.  L1 miss ->
 *            L2.gat; hit -> L1.set with the new expiry.
 *   gats     L2.gat, back-fill.
 *   set, add L2 first; if stored -> L1.set (add too: L1 must not keep an
 *            older value than L2 just accepted).
 *   replace,
 *   append,
 *   prepend  L2 first; if stored -> the same op on L1 (a miss there is fine).
 *   cas,
 *   incr,
 *   decr     L2 only, then the L1 copy is deleted (its cas / number would
 *            be stale).
 *   delete,
 *   touch    L2, then L1 (delete also when L2 had no item, so a stale L1
 *            copy cannot outlive it).
 *   flush    L2, then L1.
 *   A failing L1 follow-up deletes the L1 key; the client gets L2's
 *   outcome.
 *
 * L1/L2 batch (bulk loads; never adds keys to L1): as L1/L2 except
 *   set, add L2, then L1.replace (refreshes only keys L1 already holds).
 *   get      L1.get, miss -> L2.get, no back-fill.
 *   gat      L2.gat; hit -> L1.touch with the requested expiry.
 *
 * Binary incr/decr with an initial value adds it on a miss (on the tier
 * that owns the number), and retries the incr once if a concurrent add won.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rend_config.h"
#include "rend_conn.h"
#include "rend_hist.h"
#include "rend_lua.h"
#include "rend_plugin.h"
#include "rend_route.h"
#include "rend_stats.h"
#include "rend_util.h"
#include "rend_worker.h"

enum {
    S_FIRST = 0,   /* L1-only: the command's own op */
    S_INCR_ADD,    /* binary incr miss: add the initial value */
    S_INCR_RETRY,  /* the add lost a race: incr again */
    S_L1_GET,      /* L1/L2 read path */
    S_L2_GET,
    S_L1_FILL,     /* back-fill L1 from L2 */
    S_L1_GAT,
    S_L2_TOUCH,
    S_L2_GAT,
    S_L1_TOUCH,
    S_L2_WRITE,    /* the write on the source of truth */
    S_L2_INCR_ADD,
    S_L1_WRITE,    /* the follow-up on L1 */
    S_L1_CLEANUP,  /* delete the L1 key after a failed follow-up */
};

#define STATS(k) (&(k)->req->conn->w->st)

/* Fill k->op's inputs from the request. */
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
drop_value(struct rend_kop *k)
{
    free(k->value);
    k->value = NULL;
    k->nvalue = 0;
}

/* Issue op `code` on tier 1 or 2 of k's route. */
static void
issue(struct rend_kop *k, int tier, int code)
{
    struct rend_hinst *hi = tier == 2 ? k->route->l2 : k->route->l1;
    int st;

    k->tier = (uint8_t)tier;
    if (tier == 2) {
        REND_STAT_INC(STATS(k), ops_l2);
    } else {
        REND_STAT_INC(STATS(k), ops_l1);
    }
    REND_HIST_OP_ISSUE(k);
    st = rend_kop_issue(k, hi, code);
    if (st != REND_PENDING) {
        rend_route_step(k, st);
    }
}

static int
cmd_op(const struct rend_kop *k)
{
    return rend_cmd_table[k->req->cmd].op;
}

/* Prepare k->op to add the binary incr initial value. */
static void
incr_add_inputs(struct rend_kop *k)
{
    struct rend_req *r = k->req;
    size_t n = rend_u64toa(r->initial, r->numbuf);

    k->op.value = r->numbuf;
    k->op.nvalue = (uint32_t)n;
    k->op.flags = 0;
    k->op.exptime = r->bin_exptime;
}

/* ---- L1 only ------------------------------------------------------ */

/* The get family's L1 outcome, counted as on the L1/L2 path. */
static void
count_l1_get(struct rend_kop *k, int st)
{
    struct rend_stats *s = STATS(k);

    if (st == REND_OK) {
        REND_STAT_INC(s, cmd_get_hits_l1);
    } else if (st < 0) {
        REND_STAT_INC(s, cmd_get_errors_l1);
    } else {
        REND_STAT_INC(s, cmd_get_misses_l1);
    }
}

static void
l1only_step(struct rend_kop *k, int st)
{
    struct rend_req *r = k->req;

    switch (k->stage) {
    case S_FIRST:
    case S_INCR_RETRY:
        if (cmd_op(k) == REND_OP_GET) {
            count_l1_get(k, st);
        }
        capture(k);
        if (st == REND_NOT_FOUND && k->stage == S_FIRST
            && r->bin_incr_create) {
            k->stage = S_INCR_ADD;
            incr_add_inputs(k);
            issue(k, 1, REND_OP_ADD);
            return;
        }
        rend_kop_finish(k, st);
        return;
    case S_INCR_ADD:
        if (st == REND_NOT_STORED) {
            k->stage = S_INCR_RETRY;
            set_inputs(k);
            issue(k, 1, cmd_op(k));
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

/* ---- L1/L2 and L1/L2 batch ---------------------------------------- */

static int
batch(const struct rend_kop *k)
{
    return k->route->strategy == REND_ST_L1L2_BATCH;
}

/* Back-fill L1 with the value held in k (from L2). */
static void
fill_l1(struct rend_kop *k)
{
    k->stage = S_L1_FILL;
    k->op.value = k->value;
    k->op.nvalue = k->nvalue;
    k->op.flags = k->flags;
    k->op.exptime = k->exptime;
    REND_STAT_INC(STATS(k), cmd_get_set_l1);
    issue(k, 1, REND_OP_SET);
}

/* Delete k's key in L1, then finish with `outcome`. */
static void
cleanup_l1(struct rend_kop *k, int outcome)
{
    k->pend = outcome;
    k->stage = S_L1_CLEANUP;
    REND_STAT_INC(STATS(k), l1_invalidations);
    issue(k, 1, REND_OP_DELETE);
}

/* After L2 accepted a write: the L1 op that keeps L1 consistent. */
static int
l1_followup(const struct rend_kop *k)
{
    switch (cmd_op(k)) {
    case REND_OP_SET:
    case REND_OP_ADD:
        return batch(k) ? REND_OP_REPLACE : REND_OP_SET;
    case REND_OP_REPLACE:
        return REND_OP_REPLACE;
    case REND_OP_APPEND:
        return REND_OP_APPEND;
    case REND_OP_PREPEND:
        return REND_OP_PREPEND;
    case REND_OP_TOUCH:
        return REND_OP_TOUCH;
    case REND_OP_FLUSH:
        return REND_OP_FLUSH;
    default: /* cas, incr, decr, delete */
        return REND_OP_DELETE;
    }
}

static void
l12_start(struct rend_kop *k)
{
    int cmd = k->req->cmd;

    switch (cmd_op(k)) {
    case REND_OP_GET:
        if (cmd == REND_CMD_GETS) {
            k->stage = S_L2_GET;
            issue(k, 2, REND_OP_GET);
        } else {
            k->stage = S_L1_GET;
            issue(k, 1, REND_OP_GET);
        }
        return;
    case REND_OP_GAT:
        if (cmd == REND_CMD_GATS || cmd == REND_CMD_BTOUCH || batch(k)) {
            k->stage = S_L2_GAT;
            issue(k, 2, REND_OP_GAT);
        } else {
            k->stage = S_L1_GAT;
            issue(k, 1, REND_OP_GAT);
        }
        return;
    default:
        k->stage = S_L2_WRITE;
        issue(k, 2, cmd_op(k));
        return;
    }
}

static void
l12_step(struct rend_kop *k, int st)
{
    struct rend_req *r = k->req;
    struct rend_stats *s = STATS(k);

    switch (k->stage) {
    case S_L1_GET:
        if (st == REND_OK) {
            REND_STAT_INC(s, cmd_get_hits_l1);
            capture(k);
            rend_kop_finish(k, REND_OK);
            return;
        }
        if (st < 0) {
            REND_STAT_INC(s, cmd_get_errors_l1);
        } else {
            REND_STAT_INC(s, cmd_get_misses_l1);
        }
        k->stage = S_L2_GET;
        set_inputs(k);
        issue(k, 2, REND_OP_GET);
        return;
    case S_L2_GET:
        if (st == REND_OK) {
            REND_STAT_INC(s, cmd_get_hits_l2);
            capture(k);
            if (batch(k)) {
                rend_kop_finish(k, REND_OK);
            } else {
                k->pend = REND_OK;
                fill_l1(k);
            }
            return;
        }
        if (st < 0) {
            REND_STAT_INC(s, cmd_get_errors_l2);
        } else {
            REND_STAT_INC(s, cmd_get_misses_l2);
        }
        rend_kop_finish(k, st < 0 ? st : REND_MISS);
        return;
    case S_L1_FILL:
        if (st != REND_OK) {
            REND_STAT_INC(s, cmd_get_set_errors_l1);
            cleanup_l1(k, k->pend);
            return;
        }
        rend_kop_finish(k, k->pend);
        return;
    case S_L1_GAT:
        if (st == REND_OK) {
            capture(k);
            k->stage = S_L2_TOUCH;
            set_inputs(k);
            issue(k, 2, REND_OP_TOUCH);
            return;
        }
        k->stage = S_L2_GAT;
        set_inputs(k);
        issue(k, 2, REND_OP_GAT);
        return;
    case S_L2_TOUCH:
        if (st == REND_OK) {
            k->exptime = r->exptime;
            rend_kop_finish(k, REND_OK);
        } else if (st == REND_NOT_FOUND) {
            /* L1 held an item L2 does not have */
            REND_STAT_INC(s, inconsistency_detected);
            drop_value(k);
            cleanup_l1(k, REND_MISS);
        } else {
            rend_kop_finish(k, st);
        }
        return;
    case S_L2_GAT:
        if (st != REND_OK) {
            if (st == REND_MISS && r->cmd == REND_CMD_BTOUCH) {
                cleanup_l1(k, REND_MISS); /* as text touch: no stale copy */
                return;
            }
            rend_kop_finish(k, st < 0 ? st : REND_MISS);
            return;
        }
        capture(k);
        if (k->exptime == 0 && r->exptime != 0) {
            k->exptime = r->exptime;
        }
        k->pend = REND_OK;
        if (batch(k) || r->cmd == REND_CMD_BTOUCH) {
            /* binary touch: refresh an L1 copy, never add one */
            k->stage = S_L1_TOUCH;
            set_inputs(k);
            issue(k, 1, REND_OP_TOUCH);
        } else {
            fill_l1(k);
        }
        return;
    case S_L1_TOUCH:
        rend_kop_finish(k, k->pend);
        return;
    case S_L2_WRITE:
        if ((cmd_op(k) == REND_OP_INCR || cmd_op(k) == REND_OP_DECR)
            && st == REND_NOT_FOUND && r->bin_incr_create && !k->retried) {
            k->stage = S_L2_INCR_ADD;
            incr_add_inputs(k);
            issue(k, 2, REND_OP_ADD);
            return;
        }
        if (st != REND_OK) {
            if (st == REND_NOT_FOUND && (cmd_op(k) == REND_OP_DELETE
                                         || cmd_op(k) == REND_OP_TOUCH)) {
                cleanup_l1(k, st); /* no stale L1 copy may remain */
                return;
            }
            rend_kop_finish(k, st);
            return;
        }
        capture(k);
        k->pend = REND_OK;
        k->stage = S_L1_WRITE;
        set_inputs(k);
        issue(k, 1, l1_followup(k));
        return;
    case S_L2_INCR_ADD:
        if (st == REND_NOT_STORED) {
            k->retried = 1;
            k->stage = S_L2_WRITE;
            set_inputs(k);
            issue(k, 2, cmd_op(k));
            return;
        }
        if (st != REND_OK) {
            rend_kop_finish(k, st);
            return;
        }
        capture(k);
        k->number = r->initial;
        k->pend = REND_OK;
        k->stage = S_L1_WRITE;
        issue(k, 1, REND_OP_DELETE);
        return;
    case S_L1_WRITE:
        if (st < 0 && k->op.code != REND_OP_DELETE
            && k->op.code != REND_OP_FLUSH) {
            cleanup_l1(k, k->pend);
            return;
        }
        rend_kop_finish(k, k->pend);
        return;
    case S_L1_CLEANUP:
        rend_kop_finish(k, k->pend);
        return;
    default:
        rend_kop_finish(k, REND_EINTERNAL);
        return;
    }
}

void
rend_route_start(struct rend_kop *k)
{
    set_inputs(k);
    if (k->route->strategy == REND_ST_LUA) {
        struct rend_worker *w = k->req->conn->w;
        k->route = w->lua == NULL ? NULL
                   : rend_lua_pick(w->lua, k->route,
                                   rend_cmd_table[k->req->cmd].name,
                                   k->op.key, k->op.nkey);
        if (k->route == NULL) {
            rend_kop_finish(k, REND_EINTERNAL);
            return;
        }
    }
    switch (k->route->strategy) {
    case REND_ST_L1L2:
    case REND_ST_L1L2_BATCH:
        l12_start(k);
        break;
    case REND_ST_L1ONLY:
    default:
        k->stage = S_FIRST;
        issue(k, 1, cmd_op(k));
        break;
    }
}

void
rend_route_step(struct rend_kop *k, int status)
{
    REND_HIST_OP_DONE(k->req->conn->w->id, k);
    if (status < 0) { /* a tier failed, whatever the route kind */
        if (k->tier == 2) {
            REND_STAT_INC(STATS(k), errors_l2);
        } else {
            REND_STAT_INC(STATS(k), errors_l1);
        }
    }
    switch (k->route->strategy) {
    case REND_ST_L1L2:
    case REND_ST_L1L2_BATCH:
        l12_step(k, status);
        break;
    case REND_ST_L1ONLY:
    default:
        l1only_step(k, status);
        break;
    }
}
