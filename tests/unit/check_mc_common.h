/*
 * check_mc_common.h - helpers for the memcached plugin tests: start and
 * stop real memcached processes on ephemeral ports, talk to them with a
 * plain socket, open the plugin against them.  Test thread only.
 */
#ifndef CHECK_MC_COMMON_H
#define CHECK_MC_COMMON_H

#include <stddef.h>
#include <sys/types.h>

#include "rend_client.h"
#include "rend_server.h"
#include "rend_testhost.h"

struct mcproc {
    struct rend_srv srv; /* the process (tests/lib's rend_server) */
    int port;
};

/* Start $MEMCACHED on 127.0.0.1:<port> (port 0 = pick a free one).
 * Returns 0, or -1 (then the test should be skipped). */
int mcp_start(struct mcproc *m, int port);
/* Stop it with sig (SIGKILL or SIGTERM) and reap it.  Idempotent. */
void mcp_stop(struct mcproc *m, int sig);

/* Send req to 127.0.0.1:port and read until the reply ends with `until`
 * (or 2 s pass).  Returns the reply length; the reply is NUL-terminated
 * in out (cap bytes). */
size_t mcp_raw(int port, const char *req, size_t nreq, const char *until,
               char *out, size_t cap);

/* Open the plugin with opts (k,v,...,NULL); fails the test on error. */
struct rend_th *mcp_open(const char *const *opts);

/* Run one op; value copied into *out (malloc'd, caller frees) when set. */
int mcp_op(struct rend_th *th, int code, const char *key, size_t nkey,
           const char *value, size_t nvalue, uint32_t flags, int64_t exptime,
           char **out, size_t *nout);

#endif
