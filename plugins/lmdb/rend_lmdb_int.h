/*
 * rend_lmdb_int.h - internals shared by the lmdb plugin's files (never
 * installed, never seen by the core).
 *
 * One struct rend_lmdb per handler instance: one LMDB environment with two
 * named databases ("items" and "meta"), one writer thread that applies every
 * write in group-committed transactions, and optionally a small reader pool.
 */
#ifndef REND_LMDB_INT_H
#define REND_LMDB_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>
#include <rend/handler.h>

#include "rend_item.h"
#include "rend_kvop.h"
#include "rend_opq.h"
#include "rend_phist.h"

/*
 * Stored item: a 20-byte header before the value bytes.
 *   bytes 0..3   exptime, unsigned 32-bit big-endian, absolute unix seconds,
 *                0 = never (the Rend-lmdb layout)
 *   bytes 4..7   client flags, 32-bit big-endian (the Rend-lmdb layout)
 *   bytes 8..15  cas, 64-bit big-endian
 *   bytes 16..19 stored: unix seconds of the last write, 32-bit big-endian
 *                (flush with a past time compares it)
 *   bytes 20..   the value
 */
#define REND_LMDB_HDR REND_ITEM_HDR

struct rend_lmdb_item {
    int64_t exptime;
    uint32_t flags;
    uint64_t cas;
    int64_t stored;
    const char *data;
    size_t ndata;
};

enum rend_lmdb_sync {
    REND_LMDB_SYNC_COMMIT = 0,
    REND_LMDB_SYNC_PERIODIC = 1,
};

/* Counters: written with __atomic builtins, read by stats() on any thread. */
struct rend_lmdb_counters {
    uint64_t commits;       /* write txns committed holding client ops */
    uint64_t write_txns;    /* write txns begun (ops, reaper, flush) */
    uint64_t writes;        /* client ops applied by the writer */
    uint64_t write_errors;  /* ops failed with a negative status */
    uint64_t enospc;        /* ops failed with REND_ENOSPC (map full) */
    uint64_t busy;          /* ops refused: queue full */
    uint64_t fallbacks;     /* batches re-run one txn per op */
    uint64_t reaped;        /* expired items deleted by the reaper */
    uint64_t reap_passes;   /* completed reaper scans */
    uint64_t syncs;         /* mdb_env_sync calls (sync = periodic) */
    uint64_t flushes;       /* flush ops executed (delete-all) */
    uint64_t gets;          /* get ops */
    uint64_t get_hits;      /* get ops that found a live item */
    uint64_t read_errors;   /* get ops failed with a negative status */
};

struct rend_lmdb {
    const struct rend_host *host;
    char *name;           /* instance name, for logs */
    char *path;
    unsigned mode;        /* data files ("mode"); directories get x bits */
    dev_t dev;            /* of path: the one-open-per-process registry */
    ino_t ino;

    /* options */
    uint64_t map_size;
    enum rend_lmdb_sync sync;
    uint64_t sync_interval_ms;
    uint64_t item_size_max;
    uint64_t max_batch;
    uint64_t reap_interval_s;
    uint64_t reap_batch;
    uint64_t queue_max;
    uint64_t readers;
    unsigned max_readers_opt;

    MDB_env *env;
    MDB_dbi items;
    MDB_dbi meta;
    unsigned maxkey;
    int registered;       /* in the one-open-per-process registry */

    /* Pending delayed flush time (0 = none); atomic.  Read paths treat
     * every item as gone once it is <= now, until the writer has dropped
     * the items and cleared it. */
    int64_t flush_at;
    /* Items stored before this time are gone (a flush with a past time,
     * cleared again once the reaper has deleted them); atomic. */
    int64_t flushed_before;

    /* The writer: one queue thread applying every write (writer.c). */
    struct rend_opq wq;

    /* Writer-thread private state. */
    int *wst;             /* statuses of the batch (max_batch) */
    uint64_t next_reap;   /* mono ms of the next reaper pass */
    uint64_t last_sync;   /* mono ms of the last sync (periodic) */
    uint64_t cas;         /* last cas handed out (persisted in meta) */
    char *scratch;        /* old value copy for read-modify-write ops */
    size_t nscratch;
    char *reap_key;       /* where the current reaper pass resumes */
    size_t nreap_key, reap_key_cap;
    int reap_active;
    int64_t reap_before;  /* flushed_before when the reaper pass began */
    int dirty;            /* commits not yet synced (sync = periodic) */

    /* Reader pool (readers > 0; reader.c); pool_on once started. */
    struct rend_opq rq;
    int pool_on;

    struct rend_lmdb_counters n;
    struct rend_phist commit_time; /* ns in mdb_txn_commit (+ fsync) */
    struct rend_phist sync_time;   /* ns in mdb_env_sync (periodic) */
};

/* Per worker thread context (thread_init). */
struct rend_lmdb_tctx {
    struct rend_lmdb *inst;
    MDB_txn *rtxn;        /* reset read txn, renewed per get (inline) */
};

#define REND_LMDB_ADD(inst, field, v)                                        \
    __atomic_add_fetch(&(inst)->n.field, (v), __ATOMIC_RELAXED)

/* Header codec: the layout above is plugins/common's rend_item.h. */
static inline void
rend_lmdb_hdr_put(char *p, int64_t exptime, uint32_t flags, uint64_t cas,
                  int64_t stored)
{
    struct rend_item_hdr h = {
        .exptime = exptime, .flags = flags, .cas = cas, .stored = stored,
    };

    rend_item_hdr_put(p, &h);
}

/* Decode a stored value; -1 when it is too short to be an item. */
static inline int
rend_lmdb_item_get(const MDB_val *v, struct rend_lmdb_item *it)
{
    struct rend_item_hdr h;

    if (rend_item_hdr_get(v->mv_data, v->mv_size, &h) != 0) {
        return -1;
    }
    it->exptime = h.exptime;
    it->flags = h.flags;
    it->cas = h.cas;
    it->stored = h.stored;
    it->data = (const char *)v->mv_data + REND_LMDB_HDR;
    it->ndata = v->mv_size - REND_LMDB_HDR;
    return 0;
}

/* Whether a flush with a past time has removed the item. */
static inline int
rend_lmdb_flushed(struct rend_lmdb *inst, const struct rend_lmdb_item *it)
{
    return it->stored < __atomic_load_n(&inst->flushed_before,
                                        __ATOMIC_ACQUIRE);
}

/* Whether an item is visible to a reader at `now`: not expired, not
 * flushed, and not behind a delayed flush whose time has come.  Call it
 * after reading the item (see rend_lmdb_writer.c for why). */
static inline int
rend_lmdb_live(struct rend_lmdb *inst, const struct rend_lmdb_item *it,
               int64_t now)
{
    int64_t fa = __atomic_load_n(&inst->flush_at, __ATOMIC_ACQUIRE);

    if (REND_EXPIRED(it->exptime, now) || rend_lmdb_flushed(inst, it)) {
        return 0;
    }
    return !(fa != 0 && fa <= now);
}

/* rend_lmdb_writer.c */

/* Start the writer thread.  Main thread, from create().  REND_OK or a
 * negative status with a reason in err. */
int rend_lmdb_writer_start(struct rend_lmdb *inst, char *err, size_t errlen);
/* Stop the writer after it has completed every queued op.  Main thread,
 * from destroy(). */
void rend_lmdb_writer_stop(struct rend_lmdb *inst);

/* rend_lmdb_reader.c */

/* Look up op->key in rtxn (a reset read txn, renewed and reset here) and
 * fill op's outputs.  Returns the GET status.  Calling thread. */
int rend_lmdb_read(struct rend_lmdb *inst, MDB_txn *rtxn, struct rend_op *op);
/* Start / stop `inst->readers` reader threads.  Main thread. */
int rend_lmdb_pool_start(struct rend_lmdb *inst, char *err, size_t errlen);
void rend_lmdb_pool_stop(struct rend_lmdb *inst);

#endif /* REND_LMDB_INT_H */
