/*
 * pt_util.h - helpers shared by the persistence tests: a rend instance
 * with its own data directory that survives restarts, and the
 * deterministic key/value/flags every test writes.  The client is
 * tests/lib's rend_cli.
 *
 * Everything here is for one test thread; nothing is thread-safe.
 */
#ifndef PT_UTIL_H
#define PT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "rend_client.h"
#include "rend_server.h"

/* One rend under test.  data is a private temp dir exported as REND_DATA
 * to every rend started from it; it outlives restarts and is removed by
 * pt_inst_cleanup. */
struct pt_inst {
    struct rend_srv srv;
    char conf[512];  /* absolute path of the config */
    char data[64];   /* REND_DATA */
    int batch_port;  /* the second listener (L1/L2 batch) */
};

/* 1 when plugins/.libs/rend_NAME.so exists (the plugin was built). */
int pt_have_plugin(const char *name);

/* Fill i: config tests/persist/conf/<conf_name> under $REND_SRCDIR (or
 * ".."), a new data dir.  Returns 0 or -1. */
int pt_inst_init(struct pt_inst *i, const char *conf_name);

/* Start rend on i's config and data dir with 2 worker threads; reads both
 * listener ports.  Returns 0 or -1 (with the reason on stderr). */
int pt_inst_start(struct pt_inst *i);

/* SIGTERM and wait (at most 20 s); returns the exit code (0 = clean). */
int pt_inst_stop(struct pt_inst *i);

/* SIGKILL the running rend and reap it. */
void pt_inst_kill9(struct pt_inst *i);

/* Stop rend if running and remove the data dir. */
void pt_inst_cleanup(struct pt_inst *i);

/* Run `rend --verify l2 --config CONF` on the stopped instance; returns its
 * exit code, *err (may be NULL) gets its stderr (caller frees). */
int pt_inst_verify(struct pt_inst *i, char **err);

/* Connect c (tests/lib/rend_client.h: send, read, get, stat) to the L1/L2
 * listener (batch = 0) or the batch one (batch = 1).  Returns 0 or -1;
 * close with rend_cli_close. */
int pt_conn_open(struct rend_cli *c, const struct pt_inst *i, int batch);

/* Deterministic test data: key "pt:<n>", flags and a value derived from
 * (n, version) whose length is 1..max_len bytes. */
int pt_key(char *out, size_t cap, uint32_t n);
uint32_t pt_flags(uint32_t n, uint32_t version);
size_t pt_value(char *out, size_t max_len, uint32_t n, uint32_t version);

/* Wall clock in unix seconds (what expiry is measured in). */
int64_t pt_unix_now(void);

/* Sleep until rend_now_ms() reaches t_ms. */
void pt_sleep_until(int64_t t_ms);

/* The q-quantile (0..1) of n latencies (sorts them in place). */
double pt_quantile(double *v, size_t n, double q);

#endif
