#include "rend_mc.h"
int
rend_mc_op_chunked(struct rend_mc_thr *t, struct rend_op *op)
{
    return rend_mc_op_plain(t, op);
}
