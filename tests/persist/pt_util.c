/*
 * pt_util.c - see pt_util.h.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pt_util.h"

#define IO_TIMEOUT_MS 10000

static const char *
env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : dflt;
}

int
pt_have_plugin(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/rend_%s.so",
             env_or("REND_PLUGIN_DIR", "../plugins/.libs"), name);
    return access(path, R_OK) == 0;
}

int
pt_inst_init(struct pt_inst *i, const char *conf_name)
{
    const char *src = env_or("REND_SRCDIR", "..");

    memset(i, 0, sizeof(*i));
    snprintf(i->conf, sizeof(i->conf), "%s/tests/persist/conf/%s", src,
             conf_name);
    if (access(i->conf, R_OK) != 0) {
        fprintf(stderr, "persist: no config %s\n", i->conf);
        return -1;
    }
    snprintf(i->data, sizeof(i->data), "/tmp/rend-persist-XXXXXX");
    if (mkdtemp(i->data) == NULL) {
        perror("mkdtemp");
        i->data[0] = '\0';
        return -1;
    }
    return 0;
}

/* The port file of a running instance lists one port per listener. */
static int
read_batch_port(struct pt_inst *i)
{
    char path[128], line[64];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof(path), "%s/port", i->srv.dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    for (int k = 0; k < 2 && fgets(line, sizeof(line), f) != NULL; k++) {
        n = atoi(line);
    }
    fclose(f);
    i->batch_port = n != i->srv.port ? n : 0;
    return i->batch_port > 0 ? 0 : -1;
}

int
pt_inst_start(struct pt_inst *i)
{
    static const char *const extra[] = { "-t", "2", NULL };
    int64_t t0 = rend_now_ms();

    setenv("REND_DATA", i->data, 1);
    if (rend_srv_start(&i->srv, i->conf, extra) != 0) {
        return -1;
    }
    /* the second line may follow the first one by a moment */
    while (read_batch_port(i) != 0) {
        if (rend_now_ms() - t0 > 10000) {
            fprintf(stderr, "persist: no batch port in the port file\n");
            rend_srv_stop(&i->srv, 5000, NULL);
            return -1;
        }
        usleep(5000);
    }
    return 0;
}

int
pt_inst_stop(struct pt_inst *i)
{
    return rend_srv_stop(&i->srv, 20000, NULL);
}

void
pt_inst_kill9(struct pt_inst *i)
{
    if (i->srv.pid > 0) {
        kill(i->srv.pid, SIGKILL);
        waitpid(i->srv.pid, NULL, 0);
        i->srv.pid = 0;
    }
    rend_srv_stop(&i->srv, 1000, NULL);
}

void
pt_inst_cleanup(struct pt_inst *i)
{
    char cmd[128];

    if (i->srv.pid > 0) {
        rend_srv_stop(&i->srv, 20000, NULL);
    }
    if (i->data[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", i->data);
        if (system(cmd) != 0) {
            fprintf(stderr, "persist: could not remove %s\n", i->data);
        }
        i->data[0] = '\0';
    }
}

int
pt_inst_verify(struct pt_inst *i, char **err)
{
    const char *args[] = { "--verify", "l2", "--config", i->conf, NULL };

    setenv("REND_DATA", i->data, 1);
    return rend_srv_run(args, 120000, err);
}

int
pt_conn_open(struct pt_conn *c, const struct pt_inst *i, int batch)
{
    struct rend_srv s = i->srv;

    if (batch) {
        s.port = i->batch_port;
    }
    c->off = c->len = 0;
    c->fd = rend_srv_connect(&s);
    return c->fd >= 0 ? 0 : -1;
}

void
pt_conn_close(struct pt_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
}

int
pt_send(struct pt_conn *c, const void *buf, size_t n)
{
    return rend_io_send(c->fd, buf, n, IO_TIMEOUT_MS);
}

/* Refill the buffer; 0 or -1 on close/timeout. */
static int
fill(struct pt_conn *c)
{
    struct pollfd p = { c->fd, POLLIN, 0 };
    ssize_t r;

    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == sizeof(c->buf)) {
        return -1;
    }
    for (;;) {
        int pr = poll(&p, 1, IO_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            return -1;
        }
        r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        c->len += (size_t)r;
        return 0;
    }
}

int
pt_read_line(struct pt_conn *c, char *out, size_t cap)
{
    for (;;) {
        char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
        if (nl != NULL) {
            size_t n = (size_t)(nl - (c->buf + c->off));
            size_t keep = n > 0 && nl[-1] == '\r' ? n - 1 : n;
            if (keep >= cap) {
                return -1;
            }
            memcpy(out, c->buf + c->off, keep);
            out[keep] = '\0';
            c->off += n + 1;
            return (int)keep;
        }
        if (fill(c) != 0) {
            return -1;
        }
    }
}

int
pt_read_n(struct pt_conn *c, void *out, size_t n)
{
    char *p = out;

    while (n > 0) {
        size_t have = c->len - c->off;
        if (have == 0) {
            if (fill(c) != 0) {
                return -1;
            }
            continue;
        }
        if (have > n) {
            have = n;
        }
        memcpy(p, c->buf + c->off, have);
        c->off += have;
        p += have;
        n -= have;
    }
    return 0;
}

int
pt_cmd(struct pt_conn *c, const char *req, char *out, size_t cap)
{
    if (pt_send(c, req, strlen(req)) != 0) {
        return -1;
    }
    return pt_read_line(c, out, cap);
}

int
pt_get(struct pt_conn *c, const char *key, char *val, size_t cap,
       size_t *vlen, uint32_t *flags)
{
    char req[300], line[400], rkey[256], crlf[2];
    unsigned long fl, len;

    snprintf(req, sizeof(req), "get %s\r\n", key);
    if (pt_cmd(c, req, line, sizeof(line)) < 0) {
        fprintf(stderr, "persist: get %s: no reply line (%s)\n", key,
                strerror(errno));
        return -1;
    }
    if (strcmp(line, "END") == 0) {
        return 0;
    }
    if (sscanf(line, "VALUE %255s %lu %lu", rkey, &fl, &len) != 3
        || strcmp(rkey, key) != 0 || len > cap) {
        fprintf(stderr, "persist: get %s: unexpected '%s'\n", key, line);
        return -1;
    }
    if (pt_read_n(c, val, len) != 0 || pt_read_n(c, crlf, 2) != 0
        || pt_read_line(c, line, sizeof(line)) < 0
        || strcmp(line, "END") != 0) {
        return -1;
    }
    *vlen = len;
    *flags = (uint32_t)fl;
    return 1;
}

long long
pt_stat(struct pt_conn *c, const char *cmd, const char *name)
{
    char req[64], line[512];
    size_t nlen = strlen(name);
    long long v = -1;

    snprintf(req, sizeof(req), "%s\r\n", cmd);
    if (pt_send(c, req, strlen(req)) != 0) {
        return -1;
    }
    while (pt_read_line(c, line, sizeof(line)) >= 0) {
        if (strcmp(line, "END") == 0) {
            return v;
        }
        if (strncmp(line, "STAT ", 5) == 0
            && strncmp(line + 5, name, nlen) == 0 && line[5 + nlen] == ' ') {
            v = strtoll(line + 6 + nlen, NULL, 10);
        }
    }
    return -1;
}

int
pt_key(char *out, size_t cap, uint32_t n)
{
    return snprintf(out, cap, "pt:%u", n);
}

static uint32_t
mix(uint32_t a, uint32_t b)
{
    uint32_t h = a * 2654435761u ^ (b + 0x9e3779b9u + (a << 6) + (a >> 2));

    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return h;
}

uint32_t
pt_flags(uint32_t n, uint32_t version)
{
    return mix(n, version ^ 0x5a5a5a5au);
}

size_t
pt_value(char *out, size_t max_len, uint32_t n, uint32_t version)
{
    uint32_t h = mix(n, version);
    size_t len = 1 + h % max_len;

    /* every byte depends on (n, version, position): a torn or misplaced
     * value cannot pass for another one */
    for (size_t j = 0; j < len; j++) {
        out[j] = (char)(mix(h, (uint32_t)j) & 0xff);
    }
    return len;
}

int64_t
pt_unix_now(void)
{
    return (int64_t)time(NULL);
}

void
pt_sleep_until(int64_t t_ms)
{
    int64_t left;

    while ((left = t_ms - rend_now_ms()) > 0) {
        usleep((useconds_t)(left > 100 ? 100000 : left * 1000));
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double
pt_quantile(double *v, size_t n, double q)
{
    size_t k;

    if (n == 0) {
        return 0;
    }
    qsort(v, n, sizeof(*v), cmp_double);
    k = (size_t)(q * (double)(n - 1) + 0.5);
    return v[k < n ? k : n - 1];
}
