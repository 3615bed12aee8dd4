/*
 * rend_mc_ketama.c - the weighted ketama continuum of libmemcached
 * (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED): per server
 * floor(weight/total * 160/4 * nservers) * 4 points, from MD5 of
 * "host-i" (port 11211) or "host:port-i", four points per digest; keys
 * hashed with MD5; a key belongs to the first point >= its hash.
 * Rings are built once on the main thread and read-only afterwards.
 */
#include <math.h>
#include <stdio.h>

#include "rend_mc.h"

#define POINTS_PER_SERVER 160
#define DEFAULT_PORT 11211

static uint32_t
digest_word(const unsigned char d[16], unsigned i)
{
    return (uint32_t)d[3 + i * 4] << 24 | (uint32_t)d[2 + i * 4] << 16
           | (uint32_t)d[1 + i * 4] << 8 | d[i * 4];
}

static int
point_cmp(const void *a, const void *b)
{
    const struct rend_mc_point *x = a, *y = b;

    if (x->value != y->value) {
        return x->value < y->value ? -1 : 1;
    }
    if (x->server != y->server) {
        return x->server < y->server ? -1 : 1;
    }
    return 0;
}

/* Builds ring from srv[0..n); the caller frees it with rend_mc_ring_free. */
int
rend_mc_ring_build(struct rend_mc_ring *ring,
                   const struct rend_mc_ring_server *srv, unsigned n)
{
    uint64_t total = 0;
    size_t np = 0, cap = (size_t)n * POINTS_PER_SERVER + 4;

    memset(ring, 0, sizeof(*ring));
    ring->nservers = n;
    for (unsigned i = 0; i < n; i++) {
        total += srv[i].weight;
    }
    ring->points = calloc(cap, sizeof(*ring->points));
    if (ring->points == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        float pct = (float)srv[i].weight / (float)total;
        uint32_t per = (uint32_t)(floorf((float)(pct * POINTS_PER_SERVER / 4
                                                  * (float)n
                                                  + 0.0000000001F))
                                  * 4);
        for (uint32_t p = 0; p < per / 4; p++) {
            char name[1100];
            unsigned char d[16];
            int len;

            if (srv[i].port == DEFAULT_PORT) {
                len = snprintf(name, sizeof(name), "%s-%u", srv[i].host, p);
            } else {
                len = snprintf(name, sizeof(name), "%s:%u-%u", srv[i].host,
                               srv[i].port, p);
            }
            if (len < 0 || (size_t)len >= sizeof(name)) {
                len = (int)sizeof(name) - 1;
            }
            rend_mc_md5(name, (size_t)len, d);
            for (unsigned k = 0; k < 4; k++) {
                if (np == cap) {
                    struct rend_mc_point *q =
                        realloc(ring->points, cap * 2 * sizeof(*q));
                    if (q == NULL) {
                        rend_mc_ring_free(ring);
                        return -1;
                    }
                    ring->points = q;
                    cap *= 2;
                }
                ring->points[np].value = digest_word(d, k);
                ring->points[np].server = i;
                np++;
            }
        }
    }
    qsort(ring->points, np, sizeof(*ring->points), point_cmp);
    ring->npoints = np;
    return 0;
}

/* Frees the ring's points. */
void
rend_mc_ring_free(struct rend_mc_ring *ring)
{
    free(ring->points);
    ring->points = NULL;
    ring->npoints = 0;
}

/* MD5 key hash as libmemcached's MEMCACHED_HASH_MD5. */
uint32_t
rend_mc_key_hash(const char *key, size_t nkey)
{
    unsigned char d[16];

    rend_mc_md5(key, nkey, d);
    return digest_word(d, 0);
}

/* Binary search for the first point >= hash; wraps to 0. */
size_t
rend_mc_ring_find(const struct rend_mc_ring *ring, uint32_t hash)
{
    size_t lo = 0, hi = ring->npoints;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring->points[mid].value < hash) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo == ring->npoints ? 0 : lo;
}

/* Server index for key. */
unsigned
rend_mc_ring_server_of(const struct rend_mc_ring *ring, const char *key,
                       size_t nkey)
{
    if (ring->nservers <= 1 || ring->npoints == 0) {
        return 0;
    }
    return ring->points[rend_mc_ring_find(ring, rend_mc_key_hash(key, nkey))]
        .server;
}

/* Up to n distinct servers clockwise from key's point. */
unsigned
rend_mc_ring_replicas(const struct rend_mc_ring *ring, const char *key,
                      size_t nkey, unsigned *out, unsigned n)
{
    if (n == 0) {
        return 0;
    }
    if (ring->nservers <= 1 || ring->npoints == 0) {
        out[0] = 0;
        return 1;
    }
    return rend_mc_ring_replicas_at(ring, rend_mc_key_hash(key, nkey), out,
                                    n);
}

/* Up to n distinct servers clockwise from the point of hash. */
unsigned
rend_mc_ring_replicas_at(const struct rend_mc_ring *ring, uint32_t hash,
                         unsigned *out, unsigned n)
{
    unsigned got = 0;
    size_t at;

    if (n == 0) {
        return 0;
    }
    if (ring->nservers <= 1 || ring->npoints == 0) {
        out[0] = 0;
        return 1;
    }
    at = rend_mc_ring_find(ring, hash);
    for (size_t step = 0; step < ring->npoints && got < n; step++) {
        unsigned s = ring->points[(at + step) % ring->npoints].server;
        unsigned j;
        for (j = 0; j < got && out[j] != s; j++) {
        }
        if (j == got) {
            out[got++] = s;
        }
    }
    return got;
}

/* FNV-1a: picks a key's connection when no ring hash is needed. */
static uint32_t
fnv1a(const char *key, size_t nkey)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < nkey; i++) {
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    }
    return h;
}

/* Servers and connection hash of key; MD5 only for a pool of several. */
unsigned
rend_mc_route(const struct rend_mc_inst *in, const char *key, size_t nkey,
              unsigned *srv, unsigned n, uint32_t *connhash)
{
    uint32_t h;

    if (in->nservers <= 1 || in->ring.npoints == 0) {
        *connhash = in->conns_per_server > 1 ? fnv1a(key, nkey) : 0;
        srv[0] = 0;
        return n > 0 ? 1 : 0;
    }
    h = rend_mc_key_hash(key, nkey);
    *connhash = h;
    return rend_mc_ring_replicas_at(&in->ring, h, srv, n);
}
