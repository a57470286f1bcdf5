/*
** lmixgraph.h: the Lua binding's C surface, for the patch runner (lua/patch.c). [control]
*/
#ifndef LMIXGRAPH_H
#define LMIXGRAPH_H

#include <stdint.h>

#include "lua.h"

#include "mg_lua.h"
#include "mixgraph.h"

int luaopen_mixgraph(lua_State *L);
/* Push a new graph userdata (raises on failure). */
void mg_lua_pushgraph(lua_State *L, const mg_graph_config *cfg);
/* The graph at stack index i (raises if it is not a graph). */
mg_graph *mg_lua_graph(lua_State *L, int i);
/* Reseed mixgraph.random (the command's --seed). */
void mg_lua_seed(lua_State *L, uint64_t seed);
/* Forget handles of nodes that left graph i from C (live reloads). */
void mg_lua_graph_sync(lua_State *L, int i);
/* The node at stack index i (raises if it is not a live node). */
mg_node *mg_lua_node(lua_State *L, int i);
/* lanalyze.c: mixgraph.analyze, mixgraph.tracks, g:loudness and g:render's loudness target */
int mg_lua_analyze(lua_State *L);
int mg_lua_tracks(lua_State *L);
int mg_lua_graph_loudness(lua_State *L);
int mg_lua_render_target(lua_State *L, mg_graph *g, const mg_render_opts *ro, int opts);
/* Seconds set with g.duration, or < 0. */
double mg_lua_graph_duration(lua_State *L, int i);

/* Push the graph userdata of the node userdata at stack index i. */
void mg_lua_pushgraph_of(lua_State *L, int i);
/* Push the (cached) userdata of node n of the graph whose userdata is at stack index gi. */
void mg_lua_pushnode(lua_State *L, int gi, mg_node *n);
/* Add detect_tempo, detect_key and the matching helpers to the module table on top of the
   stack (lua/lpitch.c, lua/pitch.lua). */
void mg_lua_open_pitch(lua_State *L);

#endif
