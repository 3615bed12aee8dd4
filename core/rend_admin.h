/*
 * rend_admin.h - the admin HTTP listener (rend_admin.c) and what it
 * serves: /metrics (rend_metrics.c), /healthz, /readyz, /reload, /config.
 * Everything here runs on the main thread (the main loop).
 */
#ifndef REND_ADMIN_H
#define REND_ADMIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ev.h>

struct rend_gen;

/* A growing text buffer; on allocation failure `failed` is set and the
 * text stays what it was. */
struct rend_buf {
    char *p;
    size_t n, cap;
    int failed;
};
void rend_buf_printf(struct rend_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rend_buf_put(struct rend_buf *b, const char *s, size_t n);
void rend_buf_free(struct rend_buf *b);

/* Prometheus text exposition (format 0.0.4) of everything rend counts. */
void rend_metrics_render(struct rend_buf *b, const struct rend_gen *g);

struct rend_hinst;
/* 1 when hi started on every worker (its thread_init succeeded). */
int rend_admin_hinst_ready(const struct rend_hinst *hi);
/* /readyz: 1 when ready, else 0 with a one-line reason in why. */
int rend_admin_ready(const struct rend_gen *g, char *why, size_t n);
/* /config: the running config as JSON (secret-looking options redacted). */
void rend_admin_config(struct rend_buf *b, const struct rend_gen *g);
/* What a reload changed from old to g, one line each, into b. */
void rend_admin_diff(struct rend_buf *b, const struct rend_gen *old,
                     const struct rend_gen *g);

/* Open the admin listener of g (when it declares admin{}) on loop.  The
 * bound port is returned in *port (-1 when none).  0 or -1 (logged). */
int rend_admin_start(struct ev_loop *loop, const struct rend_gen *g,
                     int *port);
void rend_admin_stop(struct ev_loop *loop);

/* Connections accepted per listener (main thread only: it accepts them
 * and renders /metrics). */
extern uint64_t rend_listener_accepted[];
/* the port listener i is bound to (its first address), 0 until bound or
 * for a unix socket: /config and /metrics show it (port 0 = ephemeral) */
extern int rend_listener_port[];

/* Provided by rend_main.c: the running generation, and the reload SIGHUP
 * and POST /reload share.  rend_reload returns 0 with what changed in out,
 * or -1 with the reason ("file:line: reason") in out. */
struct rend_gen *rend_main_current(void);
int rend_reload(struct rend_buf *out);

#endif /* REND_ADMIN_H */
