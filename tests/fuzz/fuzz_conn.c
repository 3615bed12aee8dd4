/*
 * fuzz_conn.c - libFuzzer target for the protocol parsers, fed through the
 * connection's own loop.
 *
 * One in-process worker (rend_worker_inline) runs on an inmem handler.
 * Each input becomes one real struct rend_conn on one end of a socketpair:
 * the bytes are written into the other end in chunks (sizes drawn from a
 * hash of the input, so a given input always splits the same way), the
 * worker's loop runs after every chunk, and the replies are read and
 * dropped.  So the parse loop, the "need more input" returns, the swallow
 * of a refused value, back-pressure, execution and reply formatting all
 * run exactly as for a client.  At the end the client side is closed and
 * the loop runs until the connection is freed.
 *
 * Built once per target with FUZZ_TARGET set:
 *   FUZZ_TEXT    inputs whose first byte is not 0x80 (text protocol)
 *   FUZZ_BINARY  inputs whose first byte is 0x80 (binary protocol)
 *   FUZZ_META    inputs starting with 'm' (a meta command first)
 * The three differ only in that filter, their seed corpus and dictionary.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <ev.h>

#include "rend_config.h"
#include "rend_conn.h"
#include "rend_plugin.h"
#include "rend_settings.h"
#include "rend_stats.h"
#include "rend_util.h"
#include "rend_worker.h"

#define FUZZ_TEXT 1
#define FUZZ_BINARY 2
#define FUZZ_META 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rend_worker *worker;
static int echo; /* REND_FUZZ_ECHO set: copy the replies to stdout */

static const char config[] =
    "local l1 = handler \"inmem\" { name = \"l1\", memory_mb = 16 }\n"
    "listen { address = \"127.0.0.1\", port = 0,\n"
    "         routes = { default = l1only(l1) } }\n";

static void
setup(void)
{
    char err[1024];
    const char *dir = getenv("REND_PLUGIN_DIR");
    struct rend_gen *g;

    signal(SIGPIPE, SIG_IGN);
    echo = getenv("REND_FUZZ_ECHO") != NULL;
    rend_plugin_set_dir(dir != NULL ? dir : FUZZ_PLUGIN_DIR);
    /* what rend_main sets from a config without settings{} */
    rend_clock_tick();
    rend_settings.started = rend_now();
    rend_settings.threads = 1;
    rend_settings.max_conns = 1024;
    rend_settings.read_timeout = REND_READ_TIMEOUT_DEFAULT;
    rend_settings.conn_buffer_max = (uint64_t)REND_CONN_BUFFER_MB_DEFAULT << 20;
    g = rend_config_load_string(config, "(fuzz)", NULL, err, sizeof(err));
    if (g == NULL) {
        fprintf(stderr, "fuzz: config: %s\n", err);
        abort();
    }
    worker = rend_worker_inline(g);
    rend_gen_put(g); /* the worker holds its own reference */
    if (worker == NULL) {
        fprintf(stderr, "fuzz: cannot set up the worker\n");
        abort();
    }
}

/* FNV-1a: the input's own split pattern. */
static uint64_t
hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ULL;
    }
    return h;
}

/* Read and drop whatever the server wrote: the byte count, or -1 once it
 * has closed. */
static long
drain(int fd)
{
    char buf[65536];
    long total = 0;

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            total += n;
            if (echo) {
                fwrite(buf, 1, (size_t)n, stdout);
            }
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK
                       && errno != EINTR)) {
            return -1;
        }
        return total;
    }
}

static void
spin(unsigned times)
{
    for (unsigned i = 0; i < times; i++) {
        ev_run(worker->loop, EVRUN_NOWAIT);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = hash(data, size);
    unsigned mode = (unsigned)(h & 3), stuck = 0;
    size_t pos = 0;
    int sv[2];

#if FUZZ_TARGET == FUZZ_TEXT
    if (size == 0 || data[0] == 0x80) {
        return 0;
    }
#elif FUZZ_TARGET == FUZZ_BINARY
    if (size == 0 || data[0] != 0x80) {
        return 0;
    }
#elif FUZZ_TARGET == FUZZ_META
    if (size == 0 || data[0] != 'm') {
        return 0;
    }
#else
#error "FUZZ_TARGET must be FUZZ_TEXT, FUZZ_BINARY or FUZZ_META"
#endif
    if (worker == NULL) {
        setup();
    }
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        abort();
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    __atomic_add_fetch(&rend_curr_conns, 1, __ATOMIC_RELAXED);
    if (rend_conn_new(worker, sv[0], 0) == NULL) {
        abort();
    }
    while (pos < size) {
        size_t k = size - pos;
        ssize_t n;

        /* mode 0: everything at once; 1: a byte at a time (the first
         * 512 bytes, then chunks of up to 64: a 60 KB value byte by byte
         * would take most of a second); 2, 3: chunks of up to 16 or 1024
         * bytes */
        if (mode == 1 && pos < 512) {
            k = 1;
        } else if (mode >= 1) {
            size_t most = mode == 1 ? 64 : mode == 2 ? 16 : 1024;
            h = h * 6364136223846793005ULL + 1442695040888963407ULL;
            k = 1 + (size_t)((h >> 33) % most);
            if (k > size - pos) {
                k = size - pos;
            }
        }
        n = write(sv[1], data + pos, k);
        if (n > 0) {
            pos += (size_t)n;
            stuck = 0;
        } else if (++stuck > 1000) {
            break; /* the server stopped reading and writes nothing */
        }
        spin(2);
        if (drain(sv[1]) < 0) {
            break; /* the server closed the connection */
        }
    }
    /* let the last requests finish and their replies go out */
    for (unsigned quiet = 0, i = 0; quiet < 3 && i < 100000; i++) {
        long got;
        spin(2);
        got = drain(sv[1]);
        if (got < 0 || worker->conns == NULL) {
            break;
        }
        quiet = got > 0 ? 0 : quiet + 1;
    }
    close(sv[1]);
    for (unsigned i = 0; i < 1000 && worker->conns != NULL; i++) {
        spin(1);
    }
    if (worker->conns != NULL) {
        fprintf(stderr, "fuzz: the connection was not freed after its "
                "client closed\n");
        abort();
    }
    return 0;
}
