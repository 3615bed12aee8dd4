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
#include "rend_util.h"
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

/* Bytes no text key holds: <= 0x20 and 0x7f. */
static const unsigned char not_text[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,
    [0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1,
    [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1,
    [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
    [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1,
    [0x1e] = 1, [0x1f] = 1, [0x20] = 1, [0x7f] = 1,
};

/* 1 when every key of a binary request is a text key: 1..250 bytes, no
 * byte <= 0x20 nor 0x7f (a text key list cannot carry others). */
static int
keys_textual(const struct rend_req *r)
{
    unsigned bad = 0;

    for (uint32_t i = 0; i < r->nkeys; i++) {
        const unsigned char *p = (const unsigned char *)r->kops[i].op.key;
        uint32_t n = r->kops[i].op.nkey;
        bad |= n == 0 || n > REND_KEY_MAX;
        for (uint32_t j = 0; j < n; j++) {
            bad |= not_text[p[j]];
        }
    }
    return bad == 0;
}

/* Which multi-gets may be relayed, and whether they want the cas: text
 * get (no cas) and gets, folded mg lines that ask for no ttl (with c: the
 * cas), and folded binary gets (the cas). */
static int
relayable(const struct rend_req *r, uint16_t *opflags)
{
    if (r->nkeys < 2) {
        return 0;
    }
    if (r->proto == REND_PROTO_TEXT) {
        *opflags = r->cmd == REND_CMD_GET ? REND_OPF_NO_CAS : 0;
        if (r->meta != 0 && (!r->meta_fold
                             || memchr(r->m.ret, 't', r->m.nret) != NULL)) {
            return 0; /* one mg, or a fold asking for ttls (t) */
        }
        return r->cmd == REND_CMD_GET || r->cmd == REND_CMD_GETS;
    }
    *opflags = 0;
    return r->proto == REND_PROTO_BINARY && r->bin_fold
           && r->cmd == REND_CMD_GET && keys_textual(r);
}

int
rend_relay_start(struct rend_conn *c, struct rend_req *r)
{
    const struct rend_route *rt;
    struct rend_kop *k = &r->kops[0];
    const char *span;
    uint32_t nspan;
    uint16_t opflags = 0;

    if (!relayable(r, &opflags) || (rt = relay_route(c, r)) == NULL
        || (span = key_span(r, &nspan)) == NULL) {
        return 0;
    }
    r->relay = 1;
    r->nissued = r->nkeys; /* the flow control issues none of them */
    r->kops_left = 1;      /* the relay op on kops[0] */
    c->kflight++;
    k->route = rt;
    rend_route_start_relay(k, span, nspan, r->nkeys, opflags);
    return 1;
}

/* The decimal number at *p, which a non-digit ends before the buffer
 * does: 1 to 20 digits that fit in 64 bits; *p moves past it.  0, or -1.
 * (Past 19 digits the quick sum may wrap: such a number is parsed again,
 * checked.) */
static int
take_number(const char **pp, uint64_t *out)
{
    const char *p = *pp, *s = p;
    uint64_t v = 0;
    unsigned d;

    while ((d = (unsigned)(unsigned char)*p - '0') <= 9) {
        v = v * 10 + d;
        p++;
    }
    if (p == s || (p - s > 19 && rend_parse_u64(s, (size_t)(p - s), &v) != 0)) {
        return -1;
    }
    *out = v;
    *pp = p;
    return 0;
}

int
rend_relay_next_block(const char **pp, const char *end,
                      struct rend_relay_block *b)
{
    const char *p = *pp, *q, *nl, *le;
    uint64_t flags, n, cas = 0;

    nl = end - p >= 8 ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    if (nl == NULL || nl - p < 8 || nl[-1] != '\r'
        || memcmp(p, "VALUE ", 6) != 0) {
        return 0;
    }
    le = nl - 1; /* the header ends at its \r, which ends every number */
    b->key = p + 6;
    q = memchr(b->key, ' ', (size_t)(le - b->key));
    if (q == NULL || q == b->key || q - b->key > REND_KEY_MAX) {
        return 0;
    }
    b->nkey = (uint32_t)(q - b->key);
    q++; /* <flags> <bytes>[ <cas>] */
    if (take_number(&q, &flags) != 0 || flags > UINT32_MAX || *q++ != ' '
        || take_number(&q, &n) != 0 || n > UINT32_MAX) {
        return 0;
    }
    if (*q == ' ') {
        q++;
        if (take_number(&q, &cas) != 0) {
            return 0;
        }
    }
    if (q != le) {
        return 0;
    }
    q = nl + 1; /* the data */
    if ((size_t)(end - q) < (size_t)n + 2 || q[n] != '\r' || q[n + 1] != '\n') {
        return 0;
    }
    b->flags = (uint32_t)flags;
    b->data = q;
    b->ndata = (uint32_t)n;
    b->cas = cas;
    *pp = q + n + 2;
    return 1;
}

void
rend_relay_match_init(struct rend_relay_match *m, const struct rend_kop *k0)
{
    m->p = k0->value;
    m->end = k0->value != NULL ? k0->value + k0->nvalue : NULL;
    m->have = 0;
}

const struct rend_relay_block *
rend_relay_match(struct rend_relay_match *m, const struct rend_kop *k)
{
    if (!m->have) {
        m->have = rend_relay_next_block(&m->p, m->end, &m->b);
    }
    if (m->have && m->b.nkey == k->op.nkey
        && memcmp(m->b.key, k->op.key, m->b.nkey) == 0) {
        m->have = 0;
        return &m->b;
    }
    return NULL;
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
