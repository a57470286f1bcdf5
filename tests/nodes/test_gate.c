/*
** test_gate.c: the `gate` and `expander` nodes against DSP_TESTS §7 (G-1 .. G-7): unity gain
** when open, the range when closed, hysteresis, hold, the 1:2 expander curve and its floor,
** attack and release times, and the sidechain key filter (effective key level measured by
** bisecting the threshold); then lookahead, block-size independence (blocks 1, 64, 4096
** bit-identical, with ramps) and the meter.
**
** Same carrier method as test_compressor.c: a 1 kHz square (|x| constant), so the per-sample
** gain |y[n] / x[n - latency]| is the gain the node applied.
*/
#include "dyn_signals.h"
#include "mg_dynamics.h"

#define RATE 48000.0
#define SEC 48000L

static float **gate1(const char *type, float *x, long n, const dyn_param *ps)
{
    return dyn_run(type, RATE, 256, &x, 1, NULL, 0, n, ps, 0, NULL, 0, NULL);
}

/* Lowest and highest per-sample gain (dB) over output frames [a, b). */
static void gain_range(const float *y, const float *x, long a, long b, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (long i = a; i < b; i++) {
        double g = dyn_gain_at(y, x, 0, i);
        *lo = fmin(*lo, g);
        *hi = fmax(*hi, g);
    }
}

/* G-1, G-2: -35 dBFS passes at unity, -45 dBFS is attenuated by the range. */
static void test_g1_g2(void)
{
    const double lv[] = {-35, -45};
    const double expect[] = {0, -60}, tol[] = {0.01, 0.5};
    for (int k = 0; k < 2; k++) {
        float *x = dyn_square_steps(1000, RATE, &lv[k], 1, SEC / 2);
        dyn_param ps[] = {{"threshold", -40}, {"range", -60}, {NULL, 0}};
        float **y = gate1("gate", x, SEC / 2, ps);
        double lo, hi;
        gain_range(y[0], x, 0, SEC / 2, &lo, &hi);
        char what[96];
        snprintf(what, sizeof what, "G-%d: gain at %.0f dBFS, T -40, range -60 (expected %g)",
                 k + 1, lv[k], expect[k]);
        mg_test_report(what, lo, "dB");
        CHECK_NEAR(lo, expect[k], tol[k], what);
        CHECK_NEAR(hi, expect[k], tol[k], what);
        mg_test_free_channels(y, 1);
        free(x);
    }
}

/* A range of -144 dB is silence: exact zeros once closed, from the start or once the release
   has settled. */
static void test_silence(void)
{
    const double lv[] = {-30, -60};
    const long half = SEC / 2;
    float *x = dyn_square_steps(1000, RATE, lv, 2, half);
    dyn_param ps[] = {{"threshold", -40}, {"range", -144}, {"hold", 0}, {"release", 10},
                      {NULL, 0}};
    float **y = gate1("gate", x, 2 * half, ps);
    long nz = 0, last = 0;
    for (long i = half; i < 2 * half; i++)
        if (y[0][i] != 0.0f) {
            nz += i >= half + 3 * SEC / 10;
            last = i - half;
        }
    /* the smoother lands on -144 dB within 1e-9 dB: after ln(144e9) = 25.7 release tau */
    mg_test_report("range -144, release 10 ms: last nonzero sample after closing",
                   (double)last / RATE * 1e3, "ms");
    CHECK(nz == 0, "range -144 closes to digital silence by 300 ms (%ld nonzero)", nz);
    CHECK(nz == 0, "range -144 closes to digital silence (%ld nonzero)", nz);
    mg_test_free_channels(y, 1);
    free(x);
    float *q = dyn_square_steps(1000, RATE, &lv[1], 1, half);
    y = gate1("gate", q, half, ps);
    CHECK(mg_test_peak(y[0], half) == 0, "range -144: silent from the first frame (peak %g)",
          mg_test_peak(y[0], half));
    mg_test_free_channels(y, 1);
    free(q);
}

/* G-3: open at -40, close at -44; -35 -> -43 -> -35 dBFS over 4 s never closes the gate. */
static void test_g3(void)
{
    const long n = 4 * SEC;
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++) {
        double t = (double)i / RATE;
        double lv = t < 2 ? -35 - 4 * t : -43 + 4 * (t - 2);
        x[i] = (float)(dyn_amp(lv) * dyn_square(1000, RATE, i));
    }
    const double hyst[] = {4, 0};
    for (int k = 0; k < 2; k++) {
        dyn_param ps[] = {{"threshold", -40}, {"hysteresis", hyst[k]}, {"range", -60},
                          {"hold", 0}, {NULL, 0}};
        float **y = gate1("gate", x, n, ps);
        double lo, hi;
        gain_range(y[0], x, 0, n, &lo, &hi);
        if (k == 0) {
            mg_test_report("G-3: hysteresis 4 dB, most attenuation over the ramp", -lo, "dB");
            CHECK(-lo <= 0.1, "G-3: the gate never closes (attenuation %g dB)", -lo);
        } else {
            mg_test_report("G-3: control, hysteresis 0: most attenuation", -lo, "dB");
            CHECK(-lo > 40, "G-3: without hysteresis the gate closes (%g dB)", -lo);
        }
        mg_test_free_channels(y, 1);
    }
    free(x);
}

/* G-4: 50 ms hold: after a drop from -30 to -60 dBFS the gain stays 0 dB for 50 ms. */
static void test_g4(void)
{
    const double lv[] = {-30, -60};
    const long half = SEC / 2;
    float *x = dyn_square_steps(1000, RATE, lv, 2, half);
    dyn_param ps[] = {{"threshold", -40}, {"range", -60}, {"hold", 50}, {"release", 100},
                      {NULL, 0}};
    float **y = gate1("gate", x, 2 * half, ps);
    long first = -1;
    double worst = 0;
    for (long i = half; i < 2 * half && first < 0; i++) {
        double g = dyn_gain_at(y[0], x, 0, i);
        if (g < -1e-6)
            first = i - half;
        else
            worst = fmax(worst, fabs(g));
    }
    double ms = (double)first / RATE * 1e3;
    mg_test_report("G-4: hold, 0 dB held after the drop for (expected 50 +- 1)", ms, "ms");
    mg_test_report("G-4: largest |gain| while held", worst, "dB");
    CHECK_NEAR(ms, 50, 1, "G-4: hold time (ms)");
    CHECK(worst < 1e-6, "G-4: gain 0 dB during hold (%g)", worst);
    double t63 = dyn_crossing(y[0], x, 0, half + first - 1, 2 * half, -0.632 * 60, -1) / RATE * 1e3;
    mg_test_report("G-4: then release to 63.2 % (expected 100)", t63, "ms");
    CHECK_NEAR(t63, 100, 5, "G-4: release after hold");
    mg_test_free_channels(y, 1);
    free(x);
}

/* G-5: expander 1:2 below T = -40: -50 dBFS comes out at -60 dBFS; the range floors it. */
static void test_g5(void)
{
    const struct {
        double lv, ratio, expect;
    } cases[] = {{-50, 2, -10}, {-45, 2, -5}, {-35, 2, 0}, {-60, 4, -60}, {-70, 4, -80}};
    for (int k = 0; k < 5; k++) {
        float *x = dyn_square_steps(1000, RATE, &cases[k].lv, 1, SEC / 2);
        dyn_param ps[] = {{"threshold", -40}, {"ratio", cases[k].ratio}, {"range", -80},
                          {NULL, 0}};
        float **y = gate1("expander", x, SEC / 2, ps);
        double g = dyn_gain_mean(y[0], x, 0, SEC / 4, SEC / 2);
        char what[96];
        snprintf(what, sizeof what, "G-5: expander 1:%g at %.0f dBFS, range -80 (expected %g)",
                 cases[k].ratio, cases[k].lv, cases[k].expect);
        mg_test_report(what, g, "dB");
        CHECK_NEAR(g, cases[k].expect, 0.1, what);
        if (k == 0) {
            double out = dyn_db(mg_test_peak(y[0] + SEC / 4, SEC / 4));
            mg_test_report("G-5: output level (expected -60)", out, "dBFS");
            CHECK_NEAR(out, -60, 0.1, "G-5: output level");
        }
        mg_test_free_channels(y, 1);
        free(x);
    }
}

/* G-6: attack and release time constants (63.2 % of the gain change at tau). */
static void test_g6(void)
{
    const double up[] = {-50, -30}, down[] = {-30, -50};
    const long half = SEC / 2;
    const char *types[] = {"gate", "expander"};
    for (int t = 0; t < 2; t++) {
        /* gate: -60 <-> 0 dB; expander 1:2: -10 <-> 0 dB */
        double span = t == 0 ? 60 : 10;
        dyn_param ps[] = {{"threshold", -40}, {"range", -60}, {"attack", 10}, {"release", 100},
                          {"hold", 0}, {"hysteresis", 0}, {NULL, 0}};
        float *x = dyn_square_steps(1000, RATE, up, 2, half);
        float **y = gate1(types[t], x, 2 * half, ps);
        double ta = dyn_crossing(y[0], x, 0, half, 2 * half, -0.368 * span, 1) / RATE * 1e3;
        char what[96];
        snprintf(what, sizeof what, "G-6: %s attack, 63.2 %% of %g dB (expected 10)", types[t],
                 span);
        mg_test_report(what, ta, "ms");
        CHECK_NEAR(ta, 10, 0.5, what);
        mg_test_free_channels(y, 1);
        free(x);
        x = dyn_square_steps(1000, RATE, down, 2, half);
        y = gate1(types[t], x, 2 * half, ps);
        double tr = dyn_crossing(y[0], x, 0, half, 2 * half, -0.632 * span, -1) / RATE * 1e3;
        snprintf(what, sizeof what, "G-6: %s release, 63.2 %% of %g dB (expected 100)",
                 types[t], span);
        mg_test_report(what, tr, "ms");
        CHECK_NEAR(tr, 100, 5, what);
        mg_test_free_channels(y, 1);
        free(x);
    }
}

/* |H| in dB of the RBJ cookbook high- or low-pass (f0, Q) at f, float64, independent of the
   engine's filter code. */
static double rbj_db(int highpass, double f0, double q, double f, double rate)
{
    double w0 = 2 * M_PI * f0 / rate, cw = cos(w0), al = sin(w0) / (2 * q);
    double b0 = highpass ? (1 + cw) / 2 : (1 - cw) / 2, b1 = highpass ? -(1 + cw) : 1 - cw;
    double a0 = 1 + al, a1 = -2 * cw, a2 = 1 - al;
    double w = 2 * M_PI * f / rate;
    double nr = b0 + b1 * cos(w) + b0 * cos(2 * w), ni = -b1 * sin(w) - b0 * sin(2 * w);
    double dr = a0 + a1 * cos(w) + a2 * cos(2 * w), di = -a1 * sin(w) - a2 * sin(2 * w);
    return 10 * log10((nr * nr + ni * ni) / (dr * dr + di * di));
}

/*
** The key level at which a gate fed `key` on its sidechain opens: bisect the threshold between
** lo and hi (instant attack and release, no hold or hysteresis; "open" = some frame after the
** filter settled passes within 30 dB of unity).
*/
static double opening_level(float *key, long n, const char *filt, double hz, double lo, double hi)
{
    const double lv[] = {-20};
    float *x = dyn_square_steps(1000, RATE, lv, 1, n);
    for (int it = 0; it < 14; it++) {
        double t = 0.5 * (lo + hi);
        dyn_param ps[] = {{"threshold", t}, {"range", -60}, {"attack", 0},   {"release", 0},
                          {"hold", 0},      {"hysteresis", 0}, {filt, hz},   {NULL, 0}};
        float **y = dyn_run("gate", RATE, 256, &x, 1, &key, 1, n, ps, 0, NULL, 0, NULL);
        double glo, ghi;
        gain_range(y[0], x, n / 2, n, &glo, &ghi);
        if (ghi > -30)
            lo = t; /* opened: the level is above t */
        else
            hi = t;
        mg_test_free_channels(y, 1);
    }
    free(x);
    return 0.5 * (lo + hi);
}

/* G-7: key high-pass 100 Hz (Q 0.707) on a 50 Hz key at -30 dBFS: effective level -42.3. */
static void test_g7(void)
{
    const long n = SEC / 2;
    float *key = dyn_sine(50, RATE, -30, n);
    double h = rbj_db(1, 100, 0.70710678118654752, 50, RATE);
    double eff = opening_level(key, n, "key_hpf", 100, -60, -20);
    double raw = opening_level(key, n, "key_hpf", 0, -60, -20);
    mg_test_report("G-7: |H_HPF(50 Hz)|, 100 Hz Q 0.707, analytic (spec -12.3)", h, "dB");
    mg_test_report("G-7: effective key level, HPF on (expected -42.30)", eff, "dBFS");
    mg_test_report("G-7: key level, HPF off (expected -30.00)", raw, "dBFS");
    CHECK_NEAR(eff, -30 + h, 0.2, "G-7: effective key level vs analytic");
    CHECK_NEAR(eff, -42.3, 0.2, "G-7: effective key level vs DSP_TESTS");
    CHECK_NEAR(raw, -30, 0.05, "G-7: unfiltered key level");
    /* the gate stays closed at T = effective + 0.2 dB, below the unfiltered level */
    const double lv[] = {-20};
    float *x = dyn_square_steps(1000, RATE, lv, 1, n);
    dyn_param ps[] = {{"threshold", -30 + h + 0.2}, {"range", -60}, {"key_hpf", 100},
                      {NULL, 0}};
    float **y = dyn_run("gate", RATE, 256, &x, 1, &key, 1, n, ps, 0, NULL, 0, NULL);
    double glo, ghi;
    gain_range(y[0], x, n / 2, n, &glo, &ghi);
    mg_test_report("G-7: gain with T 0.2 dB above the filtered key (expected -60)", ghi, "dB");
    CHECK_NEAR(ghi, -60, 0.01, "G-7: gate stays closed");
    mg_test_free_channels(y, 1);
    free(x);
    free(key);

    /* the low-pass: a 1 kHz key through a 500 Hz low-pass */
    key = dyn_sine(1000, RATE, -30, n);
    double hl = rbj_db(0, 500, 0.70710678118654752, 1000, RATE);
    double effl = opening_level(key, n, "key_lpf", 500, -60, -20);
    char what[96];
    snprintf(what, sizeof what, "G-7: 1 kHz key, LPF 500 Hz: effective level (expected %.2f)",
             -30 + hl);
    mg_test_report(what, effl, "dBFS");
    CHECK_NEAR(effl, -30 + hl, 0.2, "G-7: low-passed key level");
    free(key);
}

/* Lookahead: latency reported; the gate is open when the transient arrives. */
static void test_lookahead(void)
{
    const double lv[] = {-60, -20};
    const long half = SEC / 4;
    float *x = dyn_square_steps(1000, RATE, lv, 2, half);
    dyn_param ps[] = {{"threshold", -40}, {"range", -60}, {"attack", 0.5}, {NULL, 0}};
    int64_t lat = -1;
    float **y = dyn_run("gate", RATE, 256, &x, 1, NULL, 0, 2 * half, ps, 5, NULL, 0, &lat);
    mg_test_report("lookahead 5 ms: latency (expected 240)", (double)lat, "frames");
    CHECK(lat == 240, "gate latency %lld", (long long)lat);
    double g = dyn_gain_at(y[0], x, 240, half + 240);
    mg_test_report("lookahead 5 ms: gain on the first loud frame (exp -0.0027)", g, "dB");
    CHECK_NEAR(g, -60 * exp(-10.0), 0.001, "gate open ahead of the transient");
    double e = 0;
    for (long i = half + 240; i < 2 * half; i++)
        e = fmax(e, fabs(y[0][i] - x[i - 240]) / fabs(x[i - 240]));
    CHECK(e < 1e-3, "audio delayed by exactly 240 frames (rel err %g)", e);
    mg_test_free_channels(y, 1);
    free(x);
}

/* Blocks 1, 64, 4096 bit-identical, stereo with a mono sidechain, ramps and lookahead. */
static void test_blocks(void)
{
    const long n = 3 * 8192;
    const char *types[] = {"gate", "expander"};
    float *x[2] = {dyn_sine(300, RATE, -20, n), dyn_sine(450, RATE, -26, n)};
    float *key = dyn_sine(90, RATE, -30, n);
    for (long i = 0; i < n; i++) {
        double e = 0.5 + 0.5 * sin(2 * M_PI * 5 * i / RATE);
        key[i] *= (float)(e * e);
        x[0][i] *= (float)e;
        x[1][i] *= (float)(e * e);
    }
    for (int t = 0; t < 2; t++)
        for (int sc = 0; sc < 2; sc++) {
            dyn_param ps[] = {{"threshold", -34}, {"range", -50}, {"hold", 4},
                              {"release", 40},   {"key_hpf", 30}, {NULL, 0}};
            float **ref = NULL;
            const int blocks[] = {4096, 64, 1};
            for (int bi = 0; bi < 3; bi++) {
                dyn_event ev[] = {{8192, NULL, "threshold", -30}, {8192, NULL, "range", -70},
                                  {8192, NULL, "key_hpf", 150},   {16384, NULL, "link", 30},
                                  {16384, NULL, "detector", 1},   {16384, NULL, "hold", 0},
                                  {16384, NULL, "hysteresis", 6}, {16384, NULL, "key_lpf", 900}};
                float **y = dyn_run(types[t], RATE, blocks[bi], x, 2, sc ? &key : NULL, 1, n,
                                    ps, 1.5, ev, 8, NULL);
                if (!ref) {
                    ref = y;
                    long shut = 0; /* frames (lookahead 72) attenuated by more than 6 dB */
                    for (long i = 72; i < n; i++)
                        shut += fabs(y[0][i]) < 0.5 * fabs(x[0][i - 72]);
                    double pct = 100.0 * (double)shut / (double)n;
                    char what[96];
                    snprintf(what, sizeof what, "blocks: %s%s, frames gated > 6 dB (sanity)",
                             types[t], sc ? " + sidechain" : "");
                    mg_test_report(what, pct, "%");
                    CHECK(pct > 5, "%s: the setup gates (%g %%)", what, pct);
                    continue;
                }
                long diff = 0;
                for (int c = 0; c < 2; c++)
                    for (long i = 0; i < n; i++)
                        diff += memcmp(&y[c][i], &ref[c][i], sizeof(float)) != 0;
                char what[96];
                snprintf(what, sizeof what, "blocks: %s%s, block %d vs 4096: differing", types[t],
                         sc ? " + sidechain" : "", blocks[bi]);
                mg_test_report(what, (double)diff, "samples");
                CHECK(diff == 0, "%s: %ld", what, diff);
                mg_test_free_channels(y, 2);
            }
            mg_test_free_channels(ref, 2);
        }
    free(x[0]);
    free(x[1]);
    free(key);
}

/* Meter: a closed gate reports its range as gain reduction. */
static void test_meter(void)
{
    const double lv[] = {-50};
    const long n = SEC / 4;
    float *x = dyn_square_steps(1000, RATE, lv, 1, n);
    mg_graph *g = mg_test_graph(RATE, 256, 1);
    mg_node *gt = mg_test_node(g, "gate", "g", NULL, 0);
    CHECK_OK(mg_node_set(gt, "range", -60), g);
    CHECK_OK(mg_connect(dyn_source1(g, "x", x, n), 0, gt, 0), g);
    CHECK_OK(mg_connect(gt, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    double gr = mg_node_meter(gt, "gain_reduction");
    mg_test_report("meter: closed gate gain_reduction (expected 60)", gr, "dB");
    CHECK_NEAR(gr, 60, 0.01, "gate meter");
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
    free(x);
}

int main(void)
{
    dyn_tmp_open("gate");
    test_g1_g2();
    test_silence();
    test_g3();
    test_g4();
    test_g5();
    test_g6();
    test_g7();
    test_lookahead();
    test_blocks();
    test_meter();
    dyn_tmp_close();
    return mg_test_done("test_gate");
}
