/*
** oversample.c: polyphase interpolation and decimation shared by the nodes (see
** mg_oversample.h). Design and allocation are [control]; mg_os_up, mg_os_down and
** mg_os_chan_reset are [rt] and never allocate.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_oversample.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__SSE2__) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define OS_AVX 1
#endif

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define DOWN_ALIGN 16 /* decimator length multiple: four 4-wide partial sums */

double mg_bessel_i0(double x)
{
    double s = 1, t = 1;
    for (int k = 1; k < 60; k++) {
        t *= (x / (2 * k)) * (x / (2 * k));
        s += t;
    }
    return s;
}

void mg_kaiser_lowpass(double *h, int n, double fc, double beta)
{
    double i0b = mg_bessel_i0(beta);
    for (int i = 0; i < n; i++) {
        double t = i - (n - 1) / 2.0, r = n > 1 ? 2.0 * i / (n - 1) - 1.0 : 0.0;
        double x = 2 * fc * t;
        double sinc = fabs(x) < 1e-12 ? 1.0 : sin(M_PI * x) / (M_PI * x);
        h[i] = 2 * fc * sinc * mg_bessel_i0(beta * sqrt(fmax(0.0, 1 - r * r))) / i0b;
    }
}

mg_status mg_os_make(mg_os *os, int factor, const double *h, int n)
{
    memset(os, 0, sizeof *os);
    os->factor = factor;
    if (factor <= 1)
        return MG_OK;
#if defined(OS_AVX)
    os->avx = factor > 4 && __builtin_cpu_supports("avx");
#endif
    int k = (n + factor - 1) / factor;
    int taps = (n + DOWN_ALIGN - 1) / DOWN_ALIGN * DOWN_ALIGN;
    os->up = calloc((size_t)k * MG_OS_MAX, sizeof *os->up);
    os->down = calloc((size_t)taps, sizeof *os->down);
    if (!os->up || !os->down) {
        mg_os_free(os);
        return MG_ERR_NOMEM;
    }
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += h[i];
    double g = factor / sum; /* the interpolator's phases then have unit gain on average */
    for (int i = 0; i < n; i++) {
        os->up[(i / factor) * MG_OS_MAX + i % factor] = (float)(h[i] * g);
        os->down[taps - 1 - i] = (float)(h[i] * g / factor);
    }
    os->k = k;
    os->taps = taps;
    /* up then down: output frame n is input frame n - (n_h - L)/L when L divides n_h */
    os->latency = n % factor == 0 ? (n - factor) / factor : -1;
    return MG_OK;
}

void mg_os_free(mg_os *os)
{
    free(os->up);
    free(os->down);
    os->up = os->down = NULL;
}

mg_status mg_os_chan_init(mg_os_chan *c, const mg_os *os)
{
    memset(c, 0, sizeof *c);
    if (os->factor <= 1)
        return MG_OK;
    c->in = calloc(2 * (size_t)os->k, sizeof *c->in);
    c->hi = calloc(2 * (size_t)os->taps, sizeof *c->hi);
    if (!c->in || !c->hi) {
        mg_os_chan_free(c);
        return MG_ERR_NOMEM;
    }
    return MG_OK;
}

void mg_os_chan_free(mg_os_chan *c)
{
    free(c->in);
    free(c->hi);
    c->in = c->hi = NULL;
}

void mg_os_chan_reset(mg_os_chan *c, const mg_os *os)
{
    if (c->in)
        memset(c->in, 0, 2 * (size_t)os->k * sizeof *c->in);
    if (c->hi)
        memset(c->hi, 0, 2 * (size_t)os->taps * sizeof *c->hi);
    c->in_pos = c->hi_pos = 0;
}

#if defined(OS_AVX)
/*
** [rt] The 8 phases as the lanes of one 256-bit vector: per phase the same products and the
** same order of sums as the SSE path below (even and odd taps summed apart, then added; no
** fused multiply-add), so the same values bit for bit in half the instructions.
*/
__attribute__((target("avx"))) static void up8_avx(const float *up, const float *w, uint32_t k,
                                                   float *phases)
{
    __m256 e = _mm256_setzero_ps(), o = e;
    uint32_t j = 0;
    for (; j + 1 < k; j += 2) {
        e = _mm256_add_ps(e, _mm256_mul_ps(_mm256_loadu_ps(up + j * MG_OS_MAX),
                                           _mm256_set1_ps(w[k - 1 - j])));
        o = _mm256_add_ps(o, _mm256_mul_ps(_mm256_loadu_ps(up + (j + 1) * MG_OS_MAX),
                                           _mm256_set1_ps(w[k - 2 - j])));
    }
    for (; j < k; j++)
        e = _mm256_add_ps(e, _mm256_mul_ps(_mm256_loadu_ps(up + j * MG_OS_MAX),
                                           _mm256_set1_ps(w[k - 1 - j])));
    _mm256_storeu_ps(phases, _mm256_add_ps(e, o));
}
#endif

void mg_os_push(const mg_os *os, mg_os_chan *c, float x)
{
    uint32_t k = (uint32_t)os->k;
    c->in[c->in_pos] = c->in[c->in_pos + k] = x;
    c->in_pos = c->in_pos + 1 == k ? 0 : c->in_pos + 1;
}

double mg_os_up_norm(const mg_os *os)
{
    double worst = 0;
    for (int p = 0; p < os->factor; p++) {
        double sum = 0;
        for (int j = 0; j < os->k; j++)
            sum += fabs(os->up[j * MG_OS_MAX + p]);
        worst = sum > worst ? sum : worst;
    }
    return worst;
}

void mg_os_up(const mg_os *os, mg_os_chan *c, float x, float phases[MG_OS_MAX])
{
    uint32_t k = (uint32_t)os->k;
    mg_os_push(os, c, x);
    const float *w = c->in + c->in_pos; /* oldest first: x[n - j] = w[k - 1 - j] */
#if defined(OS_AVX)
    if (os->avx) {
        up8_avx(os->up, w, k, phases);
        return;
    }
#endif
#if defined(__SSE2__)
    /* the phases as vector lanes; two partial sums per vector so that the additions overlap */
    __m128 lo0 = _mm_setzero_ps(), lo1 = lo0, hi0 = lo0, hi1 = lo0;
    uint32_t j = 0;
    if (os->factor > 4) {
        for (; j + 1 < k; j += 2) {
            __m128 a = _mm_set1_ps(w[k - 1 - j]), b = _mm_set1_ps(w[k - 2 - j]);
            const float *u = os->up + j * MG_OS_MAX;
            lo0 = _mm_add_ps(lo0, _mm_mul_ps(_mm_loadu_ps(u), a));
            hi0 = _mm_add_ps(hi0, _mm_mul_ps(_mm_loadu_ps(u + 4), a));
            lo1 = _mm_add_ps(lo1, _mm_mul_ps(_mm_loadu_ps(u + MG_OS_MAX), b));
            hi1 = _mm_add_ps(hi1, _mm_mul_ps(_mm_loadu_ps(u + MG_OS_MAX + 4), b));
        }
    } else {
        for (; j + 1 < k; j += 2) {
            __m128 a = _mm_set1_ps(w[k - 1 - j]), b = _mm_set1_ps(w[k - 2 - j]);
            const float *u = os->up + j * MG_OS_MAX;
            lo0 = _mm_add_ps(lo0, _mm_mul_ps(_mm_loadu_ps(u), a));
            lo1 = _mm_add_ps(lo1, _mm_mul_ps(_mm_loadu_ps(u + MG_OS_MAX), b));
        }
    }
    for (; j < k; j++) {
        __m128 a = _mm_set1_ps(w[k - 1 - j]);
        const float *u = os->up + j * MG_OS_MAX;
        lo0 = _mm_add_ps(lo0, _mm_mul_ps(_mm_loadu_ps(u), a));
        hi0 = _mm_add_ps(hi0, _mm_mul_ps(_mm_loadu_ps(u + 4), a));
    }
    _mm_storeu_ps(phases, _mm_add_ps(lo0, lo1));
    _mm_storeu_ps(phases + 4, _mm_add_ps(hi0, hi1));
#else
    for (int p = 0; p < MG_OS_MAX; p++)
        phases[p] = 0;
    for (uint32_t j = 0; j < k; j++)
        for (int p = 0; p < MG_OS_MAX; p++)
            phases[p] += os->up[j * MG_OS_MAX + p] * w[k - 1 - j];
#endif
}

float mg_os_down(const mg_os *os, mg_os_chan *c, const float *u)
{
    uint32_t t = (uint32_t)os->taps;
    for (int p = 0; p < os->factor; p++) {
        c->hi[c->hi_pos] = c->hi[c->hi_pos + t] = u[p];
        c->hi_pos = c->hi_pos + 1 == t ? 0 : c->hi_pos + 1;
    }
    const float *w = c->hi + c->hi_pos, *d = os->down;
#if defined(__SSE2__)
    __m128 s0 = _mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (uint32_t j = 0; j < t; j += DOWN_ALIGN) {
        s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(d + j), _mm_loadu_ps(w + j)));
        s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(d + j + 4), _mm_loadu_ps(w + j + 4)));
        s2 = _mm_add_ps(s2, _mm_mul_ps(_mm_loadu_ps(d + j + 8), _mm_loadu_ps(w + j + 8)));
        s3 = _mm_add_ps(s3, _mm_mul_ps(_mm_loadu_ps(d + j + 12), _mm_loadu_ps(w + j + 12)));
    }
    float r[4];
    _mm_storeu_ps(r, _mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3)));
    return (r[0] + r[1]) + (r[2] + r[3]);
#else
    float s = 0;
    for (uint32_t j = 0; j < t; j++)
        s += d[j] * w[j];
    return s;
#endif
}
