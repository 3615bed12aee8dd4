/*
 * it_badinput.c - malformed and hostile input against the real rend.
 *
 * Every test asserts the exact error reply (or a clean close) AND that
 * the same connection (when it stays open), other clients and the stored
 * data are unharmed.
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

static struct rend_srv srv;
static int other; /* a second client, open for the whole test */

static void
setup(void)
{
    it_start(&srv, NULL);
    other = it_connect(&srv);
    it_expect(other, "set survivor 7 0 5\r\nalive\r\n", "STORED\r\n");
}

/* The server is alive, the other client and the stored item too. */
static void
check_unharmed(void)
{
    int fd;

    ck_assert_int_eq(kill(srv.pid, 0), 0);
    it_expect(other, "get survivor\r\n",
              "VALUE survivor 7 5\r\nalive\r\nEND\r\n");
    fd = it_connect(&srv);
    it_expect(fd, "get survivor\r\n", "VALUE survivor 7 5\r\nalive\r\nEND\r\n");
    close(fd);
    it_roundtrip(&srv, "fresh", "value");
}

static void
teardown(void)
{
    close(other);
    ck_assert_int_eq(rend_srv_stop(&srv, 3000, NULL), 0);
}

static char *
repeat(char c, size_t n)
{
    char *p = malloc(n + 1);

    ck_assert_ptr_nonnull(p);
    memset(p, c, n);
    p[n] = '\0';
    return p;
}

START_TEST(key_251_text)
{
    char *k = repeat('k', 251), req[600];
    int fd = it_connect(&srv);

    snprintf(req, sizeof(req), "get %s\r\n", k);
    it_expect(fd, req, "CLIENT_ERROR bad command line format\r\n");
    snprintf(req, sizeof(req), "set %s 0 0 1\r\nx\r\n", k);
    /* the line is refused; its data line is then read as a command */
    it_expect(fd, req, "CLIENT_ERROR bad command line format\r\n"
                       "ERROR\r\n");
    snprintf(req, sizeof(req), "delete %s\r\n", k);
    it_expect(fd, req, "CLIENT_ERROR bad command line format\r\n");
    k[250] = '\0';
    snprintf(req, sizeof(req), "set %s 0 0 1\r\nx\r\n", k);
    it_expect(fd, req, "STORED\r\n");
    it_expect(fd, "get survivor\r\n", "VALUE survivor 7 5\r\nalive\r\nEND\r\n");
    close(fd);
    free(k);
    check_unharmed();
}
END_TEST

START_TEST(key_251_binary)
{
    char *k = repeat('k', 251);
    unsigned char pkt[400];
    char body[64] = { 0 };
    uint8_t op;
    size_t n;
    int fd = it_connect(&srv);

    n = rend_bin_pack(pkt, 0x00, NULL, 0, k, NULL, 0, 1);
    n += rend_bin_pack(pkt + n, 0x0a, NULL, 0, NULL, NULL, 0, 2);
    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fd, &op, NULL, body, sizeof(body) - 1,
                                   IT_MS), 4);
    ck_assert_int_eq(op, 0x00);
    ck_assert_str_eq(body, "Invalid arguments");
    ck_assert_int_eq(rend_bin_read(fd, &op, NULL, NULL, 0, IT_MS), 0);
    ck_assert_int_eq(op, 0x0a);
    close(fd);
    free(k);
    check_unharmed();
}
END_TEST

START_TEST(value_longer_than_declared)
{
    int fd = it_connect(&srv);

    /* 3 declared, 6 sent: bad chunk; the rest is read as a command */
    it_expect(fd, "set k 0 0 3\r\nabcdef\r\n",
              "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    it_expect(fd, "get k\r\n", "END\r\n");
    close(fd);
    check_unharmed();
}
END_TEST

START_TEST(value_shorter_than_declared)
{
    int fd = it_connect(&srv);

    /* 10 declared, 3 sent: rend waits for the block ... */
    ck_assert_int_eq(rend_io_send_str(fd, "set k 0 0 10\r\nabc\r\n", IT_MS),
                     0);
    ck_assert_int_eq(rend_io_closed(fd, 300), 0);
    /* ... which the next line completes: "abc\r\nget su" + "rv" */
    it_expect(fd, "get survivor\r\n",
              "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    it_expect(fd, "get k\r\n", "END\r\n");
    close(fd);
    check_unharmed();
}
END_TEST

START_TEST(length_negative_and_non_numeric)
{
    int fd = it_connect(&srv);

    it_expect(fd, "set k 0 0 -1\r\n",
              "CLIENT_ERROR bad command line format\r\n");
    it_expect(fd, "set k 0 0 abc\r\n",
              "CLIENT_ERROR bad command line format\r\n");
    it_expect(fd, "set k 0 0 99999999999999999999\r\n",
              "CLIENT_ERROR bad command line format\r\n");
    it_expect(fd, "set k x 0 1\r\n",
              "CLIENT_ERROR bad command line format\r\n");
    it_expect(fd, "get k\r\n", "END\r\n");
    close(fd);
    check_unharmed();
}
END_TEST

START_TEST(length_above_item_max_does_not_allocate)
{
    int fd = it_connect(&srv);
    long before = rend_pid_rss_kb(srv.pid), after;
    char *chunk = repeat('x', 1 << 20);

    it_expect(fd, "set k 0 0 1000000000\r\n",
              "SERVER_ERROR object too large for cache\r\n");
    /* the declared block is discarded as it arrives, never buffered */
    for (int i = 0; i < 32; i++) {
        ck_assert_int_eq(rend_io_send(fd, chunk, 1 << 20, IT_MS), 0);
    }
    it_roundtrip(&srv, "during", "swallow");
    after = rend_pid_rss_kb(srv.pid);
    printf("RSS before %ld KiB, after 32 MiB of a 1e9-byte block: %ld KiB\n",
           before, after);
    ck_assert_int_lt(after - before, 16 * 1024);
    close(fd);
    free(chunk);
    check_unharmed();
}
END_TEST

START_TEST(line_of_one_mb_without_newline)
{
    int fd = it_connect(&srv);
    char *line = repeat('a', 1 << 20);
    long rss;

    /* the server may close before it has read everything */
    rend_io_send(fd, line, 1 << 20, IT_MS);
    it_expect_reply(fd, "CLIENT_ERROR line too long\r\n");
    ck_assert_int_eq(rend_io_closed(fd, 2000), 1);
    rss = rend_pid_rss_kb(srv.pid);
    printf("RSS after a 1 MiB line: %ld KiB\n", rss);
    close(fd);
    free(line);
    check_unharmed();
}
END_TEST

/* memcached's limit: a line other than get/gets with no newline after
 * 2048 bytes is refused and the connection closed, also when it arrives
 * in pieces. */
START_TEST(command_line_past_2048_without_newline)
{
    int fd = it_connect(&srv);
    char *keys = repeat('k', 2100);

    rend_io_send(fd, "set ", 4, IT_MS);
    rend_io_send(fd, keys, 1000, IT_MS);
    usleep(100 * 1000);
    rend_io_send(fd, keys + 1000, 1100, IT_MS);
    it_expect_reply(fd, "CLIENT_ERROR line too long\r\n");
    ck_assert_int_eq(rend_io_closed(fd, 2000), 1);
    close(fd);
    /* a long line that comes with its newline is parsed as memcached does */
    fd = it_connect(&srv);
    {
        char *line = malloc(2100 + 32);
        ck_assert_ptr_nonnull(line);
        sprintf(line, "bogus %s\r\nget survivor\r\n", keys);
        it_expect(fd, line,
                  "ERROR\r\nVALUE survivor 7 5\r\nalive\r\nEND\r\n");
        free(line);
    }
    close(fd);
    free(keys);
    check_unharmed();
}
END_TEST

/* A get of many keys goes on past 2048 bytes (up to the 64 KiB line
 * limit), in pieces; past 64 KiB it is refused. */
START_TEST(get_line_of_many_keys)
{
    int fd = it_connect(&srv);
    char *keys = malloc(60000 + 1), *p;

    ck_assert_ptr_nonnull(keys);
    p = keys;
    for (int i = 0; p - keys < 59000; i++) {
        p += sprintf(p, " miss%05d", i);
    }
    rend_io_send(fd, "get survivor", 12, IT_MS);
    rend_io_send(fd, keys, 30000, IT_MS);
    usleep(100 * 1000);
    rend_io_send(fd, keys + 30000, (size_t)(p - keys) - 30000, IT_MS);
    it_expect(fd, " survivor\r\n",
              "VALUE survivor 7 5\r\nalive\r\n"
              "VALUE survivor 7 5\r\nalive\r\nEND\r\n");
    rend_io_send(fd, "gets", 4, IT_MS);
    rend_io_send(fd, keys, (size_t)(p - keys), IT_MS);
    rend_io_send(fd, keys, 10000, IT_MS);
    it_expect_reply(fd, "CLIENT_ERROR line too long\r\n");
    ck_assert_int_eq(rend_io_closed(fd, 2000), 1);
    close(fd);
    free(keys);
    check_unharmed();
}
END_TEST

START_TEST(binary_bad_magic)
{
    unsigned char pkt[64];
    uint8_t op;
    size_t n;
    int fd = it_connect(&srv);

    n = rend_bin_pack(pkt, 0x0a, NULL, 0, NULL, NULL, 0, 1);
    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fd, &op, NULL, NULL, 0, IT_MS), 0);
    n = rend_bin_pack(pkt, 0x0a, NULL, 0, NULL, NULL, 0, 2);
    pkt[0] = 0x42;
    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fd, &op, NULL, NULL, 0, IT_MS), 4);
    ck_assert_int_eq(rend_io_closed(fd, 2000), 1);
    close(fd);
    check_unharmed();
}
END_TEST

START_TEST(binary_body_shorter_than_key_and_extras)
{
    unsigned char pkt[128];
    uint8_t op;
    size_t n;
    int fd = it_connect(&srv);

    /* set: 8 extras + 3 key bytes declared, body length 4 */
    n = rend_bin_pack(pkt, 0x01, "\0\0\0\0\0\0\0\0", 8, "abc", NULL, 0, 1);
    pkt[11] = 4;
    ck_assert_int_eq(rend_io_send(fd, pkt, 24 + 4, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fd, &op, NULL, NULL, 0, IT_MS), 4);
    ck_assert_int_eq(op, 0x01);
    /* the 4 body bytes were skipped: the stream is in step */
    n = rend_bin_pack(pkt, 0x0a, NULL, 0, NULL, NULL, 0, 2);
    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fd, &op, NULL, NULL, 0, IT_MS), 0);
    ck_assert_int_eq(op, 0x0a);
    close(fd);
    check_unharmed();
}
END_TEST

START_TEST(binary_absurd_body_length)
{
    unsigned char pkt[64];
    char body[32] = { 0 };
    uint8_t op;
    long before = rend_pid_rss_kb(srv.pid), after;
    char *chunk = repeat('x', 1 << 20);
    int fd = it_connect(&srv);

    rend_bin_pack(pkt, 0x01, "\0\0\0\0\0\0\0\0", 8, "abc", NULL, 0, 1);
    pkt[8] = 0xff;
    pkt[9] = 0xff;
    pkt[10] = 0xff;
    pkt[11] = 0x00;
    ck_assert_int_eq(rend_io_send(fd, pkt, 24 + 11, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fd, &op, NULL, body, sizeof(body) - 1,
                                   IT_MS), 3);
    ck_assert_str_eq(body, "Too large.");
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(rend_io_send(fd, chunk, 1 << 20, IT_MS), 0);
    }
    it_roundtrip(&srv, "during", "absurd");
    after = rend_pid_rss_kb(srv.pid);
    printf("RSS before %ld KiB, after a 0xffffff00 body: %ld KiB\n", before,
           after);
    ck_assert_int_lt(after - before, 16 * 1024);
    close(fd);
    free(chunk);
    check_unharmed();
}
END_TEST

START_TEST(incr_non_numeric)
{
    unsigned char pkt[128];
    uint8_t op;
    size_t n;
    int fd = it_connect(&srv);
    int fb = it_connect(&srv);

    it_expect(fd, "set t 0 0 3\r\nabc\r\n", "STORED\r\n");
    it_expect(fd, "incr t 1\r\n", "CLIENT_ERROR cannot increment or "
                                  "decrement non-numeric value\r\n");
    it_expect(fd, "decr survivor 1\r\n", "CLIENT_ERROR cannot increment or "
                                         "decrement non-numeric value\r\n");
    it_expect(fd, "get t\r\n", "VALUE t 0 3\r\nabc\r\nEND\r\n");
    n = rend_bin_pack(pkt, 0x05, "\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\0\0\0\0\0",
                      20, "t", NULL, 0, 1);
    ck_assert_int_eq(rend_io_send(fb, pkt, n, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fb, &op, NULL, NULL, 0, IT_MS), 6);
    close(fd);
    close(fb);
    check_unharmed();
}
END_TEST

START_TEST(unknown_commands)
{
    unsigned char pkt[64];
    uint8_t op;
    size_t n;
    int fd = it_connect(&srv);
    int fb = it_connect(&srv);

    it_expect(fd, "bogus\r\n", "ERROR\r\n");
    it_expect(fd, "GET survivor\r\n", "ERROR\r\n");
    it_expect(fd, "mz survivor v\r\n", "ERROR\r\n");
    /* meta commands are known (memcached 1.6's meta protocol) */
    it_expect(fd, "mg survivor v\r\n", "VA 5\r\nalive\r\n");
    it_expect(fd, "\x01\x02\x03\r\n", "ERROR\r\n");
    it_expect(fd, "get survivor\r\n", "VALUE survivor 7 5\r\nalive\r\nEND\r\n");
    n = rend_bin_pack(pkt, 0x55, NULL, 0, "x", "yz", 2, 1);
    n += rend_bin_pack(pkt + n, 0x0a, NULL, 0, NULL, NULL, 0, 2);
    ck_assert_int_eq(rend_io_send(fb, pkt, n, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fb, &op, NULL, NULL, 0, IT_MS), 0x81);
    ck_assert_int_eq(op, 0x55);
    ck_assert_int_eq(rend_bin_read(fb, &op, NULL, NULL, 0, IT_MS), 0);
    ck_assert_int_eq(op, 0x0a);
    close(fd);
    close(fb);
    check_unharmed();
}
END_TEST

START_TEST(half_request_then_disconnect)
{
    static const char *const halves[] = {
        "set half 0 0 10\r\nabc", "set half 0 0 10", "ge", "get survivor",
        "\x80\x01\x00\x04", "\x80\x01\x00\x04\x08\x00\x00\x00\x00\x00\x00"
        "\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00half",
    };
    int fd;

    for (size_t i = 0; i < sizeof(halves) / sizeof(halves[0]); i++) {
        fd = it_connect(&srv);
        ck_assert_int_eq(rend_io_send_str(fd, halves[i], IT_MS), 0);
        close(fd);
    }
    /* one more that disconnects while a reply is being written */
    fd = it_connect(&srv);
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(rend_io_send_str(fd, "get survivor\r\n", IT_MS), 0);
    }
    close(fd);
    usleep(100 * 1000);
    fd = it_connect(&srv);
    it_expect(fd, "get half\r\n", "END\r\n");
    close(fd);
    check_unharmed();
}
END_TEST

static Suite *
badinput_suite(void)
{
    Suite *s = suite_create("badinput");
    TCase *tc = tcase_create("badinput");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, key_251_text);
    tcase_add_test(tc, key_251_binary);
    tcase_add_test(tc, value_longer_than_declared);
    tcase_add_test(tc, value_shorter_than_declared);
    tcase_add_test(tc, length_negative_and_non_numeric);
    tcase_add_test(tc, length_above_item_max_does_not_allocate);
    tcase_add_test(tc, line_of_one_mb_without_newline);
    tcase_add_test(tc, command_line_past_2048_without_newline);
    tcase_add_test(tc, get_line_of_many_keys);
    tcase_add_test(tc, binary_bad_magic);
    tcase_add_test(tc, binary_body_shorter_than_key_and_extras);
    tcase_add_test(tc, binary_absurd_body_length);
    tcase_add_test(tc, incr_non_numeric);
    tcase_add_test(tc, unknown_commands);
    tcase_add_test(tc, half_request_then_disconnect);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return rend_check_main(badinput_suite());
}
