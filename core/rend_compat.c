/* rend_compat.c - Netflix Rend's flags turned into a Lua config. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rend_compat.h"
#include "rend_log.h"

enum {
    C_BASE = 512, C_L1_INMEM, C_L2_ENABLED, C_BATCH_PORT, C_DOMAIN,
    C_SOCK_PATH, C_L1_SOCK, C_L2_SOCK, C_CHUNKED, C_L1_BATCHED, C_LOCKED,
    C_CONCURRENCY, C_MULTI_READER, C_BATCH_IGNORED,
};

static const struct option compat_opts[] = {
    { "l1-inmem", no_argument, NULL, C_L1_INMEM },
    { "l2-enabled", no_argument, NULL, C_L2_ENABLED },
    { "bp", required_argument, NULL, C_BATCH_PORT },
    { "batch-port", required_argument, NULL, C_BATCH_PORT },
    { "use-domain-socket", no_argument, NULL, C_DOMAIN },
    { "sock-path", required_argument, NULL, C_SOCK_PATH },
    { "l1-sock", required_argument, NULL, C_L1_SOCK },
    { "l2-sock", required_argument, NULL, C_L2_SOCK },
    { "chunked", no_argument, NULL, C_CHUNKED },
    { "l1-batched", no_argument, NULL, C_L1_BATCHED },
    { "locked", no_argument, NULL, C_LOCKED },
    { "concurrency", required_argument, NULL, C_CONCURRENCY },
    { "multi-reader", optional_argument, NULL, C_MULTI_READER },
    { "batch-size", required_argument, NULL, C_BATCH_IGNORED },
    { "batch-delay-micros", required_argument, NULL, C_BATCH_IGNORED },
    { "batch-read-buf-size", required_argument, NULL, C_BATCH_IGNORED },
    { "batch-write-buf-size", required_argument, NULL, C_BATCH_IGNORED },
    { "batch-eval-interval-sec", required_argument, NULL, C_BATCH_IGNORED },
    { "batch-expand-ratio", required_argument, NULL, C_BATCH_IGNORED },
    { "batch-overload-ratio", required_argument, NULL, C_BATCH_IGNORED },
};

static struct {
    int used, l1_inmem, l2, domain, chunked, batched;
    int batch_port;
    const char *sock_path, *l1_sock, *l2_sock;
} cf = { .batch_port = 11212, .l1_sock = "/tmp/memcached.sock",
         .l2_sock = "/tmp/rend-l2.sock", .sock_path = "/tmp/rend.sock" };

size_t
rend_compat_options(struct option *opts, size_t max)
{
    size_t n = sizeof(compat_opts) / sizeof(compat_opts[0]);

    if (n > max) {
        n = max;
    }
    memcpy(opts, compat_opts, n * sizeof(*opts));
    return n;
}

int
rend_compat_option(int opt, const char *arg)
{
    switch (opt) {
    case C_L1_INMEM: cf.l1_inmem = 1; break;
    case C_L2_ENABLED: cf.l2 = 1; break;
    case C_BATCH_PORT: cf.batch_port = atoi(arg); break;
    case C_DOMAIN: cf.domain = 1; break;
    case C_SOCK_PATH: cf.sock_path = arg; break;
    case C_L1_SOCK: cf.l1_sock = arg; break;
    case C_L2_SOCK: cf.l2_sock = arg; break;
    case C_CHUNKED: cf.chunked = 1; break;
    case C_L1_BATCHED: cf.batched = 1; break;
    case C_LOCKED: case C_CONCURRENCY: case C_MULTI_READER:
        rend_log(REND_LOG_WARN, "rend flag --locked/--concurrency/"
                 "--multi-reader: not needed here (handlers are safe under "
                 "concurrency); ignored");
        break;
    case C_BATCH_IGNORED:
        rend_log(REND_LOG_WARN, "--batch-* flags tune Go Rend's batched "
                 "handler; rend's memcached handler always pipelines; "
                 "ignored");
        break;
    default:
        return -1;
    }
    cf.used = 1;
    return 0;
}

int
rend_compat_used(void)
{
    return cf.used;
}

int
rend_compat_port(void)
{
    return -1;
}

static int
lua_quote_ok(const char *s)
{
    return strpbrk(s, "\"\\\n\r") == NULL;
}

char *
rend_compat_config(char *err, size_t errlen)
{
    char *buf = malloc(4096);
    int n;

    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!lua_quote_ok(cf.l1_sock) || !lua_quote_ok(cf.l2_sock)
        || !lua_quote_ok(cf.sock_path)) {
        snprintf(err, errlen, "socket paths may not contain quotes, "
                 "backslashes or newlines");
        free(buf);
        return NULL;
    }
    if (cf.l1_inmem) {
        n = snprintf(buf, 4096, "local l1 = handler \"inmem\" { name = \"l1\" }\n");
    } else {
        n = snprintf(buf, 4096,
                     "local l1 = handler \"memcached\" { name = \"l1\", "
                     "servers = \"%s\", chunked = %s }\n",
                     cf.l1_sock, cf.chunked ? "true" : "false");
    }
    if (cf.l2) {
        n += snprintf(buf + n, 4096 - (size_t)n,
                      "local l2 = handler \"memcached\" { name = \"l2\", "
                      "servers = \"%s\" }\n", cf.l2_sock);
    }
    if (cf.domain) {
        n += snprintf(buf + n, 4096 - (size_t)n,
                      "listen { unix = \"%s\", routes = { default = %s } }\n",
                      cf.sock_path, cf.l2 ? "l1l2(l1, l2)" : "l1only(l1)");
    } else {
        n += snprintf(buf + n, 4096 - (size_t)n,
                      "listen { port = 11211, routes = { default = %s } }\n",
                      cf.l2 ? "l1l2(l1, l2)" : "l1only(l1)");
    }
    if (cf.l2) {
        snprintf(buf + n, 4096 - (size_t)n,
                 "listen { port = %d, routes = { default = l1l2_batch(l1, l2) } }\n",
                 cf.batch_port);
    }
    return buf;
}

const char *
rend_compat_usage(void)
{
    return "      --l1-inmem        L1 is the in-process cache\n"
           "      --l1-sock PATH    L1 is memcached on this unix socket\n"
           "      --chunked         chunk values in L1 memcached\n"
           "      --l2-enabled      add L2 (memcached protocol, --l2-sock)\n"
           "      --l2-sock PATH    L2 socket\n"
           "      -bp PORT          batch port (L1/L2 batch), with --l2-enabled\n"
           "      --use-domain-socket --sock-path PATH  listen on a unix socket\n"
           "  (the TCP ports bind 0.0.0.0 unless -l ADDR[,ADDR] is given)\n";
}
