/*
 * it_conns.c - 10,000 idle connections to the real rend while another
 * client keeps doing set/get; prints the RSS cost of an idle connection
 * (must be <= 4 KiB).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rend_check.h"
#include "it_util.h"

#define NIDLE 10000

static void
busy_step(int fd, int i)
{
    char req[128], rep[128];

    snprintf(req, sizeof(req), "set busy%d 0 0 %zu\r\nv%d\r\n", i,
             1 + (size_t)snprintf(NULL, 0, "%d", i), i);
    it_expect(fd, req, "STORED\r\n");
    snprintf(req, sizeof(req), "get busy%d\r\n", i);
    snprintf(rep, sizeof(rep), "VALUE busy%d 0 %zu\r\nv%d\r\nEND\r\n", i,
             1 + (size_t)snprintf(NULL, 0, "%d", i), i);
    it_expect(fd, req, rep);
}

START_TEST(ten_thousand_idle_connections)
{
    static int fds[NIDLE];
    struct rlimit rl;
    struct rend_srv srv;
    const char *const extra[] = { "-c", "12000", NULL };
    long rss0, rss1;
    double per;
    int busy, opened = 0;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max < NIDLE + 500) {
        fprintf(stderr, "hard RLIMIT_NOFILE %llu too low: skipped\n",
                (unsigned long long)rl.rlim_max);
        return;
    }
    rl.rlim_cur = NIDLE + 500;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    it_start(&srv, extra);
    busy = it_connect(&srv);
    it_expect(busy, "set survivor 0 0 5\r\nalive\r\n", "STORED\r\n");
    busy_step(busy, 0);
    usleep(200 * 1000);
    rss0 = rend_pid_rss_kb(srv.pid);
    for (int i = 0; i < NIDLE; i++) {
        fds[i] = rend_srv_connect(&srv);
        if (fds[i] < 0) {
            break;
        }
        opened++;
        if (i % 500 == 499) {
            busy_step(busy, i);
        }
    }
    ck_assert_int_eq(opened, NIDLE);
    /* every connection has been accepted (not just queued): ask a few */
    busy_step(busy, -1);
    for (int i = NIDLE - 1; i >= 0; i -= 997) {
        it_expect(fds[i], "get survivor\r\n",
                  "VALUE survivor 0 5\r\nalive\r\nEND\r\n");
    }
    usleep(300 * 1000);
    rss1 = rend_pid_rss_kb(srv.pid);
    per = (double)(rss1 - rss0) * 1024.0 / NIDLE;
    printf("idle connections: RSS %ld KiB -> %ld KiB with %d idle "
           "connections: %.0f bytes per connection\n", rss0, rss1, NIDLE,
           per);
    ck_assert_msg(per <= 4096.0, "%.0f bytes per idle connection", per);
    for (int i = 0; i < 100; i++) {
        busy_step(busy, 100000 + i);
    }
    for (int i = 0; i < opened; i++) {
        close(fds[i]);
    }
    usleep(200 * 1000);
    busy_step(busy, 200000);
    it_roundtrip(&srv, "after", "close");
    close(busy);
    ck_assert_int_eq(rend_srv_stop(&srv, 3000, NULL), 0);
}
END_TEST

START_TEST(connection_limit_refuses_cleanly)
{
    struct rend_srv srv;
    const char *const extra[] = { "-c", "50", NULL };
    int fds[80], n = 0, refused = 0, busy;

    it_start(&srv, extra);
    busy = it_connect(&srv);
    busy_step(busy, 1);
    for (int i = 0; i < 80; i++) {
        fds[i] = rend_srv_connect(&srv);
        if (fds[i] >= 0) {
            n++;
        }
    }
    /* as memcached: the over-limit ones get an error line and a close
     * (others may wait in the listen backlog) */
    usleep(200 * 1000);
    for (int i = 0; i < 80; i++) {
        char line[128];
        if (fds[i] >= 0 && rend_io_read_line(fds[i], line, sizeof(line), 0) > 0
            && strcmp(line, "SERVER_ERROR too many open connections\r\n")
                   == 0) {
            ck_assert_int_eq(rend_io_closed(fds[i], 1000), 1);
            refused++;
        }
    }
    printf("connection limit 50: %d of %d extra connections refused\n",
           refused, n);
    ck_assert_int_ge(refused, 1);
    ck_assert_int_le(refused, 80 - 49 + 1);
    busy_step(busy, 2);
    for (int i = 0; i < 80; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    usleep(100 * 1000);
    it_roundtrip(&srv, "after", "limit");
    close(busy);
    ck_assert_int_eq(rend_srv_stop(&srv, 3000, NULL), 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("conns");
    TCase *tc = tcase_create("conns");

    tcase_set_timeout(tc, 55);
    tcase_add_test(tc, ten_thousand_idle_connections);
    tcase_add_test(tc, connection_limit_refuses_cleanly);
    suite_add_tcase(s, tc);
    return rend_check_main(s);
}
