/*
 * check_mc_lent.c - GET hits through the memcached handler are lent to the
 * core straight out of the backend connection's read buffer
 * (host->value_ref; plugins/memcached/rend_mc_rbuf.c), and long set
 * values go to memcached spliced from the request (writev).  A lent value
 * must stay intact while the read buffer it lives in takes later replies,
 * moves to a new block, or is dropped with its connection.
 *
 * In chunked mode (the "chunked" case) large set values are owned by
 * taking the client connection's input buffer instead of a copy
 * (rend_req_own), and one-chunk gets are lent the same way.
 *
 * The real rend runs in front of a real memcached (unix socket).  The
 * client pipelines many requests in one write on a connection with a
 * small receive buffer and reads only afterwards, so rend holds the
 * values it was lent while it goes on reading from memcached.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "orch_check.h"
#include "orch_wire.h"

static struct orch srv;
static struct rend_srv mc;
/* extra options of the memcached handler (chunked mode), or "" */
static const char *mc_opts = "";

static void
setup_args(const char *const *mcargs)
{
    char conf[1024];
    int rc = rend_srv_start_memcached(&mc, mcargs);

    ck_assert_msg(rc == 0, "check_mc_lent: cannot start memcached (%d)", rc);
    orch_guard_srv(&mc);
    snprintf(conf, sizeof(conf),
             "local l1 = handler \"memcached\" { name = \"l1\","
             " servers = \"%s\", fail_limit = 1000%s }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1only(l1) } }\n",
             mc.path, mc_opts);
    ck_assert_int_eq(orch_start_text(&srv, conf), 0);
}

static void
setup(void)
{
    setup_args(NULL);
}

/* memcached with 128 KB items: it refuses the longer sets. */
static void
setup_small_items(void)
{
    static const char *const args[] = { "-I", "128k", "-o",
                                         "slab_chunk_max=65536", NULL };
    setup_args(args);
}

/* Chunked mode with one chunk item per value up to ~100 KB (slab_size
 * 103496): a get of such a value is lent from the read buffer, longer
 * ones are assembled; memcached takes items up to 2 MB. */
static void
setup_chunked(void)
{
    static const char *const args[] = { "-I", "2m", NULL };

    mc_opts = ", chunked = true, slab_size = 103496, timeout_ms = 5000";
    setup_args(args);
}

static void
teardown(void)
{
    orch_stop(&srv, 0);
    rend_srv_kill(&mc, SIGKILL);
}

/* The value of round r (different bytes every round). */
static void
fill(char *v, size_t n, int r)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = (char)('!' + (i * (size_t)(r + 3) + (size_t)r) % 90);
    }
}

/* 100 B and 3000 B values are copied into the client's output (the lent
 * bytes go back at once), 10 KB-300 KB are written from the read buffer
 * (300 KB spans more than one 256 KB read block), and 300 KB also comes
 * in pieces across reads; 700 KB sets are not spliced (copied). */
static const size_t sizes[] = { 100, 3000, 10000, 100000, 300000, 700000 };

#define ROUNDS 8

/* set k v_r; get k, for ROUNDS rounds in one write: every get answers
 * its own round's value although later replies were read into (and later
 * sets overwrote) the same buffers before it went out. */
START_TEST(lent_backend_values_survive_buffer_reuse)
{
    size_t n = sizes[_i];
    char *v[ROUNDS], hdr[64];
    struct orch_buf b = { 0 };
    int fd = orch_slow_conn(&srv);

    for (int r = 0; r < ROUNDS; r++) {
        v[r] = malloc(n);
        ck_assert_ptr_nonnull(v[r]);
        fill(v[r], n, r);
        orch_buf_putf(&b, "set k%zu %zu 0 ", n, (size_t)r);
        orch_buf_putf(&b, "%zu\r\n", n, 0);
        orch_buf_put(&b, v[r], n);
        orch_buf_putf(&b, "\r\nget k%zu\r\n", n, 0);
    }
    orch_send_all(fd, b.p, b.n);
    usleep(200 * 1000); /* let rend run much of it before we read */
    for (int r = 0; r < ROUNDS; r++) {
        orch_expect_line(fd, "STORED\r\n");
        snprintf(hdr, sizeof(hdr), "VALUE k%zu %d %zu\r\n", n, r, n);
        orch_expect_line(fd, hdr);
        orch_expect_bytes(fd, v[r], n, "a lent value");
        orch_expect_line(fd, "\r\nEND\r\n");
    }
    close(fd);
    for (int r = 0; r < ROUNDS; r++) {
        free(v[r]);
    }
    free(b.p);
}
END_TEST

/* Multi-key gets (one grouped `get` line to memcached): per round, the
 * even keys of m0..m9 are set (100 B to 300 KB, new bytes each round) and
 * one `get m0 ... m9` asks for all ten; the hits come back lent from the
 * read buffer, in order with the misses skipped, while later rounds'
 * replies reuse and outgrow that buffer. */
START_TEST(lent_values_from_a_multi_key_get)
{
    static const size_t msz[] = { 100, 0, 300000, 0, 3000, 0, 100000, 0,
                                  10000, 0 };
    char *v[ROUNDS][10], hdr[64];
    struct orch_buf b = { 0 };
    int fd = orch_slow_conn(&srv);

    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < 10; i++) {
            v[r][i] = NULL;
            if (msz[i] == 0) {
                continue;
            }
            v[r][i] = malloc(msz[i]);
            ck_assert_ptr_nonnull(v[r][i]);
            fill(v[r][i], msz[i], r + (int)i);
            orch_buf_putf(&b, "set m%zu %zu 0 ", i, (size_t)r);
            orch_buf_putf(&b, "%zu\r\n", msz[i], 0);
            orch_buf_put(&b, v[r][i], msz[i]);
            orch_buf_put(&b, "\r\n", 2);
        }
        orch_buf_put(&b, "get m0 m1 m2 m3 m4 m5 m6 m7 m8 m9\r\n", 35);
    }
    orch_send_all(fd, b.p, b.n);
    usleep(200 * 1000); /* let rend run much of it before we read */
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < 10; i += 2) {
            orch_expect_line(fd, "STORED\r\n");
        }
        for (size_t i = 0; i < 10; i += 2) {
            snprintf(hdr, sizeof(hdr), "VALUE m%zu %d %zu\r\n", i, r, msz[i]);
            orch_expect_line(fd, hdr);
            orch_expect_bytes(fd, v[r][i], msz[i], "a lent value of a group");
            orch_expect_bytes(fd, "\r\n", 2, "the value's CRLF");
        }
        orch_expect_line(fd, "END\r\n");
    }
    close(fd);
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < 10; i++) {
            free(v[r][i]);
        }
    }
    free(b.p);
}
END_TEST

/* Many gets of a 100 KB value are answered (lent from the read buffer)
 * but not yet written out when memcached dies: the connection is closed
 * and its buffer dropped, and the values already answered still arrive
 * intact; the gets after it fail as errors, not as corrupt hits. */
/* Store v (n bytes, flags) as "big", then send gets x "get big" on a
 * connection that reads slowly, without reading the replies; returns that
 * connection's fd.  b is scratch space (left holding the gets). */
static int
store_then_pipeline_gets(struct orch_buf *b, const char *v, size_t n,
                         size_t flags, int gets)
{
    struct orch_conn c;
    char line[256];
    int fd;

    ck_assert_int_eq(orch_connect(&srv, 0, 0, &c), 0);
    b->n = 0;
    orch_buf_putf(b, "set big %zu 0 %zu\r\n", flags, n);
    orch_buf_put(b, v, n);
    orch_buf_put(b, "\r\n", 2);
    orch_send_all(c.fd, b->p, b->n);
    orch_recv_line(c.fd, line, sizeof(line));
    ck_assert_str_eq(line, "STORED\r\n");
    orch_close(&c);
    fd = orch_slow_conn(&srv);
    b->n = 0;
    for (int i = 0; i < gets; i++) {
        orch_buf_put(b, "get big\r\n", 9);
    }
    orch_send_all(fd, b->p, b->n);
    return fd;
}

START_TEST(lent_values_survive_the_backend_connection_reset)
{
    size_t n = 100000;
    const int gets = 60;
    char *v = malloc(n), hdr[64], line[256];
    struct orch_buf b = { 0 };
    struct orch_conn c;
    int hits = 0, errors = 0, fd;

    ck_assert_ptr_nonnull(v);
    fill(v, n, 5);
    fd = store_then_pipeline_gets(&b, v, n, 9, gets);
    usleep(300 * 1000);
    rend_srv_kill(&mc, SIGKILL);
    usleep(300 * 1000);
    /* more traffic on other connections (reusing freed memory) */
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(orch_connect(&srv, 0, 0, &c), 0);
        (void)orch_store(&c, "set", "other", "xxxxxxxxxxxxxxxxxxxxxxxx", 0, 0,
                         0);
        orch_close(&c);
    }
    snprintf(hdr, sizeof(hdr), "VALUE big 9 %zu\r\n", n);
    for (int i = 0; i < gets; i++) {
        orch_recv_line(fd, line, sizeof(line));
        if (strncmp(line, "SERVER_ERROR", 12) == 0) {
            errors++;
            continue;
        }
        ck_assert_str_eq(line, hdr);
        orch_expect_bytes(fd, v, n, "a value answered before the reset");
        orch_expect_line(fd, "\r\nEND\r\n");
        ck_assert_int_eq(errors, 0); /* hits first, then the failures */
        hits++;
    }
    ck_assert_int_gt(hits, 0);
    close(fd);
    free(b.p);
    free(v);
}
END_TEST

/* A reload replaces the memcached handler instance (its threads' backend
 * connections and read buffers go) while 8 MB of values it lent are still
 * unsent: they arrive intact, and the gets read after the reload are
 * served by the new instance from the same memcached. */
START_TEST(lent_values_outlive_a_reload)
{
    char conf_b[1024], hdr[64], line[256];
    size_t n = 100000;
    const int gets = 80;
    char *v = malloc(n);
    struct orch_buf b = { 0 };
    int64_t t0;
    int fd;

    ck_assert_ptr_nonnull(v);
    fill(v, n, 7);
    fd = store_then_pipeline_gets(&b, v, n, 3, gets);
    usleep(200 * 1000);
    snprintf(conf_b, sizeof(conf_b),
             "local l1 = handler \"memcached\" { name = \"l1b\","
             " servers = \"%s\" }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1only(l1) } }\n",
             mc.path);
    ck_assert_int_eq(orch_write_conf(&srv, conf_b), 0);
    ck_assert_int_eq(kill(srv.srv.pid, SIGHUP), 0);
    t0 = rend_now_ms();
    while (orch_stat(&srv, NULL, "config_reloads") < 1) {
        ck_assert_msg(rend_now_ms() - t0 < 5000, "no reload within 5 s");
        usleep(2000);
    }
    usleep(200 * 1000);
    snprintf(hdr, sizeof(hdr), "VALUE big 3 %zu\r\n", n);
    for (int i = 0; i < gets; i++) {
        orch_recv_line(fd, line, sizeof(line));
        ck_assert_str_eq(line, hdr);
        orch_expect_bytes(fd, v, n, "a get across the reload");
        orch_expect_line(fd, "\r\nEND\r\n");
    }
    close(fd);
    free(b.p);
    free(v);
}
END_TEST

/* A set refused as too large (spliced from the request at 200 KB and
 * 500 KB, copied at 700 KB) answers SERVER_ERROR, and the connection to
 * memcached stays in step: the requests after it on the same client
 * connection (and so on the same backend connection) are answered. */
START_TEST(refused_spliced_set_keeps_the_stream)
{
    static const size_t big[] = { 200000, 500000, 700000 };
    struct orch_buf b = { 0 };
    char line[256];
    int fd = orch_slow_conn(&srv);

    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
        char *v = malloc(big[i]);
        ck_assert_ptr_nonnull(v);
        fill(v, big[i], (int)i);
        b.n = 0;
        orch_buf_putf(&b, "set big%zu 0 0 %zu\r\n", big[i], big[i]);
        orch_buf_put(&b, v, big[i]);
        orch_buf_put(&b, "\r\nset small 0 0 2\r\nok\r\nget small\r\n", 34);
        orch_send_all(fd, b.p, b.n);
        orch_recv_line(fd, line, sizeof(line));
        ck_assert_msg(strncmp(line, "SERVER_ERROR", 12) == 0, "%zu: %s",
                      big[i], line);
        orch_expect_line(fd, "STORED\r\nVALUE small 0 2\r\nok\r\nEND\r\n");
        free(v);
    }
    close(fd);
    free(b.p);
}
END_TEST

/* ---- chunked mode: set values owned by taking the client's input
 * buffer (rend_req_own), one-chunk gets lent from the backend's ---- */

/* Values around the one-chunk size (103496 - 71 - len("kNNNNNN") - 16):
 * a 40 KB value, 100 KB (one chunk, lent on a get), 103400 (just past
 * one chunk: two, assembled), 300 KB (three chunks). */
static const size_t csizes[] = { 40000, 100000, 103400, 300000 };

/* set k v_r; get k; for ROUNDS rounds in one write on a slow connection:
 * the sets' values share rend's input buffer with the pipelined bytes
 * after them (the buffer is handed to the set, the rest moves), and the
 * gets' values are lent while later replies arrive.  Every reply carries
 * its own round's value. */
START_TEST(chunked_pipelined_sets_keep_their_values)
{
    size_t n = csizes[_i];
    char *v[ROUNDS], hdr[64];
    struct orch_buf b = { 0 };
    int fd = orch_slow_conn(&srv);

    for (int r = 0; r < ROUNDS; r++) {
        v[r] = malloc(n);
        ck_assert_ptr_nonnull(v[r]);
        fill(v[r], n, r + 11);
        orch_buf_putf(&b, "set k%zu %zu 0 ", n, (size_t)r);
        orch_buf_putf(&b, "%zu\r\n", n, 0);
        orch_buf_put(&b, v[r], n);
        orch_buf_putf(&b, "\r\nget k%zu\r\n", n, 0);
    }
    orch_send_all(fd, b.p, b.n);
    usleep(200 * 1000);
    for (int r = 0; r < ROUNDS; r++) {
        orch_expect_line(fd, "STORED\r\n");
        snprintf(hdr, sizeof(hdr), "VALUE k%zu %d %zu\r\n", n, r, n);
        orch_expect_line(fd, hdr);
        orch_expect_bytes(fd, v[r], n, "a chunked value");
        orch_expect_line(fd, "\r\nEND\r\n");
    }
    close(fd);
    for (int r = 0; r < ROUNDS; r++) {
        free(v[r]);
    }
    free(b.p);
}
END_TEST

/* Many 100 KB sets to one key in one write, and the client closes at
 * once (one more set cut off mid-value).  The sets rend had started own
 * their values (the input buffers they took) after the connection has
 * gone; those not started are dropped with it (as memcached drops what it
 * has not parsed).  Once the key settles it holds one of the complete
 * sets' values intact (its flags name which one), never a mixed or cut
 * one. */
START_TEST(chunked_sets_outlive_their_client)
{
    const size_t n = 100000;
    const int sets = 12;
    char *v = malloc(n), *got = malloc(n);
    struct orch_buf b = { 0 };
    struct orch_conn c;
    int fd = orch_slow_conn(&srv), prev_flags = -1, same = 0;
    int64_t t0;

    ck_assert(v != NULL && got != NULL);
    for (int r = 0; r < sets; r++) {
        fill(v, n, r + 21);
        orch_buf_putf(&b, "set gone %zu 0 %zu\r\n", (size_t)r, n);
        orch_buf_put(&b, v, n);
        orch_buf_put(&b, "\r\n", 2);
    }
    orch_buf_putf(&b, "set gone 99 0 %zu\r\n", n, 0);
    orch_buf_put(&b, v, n / 2); /* cut off: never stored */
    orch_send_all(fd, b.p, b.n);
    close(fd);
    ck_assert_int_eq(orch_connect(&srv, 0, 0, &c), 0);
    t0 = rend_now_ms();
    while (same < 3) {
        char line[256];
        int flags;
        size_t len;
        ck_assert_msg(rend_now_ms() - t0 < 10000, "the key never settled");
        usleep(100 * 1000);
        orch_send_all(c.fd, "get gone\r\n", 10);
        orch_recv_line(c.fd, line, sizeof(line));
        if (strcmp(line, "END\r\n") == 0) {
            same = 0; /* the first set not applied yet */
            continue;
        }
        ck_assert_msg(sscanf(line, "VALUE gone %d %zu", &flags, &len) == 2,
                      "%s", line);
        ck_assert_uint_eq(len, n);
        ck_assert(flags >= 0 && flags < sets);
        orch_recv_exact(c.fd, got, n);
        orch_expect_line(c.fd, "\r\nEND\r\n");
        fill(v, n, flags + 21);
        ck_assert_msg(memcmp(got, v, n) == 0, "set %d's value differs",
                      flags);
        same = flags == prev_flags ? same + 1 : 0;
        prev_flags = flags;
    }
    orch_close(&c);
    free(b.p);
    free(v);
    free(got);
}
END_TEST

/* memcached dies while 100 KB sets (their values in the input buffers
 * they took, spliced into the backend's output) and gets are queued: each
 * answer is STORED, a value intact, or an error, in order, and rend goes
 * on serving. */
START_TEST(chunked_backend_killed_mid_write)
{
    const size_t n = 100000;
    const int rounds = 30;
    char *v = malloc(n), line[256];
    struct orch_buf b = { 0 };
    struct orch_conn c;
    int fd = orch_slow_conn(&srv), stored = 0, failed = 0;

    ck_assert_ptr_nonnull(v);
    fill(v, n, 31);
    for (int r = 0; r < rounds; r++) {
        orch_buf_putf(&b, "set kill%zu 4 0 %zu\r\n", (size_t)r, n);
        orch_buf_put(&b, v, n);
        orch_buf_putf(&b, "\r\nget kill%zu\r\n", (size_t)r, 0);
    }
    orch_send_all(fd, b.p, b.n);
    usleep(30 * 1000);
    rend_srv_kill(&mc, SIGKILL);
    for (int r = 0; r < rounds; r++) {
        char hdr[64];
        orch_recv_line(fd, line, sizeof(line));
        if (strcmp(line, "STORED\r\n") == 0) {
            stored++;
        } else {
            ck_assert_msg(strncmp(line, "SERVER_ERROR", 12) == 0, "set: %s",
                          line);
            failed++;
        }
        orch_recv_line(fd, line, sizeof(line));
        snprintf(hdr, sizeof(hdr), "VALUE kill%d 4 %zu\r\n", r, n);
        if (strcmp(line, hdr) == 0) {
            orch_expect_bytes(fd, v, n, "a value read before the kill");
            orch_expect_line(fd, "\r\nEND\r\n");
        } else if (strcmp(line, "END\r\n") != 0) {
            ck_assert_msg(strncmp(line, "SERVER_ERROR", 12) == 0, "get: %s",
                          line);
        }
    }
    ck_assert_int_eq(stored + failed, rounds);
    close(fd);
    ck_assert_int_eq(orch_connect(&srv, 0, 0, &c), 0);
    orch_send_all(c.fd, "version\r\n", 9);
    orch_recv_line(c.fd, line, sizeof(line));
    ck_assert_msg(strncmp(line, "VERSION ", 8) == 0, "%s", line);
    orch_close(&c);
    free(b.p);
    free(v);
}
END_TEST

/* One-chunk values lent from the backend's read buffer, answered but not
 * yet written to a slow client, survive memcached's death (the buffer is
 * retired with its connection, not freed): the hits arrive intact, the
 * later gets fail. */
START_TEST(chunked_lent_values_survive_the_backend_reset)
{
    size_t n = 100000;
    const int gets = 60;
    char *v = malloc(n), hdr[64], line[256];
    struct orch_buf b = { 0 };
    int hits = 0, errors = 0, fd;

    ck_assert_ptr_nonnull(v);
    fill(v, n, 41);
    fd = store_then_pipeline_gets(&b, v, n, 6, gets);
    usleep(300 * 1000);
    rend_srv_kill(&mc, SIGKILL);
    usleep(300 * 1000);
    snprintf(hdr, sizeof(hdr), "VALUE big 6 %zu\r\n", n);
    for (int i = 0; i < gets; i++) {
        orch_recv_line(fd, line, sizeof(line));
        if (strncmp(line, "SERVER_ERROR", 12) == 0) {
            errors++;
            continue;
        }
        ck_assert_str_eq(line, hdr);
        orch_expect_bytes(fd, v, n, "a chunked value answered before");
        orch_expect_line(fd, "\r\nEND\r\n");
        ck_assert_int_eq(errors, 0);
        hits++;
    }
    ck_assert_int_gt(hits, 0);
    close(fd);
    free(b.p);
    free(v);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("mc_lent");
    TCase *tc = tcase_create("zero-copy");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, lent_backend_values_survive_buffer_reuse, 0,
                        (int)(sizeof(sizes) / sizeof(sizes[0])));
    tcase_add_test(tc, lent_values_from_a_multi_key_get);
    tcase_add_test(tc, lent_values_survive_the_backend_connection_reset);
    tcase_add_test(tc, lent_values_outlive_a_reload);
    suite_add_tcase(s, tc);
    tc = tcase_create("refused");
    tcase_add_checked_fixture(tc, setup_small_items, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, refused_spliced_set_keeps_the_stream);
    suite_add_tcase(s, tc);
    tc = tcase_create("chunked");
    tcase_add_checked_fixture(tc, setup_chunked, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, chunked_pipelined_sets_keep_their_values, 0,
                        (int)(sizeof(csizes) / sizeof(csizes[0])));
    tcase_add_test(tc, chunked_sets_outlive_their_client);
    tcase_add_test(tc, chunked_backend_killed_mid_write);
    tcase_add_test(tc, chunked_lent_values_survive_the_backend_reset);
    suite_add_tcase(s, tc);
    return orch_run(s) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
