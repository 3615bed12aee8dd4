/*
 * rend_testhost.h - a struct rend_host for tests, plus a plugin loader.
 *
 * A struct rend_th is one loaded handler instance, thread-initialised as
 * worker 0 of 1 on its own libev loop.  One test thread drives it: every
 * rend_th_* call on a given rend_th must come from the same thread (the
 * plugin may still complete ops from its own threads through host->done).
 * The fake clock is process-wide.
 */
#ifndef REND_TESTHOST_H
#define REND_TESTHOST_H

#include <stddef.h>
#include <stdint.h>

#include <rend/handler.h>

struct rend_th;

/* Load REND_PLUGIN_DIR/rend_<plugin>.so (or `plugin` itself when it holds a
 * '/'; when REND_PLUGIN_DIR has no such file, REND_TEST_PLUGIN_DIR is tried
 * too), check abi/size/build_sig, create() an instance with opts (a
 * NULL-terminated key,value,key,value,... list; NULL = none), and
 * thread_init it as worker 0 of 1 on a fresh ev loop.  Returns NULL and a
 * message in err on failure.  The caller owns the result (rend_th_close). */
struct rend_th *rend_th_open(const char *plugin, const char *const *opts,
                             char *err, size_t errlen);

/* Run one op on the calling thread: ops[op->code](tctx, op).  On
 * REND_PENDING, calls the plugin's flush (if any) and drives the loop until
 * host->done fires (from any thread).  Returns the final status,
 * REND_ENOTSUP when the op slot is NULL, REND_ETIMEDOUT after 10 s.  The op
 * stays owned by the caller (free out_value with rend_th_op_fini). */
int rend_th_run(struct rend_th *th, struct rend_op *op);

/* Issue n ops back to back (like a multi-get), then flush, then wait for
 * every pending one; statuses[i] receives op i's final status. */
void rend_th_run_many(struct rend_th *th, struct rend_op **ops, size_t n,
                      int *statuses);

/* Fake clock behind host->now: 0 = real time (the default).  Any thread. */
void rend_th_set_now(int64_t unix_seconds);
int64_t rend_th_now(void);

/* The loaded descriptor and the instance (both owned by th). */
const struct rend_handler *rend_th_handler(struct rend_th *th);
void *rend_th_instance(struct rend_th *th);

/* The instance's stats as "name value\n" lines; malloc'd, caller frees.
 * Returns an empty string when the plugin has no stats(). */
char *rend_th_stats(struct rend_th *th);

/* Parse one stat out of rend_th_stats' output: 0 and *out on success, -1
 * when the name is absent or its value is not an unsigned number. */
int rend_th_stat_u64(const char *stats, const char *name, uint64_t *out);

/* thread_exit, destroy, close the loop, dlclose; th is freed.  NULL ok. */
void rend_th_close(struct rend_th *th);

/* Zero op and fill it: key is a C string (NULL = empty key; set op->key and
 * op->nkey by hand for binary keys), value/nvalue are stored as given.
 * The op points at key and value, which the caller keeps alive. */
void rend_th_op_init(struct rend_op *op, int code, const char *key,
                     const char *value, size_t nvalue, uint32_t flags,
                     int64_t exptime);
/* Free op->out_value (allocated by the test host's value_alloc, always
 * NUL-terminated for convenience) and clear it.  Idempotent. */
void rend_th_op_fini(struct rend_op *op);

#endif /* REND_TESTHOST_H */
