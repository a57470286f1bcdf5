/*
** test_reverb.c: the `reverb` node against DSP_TESTS §10.1 and §10.2. Impulse responses are
** measured ISO 3382 style: Schroeder backward integration (EDC), regression fits for T20
** (-5..-25 dB), T30 (-5..-35 dB) and EDT (0..-10 dB), non-linearity xi = 1000 (1 - r^2) and
** curvature C = 100 (T30/T20 - 1), broadband and in octave bands (zero-phase FFT band filters
** with raised-cosine skirts, defined here). Echo density per Abel & Huang (20 ms Hann window,
** normalised by erfc(1/sqrt 2)). Tests: decay calibration (REV-1, also per preset, line count
** and rate), curvature and linearity (REV-2), HF damping against the design curve (REV-3),
** stereo decorrelation (REV-4), stability at maximum size and decay for 60 s (REV-5), freeze
** holding energy for 30 s (REV-6), late density (REV-7), mixing time per preset (REV-8), the
** measures themselves on signals with known answers, click-free changes of every parameter
** (spectral splatter on a tone), the tail callback, preset defaults and overrides, and
** block-size independence (bit-identical at 1, 37, 64, 300 and 4096). Inputs are float WAV
** files played by the `file` node.
*/
#include "dyn_signals.h"
#include "mg_filter.h"

#define RATE 48000.0

static mg_opt num(const char *name, double v) { return (mg_opt){.name = name, .num = v}; }
static mg_opt str(const char *name, const char *s) { return (mg_opt){.name = name, .str = s}; }

/* A parameter change applied before frame `at` (blocks are split there). */
typedef struct event {
    long at;
    const char *param;
    double value;
} event;

/* Reverb settings for one render. */
typedef struct setup {
    const char *preset; /* NULL: default (hall) */
    int lines;          /* 0: default */
    double rate;        /* 0: RATE */
    const dyn_param *ps;     /* terminated by {NULL} */
} setup;

/*
** file(x: ch channels, nx frames) -> reverb -> output (2 channels); n frames in blocks of
** `block`, events applied at their frames. Returns planar stereo (caller frees).
*/
static float **run_reverb(const setup *su, float *const *x, int ch, long nx, long n, int block,
                          const event *ev, int nev)
{
    double rate = su->rate > 0 ? su->rate : RATE;
    mg_graph *g = mg_test_graph(rate, block, 2);
    mg_opt o[2];
    int no = 0;
    if (su->preset)
        o[no++] = str("preset", su->preset);
    if (su->lines)
        o[no++] = num("lines", su->lines);
    mg_node *rv = mg_test_node(g, "reverb", "rv", o, no);
    for (const dyn_param *p = su->ps; p && p->name; p++)
        CHECK_OK(mg_node_set(rv, p->name, p->value), g);
    CHECK_OK(mg_connect(dyn_source(g, NULL, x, ch, nx), 0, rv, 0), g);
    CHECK_OK(mg_connect(rv, 0, mg_graph_output(g), 0), g);
    if (mg_graph_compile(g) != MG_OK) {
        fprintf(stderr, "compile: %s\n", mg_graph_error(g));
        exit(1);
    }
    float **out = calloc(2, sizeof *out);
    for (int c = 0; c < 2; c++)
        out[c] = calloc((size_t)n, sizeof(float));
    int e = 0;
    for (long done = 0; done < n;) {
        while (e < nev && ev[e].at <= done) {
            CHECK_OK(mg_node_set(rv, ev[e].param, ev[e].value), g);
            e++;
        }
        long k = n - done < block ? n - done : block;
        if (e < nev && ev[e].at < done + k)
            k = ev[e].at - done;
        mg_graph_service(g);
        const float *const *y = mg_graph_process(g, (int)k);
        for (int c = 0; c < 2; c++)
            memcpy(out[c] + done, y[c], (size_t)k * sizeof(float));
        done += k;
    }
    mg_graph_free(g);
    return out;
}

/* Impulse response (unit impulse, mono file up-mixed to both inputs), n frames. */
static float **impulse_response(const setup *su, long n)
{
    float *x = calloc(16, sizeof *x);
    x[0] = 1.0f;
    float **h = run_reverb(su, &x, 1, 16, n, 512, NULL, 0);
    free(x);
    return h;
}

/* ---- ISO 3382 style decay analysis ---- */

typedef struct decay_fit {
    double t20, t30, edt, xi30, curvature;
} decay_fit;

/* Linear regression of edc (dB) against time over the span from its first fall below `hi`
   to its first fall below `lo`; returns the slope (dB/s) and r^2. */
static double regress(const double *edc, long n, double rate, double hi, double lo, double *r2)
{
    long a = 0, b;
    while (a < n && edc[a] > hi)
        a++;
    b = a;
    while (b < n && edc[b] > lo)
        b++;
    double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0, m = (double)(b - a);
    for (long i = a; i < b; i++) {
        double t = (double)i / rate, y = edc[i];
        sx += t;
        sy += y;
        sxx += t * t;
        sxy += t * y;
        syy += y * y;
    }
    double cxx = sxx - sx * sx / m, cxy = sxy - sx * sy / m, cyy = syy - sy * sy / m;
    if (r2)
        *r2 = cxy * cxy / (cxx * cyy);
    return cxy / cxx;
}

/* EDC by Schroeder backward integration of h^2, in dB relative to the total energy. */
static double *edc_db(const float *h, long n)
{
    double *e = malloc((size_t)n * sizeof *e), acc = 0;
    for (long i = n - 1; i >= 0; i--) {
        acc += (double)h[i] * h[i];
        e[i] = acc;
    }
    for (long i = 0; i < n; i++)
        e[i] = 10 * log10(e[i] / acc + 1e-300);
    return e;
}

static decay_fit analyse(const float *h, long n, double rate)
{
    double *e = edc_db(h, n), r2;
    decay_fit f;
    f.t20 = -60 / regress(e, n, rate, -5, -25, NULL);
    f.t30 = -60 / regress(e, n, rate, -5, -35, &r2);
    f.xi30 = 1000 * (1 - r2);
    f.edt = -60 / regress(e, n, rate, 0, -10, NULL);
    f.curvature = 100 * (f.t30 / f.t20 - 1);
    free(e);
    return f;
}

/* Spectrum of h[0..n) zero-padded to N >= n + 16384 (room for the band filters' ringing). */
typedef struct spectrum {
    double *re, *im;
    long N, n;
} spectrum;

static spectrum spectrum_of(const float *h, long n)
{
    spectrum s = {.n = n, .N = 1};
    while (s.N < n + 16384)
        s.N <<= 1;
    s.re = calloc((size_t)s.N, sizeof *s.re);
    s.im = calloc((size_t)s.N, sizeof *s.im);
    for (long i = 0; i < n; i++)
        s.re[i] = h[i];
    mg_test_fft(s.re, s.im, s.N);
    return s;
}

static void spectrum_free(spectrum *s)
{
    free(s->re);
    free(s->im);
}

/*
** Octave band around fc: zero-phase FFT filter, gain 1 between fc/sqrt2 and fc sqrt2 with
** raised-cosine skirts 1/3 octave wide outside each edge (short ringing, > 60 dB rejection
** an octave away).
*/
static float *octave_band(const spectrum *sp, double fc, double rate)
{
    long N = sp->N;
    double *re = malloc((size_t)N * sizeof *re), *im = malloc((size_t)N * sizeof *im);
    for (long k = 0; k < N; k++) {
        long kk = k <= N / 2 ? k : N - k;
        double f = (double)kk * rate / (double)N, g = 0;
        if (f > 0) {
            double o = fabs(log2(f / fc)); /* octaves from the centre */
            g = o <= 0.5 ? 1 : o >= 0.5 + 1.0 / 3 ? 0 : 0.5 * (1 + cos(M_PI * (o - 0.5) * 3));
        }
        re[k] = sp->re[k] * g;
        im[k] = -sp->im[k] * g; /* conjugate: the forward FFT of the conjugate inverts */
    }
    mg_test_fft(re, im, N);
    float *y = malloc((size_t)sp->n * sizeof *y);
    for (long i = 0; i < sp->n; i++)
        y[i] = (float)(re[i] / (double)N);
    free(re);
    free(im);
    return y;
}

/* Abel & Huang normalised echo density at the frame `t` (window centre), 20 ms Hann. */
static double echo_density(const float *h, long n, long t, double rate)
{
    long L = (long)(0.020 * rate), a = t - L / 2;
    double ws = 0, e = 0, cnt = 0;
    for (long k = 0; k < L; k++) {
        long i = a + k;
        double w = 0.5 - 0.5 * cos(2 * M_PI * (k + 0.5) / L);
        double v = (i >= 0 && i < n) ? h[i] : 0;
        ws += w;
        e += w * v * v;
    }
    double sigma = sqrt(e / ws);
    for (long k = 0; k < L; k++) {
        long i = a + k;
        double w = 0.5 - 0.5 * cos(2 * M_PI * (k + 0.5) / L);
        double v = (i >= 0 && i < n) ? h[i] : 0;
        if (fabs(v) > sigma)
            cnt += w;
    }
    return cnt / ws / 0.3173105078629141;
}

static long onset(const float *h, long n)
{
    for (long i = 0; i < n; i++)
        if (fabs(h[i]) > 1e-6)
            return i;
    return n;
}

static double corr(const float *a, const float *b, long n)
{
    double sab = 0, saa = 0, sbb = 0;
    for (long i = 0; i < n; i++) {
        sab += (double)a[i] * b[i];
        saa += (double)a[i] * a[i];
        sbb += (double)b[i] * b[i];
    }
    return sab / sqrt(saa * sbb);
}

static double energy_db(const float *x, long n)
{
    double e = 0;
    for (long i = 0; i < n; i++)
        e += (double)x[i] * x[i];
    return 10 * log10(e / (double)n + 1e-300);
}

/* ---- REV-1, REV-2 ---- */

static void report_fit(const char *tag, const char *band, decay_fit f)
{
    char what[120];
    snprintf(what, sizeof what, "%s %s T30", tag, band);
    mg_test_report(what, f.t30, "s");
    snprintf(what, sizeof what, "%s %s T20 / EDT", tag, band);
    printf("  %-58s %8.4f / %.4f s\n", what, f.t20, f.edt);
    snprintf(what, sizeof what, "%s %s xi (T30) / C", tag, band);
    printf("  %-58s %8.3f permille / %.2f %%\n", what, f.xi30, f.curvature);
}

/* REV-1 and REV-2 for one configuration: decay 2.0 s, no HF damping, no low cut, 100 % wet */
static void decay_case(const char *tag, const char *preset, int lines, double rate, double tol)
{
    const double T = 2.0;
    dyn_param ps[] = {{"decay", T}, {"damping", 1}, {"low_cut", 0}, {"predelay", 0}, {"mix", 100},
                 {NULL, 0}};
    setup su = {.preset = preset, .lines = lines, .rate = rate, .ps = ps};
    double fs = rate > 0 ? rate : RATE;
    long n = (long)(2.35 * fs); /* ends near -70 dB; the FFT stays at 2^17 at 48 kHz */
    float **h = impulse_response(&su, n);
    for (int c = 0; c < 2; c++) {
        spectrum sp = spectrum_of(h[c], n);
        char t2[80];
        snprintf(t2, sizeof t2, "REV-1 %s %s", tag, c ? "R" : "L");
        decay_fit f = analyse(h[c], n, fs);
        report_fit(t2, "broadband", f);
        CHECK(fabs(f.t30 / T - 1) <= tol, "REV-1 %s: broadband T30 %.4f s within %.0f%% of %g s",
              t2, f.t30, tol * 100, T);
        CHECK(fabs(f.curvature) <= 10 && f.xi30 <= 10,
              "REV-2 %s: |C| %.2f %% <= 10, xi %.3f <= 10 permille", t2, f.curvature, f.xi30);
        const double bands[] = {500, 1000};
        for (int k = 0; k < 2; k++) {
            float *b = octave_band(&sp, bands[k], fs);
            decay_fit fb = analyse(b, n, fs);
            char bn[32];
            snprintf(bn, sizeof bn, "%g Hz", bands[k]);
            report_fit(t2, bn, fb);
            CHECK(fabs(fb.t30 / T - 1) <= tol, "REV-1 %s %s: T30 %.4f s within %.0f%% of %g s",
                  t2, bn, fb.t30, tol * 100, T);
            CHECK(fabs(fb.curvature) <= 10 && fb.xi30 <= 10,
                  "REV-2 %s %s: |C| %.2f %%, xi %.3f permille", t2, bn, fb.curvature, fb.xi30);
            free(b);
        }
        spectrum_free(&sp);
    }
    mg_test_free_channels(h, 2);
}

static void test_decay(void)
{
    decay_case("hall", "hall", 8, 0, 0.05);
    decay_case("hall/16", "hall", 16, 0, 0.05);
    decay_case("room", "room", 8, 0, 0.05);
    decay_case("plate", "plate", 8, 0, 0.05);
    decay_case("hall@44.1k", "hall", 8, 44100, 0.05);
    decay_case("hall@96k", "hall", 8, 96000, 0.05);
}

/* ---- REV-3 ---- */

/* The design's s(f): the RBJ shelf's dB shape normalised to its high-frequency gain, taken in
   the small-gain limit (the node's per-pass gains are small). */
static double shelf_shape(double f, double fc, double rate)
{
    mg_biquad q = mg_biquad_design(MG_FT_HIGHSHELF, fc, 0.70710678118654752, -0.01, rate);
    return mg_biquad_mag_db(&q, f, rate) / -0.01;
}

static void test_damping(void)
{
    const double T = 2.0, r = 0.5, fc = 3000;
    dyn_param ps[] = {{"decay", T}, {"damping", r}, {"damp_freq", fc}, {"low_cut", 0},
                 {"predelay", 0}, {NULL, 0}};
    setup su = {.preset = "hall", .ps = ps};
    long n = (long)(2.35 * RATE);
    float **h = impulse_response(&su, n);
    spectrum sp = spectrum_of(h[0], n);
    double design[2], meas[2];
    const double bands[] = {1000, 8000};
    for (int k = 0; k < 2; k++) {
        design[k] = T / (1 + (1 / r - 1) * shelf_shape(bands[k], fc, RATE));
        float *b = octave_band(&sp, bands[k], RATE);
        decay_fit f = analyse(b, n, RATE);
        meas[k] = f.t30;
        char what[96];
        snprintf(what, sizeof what, "REV-3 %g Hz T30 (design %.4f s)", bands[k], design[k]);
        mg_test_report(what, f.t30, "s");
        free(b);
    }
    double want = design[1] / design[0], got = meas[1] / meas[0];
    mg_test_report("REV-3 T30(8k)/T30(1k), damping 0.5 at 3 kHz: design", want, "");
    mg_test_report("REV-3 T30(8k)/T30(1k) measured", got, "");
    CHECK(fabs(got / want - 1) <= 0.10, "REV-3: ratio %.4f within 10%% of the design %.4f", got,
          want);
    CHECK(meas[1] < meas[0], "REV-3: 8 kHz decays faster than 1 kHz");
    spectrum_free(&sp);
    mg_test_free_channels(h, 2);
}

/* ---- REV-4 ---- */

static void test_decorrelation(void)
{
    long n = (long)(1.6 * RATE);
    const char *presets[] = {"room", "plate", "hall"};
    for (int k = 0; k < 3; k++) {
        setup su = {.preset = presets[k], .ps = (dyn_param[]){{"predelay", 0}, {NULL, 0}}};
        float **h = impulse_response(&su, n);
        long a = (long)(0.1 * RATE), b = (long)(1.5 * RATE);
        double rho = corr(h[0] + a, h[1] + a, b - a);
        char what[96];
        snprintf(what, sizeof what, "REV-4 %s: L/R correlation of the tail 0.1-1.5 s",
                 presets[k]);
        mg_test_report(what, rho, "");
        CHECK(fabs(rho) <= 0.3, "REV-4 %s: |rho| %.3f <= 0.3", presets[k], rho);
        mg_test_free_channels(h, 2);
    }
    /* width 0 collapses to mono: the measure sees it */
    setup su = {.preset = "hall", .ps = (dyn_param[]){{"width", 0}, {NULL, 0}}};
    float **h = impulse_response(&su, n);
    double rho = corr(h[0] + 4800, h[1] + 4800, n - 4800);
    mg_test_report("REV-4 hall, width 0: correlation", rho, "");
    CHECK(rho > 0.999, "REV-4: width 0 is mono (rho %.4f)", rho);
    mg_test_free_channels(h, 2);
}

/* ---- REV-5 ---- */

static void test_stability(void)
{
    const long n = (long)(60 * RATE), nin = (long)(2 * RATE), win = (long)RATE;
    float *x[2];
    for (int c = 0; c < 2; c++) {
        x[c] = malloc((size_t)nin * sizeof(float));
        uint32_t s = 12345u + (uint32_t)c;
        for (long i = 0; i < nin; i++) {
            s = s * 1664525u + 1013904223u;
            x[c][i] = 0.5f * ((float)(s >> 8) / 8388608.0f - 1.0f);
        }
    }
    setup su = {.preset = "hall", .lines = 16,
                .ps = (dyn_param[]){{"size", 2}, {"decay", 60}, {"damping", 1}, {NULL, 0}}};
    float **y = run_reverb(&su, x, 2, nin, n, 4096, NULL, 0);
    long bad = 0;
    for (int c = 0; c < 2; c++)
        for (long i = 0; i < n; i++)
            bad += !isfinite(y[c][i]);
    CHECK(bad == 0, "REV-5: output finite (%ld bad samples)", bad);
    /* energy per 1 s window from 3 s (input stopped at 2 s): strictly falling */
    double prev = 1e300, first = 0, last = 0, worst_rise = -1e300;
    int mono = 1;
    for (long a = 3 * win; a + win <= n; a += win) {
        double e = 10 * log10(pow(10, energy_db(y[0] + a, win) / 10) +
                              pow(10, energy_db(y[1] + a, win) / 10));
        if (a == 3 * win)
            first = e;
        last = e;
        if (e - prev > worst_rise)
            worst_rise = e - prev;
        mono &= e < prev;
        prev = e;
    }
    double rate_db = (first - last) / ((double)(n - 4 * win) / RATE);
    mg_test_report("REV-5 size 2, decay 60 s, 16 lines: largest 1 s energy step", worst_rise,
                   "dB");
    mg_test_report("REV-5 decay rate 3-60 s (design 1 dB/s)", rate_db, "dB/s");
    CHECK(mono, "REV-5: energy decays monotonically after the input stops (worst step %+.3f dB)",
          worst_rise);
    CHECK(fabs(rate_db - 1.0) <= 0.1, "REV-5: decays at 60 dB per 60 s (%.3f dB/s)", rate_db);
    mg_test_free_channels(y, 2);
    free(x[0]);
    free(x[1]);
}

/* ---- REV-6 ---- */

static void test_freeze(void)
{
    const long n = (long)(34 * RATE), win = (long)RATE;
    float *x[2];
    for (int c = 0; c < 2; c++) {
        x[c] = malloc((size_t)n * sizeof(float));
        uint32_t s = 777u + (uint32_t)c;
        for (long i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            x[c][i] = 0.3f * ((float)(s >> 8) / 8388608.0f - 1.0f);
        }
    }
    setup su = {.preset = "hall", .ps = (dyn_param[]){{NULL, 0}}};
    event ev[] = {{(long)(2 * RATE), "freeze", 1}};
    float **y = run_reverb(&su, x, 2, n, n, 512, ev, 1);
    double lo = 1e300, hi = -1e300;
    for (long a = 3 * win; a + win <= 33 * win; a += win) {
        double e = 10 * log10(pow(10, energy_db(y[0] + a, win) / 10) +
                              pow(10, energy_db(y[1] + a, win) / 10));
        lo = e < lo ? e : lo;
        hi = e > hi ? e : hi;
    }
    mg_test_report("REV-6 freeze: energy range over 30 s (1 s windows)", hi - lo, "dB");
    CHECK(hi - lo <= 1.0, "REV-6: frozen energy constant within +-0.5 dB (range %.3f dB)",
          hi - lo);
    CHECK(hi > -60, "REV-6: something is held (%.1f dB)", hi);
    mg_test_free_channels(y, 2);
    free(x[0]);
    free(x[1]);
}

/* ---- REV-7, REV-8 ---- */

static void test_density(void)
{
    const char *presets[] = {"room", "plate", "hall"};
    const double target[] = {50, 50, 150}; /* mixing-time design targets, ms */
    long n = (long)(1.2 * RATE), half = (long)(0.010 * RATE);
    for (int k = 0; k < 3; k++) {
        setup su = {.preset = presets[k], .ps = (dyn_param[]){{NULL, 0}}};
        float **h = impulse_response(&su, n);
        long t0 = onset(h[0], n);
        double mean = 0;
        int cnt = 0;
        for (long t = (long)(0.3 * RATE); t <= (long)(1.0 * RATE); t += 48, cnt++)
            mean += echo_density(h[0], n, t, RATE);
        mean /= cnt;
        /* eta smoothed over 10 ms (21 windows 0.5 ms apart; single 20 ms windows scatter by
           about +-0.06 even on Gaussian noise), windows wholly after the onset. Mixing time:
           the first centre where it reaches 0.9; after that it must stay above 0.8 up to
           0.3 s (no sparse stretch later, e.g. where the diffuser hands over to the lines). */
        long a = t0 + half, step = 24, m = (long)(0.3 * RATE - (double)a) / step;
        double *eta = malloc((size_t)m * sizeof *eta), tmix = -1, dip = 2;
        for (long k = 0; k < m; k++)
            eta[k] = echo_density(h[0], n, a + k * step, RATE);
        for (long k = 10; k + 10 < m; k++) {
            double e = 0;
            for (int j = -10; j <= 10; j++)
                e += eta[k + j] / 21;
            if (tmix < 0 && e >= 0.9)
                tmix = (double)(a + k * step - t0) / RATE * 1000;
            else if (tmix >= 0 && e < dip)
                dip = e;
        }
        free(eta);
        char what[96];
        snprintf(what, sizeof what, "REV-7 %s: mean echo density 0.3-1.0 s", presets[k]);
        mg_test_report(what, mean, "");
        snprintf(what, sizeof what, "REV-8 %s: mixing time after onset (target %g ms)",
                 presets[k], target[k]);
        mg_test_report(what, tmix, "ms");
        snprintf(what, sizeof what, "REV-8 %s: lowest smoothed eta after it, to 0.3 s",
                 presets[k]);
        mg_test_report(what, dip, "");
        CHECK(mean >= 0.9, "REV-7 %s: late density %.3f >= 0.9", presets[k], mean);
        CHECK(tmix >= 0 && tmix <= target[k], "REV-8 %s: mixing time %.1f ms <= %g ms",
              presets[k], tmix, target[k]);
        CHECK(dip >= 0.8, "REV-8 %s: stays dense after mixing (min %.3f)", presets[k], dip);
        mg_test_free_channels(h, 2);
    }
}

/* The measures themselves on signals with known answers (DSP_TESTS §10.1, §10.2). */
static void test_methods(void)
{
    const long n = (long)(4 * RATE);
    float *h = malloc((size_t)n * sizeof *h);
    const double t60[] = {0.5, 1.5, 3.0};
    for (int k = 0; k < 3; k++) {
        uint32_t s = 99u + (uint32_t)k;
        for (long i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            double u = (double)(s >> 8) / 16777216.0 - 0.5;
            h[i] = (float)(u * pow(10, -3 * (double)i / (RATE * t60[k])));
        }
        decay_fit f = analyse(h, n, RATE);
        char what[96];
        snprintf(what, sizeof what, "method: exponential noise T60 %g s: T30", t60[k]);
        mg_test_report(what, f.t30, "s");
        CHECK(fabs(f.t30 / t60[k] - 1) <= 0.01 && fabs(f.t20 / t60[k] - 1) <= 0.01,
              "method: T20 %.4f, T30 %.4f for T60 %g", f.t20, f.t30, t60[k]);
    }
    /* Gaussian-like noise is dense (eta ~ 1), 200 echoes in 1.5 s are sparse (eta ~ 0.01) */
    uint32_t s = 4242u;
    for (long i = 0; i < n; i++) {
        double a = 0;
        for (int j = 0; j < 12; j++) {
            s = s * 1664525u + 1013904223u;
            a += (double)(s >> 8) / 16777216.0;
        }
        h[i] = (float)(a - 6);
    }
    double dense = 0;
    for (int j = 0; j < 100; j++)
        dense += echo_density(h, n, 10000 + j * 1000, RATE) / 100;
    memset(h, 0, (size_t)n * sizeof *h);
    for (int j = 0; j < 200; j++) {
        s = s * 1664525u + 1013904223u;
        h[(long)((double)(s >> 8) / 16777216.0 * 1.5 * RATE)] = (j & 1) ? 1.0f : -1.0f;
    }
    double sparse = 0;
    for (long t = (long)(0.2 * RATE); t < (long)(1.3 * RATE); t += 480)
        sparse += echo_density(h, n, t, RATE) / 22.9;
    mg_test_report("method: echo density of Gaussian noise", dense, "");
    mg_test_report("method: echo density, 200 echoes in 1.5 s", sparse, "");
    CHECK(fabs(dense - 1) < 0.05 && sparse < 0.05, "method: density %.3f / %.3f", dense, sparse);
    free(h);
}

/* ---- parameter changes ---- */


/*
** Changes of every parameter while a 1 kHz tone plays must not click. Measured like D-6:
** energy outside 1 kHz +- 200 Hz in a 16384-frame Blackman-Harris window over the change.
** References on synthetic tones: a hard phase step measures about -21 dB, the engine's own
** 20 ms linear parameter ramp applied to a gain about -58 dB; the bound is -50 dB.
*/
static void test_param_changes(void)
{
    const long n = (long)(2.2 * RATE), at = (long)(1.7 * RATE), N = 16384;
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++) /* references first */
        x[i] = (float)(0.25 * sin(2 * M_PI * 1000 * (double)i / RATE + (i >= at ? 2.0 : 0.0)));
    double step = dyn_splatter_db(RATE, x, at - N / 2, N, 1000);
    for (long i = 0; i < n; i++) {
        double g = i < at ? 1 : i >= at + 960 ? 0.4 : 1 - 0.6 * (double)(i - at) / 960;
        x[i] = (float)(0.25 * g * sin(2 * M_PI * 1000 * (double)i / RATE));
    }
    double ramp = dyn_splatter_db(RATE, x, at - N / 2, N, 1000);
    mg_test_report("reference: tone with a hard phase step, splatter", step, "dB");
    mg_test_report("reference: tone with a 20 ms linear gain ramp, splatter", ramp, "dB");
    CHECK(step > -40 && ramp < -50, "the splatter measure separates steps from ramps");
    for (long i = 0; i < n; i++) /* faded in: an abrupt start would ring through the tail */
        x[i] = (float)(0.25 * sin(2 * M_PI * 1000 * (double)i / RATE) *
                       (i < 4800 ? 0.5 - 0.5 * cos(M_PI * (double)i / 4800) : 1));
    struct {
        const char *param;
        double value;
    } cases[] = {{NULL, 0},          {"size", 1.6},       {"size", 0.5},
                 {"predelay", 47.3}, {"decay", 0.8},      {"damping", 0.2},
                 {"damp_freq", 900}, {"freeze", 1},       {"width", 20},
                 {"low_cut", 400},   {"mix", 40}};
    for (int k = 0; k < 11; k++) {
        setup su = {.preset = "hall", .ps = (dyn_param[]){{NULL, 0}}};
        event ev[] = {{at, cases[k].param, cases[k].value}};
        float **y = run_reverb(&su, &x, 1, n, n, 256, ev, cases[k].param ? 1 : 0);
        double sp = dyn_splatter_db(RATE, y[0], at - N / 2 + 2400, N, 1000);
        char what[96];
        snprintf(what, sizeof what, "change %s -> %g: splatter outside 1 kHz +-200 Hz",
                 cases[k].param ? cases[k].param : "(none)", cases[k].value);
        mg_test_report(what, sp, "dB");
        CHECK(sp <= -50, "no click when %s changes (%.1f dB)",
              cases[k].param ? cases[k].param : "nothing", sp);
        mg_test_free_channels(y, 2);
    }
    free(x);
}

/* ---- tail, presets, block size ---- */

static void test_tail(void)
{
    mg_graph *g = mg_test_graph(RATE, 256, 2);
    float *x = calloc(16, sizeof *x);
    x[0] = 1;
    mg_node *rv = mg_test_node(g, "reverb", "rv", (mg_opt[]){str("preset", "hall")}, 1);
    CHECK_OK(mg_node_set(rv, "decay", 1.5), g);
    CHECK_OK(mg_connect(dyn_source(g, NULL, &x, 1, 16), 0, rv, 0), g);
    CHECK_OK(mg_connect(rv, 0, mg_graph_output(g), 0), g);
    int64_t len = mg_graph_length(g);
    mg_test_report("tail: render length for a 16-frame input, decay 1.5 s", (double)len / RATE,
                   "s");
    CHECK(len > 16 + 1.5 * RATE && len < 16 + 2.0 * RATE, "tail: %lld frames", (long long)len);
    long n = len + (long)(0.2 * RATE);
    float **y = mg_test_render(g, n, NULL);
    long t0 = onset(y[0], n), w = (long)(0.05 * RATE);
    double head = energy_db(y[0] + t0, w), end = energy_db(y[0] + len, w);
    mg_test_report("tail: level after the tail re the first 50 ms", end - head, "dB");
    CHECK(end - head <= -60, "tail: the reverb is 60 dB down when the tail ends (%.1f dB)",
          end - head);
    mg_test_free_channels(y, 2);
    mg_graph_free(g);
    free(x);
}

static void test_presets(void)
{
    mg_graph *g = mg_test_graph(RATE, 64, 2);
    const char *names[] = {"room", "plate", "hall"};
    const double decay[] = {0.7, 1.8, 2.4};
    for (int k = 0; k < 3; k++) {
        char nm[16];
        snprintf(nm, sizeof nm, "r%d", k);
        mg_node *rv = mg_test_node(g, "reverb", nm, (mg_opt[]){str("preset", names[k])}, 1);
        int i = mg_node_param_index(rv, "decay");
        CHECK_NEAR(mg_node_get_index(rv, i), decay[k], 1e-6, "preset default decay");
        CHECK_OK(mg_node_set(rv, "decay", 3.3), g);
        CHECK_NEAR(mg_node_get_index(rv, i), 3.3, 1e-6, "explicit decay overrides the preset");
    }
    mg_node *bad = mg_node_new(g, "reverb", "bad", (mg_opt[]){num("lines", 12)}, 1);
    CHECK(bad == NULL && strstr(mg_graph_error(g), "8 or 16"), "lines 12 refused: '%s'",
          mg_graph_error(g));
    mg_graph_free(g);
    /* the presets' own sound, for the record */
    for (int k = 0; k < 3; k++) {
        setup su = {.preset = names[k], .ps = (dyn_param[]){{NULL, 0}}};
        long n = (long)((decay[k] * 1.5 + 0.2) * RATE);
        float **h = impulse_response(&su, n);
        decay_fit f = analyse(h[0], n, RATE);
        spectrum sp = spectrum_of(h[0], n);
        float *b = octave_band(&sp, 1000, RATE);
        spectrum_free(&sp);
        decay_fit f1 = analyse(b, n, RATE);
        char what[96];
        snprintf(what, sizeof what, "preset %s (decay %g s): T30 broadband / 1 kHz", names[k],
                 decay[k]);
        printf("  %-58s %8.4f / %.4f s\n", what, f.t30, f1.t30);
        free(b);
        mg_test_free_channels(h, 2);
    }
}

static void test_block_size(void)
{
    const long n = (long)(1.5 * RATE), nin = 20000;
    float *x[2];
    for (int c = 0; c < 2; c++) {
        x[c] = calloc((size_t)nin, sizeof(float));
        for (long i = 0; i < nin; i++)
            x[c][i] = (float)(sin(0.011 * (double)i * (c + 1)) * exp(-(double)i / 4000));
    }
    /* 37: chunks that are no multiple of the vector widths; 300: front-end runs (256 frames)
       cut at both ends; both line counts (each has its own specialisation of the chunk
       stages) */
    const int blocks[] = {1, 37, 64, 300, 4096}, lines[] = {16, 8};
    event ev[] = {{3001, "predelay", 31.3}, {9007, "decay", 1.1},  {15013, "size", 1.3},
                  {22222, "damping", 0.3},  {30001, "width", 40},  {33333, "low_cut", 200},
                  {40009, "freeze", 1},     {50021, "mix", 70},    {60013, "freeze", 0}};
    for (int m = 0; m < 2; m++) {
        float **ref = NULL;
        for (int b = 0; b < 5; b++) {
            setup su = {.preset = "plate", .lines = lines[m], .ps = (dyn_param[]){{NULL, 0}}};
            float **y = run_reverb(&su, x, 2, nin, n, blocks[b], ev, 9);
            if (!ref) {
                ref = y;
                continue;
            }
            int same = mg_test_same_channels(ref, y, 2, n);
            CHECK(same, "%d lines, block size %d: bit-identical to block size 1", lines[m],
                  blocks[b]);
            mg_test_free_channels(y, 2);
        }
        mg_test_free_channels(ref, 2);
    }
    mg_test_report("block sizes 1, 37, 64, 300, 4096, 8 and 16 lines, 9 parameter changes: "
                   "identical", 1, "");
    free(x[0]);
    free(x[1]);
}

int main(void)
{
    dyn_tmp_open("reverb");
    test_methods();
    test_decay();
    test_damping();
    test_decorrelation();
    test_stability();
    test_freeze();
    test_density();
    test_param_changes();
    test_tail();
    test_presets();
    test_block_size();
    dyn_tmp_close();
    return mg_test_done("test_reverb");
}
