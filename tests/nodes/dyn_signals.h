/*
** dyn_signals.h: signals and measurements shared by the node tests (dynamics, filters, delay,
** reverb): the square carrier of DSP_TESTS §6 (|x| constant, 24 samples per half period
** at 48 kHz), level schedules, sound files played through the `file` node (32-bit float WAV at
** the graph rate: bit-exact), renders with parameter changes at given frames, and the
** per-sample gain of a node. Test main thread only.
*/
#ifndef DYN_SIGNALS_H
#define DYN_SIGNALS_H

#include <dirent.h>
#include <sndfile.h>
#include <unistd.h>

#include "tmp_files.h"

#include "mg_test.h"

/* The temporary folder of tmp_files.h, named after the test. */
#define dyn_tmpdir tmpdir
static inline void dyn_tmp_open(const char *tag)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "mg_test_%s", tag);
    make_tmpdir(prefix);
}

static inline void dyn_tmp_close(void) { remove_tmpdir(); }

/* Share of energy outside f0 +- 200 Hz in a Blackman-Harris window of N frames at a, in dB. */
static inline double dyn_splatter_db(double rate, const float *y, long a, long N, double f0)
{
    double *re = calloc((size_t)N, sizeof *re), *im = calloc((size_t)N, sizeof *im);
    for (long i = 0; i < N; i++) {
        double t = 2 * M_PI * (double)i / (double)N;
        double w = 0.35875 - 0.48829 * cos(t) + 0.14128 * cos(2 * t) - 0.01168 * cos(3 * t);
        re[i] = w * y[a + i];
    }
    mg_test_fft(re, im, N);
    double in = 0, out = 0;
    for (long k = 0; k <= N / 2; k++) {
        double f = (double)k * rate / (double)N, e = re[k] * re[k] + im[k] * im[k];
        if (fabs(f - f0) <= 200)
            in += e;
        else
            out += e;
    }
    free(re);
    free(im);
    return 10 * log10(out / (in + out));
}

static inline double dyn_db(double a) { return 20 * log10(a); }
static inline double dyn_amp(double db) { return pow(10, db / 20); }

/* Naive bipolar square, +1 for the first half period: the §6 carrier. */
static inline double dyn_square(double freq, double rate, long i)
{
    long half = lrint(rate / (2 * freq));
    return (i / half) % 2 ? -1.0 : 1.0;
}

/* Mono buffer: square carrier at `freq` whose level (dBFS) is levels[k] during
   [k * seg, (k + 1) * seg) frames; -inf-like levels (< -400) are digital zero. */
static inline float *dyn_square_steps(double freq, double rate, const double *levels, int nlev,
                                      long seg)
{
    float *x = calloc((size_t)(seg * nlev), sizeof *x);
    for (int k = 0; k < nlev; k++)
        for (long i = k * seg; i < (k + 1) * seg; i++)
            x[i] = levels[k] < -400 ? 0.0f
                                    : (float)(dyn_amp(levels[k]) * dyn_square(freq, rate, i));
    return x;
}

static inline float *dyn_sine(double freq, double rate, double level, long n)
{
    float *x = calloc((size_t)n, sizeof *x);
    for (long i = 0; i < n; i++)
        x[i] = (float)(dyn_amp(level) * sin(2 * M_PI * freq * (double)i / rate));
    return x;
}

/* A `file` node playing the planar channels x[0..ch-1] (n frames each), written as a float
   WAV at `rate`. name NULL: an automatic node name. */
static inline mg_node *dyn_source(mg_graph *g, const char *name, float *const *x, int ch, long n)
{
    static int serial;
    char file[128];
    snprintf(file, sizeof file, "%s_%d.wav", name ? name : "src", serial++);
    const char *path = write_wav(file, (int)mg_graph_rate(g), ch, x, n);
    mg_opt o = {.name = "path", .str = path};
    return mg_test_node(g, "file", name, &o, 1);
}

static inline mg_node *dyn_source1(mg_graph *g, const char *name, float *x, long n)
{
    return dyn_source(g, name, &x, 1, n);
}

/* A parameter change applied before frame `at` is rendered. */
typedef struct dyn_event {
    long at;
    mg_node *node;
    const char *param;
    double value;
} dyn_event;

/*
** Render `frames` frames in blocks of `block` (<= the graph's block size), applying the events
** (sorted by frame) exactly at their frames: a block is cut short where an event falls inside
** it. Planar result as mg_test_render.
*/
static inline float **dyn_render(mg_graph *g, long frames, int block, const dyn_event *ev,
                                 int nev, int *channels)
{
    if (mg_graph_compile(g) != MG_OK) {
        fprintf(stderr, "compile: %s\n", mg_graph_error(g));
        exit(1);
    }
    int ch = mg_node_input_channels(mg_graph_output(g), 0);
    float **out = calloc((size_t)ch, sizeof *out);
    for (int c = 0; c < ch; c++)
        out[c] = calloc((size_t)frames, sizeof(float));
    int e = 0;
    for (long done = 0; done < frames;) {
        while (e < nev && ev[e].at <= done) {
            CHECK_OK(mg_node_set(ev[e].node, ev[e].param, ev[e].value), g);
            e++;
        }
        long n = frames - done < block ? frames - done : block;
        if (e < nev && ev[e].at < done + n)
            n = ev[e].at - done;
        mg_graph_service(g);
        const float *const *y = mg_graph_process(g, (int)n);
        for (int c = 0; c < ch; c++)
            memcpy(out[c] + done, y[c], (size_t)n * sizeof(float));
        done += n;
    }
    if (channels)
        *channels = ch;
    return out;
}

/* Gain in dB at output frame i of a node with latency d fed x: 20 log10 |y[i] / x[i - d]|. */
static inline double dyn_gain_at(const float *y, const float *x, long d, long i)
{
    return dyn_db(fabs((double)y[i]) / fabs((double)x[i - d]));
}

/* Mean gain (dB) over output frames [a, b). */
static inline double dyn_gain_mean(const float *y, const float *x, long d, long a, long b)
{
    double s = 0;
    for (long i = a; i < b; i++)
        s += dyn_gain_at(y, x, d, i);
    return s / (double)(b - a);
}

/*
** Time (frames after `from`, linearly interpolated) at which the gain curve g(i) =
** dyn_gain_at(...) first crosses `level` going in direction dir (+1 up, -1 down); -1 if never.
*/
static inline double dyn_crossing(const float *y, const float *x, long d, long from, long to,
                                  double level, int dir)
{
    double prev = dyn_gain_at(y, x, d, from);
    for (long i = from + 1; i < to; i++) {
        double g = dyn_gain_at(y, x, d, i);
        if ((dir > 0 && prev < level && g >= level) || (dir < 0 && prev > level && g <= level))
            return (double)(i - 1 - from) + (level - prev) / (g - prev);
        prev = g;
    }
    return -1;
}

/* A parameter setting: {name, value}; lists end with {NULL}. */
typedef struct dyn_param {
    const char *name;
    double value;
} dyn_param;

/*
** Render n frames of `type` (compressor, gate, expander) fed the planar signal x (ch channels)
** and, when key is given, the planar key (kch channels) on its `sidechain` input; parameters
** ps, option `lookahead` (ms). Events with node NULL address the dynamics node. The graph's
** output has ch channels. *latency (if given) receives the node's latency in frames.
*/
static inline float **dyn_run(const char *type, double rate, int block, float *const *x, int ch,
                              float *const *key, int kch, long n, const dyn_param *ps,
                              double lookahead, dyn_event *ev, int nev, int64_t *latency)
{
    mg_graph *g = mg_test_graph(rate, block, ch);
    mg_opt o = {.name = "lookahead", .num = lookahead};
    mg_node *dn = mg_test_node(g, type, "dyn", &o, 1);
    for (; ps && ps->name; ps++)
        CHECK_OK(mg_node_set(dn, ps->name, ps->value), g);
    CHECK_OK(mg_connect(dyn_source(g, "x", x, ch, n), 0, dn, 0), g);
    if (key)
        CHECK_OK(mg_connect(dyn_source(g, "key", key, kch, n), 0, dn,
                            mg_node_input_index(dn, "sidechain")),
                 g);
    CHECK_OK(mg_connect(dn, 0, mg_graph_output(g), 0), g);
    for (int e = 0; e < nev; e++)
        if (!ev[e].node)
            ev[e].node = dn;
    float **y = dyn_render(g, n, block, ev, nev, NULL);
    if (latency)
        *latency = mg_node_path_latency(dn);
    for (int e = 0; e < nev; e++)
        if (ev[e].node == dn)
            ev[e].node = NULL;
    mg_graph_free(g);
    return y;
}

/* Pink noise, ch independent channels of n frames (the noise node), scaled to a sample peak
   of `peak_db` dBFS over all channels. */
static inline float **dyn_pink(double rate, int ch, long n, uint64_t seed, double peak_db)
{
    mg_graph *g = mg_test_graph(rate, 256, ch);
    mg_opt o[] = {{.name = "color", .str = "pink"}, {.name = "seed", .num = (double)seed},
                  {.name = "channels", .num = ch}, {.name = "duration", .num = n / rate},
                  {.name = "attack", .num = 0}, {.name = "release", .num = 0}};
    mg_node *src = mg_test_node(g, "noise", "pink", o, 6);
    CHECK_OK(mg_connect(src, 0, mg_graph_output(g), 0), g);
    float **x = mg_test_render(g, n, NULL);
    mg_graph_free(g);
    double pk = 0;
    for (int c = 0; c < ch; c++)
        pk = fmax(pk, mg_test_peak(x[c], n));
    double k = dyn_amp(peak_db) / pk;
    for (int c = 0; c < ch; c++)
        for (long i = 0; i < n; i++)
            x[c][i] = (float)(x[c][i] * k);
    return x;
}

/*
** Render node `type` (options o[0..no-1], parameters ps) fed planar x (ch channels, n frames)
** for n + latency frames and return the output aligned with the input: y[c][i] answers input
** frame i. *latency (if given): the frames the node reported. When `meter` is given,
** *meter_value receives that meter's value after the render.
*/
static inline float **dyn_aligned(const char *type, const mg_opt *o, int no, double rate,
                                  int block, float *const *x, int ch, long n,
                                  const dyn_param *ps, int64_t *latency, const char *meter,
                                  double *meter_value)
{
    mg_graph *g = mg_test_graph(rate, block, ch);
    mg_node *dn = mg_test_node(g, type, "dut", o, no);
    for (; ps && ps->name; ps++)
        CHECK_OK(mg_node_set(dn, ps->name, ps->value), g);
    CHECK_OK(mg_connect(dyn_source(g, "x", x, ch, n), 0, dn, 0), g);
    CHECK_OK(mg_connect(dn, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_compile(g), g);
    int64_t lat = mg_node_path_latency(dn);
    float **y = dyn_render(g, n + lat, block, NULL, 0, NULL);
    for (int c = 0; c < ch; c++)
        memmove(y[c], y[c] + lat, (size_t)n * sizeof(float));
    if (latency)
        *latency = lat;
    if (meter)
        *meter_value = mg_node_meter(dn, meter);
    mg_graph_free(g);
    return y;
}

/*
** Block-size independence: render node `type` (options o, parameters ps, events ev whose node
** is NULL: the node) fed planar x with blocks of 4096, 64 and 1 frames; returns how many
** output samples of the 64 and 1 renders differ from the 4096 one (0: bit-identical).
*/
static inline long dyn_block_diff(const char *type, const mg_opt *o, int no, const dyn_param *ps,
                                  float *const *x, int ch, long n, dyn_event *ev, int nev)
{
    float **ref = NULL;
    long diff = 0;
    const int sizes[] = {4096, 64, 1};
    for (int k = 0; k < 3; k++) {
        mg_graph *g = mg_test_graph(48000, 4096, ch);
        mg_node *dn = mg_test_node(g, type, "dut", o, no);
        for (const dyn_param *q = ps; q && q->name; q++)
            CHECK_OK(mg_node_set(dn, q->name, q->value), g);
        CHECK_OK(mg_connect(dyn_source(g, "x", x, ch, n), 0, dn, 0), g);
        CHECK_OK(mg_connect(dn, 0, mg_graph_output(g), 0), g);
        for (int e = 0; e < nev; e++)
            ev[e].node = dn;
        float **y = dyn_render(g, n, sizes[k], ev, nev, NULL);
        if (!ref) {
            ref = y;
        } else {
            for (int c = 0; c < ch; c++)
                for (long i = 0; i < n; i++)
                    diff += y[c][i] != ref[c][i];
            mg_test_free_channels(y, ch);
        }
        mg_graph_free(g);
    }
    for (int e = 0; e < nev; e++)
        ev[e].node = NULL;
    mg_test_free_channels(ref, ch);
    return diff;
}

#endif
