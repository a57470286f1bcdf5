/*
** lmixgraph.h: the Lua binding's C surface, for the patch runner (lua/patch.c). [control]
*/
#ifndef LMIXGRAPH_H
#define LMIXGRAPH_H

#include "lua.h"

#include "mixgraph.h"

int luaopen_mixgraph(lua_State *L);
/* Push a new graph userdata (raises on failure). */
void mg_lua_pushgraph(lua_State *L, const mg_graph_config *cfg);
/* The graph at stack index i (raises if it is not a graph). */
mg_graph *mg_lua_graph(lua_State *L, int i);
/* Seconds set with g.duration, or < 0. */
double mg_lua_graph_duration(lua_State *L, int i);

/* The node at stack index i (raises if it is not a live node). */
mg_node *mg_lua_node(lua_State *L, int i);
/* Push the graph userdata of the node userdata at stack index i. */
void mg_lua_pushgraph_of(lua_State *L, int i);
/* Push the (cached) userdata of node n of the graph whose userdata is at stack index gi. */
void mg_lua_pushnode(lua_State *L, int gi, mg_node *n);
/* Add detect_tempo, detect_key and the matching helpers to the module table on top of the
   stack (lua/lpitch.c, lua/pitch.lua). */
void mg_lua_open_pitch(lua_State *L);

#endif
