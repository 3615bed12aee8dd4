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

static int
free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0
        || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int
connect_port(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        return fd;
    }
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

int
mcp_start(struct mcproc *m, int port)
{
    const char *bin = getenv("MEMCACHED");
    char portstr[16];

    if (bin == NULL || *bin == '\0') {
        bin = "/usr/bin/memcached";
    }
    if (access(bin, X_OK) != 0) {
        return -1;
    }
    m->port = port > 0 ? port : free_port();
    if (m->port <= 0) {
        return -1;
    }
    snprintf(portstr, sizeof(portstr), "%d", m->port);
    m->pid = fork();
    if (m->pid < 0) {
        return -1;
    }
    if (m->pid == 0) {
        execl(bin, bin, "-u", "root", "-l", "127.0.0.1", "-p", portstr,
              "-U", "0", "-m", "64", "-I", "2m", "-t", "2", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        int fd = connect_port(m->port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(10000);
    }
    mcp_stop(m, SIGKILL);
    return -1;
}

void
mcp_stop(struct mcproc *m, int sig)
{
    if (m->pid > 0) {
        kill(m->pid, sig);
        waitpid(m->pid, NULL, 0);
        m->pid = 0;
    }
}

size_t
mcp_raw(int port, const char *req, size_t nreq, const char *until, char *out,
        size_t cap)
{
    int fd = connect_port(port);
    size_t got = 0, nu = strlen(until);
    struct timespec t0, t1;

    out[0] = '\0';
    if (fd < 0) {
        return 0;
    }
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
    char err[256] = "";
    struct rend_th *th = rend_th_open("memcached", opts, err, sizeof(err));

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
