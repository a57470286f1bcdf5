/*
** lmixgraph.c: the Lua 5.4 binding, `require "mixgraph"`. [control]: Lua runs on the control
** thread only; nothing here is called from the processing thread.
**
** Three userdata types, shaped after liolib.c (a method table plus metamethods, __gc safe to
** call twice):
**   mixgraph.graph  owns an mg_graph; g:osc{...} makes nodes, g.output is the sink
**   mixgraph.node   a node: parameters read and write as fields, ports as fields or methods
**   mixgraph.port   one named input or output of a node, for `src >> comp.sidechain`
** Node userdata are cached per graph (in the graph's user value) so a node has one identity.
** Errors raise with the patch position (luaL_error at level 1 is the patch line).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "lmixgraph.h"
#include "mg_node.h"
#include "mixgraph.h"

#define GRAPH_MT "mixgraph.graph"
#define NODE_MT "mixgraph.node"
#define PORT_MT "mixgraph.port"
#define MEMBER_MT "mixgraph.member"
#define PARAM_MT "mixgraph.param"
#define RNG_KEY "mixgraph.rng"

typedef struct lgraph {
    mg_graph *g;
    double duration;     /* seconds; < 0 unset */
    double beats_per_bar; /* for g:bars() and tempo changes at bars */
} lgraph;

typedef struct lnode {
    mg_node *n; /* NULL once removed */
} lnode;

typedef struct lport {
    int input; /* 1 input, 0 output */
    int index;
} lport; /* user value 1: the node userdata */

/* ---- helpers ---- */

static mg_node *checknode(lua_State *L, int i);

static lgraph *mg_lua_checkgraph(lua_State *L, int i)
{
    lgraph *lg = luaL_checkudata(L, i, GRAPH_MT);
    if (!lg->g)
        luaL_error(L, "graph is closed");
    return lg;
}

static mg_node *checknode(lua_State *L, int i)
{
    lnode *ln = luaL_checkudata(L, i, NODE_MT);
    if (!ln->n)
        luaL_error(L, "node was removed");
    return ln->n;
}

/* Push the cached userdata of node n of the graph at stack index gi (created on demand). */
static void pushnode(lua_State *L, int gi, mg_node *n)
{
    gi = lua_absindex(L, gi);
    lua_getiuservalue(L, gi, 1); /* cache table */
    if (lua_rawgetp(L, -1, n) == LUA_TNIL) {
        lua_pop(L, 1);
        lnode *ln = lua_newuserdatauv(L, sizeof *ln, 1);
        ln->n = n;
        luaL_setmetatable(L, NODE_MT);
        lua_pushvalue(L, gi);
        lua_setiuservalue(L, -2, 1); /* node keeps its graph alive */
        lua_pushvalue(L, -1);
        lua_rawsetp(L, -3, n);
    }
    lua_remove(L, -2);
}

/* Push the graph userdata of the node at stack index i. */
static void pushgraph_of(lua_State *L, int i) { lua_getiuservalue(L, i, 1); }

static int raise_graph(lua_State *L, mg_graph *g)
{
    return luaL_error(L, "%s", mg_graph_error(g));
}

/* Levenshtein distance, for "did you mean" hints. */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 31 || lb > 31)
        return 99;
    int d[32][32];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = c < del ? (c < ins ? c : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

/* " (did you mean 'freq'?)" or "" for the closest parameter or option name. */
static const char *suggest(const mg_node_desc *d, const mg_node *n, const char *key, char *buf,
                           size_t sz)
{
    const char *best = NULL;
    int bd = 3;
    buf[0] = 0;
    for (int i = 0; n && i < mg_node_param_count(n); i++) {
        int e = edit_distance(key, mg_node_param_name(n, i));
        if (e < bd)
            bd = e, best = mg_node_param_name(n, i);
    }
    for (int i = 0; i < d->n_params && !n; i++) {
        int e = edit_distance(key, d->params[i].name);
        if (e < bd)
            bd = e, best = d->params[i].name;
    }
    for (int i = 0; i < d->n_options; i++) {
        int e = edit_distance(key, d->options[i].name);
        if (e < bd)
            bd = e, best = d->options[i].name;
    }
    if (!best)
        return "";
    snprintf(buf, sz, " (did you mean '%s'?)", best);
    return buf;
}

/* The descriptor entry a parameter name refers to ("gain3" -> MULTI "gain"), or NULL. */
static const mg_param_desc *param_desc_named(const mg_node_desc *d, const char *key)
{
    for (int i = 0; i < d->n_params; i++) {
        size_t len = strlen(d->params[i].name);
        if (strcmp(d->params[i].name, key) == 0)
            return &d->params[i];
        if ((d->params[i].flags & MG_PARAM_MULTI) && strncmp(d->params[i].name, key, len) == 0 &&
            key[len] >= '1' && key[len] <= '9')
            return &d->params[i];
    }
    return NULL;
}

/*
** The Lua value at idx as a value for parameter pd: a number, or for a choice parameter one
** of its names. Raises "parameter 'freq' expects a number, got string" otherwise.
*/
static double param_arg(lua_State *L, const char *who, const mg_param_desc *pd, const char *key,
                        int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER)
        return lua_tonumber(L, idx);
    if (pd->choices && lua_type(L, idx) == LUA_TSTRING) {
        int k = mg_choice_index(pd->choices, lua_tostring(L, idx));
        if (k < 0)
            luaL_error(L, "%s: parameter '%s' expects one of %s, got '%s'", who, key,
                       pd->choices, lua_tostring(L, idx));
        return k;
    }
    luaL_error(L, "%s: parameter '%s' expects %s, got %s", who, key,
               pd->choices ? "a name or a number" : "a number", luaL_typename(L, idx));
    return 0;
}

/* Push parameter i of n: its value, or its name for a choice parameter. */
static void push_param(lua_State *L, mg_node *n, int i)
{
    const mg_param_desc *pd = mg_node_param_desc(n, i);
    double v = mg_node_get_index(n, i);
    if (pd->choices) {
        char buf[64];
        lua_pushstring(L, mg_choice_name(pd->choices, (int)v, buf, sizeof buf));
    } else {
        lua_pushnumber(L, v);
    }
}

static int option_index(const mg_node_desc *d, const char *key)
{
    for (int i = 0; i < d->n_options; i++)
        if (strcmp(d->options[i].name, key) == 0)
            return i;
    return -1;
}

/* "patch.lua:12" for the Lua code at `level`, or NULL when it is not Lua code. */
static void where(lua_State *L, int level, char *buf, size_t sz)
{
    lua_Debug ar;
    buf[0] = 0;
    if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        snprintf(buf, sz, "%s:%d", ar.short_src, ar.currentline);
}

/* ---- node construction ---- */

#define MAX_OPTS 32

/*
** g:TYPE{ name = ..., <options>, <parameters> }. Options (fixed at creation) and parameters
** may be mixed in the table; anything else is an error naming the key.
*/
static int graph_make(lua_State *L, const char *type, int gi, int ti)
{
    lgraph *lg = mg_lua_checkgraph(L, gi);
    const mg_node_desc *d = mg_node_type_find(type);
    if (!d)
        return luaL_error(L, "unknown node type '%s'", type);
    if (!lua_isnoneornil(L, ti))
        luaL_checktype(L, ti, LUA_TTABLE);
    mg_opt opts[MAX_OPTS];
    int n_opts = 0;
    const char *name = NULL;
    char hint[64];
    /* first pass: name and options, type-checked */
    if (lua_istable(L, ti)) {
        lua_pushnil(L);
        while (lua_next(L, ti)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "%s: table keys must be parameter or option names", type);
            const char *key = lua_tostring(L, -2);
            int vt = lua_type(L, -1);
            int oi = option_index(d, key);
            if (strcmp(key, "name") == 0) {
                if (vt != LUA_TSTRING)
                    return luaL_error(L, "%s: 'name' expects a string, got %s", type,
                                      luaL_typename(L, -1));
                name = lua_tostring(L, -1);
            } else if (oi >= 0) {
                const mg_option_desc *od = &d->options[oi];
                int want_str = od->type == MG_OPT_STRING || od->type == MG_OPT_ENUM;
                if (n_opts == MAX_OPTS)
                    return luaL_error(L, "%s: too many options", type);
                opts[n_opts].name = od->name;
                opts[n_opts].str = NULL;
                opts[n_opts].num = 0;
                if (od->type == MG_OPT_BOOL && vt == LUA_TBOOLEAN)
                    opts[n_opts].num = lua_toboolean(L, -1);
                else if (want_str && vt == LUA_TSTRING)
                    opts[n_opts].str = lua_tostring(L, -1);
                else if (!want_str && vt == LUA_TNUMBER)
                    opts[n_opts].num = lua_tonumber(L, -1);
                else
                    return luaL_error(L, "%s: option '%s' expects %s, got %s", type, key,
                                      od->type == MG_OPT_BOOL ? "a boolean"
                                      : want_str               ? "a string"
                                                               : "a number",
                                      luaL_typename(L, -1));
                n_opts++;
            } else if (param_desc_named(d, key)) {
                param_arg(L, type, param_desc_named(d, key), key, -1); /* type check */
            } else {
                return luaL_error(L, "%s has no parameter or option '%s'%s", type, key,
                                  suggest(d, NULL, key, hint, sizeof hint));
            }
            lua_pop(L, 1);
        }
    }
    mg_node *n = mg_node_new(lg->g, type, name, opts, n_opts);
    if (!n)
        return raise_graph(L, lg->g);
    char origin[256];
    where(L, 1, origin, sizeof origin);
    if (origin[0])
        mg_node_set_origin(n, origin);
    /* second pass: parameters (MULTI names exist only now) */
    if (lua_istable(L, ti)) {
        lua_pushnil(L);
        while (lua_next(L, ti)) {
            const char *key = lua_tostring(L, -2);
            const mg_param_desc *pd = param_desc_named(d, key);
            if (pd) {
                int pi = mg_node_param_index(n, key);
                if (pi < 0) {
                    suggest(d, n, key, hint, sizeof hint);
                    lua_pushfstring(L, "%s has no parameter '%s'%s", type, key, hint);
                } else if (mg_node_set_index(n, pi, param_arg(L, type, pd, key, -1))) {
                    lua_pushstring(L, mg_graph_error(lg->g));
                } else {
                    lua_pop(L, 1);
                    continue;
                }
                mg_node_remove(n); /* not yet visible to Lua */
                luaL_where(L, 1);
                lua_insert(L, -2);
                lua_concat(L, 2);
                return lua_error(L);
            }
            lua_pop(L, 1);
        }
    }
    pushnode(L, gi, n);
    return 1;
}

static int graph_ctor(lua_State *L)
{
    return graph_make(L, lua_tostring(L, lua_upvalueindex(1)), 1, 2);
}

/* g:node("type", {...}) */
static int graph_node(lua_State *L)
{
    return graph_make(L, luaL_checkstring(L, 2), 1, 3);
}

/* ---- graph ---- */

static int graph_new_with(lua_State *L, const mg_graph_config *cfg)
{
    lgraph *lg = lua_newuserdatauv(L, sizeof *lg, 1);
    lg->g = NULL;
    lg->duration = -1;
    lg->beats_per_bar = 4;
    luaL_setmetatable(L, GRAPH_MT);
    lua_newtable(L); /* node cache, weak values are not needed: nodes die with the graph */
    lua_setiuservalue(L, -2, 1);
    mg_status st;
    lg->g = mg_graph_new(cfg, &st);
    if (!lg->g)
        return luaL_error(L, "cannot create graph (rate %g Hz, block %d, %d channels): %s",
                          cfg->rate, cfg->block, cfg->channels, mg_strerror(st));
    return 1;
}

void mg_lua_pushgraph(lua_State *L, const mg_graph_config *cfg) { graph_new_with(L, cfg); }

/* mixgraph.graph{ rate = 48000, block = 1024, channels = 2 } */
static int l_graph(lua_State *L)
{
    mg_graph_config cfg = mg_graph_config_default();
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (!lua_isnumber(L, -1))
                return luaL_error(L, "graph: '%s' expects a number", k);
            double v = lua_tonumber(L, -1);
            if (strcmp(k, "rate") == 0)
                cfg.rate = v;
            else if (strcmp(k, "block") == 0)
                cfg.block = (int)v;
            else if (strcmp(k, "channels") == 0)
                cfg.channels = (int)v;
            else
                return luaL_error(L, "graph: unknown setting '%s' (rate, block, channels)", k);
            lua_pop(L, 1);
        }
    }
    if (!(cfg.rate >= MG_RATE_MIN && cfg.rate <= MG_RATE_MAX))
        return luaL_error(L, "graph: rate %g Hz out of range [%g, %g]", cfg.rate, MG_RATE_MIN,
                          MG_RATE_MAX);
    if (cfg.block < 1 || cfg.block > MG_BLOCK_MAX)
        return luaL_error(L, "graph: block %d out of range [1, %d]", cfg.block, MG_BLOCK_MAX);
    if (cfg.channels < 1 || cfg.channels > MG_MAX_CHANNELS)
        return luaL_error(L, "graph: channels %d out of range [1, %d]", cfg.channels,
                          MG_MAX_CHANNELS);
    return graph_new_with(L, &cfg);
}

static int graph_gc(lua_State *L)
{
    lgraph *lg = luaL_checkudata(L, 1, GRAPH_MT);
    if (lg->g) {
        /* invalidate cached node handles first */
        lua_getiuservalue(L, 1, 1);
        if (lua_istable(L, -1)) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                lnode *ln = lua_touserdata(L, -1);
                if (ln)
                    ln->n = NULL;
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
        mg_graph_free(lg->g);
        lg->g = NULL;
    }
    return 0;
}

/* Drop the handles of nodes no longer in graph i (removed from C, e.g. by a live reload). */
void mg_lua_graph_sync(lua_State *L, int i)
{
    lgraph *lg = luaL_checkudata(L, i, GRAPH_MT);
    lua_getiuservalue(L, i, 1);
    if (!lg->g || !lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const void *key = lua_touserdata(L, -2);
        int alive = 0;
        for (int k = 0; k < mg_graph_node_count(lg->g) && !alive; k++)
            alive = mg_graph_node(lg->g, k) == key;
        if (!alive) {
            lnode *ln = lua_touserdata(L, -1);
            if (ln)
                ln->n = NULL;
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, t); /* clearing a field during lua_next is allowed */
            continue;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Resolve a connection source: a node (its first output) or an output port. */
static mg_node *conn_src(lua_State *L, int i, int *port)
{
    lport *p = luaL_testudata(L, i, PORT_MT);
    if (p) {
        lua_getiuservalue(L, i, 1);
        mg_node *n = checknode(L, -1);
        lua_pop(L, 1);
        if (p->input)
            return luaL_error(L, "'%s.%s' is an input: connect into it, not from it",
                              mg_node_name(n), mg_node_input_name(n, p->index)),
                   NULL;
        *port = p->index;
        return n;
    }
    if (!luaL_testudata(L, i, NODE_MT))
        return luaL_error(L, "cannot connect from a %s (expected a node or an output port)",
                          luaL_typename(L, i)),
               NULL;
    mg_node *n = checknode(L, i);
    if (mg_node_output_count(n) == 0)
        return luaL_error(L, "node '%s' has no output", mg_node_name(n)), NULL;
    *port = 0;
    return n;
}

/*
** Resolve a destination: an input port, or a node. For a node, the first input with nothing
** connected among its MULTI inputs (mix), else its first input (several sources then sum).
*/
static mg_node *conn_dst(lua_State *L, int i, int *port, int *node_index)
{
    lport *p = luaL_testudata(L, i, PORT_MT);
    if (p) {
        lua_getiuservalue(L, i, 1);
        mg_node *n = checknode(L, -1);
        *node_index = lua_gettop(L);
        if (!p->input)
            return luaL_error(L, "'%s.%s' is an output: connect from it, not into it",
                              mg_node_name(n), mg_node_output_name(n, p->index)),
                   NULL;
        *port = p->index;
        return n;
    }
    if (!luaL_testudata(L, i, NODE_MT))
        return luaL_error(L, "cannot connect to a %s (expected a node or an input port)",
                          luaL_typename(L, i)),
               NULL;
    mg_node *n = checknode(L, i);
    *node_index = i;
    if (mg_node_input_count(n) == 0)
        return luaL_error(L, "node '%s' (%s) has no input", mg_node_name(n),
                          mg_node_desc_of(n)->name),
               NULL;
    *port = 0;
    if (mg_node_multi_count(n) > 0) {
        for (int k = 0; k < mg_node_input_count(n); k++)
            if (mg_node_input_connections(n, k) == 0) {
                *port = k;
                return n;
            }
        return luaL_error(L, "all %d inputs of '%s' are in use (make it with inputs = %d, or "
                             "connect to an input by name)",
                          mg_node_input_count(n), mg_node_name(n), mg_node_input_count(n) + 1),
               NULL;
    }
    return n;
}

/* a >> b, a:to(b), g:connect(a, b): returns b's node so chains read left to right */
static int connect2(lua_State *L, int a, int b)
{
    int op, ip, di;
    mg_node *src = conn_src(L, a, &op);
    mg_node *dst = conn_dst(L, b, &ip, &di);
    if (mg_connect(src, op, dst, ip))
        return raise_graph(L, mg_node_graph(src));
    lua_pushvalue(L, di);
    return 1;
}

static int param_mod_from(lua_State *L, int pi, int src, double depth);

/* a >> b; `lfo >> f:param("freq")` modulates with depth 1 */
static int l_shr(lua_State *L)
{
    if (luaL_testudata(L, 2, PARAM_MT))
        return param_mod_from(L, 2, 1, 1.0);
    return connect2(L, 1, 2);
}
static int graph_connect(lua_State *L)
{
    mg_lua_checkgraph(L, 1);
    return connect2(L, 2, 3);
}

static int node_disconnect(lua_State *L)
{
    int op, ip, di;
    mg_node *src = conn_src(L, 1, &op);
    if (lua_isnoneornil(L, 2)) { /* all outgoing connections */
        mg_graph *g = mg_node_graph(src);
        for (int i = mg_graph_edge_count(g) - 1; i >= 0; i--) {
            mg_edge_info e = mg_graph_edge(g, i);
            if (e.src == src)
                mg_disconnect(e.src, e.out_port, e.dst, e.in_port);
        }
        return 0;
    }
    lport *p = luaL_testudata(L, 2, PORT_MT);
    mg_node *dst;
    if (p) {
        dst = conn_dst(L, 2, &ip, &di);
    } else {
        dst = checknode(L, 2);
        mg_graph *g = mg_node_graph(src);
        ip = -1;
        for (int i = 0; i < mg_graph_edge_count(g); i++) {
            mg_edge_info e = mg_graph_edge(g, i);
            if (e.src == src && e.dst == dst && e.out_port == op)
                ip = e.in_port;
        }
        if (ip < 0)
            return luaL_error(L, "'%s' is not connected to '%s'", mg_node_name(src),
                              mg_node_name(dst));
    }
    if (mg_disconnect(src, op, dst, ip))
        return raise_graph(L, mg_node_graph(src));
    return 0;
}

static int graph_find(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    mg_node *n = mg_graph_find(lg->g, luaL_checkstring(L, 2));
    if (!n)
        return luaL_pushfail(L), 1;
    pushnode(L, 1, n);
    return 1;
}

/* g:nodes(): nodes in compiled (processing) order */
static int graph_nodes(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    if (mg_graph_compile(lg->g))
        return raise_graph(L, lg->g);
    lua_createtable(L, mg_graph_order_count(lg->g), 0);
    for (int i = 0; i < mg_graph_order_count(lg->g); i++) {
        pushnode(L, 1, mg_graph_order(lg->g, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* g:length(): default render length in seconds (math.huge when a source never ends) */
static int graph_length(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    int64_t n = mg_graph_length(lg->g);
    if (n < 0)
        return raise_graph(L, lg->g);
    lua_pushnumber(L, n == MG_FOREVER ? HUGE_VAL : (double)n / mg_graph_rate(lg->g));
    return 1;
}

/* A Lua progress function for mg_render: called as fn(seconds_done, seconds_total); a true
   result cancels; an error cancels and is raised once the render has cleaned up. */
typedef struct lprogress {
    lua_State *L;
    int fn;       /* stack index of the function */
    double rate;
    int failed;   /* the error message is on the stack */
} lprogress;

static int call_progress(const mg_render_progress *p, void *ud)
{
    lprogress *lp = ud;
    if (lp->failed)
        return 1;
    lua_State *L = lp->L;
    lua_pushvalue(L, lp->fn);
    lua_pushnumber(L, (double)p->done / lp->rate);
    lua_pushnumber(L, (double)p->total / lp->rate);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        lp->failed = 1; /* keep the message on the stack */
        return 1;
    }
    int stop = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return stop;
}

/*
** g:render(path [, { bits = 16|24|"32f", dither = "tpdf"|"shaped"|"none", duration = seconds,
**                   progress = fn }])
**   -> true | nil, message
** For use from the stock lua5.4 interpreter; `mixgraph render` is the command-line way.
** progress(done_s, total_s) is called about ten times a second of wall-clock time and at the
** end, between blocks: it may read meters (m.integrated) while the render runs.
** With target_lufs (and ceiling_dbtp...) in the options the loudness loop of mg_master.h
** renders instead and a report table follows (lanalyze.c).
*/
static int graph_render(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    mg_render_opts o = {.path = luaL_checkstring(L, 2)};
    double dur = lg->duration;
    if (lua_istable(L, 3)) {
        if (lua_getfield(L, 3, "duration") != LUA_TNIL)
            dur = luaL_checknumber(L, -1);
        lua_pop(L, 1);
        int t = lua_getfield(L, 3, "bits");
        if (t == LUA_TNUMBER)
            o.bits = (mg_sample_format)lua_tointeger(L, -1);
        else if (t == LUA_TSTRING)
            o.bits = strcmp(lua_tostring(L, -1), "32f") == 0 ? MG_BITS_32F : (mg_sample_format)-1;
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "dither") != LUA_TNIL) {
            const char *v = lua_tostring(L, -1);
            if (v && strcmp(v, "tpdf") == 0)
                o.dither = MG_DITHER_TPDF;
            else if (v && strcmp(v, "shaped") == 0)
                o.dither = MG_DITHER_SHAPED;
            else if (v && strcmp(v, "none") == 0)
                o.dither = MG_DITHER_NONE;
            else
                return luaL_error(L, "render: dither must be \"tpdf\", \"shaped\" or \"none\"");
        }
        lua_pop(L, 1);
    }
    if (dur >= 0)
        o.frames = (int64_t)llround(dur * mg_graph_rate(lg->g));
    lprogress lp = {L, 0, mg_graph_rate(lg->g), 0};
    if (lua_istable(L, 3) && lua_getfield(L, 3, "progress") != LUA_TNIL) {
        luaL_checktype(L, -1, LUA_TFUNCTION);
        lp.fn = lua_gettop(L);
        o.progress = call_progress;
        o.ud = &lp;
    }
    if (lua_istable(L, 3) && lua_getfield(L, 3, "target_lufs") != LUA_TNIL)
        return mg_lua_render_target(L, lg->g, &o, 3); /* loudness loop (lanalyze.c) */
    mg_render_result r;
    mg_status st = mg_render(lg->g, &o, &r);
    if (lp.failed)
        return lua_error(L); /* the progress function's error, on top of the stack */
    if (st) {
        luaL_pushfail(L);
        lua_pushstring(L, mg_graph_error(lg->g));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/*
** g:measure(seconds) -> { peak = {dBFS per channel}, rms = {dBFS per channel} }: renders the
** graph in memory from the start (without writing a file) and measures its output; the graph
** is reset afterwards. For checking levels from a patch or a test.
*/
static int graph_measure(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    double secs = luaL_checknumber(L, 2);
    mg_graph *g = lg->g;
    luaL_argcheck(L, secs > 0 && secs < 1e6, 2, "duration in seconds expected");
    if (mg_graph_compile(g))
        return raise_graph(L, g);
    int ch = mg_node_input_channels(mg_graph_output(g), 0);
    double peak[MG_MAX_CHANNELS] = {0}, sum[MG_MAX_CHANNELS] = {0};
    int64_t total = (int64_t)llround(secs * mg_graph_rate(g)), done = 0;
    mg_graph_reset(g);
    while (done < total) {
        int n = total - done < mg_graph_block(g) ? (int)(total - done) : mg_graph_block(g);
        const float *const *y;
        mg_status st = mg_graph_step(g, &n, &y);
        if (st == MG_ERR_SCRIPT)
            return lua_pushstring(L, mg_graph_error(g)), lua_error(L);
        if (st)
            return raise_graph(L, g);
        for (int c = 0; c < ch; c++)
            for (int i = 0; i < n; i++) {
                double v = fabs(y[c][i]);
                peak[c] = v > peak[c] ? v : peak[c];
                sum[c] += v * v;
            }
        done += n;
    }
    mg_graph_reset(g);
    lua_createtable(L, 0, 2);
    for (int k = 0; k < 2; k++) {
        lua_createtable(L, ch, 0);
        for (int c = 0; c < ch; c++) {
            double v = k ? sqrt(sum[c] / (double)total) : peak[c];
            lua_pushnumber(L, v > 0 ? 20 * log10(v) : -HUGE_VAL);
            lua_rawseti(L, -2, c + 1);
        }
        lua_setfield(L, -2, k ? "rms" : "peak");
    }
    return 1;
}

static int graph_index(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "output") == 0) {
        pushnode(L, 1, mg_graph_output(lg->g));
        return 1;
    }
    if (strcmp(k, "rate") == 0)
        return lua_pushnumber(L, mg_graph_rate(lg->g)), 1;
    if (strcmp(k, "block") == 0)
        return lua_pushinteger(L, mg_graph_block(lg->g)), 1;
    if (strcmp(k, "channels") == 0)
        return lua_pushinteger(L, mg_node_input_channels(mg_graph_output(lg->g), 0)), 1;
    if (strcmp(k, "xfade") == 0)
        return lua_pushnumber(L, mg_graph_xfade(lg->g)), 1;
    if (strcmp(k, "duration") == 0) {
        if (lg->duration < 0)
            return luaL_pushfail(L), 1;
        return lua_pushnumber(L, lg->duration), 1;
    }
    luaL_getmetafield(L, 1, "methods");
    if (lua_getfield(L, -1, k) != LUA_TNIL)
        return 1;
    if (mg_node_type_find(k)) { /* g:osc{...} */
        lua_pushstring(L, k);
        lua_pushcclosure(L, graph_ctor, 1);
        return 1;
    }
    return luaL_error(L, "graph has no field '%s' (node types: see `mixgraph nodes`)", k);
}

static int graph_newindex(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "duration") == 0) {
        double d = luaL_checknumber(L, 3);
        if (!(d > 0 && d < 1e7))
            return luaL_error(L, "duration %g s out of range (0, 1e7)", d);
        lg->duration = d;
        return 0;
    }
    if (strcmp(k, "tempo") == 0) {
        if (mg_graph_set_tempo(lg->g, luaL_checknumber(L, 3)))
            return raise_graph(L, lg->g);
        return 0;
    }
    if (strcmp(k, "xfade") == 0) {
        if (mg_graph_set_xfade(lg->g, luaL_checknumber(L, 3)))
            return raise_graph(L, lg->g);
        return 0;
    }
    return luaL_error(L, "graph field '%s' cannot be set (settable: duration, tempo, xfade)",
                      k);
}

static int graph_tostring(lua_State *L)
{
    lgraph *lg = luaL_checkudata(L, 1, GRAPH_MT);
    if (!lg->g)
        lua_pushliteral(L, "graph (closed)");
    else
        lua_pushfstring(L, "graph (%d nodes, %f Hz)", mg_graph_node_count(lg->g),
                        mg_graph_rate(lg->g));
    return 1;
}

double mg_lua_graph_duration(lua_State *L, int i)
{
    return mg_lua_checkgraph(L, i)->duration;
}

mg_graph *mg_lua_graph(lua_State *L, int i) { return mg_lua_checkgraph(L, i)->g; }

/* ---- nodes ---- */

static void pushport(lua_State *L, int ni, int input, int index)
{
    ni = lua_absindex(L, ni);
    lport *p = lua_newuserdatauv(L, sizeof *p, 1);
    p->input = input;
    p->index = index;
    luaL_setmetatable(L, PORT_MT);
    lua_pushvalue(L, ni);
    lua_setiuservalue(L, -2, 1);
}

/* node:input(name | index), node:output(name | index) */
static int port_lookup(lua_State *L, int input)
{
    mg_node *n = checknode(L, 1);
    int count = input ? mg_node_input_count(n) : mg_node_output_count(n);
    int ix;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        ix = (int)luaL_checkinteger(L, 2) - 1;
        if (ix < 0 || ix >= count)
            return luaL_error(L, "node '%s' has %d %s (asked for #%d)", mg_node_name(n), count,
                              input ? "inputs" : "outputs", ix + 1);
    } else {
        const char *name = luaL_checkstring(L, 2);
        ix = input ? mg_node_input_index(n, name) : mg_node_output_index(n, name);
        if (ix < 0)
            return luaL_error(L, "node '%s' (%s) has no %s '%s'", mg_node_name(n),
                              mg_node_desc_of(n)->name, input ? "input" : "output", name);
    }
    pushport(L, 1, input, ix);
    return 1;
}

static int node_input(lua_State *L) { return port_lookup(L, 1); }
static int node_output(lua_State *L) { return port_lookup(L, 0); }
static int node_to(lua_State *L) { return connect2(L, 1, 2); }

static int node_set(lua_State *L)
{
    mg_node *n = checknode(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (mg_node_param_index(n, k) < 0) {
        char hint[64];
        return luaL_error(L, "node '%s' (%s) has no parameter '%s'%s", mg_node_name(n),
                          mg_node_desc_of(n)->name, k,
                          suggest(mg_node_desc_of(n), n, k, hint, sizeof hint));
    }
    char who[160];
    snprintf(who, sizeof who, "node '%s'", mg_node_name(n));
    int pi = mg_node_param_index(n, k);
    if (mg_node_set_index(n, pi, param_arg(L, who, mg_node_param_desc(n, pi), k, 3)))
        return raise_graph(L, mg_node_graph(n));
    lua_settop(L, 1);
    return 1;
}

/* node:params() -> { name = value, ... } */
static int node_params(lua_State *L)
{
    mg_node *n = checknode(L, 1);
    lua_createtable(L, 0, mg_node_param_count(n));
    for (int i = 0; i < mg_node_param_count(n); i++) {
        push_param(L, n, i);
        lua_setfield(L, -2, mg_node_param_name(n, i));
    }
    return 1;
}

static int node_remove(lua_State *L)
{
    lnode *ln = luaL_checkudata(L, 1, NODE_MT);
    mg_node *n = checknode(L, 1);
    if (mg_node_remove(n))
        return raise_graph(L, mg_node_graph(n));
    pushgraph_of(L, 1);
    lua_getiuservalue(L, -1, 1);
    lua_pushnil(L);
    lua_rawsetp(L, -2, n);
    ln->n = NULL;
    return 0;
}

/*
** Numbered groups: node[multi_option] is a list of members, member k standing for the
** parameters named <name>k ("gain3"), so eq.bands[2].gain is the parameter gain2.
*/
typedef struct lmember {
    int k; /* 1-based */
} lmember; /* user value 1: the node userdata */

static void push_group(lua_State *L, int ni, int count)
{
    ni = lua_absindex(L, ni);
    lua_createtable(L, count, 0);
    for (int k = 1; k <= count; k++) {
        lmember *m = lua_newuserdatauv(L, sizeof *m, 1);
        m->k = k;
        luaL_setmetatable(L, MEMBER_MT);
        lua_pushvalue(L, ni);
        lua_setiuservalue(L, -2, 1);
        lua_rawseti(L, -2, k);
    }
}

/* Member access: push the node userdata, return the expanded parameter name in buf. */
static mg_node *member_param(lua_State *L, char *buf, size_t sz)
{
    lmember *m = luaL_checkudata(L, 1, MEMBER_MT);
    const char *k = luaL_checkstring(L, 2);
    lua_getiuservalue(L, 1, 1);
    mg_node *n = checknode(L, -1);
    lua_pop(L, 1);
    snprintf(buf, sz, "%s%d", k, m->k);
    if (mg_node_param_index(n, buf) < 0)
        luaL_error(L, "node '%s': %s[%d] has no parameter '%s'", mg_node_name(n),
                   mg_node_desc_of(n)->multi_option, m->k, k);
    return n;
}

static int member_index(lua_State *L)
{
    char name[64];
    mg_node *n = member_param(L, name, sizeof name);
    push_param(L, n, mg_node_param_index(n, name));
    return 1;
}

static int member_newindex(lua_State *L)
{
    char name[64];
    mg_node *n = member_param(L, name, sizeof name);
    int pi = mg_node_param_index(n, name);
    char who[160];
    snprintf(who, sizeof who, "node '%s'", mg_node_name(n));
    if (mg_node_set_index(n, pi, param_arg(L, who, mg_node_param_desc(n, pi), name, 3)))
        return raise_graph(L, mg_node_graph(n));
    return 0;
}

/* node:response(freqs) -> magnitudes in dB at each frequency (Hz), from the current values */
static int node_response(lua_State *L)
{
    mg_node *n = checknode(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    const mg_node_desc *d = mg_node_desc_of(n);
    if (!d->response)
        return luaL_error(L, "node '%s' (%s) has no frequency response", mg_node_name(n),
                          d->name);
    double rate = mg_graph_rate(mg_node_graph(n));
    lua_Integer len = luaL_len(L, 2);
    lua_createtable(L, (int)len, 0);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_geti(L, 2, i);
        double f = luaL_checknumber(L, -1);
        lua_pop(L, 1);
        if (!(f > 0 && f < rate / 2))
            return luaL_error(L, "response: frequency %f Hz outside (0, %f)", f, rate / 2);
        lua_pushnumber(L, mg_node_response(n, f));
        lua_rawseti(L, -2, i);
    }
    return 1;
}

static int node_index(lua_State *L)
{
    mg_node *n = checknode(L, 1);
    const char *k = luaL_checkstring(L, 2);
    int i = mg_node_param_index(n, k);
    if (i >= 0)
        return push_param(L, n, i), 1;
    const char *mo = mg_node_desc_of(n)->multi_option;
    if (mo && strcmp(k, mo) == 0) /* eq.bands[2].gain, mix.inputs[1].gain */
        return push_group(L, 1, mg_node_multi_count(n)), 1;
    if (strcmp(k, "name") == 0)
        return lua_pushstring(L, mg_node_name(n)), 1;
    if (strcmp(k, "type") == 0)
        return lua_pushstring(L, mg_node_desc_of(n)->name), 1;
    if ((i = mg_node_input_index(n, k)) >= 0)
        return pushport(L, 1, 1, i), 1;
    if ((i = mg_node_output_index(n, k)) >= 0)
        return pushport(L, 1, 0, i), 1;
    luaL_getmetafield(L, 1, "methods");
    if (lua_getfield(L, -1, k) != LUA_TNIL)
        return 1;
    const char *meters = mg_node_desc_of(n)->meters;
    if (meters && mg_choice_index(meters, k) >= 0) /* comp.gain_reduction */
        return lua_pushnumber(L, mg_node_meter(n, k)), 1;
    int oi = option_index(mg_node_desc_of(n), k);
    if (oi >= 0) {
        const mg_option_desc *od = &mg_node_desc_of(n)->options[oi];
        if (od->type == MG_OPT_STRING)
            lua_pushstring(L, mg_node_opt_str(n, oi));
        else if (od->type == MG_OPT_BOOL)
            lua_pushboolean(L, mg_node_opt_num(n, oi) != 0);
        else if (od->type == MG_OPT_ENUM) {
            char buf[64];
            lua_pushstring(L, mg_choice_name(od->choices, (int)mg_node_opt_num(n, oi), buf,
                                             sizeof buf));
        } else
            lua_pushnumber(L, mg_node_opt_num(n, oi));
        return 1;
    }
    char hint[64];
    return luaL_error(L, "node '%s' (%s) has no field '%s'%s", mg_node_name(n),
                      mg_node_desc_of(n)->name, k,
                      suggest(mg_node_desc_of(n), n, k, hint, sizeof hint));
}

static int node_newindex(lua_State *L)
{
    mg_node *n = checknode(L, 1);
    const char *k = luaL_checkstring(L, 2);
    const char *meters = mg_node_desc_of(n)->meters;
    if (mg_node_param_index(n, k) < 0 && meters && mg_choice_index(meters, k) >= 0)
        return luaL_error(L, "node '%s': '%s' is a meter (read only)", mg_node_name(n), k);
    if (mg_node_param_index(n, k) < 0 && option_index(mg_node_desc_of(n), k) >= 0)
        return luaL_error(L, "node '%s': option '%s' is fixed when the node is made", mg_node_name(n),
                          k);
    lua_remove(L, 2);
    lua_pushstring(L, k);
    lua_insert(L, 2);
    return node_set(L);
}

static int node_tostring(lua_State *L)
{
    lnode *ln = luaL_checkudata(L, 1, NODE_MT);
    if (!ln->n)
        lua_pushliteral(L, "node (removed)");
    else
        lua_pushfstring(L, "%s '%s'", mg_node_desc_of(ln->n)->name, mg_node_name(ln->n));
    return 1;
}

static int port_tostring(lua_State *L)
{
    lport *p = luaL_checkudata(L, 1, PORT_MT);
    lua_getiuservalue(L, 1, 1);
    mg_node *n = checknode(L, -1);
    lua_pushfstring(L, "%s port '%s.%s'", p->input ? "input" : "output", mg_node_name(n),
                    p->input ? mg_node_input_name(n, p->index) : mg_node_output_name(n, p->index));
    return 1;
}

/* ---- parameters as objects: automation (docs/lua.md, "Automation") ---- */

typedef struct lparam {
    int index;
} lparam; /* user value 1: the node userdata */

/* node:param("freq") -> a parameter object */
static int node_param(lua_State *L)
{
    mg_node *n = checknode(L, 1);
    const char *k = luaL_checkstring(L, 2);
    int i = mg_node_param_index(n, k);
    if (i < 0) {
        char hint[64];
        return luaL_error(L, "node '%s' (%s) has no parameter '%s'%s", mg_node_name(n),
                          mg_node_desc_of(n)->name, k,
                          suggest(mg_node_desc_of(n), n, k, hint, sizeof hint));
    }
    lparam *p = lua_newuserdatauv(L, sizeof *p, 1);
    p->index = i;
    luaL_setmetatable(L, PARAM_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

static mg_node *checkparam(lua_State *L, int i, int *index)
{
    lparam *p = luaL_checkudata(L, i, PARAM_MT);
    lua_getiuservalue(L, i, 1);
    mg_node *n = checknode(L, -1);
    lua_pop(L, 1);
    *index = p->index;
    return n;
}

/* A time argument in seconds (default: the graph's current position). */
static double time_arg(lua_State *L, mg_node *n, int idx)
{
    mg_graph *g = mg_node_graph(n);
    if (lua_isnoneornil(L, idx))
        return (double)mg_graph_position(g) / mg_graph_rate(g);
    return luaL_checknumber(L, idx);
}

/* Insert e into parameter (node n, index i); raise with the engine's message; return self. */
static int param_post(lua_State *L, mg_node *n, int i, const mg_param_event *e)
{
    if (mg_node_param_event(n, i, e))
        return raise_graph(L, mg_node_graph(n));
    lua_settop(L, 1);
    return 1;
}

/* p:set(v, t), p:linear_to(v, t [, curvature]), p:exp_to(v, t), p:scurve_to(v, t),
   p:step_to(v, t, steps) */
static int param_value_event(lua_State *L, mg_event_type type)
{
    int i;
    mg_node *n = checkparam(L, 1, &i);
    char who[160];
    snprintf(who, sizeof who, "node '%s'", mg_node_name(n));
    mg_param_event e = {.type = type};
    e.v = param_arg(L, who, mg_node_param_desc(n, i), mg_node_param_name(n, i), 2);
    if (type == MG_EV_SET)
        e.t = time_arg(L, n, 3);
    else
        e.t = luaL_checknumber(L, 3);
    if (type == MG_EV_LINEAR)
        e.k = luaL_optnumber(L, 4, 0);
    if (type == MG_EV_STEP)
        e.k = luaL_checknumber(L, 4);
    return param_post(L, n, i, &e);
}

static int param_set(lua_State *L) { return param_value_event(L, MG_EV_SET); }
static int param_linear_to(lua_State *L) { return param_value_event(L, MG_EV_LINEAR); }
static int param_exp_to(lua_State *L) { return param_value_event(L, MG_EV_EXP); }
static int param_scurve_to(lua_State *L) { return param_value_event(L, MG_EV_SCURVE); }
static int param_step_to(lua_State *L) { return param_value_event(L, MG_EV_STEP); }

/* p:target(v, t, tau) */
static int param_target(lua_State *L)
{
    int i;
    mg_node *n = checkparam(L, 1, &i);
    mg_param_event e = {.type = MG_EV_TARGET, .v = luaL_checknumber(L, 2),
                        .t = luaL_checknumber(L, 3), .tau = luaL_checknumber(L, 4)};
    return param_post(L, n, i, &e);
}

/* p:curve({ v1, v2, ... }, t, duration) */
static int param_curve(lua_State *L)
{
    int i;
    mg_node *n = checkparam(L, 1, &i);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer len = luaL_len(L, 2);
    if (len < 2 || len > 1000000)
        return luaL_error(L, "node '%s': %s: curve needs 2 to 1000000 values, got %d",
                          mg_node_name(n), mg_node_param_name(n, i), (int)len);
    double *vals = lua_newuserdatauv(L, (size_t)len * sizeof *vals, 0); /* freed by the GC */
    for (lua_Integer k = 1; k <= len; k++) {
        lua_geti(L, 2, k);
        if (!lua_isnumber(L, -1))
            return luaL_error(L, "node '%s': %s: curve value #%d is a %s, not a number",
                              mg_node_name(n), mg_node_param_name(n, i), (int)k,
                              luaL_typename(L, -1));
        vals[k - 1] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    mg_param_event e = {.type = MG_EV_CURVE, .t = luaL_checknumber(L, 3),
                        .dur = luaL_checknumber(L, 4), .values = vals, .n_values = (int)len};
    return param_post(L, n, i, &e);
}

/* p:cancel(t), p:hold(t) */
static int param_cancel_hold(lua_State *L, mg_event_type type)
{
    int i;
    mg_node *n = checkparam(L, 1, &i);
    mg_param_event e = {.type = type, .t = time_arg(L, n, 2)};
    return param_post(L, n, i, &e);
}
static int param_cancel(lua_State *L) { return param_cancel_hold(L, MG_EV_CANCEL); }
static int param_hold(lua_State *L) { return param_cancel_hold(L, MG_EV_HOLD); }

/* p:value_at(t): the value the automation gives at t seconds */
static int param_value_at(lua_State *L)
{
    int i;
    mg_node *n = checkparam(L, 1, &i);
    lua_pushnumber(L, mg_node_param_value_at(n, i, luaL_checknumber(L, 2)));
    return 1;
}

/* Modulate the parameter at pi by the node or output port at src. */
static int param_mod_from(lua_State *L, int pi, int src, double depth)
{
    int i, port;
    mg_node *n = checkparam(L, pi, &i);
    mg_node *s = conn_src(L, src, &port);
    if (mg_node_param_modulate(n, i, s, port, depth))
        return raise_graph(L, mg_node_graph(n));
    lua_pushvalue(L, pi);
    return 1;
}

/* p:mod(src, depth): src's first channel times depth (parameter units) is added; nil src
   removes the modulation */
static int param_mod(lua_State *L)
{
    if (lua_isnoneornil(L, 2)) {
        int i;
        mg_node *n = checkparam(L, 1, &i);
        mg_node_param_modulate(n, i, NULL, 0, 0);
        lua_settop(L, 1);
        return 1;
    }
    return param_mod_from(L, 1, 2, luaL_optnumber(L, 3, 1.0));
}

/* A Lua automation function kept in the registry, called by the engine (mg_param_fn). */
typedef struct lfn {
    lua_State *L;
    int ref;
    char where[200]; /* "patch.lua:12": where the function was defined */
} lfn;

/* Function f (pushed) with nargs arguments above it: one result on success; on an error the
   message ("patch.lua:LINE: ...") goes to err and 1 is returned. */
static int lfn_invoke(lfn *f, int nargs, char *err, size_t errsz)
{
    lua_State *L = f->L;
    if (lua_pcall(L, nargs, 1, 0) == LUA_OK)
        return 0;
    snprintf(err, errsz, "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                             : "(error object is not a string)");
    return 1;
}

/* The function at stack index idx, kept in the registry for the engine to call later. */
static lfn *lfn_new(lua_State *L, int idx)
{
    lfn *f = calloc(1, sizeof *f);
    if (!f) {
        luaL_error(L, "out of memory");
        return NULL;
    }
    lua_Debug ar;
    lua_pushvalue(L, idx);
    lua_getinfo(L, ">S", &ar);
    snprintf(f->where, sizeof f->where, "%s:%d", ar.short_src, ar.linedefined);
    lua_pushvalue(L, idx);
    f->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    f->L = lua_tothread(L, -1);
    lua_pop(L, 1);
    return f;
}

static int lfn_call(void *ud, double t, double *value, char *err, size_t errsz)
{
    lfn *f = ud;
    lua_State *L = f->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
    lua_pushnumber(L, t);
    int rc = 0;
    if (lfn_invoke(f, 1, err, errsz)) {
        rc = 1;
    } else if (!lua_isnumber(L, -1)) {
        snprintf(err, errsz, "%s: automation function returned %s at t = %g s (expected a "
                 "number)", f->where, luaL_typename(L, -1), t);
        rc = 1;
    } else {
        *value = lua_tonumber(L, -1);
    }
    lua_settop(L, top);
    return rc;
}

static void lfn_free(void *ud) { free(ud); } /* the registry goes with the Lua state */

/* A scheduled edit (mg_at_fn): the Lua function, called with no arguments. */
static int lat_call(void *ud, mg_graph *g, char *err, size_t errsz)
{
    (void)g;
    lfn *f = ud;
    int top = lua_gettop(f->L);
    lua_rawgeti(f->L, LUA_REGISTRYINDEX, f->ref);
    int rc = lfn_invoke(f, 0, err, errsz);
    lua_settop(f->L, top);
    return rc;
}

/* g:at(t, function() ... end): edit the graph at t seconds */
static int graph_at(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    double t = luaL_checknumber(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lfn *f = lfn_new(L, 3);
    if (mg_graph_at(lg->g, t, lat_call, f, lfn_free))
        return raise_graph(L, lg->g);
    lua_settop(L, 1);
    return 1;
}

/* p:fn(function(t) return ... end, { rate = 200, start = 0 }) */
static int param_fn(lua_State *L)
{
    int i;
    mg_node *n = checkparam(L, 1, &i);
    if (lua_isnil(L, 2)) { /* p:fn(nil): no more function */
        mg_node_param_generate(n, i, 0, 0, NULL, NULL, NULL);
        lua_settop(L, 1);
        return 1;
    }
    luaL_checktype(L, 2, LUA_TFUNCTION);
    double rate = 200, start = 0, stop = HUGE_VAL;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "rate") != LUA_TNIL)
            rate = luaL_checknumber(L, -1);
        if (lua_getfield(L, 3, "start") != LUA_TNIL)
            start = luaL_checknumber(L, -1);
        if (lua_getfield(L, 3, "stop") != LUA_TNIL)
            stop = luaL_checknumber(L, -1);
        lua_pop(L, 3);
    }
    lfn *f = lfn_new(L, 2);
    if (mg_node_param_generate(n, i, rate, start, lfn_call, f, lfn_free) ||
        (stop < HUGE_VAL && mg_node_param_generate_stop(n, i, stop)))
        return raise_graph(L, mg_node_graph(n));
    lua_settop(L, 1);
    return 1;
}

static int param_index(lua_State *L)
{
    int i;
    mg_node *n = checkparam(L, 1, &i);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "value") == 0)
        return push_param(L, n, i), 1;
    if (strcmp(k, "name") == 0)
        return lua_pushstring(L, mg_node_param_name(n, i)), 1;
    if (strcmp(k, "node") == 0)
        return lua_getiuservalue(L, 1, 1), 1;
    luaL_getmetafield(L, 1, "methods");
    if (lua_getfield(L, -1, k) != LUA_TNIL)
        return 1;
    return luaL_error(L, "parameter '%s' has no field '%s'", mg_node_param_name(n, i), k);
}

static int param_tostring(lua_State *L)
{
    int i;
    mg_node *n = checkparam(L, 1, &i);
    lua_pushfstring(L, "parameter '%s.%s'", mg_node_name(n), mg_node_param_name(n, i));
    return 1;
}

/* ---- time and tempo ---- */

/* g:tempo() -> bpm at 0; g:tempo(bpm [, { at = seconds | bar = n, beats_per_bar = 4 }]) */
static int graph_tempo(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    if (lua_isnoneornil(L, 2))
        return lua_pushnumber(L, mg_graph_tempo(lg->g)), 1;
    double bpm = luaL_checknumber(L, 2), t = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "beats_per_bar") != LUA_TNIL) {
            double b = luaL_checknumber(L, -1);
            if (!(b >= 1 && b <= 64))
                return luaL_error(L, "tempo: beats_per_bar %g out of range [1, 64]", b);
            lg->beats_per_bar = b;
        }
        if (lua_getfield(L, 3, "at") != LUA_TNIL)
            t = luaL_checknumber(L, -1);
        if (lua_getfield(L, 3, "bar") != LUA_TNIL)
            t = mg_graph_beat_time(lg->g, luaL_checknumber(L, -1) * lg->beats_per_bar);
        lua_pop(L, 3);
    }
    if (mg_graph_tempo_change(lg->g, t, bpm))
        return raise_graph(L, lg->g);
    lua_settop(L, 1);
    return 1;
}

/* g:beats(n) -> seconds at which beat n falls (beat 0 at time 0), through the tempo map */
static int graph_beats(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    return lua_pushnumber(L, mg_graph_beat_time(lg->g, luaL_checknumber(L, 2))), 1;
}

/* g:bars(n) -> seconds at which n bars have passed */
static int graph_bars(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    double b = luaL_checknumber(L, 2) * lg->beats_per_bar;
    return lua_pushnumber(L, mg_graph_beat_time(lg->g, b)), 1;
}

/* g:note("1/8." [, t]) -> seconds of a note value at the tempo at t (1/4 is one beat) */
static int graph_note(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    const char *v = luaL_checkstring(L, 2);
    double t = luaL_optnumber(L, 3, 0);
    int num = 0, den = 0;
    char mod = 0, extra = 0;
    int got = sscanf(v, "%d/%d%c%c", &num, &den, &mod, &extra);
    if (got < 2 || got > 3 || num < 1 || den < 1 || (got == 3 && mod != '.' && mod != 't'))
        return luaL_error(L, "note '%s': expected N/D with an optional '.' (dotted) or 't' "
                          "(triplet), e.g. \"1/8.\"", v);
    double beats = 4.0 * num / den * (mod == '.' ? 1.5 : mod == 't' ? 2.0 / 3.0 : 1.0);
    return lua_pushnumber(L, beats * 60.0 / mg_graph_tempo_at(lg->g, t)), 1;
}

/* g:stem(node_or_port [, name]): also write this output to DIR/NAME.EXT with --stems */
static int graph_stem(lua_State *L)
{
    lgraph *lg = mg_lua_checkgraph(L, 1);
    int port;
    mg_node *n = conn_src(L, 2, &port);
    const char *name = luaL_optstring(L, 3, mg_node_name(n));
    int automatic = 0;
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "automatic");
        automatic = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (mg_graph_add_stem(lg->g, n, port, name, automatic))
        return raise_graph(L, lg->g);
    return 0;
}

/* ---- seeded randomness ---- */

/* xoshiro256** seeded through SplitMix64: the same seed gives the same sequence anywhere. */
typedef struct lrng {
    uint64_t s[4];
} lrng;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(lrng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

static lrng *get_rng(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, RNG_KEY) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        lrng *r = lua_newuserdatauv(L, sizeof *r, 0);
        uint64_t x = MG_DEFAULT_PATCH_SEED;
        for (int k = 0; k < 4; k++)
            r->s[k] = splitmix(&x);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, RNG_KEY);
    }
    lrng *r = lua_touserdata(L, -1);
    lua_pop(L, 1); /* the registry keeps it */
    return r;
}

void mg_lua_seed(lua_State *L, uint64_t seed)
{
    lrng *r = get_rng(L);
    uint64_t x = seed;
    for (int k = 0; k < 4; k++)
        r->s[k] = splitmix(&x);
}

/* mixgraph.seed(n) */
static int l_seed(lua_State *L)
{
    mg_lua_seed(L, (uint64_t)luaL_checkinteger(L, 1));
    return 0;
}

/* mixgraph.random() -> [0, 1); random(n) -> 1..n; random(m, n) -> m..n (as math.random) */
static int l_random(lua_State *L)
{
    lrng *r = get_rng(L);
    uint64_t x = rng_next(r);
    if (lua_isnoneornil(L, 1)) {
        lua_pushnumber(L, (double)(x >> 11) * 0x1.0p-53);
        return 1;
    }
    lua_Integer lo = 1, hi;
    if (lua_isnoneornil(L, 2)) {
        hi = luaL_checkinteger(L, 1);
    } else {
        lo = luaL_checkinteger(L, 1);
        hi = luaL_checkinteger(L, 2);
    }
    luaL_argcheck(L, lo <= hi, lua_isnoneornil(L, 2) ? 1 : 2, "interval is empty");
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    lua_pushinteger(L, span ? (lua_Integer)((uint64_t)lo + x % span) : (lua_Integer)x);
    return 1;
}

/* ---- module ---- */

static void pushdesc(lua_State *L, const mg_node_desc *d)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, d->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, d->doc ? d->doc : "");
    lua_setfield(L, -2, "doc");
    lua_createtable(L, d->n_params, 0);
    for (int i = 0; i < d->n_params; i++) {
        const mg_param_desc *p = &d->params[i];
        lua_createtable(L, 0, 6);
        lua_pushstring(L, p->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, p->unit ? p->unit : "");
        lua_setfield(L, -2, "unit");
        lua_pushnumber(L, p->min);
        lua_setfield(L, -2, "min");
        lua_pushnumber(L, p->max);
        lua_setfield(L, -2, "max");
        lua_pushnumber(L, p->def);
        lua_setfield(L, -2, "default");
        lua_pushnumber(L, p->smooth_ms);
        lua_setfield(L, -2, "smooth_ms");
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "params");
    lua_createtable(L, d->n_options, 0);
    for (int i = 0; i < d->n_options; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, d->options[i].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, d->options[i].doc ? d->options[i].doc : "");
        lua_setfield(L, -2, "doc");
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "options");
}

extern const char mg_lua_mixer[];
extern const size_t mg_lua_mixer_len;

/*
** mixgraph.mixer(g [, { name, gain, inserts }]) -> a mixer (lua/mixer.lua): tracks, buses,
** sends, mute and solo, written in Lua on top of the nodes. The chunk is loaded once per state.
*/
static int l_mixer(lua_State *L)
{
    mg_lua_checkgraph(L, 1);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "mixgraph.mixer") != LUA_TTABLE) {
        lua_pop(L, 1);
        if (luaL_loadbufferx(L, mg_lua_mixer, mg_lua_mixer_len, "=mixer.lua", "t") != LUA_OK)
            return lua_error(L);
        lua_call(L, 0, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "mixgraph.mixer");
    }
    lua_getfield(L, -1, "new");
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

/* mixgraph.types() -> { {name=, doc=, params={...}, options={...}}, ... } */
static int l_types(lua_State *L)
{
    lua_newtable(L);
    for (int i = 0; mg_node_types[i]; i++) {
        pushdesc(L, mg_node_types[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static const luaL_Reg graph_methods[] = {
    {"node", graph_node},     {"connect", graph_connect}, {"find", graph_find},
    {"nodes", graph_nodes},   {"length", graph_length},   {"render", graph_render},
    {"measure", graph_measure}, {"tempo", graph_tempo},     {"beats", graph_beats},
    {"bars", graph_bars},       {"note", graph_note},       {"stem", graph_stem},
    {"loudness", mg_lua_graph_loudness}, {"at", graph_at},
    {NULL, NULL}};
static const luaL_Reg graph_meta[] = {
    {"__index", graph_index}, {"__newindex", graph_newindex}, {"__gc", graph_gc},
    {"__close", graph_gc},    {"__tostring", graph_tostring}, {NULL, NULL}};
static const luaL_Reg node_methods[] = {
    {"to", node_to},         {"input", node_input},   {"output", node_output},
    {"set", node_set},       {"params", node_params}, {"remove", node_remove},
    {"disconnect", node_disconnect}, {"response", node_response}, {"param", node_param},
    {NULL, NULL}};
static const luaL_Reg param_methods[] = {
    {"set", param_set},           {"linear_to", param_linear_to}, {"exp_to", param_exp_to},
    {"scurve_to", param_scurve_to}, {"step_to", param_step_to},   {"target", param_target},
    {"curve", param_curve},       {"cancel", param_cancel},       {"hold", param_hold},
    {"fn", param_fn},             {"mod", param_mod},             {"value_at", param_value_at},
    {NULL, NULL}};
static const luaL_Reg param_meta[] = {
    {"__index", param_index}, {"__tostring", param_tostring}, {NULL, NULL}};
static const luaL_Reg node_meta[] = {
    {"__index", node_index}, {"__newindex", node_newindex}, {"__shr", l_shr},
    {"__tostring", node_tostring}, {NULL, NULL}};
static const luaL_Reg member_meta[] = {
    {"__index", member_index}, {"__newindex", member_newindex}, {NULL, NULL}};
static const luaL_Reg port_meta[] = {
    {"__shr", l_shr}, {"__tostring", port_tostring}, {NULL, NULL}};
static const luaL_Reg module_funcs[] = {
    {"graph", l_graph}, {"types", l_types},   {"mixer", l_mixer},
    {"seed", l_seed},   {"random", l_random}, {"analyze", mg_lua_analyze},
    {"tracks", mg_lua_tracks}, {NULL, NULL}};

static void newmeta(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    if (methods) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "methods");
    }
    lua_pop(L, 1);
}

int luaopen_mixgraph(lua_State *L)
{
    newmeta(L, GRAPH_MT, graph_meta, graph_methods);
    newmeta(L, NODE_MT, node_meta, node_methods);
    newmeta(L, PORT_MT, port_meta, NULL);
    newmeta(L, MEMBER_MT, member_meta, NULL);
    newmeta(L, PARAM_MT, param_meta, param_methods);
    luaL_newlib(L, module_funcs);
    lua_pushliteral(L, MG_VERSION);
    lua_setfield(L, -2, "version");
    mg_lua_open_pitch(L);
    return 1;
}

mg_node *mg_lua_node(lua_State *L, int i)
{
    return checknode(L, i);
}

void mg_lua_pushgraph_of(lua_State *L, int i)
{
    pushgraph_of(L, i);
}

void mg_lua_pushnode(lua_State *L, int gi, mg_node *n)
{
    pushnode(L, gi, n);
}
