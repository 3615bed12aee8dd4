/*
 * check_rocksdb_bench.c - throughput figures for the rocksdb handler (built
 * by make check, not run by it):
 *   - set ops/s and ops per commit with wal_sync=true, wal_sync=false and
 *     disable_wal=true, one op at a time and 1000 in flight;
 *   - get ops/s with read_mode=inline (block-cache-only get on the calling
 *     thread, pool on a cache miss) against read_mode=pool, with a block
 *     cache that holds the data set (hot) and one that holds ~5% (cold),
 *     one op at a time and in groups of 100 (a multi-get).
 * Usage: check_rocksdb_bench [nkeys]  (REND_PLUGIN_DIR must point at the
 * built plugins).  Exits non-zero when an op fails.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rend_testhost.h"

#define GROUP_MAX 1000
#define VALUE_LEN 200

static char dir[256];
static char value[VALUE_LEN];

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct rend_th *
open_db(const char *sub, const char *k1, const char *v1, const char *k2,
        const char *v2)
{
    static char path[300];
    const char *opts[] = { "path", path, k1, v1, k2, v2, NULL };
    char err[256];
    struct rend_th *th;

    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    th = rend_th_open("rocksdb", opts, err, sizeof(err));
    if (th == NULL) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    return th;
}

/* n ops of `code` over keys (random or sequential) in groups; ops/s. */
static double
run_ops(struct rend_th *th, int code, size_t n, size_t nkeys, size_t group,
        int random_keys)
{
    static struct rend_op ops[GROUP_MAX];
    static char keys[GROUP_MAX][32];
    struct rend_op *p[GROUP_MAX];
    int st[GROUP_MAX];
    double t0 = now_s();

    for (size_t i = 0; i < n; i += group) {
        size_t g = n - i < group ? n - i : group;

        for (size_t j = 0; j < g; j++) {
            size_t k = random_keys ? (size_t)random() % nkeys : (i + j) % nkeys;

            snprintf(keys[j], sizeof(keys[j]), "key:%zu", k);
            rend_th_op_init(&ops[j], code, keys[j],
                            code == REND_OP_GET ? NULL : value,
                            code == REND_OP_GET ? 0 : VALUE_LEN, 0, 0);
            p[j] = &ops[j];
        }
        rend_th_run_many(th, p, g, st);
        for (size_t j = 0; j < g; j++) {
            if (st[j] != REND_OK) {
                fprintf(stderr, "op %d on %s: status %d\n", code, keys[j],
                        st[j]);
                exit(1);
            }
            rend_th_op_fini(&ops[j]);
        }
    }
    return (double)n / (now_s() - t0);
}

static uint64_t
stat_of(struct rend_th *th, const char *name)
{
    char *s = rend_th_stats(th);
    uint64_t v = 0;

    rend_th_stat_u64(s, name, &v);
    free(s);
    return v;
}

/* Let background compactions finish so they do not skew read figures. */
static void
settle(struct rend_th *th)
{
    for (int i = 0; i < 600; i++) {
        if (stat_of(th, "running_compactions") == 0
            && stat_of(th, "pending_compaction_bytes") == 0) {
            return;
        }
        usleep(100 * 1000);
    }
}

static void
bench_sets(size_t nkeys)
{
    static const char *modes[][2] = {
        { "wal_sync", "true" },
        { "wal_sync", "false" },
        { "disable_wal", "true" },
    };

    for (int m = 0; m < 3; m++) {
        char sub[32];
        struct rend_th *th;
        size_t n1 = m == 0 ? 2000 : 20000;
        double one, many;
        uint64_t c0, c1, w0, w1;

        snprintf(sub, sizeof(sub), "set%d", m);
        th = open_db(sub, modes[m][0], modes[m][1], NULL, NULL);
        one = run_ops(th, REND_OP_SET, n1, nkeys, 1, 1);
        c0 = stat_of(th, "commits");
        w0 = stat_of(th, "writes");
        many = run_ops(th, REND_OP_SET, nkeys, nkeys, GROUP_MAX, 0);
        c1 = stat_of(th, "commits");
        w1 = stat_of(th, "writes");
        printf("set %s=%-5s  1 in flight: %8.0f ops/s   1000 in flight: "
               "%8.0f ops/s, %.1f ops/commit\n", modes[m][0], modes[m][1],
               one, many, (double)(w1 - w0) / (double)(c1 - c0));
        rend_th_close(th);
    }
}

static void
bench_gets(size_t nkeys)
{
    struct rend_th *th = open_db("get", "disable_wal", "true", NULL, NULL);

    run_ops(th, REND_OP_SET, nkeys, nkeys, GROUP_MAX, 0);
    rend_th_close(th); /* the memtable goes to SSTs: reads hit files */
    for (int cold = 0; cold < 2; cold++) {
        for (int mode = 0; mode < 2; mode++) {
            const char *rm = mode == 0 ? "inline" : "pool";
            double one, many;

            th = open_db("get", "read_mode", rm, "block_cache_mb",
                         cold ? "2" : "256");
            settle(th);
            if (!cold) {
                run_ops(th, REND_OP_GET, nkeys, nkeys, 100, 0); /* warm */
            }
            one = run_ops(th, REND_OP_GET, nkeys / 2, nkeys, 1, 1);
            many = run_ops(th, REND_OP_GET, nkeys / 2, nkeys, 100, 1);
            printf("get %s cache, %-6s  1 in flight: %8.0f ops/s   "
                   "100 in flight: %8.0f ops/s  (inline %llu, "
                   "incomplete %llu, pool %llu)\n", cold ? "cold" : "hot ",
                   rm, one, many,
                   (unsigned long long)stat_of(th, "gets_inline"),
                   (unsigned long long)stat_of(th, "gets_incomplete"),
                   (unsigned long long)stat_of(th, "gets_pool"));
            rend_th_close(th);
        }
    }
}

int
main(int argc, char **argv)
{
    size_t nkeys = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 200000;
    char cmd[300];
    int rc;

    if (nkeys == 0) {
        nkeys = 200000;
    }
    srandom(42);
    for (size_t i = 0; i < sizeof(value); i++) {
        value[i] = (char)('!' + random() % 90); /* poorly compressible */
    }
    snprintf(dir, sizeof(dir), "/tmp/rend_rdb_bench_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    printf("rocksdb bench: %zu keys, %d-byte values\n", nkeys, VALUE_LEN);
    bench_sets(nkeys);
    bench_gets(nkeys);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    rc = system(cmd);
    return rc == 0 ? 0 : 1;
}
