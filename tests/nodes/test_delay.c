/*
** test_delay.c: the `delay` node against DSP_TESTS §11: exact integer delay (D-1), echo
** amplitudes g^k with and without ping-pong, the loop filter against its design (D-2),
** fractional delay phase/group delay and flatness of the sinc interpolator (and the linear
** one's cos(w/2) loss, D-3), tempo sync (D-4), feedback >= 100 % bounded for 60 s (D-5),
** click-free time changes measured as spectral splatter (D-6) and the same for every other
** parameter with 70 % feedback running, the tail callback, NaN
** recovery, the split (in-loop) halves against a double-precision recursion, and block-size
** independence (bit-identical at 1, 64 and 4096). Input signals are float WAV files played by
** the `file` node (bit-exact at the graph rate).
*/
#include "dyn_signals.h"
#include "mg_filter.h"

#define RATE 48000.0

static mg_opt num(const char *name, double v) { return (mg_opt){.name = name, .num = v}; }

static float *impulse(long n, long at, float v)
{
    float *x = calloc((size_t)n, sizeof *x);
    x[at] = v;
    return x;
}

/*
** Graph: file(x, ch channels) -> delay{opts, params} -> output (ch channels); renders n
** frames. Returns the output; *gp receives the graph (caller frees) when non-NULL.
*/
static float **run_delay(float *const *x, int ch, long nx, long n, const mg_opt *o, int no,
                         const dyn_param *ps, int block, const dyn_event *ev, int nev, mg_graph **gp,
                         mg_node **dlp)
{
    mg_graph *g = mg_test_graph(RATE, block, ch);
    mg_node *dl = mg_test_node(g, "delay", "dl", o, no);
    for (; ps && ps->name; ps++)
        CHECK_OK(mg_node_set(dl, ps->name, ps->value), g);
    CHECK_OK(mg_connect(dyn_source(g, NULL, x, ch, nx), 0, dl, 0), g);
    CHECK_OK(mg_connect(dl, 0, mg_graph_output(g), 0), g);
    dyn_event evl[8];
    for (int i = 0; i < nev && i < 8; i++) {
        evl[i] = ev[i];
        if (!evl[i].node)
            evl[i].node = dl;
    }
    float **y = dyn_render(g, n, block, evl, nev, NULL);
    if (dlp)
        *dlp = dl;
    if (gp)
        *gp = g;
    else
        mg_graph_free(g);
    return y;
}

static double db(double a) { return 20 * log10(a); }

static int choice(mg_node *n, const char *param, const char *name)
{
    int i = mg_node_param_index(n, param);
    return mg_choice_index(mg_node_param_desc(n, i)->choices, name);
}

/* ---- D-1 ---- */

static void test_integer_delay(void)
{
    const long n = 2048;
    float *x = impulse(n, 0, 1.0f);
    float **y = run_delay(&x, 1, n, n, NULL, 0, (dyn_param[]){{"time", 10}, {NULL, 0}}, 64, NULL, 0,
                          NULL, NULL);
    double other = 0;
    for (long i = 0; i < n; i++)
        if (i != 480 && fabs(y[0][i]) > other)
            other = fabs(y[0][i]);
    mg_test_report("D-1: y[480] for a unit impulse, time 10 ms", y[0][480], "");
    mg_test_report("D-1: max |y| elsewhere", other, "");
    CHECK(y[0][480] == 1.0f, "D-1: y[480] = %.9g, expected exactly 1", y[0][480]);
    CHECK(other <= 1e-9, "D-1: everything else <= 1e-9 (max %g)", other);
    mg_test_free_channels(y, 1);
    free(x);
}

/* ---- D-2 ---- */

static void test_feedback_echoes(void)
{
    const long D = 4800, n = 12 * D;
    float *x = impulse(n, 0, 1.0f);
    float **y = run_delay(&x, 1, 16, n, NULL, 0,
                          (dyn_param[]){{"time", 100}, {"feedback", 50}, {NULL, 0}}, 256, NULL, 0,
                          NULL, NULL);
    double worst = 0, other = 0;
    for (int k = 1; k <= 10; k++) {
        double got = db(fabs(y[0][k * D])), want = -6.0206 * (k - 1);
        if (fabs(got - want) > worst)
            worst = fabs(got - want);
    }
    for (long i = 0; i < n; i++)
        if (i % D && fabs(y[0][i]) > other)
            other = fabs(y[0][i]);
    mg_test_report("D-2: echo level k=1..10 vs -6.02 (k-1) dB, max error", worst, "dB");
    mg_test_report("D-2: max |y| between echoes", other, "");
    CHECK(worst <= 0.01, "D-2: echoes at g^k within 0.01 dB (max err %g dB)", worst);
    CHECK(other <= 1e-9, "D-2: nothing between echoes (max %g)", other);
    mg_test_free_channels(y, 1);

    /* ping-pong, stereo: the impulse (same in both channels) enters channel 1; echo k lands
       on channel (k-1) mod 2 with g^(k-1), the other channel silent at that instant */
    float *x2[2] = {x, x};
    y = run_delay(x2, 2, 16, n, (mg_opt[]){num("ping_pong", 1)}, 1,
                  (dyn_param[]){{"time", 100}, {"feedback", 50}, {NULL, 0}}, 256, NULL, 0, NULL,
                  NULL);
    worst = 0;
    double cross = 0;
    for (int k = 1; k <= 10; k++) {
        int c = (k - 1) % 2;
        double got = db(fabs(y[c][k * D])), want = -6.0206 * (k - 1);
        if (fabs(got - want) > worst)
            worst = fabs(got - want);
        if (fabs(y[1 - c][k * D]) > cross)
            cross = fabs(y[1 - c][k * D]);
    }
    mg_test_report("D-2: ping-pong echo level error (alternating L/R)", worst, "dB");
    mg_test_report("D-2: ping-pong, level on the other channel", cross, "");
    CHECK(worst <= 0.01 && cross <= 1e-9, "D-2: ping-pong alternates (err %g dB, cross %g)",
          worst, cross);
    mg_test_free_channels(y, 2);
    free(x);
}

/* |DFT| of x[a..a+len) at freq, in dB */
static double tone_db(const float *x, long a, long len, double freq)
{
    double re = 0, im = 0, w = 2 * M_PI * freq / RATE;
    for (long i = 0; i < len; i++) {
        re += x[a + i] * cos(w * (double)i);
        im -= x[a + i] * sin(w * (double)i);
    }
    return 10 * log10(re * re + im * im);
}

/* The loop filter: echo 2's spectrum over echo 1's is g |H_lp H_hp| at every frequency. */
static void test_loop_filter(void)
{
    const long D = 4800, n = 3 * D;
    const double damp = 3000, low_cut = 200, g = 0.5;
    float *x = impulse(n, 0, 1.0f);
    float **y = run_delay(&x, 1, 16, n, NULL, 0,
                          (dyn_param[]){{"time", 100}, {"feedback", 50}, {"damp", damp},
                                   {"low_cut", low_cut}, {NULL, 0}},
                          256, NULL, 0, NULL, NULL);
    /* design of the node's loop filter (Butterworth, mg_filter.h), evaluated in float64 */
    mg_biquad lp = mg_biquad_design(MG_FT_LOWPASS, damp, 0.70710678118654752, 0, RATE);
    mg_biquad hp = mg_biquad_design(MG_FT_HIGHPASS, low_cut, 0.70710678118654752, 0, RATE);
    double worst = 0;
    const double f[] = {100, 200, 500, 1000, 2000, 3000, 5000, 8000};
    for (int k = 0; k < 8; k++) {
        double e1 = tone_db(y[0], D, D, f[k]), e2 = tone_db(y[0], 2 * D, D, f[k]);
        double want = db(g) + mg_biquad_mag_db(&lp, f[k], RATE) + mg_biquad_mag_db(&hp, f[k], RATE);
        if (fabs(e2 - e1 - want) > worst)
            worst = fabs(e2 - e1 - want);
    }
    mg_test_report("D-2: loop filter (damp 3k, low_cut 200), echo2/echo1 vs design", worst,
                   "dB max err");
    CHECK(worst <= 0.02, "D-2: loop filter follows its design within 0.02 dB (err %g)", worst);
    mg_test_free_channels(y, 1);
    free(x);
}

/* ---- D-3 ---- */

/* Least-squares a sin + b cos + c at freq; returns the phase atan2(b, a) of A sin(wt + phi). */
static double sine_phase(const float *x, long a, long n, double freq)
{
    double w = 2 * M_PI * freq / RATE;
    double m[3][4] = {{0}};
    for (long i = a; i < a + n; i++) {
        double s = sin(w * (double)i), c = cos(w * (double)i), v[3] = {s, c, 1};
        for (int r = 0; r < 3; r++) {
            for (int k = 0; k < 3; k++)
                m[r][k] += v[r] * v[k];
            m[r][3] += v[r] * x[i];
        }
    }
    double sol[3];
    mg_test_solve3(m, sol);
    return atan2(sol[1], sol[0]);
}

/* Frequency response of an impulse response h[0..n) at freq: magnitude (dB), phase. */
static void response(const float *h, long n, double freq, double *mag_db, double *phase)
{
    double re = 0, im = 0, w = 2 * M_PI * freq / RATE;
    for (long i = 0; i < n; i++) {
        re += h[i] * cos(w * (double)i);
        im -= h[i] * sin(w * (double)i);
    }
    *mag_db = 10 * log10(re * re + im * im);
    *phase = atan2(im, re);
}

/* Phase and group delay (samples) at freq, and the worst |magnitude| (dB) up to fmax. */
static void fd_measure(double d, double *pd, double *gd, double *worst_db, double *at10k)
{
    const long n = 2048;
    float *x = impulse(n, 0, 1.0f);
    float **y = run_delay(&x, 1, n, n, NULL, 0, (dyn_param[]){{"time", d * 1000 / RATE}, {NULL, 0}},
                          64, NULL, 0, NULL, NULL);
    double m, p1, p2, dw = 2 * M_PI * 1.0 / RATE;
    response(y[0], n, 1000, &m, &p1);
    response(y[0], n, 1001, &m, &p2);
    double w = 2 * M_PI * 1000 / RATE;
    /* unwrap to the expected neighbourhood */
    double ph = -p1;
    while (ph < w * d - M_PI)
        ph += 2 * M_PI;
    while (ph > w * d + M_PI)
        ph -= 2 * M_PI;
    *pd = ph / w;
    double dp = p2 - p1;
    while (dp > M_PI)
        dp -= 2 * M_PI;
    while (dp < -M_PI)
        dp += 2 * M_PI;
    *gd = -dp / dw;
    *worst_db = 0;
    for (double f = 20; f <= 10000; f += 10) {
        response(y[0], n, f, &m, &p1);
        if (fabs(m) > *worst_db)
            *worst_db = fabs(m);
    }
    response(y[0], n, 10000, at10k, &p1);
    mg_test_free_channels(y, 1);
    free(x);
}

static void test_fractional(void)
{
    /* the spec's method: a 1 kHz sine through 10.5 samples, phase fitted on both sides */
    const long n = 9600;
    float *x = calloc((size_t)n, sizeof *x);
    for (long i = 0; i < n; i++)
        x[i] = (float)(0.5 * sin(2 * M_PI * 1000 * (double)i / RATE));
    float **y = run_delay(&x, 1, n, n, NULL, 0,
                          (dyn_param[]){{"time", 10.5 * 1000 / RATE}, {NULL, 0}}, 64, NULL, 0, NULL,
                          NULL);
    double w = 2 * M_PI * 1000 / RATE;
    double dph = sine_phase(x, 100, 8000, 1000) - sine_phase(y[0], 100, 8000, 1000);
    while (dph < 0)
        dph += 2 * M_PI;
    double delay = dph / w;
    mg_test_report("D-3: 1 kHz sine, phase delay through 10.5 samples", delay, "samples");
    CHECK_NEAR(delay, 10.5, 0.01, "D-3: sine phase delay");
    double amp = mg_test_sine_fit(y[0] + 100, 8000, 1000, RATE, NULL) /
                 mg_test_sine_fit(x + 100, 8000, 1000, RATE, NULL);
    mg_test_report("D-3: 1 kHz gain", db(amp), "dB");
    mg_test_free_channels(y, 1);
    free(x);

    /* impulse responses: phase/group delay and flatness, several fractions */
    const double ds[] = {10.5, 100.25, 1000.75, 37.1};
    for (int k = 0; k < 4; k++) {
        double pd, gd, worst, m10;
        fd_measure(ds[k], &pd, &gd, &worst, &m10);
        char what[96];
        snprintf(what, sizeof what, "D-3: d=%g: phase delay @1k", ds[k]);
        mg_test_report(what, pd, "samples");
        snprintf(what, sizeof what, "D-3: d=%g: group delay @1k", ds[k]);
        mg_test_report(what, gd, "samples");
        snprintf(what, sizeof what, "D-3: d=%g: max |gain| 20 Hz-10 kHz (sinc)", ds[k]);
        mg_test_report(what, worst, "dB");
        CHECK_NEAR(pd, ds[k], 0.01, "D-3: phase delay at 1 kHz");
        CHECK_NEAR(gd, ds[k], 0.01, "D-3: group delay at 1 kHz");
        CHECK(worst <= 0.1, "D-3: d=%g flat within 0.1 dB to 10 kHz (max %g dB)", ds[k], worst);
    }
    /* below 8 samples the node interpolates linearly: cos(w/2) at f = 1/2, -2.01 dB at 10 kHz */
    double pd, gd, worst, m10;
    fd_measure(5.5, &pd, &gd, &worst, &m10);
    double want = db(cos(M_PI * 10000 / RATE));
    mg_test_report("D-3: d=5.5 (linear): gain at 10 kHz", m10, "dB");
    CHECK_NEAR(m10, want, 0.01, "D-3: linear interpolation loss at 10 kHz");
    CHECK_NEAR(pd, 5.5, 0.01, "D-3: linear interpolation phase delay");
}

/* ---- D-4 ---- */

static void test_tempo(void)
{
    const long n = 40000;
    float *x = impulse(n, 0, 1.0f);
    struct {
        const char *note;
        double bpm;
        long want;
    } cases[] = {{"1/8", 120, 12000}, {"1/8.", 120, 18000}, {"1/8t", 120, 8000},
                 {"1/4", 90, 32000},  {"1/16", 120, 6000}};
    for (int k = 0; k < 5; k++) {
        mg_graph *g = mg_test_graph(RATE, 64, 1);
        mg_node *dl = mg_test_node(g, "delay", "dl", NULL, 0);
        int ni = choice(dl, "note", cases[k].note);
        CHECK(ni > 0, "note '%s' exists", cases[k].note);
        CHECK_OK(mg_node_set(dl, "note", ni), g);
        if (k % 2) /* bpm left at 0: the node follows the graph's tempo */
            CHECK_OK(mg_graph_set_tempo(g, cases[k].bpm), g);
        else
            CHECK_OK(mg_node_set(dl, "bpm", cases[k].bpm), g);
        CHECK_OK(mg_connect(dyn_source(g, NULL, &x, 1, 16), 0, dl, 0), g);
        CHECK_OK(mg_connect(dl, 0, mg_graph_output(g), 0), g);
        float **y = dyn_render(g, n, 64, NULL, 0, NULL);
        long at = -1;
        double other = 0;
        for (long i = 0; i < n; i++) {
            if (y[0][i] == 1.0f && at < 0)
                at = i;
            else if (fabs(y[0][i]) > other)
                other = fabs(y[0][i]);
        }
        char what[96];
        snprintf(what, sizeof what, "D-4: %s at %g BPM: impulse at frame", cases[k].note,
                 cases[k].bpm);
        mg_test_report(what, (double)at, "");
        CHECK(at == cases[k].want && other <= 1e-9, "D-4: %s at %g BPM lands at %ld (got %ld, %g)",
              cases[k].note, cases[k].bpm, cases[k].want, at, other);
        mg_test_free_channels(y, 1);
        mg_graph_free(g);
    }
    free(x);
}

/* ---- D-5 ---- */

static void test_runaway(void)
{
    const long n = (long)(60 * RATE);
    mg_graph *g = mg_test_graph(RATE, 1024, 2);
    mg_node *nz = mg_test_node(g, "noise", "nz", (mg_opt[]){num("channels", 2)}, 1);
    CHECK_OK(mg_node_set(nz, "gain", 0), g); /* RMS 1, peaks sqrt(3) */
    mg_node *dl = mg_test_node(g, "delay", "dl", (mg_opt[]){num("ping_pong", 1)}, 1);
    mg_status st = mg_node_set(dl, "feedback", 150);
    CHECK(st == MG_ERR_RANGE, "feedback 150 %% refused (%s)", mg_strerror(st));
    CHECK_OK(mg_node_set(dl, "feedback", 120), g);
    CHECK_OK(mg_node_set(dl, "time", 33.3), g);
    CHECK_OK(mg_connect(nz, 0, dl, 0), g);
    CHECK_OK(mg_connect(dl, 0, mg_graph_output(g), 0), g);
    float **y = dyn_render(g, n, 1024, NULL, 0, NULL);
    double peak = 0;
    long bad = 0;
    for (int c = 0; c < 2; c++)
        for (long i = 0; i < n; i++) {
            if (!isfinite(y[c][i]))
                bad++;
            else if (fabs(y[c][i]) > peak)
                peak = fabs(y[c][i]);
        }
    double early = mg_test_rms(y[0] + 10 * 48000, 10 * 48000);
    double late = mg_test_rms(y[0] + n - 10 * 48000, 10 * 48000);
    mg_test_report("D-5: feedback 120 %, 60 s noise: output peak", peak, "");
    mg_test_report("D-5: RMS 10-20 s", early, "");
    mg_test_report("D-5: RMS 50-60 s", late, "");
    CHECK(bad == 0, "D-5: output finite (%ld bad samples)", bad);
    /* the line holds at most |x| + 2; a fractional read can overshoot by the kernel's
       sum |g| <= 1.95 */
    CHECK(peak <= 1.95 * (sqrt(3.0) + 2.0), "D-5: output bounded (peak %g)", peak);
    CHECK(late <= 1.1 * early, "D-5: no growth over the minute (%g -> %g)", early, late);
    mg_test_free_channels(y, 2);
    mg_graph_free(g);

    /* 100 % with no input after an impulse holds its level (lossless loop, bounded) */
    const long m = (long)(10 * RATE);
    float *x = impulse(m, 0, 1.0f);
    y = run_delay(&x, 1, 16, m, NULL, 0, (dyn_param[]){{"time", 50}, {"feedback", 100}, {NULL, 0}},
                  512, NULL, 0, NULL, NULL);
    double e_last = fabs(y[0][(m / 2400 - 1) * 2400]);
    mg_test_report("D-5: feedback 100 %, echo level after 10 s", e_last, "");
    CHECK_NEAR(e_last, 1.0, 1e-6, "D-5: 100 % feedback holds the echo");
    mg_test_free_channels(y, 1);
    free(x);
}

/* ---- D-6 ---- */


static double step_splatter(double fade_ms, double t2)
{
    const long n = 60000, at = 24000, N = 16384;
    float *x = calloc((size_t)n, sizeof *x);
    for (long i = 0; i < n; i++)
        x[i] = (float)(0.5 * sin(2 * M_PI * 1000 * (double)i / RATE));
    dyn_event ev[] = {{at, NULL, "time", t2}};
    float **y = run_delay(&x, 1, n, n, (mg_opt[]){num("fade", fade_ms)}, 1,
                          (dyn_param[]){{"time", 100}, {NULL, 0}}, 64, ev, t2 > 0 ? 1 : 0, NULL,
                          NULL);
    double s = dyn_splatter_db(RATE, y[0], at - N / 2 + (long)(fade_ms * 24), N, 1000);
    mg_test_free_channels(y, 1);
    free(x);
    return s;
}

static void test_time_change(void)
{
    double base = step_splatter(50, 0);
    double s50 = step_splatter(50, 130.3);
    double s50b = step_splatter(50, 100.5 * 1000 / RATE + 100); /* half a period: anti-phase */
    double s1 = step_splatter(1, 130.3);
    mg_test_report("D-6: splatter outside 1 kHz +-200 Hz, steady (no change)", base, "dB");
    mg_test_report("D-6: step 100 -> 130.3 ms, 50 ms crossfade", s50, "dB");
    mg_test_report("D-6: step by 100.5 ms (worst phase), 50 ms crossfade", s50b, "dB");
    mg_test_report("D-6: step 100 -> 130.3 ms, 1 ms crossfade (method check)", s1, "dB");
    CHECK(s50 <= -60 && s50b <= -60, "D-6: crossfaded step splatter <= -60 dB (%g, %g)", s50,
          s50b);
    CHECK(s1 > -60, "D-6: the measure sees a near-hard switch (%g dB)", s1);
}

/* Other parameter changes on a tone with echoes: no clicks either (bound -50 dB: the
   engine's 20 ms linear ramps alone measure about -58 dB, a hard step about -21 dB). */
static void test_param_changes(void)
{
    const long n = 72000, at = 48000, N = 16384, fade = 2400;
    float *x = calloc((size_t)n, sizeof *x);
    for (long i = 0; i < n; i++) /* faded in: an abrupt start would echo for a second */
        x[i] = (float)(0.25 * sin(2 * M_PI * 1000 * (double)i / RATE) *
                       (i < fade ? 0.5 - 0.5 * cos(M_PI * (double)i / fade) : 1));
    struct {
        const char *param;
        double value;
    } cases[] = {{NULL, 0},   {"feedback", 20}, {"damp", 800}, {"low_cut", 900},
                 {"mix", 30}, {"note", 12},     {"bpm", 97},   {"time", 12.3}};
    /* (bpm alone changes nothing while note = off: a control) */
    for (int k = 0; k < 8; k++) {
        dyn_event ev[] = {{at, NULL, cases[k].param, cases[k].value}};
        float **y = run_delay(&x, 1, n, n, NULL, 0,
                              (dyn_param[]){{"time", 80}, {"feedback", 70}, {"damp", 6000},
                                       {"low_cut", 100}, {"mix", 60}, {"note", 0}, {NULL, 0}},
                              128, ev, cases[k].param ? 1 : 0, NULL, NULL);
        double sp = dyn_splatter_db(RATE, y[0], at - N / 2 + 1200, N, 1000);
        char what[96];
        snprintf(what, sizeof what, "change %s -> %g (feedback 70 %%): splatter",
                 cases[k].param ? cases[k].param : "(none)", cases[k].value);
        mg_test_report(what, sp, "dB");
        CHECK(sp <= -50, "no click when %s changes (%.1f dB)",
              cases[k].param ? cases[k].param : "nothing", sp);
        mg_test_free_channels(y, 1);
    }
    free(x);
}

/* ---- tail, NaN, loops, block size ---- */

static void test_tail(void)
{
    const long D = 4800;
    mg_graph *g = mg_test_graph(RATE, 64, 1);
    float *x = impulse(16, 0, 1.0f);
    mg_node *dl = mg_test_node(g, "delay", "dl", NULL, 0);
    CHECK_OK(mg_node_set(dl, "time", 100), g);
    CHECK_OK(mg_node_set(dl, "feedback", 50), g);
    CHECK_OK(mg_connect(dyn_source(g, NULL, &x, 1, 16), 0, dl, 0), g);
    CHECK_OK(mg_connect(dl, 0, mg_graph_output(g), 0), g);
    int64_t len = mg_graph_length(g);
    /* ceil(3 / log10 2) = 10 repeats: the 10th echo (at 10 D) is -54 dB, the 11th -60.2 dB */
    mg_test_report("tail: render length, 16-frame input, 100 ms at 50 %", (double)len, "frames");
    CHECK(len == 16 + 10 * D, "tail: length %lld, expected %ld", (long long)len, 16 + 10 * D);
    float **y = dyn_render(g, 12 * D, 64, NULL, 0, NULL);
    double after = mg_test_peak(y[0] + len, 12 * D - len);
    mg_test_report("tail: peak after the reported tail", db(after), "dBFS");
    CHECK(after <= 1e-3 && fabs(y[0][10 * D]) > 1e-3, "tail: ends at -60 dB (after %g)", after);
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
    /* the length is measured when the graph compiles: a new graph with 100 % feedback */
    g = mg_test_graph(RATE, 64, 1);
    dl = mg_test_node(g, "delay", "dl", NULL, 0);
    CHECK_OK(mg_node_set(dl, "feedback", 100), g);
    CHECK_OK(mg_connect(dyn_source(g, NULL, &x, 1, 16), 0, dl, 0), g);
    CHECK_OK(mg_connect(dl, 0, mg_graph_output(g), 0), g);
    len = mg_graph_length(g);
    CHECK(len == 16 + 60 * 48000, "tail: capped at 60 s for feedback >= 100 %% (%lld)",
          (long long)len);
    mg_graph_free(g);
    free(x);
}

static void test_nan(void)
{
    const long n = 20000;
    float *x = impulse(n, 100, 1.0f);
    x[50] = NAN;
    float **y = run_delay(&x, 1, n, n, NULL, 0,
                          (dyn_param[]){{"time", 20}, {"feedback", 50}, {"damp", 5000}, {NULL, 0}},
                          64, NULL, 0, NULL, NULL);
    long bad = 0;
    for (long i = 0; i < n; i++)
        bad += !isfinite(y[0][i]);
    CHECK(bad == 0 && fabs(y[0][100 + 960]) > 0.5, "NaN input: echoes stay finite (%ld bad)", bad);
    mg_test_free_channels(y, 1);
    free(x);
}

/* Inside a graph loop: src -> sum -> delay -> gain -> sum; the output is the delay's. */
static void test_split(void)
{
    const int block = 64;
    const long D = 100, n = 4800;
    float *x = calloc((size_t)n, sizeof *x);
    for (long i = 0; i < 480; i++)
        x[i] = (float)sin(0.37 * (double)i) * (float)(1 - (double)i / 480);
    struct {
        double mix, feedback, ext_db;
    } cases[] = {{50, 0, -6.0206}, {100, 50, -144}, {80, 30, -6.0206}};
    for (int k = 0; k < 3; k++) {
        mg_graph *g = mg_test_graph(RATE, block, 1);
        mg_node *sum = mg_test_node(g, "gain", "sum", NULL, 0);
        mg_node *dl = mg_test_node(g, "delay", "dl", NULL, 0);
        mg_node *fb = mg_test_node(g, "gain", "fb", NULL, 0);
        CHECK_OK(mg_node_set(dl, "time", D * 1000.0 / RATE), g);
        CHECK_OK(mg_node_set(dl, "mix", cases[k].mix), g);
        CHECK_OK(mg_node_set(dl, "feedback", cases[k].feedback), g);
        CHECK_OK(mg_node_set(fb, "gain", cases[k].ext_db), g);
        CHECK_OK(mg_connect(dyn_source(g, NULL, &x, 1, n), 0, sum, 0), g);
        CHECK_OK(mg_connect(sum, 0, dl, 0), g);
        CHECK_OK(mg_connect(dl, 0, fb, 0), g);
        CHECK_OK(mg_connect(fb, 0, sum, 0), g);
        CHECK_OK(mg_connect(dl, 0, mg_graph_output(g), 0), g);
        float **y = dyn_render(g, n, block, NULL, 0, NULL);
        /* reference: tap = s[n-D], s = u + g tap (the node's own feedback), u = x + ext m tap
           (the graph loop), output = m tap (a read half has no dry path) */
        double *s = calloc((size_t)n, sizeof *s);
        double m = cases[k].mix / 100, g1 = cases[k].feedback / 100;
        double ext = cases[k].ext_db <= -144 ? 0 : pow(10, cases[k].ext_db / 20), err = 0;
        for (long i = 0; i < n; i++) {
            double tap = i >= D ? s[i - D] : 0;
            s[i] = x[i] + ext * m * tap + g1 * tap;
            if (fabs(m * tap - y[0][i]) > err)
                err = fabs(m * tap - y[0][i]);
        }
        char what[96];
        snprintf(what, sizeof what, "split: mix %g, feedback %g, loop gain %g dB: max err",
                 cases[k].mix, cases[k].feedback, cases[k].ext_db);
        mg_test_report(what, err, "");
        CHECK(err < 1e-5, "split: loop matches the recursion (case %d, err %g)", k, err);
        free(s);
        mg_test_free_channels(y, 1);
        mg_graph_free(g);
    }
    free(x);
}

static void test_block_size(void)
{
    const long n = 60000;
    float *x[2];
    for (int c = 0; c < 2; c++) {
        x[c] = calloc((size_t)n, sizeof(float));
        for (long i = 0; i < 20000; i++)
            x[c][i] = (float)(sin(0.013 * (double)i * (c + 1)) * exp(-(double)i / 5000));
    }
    const int blocks[] = {1, 64, 4096};
    float **ref = NULL;
    for (int b = 0; b < 3; b++) {
        dyn_event ev[] = {{7001, NULL, "time", 61.7},
                      {15013, NULL, "damp", 1500},
                      {23456, NULL, "feedback", 85},
                      {30001, NULL, "note", 12},
                      {40000, NULL, "mix", 60}};
        float **y = run_delay(x, 2, n, n, (mg_opt[]){num("ping_pong", 1)}, 1,
                              (dyn_param[]){{"time", 123.456}, {"feedback", 60}, {"damp", 4000},
                                       {"low_cut", 150}, {NULL, 0}},
                              blocks[b], ev, 5, NULL, NULL);
        if (!ref) {
            ref = y;
            continue;
        }
        int same = mg_test_same_channels(ref, y, 2, n);
        CHECK(same, "block size %d: bit-identical to block size 1", blocks[b]);
        mg_test_free_channels(y, 2);
    }
    mg_test_report("block sizes 1, 64, 4096 with 5 parameter changes: identical", 1, "");
    mg_test_free_channels(ref, 2);
    free(x[0]);
    free(x[1]);
}

int main(void)
{
    dyn_tmp_open("delay");
    test_integer_delay();
    test_feedback_echoes();
    test_loop_filter();
    test_fractional();
    test_tempo();
    test_runaway();
    test_time_change();
    test_param_changes();
    test_tail();
    test_nan();
    test_split();
    test_block_size();
    dyn_tmp_close();
    return mg_test_done("test_delay");
}
