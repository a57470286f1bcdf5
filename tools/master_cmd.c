/*
** master_cmd.c: `mixgraph master IN -o OUT --target T`: runs a mastering chain (a Lua patch,
** patches/master.lua by default) on IN and normalises its output to a loudness target under a
** true-peak ceiling in a closed loop (engine/master.c), then reports before and after.
** [control], main thread.
*/
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mg_analyze.h"
#include "mg_sndfile.h"
#include "mg_lua.h"
#include "mg_master.h"

#ifndef MG_PATCH_DIR
#define MG_PATCH_DIR "patches"
#endif
#ifndef MG_DATA_DIR
#define MG_DATA_DIR "/usr/local/share/mixgraph"
#endif

const char help_master[] =
    "usage: mixgraph master IN -o OUT --target T [options]\n"
    "\n"
    "Master IN: run it through a mastering chain (an ordinary Lua patch; default\n"
    "patches/master.lua: EQ, glue compressor, saturation, width, true-peak limiter) and bring\n"
    "the result to a loudness target under a true-peak ceiling. A closed loop measures the\n"
    "output (ITU-R BS.1770-5), sets the gain, lets the limiter take only the peaks, measures\n"
    "again and corrects until the integrated loudness is within 0.1 LU of the target and the\n"
    "true peak at or under the ceiling, or stops and says why (silent or too short input,\n"
    "more gain or more limiting than allowed). Nothing is written unless the file is on\n"
    "target (checked on the file itself).\n"
    "\n"
    "targets (LUFS / ceiling dBTP; docs/targets.md gives the sources):\n"
    "  spotify -14/-1  apple -16/-1  youtube -14/-1  amazon -14/-2  tidal -14/-1\n"
    "  deezer -15/-1  ebu -23/-1, or a number of LUFS (ceiling -1)\n"
    "\n"
    "options:\n"
    "  -o, --output OUT     output file (required); format from the extension\n"
    "  --target T           platform name or LUFS (required)\n"
    "  --ceiling DBTP       true-peak ceiling, overriding the target's\n"
    "  --chain PATCH.lua    mastering chain (default patches/master.lua); it gets the input\n"
    "                       as args.input and the ceiling as args.ceiling\n"
    "  --set KEY=VALUE      more chain arguments (repeatable)\n"
    "  --max-gr DB          most limiter gain reduction allowed, peak (default 12)\n"
    "  --peak-respecting    chains without a limiter: stop the gain where the true peak\n"
    "                       meets the ceiling and accept a quieter result (Spotify's rule)\n"
    "  --bits 16|24|32f     sample format (default 24)\n"
    "  -q, --quiet          no report\n"
    "  -v, --verbose        also list every measuring pass (gain, loudness, peak, limiting)\n"
    "\n"
    "Exit status: 0 on target, 1 when the target cannot be reached (the reason is printed;\n"
    "no file is written), 2 for usage or patch errors, 130 when interrupted.\n";

typedef struct master_args {
    const char *in, *out, *chain;
    const char *target_name;
    double target, ceiling;
    int ceiling_set, peak_respecting, quiet, verbose;
    double max_gr;
    mg_sample_format bits;
    mg_patch_arg args[256];
    int n_args;
} master_args;

static void parse(int argc, char **argv, master_args *m)
{
    const char *cmd = "master ";
    memset(m, 0, sizeof *m);
    m->target = NAN;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 ||
                    strcmp(a, "--target") == 0 || strcmp(a, "--ceiling") == 0 ||
                    strcmp(a, "--chain") == 0 || strcmp(a, "--set") == 0 ||
                    strcmp(a, "--max-gr") == 0 || strcmp(a, "--bits") == 0;
        if (takes && !v)
            die_usage(cmd, "option %s needs a value", a);
        if (takes)
            i++;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            m->out = v;
        } else if (strcmp(a, "--target") == 0) {
            const mg_target *t = mg_target_find(v);
            m->target_name = v;
            if (t) {
                m->target = t->lufs;
                if (!m->ceiling_set)
                    m->ceiling = t->ceiling_dbtp;
            } else {
                m->target = parse_num(cmd, a, v);
                if (!m->ceiling_set)
                    m->ceiling = -1.0;
            }
        } else if (strcmp(a, "--ceiling") == 0) {
            m->ceiling = parse_num(cmd, a, v);
            m->ceiling_set = 1;
        } else if (strcmp(a, "--chain") == 0) {
            m->chain = v;
        } else if (strcmp(a, "--max-gr") == 0) {
            m->max_gr = parse_num(cmd, a, v);
            if (!(m->max_gr > 0))
                die_usage(cmd, "--max-gr %s must be positive (dB)", v);
        } else if (strcmp(a, "--bits") == 0) {
            m->bits = strcmp(v, "16") == 0   ? MG_BITS_16
                      : strcmp(v, "24") == 0 ? MG_BITS_24
                      : strcmp(v, "32f") == 0 ? MG_BITS_32F
                                             : (die_usage(cmd, "--bits %s: use 16, 24 or 32f", v),
                                                MG_BITS_DEFAULT);
        } else if (strcmp(a, "--set") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v)
                die_usage(cmd, "--set %s: expected KEY=VALUE", v);
            if (m->n_args >= 250)
                die_usage(cmd, "too many --set options%s", "");
            m->args[m->n_args++] = (mg_patch_arg){strndup(v, (size_t)(eq - v)), eq + 1};
        } else if (strcmp(a, "--peak-respecting") == 0) {
            m->peak_respecting = 1;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            m->quiet = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            m->verbose = 1;
        } else if (a[0] == '-' && a[1]) {
            die_usage(cmd, "unknown option '%s'", a);
        } else if (!m->in) {
            m->in = a;
        } else {
            die_usage(cmd, "unexpected argument '%s'", a);
        }
    }
    if (!m->in)
        die_usage(cmd, "missing IN (the mix to master)%s", "");
    if (!m->out)
        die_usage(cmd, "missing -o OUT (the file to write)%s", "");
    if (isnan(m->target))
        die_usage(cmd, "missing --target (spotify, apple, youtube, amazon, tidal, deezer, ebu "
                       "or LUFS)%s", "");
    if (!(m->target >= -70 && m->target <= 0))
        die_usage(cmd, "--target %s: LUFS must lie in [-70, 0]", m->target_name);
    if (!(m->ceiling >= -20 && m->ceiling <= 0))
        die_usage(cmd, "--ceiling must lie in [-20, 0] dBTP%s", "");
}

static void row(const char *label, double before, double after, const char *unit)
{
    char b[32], a[32];
    snprintf(b, sizeof b, isfinite(before) ? "%.2f" : "-inf", before);
    snprintf(a, sizeof a, isfinite(after) ? "%.2f" : "-inf", after);
    printf("  %-20s %10s %10s  %s\n", label, b, a, unit);
}

int cmd_master(int argc, char **argv)
{
    if (wants_help(argc, argv))
        return fputs(help_master, stdout), EXIT_OK;
    master_args m;
    parse(argc, argv, &m);
    char fmtmsg[512];
    int sf_fmt;
    if (mg_format_for_path(m.out, m.bits, &sf_fmt, fmtmsg, sizeof fmtmsg))
        die_usage("master ", "%s", fmtmsg);
    /* the input's rate and channels from its header; its analysis (the report's "input"
       column) only when the report is printed, after the work */
    mg_sndfile snd;
    char err[2048];
    if (mg_sndfile_open_read(&snd, m.in, err, sizeof err)) {
        fprintf(stderr, "%s: %s: %s\n", prog, m.in, err);
        return EXIT_RUNTIME;
    }
    double in_rate = snd.info.samplerate;
    int in_channels = snd.info.channels;
    mg_sndfile_close(&snd);
    char chain[4096], ceil_s[32];
    snprintf(chain, sizeof chain, "%s", m.chain ? m.chain : MG_PATCH_DIR "/master.lua");
    if (!m.chain && access(chain, R_OK) != 0)
        snprintf(chain, sizeof chain, "%s", MG_DATA_DIR "/master.lua");
    snprintf(ceil_s, sizeof ceil_s, "%.17g", m.ceiling);
    m.args[m.n_args++] = (mg_patch_arg){"input", m.in};
    m.args[m.n_args++] = (mg_patch_arg){"ceiling", ceil_s};
    mg_graph_config cfg = mg_graph_config_default();
    cfg.rate = in_rate >= MG_RATE_MIN && in_rate <= MG_RATE_MAX ? in_rate : cfg.rate;
    cfg.channels = in_channels;
    mg_patch *p = mg_patch_run(chain, &cfg, m.args, m.n_args, err, sizeof err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USAGE;
    }
    mg_graph *g = mg_patch_graph(p);
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    mg_master_opts mo = {.target_lufs = m.target, .ceiling_dbtp = m.ceiling,
                         .max_gr_db = m.max_gr, .peak_respecting = m.peak_respecting};
    mg_render_opts ro = {.path = m.out, .bits = m.bits, .interrupt = &interrupted};
    mg_master_report rep;
    mg_status st = mg_master_render(g, &mo, &ro, &rep);
    int code = EXIT_OK;
    for (int i = 0; m.verbose && i < rep.n_log; i++)
        fprintf(stderr, "%s: pass %d: gain %+.3f dB -> %.3f LUFS, true peak %+.3f dBTP, "
                "limiting %.2f dB\n", prog, i + 1, rep.log[i].gain_db, rep.log[i].integrated,
                rep.log[i].true_peak, rep.log[i].max_gr_db);
    if (st == MG_ERR_INTERRUPTED) {
        fprintf(stderr, "%s: interrupted; %s was not written\n", prog, m.out);
        code = EXIT_INTERRUPTED;
    } else if (st) {
        mg_node *n = mg_graph_error_node(g);
        const char *origin = n ? mg_node_origin(n) : NULL;
        fprintf(stderr, "%s: %s: %s; %s was not written\n", origin ? origin : prog, m.in,
                mg_graph_error(g), m.out);
        code = st == MG_ERR_UNBOUNDED || st == MG_ERR_INVALID ? EXIT_USAGE : EXIT_RUNTIME;
    } else if (!m.quiet) {
        mg_file_analysis in;
        if (mg_analyze_file(m.in, &in, err, sizeof err)) { /* it was read: unlikely */
            memset(&in, 0, sizeof in);
            in.integrated = in.lra = in.true_peak = in.sample_peak = NAN;
        }
        printf("%s: %.2f LUFS, true peak %+.2f dBTP (target %s: %.1f LUFS, ceiling %.1f "
               "dBTP)%s\n",
               m.out, rep.after.integrated, rep.after.true_peak, m.target_name, m.target,
               m.ceiling, rep.on_target ? "" : " NOT ON TARGET");
        printf("  %-20s %10s %10s\n", "", "input", "output");
        row("integrated", in.integrated, rep.after.integrated, "LUFS");
        row("loudness range", in.lra, rep.after.lra, "LU");
        row("true peak", in.true_peak, rep.after.true_peak, "dBTP");
        row("sample peak", in.sample_peak, rep.after.sample_peak, "dBFS");
        printf("  %-20s %21.2f  dB\n", "gain applied", rep.gain_db);
        printf("  %-20s %21.2f  dB\n", "max gain reduction", rep.max_gr_db);
        printf("  %-20s %21d\n", "passes", rep.passes);
    }
    if (!st && rep.note[0])
        fprintf(stderr, "%s: note: %s\n", prog, rep.note);
    mg_patch_free(p);
    return code;
}
