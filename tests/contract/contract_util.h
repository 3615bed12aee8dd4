/*
 * contract_util.h - helpers shared by the handler test programs: running
 * ops on one rend_th and checking their results with Check asserts.
 * Everything here runs on the test thread; results are owned by the
 * caller and released with res_free.
 */
#ifndef REND_CONTRACT_UTIL_H
#define REND_CONTRACT_UTIL_H

#include <check.h>
#include <stdint.h>

#include "rend_testhost.h"

/* The outcome of one retrieval. */
struct res {
    int st;
    char *value; /* NUL-terminated copy, NULL on a miss or no value */
    size_t nvalue;
    uint32_t flags;
    int64_t exptime;
    uint64_t cas;
};

/* GET (or GAT with exptime, or any retrieval code) of key/nkey into r. */
void cu_get(struct rend_th *th, int code, const char *key, size_t nkey,
            int64_t exptime, uint16_t opflags, struct res *r);
void res_free(struct res *r);

/* A store (SET..PREPEND, CAS with cas) of key/value; returns the status
 * and *out_cas (may be NULL). */
int cu_store(struct rend_th *th, int code, const char *key, size_t nkey,
             const char *value, size_t nvalue, uint32_t flags,
             int64_t exptime, uint64_t cas, uint64_t *out_cas);
/* The same for C-string keys and values. */
int cu_set(struct rend_th *th, int code, const char *key, const char *value,
           uint32_t flags, int64_t exptime);
/* INCR/DECR; *num receives out_number. */
int cu_arith(struct rend_th *th, int code, const char *key, uint64_t delta,
             uint64_t *num);
/* DELETE, TOUCH (exptime), FLUSH (key ignored, exptime = when). */
int cu_simple(struct rend_th *th, int code, const char *key, int64_t exptime);

/* Assert that key holds exactly value (C string). */
#define cu_expect(th, key, val)                                              \
    do {                                                                     \
        struct res r_;                                                       \
        cu_get((th), REND_OP_GET, (key), strlen(key), 0, 0, &r_);            \
        ck_assert_msg(r_.st == REND_OK, "get %s: status %d (%s)", (key),     \
                      r_.st, rend_strerror(r_.st));                          \
        ck_assert_uint_eq(r_.nvalue, strlen(val));                           \
        ck_assert_mem_eq(r_.value, (val), strlen(val));                      \
        res_free(&r_);                                                       \
    } while (0)

/* Assert that key is a miss. */
#define cu_expect_miss(th, key)                                              \
    do {                                                                     \
        struct res r_;                                                       \
        cu_get((th), REND_OP_GET, (key), strlen(key), 0, 0, &r_);            \
        ck_assert_msg(r_.st == REND_MISS, "get %s: status %d, want miss",    \
                      (key), r_.st);                                         \
        res_free(&r_);                                                       \
    } while (0)

#define ck_assert_status(got, want)                                          \
    do {                                                                     \
        int g_ = (got), w_ = (want);                                         \
        ck_assert_msg(g_ == w_, "%s: status %d (%s), want %d (%s)", #got,    \
                      g_, rend_strerror(g_), w_, rend_strerror(w_));         \
    } while (0)

#endif /* REND_CONTRACT_UTIL_H */
