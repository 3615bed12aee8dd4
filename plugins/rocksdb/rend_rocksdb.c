/*
 * rend_rocksdb.c - the rocksdb handler: a persistent L2 on RocksDB (C API).
 *
 * This file holds the descriptor, options, open/close, the op entry points,
 * stats and walk.  Writes go to the writer thread (rend_rocksdb_writer.c),
 * reads are in rend_rocksdb_read.c, reclaiming in rend_rocksdb_maint.c.
 * See README.md for the value layout, the options and the tuning.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rend_rocksdb.h"

#define MB (1024ULL * 1024)

struct named_int {
    const char *name;
    int value;
};

static const struct named_int compressions[] = {
    { "none", rocksdb_no_compression },
    { "snappy", rocksdb_snappy_compression },
    { "lz4", rocksdb_lz4_compression },
    { "zstd", rocksdb_zstd_compression },
    { NULL, 0 },
};

static const struct named_int compactions[] = {
    { "level", rocksdb_level_compaction },
    { "universal", rocksdb_universal_compaction },
    { NULL, 0 },
};

static const struct named_int read_modes[] = {
    { "inline", 1 },
    { "pool", 0 },
    { NULL, 0 },
};

/* Parsed options that only setup_options needs. */
struct num_opts {
    uint64_t block_cache_mb, write_buffer_mb, max_write_buffers;
    uint64_t background_jobs, readers;
    int wal_sync, disable_wal;
    int compression, compaction;
};

static int
opt_named(const struct rend_kv *kv, size_t n, const char *name,
          const struct named_int *tab, const char *def, int *out, char *err,
          size_t errlen)
{
    const char *v = rend_opt_str(kv, n, name, def);

    for (; tab->name != NULL; tab++) {
        if (strcmp(v, tab->name) == 0) {
            *out = tab->value;
            return 0;
        }
    }
    snprintf(err, errlen, "option %s: unknown value \"%s\"", name, v);
    return -1;
}


static int
opt_flag(const struct rend_kv *kv, size_t n, const char *name, int def,
         int *out, char *err, size_t errlen)
{
    if (rend_opt_bool(kv, n, name, def, out) != 0) {
        snprintf(err, errlen, "option %s: want true or false", name);
        return -1;
    }
    return 0;
}

static int
parse_opts(struct rdb *r, const struct rend_kv *kv, size_t n,
           struct num_opts *o, char *err, size_t errlen)
{
    static const char *const known[] = {
        "path", "block_cache_mb", "write_buffer_mb", "max_write_buffers",
        "wal_sync", "disable_wal", "compression", "compaction",
        "background_jobs", "item_size_max", "max_batch", "read_mode",
        "readers", "mode", NULL,
    };
    const char *path = rend_opt_str(kv, n, "path", NULL);

    if (rend_opt_check_known(kv, n, known, err, errlen) != 0) {
        return -1;
    }
    if (path == NULL || path[0] == '\0') {
        snprintf(err, errlen, "option path is required");
        return -1;
    }
    r->path = strdup(path);
    if (r->path == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (rend_opt_mode(kv, n, "mode", 0600, &r->mode) != 0) {
        snprintf(err, errlen, "option mode must be an octal string such as "
                 "\"0600\"");
        return -1;
    }
    if (rend_opt_u64_range(kv, n, "block_cache_mb", 128, 1, 1 << 20,
                           &o->block_cache_mb, err,
                           errlen) || rend_opt_u64_range(kv, n,
                           "write_buffer_mb", 64, 1, 1 << 14,
                           &o->write_buffer_mb, err,
                           errlen) || rend_opt_u64_range(kv, n,
                           "max_write_buffers", 4, 2, 64,
                           &o->max_write_buffers, err,
                           errlen) || rend_opt_u64_range(kv, n,
                           "background_jobs", 4, 2, 64, &o->background_jobs,
                           err, errlen) || rend_opt_u64_range(kv, n, "readers",
                           2, 1, 64, &o->readers, err,
                           errlen) || rend_opt_u64_range(kv, n,
                           "item_size_max", 1 * MB, 1, 512 * MB,
                           &r->item_size_max, err,
                           errlen) || rend_opt_u64_range(kv, n, "max_batch",
                           256, 1, 65536, &r->max_batch, err,
                           errlen) || opt_flag(kv, n, "wal_sync", 0,
                           &o->wal_sync, err, errlen) || opt_flag(kv, n,
                           "disable_wal", 0, &o->disable_wal, err,
                           errlen) || opt_named(kv, n, "compression",
                           compressions, "none", &o->compression, err,
                           errlen) || opt_named(kv, n, "compaction",
                           compactions, "level", &o->compaction, err,
                           errlen) || opt_named(kv, n, "read_mode", read_modes,
                           "inline", &r->inline_reads, err, errlen)) {
        return -1;
    }
    if (o->wal_sync && o->disable_wal) {
        snprintf(err, errlen, "wal_sync and disable_wal exclude each other");
        return -1;
    }
    r->nreaders = (unsigned)o->readers;
    r->disable_wal = o->disable_wal;
    return 0;
}

/* mkdir -p. */
static int
make_dirs(const char *path, unsigned mode, char *err, size_t errlen)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n >= sizeof(buf)) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        buf[i] = '\0';
        if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "mkdir %s: %s", buf, strerror(errno));
            return -1;
        }
        buf[i] = path[i];
    }
    return 0;
}

/* The tuning rationale is in README.md ("Tuning"). */
static void
setup_options(struct rdb *r, const struct num_opts *o)
{
    rocksdb_options_t *op = rocksdb_options_create();

    r->opts = op;
    rocksdb_options_set_create_if_missing(op, 1);
    rocksdb_options_set_write_buffer_size(op, o->write_buffer_mb * MB);
    rocksdb_options_set_max_write_buffer_number(op,
                                                (int)o->max_write_buffers);
    rocksdb_options_set_max_background_jobs(op, (int)o->background_jobs);
    rocksdb_options_set_bytes_per_sync(op, 1 * MB);
    rocksdb_options_set_wal_bytes_per_sync(op, 1 * MB);
    rocksdb_options_set_compression(op, o->compression);
    rocksdb_options_set_compaction_style(op, o->compaction);
    if (o->compaction == rocksdb_level_compaction) {
        rocksdb_options_set_level_compaction_dynamic_level_bytes(op, 1);
        rocksdb_options_set_max_bytes_for_level_base(
            op, 4 * o->write_buffer_mb * MB);
        rocksdb_options_set_target_file_size_base(op, o->write_buffer_mb * MB);
    }
    rocksdb_options_set_level0_slowdown_writes_trigger(op, 30);
    rocksdb_options_set_level0_stop_writes_trigger(op, 50);
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(op, 0.02);
    rocksdb_options_set_memtable_whole_key_filtering(op, 1);
    rocksdb_options_set_avoid_unnecessary_blocking_io(op, 1);
    rocksdb_options_set_keep_log_file_num(op, 4);
    rocksdb_options_set_max_log_file_size(op, 16 * MB);

    r->cache = rocksdb_cache_create_lru(o->block_cache_mb * MB);
    r->topts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(r->topts, r->cache);
    rocksdb_block_based_options_set_filter_policy(
        r->topts, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_whole_key_filtering(r->topts, 1);
    rocksdb_options_set_block_based_table_factory(op, r->topts);

    r->filter = rend_rdb_filter_create(r);
    rocksdb_options_set_compaction_filter(op, r->filter);

    r->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wopts, (unsigned char)o->wal_sync);
    rocksdb_writeoptions_disable_WAL(r->wopts, o->disable_wal);
    r->ropts = rocksdb_readoptions_create();
    r->ropts_cache = rocksdb_readoptions_create();
    rocksdb_readoptions_set_read_tier(r->ropts_cache, 1); /* block cache */
}

/* Read the cas counter and the flush marker back after open. */
static int
load_meta(struct rdb *r, char *err, size_t errlen)
{
    char *e = NULL;
    size_t n;
    char *v;

    v = rocksdb_get(r->db, r->ropts, RDB_META_CAS, RDB_META_LEN, &n, &e);
    if (e == NULL && v != NULL && n == 8) {
        r->last_cas = rend_be_get64(v);
    }
    rocksdb_free(v);
    if (e == NULL) {
        v = rocksdb_get(r->db, r->ropts, RDB_META_FLUSH, RDB_META_FLUSH_LEN,
                        &n, &e);
        if (e == NULL && v != NULL && n == 24) {
            r->wflush.cas_limit = rend_be_get64(v);
            r->wflush.past = (int64_t)rend_be_get64(v + 8);
            r->wflush.pending = (int64_t)rend_be_get64(v + 16);
        }
        rocksdb_free(v);
    }
    if (e != NULL) {
        snprintf(err, errlen, "%s: reading metadata: %s", r->path, e);
        rocksdb_free(e);
        return -1;
    }
    atomic_store(&r->flush_cas_limit, r->wflush.cas_limit);
    atomic_store(&r->flush_past, r->wflush.past);
    atomic_store(&r->flush_pending, r->wflush.pending);
    return 0;
}

static void
flush_memtables(struct rdb *r)
{
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    char *e = NULL;

    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(r->db, fo, &e);
    if (e != NULL) {
        r->host->log(REND_LOG_ERR, r->name, "flush on close: %s", e);
        rocksdb_free(e);
    }
    rocksdb_flushoptions_destroy(fo);
}

static void
rdb_free(struct rdb *r)
{
    rend_rdb_maint_stop(r);
    rend_rdb_readers_stop(r);
    rend_rdb_writer_stop(r);
    if (r->db != NULL) {
        if (r->disable_wal) {
            flush_memtables(r); /* without a WAL they would be lost */
        }
        rocksdb_close(r->db);
    }
    if (r->opts != NULL) {
        rocksdb_options_destroy(r->opts);
    }
    if (r->filter != NULL) {
        rocksdb_compactionfilter_destroy(r->filter);
    }
    if (r->topts != NULL) {
        rocksdb_block_based_options_destroy(r->topts);
    }
    if (r->cache != NULL) {
        rocksdb_cache_destroy(r->cache);
    }
    if (r->wopts != NULL) {
        rocksdb_writeoptions_destroy(r->wopts);
    }
    if (r->ropts != NULL) {
        rocksdb_readoptions_destroy(r->ropts);
    }
    if (r->ropts_cache != NULL) {
        rocksdb_readoptions_destroy(r->ropts_cache);
    }
    pthread_mutex_destroy(&r->mmu);
    pthread_cond_destroy(&r->mcond);
    free(r->path);
    free(r);
}

static int
rdb_create(const struct rend_host *host, const char *instance,
           const struct rend_kv *kv, size_t nkv, void **inst, char *err,
           size_t errlen)
{
    struct rdb *r = calloc(1, sizeof(*r));
    struct num_opts o;
    char *e = NULL;
    int rc;

    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return REND_ENOMEM;
    }
    r->host = host;
    snprintf(r->name, sizeof(r->name), "%s", instance ? instance : "rocksdb");
    pthread_mutex_init(&r->mmu, NULL);
    pthread_cond_init(&r->mcond, NULL);
    if (parse_opts(r, kv, nkv, &o, err, errlen) != 0
        || make_dirs(r->path, rend_dir_mode(r->mode), err, errlen) != 0) {
        rdb_free(r);
        return REND_EINVAL;
    }
    setup_options(r, &o);
    r->db = rocksdb_open(r->opts, r->path, &e);
    if (e != NULL) {
        /* A second open of one path in this process fails here too:
         * rocksdb holds the LOCK file ("lock hold by current process"). */
        snprintf(err, errlen, "cannot open rocksdb at %s: %s", r->path, e);
        rocksdb_free(e);
        r->db = NULL;
        rdb_free(r);
        return REND_EIO;
    }
    if (load_meta(r, err, errlen) != 0) {
        rdb_free(r);
        return REND_EIO;
    }
    rc = rend_rdb_writer_start(r, err, errlen);
    if (rc == REND_OK) {
        rc = rend_rdb_readers_start(r, err, errlen);
    }
    if (rc == REND_OK) {
        rc = rend_rdb_maint_start(r, err, errlen);
    }
    if (rc != REND_OK) {
        rdb_free(r);
        return rc;
    }
    if (r->wflush.pending != 0) {
        rend_rdb_maint_schedule(r, r->wflush.pending);
    }
    *inst = r;
    return REND_OK;
}

static void
rdb_destroy(void *inst)
{
    if (inst != NULL) {
        rdb_free(inst);
    }
}

static int
rdb_thread_init(void *inst, const struct rend_thread *thr, void **tctx)
{
    (void)thr;
    *tctx = inst; /* every op needs only the instance */
    return REND_OK;
}

static void
rdb_thread_exit(void *inst, void *tctx)
{
    (void)inst;
    (void)tctx;
}

static int
op_get(void *tctx, struct rend_op *op)
{
    if (op->nkey + 1 >= RDB_KEY_MAX) {
        return REND_EINVAL;
    }
    return rend_rdb_get(tctx, op);
}

static int
op_write(void *tctx, struct rend_op *op)
{
    struct rdb *r = tctx;

    if (op->nkey + 1 >= RDB_KEY_MAX) {
        return REND_EINVAL;
    }
    if (op->value != NULL && op->nvalue > r->item_size_max) {
        return REND_ETOOBIG;
    }
    return rend_rdb_writer_enqueue(r, op);
}

static void
emit_prop(struct rdb *r, rend_stat_emit_f *emit, void *ud, const char *name,
          const char *prop)
{
    char *v = rocksdb_property_value(r->db, prop);

    if (v != NULL) {
        emit(ud, name, v);
        rocksdb_free(v);
    }
}

/* Write stalls since open, from rocksdb's text stats (the C API of
 * rocksdb 7 has no map properties or tickers): the per-cause counts of
 * the cfstats "Stalls(count):" line (slowdowns and stops) and the
 * dbstats "Cumulative stall: H:M:S" time.  A stat is left out when the
 * text is not found (another rocksdb version). */
static void
emit_stalls(struct rdb *r, rend_stat_emit_f *emit, void *ud)
{
    char *v = rocksdb_property_value(r->db,
                                     "rocksdb.cfstats-no-file-histogram");
    const char *p;
    unsigned hh, mm;
    double ss;

    p = v != NULL ? strstr(v, "Stalls(count):") : NULL;
    if (p != NULL) {
        char line[1024], *save = NULL, *tok;
        uint64_t slow = 0, stop = 0;
        size_t n = strcspn(p, "\n");

        n = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
        memcpy(line, p + strlen("Stalls(count):"),
               n - strlen("Stalls(count):"));
        line[n - strlen("Stalls(count):")] = '\0';
        /* " 0 level0_slowdown, ..., 0 memtable_slowdown, interval 0 total
         * count": a count and its cause, then the interval's total */
        for (tok = strtok_r(line, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            unsigned long long c;
            int off = 0;

            if (sscanf(tok, " %llu %n", &c, &off) != 1 || off == 0) {
                continue;
            }
            if (strstr(tok + off, "slowdown") != NULL) {
                slow += c;
            } else {
                stop += c;
            }
        }
        rend_stat_u64(emit, ud, "write_slowdowns", slow);
        rend_stat_u64(emit, ud, "write_stops", stop);
    }
    rocksdb_free(v);
    v = rocksdb_property_value(r->db, "rocksdb.dbstats");
    p = v != NULL ? strstr(v, "Cumulative stall: ") : NULL;
    if (p != NULL && sscanf(p, "Cumulative stall: %u:%u:%lf", &hh, &mm, &ss)
                         == 3) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%.3f", hh * 3600.0 + mm * 60.0 + ss);
        emit(ud, "write_stall_seconds", buf);
    }
    rocksdb_free(v);
}

static void
rdb_stats(void *inst, rend_stat_emit_f *emit, void *ud)
{
    struct rdb *r = inst;
    struct rdb_counters *c = &r->c;
    uint64_t commits = atomic_load(&c->commits);
    uint64_t ops = atomic_load(&c->commit_ops);
    /* the commit histogram's sum is the time inside rocksdb_write */
    uint64_t us = __atomic_load_n(&r->commit_time.sum, __ATOMIC_RELAXED)
                  / 1000;

    emit_prop(r, emit, ud, "items", "rocksdb.estimate-num-keys");
    emit_prop(r, emit, ud, "sst_bytes", "rocksdb.total-sst-files-size");
    emit_prop(r, emit, ud, "live_bytes", "rocksdb.estimate-live-data-size");
    emit_prop(r, emit, ud, "memtable_bytes",
              "rocksdb.cur-size-all-mem-tables");
    emit_prop(r, emit, ud, "pending_compaction_bytes",
              "rocksdb.estimate-pending-compaction-bytes");
    emit_prop(r, emit, ud, "compaction_pending",
              "rocksdb.compaction-pending");
    emit_prop(r, emit, ud, "running_compactions",
              "rocksdb.num-running-compactions");
    emit_prop(r, emit, ud, "running_flushes", "rocksdb.num-running-flushes");
    emit_prop(r, emit, ud, "write_stopped", "rocksdb.is-write-stopped");
    emit_prop(r, emit, ud, "delayed_write_rate",
              "rocksdb.actual-delayed-write-rate");
    rend_stat_u64(emit, ud, "block_cache_bytes", rocksdb_cache_get_usage(r->cache));
    rend_stat_u64(emit, ud, "writes", atomic_load(&c->writes));
    rend_stat_u64(emit, ud, "commits", commits);
    rend_stat_u64(emit, ud, "ops_per_commit", commits ? ops / commits : 0);
    rend_stat_u64(emit, ud, "commit_avg_us", commits ? us / commits : 0);
    rend_stat_u64(emit, ud, "writes_queued", rend_opq_len(&r->wq));
    rend_stat_u64(emit, ud, "write_errors", atomic_load(&c->write_errors));
    rend_stat_u64(emit, ud, "gets_inline", atomic_load(&c->gets_inline));
    rend_stat_u64(emit, ud, "gets_incomplete", atomic_load(&c->gets_incomplete));
    rend_stat_u64(emit, ud, "gets_pool", atomic_load(&c->gets_pool));
    rend_stat_u64(emit, ud, "gets_writer", atomic_load(&c->gets_writer));
    rend_stat_u64(emit, ud, "reads_queued", rend_opq_len(&r->rq));
    rend_stat_u64(emit, ud, "expired_dropped", atomic_load(&c->expired_dropped));
    rend_stat_u64(emit, ud, "flushed_dropped", atomic_load(&c->flushed_dropped));
    rend_stat_u64(emit, ud, "flush_compactions",
             atomic_load(&c->flush_compactions));
    emit_stalls(r, emit, ud);
    rend_phist_emit_commits(emit, ud, &r->wq.batches, &r->commit_time);
}

static int
rdb_walk(void *inst, rend_walk_f *fn, void *ud)
{
    struct rdb *r = inst;
    rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, r->ropts);
    const char start[1] = { RDB_KEY_PREFIX };
    int64_t now = r->host->now();
    struct rdb_flush f;
    char *e = NULL;
    int rc = REND_OK;

    rend_rdb_flush_load(r, &f);
    for (rocksdb_iter_seek(it, start, 1); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t nk, nv;
        const char *k = rocksdb_iter_key(it, &nk);
        const char *v = rocksdb_iter_value(it, &nv);
        struct rdb_hdr h;

        if (nk == 0 || k[0] != RDB_KEY_PREFIX) {
            break;
        }
        if (rend_rdb_hdr_decode(v, nv, &h) != 0
            || !rend_rdb_visible(&h, &f, now)) {
            continue;
        }
        if (fn(ud, k + 1, nk - 1, v + RDB_HDR_LEN, nv - RDB_HDR_LEN,
               h.flags, h.exptime, h.cas) != 0) {
            break;
        }
    }
    rocksdb_iter_get_error(it, &e);
    if (e != NULL) {
        r->host->log(REND_LOG_ERR, r->name, "walk: %s", e);
        rocksdb_free(e);
        rc = REND_EIO;
    }
    rocksdb_iter_destroy(it);
    return rc;
}

REND_EXPORT const struct rend_handler rend_handler_v1 = {
    REND_HANDLER_INIT,
    .caps = REND_CAP_ASYNC | REND_CAP_PERSISTENT | REND_CAP_CAS,
    .name = "rocksdb",
    .version = "0.1.0",
    .create = rdb_create,
    .destroy = rdb_destroy,
    .thread_init = rdb_thread_init,
    .thread_exit = rdb_thread_exit,
    .ops = REND_KVOP_OPS(op_get, op_write),
    .stats = rdb_stats,
    .walk = rdb_walk,
};
