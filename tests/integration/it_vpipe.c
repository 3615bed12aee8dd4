/*
 * it_vpipe.c - large text sets whose values rend splices from the client's
 * socket into a pipe and on to memcached (core/rend_vpipe.h, handler ABI
 * minor 4), against the real rend binary and a real memcached.
 *
 * Each set is sent as its line and a few value bytes, a pause (so rend
 * parses the line with most of the value still in the socket), then the
 * rest.  Checked: the value reads back byte for byte; the stat
 * set_values_spliced counts exactly the sets that may be piped (L1-only
 * on a memcached handler with splice_sets = true: every size in chunked
 * mode, up to 512 KB in plain mode; none without the option, none on
 * inmem); a bad trailer after a piped value is
 * refused and stores nothing; clients that vanish mid-value leave no
 * pipe behind; a value trickled in 100-byte writes (more pipe slots than
 * a pipe has) still arrives whole.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_check.h"
#include "it_util.h"

enum topo { T_PLAIN, T_CHUNKED, T_OFF, T_INMEM, T__COUNT };
static const char *const topo_name[T__COUNT] = {
    "memcached L1, splice_sets", "chunked memcached L1, splice_sets",
    "--l1-sock --chunked (splice_sets off)", "inmem"
};

struct bed {
    struct rend_srv rend, mc;
};

static void
bed_start(struct bed *b, int t)
{
    static const char *const mc_extra[] = { "-m", "256", "-I", "2m", NULL };
    const char *args[] = { "--l1-sock", NULL, "--chunked", NULL };
    char conf[160];
    FILE *f;

    memset(b, 0, sizeof(*b));
    if (t == T_INMEM) {
        it_start(&b->rend, NULL);
        return;
    }
    ck_assert_msg(rend_srv_start_memcached(&b->mc, mc_extra) == 0,
                  "memcached is required (install-deps.sh installs it)");
    if (t == T_OFF) {
        args[1] = b->mc.path;
        ck_assert_int_eq(rend_srv_start(&b->rend, NULL, args), 0);
        return;
    }
    /* the config goes in memcached's private dir, removed with it */
    snprintf(conf, sizeof(conf), "%s/rend.lua", b->mc.dir);
    f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "local mc = handler \"memcached\" { name = \"l1\", "
            "servers = \"%s\", chunked = %s, splice_sets = true }\n"
            "listen { port = 0, routes = { default = l1only(mc) } }\n",
            b->mc.path, t == T_CHUNKED ? "true" : "false");
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rend_srv_start(&b->rend, conf, NULL), 0);
}

static void
bed_stop(struct bed *b)
{
    ck_assert_int_eq(rend_srv_stop(&b->rend, 5000, NULL), 0);
    if (b->mc.pid != 0) {
        rend_srv_stop(&b->mc, 3000, NULL);
    }
}

static long long
spliced(const struct bed *b)
{
    return rend_srv_stat(&b->rend, "stats", "set_values_spliced");
}

static char *
make_value(size_t n, unsigned seed)
{
    char *v = malloc(n);

    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = (char)('a' + (i * 7 + seed + i / 977) % 26);
    }
    return v;
}

/* "set key 0 0 n\r\n" and the first head value bytes, a pause, then the
 * rest of the value and the trailer (2 bytes). */
static void
send_set(struct rend_cli *c, const char *key, const char *v, size_t n,
         size_t head, const char *trailer)
{
    char line[128];

    snprintf(line, sizeof(line), "set %s 7 0 %zu\r\n", key, n);
    ck_assert_int_eq(rend_cli_send_str(c, line, IT_MS), 0);
    ck_assert_int_eq(rend_cli_send(c, v, head, IT_MS), 0);
    usleep(30000);
    ck_assert_int_eq(rend_cli_send(c, v + head, n - head, IT_MS), 0);
    ck_assert_int_eq(rend_cli_send(c, trailer, 2, IT_MS), 0);
}

static void
expect_value(struct rend_cli *c, const char *key, const char *v, size_t n)
{
    char *got = malloc(n + 1);
    size_t len = 0;
    uint32_t flags = 0;

    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(rend_cli_get(c, key, got, n + 1, &len, &flags, IT_MS),
                     1);
    ck_assert_uint_eq(len, n);
    ck_assert_uint_eq(flags, 7);
    ck_assert_msg(memcmp(got, v, n) == 0, "%s: %zu bytes differ", key, n);
    free(got);
}

START_TEST(large_sets_round_trip)
{
    static const size_t sizes[] = { 1000, 20000, 40000, 100000, 300000,
                                    524288, 900000 };
    struct bed b;
    struct rend_cli c;
    long long before;
    int want = 0;
    char line[64];

    bed_start(&b, _i);
    fprintf(stderr, "topology: %s\n", topo_name[_i]);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    before = spliced(&b);
    ck_assert_int_ge(before, 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char key[32];
        char *v = make_value(sizes[i], (unsigned)i);
        snprintf(key, sizeof(key), "vp%zu", sizes[i]);
        send_set(&c, key, v, sizes[i], 10, "\r\n");
        ck_assert_int_ge(rend_cli_line(&c, line, sizeof(line), IT_MS), 0);
        ck_assert_str_eq(line, "STORED");
        expect_value(&c, key, v, sizes[i]);
        free(v);
        /* piped: at least 32 KB still unread, a memcached L1 that takes
         * it (plain mode sends piped values only up to 512 KB) */
        if (sizes[i] >= 40000 && (_i == T_PLAIN || _i == T_CHUNKED)
            && (_i == T_CHUNKED || sizes[i] <= 524288)) {
            want++;
        }
    }
    ck_assert_int_eq(spliced(&b) - before, want);
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

START_TEST(bad_trailer_stores_nothing)
{
    struct bed b;
    struct rend_cli c;
    char line[64];
    char *v = make_value(200000, 3);
    long long before;

    bed_start(&b, _i);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    before = spliced(&b);
    send_set(&c, "bad", v, 200000, 100, "XY");
    ck_assert_int_ge(rend_cli_line(&c, line, sizeof(line), IT_MS), 0);
    ck_assert_str_eq(line, "CLIENT_ERROR bad data chunk");
    ck_assert_int_eq(rend_cli_get(&c, "bad", NULL, 0, NULL, NULL, IT_MS), 0);
    /* the connection goes on: a good one after it is piped and stored */
    send_set(&c, "good", v, 200000, 100, "\r\n");
    ck_assert_int_ge(rend_cli_line(&c, line, sizeof(line), IT_MS), 0);
    ck_assert_str_eq(line, "STORED");
    expect_value(&c, "good", v, 200000);
    ck_assert_int_eq(spliced(&b) - before, 1);
    free(v);
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

static int
count_fds(pid_t pid)
{
    char path[64];
    struct dirent *e;
    int n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
    d = opendir(path);
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

START_TEST(clients_gone_mid_value)
{
    struct bed b;
    struct rend_cli c;
    char *v = make_value(300000, 5);
    char line[64];
    int fds0, fds1 = 0;

    bed_start(&b, T_CHUNKED);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    ck_assert_int_eq(rend_cli_set(&c, "warm", "x", 1, 0, 0, IT_MS), 0);
    fds0 = count_fds(b.rend.pid);
    for (int i = 0; i < 40; i++) {
        struct rend_cli gone;
        ck_assert_int_eq(rend_cli_open(&gone, &b.rend), 0);
        ck_assert_int_eq(rend_cli_send_str(&gone, "set gone 0 0 300000\r\n",
                                           IT_MS), 0);
        ck_assert_int_eq(rend_cli_send(&gone, v, 50 + (size_t)i * 3000,
                                       IT_MS), 0);
        usleep(5000);
        rend_cli_close(&gone);
    }
    /* rend has seen every close once it answers after them */
    for (int tries = 0; tries < 100; tries++) {
        ck_assert_int_gt(rend_cli_cmd(&c, "version\r\n", line, sizeof(line),
                                      IT_MS), 0);
        ck_assert_int_eq(strncmp(line, "VERSION ", 8), 0);
        fds1 = count_fds(b.rend.pid);
        if (fds1 <= fds0 + 2 * 8) {
            break;
        }
        usleep(20000);
    }
    /* at most the worker's pool of idle pipes (8, two fds each) stays */
    ck_assert_msg(fds1 <= fds0 + 2 * 8, "fds %d before, %d after", fds0,
                  fds1);
    ck_assert_int_eq(rend_cli_get(&c, "gone", NULL, 0, NULL, NULL, IT_MS), 0);
    send_set(&c, "after", v, 300000, 10, "\r\n");
    ck_assert_int_ge(rend_cli_line(&c, line, sizeof(line), IT_MS), 0);
    ck_assert_str_eq(line, "STORED");
    expect_value(&c, "after", v, 300000);
    free(v);
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

START_TEST(trickled_value_arrives_whole)
{
    struct bed b;
    struct rend_cli c;
    char *v = make_value(400000, 9);
    char line[64];

    bed_start(&b, T_CHUNKED);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    ck_assert_int_eq(rend_cli_send_str(&c, "set trickle 7 0 400000\r\n",
                                       IT_MS), 0);
    /* one small segment per write: a pipe's 256 slots hold only a part */
    for (size_t off = 0; off < 400000; off += 100) {
        ck_assert_int_eq(rend_cli_send(&c, v + off, 100, IT_MS), 0);
        if (off % 20000 == 0) {
            usleep(2000);
        }
    }
    ck_assert_int_eq(rend_cli_send(&c, "\r\n", 2, IT_MS), 0);
    ck_assert_int_ge(rend_cli_line(&c, line, sizeof(line), IT_MS), 0);
    ck_assert_str_eq(line, "STORED");
    expect_value(&c, "trickle", v, 400000);
    free(v);
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

static Suite *
vpipe_suite(void)
{
    Suite *s = suite_create("vpipe");
    TCase *tc = tcase_create("sets");

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, large_sets_round_trip, 0, T__COUNT);
    tcase_add_loop_test(tc, bad_trailer_stores_nothing, T_PLAIN,
                        T_CHUNKED + 1);
    tcase_add_test(tc, clients_gone_mid_value);
    tcase_add_test(tc, trickled_value_arrives_whole);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return rend_check_main(vpipe_suite());
}
