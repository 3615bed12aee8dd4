/*
 * rend_stats.c - `stats` groups: general (memcached's names), settings,
 * handlers (each instance's own stats); memcached's other groups (items,
 * slabs, sizes, conns, detail, cachedump) in its format where rend has the
 * data, empty where it has none; `cache_memlimit`; `stats reset`.
 *
 * memcached's item counters (curr_items, bytes, limit_maxbytes,
 * evictions, ...) come from the L1 handlers' own stats, summed over every
 * handler instance that is some route's L1; where an L1 keeps no item
 * count (a memcached L1), curr_items comes from its route's L2.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "rend_config.h"
#include "rend_log.h"
#include "rend_plugin.h"
#include "rend_proto.h"
#include "rend_settings.h"
#include "rend_stats.h"
#include "rend_tls.h"
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

/* this worker's generation: only this thread swaps it */
static struct rend_gen *
cur_gen(void)
{
    if (rend_nworkers == 0) {
        return NULL;
    }
    return rend_self != NULL ? rend_self->gen : rend_workers[0].gen;
}

static int
is_l1(const struct rend_gen *g, const struct rend_hinst *hi)
{
    for (unsigned i = 0; i < g->nroutes; i++) {
        if (g->routes[i]->l1 == hi) {
            return 1;
        }
    }
    return 0;
}

/* memcached's item counters, summed over the L1 handlers that publish
 * them (inmem; a memcached L1 asks its servers, but has no key count in
 * chunked mode). */
struct l1_totals {
    uint64_t items, bytes, limit, total_items, evictions, reclaimed;
    uint64_t get_expired, get_flushed;
    unsigned counted; /* L1 instances that published an item count */
};

static void
l1_take(void *ud, const char *name, const char *value)
{
    struct l1_totals *t = ud;
    uint64_t v = strtoull(value, NULL, 10);

    if (strcmp(name, "items") == 0) {
        t->items += v;
        t->counted++;
    } else if (strcmp(name, "bytes") == 0) {
        t->bytes += v;
    } else if (strcmp(name, "limit_bytes") == 0) {
        t->limit += v;
    } else if (strcmp(name, "total_items") == 0) {
        t->total_items += v;
    } else if (strcmp(name, "evictions") == 0) {
        t->evictions += v;
    } else if (strcmp(name, "get_expired") == 0) {
        t->get_expired += v;
    } else if (strcmp(name, "get_flushed") == 0) {
        t->get_flushed += v;
    } else if (strcmp(name, "expired_reclaimed") == 0
               || strcmp(name, "flush_reclaimed") == 0) {
        t->reclaimed += v;
    }
}

#define COUNTED_MAX 256 /* handler instances l1_totals keeps track of */

/* Is hi the L2 of a route whose L1 publishes no item count? */
static int
stands_in_for_l1(const struct rend_gen *g, const struct rend_hinst *hi,
                 const unsigned char *l1_counted)
{
    for (unsigned r = 0; r < g->nroutes; r++) {
        if (g->routes[r]->l2 != hi || g->routes[r]->l1 == NULL) {
            continue;
        }
        for (unsigned i = 0; i < g->nhinsts && i < COUNTED_MAX; i++) {
            if (g->hinsts[i] == g->routes[r]->l1 && !l1_counted[i]) {
                return 1;
            }
        }
    }
    return 0;
}

static void
l1_totals(struct l1_totals *t)
{
    struct rend_gen *g = cur_gen();
    unsigned char counted[COUNTED_MAX];

    memset(t, 0, sizeof(*t));
    if (g == NULL) {
        return;
    }
    memset(counted, 0, sizeof(counted));
    for (unsigned i = 0; i < g->nhinsts; i++) {
        struct rend_hinst *hi = g->hinsts[i];
        if (hi->h.stats != NULL && is_l1(g, hi)) {
            unsigned before = t->counted;
            hi->h.stats(hi->inst, l1_take, t);
            if (i < sizeof(counted)) {
                counted[i] = t->counted > before;
            }
        }
    }
    /* an L1 that keeps no key count (a chunked memcached L1, or servers
     * that did not answer): its route's L2, the source of truth, gives
     * the item count instead */
    for (unsigned i = 0; i < g->nhinsts && i < sizeof(counted); i++) {
        struct rend_hinst *hi = g->hinsts[i];
        if (hi->h.stats != NULL && !is_l1(g, hi)
            && stands_in_for_l1(g, hi, counted)) {
            struct l1_totals l2;
            memset(&l2, 0, sizeof(l2));
            hi->h.stats(hi->inst, l1_take, &l2);
            t->items += l2.items;
            t->counted += l2.counted;
        }
    }
}

/* The first listener of g that speaks TLS (-Z gives them all the same
 * settings; a config may give each its own: GET /config shows them all). */
static const struct rend_listen_conf *
first_tls(const struct rend_gen *g)
{
    for (unsigned i = 0; g != NULL && i < g->nlisteners; i++) {
        if (g->listeners[i].tls != NULL) {
            return &g->listeners[i];
        }
    }
    return NULL;
}

static void
general(rend_stats_emit_f *emit, void *ud)
{
    struct rend_stats s;
    struct l1_totals t;
    struct rusage ru;
    char buf[64];
    int64_t now = rend_now();

    rend_stats_sum(&s);
    l1_totals(&t);
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
    rend_stat_u64(emit, ud, "limit_maxbytes", t.limit);
    rend_stat_u64(emit, ud, "accepting_conns", 1);
    rend_stat_u64(emit, ud, "threads", rend_nworkers);
    rend_stat_u64(emit, ud, "bytes", t.bytes);
    rend_stat_u64(emit, ud, "curr_items", t.items);
    rend_stat_u64(emit, ud, "total_items", t.total_items);
    rend_stat_u64(emit, ud, "expired_unfetched", 0);
    rend_stat_u64(emit, ud, "evicted_unfetched", 0);
    rend_stat_u64(emit, ud, "evicted_active", 0);
    rend_stat_u64(emit, ud, "evictions", t.evictions);
    rend_stat_u64(emit, ud, "reclaimed", t.reclaimed);
    rend_stat_u64(emit, ud, "get_expired", t.get_expired);
    rend_stat_u64(emit, ud, "get_flushed", t.get_flushed);
    rend_stat_u64(emit, ud, "config_reloads",
             __atomic_load_n(&rend_config_reloads, __ATOMIC_RELAXED));
    rend_stat_u64(emit, ud, "config_reload_failures",
             __atomic_load_n(&rend_config_reload_failures, __ATOMIC_RELAXED));
    {
        /* memcached's names for TLS, when some listener speaks it */
        const struct rend_listen_conf *lc = first_tls(cur_gen());
        if (lc != NULL) {
            int64_t at = rend_tls_ctx_loaded(lc->tls);
            rend_stat_u64(emit, ud, "ssl_handshake_errors",
                          s.tls_handshake_failures);
            rend_stat_u64(emit, ud, "time_since_server_cert_refresh",
                          (uint64_t)(now > at ? now - at : 0));
        }
    }
}

/* memcached's TLS lines of `stats settings` (a memcached built with TLS
 * prints them), from the first TLS listener */
static void
tls_settings(rend_stats_emit_f *emit, void *ud)
{
    const struct rend_listen_conf *lc = first_tls(cur_gen());
    const struct rend_tls_conf *tc = lc ? rend_tls_ctx_conf(lc->tls) : NULL;
    char mv[16];

    if (!rend_tls_available()) {
        return;
    }
    emit(ud, "ssl_enabled", tc != NULL ? "yes" : "no");
    if (tc == NULL) {
        return;
    }
    emit(ud, "ssl_chain_cert", tc->cert);
    emit(ud, "ssl_key", tc->key); /* the path, as memcached shows it */
    rend_stat_u64(emit, ud, "ssl_verify_mode", (uint64_t)tc->verify);
    rend_stat_u64(emit, ud, "ssl_keyformat", 1); /* PEM */
    emit(ud, "ssl_ciphers", tc->ciphers != NULL ? tc->ciphers : "NULL");
    emit(ud, "ssl_ca_cert", tc->ca != NULL ? tc->ca : "NULL");
    rend_stat_u64(emit, ud, "ssl_wbuf_size", REND_TLS_WBUF);
    emit(ud, "ssl_session_cache", "yes"); /* OpenSSL's, per listener */
    emit(ud, "ssl_kernel_tls", "no");
    snprintf(mv, sizeof(mv), "tlsv%s",
             tc->min_version != NULL ? tc->min_version : "1.2");
    emit(ud, "ssl_min_version", mv);
}

/* memcached's main settings, in its order, where rend has them */
static void
settings(rend_stats_emit_f *emit, void *ud)
{
    struct l1_totals t;

    l1_totals(&t);
    rend_stat_u64(emit, ud, "maxbytes", t.limit);
    rend_stat_u64(emit, ud, "maxconns", rend_settings.max_conns);
    rend_stat_u64(emit, ud, "tcpport", (uint64_t)rend_settings.tcp_port);
    rend_stat_u64(emit, ud, "udpport", 0);
    emit(ud, "inter", rend_settings.inter != NULL ? rend_settings.inter
                                                  : "NULL");
    rend_stat_u64(emit, ud, "verbosity", (uint64_t)rend_settings.verbose);
    emit(ud, "evictions", "on");
    emit(ud, "domain_socket", rend_settings.domain_socket != NULL
                                  ? rend_settings.domain_socket : "NULL");
    rend_stat_u64(emit, ud, "num_threads", rend_settings.threads);
    emit(ud, "stat_key_prefix", ":");
    emit(ud, "detail_enabled",
         __atomic_load_n(&rend_settings.detail, __ATOMIC_RELAXED) ? "yes"
                                                                  : "no");
    emit(ud, "cas_enabled", "yes");
    emit(ud, "binding_protocol", "auto-negotiate");
    /* -Y; a listener's own auth{} is not a process setting */
    emit(ud, "auth_enabled_sasl", rend_settings.auth_file ? "yes" : "no");
    emit(ud, "auth_enabled_ascii", rend_settings.auth_file ? "yes" : "no");
    rend_stat_u64(emit, ud, "item_size_max", rend_settings.item_size_max);
    emit(ud, "flush_enabled", rend_settings.flush_disabled ? "no" : "yes");
    emit(ud, "dump_enabled", "yes");
    rend_stat_u64(emit, ud, "idle_timeout", rend_settings.idle_timeout);
    rend_stat_u64(emit, ud, "read_timeout", rend_settings.read_timeout);
    rend_stat_u64(emit, ud, "conn_buffer_max", rend_settings.conn_buffer_max);
    emit(ud, "plugin_dir", rend_plugin_dir());
    tls_settings(emit, ud);
}

/* `stats items`: one class (1) holding every L1 item, when there are
 * any; memcached answers nothing for an empty class. */
static void
items(rend_stats_emit_f *emit, void *ud)
{
    struct l1_totals t;

    l1_totals(&t);
    if (t.items == 0) {
        return;
    }
    rend_stat_u64(emit, ud, "items:1:number", t.items);
    rend_stat_u64(emit, ud, "items:1:number_hot", 0);
    rend_stat_u64(emit, ud, "items:1:number_warm", 0);
    rend_stat_u64(emit, ud, "items:1:number_cold", t.items);
    rend_stat_u64(emit, ud, "items:1:age_hot", 0);
    rend_stat_u64(emit, ud, "items:1:age_warm", 0);
    rend_stat_u64(emit, ud, "items:1:age", 0);
    rend_stat_u64(emit, ud, "items:1:mem_requested", t.bytes);
    rend_stat_u64(emit, ud, "items:1:evicted", t.evictions);
    rend_stat_u64(emit, ud, "items:1:evicted_nonzero", 0);
    rend_stat_u64(emit, ud, "items:1:evicted_time", 0);
    rend_stat_u64(emit, ud, "items:1:outofmemory", 0);
    rend_stat_u64(emit, ud, "items:1:tailrepairs", 0);
    rend_stat_u64(emit, ud, "items:1:reclaimed", t.reclaimed);
    rend_stat_u64(emit, ud, "items:1:expired_unfetched", 0);
    rend_stat_u64(emit, ud, "items:1:evicted_unfetched", 0);
    rend_stat_u64(emit, ud, "items:1:evicted_active", 0);
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
    struct rend_gen *g = cur_gen();

    if (g == NULL) {
        return;
    }
    for (unsigned i = 0; i < g->nhinsts; i++) {
        struct rend_hinst *hi = g->hinsts[i];
        struct prefixed p = { emit, ud, hi->name };
        emit_prefixed(&p, "plugin", hi->plugin_name);
        if (hi->h.stats != NULL) {
            hi->h.stats(hi->inst, emit_prefixed, &p);
        }
    }
}

/* `stats slabs`: rend has no slab classes; its L1 items are shown as one
 * class (1), as `stats items` does, so that key-dump tools that walk the
 * classes (slabs, then cachedump) find them. */
static void
slabs(rend_stats_emit_f *emit, void *ud)
{
    struct l1_totals t;
    struct rend_stats s;

    l1_totals(&t);
    if (t.items > 0) {
        rend_stats_sum(&s);
        rend_stat_u64(emit, ud, "1:chunk_size", rend_settings.item_size_max);
        rend_stat_u64(emit, ud, "1:chunks_per_page", 1);
        rend_stat_u64(emit, ud, "1:total_pages", t.items);
        rend_stat_u64(emit, ud, "1:total_chunks", t.items);
        rend_stat_u64(emit, ud, "1:used_chunks", t.items);
        rend_stat_u64(emit, ud, "1:free_chunks", 0);
        rend_stat_u64(emit, ud, "1:free_chunks_end", 0);
        rend_stat_u64(emit, ud, "1:get_hits", s.get_hits);
        rend_stat_u64(emit, ud, "1:cmd_set", s.cmd_set);
        rend_stat_u64(emit, ud, "1:delete_hits", s.delete_hits);
        rend_stat_u64(emit, ud, "1:incr_hits", s.incr_hits);
        rend_stat_u64(emit, ud, "1:decr_hits", s.decr_hits);
        rend_stat_u64(emit, ud, "1:cas_hits", s.cas_hits);
        rend_stat_u64(emit, ud, "1:cas_badval", s.cas_badval);
        rend_stat_u64(emit, ud, "1:touch_hits", s.touch_hits);
    }
    rend_stat_u64(emit, ud, "active_slabs", t.items > 0 ? 1 : 0);
    rend_stat_u64(emit, ud, "total_malloced", t.bytes);
}

static int
word_is(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* the words of a stats argument (memcached looks at the first three) */
struct words {
    const char *p[3];
    size_t n[3];
    unsigned count;
};

static void
split_words(const char *s, size_t n, struct words *w)
{
    const char *end;

    memset(w, 0, sizeof(*w));
    if (n == 0) {
        return; /* plain `stats`: s may be NULL, and NULL + 0 is undefined */
    }
    end = s + n;
    while (s < end && w->count < 3) {
        const char *b;
        while (s < end && *s == ' ') {
            s++;
        }
        if (s == end) {
            break;
        }
        b = s;
        while (s < end && *s != ' ') {
            s++;
        }
        w->p[w->count] = b;
        w->n[w->count] = (size_t)(s - b);
        w->count++;
    }
}

int
rend_stats_collect(const char *group, size_t n, rend_stats_emit_f *emit,
                   void *ud)
{
    struct words w;

    /* memcached uses the first word: `stats items foo` is `stats items` */
    split_words(group, n, &w);
    if (w.count == 0) {
        general(emit, ud);
        return 0;
    }
    group = w.p[0];
    n = w.n[0];
    if (word_is(group, n, "settings")) {
        settings(emit, ud);
    } else if (word_is(group, n, "handlers")) {
        handlers(emit, ud);
    } else if (word_is(group, n, "items")) {
        items(emit, ud);
    } else if (word_is(group, n, "sizes")) {
        emit(ud, "sizes_status", "disabled");
    } else if (word_is(group, n, "slabs")) {
        slabs(emit, ud);
    } else if (word_is(group, n, "detail") && w.count == 2) {
        /* binary STAT "detail on|off|dump" (text handles it before) */
        if (word_is(w.p[1], w.n[1], "dump")) {
            emit(ud, "detailed", "END\r\n");
        } else if (word_is(w.p[1], w.n[1], "on")
                   || word_is(w.p[1], w.n[1], "off")) {
            __atomic_store_n(&rend_settings.detail, w.p[1][1] == 'n',
                             __ATOMIC_RELAXED);
        } else {
            return -1;
        }
    } else {
        return -1;
    }
    return 0;
}

/* ---- the text reply ---------------------------------------------- */

struct text_out {
    rend_stats_write_f *out;
    void *ud;
};

static void
text_stat(void *ud, const char *name, const char *value)
{
    struct text_out *o = ud;
    char line[512];
    int n = snprintf(line, sizeof(line), "STAT %s %s\r\n", name, value);

    if (n > 0) {
        o->out(o->ud, line, (size_t)n < sizeof(line) ? (size_t)n
                                                     : sizeof(line) - 1);
    }
}

#define OUT_LIT(o, s) (o)->out((o)->ud, s, sizeof(s) - 1)
#define CACHEDUMP_MAX (2u * 1024 * 1024) /* memcached's cap on the reply */
#define SLAB_CLASSES 64                  /* memcached's class ids 0..63 */

struct dump {
    struct text_out *o;
    uint64_t left;    /* items still wanted; 0 = no limit */
    size_t bytes;
};

static int
dump_item(void *ud, const char *key, size_t nkey, const char *value,
          size_t nvalue, uint32_t flags, int64_t exptime, uint64_t cas)
{
    struct dump *d = ud;
    char line[REND_KEY_MAX + 64];
    int n;

    (void)value;
    (void)flags;
    (void)cas;
    if (nkey > REND_KEY_MAX) {
        return 0;
    }
    n = snprintf(line, sizeof(line), "ITEM %.*s [%zu b; %" PRId64 " s]\r\n",
                 (int)nkey, key, nvalue, exptime > 0 ? exptime : 0);
    if (n <= 0 || d->bytes + (size_t)n > CACHEDUMP_MAX) {
        return 1;
    }
    d->o->out(d->o->ud, line, (size_t)n);
    d->bytes += (size_t)n;
    if (d->left > 0 && --d->left == 0) {
        return 1;
    }
    return 0;
}

/* an item listed by a handler's REND_CACHEDUMP_SYMBOL */
static void
dump_listed(void *ud, const char *key, const char *info)
{
    struct dump *d = ud;
    char line[REND_KEY_MAX + 64];
    int n = snprintf(line, sizeof(line), "ITEM %s %s\r\n", key, info);

    if (n <= 0 || (size_t)n >= sizeof(line)
        || d->bytes + (size_t)n > CACHEDUMP_MAX) {
        return;
    }
    d->o->out(d->o->ud, line, (size_t)n);
    d->bytes += (size_t)n;
}

/* `stats cachedump <class> <limit>`: class 1 lists the items of the L1
 * handlers that can be walked in place (in-memory, synchronous) or that
 * list them on request (a memcached L1 asks its servers). */
static void
cachedump(struct text_out *o, const struct words *w)
{
    uint32_t cls, limit;
    struct rend_gen *g = cur_gen();
    struct dump d = { o, 0, 0 };

    if (w->count < 3 || rend_parse_u32(w->p[1], w->n[1], &cls) != 0
        || rend_parse_u32(w->p[2], w->n[2], &limit) != 0) {
        OUT_LIT(o, "CLIENT_ERROR bad command line\r\n");
        return;
    }
    if (cls >= SLAB_CLASSES) {
        OUT_LIT(o, "CLIENT_ERROR Illegal slab id\r\n");
        return;
    }
    d.left = limit;
    for (unsigned i = 0; cls == 1 && g != NULL && i < g->nhinsts; i++) {
        struct rend_hinst *hi = g->hinsts[i];
        rend_cachedump_f *list;
        if (!is_l1(g, hi)) {
            continue;
        }
        if (hi->h.walk != NULL
            && (hi->h.caps & (REND_CAP_ASYNC | REND_CAP_PERSISTENT)) == 0) {
            hi->h.walk(hi->inst, dump_item, &d);
            continue;
        }
        if (hi->dl == NULL) {
            continue;
        }
        *(void **)&list = dlsym(hi->dl, REND_CACHEDUMP_SYMBOL);
        if (list != NULL) {
            list(hi->inst, d.left, dump_listed, &d);
        }
    }
    OUT_LIT(o, "END\r\n");
}

void
rend_stats_text(const char *arg, size_t n, rend_stats_write_f *out,
                void *ud)
{
    struct text_out o = { out, ud };
    struct words w;

    split_words(arg, n, &w);
    if (w.count > 0 && word_is(w.p[0], w.n[0], "reset")) {
        rend_stats_reset();
        OUT_LIT(&o, "RESET\r\n");
        return;
    }
    if (w.count > 0 && word_is(w.p[0], w.n[0], "detail")) {
        if (w.count > 1 && word_is(w.p[1], w.n[1], "on")) {
            __atomic_store_n(&rend_settings.detail, 1, __ATOMIC_RELAXED);
            OUT_LIT(&o, "OK\r\n");
        } else if (w.count > 1 && word_is(w.p[1], w.n[1], "off")) {
            __atomic_store_n(&rend_settings.detail, 0, __ATOMIC_RELAXED);
            OUT_LIT(&o, "OK\r\n");
        } else if (w.count > 1 && word_is(w.p[1], w.n[1], "dump")) {
            /* no per-prefix counters are kept */
            OUT_LIT(&o, "END\r\n");
        } else {
            OUT_LIT(&o, "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
        }
        return;
    }
    if (w.count > 0 && word_is(w.p[0], w.n[0], "cachedump")) {
        cachedump(&o, &w);
        return;
    }
    if (w.count > 0 && (word_is(w.p[0], w.n[0], "sizes_enable")
                        || word_is(w.p[0], w.n[0], "sizes_disable"))) {
        /* memcached answers the state alone, without END; rend keeps no
         * size histogram, so it stays disabled */
        OUT_LIT(&o, "STAT sizes_status disabled\r\n");
        return;
    }
    if (w.count > 0 && (word_is(w.p[0], w.n[0], "conns")
                        || word_is(w.p[0], w.n[0], "extstore"))) {
        /* text-only groups in memcached (binary answers Not found); rend
         * has no cross-thread view of each connection's state and no
         * extstore: an empty answer */
        OUT_LIT(&o, "END\r\n");
        return;
    }
    if (rend_stats_collect(arg, n, text_stat, &o) != 0) {
        OUT_LIT(&o, "ERROR\r\n");
        return;
    }
    OUT_LIT(&o, "END\r\n");
}

/* ---- cache_memlimit ------------------------------------------------ */

const char *
rend_stats_memlimit(const char *arg, size_t n)
{
    struct rend_gen *g = cur_gen();
    uint32_t mb;
    int done = 0, failed = 0;

    if (rend_parse_u32(arg, n, &mb) != 0) {
        return "ERROR\r\n";
    }
    if (mb < 8) {
        return "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n";
    }
    /* every resizable L1 gets the new budget */
    for (unsigned i = 0; g != NULL && i < g->nhinsts; i++) {
        struct rend_hinst *hi = g->hinsts[i];
        rend_memlimit_f *set;
        if (!is_l1(g, hi) || hi->dl == NULL) {
            continue;
        }
        *(void **)&set = dlsym(hi->dl, REND_MEMLIMIT_SYMBOL);
        if (set == NULL) {
            continue;
        }
        if (set(hi->inst, (uint64_t)mb << 20) == REND_OK) {
            done++;
        } else {
            failed++;
        }
    }
    if (failed > 0) {
        return "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n";
    }
    if (done == 0) {
        /* as memcached answers; no L1 here has a budget rend sets (a
         * memcached L1 manages its own memory) */
        rend_log(REND_LOG_INFO, "cache_memlimit %u: no resizable L1", mb);
    }
    return "OK\r\n";
}
