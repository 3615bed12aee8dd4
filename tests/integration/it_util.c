/*
 * it_util.c - helpers for the integration programs (see it_util.h).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it_util.h"

static const struct rend_srv *current; /* the last it_start()ed server */

const char *
it_src(const char *rel)
{
    static char path[1024];
    const char *dir = getenv("REND_SRCDIR");

    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "..", rel);
    return path;
}

void
it_start(struct rend_srv *s, const char *const *extra)
{
    setenv("REND_MEMORY_MB", "64", 1);
    ck_assert_msg(rend_srv_start(s, it_src("conf/inmem.lua"), extra) == 0,
                  "rend did not start");
    current = s;
}

int
it_connect(const struct rend_srv *s)
{
    int fd = rend_srv_connect(s);

    ck_assert_msg(fd >= 0, "connect failed");
    return fd;
}

static void
show(const char *label, const char *p, size_t n)
{
    fprintf(stderr, "  %s (%zu bytes): ", label, n);
    for (size_t i = 0; i < n && i < 300; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r') {
            fputs("\\r", stderr);
        } else if (c == '\n') {
            fputs("\\n", stderr);
        } else if (c >= 32 && c < 127) {
            fputc(c, stderr);
        } else {
            fprintf(stderr, "\\x%02x", c);
        }
    }
    fputc('\n', stderr);
}

void
it_expect_reply(int fd, const char *reply)
{
    size_t n = strlen(reply);
    char *got = malloc(n + 1);
    size_t r;
    int same;

    ck_assert_ptr_nonnull(got);
    r = rend_io_read_n(fd, got, n, IT_MS);
    same = r == n && memcmp(got, reply, n) == 0;
    if (!same) {
        char *log = current ? rend_srv_stderr(current) : NULL;
        fprintf(stderr, "reply differs (fd %d, peer closed: %d):\n", fd,
                rend_io_closed(fd, 0));
        show("expected", reply, n);
        show("got", got, r);
        if (current != NULL) {
            int st = 0;
            if (waitpid(current->pid, &st, WNOHANG) == current->pid) {
                fprintf(stderr, "rend has exited: status 0x%x\n", st);
            }
        }
        fprintf(stderr, "rend stderr:\n%s\n", log ? log : "");
        free(log);
    }
    free(got);
    ck_assert_msg(same, "unexpected reply");
}

void
it_expect(int fd, const char *req, const char *reply)
{
    ck_assert_int_eq(rend_io_send_str(fd, req, IT_MS), 0);
    it_expect_reply(fd, reply);
}

void
it_roundtrip(const struct rend_srv *s, const char *key, const char *value)
{
    char req[512], rep[512];
    int fd = it_connect(s);

    snprintf(req, sizeof(req), "set %s 0 0 %zu\r\n%s\r\n", key, strlen(value),
             value);
    it_expect(fd, req, "STORED\r\n");
    snprintf(req, sizeof(req), "get %s\r\n", key);
    snprintf(rep, sizeof(rep), "VALUE %s 0 %zu\r\n%s\r\nEND\r\n", key,
             strlen(value), value);
    it_expect(fd, req, rep);
    close(fd);
}
