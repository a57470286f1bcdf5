/*
** cli.h: what the `mixgraph` command's files share (tools/mixgraph.c holds the definitions):
** option parsing for patches, loading, error printing, exit codes. [control], main thread.
*/
#ifndef MG_CLI_H
#define MG_CLI_H

#include "mg_lua.h"
#include "mixgraph.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

typedef struct patch_opts {
    const char *patch, *out, *svg;
    mg_graph_config cfg;
    int rate_set, block_set;
    double duration;
    mg_sample_format bits;
    mg_dither_mode dither;
    mg_patch_arg args[256];
    int n_args;
    int quiet, markdown;
    uint64_t seed;      /* mixgraph.random (--seed) */
    const char *stems;  /* render --stems DIR */
} patch_opts;

extern const char *prog;         /* "mixgraph" */
extern volatile int interrupted; /* set by on_sigint */

void on_sigint(int sig);
/* Print "mixgraph: <fmt with arg>" and a pointer to `mixgraph CMD--help`; exit 2. */
void die_usage(const char *cmd, const char *fmt, const char *arg);
int wants_help(int argc, char **argv);
/* A finite number from option `opt`'s value v, or die_usage. */
double parse_num(const char *cmd, const char *opt, const char *v);
void parse_patch_opts(const char *cmd, int argc, char **argv, patch_opts *o, int want_out);
void print_graph_error(mg_graph *g);
mg_patch *load_patch(patch_opts *o);
void fmt_time(double s, char *buf, size_t sz);

/* play.c */
extern const char *const help_play;
int cmd_play(int argc, char **argv);
/* analyze_cmd.c */
extern const char help_analyze[];
int cmd_analyze(int argc, char **argv);
/* master_cmd.c */
extern const char help_master[];
int cmd_master(int argc, char **argv);

#endif
