/*
** test_saturate.c: the `saturate` node against DSP_TESTS §8 (SAT-1 .. SAT-7): aliasing of a
** driven tanh measured by the signal-to-aliasing ratio with coherent sampling (rectangular
** window, harmonics on exact bins), small-signal gain, pass-band flatness and exact latency of
** the oversampling chain, a log sweep's energy outside its harmonic tracks, and the even
** harmonics of symmetric and biased curves against the curve's own Fourier coefficients
** (numerical integration in float64). Then block-size independence and the dry/wet mix, the
** oversampler's block filters against its frame filters, and ramping against constant
** settings.
*/
#include "filter_test.h"
#include "mg_oversample.h"

#define RATE 48000.0
#define NFFT 65536L

static const char *os_name[] = {"1x", "2x", "4x", "8x"};

/* Mono render of saturate (oversample index osi: 0..3 = 1, 2, 4, 8x), aligned. */
static float *sat(int osi, const float *x, long n, const dyn_param *ps, int64_t *lat)
{
    static const char *factor[] = {"1", "2", "4", "8"};
    mg_opt o = {.name = "oversample", .str = factor[osi]};
    float *xs = (float *)x;
    float **y = dyn_aligned("saturate", &o, 1, RATE, 256, &xs, 1, n, ps, lat, NULL, NULL);
    float *r = y[0];
    free(y);
    return r;
}

/* Sine of `bins` cycles per NFFT frames (coherent), amplitude a, n frames. */
static float *coherent_sine(long bins, double a, long n)
{
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++)
        x[i] = (float)(a * sin(2 * M_PI * (double)(bins * (i % NFFT)) / NFFT));
    return x;
}

/*
** SAR (dB) of NFFT frames of y (rectangular window) for a tone on bin k0: power on the
** harmonic bins k k0 (the ones below Nyquist) over the power on every other bin, both within
** 20 Hz .. 20 kHz.
*/
static double sar(const float *y, long k0)
{
    double *re = calloc(NFFT, sizeof *re), *im = calloc(NFFT, sizeof *im);
    for (long i = 0; i < NFFT; i++)
        re[i] = y[i];
    mg_test_fft(re, im, NFFT);
    long lo = (long)ceil(20.0 * NFFT / RATE), hi = (long)floor(20000.0 * NFFT / RATE);
    double ph = 0, pa = 0;
    for (long k = lo; k <= hi; k++) {
        double pw = re[k] * re[k] + im[k] * im[k];
        if (k % k0 == 0)
            ph += pw;
        else
            pa += pw;
    }
    free(re);
    free(im);
    return 10 * log10(ph / (pa > 1e-300 ? pa : 1e-300));
}

/* SAT-1, SAT-2: tanh, drive +12 dB, 0 dBFS tone near 4985 Hz; SAR at 1, 2, 4, 8x. */
static void sat12(void)
{
    long k0 = lrint(4985.0 * NFFT / RATE); /* 4984.6 Hz */
    long skip = 2 * 48000; /* the DC blocker's start-up transient (1 Hz) dies out */
    long n = NFFT + skip + 4096; /* and the filters' look-ahead at the end */
    float *x = coherent_sine(k0, 1.0, n);
    dyn_param ps[] = {{"curve", 0}, {"drive", 12}, {"gain", -12}, {NULL, 0}};
    double s[4];
    for (int osi = 0; osi < 4; osi++) {
        float *y = sat(osi, x, n, ps, NULL);
        s[osi] = sar(y + skip, k0);
        char what[96];
        snprintf(what, sizeof what, "SAT-1/2: tanh +12 dB, %.1f Hz, 0 dBFS: SAR at %s",
                 k0 * RATE / NFFT, os_name[osi]);
        mg_test_report(what, s[osi], "dB");
        free(y);
    }
    CHECK(s[2] >= 70, "SAT-1: SAR at 4x %.1f dB < 70", s[2]);
    CHECK(s[2] - s[0] >= 40, "SAT-1: 4x improves on 1x by %.1f dB < 40", s[2] - s[0]);
    CHECK(s[1] >= 40, "SAT-2: SAR at 2x %.1f dB < 40", s[1]);
    CHECK(s[3] >= s[2] - 1, "SAT: 8x (%.1f dB) should not alias more than 4x", s[3]);
    mg_test_report("SAT-1: improvement of 4x over 1x (>= 40)", s[2] - s[0], "dB");
    free(x);
}

/* SAT-3 and SAT-4: -60 dBFS sines: gain = drive + gain (small signal) at 1 kHz within
   0.05 dB, and within 0.1 dB from 20 Hz to 20 kHz, at every oversampling factor. */
static void sat34(void)
{
    const double freqs[] = {20, 50, 100, 1000, 5000, 10000, 15000, 18000, 20000};
    const long n = 48000;
    for (int curve = 0; curve < 3; curve++)
        for (int osi = 0; osi < 4; osi++) {
            dyn_param ps[] = {{"curve", curve}, {"drive", 9}, {"gain", -3}, {NULL, 0}};
            double worst = 0;
            for (int f = 0; f < 9; f++) {
                float *x = dyn_sine(freqs[f], RATE, -60, n);
                float *y = sat(osi, x, n, ps, NULL);
                double g = dyn_db(mg_test_sine_fit(y + n / 2, n / 2, freqs[f], RATE, NULL) /
                                  mg_test_sine_fit(x + n / 2, n / 2, freqs[f], RATE, NULL));
                if (freqs[f] == 1000) {
                    char what[96];
                    snprintf(what, sizeof what, "SAT-3: curve %d %s, gain at 1 kHz -60 dBFS "
                             "(expected 6.00)", curve, os_name[osi]);
                    CHECK_NEAR(g, 6.0, 0.05, what);
                    if (osi == 2)
                        mg_test_report(what, g, "dB");
                }
                worst = fmax(worst, fabs(g - 6.0));
                free(x);
                free(y);
            }
            char what[96];
            snprintf(what, sizeof what, "SAT-4: curve %d %s, |gain - 6 dB| 20 Hz..20 kHz "
                     "(<= 0.1)", curve, os_name[osi]);
            if (curve == 0)
                mg_test_report(what, worst, "dB");
            CHECK(worst <= 0.1, "%s: %g", what, worst);
        }
}

/* SAT-5: at -60 dBFS the output is the input delayed by the reported latency (a sum of
   tones up to 15 kHz, inside the pass band), and not by one frame more or less. */
static void sat5(void)
{
    const long n = 24000;
    float *x = calloc((size_t)n, sizeof *x);
    const double f[] = {97, 1031, 4507, 9973, 14983};
    for (long i = 0; i < n; i++)
        for (int k = 0; k < 5; k++)
            x[i] += (float)(0.0002 * sin(2 * M_PI * f[k] * i / RATE + k));
    for (int osi = 0; osi < 4; osi++) {
        int64_t lat;
        dyn_param ps[] = {{"drive", 0}, {NULL, 0}};
        float *y = sat(osi, x, n, ps, &lat);
        double e[3] = {0, 0, 0};
        for (int d = -1; d <= 1; d++)
            for (long i = 4000; i < n - 4000; i++)
                e[d + 1] = fmax(e[d + 1], fabs(y[i + d] - x[i]));
        char what[96];
        snprintf(what, sizeof what, "SAT-5: %s latency (frames)", os_name[osi]);
        mg_test_report(what, (double)lat, "");
        snprintf(what, sizeof what, "SAT-5: %s error at the latency, dB re the signal",
                 os_name[osi]);
        mg_test_report(what, dyn_db(e[1] / 0.001), "dB");
        CHECK(e[1] < 1e-5 && e[0] > 10 * e[1] && e[2] > 10 * e[1],
              "SAT-5 %s: errors at latency -1, 0, +1: %g %g %g", os_name[osi], e[0], e[1], e[2]);
        free(y);
    }
    free(x);
}

/*
** SAT-6: log sweep 20 Hz .. 20 kHz, 10 s, 0 dBFS into tanh (drive 0 dB) at 4x:
** Blackman-Harris frames of 4096 frames; in each, the bins further than 12 bins from every
** harmonic track k f(t) (over the frame's span) hold aliasing. Their power relative to the
** frame's total, worst frame, must be under -70 dB (the SAR target); at 1x it is far above
** (so the check can fail). With +12 dB of drive a 4x chain cannot meet -70 dB near the top of
** the sweep (the 13th harmonic of 14 kHz folds at the 4x rate's own Nyquist: §8's table gives
** 64.9 dB at 9973 Hz), so that case is reported, not checked.
*/
static double sweep_alias(int osi, double drive)
{
    const long n = 10 * 48000, N = 4096;
    double f1 = 20, f2 = 20000, T = 10, K = log(f2 / f1);
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++) {
        double t = i / RATE;
        x[i] = (float)sin(2 * M_PI * f1 * T / K * (exp(t * K / T) - 1));
    }
    dyn_param ps[] = {{"curve", 0}, {"drive", drive}, {"gain", -drive}, {NULL, 0}};
    float *y = sat(osi, x, n, ps, NULL);
    double *re = malloc(N * sizeof *re), *im = malloc(N * sizeof *im), worst = -400;
    for (long s0 = 2 * N; s0 + N < n - 4 * N; s0 += N) {
        for (long i = 0; i < N; i++) {
            double w = 0.35875 - 0.48829 * cos(2 * M_PI * i / N) +
                       0.14128 * cos(4 * M_PI * i / N) - 0.01168 * cos(6 * M_PI * i / N);
            re[i] = w * y[s0 + i];
            im[i] = 0;
        }
        mg_test_fft(re, im, N);
        double fa = f1 * exp((double)s0 / RATE * K / T), fb = f1 * exp((s0 + N) / RATE * K / T);
        double tot = 0, out = 0;
        for (long k = (long)(20.0 * N / RATE); k <= (long)(20000.0 * N / RATE); k++) {
            double pw = re[k] * re[k] + im[k] * im[k], fk = k * RATE / N, bw = 12 * RATE / N;
            tot += pw;
            int near = 0;
            for (int h = 1; h * fa < RATE / 2 && !near; h++)
                near = fk >= h * fa - bw && fk <= h * fb + bw;
            if (!near)
                out += pw;
        }
        worst = fmax(worst, 10 * log10(fmax(out, 1e-300) / tot));
    }
    free(re);
    free(im);
    free(x);
    free(y);
    return worst;
}

static void sat6(void)
{
    double w4 = sweep_alias(2, 0), w1 = sweep_alias(0, 0), w12 = sweep_alias(2, 12);
    mg_test_report("SAT-6: sweep, energy off the harmonic tracks, 4x (<= -70)", w4, "dB");
    mg_test_report("SAT-6: sweep, energy off the harmonic tracks, 1x (informative)", w1, "dB");
    mg_test_report("SAT-6: the same with +12 dB drive, 4x (informative)", w12, "dB");
    CHECK(w4 <= -70, "SAT-6: 4x sweep aliasing %.1f dB", w4);
    CHECK(w1 > w4 + 20, "SAT-6: 1x should alias far more (%.1f vs %.1f dB)", w1, w4);
}

/* Amplitude of harmonic h of f(A sin t + b) - f(b) (f the curve), float64 quadrature. */
static double curve_harmonic(int curve, double A, double b, int h)
{
    const int M = 1 << 14;
    double s = 0, c = 0;
    for (int i = 0; i < M; i++) {
        double t = 2 * M_PI * i / M, u = A * sin(t) + b, v;
        if (curve == 0)
            v = tanh(u);
        else
            v = u >= 0 ? tanh(u) : 0.5 * tanh(2 * u);
        s += v * sin(h * t);
        c += v * cos(h * t);
    }
    return 2 * sqrt(s * s + c * c) / M;
}

/* SAT-7: 1 kHz at -6 dBFS through tanh (drive 0): even harmonics under -120 dB; with bias 0.3
   and with the asymmetric curve, H2 as the curve's Fourier series says (+-0.1 dB). */
static void sat7(void)
{
    const long n = 48000;
    float *x = dyn_sine(1000, RATE, -6, n);
    double A = dyn_amp(-6);
    dyn_param p0[] = {{"curve", 0}, {"drive", 0}, {NULL, 0}};
    float *y = sat(2, x, n, p0, NULL);
    double h1 = mg_test_sine_fit(y + 4800, n - 9600, 1000, RATE, NULL), even = 0;
    for (int h = 2; h <= 8; h += 2)
        even = fmax(even, mg_test_sine_fit(y + 4800, n - 9600, 1000.0 * h, RATE, NULL));
    mg_test_report("SAT-7: tanh, largest even harmonic re H1 (< -120)", dyn_db(even / h1), "dB");
    CHECK(dyn_db(even / h1) < -120, "SAT-7: even harmonics at %.1f dB", dyn_db(even / h1));
    free(y);
    const struct { int curve; double bias; const char *what; } cs[] = {
        {0, 0.3, "SAT-7: tanh with bias 0.3, H2 re H1"},
        {2, 0.0, "SAT-7: asymmetric curve, H2 re H1"},
    };
    for (int k = 0; k < 2; k++) {
        dyn_param pb[] = {{"curve", cs[k].curve}, {"drive", 0}, {"bias", cs[k].bias}, {NULL, 0}};
        y = sat(2, x, n, pb, NULL);
        double m1 = mg_test_sine_fit(y + 4800, n - 9600, 1000, RATE, NULL);
        double m2 = mg_test_sine_fit(y + 4800, n - 9600, 2000, RATE, NULL);
        double e = dyn_db(curve_harmonic(cs[k].curve, A, cs[k].bias, 2) /
                          curve_harmonic(cs[k].curve, A, cs[k].bias, 1));
        char what[128];
        snprintf(what, sizeof what, "%s (expected %.2f)", cs[k].what, e);
        mg_test_report(what, dyn_db(m2 / m1), "dB");
        CHECK_NEAR(dyn_db(m2 / m1), e, 0.1, what);
        free(y);
    }
    free(x);
}

/* Blocks of 1, 64 and 4096 give the same bits with drive and mix ramping; mix 0 is the dry
   signal delayed exactly. */
static void blocks_mix(void)
{
    const long n = 20000;
    float *x = dyn_sine(440, RATE, -3, n);
    dyn_event ev[] = {{5000, NULL, "drive", 20}, {9000, NULL, "mix", 30},
                      {12000, NULL, "bias", 0.5}};
    long diff = dyn_block_diff("saturate", NULL, 0, NULL, &x, 1, n, ev, 3);
    CHECK(diff == 0, "saturate: %ld samples depend on the block size", diff);
    dyn_param pm[] = {{"mix", 0}, {"drive", 24}, {NULL, 0}};
    float *y = sat(2, x, n, pm, NULL);
    double e = 0;
    for (long i = 0; i < n; i++)
        e = fmax(e, fabs(y[i] - x[i]));
    mg_test_report("mix 0: max |out - delayed in|", e, "");
    CHECK(e == 0, "mix 0 should give the dry signal exactly (%g)", e);
    free(y);
    free(x);
}

/* A NaN in the input does not latch: the output stays finite and the tone comes back. */
static void nonfinite(void)
{
    const long n = 48000;
    float *x = dyn_sine(440, RATE, -6, n);
    x[1000] = NAN;
    dyn_param ps[] = {{"drive", 6}, {NULL, 0}};
    float *y = sat(2, x, n, ps, NULL);
    long bad = 0;
    for (long i = 0; i < n; i++)
        bad += !isfinite(y[i]);
    double a = dyn_db(mg_test_sine_fit(y + n / 2, n / 2, 440, RATE, NULL));
    CHECK(bad == 0 && a > -6, "saturate after NaN: %ld non-finite, tone at %g dBFS", bad, a);
    free(y);
    free(x);
}

/*
** The oversampler's block filters (mg_os_up_block / mg_os_down_block) against its frame filters
** (mg_os_up / mg_os_down), at 2, 4 and 8x with saturate's 4x prototype shape: the same values
** within float rounding, and the same bits whatever the split of the signal into calls (1, 7,
** 64, 300 and 4096 frames: spans of the internal chunk, its slides and partial vectors).
** Rounding bound: two float sums of the same m products in different orders differ by at most
** 2 m 2^-24 times the sum of their magnitudes (m = k for a phase of the interpolator, L k for
** the decimator), itself at most the sum of |coefficients| times max |input| (here 1).
** The differences are reported in units of that bound (it must stay under 1).
*/
static void os_blocks(void)
{
    const long n = 5000;
    float *x = ft_noise(n, 7, 1.0);
    for (int L = 2; L <= 8; L *= 2) {
        int taps = 43 * L;
        double *h = malloc((size_t)taps * sizeof *h);
        mg_kaiser_lowpass(h, taps, 0.5 / L, 0.1102 * (110 - 8.7));
        mg_os os;
        mg_os_chan fr, bl;
        CHECK(mg_os_make(&os, L, h, taps) == MG_OK && mg_os_chan_init(&fr, &os) == MG_OK &&
                  mg_os_chan_init(&bl, &os) == MG_OK,
              "oversampler design");
        float *uf = malloc((size_t)L * n * sizeof *uf), *yf = malloc((size_t)n * sizeof *yf);
        for (long i = 0; i < n; i++) {
            float ph[MG_OS_MAX];
            mg_os_up(&os, &fr, x[i], ph);
            for (int p = 0; p < L; p++)
                uf[L * i + p] = ph[p];
            yf[i] = mg_os_down(&os, &fr, uf + L * i);
        }
        const int splits[] = {4096, 1, 7, 64, 300};
        float *ur = NULL, *yr = NULL, *u = malloc((size_t)L * 4096 * sizeof *u);
        for (int k = 0; k < 5; k++) {
            float *ub = malloc((size_t)L * n * sizeof *ub), *yb = malloc((size_t)n * sizeof *yb);
            mg_os_chan_reset(&bl, &os);
            for (long i0 = 0; i0 < n; i0 += splits[k]) {
                uint32_t m = (uint32_t)(n - i0 < splits[k] ? n - i0 : splits[k]);
                mg_os_up_block(&os, &bl, x + i0, m, u);
                for (uint32_t i = 0; i < m; i++) /* phase-major to time order */
                    for (int p = 0; p < L; p++)
                        ub[L * (i0 + i) + p] = u[(size_t)p * m + i];
                /* the decimator is fed the frame filters' values, so each is checked alone */
                for (uint32_t i = 0; i < m; i++)
                    for (int p = 0; p < L; p++)
                        u[(size_t)p * m + i] = uf[L * (i0 + i) + p];
                mg_os_down_block(&os, &bl, u, m, yb + i0);
            }
            if (!ur) {
                double eu = 0, ey = 0, sd = 0;
                for (long i = 0; i < L * n; i++)
                    eu = fmax(eu, fabs(ub[i] - uf[i]));
                for (long i = 0; i < n; i++)
                    ey = fmax(ey, fabs(yb[i] - yf[i]));
                for (int i = 0; i < os.taps; i++)
                    sd += fabs(os.down[i]);
                double bu = 2.0 * os.k * ldexp(1, -24) * mg_os_up_norm(&os);
                double bd = 2.0 * L * os.k * ldexp(1, -24) * sd * mg_os_up_norm(&os);
                char what[96];
                snprintf(what, sizeof what, "OS %dx: block vs frame interpolator, max |diff| / "
                         "bound", L);
                mg_test_report(what, eu / bu, "");
                CHECK(eu < bu, "%s: %g (bound %g)", what, eu, bu);
                snprintf(what, sizeof what, "OS %dx: block vs frame decimator, max |diff| / "
                         "bound", L);
                mg_test_report(what, ey / bd, "");
                CHECK(ey < bd, "%s: %g (bound %g)", what, ey, bd);
                ur = ub;
                yr = yb;
                continue;
            }
            int same = memcmp(ub, ur, (size_t)L * n * sizeof *ub) == 0 &&
                       memcmp(yb, yr, (size_t)n * sizeof *yb) == 0;
            CHECK(same, "OS %dx: calls of %d frames change the block filters' output", L,
                  splits[k]);
            free(ub);
            free(yb);
        }
        free(ur);
        free(yr);
        free(u);
        free(uf);
        free(yf);
        free(h);
        mg_os_chan_free(&fr);
        mg_os_chan_free(&bl);
        mg_os_free(&os);
    }
    free(x);
}

/*
** The node's two ways of reading parameters: with every parameter flagged as ramping but
** holding the same values (settings per frame), the output must have the bits of the
** constant case (one setting for the block), for each curve, with a bias, at 1, 2, 4 and 8x,
** stereo.
*/
static void sat_paths(void)
{
    const long n = 3000;
    float *x[2] = {ft_noise(n, 3, 1.5), ft_noise(n, 4, 0.5)};
    long diff = 0;
    for (int osi = 0; osi < 4; osi++)
        for (int curve = 0; curve < 3; curve++) {
            static const char *factor[] = {"1", "2", "4", "8"};
            mg_opt o = {.name = "oversample", .str = factor[osi]};
            dyn_param ps[] = {{"curve", curve}, {"drive", 14}, {"bias", 0.2}, {"mix", 70},
                              {"gain", -5}, {NULL, 0}};
            float *y[2][2];
            for (int ramp = 0; ramp < 2; ramp++) {
                ft_direct t;
                ft_direct_open(&t, "saturate", &o, 1, ps);
                int ch = 2;
                mg_prepare pr = {.rate = RATE, .block = 256, .in_ch = &ch, .out_ch = &ch};
                CHECK_OK(t.d->prepare(t.state, t.node, &pr), t.g);
                t.d->reset(t.state);
                float *traj[256] = {NULL};
                for (int i = 0; ramp && i < t.np; i++) {
                    traj[i] = malloc((size_t)n * sizeof(float));
                    for (long j = 0; j < n; j++)
                        traj[i][j] = t.cur[i];
                }
                y[ramp][0] = malloc((size_t)n * sizeof(float));
                y[ramp][1] = malloc((size_t)n * sizeof(float));
                ft_direct_run(&t, x, y[ramp], 2, n, 256, ramp ? (const float *const *)traj : NULL);
                for (int i = 0; i < t.np; i++)
                    free(traj[i]);
                ft_direct_close(&t);
            }
            for (int c = 0; c < 2; c++) {
                diff += memcmp(y[0][c], y[1][c], (size_t)n * sizeof(float)) != 0;
                free(y[0][c]);
                free(y[1][c]);
            }
        }
    mg_test_report("ramping vs constant settings: channel renders that differ", (double)diff,
                   "");
    CHECK(diff == 0, "saturate: %ld renders differ between ramping and constant settings", diff);
    free(x[0]);
    free(x[1]);
}

int main(void)
{
    dyn_tmp_open("saturate");
    sat12();
    sat34();
    sat5();
    sat6();
    sat7();
    blocks_mix();
    nonfinite();
    os_blocks();
    sat_paths();
    dyn_tmp_close();
    return mg_test_done("test_saturate");
}
