/*
** test_automation.c: parameter events, read back through the `dc` node (which outputs its
** `value` parameter sample by sample), against the analytic curve of each event type at every
** sample (1e-6 relative, 1e-6 absolute near 0); sample accuracy (an event at t lands on
** round(t * rate)); identical output for blocks of 1, 64 and 4096; cancel and hold; audio-rate
** modulation with clamping; generated (function) automation; and the error messages.
*/
#include "mg_test.h"
#include "mg_timeline.h"

#define RATE 48000.0
#define FRAMES 24000 /* 0.5 s */

static long S(double t) { return lround(t * RATE); }

typedef struct rig {
    mg_graph *g;
    mg_node *dc;
} rig;

static rig make(int block, double init)
{
    rig r;
    r.g = mg_test_graph(RATE, block, 1);
    r.dc = mg_test_node(r.g, "dc", "probe", NULL, 0);
    mg_node_set(r.dc, "value", init);
    mg_connect(r.dc, 0, mg_graph_output(r.g), 0);
    return r;
}

static mg_status ev(rig *r, mg_event_type type, double t, double v)
{
    mg_param_event e = {.type = type, .t = t, .v = v};
    return mg_node_param_event(r->dc, 0, &e);
}

static mg_status ev_k(rig *r, mg_event_type type, double t, double v, double k)
{
    mg_param_event e = {.type = type, .t = t, .v = v, .k = k, .tau = k};
    return mg_node_param_event(r->dc, 0, &e);
}

/* Compare the rendered probe with expected(i) at every sample; report the worst error. */
static void compare(rig *r, const char *what, double (*expected)(long i, const void *ud),
                    const void *ud)
{
    float **y = mg_test_render(r->g, FRAMES, NULL);
    double worst = 0;
    long at = -1;
    for (long i = 0; i < FRAMES; i++) {
        double e = expected(i, ud), err = fabs(y[0][i] - e) / fmax(fabs(e), 1.0);
        if (err > worst)
            worst = err, at = i;
    }
    char label[128];
    snprintf(label, sizeof label, "%s: worst relative error", what);
    mg_test_report(label, worst * 1e9, "ppb");
    CHECK(worst <= 1e-6, "%s: error %.3g at sample %ld (got %.9g, expected %.9g)", what, worst,
          at, at >= 0 ? y[0][at] : 0.0, at >= 0 ? expected(at, ud) : 0.0);
    mg_test_free_channels(y, 1);
    mg_graph_free(r->g);
}

/* ---- analytic curves (sample-based, Web Audio semantics) ---- */

typedef struct seg {
    double v0, v1;
    long s0, s1;
    double k;
} seg;

static double frac(long i, const seg *s) { return (double)(i - s->s0) / (double)(s->s1 - s->s0); }

static double f_set(long i, const void *ud)
{
    const seg *s = ud;
    return i < s->s1 ? s->v0 : s->v1;
}
static double f_linear(long i, const void *ud)
{
    const seg *s = ud;
    if (i < s->s0)
        return s->v0;
    if (i >= s->s1)
        return s->v1;
    double f = frac(i, s);
    if (s->k == 0)
        return s->v0 + (s->v1 - s->v0) * f;
    return s->v0 + (s->v1 - s->v0) * (1 - exp(s->k * f)) / (1 - exp(s->k));
}
static double f_exp(long i, const void *ud)
{
    const seg *s = ud;
    if (i < s->s0)
        return s->v0;
    if (i >= s->s1)
        return s->v1;
    return s->v0 * pow(s->v1 / s->v0, frac(i, s));
}
static double f_scurve(long i, const void *ud)
{
    const seg *s = ud;
    if (i < s->s0)
        return s->v0;
    if (i >= s->s1)
        return s->v1;
    return s->v0 + (s->v1 - s->v0) * 0.5 * (1 - cos(M_PI * frac(i, s)));
}
static double f_step(long i, const void *ud)
{
    const seg *s = ud;
    if (i < s->s0)
        return s->v0;
    if (i >= s->s1)
        return s->v1;
    return s->v0 + (s->v1 - s->v0) * floor(frac(i, s) * s->k + 1e-12) / s->k;
}
static double f_target(long i, const void *ud)
{
    const seg *s = ud; /* v0 until s0, then approach v1 with tau = k seconds */
    if (i < s->s0)
        return s->v0;
    return s->v1 + (s->v0 - s->v1) * exp(-(double)(i - s->s0) / (s->k * RATE));
}

static const double curve_vals[] = {0, 4, -2, 3, 3.5};
static double f_curve(long i, const void *ud)
{
    const seg *s = ud; /* v0 until s0; the curve over [s0, s1); then its last value */
    if (i < s->s0)
        return s->v0;
    if (i >= s->s1)
        return curve_vals[4];
    double x = (double)(i - s->s0) * 4 / (double)(s->s1 - s->s0);
    int k = (int)x;
    return curve_vals[k] + (curve_vals[k + 1] - curve_vals[k]) * (x - k);
}

static void test_event_types(void)
{
    rig r = make(64, 1);
    CHECK_OK(ev(&r, MG_EV_SET, 1.2345 / 4, 3), r.g);
    seg s = {1, 3, 0, S(1.2345 / 4), 0};
    compare(&r, "set at 0.308625 s", f_set, &s);

    r = make(64, 2);
    CHECK_OK(ev(&r, MG_EV_SET, 0.1, 2), r.g);
    CHECK_OK(ev(&r, MG_EV_LINEAR, 0.3, 10), r.g);
    s = (seg){2, 10, S(0.1), S(0.3), 0};
    compare(&r, "linear_to", f_linear, &s);

    r = make(64, 2);
    CHECK_OK(ev_k(&r, MG_EV_LINEAR, 0.3, 10, 4), r.g);
    s = (seg){2, 10, 0, S(0.3), 4};
    compare(&r, "linear_to with curvature 4", f_linear, &s);

    r = make(64, 2);
    CHECK_OK(ev_k(&r, MG_EV_LINEAR, 0.3, 10, -3), r.g);
    s = (seg){2, 10, 0, S(0.3), -3};
    compare(&r, "linear_to with curvature -3", f_linear, &s);

    r = make(64, 100);
    CHECK_OK(ev(&r, MG_EV_SET, 0.05, 100), r.g);
    CHECK_OK(ev(&r, MG_EV_EXP, 0.35, 5000), r.g);
    s = (seg){100, 5000, S(0.05), S(0.35), 0};
    compare(&r, "exp_to", f_exp, &s);

    r = make(64, -0.5);
    CHECK_OK(ev(&r, MG_EV_EXP, 0.2, -0.001), r.g);
    s = (seg){-0.5, -0.001, 0, S(0.2), 0};
    compare(&r, "exp_to between negative values", f_exp, &s);

    r = make(64, 1);
    CHECK_OK(ev(&r, MG_EV_SET, 0.1, 1), r.g);
    CHECK_OK(ev(&r, MG_EV_SCURVE, 0.4, -3), r.g);
    s = (seg){1, -3, S(0.1), S(0.4), 0};
    compare(&r, "scurve_to", f_scurve, &s);

    r = make(64, 0);
    CHECK_OK(ev_k(&r, MG_EV_STEP, 0.4, 8, 4), r.g);
    s = (seg){0, 8, 0, S(0.4), 4};
    compare(&r, "step_to, 4 steps", f_step, &s);

    r = make(64, 1);
    CHECK_OK(ev_k(&r, MG_EV_TARGET, 0.1, 5, 0.05), r.g);
    s = (seg){1, 5, S(0.1), 0, 0.05};
    compare(&r, "target (tau 50 ms)", f_target, &s);

    r = make(64, 1);
    mg_param_event ce = {.type = MG_EV_CURVE, .t = 0.1, .dur = 0.25, .values = curve_vals,
                         .n_values = 5};
    CHECK_OK(mg_node_param_event(r.dc, 0, &ce), r.g);
    s = (seg){1, 0, S(0.1), S(0.35), 0};
    compare(&r, "curve of 5 values over 0.25 s", f_curve, &s);

    /* a ramp after a target replaces it: it starts where the target started */
    r = make(64, 1);
    CHECK_OK(ev_k(&r, MG_EV_TARGET, 0.1, 5, 0.05), r.g);
    CHECK_OK(ev(&r, MG_EV_LINEAR, 0.3, 7), r.g);
    s = (seg){1, 7, S(0.1), S(0.3), 0};
    compare(&r, "linear_to after a target", f_linear, &s);
}

static void test_cancel_hold(void)
{
    /* cancel removes the ramp (which ends after the cancel time): the value stays */
    rig r = make(64, 2);
    CHECK_OK(ev(&r, MG_EV_SET, 0.1, 2), r.g);
    CHECK_OK(ev(&r, MG_EV_LINEAR, 0.3, 10), r.g);
    CHECK_OK(ev(&r, MG_EV_CANCEL, 0.2, 0), r.g);
    seg s = {2, 2, 0, 1, 0};
    compare(&r, "cancel(0.2) after linear_to(10, 0.3)", f_set, &s);

    /* hold: the ramp runs to 0.2 s and its value there stays */
    r = make(64, 2);
    CHECK_OK(ev(&r, MG_EV_SET, 0.1, 2), r.g);
    CHECK_OK(ev(&r, MG_EV_EXP, 0.3, 10), r.g);
    CHECK_OK(ev(&r, MG_EV_SET, 0.4, 1), r.g);
    CHECK_OK(ev(&r, MG_EV_HOLD, 0.2, 0), r.g);
    float **y = mg_test_render(r.g, FRAMES, NULL);
    seg e = {2, 10, S(0.1), S(0.3), 0};
    double worst = 0, held = f_exp(S(0.2), &e);
    for (long i = 0; i < FRAMES; i++) {
        double want = i < S(0.2) ? f_exp(i, &e) : held;
        worst = fmax(worst, fabs(y[0][i] - want) / fmax(fabs(want), 1));
    }
    mg_test_report("hold(0.2) during exp_to(10, 0.3): worst relative error", worst * 1e9, "ppb");
    CHECK(worst <= 1e-6, "hold: error %.3g", worst);
    mg_test_free_channels(y, 1);
    mg_graph_free(r.g);

    /* hold during a target */
    r = make(64, 1);
    CHECK_OK(ev_k(&r, MG_EV_TARGET, 0.1, 5, 0.05), r.g);
    CHECK_OK(ev(&r, MG_EV_HOLD, 0.25, 0), r.g);
    y = mg_test_render(r.g, FRAMES, NULL);
    seg t = {1, 5, S(0.1), 0, 0.05};
    held = f_target(S(0.25), &t);
    worst = 0;
    for (long i = 0; i < FRAMES; i++) {
        double want = i < S(0.25) ? f_target(i, &t) : held;
        worst = fmax(worst, fabs(y[0][i] - want) / fmax(fabs(want), 1));
    }
    mg_test_report("hold(0.25) during a target: worst relative error", worst * 1e9, "ppb");
    CHECK(worst <= 1e-6, "hold during target: error %.3g", worst);
    mg_test_free_channels(y, 1);
    mg_graph_free(r.g);
}

/* An edit at t = 1.2345 s lands on sample round(1.2345 * 48000) = 59256 for any block. */
static void test_sample_accuracy(void)
{
    int blocks[] = {1, 64, 100, 4096};
    for (int b = 0; b < 4; b++) {
        rig r = make(blocks[b], 0);
        CHECK_OK(ev(&r, MG_EV_SET, 1.2345, 1), r.g);
        float **y = mg_test_render(r.g, 60000, NULL);
        long first = -1;
        for (long i = 0; i < 60000 && first < 0; i++)
            if (y[0][i] != 0)
                first = i;
        CHECK(first == 59256, "block %d: set(1, 1.2345) landed on %ld, not 59256", blocks[b],
              first);
        mg_test_free_channels(y, 1);
        mg_graph_free(r.g);
    }
}

/* Generated automation: fn(t) = 3 sin(2 pi 5 t) at 200 Hz, linear in between. */
static int gen_sine(void *ud, double t, double *v, char *err, size_t errsz)
{
    (void)ud;
    (void)err;
    (void)errsz;
    *v = 3 * sin(2 * M_PI * 5 * t);
    return 0;
}

static double f_gen(long i, const void *ud)
{
    (void)ud;
    double period = RATE / 200; /* 240 samples, exact */
    long k = (long)floor((double)i / period);
    double t0 = k / 200.0, t1 = (k + 1) / 200.0;
    double v0 = 3 * sin(2 * M_PI * 5 * t0), v1 = 3 * sin(2 * M_PI * 5 * t1);
    return v0 + (v1 - v0) * ((double)i - k * period) / period;
}

static double f_gen_stopped(long i, const void *ud)
{
    return i < 4320 ? f_gen(i, ud) : 3 * sin(2 * M_PI * 5 * 0.09);
}

static int gen_fail(void *ud, double t, double *v, char *err, size_t errsz)
{
    (void)ud;
    *v = 0;
    if (t < 0.1)
        return 0;
    snprintf(err, errsz, "patch.lua:7: boom at %g", t);
    return 1;
}

static void test_generated(void)
{
    int blocks[] = {1, 64, 4096};
    for (int b = 0; b < 3; b++) {
        rig r = make(blocks[b], 0);
        CHECK_OK(mg_node_param_generate(r.dc, 0, 200, 0, gen_sine, NULL, NULL), r.g);
        char what[64];
        snprintf(what, sizeof what, "fn at 200 Hz, block %d", blocks[b]);
        compare(&r, what, f_gen, NULL);
    }
    /* stopped at 0.0925 s: the last call is at 0.09 s (sample 4320), its value holds */
    rig r = make(64, 0);
    CHECK_OK(mg_node_param_generate(r.dc, 0, 200, 0, gen_sine, NULL, NULL), r.g);
    CHECK_OK(mg_node_param_generate_stop(r.dc, 0, 0.0925), r.g);
    compare(&r, "fn stopped at 0.0925 s", f_gen_stopped, NULL);
    r = make(64, 0);
    CHECK_OK(mg_node_param_generate(r.dc, 0, 100, 0, gen_fail, NULL, NULL), r.g);
    mg_status st = mg_graph_advance(r.g, 1000);
    CHECK(st == MG_OK, "first 0.02 s generate fine");
    st = mg_graph_advance(r.g, 48000);
    CHECK(st == MG_ERR_SCRIPT, "a failing function stops with MG_ERR_SCRIPT");
    CHECK(strcmp(mg_graph_error(r.g), "patch.lua:7: boom at 0.1") == 0, "message: '%s'",
          mg_graph_error(r.g));
    mg_graph_free(r.g);
}

/* Modulation: probe = automation + depth * source, clamped to the range. */
static void test_modulation(void)
{
    mg_graph *g = mg_test_graph(RATE, 64, 1);
    mg_node *lfo = mg_test_node(g, "osc", "lfo", NULL, 0);
    mg_node *dc = mg_test_node(g, "dc", "probe", NULL, 0);
    mg_node_set(lfo, "freq", 3);
    mg_node_set(lfo, "gain", 0);
    mg_node_set(dc, "value", 10);
    CHECK_OK(mg_node_param_modulate(dc, 0, lfo, 0, 4), g);
    mg_param_event e = {.type = MG_EV_LINEAR, .t = 0.5, .v = 20};
    CHECK_OK(mg_node_param_event(dc, 0, &e), g);
    mg_connect(dc, 0, mg_graph_output(g), 0);
    /* an independent copy of the lfo to compare with */
    mg_graph *g2 = mg_test_graph(RATE, 64, 1);
    mg_node *lfo2 = mg_test_node(g2, "osc", "lfo", NULL, 0);
    mg_node_set(lfo2, "freq", 3);
    mg_node_set(lfo2, "gain", 0);
    mg_connect(lfo2, 0, mg_graph_output(g2), 0);
    float **y = mg_test_render(g, FRAMES, NULL), **x = mg_test_render(g2, FRAMES, NULL);
    double worst = 0;
    for (long i = 0; i < FRAMES; i++) {
        double want = 10 + 10.0 * (double)i / S(0.5) + 4 * (double)x[0][i];
        worst = fmax(worst, fabs(y[0][i] - want) / fmax(fabs(want), 1));
    }
    mg_test_report("modulation: automation + 4 x lfo, worst relative error", worst * 1e9,
                   "ppb");
    CHECK(worst <= 1e-6, "modulation: error %.3g", worst);
    mg_test_free_channels(y, 1);
    mg_test_free_channels(x, 1);
    mg_graph_free(g2);
    /* clamped: a gain node modulated far below its range is silent, not NaN */
    CHECK(mg_node_param_modulate(lfo, 0, dc, 0, 1) == MG_ERR_CYCLE, "a modulation loop is refused");
    CHECK(strstr(mg_graph_error(g), "would close a loop") != NULL, "loop message: %s",
          mg_graph_error(g));
    mg_graph_reset(g);
    mg_param_event cancel = {.type = MG_EV_CANCEL, .t = 0};
    CHECK_OK(mg_node_param_event(dc, 0, &cancel), g);
    mg_node_set(dc, "value", 1e6);
    y = mg_test_render(g, 4800, NULL);
    CHECK(y[0][100] == 1e6f, "clamped to the maximum: %g", y[0][100]);
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
}

/* A patch with many kinds of automation gives the same samples for blocks 1, 64, 4096. */
static float *automated(int block)
{
    mg_graph *g = mg_test_graph(RATE, block, 1);
    mg_node *osc = mg_test_node(g, "osc", "src", NULL, 0);
    mg_node *lfo = mg_test_node(g, "osc", "lfo", NULL, 0);
    mg_node *f = mg_test_node(g, "filter", "f", NULL, 0);
    mg_node *amp = mg_test_node(g, "gain", "amp", NULL, 0);
    mg_node_set(osc, "freq", 220);
    mg_node_set(lfo, "freq", 0.7);
    mg_connect(osc, 0, f, 0);
    mg_connect(f, 0, amp, 0);
    mg_connect(amp, 0, mg_graph_output(g), 0);
    int fi = mg_node_param_index(f, "freq"), gi = mg_node_param_index(amp, "gain");
    mg_param_event evs[] = {
        {.type = MG_EV_EXP, .t = 0.3, .v = 4000},   {.type = MG_EV_SCURVE, .t = 0.6, .v = 300},
        {.type = MG_EV_TARGET, .t = 0.7, .v = 2000, .tau = 0.05},
    };
    for (int k = 0; k < 3; k++)
        mg_node_param_event(f, fi, &evs[k]);
    mg_param_event ge[] = {
        {.type = MG_EV_LINEAR, .t = 0.2, .v = -20, .k = 2}, {.type = MG_EV_STEP, .t = 0.5, .v = 0, .k = 5},
    };
    for (int k = 0; k < 2; k++)
        mg_node_param_event(amp, gi, &ge[k]);
    mg_node_param_modulate(f, mg_node_param_index(f, "q"), lfo, 0, 0.3);
    mg_node_param_generate(osc, mg_node_param_index(osc, "freq"), 100, 0.1, gen_sine, NULL, NULL);
    float **y = mg_test_render(g, 48000, NULL);
    float *out = y[0];
    free(y);
    mg_graph_free(g);
    return out;
}

static void test_block_sizes(void)
{
    float *a = automated(1), *b = automated(64), *c = automated(4096);
    long diff_b = 0, diff_c = 0;
    for (long i = 0; i < 48000; i++) {
        diff_b += a[i] != b[i];
        diff_c += a[i] != c[i];
    }
    mg_test_report("automated patch: samples differing, block 64 vs 1", (double)diff_b, "");
    mg_test_report("automated patch: samples differing, block 4096 vs 1", (double)diff_c, "");
    CHECK(diff_b == 0 && diff_c == 0, "blocks 1/64/4096 differ in %ld/%ld samples", diff_b,
          diff_c);
    free(a);
    free(b);
    free(c);
}

static void expect_err(mg_status st, mg_graph *g, const char *want)
{
    CHECK(st != MG_OK, "should fail with '%s'", want);
    CHECK(strstr(mg_graph_error(g), want) != NULL, "message '%s' should contain '%s'",
          mg_graph_error(g), want);
}

static void test_errors(void)
{
    rig r = make(64, 1);
    expect_err(ev(&r, MG_EV_EXP, 0.2, 0), r.g,
               "node 'probe': value: exp_to 0: an exponential ramp cannot reach 0");
    expect_err(ev(&r, MG_EV_EXP, 0.2, -1), r.g,
               "value: exp_to -1: an exponential ramp cannot pass through 0 (it starts from 1)");
    CHECK_OK(ev(&r, MG_EV_SET, 0.1, 0), r.g);
    expect_err(ev(&r, MG_EV_EXP, 0.2, 3), r.g, "cannot pass through 0 (it starts from 0)");
    expect_err(ev(&r, MG_EV_SET, 0.1, 2e6), r.g, "value: value 2e+06 out of range [-1e+06, 1e+06]");
    expect_err(ev(&r, MG_EV_SET, -1, 2), r.g, "set at -1 s: time must be in [0, 1e7) s");
    expect_err(ev_k(&r, MG_EV_TARGET, 0.1, 2, -1), r.g, "target time constant -1 s must be >= 0");
    expect_err(ev_k(&r, MG_EV_STEP, 0.1, 2, 2.5), r.g, "step_to needs a whole number of steps");
    mg_param_event ce = {.type = MG_EV_CURVE, .t = 0.05, .dur = 0.1, .values = curve_vals,
                         .n_values = 5};
    expect_err(mg_node_param_event(r.dc, 0, &ce), r.g,
               "curve from 0.05 s to 0.15 s overlaps the set at 0.1 s");
    ce.t = 0.2;
    CHECK_OK(mg_node_param_event(r.dc, 0, &ce), r.g);
    expect_err(ev(&r, MG_EV_LINEAR, 0.25, 1), r.g,
               "linear_to at 0.25 s falls inside the curve from 0.2 s to 0.3 s");
    ce.n_values = 1;
    ce.t = 1;
    expect_err(mg_node_param_event(r.dc, 0, &ce), r.g, "curve needs at least 2 values");
    mg_graph_free(r.g);
}

/*
** The real-time path: events prepared on the control side and inserted into the fixed array
** between blocks (as an audio callback would) land on their sample; a full array drops reached
** events to make room, and refuses (and counts) an event only when nothing can be dropped.
*/
static void test_rt_insert(void)
{
    rig r = make(64, 0);
    CHECK(mg_graph_compile(r.g) == MG_OK, "compile");
    mg_timeline *tl = mg_node_param_timeline(r.dc, 0);
    float *y = calloc(4800, sizeof *y);
    for (long done = 0; done < 4800; done += 64) {
        if (done == 640) { /* "audio thread": insert what the control side prepared */
            mg_param_event e = {.type = MG_EV_LINEAR, .t = 2000 / RATE, .v = 8};
            mg_tl_event x;
            CHECK_OK(mg_node_param_event_prepare(r.dc, 0, &e, &x), r.g);
            CHECK(mg_timeline_insert(tl, &x) == 0, "rt insert");
        }
        const float *const *o = mg_graph_process(r.g, 64);
        memcpy(y + done, o[0], 64 * sizeof *y);
    }
    /* the ramp starts from the previous event (the initial value at 0) and ends at 2000 */
    double worst = 0;
    for (long i = 640; i < 4800; i++) {
        double want = i >= 2000 ? 8 : 8.0 * (double)i / 2000;
        worst = fmax(worst, fabs(y[i] - want) / fmax(fabs(want), 1));
    }
    CHECK(worst <= 1e-6, "rt-inserted ramp: error %g", worst);
    free(y);
    /* capacity: a fresh timeline of 32 events refuses the 33rd while nothing was reached */
    mg_graph_reset(r.g);
    mg_tl_event cancel = {.type = MG_EV_CANCEL, .s = 0, .cut = INT64_MAX};
    mg_timeline_insert(tl, &cancel);
    int refused = 0, cap = tl->cap;
    for (int k = 0; k < cap + 3; k++) {
        mg_tl_event x = {.type = MG_EV_SET, .s = 10000 + k, .v = k, .cut = INT64_MAX};
        refused += mg_timeline_insert(tl, &x) != 0;
    }
    CHECK(refused == 3 && mg_node_param_overflow(r.dc, 0) == 3,
          "full timeline: %d refused, overflow %llu (wanted 3)", refused,
          (unsigned long long)mg_node_param_overflow(r.dc, 0));
    mg_graph_process(r.g, 64); /* nothing reached yet: still full */
    for (int k = 0; k < 10; k++)
        mg_graph_process(r.g, 64);
    float last = mg_graph_process(r.g, 64)[0][0];
    (void)last;
    const float *o = NULL;
    for (int k = 0; k < 160; k++) /* past sample 10000 + cap: all reached */
        o = mg_graph_process(r.g, 64)[0];
    CHECK(o && o[63] == (float)(cap - 1), "the last stored event holds: %g", o ? o[63] : -1.0);
    mg_tl_event late = {.type = MG_EV_SET, .s = 20000, .v = 99, .cut = INT64_MAX};
    CHECK(mg_timeline_insert(tl, &late) == 0 && tl->compacted, "room made by dropping reached "
          "events");
    mg_graph_free(r.g);
}

/* A real-time driver's path for functions: generate ahead (a 1000-frame horizon) into a sink
   (the queue), insert on the "audio thread" before each block: the same samples as offline. */
typedef struct queue {
    mg_tl_event ev[64];
    int n;
} queue;

static mg_status to_queue(void *ud, mg_node *node, int param, const mg_tl_event *e)
{
    (void)node;
    (void)param;
    queue *q = ud;
    if (q->n == 64)
        return MG_ERR_RANGE;
    q->ev[q->n++] = *e;
    return MG_OK;
}

static void test_rt_generator(void)
{
    rig r = make(64, 0);
    CHECK_OK(mg_node_param_generate(r.dc, 0, 200, 0, gen_sine, NULL, NULL), r.g);
    CHECK(mg_graph_compile(r.g) == MG_OK, "compile");
    mg_timeline *tl = mg_node_param_timeline(r.dc, 0);
    double worst = 0;
    for (long done = 0; done < FRAMES; done += 64) {
        queue q = {.n = 0};
        CHECK_OK(mg_graph_advance_to(r.g, done + 64 + 1000, to_queue, &q), r.g);
        for (int k = 0; k < q.n; k++)
            CHECK(mg_timeline_insert(tl, &q.ev[k]) == 0, "rt insert of a generated event");
        const float *y = mg_graph_process(r.g, 64)[0];
        for (int i = 0; i < 64; i++) {
            double want = f_gen(done + i, NULL);
            worst = fmax(worst, fabs(y[i] - want) / fmax(fabs(want), 1));
        }
    }
    mg_test_report("fn through a sink and rt inserts, 1000-frame horizon: worst rel. error",
                   worst * 1e9, "ppb");
    CHECK(worst <= 1e-6, "generator via sink: error %g", worst);
    CHECK(mg_node_param_overflow(r.dc, 0) == 0, "no overflow");
    mg_graph_free(r.g);
}

int main(void)
{
    test_rt_insert();
    test_rt_generator();
    test_event_types();
    test_cancel_hold();
    test_sample_accuracy();
    test_generated();
    test_modulation();
    test_block_sizes();
    test_errors();
    return mg_test_done("test_automation");
}
