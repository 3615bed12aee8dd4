/*
 * bench_inmem.c - ops/s of the inmem handler, called directly (no core, no
 * network): sets, get hits, get misses, a 90/10 get/set mix on one thread,
 * then get hits on 1..N threads.  Each get includes the test host's
 * value_alloc (a malloc) and the free afterwards.
 *
 * Usage: bench_inmem [keys (default 1000000)] [threads (default 2)]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rend_testhost.h"

#define KEYLEN 16
#define VALLEN 32

struct bench {
    const struct rend_handler *h;
    void *inst;
    char *keys; /* n keys of KEYLEN bytes */
    unsigned *order;
    size_t n;
};

struct job {
    struct bench *b;
    unsigned id, nthreads;
    int code;
    int mix;       /* 1: every 10th op is a set */
    int miss;      /* 1: look up keys that are not there */
    uint64_t ops, errors;
};

static double
now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void *
run_job(void *arg)
{
    struct job *j = arg;
    struct bench *b = j->b;
    struct rend_thread thr = { .id = j->id, .nthreads = j->nthreads };
    char value[VALLEN], missk[KEYLEN];
    struct rend_op op;
    void *tctx;

    memset(value, 'v', sizeof(value));
    if (b->h->thread_init(b->inst, &thr, &tctx) != REND_OK) {
        j->errors++;
        return NULL;
    }
    for (size_t i = j->id; i < b->n; i += j->nthreads) {
        const char *k = b->keys + (size_t)b->order[i] * KEYLEN;
        int code = j->code, st;

        if (j->mix && i % 10 == 0) {
            code = REND_OP_SET;
        }
        if (j->miss) {
            memcpy(missk, k, KEYLEN);
            missk[0] = 'm';
            k = missk;
        }
        memset(&op, 0, sizeof(op));
        op.code = (uint16_t)code;
        op.key = k;
        op.nkey = KEYLEN;
        op.value = value;
        op.nvalue = VALLEN;
        st = b->h->ops[code](tctx, &op);
        if (st != REND_OK && !(j->miss && st == REND_MISS)) {
            j->errors++;
        }
        free(op.out_value);
        j->ops++;
    }
    b->h->thread_exit(b->inst, tctx);
    return NULL;
}

static double
phase(struct bench *b, const char *name, int code, int mix, int miss,
      unsigned nthreads)
{
    struct job jobs[64];
    pthread_t tid[64];
    uint64_t ops = 0, errors = 0;
    double t0, dt;

    for (unsigned i = 0; i < nthreads; i++) {
        jobs[i] = (struct job){ .b = b, .id = i, .nthreads = nthreads,
                                .code = code, .mix = mix, .miss = miss };
    }
    t0 = now_s();
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_create(&tid[i], NULL, run_job, &jobs[i]);
    }
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
        ops += jobs[i].ops;
        errors += jobs[i].errors;
    }
    dt = now_s() - t0;
    printf("%-24s %u thread(s) %9.0f ops/s  (%llu ops, %.3f s%s)\n", name,
           nthreads, ops / dt, (unsigned long long)ops, dt,
           errors ? ", ERRORS" : "");
    return errors ? -1 : ops / dt;
}

int
main(int argc, char **argv)
{
    static const char *opts[] = { "memory_mb", "2048", "hash_power", "21",
                                  NULL };
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    unsigned maxthreads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
    struct bench b = { .n = n };
    struct rend_th *th;
    char err[256];
    int bad = 0;

    if (n == 0 || maxthreads == 0 || maxthreads > 64) {
        fprintf(stderr, "usage: bench_inmem [keys] [threads 1..64]\n");
        return 2;
    }
    th = rend_th_open("inmem", opts, err, sizeof(err));
    if (th == NULL) {
        fprintf(stderr, "bench_inmem: %s\n", err);
        return 1;
    }
    b.h = rend_th_handler(th);
    b.inst = rend_th_instance(th);
    b.keys = malloc(n * KEYLEN);
    b.order = malloc(n * sizeof(*b.order));
    if (b.keys == NULL || b.order == NULL) {
        fprintf(stderr, "bench_inmem: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char tmp[32];

        snprintf(tmp, sizeof(tmp), "key:%012zu", i);
        memcpy(b.keys + i * KEYLEN, tmp, KEYLEN);
        b.order[i] = (unsigned)i;
    }
    printf("inmem bench: %zu keys of %d bytes, values of %d bytes\n", n,
           KEYLEN, VALLEN);
    bad |= phase(&b, "set (sequential keys)", REND_OP_SET, 0, 0, 1) < 0;
    srand(42);
    for (size_t i = n - 1; i > 0; i--) { /* shuffle for random access */
        size_t j = (size_t)rand() % (i + 1);
        unsigned t = b.order[i];

        b.order[i] = b.order[j];
        b.order[j] = t;
    }
    bad |= phase(&b, "get hit (random)", REND_OP_GET, 0, 0, 1) < 0;
    bad |= phase(&b, "get miss (random)", REND_OP_GET, 0, 1, 1) < 0;
    bad |= phase(&b, "90% get / 10% set", REND_OP_GET, 1, 0, 1) < 0;
    for (unsigned t = 2; t <= maxthreads; t++) {
        bad |= phase(&b, "get hit (random)", REND_OP_GET, 0, 0, t) < 0;
        bad |= phase(&b, "90% get / 10% set", REND_OP_GET, 1, 0, t) < 0;
    }
    rend_th_close(th);
    free(b.keys);
    free(b.order);
    return bad ? 1 : 0;
}
