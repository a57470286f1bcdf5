/*
** test_dither.c: dither at the conversion to integers against DSP_TESTS §15 (DI-1 .. DI-6):
** the error of 16-bit TPDF quantization of 997 Hz tones at -20, -60 and -100 dBFS (mean,
** variance LSB^2/4 at every level, level -96.33 dBFS), a -100 dBFS tone surviving a 16-bit
** render (and vanishing without dither), the error's white spectrum, no dither on float or
** (by default) 24-bit output, and deterministic output whatever the block size. Then the
** noise-shaped mode: less noise at low frequencies, the tone still intact.
*/
#include <sndfile.h>
#include <unistd.h>

#include "mg_dither.h"
#include "mg_test.h"

#define RATE 48000.0
#define N10 480000L /* 10 s */
#define LSB16 (1.0 / 32768.0)

static double db(double a) { return 20 * log10(a); }

static float *tone(double level_db, long n)
{
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++)
        x[i] = (float)(pow(10, level_db / 20) * sin(2 * M_PI * 997 * (double)i / RATE));
    return x;
}

/* Quantize x to 16 bit with mode; e[i] = q[i] - x[i] scale, in LSB. */
static double *dither_error(const float *x, long n, mg_dither_mode mode, uint64_t seed,
                            int32_t *q)
{
    mg_dither d;
    mg_dither_init(&d, mode, seed);
    mg_dither_quantize(&d, 0, x, (uint32_t)n, 32768.0f, 0, q);
    double *e = malloc((size_t)n * sizeof *e);
    for (long i = 0; i < n; i++)
        e[i] = q[i] - (double)x[i] * 32768.0;
    return e;
}

/* DI-1, DI-2: mean, variance ratio and level of the error at three levels. */
static void di12(void)
{
    const double levels[] = {-20, -60, -100};
    int32_t *q = malloc(N10 * sizeof *q);
    for (int k = 0; k < 3; k++) {
        float *x = tone(levels[k], N10);
        double *e = dither_error(x, N10, MG_DITHER_TPDF, 1, q);
        double m = 0, v = 0;
        for (long i = 0; i < N10; i++)
            m += e[i];
        m /= N10;
        for (long i = 0; i < N10; i++)
            v += (e[i] - m) * (e[i] - m);
        v /= N10;
        char what[96];
        snprintf(what, sizeof what, "DI-1: %g dBFS, mean error (0 +-0.01)", levels[k]);
        mg_test_report(what, m, "LSB");
        CHECK_NEAR(m, 0, 0.01, what);
        snprintf(what, sizeof what, "DI-1: %g dBFS, var(e) / (LSB^2/4) (1 +-0.02)", levels[k]);
        mg_test_report(what, v / 0.25, "");
        CHECK_NEAR(v / 0.25, 1.0, 0.02, what);
        double lvl = 10 * log10(v * LSB16 * LSB16);
        snprintf(what, sizeof what, "DI-2: %g dBFS, error level (-96.33 +-0.1)", levels[k]);
        mg_test_report(what, lvl, "dBFS");
        CHECK_NEAR(lvl, -96.33, 0.1, what);
        free(e);
        free(x);
    }
    free(q);
}

/* DI-4: Welch spectrum of the error (4096-point Hann frames, averaged): flatness >= 0.9 and
   no bin 10 dB above the median. */
static void di4(void)
{
    const long N = 4096;
    float *x = tone(-60, N10);
    int32_t *q = malloc(N10 * sizeof *q);
    double *e = dither_error(x, N10, MG_DITHER_TPDF, 2, q);
    double *ps = calloc(N / 2, sizeof *ps), *re = malloc(N * sizeof *re),
           *im = malloc(N * sizeof *im);
    int frames = 0;
    for (long s0 = 0; s0 + N <= N10; s0 += N / 2, frames++) {
        for (long i = 0; i < N; i++) {
            re[i] = e[s0 + i] * (0.5 - 0.5 * cos(2 * M_PI * i / N));
            im[i] = 0;
        }
        mg_test_fft(re, im, N);
        for (long k = 0; k < N / 2; k++)
            ps[k] += re[k] * re[k] + im[k] * im[k];
    }
    double lg = 0, ar = 0;
    for (long k = 1; k < N / 2; k++) {
        lg += log(ps[k]);
        ar += ps[k];
    }
    double flat = exp(lg / (N / 2 - 1)) / (ar / (N / 2 - 1));
    double *sorted = malloc(N / 2 * sizeof *sorted);
    memcpy(sorted, ps + 1, (N / 2 - 1) * sizeof *sorted);
    for (long i = 1; i < N / 2 - 1; i++) /* insertion sort: small */
        for (long j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    double med = sorted[(N / 2 - 1) / 2], top = 0;
    for (long k = 1; k < N / 2; k++)
        top = fmax(top, ps[k]);
    mg_test_report("DI-4: spectral flatness of the error (>= 0.9)", flat, "");
    mg_test_report("DI-4: largest bin re median (< 10)", 10 * log10(top / med), "dB");
    CHECK(flat >= 0.9, "DI-4: flatness %g", flat);
    CHECK(10 * log10(top / med) < 10, "DI-4: a tonal bin %.1f dB over the median",
          10 * log10(top / med));
    free(sorted);
    free(ps);
    free(re);
    free(im);
    free(e);
    free(q);
    free(x);
}

/* A graph playing a 997 Hz sine at `level` dBFS (osc) for `secs`, stereo out. */
static mg_graph *tone_graph(double level, double secs, int block)
{
    mg_graph *g = mg_test_graph(RATE, block, 2);
    mg_opt o[] = {{.name = "duration", .num = secs}, {.name = "attack", .num = 0},
                  {.name = "release", .num = 0}};
    mg_node *s = mg_test_node(g, "osc", "s", o, 3);
    CHECK_OK(mg_node_set(s, "gain", level), g);
    CHECK_OK(mg_node_set(s, "freq", 997), g);
    CHECK_OK(mg_connect(s, 0, mg_graph_output(g), 0), g);
    return g;
}

/* Render g to path with bits and dither; returns the left channel read back as doubles in
   full-scale units (n frames). */
static double *render_read(mg_graph *g, const char *path, mg_sample_format bits,
                           mg_dither_mode dm, long n)
{
    mg_render_opts o = {.path = path, .bits = bits, .dither = dm, .dither_seed = 0};
    mg_render_result r;
    CHECK_OK(mg_render(g, &o, &r), g);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    CHECK(sf != NULL, "%s opens", path);
    double *y = calloc((size_t)n, sizeof *y), *il = calloc((size_t)n * 2, sizeof *il);
    if (sf) {
        sf_command(sf, SFC_SET_NORM_DOUBLE, NULL, SF_TRUE);
        sf_readf_double(sf, il, n);
        sf_close(sf);
    }
    for (long i = 0; i < n; i++)
        y[i] = il[2 * i];
    free(il);
    return y;
}

static float *to_float(const double *y, long n)
{
    float *f = malloc((size_t)n * sizeof *f);
    for (long i = 0; i < n; i++)
        f[i] = (float)y[i];
    return f;
}

/* DI-3: a -100 dBFS tone through a 16-bit render survives with TPDF (and H3 at noise level);
   without dither the file is silent. */
static void di3(const char *path)
{
    mg_graph *g = tone_graph(-100, 10, 256);
    double *y = render_read(g, path, MG_BITS_16, MG_DITHER_DEFAULT, N10);
    float *f = to_float(y, N10);
    double a = db(mg_test_sine_fit(f + 4800, N10 - 9600, 997, RATE, NULL));
    double h3 = db(mg_test_sine_fit(f + 4800, N10 - 9600, 3 * 997, RATE, NULL));
    mg_test_report("DI-3: -100 dBFS tone in a 16-bit render, default dither (-100 +-0.5)", a,
                   "dBFS");
    mg_test_report("DI-3: its 3rd harmonic (noise level, < -120)", h3, "dBFS");
    CHECK_NEAR(a, -100, 0.5, "DI-3: tone level with dither");
    CHECK(h3 < -120, "DI-3: H3 at %.1f dBFS", h3);
    free(f);
    free(y);
    y = render_read(g, path, MG_BITS_16, MG_DITHER_NONE, N10);
    long nz = 0;
    for (long i = 0; i < N10; i++)
        nz += y[i] != 0;
    mg_test_report("DI-3: non-zero samples without dither (0: the tone is lost)", (double)nz, "");
    CHECK(nz == 0, "DI-3: undithered -100 dBFS render has %ld non-zero samples", nz);
    free(y);
    mg_graph_free(g);
    unlink(path);
}

/* DI-5: float output is the render bit for bit whatever the dither asked; 24-bit output by
   default is plain rounding. DI-6: same seed, same file, at blocks 64 and 256. */
static void di56(const char *path)
{
    long n = 48000;
    mg_graph *g = tone_graph(-30, 1, 256);
    float **ref = mg_test_render(g, n, NULL);
    mg_graph_reset(g);
    double *y = render_read(g, path, MG_BITS_32F, MG_DITHER_TPDF, n);
    long wrong = 0;
    for (long i = 0; i < n; i++)
        wrong += (float)y[i] != ref[0][i];
    mg_test_report("DI-5: float output with dither asked: samples differing", (double)wrong, "");
    CHECK(wrong == 0, "DI-5: float output changed in %ld samples", wrong);
    free(y);
    y = render_read(g, path, MG_BITS_24, MG_DITHER_DEFAULT, n);
    wrong = 0;
    for (long i = 0; i < n; i++)
        wrong += lrint(y[i] * 8388608.0) != lrint((double)ref[0][i] * 8388608.0);
    CHECK(wrong == 0, "DI-5: 24-bit default output is not plain rounding (%ld differ)", wrong);
    free(y);
    mg_test_free_channels(ref, 2);
    y = render_read(g, path, MG_BITS_16, MG_DITHER_TPDF, n);
    mg_graph_free(g);
    g = tone_graph(-30, 1, 64);
    double *y2 = render_read(g, path, MG_BITS_16, MG_DITHER_TPDF, n);
    long diff = 0;
    for (long i = 0; i < n; i++)
        diff += y[i] != y2[i];
    mg_test_report("DI-6: 16-bit TPDF renders at blocks 256 and 64: samples differing",
                   (double)diff, "");
    CHECK(diff == 0, "DI-6: dithered renders differ in %ld samples", diff);
    free(y);
    free(y2);
    mg_graph_free(g);
    unlink(path);
}

/* Noise-shaped dither: the error's power below 4 kHz is well under TPDF's, the signal is
   unchanged on average and a -100 dBFS tone survives. */
static void shaped(void)
{
    float *x = tone(-100, N10);
    int32_t *q = malloc(N10 * sizeof *q);
    double *et = dither_error(x, N10, MG_DITHER_TPDF, 3, q);
    double *es = dither_error(x, N10, MG_DITHER_SHAPED, 3, q);
    float *f = malloc(N10 * sizeof *f);
    for (long i = 0; i < N10; i++)
        f[i] = (float)(q[i] * LSB16);
    double a = db(mg_test_sine_fit(f + 4800, N10 - 9600, 997, RATE, NULL));
    /* low-band power: a 4th-order lowpass at 4 kHz (two RBJ biquads in float64) */
    double lo[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        double *e = k ? es : et, s1 = 0, s2 = 0, t1 = 0, t2 = 0, p = 0;
        double w = 2 * M_PI * 4000 / RATE, al = sin(w) / (2 * 0.7071), c = cos(w);
        double b0 = (1 - c) / 2 / (1 + al), b1 = (1 - c) / (1 + al), a1 = -2 * c / (1 + al),
               a2 = (1 - al) / (1 + al);
        for (long i = 0; i < N10; i++) {
            double y = b0 * e[i] + s1;
            s1 = b1 * e[i] + s2 - a1 * y;
            s2 = b0 * e[i] - a2 * y;
            double z = b0 * y + t1;
            t1 = b1 * y + t2 - a1 * z;
            t2 = b0 * y - a2 * z;
            p += z * z;
        }
        lo[k] = 10 * log10(p / N10);
    }
    mg_test_report("shaped: error power below 4 kHz re TPDF (<= -6)", lo[1] - lo[0], "dB");
    mg_test_report("shaped: -100 dBFS tone level (-100 +-0.5)", a, "dBFS");
    CHECK(lo[1] - lo[0] <= -6, "shaped: low-band noise only %.1f dB under TPDF", lo[1] - lo[0]);
    CHECK_NEAR(a, -100, 0.5, "shaped: tone level");
    free(f);
    free(et);
    free(es);
    free(q);
    free(x);
}

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/mg_test_dither_%ld.wav", (long)getpid());
    di12();
    di3(path);
    di4();
    di56(path);
    shaped();
    unlink(path);
    return mg_test_done("test_dither");
}
