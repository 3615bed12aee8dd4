/*
 * rend_exec.c - request objects, execution and completion, and the host
 * API handed to plugins.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rend_config.h"
#include "rend_conn.h"
#include "rend_exec.h"
#include "rend_hist.h"
#include "rend_flow.h"
#include "rend_log.h"
#include "rend_plugin.h"
#include "rend_relay.h"
#include "rend_route.h"
#include "rend_settings.h"
#include "rend_stats.h"
#include "rend_util.h"
#include "rend_worker.h"

#define REQ_POOL_MAX 256

struct rend_req *
rend_req_new(struct rend_conn *c)
{
    struct rend_worker *w = c->w;
    struct rend_req *r = w->free_reqs;

    if (r != NULL) {
        w->free_reqs = r->next;
        w->nfree_reqs--;
    } else {
        r = malloc(sizeof(*r));
        if (r == NULL) {
            return NULL;
        }
    }
    memset(r, 0, offsetof(struct rend_req, kop1));
    memset(&r->kop1, 0, sizeof(r->kop1));
    r->conn = c;
    r->proto = c->proto;
    return r;
}

/* A worker keeps spare key-op arrays of up to KOPS_SPARE_MAX entries,
 * KOPS_SPARE_TOTAL entries and KOPS_SPARE_COUNT arrays in all (a few MB
 * at most). */
#define KOPS_SPARE_MAX 1024
#define KOPS_SPARE_TOTAL 16384
#define KOPS_SPARE_COUNT 64

/* What a spare array holds at its start while it is on the list. */
struct rend_kops_spare {
    struct rend_kops_spare *next;
    uint32_t cap;
};

/* Clear n key ops.  One constant-size clear per entry, which the
 * compiler turns into a few vector stores, instead of one memset call
 * over the whole array (libc's memset uses `rep stosb` for arrays of this
 * size, one counted step per byte under callgrind and a slow start on
 * some CPUs). */
static void
kops_zero(struct rend_kop *kops, uint32_t n)
{
    static const struct rend_kop zero;

    for (uint32_t i = 0; i < n; i++) {
        kops[i] = zero;
    }
}

int
rend_req_set_keys(struct rend_req *r, uint32_t n)
{
    struct rend_worker *w = r->conn->w;
    struct rend_kops_spare **pp = &w->free_kops;

    if (n <= 1) {
        r->kops = &r->kop1;
        r->nkeys = n;
        return 0;
    }
    for (unsigned look = 0; *pp != NULL && look < 8; look++) {
        struct rend_kops_spare *s = *pp;
        if (s->cap >= n) {
            *pp = s->next;
            w->free_kops_n -= s->cap;
            w->free_kops_count--;
            r->kops_cap = s->cap;
            r->kops = (struct rend_kop *)(void *)s;
            kops_zero(r->kops, n);
            r->nkeys = n;
            return 0;
        }
        pp = &s->next;
    }
    r->kops = calloc(n, sizeof(struct rend_kop));
    if (r->kops == NULL) {
        return -1;
    }
    r->kops_cap = n;
    r->nkeys = n;
    return 0;
}

/* Keeps r's key-op array on the worker's spare list while the list has
 * room, else frees it. */
static void
kops_release(struct rend_worker *w, struct rend_req *r)
{
    struct rend_kops_spare *s = (struct rend_kops_spare *)(void *)r->kops;

    if (r->kops_cap > KOPS_SPARE_MAX || w->free_kops_count >= KOPS_SPARE_COUNT
        || w->free_kops_n + r->kops_cap > KOPS_SPARE_TOTAL) {
        free(r->kops);
        return;
    }
    s->cap = r->kops_cap;
    s->next = w->free_kops;
    w->free_kops = s;
    w->free_kops_n += s->cap;
    w->free_kops_count++;
}

void
rend_req_pools_free(struct rend_worker *w)
{
    while (w->free_reqs != NULL) {
        struct rend_req *r = w->free_reqs;
        w->free_reqs = r->next;
        free(r);
    }
    w->nfree_reqs = 0;
    rend_vpipe_pool_free(w);
    while (w->free_kops != NULL) {
        struct rend_kops_spare *s = w->free_kops;
        w->free_kops = s->next;
        free(s);
    }
    w->free_kops_n = w->free_kops_count = 0;
}

/* A large value still in its connection's input buffer: take the buffer
 * itself (rend_conn_rbuf_lend) instead of copying the value out of it.
 * Then keys, value and arg keep pointing where they are, into r->mem.
 * 0 when taken. */
static void
span_add(uintptr_t *lo, uintptr_t *hi, const char *p, size_t n)
{
    if (n > 0) {
        if ((uintptr_t)p < *lo) {
            *lo = (uintptr_t)p;
        }
        if ((uintptr_t)p + n > *hi) {
            *hi = (uintptr_t)p + n;
        }
    }
}

static int
req_take_rbuf(struct rend_req *r)
{
    uintptr_t lo = (uintptr_t)r->value, hi = lo + (r->nvalue - r->npipe);
    char *block;

    for (uint32_t i = 0; i < r->nkeys; i++) {
        span_add(&lo, &hi, r->kops[i].op.key, r->kops[i].op.nkey);
    }
    span_add(&lo, &hi, r->arg, r->narg);
    if (rend_conn_rbuf_lend(r->conn, (const char *)lo, (const char *)hi,
                            &block) != 0) {
        return -1;
    }
    free(r->mem);
    r->mem = block;
    r->owned = 1;
    return 0;
}

int
rend_req_own(struct rend_req *r)
{
    size_t vmem = (size_t)r->nvalue - r->npipe; /* the rest is piped */
    size_t total = vmem + r->narg;
    char *p;

    if (r->owned) {
        return 0;
    }
    if (vmem >= REND_REQ_LEND_MIN && r->conn != NULL
        && req_take_rbuf(r) == 0) {
        return 0;
    }
    for (uint32_t i = 0; i < r->nkeys; i++) {
        total += r->kops[i].op.nkey + 1;
    }
    if (total <= sizeof(r->ownbuf)) {
        p = r->ownbuf;
    } else {
        p = malloc(total);
        if (p == NULL) {
            return -1;
        }
        r->mem = p;
    }
    /* keys one space apart, so a multi-get's keys stay one span (the
     * one rend_relay.c relays) */
    for (uint32_t i = 0; i < r->nkeys; i++) {
        struct rend_op *op = &r->kops[i].op;
        memcpy(p, op->key, op->nkey);
        op->key = p;
        p += op->nkey;
        *p++ = ' ';
    }
    if (vmem) {
        memcpy(p, r->value, vmem);
        r->value = p;
        p += vmem;
    }
    if (r->narg) {
        memcpy(p, r->arg, r->narg);
        r->arg = p;
    }
    r->owned = 1;
    return 0;
}

void
rend_req_free(struct rend_req *r)
{
    struct rend_worker *w = r->conn->w;

    r->conn->held -= r->held;

    /* a relayed multi-get used only its first key op */
    for (uint32_t i = 0, n = r->relay ? 1 : r->nkeys; i < n; i++) {
        rend_kop_value_drop(&r->kops[i]);
        rend_op_value_drop(&r->kops[i].op);
    }
    if (r->kops != NULL && r->kops != &r->kop1) {
        kops_release(w, r);
    }
    free(r->mem);
    free(r->vmem);
    free(r->opq);
    if (r->has_vpipe) {
        rend_vpipe_put(w, r->vpipe, r->vpipe_cap);
    }
    if (r->text_owned) {
        free(r->text);
    }
    if (w->nfree_reqs < REQ_POOL_MAX) {
        r->next = w->free_reqs;
        w->free_reqs = r;
        w->nfree_reqs++;
    } else {
        free(r);
    }
}

void
rend_req_reply(struct rend_req *r, const char *text, int owned, int status)
{
    r->cmd = REND_CMD_REPLY;
    r->text = (char *)text;
    r->ntext = (uint32_t)strlen(text);
    r->text_owned = (uint8_t)owned;
    r->status = status;
    r->complete = 1;
}

void
rend_req_fail(struct rend_req *r, int status)
{
    for (uint32_t i = 0; i < r->nkeys; i++) {
        r->kops[i].status = status;
    }
    r->status = status;
    r->complete = 1;
}

static void
req_complete(struct rend_req *r)
{
    struct rend_conn *c = r->conn;

    r->complete = 1;
    REND_HIST_REQ_DONE(c->w, r);
    rend_worker_req_end(c->w, r->gen);
    rend_conn_req_done(c, r);
}

/* memcached's per-command outcome counters, from the outcome the client
 * sees, whatever route kind or protocol produced it.  As in memcached, a
 * gat/gats counts in cmd_get and cmd_touch, and its outcome as a touch. */
static void
count_outcome(struct rend_stats *st, const struct rend_req *r, int status)
{
    int hit = status == REND_OK;
    int miss = status == REND_NOT_FOUND || status == REND_MISS;
    int op = rend_cmd_table[r->cmd].op;

    switch (rend_cmd_table[r->cmd].outcome) {
    case REND_OUT_GET:
        if (hit) REND_STAT_INC(st, get_hits);
        else if (miss) REND_STAT_INC(st, get_misses);
        break;
    case REND_OUT_TOUCH:
        if (hit) REND_STAT_INC(st, touch_hits);
        else if (miss) REND_STAT_INC(st, touch_misses);
        break;
    case REND_OUT_DELETE:
        if (hit) REND_STAT_INC(st, delete_hits);
        else if (miss) REND_STAT_INC(st, delete_misses);
        break;
    case REND_OUT_INCR:
        if (hit) REND_STAT_INC(st, incr_hits);
        else if (miss) REND_STAT_INC(st, incr_misses);
        break;
    case REND_OUT_DECR:
        if (hit) REND_STAT_INC(st, decr_hits);
        else if (miss) REND_STAT_INC(st, decr_misses);
        break;
    case REND_OUT_CAS:
        if (hit) REND_STAT_INC(st, cas_hits);
        else if (miss) REND_STAT_INC(st, cas_misses);
        else if (status == REND_EXISTS) REND_STAT_INC(st, cas_badval);
        break;
    default:
        break;
    }
    if (status == REND_ETIMEDOUT && !(rend_cmd_table[r->cmd].flags
                                      & REND_CMD_READ)) {
        /* answered "backend timeout"; the backend may still apply it */
        REND_STAT_INC(st, write_timeouts);
    }
    if (status == REND_ENOMEM && op >= REND_OP_SET && op <= REND_OP_CAS) {
        REND_STAT_INC(st, store_no_memory);
    }
}

/* k is finished; its outcome is counted. */
static void
kop_end(struct rend_kop *k, int status)
{
    struct rend_req *r = k->req;

    k->status = status;
    k->done = 1;
    if (status < 0 && status != REND_ETOOBIG) {
        REND_STAT_INC(&r->conn->w->st, handler_errors);
    }
    rend_flow_kop_finished(r->conn, r, k);
    if (--r->kops_left == 0) {
        req_complete(r);
    } else {
        rend_flow_progress(r->conn);
    }
}

void
rend_kop_finish(struct rend_kop *k, int status)
{
    count_outcome(&k->req->conn->w->st, k->req, status);
    kop_end(k, status);
}

void
rend_kop_finish_as_one(struct rend_kop *k, int status)
{
    kop_end(k, status);
}

void
rend_exec_complete(struct rend_req *r)
{
    req_complete(r);
}

/*
 * The host->done contract, checked on every op: op->magic is OP_ISSUED
 * while the handler owns the op and OP_FINAL once it has been completed
 * (by an inline status or by host->done).  A second completion is logged
 * and ignored, so a plugin bug costs one log line, not a corrupted
 * completion list.  (An op touched after completion in other ways is not
 * detectable here; ASan catches it once the request memory is freed.)
 */
#define OP_ISSUED 0x72656e64u /* "rend" */
#define OP_FINAL 0x66696e6cu  /* "finl" */

static void
contract_violation(const char *what)
{
    static unsigned logged;

    if (__atomic_fetch_add(&logged, 1, __ATOMIC_RELAXED) < 100) {
        rend_log(REND_LOG_ERR, "handler contract violation: %s (ignored)",
                 what);
    }
}

int
rend_kop_issue(struct rend_kop *k, struct rend_hinst *hi, int code)
{
    struct rend_worker *w = k->req->conn->w;
    rend_op_f *f = hi->h.ops[code];
    void *tctx = hi->tctx[w->id];
    int rc;

    if (f == NULL) {
        return REND_ENOTSUP;
    }
    if (tctx == NULL) {
        return REND_EDOWN; /* its thread_init failed (logged) */
    }
    if (k->op.cas != 0 && hi->h.abi_minor < 1
        && (code == REND_OP_DELETE || code == REND_OP_APPEND
            || code == REND_OP_PREPEND || code == REND_OP_INCR
            || code == REND_OP_DECR)) {
        return REND_ENOTSUP; /* an ABI 1.0 plugin would ignore the cas */
    }
    k->op.code = (uint16_t)code;
    k->op.core = k;
    if (hi->h.flush != NULL) {
        rend_worker_mark_dirty(w, hi);
    }
    __atomic_store_n(&k->op.magic, OP_ISSUED, __ATOMIC_RELAXED);
    rc = f(tctx, &k->op);
    if (rc != REND_PENDING
        && __atomic_exchange_n(&k->op.magic, OP_FINAL, __ATOMIC_ACQ_REL)
               != OP_ISSUED) {
        /* host->done already ran: that completion is queued and wins */
        contract_violation("an op returned a final status after calling "
                           "host->done");
        return REND_PENDING;
    }
    return rc;
}

int
rend_exec_may_pend(struct rend_conn *c, struct rend_req *r)
{
    struct rend_gen *g = c->w->gen;

    if (rend_cmd_table[r->cmd].flags & REND_CMD_LOCAL) {
        return 0;
    }
    return c->listener < g->nlisteners
           && g->listeners[c->listener].routes.async;
}

static void
exec_local(struct rend_req *r)
{
    if (r->cmd == REND_CMD_VERBOSITY) {
        rend_log_level = r->delta > 3 ? 3 : (int)r->delta;
        if (rend_log_level < REND_LOG_WARN) {
            rend_log_level = REND_LOG_WARN;
        }
    }
    r->complete = 1;
}

static void
count_cmd(struct rend_worker *w, struct rend_req *r)
{
    unsigned cnt = rend_cmd_table[r->cmd].count;

    if (cnt & REND_CNT_GET) {
        REND_STAT_ADD(&w->st, cmd_get, r->nkeys);
    }
    if (cnt & REND_CNT_TOUCH) {
        REND_STAT_ADD(&w->st, cmd_touch, r->nkeys);
    }
    if (cnt & REND_CNT_SET) {
        REND_STAT_ADD(&w->st, cmd_set, r->nkeys);
    }
    if (cnt & REND_CNT_FLUSH) {
        REND_STAT_ADD(&w->st, cmd_flush, r->nkeys);
    }
}

void
rend_exec_start(struct rend_conn *c, struct rend_req *r)
{
    struct rend_worker *w = c->w;
    const struct rend_routes *rs;
    int op = rend_cmd_table[r->cmd].op;

    r->started = 1;
    if (r->complete) {
        return; /* a reply made by the parser */
    }
    if (op < 0) {
        exec_local(r);
        return;
    }
    if (c->listener >= w->gen->nlisteners) {
        rend_req_fail(r, REND_EINTERNAL);
        return;
    }
    rs = &w->gen->listeners[c->listener].routes;
    if (r->nkeys == 0 && rend_req_set_keys(r, 1) != 0) { /* flush_all */
        rend_req_fail(r, REND_ENOMEM);
        return;
    }
    count_cmd(w, r);
    REND_HIST_REQ_START(w, r);
    c->npending++;
    r->sched = (uint8_t)(rend_req_sched(r)
                         & (REND_CMD_READ | REND_CMD_BARRIER));
    if (r->sched & REND_CMD_BARRIER) {
        c->npend_barrier++;
    } else if (r->sched & REND_CMD_READ) {
        c->npend_read++;
    }
    w->inflight++;
    w->inflight_gen++;
    r->gen = w->gen;
    r->kops_left = r->nkeys + 1; /* +1: nothing completes r mid-loop */
    for (uint32_t i = 0; i < r->nkeys; i++) {
        r->kops[i].req = r;
    }
    (void)rs;
    if (rend_relay_start(c, r)) {
        return; /* one op for every key */
    }
    rend_flow_issue(c, r); /* issues keys as the budget allows */
}

void
rend_exec_issue_key(struct rend_req *r, struct rend_kop *k)
{
    struct rend_conn *c = r->conn;
    const struct rend_routes *rs = &r->gen->listeners[c->listener].routes;

    k->route = rend_routes_find(rs, r->cmd, k->op.key, k->op.nkey);
    if (k->route == NULL) {
        rend_kop_finish(k, REND_ENOTSUP);
        return;
    }
    rend_route_start(k);
}

/* ---- host API ----------------------------------------------------- */

static int64_t
host_now(void)
{
    return rend_now();
}

/* ---- result values: malloc'd (value_alloc) or lent (value_ref) ------ */

void
rend_op_value_release(struct rend_op *op)
{
    if (op->out_release != NULL) {
        op->out_release(op->out_release_owner, op->out_release_ref);
        op->out_release = NULL;
    } else {
        free(op->out_value);
    }
    op->out_value = NULL;
    op->out_nvalue = 0;
}

void
rend_kop_value_release(struct rend_kop *k)
{
    if (k->vrelease != NULL) {
        k->vrelease(k->vowner, k->vref);
        k->vrelease = NULL;
    } else {
        free(k->value);
    }
    k->value = NULL;
    k->nvalue = 0;
}

void
rend_kop_value_take(struct rend_kop *k)
{
    struct rend_op *op = &k->op;

    rend_kop_value_drop(k);
    k->value = op->out_value;
    k->nvalue = op->out_nvalue;
    k->vrelease = op->out_release;
    k->vowner = op->out_release_owner;
    k->vref = op->out_release_ref;
    op->out_value = NULL;
    op->out_nvalue = 0;
    op->out_release = NULL;
}

static char *
host_value_alloc(struct rend_op *op, size_t n)
{
    rend_op_value_drop(op);
    op->out_value = malloc(n ? n : 1);
    op->out_nvalue = op->out_value ? (uint32_t)n : 0;
    return op->out_value;
}

static void
host_value_ref(struct rend_op *op, const char *data, size_t n,
               rend_value_release_f *release, void *owner, void *ref)
{
    rend_op_value_drop(op);
    op->out_value = (char *)data; /* read only: see rend_kop.vrelease */
    op->out_nvalue = (uint32_t)n;
    op->out_release = release;
    op->out_release_owner = owner;
    op->out_release_ref = ref;
}

static void
host_done(struct rend_op *op, int status)
{
    if (__atomic_exchange_n(&op->magic, OP_FINAL, __ATOMIC_ACQ_REL)
        != OP_ISSUED) {
        contract_violation("host->done called for an op already complete");
        return;
    }
    rend_worker_complete(op->core, status);
}

const struct rend_host rend_host_api = {
    .abi_major = REND_ABI_MAJOR,
    .abi_minor = REND_ABI_MINOR,
    .size = sizeof(struct rend_host),
    .log = rend_log_who,
    .now = host_now,
    .value_alloc = host_value_alloc,
    .done = host_done,
    .value_ref = host_value_ref,
};
