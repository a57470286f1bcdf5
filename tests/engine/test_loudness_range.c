/*
** test_loudness_range.c: loudness range (EBU Tech 3342) of the BS.1770 meter
** (engine/loudness.c), DSP_TESTS.md §1.3, on signals synthesized here at 44.1, 48 and 96 kHz:
** - Tech 3342 cases 1-4 (expected 10, 5, 20, 15 LU, tolerance ±1 LU; the reference meters of
**   §1.3 read them to 0.01, which is checked too);
** - the histogram read-out against an exact reference: every 100 ms short-term value polled
**   from the meter, gated and sorted, percentiles by nearest rank (Tech 3342 §5);
** - independence of the host chunk size, repetition of the signal (LRA unchanged), and the
**   edge cases (input under 3 s, silence: 0 LU, never NaN).
** Runs on the test's main thread.
*/
#include "mg_loudness.h"
#include "mg_test.h"

#define PI 3.14159265358979323846

typedef struct seg {
    double sec, dbfs;
} seg;

/* One phase-continuous 1 kHz sine whose peak level steps per segment, `reps` times over. */
static float *tone(double rate, const seg *s, int ns, int reps, size_t *n)
{
    double t = 0;
    for (int i = 0; i < ns; i++)
        t += s[i].sec;
    size_t per = (size_t)llround(t * rate), len = per * (size_t)reps;
    float *x = malloc(len * sizeof *x);
    double w = 2 * PI * 1000.0 / rate;
    size_t k = 0;
    for (int r = 0; r < reps; r++) {
        double acc = 0;
        for (int i = 0; i < ns; i++) {
            acc += s[i].sec;
            size_t end = (size_t)r * per + (i == ns - 1 ? per : (size_t)llround(acc * rate));
            double a = isinf(s[i].dbfs) ? 0.0 : pow(10.0, s[i].dbfs / 20.0);
            for (; k < end; k++)
                x[k] = (float)(a * sin(w * (double)k));
        }
    }
    *n = len;
    return x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/*
** Feed a stereo copy of x in chunks of `chunk` frames; return the meter's LRA. When `ref` is
** given, also compute the exact reference: the short-term value at every 100 ms step (polled
** from the meter when a whole step has been fed), gated and sorted without a histogram.
*/
static double lra_of(double rate, const float *x, size_t n, size_t chunk, double *ref)
{
    mg_loudness *m = mg_loudness_new(rate, 2, NULL);
    size_t step = (size_t)floor(rate / 10.0 + 0.5);
    size_t cap = n / step + 1, ns = 0;
    double *sv = ref ? malloc(cap * sizeof *sv) : NULL;
    if (ref)
        chunk = step; /* poll at every step end */
    for (size_t done = 0; done < n;) {
        size_t k = n - done < chunk ? n - done : chunk;
        const float *p[2] = {x + done, x + done};
        mg_loudness_add(m, p, k);
        done += k;
        if (ref && k == step && done >= 30 * step)
            sv[ns++] = mg_loudness_shortterm(m);
    }
    double lra = mg_loudness_range(m);
    mg_loudness_free(m);
    if (ref) {
        /* absolute gate, then 20 LU under the energy mean of what passed */
        double e = 0;
        size_t k = 0;
        for (size_t i = 0; i < ns; i++)
            if (sv[i] > -70.0) {
                e += pow(10.0, (sv[i] + 0.691) / 10.0);
                sv[k++] = sv[i];
            }
        double gate = k ? -0.691 + 10 * log10(e / (double)k) - 20.0 : 0;
        size_t j = 0;
        for (size_t i = 0; i < k; i++)
            if (sv[i] > gate)
                sv[j++] = sv[i];
        qsort(sv, j, sizeof *sv, cmp_double);
        *ref = j < 2 ? 0.0
                     : sv[(size_t)llround((double)(j - 1) * 0.95)] -
                           sv[(size_t)llround((double)(j - 1) * 0.10)];
        free(sv);
    }
    return lra;
}

static void test_tech3342(double rate)
{
    static const seg c1[] = {{20, -20}, {20, -30}};
    static const seg c2[] = {{20, -20}, {20, -15}};
    static const seg c3[] = {{20, -40}, {20, -20}};
    static const seg c4[] = {{20, -50}, {20, -35}, {20, -20}, {20, -35}, {20, -50}};
    static const struct {
        const seg *s;
        int n;
        double expect;
    } cases[] = {{c1, 2, 10}, {c2, 2, 5}, {c3, 2, 20}, {c4, 5, 15}};
    for (int c = 0; c < 4; c++) {
        size_t n;
        float *x = tone(rate, cases[c].s, cases[c].n, 1, &n);
        double ref;
        double lra = lra_of(rate, x, n, 4096, NULL);
        double polled = lra_of(rate, x, n, 0, &ref);
        double one = lra_of(rate, x, n, 1, NULL);
        char what[96];
        snprintf(what, sizeof what, "Tech 3342 case %d @ %g kHz: LRA", c + 1, rate / 1000);
        CHECK_NEAR(lra, cases[c].expect, 1.0, what);
        CHECK_NEAR(lra, cases[c].expect, 0.05, what); /* §1.3: reference meters read x.00 */
        snprintf(what, sizeof what, "case %d @ %g kHz: LRA vs exact sorted reference", c + 1,
                 rate / 1000);
        CHECK_NEAR(lra, ref, 0.02, what);
        CHECK_NEAR(polled, lra, 1e-9, "LRA polled per step vs fed in 4096-frame chunks");
        CHECK_NEAR(one, lra, 1e-9, "LRA fed frame by frame vs in 4096-frame chunks");
        snprintf(what, sizeof what, "Tech 3342 case %d @ %%gk: LRA (expect %g)", c + 1,
                 cases[c].expect);
        char label[96];
        snprintf(label, sizeof label, what, rate / 1000);
        mg_test_report(label, lra, "LU");
        free(x);
        /* "the expected value does not change if the signal is repeated" */
        if (c == 0) {
            float *x2 = tone(rate, cases[c].s, cases[c].n, 2, &n);
            CHECK_NEAR(lra_of(rate, x2, n, 4096, NULL), cases[c].expect, 0.05,
                       "Tech 3342 case 1 played twice: LRA");
            free(x2);
        }
    }
}

static void test_edges(double rate)
{
    size_t n;
    static const seg short_tone[] = {{2.9, -20}};
    float *x = tone(rate, short_tone, 1, 1, &n);
    CHECK(lra_of(rate, x, n, 4096, NULL) == 0.0, "LRA of a 2.9 s tone is not 0");
    free(x);
    static const seg silence[] = {{10, -INFINITY}};
    x = tone(rate, silence, 1, 1, &n);
    double l = lra_of(rate, x, n, 4096, NULL);
    CHECK(l == 0.0, "LRA of silence is %g, expected 0", l);
    free(x);
    /* a steady tone has no range; one 20 dB step under the relative gate does not count */
    static const seg steady[] = {{20, -23}};
    x = tone(rate, steady, 1, 1, &n);
    CHECK_NEAR(lra_of(rate, x, n, 4096, NULL), 0.0, 0.01, "LRA of a steady tone");
    free(x);
    static const seg gated[] = {{20, -20}, {20, -45}};
    x = tone(rate, gated, 2, 1, &n);
    double ref, got = lra_of(rate, x, n, 0, &ref);
    CHECK_NEAR(got, ref, 0.02, "LRA with a part under the relative gate vs reference");
    CHECK(got < 3.0, "LRA %g: the -45 dBFS part (25 LU down) should be gated out", got);
    free(x);
}

int main(void)
{
    static const double rates[] = {48000, 44100, 96000};
    for (int i = 0; i < 3; i++) {
        printf("-- %g Hz\n", rates[i]);
        test_tech3342(rates[i]);
        test_edges(rates[i]);
    }
    return mg_test_done("test_loudness_range");
}
