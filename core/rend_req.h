/*
 * rend_req.h - one client request and its per-key operations.
 *
 * A request is parsed from a connection's input, executed key by key
 * (struct rend_kop: one handler op chain per key), and answered in request
 * order.  A request lives in its connection's queue until its reply has
 * been formatted into the connection's output.  Keys and values point into
 * the connection's input buffer while the request can complete at once;
 * rend_req_own() copies them into req->mem before anything can make it
 * wait (an async handler, or an earlier request still pending).  A value
 * of REND_REQ_LEND_MIN bytes or more that is still in the input buffer is
 * not copied: the request takes the whole input buffer as its req->mem
 * (rend_conn_rbuf_lend; the connection reads on into a fresh buffer with
 * the pipelined bytes after the request), so its keys and value stay
 * where they were parsed and live as long as the request.
 */
#ifndef REND_REQ_H
#define REND_REQ_H

#include <stdint.h>
#include <rend/handler.h>

#include "rend_cmd.h"
#include "rend_settings.h"

/* Bytes of keys + value + argument that rend_req_own copies into the
 * request itself instead of a malloc'ed block. */
#define REND_REQ_OWNBUF 256
/* Values from this size on are owned by taking the input buffer rather
 * than copied out of it (rend_req_own). */
#define REND_REQ_LEND_MIN (32 * 1024)

enum rend_proto { REND_PROTO_TEXT = 0, REND_PROTO_BINARY = 1 };

struct rend_req;
struct rend_route;
struct rend_worker;

/* One key's operation chain (an orchestration step sequence). */
struct rend_kop {
    struct rend_op op;          /* the op in flight (op.core = this) */
    struct rend_req *req;
    const struct rend_route *route;
    struct rend_kop *cnext;     /* worker completion list */
    int cstatus;                /* status delivered by host->done */
    uint8_t stage;              /* orchestration state */
    uint8_t tier;               /* tier of the op in flight: 1 or 2 */
    uint8_t retried;            /* binary incr create: retried once */
    uint8_t done;
    uint8_t won;                /* meta: this request created the item (W) */
    uint8_t bop;                /* binary fold (rend_req.bin_fold): this
                                 * key's opcode as received ... */
    int decided;                /* the client's outcome, decided while a
                                 * follow-up op (L1 fill, cleanup) runs */
    int status;                 /* the outcome the client sees */
    uint32_t bopaque;           /* ... and its opaque */
    /* Result kept across stages (owned; freed with the request). */
    char *value;
    uint32_t nvalue;
    uint32_t flags;
    int64_t exptime;
    uint64_t cas;
    uint64_t number;
    uint64_t t_issue;           /* rend_hist: when the op was issued */
    /* value lent by a handler (host->value_ref, ABI minor 2) instead of
     * malloc'd: given back with vrelease(vowner, vref), never freed.
     * rend_kop_value_drop() handles both. */
    rend_value_release_f *vrelease;
    void *vowner, *vref;
};

struct rend_req {
    struct rend_req *next;      /* connection queue */
    struct rend_conn *conn;
    struct rend_gen *gen;       /* config generation it started on */
    uint8_t cmd;                /* enum rend_cmd */
    uint8_t proto;              /* enum rend_proto */
    uint8_t quiet;              /* noreply / binary quiet opcode */
    uint8_t bin_op;             /* binary opcode as received */
    uint8_t echo_key;           /* binary GetK-family */
    uint8_t complete;
    uint8_t owned;              /* keys/value copied into mem */
    uint8_t bin_incr_create;    /* binary incr/decr: create when missing */
    uint8_t text_owned;         /* text is malloc'd */
    uint8_t started;
    uint8_t meta;               /* meta command: its class (REND_TX_MG...) */
    uint8_t vivify;             /* meta mg N: add an empty item on a miss */
    uint8_t touch_after;        /* meta ma T: touch (r->exptime) after */
    uint8_t sched;              /* rend_req_sched's class, when started */
    uint8_t relay;              /* a relayed multi-get (rend_relay.h) */
    uint8_t bin_fold;           /* binary: consecutive quiet gets folded
                                 * into one request, one kop per packet
                                 * (kop.bop, kop.bopaque answer each) */
    uint8_t meta_fold;          /* meta: consecutive quiet `mg` lines with
                                 * the same flags folded into one request,
                                 * one kop per line (r->m answers each) */
    char *opq;                  /* a fold whose lines have an O token: the
                                 * lines' opaques (owned); kop i's is at
                                 * opq + (bopaque >> 8), bopaque & 0xff
                                 * bytes long */
    uint32_t nkeys;
    uint32_t kops_left;         /* kops not finished (+ guard) */
    uint32_t opaque;            /* binary */
    uint32_t nvalue;
    uint32_t flags;
    int64_t exptime;            /* absolute (ABI form) */
    uint64_t cas;
    uint64_t delta;
    uint64_t initial;           /* binary incr/decr */
    int64_t bin_exptime;        /* binary incr/decr create expiry */
    const char *value;
    /* the value's last npipe bytes are in the pipe vpipe (rend_vpipe.h)
     * while has_vpipe; vmem: the value brought into memory, owned */
    uint32_t npipe;
    uint8_t has_vpipe;
    int vpipe[2], vpipe_cap;
    char *vmem;
    struct rend_kop *kops;      /* nkeys entries (== &kop1 when 1) */
    uint32_t kops_cap;          /* entries allocated at kops (> 1) */
    char *mem;                  /* owned copies when malloc'ed, or NULL */
    char *text;                 /* REPLY/STATS/...: preformatted reply */
    uint32_t ntext;
    int status;                 /* REPLY: status for binary error */
    const char *arg;            /* stats group / verbosity arg (owned) */
    uint32_t narg;
    /* Flow control (rend_flow.c): keys are issued a window at a time and
     * a text multi-get's values are streamed out as they arrive. */
    uint32_t nissued;           /* kops started so far */
    uint32_t nemitted;          /* kops already formatted (streamed) */
    size_t held;                /* value bytes of finished, unformatted kops */
    uint8_t pumping;            /* inside rend_flow_issue */
    uint8_t guard;              /* the +1 in kops_left not yet dropped */
    char numbuf[24];            /* binary incr/decr initial value */
    uint64_t t_start;           /* rend_hist: when it started, or 0 */
    struct rend_kop kop1;
    /* meta commands only (set by their parser; not cleared for others) */
    struct rend_meta {
        char ret[16];           /* flags to answer, in request order */
        uint8_t nret;
        uint8_t q, b, v, has_ttl, has_recache;
        int64_t ttl;            /* T token (relative, as sent) */
        int64_t recache;        /* R token */
        char key[REND_KEY_MAX]; /* a base64 key, decoded */
    } m;
    /* rend_req_own's copies when they fit (mem is then NULL): a small
     * request costs no malloc.  Not cleared by rend_req_new. */
    char ownbuf[REND_REQ_OWNBUF];
};

/* r's scheduling class (REND_CMD_READ / REND_CMD_BARRIER): its row's,
 * except that a request which may write after a miss (binary incr with
 * an initial value, meta ma N and mg N) runs alone, so a later request
 * cannot overtake the item it creates. */
static inline unsigned
rend_req_sched(const struct rend_req *r)
{
    unsigned fl = rend_cmd_table[r->cmd].flags;

    if (r->bin_incr_create || r->vivify) {
        fl = (fl & ~(unsigned)REND_CMD_READ) | REND_CMD_BARRIER;
    }
    return fl;
}

#endif /* REND_REQ_H */
