/*
 * check_reload.c - SIGHUP reloads under load against the real rend.
 *
 * Two client threads (one text, one binary) set and get their own keys
 * on listener 0 without pause and check every reply (a get must return
 * the value this client set last), while the test reloads 20 times in a
 * row, alternating conf/reload_a.lua (L1-only), reload_b.lua (L1/L2),
 * reload_c.lua (L1/L2 plus a new handler instance) and reload_bad.lua (a
 * Lua syntax error).  Asserted: zero failed or wrong replies, exact
 * config_reloads / config_reload_failures, each config's routes really in
 * force after its reload (the broken one leaves the old one serving), and
 * the inmem L1 keeping its data throughout.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "orch_check.h"

enum { P_MAIN = 0, P_L1 = 1, P_L2 = 2 };
enum { CONF_A, CONF_B, CONF_C, CONF_BAD };

#define NKEEP 200
#define NRELOADS 20

static const char *const conf_files[] = {
    "reload_a.lua", "reload_b.lua", "reload_c.lua", "reload_bad.lua",
};

static struct orch srv;

struct client {
    pthread_t tid;
    int bin;
    int id;
    long ops;
    long failures;
    char first_failure[512];
};

static volatile int stop_clients;

static void
client_fail(struct client *cl, const char *what, const char *key, int res,
            const char *last)
{
    if (cl->failures++ == 0) {
        snprintf(cl->first_failure, sizeof(cl->first_failure),
                 "client %d (%s): %s %s -> %s ('%.200s')", cl->id,
                 cl->bin ? "binary" : "text", what, key, orch_res_name(res),
                 last);
    }
}

static void *
client_main(void *arg)
{
    struct client *cl = arg;
    struct orch_conn c;
    struct orch_item it;
    long i = 0;

    if (orch_connect(&srv, P_MAIN, cl->bin, &c) != 0) {
        client_fail(cl, "connect", "", ORCH_BAD, "");
        return NULL;
    }
    while (!stop_clients) {
        char key[32], value[32];
        int res;

        snprintf(key, sizeof(key), "c%d:%ld", cl->id, i % 64);
        snprintf(value, sizeof(value), "%d-%ld", cl->id, i);
        res = orch_store(&c, "set", key, value, 0, 0, 0);
        if (res != ORCH_OK) {
            client_fail(cl, "set", key, res, c.last);
        }
        res = orch_get(&c, "get", key, 0, &it);
        if (res != ORCH_OK || strcmp(it.value, value) != 0) {
            client_fail(cl, "get", key, res,
                        res == ORCH_OK ? it.value : c.last);
        }
        cl->ops += 2;
        i++;
        if (cl->failures > 20) {
            break; /* the server is gone; enough said */
        }
    }
    orch_close(&c);
    return NULL;
}

static void
use_conf(int which)
{
    char path[512];

    ck_assert_int_eq(orch_copy_conf(&srv, orch_conf_path(path, sizeof(path),
                                                         conf_files[which])),
                     0);
}

/* SIGHUP and wait until rend has counted this reload attempt. */
static void
reload(int64_t attempts_before)
{
    int64_t t0 = rend_now_ms();

    ck_assert_int_eq(kill(srv.srv.pid, SIGHUP), 0);
    while (rend_now_ms() - t0 < 5000) {
        int64_t ok = orch_stat(&srv, NULL, "config_reloads");
        int64_t bad = orch_stat(&srv, NULL, "config_reload_failures");
        if (ok >= 0 && bad >= 0 && ok + bad > attempts_before) {
            return;
        }
        usleep(2000);
    }
    ck_abort_msg("rend did not count reload attempt %lld within 5 s",
                 (long long)attempts_before + 1);
}

/* Check that the routes of config `which` serve listener 0. */
static void
probe(int which, int n)
{
    struct orch_conn c;
    char key[32];

    ck_assert_int_eq(orch_connect(&srv, P_MAIN, 0, &c), 0);
    snprintf(key, sizeof(key), "probe:%d", n);
    EXPECT_RES(&c, orch_store(&c, "set", key, "p", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, key, "p", 1);
    /* L1-only (A) never reaches L2; L1/L2 (B, C) does */
    EXPECT_PEEK(&srv, P_L2, key, "p", which == CONF_A ? 0 : 1);
    snprintf(key, sizeof(key), "side:%d", n);
    EXPECT_RES(&c, orch_store(&c, "set", key, "s", 0, 0, 0), ORCH_OK);
    /* C sends side: keys to its own instance l3, the others to l1 */
    EXPECT_PEEK(&srv, P_L1, key, "s", which == CONF_C ? 0 : 1);
    orch_close(&c);
}

static void
teardown(void)
{
    stop_clients = 1;
    orch_stop(&srv, 0);
}

START_TEST(reload_under_load)
{
    static const int seq[NRELOADS] = {
        CONF_B, CONF_A, CONF_C, CONF_BAD, CONF_B, CONF_A, CONF_BAD, CONF_C,
        CONF_A, CONF_B, CONF_C, CONF_BAD, CONF_A, CONF_C, CONF_B, CONF_A,
        CONF_BAD, CONF_B, CONF_C, CONF_A,
    };
    struct client cl[2];
    struct orch_conn v1;
    int64_t good = 0, bad = 0;
    int running = CONF_A;
    char path[512];

    ck_assert_int_eq(orch_start_file(&srv, orch_conf_path(path, sizeof(path),
                                                          "reload_a.lua"),
                                     NULL), 0);
    ck_assert_int_eq(srv.nports, 3);
    ck_assert_int_eq(orch_connect(&srv, P_L1, 0, &v1), 0);
    for (int i = 0; i < NKEEP; i++) {
        char key[32], value[32];
        snprintf(key, sizeof(key), "keep:%d", i);
        snprintf(value, sizeof(value), "kept-%d", i);
        EXPECT_RES(&v1, orch_store(&v1, "set", key, value, 0, 0, 0), ORCH_OK);
    }
    probe(CONF_A, 0);

    memset(cl, 0, sizeof(cl));
    for (int i = 0; i < 2; i++) {
        cl[i].id = i;
        cl[i].bin = i;
        ck_assert_int_eq(pthread_create(&cl[i].tid, NULL, client_main,
                                        &cl[i]), 0);
    }
    for (int r = 0; r < NRELOADS; r++) {
        usleep(40000);
        use_conf(seq[r]);
        reload(good + bad);
        if (seq[r] == CONF_BAD) {
            bad++;
        } else {
            good++;
            running = seq[r];
        }
        ck_assert_int_eq(orch_stat(&srv, NULL, "config_reloads"), good);
        ck_assert_int_eq(orch_stat(&srv, NULL, "config_reload_failures"),
                         bad);
        probe(running, r + 1);
    }
    usleep(40000);
    stop_clients = 1;
    for (int i = 0; i < 2; i++) {
        pthread_join(cl[i].tid, NULL);
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(cl[i].failures == 0, "%ld failed or wrong replies of "
                      "%ld; first: %s", cl[i].failures, cl[i].ops,
                      cl[i].first_failure);
        fprintf(stderr, "reload: client %d made %ld requests\n", i, cl[i].ops);
        ck_assert_msg(cl[i].ops >= 200, "client %d made only %ld requests",
                      i, cl[i].ops);
    }
    /* the inmem L1 kept its data across every reload */
    for (int i = 0; i < NKEEP; i++) {
        char key[32], value[32];
        snprintf(key, sizeof(key), "keep:%d", i);
        snprintf(value, sizeof(value), "kept-%d", i);
        EXPECT_PEEK(&srv, P_L1, key, value, 1);
    }
    ck_assert_int_eq(good, 16);
    ck_assert_int_eq(bad, 4);
    orch_close(&v1);
    ck_assert_int_eq(orch_stop(&srv, 0), 0);
}
END_TEST

/* A reload that changes settings{} is applied except for the settings,
 * which take effect at restart, and the log says so. */
START_TEST(reload_settings_change_is_reported)
{
    static const char *const base =
        "local l1 = handler \"inmem\" { name = \"l1\" }\n"
        "listen { port = 0, address = \"127.0.0.1\","
        " routes = { default = l1only(l1) } }\n";
    char text[1024];
    char *log;

    snprintf(text, sizeof(text), "%ssettings { threads = 2 }\n", base);
    ck_assert_int_eq(orch_start_text(&srv, text), 0);
    snprintf(text, sizeof(text), "%ssettings { threads = 3, "
             "item_size_max = 2097152 }\n", base);
    ck_assert_int_eq(orch_write_conf(&srv, text), 0);
    reload(0);
    ck_assert_int_eq(orch_stat(&srv, NULL, "config_reloads"), 1);
    log = rend_srv_stderr(&srv.srv);
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(strstr(log, "settings.threads changed (2 -> 3)") != NULL
                  && strstr(log, "settings.item_size_max changed") != NULL,
                  "no warning about unapplied settings:\n%s", log);
    free(log);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("reload");
    TCase *tc = tcase_create("sighup");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, reload_under_load);
    tcase_add_test(tc, reload_settings_change_is_reported);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return orch_run(s) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
