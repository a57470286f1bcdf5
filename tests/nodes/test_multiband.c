/*
** test_multiband.c: the `multiband` node: with every band neutral (ratio 1, makeup 0) the
** output magnitude equals the input's within +-0.01 dB from 20 Hz to 20 kHz, for 2, 3 and 4
** bands at 24 and 48 dB/oct (impulse response, 65536-point FFT), while the phase is not the
** input's (the bands really are split and allpass-compensated); a band's makeup moves only
** its own frequencies; a band compresses by its static curve (DSP_TESTS §6) without touching
** the other bands; block-size independence with ramps.
*/
#include "dyn_signals.h"

#define RATE 48000.0
#define NFFT 65536L

static mg_opt opts[2];

static const mg_opt *mb_opts(int bands, int slope)
{
    opts[0] = (mg_opt){.name = "bands", .num = bands};
    opts[1] = (mg_opt){.name = "slope", .num = slope};
    return opts;
}

/* Neutral bands: |H| within 0.01 dB of 0 over 20 Hz..20 kHz. */
static void neutral(int bands, int slope)
{
    float *x = calloc(NFFT, sizeof *x);
    x[0] = 0.5f;
    float **y = dyn_aligned("multiband", mb_opts(bands, slope), 2, RATE, 256, &x, 1, NFFT, NULL,
                            NULL, NULL, NULL);
    double *re = calloc(NFFT, sizeof *re), *im = calloc(NFFT, sizeof *im);
    for (long i = 0; i < NFFT; i++)
        re[i] = y[0][i] / 0.5;
    mg_test_fft(re, im, NFFT);
    double worst = 0, phase = 0;
    for (long k = (long)(20.0 * NFFT / RATE); k <= (long)(20000.0 * NFFT / RATE); k++) {
        double m = 10 * log10(re[k] * re[k] + im[k] * im[k]);
        worst = fmax(worst, fabs(m));
        phase = fmax(phase, fabs(atan2(im[k], re[k])));
    }
    char what[96];
    snprintf(what, sizeof what, "neutral, %d bands, %d dB/oct: max |magnitude| 20 Hz..20 kHz",
             bands, slope);
    mg_test_report(what, worst, "dB");
    CHECK(worst <= 0.01, "%s: %g dB", what, worst);
    CHECK(phase > 1.0, "%d bands: the phase should be an allpass's, not flat (%g rad)", bands,
          phase);
    free(re);
    free(im);
    mg_test_free_channels(y, 1);
    free(x);
}

/* Level (dBFS peak) of tone f in y (second half). */
static double level(const float *y, long n, double f)
{
    return dyn_db(mg_test_sine_fit(y + n / 2, n / 2, f, RATE, NULL));
}

/* Makeup -12 dB on one band of 3 (crossovers 150 and 3000 Hz) moves only the tone in that
   band: 25, 670 and 18000 Hz, each over 2 octaves from the crossovers (what leaks from the
   neighbours through the 24 dB/oct skirts stays under 0.2 dB). */
static void makeup_bands(void)
{
    long n = 48000;
    const double f[3] = {25, 670, 18000};
    float *x = calloc(n, sizeof *x);
    for (long i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            x[i] += (float)(0.1 * sin(2 * M_PI * f[k] * i / RATE));
    for (int band = 1; band <= 3; band++) {
        char name[16];
        snprintf(name, sizeof name, "makeup%d", band);
        dyn_param ps[] = {{name, -12}, {"xover1", 150}, {"xover2", 3000}, {NULL, 0}};
        float **y = dyn_aligned("multiband", mb_opts(3, 24), 2, RATE, 256, &x, 1, n, ps, NULL,
                                NULL, NULL);
        for (int k = 0; k < 3; k++) {
            double g = level(y[0], n, f[k]) - dyn_db(0.1), expect = k == band - 1 ? -12 : 0;
            char what[96];
            snprintf(what, sizeof what, "makeup%d -12 dB: gain at %g Hz (expected %g)", band,
                     f[k], expect);
            mg_test_report(what, g, "dB");
            CHECK_NEAR(g, expect, 0.3, what);
        }
        mg_test_free_channels(y, 1);
    }
    free(x);
}

/*
** Band 1 (below 300 Hz) compresses a 40 Hz tone at -6 dBFS: threshold -20, ratio 4, hard knee;
** the band's level is the tone through the LR4 lowpass (-0.003 dB at 40 Hz), so the gain
** reduction is (-6 + 20)(1 - 1/4) = 10.5 dB, less up to 0.2 dB because a peak detector reads
** a sine low (DSP_TESTS §6); the tone's gain is minus the band's. A 5 kHz tone in band 3
** keeps its level.
*/
static void compression(void)
{
    long n = 2 * 48000;
    float *x = calloc(n, sizeof *x);
    for (long i = 0; i < n; i++)
        x[i] = (float)(dyn_amp(-6) * sin(2 * M_PI * 40 * i / RATE) +
                       0.05 * sin(2 * M_PI * 5000 * i / RATE));
    dyn_param ps[] = {{"threshold1", -20}, {"ratio1", 4}, {"knee1", 0}, {"attack1", 1},
                      {"release1", 200}, {"xover1", 300}, {NULL, 0}};
    double gr1;
    float **y = dyn_aligned("multiband", mb_opts(3, 24), 2, RATE, 256, &x, 1, n, ps, NULL, "gr1",
                            &gr1);
    double g40 = level(y[0], n, 40) + 6, g5k = level(y[0], n, 5000) - dyn_db(0.05);
    mg_test_report("band 1 compressing a -6 dBFS 40 Hz tone: meter gr1 (10.3 .. 10.5)", gr1,
                   "dB");
    mg_test_report("  the tone's gain (expected -gr1 +-0.1)", g40, "dB");
    mg_test_report("  5 kHz tone in band 3: gain (expected 0)", g5k, "dB");
    CHECK(gr1 >= 10.3 && gr1 <= 10.51, "band 1 gain reduction %g dB", gr1);
    CHECK_NEAR(g40, -gr1, 0.1, "band 1 tone gain");
    CHECK_NEAR(g5k, 0, 0.05, "band 3 untouched");
    mg_test_free_channels(y, 1);
    free(x);
}

/* Blocks of 1, 64 and 4096: same bits, with a crossover and a threshold ramping. */
static void blocks(void)
{
    long n = 20000;
    float **x = dyn_pink(RATE, 2, n, 4, -3);
    float **ref = NULL;
    const int sizes[] = {4096, 64, 1};
    for (int k = 0; k < 3; k++) {
        mg_graph *g = mg_test_graph(RATE, 4096, 2);
        mg_node *mb = mg_test_node(g, "multiband", "mb", mb_opts(4, 24), 2);
        CHECK_OK(mg_node_set(mb, "ratio2", 4), g);
        CHECK_OK(mg_connect(dyn_source(g, "x", x, 2, n), 0, mb, 0), g);
        CHECK_OK(mg_connect(mb, 0, mg_graph_output(g), 0), g);
        dyn_event ev[] = {{3000, mb, "xover2", 1500}, {9000, mb, "threshold2", -30}};
        float **y = dyn_render(g, n, sizes[k], ev, 2, NULL);
        if (!ref) {
            ref = y;
        } else {
            long diff = 0;
            for (int c = 0; c < 2; c++)
                for (long i = 0; i < n; i++)
                    diff += y[c][i] != ref[c][i];
            CHECK(diff == 0, "block %d: %ld samples differ", sizes[k], diff);
            mg_test_free_channels(y, 2);
        }
        mg_graph_free(g);
    }
    mg_test_free_channels(ref, 2);
    mg_test_free_channels(x, 2);
}

int main(void)
{
    dyn_tmp_open("multiband");
    for (int bands = 2; bands <= 4; bands++) {
        neutral(bands, 24);
        neutral(bands, 48);
    }
    makeup_bands();
    compression();
    blocks();
    dyn_tmp_close();
    return mg_test_done("test_multiband");
}
