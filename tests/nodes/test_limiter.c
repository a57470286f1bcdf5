/*
** test_limiter.c: the `limiter` node against DSP_TESTS §3 (TPL-1 .. TPL-7), with ceiling
** C = -1 dBTP, release 50 ms and the default lookahead (2 ms, >= 1.5 ms): steady state of a
** fs/4 sine whose samples read 3 dB under its true peak, pink noise (mono and uncorrelated
** stereo), transparency below the ceiling with the exact latency, an isolated click, the
** release time constant, the stereo link, and the same at 44.1, 48 and 96 kHz. Then
** block-size independence (blocks of 1, 37, 64, 100 and 4096 frames), the meters and the
** reported latency.
**
** True peak is read two ways: the engine's BS.1770-5 meter (mg_loudness_true_peak, 4x) and an
** independent 32x reference written here: a polyphase Kaiser (beta 14) windowed sinc of
** 32 x 64 taps, evaluated between every pair of frames near the top of the signal.
*/
#include "dyn_signals.h"
#include "mg_loudness.h"
#include "mg_oversample.h"

#define C_DB (-1.0)
#define REF_OS 32
#define REF_TAPS 64 /* per phase */

static double ref_coef[REF_TAPS][REF_OS]; /* [j][p]: weight of x[i - j] in phase p */

/* The 32x reference interpolator (float64), unit DC gain per phase. */
static void ref_design(void)
{
    static double h[REF_OS * REF_TAPS];
    mg_kaiser_lowpass(h, REF_OS * REF_TAPS, 0.5 / REF_OS, 14.0);
    for (int p = 0; p < REF_OS; p++) {
        double s = 0;
        for (int j = 0; j < REF_TAPS; j++)
            s += h[REF_OS * j + p];
        for (int j = 0; j < REF_TAPS; j++)
            ref_coef[j][p] = h[REF_OS * j + p] / s;
    }
}

/* The Annex 2 4x reading (linear) of the interval ending at frame i: its 4 phases. */
static double tp4_at(const float *x, long i)
{
    double m = 0;
    for (int p = 0; p < 4; p++) {
        double acc = 0;
        for (int j = 0; j < MG_LOUDNESS_TP_TAPS; j++)
            acc += mg_loudness_tp_fir[p][j] * x[i - j];
        m = fabs(acc) > m ? fabs(acc) : m;
    }
    return m;
}

/*
** 32x true peak (linear) of x[0..n-1]: the samples, and the interpolated points between
** frames near every frame whose 4x Annex 2 reading is within 2 dB of the largest (a 4x
** interpolator under-reads by at most 0.69 dB, so the frames skipped cannot hold the peak).
*/
static double ref_true_peak(const float *x, long n)
{
    double peak = 0, top = 0;
    for (long i = 0; i < n; i++)
        peak = fabs(x[i]) > peak ? fabs(x[i]) : peak;
    for (long i = MG_LOUDNESS_TP_TAPS; i < n; i++)
        top = fmax(top, tp4_at(x, i));
    double floor = fmax(peak, top) * dyn_amp(-2);
    for (long i = REF_TAPS; i < n; i++) {
        /* phase p of frame i: sum_j c[j][p] x[i - j], near time i - REF_TAPS/2; the 4x
           reading of frame k covers times near k - 6 */
        long m = i - REF_TAPS / 2;
        if (m + 8 >= n || fmax(tp4_at(x, m + 6), tp4_at(x, m + 7)) < floor)
            continue;
        double acc[REF_OS] = {0};
        for (int j = 0; j < REF_TAPS; j++)
            for (int p = 0; p < REF_OS; p++)
                acc[p] += ref_coef[j][p] * x[i - j];
        for (int p = 0; p < REF_OS; p++)
            peak = fabs(acc[p]) > peak ? fabs(acc[p]) : peak;
    }
    return peak;
}

/* The engine's 4x meter over planar channels. */
static double meter_true_peak(float *const *y, int ch, long n, double rate)
{
    mg_loudness *m = mg_loudness_new(rate, ch, NULL);
    mg_loudness_add(m, (const float *const *)y, (size_t)n);
    double tp = mg_loudness_true_peak(m, MG_LOUDNESS_ALL);
    mg_loudness_free(m);
    return tp;
}

/*
** The limiter fed planar x (ch channels, n frames), rendered for n + latency frames and
** returned aligned: y[c][i] is the output for input frame i. *latency: frames reported.
*/
static float **limit(double rate, int block, float *const *x, int ch, long n,
                     const dyn_param *ps, int64_t *latency, double *gr_max)
{
    double m;
    float **y = dyn_aligned("limiter", NULL, 0, rate, block, x, ch, n, ps, latency, "gr_max", &m);
    if (gr_max)
        *gr_max = m;
    return y;
}

/* Both true-peak readings of y, in dBTP, checked against the ceiling: 4x <= C + tol4,
   32x <= C + tol32. */
static void check_tp(const char *tag, float *const *y, int ch, long n, double rate, double tol4,
                     double tol32, double *tp32_out)
{
    double tp4 = dyn_db(meter_true_peak(y, ch, n, rate)), tp32 = -1000;
    for (int c = 0; c < ch; c++)
        tp32 = fmax(tp32, dyn_db(ref_true_peak(y[c], n)));
    char what[128];
    snprintf(what, sizeof what, "%s: output true peak, 4x BS.1770 (<= %.2f)", tag, C_DB + tol4);
    mg_test_report(what, tp4, "dBTP");
    CHECK(tp4 <= C_DB + tol4, "%s: 4x true peak %.4f dBTP over %.2f", tag, tp4, C_DB + tol4);
    snprintf(what, sizeof what, "%s: output true peak, 32x reference (<= %.2f)", tag,
             C_DB + tol32);
    mg_test_report(what, tp32, "dBTP");
    CHECK(tp32 <= C_DB + tol32, "%s: 32x true peak %.4f dBTP over %.2f", tag, tp32,
          C_DB + tol32);
    if (tp32_out)
        *tp32_out = tp32;
}

static const dyn_param base[] = {{"ceiling", C_DB}, {"release", 50}, {"gain", 12}, {NULL, 0}};

/* TPL-1: fs/4 sine at 45 degrees (true peak 0.5, samples +-0.354), 10 s, 0.1 s fades, +12 dB. */
static void tpl1(double rate)
{
    long n = lrint(10 * rate), fade = lrint(0.1 * rate);
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++) {
        double env = i < fade ? (double)i / fade : i > n - fade ? (double)(n - i) / fade : 1;
        x[i] = (float)(0.5 * env * sin(M_PI / 2 * (double)i + M_PI / 4));
    }
    float **y = limit(rate, 256, &x, 1, n, base, NULL, NULL);
    char tag[64];
    snprintf(tag, sizeof tag, "TPL-1 %.1f kHz", rate / 1000);
    check_tp(tag, y, 1, n, rate, 0.0, 0.05, NULL);
    /* steady state (the middle 8 s): no over-limiting */
    long a = lrint(1 * rate), b = lrint(9 * rate);
    double tp = dyn_db(ref_true_peak(y[0] + a, b - a));
    char what[128];
    snprintf(what, sizeof what, "%s: steady-state true peak, 32x (>= %.2f)", tag, C_DB - 0.2);
    mg_test_report(what, tp, "dBTP");
    CHECK(tp >= C_DB - 0.2, "%s: over-limiting, steady state %.4f dBTP", tag, tp);
    mg_test_free_channels(y, 1);
    free(x);
}

/* TPL-2: pink noise at -6 dBFS sample peak, +12 dB, 20 s; mono and uncorrelated stereo. */
static void tpl2(double rate, int ch, long seconds)
{
    long n = lrint((double)seconds * rate);
    /* other noise at every rate and channel count */
    float **x = dyn_pink(rate, ch, n, 20 + (uint64_t)ch + (uint64_t)rate, -6);
    double grmax;
    float **y = limit(rate, 256, x, ch, n, base, NULL, &grmax);
    char tag[64];
    snprintf(tag, sizeof tag, "TPL-2 %.1f kHz %s", rate / 1000, ch == 1 ? "mono" : "stereo");
    check_tp(tag, y, ch, n, rate, 0.0, 0.1, NULL);
    char what[128];
    snprintf(what, sizeof what, "%s: largest gain reduction (meter gr_max)", tag);
    mg_test_report(what, grmax, "dB");
    CHECK(grmax > 6 && grmax < 20, "%s: gr_max %g dB", tag, grmax);
    mg_test_free_channels(y, ch);
    mg_test_free_channels(x, ch);
}

/* TPL-3: pink noise at -20 dBFS (stereo): output = input delayed by the reported latency. */
static void tpl3(void)
{
    const double rate = 48000;
    long n = 5 * 48000;
    float **x = dyn_pink(rate, 2, n, 7, -20);
    int64_t lat;
    dyn_param ps[] = {{"ceiling", C_DB}, {"release", 50}, {NULL, 0}};
    float **y = limit(rate, 256, x, 2, n, ps, &lat, NULL);
    double err = 0, err_off = 0;
    for (int c = 0; c < 2; c++)
        for (long i = 1; i < n; i++) {
            err = fmax(err, fabs(y[c][i] - x[c][i]));
            err_off = fmax(err_off, fabs(y[c][i] - x[c][i - 1])); /* one frame off */
        }
    int64_t expect = (int64_t)lrint(2.0 * rate / 1000) + 53;
    mg_test_report("TPL-3: reported latency (frames; 2 ms lookahead + 53)", (double)lat, "");
    CHECK(lat == expect, "TPL-3: latency %lld, expected %lld", (long long)lat,
          (long long)expect);
    mg_test_report("TPL-3: max |out - in| at the reported latency (<= 1e-6)", err, "");
    CHECK(err <= 1e-6, "TPL-3: output differs from the delayed input by %g", err);
    CHECK(err_off > 1e-3, "TPL-3: one frame off should not match (%g)", err_off);
    mg_test_free_channels(y, 2);
    mg_test_free_channels(x, 2);
}

/* TPL-4: click [+1, -1, +1] x 0.9 on silence, +6 dB. */
static void tpl4(void)
{
    const double rate = 48000;
    long n = 48000;
    float *x = calloc((size_t)n, sizeof *x);
    x[20000] = 0.9f;
    x[20001] = -0.9f;
    x[20002] = 0.9f;
    dyn_param ps[] = {{"ceiling", C_DB}, {"release", 50}, {"gain", 6}, {NULL, 0}};
    float **y = limit(rate, 256, &x, 1, n, ps, NULL, NULL);
    double sp = dyn_db(mg_test_peak(y[0], n));
    mg_test_report("TPL-4: click, output sample peak (<= -1)", sp, "dBFS");
    CHECK(sp <= C_DB, "TPL-4: sample peak %.4f dBFS", sp);
    check_tp("TPL-4", y, 1, n, rate, 0.0, 0.1, NULL);
    mg_test_free_channels(y, 1);
    free(x);
}

/* TPL-5: 1 kHz square carrier 2 s at about 12 dB of gain reduction, then 30 dB lower: the
   reduction (dB) falls to 1/e of its value in the release time. Fixed and auto release. */
static void tpl5(void)
{
    const double rate = 48000;
    long seg = 2 * 48000;
    const double lev[] = {-6, -36};
    float *x = dyn_square_steps(1000, rate, lev, 2, seg);
    dyn_param ps[] = {{"ceiling", C_DB}, {"release", 50}, {"gain", 15}, {NULL, 0}};
    float **y = limit(rate, 256, &x, 1, 2 * seg, ps, NULL, NULL);
    double g0 = -dyn_gain_mean(y[0], x, 0, seg - 480, seg) + 15;
    double t = dyn_crossing(y[0], x, 0, seg, 2 * seg, 15 - g0 / exp(1.0), 1) / rate * 1e3;
    mg_test_report("TPL-5: gain reduction held before the step", g0, "dB");
    mg_test_report("TPL-5: time to 1/e of it (release 50 ms, +-10 %)", t, "ms");
    CHECK(g0 > 11 && g0 < 14, "TPL-5: gain reduction %g dB, expected about 12", g0);
    CHECK_NEAR(t, 50, 5, "TPL-5: release time constant (ms)");
    mg_test_free_channels(y, 1);
    /* auto release: after 2 s of limiting the release is slower than 50 ms */
    dyn_param pa[] = {{"ceiling", C_DB}, {"release", 50}, {"gain", 15}, {"auto_release", 1},
                      {NULL, 0}};
    y = limit(rate, 256, &x, 1, 2 * seg, pa, NULL, NULL);
    double ta = dyn_crossing(y[0], x, 0, seg, 2 * seg, 15 - g0 / exp(1.0), 1) / rate * 1e3;
    mg_test_report("TPL-5: auto release after 2 s of limiting, time to 1/e", ta, "ms");
    CHECK(ta > 150, "TPL-5: auto release should be slower after sustained limiting (%g ms)",
          ta);
    mg_test_free_channels(y, 1);
    /* ... and as fast as the fixed one after a brief over (a 5 ms burst) */
    const double burst[] = {-6, -36};
    float *xb = dyn_square_steps(1000, rate, burst, 2, 240);
    float *xl = calloc((size_t)seg, sizeof *xl);
    for (long i = 0; i < seg; i++)
        xl[i] = i < 480 ? xb[i] : (float)(dyn_amp(-36) * dyn_square(1000, rate, i));
    float **yf = limit(rate, 256, &xl, 1, seg, ps, NULL, NULL);
    y = limit(rate, 256, &xl, 1, seg, pa, NULL, NULL);
    double tf = dyn_crossing(yf[0], xl, 0, 240, seg, 15 - 3, 1);
    double tb = dyn_crossing(y[0], xl, 0, 240, seg, 15 - 3, 1);
    mg_test_report("TPL-5: after a 5 ms burst, release to 3 dB: fixed", tf / rate * 1e3, "ms");
    mg_test_report("TPL-5: after a 5 ms burst, release to 3 dB: auto", tb / rate * 1e3, "ms");
    CHECK(tb > 0 && tb < 1.2 * tf, "TPL-5: auto release after a burst %g vs fixed %g frames", tb,
          tf);
    mg_test_free_channels(y, 1);
    mg_test_free_channels(yf, 1);
    free(xb);
    free(xl);
    free(x);
}

/* Largest per-frame gain difference (dB) between two channels, over frames where both inputs
   are above -60 dBFS. */
static double gain_diff(float *const *y, float *const *x, long a, long b)
{
    double d = 0;
    for (long i = a; i < b; i++)
        if (fabs(x[0][i]) > 1e-3 && fabs(x[1][i]) > 1e-3)
            d = fmax(d, fabs(dyn_gain_at(y[0], x[0], 0, i) - dyn_gain_at(y[1], x[1], 0, i)));
    return d;
}

/* TPL-6: L 6 dB over the ceiling, R at -20 dBFS: linked, the same gain on both. */
static void tpl6(void)
{
    const double rate = 48000;
    long n = 2 * 48000;
    float *x[2] = {dyn_sine(997, rate, C_DB + 6, n), dyn_sine(1499, rate, -20, n)};
    dyn_param ps[] = {{"ceiling", C_DB}, {"release", 50}, {NULL, 0}};
    float **y = limit(rate, 256, x, 2, n, ps, NULL, NULL);
    double d = gain_diff(y, x, 0, n);
    double gl = -dyn_gain_mean(y[0], x[0], 0, n / 2, n / 2 + 4800);
    mg_test_report("TPL-6: gain reduction on L", gl, "dB");
    mg_test_report("TPL-6: largest gain difference L - R, linked (<= 0.01)", d, "dB");
    CHECK(gl > 5, "TPL-6: L should be limited by about 6 dB (%g)", gl);
    CHECK(d <= 0.01, "TPL-6: linked gains differ by %g dB", d);
    mg_test_free_channels(y, 2);
    dyn_param pu[] = {{"ceiling", C_DB}, {"release", 50}, {"link", 0}, {NULL, 0}};
    y = limit(rate, 256, x, 2, n, pu, NULL, NULL);
    double du = gain_diff(y, x, n / 2, n);
    double er = 0;
    for (long i = 0; i < n; i++)
        er = fmax(er, fabs(y[1][i] - x[1][i]));
    mg_test_report("TPL-6: unlinked (link 0): gain difference", du, "dB");
    CHECK(du > 5, "TPL-6: unlinked channels should get their own gains (%g dB)", du);
    CHECK(er == 0, "TPL-6: unlinked, R below the ceiling should pass unchanged (%g)", er);
    mg_test_free_channels(y, 2);
    free(x[0]);
    free(x[1]);
}

/* Blocks of 1, 64 and 4096 give the same bits, with a ceiling ramp in the middle. */
static void blocks(void)
{
    long n = 48000;
    float **x = dyn_pink(48000, 2, n, 3, -3);
    dyn_param ps[] = {{"gain", 6}, {NULL, 0}};
    dyn_event ev[] = {{20000, NULL, "ceiling", -6}, {30000, NULL, "link", 40}};
    long diff = dyn_block_diff("limiter", NULL, 0, ps, x, 2, n, ev, 2);
    mg_test_report("blocks 1, 64, 4096 with ramps: samples differing", (double)diff, "");
    CHECK(diff == 0, "limiter: %ld samples depend on the block size", diff);
    mg_test_free_channels(x, 2);
}

/*
** Quiet stretches skip the 8x interpolation (lim_process); blocks of 1 never do, blocks of 64
** and 4096 mostly do: pink noise 20 dB under the ceiling with bursts over it (200 ms and 1 ms,
** the second right after a 4096 block boundary) must give the same bits at every block size,
** and the bursts must be limited to the ceiling.
*/
static void quiet_skip(void)
{
    long n = 48000;
    float **x = dyn_pink(48000, 2, n, 11, -27);
    const long bursts[][2] = {{9000, 18600}, {24576, 24624}, {40000, 40003}};
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 3; k++)
            for (long i = bursts[k][0]; i < bursts[k][1]; i++)
                x[c][i] *= 20.0f; /* +26 dB: peaks near +5 dBFS with the drive below */
    dyn_param ps[] = {{"gain", 6}, {"ceiling", C_DB}, {NULL, 0}};
    long diff = dyn_block_diff("limiter", NULL, 0, ps, x, 2, n, NULL, 0);
    mg_test_report("quiet stretches skipped (blocks 4096, 64) vs none (1): samples differing",
                   (double)diff, "");
    CHECK(diff == 0, "limiter: skipping quiet frames changed %ld samples", diff);
    double gr, rate = 48000;
    float **y = limit(rate, 256, x, 2, n, ps, NULL, &gr);
    CHECK(gr > 3.0, "quiet_skip: the bursts were not limited (GR %.2f dB)", gr);
    check_tp("quiet_skip", y, 2, n, rate, 0.0, 0.1, NULL);
    mg_test_free_channels(y, 2);
    mg_test_free_channels(x, 2);
}

/*
** lim_process works in chunks of 64 frames and groups of 16 (the block's last ones shorter),
** and shares one hold/release/ramp between the channels while their reductions are the same:
** blocks of 100 and 37 frames must give the bits of blocks of 4096, with auto release and a
** partial link (the channels part ways during the bursts and share again in the quiet after).
*/
static void odd_blocks(void)
{
    const double rate = 48000;
    long n = 48000;
    float **x = dyn_pink(rate, 2, n, 5, -24);
    for (long i = 6000; i < 30000; i++) /* loud on L from 6000, on R from 15000 */
        for (int c = 0; c < 2; c++)
            x[c][i] *= i >= 6000 + 9000 * c && (i / 3000) % 2 == 0 ? 16.0f : 1.0f;
    dyn_param ps[] = {{"gain", 9}, {"ceiling", C_DB}, {"auto_release", 1}, {"link", 50},
                      {"release", 20}, {NULL, 0}};
    double gr[3];
    const int sizes[] = {4096, 100, 37};
    float **y[3];
    long diff = 0;
    for (int k = 0; k < 3; k++) {
        y[k] = limit(rate, sizes[k], x, 2, n, ps, NULL, &gr[k]);
        for (int c = 0; c < 2 && k; c++)
            for (long i = 0; i < n; i++)
                diff += y[k][c][i] != y[0][c][i];
    }
    mg_test_report("blocks 100 and 37 vs 4096, auto release, link 50 %: samples differing",
                   (double)diff, "");
    CHECK(diff == 0, "limiter: %ld samples depend on the block size", diff);
    CHECK(gr[0] > 3.0 && gr[1] == gr[0] && gr[2] == gr[0],
          "odd_blocks: gr_max %g / %g / %g dB (limiting, the same at every block size)", gr[0],
          gr[1], gr[2]);
    check_tp("odd_blocks", y[0], 2, n, rate, 0.0, 0.1, NULL);
    for (int k = 0; k < 3; k++)
        mg_test_free_channels(y[k], 2);
    mg_test_free_channels(x, 2);
}

/* A NaN and an Inf in the input do not latch: the output is finite and, 1 s later, limits
   again to the ceiling. */
static void nonfinite(void)
{
    const double rate = 48000;
    long n = 2 * 48000;
    float *x = dyn_sine(997, rate, 5, n);
    x[1000] = NAN;
    x[1001] = INFINITY;
    dyn_param ps[] = {{"ceiling", C_DB}, {NULL, 0}};
    float **y = limit(rate, 256, &x, 1, n, ps, NULL, NULL);
    long bad = 0;
    for (long i = 0; i < n; i++)
        bad += !isfinite(y[0][i]);
    double tail = dyn_db(mg_test_peak(y[0] + 48000, 48000));
    mg_test_report("NaN/Inf in the input: non-finite output samples", (double)bad, "");
    mg_test_report("  peak 1 s later (ceiling -1, +5 dBFS sine)", tail, "dBFS");
    CHECK(bad == 0, "limiter: %ld non-finite output samples", bad);
    CHECK(tail <= C_DB && tail > C_DB - 0.3, "limiter after NaN: peak %g dBFS", tail);
    mg_test_free_channels(y, 1);
    free(x);
}

int main(void)
{
    dyn_tmp_open("limiter");
    ref_design();
    /* the reference itself: a 997 Hz sine of true peak 0.9 at a random phase */
    {
        long n = 4800;
        float *s = malloc((size_t)n * sizeof *s);
        for (long i = 0; i < n; i++)
            s[i] = (float)(0.9 * sin(2 * M_PI * 19000 * i / 48000.0 + 0.3));
        double r = ref_true_peak(s, n);
        mg_test_report("32x reference on a 19 kHz sine of peak 0.9 (dB error)",
                       dyn_db(r / 0.9), "dB");
        CHECK_NEAR(dyn_db(r / 0.9), 0, 0.01, "32x reference reading");
        free(s);
    }
    tpl1(48000);
    tpl2(48000, 1, 20);
    tpl2(48000, 2, 20);
    tpl3();
    tpl4();
    tpl5();
    tpl6();
    /* TPL-7: TPL-1 and TPL-2 at 44.1 and 96 kHz */
    tpl1(44100);
    tpl2(44100, 2, 20);
    tpl1(96000);
    tpl2(96000, 2, 20);
    blocks();
    quiet_skip();
    odd_blocks();
    nonfinite();
    dyn_tmp_close();
    return mg_test_done("test_limiter");
}
