/*
 * rend_settings.h - process-wide settings from the command line and the
 * config.  Written by the main thread before workers start (and on
 * reload, only fields documented as reloadable); read everywhere.
 */
#ifndef REND_SETTINGS_H
#define REND_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#define REND_KEY_MAX 250
#define REND_LINE_MAX (64 * 1024)       /* longest text command line */
#define REND_CMD_LINE_MAX 2048          /* ... other than a get/gets */
#define REND_OUT_HIGH (4u * 1024 * 1024) /* stop reading above this */
#define REND_SMALL_VALUE 2048 /* values up to this are copied into the output
                               * buffer; larger ones are sent by reference */

struct rend_tls_conf;

struct rend_settings {
    unsigned threads;         /* -t */
    unsigned max_conns;       /* -c (connections) */
    uint32_t item_size_max;   /* -I */
    int verbose;              /* -v count */
    int flush_disabled;       /* -F: flush_all is refused, as memcached -F */
    const char *auth_file;    /* -Y: every listener authenticates with it */
    /* -Z with -o ssl_*: every TCP listener without its own tls{} speaks
     * TLS with these files (read by rend_config.c at each compile) */
    const struct rend_tls_conf *tls;
    int64_t started;          /* unix time at start */
    const char *version;      /* reply to version */
    int tcp_port;             /* first TCP listener's bound port (stats) */
    const char *inter;        /* ... its address, NULL = any */
    const char *domain_socket; /* first unix listener's path, or NULL */
    int detail;               /* `stats detail on|off` (accepted, no data) */
    /* slow clients (settings{}; see rend_conn_sweep) */
    unsigned idle_timeout;    /* s without any progress: close; 0 = off */
    unsigned read_timeout;    /* s a half-received request may wait */
    uint64_t conn_buffer_max; /* bytes all input buffers may grow by */
};

#define REND_READ_TIMEOUT_DEFAULT 30
#define REND_CONN_BUFFER_MB_DEFAULT 256

extern struct rend_settings rend_settings;

#endif /* REND_SETTINGS_H */
