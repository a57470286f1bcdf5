/*
** patch.c: runs a patch file in a fresh Lua state and hands its graph to C (mg_lua.h).
** [control]: the Lua state belongs to the control thread for its whole life.
**
** After Redis's embedding: the chunk is loaded as text only ("t", no precompiled bytecode),
** called through lua_pcall with a message handler, and every error comes back as
** "patch.lua:LINE: message".
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "lmixgraph.h"
#include "mg_lua.h"

struct mg_patch {
    lua_State *L;
    int graph_ref;
};

/* Message handler: keep the message (it already names file:line); append nothing, but turn
   non-string errors into text. */
static int msgh(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING)
        return 1;
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        return 1;
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    return 1;
}

/* Convert a --set value: numbers and booleans become Lua numbers and booleans. */
static void push_arg(lua_State *L, const char *v)
{
    if (strcmp(v, "true") == 0)
        lua_pushboolean(L, 1);
    else if (strcmp(v, "false") == 0)
        lua_pushboolean(L, 0);
    else if (lua_stringtonumber(L, v) == 0)
        lua_pushstring(L, v);
}

static int open_mixgraph(lua_State *L)
{
    luaL_requiref(L, "mixgraph", luaopen_mixgraph, 0);
    return 1;
}

mg_patch *mg_patch_run(const char *path, const mg_graph_config *cfg, const mg_patch_arg *args,
                       int n_args, char *err, size_t errsz)
{
    return mg_patch_run_seeded(path, cfg, args, n_args, MG_DEFAULT_PATCH_SEED, err, errsz);
}

mg_patch *mg_patch_run_seeded(const char *path, const mg_graph_config *cfg,
                              const mg_patch_arg *args, int n_args, uint64_t seed, char *err,
                              size_t errsz)
{
    mg_patch *p = calloc(1, sizeof *p);
    lua_State *L = p ? luaL_newstate() : NULL;
    if (!L) {
        snprintf(err, errsz, "out of memory starting Lua");
        free(p);
        return NULL;
    }
    p->L = L;
    p->graph_ref = LUA_NOREF;
    luaL_openlibs(L);
    /* require "mixgraph" inside patches gets the built-in module */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, open_mixgraph);
    lua_setfield(L, -2, "mixgraph");
    lua_pop(L, 1);
    luaL_requiref(L, "mixgraph", luaopen_mixgraph, 0);
    lua_pop(L, 1);
    mg_lua_seed(L, seed);

    lua_pushcfunction(L, msgh);
    int base = lua_gettop(L);
    int st = luaL_loadfilex(L, path, "t");
    if (st != LUA_OK) {
        /* "cannot open x.lua" or "x.lua:3: syntax error" */
        snprintf(err, errsz, "%s", lua_tostring(L, -1));
        mg_patch_free(p);
        return NULL;
    }
    /* arguments: the graph and the --set table */
    mg_lua_pushgraph(L, cfg);
    lua_pushvalue(L, -1);
    int given = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, 0, n_args);
    for (int i = 0; i < n_args; i++) {
        push_arg(L, args[i].value);
        lua_setfield(L, -2, args[i].key);
    }
    st = lua_pcall(L, 2, 1, base);
    if (st != LUA_OK) {
        snprintf(err, errsz, "%s", lua_tostring(L, -1));
        luaL_unref(L, LUA_REGISTRYINDEX, given);
        mg_patch_free(p);
        return NULL;
    }
    /* a patch may return its own graph */
    if (!lua_isnil(L, -1)) {
        if (!luaL_testudata(L, -1, "mixgraph.graph")) {
            snprintf(err, errsz, "%s: the patch returned a %s; return nothing or a graph", path,
                     luaL_typename(L, -1));
            luaL_unref(L, LUA_REGISTRYINDEX, given);
            mg_patch_free(p);
            return NULL;
        }
        p->graph_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        luaL_unref(L, LUA_REGISTRYINDEX, given);
    } else {
        p->graph_ref = given;
    }
    lua_settop(L, 0);
    return p;
}

void mg_patch_free(mg_patch *p)
{
    if (!p)
        return;
    if (p->L)
        lua_close(p->L);
    free(p);
}

static void push_graph(mg_patch *p) { lua_rawgeti(p->L, LUA_REGISTRYINDEX, p->graph_ref); }

mg_graph *mg_patch_graph(mg_patch *p)
{
    push_graph(p);
    mg_graph *g = mg_lua_graph(p->L, -1);
    lua_pop(p->L, 1);
    return g;
}

double mg_patch_duration(mg_patch *p)
{
    push_graph(p);
    double d = mg_lua_graph_duration(p->L, -1);
    lua_pop(p->L, 1);
    return d;
}

void mg_patch_sync(mg_patch *p)
{
    push_graph(p);
    mg_lua_graph_sync(p->L, -1);
    lua_pop(p->L, 1);
}

int mg_patch_eval(mg_patch *p, const char *code, const char *chunkname, char *out,
                  size_t outsz)
{
    lua_State *L = p->L;
    out[0] = 0;
    push_graph(p);
    lua_setglobal(L, "g");
    lua_pushcfunction(L, msgh);
    int base = lua_gettop(L);
    /* an expression first (prints its value), then a statement */
    lua_pushfstring(L, "return %s", code);
    int st = luaL_loadbufferx(L, lua_tostring(L, -1), lua_rawlen(L, -1), chunkname, "t");
    lua_remove(L, -2);
    if (st != LUA_OK) {
        lua_pop(L, 1);
        st = luaL_loadbufferx(L, code, strlen(code), chunkname, "t");
    }
    if (st == LUA_OK)
        st = lua_pcall(L, 0, LUA_MULTRET, base);
    if (st != LUA_OK) {
        snprintf(out, outsz, "%s", lua_tostring(L, -1));
        lua_settop(L, base - 1);
        return 1;
    }
    size_t o = 0;
    for (int i = base + 1; i <= lua_gettop(L) && o + 1 < outsz; i++) {
        const char *v = luaL_tolstring(L, i, NULL);
        o += (size_t)snprintf(out + o, outsz - o, "%s%s", i > base + 1 ? "\t" : "", v);
        lua_pop(L, 1);
    }
    lua_settop(L, base - 1);
    return 0;
}
