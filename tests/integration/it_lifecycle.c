/*
 * it_lifecycle.c - start/stop of the real rend: SIGTERM with clients
 * connected, bad configs, --check-config, a unix-socket listener, and
 * requests that arrive right after startup.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_check.h"
#include "it_util.h"

START_TEST(sigterm_with_clients_connected)
{
    struct rend_srv srv;
    int fds[5];
    long ms = 0;

    it_start(&srv, NULL);
    for (int i = 0; i < 5; i++) {
        fds[i] = it_connect(&srv);
    }
    it_expect(fds[0], "set k 0 0 1\r\nx\r\n", "STORED\r\n");
    ck_assert_int_eq(rend_io_send_str(fds[1], "set half 0 0 10\r\nab",
                                      IT_MS), 0);
    ck_assert_int_eq(rend_io_send_str(fds[2], "ge", IT_MS), 0);
    ck_assert_int_eq(rend_srv_stop(&srv, 2000, &ms), 0);
    printf("SIGTERM with 5 clients: exit 0 after %ld ms\n", ms);
    ck_assert_int_lt(ms, 2000);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(rend_io_closed(fds[i], 1000), 1);
        close(fds[i]);
    }
}
END_TEST

/* rend -p 0 --config conf must fail and name conf:line on stderr. */
static void
expect_config_error(const char *conf, int check_only)
{
    char path[1024], want[1100];
    const char *base = strrchr(conf, '/') + 1;
    const char *args_run[] = { "-p", "0", "--config", path, NULL };
    const char *args_check[] = { "--check-config", "--config", path, NULL };
    char *err = NULL;
    const char *at;
    int rc;

    snprintf(path, sizeof(path), "%s", it_src(conf));
    rc = rend_srv_run(check_only ? args_check : args_run, 5000, &err);
    ck_assert_ptr_nonnull(err);
    printf("%s%s: exit %d: %s", base, check_only ? " (--check-config)" : "",
           rc, err);
    ck_assert_int_ne(rc, 0);
    ck_assert_int_lt(rc, 128); /* an exit, not a crash */
    snprintf(want, sizeof(want), "%s:", base);
    at = strstr(err, want);
    ck_assert_msg(at != NULL, "stderr does not name %s", base);
    at += strlen(want);
    ck_assert_msg(at[0] >= '1' && at[0] <= '9', "no line number after %s",
                  want);
    free(err);
}

START_TEST(bad_configs_fail_with_file_and_line)
{
    static const char *const confs[] = {
        "tests/integration/conf/bad_syntax.lua",
        "tests/integration/conf/bad_plugin.lua",
        "tests/integration/conf/bad_option.lua",
    };

    for (size_t i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
        expect_config_error(confs[i], 0);
        expect_config_error(confs[i], 1);
    }
}
END_TEST

START_TEST(check_config_accepts_good_configs)
{
    char path[1024];
    const char *args[] = { "--check-config", "--config", path, NULL };
    const char *dflt[] = { "--check-config", NULL };
    char *err = NULL;

    snprintf(path, sizeof(path), "%s", it_src("conf/inmem.lua"));
    ck_assert_int_eq(rend_srv_run(args, 5000, &err), 0);
    free(err);
    ck_assert_int_eq(rend_srv_run(dflt, 5000, &err), 0);
    free(err);
    snprintf(path, sizeof(path), "%s",
             it_src("tests/integration/conf/unix.lua"));
    ck_assert_int_eq(rend_srv_run(args, 5000, &err), 0);
    free(err);
}
END_TEST

START_TEST(unix_socket_listener)
{
    struct rend_srv srv;
    char sock[128];
    int fd;

    snprintf(sock, sizeof(sock), "/tmp/rend-it-unix-%d.sock", (int)getpid());
    setenv("REND_SOCK", sock, 1);
    ck_assert_int_eq(rend_srv_start(&srv,
                                    it_src("tests/integration/conf/unix.lua"),
                                    NULL), 0);
    ck_assert_str_eq(srv.path, sock);
    fd = it_connect(&srv);
    it_expect(fd, "set u 1 0 4\r\nunix\r\n", "STORED\r\n");
    it_expect(fd, "get u\r\n", "VALUE u 1 4\r\nunix\r\nEND\r\n");
    close(fd);
    ck_assert_int_eq(rend_srv_stop(&srv, 3000, NULL), 0);
    unlink(sock);
}
END_TEST

/* Requests sent the moment the port file appears, on several
 * connections, over many restarts: each must be answered. */
START_TEST(requests_right_after_startup)
{
    int failures = 0;

    for (int round = 0; round < 30; round++) {
        struct rend_srv srv;
        int rc;
        it_start(&srv, NULL);
        for (int i = 0; i < 6; i++) {
            char got[16] = { 0 };
            int fd = rend_srv_connect(&srv);
            if (fd < 0) {
                failures++;
                continue;
            }
            rend_io_send_str(fd, "set s 0 0 1\r\nx\r\n", IT_MS);
            if (rend_io_read_n(fd, got, 8, 2000) != 8
                || memcmp(got, "STORED\r\n", 8) != 0) {
                failures++;
            }
            close(fd);
        }
        rc = rend_srv_stop(&srv, 3000, NULL);
        if (rc != 0) {
            printf("round %d: rend exit status %d\n", round, rc);
            failures++;
        }
    }
    printf("requests right after startup: %d failures in 30 restarts\n",
           failures);
    ck_assert_int_eq(failures, 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("lifecycle");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, sigterm_with_clients_connected);
    tcase_add_test(tc, bad_configs_fail_with_file_and_line);
    tcase_add_test(tc, check_config_accepts_good_configs);
    tcase_add_test(tc, unix_socket_listener);
    tcase_add_test(tc, requests_right_after_startup);
    suite_add_tcase(s, tc);
    return rend_check_main(s);
}
