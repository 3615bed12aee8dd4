/*
 * diff_util.h - the engine behind it_diff: send each table step to two
 * servers, normalise the replies (cas, version, stats), compare them with
 * the allow-list described in it_diff.c, print every difference.
 *
 * One test thread; the servers must be running.  Nothing here is
 * thread-safe.
 */
#ifndef REND_DIFF_UTIL_H
#define REND_DIFF_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "rend_server.h"

/* A text step.  req may hold $CAS (the last cas this connection saw),
 * $K<n> (n 'k's) and $V<n> (n 'v's).  len = 0 means strlen(req). */
struct dstep {
    const char *name;
    const char *req;     /* NULL: only sleep sleep_ms */
    size_t len;
    int sleep_ms;
    int close;           /* the server closes after this step */
    int stats;           /* compare STAT runs as one element */
    const char *allow;   /* a documented divergence: differences allowed */
    const char *bug;     /* a known server bug: differences expected */
};

/* A binary step: one request packet.  key and val may be $K<n> / $V<n>.
 * cas: 0 = none, 1 = the last cas this connection saw, 2 = a wrong cas. */
struct bstep {
    const char *name;
    uint8_t op;
    const char *ext;
    uint8_t extlen;
    const char *key;
    const char *val;
    uint32_t vlen;
    int cas;
    int sleep_ms;        /* op ignored when > 0 */
    int close;
    int stats;
    const char *allow;
    const char *bug;
    int join;            /* sent in one write with the steps after it, up
                          * to the first without join (a client batch);
                          * their replies are compared as one step, under
                          * the last step's allow/bug/close */
};

struct diff_result {
    int steps, equal, allowed, known_bugs, mismatches, fixed_bugs;
};

/* Run the steps on one connection to a and one to b (reconnecting after
 * a close), a being the reference (memcached).  Prints differences to
 * stdout; set DIFF_VERBOSE=1 to print allowed ones too. */
void diff_run_text(const struct rend_srv *a, const struct rend_srv *b,
                   const struct dstep *steps, size_t n,
                   struct diff_result *out);
void diff_run_bin(const struct rend_srv *a, const struct rend_srv *b,
                  const struct bstep *steps, size_t n,
                  struct diff_result *out);

#endif
