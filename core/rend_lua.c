/* rend_lua.c - per-worker VMs for route_fn routes. */
#include "config.h"

#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "rend_config.h"
#include "rend_log.h"
#include "rend_lua.h"

struct rend_lua {
    lua_State *L;
    struct rend_gen *gen;
    int fns_ref;        /* registry ref of the seq -> function table */
    uint64_t failures;  /* for rate-limited logging */
};

struct rend_lua *
rend_lua_new(struct rend_gen *g)
{
    struct rend_lua *vm = calloc(1, sizeof(*vm));
    char err[1024];

    if (vm == NULL || (vm->L = luaL_newstate()) == NULL) {
        free(vm);
        rend_log(REND_LOG_ERR, "route_fn: cannot create a Lua VM");
        return NULL;
    }
    luaL_openlibs(vm->L);
    if (rend_config_eval(vm->L, g->lua_text, g->source, err, sizeof(err))
        != 0) {
        rend_log(REND_LOG_ERR, "route_fn: config failed in a worker VM: %s",
                 err);
        lua_close(vm->L);
        free(vm);
        return NULL;
    }
    lua_getfield(vm->L, -1, "fns");
    vm->fns_ref = luaL_ref(vm->L, LUA_REGISTRYINDEX);
    lua_settop(vm->L, 0);
    vm->gen = g;
    return vm;
}

void
rend_lua_free(struct rend_lua *vm)
{
    if (vm != NULL) {
        lua_close(vm->L);
        free(vm);
    }
}

const struct rend_route *
rend_lua_pick(struct rend_lua *vm, const struct rend_route *rt,
              const char *cmd, const char *key, size_t nkey)
{
    lua_State *L = vm->L;
    const struct rend_route *pick = NULL;
    lua_Integer seq;

    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->fns_ref);
    lua_rawgeti(L, -1, rt->seq);
    lua_pushstring(L, cmd);
    lua_pushlstring(L, key, nkey);
    if (lua_pcall(L, 2, 1, 0) != 0) {
        if (vm->failures++ % 1000 == 0) {
            rend_log(REND_LOG_WARN, "route_fn failed (%llu times): %s",
                     (unsigned long long)vm->failures, lua_tostring(L, -1));
        }
        lua_settop(L, 0);
        return NULL;
    }
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "__seq");
        seq = lua_tointeger(L, -1);
        if (seq > 0 && (unsigned)seq < vm->gen->nseq) {
            pick = vm->gen->by_seq[seq];
        }
    }
    if (pick == NULL || pick->strategy == REND_ST_LUA) {
        if (vm->failures++ % 1000 == 0) {
            rend_log(REND_LOG_WARN, "route_fn returned something that is "
                     "not a route of this config (%llu times)",
                     (unsigned long long)vm->failures);
        }
        pick = NULL;
    }
    lua_settop(L, 0);
    return pick;
}
