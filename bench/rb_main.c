/*
 * rb_main.c - rend-bench's command line: subcommands, options, defaults.
 *
 *   rend-bench blast|setget|sizes|fill|setops|bench [options]
 *
 * The first five are Netflix Rend's client tools with their options and
 * meanings (-n, -w, -kl, -p 11212, -h, -b/-t); bench is the load generator.
 * Exit status: 0 every reply verified; 1 wrong data (a mismatch); 2 could
 * not run; 3 no wrong data but errors were counted.
 */
#include "rb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

enum {
    O_HOST, O_PORT, O_UNIX, O_SERVER, O_BINARY, O_TEXT, O_META, O_PROTOCOL,
    O_KL, O_NUM, O_WORKERS, O_THREADS, O_DEPTH, O_KEYS, O_PREFIX, O_DURATION,
    O_WARMUP, O_RATE, O_RATIO, O_DIST, O_VSIZE, O_MGET, O_SEED, O_TIMEOUT,
    O_INTERVAL, O_JSON, O_PLOT, O_QUIET, O_STRICT, O_NOSTRICT, O_NOPREFILL,
    O_MAX, O_STEP, O_EXPTIME, O_VERIFY, O_NOVERIFY, O_PPROF, O_FREEPORT, O_HELP, O_VERSION,
    O_IDLE,
};

struct optdef {
    const char *names[4];
    int id, arg;
    const char *help;
};

static const struct optdef optdefs[] = {
    { { "-h", "--host" }, O_HOST, 1, "HOST  server host (localhost)" },
    { { "-p", "--port" }, O_PORT, 1,
      "PORT  server port (11212 for Rend's tools, 11211 for bench)" },
    { { "--unix", "-u" }, O_UNIX, 1, "PATH  connect to a unix socket" },
    { { "--server", "-s" }, O_SERVER, 1, "ADDR  host:port or /unix/path" },
    { { "-b", "--binary" }, O_BINARY, 0, "      binary protocol" },
    { { "-t", "--text" }, O_TEXT, 0, "      text protocol (default)" },
    { { "--meta" }, O_META, 0, "      meta protocol (mg/ms/md/mn)" },
    { { "--protocol", "-P" }, O_PROTOCOL, 1, "P     text, binary or meta" },
    { { "-kl", "--key-length" }, O_KL, 1, "N     key length (4; bench 12)" },
    { { "-n", "--num-ops" }, O_NUM, 1,
      "N     requests in all (1000000); bench: instead of --duration" },
    { { "-w", "--workers", "-c", "--conns" }, O_WORKERS, 1,
      "N     connections (10; bench 50)" },
    { { "-T", "--threads" }, O_THREADS, 1, "N     event-loop threads (1)" },
    { { "-d", "--depth" }, O_DEPTH, 1,
      "N     requests in flight per connection (1)" },
    { { "-k", "--keys" }, O_KEYS, 1, "N     key space (depends on the command)" },
    { { "--key-prefix" }, O_PREFIX, 1, "S     prefix of every key" },
    { { "--duration" }, O_DURATION, 1, "S     measure for S seconds" },
    { { "--warmup" }, O_WARMUP, 1, "S     unmeasured seconds first (bench 1)" },
    { { "--rate" }, O_RATE, 1,
      "N     open loop: N requests/s in all, latency from the schedule" },
    { { "--ratio", "-r", "--get-ratio" }, O_RATIO, 1,
      "R     bench: share of gets, 0..1 (0.9)" },
    { { "--dist" }, O_DIST, 1,
      "D     uniform, zipfian[:THETA] (0.99) or sequential" },
    { { "-v", "--value-size" }, O_VSIZE, 1,
      "SPEC  N, LO-HI (uniform) or N:W,N:W,... (weighted)" },
    { { "--mget" }, O_MGET, 1, "N     keys per get (bench 1; blast 2-25)" },
    { { "--seed", "-S" }, O_SEED, 1, "N     seed of keys, values and choices (1)" },
    { { "--timeout" }, O_TIMEOUT, 1, "S     a reply later than S s fails its "
      "connection (10)" },
    { { "--interval" }, O_INTERVAL, 1, "S     progress/sample period (1)" },
    { { "--json" }, O_JSON, 0, "      print the summary as JSON" },
    { { "--plot" }, O_PLOT, 1, "FILE  draw ops/s and p50/p99 over time (SVG)" },
    { { "-q", "--quiet" }, O_QUIET, 0, "      no progress lines" },
    { { "--strict" }, O_STRICT, 0,
      "      a miss of a key that should exist is a mismatch" },
    { { "--no-strict" }, O_NOSTRICT, 0, "      such misses are counted as gone (default)" },
    { { "--verify" }, O_VERIFY, 0,
      "      read back every key at the end (fill, setops, blast)" },
    { { "--no-verify" }, O_NOVERIFY, 0, "      no read-back at the end" },
    { { "--no-prefill" }, O_NOPREFILL, 0, "      bench: do not set every key first" },
    { { "--max" }, O_MAX, 1, "N     sizes: largest value (1048576)" },
    { { "--step" }, O_STEP, 1, "N     sizes: size step (100)" },
    { { "--exptime" }, O_EXPTIME, 1, "N     exptime of writes (0)" },
    { { "--idle" }, O_IDLE, 1,
      "N     bench: N more connections, open and silent all along" },
    { { "--pprof" }, O_PPROF, 1, "FILE  accepted for Rend compatibility, ignored" },
    { { "--free-port" }, O_FREEPORT, 0, "      print a free TCP port and exit" },
    { { "--help" }, O_HELP, 0, "      this help" },
    { { "--version" }, O_VERSION, 0, "      the version" },
};
#define NOPTS (sizeof(optdefs) / sizeof(optdefs[0]))

static const struct {
    const char *name;
    enum rb_mode mode;
    const char *what;
} commands[] = {
    { "blast", RB_M_BLAST, "random requests of every type, per-op latency" },
    { "setget", RB_M_SETGET, "set then verified get of sequential keys" },
    { "sizes", RB_M_SIZES, "every value size up to --max, set and verified" },
    { "fill", RB_M_FILL, "-n sets of 5-20 KiB values over the key space" },
    { "setops", RB_M_SETOPS, "set/add/replace/append/prepend outcomes" },
    { "bench", RB_M_BENCH, "the load generator" },
};

static void
usage(FILE *f)
{
    fprintf(f, "Usage: rend-bench COMMAND [options]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
    }
    fprintf(f, "\nOptions:\n");
    for (size_t i = 0; i < NOPTS; i++) {
        char names[64] = "";
        size_t o = 0;

        for (int k = 0; k < 4 && optdefs[i].names[k]; k++) {
            o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s",
                                  k ? ", " : "", optdefs[i].names[k]);
        }
        fprintf(f, "  %-22s %s\n", names, optdefs[i].help);
    }
    fprintf(f, "\nEvery reply is checked against what was stored (bytes, "
            "flags and the write's\ngeneration).  Exit: 0 all verified, 1 "
            "wrong data, 2 could not run, 3 errors.\nSee rend-bench(1).\n");
}

static int
free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0
        || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("rend-bench: free port");
        return 2;
    }
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

static int
bad(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "rend-bench: %s %s: %s\n", opt, val ? val : "", why);
    return -1;
}

static int
parse_u64(const char *s, uint64_t *v)
{
    char *end;
    unsigned long long r;

    errno = 0;
    r = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || *s == '-') {
        return -1;
    }
    *v = r;
    return 0;
}

static int
parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *v)
{
    uint64_t r;

    if (parse_u64(s, &r) != 0 || r < lo || r > hi) {
        return -1;
    }
    *v = (unsigned)r;
    return 0;
}

static int
parse_double(const char *s, double lo, double hi, double *v)
{
    char *end;
    double r = strtod(s, &end);

    if (end == s || *end != '\0' || !(r >= lo && r <= hi)) {
        return -1;
    }
    *v = r;
    return 0;
}

/* "N", "LO-HI" or "N:W,N:W,..." */
static int
parse_sizes(const char *s, struct rb_sizes *z)
{
    char buf[512], *tok, *save;

    memset(z, 0, sizeof(*z));
    if (strlen(s) >= sizeof(buf)) {
        return -1;
    }
    strcpy(buf, s);
    if (strchr(buf, '-') != NULL && strchr(buf, ':') == NULL) {
        char *dash = strchr(buf, '-');
        uint64_t lo, hi;

        *dash = '\0';
        if (parse_u64(buf, &lo) != 0 || parse_u64(dash + 1, &hi) != 0
            || lo > hi || hi > (64u << 20)) {
            return -1;
        }
        z->lo = (uint32_t)lo;
        z->hi = (uint32_t)hi;
        return 0;
    }
    for (tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        uint64_t size, w = 1;

        if (colon != NULL) {
            *colon = '\0';
            if (parse_u64(colon + 1, &w) != 0 || w == 0 || w > 1000000) {
                return -1;
            }
        }
        if (parse_u64(tok, &size) != 0 || size > (64u << 20) || z->n == 16) {
            return -1;
        }
        z->size[z->n] = (uint32_t)size;
        z->total += (uint32_t)w;
        z->cum[z->n] = z->total;
        if (size > z->hi) {
            z->hi = (uint32_t)size;
        }
        z->n++;
    }
    return z->n > 0 ? 0 : -1;
}

static const struct optdef *
find_opt(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++) {
        for (int k = 0; k < 4 && optdefs[i].names[k]; k++) {
            if (strcmp(optdefs[i].names[k], name) == 0) {
                return &optdefs[i];
            }
        }
    }
    return NULL;
}

static void
defaults(enum rb_mode mode)
{
    struct rb_opts *o = &rb_opt;

    memset(o, 0, sizeof(*o));
    o->mode = mode;
    snprintf(o->host, sizeof(o->host), "localhost");
    snprintf(o->port, sizeof(o->port), "11212");
    o->conns = 10;
    o->threads = 1;
    o->depth = 1;
    o->key_len = 4;
    o->count = 1000000;
    o->timeout = 10;
    o->interval = 1;
    o->seed = 1;
    o->zipf_theta = 0.99;
    o->mget = 1;
    o->mget_lo = o->mget_hi = 1;
    o->size_max = 1048576;
    o->size_step = 100;
    o->vsize.lo = 1;
    o->vsize.hi = 10240;
    switch (mode) {
    case RB_M_BENCH:
        snprintf(o->port, sizeof(o->port), "11211");
        o->conns = 50;
        o->key_len = 12;
        o->nkeys = 10000;
        o->duration = 10;
        o->warmup = 1;
        o->prefill = 1;
        o->get_ratio = 0.9;
        o->vsize.n = 1;
        o->vsize.size[0] = o->vsize.lo = o->vsize.hi = 100;
        o->vsize.total = o->vsize.cum[0] = 1;
        break;
    case RB_M_BLAST:
    case RB_M_SETOPS:
        o->verify = 1;
        for (int op = RB_SET; op <= RB_PREPEND; op++) {
            o->ops_enabled[op] = 1;
        }
        if (mode == RB_M_BLAST) {
            o->ops_enabled[RB_GET] = o->ops_enabled[RB_MGET] = 1;
            o->ops_enabled[RB_DELETE] = o->ops_enabled[RB_TOUCH] = 1;
            o->mget_lo = 2;
            o->mget_hi = 25;
        }
        break;
    case RB_M_SETGET:
    case RB_M_SIZES:
        break;
    case RB_M_FILL:
        o->verify = 1;
        o->vsize.lo = 5120;
        o->vsize.hi = 20480;
        break;
    }
}

static uint64_t
key_space(unsigned digits)
{
    uint64_t n = 1;

    for (unsigned i = 0; i < digits && n < (1ull << 40); i++) {
        n *= 26;
    }
    return n;
}

static int
parse_args(int argc, char **argv)
{
    struct rb_opts *o = &rb_opt;
    int keys_set = 0, port_set = 0;

    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *a = argv[i], *val = NULL, *eq = strchr(a, '=');
        const struct optdef *d;
        size_t nl = eq && a[0] == '-' && a[1] == '-' ? (size_t)(eq - a)
                                                      : strlen(a);

        if (nl >= sizeof(name)) {
            return bad(a, NULL, "unknown option");
        }
        memcpy(name, a, nl);
        name[nl] = '\0';
        d = find_opt(name);
        if (d == NULL) {
            return bad(a, NULL, "unknown option (see --help)");
        }
        if (d->arg) {
            if (nl < strlen(a)) {
                val = a + nl + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                return bad(name, NULL, "needs a value");
            }
        } else if (nl < strlen(a)) {
            return bad(a, NULL, "takes no value");
        }
        switch (d->id) {
        case O_HOST: snprintf(o->host, sizeof(o->host), "%s", val); break;
        case O_PORT: {
            unsigned port;

            if (parse_uint(val, 1, 65535, &port) != 0) {
                return bad(name, val, "a port is 1..65535");
            }
            snprintf(o->port, sizeof(o->port), "%u", port);
            port_set = 1;
            break;
        }
        case O_UNIX: o->unix_path = val; break;
        case O_SERVER:
            if (strchr(val, '/') != NULL) {
                o->unix_path = val;
            } else {
                const char *colon = strrchr(val, ':');
                if (colon == NULL || (size_t)(colon - val) >= sizeof(o->host)
                    || strlen(colon + 1) >= sizeof(o->port)) {
                    return bad(name, val, "host:port or a unix path");
                }
                memcpy(o->host, val, (size_t)(colon - val));
                o->host[colon - val] = '\0';
                snprintf(o->port, sizeof(o->port), "%s", colon + 1);
                port_set = 1;
            }
            break;
        case O_BINARY: o->proto = RB_BINARY; break;
        case O_TEXT: o->proto = RB_TEXT; break;
        case O_META: o->proto = RB_META; break;
        case O_PROTOCOL:
            if (strcmp(val, "text") == 0) {
                o->proto = RB_TEXT;
            } else if (strcmp(val, "binary") == 0) {
                o->proto = RB_BINARY;
            } else if (strcmp(val, "meta") == 0) {
                o->proto = RB_META;
            } else {
                return bad(name, val, "text, binary or meta");
            }
            break;
        case O_KL:
            if (parse_uint(val, 1, 250, &o->key_len) != 0) {
                return bad(name, val, "a key length is 1..250");
            }
            break;
        case O_NUM:
            if (parse_u64(val, &o->count) != 0 || o->count == 0) {
                return bad(name, val, "must be > 0");
            }
            o->count_set = 1;
            break;
        case O_WORKERS:
            if (parse_uint(val, 1, 100000, &o->conns) != 0) {
                return bad(name, val, "1..100000");
            }
            break;
        case O_THREADS:
            if (parse_uint(val, 1, 1024, &o->threads) != 0) {
                return bad(name, val, "1..1024");
            }
            break;
        case O_DEPTH:
            if (parse_uint(val, 1, 65536, &o->depth) != 0) {
                return bad(name, val, "1..65536");
            }
            break;
        case O_KEYS:
            if (parse_u64(val, &o->nkeys) != 0 || o->nkeys == 0) {
                return bad(name, val, "must be > 0");
            }
            keys_set = 1;
            break;
        case O_PREFIX: o->key_prefix = val; break;
        case O_DURATION:
            if (parse_double(val, 0.001, 1e7, &o->duration) != 0) {
                return bad(name, val, "seconds > 0");
            }
            o->duration_set = 1;
            break;
        case O_WARMUP:
            if (parse_double(val, 0, 1e6, &o->warmup) != 0) {
                return bad(name, val, "seconds >= 0");
            }
            break;
        case O_RATE:
            if (parse_double(val, 0, 1e9, &o->rate) != 0) {
                return bad(name, val, "requests/s >= 0");
            }
            break;
        case O_RATIO:
            if (parse_double(val, 0, 1, &o->get_ratio) != 0) {
                return bad(name, val, "0..1");
            }
            break;
        case O_DIST:
            if (strcmp(val, "uniform") == 0) {
                o->dist = RB_D_UNIFORM;
            } else if (strcmp(val, "sequential") == 0
                       || strcmp(val, "seq") == 0) {
                o->dist = RB_D_SEQ;
            } else if (strncmp(val, "zipfian", 7) == 0
                       || strncmp(val, "zipf", 4) == 0) {
                const char *c = strchr(val, ':');
                o->dist = RB_D_ZIPF;
                if (c != NULL
                    && (parse_double(c + 1, 0.01, 0.9999, &o->zipf_theta) != 0)) {
                    return bad(name, val, "zipfian:THETA, 0 < THETA < 1");
                }
            } else {
                return bad(name, val, "uniform, zipfian[:THETA] or sequential");
            }
            break;
        case O_VSIZE:
            if (parse_sizes(val, &o->vsize) != 0) {
                return bad(name, val, "N, LO-HI or N:W,N:W (at most 64 MiB, "
                           "16 choices)");
            }
            break;
        case O_MGET:
            if (parse_uint(val, 1, 1000, &o->mget) != 0) {
                return bad(name, val, "1..1000");
            }
            o->mget_lo = o->mget_hi = o->mget;
            if (o->mget > 1) {
                o->ops_enabled[RB_MGET] = o->ops_enabled[RB_GET];
            }
            break;
        case O_SEED:
            if (parse_u64(val, &o->seed) != 0) {
                return bad(name, val, "a number");
            }
            break;
        case O_TIMEOUT:
            if (parse_double(val, 0.01, 1e6, &o->timeout) != 0) {
                return bad(name, val, "seconds > 0");
            }
            break;
        case O_INTERVAL:
            if (parse_double(val, 0.05, 3600, &o->interval) != 0) {
                return bad(name, val, "0.05..3600 seconds");
            }
            break;
        case O_JSON: o->json = 1; break;
        case O_PLOT: o->plot = val; break;
        case O_QUIET: o->quiet = 1; break;
        case O_STRICT: o->strict = 1; break;
        case O_NOSTRICT: o->strict = 0; break;
        case O_NOPREFILL: o->prefill = 0; break;
        case O_IDLE:
            if (parse_uint(val, 0, 1000000, &o->idle) != 0) {
                return bad(name, val, "0..1000000");
            }
            break;
        case O_VERIFY: o->verify = 1; break;
        case O_NOVERIFY: o->verify = 0; break;
        case O_MAX:
            if (parse_uint(val, 0, 64u << 20, &o->size_max) != 0) {
                return bad(name, val, "0..64 MiB");
            }
            break;
        case O_STEP:
            if (parse_uint(val, 1, 64u << 20, &o->size_step) != 0) {
                return bad(name, val, "1..64 MiB");
            }
            break;
        case O_EXPTIME:
            if (parse_uint(val, 0, 0x7fffffff, &o->exptime) != 0) {
                return bad(name, val, "a number of seconds");
            }
            break;
        case O_PPROF: break;
        case O_FREEPORT: exit(free_port());
        case O_HELP: usage(stdout); exit(0);
        case O_VERSION: printf("rend-bench %s\n", PACKAGE_VERSION); exit(0);
        default: break;
        }
    }
    (void)port_set;
    /* the key space, from the command and the key length */
    {
        size_t plen = o->key_prefix ? strlen(o->key_prefix) : 0;
        uint64_t space;

        if (plen >= o->key_len) {
            return bad("--key-prefix", o->key_prefix,
                       "must be shorter than the key length");
        }
        space = key_space(o->key_len - (unsigned)plen);
        if (o->mode == RB_M_SIZES) {
            o->nkeys = o->size_max / o->size_step + 1;
            o->count_set = 1;
        } else if (!keys_set) {
            if (o->mode == RB_M_SETGET) {
                o->nkeys = o->count;
            } else if (o->mode != RB_M_BENCH) {
                o->nkeys = space < 1000000 ? space : 1000000;
            }
            if (o->nkeys > space) {
                o->nkeys = space;
            }
        }
        if (o->nkeys > space) {
            fprintf(stderr, "rend-bench: %llu keys need more than %u "
                    "characters (-kl)\n", (unsigned long long)o->nkeys,
                    o->key_len);
            return -1;
        }
    }
    if (o->mode == RB_M_SETGET) {
        o->count_set = 1;
        o->count *= 2;          /* a set and a get per key */
    }
    if (o->mode == RB_M_BENCH) {
        if (o->count_set && o->duration_set) {
            return bad("-n", NULL, "give -n or --duration, not both");
        }
        o->duration_set = !o->count_set;
    } else if (o->duration_set) {
        o->count_set = 0;
    } else {
        o->count_set = 1;
    }
    if (o->mode == RB_M_SETGET || o->mode == RB_M_SIZES) {
        o->warmup = 0;   /* they walk their keys once */
    }
    if (o->threads > o->conns) {
        return bad("-T", NULL, "more threads than connections");
    }
    if (o->mode == RB_M_SIZES && (o->vsize.hi < o->size_max)) {
        o->vsize.hi = o->size_max;
    }
    if (o->mode == RB_M_BLAST && o->proto != RB_TEXT) {
        o->ops_enabled[RB_GAT] = 1;   /* as Rend's blast: binary only */
    }
    if (o->mget > 1 && o->mode == RB_M_BENCH) {
        o->mget_lo = o->mget_hi = o->mget;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct rb_result res;
    int rc;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("rend-bench %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--free-port") == 0) {
        return free_port();
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            defaults(commands[i].mode);
            rb_opt.cmd = commands[i].name;
        }
    }
    if (rb_opt.cmd == NULL) {
        fprintf(stderr, "rend-bench: unknown command '%s' (blast, setget, "
                "sizes, fill, setops, bench)\n", argv[1]);
        return 2;
    }
    if (parse_args(argc - 2, argv + 2) != 0) {
        return 2;
    }
    if (rb_engine_run(&res) != 0) {
        return 2;
    }
    if (rb_opt.json) {
        rb_report_json(stdout, &res);
    } else {
        rb_report_text(stdout, &res);
    }
    fflush(stdout);
    rc = rb_mismatches(&res.c) ? 1 : rb_total_errors(&res.c) ? 3 : 0;
    if (rb_opt.plot != NULL && rb_report_svg(rb_opt.plot, &res) != 0) {
        fprintf(stderr, "rend-bench: cannot write %s: %s\n", rb_opt.plot,
                strerror(errno));
        if (rc == 0) {
            rc = 2;
        }
    }
    rb_result_free(&res);
    return rc;
}
