/*
** oversample.c: polyphase interpolation and decimation shared by the nodes (see
** mg_oversample.h). Design and allocation are [control]; mg_os_up, mg_os_down and
** mg_os_chan_reset are [rt] and never allocate, as are the block functions (mg_os_up_block,
** mg_os_down_block).
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
    os->avx = factor > 4 && mg_simd_level() >= MG_SIMD_AVX;
    os->simd = mg_simd_level() >= MG_SIMD_AVX512 ? 3 : mg_simd_level() >= MG_SIMD_AVX2 ? 2 : 1;
#elif defined(__SSE2__)
    os->simd = 1;
#endif
    int k = (n + factor - 1) / factor;
    int taps = (n + DOWN_ALIGN - 1) / DOWN_ALIGN * DOWN_ALIGN;
    os->up = calloc((size_t)k * MG_OS_MAX, sizeof *os->up);
    os->down = calloc((size_t)taps, sizeof *os->down);
    os->dpoly = calloc((size_t)k * (size_t)factor, sizeof *os->dpoly);
    if (!os->up || !os->down || !os->dpoly) {
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
        /* h[i] weighs u[L n + L - 1 - i]: phase q = L - 1 - i % L, frame n - i / L */
        os->dpoly[(factor - 1 - i % factor) * k + i / factor] = os->down[taps - 1 - i];
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
    free(os->dpoly);
    os->up = os->down = os->dpoly = NULL;
}

mg_status mg_os_chan_init(mg_os_chan *c, const mg_os *os)
{
    memset(c, 0, sizeof *c);
    if (os->factor <= 1)
        return MG_OK;
    c->in = calloc(2 * (size_t)os->k, sizeof *c->in);
    c->hi = calloc(2 * (size_t)os->taps, sizeof *c->hi);
    c->bx = calloc(MG_OS_BLEN(os->k), sizeof *c->bx);
    c->bu = calloc((size_t)MG_OS_BLEN(os->k) * (size_t)os->factor, sizeof *c->bu);
    c->bx_len = c->bu_len = (uint32_t)os->k - 1;
    if (!c->in || !c->hi || !c->bx || !c->bu) {
        mg_os_chan_free(c);
        return MG_ERR_NOMEM;
    }
    return MG_OK;
}

void mg_os_chan_free(mg_os_chan *c)
{
    free(c->in);
    free(c->hi);
    free(c->bx);
    free(c->bu);
    c->in = c->hi = c->bx = c->bu = NULL;
}

void mg_os_chan_reset(mg_os_chan *c, const mg_os *os)
{
    if (c->in)
        memset(c->in, 0, 2 * (size_t)os->k * sizeof *c->in);
    if (c->hi)
        memset(c->hi, 0, 2 * (size_t)os->taps * sizeof *c->hi);
    if (c->bx)
        memset(c->bx, 0, MG_OS_BLEN(os->k) * sizeof *c->bx);
    if (c->bu)
        memset(c->bu, 0, (size_t)MG_OS_BLEN(os->k) * (size_t)os->factor * sizeof *c->bu);
    c->in_pos = c->hi_pos = 0;
    c->bx_len = c->bu_len = os->k > 0 ? (uint32_t)os->k - 1 : 0;
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

/* ---- block filters ---- */

/*
** The kernels, written once for each instruction set by OS_KERNELS: V a vector of W floats,
** LD / ST unaligned load and store, BC a broadcast, MADD(a, b, c) = a b + c (fused on AVX2).
**
** run_up: G vectors of W consecutive frames (x[0] the newest input of the first frame) times
** L phases: acc[p][g] = sum over j = 0..k-1, in that order, of up[j][p] x[g W - j], one
** accumulator per phase and vector (L G = NA independent sums, NA = 8, or 16 with AVX-512's
** 32 registers); out[p stride + g W + lane].
** run_down: y[g W + lane] = A0 + A1, A0 (A1) the sum over the even (odd) phases q, in order,
** and j = 0..k-1 of dpoly[q k + j] u_q[g W - j], u_q = rows + q rstride at the current frame.
** A lane's arithmetic never depends on G nor on its position, so spans give the same values
** however the frames are grouped.
*/
#define OS_KERNELS(SFX, ATTR, V, W, NA, LD, ST, BC, ZERO, MADD, ADD)                               \
    ATTR static inline __attribute__((always_inline)) void run_up_##SFX(                           \
        const float *up, const float *x, int k, float *out, size_t stride, int L, int G)           \
    {                                                                                              \
        V acc[MG_OS_MAX][4], xv[4];                                                                \
        for (int p = 0; p < L; p++)                                                                \
            for (int g = 0; g < G; g++)                                                            \
                acc[p][g] = ZERO;                                                                  \
        for (int j = 0; j < k; j++) {                                                              \
            for (int g = 0; g < G; g++)                                                            \
                xv[g] = LD(x + g * W - j);                                                         \
            for (int p = 0; p < L; p++) {                                                          \
                V c = BC(up[j * MG_OS_MAX + p]);                                                   \
                for (int g = 0; g < G; g++)                                                        \
                    acc[p][g] = MADD(c, xv[g], acc[p][g]);                                         \
            }                                                                                      \
        }                                                                                          \
        for (int p = 0; p < L; p++)                                                                \
            for (int g = 0; g < G; g++)                                                            \
                ST(out + (size_t)p * stride + g * W, acc[p][g]);                                   \
    }                                                                                              \
    ATTR static inline __attribute__((always_inline)) void span_up_##SFX(                          \
        const float *up, const float *x, int k, uint32_t m, float *out, size_t stride, int L)      \
    {                                                                                              \
        const int G = L >= NA ? 1 : NA / L > 4 ? 4 : NA / L;                                       \
        uint32_t i = 0;                                                                            \
        for (; i + (uint32_t)(G * W) <= m; i += (uint32_t)(G * W))                                 \
            run_up_##SFX(up, x + i, k, out + i, stride, L, G);                                     \
        for (; i + W <= m; i += W)                                                                 \
            run_up_##SFX(up, x + i, k, out + i, stride, L, 1);                                     \
        if (i < m) {                                                                               \
            float t[MG_OS_MAX * W];                                                                \
            run_up_##SFX(up, x + i, k, t, W, L, 1);                                                \
            for (int p = 0; p < L; p++)                                                            \
                memcpy(out + (size_t)p * stride + i, t + p * W, (m - i) * sizeof *t);              \
        }                                                                                          \
    }                                                                                              \
    ATTR static void up_##SFX(const float *up, const float *x, int k, uint32_t m, float *out,      \
                              size_t stride, int L)                                                \
    {                                                                                              \
        switch (L) {                                                                               \
        case 2: span_up_##SFX(up, x, k, m, out, stride, 2); break;                                 \
        case 4: span_up_##SFX(up, x, k, m, out, stride, 4); break;                                 \
        case 8: span_up_##SFX(up, x, k, m, out, stride, 8); break;                                 \
        default: span_up_##SFX(up, x, k, m, out, stride, L); break;                                \
        }                                                                                          \
    }                                                                                              \
    ATTR static inline __attribute__((always_inline)) void run_down_##SFX(                         \
        const float *dp, const float *rows, size_t rstride, int k, int L, float *y, int G)         \
    {                                                                                              \
        V a0[4], a1[4];                                                                            \
        for (int g = 0; g < G; g++)                                                                \
            a0[g] = a1[g] = ZERO;                                                                  \
        for (int q = 0; q < L; q += 2) {                                                           \
            const float *u = rows + (size_t)q * rstride, *d = dp + (size_t)q * k;                  \
            for (int j = 0; j < k; j++) {                                                          \
                V c = BC(d[j]);                                                                    \
                for (int g = 0; g < G; g++)                                                        \
                    a0[g] = MADD(c, LD(u + g * W - j), a0[g]);                                     \
            }                                                                                      \
            if (q + 1 < L) {                                                                       \
                u += rstride;                                                                      \
                d += k;                                                                            \
                for (int j = 0; j < k; j++) {                                                      \
                    V c = BC(d[j]);                                                                \
                    for (int g = 0; g < G; g++)                                                    \
                        a1[g] = MADD(c, LD(u + g * W - j), a1[g]);                                 \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (int g = 0; g < G; g++)                                                                \
            ST(y + g * W, ADD(a0[g], a1[g]));                                                      \
    }                                                                                              \
    ATTR static void down_##SFX(const float *dp, const float *rows, size_t rstride, int k,         \
                                int L, uint32_t m, float *y)                                       \
    {                                                                                              \
        uint32_t i = 0;                                                                            \
        for (; i + 4 * W <= m; i += 4 * W)                                                         \
            run_down_##SFX(dp, rows + i, rstride, k, L, y + i, 4);                                 \
        for (; i + W <= m; i += W)                                                                 \
            run_down_##SFX(dp, rows + i, rstride, k, L, y + i, 1);                                 \
        if (i < m) {                                                                               \
            float t[W];                                                                            \
            run_down_##SFX(dp, rows + i, rstride, k, L, t, 1);                                     \
            memcpy(y + i, t, (m - i) * sizeof *t);                                                 \
        }                                                                                          \
    }

#define C_LD(p) (*(p))
#define C_ST(p, v) (*(p) = (v))
#define C_BC(x) (x)
#define C_MADD(a, b, c) ((a) * (b) + (c))
#define C_ADD(a, b) ((a) + (b))
OS_KERNELS(c, , float, 1, 8, C_LD, C_ST, C_BC, 0.0f, C_MADD, C_ADD)

#if defined(__SSE2__)
#define SSE_MADD(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
OS_KERNELS(sse, , __m128, 4, 8, _mm_loadu_ps, _mm_storeu_ps, _mm_set1_ps, _mm_setzero_ps(),
           SSE_MADD, _mm_add_ps)
#endif

#if defined(OS_AVX)
OS_KERNELS(avx2, __attribute__((target("avx2,fma"))), __m256, 8, 8, _mm256_loadu_ps,
           _mm256_storeu_ps, _mm256_set1_ps, _mm256_setzero_ps(), _mm256_fmadd_ps,
           _mm256_add_ps)
/* 16 lanes, each with the AVX2 build's operations: the same values, twice the frames per step */
OS_KERNELS(avx512, __attribute__((target("avx512f"))), __m512, 16, 16, _mm512_loadu_ps,
           _mm512_storeu_ps, _mm512_set1_ps, _mm512_setzero_ps(), _mm512_fmadd_ps,
           _mm512_add_ps)
#endif

/* [rt] Make room for m more values in rows of a block history holding *len (history first). */
static void slide(float *rows, int nrows, uint32_t k, uint32_t *len, uint32_t m)
{
    if (*len + m <= k - 1 + MG_OS_CHUNK)
        return;
    for (int r = 0; r < nrows; r++) {
        float *b = rows + (size_t)r * MG_OS_BLEN(k);
        memmove(b, b + *len - (k - 1), (k - 1) * sizeof *b);
    }
    *len = k - 1;
}

void mg_os_up_block(const mg_os *os, mg_os_chan *c, const float *x, uint32_t n, float *out)
{
    int L = os->factor;
    if (L <= 1) {
        memmove(out, x, n * sizeof *out);
        return;
    }
    uint32_t k = (uint32_t)os->k;
    for (uint32_t i0 = 0; i0 < n;) {
        uint32_t m = n - i0 < MG_OS_CHUNK ? n - i0 : MG_OS_CHUNK;
        slide(c->bx, 1, k, &c->bx_len, m);
        float *w = c->bx + c->bx_len;
        memcpy(w, x + i0, m * sizeof *w);
        switch (os->simd) {
#if defined(OS_AVX)
        case 3: up_avx512(os->up, w, (int)k, m, out + i0, n, L); break;
        case 2: up_avx2(os->up, w, (int)k, m, out + i0, n, L); break;
#endif
#if defined(__SSE2__)
        case 1: up_sse(os->up, w, (int)k, m, out + i0, n, L); break;
#endif
        default: up_c(os->up, w, (int)k, m, out + i0, n, L); break;
        }
        c->bx_len += m;
        i0 += m;
    }
}

void mg_os_down_block(const mg_os *os, mg_os_chan *c, const float *u, uint32_t n, float *y)
{
    int L = os->factor;
    if (L <= 1) {
        memmove(y, u, n * sizeof *y);
        return;
    }
    uint32_t k = (uint32_t)os->k;
    size_t rs = MG_OS_BLEN(k);
    for (uint32_t i0 = 0; i0 < n;) {
        uint32_t m = n - i0 < MG_OS_CHUNK ? n - i0 : MG_OS_CHUNK;
        slide(c->bu, L, k, &c->bu_len, m);
        float *w = c->bu + c->bu_len;
        for (int q = 0; q < L; q++)
            memcpy(w + (size_t)q * rs, u + (size_t)q * n + i0, m * sizeof *w);
        switch (os->simd) {
#if defined(OS_AVX)
        case 3: down_avx512(os->dpoly, w, rs, (int)k, L, m, y + i0); break;
        case 2: down_avx2(os->dpoly, w, rs, (int)k, L, m, y + i0); break;
#endif
#if defined(__SSE2__)
        case 1: down_sse(os->dpoly, w, rs, (int)k, L, m, y + i0); break;
#endif
        default: down_c(os->dpoly, w, rs, (int)k, L, m, y + i0); break;
        }
        c->bu_len += m;
        i0 += m;
    }
}
