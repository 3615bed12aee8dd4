/* rend_bad_sig.c - test plugin: a foreign build signature, must be
 * refused. */
#include <rend/handler.h>

static int
bad_create(const struct rend_host *host, const char *instance,
           const struct rend_kv *opts, size_t nopts, void **inst, char *err,
           size_t errlen)
{
    *inst = NULL;
    return REND_OK;
}

/* REND_HANDLER_INIT spelled out, with one field wrong. */
REND_EXPORT const struct rend_handler rend_handler_v1 = {
    .abi_major = REND_ABI_MAJOR,
    .abi_minor = REND_ABI_MINOR,
    .size = sizeof(struct rend_handler),
    .build_sig = "ptr=3",
    .name = "bad_sig",
    .version = "0",
    .create = bad_create,
};
