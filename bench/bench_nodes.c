/*
** bench_nodes.c: per-node DSP throughput, in x realtime for one stereo node at 48 kHz.
**
** Each case calls a node type's own descriptor callbacks (create, prepare, reset, process) on
** a private state, without a graph around it, so the figure is the node's DSP cost alone:
** blocks of 256 frames, constant parameters, separate input and output buffers, over a 10 s
** stereo test signal that sweeps through the node's working range (a square and a sine with
** pink-ish noise under a slow 0.25 Hz swell from silence to about -6 dBFS, so a compressor
** spends time below, in and above its knee and a gate opens and closes). Best of 15 passes,
** timed in thread CPU time.
** Single-threaded, runs on the calling thread; run it pinned (taskset -c 0) for stable
** figures. Not part of `make test`.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mg_node.h"
#include "mixgraph.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { RATE = 48000, BLOCK = 256, SECONDS = 10, FRAMES = RATE * SECONDS, MAXP = 256 };

/* CPU time of this thread: time slices lost to other processes on a busy machine do not
   count (the best of several passes still filters cache and frequency noise). */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The stereo test signal (see the file comment), deterministic. */
static void make_signal(float *x[2])
{
    uint32_t s = 12345;
    double pink = 0;
    for (long i = 0; i < FRAMES; i++) {
        double t = (double)i / RATE;
        double env = 0.5 - 0.5 * cos(2 * M_PI * 0.25 * t); /* 0 .. 1, period 4 s */
        s = s * 1664525u + 1013904223u;
        pink = 0.98 * pink + 0.02 * ((double)(s >> 8) / 8388608.0 - 1.0);
        double sq = fmod(t * 110, 1.0) < 0.5 ? 1.0 : -1.0;
        x[0][i] = (float)(0.5 * env * env * (0.7 * sq + 2 * pink));
        x[1][i] = (float)(0.5 * env * (0.7 * sin(2 * M_PI * 165 * t) + 2 * pink));
    }
}

typedef struct bench_case {
    const char *label;
    const char *type;
    const mg_opt *opts;
    int n_opts;
    const char *params[12]; /* "name=value" */
} bench_case;

static const mg_opt eq1[] = {{.name = "bands", .num = 1}};
static const mg_opt eq4[] = {{.name = "bands", .num = 4}};
static const mg_opt slope24[] = {{.name = "slope", .num = 24}};
static const mg_opt look5[] = {{.name = "lookahead", .num = 5}};
static const mg_opt os1[] = {{.name = "oversample", .str = "1"}};
static const mg_opt os4[] = {{.name = "oversample", .str = "4"}};
static const mg_opt os8[] = {{.name = "oversample", .str = "8"}};
static const mg_opt bands4[] = {{.name = "bands", .num = 4}};
static const mg_opt hall8[] = {{.name = "preset", .str = "hall"}};
static const mg_opt hall16[] = {{.name = "preset", .str = "hall"}, {.name = "lines", .num = 16}};

static const bench_case cases[] = {
    {"filter highpass 80 Hz", "filter", NULL, 0, {"type=1", "freq=80"}},
    {"filter highpass 80 Hz 24 dB/oct", "filter", slope24, 1, {"type=1", "freq=80"}},
    {"filter peak 0 dB (bypassed)", "filter", NULL, 0, {"type=4", "gain=0"}},
    {"eq 1 band peak +3 dB", "eq", eq1, 1, {"type1=4", "freq1=1900", "q1=1", "gain1=3"}},
    {"eq 4 bands, all +-3 dB", "eq", eq4, 1, {"gain1=3", "gain2=-3", "gain3=3", "gain4=-3"}},
    {"compressor mix8 (T -18, R 4, 10/100 ms)", "compressor", NULL, 0,
     {"ratio=4", "threshold=-18", "attack=10", "release=100"}},
    {"compressor rms, link 50 %, mix 50 %", "compressor", NULL, 0,
     {"threshold=-24", "detector=1", "link=50", "mix=50"}},
    {"compressor quiet (T 0, never reached)", "compressor", NULL, 0, {"threshold=0"}},
    {"compressor lookahead 5 ms, key_hpf 100", "compressor", look5, 1,
     {"threshold=-24", "key_hpf=100"}},
    {"gate (T -40, range -80)", "gate", NULL, 0, {"threshold=-40"}},
    {"expander 1:2 (T -30)", "expander", NULL, 0, {"threshold=-30"}},
    {"limiter -1 dBTP, +12 dB drive", "limiter", NULL, 0, {"ceiling=-1", "gain=12"}},
    {"limiter -1 dBTP, no reduction (-12 dB in)", "limiter", NULL, 0, {"gain=-12"}},
    {"saturate tanh +12 dB, 1x", "saturate", os1, 1, {"drive=12"}},
    {"saturate tanh +12 dB, 4x", "saturate", os4, 1, {"drive=12"}},
    {"saturate tanh +12 dB, 8x", "saturate", os8, 1, {"drive=12"}},
    {"multiband 4 bands, each ratio 3 at -30 dB", "multiband", bands4, 1,
     {"ratio1=3", "ratio2=3", "ratio3=3", "ratio4=3", "threshold1=-30", "threshold2=-30",
      "threshold3=-30", "threshold4=-30"}},
    {"multiband 4 bands, neutral", "multiband", bands4, 1, {"ratio1=1"}},
    {"stereo width 1.5, bass mono 120 Hz", "stereo", NULL, 0, {"width=1.5", "bass_mono=120"}},
    {"reverb hall, 8 lines, 100 % wet", "reverb", hall8, 1, {"mix=100"}},
    {"reverb hall, 16 lines, 100 % wet", "reverb", hall16, 2, {"mix=100"}},
    {"meter (BS.1770, 4x true peak)", "meter", NULL, 0, {NULL}},
};

typedef struct runner {
    const mg_node_desc *d;
    void *state;
    int np;
    float cur[MAXP];
    mg_pval pv[MAXP];
    float zero[BLOCK];
    float out_l[BLOCK], out_r[BLOCK];
} runner;

/* One pass over the whole signal in blocks of BLOCK. */
static void pass(runner *r, float *const x[2])
{
    mg_buf in[2] = {{.channels = 2, .connected = 1}, {.channels = 1, .connected = 0}};
    mg_buf out = {.channels = 2, .ch = {r->out_l, r->out_r}};
    in[1].ch[0] = r->zero;
    for (long pos = 0; pos < FRAMES; pos += BLOCK) {
        in[0].ch[0] = x[0] + pos;
        in[0].ch[1] = x[1] + pos;
        mg_block b = {.n = BLOCK, .pos = (uint64_t)pos, .rate = RATE, .in = in, .out = &out,
                      .p = r->pv};
        r->d->process(r->state, &b);
    }
}

static double run_case(const bench_case *c, float *const x[2])
{
    mg_graph_config cfg = mg_graph_config_default();
    cfg.block = BLOCK;
    cfg.rate = RATE;
    mg_graph *g = mg_graph_new(&cfg, NULL);
    mg_node *node = mg_node_new(g, c->type, "n", c->opts, c->n_opts);
    if (!node) {
        fprintf(stderr, "%s: %s\n", c->label, mg_graph_error(g));
        exit(1);
    }
    for (int i = 0; i < 12 && c->params[i]; i++) {
        char name[64];
        double v;
        if (sscanf(c->params[i], "%63[^=]=%lf", name, &v) != 2 || mg_node_set(node, name, v)) {
            fprintf(stderr, "%s: bad parameter %s (%s)\n", c->label, c->params[i],
                    mg_graph_error(g));
            exit(1);
        }
    }
    runner *r = calloc(1, sizeof *r);
    r->d = mg_node_desc_of(node);
    r->state = calloc(1, r->d->state_size);
    if (r->d->create && r->d->create(r->state, node)) {
        fprintf(stderr, "%s: create: %s\n", c->label, mg_graph_error(g));
        exit(1);
    }
    r->np = mg_node_param_count(node);
    for (int i = 0; i < r->np; i++) {
        r->cur[i] = (float)mg_node_get_index(node, i);
        r->pv[i] = (mg_pval){.v = &r->cur[i], .constant = 1};
    }
    int in_ch[2] = {2, 1}, out_ch[1] = {2};
    mg_prepare pr = {.rate = RATE, .block = BLOCK, .in_ch = in_ch, .out_ch = out_ch};
    if (r->d->prepare && r->d->prepare(r->state, node, &pr)) {
        fprintf(stderr, "%s: prepare: %s\n", c->label, mg_graph_error(g));
        exit(1);
    }
    if (r->d->reset)
        r->d->reset(r->state);
    pass(r, x); /* warm up */
    double best = 1e30;
    for (int trial = 0; trial < 15; trial++) {
        double t0 = now();
        pass(r, x);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    if (r->d->destroy)
        r->d->destroy(r->state);
    free(r->state);
    free(r);
    mg_graph_free(g);
    return SECONDS / best;
}

int main(int argc, char **argv)
{
    float *x[2] = {malloc(FRAMES * sizeof(float)), malloc(FRAMES * sizeof(float))};
    make_signal(x);
    mg_fpu_denormals_off();
    printf("node DSP throughput: stereo, %d Hz, blocks of %d, constant parameters\n", RATE, BLOCK);
    printf("%-44s %12s %12s\n", "case", "x realtime", "ns/frame");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (argc > 1 && !strstr(cases[i].label, argv[1]))
            continue;
        double xrt = run_case(&cases[i], x);
        printf("%-44s %12.0f %12.2f\n", cases[i].label, xrt, 1e9 / (xrt * RATE));
        fflush(stdout);
    }
    free(x[0]);
    free(x[1]);
    return 0;
}
