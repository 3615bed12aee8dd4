/*
 * rend_mc_chunk.c - chunked mode, Rend's layout (rend-behaviour.md 4.3):
 * "<key>-meta" holds 40 big-endian bytes (Length, OrigFlags, NumChunks,
 * ChunkSize, Instime, Exptime, Token[16]); chunk i is "<key>-<i>" holding
 * the token and ChunkSize data bytes (the last one zero-padded).  A chunk
 * value is slab_size - 71 - len(key) bytes so every piece lands in one
 * slab class.  All pieces of a key live on the server of the user key.
 *
 * Differences from Rend (fixes): a missing chunk or a token mismatch is a
 * miss; an already expired set stores nothing visible and answers OK;
 * touch covers every chunk and rewrites the metadata last (with the new
 * Exptime, guarded by the metadata's cas); delete covers all pieces;
 * append/prepend/incr/decr are read-modify-write guarded by the metadata's
 * cas (retried on a race).  Every op runs on its worker thread.
 *
 * Round trips (issue 14): a get sends the meta read and quiet reads of the
 * first chunks in one write (as many chunks as the thread's last value
 * had), so a value up to that size is one round trip; a set sends all
 * chunks, then the meta, then mn in one write (one reply write from
 * memcached), with chunk payloads of SPLICE_MIN bytes or more queued on
 * the connection by reference (rend_mc_splice.c) instead of copied.
 * slab_size (1184 = Rend's) sets the chunk size per instance; reads use
 * the ChunkSize in each value's metadata, so any size reads back.
 * Ops that change a key run one at a time per key and worker, in arrival
 * order (see "per-key ordering"), so pipelined writes apply in order.
 *
 * Long keys (an extension: Rend's names limit keys to about 245 bytes):
 * when "<key>-meta" or the last "<key>-<i>" would pass memcached's 250
 * bytes, the pieces are named "~rend~<md5(key) in hex>-meta" / "-<i>"
 * instead, the chunk size follows that name's length, and the metadata
 * value is Rend's 40 bytes followed by the full key.  A read checks it:
 * metadata of another key under the name (a digest collision, or a plain
 * key spelled like a digest name) is a miss, never that key's value, and
 * delete/touch/append leave it alone.  Shorter keys keep Rend's layout.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/random.h>

#include "rend_mc.h"

#define META_LEN 40
#define TOKEN_LEN 16
#define CHUNK_OVERHEAD 71
#define RMW_TRIES 5
#define SEEN_INLINE 256            /* chunk marks kept in the op state */
#define SPEC_MAX 256               /* most chunks read along with the meta */
#define SPLICE_MIN 2048            /* chunk payloads written without a copy */
#define EXT_GROUP 64               /* spliced payloads per writev batch */
#define PIECE_META UINT32_MAX      /* piece number of <key>-meta */
#define CMD_ROOM (64 + 6 * REND_MC_NUM_MAX)  /* a command line minus key */
#define RAW_SUFFIX_MAX 11          /* "-" and a 32-bit number */
/* Digest names: "~rend~" and the key's MD5 in hex, for a key whose
 * "<key>-meta" / "<key>-<i>" would not fit memcached's 250 bytes. */
#define DIGEST_TAG "~rend~"
#define DIGEST_NAME_LEN (sizeof(DIGEST_TAG) - 1 + 32)

struct meta {
    uint32_t len, flags, nchunks, chunksize, instime, exptime;
    unsigned char token[TOKEN_LEN];
};

struct rend_mc_cop {
    struct rend_mc_thr *t;
    struct rend_op *op;
    unsigned srv;
    uint32_t keyhash;
    uint32_t chunk_size;       /* data bytes per chunk for this key */
    struct meta m;
    uint64_t meta_cas;
    int64_t meta_ttl;
    int64_t ttl;               /* T token for writes */
    uint32_t wflags;           /* memcached flags for writes */
    char *dst;                 /* where chunk data goes on a read */
    int lend;                  /* get of one chunk: lend its bytes from the
                                * read buffer instead of copying to dst */
    char *tmp;                 /* read-modify-write value */
    size_t ntmp;
    const char *wvalue;        /* value being written */
    size_t nwvalue;
    unsigned char *seen;       /* seen_inline, or heap for many chunks */
    unsigned got;
    int bad, err, meta_st;
    int tries;
    uint32_t spec;             /* get: chunks read along with the meta */
    int spec_pending;          /* get: that batch is still outstanding */
    int meta_res;              /* get: 0 = metadata taken, else a status */
    struct rend_mc_conn *ext_conn; /* write: payloads spliced on this one */
    int starting, result;
    int raw;                   /* every piece key goes on the wire raw */
    int digest;                /* pieces are named after dname */
    int foreign;               /* the metadata read is another key's */
    const char *base;          /* raw: what piece names start with */
    size_t nbase;
    char dname[DIGEST_NAME_LEN];
    /* Per-key ordering (see keyq_*): an op that changes a key owns it in
     * t->keyq until it completes; later ones on that key wait in order. */
    uint32_t khash;
    int owner;                 /* in t->keyq */
    struct rend_mc_cop *hnext; /* bucket chain (owners) */
    struct rend_mc_cop *whead, *wtail; /* owner: ops waiting for the key */
    struct rend_mc_cop *wnext; /* waiter: next in the owner's queue */
    unsigned char seen_inline[SEEN_INLINE];
};

static void
put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
           | p[3];
}

static void
meta_encode(const struct meta *m, unsigned char *b)
{
    put32(b, m->len);
    put32(b + 4, m->flags);
    put32(b + 8, m->nchunks);
    put32(b + 12, m->chunksize);
    put32(b + 16, m->instime);
    put32(b + 20, m->exptime);
    memcpy(b + 24, m->token, TOKEN_LEN);
}

static void
meta_decode(struct meta *m, const unsigned char *b)
{
    m->len = get32(b);
    m->flags = get32(b + 4);
    m->nchunks = get32(b + 8);
    m->chunksize = get32(b + 12);
    m->instime = get32(b + 16);
    m->exptime = get32(b + 20);
    memcpy(m->token, b + 24, TOKEN_LEN);
}

/* Points p->seen at n zeroed marks.  0 or REND_ENOMEM. */
static int
seen_reset(struct rend_mc_cop *p, size_t n)
{
    if (p->seen != p->seen_inline) {
        free(p->seen);
    }
    p->seen = n <= SEEN_INLINE ? p->seen_inline : malloc(n);
    if (p->seen == NULL) {
        return REND_ENOMEM;
    }
    memset(p->seen, 0, n);
    return 0;
}

static void
cop_free(struct rend_mc_cop *p)
{
    free(p->tmp);
    if (p->seen != p->seen_inline) {
        free(p->seen);
    }
    rend_mc_pool_put(&p->t->cops, p);
}

/* ---- per-key ordering ----
 * The core issues one connection's writes without waiting for the earlier
 * ones (handler.h: a handler applies them in issue order).  A plain op is
 * one memcached command, ordered by the backend connection; a chunked op
 * is several round trips (meta, then chunks; append is read-modify-write),
 * so a later op on the same key would interleave with it.  So every op but
 * GET takes its key in the worker's table: when the key is taken it waits
 * in the owner's queue and starts, in arrival order, once the ops before
 * it have completed.  Different keys still run concurrently. */

static uint32_t
key_hash(const char *k, size_t n)
{
    uint32_t h = 2166136261u;  /* FNV-1a */

    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    }
    return h;
}

static struct rend_mc_cop **
keyq_bucket(struct rend_mc_thr *t, uint32_t h)
{
    return &t->keyq[h & (REND_MC_KEYQ_BUCKETS - 1)];
}

/* The op that owns p's key, or NULL. */
static struct rend_mc_cop *
keyq_owner(const struct rend_mc_cop *p)
{
    const struct rend_op *op = p->op;

    for (struct rend_mc_cop *o = *keyq_bucket(p->t, p->khash); o != NULL;
         o = o->hnext) {
        if (o->khash == p->khash && o->op->nkey == op->nkey
            && memcmp(o->op->key, op->key, op->nkey) == 0) {
            return o;
        }
    }
    return NULL;
}

static void
keyq_own(struct rend_mc_cop *p)
{
    struct rend_mc_cop **b = keyq_bucket(p->t, p->khash);

    p->hnext = *b;
    *b = p;
    p->owner = 1;
}

/* p (which owns its key, or not) is complete: passes the key to the first
 * waiter, which it returns (not started yet), or NULL. */
static struct rend_mc_cop *
keyq_release(struct rend_mc_cop *p)
{
    struct rend_mc_cop **pp, *n;

    if (!p->owner) {
        return NULL;
    }
    for (pp = keyq_bucket(p->t, p->khash); *pp != p; pp = &(*pp)->hnext) {
    }
    *pp = p->hnext;
    p->owner = 0;
    n = p->whead;
    if (n == NULL) {
        return NULL;
    }
    n->whead = n->wnext;
    n->wtail = n->whead != NULL ? p->wtail : NULL;
    n->wnext = NULL;
    keyq_own(n);
    return n;
}

static int run(struct rend_mc_cop *p);

/* Completes p with st for the core, then starts the ops that waited for
 * its key, completing those that finish at once, until one is pending. */
static void
finish(struct rend_mc_cop *p, int st)
{
    const struct rend_host *h = p->t->inst->host;

    while (p != NULL) {
        struct rend_mc_cop *next = keyq_release(p);
        struct rend_op *op = p->op;

        cop_free(p);
        h->done(op, st);
        p = next;
        if (p != NULL) {
            /* the thread is going away: waiters fail, nothing is sent */
            st = p->t->closing ? REND_EIO : run(p);
            if (st == REND_PENDING) {
                return;
            }
        }
    }
}

/* Completes the op with st (synchronously while the op call runs). */
static void
end(struct rend_mc_cop *p, int st)
{
    if (p->starting) {
        p->result = st;
        p->starting = 0;
        return;
    }
    finish(p, st);
}

static struct rend_mc_conn *
conn(struct rend_mc_cop *p, int *err)
{
    *err = REND_EIO;
    return rend_mc_conn_get(p->t, p->srv, p->keyhash, err);
}

/* Starts a command in b: the 3-byte verb ("mg ", "ms ", "md ") and the
 * wire key of piece i (PIECE_META: "<key>-meta", else "<key>-<i>"), with
 * room reserved for extra more bytes and a command line.  Returns the
 * write cursor (the caller sets b->len when done) and *b64 (the command
 * needs the `b` flag), or NULL (no memory, or the key cannot be sent). */
static char *
start_cmd(struct rend_mc_buf *b, struct rend_mc_cop *p, const char *verb,
          uint32_t i, size_t extra, int *b64)
{
    struct rend_mc_wkey w;
    char suffix[RAW_SUFFIX_MAX + 1];
    size_t ns;
    char *c;

    if (rend_mc_buf_reserve(b, REND_MC_KEY_MAX + CMD_ROOM + extra) != 0) {
        return NULL;
    }
    c = rend_mc_put(b->data + b->len, verb, 3);
    if (p->raw) {
        c = rend_mc_put(c, p->base, p->nbase);
        if (i == PIECE_META) {
            c = REND_MC_PUTS(c, "-meta");
        } else {
            *c++ = '-';
            c = rend_mc_put_u64(c, i);
        }
        *b64 = 0;
        return c;
    }
    if (i == PIECE_META) {
        ns = 5;
        memcpy(suffix, "-meta", ns);
    } else {
        suffix[0] = '-';
        ns = (size_t)(rend_mc_put_u64(suffix + 1, i) - suffix);
    }
    if (rend_mc_wkey(&w, p->op->key, p->op->nkey, suffix, ns) != 0) {
        return NULL;
    }
    *b64 = w.b64;
    return rend_mc_put(c, w.text, w.len);
}

/* Ends a command line: " O<o>\r\n", and records it in b. */
static void
end_cmd(struct rend_mc_buf *b, char *c, uint32_t o)
{
    c = REND_MC_PUTS(c, " O");
    c = rend_mc_put_u64(c, o);
    c = REND_MC_PUTS(c, "\r\n");
    b->len = (size_t)(c - b->data);
}

static void
ignore_reply(void *ud, int err, const struct rend_mc_reply *r)
{
}

/* ---- step: read the metadata ---- */

/* mg <key>-meta; with_ttl adds T (gat); cb gets the reply. */
static int
send_meta_get(struct rend_mc_cop *p, int with_ttl, rend_mc_reply_f *cb)
{
    int err, b64;
    struct rend_mc_conn *c = conn(p, &err);
    uint32_t o;
    char *w;

    if (c == NULL) {
        return err;
    }
    o = rend_mc_conn_push(c, cb, p, 0);
    if (o == 0) {
        return REND_ENOMEM;
    }
    w = start_cmd(&c->out, p, "mg ", PIECE_META, 0, &b64);
    if (w == NULL) {
        c->deferred_err = REND_ENOMEM;
        return 0;
    }
    if (b64) {
        w = REND_MC_PUTS(w, " b");
    }
    if (with_ttl) {
        w = REND_MC_PUTS(w, " T");
        w = rend_mc_put_i64(w, p->ttl);
    }
    w = REND_MC_PUTS(w, " v f t c");
    end_cmd(&c->out, w, o);
    return 0;
}

/* Bytes of p's metadata value: Rend's 40, then the full key when the
 * pieces have digest names. */
static size_t
meta_len(const struct rend_mc_cop *p)
{
    return META_LEN + (p->digest ? p->op->nkey : 0);
}

/* Decodes a meta reply into p; 1 = valid metadata, 0 = miss/invalid,
 * < 0 = failure. */
static int
take_meta(struct rend_mc_cop *p, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_inst *in = p->t->inst;

    if (err != 0) {
        return err;
    }
    if (r->kind == REND_MC_R_EN) {
        return 0;
    }
    if (r->kind != REND_MC_R_VA) {
        return rend_mc_reply_error(r);
    }
    if (r->nvalue != meta_len(p)
        || (p->digest
            && memcmp(r->value + META_LEN, p->op->key, p->op->nkey) != 0)) {
        /* a digest name's metadata carries the full key: another key's
         * (a digest collision) is a miss, and so is one of those under
         * a plain name */
        p->foreign = p->digest || r->nvalue > META_LEN;
        return 0;
    }
    meta_decode(&p->m, (const unsigned char *)r->value);
    p->meta_cas = r->cas;
    p->meta_ttl = r->has_ttl ? r->ttl : -1;
    if (p->m.len > in->item_size_max || p->m.chunksize == 0
        || p->m.nchunks
               != (p->m.len + (uint64_t)p->m.chunksize - 1) / p->m.chunksize) {
        return 0;
    }
    return 1;
}

/* ---- step: read (or touch) all chunks in one round trip ---- */


/* mg chunks [first, last) quietly, then mn, as one multi request whose
 * replies go to cb.  with_value: v (copy into p->dst); with_ttl: T.  The
 * marks (p->seen, got, bad, err) are not reset here. */
static int
send_chunk_range(struct rend_mc_cop *p, uint32_t first, uint32_t last,
                 int with_value, int with_ttl, rend_mc_reply_f *cb)
{
    int err, b64;
    struct rend_mc_conn *c = conn(p, &err);

    if (c == NULL) {
        return err;
    }
    if (rend_mc_conn_push(c, cb, p, 1) == 0) {
        return REND_ENOMEM;
    }
    for (uint32_t i = first; i < last; i++) {
        char *w = start_cmd(&c->out, p, "mg ", i, 0, &b64);
        if (w == NULL) {
            c->deferred_err = REND_ENOMEM;
            return 0;
        }
        if (b64) {
            w = REND_MC_PUTS(w, " b");
        }
        if (with_ttl) {
            w = REND_MC_PUTS(w, " T");
            w = rend_mc_put_i64(w, p->ttl);
        }
        if (with_value) {
            w = REND_MC_PUTS(w, " v");
        }
        w = REND_MC_PUTS(w, " q");
        end_cmd(&c->out, w, i);
    }
    if (rend_mc_buf_add(&c->out, "mn\r\n", 4) != 0) {
        c->deferred_err = REND_ENOMEM;
    }
    return 0;
}

/* Resets the chunk marks for p->m.nchunks chunks.  0 or REND_ENOMEM. */
static int
chunk_marks_reset(struct rend_mc_cop *p)
{
    p->got = 0;
    p->bad = 0;
    p->err = 0;
    return seen_reset(p, (size_t)p->m.nchunks + 1);
}

/* mg every chunk quietly (+ mn).  with_value: v (copy into p->dst);
 * with_ttl: T. */
static int
send_chunk_reads(struct rend_mc_cop *p, int with_value, int with_ttl,
                 rend_mc_reply_f *cb)
{
    if (chunk_marks_reset(p) != 0) {
        return REND_ENOMEM;
    }
    return send_chunk_range(p, 0, p->m.nchunks, with_value, with_ttl, cb);
}

/* Accounts one reply of a chunk batch; returns 1 at the batch end. */
static int
chunk_account(struct rend_mc_cop *p, int err, const struct rend_mc_reply *r)
{
    if (err != 0) {
        p->err = err;
        return 1;
    }
    switch (r->kind) {
    case REND_MC_R_MN:
        return 1;
    case REND_MC_R_VA:
    case REND_MC_R_HD:
        if (!r->has_opaque || r->opaque >= p->m.nchunks
            || p->seen[r->opaque]) {
            p->bad = 1;
            return 0;
        }
        if (r->kind == REND_MC_R_VA) {
            uint32_t i = r->opaque;
            size_t off = (size_t)i * p->m.chunksize, n;
            if (r->nvalue != p->m.chunksize + TOKEN_LEN
                || memcmp(r->value, p->m.token, TOKEN_LEN) != 0) {
                p->bad = 1;
                return 0;
            }
            n = p->m.len - off < p->m.chunksize ? p->m.len - off
                                                : p->m.chunksize;
            if (p->lend) {
                /* the value is this chunk's payload, contiguous in the
                 * read buffer: lent in place, or copied if it cannot be */
                const struct rend_host *h = p->t->inst->host;
                p->lend = 0;
                if (r->conn == NULL
                    || rend_mc_in_lend(r->conn, h, p->op,
                                       r->value + TOKEN_LEN, n) != 0) {
                    p->dst = h->value_alloc(p->op, p->m.len);
                    if (p->dst == NULL) {
                        p->err = REND_ENOMEM;
                        return 0;
                    }
                }
            }
            if (p->dst != NULL) {
                memcpy(p->dst + off, r->value + TOKEN_LEN, n);
            }
        }
        p->seen[r->opaque] = 1;
        p->got++;
        return 0;
    case REND_MC_R_EN:
    case REND_MC_R_NF:
    case REND_MC_R_NS:
    case REND_MC_R_EX:
        return 0;
    default:
        p->err = rend_mc_reply_error(r);
        return 0;
    }
}

/* ---- step: write metadata and chunks ---- */

/* A fresh 16-byte token from the OS's CSPRNG, drawn TOKEN_BATCH at a time
 * per thread (as Rend's pre-generated queue) rather than one getrandom
 * call per set. */
#define TOKEN_BATCH 64
static __thread unsigned char token_pool[TOKEN_BATCH * TOKEN_LEN];
static __thread unsigned token_left;

static void
new_token(unsigned char *out)
{
    if (token_left == 0) {
        if (getrandom(token_pool, sizeof(token_pool), 0)
            != (ssize_t)sizeof(token_pool)) {
            for (size_t i = 0; i < sizeof(token_pool); i++) {
                token_pool[i] = (unsigned char)random();
            }
        }
        token_left = TOKEN_BATCH;
    }
    token_left--;
    memcpy(out, token_pool + token_left * TOKEN_LEN, TOKEN_LEN);
}

static void
new_meta(struct rend_mc_cop *p, const char *value, size_t n, uint32_t flags,
         int64_t exptime)
{
    p->m.len = (uint32_t)n;
    p->m.flags = flags;
    p->m.chunksize = p->chunk_size;
    p->m.nchunks = (uint32_t)((n + p->chunk_size - 1) / p->chunk_size);
    p->m.instime = (uint32_t)p->t->inst->host->now();
    p->m.exptime = (uint32_t)exptime;
    new_token(p->m.token);
    p->wvalue = value;
    p->nwvalue = n;
    p->wflags = flags;
}

static void put_meta_store(struct rend_mc_conn *c, struct rend_mc_cop *p,
                           char mode, uint64_t cas, uint32_t o);

/* ms <key>-meta with mode (S/E/R) and cas (0 = none). */
static int
send_meta_store(struct rend_mc_cop *p, char mode, uint64_t cas,
                rend_mc_reply_f *cb)
{
    int err;
    struct rend_mc_conn *c = conn(p, &err);
    uint32_t o;

    if (c == NULL) {
        return err;
    }
    o = rend_mc_conn_push(c, cb, p, 0);
    if (o == 0) {
        return REND_ENOMEM;
    }
    put_meta_store(c, p, mode, cas, o);
    return 0;
}

/* Appends "ms <key>-meta" with mode, cas (0 = none) and opaque o to c's
 * output (a failure to build it fails c with REND_ENOMEM). */
static void
put_meta_store(struct rend_mc_conn *c, struct rend_mc_cop *p, char mode,
               uint64_t cas, uint32_t o)
{
    int b64;
    char *w = start_cmd(&c->out, p, "ms ", PIECE_META, meta_len(p) + 2, &b64);

    if (w == NULL) {
        c->deferred_err = REND_ENOMEM;
        return;
    }
    *w++ = ' ';
    w = rend_mc_put_u64(w, meta_len(p));
    if (b64) {
        w = REND_MC_PUTS(w, " b");
    }
    w = REND_MC_PUTS(w, " F");
    w = rend_mc_put_u64(w, p->wflags);
    w = REND_MC_PUTS(w, " T");
    w = rend_mc_put_i64(w, p->ttl);
    w = REND_MC_PUTS(w, " M");
    *w++ = mode;
    w = REND_MC_PUTS(w, " c");
    if (cas != 0) {
        w = REND_MC_PUTS(w, " C");
        w = rend_mc_put_u64(w, cas);
    }
    end_cmd(&c->out, w, o);
    meta_encode(&p->m, (unsigned char *)c->out.data + c->out.len);
    c->out.len += META_LEN;
    if (p->digest) {
        memcpy(c->out.data + c->out.len, p->op->key, p->op->nkey);
        c->out.len += p->op->nkey;
    }
    memcpy(c->out.data + c->out.len, "\r\n", 2);
    c->out.len += 2;
}

static void chunk_write_reply(void *ud, int err,
                              const struct rend_mc_reply *r);

/* p's chunk writes are answered: none of its spliced payloads may still
 * wait to be sent (see rend_mc_conn_ext_release). */
static void
ext_done(struct rend_mc_cop *p)
{
    if (p->ext_conn != NULL) {
        rend_mc_conn_ext_release(p->ext_conn, p);
        p->ext_conn = NULL;
    }
}
static void set_batch_reply(void *ud, int err, const struct rend_mc_reply *r);

/* ms every chunk quietly (+ mn), one round trip.  meta_mode != 0 (set):
 * the metadata write (mode meta_mode, opaque PIECE_META) goes after the
 * chunks and before the mn, and set_batch_reply gets the replies. */
static int
send_chunk_writes(struct rend_mc_cop *p, char meta_mode)
{
    int err, b64;
    struct rend_mc_conn *c = conn(p, &err);
    struct rend_mc_ext ext[EXT_GROUP];
    unsigned next = 0;
    /* a set's value may end in the core's pipe (ABI minor 4) */
    size_t vin = p->wvalue == p->op->value
                     ? p->nwvalue - p->op->value_npipe : p->nwvalue;

    if (c == NULL) {
        return err;
    }
    p->err = 0;
    if (rend_mc_conn_push(c, meta_mode ? set_batch_reply : chunk_write_reply,
                          p, 1)
        == 0) {
        return REND_ENOMEM;
    }
    for (uint32_t i = 0; i < p->m.nchunks; i++) {
        size_t off = (size_t)i * p->chunk_size;
        size_t n = p->nwvalue - off < p->chunk_size ? p->nwvalue - off
                                                    : p->chunk_size;
        int splice = n >= SPLICE_MIN || off + n > vin;
        char *w = start_cmd(&c->out, p, "ms ", i,
                            TOKEN_LEN + (splice ? p->chunk_size - n
                                                : p->chunk_size)
                                + 2,
                            &b64);

        if (w == NULL) {
            c->deferred_err = REND_ENOMEM;
            return 0;
        }
        *w++ = ' ';
        w = rend_mc_put_u64(w, p->chunk_size + TOKEN_LEN);
        if (b64) {
            w = REND_MC_PUTS(w, " b");
        }
        w = REND_MC_PUTS(w, " F");
        w = rend_mc_put_u64(w, p->wflags);
        w = REND_MC_PUTS(w, " T");
        w = rend_mc_put_i64(w, p->ttl);
        w = REND_MC_PUTS(w, " q");
        end_cmd(&c->out, w, i);
        w = c->out.data + c->out.len;
        w = rend_mc_put(w, p->m.token, TOKEN_LEN);
        if (splice) {
            /* the payload goes from the client's value to the socket */
            c->out.len = (size_t)(w - c->out.data);
            next += rend_mc_value_pieces(p->op, p->wvalue, vin, off, n,
                                         c->out.len - c->out.off, p,
                                         ext + next);
            p->ext_conn = c;
        } else {
            w = rend_mc_put(w, p->wvalue + off, n);
        }
        memset(w, 0, p->chunk_size - n);
        w += p->chunk_size - n;
        w = REND_MC_PUTS(w, "\r\n");
        c->out.len = (size_t)(w - c->out.data);
        if (next + 2 > EXT_GROUP) {
            if (rend_mc_conn_out_ext(c, ext, next) != 0) {
                return 0;
            }
            next = 0;
        }
    }
    if (meta_mode) {
        put_meta_store(c, p, meta_mode, 0, PIECE_META);
    }
    if (rend_mc_buf_add(&c->out, "mn\r\n", 4) != 0) {
        c->deferred_err = REND_ENOMEM;
        return 0;
    }
    if (next > 0) {
        rend_mc_conn_out_ext(c, ext, next);
    }
    return 0;
}

static void
forget_meta(struct rend_mc_cop *p)
{
    int err, b64;
    struct rend_mc_conn *c = conn(p, &err);
    uint32_t o;
    char *w;

    if (c == NULL || (o = rend_mc_conn_push(c, ignore_reply, NULL, 0)) == 0) {
        return;
    }
    w = start_cmd(&c->out, p, "md ", PIECE_META, 0, &b64);
    if (w == NULL) {
        c->deferred_err = REND_ENOMEM;
        return;
    }
    if (b64) {
        w = REND_MC_PUTS(w, " b");
    }
    end_cmd(&c->out, w, o);
}

static void
chunk_write_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int st;

    if (err != 0) {
        p->err = err;
    } else if (r->kind == REND_MC_R_SERVER_ERROR
               || r->kind == REND_MC_R_CLIENT_ERROR
               || r->kind == REND_MC_R_ERROR) {
        p->err = rend_mc_reply_error(r);
    } else if (r->kind == REND_MC_R_NS) {
        p->err = REND_ENOSPC;
    }
    if (err == 0 && r->kind != REND_MC_R_MN) {
        return;
    }
    ext_done(p);
    /* (add/replace/cas/append...: the metadata was written before) */
    st = p->meta_st != REND_OK ? p->meta_st : p->err;
    if (st != REND_OK && p->meta_st == REND_OK) {
        forget_meta(p);
    }
    end(p, st);
}

static int
store_status(const struct rend_mc_cop *p, int err,
             const struct rend_mc_reply *r)
{
    if (err != 0) {
        return err;
    }
    switch (r->kind) {
    case REND_MC_R_HD:
        return REND_OK;
    case REND_MC_R_NS:
        return REND_NOT_STORED;
    case REND_MC_R_EX:
        return REND_EXISTS;
    case REND_MC_R_NF:
        return p->op->code == REND_OP_CAS ? REND_NOT_FOUND : REND_NOT_STORED;
    default:
        return rend_mc_reply_error(r);
    }
}

/* Replies to a set's batch: the chunks (quiet: failures only), then the
 * metadata (opaque PIECE_META), then MN.  A chunk that failed makes the
 * set fail, and metadata written after it is removed again, so the key
 * reads as a miss (a read would find the missing piece too). */
static void
set_batch_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int st;

    if (err != 0) {
        ext_done(p);
        end(p, err);
        return;
    }
    if (r->kind != REND_MC_R_MN) {
        if (r->has_opaque && r->opaque == PIECE_META) {
            p->meta_st = store_status(p, 0, r);
            if (p->meta_st == REND_OK) {
                p->op->out_cas = r->cas;
            }
        } else if (r->kind >= REND_MC_R_CLIENT_ERROR) {
            p->err = rend_mc_reply_error(r);
        } else if (r->kind == REND_MC_R_NS) {
            p->err = REND_ENOSPC;
        }
        return;
    }
    ext_done(p);
    st = p->err != 0 ? p->err : p->meta_st;
    if (st == REND_PENDING) {
        st = REND_EIO; /* no answer for the metadata */
    }
    if (st != REND_OK && p->meta_st == REND_OK) {
        forget_meta(p);
    }
    end(p, st);
}

/* Meta stored for add/replace/cas/expired writes: chunks follow. */
static void
cond_meta_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int rc;

    p->meta_st = store_status(p, err, r);
    if (p->meta_st != REND_OK || p->m.nchunks == 0 || p->ttl < 0) {
        if (p->meta_st == REND_OK) {
            p->op->out_cas = r->cas;
        }
        end(p, p->meta_st);
        return;
    }
    p->op->out_cas = r->cas;
    p->meta_cas = r->cas;
    rc = send_chunk_writes(p, 0);
    if (rc != 0) {
        forget_meta(p);
        end(p, rc);
    }
}

/* ---- get / gat ---- */

/* The gat's metadata rewrite gave the item a new cas: that is the one to
 * show (a failed rewrite leaves the one read). */
static void
gat_meta_written(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;

    if (err == 0 && r->kind == REND_MC_R_HD) {
        p->op->out_cas = r->cas;
    }
    end(p, REND_OK);
}

/* Every chunk read has been answered: the get's (gat's) end. */
static void
get_chunks_done(struct rend_mc_cop *p)
{
    struct rend_op *op = p->op;

    if (p->err != 0) {
        end(p, p->err);
        return;
    }
    if (p->bad || p->got != p->m.nchunks || p->lend) {
        /* (lend still set: the one chunk came without its value) */
        end(p, REND_MISS);
        return;
    }
    if (op->code == REND_OP_GAT && p->meta_cas != 0) {
        /* Rewrite the metadata's Exptime, unless someone wrote since. */
        p->m.exptime = (uint32_t)op->exptime;
        p->wflags = p->m.flags;
        if (send_meta_store(p, 'S', p->meta_cas, gat_meta_written) == 0) {
            return;
        }
    }
    end(p, REND_OK);
}

static void
get_chunks_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;

    if (!chunk_account(p, err, r)) {
        return;
    }
    get_chunks_done(p);
}

/* A valid metadata read for a get: the reply's fields and the value
 * buffer, and the chunk marks.  0 or REND_ENOMEM. */
static int
get_meta_take(struct rend_mc_cop *p)
{
    struct rend_op *op = p->op;
    const struct rend_host *h = p->t->inst->host;

    op->out_flags = p->m.flags;
    op->out_cas = p->meta_cas;
    op->out_exptime = rend_mc_abs_exptime(p->meta_ttl, h->now());
    if (p->m.nchunks == 1 && REND_HOST_HAS_VALUE_REF(h)) {
        /* one chunk: its payload is the value (chunk_account lends it) */
        p->dst = NULL;
        p->lend = 1;
    } else {
        p->dst = h->value_alloc(op, p->m.len);
        if (p->dst == NULL && p->m.len > 0) {
            return REND_ENOMEM;
        }
    }
    /* the next gets of this thread read this many chunks up front */
    p->t->chunk_spec = p->m.nchunks < SPEC_MAX ? p->m.nchunks : SPEC_MAX;
    return chunk_marks_reset(p);
}

static void
get_meta_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int rc = take_meta(p, err, r);

    if (rc == 0) {
        /* a miss: its up-front chunk reads were lookups for nothing, so
         * the next gets read fewer (a miss-heavy L1 soon reads 1) */
        p->t->chunk_spec /= 2;
    }
    if (p->spec_pending) {
        /* the first chunks were asked for with the metadata: their batch
         * (whose replies come next) ends the op */
        p->meta_res = rc <= 0 ? (rc < 0 ? rc : REND_MISS) : get_meta_take(p);
        return;
    }
    if (rc <= 0) {
        end(p, rc < 0 ? rc : REND_MISS);
        return;
    }
    rc = get_meta_take(p);
    if (rc != 0) {
        end(p, rc);
        return;
    }
    if (p->m.nchunks == 0) {
        end(p, REND_OK);
        return;
    }
    rc = send_chunk_range(p, 0, p->m.nchunks, 1, p->op->code == REND_OP_GAT,
                          get_chunks_reply);
    if (rc != 0) {
        end(p, rc);
    }
}

/* Replies to the chunks read along with the metadata (chunks 0 to
 * p->spec - 1, a guess: the metadata was not known yet).  Chunks past the
 * value's own count are left over from a longer value, or were never
 * there: ignored.  At the batch end the remaining chunks, if any, are
 * read in a second round trip. */
static void
get_spec_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int rc;

    if (err == 0 && r->kind != REND_MC_R_MN) {
        if (p->meta_res != 0) {
            if (r->kind >= REND_MC_R_CLIENT_ERROR && p->err == 0) {
                p->err = rend_mc_reply_error(r);
            }
            return; /* no metadata: nothing to assemble */
        }
        if ((r->kind == REND_MC_R_VA || r->kind == REND_MC_R_HD)
            && r->has_opaque && r->opaque >= p->m.nchunks) {
            return;
        }
        chunk_account(p, err, r);
        return;
    }
    p->spec_pending = 0;
    if (err != 0) {
        end(p, err);
        return;
    }
    if (p->meta_res != 0) {
        end(p, p->err != 0 ? p->err : p->meta_res);
        return;
    }
    if (p->err == 0 && !p->bad && p->m.nchunks > p->spec) {
        rc = send_chunk_range(p, p->spec, p->m.nchunks, 1,
                              p->op->code == REND_OP_GAT, get_chunks_reply);
        if (rc != 0) {
            end(p, rc);
        }
        return;
    }
    get_chunks_done(p);
}

/* get / gat: mg <key>-meta, and in the same write the first chunks the
 * thread's last value needed (at least one), so a value of up to that
 * many chunks costs one round trip. */
static int
get_start(struct rend_mc_cop *p)
{
    int gat = p->op->code == REND_OP_GAT;
    int rc = send_meta_get(p, gat, get_meta_reply);
    uint32_t spec = p->t->chunk_spec > 0 ? p->t->chunk_spec : 1;

    if (rc != 0) {
        return rc;
    }
    p->spec = spec;
    p->spec_pending = 1;
    p->meta_res = 0;
    if (send_chunk_range(p, 0, spec, 1, gat, get_spec_reply) != 0) {
        /* the meta reply goes the two-round-trip way */
        p->spec_pending = 0;
        p->spec = 0;
    }
    return 0;
}

/* ---- touch ---- */

static void
touch_meta_written(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int st = store_status(p, err, r);

    if (st == REND_OK) {
        p->op->out_cas = r->cas; /* the rewrite's */
    } else if (st == REND_EXISTS) {
        st = REND_OK; /* rewritten meanwhile: the newer write wins */
    } else if (st == REND_NOT_STORED) {
        st = REND_NOT_FOUND;
    }
    end(p, st);
}

static void
touch_chunks_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int rc;

    if (!chunk_account(p, err, r)) {
        return;
    }
    if (p->err != 0) {
        end(p, p->err);
        return;
    }
    if (p->bad || p->got != p->m.nchunks) {
        end(p, REND_NOT_FOUND);
        return;
    }
    p->m.exptime = (uint32_t)p->op->exptime;
    p->wflags = p->m.flags;
    rc = send_meta_store(p, 'S', p->meta_cas, touch_meta_written);
    if (rc != 0) {
        end(p, rc);
    }
}

static void
touch_meta_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int rc = take_meta(p, err, r);

    if (rc <= 0) {
        end(p, rc < 0 ? rc : REND_NOT_FOUND);
        return;
    }
    rc = send_chunk_reads(p, 0, 1, touch_chunks_reply);
    if (rc != 0) {
        end(p, rc);
    }
}

/* ---- delete ---- */

static void
delete_batch_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;

    if (err != 0) {
        end(p, err);
        return;
    }
    if (r->kind == REND_MC_R_NF && r->has_opaque
        && r->opaque == p->m.nchunks) {
        p->meta_st = REND_NOT_FOUND;
    } else if (r->kind >= REND_MC_R_CLIENT_ERROR) {
        p->err = rend_mc_reply_error(r);
    }
    if (r->kind == REND_MC_R_MN) {
        end(p, p->err != 0 ? p->err : p->meta_st);
    }
}

static void
delete_meta_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int b64;
    char *w;
    struct rend_mc_conn *c;
    int rc = take_meta(p, err, r);

    if (rc < 0) {
        end(p, rc);
        return;
    }
    if (rc == 0) {
        if (err == 0 && r->kind == REND_MC_R_VA && !p->foreign) {
            p->m.nchunks = 0; /* unreadable metadata: drop it alone */
        } else {
            end(p, REND_NOT_FOUND);
            return;
        }
    } else if (p->op->cas != 0 && p->op->cas != p->meta_cas) {
        end(p, REND_EXISTS); /* a request cas that no longer matches */
        return;
    }
    c = conn(p, &rc);
    if (c == NULL) {
        end(p, rc);
        return;
    }
    if (rend_mc_conn_push(c, delete_batch_reply, p, 1) == 0) {
        end(p, REND_ENOMEM);
        return;
    }
    p->meta_st = REND_OK;
    p->err = 0;
    for (uint32_t i = 0; i <= p->m.nchunks; i++) {
        /* the meta first (opaque nchunks), then every chunk */
        uint32_t piece = i == 0 ? PIECE_META : i - 1;
        w = start_cmd(&c->out, p, "md ", piece, 0, &b64);
        if (w == NULL) {
            c->deferred_err = REND_ENOMEM;
            return;
        }
        if (b64) {
            w = REND_MC_PUTS(w, " b");
        }
        w = REND_MC_PUTS(w, " q");
        end_cmd(&c->out, w, i == 0 ? p->m.nchunks : i - 1);
    }
    if (rend_mc_buf_add(&c->out, "mn\r\n", 4) != 0) {
        c->deferred_err = REND_ENOMEM;
    }
}

/* ---- append / prepend / incr / decr: read, modify, write with cas ---- */

static void rmw_meta_reply(void *ud, int err, const struct rend_mc_reply *r);

static int
rmw_start(struct rend_mc_cop *p)
{
    return send_meta_get(p, 0, rmw_meta_reply);
}

static void
rmw_meta_written(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int st = store_status(p, err, r);
    int rc;

    if (st == REND_EXISTS || st == REND_NOT_STORED) {
        /* raced with another writer: start over */
        if (++p->tries >= RMW_TRIES) {
            end(p, REND_EBUSY);
            return;
        }
        rc = rmw_start(p);
        if (rc != 0) {
            end(p, rc);
        }
        return;
    }
    if (st != REND_OK) {
        end(p, st);
        return;
    }
    p->meta_st = REND_OK;
    p->meta_cas = r->cas;
    p->op->out_cas = r->cas;
    if (p->m.nchunks == 0) {
        end(p, REND_OK);
        return;
    }
    rc = send_chunk_writes(p, 0);
    if (rc != 0) {
        forget_meta(p);
        end(p, rc);
    }
}

static int
modify(struct rend_mc_cop *p)
{
    struct rend_op *op = p->op;
    size_t n = p->ntmp;
    char *v;

    if (op->code == REND_OP_APPEND || op->code == REND_OP_PREPEND) {
        if (n + op->nvalue > p->t->inst->item_size_max) {
            return REND_NOT_STORED; /* memcached's answer: NOT_STORED */
        }
        v = malloc(n + op->nvalue + 1);
        if (v == NULL) {
            return REND_ENOMEM;
        }
        if (op->code == REND_OP_APPEND) {
            memcpy(v, p->tmp, n);
            memcpy(v + n, op->value, op->nvalue);
        } else {
            memcpy(v, op->value, op->nvalue);
            memcpy(v + op->nvalue, p->tmp, n);
        }
        n += op->nvalue;
    } else {
        uint64_t x;
        if (rend_counter_read(p->tmp, n, &x) != 0) {
            return REND_NON_NUMERIC;
        }
        if (op->code == REND_OP_INCR) {
            x += op->delta;
        } else {
            x = x > op->delta ? x - op->delta : 0;
        }
        op->out_number = x;
        v = malloc((n > 24 ? n : 24) + 1);
        if (v == NULL) {
            return REND_ENOMEM;
        }
        n = rend_counter_format(x, n, v); /* memcached's padding */
    }
    free(p->tmp);
    p->tmp = v;
    p->ntmp = n;
    return 0;
}

static void
rmw_chunks_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    uint64_t cas = p->meta_cas;
    int64_t exp;
    int rc;

    if (!chunk_account(p, err, r)) {
        return;
    }
    if (p->err != 0) {
        end(p, p->err);
        return;
    }
    if (p->bad || p->got != p->m.nchunks) {
        end(p, p->op->code == REND_OP_INCR || p->op->code == REND_OP_DECR
                   ? REND_NOT_FOUND
                   : REND_NOT_STORED);
        return;
    }
    rc = modify(p);
    if (rc != 0) {
        end(p, rc);
        return;
    }
    exp = p->m.exptime;
    p->ttl = rend_mc_ttl(exp, p->t->inst->host->now());
    new_meta(p, p->tmp, p->ntmp, p->m.flags, exp);
    rc = send_meta_store(p, 'S', cas, rmw_meta_written);
    if (rc != 0) {
        end(p, rc);
    }
}

static void
rmw_meta_reply(void *ud, int err, const struct rend_mc_reply *r)
{
    struct rend_mc_cop *p = ud;
    int rc = take_meta(p, err, r);

    if (rc <= 0) {
        int miss = p->op->code == REND_OP_INCR || p->op->code == REND_OP_DECR
                       ? REND_NOT_FOUND
                       : REND_NOT_STORED;
        end(p, rc < 0 ? rc : miss);
        return;
    }
    if (p->op->cas != 0 && p->op->cas != p->meta_cas) {
        end(p, REND_EXISTS); /* a request cas that no longer matches */
        return;
    }
    free(p->tmp);
    p->ntmp = p->m.len;
    p->tmp = malloc(p->ntmp + 1);
    p->dst = p->tmp;
    if (p->tmp == NULL) {
        end(p, REND_ENOMEM);
        return;
    }
    if (p->m.nchunks == 0) {
        p->got = 0;
        p->bad = 0;
        p->err = 0;
        if (seen_reset(p, 1) != 0) {
            end(p, REND_ENOMEM);
            return;
        }
        struct rend_mc_reply mn = { .kind = REND_MC_R_MN };
        rmw_chunks_reply(p, 0, &mn);
        return;
    }
    rc = send_chunk_reads(p, 1, 0, rmw_chunks_reply);
    if (rc != 0) {
        end(p, rc);
    }
}

/* ---- entry ---- */

static int
start_write(struct rend_mc_cop *p)
{
    struct rend_op *op = p->op;
    int64_t now = p->t->inst->host->now();
    char mode;

    if (op->nvalue > p->t->inst->item_size_max) {
        return REND_ETOOBIG;
    }
    p->ttl = rend_mc_ttl(op->exptime, now);
    new_meta(p, op->value, op->nvalue, op->flags,
             REND_EXPIRED(op->exptime, now) ? 0 : op->exptime);
    mode = op->code == REND_OP_ADD       ? 'E'
           : op->code == REND_OP_REPLACE ? 'R'
                                         : 'S';
    if (op->code == REND_OP_SET && p->ttl >= 0) {
        /* The chunks first, then the metadata, all in one write: memcached
         * answers the whole set at once (one reply write instead of the
         * meta's HD ahead of a large read).  A reader in between sees the
         * old metadata's token on new chunks: a miss, as a reader of new
         * metadata over old chunks did with the other order. */
        p->meta_st = REND_PENDING;
        return send_chunk_writes(p, mode);
    }
    return send_meta_store(p, mode, op->code == REND_OP_CAS ? op->cas : 0,
                           cond_meta_reply);
}

/* 1 when key's pieces can have Rend's names, "<key>-meta" and "<key>-<i>"
 * up to the last chunk an item_size_max value needs, within memcached's
 * 250 bytes (raw, or base64 for a key that cannot go raw). */
static int
plain_names_fit(const struct rend_mc_inst *in, const char *key, size_t nkey)
{
    struct rend_mc_wkey w;
    char suffix[2 + REND_MC_NUM_MAX];
    size_t cv, ns;

    if (nkey + CHUNK_OVERHEAD + TOKEN_LEN + 1 >= in->slab_size) {
        return 0;
    }
    cv = in->slab_size - CHUNK_OVERHEAD - nkey;
    suffix[0] = '-';
    ns = (size_t)(rend_mc_put_u64(suffix + 1,
                                  in->item_size_max / (cv - TOKEN_LEN) + 1)
                  - suffix);
    if (rend_mc_key_raw(key, nkey)) {
        return nkey + (ns > 5 ? ns : 5) <= REND_MC_KEY_MAX;
    }
    return rend_mc_wkey(&w, key, nkey, "-meta", 5) == 0
           && rend_mc_wkey(&w, key, nkey, suffix, ns) == 0;
}

/* The digest name of key: DIGEST_TAG and MD5(key) in lower-case hex. */
static void
digest_name(char out[DIGEST_NAME_LEN], const char *key, size_t nkey)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[16];
    size_t n = sizeof(DIGEST_TAG) - 1;

    rend_mc_md5(key, nkey, md);
    memcpy(out, DIGEST_TAG, n);
    for (int i = 0; i < 16; i++) {
        out[n + 2 * i] = hex[md[i] >> 4];
        out[n + 2 * i + 1] = hex[md[i] & 15];
    }
}

/* Starts p's first step.  Returns REND_PENDING, or p's final status when
 * it completed at once (p is then still to be released and freed). */
static int
run(struct rend_mc_cop *p)
{
    int rc;

    p->starting = 1;
    p->result = REND_PENDING;
    switch (p->op->code) {
    case REND_OP_GET:
    case REND_OP_GAT:
        rc = get_start(p);
        break;
    case REND_OP_TOUCH:
        rc = send_meta_get(p, 0, touch_meta_reply);
        break;
    case REND_OP_DELETE:
        rc = send_meta_get(p, 0, delete_meta_reply);
        break;
    case REND_OP_APPEND:
    case REND_OP_PREPEND:
    case REND_OP_INCR:
    case REND_OP_DECR:
        rc = rmw_start(p);
        break;
    default:
        rc = start_write(p);
        break;
    }
    if (p->starting == 0) {
        return p->result;
    }
    p->starting = 0;
    return rc != 0 ? rc : REND_PENDING;
}

/* See rend_mc.h. */
int
rend_mc_op_chunked(struct rend_mc_thr *t, struct rend_op *op)
{
    struct rend_mc_inst *in = t->inst;
    struct rend_mc_cop *p;
    int digest, rc;
    size_t nbase;

    if (op->nkey == 0 || op->nkey > REND_MC_KEY_MAX) {
        return REND_EINVAL;
    }
    digest = !plain_names_fit(in, op->key, op->nkey);
    nbase = digest ? DIGEST_NAME_LEN : op->nkey;
    if (nbase + CHUNK_OVERHEAD + TOKEN_LEN + 1 >= in->slab_size) {
        return REND_EINVAL;
    }
    p = rend_mc_pool_get(&t->cops, sizeof(*p));
    if (p == NULL) {
        return REND_ENOMEM;
    }
    memset(p, 0, offsetof(struct rend_mc_cop, seen_inline));
    p->seen = p->seen_inline;
    p->t = t;
    p->op = op;
    p->digest = digest;
    if (digest) {
        digest_name(p->dname, op->key, op->nkey);
        p->base = p->dname;
        p->raw = 1;
    } else {
        p->base = op->key;
        p->raw = rend_mc_key_raw(op->key, op->nkey)
                 && op->nkey + RAW_SUFFIX_MAX <= REND_MC_KEY_MAX;
    }
    p->nbase = nbase;
    /* Rend's size: the chunk item fills the slab class for its name */
    p->chunk_size =
        (uint32_t)(in->slab_size - CHUNK_OVERHEAD - nbase - TOKEN_LEN);
    rend_mc_route(in, op->key, op->nkey, &p->srv, 1, &p->keyhash);
    p->ttl = rend_mc_ttl(op->exptime, in->host->now());
    p->khash = key_hash(op->key, op->nkey);
    if (op->code != REND_OP_GET) {
        struct rend_mc_cop *o = keyq_owner(p);
        if (o != NULL) {
            /* wait for the ops before it on this key */
            if (o->wtail != NULL) {
                o->wtail->wnext = p;
            } else {
                o->whead = p;
            }
            o->wtail = p;
            return REND_PENDING;
        }
        keyq_own(p);
    }
    rc = run(p);
    if (rc != REND_PENDING) {
        struct rend_mc_cop *next = keyq_release(p);
        cop_free(p);
        if (next != NULL) {
            /* (cannot happen: nothing queued while it ran) */
            int st = run(next);
            if (st != REND_PENDING) {
                finish(next, st);
            }
        }
    }
    return rc;
}
