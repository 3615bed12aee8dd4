/*
 * rend_proto_text.c - memcached's text protocol.
 *
 * Replies follow Netflix Rend where it defines them (the CLIENT_ERROR
 * parse messages, noop) and memcached 1.6 everywhere else (a plain ERROR
 * for unknown commands, noreply, gets/cas, incr/decr, gat/gats, touch,
 * flush_all, stats, verbosity, SERVER_ERROR texts, NOT_STORED on replace
 * and append misses, bad data chunk, VERSION <major.minor.patch>).  The
 * meta commands (mn mg ms md ma me) answer exactly as memcached 1.6.18.
 *
 * Dispatch: the command token finds its row in the command table
 * (rend_cmd.h); the row's text class picks the parser below and the reply
 * format in rend_text_format.
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
#include "rend_proto.h"
#include "rend_relay.h"
#include "rend_settings.h"
#include "rend_stats.h"
#include "rend_util.h"
#include "rend_worker.h"

#define MAX_TOKENS 24 /* for commands other than get/gets/gat/gats */
#define MGET_TOKENS 256 /* get/gets/gat/gats in one tokenizing pass */

#define S_ERROR "ERROR\r\n" /* memcached's, for any unknown command */
/* memcached 1.6's replies to a malformed line: a wrong number of tokens is
 * an unknown command (ERROR); a bad number is a bad command line */
#define S_BAD_REQUEST "ERROR\r\n"
#define S_BAD_FORMAT "CLIENT_ERROR bad command line format\r\n"
#define S_BAD_FLAGS "CLIENT_ERROR bad command line format\r\n"
#define S_BAD_EXPTIME "CLIENT_ERROR bad command line format\r\n"
#define S_BAD_EXPTIME_ARG "CLIENT_ERROR invalid exptime argument\r\n"
#define S_BAD_LENGTH "CLIENT_ERROR bad command line format\r\n"
#define S_BAD_DELTA "CLIENT_ERROR invalid numeric delta argument\r\n"
#define S_BAD_CHUNK "CLIENT_ERROR bad data chunk\r\n"
#define S_TOO_LARGE "SERVER_ERROR object too large for cache\r\n"
#define S_NO_BUFFER "SERVER_ERROR out of memory storing object\r\n"
#define S_LINE_TOO_LONG "CLIENT_ERROR line too long\r\n"
#define S_KEY_TOO_LONG "CLIENT_ERROR key too long\r\n"
/* memcached's replies before authentication (-Y) */
#define S_UNAUTHENTICATED "CLIENT_ERROR unauthenticated\r\n"
#define S_AUTH_FAILED "CLIENT_ERROR authentication failure\r\n"
#define S_AUTH_FORMAT "CLIENT_ERROR bad authentication token format\r\n"
#define S_AUTH_TERMINATION "CLIENT_ERROR bad command line termination\r\n"
#define AUTH_LINE_MAX 2048 /* memcached closes a longer unauthenticated line */

struct tok {
    const char *p;
    uint32_t n;
};

static int
tok_is(const struct tok *t, const char *s, size_t n)
{
    return t->n == n && memcmp(t->p, s, n) == 0;
}
#define TOK_IS(t, lit) tok_is((t), lit, sizeof(lit) - 1)

/* Split [p, end) on spaces; returns the count (stops at max). */
static int
tokenize(const char *p, const char *end, struct tok *t, int max)
{
    int n = 0;

    while (p < end && n < max) {
        const char *s;
        while (p < end && *p == ' ') {
            p++;
        }
        if (p == end) {
            break;
        }
        s = p;
        /* the token's end: libc's memchr scans a word (a key) in a few
         * vector steps, where a byte loop costs a compare per byte */
        p = memchr(s, ' ', (size_t)(end - s));
        if (p == NULL) {
            p = end;
        }
        t[n].p = s;
        t[n].n = (uint32_t)(p - s);
        n++;
    }
    return n;
}

static struct rend_req *
reply(struct rend_conn *c, const char *text)
{
    struct rend_req *r = rend_req_new(c);

    if (r != NULL) {
        r->proto = REND_PROTO_TEXT;
        rend_req_reply(r, text, 0, REND_EINVAL);
    }
    return r;
}


static int
parse_exptime(const struct tok *t, int64_t *out)
{
    int64_t e;

    if (rend_parse_i64(t->p, t->n, &e) != 0) {
        return -1;
    }
    *out = rend_exptime_abs(e, rend_now());
    return 0;
}

/* One command line, as the syntax classes' parsers see it. */
struct line {
    const char *buf, *eol;  /* the line, without its \r\n */
    const char *data;       /* the bytes after the line ... */
    size_t avail;           /* ... and how many */
    struct tok *t;          /* its first MAX_TOKENS tokens */
    int nt;
};

/* A syntax class's parser: bytes consumed after the line (>= 0), or -2
 * when a data block is incomplete. */
typedef int64_t parse_f(struct rend_conn *c, int cmd, const struct line *l,
                        struct rend_req **out);

/* A request of cmd for nkeys keys with exptime; NULL with *out set to
 * the out-of-memory reply when it cannot be had. */
static struct rend_req *
retrieval_req(struct rend_conn *c, int cmd, int64_t exptime, uint32_t nkeys,
              struct rend_req **out)
{
    struct rend_req *r = rend_req_new(c);

    if (r == NULL || rend_req_set_keys(r, nkeys) != 0) {
        if (r != NULL) {
            rend_req_free(r);
        }
        *out = reply(c, "SERVER_ERROR out of memory\r\n");
        return NULL;
    }
    r->cmd = (uint8_t)cmd;
    r->exptime = exptime;
    return r;
}

/* get/gets/gat/gats: keys are the tokens after the command (and the
 * exptime for gat/gats). */
static int64_t
parse_retrieval(struct rend_conn *c, int cmd, const struct line *l,
                struct rend_req **out)
{
    struct rend_req *r;
    const char *line = l->buf, *eol = l->eol;
    const char *p = line;
    uint32_t nkeys = 0, i = 0;
    struct tok t;
    int64_t exptime = 0;
    int skip = (rend_cmd_table[cmd].flags & REND_CMD_EXP_ARG) ? 2 : 1;

    const struct tok *lt = l->t;
    int nt = l->nt;
    struct tok many[MGET_TOKENS];

    /* The line's tokens, as rend_text_parse split them, when they all fit
     * its array (the common case); else one pass into a larger array on
     * the stack; only a longer multi-get takes two passes (count, fill). */
    if (nt == MAX_TOKENS) {
        nt = tokenize(line, eol, many, MGET_TOKENS);
        lt = many;
    }
    if (nt < MGET_TOKENS) {
        if (skip == 2 && nt >= 2 && parse_exptime(&lt[1], &exptime) != 0) {
            *out = reply(c, S_BAD_EXPTIME_ARG);
            return 0;
        }
        for (int k = skip; k < nt; k++) {
            if (lt[k].n > REND_KEY_MAX) {
                *out = reply(c, S_BAD_FORMAT);
                return 0;
            }
        }
        nkeys = nt > skip ? (uint32_t)(nt - skip) : 0;
        if (nkeys == 0) {
            *out = reply(c, skip == 2 && nt == 2 ? "END\r\n"
                                                    : S_BAD_REQUEST);
            return 0;
        }
        r = retrieval_req(c, cmd, exptime, nkeys, out);
        if (r == NULL) {
            return 0;
        }
        for (uint32_t k = 0; k < nkeys; k++) {
            r->kops[k].op.key = lt[skip + k].p;
            r->kops[k].op.nkey = lt[skip + k].n;
        }
        *out = r;
        return 0;
    }
    /* count keys; validate lengths */
    for (int k = 0;; k++) {
        if (tokenize(p, eol, &t, 1) == 0) {
            break;
        }
        p = t.p + t.n;
        if (k == 1 && skip == 2) {
            if (parse_exptime(&t, &exptime) != 0) {
                *out = reply(c, S_BAD_EXPTIME_ARG);
                return 0;
            }
        }
        if (k >= skip) {
            if (t.n > REND_KEY_MAX) {
                *out = reply(c, S_BAD_FORMAT);
                return 0;
            }
            nkeys++;
        }
    }
    if (nkeys == 0) {
        /* as memcached: gat <exptime> with no key finds nothing */
        *out = reply(c, skip == 2 && l->nt == 2 ? "END\r\n" : S_BAD_REQUEST);
        return 0;
    }
    r = retrieval_req(c, cmd, exptime, nkeys, out);
    if (r == NULL) {
        return 0;
    }
    p = line;
    for (int k = 0; tokenize(p, eol, &t, 1) == 1; k++) {
        p = t.p + t.n;
        if (k >= skip) {
            r->kops[i].op.key = t.p;
            r->kops[i].op.nkey = t.n;
            i++;
        }
    }
    *out = r;
    return 0;
}

static int
noreply_tok(const struct tok *t)
{
    return TOK_IS(t, "noreply");
}

/* set/add/replace/append/prepend/cas: returns bytes of the data block
 * consumed beyond the line (>= 0), or -2 when the block is incomplete. */
static int64_t
parse_storage(struct rend_conn *c, int cmd, const struct line *l,
              struct rend_req **out)
{
    const struct tok *t = l->t;
    int nt = l->nt;
    const char *data = l->data;
    size_t avail = l->avail;
    int want = (rend_cmd_table[cmd].flags & REND_CMD_CAS_ARG) ? 6 : 5;
    uint32_t flags, len, vin;
    int64_t exptime;
    uint64_t cas = 0;
    int quiet = 0;
    struct rend_req *r;

    if (nt == want + 1) {
        quiet = noreply_tok(&t[want]); /* memcached ignores another word */
    } else if (nt != want) {
        *out = reply(c, S_BAD_REQUEST);
        return 0;
    }
    if (t[1].n > REND_KEY_MAX) {
        *out = reply(c, S_BAD_FORMAT);
        return 0;
    }
    if (rend_parse_u32(t[2].p, t[2].n, &flags) != 0) {
        *out = reply(c, S_BAD_FLAGS);
        return 0;
    }
    if (parse_exptime(&t[3], &exptime) != 0) {
        *out = reply(c, S_BAD_EXPTIME);
        return 0;
    }
    if (rend_parse_u32(t[4].p, t[4].n, &len) != 0) {
        *out = reply(c, S_BAD_LENGTH);
        return 0;
    }
    if (want == 6 && rend_parse_u64(t[5].p, t[5].n, &cas) != 0) {
        *out = reply(c, S_BAD_FORMAT);
        return 0;
    }
    if (len > rend_settings.item_size_max) {
        /* never buffer what we will refuse: answer, then discard */
        REND_STAT_INC(&c->w->st, store_too_large);
        c->swallow = (uint64_t)len + 2;
        *out = quiet ? NULL : reply(c, S_TOO_LARGE);
        return 0;
    }
    vin = len; /* value bytes in the input buffer */
    if (c->piped > 0) {
        /* this set's value, but for its first vin bytes, is in the
         * connection's pipe (rend_vpipe.h): its "\r\n" follows those */
        vin = len - c->piped;
        if (avail < (size_t)vin + 2) {
            return -2;
        }
        if (data[vin] != '\r' || data[vin + 1] != '\n') {
            rend_vpipe_discard(c);
            *out = reply(c, S_BAD_CHUNK);
            return (int64_t)vin + 2;
        }
    } else if (avail < (size_t)len + 2) {
        if (avail < len
            && rend_vpipe_begin(c, cmd, t[1].p, (uint32_t)t[1].n, len,
                                len - (uint32_t)avail)) {
            return -2; /* on_read splices the rest */
        }
        if (rend_conn_rbuf_admit(c, (uint64_t)(data - (c->rbuf + c->rpos))
                                        + len + 2) != 0) {
            /* the buffers of all connections are at their cap */
            c->swallow = (uint64_t)len + 2;
            *out = quiet ? NULL : reply(c, S_NO_BUFFER);
            return 0;
        }
        return -2;
    }
    c->vpipe_skip = 0; /* the value is all here (buffer, or buffer + pipe) */
    if (vin == len && (data[len] != '\r' || data[len + 1] != '\n')) {
        *out = reply(c, S_BAD_CHUNK);
        return (int64_t)len + 2;
    }
    r = rend_req_new(c);
    if (r == NULL || rend_req_set_keys(r, 1) != 0) {
        rend_vpipe_discard(c);
        *out = reply(c, "SERVER_ERROR out of memory\r\n");
        return (int64_t)vin + 2;
    }
    if (vin < len) {
        rend_vpipe_hand(c, r);
    }
    r->cmd = (uint8_t)cmd;
    r->quiet = (uint8_t)quiet;
    r->kops[0].op.key = t[1].p;
    r->kops[0].op.nkey = t[1].n;
    r->flags = flags;
    r->exptime = exptime;
    r->cas = cas;
    r->value = data;
    r->nvalue = len;
    *out = r;
    return (int64_t)vin + 2;
}

static struct rend_req *
key_req(struct rend_conn *c, int cmd, const struct tok *key, int quiet)
{
    struct rend_req *r;

    if (key->n > REND_KEY_MAX) {
        return reply(c, S_BAD_FORMAT);
    }
    r = rend_req_new(c);
    if (r == NULL || rend_req_set_keys(r, 1) != 0) {
        return reply(c, "SERVER_ERROR out of memory\r\n");
    }
    r->cmd = (uint8_t)cmd;
    r->quiet = (uint8_t)quiet;
    r->kops[0].op.key = key->p;
    r->kops[0].op.nkey = key->n;
    return r;
}

/* The trailing noreply of l, and the argument count without it. */
static int
quiet_args(const struct line *l, int *args)
{
    int quiet = l->nt > 1 && noreply_tok(&l->t[l->nt - 1]);

    *args = l->nt - 1 - quiet;
    return quiet;
}

/* delete <key> [0] [noreply] */
static int64_t
parse_delete(struct rend_conn *c, int cmd, const struct line *l,
             struct rend_req **out)
{
    int args, quiet = quiet_args(l, &args);

    if (l->nt < 2 || l->nt > 4) {
        *out = reply(c, S_BAD_REQUEST);
    } else if (args >= 2 && !(args == 2 && TOK_IS(&l->t[2], "0"))) {
        if (quiet) { /* memcached: noreply silences even this error */
            *out = rend_req_new(c);
            if (*out != NULL) {
                (*out)->cmd = REND_CMD_NOOP;
                (*out)->quiet = 1;
            }
            return 0;
        }
        *out = reply(c, "CLIENT_ERROR bad command line format.  "
                        "Usage: delete <key> [noreply]\r\n");
    } else {
        *out = key_req(c, cmd, &l->t[1], quiet);
    }
    return 0;
}

/* incr|decr <key> <delta> [noreply] */
static int64_t
parse_arith(struct rend_conn *c, int cmd, const struct line *l,
            struct rend_req **out)
{
    int quiet = l->nt == 4 && noreply_tok(&l->t[3]);
    uint64_t delta;

    if (l->nt != 3 && l->nt != 4) { /* a fourth word other than noreply is
                                     * ignored, as memcached does */
        *out = reply(c, S_BAD_REQUEST);
    } else if (rend_parse_u64(l->t[2].p, l->t[2].n, &delta) != 0) {
        *out = reply(c, S_BAD_DELTA);
    } else {
        *out = key_req(c, cmd, &l->t[1], quiet);
        if (*out != NULL && (*out)->cmd != REND_CMD_REPLY) {
            (*out)->delta = delta;
        }
    }
    return 0;
}

/* touch <key> <exptime> [noreply] */
static int64_t
parse_touch(struct rend_conn *c, int cmd, const struct line *l,
            struct rend_req **out)
{
    int quiet = l->nt == 4 && noreply_tok(&l->t[3]);
    int64_t e;

    if (l->nt != 3 && l->nt != 4) {
        *out = reply(c, S_BAD_REQUEST);
    } else if (parse_exptime(&l->t[2], &e) != 0) {
        *out = reply(c, S_BAD_EXPTIME_ARG);
    } else {
        *out = key_req(c, cmd, &l->t[1], quiet);
        if (*out != NULL && (*out)->cmd != REND_CMD_REPLY) {
            (*out)->exptime = e;
        }
    }
    return 0;
}

/* flush_all [delay] [noreply] */
static int64_t
parse_flush(struct rend_conn *c, int cmd, const struct line *l,
            struct rend_req **out)
{
    int args, quiet = quiet_args(l, &args);
    int64_t e = 0;
    struct rend_req *r;

    const struct rend_listen_conf *lc = rend_conn_listen_conf(c);

    /* -F, or this listener's flush = false: as memcached -F */
    if (rend_settings.flush_disabled || (lc != NULL && lc->flush_disabled)) {
        REND_STAT_INC(&c->w->st, cmd_flush);
        if (!quiet) {
            *out = reply(c, "CLIENT_ERROR flush_all not allowed\r\n");
            return 0;
        }
        if ((r = rend_req_new(c)) != NULL) {
            r->cmd = REND_CMD_NOOP;
            r->quiet = 1;
        }
        *out = r;
        return 0;
    }
    if (l->nt > 3) {
        *out = reply(c, S_BAD_REQUEST);
        return 0;
    }
    if (args >= 1) { /* memcached reads the first; a second is ignored */
        int64_t d;
        if (rend_parse_i64(l->t[1].p, l->t[1].n, &d) != 0) {
            *out = reply(c, "CLIENT_ERROR invalid exptime argument\r\n");
            return 0;
        }
        /* memcached: 0 or negative = now */
        e = d <= 0 ? 0 : rend_exptime_abs(d, rend_now());
    }
    r = rend_req_new(c);
    if (r != NULL) {
        r->cmd = (uint8_t)cmd;
        r->quiet = (uint8_t)quiet;
        r->exptime = e;
    }
    *out = r;
    return 0;
}

/* version, noop, quit: memcached 1.6 ignores anything after these */
static int64_t
parse_bare(struct rend_conn *c, int cmd, const struct line *l,
           struct rend_req **out)
{
    (void)l;
    *out = rend_req_new(c);
    if (*out != NULL) {
        (*out)->cmd = (uint8_t)cmd;
    }
    return 0;
}

/* verbosity <level> [noreply]: as memcached, one or two arguments; with
 * noreply nothing is answered, not even an error */
static int64_t
parse_verbosity(struct rend_conn *c, int cmd, const struct line *l,
                struct rend_req **out)
{
    int args, quiet = quiet_args(l, &args);
    uint32_t level = 0;
    struct rend_req *r;

    (void)args;
    if (l->nt < 2 || l->nt > 3) { /* as memcached: one or two arguments */
        *out = reply(c, S_ERROR);
        return 0;
    }
    if (rend_parse_u32(l->t[1].p, l->t[1].n, &level) != 0) {
        if (!quiet) {
            *out = reply(c, S_BAD_FORMAT);
            return 0;
        }
        cmd = REND_CMD_NOOP;
    }
    r = rend_req_new(c);
    if (r != NULL) {
        r->cmd = (uint8_t)cmd;
        r->quiet = (uint8_t)quiet;
        r->delta = level;
    }
    *out = r;
    return 0;
}

/* cache_memlimit <megabytes> [noreply]: answered at once (rend_stats.c
 * resizes the inmem L1s or passes it on to a memcached L1). */
static int64_t
parse_memlimit(struct rend_conn *c, int cmd, const struct line *l,
               struct rend_req **out)
{
    int args, quiet = quiet_args(l, &args);
    const char *text;

    if (l->nt < 2 || l->nt > 3) {
        *out = reply(c, S_ERROR);
        return 0;
    }
    text = rend_stats_memlimit(l->t[1].p, l->t[1].n);
    if (quiet && args == 1) {
        *out = rend_req_new(c);
        if (*out != NULL) {
            (*out)->cmd = REND_CMD_NOOP;
            (*out)->quiet = 1;
        }
        return 0;
    }
    (void)cmd;
    *out = reply(c, text);
    return 0;
}

/* shutdown: refused, as memcached started without -A. */
static int64_t
parse_shutdown(struct rend_conn *c, int cmd, const struct line *l,
               struct rend_req **out)
{
    (void)cmd;
    (void)l;
    *out = reply(c, "ERROR: shutdown not enabled\r\n");
    return 0;
}

/* stats [group ...] */
static int64_t
parse_stats(struct rend_conn *c, int cmd, const struct line *l,
            struct rend_req **out)
{
    struct rend_req *r = rend_req_new(c);

    if (r != NULL) {
        r->cmd = (uint8_t)cmd;
        if (l->nt > 1) {
            r->arg = l->t[1].p;
            r->narg = (uint32_t)(l->t[l->nt - 1].p + l->t[l->nt - 1].n
                                 - l->t[1].p);
        }
    }
    *out = r;
    return 0;
}

/* ---- meta commands (memcached 1.6) -----------------------------------
 * mg/ms/md/ma become the classic rows (get, gets, gat, gats, set, add,
 * replace, append, prepend, cas, delete, incr, decr), so they route,
 * count and orchestrate exactly as the text commands; r->meta makes the
 * reply the meta form.  Error texts are memcached 1.6.18's, which differ
 * per command. */

#define S_ERROR_PLAIN "ERROR\r\n"
#define S_M_INVALID "CLIENT_ERROR invalid flag\r\n"
#define S_M_DUP "CLIENT_ERROR duplicate flag\r\n"
#define S_M_BAD_TOKEN "CLIENT_ERROR bad token in command line format\r\n"
#define S_M_INV_DUP "CLIENT_ERROR invalid or duplicate flag\r\n"
#define S_M_DECODE "CLIENT_ERROR error decoding key\r\n"
#define S_M_OPAQUE "CLIENT_ERROR opaque token too long\r\n"
#define META_OPAQUE_MAX 32 /* memcached's limit on the O token, O included */

/* An O token longer than memcached takes (mg, ms, md check it). */
#define OPAQUE_TOO_LONG(f) ((f)->seen['O'] && (f)->tok['O'].n + 1 > META_OPAQUE_MAX)

static int
b64_val(char ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }
    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }
    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Standard base64 with padding; returns the decoded length, or -1. */
static int
b64_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    if (n == 0 || n % 4 != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            if (in[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad > 0 || (v[j] = b64_val(in[i + j])) < 0) {
                return -1;
            }
        }
        if (o + 3 - (size_t)pad > cap) {
            return -1;
        }
        out[o++] = (char)(v[0] << 2 | v[1] >> 4);
        if (pad < 2) {
            out[o++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
        }
        if (pad < 1) {
            out[o++] = (char)((v[2] & 3) << 6 | v[3]);
        }
    }
    return o == 0 ? -1 : (int)o;
}

static size_t
b64_encode(const char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                            "0123456789+/";
    const unsigned char *u = (const unsigned char *)in;
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)u[i] << 16;
        if (i + 1 < n) {
            v |= (unsigned)u[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= u[i + 2];
        }
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    return o;
}

/* A meta command's flags, checked against the command's valid set.
 * tok[ch] is the token of flag ch (its text after the letter). */
struct mflags {
    struct tok tok[128];
    uint8_t seen[128];
};

enum { MF_OK = 0, MF_INVALID, MF_DUP };

static int
meta_scan(const struct line *l, int first, const char *valid,
          const char *returned, struct rend_meta *m, struct mflags *f)
{
    memset(f->seen, 0, sizeof(f->seen));
    m->nret = 0;
    for (int i = first; i < l->nt; i++) {
        unsigned char ch = (unsigned char)l->t[i].p[0];
        if (ch >= 128 || strchr(valid, ch) == NULL) {
            return MF_INVALID;
        }
        if (f->seen[ch]) {
            return MF_DUP;
        }
        f->seen[ch] = 1;
        f->tok[ch].p = l->t[i].p + 1;
        f->tok[ch].n = l->t[i].n - 1;
        if (strchr(returned, ch) != NULL && m->nret < sizeof(m->ret)) {
            m->ret[m->nret++] = (char)ch;
        }
    }
    m->q = f->seen['q'];
    m->b = f->seen['b'];
    return MF_OK;
}

/* Numeric flag tokens. */
static int
mf_i64(const struct mflags *f, int ch, int64_t *out)
{
    return rend_parse_i64(f->tok[ch].p, f->tok[ch].n, out);
}

static int
mf_u64(const struct mflags *f, int ch, uint64_t *out)
{
    return rend_parse_u64(f->tok[ch].p, f->tok[ch].n, out);
}

/* A new meta request for key token t[1] (decoded when b); NULL with
 * *err set when the key is bad. */
static struct rend_req *
meta_req(struct rend_conn *c, const struct line *l, int b, int cmd,
         const char *decode_err, const char **err)
{
    struct rend_req *r;
    const struct tok *key = &l->t[1];

    if (key->n > REND_KEY_MAX) {
        *err = S_BAD_FORMAT;
        return NULL;
    }
    r = rend_req_new(c);
    if (r == NULL || rend_req_set_keys(r, 1) != 0) {
        if (r != NULL) {
            rend_req_free(r);
        }
        *err = "SERVER_ERROR out of memory\r\n";
        return NULL;
    }
    r->cmd = (uint8_t)cmd;
    if (b) {
        int n = b64_decode(key->p, key->n, r->m.key, sizeof(r->m.key));
        if (n < 0) {
            rend_req_free(r);
            *err = decode_err;
            return NULL;
        }
        r->kops[0].op.key = r->m.key;
        r->kops[0].op.nkey = (uint32_t)n;
    } else {
        r->kops[0].op.key = key->p;
        r->kops[0].op.nkey = key->n;
    }
    return r;
}

/* Fill in what every meta request carries: class, flags, opaque. */
static void
meta_common(struct rend_req *r, int tx, const struct rend_meta *m,
            const struct mflags *f)
{
    uint8_t nret = m->nret;

    r->meta = (uint8_t)tx;
    memcpy(r->m.ret, m->ret, nret);
    r->m.nret = nret;
    r->m.q = m->q;
    r->m.b = m->b;
    r->m.v = f->seen['v'];
    r->m.has_ttl = 0;
    r->m.has_recache = 0;
    if (f->seen['O']) {
        r->arg = f->tok['O'].p; /* copied by rend_req_own */
        r->narg = f->tok['O'].n;
    }
}

/* ---- folding quiet mg lines ------------------------------------------
 * A client's run of `mg <key> <flags>` lines already in the input, all
 * quiet (q) and with byte for byte the same text after the key but for
 * the value of an O (opaque) token, becomes one request with a key op per
 * line, as a text multi-get does: one request to set up, route and free
 * instead of one per line, and a relay may send the keys to a backend as
 * one `get` line (rend_relay.h).  Each line is answered as it would have
 * been alone, in order: its flags are the first line's, so r->m answers
 * every key, with the line's own opaque (r->opq).  Not folded: b (a
 * decoded key per line), T, N and R (they touch, create or recache per
 * key).  The run ends before the first line that differs in anything
 * else, or is not wholly read yet; that line (the batch's `mn`, say) is
 * then parsed on its own. */
#define META_FOLD_MAX 256

/* What every line of a run repeats after its key: pre, then (when has_o)
 * an opaque of its own and suf; newline included. */
struct fold_pat {
    const char *pre, *suf;
    size_t npre, nsuf;
    int has_o;
};

/* One folded line's key and opaque: offsets from the line's start. */
struct fold_line {
    uint32_t nkey, oat, nop;
};

/* Length of the line at p (before end) when it is `mg <key>` and the
 * pattern, with *fl set; else 0.  The key and the opaque are what the
 * tokenizer would make of them: the bytes up to the next space, with no
 * newline among them (else it was more than one line). */
static size_t
mg_fold_line(const char *p, const char *end, const struct fold_pat *pat,
             struct fold_line *fl)
{
    size_t avail = (size_t)(end - p), k, j = 0, max;
    const char *key = p + 3, *o;

    if (avail < 4 + pat->npre + pat->nsuf || p[0] != 'm' || p[1] != 'g'
        || p[2] != ' ') {
        return 0;
    }
    max = avail - 3 - pat->npre - pat->nsuf; /* the longest key possible */
    if (max > REND_KEY_MAX) {
        max = REND_KEY_MAX;
    }
    for (k = 0; k < max && key[k] != ' ' && key[k] != '\n'; k++) {
    }
    /* key[k] is in the buffer: k <= avail - 3 - npre, npre >= 1 */
    if (k == 0 || key[k] != ' ' || memcmp(key + k, pat->pre, pat->npre) != 0) {
        return 0;
    }
    o = key + k + pat->npre;
    if (pat->has_o) {
        max = (size_t)(end - o) - pat->nsuf; /* >= 0: see avail above */
        if (max > META_OPAQUE_MAX - 1) {
            max = META_OPAQUE_MAX - 1;
        }
        while (j < max && o[j] != ' ' && o[j] != '\r' && o[j] != '\n') {
            j++;
        }
        if ((size_t)(end - (o + j)) < pat->nsuf
            || memcmp(o + j, pat->suf, pat->nsuf) != 0) {
            return 0;
        }
    }
    fl->nkey = (uint32_t)k;
    fl->oat = (uint32_t)(o - p);
    fl->nop = (uint32_t)j;
    return (size_t)(o + j - p) + pat->nsuf;
}

/* Copy the opaques of r's n folded lines (the first is r->arg, the
 * others at the offsets in fl) into r->opq, allocated by the caller, and
 * point each key op at its own. */
static void
fold_opaques(struct rend_req *r, const char *data, const struct fold_line *fl,
             const uint32_t *at, uint32_t n)
{
    size_t off = r->narg;

    memcpy(r->opq, r->arg, r->narg);
    r->kops[0].bopaque = r->narg;
    for (uint32_t i = 1; i < n; i++) {
        memcpy(r->opq + off, data + at[i] + fl[i].oat, fl[i].nop);
        r->kops[i].bopaque = (uint32_t)(off << 8 | fl[i].nop);
        off += fl[i].nop;
    }
}

/* r is the quiet mg parsed from line l: fold the lines after it into r.
 * Returns the bytes consumed after l (0 when nothing folds). */
static int64_t
fold_mg(struct rend_conn *c, struct rend_req *r, const struct line *l)
{
    const char *rest = l->t[1].p + l->t[1].n, *end = l->data + l->avail;
    struct fold_pat pat = { .pre = rest, .npre = (size_t)(l->data - rest) };
    struct fold_line fl[META_FOLD_MAX];
    uint32_t n = 1, at[META_FOLD_MAX];
    size_t off = 0, len, nops = r->narg; /* the opaques' bytes */

    if (r->arg != NULL) { /* an O token: its value may differ per line */
        pat.has_o = 1;
        pat.npre = (size_t)(r->arg - rest);
        pat.suf = r->arg + r->narg;
        pat.nsuf = (size_t)(l->data - pat.suf);
    }
    while (n < META_FOLD_MAX
           && (len = mg_fold_line(l->data + off, end, &pat, &fl[n])) > 0) {
        nops += fl[n].nop;
        at[n++] = (uint32_t)off;
        off += len;
    }
    if (n == 1) {
        return 0;
    }
    if (pat.has_o) {
        r->opq = malloc(nops + 1);
        if (r->opq == NULL) {
            return 0;
        }
    }
    if (rend_req_set_keys(r, n) != 0) {
        free(r->opq);
        r->opq = NULL;
        return 0; /* r keeps its one key (kop1) */
    }
    r->kops[0].op.key = l->t[1].p;
    r->kops[0].op.nkey = l->t[1].n;
    for (uint32_t i = 1; i < n; i++) {
        r->kops[i].op.key = l->data + at[i] + 3;
        r->kops[i].op.nkey = fl[i].nkey;
    }
    if (pat.has_o) {
        fold_opaques(r, l->data, fl, at, n);
    }
    r->meta_fold = 1;
    REND_STAT_ADD(&c->w->st, meta_gets_folded, n);
    return (int64_t)off;
}

/* mg <key> <flags>*: T -> gat (gats with c), else get (gets with c).
 * Not supported: E (memcached 1.6.18 refuses it too: invalid flag);
 * u (no LRU bump) is accepted and has no effect. */
static int64_t
parse_mg(struct rend_conn *c, int cmd, const struct line *l,
         struct rend_req **out)
{
    struct rend_meta m;
    struct mflags f;
    struct rend_req *r;
    const char *err = NULL;
    int64_t ttl = 0, viv = 0, rec = 0;
    int sc;

    (void)cmd;
    if (l->nt < 2) {
        *out = reply(c, S_ERROR_PLAIN);
        return 0;
    }
    if (l->t[1].n > REND_KEY_MAX) {
        *out = reply(c, S_BAD_FORMAT);
        return 0;
    }
    sc = meta_scan(l, 2, "bcfhklOqstuvNRT", "cfhklOst", &m, &f);
    if (sc != MF_OK) {
        *out = reply(c, sc == MF_DUP ? S_M_DUP : S_M_INVALID);
        return 0;
    }
    if ((f.seen['T'] && mf_i64(&f, 'T', &ttl) != 0)
        || (f.seen['N'] && mf_i64(&f, 'N', &viv) != 0)
        || (f.seen['R'] && mf_i64(&f, 'R', &rec) != 0)) {
        *out = reply(c, S_M_BAD_TOKEN);
        return 0;
    }
    if (OPAQUE_TOO_LONG(&f)) {
        *out = reply(c, S_M_OPAQUE);
        return 0;
    }
    r = meta_req(c, l, m.b,
                 f.seen['T'] ? (f.seen['c'] ? REND_CMD_GATS : REND_CMD_GAT)
                 : (f.seen['c'] ? REND_CMD_GETS : REND_CMD_GET),
                 S_M_DECODE, &err);
    if (r == NULL) {
        *out = reply(c, err);
        return 0;
    }
    meta_common(r, REND_TX_MG, &m, &f);
    if (f.seen['T']) {
        r->exptime = rend_exptime_abs(ttl, rend_now());
        r->m.has_ttl = 1;
        r->m.ttl = ttl;
    }
    if (f.seen['N']) {
        r->vivify = 1;
        r->bin_exptime = rend_exptime_abs(viv, rend_now());
    }
    if (f.seen['R']) {
        r->m.has_recache = 1;
        r->m.recache = rec;
    }
    *out = r;
    if (m.q && !m.b && !f.seen['T'] && !f.seen['N'] && !f.seen['R']) {
        return fold_mg(c, r, l);
    }
    return 0;
}

/* ms <key> <datalen> <flags>*: mode M (E add, A append, P prepend,
 * R replace, S set), C compare cas (set/replace -> cas; append/prepend
 * carry it as binary append does), F client flags, T ttl, I accepted but
 * without effect (the handlers keep no stale state).  A bad flag after
 * a valid length answers and discards the data block, as memcached. */
static int64_t
parse_ms(struct rend_conn *c, int cmd, const struct line *l,
         struct rend_req **out)
{
    struct rend_meta m;
    struct mflags f;
    struct rend_req *r;
    const char *err = NULL;
    uint32_t len, flags = 0;
    int64_t ttl = 0;
    uint64_t cas = 0;
    int sc;

    (void)cmd;
    if (l->nt < 2) {
        *out = reply(c, S_ERROR_PLAIN);
        return 0;
    }
    if (l->nt < 3 || l->t[1].n > REND_KEY_MAX
        || rend_parse_u32(l->t[2].p, l->t[2].n, &len) != 0) {
        *out = reply(c, S_BAD_FORMAT);
        return 0;
    }
    if (len > rend_settings.item_size_max) {
        REND_STAT_INC(&c->w->st, store_too_large);
        c->swallow = (uint64_t)len + 2;
        *out = reply(c, S_TOO_LARGE);
        return 0;
    }
    sc = meta_scan(l, 3, "bcCfFIkMOqstT", "cOk", &m, &f);
    err = sc == MF_DUP ? S_M_DUP : sc == MF_INVALID ? S_M_INVALID
          : OPAQUE_TOO_LONG(&f) ? S_M_OPAQUE : NULL;
    if (err == NULL && f.seen['F']
        && rend_parse_u32(f.tok['F'].p, f.tok['F'].n, &flags) != 0) {
        err = S_BAD_FORMAT;
    }
    if (err == NULL && ((f.seen['T'] && mf_i64(&f, 'T', &ttl) != 0)
                        || (f.seen['C'] && mf_u64(&f, 'C', &cas) != 0))) {
        err = S_M_BAD_TOKEN;
    }
    cmd = REND_CMD_SET;
    if (err == NULL && f.seen['M']) {
        char mode = f.tok['M'].n == 1 ? f.tok['M'].p[0] : 0;
        cmd = mode == 'S' ? REND_CMD_SET : mode == 'E' ? REND_CMD_ADD
              : mode == 'R' ? REND_CMD_REPLACE : mode == 'A' ? REND_CMD_APPEND
              : mode == 'P' ? REND_CMD_PREPEND : -1;
        if (cmd < 0) {
            err = "CLIENT_ERROR invalid mode for ms M token\r\n";
        }
    }
    if (err != NULL) {
        c->swallow = (uint64_t)len + 2;
        *out = reply(c, err);
        return 0;
    }
    if (f.seen['C'] && (cmd == REND_CMD_SET || cmd == REND_CMD_REPLACE)) {
        cmd = REND_CMD_CAS;
    }
    if (l->avail < (size_t)len + 2) {
        return -2;
    }
    if (l->data[len] != '\r' || l->data[len + 1] != '\n') {
        *out = reply(c, S_BAD_CHUNK);
        return (int64_t)len + 2;
    }
    r = meta_req(c, l, m.b, cmd, S_M_DECODE, &err);
    if (r == NULL) {
        *out = reply(c, err);
        return (int64_t)len + 2;
    }
    meta_common(r, REND_TX_MS, &m, &f);
    r->flags = flags;
    r->exptime = rend_exptime_abs(ttl, rend_now());
    r->cas = cas;
    r->value = l->data;
    r->nvalue = len;
    *out = r;
    return (int64_t)len + 2;
}

/* md <key> <flags>*: delete.  C is carried as the request cas (the
 * handlers do not check it on delete yet); I (invalidate: mark stale)
 * deletes, since the handlers keep no stale state; T has no effect. */
static int64_t
parse_md(struct rend_conn *c, int cmd, const struct line *l,
         struct rend_req **out)
{
    struct rend_meta m;
    struct mflags f;
    struct rend_req *r;
    const char *err = NULL;
    int64_t ttl = 0;
    uint64_t cas = 0;

    (void)cmd;
    if (l->nt < 2) {
        *out = reply(c, S_ERROR_PLAIN);
        return 0;
    }
    if (l->t[1].n > REND_KEY_MAX) {
        *out = reply(c, S_BAD_FORMAT);
        return 0;
    }
    if (meta_scan(l, 2, "bcCIkOqtT", "Ok", &m, &f) != MF_OK
        || (f.seen['T'] && mf_i64(&f, 'T', &ttl) != 0)
        || (f.seen['C'] && mf_u64(&f, 'C', &cas) != 0)) {
        *out = reply(c, S_M_INV_DUP);
        return 0;
    }
    if (OPAQUE_TOO_LONG(&f)) {
        *out = reply(c, S_M_OPAQUE);
        return 0;
    }
    r = meta_req(c, l, m.b, REND_CMD_DELETE, S_M_INV_DUP, &err);
    if (r == NULL) {
        *out = reply(c, err);
        return 0;
    }
    meta_common(r, REND_TX_MD, &m, &f);
    r->cas = cas;
    *out = r;
    return 0;
}

/* ma <key> <flags>*: incr (mode I, +) or decr (D, -) by D (default 1);
 * N<ttl> creates a missing item with J (default 0), as binary incr's
 * initial value.  T sets the ttl after the incr/decr (a touch). */
static int64_t
parse_ma(struct rend_conn *c, int cmd, const struct line *l,
         struct rend_req **out)
{
    struct rend_meta m;
    struct mflags f;
    struct rend_req *r;
    const char *err = NULL;
    int64_t ttl = 0, viv = 0;
    uint64_t delta = 1, initial = 0, cas = 0;

    if (l->nt < 2) {
        *out = reply(c, S_ERROR_PLAIN);
        return 0;
    }
    if (l->t[1].n > REND_KEY_MAX) {
        *out = reply(c, S_BAD_FORMAT);
        return 0;
    }
    if (meta_scan(l, 2, "bcCDJkMNOqtTv", "ctOk", &m, &f) != MF_OK
        || (f.seen['T'] && mf_i64(&f, 'T', &ttl) != 0)
        || (f.seen['N'] && mf_i64(&f, 'N', &viv) != 0)
        || (f.seen['D'] && mf_u64(&f, 'D', &delta) != 0)
        || (f.seen['J'] && mf_u64(&f, 'J', &initial) != 0)
        || (f.seen['C'] && mf_u64(&f, 'C', &cas) != 0)) {
        *out = reply(c, S_M_INV_DUP);
        return 0;
    }
    cmd = REND_CMD_INCR;
    if (f.seen['M']) {
        char mode = f.tok['M'].n == 1 ? f.tok['M'].p[0] : 0;
        cmd = mode == 'I' || mode == '+' ? REND_CMD_INCR
              : mode == 'D' || mode == '-' ? REND_CMD_DECR : -1;
        if (cmd < 0) {
            *out = reply(c, "CLIENT_ERROR invalid mode for ma M token\r\n");
            return 0;
        }
    }
    r = meta_req(c, l, m.b, cmd, S_M_INV_DUP, &err);
    if (r == NULL) {
        *out = reply(c, err);
        return 0;
    }
    meta_common(r, REND_TX_MA, &m, &f);
    r->delta = delta;
    r->cas = cas;
    if (f.seen['N']) {
        r->bin_incr_create = 1;
        r->initial = initial;
        r->bin_exptime = rend_exptime_abs(viv, rend_now());
    }
    if (f.seen['T']) {
        r->m.has_ttl = 1;
        r->m.ttl = ttl;
        r->touch_after = 1;
        r->exptime = rend_exptime_abs(ttl, rend_now());
    }
    *out = r;
    return 0;
}

/* me <key>: rend keeps no debug data; answered as memcached answers for
 * a key it does not hold. */
static int64_t
parse_mn_me(struct rend_conn *c, int cmd, const struct line *l,
            struct rend_req **out)
{
    if (cmd == REND_CMD_ME && (l->nt < 2 || l->t[1].n > REND_KEY_MAX)) {
        *out = reply(c, S_BAD_FORMAT);
        return 0;
    }
    *out = rend_req_new(c);
    if (*out != NULL) {
        (*out)->cmd = (uint8_t)cmd;
    }
    return 0;
}

static parse_f *const parsers[REND_TX__COUNT] = {
    [REND_TX_RETRIEVAL] = parse_retrieval,
    [REND_TX_STORAGE] = parse_storage,
    [REND_TX_DELETE] = parse_delete,
    [REND_TX_ARITH] = parse_arith,
    [REND_TX_TOUCH] = parse_touch,
    [REND_TX_FLUSH] = parse_flush,
    [REND_TX_VERSION] = parse_bare,
    [REND_TX_NOOP] = parse_bare,
    [REND_TX_QUIT] = parse_bare,
    [REND_TX_VERBOSITY] = parse_verbosity,
    [REND_TX_STATS] = parse_stats,
    [REND_TX_MEMLIMIT] = parse_memlimit,
    [REND_TX_SHUTDOWN] = parse_shutdown,
    [REND_TX_MG] = parse_mg,
    [REND_TX_MS] = parse_ms,
    [REND_TX_MD] = parse_md,
    [REND_TX_MA] = parse_ma,
    [REND_TX_MN] = parse_mn_me,
    [REND_TX_ME] = parse_mn_me,
};

/* memcached's rule for a line still without its newline past
 * REND_CMD_LINE_MAX bytes: only a get/gets of many keys may go on (up to
 * REND_LINE_MAX); anything else is refused and the connection closed. */
static int
long_line_ok(const char *p, size_t n)
{
    size_t sp = 0;

    while (sp < n && p[sp] == ' ') {
        sp++;
    }
    if (sp > 100) {
        return 0;
    }
    p += sp;
    n -= sp;
    return (n >= 4 && memcmp(p, "get ", 4) == 0)
           || (n >= 5 && memcmp(p, "gets ", 5) == 0);
}

/* A client of a listener with auth that has not authenticated yet may
 * only send memcached's (1.5.15+ -Y) authentication command: a set whose
 * key, flags and exptime are ignored and whose data is "user password".
 * The right pair answers STORED (nothing is stored) and authenticates
 * the connection; a wrong one answers CLIENT_ERROR authentication
 * failure and the client may try again.  Every other line, meta commands
 * included, is answered CLIENT_ERROR unauthenticated. */
static int
parse_unauthed(struct rend_conn *c, const struct rend_auth *a,
               struct rend_req **out)
{
    const char *buf = c->rbuf + c->rpos, *nl, *eol, *data;
    size_t avail = c->rlen - c->rpos, linelen;
    struct tok t[MAX_TOKENS], cred[3];
    uint32_t len;
    int nt;

    if (avail < 2) { /* as memcached: no command is this short */
        return 0;
    }
    nl = memchr(buf, '\n', avail);
    if ((nl == NULL && avail > AUTH_LINE_MAX)
        || (nl != NULL && (size_t)(nl - buf) >= AUTH_LINE_MAX)) {
        REND_STAT_INC(&c->w->st, protocol_errors);
        *out = reply(c, S_LINE_TOO_LONG);
        return -1;
    }
    if (nl == NULL) {
        return 0;
    }
    linelen = (size_t)(nl - buf) + 1;
    eol = nl > buf && nl[-1] == '\r' ? nl - 1 : nl;
    nt = tokenize(buf, eol, t, MAX_TOKENS);
    if (nt < 5 || !TOK_IS(&t[0], "set")
        || rend_parse_u32(t[4].p, t[4].n, &len) != 0) {
        *out = reply(c, S_UNAUTHENTICATED);
        return (int)linelen;
    }
    if (len > REND_AUTH_TOKEN_MAX) {
        c->swallow = (uint64_t)len + 2; /* never buffered */
        *out = reply(c, S_AUTH_FORMAT);
        return (int)linelen;
    }
    if (avail - linelen < (size_t)len + 2) {
        return 0;
    }
    data = nl + 1;
    if (data[len] != '\r' || data[len + 1] != '\n') {
        *out = reply(c, S_AUTH_TERMINATION);
        return (int)(linelen + len + 2);
    }
    if (tokenize(data, data + len, cred, 3) < 2) {
        *out = reply(c, S_AUTH_FORMAT);
        return (int)(linelen + len + 2);
    }
    REND_STAT_INC(&c->w->st, auth_cmds);
    if (rend_auth_check(a, cred[0].p, cred[0].n, cred[1].p, cred[1].n)) {
        c->authed = 1;
        *out = reply(c, "STORED\r\n");
    } else {
        REND_STAT_INC(&c->w->st, auth_errors);
        *out = reply(c, S_AUTH_FAILED);
    }
    return (int)(linelen + len + 2);
}

int
rend_text_parse(struct rend_conn *c, struct rend_req **out)
{
    const char *buf = c->rbuf + c->rpos;
    size_t avail = c->rlen - c->rpos;
    const char *nl = memchr(buf, '\n', avail);
    struct tok t[MAX_TOKENS];
    struct line l;
    int cmd;
    size_t linelen;
    int64_t used;
    const struct rend_listen_conf *lc = rend_conn_listen_conf(c);

    *out = NULL;
    if (lc != NULL && lc->auth != NULL && !c->authed) {
        return parse_unauthed(c, lc->auth, out);
    }
    if (nl == NULL) {
        if (avail > REND_LINE_MAX
            || (avail > REND_CMD_LINE_MAX && !long_line_ok(buf, avail))) {
            REND_STAT_INC(&c->w->st, protocol_errors);
            *out = reply(c, S_LINE_TOO_LONG);
            return -1;
        }
        return 0;
    }
    linelen = (size_t)(nl - buf) + 1;
    if (linelen > REND_LINE_MAX) {
        REND_STAT_INC(&c->w->st, protocol_errors);
        *out = reply(c, S_LINE_TOO_LONG);
        return -1;
    }
    l.buf = buf;
    l.eol = nl;
    if (l.eol > buf && l.eol[-1] == '\r') {
        l.eol--;
    }
    l.data = nl + 1;
    l.avail = avail - linelen;
    l.t = t;
    l.nt = tokenize(buf, l.eol, t, MAX_TOKENS);
    cmd = l.nt == 0 ? -1 : rend_cmd_by_text(t[0].p, t[0].n);
    if (cmd < 0 || parsers[rend_cmd_table[cmd].tx] == NULL) {
        *out = reply(c, S_ERROR);
        return (int)linelen;
    }
    used = parsers[rend_cmd_table[cmd].tx](c, cmd, &l, out);
    if (used == -2) {
        return 0;
    }
    return (int)(linelen + (size_t)used);
}

/* ---- replies ------------------------------------------------------ */

#define OUT_LIT(c, s) rend_conn_out((c), s, sizeof(s) - 1)

static void
out_error(struct rend_conn *c, int st, int storing)
{
    char line[128];
    int n;

    if (st == REND_ENOMEM && storing) {
        OUT_LIT(c, "SERVER_ERROR out of memory storing object\r\n");
        return;
    }
    n = snprintf(line, sizeof(line), "SERVER_ERROR %s\r\n", rend_strerror(st));
    rend_conn_out(c, line, (size_t)n);
}

/* One hit's VALUE block; with_end: END goes right after it when the
 * value is written inline (returns 1 then, 0 when the caller writes it). */
static int
format_value(struct rend_conn *c, struct rend_req *r, struct rend_kop *k,
             int with_end)
{
    /* a small value goes into the same reservation as its header and
     * trailer: one output commit per key */
    int inline_value = k->nvalue <= REND_SMALL_VALUE;
    char *p = rend_conn_out_reserve(
        c, k->op.nkey + 64 + (inline_value ? k->nvalue + 7 : 0));
    char *s = p;

    if (p == NULL) {
        rend_conn_close(c);
        return 1;
    }
    memcpy(p, "VALUE ", 6);
    p += 6;
    memcpy(p, k->op.key, k->op.nkey);
    p += k->op.nkey;
    *p++ = ' ';
    p += rend_u64toa(k->flags, p);
    *p++ = ' ';
    p += rend_u64toa(k->nvalue, p);
    if (rend_cmd_table[r->cmd].flags & REND_CMD_CAS_ARG) {
        *p++ = ' ';
        p += rend_u64toa(k->cas, p);
    }
    *p++ = '\r';
    *p++ = '\n';
    if (inline_value) {
        if (k->nvalue > 0) {
            memcpy(p, k->value, k->nvalue);
            p += k->nvalue;
        }
        rend_kop_value_drop(k);
        *p++ = '\r';
        *p++ = '\n';
        if (with_end) {
            memcpy(p, "END\r\n", 5);
            p += 5;
        }
        rend_conn_out_commit(c, (size_t)(p - s));
        return with_end;
    }
    rend_conn_out_commit(c, (size_t)(p - s));
    rend_conn_out_value(c, k, k->nvalue);
    OUT_LIT(c, "\r\n");
    return 0;
}

/* A relayed multi-get: the handler's VALUE blocks as they came, then
 * END (rend_relay.h). */
static void
format_relayed(struct rend_conn *c, struct rend_kop *k)
{
    if (k->status < 0) {
        out_error(c, k->status, 0);
        return;
    }
    if (k->nvalue > 0) {
        rend_conn_out_value(c, k, k->nvalue);
    }
    OUT_LIT(c, "END\r\n");
}

static void
format_retrieval(struct rend_conn *c, struct rend_req *r)
{
    uint32_t last = r->nkeys; /* the last hit still to be written */
    int err = 0, ended = 0;

    if (r->relay) {
        format_relayed(c, &r->kops[0]);
        return;
    }

    for (uint32_t i = 0; i < r->nkeys; i++) {
        const struct rend_kop *k = &r->kops[i];
        if (k->status == REND_OK && i >= r->nemitted) {
            last = i;
        } else if (k->status < 0) {
            err = k->status;
        }
    }
    for (uint32_t i = r->nemitted; i < r->nkeys; i++) {
        struct rend_kop *k = &r->kops[i];
        if (k->status == REND_OK) {
            ended = format_value(c, r, k, i == last && err == 0);
        }
    }
    if (err != 0) {
        out_error(c, err, 0);
    } else if (!ended) {
        OUT_LIT(c, "END\r\n");
    }
}

static void format_meta_kop(struct rend_conn *c, const struct rend_req *r,
                            struct rend_kop *k);

void
rend_text_format_kop(struct rend_conn *c, struct rend_req *r,
                     struct rend_kop *k)
{
    if (r->meta) { /* a folded run of mg lines */
        format_meta_kop(c, r, k);
        return;
    }
    if (k->status == REND_OK) {
        format_value(c, r, k, 0); /* a miss shows nothing before END */
    }
}

static void
stats_write(void *ud, const char *s, size_t n)
{
    rend_conn_out(ud, s, n);
}

static void
format_stats(struct rend_conn *c, struct rend_req *r)
{
    rend_stats_text(r->arg, r->narg, stats_write, c);
}

/* What one meta reply line shows: its code (or VA and the data), and the
 * key's result for the flags asked for. */
struct meta_reply {
    const char *code;           /* HD EN NF NS EX, when not va */
    const char *key, *data, *opaque;  /* data: a hit's value (s: ndata) */
    uint32_t nkey, ndata, flags, nopaque;
    uint64_t cas;
    int64_t exptime;
    uint8_t va, hit, won;       /* VA line; a hit's flags; W shown */
    uint8_t created;            /* ma N: this request created the item */
};

/* A meta reply's flags, in the order the request gave them.  l and h are
 * answered as memcached does for an item never read since it was stored
 * (l0, h0): the handlers keep no access time or fetched bit. */
static char *
meta_flags_out(char *p, const struct rend_req *r, const struct meta_reply *m)
{
    for (uint8_t i = 0; i < r->m.nret; i++) {
        char ch = r->m.ret[i];
        if (!m->hit && ch != 'k' && ch != 'O') {
            continue; /* a miss answers only the key and opaque */
        }
        *p++ = ' ';
        *p++ = ch;
        switch (ch) {
        case 'k':
            if (r->m.b) {
                p += b64_encode(m->key, m->nkey, p);
                memcpy(p, " b", 2);
                p += 2;
            } else {
                memcpy(p, m->key, m->nkey);
                p += m->nkey;
            }
            break;
        case 'O':
            memcpy(p, m->opaque, m->nopaque);
            p += m->nopaque;
            break;
        case 'c':
            p += rend_u64toa(m->cas, p);
            break;
        case 'f':
            p += rend_u64toa(m->flags, p);
            break;
        case 's':
            p += rend_u64toa(m->ndata, p);
            break;
        case 't': {
            int64_t ttl;
            if (r->m.has_ttl) {
                ttl = r->m.ttl; /* ma T, mg T: the ttl just set */
            } else if (r->meta == REND_TX_MA) {
                /* created by N: its ttl; else unknown (the handlers' incr
                 * returns no expiry): -1 as for an immortal item */
                ttl = m->created && r->bin_exptime != 0
                      ? r->bin_exptime - rend_now() : -1;
            } else {
                ttl = m->exptime == 0 ? -1 : m->exptime - rend_now();
            }
            if (ttl == 0 && r->m.has_ttl) {
                ttl = -1;
            }
            if (ttl < 0) {
                *p++ = '-';
                ttl = -ttl;
            }
            p += rend_u64toa((uint64_t)ttl, p);
            break;
        }
        case 'l': case 'h':
            *p++ = '0';
            break;
        default:
            break;
        }
    }
    return p;
}

/* Write reply line m (and its data when m->va).  The data is k's value
 * when k is given and m->data is k->value (then lent or dropped as the
 * output takes it); else it is copied. */
static void
meta_emit(struct rend_conn *c, const struct rend_req *r,
          const struct meta_reply *m, struct rend_kop *k)
{
    int owned = k != NULL && m->data != NULL && m->data == k->value;
    /* a small value shares its header's reservation (one commit) */
    int inline_value = m->va && m->ndata <= REND_SMALL_VALUE;
    char *p = rend_conn_out_reserve(c, 64 + (size_t)r->m.nret * 24
                                       + m->nkey * 2 + m->nopaque
                                       + (inline_value ? m->ndata + 2 : 0));
    char *s = p;

    if (p == NULL) {
        rend_conn_close(c);
        return;
    }
    if (m->va) {
        memcpy(p, "VA ", 3);
        p += 3;
        p += rend_u64toa(m->ndata, p);
    } else {
        memcpy(p, m->code, 2);
        p += 2;
    }
    p = meta_flags_out(p, r, m);
    if (m->won) {
        memcpy(p, " W", 2);
        p += 2;
    }
    *p++ = '\r';
    *p++ = '\n';
    if (inline_value) {
        if (m->ndata > 0) {
            memcpy(p, m->data, m->ndata);
            p += m->ndata;
        }
        if (owned) {
            rend_kop_value_drop(k);
        }
        *p++ = '\r';
        *p++ = '\n';
    }
    rend_conn_out_commit(c, (size_t)(p - s));
    if (!m->va || inline_value) {
        return;
    }
    if (owned && m->ndata > 0) {
        rend_conn_out_value(c, k, m->ndata);
    } else if (m->ndata > 0) {
        rend_conn_out(c, m->data, m->ndata);
    }
    OUT_LIT(c, "\r\n");
}

/* The opaque that key op k of r answers with: its line's in a fold whose
 * lines have their own, else the request's. */
static void
meta_opaque(const struct rend_req *r, const struct rend_kop *k,
            struct meta_reply *m)
{
    if (r->opq != NULL) {
        m->opaque = r->opq + (k->bopaque >> 8);
        m->nopaque = k->bopaque & 0xff;
    } else {
        m->opaque = r->arg;
        m->nopaque = r->narg;
    }
}

/* The mg, ms, md or ma reply to key op k: HD / VA <len> / EN / NF / NS /
 * EX + flags. */
static void
format_meta_kop(struct rend_conn *c, const struct rend_req *r,
                struct rend_kop *k)
{
    int st = k->status;
    char num[24];
    struct meta_reply m = {
        .code = "HD", .key = k->op.key, .nkey = k->op.nkey,
        .flags = k->flags, .cas = k->cas,
        .exptime = k->exptime, .created = k->won,
    };

    if (st < 0) {
        out_error(c, st, r->meta == REND_TX_MS);
        return;
    }
    meta_opaque(r, k, &m);
    switch (r->meta) {
    case REND_TX_MG:
        if (st != REND_OK) {
            if (r->m.q) {
                return;
            }
            m.code = "EN";
            break;
        }
        m.hit = 1;
        m.va = r->m.v;
        m.won = k->won;
        if (r->m.has_recache && k->exptime > 0
            && k->exptime - rend_now() < r->m.recache) {
            /* no token state in the handlers: every fetch under the
             * threshold wins (memcached answers Z after the first) */
            m.won = 1;
        }
        m.data = k->value;
        m.ndata = k->nvalue;
        break;
    case REND_TX_MS:
    case REND_TX_MD:
        if (st == REND_OK && r->m.q) {
            return;
        }
        m.hit = st == REND_OK && r->meta == REND_TX_MS;
        m.code = st == REND_OK ? "HD" : st == REND_EXISTS ? "EX"
                 : st == REND_NOT_FOUND || r->meta == REND_TX_MD ? "NF"
                 : "NS";
        break;
    case REND_TX_MA:
        if (st == REND_NON_NUMERIC) {
            OUT_LIT(c, "CLIENT_ERROR cannot increment or decrement "
                       "non-numeric value\r\n");
            return;
        }
        if (st != REND_OK) {
            m.code = st == REND_EXISTS ? "EX" : "NF";
            break;
        }
        if (r->m.q) {
            return;
        }
        m.hit = 1;
        m.va = r->m.v;
        m.ndata = (uint32_t)rend_u64toa(k->number, num);
        m.data = num;
        break;
    default:
        break;
    }
    meta_emit(c, r, &m, k);
}

/* A relayed fold of mg lines (rend_relay.h): kops[0] holds the hits'
 * VALUE blocks in key order; each line is answered from the block of its
 * key, or as a miss.  (A fold asks for no t: the blocks carry no ttl.) */
static void
format_meta_relayed(struct rend_conn *c, struct rend_req *r)
{
    const struct rend_kop *k0 = &r->kops[0];
    struct rend_relay_match rm;

    rend_relay_match_init(&rm, k0);
    for (uint32_t i = 0; i < r->nkeys; i++) {
        const struct rend_kop *k = &r->kops[i];
        const struct rend_relay_block *b;
        struct meta_reply m = {
            .code = "EN", .key = k->op.key, .nkey = k->op.nkey,
        };
        if (k0->status < 0) {
            out_error(c, k0->status, 0);
            continue;
        }
        meta_opaque(r, k, &m);
        if ((b = rend_relay_match(&rm, k)) != NULL) {
            m.code = "HD";
            m.hit = 1;
            m.va = r->m.v;
            m.flags = b->flags;
            m.cas = b->cas;
            m.data = b->data;
            m.ndata = b->ndata;
        } else if (r->m.q) {
            continue;
        }
        meta_emit(c, r, &m, NULL);
    }
}

/* mg, ms, md, ma replies: each key op not streamed out already. */
static void
format_meta(struct rend_conn *c, struct rend_req *r)
{
    if (r->relay) {
        format_meta_relayed(c, r);
        return;
    }
    for (uint32_t i = r->nemitted; i < r->nkeys; i++) {
        format_meta_kop(c, r, &r->kops[i]);
    }
}

void
rend_text_format(struct rend_conn *c, struct rend_req *r)
{
    int st = r->kop1.status;
    int tx = rend_cmd_table[r->cmd].tx;
    char num[32];

    if (r->cmd == REND_CMD_REPLY) {
        rend_conn_out(c, r->text, r->ntext);
        return;
    }
    if (r->meta) {
        format_meta(c, r);
        return;
    }
    if (tx == REND_TX_RETRIEVAL) {
        format_retrieval(c, r);
        return;
    }
    if (r->nkeys == 1) {
        st = r->kops[0].status;
    } else {
        st = r->status;
    }
    if (r->quiet) {
        return;
    }
    if (st < 0) {
        out_error(c, st, tx == REND_TX_STORAGE);
        return;
    }
    switch (tx) {
    case REND_TX_STORAGE:
        if (st == REND_OK) {
            OUT_LIT(c, "STORED\r\n");
        } else if (st == REND_EXISTS) {
            OUT_LIT(c, "EXISTS\r\n");
        } else if (st == REND_NOT_FOUND) {
            OUT_LIT(c, "NOT_FOUND\r\n");
        } else {
            OUT_LIT(c, "NOT_STORED\r\n");
        }
        break;
    case REND_TX_DELETE:
        if (st == REND_OK) {
            OUT_LIT(c, "DELETED\r\n");
        } else {
            OUT_LIT(c, "NOT_FOUND\r\n");
        }
        break;
    case REND_TX_TOUCH:
        if (st == REND_OK) {
            OUT_LIT(c, "TOUCHED\r\n");
        } else {
            OUT_LIT(c, "NOT_FOUND\r\n");
        }
        break;
    case REND_TX_ARITH:
        if (st == REND_OK) {
            size_t n = rend_u64toa(r->kops[0].number, num);
            num[n++] = '\r';
            num[n++] = '\n';
            rend_conn_out(c, num, n);
        } else if (st == REND_NON_NUMERIC) {
            OUT_LIT(c, "CLIENT_ERROR cannot increment or decrement "
                       "non-numeric value\r\n");
        } else {
            OUT_LIT(c, "NOT_FOUND\r\n");
        }
        break;
    case REND_TX_FLUSH:
    case REND_TX_VERBOSITY:
        OUT_LIT(c, "OK\r\n");
        break;
    case REND_TX_VERSION: {
        char line[128];
        int n = snprintf(line, sizeof(line), "VERSION %s\r\n",
                         rend_settings.version);
        rend_conn_out(c, line, (size_t)n);
        break;
    }
    case REND_TX_NOOP:
        if (!r->quiet) {
            OUT_LIT(c, "Yep, it works.\r\n");
        }
        break;
    case REND_TX_QUIT:
        break;
    case REND_TX_MN:
        OUT_LIT(c, "MN\r\n");
        break;
    case REND_TX_ME:
        OUT_LIT(c, "EN\r\n");
        break;
    case REND_TX_STATS:
        format_stats(c, r);
        break;
    default:
        OUT_LIT(c, S_ERROR);
        break;
    }
}
