/*
 * rend_cmd.h - the command table: the one place that lists rend's
 * commands.  The text parser (its dispatch and reply class), the binary
 * parser (its opcode map, quiet and key-echo variants, packet shape), the
 * config compiler and the Lua vocabulary (route keys), the connection's
 * scheduling (read / write / barrier), the command counters and
 * `rend --commands` (the docs) all read it.
 *
 * Adding a command: one REND_CMD_MAP row here, plus its executor: a text
 * syntax class in rend_proto_text.c when none of the existing ones fits,
 * the handler op it runs (or REND_CMD_LOCAL and a case in exec_local).
 *
 * Row fields (designated initializers; omitted ones are 0 / NULL):
 *   .name    the command's name (logs; the `cmd` a route_fn receives)
 *   TEXT(s)  its text protocol token; none = not a text command
 *   .tx      text syntax / reply class (enum rend_text_class)
 *   .route   route key in a config's routes table (NULL: never routed);
 *   .alias   a second route key for the same command
 *   .runs_as the rows a command is parsed into (meta), for the docs
 *   .op      the handler op it runs (REND_OP_*), -1 = answered by the core
 *   .flags   REND_CMD_* below
 *   .count   command counters it moves (REND_CNT_*)
 *   .outcome outcome counters its keys move (enum rend_outcome_class;
 *            stores count store_no_memory by their op)
 *   .bin     binary opcodes { plain, quiet, key-echo, key-echo quiet },
 *            each BIN(x); 0 = none
 *   .bext    binary extras length (-1: 0 or 4); .bkey 1 = key required,
 *            2 = optional (stat group), 0 = none; .bval 1 = may carry a
 *            value
 */
#ifndef REND_CMD_H
#define REND_CMD_H

#include <stdint.h>
#include <stdio.h>
#include <rend/handler.h>

/* scheduling (rend_conn.c may_start) */
#define REND_CMD_READ 0x1     /* no side effect: may run alongside reads */
#define REND_CMD_LOCAL 0x2    /* answered by the core, no handler */
#define REND_CMD_BARRIER 0x4  /* runs alone: waits for all before it */
/* syntax */
#define REND_CMD_CAS_ARG 0x8  /* text: takes (cas) or answers (gets) a cas */
#define REND_CMD_EXP_ARG 0x10 /* text retrieval: exptime before the keys */
/* orchestration (rend_route.c) */
#define REND_CMD_SOT 0x20     /* L1/L2: read the source of truth (L2) first:
                               * its cas / flags are what the client sees */

/* command counters (rend_exec.c count_cmd); each adds the key count */
#define REND_CNT_GET 0x1
#define REND_CNT_TOUCH 0x2
#define REND_CNT_SET 0x4
#define REND_CNT_FLUSH 0x8

/* outcome counters (rend_exec.c count_outcome): which of memcached's
 * <cmd>_hits / _misses (and cas_badval) the client-visible outcome of each
 * key moves */
enum rend_outcome_class {
    REND_OUT_NONE = 0,
    REND_OUT_GET,     /* get_hits, get_misses */
    REND_OUT_TOUCH,   /* touch_hits, touch_misses (gat counts as a touch) */
    REND_OUT_DELETE,  /* delete_hits, delete_misses */
    REND_OUT_INCR,    /* incr_hits, incr_misses */
    REND_OUT_DECR,    /* decr_hits, decr_misses */
    REND_OUT_CAS,     /* cas_hits, cas_misses, cas_badval */
};

/* text syntax and reply classes (rend_proto_text.c) */
enum rend_text_class {
    REND_TX_NONE = 0,   /* no text form */
    REND_TX_RETRIEVAL,  /* get <key>*  /  gat <exptime> <key>* */
    REND_TX_STORAGE,    /* set <key> <flags> <exptime> <bytes> [cas] [noreply] */
    REND_TX_DELETE,     /* delete <key> [0] [noreply] */
    REND_TX_ARITH,      /* incr <key> <delta> [noreply] */
    REND_TX_TOUCH,      /* touch <key> <exptime> [noreply] */
    REND_TX_FLUSH,      /* flush_all [delay] [noreply] */
    REND_TX_VERSION,
    REND_TX_NOOP,
    REND_TX_QUIT,
    REND_TX_VERBOSITY,  /* verbosity <level> [noreply] */
    REND_TX_STATS,      /* stats [group...] */
    REND_TX_MEMLIMIT,   /* cache_memlimit <megabytes> [noreply] */
    REND_TX_SHUTDOWN,   /* shutdown: refused (memcached without -A) */
    /* memcached's meta commands: mg/ms/md/ma parse into the get, gets,
     * gat, gats, set, add, replace, append, prepend, cas, delete, incr
     * and decr rows (so they route, count and orchestrate exactly as
     * those) and answer in the meta form (rend_req.meta) */
    REND_TX_MG,         /* mg <key> <flag>* */
    REND_TX_MS,         /* ms <key> <datalen> <flag>* */
    REND_TX_MD,         /* md <key> <flag>* */
    REND_TX_MA,         /* ma <key> <flag>* */
    REND_TX_MN,         /* mn */
    REND_TX_ME,         /* me <key> */
    REND_TX__COUNT
};

#define TEXT(s) .text = s, .ntext = sizeof(s) - 1
#define BIN(x) (0x100 | (x))

#define REND_CMD_MAP(X)                                                     \
    X(GET, .name = "get", TEXT("get"), .tx = REND_TX_RETRIEVAL,             \
      .outcome = REND_OUT_GET,                                              \
      .route = "get", .op = REND_OP_GET, .flags = REND_CMD_READ,            \
      .count = REND_CNT_GET, .bkey = 1,                                     \
      .bin = { BIN(0x00), BIN(0x09), BIN(0x0c), BIN(0x0d) })                \
    X(GETS, .name = "gets", TEXT("gets"), .tx = REND_TX_RETRIEVAL,          \
      .outcome = REND_OUT_GET,                                              \
      .route = "gets", .op = REND_OP_GET,                                   \
      .flags = REND_CMD_READ | REND_CMD_CAS_ARG | REND_CMD_SOT,             \
      .count = REND_CNT_GET)                                                \
    X(GETE, .name = "gete", .route = "gete", .op = REND_OP_GET,             \
      .outcome = REND_OUT_GET,                                              \
      .flags = REND_CMD_READ, .count = REND_CNT_GET, .bkey = 1,             \
      .bin = { BIN(0x40), BIN(0x41) }) /* Rend: flags + expiry */           \
    X(GAT, .name = "gat", TEXT("gat"), .tx = REND_TX_RETRIEVAL,             \
      .outcome = REND_OUT_TOUCH,                                            \
      .route = "gat", .op = REND_OP_GAT, .flags = REND_CMD_EXP_ARG,         \
      .count = REND_CNT_GET | REND_CNT_TOUCH, .bext = 4, .bkey = 1,         \
      .bin = { BIN(0x1d), BIN(0x1e), BIN(0x23), BIN(0x24) })                \
    X(GATS, .name = "gats", TEXT("gats"), .tx = REND_TX_RETRIEVAL,          \
      .outcome = REND_OUT_TOUCH,                                            \
      .route = "gats", .op = REND_OP_GAT,                                   \
      .flags = REND_CMD_EXP_ARG | REND_CMD_CAS_ARG | REND_CMD_SOT,          \
      .count = REND_CNT_GET | REND_CNT_TOUCH)                               \
    X(TOUCH, .name = "touch", TEXT("touch"), .tx = REND_TX_TOUCH,           \
      .outcome = REND_OUT_TOUCH,                                            \
      .route = "touch", .op = REND_OP_TOUCH, .count = REND_CNT_TOUCH)       \
    X(BTOUCH, .name = "touch", .route = "touch", .op = REND_OP_GAT,         \
      .outcome = REND_OUT_TOUCH,                                            \
      .flags = REND_CMD_SOT, .count = REND_CNT_TOUCH, .bext = 4, .bkey = 1, \
      .bin = { BIN(0x1c) }) /* binary touch answers the flags */            \
    X(SET, .name = "set", TEXT("set"), .tx = REND_TX_STORAGE,               \
      .route = "set", .op = REND_OP_SET, .count = REND_CNT_SET, .bext = 8,  \
      .bkey = 1, .bval = 1, .bin = { BIN(0x01), BIN(0x11) })                \
    X(ADD, .name = "add", TEXT("add"), .tx = REND_TX_STORAGE,               \
      .route = "add", .op = REND_OP_ADD, .count = REND_CNT_SET, .bext = 8,  \
      .bkey = 1, .bval = 1, .bin = { BIN(0x02), BIN(0x12) })                \
    X(REPLACE, .name = "replace", TEXT("replace"), .tx = REND_TX_STORAGE,   \
      .route = "replace", .op = REND_OP_REPLACE, .count = REND_CNT_SET,     \
      .bext = 8, .bkey = 1, .bval = 1, .bin = { BIN(0x03), BIN(0x13) })     \
    X(APPEND, .name = "append", TEXT("append"), .tx = REND_TX_STORAGE,      \
      .route = "append", .op = REND_OP_APPEND, .count = REND_CNT_SET,       \
      .bkey = 1, .bval = 1, .bin = { BIN(0x0e), BIN(0x19) })                \
    X(PREPEND, .name = "prepend", TEXT("prepend"), .tx = REND_TX_STORAGE,   \
      .route = "prepend", .op = REND_OP_PREPEND, .count = REND_CNT_SET,     \
      .bkey = 1, .bval = 1, .bin = { BIN(0x0f), BIN(0x1a) })                \
    X(CAS, .name = "cas", TEXT("cas"), .tx = REND_TX_STORAGE,               \
      .outcome = REND_OUT_CAS,                                              \
      .route = "cas", .op = REND_OP_CAS, .flags = REND_CMD_CAS_ARG,         \
      .count = REND_CNT_SET) /* binary: a set/replace with a cas */         \
    X(DELETE, .name = "delete", TEXT("delete"), .tx = REND_TX_DELETE,       \
      .outcome = REND_OUT_DELETE,                                           \
      .route = "delete", .op = REND_OP_DELETE, .bkey = 1,                   \
      .bin = { BIN(0x04), BIN(0x14) })                                      \
    X(INCR, .name = "incr", TEXT("incr"), .tx = REND_TX_ARITH,              \
      .outcome = REND_OUT_INCR,                                             \
      .route = "incr", .op = REND_OP_INCR, .bext = 20, .bkey = 1,           \
      .bin = { BIN(0x05), BIN(0x15) })                                      \
    X(DECR, .name = "decr", TEXT("decr"), .tx = REND_TX_ARITH,              \
      .outcome = REND_OUT_DECR,                                             \
      .route = "decr", .op = REND_OP_DECR, .bext = 20, .bkey = 1,           \
      .bin = { BIN(0x06), BIN(0x16) })                                      \
    X(FLUSH, .name = "flush_all", TEXT("flush_all"), .tx = REND_TX_FLUSH,   \
      .route = "flush", .alias = "flush_all", .op = REND_OP_FLUSH,          \
      .flags = REND_CMD_BARRIER, .count = REND_CNT_FLUSH, .bext = -1,       \
      .bin = { BIN(0x08), BIN(0x18) })                                      \
    X(NOOP, .name = "noop", TEXT("noop"), .tx = REND_TX_NOOP, .op = -1,     \
      .flags = REND_CMD_READ | REND_CMD_LOCAL, .bin = { BIN(0x0a) })        \
    X(VERSION, .name = "version", TEXT("version"), .tx = REND_TX_VERSION,   \
      .op = -1, .flags = REND_CMD_READ | REND_CMD_LOCAL,                    \
      .bin = { BIN(0x0b) })                                                 \
    X(VERBOSITY, .name = "verbosity", TEXT("verbosity"),                    \
      .tx = REND_TX_VERBOSITY, .op = -1, .flags = REND_CMD_LOCAL,           \
      .bext = 4, .bin = { BIN(0x1b) })                                      \
    X(STATS, .name = "stats", TEXT("stats"), .tx = REND_TX_STATS, .op = -1, \
      .flags = REND_CMD_READ | REND_CMD_LOCAL, .bkey = 2,                   \
      .bin = { BIN(0x10) })                                                 \
    X(MEMLIMIT, .name = "cache_memlimit", TEXT("cache_memlimit"),          \
      .tx = REND_TX_MEMLIMIT, .op = -1, .flags = REND_CMD_LOCAL)            \
    X(SHUTDOWN, .name = "shutdown", TEXT("shutdown"),                       \
      .tx = REND_TX_SHUTDOWN, .op = -1, .flags = REND_CMD_LOCAL)            \
    X(QUIT, .name = "quit", TEXT("quit"), .tx = REND_TX_QUIT, .op = -1,     \
      .flags = REND_CMD_LOCAL | REND_CMD_BARRIER,                           \
      .bin = { BIN(0x07), BIN(0x17) })                                      \
    /* meta: each is parsed into the rows in .runs_as (rend_proto_text.c) \
     * and runs, routes and counts as that row */                          \
    X(MG, .name = "mg", TEXT("mg"), .tx = REND_TX_MG, .op = -1,           \
      .flags = REND_CMD_LOCAL, .runs_as = "get gets gat gats")              \
    X(MS, .name = "ms", TEXT("ms"), .tx = REND_TX_MS, .op = -1,           \
      .flags = REND_CMD_LOCAL,                                              \
      .runs_as = "set add replace append prepend cas")                      \
    X(MD, .name = "md", TEXT("md"), .tx = REND_TX_MD, .op = -1,           \
      .flags = REND_CMD_LOCAL, .runs_as = "delete")                         \
    X(MA, .name = "ma", TEXT("ma"), .tx = REND_TX_MA, .op = -1,           \
      .flags = REND_CMD_LOCAL, .runs_as = "incr decr")                      \
    X(MN, .name = "mn", TEXT("mn"), .tx = REND_TX_MN, .op = -1,           \
      .flags = REND_CMD_READ | REND_CMD_LOCAL)                              \
    X(ME, .name = "me", TEXT("me"), .tx = REND_TX_ME, .op = -1,           \
      .flags = REND_CMD_READ | REND_CMD_LOCAL) /* no debug data: EN */      \
    X(REPLY, .name = "(reply)", .op = -1, /* a reply made by a parser */    \
      .flags = REND_CMD_READ | REND_CMD_LOCAL)

enum rend_cmd {
#define REND_CMD_ENUM(e, ...) REND_CMD_##e,
    REND_CMD_MAP(REND_CMD_ENUM)
#undef REND_CMD_ENUM
    REND_CMD__COUNT
};

struct rend_cmd_info {
    const char *name;
    const char *text;
    uint8_t ntext;
    uint8_t tx;          /* enum rend_text_class */
    const char *route;
    const char *alias;
    const char *runs_as;
    int op;
    unsigned flags;
    unsigned count;
    uint8_t outcome;     /* enum rend_outcome_class */
    uint16_t bin[4];
    int8_t bext;
    uint8_t bkey, bval;
};
extern const struct rend_cmd_info rend_cmd_table[REND_CMD__COUNT];

/* The text command for a token, or -1. */
int rend_cmd_by_text(const char *tok, size_t n);

/* What a binary opcode means (from the .bin columns). */
struct rend_bin_op {
    uint8_t valid, cmd, quiet, echo_key;
};
extern struct rend_bin_op rend_cmd_by_opcode[256];

/* The route keys a config may use, in table order, each once; `rend
 * --commands` prints the tables the docs show. */
void rend_cmd_print(FILE *f);

/* A handler op's name (REND_OP_GET -> "get"), static; "?" out of range.
 * /metrics labels and the docs' tables use it. */
const char *rend_op_name(int op);

#endif /* REND_CMD_H */
