/*
 * rend/handler.h - the handler (plugin) ABI.  This header and rend/status.h
 * are the only rend headers a plugin may include.
 *
 * A plugin is a shared object named rend_<name>.so (the loader looks for
 * that file in the plugin directory when a config says handler "<name>")
 * that exports exactly one symbol:
 *
 *     const struct rend_handler rend_handler_v1 = { REND_HANDLER_INIT, ... };
 *
 * The loader checks abi_major, abi_minor, size and build_sig before it calls
 * any plugin code, and refuses a mismatch with one log line.
 *
 * Threads.  rend runs N worker threads, each with its own libev loop.  For
 * every handler instance, thread_init runs once on every worker thread (on
 * that thread) and returns a per-thread context, tctx; every op of that
 * worker is then called on that thread with that tctx.  Ops never block the
 * calling thread for I/O: an op either completes inline (returns a final
 * status) or returns REND_PENDING and later calls host->done exactly once,
 * from any thread (its own loop, or a thread the plugin owns).  A handler
 * that may return REND_PENDING must set REND_CAP_ASYNC.
 *
 * Ownership.  Everything an op points to (key, value) is owned by the core
 * and stays valid until the op completes: until the op returns a final
 * status, or until host->done is called for it.  Results go into core memory:
 * a value is written into the buffer host->value_alloc returns, which the
 * core owns and frees.  Memory never crosses the boundary to be freed on
 * the other side (host->value_ref, ABI minor 2, lends the core the
 * handler's own bytes instead and gets them back through a callback).
 * If the client goes away, the core keeps the op alive until done fires
 * and then drops the result: plugins never see cancellation.
 *
 * Keys are not NUL-terminated: use op->nkey.  A value of length 0 may be
 * NULL.  The option array given to create() (keys and values) is freed as
 * soon as create() returns: copy what you keep.
 */
#ifndef REND_HANDLER_H
#define REND_HANDLER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <rend/status.h>

#define REND_ABI_MAJOR 1 /* bump: anything removed, reordered or changed */
#define REND_ABI_MINOR 5 /* bump: fields appended, new optional ops */
/* Minor 1: REND_OP_FILL (optional), REND_OPF_IF_PRESENT, and a non-zero
 * op->cas is checked by DELETE, APPEND, PREPEND, INCR and DECR.
 * Minor 2: host->value_ref (zero-copy values) and the out_release fields
 * of struct rend_op it sets; see "Zero-copy values" below.
 * Minor 3: REND_OPF_NO_CAS and REND_OPF_NO_EXPTIME (hints a handler may
 * ignore).
 * Minor 4: REND_CAP_PIPE_VALUE and the value_pipe / value_npipe fields of
 * struct rend_op (a SET whose value's tail is in a pipe); see "Piped
 * values" below.
 * Minor 5: REND_OP_GET_TEXT (optional): a text multi-get answered as
 * memcached answers it; see "Relayed multi-gets" below. */

/* Things two separately compiled objects must agree on. */
#define REND_STR_(x) #x
#define REND_STR(x) REND_STR_(x)
#define REND_BUILD_SIG                                                       \
    "ptr=" REND_STR(__SIZEOF_POINTER__) ",long=" REND_STR(__SIZEOF_LONG__)  \
    ",order=" REND_STR(__BYTE_ORDER__)

/* Log levels for host->log. */
enum rend_log_level {
    REND_LOG_ERR = 0,
    REND_LOG_WARN = 1,
    REND_LOG_INFO = 2,
    REND_LOG_DEBUG = 3,
};

/*
 * Operations.  Expected statuses, besides the negative failures:
 *   GET      REND_OK (hit: out_* filled) | REND_MISS
 *   GAT      as GET, and the item's expiry becomes op->exptime
 *   TOUCH    REND_OK | REND_NOT_FOUND
 *   SET      REND_OK
 *   ADD      REND_OK | REND_NOT_STORED (a live item exists)
 *   REPLACE  REND_OK | REND_NOT_STORED (no live item)
 *   APPEND,
 *   PREPEND  REND_OK | REND_NOT_STORED (no live item); flags and expiry kept
 *   CAS      REND_OK | REND_EXISTS (cas differs) | REND_NOT_FOUND
 *   DELETE   REND_OK | REND_NOT_FOUND
 *   INCR,
 *   DECR     REND_OK (out_number = new value) | REND_NOT_FOUND
 *            | REND_NON_NUMERIC.  incr wraps at 2^64, decr stops at 0.
 *   FLUSH    REND_OK; every item stored before op->exptime (0 = now) is
 *            invalid from op->exptime on; -1 (a negative client delay)
 *            means the same as 0.  key is empty (nkey 0).
 *   FILL     (optional, ABI minor 1) store a copy of an item of another
 *            tier: as SET, but the item's cas becomes op->cas instead of
 *            a new one (op->cas 0: a new one, as SET).  With
 *            REND_OPF_IF_PRESENT only when a live item exists, else
 *            REND_NOT_STORED.  REND_OK (out_cas = op->cas).  Only a
 *            handler that can give an item an arbitrary cas provides it;
 *            the core never uses another op in its place.
 * A non-zero op->cas on DELETE, APPEND, PREPEND, INCR or DECR (ABI minor
 * 1; binary requests carry one) must equal the live item's cas, else
 * REND_EXISTS and nothing changes; a missing item answers as without cas.
 * Every store (SET..PREPEND, CAS, INCR, DECR, FILL) that succeeds sets
 * out_cas to the item's new cas when the handler keeps cas values.  TOUCH
 * and GAT set out_cas to the item's cas after the op: unchanged where the
 * handler keeps the cas on a touch, as memcached does.
 */
enum rend_opcode {
    REND_OP_GET = 0,
    REND_OP_GAT,
    REND_OP_TOUCH,
    REND_OP_SET,
    REND_OP_ADD,
    REND_OP_REPLACE,
    REND_OP_APPEND,
    REND_OP_PREPEND,
    REND_OP_CAS,
    REND_OP_DELETE,
    REND_OP_INCR,
    REND_OP_DECR,
    REND_OP_FLUSH,
    REND_OP_FILL,    /* ABI minor 1 */
    REND_OP_GET_TEXT, /* ABI minor 5 */
    REND_OP__COUNT
};
#define REND_OP_SLOTS 32 /* room in the ops table; never shrinks */

/*
 * Expiry is always an absolute unix time in seconds: 0 = never expires; any
 * other value <= host->now() means already expired (the core turns a
 * negative client exptime into -1).  The core has already turned memcached's
 * relative/absolute exptime into this form.
 */
#define REND_EXPIRED(exptime, now) ((exptime) != 0 && (exptime) <= (now))

/*
 * Zero-copy values (ABI minor 2).  Instead of copying a hit into
 * host->value_alloc's buffer, a handler may lend the core its own bytes:
 *
 *     host->value_ref(op, data, n, release, owner, ref);
 *
 * Ownership: the n bytes at data stay valid and unchanged until the core
 * calls release(owner, ref), exactly once; the core only reads them (and
 * may hand them to writev).  The call replaces an earlier value_alloc or
 * value_ref of the op (an earlier lent value is released first).
 * Threads: value_ref may be called from wherever value_alloc may; release
 * is called on the worker thread that runs the op's connection (for a
 * handler that completes inline, the thread that called value_ref), after
 * the bytes have been written to the client or dropped.  It may come after
 * the op completed and even after thread_exit for that thread and
 * destroy() of the instance: a handler that lends values keeps what
 * release needs alive until the last one came back.
 * Availability: only when host->abi_minor >= 2 and host->value_ref is not
 * NULL (an older core has no such member: check host->size too); else
 * copy with value_alloc.
 */
typedef void rend_value_release_f(void *owner, void *ref);

/*
 * Piped values (ABI minor 4).  A handler that sets REND_CAP_PIPE_VALUE may
 * get a REND_OP_SET whose value is not all in memory: op->value holds its
 * first op->nvalue - op->value_npipe bytes and the other op->value_npipe
 * bytes wait, in order, in the pipe whose read end is op->value_pipe (all
 * of them already there: reading never waits).  The handler moves them on
 * with splice(2) (or reads them) at most once: a piped value cannot be
 * sent twice, so a handler that would need to (replicas, a retry) reads
 * the pipe into memory first.  The pipe stays the core's: never close it.
 * Bytes left in it when the op completes are dropped.  value_npipe is 0
 * for every other op and on every op of a handler without the cap.  The
 * core only pipes sets routed L1-only to such a handler, and only those
 * its pipe_ok (when it has one) accepts, so an L1/L2 route or a route_fn
 * never sees one.
 */

/*
 * Relayed multi-gets (ABI minor 5).  A handler that can answer a text
 * `get`/`gets` of several keys in memcached's own reply format (a proxy
 * to memcached) may offer REND_OP_GET_TEXT; the core then sends it a
 * whole multi-get as one op instead of one GET per key, when every key
 * of the request takes the same L1-only route to it:
 *   In:  op->value / op->nvalue: the keys, separated by single spaces
 *        (at least two keys; each a valid text key: 1..250 bytes, no
 *        byte <= 0x20 nor 0x7f); op->delta: how many keys; opflags
 *        REND_OPF_NO_CAS for `get` (no cas wanted), else `gets`.
 *   Out: REND_OK with the result value (value_alloc or value_ref) holding
 *        the hits' blocks, in key order, exactly as memcached writes
 *        them: "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n",
 *        without the closing END; out_number: how many blocks.  A miss
 *        writes nothing.  A negative status fails the whole request.
 *        REND_ENOTSUP (inline, or through host->done): declined; the
 *        core then runs the keys one by one, so a handler may decline
 *        a reply it finds too large to hold once it has seen part of it.
 */

/* Op flags (op->opflags). */
#define REND_OPF_NO_VALUE 0x1 /* GET/GAT: caller needs flags/expiry only */
#define REND_OPF_IF_PRESENT 0x2 /* FILL: only over a live item (replace) */
/* ABI minor 3, GET/GAT hints: the caller will not read out_cas (resp.
 * out_exptime), so a handler that pays to fetch them (a remote one) may
 * leave them 0.  Any handler may ignore these flags. */
#define REND_OPF_NO_CAS 0x4
#define REND_OPF_NO_EXPTIME 0x8

struct rend_op {
    uint32_t magic;   /* core's; do not touch */
    uint16_t code;    /* enum rend_opcode */
    uint16_t opflags; /* REND_OPF_* */

    /* In: valid until the op completes. */
    const char *key;
    uint32_t nkey;
    uint32_t nvalue;
    const char *value; /* SET..PREPEND, CAS, FILL: the bytes to store */
    uint32_t flags;    /* SET, ADD, REPLACE, CAS, FILL: client flags */
    uint32_t pad0;
    int64_t exptime;   /* SET, ADD, REPLACE, CAS, FILL, GAT, TOUCH, FLUSH */
    uint64_t cas;      /* CAS (and, when non-zero, DELETE, APPEND,
                        * PREPEND, INCR, DECR): the cas the item must still
                        * have.  FILL: the cas to give the item */
    uint64_t delta;    /* INCR, DECR */

    /* Out: written by the handler before it completes the op. */
    char *out_value;      /* set by host->value_alloc */
    uint32_t out_nvalue;  /* set by host->value_alloc */
    uint32_t out_flags;   /* GET, GAT hit */
    int64_t out_exptime;  /* GET, GAT hit: absolute expiry, 0 = never */
    uint64_t out_cas;     /* hit or successful store; 0 = unknown */
    uint64_t out_number;  /* INCR, DECR */

    void *core;           /* core's; do not touch */

    /* ABI minor 2, set by host->value_ref (NULL otherwise); the handler
     * never writes these itself. */
    rend_value_release_f *out_release;
    void *out_release_owner;
    void *out_release_ref;

    /* ABI minor 4, In (REND_CAP_PIPE_VALUE handlers' SETs only): the last
     * value_npipe bytes of the value are in the pipe value_pipe, not at
     * value.  See "Piped values" above. */
    int value_pipe;
    uint32_t value_npipe;
};

struct rend_kv {
    const char *key;
    const char *value;
};

struct rend_host {
    uint32_t abi_major, abi_minor, size;
    /* Log one line; `who` is the instance name.  Thread-safe. */
    void (*log)(int level, const char *who, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Current unix time in seconds (a clock the core advances on a
     * 1-second tick, so it may lag the wall clock by up to a second).
     * Thread-safe. */
    int64_t (*now)(void);
    /* Reserve n bytes for op's result value; sets op->out_value and
     * op->out_nvalue and returns out_value, or NULL when out of memory.
     * Owned by the core; a second call replaces the first.  Thread-safe. */
    char *(*value_alloc)(struct rend_op *op, size_t n);
    /* Complete an op that returned REND_PENDING.  Exactly once, from any
     * thread; the op must not be touched afterwards. */
    void (*done)(struct rend_op *op, int status);
    /* ABI minor 2: lend n bytes at data as op's result value; sets
     * op->out_value, out_nvalue and the out_release fields.  See
     * "Zero-copy values" above.  Thread-safe. */
    void (*value_ref)(struct rend_op *op, const char *data, size_t n,
                      rend_value_release_f *release, void *owner, void *ref);
};

/* True when host offers value_ref (ABI minor 2). */
#define REND_HOST_HAS_VALUE_REF(host)                                        \
    ((host)->abi_minor >= 2                                                  \
     && (host)->size >= offsetof(struct rend_host, value_ref)                \
                            + sizeof(void (*)(void))                         \
     && (host)->value_ref != NULL)

/* What a worker thread is, for thread_init. */
struct rend_thread {
    void *loop;        /* that worker's struct ev_loop * */
    unsigned id;       /* 0 .. nthreads-1 */
    unsigned nthreads;
};

/* One op.  Returns a final status, or REND_PENDING (REND_CAP_ASYNC only). */
typedef int rend_op_f(void *tctx, struct rend_op *op);

/* Stats emitter: one name/value pair per call. */
typedef void rend_stat_emit_f(void *ud, const char *name, const char *value);

/*
 * Histograms in stats (a naming rule the core reads; no ABI change).  A
 * handler exports a histogram BASE (letters, digits, '_'; a base unit in
 * the name, e.g. commit_duration_seconds) as the stats
 *     BASE_le_<bound>   cumulative count of values <= bound, one per
 *                       bound, ascending (bound as "%g": 1e-05, 0.5, 10)
 *     BASE_sum          sum of the values (the bound's unit)
 *     BASE_count        number of values (the +Inf bucket)
 * `stats handlers` shows them as they are; /metrics renders them as the
 * Prometheus histogram rend_handler_BASE{instance=...} (never as
 * rend_handler_stat).  Latencies should use the core's bounds, log
 * spaced 1-2-5 from 10 us to 10 s, so the series line up with
 * rend_request_duration_seconds.
 */

/* Item walker for offline tools: return 0 to go on, non-zero to stop. */
typedef int rend_walk_f(void *ud, const char *key, size_t nkey,
                        const char *value, size_t nvalue, uint32_t flags,
                        int64_t exptime, uint64_t cas);

/* Capability bits. */
#define REND_CAP_ASYNC 0x1      /* ops may return REND_PENDING */
#define REND_CAP_PERSISTENT 0x2 /* survives a restart (an L2) */
#define REND_CAP_CAS 0x4        /* keeps real cas values */
#define REND_CAP_PIPE_VALUE 0x8 /* takes SETs with piped values (minor 4) */

struct rend_handler {
    uint32_t abi_major;    /* REND_ABI_MAJOR */
    uint32_t abi_minor;    /* REND_ABI_MINOR */
    uint32_t size;         /* sizeof(struct rend_handler) */
    uint32_t caps;         /* REND_CAP_* */
    const char *build_sig; /* REND_BUILD_SIG */
    const char *name;      /* plugin name, e.g. "inmem" */
    const char *version;

    /* Make an instance from its config options (strings).  On failure
     * return a negative status and write one line of reason into err.
     * Runs on the main thread, never on a worker. */
    int (*create)(const struct rend_host *host, const char *instance,
                  const struct rend_kv *opts, size_t nopts, void **inst,
                  char *err, size_t errlen);
    /* Free an instance; every thread_exit has run before. */
    void (*destroy)(void *inst);
    /* Per worker thread, on that thread.  Optional: when thread_init is
     * NULL, every op gets the instance pointer (inst) as its tctx. */
    int (*thread_init)(void *inst, const struct rend_thread *thr,
                       void **tctx);
    void (*thread_exit)(void *inst, void *tctx);

    /* Indexed by enum rend_opcode; NULL = not supported (REND_ENOTSUP). */
    rend_op_f *ops[REND_OP_SLOTS];

    /* Optional: the core has issued a group of ops (e.g. all keys of a
     * multi-get) and has no more for now; send what is buffered. */
    void (*flush)(void *tctx);
    /* Optional: emit instance stats.  Any thread; must be thread-safe. */
    void (*stats)(void *inst, rend_stat_emit_f *emit, void *ud);
    /* Optional: walk every live item (offline tools, never on a worker). */
    int (*walk)(void *inst, rend_walk_f *fn, void *ud);

    /* ABI minor 4, optional, REND_CAP_PIPE_VALUE handlers only: 1 when a
     * SET of nvalue bytes for key may come with a piped value, 0 to get
     * it all in memory (NULL: always 1).  With key NULL (when a config is
     * built): whether the instance takes piped values at all.  Any
     * thread, often: keep it cheap and thread-safe. */
    int (*pipe_ok)(void *inst, const char *key, size_t nkey, size_t nvalue);
};

#define REND_HANDLER_INIT                                                    \
    .abi_major = REND_ABI_MAJOR, .abi_minor = REND_ABI_MINOR,                \
    .size = sizeof(struct rend_handler), .build_sig = REND_BUILD_SIG

/* The exported symbol's name. */
#define REND_HANDLER_SYMBOL "rend_handler_v1"

#ifndef REND_EXPORT
#define REND_EXPORT __attribute__((visibility("default")))
#endif

/* Optional export, outside the descriptor (so no ABI change): a handler
 * with a memory budget that can be changed at run time (memcached's
 * `cache_memlimit`) exports this function under REND_MEMLIMIT_SYMBOL.
 * Any thread; returns REND_OK or a negative status. */
typedef int rend_memlimit_f(void *inst, uint64_t bytes);
#define REND_MEMLIMIT_SYMBOL "rend_memlimit_v1"

/* Optional export, likewise: a handler whose items cannot be walked in
 * place but can be listed on request (memcached's `stats cachedump`)
 * exports this under REND_CACHEDUMP_SYMBOL.  It calls item(ud, key,
 * "[<size> b; <exptime> s]") for up to limit items (0 = no limit) and
 * returns REND_OK or a negative status.  Any thread; may block briefly. */
typedef int rend_cachedump_f(void *inst, uint32_t limit,
                             rend_stat_emit_f *item, void *ud);
#define REND_CACHEDUMP_SYMBOL "rend_cachedump_v1"

/*
 * Option helpers for create(): header-only, so plugins link no core code.
 */

/* Emit one unsigned stat (for a stats callback). */
static inline void
rend_stat_u64(rend_stat_emit_f *emit, void *ud, const char *name, uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    emit(ud, name, buf);
}

/* The one rule for unknown options: every plugin refuses them, naming the
 * option, so a typo in a config is caught at load time.  known is a
 * NULL-terminated list.  0 when every option is known; otherwise -1 with
 * "unknown option 'NAME'" in err (create() then fails with REND_EINVAL). */
static inline int
rend_opt_check_known(const struct rend_kv *opts, size_t n,
                     const char *const *known, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (known[k] != NULL && strcmp(known[k], opts[i].key) != 0) {
            k++;
        }
        if (known[k] == NULL) {
            snprintf(err, errlen, "unknown option '%s'", opts[i].key);
            return -1;
        }
    }
    return 0;
}

/* Last value of `name`, or def. */
static inline const char *
rend_opt_str(const struct rend_kv *opts, size_t n, const char *name,
             const char *def)
{
    const char *v = def;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(opts[i].key, name) == 0) {
            v = opts[i].value;
        }
    }
    return v;
}

/* Unsigned decimal option.  0 on success (or absent: *out = def), -1 when
 * the value is not a number in [0, max]. */
static inline int
rend_opt_u64(const struct rend_kv *opts, size_t n, const char *name,
             uint64_t def, uint64_t max, uint64_t *out)
{
    const char *v = rend_opt_str(opts, n, name, NULL);
    char *end;
    unsigned long long x;

    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (*v < '0' || *v > '9') {
        return -1;
    }
    errno = 0;
    x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || x > max) {
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

/* Unsigned decimal option in [min, max], with the one message every
 * plugin gives: 0 (absent: *out = def), or -1 with "option 'NAME' must be
 * a number in [MIN, MAX]" in err. */
static inline int
rend_opt_u64_range(const struct rend_kv *opts, size_t n, const char *name,
                   uint64_t def, uint64_t min, uint64_t max, uint64_t *out,
                   char *err, size_t errlen)
{
    if (rend_opt_u64(opts, n, name, def, max, out) != 0 || *out < min) {
        snprintf(err, errlen, "option '%s' must be a number in [%llu, %llu]",
                 name, (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    return 0;
}

/* Boolean option: true/false/yes/no/1/0/on/off.  Same return as above. */
static inline int
rend_opt_bool(const struct rend_kv *opts, size_t n, const char *name,
              int def, int *out)
{
    const char *v = rend_opt_str(opts, n, name, NULL);

    if (v == NULL) {
        *out = def;
    } else if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")
               || !strcmp(v, "on")) {
        *out = 1;
    } else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")
               || !strcmp(v, "off")) {
        *out = 0;
    } else {
        return -1;
    }
    return 0;
}

/* File mode option: an octal string such as "0600" (a Lua number would
 * be read as decimal, so only strings are accepted), at most 0777.  Same
 * return as above. */
static inline int
rend_opt_mode(const struct rend_kv *opts, size_t n, const char *name,
              unsigned def, unsigned *out)
{
    const char *v = rend_opt_str(opts, n, name, NULL);
    unsigned m = 0;

    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (*v == '\0' || strlen(v) > 4) {
        return -1;
    }
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '7') {
            return -1;
        }
        m = m * 8 + (unsigned)(*p - '0');
    }
    if (m > 0777) {
        return -1;
    }
    *out = m;
    return 0;
}

/* The directory mode that goes with file mode m: search (x) wherever m
 * allows reading ("0600" -> 0700, "0640" -> 0750). */
static inline unsigned
rend_dir_mode(unsigned m)
{
    return m | ((m & 0444) >> 2);
}

/*
 * A strict unsigned decimal: 1 to 20 digits that fit in 64 bits, nothing
 * else (protocol numbers).  0 on success, -1 otherwise.  What an incr
 * finds in a stored value is rend_counter_read's (memcached's) rule.
 */
static inline int
rend_counter_parse(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i, safe = n < 20 ? n : 19; /* 19 digits cannot overflow */

    if (n == 0 || n > 20) {
        return -1;
    }
    for (i = 0; i < safe; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) {
            return -1;
        }
        v = v * 10 + d;
    }
    if (i < n) { /* a 20th digit: v * 10 + d must fit */
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/*
 * The number an INCR/DECR finds in a stored value, by memcached's rule
 * (strtoull): optional leading white space and sign, one or more digits
 * that fit in 64 bits, then the end or a white space byte (the rest is
 * ignored, so a value memcached padded with spaces stays a number).  0,
 * or -1 when the value is not a number (REND_NON_NUMERIC).
 */
static inline int
rend_counter_read(const char *s, size_t n, uint64_t *out)
{
    size_t i = 0, start;
    uint64_t v = 0;
    int neg = 0;

    while (i < n && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) {
        i++;
    }
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i++] == '-';
    }
    start = i;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    if (i == start
        || (i < n && s[i] != ' ' && !(s[i] >= '\t' && s[i] <= '\r'))) {
        return -1;
    }
    if (neg) {
        /* strtoull negates; memcached refuses what is then negative as a
         * signed number ("-1"), not "-0" */
        v = (uint64_t)0 - v;
        if (v > (uint64_t)INT64_MAX) {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/*
 * The value an INCR/DECR stores, by memcached's rule: the decimal number,
 * padded with spaces to the old value's length when it is not longer (as
 * memcached rewrites it in place).  buf must hold max(oldlen, 20) bytes;
 * returns the length written.
 */
static inline size_t
rend_counter_format(uint64_t v, size_t oldlen, char *buf)
{
    char num[24];
    size_t n = 0, len;

    do {
        num[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    len = n <= oldlen ? oldlen : n;
    for (size_t i = 0; i < n; i++) {
        buf[i] = num[n - 1 - i];
    }
    memset(buf + n, ' ', len - n);
    return len;
}

#endif /* REND_HANDLER_H */
