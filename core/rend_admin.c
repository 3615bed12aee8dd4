/*
 * rend_admin.c - the admin listener: a small HTTP/1.1 server on the main
 * loop (one request per connection, answered with Connection: close).
 *
 *   GET  /metrics  Prometheus text exposition 0.0.4 (rend_metrics.c)
 *   GET  /healthz  200 "ok": the process is up and its main loop runs
 *   GET  /readyz   200 "ready", or 503 with a one-line reason: a handler
 *                  instance that did not start on every worker, or a
 *                  memcached instance whose servers are all down
 *   POST /reload   the SIGHUP reload: 200 with what changed, or 422 with
 *                  "file:line: reason" when the config is refused
 *   GET  /config   the running config as JSON, secret-looking option
 *                  values redacted
 *
 * The admin listener is opened once, at start, from the config's admin{}
 * (a reload that changes admin{} is reported and applies at restart).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "rend_admin.h"
#include "rend_config.h"
#include "rend_log.h"
#include "rend_plugin.h"
#include "rend_sock.h"
#include "rend_tls.h"
#include "rend_worker.h"

#define ADMIN_MAX_CONNS 64
#define ADMIN_MAX_REQ 16384
#define ADMIN_TIMEOUT 10.0

struct aconn {
    struct aconn *next, **pprev;
    int fd;
    ev_io io;
    ev_timer tmo;
    char in[ADMIN_MAX_REQ + 1];
    size_t nin;
    struct rend_buf out;
    size_t off;
};

static int admin_fd = -1;
static ev_io admin_io;
static struct aconn *aconns;
static unsigned naconns;

/* ---- readiness ------------------------------------------------------ */

int
rend_admin_hinst_ready(const struct rend_hinst *hi)
{
    if (hi->h.thread_init == NULL) {
        return 1;
    }
    for (unsigned w = 0; w < rend_nworkers; w++) {
        if (w >= hi->nthreads
            || __atomic_load_n(&hi->tctx[w], __ATOMIC_RELAXED) == NULL) {
            return 0;
        }
    }
    return 1;
}

struct servers {
    unsigned n, down;
};

static void
count_servers(void *ud, const char *name, const char *value)
{
    struct servers *s = ud;
    unsigned i;
    int off = 0;

    if (sscanf(name, "server_%u_state%n", &i, &off) == 1 && off > 0
        && name[off] == '\0') {
        s->n++;
        s->down += value != NULL && strcmp(value, "down") == 0;
    }
}

int
rend_admin_ready(const struct rend_gen *g, char *why, size_t n)
{
    if (g->nlisteners == 0) {
        snprintf(why, n, "no listener open");
        return 0;
    }
    for (unsigned i = 0; i < g->nhinsts; i++) {
        const struct rend_hinst *hi = g->hinsts[i];
        struct servers s = { 0, 0 };
        if (!rend_admin_hinst_ready(hi)) {
            snprintf(why, n, "handler %s did not start on every worker",
                     hi->name);
            return 0;
        }
        if (hi->h.stats != NULL) {
            hi->h.stats(hi->inst, count_servers, &s);
        }
        if (s.n > 0 && s.down == s.n) {
            snprintf(why, n, "handler %s: all %u memcached server%s down",
                     hi->name, s.n, s.n == 1 ? "" : "s");
            return 0;
        }
    }
    snprintf(why, n, "ready");
    return 1;
}

/* ---- /config -------------------------------------------------------- */

static void
json_str(struct rend_buf *b, const char *s)
{
    rend_buf_put(b, "\"", 1);
    for (; s != NULL && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            rend_buf_put(b, "\\", 1);
            rend_buf_put(b, s, 1);
        } else if (c < 0x20) {
            rend_buf_printf(b, "\\u%04x", c);
        } else {
            rend_buf_put(b, s, 1);
        }
    }
    rend_buf_put(b, "\"", 1);
}

/* Does an option name look like it holds a secret? */
static int
secret_name(const char *k, size_t n)
{
    static const char *const words[] = { "pass", "secret", "token",
                                         "credential", "private", "auth",
                                         "tls_key", "ssl_key" };
    char low[128];

    if (n >= sizeof(low)) {
        n = sizeof(low) - 1;
    }
    for (size_t i = 0; i < n; i++) {
        low[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
    }
    low[n] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strstr(low, words[i]) != NULL) {
            return 1;
        }
    }
    return n >= 4 && (strcmp(low + n - 4, "_key") == 0
                      || (n >= 8 && strcmp(low + n - 8, "key_file") == 0));
}

/* hi->identity is "plugin\nkey=value\n..." (rend_plugin.c) */
static void
json_options(struct rend_buf *b, const struct rend_hinst *hi)
{
    const char *p = strchr(hi->identity != NULL ? hi->identity : "", '\n');
    int first = 1;

    rend_buf_put(b, "{", 1);
    while (p != NULL) {
        const char *line = p + 1, *eq, *end;
        char key[128], *val;
        size_t nk;
        p = strchr(line, '\n');
        end = p != NULL ? p : line + strlen(line);
        eq = memchr(line, '=', (size_t)(end - line));
        if (eq == NULL) {
            continue;
        }
        nk = (size_t)(eq - line) < sizeof(key) - 1 ? (size_t)(eq - line)
                                                   : sizeof(key) - 1;
        memcpy(key, line, nk);
        key[nk] = '\0';
        val = strndup(eq + 1, (size_t)(end - eq - 1));
        if (!first) {
            rend_buf_put(b, ", ", 2);
        }
        first = 0;
        json_str(b, key);
        rend_buf_put(b, ": ", 2);
        json_str(b, secret_name(key, nk) ? "(redacted)" : val);
        free(val);
    }
    rend_buf_put(b, "}", 1);
}

static void
json_route(struct rend_buf *b, const struct rend_route *r)
{
    char buf[512];

    if (r == NULL) {
        rend_buf_put(b, "null", 4);
        return;
    }
    if (r->strategy == REND_ST_LUA) {
        snprintf(buf, sizeof(buf), "route_fn #%d", r->seq);
    } else if (r->l2 != NULL) {
        snprintf(buf, sizeof(buf), "%s(%s, %s)",
                 r->strategy == REND_ST_L1L2_BATCH ? "l1l2_batch" : "l1l2",
                 r->l1 ? r->l1->name : "?", r->l2->name);
    } else {
        snprintf(buf, sizeof(buf), "l1only(%s)", r->l1 ? r->l1->name : "?");
    }
    json_str(b, buf);
}

static void
json_by_cmd(struct rend_buf *b, struct rend_route *const *by_cmd)
{
    int first = 1;

    rend_buf_put(b, "{", 1);
    for (unsigned c = 0; c < REND_CMD__COUNT; c++) {
        int dup = 0;
        if (rend_cmd_table[c].op < 0) {
            continue;
        }
        for (unsigned p = 0; p < c; p++) {
            dup |= rend_cmd_table[p].op >= 0
                   && strcmp(rend_cmd_table[p].name, rend_cmd_table[c].name)
                          == 0;
        }
        if (dup) {
            continue;
        }
        if (!first) {
            rend_buf_put(b, ", ", 2);
        }
        first = 0;
        json_str(b, rend_cmd_table[c].name);
        rend_buf_put(b, ": ", 2);
        json_route(b, by_cmd[c]);
    }
    rend_buf_put(b, "}", 1);
}

/* A listener's tls = {...} as it was compiled: file paths (never their
 * contents: the key file's path is shown, its key is not), the checks
 * and the served certificate's fingerprint; null on a plain listener. */
static void
json_tls(struct rend_buf *b, const struct rend_tls_ctx *ctx)
{
    static const char *const verify[] = { "none", "request", "require" };
    const struct rend_tls_conf *tc = rend_tls_ctx_conf(ctx);
    char fp[128];

    if (tc == NULL) {
        rend_buf_put(b, "null", 4);
        return;
    }
    rend_tls_ctx_fingerprint(ctx, fp, sizeof(fp));
    rend_buf_put(b, "{\"cert\": ", 9);
    json_str(b, tc->cert);
    rend_buf_put(b, ", \"key\": ", 9);
    json_str(b, tc->key);
    rend_buf_put(b, ", \"ca\": ", 8);
    if (tc->ca != NULL) {
        json_str(b, tc->ca);
    } else {
        rend_buf_put(b, "null", 4);
    }
    rend_buf_put(b, ", \"verify_client\": ", 19);
    json_str(b, tc->verify >= 0 && tc->verify <= 2 ? verify[tc->verify]
                                                   : "?");
    rend_buf_put(b, ", \"min_version\": ", 17);
    json_str(b, tc->min_version != NULL ? tc->min_version : "1.2");
    rend_buf_put(b, ", \"ciphers\": ", 13);
    if (tc->ciphers != NULL) {
        json_str(b, tc->ciphers);
    } else {
        rend_buf_put(b, "null", 4);
    }
    rend_buf_put(b, ", \"ciphersuites\": ", 18);
    if (tc->ciphersuites != NULL) {
        json_str(b, tc->ciphersuites);
    } else {
        rend_buf_put(b, "null", 4);
    }
    rend_buf_put(b, ", \"allow_names\": [", 18);
    for (unsigned i = 0; i < tc->nallow; i++) {
        if (i > 0) {
            rend_buf_put(b, ", ", 2);
        }
        json_str(b, tc->allow_names[i]);
    }
    rend_buf_put(b, "], \"cert_sha256\": ", 18);
    json_str(b, fp);
    rend_buf_printf(b, ", \"loaded_at\": %lld}",
                    (long long)rend_tls_ctx_loaded(ctx));
}

void
rend_admin_config(struct rend_buf *b, const struct rend_gen *g)
{
    rend_buf_printf(b, "{\n  \"generation\": %llu,\n  \"source\": ",
                    (unsigned long long)g->id);
    json_str(b, g->source);
    rend_buf_printf(b, ",\n  \"loaded_at\": %lld,\n  \"handlers\": [",
                    (long long)g->loaded_at);
    for (unsigned i = 0; i < g->nhinsts; i++) {
        const struct rend_hinst *hi = g->hinsts[i];
        rend_buf_printf(b, "%s\n    {\"name\": ", i ? "," : "");
        json_str(b, hi->name);
        rend_buf_put(b, ", \"plugin\": ", 12);
        json_str(b, hi->plugin_name);
        rend_buf_printf(b, ", \"line\": %d, \"options\": ", hi->line);
        json_options(b, hi);
        rend_buf_put(b, "}", 1);
    }
    rend_buf_put(b, "\n  ],\n  \"listeners\": [", 22);
    for (unsigned i = 0; i < g->nlisteners; i++) {
        const struct rend_listen_conf *lc = &g->listeners[i];
        rend_buf_printf(b, "%s\n    {", i ? "," : "");
        if (lc->unix_path != NULL) {
            rend_buf_put(b, "\"unix\": ", 8);
            json_str(b, lc->unix_path);
        } else {
            rend_buf_put(b, "\"address\": ", 11);
            json_str(b, lc->address != NULL ? lc->address : "*");
            rend_buf_printf(b, ", \"port\": %d", lc->port);
            if (i < REND_MAX_LISTENERS && rend_listener_port[i] > 0) {
                rend_buf_printf(b, ", \"bound_port\": %d",
                                rend_listener_port[i]);
            }
        }
        rend_buf_put(b, ",\n     \"tls\": ", 14);
        json_tls(b, lc->tls);
        rend_buf_put(b, ",\n     \"routes\": ", 17);
        json_by_cmd(b, lc->routes.by_cmd);
        rend_buf_put(b, ",\n     \"prefixes\": {", 20);
        for (unsigned p = 0; p < lc->routes.nprefixes; p++) {
            rend_buf_put(b, p ? ",\n       " : "\n       ", p ? 9 : 8);
            json_str(b, lc->routes.prefixes[p].prefix);
            rend_buf_put(b, ": ", 2);
            json_by_cmd(b, lc->routes.prefixes[p].by_cmd);
        }
        rend_buf_put(b, "}}", 2);
    }
    if (g->admin_port >= 0) {
        rend_buf_put(b, "\n  ],\n  \"admin\": {\"address\": ", 29);
        json_str(b, g->admin_address);
        rend_buf_printf(b, ", \"port\": %d}\n}\n", g->admin_port);
    } else {
        rend_buf_put(b, "\n  ],\n  \"admin\": null\n}\n", 24);
    }
}

/* ---- reload report -------------------------------------------------- */

static int
has_hinst(const struct rend_gen *g, const struct rend_hinst *hi)
{
    for (unsigned i = 0; i < g->nhinsts; i++) {
        if (g->hinsts[i] == hi) {
            return 1;
        }
    }
    return 0;
}

static void
list_hinsts(struct rend_buf *b, const char *what, const struct rend_gen *a,
            const struct rend_gen *other, int want_in_other)
{
    int any = 0;

    rend_buf_printf(b, "handlers %s:", what);
    for (unsigned i = 0; i < a->nhinsts; i++) {
        if (has_hinst(other, a->hinsts[i]) == want_in_other) {
            rend_buf_printf(b, " %s", a->hinsts[i]->name);
            any = 1;
        }
    }
    rend_buf_printf(b, "%s\n", any ? "" : " (none)");
}

void
rend_admin_diff(struct rend_buf *b, const struct rend_gen *old,
                const struct rend_gen *g)
{
    rend_buf_printf(b, "reloaded %s: generation %llu -> %llu\n", g->source,
                    (unsigned long long)old->id, (unsigned long long)g->id);
    list_hinsts(b, "kept", g, old, 1);
    list_hinsts(b, "added", g, old, 0);
    list_hinsts(b, "dropped", old, g, 0);
    rend_buf_printf(b, "routes swapped: %u listener%s, %u routes\n",
                    g->nlisteners, g->nlisteners == 1 ? "" : "s",
                    g->nroutes);
    if (g->threads != old->threads || g->max_conns != old->max_conns
        || g->item_size_max != old->item_size_max) {
        rend_buf_printf(b, "settings changed: takes effect at the next "
                        "restart\n");
    }
    if (g->admin_port != old->admin_port
        || (g->admin_address == NULL) != (old->admin_address == NULL)
        || (g->admin_address != NULL
            && strcmp(g->admin_address, old->admin_address) != 0)) {
        rend_buf_printf(b, "admin changed: takes effect at the next "
                        "restart\n");
    }
}

/* ---- HTTP ----------------------------------------------------------- */

static void
aconn_close(struct ev_loop *loop, struct aconn *c)
{
    ev_io_stop(loop, &c->io);
    ev_timer_stop(loop, &c->tmo);
    close(c->fd);
    *c->pprev = c->next;
    if (c->next != NULL) {
        c->next->pprev = c->pprev;
    }
    naconns--;
    rend_buf_free(&c->out);
    free(c);
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct aconn *c = w->data;

    while (c->off < c->out.n) {
        ssize_t n = write(c->fd, c->out.p + c->off, c->out.n - c->off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        c->off += (size_t)n;
    }
    shutdown(c->fd, SHUT_WR);
    aconn_close(loop, c);
}

static void
respond(struct ev_loop *loop, struct aconn *c, int code, const char *ctype,
        const char *extra, struct rend_buf *body)
{
    const char *reason = code == 200 ? "OK" : code == 400 ? "Bad Request"
                         : code == 404 ? "Not Found"
                         : code == 405 ? "Method Not Allowed"
                         : code == 413 ? "Payload Too Large"
                         : code == 422 ? "Unprocessable Entity"
                         : code == 503 ? "Service Unavailable"
                         : "Internal Server Error";

    if (body->failed) {
        code = 500;
        reason = "Internal Server Error";
        rend_buf_free(body);
        rend_buf_printf(body, "out of memory\n");
    }
    rend_buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                    code, reason, ctype, body->n, extra ? extra : "");
    rend_buf_put(&c->out, body->p != NULL ? body->p : "", body->n);
    rend_buf_free(body);
    if (c->out.failed) {
        aconn_close(loop, c);
        return;
    }
    ev_io_stop(loop, &c->io);
    ev_io_init(&c->io, on_write, c->fd, EV_WRITE);
    c->io.data = c;
    ev_io_start(loop, &c->io);
    on_write(loop, &c->io, EV_WRITE);
}

static const char text_plain[] = "text/plain; charset=utf-8";

static void
serve(struct ev_loop *loop, struct aconn *c, const char *method,
      const char *path)
{
    struct rend_buf body = { 0 };
    struct rend_gen *g = rend_main_current();
    char why[512];
    int get = strcmp(method, "GET") == 0;

    if (strcmp(path, "/metrics") == 0 && get) {
        rend_metrics_render(&body, g);
        respond(loop, c, 200, "text/plain; version=0.0.4; charset=utf-8",
                NULL, &body);
    } else if (strcmp(path, "/healthz") == 0 && get) {
        rend_buf_printf(&body, "ok\n");
        respond(loop, c, 200, text_plain, NULL, &body);
    } else if (strcmp(path, "/readyz") == 0 && get) {
        int ok = rend_admin_ready(g, why, sizeof(why));
        rend_buf_printf(&body, "%s\n", why);
        respond(loop, c, ok ? 200 : 503, text_plain, NULL, &body);
    } else if (strcmp(path, "/config") == 0 && get) {
        rend_admin_config(&body, g);
        respond(loop, c, 200, "application/json", NULL, &body);
    } else if (strcmp(path, "/reload") == 0 && strcmp(method, "POST") == 0) {
        int rc = rend_reload(&body);
        rend_buf_put(&body, "\n", body.n && body.p[body.n - 1] == '\n' ? 0 : 1);
        respond(loop, c, rc == 0 ? 200 : 422, text_plain, NULL, &body);
    } else if (strcmp(path, "/reload") == 0) {
        rend_buf_printf(&body, "use POST /reload\n");
        respond(loop, c, 405, text_plain, "Allow: POST\r\n", &body);
    } else if (strcmp(path, "/metrics") == 0 || strcmp(path, "/healthz") == 0
               || strcmp(path, "/readyz") == 0
               || strcmp(path, "/config") == 0) {
        rend_buf_printf(&body, "use GET %s\n", path);
        respond(loop, c, 405, text_plain, "Allow: GET\r\n", &body);
    } else {
        rend_buf_printf(&body, "not found; try /metrics /healthz /readyz "
                        "/config or POST /reload\n");
        respond(loop, c, 404, text_plain, NULL, &body);
    }
}

/* Parse what has arrived; serve once the head (and any body) is in. */
static void
try_request(struct ev_loop *loop, struct aconn *c)
{
    char *end = strstr(c->in, "\r\n\r\n"), *sp1, *sp2, *q, *cl;
    size_t head, want = 0;
    struct rend_buf body = { 0 };

    if (end == NULL) {
        if (c->nin >= ADMIN_MAX_REQ) {
            rend_buf_printf(&body, "request too large\n");
            respond(loop, c, 413, text_plain, NULL, &body);
        }
        return;
    }
    head = (size_t)(end - c->in) + 4;
    *end = '\0';
    for (cl = c->in; (cl = strchr(cl, '\n')) != NULL; ) {
        cl++;
        if (strncasecmp(cl, "content-length:", 15) == 0) {
            want = strtoul(cl + 15, NULL, 10);
        }
    }
    if (head + want > ADMIN_MAX_REQ) {
        rend_buf_printf(&body, "request too large\n");
        respond(loop, c, 413, text_plain, NULL, &body);
        return;
    }
    if (c->nin < head + want) {
        *end = '\r';
        return; /* the body is still coming */
    }
    sp1 = strchr(c->in, ' ');
    sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        rend_buf_printf(&body, "bad request line\n");
        respond(loop, c, 400, text_plain, NULL, &body);
        return;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    q = strchr(sp1 + 1, '?');
    if (q != NULL) {
        *q = '\0';
    }
    ev_timer_stop(loop, &c->tmo);
    serve(loop, c, c->in, sp1 + 1);
}

static void
on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct aconn *c = w->data;
    ssize_t n = read(c->fd, c->in + c->nin, ADMIN_MAX_REQ - c->nin);

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        aconn_close(loop, c);
        return;
    }
    c->nin += (size_t)n;
    c->in[c->nin] = '\0';
    try_request(loop, c);
}

static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    aconn_close(loop, w->data);
}

static void
on_admin_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    for (int i = 0; i < 16; i++) {
        int fd = accept4(admin_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct aconn *c;
        if (fd < 0) {
            return;
        }
        if (naconns >= ADMIN_MAX_CONNS
            || (c = calloc(1, sizeof(*c))) == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->next = aconns;
        c->pprev = &aconns;
        if (aconns != NULL) {
            aconns->pprev = &c->next;
        }
        aconns = c;
        naconns++;
        ev_io_init(&c->io, on_read, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_init(&c->tmo, on_timeout, ADMIN_TIMEOUT, 0.);
        c->tmo.data = c;
        ev_timer_start(loop, &c->tmo);
    }
}

int
rend_admin_start(struct ev_loop *loop, const struct rend_gen *g, int *port)
{
    char why[256];

    *port = -1;
    if (g->admin_port < 0) {
        return 0;
    }
    admin_fd = rend_tcp_listen(g->admin_address, g->admin_port, 64, port,
                               why, sizeof(why));
    if (admin_fd < 0) {
        rend_log(REND_LOG_ERR, "admin %s:%d: %s", g->admin_address,
                 g->admin_port, why);
        return -1;
    }
    ev_io_init(&admin_io, on_admin_accept, admin_fd, EV_READ);
    ev_io_start(loop, &admin_io);
    rend_log(REND_LOG_INFO, "admin listening on %s:%d", g->admin_address,
             *port);
    return 0;
}

void
rend_admin_stop(struct ev_loop *loop)
{
    while (aconns != NULL) {
        aconn_close(loop, aconns);
    }
    if (admin_fd >= 0) {
        ev_io_stop(loop, &admin_io);
        close(admin_fd);
        admin_fd = -1;
    }
}
