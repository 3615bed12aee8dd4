/*
 * rend_mc.c - the memcached handler: a pool of real memcached servers used
 * as an L1 or L2, spoken to with the meta protocol over per-worker
 * non-blocking connections.  Options are documented in README.md.
 */
#include <netdb.h>
#include <stdio.h>
#include <sys/un.h>

#include "rend_mc.h"

#define MAX_REPLICAS 8

static int
parse_server(struct rend_mc_server_conf *sc, const char *spec, char *err,
             size_t errlen)
{
    char buf[1024], *colon, *end, portstr[16];
    unsigned long weight = 1, port = 11211;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (strlen(spec) >= sizeof(buf) || spec[0] == '\0') {
        snprintf(err, errlen, "bad server '%s'", spec);
        return -1;
    }
    strcpy(buf, spec);
    sc->name = strdup(spec);
    if (buf[0] == '/') {
        struct sockaddr_un *sun = (struct sockaddr_un *)&sc->addr;
        colon = strrchr(buf, ':');
        if (colon != NULL && colon[1] != '\0'
            && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
            weight = strtoul(colon + 1, NULL, 10);
            *colon = '\0';
        }
        if (strlen(buf) >= sizeof(sun->sun_path)) {
            snprintf(err, errlen, "socket path too long: %s", buf);
            return -1;
        }
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, buf);
        sc->addrlen = sizeof(*sun);
        sc->host = strdup(buf);
        sc->port = 0;
    } else {
        char *host = buf, *rest;
        if (buf[0] == '[') {
            host = buf + 1;
            rest = strchr(host, ']');
            if (rest == NULL) {
                snprintf(err, errlen, "bad server '%s'", spec);
                return -1;
            }
            *rest++ = '\0';
        } else {
            rest = strchr(buf, ':');
            if (rest == NULL) {
                rest = buf + strlen(buf);
            }
        }
        if (*rest == ':') {
            *rest++ = '\0';
            port = strtoul(rest, &end, 10);
            if (end == rest || port == 0 || port > 65535) {
                snprintf(err, errlen, "bad port in server '%s'", spec);
                return -1;
            }
            if (*end == ':') {
                weight = strtoul(end + 1, &end, 10);
            }
            if (*end != '\0') {
                snprintf(err, errlen, "bad server '%s'", spec);
                return -1;
            }
        } else if (*rest != '\0') {
            snprintf(err, errlen, "bad server '%s'", spec);
            return -1;
        }
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        snprintf(portstr, sizeof(portstr), "%lu", port);
        rc = getaddrinfo(host, portstr, &hints, &res);
        if (rc != 0 || res == NULL) {
            snprintf(err, errlen, "cannot resolve %s: %s", host,
                     gai_strerror(rc));
            return -1;
        }
        memcpy(&sc->addr, res->ai_addr, res->ai_addrlen);
        sc->addrlen = res->ai_addrlen;
        freeaddrinfo(res);
        sc->host = strdup(host);
        sc->port = (unsigned)port;
    }
    if (weight == 0 || weight > 100000) {
        snprintf(err, errlen, "bad weight in server '%s'", spec);
        return -1;
    }
    sc->weight = (unsigned)weight;
    if (sc->name == NULL || sc->host == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void
inst_free(struct rend_mc_inst *in)
{
    if (in == NULL) {
        return;
    }
    for (unsigned i = 0; in->servers != NULL && i < in->nservers; i++) {
        free(in->servers[i].name);
        free(in->servers[i].host);
    }
    free(in->servers);
    rend_mc_ring_free(&in->ring);
    free(in->name);
    free(in);
}

static int
parse_servers(struct rend_mc_inst *in, const char *list, char *err,
              size_t errlen)
{
    char *copy = strdup(list), *save = NULL, *tok;
    struct rend_mc_ring_server rs[REND_MC_MAX_SERVERS];

    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    in->servers = calloc(REND_MC_MAX_SERVERS, sizeof(*in->servers));
    if (in->servers == NULL) {
        free(copy);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (tok = strtok_r(copy, ", ", &save); tok != NULL;
         tok = strtok_r(NULL, ", ", &save)) {
        if (in->nservers == REND_MC_MAX_SERVERS) {
            snprintf(err, errlen, "more than %d servers",
                     REND_MC_MAX_SERVERS);
            free(copy);
            return -1;
        }
        if (parse_server(&in->servers[in->nservers++], tok, err, errlen)
            != 0) {
            free(copy);
            return -1;
        }
    }
    free(copy);
    if (in->nservers == 0) {
        snprintf(err, errlen, "option 'servers' is empty");
        return -1;
    }
    for (unsigned i = 0; i < in->nservers; i++) {
        rs[i].host = in->servers[i].host;
        rs[i].port = in->servers[i].port;
        rs[i].weight = in->servers[i].weight;
    }
    if (rend_mc_ring_build(&in->ring, rs, in->nservers) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}


static const char *const known_opts[] = {
    "servers", "conns_per_server", "replicas", "failover_on_miss",
    "connect_timeout_ms", "timeout_ms", "fail_limit", "retry_ms",
    "retry_max_ms", "chunked", "splice_sets", "slab_size", "item_size_max",
    "max_inflight", NULL,
};

static int
mc_create(const struct rend_host *host, const char *instance,
          const struct rend_kv *opts, size_t nopts, void **instp, char *err,
          size_t errlen)
{
    struct rend_mc_inst *in = calloc(1, sizeof(*in));
    const char *servers;
    uint64_t v;

    if (in == NULL) {
        snprintf(err, errlen, "out of memory");
        return REND_ENOMEM;
    }
    in->host = host;
    in->name = strdup(instance != NULL ? instance : "memcached");
    if (rend_opt_check_known(opts, nopts, known_opts, err, errlen) != 0) {
        goto fail;
    }
    servers = rend_opt_str(opts, nopts, "servers", NULL);
    if (servers == NULL) {
        snprintf(err, errlen, "option 'servers' is required");
        goto fail;
    }
    if (parse_servers(in, servers, err, errlen) != 0) {
        goto fail;
    }
    if (rend_opt_u64_range(opts, nopts, "conns_per_server", 1, 1,
                           REND_MC_MAX_CONNS, &v, err, errlen)) {
        goto fail;
    }
    in->conns_per_server = (unsigned)v;
    if (rend_opt_u64_range(opts, nopts, "replicas", 1, 1, MAX_REPLICAS, &v,
                           err, errlen)) {
        goto fail;
    }
    in->replicas = (unsigned)v < in->nservers ? (unsigned)v : in->nservers;
    if (rend_opt_bool(opts, nopts, "failover_on_miss", 0,
                      &in->failover_on_miss) != 0
        || rend_opt_bool(opts, nopts, "chunked", 0, &in->chunked) != 0
        || rend_opt_bool(opts, nopts, "splice_sets", 0, &in->splice_sets)
               != 0) {
        snprintf(err, errlen, "bad boolean option");
        goto fail;
    }
    if (rend_opt_u64_range(opts, nopts, "connect_timeout_ms", 1000, 1, 3600000,
                           &v, err, errlen)) {
        goto fail;
    }
    in->connect_timeout = (double)v / 1000;
    if (rend_opt_u64_range(opts, nopts, "timeout_ms", 1000, 1, 3600000, &v,
                           err, errlen)) {
        goto fail;
    }
    in->timeout = (double)v / 1000;
    if (rend_opt_u64_range(opts, nopts, "fail_limit", 3, 1, 1000000, &v, err,
                           errlen)) {
        goto fail;
    }
    in->fail_limit = (unsigned)v;
    if (rend_opt_u64_range(opts, nopts, "max_inflight", 8192, 1, 1000000, &v,
                           err, errlen)) {
        goto fail;
    }
    in->max_inflight = (unsigned)v;
    if (rend_opt_u64_range(opts, nopts, "retry_ms", 1000, 1, 3600000, &v, err,
                           errlen)) {
        goto fail;
    }
    in->retry_min = (double)v / 1000;
    if (rend_opt_u64_range(opts, nopts, "retry_max_ms", 30000, 1, 3600000, &v,
                           err, errlen)) {
        goto fail;
    }
    in->retry_max = (double)v / 1000;
    if (in->retry_max < in->retry_min) {
        in->retry_max = in->retry_min;
    }
    if (rend_opt_u64_range(opts, nopts, "slab_size", 1184, 512, 1048576, &v,
                           err, errlen)) {
        goto fail;
    }
    in->slab_size = (size_t)v;
    if (rend_opt_u64_range(opts, nopts, "item_size_max", 16 << 20, 1,
                           UINT32_MAX, &v, err, errlen)) {
        goto fail;
    }
    in->item_size_max = (size_t)v;
    if (in->chunked && in->replicas > 1) {
        snprintf(err, errlen, "chunked mode does not support replicas > 1");
        goto fail;
    }
    *instp = in;
    return REND_OK;
fail:
    inst_free(in);
    return REND_EINVAL;
}

static void
mc_destroy(void *inst)
{
    inst_free(inst);
}

static int
mc_thread_init(void *inst, const struct rend_thread *thr, void **tctx)
{
    struct rend_mc_thr *t = calloc(1, sizeof(*t));
    int rc;

    if (t == NULL) {
        return REND_ENOMEM;
    }
    t->inst = inst;
    t->loop = thr->loop;
    rc = rend_mc_thr_open(t);
    if (rc != 0) {
        rend_mc_thr_close(t);
        free(t);
        return rc;
    }
    *tctx = t;
    return REND_OK;
}

static void
mc_thread_exit(void *inst, void *tctx)
{
    struct rend_mc_thr *t = tctx;

    rend_mc_thr_close(t);
    free(t);
}

static int
mc_op(void *tctx, struct rend_op *op)
{
    struct rend_mc_thr *t = tctx;

    if (op->code == REND_OP_FLUSH) {
        return rend_mc_op_flush(t, op);
    }
    if (t->inst->chunked) {
        return rend_mc_op_chunked(t, op);
    }
    return rend_mc_op_plain(t, op);
}

static int
mc_get_text(void *tctx, struct rend_op *op)
{
    return rend_mc_op_get_text(tctx, op);
}

static void
mc_flush(void *tctx)
{
    rend_mc_thr_flush(tctx);
}

static void
emit_server_u64(rend_stat_emit_f *emit, void *ud, unsigned i,
                const char *what, uint64_t v)
{
    char name[64];

    snprintf(name, sizeof(name), "server_%u_%s", i, what);
    rend_stat_u64(emit, ud, name, v);
}

static void
mc_stats(void *inst, rend_stat_emit_f *emit, void *ud)
{
    struct rend_mc_inst *in = inst;
    char name[64];

    for (unsigned i = 0; i < in->nservers; i++) {
        struct rend_mc_server_conf *s = &in->servers[i];
        int64_t down = __atomic_load_n(&s->down, __ATOMIC_RELAXED);
        int64_t q = __atomic_load_n(&s->queued, __ATOMIC_RELAXED);

        snprintf(name, sizeof(name), "server_%u_addr", i);
        emit(ud, name, s->name);
        snprintf(name, sizeof(name), "server_%u_state", i);
        emit(ud, name, down > 0 ? "down" : "up");
        emit_server_u64(emit, ud, i, "requests",
                 __atomic_load_n(&s->requests, __ATOMIC_RELAXED));
        emit_server_u64(emit, ud, i, "errors",
                 __atomic_load_n(&s->errors, __ATOMIC_RELAXED));
        emit_server_u64(emit, ud, i, "timeouts",
                 __atomic_load_n(&s->timeouts, __ATOMIC_RELAXED));
        emit_server_u64(emit, ud, i, "reconnects",
                 __atomic_load_n(&s->reconnects, __ATOMIC_RELAXED));
        emit_server_u64(emit, ud, i, "queue_depth", q > 0 ? (uint64_t)q : 0);
    }
    rend_mc_admin_stats(in, emit, ud);
}

/* Piped set values (ABI minor 4) only with splice_sets = true; one can
 * be sent once, so not to replicas; plain mode sends spliced values only
 * up to REND_MC_SPLICE_MAX. */
static int
mc_pipe_ok(void *inst, const char *key, size_t nkey, size_t nvalue)
{
    const struct rend_mc_inst *in = inst;

    (void)nkey;
    if (!in->splice_sets || in->replicas > 1) {
        return 0;
    }
    return key == NULL || in->chunked || nvalue <= REND_MC_SPLICE_MAX;
}

REND_EXPORT const struct rend_handler rend_handler_v1 = {
    REND_HANDLER_INIT,
    .caps = REND_CAP_ASYNC | REND_CAP_CAS | REND_CAP_PIPE_VALUE,
    .name = "memcached",
    .version = "0.1.0",
    .create = mc_create,
    .destroy = mc_destroy,
    .thread_init = mc_thread_init,
    .thread_exit = mc_thread_exit,
    .ops = {
        [REND_OP_GET] = mc_op,
        [REND_OP_GAT] = mc_op,
        [REND_OP_TOUCH] = mc_op,
        [REND_OP_SET] = mc_op,
        [REND_OP_ADD] = mc_op,
        [REND_OP_REPLACE] = mc_op,
        [REND_OP_APPEND] = mc_op,
        [REND_OP_PREPEND] = mc_op,
        [REND_OP_CAS] = mc_op,
        [REND_OP_DELETE] = mc_op,
        [REND_OP_INCR] = mc_op,
        [REND_OP_DECR] = mc_op,
        [REND_OP_FLUSH] = mc_op,
        [REND_OP_GET_TEXT] = mc_get_text,
    },
    .flush = mc_flush,
    .stats = mc_stats,
    .pipe_ok = mc_pipe_ok,
};
