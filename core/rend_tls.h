/*
 * rend_tls.h - TLS on a listener (OpenSSL): one context per listener,
 * built by the config compiler and owned by the config generation, and
 * one session per connection, owned by the connection (rend_conn.c).
 *
 * A context holds the certificate, key and verification settings read
 * when the config was compiled; a reload compiles a new generation and so
 * re-reads the files.  Sessions keep a reference on the context they were
 * made from (OpenSSL counts it), so freeing a generation while its
 * connections live is safe.
 *
 * In a build without OpenSSL (configure --disable-tls, or no libssl-dev)
 * rend_tls_available() is 0, rend_tls_ctx_new() always fails with a
 * message saying so, and no connection ever has a session.
 */
#ifndef REND_TLS_H
#define REND_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <ev.h>

/* The tls = { ... } table of a listen{}, as config.lua normalised it.
 * Strings may be NULL (not given). */
struct rend_tls_conf {
    const char *cert;         /* certificate chain (PEM), required */
    const char *key;          /* private key (PEM), required */
    const char *ca;           /* CA bundle for client certificates */
    const char *ciphers;      /* TLS <= 1.2 cipher list (OpenSSL syntax) */
    const char *ciphersuites; /* TLS 1.3 suites (OpenSSL syntax) */
    const char *min_version;  /* "1.0" .. "1.3"; NULL = "1.2" */
    int verify;               /* REND_TLS_VERIFY_* */
    /* allow_names = {...}: a verified client certificate must name one of
     * these (a DNS subjectAltName or the subject CN, exactly, no
     * wildcards); nallow = 0: any certificate that chains to ca */
    const char *const *allow_names;
    unsigned nallow;
};

enum {
    REND_TLS_VERIFY_NONE = 0,    /* no client certificate asked for */
    REND_TLS_VERIFY_REQUEST = 1, /* asked for; checked when one is sent */
    REND_TLS_VERIFY_REQUIRE = 2, /* a valid client certificate or no session */
};

/* What a TLS call that could not finish waits for. */
enum {
    REND_TLS_WANT_READ = 1,
    REND_TLS_WANT_WRITE = 2,
};

struct rend_tls_ctx; /* an SSL_CTX and the settings it came from */

/* One connection's session.  The connection owns it and may use the
 * watchers and flags below; the rest is rend_tls.c's. */
struct rend_tls {
    void *ssl;          /* SSL * */
    uint8_t up;         /* the handshake has completed */
    uint8_t dead;       /* a fatal error: no close_notify is sent */
    uint8_t want;       /* REND_TLS_WANT_*: what the last failed call waits for */
    /* Watchers the connection arms when a read waits for the socket to be
     * writable (hw) or a write for it to be readable (hr); the plain
     * connection watchers keep their own meaning. */
    ev_io hw, hr;
};

/* 1 when this build has TLS support. */
int rend_tls_available(void);

/* Build a context from conf.  NULL with a reason in err (a file that
 * cannot be read, a key that does not match the certificate, a bad cipher
 * list, ...; without "file:line", which the caller adds).  Main thread. */
struct rend_tls_ctx *rend_tls_ctx_new(const struct rend_tls_conf *conf,
                                      char *err, size_t errlen);
/* Drop the generation's reference (sessions keep theirs).  NULL is fine. */
void rend_tls_ctx_free(struct rend_tls_ctx *ctx);
/* The settings ctx was built from (a copy the context owns, with every
 * string rend_tls_ctx_new was given) and the unix time it read its
 * files, for `stats settings` and GET /config.  NULL for NULL. */
const struct rend_tls_conf *rend_tls_ctx_conf(const struct rend_tls_ctx *ctx);
int64_t rend_tls_ctx_loaded(const struct rend_tls_ctx *ctx);
/* The bytes one TLS write gathers at most (memcached's ssl_wbuf_size). */
#define REND_TLS_WBUF 16384

/* SHA-256 fingerprint of the context's certificate as hex, for logs. */
void rend_tls_ctx_fingerprint(const struct rend_tls_ctx *ctx, char *out,
                              size_t n);

/* A server session on the connected socket fd, or NULL (no memory).
 * The handshake runs inside the first reads. */
struct rend_tls *rend_tls_new(struct rend_tls_ctx *ctx, int fd);
/* Send close_notify (best effort, never blocks) unless the session
 * failed, then free it.  Call before closing fd; the caller stops hw/hr
 * first. */
void rend_tls_free(struct rend_tls *t);

/* Like read(2): bytes read (> 0), 0 at the peer's end of stream, or -1
 * with errno EAGAIN (t->want says for what) or another errno (the session
 * is unusable: close the connection).  Runs the handshake while !t->up. */
ssize_t rend_tls_read(struct rend_tls *t, void *buf, size_t n);
/* Like writev(2): small buffers are gathered into one record, a large one
 * is written from where it is.  After EAGAIN the caller must offer the
 * same bytes again (more may follow them), which the connection's output
 * queue does naturally. */
ssize_t rend_tls_writev(struct rend_tls *t, const struct iovec *iov,
                        int cnt);
/* Decrypted or received bytes wait inside the session, which the socket's
 * readiness will not announce. */
int rend_tls_pending(const struct rend_tls *t);

#endif /* REND_TLS_H */
