/*
 * check_metrics.c - unit tests of the observability modules: histogram
 * buckets and their per-worker sums, the /metrics page's shape (every
 * `stats` counter has a Prometheus name, one HELP/TYPE per family, samples
 * under their family), /config redaction, /readyz and the reload report.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rend_admin.h"
#include "rend_config.h"
#include "rend_hist.h"
#include "rend_plugin.h"
#include "rend_worker.h"

static void
setup(void)
{
    rend_nworkers = 2;
    rend_workers = calloc(2, sizeof(*rend_workers));
    ck_assert_ptr_nonnull(rend_workers);
}

static void
teardown(void)
{
    free(rend_workers);
    rend_workers = NULL;
    rend_nworkers = 0;
}

START_TEST(hist_buckets)
{
    struct rend_hist h;
    uint64_t n = 0;

    rend_hist_req(0, REND_CMD_SET, 10000);      /* le 10us: inclusive */
    rend_hist_req(1, REND_CMD_SET, 10001);      /* next bucket, worker 1 */
    rend_hist_req(0, REND_CMD_SET, 10000000000ull);
    rend_hist_req(1, REND_CMD_SET, 20000000000ull); /* +Inf */
    rend_hist_req(999, REND_CMD_SET, 1);        /* no such worker: ignored */
    rend_hist_sum_req(REND_CMD_SET, &h);
    ck_assert_uint_eq(h.bucket[0], 1);
    ck_assert_uint_eq(h.bucket[1], 1);
    ck_assert_uint_eq(h.bucket[REND_HIST_NBOUNDS - 1], 1);
    ck_assert_uint_eq(h.bucket[REND_HIST_NBOUNDS], 1);
    for (unsigned i = 0; i <= REND_HIST_NBOUNDS; i++) {
        n += h.bucket[i];
    }
    ck_assert_uint_eq(n, 4);
    ck_assert(h.sum_ns == 10000ull + 10001 + 10000000000ull + 20000000000ull);
    for (unsigned i = 1; i < REND_HIST_NBOUNDS; i++) {
        ck_assert(rend_hist_bounds_ns[i] > rend_hist_bounds_ns[i - 1]);
    }
    ck_assert(rend_hist_bounds_ns[0] == 10000);
    ck_assert(rend_hist_bounds_ns[REND_HIST_NBOUNDS - 1] == 10000000000ull);
    rend_hist_tier(1, 2, REND_OP_GET, 1);
    rend_hist_tier(1, 3, REND_OP_GET, 1);       /* no tier 3: ignored */
    rend_hist_sum_tier(2, REND_OP_GET, &h);
    ck_assert_uint_eq(h.bucket[0], 1);
}
END_TEST

static uint64_t
hist_count(const struct rend_hist *h)
{
    uint64_t n = 0;

    for (unsigned i = 0; i <= REND_HIST_NBOUNDS; i++) {
        n += h->bucket[i];
    }
    return n;
}

static void
nap_ms(long ms)
{
    struct timespec ts = { 0, ms * 1000000L };

    nanosleep(&ts, NULL);
}

/* What issue() does around its hook: the hook first, then the new tier
 * and opcode. */
static void
fake_issue(struct rend_worker *w, struct rend_kop *k, int tier, int code)
{
    REND_HIST_OP_ISSUE(w, k);
    k->tier = (uint8_t)tier;
    k->op.code = (uint16_t)code;
}

static void
fake_req(struct rend_req *r, unsigned cmd)
{
    memset(r, 0, sizeof(*r));
    r->cmd = (uint8_t)cmd;
    r->nkeys = 1;
    r->kops = &r->kop1;
    r->kop1.req = r;
}

/* The hooks as a worker runs them: a single-key request whose one op ends
 * right before it is one observation (a pair) that counts in both the
 * request and the tier series; a second stage, and a request that ends
 * later than its op, are observed separately; nothing is lost or counted
 * twice. */
START_TEST(hist_hooks)
{
    static struct rend_req r, r2, r3, r4;
    struct rend_worker *w = &rend_workers[0];
    const struct rend_hist_worker *hw = &rend_hist_workers[0];
    struct rend_hist h, t1, t2;

    rend_hist_clock_init();
    w->hist = &rend_hist_workers[0];
    w->hist_op_done = rend_hist_op_done_fn();
    /* a set: one op on L1, the request completes right after it */
    fake_req(&r, REND_CMD_SET);
    REND_HIST_REQ_START(w, &r);
    fake_issue(w, &r.kop1, 1, REND_OP_SET);
    nap_ms(2);
    REND_HIST_OP_DONE(w, &r.kop1);
    REND_HIST_OP_DONE(w, &r.kop1); /* a second done counts nothing */
    REND_HIST_REQ_DONE(w, &r);
    ck_assert_uint_eq(hist_count(&hw->pair[REND_CMD_SET][0]), 1);
    ck_assert_uint_eq(hist_count(&hw->req[REND_CMD_SET]), 0);
    ck_assert_uint_eq(hist_count(&hw->tier[0][REND_OP_SET]), 0);
    rend_hist_sum_req(REND_CMD_SET, &h);
    rend_hist_sum_tier(1, REND_OP_SET, &t1);
    ck_assert_uint_eq(hist_count(&h), 1);
    ck_assert_uint_eq(hist_count(&t1), 1);
    ck_assert(h.sum_ns >= 2000000 && h.sum_ns < 2000000000ull);
    ck_assert(h.sum_ns == t1.sum_ns);
    rend_hist_sum_tier(2, REND_OP_SET, &t2);
    ck_assert_uint_eq(hist_count(&t2), 0);

    /* a get: an L1 miss, then L2: two tier observations, one request */
    fake_req(&r2, REND_CMD_GET);
    REND_HIST_REQ_START(w, &r2);
    fake_issue(w, &r2.kop1, 1, REND_OP_GET);
    nap_ms(2);
    REND_HIST_OP_DONE(w, &r2.kop1);
    fake_issue(w, &r2.kop1, 2, REND_OP_GET);
    nap_ms(3);
    REND_HIST_OP_DONE(w, &r2.kop1);
    REND_HIST_REQ_DONE(w, &r2);
    rend_hist_sum_req(REND_CMD_GET, &h);
    rend_hist_sum_tier(1, REND_OP_GET, &t1);
    rend_hist_sum_tier(2, REND_OP_GET, &t2);
    ck_assert_uint_eq(hist_count(&h), 1);
    ck_assert_uint_eq(hist_count(&t1), 1);
    ck_assert_uint_eq(hist_count(&t2), 1);
    ck_assert(t1.sum_ns >= 2000000 && t2.sum_ns >= 3000000);
    ck_assert(h.sum_ns >= t1.sum_ns + t2.sum_ns);

    /* a set whose op completes, then another request runs before it
     * ends: its op and the request are observed apart */
    fake_req(&r3, REND_CMD_SET);
    fake_req(&r4, REND_CMD_DELETE);
    REND_HIST_REQ_START(w, &r3);
    fake_issue(w, &r3.kop1, 1, REND_OP_SET);
    REND_HIST_OP_DONE(w, &r3.kop1);
    REND_HIST_REQ_START(w, &r4);
    fake_issue(w, &r4.kop1, 1, REND_OP_DELETE);
    nap_ms(2);
    REND_HIST_OP_DONE(w, &r4.kop1);
    REND_HIST_REQ_DONE(w, &r4);
    nap_ms(2);
    REND_HIST_REQ_DONE(w, &r3);
    rend_hist_sum_req(REND_CMD_SET, &h);
    rend_hist_sum_tier(1, REND_OP_SET, &t1);
    ck_assert_uint_eq(hist_count(&h), 2);
    ck_assert_uint_eq(hist_count(&t1), 2);
    ck_assert_uint_eq(hist_count(&hw->req[REND_CMD_SET]), 1);
    ck_assert_uint_eq(hist_count(&hw->tier[0][REND_OP_SET]), 1);
    ck_assert(h.sum_ns >= t1.sum_ns + 4000000); /* r3 lasted 4 ms more */
    rend_hist_sum_req(REND_CMD_DELETE, &h);
    ck_assert_uint_eq(hist_count(&h), 1);

    /* the pair of a test's own (rend_hist_pair) reads the same way */
    rend_hist_pair(1, REND_CMD_GET, 2, 15000);
    rend_hist_sum_req(REND_CMD_GET, &h);
    rend_hist_sum_tier(2, REND_OP_GET, &t2);
    ck_assert_uint_eq(hist_count(&h), 2);
    ck_assert_uint_eq(hist_count(&t2), 2);
    ck_assert_uint_eq(rend_hist_workers[1].pair[REND_CMD_GET][1].bucket[1], 1);
}
END_TEST

/* The hooks' clock (the TSC where the kernel keeps time with it) agrees
 * with CLOCK_MONOTONIC over a sleep. */
START_TEST(hist_clock)
{
    uint64_t m0, m1, t0, t1, ns, d;

    rend_hist_clock_init();
    m0 = rend_hist_mono_ns();
    t0 = rend_hist_ticks();
    nap_ms(50);
    t1 = rend_hist_ticks();
    m1 = rend_hist_mono_ns();
    ns = rend_hist_ns(t1 - t0);
    d = m1 - m0;
    fprintf(stderr, "hist_clock: %s, %llu ns by the hooks' clock, %llu by "
            "CLOCK_MONOTONIC\n", rend_hist_use_tsc ? "TSC" : "clock_gettime",
            (unsigned long long)ns, (unsigned long long)d);
    ck_assert(ns <= d);
    ck_assert(ns >= d - d / 200 - 20000); /* within 0.5% (+20 us) */
}
END_TEST

START_TEST(hist_clock_forced)
{
    setenv("REND_HIST_CLOCK", "monotonic", 1);
    rend_hist_clock_init();
    ck_assert_int_eq(rend_hist_use_tsc, 0);
    ck_assert(rend_hist_mult == 1ull << 32);
    ck_assert(rend_hist_ns(12345) == 12345);
}
END_TEST

/* a fake handler instance: stats say what `servers_down` says */
static int servers_down;

static void
fake_stats(void *inst, rend_stat_emit_f *emit, void *ud)
{
    (void)inst;
    emit(ud, "server_0_addr", "127.0.0.1:1");
    emit(ud, "server_0_state", servers_down ? "down" : "up");
    emit(ud, "server_0_requests", "7");
    emit(ud, "items", "3");
    emit(ud, "odd \"name\"", "1.5");
    emit(ud, "mode", "not a number");
    /* a histogram by handler.h's naming rule, and a lone _count */
    emit(ud, "lat_seconds_le_1e-05", "1");
    emit(ud, "lat_seconds_le_0.001", "3");
    emit(ud, "lat_seconds_sum", "0.002");
    emit(ud, "lat_seconds_count", "4");
    emit(ud, "odd_count", "5");
}

static struct rend_hinst *
fake_hinst(const char *name, const char *identity)
{
    struct rend_hinst *hi = calloc(1, sizeof(*hi));

    ck_assert_ptr_nonnull(hi);
    hi->name = (char *)name;
    hi->plugin_name = (char *)"fake";
    hi->identity = (char *)identity;
    hi->h.stats = fake_stats;
    return hi;
}

START_TEST(metrics_page)
{
    struct rend_hinst *hi = fake_hinst("mc", "fake\nservers=x");
    struct rend_gen g;
    struct rend_buf b = { 0 };
    char types[200][128];
    unsigned ntypes = 0;
    char *line, *save = NULL;

    memset(&g, 0, sizeof(g));
    g.id = 7;
    g.admin_port = -1;
    g.hinsts = &hi;
    g.nhinsts = 1;
    rend_metrics_render(&b, &g);
    ck_assert(!b.failed);
    /* every REND_STATS_MAP counter has its own name */
    ck_assert_ptr_null(strstr(b.p, "rend_stats_counter_total"));
    ck_assert_ptr_nonnull(strstr(b.p, "\nrend_config_generation 7\n"));
    ck_assert_ptr_nonnull(strstr(b.p,
        "\nrend_backend_up{handler=\"mc\",server=\"127.0.0.1:1\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(b.p,
        "\nrend_backend_requests_total{handler=\"mc\",server=\"127.0.0.1:1\"} 7\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "\nrend_handler_items{handler=\"mc\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(b.p,
        "rend_handler_stat{handler=\"mc\",name=\"odd \\\"name\\\"\"} 1.5\n"));
    ck_assert_ptr_null(strstr(b.p, "not a number"));
    ck_assert_ptr_nonnull(strstr(b.p,
        "\n# TYPE rend_handler_lat_seconds histogram\n"
        "rend_handler_lat_seconds_bucket{handler=\"mc\",le=\"1e-05\"} 1\n"
        "rend_handler_lat_seconds_bucket{handler=\"mc\",le=\"0.001\"} 3\n"
        "rend_handler_lat_seconds_bucket{handler=\"mc\",le=\"+Inf\"} 4\n"
        "rend_handler_lat_seconds_sum{handler=\"mc\"} 0.002\n"
        "rend_handler_lat_seconds_count{handler=\"mc\"} 4\n"));
    ck_assert_ptr_null(strstr(b.p, "name=\"lat_seconds"));
    ck_assert_ptr_nonnull(strstr(b.p,
        "rend_handler_stat{handler=\"mc\",name=\"odd_count\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(b.p,
        "rend_request_duration_seconds_bucket{command=\"get\",le=\"1e-05\"}"));
    ck_assert_ptr_nonnull(strstr(b.p,
        "rend_request_duration_seconds_bucket{command=\"get\",le=\"+Inf\"}"));
    /* one TYPE per family; every sample belongs to the family above it */
    for (line = strtok_r(b.p, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char name[128];
        if (strncmp(line, "# TYPE ", 7) == 0) {
            ck_assert_int_eq(sscanf(line + 7, "%127s", name), 1);
            for (unsigned i = 0; i < ntypes; i++) {
                ck_assert_msg(strcmp(types[i], name) != 0, "TYPE %s twice",
                              name);
            }
            ck_assert_uint_lt(ntypes, 200);
            strcpy(types[ntypes++], name);
        } else if (line[0] != '#') {
            const char *fam = ntypes ? types[ntypes - 1] : "";
            ck_assert_msg(strncmp(line, fam, strlen(fam)) == 0,
                          "sample %s outside family %s", line, fam);
        }
    }
    rend_buf_free(&b);
    free(hi);
}
END_TEST

START_TEST(config_redacts)
{
    struct rend_hinst *hi = fake_hinst("l1",
        "fake\nauth_password=hunter2\nmemory_mb=5\ntls_key=abc\n"
        "api_token=zzz\nkey_prefix=ok");
    struct rend_gen g;
    struct rend_buf b = { 0 };

    memset(&g, 0, sizeof(g));
    g.admin_port = -1;
    g.source = (char *)"t.lua";
    g.hinsts = &hi;
    g.nhinsts = 1;
    rend_admin_config(&b, &g);
    ck_assert_ptr_null(strstr(b.p, "hunter2"));
    ck_assert_ptr_null(strstr(b.p, "abc"));
    ck_assert_ptr_null(strstr(b.p, "zzz"));
    ck_assert_ptr_nonnull(strstr(b.p, "\"memory_mb\": \"5\""));
    ck_assert_ptr_nonnull(strstr(b.p, "\"key_prefix\": \"ok\""));
    ck_assert_ptr_nonnull(strstr(b.p, "\"tls_key\": \"(redacted)\""));
    rend_buf_free(&b);
    free(hi);
}
END_TEST

START_TEST(ready_and_diff)
{
    struct rend_hinst *a = fake_hinst("a", "fake");
    struct rend_hinst *c = fake_hinst("c", "fake");
    struct rend_hinst *old_h[2] = { a, c }, *new_h[1] = { a };
    struct rend_gen old, g;
    struct rend_buf b = { 0 };
    char why[256];

    memset(&old, 0, sizeof(old));
    memset(&g, 0, sizeof(g));
    old.hinsts = old_h;
    old.nhinsts = 2;
    old.nlisteners = 1;
    old.id = 1;
    old.admin_port = -1;
    g.hinsts = new_h;
    g.nhinsts = 1;
    g.nlisteners = 1;
    g.id = 2;
    g.admin_port = 9150;
    g.admin_address = (char *)"127.0.0.1";
    g.source = (char *)"t.lua";
    servers_down = 0;
    ck_assert_int_eq(rend_admin_ready(&old, why, sizeof(why)), 1);
    servers_down = 1;
    ck_assert_int_eq(rend_admin_ready(&old, why, sizeof(why)), 0);
    ck_assert_ptr_nonnull(strstr(why, "handler a: all 1 memcached server"));
    servers_down = 0;
    rend_admin_diff(&b, &old, &g);
    ck_assert_ptr_nonnull(strstr(b.p, "generation 1 -> 2"));
    ck_assert_ptr_nonnull(strstr(b.p, "handlers kept: a\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "handlers added: (none)\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "handlers dropped: c\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "admin changed"));
    rend_buf_free(&b);
    free(a);
    free(c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, hist_buckets);
    tcase_add_test(tc, hist_hooks);
    tcase_add_test(tc, hist_clock);
    tcase_add_test(tc, hist_clock_forced);
    tcase_add_test(tc, metrics_page);
    tcase_add_test(tc, config_redacts);
    tcase_add_test(tc, ready_and_diff);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
