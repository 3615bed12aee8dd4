/*
 * rend_conn.h - a client connection: input buffer, request queue, ordered
 * gathered output.  A connection belongs to one worker and is only touched
 * on that worker's thread.
 */
#ifndef REND_CONN_H
#define REND_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <ev.h>

#include "rend_req.h"

struct rend_worker;
struct rend_listener;
struct rend_tls;

struct rend_oseg {
    char *ext;     /* owned buffer (freed after it is written), or NULL */
    uint32_t off;  /* ext == NULL: offset into obuf */
    uint32_t len;
    /* ext lent by a handler (ABI minor 2): released, not freed */
    rend_value_release_f *release;
    void *rowner, *rref;
};

struct rend_conn {
    int fd;
    uint8_t proto;          /* enum rend_proto, once known */
    uint8_t proto_known;
    uint8_t closing;        /* close once output is written */
    uint8_t closed;         /* fd gone; freed when no request is pending */
    uint8_t in_process;
    uint8_t read_paused;
    uint8_t write_armed;
    uint8_t listener;       /* index into the config's listeners */
    uint8_t authed;         /* has authenticated (listeners with auth) */
    struct rend_worker *w;
    ev_io rio, wio;
    /* input */
    char *rbuf;
    uint32_t rcap, rpos, rlen;  /* unparsed bytes are rbuf[rpos, rlen) */
    uint64_t swallow;           /* input bytes still to discard */
    /* a set value being spliced into a pipe (rend_vpipe.h): piping bytes
     * still in the socket, piped already in vpipe; the pipe is owned
     * while has_vpipe */
    uint32_t piping, piped;
    uint8_t has_vpipe;
    uint8_t vpipe_skip;         /* the request being read is not piped */
    int vpipe[2], vpipe_cap;
    /* requests, oldest first */
    struct rend_req *qhead, *qtail;
    struct rend_req *parked;    /* parsed, waiting for earlier ones */
    uint32_t npending;          /* requests not yet complete */
    /* Of those, the reads and the barriers (by r->sched, counted when
     * started): may_start decides without walking the queue. */
    uint32_t npend_read, npend_barrier;
    /* output */
    char *obuf;
    uint32_t olen, ocap;
    struct rend_oseg *seg;
    uint32_t nseg, segcap, segpos;
    uint32_t segdone;           /* bytes of seg[segpos] already written */
    size_t unsent;
    int64_t last_active;
    /* flow control (rend_flow.c) */
    uint32_t kflight;           /* key ops issued and not finished */
    uint32_t big;               /* recent large value size (estimate) */
    uint32_t kwin;              /* key ops window growth (slow start) */
    size_t held;                /* value bytes finished but not formatted */
    uint8_t pumping;            /* inside rend_flow_pump */
    uint32_t nstalled;          /* requests with keys not yet issued */
    uint32_t nemitted;          /* replies formatted so far (wraps) */
    int64_t partial_since;      /* a half-received request since then */
    struct rend_tls *tls;       /* TLS session (rend_tls.h), owned; NULL
                                 * on a plain listener */
    struct rend_conn *prev, *next;  /* worker's list */
};

/* Adopt a connected socket on worker w; the accept thread has already
 * counted it in rend_curr_conns.  Returns NULL (fd closed, count dropped)
 * on failure. */
struct rend_conn *rend_conn_new(struct rend_worker *w, int fd,
                                unsigned listener);
/* Close now (output dropped).  The memory stays until no request is
 * pending; the entry point that closed it frees it on its way out. */
void rend_conn_close(struct rend_conn *c);

/* The config listener c came in on (auth, flush, tls), in the worker's
 * current generation; NULL if that generation has no such listener.
 * Owned by the generation; valid until the worker's next reload. */
struct rend_listen_conf;
const struct rend_listen_conf *rend_conn_listen_conf(const struct rend_conn *c);
/* Close and free now if nothing is pending (worker shutdown). */
void rend_conn_reap(struct rend_conn *c);
/* A request of c has become complete (called by the executor). */
void rend_conn_req_done(struct rend_conn *c, struct rend_req *req);
/* Free idle buffers, close idle and stalled connections (idle_timeout,
 * read_timeout); called by the worker's sweeper once a second.  c may be
 * freed: the caller must not use it afterwards. */
void rend_conn_sweep(struct rend_conn *c, int64_t now);
/* May c's input buffer grow to hold a request of total bytes?  0, or -1
 * when that would take the buffers of all connections past
 * settings.conn_buffer_mb (the caller refuses the request and discards
 * its body; counted in conn_buffer_refused). */
int rend_conn_rbuf_admit(struct rend_conn *c, uint64_t total);
/* Hand c's input buffer over to a request whose bytes [lo, hi) lie in
 * its consumed part (before rpos): *block is the old buffer, now the
 * caller's to free(), and c reads on into a fresh one of the same size
 * holding the unparsed tail (rpos = 0).  Nothing else may point into the
 * old buffer's unconsumed bytes (the parsers only look at rbuf + rpos on).
 * 0, or -1 when the bytes are elsewhere, the tail is longer than half
 * the span (cheaper to copy the span), the buffer is over twice the span
 * plus the initial size, or out of memory: the caller copies instead. */
int rend_conn_rbuf_lend(struct rend_conn *c, const char *lo, const char *hi,
                        char **block);
/* Bytes all input buffers have grown beyond their initial size. */
extern uint64_t rend_conn_buffer_bytes;

/* Output, used by the protocol formatters.  Bytes are copied. */
int rend_conn_out(struct rend_conn *c, const void *data, size_t n);
/* Reserve n bytes at the end of the output; write them, then call
 * rend_conn_out_commit with the length used.  Valid until the next output
 * call. */
char *rend_conn_out_reserve(struct rend_conn *c, size_t n);
void rend_conn_out_commit(struct rend_conn *c, size_t used);
/* Append a buffer by reference; the connection frees it once written. */
int rend_conn_out_take(struct rend_conn *c, char *buf, size_t n);
/* The same for k's result value (malloc'd or lent by the handler, see
 * rend_exec.h): a small one is copied and dropped at once, a big one is
 * written from where it is and dropped after it went out (zero-copy).
 * k's value is empty afterwards. */
struct rend_kop;
int rend_conn_out_value(struct rend_conn *c, struct rend_kop *k, size_t n);

#endif /* REND_CONN_H */
