/*
** test_analyze.c: the streaming analyzer (engine/analyze.c) on signals synthesized here,
** against analytic values: per-channel peak, RMS and DC, clipped-sample count, stereo
** correlation (+1, -1, 0), crest factor, the averaged spectrum and critical-band levels
** (a sine of peak A reads 20 log10 A at its bin and in its band), the loudness series
** (agrees with the meter's own getters), masking shares, independence of the chunk size,
** and silence (no NaN anywhere). Runs on the test's main thread.
*/
#include "mg_analyze.h"
#include "mg_loudness.h"
#include "mg_test.h"

#define RATE 48000.0

static void analyse(const float *l, const float *r, int ch, size_t n, unsigned what,
                    size_t chunk, mg_file_analysis *a)
{
    mg_analyzer *an = mg_analyzer_new(RATE, ch, what, NULL);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < chunk ? n - done : chunk;
        const float *p[2] = {l + done, r ? r + done : NULL};
        mg_analyzer_add(an, p, k);
        done += k;
    }
    CHECK_OK(mg_analyzer_finish(an, a), NULL);
    mg_analyzer_free(an);
}

static float *sine(size_t n, double f, double amp, double dc)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(amp * sin(2 * M_PI * f * (double)i / RATE) + dc);
    return x;
}

int main(void)
{
    size_t n = (size_t)(10 * RATE);
    /* bin-centred frequency: bin 85 of the 4096-point frame at 48 kHz */
    double f = 85 * RATE / 4096;
    float *a = sine(n, f, 0.5, 0.0), *b = sine(n, f, 0.25, 0.1), *neg = malloc(n * sizeof *neg);
    for (size_t i = 0; i < n; i++)
        neg[i] = -a[i];
    mg_file_analysis r;
    analyse(a, b, 2, n, MG_ANALYZE_SERIES | MG_ANALYZE_SPECTRUM | MG_ANALYZE_BANDS, 4096, &r);
    CHECK_NEAR(r.peak[0], 20 * log10(0.5), 0.001, "peak L");
    CHECK_NEAR(r.rms[0], 20 * log10(0.5 / sqrt(2)), 0.001, "RMS L");
    CHECK_NEAR(r.rms[1], 10 * log10(0.25 * 0.25 / 2 + 0.01), 0.001, "RMS R (sine + DC)");
    CHECK_NEAR(r.dc[0], 0, 1e-4, "DC L");
    CHECK_NEAR(r.dc[1], 0.1, 1e-4, "DC R");
    CHECK_NEAR(r.correlation, 0.25 * 0.5 / 2 / sqrt(0.125 * (0.03125 + 0.01)), 1e-3,
               "correlation with an offset");
    CHECK(r.clipped == 0, "clipped %llu", (unsigned long long)r.clipped);
    CHECK_NEAR(r.crest, 20 * log10(0.5) - 10 * log10((0.125 + 0.03125 + 0.01) / 2), 0.01,
               "crest factor");
    /* spectrum of the mean ((0.5 + 0.25)/2 = 0.375 peak) at bin 85 */
    CHECK(r.n_spectrum == 2049, "spectrum bins %zu", r.n_spectrum);
    CHECK_NEAR(r.spectrum[85], 20 * log10(0.375), 0.05, "spectrum peak of a bin-centred sine");
    CHECK_NEAR(r.spectrum[0], 20 * log10(0.05), 0.1, "spectrum DC bin (mean DC 0.05: reads 20 log10 0.05)");
    int band = -1;
    for (int k = 0; k < MG_BANDS; k++)
        if (f >= mg_band_edges[k] && f < mg_band_edges[k + 1])
            band = k;
    CHECK(band >= 0 && r.n_frames >= 100, "band %d, %zu frames", band, r.n_frames);
    CHECK_NEAR(r.bands[50 * MG_BANDS + (size_t)band], 20 * log10(0.375), 0.05,
               "band level of the sine");
    CHECK(r.bands[50 * MG_BANDS + (size_t)band + 3] < -80, "far band level %g",
          r.bands[50 * MG_BANDS + (size_t)band + 3]);
    mg_test_report("spectrum peak, sine of peak 0.375 (expect -8.52)", r.spectrum[85], "dB");
    mg_test_report("band level, same sine (expect -8.52)", r.bands[50 * MG_BANDS + (size_t)band],
                   "dB");
    /* series against the meter fed directly */
    mg_loudness *m = mg_loudness_new(RATE, 2, NULL);
    const float *p[2] = {a, b};
    mg_loudness_add(m, p, n);
    CHECK(r.n_series == 100, "series length %zu", r.n_series);
    CHECK_NEAR(r.shortterm[99], mg_loudness_shortterm(m), 1e-9, "last S of the series");
    CHECK_NEAR(r.momentary[99], mg_loudness_momentary(m), 1e-9, "last M of the series");
    CHECK(isinf(r.shortterm[28]) && isfinite(r.shortterm[29]), "S exists from 3 s on");
    CHECK_NEAR(r.integrated, mg_loudness_integrated(m), 1e-9, "I");
    mg_loudness_free(m);
    /* chunk independence */
    mg_file_analysis r1;
    analyse(a, b, 2, n, MG_ANALYZE_SERIES | MG_ANALYZE_SPECTRUM, 1, &r1);
    CHECK(r1.integrated == r.integrated && r1.lra == r.lra && r1.spectrum[85] == r.spectrum[85] &&
              r1.shortterm[99] == r.shortterm[99],
          "chunk size 1 differs from 4096");
    CHECK_NEAR(r1.rms[1], r.rms[1], 1e-9, "RMS with chunk size 1 (summation order)");
    mg_analysis_free(&r1);
    /* the sums behind RMS, DC and correlation are kept by stream position: identical */
    analyse(a, b, 2, n, 0, 7, &r1);
    CHECK(r1.rms[0] == r.rms[0] && r1.rms[1] == r.rms[1] && r1.dc[0] == r.dc[0] &&
              r1.dc[1] == r.dc[1] && r1.correlation == r.correlation && r1.crest == r.crest &&
              r1.peak[1] == r.peak[1] && r1.true_peak == r.true_peak,
          "chunk size 7 differs from 4096: RMS %.17g / %.17g, DC %.17g / %.17g", r1.rms[1],
          r.rms[1], r1.dc[1], r.dc[1]);
    mg_analysis_free(&r1);
    /* masking: a (0.5) covers b (0.25 = 6 dB down: not 10) nowhere; a quieter copy is */
    float *q = sine(n, f, 0.05, 0.0);
    mg_file_analysis rq, ra;
    analyse(q, q, 2, n, MG_ANALYZE_BANDS, 4096, &rq);
    analyse(a, a, 2, n, MG_ANALYZE_BANDS, 4096, &ra);
    double share[MG_BANDS];
    mg_analyze_masking(&ra, &rq, share);
    CHECK_NEAR(share[band], 1.0, 1e-9, "a 20 dB louder tone masks in its band");
    CHECK_NEAR(share[band + 2], 0.0, 1e-9, "nothing sounds two bands up");
    mg_analyze_masking(&rq, &ra, share);
    CHECK_NEAR(share[band], 0.0, 1e-9, "the quiet tone masks nothing");
    mg_analysis_free(&rq);
    mg_analysis_free(&ra);
    mg_analysis_free(&r);
    /* opposite polarity and clipping */
    for (size_t i = 0; i < 100; i++)
        neg[i * 1000] = i % 2 ? 1.0f : -1.0f;
    analyse(a, neg, 2, n, 0, 4096, &r);
    CHECK(r.correlation < -0.99, "inverted channel: correlation %g", r.correlation);
    CHECK(r.clipped == 100, "clipped %llu, expected 100", (unsigned long long)r.clipped);
    /* silence: nothing is NaN */
    float *z = calloc(n, sizeof *z);
    analyse(z, z, 2, n, MG_ANALYZE_SERIES | MG_ANALYZE_SPECTRUM, 4096, &r);
    CHECK(isinf(r.integrated) && r.lra == 0 && r.correlation == 0 && r.crest == 0 &&
              isinf(r.rms[0]) && !isnan(r.spectrum[10]) && r.dc[0] == 0,
          "silence: I %g LRA %g corr %g crest %g", r.integrated, r.lra, r.correlation, r.crest);
    mg_analysis_free(&r);
    analyse(a, NULL, 1, n, 0, 4096, &r);
    CHECK(isnan(r.correlation), "mono correlation should be NaN (undefined)");
    free(a);
    free(b);
    free(neg);
    free(q);
    free(z);
    return mg_test_done("test_analyze");
}
