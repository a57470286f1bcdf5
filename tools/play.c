/*
** play.c: `mixgraph play`, a patch played live on an audio device, with a Lua prompt (--repl)
** and reload on save (--watch). [control]: the main thread owns the Lua state and the graph;
** the live engine (engine/mg_live.h) runs the audio and disk threads.
**
** Every edit (a REPL line, a reload, a fade being collected) happens with the live lock held
** and ends with a compile, which hands the new plan to the audio thread.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mg_audio.h"
#include "mg_live.h"

const char *const help_play =
    "usage: mixgraph play PATCH.lua [options]\n"
    "\n"
    "Play a patch live on an audio device. Without --duration it plays until the patch ends\n"
    "(or forever, for live input and endless sources) or until Ctrl-C.\n"
    "\n"
    "options:\n"
    "  --device D          output device: a number or part of a name from --list-devices\n"
    "                      (default: the system default; JACK when a JACK server runs)\n"
    "  --list-devices      list audio devices and host APIs, then exit\n"
    "  --rate HZ           sample rate (default: the patch's, 48000)\n"
    "  --block N           frames per processing block (default 256)\n"
    "  --latency MS        suggested device latency (default: the device's low latency)\n"
    "  --duration S        stop after S seconds\n"
    "  --set KEY=VALUE     pass a value to the patch (args.KEY); repeatable\n"
    "  --repl              a Lua prompt on the running graph (g): set parameters, add,\n"
    "                      remove and connect nodes; ':stats' shows the meters, ':q' quits\n"
    "  --watch             reload PATCH.lua when it changes; nodes with the same name,\n"
    "                      type and options keep their state, changed connections\n"
    "                      crossfade; a patch with an error keeps the old graph playing\n"
    "  --xfade MS          crossfade time of edited connections (default 5)\n"
    "  -q, --quiet         no meter display and no summary\n"
    "\n"
    "The display shows, per channel, the output peak (dBFS) / momentary loudness (LUFS),\n"
    "then the momentary loudness of the mix, DSP load,\n"
    "xruns (device under/overruns), late callbacks (processing took longer than a period)\n"
    "and underruns (file sources starved of data). With no audio device the error names the\n"
    "host APIs tried.\n"
    "\n"
    "Exit status: 0 played (also when stopped with Ctrl-C), 1 device error, 2 usage or patch\n"
    "error.\n";

typedef struct play_opts {
    const char *device;
    double latency, xfade;
    int list, repl, watch;
} play_opts;

/* Take play's own options out of argv; the rest go to parse_patch_opts. */
static int split_opts(int argc, char **argv, play_opts *po, char **rest)
{
    int n = 0;
    po->xfade = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--device") == 0 || strcmp(a, "--latency") == 0 ||
            strcmp(a, "--xfade") == 0) {
            if (!v)
                die_usage("play ", "option %s needs a value", a);
            i++;
            if (a[2] == 'd')
                po->device = v;
            else if (a[2] == 'l')
                po->latency = parse_num("play ", a, v) / 1000.0;
            else
                po->xfade = parse_num("play ", a, v) / 1000.0;
            if (po->latency < 0 || po->latency > 2 || po->xfade > 1000)
                die_usage("play ", "%s out of range", a);
        } else if (strcmp(a, "--list-devices") == 0) {
            po->list = 1;
        } else if (strcmp(a, "--repl") == 0) {
            po->repl = 1;
        } else if (strcmp(a, "--watch") == 0) {
            po->watch = 1;
        } else {
            rest[n++] = argv[i];
        }
    }
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&ts, NULL);
}

static void print_stats_line(FILE *f, const mg_live_stats *s, double rate, int cr)
{
    char t[32];
    fmt_time((double)s->frames / rate, t, sizeof t);
    fprintf(f, "%s%s ", cr ? "\r" : "", t);
    /* per channel: sample peak (dBFS) / momentary loudness (LUFS); then the whole mix */
    for (int k = 0; k < s->channels && k < 8; k++)
        fprintf(f, "%c %5.1f/%5.1f  ", s->channels == 2 ? "LR"[k] : '1' + k,
                fmax(s->peak_db[k], -99.9), fmax(s->momentary_ch[k], -99.9));
    fprintf(f, "M %5.1f LUFS", fmax(s->momentary, -99.9));
    fprintf(f, "  DSP %4.1f%% (max %4.1f%%)  xruns %llu  late %llu  underruns %llu ",
            100 * s->load_mean, 100 * s->load_max, (unsigned long long)s->xruns,
            (unsigned long long)s->late, (unsigned long long)s->underruns);
    if (!cr)
        fputc('\n', f);
}

/* What --watch compares: modification time (ns) and size; ok = 0 when stat failed. */
typedef struct file_sig {
    long long sec, nsec, size;
    int ok;
} file_sig;

typedef struct player {
    play_opts po;
    patch_opts o;
    mg_patch *patch;
    mg_live *lv;
    file_sig loaded;  /* the patch file as last run */
    file_sig seen;    /* as the previous poll saw it */
} player;

/* [control] Compile what the edits changed; report a compile error. */
static void commit(player *pl)
{
    mg_graph *g = mg_patch_graph(pl->patch);
    if (mg_graph_compile(g))
        print_graph_error(g);
}

static void do_repl_line(player *pl, char *line)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = 0;
    if (!len)
        return;
    if (strcmp(line, ":stats") == 0) {
        mg_live_stats s = mg_live_stats_take(pl->lv);
        print_stats_line(stdout, &s, mg_graph_rate(mg_patch_graph(pl->patch)), 0);
        return;
    }
    char out[4096];
    mg_live_lock(pl->lv);
    int bad = mg_patch_eval(pl->patch, line, "=repl", out, sizeof out);
    commit(pl);
    mg_live_unlock(pl->lv);
    if (bad)
        fprintf(stderr, "%s\n", out);
    else if (out[0])
        printf("%s\n", out);
    fflush(stdout);
}

static file_sig file_sig_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return (file_sig){0};
    return (file_sig){st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)st.st_size, 1};
}

static int file_sig_same(file_sig a, file_sig b)
{
    return a.ok == b.ok && a.sec == b.sec && a.nsec == b.nsec && a.size == b.size;
}

/*
** [control] 1 when the patch file differs from the version last run and has settled: two
** polls in a row saw it alike. An editor that truncates the file and then writes it would
** otherwise be caught in between, and a half-written patch (or an empty one, which is valid
** Lua) would replace the playing graph.
*/
static int file_settled(player *pl)
{
    file_sig now = file_sig_of(pl->o.patch);
    int settled = now.ok && file_sig_same(now, pl->seen) && !file_sig_same(now, pl->loaded);
    pl->seen = now;
    if (settled)
        pl->loaded = now;
    return settled;
}

/* [control] Run the patch again into a fresh graph and move the playing one to its shape. */
static void reload(player *pl)
{
    char err[2048];
    mg_graph *g = mg_patch_graph(pl->patch);
    mg_graph_config cfg = pl->o.cfg;
    cfg.rate = mg_graph_rate(g);
    cfg.block = mg_graph_block(g);
    mg_patch *np = mg_patch_run(pl->o.patch, &cfg, pl->o.args, pl->o.n_args, err, sizeof err);
    if (!np) {
        fprintf(stderr, "%s\n%s: reload failed; the old graph keeps playing\n", err, prog);
        return;
    }
    mg_graph *ng = mg_patch_graph(np);
    if (mg_graph_compile(ng)) {
        print_graph_error(ng);
        fprintf(stderr, "%s: reload failed; the old graph keeps playing\n", prog);
        mg_patch_free(np);
        return;
    }
    int changed = 0;
    mg_live_lock(pl->lv);
    mg_status st = mg_graph_update(g, ng, &changed);
    mg_patch_sync(pl->patch);
    if (st)
        print_graph_error(g);
    commit(pl);
    mg_live_unlock(pl->lv);
    mg_patch_free(np);
    if (!pl->o.quiet)
        fprintf(stderr, "%s: reloaded %s (%d change%s)\n", prog, pl->o.patch, changed,
                changed == 1 ? "" : "s");
}

/* [control] Automation functions and scheduled edits (g:at) ahead of the audio (AHEAD
   seconds), sent stamped with their samples. A failing one is reported once (patch.lua:LINE:
   message); automation then stops where it is while the audio goes on. */
#define AHEAD 0.25
static int advance(player *pl)
{
    mg_graph *g = mg_patch_graph(pl->patch);
    mg_live_lock(pl->lv);
    uint64_t until = mg_live_position(pl->lv) + (uint64_t)llround(AHEAD * mg_graph_rate(g));
    mg_status st = mg_graph_run_at(g, until);
    if (!st)
        st = mg_live_advance(pl->lv, AHEAD);
    mg_live_unlock(pl->lv);
    if (st) {
        print_graph_error(g);
        fprintf(stderr, "%s: automation stopped; the audio plays on\n", prog);
    }
    return st == MG_OK;
}

int cmd_play(int argc, char **argv)
{
    if (wants_help(argc, argv))
        return fputs(help_play, stdout), EXIT_OK;
    player pl = {0};
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = split_opts(argc, argv, &pl.po, rest);
    char err[1024];
    if (pl.po.list) {
        free(rest);
        return mg_audio_list(stdout, err, sizeof err) < 0 ? (fprintf(stderr, "%s\n", err),
                                                             EXIT_RUNTIME)
                                                          : EXIT_OK;
    }
    parse_patch_opts("play ", nrest, rest, &pl.o, 0);
    free(rest);
    if (!pl.o.block_set)
        pl.o.cfg.block = MG_BLOCK_LIVE;
    if (pl.o.bits)
        die_usage("play ", "--bits is for render%s", "");
    pl.patch = load_patch(&pl.o);
    mg_graph *g = mg_patch_graph(pl.patch);
    if (pl.po.xfade >= 0)
        mg_graph_set_xfade(g, pl.po.xfade);
    double rate = mg_graph_rate(g);
    pl.loaded = pl.seen = file_sig_of(pl.o.patch);

    /* how long: --duration, the patch's g.duration, its length, or until Ctrl-C */
    double dur = pl.o.duration > 0 ? pl.o.duration : mg_patch_duration(pl.patch);
    uint64_t total = UINT64_MAX;
    if (dur > 0) {
        total = (uint64_t)llround(dur * rate);
    } else {
        int64_t len = mg_graph_length(g);
        if (len >= 0 && len != MG_FOREVER_FRAMES && !pl.po.repl && !pl.po.watch)
            total = (uint64_t)(len + mg_graph_latency(g));
    }

    int out_ch = mg_node_output_channels(mg_graph_output(g), 0);
    mg_live_config lc = {.in_channels = mg_graph_input_channels(g), .out_channels = out_ch,
                         .disk_thread = 1};
    mg_status st;
    pl.lv = mg_live_new(g, &lc, &st);
    if (!pl.lv) {
        print_graph_error(g);
        mg_patch_free(pl.patch);
        return EXIT_RUNTIME;
    }
    /* automation functions: the first values before the audio starts, then ahead of it */
    int gen_ok = advance(&pl);
    mg_audio_opts ao = {.device = pl.po.device, .latency = pl.po.latency,
                        .in_channels = lc.in_channels, .out_channels = out_ch};
    mg_audio *dev = NULL;
    if (mg_audio_open(pl.lv, &ao, &dev, err, sizeof err) ||
        mg_audio_start(dev, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        mg_audio_close(dev);
        mg_live_free(pl.lv);
        mg_patch_free(pl.patch);
        return EXIT_RUNTIME;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int tty = isatty(2) && !pl.o.quiet && !(getenv("CI") && strcmp(getenv("CI"), "true") == 0);
    int display = tty && !pl.po.repl;
    if (!pl.o.quiet)
        fprintf(stderr, "%s: playing %s on %s (%g Hz, block %d, %d out, %d in, latency %.1f ms)"
                "%s\n", prog, pl.o.patch, mg_audio_device_name(dev), rate, mg_graph_block(g),
                out_ch, lc.in_channels, 1000 * mg_audio_latency(dev),
                pl.po.repl ? "; Lua prompt: g is the graph, :q quits" : "");
    if (pl.po.repl && isatty(0)) {
        fputs("> ", stdout);
        fflush(stdout);
    }
    int stdin_open = pl.po.repl;
    double next_watch = now_s(), next_show = now_s();
    mg_live_stats s = {0};
    while (!interrupted) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        int ready = stdin_open ? poll(&pfd, 1, 20) : (sleep_s(0.02), 0);
        if (ready > 0) {
            char line[4096];
            if (!fgets(line, sizeof line, stdin)) {
                stdin_open = 0;
                if (isatty(0))
                    break; /* Ctrl-D */
            } else if (strcmp(line, ":q\n") == 0 || strcmp(line, ":quit\n") == 0) {
                break;
            } else {
                do_repl_line(&pl, line);
                if (isatty(0)) {
                    fputs("> ", stdout);
                    fflush(stdout);
                }
            }
        }
        mg_live_poll(pl.lv);
        mg_live_lock(pl.lv);
        if (mg_graph_collect(g))
            commit(&pl);
        mg_live_unlock(pl.lv);
        if (gen_ok)
            gen_ok = advance(&pl);
        double t = now_s();
        if (pl.po.watch && t >= next_watch) {
            next_watch = t + 0.1;
            if (file_settled(&pl))
                reload(&pl);
        }
        if (display && t >= next_show) {
            next_show = t + 0.1;
            s = mg_live_stats_take(pl.lv);
            print_stats_line(stderr, &s, rate, 1);
            fflush(stderr);
        }
        if (total != UINT64_MAX && mg_live_position(pl.lv) >= total)
            break;
    }
    if (total != UINT64_MAX && !interrupted)
        sleep_s(mg_audio_latency(dev) + 2.0 * mg_graph_block(g) / rate); /* let it drain */
    mg_audio_close(dev);
    mg_live_poll(pl.lv);
    s = mg_live_stats_take(pl.lv);
    if (display)
        fputc('\n', stderr);
    if (!pl.o.quiet)
        fprintf(stderr, "%s: played %.2f s; DSP load mean %.1f%% p99.9 %.0f%% max %.1f%% "
                "(longest callback %.2f ms, its CPU time at most %.2f ms); xruns %llu; late "
                "callbacks %llu; underruns %llu; edits %llu\n", prog, (double)s.frames / rate,
                100 * s.load_mean, 100 * s.load_p999, 100 * s.load_max_all, s.cb_max_all_ms,
                s.cpu_max_all_ms,
                (unsigned long long)s.xruns, (unsigned long long)s.late,
                (unsigned long long)s.underruns, (unsigned long long)s.plans);
    if (s.nonfinite)
        fprintf(stderr, "%s: warning: %llu non-finite samples (NaN/Inf) were silenced\n", prog,
                (unsigned long long)s.nonfinite);
    mg_live_free(pl.lv);
    mg_patch_free(pl.patch);
    return EXIT_OK;
}
