/*
** test_noise.c: the `noise` node: white RMS equals the gain, pink spectrum falls 3.01 dB per
** octave (octave-band densities from an averaged periodogram) at 48 and 96 kHz, seeds are
** deterministic and channels independent, and the output is block-size independent.
*/
#include "mg_test.h"

static mg_opt num(const char *name, double v) { return (mg_opt){.name = name, .num = v}; }
static mg_opt str(const char *name, const char *s) { return (mg_opt){.name = name, .str = s}; }

static double db(double x) { return 20 * log10(x); }

/*
** Render `frames` frames of one noise node with options o and gain set before the first
** sample; if change_at > 0 the gain becomes gain2 there. Returns `channels` planar channels.
*/
static float **render_noise_ex(double rate, int block, int channels, const mg_opt *o, int no,
                               long frames, double gain, long change_at, double gain2)
{
    mg_graph *g = mg_test_graph(rate, block, channels);
    mg_node *nz = mg_test_node(g, "noise", "noise", o, no);
    CHECK_OK(mg_node_set(nz, "gain", gain), g);
    CHECK_OK(mg_connect(nz, 0, mg_graph_output(g), 0), g);
    float **y = malloc((size_t)channels * sizeof *y);
    for (int c = 0; c < channels; c++)
        y[c] = malloc((size_t)frames * sizeof **y);
    long first = change_at > 0 ? change_at : frames;
    int ch;
    float **a = mg_test_render(g, first, &ch);
    for (int c = 0; c < channels; c++)
        memcpy(y[c], a[c], (size_t)first * sizeof **y);
    mg_test_free_channels(a, ch);
    if (first < frames) {
        CHECK_OK(mg_node_set(nz, "gain", gain2), g);
        a = mg_test_render(g, frames - first, &ch);
        for (int c = 0; c < channels; c++)
            memcpy(y[c] + first, a[c], (size_t)(frames - first) * sizeof **y);
        mg_test_free_channels(a, ch);
    }
    CHECK(mg_graph_nonfinite(g) == 0, "no NaN/Inf at the output");
    mg_graph_free(g);
    return y;
}

static float *render_noise(double rate, const mg_opt *o, int no, long frames, double gain)
{
    float **y = render_noise_ex(rate, 256, 1, o, no, frames, gain, 0, 0);
    float *x = y[0];
    free(y);
    return x;
}

#define NBANDS 7
static const double band_fc[NBANDS] = {125, 250, 500, 1000, 2000, 4000, 8000};

/*
** Welch periodogram (Hann, 8192 points, 50% overlap) of x[0..n), reduced to the mean power
** density (dB, arbitrary reference) of octave bands fc/sqrt2..fc*sqrt2. Returns the slope of
** a least-squares line through the band densities in dB per octave; *maxdev receives the
** largest departure of a band from that line.
*/
static double octave_slope(const float *x, long n, double rate, double dens_db[NBANDS],
                           double *maxdev)
{
    const long m = 8192;
    double *re = malloc((size_t)m * sizeof *re), *im = malloc((size_t)m * sizeof *im);
    double *psd = calloc((size_t)m / 2, sizeof *psd);
    for (long s = 0; s + m <= n; s += m / 2) {
        for (long i = 0; i < m; i++) {
            double w = 0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)m);
            re[i] = x[s + i] * w;
            im[i] = 0;
        }
        mg_test_fft(re, im, m);
        for (long k = 0; k < m / 2; k++)
            psd[k] += re[k] * re[k] + im[k] * im[k];
    }
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int b = 0; b < NBANDS; b++) {
        double lo = band_fc[b] / sqrt(2.0), hi = band_fc[b] * sqrt(2.0), sum = 0;
        long cnt = 0;
        for (long k = 1; k < m / 2; k++) {
            double f = (double)k * rate / (double)m;
            if (f >= lo && f < hi) {
                sum += psd[k];
                cnt++;
            }
        }
        dens_db[b] = 10 * log10(sum / (double)cnt);
        double xo = log2(band_fc[b] / 1000);
        sx += xo;
        sy += dens_db[b];
        sxx += xo * xo;
        sxy += xo * dens_db[b];
    }
    double slope = (NBANDS * sxy - sx * sy) / (NBANDS * sxx - sx * sx);
    double icpt = (sy - slope * sx) / NBANDS;
    *maxdev = 0;
    for (int b = 0; b < NBANDS; b++) {
        double d = dens_db[b] - (icpt + slope * log2(band_fc[b] / 1000));
        if (fabs(d) > *maxdev)
            *maxdev = fabs(d);
    }
    free(re);
    free(im);
    free(psd);
    return slope;
}

static void test_white_rms(void)
{
    const double gains[] = {-12, 0, -30};
    const long n = 480000; /* 10 s */
    double worst = 0;
    for (int k = 0; k < 3; k++)
        for (int seed = 1; seed <= 2; seed++) {
            float *y = render_noise(48000, (mg_opt[]){num("seed", seed), num("attack", 0)}, 2,
                                    n, gains[k]);
            double rms = db(mg_test_rms(y, n));
            char what[96];
            snprintf(what, sizeof what, "white RMS at gain %g dB, seed %d (dB)", gains[k], seed);
            CHECK_NEAR(rms, gains[k], 0.1, what);
            if (fabs(rms - gains[k]) > worst)
                worst = fabs(rms - gains[k]);
            /* uniform: peak at most sqrt(3) (+4.77 dB) above the RMS */
            CHECK(db(mg_test_peak(y, n)) <= gains[k] + 4.772, "white peak bounded");
            free(y);
        }
    mg_test_report("white RMS: worst error vs gain (10 s)", worst, "dB");
}

static void test_spectra(void)
{
    const double rates[] = {48000, 96000, 22050, 192000};
    for (int r = 0; r < 4; r++) {
        long n = (long)((r < 2 ? 20 : 10) * rates[r]); /* seconds: 48/96 kHz are the spec */
        char what[96];
        double dens[NBANDS], dev;
        float *y = render_noise(rates[r], (mg_opt[]){str("color", "pink"), num("attack", 0)}, 2,
                                n, -12);
        double slope = octave_slope(y, n, rates[r], dens, &dev);
        snprintf(what, sizeof what, "pink %g kHz: slope 125 Hz-8 kHz octaves", rates[r] / 1000);
        mg_test_report(what, slope, "dB/oct");
        CHECK_NEAR(slope, -3.0103, 0.5, what);
        snprintf(what, sizeof what, "pink %g kHz: largest band departure from line",
                 rates[r] / 1000);
        mg_test_report(what, dev, "dB");
        CHECK(dev < 0.3, "%s: %g dB", what, dev); /* design: +-0.2 dB */
        double rms = db(mg_test_rms(y, n));
        snprintf(what, sizeof what, "pink %g kHz: RMS at gain -12 dB (20 s)", rates[r] / 1000);
        mg_test_report(what, rms, "dB");
        CHECK_NEAR(rms, -12, 0.3, what);
        free(y);

        y = render_noise(rates[r], (mg_opt[]){num("attack", 0)}, 1, n, -12);
        slope = octave_slope(y, n, rates[r], dens, &dev);
        snprintf(what, sizeof what, "white %g kHz: slope 125 Hz-8 kHz octaves", rates[r] / 1000);
        mg_test_report(what, slope, "dB/oct");
        CHECK_NEAR(slope, 0, 0.2, what);
        free(y);
    }
}

/* Pearson correlation of two equally long signals. */
static double correlation(const float *a, const float *b, long n)
{
    double sab = 0, saa = 0, sbb = 0;
    for (long i = 0; i < n; i++) {
        sab += (double)a[i] * b[i];
        saa += (double)a[i] * a[i];
        sbb += (double)b[i] * b[i];
    }
    return sab / sqrt(saa * sbb);
}

static void test_seeds(void)
{
    const long n = 48000;
    for (int pink = 0; pink < 2; pink++) {
        const char *color = pink ? "pink" : "white";
        float **a = render_noise_ex(48000, 256, 2, (mg_opt[]){str("color", color),
                                                               num("seed", 7), num("channels", 2)},
                                    3, n, -12, 0, 0);
        float **b = render_noise_ex(48000, 256, 2, (mg_opt[]){str("color", color),
                                                               num("seed", 7), num("channels", 2)},
                                    3, n, -12, 0, 0);
        float **c = render_noise_ex(48000, 256, 2, (mg_opt[]){str("color", color),
                                                               num("seed", 8), num("channels", 2)},
                                    3, n, -12, 0, 0);
        CHECK(memcmp(a[0], b[0], (size_t)n * sizeof(float)) == 0 &&
                  memcmp(a[1], b[1], (size_t)n * sizeof(float)) == 0,
              "%s: same seed, same noise", color);
        CHECK(memcmp(a[0], c[0], (size_t)n * sizeof(float)) != 0, "%s: other seed differs",
              color);
        double r_ch = correlation(a[0], a[1], n), r_seed = correlation(a[0], c[0], n);
        char what[96];
        snprintf(what, sizeof what, "%s: correlation channel 0 vs 1", color);
        mg_test_report(what, r_ch, "");
        snprintf(what, sizeof what, "%s: correlation seed 7 vs seed 8", color);
        mg_test_report(what, r_seed, "");
        /* white: 1/sqrt(n) = 0.005; pink is dominated by a few slow components */
        double lim = pink ? 0.1 : 0.02;
        CHECK(fabs(r_ch) < lim, "%s channels uncorrelated (r = %g)", color, r_ch);
        CHECK(fabs(r_seed) < lim, "%s seeds uncorrelated (r = %g)", color, r_seed);
        mg_test_free_channels(a, 2);
        mg_test_free_channels(b, 2);
        mg_test_free_channels(c, 2);
    }
}

static void test_block_independence(void)
{
    const long n = 20000, change = 8192;
    const int blocks[] = {1, 64, 4096};
    for (int pink = 0; pink < 2; pink++) {
        mg_opt o[] = {str("color", pink ? "pink" : "white"), num("channels", 2),
                      num("start", 0.005), num("duration", 0.35), num("attack", 5),
                      num("release", 30), num("decay", 1)};
        float **ref = NULL;
        int same = 1;
        for (int k = 0; k < 3; k++) {
            float **y = render_noise_ex(48000, blocks[k], 2, o, 7, n, -6, change, -24);
            if (!ref) {
                ref = y;
                continue;
            }
            same &= mg_test_same_channels(ref, y, 2, n);
            mg_test_free_channels(y, 2);
        }
        CHECK(same, "%s: identical at block 1, 64, 4096", pink ? "pink" : "white");
        CHECK(mg_test_peak(ref[0], 240) == 0 && mg_test_peak(ref[0] + 240, 100) > 0,
              "starts at frame 240");
        mg_test_free_channels(ref, 2);
    }
}

int main(void)
{
    test_white_rms();
    test_spectra();
    test_seeds();
    test_block_independence();
    return mg_test_done("test_noise");
}
