/*
** lanalyze.c: measurement and mastering in the Lua module: mixgraph.analyze(path),
** mixgraph.tracks{paths}, g:loudness([seconds]) and the loudness target of g:render.
** [control]: these render or read files on the Lua (control) thread.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

#include "lmixgraph.h"
#include "mg_analyze.h"
#include "mg_master.h"

static void setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

/* The analysis as a table; loudness -inf stays -math.huge (never NaN: a non-stereo
   correlation is nil). */
static void push_analysis(lua_State *L, const mg_file_analysis *a)
{
    lua_createtable(L, 0, 20);
    setnum(L, "rate", a->rate);
    lua_pushinteger(L, a->channels);
    lua_setfield(L, -2, "channels");
    lua_pushinteger(L, a->frames);
    lua_setfield(L, -2, "frames");
    setnum(L, "duration", a->rate > 0 ? (double)a->frames / a->rate : 0);
    if (a->format[0]) {
        lua_pushstring(L, a->format);
        lua_setfield(L, -2, "format");
    }
    setnum(L, "integrated", a->integrated);
    setnum(L, "lra", a->lra);
    setnum(L, "momentary_max", a->momentary_max);
    setnum(L, "shortterm_max", a->shortterm_max);
    setnum(L, "sample_peak", a->sample_peak);
    setnum(L, "true_peak", a->true_peak);
    setnum(L, "crest", a->crest);
    if (!isnan(a->correlation))
        setnum(L, "correlation", a->correlation);
    lua_pushinteger(L, (lua_Integer)a->clipped);
    lua_setfield(L, -2, "clipped");
    static const char *const per[] = {"peak", "rms", "dc"};
    for (int k = 0; k < 3; k++) {
        const double *v = k == 0 ? a->peak : k == 1 ? a->rms : a->dc;
        lua_createtable(L, a->channels, 0);
        for (int c = 0; c < a->channels; c++) {
            lua_pushnumber(L, v[c]);
            lua_rawseti(L, -2, c + 1);
        }
        lua_setfield(L, -2, per[k]);
    }
}

/* mixgraph.analyze(path) -> table | nil, message */
int mg_lua_analyze(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mg_file_analysis a;
    char err[1024];
    if (mg_analyze_file(path, &a, err, sizeof err)) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    push_analysis(L, &a);
    return 1;
}

/*
** mixgraph.tracks{ "a.wav", "b.wav", ... } -> { tracks = { {file, integrated, relative,
** shortterm_max}, ... }, masking = { {masker = i, masked = j, bands = { {low, high, share},
** ... }}, ... } } | nil, message. `masking` lists every ordered pair; bands are those where
** the masker covers the other track at least half of the time it sounds there (see
** mg_analyze_masking).
*/
int mg_lua_tracks(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)luaL_len(L, 1);
    luaL_argcheck(L, n >= 2, 1, "at least two files expected");
    mg_file_analysis *a = lua_newuserdatauv(L, sizeof *a * (size_t)n, 0);
    memset(a, 0, sizeof *a * (size_t)n);
    char err[1024];
    int failed = 0;
    for (int i = 0; i < n && !failed; i++) {
        lua_geti(L, 1, i + 1);
        const char *path = lua_tostring(L, -1);
        if (!path)
            return luaL_argerror(L, 1, "file names expected");
        failed = mg_analyze_file_ex(path, MG_ANALYZE_BANDS, &a[i], err, sizeof err) != MG_OK;
        if (!failed && a[i].rate != a[0].rate) {
            snprintf(err, sizeof err, "%s: %g Hz, unlike the first track (%g Hz)", path,
                     a[i].rate, a[0].rate);
            failed = 1;
        }
        lua_pop(L, 1);
    }
    if (failed) {
        for (int i = 0; i < n; i++)
            mg_analysis_free(&a[i]);
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    double loudest = -HUGE_VAL;
    for (int i = 0; i < n; i++)
        loudest = a[i].integrated > loudest ? a[i].integrated : loudest;
    lua_createtable(L, 0, 2);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 4);
        lua_geti(L, 1, i + 1);
        lua_setfield(L, -2, "file");
        setnum(L, "integrated", a[i].integrated);
        setnum(L, "relative", isfinite(loudest) ? a[i].integrated - loudest : -HUGE_VAL);
        setnum(L, "shortterm_max", a[i].shortterm_max);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "tracks");
    lua_createtable(L, n * (n - 1), 0);
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j)
                continue;
            int band[MG_BANDS];
            double share[MG_BANDS];
            int nb = mg_analyze_masked_bands(&a[i], &a[j], band, share);
            lua_createtable(L, 0, 3);
            lua_pushinteger(L, i + 1);
            lua_setfield(L, -2, "masker");
            lua_pushinteger(L, j + 1);
            lua_setfield(L, -2, "masked");
            lua_createtable(L, nb, 0);
            for (int b = 0; b < nb; b++) {
                lua_createtable(L, 0, 3);
                setnum(L, "low", mg_band_edges[band[b]]);
                setnum(L, "high", mg_band_edges[band[b] + 1]);
                setnum(L, "share", share[b]);
                lua_rawseti(L, -2, b + 1);
            }
            lua_setfield(L, -2, "bands");
            lua_rawseti(L, -2, ++k);
        }
    lua_setfield(L, -2, "masking");
    for (int i = 0; i < n; i++)
        mg_analysis_free(&a[i]);
    return 1;
}

/* g:loudness([seconds]) -> analysis table of the output rendered in memory from the start
   (default: the graph's length); the graph is reset before and after. */
int mg_lua_graph_loudness(lua_State *L)
{
    mg_graph *g = mg_lua_graph(L, 1);
    double secs = luaL_optnumber(L, 2, 0);
    luaL_argcheck(L, secs >= 0 && secs < 1e6, 2, "duration in seconds expected");
    mg_file_analysis a;
    if (mg_graph_analyze(g, (int64_t)llround(secs * mg_graph_rate(g)), &a))
        return luaL_error(L, "%s", mg_graph_error(g));
    push_analysis(L, &a);
    return 1;
}

static double optfield(lua_State *L, int t, const char *k, double def)
{
    double v = def;
    if (lua_getfield(L, t, k) != LUA_TNIL)
        v = luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* A node option: a node, a node name, or nil. */
static mg_node *optnode(lua_State *L, mg_graph *g, int t, const char *k)
{
    mg_node *n = NULL;
    int ty = lua_getfield(L, t, k);
    if (ty == LUA_TSTRING) {
        n = mg_graph_find(g, lua_tostring(L, -1));
        if (!n)
            luaL_error(L, "render: %s: no node named '%s'", k, lua_tostring(L, -1));
    } else if (ty != LUA_TNIL) {
        n = mg_lua_node(L, -1);
    }
    lua_pop(L, 1);
    return n;
}

/*
** g:render(path, { target_lufs = -14, ceiling_dbtp = -1, tolerance = 0.1, max_gain = 24,
** max_gr = 12, passes = 8, tp_margin = 0.05, peak_respecting = false, gain_node = node|name,
** limiter = node|name|false, ... }) -> true, report | nil, message, report.
** report = { before = analysis, after = analysis, gain, max_gr, passes, renders, on_target,
** note }.
*/
int mg_lua_render_target(lua_State *L, mg_graph *g, const mg_render_opts *ro, int opts)
{
    mg_master_opts mo = {0};
    mo.target_lufs = luaL_checknumber(L, -1);
    lua_pop(L, 1);
    mo.ceiling_dbtp = optfield(L, opts, "ceiling_dbtp", -1.0);
    mo.tolerance_lu = optfield(L, opts, "tolerance", 0);
    mo.max_gain_db = optfield(L, opts, "max_gain", 0);
    mo.max_gr_db = optfield(L, opts, "max_gr", 0);
    mo.max_passes = (int)optfield(L, opts, "passes", 0);
    mo.tp_margin_db = optfield(L, opts, "tp_margin", 0);
    lua_getfield(L, opts, "peak_respecting");
    mo.peak_respecting = lua_toboolean(L, -1);
    lua_pop(L, 1);
    mo.gain = optnode(L, g, opts, "gain_node");
    if (lua_getfield(L, opts, "limiter") == LUA_TBOOLEAN && !lua_toboolean(L, -1))
        mo.no_limiter = 1;
    lua_pop(L, 1);
    if (!mo.no_limiter)
        mo.limiter = optnode(L, g, opts, "limiter");
    mg_master_report rep;
    mg_status st = mg_master_render(g, &mo, ro, &rep);
    int top = lua_gettop(L);
    if (st) {
        luaL_pushfail(L);
        lua_pushstring(L, mg_graph_error(g));
    } else {
        lua_pushboolean(L, 1);
    }
    lua_createtable(L, 0, 7);
    push_analysis(L, &rep.before);
    lua_setfield(L, -2, "before");
    if (!st) {
        push_analysis(L, &rep.after);
        lua_setfield(L, -2, "after");
    }
    setnum(L, "gain", rep.gain_db);
    setnum(L, "max_gr", rep.max_gr_db);
    lua_pushinteger(L, rep.passes);
    lua_setfield(L, -2, "passes");
    lua_pushinteger(L, rep.renders);
    lua_setfield(L, -2, "renders");
    lua_pushboolean(L, rep.on_target);
    lua_setfield(L, -2, "on_target");
    lua_pushstring(L, rep.note);
    lua_setfield(L, -2, "note");
    return lua_gettop(L) - top;
}
