/*
** cli.h: what the `mixgraph` command's files share (mixgraph.c holds the definitions).
** [control], main thread.
*/
#ifndef MG_CLI_H
#define MG_CLI_H

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

extern const char *prog;            /* "mixgraph" */
extern volatile int interrupted;    /* set by on_sigint */
void on_sigint(int sig);
/* Print "mixgraph: <fmt with arg>" and a pointer to `mixgraph CMD--help`; exit 2. */
void die_usage(const char *cmd, const char *fmt, const char *arg);
/* A finite number from option `opt`'s value v, or die_usage. */
double parse_num(const char *cmd, const char *opt, const char *v);
int wants_help(int argc, char **argv);

/* analyze_cmd.c */
extern const char help_analyze[];
int cmd_analyze(int argc, char **argv);
/* master_cmd.c */
extern const char help_master[];
int cmd_master(int argc, char **argv);

#endif
