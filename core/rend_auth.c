/* rend_auth.c - the auth file (user:password lines) and credential checks. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "rend_auth.h"

struct rend_user {
    const char *user, *pass; /* into text; not NUL-terminated */
    uint32_t nuser, npass;
};

struct rend_auth {
    char *path;
    char *text;               /* the file's bytes */
    size_t ntext;
    struct rend_user *users;
    unsigned nusers;
};

static char *
read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    char *buf;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    /* passwords in a file anyone on the host may read are no secret */
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        snprintf(err, errlen, "%s: refusing an auth file that other users "
                 "may read or write (mode %04o); chmod o-rwx it", path,
                 (unsigned)(st.st_mode & 07777));
        close(fd);
        return NULL;
    }
    if (st.st_size > REND_AUTH_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path,
                 REND_AUTH_FILE_MAX);
        close(fd);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return NULL;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* Parse text into a->users; 0, or -1 with err "path:line: reason". */
static int
parse(struct rend_auth *a, size_t len, char *err, size_t errlen)
{
    const char *p = a->text, *end = a->text + len;
    unsigned line = 0, cap = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        const char *colon;
        size_t n;

        line++;
        n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }
        if (n > REND_AUTH_LINE_MAX) {
            snprintf(err, errlen, "%s:%u: line longer than %d bytes",
                     a->path, line, REND_AUTH_LINE_MAX);
            return -1;
        }
        if (n == 0) {
            p = eol + (nl != NULL);
            continue;
        }
        colon = memchr(p, ':', n);
        if (colon == NULL) {
            snprintf(err, errlen, "%s:%u: expected user:password", a->path,
                     line);
            return -1;
        }
        if (colon == p) {
            snprintf(err, errlen, "%s:%u: empty user name", a->path, line);
            return -1;
        }
        if ((size_t)(colon - p) + 1 == n) {
            snprintf(err, errlen, "%s:%u: empty password", a->path, line);
            return -1;
        }
        for (const char *q = p; q < p + n; q++) {
            unsigned char ch = (unsigned char)*q;
            if (ch < 0x20 || ch == 0x7f || (q < colon && ch == ' ')) {
                snprintf(err, errlen, "%s:%u: %s contains a space or a "
                         "control character", a->path, line,
                         q < colon ? "the user name" : "the password");
                return -1;
            }
        }
        if (a->nusers == REND_AUTH_USERS_MAX) {
            snprintf(err, errlen, "%s:%u: more than %d users", a->path, line,
                     REND_AUTH_USERS_MAX);
            return -1;
        }
        if (a->nusers == cap) {
            unsigned ncap = cap ? cap * 2 : 8;
            struct rend_user *u = realloc(a->users, ncap * sizeof(*u));
            if (u == NULL) {
                snprintf(err, errlen, "%s: out of memory", a->path);
                return -1;
            }
            a->users = u;
            cap = ncap;
        }
        a->users[a->nusers].user = p;
        a->users[a->nusers].nuser = (uint32_t)(colon - p);
        a->users[a->nusers].pass = colon + 1;
        a->users[a->nusers].npass = (uint32_t)(n - (size_t)(colon - p) - 1);
        a->nusers++;
        p = eol + (nl != NULL);
    }
    if (a->nusers == 0) {
        snprintf(err, errlen, "%s: no user:password line", a->path);
        return -1;
    }
    return 0;
}

struct rend_auth *
rend_auth_load(const char *path, char *err, size_t errlen)
{
    struct rend_auth *a = calloc(1, sizeof(*a));
    size_t len = 0;

    if (a == NULL || (a->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(a);
        return NULL;
    }
    a->text = read_file(path, &len, err, errlen);
    a->ntext = len;
    if (a->text == NULL || parse(a, len, err, errlen) != 0) {
        rend_auth_free(a);
        return NULL;
    }
    return a;
}

void
rend_auth_free(struct rend_auth *a)
{
    if (a == NULL) {
        return;
    }
    if (a->text != NULL) {
        /* do not leave the passwords in freed memory */
        volatile char *v = a->text;
        for (size_t i = 0; i < a->ntext; i++) {
            v[i] = 0;
        }
    }
    free(a->text);
    free(a->users);
    free(a->path);
    free(a);
}

const char *
rend_auth_path(const struct rend_auth *a)
{
    return a->path;
}

unsigned
rend_auth_count(const struct rend_auth *a)
{
    return a->nusers;
}

/* 0 when given == stored.  The loop runs over the stored bytes whatever
 * the given ones are, and never stops early. */
static unsigned
ct_diff(const char *given, size_t ngiven, const char *stored, size_t nstored)
{
    unsigned d = (unsigned)(ngiven != nstored);

    for (size_t i = 0; i < nstored; i++) {
        unsigned char g = ngiven ? (unsigned char)given[i % ngiven] : 0;
        d |= (unsigned)(g ^ (unsigned char)stored[i]);
    }
    return d;
}

int
rend_auth_check(const struct rend_auth *a, const char *user, size_t nuser,
                const char *pass, size_t npass)
{
    unsigned ok = 0;

    if (a == NULL) {
        return 0;
    }
    for (unsigned i = 0; i < a->nusers; i++) {
        const struct rend_user *u = &a->users[i];
        unsigned d = ct_diff(user, nuser, u->user, u->nuser)
                     | ct_diff(pass, npass, u->pass, u->npass);
        ok |= (unsigned)(d == 0);
    }
    return ok != 0;
}

int
rend_auth_plain(const struct rend_auth *a, const char *msg, size_t n)
{
    const char *z1 = memchr(msg, '\0', n), *z2, *authcid, *pass;
    size_t nzid, ncid, npass;

    if (z1 == NULL) {
        return 0;
    }
    authcid = z1 + 1;
    z2 = memchr(authcid, '\0', n - (size_t)(authcid - msg));
    if (z2 == NULL) {
        return 0;
    }
    pass = z2 + 1;
    nzid = (size_t)(z1 - msg);
    ncid = (size_t)(z2 - authcid);
    npass = n - (size_t)(pass - msg);
    if (memchr(pass, '\0', npass) != NULL) {
        return 0;
    }
    /* acting as another user (authzid) is not something rend grants */
    if (nzid != 0 && (nzid != ncid || memcmp(msg, authcid, ncid) != 0)) {
        return 0;
    }
    return rend_auth_check(a, authcid, ncid, pass, npass);
}
