/*
 * check_mc_common.c - see check_mc_common.h.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_mc_common.h"

int
mcp_start(struct mcproc *m, int port)
{
    static const char *const extra[] = { "-m", "64", "-I", "2m", "-t", "2",
                                         NULL };

    memset(&m->srv, 0, sizeof(m->srv));
    if (rend_srv_start_memcached_tcp(&m->srv, port, extra) != 0) {
        m->port = 0;
        return -1;
    }
    m->port = m->srv.port;
    return 0;
}

void
mcp_stop(struct mcproc *m, int sig)
{
    rend_srv_kill(&m->srv, sig);
}

size_t
mcp_raw(int port, const char *req, size_t nreq, const char *until, char *out,
        size_t cap)
{
    struct rend_cli c;
    size_t got = 0, nu = strlen(until);
    struct timespec t0, t1;
    int fd;

    out[0] = '\0';
    if (rend_cli_open_port(&c, port) != 0) {
        return 0;
    }
    fd = c.fd;
    if (write(fd, req, nreq) != (ssize_t)nreq) {
        close(fd);
        return 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got + 1 < cap) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;
        if (got >= nu && memcmp(out + got - nu, until, nu) == 0) {
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 2 || poll(&p, 1, 100) < 0) {
            break;
        }
        if (!(p.revents & POLLIN)) {
            continue;
        }
        n = read(fd, out + got, cap - 1 - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

struct rend_th *
mcp_open(const char *const *opts)
{
    /* a test that sets no request timeout gets 10 s, not the plugin's 1 s
     * default: a loaded CI machine can stall a big batch for longer */
    const char *all[64];
    char err[256] = "";
    size_t n = 0;
    int has_timeout = 0;
    struct rend_th *th;

    /* opts come in key, value pairs */
    for (; opts[n] != NULL && n + 4 < sizeof(all) / sizeof(all[0]); n += 2) {
        has_timeout |= strcmp(opts[n], "timeout_ms") == 0;
        all[n] = opts[n];
        all[n + 1] = opts[n + 1];
    }
    if (!has_timeout) {
        all[n++] = "timeout_ms";
        all[n++] = "10000";
    }
    all[n] = NULL;
    th = rend_th_open("memcached", all, err, sizeof(err));

    ck_assert_msg(th != NULL, "open: %s", err);
    return th;
}

int
mcp_op(struct rend_th *th, int code, const char *key, size_t nkey,
       const char *value, size_t nvalue, uint32_t flags, int64_t exptime,
       char **out, size_t *nout)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, NULL, value, nvalue, flags, exptime);
    op.key = key;
    op.nkey = (uint32_t)nkey;
    st = rend_th_run(th, &op);
    if (out != NULL) {
        *out = NULL;
        *nout = op.out_nvalue;
        if (st == REND_OK && op.out_value != NULL) {
            *out = malloc(op.out_nvalue + 1);
            memcpy(*out, op.out_value, op.out_nvalue);
            (*out)[op.out_nvalue] = '\0';
        }
    }
    rend_th_op_fini(&op);
    return st;
}
