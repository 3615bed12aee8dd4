/*
 * rend_rocksdb.h - private declarations of the rocksdb handler plugin
 * (shared by rend_rocksdb*.c only; not part of any ABI).
 *
 * Threads of one instance:
 *   - worker threads call the ops; reads may complete inline;
 *   - ONE writer thread applies every mutation (and every read that races
 *     with a queued mutation of the same key) in group commits;
 *   - a small reader pool serves reads that would touch the disk;
 *   - a maintenance thread compacts the key space once a flush is due.
 */
#ifndef REND_ROCKSDB_H
#define REND_ROCKSDB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <rocksdb/c.h>

#include <rend/handler.h>

#include "rend_item.h"
#include "rend_kvop.h"
#include "rend_opq.h"
#include "rend_phist.h"

/* Value layout (plugins/common/rend_item.h, shared with lmdb): a 20-byte
 * header, all big-endian, then the data:
 *   0..3 exptime (u32, absolute unix seconds, 0 = never)
 *   4..7 client flags   8..15 cas   16..19 mtime (store time, unix s) */
#define RDB_HDR_LEN REND_ITEM_HDR
/* Key layout: user keys get a 'k' prefix; meta keys start with '\0'. */
#define RDB_KEY_PREFIX 'k'
#define RDB_META_CAS "\0cas"
#define RDB_META_FLUSH "\0flush"
#define RDB_META_LEN 4
#define RDB_META_FLUSH_LEN 6

struct wctx;

#define RDB_PENDING_SLOTS 4096 /* counting filter of keys with queued writes */
#define RDB_KEY_MAX 512

struct rdb_hdr {
    int64_t exptime;
    uint32_t flags;
    uint64_t cas;
    uint32_t mtime;
};

/* Flush state: an item is invisible when cas <= cas_limit, or
 * mtime < past, or (now >= pending and mtime < pending). */
struct rdb_flush {
    uint64_t cas_limit;
    int64_t past;
    int64_t pending;
};

struct rdb_counters {
    _Atomic uint64_t gets_inline, gets_pool, gets_writer, gets_incomplete;
    _Atomic uint64_t writes, commits, commit_ops, write_errors;
    _Atomic uint64_t expired_dropped, flushed_dropped, flush_compactions;
};

struct rdb {
    const struct rend_host *host;
    char name[64];
    char *path;
    unsigned mode;              /* "mode": data directory gets its x bits */

    /* Options. */
    uint64_t item_size_max;
    uint64_t max_batch;
    int inline_reads; /* 1 = read_mode "inline", 0 = "pool" */
    unsigned nreaders;
    int disable_wal;

    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *topts;
    rocksdb_cache_t *cache;
    rocksdb_compactionfilter_t *filter;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;       /* may do I/O */
    rocksdb_readoptions_t *ropts_cache; /* block cache only */

    /* Visible flush state (readers, compaction filter); the writer owns
     * the authoritative copy and publishes it after each commit. */
    _Atomic uint64_t flush_cas_limit;
    _Atomic int64_t flush_past, flush_pending;

    /* Writer: one queue thread (plugins/common/rend_opq). */
    struct rend_opq wq;
    struct wctx *wctx; /* the writer's batch state (writer.c) */
    uint64_t last_cas;        /* writer only */
    struct rdb_flush wflush;  /* writer only */
    _Atomic uint32_t pending_keys[RDB_PENDING_SLOTS];
    _Atomic uint32_t pending_flushes;

    /* Reader pool: nreaders queue threads. */
    struct rend_opq rq;

    /* Maintenance: compacts after a flush becomes effective. */
    pthread_mutex_t mmu;
    pthread_cond_t mcond;
    int mstop;
    int64_t compact_due; /* 0 = nothing due */
    pthread_t maint;
    int maint_started;

    struct rdb_counters c;
    struct rend_phist commit_time; /* ns inside rocksdb_write (WAL) */
};

/* rend_rocksdb_item.c: pure helpers, any thread. */
void rend_rdb_hdr_encode(char *buf, const struct rdb_hdr *h);
/* 0 on success, -1 when the value is shorter than the header. */
int rend_rdb_hdr_decode(const char *buf, size_t n, struct rdb_hdr *h);
/* 1 when an item with header h is live at `now` under flush state f. */
int rend_rdb_visible(const struct rdb_hdr *h, const struct rdb_flush *f,
                     int64_t now);
/* Snapshot of the published flush state (any thread). */
void rend_rdb_flush_load(struct rdb *r, struct rdb_flush *f);
/* Slot of key in the pending-writes filter. */
uint32_t rend_rdb_key_slot(const char *key, size_t nkey);
/* Write 'k'+key into buf (RDB_KEY_MAX bytes); returns the length. */
size_t rend_rdb_key(char *buf, const char *key, size_t nkey);
/* Map a rocksdb error string to a status (REND_ENOSPC or REND_EIO). */
int rend_rdb_err_status(const char *err);

/* rend_rocksdb_writer.c.  start/stop run on the thread that owns r
 * (create/destroy); enqueue runs on any worker thread and takes ownership
 * of completing op (host->done). */
int rend_rdb_writer_start(struct rdb *r, char *err, size_t errlen);
void rend_rdb_writer_stop(struct rdb *r);
int rend_rdb_writer_enqueue(struct rdb *r, struct rend_op *op);
/* 1 when a queued mutation may touch key (reads must then go through the
 * writer to see it).  Any thread. */
int rend_rdb_write_pending(struct rdb *r, const char *key, size_t nkey);

/* rend_rocksdb_read.c.  Any thread: a stored item as rend_kvop sees it. */
void rend_rdb_kvitem(const struct rdb_hdr *h, const char *data, size_t ndata,
                     struct rend_kvop_item *it);
int rend_rdb_readers_start(struct rdb *r, char *err, size_t errlen);
void rend_rdb_readers_stop(struct rdb *r);
/* A GET from a worker thread: inline, pool or writer; returns a final
 * status or REND_PENDING. */
int rend_rdb_get(struct rdb *r, struct rend_op *op);

/* rend_rocksdb_maint.c: the flush compaction thread. */
int rend_rdb_maint_start(struct rdb *r, char *err, size_t errlen);
void rend_rdb_maint_stop(struct rdb *r);
/* Ask for a full compaction at time `when` (writer thread). */
void rend_rdb_maint_schedule(struct rdb *r, int64_t when);
/* The compaction filter dropping expired and flushed items. */
rocksdb_compactionfilter_t *rend_rdb_filter_create(struct rdb *r);

#endif /* REND_ROCKSDB_H */
