/*
** mixgraph.c: the `mixgraph` command: render, check, graph, nodes (analyze and master are in
** analyze_cmd.c and master_cmd.c). [control]
** Runs on the main thread; rendering drives the engine's offline loop. It knows nothing of
** Lua (patches run through mg_lua.h).
**
** Exit codes: 0 ok; 1 runtime or I/O failure; 2 usage or patch error; 130 interrupted.
*/
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "mg_lua.h"
#include "mg_node.h"
#include "mixgraph.h"


volatile int interrupted;
void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

const char *prog = "mixgraph";

void die_usage(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s %s--help'.\n", prog, cmd ? cmd : "");
    exit(EXIT_USAGE);
}

/* ---- help ---- */

static const char *const help_main =
    "usage: mixgraph <command> [options]\n"
    "\n"
    "An audio mixing and mastering engine: Lua patches build a graph of DSP nodes that is\n"
    "rendered to a file (offline) block by block.\n"
    "\n"
    "commands:\n"
    "  render PATCH.lua -o OUT   render a patch to a sound file\n"
    "  play PATCH.lua            play a patch live on an audio device (PortAudio, JACK)\n"
    "  check PATCH.lua           build the graph without rendering; list nodes in order\n"
    "  graph PATCH.lua           print the graph as Graphviz DOT (--svg OUT.svg draws it)\n"
    "  nodes [NAME]              list node types with parameters, units, ranges, defaults\n"
    "  analyze FILE...           loudness (BS.1770), peaks, balance, spectrum, tempo, key\n"
    "  master IN -o OUT          master a mix to a loudness target (spotify, ebu, -14...)\n"
    "  help [COMMAND]            this text, or a command's\n"
    "\n"
    "Every command takes --help. Exit status: 0 ok, 1 runtime or I/O failure,\n"
    "2 usage or patch error, 130 interrupted (Ctrl-C).\n";

static const char *const help_render =
    "usage: mixgraph render PATCH.lua -o OUT [options]\n"
    "\n"
    "Render a patch to OUT; the format comes from the extension (.wav .flac .aiff .caf .w64\n"
    ".rf64 .ogg .opus .mp3). The file appears only when the render succeeded: a failed or\n"
    "interrupted render leaves no file and never overwrites an existing one.\n"
    "\n"
    "options:\n"
    "  -o, --output OUT     output file (required)\n"
    "  --rate HZ            sample rate, 22050..192000 (default 48000)\n"
    "  --block N            frames per processing block, 1..8192 (default 1024; the\n"
    "                       samples are the same for every block size)\n"
    "  --duration SECONDS   length (default: until every finite source has ended, plus\n"
    "                       the nodes' tails; or g.duration when the patch sets it)\n"
    "  --bits 16|24|32f     sample format for PCM containers (default 24)\n"
    "  --dither tpdf|shaped|none\n"
    "                       dither at the conversion to 16 or 24 bit (default: tpdf for\n"
    "                       16-bit output, none for 24; float output is never dithered)\n"
    "  --set KEY=VALUE      patch argument (repeatable); numbers and true/false convert\n"
    "  --seed N             seed of mixgraph.random (default 1)\n"
    "  --stems DIR          also write each stem (the mixer's buses, or the outputs the patch\n"
    "                       names with g:stem) to DIR/NAME.EXT, aligned with OUT\n"
    "  -q, --quiet          no progress bar or summary\n"
    "\n"
    "On a terminal a progress bar shows percent, elapsed time, ETA and speed (x realtime).\n"
    "Renders are deterministic: the same patch, arguments and seed give identical files.\n";

static const char *const help_check =
    "usage: mixgraph check PATCH.lua [--set KEY=VALUE]... [--rate HZ] [--block N]\n"
    "\n"
    "Run the patch, compile its graph and list the nodes in processing order with their\n"
    "channel counts and latency. Nothing is rendered. Exit 0 when the patch is valid.\n";

static const char *const help_graph =
    "usage: mixgraph graph PATCH.lua [--svg OUT.svg] [--set KEY=VALUE]...\n"
    "\n"
    "Print the patch's graph as Graphviz DOT: nodes with their main parameter values,\n"
    "edges with channel counts, latency where it is not zero. --svg draws it with `dot`\n"
    "(Graphviz; tools/install-deps installs it).\n";

static const char *const help_nodes =
    "usage: mixgraph nodes [NAME] [--markdown]\n"
    "\n"
    "List node types, or one type in detail: ports, parameters (unit, range, default,\n"
    "smoothing) and options. --markdown prints the reference in docs/nodes.md.\n";

int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

/* ---- common patch options ---- */

double parse_num(const char *cmd, const char *opt, const char *v)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d)) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s expects a number, got '%%s'", opt);
        die_usage(cmd, msg, v);
    }
    return d;
}

void parse_patch_opts(const char *cmd, int argc, char **argv, patch_opts *o, int want_out)
{
    memset(o, 0, sizeof *o);
    o->cfg = mg_graph_config_default();
    o->duration = -1;
    o->seed = MG_DEFAULT_PATCH_SEED;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                                                 \
    do {                                                                                        \
        if (!v)                                                                                 \
            die_usage(cmd, "option %s needs a value", a);                                       \
        i++;                                                                                    \
    } while (0)
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && want_out) {
            NEEDV();
            o->out = v;
        } else if (strcmp(a, "--rate") == 0) {
            NEEDV();
            o->cfg.rate = parse_num(cmd, a, v);
            o->rate_set = 1;
            if (!(o->cfg.rate >= MG_RATE_MIN && o->cfg.rate <= MG_RATE_MAX))
                die_usage(cmd, "--rate %s out of range [22050, 192000]", v);
        } else if (strcmp(a, "--block") == 0) {
            NEEDV();
            double b = parse_num(cmd, a, v);
            if (b != floor(b) || b < 1 || b > MG_BLOCK_MAX)
                die_usage(cmd, "--block %s out of range [1, 8192]", v);
            o->cfg.block = (int)b;
            o->block_set = 1;
        } else if (strcmp(a, "--duration") == 0) {
            NEEDV();
            o->duration = parse_num(cmd, a, v);
            if (!(o->duration > 0))
                die_usage(cmd, "--duration %s must be positive (seconds)", v);
        } else if (strcmp(a, "--bits") == 0) {
            NEEDV();
            if (strcmp(v, "16") == 0)
                o->bits = MG_BITS_16;
            else if (strcmp(v, "24") == 0)
                o->bits = MG_BITS_24;
            else if (strcmp(v, "32f") == 0 || strcmp(v, "32") == 0)
                o->bits = MG_BITS_32F;
            else
                die_usage(cmd, "--bits %s: use 16, 24 or 32f", v);
        } else if (strcmp(a, "--dither") == 0) {
            NEEDV();
            if (strcmp(v, "tpdf") == 0)
                o->dither = MG_DITHER_TPDF;
            else if (strcmp(v, "shaped") == 0)
                o->dither = MG_DITHER_SHAPED;
            else if (strcmp(v, "none") == 0)
                o->dither = MG_DITHER_NONE;
            else
                die_usage(cmd, "--dither %s: use tpdf, shaped or none", v);
        } else if (strcmp(a, "--set") == 0) {
            NEEDV();
            const char *eq = strchr(v, '=');
            if (!eq || eq == v)
                die_usage(cmd, "--set %s: expected KEY=VALUE", v);
            if (o->n_args == (int)(sizeof o->args / sizeof *o->args))
                die_usage(cmd, "too many --set options%s", "");
            char *key = strndup(v, (size_t)(eq - v));
            o->args[o->n_args++] = (mg_patch_arg){key, eq + 1};
        } else if (strcmp(a, "--seed") == 0) {
            NEEDV();
            double d = parse_num(cmd, a, v);
            if (d != floor(d) || d < 0 || d > 9007199254740992.0)
                die_usage(cmd, "--seed %s: expected a whole number >= 0", v);
            o->seed = (uint64_t)d;
        } else if (strcmp(a, "--stems") == 0 && want_out) {
            NEEDV();
            o->stems = v;
        } else if (strcmp(a, "--svg") == 0 && strcmp(cmd, "graph ") == 0) {
            NEEDV();
            o->svg = v;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            die_usage(cmd, "unknown option '%s'", a);
        } else if (!o->patch) {
            o->patch = a;
        } else {
            die_usage(cmd, "unexpected argument '%s'", a);
        }
#undef NEEDV
    }
    if (!o->patch)
        die_usage(cmd, "missing PATCH.lua%s", "");
    if (want_out && !o->out)
        die_usage(cmd, "missing -o OUT (the file to write)%s", "");
}

/* Print a graph error, prefixed with the node's patch position when known. */
void print_graph_error(mg_graph *g)
{
    mg_node *n = mg_graph_error_node(g);
    const char *origin = n ? mg_node_origin(n) : NULL;
    if (origin)
        fprintf(stderr, "%s: %s\n", origin, mg_graph_error(g));
    else
        fprintf(stderr, "%s: %s\n", prog, mg_graph_error(g));
}

mg_patch *load_patch(patch_opts *o)
{
    char err[2048];
    mg_patch *p = mg_patch_run_seeded(o->patch, &o->cfg, o->args, o->n_args, o->seed, err,
                                      sizeof err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        exit(EXIT_USAGE);
    }
    mg_graph *g = mg_patch_graph(p);
    if ((o->rate_set && mg_graph_set_rate(g, o->cfg.rate)) ||
        (o->block_set && mg_graph_set_block(g, o->cfg.block))) {
        print_graph_error(g);
        exit(EXIT_USAGE);
    }
    if (mg_graph_compile(g)) {
        print_graph_error(g);
        exit(EXIT_USAGE);
    }
    return p;
}

/* ---- render ---- */

void fmt_time(double s, char *buf, size_t sz)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, sz, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, sz, "%ld:%02ld", t / 60, t % 60);
}

typedef struct progress_ctx {
    double rate;
    int shown;
} progress_ctx;

static int show_progress(const mg_render_progress *p, void *ud)
{
    progress_ctx *pc = ud;
    double frac = p->total ? (double)p->done / (double)p->total : 1;
    int width = 30, fill = (int)(frac * width + 0.5);
    char bar[64], el[32], eta[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[width] = 0;
    double speed = p->elapsed > 0 ? (double)p->done / pc->rate / p->elapsed : 0;
    fmt_time(p->elapsed, el, sizeof el);
    fmt_time(frac > 0 ? p->elapsed * (1 - frac) / frac : 0, eta, sizeof eta);
    fprintf(stderr, "\r[%s] %3d%%  %s elapsed  ETA %s  %.1fx realtime ", bar, (int)(frac * 100),
            el, eta, speed);
    pc->shown = 1;
    return 0;
}

static int cmd_render(int argc, char **argv)
{
    if (wants_help(argc, argv))
        return fputs(help_render, stdout), EXIT_OK;
    patch_opts o;
    parse_patch_opts("render ", argc, argv, &o, 1);
    int fmt;
    char msg[512];
    if (mg_format_for_path(o.out, o.bits, &fmt, msg, sizeof msg))
        die_usage("render ", "%s", msg);
    mg_patch *p = load_patch(&o);
    mg_graph *g = mg_patch_graph(p);
    double dur = o.duration > 0 ? o.duration : mg_patch_duration(p);
    mg_render_opts ro = {.path = o.out, .bits = o.bits, .dither = o.dither,
                         .interrupt = &interrupted, .stems_dir = o.stems};
    if (dur > 0)
        ro.frames = (int64_t)llround(dur * mg_graph_rate(g));
    int tty = isatty(2) && !o.quiet && !(getenv("CI") && strcmp(getenv("CI"), "true") == 0);
    progress_ctx pc = {mg_graph_rate(g), 0};
    if (tty) {
        ro.progress = show_progress;
        ro.ud = &pc;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    mg_render_result r;
    mg_status st = mg_render(g, &ro, &r);
    if (pc.shown)
        fputc('\n', stderr);
    int code = EXIT_OK;
    if (st == MG_ERR_INTERRUPTED) {
        fprintf(stderr, "%s: interrupted; %s was not written\n", prog, o.out);
        code = EXIT_INTERRUPTED;
    } else if (st == MG_ERR_SCRIPT) { /* "patch.lua:LINE: message" from an automation fn */
        mg_node *n = mg_graph_error_node(g);
        if (n && mg_node_origin(n))
            fprintf(stderr, "%s: %s\n", mg_node_origin(n), mg_graph_error(g));
        else
            fprintf(stderr, "%s\n", mg_graph_error(g));
        code = EXIT_USAGE;
    } else if (st == MG_ERR_UNBOUNDED || st == MG_ERR_FORMAT) {
        print_graph_error(g);
        code = EXIT_USAGE;
    } else if (st) {
        print_graph_error(g);
        code = EXIT_RUNTIME;
    } else {
        if (r.nonfinite)
            fprintf(stderr, "%s: warning: %llu non-finite samples (NaN/Inf) were replaced by "
                    "silence\n", prog, (unsigned long long)r.nonfinite);
        if (r.clipped)
            fprintf(stderr, "%s: warning: %llu samples clipped at full scale\n", prog,
                    (unsigned long long)r.clipped);
        if (tty)
            fprintf(stderr, "%s: %.2f s of audio in %.2f s (%.1fx realtime)\n", o.out,
                    (double)r.frames / mg_graph_rate(g), r.seconds,
                    r.seconds > 0 ? (double)r.frames / mg_graph_rate(g) / r.seconds : 0);
    }
    mg_patch_free(p);
    return code;
}

/* ---- check ---- */

static int cmd_check(int argc, char **argv)
{
    if (wants_help(argc, argv))
        return fputs(help_check, stdout), EXIT_OK;
    patch_opts o;
    parse_patch_opts("check ", argc, argv, &o, 0);
    mg_patch *p = load_patch(&o);
    mg_graph *g = mg_patch_graph(p);
    printf("%s: %d nodes, %d connections, %g Hz, block %d\n", o.patch,
           mg_graph_node_count(g), mg_graph_edge_count(g), mg_graph_rate(g), mg_graph_block(g));
    printf("  #  %-20s %-10s %-8s %s\n", "node", "type", "channels", "latency");
    for (int i = 0; i < mg_graph_order_count(g); i++) {
        mg_node *n = mg_graph_order(g, i);
        char ch[32];
        int in = mg_node_input_count(n) ? mg_node_input_channels(n, 0) : 0;
        int out = mg_node_output_count(n) ? mg_node_output_channels(n, 0) : 0;
        if (in)
            snprintf(ch, sizeof ch, "%d->%d", in, out);
        else
            snprintf(ch, sizeof ch, "%d", out);
        printf("%3d  %-20s %-10s %-8s %lld\n", i + 1, mg_node_name(n), mg_node_desc_of(n)->name,
               ch, (long long)mg_node_path_latency(n));
    }
    int64_t len = mg_graph_length(g);
    double d = mg_patch_duration(p);
    if (d > 0)
        printf("length: %.3f s (set by the patch)\n", d);
    else if (len == MG_FOREVER)
        printf("length: unbounded (node '%s' never ends; give --duration when rendering)\n",
               mg_node_name(mg_graph_endless_source(g)));
    else
        printf("length: %.3f s\n", (double)len / mg_graph_rate(g));
    mg_patch_free(p);
    return EXIT_OK;
}

/* ---- graph ---- */

static void dot_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

static void write_dot(FILE *f, mg_graph *g)
{
    fprintf(f, "digraph mixgraph {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n"
               "  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for (int i = 0; i < mg_graph_order_count(g); i++) {
        mg_node *n = mg_graph_order(g, i);
        const mg_node_desc *d = mg_node_desc_of(n);
        fprintf(f, "  \"");
        dot_escape(f, mg_node_name(n));
        fprintf(f, "\" [label=\"");
        dot_escape(f, mg_node_name(n));
        fprintf(f, "\\n(%s)", d->name);
        int pi = -1;
        if (d->main_param)
            pi = mg_node_param_index(n, d->main_param);
        else if (mg_node_param_count(n) > 0)
            pi = 0;
        if (pi >= 0) {
            const char *unit = "";
            for (int k = 0; k < d->n_params; k++)
                if (strncmp(d->params[k].name, mg_node_param_name(n, pi),
                            strlen(d->params[k].name)) == 0)
                    unit = d->params[k].unit ? d->params[k].unit : "";
            fprintf(f, "\\n%s = %g%s%s", mg_node_param_name(n, pi), mg_node_get_index(n, pi),
                    *unit ? " " : "", unit);
        }
        if (mg_node_path_latency(n))
            fprintf(f, "\\nlatency %lld", (long long)mg_node_path_latency(n));
        fprintf(f, "\"%s];\n", (d->flags & MG_NODE_SINK) ? ", shape=doubleoctagon" : "");
    }
    for (int i = 0; i < mg_graph_edge_count(g); i++) {
        mg_edge_info e = mg_graph_edge(g, i);
        fprintf(f, "  \"");
        dot_escape(f, mg_node_name(e.src));
        fprintf(f, "\" -> \"");
        dot_escape(f, mg_node_name(e.dst));
        fprintf(f, "\" [label=\"%dch", mg_node_output_channels(e.src, e.out_port));
        if (mg_node_input_count(e.dst) > 1 || e.in_port > 0)
            fprintf(f, " -> %s", mg_node_input_name(e.dst, e.in_port));
        fprintf(f, "\"];\n");
    }
    fprintf(f, "}\n");
}

static int cmd_graph(int argc, char **argv)
{
    if (wants_help(argc, argv))
        return fputs(help_graph, stdout), EXIT_OK;
    patch_opts o;
    parse_patch_opts("graph ", argc, argv, &o, 0);
    mg_patch *p = load_patch(&o);
    mg_graph *g = mg_patch_graph(p);
    int code = EXIT_OK;
    if (!o.svg) {
        write_dot(stdout, g);
    } else {
        char cmd[4200];
        if (system("command -v dot >/dev/null 2>&1") != 0) {
            fprintf(stderr, "%s: --svg needs Graphviz's `dot` (run tools/install-deps)\n", prog);
            mg_patch_free(p);
            return EXIT_RUNTIME;
        }
        snprintf(cmd, sizeof cmd, "dot -Tsvg -o '%s'", o.svg);
        if (strchr(o.svg, '\'')) {
            fprintf(stderr, "%s: --svg path must not contain quotes\n", prog);
            mg_patch_free(p);
            return EXIT_USAGE;
        }
        FILE *f = popen(cmd, "w");
        if (!f) {
            fprintf(stderr, "%s: cannot run dot: %s\n", prog, strerror(errno));
            code = EXIT_RUNTIME;
        } else {
            write_dot(f, g);
            int rc = pclose(f);
            if (rc != 0) {
                fprintf(stderr, "%s: dot failed writing %s\n", prog, o.svg);
                code = EXIT_RUNTIME;
            }
        }
    }
    mg_patch_free(p);
    return code;
}

/* ---- nodes ---- */

static const char *opt_type(const mg_option_desc *od)
{
    switch (od->type) {
    case MG_OPT_NUMBER: return "number";
    case MG_OPT_INT: return "integer";
    case MG_OPT_BOOL: return "boolean";
    case MG_OPT_STRING: return "string";
    case MG_OPT_ENUM: return "choice";
    }
    return "?";
}

/* The default of an option as text. */
static void opt_default(const mg_option_desc *od, char *buf, size_t sz)
{
    if (od->type == MG_OPT_STRING) {
        snprintf(buf, sz, "%s", od->def_str ? od->def_str : "(required)");
    } else if (od->type == MG_OPT_BOOL) {
        snprintf(buf, sz, "%s", od->def ? "true" : "false");
    } else if (od->type == MG_OPT_ENUM) {
        mg_choice_name(od->choices, (int)od->def, buf, sz);
    } else {
        snprintf(buf, sz, "%g", od->def);
    }
}

static void opt_range(const mg_option_desc *od, char *buf, size_t sz)
{
    if (od->type == MG_OPT_ENUM)
        snprintf(buf, sz, "%s", od->choices);
    else if (od->type == MG_OPT_NUMBER || od->type == MG_OPT_INT)
        snprintf(buf, sz, "%g..%g", od->min, od->max);
    else
        buf[0] = 0;
}

static const char *ch_rule(const mg_port_desc *p, int input)
{
    static char buf[32];
    switch (p->channels) {
    case MG_CH_MAX:
        if (p->max_channels)
            snprintf(buf, sizeof buf, "any (up to %d)", p->max_channels);
        return p->max_channels ? buf : "any";
    case MG_CH_FOLLOW: return "as input";
    case MG_CH_OPTION: return "`channels` option";
    case MG_CH_CUSTOM: return input ? "any" : "see description";
    case MG_CH_WIDEST: return "widest input";
    default: snprintf(buf, sizeof buf, "%d", p->channels); return buf;
    }
}

static void port_name(const mg_port_desc *p, char *buf, size_t sz)
{
    snprintf(buf, sz, "%s%s", p->name, (p->flags & MG_PORT_MULTI) ? "1..N" : "");
}

/* "min..max", or the names of a choice parameter */
static void param_range(const mg_param_desc *p, char *buf, size_t sz)
{
    if (p->choices)
        snprintf(buf, sz, "%s", p->choices);
    else
        snprintf(buf, sz, "%g..%g", p->min, p->max);
}

static void param_default(const mg_param_desc *p, char *buf, size_t sz)
{
    if (p->choices)
        mg_choice_name(p->choices, (int)p->def, buf, sz);
    else
        snprintf(buf, sz, "%g", p->def);
}

static void param_name(const mg_param_desc *p, char *buf, size_t sz)
{
    snprintf(buf, sz, "%s%s", p->name, (p->flags & MG_PARAM_MULTI) ? "1..N" : "");
}

static void print_node_text(const mg_node_desc *d)
{
    char a[96], b[96];
    printf("%s\n  %s\n", d->name, d->doc ? d->doc : "");
    for (int io = 0; io < 2; io++) {
        const mg_port_desc *ports = io ? d->outputs : d->inputs;
        int n = io ? d->n_outputs : d->n_inputs;
        if (!n)
            continue;
        printf("  %s:\n", io ? "outputs" : "inputs");
        for (int i = 0; i < n; i++) {
            port_name(&ports[i], a, sizeof a);
            printf("    %-12s channels: %-18s %s\n", a, ch_rule(&ports[i], !io),
                   ports[i].doc ? ports[i].doc : "");
        }
    }
    if (d->n_params) {
        printf("  parameters:\n    %-12s %-6s %-18s %-9s %-9s %s\n", "name", "unit", "range",
               "default", "smooth", "");
        for (int i = 0; i < d->n_params; i++) {
            const mg_param_desc *p = &d->params[i];
            param_name(p, a, sizeof a);
            char sm[32], def[64];
            param_range(p, b, sizeof b);
            param_default(p, def, sizeof def);
            snprintf(sm, sizeof sm, "%g ms", p->smooth_ms);
            printf("    %-12s %-6s %-18s %-9s %-9s %s\n", a, p->unit && *p->unit ? p->unit : "-",
                   b, def, sm, p->doc ? p->doc : "");
        }
    }
    if (d->n_options) {
        printf("  options (fixed at creation):\n    %-12s %-8s %-6s %-22s %-10s %s\n", "name",
               "type", "unit", "range", "default", "");
        for (int i = 0; i < d->n_options; i++) {
            const mg_option_desc *od = &d->options[i];
            opt_range(od, a, sizeof a);
            opt_default(od, b, sizeof b);
            printf("    %-12s %-8s %-6s %-22s %-10s %s\n", od->name, opt_type(od),
                   od->unit && *od->unit ? od->unit : "-", a, b, od->doc ? od->doc : "");
        }
    }
}

/* Markdown table cell text: '|' would end the cell. */
static const char *md_cell(const char *text)
{
    static char buf[4][512];
    static int k;
    char *o = buf[k = (k + 1) % 4];
    size_t j = 0;
    for (const char *p = text ? text : ""; *p && j < sizeof buf[0] - 2; p++) {
        if (*p == '|')
            o[j++] = '\\';
        o[j++] = *p;
    }
    o[j] = 0;
    return o;
}

static void print_node_md(const mg_node_desc *d)
{
    char a[96], b[96];
    printf("## `%s`\n\n%s\n\n", d->name, d->doc ? d->doc : "");
    if (d->n_inputs || d->n_outputs) {
        printf("| port | direction | channels | description |\n|---|---|---|---|\n");
        for (int io = 0; io < 2; io++) {
            const mg_port_desc *ports = io ? d->outputs : d->inputs;
            int n = io ? d->n_outputs : d->n_inputs;
            for (int i = 0; i < n; i++) {
                port_name(&ports[i], a, sizeof a);
                printf("| `%s` | %s | %s | %s |\n", a, io ? "out" : "in", ch_rule(&ports[i], !io),
                       md_cell(ports[i].doc));
            }
        }
        printf("\n");
    }
    if (d->n_params) {
        printf("| parameter | unit | range | default | smoothing | description |\n"
               "|---|---|---|---|---|---|\n");
        for (int i = 0; i < d->n_params; i++) {
            const mg_param_desc *p = &d->params[i];
            param_name(p, a, sizeof a);
            char def[64];
            param_range(p, b, sizeof b);
            param_default(p, def, sizeof def);
            printf("| `%s` | %s | %s | %s | %g ms | %s |\n", a, p->unit && *p->unit ? p->unit : "",
                   md_cell(b), def, p->smooth_ms, md_cell(p->doc));
        }
        printf("\n");
    }
    if (d->n_options) {
        printf("| option | type | unit | range | default | description |\n"
               "|---|---|---|---|---|---|\n");
        for (int i = 0; i < d->n_options; i++) {
            const mg_option_desc *od = &d->options[i];
            opt_range(od, a, sizeof a);
            opt_default(od, b, sizeof b);
            printf("| `%s` | %s | %s | %s | %s | %s |\n", od->name, opt_type(od),
                   od->unit ? od->unit : "", md_cell(a), md_cell(b), md_cell(od->doc));
        }
        printf("\n");
    }
}

static int cmd_nodes(int argc, char **argv)
{
    if (wants_help(argc, argv))
        return fputs(help_nodes, stdout), EXIT_OK;
    const char *name = NULL;
    int md = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") == 0)
            md = 1;
        else if (argv[i][0] == '-')
            die_usage("nodes ", "unknown option '%s'", argv[i]);
        else if (!name)
            name = argv[i];
        else
            die_usage("nodes ", "unexpected argument '%s'", argv[i]);
    }
    if (name) {
        const mg_node_desc *d = mg_node_type_find(name);
        if (!d) {
            fprintf(stderr, "%s: unknown node type '%s'; known:", prog, name);
            for (int i = 0; mg_node_types[i]; i++)
                fprintf(stderr, " %s", mg_node_types[i]->name);
            fputc('\n', stderr);
            return EXIT_USAGE;
        }
        md ? print_node_md(d) : print_node_text(d);
        return EXIT_OK;
    }
    if (md) {
        printf("# Node reference\n\n"
               "Generated from the node descriptors by `mixgraph nodes --markdown` (`make docs`);"
               " do not edit by hand.\n\nParameters are automatable and smoothed; options are "
               "fixed when the node is made. Both are given in the constructor table, e.g. "
               "`g:osc{ shape = \"saw\", freq = 110 }`.\n\n");
        for (int i = 0; mg_node_types[i]; i++)
            print_node_md(mg_node_types[i]);
        return EXIT_OK;
    }
    for (int i = 0; mg_node_types[i]; i++) {
        print_node_text(mg_node_types[i]);
        if (mg_node_types[i + 1])
            printf("\n");
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(help_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        const char *sub = argc > 2 ? argv[2] : NULL;
        if (!sub)
            fputs(help_main, stdout);
        else if (strcmp(sub, "render") == 0)
            fputs(help_render, stdout);
        else if (strcmp(sub, "check") == 0)
            fputs(help_check, stdout);
        else if (strcmp(sub, "play") == 0)
            fputs(help_play, stdout);
        else if (strcmp(sub, "graph") == 0)
            fputs(help_graph, stdout);
        else if (strcmp(sub, "nodes") == 0)
            fputs(help_nodes, stdout);
        else if (strcmp(sub, "analyze") == 0)
            fputs(help_analyze, stdout);
        else if (strcmp(sub, "master") == 0)
            fputs(help_master, stdout);
        else
            die_usage(NULL, "unknown command '%s'", sub);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("mixgraph %s\n", MG_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "render") == 0)
        return cmd_render(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "play") == 0)
        return cmd_play(argc - 2, argv + 2);
    if (strcmp(cmd, "graph") == 0)
        return cmd_graph(argc - 2, argv + 2);
    if (strcmp(cmd, "nodes") == 0)
        return cmd_nodes(argc - 2, argv + 2);
    if (strcmp(cmd, "analyze") == 0)
        return cmd_analyze(argc - 2, argv + 2);
    if (strcmp(cmd, "master") == 0)
        return cmd_master(argc - 2, argv + 2);
    die_usage(NULL, "unknown command '%s'", cmd);
    return EXIT_USAGE;
}
