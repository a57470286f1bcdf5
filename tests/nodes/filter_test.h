/*
** filter_test.h: measurement helpers shared by the filter tests (test_filter.c, test_eq.c):
** impulse responses and signals rendered through a node in a graph (sources are `file` nodes,
** see dyn_signals.h), magnitude spectra (FFT of a 65536-sample IR) and single-frequency DTFTs,
** float64 references built from mg_biquad_design, and a driver that calls a node type's own
** descriptor callbacks with per-frame parameter values chosen by the test (exact sweeps).
** Test main thread only.
*/
#ifndef FILTER_TEST_H
#define FILTER_TEST_H

#include "dyn_signals.h"
#include "mg_filter.h"

#define FT_RATE 48000.0
#define FT_NIR 65536L
#define FT_Q_BW 0.70710678118654752 /* 1/sqrt(2): Butterworth Q, shelf slope S = 1 */
/* Below this reference level a float32 IR's rounding noise (about -140 dB) makes the measured
   spectrum inaccurate by more than 0.01 dB, so spectra are compared only above it. */
#define FT_FLOOR_DB (-80.0)

static inline mg_opt ft_num(const char *name, double v) { return (mg_opt){.name = name, .num = v}; }
static inline mg_opt ft_str(const char *name, const char *s) { return (mg_opt){.name = name, .str = s}; }

/* Deterministic white noise, uniform in [-amp, amp). */
static inline float *ft_noise(long n, unsigned seed, double amp)
{
    float *x = malloc((size_t)n * sizeof *x);
    uint32_t s = seed * 2654435761u + 1;
    for (long i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(amp * ((double)(s >> 8) / 8388608.0 - 1.0));
    }
    return x;
}

/*
** Render n frames of the ch-channel planar signal x through one node of `type` (options o,
** parameters ps set before the first frame; events as dyn_render, node NULL meaning this one)
** in blocks of `block`. Returns the planar output (free with mg_test_free_channels(y, ch)).
*/
static inline float **ft_render(const char *type, const mg_opt *o, int no, const dyn_param *ps,
                                float *const *x, int ch, long n, int block, dyn_event *ev,
                                int nev)
{
    mg_graph *g = mg_test_graph(FT_RATE, block, ch);
    mg_node *f = mg_test_node(g, type, "f", o, no);
    for (; ps && ps->name; ps++)
        CHECK_OK(mg_node_set(f, ps->name, ps->value), g);
    CHECK_OK(mg_connect(dyn_source(g, "x", x, ch, n), 0, f, 0), g);
    CHECK_OK(mg_connect(f, 0, mg_graph_output(g), 0), g);
    for (int e = 0; e < nev; e++)
        if (!ev[e].node)
            ev[e].node = f;
    float **y = dyn_render(g, n, block, ev, nev, NULL);
    for (int e = 0; e < nev; e++)
        if (ev[e].node == f)
            ev[e].node = NULL;
    mg_graph_free(g);
    return y;
}

/* Impulse response (FT_NIR frames, mono) of a node; caller frees. */
static inline float *ft_ir(const char *type, const mg_opt *o, int no, const dyn_param *ps)
{
    float *x = calloc(FT_NIR, sizeof *x);
    x[0] = 1;
    float **y = ft_render(type, o, no, ps, &x, 1, FT_NIR, 256, NULL, 0);
    float *h = y[0];
    free(y);
    free(x);
    return h;
}

/* Magnitude in dB of the n-point FFT of h at bins 0..n/2 (db has n/2 + 1 entries). */
static inline void ft_spectrum_db(const float *h, long n, double *db)
{
    double *re = calloc((size_t)n, sizeof *re), *im = calloc((size_t)n, sizeof *im);
    for (long i = 0; i < n; i++)
        re[i] = h[i];
    mg_test_fft(re, im, n);
    for (long k = 0; k <= n / 2; k++)
        db[k] = 10 * log10(re[k] * re[k] + im[k] * im[k] + 1e-300);
    free(re);
    free(im);
}

/* DTFT of h at f Hz: magnitude in dB, phase in degrees through *phase (if given). */
static inline double ft_dtft_db(const float *h, long n, double f, double *phase)
{
    double re = 0, im = 0, w = 2 * M_PI * f / FT_RATE;
    for (long i = 0; i < n; i++) {
        re += h[i] * cos(w * (double)i);
        im -= h[i] * sin(w * (double)i);
    }
    if (phase)
        *phase = atan2(im, re) * 180 / M_PI;
    return 10 * log10(re * re + im * im + 1e-300);
}

/* RBJ's bandwidth (octaves) to Q at f, written out independently of the nodes. */
static inline double ft_q_of_bw(double bw, double f)
{
    double w0 = 2 * M_PI * f / FT_RATE;
    return 1 / (2 * sinh(log(2.0) / 2 * bw * w0 / sin(w0)));
}

/* A float64 reference: a cascade of biquads (RBJ designs) whose dB responses add. */
typedef struct ft_ref {
    int n;
    mg_biquad s[32 * MG_FILTER_MAX_SECTIONS]; /* up to 32 bands of 4 sections */
} ft_ref;

static inline void ft_ref_add(ft_ref *r, mg_biquad c) { r->s[r->n++] = c; }

static inline double ft_ref_db(const ft_ref *r, double f)
{
    double db = 0;
    for (int i = 0; i < r->n; i++)
        db += mg_biquad_mag_db(&r->s[i], f, FT_RATE);
    return db;
}

/*
** Largest |measured - reference| (dB) over FFT bins in [lo, hi] Hz where the reference is above
** FT_FLOOR_DB; *at (if given) receives the frequency of the worst bin.
*/
static inline double ft_max_err(const double *db, long n, const ft_ref *r, double lo, double hi,
                                double *at)
{
    double worst = 0;
    for (long k = 1; k <= n / 2; k++) {
        double f = (double)k * FT_RATE / (double)n;
        if (f < lo || f > hi)
            continue;
        double ref = ft_ref_db(r, f);
        if (ref < FT_FLOOR_DB)
            continue;
        double e = fabs(db[k] - ref);
        if (e > worst) {
            worst = e;
            if (at)
                *at = f;
        }
    }
    return worst;
}

/*
** Block-size independence: stereo noise (n frames, seeds 1 and 2) through a node of `type` with
** the same events at blocks of 1, 64 and 4096 frames; the outputs must agree bit for bit.
** Events should fall on multiples of 4096 so that every block size can honour them.
*/
static inline void ft_check_blocks(const char *type, const mg_opt *o, int no,
                                   const dyn_param *ps, dyn_event *ev, int nev, long n)
{
    float *x[2] = {ft_noise(n, 1, 0.5), ft_noise(n, 2, 0.5)};
    int blocks[] = {1, 64, 4096};
    float **ref = ft_render(type, o, no, ps, x, 2, n, blocks[0], ev, nev);
    for (int b = 1; b < 3; b++) {
        float **y = ft_render(type, o, no, ps, x, 2, n, blocks[b], ev, nev);
        int same = memcmp(ref[0], y[0], (size_t)n * sizeof(float)) == 0 &&
                   memcmp(ref[1], y[1], (size_t)n * sizeof(float)) == 0;
        char what[96];
        snprintf(what, sizeof what, "%s: block %d identical to block 1", type, blocks[b]);
        mg_test_report(what, same, "(1 = yes)");
        CHECK(same, "%s output differs between block sizes 1 and %d", type, blocks[b]);
        mg_test_free_channels(y, 2);
    }
    mg_test_free_channels(ref, 2);
    free(x[0]);
    free(x[1]);
}

/*
** A node type's own callbacks driven directly: create on a private state (options from a
** throwaway graph node), then process with per-frame parameter values supplied by the test.
*/
typedef struct ft_direct {
    mg_graph *g;
    mg_node *node;
    const mg_node_desc *d;
    void *state;
    int np;
    float cur[256]; /* constant value of each parameter */
} ft_direct;

static inline void ft_direct_open(ft_direct *t, const char *type, const mg_opt *o, int no,
                                  const dyn_param *ps)
{
    t->g = mg_test_graph(FT_RATE, 64, 1);
    t->node = mg_test_node(t->g, type, "f", o, no);
    t->d = mg_node_desc_of(t->node);
    t->state = calloc(1, t->d->state_size);
    CHECK_OK(t->d->create(t->state, t->node), t->g);
    for (; ps && ps->name; ps++)
        CHECK_OK(mg_node_set(t->node, ps->name, ps->value), t->g);
    t->np = mg_node_param_count(t->node);
    for (int i = 0; i < t->np; i++)
        t->cur[i] = (float)mg_node_get_index(t->node, i);
    if (t->d->reset)
        t->d->reset(t->state);
}

static inline void ft_direct_close(ft_direct *t)
{
    if (t->d->destroy)
        t->d->destroy(t->state);
    free(t->state);
    mg_graph_free(t->g);
}

/*
** Process n frames of x (ch channels) into y in blocks of `block`. traj[i] (when traj and
** traj[i] are non-NULL) gives parameter i per frame; the others hold t->cur[i].
*/
static inline void ft_direct_run(ft_direct *t, float *const *x, float *const *y, int ch, long n,
                                 int block, const float *const *traj)
{
    mg_pval pv[256];
    for (long pos = 0; pos < n; pos += block) {
        uint32_t m = (uint32_t)(n - pos < block ? n - pos : block);
        mg_buf in = {.channels = ch, .connected = 1}, out = {.channels = ch};
        for (int c = 0; c < ch; c++) {
            in.ch[c] = (float *)x[c] + pos;
            out.ch[c] = y[c] + pos;
        }
        for (int i = 0; i < t->np; i++) {
            int ramp = traj && traj[i];
            pv[i] = (mg_pval){.v = ramp ? traj[i] + pos : &t->cur[i], .constant = !ramp};
        }
        mg_block b = {.n = m, .pos = (uint64_t)pos, .rate = FT_RATE, .in = &in, .out = &out,
                      .p = pv};
        t->d->process(t->state, &b);
    }
}

#endif
