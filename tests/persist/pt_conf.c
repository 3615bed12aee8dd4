/*
 * pt_conf.c - every shipped config loads: each conf/NAME.lua passes
 * `rend --check-config -c FILE` (REND_DATA set to a temp dir), and every
 * conf/NAME.lua is listed in conf/Makefile.am's dist_conf_DATA, so what is
 * checked here is what gets installed.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_server.h"

static const char *
srcdir(void)
{
    const char *s = getenv("REND_SRCDIR");

    return s != NULL && *s != '\0' ? s : "..";
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
        const char *args[] = { "--check-config", "-c", file, NULL };
        char *err = NULL;
        int rc;

        if (len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0) {
            continue;
        }
        snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        rc = rend_srv_run(args, 30000, &err);
        ck_assert_msg(rc == 0, "rend --check-config -c %s: exit %d: %s",
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

/* The check must be able to fail: a config naming an unknown lmdb option
 * is refused (inmem only warns about unknown options, by design). */
START_TEST(bad_config_refused)
{
    char file[] = "/tmp/rend-conf-bad-XXXXXX", data[] = "/tmp/rend-conf-XXXXXX";
    char cmd[64];
    const char *args[] = { "--check-config", "-c", file, NULL };
    int fd = mkstemp(file), rc;
    FILE *f;

    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(mkdtemp(data));
    setenv("REND_DATA", data, 1);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs("local l1 = handler \"lmdb\" { name = \"l1\", no_such = 1,\n"
          "    path = env(\"REND_DATA\", \"data\") .. \"/lmdb\" }\n"
          "listen { port = 0, routes = { default = l1only(l1) } }\n", f);
    fclose(f);
    rc = rend_srv_run(args, 30000, NULL);
    unlink(file);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(rc, 1);
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
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    int failed;

    setvbuf(stdout, NULL, _IOLBF, 0);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
