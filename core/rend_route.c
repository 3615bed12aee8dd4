/*
 * rend_route.c - orchestrations.  Each key of a request runs one of these
 * state machines; see rend_route.h and the table in README.md
 * ("Orchestrations").
 *
 * L1-only: the op goes to L1; its outcome is the client's.
 *
 * L1/L2 (L2 is the source of truth, L1 a cache of it):
 *   get      L1.get; hit -> reply.  Miss (or L1 failure) -> L2.get; hit ->
 *            L1 copy with L2's flags and absolute expiry (a failed
 *            back-fill deletes the L1 key and never fails the request) ->
 *            reply.
 *   gets     L2.get (the cas a client may send back must be L2's), then
 *            back-fill L1 as above.
 *   gat      L1.gat; hit -> L2.touch; L2 has no such item -> the L1 copy is
 *            deleted, counted as an inconsistency, reply miss.  L1 miss ->
 *            L2.gat; hit -> L1 copy with the new expiry.
 *   gats     L2.gat, back-fill.
 *   set, add L2 first; if stored -> L1 copy (add too: L1 must not keep an
 *            older value than L2 just accepted).
 *   replace  L2 first; if stored -> L1 copy only over an existing one.
 *   append,
 *   prepend  L2 first; if stored -> the same op on L1 (a miss there is
 *            fine), or L1.delete when L1 keeps cas (below).
 *   cas      L2 first; if stored -> L1 copy, or L1.delete when L1 cannot
 *            keep cas.
 *   incr,
 *   decr     L2 only, then the L1 copy is deleted (its number would be
 *            stale).
 *   delete,
 *   touch    L2, then L1 (delete, also when L2 had no item (and for cas),
 *            so a stale L1 copy cannot outlive it).
 *   flush    L2, then L1.
 *   A failing L1 follow-up deletes the L1 key; the client gets L2's
 *   outcome.
 *
 * cas.  Every cas a client sees must be one L2 accepts (only L2 checks a
 * request cas; L1 follow-ups never carry it).  An "L1 copy" is a FILL
 * under L2's cas when the L1 handler has that op (inmem): then L1 hits
 * show L2's cas, and binary get/gat may be served by L1.  An L1 that
 * cannot give an item a chosen cas (memcached: its cas is its own) gets a
 * plain set, and every read that shows a cas (text gets/gats, any binary
 * get/gat) goes to L2 first, as gets does, and then adds no copy to L1
 * (such reads never look there; a gat refreshes an existing copy's
 * expiry).  An L2 answer "exists" also
 * deletes the L1 copy: a copy that lost a race of two writers may hold
 * an older cas, and a cas loop must not keep reading it.
 *
 * L1/L2 batch (bulk loads; never adds keys to L1): as L1/L2 except
 *   set, add,
 *   cas      L2, then an L1 copy only over an existing one.
 *   get      L1.get, miss -> L2.get, no back-fill.
 *   gat      L2.gat; hit -> L1.touch with the requested expiry.
 *
 * Binary incr/decr with an initial value (and meta ma N) adds it on a miss
 * (on the tier that owns the number), and retries the incr once if a
 * concurrent add won.  Meta ma T touches the item on that tier after the
 * incr/decr.  Meta mg N adds an empty item on a miss on the source of
 * truth (L1 on L1-only, L2 otherwise; W = this request added it).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rend_config.h"
#include "rend_conn.h"
#include "rend_hist.h"
#include "rend_lua.h"
#include "rend_plugin.h"
#include "rend_exec.h"
#include "rend_relay.h"
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
    S_VIVIFY,      /* meta mg N miss: add an empty item */
    S_VIVIFY_GET,  /* the add lost a race: read the winner's item */
    S_TOUCH_AFTER, /* meta ma T: set the ttl after the incr/decr */
    S_RELAY,       /* a relayed multi-get's one op (rend_relay.h) */
};

#define STATS(k) (&(k)->req->conn->w->st)

/* Fill k->op's inputs from the request. */
static void
set_inputs(struct rend_kop *k)
{
    const struct rend_req *r = k->req;
    struct rend_op *op = &k->op;

    op->opflags = 0;
    op->value = r->value;
    op->nvalue = r->nvalue;
    op->value_pipe = r->vpipe[0];
    op->value_npipe = r->npipe;
    op->flags = r->flags;
    op->exptime = r->exptime;
    op->cas = r->cas;
    op->delta = r->delta;
    /* binary touch answers flags only: the tiers need not read the value */
    op->opflags = r->cmd == REND_CMD_BTOUCH ? REND_OPF_NO_VALUE : 0;
}

/* Keep op's results as the client's result. */
static void
capture(struct rend_kop *k)
{
    struct rend_op *op = &k->op;

    if (op->out_value != NULL) {
        rend_kop_value_take(k);
    }
    k->flags = op->out_flags;
    k->exptime = op->out_exptime;
    k->cas = op->out_cas;
    k->number = op->out_number;
}

static void
drop_value(struct rend_kop *k)
{
    rend_kop_value_drop(k);
}

/* Issue op `code` on tier 1 or 2 of k's route. */
static void
issue(struct rend_kop *k, int tier, int code)
{
    struct rend_hinst *hi = tier == 2 ? k->route->l2 : k->route->l1;
    int st;

    REND_HIST_OP_ISSUE(k->req->conn->w, k); /* before k->tier changes */
    k->tier = (uint8_t)tier;
    if (tier == 2) {
        REND_STAT_INC(STATS(k), ops_l2);
    } else {
        REND_STAT_INC(STATS(k), ops_l1);
    }
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

/* Meta mg N on a miss: add an empty item with the N ttl on `tier` (the
 * source of truth); the request that stores it has won (W).  Returns 0
 * when the miss stands. */
static int
vivify(struct rend_kop *k, int tier)
{
    struct rend_req *r = k->req;

    if (!r->vivify || k->retried) {
        return 0;
    }
    k->stage = S_VIVIFY;
    k->op.value = "";
    k->op.nvalue = 0;
    k->op.flags = 0;
    k->op.exptime = r->bin_exptime;
    issue(k, tier, REND_OP_ADD);
    return 1;
}

/* The vivify add finished on `tier`. */
static void
vivify_step(struct rend_kop *k, int tier, int st)
{
    if (k->stage == S_VIVIFY && st == REND_NOT_STORED) {
        k->retried = 1; /* someone else created it: read theirs */
        k->stage = S_VIVIFY_GET;
        set_inputs(k);
        issue(k, tier, REND_OP_GET);
        return;
    }
    if (k->stage == S_VIVIFY && st == REND_OK) {
        capture(k);
        drop_value(k);
        k->flags = 0;
        k->exptime = k->req->bin_exptime;
        k->won = 1;
    } else if (st == REND_OK) {
        capture(k);
    }
    rend_kop_finish(k, st == REND_NOT_STORED ? REND_MISS : st);
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
        if (st == REND_MISS && k->stage == S_FIRST && vivify(k, 1)) {
            return;
        }
        capture(k);
        if (st == REND_OK && r->touch_after) {
            k->stage = S_TOUCH_AFTER;
            set_inputs(k);
            issue(k, 1, REND_OP_TOUCH);
            return;
        }
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
        k->won = st == REND_OK; /* meta ma N: created */
        rend_kop_finish(k, st);
        return;
    case S_VIVIFY:
    case S_VIVIFY_GET:
        vivify_step(k, 1, st);
        return;
    case S_TOUCH_AFTER:
        rend_kop_finish(k, REND_OK); /* the number changed either way */
        return;
    case S_RELAY:
        rend_relay_done(k, st);
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

/* L1 can hold a copy under L2's cas (it has the FILL op), so a cas read
 * from L1 is one L2 accepts. */
static int
l1_keeps_cas(const struct rend_kop *k)
{
    return k->route->l1->h.ops[REND_OP_FILL] != NULL;
}

/* The reply shows the client a cas it may send back: text gets/gats and
 * every binary get-family reply (a meta request asking for the cas, `c`,
 * belongs here too). */
static int
shows_cas(const struct rend_kop *k)
{
    int cmd = k->req->cmd;

    return cmd == REND_CMD_GETS || cmd == REND_CMD_GATS
           || k->req->proto == REND_PROTO_BINARY;
}

/* A read whose cas must come from L2 because L1's would not be L2's. */
static int
cas_from_l2(const struct rend_kop *k)
{
    return shows_cas(k) && !l1_keeps_cas(k);
}

/* Issue on L1 the store of a copy of k's item: FILL under L2's cas `cas`
 * when L1 can keep it, else `plain` (L1 picks its own cas). */
static void
store_copy_l1(struct rend_kop *k, int plain, int if_present, uint64_t cas)
{
    if (l1_keeps_cas(k)) {
        k->op.cas = cas;
        k->op.opflags = if_present ? REND_OPF_IF_PRESENT : 0;
        issue(k, 1, REND_OP_FILL);
    } else {
        k->op.cas = 0;
        issue(k, 1, plain);
    }
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
    store_copy_l1(k, REND_OP_SET, 0, k->cas);
}

/* Delete k's key in L1, then finish with `outcome`. */
static void
cleanup_l1(struct rend_kop *k, int outcome)
{
    k->decided = outcome;
    k->stage = S_L1_CLEANUP;
    k->op.cas = 0; /* whatever L1's copy is, it goes */
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

/* The L1 follow-up after L2 accepted a write (k holds L2's results, k->op
 * the request's inputs). */
static void
write_l1(struct rend_kop *k)
{
    int code = l1_followup(k);

    k->op.cas = 0; /* the request's cas was L2's to check */
    if (l1_keeps_cas(k)) {
        switch (cmd_op(k)) {
        case REND_OP_SET:
        case REND_OP_ADD:
        case REND_OP_CAS:
            store_copy_l1(k, code, batch(k), k->cas);
            return;
        case REND_OP_REPLACE:
            store_copy_l1(k, code, 1, k->cas);
            return;
        case REND_OP_APPEND:
        case REND_OP_PREPEND:
            code = REND_OP_DELETE; /* L1 would give it its own cas */
            break;
        default:
            break;
        }
    }
    issue(k, 1, code);
}

static void
l12_start(struct rend_kop *k)
{
    /* gets, gats, binary touch: the cas / flags come from L2 */
    int sot = (rend_cmd_table[k->req->cmd].flags & REND_CMD_SOT) != 0;

    switch (cmd_op(k)) {
    case REND_OP_GET:
        if (sot || cas_from_l2(k)) {
            k->stage = S_L2_GET;
            issue(k, 2, REND_OP_GET);
        } else {
            k->stage = S_L1_GET;
            issue(k, 1, REND_OP_GET);
        }
        return;
    case REND_OP_GAT:
        if (sot || batch(k) || cas_from_l2(k)) {
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

/* L1 answered the get: a hit is the answer; otherwise ask L2. */
static void
l12_after_l1_get(struct rend_kop *k, int st)
{
    struct rend_stats *s = STATS(k);

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
}

/* L2 answered the get (L1 missed, or the read wants L2's cas): back-fill
 * L1 with a hit, vivify a miss when asked. */
static void
l12_after_l2_get(struct rend_kop *k, int st)
{
    struct rend_stats *s = STATS(k);

    if (st == REND_OK) {
        REND_STAT_INC(s, cmd_get_hits_l2);
        capture(k);
        if (batch(k) || cas_from_l2(k)) {
            /* a read that bypassed L1 for its cas does not fill it
             * either: its kind would not read the copy */
            rend_kop_finish(k, REND_OK);
        } else {
            k->decided = REND_OK;
            fill_l1(k);
        }
        return;
    }
    if (st < 0) {
        REND_STAT_INC(s, cmd_get_errors_l2);
    } else {
        REND_STAT_INC(s, cmd_get_misses_l2);
        if (vivify(k, 2)) {
            return;
        }
    }
    rend_kop_finish(k, st < 0 ? st : REND_MISS);
}

/* The back-fill finished: the client has its answer either way (a failed
 * fill drops the L1 key). */
static void
l12_after_l1_fill(struct rend_kop *k, int st)
{
    struct rend_stats *s = STATS(k);

    if (st != REND_OK) {
        REND_STAT_INC(s, cmd_get_set_errors_l1);
        cleanup_l1(k, k->decided);
        return;
    }
    rend_kop_finish(k, k->decided);
}

/* L1 answered the gat: a hit is refreshed in L2 too; a miss is asked of
 * L2. */
static void
l12_after_l1_gat(struct rend_kop *k, int st)
{
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
}

/* L2 refreshed the expiry of an item L1 held: an L2 miss means L1 held a
 * copy L2 does not have. */
static void
l12_after_l2_touch(struct rend_kop *k, int st)
{
    struct rend_req *r = k->req;
    struct rend_stats *s = STATS(k);

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
}

/* L2 answered the gat: refresh or fill the L1 copy. */
static void
l12_after_l2_gat(struct rend_kop *k, int st)
{
    struct rend_req *r = k->req;

    if (st != REND_OK) {
        if (st == REND_MISS && r->cmd == REND_CMD_BTOUCH) {
            cleanup_l1(k, REND_MISS); /* as text touch: no stale copy */
            return;
        }
        if (st == REND_MISS && vivify(k, 2)) {
            return;
        }
        rend_kop_finish(k, st < 0 ? st : REND_MISS);
        return;
    }
    capture(k);
    if (k->exptime == 0 && r->exptime != 0) {
        k->exptime = r->exptime;
    }
    k->decided = REND_OK;
    if (batch(k) || r->cmd == REND_CMD_BTOUCH || cas_from_l2(k)) {
        /* binary touch, and a gat that bypassed L1 for its cas:
         * refresh an L1 copy's expiry, never add one */
        k->stage = S_L1_TOUCH;
        set_inputs(k);
        k->op.cas = 0;
        issue(k, 1, REND_OP_TOUCH);
    } else {
        fill_l1(k);
    }
}

/* An L1 copy's expiry was refreshed (or there was none): the answer
 * stands. */
static void
l12_after_l1_touch(struct rend_kop *k, int st)
{
    (void)st;
    rend_kop_finish(k, k->decided);
}

/* L2, the source of truth, answered a write: follow up on L1, or keep L1
 * from holding a stale copy. */
static void
l12_after_l2_write(struct rend_kop *k, int st)
{
    struct rend_req *r = k->req;

    if ((cmd_op(k) == REND_OP_INCR || cmd_op(k) == REND_OP_DECR)
        && st == REND_NOT_FOUND && r->bin_incr_create && !k->retried) {
        k->stage = S_L2_INCR_ADD;
        incr_add_inputs(k);
        issue(k, 2, REND_OP_ADD);
        return;
    }
    if (st != REND_OK) {
        if (st == REND_NOT_FOUND && (cmd_op(k) == REND_OP_DELETE
                                     || cmd_op(k) == REND_OP_TOUCH
                                     || cmd_op(k) == REND_OP_CAS)) {
            cleanup_l1(k, st); /* no stale L1 copy may remain */
            return;
        }
        if (st == REND_EXISTS) {
            /* the client's cas is not L2's: an L1 copy may be what
             * showed it, and must not show it again */
            cleanup_l1(k, st);
            return;
        }
        rend_kop_finish(k, st);
        return;
    }
    capture(k);
    k->decided = REND_OK;
    if (r->touch_after) {
        k->stage = S_TOUCH_AFTER;
        set_inputs(k);
        issue(k, 2, REND_OP_TOUCH);
        return;
    }
    k->stage = S_L1_WRITE;
    set_inputs(k);
    write_l1(k);
}

/* meta ma T: the ttl is set on L2; then L1 as after any incr/decr. */
static void
l12_after_touch_after(struct rend_kop *k, int st)
{
    (void)st;
    k->stage = S_L1_WRITE;
    set_inputs(k);
    write_l1(k);
}

/* Binary incr/decr with an initial value created (or lost the race to
 * create) the L2 item. */
static void
l12_after_l2_incr_add(struct rend_kop *k, int st)
{
    struct rend_req *r = k->req;

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
    k->won = 1; /* meta ma N: created */
    k->decided = REND_OK;
    k->stage = S_L1_WRITE;
    k->op.cas = 0;
    issue(k, 1, REND_OP_DELETE);
}

/* The L1 follow-up of a write finished: a failure drops the L1 key. */
static void
l12_after_l1_write(struct rend_kop *k, int st)
{
    if (st < 0 && k->op.code != REND_OP_DELETE
        && k->op.code != REND_OP_FLUSH) {
        cleanup_l1(k, k->decided);
        return;
    }
    rend_kop_finish(k, k->decided);
}

/* The L1 key was deleted after a failed follow-up: answer what was
 * decided. */
static void
l12_after_l1_cleanup(struct rend_kop *k, int st)
{
    (void)st;
    rend_kop_finish(k, k->decided);
}

/* meta mg N on L2: the empty item was added, or someone else's is read. */
static void
l12_after_vivify(struct rend_kop *k, int st)
{
    vivify_step(k, 2, st);
}

/* The L1/L2 (and batch) orchestration: one step per stage, each named for
 * what has just happened. */
static void (*const l12_after[])(struct rend_kop *, int) = {
    [S_L1_GET] = l12_after_l1_get,
    [S_L2_GET] = l12_after_l2_get,
    [S_L1_FILL] = l12_after_l1_fill,
    [S_L1_GAT] = l12_after_l1_gat,
    [S_L2_TOUCH] = l12_after_l2_touch,
    [S_L2_GAT] = l12_after_l2_gat,
    [S_L1_TOUCH] = l12_after_l1_touch,
    [S_L2_WRITE] = l12_after_l2_write,
    [S_TOUCH_AFTER] = l12_after_touch_after,
    [S_L2_INCR_ADD] = l12_after_l2_incr_add,
    [S_L1_WRITE] = l12_after_l1_write,
    [S_L1_CLEANUP] = l12_after_l1_cleanup,
    [S_VIVIFY] = l12_after_vivify,
    [S_VIVIFY_GET] = l12_after_vivify,
};

static void
l12_step(struct rend_kop *k, int st)
{
    if (k->stage < sizeof(l12_after) / sizeof(l12_after[0])
        && l12_after[k->stage] != NULL) {
        l12_after[k->stage](k, st);
        return;
    }
    rend_kop_finish(k, REND_EINTERNAL);
}

int
rend_route_takes_pipe(const struct rend_route *rt, const char *key,
                      uint32_t nkey, uint32_t nvalue)
{
    const struct rend_hinst *hi;

    if (rt == NULL || rt->strategy != REND_ST_L1ONLY || rt->l1 == NULL) {
        return 0;
    }
    hi = rt->l1;
    return (hi->h.caps & REND_CAP_PIPE_VALUE) != 0
           && (hi->h.pipe_ok == NULL || hi->inst == NULL
               || hi->h.pipe_ok(hi->inst, key, nkey, nvalue));
}

/* The hints (ABI minor 3) an L1-only mg may give: no cas unless it asked
 * for one (c makes it a gets), no expiry unless it shows the ttl (t) or
 * compares it (R).  A T (gat) sets the expiry and is left alone. */
static uint16_t
meta_get_opflags(const struct rend_req *r)
{
    uint16_t f = 0;

    if (r->cmd != REND_CMD_GET && r->cmd != REND_CMD_GETS) {
        return 0;
    }
    if (r->cmd == REND_CMD_GET) {
        f |= REND_OPF_NO_CAS;
    }
    if (!r->m.has_recache && memchr(r->m.ret, 't', r->m.nret) == NULL) {
        f |= REND_OPF_NO_EXPTIME;
    }
    return f;
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
    if (k->req->npipe > 0
        && !rend_route_takes_pipe(k->route, k->op.key, k->op.nkey,
                                  k->req->nvalue)) {
        /* routed elsewhere than when it was parsed (a reload): every tier
         * gets the whole value in memory */
        if (rend_req_unpipe(k->req) != 0) {
            rend_kop_finish(k, REND_ENOMEM);
            return;
        }
        set_inputs(k);
    }
    switch (k->route->strategy) {
    case REND_ST_L1L2:
    case REND_ST_L1L2_BATCH:
        l12_start(k);
        break;
    case REND_ST_L1ONLY:
    default:
        k->stage = S_FIRST;
        if (k->req->cmd == REND_CMD_GET && k->req->meta == 0) {
            /* get shows no expiry, and in text no cas (ABI minor 3); a
             * meta mg may ask for either (t, c) and asks the backend for
             * everything */
            k->op.opflags |= k->req->proto == REND_PROTO_TEXT
                                 ? REND_OPF_NO_CAS | REND_OPF_NO_EXPTIME
                                 : REND_OPF_NO_EXPTIME;
        } else if (k->req->cmd == REND_CMD_GETS && k->req->meta == 0) {
            k->op.opflags |= REND_OPF_NO_EXPTIME; /* text gets: no expiry */
        } else if (k->req->meta == REND_TX_MG) {
            k->op.opflags |= meta_get_opflags(k->req);
        }
        issue(k, 1, cmd_op(k));
        break;
    }
}

void
rend_route_start_relay(struct rend_kop *k, const char *keys,
                       uint32_t nkeys_len, uint32_t count, uint16_t opflags)
{
    struct rend_op *op = &k->op;

    set_inputs(k);
    op->value = keys;
    op->nvalue = nkeys_len;
    op->delta = count;
    op->opflags = (uint16_t)(opflags | REND_OPF_NO_EXPTIME);
    k->stage = S_RELAY;
    issue(k, 1, REND_OP_GET_TEXT);
}

void
rend_route_step(struct rend_kop *k, int status)
{
    REND_HIST_OP_DONE(k->req->conn->w, k);
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
