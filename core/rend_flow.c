/*
 * rend_flow.c - per-connection flow control; see rend_flow.h.
 */
#include "config.h"

#include "rend_conn.h"
#include "rend_exec.h"
#include "rend_flow.h"
#include "rend_proto.h"
#include "rend_settings.h"

static size_t
budget_used(const struct rend_conn *c)
{
    return c->unsent + c->held + (size_t)c->kflight * c->big;
}

/* Key ops a connection may have in flight: a slow start from
 * REND_CONN_KOPS_START, growing by one per finished op, back to the start
 * whenever a value turns out larger than the estimate. */
static uint32_t
window(const struct rend_conn *c)
{
    uint32_t w = REND_CONN_KOPS_START + c->kwin;

    return w < REND_CONN_KOPS_MAX ? w : REND_CONN_KOPS_MAX;
}

int
rend_flow_may_parse(const struct rend_conn *c)
{
    return c->kflight < window(c) && budget_used(c) < REND_OUT_HIGH;
}

/* A text retrieval of several keys, or a folded binary get: its values
 * may go out before it is complete, while it is the oldest request of the
 * connection. */
static int
streamable(const struct rend_conn *c, const struct rend_req *r)
{
    if (r->nkeys <= 1 || r->relay || c->qhead != r || c->closed) {
        return 0;
    }
    if (r->proto == REND_PROTO_BINARY) {
        return r->bin_fold;
    }
    return r->cmd == REND_CMD_GET || r->cmd == REND_CMD_GETS
           || r->cmd == REND_CMD_GETE || r->cmd == REND_CMD_GAT
           || r->cmd == REND_CMD_GATS;
}

/* Format r's finished leading keys, in order, and release their held
 * bytes from the budget. */
static void
stream_out(struct rend_conn *c, struct rend_req *r)
{
    while (r->nemitted < r->nkeys && r->kops[r->nemitted].done) {
        struct rend_kop *k = &r->kops[r->nemitted++];
        if (k->value != NULL) {
            r->held -= k->nvalue;
            c->held -= k->nvalue;
        }
        if (c->closed) {
            continue;
        }
        if (r->proto == REND_PROTO_BINARY) {
            rend_bin_format_kop(c, r, k);
        } else {
            rend_text_format_kop(c, r, k);
        }
    }
}

/* Key ops of r issued and not finished. */
static uint32_t
own_flight(const struct rend_req *r)
{
    uint32_t finished = r->nkeys + r->guard - r->kops_left;

    return r->nissued - finished;
}

static int
may_issue(const struct rend_conn *c, const struct rend_req *r)
{
    if (c->qhead == r && own_flight(r) == 0) {
        /* The oldest request moves whenever its output drains, whatever
         * later requests hold (they wait for it). */
        return c->unsent < REND_OUT_HIGH;
    }
    return rend_flow_may_parse(c);
}

/* Give up r's keys not yet issued (closed connection, out of memory). */
static void
drop_unissued(struct rend_req *r, int status)
{
    while (r->nissued < r->nkeys) {
        struct rend_kop *k = &r->kops[r->nissued++];
        k->status = status;
        k->done = 1;
        r->kops_left--;
    }
}

/* Issue what the budget allows; drop the guard once every key is out. */
static void
issue_more(struct rend_conn *c, struct rend_req *r)
{
    if (r->pumping || !r->guard) {
        return;
    }
    r->pumping = 1;
    while (r->nissued < r->nkeys) {
        struct rend_kop *k;
        if (c->closed) {
            drop_unissued(r, REND_EIO);
            break;
        }
        if (streamable(c, r)) {
            stream_out(c, r);
        }
        if (!may_issue(c, r)) {
            break;
        }
        k = &r->kops[r->nissued++];
        c->kflight++;
        rend_exec_issue_key(r, k);
    }
    if (streamable(c, r)) {
        stream_out(c, r);
    }
    if (r->nissued < r->nkeys && !r->owned && rend_req_own(r) != 0) {
        /* it waits for budget: its keys must not point into the input */
        drop_unissued(r, REND_ENOMEM);
    }
    r->pumping = 0;
    if (r->nissued == r->nkeys) {
        r->guard = 0;
        c->nstalled--;
        if (--r->kops_left == 0) {
            rend_exec_complete(r);
        }
    }
}

void
rend_flow_issue(struct rend_conn *c, struct rend_req *r)
{
    r->guard = 1;
    c->nstalled++;
    issue_more(c, r);
}

void
rend_flow_kop_finished(struct rend_conn *c, struct rend_req *r,
                       struct rend_kop *k)
{
    c->kflight--;
    if (k->value != NULL) {
        r->held += k->nvalue;
        c->held += k->nvalue;
    }
    if (k->value != NULL && k->nvalue > c->big && !r->relay) {
        /* (a relayed reply holds many values: no estimate of one) */
        c->big = k->nvalue;
        c->kwin = 0;
    } else {
        c->big -= c->big / 256; /* forget an old large value slowly */
        if (c->kwin < REND_CONN_KOPS_MAX) {
            c->kwin++;
        }
    }
}

void
rend_flow_pump(struct rend_conn *c)
{
    struct rend_req *r, *next;
    uint8_t saved;

    if (c->pumping) {
        return;
    }
    c->pumping = 1;
    saved = c->in_process;
    c->in_process = 1; /* completions here are emitted by the caller */
    for (r = c->qhead; r != NULL && c->nstalled > 0; r = next) {
        next = r->next;
        if (r->started && r->guard) {
            issue_more(c, r);
        }
    }
    if (c->qhead != NULL && !c->qhead->complete && streamable(c, c->qhead)) {
        stream_out(c, c->qhead);
    }
    c->in_process = saved;
    c->pumping = 0;
}
