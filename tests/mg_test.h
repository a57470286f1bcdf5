/*
** mg_test.h: the tiny harness every C test executable uses.
**
** CHECK* macros record a failure with file:line and keep going; mg_test_done() prints a summary
** and returns the process exit code. Helpers build graphs and render frames into memory.
** Runs on the test's main thread only.
*/
#ifndef MG_TEST_H
#define MG_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_node.h"
#include "mixgraph.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static int mg_test_failures, mg_test_checks;

static inline void mg_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: FAIL: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    mg_test_failures++;
}

#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        mg_test_checks++;                                                                       \
        if (!(cond))                                                                            \
            mg_test_fail(__FILE__, __LINE__, __VA_ARGS__);                                      \
    } while (0)

/* |a - b| <= tol; prints both values. */
#define CHECK_NEAR(a, b, tol, what)                                                             \
    do {                                                                                        \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                          \
        mg_test_checks++;                                                                       \
        if (!(fabs(a_ - b_) <= t_))                                                             \
            mg_test_fail(__FILE__, __LINE__, "%s: got %.9g, expected %.9g +- %.3g", what, a_,   \
                         b_, t_);                                                               \
    } while (0)

#define CHECK_OK(st, g)                                                                         \
    do {                                                                                        \
        mg_status s_ = (st);                                                                    \
        mg_test_checks++;                                                                       \
        if (s_ != MG_OK)                                                                        \
            mg_test_fail(__FILE__, __LINE__, "%s -> %s: %s", #st, mg_strerror(s_),              \
                         (g) ? mg_graph_error(g) : "");                                         \
    } while (0)

/* Print a measured figure in a uniform way so test logs double as reports. */
static inline void mg_test_report(const char *what, double value, const char *unit)
{
    printf("  %-58s %14.6f %s\n", what, value, unit);
}

static inline int mg_test_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, mg_test_checks, mg_test_failures);
    return mg_test_failures ? 1 : 0;
}

static inline mg_graph *mg_test_graph(double rate, int block, int channels)
{
    mg_graph_config cfg = mg_graph_config_default();
    cfg.rate = rate;
    cfg.block = block;
    cfg.channels = channels;
    mg_status st;
    mg_graph *g = mg_graph_new(&cfg, &st);
    if (!g) {
        fprintf(stderr, "mg_graph_new: %s\n", mg_strerror(st));
        exit(1);
    }
    return g;
}

/* Node with numeric options; aborts the test on failure (a setup error, not a finding). */
static inline mg_node *mg_test_node(mg_graph *g, const char *type, const char *name, const mg_opt *o,
                             int n)
{
    mg_node *node = mg_node_new(g, type, name, o, n);
    if (!node) {
        fprintf(stderr, "mg_node_new(%s): %s\n", type, mg_graph_error(g));
        exit(1);
    }
    return node;
}

/*
** Render `frames` frames of the graph's output in blocks of the graph's block size into
** newly allocated planar buffers out[c] (caller frees each and the array).
*/
static inline float **mg_test_render(mg_graph *g, long frames, int *channels_out)
{
    if (mg_graph_compile(g) != MG_OK) {
        fprintf(stderr, "compile: %s\n", mg_graph_error(g));
        exit(1);
    }
    int ch = mg_node_input_channels(mg_graph_output(g), 0);
    int block = mg_graph_block(g);
    float **out = calloc((size_t)ch, sizeof *out);
    for (int c = 0; c < ch; c++)
        out[c] = calloc((size_t)frames, sizeof(float));
    for (long done = 0; done < frames;) {
        int n = (int)(frames - done < block ? frames - done : block);
        mg_graph_service(g);
        if (mg_graph_advance(g, (int64_t)mg_graph_position(g) + n) != MG_OK) {
            fprintf(stderr, "automation: %s\n", mg_graph_error(g));
            exit(1);
        }
        const float *const *y = mg_graph_process(g, n);
        for (int c = 0; c < ch; c++)
            memcpy(out[c] + done, y[c], (size_t)n * sizeof(float));
        done += n;
    }
    if (channels_out)
        *channels_out = ch;
    return out;
}

static inline void mg_test_free_channels(float **x, int ch)
{
    for (int c = 0; c < ch; c++)
        free(x[c]);
    free(x);
}

/* 1 when channels a[0..ch-1] and b[0..ch-1] hold the same n samples, bit for bit. */
static inline int mg_test_same_channels(float *const *a, float *const *b, int ch, long n)
{
    int same = 1;
    for (int c = 0; c < ch; c++)
        same &= memcmp(a[c], b[c], (size_t)n * sizeof(float)) == 0;
    return same;
}

/* RMS and peak of x[0..n-1]. */
static inline double mg_test_rms(const float *x, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0;
}

static inline double mg_test_peak(const float *x, long n)
{
    double p = 0;
    for (long i = 0; i < n; i++)
        if (fabs(x[i]) > p)
            p = fabs(x[i]);
    return p;
}

/* Solve the 3x3 system [m | rhs] (m[r][3] is the right-hand side) by Gaussian elimination
   without pivoting (the normal equations of a fit are positive definite). */
static inline void mg_test_solve3(double m[3][4], double sol[3])
{
    for (int k = 0; k < 3; k++)
        for (int r = k + 1; r < 3; r++) {
            double f = m[r][k] / m[k][k];
            for (int j = k; j < 4; j++)
                m[r][j] -= f * m[k][j];
        }
    for (int k = 2; k >= 0; k--) {
        double v = m[k][3];
        for (int j = k + 1; j < 3; j++)
            v -= m[k][j] * sol[j];
        sol[k] = v / m[k][k];
    }
}

/*
** Least-squares fit of a*sin(wt)+b*cos(wt)+dc at a known frequency over x[0..n-1]; returns the
** amplitude sqrt(a^2+b^2) and, through *resid_rms, the RMS of what the fit leaves (for SNR).
*/
static inline double mg_test_sine_fit(const float *x, long n, double freq, double rate, double *resid_rms)
{
    double sss = 0, scc = 0, ssc = 0, sxs = 0, sxc = 0, ss = 0, sc = 0, sx = 0;
    double w = 2 * M_PI * freq / rate;
    for (long i = 0; i < n; i++) {
        double s = sin(w * (double)i), c = cos(w * (double)i);
        sss += s * s; scc += c * c; ssc += s * c;
        sxs += x[i] * s; sxc += x[i] * c;
        ss += s; sc += c; sx += x[i];
    }
    /* solve the 3x3 normal equations [sss ssc ss; ssc scc sc; ss sc n] [a b d] = [sxs sxc sx] */
    double m[3][4] = {{sss, ssc, ss, sxs}, {ssc, scc, sc, sxc}, {ss, sc, (double)n, sx}};
    double sol[3];
    mg_test_solve3(m, sol);
    if (resid_rms) {
        double e = 0;
        for (long i = 0; i < n; i++) {
            double y = sol[0] * sin(w * (double)i) + sol[1] * cos(w * (double)i) + sol[2];
            e += (x[i] - y) * (x[i] - y);
        }
        *resid_rms = sqrt(e / (double)n);
    }
    return sqrt(sol[0] * sol[0] + sol[1] * sol[1]);
}

/* In-place radix-2 FFT, n a power of two. */
static inline void mg_test_fft(double *re, double *im, long n)
{
    for (long i = 1, j = 0; i < n; i++) {
        long bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (long len = 2; len <= n; len <<= 1) {
        double a = -2 * M_PI / (double)len;
        for (long k = 0; k < len / 2; k++) {
            double wr = cos(a * (double)k), wi = sin(a * (double)k);
            for (long i = k; i < n; i += len) {
                long j = i + len / 2;
                double vr = re[j] * wr - im[j] * wi, vi = re[j] * wi + im[j] * wr;
                re[j] = re[i] - vr;
                im[j] = im[i] - vi;
                re[i] += vr;
                im[i] += vi;
            }
        }
    }
}

/* Directory of ../shared (extra reference checks), or NULL with a message when absent. */
static inline const char *mg_test_shared_dir(const char *why)
{
    const char *d = getenv("MG_SHARED_DIR");
    FILE *f = NULL;
    char probe[4096];
    if (d) {
        snprintf(probe, sizeof probe, "%s/DSP_TESTS.md", d);
        f = fopen(probe, "r");
    }
    if (!f) {
        printf("  skipped (../shared not present): %s\n", why);
        return NULL;
    }
    fclose(f);
    return d;
}

#endif
