/*
 * rend_auth.h - a listener's user table (memcached's -Y auth file) and the
 * credential checks the text and binary protocols use.
 *
 * The file has one `user:password` per line (memcached's format: the
 * first ':' splits; blank lines are skipped; a trailing \r is dropped).
 * A table is loaded by the config compiler for each listener that asks
 * for it (at start and on every reload), is immutable afterwards, and is
 * owned by that listener's config (freed with its generation); workers
 * only read it.
 */
#ifndef REND_AUTH_H
#define REND_AUTH_H

#include <stddef.h>

/* Limits: a bigger file, a longer line or more users is refused. */
#define REND_AUTH_FILE_MAX (1024 * 1024)
#define REND_AUTH_LINE_MAX 1024
#define REND_AUTH_USERS_MAX 4096
/* Longest credentials a client may send (text `set` data, SASL body). */
#define REND_AUTH_TOKEN_MAX 2048

struct rend_auth;

/* Load path.  Refuses (NULL, err = "path[:line]: reason") a missing or
 * unreadable file, one that other users may read or write, a line
 * without ':', an empty user or password, a user with a space or a
 * control character, and a file with no user at all. */
struct rend_auth *rend_auth_load(const char *path, char *err, size_t errlen);
void rend_auth_free(struct rend_auth *a);
/* The path it was loaded from. */
const char *rend_auth_path(const struct rend_auth *a);
/* Number of users. */
unsigned rend_auth_count(const struct rend_auth *a);

/* 1 when user/pass is in the table, else 0.  Every entry is compared and
 * each comparison takes time set by the stored entry, not by where the
 * given credentials first differ. */
int rend_auth_check(const struct rend_auth *a, const char *user, size_t nuser,
                    const char *pass, size_t npass);

/* SASL PLAIN (RFC 4616): msg = [authzid] NUL authcid NUL passwd.  1 when
 * authcid/passwd is in the table and authzid is empty or the same user,
 * else 0. */
int rend_auth_plain(const struct rend_auth *a, const char *msg, size_t n);

#endif /* REND_AUTH_H */
