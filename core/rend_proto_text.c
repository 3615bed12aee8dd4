/*
 * rend_proto_text.c - memcached's text protocol.
 *
 * Replies follow Netflix Rend where it defines them (ERROR Unknown command,
 * the CLIENT_ERROR parse messages, noop, VERSION Rend 0.1) and memcached 1.6
 * everywhere else (noreply, gets/cas, incr/decr, gat/gats, touch,
 * flush_all, stats, verbosity, SERVER_ERROR texts, NOT_STORED on replace
 * and append misses, bad data chunk).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rend_conn.h"
#include "rend_exec.h"
#include "rend_log.h"
#include "rend_proto.h"
#include "rend_settings.h"
#include "rend_stats.h"
#include "rend_util.h"
#include "rend_worker.h"

#define MAX_TOKENS 24 /* for commands other than get/gets/gat/gats */

#define S_ERROR "ERROR Unknown command\r\n"
#define S_BAD_REQUEST "CLIENT_ERROR bad request\r\n"
#define S_BAD_FORMAT "CLIENT_ERROR bad command line format\r\n"
#define S_BAD_FLAGS "CLIENT_ERROR flags is not a valid integer\r\n"
#define S_BAD_EXPTIME "CLIENT_ERROR exptime is not a valid integer\r\n"
#define S_BAD_LENGTH "CLIENT_ERROR length is not a valid integer\r\n"
#define S_BAD_DELTA "CLIENT_ERROR invalid numeric delta argument\r\n"
#define S_BAD_CHUNK "CLIENT_ERROR bad data chunk\r\n"
#define S_TOO_LARGE "SERVER_ERROR object too large for cache\r\n"
#define S_NO_BUFFER "SERVER_ERROR out of memory storing object\r\n"
#define S_LINE_TOO_LONG "CLIENT_ERROR line too long\r\n"
#define S_KEY_TOO_LONG "CLIENT_ERROR key too long\r\n"

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
        while (p < end && *p != ' ') {
            p++;
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

/* get/gets/gat/gats: keys are the tokens after `first`. */
static int
parse_retrieval(struct rend_conn *c, int cmd, const char *line,
                const char *eol, struct rend_req **out)
{
    struct rend_req *r;
    const char *p = line;
    uint32_t nkeys = 0, i = 0;
    struct tok t;
    int64_t exptime = 0;
    int skip = (cmd == REND_CMD_GAT || cmd == REND_CMD_GATS) ? 2 : 1;

    /* count keys; validate lengths */
    for (int k = 0;; k++) {
        if (tokenize(p, eol, &t, 1) == 0) {
            break;
        }
        p = t.p + t.n;
        if (k == 1 && skip == 2) {
            if (parse_exptime(&t, &exptime) != 0) {
                *out = reply(c, S_BAD_EXPTIME);
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
        *out = reply(c, S_BAD_REQUEST);
        return 0;
    }
    r = rend_req_new(c);
    if (r == NULL || rend_req_set_keys(r, nkeys) != 0) {
        if (r != NULL) {
            rend_req_free(r);
        }
        *out = reply(c, "SERVER_ERROR out of memory\r\n");
        return 0;
    }
    r->cmd = (uint8_t)cmd;
    r->exptime = exptime;
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
parse_storage(struct rend_conn *c, int cmd, struct tok *t, int nt,
              const char *data, size_t avail, struct rend_req **out)
{
    int want = cmd == REND_CMD_CAS ? 6 : 5;
    uint32_t flags, len;
    int64_t exptime;
    uint64_t cas = 0;
    int quiet = 0;
    struct rend_req *r;

    if (nt == want + 1 && noreply_tok(&t[want])) {
        quiet = 1;
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
    if (cmd == REND_CMD_CAS && rend_parse_u64(t[5].p, t[5].n, &cas) != 0) {
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
    if (avail < (size_t)len + 2) {
        if (rend_conn_rbuf_admit(c, (uint64_t)(data - (c->rbuf + c->rpos))
                                        + len + 2) != 0) {
            /* the buffers of all connections are at their cap */
            c->swallow = (uint64_t)len + 2;
            *out = quiet ? NULL : reply(c, S_NO_BUFFER);
            return 0;
        }
        return -2;
    }
    if (data[len] != '\r' || data[len + 1] != '\n') {
        *out = reply(c, S_BAD_CHUNK);
        return (int64_t)len + 2;
    }
    r = rend_req_new(c);
    if (r == NULL || rend_req_set_keys(r, 1) != 0) {
        *out = reply(c, "SERVER_ERROR out of memory\r\n");
        return (int64_t)len + 2;
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
    return (int64_t)len + 2;
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

static struct rend_req *
parse_other(struct rend_conn *c, struct tok *t, int nt)
{
    struct rend_req *r;
    int quiet = nt > 1 && noreply_tok(&t[nt - 1]);
    int args = nt - 1 - quiet;
    const struct tok *cmd = &t[0];

    if (TOK_IS(cmd, "delete")) {
        /* delete <key> [0] [noreply] */
        if (args < 1 || args > 2) {
            return reply(c, S_BAD_REQUEST);
        }
        if (args == 2 && !TOK_IS(&t[2], "0")) {
            return reply(c, "CLIENT_ERROR bad command line format.  "
                            "Usage: delete <key> [noreply]\r\n");
        }
        return key_req(c, REND_CMD_DELETE, &t[1], quiet);
    }
    if (TOK_IS(cmd, "incr") || TOK_IS(cmd, "decr")) {
        uint64_t delta;
        if (args != 2) {
            return reply(c, S_BAD_REQUEST);
        }
        if (rend_parse_u64(t[2].p, t[2].n, &delta) != 0) {
            return reply(c, S_BAD_DELTA);
        }
        r = key_req(c, cmd->p[0] == 'i' ? REND_CMD_INCR : REND_CMD_DECR,
                    &t[1], quiet);
        if (r != NULL && r->cmd != REND_CMD_REPLY) {
            r->delta = delta;
        }
        return r;
    }
    if (TOK_IS(cmd, "touch")) {
        int64_t e;
        if (args != 2) {
            return reply(c, S_BAD_REQUEST);
        }
        if (parse_exptime(&t[2], &e) != 0) {
            return reply(c, S_BAD_EXPTIME);
        }
        r = key_req(c, REND_CMD_TOUCH, &t[1], quiet);
        if (r != NULL && r->cmd != REND_CMD_REPLY) {
            r->exptime = e;
        }
        return r;
    }
    if (TOK_IS(cmd, "flush_all")) {
        int64_t e = 0;
        if (args > 1) {
            return reply(c, S_BAD_REQUEST);
        }
        if (args == 1) {
            int64_t d;
            if (rend_parse_i64(t[1].p, t[1].n, &d) != 0) {
                return reply(c, "CLIENT_ERROR invalid exptime argument\r\n");
            }
            /* memcached: 0 or negative = now */
            e = d <= 0 ? 0 : rend_exptime_abs(d, rend_now());
        }
        r = rend_req_new(c);
        if (r == NULL) {
            return NULL;
        }
        r->cmd = REND_CMD_FLUSH;
        r->quiet = (uint8_t)quiet;
        r->exptime = e;
        return r;
    }
    if (TOK_IS(cmd, "version") || TOK_IS(cmd, "noop") || TOK_IS(cmd, "quit")) {
        /* memcached 1.6 ignores anything after these */
        r = rend_req_new(c);
        if (r != NULL) {
            r->cmd = cmd->p[0] == 'v' ? REND_CMD_VERSION
                     : cmd->p[0] == 'n' ? REND_CMD_NOOP : REND_CMD_QUIT;
        }
        return r;
    }
    if (TOK_IS(cmd, "verbosity")) {
        /* as memcached: one or two arguments; with noreply nothing is
         * answered, not even an error */
        uint32_t level = 0;
        if (nt < 2 || nt > 3) {
            return reply(c, S_BAD_REQUEST);
        }
        if (args != 1 || rend_parse_u32(t[1].p, t[1].n, &level) != 0) {
            if (quiet) {
                r = rend_req_new(c);
                if (r != NULL) {
                    r->cmd = REND_CMD_NOOP;
                    r->quiet = 1;
                }
                return r;
            }
            return reply(c, S_BAD_FORMAT);
        }
        r = rend_req_new(c);
        if (r != NULL) {
            r->cmd = REND_CMD_VERBOSITY;
            r->quiet = (uint8_t)quiet;
            r->delta = level;
        }
        return r;
    }
    if (TOK_IS(cmd, "stats")) {
        r = rend_req_new(c);
        if (r != NULL) {
            r->cmd = REND_CMD_STATS;
            if (nt > 1) {
                r->arg = t[1].p;
                r->narg = (uint32_t)(t[nt - 1].p + t[nt - 1].n - t[1].p);
            }
        }
        return r;
    }
    return reply(c, S_ERROR);
}

int
rend_text_parse(struct rend_conn *c, struct rend_req **out)
{
    const char *buf = c->rbuf + c->rpos;
    size_t avail = c->rlen - c->rpos;
    const char *nl = memchr(buf, '\n', avail);
    const char *eol;
    struct tok t[MAX_TOKENS];
    int nt, cmd = -1;
    size_t linelen;

    *out = NULL;
    if (nl == NULL) {
        if (avail > REND_LINE_MAX) {
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
    eol = nl;
    if (eol > buf && eol[-1] == '\r') {
        eol--;
    }
    nt = tokenize(buf, eol, t, MAX_TOKENS);
    if (nt == 0) {
        *out = reply(c, S_ERROR);
        return (int)linelen;
    }
    switch (t[0].n) {
    case 3:
        if (TOK_IS(&t[0], "get")) {
            cmd = REND_CMD_GET;
        } else if (TOK_IS(&t[0], "set")) {
            cmd = REND_CMD_SET;
        } else if (TOK_IS(&t[0], "add")) {
            cmd = REND_CMD_ADD;
        } else if (TOK_IS(&t[0], "gat")) {
            cmd = REND_CMD_GAT;
        } else if (TOK_IS(&t[0], "cas")) {
            cmd = REND_CMD_CAS;
        }
        break;
    case 4:
        if (TOK_IS(&t[0], "gets")) {
            cmd = REND_CMD_GETS;
        } else if (TOK_IS(&t[0], "gats")) {
            cmd = REND_CMD_GATS;
        }
        break;
    case 6:
        if (TOK_IS(&t[0], "append")) {
            cmd = REND_CMD_APPEND;
        }
        break;
    case 7:
        if (TOK_IS(&t[0], "replace")) {
            cmd = REND_CMD_REPLACE;
        } else if (TOK_IS(&t[0], "prepend")) {
            cmd = REND_CMD_PREPEND;
        }
        break;
    default:
        break;
    }
    if (cmd == REND_CMD_GET || cmd == REND_CMD_GETS || cmd == REND_CMD_GAT
        || cmd == REND_CMD_GATS) {
        parse_retrieval(c, cmd, buf, eol, out);
        return (int)linelen;
    }
    if (cmd >= 0) {
        int64_t used = parse_storage(c, cmd, t, nt, nl + 1,
                                     avail - linelen, out);
        if (used == -2) {
            return 0;
        }
        return (int)(linelen + (size_t)used);
    }
    *out = parse_other(c, t, nt);
    return (int)linelen;
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

static void
format_value(struct rend_conn *c, struct rend_req *r, struct rend_kop *k)
{
    char *p = rend_conn_out_reserve(c, k->op.nkey + 64);
    char *s = p;

    if (p == NULL) {
        rend_conn_close(c);
        return;
    }
    memcpy(p, "VALUE ", 6);
    p += 6;
    memcpy(p, k->op.key, k->op.nkey);
    p += k->op.nkey;
    *p++ = ' ';
    p += rend_u64toa(k->flags, p);
    *p++ = ' ';
    p += rend_u64toa(k->nvalue, p);
    if (r->cmd == REND_CMD_GETS || r->cmd == REND_CMD_GATS) {
        *p++ = ' ';
        p += rend_u64toa(k->cas, p);
    }
    *p++ = '\r';
    *p++ = '\n';
    rend_conn_out_commit(c, (size_t)(p - s));
    if (k->nvalue > 0) {
        rend_conn_out_take(c, k->value, k->nvalue);
        k->value = NULL;
    }
    OUT_LIT(c, "\r\n");
}

static void
format_retrieval(struct rend_conn *c, struct rend_req *r)
{
    int err = 0;

    for (uint32_t i = 0; i < r->nkeys; i++) {
        struct rend_kop *k = &r->kops[i];
        if (k->status == REND_OK && i >= r->nemitted) {
            format_value(c, r, k);
        } else if (k->status < 0) {
            err = k->status;
        }
    }
    if (err != 0) {
        out_error(c, err, 0);
    } else {
        OUT_LIT(c, "END\r\n");
    }
}

void
rend_text_format_stream(struct rend_conn *c, struct rend_req *r)
{
    while (r->nemitted < r->nkeys && r->kops[r->nemitted].done) {
        struct rend_kop *k = &r->kops[r->nemitted++];
        if (k->value != NULL) {
            r->held -= k->nvalue;
            c->held -= k->nvalue;
        }
        if (k->status == REND_OK && !c->closed) {
            format_value(c, r, k);
        }
    }
}

struct stats_out {
    struct rend_conn *c;
};

static void
emit_stat(void *ud, const char *name, const char *value)
{
    struct stats_out *so = ud;
    char line[512];
    int n = snprintf(line, sizeof(line), "STAT %s %s\r\n", name, value);

    if (n > 0) {
        rend_conn_out(so->c, line, (size_t)n < sizeof(line) ? (size_t)n
                                                           : sizeof(line) - 1);
    }
}

static void
format_stats(struct rend_conn *c, struct rend_req *r)
{
    struct stats_out so = { c };

    if (r->narg == 5 && memcmp(r->arg, "reset", 5) == 0) {
        rend_stats_reset();
        OUT_LIT(c, "RESET\r\n");
        return;
    }
    if (rend_stats_collect(r->arg, r->narg, emit_stat, &so) != 0) {
        OUT_LIT(c, S_ERROR);
        return;
    }
    OUT_LIT(c, "END\r\n");
}

void
rend_text_format(struct rend_conn *c, struct rend_req *r)
{
    int st = r->kop1.status;
    int cmd = r->cmd;
    char num[32];

    if (cmd == REND_CMD_REPLY) {
        rend_conn_out(c, r->text, r->ntext);
        return;
    }
    if (cmd == REND_CMD_GET || cmd == REND_CMD_GETS || cmd == REND_CMD_GAT
        || cmd == REND_CMD_GATS || cmd == REND_CMD_GETE) {
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
        out_error(c, st, cmd >= REND_CMD_SET && cmd <= REND_CMD_CAS);
        return;
    }
    switch (cmd) {
    case REND_CMD_SET: case REND_CMD_ADD: case REND_CMD_REPLACE:
    case REND_CMD_APPEND: case REND_CMD_PREPEND: case REND_CMD_CAS:
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
    case REND_CMD_DELETE:
        if (st == REND_OK) {
            OUT_LIT(c, "DELETED\r\n");
        } else {
            OUT_LIT(c, "NOT_FOUND\r\n");
        }
        break;
    case REND_CMD_TOUCH:
        if (st == REND_OK) {
            OUT_LIT(c, "TOUCHED\r\n");
        } else {
            OUT_LIT(c, "NOT_FOUND\r\n");
        }
        break;
    case REND_CMD_INCR: case REND_CMD_DECR:
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
    case REND_CMD_FLUSH:
    case REND_CMD_VERBOSITY:
        OUT_LIT(c, "OK\r\n");
        break;
    case REND_CMD_VERSION: {
        char line[128];
        int n = snprintf(line, sizeof(line), "VERSION %s\r\n",
                         rend_settings.version);
        rend_conn_out(c, line, (size_t)n);
        break;
    }
    case REND_CMD_NOOP:
        if (!r->quiet) {
            OUT_LIT(c, "Yep, it works.\r\n");
        }
        break;
    case REND_CMD_QUIT:
        break;
    case REND_CMD_STATS:
        format_stats(c, r);
        break;
    default:
        OUT_LIT(c, S_ERROR);
        break;
    }
}
