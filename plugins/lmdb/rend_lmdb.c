/*
 * rend_lmdb.c - "lmdb": a persistent L2 handler on LMDB.
 *
 * This file holds the descriptor, options, instance lifecycle, the op entry
 * points, stats and walk.  Writes go to the writer thread
 * (rend_lmdb_writer.c); gets run inline in a per-worker recycled read txn
 * or, with readers = N, on a reader pool (rend_lmdb_reader.c).  The item
 * layout is in rend_lmdb_int.h and README.md.
 */
#include "rend_lmdb_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#define MB (1024ULL * 1024ULL)

/*
 * One instance per LMDB environment per process: LMDB forbids opening the
 * same environment twice in one process (its locks are per process), so a
 * second create() on the same directory is refused.
 */
struct open_env {
    dev_t dev;
    ino_t ino;
    const char *instance;
    struct open_env *next;
};
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct open_env *open_envs;

static const char *const known_opts[] = {
    "path", "map_size_mb", "sync", "sync_interval_ms", "item_size_max",
    "max_batch", "reap_interval_s", "reap_batch", "queue_max", "readers",
    "max_readers", "mode", NULL,
};

static const char META_CAS[] = "cas";
static const char META_FLUSH[] = "flush_at";
static const char META_BEFORE[] = "flushed_before";

static int
registry_add(struct rend_lmdb *inst, char *err, size_t errlen)
{
    struct open_env *e;
    int rc = 0;

    pthread_mutex_lock(&open_lock);
    for (e = open_envs; e != NULL; e = e->next) {
        if (e->dev == inst->dev && e->ino == inst->ino) {
            snprintf(err, errlen,
                     "path %s is already open in this process (instance %s)",
                     inst->path, e->instance);
            rc = REND_EBUSY;
            goto out;
        }
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = REND_ENOMEM;
        goto out;
    }
    e->dev = inst->dev;
    e->ino = inst->ino;
    e->instance = inst->name;
    e->next = open_envs;
    open_envs = e;
out:
    pthread_mutex_unlock(&open_lock);
    return rc;
}

static void
registry_remove(struct rend_lmdb *inst)
{
    pthread_mutex_lock(&open_lock);
    for (struct open_env **p = &open_envs; *p != NULL; p = &(*p)->next) {
        if ((*p)->dev == inst->dev && (*p)->ino == inst->ino) {
            struct open_env *e = *p;
            *p = e->next;
            free(e);
            break;
        }
    }
    pthread_mutex_unlock(&open_lock);
}

/* mkdir -p.  0 or -1 (errno). */
static int
mkdir_p(const char *path, unsigned mode)
{
    char *p = strdup(path);
    int rc = 0;

    if (p == NULL) {
        return -1;
    }
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *s = c;
            if (c == '\0') {
                break;
            }
        }
    }
    free(p);
    return rc;
}

static int
parse_opts(struct rend_lmdb *inst, const struct rend_kv *o, size_t n,
           char *err, size_t errlen)
{
    uint64_t map_mb, max_readers;
    const char *sync;
    struct {
        const char *name;
        uint64_t def, min, max;
        uint64_t *out;
    } nums[] = {
        { "map_size_mb", 1024, 1, 1ULL << 30, &map_mb },
        { "sync_interval_ms", 1000, 1, 3600000, &inst->sync_interval_ms },
        { "item_size_max", MB, 1, 256 * MB, &inst->item_size_max },
        { "max_batch", 1024, 1, 1000000, &inst->max_batch },
        { "reap_interval_s", 30, 0, 86400 * 365, &inst->reap_interval_s },
        { "reap_batch", 256, 1, 1000000, &inst->reap_batch },
        { "queue_max", 65536, 1, 100000000, &inst->queue_max },
        { "readers", 0, 0, 256, &inst->readers },
        { "max_readers", 512, 8, 65536, &max_readers },
    };

    if (rend_opt_check_known(o, n, known_opts, err, errlen) != 0) {
        return REND_EINVAL;
    }
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (rend_opt_u64_range(o, n, nums[i].name, nums[i].def,
                               nums[i].min, nums[i].max, nums[i].out, err,
                               errlen) != 0) {
            return REND_EINVAL;
        }
    }
    if (rend_opt_mode(o, n, "mode", 0600, &inst->mode) != 0) {
        snprintf(err, errlen, "option mode must be an octal string such as "
                 "\"0600\"");
        return REND_EINVAL;
    }
    inst->map_size = map_mb * MB;
    inst->max_readers_opt = (unsigned)max_readers;
    sync = rend_opt_str(o, n, "sync", "commit");
    if (strcmp(sync, "commit") == 0) {
        inst->sync = REND_LMDB_SYNC_COMMIT;
    } else if (strcmp(sync, "periodic") == 0) {
        inst->sync = REND_LMDB_SYNC_PERIODIC;
    } else {
        snprintf(err, errlen, "option sync must be \"commit\" or \"periodic\"");
        return REND_EINVAL;
    }
    const char *path = rend_opt_str(o, n, "path", NULL);
    if (path == NULL || *path == '\0') {
        snprintf(err, errlen, "option path (a directory) is required");
        return REND_EINVAL;
    }
    inst->path = strdup(path);
    if (inst->path == NULL) {
        snprintf(err, errlen, "out of memory");
        return REND_ENOMEM;
    }
    return 0;
}

/* A meta value: 8 bytes big-endian (0 when shorter). */
static uint64_t
meta_u64(const MDB_val *v)
{
    return v->mv_size >= 8 ? rend_be_get64(v->mv_data) : 0;
}

/* Open the env and the two dbs; load the cas counter and flush time. */
static int
open_env(struct rend_lmdb *inst, char *err, size_t errlen)
{
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
    MDB_txn *txn;
    MDB_val k, v;
    int rc, dead;

    if (inst->sync == REND_LMDB_SYNC_PERIODIC) {
        flags |= MDB_NOSYNC;
    }
    rc = mdb_env_create(&inst->env);
    if (rc == 0) {
        rc = mdb_env_set_mapsize(inst->env, inst->map_size);
    }
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(inst->env, 2);
    }
    if (rc == 0) {
        rc = mdb_env_set_maxreaders(inst->env, inst->max_readers_opt);
    }
    if (rc == 0) {
        rc = mdb_env_open(inst->env, inst->path, flags, (mdb_mode_t)inst->mode);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot open %s: %s", inst->path,
                 mdb_strerror(rc));
        return REND_EIO;
    }
    mdb_reader_check(inst->env, &dead);
    inst->maxkey = (unsigned)mdb_env_get_maxkeysize(inst->env);
    rc = mdb_txn_begin(inst->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "items", MDB_CREATE, &inst->items);
        if (rc == 0) {
            rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &inst->meta);
        }
        if (rc == 0) {
            k.mv_size = strlen(META_CAS);
            k.mv_data = (void *)META_CAS;
            if (mdb_get(txn, inst->meta, &k, &v) == 0) {
                inst->cas = meta_u64(&v);
            }
            k.mv_size = strlen(META_FLUSH);
            k.mv_data = (void *)META_FLUSH;
            if (mdb_get(txn, inst->meta, &k, &v) == 0) {
                inst->flush_at = (int64_t)meta_u64(&v);
            }
            k.mv_size = strlen(META_BEFORE);
            k.mv_data = (void *)META_BEFORE;
            if (mdb_get(txn, inst->meta, &k, &v) == 0) {
                inst->flushed_before = (int64_t)meta_u64(&v);
            }
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the databases in %s: %s",
                 inst->path, mdb_strerror(rc));
        return REND_EIO;
    }
    return 0;
}

static void
free_inst(struct rend_lmdb *inst)
{
    rend_lmdb_pool_stop(inst);
    rend_lmdb_writer_stop(inst);
    if (inst->env != NULL) {
        if (inst->sync == REND_LMDB_SYNC_PERIODIC) {
            mdb_env_sync(inst->env, 1);
        }
        mdb_env_close(inst->env);
    }
    if (inst->registered) {
        registry_remove(inst);
    }
    free(inst->scratch);
    free(inst->reap_key);
    free(inst->path);
    free(inst->name);
    free(inst);
}

/* create(): main thread.  On success *out owns the env, the writer thread
 * and (readers > 0) the reader pool; destroy() frees them. */
static int
lmdb_create(const struct rend_host *host, const char *instance,
            const struct rend_kv *opts, size_t nopts, void **out,
            char *err, size_t errlen)
{
    struct rend_lmdb *inst = calloc(1, sizeof(*inst));
    struct stat sb;
    int rc;

    if (inst == NULL || (inst->name = strdup(instance)) == NULL) {
        free(inst);
        snprintf(err, errlen, "out of memory");
        return REND_ENOMEM;
    }
    inst->host = host;
    rc = parse_opts(inst, opts, nopts, err, errlen);
    if (rc != 0) {
        goto fail;
    }
    if (mkdir_p(inst->path, rend_dir_mode(inst->mode)) != 0
        || stat(inst->path, &sb) != 0) {
        snprintf(err, errlen, "cannot create directory %s: %s", inst->path,
                 strerror(errno));
        rc = REND_EIO;
        goto fail;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "path %s is not a directory", inst->path);
        rc = REND_EINVAL;
        goto fail;
    }
    inst->dev = sb.st_dev;
    inst->ino = sb.st_ino;
    rc = registry_add(inst, err, errlen);
    if (rc != 0) {
        goto fail;
    }
    inst->registered = 1;
    rc = open_env(inst, err, errlen);
    if (rc != 0) {
        goto fail;
    }
    if (inst->readers > 0) {
        rc = rend_lmdb_pool_start(inst, err, errlen);
        if (rc != 0) {
            goto fail;
        }
    }
    if (inst->flushed_before != 0) {
        /* Finish deleting what a flush with a past time left behind. */
        inst->reap_active = 1;
        inst->reap_before = inst->flushed_before;
    }
    rc = rend_lmdb_writer_start(inst, err, errlen);
    if (rc != 0) {
        goto fail;
    }
    *out = inst;
    return 0;
fail:
    free_inst(inst);
    return rc;
}

/* destroy(): main thread, after every thread_exit.  Completes every queued
 * op, syncs (periodic mode) and closes the env. */
static void
lmdb_destroy(void *p)
{
    free_inst(p);
}

/* thread_init(): on each worker.  The tctx owns a reset read txn used by
 * the inline get path (none with a reader pool). */
static int
lmdb_thread_init(void *p, const struct rend_thread *thr, void **out)
{
    struct rend_lmdb *inst = p;
    struct rend_lmdb_tctx *t = calloc(1, sizeof(*t));
    int rc;

    if (t == NULL) {
        return REND_ENOMEM;
    }
    t->inst = inst;
    if (!inst->pool_on) {
        rc = mdb_txn_begin(inst->env, NULL, MDB_RDONLY, &t->rtxn);
        if (rc != 0) {
            inst->host->log(REND_LOG_ERR, inst->name,
                            "thread_init read txn: %s", mdb_strerror(rc));
            free(t);
            return REND_EIO;
        }
        mdb_txn_reset(t->rtxn);
    }
    *out = t;
    return 0;
}

static void
lmdb_thread_exit(void *p, void *tctx)
{
    struct rend_lmdb_tctx *t = tctx;

    if (t != NULL && t->rtxn != NULL) {
        mdb_txn_abort(t->rtxn);
    }
    free(t);
}

static int
key_ok(const struct rend_lmdb *inst, const struct rend_op *op)
{
    return op->nkey > 0 && op->nkey <= inst->maxkey;
}

/* Queue op for the writer (q = &inst->wq) or the reader pool (&inst->rq):
 * REND_PENDING (host->done follows on that thread), REND_EBUSY when
 * queue_max ops wait, or REND_ENOMEM.  Any thread. */
static int
submit(struct rend_lmdb *inst, struct rend_opq *q, struct rend_op *op)
{
    int st = rend_opq_submit(q, op);

    if (st == REND_EBUSY) {
        REND_LMDB_ADD(inst, busy, 1);
    }
    return st;
}

static int
op_get(void *tctx, struct rend_op *op)
{
    struct rend_lmdb_tctx *t = tctx;

    if (!key_ok(t->inst, op)) {
        return REND_EINVAL;
    }
    if (t->inst->pool_on) {
        return submit(t->inst, &t->inst->rq, op);
    }
    return rend_lmdb_read(t->inst, t->rtxn, op);
}

static int
op_write(void *tctx, struct rend_op *op)
{
    struct rend_lmdb_tctx *t = tctx;

    if (op->code != REND_OP_FLUSH && !key_ok(t->inst, op)) {
        return REND_EINVAL;
    }
    if (op->nvalue > t->inst->item_size_max) {
        return REND_ETOOBIG;
    }
    return submit(t->inst, &t->inst->wq, op);
}

#define LOAD(inst, f) __atomic_load_n(&(inst)->n.f, __ATOMIC_RELAXED)

/* stats(): any thread.  Counters are atomics; the item count comes from a
 * short read txn. */
static void
lmdb_stats(void *p, rend_stat_emit_f *emit, void *ud)
{
    struct rend_lmdb *inst = p;
    MDB_envinfo info;
    MDB_stat st;
    MDB_txn *txn;
    uint64_t items = 0, queued, commits = LOAD(inst, commits);
    uint64_t writes = LOAD(inst, writes);
    char buf[32];

    if (mdb_txn_begin(inst->env, NULL, MDB_RDONLY, &txn) == 0) {
        if (mdb_stat(txn, inst->items, &st) == 0) {
            items = st.ms_entries;
        }
        mdb_txn_abort(txn);
    }
    mdb_env_stat(inst->env, &st);
    mdb_env_info(inst->env, &info);
    queued = rend_opq_len(&inst->wq);

    rend_stat_u64(emit, ud, "items", items);
    rend_stat_u64(emit, ud, "map_size", info.me_mapsize);
    rend_stat_u64(emit, ud, "map_used", (info.me_last_pgno + 1) * st.ms_psize);
    rend_stat_u64(emit, ud, "page_size", st.ms_psize);
    rend_stat_u64(emit, ud, "commits", commits);
    rend_stat_u64(emit, ud, "write_txns", LOAD(inst, write_txns));
    rend_stat_u64(emit, ud, "writes", writes);
    snprintf(buf, sizeof(buf), "%.2f",
             commits ? (double)writes / (double)commits : 0.0);
    emit(ud, "ops_per_commit", buf);
    rend_stat_u64(emit, ud, "writes_queued", queued);
    rend_stat_u64(emit, ud, "write_errors", LOAD(inst, write_errors));
    rend_stat_u64(emit, ud, "enospc", LOAD(inst, enospc));
    rend_stat_u64(emit, ud, "busy", LOAD(inst, busy));
    rend_stat_u64(emit, ud, "batch_fallbacks", LOAD(inst, fallbacks));
    rend_stat_u64(emit, ud, "gets", LOAD(inst, gets));
    rend_stat_u64(emit, ud, "get_hits", LOAD(inst, get_hits));
    rend_stat_u64(emit, ud, "read_errors", LOAD(inst, read_errors));
    rend_stat_u64(emit, ud, "reaped", LOAD(inst, reaped));
    rend_stat_u64(emit, ud, "reap_passes", LOAD(inst, reap_passes));
    rend_stat_u64(emit, ud, "syncs", LOAD(inst, syncs));
    rend_stat_u64(emit, ud, "flushes", LOAD(inst, flushes));
    rend_stat_u64(emit, ud, "flush_at",
             (uint64_t)__atomic_load_n(&inst->flush_at, __ATOMIC_RELAXED));
    rend_stat_u64(emit, ud, "flushed_before",
             (uint64_t)__atomic_load_n(&inst->flushed_before,
                                       __ATOMIC_RELAXED));
    rend_stat_u64(emit, ud, "readers", inst->readers);
    emit(ud, "sync", inst->sync == REND_LMDB_SYNC_COMMIT ? "commit"
                                                          : "periodic");
    rend_phist_emit_commits(emit, ud, &inst->wq.batches, &inst->commit_time);
    rend_phist_emit(emit, ud, "sync_duration_seconds", &inst->sync_time,
                    rend_phist_ns, 1e9);
}

/* walk(): offline tools only, never on a worker.  Calls fn for every live
 * item in key order from one read snapshot.  Returns 0 (also when fn
 * stopped the walk) or REND_EIO. */
static int
lmdb_walk(void *p, rend_walk_f *fn, void *ud)
{
    struct rend_lmdb *inst = p;
    int64_t now = inst->host->now();
    struct rend_lmdb_item it;
    MDB_cursor *cur;
    MDB_txn *txn;
    MDB_val k, v;
    int rc;

    rc = mdb_txn_begin(inst->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return REND_EIO;
    }
    rc = mdb_cursor_open(txn, inst->items, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return REND_EIO;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (rend_lmdb_item_get(&v, &it) != 0 || !rend_lmdb_live(inst, &it, now)) {
            continue;
        }
        if (fn(ud, k.mv_data, k.mv_size, it.data, it.ndata, it.flags,
               it.exptime, it.cas) != 0) {
            rc = MDB_NOTFOUND;
            break;
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? 0 : REND_EIO;
}

REND_EXPORT const struct rend_handler rend_handler_v1 = {
    REND_HANDLER_INIT,
    .caps = REND_CAP_ASYNC | REND_CAP_PERSISTENT | REND_CAP_CAS,
    .name = "lmdb",
    .version = "1.0",
    .create = lmdb_create,
    .destroy = lmdb_destroy,
    .thread_init = lmdb_thread_init,
    .thread_exit = lmdb_thread_exit,
    .ops = REND_KVOP_OPS(op_get, op_write),
    .stats = lmdb_stats,
    .walk = lmdb_walk,
};
