/*
 * rend_server.h - start the real rend binary (or a real memcached) for
 * integration tests, and talk to it over a socket.
 *
 * A struct rend_srv is one child process plus a private temp dir holding
 * its port file and its stderr log.  All functions are for one test
 * thread; none is thread-safe on the same struct.  Every I/O helper takes
 * a timeout in milliseconds and never blocks longer than that.
 */
#ifndef REND_SERVER_H
#define REND_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rend_srv {
    pid_t pid;       /* 0 when not running */
    int port;        /* TCP port of the first listener, 0 for a unix one */
    char path[108];  /* unix socket path of the first listener, or "" */
    char dir[64];    /* private temp dir, removed by rend_srv_stop */
    char errlog[96]; /* the child's stderr (dir/stderr) */
};

/* Start $REND_BIN (default ../core/rend) with plugin dir $REND_PLUGIN_DIR,
 * `-p 0 --port-file DIR/port`, then `--config conf` when conf is not NULL, then
 * the NULL-terminated extra args (NULL = none).  Waits up to 10 s for the
 * port file and fills s.  Returns 0, or -1 with a message on stderr (the
 * child, if any, is reaped).  Stop with rend_srv_stop. */
int rend_srv_start(struct rend_srv *s, const char *conf,
                   const char *const *extra);

/* Start $MEMCACHED (default memcached) as root on a unix socket in a new
 * temp dir, with the NULL-terminated extra args, and wait until it
 * accepts.  Returns 0, -1 on failure, -2 when no memcached binary exists
 * (callers skip). */
int rend_srv_start_memcached(struct rend_srv *s, const char *const *extra);

/* The ports of s's listeners, one per line of its port file in listener
 * order (0 for a unix listener), into ports[0, max).  Waits up to
 * timeout_ms until the file lists at least `want` listeners and stays
 * the same for 20 ms (rend writes the lines one by one).  Returns the
 * count, or -1 when fewer than want appeared in time. */
int rend_srv_ports(const struct rend_srv *s, int *ports, int max, int want,
                   int timeout_ms);

/* The same on 127.0.0.1:port (0: a free port), TCP; s->port is set. */
int rend_srv_start_memcached_tcp(struct rend_srv *s, int port,
                                 const char *const *extra);

/* Send sig (SIGKILL, SIGTERM) and reap the child (at most 10 s, then
 * SIGKILL), remove the temp dir.  Idempotent. */
void rend_srv_kill(struct rend_srv *s, int sig);

/* A TCP port on 127.0.0.1 that was free a moment ago; -1 on error. */
int rend_free_port(void);

/* SIGTERM, wait up to timeout_ms (then SIGKILL), remove the temp dir.
 * Returns the exit code, 128+signal when killed by a signal, -1 on
 * timeout (after the SIGKILL).  *ms (may be NULL) gets the time waited. */
int rend_srv_stop(struct rend_srv *s, int timeout_ms, long *ms);

/* The child's stderr so far, NUL-terminated; caller frees.  NULL when
 * unreadable. */
char *rend_srv_stderr(const struct rend_srv *s);

/* Run $REND_BIN with exactly the NULL-terminated args (no -p, no port
 * file) to completion, at most timeout_ms.  Returns the exit status as in
 * rend_srv_stop; *err (may be NULL) gets its stderr, caller frees. */
int rend_srv_run(const char *const *args, int timeout_ms, char **err);

/* A blocking TCP (or unix, when s->path is set) connection to s with
 * TCP_NODELAY; -1 on failure.  Caller closes. */
int rend_srv_connect(const struct rend_srv *s);

/* Write all n bytes (send with MSG_NOSIGNAL); 0 or -1. */
int rend_io_send(int fd, const void *buf, size_t n, int timeout_ms);
int rend_io_send_str(int fd, const char *s, int timeout_ms);

/* Read exactly n bytes.  Returns n, or fewer when the peer closed or the
 * timeout passed (the bytes read so far are in buf). */
size_t rend_io_read_n(int fd, void *buf, size_t n, int timeout_ms);

/* Read one line up to and including '\n' (NUL-terminated, at most cap-1
 * bytes).  Reads byte-wise so nothing past the line is consumed.  Returns
 * the length, or -1 on close/timeout/overflow. */
int rend_io_read_line(int fd, char *buf, size_t cap, int timeout_ms);

/* One read: wait up to timeout_ms for data, then take what is there (at
 * most cap).  Returns the count, 0 on timeout, -1 when the peer closed. */
long rend_io_read_some(int fd, void *buf, size_t cap, int timeout_ms);

/* Read whatever arrives until quiet_ms pass with no new byte (or cap is
 * full or the peer closes).  Returns the count; *closed (may be NULL) is
 * set to 1 when the peer closed. */
size_t rend_io_read_quiet(int fd, char *buf, size_t cap, int quiet_ms,
                          int *closed);

/* 1 when the peer has closed fd (EOF or reset seen within timeout_ms),
 * 0 when it is still open and silent, -1 when it sent bytes instead. */
int rend_io_closed(int fd, int timeout_ms);

/* Resident set size of pid in KiB from /proc/PID/status, -1 on error. */
long rend_pid_rss_kb(pid_t pid);

/* Milliseconds on the monotonic clock. */
int64_t rend_now_ms(void);

#endif
