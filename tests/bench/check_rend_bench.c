/*
 * check_rend_bench.c - rend-bench against real servers: every subcommand,
 * text, binary and meta, against rend (conf/inmem.lua and the default
 * L1/L2) and memcached; a deliberately wrong server (the fault
 * plugin's corrupt= and stale= options) must be caught with exit status 1;
 * --json output parses and --plot writes an SVG.
 *
 * Runs are bounded by request counts, never judged on a wall-clock figure.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rend_check.h"
#include "rend_server.h"

/* Small runs: enough for every op type to appear a few hundred times. */
static const char *const runs[] = {
    "blast -n 6000 -w 4",
    "setget -n 3000 -w 4 --strict",
    "sizes --max 60000 --step 500 -w 4 --strict",
    "fill -n 1500 -w 4 --keys 500",
    "setops -n 6000 -w 4",
    "bench -n 20000 -c 8 -d 4 --warmup 0.2 --mget 3 --dist zipfian -v 10-300",
};
#define NRUNS (sizeof(runs) / sizeof(runs[0]))

static const char *
bench_bin(void)
{
    static char path[512];
    const char *b = getenv("REND_BUILDDIR");

    snprintf(path, sizeof(path), "%s/bench/rend-bench", b ? b : "..");
    return path;
}

/* Runs rend-bench with args against srv; returns its exit status and
 * its output (stdout and stderr) in *out (caller frees). */
static int
run_bench(const struct rend_srv *srv, const char *args, char **out)
{
    char cmd[2048], target[200];
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    FILE *p;
    int st;

    if (srv->path[0] != '\0') {
        snprintf(target, sizeof(target), "--unix %s", srv->path);
    } else {
        snprintf(target, sizeof(target), "-h 127.0.0.1 -p %d", srv->port);
    }
    snprintf(cmd, sizeof(cmd), "%s %s %s -q --timeout 20 2>&1", bench_bin(),
             args, target);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    for (;;) {
        size_t n;

        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        n = fread(buf + len, 1, cap - len - 1, p);
        if (n == 0) {
            break;
        }
        len += n;
    }
    buf[len] = '\0';
    st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
expect_ok(const struct rend_srv *srv, const char *args)
{
    char *out;
    int rc = run_bench(srv, args, &out);

    ck_assert_msg(rc == 0 && strstr(out, "VERDICT ok") != NULL,
                  "rend-bench %s: exit %d\n%s", args, rc, out);
    free(out);
}

static void
every_run(const struct rend_srv *srv, const char *proto)
{
    char args[512];

    for (size_t i = 0; i < NRUNS; i++) {
        snprintf(args, sizeof(args), "%s %s", runs[i], proto);
        expect_ok(srv, args);
    }
}

static void
start_inmem(struct rend_srv *s)
{
    char conf[512];

    snprintf(conf, sizeof(conf), "%s/conf/inmem.lua",
             getenv("REND_SRCDIR") ? getenv("REND_SRCDIR") : "..");
    setenv("REND_MEMORY_MB", "256", 1);
    ck_assert_int_eq(rend_srv_start(s, conf, NULL), 0);
}

START_TEST(rend_inmem_text_binary)
{
    struct rend_srv s;

    start_inmem(&s);
    every_run(&s, "-t");
    every_run(&s, "-b");
    every_run(&s, "--meta");
    ck_assert_int_eq(rend_srv_stop(&s, 5000, NULL), 0);
}
END_TEST

START_TEST(rend_default_l1l2)
{
    struct rend_srv s;
    char data[64], cmd[128];

    snprintf(data, sizeof(data), "/tmp/rend-bench-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(data));
    setenv("REND_DATA", data, 1);
    ck_assert_int_eq(rend_srv_start(&s, NULL, NULL), 0);
    every_run(&s, "-t");
    every_run(&s, "-b");
    every_run(&s, "--meta");
    ck_assert_int_eq(rend_srv_stop(&s, 5000, NULL), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
    ck_assert_int_eq(system(cmd), 0);
    unsetenv("REND_DATA");
}
END_TEST

START_TEST(memcached_text_binary_meta)
{
    struct rend_srv s;
    const char *const extra[] = { "-m", "256", NULL };
    int rc = rend_srv_start_memcached(&s, extra);

    ck_assert_msg(rc == 0, "memcached is required (install-deps.sh installs it)");
    every_run(&s, "-t");
    every_run(&s, "-b");
    every_run(&s, "--meta");
    /* the open loop at a modest rate, by count */
    expect_ok(&s, "bench -n 3000 -c 4 --rate 20000 --warmup 0");
    rend_srv_stop(&s, 3000, NULL);
}
END_TEST

/* rend on the fault plugin with these options (a wrong server). */
static void
start_fault(struct rend_srv *s, const char *opts, char *conf, size_t n)
{
    const char *dir = getenv("REND_TEST_PLUGIN_DIR");
    FILE *f;
    int fd;

    snprintf(conf, n, "/tmp/rend-bench-fault-XXXXXX");
    fd = mkstemp(conf);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fprintf(f, "local l1 = handler \"fault\" {\n"
            "    plugin_path = \"%s/rend_fault.so\", name = \"l1\", %s }\n"
            "listen { address = \"127.0.0.1\", port = 0,"
            " routes = { default = l1only(l1) } }\n",
            dir ? dir : "plugins/.libs", opts);
    fclose(f);
    ck_assert_int_eq(rend_srv_start(s, conf, NULL), 0);
}

static void
expect_mismatch(const char *opts, const char *args, const char *kind)
{
    struct rend_srv s;
    char conf[64], want[64], *out;
    int rc;

    start_fault(&s, opts, conf, sizeof(conf));
    rc = run_bench(&s, args, &out);
    snprintf(want, sizeof(want), "MISMATCH (%s)", kind);
    ck_assert_msg(rc == 1 && strstr(out, want) != NULL
                  && strstr(out, "VERDICT mismatch") != NULL,
                  "%s with %s: exit %d, want 1 and '%s'\n%s", args, opts, rc,
                  want, out);
    /* the report names the key */
    ck_assert_ptr_nonnull(strstr(out, " key "));
    free(out);
    ck_assert_int_eq(rend_srv_stop(&s, 5000, NULL), 0);
    unlink(conf);
}

START_TEST(finds_corruption)
{
    expect_mismatch("corrupt = 100", "setget -n 3000 -w 4", "corrupt");
    expect_mismatch("corrupt = 100", "setget -n 3000 -w 4 -b", "corrupt");
    expect_mismatch("corrupt = 100", "bench -n 5000 -c 4", "corrupt");
    expect_mismatch("corrupt = 100", "sizes --max 100000 --step 100 -w 4",
                    "corrupt");
}
END_TEST

/* --strict: a key that must exist and is not found */
START_TEST(finds_lost_keys)
{
    expect_mismatch("fail_get = \"miss\", fail_prefix = \"AAB\"",
                    "setget -n 3000 -w 4 --strict", "lost");
}
END_TEST

START_TEST(finds_stale_values)
{
    expect_mismatch("stale = 10", "bench -n 5000 -c 4 --ratio 0.5", "stale");
    expect_mismatch("stale = 10", "bench -n 5000 -c 4 --ratio 0.5 -b",
                    "stale");
    expect_mismatch("stale = 5", "setops -n 6000 -w 4 --keys 200",
                    "stale");
}
END_TEST

/* The fault plugin without faults is a correct server. */
START_TEST(fault_plugin_clean)
{
    struct rend_srv s;
    char conf[64];

    start_fault(&s, "corrupt = 0", conf, sizeof(conf));
    expect_ok(&s, "setget -n 2000 -w 4");
    expect_ok(&s, "blast -n 4000 -w 4 -b");
    ck_assert_int_eq(rend_srv_stop(&s, 5000, NULL), 0);
    unlink(conf);
}
END_TEST

/* ---- a small JSON reader: validates the text and finds top-level
 * numbers and objects by key ------------------------------------------ */

static const char *json_value(const char *p);

static const char *
json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
        p++;
    }
    return p;
}

static const char *
json_string(const char *p)
{
    if (*p != '"') {
        return NULL;
    }
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\') {
            p++;
            if (*p == '\0') {
                return NULL;
            }
        }
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *
json_number(const char *p)
{
    char *end;

    strtod(p, &end);
    return end == p ? NULL : end;
}

static const char *
json_seq(const char *p, char close, int keys)
{
    p = json_ws(p + 1);
    if (*p == close) {
        return p + 1;
    }
    for (;;) {
        if (keys) {
            p = json_string(json_ws(p));
            if (p == NULL || *(p = json_ws(p)) != ':') {
                return NULL;
            }
            p++;
        }
        p = json_value(json_ws(p));
        if (p == NULL) {
            return NULL;
        }
        p = json_ws(p);
        if (*p == close) {
            return p + 1;
        }
        if (*p != ',') {
            return NULL;
        }
        p++;
    }
}

static const char *
json_value(const char *p)
{
    p = json_ws(p);
    switch (*p) {
    case '{': return json_seq(p, '}', 1);
    case '[': return json_seq(p, ']', 0);
    case '"': return json_string(p);
    case 't': return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default: return json_number(p);
    }
}

/* The number after "key": in the text (first occurrence). */
static double
json_num(const char *text, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    p = strstr(text, pat);
    ck_assert_msg(p != NULL, "no %s in the JSON", key);
    return strtod(p + strlen(pat), NULL);
}

/* The unsigned number after " key=" in a RESULT line. */
static unsigned long long
result_num(const char *out, const char *key)
{
    char pat[64];
    const char *p = strstr(out, "RESULT ");

    ck_assert_msg(p != NULL, "no RESULT line:\n%s", out);
    snprintf(pat, sizeof(pat), " %s=", key);
    p = strstr(p, pat);
    ck_assert_msg(p != NULL, "no %s in the RESULT line:\n%s", key, out);
    return strtoull(p + strlen(pat), NULL, 10);
}

/* A multi-get bench: every request names --mget keys, and the RESULT line
 * counts them (keys, keys_s), text and binary (getkq batch + noop). */
START_TEST(mget_counts_keys)
{
    struct rend_srv s;
    const char *const protos[] = { "-t", "-b", "--meta" };

    start_inmem(&s);
    for (unsigned i = 0; i < 3; i++) {
        char args[256], *out;
        unsigned long long ops, keys;
        int rc;

        snprintf(args, sizeof(args), "bench -n 3000 -c 4 --warmup 0 "
                 "--mget 100 --ratio 1 --keys 2000 %s", protos[i]);
        rc = run_bench(&s, args, &out);
        ck_assert_msg(rc == 0 && strstr(out, "VERDICT ok") != NULL,
                      "rend-bench %s: exit %d\n%s", args, rc, out);
        ops = result_num(out, "ops");
        keys = result_num(out, "keys");
        ck_assert_msg(ops > 0 && keys == ops * 100, "%s: %llu requests, "
                      "%llu keys\n%s", args, ops, keys, out);
        ck_assert(result_num(out, "keys_s") > 0);
        free(out);
    }
    ck_assert_int_eq(rend_srv_stop(&s, 5000, NULL), 0);
}
END_TEST

START_TEST(json_and_plot)
{
    struct rend_srv s;
    const char *const extra[] = { "-m", "64", NULL };
    char args[256], svg[64], *out, *json, head[64];
    const char *end;
    FILE *f;
    int rc = rend_srv_start_memcached(&s, extra);

    ck_assert_msg(rc == 0, "memcached is required");
    snprintf(svg, sizeof(svg), "/tmp/rend-bench-plot-XXXXXX");
    ck_assert_int_ge(mkstemp(svg), 0);
    snprintf(args, sizeof(args), "bench -n 30000 -c 4 --json --plot %s "
             "--interval 0.1", svg);
    rc = run_bench(&s, args, &out);
    ck_assert_msg(rc == 0, "exit %d\n%s", rc, out);
    json = strchr(out, '{');
    ck_assert_ptr_nonnull(json);
    end = json_value(json);
    ck_assert_msg(end != NULL && *json_ws(end) == '\0',
                  "not one JSON object:\n%s", out);
    ck_assert_int_eq((int)json_num(json, "requests"), 30000);
    ck_assert_int_eq((int)json_num(json, "mismatches"), 0);
    ck_assert_int_eq((int)json_num(json, "total"), 0);
    ck_assert(json_num(json, "ops_per_sec") > 0);
    ck_assert(json_num(json, "p99") >= json_num(json, "p50"));
    ck_assert_ptr_nonnull(strstr(json, "\"ok\":true"));
    ck_assert_ptr_nonnull(strstr(json, "\"samples\":["));
    free(out);
    f = fopen(svg, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_gt(fread(head, 1, sizeof(head) - 1, f), 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(head, "<?xml"));
    unlink(svg);
    rend_srv_stop(&s, 3000, NULL);
}
END_TEST

/* A server that answers every request with a line no protocol has: the
 * replies are wrong data, reported as PROTOCOL ERROR, exit status 1. */
START_TEST(finds_garbage_replies)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    struct rend_srv s;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), rc;
    pid_t pid;
    char *out;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(lfd, 16), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (;;) {
            int fd = accept(lfd, NULL, NULL);
            char buf[4096];

            while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0) {
                if (write(fd, "BOGUS\r\n", 7) != 7) {
                    break;
                }
            }
            if (fd >= 0) {
                close(fd);
            }
        }
    }
    close(lfd);
    memset(&s, 0, sizeof(s));
    s.port = ntohs(a.sin_port);
    rc = run_bench(&s, "setget -n 20 -w 1", &out);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_msg(rc == 1 && strstr(out, "PROTOCOL ERROR") != NULL
                  && strstr(out, "BOGUS") != NULL, "exit %d\n%s", rc, out);
    free(out);
}
END_TEST

START_TEST(usage_errors)
{
    struct rend_srv s = { .port = 1 };
    char *out;

    ck_assert_int_eq(run_bench(&s, "nosuch", &out), 2);
    free(out);
    ck_assert_int_eq(run_bench(&s, "blast --bogus", &out), 2);
    free(out);
    /* nothing listens on port 1 */
    ck_assert_int_eq(run_bench(&s, "setget -n 10", &out), 2);
    free(out);
    ck_assert_int_eq(run_bench(&s, "--help", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "setops"));
    free(out);
}
END_TEST

/* stats total_connections of s, or -1 */
static long
total_connections(const struct rend_srv *s)
{
    char line[256];
    long v = -1;
    int fd = rend_srv_connect(s);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(rend_io_send_str(fd, "stats\r\n", 2000), 0);
    while (rend_io_read_line(fd, line, sizeof(line), 2000) > 0
           && strncmp(line, "END", 3) != 0) {
        sscanf(line, "STAT total_connections %ld", &v);
    }
    close(fd);
    return v;
}

/* --idle N opens N more connections for the run (and keeps them silent:
 * the run still verifies). */
START_TEST(idle_connections)
{
    struct rend_srv s;
    long before, after;

    start_inmem(&s);
    before = total_connections(&s);
    expect_ok(&s, "bench -n 2000 -c 2 --idle 40 --warmup 0 -k 100");
    after = total_connections(&s);
    /* 2 active + 40 idle, plus our own stats connection */
    ck_assert_msg(after - before >= 43, "total_connections %ld -> %ld",
                  before, after);
    ck_assert_int_eq(rend_srv_stop(&s, 5000, NULL), 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("rend-bench");
    TCase *tc = tcase_create("servers");

    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, rend_inmem_text_binary);
    tcase_add_test(tc, rend_default_l1l2);
    tcase_add_test(tc, memcached_text_binary_meta);
    tcase_add_test(tc, fault_plugin_clean);
    tcase_add_test(tc, finds_corruption);
    tcase_add_test(tc, finds_stale_values);
    tcase_add_test(tc, finds_lost_keys);
    tcase_add_test(tc, finds_garbage_replies);
    tcase_add_test(tc, mget_counts_keys);
    tcase_add_test(tc, json_and_plot);
    tcase_add_test(tc, idle_connections);
    suite_add_tcase(s, tc);
    return rend_check_main(s);
}
