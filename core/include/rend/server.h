/*
 * rend/server.h - librend: build a memcached-compatible server out of
 * rend's parts (listeners, the L1-only / L1/L2 / L1/L2 batch
 * orchestrations, handler plugins or handlers linked into the program).
 * The rend program itself is this library plus its command line.
 *
 *     rend_server *s = rend_server_new();
 *     rend_instance *mem = rend_server_plugin(s, "l1", "inmem", NULL, 0);
 *     int l = rend_server_listen_tcp(s, "127.0.0.1", 11211);
 *     rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY, mem, NULL);
 *     rend_server_handle_signals(s, 1);
 *     if (rend_server_run(s) != 0)
 *         fprintf(stderr, "%s\n", rend_server_error(s));
 *     rend_server_destroy(s);
 *
 * Build with: cc prog.c $(pkg-config --cflags --libs rend)
 *
 * A server is configured either with the C calls below (listeners,
 * handler instances, routes) or with a Lua config (rend_server_load_config,
 * the language of rend(1)'s --config), not both.  Either way it compiles
 * to the same route tables the rend program runs.
 *
 * Errors.  Functions returning int give 0 (or a listener index >= 0) on
 * success and a negative status from rend/status.h on failure; functions
 * returning a pointer give NULL on failure.  The reason, one line, is then
 * rend_server_error(s).  A call with a NULL server, or with a handle of
 * another server, is refused with REND_EINVAL, so a chain of calls may be
 * checked once at the end (a failed call leaves the server as it was).
 *
 * Threads.  One rend_server may exist in a process at a time (the core's
 * worker pool, statistics and settings are process-wide); a second
 * rend_server_new fails until the first is destroyed.  Functions are
 * called from one thread at a time, the owner's (the thread that created
 * the server and calls rend_server_run), except: rend_server_stop from
 * any thread and from a signal handler; rend_server_reload,
 * rend_server_route, rend_server_plugin and rend_server_handler from any
 * thread while the server runs (not from a signal handler).
 * rend_server_error is per thread.  Handlers' ops run on the worker
 * threads (rend/handler.h).
 *
 * Ownership.  Strings and option arrays passed in are copied before the
 * call returns.  Handler instances (rend_instance) belong to the server
 * and are destroyed with it.  A linked-in handler's descriptor and code
 * stay the caller's and must outlive the server.
 */
#ifndef REND_SERVER_H
#define REND_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <rend/handler.h>
#include <rend/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's interface version (see README.md, "ABI"). */
#define REND_SERVER_API 1

typedef struct rend_server rend_server;
/* A handler instance: one configured plugin or linked-in handler. */
typedef struct rend_instance rend_instance;

/* Orchestrations (the Lua config's l1only, l1l2, l1l2_batch). */
enum rend_route_kind {
    REND_ROUTE_L1ONLY = 0,     /* every op on L1; l2 must be NULL */
    REND_ROUTE_L1L2 = 1,       /* L2 is the truth, L1 filled on a miss */
    REND_ROUTE_L1L2_BATCH = 2, /* writes to L2, L1 copies only refreshed */
};

/* Create a server with no listeners.  NULL when out of memory or when
 * another server exists in the process (rend_server_error(NULL) says
 * which). */
rend_server *rend_server_new(void);

/* Stop (if running), close the listeners, destroy the handler instances
 * and free s.  NULL is ignored.  Owner thread; not while rend_server_run
 * is executing on another thread (stop it and let it return first). */
void rend_server_destroy(rend_server *s);

/* The reason the last failed rend_server_* call made by this thread
 * failed ("" if none); s may be NULL (e.g. after rend_server_new failed).
 * Thread-local storage: valid until this thread's next call. */
const char *rend_server_error(const rend_server *s);

/*
 * Settings.  Before rend_server_start; each wins over the Lua config's
 * settings{}.  Defaults: one worker per core, 16384 connections, 1 MiB
 * items, the installed plugin directory (or $REND_PLUGIN_DIR).
 */
int rend_server_set_threads(rend_server *s, unsigned n);        /* 1..256 */
int rend_server_set_max_conns(rend_server *s, unsigned n); /* 1..1048576 */
int rend_server_set_item_size_max(rend_server *s, uint64_t bytes); /* 1k..1g */
int rend_server_set_plugin_dir(rend_server *s, const char *dir);
/* Log level: REND_LOG_ERR .. REND_LOG_DEBUG (default REND_LOG_WARN).
 * The log is process-wide and goes to stderr. */
int rend_server_set_log_level(rend_server *s, int level);
/* Once listening, write each listener's bound port (a unix listener: its
 * path) one per line, in listener order, to path (written to path.tmp
 * and renamed, so a reader never sees half of it).  NULL: none. */
int rend_server_set_port_file(rend_server *s, const char *path);
/* on = 1: SIGTERM and SIGINT stop the server and SIGHUP reloads it, as
 * rend(1) does.  The handlers are installed by rend_server_start and
 * removed (back to the default action) by rend_server_destroy; a signal
 * arriving between run's return and destroy is caught and ignored. */
int rend_server_handle_signals(rend_server *s, int on);

/*
 * Listeners.  Each returns the listener's index (0, 1, ... in the order
 * of the calls), or a negative status.  Before rend_server_start.
 */
/* TCP on address (NULL or "" = every address) and port; port 0 takes an
 * ephemeral port (read it back with rend_server_port). */
int rend_server_listen_tcp(rend_server *s, const char *address, int port);
/* A unix socket at path with file mode mode (e.g. 0700). */
int rend_server_listen_unix(rend_server *s, const char *path, unsigned mode);
/* The port listener index is bound to: after rend_server_start, until
 * destroy.  -1 before, for a unix listener, or for a bad index.  Owner
 * thread, or any thread once rend_server_start has returned. */
int rend_server_port(const rend_server *s, unsigned index);
/* Number of listeners (C calls, or the loaded Lua config's). */
unsigned rend_server_listeners(const rend_server *s);

/*
 * Handler instances.  name names the instance in logs and stats (unique
 * in the server).  opts (nopts pairs, may be NULL when nopts is 0) are the
 * handler's options, as a config's handler{} table would give them.  The
 * instance is created (its create() runs) before the call returns, so a
 * bad option fails here.  Before rend_server_start, or while the server
 * runs, from any thread (routes may use it from the next reload).
 */
/* From a plugin: rend_<plugin>.so in the plugin directory, or a path. */
rend_instance *rend_server_plugin(rend_server *s, const char *name,
                                  const char *plugin,
                                  const struct rend_kv *opts, size_t nopts);
/* From a handler linked into the program (no shared object): h is
 * checked as a plugin's descriptor is (REND_HANDLER_INIT) and copied;
 * its code must stay loaded while the server exists. */
rend_instance *rend_server_handler(rend_server *s, const char *name,
                                   const struct rend_handler *h,
                                   const struct rend_kv *opts, size_t nopts);

/*
 * Routes: how listener `listener` runs a request.  command is a route key
 * of a config's routes table ("get", "set", "delete", "touch", "flush",
 * ...; `rend --commands` lists them) or NULL for the default of every
 * command.  prefix (NULL or "" = every key) restricts the route to keys
 * starting with it; the longest matching prefix wins, and a command a
 * prefix sets no route for takes the prefix's default, else the
 * listener's route for that command.  l1 is required; l2 is required for
 * the L1/L2 kinds and must be NULL for REND_ROUTE_L1ONLY.  A later call
 * for the same listener, prefix and command replaces the earlier route.
 * Every listener needs a default (command NULL, prefix NULL) before
 * rend_server_start.  While running, routes may be changed from any
 * thread; they take effect at the next rend_server_reload.
 */
int rend_server_route(rend_server *s, int listener, const char *prefix,
                      const char *command, enum rend_route_kind kind,
                      rend_instance *l1, rend_instance *l2);

/*
 * Lua config instead of C calls: path (NULL = rend's embedded default
 * config) or a text (name is used in error messages).  The config's
 * listeners, handlers and routes are compiled at once; errors come back
 * as "file:line: reason".  Before rend_server_start, on a server without
 * C listeners, handlers or routes; at most once.
 */
int rend_server_load_config(rend_server *s, const char *path);
int rend_server_load_config_string(rend_server *s, const char *text,
                                   const char *name);

/*
 * Running.
 */
/* Open the listeners (writing the port file) and start the worker
 * threads; returns without serving accepts, which rend_server_run does.
 * SIGPIPE is ignored from here on (a client that goes away must not kill
 * the process).  Owner thread, once. */
int rend_server_start(rend_server *s);
/* Start if not yet started, then accept and serve on this thread until
 * rend_server_stop (or a signal, see rend_server_handle_signals); then
 * close every connection and listener, stop the workers and return 0.
 * A stop requested before run makes it return at once.  Owner thread,
 * once per server. */
int rend_server_run(rend_server *s);
/* Ask the server to stop: rend_server_run returns soon after.  Any
 * thread, async-signal-safe; idempotent; s must not be destroyed
 * meanwhile. */
void rend_server_stop(rend_server *s);
/* Reload: a Lua config file is read again (handlers whose plugin and
 * options are unchanged are kept); a C-built server takes the routes set
 * since the last start or reload.  On failure the running config stays
 * and the reason is in rend_server_error(s).  While running, any thread
 * (not a signal handler; the reload runs on the server's thread and this
 * call waits for it); REND_EINVAL when not started. */
int rend_server_reload(rend_server *s);

/* The rend program: parse argv as rend(1) does and run it; returns the
 * exit status.  Creates and destroys its own server. */
int rend_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* REND_SERVER_H */
