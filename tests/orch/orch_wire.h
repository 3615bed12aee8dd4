/*
 * orch_wire.h - raw-socket helpers for the tests/orch programs that drive
 * rend byte by byte (pipelines written whole, replies read exactly), with
 * Check assertions: a short write, a timeout or a wrong byte fails the test.
 *
 * Ownership: an orch_buf owns its p (free it with free()); everything else
 * borrows what it is given.
 */
#ifndef ORCH_WIRE_H
#define ORCH_WIRE_H

#include <stddef.h>

#include "orch_util.h"

/* A connection to listener 0 of o with a fixed 64 KiB receive buffer (no
 * autotuning), so replies the test does not read pile up in rend once the
 * kernel's buffers are full.  Returns the fd (the caller closes it). */
int orch_slow_conn(const struct orch *o);

/* Write all n bytes of p to fd. */
void orch_send_all(int fd, const void *p, size_t n);

/* Read exactly n bytes into p, 10 s at most for each read. */
void orch_recv_exact(int fd, char *p, size_t n);

/* One reply line (up to and with its \n) into buf, NUL-terminated. */
void orch_recv_line(int fd, char *buf, size_t cap);

/* The next n bytes from fd are want (what names them in a failure). */
void orch_expect_bytes(int fd, const char *want, size_t n, const char *what);

/* The next bytes from fd are the string line. */
void orch_expect_line(int fd, const char *line);

/* A growing byte buffer, e.g. a pipeline of "CMD\r\n" + value + "\r\n". */
struct orch_buf {
    char *p;
    size_t n, cap;
};

void orch_buf_put(struct orch_buf *b, const void *p, size_t n);

/* Append fmt formatted with two size_t arguments (under 128 bytes). */
void orch_buf_putf(struct orch_buf *b, const char *fmt, size_t a, size_t c);

#endif
