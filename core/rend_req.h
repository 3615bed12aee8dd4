/*
 * rend_req.h - one client request and its per-key operations.
 *
 * A request is parsed from a connection's input, executed key by key
 * (struct rend_kop: one handler op chain per key), and answered in request
 * order.  A request lives in its connection's queue until its reply has
 * been formatted into the connection's output.  Keys and values point into
 * the connection's input buffer while the request can complete at once;
 * rend_req_own() copies them into req->mem before anything can make it
 * wait (an async handler, or an earlier request still pending).
 */
#ifndef REND_REQ_H
#define REND_REQ_H

#include <stdint.h>
#include <rend/handler.h>

/* X(name, text name, handler opcode or -1, flags) */
#define REND_CMD_READ 0x1  /* no side effect: may run alongside other reads */
#define REND_CMD_LOCAL 0x2 /* answered by the core, no handler */
#define REND_CMD_BARRIER 0x4 /* runs alone: waits for all before it */
#define REND_CMD_MAP(X)                                                     \
    X(GET, "get", REND_OP_GET, REND_CMD_READ)                               \
    X(GETS, "gets", REND_OP_GET, REND_CMD_READ)                             \
    X(GETE, "gete", REND_OP_GET, REND_CMD_READ)                             \
    X(GAT, "gat", REND_OP_GAT, 0)                                           \
    X(GATS, "gats", REND_OP_GAT, 0)                                         \
    X(TOUCH, "touch", REND_OP_TOUCH, 0)                                     \
    X(BTOUCH, "touch", REND_OP_GAT, 0) /* binary: answers the flags */      \
    X(SET, "set", REND_OP_SET, 0)                                           \
    X(ADD, "add", REND_OP_ADD, 0)                                           \
    X(REPLACE, "replace", REND_OP_REPLACE, 0)                               \
    X(APPEND, "append", REND_OP_APPEND, 0)                                  \
    X(PREPEND, "prepend", REND_OP_PREPEND, 0)                               \
    X(CAS, "cas", REND_OP_CAS, 0)                                           \
    X(DELETE, "delete", REND_OP_DELETE, 0)                                  \
    X(INCR, "incr", REND_OP_INCR, 0)                                        \
    X(DECR, "decr", REND_OP_DECR, 0)                                        \
    X(FLUSH, "flush_all", REND_OP_FLUSH, REND_CMD_BARRIER)                               \
    X(NOOP, "noop", -1, REND_CMD_READ | REND_CMD_LOCAL)                     \
    X(VERSION, "version", -1, REND_CMD_READ | REND_CMD_LOCAL)               \
    X(VERBOSITY, "verbosity", -1, REND_CMD_LOCAL)                           \
    X(STATS, "stats", -1, REND_CMD_READ | REND_CMD_LOCAL)                   \
    X(QUIT, "quit", -1, REND_CMD_LOCAL | REND_CMD_BARRIER)                                   \
    X(REPLY, "(reply)", -1, REND_CMD_READ | REND_CMD_LOCAL)

enum rend_cmd {
#define REND_CMD_ENUM(name, text, op, fl) REND_CMD_##name,
    REND_CMD_MAP(REND_CMD_ENUM)
#undef REND_CMD_ENUM
    REND_CMD__COUNT
};

struct rend_cmd_info {
    const char *name;
    int op;
    unsigned flags;
};
extern const struct rend_cmd_info rend_cmd_table[REND_CMD__COUNT];

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
    int pend;                   /* outcome decided, follow-up op running */
    int status;                 /* the outcome the client sees */
    /* Result kept across stages (owned; freed with the request). */
    char *value;
    uint32_t nvalue;
    uint32_t flags;
    int64_t exptime;
    uint64_t cas;
    uint64_t number;
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
    uint32_t nkeys;
    uint32_t pending;           /* kops not finished */
    uint32_t opaque;            /* binary */
    uint32_t nvalue;
    uint32_t flags;
    int64_t exptime;            /* absolute (ABI form) */
    uint64_t cas;
    uint64_t delta;
    uint64_t initial;           /* binary incr/decr */
    int64_t bin_exptime;        /* binary incr/decr create expiry */
    const char *value;
    struct rend_kop *kops;      /* nkeys entries (== &kop1 when 1) */
    char *mem;                  /* owned copies, or NULL */
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
    uint8_t guard;              /* the +1 in pending not yet dropped */
    char numbuf[24];            /* binary incr/decr initial value */
    struct rend_kop kop1;
};

#endif /* REND_REQ_H */
