/* static_table.c - a server whose handler is linked into the program (no
 * plugin file): a read-only table of fixed items.  get/gets hit or miss;
 * every write is refused (the handler has no op for it, so clients get
 * SERVER_ERROR not supported).
 *
 *   static_table [PORT]      (default 11211; 0 = any free port)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rend/server.h>

static const struct { const char *key, *value; } table[] = {
    { "alpha", "the first letter" },
    { "beta", "the second letter" },
    { "gamma", "the third letter" },
};

/* The instance is the host API itself: all get needs is value_alloc. */
static int
table_create(const struct rend_host *host, const char *instance,
             const struct rend_kv *opts, size_t nopts, void **inst,
             char *err, size_t errlen)
{
    static const char *const known[] = { NULL };

    (void)instance;
    if (rend_opt_check_known(opts, nopts, known, err, errlen) != 0) {
        return REND_EINVAL;
    }
    *inst = (void *)host;
    return REND_OK;
}

static int
table_get(void *tctx, struct rend_op *op)
{
    const struct rend_host *host = tctx; /* no thread_init: tctx = inst */

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        size_t n = strlen(table[i].value);
        if (op->nkey == strlen(table[i].key)
            && memcmp(op->key, table[i].key, op->nkey) == 0) {
            char *v = host->value_alloc(op, n);
            if (v == NULL) {
                return REND_ENOMEM;
            }
            memcpy(v, table[i].value, n);
            op->out_flags = 0;
            op->out_exptime = 0;
            op->out_cas = (uint64_t)i + 1;
            return REND_OK;
        }
    }
    return REND_MISS;
}

static const struct rend_handler table_handler = {
    REND_HANDLER_INIT,
    .name = "table",
    .version = "1.0",
    .create = table_create,
    .ops = { [REND_OP_GET] = table_get },
};

int
main(int argc, char **argv)
{
    rend_server *s = rend_server_new();
    rend_instance *t = rend_server_handler(s, "table", &table_handler, NULL, 0);
    int l = rend_server_listen_tcp(s, "127.0.0.1",
                                   argc > 1 ? atoi(argv[1]) : 11211);

    if (rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY, t, NULL) != 0
        || rend_server_handle_signals(s, 1) != 0 || rend_server_start(s) != 0
        || printf("port %d\n", rend_server_port(s, l)) < 0
        || fflush(stdout) != 0 || rend_server_run(s) != 0) {
        fprintf(stderr, "static_table: %s\n", rend_server_error(s));
        rend_server_destroy(s);
        return 1;
    }
    rend_server_destroy(s);
    return 0;
}
