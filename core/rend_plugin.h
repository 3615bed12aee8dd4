/*
 * rend_plugin.h - load handler plugins (dlopen) and make handler instances.
 *
 * A plugin is refused, with one log line naming the file and the reason,
 * when dlopen fails (RTLD_NOW: a missing symbol fails here), when it does
 * not export rend_handler_v1, or when its ABI major, minor, size or build
 * signature does not match this core.  No plugin code runs before these
 * checks pass.
 */
#ifndef REND_PLUGIN_H
#define REND_PLUGIN_H

#include <stddef.h>
#include <rend/handler.h>

struct rend_plugin;

/* One configured instance of a plugin.  Owned by the config generations
 * that use it (refs); freed by rend_hinst_put when the last one drops it. */
struct rend_hinst {
    char *name;                  /* instance name, for logs and stats */
    char *plugin_name;
    char *identity;              /* plugin + options; equal = reusable */
    void *dl;                    /* dlopen handle */
    struct rend_handler h;       /* validated copy of the descriptor */
    void *inst;                  /* the plugin's instance */
    void **tctx;                 /* per worker; NULL until thread_init */
    unsigned nthreads;
    int refs;
    int line;                    /* config line that declared it */
};

/* Directory plugins are loaded from (set once at start). */
void rend_plugin_set_dir(const char *dir);
const char *rend_plugin_dir(void);

/* Load `plugin` (name or path) and create an instance with opts.
 * Returns NULL and writes a one-line reason into err on failure.
 * The caller owns the result (refs = 1). */
struct rend_hinst *rend_hinst_new(const char *plugin, const char *name,
                                  const struct rend_kv *opts, size_t nopts,
                                  char *err, size_t errlen);
/* The same for a handler linked into the program (no dlopen): d is
 * checked as a plugin's descriptor is and copied; d's code must stay
 * loaded while the instance lives. */
struct rend_hinst *rend_hinst_new_linked(const struct rend_handler *d,
                                         const char *name,
                                         const struct rend_kv *opts,
                                         size_t nopts, char *err,
                                         size_t errlen);
/* Size the per-worker context table; on the main thread, before any
 * worker may call rend_hinst_thread_init (workers then only write their
 * own slot).  0 or a negative status. */
int rend_hinst_prepare(struct rend_hinst *hi, unsigned nthreads);
/* Per-worker init/exit; run on worker thread `thr->id`. */
int rend_hinst_thread_init(struct rend_hinst *hi, const struct rend_thread *thr);
void rend_hinst_thread_exit(struct rend_hinst *hi, unsigned id);
void rend_hinst_get(struct rend_hinst *hi);
/* Drop a reference; the last one destroys the instance.  Every worker
 * must have run rend_hinst_thread_exit before. */
void rend_hinst_put(struct rend_hinst *hi);

/* Validate the descriptor at `path` without creating anything (tests).
 * 0 on success, -1 with err filled. */
int rend_plugin_check(const char *path, char *err, size_t errlen);

/* The host API handed to plugins. */
extern const struct rend_host rend_host_api;

#endif /* REND_PLUGIN_H */
