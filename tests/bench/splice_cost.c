/*
 * splice_cost.c - CPU one relay process spends moving a value from one
 * stream socket to another, the proxy's large-hit path: read()+write()
 * through a user buffer against splice() socket -> pipe -> socket.  A
 * feeder child writes `iters` values into the source, a sink child drains
 * the destination; the parent relays and its own getrusage CPU is divided
 * by iters.  A figure for BENCHMARKS.md (issue 14 §3), not a test.
 *
 *   cc -O2 -std=gnu11 -Wall tests/bench/splice_cost.c -o /tmp/splice_cost
 *   taskset -c 1 /tmp/splice_cost [bytes=102400] [iters=20000] [unix|tcp]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A connected stream pair, sv[0] writes and sv[1] reads (both ways work). */
static int
stream_pair(int tcp, int sv[2])
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int l, big = 1 << 20;

    if (!tcp) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            return -1;
        }
    } else {
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        l = socket(AF_INET, SOCK_STREAM, 0);
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0
            || listen(l, 1) != 0
            || getsockname(l, (struct sockaddr *)&a, &len) != 0) {
            return -1;
        }
        sv[0] = socket(AF_INET, SOCK_STREAM, 0);
        if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof a) != 0) {
            return -1;
        }
        sv[1] = accept(l, NULL, NULL);
        close(l);
        if (sv[1] < 0) {
            return -1;
        }
    }
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Moves one value of n bytes from src to dst; 0 or -1. */
static int
relay_copy(int src, int dst, char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = read(src, buf, n);
        if (r <= 0 || write_all(dst, buf, (size_t)r) != 0) {
            return -1;
        }
        n -= (size_t)r;
    }
    return 0;
}

static int
relay_splice(int src, int dst, const int p[2], size_t n)
{
    size_t held = 0;

    while (n > 0) {
        ssize_t r = splice(src, NULL, p[1], NULL, n, SPLICE_F_MOVE);
        if (r <= 0) {
            return -1;
        }
        n -= (size_t)r;
        held += (size_t)r;
    }
    while (held > 0) {
        ssize_t w = splice(p[0], NULL, dst, NULL, held, SPLICE_F_MOVE);
        if (w <= 0) {
            return -1;
        }
        held -= (size_t)w;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 102400;
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    int tcp = argc > 3 && strcmp(argv[3], "tcp") == 0;
    char *buf = malloc(n ? n : 1);
    int mode;

    if (n == 0 || n > (1u << 20) || iters <= 0 || buf == NULL) {
        fprintf(stderr, "usage: splice_cost [bytes 1..1048576] [iters>0] "
                        "[unix|tcp]\n");
        return 2;
    }
    memset(buf, 'v', n);
    for (mode = 0; mode < 2; mode++) {
        int in[2], out[2], p[2];
        pid_t feeder, sink;
        double t0, t;
        long i;

        if (stream_pair(tcp, in) != 0 || stream_pair(tcp, out) != 0
            || pipe(p) != 0 || fcntl(p[0], F_SETPIPE_SZ, 1 << 20) < 0) {
            perror("setup");
            return 1;
        }
        feeder = fork();
        if (feeder == 0) {
            for (i = 0; i < iters; i++) {
                if (write_all(in[0], buf, n) != 0) {
                    _exit(1);
                }
            }
            _exit(0);
        }
        sink = fork();
        if (sink == 0) {
            size_t left = n * (size_t)iters;
            while (left > 0) {
                ssize_t r = read(out[1], buf, n);
                if (r <= 0) {
                    _exit(1);
                }
                left -= (size_t)r;
            }
            _exit(0);
        }
        t0 = cpu_seconds();
        for (i = 0; i < iters; i++) {
            int rc = mode == 0 ? relay_copy(in[1], out[0], buf, n)
                               : relay_splice(in[1], out[0], p, n);
            if (rc != 0) {
                perror("relay");
                return 1;
            }
        }
        t = cpu_seconds() - t0;
        waitpid(feeder, NULL, 0);
        waitpid(sink, NULL, 0);
        printf("%-10s %s %zu B x %ld: %.2f us CPU per value\n",
               mode == 0 ? "read+write" : "splice", tcp ? "tcp " : "unix", n,
               iters, t / (double)iters * 1e6);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        close(p[0]); close(p[1]);
    }
    free(buf);
    return 0;
}
