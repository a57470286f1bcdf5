/*
** mg_lua.h: running Lua patches, for C code that must not see lua.h (the `mixgraph` command).
** [control] throughout: the Lua state lives on the control thread only.
**
** A patch is a Lua 5.4 file that builds a graph. It is called with two arguments, the graph
** (made from the command's settings) and the table of --set arguments:
**     local g, args = ...
** It may instead build its own graph with require("mixgraph").graph{...} and return it.
*/
#ifndef MG_LUA_H
#define MG_LUA_H

#include <stddef.h>
#include <stdint.h>

#include "mixgraph.h"

typedef struct mg_patch mg_patch;

/* Seed of mixgraph.random unless the command is given --seed (keep equal to lmixgraph.h's). */
#define MG_DEFAULT_PATCH_SEED 1u

typedef struct mg_patch_arg {
    const char *key, *value; /* from --set key=value; numbers and booleans are converted */
} mg_patch_arg;

/*
** Load and run the patch at `path`. On failure returns NULL and writes "patch.lua:LINE: message"
** (or the reason the file could not be read) into err.
*/
mg_patch *mg_patch_run(const char *path, const mg_graph_config *cfg, const mg_patch_arg *args,
                       int n_args, char *err, size_t errsz);
/* The same with mixgraph.random seeded with `seed` (the command's --seed; mg_patch_run uses
   a fixed default, so renders are reproducible unless asked otherwise). */
mg_patch *mg_patch_run_seeded(const char *path, const mg_graph_config *cfg,
                              const mg_patch_arg *args, int n_args, uint64_t seed, char *err,
                              size_t errsz);
void mg_patch_free(mg_patch *p); /* accepts NULL; frees the graph too */
mg_graph *mg_patch_graph(mg_patch *p);
/* Seconds set by the patch (g.duration = 30), or a negative value when unset. */
double mg_patch_duration(mg_patch *p);

/*
** Run Lua source `code` in the patch's state, as the REPL of `mixgraph play` does. The global
** `g` is the patch's graph. An expression's values are written to out ("0.5"); an error
** writes "CHUNK:LINE: message" and returns non-zero.
*/
int mg_patch_eval(mg_patch *p, const char *code, const char *chunkname, char *out,
                  size_t outsz);
/* After the graph changed from C (mg_graph_update), forget handles of removed nodes. */
void mg_patch_sync(mg_patch *p);

#endif
