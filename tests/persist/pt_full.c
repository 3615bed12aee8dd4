/*
 * pt_full.c - an L2 that runs out of room, through the real binary:
 *
 *   - lmdb with a 1 MiB map: writes fail with "SERVER_ERROR out of space",
 *     reads are still served, deletes free pages and writes succeed again;
 *   - rocksdb on an 8 MiB tmpfs (mounted here; skipped with a message
 *     when mount is not permitted): writes fail with a SERVER_ERROR, reads
 *     are still served, and rend stays up.  Deletes do not free room there
 *     (a known rocksdb plugin bug, printed as KNOWN BUG).
 *
 * Writes go through the batch listener, so L1 never holds the keys and
 * every read is answered by L2.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rend_check.h"
#include "pt_util.h"

#define BIG 3000
#define MAX_WRITES 6000

/* Set key n (version v) with a BIG-byte value; reply line into line. */
static void
set_big(struct rend_cli *c, uint32_t n, uint32_t v, char *line, size_t cap)
{
    static char req[BIG + 128];
    char key[32], val[BIG];
    size_t vlen;
    int h;

    /* fixed length, bytes that do not compress */
    vlen = BIG;
    for (size_t j = 0; j < vlen; j += 4) {
        uint32_t r = pt_flags(n * 4096 + (uint32_t)j, v);
        memcpy(val + j, &r, 4);
    }
    pt_key(key, sizeof(key), n);
    h = snprintf(req, sizeof(req), "set %s 0 0 %zu\r\n", key, vlen);
    memcpy(req + h, val, vlen);
    memcpy(req + h + vlen, "\r\n", 2);
    ck_assert_int_eq(rend_cli_send(c, req, (size_t)h + vlen + 2, REND_CLI_MS),
                     0);
    ck_assert_int_ge(rend_cli_line(c, line, cap, REND_CLI_MS), 0);
}

/* Write new keys from *next on until one is refused; returns the number
 * stored, the refusal in line. */
static uint32_t
fill_up(struct rend_cli *c, uint32_t *next, char *line, size_t cap)
{
    uint32_t stored = 0;

    for (int k = 0; k < MAX_WRITES; k++) {
        set_big(c, (*next)++, 1, line, cap);
        if (strcmp(line, "STORED") != 0) {
            return stored;
        }
        stored++;
    }
    ck_abort_msg("%d writes of %d bytes never filled the store", MAX_WRITES,
                 BIG);
    return stored;
}

/* Every key in [from, to) reads back as a hit of BIG bytes. */
static void
check_readable(struct rend_cli *c, uint32_t from, uint32_t to)
{
    static char val[BIG + 16];
    char key[32];

    for (uint32_t n = from; n < to; n++) {
        size_t vlen = 0;
        uint32_t flags = 1;
        pt_key(key, sizeof(key), n);
        ck_assert_msg(rend_cli_get(c, key, val, sizeof(val), &vlen, &flags,
                                   REND_CLI_MS) == 1,
                      "%s not readable on a full store", key);
        ck_assert_uint_eq(vlen, BIG);
        ck_assert_uint_eq(flags, 0);
    }
}

START_TEST(lmdb_map_full)
{
    struct pt_inst in;
    struct rend_cli c;
    char line[256], req[64], key[32];
    uint32_t next = 0, stored, again;

    setenv("PERSIST_MAP_MB", "1", 1);
    ck_assert_int_eq(pt_inst_init(&in, "l1l2-lmdb.lua"), 0);
    ck_assert_int_eq(pt_inst_start(&in), 0);
    ck_assert_int_eq(pt_conn_open(&c, &in, 1), 0);

    stored = fill_up(&c, &next, line, sizeof(line));
    printf("lmdb 1 MiB map: %u values of %d B stored, then '%s'\n", stored,
           BIG, line);
    ck_assert_uint_gt(stored, 20);
    ck_assert_str_eq(line, "SERVER_ERROR out of space");
    /* still full: a second try fails the same way */
    set_big(&c, next++, 1, line, sizeof(line));
    ck_assert_str_eq(line, "SERVER_ERROR out of space");

    check_readable(&c, 0, stored);

    for (uint32_t n = 0; n < stored / 2; n++) {
        pt_key(key, sizeof(key), n);
        snprintf(req, sizeof(req), "delete %s\r\n", key);
        ck_assert_int_ge(rend_cli_cmd(&c, req, line, sizeof(line),
                                      REND_CLI_MS), 0);
        ck_assert_msg(strcmp(line, "DELETED") == 0,
                      "delete %s on a full map: %s", key, line);
    }
    again = fill_up(&c, &next, line, sizeof(line));
    printf("lmdb: after deleting %u keys, %u new values fit\n", stored / 2,
           again);
    ck_assert_uint_ge(again, stored / 4);
    ck_assert_str_eq(line, "SERVER_ERROR out of space");
    check_readable(&c, stored / 2, stored);
    rend_cli_close(&c);
    ck_assert_int_eq(pt_inst_stop(&in), 0);
    pt_inst_cleanup(&in);
    unsetenv("PERSIST_MAP_MB");
}
END_TEST

/* ---- rocksdb on a small tmpfs -------------------------------------------
 * The mount is made and removed by an unchecked fixture, which runs in
 * the parent process, so a failing test never leaves it behind. */

static char tmpfs_data[64];
static int tmpfs_mounted;

static void
tmpfs_setup(void)
{
    char dir[128];

    snprintf(tmpfs_data, sizeof(tmpfs_data), "/tmp/rend-persist-fs-XXXXXX");
    if (mkdtemp(tmpfs_data) == NULL) {
        tmpfs_data[0] = '\0';
        return;
    }
    snprintf(dir, sizeof(dir), "%s/rocksdb", tmpfs_data);
    if (mkdir(dir, 0700) == 0
        && mount("tmpfs", dir, "tmpfs", 0, "size=8m") == 0) {
        tmpfs_mounted = 1;
    }
}

static void
tmpfs_teardown(void)
{
    char dir[128], cmd[160];

    if (tmpfs_data[0] == '\0') {
        return;
    }
    snprintf(dir, sizeof(dir), "%s/rocksdb", tmpfs_data);
    if (tmpfs_mounted && umount2(dir, MNT_DETACH) != 0) {
        perror("umount tmpfs");
    }
    tmpfs_mounted = 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpfs_data);
    if (system(cmd) != 0) {
        fprintf(stderr, "persist: could not remove %s\n", tmpfs_data);
    }
}

START_TEST(rocksdb_disk_full)
{
    struct pt_inst in;
    struct rend_cli c;
    char line[256];
    uint32_t next = 0, stored;

    if (!pt_have_plugin("rocksdb")) {
        printf("SKIP: rend_rocksdb.so not built\n");
        return;
    }
    if (!tmpfs_mounted) {
        printf("SKIP: cannot mount an 8 MiB tmpfs (not root?)\n");
        return;
    }
    setenv("PERSIST_WRITE_BUFFER_MB", "1", 1);
    ck_assert_int_eq(pt_inst_init(&in, "l1l2-rocksdb.lua"), 0);
    /* use the mounted dir as the data dir: its rocksdb/ is the tmpfs */
    rmdir(in.data);
    snprintf(in.data, sizeof(in.data), "%s", tmpfs_data);
    ck_assert_int_eq(pt_inst_start(&in), 0);
    ck_assert_int_eq(pt_conn_open(&c, &in, 1), 0);

    stored = fill_up(&c, &next, line, sizeof(line));
    printf("rocksdb on 8 MiB tmpfs: %u values of %d B stored, then '%s'\n",
           stored, BIG, line);
    ck_assert_uint_gt(stored, 100);
    ck_assert_msg(strncmp(line, "SERVER_ERROR ", 13) == 0,
                  "disk full answered '%s'", line);
    check_readable(&c, 0, stored);
    /* Known bug: rocksdb keeps its background error after ENOSPC, so even
     * deletes fail and writes do not resume.  When that is
     * fixed this fails, so the check becomes strict. */
    ck_assert_int_ge(rend_cli_cmd(&c, "delete pt:0\r\n", line, sizeof(line),
                                  REND_CLI_MS), 0);
    ck_assert_msg(strcmp(line, "DELETED") != 0, "rocksdb deletes work on a "
                  "full disk now: assert that writes resume after them");
    printf("KNOWN BUG: rocksdb disk full: delete answered '%s'; writes do "
           "not resume\n", line);
    ck_assert_int_ge(rend_cli_cmd(&c, "version\r\n", line, sizeof(line),
                                  REND_CLI_MS), 0);
    ck_assert_msg(strncmp(line, "VERSION", 7) == 0, "%s", line);
    rend_cli_close(&c);
    pt_inst_stop(&in);
    /* the fixture removes the dir */
    in.data[0] = '\0';
    pt_inst_cleanup(&in);
    unsetenv("PERSIST_WRITE_BUFFER_MB");
}
END_TEST

static Suite *
full_suite(void)
{
    Suite *s = suite_create("persist-full");
    TCase *tl = tcase_create("lmdb");
    TCase *tr = tcase_create("rocksdb");

    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, lmdb_map_full);
    suite_add_tcase(s, tl);
    tcase_set_timeout(tr, 120);
    tcase_add_unchecked_fixture(tr, tmpfs_setup, tmpfs_teardown);
    tcase_add_test(tr, rocksdb_disk_full);
    suite_add_tcase(s, tr);
    return s;
}

int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return rend_check_main(full_suite());
}
