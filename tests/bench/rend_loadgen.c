/*
 * rend_loadgen.c - closed-loop load generator for memcached-compatible
 * servers (rend, memcached), text or binary protocol.
 *
 * N connections are spread over T threads, each thread runs its own epoll
 * loop.  Every connection keeps D requests in flight (D = 1 is plain
 * request/response).  All keys are set once before the measurement (the
 * prefill), so gets hit; then a warmup, then a fixed measured window.  Each
 * reply is checked (see rend_lg_proto.h) and each request's latency goes to
 * a log-linear histogram.  The last line of output is a RESULT line of
 * key=value pairs for scripts.
 *
 * Exit status: 0 = run done without errors, 3 = run done with errors,
 * 1 = could not run (bad arguments, cannot connect).
 */
#include "rend_lg_hist.h"
#include "rend_lg_interval.h"
#include "rend_lg_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RBUF_MIN (64 * 1024)
#define PREFILL_DEPTH 32
#define DRAIN_NS (2ull * 1000000000ull)

struct options {
    const char *server;
    unsigned conns, threads, depth, nkeys;
    double get_ratio, duration, warmup, interval;
    size_t vsize;
    int binary, prefill;
    uint64_t seed;
};

struct inflight {
    enum rend_lg_op op;
    uint32_t idx;
    uint32_t opaque;
    uint64_t sent_ns;
};

struct conn {
    int fd;
    int dead;
    int want_out;
    uint64_t rng;
    uint32_t next_opaque;
    char *rbuf;
    size_t rcap, rlen;
    char *wbuf;
    size_t wcap, wlen, wpos;
    struct inflight *ring;   /* depth slots, FIFO */
    unsigned head, count;
};

struct counters {
    uint64_t ops, gets, hits, misses, sets;    /* measured window only */
    uint64_t replies;                          /* every reply, all phases */
    uint64_t err_server, err_value, err_proto, err_conn, err_lost;
};

struct worker {
    pthread_t tid;
    unsigned index;
    int ep;
    struct conn *conns;
    unsigned nconns;
    unsigned prefill_next;   /* next key this thread sets in the prefill */
    uint64_t outstanding;    /* requests sent and not answered, all conns */
    int prefilling;
    struct counters c;
    struct rend_lg_hist hist;
    struct rend_lg_iv_local iv;   /* --interval only */
};

static struct options opt = {
    .server = "127.0.0.1:11211", .conns = 50, .threads = 1, .depth = 1,
    .nkeys = 10000, .get_ratio = 0.9, .duration = 10, .warmup = 1,
    .vsize = 100, .binary = 0, .prefill = 1, .seed = 1,
};
static struct rend_lg_data data;
static struct sockaddr_storage server_addr;
static socklen_t server_addrlen;
static uint64_t get_threshold;     /* a request is a get if r32 < this */
static pthread_barrier_t prefill_done;
static atomic_int recording;
static atomic_int stopping;

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
xorshift(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static int
resolve_server(const char *spec)
{
    char host[256];
    const char *colon;
    struct addrinfo hints, *ai;

    if (strchr(spec, '/') != NULL) {
        struct sockaddr_un *un = (struct sockaddr_un *)&server_addr;

        if (strlen(spec) >= sizeof(un->sun_path)) {
            return -1;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, spec);
        server_addrlen = sizeof(*un);
        return 0;
    }
    colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
        return -1;
    }
    memcpy(&server_addr, ai->ai_addr, ai->ai_addrlen);
    server_addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static int
conn_open(struct conn *c)
{
    int one = 1;
    int fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&server_addr, server_addrlen) != 0) {
        close(fd);
        return -1;
    }
    if (server_addr.ss_family != AF_UNIX) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

static unsigned
ring_size(void)
{
    return opt.depth > PREFILL_DEPTH ? opt.depth : PREFILL_DEPTH;
}

static int
conn_init(struct conn *c, unsigned index)
{
    size_t reqmax = rend_lg_request_max(&data);

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->rng = opt.seed * 0x9e3779b97f4a7c15ull + index + 1;
    c->rcap = RBUF_MIN > 2 * opt.vsize + 1024 ? RBUF_MIN : 2 * opt.vsize + 1024;
    c->rbuf = malloc(c->rcap);
    c->wcap = ring_size() * reqmax;
    c->wbuf = malloc(c->wcap);
    c->ring = calloc(ring_size(), sizeof(*c->ring));
    if (c->rbuf == NULL || c->wbuf == NULL || c->ring == NULL) {
        return -1;
    }
    return conn_open(c);
}

static void
conn_fail(struct worker *w, struct conn *c)
{
    if (c->dead) {
        return;
    }
    c->dead = 1;
    w->c.err_conn++;
    w->c.err_lost += c->count;
    w->outstanding -= c->count;
    c->count = 0;
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* Picks the next request of c; returns 0 when c should send nothing. */
static int
next_request(struct worker *w, struct conn *c, enum rend_lg_op *op,
             uint32_t *idx)
{
    uint64_t r;

    if (w->prefilling) {
        if (w->prefill_next >= opt.nkeys) {
            return 0;
        }
        *op = REND_LG_SET;
        *idx = w->prefill_next;
        w->prefill_next += opt.threads;
        return 1;
    }
    if (atomic_load_explicit(&stopping, memory_order_relaxed)) {
        return 0;
    }
    r = xorshift(&c->rng);
    *idx = (uint32_t)((r >> 32) % opt.nkeys);
    *op = (r & 0xffffffffu) < get_threshold ? REND_LG_GET : REND_LG_SET;
    return 1;
}

static void
conn_fill(struct worker *w, struct conn *c)
{
    unsigned depth = w->prefilling ? PREFILL_DEPTH : opt.depth;
    size_t reqmax = rend_lg_request_max(&data);
    uint64_t now = 0;

    while (!c->dead && c->count < depth) {
        struct inflight *f;
        enum rend_lg_op op;
        uint32_t idx;

        if (!next_request(w, c, &op, &idx)) {
            break;
        }
        if (c->wcap - c->wlen < reqmax) {
            memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
            c->wlen -= c->wpos;
            c->wpos = 0;
        }
        if (now == 0) {
            now = now_ns();
        }
        f = &c->ring[(c->head + c->count) % ring_size()];
        f->op = op;
        f->idx = idx;
        f->opaque = c->next_opaque++;
        f->sent_ns = now;
        c->wlen += rend_lg_encode(&data, c->wbuf + c->wlen, op, idx, f->opaque);
        c->count++;
        w->outstanding++;
    }
}

static void
conn_flush(struct worker *w, struct conn *c)
{
    int want;

    while (!c->dead && c->wpos < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->wpos += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            conn_fail(w, c);
        }
    }
    if (c->dead) {
        return;
    }
    if (c->wpos == c->wlen) {
        c->wpos = c->wlen = 0;
    }
    want = c->wpos < c->wlen;
    if (want != c->want_out) {
        struct epoll_event ev = {
            .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c,
        };
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
}

static void
account(struct worker *w, const struct inflight *f, enum rend_lg_result res,
        uint64_t now)
{
    w->c.replies++;
    if (res == REND_LG_SERVER_ERROR) {
        w->c.err_server++;
    } else if (res == REND_LG_BAD_VALUE) {
        w->c.err_value++;
    }
    if (!atomic_load_explicit(&recording, memory_order_relaxed)) {
        return;
    }
    rend_lg_hist_record(&w->hist, now > f->sent_ns ? now - f->sent_ns : 0);
    if (opt.interval > 0) {
        rend_lg_iv_record(&w->iv, now, now > f->sent_ns ? now - f->sent_ns : 0);
    }
    w->c.ops++;
    if (f->op == REND_LG_SET) {
        w->c.sets++;
        return;
    }
    w->c.gets++;
    if (res == REND_LG_HIT) {
        w->c.hits++;
    } else if (res == REND_LG_MISS) {
        w->c.misses++;
    }
}

/* Reads what the socket has and completes every whole reply in it. */
static void
conn_read(struct worker *w, struct conn *c)
{
    size_t pos = 0;
    uint64_t now;

    for (;;) {
        ssize_t n;

        if (c->rlen == c->rcap) {
            char *nb = realloc(c->rbuf, c->rcap * 2);

            if (nb == NULL) {
                conn_fail(w, c);
                return;
            }
            c->rbuf = nb;
            c->rcap *= 2;
        }
        n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            if (c->rlen < c->rcap) {
                break;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            conn_fail(w, c);
            return;
        }
    }
    now = now_ns();
    while (c->count > 0) {
        struct inflight *f = &c->ring[c->head];
        size_t used = 0;
        enum rend_lg_result res = rend_lg_parse(&data, c->rbuf + pos,
                                                c->rlen - pos, f->op, f->idx,
                                                f->opaque, &used);

        if (res == REND_LG_INCOMPLETE) {
            break;
        }
        if (res == REND_LG_PROTO_ERROR) {
            w->c.err_proto++;
            conn_fail(w, c);
            return;
        }
        account(w, f, res, now);
        pos += used;
        c->head = (c->head + 1) % ring_size();
        c->count--;
        w->outstanding--;
    }
    if (c->count == 0 && pos < c->rlen) {
        w->c.err_proto++;       /* bytes nobody asked for */
        conn_fail(w, c);
        return;
    }
    memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
    c->rlen -= pos;
}

static void
run_once(struct worker *w, int timeout_ms)
{
    struct epoll_event ev[64];
    int n = epoll_wait(w->ep, ev, 64, timeout_ms);

    for (int i = 0; i < n; i++) {
        struct conn *c = ev[i].data.ptr;

        if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            conn_read(w, c);
        }
        conn_fill(w, c);
        conn_flush(w, c);
    }
}

static void
fill_all(struct worker *w)
{
    for (unsigned i = 0; i < w->nconns; i++) {
        conn_fill(w, &w->conns[i]);
        conn_flush(w, &w->conns[i]);
    }
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t end;

    w->prefilling = opt.prefill;
    w->prefill_next = w->index;
    fill_all(w);
    while (w->prefilling && w->outstanding > 0) {
        run_once(w, 100);
    }
    w->prefilling = 0;
    pthread_barrier_wait(&prefill_done);
    fill_all(w);
    while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
        run_once(w, 10);
        if (opt.interval > 0 && atomic_load(&recording)) {
            rend_lg_iv_tick(&w->iv, now_ns());
        }
    }
    end = now_ns() + DRAIN_NS;
    while (w->outstanding > 0 && now_ns() < end) {
        run_once(w, 10);
    }
    w->c.err_lost += w->outstanding;
    if (opt.interval > 0) {
        rend_lg_iv_publish(&w->iv);
    }
    return NULL;
}

static void
sleep_s(double s)
{
    struct timespec ts = {
        .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9),
    };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void
sleep_until(uint64_t t)
{
    uint64_t now = now_ns();

    if (t > now) {
        sleep_s((double)(t - now) / 1e9);
    }
}

/* Sleeps through the measured window that began at t0, printing each
 * --interval slot once it is complete; returns how many were printed. */
static unsigned
measure_window(uint64_t t0)
{
    uint64_t end = t0 + (uint64_t)(opt.duration * 1e9);
    uint64_t step = (uint64_t)(opt.interval * 1e9);
    unsigned k = 0;

    while (step > 0 && t0 + (k + 1) * step + REND_LG_IV_GRACE_NS < end) {
        sleep_until(t0 + (k + 1) * step + REND_LG_IV_GRACE_NS);
        rend_lg_iv_print(k++);
    }
    sleep_until(end);
    return k;
}

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
           + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int
print_free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0
        || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("rend_loadgen: free port");
        return 1;
    }
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

static void
usage(FILE *f)
{
    fprintf(f,
        "Usage: rend_loadgen [options]\n"
        "  -s, --server ADDR     host:port or /unix/socket (127.0.0.1:11211)\n"
        "  -c, --conns N         connections (50)\n"
        "  -T, --threads N       threads, each with its own epoll loop (1)\n"
        "  -d, --depth N         requests in flight per connection (1)\n"
        "  -r, --get-ratio R     share of gets, 0..1 (0.9)\n"
        "  -v, --value-size N    value bytes (100)\n"
        "  -k, --keys N          key space, all set before measuring (10000)\n"
        "  -t, --duration S      measured seconds (10)\n"
        "  -w, --warmup S        unmeasured seconds after the prefill (1)\n"
        "  -P, --protocol P      text or binary (text)\n"
        "  -S, --seed N          seed of keys choice and values (1)\n"
        "      --no-prefill      skip the prefill (gets may miss)\n"
        "      --interval S      also print ops/s and latency every S seconds\n"
        "                        of the measured window (INTERVAL lines)\n"
        "      --free-port       print a free TCP port on 127.0.0.1 and exit\n"
        "Exit: 0 ok, 3 run done but errors were counted, 1 could not run.\n");
}

static int
parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "server", required_argument, NULL, 's' },
        { "conns", required_argument, NULL, 'c' },
        { "threads", required_argument, NULL, 'T' },
        { "depth", required_argument, NULL, 'd' },
        { "get-ratio", required_argument, NULL, 'r' },
        { "value-size", required_argument, NULL, 'v' },
        { "keys", required_argument, NULL, 'k' },
        { "duration", required_argument, NULL, 't' },
        { "warmup", required_argument, NULL, 'w' },
        { "protocol", required_argument, NULL, 'P' },
        { "seed", required_argument, NULL, 'S' },
        { "no-prefill", no_argument, NULL, 'N' },
        { "interval", required_argument, NULL, 'I' },
        { "free-port", no_argument, NULL, 'F' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "s:c:T:d:r:v:k:t:w:P:S:h", longopts,
                             NULL)) != -1) {
        switch (ch) {
        case 's': opt.server = optarg; break;
        case 'c': opt.conns = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'T': opt.threads = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'd': opt.depth = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': opt.get_ratio = strtod(optarg, NULL); break;
        case 'v': opt.vsize = strtoul(optarg, NULL, 10); break;
        case 'k': opt.nkeys = (unsigned)strtoul(optarg, NULL, 10); break;
        case 't': opt.duration = strtod(optarg, NULL); break;
        case 'w': opt.warmup = strtod(optarg, NULL); break;
        case 'S': opt.seed = strtoull(optarg, NULL, 10); break;
        case 'N': opt.prefill = 0; break;
        case 'I': opt.interval = strtod(optarg, NULL); break;
        case 'F': exit(print_free_port());
        case 'h': usage(stdout); exit(0);
        case 'P':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "binary") != 0) {
                fprintf(stderr, "rend_loadgen: protocol is text or binary\n");
                return -1;
            }
            opt.binary = strcmp(optarg, "binary") == 0;
            break;
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc || opt.conns == 0 || opt.threads == 0
        || opt.threads > opt.conns || opt.depth == 0 || opt.nkeys == 0
        || opt.get_ratio < 0 || opt.get_ratio > 1 || opt.duration <= 0
        || opt.warmup < 0 || opt.interval < 0 || opt.vsize == 0 || opt.vsize > (64u << 20)) {
        fprintf(stderr, "rend_loadgen: bad arguments (need 1 <= threads <= "
                "conns, depth >= 1, keys >= 1, 0 <= get-ratio <= 1, "
                "duration > 0, interval >= 0, 1 <= value-size <= 64 MiB)\n");
        return -1;
    }
    get_threshold = (uint64_t)(opt.get_ratio * 4294967296.0);
    return 0;
}

static int
setup_workers(struct worker *ws)
{
    for (unsigned t = 0; t < opt.threads; t++) {
        ws[t].index = t;
        ws[t].ep = epoll_create1(EPOLL_CLOEXEC);
        ws[t].nconns = opt.conns / opt.threads + (t < opt.conns % opt.threads);
        ws[t].conns = calloc(ws[t].nconns, sizeof(struct conn));
        if (ws[t].ep < 0 || ws[t].conns == NULL) {
            return -1;
        }
        for (unsigned i = 0; i < ws[t].nconns; i++) {
            struct conn *c = &ws[t].conns[i];
            struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

            if (conn_init(c, t * 1000003u + i) != 0) {
                fprintf(stderr, "rend_loadgen: connect %s: %s\n", opt.server,
                        strerror(errno));
                return -1;
            }
            epoll_ctl(ws[t].ep, EPOLL_CTL_ADD, c->fd, &ev);
        }
    }
    return 0;
}

static void
report(const struct counters *c, const struct rend_lg_hist *h, double secs,
       double prefill_secs, double client_cpu)
{
    uint64_t errors = c->err_server + c->err_value + c->err_proto
                      + c->err_conn + c->err_lost;
    double ops_s = (double)c->ops / secs;
    double hit = c->gets ? (double)c->hits / (double)c->gets : 0;
    double p50 = (double)rend_lg_hist_quantile(h, 0.50) / 1e3;
    double p99 = (double)rend_lg_hist_quantile(h, 0.99) / 1e3;
    double p999 = (double)rend_lg_hist_quantile(h, 0.999) / 1e3;
    double max = (double)h->max / 1e3;

    printf("server %s, %s protocol, %u conns, %u threads, depth %u, "
           "get ratio %.2f, %zu-byte values, %u keys\n",
           opt.server, opt.binary ? "binary" : "text", opt.conns, opt.threads,
           opt.depth, opt.get_ratio, opt.vsize, opt.nkeys);
    printf("measured %.2f s (prefill %.2f s, warmup %.2f s)\n", secs,
           prefill_secs, opt.warmup);
    printf("throughput  %.0f ops/s (%llu ops)\n", ops_s,
           (unsigned long long)c->ops);
    printf("latency     p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
           p50, p99, p999, max);
    printf("requests    %llu gets (%llu hits, %llu misses, hit ratio %.4f), "
           "%llu sets\n", (unsigned long long)c->gets,
           (unsigned long long)c->hits, (unsigned long long)c->misses, hit,
           (unsigned long long)c->sets);
    printf("errors      %llu (server %llu, bad value %llu, protocol %llu, "
           "connection %llu, unanswered %llu)\n", (unsigned long long)errors,
           (unsigned long long)c->err_server, (unsigned long long)c->err_value,
           (unsigned long long)c->err_proto, (unsigned long long)c->err_conn,
           (unsigned long long)c->err_lost);
    printf("client cpu  %.1f%% of one core\n", client_cpu * 100);
    printf("RESULT ops_s=%.0f ops=%llu p50_us=%.1f p99_us=%.1f p999_us=%.1f "
           "max_us=%.1f errors=%llu hit_ratio=%.4f gets=%llu sets=%llu "
           "replies=%llu client_cpu_pct=%.1f\n", ops_s,
           (unsigned long long)c->ops, p50, p99, p999, max,
           (unsigned long long)errors, hit, (unsigned long long)c->gets,
           (unsigned long long)c->sets, (unsigned long long)c->replies,
           client_cpu * 100);
}

static void
add_counters(struct counters *dst, const struct counters *src)
{
    dst->ops += src->ops;
    dst->gets += src->gets;
    dst->hits += src->hits;
    dst->misses += src->misses;
    dst->sets += src->sets;
    dst->replies += src->replies;
    dst->err_server += src->err_server;
    dst->err_value += src->err_value;
    dst->err_proto += src->err_proto;
    dst->err_conn += src->err_conn;
    dst->err_lost += src->err_lost;
}

int
main(int argc, char **argv)
{
    struct worker *ws;
    struct counters total = { 0 };
    static struct rend_lg_hist hist;
    uint64_t t_start, t_prefilled, t0, t1;
    double cpu0, cpu1;
    unsigned printed;

    if (parse_options(argc, argv) != 0) {
        return 1;
    }
    if (opt.interval > 0 && rend_lg_iv_init(opt.interval, opt.duration) != 0) {
        fprintf(stderr, "rend_loadgen: out of memory\n");
        return 1;
    }
    if (resolve_server(opt.server) != 0) {
        fprintf(stderr, "rend_loadgen: cannot resolve %s\n", opt.server);
        return 1;
    }
    ws = calloc(opt.threads, sizeof(*ws));
    if (ws == NULL || rend_lg_data_init(&data, opt.nkeys, opt.vsize, opt.seed,
                                        opt.binary) != 0) {
        fprintf(stderr, "rend_loadgen: out of memory\n");
        return 1;
    }
    if (setup_workers(ws) != 0) {
        return 1;
    }
    pthread_barrier_init(&prefill_done, NULL, opt.threads + 1);
    t_start = now_ns();
    for (unsigned t = 0; t < opt.threads; t++) {
        if (pthread_create(&ws[t].tid, NULL, worker_main, &ws[t]) != 0) {
            fprintf(stderr, "rend_loadgen: cannot start threads\n");
            return 1;
        }
    }
    pthread_barrier_wait(&prefill_done);
    t_prefilled = now_ns();
    sleep_s(opt.warmup);
    cpu0 = cpu_seconds();
    t0 = now_ns();
    if (opt.interval > 0) {
        rend_lg_iv_start(t0);
    }
    atomic_store(&recording, 1);
    printed = measure_window(t0);
    atomic_store(&recording, 0);
    t1 = now_ns();
    cpu1 = cpu_seconds();
    atomic_store(&stopping, 1);
    for (unsigned t = 0; t < opt.threads; t++) {
        pthread_join(ws[t].tid, NULL);
        add_counters(&total, &ws[t].c);
        rend_lg_hist_merge(&hist, &ws[t].hist);
    }
    for (unsigned k = printed; k < rend_lg_iv_slots(); k++) {
        rend_lg_iv_print(k);
    }
    report(&total, &hist, (double)(t1 - t0) / 1e9,
           (double)(t_prefilled - t_start) / 1e9,
           (cpu1 - cpu0) / ((double)(t1 - t0) / 1e9));
    return total.err_server + total.err_value + total.err_proto
           + total.err_conn + total.err_lost ? 3 : 0;
}
