/*
 * rend_stats.c - `stats` groups: general (memcached's names), settings and
 * handlers (each instance's own stats).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "rend_config.h"
#include "rend_plugin.h"
#include "rend_proto.h"
#include "rend_settings.h"
#include "rend_stats.h"
#include "rend_util.h"
#include "rend_worker.h"

uint64_t rend_config_reloads;
uint64_t rend_config_reload_failures;

static pthread_mutex_t baseline_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rend_stats baseline; /* the sums at the last stats reset */

static void
raw_sum(struct rend_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < rend_nworkers; i++) {
        const struct rend_stats *s = &rend_workers[i].st;
#define REND_STATS_SUM(name)                                                \
        out->name += __atomic_load_n(&s->name, __ATOMIC_RELAXED);
        REND_STATS_MAP(REND_STATS_SUM)
#undef REND_STATS_SUM
    }
}

void
rend_stats_sum(struct rend_stats *out)
{
    raw_sum(out);
    pthread_mutex_lock(&baseline_mu);
#define REND_STATS_SUB(name)                                                \
    out->name = out->name > baseline.name ? out->name - baseline.name : 0;
    REND_STATS_MAP(REND_STATS_SUB)
#undef REND_STATS_SUB
    pthread_mutex_unlock(&baseline_mu);
}

void
rend_stats_reset(void)
{
    struct rend_stats now;

    raw_sum(&now);
    pthread_mutex_lock(&baseline_mu);
    baseline = now;
    pthread_mutex_unlock(&baseline_mu);
}

static void
general(rend_stats_emit_f *emit, void *ud)
{
    struct rend_stats s;
    struct rusage ru;
    char buf[64];
    int64_t now = rend_now();

    rend_stats_sum(&s);
    getrusage(RUSAGE_SELF, &ru);
    rend_stat_u64(emit, ud, "pid", (uint64_t)getpid());
    rend_stat_u64(emit, ud, "uptime", (uint64_t)(now - rend_settings.started));
    rend_stat_u64(emit, ud, "time", (uint64_t)now);
    emit(ud, "version", PACKAGE_VERSION);
    emit(ud, "libevent", "libev");
    rend_stat_u64(emit, ud, "pointer_size", sizeof(void *) * 8);
    snprintf(buf, sizeof(buf), "%ld.%06ld", (long)ru.ru_utime.tv_sec,
             (long)ru.ru_utime.tv_usec);
    emit(ud, "rusage_user", buf);
    snprintf(buf, sizeof(buf), "%ld.%06ld", (long)ru.ru_stime.tv_sec,
             (long)ru.ru_stime.tv_usec);
    emit(ud, "rusage_system", buf);
    rend_stat_u64(emit, ud, "max_connections", rend_settings.max_conns);
    rend_stat_u64(emit, ud, "curr_connections",
             __atomic_load_n(&rend_curr_conns, __ATOMIC_RELAXED));
    rend_stat_u64(emit, ud, "total_connections", s.total_connections);
    rend_stat_u64(emit, ud, "rejected_connections", s.rejected_connections);
#define REND_STATS_EMIT(name)                                               \
    if (strcmp(#name, "total_connections") != 0                             \
        && strcmp(#name, "rejected_connections") != 0) {                    \
        rend_stat_u64(emit, ud, #name, s.name);                                  \
    }
    REND_STATS_MAP(REND_STATS_EMIT)
#undef REND_STATS_EMIT
    rend_stat_u64(emit, ud, "threads", rend_nworkers);
    rend_stat_u64(emit, ud, "config_reloads",
             __atomic_load_n(&rend_config_reloads, __ATOMIC_RELAXED));
    rend_stat_u64(emit, ud, "config_reload_failures",
             __atomic_load_n(&rend_config_reload_failures, __ATOMIC_RELAXED));
}

static void
settings(rend_stats_emit_f *emit, void *ud)
{
    rend_stat_u64(emit, ud, "maxconns", rend_settings.max_conns);
    rend_stat_u64(emit, ud, "num_threads", rend_settings.threads);
    rend_stat_u64(emit, ud, "item_size_max", rend_settings.item_size_max);
    rend_stat_u64(emit, ud, "verbosity", (uint64_t)rend_settings.verbose);
    rend_stat_u64(emit, ud, "idle_timeout", rend_settings.idle_timeout);
    rend_stat_u64(emit, ud, "read_timeout", rend_settings.read_timeout);
    rend_stat_u64(emit, ud, "conn_buffer_max", rend_settings.conn_buffer_max);
    emit(ud, "plugin_dir", rend_plugin_dir());
}

struct prefixed {
    rend_stats_emit_f *emit;
    void *ud;
    const char *prefix;
};

static void
emit_prefixed(void *ud, const char *name, const char *value)
{
    struct prefixed *p = ud;
    char full[256];

    snprintf(full, sizeof(full), "%s:%s", p->prefix, name);
    p->emit(p->ud, full, value);
}

static void
handlers(rend_stats_emit_f *emit, void *ud)
{
    struct rend_gen *g;

    if (rend_nworkers == 0) {
        return;
    }
    /* this worker's generation: only this thread swaps it */
    g = rend_self != NULL ? rend_self->gen : rend_workers[0].gen;
    for (unsigned i = 0; i < g->nhinsts; i++) {
        struct rend_hinst *hi = g->hinsts[i];
        struct prefixed p = { emit, ud, hi->name };
        emit_prefixed(&p, "plugin", hi->plugin_name);
        if (hi->h.stats != NULL) {
            hi->h.stats(hi->inst, emit_prefixed, &p);
        }
    }
}

int
rend_stats_collect(const char *group, size_t n, rend_stats_emit_f *emit,
                   void *ud)
{
    if (n == 0) {
        general(emit, ud);
        return 0;
    }
    if (n == 8 && memcmp(group, "settings", 8) == 0) {
        settings(emit, ud);
        return 0;
    }
    if (n == 8 && memcmp(group, "handlers", 8) == 0) {
        handlers(emit, ud);
        return 0;
    }
    return -1;
}
