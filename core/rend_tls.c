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
#include <time.h>

#include "rend_log.h"
#include "rend_tls.h"

#ifdef HAVE_OPENSSL

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Writes gather small buffers up to this (one full record). */
#define TLS_GATHER REND_TLS_WBUF

/* What a listener's generation holds: the context (sessions take their
 * own references on it) and a copy of the settings it was built from. */
struct rend_tls_ctx {
    SSL_CTX *ssl;
    struct rend_tls_conf conf; /* strings below are owned */
    char **names;              /* conf.allow_names */
    int64_t loaded;
};

static char *
dup_or_null(const char *s, int *oom)
{
    char *d;

    if (s == NULL) {
        return NULL;
    }
    d = strdup(s);
    *oom |= d == NULL;
    return d;
}

static void
conf_free(struct rend_tls_ctx *c)
{
    free((char *)c->conf.cert);
    free((char *)c->conf.key);
    free((char *)c->conf.ca);
    free((char *)c->conf.ciphers);
    free((char *)c->conf.ciphersuites);
    free((char *)c->conf.min_version);
    for (unsigned i = 0; c->names != NULL && i < c->conf.nallow; i++) {
        free(c->names[i]);
    }
    free(c->names);
}

/* Copy conf into c; -1 when out of memory (c is then conf_free'able). */
static int
conf_copy(struct rend_tls_ctx *c, const struct rend_tls_conf *conf)
{
    int oom = 0;

    c->conf.cert = dup_or_null(conf->cert, &oom);
    c->conf.key = dup_or_null(conf->key, &oom);
    c->conf.ca = dup_or_null(conf->ca, &oom);
    c->conf.ciphers = dup_or_null(conf->ciphers, &oom);
    c->conf.ciphersuites = dup_or_null(conf->ciphersuites, &oom);
    c->conf.min_version = dup_or_null(conf->min_version, &oom);
    c->conf.verify = conf->verify;
    if (conf->nallow > 0) {
        c->names = calloc(conf->nallow, sizeof(*c->names));
        if (c->names == NULL) {
            return -1;
        }
        c->conf.nallow = conf->nallow;
        for (unsigned i = 0; i < conf->nallow; i++) {
            c->names[i] = dup_or_null(conf->allow_names[i], &oom);
        }
        c->conf.allow_names = (const char *const *)c->names;
    }
    return oom ? -1 : 0;
}

/* A key that needs a passphrase must not make OpenSSL ask for one on the
 * terminal (a reload would hang): rend has no passphrase option. */
static int
no_passphrase(char *buf, int size, int rwflag, void *ud)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    if (ud != NULL) {
        *(int *)ud = 1; /* asked: the key is encrypted */
    }
    return -1;
}

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

/* Build the SSL_CTX; the caller keeps conf. */
static SSL_CTX *
ssl_ctx_new(const struct rend_tls_conf *conf, char *err, size_t errlen)
{
    SSL_CTX *ctx;
    char why[256];
    int minv, asked = 0;

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
    if (conf->nallow > 0 && conf->verify != REND_TLS_VERIFY_REQUIRE) {
        snprintf(err, errlen, "tls: allow_names needs verify_client = true "
                 "(ssl_verify_mode 2 or 3): a client must present a "
                 "certificate for its name to be checked");
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
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &asked);
    {
        /* a file that cannot be opened: say why in the system's words
         * (OpenSSL's reason would be "system lib") */
        const char *files[] = { conf->cert, conf->key, conf->ca };
        const char *what[] = { "cert", "key", "ca" };
        for (int i = 0; i < 3; i++) {
            FILE *f = files[i] != NULL ? fopen(files[i], "r") : NULL;
            if (files[i] != NULL && f == NULL) {
                snprintf(err, errlen, "tls: cannot read %s %s: %s", what[i],
                         files[i], strerror(errno));
                goto fail;
            }
            if (f != NULL) {
                fclose(f);
            }
        }
    }
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
        } else if (asked) {
            snprintf(err, errlen, "tls: key %s is encrypted: rend takes an "
                     "unencrypted key (keep it readable by rend only)",
                     conf->key);
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
    if (conf->nallow > 0) {
        /* OpenSSL's own name check, run on the client's certificate as
         * part of its verification (each session copies these): a
         * mismatch fails the handshake as an untrusted certificate does */
        X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_hostflags(vp,
            X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT
            | X509_CHECK_FLAG_NO_WILDCARDS);
        for (unsigned i = 0; i < conf->nallow; i++) {
            if (conf->allow_names[i] == NULL || conf->allow_names[i][0] == 0
                || X509_VERIFY_PARAM_add1_host(vp, conf->allow_names[i], 0)
                       != 1) {
                ossl_reason(why, sizeof(why));
                snprintf(err, errlen, "tls: allow_names: \"%s\": %s",
                         conf->allow_names[i] ? conf->allow_names[i] : "",
                         why);
                goto fail;
            }
        }
    }
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL); /* was &asked */
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct rend_tls_ctx *
rend_tls_ctx_new(const struct rend_tls_conf *conf, char *err, size_t errlen)
{
    struct rend_tls_ctx *c = calloc(1, sizeof(*c));

    if (c == NULL || conf_copy(c, conf) != 0) {
        snprintf(err, errlen, "tls: out of memory");
        if (c != NULL) {
            conf_free(c);
        }
        free(c);
        return NULL;
    }
    c->ssl = ssl_ctx_new(conf, err, errlen);
    if (c->ssl == NULL) {
        conf_free(c);
        free(c);
        return NULL;
    }
    c->loaded = (int64_t)time(NULL);
    return c;
}

void
rend_tls_ctx_free(struct rend_tls_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    SSL_CTX_free(ctx->ssl); /* sessions keep their own references */
    conf_free(ctx);
    free(ctx);
}

const struct rend_tls_conf *
rend_tls_ctx_conf(const struct rend_tls_ctx *ctx)
{
    return ctx != NULL ? &ctx->conf : NULL;
}

int64_t
rend_tls_ctx_loaded(const struct rend_tls_ctx *ctx)
{
    return ctx != NULL ? ctx->loaded : 0;
}

void
rend_tls_ctx_fingerprint(const struct rend_tls_ctx *ctx, char *out, size_t n)
{
    X509 *x = SSL_CTX_get0_certificate(ctx->ssl);
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
    t->ssl = SSL_new(ctx->ssl);
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
        if (!t->up && SSL_get_verify_result(t->ssl) != X509_V_OK) {
            /* the client's certificate: say why (untrusted, expired,
             * a name not in allow_names, ...) */
            size_t l = strlen(why);
            snprintf(why + l, sizeof(why) - l, " (client certificate: %s)",
                     X509_verify_cert_error_string(
                         SSL_get_verify_result(t->ssl)));
        }
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

const struct rend_tls_conf *
rend_tls_ctx_conf(const struct rend_tls_ctx *ctx)
{
    (void)ctx;
    return NULL;
}

int64_t
rend_tls_ctx_loaded(const struct rend_tls_ctx *ctx)
{
    (void)ctx;
    return 0;
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
