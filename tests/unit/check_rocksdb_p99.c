/*
 * check_rocksdb_p99.c - set latency of the rocksdb handler under a
 * sustained overwrite load: W writer threads each keep one set in flight
 * on random keys of a key space several times the write buffer, for D
 * seconds; p50/p99/p99.9/max and ops/s are printed per 10 s window, so
 * flush and compaction stalls show up as windows with a worse p99.
 *
 * Env-gated, out of make check: skipped (exit 77) unless
 * REND_ROCKSDB_P99_SECS is set.  Knobs: REND_ROCKSDB_P99_WRITERS (16),
 * REND_ROCKSDB_P99_KEYS (500000), REND_ROCKSDB_P99_VALUE (1000 bytes),
 * REND_ROCKSDB_P99_OPTS (extra "k=v k=v" plugin options).  Fails when a
 * set fails or the run makes no progress.
 *
 * The plugin is driven directly (dlopen + a minimal struct rend_host) so
 * many threads can share one instance, as rend's workers do.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rend/handler.h>

#define WINDOW_S 10
#define MAX_WINDOWS 64
#define NBUCKETS 512 /* 16 per power of two of microseconds */
#define MAX_OPTS 32

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done, status;
};

static const struct rend_handler *h;
static void *inst;
static _Atomic uint64_t hist[MAX_WINDOWS][NBUCKETS];
static _Atomic uint64_t failures;
static _Atomic int stop;
static double t_start;
static unsigned nkeys, value_len;
static char *values; /* random bytes, value_len * 64 */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
host_log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "[%s] %d: ", who, level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t
host_now(void)
{
    return (int64_t)time(NULL);
}

static char *
host_value_alloc(struct rend_op *op, size_t n)
{
    char *p = realloc(op->out_value, n ? n : 1);

    if (p != NULL) {
        op->out_value = p;
        op->out_nvalue = (uint32_t)n;
    }
    return p;
}

static void
host_done(struct rend_op *op, int status)
{
    struct waiter *w = op->core;

    pthread_mutex_lock(&w->mu);
    w->done = 1;
    w->status = status;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

static const struct rend_host host = {
    .abi_major = REND_ABI_MAJOR,
    .abi_minor = REND_ABI_MINOR,
    .size = sizeof(struct rend_host),
    .log = host_log,
    .now = host_now,
    .value_alloc = host_value_alloc,
    .done = host_done,
};

static unsigned
bucket_of(double us)
{
    double b = us < 1 ? 0 : log2(us) * 16;

    return b >= NBUCKETS - 1 ? NBUCKETS - 1 : (unsigned)b;
}

static double
bucket_us(unsigned b)
{
    return exp2((double)(b + 1) / 16); /* upper edge */
}

static void *
writer_main(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    struct rend_thread thr = { NULL, (unsigned)(uintptr_t)arg, 1 };
    struct waiter w;
    void *tctx = inst;
    char key[32];

    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cond, NULL);
    if (h->thread_init != NULL && h->thread_init(inst, &thr, &tctx) != 0) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    while (!atomic_load(&stop)) {
        struct rend_op op;
        double t0 = now_s(), t1;
        int st, win;

        memset(&op, 0, sizeof(op));
        snprintf(key, sizeof(key), "ow:%u", (unsigned)rand_r(&seed) % nkeys);
        op.code = REND_OP_SET;
        op.key = key;
        op.nkey = (uint32_t)strlen(key);
        op.value = values + (size_t)(rand_r(&seed) % 64) * value_len;
        op.nvalue = value_len;
        op.core = &w;
        w.done = 0;
        st = h->ops[REND_OP_SET](tctx, &op);
        if (st == REND_PENDING) {
            pthread_mutex_lock(&w.mu);
            while (!w.done) {
                pthread_cond_wait(&w.cond, &w.mu);
            }
            st = w.status;
            pthread_mutex_unlock(&w.mu);
        }
        t1 = now_s();
        free(op.out_value);
        if (st != REND_OK) {
            atomic_fetch_add(&failures, 1);
            continue;
        }
        win = (int)((t1 - t_start) / WINDOW_S);
        if (win < MAX_WINDOWS) {
            atomic_fetch_add(&hist[win][bucket_of((t1 - t0) * 1e6)], 1);
        }
    }
    if (h->thread_exit != NULL) {
        h->thread_exit(inst, tctx);
    }
    return NULL;
}

static double
pct(const _Atomic uint64_t *hb, uint64_t total, double p)
{
    uint64_t want = (uint64_t)ceil((double)total * p), seen = 0;

    for (unsigned b = 0; b < NBUCKETS; b++) {
        seen += atomic_load(&hb[b]);
        if (seen >= want && seen > 0) {
            return bucket_us(b);
        }
    }
    return 0;
}

/* Split "k=v k=v" into kv (strings point into buf). */
static size_t
parse_opts(char *buf, struct rend_kv *kv, size_t max)
{
    size_t n = 0;

    for (char *tok = strtok(buf, " "); tok && n < max; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');

        if (eq == NULL) {
            continue;
        }
        *eq = '\0';
        kv[n].key = tok;
        kv[n].value = eq + 1;
        n++;
    }
    return n;
}

static unsigned
env_u(const char *name, unsigned def)
{
    const char *v = getenv(name);

    return v && *v ? (unsigned)strtoul(v, NULL, 10) : def;
}

static void
report(unsigned secs)
{
    unsigned nwin = (secs + WINDOW_S - 1) / WINDOW_S;
    uint64_t ok_total = 0;

    printf("window    sets/s     p50 us    p99 us  p99.9 us    max us\n");
    for (unsigned wi = 0; wi < nwin && wi < MAX_WINDOWS; wi++) {
        uint64_t total = 0;
        unsigned maxb = 0;

        for (unsigned b = 0; b < NBUCKETS; b++) {
            uint64_t c = atomic_load(&hist[wi][b]);

            total += c;
            maxb = c ? b : maxb;
        }
        ok_total += total;
        printf("%3u-%3us %9.0f %10.0f %9.0f %9.0f %9.0f\n", wi * WINDOW_S,
               (wi + 1) * WINDOW_S, (double)total / WINDOW_S,
               pct(hist[wi], total, 0.5), pct(hist[wi], total, 0.99),
               pct(hist[wi], total, 0.999), bucket_us(maxb));
    }
    printf("total %llu sets, %llu failed\n", (unsigned long long)ok_total,
           (unsigned long long)atomic_load(&failures));
}

static void
print_stat(void *ud, const char *name, const char *value)
{
    (void)ud;
    printf("%s=%s ", name, value);
}

static int
run(const char *plugin_dir, unsigned secs, unsigned nwriters)
{
    char path[512], optbuf[2048], tmp[] = "/tmp/rend_rdb_p99_XXXXXX";
    char err[256], cmd[600];
    struct rend_kv kv[MAX_OPTS + 1];
    pthread_t *ths = calloc(nwriters, sizeof(*ths));
    size_t nkv;
    void *dl;
    char *stats_opts = getenv("REND_ROCKSDB_P99_OPTS");
    int rc;

    snprintf(path, sizeof(path), "%s/rend_rocksdb.so", plugin_dir);
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL || ths == NULL || mkdtemp(tmp) == NULL) {
        fprintf(stderr, "setup: %s\n", dl ? "out of memory" : dlerror());
        return 1;
    }
    h = dlsym(dl, REND_HANDLER_SYMBOL);
    kv[0].key = "path";
    kv[0].value = tmp;
    snprintf(optbuf, sizeof(optbuf), "%s", stats_opts ? stats_opts : "");
    nkv = 1 + parse_opts(optbuf, kv + 1, MAX_OPTS);
    if (h == NULL || h->create(&host, "p99", kv, nkv, &inst, err,
                               sizeof(err)) != 0) {
        fprintf(stderr, "create: %s\n", h ? err : "no descriptor");
        return 1;
    }
    printf("overwrite load: %u s, %u writers, %u keys x %u bytes (%.0f MB), "
           "opts \"%s\"\n", secs, nwriters, nkeys, value_len,
           (double)nkeys * value_len / 1e6, stats_opts ? stats_opts : "");
    t_start = now_s();
    for (unsigned i = 0; i < nwriters; i++) {
        pthread_create(&ths[i], NULL, writer_main, (void *)(uintptr_t)(i + 1));
    }
    while (now_s() - t_start < secs) {
        struct timespec ts = { 0, 200 * 1000 * 1000 };

        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < nwriters; i++) {
        pthread_join(ths[i], NULL);
    }
    report(secs);
    if (h->stats != NULL) {
        h->stats(inst, print_stat, NULL);
        putchar('\n');
    }
    h->destroy(inst);
    dlclose(dl);
    free(ths);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    rc = system(cmd);
    return rc != 0 || atomic_load(&failures) != 0;
}

int
main(void)
{
    const char *dir = getenv("REND_PLUGIN_DIR");
    unsigned secs = env_u("REND_ROCKSDB_P99_SECS", 0);

    if (secs == 0) {
        printf("check_rocksdb_p99: set REND_ROCKSDB_P99_SECS to run\n");
        return 77;
    }
    nkeys = env_u("REND_ROCKSDB_P99_KEYS", 500000);
    value_len = env_u("REND_ROCKSDB_P99_VALUE", 1000);
    values = malloc((size_t)value_len * 64);
    if (values == NULL || nkeys == 0) {
        return 1;
    }
    srandom(7);
    for (size_t i = 0; i < (size_t)value_len * 64; i++) {
        values[i] = (char)random();
    }
    return run(dir && *dir ? dir : "../plugins/.libs", secs,
               env_u("REND_ROCKSDB_P99_WRITERS", 16));
}
