/* contract_util.c - see contract_util.h. */
#include <stdlib.h>
#include <string.h>

#include "contract_util.h"

void
cu_get(struct rend_th *th, int code, const char *key, size_t nkey,
       int64_t exptime, uint16_t opflags, struct res *r)
{
    struct rend_op op;

    rend_th_op_init(&op, code, NULL, NULL, 0, 0, exptime);
    op.key = key;
    op.nkey = (uint32_t)nkey;
    op.opflags = opflags;
    memset(r, 0, sizeof(*r));
    r->st = rend_th_run(th, &op);
    if (r->st == REND_OK) {
        r->value = op.out_value; /* the test host NUL-terminates it */
        r->nvalue = op.out_nvalue;
        op.out_value = NULL;
        r->flags = op.out_flags;
        r->exptime = op.out_exptime;
        r->cas = op.out_cas;
    }
    rend_th_op_fini(&op);
}

void
res_free(struct res *r)
{
    free(r->value);
    r->value = NULL;
}

int
cu_store(struct rend_th *th, int code, const char *key, size_t nkey,
         const char *value, size_t nvalue, uint32_t flags, int64_t exptime,
         uint64_t cas, uint64_t *out_cas)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, NULL, value, nvalue, flags, exptime);
    op.key = key;
    op.nkey = (uint32_t)nkey;
    op.cas = cas;
    st = rend_th_run(th, &op);
    if (out_cas != NULL) {
        *out_cas = op.out_cas;
    }
    rend_th_op_fini(&op);
    return st;
}

int
cu_set(struct rend_th *th, int code, const char *key, const char *value,
       uint32_t flags, int64_t exptime)
{
    return cu_store(th, code, key, strlen(key), value, strlen(value), flags,
                    exptime, 0, NULL);
}

int
cu_arith(struct rend_th *th, int code, const char *key, uint64_t delta,
         uint64_t *num)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, key, NULL, 0, 0, 0);
    op.delta = delta;
    st = rend_th_run(th, &op);
    if (num != NULL) {
        *num = op.out_number;
    }
    rend_th_op_fini(&op);
    return st;
}

int
cu_simple(struct rend_th *th, int code, const char *key, int64_t exptime)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, code == REND_OP_FLUSH ? NULL : key, NULL, 0, 0,
                    exptime);
    st = rend_th_run(th, &op);
    rend_th_op_fini(&op);
    return st;
}
