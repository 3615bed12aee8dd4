/*
 * it_util.h - small helpers shared by the it_* integration programs:
 * start rend on conf/inmem.lua, exact request/reply checks (the client
 * and binary packets are tests/lib's rend_client.h).  One test thread;
 * Check assertions abort the current test.
 */
#ifndef REND_IT_UTIL_H
#define REND_IT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "rend_client.h"
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

#endif
