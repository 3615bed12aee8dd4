/*
 * orch_wire.c - raw-socket helpers for the tests/orch programs; see
 * orch_wire.h.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "orch_check.h"
#include "orch_wire.h"

int
orch_slow_conn(const struct orch *o)
{
    struct orch_conn c;
    int small = 65536; /* much smaller makes loopback TCP crawl */

    ck_assert_int_eq(orch_connect(o, 0, 0, &c), 0);
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    return c.fd;
}

void
orch_send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        ck_assert_msg(w > 0, "write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

void
orch_recv_exact(int fd, char *p, size_t n)
{
    while (n > 0) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        ssize_t r;

        ck_assert_msg(poll(&pf, 1, 10000) == 1, "reply timed out");
        r = read(fd, p, n);
        ck_assert_msg(r > 0, "read: %s", r < 0 ? strerror(errno) : "EOF");
        p += r;
        n -= (size_t)r;
    }
}

void
orch_recv_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;

    while (n + 1 < cap) {
        orch_recv_exact(fd, buf + n, 1);
        if (buf[n++] == '\n') {
            break;
        }
    }
    buf[n] = '\0';
}

void
orch_expect_bytes(int fd, const char *want, size_t n, const char *what)
{
    char *got = malloc(n);

    ck_assert_ptr_nonnull(got);
    orch_recv_exact(fd, got, n);
    ck_assert_msg(memcmp(got, want, n) == 0, "%s: wrong bytes", what);
    free(got);
}

void
orch_expect_line(int fd, const char *line)
{
    orch_expect_bytes(fd, line, strlen(line), line);
}

void
orch_buf_put(struct orch_buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

void
orch_buf_putf(struct orch_buf *b, const char *fmt, size_t a, size_t c)
{
    char line[128];
    int n = snprintf(line, sizeof(line), fmt, a, c);

    ck_assert(n > 0 && (size_t)n < sizeof(line));
    orch_buf_put(b, line, (size_t)n);
}
