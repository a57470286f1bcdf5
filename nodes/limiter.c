/*
** limiter.c: the `limiter` node, a true-peak lookahead brickwall limiter for mastering.
** [control] create/prepare/destroy, [rt] reset/process, [any] the meters.
**
** Two stages in series, every gain in dB (levels and conversions from mg_dynamics.h):
**
** 1. Main stage. The input (times `gain`) is interpolated 8x by a polyphase windowed-sinc FIR
**    (8 phases of 48 taps, Kaiser beta 8, cutoff at the input Nyquist; mg_oversample.h); the
**    peak of a frame is the largest |value| of its 8 phases and of the two samples around
**    them, refined by a parabola through the largest and its neighbours. The gain
**    reduction wanted there is GR = max(0, L - (ceiling - MARGIN)) with L its level in dB,
**    linked across channels as (1 - link) GR_own + link GR_max. A sliding maximum over the
**    lookahead window holds it, a smoother releases it (instant attack, one-pole release with
**    time constant `release`; `auto_release` adds a slow envelope, see below) and a moving
**    average over `lookahead` frames turns each hold into a ramp that reaches the full
**    reduction before the peak leaves the delay line. Each audio frame therefore gets at
**    least the reduction wanted by every interpolated peak within 12 frames of it.
** 2. Output guard. Gain modulation creates new inter-sample peaks, and the 8x detector is not
**    the meter. So the main stage's output goes through the BS.1770-5 Annex 2 interpolator
**    (mg_loudness_tp_fir, the meter's own filter, all 4 phases, plus the sample itself); a
**    short hold and moving average give every sample under the interpolator of an over-ceiling
**    point the reduction that point needs, so an isolated over is scaled exactly to the ceiling.
**    Overs close together share the largest reduction among them; the output reads at most
**    the ceiling on mg_loudness_true_peak (checked on sines, noise and clicks in
**    tests/nodes/test_limiter.c, TPL-1..7).
**
** Auto release: a slow envelope s follows the held reduction with time constant 10 x release
** both ways, and the stage releases toward max(fast, s): a brief over releases in `release`,
** reduction held for long (dense material) releases slowly, which pumps less.
**
** Latency: round(lookahead * rate / 1000) + LIM_FIXED_LATENCY frames (the 8x interpolator's
** delay and the guard's window), reported to the engine. Below the ceiling every reduction is
** exactly 0 dB and the output is the input (times `gain`) delayed, bit for bit.
**
** How it runs (lim_process): a block is cut into chunks of CHUNK frames, and a chunk goes
** through stages, each a loop over it: per channel the gained input and the 8x detector (an
** FIR over groups of GROUP frames, the frames as vector lanes; groups that cannot reach the
** threshold are skipped, see detect) and the readings and their logarithms (vectorised, only
** on groups with a point near the threshold); the link; per channel the hold (a block-wise
** sliding maximum), release and ramp, the one serial loop; the gains (vectorised dB to gain,
** only over the span of frames with a reduction); then the same for the guard. While the
** reductions are fully linked every channel's hold, release and ramp are in the same state,
** so one of them runs for all. Every frame's arithmetic is the same however the frames are
** cut (block size, chunk, group), so the output never depends on the block size; the kernels
** are chosen once for the CPU (AVX2 + FMA, AVX-512 with the same lanes, or portable C), which
** changes the output by float rounding only.
*/
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_dynamics.h"
#include "mg_loudness.h"
#include "mg_oversample.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define LIM_AVX2 1 /* AVX2 + FMA kernels, chosen at create when the CPU has them */
#endif

#define OS 8           /* main detector oversampling */
#define OS_TAPS 48     /* taps per phase */
#define OS_BETA 8.0    /* Kaiser window */
#define MARGIN_DB 0.02 /* main stage aims this far under the ceiling; the guard does the rest */
#define GUARD_MARGIN_DB 0.001 /* float rounding of the output */
/* Detector k (the frame that completed it) sees the interpolated points between frames
   k - OS_TAPS/2 and the next; the main stage gives frames k - DET_B .. k - DET_A (12 either
   side) the reduction they need. */
#define DET_A (OS_TAPS / 2 - 12)
#define DET_B (OS_TAPS / 2 + 12)
#define GUARD_RAMP 8 /* frames of the guard's moving average */
#define GUARD_SPAN MG_LOUDNESS_TP_TAPS
#define GUARD_DELAY (GUARD_RAMP - 1 + GUARD_SPAN - 1)
#define GUARD_HOLD (GUARD_RAMP + GUARD_SPAN - 1)
#define LIM_FIXED_LATENCY (DET_B - 1 + GUARD_DELAY)

#define CHUNK 64 /* frames per pass of the stages */
#define GROUP 16 /* frames per call of an interpolator kernel (its vector lanes) */
#define XHIST OS_TAPS     /* gained input kept before a chunk: the frame before it needs 48 */
#define XLEN (XHIST + CHUNK + GROUP)
#define YHIST GUARD_DELAY /* main stage output kept before a chunk */
#define YLEN (YHIST + CHUNK + GROUP)
#define PLEN (CHUNK + GROUP) /* the detector's phases of frames -1 .. CHUNK + 14 at f + 1 */
#define VERTEX_BOUND 1.1001  /* the reading's vertex adds at most 0.1 of the largest point */
_Static_assert(OS_TAPS == 3 * GROUP, "detect's loud bits span 3 groups back");

enum { OPT_LOOKAHEAD };
enum { P_CEILING, P_GAIN, P_RELEASE, P_AUTO_RELEASE, P_LINK, N_PARAMS };

/*
** Sliding maximum over the last `w` values (values >= 0; before the first, zeros), in blocks
** of w (van Herk, Gil and Werman): the window ending at position k of the current block is
** positions k+1 .. w-1 of the previous block, whose maxima to the end (suffix) were taken when
** it was complete, and positions 0 .. k of this one, whose running maximum is `pre`.
*/
typedef struct slide_max {
    double *v;   /* the current block's values, [w] */
    double *suf; /* suffix maxima of the previous block, [w] */
    double pre;
    uint32_t w, k;
} slide_max;

/* Moving average of the last `m` values; `nonzero` counts the non-zero ones so that the sum
   is reset to exactly 0 when they are all gone (no rounding residue below the ceiling). */
typedef struct box {
    double *v;
    double sum;
    uint32_t m, pos, nonzero;
} box;

typedef struct chan {
    float xb[XLEN]; /* gained input: XHIST frames before the chunk, then the chunk */
    float yb[YLEN]; /* main stage output: YHIST frames before the chunk, then the chunk */
    float *line;    /* ring of d1 gained inputs: the main stage's delay */
    slide_max hold, ghold;
    box ramp, gramp;
    double fast, slow; /* release envelopes, dB */
    double gr;         /* last total gain reduction, dB (meter) */
    float prev;        /* the detector's phase 6 of the frame before the chunk, if prev_ok */
    int prev_ok;
    uint32_t quiet;    /* the latest frames in a row at or under the quiet level (detect) */
} chan;

/* The detector's interpolator on GROUP frames: ph[p][at + l] = phase p of frame l, x[l] being
   that frame's gained input (x[l - j] for j < OS_TAPS are read). */
typedef void (*fir8_fn)(const float *up, const float *x, float (*ph)[PLEN], int at);
/* The guard's reading of GROUP frames: pk[l] = max(|y[l]|, |phase p|, p < 4) (y[l - j] for
   j < GUARD_SPAN are read). */
typedef void (*fir4_fn)(const float (*g)[4], const float *y, float *pk);

/* Parameter values of the frames of a chunk (thresholds linear, so that most frames need no
   logarithm; cm1, cm2: the levels in dB the two stages aim at). */
typedef struct chunk_par {
    double thr1[CHUNK], thr2[CHUNK], cm1[CHUNK], cm2[CHUNK], ga[CHUNK], link[CHUNK];
    double a_rel[CHUNK], a_slow[CHUNK];
    unsigned char autorel[CHUNK];
    double thr1_min, thr2_min;
    int linked; /* link >= 1 on every frame: every channel's reductions are the same */
    /* the value every entry holds (filled for a constant parameter), per parameter; `held`
       bit P_x set when valid */
    float kv[N_PARAMS];
    unsigned held;
} chunk_par;

/* Element-wise loops over GROUP or CHUNK frames, compiled twice (baseline and AVX2, the same
   operations per lane and no contraction, so the same bits); chosen at create. */
typedef void (*peaks_fn)(const float (*ph)[PLEN], const float *x, int f0, const double *thr,
                         const double *cm, double *r);
typedef void (*levels_fn)(const float *pk, const double *thr, const double *cm, double *r);
typedef void (*amps_fn)(const double *g, double *a, uint32_t n);
typedef void (*gain_fn)(const float *in, float *x, const double *ga, uint32_t n);

/* One set of kernels, chosen at create (lim_create). */
typedef struct lim_kernels {
    fir8_fn fir8;
    fir4_fn fir4;
    peaks_fn peaks;
    levels_fn levels;
    amps_fn amps;
    gain_fn gain;
} lim_kernels;

typedef struct lim_state {
    double lookahead_ms;  /* [immutable] option */
    /* [control] prepare */
    double rate;
    int channels;
    uint32_t la;          /* lookahead frames (the ramp) */
    uint32_t d1;          /* main stage delay */
    mg_os os;             /* [immutable] the 8x detector's interpolator */
    float gfir[GUARD_SPAN][4]; /* [immutable] mg_loudness_tp_fir transposed: [tap][phase] */
    double quiet_k;       /* [immutable] the quiet level over the main threshold (detect) */
    double gquiet_k;      /* [immutable] the same for the guard's interpolator */
    const lim_kernels *k; /* [immutable] kernels for this CPU */
    void *mem;
    chan ch[MG_MAX_CHANNELS];
    /* [rt] */
    uint32_t lpos;        /* position in the channels' delay rings */
    int q_valid;          /* the quiet counts hold for q_ceil and q_gain (both constant) */
    double q_ceil, q_gain;
    /* channel 0's hold, release and ramp stand for every channel's (main stage, guard), which
       are all in the same state: while the reductions are linked (see run_chunk) */
    int shared1, shared2;
    /* [rt] scratch of one chunk */
    chunk_par cp;
    float ph[OS][PLEN];
    float gpk[CHUNK + GROUP];
    double r1[MG_MAX_CHANNELS][CHUNK], g1[MG_MAX_CHANNELS][CHUNK];
    double r2[MG_MAX_CHANNELS][CHUNK], g2[MG_MAX_CHANNELS][CHUNK];
    double amp[MG_MAX_CHANNELS][CHUNK];
    /* meters, written by process at the end of each block */
    _Atomic float meter_gr, meter_gr_max;
} lim_state;

static const mg_port_desc lim_in[] = {{.name = "in", .channels = MG_CH_MAX, .doc = "signal"}};
static const mg_port_desc lim_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "limited signal, same channels as in"}};

static const mg_param_desc lim_params[] = {
    {.name = "ceiling", .unit = "dB", .min = -30, .max = 0, .def = -1, .smooth_ms = 20,
     .doc = "highest true peak of the output, dBTP (BS.1770 4x meter)"},
    {.name = "gain", .unit = "dB", .min = -24, .max = 48, .def = 0, .smooth_ms = 20,
     .doc = "input gain before limiting (drive)"},
    {.name = "release", .unit = "ms", .min = 1, .max = 5000, .def = 50, .smooth_ms = 0,
     .doc = "time constant of the release (gain reduction in dB falls to 36.8 %)"},
    {.name = "auto_release", .unit = "", .min = 0, .max = 1, .def = 0, .smooth_ms = 0,
     .choices = "off|on",
     .doc = "on: program-dependent release, slower (up to 10 x release) after sustained "
            "limiting"},
    {.name = "link", .unit = "%", .min = 0, .max = 100, .def = 100, .smooth_ms = 20,
     .doc = "stereo link: each channel's reduction moves this far toward the largest; 100 = "
            "the same gain on every channel (no image shift)"},
};

static const mg_option_desc lim_opts[] = {
    {.name = "lookahead", .type = MG_OPT_NUMBER, .unit = "ms", .min = 0.5, .max = 50, .def = 2,
     .doc = "attack ramp, round(lookahead * rate / 1000) frames; the latency is that plus "
            "53 frames (the 8x interpolator and the true-peak guard)"},
};

/* ---- small [rt] structures ---- */

/* [rt] A block of w values v[] is complete: its suffix maxima into suf[]. */
static void slide_complete(const double *v, double *suf, uint32_t w)
{
    double m = 0;
    for (uint32_t j = w; j-- > 0;) {
        m = v[j] > m ? v[j] : m;
        suf[j] = m;
    }
}

/* [rt] Push x; returns the maximum of the window ending at it. For loops: on a local copy,
   so that the state stays in registers. */
static inline double slide_push(slide_max *s, double x)
{
    uint32_t k = s->k;
    s->v[k] = x;
    double pre = x > s->pre ? x : s->pre;
    if (k + 1 < s->w) {
        double o = s->suf[k + 1];
        s->pre = pre;
        s->k = k + 1;
        return o > pre ? o : pre;
    }
    slide_complete(s->v, s->suf, s->w); /* the window is this block */
    s->pre = 0;
    s->k = 0;
    return pre;
}

/* [rt] Every value in the next window is 0 (so far). */
static inline int slide_zero(const slide_max *s)
{
    return s->pre == 0.0 && (s->k + 1 >= s->w || s->suf[s->k + 1] == 0.0);
}

/* [rt] Clear (the window holds zeros). */
static void slide_clear(slide_max *s)
{
    memset(s->v, 0, s->w * sizeof *s->v);
    memset(s->suf, 0, s->w * sizeof *s->suf);
    s->pre = 0;
    s->k = 0;
}

/* [rt] Copy o's state into s (the same w). */
static void slide_copy(slide_max *s, const slide_max *o)
{
    memcpy(s->v, o->v, o->w * sizeof *s->v);
    memcpy(s->suf, o->suf, o->w * sizeof *s->suf);
    s->pre = o->pre;
    s->k = o->k;
}

/* [rt] Push v; returns the sum of the last m values (box_means takes the averages). */
static inline double box_sum(box *b, double v)
{
    double old = b->v[b->pos];
    b->nonzero += (v != 0.0) - (old != 0.0);
    b->v[b->pos] = v;
    b->pos = b->pos + 1 == b->m ? 0 : b->pos + 1;
    b->sum = b->nonzero ? b->sum + (v - old) : 0.0;
    return b->sum;
}

/*
** [rt] n pushes of 0 into a hold and a box that hold only zeros (slide_zero, nonzero == 0):
** the outputs are all 0, as slide_push and box_sum would give, and the state ends as theirs
** would, but for values that are never read again.
*/
static void idle_skip(slide_max *s, box *b, uint32_t n)
{
    if (s->k + n < s->w) {
        memset(s->v + s->k, 0, n * sizeof *s->v);
        s->k += n;
    } else { /* a block of zeros completed */
        memset(s->v, 0, s->w * sizeof *s->v);
        memset(s->suf, 0, s->w * sizeof *s->suf);
        s->k = (uint32_t)((s->k + (uint64_t)n) % s->w);
    }
    b->pos = (uint32_t)((b->pos + (uint64_t)n) % b->m);
    b->sum = 0.0;
}

/* [rt] The largest |y[f]|, f < n rounded up to a multiple of 8 (y finite). */
static float top_abs(const float *y, uint32_t n)
{
    float m[8] = {0};
#if defined(__SSE2__)
    const __m128 sign = _mm_set1_ps(-0.0f);
    __m128 a = _mm_setzero_ps(), b = a;
    for (uint32_t f = 0; f < n; f += 8) {
        a = _mm_max_ps(a, _mm_andnot_ps(sign, _mm_loadu_ps(y + f)));
        b = _mm_max_ps(b, _mm_andnot_ps(sign, _mm_loadu_ps(y + f + 4)));
    }
    _mm_storeu_ps(m, _mm_max_ps(a, b));
#else
    for (uint32_t f = 0; f < n; f += 8)
        for (int l = 0; l < 8; l++)
            m[l] = fabsf(y[f + l]) > m[l] ? fabsf(y[f + l]) : m[l];
#endif
    for (int l = 1; l < 8; l++)
        m[0] = m[l] > m[0] ? m[l] : m[0];
    return m[0];
}

/* [rt] The largest of top and the u[f] + v[f], f < n (in 4 lanes). */
static double top_sum(const double *u, const double *v, uint32_t n, double top)
{
    double m[4] = {top, top, top, top};
    uint32_t f = 0;
    for (; f + 4 <= n; f += 4)
        for (int l = 0; l < 4; l++)
            m[l] = u[f + l] + v[f + l] > m[l] ? u[f + l] + v[f + l] : m[l];
    for (; f < n; f++)
        m[0] = u[f] + v[f] > m[0] ? u[f] + v[f] : m[0];
    for (int l = 1; l < 4; l++)
        m[0] = m[l] > m[0] ? m[l] : m[0];
    return m[0];
}

/* ---- interpolator kernels ([rt]; one per CPU, chosen at create) ---- */

/* Portable: every lane sums its products in tap order, multiply then add (GCC vectorises the
   lane loops). */
static void fir8_c(const float *up, const float *x, float (*ph)[PLEN], int at)
{
    for (int p = 0; p < OS; p++) {
        float acc[GROUP] = {0};
        for (int j = 0; j < OS_TAPS; j++) {
            float c = up[j * MG_OS_MAX + p];
            for (int l = 0; l < GROUP; l++)
                acc[l] += c * x[l - j];
        }
        memcpy(ph[p] + at, acc, sizeof acc);
    }
}

/* Portable, as fir8_c. */
static void fir4_c(const float (*g)[4], const float *y, float *pk)
{
    float m[GROUP];
    for (int l = 0; l < GROUP; l++)
        m[l] = fabsf(y[l]);
    for (int p = 0; p < 4; p++) {
        float acc[GROUP] = {0};
        for (int j = 0; j < GUARD_SPAN; j++) {
            float c = g[j][p];
            for (int l = 0; l < GROUP; l++)
                acc[l] += c * y[l - j];
        }
        for (int l = 0; l < GROUP; l++)
            m[l] = fabsf(acc[l]) > m[l] ? fabsf(acc[l]) : m[l];
    }
    memcpy(pk, m, sizeof m);
}

#if defined(LIM_AVX2)
/*
** The same sums with fused multiply-adds, frames as the lanes of two 8-wide vectors: phases
** 0..3 of a polyphase FIR whose tap j weighs x[l - j] by c[j * stride + p], j < taps.
*/
__attribute__((target("avx2,fma"), always_inline)) static inline void
fir_quad_avx2(const float *c, int stride, int taps, const float *x, __m256 acc[4][2])
{
    __m256 a[4][2];
    for (int p = 0; p < 4; p++)
        a[p][0] = a[p][1] = _mm256_setzero_ps();
    for (int j = 0; j < taps; j++) {
        __m256 u = _mm256_loadu_ps(x - j), v = _mm256_loadu_ps(x - j + 8);
        for (int p = 0; p < 4; p++) {
            __m256 k = _mm256_broadcast_ss(c + j * stride + p);
            a[p][0] = _mm256_fmadd_ps(k, u, a[p][0]);
            a[p][1] = _mm256_fmadd_ps(k, v, a[p][1]);
        }
    }
    memcpy(acc, a, sizeof a);
}

__attribute__((target("avx2,fma"))) static void fir8_avx2(const float *up, const float *x,
                                                         float (*ph)[PLEN], int at)
{
    for (int h = 0; h < OS; h += 4) {
        __m256 acc[4][2];
        fir_quad_avx2(up + h, MG_OS_MAX, OS_TAPS, x, acc);
        for (int p = 0; p < 4; p++) {
            _mm256_storeu_ps(ph[h + p] + at, acc[p][0]);
            _mm256_storeu_ps(ph[h + p] + at + 8, acc[p][1]);
        }
    }
}

/* The same with the GROUP frames as one 16-wide vector: the same operations per lane, so the
   same values as fir8_avx2 (only faster). */
__attribute__((target("avx512f"))) static void fir8_avx512(const float *up, const float *x,
                                                          float (*ph)[PLEN], int at)
{
    __m512 a[OS];
    for (int p = 0; p < OS; p++)
        a[p] = _mm512_setzero_ps();
    for (int j = 0; j < OS_TAPS; j++) {
        __m512 u = _mm512_loadu_ps(x - j);
        for (int p = 0; p < OS; p++)
            a[p] = _mm512_fmadd_ps(_mm512_set1_ps(up[j * MG_OS_MAX + p]), u, a[p]);
    }
    for (int p = 0; p < OS; p++)
        _mm512_storeu_ps(ph[p] + at, a[p]);
}

__attribute__((target("avx2,fma"))) static void fir4_avx2(const float (*g)[4], const float *y,
                                                         float *pk)
{
    __m256 acc[4][2];
    fir_quad_avx2(g[0], 4, GUARD_SPAN, y, acc);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int h = 0; h < 2; h++) {
        __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(y + 8 * h));
        for (int p = 0; p < 4; p++)
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, acc[p][h]));
        _mm256_storeu_ps(pk + 8 * h, m);
    }
}
#endif

/*
** The main detector's reading of frames f0 .. f0+GROUP-1 of the chunk and the reduction each
** wants (r[l] for frame f0 + l; dB >= 0). x: the gained input, x[f] frame f. The reading of
** frame f is the peak of the interval between frames f - 24 and f - 23 (OS_TAPS/2 back): the
** 8 interpolated phases (t = f - 24 + (p + 1)/8, ph[p][f + 1]), the frame f - 24 and, at the
** largest of them, the vertex of the parabola through it and its neighbours (the point 1/8
** before the frame is phase 6 of frame f - 1, ph[6][f]). Grid points alone would read a peak
** at 0.4 fs up to 0.1 dB low; the vertex leaves well under 0.01 dB. Branch-free, so that the
** lanes vectorise.
*/
static inline __attribute__((always_inline)) void peaks_body(const float (*ph)[PLEN],
                                                             const float *x, int f0,
                                                             const double *thr,
                                                             const double *cm, double *r)
{
    for (int l = 0; l < GROUP; l++) {
        int f = f0 + l;
        /* the first largest of v[1..8] (t = f - 24 + (k - 1)/8) and its neighbours, written
           out (no inner loop, so that the frames vectorise) */
        float v0 = fabsf(ph[OS - 2][f]), v1 = fabsf(x[f - OS_TAPS / 2]);
        float v2 = fabsf(ph[0][f + 1]), v3 = fabsf(ph[1][f + 1]), v4 = fabsf(ph[2][f + 1]);
        float v5 = fabsf(ph[3][f + 1]), v6 = fabsf(ph[4][f + 1]), v7 = fabsf(ph[5][f + 1]);
        float v8 = fabsf(ph[6][f + 1]), v9 = fabsf(ph[7][f + 1]);
        float best = v1, a = v0, c = v2;
#define LIM_STEP(vl, vk, vr)                                                                   \
    do {                                                                                       \
        int up_ = (vk) > best;                                                                 \
        a = up_ ? (vl) : a;                                                                    \
        c = up_ ? (vr) : c;                                                                    \
        best = up_ ? (vk) : best;                                                              \
    } while (0)
        LIM_STEP(v1, v2, v3);
        LIM_STEP(v2, v3, v4);
        LIM_STEP(v3, v4, v5);
        LIM_STEP(v4, v5, v6);
        LIM_STEP(v5, v6, v7);
        LIM_STEP(v6, v7, v8);
        LIM_STEP(v7, v8, v9);
#undef LIM_STEP
        double peak = best, ad = a, cd = c;
        double curv = ad - 2 * peak + cd;
        double d = (ad - cd) * (ad - cd) / (-8 * curv), lim = 0.1 * peak;
        double add = d < lim ? d : lim; /* the vertex, when the parabola has one */
        peak += (ad <= peak) & (cd <= peak) & (curv < 0) ? add : 0.0; /* no branches */
        double last = fabsf(x[f - OS_TAPS / 2 + 1]);
        double pk = peak > last ? peak : last;
        double gr = mg_dyn_db(pk * pk) - cm[f];
        r[l] = (pk > thr[f]) & (gr > 0.0) ? gr : 0.0;
    }
}

/* The guard's reduction (dB >= 0) for readings pk[0..GROUP-1]. */
static inline __attribute__((always_inline)) void levels_body(const float *pk,
                                                              const double *thr,
                                                              const double *cm, double *r)
{
    for (int l = 0; l < GROUP; l++) {
        double p = pk[l];
        double gr = mg_dyn_db(p * p) - cm[l];
        r[l] = (p > thr[l]) & (gr > 0.0) ? gr : 0.0;
    }
}

/* Linear gains of n reductions in dB (>= 0): mg_dyn_amp(-g), its -144 dB rule applied after
   the conversion (two loops that vectorise; a select before it does not). */
static inline __attribute__((always_inline)) void amps_body(const double *g, double *a,
                                                            uint32_t n)
{
    for (uint32_t f = 0; f < n; f++)
        a[f] = mg_dyn_amp_of(-g[f]);
    for (uint32_t f = 0; f < n; f++)
        a[f] = g[f] < 144.0 ? a[f] : 0.0;
}

/* x[f] = in[f] times the gain ga[f], non-finite values 0. */
static inline __attribute__((always_inline)) void gain_body(const float *restrict in,
                                                            float *restrict x,
                                                            const double *restrict ga,
                                                            uint32_t n)
{
    for (uint32_t f = 0; f < n; f++) {
        float v = (float)(in[f] * ga[f]);
        x[f] = fabsf(v) <= FLT_MAX ? v : 0.0f; /* NaN or Inf would latch the envelopes */
    }
}

static void peaks_base(const float (*ph)[PLEN], const float *x, int f0, const double *thr,
                       const double *cm, double *r)
{
    peaks_body(ph, x, f0, thr, cm, r);
}
static void levels_base(const float *pk, const double *thr, const double *cm, double *r)
{
    levels_body(pk, thr, cm, r);
}
static void amps_base(const double *g, double *a, uint32_t n) { amps_body(g, a, n); }
static void gain_base(const float *in, float *x, const double *ga, uint32_t n)
{
    gain_body(in, x, ga, n);
}
static const lim_kernels kernels_base = {fir8_c, fir4_c, peaks_base, levels_base, amps_base,
                                         gain_base};
#if defined(LIM_AVX2)
__attribute__((target("avx2"))) static void peaks_avx2(const float (*ph)[PLEN], const float *x,
                                                      int f0, const double *thr,
                                                      const double *cm, double *r)
{
    peaks_body(ph, x, f0, thr, cm, r);
}
__attribute__((target("avx2"))) static void levels_avx2(const float *pk, const double *thr,
                                                       const double *cm, double *r)
{
    levels_body(pk, thr, cm, r);
}
__attribute__((target("avx2"))) static void amps_avx2(const double *g, double *a, uint32_t n)
{
    amps_body(g, a, n);
}
__attribute__((target("avx2"))) static void gain_avx2(const float *in, float *x,
                                                     const double *ga, uint32_t n)
{
    gain_body(in, x, ga, n);
}
static const lim_kernels kernels_avx2 = {fir8_avx2, fir4_avx2, peaks_avx2, levels_avx2,
                                         amps_avx2, gain_avx2};
static const lim_kernels kernels_avx512 = {fir8_avx512, fir4_avx2, peaks_avx2, levels_avx2,
                                           amps_avx2, gain_avx2};
#endif

/* ---- lifecycle ---- */

/* [control] The 8x interpolator: a Kaiser-windowed sinc at the input Nyquist, odd length so
   that phase 7 lands on the frames themselves. */
static mg_status design_os(lim_state *s)
{
    double h[OS * OS_TAPS - 1];
    mg_kaiser_lowpass(h, OS * OS_TAPS - 1, 0.5 / OS, OS_BETA);
    return mg_os_make(&s->os, OS, h, OS * OS_TAPS - 1);
}

/* [control] */
static mg_status lim_create(void *state, mg_node *node)
{
    lim_state *s = state;
    s->lookahead_ms = mg_node_opt_num(node, OPT_LOOKAHEAD);
    double gb = 1.0;
    for (int p = 0; p < 4; p++) {
        double sum = 0;
        for (int j = 0; j < GUARD_SPAN; j++) {
            s->gfir[j][p] = (float)mg_loudness_tp_fir[p][j];
            sum += fabs(s->gfir[j][p]);
        }
        gb = sum > gb ? sum : gb;
    }
    if (design_os(s) != MG_OK)
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the true-peak detector");
    /* a reading (peaks_body) is at most max(1.1 v, |frame|), v the largest interpolated
       value, and v <= B max|x| over the history (B = mg_os_up_norm), B >= 1 being the frame's
       own bound; 0.1 % more covers the float sums' rounding (under 48 x 2^-24 relative). The
       guard reads at most max(Bg, 1) max|y| over its window in the same way. */
    double bnd = mg_os_up_norm(&s->os);
    s->quiet_k = 1.0 / (1.1 * (bnd > 1.0 ? bnd : 1.0) * 1.001);
    s->gquiet_k = 1.0 / (gb * 1.001);
    s->k = &kernels_base;
#if defined(LIM_AVX2)
    if (mg_simd_level() >= MG_SIMD_AVX2)
        s->k = mg_simd_level() >= MG_SIMD_AVX512 ? &kernels_avx512 : &kernels_avx2;
#endif
    return MG_OK;
}

/* [rt] */
static void lim_reset(void *state)
{
    lim_state *s = state;
    for (int c = 0; c < s->channels; c++) {
        chan *h = &s->ch[c];
        memset(h->xb, 0, sizeof h->xb);
        memset(h->yb, 0, sizeof h->yb);
        memset(h->line, 0, s->d1 * sizeof *h->line);
        slide_clear(&h->hold);
        slide_clear(&h->ghold);
        box *bx[2] = {&h->ramp, &h->gramp};
        for (int k = 0; k < 2; k++) {
            memset(bx[k]->v, 0, bx[k]->m * sizeof(double));
            bx[k]->sum = 0;
            bx[k]->pos = bx[k]->nonzero = 0;
        }
        h->fast = h->slow = h->gr = 0;
        h->prev = 0; /* phase 6 of silence */
        h->prev_ok = 1;
        h->quiet = OS_TAPS; /* the history is silence */
    }
    s->lpos = 0;
    s->q_valid = 0;
    s->cp.held = 0;
    s->shared1 = s->shared2 = 1;
    atomic_store_explicit(&s->meter_gr, 0.0f, memory_order_relaxed);
    atomic_store_explicit(&s->meter_gr_max, 0.0f, memory_order_relaxed);
}

/* [control] Release what prepare allocated. */
static void lim_free_buffers(lim_state *s)
{
    free(s->mem);
    s->mem = NULL;
    s->channels = 0;
}

/* [control] Carve every channel's buffers out of one allocation. */
static mg_status lim_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    lim_state *s = state;
    int nc = pr->out_ch[0];
    uint32_t la = (uint32_t)floor(s->lookahead_ms * 0.001 * pr->rate + 0.5);
    la = la ? la : 1;
    uint32_t d1 = la - 1 + DET_B, w1 = la + DET_B - DET_A;
    size_t doubles = 2 * (size_t)(w1 + GUARD_HOLD) + la + GUARD_RAMP;
    size_t per = doubles * sizeof(double) + (size_t)d1 * sizeof(float);
    char *mem = calloc((size_t)nc, per);
    if (!mem)
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the lookahead buffers");
    lim_free_buffers(s);
    s->mem = mem;
    for (int c = 0; c < nc; c++) {
        chan *h = &s->ch[c];
        double *d = (double *)(mem + (size_t)c * per);
        h->hold = (slide_max){.v = d, .suf = d + w1, .w = w1};
        d += 2 * (size_t)w1;
        h->ghold = (slide_max){.v = d, .suf = d + GUARD_HOLD, .w = GUARD_HOLD};
        d += 2 * (size_t)GUARD_HOLD;
        h->ramp = (box){.v = d, .m = la};
        d += la;
        h->gramp = (box){.v = d, .m = GUARD_RAMP};
        d += GUARD_RAMP;
        h->line = (float *)d;
    }
    s->channels = nc;
    s->rate = pr->rate;
    s->la = la;
    s->d1 = d1;
    pr->latency = (int64_t)la + LIM_FIXED_LATENCY; /* = d1 + GUARD_DELAY */
    lim_reset(s);
    return MG_OK;
}

/* [control] */
static void lim_destroy(void *state)
{
    lim_state *s = state;
    lim_free_buffers(s);
    mg_os_free(&s->os);
}

/* ---- processing ---- */

/* [rt] Parameter k is constant in the block and the chunk's entries were filled with its
   value already (otherwise marks them as filled now when it is constant). */
static int par_kept(chunk_par *q, const mg_pval *p, int k)
{
    unsigned bit = 1u << k;
    if (!p[k].constant) {
        q->held &= ~bit;
        return 0;
    }
    if ((q->held & bit) && q->kv[k] == p[k].v[0])
        return 1;
    q->held |= bit;
    q->kv[k] = p[k].v[0];
    return 0;
}

/* [rt] The parameters of frames i0 .. i0+n-1: a constant one is converted once and fills the
   whole chunk (kept for the chunks after while it holds). */
static void chunk_params(chunk_par *q, const mg_block *b, uint32_t i0, uint32_t n)
{
    const mg_pval *p = b->p;
    if (!par_kept(q, p, P_CEILING)) {
        uint32_t m = p[P_CEILING].constant ? 1 : n;
        for (uint32_t f = 0; f < m; f++) {
            double ceil = mg_dyn_pv(&p[P_CEILING], i0 + f);
            q->thr1[f] = mg_dyn_amp(ceil - MARGIN_DB);
            q->thr2[f] = mg_dyn_amp(ceil - GUARD_MARGIN_DB);
            q->cm1[f] = ceil - MARGIN_DB;
            q->cm2[f] = ceil - GUARD_MARGIN_DB;
        }
        for (uint32_t f = m; f < CHUNK; f++) {
            q->thr1[f] = q->thr1[0];
            q->thr2[f] = q->thr2[0];
            q->cm1[f] = q->cm1[0];
            q->cm2[f] = q->cm2[0];
        }
        q->thr1_min = q->thr1[0];
        q->thr2_min = q->thr2[0];
        for (uint32_t f = 1; f < m; f++) {
            q->thr1_min = q->thr1[f] < q->thr1_min ? q->thr1[f] : q->thr1_min;
            q->thr2_min = q->thr2[f] < q->thr2_min ? q->thr2[f] : q->thr2_min;
        }
    }
    if (!par_kept(q, p, P_GAIN)) {
        uint32_t m = p[P_GAIN].constant ? 1 : n;
        for (uint32_t f = 0; f < m; f++)
            q->ga[f] = mg_dyn_amp(mg_dyn_pv(&p[P_GAIN], i0 + f));
        for (uint32_t f = m; f < CHUNK; f++)
            q->ga[f] = q->ga[0];
    }
    if (!par_kept(q, p, P_RELEASE)) {
        uint32_t m = p[P_RELEASE].constant ? 1 : n;
        for (uint32_t f = 0; f < m; f++) {
            q->a_rel[f] = mg_dyn_coef(mg_dyn_pv(&p[P_RELEASE], i0 + f), b->rate);
            q->a_slow[f] = mg_dyn_coef(10.0 * mg_dyn_pv(&p[P_RELEASE], i0 + f), b->rate);
        }
        for (uint32_t f = m; f < CHUNK; f++) {
            q->a_rel[f] = q->a_rel[0];
            q->a_slow[f] = q->a_slow[0];
        }
    }
    if (!par_kept(q, p, P_LINK)) {
        q->linked = 1;
        for (uint32_t f = 0; f < (p[P_LINK].constant ? CHUNK : n); f++) {
            q->link[f] = mg_dyn_pv(&p[P_LINK], i0 + f) * 0.01;
            q->linked &= q->link[f] >= 1.0;
        }
    }
    if (!par_kept(q, p, P_AUTO_RELEASE))
        for (uint32_t f = 0; f < (p[P_AUTO_RELEASE].constant ? CHUNK : n); f++)
            q->autorel[f] = mg_dyn_pv(&p[P_AUTO_RELEASE], i0 + f) >= 0.5;
}

/* [rt] Bit l set when |x[l]| > ql, l < GROUP. */
static uint32_t loud_bits(const float *x, float ql)
{
#if defined(__SSE2__)
    const __m128 sign = _mm_set1_ps(-0.0f), lv = _mm_set1_ps(ql);
    uint32_t b = 0;
    for (int l = 0; l < GROUP; l += 4)
        b |= (uint32_t)_mm_movemask_ps(_mm_cmpgt_ps(_mm_andnot_ps(sign, _mm_loadu_ps(x + l)), lv))
             << l;
    return b;
#else
    uint32_t b = 0;
    for (int l = 0; l < GROUP; l++)
        b |= (uint32_t)(fabsf(x[l]) > ql) << l;
    return b;
#endif
}

/* [rt] The largest point frames f0 .. f0+GROUP-1 read from but phase 7 (at least): |x| of
   frames f0 - 24 .. f0 - 5 and phases 0 .. 6. */
static float group_top(const float (*ph)[PLEN], const float *x, uint32_t f0)
{
#if defined(__SSE2__)
    const __m128 sign = _mm_set1_ps(-0.0f);
    __m128 a = _mm_setzero_ps(), b = a;
    for (int l = 0; l < GROUP + 4; l += 4)
        a = _mm_max_ps(a, _mm_andnot_ps(sign, _mm_loadu_ps(x + f0 - OS_TAPS / 2 + l)));
    for (int p = 0; p < OS - 1; p++)
        for (int l = 0; l < GROUP; l += 4)
            b = _mm_max_ps(b, _mm_andnot_ps(sign, _mm_loadu_ps(ph[p] + f0 + 1 + l)));
    a = _mm_max_ps(a, b);
    a = _mm_max_ps(a, _mm_shuffle_ps(a, a, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm_max_ps(a, _mm_shuffle_ps(a, a, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtss_f32(a);
#else
    float top = top_abs(x + f0 - OS_TAPS / 2, GROUP + 4);
    for (int p = 0; p < OS - 1; p++) {
        float t = top_abs(ph[p] + f0 + 1, GROUP);
        top = t > top ? t : top;
    }
    return top;
#endif
}

/*
** [rt] Main stage, detect, one channel: the gained input of the chunk into h->xb and the
** reduction each frame wants into r (dB >= 0). Returns 1 when one of them is not 0.
**
** Quiet frames skip the 8x interpolation, with the same result: when every frame in the
** detector's history is at or under quiet_k x the main threshold (a linear bound on what the
** reading can be, see lim_create), it cannot exceed the threshold and the reduction wanted is
** exactly 0. The interpolator runs on groups of GROUP frames holding a frame that is not quiet
** or followed by one (whose parabola needs this group's phase 6), and only while the gain and
** the ceiling hold still (the counts start over after they move).
*/
static int detect(lim_state *s, chan *h, const float *in, uint32_t n, int konst, double *r)
{
    const chunk_par *q = &s->cp;
    float *x = h->xb + XHIST;
    s->k->gain(in, x, q->ga, n);
    /* frame f needs the interpolator when a frame over the quiet level is among the last
       OS_TAPS (= 3 GROUP): want[k] for group k if one of its frames or the next group's first
       does, i.e. one of frames 16k - 47 .. 16k + 16 is loud (bit l of loud[k]: frame 16k + l) */
    unsigned char want[CHUNK / GROUP];
    uint32_t groups = (n + GROUP - 1) / GROUP, quiet = h->quiet;
    int need0 = 1;
    if (konst) {
        float ql = (float)(q->thr1[0] * s->quiet_k); /* the largest float <= the level */
        if ((double)ql > q->thr1[0] * s->quiet_k)
            ql = nextafterf(ql, 0.0f);
        uint32_t loud[CHUNK / GROUP];
        for (uint32_t k = 0; k < groups; k++) {
            uint32_t m = n - k * GROUP < GROUP ? n - k * GROUP : GROUP;
            loud[k] = loud_bits(x + k * GROUP, ql) & (uint32_t)((1ull << m) - 1);
        }
        for (uint32_t k = 0; k < groups; k++) {
            uint32_t w = quiet + k * GROUP + 1 < OS_TAPS; /* a loud frame before the chunk */
            w |= loud[k] | (k >= 1 ? loud[k - 1] : 0) | (k >= 2 ? loud[k - 2] : 0);
            w |= (k >= 3 ? loud[k - 3] >> 1 : 0) | (k + 1 < groups ? loud[k + 1] & 1 : 0);
            want[k] = w != 0;
        }
        need0 = (loud[0] & 1) || quiet + 1 < OS_TAPS;
        uint32_t k = groups;
        while (k > 0 && !loud[k - 1])
            k--;
        /* frames since the last loud one */
        quiet = k ? n - (k - 1) * GROUP - (32 - (uint32_t)__builtin_clz(loud[k - 1])) : quiet + n;
        h->quiet = quiet < OS_TAPS ? quiet : OS_TAPS;
    } else {
        memset(want, 1, groups);
        h->quiet = 0;
    }
    int any = 0;
    for (uint32_t k = 0; k < groups; k++) {
        if (want[k])
            s->k->fir8(s->os.up, x + k * GROUP, s->ph, (int)(k * GROUP) + 1);
        any |= want[k];
    }
    if (need0) { /* phase 6 of the frame before the chunk */
        if (h->prev_ok)
            s->ph[OS - 2][0] = h->prev;
        else /* its group was skipped: compute it (same lanes, so the value it would have had) */
            s->k->fir8(s->os.up, x - 1, s->ph, 0);
    }
    h->prev_ok = want[groups - 1];
    if (h->prev_ok)
        h->prev = s->ph[OS - 2][n];
    /*
    ** The readings of every frame of the groups interpolated. Frames that did not need it
    ** (all under the quiet level) read under the threshold: exactly 0. That holds even for
    ** the first frame of a group whose phase 6 of the frame before is stale (the group before
    ** was skipped): it is only a neighbour of the largest point, and the vertex adds at most
    ** 0.1 of that.
    */
    int nz = 0;
    for (uint32_t k = 0; k < groups; k++) {
        uint32_t f0 = k * GROUP, m = n - f0 < GROUP ? n - f0 : GROUP;
        /* skipped, or every point the readings start from (phase 7 is no candidate) under
           the threshold by the vertex bound: all 0 */
        if (!want[k] || (double)group_top((const float(*)[PLEN])s->ph, x, f0) * VERTEX_BOUND <= q->thr1_min) {
            for (uint32_t l = 0; l < m; l++)
                r[f0 + l] = 0.0;
            continue;
        }
        double rg[GROUP];
        s->k->peaks((const float(*)[PLEN])s->ph, x, (int)f0, q->thr1, q->cm1, rg);
        uint64_t bits = 0;
        for (uint32_t l = 0; l < m; l++) {
            uint64_t u;
            memcpy(&u, &rg[l], sizeof u);
            bits |= u; /* the reductions are +0 or > 0 */
            r[f0 + l] = rg[l];
        }
        nz |= bits != 0;
    }
    return nz;
}

/*
** [rt] Linked reductions, frame by frame: r[c] = (1 - link) r[c] + link max(r). When every
** frame is fully linked (linked) and only row 0 is read (rows == 1), that row only.
*/
static void link_rows(double (*r)[CHUNK], int nc, uint32_t n, const double *link, int linked,
                      int rows)
{
    if (linked && rows == 1) {
        for (int c = 1; c < nc; c++) /* vectorised */
            for (uint32_t f = 0; f < n; f++)
                r[0][f] = r[c][f] > r[0][f] ? r[c][f] : r[0][f];
        return;
    }
    for (uint32_t f = 0; f < n; f++) {
        double mx = 0;
        for (int c = 0; c < nc; c++)
            mx = r[c][f] > mx ? r[c][f] : mx;
        double l = link[f];
        if (l >= 1.0) {
            for (int c = 0; c < nc; c++)
                r[c][f] = mx;
        } else {
            for (int c = 0; c < nc; c++)
                r[c][f] = (1.0 - l) * r[c][f] + l * mx;
        }
    }
}

/* [rt] g[f] = max(g[f] / m, 0): a box's averages from its sums (vectorised). Returns 1 when
   one is not 0. */
static int box_means(double *g, uint32_t n, uint32_t m)
{
    uint64_t any = 0;
    for (uint32_t f = 0; f < n; f++) {
        double a = g[f] / m;
        g[f] = a > 0.0 ? a : 0.0;
        uint64_t u;
        memcpy(&u, &g[f], sizeof u);
        any |= u; /* +0 has no bit set */
    }
    return any != 0;
}

/*
** [rt] Main stage, one channel: hold, release (fast and, with auto_release, slow envelope),
** ramp: g[f] the reduction (dB) applied to frame f's delayed input. rows_zero: r is all 0.
** Returns 1 when one of g is not 0. Serial, in one loop so that the three recursions overlap;
** the state lives in locals through it, the ramp's divisions wait for the end, and the
** release is mg_dyn_smooth's arithmetic written without branches (reductions come and go at
** every peak).
*/
static int main_gains(const chunk_par *q, chan *h, const double *r, int rows_zero, double *g,
                      uint32_t n)
{
    if (rows_zero && slide_zero(&h->hold) && h->fast == 0.0 && h->slow == 0.0 &&
        !h->ramp.nonzero) {
        idle_skip(&h->hold, &h->ramp, n);
        memset(g, 0, n * sizeof *g);
        return 0;
    }
    slide_max hold = h->hold;
    box ramp = h->ramp;
    double fast = h->fast, slow = h->slow;
    for (uint32_t f = 0; f < n; f++) {
        double held = slide_push(&hold, r[f]);
        double left = (held > fast ? 0.0 : q->a_rel[f]) * (fast - held); /* attack: at once */
        fast = fabs(left) < 1e-9 ? held : held + left;
        double rel = fast;
        if (q->autorel[f]) {
            left = q->a_slow[f] * (slow - held);
            slow = fabs(left) < 1e-9 ? held : held + left;
            rel = slow > fast ? slow : fast;
        } else {
            slow = 0;
        }
        g[f] = box_sum(&ramp, rel);
    }
    h->hold = hold;
    h->ramp = ramp;
    h->fast = fast;
    h->slow = slow;
    return box_means(g, n, ramp.m);
}

/* [rt] Guard, one channel: hold and ramp. */
static int guard_gains(chan *h, const double *r, int rows_zero, double *g, uint32_t n)
{
    if (rows_zero && slide_zero(&h->ghold) && !h->gramp.nonzero) {
        idle_skip(&h->ghold, &h->gramp, n);
        memset(g, 0, n * sizeof *g);
        return 0;
    }
    slide_max hold = h->ghold;
    box ramp = h->gramp;
    for (uint32_t f = 0; f < n; f++)
        g[f] = box_sum(&ramp, slide_push(&hold, r[f]));
    h->ghold = hold;
    h->gramp = ramp;
    return box_means(g, n, ramp.m);
}

/* [rt] out[f] = y[f] times amp[f] (vectorised; out may be y). A reduction of 0 dB has a gain
   of exactly 1 (mg_dyn_amp_of), so those frames pass unchanged. */
static void apply_gains(const double *amp, const float *y, float *out, uint32_t n)
{
    for (uint32_t f = 0; f < n; f++)
        out[f] = (float)(y[f] * amp[f]);
}

/*
** [rt] Guard, detect, one channel: the reduction each frame of the main stage's output (in
** h->yb) wants. When the chunk's window of output stays under gquiet_k x the threshold (a
** linear bound on the Annex 2 reading, see lim_create), every one is exactly 0 and the
** interpolator is skipped; so is the logarithm of groups whose readings are all under it.
*/
static int guard_detect(lim_state *s, chan *h, uint32_t n, double *r)
{
    const chunk_par *q = &s->cp;
    const float *y = h->yb + YHIST;
    if (top_abs(y + 1 - GUARD_SPAN, n + GUARD_SPAN - 1) <= q->thr2_min * s->gquiet_k) {
        memset(r, 0, n * sizeof *r);
        return 0;
    }
    int nz = 0;
    for (uint32_t f0 = 0; f0 < n; f0 += GROUP) {
        uint32_t m = n - f0 < GROUP ? n - f0 : GROUP;
        float *pk = s->gpk + f0;
        s->k->fir4((const float(*)[4])s->gfir, y + f0, pk);
        if (top_abs(pk, GROUP) <= q->thr2_min) {
            memset(r + f0, 0, m * sizeof *r);
            continue;
        }
        double rg[GROUP];
        s->k->levels(pk, q->thr2 + f0, q->cm2 + f0, rg);
        for (uint32_t l = 0; l < m; l++) {
            r[f0 + l] = rg[l];
            nz |= rg[l] > 0.0;
        }
    }
    return nz;
}

/* [rt] Frames of the chunk in, their d1-frames-old values out, through a channel's ring. */
static void delay_line(float *line, uint32_t len, uint32_t pos, const float *x, float *y,
                       uint32_t n)
{
    for (uint32_t i = 0; i < n;) {
        uint32_t run = n - i < len - pos ? n - i : len - pos;
        memcpy(y + i, line + pos, run * sizeof *y);
        memcpy(line + pos, x + i, run * sizeof *line);
        i += run;
        pos = pos + run == len ? 0 : pos + run;
    }
}

/* Frames lo .. hi-1 of a chunk hold every non-zero reduction of a row (none: lo == hi). */
typedef struct span {
    uint32_t lo, hi;
} span;

/* [rt] The span of g[0..n-1] (any: one of them is not 0). */
static span nonzero_span(const double *g, uint32_t n, int any)
{
    span z = {0, 0};
    if (!any)
        return z;
    while (g[z.lo] == 0.0)
        z.lo++;
    z.hi = n;
    while (g[z.hi - 1] == 0.0)
        z.hi--;
    return z;
}

/* [rt] Channel 0's hold/release/ramp (main stage when main, else the guard's) into the
   others: the channels part ways. */
static void unshare(lim_state *s, int nc, int main)
{
    chan *h0 = &s->ch[0];
    for (int c = 1; c < nc; c++) {
        chan *h = &s->ch[c];
        slide_max *d = main ? &h->hold : &h->ghold, *o = main ? &h0->hold : &h0->ghold;
        box *db = main ? &h->ramp : &h->gramp, *ob = main ? &h0->ramp : &h0->gramp;
        slide_copy(d, o);
        memcpy(db->v, ob->v, ob->m * sizeof *db->v);
        db->sum = ob->sum;
        db->pos = ob->pos;
        db->nonzero = ob->nonzero;
        if (main) {
            h->fast = h0->fast;
            h->slow = h0->slow;
        }
    }
}

/* [rt] Every channel's hold/release/ramp holds only zeros (so they are all alike). */
static int all_idle(const lim_state *s, int nc, int main)
{
    for (int c = 0; c < nc; c++) {
        const chan *h = &s->ch[c];
        if (main ? !slide_zero(&h->hold) || h->ramp.nonzero || h->fast != 0.0 || h->slow != 0.0
                 : !slide_zero(&h->ghold) || h->gramp.nonzero)
            return 0;
    }
    return 1;
}

/*
** [rt] One stage's link, hold/release/ramp and dB to gain (main: the main stage, else the
** guard) from its reductions r (any: one of them is not 0), into the rows rg: g[c] and amp[c]
** point at channel c's reductions (dB) and gains, z[c] spans its non-zero ones. With the
** reductions the same on every channel (fully linked) and the channels' states alike, channel
** 0 works for all; when they part ways, its state is copied to the others first.
*/
static void stage_gains(lim_state *s, int nc, uint32_t n, int main, int any,
                        double (*r)[CHUNK], double (*rg)[CHUNK], const double **g,
                        const double **amp, span *z)
{
    const chunk_par *q = &s->cp;
    int *shared = main ? &s->shared1 : &s->shared2;
    int same = nc == 1 || q->linked || !any; /* every channel's row of r is the same */
    if (*shared && !same) {
        unshare(s, nc, main);
        *shared = 0;
    }
    if (any && nc > 1)
        link_rows(r, nc, n, q->link, q->linked, *shared ? 1 : nc);
    for (int c = 0; c < nc; c++) {
        int k = *shared ? 0 : c;
        if (c == k) {
            chan *h = &s->ch[c];
            int nz = main ? main_gains(q, h, r[c], !any, rg[c], n)
                          : guard_gains(h, r[c], !any, rg[c], n);
            z[c] = nonzero_span(rg[c], n, nz);
            s->k->amps(rg[c] + z[c].lo, s->amp[c] + z[c].lo, z[c].hi - z[c].lo);
        } else {
            z[c] = z[k];
        }
        g[c] = rg[k];
        amp[c] = s->amp[k];
    }
    if (!*shared && same && all_idle(s, nc, main))
        *shared = 1;
}

/*
** [rt] Frames i0 .. i0+n-1 (n <= CHUNK) of the block through every stage, each a loop over
** the chunk: main detector (per channel), link, hold/release/ramp (per channel, serial), gain;
** guard detector, link, hold/ramp, gain. With every channel's reductions linked (or alone),
** one hold/release/ramp and one row of gains serve every channel while their states are the
** same (shared1, shared2). Returns the largest total reduction seen.
*/
static double run_chunk(lim_state *s, const mg_block *b, uint32_t i0, uint32_t n, int konst,
                        double gmax)
{
    int nc = b->out[0].channels;
    int any1 = 0, any2 = 0;
    span z1[MG_MAX_CHANNELS], z2[MG_MAX_CHANNELS];
    const double *g1[MG_MAX_CHANNELS], *g2[MG_MAX_CHANNELS];
    const double *a1[MG_MAX_CHANNELS], *a2[MG_MAX_CHANNELS];
    for (int c = 0; c < nc; c++)
        any1 |= detect(s, &s->ch[c], b->in[0].ch[c] + i0, n, konst, s->r1[c]);
    stage_gains(s, nc, n, 1, any1, s->r1, s->g1, g1, a1, z1);
    for (int c = 0; c < nc; c++) {
        chan *h = &s->ch[c];
        float *y = h->yb + YHIST;
        uint32_t lo = z1[c].lo;
        delay_line(h->line, s->d1, s->lpos, h->xb + XHIST, y, n);
        apply_gains(a1[c] + lo, y + lo, y + lo, z1[c].hi - lo);
        any2 |= guard_detect(s, h, n, s->r2[c]);
    }
    s->lpos = (uint32_t)((s->lpos + n) % s->d1);
    stage_gains(s, nc, n, 0, any2, s->r2, s->g2, g2, a2, z2);
    for (int c = 0; c < nc; c++) {
        chan *h = &s->ch[c];
        float *out = b->out[0].ch[c] + i0;
        uint32_t lo = z2[c].lo;
        memcpy(out, h->yb, n * sizeof *out);
        apply_gains(a2[c] + lo, h->yb + lo, out + lo, z2[c].hi - lo);
        /* the meters (channels sharing both rows have the same reductions) */
        lo = z1[c].lo < z2[c].lo ? z1[c].lo : z2[c].lo;
        uint32_t hi = z1[c].hi > z2[c].hi ? z1[c].hi : z2[c].hi;
        if (hi > lo && (c == 0 || g1[c] != g1[0] || g2[c] != g2[0]))
            gmax = top_sum(g1[c] + lo, g2[c] + lo, hi - lo, gmax);
        h->gr = g1[c][n - 1] + g2[c][n - 1];
        memmove(h->xb, h->xb + n, XHIST * sizeof *h->xb);
        memmove(h->yb, h->yb + n, YHIST * sizeof *h->yb);
    }
    return gmax;
}

/* [rt] The block in chunks (the result does not depend on how the frames are cut). */
static void lim_process(void *state, const mg_block *b)
{
    lim_state *s = state;
    const mg_pval *p = b->p;
    int nc = b->out[0].channels;
    double gmax = atomic_load_explicit(&s->meter_gr_max, memory_order_relaxed);
    /* quiet counts were taken against the previous block's threshold: start them over when
       that may have changed */
    int konst = p[P_GAIN].constant && p[P_CEILING].constant;
    if (!konst || !s->q_valid || p[P_CEILING].v[0] != s->q_ceil || p[P_GAIN].v[0] != s->q_gain)
        for (int c = 0; c < nc; c++)
            s->ch[c].quiet = 0;
    s->q_valid = konst;
    s->q_ceil = p[P_CEILING].v[0];
    s->q_gain = p[P_GAIN].v[0];
    for (uint32_t i0 = 0; i0 < b->n; i0 += CHUNK) {
        uint32_t n = b->n - i0 < CHUNK ? b->n - i0 : CHUNK;
        chunk_params(&s->cp, b, i0, n);
        gmax = run_chunk(s, b, i0, n, konst, gmax);
    }
    double gr = 0;
    for (int c = 0; c < nc; c++)
        gr = s->ch[c].gr > gr ? s->ch[c].gr : gr;
    atomic_store_explicit(&s->meter_gr, (float)gr, memory_order_relaxed);
    atomic_store_explicit(&s->meter_gr_max, (float)gmax, memory_order_relaxed);
}

/* [any] */
static double lim_meter(const void *state, const char *name)
{
    lim_state *s = (lim_state *)state; /* atomic loads only */
    if (strcmp(name, "gr") == 0)
        return atomic_load_explicit(&s->meter_gr, memory_order_relaxed);
    if (strcmp(name, "gr_max") == 0)
        return atomic_load_explicit(&s->meter_gr_max, memory_order_relaxed);
    return NAN;
}

const mg_node_desc mg_node_limiter = {
    .name = "limiter",
    .doc = "True-peak lookahead limiter: the output never reads above `ceiling` dBTP on a "
           "BS.1770-5 4x true-peak meter. The input (times `gain`) is interpolated 8x to find "
           "inter-sample peaks; the gain reduction they need is linked across channels, held, "
           "released with time constant `release` (in dB: 36.8 % left after `release` ms; "
           "`auto_release` slows it after sustained limiting) and ramped in over the lookahead, "
           "so the gain is down before the peak arrives. A final guard reads the result through "
           "the BS.1770 Annex 2 interpolator and scales any remaining over to the ceiling. "
           "Below the ceiling the output is the input delayed, unchanged. Latency: "
           "round(lookahead * rate / 1000) + 53 frames. Meters: gr (current gain reduction, "
           "dB, largest channel), gr_max (largest since the start).",
    .inputs = lim_in, .n_inputs = 1,
    .outputs = lim_out, .n_outputs = 1,
    .params = lim_params, .n_params = N_PARAMS,
    .options = lim_opts, .n_options = 1,
    .main_param = "ceiling",
    .state_size = sizeof(lim_state),
    .flags = MG_NODE_INPLACE,
    .create = lim_create,
    .prepare = lim_prepare,
    .reset = lim_reset,
    .process = lim_process,
    .meter = lim_meter,
    .meters = "gr|gr_max",
    .destroy = lim_destroy,
};
