/*
 * it_util.h - small helpers shared by the it_* integration programs:
 * start rend on conf/inmem.lua, exact request/reply checks, binary
 * packets.  One test thread; Check assertions abort the current test.
 */
#ifndef REND_IT_UTIL_H
#define REND_IT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "rend_server.h"

#define IT_MS 5000 /* default I/O timeout */

/* Path of a file under the source tree ($REND_SRCDIR, default ".."),
 * in a static buffer valid until the next call. */
const char *it_src(const char *rel);

/* Start rend on conf/inmem.lua (64 MB cache) with the NULL-terminated
 * extra args; fails the test on error. */
void it_start(struct rend_srv *s, const char *const *extra);

/* Connect to s; fails the test on error.  Caller closes. */
int it_connect(const struct rend_srv *s);

/* Send req (strlen), read exactly strlen(reply) bytes and require them
 * to equal reply; prints both on a difference. */
void it_expect(int fd, const char *req, const char *reply);

/* Read exactly strlen(reply) bytes and require them to equal reply. */
void it_expect_reply(int fd, const char *reply);

/* Set key to value and get it back on a fresh connection to s. */
void it_roundtrip(const struct rend_srv *s, const char *key,
                  const char *value);

/* Build a binary request into out (24 + ext + key + val bytes; out must
 * hold them) and return its length. */
size_t it_bin(unsigned char *out, uint8_t op, const void *ext, uint8_t extlen,
              const char *key, const void *val, uint32_t vlen,
              uint32_t opaque);

/* Read one binary response; returns its status (-1 on error) and fills
 * *op and *bodylen (may be NULL); the body is read and discarded into
 * body (when not NULL, up to cap bytes). */
int it_bin_read(int fd, uint8_t *op, uint32_t *bodylen, char *body,
                size_t cap);

#endif
