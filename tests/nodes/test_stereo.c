/*
** test_stereo.c: the `stereo` node against DSP_TESTS §9 (W-1 .. W-6): identity at width 1,
** mono at 0, mono compatibility, the L-only case at width 2, the correlation of widened
** uncorrelated pink noise against (1 - w^2)/(1 + w^2), and the mono sum. Then bass to mono
** (side gone below the crossover, intact above, mid unchanged in level), balance, encode and
** decode, the correlation meter on tone pairs, and block-size independence.
*/
#include "dyn_signals.h"

#define RATE 48000.0

/* Output of stereo with parameters ps for the planar stereo input x (n frames). */
static float **run(float *const *x, long n, const dyn_param *ps, double *corr)
{
    double c;
    float **y = dyn_aligned("stereo", NULL, 0, RATE, 256, x, 2, n, ps, NULL, "correlation", &c);
    if (corr)
        *corr = c;
    return y;
}

static double max_err(const float *a, const float *b, long n)
{
    double e = 0;
    for (long i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i] - b[i]));
    return e;
}

static double corr_of(const float *a, const float *b, long n)
{
    double ab = 0, aa = 0, bb = 0;
    for (long i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

/* W-1, W-2, W-3, W-6 on correlated-ish pink noise (L and R partly shared). */
static void w1236(void)
{
    long n = 48000;
    float **x = dyn_pink(RATE, 2, n, 5, -3);
    for (long i = 0; i < n; i++)
        x[1][i] = (float)(0.6 * x[1][i] + 0.4 * x[0][i]);
    const double widths[] = {0, 0.5, 1, 2, 4};
    float *mono[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    for (long i = 0; i < n; i++)
        mono[0][i] = mono[1][i] = x[0][i];
    for (int k = 0; k < 5; k++) {
        double w = widths[k];
        dyn_param ps[] = {{"width", w}, {NULL, 0}};
        float **y = run(x, n, ps, NULL);
        double sum = 0;
        for (long i = 0; i < n; i++)
            sum = fmax(sum, fabs(((double)y[0][i] + y[1][i]) - ((double)x[0][i] + x[1][i])));
        char what[96];
        snprintf(what, sizeof what, "W-6: width %g, max |L'+R' - (L+R)| (<= 1e-7)", w);
        mg_test_report(what, sum, "");
        CHECK(sum <= 1e-7, "%s: %g", what, sum);
        if (w == 1) {
            double e = fmax(max_err(y[0], x[0], n), max_err(y[1], x[1], n));
            mg_test_report("W-1: width 1, max |out - in| (<= 1e-7)", e, "");
            CHECK(e <= 1e-7, "W-1: %g", e);
        }
        if (w == 0) {
            double e = 0;
            for (long i = 0; i < n; i++) {
                double m = 0.5 * ((double)x[0][i] + x[1][i]);
                e = fmax(e, fmax(fabs(y[0][i] - m), fabs(y[1][i] - m)));
            }
            mg_test_report("W-2: width 0, max |out - (L+R)/2| (<= 1e-7)", e, "");
            CHECK(e <= 1e-7, "W-2: %g", e);
        }
        mg_test_free_channels(y, 2);
        y = run(mono, n, ps, NULL);
        double e = fmax(max_err(y[0], mono[0], n), max_err(y[1], mono[1], n));
        snprintf(what, sizeof what, "W-3: mono input, width %g, max |out - in| (<= 1e-7)", w);
        CHECK(e <= 1e-7, "%s: %g", what, e);
        if (w == 4)
            mg_test_report(what, e, "");
        mg_test_free_channels(y, 2);
    }
    free(mono[0]);
    free(mono[1]);
    mg_test_free_channels(x, 2);
}

/* W-4: 1 kHz on L only at -6 dBFS, width 2: L' = 1.5 L (-2.48 dBFS), R' = -0.5 L
   (-12.04 dBFS, inverted). */
static void w4(void)
{
    long n = 48000;
    float *x[2] = {dyn_sine(1000, RATE, -6, n), calloc(n, sizeof(float))};
    dyn_param ps[] = {{"width", 2}, {NULL, 0}};
    float **y = run(x, n, ps, NULL);
    double l = dyn_db(mg_test_sine_fit(y[0], n, 1000, RATE, NULL));
    double r = dyn_db(mg_test_sine_fit(y[1], n, 1000, RATE, NULL));
    mg_test_report("W-4: L' level, 1.5 x a -6 dBFS tone (expected -2.48)", l, "dBFS");
    mg_test_report("W-4: R' level, 0.5 x a -6 dBFS tone (expected -12.02)", r, "dBFS");
    CHECK_NEAR(l, -6 + dyn_db(1.5), 0.01, "W-4: L' level");
    CHECK_NEAR(r, -6 + dyn_db(0.5), 0.01, "W-4: R' level");
    CHECK(y[1][100] * x[0][100] < 0, "W-4: R' is inverted");
    mg_test_free_channels(y, 2);
    free(x[0]);
    free(x[1]);
}

/* W-5: uncorrelated equal-power pink noise, 30 s: correlation (1 - w^2)/(1 + w^2). */
static void w5(void)
{
    long n = 30 * 48000;
    float **x = dyn_pink(RATE, 2, n, 11, -6);
    double k = mg_test_rms(x[0], n) / mg_test_rms(x[1], n);
    for (long i = 0; i < n; i++)
        x[1][i] = (float)(x[1][i] * k);
    const double widths[] = {0.5, 1, 2};
    for (int j = 0; j < 3; j++) {
        double w = widths[j], expect = (1 - w * w) / (1 + w * w), meter;
        dyn_param ps[] = {{"width", w}, {NULL, 0}};
        float **y = run(x, n, ps, &meter);
        double rho = corr_of(y[0], y[1], n);
        char what[96];
        snprintf(what, sizeof what, "W-5: width %g, correlation (expected %.3f +-0.02)", w,
                 expect);
        mg_test_report(what, rho, "");
        CHECK_NEAR(rho, expect, 0.02, what);
        mg_test_free_channels(y, 2);
    }
    mg_test_free_channels(x, 2);
}

/* Bass to mono at 150 Hz: a side-only tone (L = -R) at 30 Hz is removed, at 3 kHz kept; a
   mid-only tone keeps its level at every frequency (the allpass). */
static void bass_mono(void)
{
    long n = 48000;
    const double f[] = {30, 3000};
    const double expect_side[] = {-20 * 4 * log10(150.0 / 30) /* at least */, 0};
    for (int k = 0; k < 2; k++) {
        float *s = dyn_sine(f[k], RATE, -6, n), *ns = malloc(n * sizeof(float));
        for (long i = 0; i < n; i++)
            ns[i] = -s[i];
        float *xs[2] = {s, ns}, *xm[2] = {s, s};
        dyn_param ps[] = {{"bass_mono", 150}, {NULL, 0}};
        float **y = run(xs, n, ps, NULL);
        double side = dyn_db(mg_test_sine_fit(y[0] + n / 2, n / 2, f[k], RATE, NULL)) + 6;
        mg_test_free_channels(y, 2);
        y = run(xm, n, ps, NULL);
        double mid = dyn_db(mg_test_sine_fit(y[0] + n / 2, n / 2, f[k], RATE, NULL)) + 6;
        char what[96];
        snprintf(what, sizeof what, "bass_mono 150 Hz: side-only tone at %g Hz, gain", f[k]);
        mg_test_report(what, side, "dB");
        if (k == 0)
            CHECK(side < expect_side[0] + 3, "%s: %g dB", what, side);
        else
            CHECK_NEAR(side, 0, 0.01, what);
        snprintf(what, sizeof what, "bass_mono 150 Hz: mid-only tone at %g Hz, gain", f[k]);
        mg_test_report(what, mid, "dB");
        CHECK_NEAR(mid, 0, 0.01, what);
        mg_test_free_channels(y, 2);
        free(s);
        free(ns);
    }
}

/* Balance, encode/decode round trip, the correlation meter. */
static void misc(void)
{
    long n = 24000;
    float *a = dyn_sine(440, RATE, -6, n), *b = dyn_sine(660, RATE, -10, n);
    float *x[2] = {a, b};
    dyn_param pb[] = {{"balance", 0.5}, {NULL, 0}};
    float **y = run(x, n, pb, NULL);
    double el = 0, er = max_err(y[1], b, n);
    for (long i = 0; i < n; i++)
        el = fmax(el, fabs(y[0][i] - 0.5 * a[i]));
    CHECK(el <= 1e-7 && er <= 1e-7, "balance 0.5: L halved (%g), R kept (%g)", el, er);
    mg_test_free_channels(y, 2);
    /* encode then decode (two nodes in series) gives the input back */
    mg_graph *g = mg_test_graph(RATE, 256, 2);
    mg_node *enc = mg_test_node(g, "stereo", "enc", NULL, 0);
    mg_node *dec = mg_test_node(g, "stereo", "dec", NULL, 0);
    CHECK_OK(mg_node_set(enc, "mode", 1), g);
    CHECK_OK(mg_node_set(dec, "mode", 2), g);
    CHECK_OK(mg_connect(dyn_source(g, "x", x, 2, n), 0, enc, 0), g);
    CHECK_OK(mg_connect(enc, 0, dec, 0), g);
    CHECK_OK(mg_connect(dec, 0, mg_graph_output(g), 0), g);
    y = dyn_render(g, n, 256, NULL, 0, NULL);
    double e = fmax(max_err(y[0], a, n), max_err(y[1], b, n));
    mg_test_report("encode then decode: max |out - in|", e, "");
    CHECK(e <= 1e-7, "encode/decode round trip: %g", e);
    mg_test_free_channels(y, 2);
    mg_graph_free(g);
    /* meter: same tone on both sides 1, inverted -1, in quadrature 0 */
    float *c = malloc(n * sizeof(float)), *s = malloc(n * sizeof(float)), *m = malloc(n * 4);
    for (long i = 0; i < n; i++) {
        s[i] = (float)(0.3 * sin(2 * M_PI * 1000 * i / RATE));
        c[i] = (float)(0.3 * cos(2 * M_PI * 1000 * i / RATE));
        m[i] = -s[i];
    }
    const struct { float *r; double expect; const char *what; } cs[] = {
        {s, 1, "correlation meter, L = R (1)"},
        {m, -1, "correlation meter, L = -R (-1)"},
        {c, 0, "correlation meter, quadrature (0)"},
    };
    for (int k = 0; k < 3; k++) {
        float *xx[2] = {s, cs[k].r};
        double meter;
        y = run(xx, n, NULL, &meter);
        mg_test_report(cs[k].what, meter, "");
        CHECK_NEAR(meter, cs[k].expect, 0.01, cs[k].what);
        mg_test_free_channels(y, 2);
    }
    free(c);
    free(s);
    free(m);
    free(a);
    free(b);
}

/* Blocks of 1, 64 and 4096 give the same bits with width and crossover ramps. */
static void blocks(void)
{
    long n = 20000;
    float **x = dyn_pink(RATE, 2, n, 9, -6);
    float **ref = NULL;
    const int sizes[] = {4096, 64, 1};
    for (int k = 0; k < 3; k++) {
        mg_graph *g = mg_test_graph(RATE, 4096, 2);
        mg_node *st = mg_test_node(g, "stereo", "s", NULL, 0);
        CHECK_OK(mg_connect(dyn_source(g, "x", x, 2, n), 0, st, 0), g);
        CHECK_OK(mg_connect(st, 0, mg_graph_output(g), 0), g);
        dyn_event ev[] = {{3000, st, "width", 2}, {8000, st, "bass_mono", 200}};
        float **y = dyn_render(g, n, sizes[k], ev, 2, NULL);
        if (!ref) {
            ref = y;
        } else {
            long diff = 0;
            for (int c = 0; c < 2; c++)
                for (long i = 0; i < n; i++)
                    diff += y[c][i] != ref[c][i];
            CHECK(diff == 0, "block %d: %ld samples differ", sizes[k], diff);
            mg_test_free_channels(y, 2);
        }
        mg_graph_free(g);
    }
    mg_test_free_channels(ref, 2);
    mg_test_free_channels(x, 2);
}

int main(void)
{
    dyn_tmp_open("stereo");
    w1236();
    w4();
    w5();
    bass_mono();
    misc();
    blocks();
    dyn_tmp_close();
    return mg_test_done("test_stereo");
}
