/*
** saturate.c: the `saturate` node, a static waveshaper (tanh, cubic soft clip, asymmetric)
** with drive, bias, dry/wet mix and output gain, run oversampled 1, 2, 4 or 8 times so that
** the harmonics it creates above the input Nyquist are filtered out instead of folding back.
** [control] create/prepare/destroy, [rt] reset/process.
**
** Each frame: u = 10^(drive/20) x, interpolated L times (mg_oversample.h); each value goes
** through y = (f(u + b) - f(b)) / f'(b) (b = bias: 0 maps to 0 and the small-signal slope is 1,
** so a quiet signal comes out at exactly `drive` dB); decimated; a 1 Hz one-pole DC blocker
** removes the offset an asymmetric curve creates; wet = 10^(gain/20) y;
** out = dry + mix (wet - dry) with dry the input delayed like the wet path.
**
** Filters: a Kaiser-windowed sinc (stopband 110 dB) at half the input rate, whose transition
** runs from fp = min(20 kHz, 0.45 fs) to fs - fp: what folds back from above the input Nyquist
** lands above fp, out of the audio band. Latency: the filter pair's delay, a whole number of
** frames (reported; the dry path is delayed to match).
**
** How it runs: each frame's settings first (worked out once when no parameter moves), then
** stages over the block, per channel: drive, the oversampler's block interpolator (L n
** values), the curve on all of them (float, 8 or 16 at a time), the block decimator; then the
** DC blockers (the only serial loop, two channels side by side) and the mix. Every stage
** computes a value the same way wherever it falls in a block and whether its settings ramp
** or hold, so the output does not depend on the block size.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_dynamics.h"
#include "mg_oversample.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define SAT_STOP_DB 110.0
#define SAT_MAX_TAPS 1024
#define SAT_DC_HZ 1.0

enum { OPT_OVERSAMPLE };
enum { P_CURVE, P_DRIVE, P_BIAS, P_MIX, P_GAIN, N_PARAMS };
enum { CURVE_TANH, CURVE_SOFT, CURVE_ASYM };

typedef struct sat_chan {
    mg_os_chan os;
    float *dry;       /* [latency + block]: the input (finite) of the last latency frames,
                         then of the current block; dry[i] is frame i's dry signal */
    double dc_x, dc_y; /* DC blocker state */
} sat_chan;

typedef struct sat_state {
    int factor;        /* [immutable] option: 1, 2, 4, 8 */
    /* [control] prepare */
    mg_os os;
    int channels;
    uint32_t latency;
    double dc_r;
    int simd;       /* the curve's build (sat_curve_build, CPU checked at prepare) */
    uint32_t block; /* largest block */
    float *xs;      /* [block]: one channel's driven input */
    float *us;      /* [L block]: its oversampled values, phase-major (mg_os_up_block) */
    float *ys;      /* [channels][block]: the curve's output at the input rate */
    double *vs;     /* [channels][block]: after the DC blocker */
    /* each frame's settings ([block]; only [0] when ramp is 0): curve, bias, f(bias),
       1/f'(bias); linear drive, gain, mix */
    int ramp;
    int *cur;
    float *bias, *fb, *kb;
    double *drive, *gain, *mix;
    sat_chan ch[MG_MAX_CHANNELS];
} sat_state;

static const mg_port_desc sat_in[] = {{.name = "in", .channels = MG_CH_MAX, .doc = "signal"}};
static const mg_port_desc sat_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "saturated signal, same channels as in"}};

static const mg_param_desc sat_params[] = {
    {.name = "curve", .unit = "", .min = 0, .max = 2, .def = CURVE_TANH, .smooth_ms = 0,
     .choices = "tanh|soft|asymmetric",
     .doc = "tanh: tanh(u); soft: u - 4u^3/27, clipping at |u| >= 1.5; asymmetric: tanh(u) "
            "for u >= 0, tanh(2u)/2 below (tube-like, even harmonics)"},
    {.name = "drive", .unit = "dB", .min = -24, .max = 48, .def = 6, .smooth_ms = 20,
     .doc = "gain into the curve; quiet signals come out this much louder (slope 1 at 0)"},
    {.name = "bias", .unit = "", .min = -1, .max = 1, .def = 0, .smooth_ms = 20,
     .doc = "offset added before the curve (and taken out after): asymmetry, even harmonics"},
    {.name = "mix", .unit = "%", .min = 0, .max = 100, .def = 100, .smooth_ms = 20,
     .doc = "wet share; the dry part is delayed like the wet"},
    {.name = "gain", .unit = "dB", .min = -48, .max = 24, .def = 0, .smooth_ms = 20,
     .doc = "output gain of the wet path"},
};

static const mg_option_desc sat_opts[] = {
    {.name = "oversample", .type = MG_OPT_ENUM, .choices = "1|2|4|8", .def = 2,
     .doc = "oversampling factor (4x: aliases 70 dB and more under the harmonics of a "
            "driven 5 kHz tone); adds the filters' latency"},
};

/* ---- curves ([any]) ---- */

/*
** The curves on W values at a time with GCC vector extensions (V: W floats, M: W uint32 masks),
** written once by SAT_CURVES for three builds: 8 lanes (one AVX register, two SSE ones, or plain
** floats elsewhere) with MADD(a, b, c) = a b + c; 8 lanes with AVX2 + FMA; 16 lanes with
** AVX-512, whose lanes do the AVX2 + FMA build's operations (same values). A block's last
** values go through the same vector code (padded), so every value gets the same arithmetic
** wherever it falls in a block.
**
** tanh without libm, odd by construction: on a = min(|u|, 9) (tanh(9) rounds to 1), below
** 0.55 a + a^3 P(a^2), P of degree 5 interpolating (tanh(a) - a)/a^3 at the Chebyshev nodes of
** [0, 0.55^2]; above, (1 - e)/(1 + e) with e = exp(-2a) = 2^n 2^f (n the nearest integer,
** 2^f of degree 6 at the Chebyshev nodes of [-1/2, 1/2], 2^n put in the exponent bits).
** Relative error under 2e-7 (a float ulp or two) over the whole range against libm's tanh.
*/
/* the vector helpers are static and inlined: no ABI to keep for 32 or 64-byte arguments */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float sat_v8 __attribute__((vector_size(32)));
typedef uint32_t sat_m8 __attribute__((vector_size(32)));
typedef float sat_v16 __attribute__((vector_size(64)));
typedef uint32_t sat_m16 __attribute__((vector_size(64)));

#define SAT_SEL(V, M, m, a, b) ((V)(((m) & (M)(a)) | (~(m) & (M)(b)))) /* m ? a : b */

#define SAT_CURVES(SFX, ATTR, V, M, W, MADD, MIN)                                                  \
    ATTR static inline __attribute__((always_inline)) V tanh_##SFX(V u)                            \
    {                                                                                              \
        const V z = {0};                                                                           \
        const M sign = (M)z + 0x80000000u;                                                         \
        V a = MIN((V)((M)u & ~sign), z + 9.0f);                                                    \
        V s = a * a, p = z + 2.526390599e-03f;                                                     \
        p = MADD(p, s, z - 8.526332676e-03f);                                                      \
        p = MADD(p, s, z + 2.181844972e-02f);                                                      \
        p = MADD(p, s, z - 5.396470055e-02f);                                                      \
        p = MADD(p, s, z + 1.333332360e-01f);                                                      \
        p = MADD(p, s, z - 3.333333433e-01f);                                                      \
        V small = MADD(a * s, p, a);                                                               \
        V x = a * -2.8853900817779268f; /* -2a log2(e) */                                          \
        V big = x + 12582912.0f;        /* 1.5 2^23: the low bits are now n */                     \
        V f = x - (big - 12582912.0f), q = z + 1.546144485e-04f;                                   \
        q = MADD(q, f, z + 1.340042800e-03f);                                                      \
        q = MADD(q, f, z + 9.618056938e-03f);                                                      \
        q = MADD(q, f, z + 5.550327152e-02f);                                                      \
        q = MADD(q, f, z + 2.402265072e-01f);                                                      \
        q = MADD(q, f, z + 6.931471825e-01f);                                                      \
        q = MADD(q, f, z + 1.0f);                                                                  \
        V e = q * (V)(((M)big - 0x4B400000u + 127u) << 23); /* 2^n, n >= -26 */                    \
        V t = SAT_SEL(V, M, (M)(a < 0.55f), small, (1.0f - e) / (1.0f + e));                       \
        return (V)((M)t | ((M)u & sign)); /* t >= 0 */                                             \
    }                                                                                              \
    ATTR static inline __attribute__((always_inline)) V curve_##SFX##_1(int cur, V u)              \
    {                                                                                              \
        const V z = {0};                                                                           \
        V a;                                                                                       \
        M neg;                                                                                     \
        switch (cur) {                                                                             \
        case CURVE_SOFT:                                                                           \
            a = MADD(u * u * u, z - 4.0f / 27.0f, u);                                              \
            a = SAT_SEL(V, M, (M)(u >= 1.5f), z + 1.0f, a);                                        \
            return SAT_SEL(V, M, (M)(u <= -1.5f), z - 1.0f, a);                                    \
        case CURVE_ASYM:                                                                           \
            neg = (M)(u < 0.0f);                                                                   \
            a = tanh_##SFX(SAT_SEL(V, M, neg, u * 2.0f, u));                                       \
            return SAT_SEL(V, M, neg, a * 0.5f, a);                                                \
        default:                                                                                   \
            return tanh_##SFX(u);                                                                  \
        }                                                                                          \
    }                                                                                              \
    ATTR static inline __attribute__((always_inline)) V curve_##SFX##_at(                          \
        int cur, const float *in, const float *b, const float *fb, const float *kb, int step)      \
    {                                                                                              \
        const V one = (V){0} + 1.0f;                                                               \
        V u, vb, vf, vk;                                                                           \
        memcpy(&u, in, sizeof u);                                                                  \
        if (step) {                                                                                \
            memcpy(&vb, b, sizeof u);                                                              \
            memcpy(&vf, fb, sizeof u);                                                             \
            memcpy(&vk, kb, sizeof u);                                                             \
        } else { /* one value for every lane (1 x is exactly x) */                                 \
            vb = one * *b;                                                                         \
            vf = one * *fb;                                                                        \
            vk = one * *kb;                                                                        \
        }                                                                                          \
        return (curve_##SFX##_1(cur, u + vb) - vf) * vk;                                           \
    }                                                                                              \
    ATTR static void curve_##SFX(const float *in, float *out, uint32_t n, int cur,                 \
                                 const float *b, const float *fb, const float *kb, int step)       \
    {                                                                                              \
        uint32_t i = 0;                                                                            \
        V u;                                                                                       \
        for (; i + W <= n; i += W) {                                                               \
            u = curve_##SFX##_at(cur, in + i, b + step * i, fb + step * i, kb + step * i,          \
                                 step);                                                            \
            memcpy(out + i, &u, sizeof u);                                                         \
        }                                                                                          \
        if (i < n) { /* padded: the same operations as a whole vector */                           \
            float t[4][W] = {{0}};                                                                 \
            uint32_t r = n - i, rs = step ? r : 1;                                                 \
            memcpy(t[0], in + i, r * sizeof(float));                                               \
            memcpy(t[1], b + step * i, rs * sizeof(float));                                        \
            memcpy(t[2], fb + step * i, rs * sizeof(float));                                       \
            memcpy(t[3], kb + step * i, rs * sizeof(float));                                       \
            u = curve_##SFX##_at(cur, t[0], t[1], t[2], t[3], step);                               \
            memcpy(t[0], &u, sizeof u);                                                            \
            memcpy(out + i, t[0], r * sizeof(float));                                              \
        }                                                                                          \
    }

#define SAT_MADD_PLAIN(a, b, c) ((a) * (b) + (c))
#define SAT_MIN8(a, b) SAT_SEL(sat_v8, sat_m8, (sat_m8)((a) < (b)), a, b)
SAT_CURVES(plain, , sat_v8, sat_m8, 8, SAT_MADD_PLAIN, SAT_MIN8)

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define SAT_FMA 1
SAT_CURVES(fma, __attribute__((target("avx2,fma"))), sat_v8, sat_m8, 8, _mm256_fmadd_ps,
           _mm256_min_ps)
SAT_CURVES(avx512, __attribute__((target("avx512f"))), sat_v16, sat_m16, 16, _mm512_fmadd_ps,
           _mm512_min_ps)
#endif

/* Curve builds: 0 plain, 1 AVX2 + FMA, 2 AVX-512 (the same values as 1). */
static int sat_curve_build(void)
{
#if defined(SAT_FMA)
    if (mg_simd_level() >= MG_SIMD_AVX2)
        return mg_simd_level() >= MG_SIMD_AVX512 ? 2 : 1;
#endif
    return 0;
}

/* [any] The curve stage in the build chosen at prepare: out[i] = (f(in[i] + b[j]) - fb[j])
   kb[j], j = step i (step 0: one setting for all), with f the curve cur; in and out may be the
   same array. */
static void sat_curve(int build, const float *in, float *out, uint32_t n, int cur,
                      const float *b, const float *fb, const float *kb, int step)
{
    switch (build) {
#if defined(SAT_FMA)
    case 2: curve_avx512(in, out, n, cur, b, fb, kb, step); break;
    case 1: curve_fma(in, out, n, cur, b, fb, kb, step); break;
#endif
    default: curve_plain(in, out, n, cur, b, fb, kb, step); break;
    }
}

/* f'(u) in double (libm), for the slope normalisation. */
static double curve_slope(int c, double u)
{
    double t;
    switch (c) {
    case CURVE_SOFT:
        return fabs(u) >= 1.5 ? 0.0 : 1.0 - (4.0 / 9.0) * u * u;
    case CURVE_ASYM:
        t = u >= 0 ? tanh(u) : tanh(2 * u);
        return 1.0 - t * t;
    default:
        t = tanh(u);
        return 1.0 - t * t;
    }
}

/* ---- lifecycle ---- */

/* [control] */
static mg_status sat_create(void *state, mg_node *node)
{
    sat_state *s = state;
    s->factor = 1 << (int)mg_node_opt_num(node, OPT_OVERSAMPLE);
    return MG_OK;
}

/* [control] */
static void sat_free(sat_state *s)
{
    for (int c = 0; c < MG_MAX_CHANNELS; c++) {
        mg_os_chan_free(&s->ch[c].os);
        free(s->ch[c].dry);
        s->ch[c].dry = NULL;
    }
    mg_os_free(&s->os);
    free(s->xs);
    free(s->us);
    free(s->ys);
    free(s->vs);
    free(s->cur);
    free(s->bias);
    free(s->fb);
    free(s->kb);
    free(s->drive);
    free(s->gain);
    free(s->mix);
    s->xs = s->us = s->ys = s->bias = s->fb = s->kb = NULL;
    s->vs = s->drive = s->gain = s->mix = NULL;
    s->cur = NULL;
    s->channels = 0;
}

/* [rt] */
static void sat_reset(void *state)
{
    sat_state *s = state;
    for (int c = 0; c < s->channels; c++) {
        mg_os_chan_reset(&s->ch[c].os, &s->os);
        if (s->ch[c].dry)
            memset(s->ch[c].dry, 0, s->latency * sizeof(float));
        s->ch[c].dc_x = s->ch[c].dc_y = 0;
    }
}

/*
** [control] The filter for the rate: Kaiser beta and length for SAT_STOP_DB over the
** transition fp .. fs - fp (Kaiser's formulas), length a multiple of L (whole-frame latency).
*/
static mg_status sat_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    sat_state *s = state;
    sat_free(s);
    int L = s->factor;
    if (L > 1) {
        double fp = fmin(20000.0, 0.45 * pr->rate), df = (pr->rate - 2 * fp) / (L * pr->rate);
        double beta = 0.1102 * (SAT_STOP_DB - 8.7);
        int n = (int)ceil((SAT_STOP_DB - 7.95) / (14.36 * df)) + 1;
        n = (n + L - 1) / L * L;
        n = n < SAT_MAX_TAPS ? n : SAT_MAX_TAPS;
        double *h = malloc((size_t)n * sizeof *h);
        mg_status st = h ? MG_OK : MG_ERR_NOMEM;
        if (h) {
            mg_kaiser_lowpass(h, n, 0.5 / L, beta);
            st = mg_os_make(&s->os, L, h, n);
            free(h);
        }
        for (int c = 0; c < pr->out_ch[0] && st == MG_OK; c++)
            st = mg_os_chan_init(&s->ch[c].os, &s->os);
        if (st != MG_OK) {
            sat_free(s);
            return mg_node_errorf(node, st, "cannot allocate the oversampling filters");
        }
        s->latency = (uint32_t)s->os.latency;
    } else {
        s->os.factor = 1;
        s->latency = 0;
    }
    s->block = (uint32_t)pr->block;
    s->xs = malloc(s->block * sizeof *s->xs);
    s->us = malloc((size_t)L * s->block * sizeof *s->us);
    s->ys = malloc((size_t)pr->out_ch[0] * s->block * sizeof *s->ys);
    s->vs = malloc((size_t)pr->out_ch[0] * s->block * sizeof *s->vs);
    s->cur = malloc(s->block * sizeof *s->cur);
    s->bias = malloc(s->block * sizeof *s->bias);
    s->fb = malloc(s->block * sizeof *s->fb);
    s->kb = malloc(s->block * sizeof *s->kb);
    s->drive = malloc(s->block * sizeof *s->drive);
    s->gain = malloc(s->block * sizeof *s->gain);
    s->mix = malloc(s->block * sizeof *s->mix);
    int ok = s->xs && s->us && s->ys && s->vs && s->cur && s->bias && s->fb && s->kb &&
             s->drive && s->gain && s->mix;
    for (int c = 0; c < pr->out_ch[0] && ok; c++)
        ok = (s->ch[c].dry = calloc(s->latency + s->block, sizeof(float))) != NULL;
    if (!ok) {
        sat_free(s);
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the saturation buffers");
    }
    s->simd = sat_curve_build();
    s->channels = pr->out_ch[0];
    s->dc_r = exp(-2 * M_PI * SAT_DC_HZ / pr->rate);
    pr->latency = s->latency;
    sat_reset(s);
    return MG_OK;
}

/* [control] */
static void sat_destroy(void *state) { sat_free(state); }

/* ---- processing ---- */

/*
** [rt] Each frame's settings for a block of n frames, or only the first when no parameter
** moves (ramp 0: the stages then read [0] for every frame). f(bias) comes from the same float
** curve as the signal, so silence stays exactly silent; it and 1/f'(bias) are worked out again
** only when the curve or bias changes.
*/
static void sat_settings(sat_state *s, const mg_pval *p, uint32_t n)
{
    s->ramp = !mg_dyn_constant(p, N_PARAMS);
    uint32_t m = s->ramp ? n : 1;
    for (uint32_t i = 0; i < m; i++) {
        int cur = (int)mg_dyn_pv(&p[P_CURVE], i);
        float bias = mg_dyn_pv(&p[P_BIAS], i);
        s->drive[i] = mg_dyn_amp(mg_dyn_pv(&p[P_DRIVE], i));
        s->gain[i] = mg_dyn_amp(mg_dyn_pv(&p[P_GAIN], i));
        s->mix[i] = mg_dyn_pv(&p[P_MIX], i) * 0.01;
        s->cur[i] = cur;
        s->bias[i] = bias;
        if (i > 0 && cur == s->cur[i - 1] && bias == s->bias[i - 1]) {
            s->fb[i] = s->fb[i - 1];
            s->kb[i] = s->kb[i - 1];
            continue;
        }
        const float zero = 0.0f, one = 1.0f;
        sat_curve(s->simd, &zero, &s->fb[i], 1, cur, &bias, &zero, &one, 0);
        s->kb[i] = (float)(1.0 / curve_slope(cur, bias));
    }
}

/* [rt] The curve on a row of n values, value i belonging to frame i (in runs of one curve
   while ramping). */
static void sat_curve_row(sat_state *s, float *u, uint32_t n)
{
    if (!s->ramp) {
        sat_curve(s->simd, u, u, n, s->cur[0], s->bias, s->fb, s->kb, 0);
        return;
    }
    for (uint32_t i0 = 0, i1; i0 < n; i0 = i1) {
        for (i1 = i0 + 1; i1 < n && s->cur[i1] == s->cur[i0]; i1++)
            ;
        sat_curve(s->simd, u + i0, u + i0, i1 - i0, s->cur[i0], s->bias + i0, s->fb + i0,
                  s->kb + i0, 1);
    }
}

/*
** [rt] The wet path of channel c for the block's n frames into ys[c][0..n-1]: drive,
** interpolate, curve on the L n values, decimate. Every stage is block-size independent.
*/
static void sat_wet(sat_state *s, const mg_block *b, int c, uint32_t n)
{
    const float *in = b->in[0].ch[c];
    float *y = s->ys + (size_t)c * s->block, *xs = s->xs, *x = s->ch[c].dry + s->latency;
    for (uint32_t i = 0; i < n; i++) /* NaN or Inf would latch the DC blocker */
        x[i] = isfinite(in[i]) ? in[i] : 0.0f;
    if (s->ramp)
        for (uint32_t i = 0; i < n; i++)
            xs[i] = (float)(x[i] * s->drive[i]);
    else
        for (uint32_t i = 0; i < n; i++)
            xs[i] = (float)(x[i] * s->drive[0]);
    if (s->factor > 1) {
        mg_os_up_block(&s->os, &s->ch[c].os, xs, n, s->us);
        for (int p = 0; p < s->factor; p++)
            sat_curve_row(s, s->us + (size_t)p * n, n);
        mg_os_down_block(&s->os, &s->ch[c].os, s->us, n, y);
    } else {
        sat_curve_row(s, xs, n);
        memcpy(y, xs, n * sizeof *y);
    }
}

/*
** [rt] The DC blocker of channels c0..c0+nch-1 (nch 1 or 2) over n frames: vs = v[n] =
** y[n] - y[n-1] + r v[n-1] (double) from ys. Two channels go through the frame loop together so
** that their recursions overlap; r v[n-1] is carried as (keep ? r v : 0), the same value as
** r (keep ? v : 0), so that the product and the test of v run side by side.
*/
static inline __attribute__((always_inline)) void dc_chans(sat_state *s, int c0, int nch,
                                                           uint32_t n)
{
    double dx[2], dy[2], rdy[2], r = s->dc_r, *vs[2];
    const float *ys[2];
    for (int k = 0; k < nch; k++) {
        dx[k] = s->ch[c0 + k].dc_x;
        dy[k] = s->ch[c0 + k].dc_y;
        rdy[k] = r * dy[k];
        ys[k] = s->ys + (size_t)(c0 + k) * s->block;
        vs[k] = s->vs + (size_t)(c0 + k) * s->block;
    }
    for (uint32_t i = 0; i < n; i++)
        for (int k = 0; k < nch; k++) {
            float y = ys[k][i];
            double v = y - dx[k] + rdy[k];
            int keep = fabs(v) > 1e-30;
            dx[k] = y;
            dy[k] = keep ? v : 0.0;
            rdy[k] = keep ? r * v : 0.0;
            vs[k][i] = v;
        }
    for (int k = 0; k < nch; k++) {
        s->ch[c0 + k].dc_x = dx[k];
        s->ch[c0 + k].dc_y = dy[k];
    }
}

/*
** [rt] Frames i0..i0+n-1 of every channel from ys: the DC blocker, then
** out = dry + mix (gain v - dry) with dry the input delayed by the latency; the dry line then
** moves on by n frames.
*/
static void sat_finish(sat_state *s, const mg_block *b, uint32_t n)
{
    int nc = b->out[0].channels, c = 0;
    for (; c + 1 < nc; c += 2)
        dc_chans(s, c, 2, n);
    if (c < nc)
        dc_chans(s, c, 1, n);
    const double *mix = s->mix, *gain = s->gain;
    for (c = 0; c < nc; c++) {
        float *out = b->out[0].ch[c], *dry = s->ch[c].dry;
        const double *v = s->vs + (size_t)c * s->block;
        if (s->ramp)
            for (uint32_t i = 0; i < n; i++)
                out[i] = (float)(dry[i] + mix[i] * (v[i] * gain[i] - dry[i]));
        else
            for (uint32_t i = 0; i < n; i++)
                out[i] = (float)(dry[i] + mix[0] * (v[i] * gain[0] - dry[i]));
        memmove(dry, dry + n, s->latency * sizeof *dry);
    }
}

/* [rt] Each frame's settings, then the stages over the whole block (ramps included). */
static void sat_process(void *state, const mg_block *b)
{
    sat_state *s = state;
    sat_settings(s, b->p, b->n);
    for (int c = 0; c < b->out[0].channels; c++)
        sat_wet(s, b, c, b->n);
    sat_finish(s, b, b->n);
}

const mg_node_desc mg_node_saturate = {
    .name = "saturate",
    .doc = "Waveshaping saturation, oversampled. u = x 10^(drive/20); y = (f(u + bias) - "
           "f(bias)) / f'(bias) with f = tanh, soft (u - 4u^3/27, clipped at |u| >= 1.5) or "
           "asymmetric (tanh(u) above 0, tanh(2u)/2 below: even harmonics), so silence stays "
           "silent and a quiet signal gains exactly `drive` dB; a 1 Hz DC blocker follows. "
           "The curve runs at 1, 2, 4 or 8 times the rate (option `oversample`, default 4) "
           "between Kaiser-windowed sinc filters (110 dB stopband, passband to 20 kHz), so "
           "harmonics above the Nyquist frequency are removed instead of aliasing. out = dry + "
           "mix (10^(gain/20) y - dry), the dry path delayed to match. Latency: the filters' "
           "delay, a whole number of frames (42 at 48 kHz, 4x).",
    .inputs = sat_in, .n_inputs = 1,
    .outputs = sat_out, .n_outputs = 1,
    .params = sat_params, .n_params = N_PARAMS,
    .options = sat_opts, .n_options = 1,
    .main_param = "drive",
    .state_size = sizeof(sat_state),
    .flags = MG_NODE_INPLACE,
    .create = sat_create,
    .prepare = sat_prepare,
    .reset = sat_reset,
    .process = sat_process,
    .destroy = sat_destroy,
};
