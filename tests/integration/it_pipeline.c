/*
 * it_pipeline.c - pipelining, large values and output backpressure
 * against the real rend.
 */
#include "config.h"

#include <check.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rend_check.h"
#include "it_util.h"

static struct rend_srv srv;

static void
setup(void)
{
    it_start(&srv, NULL);
}

static void
teardown(void)
{
    ck_assert_int_eq(rend_srv_stop(&srv, 3000, NULL), 0);
}

struct sbuf {
    char *p;
    size_t n, cap;
};

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->cap - b->n < 256) {
        b->cap = b->cap ? b->cap * 2 : 65536;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

START_TEST(thousand_mixed_requests_in_one_write)
{
    struct sbuf req = { 0 }, rep = { 0 };
    char *got;
    size_t n;
    uint64_t counter = 0;
    int fd = it_connect(&srv);

    it_expect(fd, "set cnt 0 0 1\r\n0\r\n", "STORED\r\n");
    for (int i = 0; i < 1000; i++) {
        switch (i % 5) {
        case 0:
            sb_printf(&req, "set p%d %d 0 %d\r\nv%d\r\n", i, i,
                      1 + snprintf(NULL, 0, "%d", i), i);
            sb_printf(&rep, "STORED\r\n");
            break;
        case 1:
            sb_printf(&req, "get p%d nokey p%d\r\n", i - 1, i - 1);
            sb_printf(&rep, "VALUE p%d %d %d\r\nv%d\r\nVALUE p%d %d %d\r\n"
                      "v%d\r\nEND\r\n", i - 1, i - 1,
                      1 + snprintf(NULL, 0, "%d", i - 1), i - 1, i - 1,
                      i - 1, 1 + snprintf(NULL, 0, "%d", i - 1), i - 1);
            break;
        case 2:
            counter += (uint64_t)i;
            sb_printf(&req, "incr cnt %d\r\n", i);
            sb_printf(&rep, "%llu\r\n", (unsigned long long)counter);
            break;
        case 3:
            sb_printf(&req, "delete p%d\r\nbogus\r\n", i - 3);
            sb_printf(&rep, "DELETED\r\nERROR\r\n");
            break;
        default:
            sb_printf(&req, "add p%d 0 0 1 noreply\r\nx\r\nget p%d\r\n",
                      i - 4, i - 4);
            sb_printf(&rep, "VALUE p%d 0 1\r\nx\r\nEND\r\n", i - 4);
            break;
        }
    }
    ck_assert_int_eq(rend_io_send(fd, req.p, req.n, IT_MS), 0);
    got = malloc(rep.n);
    n = rend_io_read_n(fd, got, rep.n, 10000);
    ck_assert_uint_eq(n, rep.n);
    if (memcmp(got, rep.p, rep.n) != 0) {
        size_t i = 0;
        while (got[i] == rep.p[i]) {
            i++;
        }
        fprintf(stderr, "first difference at byte %zu: %.60s | %.60s\n", i,
                rep.p + i, got + i);
        ck_abort_msg("pipelined replies out of order or wrong");
    }
    ck_assert_int_eq(rend_io_closed(fd, 50), 0); /* nothing extra */
    free(got);
    free(req.p);
    free(rep.p);
    close(fd);
}
END_TEST

START_TEST(one_mib_value_roundtrip)
{
    size_t len = 1 << 20;
    char *val = malloc(len), *got = malloc(len + 64);
    char hdr[64];
    int fd = it_connect(&srv);
    size_t hl;

    for (size_t i = 0; i < len; i++) {
        val[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    }
    ck_assert_int_eq(rend_io_send_str(fd, "set big 3 0 1048576\r\n", IT_MS), 0);
    ck_assert_int_eq(rend_io_send(fd, val, len, IT_MS), 0);
    it_expect(fd, "\r\n", "STORED\r\n");
    ck_assert_int_eq(rend_io_send_str(fd, "get big\r\n", IT_MS), 0);
    hl = (size_t)snprintf(hdr, sizeof(hdr), "VALUE big 3 %zu\r\n", len);
    ck_assert_uint_eq(rend_io_read_n(fd, got, hl, IT_MS), hl);
    ck_assert(memcmp(got, hdr, hl) == 0);
    ck_assert_uint_eq(rend_io_read_n(fd, got, len, IT_MS), len);
    ck_assert(memcmp(got, val, len) == 0);
    it_expect_reply(fd, "\r\nEND\r\n");
    /* one byte over the limit is refused, the connection stays usable */
    it_expect(fd, "set big2 0 0 1048577 noreply\r\n", "");
    ck_assert_int_eq(rend_io_send(fd, val, len, IT_MS), 0);
    it_expect(fd, "x\r\nget big2\r\n", "END\r\n");
    free(val);
    free(got);
    close(fd);
}
END_TEST

#define NGETS 50000
#define VLEN 100000

START_TEST(output_backpressure)
{
    char *val = malloc(VLEN), *reply, *buf = malloc(1 << 20);
    char hdr[64];
    size_t hl, rlen, sent = 0, got = 0, total;
    const char *get = "get bp\r\n";
    size_t glen = strlen(get), reqlen = NGETS * glen;
    char *req = malloc(reqlen);
    long rss0 = rend_pid_rss_kb(srv.pid), peak = rss0;
    int64_t t0;
    int fd = it_connect(&srv), bad = 0;

    memset(val, 'b', VLEN);
    for (size_t i = 0; i < NGETS; i++) {
        memcpy(req + i * glen, get, glen);
    }
    hl = (size_t)snprintf(hdr, sizeof(hdr), "VALUE bp 0 %d\r\n", VLEN);
    rlen = hl + VLEN + 7;
    reply = malloc(rlen);
    memcpy(reply, hdr, hl);
    memcpy(reply + hl, val, VLEN);
    memcpy(reply + hl + VLEN, "\r\nEND\r\n", 7);
    total = rlen * NGETS;
    ck_assert_int_eq(rend_io_send_str(fd, "set bp 0 0 100000\r\n", IT_MS), 0);
    ck_assert_int_eq(rend_io_send(fd, val, VLEN, IT_MS), 0);
    it_expect(fd, "\r\n", "STORED\r\n");

    /* write without reading for 3 s: all 400 kB may fit in the socket
     * buffers, so what is checked is that rend does not buffer the
     * 5 GB of replies */
    t0 = rend_now_ms();
    while (rend_now_ms() - t0 < 3000) {
        ssize_t w = sent == reqlen ? 0
                    : send(fd, req + sent, reqlen - sent,
                           MSG_DONTWAIT | MSG_NOSIGNAL);
        long rss = rend_pid_rss_kb(srv.pid);
        if (rss > peak) {
            peak = rss;
        }
        if (w > 0) {
            sent += (size_t)w;
        } else {
            usleep(20 * 1000);
        }
    }
    printf("backpressure: sent %zu of %zu request bytes unread; RSS %ld -> "
           "peak %ld KiB\n", sent, reqlen, rss0, peak);
    ck_assert_int_lt(peak, 100 * 1024);
    it_roundtrip(&srv, "other", "client");

    /* now read everything, sending the rest as the window opens */
    t0 = rend_now_ms();
    while (got < total && rend_now_ms() - t0 < 40000) {
        struct pollfd p = { fd, POLLIN | (sent < reqlen ? POLLOUT : 0), 0 };
        if (poll(&p, 1, 1000) <= 0) {
            continue;
        }
        if ((p.revents & POLLOUT) && sent < reqlen) {
            ssize_t w = send(fd, req + sent, reqlen - sent,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) {
                sent += (size_t)w;
            }
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            ssize_t r = recv(fd, buf, 1 << 20, MSG_DONTWAIT);
            if (r <= 0) {
                break;
            }
            for (ssize_t i = 0; i < r && !bad; i++) {
                bad = buf[i] != reply[(got + (size_t)i) % rlen];
            }
            got += (size_t)r;
            if ((got >> 20) % 256 == 0) {
                long rss = rend_pid_rss_kb(srv.pid);
                peak = rss > peak ? rss : peak;
            }
        }
    }
    printf("backpressure: read %zu of %zu reply bytes in %lld ms, peak RSS "
           "%ld KiB\n", got, total, (long long)(rend_now_ms() - t0), peak);
    ck_assert_int_eq(bad, 0);
    ck_assert_uint_eq(got, total);
    ck_assert_int_lt(peak, 100 * 1024);
    close(fd);
    free(val);
    free(req);
    free(reply);
    free(buf);
}
END_TEST

/* Binary batches of GetQ ended by a GetK, all for one 1 MB value: rend
 * folds each batch (up to 256 packets) into one request, which must still
 * stream its values out under the connection's reply budget rather than
 * hold the batch's values (256 MB a batch here) until it completes. */
#define FOLD_BATCH 256
#define FOLD_BATCHES 2
#define FOLD_VLEN 1000000

static void
getq_packet(unsigned char *p, uint8_t op, uint32_t opaque)
{
    memset(p, 0, 24);
    p[0] = 0x80;
    p[1] = op;
    p[3] = 4;                   /* key "fbig" */
    p[11] = 4;                  /* body length */
    p[12] = (unsigned char)(opaque >> 24);
    p[13] = (unsigned char)(opaque >> 16);
    p[14] = (unsigned char)(opaque >> 8);
    p[15] = (unsigned char)opaque;
    memcpy(p + 24, "fbig", 4);
}

START_TEST(binary_fold_backpressure)
{
    size_t n = FOLD_BATCH * FOLD_BATCHES, plen = 28;
    unsigned char *req = malloc(n * plen), h[24];
    char *val = malloc(FOLD_VLEN), *body = malloc(FOLD_VLEN + 64);
    char line[64];
    long rss0 = rend_pid_rss_kb(srv.pid), peak = rss0;
    int64_t t0;
    int tfd = it_connect(&srv), fd;

    memset(val, 'f', FOLD_VLEN);
    snprintf(line, sizeof(line), "set fbig 9 0 %d\r\n", FOLD_VLEN);
    ck_assert_int_eq(rend_io_send_str(tfd, line, IT_MS), 0);
    ck_assert_int_eq(rend_io_send(tfd, val, FOLD_VLEN, IT_MS), 0);
    it_expect(tfd, "\r\n", "STORED\r\n");
    close(tfd);
    for (size_t i = 0; i < n; i++) {
        getq_packet(req + i * plen, i % FOLD_BATCH == FOLD_BATCH - 1 ? 0x0c
                                                                    : 0x09,
                    (uint32_t)i + 1);
    }
    fd = it_connect(&srv);
    ck_assert_int_eq(rend_io_send(fd, req, n * plen, IT_MS), 0);
    /* do not read for 2 s */
    t0 = rend_now_ms();
    while (rend_now_ms() - t0 < 2000) {
        long rss = rend_pid_rss_kb(srv.pid);
        peak = rss > peak ? rss : peak;
        usleep(20 * 1000);
    }
    printf("binary fold backpressure: RSS %ld -> peak %ld KiB unread\n",
           rss0, peak);
    ck_assert_int_lt(peak, 100 * 1024);
    it_roundtrip(&srv, "other", "client");
    for (size_t i = 0; i < n; i++) {
        int getk = i % FOLD_BATCH == FOLD_BATCH - 1;
        uint32_t blen = 4 + (getk ? 4 : 0) + FOLD_VLEN;
        uint32_t opq, bl;
        ck_assert_uint_eq(rend_io_read_n(fd, h, 24, IT_MS), 24);
        bl = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16
             | (uint32_t)h[10] << 8 | h[11];
        opq = (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16
              | (uint32_t)h[14] << 8 | h[15];
        ck_assert_int_eq(h[0], 0x81);
        ck_assert_int_eq(h[1], getk ? 0x0c : 0x09);
        ck_assert_int_eq(h[6] << 8 | h[7], 0);
        ck_assert_uint_eq(opq, (uint32_t)i + 1);
        ck_assert_uint_eq(bl, blen);
        ck_assert_uint_eq(rend_io_read_n(fd, body, blen, IT_MS), blen);
        ck_assert(memcmp(body, "\x00\x00\x00\x09", 4) == 0);
        ck_assert(memcmp(body + blen - FOLD_VLEN, val, FOLD_VLEN) == 0);
        if (i % 64 == 0) {
            long rss = rend_pid_rss_kb(srv.pid);
            peak = rss > peak ? rss : peak;
        }
    }
    printf("binary fold backpressure: %zu replies read, peak RSS %ld KiB\n",
           n, peak);
    ck_assert_int_lt(peak, 100 * 1024);
    close(fd);
    free(req);
    free(val);
    free(body);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("pipeline");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 55);
    tcase_add_test(tc, thousand_mixed_requests_in_one_write);
    tcase_add_test(tc, one_mib_value_roundtrip);
    tcase_add_test(tc, output_backpressure);
    tcase_add_test(tc, binary_fold_backpressure);
    suite_add_tcase(s, tc);
    return rend_check_main(s);
}
