/*
 * rend/status.h - status codes shared by the core and every handler plugin.
 *
 * Zero is success.  Positive values are protocol outcomes (a miss, a failed
 * add, a cas mismatch): they are answered on the wire and never logged as
 * errors.  REND_PENDING means "the result comes later through host->done".
 * Negative values are failures: the client gets SERVER_ERROR <message>.
 */
#ifndef REND_STATUS_H
#define REND_STATUS_H

#define REND_STATUS_MAP(X)                                                   \
    X(REND_OK, 0, "ok")                                                      \
    X(REND_MISS, 1, "miss")                 /* get/gat: no such item */     \
    X(REND_NOT_STORED, 2, "not stored") /* add exists; replace/append miss */ \
    X(REND_EXISTS, 3, "exists")             /* cas mismatch */               \
    X(REND_NOT_FOUND, 4, "not found")   /* touch/delete/cas/incr/decr miss */ \
    X(REND_NON_NUMERIC, 5, "non-numeric value") /* incr/decr on text */     \
    X(REND_PENDING, 64, "pending")          /* async: host->done follows */  \
    X(REND_ENOMEM, -1, "out of memory")                                      \
    X(REND_EIO, -2, "backend I/O error")                                     \
    X(REND_ETIMEDOUT, -3, "backend timeout")                                 \
    X(REND_EBUSY, -4, "busy")                                                \
    X(REND_ETOOBIG, -5, "object too large for cache")                        \
    X(REND_ENOTSUP, -6, "not supported")                                     \
    X(REND_EINVAL, -7, "invalid argument")                                   \
    X(REND_EINTERNAL, -8, "internal error")                                  \
    X(REND_ENOSPC, -9, "out of space")                                       \
    X(REND_EDOWN, -10, "backend unavailable")

enum rend_status {
#define REND_STATUS_ENUM(name, value, text) name = value,
    REND_STATUS_MAP(REND_STATUS_ENUM)
#undef REND_STATUS_ENUM
};

/* True for outcomes a client is answered with normally (not a failure). */
#define REND_IS_OUTCOME(st) ((st) >= 0 && (st) != REND_PENDING)

/* Static text for a status; never NULL.  Header-only so plugins need no
 * core symbol. */
static inline const char *
rend_strerror(int status)
{
    switch (status) {
#define REND_STATUS_CASE(name, value, text) case value: return text;
    REND_STATUS_MAP(REND_STATUS_CASE)
#undef REND_STATUS_CASE
    default:
        return "unknown status";
    }
}

#endif /* REND_STATUS_H */
