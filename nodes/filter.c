/*
** filter.c: shared filter design and processing (see mg_filter.h for the structures and
** why). Design is [any], running is [rt], mg_filter_params_get is [control]; nothing here
** allocates.
*/
#include <math.h>
#include <string.h>

#include "mg_filter.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
/*
** FMA build: on x86 with GCC/Clang the runners are compiled a second time with AVX2 and FMA,
** each multiply-add of a step fused (svf_step_fma), which shortens a section's serial chain
** from a multiply and two adds to two fused operations. mg_filter_band_init picks the build
** once per band (b->fma); every path of a band then uses the same arithmetic, so the output is
** still independent of the block size (it differs from the baseline build by rounding only).
*/
#if defined(__SSE2__) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FILTER_FMA 1
#include <immintrin.h>
#define FMA_TARGET __attribute__((target("avx2,fma")))
#else
#define FILTER_FMA 0
#endif
/* the runners take the build as a constant argument and are inlined into each build */
#define RUNNER static inline __attribute__((always_inline))

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* [any] Frequency clamped into the range every design supports. */
static double clamp_freq(double freq, double rate)
{
    double hi = MG_FILTER_FMAX * rate;
    if (!(freq > 1e-6))
        return 1e-6;
    return freq < hi ? freq : hi;
}

/*
** [any] The cookbook formulas with A = 10^(gain/40), w0 = 2 pi f/rate, alpha = sin(w0)/(2Q).
** 1 - cos(w0) is computed as 2 sin^2(w0/2) so low-frequency designs keep their precision.
*/
mg_biquad mg_biquad_design(mg_filter_type t, double freq, double q, double gain_db, double rate)
{
    double w0 = 2 * M_PI * clamp_freq(freq, rate) / rate;
    double cw = cos(w0), sw = sin(w0), h = sin(0.5 * w0);
    double omc = 2 * h * h; /* 1 - cos w0 */
    double alpha = sw / (2 * (q > 1e-6 ? q : 1e-6));
    double A = pow(10.0, gain_db / 40.0), sA = sqrt(A);
    double b0, b1, b2, a0, a1 = -2 * cw, a2;
    a0 = 1 + alpha;
    a2 = 1 - alpha;
    switch (t) {
    case MG_FT_LOWPASS:
        b0 = b2 = 0.5 * omc;
        b1 = omc;
        break;
    case MG_FT_HIGHPASS:
        b0 = b2 = 0.5 * (2 - omc);
        b1 = -(2 - omc);
        break;
    case MG_FT_BANDPASS:
        b0 = alpha;
        b1 = 0;
        b2 = -alpha;
        break;
    case MG_FT_NOTCH:
        b0 = b2 = 1;
        b1 = -2 * cw;
        break;
    case MG_FT_PEAK:
        b0 = 1 + alpha * A;
        b1 = -2 * cw;
        b2 = 1 - alpha * A;
        a0 = 1 + alpha / A;
        a2 = 1 - alpha / A;
        break;
    case MG_FT_LOWSHELF:
        b0 = A * ((A + 1) - (A - 1) * cw + 2 * sA * alpha);
        b1 = 2 * A * ((A - 1) - (A + 1) * cw);
        b2 = A * ((A + 1) - (A - 1) * cw - 2 * sA * alpha);
        a0 = (A + 1) + (A - 1) * cw + 2 * sA * alpha;
        a1 = -2 * ((A - 1) + (A + 1) * cw);
        a2 = (A + 1) + (A - 1) * cw - 2 * sA * alpha;
        break;
    case MG_FT_HIGHSHELF:
        b0 = A * ((A + 1) + (A - 1) * cw + 2 * sA * alpha);
        b1 = -2 * A * ((A - 1) + (A + 1) * cw);
        b2 = A * ((A + 1) + (A - 1) * cw - 2 * sA * alpha);
        a0 = (A + 1) - (A - 1) * cw + 2 * sA * alpha;
        a1 = 2 * ((A - 1) - (A + 1) * cw);
        a2 = (A + 1) - (A - 1) * cw - 2 * sA * alpha;
        break;
    case MG_FT_ALLPASS:
    default:
        b0 = 1 - alpha;
        b1 = -2 * cw;
        b2 = 1 + alpha;
        break;
    }
    return (mg_biquad){b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0};
}

double mg_biquad_mag_db(const mg_biquad *c, double freq, double rate)
{
    double w = 2 * M_PI * freq / rate;
    double c1 = cos(w), s1 = sin(w), c2 = cos(2 * w), s2 = sin(2 * w);
    double nr = c->b0 + c->b1 * c1 + c->b2 * c2, ni = -(c->b1 * s1 + c->b2 * s2);
    double dr = 1 + c->a1 * c1 + c->a2 * c2, di = -(c->a1 * s1 + c->a2 * s2);
    return 10 * log10((nr * nr + ni * ni) / (dr * dr + di * di));
}

void mg_biquad_reset(mg_biquad_state *s)
{
    s->s1 = s->s2 = 0;
}

void mg_biquad_run(mg_biquad_state *s, const mg_biquad *c, const float *x, float *y,
                   uint32_t n)
{
    const double b0 = c->b0, b1 = c->b1, b2 = c->b2, a1 = c->a1, a2 = c->a2;
    double s1 = s->s1, s2 = s->s2;
    for (uint32_t i = 0; i < n; i++) {
        /* s2 and the input terms are added first, off the serial chain s1 -> y -> s1, which is
           then one add, one multiply and one subtract */
        double xi = x[i], yi = b0 * xi + s1;
        s1 = (b1 * xi + s2) - a1 * yi;
        s2 = b2 * xi - a2 * yi;
        y[i] = (float)yi;
    }
    if (!isfinite(s1 + s2))
        s1 = s2 = 0;
    s->s1 = s1;
    s->s2 = s2;
}

/* ---- Butterworth and Linkwitz-Riley cascades ---- */

int mg_filter_cascade_q(int slope_db, mg_filter_design d, double q[MG_FILTER_MAX_SECTIONS])
{
    if (slope_db < 12 || slope_db > 12 * MG_FILTER_MAX_SECTIONS || slope_db % 12)
        return 0;
    int ns = slope_db / 12, k = 0;
    /* Butterworth order N: the pole pair at +-(2i-1) pi/(2N) from the imaginary axis has
       damping sin((2i-1) pi/(2N)), so Q = 1/(2 sin((2i-1) pi/(2N))) */
    int order = d == MG_FD_LINKWITZ_RILEY ? ns : 2 * ns;
    for (int i = 1; i <= order / 2; i++) {
        double qi = 1 / (2 * sin((2 * i - 1) * M_PI / (2 * order)));
        q[k++] = qi;
        if (d == MG_FD_LINKWITZ_RILEY)
            q[k++] = qi;
    }
    if (d == MG_FD_LINKWITZ_RILEY && order % 2)
        q[k++] = 0.5; /* (first-order pole)^2 = one section with a double real pole */
    return k;
}

/*
** [any] Sections of a lowpass/highpass cascade: their Q values, and whether the output is
** inverted (a Linkwitz-Riley highpass built on an odd-order Butterworth, which is 180 degrees
** from its lowpass, so the inversion makes lowpass + highpass an allpass).
*/
static int cascade_plan(mg_filter_type t, int slope_db, mg_filter_design d,
                        double q[MG_FILTER_MAX_SECTIONS], int *invert)
{
    *invert = 0;
    if (t != MG_FT_LOWPASS && t != MG_FT_HIGHPASS)
        return 0;
    int n = mg_filter_cascade_q(slope_db, d, q);
    *invert = t == MG_FT_HIGHPASS && d == MG_FD_LINKWITZ_RILEY && (slope_db / 12) % 2;
    return n;
}

int mg_biquad_design_cascade(mg_filter_type t, double freq, int slope_db, mg_filter_design d,
                             double rate, mg_biquad out[MG_FILTER_MAX_SECTIONS])
{
    double q[MG_FILTER_MAX_SECTIONS];
    int invert, n = cascade_plan(t, slope_db, d, q, &invert);
    for (int i = 0; i < n; i++)
        out[i] = mg_biquad_design(t, freq, q[i], 0, rate);
    if (n && invert) {
        out[0].b0 = -out[0].b0;
        out[0].b1 = -out[0].b1;
        out[0].b2 = -out[0].b2;
    }
    return n;
}

/* ---- trapezoidal SVF sections ---- */

/*
** [any] Outputs per type, from the prototype H(s) = m0 + c (m1 s + m2) / (s^2 + k s + 1)
** (s normalised to the section's own g):
**   lowpass 1/D; highpass s^2/D; bandpass k s/D; notch (s^2 + 1)/D; allpass (s^2 - k s + 1)/D;
**   peak      1 + (A^2 - 1) k s/D, k = 1/(Q A)                   -> (s^2 + s A/Q + 1)/D
**   lowshelf  1 + (A - 1)(k s + A + 1)/D, g = tan(w0/2)/sqrt(A)     (RBJ's low shelf)
**   highshelf A^2 - (A - 1)(k A s + A + 1)/D, g = tan(w0/2) sqrt(A) (RBJ's high shelf)
** which are the RBJ prototypes, so the digital responses match mg_biquad_design.
*/
mg_svf mg_svf_design(mg_filter_type t, double freq, double q, double gain_db, double rate)
{
    mg_svf s;
    double g = tan(M_PI * clamp_freq(freq, rate) / rate);
    double k = 1 / (q > 1e-6 ? q : 1e-6), A = pow(10.0, gain_db / 40.0);
    s.c = 1;
    s.m0 = s.m1 = s.m2 = 0;
    switch (t) {
    case MG_FT_LOWPASS:
        s.m2 = 1;
        break;
    case MG_FT_HIGHPASS:
        s.m0 = 1;
        s.m1 = -k;
        s.m2 = -1;
        break;
    case MG_FT_BANDPASS:
        s.m1 = k;
        break;
    case MG_FT_NOTCH:
        s.m0 = 1;
        s.m1 = -k;
        break;
    case MG_FT_PEAK:
        k /= A;
        s.c = A * A - 1;
        s.m0 = 1;
        s.m1 = k;
        break;
    case MG_FT_LOWSHELF:
        g /= sqrt(A);
        s.c = A - 1;
        s.m0 = 1;
        s.m1 = k;
        s.m2 = A + 1;
        break;
    case MG_FT_HIGHSHELF:
        g *= sqrt(A);
        s.c = A - 1;
        s.m0 = A * A;
        s.m1 = -k * A;
        s.m2 = -(A + 1);
        break;
    case MG_FT_ALLPASS:
    default:
        s.m0 = 1;
        s.m1 = -2 * k;
        break;
    }
    s.g = g;
    s.k = k;
    s.a1 = 1 / (1 + g * (g + k));
    s.a2 = g * s.a1;
    s.a3 = g * s.a2;
    /* v1 = a1 ic1 - a2 ic2 + a2 c x, v2 = a2 ic1 + (1 - a3) ic2 + a3 c x, into ic' = 2 v - ic */
    s.p11 = 2 * s.a1 - 1;
    s.p12 = -2 * s.a2;
    s.p21 = 2 * s.a2;
    s.p22 = 1 - 2 * s.a3;
    s.q1 = 2 * s.a2 * s.c;
    s.q2 = 2 * s.a3 * s.c;
    s.r0 = s.m0 + (s.m1 * s.a2 + s.m2 * s.a3) * s.c;
    s.r1 = s.m1 * s.a1 + s.m2 * s.a2;
    s.r2 = s.m2 * (1 - s.a3) - s.m1 * s.a2;
    return s;
}

/* Bilinear transform of the prototype: s = (1/g)(1 - z^-1)/(1 + z^-1). */
mg_biquad mg_svf_biquad(const mg_svf *c)
{
    double g = c->g, k = c->k, g2 = g * g;
    double B = c->m0 * k + c->c * c->m1, C = c->m0 + c->c * c->m2;
    double d0 = 1 + k * g + g2;
    return (mg_biquad){(c->m0 + B * g + C * g2) / d0, 2 * (C * g2 - c->m0) / d0,
                       (c->m0 - B * g + C * g2) / d0, 2 * (g2 - 1) / d0,
                       (1 - k * g + g2) / d0};
}

/* ---- bands ---- */

/* [any] RBJ's bandwidth (octaves) to Q at w0, for the types that define one. */
static double bw_to_q(double bw, double freq, double rate)
{
    double w0 = 2 * M_PI * clamp_freq(freq, rate) / rate;
    return 1 / (2 * sinh(0.5 * log(2.0) * bw * w0 / sin(w0)));
}

static mg_filter_type type_of(int t)
{
    return t < 0 ? MG_FT_LOWPASS : t >= MG_FILTER_NTYPES ? MG_FT_ALLPASS : (mg_filter_type)t;
}

int mg_filter_design_band(const mg_filter_params *p, int slope, mg_filter_design d,
                          double rate, mg_svf sec[MG_FILTER_MAX_SECTIONS])
{
    mg_filter_type t = type_of(p->type);
    double q[MG_FILTER_MAX_SECTIONS];
    int invert, n = 0;
    if (slope > 12 || d == MG_FD_LINKWITZ_RILEY)
        n = cascade_plan(t, slope, d, q, &invert);
    if (n) {
        for (int i = 0; i < n; i++)
            sec[i] = mg_svf_design(t, p->freq, q[i], 0, rate);
        if (invert) {
            sec[0].m0 = -sec[0].m0;
            sec[0].m1 = -sec[0].m1;
            sec[0].m2 = -sec[0].m2;
            sec[0].r0 = -sec[0].r0;
            sec[0].r1 = -sec[0].r1;
            sec[0].r2 = -sec[0].r2;
        }
        return n;
    }
    double qq = p->q;
    if (p->bw > 0 && (t == MG_FT_BANDPASS || t == MG_FT_NOTCH || t == MG_FT_PEAK ||
                      t == MG_FT_ALLPASS))
        qq = bw_to_q(p->bw, p->freq, rate);
    sec[0] = mg_svf_design(t, p->freq, qq, p->gain, rate);
    return 1;
}

void mg_filter_band_init(mg_filter_band *b, int slope, mg_filter_design d)
{
    b->slope = slope;
    b->design = d;
#if FILTER_FMA
    b->fma = mg_simd_level() >= MG_SIMD_AVX2;
#else
    b->fma = 0;
#endif
    mg_filter_band_reset(b);
}

void mg_filter_band_reset(mg_filter_band *b)
{
    memset(b->st, 0, sizeof b->st);
    b->n = 0; /* redesign on the next block (the rate may have changed) */
}

/* A section whose input scale is 0 (peak or shelf at 0 dB) stops once its state has rung
   down to this level (-200 dB); from then on it is the identity and is skipped. */
#define RINGDOWN 1e-10
/* Smaller state magnitudes cannot change any float output; cleared at block ends so a
   thread without flush-to-zero never computes with subnormals for long. */
#define TINY 1e-200

/*
** [rt] One sample through one section (the state-space step of mg_svf). The evaluation order
** is fixed, ((a + b) + c) left to right, and svf_step2 below does the same per lane, so every
** runner gives the same bits.
*/
static inline double svf_step(mg_svf_state *s, const mg_svf *c, double x)
{
    double i1 = s->ic1, i2 = s->ic2;
    double y = c->r0 * x + c->r1 * i1 + c->r2 * i2;
    s->ic1 = c->p11 * i1 + c->p12 * i2 + c->q1 * x;
    s->ic2 = c->p21 * i1 + c->p22 * i2 + c->q2 * x;
    return y;
}

#if FILTER_FMA
/*
** [rt] svf_step with fused multiply-adds, accumulated in the same order:
** y = r2 i2 + (r1 i1 + r0 x), ic1' = p11 i1 + (p12 i2 + q1 x), ic2' likewise (svf_step2_fma
** does the same per lane). At 0 dB (q1 = q2 = 0, r0 = 1) zero state still passes x exactly.
*/
static inline FMA_TARGET double svf_step_fma(mg_svf_state *s, const mg_svf *c, double x)
{
    double i1 = s->ic1, i2 = s->ic2;
    double y = __builtin_fma(c->r2, i2, __builtin_fma(c->r1, i1, c->r0 * x));
    s->ic1 = __builtin_fma(c->p11, i1, __builtin_fma(c->p12, i2, c->q1 * x));
    s->ic2 = __builtin_fma(c->p21, i1, __builtin_fma(c->p22, i2, c->q2 * x));
    return y;
}
#endif

/* [rt] One sample through one section in the band's build (fma a constant). */
RUNNER double step1(mg_svf_state *s, const mg_svf *c, double x, const int fma)
{
#if FILTER_FMA
    if (fma)
        return svf_step_fma(s, c, x);
#endif
    (void)fma;
    return svf_step(s, c, x);
}

/*
** [rt] One sample through the band's sections, in double. A bypassed section (c = 0) runs
** only while its state rings down, then is skipped; every path (constant or ramping, any
** block size) goes through here or through runners with the identical arithmetic below.
*/
RUNNER double cascade_step(mg_filter_band *b, int ch, double x, const int fma)
{
    for (int s = 0; s < b->n; s++) {
        mg_svf_state *st = &b->st[ch][s];
        const mg_svf *c = &b->sec[s];
        if (c->c != 0) {
            x = step1(st, c, x, fma);
        } else if (st->ic1 != 0 || st->ic2 != 0) {
            x = step1(st, c, x, fma);
            if (fabs(st->ic1) < RINGDOWN && fabs(st->ic2) < RINGDOWN)
                st->ic1 = st->ic2 = 0;
        }
    }
    return x;
}

static int params_equal(const mg_filter_params *a, const mg_filter_params *b)
{
    return a->type == b->type && a->freq == b->freq && a->q == b->q && a->bw == b->bw &&
           a->gain == b->gain;
}

static float pval_at(const mg_pval *p, uint32_t i)
{
    return p->constant ? p->v[0] : p->v[i];
}

static mg_filter_params params_at(const mg_pval *p, int stride, uint32_t i)
{
    mg_filter_params fp;
    fp.type = (int)lrintf(pval_at(&p[MG_FP_TYPE * stride], i));
    fp.freq = pval_at(&p[MG_FP_FREQ * stride], i);
    fp.q = pval_at(&p[MG_FP_Q * stride], i);
    fp.bw = pval_at(&p[MG_FP_BW * stride], i);
    fp.gain = pval_at(&p[MG_FP_GAIN * stride], i);
    return fp;
}

/* [rt] Coefficients for `p` (cached); sections that fall out of use are cleared. */
static void band_update(mg_filter_band *b, int channels, const mg_filter_params *p,
                        double rate)
{
    if (b->n && params_equal(&b->key, p))
        return;
    int n = mg_filter_design_band(p, b->slope, b->design, rate, b->sec);
    for (int c = 0; c < channels; c++)
        for (int s = n; s < b->n; s++)
            b->st[c][s].ic1 = b->st[c][s].ic2 = 0;
    b->n = n;
    b->key = *p;
}

/*
** [rt] One channel through constant coefficients whose sections are all active (c != 0):
** sample by sample through the ns sections (ns a constant in each caller, so the loop over
** sections unrolls and the out-of-order core overlaps the sections' serial chains).
*/
RUNNER void run_active(const mg_svf *sec, int ns, mg_svf_state *st, float *x, uint32_t n,
                       const int fma)
{
    mg_svf_state s[MG_FILTER_MAX_SECTIONS];
    for (int k = 0; k < ns; k++)
        s[k] = st[k];
    for (uint32_t i = 0; i < n; i++) {
        double v = x[i];
        for (int k = 0; k < ns; k++)
            v = step1(&s[k], &sec[k], v, fma);
        x[i] = (float)v;
    }
    for (int k = 0; k < ns; k++)
        st[k] = s[k];
}

#if defined(__SSE2__)
/*
** Two channels in the two lanes of an SSE2 register: the same arithmetic as svf_step on each
** lane (IEEE double mul and add, no FMA), so a stereo pair runs at the cost of one channel and
** gives the bits each channel would alone.
*/
typedef struct svf2 {
    __m128d p11, p12, p21, p22, q1, q2, r0, r1, r2;
} svf2;

static inline svf2 svf2_of(const mg_svf *c)
{
    return (svf2){_mm_set1_pd(c->p11), _mm_set1_pd(c->p12), _mm_set1_pd(c->p21),
                  _mm_set1_pd(c->p22), _mm_set1_pd(c->q1),  _mm_set1_pd(c->q2),
                  _mm_set1_pd(c->r0),  _mm_set1_pd(c->r1),  _mm_set1_pd(c->r2)};
}

static inline __m128d svf_step2(__m128d *i1, __m128d *i2, const svf2 *c, __m128d x)
{
    __m128d a = *i1, b = *i2;
    __m128d y =
        _mm_add_pd(_mm_add_pd(_mm_mul_pd(c->r0, x), _mm_mul_pd(c->r1, a)), _mm_mul_pd(c->r2, b));
    *i1 =
        _mm_add_pd(_mm_add_pd(_mm_mul_pd(c->p11, a), _mm_mul_pd(c->p12, b)), _mm_mul_pd(c->q1, x));
    *i2 =
        _mm_add_pd(_mm_add_pd(_mm_mul_pd(c->p21, a), _mm_mul_pd(c->p22, b)), _mm_mul_pd(c->q2, x));
    return y;
}

#if FILTER_FMA
/* [rt] svf_step_fma on two lanes. */
static inline FMA_TARGET __m128d svf_step2_fma(__m128d *i1, __m128d *i2, const svf2 *c, __m128d x)
{
    __m128d a = *i1, b = *i2;
    __m128d y = _mm_fmadd_pd(c->r2, b, _mm_fmadd_pd(c->r1, a, _mm_mul_pd(c->r0, x)));
    *i1 = _mm_fmadd_pd(c->p11, a, _mm_fmadd_pd(c->p12, b, _mm_mul_pd(c->q1, x)));
    *i2 = _mm_fmadd_pd(c->p21, a, _mm_fmadd_pd(c->p22, b, _mm_mul_pd(c->q2, x)));
    return y;
}
#endif

/* [rt] svf_step2 in the band's build. */
RUNNER __m128d step2(__m128d *i1, __m128d *i2, const svf2 *c, __m128d x, const int fma)
{
#if FILTER_FMA
    if (fma)
        return svf_step2_fma(i1, i2, c, x);
#endif
    (void)fma;
    return svf_step2(i1, i2, c, x);
}

/* [rt] Channels x0 and x1 through ns active constant sections, one lane each. */
RUNNER void run_active_pair(const mg_svf *sec, int ns, mg_svf_state *st0, mg_svf_state *st1,
                            float *restrict x0, float *restrict x1, uint32_t n, const int fma)
{
    svf2 c[MG_FILTER_MAX_SECTIONS];
    __m128d i1[MG_FILTER_MAX_SECTIONS], i2[MG_FILTER_MAX_SECTIONS];
    for (int k = 0; k < ns; k++) {
        c[k] = svf2_of(&sec[k]);
        i1[k] = _mm_set_pd(st1[k].ic1, st0[k].ic1);
        i2[k] = _mm_set_pd(st1[k].ic2, st0[k].ic2);
    }
    for (uint32_t i = 0; i < n; i++) {
        __m128d v = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(&x0[i]), _mm_load_ss(&x1[i])));
        for (int k = 0; k < ns; k++)
            v = step2(&i1[k], &i2[k], &c[k], v, fma);
        __m128 y = _mm_cvtpd_ps(v);
        _mm_store_ss(&x0[i], y);
        _mm_store_ss(&x1[i], _mm_shuffle_ps(y, y, 1));
    }
    for (int k = 0; k < ns; k++) {
        _mm_storel_pd(&st0[k].ic1, i1[k]);
        _mm_storeh_pd(&st1[k].ic1, i1[k]);
        _mm_storel_pd(&st0[k].ic2, i2[k]);
        _mm_storeh_pd(&st1[k].ic2, i2[k]);
    }
}
#endif

/* [rt] Channel c through the band's constant, all-active sections (the switch hands
   run_active a constant section count). */
RUNNER void run_one(mg_filter_band *b, int c, float *x, uint32_t n, const int fma)
{
    switch (b->n) {
    case 1: run_active(b->sec, 1, b->st[c], x, n, fma); break;
    case 2: run_active(b->sec, 2, b->st[c], x, n, fma); break;
    case 3: run_active(b->sec, 3, b->st[c], x, n, fma); break;
    default: run_active(b->sec, 4, b->st[c], x, n, fma); break;
    }
}

/* [rt] Channels c and c + 1 through the band's constant, all-active sections. */
RUNNER void run_two(mg_filter_band *b, int c, float *const *io, uint32_t n, const int fma)
{
#if defined(__SSE2__)
    mg_svf_state *s0 = b->st[c], *s1 = b->st[c + 1];
    switch (b->n) {
    case 1: run_active_pair(b->sec, 1, s0, s1, io[c], io[c + 1], n, fma); break;
    case 2: run_active_pair(b->sec, 2, s0, s1, io[c], io[c + 1], n, fma); break;
    case 3: run_active_pair(b->sec, 3, s0, s1, io[c], io[c + 1], n, fma); break;
    default: run_active_pair(b->sec, 4, s0, s1, io[c], io[c + 1], n, fma); break;
    }
#else
    run_one(b, c, io[c], n, fma);
    run_one(b, c + 1, io[c + 1], n, fma);
#endif
}

/* [rt] A bypassed section (c = 0, a single-section band): ring down what is left of its
   state, then leave the signal untouched. */
RUNNER void run_bypassed(mg_filter_band *b, int ch, float *x, uint32_t n, const int fma)
{
    const mg_svf c = b->sec[0];
    mg_svf_state st = b->st[ch][0];
    for (uint32_t i = 0; i < n && (st.ic1 != 0 || st.ic2 != 0); i++) {
        x[i] = (float)step1(&st, &c, x[i], fma);
        if (fabs(st.ic1) < RINGDOWN && fabs(st.ic2) < RINGDOWN)
            st.ic1 = st.ic2 = 0;
    }
    b->st[ch][0] = st;
}

/* [rt] End of a block: a non-finite state is cleared (a NaN input must not latch the filter),
   and so are magnitudes below TINY. */
static void band_clean(mg_filter_band *b, int channels)
{
    for (int c = 0; c < channels; c++)
        for (int s = 0; s < b->n; s++) {
            mg_svf_state *st = &b->st[c][s];
            if (!isfinite(st->ic1) || !isfinite(st->ic2))
                st->ic1 = st->ic2 = 0;
            if (fabs(st->ic1) < TINY)
                st->ic1 = 0;
            if (fabs(st->ic2) < TINY)
                st->ic2 = 0;
        }
}

static int params_constant(const mg_pval *p, int stride)
{
    int constant = 1;
    for (int f = 0; f < MG_FP_COUNT; f++)
        constant &= p[f * stride].constant != 0;
    return constant;
}

RUNNER void band_process(mg_filter_band *b, const mg_pval *p, int stride, float *const *io,
                         int channels, uint32_t n, double rate, const int fma)
{
    if (params_constant(p, stride)) {
        mg_filter_params fp = params_at(p, stride, 0);
        band_update(b, channels, &fp, rate);
        /* only a single peak or shelf section can be bypassed (cascades are lowpass and
           highpass, whose c is 1) */
        if (b->n == 1 && b->sec[0].c == 0) {
            for (int c = 0; c < channels; c++)
                run_bypassed(b, c, io[c], n, fma);
        } else {
            int c = 0;
            for (; c + 1 < channels; c += 2)
                run_two(b, c, io, n, fma);
            if (c < channels)
                run_one(b, c, io[c], n, fma);
        }
    } else {
        for (uint32_t i = 0; i < n; i++) {
            mg_filter_params fp = params_at(p, stride, i);
            band_update(b, channels, &fp, rate);
            for (int c = 0; c < channels; c++)
                io[c][i] = (float)cascade_step(b, c, io[c][i], fma);
        }
    }
    band_clean(b, channels);
}

#if FILTER_FMA
static FMA_TARGET void band_process_fma(mg_filter_band *b, const mg_pval *p, int stride,
                                        float *const *io, int channels, uint32_t n, double rate)
{
    band_process(b, p, stride, io, channels, n, rate, 1);
}
#endif

void mg_filter_band_process(mg_filter_band *b, const mg_pval *p, int stride, float *const *io,
                            int channels, uint32_t n, double rate)
{
#if FILTER_FMA
    if (b->fma) {
        band_process_fma(b, p, stride, io, channels, n, rate);
        return;
    }
#endif
    band_process(b, p, stride, io, channels, n, rate, 0);
}

mg_filter_params mg_filter_params_get(const mg_node *node, int first, int stride)
{
    mg_filter_params fp;
    fp.type = (int)lrint(mg_node_get_index(node, first + MG_FP_TYPE * stride));
    fp.freq = mg_node_get_index(node, first + MG_FP_FREQ * stride);
    fp.q = mg_node_get_index(node, first + MG_FP_Q * stride);
    fp.bw = mg_node_get_index(node, first + MG_FP_BW * stride);
    fp.gain = mg_node_get_index(node, first + MG_FP_GAIN * stride);
    return fp;
}

double mg_filter_band_mag_db(const mg_filter_params *p, int slope, mg_filter_design d,
                             double freq, double rate)
{
    mg_svf sec[MG_FILTER_MAX_SECTIONS];
    int n = mg_filter_design_band(p, slope, d, rate, sec);
    double db = 0;
    for (int s = 0; s < n; s++) {
        mg_biquad bq = mg_svf_biquad(&sec[s]);
        db += mg_biquad_mag_db(&bq, freq, rate);
    }
    return db;
}

/* [any] Largest pole radius of 1 + a1 z^-1 + a2 z^-2. */
static double pole_radius(const mg_biquad *c)
{
    double disc = c->a1 * c->a1 - 4 * c->a2;
    if (disc < 0)
        return sqrt(c->a2);
    double r = sqrt(disc);
    return fmax(fabs(-c->a1 + r), fabs(-c->a1 - r)) * 0.5;
}

int64_t mg_filter_band_tail(const mg_filter_params *p, int slope, mg_filter_design d,
                            double rate)
{
    mg_svf sec[MG_FILTER_MAX_SECTIONS];
    int n = mg_filter_design_band(p, slope, d, rate, sec);
    double frames = 0;
    for (int s = 0; s < n; s++) {
        if (sec[s].c == 0)
            continue; /* bypassed */
        mg_biquad bq = mg_svf_biquad(&sec[s]);
        double r = pole_radius(&bq);
        /* 120 dB of decay of the slowest pole, with margin for repeated (LR) poles */
        frames += r > 0 && r < 1 ? 1.25 * log(1e-6) / log(r) : 0;
    }
    double cap = 600 * rate;
    return (int64_t)ceil(frames < cap ? frames : cap);
}

/* ---- the filter nodes ---- */

mg_status mg_filter_node_setup(mg_filter_node *s, mg_node *node, int first, int bands)
{
    int slope = (int)mg_node_opt_num(node, first);
    mg_filter_design d = (mg_filter_design)(int)mg_node_opt_num(node, first + 1);
    if (slope % 12)
        return mg_node_errorf(node, MG_ERR_RANGE, "slope %d dB/oct: use 12, 24, 36 or 48",
                              slope);
    s->bands = bands;
    for (int k = 0; k < bands; k++)
        mg_filter_band_init(&s->band[k], slope, d);
    return MG_OK;
}

void mg_filter_node_reset(void *state)
{
    mg_filter_node *s = state;
    for (int k = 0; k < s->bands; k++)
        mg_filter_band_reset(&s->band[k]);
}

/* ---- several bands in one pass ---- */

/* Sections per fused pass: their coefficients and states stay in registers or L1. */
#define FUSE_MAX 8
/* Bands examined per fused run (any count works; this bounds a stack array). */
#define FUSE_BANDS 32

/* The sections of one fused pass, in order; last[j] marks the last section of a band. */
typedef struct fuse_list {
    int n;
    const mg_svf *sec[FUSE_MAX];
    mg_filter_band *band[FUSE_MAX];
    int index[FUSE_MAX]; /* section index within its band */
    unsigned char last[FUSE_MAX];
} fuse_list;

/*
** [rt] Whether a band can be part of a fused pass this block: its parameters are constant (its
** coefficients are brought up to date here), and it is all active, or a bypassed section that
** has rung out on every channel, i.e. the identity (*skip is then set: it has nothing to do).
*/
static int band_fusable(mg_filter_band *b, const mg_pval *p, int stride, int channels, double rate,
                        int *skip)
{
    if (!params_constant(p, stride))
        return 0;
    mg_filter_params fp = params_at(p, stride, 0);
    band_update(b, channels, &fp, rate);
    *skip = 0;
    if (b->n == 1 && b->sec[0].c == 0) {
        for (int c = 0; c < channels; c++)
            if (b->st[c][0].ic1 != 0 || b->st[c][0].ic2 != 0)
                return 0; /* still ringing down: run it on its own */
        *skip = 1;
    }
    return 1;
}

/*
** [rt] One channel through the listed sections, sample by sample. Each band's output is rounded
** to float as it is when bands run one after the other over the block, so this gives the same
** bits; but the bands' serial chains now overlap.
*/
RUNNER void fused_one(const fuse_list *f, int ch, float *x, uint32_t n, const int fma)
{
    mg_svf_state s[FUSE_MAX];
    for (int j = 0; j < f->n; j++)
        s[j] = f->band[j]->st[ch][f->index[j]];
    for (uint32_t i = 0; i < n; i++) {
        double v = x[i];
        for (int j = 0; j < f->n; j++) {
            v = step1(&s[j], f->sec[j], v, fma);
            if (f->last[j])
                v = (float)v;
        }
        x[i] = (float)v;
    }
    for (int j = 0; j < f->n; j++)
        f->band[j]->st[ch][f->index[j]] = s[j];
}

#if FILTER_FMA
/* Frames section B runs behind section A in fused_pair_fma, and its ring of A's outputs. */
#define PAIR_LAG 6
#define PAIR_RING 8

/*
** [rt] Two sections A -> B on channels x0 and x1 (fused_two's case f->n == 2 in the FMA
** build), as a wavefront: one 256-bit step computes A at frame t (lanes 0, 1) and B at frame
** t - PAIR_LAG (lanes 2, 3), so both sections share every instruction. Each lane does
** svf_step2_fma's operations in its order and A's output is rounded to float at a band's end,
** as fused_two does: the same bits. B runs far enough behind that A's output reaches it after
** A's own recursion has moved on (with B one frame behind, the shared registers would put the
** path through A's output on the loop's critical path). The first PAIR_LAG frames go through
** A alone and the last PAIR_LAG through B alone.
*/
static FMA_TARGET void fused_pair_fma(const fuse_list *f, int c, float *const *io, uint32_t n)
{
    mg_svf_state *a0 = &f->band[0]->st[c][f->index[0]];
    mg_svf_state *a1 = &f->band[0]->st[c + 1][f->index[0]];
    mg_svf_state *b0 = &f->band[1]->st[c][f->index[1]];
    mg_svf_state *b1 = &f->band[1]->st[c + 1][f->index[1]];
    const mg_svf *A = f->sec[0], *B = f->sec[1];
    const __m256d p11 = _mm256_setr_pd(A->p11, A->p11, B->p11, B->p11);
    const __m256d p12 = _mm256_setr_pd(A->p12, A->p12, B->p12, B->p12);
    const __m256d p21 = _mm256_setr_pd(A->p21, A->p21, B->p21, B->p21);
    const __m256d p22 = _mm256_setr_pd(A->p22, A->p22, B->p22, B->p22);
    const __m256d q1 = _mm256_setr_pd(A->q1, A->q1, B->q1, B->q1);
    const __m256d q2 = _mm256_setr_pd(A->q2, A->q2, B->q2, B->q2);
    const __m256d r0 = _mm256_setr_pd(A->r0, A->r0, B->r0, B->r0);
    const __m256d r1 = _mm256_setr_pd(A->r1, A->r1, B->r1, B->r1);
    const __m256d r2 = _mm256_setr_pd(A->r2, A->r2, B->r2, B->r2);
    const svf2 ka = svf2_of(A), kb = svf2_of(B);
    __m128d ai1 = _mm_set_pd(a1->ic1, a0->ic1), ai2 = _mm_set_pd(a1->ic2, a0->ic2);
    __m128d bi1 = _mm_set_pd(b1->ic1, b0->ic1), bi2 = _mm_set_pd(b1->ic2, b0->ic2);
    float *restrict x0 = io[c], *restrict x1 = io[c + 1];
    const int round_a = f->last[0];
    __m128d ring[PAIR_RING]; /* A's output at frame t in ring[t % PAIR_RING] */
    uint32_t t = 0;
    for (; t < PAIR_LAG; t++) { /* A alone */
        __m128d x = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(&x0[t]), _mm_load_ss(&x1[t])));
        __m128d y = svf_step2_fma(&ai1, &ai2, &ka, x);
        ring[t % PAIR_RING] = round_a ? _mm_cvtps_pd(_mm_cvtpd_ps(y)) : y;
    }
    __m256d i1 = _mm256_insertf128_pd(_mm256_castpd128_pd256(ai1), bi1, 1);
    __m256d i2 = _mm256_insertf128_pd(_mm256_castpd128_pd256(ai2), bi2, 1);
    for (; t < n; t++) { /* A at t, B at t - PAIR_LAG */
        __m128d xa = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(&x0[t]), _mm_load_ss(&x1[t])));
        __m256d x = _mm256_insertf128_pd(_mm256_castpd128_pd256(xa),
                                         ring[(t - PAIR_LAG) % PAIR_RING], 1);
        __m256d y = _mm256_fmadd_pd(r2, i2, _mm256_fmadd_pd(r1, i1, _mm256_mul_pd(r0, x)));
        __m256d n1 = _mm256_fmadd_pd(p11, i1, _mm256_fmadd_pd(p12, i2, _mm256_mul_pd(q1, x)));
        i2 = _mm256_fmadd_pd(p21, i1, _mm256_fmadd_pd(p22, i2, _mm256_mul_pd(q2, x)));
        i1 = n1;
        __m128d ya = _mm256_castpd256_pd128(y);
        ring[t % PAIR_RING] = round_a ? _mm_cvtps_pd(_mm_cvtpd_ps(ya)) : ya;
        __m128 yb = _mm_cvtpd_ps(_mm256_extractf128_pd(y, 1));
        _mm_store_ss(&x0[t - PAIR_LAG], yb);
        _mm_store_ss(&x1[t - PAIR_LAG], _mm_shuffle_ps(yb, yb, 1));
    }
    ai1 = _mm256_castpd256_pd128(i1);
    ai2 = _mm256_castpd256_pd128(i2);
    bi1 = _mm256_extractf128_pd(i1, 1);
    bi2 = _mm256_extractf128_pd(i2, 1);
    for (t = n - PAIR_LAG; t < n; t++) { /* B alone */
        __m128 yb = _mm_cvtpd_ps(svf_step2_fma(&bi1, &bi2, &kb, ring[t % PAIR_RING]));
        _mm_store_ss(&x0[t], yb);
        _mm_store_ss(&x1[t], _mm_shuffle_ps(yb, yb, 1));
    }
    _mm_storel_pd(&a0->ic1, ai1);
    _mm_storeh_pd(&a1->ic1, ai1);
    _mm_storel_pd(&a0->ic2, ai2);
    _mm_storeh_pd(&a1->ic2, ai2);
    _mm_storel_pd(&b0->ic1, bi1);
    _mm_storeh_pd(&b1->ic1, bi1);
    _mm_storel_pd(&b0->ic2, bi2);
    _mm_storeh_pd(&b1->ic2, bi2);
}
#endif

/* [rt] Channels c and c + 1 through the listed sections (fused_one on two lanes). */
RUNNER void fused_two(const fuse_list *f, int c, float *const *io, uint32_t n, const int fma)
{
#if FILTER_FMA
    if (fma && f->n == 2 && n > PAIR_LAG) {
        fused_pair_fma(f, c, io, n);
        return;
    }
#endif
#if defined(__SSE2__)
    svf2 k[FUSE_MAX];
    __m128d i1[FUSE_MAX], i2[FUSE_MAX];
    for (int j = 0; j < f->n; j++) {
        const mg_svf_state *s0 = &f->band[j]->st[c][f->index[j]];
        const mg_svf_state *s1 = &f->band[j]->st[c + 1][f->index[j]];
        k[j] = svf2_of(f->sec[j]);
        i1[j] = _mm_set_pd(s1->ic1, s0->ic1);
        i2[j] = _mm_set_pd(s1->ic2, s0->ic2);
    }
    float *restrict x0 = io[c], *restrict x1 = io[c + 1];
    for (uint32_t i = 0; i < n; i++) {
        __m128d v = _mm_cvtps_pd(_mm_unpacklo_ps(_mm_load_ss(&x0[i]), _mm_load_ss(&x1[i])));
        for (int j = 0; j < f->n; j++) {
            v = step2(&i1[j], &i2[j], &k[j], v, fma);
            if (f->last[j])
                v = _mm_cvtps_pd(_mm_cvtpd_ps(v));
        }
        __m128 y = _mm_cvtpd_ps(v);
        _mm_store_ss(&x0[i], y);
        _mm_store_ss(&x1[i], _mm_shuffle_ps(y, y, 1));
    }
    for (int j = 0; j < f->n; j++) {
        mg_svf_state *s0 = &f->band[j]->st[c][f->index[j]];
        mg_svf_state *s1 = &f->band[j]->st[c + 1][f->index[j]];
        _mm_storel_pd(&s0->ic1, i1[j]);
        _mm_storeh_pd(&s1->ic1, i1[j]);
        _mm_storel_pd(&s0->ic2, i2[j]);
        _mm_storeh_pd(&s1->ic2, i2[j]);
    }
#else
    fused_one(f, c, io[c], n, fma);
    fused_one(f, c + 1, io[c + 1], n, fma);
#endif
}

/* [rt] The bands bl[0..nb-1] in series, all fusable (skip[k]: band k is the identity), in
   passes of up to FUSE_MAX sections. */
RUNNER void run_fused(mg_filter_band *const *bl, const int *skip, int nb, float *const *io,
                      int channels, uint32_t n, const int fma)
{
    int k = 0;
    while (k < nb) {
        fuse_list f = {0};
        for (; k < nb && f.n + bl[k]->n <= FUSE_MAX; k++) {
            mg_filter_band *b = bl[k];
            if (skip[k])
                continue;
            for (int j = 0; j < b->n; j++) {
                f.sec[f.n] = &b->sec[j];
                f.band[f.n] = b;
                f.index[f.n] = j;
                f.last[f.n++] = j == b->n - 1;
            }
        }
        if (!f.n)
            continue;
        int c = 0;
        for (; c + 1 < channels; c += 2)
            fused_two(&f, c, io, n, fma);
        if (c < channels)
            fused_one(&f, c, io[c], n, fma);
    }
    for (k = 0; k < nb; k++)
        band_clean(bl[k], channels);
}

/* [rt] out = in, channel by channel, unless the node works in place. */
static void copy_through(const mg_block *b)
{
    const mg_buf *in = &b->in[0];
    mg_buf *out = &b->out[0];
    for (int c = 0; c < out->channels; c++)
        if (out->ch[c] != in->ch[c])
            memcpy(out->ch[c], in->ch[c], b->n * sizeof(float));
}

/*
** [rt] The bands in series. Runs of consecutive bands with constant parameters go through
** sample by sample in one pass (run_fused), the others one after the other over the block
** (mg_filter_band_process); both give the same bits.
*/
RUNNER void node_process(mg_filter_node *s, const mg_block *b, const int fma)
{
    int channels = b->out[0].channels;
    float *const *io = b->out[0].ch;
    copy_through(b);
    int skip[FUSE_BANDS];
    mg_filter_band *bl[FUSE_BANDS];
    for (int k = 0; k < s->bands;) {
        int k1 = k;
        while (k1 < s->bands && k1 - k < FUSE_BANDS &&
               band_fusable(&s->band[k1], b->p + k1, s->bands, channels, b->rate, &skip[k1 - k]))
            bl[k1 - k] = &s->band[k1], k1++;
        if (k1 - k >= 2) {
            run_fused(bl, skip, k1 - k, io, channels, b->n, fma);
            k = k1;
        } else {
            band_process(&s->band[k], b->p + k, s->bands, io, channels, b->n, b->rate, fma);
            k++;
        }
    }
}

/*
** [rt] A chain of filter nodes, each working in place on the one before's output (the plan's
** guarantee, mg_node_desc.process_chain). When every band of every node has constant
** parameters the whole chain is one fused pass: a track's high-pass and EQ then overlap their
** serial chains. Otherwise the nodes run one after the other. The same bits either way.
*/
RUNNER void chain_process(void *const *states, const mg_block *const *b, int n, const int fma)
{
    int channels = b[0]->out[0].channels, nb = 0;
    int skip[FUSE_BANDS];
    mg_filter_band *bl[FUSE_BANDS];
    for (int i = 0; i < n; i++) {
        mg_filter_node *s = states[i];
        for (int k = 0; k < s->bands; k++, nb++) {
            if (nb == FUSE_BANDS || s->band[k].fma != fma ||
                !band_fusable(&s->band[k], b[i]->p + k, s->bands, channels, b[i]->rate,
                              &skip[nb])) {
                for (i = 0; i < n; i++) /* each node in its own build */
                    mg_filter_node_process(states[i], b[i]);
                return;
            }
            bl[nb] = &s->band[k];
        }
    }
    copy_through(b[0]);
    run_fused(bl, skip, nb, b[0]->out[0].ch, channels, b[0]->n, fma);
}

#if FILTER_FMA
static FMA_TARGET void node_process_fma(mg_filter_node *s, const mg_block *b)
{
    node_process(s, b, 1);
}

static FMA_TARGET void chain_process_fma(void *const *states, const mg_block *const *b, int n)
{
    chain_process(states, b, n, 1);
}
#endif

void mg_filter_node_process(void *state, const mg_block *b)
{
    mg_filter_node *s = state;
#if FILTER_FMA
    if (s->bands && s->band[0].fma) { /* every band of a node is set up alike */
        node_process_fma(s, b);
        return;
    }
#endif
    node_process(s, b, 0);
}

void mg_filter_node_chain(void *const *states, const mg_block *const *b, int n)
{
#if FILTER_FMA
    const mg_filter_node *s = states[0];
    if (s->bands && s->band[0].fma) {
        chain_process_fma(states, b, n);
        return;
    }
#endif
    chain_process(states, b, n, 0);
}

double mg_filter_node_response(const void *state, const mg_node *node, double freq,
                               double rate)
{
    const mg_filter_node *s = state;
    double db = 0;
    for (int k = 0; k < s->bands; k++) {
        mg_filter_params p = mg_filter_params_get(node, k, s->bands);
        db += mg_filter_band_mag_db(&p, s->band[k].slope, s->band[k].design, freq, rate);
    }
    return db;
}

int64_t mg_filter_node_tail(const void *state, const mg_node *node, double rate)
{
    const mg_filter_node *s = state;
    int64_t frames = 0;
    for (int k = 0; k < s->bands; k++) {
        mg_filter_params p = mg_filter_params_get(node, k, s->bands);
        frames += mg_filter_band_tail(&p, s->band[k].slope, s->band[k].design, rate);
    }
    return frames;
}
