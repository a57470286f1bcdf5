/*
** test_gainpan.c: the level nodes `gain`, `pan` and `mix` against DSP_TESTS §12: exact gain
** (GP-1), the constant-power, linear and -4.5 dB pan laws (GP-2, GP-3), stereo balance, gain
** smoothing without a jump and with the specified ramp length (GP-4), and mixing with
** per-input gains and channel widening. Signals come from the `osc` node.
*/
#include "mg_test.h"

#define RATE 48000.0

static mg_opt num(const char *name, double v) { return (mg_opt){.name = name, .num = v}; }
static mg_opt str(const char *name, const char *s) { return (mg_opt){.name = name, .str = s}; }

static double db(double x) { return 20 * log10(x); }

/* A sine source with no attack so that every frame is the steady tone. */
static mg_node *sine(mg_graph *g, const char *name, double freq, double gain, int channels)
{
    mg_node *o = mg_test_node(g, "osc", name, (mg_opt[]){num("attack", 0),
                                                          num("channels", channels)}, 2);
    CHECK_OK(mg_node_set(o, "freq", freq), g);
    CHECK_OK(mg_node_set(o, "gain", gain), g);
    return o;
}

static double max_abs_diff(const float *a, const float *b, double kb, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++)
        if (fabs(a[i] - kb * b[i]) > m)
            m = fabs(a[i] - kb * b[i]);
    return m;
}

/* GP-1: -6.0206 dB on a -6 dBFS 1 kHz sine halves it. */
static void test_gain_exact(void)
{
    const long n = 48000;
    mg_graph *g = mg_test_graph(RATE, 256, 1);
    mg_node *o = sine(g, "o", 1000, -6, 1);
    mg_node *k = mg_test_node(g, "gain", "k", NULL, 0);
    CHECK_OK(mg_node_set(k, "gain", -6.0206), g);
    CHECK_OK(mg_connect(o, 0, k, 0), g);
    CHECK_OK(mg_connect(k, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    mg_graph *g0 = mg_test_graph(RATE, 256, 1);
    CHECK_OK(mg_connect(sine(g0, "o", 1000, -6, 1), 0, mg_graph_output(g0), 0), g0);
    float **x = mg_test_render(g0, n, NULL);
    double err = max_abs_diff(y[0], x[0], 0.5, n);
    mg_test_report("GP-1: max |y - 0.5 x|, gain -6.0206 dB", err * 1e9, "x 1e-9");
    CHECK(err <= 1e-7, "GP-1: gain -6.0206 dB is x0.5 within 1e-7 (max err %g)", err);
    double ratio = mg_test_sine_fit(y[0], n, 1000, RATE, NULL) /
                   mg_test_sine_fit(x[0], n, 1000, RATE, NULL);
    CHECK_NEAR(ratio, 0.5, 1e-7, "GP-1: fitted amplitude ratio");
    mg_test_free_channels(y, 1);
    mg_test_free_channels(x, 1);
    mg_graph_free(g);
    mg_graph_free(g0);
}

/*
** Render a mono or stereo 1 kHz sine at -6 dBFS through pan (law, p); return the fitted
** amplitude of each output channel relative to the input's.
*/
static void pan_gains(const char *law, double p, int in_ch, double *gl, double *gr,
                      double *peak_l, double *peak_r)
{
    const long n = 9600;
    mg_graph *g = mg_test_graph(RATE, 64, 2);
    mg_node *o = sine(g, "o", 1000, -6, in_ch);
    mg_node *pan = mg_test_node(g, "pan", "pan", (mg_opt[]){str("law", law)}, 1);
    CHECK_OK(mg_node_set(pan, "pan", p), g);
    CHECK_OK(mg_connect(o, 0, pan, 0), g);
    CHECK_OK(mg_connect(pan, 0, mg_graph_output(g), 0), g);
    int ch;
    float **y = mg_test_render(g, n, &ch);
    CHECK(ch == 2 && mg_node_output_channels(pan, 0) == 2, "pan output is stereo");
    double a = pow(10, -6 / 20.0);
    *gl = mg_test_sine_fit(y[0], n, 1000, RATE, NULL) / a;
    *gr = mg_test_sine_fit(y[1], n, 1000, RATE, NULL) / a;
    if (peak_l)
        *peak_l = mg_test_peak(y[0], n);
    if (peak_r)
        *peak_r = mg_test_peak(y[1], n);
    mg_test_free_channels(y, ch);
    mg_graph_free(g);
}

/* GP-2: constant power. */
static void test_pan_power(void)
{
    double gl, gr, pl, pr;
    pan_gains("power", 0, 1, &gl, &gr, NULL, NULL);
    mg_test_report("GP-2: power law centre, left", db(gl), "dB");
    mg_test_report("GP-2: power law centre, right", db(gr), "dB");
    CHECK_NEAR(db(gl), -3.0103, 0.001, "GP-2: centre L (dB)");
    CHECK_NEAR(db(gr), -3.0103, 0.001, "GP-2: centre R (dB)");
    CHECK_NEAR(db(gl * pow(10, -6 / 20.0)), -9.0103, 0.01, "GP-2: centre level (dBFS)");
    double worst = 0;
    for (double p = -1; p <= 1.0001; p += 0.125) {
        pan_gains("power", p, 1, &gl, &gr, NULL, NULL);
        double th = (p + 1) * M_PI / 4;
        CHECK(fabs(gl - cos(th)) < 1e-6 && fabs(gr - sin(th)) < 1e-6,
              "GP-2: p=%g gains %g %g, expected cos/sin %g %g", p, gl, gr, cos(th), sin(th));
        if (fabs(gl * gl + gr * gr - 1) > worst)
            worst = fabs(gl * gl + gr * gr - 1);
    }
    mg_test_report("GP-2: worst |gL^2 + gR^2 - 1| over p = -1..1 step 1/8", worst * 1e9, "x 1e-9");
    CHECK(worst < 1e-5, "GP-2: constant power (worst %g)", worst);
    pan_gains("power", -1, 1, &gl, &gr, &pl, &pr);
    mg_test_report("GP-2: hard left, right channel peak (-400: digital zero)",
                   pr > 0 ? db(pr) : -400, "dBFS");
    CHECK(pr <= pow(10, -140 / 20.0), "GP-2: hard left R <= -140 dBFS (peak %g)", pr);
    CHECK_NEAR(pl, pow(10, -6 / 20.0), 1e-6, "GP-2: hard left L at full level");
    pan_gains("power", 1, 1, &gl, &gr, &pl, &pr);
    CHECK(pl <= pow(10, -140 / 20.0), "GP-2: hard right L <= -140 dBFS (peak %g)", pl);
}

/* GP-3: linear and -4.5 dB laws. */
static void test_pan_laws(void)
{
    double gl, gr, pl, pr;
    pan_gains("linear", 0, 1, &gl, &gr, NULL, NULL);
    mg_test_report("GP-3: linear law centre", db(gl), "dB");
    CHECK_NEAR(db(gl), -6.0206, 0.01, "GP-3: linear centre L (dB)");
    CHECK_NEAR(db(gr), -6.0206, 0.01, "GP-3: linear centre R (dB)");
    pan_gains("linear", 0.5, 1, &gl, &gr, NULL, NULL);
    CHECK_NEAR(gl + gr, 1, 1e-6, "GP-3: linear gL + gR = 1");
    CHECK_NEAR(gr, 0.75, 1e-6, "GP-3: linear p=0.5 right gain");
    pan_gains("-4.5", 0, 1, &gl, &gr, NULL, NULL);
    mg_test_report("GP-3: -4.5 law centre", db(gl), "dB");
    CHECK_NEAR(db(gl), -4.5, 0.01, "GP-3: -4.5 centre L (dB)");
    CHECK_NEAR(db(gr), -4.5, 0.01, "GP-3: -4.5 centre R (dB)");
    const char *laws[] = {"linear", "-4.5"};
    for (int k = 0; k < 2; k++) {
        pan_gains(laws[k], -1, 1, &gl, &gr, &pl, &pr);
        CHECK(pr == 0, "%s: hard left silences R (peak %g)", laws[k], pr);
        pan_gains(laws[k], 1, 1, &gl, &gr, &pl, &pr);
        CHECK(pl == 0, "%s: hard right silences L (peak %g)", laws[k], pl);
    }
}

/* Stereo input: balance, whatever the law. */
static void test_balance(void)
{
    const double ps[] = {0, -0.5, 0.25, -1};
    const double el[] = {1, 1, 0.75, 1}, er[] = {1, 0.5, 1, 0};
    for (int k = 0; k < 4; k++) {
        double gl, gr;
        pan_gains("power", ps[k], 2, &gl, &gr, NULL, NULL);
        char what[64];
        snprintf(what, sizeof what, "balance p=%g: L gain", ps[k]);
        CHECK_NEAR(gl, el[k], 1e-6, what);
        snprintf(what, sizeof what, "balance p=%g: R gain", ps[k]);
        CHECK_NEAR(gr, er[k], 1e-6, what);
    }
    mg_test_report("balance: stereo in, centre/-0.5/0.25/-1 checked", 4, "cases");
}

/*
** GP-4: a step 0 -> -144 dB (silence) after rendering started, on a DC level of 1 (sine at
** 0 Hz, phase 90). The gain ramps linearly in dB over 20 ms = 960 frames: no step larger
** than the ramp's own first step, silence from frame t0 + 960 (+-1).
*/
static void test_gain_smoothing(void)
{
    const long t0 = 4800, n = 3000, len = 960;
    mg_graph *g = mg_test_graph(RATE, 64, 1);
    mg_node *o = mg_test_node(g, "osc", "dc", (mg_opt[]){num("attack", 0), num("phase", 90)},
                              2);
    CHECK_OK(mg_node_set(o, "freq", 0), g);
    CHECK_OK(mg_node_set(o, "gain", 0), g);
    mg_node *k = mg_test_node(g, "gain", "k", NULL, 0);
    CHECK_OK(mg_connect(o, 0, k, 0), g);
    CHECK_OK(mg_connect(k, 0, mg_graph_output(g), 0), g);
    float **a = mg_test_render(g, t0, NULL);
    CHECK(a[0][0] == 1.0f && a[0][t0 - 1] == 1.0f, "DC source at 1.0 before the step");
    CHECK_OK(mg_node_set(k, "gain", -144), g);
    float **b = mg_test_render(g, n, NULL);
    const float *y = b[0];
    /* the ideal ramp's largest step is its first: 1 - 10^(-144/960/20) */
    double ideal = 1 - pow(10, -144.0 / (double)len / 20);
    double jump = fabs(y[0] - a[0][t0 - 1]);
    for (long i = 1; i < n; i++)
        if (fabs(y[i] - y[i - 1]) > jump)
            jump = fabs(y[i] - y[i - 1]);
    mg_test_report("GP-4: largest sample-to-sample step", jump, "");
    mg_test_report("GP-4: ideal 20 ms ramp's largest step", ideal, "");
    CHECK(jump <= ideal * 1.001, "GP-4: no jump larger than the ramp's (%g > %g)", jump, ideal);
    long end = n;
    while (end > 0 && y[end - 1] == 0)
        end--;
    mg_test_report("GP-4: ramp length (frames to silence)", (double)end, "frames");
    CHECK(labs(end - len) <= 1, "GP-4: silent after %ld frames, expected %ld +- 1", end, len);
    CHECK_NEAR(db(y[len / 2]), -72, 0.1, "GP-4: half way is -72 dB (linear in dB)");
    mg_test_free_channels(a, 1);
    mg_test_free_channels(b, 1);
    mg_graph_free(g);
}

/* mix: per-input gains, an unconnected input, mono widened to stereo, discrete otherwise. */
static void test_mix(void)
{
    const long n = 9600;
    /* references: each source alone */
    mg_graph *ga = mg_test_graph(RATE, 64, 1), *gb = mg_test_graph(RATE, 64, 1);
    CHECK_OK(mg_connect(sine(ga, "a", 440, -6, 1), 0, mg_graph_output(ga), 0), ga);
    CHECK_OK(mg_connect(sine(gb, "b", 1000, -12, 1), 0, mg_graph_output(gb), 0), gb);
    float **xa = mg_test_render(ga, n, NULL), **xb = mg_test_render(gb, n, NULL);

    mg_graph *g = mg_test_graph(RATE, 64, 1);
    mg_node *m = mg_test_node(g, "mix", "m", (mg_opt[]){num("inputs", 3)}, 1);
    CHECK(mg_node_input_count(m) == 3 && mg_node_param_index(m, "gain3") == 2,
          "mix has in1..in3 and gain1..gain3");
    CHECK_OK(mg_node_set(m, "gain1", -6.0206), g);
    CHECK_OK(mg_node_set(m, "gain2", 6.0206), g);
    CHECK_OK(mg_connect(sine(g, "a", 440, -6, 1), 0, m, 0), g);
    CHECK_OK(mg_connect(sine(g, "b", 1000, -12, 1), 0, m, 1), g);
    CHECK_OK(mg_connect(m, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    double err = 0;
    for (long i = 0; i < n; i++) {
        double e = fabs(y[0][i] - (0.5 * xa[0][i] + 2.0 * xb[0][i]));
        if (e > err)
            err = e;
    }
    mg_test_report("mix: max error of 0.5 a + 2 b", err * 1e9, "x 1e-9");
    CHECK(err < 1e-6, "mix sums with per-input gains (max err %g)", err);
    mg_test_free_channels(y, 1);
    mg_graph_free(g);

    /* mono + stereo -> stereo: the mono input feeds both sides */
    g = mg_test_graph(RATE, 64, 2);
    m = mg_test_node(g, "mix", "m", NULL, 0);
    CHECK_OK(mg_connect(sine(g, "a", 440, -6, 1), 0, m, 0), g);
    CHECK_OK(mg_connect(sine(g, "b", 1000, -12, 2), 0, m, 1), g);
    CHECK_OK(mg_connect(m, 0, mg_graph_output(g), 0), g);
    int ch;
    y = mg_test_render(g, n, &ch);
    CHECK(mg_node_output_channels(m, 0) == 2, "mix of mono and stereo is stereo (%d)",
          mg_node_output_channels(m, 0));
    err = 0;
    for (int c = 0; c < 2; c++)
        for (long i = 0; i < n; i++) {
            double e = fabs(y[c][i] - (xa[0][i] + xb[0][i]));
            if (e > err)
                err = e;
        }
    mg_test_report("mix: mono + stereo, max error of L = R = a + b", err * 1e9, "x 1e-9");
    CHECK(err < 1e-6, "mono widened to both sides (max err %g)", err);
    mg_test_free_channels(y, ch);
    mg_graph_free(g);

    /* mono + 4 channels -> 4 channels: the engine's quad rule puts mono on L and R only */
    g = mg_test_graph(RATE, 64, 4);
    m = mg_test_node(g, "mix", "m", NULL, 0);
    CHECK_OK(mg_connect(sine(g, "a", 440, -6, 1), 0, m, 0), g);
    CHECK_OK(mg_connect(sine(g, "b", 1000, -12, 4), 0, m, 1), g);
    CHECK_OK(mg_connect(m, 0, mg_graph_output(g), 0), g);
    y = mg_test_render(g, n, &ch);
    CHECK(mg_node_output_channels(m, 0) == 4, "mix output is 4 channels");
    CHECK(max_abs_diff(y[0], xb[0], 1, n) > 0.1 && max_abs_diff(y[1], xb[0], 1, n) > 0.1 &&
              max_abs_diff(y[2], xb[0], 1, n) < 1e-7 && max_abs_diff(y[3], xb[0], 1, n) < 1e-7,
          "quad: mono on L and R, not on the surrounds");
    mg_test_free_channels(y, ch);
    mg_graph_free(g);

    mg_test_free_channels(xa, 1);
    mg_test_free_channels(xb, 1);
    mg_graph_free(ga);
    mg_graph_free(gb);
}

int main(void)
{
    test_gain_exact();
    test_pan_power();
    test_pan_laws();
    test_balance();
    test_gain_smoothing();
    test_mix();
    return mg_test_done("test_gainpan");
}
