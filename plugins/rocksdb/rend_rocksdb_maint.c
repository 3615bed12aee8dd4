/*
 * rend_rocksdb_maint.c - reclaiming dead items.
 *
 * Expired and flushed items are invisible to reads at once; their space
 * comes back when a compaction rewrites them: the compaction filter below
 * drops them (rocksdb turns a dropped entry into a tombstone where older
 * versions may lie below, so nothing older resurfaces).  Ordinary
 * compactions only visit the files that overflow, so after a flush_all the
 * maintenance thread runs one manual compaction of the whole key space once
 * the flush is effective.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "rend_rocksdb.h"

static unsigned char
filter_cb(void *state, int level, const char *key, size_t nkey,
          const char *val, size_t nval, char **new_val, size_t *new_nval,
          unsigned char *changed)
{
    struct rdb *r = state;
    struct rdb_flush f;
    struct rdb_hdr h;
    int64_t now;

    (void)level;
    (void)new_val;
    (void)new_nval;
    *changed = 0;
    if (nkey == 0 || key[0] != RDB_KEY_PREFIX
        || rend_rdb_hdr_decode(val, nval, &h) != 0) {
        return 0;
    }
    now = r->host->now();
    if (REND_EXPIRED(h.exptime, now)) {
        atomic_fetch_add(&r->c.expired_dropped, 1);
        return 1;
    }
    rend_rdb_flush_load(r, &f);
    if (!rend_rdb_visible(&h, &f, now)) {
        atomic_fetch_add(&r->c.flushed_dropped, 1);
        return 1;
    }
    return 0;
}

static const char *
filter_name(void *state)
{
    (void)state;
    return "rend.expiry";
}

static void
filter_free(void *state)
{
    (void)state; /* the instance owns its state */
}

/* Thread of create(); the filter is destroyed after rocksdb_close.  The
 * callback runs on rocksdb's compaction threads: it only reads the clock,
 * the published flush state and bumps atomic counters. */
rocksdb_compactionfilter_t *
rend_rdb_filter_create(struct rdb *r)
{
    return rocksdb_compactionfilter_create(r, filter_free, filter_cb,
                                           filter_name);
}

/* Writer thread. */
void
rend_rdb_maint_schedule(struct rdb *r, int64_t when)
{
    pthread_mutex_lock(&r->mmu);
    if (r->compact_due == 0 || when < r->compact_due) {
        r->compact_due = when;
    }
    pthread_cond_signal(&r->mcond);
    pthread_mutex_unlock(&r->mmu);
}

static void *
maint_main(void *arg)
{
    struct rdb *r = arg;
    const char lo[1] = { RDB_KEY_PREFIX };
    const char hi[1] = { RDB_KEY_PREFIX + 1 };

    pthread_mutex_lock(&r->mmu);
    while (!r->mstop) {
        struct timespec ts;

        if (r->compact_due != 0 && r->host->now() >= r->compact_due) {
            r->compact_due = 0;
            pthread_mutex_unlock(&r->mmu);
            rocksdb_compact_range(r->db, lo, 1, hi, 1);
            atomic_fetch_add(&r->c.flush_compactions, 1);
            pthread_mutex_lock(&r->mmu);
            continue;
        }
        /* The host clock may be a test's fake clock: poll it each second. */
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&r->mcond, &r->mmu, &ts);
    }
    pthread_mutex_unlock(&r->mmu);
    return NULL;
}

/* Thread of create(). */
int
rend_rdb_maint_start(struct rdb *r, char *err, size_t errlen)
{
    if (pthread_create(&r->maint, NULL, maint_main, r) != 0) {
        snprintf(err, errlen, "cannot start the maintenance thread");
        return REND_EINTERNAL;
    }
    r->maint_started = 1;
    return REND_OK;
}

/* Thread of destroy(); waits for a running compaction to end. */
void
rend_rdb_maint_stop(struct rdb *r)
{
    if (!r->maint_started) {
        return;
    }
    pthread_mutex_lock(&r->mmu);
    r->mstop = 1;
    pthread_cond_signal(&r->mcond);
    pthread_mutex_unlock(&r->mmu);
    pthread_join(r->maint, NULL);
    r->maint_started = 0;
}
