/* rend_undef.c - test plugin: needs a function nobody defines, so dlopen
 * with RTLD_NOW fails. */
#include <rend/handler.h>

int rend_test_symbol_that_does_not_exist(void);

static int
undef_create(const struct rend_host *host, const char *instance,
             const struct rend_kv *opts, size_t nopts, void **inst,
             char *err, size_t errlen)
{
    *inst = NULL;
    return rend_test_symbol_that_does_not_exist();
}

REND_EXPORT const struct rend_handler rend_handler_v1 = {
    REND_HANDLER_INIT,
    .name = "undef",
    .version = "0",
    .create = undef_create,
};
