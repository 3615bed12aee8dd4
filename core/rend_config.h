/*
 * rend_config.h - a configuration generation: listeners, handler
 * instances and compiled route tables, built from the Lua config by
 * rend_config_load().  Immutable once built; shared by the workers and
 * reference counted so in-flight requests finish on the generation they
 * started on.
 */
#ifndef REND_CONFIG_H
#define REND_CONFIG_H

/* Listeners one config may declare (lua/rend/config.lua has the same). */
#define REND_MAX_LISTENERS 64

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <rend/handler.h>

#include "rend_req.h"

struct rend_hinst;
struct rend_auth;
struct rend_tls_ctx;

enum rend_strategy {
    REND_ST_L1ONLY = 0,   /* L1 only */
    REND_ST_L1L2,         /* L2 is the source of truth, L1 filled on miss */
    REND_ST_L1L2_BATCH,   /* bulk writes: L2, then refresh L1 copies only */
    REND_ST_LUA,          /* a Lua function picks one of the above */
};

struct rend_route {
    uint8_t strategy;     /* enum rend_strategy */
    uint8_t async;        /* some tier may return REND_PENDING */
    struct rend_hinst *l1, *l2;
    int seq;              /* the route's number in its config */
    const char *name;     /* for stats: "l1only", "l1l2", ... */
};

struct rend_prefix_routes {
    char *prefix;
    uint32_t len;
    struct rend_route *by_cmd[REND_CMD__COUNT];
};

struct rend_routes {
    struct rend_route *by_cmd[REND_CMD__COUNT];
    struct rend_prefix_routes *prefixes;  /* longest first */
    unsigned nprefixes;
    uint8_t async;                        /* some route may pend */
    uint8_t may_pipe;                     /* some set may be piped */
};

struct rend_listen_conf {
    char *name;
    char *address;        /* TCP host, or NULL */
    int port;             /* TCP port (0 = ephemeral) */
    char *unix_path;      /* unix socket path, or NULL */
    int unix_mode;
    struct rend_routes routes;
    /* who may use it, and what (rend_auth.h; README "Authentication") */
    struct rend_auth *auth;  /* users of listen{ auth = { file = } } or -Y,
                              * owned; NULL = no authentication */
    uint8_t flush_disabled;  /* listen{ flush = false }: refuse flush_all */
    struct rend_tls_ctx *tls; /* tls = {...}: owned (rend_tls.h), or NULL */
};

struct rend_gen {
    uint64_t id;
    int refs;
    struct rend_listen_conf *listeners;
    unsigned nlisteners;
    struct rend_hinst **hinsts;
    unsigned nhinsts;
    struct rend_route **routes;   /* every route object, for freeing */
    unsigned nroutes;
    /* settings from the config (command line wins where given) */
    unsigned threads;
    unsigned max_conns;
    uint64_t item_size_max;
    unsigned idle_timeout, read_timeout, conn_buffer_mb; /* 0 = default */
    struct rend_route **by_seq;   /* routes by number (route_fn results) */
    unsigned nseq;
    uint8_t has_lua;              /* some route is a route_fn */
    char *source;                 /* file name, or "(embedded)" */
    char *lua_text;               /* the config text, for worker VMs */
    /* admin{} (rend_admin.c); admin_port -1 when not declared */
    char *admin_address;
    int admin_port;
    int64_t loaded_at;            /* rend_now() when it was built */
};

/* Find the route for command cmd on key (prefix routes first). */
static inline const struct rend_route *
rend_routes_find(const struct rend_routes *rs, int cmd, const char *key,
                 uint32_t nkey)
{
    for (unsigned i = 0; i < rs->nprefixes; i++) {
        const struct rend_prefix_routes *p = &rs->prefixes[i];
        if (nkey >= p->len && __builtin_memcmp(key, p->prefix, p->len) == 0) {
            return p->by_cmd[cmd];
        }
    }
    return rs->by_cmd[cmd];
}

/* Load a config: `path` (a file) or, when NULL, the embedded default.
 * `prev` (may be NULL) donates handler instances whose plugin and options
 * are unchanged.  On failure returns NULL and writes "file:line: reason"
 * into err. */
struct rend_gen *rend_config_load(const char *path, const struct rend_gen *prev,
                                  char *err, size_t errlen);
/* 1 (err set) when the opened config f at path may be rewritten by other
 * users (world-writable, or in a world-writable non-sticky directory). */
int rend_config_file_unsafe(FILE *f, const char *path, char *err,
                            size_t errlen);
/* Load from a Lua text (tests, rend-compat flags). */
struct rend_gen *rend_config_load_string(const char *text, const char *name,
                                         const struct rend_gen *prev,
                                         char *err, size_t errlen);
/* A new generation number, for a generation built without the compiler
 * (rend_server.c's C-built configs). */
uint64_t rend_gen_next_id(void);
void rend_gen_get(struct rend_gen *g);
void rend_gen_put(struct rend_gen *g);

/* Run config text in L (a fresh state with the standard libraries);
 * leaves the collected result table on the stack.  0, or -1 with err. */
struct lua_State;
int rend_config_eval(struct lua_State *L, const char *text, const char *name,
                     char *err, size_t errlen);

/* Text of an embedded file (conf/rend.lua, rend/config.lua), or NULL. */
const char *rend_embedded(const char *name);

#endif /* REND_CONFIG_H */
