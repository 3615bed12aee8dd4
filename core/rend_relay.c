/*
 * rend_relay.c - relayed multi-gets; see rend_relay.h.
 */
#include "config.h"

#include <string.h>

#include "rend_config.h"
#include "rend_conn.h"
#include "rend_exec.h"
#include "rend_flow.h"
#include "rend_plugin.h"
#include "rend_relay.h"
#include "rend_route.h"
#include "rend_stats.h"
#include "rend_worker.h"

/* The one route every key of r takes, when it is L1-only to a handler
 * that relays text multi-gets; else NULL. */
static const struct rend_route *
relay_route(const struct rend_conn *c, const struct rend_req *r)
{
    const struct rend_routes *rs = &r->gen->listeners[c->listener].routes;
    const struct rend_route *rt =
        rend_routes_find(rs, r->cmd, r->kops[0].op.key, r->kops[0].op.nkey);
    const struct rend_hinst *hi;

    if (rt == NULL || rt->strategy != REND_ST_L1ONLY || rt->l1 == NULL) {
        return NULL;
    }
    hi = rt->l1;
    if (hi->h.abi_minor < 5 || hi->h.ops[REND_OP_GET_TEXT] == NULL) {
        return NULL;
    }
    for (uint32_t i = 1; i < r->nkeys && rs->nprefixes > 0; i++) {
        if (rend_routes_find(rs, r->cmd, r->kops[i].op.key,
                             r->kops[i].op.nkey) != rt) {
            return NULL;
        }
    }
    return rt;
}

/* The keys as one span with single spaces between them (where the parser
 * or rend_req_own left them), or NULL when they are not laid out so. */
static const char *
key_span(const struct rend_req *r, uint32_t *len)
{
    const struct rend_op *first = &r->kops[0].op, *prev = first;

    for (uint32_t i = 1; i < r->nkeys; i++) {
        const struct rend_op *op = &r->kops[i].op;
        if (op->key != prev->key + prev->nkey + 1
            || prev->key[prev->nkey] != ' ') {
            return NULL;
        }
        prev = op;
    }
    *len = (uint32_t)(prev->key + prev->nkey - first->key);
    return first->key;
}

int
rend_relay_start(struct rend_conn *c, struct rend_req *r)
{
    const struct rend_route *rt;
    struct rend_kop *k = &r->kops[0];
    const char *span;
    uint32_t nspan;

    if (r->proto != REND_PROTO_TEXT || r->meta != 0 || r->nkeys < 2
        || (r->cmd != REND_CMD_GET && r->cmd != REND_CMD_GETS)
        || (rt = relay_route(c, r)) == NULL
        || (span = key_span(r, &nspan)) == NULL) {
        return 0;
    }
    r->relay = 1;
    r->nissued = r->nkeys; /* the flow control issues none of them */
    r->kops_left = 1;      /* the relay op on kops[0] */
    c->kflight++;
    k->route = rt;
    rend_route_start_relay(k, span, nspan, r->nkeys,
                           r->cmd == REND_CMD_GET ? REND_OPF_NO_CAS : 0);
    return 1;
}

/* Declined: run the keys one by one, from the start. */
static void
fall_back(struct rend_kop *k)
{
    struct rend_req *r = k->req;
    struct rend_conn *c = r->conn;

    REND_STAT_INC(&c->w->st, gets_relay_declined);
    rend_op_value_drop(&k->op);
    memset(&k->op.out_flags, 0,
           sizeof(k->op) - offsetof(struct rend_op, out_flags));
    k->stage = 0;
    k->tier = 0;
    c->kflight--;
    r->relay = 0;
    r->nissued = 0;
    r->kops_left = r->nkeys + 1;
    rend_flow_issue(c, r);
}

void
rend_relay_done(struct rend_kop *k, int status)
{
    struct rend_req *r = k->req;
    struct rend_stats *st = &r->conn->w->st;
    uint64_t hits;

    if (status == REND_ENOTSUP) {
        fall_back(k);
        return;
    }
    REND_STAT_INC(st, gets_relayed);
    if (status < 0) {
        REND_STAT_ADD(st, cmd_get_errors_l1, r->nkeys);
        rend_kop_finish_as_one(k, status);
        return;
    }
    if (k->op.out_value != NULL) {
        rend_kop_value_take(k);
    }
    hits = k->op.out_number < r->nkeys ? k->op.out_number : r->nkeys;
    REND_STAT_ADD(st, get_hits, hits);
    REND_STAT_ADD(st, get_misses, r->nkeys - hits);
    REND_STAT_ADD(st, cmd_get_hits_l1, hits);
    REND_STAT_ADD(st, cmd_get_misses_l1, r->nkeys - hits);
    rend_kop_finish_as_one(k, REND_OK);
}
