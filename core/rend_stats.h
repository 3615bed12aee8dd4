/*
 * rend_stats.h - counters.  Each worker owns one struct rend_stats and is
 * its only writer (relaxed atomic stores, no lock); readers sum all
 * workers.  Names follow memcached's `stats`.
 */
#ifndef REND_STATS_H
#define REND_STATS_H

#include <stddef.h>
#include <stdint.h>

#define REND_STATS_MAP(X)                                                   \
    X(cmd_get) X(cmd_set) X(cmd_touch) X(cmd_flush)                         \
    X(get_hits) X(get_misses)                                               \
    X(delete_hits) X(delete_misses) X(incr_hits) X(incr_misses)             \
    X(decr_hits) X(decr_misses) X(cas_hits) X(cas_misses) X(cas_badval)     \
    X(touch_hits) X(touch_misses) X(store_too_large) X(store_no_memory)     \
    X(bytes_read) X(bytes_written) X(total_connections)                     \
    X(rejected_connections) X(conn_yields) X(protocol_errors)               \
    X(handler_errors)                                                       \
    X(ops_l1) X(errors_l1) X(ops_l2) X(errors_l2)                           \
    X(cmd_get_hits_l1) X(cmd_get_misses_l1) X(cmd_get_errors_l1)            \
    X(cmd_get_hits_l2) X(cmd_get_misses_l2) X(cmd_get_errors_l2)            \
    X(cmd_get_set_l1) X(cmd_get_set_errors_l1) X(l1_invalidations)          \
    X(inconsistency_detected)                                               \
    X(idle_kicks) X(read_timeouts) X(conn_buffer_refused)                   \
    X(write_timeouts)                                                       \
    X(auth_cmds) X(auth_errors)                                             \
    X(tls_handshakes) X(tls_handshake_failures)                             \
    X(bin_gets_folded) X(meta_gets_folded) X(set_values_spliced)            \
    X(gets_relayed) X(gets_relay_declined)

struct rend_stats {
#define REND_STATS_FIELD(name) uint64_t name;
    REND_STATS_MAP(REND_STATS_FIELD)
#undef REND_STATS_FIELD
};

/* Owner-thread increment, readable from other threads. */
#define REND_STAT_ADD(st, field, n)                                         \
    __atomic_store_n(&(st)->field, (st)->field + (uint64_t)(n),            \
                     __ATOMIC_RELAXED)
#define REND_STAT_INC(st, field) REND_STAT_ADD(st, field, 1)

/* Sum of every worker's counters into out, less what `stats reset` took
 * away.  Any thread. */
void rend_stats_sum(struct rend_stats *out);
/* `stats reset`: every counter above reads 0 from now on (the workers'
 * own counters are not written: the current sums become the baseline).
 * Any thread. */
void rend_stats_reset(void);

/* `stats reset`: `stats` shows the counters from now on. */
void rend_stats_reset(void);

/* The whole text reply to `stats <arg>` (arg = the rest of the line):
 * STAT lines and END, RESET, OK, ITEM lines, or memcached's error. */
typedef void rend_stats_write_f(void *ud, const char *s, size_t n);
void rend_stats_text(const char *arg, size_t n, rend_stats_write_f *out,
                     void *ud);

/* `cache_memlimit <megabytes>`: resizes every L1 that exports
 * REND_MEMLIMIT_SYMBOL; returns memcached's reply line. */
const char *rend_stats_memlimit(const char *arg, size_t n);

/* Connections open now (all workers). */
extern unsigned rend_curr_conns;
/* connections of config listener i closed so far (any worker, atomic
 * adds); /metrics shows open-by-listener as accepted - closed.  Defined
 * in rend_metrics.c. */
extern uint64_t rend_listener_closed[];
#define REND_LISTENER_CLOSED(i) \
    __atomic_add_fetch(&rend_listener_closed[(i)], 1, __ATOMIC_RELAXED)
/* TLS handshakes of config listener i completed (ok) and connections
 * closed before completing one (failed); /metrics shows them by listener.
 * Defined in rend_metrics.c. */
extern uint64_t rend_listener_tls_ok[], rend_listener_tls_failed[];
#define REND_LISTENER_TLS(i, ok)                                            \
    __atomic_add_fetch((ok) ? &rend_listener_tls_ok[(i)]                    \
                            : &rend_listener_tls_failed[(i)], 1,            \
                       __ATOMIC_RELAXED)

#endif /* REND_STATS_H */
