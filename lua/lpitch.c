/*
** lpitch.c: the pitch and tempo part of `require "mixgraph"`: detect_tempo, detect_key (C, on
** engine/mg_detect.h) and the matching helpers match_tempo, transpose, match_key and align
** (lua/pitch.lua, compiled in). [control]
*/
#include <stdlib.h>

#include "lauxlib.h"
#include "lua.h"

#include "lmixgraph.h"
#include "mg_detect.h"
#include "mixgraph.h"

/* mixgraph.detect_tempo(path) -> bpm, { beat times in s }, confidence; or nil, message */
static int l_detect_tempo(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mg_tempo t;
    char err[1024];
    if (mg_detect_file(path, &t, NULL, err, sizeof err)) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    if (t.bpm <= 0) {
        mg_tempo_free(&t);
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: no steady pulse between %d and %d BPM", path, (int)MG_TEMPO_MIN,
                        (int)MG_TEMPO_MAX);
        return 2;
    }
    lua_pushnumber(L, t.bpm);
    lua_createtable(L, (int)t.n_beats, 0);
    for (size_t i = 0; i < t.n_beats; i++) {
        lua_pushnumber(L, t.beats[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushnumber(L, t.confidence);
    mg_tempo_free(&t);
    return 3;
}

/* mixgraph.detect_key(path) -> "A minor", correlation; or nil, message */
static int l_detect_key(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mg_key k;
    char err[1024];
    if (mg_detect_file(path, NULL, &k, err, sizeof err)) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    if (k.tonic < 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: no pitched content", path);
        return 2;
    }
    lua_pushstring(L, k.name);
    lua_pushnumber(L, k.score);
    return 2;
}

/* mixgraph.key_parse("F#m") -> tonic 0..11, is_minor; or nil */
static int l_key_parse(lua_State *L)
{
    int tonic, minor;
    if (mg_key_parse(luaL_checkstring(L, 1), &tonic, &minor)) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushinteger(L, tonic);
    lua_pushboolean(L, minor);
    return 2;
}

/* _onsets(path) -> { envelope... }, hop s, t0 s; or nil, message (for align) */
static int l_onsets(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mg_onsets on;
    char err[1024];
    if (mg_detect_onsets(path, &on, err, sizeof err)) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_createtable(L, (int)on.n, 0);
    for (size_t i = 0; i < on.n; i++) {
        lua_pushnumber(L, on.env[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(on.env);
    lua_pushnumber(L, on.hop);
    lua_pushnumber(L, on.t0);
    return 3;
}

/* _outputs(node) -> { { dst node, out port, in port }... } (ports 0-based) */
static int l_outputs(lua_State *L)
{
    mg_node *a = mg_lua_node(L, 1);
    mg_graph *g = mg_node_graph(a);
    mg_lua_pushgraph_of(L, 1);
    int gi = lua_gettop(L);
    lua_newtable(L);
    lua_Integer k = 0;
    for (int i = 0; i < mg_graph_edge_count(g); i++) {
        mg_edge_info e = mg_graph_edge(g, i);
        if (e.src != a)
            continue;
        lua_createtable(L, 3, 0);
        mg_lua_pushnode(L, gi, e.dst);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, e.out_port);
        lua_rawseti(L, -2, 2);
        lua_pushinteger(L, e.in_port);
        lua_rawseti(L, -2, 3);
        lua_rawseti(L, -2, ++k);
    }
    return 1;
}

/* _connect(src, out port, dst, in port) (ports 0-based) */
static int l_connect(lua_State *L)
{
    mg_node *a = mg_lua_node(L, 1), *b = mg_lua_node(L, 3);
    if (mg_connect(a, (int)luaL_checkinteger(L, 2), b, (int)luaL_checkinteger(L, 4)))
        return luaL_error(L, "%s", mg_graph_error(mg_node_graph(a)));
    return 0;
}

/* _graph_of(node) -> the graph userdata */
static int l_graph_of(lua_State *L)
{
    mg_lua_node(L, 1);
    mg_lua_pushgraph_of(L, 1);
    return 1;
}

extern const char mg_lua_pitch[];
extern const size_t mg_lua_pitch_len;

static const luaL_Reg funcs[] = {{"detect_tempo", l_detect_tempo},
                                 {"detect_key", l_detect_key},
                                 {"key_parse", l_key_parse},
                                 {NULL, NULL}};
static const luaL_Reg internals[] = {{"onsets", l_onsets},
                                     {"outputs", l_outputs},
                                     {"connect", l_connect},
                                     {"graph_of", l_graph_of},
                                     {NULL, NULL}};

void mg_lua_open_pitch(lua_State *L)
{
    int mod = lua_gettop(L);
    luaL_setfuncs(L, funcs, 0);
    if (luaL_loadbufferx(L, mg_lua_pitch, mg_lua_pitch_len, "=pitch.lua", "t") != LUA_OK)
        lua_error(L);
    lua_pushvalue(L, mod);
    lua_newtable(L);
    luaL_setfuncs(L, internals, 0);
    lua_call(L, 2, 0); /* pitch.lua adds its helpers to the module table */
}
