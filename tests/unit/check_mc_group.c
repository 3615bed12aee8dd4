/*
 * check_mc_group.c - the memcached plugin's grouped gets: plain GETs that
 * need no TTL go to memcached as one `get k1 k2 ...` (or `gets`) line per
 * connection and flush, and the VALUE ... END replies are matched back to
 * the ops.  Against a scripted backend (a thread on a loopback socket that
 * records the request bytes and answers with a given reply, split at a
 * chosen byte, optionally stopping or closing part way) and against a
 * real memcached (mixed hits and misses, lines split by the length bound,
 * cas through `gets`, interleaved meta requests).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check_mc_common.h"
#include "../../plugins/memcached/rend_mc.h"

/* ---- the scripted backend ---- */

#define FAKE_REQ_MAX 65536

struct fake {
    int lfd;
    int port;
    pthread_t th;
    pthread_mutex_t mu;
    /* script, set before the plugin connects */
    const char *reply;   /* the answer to every request */
    size_t nreply;
    unsigned lines;      /* CRLF-ended lines in one request */
    int rounds;          /* requests answered, then the thread ends */
    int split;           /* round r >= 1 writes reply[0, r), pauses, then
                          * the rest (else all at once) */
    size_t stop_at;      /* > 0: write only reply[0, stop_at), then stop */
    int close_at_stop;   /* ... and close the connection (else go silent) */
    /* recorded: the last request */
    char req[FAKE_REQ_MAX + 1];
    size_t nreq;
};

static unsigned
count_lines(const char *p, size_t n)
{
    unsigned c = 0;

    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n') {
            c++;
        }
    }
    return c;
}

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void *
fake_main(void *arg)
{
    struct fake *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    char buf[FAKE_REQ_MAX];

    if (fd < 0) {
        return NULL;
    }
    for (int r = 0; r < f->rounds; r++) {
        size_t n = 0;
        while (count_lines(buf, n) < f->lines && n < sizeof(buf)) {
            ssize_t got = read(fd, buf + n, sizeof(buf) - n);
            if (got <= 0) {
                close(fd);
                return NULL;
            }
            n += (size_t)got;
        }
        pthread_mutex_lock(&f->mu);
        memcpy(f->req, buf, n);
        f->req[n] = '\0';
        f->nreq = n;
        pthread_mutex_unlock(&f->mu);
        if (f->stop_at > 0) {
            write_all(fd, f->reply, f->stop_at);
            if (f->close_at_stop) {
                close(fd);
                return NULL;
            }
            sleep(2); /* silent: the plugin times out */
            close(fd);
            return NULL;
        }
        if (f->split && r > 0) {
            size_t s = (size_t)r;
            if (s > f->nreply) {
                s = f->nreply;
            }
            write_all(fd, f->reply, s);
            usleep(2000);
            write_all(fd, f->reply + s, f->nreply - s);
        } else {
            write_all(fd, f->reply, f->nreply);
        }
    }
    /* keep the connection until the plugin closes it */
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    close(fd);
    return NULL;
}

static void
fake_start(struct fake *f)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(f->lfd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(f->lfd, 4), 0);
    getsockname(f->lfd, (struct sockaddr *)&sa, &len);
    f->port = ntohs(sa.sin_port);
    pthread_mutex_init(&f->mu, NULL);
    ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void
fake_join(struct fake *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
    pthread_mutex_destroy(&f->mu);
}

static void
fake_req(struct fake *f, char *out, size_t cap)
{
    size_t n;

    pthread_mutex_lock(&f->mu);
    n = f->nreq < cap - 1 ? f->nreq : cap - 1;
    memcpy(out, f->req, n);
    out[n] = '\0';
    pthread_mutex_unlock(&f->mu);
}

static struct rend_th *
open_fake(const struct fake *f, const char *timeout_ms)
{
    char srv[64];

    snprintf(srv, sizeof(srv), "127.0.0.1:%d", f->port);
    const char *opts[] = { "servers", srv, "timeout_ms", timeout_ms,
                           "fail_limit", "100", NULL };
    return mcp_open(opts);
}

/* A GET as the core issues a text `get` (no cas, no TTL) or, with cas, a
 * binary one (no TTL). */
static void
init_get(struct rend_op *op, const char *key, int cas)
{
    rend_th_op_init(op, REND_OP_GET, key, NULL, 0, 0, 0);
    op->opflags = REND_OPF_NO_EXPTIME | (cas ? 0 : REND_OPF_NO_CAS);
}

#define MAXOPS 512
static struct rend_op ops[MAXOPS];
static struct rend_op *pops[MAXOPS];
static int st[MAXOPS];

static void
run(struct rend_th *th, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pops[i] = &ops[i];
        st[i] = -12345;
    }
    rend_th_run_many(th, pops, n, st);
}

static void
fini(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rend_th_op_fini(&ops[i]);
    }
}

static void
expect_hit(size_t i, const char *v, uint32_t flags)
{
    ck_assert_msg(st[i] == REND_OK, "op %zu: status %d", i, st[i]);
    ck_assert_uint_eq(ops[i].out_nvalue, strlen(v));
    ck_assert_mem_eq(ops[i].out_value, v, strlen(v));
    ck_assert_uint_eq(ops[i].out_flags, flags);
}

/* ---- against the scripted backend ---- */

static const char reply5[] =
    "VALUE k2 7 3\r\nabc\r\nVALUE k4 0 0\r\n\r\nEND\r\n";

static void
check5(void)
{
    ck_assert_int_eq(st[0], REND_MISS);
    expect_hit(1, "abc", 7);
    ck_assert_int_eq(st[2], REND_MISS);
    expect_hit(3, "", 0);
    ck_assert_int_eq(st[4], REND_MISS);
}

/* Five gets of one flush are one `get` line; the hits and the skipped
 * misses land on the right ops, with the reply split at every byte. */
START_TEST(test_group_wire_and_splits)
{
    static const char *const keys[] = { "k1", "k2", "k3", "k4", "k5" };
    struct fake f = { 0 };
    struct rend_th *th;
    char req[256];
    size_t nrep = sizeof(reply5) - 1;

    f.reply = reply5;
    f.nreply = nrep;
    f.lines = 1;
    f.rounds = (int)nrep; /* round 0 whole, then split at 1 .. nrep-1 */
    f.split = 0;
    fake_start(&f);
    th = open_fake(&f, "2000");
    for (size_t i = 0; i < 5; i++) {
        init_get(&ops[i], keys[i], 0);
    }
    run(th, 5);
    check5();
    fini(5);
    fake_req(&f, req, sizeof(req));
    ck_assert_str_eq(req, "get k1 k2 k3 k4 k5\r\n");
    /* the same reply split at every byte: rounds 1.. */
    f.split = 1; /* read by the thread for rounds >= 1, after this */
    for (size_t s = 1; s < nrep; s++) {
        for (size_t i = 0; i < 5; i++) {
            init_get(&ops[i], keys[i], 0);
        }
        run(th, 5);
        check5();
        fini(5);
    }
    rend_th_close(th);
    fake_join(&f);
}
END_TEST

/* Gets that need the cas go as `gets`; a later get without cas joins the
 * `gets` line; cas values reach the ops. */
START_TEST(test_group_gets_cas)
{
    static const char reply[] =
        "VALUE a 1 2 99\r\nhi\r\nVALUE b 2 1 100\r\nx\r\nEND\r\n";
    struct fake f = { 0 };
    struct rend_th *th;
    char req[256];

    f.reply = reply;
    f.nreply = sizeof(reply) - 1;
    f.lines = 1;
    f.rounds = 1;
    fake_start(&f);
    th = open_fake(&f, "2000");
    init_get(&ops[0], "a", 1);
    init_get(&ops[1], "b", 0);
    init_get(&ops[2], "c", 1);
    run(th, 3);
    fake_req(&f, req, sizeof(req));
    ck_assert_str_eq(req, "gets a b c\r\n");
    expect_hit(0, "hi", 1);
    ck_assert_uint_eq(ops[0].out_cas, 99);
    expect_hit(1, "x", 2);
    ck_assert_int_eq(st[2], REND_MISS);
    fini(3);
    rend_th_close(th);
    fake_join(&f);
}
END_TEST

/* A get without cas after a `get` line stays on it; one with cas starts a
 * `gets` line; an op get cannot serve (NO_VALUE, a binary key, no
 * NO_EXPTIME) goes as mg between the lines, in order. */
START_TEST(test_group_interleaved)
{
    static const char reply[] =
        "VALUE a 0 1\r\n1\r\nEND\r\n"      /* get a b */
        "HD f5\r\n"                        /* mg c (NO_VALUE) */
        "END\r\n"                          /* gets d */
        "VA 2 f3 t-1\r\nzz\r\n"            /* mg e (needs the TTL) */
        "VALUE f 4 1\r\n6\r\nEND\r\n";     /* get f */
    struct fake f = { 0 };
    struct rend_th *th;
    char req[512];

    f.reply = reply;
    f.nreply = sizeof(reply) - 1;
    f.lines = 5;
    f.rounds = 1;
    fake_start(&f);
    th = open_fake(&f, "2000");
    init_get(&ops[0], "a", 0);
    init_get(&ops[1], "b", 0);
    init_get(&ops[2], "c", 0);
    ops[2].opflags |= REND_OPF_NO_VALUE;
    init_get(&ops[3], "d", 1);
    rend_th_op_init(&ops[4], REND_OP_GET, "e", NULL, 0, 0, 0);
    init_get(&ops[5], "f", 0);
    run(th, 6);
    fake_req(&f, req, sizeof(req));
    ck_assert_ptr_nonnull(strstr(req, "get a b\r\nmg c "));
    ck_assert_ptr_nonnull(strstr(req, "\r\ngets d\r\nmg e "));
    ck_assert_ptr_nonnull(strstr(req, "\r\nget f\r\n"));
    expect_hit(0, "1", 0);
    ck_assert_int_eq(st[1], REND_MISS);
    ck_assert_int_eq(st[2], REND_OK);
    ck_assert_uint_eq(ops[2].out_flags, 5);
    ck_assert_int_eq(st[3], REND_MISS);
    expect_hit(4, "zz", 3);
    expect_hit(5, "6", 4);
    fini(6);
    rend_th_close(th);
    fake_join(&f);
}
END_TEST

/* SERVER_ERROR part way through a line fails the keys of the line still
 * unanswered (and no others); the connection stays in step. */
START_TEST(test_group_server_error)
{
    static const char reply[] =
        "VALUE a 0 1\r\nx\r\n"
        "SERVER_ERROR out of memory writing get response\r\n";
    struct fake f = { 0 };
    struct rend_th *th;

    f.reply = reply;
    f.nreply = sizeof(reply) - 1;
    f.lines = 1;
    f.rounds = 2;
    fake_start(&f);
    th = open_fake(&f, "2000");
    for (int round = 0; round < 2; round++) {
        init_get(&ops[0], "a", 0);
        init_get(&ops[1], "b", 0);
        init_get(&ops[2], "c", 0);
        init_get(&ops[3], "d", 0);
        run(th, 4);
        expect_hit(0, "x", 0);
        ck_assert_int_eq(st[1], REND_ENOMEM);
        ck_assert_int_eq(st[2], REND_ENOMEM);
        ck_assert_int_eq(st[3], REND_ENOMEM);
        fini(4);
    }
    rend_th_close(th);
    fake_join(&f);
}
END_TEST

/* The backend closes the connection in the middle of a value: the keys
 * answered keep their answers, the others fail with REND_EIO. */
START_TEST(test_group_conn_lost)
{
    static const char reply[] =
        "VALUE a 0 1\r\nx\r\nVALUE b 0 5\r\nab";
    struct fake f = { 0 };
    struct rend_th *th;

    f.reply = reply;
    f.nreply = sizeof(reply) - 1;
    f.lines = 1;
    f.rounds = 1;
    f.stop_at = f.nreply;
    f.close_at_stop = 1;
    fake_start(&f);
    th = open_fake(&f, "2000");
    init_get(&ops[0], "a", 0);
    init_get(&ops[1], "b", 0);
    init_get(&ops[2], "c", 0);
    run(th, 3);
    expect_hit(0, "x", 0);
    ck_assert_int_eq(st[1], REND_EIO);
    ck_assert_int_eq(st[2], REND_EIO);
    fini(3);
    rend_th_close(th);
    fake_join(&f);
}
END_TEST

/* The backend answers the first key and goes silent: the rest time out. */
START_TEST(test_group_timeout)
{
    static const char reply[] = "VALUE a 0 1\r\nx\r\n";
    struct fake f = { 0 };
    struct rend_th *th;

    f.reply = reply;
    f.nreply = sizeof(reply) - 1;
    f.lines = 1;
    f.rounds = 1;
    f.stop_at = f.nreply;
    f.close_at_stop = 0;
    fake_start(&f);
    th = open_fake(&f, "300");
    init_get(&ops[0], "a", 0);
    init_get(&ops[1], "b", 0);
    init_get(&ops[2], "c", 0);
    run(th, 3);
    expect_hit(0, "x", 0);
    ck_assert_int_eq(st[1], REND_ETIMEDOUT);
    ck_assert_int_eq(st[2], REND_ETIMEDOUT);
    fini(3);
    rend_th_close(th);
    fake_join(&f);
}
END_TEST

/* Replies that cannot belong to the line reset the connection and fail
 * the keys unanswered: a VALUE for a key not asked, a value longer than
 * its VALUE line said. */
START_TEST(test_group_out_of_step)
{
    static const char *const replies[] = {
        "VALUE zz 0 1\r\nx\r\nEND\r\n",
        "VALUE a 0 1\r\nxy\r\nEND\r\n", /* value longer than said */
    };
    for (size_t k = 0; k < sizeof(replies) / sizeof(replies[0]); k++) {
        struct fake f = { 0 };
        struct rend_th *th;

        f.reply = replies[k];
        f.nreply = strlen(replies[k]);
        f.lines = 1;
        f.rounds = 1;
        fake_start(&f);
        th = open_fake(&f, "2000");
        init_get(&ops[0], "a", 0);
        init_get(&ops[1], "b", 0);
        run(th, 2);
        ck_assert_msg(st[1] == REND_EIO, "reply %zu: status %d", k, st[1]);
        fini(2);
        rend_th_close(th);
        fake_join(&f);
    }
}
END_TEST

/* 30 keys of 200 bytes: several `get` lines, each under the bound, the
 * keys in order; each line's END answers its own keys. */
START_TEST(test_group_line_split)
{
    static char keys[30][201];
    static char reply[1024];
    struct fake f = { 0 };
    struct rend_th *th;
    static char req[FAKE_REQ_MAX + 1];
    const char *p;
    size_t k = 0, nlines = 0;

    for (size_t i = 0; i < 30; i++) {
        memset(keys[i], 'a' + (char)(i % 26), 200);
        snprintf(keys[i], 4, "%03zu", i);
        keys[i][3] = 'k';
    }
    /* 10 keys fit a line: 4 + 10 * 201 - 1 + 2 = 2015 <= 2048 <
     * 4 + 11 * 201 - 1 + 2; so 3 lines, key 10 the first of the second */
    snprintf(reply, sizeof(reply), "END\r\nVALUE %s 0 1\r\nq\r\nEND\r\n"
             "END\r\n", keys[10]);
    f.reply = reply;
    f.nreply = strlen(reply);
    f.lines = 3;
    f.rounds = 1;
    fake_start(&f);
    th = open_fake(&f, "2000");
    for (size_t i = 0; i < 30; i++) {
        init_get(&ops[i], keys[i], 0);
    }
    run(th, 30);
    for (size_t i = 0; i < 30; i++) {
        if (i == 10) {
            expect_hit(i, "q", 0);
        } else {
            ck_assert_msg(st[i] == REND_MISS, "op %zu: %d", i, st[i]);
        }
    }
    fini(30);
    fake_req(&f, req, sizeof(req));
    for (p = req; *p != '\0'; nlines++) {
        const char *e = strstr(p, "\r\n");
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_le((size_t)(e + 2 - p), REND_MC_GROUP_LINE_MAX);
        ck_assert_int_eq(strncmp(p, "get ", 4), 0);
        p += 4;
        while (p < e) {
            ck_assert_int_eq(memcmp(p, keys[k], 200), 0);
            k++;
            p += 200;
            if (*p == ' ') {
                p++;
            }
        }
        p = e + 2;
    }
    ck_assert_uint_eq(k, 30);
    ck_assert_uint_eq(nlines, 3);
    rend_th_close(th);
    fake_join(&f);
}
END_TEST

/* ---- against memcached ---- */

/* 400 gets of 1..250-byte keys, two thirds stored (flags = index), in one
 * flush: several `get` lines (each under the bound), mixed hits and
 * misses, cas ops among them (gets), binary-unsafe keys (mg) among them;
 * every op gets its own answer. */
START_TEST(test_group_memcached_mixed)
{
    static char keys[MAXOPS][256];
    struct mcproc m;
    char srv[64];
    struct rend_th *th;
    size_t n = 400;
    uint64_t cas_of[MAXOPS] = { 0 };

    if (mcp_start(&m, 0) != 0) {
        return;
    }
    snprintf(srv, sizeof(srv), "127.0.0.1:%d", m.port);
    const char *opts[] = { "servers", srv, NULL };
    th = mcp_open(opts);
    for (size_t i = 0; i < n; i++) {
        size_t len = 1 + (i * 37) % 250;
        int c = snprintf(keys[i], sizeof(keys[i]), "g%zu-", i);
        memset(keys[i] + c, 'a' + (char)(i % 26), len > (size_t)c ? len - c : 0);
        keys[i][len > (size_t)c ? len : (size_t)c] = '\0';
        if (i % 50 == 7 && strlen(keys[i]) < 150) {
            keys[i][c - 1] = ' '; /* not text-safe: base64, mg */
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (i % 3 != 2) {
            char v[32];
            snprintf(v, sizeof(v), "value-%zu", i);
            rend_th_op_init(&ops[i], REND_OP_SET, keys[i], v, strlen(v),
                            (uint32_t)i, 0);
            ck_assert_int_eq(rend_th_run(th, &ops[i]), REND_OK);
            cas_of[i] = ops[i].out_cas;
        }
    }
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++) {
            init_get(&ops[i], keys[i], i % 5 == 1);
        }
        run(th, n);
        for (size_t i = 0; i < n; i++) {
            if (i % 3 == 2) {
                ck_assert_msg(st[i] == REND_MISS, "op %zu: %d", i, st[i]);
                continue;
            }
            char v[32];
            snprintf(v, sizeof(v), "value-%zu", i);
            expect_hit(i, v, (uint32_t)i);
            if (i % 5 == 1) {
                ck_assert_uint_eq(ops[i].out_cas, cas_of[i]);
            }
        }
        fini(n);
    }
    rend_th_close(th);
    mcp_stop(&m, SIGTERM);
}
END_TEST

/* Which keys go raw (and so may be grouped): the word-at-a-time test,
 * its overlapping tail included, against a byte loop, for every length up
 * to 40 with each bad byte at each position. */
START_TEST(test_group_key_raw)
{
    static const unsigned char bad[] = { 0x00, 0x01, 0x0a, 0x0d, 0x20, 0x7f };
    char key[260];

    for (size_t n = 1; n <= 40; n++) {
        for (size_t i = 0; i < n; i++) {
            key[i] = (char)(0x21 + (i * 7) % 0x5e);
            if (i % 3 == 1) {
                key[i] = (char)(0x80 + i % 0x80);
            }
        }
        ck_assert_msg(rend_mc_key_raw(key, n), "good key of %zu", n);
        for (size_t pos = 0; pos < n; pos++) {
            for (size_t b = 0; b < sizeof(bad); b++) {
                char keep = key[pos];
                key[pos] = (char)bad[b];
                ck_assert_msg(!rend_mc_key_raw(key, n),
                              "byte %#x at %zu of %zu", bad[b], pos, n);
                key[pos] = keep;
            }
        }
    }
    memset(key, 'x', sizeof(key));
    ck_assert(rend_mc_key_raw(key, 250));
    ck_assert(!rend_mc_key_raw(key, 251));
    ck_assert(!rend_mc_key_raw(key, 0));
}
END_TEST

static Suite *
group_suite(void)
{
    Suite *s = suite_create("memcached-group");
    TCase *tc = tcase_create("group");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_group_wire_and_splits);
    tcase_add_test(tc, test_group_gets_cas);
    tcase_add_test(tc, test_group_interleaved);
    tcase_add_test(tc, test_group_server_error);
    tcase_add_test(tc, test_group_conn_lost);
    tcase_add_test(tc, test_group_timeout);
    tcase_add_test(tc, test_group_out_of_step);
    tcase_add_test(tc, test_group_line_split);
    tcase_add_test(tc, test_group_key_raw);
    tcase_add_test(tc, test_group_memcached_mixed);
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
    sr = srunner_create(group_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

/* The plugin's key encoding compiled in (the plugin exports only
 * rend_handler_v1). */
#include "../../plugins/memcached/rend_mc_util.c"
