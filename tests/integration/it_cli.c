/*
 * it_cli.c - rend's command line, with memcached's meanings: -p -l -m -c
 * -t -I -U -v -F and --config FILE, and the old flags that changed
 * meaning (-c FILE) or that rend does not have (-d, -U N) refused with a
 * message that names the replacement.  Each test starts the real binary.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rend_check.h"
#include "it_util.h"

/* rend with exactly args must exit with code want and say `needle` on
 * stderr. */
static void
expect_refused(const char *const *args, int want, const char *needle)
{
    char *err = NULL;
    int rc = rend_srv_run(args, 5000, &err);

    printf("rend %s %s: exit %d: %s", args[0], args[1] ? args[1] : "", rc,
           err ? err : "");
    ck_assert_int_eq(rc, want);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, needle) != NULL, "stderr lacks \"%s\"",
                  needle);
    free(err);
}

/* The value of `STAT name` in the reply to cmd ("stats", "stats
 * settings"), as a string in a static buffer. */
static const char *
stat_of(const struct rend_srv *s, const char *cmd, const char *name)
{
    static char val[256];
    struct rend_cli c;

    val[0] = '\0';
    ck_assert_int_eq(rend_cli_open(&c, s), 0);
    rend_cli_stat_str(&c, cmd, name, val, sizeof(val), IT_MS);
    rend_cli_close(&c);
    return val;
}

static int
connect_v4(const char *addr, int port)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, addr, &sin.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

START_TEST(old_c_file_is_refused_naming_config)
{
    const char *args[] = { "-c", it_src("conf/inmem.lua"), NULL };
    const char *args2[] = { "--check-config", "-c", "conf.lua", NULL };

    expect_refused(args, 2, "--config FILE");
    expect_refused(args2, 2, "--config FILE");
}
END_TEST

START_TEST(config_long_flag_loads_the_file)
{
    char path[1024];
    const char *args[] = { "--check-config", "--config", path, NULL };
    char *err = NULL;

    snprintf(path, sizeof(path), "%s", it_src("conf/inmem.lua"));
    ck_assert_int_eq(rend_srv_run(args, 5000, &err), 0);
    free(err);
}
END_TEST

START_TEST(refused_flags_and_values)
{
    const char *d[] = { "-d", NULL };
    const char *u[] = { "-U", "11211", NULL };
    const char *m0[] = { "-m", "0", NULL };
    const char *mx[] = { "-m", "lots", NULL };
    const char *c0[] = { "-c", "0", NULL };

    expect_refused(d, 2, "does not daemonize");
    expect_refused(u, 2, "-U 0");
    expect_refused(m0, 2, "megabytes");
    expect_refused(mx, 2, "megabytes");
    expect_refused(c0, 2, "connection limit");
}
END_TEST

START_TEST(version_flag)
{
    const char *args[] = { "-V", NULL };
    char *err = NULL;

    ck_assert_int_eq(rend_srv_run(args, 5000, &err), 0);
    free(err);
}
END_TEST

/* -c N, -t N, -I SIZE, -U 0, -vv: accepted and in effect */
START_TEST(memcached_settings_flags)
{
    struct rend_srv srv;
    const char *const extra[] = { "-c", "77", "-t", "3", "-I", "2m",
                                  "-U", "0", "-vv", NULL };

    it_start(&srv, extra);
    ck_assert_str_eq(stat_of(&srv, "stats settings", "maxconns"), "77");
    ck_assert_str_eq(stat_of(&srv, "stats settings", "num_threads"), "3");
    ck_assert_str_eq(stat_of(&srv, "stats settings", "item_size_max"),
                     "2097152");
    ck_assert_str_eq(stat_of(&srv, "stats settings", "verbosity"), "2");
    ck_assert_str_eq(stat_of(&srv, "stats settings", "flush_enabled"),
                     "yes");
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
}
END_TEST

/* Store n values of 100 KiB and count how many are still there. */
static int
fill_and_count(const struct rend_srv *s, int n)
{
    static char val[100 * 1024];
    char hdr[64], line[256];
    int fd = it_connect(s), hits = 0;

    memset(val, 'v', sizeof(val));
    for (int i = 0; i < n; i++) {
        snprintf(hdr, sizeof(hdr), "set big%d 0 0 %zu\r\n", i, sizeof(val));
        ck_assert_int_eq(rend_io_send_str(fd, hdr, IT_MS), 0);
        ck_assert_int_eq(rend_io_send(fd, val, sizeof(val), IT_MS), 0);
        ck_assert_int_eq(rend_io_send_str(fd, "\r\n", IT_MS), 0);
        ck_assert_int_gt(rend_io_read_line(fd, line, sizeof(line), IT_MS), 0);
    }
    for (int i = 0; i < n; i++) {
        snprintf(hdr, sizeof(hdr), "get big%d\r\n", i);
        ck_assert_int_eq(rend_io_send_str(fd, hdr, IT_MS), 0);
        ck_assert_int_gt(rend_io_read_line(fd, line, sizeof(line), IT_MS), 0);
        if (strncmp(line, "VALUE ", 6) == 0) {
            hits++;
            ck_assert_uint_eq(rend_io_read_n(fd, val, sizeof(val), IT_MS),
                              sizeof(val));
            ck_assert_int_gt(rend_io_read_line(fd, line, sizeof(line),
                                               IT_MS), 0); /* \r\n */
            ck_assert_int_gt(rend_io_read_line(fd, line, sizeof(line),
                                               IT_MS), 0);
        }
        ck_assert_str_eq(line, "END\r\n");
    }
    close(fd);
    return hits;
}

/* -m MB sizes the inmem L1: 30 values of 100 KiB fit in 64 MB (the
 * config's), not in 1 MB. */
START_TEST(memory_flag_sizes_the_l1)
{
    struct rend_srv srv;
    const char *const small[] = { "-m", "1", NULL };
    int hits;

    it_start(&srv, NULL);
    hits = fill_and_count(&srv, 30);
    printf("config's memory_mb: %d of 30 kept\n", hits);
    ck_assert_int_eq(hits, 30);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);

    it_start(&srv, small);
    hits = fill_and_count(&srv, 30);
    printf("-m 1: %d of 30 kept\n", hits);
    ck_assert_int_le(hits, 12);
    /* the override holds across a reload too */
    kill(srv.pid, SIGHUP);
    usleep(300 * 1000);
    hits = fill_and_count(&srv, 30);
    printf("-m 1 after SIGHUP: %d of 30 kept\n", hits);
    ck_assert_int_le(hits, 12);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
}
END_TEST

/* -l ADDR[,ADDR]: the first listener on those addresses, one port */
START_TEST(listen_flag_sets_addresses)
{
    struct rend_srv srv;
    const char *const one[] = { "-l", "127.0.0.2", NULL };
    const char *const two[] = { "-l", "127.0.0.2,127.0.0.3", NULL };
    int fd;

    it_start(&srv, one);
    fd = connect_v4("127.0.0.2", srv.port);
    ck_assert_int_ge(fd, 0);
    it_expect(fd, "version\r\n", "VERSION " PACKAGE_VERSION "\r\n");
    close(fd);
    ck_assert_int_lt(connect_v4("127.0.0.1", srv.port), 0);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);

    it_start(&srv, two);
    for (int i = 0; i < 2; i++) {
        fd = connect_v4(i ? "127.0.0.3" : "127.0.0.2", srv.port);
        ck_assert_int_ge(fd, 0);
        it_expect(fd, "set l 0 0 1\r\nx\r\n", "STORED\r\n");
        close(fd);
    }
    ck_assert_int_lt(connect_v4("127.0.0.1", srv.port), 0);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
}
END_TEST

/* -F: flush_all refused as memcached -F answers it, in text (noreply:
 * silent) and binary (status 0x20 "Auth failure."); the data stays. */
START_TEST(flush_disabled_flag)
{
    struct rend_srv srv;
    const char *const extra[] = { "-F", NULL };
    unsigned char pkt[64];
    char body[64];
    uint32_t blen = 0;
    uint8_t op = 0;
    size_t n;
    int fd;

    it_start(&srv, extra);
    ck_assert_str_eq(stat_of(&srv, "stats settings", "flush_enabled"), "no");
    fd = it_connect(&srv);
    it_expect(fd, "set keep 0 0 1\r\nx\r\n", "STORED\r\n");
    it_expect(fd, "flush_all\r\n", "CLIENT_ERROR flush_all not allowed\r\n");
    it_expect(fd, "flush_all 10\r\n",
              "CLIENT_ERROR flush_all not allowed\r\n");
    it_expect(fd, "flush_all noreply\r\nversion\r\n",
              "VERSION " PACKAGE_VERSION "\r\n");
    it_expect(fd, "get keep\r\n", "VALUE keep 0 1\r\nx\r\nEND\r\n");
    close(fd);

    fd = it_connect(&srv);
    n = rend_bin_pack(pkt, 0x08, NULL, 0, NULL, NULL, 0, 7); /* FLUSH */
    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    memset(body, 0, sizeof(body));
    ck_assert_int_eq(rend_bin_read(fd, &op, &blen, body, sizeof(body) - 1,
                                   IT_MS),
                     0x20);
    ck_assert_int_eq(op, 0x08);
    ck_assert_str_eq(body, "Auth failure.");
    /* FLUSHQ answers too */
    n = rend_bin_pack(pkt, 0x18, NULL, 0, NULL, NULL, 0, 8);
    ck_assert_int_eq(rend_io_send(fd, pkt, n, IT_MS), 0);
    ck_assert_int_eq(rend_bin_read(fd, &op, &blen, NULL, 0, IT_MS), 0x20);
    ck_assert_int_eq(op, 0x18);
    close(fd);
    fd = it_connect(&srv);
    it_expect(fd, "get keep\r\n", "VALUE keep 0 1\r\nx\r\nEND\r\n");
    close(fd);
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
}
END_TEST

#ifdef HAVE_LIBSYSTEMD
/* The next datagram on the notify socket, NUL-terminated, or "" after
 * 5 s. */
static const char *
next_notice(int fd)
{
    static char msg[512];
    struct pollfd p = { fd, POLLIN, 0 };
    ssize_t n;

    msg[0] = '\0';
    if (poll(&p, 1, 5000) == 1
        && (n = recv(fd, msg, sizeof(msg) - 1, 0)) >= 0) {
        msg[n] = '\0';
    }
    return msg;
}

/* Type=notify: rend says READY=1 once listening, RELOADING=1 then
 * READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM. */
START_TEST(systemd_notify_protocol)
{
    struct rend_srv srv;
    struct sockaddr_un sun;
    char dir[] = "/tmp/rend-notify-XXXXXX";
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_ptr_nonnull(mkdtemp(dir));
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify", dir);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    setenv("NOTIFY_SOCKET", sun.sun_path, 1);
    it_start(&srv, NULL);
    unsetenv("NOTIFY_SOCKET");
    ck_assert_str_eq(next_notice(fd), "READY=1");
    kill(srv.pid, SIGHUP);
    ck_assert_str_eq(next_notice(fd), "RELOADING=1");
    ck_assert_str_eq(next_notice(fd), "READY=1");
    kill(srv.pid, SIGTERM);
    ck_assert_str_eq(next_notice(fd), "STOPPING=1");
    ck_assert_int_eq(rend_srv_stop(&srv, 5000, NULL), 0);
    close(fd);
    unlink(sun.sun_path);
    rmdir(dir);
}
END_TEST
#endif

int
main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, old_c_file_is_refused_naming_config);
    tcase_add_test(tc, config_long_flag_loads_the_file);
    tcase_add_test(tc, refused_flags_and_values);
    tcase_add_test(tc, version_flag);
    tcase_add_test(tc, memcached_settings_flags);
    tcase_add_test(tc, memory_flag_sizes_the_l1);
    tcase_add_test(tc, listen_flag_sets_addresses);
    tcase_add_test(tc, flush_disabled_flag);
#ifdef HAVE_LIBSYSTEMD
    tcase_add_test(tc, systemd_notify_protocol);
#endif
    suite_add_tcase(s, tc);
    return rend_check_main(s);
}
