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
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_dynamics.h"
#include "mg_loudness.h"
#include "mg_oversample.h"

#if defined(__SSE2__)
#include <emmintrin.h>
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

enum { OPT_LOOKAHEAD };
enum { P_CEILING, P_GAIN, P_RELEASE, P_AUTO_RELEASE, P_LINK, N_PARAMS };

/* A contiguous history: the last `len` values, oldest first, at buf + pos (written twice). */
typedef struct hist {
    float *buf;
    uint32_t len, pos;
} hist;

/* Sliding maximum over the last `w` values (monotonic queue in a ring of w entries). */
typedef struct slide_max {
    double *v;
    uint64_t *at;
    uint32_t w, head, count;
} slide_max;

/* Moving average of the last `m` values; `nonzero` counts the non-zero ones so that the sum
   is reset to exactly 0 when they are all gone (no rounding residue below the ceiling). */
typedef struct box {
    double *v;
    double sum;
    uint32_t m, pos, nonzero;
} box;

typedef struct chan {
    mg_os_chan det;   /* the 8x detector's history (OS_TAPS frames of gained input) */
    hist line;     /* gained input, the main stage's delay (d1 + 1) */
    hist out;      /* main stage output, the guard's interpolator and delay (GUARD_DELAY + 1) */
    slide_max hold, ghold;
    box ramp, gramp;
    double fast, slow; /* release envelopes, dB */
    double gr;         /* last total gain reduction, dB (meter) */
    float prev;        /* the detector's phase 6 of the previous frame */
    uint32_t quiet;    /* the latest frames in a row at or under the quiet level (see below) */
} chan;

typedef struct lim_state {
    double lookahead_ms;  /* [immutable] option */
    /* [control] prepare */
    double rate;
    int channels;
    uint32_t la;          /* lookahead frames (the ramp) */
    uint32_t d1;          /* main stage delay */
    mg_os os;             /* [immutable] the 8x detector's interpolator */
    float gfir[GUARD_SPAN][4]; /* [immutable] mg_loudness_tp_fir transposed: [tap][phase] */
    double quiet_k;       /* [immutable] the quiet level over the main threshold (see below) */
    void *mem;
    chan ch[MG_MAX_CHANNELS];
    /* [rt] */
    uint64_t n;           /* frames processed since reset */
    int q_valid;          /* the quiet counts hold for q_ceil and q_gain (both constant) */
    double q_ceil, q_gain;
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

static inline void hist_push(hist *h, float v)
{
    h->buf[h->pos] = v;
    h->buf[h->pos + h->len] = v;
    h->pos = h->pos + 1 == h->len ? 0 : h->pos + 1;
}

/* The last len values, oldest first (valid until the next push). */
static inline const float *hist_window(const hist *h) { return h->buf + h->pos; }

static inline double slide_push(slide_max *s, uint64_t t, double v)
{
    /* drop entries not larger than v from the back, expired ones from the front */
    while (s->count) {
        uint32_t back = s->head + s->count - 1;
        back = back >= s->w ? back - s->w : back;
        if (s->v[back] > v)
            break;
        s->count--;
    }
    uint32_t at = s->head + s->count;
    at = at >= s->w ? at - s->w : at;
    s->v[at] = v;
    s->at[at] = t;
    s->count++;
    while (s->at[s->head] + s->w <= t) {
        s->head = s->head + 1 == s->w ? 0 : s->head + 1;
        s->count--;
    }
    return s->v[s->head];
}

static inline double box_push(box *b, double v)
{
    double old = b->v[b->pos];
    b->nonzero += (v != 0.0) - (old != 0.0);
    b->v[b->pos] = v;
    b->pos = b->pos + 1 == b->m ? 0 : b->pos + 1;
    b->sum = b->nonzero ? b->sum + (v - old) : 0.0;
    double a = b->sum / b->m;
    return a > 0.0 ? a : 0.0;
}

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
    for (int j = 0; j < GUARD_SPAN; j++)
        for (int p = 0; p < 4; p++)
            s->gfir[j][p] = (float)mg_loudness_tp_fir[p][j];
    if (design_os(s) != MG_OK)
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the true-peak detector");
    /* os_peak returns at most max(1.1 v, |frame|), v the largest interpolated value, and
       v <= B max|x| over the history (B = mg_os_up_norm), B >= 1 being the frame's own bound;
       0.1 % more covers the float sums' rounding (under 48 x 2^-24 relative) */
    double bnd = mg_os_up_norm(&s->os);
    s->quiet_k = 1.0 / (1.1 * (bnd > 1.0 ? bnd : 1.0) * 1.001);
    return MG_OK;
}

/* [rt] */
static void lim_reset(void *state)
{
    lim_state *s = state;
    for (int c = 0; c < s->channels; c++) {
        chan *h = &s->ch[c];
        hist *hs[2] = {&h->line, &h->out};
        for (int k = 0; k < 2; k++) {
            memset(hs[k]->buf, 0, 2 * (size_t)hs[k]->len * sizeof(float));
            hs[k]->pos = 0;
        }
        mg_os_chan_reset(&h->det, &s->os);
        slide_max *sm[2] = {&h->hold, &h->ghold};
        for (int k = 0; k < 2; k++)
            sm[k]->head = sm[k]->count = 0;
        box *bx[2] = {&h->ramp, &h->gramp};
        for (int k = 0; k < 2; k++) {
            memset(bx[k]->v, 0, bx[k]->m * sizeof(double));
            bx[k]->sum = 0;
            bx[k]->pos = bx[k]->nonzero = 0;
        }
        h->fast = h->slow = h->gr = 0;
        h->prev = 0;
        h->quiet = OS_TAPS; /* the history is silence */
    }
    s->n = 0;
    s->q_valid = 0;
    atomic_store_explicit(&s->meter_gr, 0.0f, memory_order_relaxed);
    atomic_store_explicit(&s->meter_gr_max, 0.0f, memory_order_relaxed);
}

/* [control] Release what prepare allocated. */
static void lim_free_buffers(lim_state *s)
{
    free(s->mem);
    s->mem = NULL;
    for (int c = 0; c < MG_MAX_CHANNELS; c++)
        mg_os_chan_free(&s->ch[c].det);
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
    uint32_t lens[2] = {d1 + 1, GUARD_DELAY + 1};
    size_t floats = 0, doubles = 2 * (size_t)(w1 + GUARD_HOLD) + la + GUARD_RAMP;
    for (int k = 0; k < 2; k++)
        floats += 2 * (size_t)lens[k];
    size_t per = doubles * sizeof(double) + floats * sizeof(float);
    char *mem = calloc((size_t)nc, per);
    if (!mem)
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the lookahead buffers");
    lim_free_buffers(s);
    s->mem = mem;
    for (int c = 0; c < nc; c++)
        if (mg_os_chan_init(&s->ch[c].det, &s->os) != MG_OK) {
            lim_free_buffers(s);
            return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the detector");
        }
    for (int c = 0; c < nc; c++) {
        chan *h = &s->ch[c];
        double *d = (double *)(mem + (size_t)c * per);
        h->hold = (slide_max){.v = d, .at = (uint64_t *)(d + w1), .w = w1};
        d += 2 * (size_t)w1;
        h->ghold = (slide_max){.v = d, .at = (uint64_t *)(d + GUARD_HOLD), .w = GUARD_HOLD};
        d += 2 * (size_t)GUARD_HOLD;
        h->ramp = (box){.v = d, .m = la};
        d += la;
        h->gramp = (box){.v = d, .m = GUARD_RAMP};
        d += GUARD_RAMP;
        float *f = (float *)d;
        hist *hs[2] = {&h->line, &h->out};
        for (int k = 0; k < 2; k++) {
            *hs[k] = (hist){.buf = f, .len = lens[k]};
            f += 2 * (size_t)lens[k];
        }
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

/*
** [rt] Push frame x = x[n]; returns the peak of the interval between frames n - 24 and n - 23
** (OS_TAPS/2 back): the 8 interpolated phases (t = n - 24 + (p + 1)/8), the frame n - 24 and,
** at the largest of them, the vertex of the parabola through it and its neighbours (the point 1/8 before the
** frame is the previous call's phase 6, kept in *prev). Grid points alone would read a peak
** at 0.4 fs up to 0.1 dB low; the vertex leaves well under 0.01 dB.
*/
static inline double os_peak(const lim_state *s, mg_os_chan *det, float x, float *prev)
{
    float acc[MG_OS_MAX];
    mg_os_up(&s->os, det, x, acc);
    const float *w = det->in + det->in_pos; /* the last OS_TAPS frames, oldest first */
    float v[OS + 2]; /* t = n - 24 + (k - 1)/8 */
    v[0] = fabsf(*prev);
    v[1] = fabsf(w[OS_TAPS / 2 - 1]);
    for (int p = 0; p < OS; p++)
        v[p + 2] = fabsf(acc[p]);
    *prev = acc[OS - 2];
    int m = 1;
    for (int k = 2; k <= OS; k++)
        m = v[k] > v[m] ? k : m;
    double peak = v[m], a = v[m - 1], c = v[m + 1];
    double curv = a - 2 * peak + c;
    if (a <= peak && c <= peak && curv < 0) {
        double d = (a - c) * (a - c) / (-8 * curv);
        peak += d < 0.1 * peak ? d : 0.1 * peak;
    }
    float last = fabsf(w[OS_TAPS / 2]);
    return peak > last ? peak : last;
}

/* [rt] The Annex 2 reading at the newest frame: 4 phases (float, as vector lanes; their
   rounding is far inside GUARD_MARGIN_DB) and the frame itself. */
static inline double guard_peak(const lim_state *s, const float *w)
{
    float acc[4];
#if defined(__SSE2__)
    __m128 a0 = _mm_setzero_ps(), a1 = a0;
    for (int j = 0; j < GUARD_SPAN; j += 2) {
        a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(s->gfir[j]),
                                       _mm_set1_ps(w[GUARD_SPAN - 1 - j])));
        a1 = _mm_add_ps(a1, _mm_mul_ps(_mm_loadu_ps(s->gfir[j + 1]),
                                       _mm_set1_ps(w[GUARD_SPAN - 2 - j])));
    }
    _mm_storeu_ps(acc, _mm_add_ps(a0, a1));
#else
    for (int p = 0; p < 4; p++) {
        acc[p] = 0;
        for (int j = 0; j < GUARD_SPAN; j++)
            acc[p] += s->gfir[j][p] * w[GUARD_SPAN - 1 - j];
    }
#endif
    float m = fabsf(w[GUARD_SPAN - 1]);
    for (int p = 0; p < 4; p++)
        m = fabsf(acc[p]) > m ? fabsf(acc[p]) : m;
    return m;
}

/* [rt] Linked reductions: r[c] = (1 - link) r[c] + link max(r). */
static inline void link_gr(double *r, int nc, double link)
{
    double mx = 0;
    for (int c = 0; c < nc; c++)
        mx = r[c] > mx ? r[c] : mx;
    if (link >= 1.0) {
        for (int c = 0; c < nc; c++)
            r[c] = mx;
        return;
    }
    for (int c = 0; c < nc; c++)
        r[c] = (1.0 - link) * r[c] + link * mx;
}

/*
** [rt] Frame by frame (every stage is sequential; the result does not depend on the block).
**
** Quiet frames skip the 8x interpolation, with the same result: when every frame in the
** detector's history is at or under quiet_k x the main threshold (a linear bound on what
** os_peak can return, see lim_create), os_peak cannot exceed the threshold and the reduction
** wanted is exactly 0, so the frame is only pushed into the history. The interpolation still
** runs when the next frame is not quiet in that sense (its parabola needs this frame's phase
** 6; after a skipped frame the next one's history is all quiet, so a stale phase 6 cannot
** lift its reading over the threshold: the vertex adds at most 0.1 of the largest value), at
** a block's last frame, and in blocks where the gain or the ceiling moves (the counts start
** over after them).
*/
static void lim_process(void *state, const mg_block *b)
{
    lim_state *s = state;
    const mg_pval *p = b->p;
    int nc = b->out[0].channels;
    double a_rel = mg_dyn_coef(p[P_RELEASE].v[0], b->rate);
    double a_slow = mg_dyn_coef(10.0 * p[P_RELEASE].v[0], b->rate);
    double gmax = atomic_load_explicit(&s->meter_gr_max, memory_order_relaxed);
    double thr1 = 1.0, thr2 = 1.0, ga = 1.0;
    /* quiet counts were taken against the previous block's threshold: start them over when
       that may have changed */
    int konst = p[P_GAIN].constant && p[P_CEILING].constant;
    if (!konst || !s->q_valid || p[P_CEILING].v[0] != s->q_ceil || p[P_GAIN].v[0] != s->q_gain)
        for (int c = 0; c < nc; c++)
            s->ch[c].quiet = 0;
    s->q_valid = konst;
    s->q_ceil = p[P_CEILING].v[0];
    s->q_gain = p[P_GAIN].v[0];
    for (uint32_t i = 0; i < b->n; i++) {
        double ceil = mg_dyn_pv(&p[P_CEILING], i);
        if (i == 0 || !p[P_CEILING].constant) { /* linear thresholds: most frames need no log */
            thr1 = mg_dyn_amp(ceil - MARGIN_DB);
            thr2 = mg_dyn_amp(ceil - GUARD_MARGIN_DB);
        }
        if (i == 0 || !p[P_GAIN].constant)
            ga = mg_dyn_amp(mg_dyn_pv(&p[P_GAIN], i));
        int skip_ok = konst && i + 1 < b->n;
        double link = mg_dyn_pv(&p[P_LINK], i) * 0.01;
        int autorel = mg_dyn_pv(&p[P_AUTO_RELEASE], i) >= 0.5;
        if (!p[P_RELEASE].constant) {
            a_rel = mg_dyn_coef(p[P_RELEASE].v[i], b->rate);
            a_slow = mg_dyn_coef(10.0 * p[P_RELEASE].v[i], b->rate);
        }
        double r[MG_MAX_CHANNELS];
        uint64_t t = s->n + i;
        /* main stage: detect */
        for (int c = 0; c < nc; c++) {
            chan *h = &s->ch[c];
            float x = (float)(b->in[0].ch[c][i] * ga);
            x = isfinite(x) ? x : 0.0f; /* NaN or Inf would latch the envelopes */
            hist_push(&h->line, x);
            double qlev = thr1 * s->quiet_k;
            h->quiet = fabsf(x) <= qlev ? (h->quiet < OS_TAPS ? h->quiet + 1 : OS_TAPS) : 0;
            if (skip_ok && h->quiet >= OS_TAPS) {
                float xn = (float)(b->in[0].ch[c][i + 1] * ga);
                if (fabsf(xn) <= qlev) { /* NaN: not quiet, interpolated as usual */
                    mg_os_push(&s->os, &h->det, x);
                    r[c] = 0.0;
                    continue;
                }
            }
            double pk = os_peak(s, &h->det, x, &h->prev);
            double gr = pk > thr1 ? mg_dyn_db(pk * pk) - (ceil - MARGIN_DB) : 0.0;
            r[c] = gr > 0.0 ? gr : 0.0;
        }
        link_gr(r, nc, link);
        /* main stage: hold, release, ramp, apply; guard: detect */
        for (int c = 0; c < nc; c++) {
            chan *h = &s->ch[c];
            double held = slide_push(&h->hold, t, r[c]);
            h->fast = mg_dyn_smooth(h->fast, held, 0.0, a_rel);
            double rel = h->fast;
            if (autorel) {
                h->slow = mg_dyn_smooth(h->slow, held, a_slow, a_slow);
                rel = h->slow > rel ? h->slow : rel;
            } else {
                h->slow = 0;
            }
            double g1 = box_push(&h->ramp, rel);
            h->gr = g1;
            float y = hist_window(&h->line)[0];
            if (g1 > 0.0)
                y = (float)(y * mg_dyn_amp(-g1));
            hist_push(&h->out, y);
            double pk = guard_peak(s, hist_window(&h->out) + GUARD_DELAY + 1 - GUARD_SPAN);
            double gr = pk > thr2 ? mg_dyn_db(pk * pk) - (ceil - GUARD_MARGIN_DB) : 0.0;
            r[c] = gr > 0.0 ? gr : 0.0;
        }
        link_gr(r, nc, link);
        /* guard: hold, ramp, apply */
        for (int c = 0; c < nc; c++) {
            chan *h = &s->ch[c];
            double g2 = box_push(&h->gramp, slide_push(&h->ghold, t, r[c]));
            float y = hist_window(&h->out)[0];
            if (g2 > 0.0)
                y = (float)(y * mg_dyn_amp(-g2));
            b->out[0].ch[c][i] = y;
            h->gr += g2;
            gmax = h->gr > gmax ? h->gr : gmax;
        }
    }
    s->n += b->n;
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
