/*
** test_filter.c: the `filter` node against DSP_TESTS §5 (BQ-1..BQ-10) and the cascade designs:
** every type's response over 20 Hz-20 kHz (FFT of a 65536-sample impulse response) against
** the float64 RBJ cookbook |H|, the cookbook's point values, low-frequency precision with long
** sines, Butterworth (-3.01 dB at fc, 12n dB/oct) and Linkwitz-Riley (-6.02 dB, LP + HP =
** allpass) at 12..48 dB/oct, parameter sweeps against a per-sample float64 reference,
** block-size independence, per-channel state, NaN recovery, the response and tail callbacks.
*/
#include "filter_test.h"

static const char *type_name(int t)
{
    static char buf[MG_FILTER_NTYPES][16];
    return mg_choice_name(MG_FILTER_TYPES, t, buf[t], sizeof buf[t]);
}

/* ---- responses against the cookbook ---- */

typedef struct bq_case {
    const char *what;
    int type;
    double freq, q, bw, gain;
} bq_case;

/* IR of a filter node set to c (the type, a choice, is set by its index). */
static float *filter_ir(const bq_case *c)
{
    dyn_param ps[] = {{"type", c->type}, {"freq", c->freq}, {"q", c->q}, {"bw", c->bw},
                      {"gain", c->gain}, {NULL, 0}};
    return ft_ir("filter", NULL, 0, ps);
}

/* Every type, 20 Hz-20 kHz, against mg_biquad_design in float64: +-0.01 dB. */
static void test_types(void)
{
    static const bq_case cases[] = {
        {"BQ-1 lowpass 1 kHz Q 0.7071", MG_FT_LOWPASS, 1000, FT_Q_BW, 0, 0},
        {"BQ-1 highpass 1 kHz Q 0.7071", MG_FT_HIGHPASS, 1000, FT_Q_BW, 0, 0},
        {"BQ-8 bandpass 1 kHz Q 2", MG_FT_BANDPASS, 1000, 2, 0, 0},
        {"BQ-6 notch 1 kHz Q 5", MG_FT_NOTCH, 1000, 5, 0, 0},
        {"BQ-2 peak 1 kHz Q 1 +6 dB", MG_FT_PEAK, 1000, 1, 0, 6},
        {"BQ-2 peak 1 kHz Q 1 -6 dB", MG_FT_PEAK, 1000, 1, 0, -6},
        {"BQ-4 lowshelf 200 Hz +6 dB S 1", MG_FT_LOWSHELF, 200, FT_Q_BW, 0, 6},
        {"BQ-5 highshelf 5 kHz +6 dB S 1", MG_FT_HIGHSHELF, 5000, FT_Q_BW, 0, 6},
        {"BQ-7 allpass 1 kHz Q 1", MG_FT_ALLPASS, 1000, 1, 0, 0},
        {"lowpass 3 kHz Q 8 (resonant)", MG_FT_LOWPASS, 3000, 8, 0, 0},
        {"highpass 40 Hz Q 0.5", MG_FT_HIGHPASS, 40, 0.5, 0, 0},
        {"peak 60 Hz Q 4 -15 dB", MG_FT_PEAK, 60, 4, 0, -15},
        {"lowshelf 80 Hz Q 2 -9 dB", MG_FT_LOWSHELF, 80, 2, 0, -9},
        {"highshelf 12 kHz Q 0.5 +10 dB", MG_FT_HIGHSHELF, 12000, 0.5, 0, 10},
        {"peak 2 kHz bw 1.5 oct +8 dB", MG_FT_PEAK, 2000, 0, 1.5, 8},
        {"bandpass 500 Hz bw 1 oct", MG_FT_BANDPASS, 500, 0, 1, 0},
        {"lowpass 18 kHz Q 0.7071", MG_FT_LOWPASS, 18000, FT_Q_BW, 0, 0},
    };
    double *db = malloc((FT_NIR / 2 + 1) * sizeof *db);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bq_case *c = &cases[i];
        bq_case cc = *c;
        if (cc.q == 0)
            cc.q = 0.7071; /* unused: bw rules */
        float *h = filter_ir(&cc);
        ft_spectrum_db(h, FT_NIR, db);
        ft_ref r = {0};
        double q = c->bw > 0 ? ft_q_of_bw(c->bw, c->freq) : c->q;
        ft_ref_add(&r, mg_biquad_design(c->type, c->freq, q, c->gain, FT_RATE));
        double at = 0, err = ft_max_err(db, FT_NIR, &r, 20, 20000, &at);
        char what[160];
        snprintf(what, sizeof what, "%s: max |err| 20 Hz-20 kHz", c->what);
        mg_test_report(what, err, "dB");
        CHECK(err <= 0.01, "%s: response off by %.4f dB at %.1f Hz", c->what, err, at);
        free(h);
    }
    free(db);
}

/* The cookbook's point values (BQ-1, 2, 4-8), from the DTFT of the measured IR. */
static void test_points(void)
{
    struct {
        bq_case c;
        double f, expect, tol;
    } pts[] = {
        {{"BQ-1 lowpass at f0", MG_FT_LOWPASS, 1000, FT_Q_BW, 0, 0}, 1000, -3.0103, 0.01},
        {{"BQ-1 highpass at f0", MG_FT_HIGHPASS, 1000, FT_Q_BW, 0, 0}, 1000, -3.0103, 0.01},
        {{"BQ-2 peak +6 at f0", MG_FT_PEAK, 1000, 1, 0, 6}, 1000, 6, 0.01},
        {{"BQ-2 peak -6 at f0", MG_FT_PEAK, 1000, 1, 0, -6}, 1000, -6, 0.01},
        {{"BQ-4 lowshelf +6 at DC", MG_FT_LOWSHELF, 200, FT_Q_BW, 0, 6}, 0, 6, 0.01},
        {{"BQ-4 lowshelf +6 at f0", MG_FT_LOWSHELF, 200, FT_Q_BW, 0, 6}, 200, 3, 0.01},
        {{"BQ-4 lowshelf +6 at Nyquist", MG_FT_LOWSHELF, 200, FT_Q_BW, 0, 6}, 24000, 0, 0.01},
        {{"BQ-5 highshelf +6 at f0", MG_FT_HIGHSHELF, 5000, FT_Q_BW, 0, 6}, 5000, 3, 0.01},
        {{"BQ-5 highshelf +6 at Nyquist", MG_FT_HIGHSHELF, 5000, FT_Q_BW, 0, 6}, 24000, 6,
         0.01},
        {{"BQ-8 bandpass Q 2 at f0", MG_FT_BANDPASS, 1000, 2, 0, 0}, 1000, 0, 0.01},
        {{"BQ-8 bandpass Q 0.3 at f0", MG_FT_BANDPASS, 3000, 0.3, 0, 0}, 3000, 0, 0.01},
    };
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        float *h = filter_ir(&pts[i].c);
        double v = ft_dtft_db(h, FT_NIR, pts[i].f, NULL);
        mg_test_report(pts[i].c.what, v, "dB");
        CHECK_NEAR(v, pts[i].expect, pts[i].tol, pts[i].c.what);
        free(h);
    }

    /* BQ-1: -12 dB/oct asymptote of the highpass, one octave far below f0 */
    bq_case hp = {"", MG_FT_HIGHPASS, 1000, FT_Q_BW, 0, 0};
    float *h = filter_ir(&hp);
    double slope = ft_dtft_db(h, FT_NIR, 62.5, NULL) - ft_dtft_db(h, FT_NIR, 31.25, NULL);
    mg_test_report("BQ-1 highpass slope 31.25 -> 62.5 Hz", slope, "dB/oct");
    CHECK_NEAR(slope, 12.04, 0.02, "BQ-1 highpass asymptotic slope");
    free(h);

    /* BQ-6: the notch at f0 */
    bq_case notch = {"", MG_FT_NOTCH, 1000, 5, 0, 0};
    h = filter_ir(&notch);
    double depth = ft_dtft_db(h, FT_NIR, 1000, NULL);
    mg_test_report("BQ-6 notch Q 5 depth at f0 (float32 output)", depth, "dB");
    CHECK(depth <= -80, "BQ-6: notch depth %.1f dB, want <= -80", depth);
    free(h);

    /* BQ-7: allpass flat everywhere, -180 degrees at f0 */
    bq_case ap = {"", MG_FT_ALLPASS, 1000, 1, 0, 0};
    h = filter_ir(&ap);
    double *db = malloc((FT_NIR / 2 + 1) * sizeof *db), dev = 0, ph;
    ft_spectrum_db(h, FT_NIR, db);
    for (long k = 1; k <= FT_NIR / 2; k++)
        dev = fmax(dev, fabs(db[k]));
    ft_dtft_db(h, FT_NIR, 1000, &ph);
    mg_test_report("BQ-7 allpass max | |H| dB | over all bins", dev, "dB");
    mg_test_report("BQ-7 allpass phase at f0", ph, "deg");
    CHECK(dev <= 0.001, "BQ-7: allpass magnitude deviates %.5f dB", dev);
    CHECK_NEAR(fabs(ph), 180, 0.1, "BQ-7 allpass phase at f0 (+-180 deg)");
    free(db);
    free(h);

    /* BQ-3 with two filter nodes in series (float32 between them): flat */
    bq_case up = {"", MG_FT_PEAK, 1000, 1, 0, 9};
    h = filter_ir(&up);
    dyn_param down[] = {{"type", MG_FT_PEAK}, {"freq", 1000}, {"q", 1}, {"gain", -9}, {NULL, 0}};
    float **y = ft_render("filter", NULL, 0, down, &h, 1, FT_NIR, 256, NULL, 0);
    db = malloc((FT_NIR / 2 + 1) * sizeof *db);
    ft_spectrum_db(y[0], FT_NIR, db);
    dev = 0;
    for (long k = 1; k <= FT_NIR / 2; k++)
        dev = fmax(dev, fabs(db[k]));
    mg_test_report("BQ-3 peak +9 then -9 dB (two nodes): max deviation", dev, "dB");
    CHECK(dev <= 0.001, "BQ-3: +9/-9 cascade not flat (%.5f dB)", dev);
    free(db);
    mg_test_free_channels(y, 1);
    free(h);
}

/*
** Steady-state gain (dB) of a node at `freq` from a sine of amplitude amp lasting `secs`,
** fitted over the last second (an integer number of periods for the tones used here).
*/
static double sine_gain_db(const mg_opt *o, int no, const dyn_param *ps, double freq, double amp,
                           double secs)
{
    long n = (long)(secs * FT_RATE), fit = (long)FT_RATE;
    float *x = dyn_sine(freq, FT_RATE, 20 * log10(amp), n);
    float **y = ft_render("filter", o, no, ps, &x, 1, n, 4096, NULL, 0);
    double a_in = mg_test_sine_fit(x + n - fit, fit, freq, FT_RATE, NULL);
    double a_out = mg_test_sine_fit(y[0] + n - fit, fit, freq, FT_RATE, NULL);
    mg_test_free_channels(y, 1);
    free(x);
    return 20 * log10(a_out / a_in);
}

/* BQ-9: a +12 dB peak at 20 Hz (Q 0.707 and 10) and 5 Hz keeps its gain on a 20 s sine. */
static void test_low_frequency(void)
{
    struct {
        double f, q;
    } cs[] = {{20, FT_Q_BW}, {20, 10}, {5, FT_Q_BW}};
    for (int i = 0; i < 3; i++) {
        dyn_param ps[] = {{"type", MG_FT_PEAK}, {"freq", cs[i].f}, {"q", cs[i].q},
                          {"gain", 12}, {NULL, 0}};
        double gdb = sine_gain_db(NULL, 0, ps, cs[i].f, 0.25, 20);
        char what[96];
        snprintf(what, sizeof what, "BQ-9 peak +12 dB at %g Hz, Q %g, 20 s sine", cs[i].f,
                 cs[i].q);
        mg_test_report(what, gdb, "dB");
        CHECK_NEAR(gdb, 12.0, 0.05, what);
    }
}

/* ---- Butterworth and Linkwitz-Riley ---- */

static float *cascade_ir(int type, double freq, int slope, const char *design)
{
    mg_opt o[] = {ft_num("slope", slope), ft_str("design", design)};
    dyn_param ps[] = {{"type", type}, {"freq", freq}, {NULL, 0}};
    return ft_ir("filter", o, 2, ps);
}

static void test_butterworth(void)
{
    double *db = malloc((FT_NIR / 2 + 1) * sizeof *db);
    for (int slope = 12; slope <= 48; slope += 12)
        for (int t = MG_FT_LOWPASS; t <= MG_FT_HIGHPASS; t++) {
            char what[128];
            float *h = cascade_ir(t, 1000, slope, "butterworth");
            double v = ft_dtft_db(h, FT_NIR, 1000, NULL);
            snprintf(what, sizeof what, "Butterworth %s %d dB/oct at fc", type_name(t), slope);
            mg_test_report(what, v, "dB");
            CHECK_NEAR(v, -3.0103, 0.01, what);
            ft_spectrum_db(h, FT_NIR, db);
            ft_ref r = {0};
            mg_biquad s[MG_FILTER_MAX_SECTIONS];
            int n = mg_biquad_design_cascade(t, 1000, slope, MG_FD_BUTTERWORTH, FT_RATE, s);
            for (int k = 0; k < n; k++)
                ft_ref_add(&r, s[k]);
            double at = 0, err = ft_max_err(db, FT_NIR, &r, 20, 20000, &at);
            snprintf(what, sizeof what, "Butterworth %s %d: max |err| vs float64", type_name(t),
                     slope);
            mg_test_report(what, err, "dB");
            CHECK(err <= 0.01, "%s: off by %.4f dB at %.1f Hz", what, err, at);
            free(h);
        }
    free(db);

    /*
    ** Asymptotic slope from steady sines (float32 keeps its relative precision at -240 dB):
    ** highpass at 1600 Hz, tones fc/32 and fc/16, where the bilinear warping is negligible;
    ** lowpass at 50 Hz, tones 16 fc and 32 fc, where it adds 12n log2(tan ratio / 2).
    */
    for (int slope = 12; slope <= 48; slope += 12) {
        mg_opt o[] = {ft_num("slope", slope)};
        dyn_param hp[] = {{"type", MG_FT_HIGHPASS}, {"freq", 1600}, {NULL, 0}};
        dyn_param lp[] = {{"type", MG_FT_LOWPASS}, {"freq", 50}, {NULL, 0}};
        double s_hp = sine_gain_db(o, 1, hp, 100, 1, 2) - sine_gain_db(o, 1, hp, 50, 1, 2);
        double s_lp = sine_gain_db(o, 1, lp, 800, 1, 3) - sine_gain_db(o, 1, lp, 1600, 1, 3);
        /* "12n dB/oct" is n times 20 log10(4) = 12.04 dB per octave of an order-2n filter */
        double per_oct = slope / 12.0 * 20 * log10(4.0);
        double warp = log2(tan(M_PI * 1600 / FT_RATE) / tan(M_PI * 800 / FT_RATE));
        char what[128];
        snprintf(what, sizeof what, "Butterworth highpass %d: slope fc/32 -> fc/16", slope);
        mg_test_report(what, s_hp, "dB/oct");
        CHECK_NEAR(s_hp, per_oct, 0.01, what);
        snprintf(what, sizeof what, "Butterworth lowpass %d: slope 16 fc -> 32 fc (warped %.3f)",
                 slope, per_oct * warp);
        mg_test_report(what, s_lp, "dB/oct");
        CHECK_NEAR(s_lp, per_oct * warp, 0.01, what);
    }
}

static void test_linkwitz_riley(void)
{
    double *db = malloc((FT_NIR / 2 + 1) * sizeof *db);
    for (int slope = 12; slope <= 48; slope += 12) {
        float *lp = cascade_ir(MG_FT_LOWPASS, 1000, slope, "linkwitz-riley");
        float *hp = cascade_ir(MG_FT_HIGHPASS, 1000, slope, "linkwitz-riley");
        char what[128];
        double vl = ft_dtft_db(lp, FT_NIR, 1000, NULL), vh = ft_dtft_db(hp, FT_NIR, 1000, NULL);
        snprintf(what, sizeof what, "Linkwitz-Riley %d lowpass at fc", slope);
        mg_test_report(what, vl, "dB");
        CHECK_NEAR(vl, -6.0206, 0.01, what);
        snprintf(what, sizeof what, "Linkwitz-Riley %d highpass at fc", slope);
        mg_test_report(what, vh, "dB");
        CHECK_NEAR(vh, -6.0206, 0.01, what);
        for (int t = MG_FT_LOWPASS; t <= MG_FT_HIGHPASS; t++) {
            ft_spectrum_db(t == MG_FT_LOWPASS ? lp : hp, FT_NIR, db);
            ft_ref r = {0};
            mg_biquad s[MG_FILTER_MAX_SECTIONS];
            int n = mg_biquad_design_cascade(t, 1000, slope, MG_FD_LINKWITZ_RILEY, FT_RATE, s);
            for (int k = 0; k < n; k++)
                ft_ref_add(&r, s[k]);
            double at = 0, err = ft_max_err(db, FT_NIR, &r, 20, 20000, &at);
            snprintf(what, sizeof what, "Linkwitz-Riley %s %d: max |err| vs float64",
                     type_name(t), slope);
            mg_test_report(what, err, "dB");
            CHECK(err <= 0.01, "%s: off by %.4f dB at %.1f Hz", what, err, at);
        }
        for (long i = 0; i < FT_NIR; i++)
            lp[i] += hp[i];
        ft_spectrum_db(lp, FT_NIR, db);
        double dev = 0;
        for (long k = 1; k <= FT_NIR / 2; k++) {
            double f = (double)k * FT_RATE / FT_NIR;
            if (f >= 20 && f <= 20000)
                dev = fmax(dev, fabs(db[k]));
        }
        snprintf(what, sizeof what, "Linkwitz-Riley %d: |LP + HP| max deviation from 0 dB", slope);
        mg_test_report(what, dev, "dB");
        CHECK(dev <= 0.01, "%s: %.4f dB", what, dev);
        free(lp);
        free(hp);
    }
    free(db);
}

/* ---- modulation (BQ-10) ---- */

/*
** Reference for modulated sections: Simper's trapezoidal SVF with its published output mix,
** coefficients recomputed from (type, f, q, gain) every sample, all in double.
*/
typedef struct ref_svf {
    double ic1, ic2;
} ref_svf;

static double ref_svf_step(ref_svf *s, int type, double f, double q, double gain, double x)
{
    double A = pow(10, gain / 40), g = tan(M_PI * f / FT_RATE), k = 1 / q;
    double m0 = 0, m1 = 0, m2 = 0;
    switch (type) {
    case MG_FT_LOWPASS: m2 = 1; break;
    case MG_FT_HIGHPASS: m0 = 1; m1 = -k; m2 = -1; break;
    case MG_FT_BANDPASS: m1 = k; break;
    case MG_FT_NOTCH: m0 = 1; m1 = -k; break;
    case MG_FT_ALLPASS: m0 = 1; m1 = -2 * k; break;
    case MG_FT_PEAK: k = 1 / (q * A); m0 = 1; m1 = k * (A * A - 1); break;
    case MG_FT_LOWSHELF: g /= sqrt(A); m0 = 1; m1 = k * (A - 1); m2 = A * A - 1; break;
    default: g *= sqrt(A); m0 = A * A; m1 = k * (1 - A) * A; m2 = 1 - A * A; break;
    }
    double a1 = 1 / (1 + g * (g + k)), a2 = g * a1, a3 = g * a2;
    double v3 = x - s->ic2, v1 = a1 * s->ic1 + a2 * v3, v2 = s->ic2 + a2 * s->ic1 + a3 * v3;
    s->ic1 = 2 * v1 - s->ic1;
    s->ic2 = 2 * v2 - s->ic2;
    return m0 * x + m1 * v1 + m2 * v2;
}

/* Butterworth section Qs, written out independently of mg_filter_cascade_q. */
static int butterworth_q(int order, double *q)
{
    for (int i = 1; i <= order / 2; i++)
        q[i - 1] = 1 / (2 * sin((2 * i - 1) * M_PI / (2 * order)));
    return order / 2;
}

typedef struct sweep_case {
    const char *what;
    int type;
    double q, gain;
    int slope;
    const char *design;
} sweep_case;

/*
** BQ-10: freq swept exponentially 20 Hz -> 20 kHz in 1 s (then held) on white noise at
** +-0.5, every frame a new value, blocks of 64. Output finite, and within -60 dBFS of the
** per-sample float64 reference (the node's structure recomputes coefficients every sample too,
** so any zipper, caching or state bug shows up as a difference).
*/
static void test_sweep(void)
{
    static const sweep_case cs[] = {
        {"lowpass Q 0.7071", MG_FT_LOWPASS, FT_Q_BW, 0, 12, "butterworth"},
        {"lowpass Q 5", MG_FT_LOWPASS, 5, 0, 12, "butterworth"},
        {"highpass Q 0.7071", MG_FT_HIGHPASS, FT_Q_BW, 0, 12, "butterworth"},
        {"bandpass Q 2", MG_FT_BANDPASS, 2, 0, 12, "butterworth"},
        {"notch Q 2", MG_FT_NOTCH, 2, 0, 12, "butterworth"},
        {"peak Q 2 +12 dB", MG_FT_PEAK, 2, 12, 12, "butterworth"},
        {"lowshelf +12 dB", MG_FT_LOWSHELF, FT_Q_BW, 12, 12, "butterworth"},
        {"highshelf -12 dB", MG_FT_HIGHSHELF, FT_Q_BW, -12, 12, "butterworth"},
        {"allpass Q 1", MG_FT_ALLPASS, 1, 0, 12, "butterworth"},
        {"lowpass Butterworth 48 dB/oct", MG_FT_LOWPASS, 0, 0, 48, "butterworth"},
        {"highpass Linkwitz-Riley 24 dB/oct", MG_FT_HIGHPASS, 0, 0, 24, "linkwitz-riley"},
    };
    const long n = 60000, sweep = 48000;
    float *x = ft_noise(n, 1, 0.5), *y = malloc(n * sizeof *y);
    float *freq = malloc(n * sizeof *freq);
    for (long i = 0; i < n; i++)
        freq[i] = (float)(20 * pow(1000.0, (double)(i < sweep ? i : sweep) / sweep));
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        const sweep_case *s = &cs[c];
        mg_opt o[] = {ft_num("slope", s->slope), ft_str("design", s->design)};
        dyn_param ps[] = {{"type", s->type}, {"q", s->q > 0 ? s->q : 1}, {"gain", s->gain},
                          {NULL, 0}};
        ft_direct t;
        ft_direct_open(&t, "filter", o, 2, ps);
        const float *traj[MG_FP_COUNT] = {[MG_FP_FREQ] = freq};
        ft_direct_run(&t, &x, &y, 1, n, 64, traj);
        ft_direct_close(&t);

        double q[MG_FILTER_MAX_SECTIONS];
        int ns = 1, lr = strcmp(s->design, "linkwitz-riley") == 0;
        q[0] = s->q;
        if (s->slope > 12 || lr) {
            ns = butterworth_q(lr ? s->slope / 6 / 2 : s->slope / 6, q);
            if (lr)
                for (int k = ns - 1; k >= 0; k--)
                    q[2 * k] = q[2 * k + 1] = q[k];
            ns *= lr ? 2 : 1;
        }
        ref_svf st[MG_FILTER_MAX_SECTIONS] = {{0}};
        double emax = 0;
        int finite = 1;
        for (long i = 0; i < n; i++) {
            double v = x[i];
            for (int k = 0; k < ns; k++)
                v = ref_svf_step(&st[k], s->type, freq[i], q[k], s->gain, v);
            finite &= isfinite(y[i]) != 0;
            emax = fmax(emax, fabs(y[i] - v));
        }
        char what[128];
        snprintf(what, sizeof what, "BQ-10 sweep %s: max |y - ref|", s->what);
        mg_test_report(what, 20 * log10(emax + 1e-30), "dBFS");
        CHECK(finite, "BQ-10 %s: non-finite output", s->what);
        CHECK(emax <= 1e-3, "BQ-10 %s: transient %.1f dBFS > -60", s->what, 20 * log10(emax));
    }
    free(freq);
    free(y);
    free(x);
}

/*
** Violent modulation: freq (20 Hz-20 kHz), q (0.1-40) and gain (+-24 dB) jump to random values
** every sample for 1 s (a peak and a lowpass). The output must stay finite and must not grow:
** the structure is stable for any positive coefficients at every instant. (A TDF-II biquad
** with the same per-sample cookbook coefficients overflows to NaN on this input.) Peaks are
** large because stored energy meets a new output mix every sample, not because the state
** grows.
*/
static void test_violent_modulation(void)
{
    const long n = 48000;
    float *x = ft_noise(n, 2, 0.5), *y = malloc(n * sizeof *y);
    float *r1 = ft_noise(n, 3, 1), *r2 = ft_noise(n, 4, 1), *r3 = ft_noise(n, 5, 1);
    float *freq = malloc(n * sizeof *freq), *q = malloc(n * sizeof *q), *gain = malloc(n * sizeof *gain);
    for (long i = 0; i < n; i++) {
        freq[i] = (float)(20 * pow(1000.0, 0.5 + 0.5 * r1[i]));
        q[i] = (float)(0.1 * pow(400.0, 0.5 + 0.5 * r2[i]));
        gain[i] = (float)(24 * r3[i]);
    }
    int types[] = {MG_FT_PEAK, MG_FT_LOWPASS};
    for (int k = 0; k < 2; k++) {
        dyn_param ps[] = {{"type", types[k]}, {NULL, 0}};
        ft_direct t;
        ft_direct_open(&t, "filter", NULL, 0, ps);
        const float *traj[MG_FP_COUNT] = {[MG_FP_FREQ] = freq, [MG_FP_Q] = q, [MG_FP_GAIN] = gain};
        ft_direct_run(&t, &x, &y, 1, n, 64, traj);
        ft_direct_close(&t);
        double peak[2] = {0, 0};
        int finite = 1;
        for (long i = 0; i < n; i++) {
            finite &= isfinite(y[i]) != 0;
            peak[2 * i / n] = fmax(peak[2 * i / n], fabs(y[i]));
        }
        char what[96];
        snprintf(what, sizeof what, "random per-sample freq/q/gain, %s: output peak",
                 type_name(types[k]));
        mg_test_report(what, 20 * log10(fmax(peak[0], peak[1])), "dBFS");
        /* bounded, and not growing: the second half peaks no higher than twice the first */
        CHECK(finite && peak[0] < 1000 && peak[1] <= 2 * peak[0],
              "%s: finite %d, peaks %g then %g", what, finite, peak[0], peak[1]);
    }
    free(freq);
    free(q);
    free(gain);
    free(r1);
    free(r2);
    free(r3);
    free(y);
    free(x);
}

/* ---- engine-level properties ---- */

/* Stereo noise through a 24 dB/oct filter with freq, q, type and gain changes (ramps over
   block boundaries, a peak turned to 0 dB and back): blocks 1, 64 and 4096 agree bit for bit. */
static void test_block_size(void)
{
    mg_opt o[] = {ft_num("slope", 24)};
    dyn_param ps[] = {{"freq", 300}, {NULL, 0}};
    dyn_event ev[] = {
        {4096, NULL, "freq", 5000}, {8192, NULL, "q", 3},     {12288, NULL, "type", 4},
        {12288, NULL, "gain", 9},   {16384, NULL, "gain", 0}, {24576, NULL, "gain", -6},
        {24576, NULL, "bw", 2},     {28672, NULL, "type", 1}, {32768, NULL, "freq", 40},
    };
    ft_check_blocks("filter", o, 1, ps, ev, 9, 40960);
}

/* Each channel has its own state: L through a stereo filter equals the mono render, and a
   silent R stays exactly silent. A NaN input sample silences only its block. */
static void test_channels(void)
{
    const long n = 8192;
    float *x[2] = {ft_noise(n, 9, 0.5), calloc(n, sizeof(float))};
    dyn_param ps[] = {{"type", MG_FT_PEAK}, {"freq", 500}, {"q", 3}, {"gain", 10}, {NULL, 0}};
    float **st = ft_render("filter", NULL, 0, ps, x, 2, n, 256, NULL, 0);
    float **mo = ft_render("filter", NULL, 0, ps, x, 1, n, 256, NULL, 0);
    int same = memcmp(st[0], mo[0], n * sizeof(float)) == 0, silent = 1;
    for (long i = 0; i < n; i++)
        silent &= st[1][i] == 0;
    CHECK(same, "stereo L differs from the mono render");
    CHECK(silent, "a silent channel picked up signal from another channel");
    mg_test_free_channels(st, 2);
    mg_test_free_channels(mo, 1);

    x[0][100] = NAN;
    float *y = malloc(n * sizeof *y);
    ft_direct t;
    ft_direct_open(&t, "filter", NULL, 0, ps);
    ft_direct_run(&t, x, &y, 1, n, 64, NULL);
    ft_direct_close(&t);
    int finite = 1;
    for (long i = 128; i < n; i++)
        finite &= isfinite(y[i]) != 0;
    CHECK(finite, "a NaN input latched the filter");
    free(y);
    free(x[0]);
    free(x[1]);
}

/* response() is the float64 cookbook magnitude; tail() covers the decay to -120 dB. */
static void test_callbacks(void)
{
    mg_graph *g = mg_test_graph(FT_RATE, 64, 1);
    mg_node *f = mg_test_node(g, "filter", "f", NULL, 0);
    CHECK_OK(mg_node_set(f, "type", MG_FT_LOWSHELF), g);
    CHECK_OK(mg_node_set(f, "freq", 300), g);
    CHECK_OK(mg_node_set(f, "gain", -7), g);
    mg_biquad c = mg_biquad_design(MG_FT_LOWSHELF, 300, FT_Q_BW, -7, FT_RATE);
    double worst = 0;
    for (double fr = 10; fr < 24000; fr *= 1.1)
        worst = fmax(worst, fabs(mg_node_response(f, fr) - mg_biquad_mag_db(&c, fr, FT_RATE)));
    mg_test_report("response() vs cookbook, lowshelf: max |diff|", worst, "dB");
    CHECK(worst <= 1e-6, "response() differs from the cookbook by %g dB", worst);

    mg_graph_free(g);

    ft_direct t;
    dyn_param pk[] = {{"type", MG_FT_PEAK}, {"freq", 20}, {"q", 10}, {"gain", 12}, {NULL, 0}};
    ft_direct_open(&t, "filter", NULL, 0, pk);
    int64_t tail = t.d->tail(t.state, t.node, FT_RATE);
    ft_direct_close(&t);
    /* measure: the IR's envelope must be below -120 dB (re its peak) after `tail` frames */
    long n = 8 * (long)FT_RATE;
    float *imp = calloc(n, sizeof *imp);
    imp[0] = 1;
    float **y = ft_render("filter", NULL, 0, pk, &imp, 1, n, 256, NULL, 0);
    double after = tail < n ? mg_test_peak(y[0] + tail, n - tail) : 0;
    double peak_ring = mg_test_peak(y[0] + 1, n - 1);
    mg_test_report("tail of a 20 Hz Q 10 +12 dB peak", (double)tail / FT_RATE, "s");
    mg_test_report("IR after the tail, re the ringing peak", 20 * log10(after / peak_ring + 1e-30),
                   "dB");
    CHECK(tail > 0 && tail < n, "tail %lld frames", (long long)tail);
    CHECK(after <= 1e-6 * peak_ring, "IR still at %g of its peak after the tail", after / peak_ring);
    mg_test_free_channels(y, 1);
    free(imp);

    /* a bad slope is refused with a message naming the node */
    g = mg_test_graph(FT_RATE, 64, 1);
    mg_opt o = ft_num("slope", 18);
    CHECK(mg_node_new(g, "filter", "bad", &o, 1) == NULL, "slope 18 accepted");
    CHECK(strstr(mg_graph_error(g), "slope") != NULL, "error names the slope: %s",
          mg_graph_error(g));
    mg_graph_free(g);
}

int main(void)
{
    dyn_tmp_open("filter");
    test_types();
    test_points();
    test_low_frequency();
    test_butterworth();
    test_linkwitz_riley();
    test_sweep();
    test_violent_modulation();
    test_block_size();
    test_channels();
    test_callbacks();
    dyn_tmp_close();
    return mg_test_done("test_filter");
}
