/*
 * check_lent.c - zero-copy GET hits (ABI minor 2, host->value_ref): the
 * inmem handler lends the core its item's bytes, the core writes them with
 * writev and gives them back afterwards.  A lent value must stay intact
 * while later requests delete, overwrite or incr the item, and while the
 * slab chunk it lives in would otherwise be reused.  The real rend runs
 * inmem; the client pipelines the requests in one write and reads only
 * afterwards, so rend runs them in one batch, before it writes the value
 * it lent to the first get.
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

static const char conf[] =
    "local l1 = handler \"inmem\" { name = \"l1\", memory_mb = 64 }\n"
    "listen { port = 0, address = \"127.0.0.1\","
    " routes = { default = l1only(l1) } }\n";

static void
setup(void)
{
    ck_assert_int_eq(orch_start_text(&srv, conf), 0);
}

static void
teardown(void)
{
    orch_stop(&srv, 0);
}

static const size_t sizes[] = { 100, 3000, 10000, 100000 };

/* get k, then delete it and store a same-size value (which takes the slab
 * chunk the old item would free), then get again: the first get must
 * still answer the old bytes. */
START_TEST(lent_value_outlives_delete_and_overwrite)
{
    size_t n = sizes[_i];
    char *v1 = malloc(n), *v2 = malloc(n), hdr[64];
    struct orch_buf b = { 0 };
    int fd = orch_slow_conn(&srv);

    ck_assert_ptr_nonnull(v1);
    ck_assert_ptr_nonnull(v2);
    for (size_t i = 0; i < n; i++) {
        v1[i] = (char)('a' + i % 26);
        v2[i] = (char)('A' + (i * 7) % 26);
    }
    for (int round = 0; round < 3; round++) {
        b.n = 0;
        orch_buf_putf(&b, "set k%zu 7 0 %zu\r\n", n, n);
        orch_buf_put(&b, v1, n);
        orch_buf_put(&b, "\r\n", 2);
        orch_buf_putf(&b, "get k%zu\r\ndelete k%zu\r\n", n, n);
        orch_buf_putf(&b, "set k%zu 8 0 %zu\r\n", n, n);
        orch_buf_put(&b, v2, n);
        orch_buf_putf(&b, "\r\nget k%zu\r\n", n, 0);
        orch_send_all(fd, b.p, b.n);
        usleep(100 * 1000); /* let rend run all of it before we read */
        orch_expect_line(fd, "STORED\r\n");
        snprintf(hdr, sizeof(hdr), "VALUE k%zu 7 %zu\r\n", n, n);
        orch_expect_line(fd, hdr);
        orch_expect_bytes(fd, v1, n, "first get (lent, then deleted)");
        orch_expect_line(fd, "\r\nEND\r\nDELETED\r\nSTORED\r\n");
        snprintf(hdr, sizeof(hdr), "VALUE k%zu 8 %zu\r\n", n, n);
        orch_expect_line(fd, hdr);
        orch_expect_bytes(fd, v2, n, "second get");
        orch_expect_line(fd, "\r\nEND\r\n");
    }
    close(fd);
    free(b.p);
    free(v1);
    free(v2);
}
END_TEST

/* A numeric value being written out is not rewritten in place by incr:
 * the get shows the old number, the next get the new one, same length
 * (memcached's space padding). */
START_TEST(incr_does_not_touch_a_lent_value)
{
    size_t n = 5000;
    char *v = malloc(n), *w = malloc(n), hdr[64];
    struct orch_buf b = { 0 };
    int fd = orch_slow_conn(&srv);

    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(w);
    memset(v, ' ', n);
    memset(w, ' ', n);
    memcpy(v, "41", 2);
    memcpy(w, "42", 2);
    orch_buf_putf(&b, "set num 0 0 %zu\r\n", n, 0);
    orch_buf_put(&b, v, n);
    orch_buf_put(&b, "\r\nget num\r\nincr num 1\r\nget num\r\n", 32);
    orch_send_all(fd, b.p, b.n);
    usleep(100 * 1000);
    orch_expect_line(fd, "STORED\r\n");
    snprintf(hdr, sizeof(hdr), "VALUE num 0 %zu\r\n", n);
    orch_expect_line(fd, hdr);
    orch_expect_bytes(fd, v, n, "get before the incr");
    orch_expect_line(fd, "\r\nEND\r\n42\r\n");
    orch_expect_line(fd, hdr);
    orch_expect_bytes(fd, w, n, "get after the incr");
    orch_expect_line(fd, "\r\nEND\r\n");
    close(fd);
    free(b.p);
    free(v);
    free(w);
}
END_TEST

/* The hits above really were lent (the handler counts them). */
START_TEST(hits_are_lent)
{
    struct orch_conn c;
    struct orch_item it;
    int64_t before, after;

    ck_assert_int_eq(orch_connect(&srv, 0, 0, &c), 0);
    EXPECT_RES(&c, orch_store(&c, "set", "lk", "value", 0, 0, 0), ORCH_OK);
    before = orch_stat(&srv, "handlers", "l1:get_lent");
    ck_assert_int_ge(before, 0);
    for (int i = 0; i < 5; i++) {
        EXPECT_RES(&c, orch_get(&c, "get", "lk", 0, &it), ORCH_OK);
        ck_assert_str_eq(it.value, "value");
    }
    after = orch_stat(&srv, "handlers", "l1:get_lent");
    ck_assert_int_eq(after - before, 5);
    orch_close(&c);
}
END_TEST

/* A reload that replaces the inmem instance while values it lent are still
 * unsent (8 MB of replies: more than the kernel's socket buffers hold): the
 * old instance (its items, its slab pages) lives until they are out, and
 * the bytes arrive intact.  Gets that rend had not read yet run on the new,
 * empty instance and miss.  (Under ASan a use after free shows here.) */
START_TEST(lent_values_outlive_a_reload)
{
    static const char conf_b[] =
        "local l1 = handler \"inmem\" { name = \"l1b\", memory_mb = 32 }\n"
        "listen { port = 0, address = \"127.0.0.1\","
        " routes = { default = l1only(l1) } }\n";
    size_t n = 100000;
    const int gets = 80;
    char *v = malloc(n), hdr[64], line[128];
    struct orch_buf b = { 0 };
    struct orch_conn c;
    struct orch_item it;
    int64_t t0;
    int hits = 0, fd = orch_slow_conn(&srv);

    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = (char)('0' + i % 10);
    }
    orch_buf_putf(&b, "set big 3 0 %zu\r\n", n, 0);
    orch_buf_put(&b, v, n);
    orch_buf_put(&b, "\r\n", 2);
    for (int i = 0; i < gets; i++) {
        orch_buf_put(&b, "get big\r\n", 9);
    }
    orch_send_all(fd, b.p, b.n);
    usleep(200 * 1000);
    ck_assert_int_eq(orch_write_conf(&srv, conf_b), 0);
    ck_assert_int_eq(kill(srv.srv.pid, SIGHUP), 0);
    t0 = rend_now_ms();
    while (orch_stat(&srv, NULL, "config_reloads") < 1) {
        ck_assert_msg(rend_now_ms() - t0 < 5000, "no reload within 5 s");
        usleep(2000);
    }
    /* the new instance serves (empty), so the old one is retired */
    ck_assert_int_eq(orch_connect(&srv, 0, 0, &c), 0);
    EXPECT_RES(&c, orch_get(&c, "get", "big", 0, &it), ORCH_MISS);
    orch_close(&c);
    usleep(200 * 1000);
    orch_expect_line(fd, "STORED\r\n");
    snprintf(hdr, sizeof(hdr), "VALUE big 3 %zu\r\n", n);
    for (int i = 0; i < gets; i++) {
        orch_recv_line(fd, line, sizeof(line));
        if (strcmp(line, "END\r\n") == 0) {
            continue; /* read after the reload */
        }
        ck_assert_str_eq(line, hdr);
        orch_expect_bytes(fd, v, n, "a get answered before the reload");
        orch_expect_line(fd, "\r\nEND\r\n");
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
    Suite *s = suite_create("lent");
    TCase *tc = tcase_create("zero-copy");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, lent_value_outlives_delete_and_overwrite, 0,
                        (int)(sizeof(sizes) / sizeof(sizes[0])));
    tcase_add_test(tc, incr_does_not_touch_a_lent_value);
    tcase_add_test(tc, hits_are_lent);
    tcase_add_test(tc, lent_values_outlive_a_reload);
    suite_add_tcase(s, tc);
    return orch_run(s) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
