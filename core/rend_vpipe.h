/*
 * rend_vpipe.h - large set values moved from the client's socket into a
 * pipe with splice(2) instead of being read into the input buffer, and
 * from that pipe to the backend's socket by a handler that says it can
 * (REND_CAP_PIPE_VALUE, ABI minor 4).
 *
 * Flow (text `set` only, plain TCP or unix listeners, not TLS; the
 * connection reads at most REND_VPIPE_PEEK bytes when it starts on a new
 * request, so a large value is mostly still in the socket):
 *   1. parse_storage finds a set whose value is mostly not read yet and
 *      whose route is L1-only on a handler with REND_CAP_PIPE_VALUE:
 *      rend_vpipe_begin gives the connection a pipe and c->piping, the
 *      bytes of the value still in the socket.  The bytes of the value
 *      already read stay in the input buffer.
 *   2. on_read splices the socket into the pipe (rend_vpipe_fill) until
 *      c->piping is 0 (c->piped then holds the count), then reads on
 *      normally: the value's "\r\n" lands right after its first part.
 *   3. parse_storage parses the same line again, checks the trailer and
 *      hands the pipe to the request (rend_vpipe_hand): r->npipe bytes of
 *      the value are in r->vpipe[0], the first nvalue - npipe at r->value.
 *   4. When the request is freed, rend_vpipe_put takes the pipe back: an
 *      empty pipe goes to the worker's pool, a pipe with bytes left (the
 *      handler failed before it sent them all) is closed.
 * Anything that needs the whole value in memory (a route other than the
 * one checked at parse time, after a reload) calls rend_req_unpipe.
 *
 * Ownership: the pipe belongs to the connection from begin to hand, then
 * to the request; a connection freed while it holds one closes it.  The
 * worker keeps at most REND_VPIPE_POOL idle pipes and lends at most
 * REND_VPIPE_MAX at once (two fds each); past that, values are read as
 * before.
 */
#ifndef REND_VPIPE_H
#define REND_VPIPE_H

#include <stdint.h>

struct rend_conn;
struct rend_req;
struct rend_worker;

/* A pooled pipe and its capacity (F_GETPIPE_SZ, read once). */
struct rend_vpipe_idle {
    int fd[2];
    int cap;
};

/* Values with at least this many bytes still unread are spliced. */
#define REND_VPIPE_MIN (32 * 1024)
#define REND_VPIPE_POOL 8
#define REND_VPIPE_MAX 64
#define REND_VPIPE_SIZE (1 << 20) /* F_SETPIPE_SZ asked for */
/* With no partial request buffered, a connection reads at most this much
 * at once: a set's line and the start of its value, the rest left in the
 * socket for splice. */
#define REND_VPIPE_PEEK 4096

/* 1 when set `key` of nvalue bytes, left of them still in the socket, goes
 * through a pipe, and the connection now has one with room for them
 * (c->piping = left); 0 to read it as before. */
int rend_vpipe_begin(struct rend_conn *c, int cmd, const char *key,
                     uint32_t nkey, uint32_t nvalue, uint32_t left);

/* Splice what the socket has into the pipe: 1 all of the value is in (or
 * the pipe filled up first, and what it held went back to the input
 * buffer: the rest is read as usual), 0 wait for more input, -1 the peer
 * closed or an error (close it). */
int rend_vpipe_fill(struct rend_conn *c);

/* Move the connection's filled pipe to r (r->vpipe, r->npipe). */
void rend_vpipe_hand(struct rend_conn *c, struct rend_req *r);

/* Drop the bytes of a filled pipe the request will not take (a bad
 * trailer), and the pipe with them. */
void rend_vpipe_discard(struct rend_conn *c);

/* Give back a pipe (fd[0] read end, fd[1] write end, cap its capacity):
 * pooled when empty, else closed. */
void rend_vpipe_put(struct rend_worker *w, int fd[2], int cap);

/* Bring r's piped bytes into memory (r->mem) so r->value holds the whole
 * value; 0, or -1 out of memory or a short pipe. */
int rend_req_unpipe(struct rend_req *r);

/* Close the worker's pooled pipes (worker teardown). */
void rend_vpipe_pool_free(struct rend_worker *w);

#endif
