/*
 * rend_mc.h - internals of the memcached handler plugin (plugins/memcached).
 *
 * Layout:
 *   rend_mc.c        handler descriptor, options, thread setup, stats
 *   rend_mc_conn.c   per-worker backend connections: connect, pipelined
 *                    output buffer, meta-protocol reply parser, grouped
 *                    `get k1 k2 ...` lines and their VALUE/END parser,
 *                    FIFO of outstanding requests, timeouts, down/backoff
 *                    state
 *   rend_mc_ops.c    plain (unchunked) ops, replicas and failover
 *   rend_mc_relay.c  relayed text multi-gets (REND_OP_GET_TEXT)
 *   rend_mc_chunk.c  chunked mode (Rend's chunk layout)
 *   rend_mc_splice.c output with caller-owned pieces spliced in (chunked
 *                    mode's payloads go out without a copy)
 *   rend_mc_ketama.c libmemcached-compatible weighted ketama ring
 *   rend_mc_md5.c    MD5 (for ketama)
 *   rend_mc_util.c   buffers, key encoding, expiry conversion
 *
 * Threading: a struct rend_mc_inst is created on the main thread and is
 * read-only afterwards except for its atomic counters.  Every struct
 * rend_mc_thr belongs to one worker thread and is only touched there.
 */
#ifndef REND_MC_H
#define REND_MC_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <ev.h>

#include <rend/handler.h>

#define REND_MC_KEY_MAX 250          /* memcached's key length limit */
#define REND_MC_MAX_SERVERS 256
#define REND_MC_MAX_CONNS 64

/* ---- growable byte buffer ---- */

struct rend_mc_buf {
    char *data;
    size_t off;  /* first unread byte */
    size_t len;  /* end of valid bytes */
    size_t cap;
};

/* Make room for n more bytes at data+len.  0 or -1 (out of memory). */
int rend_mc_buf_reserve(struct rend_mc_buf *b, size_t n);
/* Append bytes.  0 or -1. */
int rend_mc_buf_add(struct rend_mc_buf *b, const void *p, size_t n);
/* Append printf-formatted text.  0 or -1.  Not for hot paths: commands
 * are built with the rend_mc_put_* helpers below. */
int rend_mc_buf_printf(struct rend_mc_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Drop consumed bytes; reset to empty when all is consumed. */
void rend_mc_buf_compact(struct rend_mc_buf *b);
/* Free the storage. */
void rend_mc_buf_free(struct rend_mc_buf *b);

/* ---- hand-written formatting (no printf on the hot path) ----
 * The caller reserves room first (rend_mc_buf_reserve), writes through a
 * cursor p = b->data + b->len, then sets b->len = p - b->data.  A decimal
 * number takes at most REND_MC_NUM_MAX bytes. */
#define REND_MC_NUM_MAX 21

static inline char *
rend_mc_put(char *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* Appends a string literal. */
#define REND_MC_PUTS(p, lit) rend_mc_put((p), (lit), sizeof(lit) - 1)

/* Writes v in decimal at p: the digit count by comparison, then two
 * digits a step from a table, straight into place (no temporary, no
 * memcpy call; a division per two digits). */
static inline char *
rend_mc_put_u64(char *p, uint64_t v)
{
    static const char d2[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "68697071727374757677787980818283848586878889909192939495969798"
        "99";
    static const uint64_t pow10[] = {
        10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull,
        10000000ull, 100000000ull, 1000000000ull, 10000000000ull,
        100000000000ull, 1000000000000ull, 10000000000000ull,
        100000000000000ull, 1000000000000000ull, 10000000000000000ull,
        100000000000000000ull, 1000000000000000000ull,
        10000000000000000000ull,
    };
    unsigned n = 1;
    char *d;

    while (n < 20 && v >= pow10[n - 1]) {
        n++;
    }
    d = p + n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        d -= 2;
        d[0] = d2[2 * r];
        d[1] = d2[2 * r + 1];
    }
    if (v >= 10) {
        d[-2] = d2[2 * v];
        d[-1] = d2[2 * v + 1];
    } else {
        d[-1] = (char)('0' + v);
    }
    return p + n;
}

static inline char *
rend_mc_put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return rend_mc_put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return rend_mc_put_u64(p, (uint64_t)v);
}

/* Parses an unsigned decimal in [p, end): at least one digit, at most 20,
 * stopping at the first non-digit.  Returns the end of the digits, or NULL
 * (no digit, or more than UINT64_MAX). */
static inline const char *
rend_mc_get_u64(const char *p, const char *end, uint64_t *out)
{
    const char *start = p;
    const char *fast = end - p > 19 ? p + 19 : end;
    uint64_t v = 0;

    /* Up to 19 digits cannot overflow: no check per digit there. */
    while (p < fast && (unsigned char)(*p - '0') < 10) {
        v = v * 10 + (unsigned)(*p - '0');
        p++;
    }
    while (p < end && (unsigned char)(*p - '0') < 10) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return NULL;
        }
        v = v * 10 + d;
        p++;
    }
    if (p == start) {
        return NULL;
    }
    *out = v;
    return p;
}

/* ---- keys ---- */

/* Key as it goes on the wire: raw, or base64 (then the command carries the
 * `b` flag).  A key is sent raw when it has no byte <= 0x20 or 0x7f and
 * fits 250 bytes; otherwise base64 when the encoding fits 250 bytes. */
struct rend_mc_wkey {
    char text[REND_MC_KEY_MAX + 1];
    size_t len;
    int b64;
};

/* 1 when key can go on the wire as it is (1..250 bytes, no byte <= 0x20
 * nor 0x7f), else 0.  Pure. */
int rend_mc_key_raw(const char *key, size_t nkey);

/* Build the wire key for key+suffix.  0, or REND_EINVAL when too long. */
int rend_mc_wkey(struct rend_mc_wkey *w, const char *key, size_t nkey,
                 const char *suffix, size_t nsuffix);

/* ABI absolute expiry -> memcached TTL token value (0 = never, -1 = already
 * expired, an absolute time when more than 30 days away). */
int64_t rend_mc_ttl(int64_t exptime, int64_t now);
/* memcached's remaining TTL (-1 = never) -> ABI absolute expiry. */
int64_t rend_mc_abs_exptime(int64_t ttl, int64_t now);

/* ---- MD5 and ketama ---- */

void rend_mc_md5(const void *data, size_t n, unsigned char out[16]);

struct rend_mc_point {
    uint32_t value;
    uint32_t server;
};

struct rend_mc_ring {
    struct rend_mc_point *points;
    size_t npoints;
    unsigned nservers;
};

/* One ring entry per server: name as libmemcached knows it (hostname or
 * socket path), port (0 for unix sockets) and weight (>= 1). */
struct rend_mc_ring_server {
    const char *host;
    unsigned port;
    unsigned weight;
};

/* Build libmemcached's weighted ketama continuum.  0 or -1 (no memory).
 * The caller owns ring (rend_mc_ring_free). */
int rend_mc_ring_build(struct rend_mc_ring *ring,
                       const struct rend_mc_ring_server *srv, unsigned n);
void rend_mc_ring_free(struct rend_mc_ring *ring);
/* libmemcached's key hash for ketama (MD5, low 4 bytes little endian). */
uint32_t rend_mc_key_hash(const char *key, size_t nkey);
/* Index of the first point at or after hash (wrapping). */
size_t rend_mc_ring_find(const struct rend_mc_ring *ring, uint32_t hash);
/* Server for key; 0 when there is one server (no hashing). */
unsigned rend_mc_ring_server_of(const struct rend_mc_ring *ring,
                                const char *key, size_t nkey);
/* The first n distinct servers clockwise from the key's point, written to
 * out[]; returns how many were found (<= n). */
unsigned rend_mc_ring_replicas(const struct rend_mc_ring *ring,
                               const char *key, size_t nkey, unsigned *out,
                               unsigned n);

/* As rend_mc_ring_replicas, from an already computed key hash. */
unsigned rend_mc_ring_replicas_at(const struct rend_mc_ring *ring,
                                  uint32_t hash, unsigned *out, unsigned n);

/* ---- instance, servers ---- */

struct rend_mc_server_conf {
    char *name;       /* as given: host:port or path */
    char *host;       /* host or socket path */
    unsigned port;    /* 0 for unix sockets */
    unsigned weight;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    /* Stats, summed over worker threads; atomics. */
    uint64_t requests, errors, timeouts, reconnects;
    int64_t queued;    /* outstanding requests right now */
    int64_t down;      /* worker threads that see it down right now */
};

struct rend_mc_inst {
    const struct rend_host *host;
    char *name;
    struct rend_mc_server_conf *servers;
    unsigned nservers;
    struct rend_mc_ring ring;
    unsigned conns_per_server;
    unsigned replicas;
    int failover_on_miss;
    double connect_timeout, timeout;  /* seconds */
    unsigned fail_limit;
    unsigned max_inflight;            /* requests per connection, then EBUSY */
    double retry_min, retry_max;      /* seconds */
    int chunked;
    int splice_sets;                  /* take piped set values (ABI 1.4) */
    size_t slab_size;
    size_t item_size_max;
};

/* Where key goes: its first n replica servers into srv[] (returns how
 * many) and *connhash, the hash that picks its connection.  A single
 * server costs no MD5 (and no hash at all with one connection).  Pure;
 * any thread. */
unsigned rend_mc_route(const struct rend_mc_inst *in, const char *key,
                       size_t nkey, unsigned *srv, unsigned n,
                       uint32_t *connhash);

/* ---- admin requests (rend_mc_admin.c) ---- */

/* The servers' own item counters (memcached's curr_items, bytes,
 * limit_maxbytes, evictions) as this instance's stats; blocking, with a
 * short timeout per server.  Any thread. */
void rend_mc_admin_stats(struct rend_mc_inst *in, rend_stat_emit_f *emit,
                         void *ud);

/* ---- per-thread connections ---- */

enum rend_mc_reply_kind {
    REND_MC_R_HD, REND_MC_R_VA, REND_MC_R_EN, REND_MC_R_NF, REND_MC_R_NS,
    REND_MC_R_EX, REND_MC_R_MN, REND_MC_R_OK, REND_MC_R_CLIENT_ERROR,
    REND_MC_R_SERVER_ERROR, REND_MC_R_ERROR
};

/* One parsed reply; value points into the connection's input buffer and
 * is valid only during the callback. */
struct rend_mc_reply {
    int kind;
    const char *value;
    uint32_t nvalue;
    int has_flags, has_ttl, has_cas, has_opaque;
    uint32_t flags;
    int64_t ttl;
    uint64_t cas;
    uint32_t opaque;
    const char *line;  /* whole reply line (no CRLF) */
    size_t nline;
    struct rend_mc_conn *conn; /* whose input holds value (rend_mc_in_lend) */
    /* A relayed get line's END (rend_mc_conn_push_relay): value holds
     * nblocks VALUE blocks; dropped: the reply outgrew REND_MC_RELAY_MAX
     * and was skipped (value NULL). */
    uint32_t nblocks;
    int dropped;
};

/* Reply callback.  err == 0: r is a reply.  err < 0: the request failed
 * (connection reset, timeout: a REND_E* status) and r is NULL.  A request
 * pushed with multi=1 gets every reply up to and including MN. */
typedef void rend_mc_reply_f(void *ud, int err, const struct rend_mc_reply *r);

struct rend_mc_req {
    struct rend_mc_req *next;
    rend_mc_reply_f *cb;
    void *ud;
    ev_tstamp sent;
    uint32_t opaque;
    uint8_t multi;
    /* A key of a grouped `get`/`gets` line (rend_mc_conn_push_get): its
     * reply is a text VALUE block or nothing (a miss); glast marks the
     * line's last key, whose END closes the line. */
    uint8_t grp, glast;
    const char *gkey;   /* the wire key, the caller's (valid until cb) */
    size_t gnkey;
    /* A relayed get line (rend_mc_conn_push_relay): the VALUE blocks of
     * its reply stay in c->in from c->in.off on until END; rscan bytes of
     * them (rhits blocks) are checked.  rdrop: past REND_MC_RELAY_MAX, the
     * rest is skipped (rskip bytes of a value still to come). */
    uint8_t relay, rcas, rdrop;
    uint32_t rhits;
    size_t rscan, rskip;
};

enum rend_mc_conn_state {
    REND_MC_CLOSED = 0, REND_MC_CONNECTING, REND_MC_CONNECTED
};

struct rend_mc_srv;

/* One piece of output the caller owns: n bytes at p, to go out after the
 * first `at` unsent bytes of c->out (c->out.data + c->out.off + at) and
 * the pieces before it.  owner: whose request it belongs to.  pipe >= 0:
 * the n bytes are the next n in that pipe (a set's piped value, ABI minor
 * 4), spliced to the socket; p is unused. */
struct rend_mc_ext {
    size_t at;
    const char *p;
    size_t n;
    const void *owner;
    int pipe;
};

/* Pieces queued on a connection (rend_mc_splice.c): v[head..n). */
struct rend_mc_extq {
    struct rend_mc_ext *v;
    unsigned head, n, cap;
};

struct rend_mc_conn {
    struct rend_mc_srv *srv;
    int fd;
    int state;
    ev_io rio, wio;
    ev_timer tmo;
    struct rend_mc_buf out, in;
    struct rend_mc_req *head, *tail;
    unsigned depth;
    uint32_t next_opaque;
    int dirty;
    struct rend_mc_conn *next_dirty;
    int parsing;        /* inside the reply loop: failures are deferred */
    int deferred_err;
    int probe;          /* connect attempt of a down server */
    int ever_connected;
    struct rend_mc_extq ext;  /* spliced output (chunked mode) */
    struct rend_mc_rblk *inblk; /* storage of `in` (rend_mc_rbuf.c) */
    /* Grouped gets: a `get`/`gets` line being filled at the end of out
     * (no CRLF yet; gopen), its length so far and whether it is `gets`;
     * gend: the line's last key had a VALUE, its END is still due. */
    uint8_t gopen, gcas, gend;
    size_t glen;
};

struct rend_mc_thr;

struct rend_mc_srv {
    struct rend_mc_thr *thr;
    struct rend_mc_server_conf *conf;
    struct rend_mc_conn *conns;
    unsigned nconns;
    unsigned fails;     /* consecutive failures */
    int64_t depth;      /* requests outstanding on this thread */
    int64_t depth_pub;  /* depth last added to conf->queued */
    uint64_t nreq_unpub;  /* requests not yet added to conf->requests */
    int down;
    double backoff;     /* seconds until the next retry */
    ev_timer retry;
};

/* Free list of same-sized per-op states of one worker thread, so an op
 * costs no malloc once the pool is warm.  Only touched on that thread. */
struct rend_mc_pool {
    void *head;        /* first free object; its first bytes link on */
    unsigned n;        /* objects on the list */
};

#define REND_MC_POOL_MAX 4096

/* An object of size bytes (>= sizeof(void *)) from pool, or malloc'ed;
 * NULL when out of memory.  Contents are undefined. */
static inline void *
rend_mc_pool_get(struct rend_mc_pool *pool, size_t size)
{
    void *x = pool->head;

    if (x == NULL) {
        return malloc(size);
    }
    memcpy(&pool->head, x, sizeof(void *));
    pool->n--;
    return x;
}

/* Gives x back to pool (freed when the pool is full). */
static inline void
rend_mc_pool_put(struct rend_mc_pool *pool, void *x)
{
    if (pool->n >= REND_MC_POOL_MAX) {
        free(x);
        return;
    }
    memcpy(x, &pool->head, sizeof(void *));
    pool->head = x;
    pool->n++;
}

/* Frees every object on pool. */
void rend_mc_pool_drain(struct rend_mc_pool *pool);

struct rend_mc_cop;  /* chunked-mode op state (rend_mc_chunk.c) */

/* Buckets of the chunked mode's per-thread table of keys with an op in
 * flight (a power of two). */
#define REND_MC_KEYQ_BUCKETS 1024

struct rend_mc_thr {
    struct rend_mc_inst *inst;
    struct ev_loop *loop;
    struct rend_mc_srv *srvs;
    ev_prepare prep;
    struct rend_mc_conn *dirty;
    struct rend_mc_req *free_reqs;
    unsigned nfree_reqs;
    struct rend_mc_pool pops;   /* plain-mode op states (rend_mc_ops.c) */
    struct rend_mc_pool cops;   /* chunked-mode op states (rend_mc_chunk.c) */
    struct rend_mc_pool relays; /* relayed multi-gets (rend_mc_relay.c) */
    /* Chunked mode: the op that owns each key (the others on that key
     * wait in its queue), chained by key hash. */
    struct rend_mc_cop *keyq[REND_MC_KEYQ_BUCKETS];
    int closing;                /* in rend_mc_thr_close: start nothing */
    /* Chunked mode: chunks a get reads along with the metadata (the count
     * of the last value read on this thread, capped; rend_mc_chunk.c). */
    uint32_t chunk_spec;
};

/* Set up / tear down the thread's servers (no connection is opened until
 * the first request).  0 or REND_ENOMEM. */
int rend_mc_thr_open(struct rend_mc_thr *t);
void rend_mc_thr_close(struct rend_mc_thr *t);

/* Connection of server srv for a key hash, opening it if needed.  NULL
 * with *err = REND_EDOWN (server marked down, or connect failed at once)
 * or REND_ENOMEM. */
struct rend_mc_conn *rend_mc_conn_get(struct rend_mc_thr *t, unsigned srv,
                                      uint32_t keyhash, int *err);
/* Queue a request on c (its command text is then appended to c->out by the
 * caller, with O<returned opaque> where it wants one).  Returns the opaque,
 * or 0 when out of memory.  cb runs exactly once (multi: once per reply up
 * to MN, or once with an error). */
uint32_t rend_mc_conn_push(struct rend_mc_conn *c, rend_mc_reply_f *cb,
                           void *ud, int multi);
/* Grouped gets: queues a request for key (raw wire key, 1..250 bytes,
 * no byte <= 0x20 nor 0x7f) as one more key of the `get` line open at
 * the end of c->out (`gets` when cas is set: a `gets` line takes keys
 * without cas too), opening one when there is none or it is full
 * (REND_MC_GROUP_LINE_MAX).  The line is closed (CRLF) by the next
 * request of another kind and before c->out is written.  cb gets one
 * reply: REND_MC_R_VA (value, flags, cas when asked) on a hit,
 * REND_MC_R_EN on a miss, the failure line (SERVER_ERROR...) for every
 * key of the line still unanswered, or an error status as for any
 * request.  key must stay valid until cb has run.  Returns the
 * request's opaque (not sent), or 0 when out of memory (nothing
 * queued). */
uint32_t rend_mc_conn_push_get(struct rend_mc_conn *c, rend_mc_reply_f *cb,
                               void *ud, const char *key, size_t nkey,
                               int cas);
/* A grouped line stays under this many bytes (CRLF included):
 * memcached reads a longer command line through a slower path. */
#define REND_MC_GROUP_LINE_MAX 2048

/* Relayed multi-gets: queues one `get` (`gets` when cas is set) of keys
 * (nkeys bytes: raw wire keys one space apart, the line under
 * REND_MC_GROUP_LINE_MAX) as one request.  cb gets one reply: at END,
 * kind REND_MC_R_EN with the hits' VALUE blocks at value (nvalue bytes,
 * nblocks of them, in c->in as rend_mc_in_lend wants) or dropped set;
 * a failure line; or an error status.  keys are copied.  Returns the
 * request's opaque (not sent), or 0 when out of memory. */
uint32_t rend_mc_conn_push_relay(struct rend_mc_conn *c, rend_mc_reply_f *cb,
                                 void *ud, const char *keys, size_t nkeys,
                                 int cas);
/* The largest relayed reply kept whole; a longer one is skipped and its
 * op declined (the core then runs the keys one by one). */
#define REND_MC_RELAY_MAX (1024u * 1024)

/* Sends c->out with ext[0..next) spliced in (rend_mc_splice.c): the
 * pieces are queued on c without a copy and written, in order with
 * c->out, by the usual flush.  Their bytes must stay valid until owner's
 * request is answered or c fails (conn_close forgets them).  0, or -1
 * when out of memory (c then fails with REND_ENOMEM). */
int rend_mc_conn_out_ext(struct rend_mc_conn *c, const struct rend_mc_ext *ext,
                         unsigned next);
/* The pieces for bytes [off, off + n) of the value at value, of which the
 * first vin are in memory and the rest in op's pipe (vin == the value's
 * length when nothing is piped): one or two entries written to ext (room
 * for two), to go after the first `at` unsent bytes of c->out, for owner.
 * Returns how many. */
unsigned rend_mc_value_pieces(const struct rend_op *op, const char *value,
                              size_t vin, size_t off, size_t n, size_t at,
                              const void *owner, struct rend_mc_ext *ext);
/* Values up to this size go out spliced in plain mode (rend_mc_ops.c);
 * also the largest piped value plain mode takes. */
#define REND_MC_SPLICE_MAX (512u * 1024)
/* Writes c's logical output (c->out with its queued pieces) until the
 * socket is full: 0 = all sent, 1 = would block, -1 = write error. */
int rend_mc_conn_write_ext(struct rend_mc_conn *c);
/* owner's request was answered: a piece of its still queued means the
 * stream is out of step (c is then failed with REND_EIO, the pieces
 * forgotten). */
void rend_mc_conn_ext_release(struct rend_mc_conn *c, const void *owner);
/* ---- the read buffer and values lent from it (rend_mc_rbuf.c) ----
 * c->in's storage is a reference-counted block; a GET hit may lend the
 * core its value's bytes in place (host->value_ref), and the block then
 * stays until the core gives them back.  Connection's thread only. */
struct rend_mc_rblk;
/* Room for n more bytes at c->in.data + c->in.len, never moving or
 * overwriting bytes that are lent out.  0, or -1 when out of memory. */
int rend_mc_in_reserve(struct rend_mc_conn *c, size_t n);
/* Forget c->in's contents (connection closed); lent bytes stay valid. */
void rend_mc_in_reset(struct rend_mc_conn *c);
/* Let go of c->in's storage (thread close); lent bytes stay valid. */
void rend_mc_in_free(struct rend_mc_conn *c);
/* Lend op the n bytes at p (inside c->in) as its result value.  0, or -1
 * when the host cannot take lent values or too many blocks are pinned:
 * the caller copies with value_alloc. */
int rend_mc_in_lend(struct rend_mc_conn *c, const struct rend_host *h,
                    struct rend_op *op, const char *p, size_t n);

/* Write every connection with buffered output (the flush hook). */
void rend_mc_thr_flush(struct rend_mc_thr *t);

/* Map a failure reply (ERROR, CLIENT_ERROR, SERVER_ERROR) to a status. */
int rend_mc_reply_error(const struct rend_mc_reply *r);

/* ---- ops ---- */

/* Plain-mode op entry points (rend_mc_ops.c). */
int rend_mc_op_plain(struct rend_mc_thr *t, struct rend_op *op);
/* Chunked-mode op entry points (rend_mc_chunk.c). */
int rend_mc_op_chunked(struct rend_mc_thr *t, struct rend_op *op);
/* REND_OP_GET_TEXT (rend_mc_relay.c): plain mode with one server only;
 * REND_ENOTSUP otherwise. */
int rend_mc_op_get_text(struct rend_mc_thr *t, struct rend_op *op);
/* FLUSH to every server (both modes). */
int rend_mc_op_flush(struct rend_mc_thr *t, struct rend_op *op);

#endif /* REND_MC_H */
