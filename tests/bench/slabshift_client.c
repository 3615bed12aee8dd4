/*
 * slabshift_client.c - the client of tests/bench/slabshift.sh (issue 5,
 * slab calcification).  Not part of make check; the script builds it.
 *
 *   slabshift_client REND_PORT MEMCACHED_SOCK OLD_SIZE NEW_SIZE FILL_PCT SETTLE_S
 *
 * 1. sets keys "ss:<n>" with OLD_SIZE-byte values through rend until the
 *    memcached behind it reports bytes >= FILL_PCT% of limit_maxbytes;
 * 2. rewrites the same keys with NEW_SIZE-byte values;
 * 3. gets every key and counts the hits that return the new value;
 * 4. waits SETTLE_S seconds (memcached's slab automover may move pages
 *    meanwhile), rewrites every key with NEW_SIZE again and reads again.
 * Prints one line of key=value figures.  Single-threaded; the client is
 * tests/lib's rend_client.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_client.h"

#define WINDOW 32
#define MAX_KEYS 1000000
#define IO_MS 60000

static void
die(const char *what)
{
    perror(what);
    exit(1);
}

/* tests/lib's client, exiting on any failure */
static void
send_all(struct rend_cli *c, const char *p, size_t n)
{
    if (rend_cli_send(c, p, n, IO_MS) != 0) {
        die("send");
    }
}

/* One line without its "\r\n" into out. */
static void
read_line(struct rend_cli *c, char *out, size_t cap)
{
    if (rend_cli_line(c, out, cap, IO_MS) < 0) {
        fprintf(stderr, "connection closed or a reply line too long\n");
        exit(1);
    }
}

static void
read_n(struct rend_cli *c, char *out, size_t n)
{
    if (rend_cli_read_n(c, out, n, IO_MS) != 0) {
        fprintf(stderr, "connection closed\n");
        exit(1);
    }
}

/* Value of key n at a given size: depends on both. */
static void
make_value(char *v, size_t size, unsigned n)
{
    for (size_t j = 0; j < size; j++) {
        v[j] = (char)('a' + (n * 31u + (unsigned)j * 7u + (unsigned)size) % 26);
    }
}

static long long
mc_stat(struct rend_cli *mc, const char *name)
{
    return rend_cli_stat(mc, "stats", name, IO_MS);
}

/* Pipelined sets of keys [from, to) at size; returns the STORED count. */
static unsigned
set_range(struct rend_cli *c, unsigned from, unsigned to, size_t size,
          char *req, char *val)
{
    char line[256];
    unsigned ok = 0;

    for (unsigned base = from; base < to; base += WINDOW) {
        unsigned end = base + WINDOW < to ? base + WINDOW : to;
        size_t len = 0;
        for (unsigned n = base; n < end; n++) {
            make_value(val, size, n);
            len += (size_t)sprintf(req + len, "set ss:%u 0 0 %zu\r\n", n,
                                   size);
            memcpy(req + len, val, size);
            memcpy(req + len + size, "\r\n", 2);
            len += size + 2;
        }
        send_all(c, req, len);
        for (unsigned n = base; n < end; n++) {
            read_line(c, line, sizeof(line));
            ok += strcmp(line, "STORED") == 0;
        }
    }
    return ok;
}

/* Pipelined gets of [0, nkeys); counts hits carrying the size-byte value
 * of that key into *good, other hits into *stale. */
static void
get_all(struct rend_cli *c, unsigned nkeys, size_t size, char *val, char *want,
        unsigned *good, unsigned *stale)
{
    char line[256], req[WINDOW * 32];

    *good = *stale = 0;
    for (unsigned base = 0; base < nkeys; base += WINDOW) {
        unsigned end = base + WINDOW < nkeys ? base + WINDOW : nkeys;
        size_t len = 0;
        for (unsigned n = base; n < end; n++) {
            len += (size_t)sprintf(req + len, "get ss:%u\r\n", n);
        }
        send_all(c, req, len);
        for (unsigned n = base; n < end; n++) {
            unsigned fl;
            size_t vlen;
            char key[64];
            read_line(c, line, sizeof(line));
            if (strcmp(line, "END") == 0) {
                continue;
            }
            if (sscanf(line, "VALUE %63s %u %zu", key, &fl, &vlen) != 3
                || vlen > size * 4) {
                fprintf(stderr, "unexpected reply: %s\n", line);
                exit(1);
            }
            read_n(c, val, vlen + 2);
            read_line(c, line, sizeof(line));
            make_value(want, size, n);
            if (vlen == size && memcmp(val, want, size) == 0) {
                (*good)++;
            } else {
                (*stale)++;
            }
        }
    }
}

int
main(int argc, char **argv)
{
    static struct rend_cli rc, mc;
    struct rend_srv mcs;
    size_t old_size, new_size, big;
    unsigned nkeys = 0, stored_new, good, stale;
    long long limit, bytes, ev0;
    char *req, *val, *want;
    int pct;

    if (argc != 7) {
        fprintf(stderr, "usage: %s REND_PORT MC_SOCK OLD NEW FILL_PCT "
                "SETTLE_S\n",
                argv[0]);
        return 2;
    }
    old_size = (size_t)atol(argv[3]);
    new_size = (size_t)atol(argv[4]);
    pct = atoi(argv[5]);
    big = old_size > new_size ? old_size : new_size;
    req = malloc(WINDOW * (big + 64));
    val = malloc(big * 4 + 2);
    want = malloc(big);
    if (req == NULL || val == NULL || want == NULL) {
        die("malloc");
    }
    memset(&mcs, 0, sizeof(mcs));
    snprintf(mcs.path, sizeof(mcs.path), "%s", argv[2]);
    if (rend_cli_open_port(&rc, atoi(argv[1])) != 0) {
        die("connect rend");
    }
    if (rend_cli_open(&mc, &mcs) != 0) {
        die("connect memcached");
    }
    limit = mc_stat(&mc, "limit_maxbytes");

    /* 1. fill to pct% with old_size values */
    do {
        if (set_range(&rc, nkeys, nkeys + 512, old_size, req, val) != 512) {
            fprintf(stderr, "a set failed while filling\n");
            return 1;
        }
        nkeys += 512;
        bytes = mc_stat(&mc, "bytes");
    } while (bytes * 100 < limit * pct && nkeys < MAX_KEYS);
    ev0 = mc_stat(&mc, "evictions");
    get_all(&rc, nkeys, old_size, val, want, &good, &stale);
    printf("keys=%u fill_bytes=%lld limit=%lld fill_evictions=%lld "
           "old_hits=%u ", nkeys, bytes, limit, ev0, good);

    /* 2. rewrite every key with new_size values */
    stored_new = set_range(&rc, 0, nkeys, new_size, req, val);

    /* 3. read the new data back */
    get_all(&rc, nkeys, new_size, val, want, &good, &stale);
    printf("new_stored=%u new_hits=%u hit_ratio=%.4f stale_hits=%u "
           "new_resident_mb=%.1f evictions=%lld mc_bytes=%lld "
           "mc_items=%lld\n", stored_new, good,
           (double)good / (double)nkeys, stale,
           (double)good * (double)new_size / 1048576.0,
           mc_stat(&mc, "evictions") - ev0, mc_stat(&mc, "bytes"),
           mc_stat(&mc, "curr_items"));

    /* 4. after a pause, a second rewrite and read */
    sleep((unsigned)atoi(argv[6]));
    set_range(&rc, 0, nkeys, new_size, req, val);
    get_all(&rc, nkeys, new_size, val, want, &good, &stale);
    printf("    after %ss and a second rewrite: new_hits=%u hit_ratio=%.4f "
           "new_resident_mb=%.1f slabs_moved=%lld\n", argv[6], good,
           (double)good / (double)nkeys,
           (double)good * (double)new_size / 1048576.0,
           mc_stat(&mc, "slabs_moved"));
    free(req);
    free(val);
    free(want);
    return 0;
}
