/*
 * rend_fault.c - test plugin: a small in-memory handler (one mutex, no
 * size limit, no eviction) whose failures and timing are scripted by
 * options, for tests of the core's routing and error handling.
 *
 * Options:
 *   fail_<op>=<status>  <op> is get gat touch set add replace append
 *                       prepend cas delete incr decr flush; <status> is a
 *                       status name without REND_ (miss, not_stored, exists,
 *                       not_found, non_numeric, eio, etimedout, ebusy,
 *                       enomem, etoobig, enotsup, einval, einternal,
 *                       enospc, edown, ok).  That op answers the status
 *                       without touching the data...
 *   fail_prefix=<p>     ...for keys starting with p only (default: all).
 *   async=true          every op returns REND_PENDING and completes from
 *                       a background thread (caps REND_CAP_ASYNC)...
 *   delay_us=<n>        ...n microseconds after it was issued (default 0).
 *   break_contract=<how> break the host->done contract on purpose, to
 *                       prove the core catches it: double_done (host->done
 *                       twice per op, then REND_PENDING) or done_and_return
 *                       (host->done, then also return the status); both
 *                       on the calling thread.
 *   corrupt=<n>         a wrong server, for rend-bench's mismatch test:
 *                       every n-th get hit returns its value with the first
 *                       byte changed (its flags when the value is empty).
 *   stale=<n>           every n-th set of an existing key answers STORED
 *                       but keeps the old value.
 * Stats: calls_<op> (ops issued, failed ones included), items.
 * A fill (REND_OP_FILL: the core's L1 copy keeping L2's cas) is scripted
 * and counted as a set.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <rend/handler.h>

#define NBUCKETS 4096

/* Built with FAULT_ABI_1_0 (rend_fault_v10.so) it is an ABI 1.0 plugin:
 * no FILL op, and a request cas on delete, append, prepend, incr and
 * decr goes unchecked, as 1.0 allowed. */
#ifdef FAULT_ABI_1_0
#define CAS_DIFFERS(op, it) 0
#else
#define CAS_DIFFERS(op, it) ((op)->cas != 0 && (it)->cas != (op)->cas)
#endif
#define NO_FAULT 1000 /* not a status */

static const char *opnames[REND_OP__COUNT] = {
    "get", "gat", "touch", "set", "add", "replace", "append", "prepend",
    "cas", "delete", "incr", "decr", "flush", "fill", "get_text",
};

struct fitem {
    struct fitem *next;
    uint32_t nkey, nvalue, flags;
    int64_t exptime, stored;
    uint64_t cas;
    uint64_t seq; /* flush order (a fill sets cas, not seq) */
    char *value;
    char key[];
};

/* A queued async op. */
struct pend {
    struct pend *next;
    struct rend_op *op;
    struct timespec due;
};

struct fault {
    const struct rend_host *host;
    char name[64];
    int fail[REND_OP__COUNT]; /* status or NO_FAULT */
    char *prefix;
    size_t nprefix;
    int async;
    int double_done, done_and_return;
    uint64_t delay_us;
    uint64_t corrupt_every, stale_every; /* 0 = off; counters under mu */
    uint64_t corrupt_n, stale_n;
    _Atomic uint64_t calls[REND_OP__COUNT];

    pthread_mutex_t mu; /* the map and the flush marks */
    struct fitem *buckets[NBUCKETS];
    uint64_t items, cas;
    uint64_t flush_cas;
    int64_t flush_before, flush_at;

    /* async completion thread */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    struct pend *qhead, *qtail;
    int stop;
};

/* ---- the map (f->mu held) ------------------------------------------- */

static uint32_t
hash(const char *k, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    }
    return h;
}

static int
dead(const struct fault *f, const struct fitem *it, int64_t now)
{
    return REND_EXPIRED(it->exptime, now) || it->seq <= f->flush_cas
           || it->stored < f->flush_before
           || (f->flush_at != 0 && f->flush_at <= now
               && it->stored < f->flush_at);
}

static void
item_free(struct fitem *it)
{
    free(it->value);
    free(it);
}

/* The slot pointing at key's live item (dead ones met are freed), or the
 * slot at the end of the chain. */
static struct fitem **
slot(struct fault *f, const char *key, size_t nkey, int64_t now)
{
    struct fitem **pp = &f->buckets[hash(key, nkey) % NBUCKETS];

    while (*pp != NULL) {
        struct fitem *it = *pp;

        if (it->nkey == nkey && memcmp(it->key, key, nkey) == 0) {
            if (!dead(f, it, now)) {
                return pp;
            }
            *pp = it->next;
            item_free(it);
            f->items--;
            continue;
        }
        pp = &it->next;
    }
    return pp;
}

/* Store value at *pp (replacing what is there); returns the new cas. */
static int
put(struct fault *f, struct fitem **pp, const char *key, size_t nkey,
    const char *v1, size_t n1, const char *v2, size_t n2, uint32_t flags,
    int64_t exptime, int64_t now, uint64_t *cas)
{
    struct fitem *it = malloc(sizeof(*it) + nkey);
    char *value = malloc(n1 + n2 + 1);

    if (it == NULL || value == NULL) {
        free(it);
        free(value);
        return REND_ENOMEM;
    }
    memcpy(it->key, key, nkey);
    memcpy(value, v1, n1);
    memcpy(value + n1, v2, n2);
    it->value = value;
    it->nkey = (uint32_t)nkey;
    it->nvalue = (uint32_t)(n1 + n2);
    it->flags = flags;
    it->exptime = exptime;
    it->stored = now;
    it->seq = it->cas = ++f->cas;
    if (*pp != NULL) {
        it->next = (*pp)->next;
        item_free(*pp);
    } else {
        it->next = NULL;
        f->items++;
    }
    *pp = it;
    *cas = it->cas;
    return REND_OK;
}

static int
do_flush(struct fault *f, int64_t when, int64_t now)
{
    if (f->flush_at != 0 && f->flush_at <= now) {
        if (f->flush_at > f->flush_before) {
            f->flush_before = f->flush_at;
        }
        f->flush_at = 0;
    }
    if (when <= 0) {
        f->flush_cas = f->cas;
    } else if (when <= now) {
        if (when > f->flush_before) {
            f->flush_before = when;
        }
    } else {
        f->flush_at = when;
    }
    return REND_OK;
}

static int
do_arith(struct fault *f, struct fitem **pp, struct rend_op *op, int64_t now)
{
    struct fitem *it = *pp;
    char num[24];
    uint64_t v;
    int len;

    if (rend_counter_parse(it->value, it->nvalue, &v) != 0) {
        return REND_NON_NUMERIC;
    }
    if (op->code == REND_OP_INCR) {
        v += op->delta;
    } else {
        v = op->delta > v ? 0 : v - op->delta;
    }
    op->out_number = v;
    len = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    return put(f, pp, op->key, op->nkey, num, (size_t)len, "", 0, it->flags,
               it->exptime, now, &op->out_cas);
}

/* Run op on the map: full memcached-like semantics. */
static int
execute(struct fault *f, struct rend_op *op)
{
    int64_t now = f->host->now();
    struct fitem **pp, *it;
    int code = op->code;

    if (code == REND_OP_FLUSH) {
        return do_flush(f, op->exptime, now);
    }
    pp = slot(f, op->key, op->nkey, now);
    it = *pp;
    switch (code) {
    case REND_OP_GET:
    case REND_OP_GAT:
        if (it == NULL) {
            return REND_MISS;
        }
        if (code == REND_OP_GAT) {
            it->exptime = op->exptime;
        }
        if (!(op->opflags & REND_OPF_NO_VALUE)) {
            char *buf = f->host->value_alloc(op, it->nvalue);

            if (buf == NULL) {
                return REND_ENOMEM;
            }
            memcpy(buf, it->value, it->nvalue);
            if (f->corrupt_every && ++f->corrupt_n % f->corrupt_every == 0) {
                if (it->nvalue > 0) {
                    buf[0] = (char)(buf[0] ^ 0x20);
                } else {
                    op->out_flags = it->flags ^ 1u;
                    op->out_exptime = it->exptime;
                    op->out_cas = it->cas;
                    return REND_OK;
                }
            }
        }
        op->out_flags = it->flags;
        op->out_exptime = it->exptime;
        op->out_cas = it->cas;
        return REND_OK;
    case REND_OP_TOUCH:
        if (it == NULL) {
            return REND_NOT_FOUND;
        }
        it->exptime = op->exptime;
        op->out_cas = it->cas;
        return REND_OK;
    case REND_OP_ADD:
        if (it != NULL) {
            return REND_NOT_STORED;
        }
        break;
    case REND_OP_REPLACE:
        if (it == NULL) {
            return REND_NOT_STORED;
        }
        break;
    case REND_OP_CAS:
        if (it == NULL) {
            return REND_NOT_FOUND;
        }
        if (it->cas != op->cas) {
            return REND_EXISTS;
        }
        break;
    case REND_OP_APPEND:
    case REND_OP_PREPEND:
        if (it == NULL) {
            return REND_NOT_STORED;
        }
        if (CAS_DIFFERS(op, it)) {
            return REND_EXISTS;
        }
        if (code == REND_OP_APPEND) {
            return put(f, pp, op->key, op->nkey, it->value, it->nvalue,
                       op->value, op->nvalue, it->flags, it->exptime, now,
                       &op->out_cas);
        }
        return put(f, pp, op->key, op->nkey, op->value, op->nvalue,
                   it->value, it->nvalue, it->flags, it->exptime, now,
                   &op->out_cas);
    case REND_OP_DELETE:
        if (it == NULL) {
            return REND_NOT_FOUND;
        }
        if (CAS_DIFFERS(op, it)) {
            return REND_EXISTS;
        }
        *pp = it->next;
        item_free(it);
        f->items--;
        return REND_OK;
    case REND_OP_INCR:
    case REND_OP_DECR:
        if (it == NULL) {
            return REND_NOT_FOUND;
        }
        if (CAS_DIFFERS(op, it)) {
            return REND_EXISTS;
        }
        return do_arith(f, pp, op, now);
    case REND_OP_FILL: {
        int st;

        if (it == NULL && (op->opflags & REND_OPF_IF_PRESENT)) {
            return REND_NOT_STORED;
        }
        st = put(f, pp, op->key, op->nkey, op->value, op->nvalue, "", 0,
                 op->flags, op->exptime, now, &op->out_cas);
        if (st == REND_OK && op->cas != 0) {
            (*pp)->cas = op->out_cas = op->cas;
        }
        return st;
    }
    case REND_OP_SET:
        if (it != NULL && f->stale_every
            && ++f->stale_n % f->stale_every == 0) {
            op->out_cas = it->cas;
            return REND_OK;     /* acknowledged, not applied */
        }
        break;
    default:
        return REND_ENOTSUP;
    }
    return put(f, pp, op->key, op->nkey, op->value, op->nvalue, "", 0,
               op->flags, op->exptime, now, &op->out_cas);
}

/* The scripted failure for op, or NO_FAULT. */
static int
scripted(const struct fault *f, const struct rend_op *op)
{
    /* a fill (an L1 copy) is a set for scripting and counting */
    int st = f->fail[op->code == REND_OP_FILL ? REND_OP_SET : op->code];

    if (st == NO_FAULT) {
        return NO_FAULT;
    }
    if (op->nkey < f->nprefix || memcmp(op->key, f->prefix, f->nprefix) != 0) {
        return NO_FAULT;
    }
    return st;
}

static int
complete(struct fault *f, struct rend_op *op)
{
    int st = scripted(f, op);

    if (st != NO_FAULT) {
        return st;
    }
    pthread_mutex_lock(&f->mu);
    st = execute(f, op);
    pthread_mutex_unlock(&f->mu);
    return st;
}

/* ---- async completion ----------------------------------------------- */

static void *
completer(void *arg)
{
    struct fault *f = arg;
    struct pend *p;

    pthread_mutex_lock(&f->qmu);
    for (;;) {
        while (f->qhead == NULL && !f->stop) {
            pthread_cond_wait(&f->qcv, &f->qmu);
        }
        if (f->qhead == NULL) {
            break; /* stopping and drained */
        }
        p = f->qhead;
        if (!f->stop
            && pthread_cond_timedwait(&f->qcv, &f->qmu, &p->due) == 0) {
            continue; /* woken early: look again */
        }
        f->qhead = p->next;
        if (f->qhead == NULL) {
            f->qtail = NULL;
        }
        pthread_mutex_unlock(&f->qmu);
        f->host->done(p->op, complete(f, p->op));
        free(p);
        pthread_mutex_lock(&f->qmu);
    }
    pthread_mutex_unlock(&f->qmu);
    return NULL;
}

static int
enqueue(struct fault *f, struct rend_op *op)
{
    struct pend *p = malloc(sizeof(*p));

    if (p == NULL) {
        return REND_ENOMEM;
    }
    p->op = op;
    p->next = NULL;
    clock_gettime(CLOCK_MONOTONIC, &p->due);
    p->due.tv_sec += (time_t)(f->delay_us / 1000000);
    p->due.tv_nsec += (long)(f->delay_us % 1000000) * 1000;
    if (p->due.tv_nsec >= 1000000000L) {
        p->due.tv_sec++;
        p->due.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->qmu);
    if (f->qtail != NULL) {
        f->qtail->next = p;
    } else {
        f->qhead = p;
    }
    f->qtail = p;
    pthread_cond_signal(&f->qcv);
    pthread_mutex_unlock(&f->qmu);
    return REND_PENDING;
}

static int
fault_op(void *tctx, struct rend_op *op)
{
    struct fault *f = tctx;

    if (op->code >= REND_OP__COUNT) {
        return REND_ENOTSUP;
    }
    atomic_fetch_add(&f->calls[op->code == REND_OP_FILL ? REND_OP_SET
                                                        : op->code], 1);
    if (f->done_and_return || f->double_done) {
        /* on the worker's own thread: both completions reach the core
         * before it can act on the first */
        int st = complete(f, op);
        f->host->done(op, st);
        if (f->done_and_return) {
            return st;
        }
        f->host->done(op, st);
        return REND_PENDING;
    }
    return f->async ? enqueue(f, op) : complete(f, op);
}

/* ---- instance ------------------------------------------------------- */

static int
status_by_name(const char *name, int *out)
{
    static const struct {
        const char *name;
        int value;
    } all[] = {
#define FAULT_STATUS(n, v, text) { #n, v },
        REND_STATUS_MAP(FAULT_STATUS)
#undef FAULT_STATUS
    };

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcasecmp(all[i].name + strlen("REND_"), name) == 0
            && all[i].value != REND_PENDING) {
            *out = all[i].value;
            return 0;
        }
    }
    return -1;
}

static int
parse_opts(struct fault *f, const struct rend_kv *opts, size_t n, char *err,
           size_t errlen)
{
    for (int op = 0; op < REND_OP__COUNT; op++) {
        char name[32];
        const char *v;

        f->fail[op] = NO_FAULT;
        snprintf(name, sizeof(name), "fail_%s", opnames[op]);
        v = rend_opt_str(opts, n, name, NULL);
        if (v != NULL && status_by_name(v, &f->fail[op]) != 0) {
            snprintf(err, errlen, "%s: unknown status '%s'", name, v);
            return -1;
        }
    }
    f->prefix = strdup(rend_opt_str(opts, n, "fail_prefix", ""));
    if (f->prefix == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    f->nprefix = strlen(f->prefix);
    if (rend_opt_bool(opts, n, "async", 0, &f->async) != 0) {
        snprintf(err, errlen, "async must be a boolean");
        return -1;
    }
    if (rend_opt_u64(opts, n, "delay_us", 0, 60000000, &f->delay_us) != 0) {
        snprintf(err, errlen, "delay_us must be 0..60000000");
        return -1;
    }
    {
        const char *b = rend_opt_str(opts, n, "break_contract", NULL);
        if (b != NULL && strcmp(b, "double_done") == 0) {
            f->double_done = 1;
        } else if (b != NULL && strcmp(b, "done_and_return") == 0) {
            f->done_and_return = 1;
        } else if (b != NULL) {
            snprintf(err, errlen, "break_contract must be double_done or "
                     "done_and_return");
            return -1;
        }
    }
    if (rend_opt_u64(opts, n, "corrupt", 0, UINT32_MAX, &f->corrupt_every) != 0
        || rend_opt_u64(opts, n, "stale", 0, UINT32_MAX, &f->stale_every) != 0) {
        snprintf(err, errlen, "corrupt and stale must be 0..4294967295");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = opts[i].key;

        if (strcmp(k, "corrupt") == 0 || strcmp(k, "stale") == 0) {
            continue;
        }
        if (strncmp(k, "fail_", 5) != 0 && strcmp(k, "async") != 0
            && strcmp(k, "delay_us") != 0
            && strcmp(k, "break_contract") != 0) {
            snprintf(err, errlen, "unknown option '%s'", k);
            return -1;
        }
    }
    return 0;
}

static void
fault_destroy(void *inst)
{
    struct fault *f = inst;

    if (f == NULL) {
        return;
    }
    if (f->thread_started) {
        pthread_mutex_lock(&f->qmu);
        f->stop = 1;
        pthread_cond_signal(&f->qcv);
        pthread_mutex_unlock(&f->qmu);
        pthread_join(f->thread, NULL);
    }
    for (size_t b = 0; b < NBUCKETS; b++) {
        struct fitem *it, *next;

        for (it = f->buckets[b]; it != NULL; it = next) {
            next = it->next;
            item_free(it);
        }
    }
    pthread_mutex_destroy(&f->mu);
    pthread_mutex_destroy(&f->qmu);
    pthread_cond_destroy(&f->qcv);
    free(f->prefix);
    free(f);
}

static int
fault_create(const struct rend_host *host, const char *instance,
             const struct rend_kv *opts, size_t nopts, void **inst, char *err,
             size_t errlen)
{
    struct fault *f = calloc(1, sizeof(*f));
    pthread_condattr_t ca;

    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return REND_ENOMEM;
    }
    f->host = host;
    snprintf(f->name, sizeof(f->name), "%s", instance ? instance : "fault");
    pthread_mutex_init(&f->mu, NULL);
    pthread_mutex_init(&f->qmu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->qcv, &ca);
    pthread_condattr_destroy(&ca);
    if (parse_opts(f, opts, nopts, err, errlen) != 0) {
        fault_destroy(f);
        return REND_EINVAL;
    }
    if (f->async) {
        if (pthread_create(&f->thread, NULL, completer, f) != 0) {
            snprintf(err, errlen, "cannot start the completion thread");
            fault_destroy(f);
            return REND_EINTERNAL;
        }
        f->thread_started = 1;
    }
    *inst = f;
    return REND_OK;
}

static int
fault_thread_init(void *inst, const struct rend_thread *thr, void **tctx)
{
    *tctx = inst;
    return REND_OK;
}

static void
fault_thread_exit(void *inst, void *tctx)
{
}

static void
fault_stats(void *inst, rend_stat_emit_f *emit, void *ud)
{
    struct fault *f = inst;
    char name[32], value[24];
    uint64_t items;

    for (int op = 0; op < REND_OP__COUNT; op++) {
        snprintf(name, sizeof(name), "calls_%s", opnames[op]);
        snprintf(value, sizeof(value), "%llu",
                 (unsigned long long)atomic_load(&f->calls[op]));
        emit(ud, name, value);
    }
    pthread_mutex_lock(&f->mu);
    items = f->items;
    pthread_mutex_unlock(&f->mu);
    snprintf(value, sizeof(value), "%llu", (unsigned long long)items);
    emit(ud, "items", value);
}

static int
fault_walk(void *inst, rend_walk_f *fn, void *ud)
{
    struct fault *f = inst;
    int64_t now = f->host->now();
    int rc = 0;

    pthread_mutex_lock(&f->mu);
    for (size_t b = 0; b < NBUCKETS && rc == 0; b++) {
        for (struct fitem *it = f->buckets[b]; it != NULL && rc == 0;
             it = it->next) {
            if (!dead(f, it, now)) {
                rc = fn(ud, it->key, it->nkey, it->value, it->nvalue,
                        it->flags, it->exptime, it->cas);
            }
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

REND_EXPORT const struct rend_handler rend_handler_v1 = {
#ifdef FAULT_ABI_1_0
    .abi_major = REND_ABI_MAJOR, .abi_minor = 0,
    .size = sizeof(struct rend_handler), .build_sig = REND_BUILD_SIG,
#else
    REND_HANDLER_INIT,
#endif
    .caps = REND_CAP_ASYNC | REND_CAP_CAS,
    .name = "fault",
    .version = "1.0",
    .create = fault_create,
    .destroy = fault_destroy,
    .thread_init = fault_thread_init,
    .thread_exit = fault_thread_exit,
    .ops = {
        [REND_OP_GET] = fault_op,     [REND_OP_GAT] = fault_op,
        [REND_OP_TOUCH] = fault_op,   [REND_OP_SET] = fault_op,
        [REND_OP_ADD] = fault_op,     [REND_OP_REPLACE] = fault_op,
        [REND_OP_APPEND] = fault_op,  [REND_OP_PREPEND] = fault_op,
        [REND_OP_CAS] = fault_op,     [REND_OP_DELETE] = fault_op,
        [REND_OP_INCR] = fault_op,    [REND_OP_DECR] = fault_op,
        [REND_OP_FLUSH] = fault_op,
#ifndef FAULT_ABI_1_0
        [REND_OP_FILL] = fault_op,
#endif
    },
    .stats = fault_stats,
    .walk = fault_walk,
};
