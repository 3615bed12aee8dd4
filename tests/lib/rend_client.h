/*
 * rend_client.h - the small memcached client of the tests: a buffered
 * connection (line and exact-length reads), one-call text get/set/stat,
 * and binary packets.
 *
 * A struct rend_cli is for one thread.  Every call takes a timeout in
 * milliseconds (per wait, so a call never blocks longer than that with no
 * byte moving) and reports a close, a timeout or an overflow as -1.
 */
#ifndef REND_CLIENT_H
#define REND_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "rend_server.h"

#define REND_CLI_MS 10000 /* a default timeout */

/* A connection with a read buffer (bytes received, not yet consumed, are
 * buf[off, len)).  The caller owns it; fd is -1 when closed. */
struct rend_cli {
    int fd;
    size_t off, len;
    char buf[65536];
};

/* Connect to s (rend_srv_connect: TCP_NODELAY, or its unix socket), to
 * 127.0.0.1:port, or adopt an open fd.  0 or -1 (c->fd is then -1). */
int rend_cli_open(struct rend_cli *c, const struct rend_srv *s);
int rend_cli_open_port(struct rend_cli *c, int port);
void rend_cli_attach(struct rend_cli *c, int fd);
/* Close the fd (if open); idempotent. */
void rend_cli_close(struct rend_cli *c);

/* Send all n bytes (or the string); 0 or -1. */
int rend_cli_send(struct rend_cli *c, const void *buf, size_t n, int ms);
int rend_cli_send_str(struct rend_cli *c, const char *s, int ms);

/* One line, without its "\n" (and the "\r" before it), NUL-terminated
 * into out.  Returns its length, or -1 on close, timeout, or a line of
 * cap bytes or more. */
int rend_cli_line(struct rend_cli *c, char *out, size_t cap, int ms);

/* Exactly n bytes into out; 0 or -1. */
int rend_cli_read_n(struct rend_cli *c, void *out, size_t n, int ms);

/* Send req (a string) and read one reply line, as rend_cli_line. */
int rend_cli_cmd(struct rend_cli *c, const char *req, char *out, size_t cap,
                 int ms);

/* Text get of one key: 1 on a hit (the value in val, at most cap bytes,
 * its length in *vlen, flags in *flags; either may be NULL), 0 on a miss,
 * -1 on anything else (a message on stderr). */
int rend_cli_get(struct rend_cli *c, const char *key, char *val, size_t cap,
                 size_t *vlen, uint32_t *flags, int ms);

/* Text set; 0 when STORED, else -1 (the reply line on stderr). */
int rend_cli_set(struct rend_cli *c, const char *key, const void *val,
                 size_t n, uint32_t flags, int64_t exptime, int ms);

/* Send `cmd` ("stats", "stats settings", ...) and read through END; the
 * value of the line STAT <name> <value> goes into out (NUL-terminated,
 * at most cap-1 bytes).  0, or -1 when absent or on an I/O error. */
int rend_cli_stat_str(struct rend_cli *c, const char *cmd, const char *name,
                      char *out, size_t cap, int ms);
/* The same as a number; -1 when absent. */
long long rend_cli_stat(struct rend_cli *c, const char *cmd,
                        const char *name, int ms);
/* One stat of s on a connection of its own (opened and closed here). */
long long rend_srv_stat(const struct rend_srv *s, const char *cmd,
                        const char *name);

/* Binary protocol.  Build a request (magic 0x80; key a string or NULL)
 * into out, which must hold 24 + extlen + strlen(key) + vlen bytes; the
 * length is returned. */
size_t rend_bin_pack(unsigned char *out, uint8_t op, const void *ext,
                     uint8_t extlen, const char *key, const void *val,
                     uint32_t vlen, uint32_t opaque);
/* Read one response from fd: its status (-1 on error or a magic other
 * than 0x81); *op and *bodylen (may be NULL) are filled; the body is read
 * and its first cap bytes copied into body (may be NULL). */
int rend_bin_read(int fd, uint8_t *op, uint32_t *bodylen, char *body,
                  size_t cap, int ms);

/* Big-endian fields. */
void rend_put16(unsigned char *p, uint16_t v);
void rend_put32(unsigned char *p, uint32_t v);
void rend_put64(unsigned char *p, uint64_t v);
uint32_t rend_get32(const unsigned char *p);
uint64_t rend_get64(const unsigned char *p);

#endif
