/*
 * check_lmdb_bench.c - throughput figures for the lmdb handler (built by
 * make check, not run by it):
 *   - get ops/s inline (readers = 0) against the reader pool (readers = N),
 *     one op at a time and in groups of 100 (a multi-get);
 *   - set ops/s and ops per commit with sync = commit and sync = periodic,
 *     one op at a time and 1000 in flight.
 * Usage: check_lmdb_bench [nkeys]   (REND_PLUGIN_DIR must point at the
 * built plugins).  Exits non-zero when an op fails.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rend_testhost.h"

#define GROUP_MAX 1000

static char dir[256];

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, int st)
{
    fprintf(stderr, "check_lmdb_bench: %s: status %d\n", what, st);
    exit(1);
}

static struct rend_th *
open_db(const char *sub, const char *k1, const char *v1, const char *k2,
        const char *v2)
{
    static char path[300];
    const char *opts[] = { "path", path, "map_size_mb", "2048", k1, v1, k2,
                           v2, NULL };
    char err[256];
    struct rend_th *th;

    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    th = rend_th_open("lmdb", opts, err, sizeof(err));
    if (th == NULL) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    return th;
}

/* Run n ops of `code` over keys k0..k(n-1) in groups of `group`. */
static double
run_ops(struct rend_th *th, int code, size_t n, size_t group, int random_keys)
{
    static struct rend_op ops[GROUP_MAX];
    static struct rend_op *pops[GROUP_MAX];
    static int st[GROUP_MAX];
    static char keys[GROUP_MAX][24];
    static char val[100];
    double t0 = now_s();
    unsigned seed = 12345;

    memset(val, 'v', sizeof(val));
    for (size_t done = 0; done < n; done += group) {
        size_t g = n - done < group ? n - done : group;
        for (size_t i = 0; i < g; i++) {
            size_t k = random_keys ? (size_t)rand_r(&seed) % n : done + i;
            snprintf(keys[i], sizeof(keys[i]), "k%zu", k);
            rend_th_op_init(&ops[i], code, keys[i],
                            code == REND_OP_SET ? val : NULL,
                            code == REND_OP_SET ? sizeof(val) : 0, 0, 0);
            pops[i] = &ops[i];
        }
        if (g == 1) {
            st[0] = rend_th_run(th, &ops[0]);
        } else {
            rend_th_run_many(th, pops, g, st);
        }
        for (size_t i = 0; i < g; i++) {
            if (st[i] != REND_OK) {
                die(code == REND_OP_SET ? "set" : "get", st[i]);
            }
            rend_th_op_fini(&ops[i]);
        }
    }
    return (double)n / (now_s() - t0);
}

static void
stat_line(struct rend_th *th, const char *label, double ops)
{
    char *s = rend_th_stats(th);
    char *opc = strstr(s, "ops_per_commit ");
    double per = opc ? strtod(opc + 15, NULL) : 0;

    printf("%-40s %10.0f ops/s  ops/commit %.1f\n", label, ops, per);
    free(s);
}

int
main(int argc, char **argv)
{
    size_t nkeys = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    char cmd[300];
    struct rend_th *th;
    double r;

    snprintf(dir, sizeof(dir), "/tmp/rend_lmdb_bench.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }

    /* sets: serial (1 in flight) and grouped (1000 in flight) */
    th = open_db("commit1", "sync", "commit", "max_batch", "1024");
    r = run_ops(th, REND_OP_SET, nkeys / 50, 1, 0);
    stat_line(th, "set sync=commit, 1 in flight", r);
    rend_th_close(th);
    th = open_db("commit", "sync", "commit", "max_batch", "1024");
    r = run_ops(th, REND_OP_SET, nkeys, 1000, 0);
    stat_line(th, "set sync=commit, 1000 in flight", r);
    rend_th_close(th);
    th = open_db("periodic1", "sync", "periodic", "sync_interval_ms", "1000");
    r = run_ops(th, REND_OP_SET, nkeys / 5, 1, 0);
    stat_line(th, "set sync=periodic, 1 in flight", r);
    rend_th_close(th);
    th = open_db("periodic", "sync", "periodic", "sync_interval_ms", "1000");
    r = run_ops(th, REND_OP_SET, nkeys, 1000, 0);
    stat_line(th, "set sync=periodic, 1000 in flight", r);
    rend_th_close(th);

    /* gets on the "periodic" data set, random keys, all hits */
    const char *modes[] = { "0", "1", "2" };
    for (size_t m = 0; m < 3; m++) {
        char label[64];
        th = open_db("periodic", "readers", modes[m], "sync", "periodic");
        r = run_ops(th, REND_OP_GET, nkeys, 1, 1);
        snprintf(label, sizeof(label), "get readers=%s, 1 in flight",
                 modes[m]);
        printf("%-40s %10.0f ops/s\n", label, r);
        r = run_ops(th, REND_OP_GET, nkeys, 100, 1);
        snprintf(label, sizeof(label), "get readers=%s, 100 in flight",
                 modes[m]);
        printf("%-40s %10.0f ops/s\n", label, r);
        rend_th_close(th);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
