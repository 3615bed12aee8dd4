/*
 * rend_mc_admin.c - admin requests to the memcached servers themselves,
 * outside the request path: their item counters for rend's `stats`
 * (memcached's curr_items, bytes, limit_maxbytes, ...), `stats cachedump`
 * and `cache_memlimit`.
 *
 * Each goes over its own short-lived blocking connection with a short
 * timeout (these are rare operator commands, never on the op path); a
 * server that workers see down is skipped.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>

#include "rend_mc.h"

#define ADMIN_TIMEOUT_MS 200
#define ADMIN_REPLY_MAX (64 * 1024)

/* Send req to server s and read until the reply ends with `end`.
 * Returns the reply length (NUL-terminated in buf), or -1. */
static ssize_t
admin_cmd(const struct rend_mc_server_conf *s, const char *req,
          const char *end, char *buf, size_t cap)
{
    struct timeval tv = { 0, ADMIN_TIMEOUT_MS * 1000 };
    size_t len = 0, nreq = strlen(req), nend = strlen(end);
    int fd;

    if (__atomic_load_n(&s->down, __ATOMIC_RELAXED) > 0) {
        return -1;
    }
    fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    /* on Linux SO_SNDTIMEO bounds connect() too */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (const struct sockaddr *)&s->addr, s->addrlen) != 0
        || write(fd, req, nreq) != (ssize_t)nreq) {
        close(fd);
        return -1;
    }
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        if (len >= nend && memcmp(buf + len - nend, end, nend) == 0) {
            buf[len] = '\0';
            close(fd);
            return (ssize_t)len;
        }
    }
    close(fd);
    return -1;
}

/* the value of "STAT name " in a stats reply, or 0 */
static uint64_t
stat_of(const char *reply, const char *name)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "STAT %s ", name);
    p = strstr(reply, pat);
    return p != NULL ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static void
emit_u64(rend_stat_emit_f *emit, void *ud, const char *name, uint64_t v)
{
    char val[32];

    snprintf(val, sizeof(val), "%" PRIu64, v);
    emit(ud, name, val);
}

void
rend_mc_admin_stats(struct rend_mc_inst *in, rend_stat_emit_f *emit,
                    void *ud)
{
    uint64_t items = 0, total = 0, bytes = 0, limit = 0, evictions = 0;
    unsigned answered = 0, copies = in->replicas > 0 ? in->replicas : 1;
    char *buf = malloc(ADMIN_REPLY_MAX);

    if (buf == NULL) {
        return;
    }
    for (unsigned i = 0; i < in->nservers; i++) {
        if (admin_cmd(&in->servers[i], "stats\r\n", "END\r\n", buf,
                      ADMIN_REPLY_MAX) < 0) {
            continue;
        }
        answered++;
        items += stat_of(buf, "curr_items");
        total += stat_of(buf, "total_items");
        bytes += stat_of(buf, "bytes");
        limit += stat_of(buf, "limit_maxbytes");
        evictions += stat_of(buf, "evictions");
    }
    free(buf);
    if (answered == 0) {
        return;
    }
    emit_u64(emit, ud, "servers_answered", answered);
    /* in chunked mode the servers hold chunks, not keys: no item count */
    if (!in->chunked) {
        emit_u64(emit, ud, "items", items / copies);
        emit_u64(emit, ud, "total_items", total / copies);
    }
    emit_u64(emit, ud, "bytes", bytes);
    emit_u64(emit, ud, "limit_bytes", limit);
    emit_u64(emit, ud, "evictions", evictions);
}

REND_EXPORT rend_memlimit_f rend_memlimit_v1;

/* cache_memlimit: passed on to every server (megabytes, as memcached
 * takes it); REND_OK when every server that answered said OK. */
REND_EXPORT int
rend_memlimit_v1(void *inst, uint64_t bytes)
{
    struct rend_mc_inst *in = inst;
    char req[64], reply[256];
    int ok = 0;

    snprintf(req, sizeof(req), "cache_memlimit %" PRIu64 "\r\n", bytes >> 20);
    for (unsigned i = 0; i < in->nservers; i++) {
        if (admin_cmd(&in->servers[i], req, "\r\n", reply,
                      sizeof(reply)) < 0) {
            continue;
        }
        if (strcmp(reply, "OK\r\n") != 0) {
            return REND_EINVAL;
        }
        ok++;
    }
    return ok > 0 ? REND_OK : REND_EIO;
}

REND_EXPORT rend_cachedump_f rend_cachedump_v1;

/* stats cachedump: every slab class of every server (rend shows one
 * class), each key once: from the first server of its replicas.  Not in
 * chunked mode (the servers hold chunks). */
REND_EXPORT int
rend_cachedump_v1(void *inst, uint32_t limit, rend_stat_emit_f *item,
                  void *ud)
{
    struct rend_mc_inst *in = inst;
    char *items, *dump;
    uint32_t sent = 0;

    if (in->chunked) {
        return REND_ENOTSUP;
    }
    items = malloc(ADMIN_REPLY_MAX);
    dump = malloc(ADMIN_REPLY_MAX);
    if (items == NULL || dump == NULL) {
        free(items);
        free(dump);
        return REND_ENOMEM;
    }
    for (unsigned i = 0; i < in->nservers; i++) {
        const char *p;
        if (admin_cmd(&in->servers[i], "stats items\r\n", "END\r\n", items,
                      ADMIN_REPLY_MAX) < 0) {
            continue;
        }
        /* the classes that hold items: "STAT items:<id>:number <n>" */
        for (p = items; (p = strstr(p, "STAT items:")) != NULL; p++) {
            char req[64], *line, *next;
            unsigned cls = (unsigned)strtoul(p + 11, &line, 10);
            if (strncmp(line, ":number ", 8) != 0) {
                continue;
            }
            snprintf(req, sizeof(req), "stats cachedump %u %u\r\n", cls,
                     limit);
            if (admin_cmd(&in->servers[i], req, "END\r\n", dump,
                          ADMIN_REPLY_MAX) < 0) {
                continue;
            }
            for (line = dump; strncmp(line, "ITEM ", 5) == 0; line = next) {
                char *key = line + 5, *sp = strchr(key, ' ');
                char *eol = strstr(line, "\r\n");
                unsigned srv;
                uint32_t h;
                if (sp == NULL || eol == NULL || sp > eol) {
                    break;
                }
                next = eol + 2;
                *sp = '\0';
                *eol = '\0';
                if (rend_mc_route(in, key, (size_t)(sp - key), &srv, 1, &h)
                        == 1
                    && srv == i) {
                    item(ud, key, sp + 1);
                    if (limit > 0 && ++sent == limit) {
                        free(items);
                        free(dump);
                        return REND_OK;
                    }
                }
            }
        }
    }
    free(items);
    free(dump);
    return REND_OK;
}
