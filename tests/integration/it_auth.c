/*
 * it_auth.c - who may connect and what they may do, against the real
 * binary: per-listener authentication (memcached's -Y text auth, binary
 * SASL PLAIN, -Y FILE), the auth file's checks and reload, per-listener
 * flush refusal (listen{ flush = false }), and -l in Rend's flag mode.
 *
 * Each test writes its own config and auth file (mode 0600: rend refuses
 * an auth file others may read) into a private temp dir.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rend_check.h"
#include "it_util.h"

static char tdir[64];

static void
mk_tdir(void)
{
    snprintf(tdir, sizeof(tdir), "/tmp/rend-itauth-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
}

static void
rm_tdir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", tdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", tdir);
    }
}

/* Write text to tdir/name with mode; returns the path (static buffer per
 * slot). */
static const char *
put_file(int slot, const char *name, const char *text, mode_t mode)
{
    static char paths[4][128];
    FILE *f;

    snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", tdir, name);
    f = fopen(paths[slot], "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(paths[slot], mode), 0);
    return paths[slot];
}

/* A config with listener 1 (auth = the file, unless auth is NULL) and
 * listener 2 (no auth; flush = false when noflush), one inmem L1. */
static const char *
put_conf(const char *auth, int noflush)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "local l1 = handler \"inmem\" { memory_mb = 16 }\n"
             "listen { port = 0, routes = { default = l1only(l1) }%s%s%s }\n"
             "listen { port = 0, routes = { default = l1only(l1) }%s }\n",
             auth ? ", auth = { file = \"" : "", auth ? auth : "",
             auth ? "\" }" : "", noflush ? ", flush = false" : "");
    return put_file(1, "rend.lua", text, 0644);
}

/* Port of listener i (0-based) from s's port file. */
static int
port_of(const struct rend_srv *s, int i)
{
    char path[128], line[64];
    int port = -1;
    FILE *f;

    snprintf(path, sizeof(path), "%s/port", s->dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    for (int n = 0; n <= i && fgets(line, sizeof(line), f) != NULL; n++) {
        port = atoi(line);
    }
    fclose(f);
    ck_assert_int_gt(port, 0);
    return port;
}

static int
connect_listener(const struct rend_srv *s, int i)
{
    struct rend_srv t = *s;

    t.port = port_of(s, i);
    return it_connect(&t);
}

/* `STAT name` of a `stats` on listener i (authenticated first when auth
 * is not NULL, as "user pass"). */
static long
stat_of(const struct rend_srv *s, int i, const char *auth, const char *name)
{
    char line[512], want[128], req[256];
    long v = -1;
    int fd = connect_listener(s, i);

    if (auth != NULL) {
        snprintf(req, sizeof(req), "set a 0 0 %zu\r\n%s\r\n", strlen(auth),
                 auth);
        it_expect(fd, req, "STORED\r\n");
    }
    snprintf(want, sizeof(want), "STAT %s ", name);
    ck_assert_int_eq(rend_io_send_str(fd, "stats\r\n", IT_MS), 0);
    for (;;) {
        ck_assert_int_gt(rend_io_read_line(fd, line, sizeof(line), IT_MS), 0);
        if (strcmp(line, "END\r\n") == 0) {
            break;
        }
        if (strncmp(line, want, strlen(want)) == 0) {
            v = atol(line + strlen(want));
        }
    }
    close(fd);
    return v;
}

static void
start_conf(struct rend_srv *s, const char *conf, const char *const *extra)
{
    ck_assert_msg(rend_srv_start(s, conf, extra) == 0, "rend did not start");
}

/* memcached 1.5.15+ -Y replies, byte for byte (checked against
 * memcached 1.6.18): only a set whose data is "user password" is taken
 * before auth; the meta commands are refused like the others. */
START_TEST(text_auth_replies)
{
    struct rend_srv srv;
    const char *auth;
    int fd;

    mk_tdir();
    auth = put_file(0, "auth", "alice:secret\nbob:pa:ss\r\n\n", 0600);
    start_conf(&srv, put_conf(auth, 0), NULL);
    fd = connect_listener(&srv, 0);
    it_expect(fd, "get a\r\n", "CLIENT_ERROR unauthenticated\r\n");
    /* one reply per command, also pipelined */
    it_expect(fd, "get a\r\nmn\r\n", "CLIENT_ERROR unauthenticated\r\n"
              "CLIENT_ERROR unauthenticated\r\n");
    it_expect(fd, "version\r\n", "CLIENT_ERROR unauthenticated\r\n");
    it_expect(fd, "flush_all\r\n", "CLIENT_ERROR unauthenticated\r\n");
    it_expect(fd, "mn\r\n", "CLIENT_ERROR unauthenticated\r\n");
    it_expect(fd, "mg a v\r\n", "CLIENT_ERROR unauthenticated\r\n");
    it_expect(fd, "set x 0 0\r\n", "CLIENT_ERROR unauthenticated\r\n");
    it_expect(fd, "add x 0 0 12\r\n", "CLIENT_ERROR unauthenticated\r\n");
    it_expect(fd, "set x 0 0 1\r\nx\r\n",
              "CLIENT_ERROR bad authentication token format\r\n");
    it_expect(fd, "set x 0 0 5\r\nalicexx",
              "CLIENT_ERROR bad command line termination\r\n");
    it_expect(fd, "set x 0 0 12\r\nalice wrong!\r\n",
              "CLIENT_ERROR authentication failure\r\n");
    it_expect(fd, "set x 0 0 12\r\nAlice secret\r\n",
              "CLIENT_ERROR authentication failure\r\n");
    it_expect(fd, "set x 0 0 11\r\nalice secre\r\n",
              "CLIENT_ERROR authentication failure\r\n");
    it_expect(fd, "set x 0 0 13\r\nalice secret!\r\n",
              "CLIENT_ERROR authentication failure\r\n");
    /* still unauthenticated after the failures */
    it_expect(fd, "get a\r\n", "CLIENT_ERROR unauthenticated\r\n");
    /* right: STORED (nothing is stored), then everything works */
    it_expect(fd, "set anykey 5 100 12\r\nalice secret\r\n", "STORED\r\n");
    it_expect(fd, "get anykey\r\n", "END\r\n");
    it_expect(fd, "set k 0 0 1\r\nv\r\nmn\r\n", "STORED\r\nMN\r\n");
    it_expect(fd, "get k\r\n", "VALUE k 0 1\r\nv\r\nEND\r\n");
    close(fd);
    /* a password with ':' (the first ':' splits), noreply ignored as by
     * memcached, extra words ignored */
    fd = connect_listener(&srv, 0);
    it_expect(fd, "set x 0 0 9 noreply\r\nbob pa:ss\r\nget k\r\n",
              "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n");
    close(fd);
    fd = connect_listener(&srv, 0);
    it_expect(fd, "set x 0 0 18\r\nalice secret extra\r\n", "STORED\r\n");
    close(fd);
    /* a token longer than any line of the file: refused unbuffered */
    fd = connect_listener(&srv, 0);
    it_expect(fd, "set x 0 0 100000\r\n",
              "CLIENT_ERROR bad authentication token format\r\n");
    close(fd);
    /* the other listener has no auth */
    fd = connect_listener(&srv, 1);
    it_expect(fd, "get k\r\n", "VALUE k 0 1\r\nv\r\nEND\r\n");
    close(fd);
    /* counted as memcached counts them: 8 attempts, 4 refused, plus the
     * one stat_of makes */
    ck_assert_int_eq(stat_of(&srv, 1, NULL, "auth_cmds"), 7);
    ck_assert_int_eq(stat_of(&srv, 1, NULL, "auth_errors"), 4);
    ck_assert_int_eq(stat_of(&srv, 0, "alice secret", "auth_cmds"), 8);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rm_tdir();
}
END_TEST

/* The same exchanges against a real memcached -Y and rend, byte for
 * byte, each on a fresh connection (skipped without memcached).  Not
 * compared: several unauthenticated commands in one write, which
 * memcached 1.6.18 answers with the last reply only (`get a\r\nget
 * b\r\n` gets one CLIENT_ERROR); rend answers each (text_auth_replies). */
START_TEST(text_auth_same_as_memcached)
{
    static const char *const cases[] = {
        "get a\r\n", "mn\r\n", "mg a v\r\n", "ms a 1 T0\r\n",
        "quit\r\n", "\r\n", "set x 0 0\r\n", "set x 0 0 abc\r\n",
        "set a 0 0 1\r\nx\r\n", "set x 0 0 12\r\nalice wrong!\r\n",
        "set x 0 0 12\r\nalice secret\r\nget x\r\n",
        "set x 0 0 12 noreply\r\nalice secret\r\nmn\r\n",
        "set x 0 0 11\r\nalice secret\r\n",
        "set  x  0  0  13\r\nalice  secret\r\n",
        "set x 0 0 14\r\nalice  secret \r\n",
        "set x 0 0 12\nalice secret\r\n",
        "set x 0 0 9\r\nbob pa:ss\r\nflush_all\r\n",
        "set x 0 0 12\r\nalice secret\r\nset k 0 0 1\r\nv\r\nget k\r\n",
    };
    const char *mc_extra[] = { "-Y", NULL, NULL };
    struct rend_srv mc, srv;
    char a[4096], b[4096];

    mk_tdir();
    mc_extra[1] = put_file(0, "auth", "alice:secret\nbob:pa:ss\n", 0600);
    if (rend_srv_start_memcached(&mc, mc_extra) == -2) {
        printf("no memcached: skipped\n");
        rm_tdir();
        return;
    }
    start_conf(&srv, put_conf(mc_extra[1], 0), NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fm = it_connect(&mc), fr = connect_listener(&srv, 0);
        size_t na, nb;
        ck_assert_int_eq(rend_io_send_str(fm, cases[i], IT_MS), 0);
        ck_assert_int_eq(rend_io_send_str(fr, cases[i], IT_MS), 0);
        na = rend_io_read_quiet(fm, a, sizeof(a) - 1, 300, NULL);
        nb = rend_io_read_quiet(fr, b, sizeof(b) - 1, 300, NULL);
        a[na] = b[nb] = '\0';
        ck_assert_msg(na == nb && memcmp(a, b, na) == 0,
                      "case %zu: memcached \"%s\", rend \"%s\"", i, a, b);
        close(fm);
        close(fr);
    }
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rend_srv_stop(&mc, 5000, NULL);
    rm_tdir();
}
END_TEST

/* An unauthenticated line of junk cannot grow a buffer: closed past
 * memcached's 2048 bytes. */
START_TEST(text_auth_long_line_closes)
{
    struct rend_srv srv;
    char junk[4096];
    int fd;

    mk_tdir();
    start_conf(&srv, put_conf(put_file(0, "auth", "u:p\n", 0600), 0), NULL);
    fd = connect_listener(&srv, 0);
    memset(junk, 'g', sizeof(junk));
    ck_assert_int_eq(rend_io_send(fd, junk, sizeof(junk), IT_MS), 0);
    it_expect_reply(fd, "CLIENT_ERROR line too long\r\n");
    ck_assert_int_eq(rend_io_closed(fd, IT_MS), 1);
    close(fd);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rm_tdir();
}
END_TEST

static int
bin_call(int fd, uint8_t op, const char *key, const void *val, uint32_t vlen,
         char *body, size_t cap)
{
    unsigned char pkt[512];
    size_t n = rend_bin_pack(pkt, op, NULL, 0, key, val, vlen, 0x1234);
    uint8_t rop = 0;
    uint32_t blen = 0;
    int st;

    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    if (body != NULL) {
        memset(body, 0, cap);
    }
    st = rend_bin_read(fd, &rop, &blen, body, cap ? cap - 1 : 0, IT_MS);
    ck_assert_int_eq(rop, op);
    return st;
}

/* Binary SASL PLAIN, memcached -S's statuses, against the same file. */
START_TEST(binary_sasl_plain)
{
    struct rend_srv srv;
    char body[256];
    int fd;

    mk_tdir();
    start_conf(&srv, put_conf(put_file(0, "auth", "alice:secret\n", 0600), 0),
               NULL);
    fd = connect_listener(&srv, 0);
    ck_assert_int_eq(bin_call(fd, 0x20, NULL, NULL, 0, body, sizeof(body)),
                     0);
    ck_assert_str_eq(body, "PLAIN");
    ck_assert_int_eq(bin_call(fd, 0x0b, NULL, NULL, 0, body, sizeof(body)),
                     0); /* version needs no auth */
    ck_assert_int_eq(bin_call(fd, 0x21, "PLAIN", "\0alice\0wrong", 12, body,
                              sizeof(body)), 0x20);
    ck_assert_str_eq(body, "Auth failure.");
    ck_assert_int_eq(bin_call(fd, 0x21, "CRAM-MD5", "\0alice\0secret", 13,
                              body, sizeof(body)), 0x20);
    ck_assert_int_eq(bin_call(fd, 0x21, "PLAIN", "bob\0alice\0secret", 16,
                              body, sizeof(body)), 0x20); /* authzid */
    ck_assert_int_eq(bin_call(fd, 0x21, "PLAIN", "alice secret", 12, body,
                              sizeof(body)), 0x20);
    ck_assert_int_eq(bin_call(fd, 0x22, "PLAIN", "\0alice\0secret", 13, body,
                              sizeof(body)), 0x20); /* PLAIN has no step */
    ck_assert_int_eq(bin_call(fd, 0x21, "PLAIN", "\0alice\0secret", 13, body,
                              sizeof(body)), 0);
    ck_assert_str_eq(body, "Authenticated");
    ck_assert_int_eq(bin_call(fd, 0x0a, NULL, NULL, 0, NULL, 0), 0); /* noop */
    /* a later failed attempt leaves the connection unauthenticated */
    ck_assert_int_eq(bin_call(fd, 0x21, "PLAIN", "\0alice\0nope", 11, body,
                              sizeof(body)), 0x20);
    ck_assert_int_eq(bin_call(fd, 0x0a, NULL, NULL, 0, NULL, 0), 0x20);
    ck_assert_int_eq(rend_io_closed(fd, IT_MS), 1);
    close(fd);
    /* authzid equal to the user is fine */
    fd = connect_listener(&srv, 0);
    ck_assert_int_eq(bin_call(fd, 0x21, "PLAIN", "alice\0alice\0secret", 18,
                              body, sizeof(body)), 0);
    close(fd);
    /* unauthenticated: 0x20, then memcached closes the connection */
    fd = connect_listener(&srv, 0);
    ck_assert_int_eq(bin_call(fd, 0x0a, NULL, NULL, 0, body, sizeof(body)),
                     0x20);
    ck_assert_str_eq(body, "Auth failure.");
    ck_assert_int_eq(rend_io_closed(fd, IT_MS), 1);
    close(fd);
    fd = connect_listener(&srv, 0);
    ck_assert_int_eq(bin_call(fd, 0x00, "k", NULL, 0, NULL, 0), 0x20);
    ck_assert_int_eq(rend_io_closed(fd, IT_MS), 1);
    close(fd);
    /* without auth the SASL opcodes are unknown (memcached without -S) */
    fd = connect_listener(&srv, 1);
    ck_assert_int_eq(bin_call(fd, 0x20, NULL, NULL, 0, NULL, 0), 0x81);
    ck_assert_int_eq(bin_call(fd, 0x0a, NULL, NULL, 0, NULL, 0), 0);
    close(fd);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rm_tdir();
}
END_TEST

/* A real SASL client: libmemcached's memccp/memccat --binary with
 * --username/--password (skipped when the tools are missing). */
START_TEST(libmemcached_sasl_client)
{
    struct rend_srv srv;
    char cmd[1024];
    int rc;

    if (system("command -v memccp >/dev/null && command -v memccat "
               ">/dev/null") != 0) {
        printf("libmemcached-tools not installed: skipped\n");
        return;
    }
    mk_tdir();
    start_conf(&srv, put_conf(put_file(0, "auth", "alice:secret\n", 0600), 0),
               NULL);
    put_file(2, "payload", "hello from memccp\n", 0644);
#define MC(tool, creds, tail)                                               \
    snprintf(cmd, sizeof(cmd), "cd %s && " tool " --servers=127.0.0.1:%d "  \
             "--binary " creds " payload " tail, tdir, port_of(&srv, 0))
    MC("memccp", "--username=alice --password=secret", ">/dev/null 2>&1");
    ck_assert_int_eq(system(cmd), 0);
    MC("memccat", "--username=alice --password=secret",
       "2>/dev/null | grep -qx 'hello from memccp'");
    ck_assert_int_eq(system(cmd), 0);
    MC("memccp", "--username=alice --password=wrong", ">/dev/null 2>&1");
    rc = system(cmd);
    ck_assert_int_ne(rc, 0);
    MC("memccat", "", ">/dev/null 2>&1");
    rc = system(cmd);
    ck_assert_int_ne(rc, 0);
#undef MC
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rm_tdir();
}
END_TEST

/* A real text client: pymemcache (Debian's python3-pymemcache) sends
 * the auth set and reads STORED; a wrong password is its
 * MemcacheClientError (skipped when pymemcache is missing). */
static const char pm_script[] =
    "import sys\n"
    "from pymemcache.client.base import Client\n"
    "from pymemcache.exceptions import MemcacheClientError\n"
    "port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
    "c = Client(('127.0.0.1', port), timeout=5)\n"
    "try:\n"
    "    c.get('k')\n"
    "    sys.exit(4)\n"
    "except MemcacheClientError as e:\n"
    "    assert b'unauthenticated' in e.args[0], e\n"
    "try:\n"
    "    assert c.set('auth', user + ' ' + pw, noreply=False) is True\n"
    "except MemcacheClientError as e:\n"
    "    assert b'authentication failure' in e.args[0], e\n"
    "    sys.exit(3)\n"
    "assert c.set('pm', 'value', noreply=False) is True\n"
    "assert c.get('pm') == b'value'\n";

START_TEST(pymemcache_text_client)
{
    struct rend_srv srv;
    char cmd[512];
    const char *script;

    if (system("/usr/bin/python3 -c 'import pymemcache' 2>/dev/null") != 0) {
        printf("python3-pymemcache not installed: skipped\n");
        return;
    }
    mk_tdir();
    start_conf(&srv, put_conf(put_file(0, "auth", "alice:secret\n", 0600), 0),
               NULL);
    script = put_file(2, "pm.py", pm_script, 0644);
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %d alice secret", script,
             port_of(&srv, 0));
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %d alice wrong", script,
             port_of(&srv, 0));
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 3);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rm_tdir();
}
END_TEST

/* rend with exactly args exits 1 and says needle. */
static void
expect_config_error(const char *conf, const char *needle)
{
    const char *const args[] = { "--check-config", "--config", conf, NULL };
    char *err = NULL;
    int rc = rend_srv_run(args, 5000, &err);

    printf("config error: %s", err ? err : "(none)\n");
    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, needle) != NULL, "stderr lacks \"%s\"",
                  needle);
    free(err);
}

/* The auth file must exist, parse and be private; errors name the
 * config's line and the auth file's. */
START_TEST(auth_file_errors)
{
    char path[128], want[256];
    const char *auth;

    mk_tdir();
    snprintf(path, sizeof(path), "%s/missing", tdir);
    snprintf(want, sizeof(want), "rend.lua:2: listen: auth file %s: cannot "
             "open", path);
    expect_config_error(put_conf(path, 0), want);
    auth = put_file(0, "auth", "alice:secret\n", 0644);
    expect_config_error(put_conf(auth, 0), "refusing an auth file that other "
                        "users may read or write (mode 0644)");
    auth = put_file(0, "auth", "alice:secret\nbob\n", 0600);
    snprintf(want, sizeof(want), "%s:2: expected user:password", auth);
    expect_config_error(put_conf(auth, 0), want);
    auth = put_file(0, "auth", "alice:\n", 0600);
    expect_config_error(put_conf(auth, 0), "auth:1: empty password");
    auth = put_file(0, "auth", ":pw\n", 0600);
    expect_config_error(put_conf(auth, 0), "auth:1: empty user name");
    auth = put_file(0, "auth", "al ice:pw\n", 0600);
    expect_config_error(put_conf(auth, 0), "auth:1: the user name contains");
    auth = put_file(0, "auth", "\n\n", 0600);
    expect_config_error(put_conf(auth, 0), "no user:password line");
    expect_config_error(put_file(1, "rend.lua",
        "local l1 = handler \"inmem\" {}\n"
        "listen { port = 0, routes = { default = l1only(l1) },\n"
        "         auth = \"/etc/x\" }\n", 0644),
        "rend.lua:2: listen: auth must be a table");
    expect_config_error(put_file(1, "rend.lua",
        "local l1 = handler \"inmem\" {}\n"
        "listen { port = 0, routes = { default = l1only(l1) },\n"
        "         auth = { path = \"/etc/x\" } }\n", 0644),
        "rend.lua:2: listen: auth: unknown field \"path\"");
    expect_config_error(put_file(1, "rend.lua",
        "local l1 = handler \"inmem\" {}\n"
        "listen { port = 0, routes = { default = l1only(l1) }, flush = 0 }\n",
        0644), "rend.lua:2: listen: flush must be true or false");
    rm_tdir();
}
END_TEST

static void
wait_reloads(const struct rend_srv *s, long want)
{
    for (int i = 0; i < 100; i++) {
        if (stat_of(s, 1, NULL, "config_reloads") >= want
            || stat_of(s, 1, NULL, "config_reload_failures") >= want) {
            return;
        }
        usleep(50 * 1000);
    }
    ck_abort_msg("no reload seen");
}

/* SIGHUP re-reads the auth file: the new password works, the old one no
 * longer does; a broken file keeps the running users. */
START_TEST(reload_rereads_auth_file)
{
    struct rend_srv srv;
    const char *auth;
    int fd;

    mk_tdir();
    auth = put_file(0, "auth", "alice:old\n", 0600);
    start_conf(&srv, put_conf(auth, 0), NULL);
    fd = connect_listener(&srv, 0);
    it_expect(fd, "set a 0 0 9\r\nalice old\r\n", "STORED\r\n");
    put_file(0, "auth", "alice:new\n", 0600);
    kill(srv.pid, SIGHUP);
    wait_reloads(&srv, 1);
    ck_assert_int_eq(stat_of(&srv, 1, NULL, "config_reloads"), 1);
    /* an authenticated connection stays so */
    it_expect(fd, "get a\r\n", "END\r\n");
    close(fd);
    fd = connect_listener(&srv, 0);
    it_expect(fd, "set a 0 0 9\r\nalice old\r\n",
              "CLIENT_ERROR authentication failure\r\n");
    it_expect(fd, "set a 0 0 9\r\nalice new\r\n", "STORED\r\n");
    close(fd);
    /* broken: the reload fails, "new" still works */
    put_file(0, "auth", "alice\n", 0600);
    kill(srv.pid, SIGHUP);
    wait_reloads(&srv, 1);
    for (int i = 0; i < 100
         && stat_of(&srv, 1, NULL, "config_reload_failures") < 1; i++) {
        usleep(50 * 1000);
    }
    ck_assert_int_eq(stat_of(&srv, 1, NULL, "config_reload_failures"), 1);
    fd = connect_listener(&srv, 0);
    it_expect(fd, "set a 0 0 9\r\nalice new\r\n", "STORED\r\n");
    close(fd);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rm_tdir();
}
END_TEST

/* -Y FILE: memcached's flag; every listener authenticates with it. */
START_TEST(auth_file_flag)
{
    struct rend_srv srv;
    const char *extra[] = { "-Y", NULL, NULL };
    unsigned char pkt[64];
    size_t n;
    int fd;

    mk_tdir();
    extra[1] = put_file(0, "auth", "carol:pw\n", 0600);
    start_conf(&srv, put_conf(NULL, 0), extra);
    for (int i = 0; i < 2; i++) {
        fd = connect_listener(&srv, i);
        it_expect(fd, "get k\r\n", "CLIENT_ERROR unauthenticated\r\n");
        it_expect(fd, "set k 0 0 8\r\ncarol pw\r\n", "STORED\r\n");
        it_expect(fd, "get k\r\n", "END\r\n");
        close(fd);
    }
    fd = connect_listener(&srv, 1);
    n = rend_bin_pack(pkt, 0x0a, NULL, 0, NULL, NULL, 0, 1);
    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fd, NULL, NULL, NULL, 0, IT_MS), 0x20);
    close(fd);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rm_tdir();
}
END_TEST

/* listen{ flush = false }: that listener refuses flush_all as memcached
 * -F does (text, noreply silent, binary 0x20); the other one flushes,
 * and its flush reaches the store both listeners share. */
START_TEST(flush_refused_per_listener)
{
    struct rend_srv srv;
    unsigned char pkt[64];
    char body[64];
    size_t n;
    int fd;

    mk_tdir();
    start_conf(&srv, put_conf(NULL, 1), NULL);
    fd = connect_listener(&srv, 1);
    it_expect(fd, "set keep 0 0 1\r\nx\r\n", "STORED\r\n");
    it_expect(fd, "flush_all\r\n", "CLIENT_ERROR flush_all not allowed\r\n");
    it_expect(fd, "flush_all 0\r\n", "CLIENT_ERROR flush_all not allowed\r\n");
    it_expect(fd, "flush_all noreply\r\nmn\r\n", "MN\r\n");
    close(fd);
    fd = connect_listener(&srv, 1); /* a binary connection */
    n = rend_bin_pack(pkt, 0x08, NULL, 0, NULL, NULL, 0, 2);
    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    memset(body, 0, sizeof(body));
    ck_assert_int_eq(rend_bin_read(fd, NULL, NULL, body, sizeof(body) - 1,
                                   IT_MS), 0x20);
    ck_assert_str_eq(body, "Auth failure.");
    close(fd);
    fd = connect_listener(&srv, 1);
    n = rend_bin_pack(pkt, 0x18, NULL, 0, NULL, NULL, 0, 3); /* flushq answers */
    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fd, NULL, NULL, NULL, 0, IT_MS), 0x20);
    close(fd);
    fd = connect_listener(&srv, 1);
    it_expect(fd, "get keep\r\n", "VALUE keep 0 1\r\nx\r\nEND\r\n");
    close(fd);
    /* listener 0 allows it, and it empties the shared L1 */
    fd = connect_listener(&srv, 0);
    it_expect(fd, "flush_all\r\n", "OK\r\n");
    close(fd);
    fd = connect_listener(&srv, 1);
    it_expect(fd, "get keep\r\n", "END\r\n");
    close(fd);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rm_tdir();
}
END_TEST

/* 1 when /proc/net/tcp{,6} lists a listening socket on port: *local gets
 * its address as the kernel prints it (hex). */
static int
listening_on(int port, char *local, size_t cap)
{
    const char *files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
    int found = 0;

    local[0] = '\0';
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        char line[512];
        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            char addr[64];
            unsigned p, st;
            if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x",
                       addr, &p, &st) == 3 && (int)p == port && st == 0x0a) {
                size_t used = strlen(local);
                snprintf(local + used, cap - used, "%s%s",
                         used ? "," : "", addr);
                found++;
            }
        }
        fclose(f);
    }
    return found;
}

/* Rend's flag mode binds 0.0.0.0 for its port and batch port; -l binds
 * both on the given address only. */
START_TEST(listen_flag_in_flag_mode)
{
    struct rend_srv srv;
    char local[256], sock[128];
    const char *base[] = { "--l1-inmem", "--l2-enabled", "--l2-sock", NULL,
                           "-bp", "0", NULL, NULL, NULL };
    int fd;

    mk_tdir();
    snprintf(sock, sizeof(sock), "%s/no-l2.sock", tdir);
    base[3] = sock;
    start_conf(&srv, NULL, base);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(listening_on(port_of(&srv, i), local,
                                      sizeof(local)), 1);
        printf("flag mode, no -l: listener %d on %s\n", i, local);
        ck_assert_str_eq(local, "00000000");
    }
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);

    base[6] = "-l";
    base[7] = "127.0.0.1";
    start_conf(&srv, NULL, base);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(listening_on(port_of(&srv, i), local,
                                      sizeof(local)), 1);
        printf("flag mode, -l 127.0.0.1: listener %d on %s\n", i, local);
        ck_assert_str_eq(local, "0100007F");
    }
    fd = connect_listener(&srv, 0);
    it_expect(fd, "version\r\n", "VERSION " PACKAGE_VERSION "\r\n");
    close(fd);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    rm_tdir();
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, text_auth_replies);
    tcase_add_test(tc, text_auth_same_as_memcached);
    tcase_add_test(tc, text_auth_long_line_closes);
    tcase_add_test(tc, binary_sasl_plain);
    tcase_add_test(tc, libmemcached_sasl_client);
    tcase_add_test(tc, pymemcache_text_client);
    tcase_add_test(tc, auth_file_errors);
    tcase_add_test(tc, reload_rereads_auth_file);
    tcase_add_test(tc, auth_file_flag);
    tcase_add_test(tc, flush_refused_per_listener);
    tcase_add_test(tc, listen_flag_in_flag_mode);
    suite_add_tcase(s, tc);
    return rend_check_main(s);
}
