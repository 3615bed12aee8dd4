/*
 * check_server.c - librend's public API (rend/server.h), linked against
 * librend.so as an outside program would be: only the exported functions.
 * Every test runs in its own process (Check's fork mode), so each starts
 * with no server in the process.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <rend/server.h>

#include "rend_check.h"

/* ---- two linked-in handlers: every key answers with a fixed value ---- */

struct fixed {
    const struct rend_host *host;
    char value[32];
};

static int destroyed;

static int
fixed_create(const struct rend_host *host, const char *instance,
             const struct rend_kv *opts, size_t nopts, void **inst,
             char *err, size_t errlen)
{
    static const char *const known[] = { "value", NULL };
    struct fixed *f;

    (void)instance;
    if (rend_opt_check_known(opts, nopts, known, err, errlen) != 0) {
        return REND_EINVAL;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return REND_ENOMEM;
    }
    f->host = host;
    snprintf(f->value, sizeof(f->value), "%s",
             rend_opt_str(opts, nopts, "value", "fixed"));
    *inst = f;
    return REND_OK;
}

static void
fixed_destroy(void *inst)
{
    destroyed++;
    free(inst);
}

static int
fixed_get(void *tctx, struct rend_op *op)
{
    struct fixed *f = tctx;
    size_t n = strlen(f->value);
    char *v;

    if (op->nkey >= 4 && memcmp(op->key, "miss", 4) == 0) {
        return REND_MISS;
    }
    v = f->host->value_alloc(op, n);
    if (v == NULL) {
        return REND_ENOMEM;
    }
    memcpy(v, f->value, n);
    op->out_flags = 0;
    op->out_exptime = 0;
    op->out_cas = 1;
    return REND_OK;
}

static const struct rend_handler fixed_handler = {
    REND_HANDLER_INIT,
    .name = "fixed",
    .version = "1",
    .create = fixed_create,
    .destroy = fixed_destroy,
    .ops = { [REND_OP_GET] = fixed_get },
};

/* ---- a tiny client ---- */

static int
connect_port(int port)
{
    struct sockaddr_in sa;
    struct timeval tv = { 5, 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Send req, read until the reply ends with end (or the timeout); the
 * reply in buf. */
static const char *
ask(int fd, const char *req, const char *end, char *buf, size_t n)
{
    size_t got = 0, elen = strlen(end);

    ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    buf[0] = '\0';
    while (got + 1 < n) {
        ssize_t r = read(fd, buf + got, n - 1 - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        buf[got] = '\0';
        if (got >= elen && strcmp(buf + got - elen, end) == 0) {
            break;
        }
    }
    return buf;
}

/* The server's thread: run until stopped. */
struct runner {
    pthread_t t;
    rend_server *s;
    int rc;
};

static void *
run_thread(void *arg)
{
    struct runner *r = arg;

    r->rc = rend_server_run(r->s);
    return NULL;
}

/* ---- tests ---- */

START_TEST(test_create_destroy)
{
    rend_server *s = rend_server_new(), *t;

    ck_assert_ptr_nonnull(s);
    /* one server per process */
    t = rend_server_new();
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(rend_server_error(NULL), "already exists"));
    ck_assert_uint_eq(rend_server_listeners(s), 0);
    rend_server_destroy(s);
    rend_server_destroy(NULL);
    /* and another one after it */
    s = rend_server_new();
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(rend_server_listen_tcp(s, "127.0.0.1", 0), 0);
    ck_assert_int_eq(rend_server_listen_tcp(s, NULL, 0), 1);
    ck_assert_uint_eq(rend_server_listeners(s), 2);
    rend_server_destroy(s);
}
END_TEST

START_TEST(test_bad_arguments)
{
    rend_server *s;
    rend_instance *a, *b;
    struct rend_handler bad = fixed_handler;
    struct rend_kv typo[] = { { "memroy_mb", "8" } };
    int l;

    /* no server */
    ck_assert_int_eq(rend_server_listen_tcp(NULL, NULL, 0), REND_EINVAL);
    ck_assert_int_eq(rend_server_start(NULL), REND_EINVAL);
    ck_assert_int_eq(rend_server_run(NULL), REND_EINVAL);
    ck_assert_int_eq(rend_server_reload(NULL), REND_EINVAL);
    ck_assert_ptr_null(rend_server_plugin(NULL, "x", "inmem", NULL, 0));
    ck_assert_int_eq(rend_server_port(NULL, 0), -1);
    rend_server_stop(NULL);

    s = rend_server_new();
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(rend_server_listen_tcp(s, NULL, 65536), REND_EINVAL);
    ck_assert_ptr_nonnull(strstr(rend_server_error(s), "bad port"));
    ck_assert_int_eq(rend_server_listen_tcp(s, NULL, -1), REND_EINVAL);
    ck_assert_int_eq(rend_server_listen_unix(s, "", 0700), REND_EINVAL);
    ck_assert_int_eq(rend_server_listen_unix(s, "/tmp/x.sock", 01777),
                     REND_EINVAL);
    ck_assert_int_eq(rend_server_set_threads(s, 0), REND_EINVAL);
    ck_assert_int_eq(rend_server_set_threads(s, 257), REND_EINVAL);
    ck_assert_int_eq(rend_server_set_max_conns(s, 0), REND_EINVAL);
    ck_assert_int_eq(rend_server_set_item_size_max(s, 10), REND_EINVAL);
    ck_assert_int_eq(rend_server_set_log_level(s, 9), REND_EINVAL);
    ck_assert_int_eq(rend_server_set_port_file(s, ""), REND_EINVAL);

    /* handlers: unknown plugin, unknown option, bad descriptor, names */
    ck_assert_ptr_null(rend_server_plugin(s, "x", "no_such_plugin", NULL, 0));
    ck_assert_ptr_nonnull(strstr(rend_server_error(s), "no_such_plugin"));
    ck_assert_ptr_null(rend_server_plugin(s, "x", "inmem", typo, 1));
    ck_assert_ptr_nonnull(strstr(rend_server_error(s), "memroy_mb"));
    ck_assert_ptr_null(rend_server_plugin(s, "x", "inmem", NULL, 1));
    ck_assert_ptr_null(rend_server_plugin(s, NULL, "inmem", NULL, 0));
    ck_assert_ptr_null(rend_server_handler(s, "x", NULL, NULL, 0));
    bad.abi_major = REND_ABI_MAJOR + 1;
    ck_assert_ptr_null(rend_server_handler(s, "x", &bad, NULL, 0));
    ck_assert_ptr_nonnull(strstr(rend_server_error(s), "ABI"));
    bad = fixed_handler;
    bad.build_sig = "ptr=3";
    ck_assert_ptr_null(rend_server_handler(s, "x", &bad, NULL, 0));
    bad = fixed_handler;
    bad.create = NULL;
    ck_assert_ptr_null(rend_server_handler(s, "x", &bad, NULL, 0));
    a = rend_server_handler(s, "a", &fixed_handler, NULL, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(rend_server_handler(s, "a", &fixed_handler, NULL, 0));
    ck_assert_ptr_nonnull(strstr(rend_server_error(s), "exists"));
    b = rend_server_plugin(s, "b", "inmem", NULL, 0);
    ck_assert_ptr_nonnull(b);

    /* routes */
    ck_assert_int_eq(rend_server_route(s, 0, NULL, NULL, REND_ROUTE_L1ONLY,
                                       a, NULL), REND_EINVAL); /* no listener */
    l = rend_server_listen_tcp(s, "127.0.0.1", 0);
    ck_assert_int_eq(l, 0);
    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY,
                                       NULL, NULL), REND_EINVAL);
    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY,
                                       a, b), REND_EINVAL);
    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1L2,
                                       a, NULL), REND_EINVAL);
    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1L2,
                                       a, a), REND_EINVAL);
    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL,
                                       (enum rend_route_kind)7, a, NULL),
                     REND_EINVAL);
    ck_assert_int_eq(rend_server_route(s, l, NULL, "frobnicate",
                                       REND_ROUTE_L1ONLY, a, NULL),
                     REND_EINVAL);
    ck_assert_ptr_nonnull(strstr(rend_server_error(s), "frobnicate"));
    ck_assert_int_eq(rend_server_route(s, l, NULL, "set", REND_ROUTE_L1ONLY,
                                       a, NULL), 0);
    /* a route only for set: no default yet, so start is refused */
    ck_assert_int_eq(rend_server_start(s), REND_EINVAL);
    ck_assert_ptr_nonnull(strstr(rend_server_error(s), "default"));
    /* C calls and a Lua config do not mix */
    ck_assert_int_eq(rend_server_load_config_string(s, "x = 1", "t"),
                     REND_EINVAL);
    /* reload before start */
    ck_assert_int_eq(rend_server_reload(s), REND_EINVAL);
    rend_server_destroy(s);
    ck_assert_int_eq(destroyed, 1); /* instance a */

    /* a broken Lua config says file:line */
    s = rend_server_new();
    ck_assert_int_eq(rend_server_load_config_string(s, "listen {", "bad.lua"),
                     REND_EINVAL);
    ck_assert_ptr_nonnull(strstr(rend_server_error(s), "bad.lua"));
    /* no listener: start refused */
    ck_assert_int_eq(rend_server_start(s), REND_EINVAL);
    rend_server_destroy(s);
}
END_TEST

START_TEST(test_ephemeral_port)
{
    rend_server *s = rend_server_new();
    rend_instance *mem = rend_server_plugin(s, "l1", "inmem", NULL, 0);
    int l0 = rend_server_listen_tcp(s, "127.0.0.1", 0);
    int l1 = rend_server_listen_tcp(s, "127.0.0.1", 0);
    struct runner r = { .s = s };
    char buf[512], pf[64];
    int p0, p1, fd;
    FILE *f;

    ck_assert_ptr_nonnull(mem);
    snprintf(pf, sizeof(pf), "/tmp/check_server_port.%d", (int)getpid());
    ck_assert_int_eq(rend_server_set_port_file(s, pf), 0);
    ck_assert_int_eq(rend_server_set_threads(s, 2), 0);
    ck_assert_int_eq(rend_server_route(s, l0, NULL, NULL, REND_ROUTE_L1ONLY,
                                       mem, NULL), 0);
    ck_assert_int_eq(rend_server_route(s, l1, NULL, NULL, REND_ROUTE_L1ONLY,
                                       mem, NULL), 0);
    ck_assert_int_eq(rend_server_port(s, 0), -1); /* not yet bound */
    ck_assert_int_eq(rend_server_start(s), 0);
    p0 = rend_server_port(s, (unsigned)l0);
    p1 = rend_server_port(s, (unsigned)l1);
    ck_assert_int_gt(p0, 0);
    ck_assert_int_gt(p1, 0);
    ck_assert_int_ne(p0, p1);
    ck_assert_int_eq(rend_server_port(s, 2), -1);
    /* the port file says the same */
    f = fopen(pf, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
    ck_assert_int_eq(atoi(buf), p0);
    ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
    ck_assert_int_eq(atoi(buf), p1);
    fclose(f);
    unlink(pf);
    /* settings are fixed once started */
    ck_assert_int_eq(rend_server_set_threads(s, 1), REND_EINVAL);
    ck_assert_int_eq(rend_server_listen_tcp(s, NULL, 0), REND_EINVAL);
    ck_assert_int_eq(rend_server_start(s), REND_EINVAL);

    ck_assert_int_eq(pthread_create(&r.t, NULL, run_thread, &r), 0);
    /* both listeners serve the one inmem instance */
    fd = connect_port(p0);
    ck_assert_str_eq(ask(fd, "set k 5 0 2\r\nhi\r\n", "\r\n", buf,
                         sizeof(buf)), "STORED\r\n");
    close(fd);
    fd = connect_port(p1);
    ck_assert_str_eq(ask(fd, "get k\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE k 5 2\r\nhi\r\nEND\r\n");
    close(fd);
    rend_server_stop(s);
    ck_assert_int_eq(pthread_join(r.t, NULL), 0);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(rend_server_run(s), REND_EINVAL); /* once */
    rend_server_destroy(s);
}
END_TEST

START_TEST(test_linked_handler)
{
    struct rend_kv opts[] = { { "value", "linked!" } };
    rend_server *s = rend_server_new();
    rend_instance *t = rend_server_handler(s, "t", &fixed_handler, opts, 1);
    int l = rend_server_listen_tcp(s, "127.0.0.1", 0);
    struct runner r = { .s = s };
    char buf[512];
    int fd;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY,
                                       t, NULL), 0);
    ck_assert_int_eq(rend_server_set_threads(s, 1), 0);
    ck_assert_int_eq(rend_server_start(s), 0);
    ck_assert_int_eq(pthread_create(&r.t, NULL, run_thread, &r), 0);
    fd = connect_port(rend_server_port(s, 0));
    ck_assert_str_eq(ask(fd, "get anything\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE anything 0 7\r\nlinked!\r\nEND\r\n");
    /* a key the handler has not: a miss */
    ck_assert_str_eq(ask(fd, "get miss1\r\n", "END\r\n", buf, sizeof(buf)),
                     "END\r\n");
    /* no SET op: the write is refused */
    ck_assert_str_eq(ask(fd, "set x 0 0 1\r\nv\r\n", "\r\n", buf, sizeof(buf)),
                     "SERVER_ERROR not supported\r\n");
    close(fd);
    rend_server_stop(s);
    pthread_join(r.t, NULL);
    ck_assert_int_eq(r.rc, 0);
    rend_server_destroy(s);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

/* default -> A, prefix "p:" -> B, command gets -> B, prefix "p:" set -> A
 * (with "q:" only setting get, so its other commands fall back to the
 * listener's). */
START_TEST(test_routes_and_reload)
{
    struct rend_kv va[] = { { "value", "A" } }, vb[] = { { "value", "B" } };
    rend_server *s = rend_server_new();
    rend_instance *a = rend_server_handler(s, "a", &fixed_handler, va, 1);
    rend_instance *b = rend_server_handler(s, "b", &fixed_handler, vb, 1);
    int l = rend_server_listen_tcp(s, "127.0.0.1", 0);
    struct runner r = { .s = s };
    char buf[512];
    int fd;

    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY,
                                       a, NULL), 0);
    ck_assert_int_eq(rend_server_route(s, l, "p:", NULL, REND_ROUTE_L1ONLY,
                                       b, NULL), 0);
    ck_assert_int_eq(rend_server_route(s, l, NULL, "gets", REND_ROUTE_L1ONLY,
                                       b, NULL), 0);
    ck_assert_int_eq(rend_server_route(s, l, "pp:", "get", REND_ROUTE_L1ONLY,
                                       a, NULL), 0);
    ck_assert_int_eq(rend_server_set_threads(s, 2), 0);
    ck_assert_int_eq(rend_server_start(s), 0);
    ck_assert_int_eq(pthread_create(&r.t, NULL, run_thread, &r), 0);
    fd = connect_port(rend_server_port(s, 0));
    ck_assert_str_eq(ask(fd, "get x\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE x 0 1\r\nA\r\nEND\r\n");
    ck_assert_str_eq(ask(fd, "get p:x\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE p:x 0 1\r\nB\r\nEND\r\n");
    ck_assert_str_eq(ask(fd, "gets x\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE x 0 1 1\r\nB\r\nEND\r\n");
    /* "pp:" (longer) sets only get; gets there falls back to the
     * listener's gets route (B) */
    ck_assert_str_eq(ask(fd, "get pp:x\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE pp:x 0 1\r\nA\r\nEND\r\n");
    ck_assert_str_eq(ask(fd, "gets pp:x\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE pp:x 0 1 1\r\nB\r\nEND\r\n");

    /* change the default while running; it takes effect at the reload,
     * asked for from this (not the server's) thread */
    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY,
                                       b, NULL), 0);
    ck_assert_str_eq(ask(fd, "get x\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE x 0 1\r\nA\r\nEND\r\n");
    ck_assert_int_eq(rend_server_reload(s), 0);
    ck_assert_str_eq(ask(fd, "get x\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE x 0 1\r\nB\r\nEND\r\n");
    /* a new instance while running, routed for a new prefix */
    {
        struct rend_kv vc[] = { { "value", "C" } };
        rend_instance *c = rend_server_handler(s, "c", &fixed_handler, vc, 1);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(rend_server_route(s, l, "c:", NULL,
                                           REND_ROUTE_L1ONLY, c, NULL), 0);
        ck_assert_int_eq(rend_server_reload(s), 0);
    }
    ck_assert_str_eq(ask(fd, "get c:1 x\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE c:1 0 1\r\nC\r\nVALUE x 0 1\r\nB\r\nEND\r\n");
    /* a listener cannot be added while running */
    ck_assert_int_eq(rend_server_listen_tcp(s, NULL, 0), REND_EINVAL);
    close(fd);
    rend_server_stop(s);
    pthread_join(r.t, NULL);
    ck_assert_int_eq(r.rc, 0);
    rend_server_destroy(s);
    ck_assert_int_eq(destroyed, 3);
}
END_TEST

static void *
stop_later(void *arg)
{
    usleep(100 * 1000);
    rend_server_stop(arg);
    return NULL;
}

START_TEST(test_stop_from_thread)
{
    rend_server *s = rend_server_new();
    rend_instance *mem = rend_server_plugin(s, "l1", "inmem", NULL, 0);
    int l = rend_server_listen_tcp(s, "127.0.0.1", 0);
    pthread_t t;

    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY,
                                       mem, NULL), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, stop_later, s), 0);
    /* run starts the server itself, and returns once stopped */
    ck_assert_int_eq(rend_server_run(s), 0);
    pthread_join(t, NULL);
    rend_server_destroy(s);

    /* a stop asked for before run makes run return at once */
    s = rend_server_new();
    mem = rend_server_plugin(s, "l1", "inmem", NULL, 0);
    l = rend_server_listen_tcp(s, "127.0.0.1", 0);
    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY,
                                       mem, NULL), 0);
    rend_server_stop(s);
    ck_assert_int_eq(rend_server_run(s), 0);
    rend_server_destroy(s);
}
END_TEST

static rend_server *sig_server;

static void
on_usr1(int sig)
{
    (void)sig;
    rend_server_stop(sig_server);
}

static void *
signal_later(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
    kill(getpid(), SIGUSR1);
    return NULL;
}

START_TEST(test_stop_from_signal_handler)
{
    struct sigaction sa;
    rend_instance *mem;
    pthread_t t;
    int l;

    sig_server = rend_server_new();
    mem = rend_server_plugin(sig_server, "l1", "inmem", NULL, 0);
    l = rend_server_listen_tcp(sig_server, "127.0.0.1", 0);
    ck_assert_int_eq(rend_server_route(sig_server, l, NULL, NULL,
                                       REND_ROUTE_L1ONLY, mem, NULL), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    ck_assert_int_eq(rend_server_start(sig_server), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, signal_later, NULL), 0);
    ck_assert_int_eq(rend_server_run(sig_server), 0);
    pthread_join(t, NULL);
    rend_server_destroy(sig_server);
}
END_TEST

/* handle_signals: SIGTERM stops run as it stops rend(1). */
START_TEST(test_handle_signals)
{
    rend_server *s = rend_server_new();
    rend_instance *mem = rend_server_plugin(s, "l1", "inmem", NULL, 0);
    int l = rend_server_listen_tcp(s, "127.0.0.1", 0);

    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY,
                                       mem, NULL), 0);
    ck_assert_int_eq(rend_server_handle_signals(s, 1), 0);
    ck_assert_int_eq(rend_server_start(s), 0);
    /* caught by the server's handler (queued until run), not fatal */
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert_int_eq(rend_server_run(s), 0);
    rend_server_destroy(s);
}
END_TEST

START_TEST(test_lua_config)
{
    static const char conf[] =
        "local l1 = handler \"inmem\" { name = \"l1\", memory_mb = 8 }\n"
        "listen { address = \"127.0.0.1\", port = 0,\n"
        "         routes = { default = l1only(l1) } }\n";
    rend_server *s = rend_server_new();
    struct runner r = { .s = s };
    char buf[512];
    int fd;

    ck_assert_int_eq(rend_server_load_config_string(s, conf, "api.lua"), 0);
    ck_assert_uint_eq(rend_server_listeners(s), 1);
    /* a second config, or C calls, are refused */
    ck_assert_int_eq(rend_server_load_config_string(s, conf, "again.lua"),
                     REND_EINVAL);
    ck_assert_int_eq(rend_server_listen_tcp(s, NULL, 0), REND_EINVAL);
    ck_assert_ptr_null(rend_server_plugin(s, "x", "inmem", NULL, 0));
    ck_assert_int_eq(rend_server_set_threads(s, 1), 0);
    ck_assert_int_eq(rend_server_start(s), 0);
    ck_assert_int_eq(pthread_create(&r.t, NULL, run_thread, &r), 0);
    fd = connect_port(rend_server_port(s, 0));
    ck_assert_str_eq(ask(fd, "set k 0 0 3\r\nlua\r\nget k\r\n", "END\r\n",
                         buf, sizeof(buf)),
                     "STORED\r\nVALUE k 0 3\r\nlua\r\nEND\r\n");
    /* reload of the same text keeps the instance (and its data) */
    ck_assert_int_eq(rend_server_reload(s), 0);
    ck_assert_str_eq(ask(fd, "get k\r\n", "END\r\n", buf, sizeof(buf)),
                     "VALUE k 0 3\r\nlua\r\nEND\r\n");
    close(fd);
    rend_server_stop(s);
    pthread_join(r.t, NULL);
    ck_assert_int_eq(r.rc, 0);
    rend_server_destroy(s);
}
END_TEST

START_TEST(test_unix_listener)
{
    char path[96], buf[512];
    rend_server *s = rend_server_new();
    rend_instance *mem = rend_server_plugin(s, "l1", "inmem", NULL, 0);
    struct runner r = { .s = s };
    struct sockaddr_un ua;
    struct stat st;
    int l, fd;

    snprintf(path, sizeof(path), "/tmp/check_server.%d.sock", (int)getpid());
    l = rend_server_listen_unix(s, path, 0600);
    ck_assert_int_eq(l, 0);
    ck_assert_int_eq(rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY,
                                       mem, NULL), 0);
    ck_assert_int_eq(rend_server_start(s), 0);
    ck_assert_int_eq(rend_server_port(s, 0), -1);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(pthread_create(&r.t, NULL, run_thread, &r), 0);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&ua, 0, sizeof(ua));
    ua.sun_family = AF_UNIX;
    snprintf(ua.sun_path, sizeof(ua.sun_path), "%s", path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&ua, sizeof(ua)), 0);
    ck_assert_str_eq(ask(fd, "set u 0 0 1\r\nu\r\nget u\r\n", "END\r\n", buf,
                         sizeof(buf)), "STORED\r\nVALUE u 0 1\r\nu\r\nEND\r\n");
    close(fd);
    rend_server_stop(s);
    pthread_join(r.t, NULL);
    rend_server_destroy(s);
    ck_assert_int_ne(access(path, F_OK), 0); /* removed at shutdown */
}
END_TEST

static Suite *
server_suite(void)
{
    Suite *s = suite_create("rend_server");
    TCase *tc = tcase_create("api");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_create_destroy);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_ephemeral_port);
    tcase_add_test(tc, test_linked_handler);
    tcase_add_test(tc, test_routes_and_reload);
    tcase_add_test(tc, test_stop_from_thread);
    tcase_add_test(tc, test_stop_from_signal_handler);
    tcase_add_test(tc, test_handle_signals);
    tcase_add_test(tc, test_lua_config);
    tcase_add_test(tc, test_unix_listener);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return rend_check_main(server_suite());
}
