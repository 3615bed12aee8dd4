/*
 * check_core.c - unit tests of core modules: number parsing and exptime,
 * the plugin loader's refusals, config compilation and its error
 * messages, and the text and binary parsers.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rend_config.h"
#include "rend_conn.h"
#include "rend_exec.h"
#include "rend_plugin.h"
#include "rend_proto.h"
#include "rend_relay.h"
#include "rend_settings.h"
#include "rend_util.h"
#include "rend_worker.h"

/* ---- util ---------------------------------------------------------- */

START_TEST(parse_numbers)
{
    uint64_t u;
    uint32_t v;
    int64_t i;

    ck_assert_int_eq(rend_parse_u64("18446744073709551615", 20, &u), 0);
    ck_assert(u == UINT64_MAX);
    ck_assert_int_eq(rend_parse_u64("18446744073709551616", 20, &u), -1);
    ck_assert_int_eq(rend_parse_u64("", 0, &u), -1);
    ck_assert_int_eq(rend_parse_u64("12a", 3, &u), -1);
    ck_assert_int_eq(rend_parse_u64("-1", 2, &u), -1);
    /* 19 digits are parsed without an overflow check, the 20th with one */
    ck_assert_int_eq(rend_parse_u64("9999999999999999999", 19, &u), 0);
    ck_assert(u == 9999999999999999999ull);
    ck_assert_int_eq(rend_parse_u64("18446744073709551609", 20, &u), 0);
    ck_assert(u == 18446744073709551609ull);
    ck_assert_int_eq(rend_parse_u64("18446744073709551620", 20, &u), -1);
    ck_assert_int_eq(rend_parse_u64("99999999999999999999", 20, &u), -1);
    ck_assert_int_eq(rend_parse_u64("1844674407370955161x", 20, &u), -1);
    ck_assert_int_eq(rend_parse_u64("184467440737095516150", 21, &u), -1);
    ck_assert_int_eq(rend_parse_u64("00000000000000000001", 20, &u), 0);
    ck_assert(u == 1);
    ck_assert_int_eq(rend_parse_u32("4294967295", 10, &v), 0);
    ck_assert_int_eq(rend_parse_u32("4294967296", 10, &v), -1);
    ck_assert_int_eq(rend_parse_i64("-5", 2, &i), 0);
    ck_assert(i == -5);
    ck_assert_int_eq(rend_parse_i64("-", 1, &i), -1);
}
END_TEST

/* One block of a relayed reply at a time: 1 and the block, or 0 and the
 * cursor left where it was. */
static int
one_block(const char *text, struct rend_relay_block *b, size_t *used)
{
    const char *p = text, *end = text + strlen(text);
    int rc = rend_relay_next_block(&p, end, b);

    *used = (size_t)(p - text);
    return rc;
}

START_TEST(relay_blocks)
{
    static const char *const bad[] = {
        "VALUE k 1 3\r\nabc\r",          /* data trailer cut */
        "VALUE k 1 4\r\nabc\r\n",       /* data shorter than said */
        "VALUE k 1 3\nabc\r\n",          /* header without \r */
        "VALUE  1 3\r\nabc\r\n",        /* no key */
        "VALUE k 4294967296 3\r\nabc\r\n", /* flags over 32 bits */
        "VALUE k 1 x\r\nabc\r\n",
        "VALUE k 1 3 184467440737095516160\r\nabc\r\n", /* 21 digits */
        "VALUE k 1 3 18446744073709551616\r\nabc\r\n",  /* > 2^64-1 */
        "VALUE k 1 3 \r\nabc\r\n",       /* empty cas */
        "VALUE k 1\r\nabc\r\n",
        "END\r\n",
        "VALU",
    };
    struct rend_relay_block b;
    char big[400];
    size_t used;

    ck_assert_int_eq(one_block("VALUE key 7 3\r\nabc\r\nEND\r\n", &b, &used),
                     1);
    ck_assert_uint_eq(used, 20);
    ck_assert(b.nkey == 3 && memcmp(b.key, "key", 3) == 0);
    ck_assert(b.flags == 7 && b.ndata == 3 && b.cas == 0);
    ck_assert(memcmp(b.data, "abc", 3) == 0);
    ck_assert_int_eq(one_block("VALUE k 4294967295 0 18446744073709551615"
                               "\r\n\r\n", &b, &used), 1);
    ck_assert(b.flags == UINT32_MAX && b.ndata == 0 && b.cas == UINT64_MAX);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(one_block(bad[i], &b, &used) == 0 && used == 0,
                      "accepted %s", bad[i]);
    }
    /* a key of 250 bytes is read, one of 251 is not */
    for (int n = 250; n <= 251; n++) {
        memcpy(big, "VALUE ", 6);
        memset(big + 6, 'k', (size_t)n);
        strcpy(big + 6 + n, " 0 1\r\nx\r\n");
        ck_assert_int_eq(one_block(big, &b, &used), n == 250);
    }
}
END_TEST

/* rend_u64toa against snprintf: every digit count, both sides of each
 * power of ten, and a spread of pseudo-random values. */
START_TEST(u64toa_digits)
{
    char got[32], want[32];
    uint64_t x = 88172645463325252ull, p = 1;

    for (int d = 0; d < 20; d++, p *= 10) {
        const uint64_t vs[] = { p - 1, p, p + 1, p * 5 };
        for (unsigned j = 0; j < 4; j++) {
            size_t n = rend_u64toa(vs[j], got);
            got[n] = '\0';
            snprintf(want, sizeof(want), "%llu", (unsigned long long)vs[j]);
            ck_assert_str_eq(got, want);
        }
    }
    for (int i = 0; i < 100000; i++) {
        uint64_t v;
        size_t n;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v = x >> (x % 64);
        n = rend_u64toa(v, got);
        got[n] = '\0';
        snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
        ck_assert_str_eq(got, want);
    }
    /* both sides of every bit length (the digit count starts from it)
     * and of the 32-bit boundary (where the 32-bit division stops) */
    for (int b = 0; b < 64; b++) {
        const uint64_t vs[] = { (1ull << b) - 1, 1ull << b,
                                (1ull << b) + 1, UINT32_MAX,
                                (uint64_t)UINT32_MAX + 1 };
        for (unsigned j = 0; j < 5; j++) {
            size_t n = rend_u64toa(vs[j], got);
            got[n] = '\0';
            snprintf(want, sizeof(want), "%llu", (unsigned long long)vs[j]);
            ck_assert_str_eq(got, want);
        }
    }
    ck_assert_uint_eq(rend_u64toa(0, got), 1);
    ck_assert_uint_eq(rend_u64toa(UINT64_MAX, got), 20);
}
END_TEST

START_TEST(exptime_forms)
{
    int64_t now = 1700000000;

    ck_assert(rend_exptime_abs(0, now) == 0);
    ck_assert(rend_exptime_abs(-1, now) == -1);
    ck_assert(rend_exptime_abs(10, now) == now + 10);
    ck_assert(rend_exptime_abs(REND_REALTIME_MAXDELTA, now)
              == now + REND_REALTIME_MAXDELTA);
    ck_assert(rend_exptime_abs(now + 100, now) == now + 100);
    ck_assert(rend_exptime_abs(now - 100, now) == -1);
}
END_TEST

/* ---- loader ------------------------------------------------------- */

static void
expect_refused(const char *file, const char *reason)
{
    char path[4096], err[1024];
    const char *dir = getenv("REND_TEST_PLUGIN_DIR");

    ck_assert_ptr_nonnull(dir);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    err[0] = '\0';
    ck_assert_int_eq(rend_plugin_check(path, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, reason) != NULL, "%s: got \"%s\", want \"%s\"",
                  file, err, reason);
    ck_assert_msg(strstr(err, file) != NULL, "message names the file: %s",
                  err);
}

START_TEST(loader_refuses_bad_plugins)
{
    expect_refused("rend_bad_major.so", "has ABI 99.");
    expect_refused("rend_bad_sig.so", "was built for");
    expect_refused("rend_bad_size.so", "descriptor of");
    expect_refused("rend_no_symbol.so", "does not export rend_handler_v1");
    expect_refused("rend_undef.so", "cannot load plugin");
    expect_refused("rend_no_create.so", "lacks a name or a create");
}
END_TEST

START_TEST(loader_accepts_inmem)
{
    char path[4096], err[1024] = "";

    snprintf(path, sizeof(path), "%s/rend_inmem.so", rend_plugin_dir());
    ck_assert_msg(rend_plugin_check(path, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

/* ---- config ------------------------------------------------------- */

static void
expect_config_error(const char *text, const char *want)
{
    char err[1024] = "";
    struct rend_gen *g = rend_config_load_string(text, "t.lua", NULL, err,
                                                 sizeof(err));

    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err, want) != NULL, "got \"%s\", want \"%s\"", err,
                  want);
}

START_TEST(config_errors_name_file_and_line)
{
    expect_config_error("local x = \n listen {{{", "t.lua:2:");
    expect_config_error("\n\nlocal h = handler \"nosuchplugin\" {}\n"
                        "listen { port = 1, routes = { default = l1only(h) } }",
                        "t.lua:3: ");
    expect_config_error("local h = handler \"inmem\" { memory_mb = \"lots\" }\n"
                        "listen { port = 1, routes = { default = l1only(h) } }",
                        "t.lua:1: ");
    expect_config_error("local h = handler \"inmem\" {}\n"
                        "listen { port = 1, routes = { get = l1only(h) } }",
                        "t.lua:2: listen: routes need a default");
    expect_config_error("local h = handler \"inmem\" {}\n"
                        "listen { port = 1, routes = { gett = l1only(h), "
                        "default = l1only(h) } }",
                        "unknown command \"gett\"");
    expect_config_error("local h = handler \"inmem\" {}\n"
                        "listen { port = 70000, routes = { default = l1only(h) } }",
                        "t.lua:2: listen: port");
    expect_config_error("local h = handler \"inmem\" {}\n", "no listen{}");
    expect_config_error("local h = handler \"inmem\" {}\n"
                        "listen { port = 1, routes = { default = l1l2(h) } }",
                        "t.lua:2: l1l2: the second argument must be a handler");
}
END_TEST

START_TEST(config_compiles_routes)
{
    char err[1024] = "";
    struct rend_gen *g = rend_config_load_string(
        "local a = handler \"inmem\" { name = \"a\" }\n"
        "local b = handler \"inmem\" { name = \"b\" }\n"
        "listen { port = 0, routes = { default = l1only(a), set = l1l2(a, b),\n"
        "  prefix = { [\"s:\"] = l1only(b), [\"s:long:\"] = { default = l1l2(b, a) } } } }\n"
        "settings { threads = 3 }\n",
        "t.lua", NULL, err, sizeof(err));
    const struct rend_routes *rs;
    const struct rend_route *rt;

    ck_assert_msg(g != NULL, "%s", err);
    ck_assert_uint_eq(g->nlisteners, 1);
    ck_assert_uint_eq(g->nhinsts, 2);
    ck_assert_uint_eq(g->threads, 3);
    rs = &g->listeners[0].routes;
    rt = rend_routes_find(rs, REND_CMD_GET, "k", 1);
    ck_assert_int_eq(rt->strategy, REND_ST_L1ONLY);
    ck_assert_str_eq(rt->l1->name, "a");
    rt = rend_routes_find(rs, REND_CMD_SET, "k", 1);
    ck_assert_int_eq(rt->strategy, REND_ST_L1L2);
    rt = rend_routes_find(rs, REND_CMD_SET, "s:x", 3);
    ck_assert_int_eq(rt->strategy, REND_ST_L1ONLY);
    ck_assert_str_eq(rt->l1->name, "b");
    rt = rend_routes_find(rs, REND_CMD_GET, "s:long:x", 8);
    ck_assert_int_eq(rt->strategy, REND_ST_L1L2);
    ck_assert_str_eq(rt->l1->name, "b");
    rend_gen_put(g);
}
END_TEST

START_TEST(config_reload_keeps_unchanged_handlers)
{
    char err[1024] = "";
    const char *t1 = "local a = handler \"inmem\" { name = \"a\", memory_mb = 8 }\n"
                     "listen { port = 0, routes = { default = l1only(a) } }\n";
    const char *t2 = "local a = handler \"inmem\" { name = \"a\", memory_mb = 8 }\n"
                     "local b = handler \"inmem\" { name = \"b\", memory_mb = 9 }\n"
                     "listen { port = 0, routes = { default = l1l2(a, b) } }\n";
    struct rend_gen *g1 = rend_config_load_string(t1, "t", NULL, err,
                                                  sizeof(err));
    struct rend_gen *g2;

    ck_assert_msg(g1 != NULL, "%s", err);
    g2 = rend_config_load_string(t2, "t", g1, err, sizeof(err));
    ck_assert_msg(g2 != NULL, "%s", err);
    ck_assert_ptr_eq(g2->hinsts[0], g1->hinsts[0]);
    ck_assert_ptr_ne(g2->hinsts[1], g1->hinsts[0]);
    rend_gen_put(g1);
    rend_gen_put(g2);
}
END_TEST

/* ---- parsers ------------------------------------------------------- */

static struct rend_worker fake_worker;
static struct rend_conn fake_conn;

static struct rend_req *
parse(const char *bytes, size_t n, int proto, int *consumed)
{
    struct rend_req *r = NULL;

    memset(&fake_conn, 0, sizeof(fake_conn));
    fake_conn.w = &fake_worker;
    fake_conn.proto = (uint8_t)proto;
    fake_conn.proto_known = 1;
    fake_conn.rbuf = (char *)bytes;
    fake_conn.rlen = (uint32_t)n;
    *consumed = proto == REND_PROTO_TEXT ? rend_text_parse(&fake_conn, &r)
                                         : rend_bin_parse(&fake_conn, &r);
    return r;
}

#define PARSE_TEXT(s, used) parse((s), sizeof(s) - 1, REND_PROTO_TEXT, (used))

static void
setup(void)
{
    rend_settings.item_size_max = 1024 * 1024;
}

/* The command table is the one source: every text token parses back to
 * its row, every binary opcode maps to its row, and README's list of route
 * keys is the table's. */
START_TEST(command_table_is_the_source)
{
    const char *src = getenv("REND_SRCDIR");
    char path[1024], *readme = NULL;
    FILE *f;
    long n;

    for (int cmd = 0; cmd < REND_CMD__COUNT; cmd++) {
        const struct rend_cmd_info *ci = &rend_cmd_table[cmd];
        if (ci->text != NULL) {
            ck_assert_int_eq(rend_cmd_by_text(ci->text, ci->ntext), cmd);
            ck_assert_int_ne(ci->tx, REND_TX_NONE);
        }
        for (int v = 0; v < 4; v++) {
            if (ci->bin[v] != 0) {
                const struct rend_bin_op *o
                    = &rend_cmd_by_opcode[ci->bin[v] & 0xff];
                ck_assert(o->valid && o->cmd == cmd);
                ck_assert_int_eq(o->quiet, v & 1);
                ck_assert_int_eq(o->echo_key, v >> 1);
            }
        }
        ck_assert((ci->op < 0) == ((ci->flags & REND_CMD_LOCAL) != 0));
    }
    ck_assert_int_eq(rend_cmd_by_text("gete", 4), -1);
    snprintf(path, sizeof(path), "%s/README.md", src ? src : "..");
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    readme = calloc(1, (size_t)n + 1);
    ck_assert(fread(readme, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    for (int cmd = 0; cmd < REND_CMD__COUNT; cmd++) {
        const char *keys[2] = { rend_cmd_table[cmd].route,
                                rend_cmd_table[cmd].alias };
        for (int i = 0; i < 2 && keys[i] != NULL; i++) {
            /* in README's "Route keys are command names (`...`)" */
            const char *list = strstr(readme, "Route keys are command names");
            const char *end, *p;
            size_t kl = strlen(keys[i]);
            int found = 0;
            ck_assert_ptr_nonnull(list);
            list = strchr(list, '`');
            end = strchr(list + 1, '`');
            for (p = list + 1; p < end; p++) {
                if (strncmp(p, keys[i], kl) == 0 && (p[kl] == ' '
                    || p[kl] == '\n' || p + kl == end)
                    && (p[-1] == ' ' || p[-1] == '\n' || p[-1] == '`')) {
                    found = 1;
                }
            }
            ck_assert_msg(found, "README's route keys lack %s", keys[i]);
        }
    }
    free(readme);
}
END_TEST

START_TEST(text_storage_and_retrieval)
{
    int used;
    struct rend_req *r;

    r = PARSE_TEXT("set k 5 0 3\r\nabc\r\nget x", &used);
    ck_assert_int_eq(used, 18);
    ck_assert_int_eq(r->cmd, REND_CMD_SET);
    ck_assert_uint_eq(r->flags, 5);
    ck_assert_uint_eq(r->nvalue, 3);
    ck_assert(memcmp(r->value, "abc", 3) == 0);
    ck_assert(r->kops[0].op.nkey == 1 && r->kops[0].op.key[0] == 'k');
    rend_req_free(r);

    r = PARSE_TEXT("set k 5 0 3\r\nab", &used);
    ck_assert_int_eq(used, 0); /* waits for the data block */
    ck_assert_ptr_null(r);

    r = PARSE_TEXT("get a bb  ccc\r\n", &used);
    ck_assert_int_eq(used, 15);
    ck_assert_int_eq(r->cmd, REND_CMD_GET);
    ck_assert_uint_eq(r->nkeys, 3);
    ck_assert_uint_eq(r->kops[2].op.nkey, 3);
    rend_req_free(r);

    /* Multi-gets of every length class: within the line's first token
     * array, one pass on the stack (up to 255 tokens), two passes beyond;
     * the keys come out in order whatever the path. */
    {
        static const unsigned counts[] = { 22, 23, 24, 100, 254, 255, 256,
                                           600 };
        for (unsigned ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
            static char line[8192];
            size_t n = (size_t)snprintf(line, sizeof(line), "gets");
            for (unsigned k = 0; k < counts[ci]; k++) {
                n += (size_t)snprintf(line + n, sizeof(line) - n,
                                      k % 7 ? " k%u" : "  key%u", k);
            }
            n += (size_t)snprintf(line + n, sizeof(line) - n, "\r\n");
            r = parse(line, n, REND_PROTO_TEXT, &used);
            ck_assert_int_eq(used, (int)n);
            ck_assert_int_eq(r->cmd, REND_CMD_GETS);
            ck_assert_uint_eq(r->nkeys, counts[ci]);
            for (unsigned k = 0; k < counts[ci]; k++) {
                char want[16];
                int wn = snprintf(want, sizeof(want), k % 7 ? "k%u" : "key%u",
                                  k);
                ck_assert_uint_eq(r->kops[k].op.nkey, (uint32_t)wn);
                ck_assert(memcmp(r->kops[k].op.key, want, (size_t)wn) == 0);
            }
            rend_req_free(r);
        }
    }
    /* gat: the exptime token first, then keys; a key too long */
    r = PARSE_TEXT("gat 100 a b\r\n", &used);
    ck_assert_int_eq(r->cmd, REND_CMD_GAT);
    ck_assert_uint_eq(r->nkeys, 2);
    ck_assert(r->exptime > 0);
    rend_req_free(r);

    r = PARSE_TEXT("cas k 0 0 1 77 noreply\r\nx\r\n", &used);
    ck_assert_int_eq(r->cmd, REND_CMD_CAS);
    ck_assert(r->cas == 77 && r->quiet);
    rend_req_free(r);

    r = PARSE_TEXT("incr k 18446744073709551615\r\n", &used);
    ck_assert_int_eq(r->cmd, REND_CMD_INCR);
    ck_assert(r->delta == UINT64_MAX);
    rend_req_free(r);
}
END_TEST

static void
expect_text_reply(const char *in, const char *want)
{
    int used;
    struct rend_req *r = parse(in, strlen(in), REND_PROTO_TEXT, &used);

    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->cmd, REND_CMD_REPLY);
    ck_assert_msg(strcmp(r->text, want) == 0, "%s -> %s", in, r->text);
    rend_req_free(r);
}

/* Meta commands parse into the classic rows (so they route, count and
 * orchestrate as those) with their meta class and flags. */
START_TEST(meta_parses_into_rows)
{
    static const struct {
        const char *in;
        int cmd;
    } cases[] = {
        { "mg k v\r\n", REND_CMD_GET }, { "mg k c v\r\n", REND_CMD_GETS },
        { "mg k T30 v\r\n", REND_CMD_GAT },
        { "mg k T30 c\r\n", REND_CMD_GATS },
        { "ms k 1\r\nx\r\n", REND_CMD_SET },
        { "ms k 1 ME\r\nx\r\n", REND_CMD_ADD },
        { "ms k 1 MR\r\nx\r\n", REND_CMD_REPLACE },
        { "ms k 1 MA\r\nx\r\n", REND_CMD_APPEND },
        { "ms k 1 MP\r\nx\r\n", REND_CMD_PREPEND },
        { "ms k 1 C5\r\nx\r\n", REND_CMD_CAS },
        { "ms k 1 MR C5\r\nx\r\n", REND_CMD_CAS },
        { "md k q\r\n", REND_CMD_DELETE }, { "ma k\r\n", REND_CMD_INCR },
        { "ma k M-\r\n", REND_CMD_DECR }, { "ma k MI\r\n", REND_CMD_INCR },
        { "mn\r\n", REND_CMD_MN }, { "me k\r\n", REND_CMD_ME },
    };
    int used;
    struct rend_req *r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = parse(cases[i].in, strlen(cases[i].in), REND_PROTO_TEXT, &used);
        ck_assert_ptr_nonnull(r);
        ck_assert_msg(r->cmd == cases[i].cmd, "%s: cmd %d, want %d",
                      cases[i].in, r->cmd, cases[i].cmd);
        ck_assert_int_eq(used, (int)strlen(cases[i].in));
        rend_req_free(r);
    }
    /* base64 key, opaque, quiet, flags in request order */
    r = PARSE_TEXT("mg Zm9v b O12 q k s v\r\n", &used);
    ck_assert_int_eq(r->meta, REND_TX_MG);
    ck_assert(r->kops[0].op.nkey == 3
              && memcmp(r->kops[0].op.key, "foo", 3) == 0);
    ck_assert(r->narg == 2 && memcmp(r->arg, "12", 2) == 0);
    ck_assert(r->m.q && r->m.b && r->m.v);
    ck_assert(r->m.nret == 3 && memcmp(r->m.ret, "Oks", 3) == 0);
    rend_req_free(r);
    /* ma N: binary incr's create-on-miss; vivify and ma N run alone */
    r = PARSE_TEXT("ma k N0 J7 D3\r\n", &used);
    ck_assert(r->bin_incr_create && r->initial == 7 && r->delta == 3);
    ck_assert(rend_req_sched(r) & REND_CMD_BARRIER);
    rend_req_free(r);
    r = PARSE_TEXT("mg k N30 v\r\n", &used);
    ck_assert(r->vivify && (rend_req_sched(r) & REND_CMD_BARRIER));
    rend_req_free(r);
    expect_text_reply("mg k y\r\n", "CLIENT_ERROR invalid flag\r\n");
    expect_text_reply("mg k v v\r\n", "CLIENT_ERROR duplicate flag\r\n");
    expect_text_reply("md k Z\r\n",
                      "CLIENT_ERROR invalid or duplicate flag\r\n");
    expect_text_reply("mg\r\n", "ERROR\r\n");
    expect_text_reply("mg a@ b\r\n", "CLIENT_ERROR error decoding key\r\n");
}
END_TEST

START_TEST(text_errors)
{
    char key[300], line[400];

    expect_text_reply("bogus\r\n", "ERROR\r\n");
    expect_text_reply("\r\n", "ERROR\r\n");
    expect_text_reply("get\r\n", "ERROR\r\n");
    expect_text_reply("set k x 0 1\r\nx\r\n",
                      "CLIENT_ERROR bad command line format\r\n");
    expect_text_reply("set k 0 z 1\r\nx\r\n",
                      "CLIENT_ERROR bad command line format\r\n");
    expect_text_reply("set k 0 0 -1\r\n",
                      "CLIENT_ERROR bad command line format\r\n");
    expect_text_reply("set k 0 0 2\r\nabcd\r\n",
                      "CLIENT_ERROR bad data chunk\r\n");
    expect_text_reply("set k 0 0 99999999\r\n",
                      "SERVER_ERROR object too large for cache\r\n");
    ck_assert(fake_conn.swallow == 99999999 + 2);
    expect_text_reply("incr k x\r\n",
                      "CLIENT_ERROR invalid numeric delta argument\r\n");
    memset(key, 'k', 251);
    key[251] = '\0';
    snprintf(line, sizeof(line), "get %s\r\n", key);
    expect_text_reply(line, "CLIENT_ERROR bad command line format\r\n");
}
END_TEST

START_TEST(text_line_too_long)
{
    size_t n = REND_LINE_MAX + 10;
    char *buf = malloc(n);
    int used;
    struct rend_req *r;

    memset(buf, 'a', n);
    r = parse(buf, n, REND_PROTO_TEXT, &used);
    ck_assert_int_eq(used, -1);
    ck_assert_str_eq(r->text, "CLIENT_ERROR line too long\r\n");
    rend_req_free(r);
    free(buf);
}
END_TEST

static size_t
bin_header(unsigned char *p, uint8_t magic, uint8_t op, uint16_t keylen,
           uint8_t extlen, uint32_t bodylen)
{
    memset(p, 0, 24);
    p[0] = magic;
    p[1] = op;
    p[2] = (unsigned char)(keylen >> 8);
    p[3] = (unsigned char)keylen;
    p[4] = extlen;
    p[8] = (unsigned char)(bodylen >> 24);
    p[9] = (unsigned char)(bodylen >> 16);
    p[10] = (unsigned char)(bodylen >> 8);
    p[11] = (unsigned char)bodylen;
    return 24;
}

START_TEST(binary_frames)
{
    unsigned char buf[128];
    int used;
    struct rend_req *r;

    /* set with flags 7, key "k", value "vv" */
    bin_header(buf, 0x80, 0x01, 1, 8, 8 + 1 + 2);
    memset(buf + 24, 0, 8);
    buf[27] = 7;
    memcpy(buf + 32, "kvv", 3);
    r = parse((char *)buf, 35, REND_PROTO_BINARY, &used);
    ck_assert_int_eq(used, 35);
    ck_assert_int_eq(r->cmd, REND_CMD_SET);
    ck_assert_uint_eq(r->flags, 7);
    ck_assert_uint_eq(r->nvalue, 2);
    rend_req_free(r);

    /* incomplete body: wait */
    r = parse((char *)buf, 30, REND_PROTO_BINARY, &used);
    ck_assert_int_eq(used, 0);

    /* body shorter than key + extras: error reply, body skipped */
    bin_header(buf, 0x80, 0x01, 10, 8, 4);
    r = parse((char *)buf, 28, REND_PROTO_BINARY, &used);
    ck_assert_int_eq(used, 24);
    ck_assert(fake_conn.swallow == 4);
    ck_assert_int_eq(r->cmd, REND_CMD_REPLY);
    rend_req_free(r);

    /* absurd body length: refused without buffering */
    bin_header(buf, 0x80, 0x01, 1, 8, 0xffffff00u);
    r = parse((char *)buf, 24, REND_PROTO_BINARY, &used);
    ck_assert_int_eq(used, 24);
    ck_assert(fake_conn.swallow == 0xffffff00u);
    ck_assert_int_eq(r->status, REND_ETOOBIG);
    rend_req_free(r);

    /* bad magic: error reply, then the connection closes */
    bin_header(buf, 0x42, 0x00, 0, 0, 0);
    r = parse((char *)buf, 24, REND_PROTO_BINARY, &used);
    ck_assert_int_eq(used, -1);
    ck_assert_int_eq(r->cmd, REND_CMD_REPLY);
    rend_req_free(r);

    /* unknown opcode: status 0x81, stays open */
    bin_header(buf, 0x80, 0x77, 0, 0, 0);
    r = parse((char *)buf, 24, REND_PROTO_BINARY, &used);
    ck_assert_int_eq(used, 24);
    ck_assert_int_eq(r->status, 0x81);
    rend_req_free(r);
}
END_TEST

/* ---- request ownership (rend_req_own) ----------------------------- */

/* "set <key> 0 0 <n>\r\n" + n bytes + "\r\n" + tail, in a malloc'd input
 * buffer of cap bytes on fake_conn, parsed; rpos is past the set as in
 * process().  Returns the request; *value is where its value was parsed. */
static struct rend_req *
own_parse(size_t n, const char *tail, size_t cap, const char **value)
{
    char hdr[64];
    int hl = snprintf(hdr, sizeof(hdr), "set big 0 0 %zu\r\n", n);
    size_t nt = strlen(tail), total = (size_t)hl + n + 2 + nt;
    char *buf = malloc(cap);
    struct rend_req *r = NULL;
    int used;

    ck_assert_ptr_nonnull(buf);
    ck_assert(total <= cap);
    memcpy(buf, hdr, (size_t)hl);
    for (size_t i = 0; i < n; i++) {
        buf[hl + i] = (char)('a' + i % 23);
    }
    memcpy(buf + hl + n, "\r\n", 2);
    memcpy(buf + hl + n + 2, tail, nt);
    memset(&fake_conn, 0, sizeof(fake_conn));
    fake_conn.w = &fake_worker;
    fake_conn.proto = REND_PROTO_TEXT;
    fake_conn.proto_known = 1;
    fake_conn.rbuf = buf;
    fake_conn.rcap = (uint32_t)cap;
    fake_conn.rlen = (uint32_t)total;
    used = rend_text_parse(&fake_conn, &r);
    ck_assert_int_eq(used, hl + (int)n + 2);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->cmd, REND_CMD_SET);
    fake_conn.rpos = (uint32_t)used;
    *value = r->value;
    return r;
}

static void
own_check_value(const struct rend_req *r, size_t n)
{
    ck_assert_uint_eq(r->nvalue, n);
    for (size_t i = 0; i < n; i++) {
        if (r->value[i] != (char)('a' + i % 23)) {
            ck_abort_msg("value byte %zu differs", i);
        }
    }
    ck_assert(r->kops[0].op.nkey == 3
              && memcmp(r->kops[0].op.key, "big", 3) == 0);
}

/* A 100 KB value still in the input buffer is owned without a copy: the
 * request takes the buffer (its value stays where it was parsed), and
 * the connection goes on with a fresh buffer of the same size holding the
 * pipelined bytes after the set.  A small value, a long pipelined tail
 * and a buffer far larger than the request are copied as before. */
START_TEST(own_large_value_takes_the_input_buffer)
{
    const char *tail = "get big\r\nset x 0 0 1\r\n";
    const char *v;
    char *old;
    struct rend_req *r;

    r = own_parse(100000, tail, 131072, &v);
    old = fake_conn.rbuf;
    ck_assert_int_eq(rend_req_own(r), 0);
    ck_assert(r->owned);
    ck_assert_ptr_eq(r->value, v);          /* not copied */
    ck_assert_ptr_eq(r->mem, old);          /* the request owns it now */
    ck_assert_ptr_ne(fake_conn.rbuf, old);  /* the connection reads on */
    ck_assert_uint_eq(fake_conn.rcap, 131072);
    ck_assert_uint_eq(fake_conn.rpos, 0);
    ck_assert_uint_eq(fake_conn.rlen, strlen(tail));
    ck_assert(memcmp(fake_conn.rbuf, tail, strlen(tail)) == 0);
    /* the connection's new buffer takes later bytes: the value stays */
    memset(fake_conn.rbuf, 'Z', fake_conn.rcap);
    own_check_value(r, 100000);
    ck_assert_int_eq(rend_req_own(r), 0);   /* idempotent */
    ck_assert_ptr_eq(r->value, v);
    rend_req_free(r);                        /* frees the old buffer */
    free(fake_conn.rbuf);

    /* small: copied into the request, the buffer stays the connection's */
    r = own_parse(100, tail, 16384, &v);
    old = fake_conn.rbuf;
    ck_assert_int_eq(rend_req_own(r), 0);
    ck_assert_ptr_ne(r->value, v);
    ck_assert_ptr_eq(fake_conn.rbuf, old);
    memset(old, 'Z', fake_conn.rcap);
    own_check_value(r, 100);
    rend_req_free(r);
    free(old);

    /* a pipelined tail longer than half the value: copied */
    {
        size_t nt = 60000;
        char *longtail = malloc(nt + 1);
        ck_assert_ptr_nonnull(longtail);
        memset(longtail, 'g', nt);
        longtail[nt] = '\0';
        r = own_parse(100000, longtail, 262144, &v);
        old = fake_conn.rbuf;
        ck_assert_int_eq(rend_req_own(r), 0);
        ck_assert_ptr_ne(r->value, v);
        ck_assert_ptr_eq(fake_conn.rbuf, old);
        ck_assert_uint_eq(fake_conn.rlen - fake_conn.rpos, nt);
        memset(old, 'Z', fake_conn.rcap);
        own_check_value(r, 100000);
        rend_req_free(r);
        free(old);
        free(longtail);
    }

    /* a 40 KB value in a 1 MB buffer (grown by an earlier value): copied,
     * not pinning the whole buffer */
    r = own_parse(40000, "", 1048576, &v);
    old = fake_conn.rbuf;
    ck_assert_int_eq(rend_req_own(r), 0);
    ck_assert_ptr_ne(r->value, v);
    ck_assert_ptr_eq(fake_conn.rbuf, old);
    memset(old, 'Z', fake_conn.rcap);
    own_check_value(r, 40000);
    rend_req_free(r);
    free(old);
}
END_TEST

static Suite *
core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("util");

    tcase_add_test(tc, parse_numbers);
    tcase_add_test(tc, u64toa_digits);
    tcase_add_test(tc, relay_blocks);
    tcase_add_test(tc, exptime_forms);
    suite_add_tcase(s, tc);
    tc = tcase_create("loader");
    tcase_add_test(tc, loader_refuses_bad_plugins);
    tcase_add_test(tc, loader_accepts_inmem);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, config_errors_name_file_and_line);
    tcase_add_test(tc, config_compiles_routes);
    tcase_add_test(tc, config_reload_keeps_unchanged_handlers);
    suite_add_tcase(s, tc);
    tc = tcase_create("parsers");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, command_table_is_the_source);
    tcase_add_test(tc, text_storage_and_retrieval);
    tcase_add_test(tc, text_errors);
    tcase_add_test(tc, meta_parses_into_rows);
    tcase_add_test(tc, text_line_too_long);
    tcase_add_test(tc, binary_frames);
    tcase_add_test(tc, own_large_value_takes_the_input_buffer);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(core_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
