/*
 * check_mc.c - the memcached plugin in plain mode against real memcached
 * processes: every op, binary keys, pipelined batches (with a throughput
 * figure), ketama placement, a pool of 3 with a server killed and
 * restarted, replicas, timeouts, unix sockets.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_mc_common.h"
#include "../../plugins/memcached/rend_mc.h"

static double
mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
kv(struct rend_th *th, int code, const char *key, const char *val,
   uint32_t flags, int64_t exptime)
{
    return mcp_op(th, code, key, strlen(key), val, val ? strlen(val) : 0,
                  flags, exptime, NULL, NULL);
}

static struct rend_op *
get_op(struct rend_th *th, const char *key, int code, int64_t exptime)
{
    static struct rend_op op;

    rend_th_op_init(&op, code, key, NULL, 0, 0, exptime);
    return &op;
}

START_TEST(test_ops)
{
    struct mcproc m;
    char srv[64], port[16];
    struct rend_th *th;
    struct rend_op *op;
    int64_t now = time(NULL);
    uint64_t cas;

    if (mcp_start(&m, 0) != 0) {
        return;
    }
    snprintf(srv, sizeof(srv), "127.0.0.1:%d", m.port);
    (void)port;
    const char *opts[] = { "servers", srv, NULL };
    th = mcp_open(opts);

    op = get_op(th, "nokey", REND_OP_GET, 0);
    ck_assert_int_eq(rend_th_run(th, op), REND_MISS);
    rend_th_op_fini(op);

    ck_assert_int_eq(kv(th, REND_OP_SET, "a", "hello", 42, now + 100), REND_OK);
    op = get_op(th, "a", REND_OP_GET, 0);
    ck_assert_int_eq(rend_th_run(th, op), REND_OK);
    ck_assert_uint_eq(op->out_nvalue, 5);
    ck_assert_mem_eq(op->out_value, "hello", 5);
    ck_assert_uint_eq(op->out_flags, 42);
    ck_assert(op->out_exptime >= now + 98 && op->out_exptime <= now + 102);
    ck_assert(op->out_cas != 0);
    cas = op->out_cas;
    rend_th_op_fini(op);

    ck_assert_int_eq(kv(th, REND_OP_ADD, "a", "x", 0, 0), REND_NOT_STORED);
    ck_assert_int_eq(kv(th, REND_OP_REPLACE, "zz", "x", 0, 0),
                     REND_NOT_STORED);
    ck_assert_int_eq(kv(th, REND_OP_APPEND, "zz", "x", 0, 0),
                     REND_NOT_STORED);
    ck_assert_int_eq(kv(th, REND_OP_APPEND, "a", "!", 0, 0), REND_OK);
    ck_assert_int_eq(kv(th, REND_OP_PREPEND, "a", "<", 0, 0), REND_OK);
    op = get_op(th, "a", REND_OP_GET, 0);
    ck_assert_int_eq(rend_th_run(th, op), REND_OK);
    ck_assert_mem_eq(op->out_value, "<hello!", 7);
    ck_assert_uint_eq(op->out_flags, 42);
    rend_th_op_fini(op);

    /* cas: stale cas = EXISTS, current cas = OK, missing = NOT_FOUND */
    rend_th_op_init(op, REND_OP_CAS, "a", "c1", 2, 0, 0);
    op->cas = cas;
    ck_assert_int_eq(rend_th_run(th, op), REND_EXISTS);
    op = get_op(th, "a", REND_OP_GET, 0);
    ck_assert_int_eq(rend_th_run(th, op), REND_OK);
    cas = op->out_cas;
    rend_th_op_fini(op);
    rend_th_op_init(op, REND_OP_CAS, "a", "c1", 2, 0, 0);
    op->cas = cas;
    ck_assert_int_eq(rend_th_run(th, op), REND_OK);
    ck_assert(op->out_cas != 0 && op->out_cas != cas);
    rend_th_op_init(op, REND_OP_CAS, "nocas", "c1", 2, 0, 0);
    op->cas = 5;
    ck_assert_int_eq(rend_th_run(th, op), REND_NOT_FOUND);

    /* incr/decr */
    ck_assert_int_eq(kv(th, REND_OP_SET, "n", "10", 0, 0), REND_OK);
    rend_th_op_init(op, REND_OP_INCR, "n", NULL, 0, 0, 0);
    op->delta = 5;
    ck_assert_int_eq(rend_th_run(th, op), REND_OK);
    ck_assert_uint_eq(op->out_number, 15);
    rend_th_op_init(op, REND_OP_DECR, "n", NULL, 0, 0, 0);
    op->delta = 100;
    ck_assert_int_eq(rend_th_run(th, op), REND_OK);
    ck_assert_uint_eq(op->out_number, 0);
    ck_assert_int_eq(kv(th, REND_OP_SET, "n", "18446744073709551615", 0, 0),
                     REND_OK);
    rend_th_op_init(op, REND_OP_INCR, "n", NULL, 0, 0, 0);
    op->delta = 2;
    ck_assert_int_eq(rend_th_run(th, op), REND_OK);
    ck_assert_uint_eq(op->out_number, 1);
    rend_th_op_init(op, REND_OP_INCR, "a", NULL, 0, 0, 0);
    op->delta = 1;
    ck_assert_int_eq(rend_th_run(th, op), REND_NON_NUMERIC);
    rend_th_op_init(op, REND_OP_INCR, "nonum", NULL, 0, 0, 0);
    ck_assert_int_eq(rend_th_run(th, op), REND_NOT_FOUND);

    /* touch, gat, delete */
    ck_assert_int_eq(kv(th, REND_OP_TOUCH, "a", NULL, 0, now + 500), REND_OK);
    ck_assert_int_eq(kv(th, REND_OP_TOUCH, "zz", NULL, 0, now + 500),
                     REND_NOT_FOUND);
    op = get_op(th, "a", REND_OP_GAT, now + 1000);
    ck_assert_int_eq(rend_th_run(th, op), REND_OK);
    ck_assert(op->out_exptime >= now + 998 && op->out_exptime <= now + 1002);
    rend_th_op_fini(op);
    op = get_op(th, "a", REND_OP_GAT, 0);
    ck_assert_int_eq(rend_th_run(th, op), REND_OK);
    ck_assert_int_eq(op->out_exptime, 0);
    rend_th_op_fini(op);
    ck_assert_int_eq(kv(th, REND_OP_DELETE, "a", NULL, 0, 0), REND_OK);
    ck_assert_int_eq(kv(th, REND_OP_DELETE, "a", NULL, 0, 0), REND_NOT_FOUND);

    /* an already expired set is invisible */
    ck_assert_int_eq(kv(th, REND_OP_SET, "old", "v", 0, now - 10), REND_OK);
    op = get_op(th, "old", REND_OP_GET, 0);
    ck_assert_int_eq(rend_th_run(th, op), REND_MISS);

    /* keys: spaces and control bytes go base64; > 250 bytes = EINVAL */
    {
        char bk[200], big[300];
        char *out;
        size_t nout;
        for (size_t i = 0; i < sizeof(bk); i++) {
            bk[i] = (char)(i % 7 == 0 ? ' ' : i);
        }
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, bk, 180, "bin", 3, 0, 0,
                                NULL, NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, bk, 180, NULL, 0, 0, 0, &out,
                                &nout), REND_OK);
        ck_assert_mem_eq(out, "bin", 3);
        free(out);
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, bk, 179, NULL, 0, 0, 0, &out,
                                &nout), REND_MISS);
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, bk, 200, "bin", 3, 0, 0,
                                NULL, NULL), REND_EINVAL);
        memset(big, 'k', sizeof(big));
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, big, 250, "v", 1, 0, 0,
                                NULL, NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, big, 251, "v", 1, 0, 0,
                                NULL, NULL), REND_EINVAL);
    }

    /* too large for memcached (-I 2m) */
    {
        char *v = calloc(1, 3 << 20);
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, "huge", 4, v, 3 << 20, 0, 0,
                                NULL, NULL), REND_ETOOBIG);
        ck_assert_int_eq(kv(th, REND_OP_SET, "after", "ok", 0, 0), REND_OK);
        free(v);
    }

    /* flush */
    ck_assert_int_eq(kv(th, REND_OP_SET, "f", "1", 0, 0), REND_OK);
    ck_assert_int_eq(kv(th, REND_OP_FLUSH, "", NULL, 0, 0), REND_OK);
    op = get_op(th, "f", REND_OP_GET, 0);
    ck_assert_int_eq(rend_th_run(th, op), REND_MISS);

    rend_th_close(th);
    mcp_stop(&m, SIGTERM);
}
END_TEST

#define NBATCH 1000

START_TEST(test_pipelined_throughput)
{
    struct mcproc m;
    char srv[64], key[NBATCH][16];
    struct rend_th *th;
    static struct rend_op ops[NBATCH];
    struct rend_op *pops[NBATCH];
    int st[NBATCH];
    double t0, t1;
    int rounds = 50;

    if (mcp_start(&m, 0) != 0) {
        return;
    }
    snprintf(srv, sizeof(srv), "127.0.0.1:%d", m.port);
    const char *opts[] = { "servers", srv, NULL };
    th = mcp_open(opts);
    for (int i = 0; i < NBATCH; i++) {
        snprintf(key[i], sizeof(key[i]), "k%d", i);
        pops[i] = &ops[i];
    }
    t0 = mono();
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < NBATCH; i++) {
            rend_th_op_init(&ops[i], REND_OP_SET, key[i], "0123456789abcdef",
                            16, 0, 0);
        }
        rend_th_run_many(th, pops, NBATCH, st);
        for (int i = 0; i < NBATCH; i++) {
            ck_assert_int_eq(st[i], REND_OK);
        }
    }
    t1 = mono();
    printf("memcached plain: %.0f sets/s (batches of %d)\n",
           rounds * NBATCH / (t1 - t0), NBATCH);
    t0 = mono();
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < NBATCH; i++) {
            rend_th_op_init(&ops[i], REND_OP_GET, key[i], NULL, 0, 0, 0);
        }
        rend_th_run_many(th, pops, NBATCH, st);
        for (int i = 0; i < NBATCH; i++) {
            ck_assert_int_eq(st[i], REND_OK);
            ck_assert_mem_eq(ops[i].out_value, "0123456789abcdef", 16);
            rend_th_op_fini(&ops[i]);
        }
    }
    t1 = mono();
    printf("memcached plain: %.0f gets/s (batches of %d)\n",
           rounds * NBATCH / (t1 - t0), NBATCH);
    rend_th_close(th);
    mcp_stop(&m, SIGTERM);
}
END_TEST

static int
raw_has(int port, const char *key)
{
    char req[300], out[512];

    snprintf(req, sizeof(req), "mg %s v\r\n", key);
    mcp_raw(port, req, strlen(req), "\r\n", out, sizeof(out));
    return strncmp(out, "VA", 2) == 0;
}

#define NPOOLKEYS 300

START_TEST(test_pool_kill)
{
    struct mcproc m[3];
    char srv[200], key[32];
    struct rend_th *th;
    struct rend_mc_ring ring;
    struct rend_mc_ring_server rs[3];
    char hosts[3][32];
    unsigned owner[NPOOLKEYS];
    int ports[3];
    double t0, t1;
    int fails = 0;

    for (int i = 0; i < 3; i++) {
        if (mcp_start(&m[i], 0) != 0) {
            return;
        }
        ports[i] = m[i].port;
        snprintf(hosts[i], sizeof(hosts[i]), "127.0.0.1");
        rs[i].host = hosts[i];
        rs[i].port = (unsigned)ports[i];
        rs[i].weight = (unsigned)i + 1;
    }
    snprintf(srv, sizeof(srv), "127.0.0.1:%d:1,127.0.0.1:%d:2,127.0.0.1:%d:3",
             ports[0], ports[1], ports[2]);
    ck_assert_int_eq(rend_mc_ring_build(&ring, rs, 3), 0);
    const char *opts[] = { "servers", srv, "timeout_ms", "10000",
                           "connect_timeout_ms", "200", "retry_ms", "50",
                           "retry_max_ms", "200", "fail_limit", "2", NULL };
    th = mcp_open(opts);
    for (int i = 0; i < NPOOLKEYS; i++) {
        snprintf(key, sizeof(key), "pool%d", i);
        ck_assert_int_eq(kv(th, REND_OP_SET, key, key, 0, 0), REND_OK);
        owner[i] = rend_mc_ring_server_of(&ring, key, strlen(key));
        /* the key is on its ketama server and nowhere else */
        for (int s = 0; s < 3; s++) {
            ck_assert_int_eq(raw_has(ports[s], key), (unsigned)s == owner[i]);
        }
    }
    mcp_stop(&m[1], SIGKILL);
    t0 = mono();
    for (int i = 0; i < NPOOLKEYS; i++) {
        int st;
        snprintf(key, sizeof(key), "pool%d", i);
        st = mcp_op(th, REND_OP_GET, key, strlen(key), NULL, 0, 0, 0, NULL,
                    NULL);
        if (owner[i] == 1) {
            ck_assert_msg(st == REND_EDOWN || st == REND_EIO,
                          "key on dead server: %d", st);
            fails++;
        } else {
            ck_assert_int_eq(st, REND_OK);
        }
    }
    t1 = mono();
    ck_assert(fails > 0);
    /* fail fast: well under one request timeout (10 s), with slack for a
     * loaded CI machine */
    ck_assert_msg(t1 - t0 < 5.0, "took %.2fs", t1 - t0);
    {
        char *stats = rend_th_stats(th);
        ck_assert_ptr_nonnull(strstr(stats, "server_1_state down"));
        ck_assert_ptr_nonnull(strstr(stats, "server_0_state up"));
        free(stats);
    }
    /* restart it on the same port: its keys come back (empty, so a set
     * and a get succeed) once the probe reconnects */
    ck_assert_int_eq(mcp_start(&m[1], ports[1]), 0);
    t0 = mono();
    {
        char live[32];
        int dead_i = -1, live_i = -1;
        for (int i = 0; i < NPOOLKEYS; i++) {
            if (owner[i] == 1 && dead_i < 0) {
                dead_i = i;
            }
            if (owner[i] != 1 && live_i < 0) {
                live_i = i;
            }
        }
        snprintf(key, sizeof(key), "pool%d", dead_i);
        snprintf(live, sizeof(live), "pool%d", live_i);
        /* ops on live servers keep the loop (and the retry timer) going */
        while (kv(th, REND_OP_SET, key, "back", 0, 0) != REND_OK) {
            ck_assert_msg(mono() - t0 < 15.0, "server never came back");
            ck_assert_int_eq(kv(th, REND_OP_GET, live, NULL, 0, 0), REND_OK);
            usleep(20000);
        }
    }
    rend_th_close(th);
    rend_mc_ring_free(&ring);
    for (int i = 0; i < 3; i++) {
        mcp_stop(&m[i], SIGTERM);
    }
}
END_TEST

START_TEST(test_replicas)
{
    struct mcproc m[3];
    char srv[200], key[32];
    struct rend_th *th;

    for (int i = 0; i < 3; i++) {
        if (mcp_start(&m[i], 0) != 0) {
            return;
        }
    }
    snprintf(srv, sizeof(srv), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d",
             m[0].port, m[1].port, m[2].port);
    const char *opts[] = { "servers", srv, "replicas", "2", "timeout_ms",
                           "10000", "retry_ms", "50", NULL };
    th = mcp_open(opts);
    for (int i = 0; i < NPOOLKEYS; i++) {
        int copies = 0;
        snprintf(key, sizeof(key), "rep%d", i);
        ck_assert_int_eq(kv(th, REND_OP_SET, key, key, 0, 0), REND_OK);
        for (int s = 0; s < 3; s++) {
            copies += raw_has(m[s].port, key);
        }
        ck_assert_int_eq(copies, 2);
    }
    mcp_stop(&m[2], SIGKILL);
    for (int i = 0; i < NPOOLKEYS; i++) {
        char *out;
        size_t n;
        snprintf(key, sizeof(key), "rep%d", i);
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, key, strlen(key), NULL, 0, 0,
                                0, &out, &n), REND_OK);
        ck_assert_str_eq(out, key);
        free(out);
        ck_assert_int_eq(kv(th, REND_OP_SET, key, "new", 0, 0), REND_OK);
    }
    rend_th_close(th);
    for (int i = 0; i < 3; i++) {
        mcp_stop(&m[i], SIGTERM);
    }
}
END_TEST

/* Set values of 2 KB..512 KB go out spliced from the op's value (writev),
 * the others copied: sizes on both sides of both bounds, pipelined on one
 * connection and sent to two replicas, read back from each replica. */
START_TEST(test_spliced_set_values)
{
    static const size_t sizes[] = { 10, 2047, 2048, 3000, 100000, 524288,
                                    524289, 900000 };
    enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
    struct mcproc m[2];
    char srv[200], keys[NS][32];
    char *vals[NS];
    struct rend_op ops[NS], *pops[NS];
    int st[NS];
    struct rend_th *th;

    for (int i = 0; i < 2; i++) {
        if (mcp_start(&m[i], 0) != 0) {
            return;
        }
    }
    snprintf(srv, sizeof(srv), "127.0.0.1:%d,127.0.0.1:%d", m[0].port,
             m[1].port);
    const char *opts[] = { "servers", srv, "replicas", "2", "timeout_ms",
                           "20000", NULL };
    th = mcp_open(opts);
    for (size_t i = 0; i < NS; i++) {
        vals[i] = malloc(sizes[i]);
        ck_assert_ptr_nonnull(vals[i]);
        for (size_t j = 0; j < sizes[i]; j++) {
            vals[i][j] = (char)('a' + (j * 31 + i) % 26);
        }
        snprintf(keys[i], sizeof(keys[i]), "splice%zu", sizes[i]);
        rend_th_op_init(&ops[i], REND_OP_SET, keys[i], vals[i], sizes[i],
                        (uint32_t)i, 0);
        pops[i] = &ops[i];
    }
    rend_th_run_many(th, pops, NS, st); /* one batch, one write */
    for (size_t i = 0; i < NS; i++) {
        ck_assert_int_eq(st[i], REND_OK);
    }
    for (int dead = 0; dead < 2; dead++) {
        for (size_t i = 0; i < NS; i++) {
            char *out;
            size_t n;
            ck_assert_int_eq(mcp_op(th, REND_OP_GET, keys[i], strlen(keys[i]),
                                    NULL, 0, 0, 0, &out, &n), REND_OK);
            ck_assert_uint_eq(n, sizes[i]);
            ck_assert_msg(memcmp(out, vals[i], n) == 0, "%zu bytes differ",
                          sizes[i]);
            free(out);
        }
        /* the other replica must hold the same bytes */
        mcp_stop(&m[dead], SIGKILL);
        if (dead == 1) {
            break;
        }
    }
    rend_th_close(th);
    for (size_t i = 0; i < NS; i++) {
        free(vals[i]);
    }
    mcp_stop(&m[0], SIGTERM);
    mcp_stop(&m[1], SIGTERM);
}
END_TEST

START_TEST(test_timeout)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    char srv[64];
    struct rend_th *th;
    double t0, dt;
    int st;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 16), 0);
    getsockname(lfd, (struct sockaddr *)&sa, &len);
    snprintf(srv, sizeof(srv), "127.0.0.1:%d", ntohs(sa.sin_port));
    const char *opts[] = { "servers", srv, "timeout_ms", "300", NULL };
    th = mcp_open(opts);
    t0 = mono();
    st = kv(th, REND_OP_GET, "k", NULL, 0, 0);
    dt = mono() - t0;
    ck_assert_int_eq(st, REND_ETIMEDOUT);
    ck_assert_msg(dt >= 0.29 && dt < 3.0, "timeout after %.3fs", dt);
    {
        char *stats = rend_th_stats(th);
        uint64_t n = 0;
        ck_assert_int_eq(rend_th_stat_u64(stats, "server_0_timeouts", &n), 0);
        ck_assert_uint_eq(n, 1);
        free(stats);
    }
    rend_th_close(th);
    close(lfd);
}
END_TEST

START_TEST(test_unix_socket)
{
    static const char *const extra[] = { "-m", "64", NULL };
    struct rend_srv mc;
    struct rend_th *th;
    char *out;
    size_t n;

    ck_assert_int_eq(rend_srv_start_memcached(&mc, extra), 0);
    const char *opts[] = { "servers", mc.path, NULL };
    th = mcp_open(opts);
    ck_assert_int_eq(kv(th, REND_OP_SET, "u", "unix", 7, 0), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "u", 1, NULL, 0, 0, 0, &out, &n),
                     REND_OK);
    ck_assert_str_eq(out, "unix");
    free(out);
    rend_th_close(th);
    rend_srv_stop(&mc, 5000, NULL);
}
END_TEST

START_TEST(test_bad_options)
{
    char err[256];
    const char *o1[] = { NULL };
    const char *o2[] = { "servers", "127.0.0.1:0", NULL };
    const char *o3[] = { "servers", "127.0.0.1:1", "bogus", "1", NULL };
    const char *o4[] = { "servers", "127.0.0.1:1,127.0.0.1:2", "chunked",
                         "true", "replicas", "2", NULL };

    ck_assert_ptr_null(rend_th_open("memcached", o1, err, sizeof(err)));
    ck_assert_ptr_null(rend_th_open("memcached", o2, err, sizeof(err)));
    ck_assert_ptr_null(rend_th_open("memcached", o3, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "bogus"));
    ck_assert_ptr_null(rend_th_open("memcached", o4, err, sizeof(err)));
}
END_TEST

static Suite *
mc_suite(void)
{
    Suite *s = suite_create("memcached");
    TCase *tc = tcase_create("plain");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ops);
    tcase_add_test(tc, test_pipelined_throughput);
    tcase_add_test(tc, test_pool_kill);
    tcase_add_test(tc, test_replicas);
    tcase_add_test(tc, test_spliced_set_values);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_unix_socket);
    tcase_add_test(tc, test_bad_options);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    const char *bin = getenv("MEMCACHED");
    SRunner *sr;
    int failed;

    if (access(bin != NULL && *bin ? bin : "/usr/bin/memcached", X_OK) != 0) {
        return 77;
    }
    sr = srunner_create(mc_suite());

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
