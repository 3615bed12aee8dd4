/*
 * rend_server.c - librend's public API (rend/server.h): a server built
 * from C calls or from a Lua config, compiled to a config generation
 * (rend_config.h) and run: listeners and accept on the owner's thread,
 * connections on the worker threads, signals, reload, shutdown.  The
 * rend program (rend_main.c) is its command line over these calls.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <ev.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include <rend/server.h>

#include "rend_admin.h"
#include "rend_cmd.h"
#include "rend_config.h"
#include "rend_exec.h"
#include "rend_hist.h"
#include "rend_log.h"
#include "rend_plugin.h"
#include "rend_server_int.h"
#include "rend_settings.h"
#include "rend_sock.h"
#include "rend_stats.h"
#include "rend_util.h"
#include "rend_worker.h"

#define DEFAULT_MAX_CONNS 16384
#define MAX_EXTRA_ADDRS 16
#define MAX_PREFIXES 4096

struct rend_settings rend_settings = {
    .item_size_max = 1024 * 1024,
    .version = PACKAGE_VERSION, /* major.minor.patch, as clients parse it */
};

extern uint64_t rend_config_reloads;
extern uint64_t rend_config_reload_failures;

struct rend_instance {
    rend_server *owner;
    struct rend_hinst *hi; /* one reference, the server's */
};

/* A route as the C calls describe it (set = 0: not given). */
struct route_spec {
    uint8_t set, kind;
    rend_instance *l1, *l2;
};

struct table_spec {
    struct route_spec def;
    struct route_spec cmd[REND_CMD__COUNT];
};

struct prefix_spec {
    char *prefix;
    struct table_spec t;
};

struct listener_spec {
    char *address;
    int port;
    char *unix_path;
    int unix_mode;
    struct table_spec top;
    struct prefix_spec *prefixes;
    unsigned nprefixes;
};

/* One listening socket (a listener with several -l addresses has one
 * per address). */
struct sock {
    int fd;
    unsigned index;
    ev_io io;
    char *unix_path;
};

struct rend_server {
    pthread_t owner;
    pthread_mutex_t mu;        /* the C spec; the reload hand-off */
    pthread_cond_t cv;
    /* the C description (mu) */
    struct listener_spec *ls;
    unsigned nls;
    rend_instance **insts;
    unsigned ninsts;
    /* or a Lua config */
    int lua;
    char *config_path;         /* NULL: text (or the embedded default) */
    char *config_text, *config_name;
    struct rend_gen *loaded;   /* compiled by load_config, until start */
    /* settings */
    unsigned threads, max_conns;
    uint64_t item_max;
    char *port_file;
    int signals;
    char *first_addrs[MAX_EXTRA_ADDRS + 1]; /* rend -l */
    unsigned nfirst;
    int first_port;                         /* rend -p; -1 = not given */
    int first_all_tcp;                      /* Rend flag mode: -l for all */
    /* running (owner thread) */
    struct ev_loop *loop;
    ev_async stop_w, reload_w;
    ev_signal sig_term, sig_int, sig_hup;
    int stop_req;              /* atomic */
    int started, ran, in_run, sigs_on;
    struct rend_gen *current;
    struct sock socks[REND_MAX_LISTENERS + MAX_EXTRA_ADDRS];
    unsigned nsocks;
    int ports[REND_MAX_LISTENERS];
    unsigned nports;
    int admin_port;
    int workers_up;
    /* a reload asked for from another thread (mu) */
    int reload_busy, reload_done, reload_rc;
    char reload_err[1024];
};

static rend_server *the_server;  /* the one server (rend_admin.c uses it) */
static __thread char tl_err[1024];

static int
fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the calling thread's error text; returns rc. */
static int
fail(int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tl_err, sizeof(tl_err), fmt, ap);
    va_end(ap);
    return rc;
}

/* A missing argument is most often the result of an earlier failed call
 * (a NULL instance, a negative listener): keep that call's reason in the
 * text so a chain of calls checked once still says what went wrong. */
static int
failed_arg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
failed_arg(const char *fmt, ...)
{
    char prev[sizeof(tl_err)], now[512];
    va_list ap;

    snprintf(prev, sizeof(prev), "%s", tl_err);
    va_start(ap, fmt);
    vsnprintf(now, sizeof(now), fmt, ap);
    va_end(ap);
    if (prev[0] != '\0') {
        return fail(REND_EINVAL, "%s (after: %s)", now, prev);
    }
    return fail(REND_EINVAL, "%s", now);
}

const char *
rend_server_error(const rend_server *s)
{
    (void)s;
    return tl_err;
}

static void
notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

static void
on_stop_async(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static int do_reload(rend_server *s, struct rend_buf *out);

/* A reload another thread asked for, run here on the owner's loop. */
static void
on_reload_async(struct ev_loop *loop, ev_async *w, int revents)
{
    rend_server *s = w->data;
    struct rend_buf out = { 0 };
    int rc;

    (void)loop;
    (void)revents;
    pthread_mutex_lock(&s->mu);
    if (!s->reload_busy || s->reload_done) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    pthread_mutex_unlock(&s->mu);
    rc = do_reload(s, &out);
    pthread_mutex_lock(&s->mu);
    s->reload_rc = rc;
    snprintf(s->reload_err, sizeof(s->reload_err), "%s",
             out.p != NULL ? out.p : "");
    s->reload_done = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    rend_buf_free(&out);
}

rend_server *
rend_server_new(void)
{
    rend_server *s = calloc(1, sizeof(*s));
    rend_server *none = NULL;

    if (s == NULL) {
        fail(REND_ENOMEM, "out of memory");
        return NULL;
    }
    if (!__atomic_compare_exchange_n(&the_server, &none, s, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        free(s);
        fail(REND_EBUSY, "a rend_server already exists in this process "
             "(one at a time)");
        return NULL;
    }
    s->loop = ev_default_loop(EVFLAG_AUTO);
    if (s->loop == NULL) {
        __atomic_store_n(&the_server, NULL, __ATOMIC_RELEASE);
        free(s);
        fail(REND_EINTERNAL, "cannot create the event loop");
        return NULL;
    }
    s->owner = pthread_self();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->first_port = -1;
    s->admin_port = -1;
    ev_async_init(&s->stop_w, on_stop_async);
    s->stop_w.data = s;
    ev_async_start(s->loop, &s->stop_w);
    ev_async_init(&s->reload_w, on_reload_async);
    s->reload_w.data = s;
    ev_async_start(s->loop, &s->reload_w);
    rend_log_init();
    rend_clock_tick();
    if (rend_settings.started == 0) {
        rend_settings.started = rend_now();
    }
    tl_err[0] = '\0';
    return s;
}

/* Check s (and that it is the live one). */
static int
bad_server(const rend_server *s)
{
    if (s == NULL || s != __atomic_load_n(&the_server, __ATOMIC_ACQUIRE)) {
        return fail(REND_EINVAL, "no server (NULL or destroyed)");
    }
    return 0;
}

static int
before_start(const rend_server *s, const char *what)
{
    if (bad_server(s) != 0) {
        return REND_EINVAL;
    }
    if (s->started) {
        return fail(REND_EINVAL, "%s: only before rend_server_start", what);
    }
    return 0;
}

int
rend_server_set_threads(rend_server *s, unsigned n)
{
    if (before_start(s, "set_threads") != 0) {
        return REND_EINVAL;
    }
    if (n == 0 || n > 256) {
        return fail(REND_EINVAL, "bad thread count: %u (1..256)", n);
    }
    s->threads = n;
    return 0;
}

int
rend_server_set_max_conns(rend_server *s, unsigned n)
{
    if (before_start(s, "set_max_conns") != 0) {
        return REND_EINVAL;
    }
    if (n == 0 || n > 1048576) {
        return fail(REND_EINVAL, "bad connection limit: %u (1..1048576)", n);
    }
    s->max_conns = n;
    return 0;
}

int
rend_server_set_item_size_max(rend_server *s, uint64_t bytes)
{
    if (before_start(s, "set_item_size_max") != 0) {
        return REND_EINVAL;
    }
    if (bytes < 1024 || bytes > 1024ULL * 1024 * 1024) {
        return fail(REND_EINVAL, "bad item size: %llu (1k to 1g)",
                    (unsigned long long)bytes);
    }
    s->item_max = bytes;
    return 0;
}

int
rend_server_set_plugin_dir(rend_server *s, const char *dir)
{
    if (before_start(s, "set_plugin_dir") != 0) {
        return REND_EINVAL;
    }
    if (dir != NULL && *dir == '\0') {
        return fail(REND_EINVAL, "empty plugin directory");
    }
    rend_plugin_set_dir(dir);
    return 0;
}

int
rend_server_set_log_level(rend_server *s, int level)
{
    if (bad_server(s) != 0) {
        return REND_EINVAL;
    }
    if (level < REND_LOG_ERR || level > REND_LOG_DEBUG) {
        return fail(REND_EINVAL, "bad log level %d (%d..%d)", level,
                    REND_LOG_ERR, REND_LOG_DEBUG);
    }
    rend_log_level = level;
    return 0;
}

int
rend_server_set_port_file(rend_server *s, const char *path)
{
    char *p = NULL;

    if (before_start(s, "set_port_file") != 0) {
        return REND_EINVAL;
    }
    if (path != NULL && (*path == '\0' || strlen(path) > 4000)) {
        return fail(REND_EINVAL, "bad port file name");
    }
    if (path != NULL && (p = strdup(path)) == NULL) {
        return fail(REND_ENOMEM, "out of memory");
    }
    free(s->port_file);
    s->port_file = p;
    return 0;
}

int
rend_server_handle_signals(rend_server *s, int on)
{
    if (before_start(s, "handle_signals") != 0) {
        return REND_EINVAL;
    }
    s->signals = on != 0;
    return 0;
}

/* ---- the C description ---- */

static int
c_allowed(rend_server *s, const char *what)
{
    if (bad_server(s) != 0) {
        return REND_EINVAL;
    }
    if (s->lua) {
        return fail(REND_EINVAL, "%s: this server's config comes from Lua "
                    "(rend_server_load_config)", what);
    }
    return 0;
}

static int
add_listener(rend_server *s, const char *address, int port,
             const char *unix_path, int mode)
{
    struct listener_spec *n, *l;
    char *a = NULL, *u = NULL;

    if (s->nls >= REND_MAX_LISTENERS) {
        return fail(REND_EINVAL, "more than %d listeners", REND_MAX_LISTENERS);
    }
    if ((address != NULL && *address && (a = strdup(address)) == NULL)
        || (unix_path != NULL && (u = strdup(unix_path)) == NULL)) {
        free(a);
        return fail(REND_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&s->mu);
    n = realloc(s->ls, (s->nls + 1) * sizeof(*n));
    if (n == NULL) {
        pthread_mutex_unlock(&s->mu);
        free(a);
        free(u);
        return fail(REND_ENOMEM, "out of memory");
    }
    s->ls = n;
    l = &s->ls[s->nls];
    memset(l, 0, sizeof(*l));
    l->address = a;
    l->port = port;
    l->unix_path = u;
    l->unix_mode = mode;
    s->nls++;
    pthread_mutex_unlock(&s->mu);
    return (int)(s->nls - 1);
}

int
rend_server_listen_tcp(rend_server *s, const char *address, int port)
{
    if (c_allowed(s, "listen_tcp") != 0
        || before_start(s, "listen_tcp") != 0) {
        return REND_EINVAL;
    }
    if (port < 0 || port > 65535) {
        return fail(REND_EINVAL, "bad port: %d (0..65535; 0 = ephemeral)",
                    port);
    }
    return add_listener(s, address, port, NULL, 0);
}

int
rend_server_listen_unix(rend_server *s, const char *path, unsigned mode)
{
    if (c_allowed(s, "listen_unix") != 0
        || before_start(s, "listen_unix") != 0) {
        return REND_EINVAL;
    }
    if (path == NULL || *path == '\0' || strlen(path) >= 108) {
        return fail(REND_EINVAL, "bad unix socket path (1..107 bytes)");
    }
    if (mode > 0777) {
        return fail(REND_EINVAL, "bad unix socket mode %o (at most 0777)",
                    mode);
    }
    return add_listener(s, NULL, 0, path, (int)mode);
}

int
rend_server_port(const rend_server *s, unsigned index)
{
    if (s == NULL || !s->started || index >= s->nports) {
        return -1;
    }
    return s->ports[index];
}

unsigned
rend_server_listeners(const rend_server *s)
{
    if (s == NULL) {
        return 0;
    }
    if (s->lua) {
        const struct rend_gen *g = s->current ? s->current : s->loaded;
        return g != NULL ? g->nlisteners : 0;
    }
    return s->nls;
}

static int
name_taken(rend_server *s, const char *name)
{
    for (unsigned i = 0; i < s->ninsts; i++) {
        if (strcmp(s->insts[i]->hi->name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
check_opts(const char *name, const struct rend_kv *opts, size_t nopts)
{
    if (name == NULL || *name == '\0') {
        return fail(REND_EINVAL, "a handler instance needs a name");
    }
    if (nopts > 0 && opts == NULL) {
        return fail(REND_EINVAL, "handler %s: %zu options but no array",
                    name, nopts);
    }
    if (nopts > 4096) {
        return fail(REND_EINVAL, "handler %s: too many options", name);
    }
    for (size_t i = 0; i < nopts; i++) {
        if (opts[i].key == NULL || opts[i].value == NULL) {
            return fail(REND_EINVAL, "handler %s: option %zu has a NULL key "
                        "or value", name, i);
        }
    }
    return 0;
}

/* Adopt hi (its reference) as a new instance of s. */
static rend_instance *
adopt_hinst(rend_server *s, struct rend_hinst *hi)
{
    rend_instance *in = calloc(1, sizeof(*in)), **n;

    pthread_mutex_lock(&s->mu);
    n = in != NULL ? realloc(s->insts, (s->ninsts + 1) * sizeof(*n)) : NULL;
    if (n == NULL) {
        pthread_mutex_unlock(&s->mu);
        free(in);
        rend_hinst_put(hi);
        fail(REND_ENOMEM, "out of memory");
        return NULL;
    }
    s->insts = n;
    in->owner = s;
    in->hi = hi;
    s->insts[s->ninsts++] = in;
    pthread_mutex_unlock(&s->mu);
    return in;
}

/* Options in the order the config compiler gives them (sorted by key),
 * so an instance's identity is the same either way. */
static struct rend_kv *
sorted_opts(const struct rend_kv *opts, size_t n)
{
    struct rend_kv *o = malloc((n ? n : 1) * sizeof(*o));

    if (o == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(o, opts, n * sizeof(*o));
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(o[j - 1].key, o[j].key) > 0; j--) {
            struct rend_kv t = o[j];
            o[j] = o[j - 1];
            o[j - 1] = t;
        }
    }
    return o;
}

static rend_instance *
new_instance(rend_server *s, const char *name, const char *plugin,
             const struct rend_handler *h, const struct rend_kv *opts,
             size_t nopts)
{
    struct rend_hinst *hi;
    struct rend_kv *o;
    char err[768];
    int taken;

    if (c_allowed(s, plugin ? "plugin" : "handler") != 0
        || check_opts(name, opts, nopts) != 0) {
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    taken = name_taken(s, name);
    pthread_mutex_unlock(&s->mu);
    if (taken) {
        fail(REND_EINVAL, "handler %s: an instance of that name exists", name);
        return NULL;
    }
    if ((o = sorted_opts(opts, nopts)) == NULL) {
        fail(REND_ENOMEM, "out of memory");
        return NULL;
    }
    err[0] = '\0';
    hi = plugin != NULL
         ? rend_hinst_new(plugin, name, o, nopts, err, sizeof(err))
         : rend_hinst_new_linked(h, name, o, nopts, err, sizeof(err));
    free(o);
    if (hi == NULL) {
        fail(REND_EINVAL, "%s", err[0] ? err : "cannot create the handler");
        return NULL;
    }
    return adopt_hinst(s, hi);
}

rend_instance *
rend_server_plugin(rend_server *s, const char *name, const char *plugin,
                   const struct rend_kv *opts, size_t nopts)
{
    if (plugin == NULL || *plugin == '\0') {
        fail(REND_EINVAL, "no plugin name");
        return NULL;
    }
    return new_instance(s, name, plugin, NULL, opts, nopts);
}

rend_instance *
rend_server_handler(rend_server *s, const char *name,
                    const struct rend_handler *h, const struct rend_kv *opts,
                    size_t nopts)
{
    if (h == NULL) {
        fail(REND_EINVAL, "no handler descriptor");
        return NULL;
    }
    return new_instance(s, name, NULL, h, opts, nopts);
}

static int
own_instance(rend_server *s, const rend_instance *in)
{
    for (unsigned i = 0; i < s->ninsts; i++) {
        if (s->insts[i] == in) {
            return 1;
        }
    }
    return 0;
}

static struct table_spec *
prefix_table(struct listener_spec *l, const char *prefix)
{
    struct prefix_spec *n;

    for (unsigned i = 0; i < l->nprefixes; i++) {
        if (strcmp(l->prefixes[i].prefix, prefix) == 0) {
            return &l->prefixes[i].t;
        }
    }
    if (l->nprefixes >= MAX_PREFIXES) {
        fail(REND_EINVAL, "more than %d prefixes on one listener",
             MAX_PREFIXES);
        return NULL;
    }
    n = realloc(l->prefixes, (l->nprefixes + 1) * sizeof(*n));
    if (n == NULL) {
        fail(REND_ENOMEM, "out of memory");
        return NULL;
    }
    l->prefixes = n;
    memset(&n[l->nprefixes], 0, sizeof(*n));
    n[l->nprefixes].prefix = strdup(prefix);
    if (n[l->nprefixes].prefix == NULL) {
        fail(REND_ENOMEM, "out of memory");
        return NULL;
    }
    return &n[l->nprefixes++].t;
}

static int
is_route_key(int cmd, const char *command)
{
    const char *r = rend_cmd_table[cmd].route, *a = rend_cmd_table[cmd].alias;

    return (r != NULL && strcmp(r, command) == 0)
           || (a != NULL && strcmp(a, command) == 0);
}

int
rend_server_route(rend_server *s, int listener, const char *prefix,
                  const char *command, enum rend_route_kind kind,
                  rend_instance *l1, rend_instance *l2)
{
    struct route_spec rs;
    struct table_spec *t;
    int found = 0, rc = 0;

    if (c_allowed(s, "route") != 0) {
        return REND_EINVAL;
    }
    if (listener < 0 || (unsigned)listener >= s->nls) {
        return failed_arg("route: no listener %d", listener);
    }
    if (kind != REND_ROUTE_L1ONLY && kind != REND_ROUTE_L1L2
        && kind != REND_ROUTE_L1L2_BATCH) {
        return fail(REND_EINVAL, "route: unknown route kind %d", (int)kind);
    }
    if (l1 == NULL) {
        return failed_arg("route: no L1 handler instance%s", "");
    }
    if (kind == REND_ROUTE_L1ONLY && l2 != NULL) {
        return fail(REND_EINVAL, "route: an L1-only route takes no L2");
    }
    if (kind != REND_ROUTE_L1ONLY && l2 == NULL) {
        return failed_arg("route: an L1/L2 route needs an L2%s", "");
    }
    if (l1 == l2) {
        return fail(REND_EINVAL, "route: the same instance as L1 and L2");
    }
    if (prefix != NULL && strlen(prefix) > REND_KEY_MAX) {
        return fail(REND_EINVAL, "route: prefix longer than a key (%d)",
                    REND_KEY_MAX);
    }
    if (command != NULL) {
        for (int cmd = 0; cmd < REND_CMD__COUNT && !found; cmd++) {
            found = is_route_key(cmd, command);
        }
        if (!found) {
            return fail(REND_EINVAL, "route: unknown command \"%s\" (the "
                        "route keys: rend --commands)", command);
        }
    }
    rs.set = 1;
    rs.kind = (uint8_t)kind;
    rs.l1 = l1;
    rs.l2 = l2;
    pthread_mutex_lock(&s->mu);
    if (!own_instance(s, l1) || (l2 != NULL && !own_instance(s, l2))) {
        rc = fail(REND_EINVAL, "route: a handler instance of another server");
        goto out;
    }
    t = (prefix == NULL || *prefix == '\0') ? &s->ls[listener].top
        : prefix_table(&s->ls[listener], prefix);
    if (t == NULL) {
        rc = REND_ENOMEM;
        goto out;
    }
    if (command == NULL) {
        t->def = rs;
    } else {
        for (int cmd = 0; cmd < REND_CMD__COUNT; cmd++) {
            if (is_route_key(cmd, command)) {
                t->cmd[cmd] = rs;
            }
        }
    }
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- compiling the C description into a generation ---- */

static const char *const kind_names[] = { "l1only", "l1l2", "l1l2_batch" };

static struct rend_route *
gen_route(struct rend_gen *g, unsigned *cap, const struct route_spec *rs)
{
    static const uint8_t strat[] = { REND_ST_L1ONLY, REND_ST_L1L2,
                                     REND_ST_L1L2_BATCH };
    struct rend_route *rt;

    for (unsigned i = 0; i < g->nroutes; i++) {
        rt = g->routes[i];
        if (rt->strategy == strat[rs->kind] && rt->l1 == rs->l1->hi
            && rt->l2 == (rs->l2 ? rs->l2->hi : NULL)) {
            return rt;
        }
    }
    if (g->nroutes == *cap) {
        unsigned ncap = *cap ? *cap * 2 : 8;
        struct rend_route **n = realloc(g->routes, ncap * sizeof(*n));
        if (n == NULL) {
            return NULL;
        }
        g->routes = n;
        *cap = ncap;
    }
    rt = calloc(1, sizeof(*rt));
    if (rt == NULL) {
        return NULL;
    }
    rt->strategy = strat[rs->kind];
    rt->name = kind_names[rs->kind];
    rt->l1 = rs->l1->hi;
    rt->l2 = rs->l2 ? rs->l2->hi : NULL;
    rt->async = (rt->l1->h.caps & REND_CAP_ASYNC)
                || (rt->l2 && (rt->l2->h.caps & REND_CAP_ASYNC));
    g->routes[g->nroutes++] = rt;
    return rt;
}

/* by_cmd from t, falling back to fallback (NULL: t's default). */
static int
gen_table(struct rend_gen *g, unsigned *cap, const struct table_spec *t,
          struct rend_route *const *fallback, struct rend_route **by_cmd,
          uint8_t *async)
{
    for (int cmd = 0; cmd < REND_CMD__COUNT; cmd++) {
        const struct route_spec *rs = t->cmd[cmd].set ? &t->cmd[cmd]
                                      : t->def.set ? &t->def : NULL;
        if (rs != NULL) {
            by_cmd[cmd] = gen_route(g, cap, rs);
            if (by_cmd[cmd] == NULL) {
                return REND_ENOMEM;
            }
        } else if (fallback != NULL) {
            by_cmd[cmd] = fallback[cmd];
        } else {
            return REND_EINVAL;
        }
        *async |= by_cmd[cmd]->async;
    }
    return 0;
}

/* Compile s's C description (s->mu held).  NULL with the error set. */
static struct rend_gen *
build_gen(rend_server *s)
{
    struct rend_gen *g = calloc(1, sizeof(*g));
    unsigned cap = 0;
    int rc;

    if (g == NULL) {
        fail(REND_ENOMEM, "out of memory");
        return NULL;
    }
    g->refs = 1;
    g->admin_port = -1;
    g->source = strdup("(rend_server)");
    g->hinsts = calloc(s->ninsts ? s->ninsts : 1, sizeof(*g->hinsts));
    g->listeners = calloc(s->nls ? s->nls : 1, sizeof(*g->listeners));
    g->nseq = 1;
    g->by_seq = calloc(1, sizeof(*g->by_seq));
    if (g->source == NULL || g->hinsts == NULL || g->listeners == NULL
        || g->by_seq == NULL) {
        goto oom;
    }
    for (unsigned i = 0; i < s->ninsts; i++) {
        rend_hinst_get(s->insts[i]->hi);
        g->hinsts[g->nhinsts++] = s->insts[i]->hi;
    }
    for (unsigned i = 0; i < s->nls; i++) {
        const struct listener_spec *ls = &s->ls[i];
        struct rend_listen_conf *lc = &g->listeners[g->nlisteners++];
        char name[32];

        snprintf(name, sizeof(name), "listener%u", i);
        lc->name = strdup(name);
        lc->address = ls->address ? strdup(ls->address) : NULL;
        lc->unix_path = ls->unix_path ? strdup(ls->unix_path) : NULL;
        if (lc->name == NULL || (ls->address && lc->address == NULL)
            || (ls->unix_path && lc->unix_path == NULL)) {
            goto oom;
        }
        lc->port = ls->port;
        lc->unix_mode = ls->unix_mode;
        rc = gen_table(g, &cap, &ls->top, NULL, lc->routes.by_cmd,
                       &lc->routes.async);
        if (rc == REND_EINVAL) {
            fail(REND_EINVAL, "listener %u has no default route "
                 "(rend_server_route with command and prefix NULL)", i);
            rend_gen_put(g);
            return NULL;
        }
        if (rc != 0) {
            goto oom;
        }
        lc->routes.prefixes = calloc(ls->nprefixes ? ls->nprefixes : 1,
                                     sizeof(*lc->routes.prefixes));
        if (lc->routes.prefixes == NULL) {
            goto oom;
        }
        for (unsigned j = 0; j < ls->nprefixes; j++) {
            struct rend_prefix_routes *p
                = &lc->routes.prefixes[lc->routes.nprefixes];
            p->prefix = strdup(ls->prefixes[j].prefix);
            if (p->prefix == NULL) {
                goto oom;
            }
            lc->routes.nprefixes++;
            p->len = (uint32_t)strlen(p->prefix);
            if (gen_table(g, &cap, &ls->prefixes[j].t, lc->routes.by_cmd,
                          p->by_cmd, &lc->routes.async) != 0) {
                goto oom;
            }
        }
        /* longest prefix first, as the compiler orders them */
        for (unsigned a = 1; a < lc->routes.nprefixes; a++) {
            for (unsigned b = a; b > 0 && lc->routes.prefixes[b - 1].len
                                              < lc->routes.prefixes[b].len;
                 b--) {
                struct rend_prefix_routes t = lc->routes.prefixes[b];
                lc->routes.prefixes[b] = lc->routes.prefixes[b - 1];
                lc->routes.prefixes[b - 1] = t;
            }
        }
    }
    g->id = rend_gen_next_id();
    g->loaded_at = (int64_t)time(NULL);
    return g;
oom:
    rend_gen_put(g);
    fail(REND_ENOMEM, "out of memory");
    return NULL;
}

/* ---- a Lua config ---- */

static struct rend_gen *
load_lua(rend_server *s, const struct rend_gen *prev, char *err,
         size_t errlen)
{
    if (s->config_path != NULL || s->config_text == NULL) {
        return rend_config_load(s->config_path, prev, err, errlen);
    }
    return rend_config_load_string(s->config_text, s->config_name, prev, err,
                                   errlen);
}

static int
load_common(rend_server *s, const char *path, const char *text,
            const char *name)
{
    char err[1024];

    if (before_start(s, "load_config") != 0) {
        return REND_EINVAL;
    }
    if (s->lua) {
        return fail(REND_EINVAL, "load_config: a config is already loaded");
    }
    if (s->nls > 0 || s->ninsts > 0) {
        return fail(REND_EINVAL, "load_config: this server already has C "
                    "listeners or handlers; use one or the other");
    }
    if ((path != NULL && (s->config_path = strdup(path)) == NULL)
        || (text != NULL && (s->config_text = strdup(text)) == NULL)
        || (text != NULL
            && (s->config_name = strdup(name ? name : "(string)")) == NULL)) {
        free(s->config_path);
        free(s->config_text);
        s->config_path = s->config_text = NULL;
        return fail(REND_ENOMEM, "out of memory");
    }
    err[0] = '\0';
    s->loaded = load_lua(s, NULL, err, sizeof(err));
    if (s->loaded == NULL) {
        free(s->config_path);
        free(s->config_text);
        free(s->config_name);
        s->config_path = s->config_text = s->config_name = NULL;
        return fail(REND_EINVAL, "%s", err);
    }
    s->lua = 1;
    return 0;
}

int
rend_server_load_config(rend_server *s, const char *path)
{
    return load_common(s, path, NULL, NULL);
}

int
rend_server_load_config_string(rend_server *s, const char *text,
                               const char *name)
{
    if (text == NULL) {
        return fail(REND_EINVAL, "load_config_string: no text");
    }
    return load_common(s, NULL, text, name);
}

/* ---- listening ---- */

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sock *l = w->data;

    (void)loop;
    (void)revents;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                rend_log(REND_LOG_WARN, "accept: %s", strerror(errno));
            }
            return;
        }
        if (__atomic_load_n(&rend_curr_conns, __ATOMIC_RELAXED)
            >= rend_settings.max_conns) {
            static const char msg[] =
                "SERVER_ERROR too many open connections\r\n";
            if (write(fd, msg, sizeof(msg) - 1) < 0) {
                /* closing anyway */
            }
            close(fd);
            if (rend_nworkers > 0) {
                REND_STAT_INC(&rend_workers[0].st, rejected_connections);
            }
            continue;
        }
        /* counted here, not when a worker adopts it, so a burst of
         * accepts cannot overshoot the limit */
        __atomic_add_fetch(&rend_curr_conns, 1, __ATOMIC_RELAXED);
        /* /metrics; atomic because workers read it against their closes */
        __atomic_add_fetch(&rend_listener_accepted[l->index], 1,
                           __ATOMIC_RELAXED);
        rend_workers_dispatch(fd, l->index);
    }
}

static int
listen_tcp(const char *host, int port, int *bound_port)
{
    char why[256];
    int fd = rend_tcp_listen(host, port, 1024, bound_port, why, sizeof(why));

    if (fd < 0) {
        rend_log(REND_LOG_ERR, "listen %s:%d: %s", host ? host : "*", port,
                 why);
        fail(REND_EIO, "listen %s:%d: %s", host ? host : "*", port, why);
    }
    return fd;
}

static void
close_socks(rend_server *s)
{
    for (unsigned i = 0; i < s->nsocks; i++) {
        struct sock *l = &s->socks[i];
        ev_io_stop(s->loop, &l->io);
        close(l->fd);
        if (l->unix_path != NULL) {
            rend_unix_remove(l->unix_path);
            free(l->unix_path);
        }
    }
    s->nsocks = 0;
    rend_settings.domain_socket = NULL;
}

static int
open_listeners(rend_server *s, struct rend_gen *g)
{
    FILE *pf = NULL;
    char tmp[4096];
    const char *port_file = s->port_file;

    if (port_file != NULL) {
        /* written under a temporary name, then renamed: a reader never
         * sees a partial file */
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        pf = fopen(tmp, "w");
        if (pf == NULL) {
            rend_log(REND_LOG_ERR, "%s: %s", port_file, strerror(errno));
            return fail(REND_EIO, "%s: %s", port_file, strerror(errno));
        }
    }
    for (unsigned i = 0; i < g->nlisteners && i < REND_MAX_LISTENERS; i++) {
        const struct rend_listen_conf *lc = &g->listeners[i];
        /* -l gives listener 0 (in Rend's flag mode: every TCP listener)
         * one socket per address, all on one port */
        int use_cli = s->nfirst > 0 && (i == 0 || s->first_all_tcp);
        unsigned naddr = use_cli && lc->unix_path == NULL ? s->nfirst : 1;
        int port = 0;

        if (use_cli && lc->unix_path != NULL) {
            rend_log(REND_LOG_WARN, "-l does not apply to the unix socket %s",
                     lc->unix_path);
        }
        for (unsigned a = 0; a < naddr; a++) {
            struct sock *l = &s->socks[s->nsocks];
            const char *host = use_cli ? s->first_addrs[a] : lc->address;
            int bound = 0;

            l->unix_path = NULL;
            if (lc->unix_path != NULL) {
                l->fd = rend_unix_listen(lc->unix_path, lc->unix_mode);
                if (l->fd < 0) {
                    fail(REND_EIO, "listen on %s failed (see the log)",
                         lc->unix_path);
                } else {
                    l->unix_path = strdup(lc->unix_path);
                }
                if (l->fd >= 0 && rend_settings.domain_socket == NULL) {
                    rend_settings.domain_socket = l->unix_path; /* stats */
                }
                port = -1;
            } else {
                int want = a > 0 ? port
                           : (i == 0 && s->first_port >= 0) ? s->first_port
                           : lc->port;
                l->fd = listen_tcp(host, want, &bound);
                if (a == 0) {
                    port = bound;
                    rend_listener_port[i] = bound; /* /config, /metrics */
                }
                if (l->fd >= 0 && rend_settings.tcp_port == 0) {
                    rend_settings.tcp_port = bound; /* stats settings */
                    free((char *)rend_settings.inter);
                    rend_settings.inter = host != NULL ? strdup(host) : NULL;
                }
            }
            if (l->fd < 0) {
                if (pf != NULL) {
                    fclose(pf);
                    unlink(tmp);
                }
                close_socks(s);
                return REND_EIO;
            }
            l->index = i;
            ev_io_init(&l->io, on_accept, l->fd, EV_READ);
            l->io.data = l;
            ev_io_start(s->loop, &l->io);
            s->nsocks++;
            if (lc->unix_path != NULL) {
                rend_log(REND_LOG_INFO, "listening on %s", lc->unix_path);
            } else {
                rend_log(REND_LOG_INFO, "listening on %s:%d",
                         host ? host : "*", bound);
            }
        }
        s->ports[s->nports++] = port;
        /* one line per config listener: its (first address's) port */
        if (pf != NULL) {
            if (lc->unix_path != NULL) {
                fprintf(pf, "%s\n", lc->unix_path);
            } else {
                fprintf(pf, "%d\n", port);
            }
        }
    }
    if (pf != NULL) {
        if (s->admin_port >= 0) {
            fprintf(pf, "admin %d\n", s->admin_port); /* after the listeners */
        }
        fclose(pf);
        if (rename(tmp, port_file) != 0) {
            rend_log(REND_LOG_ERR, "%s: %s", port_file, strerror(errno));
            close_socks(s);
            return fail(REND_EIO, "%s: %s", port_file, strerror(errno));
        }
    }
    return 0;
}

/* ---- reload ---- */

/* settings{} is read once at start (threads, connection limit, item size
 * are fixed for the process): say so when a reload changes it. */
static void
warn_unapplied_settings(const struct rend_gen *old, const struct rend_gen *g)
{
    static const char *const why = "takes effect at the next restart";

    if (g->threads != old->threads) {
        rend_log(REND_LOG_WARN, "reload: settings.threads changed (%u -> %u): "
                 "%s; running with %u", old->threads, g->threads, why,
                 rend_settings.threads);
    }
    if (g->max_conns != old->max_conns) {
        rend_log(REND_LOG_WARN, "reload: settings.max_connections changed "
                 "(%u -> %u): %s; running with %u", old->max_conns,
                 g->max_conns, why, rend_settings.max_conns);
    }
    if (g->idle_timeout != old->idle_timeout
        || g->read_timeout != old->read_timeout
        || g->conn_buffer_mb != old->conn_buffer_mb) {
        rend_log(REND_LOG_WARN, "reload: settings idle_timeout, read_timeout "
                 "or conn_buffer_mb changed: %s", why);
    }
    if (g->item_size_max != old->item_size_max) {
        rend_log(REND_LOG_WARN, "reload: settings.item_size_max changed "
                 "(%llu -> %llu): %s; running with %u",
                 (unsigned long long)old->item_size_max,
                 (unsigned long long)g->item_size_max, why,
                 rend_settings.item_size_max);
    }
}

/* Load (Lua) or compile (C) a new generation, check it and swap it in.
 * Owner thread.  0 with what changed in out, or -1 with the reason. */
static int
reload_now(rend_server *s, struct rend_buf *out)
{
    char err[1024];
    struct rend_gen *g;
    struct rend_gen *current = s->current;

    err[0] = '\0';
    if (s->lua) {
        g = load_lua(s, current, err, sizeof(err));
    } else {
        pthread_mutex_lock(&s->mu);
        g = build_gen(s);
        pthread_mutex_unlock(&s->mu);
        if (g == NULL) {
            snprintf(err, sizeof(err), "%s", tl_err);
        }
    }
    if (g == NULL) {
        __atomic_add_fetch(&rend_config_reload_failures, 1, __ATOMIC_RELAXED);
        rend_log(REND_LOG_ERR, "reload failed, keeping the running config: %s",
                 err);
        rend_buf_printf(out, "%s", err);
        return -1;
    }
    if (g->nlisteners != current->nlisteners) {
        __atomic_add_fetch(&rend_config_reload_failures, 1, __ATOMIC_RELAXED);
        rend_log(REND_LOG_ERR, "reload failed, keeping the running config: "
                 "the number of listeners changed (%u -> %u); restart to "
                 "change listeners", current->nlisteners, g->nlisteners);
        rend_buf_printf(out, "%s: the number of listeners changed (%u -> %u); "
                        "restart to change listeners", g->source,
                        current->nlisteners, g->nlisteners);
        rend_gen_put(g);
        return -1;
    }
    if (rend_workers_prepare(g) != 0) {
        __atomic_add_fetch(&rend_config_reload_failures, 1, __ATOMIC_RELAXED);
        rend_buf_printf(out, "%s: cannot prepare the handlers for the "
                        "workers (see the log)", g->source);
        rend_gen_put(g);
        return -1;
    }
    warn_unapplied_settings(current, g);
    rend_admin_diff(out, current, g);
    rend_workers_swap(g);
    rend_gen_put(current);
    s->current = g;
    __atomic_add_fetch(&rend_config_reloads, 1, __ATOMIC_RELAXED);
    rend_log(REND_LOG_WARN, "config reloaded (generation %llu)",
             (unsigned long long)g->id);
    return 0;
}

static int
do_reload(rend_server *s, struct rend_buf *out)
{
    int rc;

    notify("RELOADING=1");
    rc = reload_now(s, out);
    notify("READY=1");
    return rc;
}

/* rend_admin.c: the running generation, and POST /reload. */
struct rend_gen *
rend_main_current(void)
{
    rend_server *s = __atomic_load_n(&the_server, __ATOMIC_ACQUIRE);

    return s != NULL ? s->current : NULL;
}

int
rend_reload(struct rend_buf *out)
{
    rend_server *s = __atomic_load_n(&the_server, __ATOMIC_ACQUIRE);

    if (s == NULL || !s->started || !s->workers_up) {
        rend_buf_printf(out, "not running");
        return -1;
    }
    return do_reload(s, out);
}

int
rend_server_reload(rend_server *s)
{
    struct rend_buf out = { 0 };
    int rc;

    if (bad_server(s) != 0) {
        return REND_EINVAL;
    }
    pthread_mutex_lock(&s->mu);
    if (!s->started || !s->workers_up) {
        pthread_mutex_unlock(&s->mu);
        return fail(REND_EINVAL, "reload: the server is not running");
    }
    if (s->in_run && !pthread_equal(pthread_self(), s->owner)) {
        /* hand it to the owner's loop and wait for the answer */
        while (s->reload_busy) {
            pthread_cond_wait(&s->cv, &s->mu);
        }
        if (!s->in_run) {
            pthread_mutex_unlock(&s->mu);
            return fail(REND_EINVAL, "reload: the server has stopped");
        }
        s->reload_busy = 1;
        s->reload_done = 0;
        ev_async_send(s->loop, &s->reload_w);
        while (!s->reload_done) {
            pthread_cond_wait(&s->cv, &s->mu);
        }
        rc = s->reload_rc;
        if (rc != 0) {
            fail(REND_EINVAL, "%s", s->reload_err);
        }
        s->reload_busy = 0;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return rc == 0 ? 0 : REND_EINVAL;
    }
    pthread_mutex_unlock(&s->mu);
    rc = do_reload(s, &out);
    if (rc != 0) {
        fail(REND_EINVAL, "%s", out.p != NULL ? out.p : "reload failed");
    }
    rend_buf_free(&out);
    return rc == 0 ? 0 : REND_EINVAL;
}

/* ---- start, run, stop ---- */

static void
raise_fd_limit(void)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)rend_settings.max_conns + 256;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        unsigned fit = rl.rlim_cur > 512 ? (unsigned)(rl.rlim_cur - 256) : 256;
        rend_log(REND_LOG_WARN, "open-files limit %llu: connection limit "
                 "lowered from %u to %u", (unsigned long long)rl.rlim_cur,
                 rend_settings.max_conns, fit);
        rend_settings.max_conns = fit;
    }
}

static void
on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
    rend_server *s = w->data;
    struct rend_buf out = { 0 };

    (void)loop;
    (void)revents;
    rend_log(REND_LOG_INFO, "SIGHUP: reloading %s",
             s->config_path ? s->config_path : "the config");
    do_reload(s, &out);
    rend_buf_free(&out);
}

static void
on_signal_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    rend_log(REND_LOG_INFO, "signal %d: shutting down", w->signum);
    notify("STOPPING=1");
    ev_break(loop, EVBREAK_ALL);
}

/* Process-wide settings from s and g (s's setters win). */
static void
apply_settings(rend_server *s, const struct rend_gen *g)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    rend_settings.threads = s->threads ? s->threads
                            : g->threads ? g->threads
                            : (unsigned)(ncpu > 0 ? ncpu : 1);
    rend_settings.max_conns = s->max_conns ? s->max_conns
                              : g->max_conns ? g->max_conns
                              : DEFAULT_MAX_CONNS;
    if (s->item_max) {
        rend_settings.item_size_max = (uint32_t)s->item_max;
    } else if (g->item_size_max >= 1024
               && g->item_size_max <= 1024ULL * 1024 * 1024) {
        rend_settings.item_size_max = (uint32_t)g->item_size_max;
    } else {
        rend_settings.item_size_max = 1024 * 1024; /* not an earlier server's */
    }
    rend_settings.idle_timeout = g->idle_timeout;
    rend_settings.read_timeout = g->read_timeout ? g->read_timeout
                                 : REND_READ_TIMEOUT_DEFAULT;
    rend_settings.conn_buffer_max
        = (uint64_t)(g->conn_buffer_mb ? g->conn_buffer_mb
                                       : REND_CONN_BUFFER_MB_DEFAULT)
          << 20;
}

int
rend_server_start(rend_server *s)
{
    struct rend_gen *g;

    if (before_start(s, "start") != 0) {
        return REND_EINVAL;
    }
    if (s->lua) {
        g = s->loaded;
    } else {
        if (s->nls == 0) {
            return fail(REND_EINVAL, "start: the server has no listener");
        }
        pthread_mutex_lock(&s->mu);
        g = build_gen(s);
        pthread_mutex_unlock(&s->mu);
        if (g == NULL) {
            return REND_EINVAL;
        }
    }
    apply_settings(s, g);
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    rend_metrics_on = g->admin_port >= 0; /* histograms for /metrics */
    s->nports = 0;
    if (rend_admin_start(s->loop, g, &s->admin_port) != 0) {
        if (!s->lua) {
            rend_gen_put(g);
        }
        return fail(REND_EIO, "cannot open the admin listener (see the log)");
    }
    if (open_listeners(s, g) != 0) {
        rend_admin_stop(s->loop);
        if (!s->lua) {
            rend_gen_put(g);
        }
        return REND_EIO;
    }
    s->loaded = NULL;
    s->current = g;
    s->started = 1;
    if (rend_workers_start(rend_settings.threads, g) != 0) {
        return fail(REND_EINTERNAL, "cannot start the worker threads");
    }
    s->workers_up = 1;
    if (s->signals) {
        ev_signal_init(&s->sig_term, on_signal_stop, SIGTERM);
        ev_signal_init(&s->sig_int, on_signal_stop, SIGINT);
        ev_signal_init(&s->sig_hup, on_hup, SIGHUP);
        s->sig_hup.data = s;
        ev_signal_start(s->loop, &s->sig_term);
        ev_signal_start(s->loop, &s->sig_int);
        ev_signal_start(s->loop, &s->sig_hup);
        s->sigs_on = 1;
    }
    rend_log(REND_LOG_INFO, "rend %s: %u threads, config %s", PACKAGE_VERSION,
             rend_settings.threads, g->source);
    notify("READY=1");
    return 0;
}

/* Close the listeners, stop the workers (connections closed). */
static void
shut_down(rend_server *s)
{
    close_socks(s);
    rend_admin_stop(s->loop);
    if (!s->workers_up) {
        return;
    }
    rend_workers_stop();
    for (unsigned i = 0; i < rend_nworkers; i++) {
        struct rend_worker *w = &rend_workers[i];
        ev_loop_destroy(w->loop);
        rend_req_pools_free(w);
        rend_gen_put(w->gen);
    }
    free(rend_workers);
    rend_workers = NULL;
    rend_nworkers = 0;
    s->workers_up = 0;
}

int
rend_server_run(rend_server *s)
{
    int rc;

    if (bad_server(s) != 0) {
        return REND_EINVAL;
    }
    if (s->ran) {
        return fail(REND_EINVAL, "run: a server runs once");
    }
    if (!s->started && (rc = rend_server_start(s)) != 0) {
        return rc;
    }
    if (!s->workers_up) {
        return fail(REND_EINTERNAL, "run: the server did not start");
    }
    s->ran = 1;
    pthread_mutex_lock(&s->mu);
    s->in_run = 1;
    s->owner = pthread_self();
    pthread_mutex_unlock(&s->mu);
    if (!__atomic_load_n(&s->stop_req, __ATOMIC_ACQUIRE)) {
        ev_run(s->loop, 0);
    }
    pthread_mutex_lock(&s->mu);
    s->in_run = 0;
    if (s->reload_busy && !s->reload_done) { /* asked for too late */
        s->reload_rc = -1;
        snprintf(s->reload_err, sizeof(s->reload_err), "the server stopped");
        s->reload_done = 1;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    shut_down(s);
    return 0;
}

void
rend_server_stop(rend_server *s)
{
    /* only an atomic store and ev_async_send: both async-signal-safe */
    if (s == NULL) {
        return;
    }
    __atomic_store_n(&s->stop_req, 1, __ATOMIC_RELEASE);
    ev_async_send(s->loop, &s->stop_w);
}

void
rend_server_destroy(rend_server *s)
{
    if (s == NULL || s != __atomic_load_n(&the_server, __ATOMIC_ACQUIRE)) {
        return;
    }
    shut_down(s);
    ev_async_stop(s->loop, &s->stop_w);
    ev_async_stop(s->loop, &s->reload_w);
    rend_gen_put(s->current);
    rend_gen_put(s->loaded);
    for (unsigned i = 0; i < s->ninsts; i++) {
        rend_hinst_put(s->insts[i]->hi);
        free(s->insts[i]);
    }
    free(s->insts);
    for (unsigned i = 0; i < s->nls; i++) {
        for (unsigned j = 0; j < s->ls[i].nprefixes; j++) {
            free(s->ls[i].prefixes[j].prefix);
        }
        free(s->ls[i].prefixes);
        free(s->ls[i].address);
        free(s->ls[i].unix_path);
    }
    free(s->ls);
    for (unsigned i = 0; i < s->nfirst; i++) {
        free(s->first_addrs[i]);
    }
    free(s->config_path);
    free(s->config_text);
    free(s->config_name);
    free(s->port_file);
    /* last: a second SIGTERM while shutting down (handlers' threads
     * included) must still be caught, not kill the process */
    if (s->sigs_on) {
        ev_signal_stop(s->loop, &s->sig_term);
        ev_signal_stop(s->loop, &s->sig_int);
        ev_signal_stop(s->loop, &s->sig_hup);
        s->sigs_on = 0;
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    rend_plugin_set_dir(NULL);
    /* the next server starts from the defaults */
    rend_settings.tcp_port = 0;
    free((char *)rend_settings.inter);
    rend_settings.inter = NULL;
    rend_settings.domain_socket = NULL;
    __atomic_store_n(&the_server, NULL, __ATOMIC_RELEASE);
    free(s);
}

/* ---- for rend_main.c (not exported) ---- */

int
rend_srv_first_listener(rend_server *s, char *const *addrs, unsigned naddrs,
                        int port, int every_tcp)
{
    if (before_start(s, "first_listener") != 0) {
        return REND_EINVAL;
    }
    if (naddrs > MAX_EXTRA_ADDRS + 1) {
        return fail(REND_EINVAL, "-l: at most %d addresses",
                    MAX_EXTRA_ADDRS + 1);
    }
    for (unsigned i = 0; i < naddrs; i++) {
        s->first_addrs[i] = strdup(addrs[i]);
        if (s->first_addrs[i] == NULL) {
            return fail(REND_ENOMEM, "out of memory");
        }
        s->nfirst = i + 1;
    }
    s->first_port = port;
    s->first_all_tcp = every_tcp != 0;
    return 0;
}

struct rend_gen *
rend_srv_gen(rend_server *s)
{
    return s->current != NULL ? s->current : s->loaded;
}
