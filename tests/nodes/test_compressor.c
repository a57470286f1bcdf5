/*
** test_compressor.c: the `compressor` node against DSP_TESTS §6 (C-1 .. C-9): static curve
** with soft and hard knee, attack and release times, the rms detector's level convention,
** external sidechain, stereo link, makeup and auto-makeup, lookahead latency and the dry/wet
** null test; then block-size independence (blocks 1, 64, 4096 bit-identical, with parameter
** ramps; and across the quiet-chunk shortcut), channel counts, the gain-reduction meter and the
** accuracy of the node's fast dB conversions.
**
** Static and timing figures use the §6 square carrier (1 kHz, 24 samples per half period at
** 48 kHz), so |x| is constant and the per-sample gain |y[n] / x[n - latency]| is the gain the
** node applied. Signals are played through the `file` node (float WAV, bit-exact).
*/
#include "dyn_signals.h"
#include "mg_dynamics.h"

#define RATE 48000.0
#define SEC 48000L

/* Mono render of the compressor with the given parameters (no sidechain, no lookahead). */
static float **comp1(float *x, long n, const dyn_param *ps)
{
    return dyn_run("compressor", RATE, 256, &x, 1, NULL, 0, n, ps, 0, NULL, 0, NULL);
}

/* C-1 and C-2: steady-state GR per 1 s level step, read over the last 10 ms of each step
   (the §6 levels plus -21.5 and -18.5 dBFS inside the soft knee), rising so that every
   step settles by attack. */
static void static_curve(double knee, const double *expect, const char *tag)
{
    const double lev[] = {-40, -26, -23, -21.5, -20, -18.5, -17, -14, -10, 0};
    const int nl = 10;
    float *x = dyn_square_steps(1000, RATE, lev, nl, SEC);
    dyn_param ps[] = {{"threshold", -20}, {"ratio", 4}, {"knee", knee}, {"attack", 1},
                      {"release", 200}, {NULL, 0}};
    float **y = comp1(x, nl * SEC, ps);
    double worst = 0;
    for (int k = 0; k < nl; k++) {
        double gr = -dyn_gain_mean(y[0], x, 0, (k + 1) * SEC - 480, (k + 1) * SEC);
        char what[96];
        snprintf(what, sizeof what, "%s: GR at %+.1f dBFS (expected %.4f)", tag, lev[k],
                 expect[k]);
        mg_test_report(what, gr, "dB");
        CHECK_NEAR(gr, expect[k], 0.05, what);
        if (fabs(gr - expect[k]) > worst)
            worst = fabs(gr - expect[k]);
    }
    char what[96];
    snprintf(what, sizeof what, "%s: worst |GR - expected|", tag);
    mg_test_report(what, worst, "dB");
    mg_test_free_channels(y, 1);
    free(x);
}

static void test_c1_c2(void)
{
    /* the §6 levels and two more inside the knee (-21.5, -18.5): 0.75 (x + 23)^2 / 12 */
    const double soft[] = {0, 0, 0, 0.140625, 0.5625, 1.265625, 2.25, 4.5, 7.5, 15.0};
    static_curve(6, soft, "C-1 W=6");
    double hard[10];
    const double lev[] = {-40, -26, -23, -21.5, -20, -18.5, -17, -14, -10, 0};
    for (int k = 0; k < 10; k++)
        hard[k] = fmax(0, (lev[k] + 20) * (1 - 1 / 4.0));
    static_curve(0, hard, "C-2 W=0");
}

/* C-3 attack (63.2 % and 90 % of 7.5 dB) and C-4 release (36.8 %). */
static void test_c3_c4(void)
{
    const double up[] = {-40, -10}, down[] = {-10, -40};
    dyn_param ps[] = {{"threshold", -20}, {"ratio", 4}, {"knee", 0}, {"attack", 10},
                      {"release", 100}, {NULL, 0}};
    long half = SEC / 2;
    float *x = dyn_square_steps(1000, RATE, up, 2, half);
    float **y = comp1(x, 2 * half, ps);
    double t63 = dyn_crossing(y[0], x, 0, half, 2 * half, -0.632 * 7.5, -1) / RATE * 1e3;
    double t90 = dyn_crossing(y[0], x, 0, half, 2 * half, -0.9 * 7.5, -1) / RATE * 1e3;
    double final = -dyn_gain_mean(y[0], x, 0, 2 * half - 480, 2 * half);
    mg_test_report("C-3: attack, 63.2 % of GR (expected 10.0)", t63, "ms");
    mg_test_report("C-3: attack, 90 % of GR (expected 23.03)", t90, "ms");
    mg_test_report("C-3: settled GR (expected 7.5)", final, "dB");
    CHECK_NEAR(t63, 10.0, 0.5, "C-3: 63.2 % time (ms)");
    CHECK_NEAR(t90, 10.0 * log(10), 0.05 * 23.03, "C-3: 90 % time (ms)");
    CHECK_NEAR(final, 7.5, 0.05, "C-3: settled GR");
    mg_test_free_channels(y, 1);
    free(x);

    x = dyn_square_steps(1000, RATE, down, 2, half);
    y = comp1(x, 2 * half, ps);
    double t37 = dyn_crossing(y[0], x, 0, half, 2 * half, -0.368 * 7.5, 1) / RATE * 1e3;
    mg_test_report("C-4: release, GR down to 36.8 % (expected 100)", t37, "ms");
    CHECK_NEAR(t37, 100.0, 5.0, "C-4: 36.8 % time (ms)");
    mg_test_free_channels(y, 1);
    free(x);
}

/*
** C-5: the rms detector reads a sine of peak x dBFS as x - 3.01 dB. The level is recovered
** from the steady-state GR on the hard-knee curve: L = T + GR / (1 - 1/R). Attack = release
** makes the smoother linear, so the rms ripple averages out instead of biasing GR.
*/
static void test_c5(void)
{
    const double freqs[] = {1000, 100}, levels[] = {-20, -6};
    const long n = 2 * SEC;
    for (int fi = 0; fi < 2; fi++)
        for (int li = 0; li < 2; li++) {
            float *x = dyn_sine(freqs[fi], RATE, levels[li], n);
            dyn_param ps[] = {{"threshold", -40}, {"ratio", 4}, {"knee", 0}, {"attack", 50},
                              {"release", 50}, {"detector", 1}, {"rms_window", 10}, {NULL, 0}};
            float **y = comp1(x, n, ps);
            double gin = mg_test_sine_fit(x + SEC, SEC, freqs[fi], RATE, NULL);
            double gout = mg_test_sine_fit(y[0] + SEC, SEC, freqs[fi], RATE, NULL);
            double gr = dyn_db(gin / gout);
            double lvl = -40 + gr / 0.75;
            char what[96];
            snprintf(what, sizeof what,
                     "C-5: rms level of %g Hz sine at %+.0f dBFS peak (exp %.2f)", freqs[fi],
                     levels[li], levels[li] - 3.0103);
            mg_test_report(what, lvl, "dB");
            CHECK_NEAR(lvl, levels[li] - 3.0103, 0.05, what);
            mg_test_free_channels(y, 1);
            free(x);
        }
    /* the peak detector on the same sine (informative: reads a little low, §6) */
    float *x = dyn_sine(1000, RATE, -20, n);
    dyn_param ps[] = {{"threshold", -40}, {"ratio", 4}, {"knee", 0}, {"attack", 1},
                      {"release", 200}, {NULL, 0}};
    float **y = comp1(x, n, ps);
    double gr = dyn_db(mg_test_sine_fit(x + SEC, SEC, 1000, RATE, NULL) /
                       mg_test_sine_fit(y[0] + SEC, SEC, 1000, RATE, NULL));
    mg_test_report("C-5: peak detector on a -20 dBFS sine (static curve: 15.0)", gr, "dB GR");
    CHECK(gr < 15.0 && gr > 14.5, "C-5: peak detector on a sine reads slightly low (GR %g)", gr);
    mg_test_free_channels(y, 1);
    free(x);
}

/* C-6: a 100 Hz square key at -6 dBFS compresses a -30 dBFS sine by 10.5 dB. */
static void test_c6(void)
{
    const long n = SEC;
    float *x = dyn_sine(1000, RATE, -30, n);
    const double kl[] = {-6}, quiet[] = {-1000}, loud[] = {-10};
    float *key = dyn_square_steps(100, RATE, kl, 1, n);
    dyn_param ps[] = {{"threshold", -20}, {"ratio", 4}, {"knee", 0}, {"attack", 1},
                      {"release", 100}, {NULL, 0}};
    float **y = dyn_run("compressor", RATE, 256, &x, 1, &key, 1, n, ps, 0, NULL, 0, NULL);
    double out = dyn_db(mg_test_sine_fit(y[0] + n / 2, n / 2, 1000, RATE, NULL));
    mg_test_report("C-6: main output with a -6 dBFS key (expected -40.5)", out, "dBFS");
    CHECK_NEAR(out, -40.5, 0.1, "C-6: main output level with key");
    mg_test_free_channels(y, 1);
    free(key);

    key = dyn_square_steps(100, RATE, quiet, 1, n);
    y = dyn_run("compressor", RATE, 256, &x, 1, &key, 1, n, ps, 0, NULL, 0, NULL);
    out = dyn_db(mg_test_sine_fit(y[0] + n / 2, n / 2, 1000, RATE, NULL));
    mg_test_report("C-6: main output with the key silent (expected -30.0)", out, "dBFS");
    CHECK_NEAR(out, -30, 0.1, "C-6: key silent, GR 0");
    mg_test_free_channels(y, 1);
    free(x);

    /* a loud main with a connected silent key is not compressed: the key replaces the input */
    x = dyn_square_steps(1000, RATE, loud, 1, n);
    y = dyn_run("compressor", RATE, 256, &x, 1, &key, 1, n, ps, 0, NULL, 0, NULL);
    double gr = -dyn_gain_mean(y[0], x, 0, n / 2, n);
    mg_test_report("C-6: -10 dBFS main, silent key: GR (expected 0)", gr, "dB");
    CHECK_NEAR(gr, 0, 0.01, "C-6: silent key, loud main");
    mg_test_free_channels(y, 1);
    /* and without a sidechain the main input is its own key: 7.5 dB */
    y = comp1(x, n, ps);
    gr = -dyn_gain_mean(y[0], x, 0, n / 2, n);
    mg_test_report("C-6: -10 dBFS main, no sidechain: GR (expected 7.5)", gr, "dB");
    CHECK_NEAR(gr, 7.5, 0.05, "C-6: unconnected sidechain keys on the input");
    mg_test_free_channels(y, 1);
    free(key);
    free(x);
}

/*
** C-6 with the key filter: a 50 Hz sine key at 0 dBFS through key_hpf 100 Hz reads
** -3.01 + 20 log10|H(50)| on the rms detector (-15.31 dB), so a -30 dBFS main sine is reduced by
** 0.75 (L + 30) dB (T -30, ratio 4, hard knee); without the filter by 0.75 (-3.01 + 30).
*/
static void test_c6_key_filter(void)
{
    const long n = SEC;
    float *x = dyn_sine(1000, RATE, -30, n);
    float *key = dyn_sine(50, RATE, 0, n);
    double w0 = 2 * M_PI * 100 / RATE, cw = cos(w0), al = sin(w0) * 0.70710678118654752;
    double b0 = (1 + cw) / 2, b1 = -(1 + cw), a1 = -2 * cw, a2 = 1 - al, a0 = 1 + al;
    double w = 2 * M_PI * 50 / RATE; /* |H(e^jw)| of the RBJ high-pass, float64 */
    double nr = b0 + b1 * cos(w) + b0 * cos(2 * w), ni = -b1 * sin(w) - b0 * sin(2 * w);
    double dr = a0 + a1 * cos(w) + a2 * cos(2 * w), di = -a1 * sin(w) - a2 * sin(2 * w);
    double h = 10 * log10((nr * nr + ni * ni) / (dr * dr + di * di));
    const double hpf[] = {100, 0};
    for (int k = 0; k < 2; k++) {
        double expect = 0.75 * (-3.0103 + (k == 0 ? h : 0) + 30);
        dyn_param ps[] = {{"threshold", -30}, {"ratio", 4},        {"knee", 0},
                          {"attack", 50},     {"release", 50},     {"detector", 1},
                          {"rms_window", 50}, {"key_hpf", hpf[k]}, {NULL, 0}};
        float **y = dyn_run("compressor", RATE, 256, &x, 1, &key, 1, n, ps, 0, NULL, 0, NULL);
        double gr = -30 - dyn_db(mg_test_sine_fit(y[0] + n / 2, n / 2, 1000, RATE, NULL));
        char what[96];
        snprintf(what, sizeof what, "C-6: 50 Hz key, key_hpf %g Hz: GR (expected %.3f)", hpf[k],
                 expect);
        mg_test_report(what, gr, "dB");
        CHECK_NEAR(gr, expect, 0.1, what);
        mg_test_free_channels(y, 1);
    }
    free(x);
    free(key);
}

/* C-7: L at -6, R at -40 dBFS; link 100 % gives both 10.5 dB, 0 % only L, 75 % in between. */
static void test_c7(void)
{
    const long n = SEC;
    const double ll[] = {-6}, rl[] = {-40};
    float *x[2] = {dyn_square_steps(1000, RATE, ll, 1, n), dyn_square_steps(1000, RATE, rl, 1, n)};
    const double links[] = {100, 0, 75};
    /* expected GR: L always 10.5; R from its linked level (1 - l)(-40) + l(-6) */
    for (int k = 0; k < 3; k++) {
        double l = links[k] / 100, rlev = (1 - l) * -40 + l * -6;
        double expect_r = fmax(0, (rlev + 20) * 0.75);
        dyn_param ps[] = {{"threshold", -20}, {"ratio", 4}, {"knee", 0}, {"attack", 1},
                          {"release", 100}, {"link", links[k]}, {NULL, 0}};
        float **y = dyn_run("compressor", RATE, 256, x, 2, NULL, 0, n, ps, 0, NULL, 0, NULL);
        double grl = -dyn_gain_mean(y[0], x[0], 0, n / 2, n);
        double grr = -dyn_gain_mean(y[1], x[1], 0, n / 2, n);
        char what[96];
        snprintf(what, sizeof what, "C-7: link %3.0f %%: GR left (expected 10.5)", links[k]);
        mg_test_report(what, grl, "dB");
        CHECK_NEAR(grl, 10.5, 0.05, what);
        snprintf(what, sizeof what, "C-7: link %3.0f %%: GR right (expected %.3g)", links[k],
                 expect_r);
        mg_test_report(what, grr, "dB");
        CHECK_NEAR(grr, expect_r, 0.05, what);
        if (links[k] == 100) {
            double diff = dyn_db(mg_test_rms(y[0] + n / 2, n / 2) /
                                 mg_test_rms(y[1] + n / 2, n / 2));
            mg_test_report("C-7: linked output level L - R (expected 34.0)", diff, "dB");
            CHECK_NEAR(diff, 34.0, 0.05, "C-7: R keeps its level ratio to L");
        }
        mg_test_free_channels(y, 2);
    }
    free(x[0]);
    free(x[1]);
}

/* C-8: below the threshold the output is the input plus makeup (and auto-makeup GR(0 dBFS)). */
static void test_c8(void)
{
    const long n = SEC / 2;
    const double q[] = {-40}, fs[] = {0};
    float *x = dyn_square_steps(1000, RATE, q, 1, n);
    float *xf = dyn_square_steps(1000, RATE, fs, 1, n);
    struct {
        const char *what;
        float *x;
        double makeup, automk, mix, expect;
    } cases[] = {
        {"C-8: -40 dBFS, makeup +6 (expected +6.00)", x, 6, 0, 100, 6},
        {"C-8: -40 dBFS, makeup -12.5 (expected -12.50)", x, -12.5, 0, 100, -12.5},
        {"C-8: -40 dBFS, auto makeup, W=6 (expected +15.00)", x, 0, 1, 100, 15},
        {"C-8: -40 dBFS, auto + makeup -3 (expected +12.00)", x, -3, 1, 100, 12},
        {"C-8: 0 dBFS, auto makeup (expected 0.00)", xf, 0, 1, 100, 0},
        {"C-8: -40 dBFS, makeup +6.0206, mix 50 % (expected +3.52)", x, 6.0206, 0, 50,
         dyn_db(1.5)},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        dyn_param ps[] = {{"threshold", -20}, {"ratio", 4},       {"knee", 6},
                          {"attack", 1},      {"release", 100},   {"makeup", cases[k].makeup},
                          {"auto_makeup", cases[k].automk},       {"mix", cases[k].mix},
                          {NULL, 0}};
        float **y = comp1(cases[k].x, n, ps);
        double gain = dyn_gain_mean(y[0], cases[k].x, 0, n / 2, n);
        mg_test_report(cases[k].what, gain, "dB");
        CHECK_NEAR(gain, cases[k].expect, 0.01, cases[k].what);
        mg_test_free_channels(y, 1);
    }
    free(x);
    free(xf);
}

/* Max |y[i] - x[i - d]| over the frames where both exist, in dB re full scale. */
static double null_db(const float *y, const float *x, long d, long n)
{
    double m = 0;
    for (long i = d; i < n; i++)
        m = fmax(m, fabs((double)y[i] - (double)x[i - d]));
    return m > 0 ? dyn_db(m) : -400;
}

/*
** C-9: latency reported exactly (round(lookahead * rate / 1000)); with ratio 1 the output at
** any mix is the input delayed by exactly that (dry and wet aligned); the gain moves ahead of
** the audio by the lookahead.
*/
static void test_c9(void)
{
    const long n = SEC;
    float *x = malloc((size_t)n * sizeof *x); /* two tones and a burst of "noise" */
    uint32_t r = 1;
    for (long i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)(0.4 * sin(2 * M_PI * 997 * i / RATE) + 0.3 * sin(2 * M_PI * 61 * i / RATE) +
                       (i > n / 3 && i < n / 2 ? 0.2 * ((double)r / 4294967296.0 - 0.5) : 0));
    }
    const struct {
        double rate, ms;
        int64_t frames;
    } lat[] = {{48000, 5, 240}, {44100, 1.01, 45}, {96000, 0, 0}, {48000, 0.01, 0}};
    for (int k = 0; k < 4; k++) {
        int64_t got = -1;
        dyn_param ps[] = {{"ratio", 1}, {"mix", 50}, {"threshold", -40}, {NULL, 0}};
        float **y = dyn_run("compressor", lat[k].rate, 256, &x, 1, NULL, 0, n, ps, lat[k].ms,
                            NULL, 0, &got);
        char what[96];
        snprintf(what, sizeof what, "C-9: latency, lookahead %g ms at %g Hz (expected %lld)",
                 lat[k].ms, lat[k].rate, (long long)lat[k].frames);
        mg_test_report(what, (double)got, "frames");
        CHECK(got == lat[k].frames, "%s: got %lld", what, (long long)got);
        double e = null_db(y[0], x, lat[k].frames, n);
        snprintf(what, sizeof what, "C-9: null, ratio 1, mix 50 %%, vs input delayed %lld",
                 (long long)lat[k].frames);
        mg_test_report(what, e, "dB");
        CHECK(e < -100, "C-9: null test %g dB >= -100", e);
        if (k == 0) {
            double off = null_db(y[0], x, lat[k].frames - 1, n);
            mg_test_report("C-9: same, misaligned by one frame (must fail the null)", off, "dB");
            CHECK(off > -40, "C-9: a one-frame misalignment is visible (%g dB)", off);
        }
        mg_test_free_channels(y, 1);
    }
    /* Makeup through the mix at ratio 1: out = (1 - m) xd + m 2 xd, still aligned. */
    dyn_param pm[] = {{"ratio", 1}, {"mix", 30}, {"makeup", 6.0206}, {NULL, 0}};
    float **y = dyn_run("compressor", RATE, 256, &x, 1, NULL, 0, n, pm, 5, NULL, 0, NULL);
    double m = 0;
    for (long i = 240; i < n; i++)
        m = fmax(m, fabs(y[0][i] - 1.3 * x[i - 240]));
    mg_test_report("C-9: mix 30 %, makeup x2: max |y - 1.3 xd|", m > 0 ? dyn_db(m) : -400, "dB");
    CHECK(m < 1e-5, "C-9: dry/wet aligned with makeup (%g)", m);
    mg_test_free_channels(y, 1);
    free(x);

    /* Lookahead acts ahead: -40 -> -10 dBFS step, attack 1 ms, lookahead 5 ms: the first loud
       frame out already has (1 - e^-5) of the 7.5 dB. Without lookahead it has 1 - e^(-1/48). */
    const double st[] = {-40, -10};
    float *s = dyn_square_steps(1000, RATE, st, 2, SEC / 4);
    dyn_param ps[] = {{"threshold", -20}, {"ratio", 4}, {"knee", 0}, {"attack", 1},
                      {"release", 100}, {NULL, 0}};
    y = dyn_run("compressor", RATE, 256, &s, 1, NULL, 0, SEC / 2, ps, 5, NULL, 0, NULL);
    double gr0 = -dyn_gain_at(y[0], s, 240, SEC / 4 + 240);
    double grb = -dyn_gain_at(y[0], s, 240, SEC / 4 + 239);
    mg_test_report("C-9: GR on the first loud frame, lookahead 5 ms (exp 7.449)", gr0, "dB");
    mg_test_report("C-9: GR on the last quiet frame (already ducked ahead)", grb, "dB");
    CHECK_NEAR(gr0, 7.5 * (1 - exp(-240.0 / 48)), 0.01, "C-9: GR ahead of the step");
    mg_test_free_channels(y, 1);
    free(s);
}

/* Any channel count; a mono sidechain drives every channel; blocks 1, 64, 4096 give the same
   bits with ramps running (threshold, makeup, mix, link, key filter) and lookahead. */
static void test_blocks(void)
{
    const long n = 3 * 8192;
    const int chans[] = {1, 2, 6};
    for (int ci = 0; ci < 3; ci++) {
        int ch = chans[ci];
        float *x[6], *key;
        for (int c = 0; c < ch; c++)
            x[c] = dyn_sine(200 + 150 * c, RATE, -10 - 3 * c, n);
        key = dyn_sine(80, RATE, -12, n);
        for (long i = 0; i < n; i++)
            key[i] *= (float)(0.5 + 0.5 * sin(2 * M_PI * 3 * i / RATE));
        dyn_param ps[] = {{"threshold", -24}, {"ratio", 6},     {"knee", 4},
                          {"attack", 3},      {"release", 60},  {"detector", 1},
                          {"link", 70},       {"key_hpf", 40},  {NULL, 0}};
        float **ref = NULL;
        const int blocks[] = {4096, 64, 1};
        for (int bi = 0; bi < 3; bi++) {
            dyn_event ev[] = {{8192, NULL, "threshold", -30}, {8192, NULL, "makeup", 4},
                              {8192, NULL, "key_hpf", 120},   {8192, NULL, "mix", 60},
                              {16384, NULL, "link", 20},      {16384, NULL, "detector", 0},
                              {16384, NULL, "key_lpf", 3000}, {16384, NULL, "attack", 0.5}};
            float *const *kp = ci == 0 ? NULL : &key; /* mono: no sidechain */
            float **y = dyn_run("compressor", RATE, blocks[bi], x, ch, kp, 1, n, ps, 2.5, ev,
                                8, NULL);
            if (!ref) {
                ref = y;
                double lo = 0;
                for (int c = 0; c < ch; c++)
                    lo = fmin(lo, dyn_db(mg_test_rms(y[c] + 20000, 4000) /
                                         mg_test_rms(x[c] + 20000 - 120, 4000)));
                char what[96];
                snprintf(what, sizeof what, "blocks: %d ch, most gain reduction (sanity)", ch);
                mg_test_report(what, -lo, "dB");
                CHECK(-lo > 1, "%d ch: the setup compresses (%g dB)", ch, -lo);
                continue;
            }
            long diff = 0;
            for (int c = 0; c < ch; c++)
                for (long i = 0; i < n; i++)
                    diff += memcmp(&y[c][i], &ref[c][i], sizeof(float)) != 0;
            char what[96];
            snprintf(what, sizeof what, "blocks: %d ch, block %d vs 4096: differing samples", ch,
                     blocks[bi]);
            mg_test_report(what, (double)diff, "");
            CHECK(diff == 0, "%s: %ld", what, diff);
            mg_test_free_channels(y, ch);
        }
        mg_test_free_channels(ref, ch);
        for (int c = 0; c < ch; c++)
            free(x[c]);
        free(key);
    }
}

/*
** The level and gain conversions of mg_dynamics.h against libm in float64: mg_dyn_db over every
** power the detector produces (1e-30 .. 1e30 in 2^-14 steps of log2, plus 1, 1/2, 2 and both
** sides of the range reduction's boundaries sqrt(1/2) and sqrt(2)), mg_dyn_amp over
** -143.99 .. +150 dB in 0.37 mdB steps. Stated bounds (mg_dynamics.h): 1.3e-7 and 4.4e-8 dB
** (reported in ndB = 1e-9 dB), checked with a little headroom for libm's own rounding; far
** inside the 0.01 and 0.05 dB tolerances above. Exact values: silence reads -300 dB, 0 dB is a
** gain of exactly 1, -144 dB and below exactly 0.
*/
static void test_conversions(void)
{
    double worst = 0, at = 0;
    for (double l2 = -99.65; l2 <= 99.65; l2 += 1.0 / 16384) {
        double p = exp2(l2), e = fabs(mg_dyn_db(p) - 10 * log10(p));
        if (e > worst) {
            worst = e;
            at = p;
        }
    }
    const double special[] = {1.0, 0.5, 2.0, 1.4142135623730951, 1.4142135623730954,
                              0.70710678118654746, 0.70710678118654757, 1e-30, 1e30};
    for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
        double e = fabs(mg_dyn_db(special[k]) - 10 * log10(special[k]));
        if (e > worst) {
            worst = e;
            at = special[k];
        }
    }
    char what[96];
    snprintf(what, sizeof what, "mg_dyn_db vs 10 log10: max |err| (at power %.3g)", at);
    mg_test_report(what, worst * 1e9, "ndB");
    CHECK(worst < 2e-7, "mg_dyn_db off by %g dB at %g", worst, at);
    CHECK(mg_dyn_db(0.0) == MG_DYN_FLOOR_DB, "silence reads %g dB", mg_dyn_db(0.0));
    CHECK(mg_dyn_db(1.0) == 0.0, "full scale reads %g dB", mg_dyn_db(1.0));

    worst = 0;
    for (double db = -143.99; db <= 150; db += 0.000373) {
        double e = fabs(dyn_db(mg_dyn_amp(db)) - db);
        if (e > worst) {
            worst = e;
            at = db;
        }
    }
    snprintf(what, sizeof what, "mg_dyn_amp vs 10^(dB/20): max |err| (at %.4f dB)", at);
    mg_test_report(what, worst * 1e9, "ndB");
    CHECK(worst < 1e-7, "mg_dyn_amp off by %g dB at %g dB", worst, at);
    CHECK(mg_dyn_amp(0.0) == 1.0, "0 dB is a gain of %.17g", mg_dyn_amp(0.0));
    CHECK(mg_dyn_amp(-144.0) == 0.0 && mg_dyn_amp(-1e9) == 0.0 && mg_dyn_amp(NAN) == 0.0,
          "-144 dB and below are silence");
}

/*
** Quiet chunks (no logarithms while the key is below the knee and the smoother rests at 0) must
** give the bits of the full path: a square whose level sweeps -60 -> -10 -> -60 dBFS across
** the knee, stereo and linked, soft and hard knee, with makeup; blocks 1, 64 and 4096 (so
** chunks start at different frames) are bit-identical, and the quiet part is exactly the
** makeup gain.
*/
static void test_quiet_chunks(void)
{
    const long n = SEC;
    float *x[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    for (long i = 0; i < n; i++) {
        double lv = -60 + 50 * (1 - fabs(2.0 * i / n - 1)); /* -60 .. -10 .. -60 */
        x[0][i] = (float)(dyn_amp(lv) * dyn_square(1000, RATE, i));
        x[1][i] = (float)(dyn_amp(lv - 7) * dyn_square(700, RATE, i));
    }
    const double knees[] = {6, 0};
    for (int kn = 0; kn < 2; kn++) {
        dyn_param ps[] = {{"threshold", -20}, {"knee", knees[kn]}, {"attack", 2},
                          {"release", 30},    {"makeup", 3},       {NULL, 0}};
        const int blocks[] = {4096, 64, 1};
        float **ref = NULL;
        for (int bi = 0; bi < 3; bi++) {
            float **y = dyn_run("compressor", RATE, blocks[bi], x, 2, NULL, 0, n, ps, 0, NULL, 0,
                                NULL);
            if (!ref) {
                ref = y;
                continue;
            }
            long diff = 0;
            for (int c = 0; c < 2; c++)
                for (long i = 0; i < n; i++)
                    diff += memcmp(&y[c][i], &ref[c][i], sizeof(float)) != 0;
            char what[96];
            snprintf(what, sizeof what, "quiet chunks, knee %g: block %d vs 4096: differing",
                     knees[kn], blocks[bi]);
            mg_test_report(what, (double)diff, "samples");
            CHECK(diff == 0, "%s: %ld", what, diff);
            mg_test_free_channels(y, 2);
        }
        /* below the knee (the first 0.2 s: under -50 dBFS) the gain is the makeup exactly */
        double g = mg_dyn_amp(3.0), worst = 0;
        for (long i = 0; i < n / 5; i++) {
            double v = x[0][i];
            worst = fmax(worst, fabs(ref[0][i] - (float)(v + v * (g - 1.0))));
        }
        CHECK(worst == 0, "quiet part: makeup gain off by %g", worst);
        mg_test_free_channels(ref, 2);
    }
    free(x[0]);
    free(x[1]);
}

/*
** The smoother lands exactly on a steady gain (the 1e-9 dB snap of mg_dynamics.h, which the
** quiet-chunk shortcut relies on): a square stepping -5 -> -10 -> -40 dBFS (GR 11.25, 7.5, 0 dB
** at T -20, ratio 4, hard knee). After 1 s of attack and 2.5 s of each release (22 time
** constants of 100 ms bring a 3.75 or 7.5 dB distance under 1e-9 dB), every output sample of
** the last 0.2 s has the same magnitude, at the static curve's gain, and below the knee the
** output is the input bit for bit (a gain of exactly 1) and the gain-reduction meter reads
** exactly 0 (float output hides a leftover below 1e-9 dB; the meter does not).
*/
static void test_smoother_exact(void)
{
    const double lv[] = {-5, -10, -40}, gr[] = {11.25, 7.5, 0};
    const long seg[] = {SEC, 5 * SEC / 2, 5 * SEC / 2};
    const long n = seg[0] + seg[1] + seg[2];
    float *x = malloc((size_t)n * sizeof *x);
    long end[3];
    for (long k = 0, i = 0; k < 3; k++) {
        for (long j = 0; j < seg[k]; j++, i++)
            x[i] = (float)(dyn_amp(lv[k]) * dyn_square(1000, RATE, i));
        end[k] = i;
    }
    dyn_param ps[] = {{"threshold", -20}, {"ratio", 4}, {"knee", 0}, {"attack", 10},
                      {"release", 100}, {NULL, 0}};
    double meter = -1;
    float **y = dyn_aligned("compressor", NULL, 0, RATE, 256, &x, 1, n, ps, NULL,
                            "gain_reduction", &meter);
    for (int k = 0; k < 3; k++) {
        long a = end[k] - SEC / 5, differ = 0;
        for (long i = a; i < end[k]; i++)
            differ += fabsf(y[0][i]) != fabsf(y[0][end[k] - 1]);
        double g = -dyn_gain_at(y[0], x, 0, end[k] - 1);
        char what[96];
        snprintf(what, sizeof what, "smoother settles exactly at %+.0f dBFS: GR (expected %.2f)",
                 lv[k], gr[k]);
        mg_test_report(what, g, "dB");
        CHECK_NEAR(g, gr[k], 1e-5, what);
        snprintf(what, sizeof what, "smoother at %+.0f dBFS: samples off the steady gain", lv[k]);
        mg_test_report(what, (double)differ, "");
        CHECK(differ == 0, "%s: %ld", what, differ);
    }
    long changed = 0;
    for (long i = end[2] - SEC / 5; i < end[2]; i++)
        changed += memcmp(&y[0][i], &x[i], sizeof(float)) != 0;
    mg_test_report("smoother below the knee: samples not equal to the input", (double)changed, "");
    CHECK(changed == 0, "below the knee, %ld samples differ from the input", changed);
    mg_test_report("smoother below the knee: gain_reduction meter (expected 0)", meter, "dB");
    CHECK(meter == 0.0, "gain_reduction meter reads %g dB, not exactly 0", meter);
    mg_test_free_channels(y, 1);
    free(x);
}

/* The gain-reduction meter (mg_dyn_meter, to become mg_node_desc.meter). */
static void test_meter(void)
{
    const double lv[] = {-10};
    const long n = SEC / 2;
    float *x = dyn_square_steps(1000, RATE, lv, 1, n);
    mg_graph *g = mg_test_graph(RATE, 256, 1);
    mg_node *c = mg_test_node(g, "compressor", "c", NULL, 0);
    CHECK_OK(mg_node_set(c, "knee", 0), g);
    CHECK_OK(mg_connect(dyn_source1(g, "x", x, n), 0, c, 0), g);
    CHECK_OK(mg_connect(c, 0, mg_graph_output(g), 0), g);
    float **y = mg_test_render(g, n, NULL);
    double gr = mg_node_meter(c, "gain_reduction");
    double lvl = mg_node_meter(c, "key_level");
    mg_test_report("meter: gain_reduction at -10 dBFS (expected 7.5)", gr, "dB");
    mg_test_report("meter: key_level (expected -10)", lvl, "dB");
    CHECK_NEAR(gr, 7.5, 0.01, "meter gain_reduction");
    CHECK_NEAR(lvl, -10, 0.01, "meter key_level");
    CHECK(isnan(mg_node_meter(c, "nope")), "unknown meter is NaN");
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
    free(x);
}

int main(void)
{
    dyn_tmp_open("compressor");
    test_c1_c2();
    test_c3_c4();
    test_c5();
    test_c6();
    test_c6_key_filter();
    test_c7();
    test_c8();
    test_c9();
    test_blocks();
    test_meter();
    test_quiet_chunks();
    test_smoother_exact();
    test_conversions();
    dyn_tmp_close();
    return mg_test_done("test_compressor");
}
