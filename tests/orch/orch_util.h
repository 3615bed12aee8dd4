/*
 * orch_util.h - helpers for the orchestration and reload tests: start the
 * real rend on a config (file or text) in a private temp dir, learn every
 * listener's port, and speak text or binary memcached through one small
 * client API whose outcomes are normalised so a test reads the same for
 * both protocols.
 *
 * Everything here is for one test thread, except where a function says
 * otherwise; a struct orch_conn must not be shared between threads.
 */
#ifndef ORCH_UTIL_H
#define ORCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "rend_client.h"
#include "rend_server.h"

#define ORCH_MAX_PORTS 8
#define ORCH_IO_MS 5000

/* A running rend plus its temp dir ($ORCH_DIR for its config). */
struct orch {
    struct rend_srv srv;
    char dir[64];        /* private temp dir: data, config file */
    char conf[128];      /* the config file rend was started on */
    int ports[ORCH_MAX_PORTS];
    int nports;
};

/* Normalised outcomes.  Binary add-exists (0x02) and replace-missing
 * (0x01) are mapped to ORCH_NOT_STORED, as text says NOT_STORED. */
enum {
    ORCH_OK = 0,        /* STORED, DELETED, TOUCHED, hit, a number, OK */
    ORCH_MISS,          /* get family: no item */
    ORCH_NOT_STORED,
    ORCH_EXISTS,
    ORCH_NOT_FOUND,
    ORCH_NON_NUMERIC,
    ORCH_SERVER_ERROR,  /* SERVER_ERROR ... / binary status >= 0x80 */
    ORCH_BAD,           /* anything unexpected, a timeout, a close */
};

/* One client connection; bin selects the binary protocol. */
struct orch_conn {
    int fd;
    int bin;
    uint32_t opaque;
    char last[256];     /* the last reply line / binary error text */
    uint64_t last_cas;  /* binary: the cas of the last reply */
};

/* What a get-family reply carried. */
struct orch_item {
    char value[512];
    uint32_t nvalue;
    uint32_t flags;
    uint64_t cas;
    int64_t exptime;    /* GetE only: absolute unix seconds, 0 = never */
};

/* Make the temp dir, export ORCH_DIR (the dir) and ORCH_FAULT_SO (the
 * fault plugin's path) for the config to read, then start rend on the
 * config file `conf` with `-t 2` ($ORCH_THREADS overrides) and the NULL-terminated extra args.
 * Returns 0 or -1 (message on stderr).  Stop with orch_stop. */
int orch_start_file(struct orch *o, const char *conf,
                    const char *const *extra);

/* As orch_start_file, on a config given as text (written to DIR/conf.lua,
 * which orch_write_conf may later rewrite before a SIGHUP). */
int orch_start_text(struct orch *o, const char *text);

/* Replace the config file rend was started on with `text` (atomically,
 * via rename).  0 or -1. */
int orch_write_conf(const struct orch *o, const char *text);

/* Copy the file at path into rend's config file (atomically).  0 or -1. */
int orch_copy_conf(const struct orch *o, const char *path);

/* Stop rend (SIGTERM, at most 5 s) and remove the temp dir; returns
 * rend's exit code as rend_srv_stop.  keep_dir=1 keeps DIR (for a
 * restart on the same data). */
int orch_stop(struct orch *o, int keep_dir);

/* Run suite s (CK_NORMAL) with every temp dir of its tests under one
 * base dir ($ORCH_BASE), removed afterwards with the rend_server dirs
 * passed to orch_guard_srv, also when a failed test skipped its
 * teardown (Check ends it with _exit).  Returns the number of failed
 * tests; frees s.  Main thread, once per program. */
int orch_run(Suite *s);

/* Have orch_run remove started server s's dir (orch_start_* does this
 * for its own servers).  Any test thread. */
void orch_guard_srv(const struct rend_srv *s);

/* Absolute path of tests/orch/conf/NAME in buf ($REND_SRCDIR/tests/...,
 * default ".."). */
const char *orch_conf_path(char *buf, size_t cap, const char *name);

/* Connect to listener number idx (port-file order); 0 or -1. */
int orch_connect(const struct orch *o, int idx, int bin,
                 struct orch_conn *c);
void orch_close(struct orch_conn *c);

/* Storage commands: "set" "add" "replace" "append" "prepend" "cas". */
int orch_store(struct orch_conn *c, const char *cmd, const char *key,
               const char *value, uint32_t flags, int64_t exptime,
               uint64_t cas);

/* Reads: "get" "gets" "gat" "gats" (text), "get" "gat" "gete" (binary).
 * exptime is for gat/gats.  it may be NULL. */
int orch_get(struct orch_conn *c, const char *cmd, const char *key,
             int64_t exptime, struct orch_item *it);

int orch_delete(struct orch_conn *c, const char *key);
int orch_touch(struct orch_conn *c, const char *key, int64_t exptime);

/* "incr" / "decr"; *out gets the new number.  Binary only: initial and
 * create (create=0 sends expiry 0xffffffff, i.e. no auto-create). */
int orch_arith(struct orch_conn *c, const char *cmd, const char *key,
               uint64_t delta, uint64_t *out);
int orch_arith_init(struct orch_conn *c, const char *cmd, const char *key,
                    uint64_t delta, uint64_t initial, uint64_t *out);

int orch_flush(struct orch_conn *c);

/* Binary only: "set" "append" "prepend" "delete" "incr" "decr" (delta 1,
 * no auto-create) carrying request cas `cas`; the reply's cas is in
 * c->last_cas.  ORCH_BAD on a text connection. */
int orch_bin_cas(struct orch_conn *c, const char *cmd, const char *key,
                 const char *value, uint64_t cas);

/* Shorthand: get `key` on listener idx (text) and compare its value; 1
 * when the value is `value`, 0 when it is absent, -1 otherwise. */
int orch_peek(const struct orch *o, int idx, const char *key,
              const char *value);

/* A field of `stats` (group NULL) or `stats GROUP` read on listener 0;
 * -1 when missing. */
int64_t orch_stat(const struct orch *o, const char *group, const char *name);

/* The current unix time in seconds. */
int64_t orch_unix_now(void);

/* Name of an outcome, for messages. */
const char *orch_res_name(int res);

#endif
