/*
** test_convolver.c: the `convolver` node against DSP_TESTS.md §10.3: identity (CR-1), exact
** delay and zero reported latency (CR-2), accuracy against a float64 FFT convolution of a 10 s
** IR (CR-3), block-size independence with a parameter ramp (CR-4), an IR at 44.1 kHz in a
** 48 kHz graph keeping its T30 and octave-band spectrum (CR-5), energy and peak normalisation
** (CR-6), and the crossfaded IR change of mg_convolver.h (CR-7); plus the channel rules, the
** render length (tail) and error messages.
**
** Impulse responses (and, where needed, an input impulse) are written with libsndfile to a
** temporary directory under /tmp that is removed at the end. Input noise comes from the `noise`
** node. Runs on the test's main thread.
*/
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#include <sndfile.h>
#include <stdint.h>
#include <unistd.h>

#include "mg_convolver.h"
#include "mg_test.h"
#include "tmp_files.h"

#define RATE 48000.0

static mg_opt num(const char *name, double v)
{
    return (mg_opt){.name = name, .num = v};
}
static mg_opt str(const char *name, const char *s)
{
    return (mg_opt){.name = name, .str = s};
}
static double db(double x)
{
    return 20 * log10(x);
}

/* Gaussian noise from SplitMix64 + Box-Muller: reproducible from the seed. */
static uint64_t rng_state;
static double uniform01(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static double gauss(void)
{
    return sqrt(-2 * log(uniform01())) * cos(2 * M_PI * uniform01());
}

/* Exponentially decaying Gaussian noise: amplitude amp * 10^(-3 t / t60) (60 dB in t60). */
static float *decay_noise(long n, double rate, double t60, uint64_t seed, double amp)
{
    float *h = malloc((size_t)n * sizeof *h);
    rng_state = seed;
    for (long i = 0; i < n; i++)
        h[i] = (float)(amp * gauss() * pow(10, -3.0 * (double)i / (rate * t60)));
    return h;
}

static mg_node *pink(mg_graph *g, const char *name, uint64_t seed, double dur, int ch)
{
    return mg_test_node(g, "noise", name,
                        (mg_opt[]){str("color", "pink"), num("seed", (double)seed),
                                   num("channels", ch), num("duration", dur), num("attack", 0),
                                   num("release", 0)},
                        6);
}

static mg_node *convolver(mg_graph *g, const char *path, const char *normalize)
{
    mg_opt o[] = {str("path", path), str("normalize", normalize ? normalize : "none")};
    return mg_test_node(g, "convolver", "conv", o, 2);
}

/* src -> output, rendered: the input a convolver sees in the matching graph. */
static float **render_noise(int ch_out, uint64_t seed, double dur, int ch, long frames)
{
    mg_graph *g = mg_test_graph(RATE, 256, ch_out);
    CHECK_OK(mg_connect(pink(g, "x", seed, dur, ch), 0, mg_graph_output(g), 0), g);
    float **x = mg_test_render(g, frames, NULL);
    mg_graph_free(g);
    return x;
}

/* A small error as a level: 20 log10 err, or -400 for an exact 0. */
static void report_err(const char *what, double err)
{
    mg_test_report(what, err > 0 ? db(err) : -400, "dB (-400: exact)");
}

static double max_diff(const float *a, const float *b, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > m)
            m = fabs((double)a[i] - b[i]);
    return m;
}

/* ---- CR-1: unit impulse = identity ---- */
static void test_identity(void)
{
    const long L = 4800, n = 48000;
    float *h = calloc(L, sizeof *h);
    h[0] = 1;
    const char *path = write_mono("cr1.wav", 48000, h, L);
    mg_graph *g = mg_test_graph(RATE, 256, 1);
    mg_node *src = pink(g, "x", 11, 0.8, 1), *cv = convolver(g, path, NULL);
    CHECK_OK(mg_connect(src, 0, cv, 0), g);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    float **x = render_noise(1, 11, 0.8, 1, n);
    double err = max_diff(y[0], x[0], n);
    report_err("CR-1: max |y - x|, IR = unit impulse (0.1 s file)", err);
    CHECK(err <= 1e-6, "CR-1: output = input within 1e-6 (max err %g)", err);
    CHECK(mg_test_rms(x[0], n) > 0.1, "CR-1: the input is not silent");
    mg_test_free_channels(y, 1);
    mg_test_free_channels(x, 1);
    mg_graph_free(g);
    free(h);
}

/* ---- CR-2: impulse at 1000 = delay by 1000 + reported latency; length = input + tail ---- */
static void test_delay(void)
{
    const long L = 2000, n = 48000;
    float *h = calloc(L, sizeof *h);
    h[1000] = 1;
    const char *path = write_mono("cr2.wav", 48000, h, L);
    mg_graph *g = mg_test_graph(RATE, 100, 1);
    mg_node *src = pink(g, "x", 12, 0.5, 1), *cv = convolver(g, path, NULL);
    CHECK_OK(mg_connect(src, 0, cv, 0), g);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    int64_t lat = mg_node_path_latency(cv) - mg_node_path_latency(src);
    mg_test_report("CR-2: reported latency", (double)lat, "frames");
    CHECK(lat == 0, "CR-2: zero latency reported (got %lld)", (long long)lat);
    float **x = render_noise(1, 12, 0.5, 1, n);
    long d = 1000 + (long)lat;
    double err = 0, head = mg_test_peak(y[0], d);
    for (long i = 0; i < n; i++) /* y = 0 before d: FFT round-off only */
        err = fmax(err, fabs(y[0][i] - (i >= d ? x[0][i - d] : 0.0f)));
    report_err("CR-2: max |y[n] - x[n - 1000 - latency]|", err);
    report_err("CR-2: peak of y before frame 1000 (FFT round-off)", head);
    CHECK(err <= 1e-6, "CR-2: exact delay of 1000 (err %g, leading peak %g)", err, head);
    int64_t len = mg_graph_length(g);
    mg_test_report("CR-2: render length (input 24000 + tail 2000)", (double)len, "frames");
    CHECK(len == 24000 + L, "CR-2: render length %lld, expected %ld", (long long)len, 24000 + L);
    mg_test_free_channels(y, 1);
    /* a new rate prepares again: the IR is resampled (2000 frames at 48 kHz -> 4000) */
    CHECK_OK(mg_graph_set_rate(g, 96000), g);
    len = mg_graph_length(g);
    CHECK(len == 48000 + 2 * L, "CR-2 at 96 kHz: render length %lld, expected %ld", (long long)len,
          48000 + 2 * L);
    mg_graph_reset(g);
    y = mg_test_render(g, 8000, NULL);
    double early = mg_test_peak(y[0], 1900), late = mg_test_peak(y[0] + 2000, 6000);
    mg_graph_reset(g);
    float **y2 = mg_test_render(g, 8000, NULL);
    double again = max_diff(y[0], y2[0], 8000);
    CHECK(early < 0.01 * late && late > 0.01 && again == 0,
          "CR-2 at 96 kHz: output starts at frame 2000 (peak before %g, after %g); a reset "
          "replays it exactly (diff %g)",
          early, late, again);
    mg_test_free_channels(y2, 1);
    mg_test_free_channels(y, 1);
    mg_test_free_channels(x, 1);
    mg_graph_free(g);
    free(h);
}

/* float64 linear convolution of x (nx) with h (nh) by one FFT of size >= nx + nh - 1. */
static double *fft_convolve(const float *x, long nx, const float *h, long nh)
{
    long N = 1;
    while (N < nx + nh - 1)
        N *= 2;
    double *ar = calloc((size_t)N, sizeof(double)), *ai = calloc((size_t)N, sizeof(double));
    for (long i = 0; i < nx; i++)
        ar[i] = x[i];
    for (long i = 0; i < nh; i++)
        ai[i] = h[i];
    mg_test_fft(ar, ai, N); /* Z = X + jH for real x, h */
    double *pr = malloc((size_t)N * sizeof(double)), *pi = malloc((size_t)N * sizeof(double));
    for (long k = 0; k < N; k++) {
        long m = (N - k) % N;
        /* X = (Z[k] + conj Z[N-k]) / 2, H = (Z[k] - conj Z[N-k]) / 2j */
        double xr = 0.5 * (ar[k] + ar[m]), xi = 0.5 * (ai[k] - ai[m]);
        double hr = 0.5 * (ai[k] + ai[m]), hi = -0.5 * (ar[k] - ar[m]);
        pr[k] = xr * hr - xi * hi;
        pi[k] = -(xr * hi + xi * hr); /* conjugate: inverse by a forward transform */
    }
    mg_test_fft(pr, pi, N);
    double *y = malloc((size_t)(nx + nh - 1) * sizeof(double));
    for (long i = 0; i < nx + nh - 1; i++)
        y[i] = pr[i] / (double)N;
    free(ar);
    free(ai);
    free(pr);
    free(pi);
    return y;
}

/* ---- CR-3: 10 s exponential-noise IR (T60 3 s), 5 s pink noise, vs float64 ---- */
static void test_accuracy(void)
{
    const long nh = 480000, nx = 240000, n = nx + nh - 1;
    float *h = decay_noise(nh, RATE, 3.0, 3, 0.05);
    const char *path = write_mono("cr3.wav", 48000, h, nh);
    mg_graph *g = mg_test_graph(RATE, 512, 1);
    mg_node *cv = convolver(g, path, NULL);
    CHECK_OK(mg_connect(pink(g, "x", 13, 5.0, 1), 0, cv, 0), g);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    float **x = render_noise(1, 13, 5.0, 1, nx);
    double *ref = fft_convolve(x[0], nx, h, nh);
    double e = 0, s = 0;
    for (long i = 0; i < n; i++) {
        e += (y[0][i] - ref[i]) * (y[0][i] - ref[i]);
        s += ref[i] * ref[i];
    }
    double rel = 10 * log10(e / s);
    mg_test_report("CR-3: error energy re output, 10 s IR, 5 s pink noise", rel, "dB");
    CHECK(rel <= -100, "CR-3: error energy %.1f dB re output, expected <= -100 dB", rel);
    mg_test_free_channels(y, 1);
    mg_test_free_channels(x, 1);
    free(ref);
    free(h);
    mg_graph_free(g);
}

/*
** Mono pink noise through a stereo IR (0.6 s, so every level down to 16384-frame partitions
** runs), rendered in blocks of `block`; mix is set to 40 % at frame 24576 and ramps per frame.
*/
static float **render_blocks(const char *path, int block, long n)
{
    mg_graph *g = mg_test_graph(RATE, block, 2);
    mg_node *cv = convolver(g, path, NULL);
    CHECK_OK(mg_connect(pink(g, "x", 14, 0.5, 1), 0, cv, 0), g);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_compile(g), g);
    float **y = malloc(2 * sizeof *y);
    y[0] = malloc((size_t)n * sizeof(float));
    y[1] = malloc((size_t)n * sizeof(float));
    for (long done = 0; done < n;) {
        if (done == 24576)
            CHECK_OK(mg_node_set(cv, "mix", 40), g);
        int k = (int)(n - done < block ? n - done : block);
        const float *const *o = mg_graph_process(g, k);
        memcpy(y[0] + done, o[0], (size_t)k * sizeof(float));
        memcpy(y[1] + done, o[1], (size_t)k * sizeof(float));
        done += k;
    }
    mg_graph_free(g);
    return y;
}

/* ---- CR-4: block sizes 1, 64, 4096 give the same output ---- */
static void test_blocks(void)
{
    const long L = 28800, n = 57600;
    float *h[2] = {decay_noise(L, RATE, 0.4, 41, 0.1), decay_noise(L, RATE, 0.4, 42, 0.1)};
    const char *path = write_wav("cr4.wav", 48000, 2, h, L);
    float **y64 = render_blocks(path, 64, n);
    float **y1 = render_blocks(path, 1, n);
    float **y4k = render_blocks(path, 4096, n);
    double d1 = 0, d4 = 0;
    for (int c = 0; c < 2; c++) {
        d1 = fmax(d1, max_diff(y1[c], y64[c], n));
        d4 = fmax(d4, max_diff(y4k[c], y64[c], n));
    }
    report_err("CR-4: max |y(block 1) - y(block 64)|", d1);
    report_err("CR-4: max |y(block 4096) - y(block 64)|", d4);
    CHECK(d1 <= 1e-6 && d4 <= 1e-6, "CR-4: block-size independence (%g, %g)", d1, d4);
    double lr = max_diff(y64[0], y64[1], n);
    CHECK(lr > 1e-3 && mg_test_rms(y64[0], n) > 1e-3,
          "CR-4: the stereo IR gives two different, non-silent channels (diff %g)", lr);
    mg_test_free_channels(y1, 2);
    mg_test_free_channels(y64, 2);
    mg_test_free_channels(y4k, 2);
    free(h[0]);
    free(h[1]);
}

/* The IR the node applies: a unit impulse (a file at the graph rate) through it. */
static float **impulse_response(const char *ir, const char *normalize, int out_ch, long n,
                                int64_t *length)
{
    float *d = calloc(16, sizeof *d);
    d[0] = 1;
    const char *imp = write_mono("impulse.wav", 48000, d, 16);
    free(d);
    mg_graph *g = mg_test_graph(RATE, 256, out_ch);
    mg_node *f = mg_test_node(g, "file", "imp", (mg_opt[]){str("path", imp)}, 1);
    mg_node *cv = convolver(g, ir, normalize);
    CHECK_OK(mg_connect(f, 0, cv, 0), g);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    if (length)
        *length = mg_graph_length(g);
    mg_graph_free(g);
    return y;
}

/* T30 (ISO 3382): Schroeder backward integration, regression from -5 to -35 dB. */
static double t30(const float *h, long n, double rate)
{
    double *edc = malloc((size_t)n * sizeof *edc), acc = 0;
    for (long i = n - 1; i >= 0; i--)
        edc[i] = acc += (double)h[i] * h[i];
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    long m = 0;
    for (long i = 0; i < n; i++) {
        double l = 10 * log10(edc[i] / edc[0]);
        if (l > -5)
            continue;
        if (l < -35)
            break;
        double t = (double)i / rate;
        sx += t, sy += l, sxx += t * t, sxy += t * l;
        m++;
    }
    free(edc);
    double slope = (m * sxy - sx * sy) / (m * sxx - sx * sx); /* dB per second */
    return -60 / slope;
}

/* Mean |H|^2 in dB over the octave band centred on fc, from a zero-padded DFT of size N. */
static void band_levels(const float *h, long n, double rate, long N, const double *fc, int nb,
                        double *lev)
{
    double *re = calloc((size_t)N, sizeof *re), *im = calloc((size_t)N, sizeof *im);
    for (long i = 0; i < n; i++)
        re[i] = h[i];
    mg_test_fft(re, im, N);
    for (int b = 0; b < nb; b++) {
        double s = 0;
        long k0 = (long)ceil(fc[b] / sqrt(2) * N / rate),
             k1 = (long)floor(fc[b] * sqrt(2) * N / rate);
        for (long k = k0; k <= k1; k++)
            s += re[k] * re[k] + im[k] * im[k];
        lev[b] = 10 * log10(s / (double)(k1 - k0 + 1));
    }
    free(re);
    free(im);
}

/* ---- CR-5: an IR at 44.1 kHz in a 48 kHz graph keeps T30 and spectrum ---- */
static void test_resampled(void)
{
    const long n0 = 66150; /* 1.5 s at 44.1 kHz */
    float *h0 = decay_noise(n0, 44100, 1.0, 5, 0.3);
    const char *path = write_mono("cr5.wav", 44100, h0, n0);
    const long n1 = 76800;
    int64_t glen = 0;
    float **h1 = impulse_response(path, NULL, 1, n1, &glen);
    mg_test_report("CR-5: render length, 16-frame impulse + tail (16 + 72000)", (double)glen,
                   "frames");
    CHECK(glen == 16 + 72000, "CR-5: tail = round(66150 * 48/44.1) = 72000 frames (length %lld)",
          (long long)glen);
    double ta = t30(h0, n0, 44100), tb = t30(h1[0], n1, RATE);
    mg_test_report("CR-5: T30 of the 44.1 kHz file", ta, "s");
    mg_test_report("CR-5: T30 as applied at 48 kHz", tb, "s");
    mg_test_report("CR-5: T30 change", 100 * (tb / ta - 1), "%");
    CHECK(fabs(tb / ta - 1) <= 0.02, "CR-5: T30 %g s vs %g s: beyond +-2 %%", tb, ta);
    static const double fc[] = {125, 250, 500, 1000, 2000, 4000, 8000};
    double la[7], lb[7], worst = 0;
    band_levels(h0, n0, 44100, 131072, fc, 7, la);
    band_levels(h1[0], n1, RATE, 131072, fc, 7, lb);
    for (int b = 0; b < 7; b++)
        worst = fmax(worst, fabs(lb[b] - la[b]));
    mg_test_report("CR-5: worst octave-band level change, 125 Hz - 8 kHz", worst, "dB");
    CHECK(worst <= 0.1, "CR-5: octave-band spectrum kept within 0.1 dB (worst %g)", worst);
    mg_test_free_channels(h1, 1);
    free(h0);
}

/* ---- CR-6: normalize = energy (mean sum h^2 = 1) and peak (max |H| = 1) ---- */
static void test_normalize(void)
{
    const long L = 14400, n = 16000;
    float *h[2] = {decay_noise(L, RATE, 0.3, 61, 0.2), decay_noise(L, RATE, 0.3, 62, 0.05)};
    const char *path = write_wav("cr6.wav", 48000, 2, h, L);
    double e_file[2] = {0, 0};
    for (int c = 0; c < 2; c++)
        for (long i = 0; i < L; i++)
            e_file[c] += (double)h[c][i] * h[c][i];

    float **y = impulse_response(path, "energy", 2, n, NULL);
    double e[2] = {0, 0};
    for (int c = 0; c < 2; c++)
        for (long i = 0; i < n; i++)
            e[c] += (double)y[c][i] * y[c][i];
    mg_test_report("CR-6: energy: (sum hL^2 + sum hR^2) / 2 - 1", ((e[0] + e[1]) / 2 - 1) * 1e9,
                   "x 1e-9");
    mg_test_report("CR-6: energy: L/R balance change",
                   10 * log10((e[0] / e[1]) / (e_file[0] / e_file[1])), "dB");
    CHECK_NEAR((e[0] + e[1]) / 2, 1.0, 1e-5, "CR-6: mean channel energy");
    CHECK_NEAR(e[0] / e[1], e_file[0] / e_file[1], 1e-4 * e_file[0] / e_file[1],
               "CR-6: L/R energy ratio kept");
    mg_test_free_channels(y, 2);

    y = impulse_response(path, "peak", 2, n, NULL);
    long N = 32768; /* the documented grid: smallest power of two >= 2 len */
    double peak = 0, fine = 0;
    for (int c = 0; c < 2; c++) {
        for (int pass = 0; pass < 2; pass++) {
            long M = pass ? 4 * N : N;
            double *re = calloc((size_t)M, sizeof *re), *im = calloc((size_t)M, sizeof *im);
            for (long i = 0; i < n; i++)
                re[i] = y[c][i];
            mg_test_fft(re, im, M);
            for (long k = 0; k <= M / 2; k++) {
                double m = hypot(re[k], im[k]);
                if (pass)
                    fine = fmax(fine, m);
                else
                    peak = fmax(peak, m);
            }
            free(re);
            free(im);
        }
    }
    mg_test_report("CR-6: peak: max |H| on the 2-len DFT grid", db(peak) * 1e6, "x 1e-6 dB");
    mg_test_report("CR-6: peak: max |H| on a 4x finer grid (information)", db(fine) * 1e6,
                   "x 1e-6 dB");
    CHECK_NEAR(peak, 1.0, 1e-5, "CR-6: max |H|");
    mg_test_free_channels(y, 2);
    free(h[0]);
    free(h[1]);
}

/* ---- channel rules, mix and gain ---- */
static void test_channels(void)
{
    const long L = 100, n = 9600;
    float *h[2] = {calloc(L, sizeof(float)), calloc(L, sizeof(float))};
    h[0][0] = 1;
    h[1][10] = 0.5f;
    const char *st = write_wav("ch2.wav", 48000, 2, h, L);
    /* mono in, stereo IR: stereo out, L = x, R = 0.5 x[n - 10] */
    mg_graph *g = mg_test_graph(RATE, 64, 2);
    mg_node *cv = convolver(g, st, NULL);
    CHECK_OK(mg_connect(pink(g, "x", 15, 0.2, 1), 0, cv, 0), g);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    CHECK(mg_node_output_channels(cv, 0) == 2, "mono input, stereo IR: stereo output (%d)",
          mg_node_output_channels(cv, 0));
    float **x = render_noise(1, 15, 0.2, 1, n);
    double eL = max_diff(y[0], x[0], n), eR = 0;
    for (long i = 10; i < n; i++)
        eR = fmax(eR, fabs(y[1][i] - 0.5 * x[0][i - 10]));
    CHECK(eL <= 1e-6 && eR <= 1e-6, "stereo IR on mono input: L err %g, R err %g", eL, eR);
    mg_test_free_channels(y, 2);
    mg_graph_free(g);

    /* stereo in, mono IR (h = delta): out = in on both; mix 50 % and gain -6.0206 dB on the
       wet: y = 0.5 x + 0.5 * 0.5 x = 0.75 x */
    float *m = calloc(L, sizeof(float));
    m[0] = 1;
    const char *mono = write_mono("ch1.wav", 48000, m, L);
    g = mg_test_graph(RATE, 64, 2);
    cv = convolver(g, mono, NULL);
    CHECK_OK(mg_node_set(cv, "mix", 50), g);
    CHECK_OK(mg_node_set(cv, "gain", -6.0206), g);
    CHECK_OK(mg_connect(pink(g, "x", 16, 0.2, 2), 0, cv, 0), g);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    y = mg_test_render(g, n, NULL);
    CHECK(mg_node_output_channels(cv, 0) == 2, "stereo input, mono IR: stereo output");
    mg_test_free_channels(x, 1);
    x = render_noise(2, 16, 0.2, 2, n);
    double e = 0;
    for (int c = 0; c < 2; c++)
        for (long i = 0; i < n; i++)
            e = fmax(e, fabs(y[c][i] - 0.75 * x[c][i]));
    report_err("mix 50 %, gain -6.0206 dB, IR = delta: max |y - 0.75 x|", e);
    CHECK(e <= 1e-6 && max_diff(x[0], x[1], n) > 0.01, "mix/gain law (err %g)", e);
    mg_test_free_channels(y, 2);
    mg_test_free_channels(x, 2);
    mg_graph_free(g);
    free(h[0]);
    free(h[1]);
    free(m);
}

/* ---- errors ---- */
static void test_errors(void)
{
    mg_graph *g = mg_test_graph(RATE, 64, 1);
    mg_node *cv =
        mg_node_new(g, "convolver", "cv", (mg_opt[]){str("path", tmp_path("none.wav"))}, 1);
    CHECK(!cv && strstr(mg_graph_error(g), "none.wav") && strstr(mg_graph_error(g), "No such file"),
          "missing IR file: %s", mg_graph_error(g));
    float z[64] = {0};
    const char *silent = write_mono("silent.wav", 48000, z, 64);
    cv = mg_node_new(g, "convolver", "cv",
                     (mg_opt[]){str("path", silent), str("normalize", "energy")}, 2);
    CHECK(cv != NULL, "a silent IR loads");
    if (cv) {
        CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
        CHECK(mg_graph_compile(g) != MG_OK && strstr(mg_graph_error(g), "silent"),
              "silent IR cannot be normalised: %s", mg_graph_error(g));
    }
    mg_graph_free(g);
}

/* ---- CR-7: changing the IR while playing ---- */

/*
** A 100 Hz sine (-12 dBFS) through IR `a`, rendered in blocks of 256. With `b` set, the IR is
** changed to b at frame `at` with a crossfade of xfade seconds.
*/
static float *render_swap(const char *a, const char *b, long at, double xfade, long n,
                          mg_status *swap_st, int *busy_after)
{
    mg_graph *g = mg_test_graph(RATE, 256, 1);
    mg_node *o = mg_test_node(g, "osc", "o", (mg_opt[]){num("attack", 0)}, 1);
    CHECK_OK(mg_node_set(o, "freq", 100), g);
    mg_node *cv = convolver(g, a, "energy");
    CHECK_OK(mg_connect(o, 0, cv, 0), g);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_compile(g), g);
    float *y = malloc((size_t)n * sizeof *y);
    for (long done = 0; done < n; done += 256) {
        if (b && done == at) {
            *swap_st = mg_convolver_set_ir(cv, b, xfade);
            CHECK(*swap_st != MG_OK || mg_convolver_busy(cv), "busy right after the change");
        }
        memcpy(y + done, mg_graph_process(g, 256)[0], 256 * sizeof(float));
    }
    if (busy_after)
        *busy_after = mg_convolver_busy(cv);
    mg_graph_free(g);
    return y;
}

/* Largest |second difference| over [from, to): a step or kink shows up here, a 100 Hz sine
   of amplitude A only as A (2 pi 100 / 48000)^2 = -75 dB re A. */
static double max_d2(const float *y, long from, long to)
{
    double m = 0;
    for (long i = from + 1; i < to - 1; i++)
        m = fmax(m, fabs((double)y[i + 1] - 2.0 * y[i] + y[i - 1]));
    return m;
}

static void test_swap(void)
{
    const long L = 12000, n = 48128, at = 24064; /* at: a block boundary, a multiple of 64 */
    float *ha = decay_noise(L, RATE, 0.2, 71, 0.1), *hb = decay_noise(L, RATE, 0.2, 72, 0.1);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", write_mono("cr7a.wav", 48000, ha, L));
    snprintf(b, sizeof b, "%s", write_mono("cr7b.wav", 48000, hb, L));
    mg_status st = MG_OK;
    int busy = -1;
    const double xf = 0.05;
    float *y = render_swap(a, b, at, xf, n, &st, &busy);
    CHECK(st == MG_OK && busy == 0, "IR change accepted (%s) and finished (busy %d)",
          mg_strerror(st), busy);
    float *ya = render_swap(a, NULL, 0, 0, n, NULL, NULL);
    float *yb = render_swap(b, NULL, 0, 0, n, NULL, NULL);
    /* documented: starts at the next multiple of 64 frames after the call */
    long t0 = at / 64 * 64 + 64, X = lround(xf * RATE);
    double err = 0;
    for (long i = 0; i < n; i++) {
        double w = i < t0 ? 0 : i >= t0 + X ? 1 : 0.5 - 0.5 * cos(M_PI * (double)(i - t0) / X);
        err = fmax(err, fabs(y[i] - ((1 - w) * ya[i] + w * yb[i])));
    }
    report_err("CR-7: max |y - ((1-w) x*hA + w x*hB)|, raised cosine 50 ms", err);
    CHECK(err <= 1e-5, "CR-7: the change is a crossfade of the two full convolutions (err %g)",
          err);
    double steady = max_d2(ya, 14400, n), d2 = max_d2(y, 14400, n);
    mg_test_report("CR-7: max |2nd difference| without a change", db(steady), "dBFS");
    mg_test_report("CR-7: max |2nd difference| across the 50 ms change", db(d2), "dBFS");
    CHECK(d2 <= pow(10, -60 / 20.0), "CR-7: discontinuity %.1f dBFS > -60 dBFS", db(d2));

    /* the same change without a crossfade: the measure must see the click */
    free(y);
    y = render_swap(a, b, at, 0, n, &st, &busy);
    double click = max_d2(y, 14400, n);
    mg_test_report("CR-7: max |2nd difference|, instant change (must click)", db(click), "dBFS");
    CHECK(click > pow(10, -60 / 20.0), "CR-7: an instant change is seen as a click (%.1f dBFS)",
          db(click));

    /* too long, wrong channel count, not a convolver, busy */
    mg_graph *g = mg_test_graph(RATE, 256, 1);
    mg_node *cv = convolver(g, a, NULL);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_compile(g), g);
    float *lng = calloc(2 * L, sizeof(float));
    lng[2 * L - 1] = 1;
    const char *long_ir = write_mono("long.wav", 48000, lng, 2 * L);
    st = mg_convolver_set_ir(cv, long_ir, 0.01);
    CHECK(st == MG_ERR_RANGE && strstr(mg_graph_error(g), "max_length"),
          "a longer IR than the capacity is refused: %s", mg_graph_error(g));
    float *two[2] = {ha, hb};
    const char *st2 = write_wav("two.wav", 48000, 2, two, L);
    st = mg_convolver_set_ir(cv, st2, 0.01);
    CHECK(st == MG_ERR_RANGE && strstr(mg_graph_error(g), "channels"),
          "channel count change refused: %s", mg_graph_error(g));
    CHECK(mg_convolver_set_ir(mg_graph_output(g), b, 0.01) == MG_ERR_INVALID,
          "set_ir on a non-convolver is refused");
    CHECK_OK(mg_convolver_set_ir(cv, b, 0.5), g);
    st = mg_convolver_set_ir(cv, a, 0.5);
    CHECK(st == MG_ERR_INVALID && strstr(mg_graph_error(g), "crossfading"),
          "a second change during a crossfade is refused: %s", mg_graph_error(g));
    mg_graph_free(g);

    /* with max_length, a longer IR fits */
    g = mg_test_graph(RATE, 256, 1);
    cv = mg_test_node(g, "convolver", "cv", (mg_opt[]){str("path", a), num("max_length", 1.0)}, 2);
    CHECK_OK(mg_connect(cv, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_compile(g), g);
    CHECK_OK(mg_convolver_set_ir(cv, long_ir, 0.01), g);
    CHECK(mg_graph_length(g) >= 0, "length after a change");
    mg_graph_free(g);

    free(lng);
    free(y);
    free(ya);
    free(yb);
    free(ha);
    free(hb);
}

int main(void)
{
    make_tmpdir("mg_test_convolver");
    test_identity();
    test_delay();
    test_accuracy();
    test_blocks();
    test_resampled();
    test_normalize();
    test_channels();
    test_errors();
    test_swap();
    remove_tmpdir();
    return mg_test_done("test_convolver");
}
