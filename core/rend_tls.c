/*
 * rend_tls.c - TLS contexts and sessions over OpenSSL (see rend_tls.h).
 *
 * Sessions use a socket BIO on the connection's nonblocking fd: every call
 * either makes progress or reports what it waits for, and the connection
 * layer arms the matching watcher.  Renegotiation is refused (it is the
 * one way a write could need input in TLS 1.2), and buffers are released
 * while a session is idle, so an idle TLS connection costs little more
 * than a plain one.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rend_log.h"
#include "rend_tls.h"

#ifdef HAVE_OPENSSL

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Writes gather small buffers up to this (one full record). */
#define TLS_GATHER 16384

int
rend_tls_available(void)
{
    return 1;
}

/* The latest queued OpenSSL error as text; the queue is cleared. */
static void
ossl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0) {
        snprintf(buf, n, "unknown error");
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r != NULL) {
            snprintf(buf, n, "%s", r);
        } else {
            ERR_error_string_n(e, buf, n);
        }
    }
    ERR_clear_error();
}

static int
parse_version(const char *v, int *out)
{
    static const struct {
        const char *name;
        int version;
    } versions[] = {
        { "1.0", TLS1_VERSION },
        { "1.1", TLS1_1_VERSION },
        { "1.2", TLS1_2_VERSION },
        { "1.3", TLS1_3_VERSION },
    };

    if (v == NULL) {
        *out = TLS1_2_VERSION;
        return 0;
    }
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        if (strcmp(v, versions[i].name) == 0) {
            *out = versions[i].version;
            return 0;
        }
    }
    return -1;
}

struct rend_tls_ctx *
rend_tls_ctx_new(const struct rend_tls_conf *conf, char *err, size_t errlen)
{
    SSL_CTX *ctx;
    char why[256];
    int minv;

    ERR_clear_error();
    if (conf->cert == NULL || conf->key == NULL) {
        snprintf(err, errlen, "tls needs cert and key");
        return NULL;
    }
    if (parse_version(conf->min_version, &minv) != 0) {
        snprintf(err, errlen, "tls: min_version \"%s\" is not one of 1.0, "
                 "1.1, 1.2, 1.3", conf->min_version);
        return NULL;
    }
    if (conf->verify != REND_TLS_VERIFY_NONE && conf->ca == NULL) {
        snprintf(err, errlen, "tls: verifying client certificates needs ca "
                 "(the CA bundle that signs them)");
        return NULL;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ossl_reason(why, sizeof(why));
        snprintf(err, errlen, "tls: cannot create a context: %s", why);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION
                                 | SSL_OP_CIPHER_SERVER_PREFERENCE);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* a client that closes without close_notify ends its stream, as a
     * plain one does (memcached's framing is in the protocol) */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                              | SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_min_proto_version(ctx, minv) != 1) {
        ossl_reason(why, sizeof(why));
        snprintf(err, errlen, "tls: min_version %s: %s", conf->min_version,
                 why);
        goto fail;
    }
    /* resumed sessions must belong to this server (needed with client
     * verification) */
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"rend", 4);
    if (SSL_CTX_use_certificate_chain_file(ctx, conf->cert) != 1) {
        ossl_reason(why, sizeof(why));
        snprintf(err, errlen, "tls: cannot load cert %s: %s", conf->cert,
                 why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, conf->key, SSL_FILETYPE_PEM) != 1) {
        int mismatch = ERR_GET_REASON(ERR_peek_last_error())
                       == X509_R_KEY_VALUES_MISMATCH;
        ossl_reason(why, sizeof(why));
        if (mismatch) {
            snprintf(err, errlen, "tls: key %s does not match cert %s",
                     conf->key, conf->cert);
        } else {
            snprintf(err, errlen, "tls: cannot load key %s: %s", conf->key,
                     why);
        }
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ossl_reason(why, sizeof(why));
        snprintf(err, errlen, "tls: key %s does not match cert %s: %s",
                 conf->key, conf->cert, why);
        goto fail;
    }
    if (conf->ciphers != NULL
        && SSL_CTX_set_cipher_list(ctx, conf->ciphers) != 1) {
        ossl_reason(why, sizeof(why));
        snprintf(err, errlen, "tls: ciphers \"%s\": %s", conf->ciphers, why);
        goto fail;
    }
    if (conf->ciphersuites != NULL
        && SSL_CTX_set_ciphersuites(ctx, conf->ciphersuites) != 1) {
        ossl_reason(why, sizeof(why));
        snprintf(err, errlen, "tls: ciphersuites \"%s\": %s",
                 conf->ciphersuites, why);
        goto fail;
    }
    if (conf->ca != NULL) {
        STACK_OF(X509_NAME) *names;
        if (SSL_CTX_load_verify_locations(ctx, conf->ca, NULL) != 1) {
            ossl_reason(why, sizeof(why));
            snprintf(err, errlen, "tls: cannot load ca %s: %s", conf->ca,
                     why);
            goto fail;
        }
        /* the CAs named in the certificate request */
        names = SSL_load_client_CA_file(conf->ca);
        if (names == NULL) {
            ossl_reason(why, sizeof(why));
            snprintf(err, errlen, "tls: ca %s holds no certificate: %s",
                     conf->ca, why);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    switch (conf->verify) {
    case REND_TLS_VERIFY_REQUIRE:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER
                                    | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        break;
    case REND_TLS_VERIFY_REQUEST:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        break;
    default:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        break;
    }
    return (struct rend_tls_ctx *)ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void
rend_tls_ctx_free(struct rend_tls_ctx *ctx)
{
    SSL_CTX_free((SSL_CTX *)ctx); /* NULL is a no-op */
}

void
rend_tls_ctx_fingerprint(const struct rend_tls_ctx *ctx, char *out, size_t n)
{
    X509 *x = SSL_CTX_get0_certificate((const SSL_CTX *)ctx);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    size_t off = 0;

    if (n == 0) {
        return;
    }
    out[0] = '\0';
    if (x == NULL || X509_digest(x, EVP_sha256(), md, &len) != 1) {
        return;
    }
    for (unsigned int i = 0; i < len && off + 3 < n; i++) {
        off += (size_t)snprintf(out + off, n - off, "%s%02X", i ? ":" : "",
                                md[i]);
    }
}

struct rend_tls *
rend_tls_new(struct rend_tls_ctx *ctx, int fd)
{
    struct rend_tls *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        return NULL;
    }
    t->ssl = SSL_new((SSL_CTX *)ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        ERR_clear_error();
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    SSL_set_accept_state(t->ssl);
    return t;
}

void
rend_tls_free(struct rend_tls *t)
{
    if (t == NULL) {
        return;
    }
    if (t->up && !t->dead) {
        /* close_notify, if the socket takes it now; we do not wait for
         * the peer's */
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
    SSL_free(t->ssl);
    free(t);
}

/* A call returned r <= 0: 0 and errno EAGAIN when it waits (t->want set),
 * 1 at a clean end of stream, -1 when the session is broken. */
static int
failed(struct rend_tls *t, int r, const char *what)
{
    int e = SSL_get_error(t->ssl, r);
    char why[256];

    switch (e) {
    case SSL_ERROR_WANT_READ:
        t->want = REND_TLS_WANT_READ;
        errno = EAGAIN;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        t->want = REND_TLS_WANT_WRITE;
        errno = EAGAIN;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return 1; /* close_notify: the peer is done */
    case SSL_ERROR_SYSCALL:
        t->dead = 1;
        if (ERR_peek_error() == 0 && (r == 0 || errno == 0)) {
            return 1; /* end of stream without close_notify */
        }
        ERR_clear_error();
        if (errno == 0) {
            errno = ECONNRESET;
        }
        return -1;
    default:
        t->dead = 1;
        ossl_reason(why, sizeof(why));
        rend_log(REND_LOG_INFO, "tls: %s failed: %s",
                 t->up ? what : "handshake", why);
        errno = EPROTO;
        return -1;
    }
}

ssize_t
rend_tls_read(struct rend_tls *t, void *buf, size_t n)
{
    int r, rc;

    if (n > INT_MAX) {
        n = INT_MAX;
    }
    ERR_clear_error();
    errno = 0;
    r = SSL_read(t->ssl, buf, (int)n);
    if (!t->up && SSL_is_init_finished(t->ssl)) {
        t->up = 1;
    }
    if (r > 0) {
        return r;
    }
    rc = failed(t, r, "read");
    return rc == 1 ? 0 : -1;
}

ssize_t
rend_tls_writev(struct rend_tls *t, const struct iovec *iov, int cnt)
{
    char gather[TLS_GATHER];
    const void *p = iov[0].iov_base;
    size_t len = iov[0].iov_len;
    int r;

    if (cnt > 1 && len < TLS_GATHER) {
        /* many small replies: one record instead of one per reply.  A
         * retry after EAGAIN gathers the same prefix again (the output
         * queue only grows at its end), so OpenSSL sees the same bytes. */
        size_t off = 0;
        for (int i = 0; i < cnt && off < TLS_GATHER; i++) {
            size_t take = iov[i].iov_len;
            if (take > TLS_GATHER - off) {
                take = TLS_GATHER - off;
            }
            memcpy(gather + off, iov[i].iov_base, take);
            off += take;
        }
        p = gather;
        len = off;
    }
    if (len > INT_MAX) {
        len = INT_MAX;
    }
    ERR_clear_error();
    errno = 0;
    r = SSL_write(t->ssl, p, (int)len);
    if (r > 0) {
        return r;
    }
    if (failed(t, r, "write") == 1) {
        t->dead = 1;
        errno = EPIPE; /* the peer closed: nothing more can be sent */
    }
    return -1;
}

int
rend_tls_pending(const struct rend_tls *t)
{
    return SSL_pending(t->ssl) > 0 || SSL_has_pending(t->ssl);
}

#else /* !HAVE_OPENSSL */

int
rend_tls_available(void)
{
    return 0;
}

struct rend_tls_ctx *
rend_tls_ctx_new(const struct rend_tls_conf *conf, char *err, size_t errlen)
{
    (void)conf;
    snprintf(err, errlen, "tls: this rend was built without TLS support "
             "(configure found no OpenSSL, or --disable-tls)");
    return NULL;
}

void
rend_tls_ctx_free(struct rend_tls_ctx *ctx)
{
    (void)ctx;
}

void
rend_tls_ctx_fingerprint(const struct rend_tls_ctx *ctx, char *out, size_t n)
{
    (void)ctx;
    if (n > 0) {
        out[0] = '\0';
    }
}

struct rend_tls *
rend_tls_new(struct rend_tls_ctx *ctx, int fd)
{
    (void)ctx;
    (void)fd;
    return NULL;
}

void
rend_tls_free(struct rend_tls *t)
{
    (void)t;
}

ssize_t
rend_tls_read(struct rend_tls *t, void *buf, size_t n)
{
    (void)t;
    (void)buf;
    (void)n;
    errno = ENOTSUP;
    return -1;
}

ssize_t
rend_tls_writev(struct rend_tls *t, const struct iovec *iov, int cnt)
{
    (void)t;
    (void)iov;
    (void)cnt;
    errno = ENOTSUP;
    return -1;
}

int
rend_tls_pending(const struct rend_tls *t)
{
    (void)t;
    return 0;
}

#endif /* HAVE_OPENSSL */
