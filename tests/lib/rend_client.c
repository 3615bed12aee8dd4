/*
 * rend_client.c - the tests' memcached client (see rend_client.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rend_client.h"

int
rend_cli_open(struct rend_cli *c, const struct rend_srv *s)
{
    c->off = c->len = 0;
    c->fd = rend_srv_connect(s);
    return c->fd >= 0 ? 0 : -1;
}

int
rend_cli_open_port(struct rend_cli *c, int port)
{
    struct sockaddr_in sin;
    int one = 1;

    c->off = c->len = 0;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return -1;
    }
    if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

void
rend_cli_attach(struct rend_cli *c, int fd)
{
    c->fd = fd;
    c->off = c->len = 0;
}

void
rend_cli_close(struct rend_cli *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
}

int
rend_cli_send(struct rend_cli *c, const void *buf, size_t n, int ms)
{
    return rend_io_send(c->fd, buf, n, ms);
}

int
rend_cli_send_str(struct rend_cli *c, const char *s, int ms)
{
    return rend_io_send(c->fd, s, strlen(s), ms);
}

/* Refill the buffer; 0 or -1 on close/timeout/full. */
static int
fill(struct rend_cli *c, int ms)
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
        int pr = poll(&p, 1, ms);
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
rend_cli_line(struct rend_cli *c, char *out, size_t cap, int ms)
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
        if (fill(c, ms) != 0) {
            return -1;
        }
    }
}

int
rend_cli_read_n(struct rend_cli *c, void *out, size_t n, int ms)
{
    char *p = out;

    while (n > 0) {
        size_t have = c->len - c->off;
        if (have == 0) {
            if (fill(c, ms) != 0) {
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
rend_cli_cmd(struct rend_cli *c, const char *req, char *out, size_t cap,
             int ms)
{
    if (rend_cli_send_str(c, req, ms) != 0) {
        return -1;
    }
    return rend_cli_line(c, out, cap, ms);
}

int
rend_cli_get(struct rend_cli *c, const char *key, char *val, size_t cap,
             size_t *vlen, uint32_t *flags, int ms)
{
    char req[300], line[400], rkey[256], crlf[2];
    unsigned long fl, len;

    snprintf(req, sizeof(req), "get %s\r\n", key);
    if (rend_cli_cmd(c, req, line, sizeof(line), ms) < 0) {
        fprintf(stderr, "rend_cli_get %s: no reply line (%s)\n", key,
                strerror(errno));
        return -1;
    }
    if (strcmp(line, "END") == 0) {
        return 0;
    }
    if (sscanf(line, "VALUE %255s %lu %lu", rkey, &fl, &len) != 3
        || strcmp(rkey, key) != 0 || len > cap) {
        fprintf(stderr, "rend_cli_get %s: unexpected '%s'\n", key, line);
        return -1;
    }
    if (rend_cli_read_n(c, val, len, ms) != 0
        || rend_cli_read_n(c, crlf, 2, ms) != 0
        || rend_cli_line(c, line, sizeof(line), ms) < 0
        || strcmp(line, "END") != 0) {
        return -1;
    }
    if (vlen != NULL) {
        *vlen = len;
    }
    if (flags != NULL) {
        *flags = (uint32_t)fl;
    }
    return 1;
}

int
rend_cli_set(struct rend_cli *c, const char *key, const void *val, size_t n,
             uint32_t flags, int64_t exptime, int ms)
{
    char req[400], line[256];
    int hl = snprintf(req, sizeof(req), "set %s %u %lld %zu\r\n", key,
                      (unsigned)flags, (long long)exptime, n);

    if (hl < 0 || (size_t)hl >= sizeof(req)
        || rend_cli_send(c, req, (size_t)hl, ms) != 0
        || rend_cli_send(c, val, n, ms) != 0
        || rend_cli_send(c, "\r\n", 2, ms) != 0
        || rend_cli_line(c, line, sizeof(line), ms) < 0) {
        fprintf(stderr, "rend_cli_set %s: no reply\n", key);
        return -1;
    }
    if (strcmp(line, "STORED") != 0) {
        fprintf(stderr, "rend_cli_set %s: '%s'\n", key, line);
        return -1;
    }
    return 0;
}

int
rend_cli_stat_str(struct rend_cli *c, const char *cmd, const char *name,
                  char *out, size_t cap, int ms)
{
    char req[128], line[512];
    size_t nlen = strlen(name);
    int found = -1;

    snprintf(req, sizeof(req), "%s\r\n", cmd);
    if (rend_cli_send_str(c, req, ms) != 0) {
        return -1;
    }
    while (rend_cli_line(c, line, sizeof(line), ms) >= 0) {
        if (strcmp(line, "END") == 0) {
            return found;
        }
        if (strncmp(line, "STAT ", 5) == 0
            && strncmp(line + 5, name, nlen) == 0 && line[5 + nlen] == ' ') {
            snprintf(out, cap, "%s", line + 6 + nlen);
            found = 0;
        }
    }
    return -1;
}

long long
rend_cli_stat(struct rend_cli *c, const char *cmd, const char *name, int ms)
{
    char v[256];

    if (rend_cli_stat_str(c, cmd, name, v, sizeof(v), ms) != 0) {
        return -1;
    }
    return strtoll(v, NULL, 10);
}

long long
rend_srv_stat(const struct rend_srv *s, const char *cmd, const char *name)
{
    struct rend_cli c;
    long long v;

    if (rend_cli_open(&c, s) != 0) {
        return -1;
    }
    v = rend_cli_stat(&c, cmd, name, REND_CLI_MS);
    rend_cli_close(&c);
    return v;
}

void
rend_put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

void
rend_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void
rend_put64(unsigned char *p, uint64_t v)
{
    rend_put32(p, (uint32_t)(v >> 32));
    rend_put32(p + 4, (uint32_t)v);
}

uint32_t
rend_get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
           | p[3];
}

uint64_t
rend_get64(const unsigned char *p)
{
    return (uint64_t)rend_get32(p) << 32 | rend_get32(p + 4);
}

size_t
rend_bin_pack(unsigned char *out, uint8_t op, const void *ext, uint8_t extlen,
              const char *key, const void *val, uint32_t vlen,
              uint32_t opaque)
{
    size_t keylen = key ? strlen(key) : 0;
    uint32_t body = (uint32_t)(extlen + keylen + vlen);

    memset(out, 0, 24);
    out[0] = 0x80;
    out[1] = op;
    rend_put16(out + 2, (uint16_t)keylen);
    out[4] = extlen;
    rend_put32(out + 8, body);
    rend_put32(out + 12, opaque);
    if (extlen) {
        memcpy(out + 24, ext, extlen);
    }
    if (keylen) {
        memcpy(out + 24 + extlen, key, keylen);
    }
    if (vlen) {
        memcpy(out + 24 + extlen + keylen, val, vlen);
    }
    return 24 + body;
}

int
rend_bin_read(int fd, uint8_t *op, uint32_t *bodylen, char *body, size_t cap,
              int ms)
{
    unsigned char h[24];
    uint32_t n;
    char tmp[4096];

    if (rend_io_read_n(fd, h, 24, ms) != 24 || h[0] != 0x81) {
        return -1;
    }
    n = rend_get32(h + 8);
    if (op != NULL) {
        *op = h[1];
    }
    if (bodylen != NULL) {
        *bodylen = n;
    }
    while (n > 0) {
        size_t want = n < sizeof(tmp) ? n : sizeof(tmp);
        if (rend_io_read_n(fd, tmp, want, ms) != want) {
            return -1;
        }
        if (body != NULL && cap > 0) {
            size_t k = want < cap ? want : cap;
            memcpy(body, tmp, k);
            body += k;
            cap -= k;
        }
        n -= (uint32_t)want;
    }
    return h[6] << 8 | h[7];
}
