/*
 * rb.h - rend-bench: the load and correctness client of rend.
 *
 * One engine serves every subcommand.  Worker threads (one epoll loop each)
 * drive connections; each connection keeps up to `depth` requests in flight
 * and answers arrive in order.  The key space is dealt to the connections
 * (key i belongs to connection i % conns), so every key is read and written
 * by one connection only and its expected state is exact: the per-key model
 * (struct rb_key) is updated as the replies arrive, and every reply is
 * checked against it.  Values carry the key's index and the generation of
 * the write that stored them, so a stale value is told from a corrupt one.
 */
#ifndef RB_H
#define RB_H

#include "rb_hist.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* Request types: enum, names (and so the reports) from one table. */
#define RB_OPS(X) \
    X(RB_GET, "get") X(RB_MGET, "mget") X(RB_SET, "set") X(RB_ADD, "add") \
    X(RB_REPLACE, "replace") X(RB_APPEND, "append") \
    X(RB_PREPEND, "prepend") X(RB_DELETE, "delete") X(RB_TOUCH, "touch") \
    X(RB_GAT, "gat")

enum rb_op {
#define RB_OP_ENUM(id, name) id,
    RB_OPS(RB_OP_ENUM)
#undef RB_OP_ENUM
    RB_OP__COUNT
};

enum rb_proto { RB_TEXT, RB_BINARY, RB_META };

enum rb_mode { RB_M_BENCH, RB_M_BLAST, RB_M_SETGET, RB_M_SIZES, RB_M_FILL,
               RB_M_SETOPS };

enum rb_dist { RB_D_UNIFORM, RB_D_ZIPF, RB_D_SEQ };

/* Error kinds, counted per thread and reported by name:
 *   corrupt     a hit whose bytes are not what was stored
 *   stale       an older generation, or data that should be gone
 *   flags       right bytes, wrong flags
 *   lost        --strict: a key that must exist was not found
 *   server      an error reply (ERROR, CLIENT_ERROR, SERVER_ERROR, status)
 *   protocol    a reply that cannot be parsed (connection closed)
 *   connection  connect, read or write failure
 *   timeout     no reply within --timeout
 *   unanswered  requests in flight on a failed connection */
#define RB_ERRS(X) \
    X(RB_E_CORRUPT, "corrupt") X(RB_E_STALE, "stale") \
    X(RB_E_FLAGS, "flags") X(RB_E_LOST, "lost") X(RB_E_SERVER, "server") \
    X(RB_E_PROTO, "protocol") X(RB_E_CONN, "connection") \
    X(RB_E_TIMEOUT, "timeout") X(RB_E_UNANSWERED, "unanswered")

enum rb_err {
#define RB_ERR_ENUM(id, name) id,
    RB_ERRS(RB_ERR_ENUM)
#undef RB_ERR_ENUM
    RB_E__COUNT
};
/* Kinds <= RB_E_LOST, and RB_E_PROTO (replies that are not memcached's
 * wire format are wrong data too), make the exit status 1. */
#define RB_E_MISMATCH_LAST RB_E_LOST

/* Key states of the model. */
enum { RB_K_UNKNOWN, RB_K_ABSENT, RB_K_PRESENT, RB_K_OPAQUE };

/* What the model knows about one key.  Owned by the key's connection. */
struct rb_key {
    uint32_t gen;       /* generation of the stored base value */
    uint32_t len;       /* its length */
    uint32_t next_gen;  /* last generation sent */
    uint16_t npre, nsuf; /* prepends / appends applied since */
    uint8_t state;
    uint8_t pad[3];
};

/* A size distribution: one value, a uniform range or weighted choices. */
struct rb_sizes {
    unsigned n;            /* number of choices; 0 = uniform lo..hi */
    uint32_t lo, hi;
    uint32_t size[16];
    uint32_t cum[16];      /* cumulative weights */
    uint32_t total;
};

struct rb_opts {
    enum rb_mode mode;
    const char *cmd;
    enum rb_proto proto;
    char host[256];
    char port[16];
    const char *unix_path;
    unsigned conns, threads, depth, mget, mget_lo, mget_hi;
    unsigned key_len;
    const char *key_prefix;
    uint64_t nkeys, count;
    int count_set, duration_set;
    double duration, warmup, rate, get_ratio, timeout, interval, zipf_theta;
    enum rb_dist dist;
    struct rb_sizes vsize;
    uint32_t size_max, size_step;
    int prefill, strict, json, quiet, verify;
    const char *plot;
    uint64_t seed;
    unsigned exptime;
    int ops_enabled[RB_OP__COUNT];
    unsigned idle; /* --idle: extra connections that never send */
};

/* Counters of one thread (or their sum). */
struct rb_counts {
    uint64_t reqs, keys;                 /* measured requests, keys asked */
    uint64_t replies;                    /* every reply, all phases */
    uint64_t op[RB_OP__COUNT], hit[RB_OP__COUNT], miss[RB_OP__COUNT];
    uint64_t too_large;                  /* values refused as too large */
    uint64_t verified;                   /* keys read back at the end */
    uint64_t gone;                       /* misses of keys that should
                                          * exist (evicted?), not --strict */
    uint64_t err[RB_E__COUNT];
};

/* One latency histogram per op, split by outcome (hit/applied or
 * miss/not applied). */
struct rb_op_hists {
    struct rb_hist h[RB_OP__COUNT][2];
};

/* One sample of the measured window (every --interval seconds). */
struct rb_sample {
    double t;                 /* seconds since the window started */
    double ops_s;
    uint64_t errors, misses;
    double p50_us, p99_us;
};

struct rb_result {
    double secs, prefill_secs, cpu;
    struct rb_counts c;
    struct rb_op_hists *oh;
    struct rb_hist all;
    struct rb_sample *samples;
    unsigned nsamples;
};

extern struct rb_opts rb_opt;

/* rb_engine.c */
int rb_engine_run(struct rb_result *res);
/* Free what rb_engine_run left in res (after the reports). */
void rb_result_free(struct rb_result *res);
const char *rb_op_name(int op);
const char *rb_err_name(int e);
uint64_t rb_now_ns(void);

/* rb_proto.c: the wire.  A request is written into out (room for
 * rb_req_max bytes); a reply is parsed from buf[0..len). */
struct rb_hitv {
    unsigned pos;         /* which key of the request */
    uint32_t flags;
    const char *data;
    size_t len;
};

enum rb_status {
    RB_S_INCOMPLETE,
    RB_S_OK,          /* stored / deleted / touched / get done (see hits) */
    RB_S_NOT,         /* not stored / not found / exists / get miss */
    RB_S_TOO_LARGE,
    RB_S_SERVER,      /* an error reply */
    RB_S_PROTO,       /* unparsable: close the connection */
};

struct rb_wire_req {
    int op;
    unsigned nkeys;
    const uint32_t *keys;
    uint32_t flags, len, gen;  /* set family: value of (key, gen, len) */
    uint32_t opaque;
};

size_t rb_req_max(void);
size_t rb_encode(char *out, const struct rb_wire_req *q);
enum rb_status rb_parse(const char *buf, size_t len,
                        const struct rb_wire_req *q, size_t *used,
                        struct rb_hitv *hits, unsigned *nhits);
void rb_key_name(char *out, uint32_t idx);
int rb_proto_init(void);
void rb_proto_free(void);
/* The value bytes of (key idx, generation gen, length len). */
void rb_value_write(char *out, uint32_t idx, uint32_t gen, uint32_t len);
uint32_t rb_value_flags(uint32_t idx, uint32_t gen);
/* -1 when v/n/flags is what k says key idx holds, else an enum rb_err. */
int rb_value_check(uint32_t idx, const struct rb_key *k, uint32_t flags,
                   const char *v, size_t n);
#define RB_APPEND_TOKEN "+APP"
#define RB_PREPEND_TOKEN "PRE+"
#define RB_TOKEN_LEN 4
#define RB_MAX_AFFIX 64

/* rb_report.c */
void rb_report_text(FILE *f, const struct rb_result *r);
void rb_report_json(FILE *f, const struct rb_result *r);
int rb_report_svg(const char *path, const struct rb_result *r);
uint64_t rb_total_errors(const struct rb_counts *c);
uint64_t rb_mismatches(const struct rb_counts *c);

#endif
