/*
** test_fade.c: the `fade` and `crossfade` nodes against DSP_TESTS.md §12: linear (F-1) and
** equal-power (F-2) fades and the other curves at their documented midpoints, equal-power
** crossfades of uncorrelated pink noise (F-3) and of identical signals (F-4), sample accuracy
** with exact 0 and 1 at the requested frames (F-5), block-size independence, channels, render
** length and option errors.
**
** Gains are read exactly by fading a constant 1.0 (an `osc` at 0 Hz with phase 90 degrees);
** noise comes from the `noise` node. Runs on the test's main thread.
*/
#include "mg_test.h"

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

static const char *shapes[] = {"linear", "equal-power", "exponential", "logarithmic", "s-curve"};

/* The documented curves, in float64. */
static double curve(int shape, double u)
{
    if (u <= 0)
        return 0;
    if (u >= 1)
        return 1;
    switch (shape) {
    case 1: return sin(M_PI / 2 * u);
    case 2: return (pow(1000, u) - 1) / 999;
    case 3: return log(1 + 999 * u) / log(1000);
    case 4: return (1 - cos(M_PI * u)) / 2;
    default: return u;
    }
}

/* A constant 1.0 on `ch` channels, from frame 0 on. */
static mg_node *dc(mg_graph *g, const char *name, int ch)
{
    mg_node *o = mg_test_node(
        g, "osc", name, (mg_opt[]){num("attack", 0), num("phase", 90), num("channels", ch)}, 3);
    CHECK_OK(mg_node_set(o, "freq", 0), g);
    CHECK_OK(mg_node_set(o, "gain", 0), g);
    return o;
}

static mg_node *pink(mg_graph *g, const char *name, uint64_t seed, double dur, int ch)
{
    return mg_test_node(g, "noise", name,
                        (mg_opt[]){str("color", "pink"), num("seed", (double)seed),
                                   num("channels", ch), num("duration", dur), num("attack", 0),
                                   num("release", 0)},
                        6);
}

/* dc -> fade{opts} -> output, rendered at `block`: the fade's gain per frame. */
static float *fade_gains(const mg_opt *o, int n_opts, int block, long n)
{
    mg_graph *g = mg_test_graph(RATE, block, 1);
    mg_node *f = mg_test_node(g, "fade", "f", o, n_opts);
    CHECK_OK(mg_connect(dc(g, "dc", 1), 0, f, 0), g);
    CHECK_OK(mg_connect(f, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    float *r = y[0];
    free(y);
    mg_graph_free(g);
    return r;
}

static void check_source(void)
{
    mg_graph *g = mg_test_graph(RATE, 64, 1);
    CHECK_OK(mg_connect(dc(g, "dc", 1), 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, 1000, NULL);
    int ok = 1;
    for (long i = 0; i < 1000; i++)
        ok &= y[0][i] == 1.0f;
    CHECK(ok, "the test source is exactly 1.0");
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
}

/*
** One shape: fade-in over [12000, 24000], fade-out over [36000, 42000]. Every gain matches the
** documented formula; 0 and 1 are exact at the ends; the midpoints have the documented level.
*/
static void test_shape(int shape)
{
    const long n = 48000, S1 = 12000, E1 = 24000, S2 = 36000, E2 = 42000;
    const mg_opt o[] = {num("in_start", 0.25), num("in_length", 0.25), num("out_start", 0.75),
                        num("out_length", 0.125), str("shape", shapes[shape])};
    float *y = fade_gains(o, 5, 64, n);
    double err = 0;
    int mono = 1, exact = 1;
    for (long i = 0; i < n; i++) {
        double want = curve(shape, (double)(i - S1) / (double)(E1 - S1)) *
                      (i < S2 ? 1.0 : curve(shape, (double)(E2 - i) / (double)(E2 - S2)));
        err = fmax(err, fabs(y[i] - want));
        if (i > 0 && i <= E1)
            mono &= y[i] >= y[i - 1];
        if (i > S2)
            mono &= y[i] <= y[i - 1];
        if (i <= S1 || i >= E2)
            exact &= y[i] == 0.0f;
        if (i >= E1 && i <= S2)
            exact &= y[i] == 1.0f;
    }
    char what[128];
    double mid_in = db(y[(S1 + E1) / 2]), mid_out = db(y[(S2 + E2) / 2]);
    snprintf(what, sizeof what, "%s: fade-in level at its midpoint", shapes[shape]);
    mg_test_report(what, mid_in, "dB");
    snprintf(what, sizeof what, "%s: max |gain - formula|", shapes[shape]);
    mg_test_report(what, err * 1e9, "x 1e-9");
    static const double expect_mid[] = {-6.0206, -3.0103, -30.2706, -0.9169, -6.0206};
    CHECK_NEAR(mid_in, expect_mid[shape], 0.01, shapes[shape]);
    CHECK_NEAR(mid_out, expect_mid[shape], 0.01, shapes[shape]);
    CHECK(err <= 1e-7, "%s: gains follow the documented formula (max err %g)", shapes[shape], err);
    CHECK(mono, "%s: monotonic in and out", shapes[shape]);
    CHECK(exact, "%s: exactly 0 outside, exactly 1 between the fades", shapes[shape]);
    CHECK(y[S1 + 1] > 0 && y[E2 - 1] > 0, "%s: the fades leave 0 at their first frame",
          shapes[shape]);
    if (shape == 0 || shape == 2 || shape == 3) /* curves with a slope at u = 1; sin and
                                                   cos flatten to 1.0f in float32 there */
        CHECK(y[E1 - 1] < 1 && y[S2 + 1] < 1, "%s: the fades leave 1 at their first frame",
              shapes[shape]);
    if (shape == 0) { /* F-1: g[k] = k/N exactly as float */
        int lin = 1;
        for (long k = 0; k <= E1 - S1; k++)
            lin &= y[S1 + k] == (float)((double)k / (double)(E1 - S1));
        CHECK(lin, "F-1: linear fade g[k] = k/N");
    }
    free(y);
}

/* F-5: times that are not whole frames, at block sizes 1, 64 and 4096 (unaligned). */
static void test_sample_accuracy(void)
{
    const long n = 20000;
    const double in_s = 0.1234567, in_l = 0.0101, out_s = 0.2, out_l = 0.0333333;
    const long S1 = lround(in_s * RATE), E1 = lround((in_s + in_l) * RATE);
    const long S2 = lround(out_s * RATE), E2 = lround((out_s + out_l) * RATE);
    const mg_opt o[] = {num("in_start", in_s), num("in_length", in_l), num("out_start", out_s),
                        num("out_length", out_l), str("shape", "equal-power")};
    float *y[3];
    int blocks[3] = {1, 64, 4096};
    for (int k = 0; k < 3; k++)
        y[k] = fade_gains(o, 5, blocks[k], n);
    long first = -1, full = -1, fall = -1, last = -1;
    for (long i = 0; i < n; i++) {
        if (first < 0 && y[1][i] > 0)
            first = i;
        if (full < 0 && y[1][i] == 1.0f)
            full = i;
        if (full >= 0 && fall < 0 && y[1][i] < 1.0f)
            fall = i;
        if (y[1][i] > 0)
            last = i;
    }
    mg_test_report("F-5: fade-in: first frame with gain 0 (expected 5926)", (double)first - 1, "");
    mg_test_report("F-5: fade-in: first frame with gain 1 (expected 6411)", (double)full, "");
    mg_test_report("F-5: fade-out: last frame with gain 1 (expected 9600)", (double)fall - 1, "");
    mg_test_report("F-5: fade-out: first frame with gain 0 again (expected 11200)",
                   (double)last + 1, "");
    CHECK(S1 == 5926 && E1 == 6411 && S2 == 9600 && E2 == 11200, "F-5: test arithmetic");
    CHECK(first == S1 + 1 && y[1][S1] == 0.0f, "F-5: fade-in starts at frame %ld (first > 0: %ld)",
          S1, first);
    CHECK(full == E1 && y[1][E1 - 1] < 1.0f, "F-5: gain reaches exactly 1 at %ld (got %ld)", E1,
          full);
    CHECK(fall == S2 + 1 && y[1][S2] == 1.0f, "F-5: fade-out leaves 1 after %ld (got %ld)", S2,
          fall - 1);
    CHECK(last == E2 - 1 && y[1][E2] == 0.0f, "F-5: gain is exactly 0 from %ld (last > 0: %ld)", E2,
          last);
    double d = 0;
    for (long i = 0; i < n; i++)
        d = fmax(d, fmax(fabs(y[0][i] - y[1][i]), fabs(y[2][i] - y[1][i])));
    mg_test_report("F-5: max difference between block sizes 1, 64, 4096", d, "");
    CHECK(d == 0, "fade: identical at block sizes 1, 64, 4096 (max diff %g)", d);
    for (int k = 0; k < 3; k++)
        free(y[k]);
}

/* crossfade{opts} of a and b (either may be NULL: unconnected), rendered at `block`. */
typedef mg_node *(*maker)(mg_graph *g, const char *name, int which);

static float **xfade_render(int ch, const char *shape, double start, double length, maker mk,
                            int use_a, int use_b, int block, long n)
{
    mg_graph *g = mg_test_graph(RATE, block, ch);
    mg_node *x = mg_test_node(
        g, "crossfade", "x",
        (mg_opt[]){num("start", start), num("length", length), str("shape", shape)}, 3);
    if (use_a)
        CHECK_OK(mg_connect(mk(g, "a", 0), 0, x, 0), g);
    if (use_b)
        CHECK_OK(mg_connect(mk(g, "b", 1), 0, x, 1), g);
    CHECK_OK(mg_connect(x, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    mg_graph_free(g);
    return y;
}

#define NCH 8              /* independent noise streams per input and render */
static uint64_t pink_seed; /* pair k uses seeds 2k + 1 (a) and 2k + 2 (b) */
static mg_node *mk_pink(mg_graph *g, const char *name, int which)
{
    return pink(g, name, 2 * pink_seed + 1 + (uint64_t)which, 0, NCH);
}

/* Power of x[0..NCH)[from, to), summed over channels. */
static double power(float **x, long from, long to)
{
    double p = 0;
    for (int c = 0; c < NCH; c++)
        for (long i = from; i < to; i++)
            p += (double)x[c][i] * x[c][i];
    return p;
}

/*
** F-3: equal-power crossfade of two uncorrelated pink noises of equal level, 0.5 s to 4.5 s,
** measured two ways:
**   - summed power of the two faded noises (a alone, then b alone through the crossfade), each
**     relative to its own input in the same window (80 windows of 50 ms): free of estimation
**     noise;
**   - the crossfaded output itself against the inputs' mean power, averaged over an ensemble
**     of 256 independent pairs (32 renders x 8 channels), 8 windows of 0.5 s: the statistical
**     spread of one pair of pink noises over 0.5 s (~0.3 dB) would hide the law.
*/
static void test_uncorrelated(void)
{
    enum { R = 32, NW = 8 };
    const long n = 216000, S = 24000, E = 216000, W = 24000, WS = 2400;
    double pa[NW] = {0}, pb[NW] = {0}, py[NW] = {0}, worst_sum = 0, worst_mix = 0, lin_mid = 0;
    double corr = 0, pall = 0;
    for (int r = 0; r < R; r++) {
        pink_seed = (uint64_t)r;
        float **a = xfade_render(NCH, "linear", 100, 1, mk_pink, 1, 0, 256, n); /* a alone */
        float **b = xfade_render(NCH, "linear", 0, 0, mk_pink, 0, 1, 256, n);   /* b alone */
        float **y = xfade_render(NCH, "equal-power", 0.5, 4, mk_pink, 1, 1, 256, n);
        for (int w = 0; w < NW; w++) {
            long w0 = S + w * W;
            pa[w] += power(a, w0, w0 + W);
            pb[w] += power(b, w0, w0 + W);
            py[w] += power(y, w0, w0 + W);
        }
        for (int c = 0; c < NCH; c++)
            for (long i = S; i < E; i++)
                corr += (double)a[c][i] * b[c][i];
        pall += sqrt(power(a, S, E) * power(b, S, E));
        if (r == 0) {
            float **ya = xfade_render(NCH, "equal-power", 0.5, 4, mk_pink, 1, 0, 256, n);
            float **yb = xfade_render(NCH, "equal-power", 0.5, 4, mk_pink, 0, 1, 256, n);
            float **yl = xfade_render(NCH, "linear", 0.5, 4, mk_pink, 1, 1, 256, n);
            for (long w0 = S; w0 < E; w0 += WS) {
                double sum = power(ya, w0, w0 + WS) / power(a, w0, w0 + WS) +
                             power(yb, w0, w0 + WS) / power(b, w0, w0 + WS);
                worst_sum = fmax(worst_sum, fabs(10 * log10(sum)));
            }
            long m0 = (S + E - W) / 2, m1 = (S + E + W) / 2; /* centred on the midpoint */
            lin_mid = 10 * log10(power(yl, m0, m1) / (0.5 * (power(a, m0, m1) + power(b, m0, m1))));
            mg_test_free_channels(ya, NCH);
            mg_test_free_channels(yb, NCH);
            mg_test_free_channels(yl, NCH);
        }
        mg_test_free_channels(a, NCH);
        mg_test_free_channels(b, NCH);
        mg_test_free_channels(y, NCH);
    }
    for (int w = 0; w < NW; w++)
        worst_mix = fmax(worst_mix, fabs(10 * log10(py[w] / (0.5 * (pa[w] + pb[w])))));
    mg_test_report("F-3: worst |summed power of the two faded noises|, 80 windows", worst_sum,
                   "dB");
    mg_test_report("F-3: worst |output power re input|, 256 pairs, 8 windows", worst_mix, "dB");
    mg_test_report("F-3: mean correlation of the noise pairs over the crossfade", corr / pall, "");
    mg_test_report("F-3: linear crossfade instead, one pair, 0.5 s at the midpoint", lin_mid, "dB");
    CHECK(worst_sum <= 0.05, "F-3: summed power constant within 0.05 dB (worst %g)", worst_sum);
    CHECK(worst_mix <= 0.05, "F-3: output power constant within 0.05 dB (worst %g)", worst_mix);
    CHECK(lin_mid < -2.5, "F-3: the measure sees a linear crossfade's dip (%g dB)", lin_mid);
}

/* The same constant 1.0 into both inputs: the output is c(1-u) + c(u). */
static mg_node *shared_dc;
static mg_node *mk_same(mg_graph *g, const char *name, int which)
{
    (void)name;
    if (!which)
        shared_dc = dc(g, "dc", 1);
    return shared_dc;
}

/* F-4: identical signals: +3.01 dB at the midpoint with equal power, flat with linear. */
static void test_identical(void)
{
    const long n = 24000, S = 4800, E = 19200, M = (S + E) / 2;
    float **p = xfade_render(1, "equal-power", 0.1, 0.3, mk_same, 1, 1, 64, n);
    float **l = xfade_render(1, "linear", 0.1, 0.3, mk_same, 1, 1, 64, n);
    float **s = xfade_render(1, "s-curve", 0.1, 0.3, mk_same, 1, 1, 64, n);
    double peak = 0, law = 0, flat_l = 0, flat_s = 0;
    long at = -1;
    for (long i = 0; i < n; i++) {
        if (p[0][i] > peak)
            peak = p[0][i], at = i;
        double u = (double)(i - S) / (double)(E - S);
        double want = i < S || i >= E ? 1 : sin(M_PI / 2 * (1 - u)) + sin(M_PI / 2 * u);
        law = fmax(law, fabs(p[0][i] - want));
        flat_l = fmax(flat_l, fabs(db(l[0][i])));
        flat_s = fmax(flat_s, fabs(db(s[0][i])));
    }
    mg_test_report("F-4: equal power, identical inputs: level at the midpoint", db(p[0][M]), "dB");
    mg_test_report("F-4: equal power: frame of the peak (midpoint 12000)", (double)at, "");
    mg_test_report("F-4: linear, identical inputs: worst |level|", flat_l * 1e6, "x 1e-6 dB");
    mg_test_report("F-4: s-curve, identical inputs: worst |level|", flat_s * 1e6, "x 1e-6 dB");
    CHECK_NEAR(db(p[0][M]), 3.0103, 0.01, "F-4: +3.01 dB bump at the midpoint");
    CHECK(peak - p[0][M] <= 2e-7 && labs(at - M) < 100 && law <= 1e-6,
          "F-4: bump peaks at the midpoint (%ld), follows cos + sin (%g)", at, law);
    CHECK(flat_l <= 0.001 && flat_s <= 0.001,
          "F-4: linear and s-curve flat within 0.001 dB "
          "(%g, %g)",
          flat_l, flat_s);
    CHECK(p[0][S] == 1.0f && p[0][E] == 1.0f && p[0][S + 1] > 1.0f && p[0][E - 1] > 1.0f,
          "F-5: the crossfade runs exactly from frame %ld to %ld", S, E);
    mg_test_free_channels(p, 1);
    mg_test_free_channels(l, 1);
    mg_test_free_channels(s, 1);
}

/* DC on a, nothing on b: the gain of a alone; and the reverse. c(u)^2 + c(1-u)^2 = 1. */
static mg_node *mk_dc(mg_graph *g, const char *name, int which)
{
    (void)which;
    return dc(g, name, 1);
}

static void test_power_law(void)
{
    const long n = 24000;
    float **ga = xfade_render(1, "equal-power", 0.1, 0.3, mk_dc, 1, 0, 64, n);
    float **gb = xfade_render(1, "equal-power", 0.1, 0.3, mk_dc, 0, 1, 64, n);
    double worst = 0;
    for (long i = 0; i < n; i++)
        worst = fmax(worst,
                     fabs(10 * log10((double)ga[0][i] * ga[0][i] + (double)gb[0][i] * gb[0][i])));
    mg_test_report("F-3: equal power: worst |10 log10(ga^2 + gb^2)|, every frame", worst * 1e6,
                   "x 1e-6 dB");
    CHECK(worst <= 1e-5, "F-3: ga^2 + gb^2 = 1 at every frame (worst %g dB)", worst);
    CHECK(ga[0][0] == 1.0f && gb[0][0] == 0.0f && ga[0][n - 1] == 0.0f && gb[0][n - 1] == 1.0f,
          "crossfade: only a before, only b after");
    mg_test_free_channels(ga, 1);
    mg_test_free_channels(gb, 1);
}

/* Block-size independence of crossfade on noise; channels; render length; option errors. */
static mg_node *mk_pink_short(mg_graph *g, const char *name, int which)
{
    return pink(g, name, which ? 4 : 3, which ? 2.0 : 1.0, which ? 2 : 1);
}

static void test_misc(void)
{
    const long n = 30000;
    float **y[3];
    int blocks[3] = {1, 64, 4096};
    for (int k = 0; k < 3; k++)
        y[k] = xfade_render(2, "s-curve", 0.1, 0.3, mk_pink_short, 1, 1, blocks[k], n);
    double d = 0;
    for (int c = 0; c < 2; c++)
        for (long i = 0; i < n; i++)
            d = fmax(d, fmax(fabs(y[0][c][i] - y[1][c][i]), fabs(y[2][c][i] - y[1][c][i])));
    mg_test_report("crossfade: max difference between block sizes 1, 64, 4096", d, "");
    CHECK(d == 0, "crossfade: identical at block sizes 1, 64, 4096 (max diff %g)", d);
    /* mono a widened to stereo: before the crossfade L = R */
    double lr = 0;
    for (long i = 0; i < 4800; i++)
        lr = fmax(lr, fabs(y[1][0][i] - y[1][1][i]));
    CHECK(lr == 0 && mg_test_rms(y[1][0], 4800) > 0.01, "crossfade: mono a widened to L = R");
    for (int k = 0; k < 3; k++)
        mg_test_free_channels(y[k], 2);

    /* length: the crossfade's inputs end at 1 s and 2 s */
    mg_graph *g = mg_test_graph(RATE, 64, 2);
    mg_node *x = mg_test_node(g, "crossfade", "x", NULL, 0);
    CHECK_OK(mg_connect(mk_pink_short(g, "a", 0), 0, x, 0), g);
    CHECK_OK(mg_connect(mk_pink_short(g, "b", 1), 0, x, 1), g);
    CHECK_OK(mg_connect(x, 0, mg_graph_output(g), 0), g);
    CHECK(mg_graph_length(g) == 96000, "crossfade: render length %lld, expected 96000",
          (long long)mg_graph_length(g));
    CHECK(mg_node_output_channels(x, 0) == 2, "crossfade: stereo out");
    mg_graph_free(g);

    /* a fade does not extend the render; stereo in, stereo out */
    g = mg_test_graph(RATE, 64, 2);
    mg_node *f = mg_test_node(
        g, "fade", "f",
        (mg_opt[]){num("in_length", 0.1), num("out_start", 0.5), num("out_length", 0.4)}, 3);
    CHECK_OK(mg_connect(pink(g, "p", 5, 1.0, 2), 0, f, 0), g);
    CHECK_OK(mg_connect(f, 0, mg_graph_output(g), 0), g);
    CHECK(mg_graph_length(g) == 48000, "fade: render length %lld, expected 48000",
          (long long)mg_graph_length(g));
    float **z = mg_test_render(g, 48000, NULL);
    CHECK(mg_node_output_channels(f, 0) == 2 &&
              mg_test_peak(z[1], 2400) < mg_test_peak(z[1] + 2400, 2400) &&
              mg_test_peak(z[0] + 43200, 4800) == 0 && mg_test_peak(z[1] + 43200, 4800) == 0,
          "fade: both channels faded; silent after the fade-out");
    mg_test_free_channels(z, 2);
    mg_graph_free(g);

    g = mg_test_graph(RATE, 64, 1);
    CHECK(!mg_node_new(g, "fade", "f", (mg_opt[]){num("out_start", -0.5)}, 1) &&
              strstr(mg_graph_error(g), "out_start"),
          "fade: out_start -0.5 refused: %s", mg_graph_error(g));
    mg_graph_free(g);
}

int main(void)
{
    check_source();
    for (int s = 0; s < 5; s++)
        test_shape(s);
    test_sample_accuracy();
    test_power_law();
    test_uncorrelated();
    test_identical();
    test_misc();
    return mg_test_done("test_fade");
}
