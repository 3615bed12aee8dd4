/*
 * rend_testhost.c - the test host: loads one plugin, runs ops on a private
 * libev loop, and waits for asynchronous completions.
 *
 * Completion tracking.  Every op issued through rend_th_run* gets a
 * struct waiter in op->core (the test host is the "core" here).  host->done
 * marks the waiter under done_mu and wakes the loop with ev_async_send, so
 * the driving thread can block in ev_run(EVRUN_ONCE) and still serve any
 * watchers the plugin keeps on the loop.  A waiter whose op timed out is
 * abandoned: it stays allocated and a late done() frees it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ev.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rend_testhost.h"

#define RUN_TIMEOUT 10.0
#define DESC_MIN_SIZE offsetof(struct rend_handler, flush)

struct rend_th {
    void *dl;
    const struct rend_handler *h;
    void *inst;
    void *tctx;
    int have_tctx;
    struct ev_loop *loop;
    ev_async wake;
    char name[64];
};

struct waiter {
    struct rend_th *th;
    int done;
    int abandoned;
    int status;
};

static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int64_t fake_now;

static void
host_log(int level, const char *who, const char *fmt, ...)
{
    static const char *names[] = { "ERR", "WARN", "INFO", "DEBUG" };
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%s] %s: %s\n", who ? who : "?",
            level >= 0 && level <= 3 ? names[level] : "LOG", line);
}

static int64_t
host_now(void)
{
    int64_t t = atomic_load(&fake_now);

    return t != 0 ? t : (int64_t)time(NULL);
}

static char *
host_value_alloc(struct rend_op *op, size_t n)
{
    char *p;

    if (n >= UINT32_MAX) {
        return NULL;
    }
    p = malloc(n + 1);
    if (p == NULL) {
        return NULL;
    }
    p[n] = '\0';
    free(op->out_value);
    op->out_value = p;
    op->out_nvalue = (uint32_t)n;
    return p;
}

static void
host_done(struct rend_op *op, int status)
{
    struct waiter *w = op->core;
    struct rend_th *th;

    if (w == NULL) {
        fprintf(stderr, "rend_testhost: done() on an op with no waiter\n");
        abort();
    }
    pthread_mutex_lock(&done_mu);
    if (w->done) {
        pthread_mutex_unlock(&done_mu);
        fprintf(stderr, "rend_testhost: done() called twice for one op\n");
        abort();
    }
    if (w->abandoned) {
        pthread_mutex_unlock(&done_mu);
        free(w);
        return;
    }
    w->done = 1;
    w->status = status;
    th = w->th;
    /* Still under the lock: the waiting thread cannot return and close th
     * before the wake-up is sent. */
    ev_async_send(th->loop, &th->wake);
    pthread_mutex_unlock(&done_mu);
}

static const struct rend_host test_host = {
    .abi_major = REND_ABI_MAJOR,
    .abi_minor = REND_ABI_MINOR,
    .size = sizeof(struct rend_host),
    .log = host_log,
    .now = host_now,
    .value_alloc = host_value_alloc,
    .done = host_done,
};

void
rend_th_set_now(int64_t unix_seconds)
{
    atomic_store(&fake_now, unix_seconds);
}

int64_t
rend_th_now(void)
{
    return host_now();
}

static void
wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* The plugin's path: REND_PLUGIN_DIR's file, else REND_TEST_PLUGIN_DIR's
 * when only that one exists. */
static char *
plugin_path(const char *plugin)
{
    const char *dir = getenv("REND_PLUGIN_DIR");
    const char *tdir = getenv("REND_TEST_PLUGIN_DIR");
    char *p, *alt;

    if (strchr(plugin, '/') != NULL) {
        return strdup(plugin);
    }
    if (dir == NULL || dir[0] == '\0') {
        dir = "../plugins/.libs";
    }
    if (asprintf(&p, "%s/rend_%s.so", dir, plugin) < 0) {
        return NULL;
    }
    if (access(p, F_OK) == 0 || tdir == NULL || tdir[0] == '\0') {
        return p;
    }
    if (asprintf(&alt, "%s/rend_%s.so", tdir, plugin) < 0) {
        return p;
    }
    if (access(alt, F_OK) == 0) {
        free(p);
        return alt;
    }
    free(alt);
    return p;
}

static int
check_desc(const struct rend_handler *d, const char *path, char *err,
           size_t errlen)
{
    if (d->abi_major != REND_ABI_MAJOR || d->abi_minor > REND_ABI_MINOR) {
        snprintf(err, errlen, "%s: ABI %u.%u, host is %u.%u", path,
                 d->abi_major, d->abi_minor, REND_ABI_MAJOR, REND_ABI_MINOR);
        return -1;
    }
    if (d->size < DESC_MIN_SIZE || d->size > 65536) {
        snprintf(err, errlen, "%s: descriptor of %u bytes, expected %zu",
                 path, d->size, sizeof(struct rend_handler));
        return -1;
    }
    if (d->build_sig == NULL || strcmp(d->build_sig, REND_BUILD_SIG) != 0) {
        snprintf(err, errlen, "%s: build_sig \"%s\", host is \"%s\"", path,
                 d->build_sig ? d->build_sig : "(none)", REND_BUILD_SIG);
        return -1;
    }
    if (d->create == NULL) {
        snprintf(err, errlen, "%s: no create function", path);
        return -1;
    }
    return 0;
}

static struct rend_kv *
make_opts(const char *const *opts, size_t *n)
{
    struct rend_kv *kv;
    size_t c = 0;

    while (opts != NULL && opts[2 * c] != NULL && opts[2 * c + 1] != NULL) {
        c++;
    }
    kv = calloc(c + 1, sizeof(*kv));
    if (kv == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < c; i++) {
        kv[i].key = opts[2 * i];
        kv[i].value = opts[2 * i + 1];
    }
    *n = c;
    return kv;
}

static int
start_instance(struct rend_th *th, const char *const *opts, char *err,
               size_t errlen)
{
    struct rend_thread thr = { .id = 0, .nthreads = 1 };
    struct rend_kv *kv;
    size_t nkv = 0;
    int rc;

    kv = make_opts(opts, &nkv);
    if (kv == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    err[0] = '\0';
    rc = th->h->create(&test_host, th->name, kv, nkv, &th->inst, err, errlen);
    free(kv);
    if (rc != 0) {
        if (err[0] == '\0') {
            snprintf(err, errlen, "create failed: %s", rend_strerror(rc));
        }
        return -1;
    }
    th->loop = ev_loop_new(EVFLAG_AUTO);
    if (th->loop == NULL) {
        snprintf(err, errlen, "ev_loop_new failed");
        return -1;
    }
    ev_async_init(&th->wake, wake_cb);
    ev_async_start(th->loop, &th->wake);
    thr.loop = th->loop;
    if (th->h->thread_init != NULL) {
        rc = th->h->thread_init(th->inst, &thr, &th->tctx);
        if (rc != 0) {
            snprintf(err, errlen, "thread_init failed: %s", rend_strerror(rc));
            return -1;
        }
    }
    th->have_tctx = 1;
    return 0;
}

struct rend_th *
rend_th_open(const char *plugin, const char *const *opts, char *err,
             size_t errlen)
{
    struct rend_th *th;
    const char *base;
    char *path;

    th = calloc(1, sizeof(*th));
    path = plugin_path(plugin);
    if (th == NULL || path == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    base = strrchr(plugin, '/');
    snprintf(th->name, sizeof(th->name), "test_%s", base ? base + 1 : plugin);
    th->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (th->dl == NULL) {
        snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
        goto fail;
    }
    th->h = dlsym(th->dl, REND_HANDLER_SYMBOL);
    if (th->h == NULL) {
        snprintf(err, errlen, "%s does not export %s", path,
                 REND_HANDLER_SYMBOL);
        goto fail;
    }
    if (check_desc(th->h, path, err, errlen) != 0
        || start_instance(th, opts, err, errlen) != 0) {
        goto fail;
    }
    free(path);
    return th;
fail:
    free(path);
    rend_th_close(th);
    return NULL;
}

void
rend_th_close(struct rend_th *th)
{
    if (th == NULL) {
        return;
    }
    if (th->have_tctx && th->h->thread_exit != NULL) {
        th->h->thread_exit(th->inst, th->tctx);
    }
    if (th->inst != NULL && th->h->destroy != NULL) {
        th->h->destroy(th->inst);
    }
    if (th->loop != NULL) {
        ev_async_stop(th->loop, &th->wake);
        ev_loop_destroy(th->loop);
    }
    if (th->dl != NULL) {
        dlclose(th->dl);
    }
    free(th);
}

const struct rend_handler *
rend_th_handler(struct rend_th *th)
{
    return th->h;
}

void *
rend_th_instance(struct rend_th *th)
{
    return th->inst;
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    int *fired = w->data;

    (void)loop;
    (void)revents;
    *fired = 1;
}

/* Drive the loop until every waiter is done or the timeout fires; the
 * unfinished ones get REND_ETIMEDOUT and are abandoned. */
static void
wait_all(struct rend_th *th, struct waiter **ws, size_t n, int *statuses)
{
    ev_timer timer;
    int fired = 0;
    size_t left;

    ev_now_update(th->loop);
    ev_timer_init(&timer, timeout_cb, RUN_TIMEOUT, 0.);
    timer.data = &fired;
    ev_timer_start(th->loop, &timer);
    for (;;) {
        left = 0;
        pthread_mutex_lock(&done_mu);
        for (size_t i = 0; i < n; i++) {
            if (ws[i] == NULL) {
                continue;
            }
            if (ws[i]->done) {
                statuses[i] = ws[i]->status;
                free(ws[i]);
                ws[i] = NULL;
            } else if (fired) {
                fprintf(stderr, "rend_testhost: %s: op timed out\n",
                        th->name);
                statuses[i] = REND_ETIMEDOUT;
                ws[i]->abandoned = 1;
                ws[i] = NULL;
            } else {
                left++;
            }
        }
        pthread_mutex_unlock(&done_mu);
        if (left == 0) {
            break;
        }
        ev_run(th->loop, EVRUN_ONCE);
    }
    ev_timer_stop(th->loop, &timer);
}

/* Issue one op; a pending op keeps its waiter in *wp. */
static int
issue(struct rend_th *th, struct rend_op *op, struct waiter **wp)
{
    rend_op_f *fn = op->code < REND_OP_SLOTS ? th->h->ops[op->code] : NULL;
    struct waiter *w;
    int st;

    *wp = NULL;
    if (fn == NULL) {
        return REND_ENOTSUP;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return REND_ENOMEM;
    }
    w->th = th;
    op->core = w;
    st = fn(th->tctx, op);
    if (st == REND_PENDING) {
        *wp = w;
        return st;
    }
    op->core = NULL;
    free(w);
    return st;
}

int
rend_th_run(struct rend_th *th, struct rend_op *op)
{
    int st;

    rend_th_run_many(th, &op, 1, &st);
    return st;
}

void
rend_th_run_many(struct rend_th *th, struct rend_op **ops, size_t n,
                 int *statuses)
{
    struct waiter **ws = calloc(n ? n : 1, sizeof(*ws));
    size_t pending = 0;

    if (ws == NULL) {
        for (size_t i = 0; i < n; i++) {
            statuses[i] = REND_ENOMEM;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        statuses[i] = issue(th, ops[i], &ws[i]);
        pending += ws[i] != NULL;
    }
    if (pending > 0) {
        if (th->h->flush != NULL) {
            th->h->flush(th->tctx);
        }
        wait_all(th, ws, n, statuses);
    }
    free(ws);
}

struct stats_buf {
    char *s;
    size_t len, cap;
};

static void
stats_emit(void *ud, const char *name, const char *value)
{
    struct stats_buf *b = ud;
    size_t need = strlen(name) + strlen(value) + 3;
    char *p;

    if (b->s == NULL) {
        return;
    }
    if (b->len + need > b->cap) {
        size_t cap = (b->cap + need) * 2;

        p = realloc(b->s, cap);
        if (p == NULL) {
            free(b->s);
            b->s = NULL;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    b->len += (size_t)sprintf(b->s + b->len, "%s %s\n", name, value);
}

char *
rend_th_stats(struct rend_th *th)
{
    struct stats_buf b = { .s = malloc(256), .len = 0, .cap = 256 };

    if (b.s == NULL) {
        return NULL;
    }
    b.s[0] = '\0';
    if (th->h->stats != NULL) {
        th->h->stats(th->inst, stats_emit, &b);
    }
    return b.s;
}

int
rend_th_stat_u64(const char *stats, const char *name, uint64_t *out)
{
    size_t n = strlen(name);
    const char *p = stats;
    char *end;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            if (p[n + 1] < '0' || p[n + 1] > '9') {
                return -1;
            }
            *out = strtoull(p + n + 1, &end, 10);
            return *end == '\n' || *end == '\0' ? 0 : -1;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return -1;
}

void
rend_th_op_init(struct rend_op *op, int code, const char *key,
                const char *value, size_t nvalue, uint32_t flags,
                int64_t exptime)
{
    memset(op, 0, sizeof(*op));
    op->code = (uint16_t)code;
    op->key = key ? key : "";
    op->nkey = key ? (uint32_t)strlen(key) : 0;
    op->value = value ? value : "";
    op->nvalue = (uint32_t)nvalue;
    op->flags = flags;
    op->exptime = exptime;
}

void
rend_th_op_fini(struct rend_op *op)
{
    free(op->out_value);
    op->out_value = NULL;
    op->out_nvalue = 0;
}
