/* rend_bad_size.c - test plugin: claims an 8-byte descriptor, must be
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
    .size = 8,
    .build_sig = REND_BUILD_SIG,
    .name = "bad_size",
    .version = "0",
    .create = bad_create,
};
