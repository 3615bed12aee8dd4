/* rend_no_symbol.c - test plugin: exports a descriptor under the wrong
 * name and no rend_handler_v1, must be refused. */
#include <rend/handler.h>

REND_EXPORT const struct rend_handler rend_handler_v0 = {
    REND_HANDLER_INIT,
    .name = "no_symbol",
    .version = "0",
};
