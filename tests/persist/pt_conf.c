/*
 * pt_conf.c - every shipped config loads: each conf/NAME.lua passes
 * `rend --check-config --config FILE` (REND_DATA set to a temp dir), and every
 * conf/NAME.lua is listed in conf/Makefile.am's dist_conf_DATA, so what is
 * checked here is what gets installed.  The two memcached examples also
 * run against real memcached servers: rend-production.lua (chunked L1 on
 * a unix socket + lmdb L2 + batch port) and memcached-pool.lua (three
 * servers, two replicas per key).
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_check.h"
#include "pt_util.h"
#include "rend_server.h"

static const char *
srcdir(void)
{
    const char *s = getenv("REND_SRCDIR");

    return s != NULL && *s != '\0' ? s : "..";
}

/* The plugin a config needs that this build left out (configure
 * --without-rocksdb, --without-lmdb), or NULL. */
static const char *
missing_plugin(const char *file)
{
    static const char *const optional[] = { "rocksdb", "lmdb" };
    static char name[64];
    char text[16384], decl[64], so[768];
    const char *pdir = getenv("REND_PLUGIN_DIR");
    FILE *f = fopen(file, "r");
    size_t n;

    if (f == NULL || pdir == NULL || *pdir == '\0') {
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
        snprintf(decl, sizeof(decl), "handler \"%s\"", optional[i]);
        snprintf(so, sizeof(so), "%s/rend_%s.so", pdir, optional[i]);
        if (strstr(text, decl) != NULL && access(so, F_OK) != 0) {
            snprintf(name, sizeof(name), "%s", optional[i]);
            return name;
        }
    }
    return NULL;
}

/* The dist_conf_DATA line of conf/Makefile.am, into out. */
static void
read_dist_list(char *out, size_t cap)
{
    char path[512], line[1024];
    FILE *f;

    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/conf/Makefile.am", srcdir());
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "dist_conf_DATA", 14) == 0) {
            snprintf(out, cap, " %s ", strchr(line, '=') + 1);
        }
    }
    fclose(f);
    for (char *p = out; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\t') {
            *p = ' ';
        }
    }
    ck_assert_msg(out[0] != '\0', "no dist_conf_DATA in %s", path);
}

START_TEST(shipped_configs_check)
{
    char dir[512], file[768], data[] = "/tmp/rend-conf-XXXXXX";
    char dist[1024], word[300], cmd[64];
    struct dirent *e;
    DIR *d;
    int checked = 0;

    read_dist_list(dist, sizeof(dist));
    ck_assert_ptr_nonnull(mkdtemp(data));
    setenv("REND_DATA", data, 1);
    snprintf(dir, sizeof(dir), "%s/conf", srcdir());
    d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        const char *args[] = { "--check-config", "--config", file, NULL };
        char *err = NULL;
        int rc;

        if (len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0) {
            continue;
        }
        snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        if (missing_plugin(file) != NULL) {
            printf("%s: skipped, the %s plugin is not built\n", e->d_name,
                   missing_plugin(file));
            continue;
        }
        rc = rend_srv_run(args, 30000, &err);
        ck_assert_msg(rc == 0, "rend --check-config --config %s: exit %d: %s",
                      file, rc, err ? err : "");
        free(err);
        snprintf(word, sizeof(word), " %s ", e->d_name);
        ck_assert_msg(strstr(dist, word) != NULL,
                      "conf/%s is not in conf/Makefile.am dist_conf_DATA",
                      e->d_name);
        checked++;
    }
    closedir(d);
    printf("%d shipped configs pass --check-config\n", checked);
    /* rend.lua inmem.lua l1l2-batch.lua rocksdb.lua rend-production.lua
     * memcached-pool.lua at least */
    ck_assert_int_ge(checked, 6);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The check must be able to fail, and every plugin follows one rule for
 * unknown options: refused, with the option named (a typo is caught). */
START_TEST(bad_config_refused)
{
    static const char *const handlers[] = {
        "handler \"lmdb\" { name = \"l1\", no_such = 1,\n"
        "    path = env(\"REND_DATA\", \"data\") .. \"/lmdb\" }\n",
        "handler \"inmem\" { name = \"l1\", no_such = 1 }\n",
        "handler \"memcached\" { name = \"l1\", no_such = 1,\n"
        "    servers = \"127.0.0.1:1\" }\n",
#ifdef HAVE_ROCKSDB
        "handler \"rocksdb\" { name = \"l1\", no_such = 1,\n"
        "    path = env(\"REND_DATA\", \"data\") .. \"/rocks\" }\n",
#endif
    };

    for (size_t h = 0; h < sizeof(handlers) / sizeof(handlers[0]); h++) {
        char file[] = "/tmp/rend-conf-bad-XXXXXX";
        char data[] = "/tmp/rend-conf-XXXXXX";
        char cmd[64];
        const char *args[] = { "--check-config", "--config", file, NULL };
        int fd = mkstemp(file), rc;
        char *err = NULL;
        FILE *f;

        ck_assert_int_ge(fd, 0);
        ck_assert_ptr_nonnull(mkdtemp(data));
        setenv("REND_DATA", data, 1);
        f = fdopen(fd, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "local l1 = %s"
                "listen { port = 0, routes = { default = l1only(l1) } }\n",
                handlers[h]);
        fclose(f);
        rc = rend_srv_run(args, 30000, &err);
        unlink(file);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_msg(rc == 1, "%s: --check-config exited %d", handlers[h],
                      rc);
        ck_assert_msg(err != NULL && strstr(err, "no_such") != NULL,
                      "%s: the refusal does not name the option: %s",
                      handlers[h], err ? err : "(none)");
        free(err);
    }
}
END_TEST

/* --check-config on `text` must fail and name `needle` in its message. */
static void
expect_refused(const char *text, const char *needle)
{
    char file[] = "/tmp/rend-conf-lim-XXXXXX";
    const char *args[] = { "--check-config", "--config", file, NULL };
    int fd = mkstemp(file), rc;
    char *err = NULL;
    FILE *f;

    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    rc = rend_srv_run(args, 30000, &err);
    unlink(file);
    ck_assert_msg(rc == 1, "accepted (exit %d): %s", rc, text);
    ck_assert_msg(err != NULL && strstr(err, needle) != NULL,
                  "refusal does not say '%s': %s", needle, err ? err : "");
    free(err);
}

/* Every limit either works or is refused with file:line and a reason. */
START_TEST(limits_refused_with_a_line)
{
    char text[16384];
    size_t n = 0;

    n += (size_t)snprintf(text + n, sizeof(text) - n,
                          "local l1 = handler \"inmem\" { name = \"l1\" }\n");
    for (int i = 0; i < 65; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "listen { port = 0, routes = { default = "
                              "l1only(l1) } }\n");
    }
    expect_refused(text, ":66: listen: at most 64 listeners");
    expect_refused("settings { item_size_max = 10 }\n",
                   ":1: settings: item_size_max must be");
    expect_refused("settings { threads = 100000 }\n",
                   ":1: settings: threads must be");
    expect_refused("settings { threads = 1.5 }\n",
                   ":1: settings: threads must be a non-negative integer");
}
END_TEST

/* Every allocation of the config compiler can fail and each failure is a
 * clean refusal ("out of memory", exit 1), never a crash: the N-th
 * allocation fails for N = 1, 2, ... until the config compiles. */
START_TEST(allocation_failures_are_refusals)
{
    char file[] = "/tmp/rend-conf-oom-XXXXXX", env[32];
    const char *args[] = { "--check-config", "--config", file, NULL };
    int fd = mkstemp(file), n, rc = 1;
    FILE *f;

    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs("local a = handler \"inmem\" { name = \"a\", memory_mb = 8 }\n"
          "local b = handler \"inmem\" { name = \"b\", memory_mb = 8,\n"
          "    eviction = \"lru\" }\n"
          "listen { port = 0, address = \"127.0.0.1\", routes = {\n"
          "    default = l1only(a), get = l1only(b),\n"
          "    prefix = { [\"x:\"] = l1only(b), [\"yy:\"] = { default ="
          " l1only(a) } } } }\n"
          "listen { port = 0, routes = { default = l1only(b) } }\n", f);
    fclose(f);
    for (n = 1; n < 500; n++) {
        char *err = NULL;
        snprintf(env, sizeof(env), "%d", n);
        setenv("REND_TEST_ALLOC_FAIL", env, 1);
        rc = rend_srv_run(args, 30000, &err);
        ck_assert_msg(rc == 0 || rc == 1, "allocation %d: exit %d: %s", n,
                      rc, err ? err : "");
        if (rc == 1) {
            ck_assert_msg(err != NULL && strstr(err, "out of memory"),
                          "allocation %d: refused without saying why: %s",
                          n, err ? err : "");
        }
        free(err);
        if (rc == 0) {
            break; /* past the last allocation */
        }
    }
    unsetenv("REND_TEST_ALLOC_FAIL");
    unlink(file);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_gt(n, 10); /* the hook did reach the compiler */
}
END_TEST

/* Start rend on conf/NAME with the instance's data dir. */
static void
start_shipped(struct pt_inst *in, const char *name)
{
    ck_assert_int_eq(pt_inst_init(in, "l1l2-lmdb.lua"), 0);
    snprintf(in->conf, sizeof(in->conf), "%s/conf/%s", srcdir(), name);
    setenv("REND_PORT", "0", 1);
    setenv("REND_BATCH_PORT", "0", 1);
    setenv("REND_ADDRESS", "127.0.0.1", 1);
    setenv("REND_ADMIN_PORT", "0", 1); /* rend-production.lua declares admin{} */
    ck_assert_int_eq(pt_inst_start(in), 0);
}

/* A text command straight to a memcached on a unix socket. */
static void
mc_cmd(const struct rend_srv *mc, const char *req, char *out, size_t cap)
{
    struct rend_cli c;

    c.off = c.len = 0;
    c.fd = rend_srv_connect(mc);
    ck_assert_int_ge(c.fd, 0);
    ck_assert_int_ge(rend_cli_cmd(&c, req, out, cap, REND_CLI_MS), 0);
    rend_cli_close(&c);
}

START_TEST(production_conf_runs)
{
    struct rend_srv mc;
    struct pt_inst in;
    struct rend_cli a, b;
    char line[256], val[64];
    size_t vlen;
    uint32_t flags;
    int rc = rend_srv_start_memcached(&mc, NULL);

    if (rc == -2) {
        printf("SKIP: no memcached binary\n");
        return;
    }
    ck_assert_int_eq(rc, 0);
    setenv("REND_L1_SOCK", mc.path, 1);
    start_shipped(&in, "rend-production.lua");
    ck_assert_int_eq(pt_conn_open(&a, &in, 0), 0);
    ck_assert_int_eq(pt_conn_open(&b, &in, 1), 0);

    ck_assert_int_ge(rend_cli_cmd(&a, "set on 3 0 5\r\nhello\r\n", line,
                            sizeof(line), REND_CLI_MS), 0);
    ck_assert_str_eq(line, "STORED");
    ck_assert_int_eq(rend_cli_get(&a, "on", val, sizeof(val), &vlen, &flags,
                                  REND_CLI_MS), 1);
    ck_assert_uint_eq(flags, 3);
    ck_assert_int_eq(rend_cli_stat(&a, "stats", "cmd_get_hits_l1",
                                   REND_CLI_MS), 1);
    /* the L1 copy is in Rend's chunked layout: a 40-byte meta item */
    mc_cmd(&mc, "get on-meta\r\n", line, sizeof(line));
    ck_assert_str_eq(line, "VALUE on-meta 3 40");

    ck_assert_int_ge(rend_cli_cmd(&b, "set batch 4 0 5\r\nworld\r\n", line,
                            sizeof(line), REND_CLI_MS), 0);
    ck_assert_str_eq(line, "STORED");
    ck_assert_int_eq(rend_cli_get(&b, "batch", val, sizeof(val), &vlen, &flags,
                                  REND_CLI_MS), 1);
    ck_assert_int_eq(memcmp(val, "world", 5), 0);
    ck_assert_int_eq(rend_cli_stat(&a, "stats", "cmd_get_hits_l2",
                                   REND_CLI_MS), 1);
    rend_cli_close(&a);
    rend_cli_close(&b);
    pt_inst_cleanup(&in);
    rend_srv_stop(&mc, 5000, NULL);
}
END_TEST

START_TEST(pool_conf_replicates)
{
    struct rend_srv mc[3];
    struct pt_inst in;
    struct rend_cli a;
    char pool[400], line[256], req[64];
    int copies[3] = { 0, 0, 0 };

    for (int k = 0; k < 3; k++) {
        int rc = rend_srv_start_memcached(&mc[k], NULL);
        if (rc == -2) {
            printf("SKIP: no memcached binary\n");
            return;
        }
        ck_assert_int_eq(rc, 0);
    }
    snprintf(pool, sizeof(pool), "%s,%s,%s", mc[0].path, mc[1].path,
             mc[2].path);
    setenv("REND_POOL", pool, 1);
    ck_assert_int_eq(pt_inst_init(&in, "l1l2-lmdb.lua"), 0);
    snprintf(in.conf, sizeof(in.conf), "%s/conf/memcached-pool.lua",
             srcdir());
    setenv("REND_PORT", "0", 1);
    setenv("REND_ADDRESS", "127.0.0.1", 1);
    /* one listener: read the port with rend_srv_start directly */
    setenv("REND_DATA", in.data, 1);
    ck_assert_int_eq(rend_srv_start(&in.srv, in.conf, NULL), 0);
    ck_assert_int_eq(pt_conn_open(&a, &in, 0), 0);
    for (int n = 0; n < 100; n++) {
        snprintf(req, sizeof(req), "set r%d 0 0 1\r\nx\r\n", n);
        ck_assert_int_ge(rend_cli_cmd(&a, req, line, sizeof(line),
                                      REND_CLI_MS), 0);
        ck_assert_str_eq(line, "STORED");
    }
    /* every key is on exactly two of the three servers */
    for (int n = 0; n < 100; n++) {
        int on = 0;
        snprintf(req, sizeof(req), "mg r%d v\r\n", n);
        for (int k = 0; k < 3; k++) {
            mc_cmd(&mc[k], req, line, sizeof(line));
            if (strncmp(line, "VA ", 3) == 0) {
                on++;
                copies[k]++;
            }
        }
        ck_assert_msg(on == 2, "key r%d is on %d servers", n, on);
    }
    printf("memcached-pool.lua: copies per server %d/%d/%d\n", copies[0],
           copies[1], copies[2]);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_gt(copies[k], 0);
    }
    rend_cli_close(&a);
    pt_inst_cleanup(&in);
    for (int k = 0; k < 3; k++) {
        rend_srv_stop(&mc[k], 5000, NULL);
    }
}
END_TEST

static Suite *
conf_suite(void)
{
    Suite *s = suite_create("persist-conf");
    TCase *tc = tcase_create("conf");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shipped_configs_check);
    tcase_add_test(tc, bad_config_refused);
    tcase_add_test(tc, limits_refused_with_a_line);
    tcase_add_test(tc, allocation_failures_are_refusals);
    tcase_add_test(tc, production_conf_runs);
    tcase_add_test(tc, pool_conf_replicates);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return rend_check_main(conf_suite());
}
