/*
 * tests/bench/splice_move.c: what it costs a middle process (rend's place
 * in the proxy) to move large values from one stream socket to another,
 * read()+write() through a user buffer against splice(2) through a pipe.
 * A writer process (pinned to cpu 1, so the data arrives cold as it does
 * from a client on the other cpu) sends COUNT values of SIZE bytes into
 * a unix socketpair; the middle process (this one) moves each value to a
 * second socketpair that a sink process drains.  Prints the middle
 * process's CPU time (getrusage: user + system) per value.
 *
 * Not built by make and not a test (it prints a figure, it judges none):
 *   cc -O2 -Wall -Wextra -o /tmp/splice_move tests/bench/splice_move.c
 *   taskset -c 0 /tmp/splice_move rw 102400 20000
 *   taskset -c 0 /tmp/splice_move splice 102400 20000
 * IN=tcp: the first hop is a TCP loopback connection (a client's set);
 * OUT=tcp: the second hop is a TCP loopback connection (rend's client side)
 * instead of a unix socketpair.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
           + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
big_buffers(int fd)
{
    int sz = 1 << 20;

    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

/* The writer: COUNT values of SIZE bytes into fd, from cpu 1. */
static void
run_writer(int fd, size_t size, long count)
{
    cpu_set_t set;
    char *buf = malloc(size);

    CPU_ZERO(&set);
    CPU_SET(1, &set);
    sched_setaffinity(0, sizeof set, &set);
    if (buf == NULL) {
        exit(1);
    }
    memset(buf, 'x', size);
    for (long i = 0; i < count; i++) {
        for (size_t off = 0; off < size;) {
            ssize_t n = write(fd, buf + off, size - off);
            if (n <= 0) {
                exit(1);
            }
            off += (size_t)n;
        }
    }
    exit(0);
}

/* The sink: read total bytes from fd and drop them. */
static void
run_sink(int fd, size_t total)
{
    size_t cap = 1 << 20, got = 0;
    char *buf = malloc(cap);

    while (buf != NULL && got < total) {
        ssize_t n = read(fd, buf, cap);
        if (n <= 0) {
            exit(1);
        }
        got += (size_t)n;
    }
    exit(buf == NULL);
}

static int
move_rw(int in, int out, char *buf, size_t size)
{
    size_t have = 0, sent = 0;

    while (have < size) {
        ssize_t n = read(in, buf + have, size - have);
        if (n <= 0) {
            return -1;
        }
        have += (size_t)n;
    }
    while (sent < size) {
        ssize_t n = write(out, buf + sent, size - sent);
        if (n <= 0) {
            return -1;
        }
        sent += (size_t)n;
    }
    return 0;
}

/* Socket -> pipe -> socket.  The pipe holds 1 MiB, so a value of up to
 * that size is moved in as one splice each way when the socket has it. */
static int
move_splice(int in, int out, const int pipefd[2], size_t size)
{
    size_t done = 0;

    while (done < size) {
        size_t inpipe = 0, want = size - done;
        while (inpipe < want) {
            ssize_t n = splice(in, NULL, pipefd[1], NULL, want - inpipe,
                               SPLICE_F_MOVE);
            if (n <= 0) {
                return -1;
            }
            inpipe += (size_t)n;
        }
        while (inpipe > 0) {
            ssize_t n = splice(pipefd[0], NULL, out, NULL, inpipe,
                               SPLICE_F_MOVE);
            if (n <= 0) {
                return -1;
            }
            inpipe -= (size_t)n;
            done += (size_t)n;
        }
    }
    return 0;
}

/* A connected TCP loopback pair in sv (sv[0] the side this process
 * writes, sv[1] the sink's), for OUT=tcp. */
static int
tcp_pair(int sv[2])
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0
        || listen(l, 1) != 0
        || getsockname(l, (struct sockaddr *)&sa, &len) != 0) {
        return -1;
    }
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&sa, sizeof sa) != 0) {
        return -1;
    }
    sv[1] = accept(l, NULL, NULL);
    close(l);
    setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return sv[1] < 0 ? -1 : 0;
}

int
main(int argc, char **argv)
{
    int a[2], b[2], p[2];
    int use_splice;
    size_t size;
    long count;
    char *buf;
    double t0, t1;

    if (argc != 4 || (strcmp(argv[1], "rw") != 0
                      && strcmp(argv[1], "splice") != 0)) {
        fprintf(stderr, "usage: splice_move rw|splice SIZE COUNT\n");
        return 2;
    }
    use_splice = argv[1][0] == 's';
    size = strtoul(argv[2], NULL, 10);
    count = strtol(argv[3], NULL, 10);
    if (size == 0 || size > (64u << 20) || count <= 0) {
        fprintf(stderr, "splice_move: SIZE 1..64 MiB, COUNT > 0\n");
        return 2;
    }
    if ((getenv("IN") != NULL && strcmp(getenv("IN"), "tcp") == 0
             ? tcp_pair(a) : socketpair(AF_UNIX, SOCK_STREAM, 0, a)) != 0
        || (getenv("OUT") != NULL && strcmp(getenv("OUT"), "tcp") == 0
                ? tcp_pair(b) : socketpair(AF_UNIX, SOCK_STREAM, 0, b)) != 0
        || pipe(p) != 0) {
        perror("splice_move");
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        if (getenv("IN") == NULL) {
            big_buffers(a[i]);
        }
        if (getenv("OUT") == NULL) {
            big_buffers(b[i]); /* TCP keeps its autotuning */
        }
    }
    if (fcntl(p[0], F_SETPIPE_SZ, 1 << 20) < 0) {
        perror("splice_move: F_SETPIPE_SZ");
    }
    if (fork() == 0) {
        run_writer(a[0], size, count);
    }
    if (fork() == 0) {
        run_sink(b[1], size * (size_t)count);
    }
    buf = malloc(size);
    if (buf == NULL) {
        return 1;
    }
    t0 = cpu_seconds();
    for (long i = 0; i < count; i++) {
        int rc = use_splice ? move_splice(a[1], b[0], p, size)
                            : move_rw(a[1], b[0], buf, size);
        if (rc != 0) {
            perror("splice_move: move");
            return 1;
        }
    }
    t1 = cpu_seconds();
    wait(NULL);
    wait(NULL);
    printf("%s size=%zu count=%ld cpu_us_per_value=%.2f\n",
           use_splice ? "splice" : "rw", size, count,
           (t1 - t0) / (double)count * 1e6);
    return 0;
}
