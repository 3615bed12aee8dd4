/*
 * rend_mc_ops.c - plain (unchunked) ops over the meta protocol, with
 * replicas: reads go to the first healthy replica and fail over to the
 * next on a failure (and on a miss with failover_on_miss); writes go to
 * every replica and the answer is the one of the first replica (ring
 * order) that did not fail.  A write conditioned on a cas (cas, or a
 * request cas on delete/append/prepend/incr/decr) is checked on the first
 * replica only, the one reads are served from and whose cas clients see;
 * once it is applied there, the other replicas get it unconditionally
 * (each replica has a cas of its own).  Runs on the op's worker thread.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "rend_mc.h"

#define MAX_REPLICAS 8

struct pop;

struct leg {
    struct pop *p;
    unsigned i;
    struct rend_mc_conn *ext_conn; /* its value went out spliced, on it */
};

/* A stored value at least this long goes from the request to the socket
 * with writev (rend_mc_splice.c) instead of being copied into c->out; it
 * stays valid until the op completes, which is after memcached answered
 * (it cannot answer before it has read the value).  Values past
 * REND_MC_SPLICE_MAX are copied: memcached (default item size 1 MB) may
 * refuse one as too large before it has read it all, and a spliced value
 * answered early resets the connection (rend_mc_conn_ext_release). */
#define VALUE_SPLICE_MIN 2048

struct pop {
    struct rend_mc_thr *t;
    struct rend_op *op;
    const char *key;    /* wire key: op->key itself, or wk.text */
    size_t nkey;
    int b64;            /* the wire key is base64 (`b` flag) */
    uint32_t keyhash;
    unsigned srv[MAX_REPLICAS];
    int st[MAX_REPLICAS];
    struct leg legs[MAX_REPLICAS];
    unsigned nsrv;
    unsigned next;      /* reads: next replica to try */
    unsigned pending;   /* writes: replies outstanding */
    int starting;       /* inside the op call: finish synchronously */
    int hit_from;       /* replica whose hit filled the op, or -1 */
    uint8_t cas_first;  /* a cas write: replica 0 first, then the others */
    uint8_t follow;     /* ... the others, now: formatted without the cas */
    uint8_t group;      /* a get that can go as a key of a `get` line */
    struct rend_mc_wkey wk;  /* binary-unsafe keys only */
};

static int
is_read(const struct rend_op *op)
{
    return op->code == REND_OP_GET;
}

static int
fill_hit(struct pop *p, const struct rend_mc_reply *r)
{
    struct rend_op *op = p->op;
    const struct rend_host *h = p->t->inst->host;

    if (r->kind == REND_MC_R_VA && r->nvalue > 0 && r->conn != NULL
        && rend_mc_in_lend(r->conn, h, op, r->value, r->nvalue) == 0) {
        /* lent from the read buffer: no copy here */
    } else if (r->kind == REND_MC_R_VA) {
        char *v = h->value_alloc(op, r->nvalue);
        if (v == NULL && r->nvalue > 0) {
            return REND_ENOMEM;
        }
        if (r->nvalue > 0) {
            memcpy(v, r->value, r->nvalue);
        }
    }
    op->out_flags = r->flags;
    /* no t asked (or a grouped get): never expires, as far as told */
    op->out_exptime = r->has_ttl ? rend_mc_abs_exptime(r->ttl, h->now())
                                 : rend_mc_abs_exptime(-1, 0);
    op->out_cas = r->cas;
    return REND_OK;
}

/* Status of reply r for op; fills the op's outputs when apply is set. */
static int
map_reply(struct pop *p, unsigned i, const struct rend_mc_reply *r)
{
    struct rend_op *op = p->op;

    switch (r->kind) {
    case REND_MC_R_VA:
    case REND_MC_R_HD:
        if (op->code == REND_OP_GET || op->code == REND_OP_GAT) {
            if (p->hit_from >= 0 && (unsigned)p->hit_from < i) {
                return REND_OK;
            }
            p->hit_from = (int)i;
            return fill_hit(p, r);
        }
        if (op->code == REND_OP_INCR || op->code == REND_OP_DECR) {
            char num[24];
            char *end;
            if (r->kind != REND_MC_R_VA || r->nvalue == 0
                || r->nvalue >= sizeof(num)) {
                return REND_EIO;
            }
            memcpy(num, r->value, r->nvalue);
            num[r->nvalue] = '\0';
            if (p->hit_from < 0 || (unsigned)p->hit_from > i) {
                p->hit_from = (int)i;
                op->out_number = strtoull(num, &end, 10);
                op->out_cas = r->cas;
            }
            return REND_OK;
        }
        if (p->hit_from < 0 || (unsigned)p->hit_from > i) {
            p->hit_from = (int)i;
            op->out_cas = r->cas;
        }
        return REND_OK;
    case REND_MC_R_EN:
        return op->code == REND_OP_TOUCH ? REND_NOT_FOUND : REND_MISS;
    case REND_MC_R_NF:
        if (op->code == REND_OP_APPEND || op->code == REND_OP_PREPEND
            || op->code == REND_OP_REPLACE || op->code == REND_OP_ADD) {
            return REND_NOT_STORED;
        }
        return REND_NOT_FOUND;
    case REND_MC_R_NS:
        return REND_NOT_STORED;
    case REND_MC_R_EX:
        return REND_EXISTS;
    case REND_MC_R_OK:
        return op->code == REND_OP_FLUSH ? REND_OK : REND_EIO;
    case REND_MC_R_CLIENT_ERROR:
        if ((op->code == REND_OP_INCR || op->code == REND_OP_DECR)
            && memmem(r->line, r->nline, "non-numeric", 11) != NULL) {
            return REND_NON_NUMERIC;
        }
        return REND_EINVAL;
    default:
        return rend_mc_reply_error(r);
    }
}

/* The answer: reads keep the best (hit > miss > failure); writes the first
 * replica that did not fail. */
static int
result(const struct pop *p)
{
    int first_fail = REND_EDOWN;

    if (is_read(p->op)) {
        int seen_miss = 0;
        for (unsigned i = 0; i < p->nsrv; i++) {
            if (p->st[i] == REND_OK) {
                return REND_OK;
            }
            if (p->st[i] == REND_MISS) {
                seen_miss = 1;
            }
        }
        if (seen_miss) {
            return REND_MISS;
        }
    }
    for (unsigned i = 0; i < p->nsrv; i++) {
        if (p->st[i] >= 0 && p->st[i] != REND_PENDING) {
            return p->st[i];
        }
    }
    for (unsigned i = 0; i < p->nsrv; i++) {
        if (p->st[i] < 0) {
            first_fail = p->st[i];
            break;
        }
    }
    return first_fail;
}

static int
finish(struct pop *p)
{
    int st = result(p);
    struct rend_op *op = p->op;
    const struct rend_host *h = p->t->inst->host;

    if (p->starting) {
        return st;
    }
    rend_mc_pool_put(&p->t->pops, p);
    h->done(op, st);
    return REND_PENDING;
}

/* Room for a command line without key and value: verb, every flag with
 * its number, opaque, CRLFs. */
#define CMD_ROOM (64 + 5 * REND_MC_NUM_MAX)

/* Appends op's command to c->out with opaque o, formatted by hand (a
 * long value spliced in for leg l, see VALUE_SPLICE_MIN). */
static int
format(struct pop *p, struct rend_mc_conn *c, uint32_t o, struct leg *l)
{
    struct rend_op *op = p->op;
    struct rend_mc_buf *b = &c->out;
    int has_value = op->code >= REND_OP_SET && op->code <= REND_OP_CAS;
    int no_value = (op->opflags & REND_OPF_NO_VALUE) != 0;
    /* a piped value (ABI minor 4; mc_pipe_ok) always goes spliced */
    int splice = has_value
                 && ((op->nvalue >= VALUE_SPLICE_MIN
                      && op->nvalue <= REND_MC_SPLICE_MAX)
                     || op->value_npipe > 0);
    int64_t ttl = 0;
    char *w;

    if (rend_mc_buf_reserve(b, p->nkey + CMD_ROOM
                                   + (has_value && !splice ? op->nvalue : 0))
        != 0) {
        return -1;
    }
    if (op->code == REND_OP_GAT || op->code == REND_OP_TOUCH
        || (has_value && op->code != REND_OP_APPEND
            && op->code != REND_OP_PREPEND)) {
        ttl = rend_mc_ttl(op->exptime, p->t->inst->host->now());
    }
    w = b->data + b->len;
    switch (op->code) {
    case REND_OP_GET:
    case REND_OP_GAT:
    case REND_OP_TOUCH:
        w = REND_MC_PUTS(w, "mg ");
        w = rend_mc_put(w, p->key, p->nkey);
        if (p->b64) {
            w = REND_MC_PUTS(w, " b");
        }
        if (op->code != REND_OP_GET) {
            w = REND_MC_PUTS(w, " T");
            w = rend_mc_put_i64(w, ttl);
        }
        if (op->code != REND_OP_TOUCH) {
            if (!no_value) {
                w = REND_MC_PUTS(w, " v");
            }
            w = REND_MC_PUTS(w, " f");
            /* t and c only when the caller reads them (ABI minor 3) */
            if (!(op->opflags & REND_OPF_NO_EXPTIME)) {
                w = REND_MC_PUTS(w, " t");
            }
            if (!(op->opflags & REND_OPF_NO_CAS)) {
                w = REND_MC_PUTS(w, " c");
            }
        }
        break;
    case REND_OP_DELETE:
        w = REND_MC_PUTS(w, "md ");
        w = rend_mc_put(w, p->key, p->nkey);
        if (p->b64) {
            w = REND_MC_PUTS(w, " b");
        }
        break;
    case REND_OP_INCR:
    case REND_OP_DECR:
        w = REND_MC_PUTS(w, "ma ");
        w = rend_mc_put(w, p->key, p->nkey);
        if (p->b64) {
            w = REND_MC_PUTS(w, " b");
        }
        w = op->code == REND_OP_INCR ? REND_MC_PUTS(w, " MI D")
                                     : REND_MC_PUTS(w, " MD D");
        w = rend_mc_put_u64(w, op->delta);
        w = REND_MC_PUTS(w, " v c");
        break;
    default:
        w = REND_MC_PUTS(w, "ms ");
        w = rend_mc_put(w, p->key, p->nkey);
        *w++ = ' ';
        w = rend_mc_put_u64(w, op->nvalue);
        if (p->b64) {
            w = REND_MC_PUTS(w, " b");
        }
        if (op->code == REND_OP_APPEND || op->code == REND_OP_PREPEND) {
            w = op->code == REND_OP_APPEND ? REND_MC_PUTS(w, " MA")
                                           : REND_MC_PUTS(w, " MP");
        } else {
            w = REND_MC_PUTS(w, " F");
            w = rend_mc_put_u64(w, op->flags);
            w = REND_MC_PUTS(w, " T");
            w = rend_mc_put_i64(w, ttl);
            w = op->code == REND_OP_ADD       ? REND_MC_PUTS(w, " ME")
                : op->code == REND_OP_REPLACE ? REND_MC_PUTS(w, " MR")
                                              : REND_MC_PUTS(w, " MS");
        }
        w = REND_MC_PUTS(w, " c");
        break;
    }
    w = REND_MC_PUTS(w, " O");
    w = rend_mc_put_u64(w, o);
    if (p->follow) {
        /* replica 0 accepted the cas: the others take the write as is */
    } else if (op->code == REND_OP_CAS
        || (op->cas != 0 && (op->code == REND_OP_DELETE
                             || op->code == REND_OP_APPEND
                             || op->code == REND_OP_PREPEND
                             || op->code == REND_OP_INCR
                             || op->code == REND_OP_DECR))) {
        w = REND_MC_PUTS(w, " C");
        w = rend_mc_put_u64(w, op->cas);
    }
    w = REND_MC_PUTS(w, "\r\n");
    if (splice) {
        struct rend_mc_ext e[2];
        unsigned ne;
        b->len = (size_t)(w - b->data);
        ne = rend_mc_value_pieces(op, op->value, op->nvalue - op->value_npipe,
                                  0, op->nvalue, b->len - b->off, l, e);
        if (rend_mc_conn_out_ext(c, e, ne) != 0) {
            return -1;
        }
        l->ext_conn = c;
    } else if (has_value) {
        w = rend_mc_put(w, op->value, op->nvalue);
    }
    if (has_value) {
        w = REND_MC_PUTS(w, "\r\n");
    }
    b->len = (size_t)(w - b->data);
    return 0;
}

static void leg_reply(void *ud, int err, const struct rend_mc_reply *r);

/* Sends op to replica i.  0 = queued; else a failure status. */
static int
send_leg(struct pop *p, unsigned i)
{
    struct rend_mc_conn *c;
    uint32_t o;
    int err = REND_EIO;

    c = rend_mc_conn_get(p->t, p->srv[i], p->keyhash, &err);
    if (c == NULL) {
        return err;
    }
    if (p->group) {
        /* one more key of the connection's `get` line */
        o = rend_mc_conn_push_get(c, leg_reply, &p->legs[i], p->key, p->nkey,
                                  !(p->op->opflags & REND_OPF_NO_CAS));
        return o != 0 ? 0 : REND_ENOMEM;
    }
    o = rend_mc_conn_push(c, leg_reply, &p->legs[i], 0);
    if (o == 0) {
        return REND_ENOMEM;
    }
    if (format(p, c, o, &p->legs[i]) != 0) {
        /* The request is queued without its text: the connection is
         * reset at the next flush and the request fails. */
        c->deferred_err = REND_ENOMEM;
    }
    return 0;
}

/* Reads: try replicas from p->next on.  Returns a final status, or
 * REND_PENDING when a request went out (or done was called). */
static int
read_next(struct pop *p)
{
    while (p->next < p->nsrv) {
        unsigned i = p->next++;
        int rc = send_leg(p, i);
        if (rc == 0) {
            p->st[i] = REND_PENDING;
            return REND_PENDING;
        }
        p->st[i] = rc;
    }
    return finish(p);
}

/* A cas write that replica 0 accepted: send it to the other replicas,
 * without the cas.  Their failures are counted as for any write. */
static void
send_followers(struct pop *p)
{
    p->follow = 1;
    for (unsigned i = 1; i < p->nsrv; i++) {
        int err = send_leg(p, i);
        if (err == 0) {
            p->pending++;
        } else {
            p->st[i] = err;
        }
    }
    /* written by the thread's prepare watcher, as every request */
}

static void
leg_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct leg *l = ud;
    struct pop *p = l->p;
    int st = err != 0 ? err : map_reply(p, l->i, r);

    if (l->ext_conn != NULL) {
        /* answered: none of its spliced value may still wait to go out */
        rend_mc_conn_ext_release(l->ext_conn, l);
        l->ext_conn = NULL;
    }

    p->st[l->i] = st;
    if (is_read(p->op)) {
        if (st == REND_OK
            || (st == REND_MISS && !p->t->inst->failover_on_miss)) {
            finish(p);
            return;
        }
        read_next(p);
        return;
    }
    if (p->cas_first && l->i == 0) {
        p->cas_first = 0;
        if (st == REND_OK) {
            send_followers(p);
        }
    }
    if (--p->pending == 0) {
        finish(p);
    }
}

/* See rend_mc.h: GET..DECR in plain mode. */
int
rend_mc_op_plain(struct rend_mc_thr *t, struct rend_op *op)
{
    struct rend_mc_inst *in = t->inst;
    struct pop *p;
    int rc;

    if (op->nkey == 0) {
        return REND_EINVAL;
    }
    p = rend_mc_pool_get(&t->pops, sizeof(*p));
    if (p == NULL) {
        return REND_ENOMEM;
    }
    if (rend_mc_key_raw(op->key, op->nkey)) {
        p->key = op->key;
        p->nkey = op->nkey;
        p->b64 = 0;
    } else {
        rc = rend_mc_wkey(&p->wk, op->key, op->nkey, "", 0);
        if (rc != 0) {
            rend_mc_pool_put(&t->pops, p);
            return rc;
        }
        p->key = p->wk.text;
        p->nkey = p->wk.len;
        p->b64 = p->wk.b64;
    }
    p->t = t;
    p->op = op;
    /* A plain GET that wants neither the TTL left (ABI minor 3) nor only
     * the flags, with a key that goes raw: text `get` (or `gets` for the
     * cas) returns all it needs, and several share one line. */
    p->group = op->code == REND_OP_GET && !p->b64
               && (op->opflags & (REND_OPF_NO_EXPTIME | REND_OPF_NO_VALUE))
                      == REND_OPF_NO_EXPTIME;
    p->hit_from = -1;
    p->next = 0;
    p->pending = 0;
    p->nsrv = rend_mc_route(in, op->key, op->nkey, p->srv, in->replicas,
                            &p->keyhash);
    for (unsigned i = 0; i < p->nsrv; i++) {
        p->legs[i].p = p;
        p->legs[i].i = i;
        p->legs[i].ext_conn = NULL;
        p->st[i] = REND_PENDING;
    }
    p->starting = 1;
    if (is_read(op)) {
        rc = read_next(p);
    } else {
        unsigned n = p->nsrv;
        if (n > 1 && (op->code == REND_OP_CAS || op->cas != 0)) {
            p->cas_first = 1;
            n = 1; /* the others once replica 0 has accepted it */
        }
        p->follow = 0;
        for (unsigned i = 0; i < n; i++) {
            int err = send_leg(p, i);
            if (err == 0) {
                p->pending++;
            } else {
                p->st[i] = err;
            }
        }
        rc = p->pending > 0 ? REND_PENDING : finish(p);
    }
    p->starting = 0;
    if (rc != REND_PENDING) {
        rend_mc_pool_put(&t->pops, p);
    }
    return rc;
}

struct flushctx {
    struct rend_mc_thr *t;
    struct rend_op *op;
    unsigned pending;
    int st;
    int starting;
};

static void
flush_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct flushctx *f = ud;
    int st = err;

    if (st == 0) {
        st = r->kind == REND_MC_R_OK ? REND_OK : rend_mc_reply_error(r);
    }
    if (st < 0 && f->st == REND_OK) {
        f->st = st;
    }
    if (--f->pending == 0 && !f->starting) {
        struct rend_op *op = f->op;
        const struct rend_host *h = f->t->inst->host;
        st = f->st;
        free(f);
        h->done(op, st);
    }
}

/* See rend_mc.h: flush_all [delay] to every server; the first failure of
 * any server is the answer. */
int
rend_mc_op_flush(struct rend_mc_thr *t, struct rend_op *op)
{
    struct rend_mc_inst *in = t->inst;
    struct flushctx *f = calloc(1, sizeof(*f));
    int64_t now = in->host->now();
    int st;

    if (f == NULL) {
        return REND_ENOMEM;
    }
    f->t = t;
    f->op = op;
    f->st = REND_OK;
    f->starting = 1;
    f->pending = 1;
    for (unsigned i = 0; i < in->nservers; i++) {
        int err = REND_EIO;
        struct rend_mc_conn *c = rend_mc_conn_get(t, i, 0, &err);
        if (c == NULL || rend_mc_conn_push(c, flush_reply, f, 0) == 0) {
            if (c != NULL) {
                err = REND_ENOMEM;
            }
            if (f->st == REND_OK) {
                f->st = err;
            }
            continue;
        }
        f->pending++;
        if (op->exptime > now) {
            err = rend_mc_buf_printf(&c->out, "flush_all %lld\r\n",
                                     (long long)(op->exptime - now));
        } else {
            err = rend_mc_buf_printf(&c->out, "flush_all\r\n");
        }
        if (err != 0) {
            c->deferred_err = REND_ENOMEM;
        }
    }
    f->starting = 0;
    if (--f->pending == 0) {
        st = f->st;
        free(f);
        return st;
    }
    return REND_PENDING;
}
