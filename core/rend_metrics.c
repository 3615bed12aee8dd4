/*
 * rend_metrics.c - /metrics: the Prometheus text exposition (format 0.0.4)
 * of the same per-worker counters `stats` shows (rend_stats.h, summed by
 * rend_stats_sum, so `stats reset` applies to both), the latency
 * histograms (rend_hist.h), each handler instance's own stats (its ABI
 * stats callback), config reload state and the standard process_*
 * metrics.  Labels are low-cardinality: command, tier, op, instance,
 * backend server; never keys.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "rend_admin.h"
#include "rend_cmd.h"
#include "rend_config.h"
#include "rend_hist.h"
#include "rend_plugin.h"
#include "rend_settings.h"
#include "rend_stats.h"
#include "rend_util.h"
#include "rend_worker.h"

extern uint64_t rend_config_reloads;
extern uint64_t rend_config_reload_failures;

uint64_t rend_listener_accepted[REND_MAX_LISTENERS];
uint64_t rend_listener_closed[REND_MAX_LISTENERS];
uint64_t rend_listener_tls_ok[REND_MAX_LISTENERS];
uint64_t rend_listener_tls_failed[REND_MAX_LISTENERS];
int rend_listener_port[REND_MAX_LISTENERS];

/* ---- text buffer --------------------------------------------------- */

void
rend_buf_put(struct rend_buf *b, const char *s, size_t n)
{
    if (b->failed) {
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->n + n + 1) {
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void
rend_buf_printf(struct rend_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n < sizeof(small)) {
        rend_buf_put(b, small, (size_t)n);
        return;
    }
    {
        char *big = malloc((size_t)n + 1);
        if (big == NULL) {
            b->failed = 1;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        rend_buf_put(b, big, (size_t)n);
        free(big);
    }
}

void
rend_buf_free(struct rend_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* A label value, escaped as the exposition format wants. */
static void
put_label(struct rend_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            rend_buf_put(b, "\\", 1);
            rend_buf_put(b, s, 1);
        } else if (*s == '\n') {
            rend_buf_put(b, "\\n", 2);
        } else {
            rend_buf_put(b, s, 1);
        }
    }
}

static void
family(struct rend_buf *b, const char *name, const char *type,
       const char *help)
{
    rend_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                    type);
}

/* ---- core counters: one table from `stats` names to metrics --------- */

struct stat_metric {
    const char *stat;     /* field of struct rend_stats */
    const char *metric;
    const char *labels;   /* "" or `a="b",c="d"` */
    const char *help;     /* on the family's first row */
};

/* Rows of one family are adjacent; the first carries its help. */
static const struct stat_metric stat_metrics[] = {
    { "cmd_get", "rend_memcached_cmd_total", "cmd=\"get\"",
      "memcached's cmd_* counters (get and touch count keys)" },
    { "cmd_set", "rend_memcached_cmd_total", "cmd=\"set\"", NULL },
    { "cmd_touch", "rend_memcached_cmd_total", "cmd=\"touch\"", NULL },
    { "cmd_flush", "rend_memcached_cmd_total", "cmd=\"flush\"", NULL },
    { "get_hits", "rend_command_outcomes_total",
      "command=\"get\",outcome=\"hit\"",
      "Client-visible outcomes by command (per key for get)" },
    { "get_misses", "rend_command_outcomes_total",
      "command=\"get\",outcome=\"miss\"", NULL },
    { "delete_hits", "rend_command_outcomes_total",
      "command=\"delete\",outcome=\"hit\"", NULL },
    { "delete_misses", "rend_command_outcomes_total",
      "command=\"delete\",outcome=\"miss\"", NULL },
    { "incr_hits", "rend_command_outcomes_total",
      "command=\"incr\",outcome=\"hit\"", NULL },
    { "incr_misses", "rend_command_outcomes_total",
      "command=\"incr\",outcome=\"miss\"", NULL },
    { "decr_hits", "rend_command_outcomes_total",
      "command=\"decr\",outcome=\"hit\"", NULL },
    { "decr_misses", "rend_command_outcomes_total",
      "command=\"decr\",outcome=\"miss\"", NULL },
    { "cas_hits", "rend_command_outcomes_total",
      "command=\"cas\",outcome=\"hit\"", NULL },
    { "cas_misses", "rend_command_outcomes_total",
      "command=\"cas\",outcome=\"miss\"", NULL },
    { "cas_badval", "rend_command_outcomes_total",
      "command=\"cas\",outcome=\"badval\"", NULL },
    { "touch_hits", "rend_command_outcomes_total",
      "command=\"touch\",outcome=\"hit\"", NULL },
    { "touch_misses", "rend_command_outcomes_total",
      "command=\"touch\",outcome=\"miss\"", NULL },
    { "store_too_large", "rend_store_refused_total", "reason=\"too_large\"",
      "Stores refused by the core or a handler" },
    { "store_no_memory", "rend_store_refused_total", "reason=\"no_memory\"",
      NULL },
    { "bytes_read", "rend_read_bytes_total", "",
      "Bytes read from clients" },
    { "bytes_written", "rend_written_bytes_total", "",
      "Bytes written to clients" },
    { "total_connections", "rend_connections_total", "",
      "Client connections accepted" },
    { "rejected_connections", "rend_connections_rejected_total", "",
      "Client connections refused at the connection limit" },
    { "conn_yields", "rend_conn_yields_total", "",
      "Times a busy connection yielded to others" },
    { "protocol_errors", "rend_protocol_errors_total", "",
      "Malformed client requests" },
    { "idle_kicks", "rend_idle_timeouts_total", "",
      "Connections closed by idle_timeout" },
    { "read_timeouts", "rend_read_timeouts_total", "",
      "Connections closed by read_timeout in the middle of a request" },
    { "conn_buffer_refused", "rend_conn_buffer_refused_total", "",
      "Values refused because connection buffers reached conn_buffer_mb" },
    { "write_timeouts", "rend_write_timeouts_total", "",
      "Writes answered backend timeout (the backend may still apply them)" },
    { "auth_cmds", "rend_auth_attempts_total", "",
      "Authentication attempts (text set, SASL auth) on listeners with auth" },
    { "auth_errors", "rend_auth_failures_total", "",
      "Authentication attempts refused (wrong user or password)" },
    { "tls_handshakes", "rend_tls_handshakes_total", "result=\"ok\"",
      "TLS handshakes on TLS listeners (failed: closed before completing)" },
    { "tls_handshake_failures", "rend_tls_handshakes_total",
      "result=\"failed\"", NULL },
    { "bin_gets_folded", "rend_bin_gets_folded_total", "",
      "Binary get packets answered as part of a folded multi-key request" },
    { "meta_gets_folded", "rend_meta_gets_folded_total", "",
      "Meta mg lines answered as part of a folded multi-key request" },
    { "set_values_spliced", "rend_set_values_spliced_total", "",
      "Set values moved from the client socket to the handler through a pipe" },
    { "gets_relayed", "rend_gets_relayed_total", "",
      "Text multi-gets sent to their handler as one op (rend_relay.h)" },
    { "gets_relay_declined", "rend_gets_relay_declined_total", "",
      "Relayed multi-gets the handler declined (then run key by key)" },
    { "handler_errors", "rend_handler_errors_total", "",
      "Ops that ended with a handler error" },
    { "ops_l1", "rend_tier_ops_total", "tier=\"l1\"",
      "Ops issued to each tier" },
    { "ops_l2", "rend_tier_ops_total", "tier=\"l2\"", NULL },
    { "errors_l1", "rend_tier_errors_total", "tier=\"l1\"",
      "Ops that failed on each tier" },
    { "errors_l2", "rend_tier_errors_total", "tier=\"l2\"", NULL },
    { "cmd_get_hits_l1", "rend_tier_gets_total", "tier=\"l1\",result=\"hit\"",
      "Get-family lookups by tier and result (hit ratio per tier)" },
    { "cmd_get_misses_l1", "rend_tier_gets_total",
      "tier=\"l1\",result=\"miss\"", NULL },
    { "cmd_get_errors_l1", "rend_tier_gets_total",
      "tier=\"l1\",result=\"error\"", NULL },
    { "cmd_get_hits_l2", "rend_tier_gets_total", "tier=\"l2\",result=\"hit\"",
      NULL },
    { "cmd_get_misses_l2", "rend_tier_gets_total",
      "tier=\"l2\",result=\"miss\"", NULL },
    { "cmd_get_errors_l2", "rend_tier_gets_total",
      "tier=\"l2\",result=\"error\"", NULL },
    { "cmd_get_set_l1", "rend_backfills_total", "",
      "L1 back-fills from L2 hits" },
    { "cmd_get_set_errors_l1", "rend_backfill_failures_total", "",
      "L1 back-fills that failed (the L1 key is then deleted)" },
    { "l1_invalidations", "rend_l1_invalidations_total", "",
      "L1 keys deleted to keep L1 consistent with L2" },
    { "inconsistency_detected", "rend_inconsistencies_total", "",
      "L1 items found missing from L2" },
};
#define NSTAT_METRICS (sizeof(stat_metrics) / sizeof(stat_metrics[0]))

static const struct {
    const char *name;
    size_t off;
} stat_fields[] = {
#define REND_STATS_OFF(f) { #f, offsetof(struct rend_stats, f) },
    REND_STATS_MAP(REND_STATS_OFF)
#undef REND_STATS_OFF
};
#define NSTAT_FIELDS (sizeof(stat_fields) / sizeof(stat_fields[0]))

static uint64_t
stat_value(const struct rend_stats *s, const char *name, int *found)
{
    for (size_t i = 0; i < NSTAT_FIELDS; i++) {
        if (strcmp(stat_fields[i].name, name) == 0) {
            *found = 1;
            return *(const uint64_t *)((const char *)s + stat_fields[i].off);
        }
    }
    *found = 0;
    return 0;
}

static int
stat_mapped(const char *name)
{
    for (size_t i = 0; i < NSTAT_METRICS; i++) {
        if (strcmp(stat_metrics[i].stat, name) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
render_counters(struct rend_buf *b)
{
    struct rend_stats s;
    const char *prev = "";
    int any = 0;

    rend_stats_sum(&s);
    for (size_t i = 0; i < NSTAT_METRICS; i++) {
        const struct stat_metric *m = &stat_metrics[i];
        int found;
        uint64_t v = stat_value(&s, m->stat, &found);
        if (!found) {
            continue;
        }
        if (strcmp(prev, m->metric) != 0) {
            family(b, m->metric, "counter", m->help ? m->help : m->metric);
            prev = m->metric;
        }
        rend_buf_printf(b, "%s%s%s%s %llu\n", m->metric, *m->labels ? "{" : "",
                        m->labels, *m->labels ? "}" : "",
                        (unsigned long long)v);
    }
    /* a counter added to REND_STATS_MAP and not (yet) in the table */
    for (size_t i = 0; i < NSTAT_FIELDS; i++) {
        if (stat_mapped(stat_fields[i].name)) {
            continue;
        }
        if (!any) {
            family(b, "rend_stats_counter_total", "counter",
                   "Core counters by their `stats` name");
            any = 1;
        }
        rend_buf_printf(b, "rend_stats_counter_total{name=\"%s\"} %llu\n",
                        stat_fields[i].name, (unsigned long long)
                        *(const uint64_t *)((const char *)&s
                                            + stat_fields[i].off));
    }
}

/* ---- histograms ---------------------------------------------------- */

static void
hist_lines(struct rend_buf *b, const char *name, const char *labels,
           const struct rend_hist *h)
{
    uint64_t cum = 0;

    for (unsigned i = 0; i <= REND_HIST_NBOUNDS; i++) {
        cum += h->bucket[i];
        rend_buf_printf(b, "%s_bucket{%s,le=\"", name, labels);
        if (i < REND_HIST_NBOUNDS) {
            rend_buf_printf(b, "%g", (double)rend_hist_bounds_ns[i] / 1e9);
        } else {
            rend_buf_put(b, "+Inf", 4);
        }
        rend_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    rend_buf_printf(b, "%s_sum{%s} %.9f\n", name, labels,
                    (double)h->sum_ns / 1e9);
    rend_buf_printf(b, "%s_count{%s} %llu\n", name, labels,
                    (unsigned long long)cum);
}

static void
hist_add(struct rend_hist *a, const struct rend_hist *h)
{
    for (unsigned i = 0; i <= REND_HIST_NBOUNDS; i++) {
        a->bucket[i] += h->bucket[i];
    }
    a->sum_ns += h->sum_ns;
}


static void
render_hists(struct rend_buf *b)
{
    char labels[128];

    family(b, "rend_request_duration_seconds", "histogram",
           "Whole-request latency by command, from parse to completion");
    for (unsigned c = 0; c < REND_CMD__COUNT; c++) {
        struct rend_hist sum, h;
        int first = 1;
        if (rend_cmd_table[c].op < 0) {
            continue;
        }
        /* commands sharing a name (text and binary touch) are one series */
        for (unsigned p = 0; p < c; p++) {
            if (rend_cmd_table[p].op >= 0
                && strcmp(rend_cmd_table[p].name, rend_cmd_table[c].name)
                       == 0) {
                first = 0;
            }
        }
        if (!first) {
            continue;
        }
        memset(&sum, 0, sizeof(sum));
        for (unsigned d = c; d < REND_CMD__COUNT; d++) {
            if (rend_cmd_table[d].op >= 0
                && strcmp(rend_cmd_table[d].name, rend_cmd_table[c].name)
                       == 0) {
                rend_hist_sum_req(d, &h);
                hist_add(&sum, &h);
            }
        }
        snprintf(labels, sizeof(labels), "command=\"%s\"",
                 rend_cmd_table[c].name);
        hist_lines(b, "rend_request_duration_seconds", labels, &sum);
    }
    family(b, "rend_tier_op_duration_seconds", "histogram",
           "Latency of each op on a tier, from issue to completion");
    for (unsigned t = 1; t <= 2; t++) {
        for (unsigned op = 0; op < REND_OP__COUNT; op++) {
            struct rend_hist h;
            rend_hist_sum_tier(t, op, &h);
            /* the common ops always, so their series exist from the start */
            if (op != REND_OP_GET && op != REND_OP_SET) {
                uint64_t n = 0;
                for (unsigned i = 0; i <= REND_HIST_NBOUNDS; i++) {
                    n += h.bucket[i];
                }
                if (n == 0) {
                    continue;
                }
            }
            snprintf(labels, sizeof(labels), "tier=\"l%u\",op=\"%s\"", t,
                     rend_op_name(op));
            hist_lines(b, "rend_tier_op_duration_seconds", labels, &h);
        }
    }
}

/* ---- handler instances ---------------------------------------------- */

struct hstat {
    unsigned inst;        /* index in g->hinsts */
    char *name, *value;
};

struct hstats {
    struct hstat *v;
    size_t n, cap;
    unsigned inst;
};

static void
collect(void *ud, const char *name, const char *value)
{
    struct hstats *hs = ud;

    if (hs->n == hs->cap) {
        size_t cap = hs->cap ? hs->cap * 2 : 64;
        struct hstat *v = realloc(hs->v, cap * sizeof(*v));
        if (v == NULL) {
            return;
        }
        hs->v = v;
        hs->cap = cap;
    }
    hs->v[hs->n].inst = hs->inst;
    hs->v[hs->n].name = strdup(name);
    hs->v[hs->n].value = strdup(value != NULL ? value : "");
    if (hs->v[hs->n].name == NULL || hs->v[hs->n].value == NULL) {
        free(hs->v[hs->n].name);
        free(hs->v[hs->n].value);
        return;
    }
    hs->n++;
}

static int
numeric(const char *s, double *out)
{
    char *end;

    if (*s == '\0') {
        return 0;
    }
    *out = strtod(s, &end);
    return *end == '\0';
}

/* Handler stats with a proper name: plugin (NULL = any), stat, metric. */
static const struct {
    const char *plugin, *stat, *metric, *type, *help;
} hmap[] = {
    { NULL, "items", "rend_handler_items", "gauge", "Items held" },
    { "inmem", "bytes", "rend_handler_bytes", "gauge",
      "Bytes held (inmem: item memory)" },
    { "inmem", "limit_bytes", "rend_handler_limit_bytes", "gauge",
      "Memory limit" },
    { "inmem", "evictions", "rend_handler_evictions_total", "counter",
      "Items evicted to make room" },
    { "inmem", "expired_reclaimed", "rend_handler_expired_reclaimed_total",
      "counter", "Expired items reclaimed" },
    { "lmdb", "map_size", "rend_lmdb_map_size_bytes", "gauge",
      "LMDB map size" },
    { "lmdb", "map_used", "rend_lmdb_map_used_bytes", "gauge",
      "LMDB map in use" },
    { NULL, "commits", "rend_handler_commits_total", "counter",
      "Write transactions committed (group commits)" },
    { NULL, "writes", "rend_handler_writes_total", "counter",
      "Writes applied" },
    { NULL, "ops_per_commit", "rend_handler_ops_per_commit", "gauge",
      "Mean group-commit batch size" },
    { NULL, "writes_queued", "rend_handler_writes_queued", "gauge",
      "Writes waiting for the writer" },
    { NULL, "write_errors", "rend_handler_write_errors_total", "counter",
      "Writes that failed" },
    { "lmdb", "syncs", "rend_handler_syncs_total", "counter",
      "fsyncs of the store" },
    { "rocksdb", "sst_bytes", "rend_rocksdb_sst_bytes", "gauge",
      "Size of the SST files" },
    { "rocksdb", "memtable_bytes", "rend_rocksdb_memtable_bytes", "gauge",
      "Size of the memtables" },
    { "rocksdb", "pending_compaction_bytes",
      "rend_rocksdb_pending_compaction_bytes", "gauge",
      "Bytes compaction still has to rewrite" },
    { "rocksdb", "running_compactions", "rend_rocksdb_running_compactions",
      "gauge", "Compactions running" },
    { "rocksdb", "write_stopped", "rend_rocksdb_write_stopped", "gauge",
      "1 while writes are stopped (stall)" },
    { "rocksdb", "delayed_write_rate", "rend_rocksdb_delayed_write_rate",
      "gauge", "Write rate while writes are delayed (bytes/s)" },
    { "rocksdb", "commit_avg_us", "rend_rocksdb_commit_avg_seconds",
      "gauge", "Mean WAL commit (sync) latency" },
    { "lmdb", "write_txns", "rend_lmdb_write_txns_total", "counter",
      "LMDB write transactions begun (ops, reaper, flushes)" },
    { "lmdb", "gets", "rend_lmdb_read_txns_total", "counter",
      "LMDB read transactions (one per get)" },
    { "rocksdb", "compaction_pending", "rend_rocksdb_compaction_pending",
      "gauge", "1 while at least one compaction is pending" },
    { "rocksdb", "running_flushes", "rend_rocksdb_running_flushes", "gauge",
      "Memtable flushes running" },
    { "rocksdb", "write_slowdowns", "rend_rocksdb_write_slowdowns_total",
      "counter", "Write slowdowns (stalls) since open, every cause" },
    { "rocksdb", "write_stops", "rend_rocksdb_write_stops_total", "counter",
      "Write stops since open, every cause" },
    { "rocksdb", "write_stall_seconds",
      "rend_rocksdb_write_stall_seconds_total", "counter",
      "Time writes were stalled since open" },
};
#define NHMAP (sizeof(hmap) / sizeof(hmap[0]))

/* memcached backend servers: server_<n>_<what> */
static const struct {
    const char *what, *metric, *type, *help;
} bmap[] = {
    { "state", "rend_backend_up", "gauge",
      "1 when the memcached server is up (every worker sees it up)" },
    { "requests", "rend_backend_requests_total", "counter",
      "Requests sent to the server" },
    { "errors", "rend_backend_errors_total", "counter",
      "Failed requests (connection errors, timeouts)" },
    { "timeouts", "rend_backend_timeouts_total", "counter",
      "Requests that timed out" },
    { "reconnects", "rend_backend_reconnects_total", "counter",
      "Reconnections to the server" },
    { "queue_depth", "rend_backend_queue_depth", "gauge",
      "Requests in flight to the server" },
};
#define NBMAP (sizeof(bmap) / sizeof(bmap[0]))

/* a string literal, its length counted by the compiler */
#define PUT_LIT(b, lit) rend_buf_put((b), lit, sizeof(lit) - 1)

static int
backend_stat(const char *name, unsigned *srv, const char **what)
{
    unsigned n;
    int off = 0;

    if (sscanf(name, "server_%u_%n", &n, &off) != 1 || off == 0) {
        return 0;
    }
    *srv = n;
    *what = name + off;
    return 1;
}

static const char *
backend_addr(const struct hstats *hs, unsigned inst, unsigned srv)
{
    char want[48];

    snprintf(want, sizeof(want), "server_%u_addr", srv);
    for (size_t i = 0; i < hs->n; i++) {
        if (hs->v[i].inst == inst && strcmp(hs->v[i].name, want) == 0) {
            return hs->v[i].value;
        }
    }
    return "?";
}

static int
hmap_find(const char *plugin, const char *stat)
{
    for (size_t i = 0; i < NHMAP; i++) {
        if ((hmap[i].plugin == NULL || strcmp(hmap[i].plugin, plugin) == 0)
            && strcmp(hmap[i].stat, stat) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * Histograms a handler exports in its stats (rend/handler.h, "Histograms
 * in stats"): <base>_le_<bound> (cumulative), <base>_sum, <base>_count,
 * rendered as the histogram rend_handler_<base> with an instance label.
 */
static const struct {
    const char *base, *help;
} hhist_help[] = {
    { "write_batch_ops", "Ops per writer batch (one group commit)" },
    { "commit_duration_seconds",
      "Group commit latency: lmdb txn commit (with its fsync under sync = "
      "commit), rocksdb WAL write (synced under wal_sync)" },
    { "sync_duration_seconds", "lmdb mdb_env_sync latency (sync = periodic)" },
};

/* Length of the histogram base of stat `name` of instance `inst`, or 0
 * when it is no histogram part (a _sum/_count counts only next to a
 * <base>_le_ bucket of the same instance). */
static size_t
hhist_base(const struct hstats *hs, unsigned inst, const char *name)
{
    const char *le = strstr(name, "_le_");
    size_t n = strlen(name), k;

    if (le != NULL && le > name) {
        k = (size_t)(le - name);
    } else if (n > 4 && strcmp(name + n - 4, "_sum") == 0) {
        k = n - 4;
    } else if (n > 6 && strcmp(name + n - 6, "_count") == 0) {
        k = n - 6;
    } else {
        return 0;
    }
    for (size_t i = 0; i < k; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_')) {
            return 0;
        }
    }
    if (le != NULL) {
        return k;
    }
    for (size_t i = 0; i < hs->n; i++) {
        if (hs->v[i].inst == inst && strncmp(hs->v[i].name, name, k) == 0
            && strncmp(hs->v[i].name + k, "_le_", 4) == 0) {
            return k;
        }
    }
    return 0;
}

/* The value of instance inst's stat <base><suffix>, or NULL. */
static const char *
hhist_stat(const struct hstats *hs, unsigned inst, const char *base,
           size_t k, const char *suffix)
{
    for (size_t i = 0; i < hs->n; i++) {
        const char *nm = hs->v[i].name;
        if (hs->v[i].inst == inst && strncmp(nm, base, k) == 0
            && strcmp(nm + k, suffix) == 0) {
            return hs->v[i].value;
        }
    }
    return NULL;
}

static void
render_handler_hists(struct rend_buf *b, const struct rend_gen *g,
                     const struct hstats *hs)
{
    for (size_t f = 0; f < hs->n; f++) {
        const char *base = hs->v[f].name, *help = "Handler histogram";
        size_t k = hhist_base(hs, hs->v[f].inst, base);
        int first = 1;
        double d;

        if (k == 0 || strstr(base, "_le_") != base + k) {
            continue;
        }
        /* a family once, at its first bucket */
        for (size_t p = 0; p < f && first; p++) {
            first = !(strncmp(hs->v[p].name, base, k) == 0
                      && strncmp(hs->v[p].name + k, "_le_", 4) == 0);
        }
        if (!first) {
            continue;
        }
        for (size_t h = 0; h < sizeof(hhist_help) / sizeof(hhist_help[0]);
             h++) {
            if (strlen(hhist_help[h].base) == k
                && strncmp(hhist_help[h].base, base, k) == 0) {
                help = hhist_help[h].help;
            }
        }
        rend_buf_printf(b, "# HELP rend_handler_%.*s %s\n"
                        "# TYPE rend_handler_%.*s histogram\n", (int)k, base,
                        help, (int)k, base);
        for (unsigned inst = 0; inst < g->nhinsts; inst++) {
            const char *sum = hhist_stat(hs, inst, base, k, "_sum");
            const char *cnt = hhist_stat(hs, inst, base, k, "_count");
            int any = 0;

            if (sum == NULL || cnt == NULL || !numeric(sum, &d)
                || !numeric(cnt, &d)) {
                continue;
            }
            for (size_t i = 0; i < hs->n; i++) {
                const char *nm = hs->v[i].name;
                if (hs->v[i].inst != inst || strncmp(nm, base, k) != 0
                    || strncmp(nm + k, "_le_", 4) != 0
                    || !numeric(nm + k + 4, &d)
                    || !numeric(hs->v[i].value, &d)) {
                    continue;
                }
                rend_buf_printf(b, "rend_handler_%.*s_bucket{handler=\"",
                                (int)k, base);
                put_label(b, g->hinsts[inst]->name);
                rend_buf_printf(b, "\",le=\"%s\"} %s\n", nm + k + 4,
                                hs->v[i].value);
                any = 1;
            }
            if (!any) {
                continue;
            }
            rend_buf_printf(b, "rend_handler_%.*s_bucket{handler=\"",
                            (int)k, base);
            put_label(b, g->hinsts[inst]->name);
            rend_buf_printf(b, "\",le=\"+Inf\"} %s\n", cnt);
            rend_buf_printf(b, "rend_handler_%.*s_sum{handler=\"", (int)k,
                            base);
            put_label(b, g->hinsts[inst]->name);
            rend_buf_printf(b, "\"} %s\n", sum);
            rend_buf_printf(b, "rend_handler_%.*s_count{handler=\"", (int)k,
                            base);
            put_label(b, g->hinsts[inst]->name);
            rend_buf_printf(b, "\"} %s\n", cnt);
        }
    }
}

static void
render_handlers(struct rend_buf *b, const struct rend_gen *g)
{
    struct hstats hs = { 0 };
    double d;

    for (unsigned i = 0; i < g->nhinsts; i++) {
        struct rend_hinst *hi = g->hinsts[i];
        hs.inst = i;
        if (hi->h.stats != NULL) {
            hi->h.stats(hi->inst, collect, &hs);
        }
    }
    family(b, "rend_handler_info", "gauge",
           "Handler instances of the running config (value 1)");
    for (unsigned i = 0; i < g->nhinsts; i++) {
        PUT_LIT(b, "rend_handler_info{handler=\"");
        put_label(b, g->hinsts[i]->name);
        rend_buf_put(b, "\",plugin=\"", 10);
        put_label(b, g->hinsts[i]->plugin_name);
        rend_buf_put(b, "\"} 1\n", 5);
    }
    family(b, "rend_handler_ready", "gauge",
           "1 when the instance started on every worker");
    for (unsigned i = 0; i < g->nhinsts; i++) {
        PUT_LIT(b, "rend_handler_ready{handler=\"");
        put_label(b, g->hinsts[i]->name);
        rend_buf_printf(b, "\"} %d\n", rend_admin_hinst_ready(g->hinsts[i]));
    }
    /* mapped stats, family by family */
    for (size_t m = 0; m < NHMAP; m++) {
        int header = 0;
        size_t n;
        if (m > 0) {
            /* a metric name shared by rows is rendered with its first */
            int seen = 0;
            for (size_t p = 0; p < m; p++) {
                seen |= strcmp(hmap[p].metric, hmap[m].metric) == 0;
            }
            if (seen) {
                continue;
            }
        }
        for (size_t i = 0; i < hs.n; i++) {
            const struct rend_hinst *hi = g->hinsts[hs.v[i].inst];
            int k = hmap_find(hi->plugin_name, hs.v[i].name);
            if (k < 0 || strcmp(hmap[k].metric, hmap[m].metric) != 0
                || !numeric(hs.v[i].value, &d)) {
                continue;
            }
            if (!header) {
                family(b, hmap[m].metric, hmap[m].type, hmap[m].help);
                header = 1;
            }
            n = strlen(hmap[k].stat);
            if (n > 3 && strcmp(hmap[k].stat + n - 3, "_us") == 0) {
                d /= 1e6; /* base units: seconds (not map_used) */
            }
            rend_buf_printf(b, "%s{handler=\"", hmap[m].metric);
            put_label(b, hi->name);
            rend_buf_printf(b, "\"} %.17g\n", d);
        }
    }
    /* memcached backends */
    for (size_t m = 0; m < NBMAP; m++) {
        int header = 0;
        for (size_t i = 0; i < hs.n; i++) {
            unsigned srv;
            const char *what;
            if (!backend_stat(hs.v[i].name, &srv, &what)
                || strcmp(what, bmap[m].what) != 0) {
                continue;
            }
            if (m == 0) {
                d = strcmp(hs.v[i].value, "up") == 0;
            } else if (!numeric(hs.v[i].value, &d)) {
                continue;
            }
            if (!header) {
                family(b, bmap[m].metric, bmap[m].type, bmap[m].help);
                header = 1;
            }
            rend_buf_printf(b, "%s{handler=\"", bmap[m].metric);
            put_label(b, g->hinsts[hs.v[i].inst]->name);
            rend_buf_put(b, "\",server=\"", 10);
            put_label(b, backend_addr(&hs, hs.v[i].inst, srv));
            rend_buf_printf(b, "\"} %.17g\n", d);
        }
    }
    render_handler_hists(b, g, &hs);
    /* every other numeric stat, by its own name */
    family(b, "rend_handler_stat", "gauge",
           "Other numeric handler stats, by the name `stats handlers` shows");
    for (size_t i = 0; i < hs.n; i++) {
        const struct rend_hinst *hi = g->hinsts[hs.v[i].inst];
        unsigned srv;
        const char *what;
        if (hmap_find(hi->plugin_name, hs.v[i].name) >= 0
            || backend_stat(hs.v[i].name, &srv, &what)
            || hhist_base(&hs, hs.v[i].inst, hs.v[i].name) > 0
            || !numeric(hs.v[i].value, &d)) {
            continue;
        }
        PUT_LIT(b, "rend_handler_stat{handler=\"");
        put_label(b, hi->name);
        rend_buf_put(b, "\",name=\"", 8);
        put_label(b, hs.v[i].name);
        rend_buf_printf(b, "\"} %.17g\n", d);
    }
    for (size_t i = 0; i < hs.n; i++) {
        free(hs.v[i].name);
        free(hs.v[i].value);
    }
    free(hs.v);
}

/* ---- process ------------------------------------------------------- */

static int64_t process_started;

static void
render_process(struct rend_buf *b)
{
    struct rusage ru;
    struct rlimit rl;
    long page = sysconf(_SC_PAGESIZE);
    unsigned long vsz = 0, rss = 0;
    unsigned nfds = 0, threads = 0;
    FILE *f;
    DIR *dir;

    if (process_started == 0) {
        process_started = (int64_t)time(NULL)
                          - (rend_now() - rend_settings.started);
    }
    getrusage(RUSAGE_SELF, &ru);
    family(b, "process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.");
    rend_buf_printf(b, "process_cpu_seconds_total %.6f\n",
                    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
                    + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &vsz, &rss) != 2) {
            vsz = rss = 0;
        }
        fclose(f);
    }
    family(b, "process_resident_memory_bytes", "gauge",
           "Resident memory size in bytes.");
    rend_buf_printf(b, "process_resident_memory_bytes %llu\n",
                    (unsigned long long)rss * (unsigned long long)page);
    family(b, "process_virtual_memory_bytes", "gauge",
           "Virtual memory size in bytes.");
    rend_buf_printf(b, "process_virtual_memory_bytes %llu\n",
                    (unsigned long long)vsz * (unsigned long long)page);
    dir = opendir("/proc/self/fd");
    if (dir != NULL) {
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            nfds += de->d_name[0] != '.';
        }
        closedir(dir);
        nfds--; /* the directory's own */
    }
    family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
    rend_buf_printf(b, "process_open_fds %u\n", nfds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(b, "process_max_fds", "gauge",
               "Maximum number of open file descriptors.");
        rend_buf_printf(b, "process_max_fds %llu\n",
                        (unsigned long long)rl.rlim_cur);
    }
    f = fopen("/proc/self/status", "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof(line), f) != NULL) {
            if (sscanf(line, "Threads: %u", &threads) == 1) {
                break;
            }
        }
        fclose(f);
    }
    family(b, "process_threads", "gauge", "Number of OS threads.");
    rend_buf_printf(b, "process_threads %u\n", threads);
    family(b, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    rend_buf_printf(b, "process_start_time_seconds %lld\n",
                    (long long)process_started);
}

/* ---- the whole page ------------------------------------------------ */

void
rend_metrics_render(struct rend_buf *b, const struct rend_gen *g)
{
    family(b, "rend_build_info", "gauge", "rend's version (value 1)");
    rend_buf_printf(b, "rend_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
    render_counters(b);
    family(b, "rend_connections", "gauge", "Client connections open now");
    rend_buf_printf(b, "rend_connections %u\n",
                    __atomic_load_n(&rend_curr_conns, __ATOMIC_RELAXED));
    family(b, "rend_max_connections", "gauge", "The connection limit");
    rend_buf_printf(b, "rend_max_connections %u\n", rend_settings.max_conns);
    family(b, "rend_worker_threads", "gauge", "Worker threads");
    rend_buf_printf(b, "rend_worker_threads %u\n", rend_nworkers);
    family(b, "rend_listener_info", "gauge",
           "Listeners of the running config (value 1)");
    for (unsigned i = 0; i < g->nlisteners; i++) {
        const struct rend_listen_conf *lc = &g->listeners[i];
        char addr[300];
        if (lc->unix_path != NULL) {
            snprintf(addr, sizeof(addr), "unix:%s", lc->unix_path);
        } else {
            snprintf(addr, sizeof(addr), "%s:%d",
                     lc->address ? lc->address : "*",
                     i < REND_MAX_LISTENERS && rend_listener_port[i] > 0
                     ? rend_listener_port[i] : lc->port);
        }
        rend_buf_printf(b, "rend_listener_info{listener=\"%u\",address=\"", i);
        put_label(b, addr);
        rend_buf_put(b, "\"} 1\n", 5);
    }
    family(b, "rend_listener_connections_total", "counter",
           "Client connections accepted, by listener");
    for (unsigned i = 0; i < g->nlisteners && i < REND_MAX_LISTENERS; i++) {
        rend_buf_printf(b, "rend_listener_connections_total{listener=\"%u\"} "
                        "%llu\n", i,
                        (unsigned long long)rend_listener_accepted[i]);
    }
    family(b, "rend_listener_connections", "gauge",
           "Client connections open now, by listener");
    for (unsigned i = 0; i < g->nlisteners && i < REND_MAX_LISTENERS; i++) {
        uint64_t in = __atomic_load_n(&rend_listener_accepted[i],
                                      __ATOMIC_RELAXED);
        uint64_t out = __atomic_load_n(&rend_listener_closed[i],
                                       __ATOMIC_RELAXED);
        rend_buf_printf(b, "rend_listener_connections{listener=\"%u\"} "
                        "%llu\n", i,
                        (unsigned long long)(in > out ? in - out : 0));
    }
    family(b, "rend_listener_tls_handshakes_total", "counter",
           "TLS handshakes by TLS listener (failed: closed before "
           "completing one, e.g. a refused client certificate)");
    for (unsigned i = 0; i < g->nlisteners && i < REND_MAX_LISTENERS; i++) {
        if (g->listeners[i].tls == NULL) {
            continue;
        }
        rend_buf_printf(b, "rend_listener_tls_handshakes_total{listener="
                        "\"%u\",result=\"ok\"} %llu\n", i,
                        (unsigned long long)__atomic_load_n(
                            &rend_listener_tls_ok[i], __ATOMIC_RELAXED));
        rend_buf_printf(b, "rend_listener_tls_handshakes_total{listener="
                        "\"%u\",result=\"failed\"} %llu\n", i,
                        (unsigned long long)__atomic_load_n(
                            &rend_listener_tls_failed[i], __ATOMIC_RELAXED));
    }
    family(b, "rend_config_reloads_total", "counter",
           "Config reloads that took effect (SIGHUP or POST /reload)");
    rend_buf_printf(b, "rend_config_reloads_total %llu\n",
                    (unsigned long long)__atomic_load_n(&rend_config_reloads,
                                                        __ATOMIC_RELAXED));
    family(b, "rend_config_reload_failures_total", "counter",
           "Config reloads refused (the running config was kept)");
    rend_buf_printf(b, "rend_config_reload_failures_total %llu\n",
                    (unsigned long long)__atomic_load_n(
                        &rend_config_reload_failures, __ATOMIC_RELAXED));
    family(b, "rend_config_generation", "gauge",
           "Generation number of the running config");
    rend_buf_printf(b, "rend_config_generation %llu\n",
                    (unsigned long long)g->id);
    family(b, "rend_config_loaded_timestamp_seconds", "gauge",
           "When the running config was loaded (unix time)");
    rend_buf_printf(b, "rend_config_loaded_timestamp_seconds %lld\n",
                    (long long)g->loaded_at);
    family(b, "rend_metrics_histograms_enabled", "gauge",
           "1 when latency histograms are recorded");
    rend_buf_printf(b, "rend_metrics_histograms_enabled %d\n",
                    rend_metrics_on);
    render_hists(b);
    render_handlers(b, g);
    render_process(b);
}
