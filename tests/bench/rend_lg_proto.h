/*
 * rend_lg_proto.h - keys, values, requests and reply checks of the load
 * generator, for memcached's text and binary protocols.
 *
 * Key i is "lg%010u" (12 bytes).  Its value depends only on i and the seed:
 * "v%010u|" followed by bytes of a seeded pattern, cut to the value size, and
 * its flags are i.  Every set of key i thus writes the same bytes, and any get
 * hit on key i, from any connection, must return exactly them.
 */
#ifndef REND_LG_PROTO_H
#define REND_LG_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define REND_LG_KEY_LEN 12

enum rend_lg_op {
    REND_LG_GET,
    REND_LG_SET,
};

enum rend_lg_result {
    REND_LG_INCOMPLETE,   /* need more bytes */
    REND_LG_HIT,          /* get returned the expected value and flags */
    REND_LG_MISS,
    REND_LG_STORED,
    REND_LG_SERVER_ERROR, /* a well-formed error reply (or NOT_STORED) */
    REND_LG_BAD_VALUE,    /* a hit with the wrong key, flags or bytes */
    REND_LG_PROTO_ERROR,  /* the stream cannot be parsed: close it */
};

/* The key table and value pattern.  Built once by rend_lg_data_init, then
 * read-only and shared by all threads. */
struct rend_lg_data {
    unsigned nkeys;
    size_t vsize;
    int binary;
    char *keys;     /* nkeys * REND_LG_KEY_LEN bytes, no terminators */
    char *pattern;  /* vsize + 64 bytes */
};

/* Fills d for nkeys keys of vsize-byte values.  Returns 0, or -1 when out of
 * memory.  The caller owns d and frees it with rend_lg_data_free. */
int rend_lg_data_init(struct rend_lg_data *d, unsigned nkeys, size_t vsize,
                      uint64_t seed, int binary);

/* Frees what rend_lg_data_init allocated. */
void rend_lg_data_free(struct rend_lg_data *d);

/* The largest number of bytes rend_lg_encode writes for one request. */
size_t rend_lg_request_max(const struct rend_lg_data *d);

/* Writes the request op for key idx (binary: with this opaque) to out,
 * which has room for rend_lg_request_max bytes.  Returns its length. */
size_t rend_lg_encode(const struct rend_lg_data *d, char *out,
                      enum rend_lg_op op, uint32_t idx, uint32_t opaque);

/* Parses the reply at buf[0..len) to the request (op, idx, opaque) and sets
 * *used to its length when complete.  Pure: reads d and buf only. */
enum rend_lg_result rend_lg_parse(const struct rend_lg_data *d,
                                  const char *buf, size_t len,
                                  enum rend_lg_op op, uint32_t idx,
                                  uint32_t opaque, size_t *used);

#endif
