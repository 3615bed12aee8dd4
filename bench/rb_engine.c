/*
 * rb_engine.c - the workers of rend-bench: connections, request choice,
 * reply checks against the per-key model, latency records, progress.
 *
 * Threads: the main thread sets up, then samples the workers once per
 * --interval (the epoch handshake below) and prints progress; each worker
 * owns its connections, their keys' model entries and its counters.  A
 * sample: main bumps `epoch`; each worker, at its next loop turn (at most
 * 10 ms later), swaps its interval histogram into `iv_pub`, copies its
 * counters to `pub`, and stores the epoch in `ack`; main reads them once
 * every worker has acked or finished.
 */
#include "rb.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PREFILL_DEPTH 32
#define RBUF_MIN (64 * 1024)
#define DRAIN_NS (2ull * 1000000000ull)
#define RETRY_NS (100ull * 1000000ull)
#define MAX_RETRIES 50
#define MAX_REPORTED 10

struct req {
    uint8_t op, recorded, write;
    uint16_t nkeys;
    uint32_t key;       /* first key; the others in conn.rkeys */
    uint32_t gen, len, opaque;
    uint64_t t;         /* intended send time (latency is measured from it) */
    uint64_t sent;      /* actual send time (for --timeout) */
};

struct worker;

struct conn {
    struct worker *w;
    unsigned cid;
    int fd, dead, want_out, done, gave_up;
    uint64_t rng;
    uint32_t opaque;
    char *rbuf, *wbuf;
    size_t rcap, rlen, wcap, wlen, wpos;
    struct req *ring;
    uint32_t *rkeys;        /* ringcap * kmax keys of multi-gets */
    unsigned head, count;
    unsigned timeouts;
    uint64_t owned;         /* keys of this connection */
    uint64_t cursor;        /* sequential/prefill/setget position */
    uint64_t prefill_next;
    uint64_t verify_next;   /* --verify: next key to read back */
    int phase;              /* setget/sizes: 1 = get the key just set */
    uint32_t last_key;
    uint64_t quota;         /* count mode: measured requests left */
    uint64_t next_due;      /* open loop */
    uint64_t retry_at;
    unsigned retries;
};

struct worker {
    pthread_t tid;
    unsigned index;
    int ep;
    struct rb_hitv *hits;   /* conn_read's parse of one reply (kmax) */
    struct conn *conns;
    unsigned nconns;
    uint64_t outstanding;
    int prefilling, verifying;
    struct rb_counts c;
    struct rb_op_hists *oh;
    struct rb_hist *iv_cur, *iv_pub;
    struct rb_counts pub;
    unsigned epoch_seen;
    atomic_uint ack;
    atomic_int finished;
    uint64_t finished_ns;
    uint64_t last_timeout_check;
};

struct zipf {
    uint64_t n;
    double theta, zetan, alpha, eta, half;
};

struct rb_opts rb_opt;

static struct rb_key *model;
static struct sockaddr_storage addr;
static socklen_t addrlen;
static unsigned ringcap, kmax;
static uint64_t interval_ns;      /* open loop: per connection */
static uint64_t get_threshold;
static struct zipf zipf;
static int nops_enabled, ops_list[RB_OP__COUNT];
static pthread_barrier_t ready;
static atomic_int recording, stopping;
static atomic_uint epoch;
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned reported;

static const char *const op_names[RB_OP__COUNT] = {
#define RB_OP_NAME(id, name) [id] = name,
    RB_OPS(RB_OP_NAME)
#undef RB_OP_NAME
};
static const char *const err_names[RB_E__COUNT] = {
#define RB_ERR_NAME(id, name) [id] = name,
    RB_ERRS(RB_ERR_NAME)
#undef RB_ERR_NAME
};

const char *
rb_op_name(int op)
{
    return op_names[op];
}

const char *
rb_err_name(int e)
{
    return err_names[e];
}

uint64_t
rb_now_ns(void)
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

static double
rand01(uint64_t *s)
{
    return (double)(xorshift(s) >> 11) / 9007199254740992.0;
}

/* ---- key and size choice ------------------------------------------- */

static void
zipf_init(uint64_t n, double theta)
{
    double zeta2 = 1 + pow(0.5, theta);

    zipf.n = n;
    zipf.theta = theta;
    zipf.zetan = 0;
    for (uint64_t i = 1; i <= n; i++) {
        zipf.zetan += 1 / pow((double)i, theta);
    }
    zipf.alpha = 1 / (1 - theta);
    zipf.half = zeta2;
    zipf.eta = n < 2 ? 0 : (1 - pow(2.0 / (double)n, 1 - theta))
                               / (1 - zeta2 / zipf.zetan);
}

static uint64_t
zipf_next(uint64_t *rng)
{
    double u = rand01(rng), uz = u * zipf.zetan;

    if (zipf.n < 2 || uz < 1) {
        return 0;
    }
    if (uz < zipf.half) {
        return 1;
    }
    return (uint64_t)((double)zipf.n
                      * pow(zipf.eta * u - zipf.eta + 1, zipf.alpha));
}

static uint32_t
key_of(const struct conn *c, uint64_t rank)
{
    return (uint32_t)(c->cid + (uint64_t)rb_opt.conns * rank);
}

static uint32_t
pick_key(struct conn *c)
{
    uint64_t r;

    switch (rb_opt.dist) {
    case RB_D_SEQ:
        return key_of(c, c->cursor++ % c->owned);
    case RB_D_ZIPF:
        do {
            r = zipf_next(&c->rng);
        } while (r >= c->owned);
        return key_of(c, r);
    default:
        return key_of(c, xorshift(&c->rng) % c->owned);
    }
}

static uint32_t
pick_size(struct conn *c)
{
    const struct rb_sizes *s = &rb_opt.vsize;
    uint32_t r;

    if (s->n == 0) {
        return s->lo + (uint32_t)(xorshift(&c->rng) % (s->hi - s->lo + 1));
    }
    if (s->n == 1) {
        return s->size[0];
    }
    r = (uint32_t)(xorshift(&c->rng) % s->total);
    for (unsigned i = 0; i < s->n; i++) {
        if (r < s->cum[i]) {
            return s->size[i];
        }
    }
    return s->size[s->n - 1];
}

/* ---- connections ---------------------------------------------------- */

static int
sock_open(void)
{
    int one = 1;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, addrlen) != 0) {
        close(fd);
        return -1;
    }
    if (addr.ss_family != AF_UNIX) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Resolves the server and checks that it accepts a connection. */
static int
resolve(void)
{
    struct addrinfo hints, *ai, *p;
    int fd;

    if (rb_opt.unix_path != NULL) {
        struct sockaddr_un *un = (struct sockaddr_un *)&addr;

        if (strlen(rb_opt.unix_path) >= sizeof(un->sun_path)) {
            fprintf(stderr, "rend-bench: unix path too long\n");
            return -1;
        }
        memset(un, 0, sizeof(*un));
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, rb_opt.unix_path);
        addrlen = sizeof(*un);
        fd = sock_open();
        if (fd < 0) {
            fprintf(stderr, "rend-bench: connect %s: %s\n", rb_opt.unix_path,
                    strerror(errno));
            return -1;
        }
        close(fd);
        return 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(rb_opt.host, rb_opt.port, &hints, &ai) != 0) {
        fprintf(stderr, "rend-bench: cannot resolve %s\n", rb_opt.host);
        return -1;
    }
    for (p = ai; p != NULL; p = p->ai_next) {
        memcpy(&addr, p->ai_addr, p->ai_addrlen);
        addrlen = p->ai_addrlen;
        fd = sock_open();
        if (fd >= 0) {
            close(fd);
            freeaddrinfo(ai);
            return 0;
        }
    }
    freeaddrinfo(ai);
    fprintf(stderr, "rend-bench: connect %s:%s: %s\n", rb_opt.host,
            rb_opt.port, strerror(errno));
    return -1;
}

static void
watch(struct worker *w, struct conn *c, int op)
{
    struct epoll_event ev = {
        .events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c,
    };

    epoll_ctl(w->ep, op, c->fd, &ev);
}

static void
count_err(struct worker *w, int kind, uint64_t n)
{
    w->c.err[kind] += n;
}

static void
conn_fail(struct worker *w, struct conn *c, int kind)
{
    if (c->dead) {
        return;
    }
    count_err(w, kind, 1);
    count_err(w, RB_E_UNANSWERED, c->count);
    for (unsigned i = 0; i < c->count; i++) {
        const struct req *q = &c->ring[(c->head + i) % ringcap];

        if (q->write) {
            model[q->key].state = RB_K_UNKNOWN;
        }
    }
    w->outstanding -= c->count;
    c->count = 0;
    c->head = 0;
    c->rlen = c->wlen = c->wpos = 0;
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->dead = 1;
    c->want_out = 0;
    c->phase = 0;
    c->retry_at = rb_now_ns() + RETRY_NS;
}

static void
conn_retry(struct worker *w, struct conn *c, uint64_t now)
{
    if (!c->dead || c->done || now < c->retry_at) {
        return;
    }
    c->fd = sock_open();
    if (c->fd < 0) {
        c->retry_at = now + RETRY_NS;
        if (++c->retries > MAX_RETRIES) {
            c->done = c->gave_up = 1;   /* give up on this connection */
        }
        return;
    }
    c->dead = 0;
    watch(w, c, EPOLL_CTL_ADD);
}

static int
conn_init(struct worker *w, struct conn *c, unsigned cid)
{
    uint64_t n = rb_opt.nkeys, C = rb_opt.conns;

    memset(c, 0, sizeof(*c));
    c->w = w;
    c->cid = cid;
    c->rng = rb_opt.seed * 0x9e3779b97f4a7c15ull + cid * 0x2545f4914f6cdd1dull
             + 1;
    c->owned = n > cid ? (n - cid - 1) / C + 1 : 0;
    c->quota = rb_opt.count / C + (cid < rb_opt.count % C);
    if (rb_opt.mode == RB_M_SETGET || rb_opt.mode == RB_M_SIZES) {
        c->quota = c->owned * 2;
    }
    c->rcap = RBUF_MIN;
    c->wcap = RBUF_MIN;
    c->rbuf = malloc(c->rcap);
    c->wbuf = malloc(c->wcap);
    c->ring = calloc(ringcap, sizeof(*c->ring));
    c->rkeys = calloc((size_t)ringcap * kmax, sizeof(*c->rkeys));
    if (c->rbuf == NULL || c->wbuf == NULL || c->ring == NULL
        || c->rkeys == NULL) {
        return -1;
    }
    c->fd = sock_open();
    if (c->fd < 0) {
        return -1;
    }
    watch(w, c, EPOLL_CTL_ADD);
    return 0;
}

/* ---- requests ------------------------------------------------------- */

/* Chooses the next request of c into q (keys into keys[]); 0 = none now. */
static int
next_request(struct worker *w, struct conn *c, struct req *q, uint32_t *keys)
{
    int rec;

    memset(q, 0, sizeof(*q));
    q->nkeys = 1;
    if (w->prefilling) {
        if (c->prefill_next >= c->owned) {
            return 0;
        }
        q->op = RB_SET;
        q->key = key_of(c, c->prefill_next++);
        goto value;
    }
    if (w->verifying) {
        while (c->verify_next < c->owned) {
            q->key = key_of(c, c->verify_next++);
            if (model[q->key].state != RB_K_UNKNOWN) {
                q->op = RB_GET;
                return 1;
            }
        }
        return 0;
    }
    if (atomic_load_explicit(&stopping, memory_order_relaxed)) {
        return 0;
    }
    rec = atomic_load_explicit(&recording, memory_order_relaxed);
    if (rb_opt.count_set && rec && c->quota == 0) {
        return 0;
    }
    q->recorded = (uint8_t)rec;
    switch (rb_opt.mode) {
    case RB_M_SETGET:
    case RB_M_SIZES:
        if (c->phase) {
            q->op = RB_GET;
            q->key = c->last_key;
            c->phase = 0;
            break;
        }
        q->op = RB_SET;
        q->key = c->last_key = key_of(c, c->cursor++ % c->owned);
        c->phase = 1;
        break;
    case RB_M_FILL:
        q->op = RB_SET;
        q->key = key_of(c, xorshift(&c->rng) % c->owned);
        break;
    case RB_M_BENCH:
        q->op = (xorshift(&c->rng) & 0xffffffffu) < get_threshold
                ? (rb_opt.mget > 1 ? RB_MGET : RB_GET) : RB_SET;
        q->key = pick_key(c);
        break;
    default:
        q->op = (uint8_t)ops_list[xorshift(&c->rng) % (uint64_t)nops_enabled];
        q->key = pick_key(c);
        break;
    }
    if (rec && rb_opt.count_set) {
        c->quota--;
    }
    if (q->op == RB_MGET) {
        unsigned n = rb_opt.mget;

        if (rb_opt.mode != RB_M_BENCH) {
            n = rb_opt.mget_lo + (unsigned)(xorshift(&c->rng)
                                            % (rb_opt.mget_hi - rb_opt.mget_lo + 1));
        }
        q->nkeys = (uint16_t)n;
        keys[0] = q->key;
        for (unsigned i = 1; i < n; i++) {
            keys[i] = pick_key(c);
        }
        return 1;
    }
    if (q->op == RB_APPEND || q->op == RB_PREPEND) {
        struct rb_key *k = &model[q->key];

        if (k->npre + k->nsuf >= RB_MAX_AFFIX) {
            q->op = RB_SET;
        }
    }
    q->write = q->op != RB_GET && q->op != RB_GAT;
    if (q->op != RB_SET && q->op != RB_ADD && q->op != RB_REPLACE) {
        return 1;
    }
value:
    q->write = 1;
    q->gen = ++model[q->key].next_gen;
    q->len = rb_opt.mode == RB_M_SIZES ? q->key * rb_opt.size_step
                                       : pick_size(c);
    return 1;
}

static int
wbuf_reserve(struct conn *c, size_t need)
{
    if (c->wpos > 0 && c->wcap - c->wlen < need) {
        memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
        c->wlen -= c->wpos;
        c->wpos = 0;
    }
    if (c->wcap - c->wlen < need) {
        size_t cap = c->wcap;
        char *nb;

        while (cap - c->wlen < need) {
            cap *= 2;
        }
        nb = realloc(c->wbuf, cap);
        if (nb == NULL) {
            return -1;
        }
        c->wbuf = nb;
        c->wcap = cap;
    }
    return 0;
}

static void
conn_fill(struct worker *w, struct conn *c)
{
    unsigned depth = w->prefilling || w->verifying ? PREFILL_DEPTH
                     : rb_opt.depth;
    uint64_t now = 0;

    while (!c->dead && !c->done && c->count < depth) {
        unsigned slot = (c->head + c->count) % ringcap;
        struct req *q = &c->ring[slot];
        uint32_t *keys = c->rkeys + (size_t)slot * kmax;
        struct rb_wire_req wq;

        if (now == 0) {
            now = rb_now_ns();
        }
        if (interval_ns > 0 && !w->prefilling && !w->verifying) {
            if (c->next_due == 0) {
                c->next_due = now + interval_ns * c->cid / rb_opt.conns;
            }
            if (c->next_due > now) {
                break;
            }
        }
        if (!next_request(w, c, q, keys)) {
            break;
        }
        if (interval_ns > 0 && !w->prefilling && !w->verifying) {
            q->t = c->next_due;
            c->next_due += interval_ns;
        } else {
            q->t = now;
        }
        q->sent = now;
        if (q->nkeys == 1) {
            keys[0] = q->key;
        }
        q->opaque = c->opaque;
        c->opaque += q->nkeys + 1u;
        wq.op = q->op;
        wq.nkeys = q->nkeys;
        wq.keys = keys;
        wq.gen = q->gen;
        wq.len = q->len;
        wq.flags = rb_value_flags(q->key, q->gen);
        wq.opaque = q->opaque;
        if (wbuf_reserve(c, 128 + (size_t)q->nkeys * (rb_opt.key_len + 48)
                                + q->len) != 0) {
            conn_fail(w, c, RB_E_CONN);
            return;
        }
        c->wlen += rb_encode(c->wbuf + c->wlen, &wq);
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
            conn_fail(w, c, RB_E_CONN);
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
        c->want_out = want;
        watch(w, c, EPOLL_CTL_MOD);
    }
}

/* ---- checks against the model -------------------------------------- */

static void
printable(char *out, size_t cap, const char *v, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)v[i];

        if (ch >= 32 && ch < 127 && ch != '\\') {
            out[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        }
    }
    out[o] = '\0';
}

static void
mismatch(struct worker *w, int kind, int op, uint32_t idx,
         const struct rb_key *k, const char *what, uint32_t flags,
         const char *v, size_t n)
{
    static const char *const states[] = { "unknown", "absent", "present",
                                          "present" };
    char key[256], got[128];

    count_err(w, kind, 1);
    pthread_mutex_lock(&report_mu);
    if (reported++ < MAX_REPORTED) {
        rb_key_name(key, idx);
        key[rb_opt.key_len] = '\0';
        fprintf(stderr, "rend-bench: MISMATCH (%s) %s key %s: expected %s",
                err_names[kind], op_names[op], key, states[k->state]);
        if (k->state == RB_K_PRESENT) {
            fprintf(stderr, " (generation %u, %u bytes + %u prepends + %u "
                    "appends, flags %u)", k->gen, k->len, k->npre, k->nsuf,
                    rb_value_flags(idx, k->gen));
        }
        if (v != NULL) {
            printable(got, sizeof(got), v, n < 24 ? n : 24);
            fprintf(stderr, ", got %zu bytes, flags %u: \"%s%s\"\n", n, flags,
                    got, n > 24 ? "..." : "");
        } else {
            fprintf(stderr, ", got %s\n", what);
        }
        if (reported == MAX_REPORTED) {
            fprintf(stderr, "rend-bench: (further mismatches are counted, "
                    "not shown)\n");
        }
    }
    pthread_mutex_unlock(&report_mu);
}

/* A reply that cannot be parsed: shows what came instead. */
static void
proto_error(struct worker *w, struct conn *c, const struct req *q,
            const char *at, size_t n)
{
    char key[256], got[200];

    pthread_mutex_lock(&report_mu);
    if (reported++ < MAX_REPORTED) {
        printable(got, sizeof(got), at, n < 40 ? n : 40);
        if (q != NULL) {
            rb_key_name(key, q->key);
            key[rb_opt.key_len] = '\0';
            fprintf(stderr, "rend-bench: PROTOCOL ERROR (connection %u) in "
                    "the reply to %s key %s: \"%s%s\"\n", c->cid,
                    op_names[q->op], key, got, n > 40 ? "..." : "");
        } else {
            fprintf(stderr, "rend-bench: PROTOCOL ERROR (connection %u) "
                    "bytes nobody asked for: \"%s%s\"\n", c->cid, got,
                    n > 40 ? "..." : "");
        }
    }
    pthread_mutex_unlock(&report_mu);
    conn_fail(w, c, RB_E_PROTO);
}

static int
exists(const struct rb_key *k)
{
    return k->state == RB_K_PRESENT || k->state == RB_K_OPAQUE;
}

/* The server says the key is not there. */
static void
saw_absent(struct worker *w, int op, uint32_t idx, const char *what)
{
    struct rb_key *k = &model[idx];

    if (exists(k) && rb_opt.strict) {
        mismatch(w, RB_E_LOST, op, idx, k, what, 0, NULL, 0);
    } else if (exists(k)) {
        w->c.gone++;
    }
    k->state = RB_K_ABSENT;
}

/* The server says the key is there (without showing it). */
static int
saw_present(struct worker *w, int op, uint32_t idx, const char *what)
{
    struct rb_key *k = &model[idx];

    if (k->state == RB_K_ABSENT) {
        mismatch(w, RB_E_STALE, op, idx, k, what, 0, NULL, 0);
        k->state = RB_K_UNKNOWN;
        return 0;
    }
    if (k->state == RB_K_UNKNOWN) {
        k->state = RB_K_OPAQUE;
    }
    return 1;
}

static void
stored(uint32_t idx, const struct req *q)
{
    struct rb_key *k = &model[idx];

    k->state = RB_K_PRESENT;
    k->gen = q->gen;
    k->len = q->len;
    k->npre = k->nsuf = 0;
}

static void
check_hit(struct worker *w, int op, uint32_t idx, const struct rb_hitv *h)
{
    struct rb_key *k = &model[idx];
    int bad = rb_value_check(idx, k, h->flags, h->data, h->len);

    if (bad >= 0) {
        mismatch(w, bad, op, idx, k, NULL, h->flags, h->data, h->len);
        k->state = RB_K_UNKNOWN;
    } else if (k->state == RB_K_UNKNOWN) {
        k->state = RB_K_OPAQUE;
    }
}

/* Applies the reply of q to the model; returns 1 for a hit / applied,
 * 0 for a miss / not applied, -1 for an error reply. */
static int
apply(struct worker *w, struct conn *c, const struct req *q,
      const uint32_t *keys, enum rb_status st, const struct rb_hitv *hits,
      unsigned nhits)
{
    struct rb_key *k = &model[q->key];
    int op = q->op;

    if (st == RB_S_TOO_LARGE) {
        w->c.too_large++;
        if (q->write) {
            k->state = RB_K_UNKNOWN;
        }
        return -1;
    }
    if (st == RB_S_SERVER) {
        count_err(w, RB_E_SERVER, 1);
        if (q->write) {
            k->state = RB_K_UNKNOWN;
        }
        return -1;
    }
    switch (op) {
    case RB_GET:
    case RB_MGET:
    case RB_GAT: {
        unsigned h = 0, found = 0;

        for (unsigned i = 0; i < q->nkeys; i++) {
            if (h < nhits && hits[h].pos == i) {
                check_hit(w, op, keys[i], &hits[h]);
                h++;
                found++;
            } else {
                saw_absent(w, op, keys[i], "a miss");
            }
        }
        if (q->recorded) {
            w->c.keys += q->nkeys;
            w->c.hit[op] += found;
            w->c.miss[op] += q->nkeys - found;
        }
        return found > 0;
    }
    case RB_SET:
        if (st != RB_S_OK) {
            count_err(w, RB_E_SERVER, 1);   /* a plain set must store */
            k->state = RB_K_UNKNOWN;
            return -1;
        }
        stored(q->key, q);
        break;
    case RB_ADD:
        if (st == RB_S_OK) {
            if (exists(k)) {
                mismatch(w, RB_E_STALE, op, q->key, k, "STORED (the key "
                         "exists)", 0, NULL, 0);
            }
            stored(q->key, q);
        } else {
            saw_present(w, op, q->key, "NOT_STORED (the key is absent)");
        }
        break;
    case RB_REPLACE:
        if (st == RB_S_OK) {
            saw_present(w, op, q->key, "STORED (the key is absent)");
            stored(q->key, q);
        } else {
            saw_absent(w, op, q->key, "NOT_STORED");
        }
        break;
    case RB_APPEND:
    case RB_PREPEND:
        if (st == RB_S_OK) {
            if (saw_present(w, op, q->key, "STORED (the key is absent)")
                && k->state == RB_K_PRESENT) {
                if (op == RB_APPEND) {
                    k->nsuf++;
                } else {
                    k->npre++;
                }
            }
        } else {
            saw_absent(w, op, q->key, "NOT_STORED");
        }
        break;
    case RB_DELETE:
        if (st == RB_S_OK) {
            saw_present(w, op, q->key, "DELETED (the key is absent)");
            k->state = RB_K_ABSENT;
        } else {
            saw_absent(w, op, q->key, "NOT_FOUND");
        }
        break;
    case RB_TOUCH:
        if (st == RB_S_OK) {
            saw_present(w, op, q->key, "TOUCHED (the key is absent)");
        } else {
            saw_absent(w, op, q->key, "NOT_FOUND");
        }
        break;
    default:
        break;
    }
    if (q->recorded) {
        w->c.keys++;
        if (st == RB_S_OK) {
            w->c.hit[op]++;
        } else {
            w->c.miss[op]++;
        }
    }
    (void)c;
    return st == RB_S_OK;
}

static void
account(struct worker *w, const struct req *q, int outcome, uint64_t now)
{
    uint64_t ns = now > q->t ? now - q->t : 0;

    w->c.replies++;
    if (w->verifying) {
        w->c.verified += q->nkeys;
    }
    if (!q->recorded) {
        return;
    }
    w->c.reqs++;
    w->c.op[q->op]++;
    rb_hist_record(&w->oh->h[q->op][outcome == 1 ? 0 : 1], ns);
    rb_hist_record(w->iv_cur, ns);
}

static void
conn_read(struct worker *w, struct conn *c)
{
    struct rb_hitv *hits;
    size_t pos = 0;
    uint64_t now;

    if (w->hits == NULL) {
        w->hits = calloc(kmax, sizeof(*w->hits));
        if (w->hits == NULL) {
            conn_fail(w, c, RB_E_CONN);
            return;
        }
    }
    hits = w->hits;
    for (;;) {
        ssize_t n;

        if (c->rlen == c->rcap) {
            char *nb = realloc(c->rbuf, c->rcap * 2);

            if (nb == NULL) {
                conn_fail(w, c, RB_E_CONN);
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
            conn_fail(w, c, RB_E_CONN);
            return;
        }
    }
    now = rb_now_ns();
    while (c->count > 0) {
        unsigned slot = c->head;
        struct req *q = &c->ring[slot];
        uint32_t *keys = c->rkeys + (size_t)slot * kmax;
        struct rb_wire_req wq = {
            .op = q->op, .nkeys = q->nkeys, .keys = keys, .opaque = q->opaque,
        };
        size_t used = 0;
        unsigned nhits = 0;
        enum rb_status st = rb_parse(c->rbuf + pos, c->rlen - pos, &wq, &used,
                                     hits, &nhits);

        if (st == RB_S_INCOMPLETE) {
            break;
        }
        if (st == RB_S_PROTO) {
            proto_error(w, c, q, c->rbuf + pos, c->rlen - pos);
            return;
        }
        account(w, q, apply(w, c, q, keys, st, hits, nhits), now);
        pos += used;
        c->head = (c->head + 1) % ringcap;
        c->count--;
        w->outstanding--;
    }
    if (c->count == 0 && pos < c->rlen) {
        proto_error(w, c, NULL, c->rbuf + pos, c->rlen - pos);
        return;
    }
    memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
    c->rlen -= pos;
}

/* ---- the worker loop ------------------------------------------------ */

static void
publish(struct worker *w, unsigned e)
{
    struct rb_hist *t = w->iv_pub;

    w->iv_pub = w->iv_cur;
    w->iv_cur = t;
    memset(w->iv_cur, 0, sizeof(*w->iv_cur));
    w->pub = w->c;
    w->epoch_seen = e;
    atomic_store_explicit(&w->ack, e, memory_order_release);
}

static void
check_timeouts(struct worker *w, uint64_t now)
{
    uint64_t limit = (uint64_t)(rb_opt.timeout * 1e9);

    if (now - w->last_timeout_check < 100000000ull) {
        return;
    }
    w->last_timeout_check = now;
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];

        if (!c->dead && c->count > 0 && now > c->ring[c->head].sent
            && now - c->ring[c->head].sent > limit) {
            conn_fail(w, c, RB_E_TIMEOUT);
            if (++c->timeouts >= 3) {
                c->done = c->gave_up = 1;   /* a server that does not answer */
            }
        }
    }
}

static void
run_once(struct worker *w)
{
    struct epoll_event ev[64];
    uint64_t now = rb_now_ns(), wait_ns = 10000000ull;
    struct timespec ts;
    unsigned e;
    int n;

    if (interval_ns > 0 && !w->prefilling) {
        for (unsigned i = 0; i < w->nconns; i++) {
            struct conn *c = &w->conns[i];

            if (!c->dead && !c->done && c->count < rb_opt.depth) {
                uint64_t d = c->next_due > now ? c->next_due - now : 0;
                if (d < wait_ns) {
                    wait_ns = d;
                }
            }
        }
    }
    ts.tv_sec = 0;
    ts.tv_nsec = (long)wait_ns;
    n = epoll_pwait2(w->ep, ev, 64, &ts, NULL);
    if (n < 0 && errno == ENOSYS) {
        n = epoll_wait(w->ep, ev, 64, (int)(wait_ns / 1000000));
    }
    for (int i = 0; i < n; i++) {
        struct conn *c = ev[i].data.ptr;

        if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            conn_read(w, c);
        }
        conn_fill(w, c);
        conn_flush(w, c);
    }
    now = rb_now_ns();
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];

        if (c->dead) {
            conn_retry(w, c, now);
            if (!c->dead) {
                conn_fill(w, c);
                conn_flush(w, c);
            }
        } else if (interval_ns > 0 && c->next_due <= now) {
            conn_fill(w, c);
            conn_flush(w, c);
        }
    }
    check_timeouts(w, now);
    e = atomic_load_explicit(&epoch, memory_order_acquire);
    if (e != w->epoch_seen) {
        publish(w, e);
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

/* Count mode: every connection has sent its share and has nothing in
 * flight (or gave up). */
static int
all_done(struct worker *w)
{
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];

        if (c->done) {
            continue;
        }
        if (c->quota > 0 || c->count > 0
            || !atomic_load_explicit(&recording, memory_order_relaxed)) {
            return 0;
        }
        c->done = 1;
    }
    return 1;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t end;

    w->prefilling = rb_opt.prefill;
    fill_all(w);
    while (w->prefilling && w->outstanding > 0) {
        run_once(w);
    }
    w->prefilling = 0;
    pthread_barrier_wait(&ready);
    fill_all(w);
    while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
        run_once(w);
        if (rb_opt.count_set && all_done(w)) {
            break;
        }
    }
    end = rb_now_ns() + DRAIN_NS;
    while (w->outstanding > 0 && rb_now_ns() < end) {
        run_once(w);
    }
    w->finished_ns = rb_now_ns();
    if (rb_opt.verify && w->outstanding == 0) {
        /* read back every key whose state is known */
        w->verifying = 1;
        for (unsigned i = 0; i < w->nconns; i++) {
            w->conns[i].done = w->conns[i].gave_up;
        }
        fill_all(w);
        end = rb_now_ns() + (uint64_t)(rb_opt.timeout * 1e9);
        while (w->outstanding > 0 && rb_now_ns() < end) {
            run_once(w);
        }
    }
    count_err(w, RB_E_UNANSWERED, w->outstanding);
    publish(w, w->epoch_seen);
    atomic_store_explicit(&w->finished, 1, memory_order_release);
    return NULL;
}

/* ---- main thread ---------------------------------------------------- */

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
           + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
sleep_until(uint64_t t)
{
    uint64_t now = rb_now_ns();
    struct timespec ts;

    if (t <= now) {
        return;
    }
    ts.tv_sec = (time_t)((t - now) / 1000000000ull);
    ts.tv_nsec = (long)((t - now) % 1000000000ull);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void
add_counts(struct rb_counts *d, const struct rb_counts *s)
{
    const uint64_t *a = (const uint64_t *)s;
    uint64_t *b = (uint64_t *)d;

    for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++) {
        b[i] += a[i];
    }
}

static uint64_t
misses_of(const struct rb_counts *c)
{
    uint64_t m = 0;

    for (int i = 0; i < RB_OP__COUNT; i++) {
        m += c->miss[i];
    }
    return m;
}

struct sampler {
    struct worker *ws;
    struct rb_result *res;
    struct rb_counts prev;
    struct rb_hist iv;
    uint64_t t0, last;
    unsigned cap;
    int tty;
};

static void
progress(struct sampler *s, const struct rb_sample *x, int final)
{
    double el = x->t, left = -1;
    char rem[48] = "";

    if (rb_opt.quiet || rb_opt.json > 1) {
        return;
    }
    if (rb_opt.duration_set) {
        left = rb_opt.duration - el;
    } else if (s->res->c.reqs > 0 && rb_opt.count > 0) {
        double done = (double)s->prev.reqs / (double)rb_opt.count;
        if (done > 0) {
            left = el / done - el;
        }
    }
    if (left >= 0 && !final) {
        snprintf(rem, sizeof(rem), "  left %.0fs", left);
    }
    fprintf(stderr, "%s[%6.1fs] %9.0f ops/s  errors %llu  misses %llu  "
            "p50 %.1f us  p99 %.1f us%s%s", s->tty ? "\r\033[K" : "", el,
            x->ops_s, (unsigned long long)x->errors,
            (unsigned long long)x->misses, x->p50_us, x->p99_us, rem,
            s->tty && !final ? "" : "\n");
    fflush(stderr);
}

/* Takes one sample from every worker (epoch handshake). */
static void
sample(struct sampler *s, int final)
{
    unsigned e = atomic_fetch_add(&epoch, 1) + 1;
    uint64_t deadline = rb_now_ns() + 500000000ull, now;
    struct rb_counts sum;
    struct rb_sample x;
    double dt;

    for (unsigned t = 0; t < rb_opt.threads; t++) {
        struct worker *w = &s->ws[t];

        while (atomic_load_explicit(&w->ack, memory_order_acquire) != e
               && !atomic_load_explicit(&w->finished, memory_order_acquire)
               && rb_now_ns() < deadline) {
            sleep_until(rb_now_ns() + 1000000ull);
        }
    }
    memset(&sum, 0, sizeof(sum));
    memset(&s->iv, 0, sizeof(s->iv));
    for (unsigned t = 0; t < rb_opt.threads; t++) {
        struct worker *w = &s->ws[t];

        if (atomic_load_explicit(&w->ack, memory_order_acquire) == e
            || atomic_load_explicit(&w->finished, memory_order_acquire)) {
            rb_hist_merge(&s->iv, w->iv_pub);
            memset(w->iv_pub, 0, sizeof(*w->iv_pub));
        }
        add_counts(&sum, &w->pub);
    }
    now = rb_now_ns();
    dt = (double)(now - s->last) / 1e9;
    x.t = (double)(now - s->t0) / 1e9;
    x.ops_s = dt > 0 ? (double)(sum.reqs - s->prev.reqs) / dt : 0;
    x.errors = rb_total_errors(&sum) - rb_total_errors(&s->prev);
    x.misses = misses_of(&sum) - misses_of(&s->prev);
    x.p50_us = (double)rb_hist_quantile(&s->iv, 0.50) / 1e3;
    x.p99_us = (double)rb_hist_quantile(&s->iv, 0.99) / 1e3;
    s->prev = sum;
    s->res->c = sum;
    s->last = now;
    if (dt > 0.05 || !final) {
        if (s->res->nsamples < s->cap) {
            s->res->samples[s->res->nsamples++] = x;
        }
        progress(s, &x, final);
    }
}

/* --idle: connections that are opened before the run and closed after
 * it, and never send a byte (the server's cost of many idle clients). */
static int *idle_fds;
static unsigned nidle;

static int
idle_open(void)
{
    if (rb_opt.idle == 0) {
        return 0;
    }
    idle_fds = calloc(rb_opt.idle, sizeof(*idle_fds));
    if (idle_fds == NULL) {
        fprintf(stderr, "rend-bench: out of memory\n");
        return -1;
    }
    for (nidle = 0; nidle < rb_opt.idle; nidle++) {
        int fd = sock_open();

        if (fd < 0) {
            fprintf(stderr, "rend-bench: idle connection %u: %s (ulimit -n?)\n",
                    nidle + 1, strerror(errno));
            return -1;
        }
        idle_fds[nidle] = fd;
    }
    return 0;
}

static void
idle_close(void)
{
    for (unsigned i = 0; i < nidle; i++) {
        close(idle_fds[i]);
    }
    free(idle_fds);
    idle_fds = NULL;
    nidle = 0;
}

static int
setup(struct worker *ws)
{
    unsigned cid = 0;

    if (idle_open() != 0) {
        return -1;
    }

    for (unsigned t = 0; t < rb_opt.threads; t++) {
        struct worker *w = &ws[t];

        w->index = t;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->nconns = rb_opt.conns / rb_opt.threads
                    + (t < rb_opt.conns % rb_opt.threads);
        w->conns = calloc(w->nconns, sizeof(*w->conns));
        w->oh = calloc(1, sizeof(*w->oh));
        w->iv_cur = calloc(1, sizeof(*w->iv_cur));
        w->iv_pub = calloc(1, sizeof(*w->iv_pub));
        if (w->ep < 0 || w->conns == NULL || w->oh == NULL
            || w->iv_cur == NULL || w->iv_pub == NULL) {
            fprintf(stderr, "rend-bench: out of memory\n");
            return -1;
        }
        for (unsigned i = 0; i < w->nconns; i++) {
            if (conn_init(w, &w->conns[i], cid++) != 0) {
                fprintf(stderr, "rend-bench: connection %u: %s\n", cid,
                        strerror(errno));
                return -1;
            }
        }
    }
    return 0;
}

/* Everything setup() and rb_engine_run() allocated for the workers. */
static void
teardown(struct worker *ws)
{
    idle_close();
    for (unsigned t = 0; ws != NULL && t < rb_opt.threads; t++) {
        struct worker *w = &ws[t];
        for (unsigned i = 0; w->conns != NULL && i < w->nconns; i++) {
            struct conn *c = &w->conns[i];
            if (c->fd > 0) {
                close(c->fd);
            }
            free(c->rbuf);
            free(c->wbuf);
            free(c->ring);
            free(c->rkeys);
        }
        if (w->ep >= 0) {
            close(w->ep);
        }
        free(w->conns);
        free(w->hits);
        free(w->oh);
        free(w->iv_cur);
        free(w->iv_pub);
    }
    free(ws);
    free(model);
    model = NULL;
    rb_proto_free();
}

void
rb_result_free(struct rb_result *res)
{
    free(res->oh);
    free(res->samples);
    res->oh = NULL;
    res->samples = NULL;
}

int
rb_engine_run(struct rb_result *res)
{
    struct worker *ws;
    struct sampler s;
    uint64_t t_start, t_ready, t_end, step;
    double cpu0;

    memset(res, 0, sizeof(*res));
    if (rb_opt.nkeys < rb_opt.conns) {
        fprintf(stderr, "rend-bench: %llu keys for %u connections: every "
                "connection needs keys of its own (use fewer -w or more "
                "--keys)\n", (unsigned long long)rb_opt.nkeys, rb_opt.conns);
        return -1;
    }
    if (rb_opt.nkeys > 0xffffffffull) {
        fprintf(stderr, "rend-bench: at most 2^32-1 keys\n");
        return -1;
    }
    if (rb_proto_init() != 0 || resolve() != 0) {
        return -1;
    }
    model = calloc(rb_opt.nkeys, sizeof(*model));
    ws = calloc(rb_opt.threads, sizeof(*ws));
    res->oh = calloc(1, sizeof(*res->oh));
    s.cap = 100000;
    res->samples = calloc(s.cap, sizeof(*res->samples));
    if (model == NULL || ws == NULL || res->oh == NULL
        || res->samples == NULL) {
        fprintf(stderr, "rend-bench: out of memory\n");
        return -1;
    }
    ringcap = rb_opt.depth > PREFILL_DEPTH ? rb_opt.depth : PREFILL_DEPTH;
    kmax = rb_opt.mget_hi > 1 ? rb_opt.mget_hi : 1;
    get_threshold = (uint64_t)(rb_opt.get_ratio * 4294967296.0);
    if (rb_opt.rate > 0) {
        interval_ns = (uint64_t)(1e9 * rb_opt.conns / rb_opt.rate);
        if (interval_ns == 0) {
            interval_ns = 1;
        }
    }
    for (int op = 0; op < RB_OP__COUNT; op++) {
        if (rb_opt.ops_enabled[op]) {
            ops_list[nops_enabled++] = op;
        }
    }
    if (rb_opt.dist == RB_D_ZIPF) {
        zipf_init((rb_opt.nkeys + rb_opt.conns - 1) / rb_opt.conns,
                  rb_opt.zipf_theta);
    }
    if (setup(ws) != 0) {
        return -1;
    }
    pthread_barrier_init(&ready, NULL, rb_opt.threads + 1);
    t_start = rb_now_ns();
    for (unsigned t = 0; t < rb_opt.threads; t++) {
        if (pthread_create(&ws[t].tid, NULL, worker_main, &ws[t]) != 0) {
            fprintf(stderr, "rend-bench: cannot start threads\n");
            return -1;
        }
    }
    pthread_barrier_wait(&ready);
    t_ready = rb_now_ns();
    res->prefill_secs = (double)(t_ready - t_start) / 1e9;
    sleep_until(t_ready + (uint64_t)(rb_opt.warmup * 1e9));
    /* the warm-up is not measured: start every count from here */
    atomic_fetch_add(&epoch, 1);
    for (unsigned t = 0; t < rb_opt.threads; t++) {
        uint64_t d = rb_now_ns() + 500000000ull;
        while (atomic_load(&ws[t].ack) != atomic_load(&epoch)
               && !atomic_load(&ws[t].finished) && rb_now_ns() < d) {
            sleep_until(rb_now_ns() + 1000000ull);
        }
    }
    memset(&s, 0, sizeof(s));
    s.cap = 100000;
    s.ws = ws;
    s.res = res;
    s.tty = isatty(2);
    for (unsigned t = 0; t < rb_opt.threads; t++) {
        add_counts(&s.prev, &ws[t].pub);
        memset(ws[t].iv_pub, 0, sizeof(*ws[t].iv_pub));
    }
    cpu0 = cpu_seconds();
    s.t0 = s.last = rb_now_ns();
    atomic_store(&recording, 1);
    step = (uint64_t)(rb_opt.interval * 1e9);
    for (unsigned k = 1;; k++) {
        uint64_t next = s.t0 + k * step;
        int finished = 1;

        if (rb_opt.duration_set) {
            uint64_t end = s.t0 + (uint64_t)(rb_opt.duration * 1e9);
            if (next >= end) {
                sleep_until(end);
                break;
            }
        }
        while (rb_now_ns() < next) {
            finished = 1;
            for (unsigned t = 0; t < rb_opt.threads; t++) {
                finished &= atomic_load(&ws[t].finished);
            }
            if (finished) {
                break;
            }
            sleep_until(rb_now_ns() + 10000000ull < next
                        ? rb_now_ns() + 10000000ull : next);
        }
        if (finished && !rb_opt.duration_set) {
            break;
        }
        sample(&s, 0);
    }
    t_end = rb_now_ns();
    atomic_store(&recording, 0);
    atomic_store(&stopping, 1);
    res->cpu = cpu_seconds() - cpu0;
    for (unsigned t = 0; t < rb_opt.threads; t++) {
        pthread_join(ws[t].tid, NULL);
        if (!rb_opt.duration_set && ws[t].finished_ns > 0) {
            t_end = t == 0 || ws[t].finished_ns > t_end ? ws[t].finished_ns
                                                        : t_end;
        }
    }
    sample(&s, 1);
    memset(&res->c, 0, sizeof(res->c));
    for (unsigned t = 0; t < rb_opt.threads; t++) {
        add_counts(&res->c, &ws[t].c);
        for (int op = 0; op < RB_OP__COUNT; op++) {
            for (int o = 0; o < 2; o++) {
                rb_hist_merge(&res->oh->h[op][o], &ws[t].oh->h[op][o]);
                rb_hist_merge(&res->all, &ws[t].oh->h[op][o]);
            }
        }
    }
    res->secs = (double)(t_end - s.t0) / 1e9;
    if (res->secs <= 0) {
        res->secs = 1e-9;
    }
    res->cpu /= res->secs;
    teardown(ws);
    return 0;
}
