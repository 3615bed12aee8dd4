/* rend_plugin.c - plugin loader and handler instances. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_log.h"
#include "rend_plugin.h"

#ifndef REND_PLUGIN_DIR
#define REND_PLUGIN_DIR "/usr/local/lib/rend"
#endif

static char *plugin_dir;

void
rend_plugin_set_dir(const char *dir)
{
    free(plugin_dir);
    plugin_dir = dir ? strdup(dir) : NULL;
}

/* Run from a build tree (core/rend) before `make install`: use the
 * plugins built beside it. */
static const char *
build_tree_dir(void)
{
    static char dir[4200];
    char exe[4000], probe[4300];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0) {
        return NULL;
    }
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL) {
        return NULL;
    }
    *slash = '\0';
    /* core/rend, or core/.libs/rend (libtool's real binary, linked to
     * the in-tree librend) */
    for (int up = 1; up <= 2; up++) {
        snprintf(dir, sizeof(dir), "%s/%splugins/.libs", exe,
                 up == 1 ? "../" : "../../");
        snprintf(probe, sizeof(probe), "%s/rend_inmem.so", dir);
        if (access(probe, R_OK) == 0) {
            return dir;
        }
    }
    return NULL;
}

const char *
rend_plugin_dir(void)
{
    const char *env, *bt;
    char probe[4200];

    if (plugin_dir != NULL) {
        return plugin_dir;
    }
    env = getenv("REND_PLUGIN_DIR");
    if (env && *env) {
        return env;
    }
    snprintf(probe, sizeof(probe), "%s/rend_inmem.so", REND_PLUGIN_DIR);
    if (access(probe, R_OK) != 0 && (bt = build_tree_dir()) != NULL) {
        return bt;
    }
    return REND_PLUGIN_DIR;
}

/* Smallest descriptor a v1.x plugin can have: everything up to walk. */
#define DESC_MIN_SIZE offsetof(struct rend_handler, flush)

/* The descriptor checks, for a plugin (what = its path) or a handler
 * linked into the program; on success *out holds a copy of d. */
static int
check_desc(const char *what, const struct rend_handler *d,
           struct rend_handler *out, char *err, size_t errlen)
{
    if (d->abi_major != REND_ABI_MAJOR) {
        snprintf(err, errlen,
                 "plugin %s has ABI %u.%u, this rend needs %u.x (x <= %u)",
                 what, d->abi_major, d->abi_minor, REND_ABI_MAJOR,
                 REND_ABI_MINOR);
        return -1;
    }
    if (d->abi_minor > REND_ABI_MINOR) {
        snprintf(err, errlen,
                 "plugin %s has ABI %u.%u, newer than this rend's %u.%u",
                 what, d->abi_major, d->abi_minor, REND_ABI_MAJOR,
                 REND_ABI_MINOR);
        return -1;
    }
    if (d->size < DESC_MIN_SIZE || d->size > 65536) {
        snprintf(err, errlen,
                 "plugin %s has a descriptor of %u bytes, expected %zu",
                 what, d->size, sizeof(struct rend_handler));
        return -1;
    }
    if (d->build_sig == NULL || strcmp(d->build_sig, REND_BUILD_SIG) != 0) {
        snprintf(err, errlen, "plugin %s was built for \"%s\", this rend is \"%s\"",
                 what, d->build_sig ? d->build_sig : "(none)", REND_BUILD_SIG);
        return -1;
    }
    if (d->name == NULL || d->create == NULL) {
        snprintf(err, errlen, "plugin %s lacks a name or a create function",
                 what);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out, d, d->size < sizeof(*out) ? d->size : sizeof(*out));
    return 0;
}

/* dlopen + all checks; on success *dl and *out hold the plugin. */
static int
load(const char *path, void **dl, struct rend_handler *out, char *err,
     size_t errlen)
{
    const struct rend_handler *d;
    void *h;

    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(err, errlen, "cannot load plugin %s: %s", path, dlerror());
        return -1;
    }
    d = dlsym(h, REND_HANDLER_SYMBOL);
    if (d == NULL) {
        snprintf(err, errlen, "plugin %s does not export %s", path,
                 REND_HANDLER_SYMBOL);
        goto fail;
    }
    if (check_desc(path, d, out, err, errlen) != 0) {
        goto fail;
    }
    *dl = h;
    return 0;
fail:
    dlclose(h);
    return -1;
}

static char *
plugin_path(const char *plugin)
{
    const char *dir = rend_plugin_dir();
    size_t n;
    char *p;

    if (strchr(plugin, '/') != NULL) {
        return strdup(plugin);
    }
    n = strlen(dir) + strlen(plugin) + 16;
    p = malloc(n);
    if (p != NULL) {
        snprintf(p, n, "%s/rend_%s.so", dir, plugin);
    }
    return p;
}

int
rend_plugin_check(const char *path, char *err, size_t errlen)
{
    struct rend_handler d;
    void *dl;

    if (load(path, &dl, &d, err, errlen) != 0) {
        return -1;
    }
    dlclose(dl);
    return 0;
}

static char *
make_identity(const char *plugin, const struct rend_kv *opts, size_t n)
{
    size_t len = strlen(plugin) + 1, off;
    char *s;

    for (size_t i = 0; i < n; i++) {
        len += strlen(opts[i].key) + strlen(opts[i].value) + 2;
    }
    s = malloc(len + 1);
    if (s == NULL) {
        return NULL;
    }
    off = (size_t)sprintf(s, "%s", plugin);
    for (size_t i = 0; i < n; i++) {
        off += (size_t)sprintf(s + off, "\n%s=%s", opts[i].key, opts[i].value);
    }
    return s;
}

/* Second half of making an instance: hi->h (and hi->dl) are set; name
 * it and run the handler's create().  Frees hi on failure. */
static struct rend_hinst *
hinst_create(struct rend_hinst *hi, const char *plugin, const char *name,
             const struct rend_kv *opts, size_t nopts, char *err,
             size_t errlen)
{
    char perr[512];
    int rc;

    hi->name = strdup(name);
    hi->plugin_name = strdup(plugin);
    hi->identity = make_identity(plugin, opts, nopts);
    hi->refs = 1;
    if (!hi->name || !hi->plugin_name || !hi->identity) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    perr[0] = '\0';
    rc = hi->h.create(&rend_host_api, hi->name, opts, nopts, &hi->inst, perr,
                      sizeof(perr));
    if (rc != 0) {
        snprintf(err, errlen, "handler %s (plugin %s): %s", name, plugin,
                 perr[0] ? perr : rend_strerror(rc));
        hi->inst = NULL;
        goto fail;
    }
    rend_log(REND_LOG_INFO, "handler %s: plugin %s %s loaded", name,
             hi->h.name, hi->h.version ? hi->h.version : "");
    return hi;
fail:
    if (hi->dl != NULL) {
        dlclose(hi->dl);
    }
    free(hi->name);
    free(hi->plugin_name);
    free(hi->identity);
    free(hi);
    return NULL;
}

struct rend_hinst *
rend_hinst_new(const char *plugin, const char *name, const struct rend_kv *opts,
               size_t nopts, char *err, size_t errlen)
{
    struct rend_hinst *hi;
    char *path;

    hi = calloc(1, sizeof(*hi));
    path = plugin_path(plugin);
    if (hi == NULL || path == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (load(path, &hi->dl, &hi->h, err, errlen) != 0) {
        goto fail;
    }
    free(path);
    return hinst_create(hi, plugin, name, opts, nopts, err, errlen);
fail:
    free(path);
    free(hi);
    return NULL;
}

struct rend_hinst *
rend_hinst_new_linked(const struct rend_handler *d, const char *name,
                      const struct rend_kv *opts, size_t nopts, char *err,
                      size_t errlen)
{
    struct rend_hinst *hi = calloc(1, sizeof(*hi));
    char label[256];

    if (hi == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(label, sizeof(label), "(linked %s)",
             d->name != NULL ? d->name : "handler");
    if (check_desc(label, d, &hi->h, err, errlen) != 0) {
        free(hi);
        return NULL;
    }
    return hinst_create(hi, hi->h.name, name, opts, nopts, err, errlen);
}

int
rend_hinst_prepare(struct rend_hinst *hi, unsigned nthreads)
{
    if (hi->tctx != NULL) {
        return hi->nthreads >= nthreads ? 0 : REND_EINVAL;
    }
    hi->tctx = calloc(nthreads, sizeof(void *));
    if (hi->tctx == NULL) {
        return REND_ENOMEM;
    }
    hi->nthreads = nthreads;
    return 0;
}

int
rend_hinst_thread_init(struct rend_hinst *hi, const struct rend_thread *thr)
{
    void *t = NULL;
    int rc;

    if (hi->tctx == NULL || thr->id >= hi->nthreads) {
        return REND_EINTERNAL; /* rend_hinst_prepare was not called */
    }
    if (hi->h.thread_init == NULL) {
        hi->tctx[thr->id] = hi->inst;
        return 0;
    }
    rc = hi->h.thread_init(hi->inst, thr, &t);
    if (rc != 0) {
        rend_log(REND_LOG_ERR, "handler %s: thread_init failed: %s", hi->name,
                 rend_strerror(rc));
        return rc;
    }
    hi->tctx[thr->id] = t;
    return 0;
}

void
rend_hinst_thread_exit(struct rend_hinst *hi, unsigned id)
{
    if (hi->tctx == NULL || id >= hi->nthreads) {
        return;
    }
    if (hi->h.thread_exit != NULL) {
        hi->h.thread_exit(hi->inst, hi->tctx[id]);
    }
    hi->tctx[id] = NULL;
}

void
rend_hinst_get(struct rend_hinst *hi)
{
    __atomic_add_fetch(&hi->refs, 1, __ATOMIC_ACQ_REL);
}

void
rend_hinst_put(struct rend_hinst *hi)
{
    if (hi == NULL || __atomic_sub_fetch(&hi->refs, 1, __ATOMIC_ACQ_REL) > 0) {
        return;
    }
    rend_log(REND_LOG_INFO, "handler %s: destroyed", hi->name);
    if (hi->h.destroy != NULL && hi->inst != NULL) {
        hi->h.destroy(hi->inst);
    }
    /* The plugin's code stays mapped: a worker may still be returning
     * through it; dlclose would make that unsafe for little gain. */
    free(hi->tctx);
    free(hi->name);
    free(hi->plugin_name);
    free(hi->identity);
    free(hi);
}
