/*
 * fuzz_config.c - libFuzzer target for the config loader: the input is a
 * config text, compiled by rend_config_load_string (rend/config.lua's
 * checks, then the C compiler of handlers, routes, listeners and
 * settings) as `rend --check-config` would.  A config that loads is freed
 * again; one that does not must fail with a message.
 *
 * A config is a Lua program, so an input is skipped (not run) when it
 * could loop, recurse, allocate without bound or reach outside the
 * process: a loop keyword, `function`, a '/' or backslash, many '..', or
 * the name of a library that touches files, processes, strings or the
 * interpreter (skip() has the list).  What remains is
 * straight-line code over tables, strings and numbers, which is what the
 * compiler reads.  Handlers load from a private plugin directory holding
 * only inmem and memcached (neither touches the disk or the network at
 * create), so a mutated config cannot make the lmdb or rocksdb plugin
 * create files.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_config.h"
#include "rend_plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const refused[] = {
    "while", "repeat", "for", "goto", "function", "os", "io", "require",
    "load", "loadstring", "loadfile", "dofile", "debug", "package", "ffi",
    "jit", "rep", "char", "collectgarbage", "setmetatable", "rawset",
    "getmetatable", "coroutine", "string", "_G", "getfenv", "setfenv",
    "module", "pcall", "xpcall", "newproxy",
};

/* 1 when text holds a refused name (as a whole word), a '/' or '\\', or
 * more than a few '..' (repeated doubling would take any memory). */
static int
skip(const char *text)
{
    unsigned concat = 0;

    for (const char *p = text; *p != '\0';) {
        if (*p == '/' || *p == '\\') {
            return 1;
        }
        if (p[0] == '.' && p[1] == '.' && ++concat > 8) {
            return 1;
        }
        if (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            const char *w = p;
            while (*p == '_' || (*p >= 'a' && *p <= 'z')
                   || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) {
                p++;
            }
            for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                if (strlen(refused[i]) == (size_t)(p - w)
                    && memcmp(refused[i], w, (size_t)(p - w)) == 0) {
                    return 1;
                }
            }
            continue;
        }
        p++;
    }
    return 0;
}

/* A temp dir with links to the two plugins a fuzzed config may load. */
static void
setup(void)
{
    static char dir[] = "/tmp/rend-fuzz-plugins-XXXXXX";
    const char *src = getenv("REND_PLUGIN_DIR");
    const char *names[] = { "rend_inmem.so", "rend_memcached.so" };

    if (src == NULL) {
        src = FUZZ_PLUGIN_DIR;
    }
    if (mkdtemp(dir) == NULL) {
        perror("fuzz: mkdtemp");
        abort();
    }
    for (size_t i = 0; i < 2; i++) {
        char from[4096], to[4096];
        snprintf(from, sizeof(from), "%s/%s", src, names[i]);
        snprintf(to, sizeof(to), "%s/%s", dir, names[i]);
        if (symlink(from, to) != 0) {
            perror("fuzz: symlink");
            abort();
        }
    }
    rend_plugin_set_dir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    char err[1024];
    struct rend_gen *g;
    char *text;

    if (size > 65536) {
        return 0;
    }
    text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    if (skip(text)) {
        free(text);
        return 0;
    }
    if (!ready) {
        setup();
        ready = 1;
    }
    err[0] = '\0';
    g = rend_config_load_string(text, "fuzz.lua", NULL, err, sizeof(err));
    if (g != NULL) {
        rend_gen_put(g);
    } else if (err[0] == '\0') {
        fprintf(stderr, "fuzz: a config failed without a message\n");
        abort();
    }
    free(text);
    return 0;
}
