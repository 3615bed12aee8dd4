/* rend_tool.c - offline dump/count/verify of a handler's items. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "rend_config.h"
#include "rend_plugin.h"
#include "rend_tool.h"
#include "rend_util.h"

struct walk {
    int mode;
    FILE *out;
    int64_t now;
    unsigned long long items, bytes, expired, bad;
};

static void
print_escaped(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > 0x20 && c < 0x7f && c != '\\') {
            fputc(c, out);
        } else {
            fprintf(out, "\\x%02x", c);
        }
    }
}

static int
visit(void *ud, const char *key, size_t nkey, const char *value, size_t nvalue,
      uint32_t flags, int64_t exptime, uint64_t cas)
{
    struct walk *w = ud;

    w->items++;
    w->bytes += nkey + nvalue;
    if (REND_EXPIRED(exptime, w->now)) {
        w->expired++;
    }
    if (nkey == 0 || nkey > 250 || (nvalue > 0 && value == NULL)) {
        w->bad++;
        if (w->mode == REND_TOOL_VERIFY) {
            fprintf(w->out, "bad item: key length %zu, value length %zu: ",
                    nkey, nvalue);
            print_escaped(w->out, key, nkey > 250 ? 250 : nkey);
            fputc('\n', w->out);
        }
    }
    if (w->mode == REND_TOOL_DUMP) {
        print_escaped(w->out, key, nkey);
        fprintf(w->out, " flags=%u exptime=%lld cas=%llu bytes=%zu\n", flags,
                (long long)exptime, (unsigned long long)cas, nvalue);
    }
    return 0;
}

int
rend_tool_run(struct rend_gen *g, const char *name, int mode, FILE *out)
{
    struct rend_hinst *hi = NULL;
    struct walk w = { mode, out, rend_now(), 0, 0, 0, 0 };
    int rc;

    for (unsigned i = 0; i < g->nhinsts; i++) {
        if (strcmp(g->hinsts[i]->name, name) == 0) {
            hi = g->hinsts[i];
        }
    }
    if (hi == NULL) {
        fprintf(stderr, "rend: no handler named \"%s\" in %s\n", name,
                g->source);
        return 2;
    }
    if (hi->h.walk == NULL) {
        fprintf(stderr, "rend: handler %s (plugin %s) cannot be walked\n",
                name, hi->plugin_name);
        return 2;
    }
    rc = hi->h.walk(hi->inst, visit, &w);
    if (rc != 0) {
        fprintf(stderr, "rend: walking %s failed: %s\n", name,
                rend_strerror(rc));
        return 1;
    }
    if (mode != REND_TOOL_DUMP) {
        fprintf(out, "%s: %llu items, %llu bytes (keys + values), %llu expired "
                "not yet reclaimed", name, w.items, w.bytes, w.expired);
        if (mode == REND_TOOL_VERIFY) {
            fprintf(out, ", %llu bad", w.bad);
        }
        fputc('\n', out);
    }
    return w.bad > 0 ? 1 : 0;
}
