/* rend_no_create.c - test plugin: a valid descriptor without create,
 * must be refused. */
#include <rend/handler.h>

REND_EXPORT const struct rend_handler rend_handler_v1 = {
    REND_HANDLER_INIT,
    .name = "no_create",
    .version = "0",
};
