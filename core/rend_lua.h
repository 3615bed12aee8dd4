/*
 * rend_lua.h - per-worker LuaJIT VMs for routes that are Lua functions
 * (route_fn).  Each worker runs the config text once more in its own VM
 * and keeps the functions; a request whose route is a route_fn calls it
 * with (command, key) and runs the route it returns.  Only that worker's
 * thread touches its VM.
 */
#ifndef REND_LUA_H
#define REND_LUA_H

#include <stddef.h>
#include <stdint.h>

struct rend_gen;
struct rend_route;
struct rend_lua;

/* A VM holding g's route functions, or NULL (logged). */
struct rend_lua *rend_lua_new(struct rend_gen *g);
void rend_lua_free(struct rend_lua *vm);
/* The route rt (a route_fn) picks for this request, or NULL when the
 * function fails or returns something that is not one of g's routes. */
const struct rend_route *rend_lua_pick(struct rend_lua *vm,
                                       const struct rend_route *rt,
                                       const char *cmd, const char *key,
                                       size_t nkey);

#endif /* REND_LUA_H */
