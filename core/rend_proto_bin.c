/*
 * rend_proto_bin.c - memcached's binary protocol, plus Rend's GetE (0x40)
 * and GetEQ (0x41).
 *
 * Divergences from Netflix Rend, on purpose: unknown opcodes get status
 * 0x81 and the connection stays open (Rend closed it silently); replies
 * echo the request's opcode, key (GetK family) and cas, and errors carry
 * memcached's message text (Rend sent opcode 0x00 for every get hit, no
 * key, cas 0 and empty error bodies).  A request cas is honoured.
 *
 * On a listener with auth (rend_auth.h), memcached -S's rules with SASL
 * PLAIN checked against the listener's auth file: list mechs (0x20)
 * answers "PLAIN", auth (0x21) answers "Authenticated" or 0x20 "Auth
 * failure.", step (0x22) always fails (PLAIN has one step); before
 * authenticating, any request but those and version is answered 0x20
 * and the connection is closed.  Without auth, 0x20-0x22 are unknown
 * commands, as in memcached without -S.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rend_auth.h"
#include "rend_config.h"
#include "rend_conn.h"
#include "rend_exec.h"
#include "rend_log.h"
#include "rend_relay.h"
#include "rend_proto.h"
#include "rend_settings.h"
#include "rend_stats.h"
#include "rend_util.h"
#include "rend_worker.h"

#define HDR 24
#define REQ_MAGIC 0x80
#define RES_MAGIC 0x81

enum {
    ST_OK = 0x00, ST_NOT_FOUND = 0x01, ST_EXISTS = 0x02, ST_TOO_LARGE = 0x03,
    ST_EINVAL = 0x04, ST_NOT_STORED = 0x05, ST_NON_NUMERIC = 0x06,
    ST_UNKNOWN = 0x81, ST_ENOMEM = 0x82, ST_NOTSUP = 0x83,
    ST_INTERNAL = 0x84, ST_BUSY = 0x85, ST_TEMP = 0x86, ST_AUTH = 0x20,
};

/* SASL opcodes (memcached's binary protocol) */
enum { OP_VERSION = 0x0b, OP_SASL_LIST = 0x20, OP_SASL_AUTH = 0x21,
       OP_SASL_STEP = 0x22 };

/* Big-endian loads and stores of the wire's fields: one load or store
 * and a byte swap where the compiler says the host is little-endian (the
 * byte-wise forms cost a shift and a store per byte on every reply). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static uint16_t
rd16(const unsigned char *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}

static uint32_t
rd32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

static uint64_t
rd64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static void
wr16(unsigned char *p, uint16_t v)
{
    v = __builtin_bswap16(v);
    memcpy(p, &v, 2);
}

static void
wr32(unsigned char *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}

static void
wr64(unsigned char *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}
#else
static uint16_t
rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
           | p[3];
}

static uint64_t
rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static void
wr16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void
wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void
wr64(unsigned char *p, uint64_t v)
{
    wr32(p, (uint32_t)(v >> 32));
    wr32(p + 4, (uint32_t)v);
}
#endif

static struct rend_req *
error_req(struct rend_conn *c, uint8_t opcode, uint32_t opaque, int status)
{
    struct rend_req *r = rend_req_new(c);

    if (r != NULL) {
        r->proto = REND_PROTO_BINARY;
        r->bin_op = opcode;
        r->opaque = opaque;
        rend_req_reply(r, "", 0, status);
    }
    return r;
}

/* A reply whose body is text (static), status OK. */
static struct rend_req *
text_req(struct rend_conn *c, uint8_t opcode, uint32_t opaque,
         const char *text)
{
    struct rend_req *r = rend_req_new(c);

    if (r != NULL) {
        r->proto = REND_PROTO_BINARY;
        r->bin_op = opcode;
        r->opaque = opaque;
        rend_req_reply(r, text, 0, REND_OK);
    }
    return r;
}

static struct rend_req *
auth_error_req(struct rend_conn *c, uint8_t opcode, uint32_t opaque)
{
    struct rend_req *r = error_req(c, opcode, opaque, REND_EINVAL);

    if (r != NULL) {
        r->status = ST_AUTH;
    }
    return r;
}


/* SASL list mechs / auth / step on a listener with auth: the packet at
 * h (header checked for its magic).  As rend_bin_parse returns. */
static int
parse_sasl(struct rend_conn *c, const struct rend_auth *a,
           const unsigned char *h, size_t avail, struct rend_req **out)
{
    uint8_t opcode = h[1], extlen = h[4];
    uint16_t keylen = rd16(h + 2);
    uint32_t bodylen = rd32(h + 8), opaque = rd32(h + 12);
    const char *key, *val;
    uint32_t vlen;

    if ((uint64_t)keylen + extlen > bodylen
        || bodylen > REND_AUTH_TOKEN_MAX) {
        REND_STAT_INC(&c->w->st, protocol_errors);
        c->swallow = bodylen; /* never buffered */
        *out = error_req(c, opcode, opaque, REND_EINVAL);
        return HDR;
    }
    if (avail < (size_t)HDR + bodylen) {
        return 0;
    }
    key = (const char *)h + HDR + extlen;
    val = key + keylen;
    vlen = bodylen - keylen - extlen;
    if (opcode == OP_SASL_LIST) {
        *out = bodylen != 0 ? error_req(c, opcode, opaque, REND_EINVAL)
                            : text_req(c, opcode, opaque, "PLAIN");
        return (int)(HDR + bodylen);
    }
    if (extlen != 0 || keylen == 0) {
        REND_STAT_INC(&c->w->st, protocol_errors);
        *out = error_req(c, opcode, opaque, REND_EINVAL);
        return (int)(HDR + bodylen);
    }
    REND_STAT_INC(&c->w->st, auth_cmds);
    if (opcode == OP_SASL_AUTH && keylen == 5 && memcmp(key, "PLAIN", 5) == 0
        && rend_auth_plain(a, val, vlen)) {
        c->authed = 1;
        *out = text_req(c, opcode, opaque, "Authenticated");
    } else {
        c->authed = 0; /* a failed attempt leaves no earlier identity */
        REND_STAT_INC(&c->w->st, auth_errors);
        *out = auth_error_req(c, opcode, opaque);
    }
    return (int)(HDR + bodylen);
}

/* ---- folding quiet gets ----------------------------------------------
 * A client batch of GetQ/GetKQ packets (ended by a Get/GetK, a Noop or
 * anything else) that is already in the input becomes one request with a
 * key op per packet, as a text `get k1 ... kN` does: one request to set
 * up, start, schedule and free instead of N, and the keys go to the
 * handlers together.  Each key op keeps its packet's opcode and opaque
 * (rend_kop.bop, .bopaque), so every reply is the one the packet alone
 * would have had, in packet order.  A run takes only well-formed, complete
 * packets of the first one's command (extras none, a key of 1 ..
 * REND_KEY_MAX bytes, no value, the same request cas) and ends after the
 * first packet that is not quiet; anything else (another command, a bad
 * packet, a packet not wholly read yet) ends it before that packet, which
 * is then parsed on its own. */
#define FOLD_MAX 256

/* Length of the foldable packet at p (avail bytes there) for a run of
 * cmd with request cas `cas`, or 0. */
static size_t
fold_peek(const unsigned char *p, size_t avail, uint8_t cmd, uint64_t cas)
{
    const struct rend_bin_op *oi;
    uint16_t keylen;
    uint32_t bodylen;

    if (avail < HDR || p[0] != REQ_MAGIC) {
        return 0;
    }
    oi = &rend_cmd_by_opcode[p[1]];
    keylen = rd16(p + 2);
    bodylen = rd32(p + 8);
    if (!oi->valid || oi->cmd != cmd || p[4] != 0 || keylen == 0
        || keylen > REND_KEY_MAX || bodylen != keylen || rd64(p + 16) != cas
        || avail - HDR < bodylen) {
        return 0;
    }
    return HDR + bodylen;
}

/* r is the quiet get parsed from the packet at h (plen bytes, avail in
 * the buffer from h): fold the packets after it into r.  Returns the
 * bytes consumed by r in all (plen when nothing folds). */
static size_t
fold_gets(struct rend_conn *c, struct rend_req *r, const unsigned char *h,
          size_t plen, size_t avail)
{
    size_t off = plen, len;
    uint32_t n = 1;

    while (n < FOLD_MAX
           && (len = fold_peek(h + off, avail - off, r->cmd, r->cas)) > 0) {
        uint8_t quiet = rend_cmd_by_opcode[h[off + 1]].quiet;
        n++;
        off += len;
        if (!quiet) {
            break; /* a Get/GetK answers the batch: it ends the run */
        }
    }
    if (n == 1 || rend_req_set_keys(r, n) != 0) {
        return plen; /* r keeps its one key (kop1) */
    }
    off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *p = h + off;
        struct rend_kop *k = &r->kops[i];
        uint16_t keylen = rd16(p + 2);
        k->op.key = (const char *)p + HDR + p[4];
        k->op.nkey = keylen;
        k->bop = p[1];
        k->bopaque = rd32(p + 12);
        off += HDR + rd32(p + 8);
    }
    r->bin_fold = 1;
    REND_STAT_ADD(&c->w->st, bin_gets_folded, n);
    return off;
}

int
rend_bin_parse(struct rend_conn *c, struct rend_req **out)
{
    const unsigned char *h = (const unsigned char *)c->rbuf + c->rpos;
    size_t avail = c->rlen - c->rpos;
    uint8_t opcode, extlen;
    uint16_t keylen;
    uint32_t bodylen, opaque, vlen;
    uint64_t cas;
    const struct rend_bin_op *oi;
    const struct rend_cmd_info *ci;
    struct rend_req *r;
    const unsigned char *ext, *key;
    const struct rend_listen_conf *lc = rend_conn_listen_conf(c);

    *out = NULL;
    if (avail < HDR) {
        return 0;
    }
    opcode = h[1];
    keylen = rd16(h + 2);
    extlen = h[4];
    bodylen = rd32(h + 8);
    opaque = rd32(h + 12);
    cas = rd64(h + 16);
    if (h[0] != REQ_MAGIC) {
        REND_STAT_INC(&c->w->st, protocol_errors);
        *out = error_req(c, opcode, opaque, REND_EINVAL);
        return -1;
    }
    if (lc != NULL && lc->auth != NULL) {
        if (opcode >= OP_SASL_LIST && opcode <= OP_SASL_STEP) {
            return parse_sasl(c, lc->auth, h, avail, out);
        }
        if (!c->authed && opcode != OP_VERSION) {
            /* memcached -S: answer, then close */
            *out = auth_error_req(c, opcode, opaque);
            return -1;
        }
    }
    oi = &rend_cmd_by_opcode[opcode];
    ci = &rend_cmd_table[oi->cmd]; /* the opcode's shape (rend_cmd.h) */
    if ((uint64_t)keylen + extlen > bodylen) {
        REND_STAT_INC(&c->w->st, protocol_errors);
        c->swallow = bodylen;
        *out = error_req(c, opcode, opaque, REND_EINVAL);
        return HDR;
    }
    if (bodylen > (uint64_t)rend_settings.item_size_max + 512) {
        /* never buffer what we refuse: answer, then discard the body */
        REND_STAT_INC(&c->w->st, store_too_large);
        c->swallow = bodylen;
        *out = error_req(c, opcode, opaque,
                         oi->valid && ci->bval ? REND_ETOOBIG : REND_EINVAL);
        return HDR;
    }
    if (avail < (size_t)HDR + bodylen) {
        if (rend_conn_rbuf_admit(c, (uint64_t)HDR + bodylen) != 0) {
            /* the buffers of all connections are at their cap */
            c->swallow = bodylen;
            *out = error_req(c, opcode, opaque, REND_ENOMEM);
            return HDR;
        }
        return 0;
    }
    ext = h + HDR;
    key = ext + extlen;
    vlen = bodylen - keylen - extlen;
    if (!oi->valid) {
        if ((*out = error_req(c, opcode, opaque, REND_ENOTSUP)) != NULL) {
            (*out)->status = ST_UNKNOWN;
        }
        return (int)(HDR + bodylen);
    }
    if ((ci->bext >= 0 && extlen != ci->bext)
        || (ci->bext < 0 && extlen != 0 && extlen != 4)
        || (ci->bkey == 1 && keylen == 0) || (ci->bkey == 0 && keylen != 0)
        || (!ci->bval && vlen != 0) || keylen > REND_KEY_MAX) {
        REND_STAT_INC(&c->w->st, protocol_errors);
        *out = error_req(c, opcode, opaque, REND_EINVAL);
        return (int)(HDR + bodylen);
    }
    if (vlen > rend_settings.item_size_max) {
        REND_STAT_INC(&c->w->st, store_too_large);
        *out = error_req(c, opcode, opaque, REND_ETOOBIG);
        return (int)(HDR + bodylen);
    }
    if (oi->cmd == REND_CMD_FLUSH && (rend_settings.flush_disabled
                                      || (lc != NULL && lc->flush_disabled))) {
        /* -F or this listener's flush = false: as memcached -F */
        REND_STAT_INC(&c->w->st, cmd_flush);
        *out = auth_error_req(c, opcode, opaque);
        return (int)(HDR + bodylen);
    }
    r = rend_req_new(c);
    if (r == NULL) {
        return -1;
    }
    r->proto = REND_PROTO_BINARY;
    r->cmd = oi->cmd;
    r->quiet = oi->quiet;
    r->echo_key = oi->echo_key;
    r->bin_op = opcode;
    r->opaque = opaque;
    r->cas = cas;
    if (ci->bkey == 1) {
        if (rend_req_set_keys(r, 1) != 0) {
            rend_req_free(r);
            *out = error_req(c, opcode, opaque, REND_ENOMEM);
            return (int)(HDR + bodylen);
        }
        r->kops[0].op.key = (const char *)key;
        r->kops[0].op.nkey = keylen;
    } else if (keylen > 0) {
        r->arg = (const char *)key; /* stat group */
        r->narg = keylen;
    }
    switch (r->cmd) {
    case REND_CMD_SET: case REND_CMD_ADD: case REND_CMD_REPLACE:
        r->flags = rd32(ext);
        /* unsigned on the binary wire: 0xffffffff is far in the future */
        r->exptime = rend_exptime_abs(rd32(ext + 4), rend_now());
        /* fall through */
    case REND_CMD_APPEND: case REND_CMD_PREPEND:
        r->value = (const char *)key + keylen;
        r->nvalue = vlen;
        if ((r->cmd == REND_CMD_SET || r->cmd == REND_CMD_ADD
             || r->cmd == REND_CMD_REPLACE) && cas != 0) {
            r->cmd = REND_CMD_CAS; /* memcached's rule, add included */
        }
        break;
    case REND_CMD_INCR: case REND_CMD_DECR: {
        uint32_t e = rd32(ext + 16);
        r->delta = rd64(ext);
        r->initial = rd64(ext + 8);
        r->bin_incr_create = e != 0xffffffffu;
        r->bin_exptime = rend_exptime_abs(e, rend_now());
        break;
    }
    case REND_CMD_FLUSH:
        if (extlen == 4) {
            uint32_t e = rd32(ext);
            r->exptime = e == 0 ? 0 : rend_exptime_abs(e, rend_now());
        }
        break;
    case REND_CMD_BTOUCH: case REND_CMD_GAT:
        r->exptime = rend_exptime_abs(rd32(ext), rend_now());
        break;
    case REND_CMD_VERBOSITY:
        r->delta = rd32(ext);
        break;
    default:
        break;
    }
    *out = r;
    if (r->quiet && extlen == 0 && ci->bkey == 1
        && (r->cmd == REND_CMD_GET || r->cmd == REND_CMD_GETE)) {
        return (int)fold_gets(c, r, h, HDR + bodylen, avail);
    }
    return (int)(HDR + bodylen);
}

/* ---- replies ------------------------------------------------------ */

static int
wire_status(int st)
{
    switch (st) {
    case REND_OK: return ST_OK;
    case REND_MISS: case REND_NOT_FOUND: return ST_NOT_FOUND;
    case REND_EXISTS: return ST_EXISTS;
    case REND_NOT_STORED: return ST_NOT_STORED;
    case REND_NON_NUMERIC: return ST_NON_NUMERIC;
    case REND_ETOOBIG: return ST_TOO_LARGE;
    case REND_EINVAL: return ST_EINVAL;
    case REND_ENOMEM: case REND_ENOSPC: return ST_ENOMEM;
    case REND_ENOTSUP: return ST_NOTSUP;
    case REND_EBUSY: return ST_BUSY;
    case REND_EIO: case REND_ETIMEDOUT: case REND_EDOWN: return ST_TEMP;
    default: return ST_INTERNAL;
    }
}

static const char *
status_text(int ws)
{
    switch (ws) {
    case ST_NOT_FOUND: return "Not found";
    case ST_EXISTS: return "Data exists for key.";
    case ST_TOO_LARGE: return "Too large.";
    case ST_EINVAL: return "Invalid arguments";
    case ST_NOT_STORED: return "Not stored.";
    case ST_NON_NUMERIC: return "Non-numeric server-side value for incr or decr";
    case ST_UNKNOWN: return "Unknown command";
    case ST_ENOMEM: return "Out of memory";
    case ST_NOTSUP: return "Not supported";
    case ST_BUSY: return "Busy";
    case ST_TEMP: return "Temporary failure";
    case ST_AUTH: return "Auth failure."; /* memcached -F's flush answer */
    default: return "Internal error";
    }
}

/* Write a response header plus small parts; a large value is taken by
 * reference (ownership passes to the connection). */
static void
respond_as(struct rend_conn *c, uint8_t opcode, uint32_t opaque, int ws,
           const void *ext, uint8_t extlen, const char *key, uint16_t keylen,
           const char *val, uint32_t vlen, char *take, uint64_t cas)
{
    size_t small = HDR + extlen + keylen + (take ? 0 : vlen);
    unsigned char *p = (unsigned char *)rend_conn_out_reserve(c, small);

    if (p == NULL) {
        free(take);
        rend_conn_close(c);
        return;
    }
    p[0] = RES_MAGIC;
    p[1] = opcode;
    wr16(p + 2, keylen);
    p[4] = extlen;
    p[5] = 0;
    wr16(p + 6, (uint16_t)ws);
    wr32(p + 8, (uint32_t)extlen + keylen + vlen);
    wr32(p + 12, opaque);
    wr64(p + 16, cas);
    if (extlen) {
        memcpy(p + HDR, ext, extlen);
    }
    if (keylen) {
        memcpy(p + HDR + extlen, key, keylen);
    }
    if (!take && vlen) {
        memcpy(p + HDR + extlen + keylen, val, vlen);
    }
    rend_conn_out_commit(c, small);
    if (take) {
        rend_conn_out_take(c, take, vlen);
    }
}

/* respond_as with r's own opcode and opaque. */
static void
respond(struct rend_conn *c, const struct rend_req *r, int ws,
        const void *ext, uint8_t extlen, const char *key, uint16_t keylen,
        const char *val, uint32_t vlen, char *take, uint64_t cas)
{
    respond_as(c, r->bin_op, r->opaque, ws, ext, extlen, key, keylen, val,
               vlen, take, cas);
}

static void
respond_error_as(struct rend_conn *c, uint8_t opcode, uint32_t opaque,
                 int ws)
{
    const char *msg = status_text(ws);

    respond_as(c, opcode, opaque, ws, NULL, 0, NULL, 0, msg,
               (uint32_t)strlen(msg), NULL, 0);
}

static void
respond_error(struct rend_conn *c, const struct rend_req *r, int ws)
{
    respond_error_as(c, r->bin_op, r->opaque, ws);
}

struct stat_out {
    struct rend_conn *c;
    const struct rend_req *r;
};

static void
emit_stat(void *ud, const char *name, const char *value)
{
    struct stat_out *so = ud;

    respond(so->c, so->r, ST_OK, NULL, 0, name, (uint16_t)strlen(name), value,
            (uint32_t)strlen(value), NULL, 0);
}

/* The answer to key op k of get request r, from the result given (a hit:
 * st REND_OK, flags, expiry, the value, and take when the output may
 * keep the malloc'd value): a folded request answers each key as its own
 * packet asked (opcode, opaque); any other with r's. */
static void
format_get_as(struct rend_conn *c, const struct rend_req *r,
              const struct rend_kop *k, int st, uint32_t flags,
              int64_t exptime, const char *val, uint32_t vlen, char *take,
              uint64_t cas)
{
    unsigned char ext[8];
    uint8_t opcode = r->bin_fold ? k->bop : r->bin_op;
    uint32_t opaque = r->bin_fold ? k->bopaque : r->opaque;
    const struct rend_bin_op *oi = &rend_cmd_by_opcode[opcode];
    int quiet = r->bin_fold ? oi->quiet : r->quiet;
    int echo = r->bin_fold ? oi->echo_key : r->echo_key;

    if (st == REND_OK) {
        wr32(ext, flags);
        wr32(ext + 4, (uint32_t)(exptime > 0 ? exptime : 0));
        respond_as(c, opcode, opaque, ST_OK, ext,
                   r->cmd == REND_CMD_GETE ? 8 : 4,
                   echo ? k->op.key : NULL, echo ? (uint16_t)k->op.nkey : 0,
                   val, vlen, take, cas);
        return;
    }
    if (st >= 0) {
        if (quiet) {
            return;
        }
        /* memcached echoes the key on GetK misses */
        respond_as(c, opcode, opaque, ST_NOT_FOUND, NULL, 0,
                   echo ? k->op.key : NULL, echo ? (uint16_t)k->op.nkey : 0,
                   echo ? NULL : "Not found", echo ? 0 : 9, NULL, 0);
        return;
    }
    respond_error_as(c, opcode, opaque, wire_status(st));
}

static void
format_get(struct rend_conn *c, struct rend_req *r, struct rend_kop *k)
{
    /* a large malloc'd value goes to the output as it is; a lent one
     * (ABI minor 2) is copied, and rend_req_free releases it */
    int take = k->status == REND_OK && k->nvalue > REND_SMALL_VALUE
               && k->vrelease == NULL;

    format_get_as(c, r, k, k->status, k->flags, k->exptime, k->value,
                  k->nvalue, take ? k->value : NULL, k->cas);
    if (take) {
        k->value = NULL;
    }
}

/* A relayed folded get (rend_relay.h): kops[0] holds the hits' VALUE
 * blocks in key order; each packet is answered from the block of its key,
 * or as a miss. */
static void
format_relayed(struct rend_conn *c, struct rend_req *r)
{
    const struct rend_kop *k0 = &r->kops[0];
    struct rend_relay_match m;

    rend_relay_match_init(&m, k0);
    for (uint32_t i = 0; i < r->nkeys; i++) {
        const struct rend_kop *k = &r->kops[i];
        const struct rend_relay_block *b;
        if (k0->status < 0) {
            format_get_as(c, r, k, k0->status, 0, 0, NULL, 0, NULL, 0);
        } else if ((b = rend_relay_match(&m, k)) != NULL) {
            format_get_as(c, r, k, REND_OK, b->flags, 0, b->data, b->ndata,
                          NULL, b->cas);
        } else {
            format_get_as(c, r, k, REND_MISS, 0, 0, NULL, 0, NULL, 0);
        }
    }
}

void
rend_bin_format_kop(struct rend_conn *c, struct rend_req *r,
                    struct rend_kop *k)
{
    format_get(c, r, k);
}

void
rend_bin_format(struct rend_conn *c, struct rend_req *r)
{
    struct rend_kop *k = r->nkeys ? &r->kops[0] : NULL;
    int st = k ? k->status : r->status;
    int ws;

    switch (r->cmd) {
    case REND_CMD_REPLY:
        ws = r->status > 0 ? r->status : wire_status(r->status);
        if (r->ntext > 0) { /* a body of its own (SASL) */
            respond(c, r, ws, NULL, 0, NULL, 0, r->text, r->ntext, NULL, 0);
        } else {
            respond_error(c, r, ws);
        }
        return;
    case REND_CMD_GET: case REND_CMD_GETE: case REND_CMD_GAT:
        if (r->relay) {
            format_relayed(c, r);
            return;
        }
        if (r->bin_fold) { /* the keys not streamed out already */
            for (uint32_t i = r->nemitted; i < r->nkeys; i++) {
                format_get(c, r, &r->kops[i]);
            }
            return;
        }
        format_get(c, r, k);
        return;
    case REND_CMD_NOOP:
        respond(c, r, ST_OK, NULL, 0, NULL, 0, NULL, 0, NULL, 0);
        return;
    case REND_CMD_BTOUCH:
        if (k->status == REND_OK) {
            unsigned char fl[4];
            wr32(fl, k->flags);
            respond(c, r, ST_OK, fl, 4, NULL, 0, NULL, 0, NULL, k->cas);
        } else {
            respond_error(c, r, wire_status(k->status == REND_MISS
                                            ? REND_NOT_FOUND : k->status));
        }
        return;
    case REND_CMD_VERSION:
        respond(c, r, ST_OK, NULL, 0, NULL, 0, rend_settings.version,
                (uint32_t)strlen(rend_settings.version), NULL, 0);
        return;
    case REND_CMD_QUIT:
        if (!r->quiet) {
            respond(c, r, ST_OK, NULL, 0, NULL, 0, NULL, 0, NULL, 0);
        }
        return;
    case REND_CMD_STATS: {
        struct stat_out so = { c, r };
        if (r->narg == 5 && memcmp(r->arg, "reset", 5) == 0) {
            rend_stats_reset();
            respond(c, r, ST_OK, NULL, 0, NULL, 0, NULL, 0, NULL, 0);
            return;
        }
        if (rend_stats_collect(r->arg, r->narg, emit_stat, &so) != 0) {
            respond_error(c, r, ST_NOT_FOUND);
            return;
        }
        respond(c, r, ST_OK, NULL, 0, NULL, 0, NULL, 0, NULL, 0);
        return;
    }
    default:
        break;
    }
    ws = wire_status(st);
    /* memcached's binary statuses for the store outcomes */
    if (st == REND_NOT_STORED && r->cmd == REND_CMD_ADD) {
        ws = ST_EXISTS;
    } else if (st == REND_NOT_STORED && r->cmd == REND_CMD_REPLACE) {
        ws = ST_NOT_FOUND;
    }
    if (ws != ST_OK) {
        respond_error(c, r, ws);
        return;
    }
    if (r->quiet) {
        return;
    }
    if (r->cmd == REND_CMD_INCR || r->cmd == REND_CMD_DECR) {
        unsigned char num[8];
        wr64(num, k->number);
        respond(c, r, ST_OK, NULL, 0, NULL, 0, (const char *)num, 8, NULL,
                k->cas);
        return;
    }
    respond(c, r, ST_OK, NULL, 0, NULL, 0, NULL, 0, NULL, k ? k->cas : 0);
}
