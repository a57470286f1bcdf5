/*
** mg_delayline.h: the delay line shared by the delay-family nodes (delay, reverb): a ring of
** floats, fractional reads, a crossfading read tap for click-free time changes, and block
** reads and writes for nodes that process a chunk of samples at a time. [control] init/free
** allocate; everything else is [rt]: no allocation, no locks.
**
** Positions. A line counts samples with a free-running 32-bit index `w` (the next sample to
** be written). Reads take an absolute position `pos` and a delay `d` in samples and return
** x(pos - d); the caller decides whether x[pos] itself is written yet. Indices wrap with the
** power-of-two mask, so a line must be longer than the longest delay plus the read kernel.
**
** Fractional reads (mg_fdtap): the kernel is chosen once per delay value, not per sample:
**   integer d         one tap, exact
**   D >= sinc_min     16-tap Kaiser-windowed sinc (beta 8), normalised to unit DC gain:
**                     h[k] = w(k - f) sinc(k - f), k = -7..8, d = D + f. Measured at 48 kHz:
**                     magnitude within 0.001 dB and phase delay within 0.0004 samples of d
**                     from DC to 10 kHz at every fraction (linear interpolation loses
**                     2.0 dB at 10 kHz for f = 1/2). Reads up to 7 samples newer than x[pos - D].
**   otherwise         linear interpolation (short delays whose sinc would read the future)
** The sinc's look-ahead is why the caller passes sinc_min: the smallest integer delay at
** which every tap is already written.
**
** Crossfading tap (mg_xtap): when the requested delay changes, a second kernel is designed
** for the new delay and the output crossfades from the old tap to the new one with a raised
** cosine (equal gain) over `len` samples; requests arriving during a fade wait for it to
** end. The pitch never bends and there is no step, so a time change cannot click.
**
** Block access. A line made with mg_dline_init_guard keeps a copy of its first `guard`
** samples just past its end, so any run of up to `guard` consecutive samples is contiguous in
** memory (mg_dline_span) and loops over a chunk need no per-sample index masking. Such a line
** is written in runs that do not wrap (mg_dline_wspan, then mg_dline_wrote, which maintains
** the copy). mg_fdtap_read_block computes exactly what mg_fdtap_read would, sample by
** sample, from a span.
*/
#ifndef MG_DELAYLINE_H
#define MG_DELAYLINE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "mg_filter.h"

#define MG_FD_TAPS 16 /* sinc kernel length */
#define MG_FD_HALF 8  /* MG_FD_TAPS / 2: the kernel reads x[pos-D-8 .. pos-D+7] */

typedef struct mg_dline {
    float *buf;     /* [control] allocated by mg_dline_init: size + guard samples, 64-byte
                       aligned */
    void *raw;      /* [control] the allocation holding buf */
    uint32_t size;  /* power of two */
    uint32_t mask;
    uint32_t guard; /* [control] samples mirrored past the end (0: none) */
    uint32_t w;     /* [rt] index of the next sample to write */
} mg_dline;

/* [control] Allocate a zeroed line of at least `min_len` samples. 0 on success, -1 on OOM;
   the line is left unchanged on failure. */
int mg_dline_init(mg_dline *l, uint64_t min_len);
/* [control] The same with a mirror of `guard` samples for block access (file comment). */
int mg_dline_init_guard(mg_dline *l, uint64_t min_len, uint32_t guard);
/* [control] Release; accepts a line never initialised (all zero). */
void mg_dline_free(mg_dline *l);
/* [rt] Zero the samples and the write index. */
void mg_dline_clear(mg_dline *l);

/* [rt] Clean a sample before it enters a recirculating structure: NaN, infinities and values
   beyond 1e30 become 0 (one bad input must not latch), so do subnormal-range values below
   1e-30 (no slow arithmetic even where flush-to-zero is off). */
static inline float mg_dline_clean(float v)
{
    float a = fabsf(v);
    return (a > 1e-30f && a < 1e30f) ? v : 0.0f;
}

/* [rt] Write at the current index and advance. */
static inline void mg_dline_push(mg_dline *l, float v)
{
    l->buf[l->w & l->mask] = mg_dline_clean(v);
    l->w++;
}

/* [rt] Overwrite or accumulate at an absolute position (already written or about to be). */
static inline void mg_dline_put(mg_dline *l, uint32_t pos, float v)
{
    l->buf[pos & l->mask] = mg_dline_clean(v);
}

static inline float mg_dline_at(const mg_dline *l, uint32_t pos) { return l->buf[pos & l->mask]; }

/* [rt] x[pos .. pos + n), n <= guard, as one contiguous run; valid until the next write. */
static inline const float *mg_dline_span(const mg_dline *l, uint32_t pos)
{
    return l->buf + (pos & l->mask);
}

/*
** [rt] Where to write x[pos .. pos + n): the run must not cross the end of the ring
** ((pos & mask) + n <= size; true of any chunk inside an aligned window of w frames, w a power
** of two <= size). Values go in as they are (the caller cleans what recirculates); then call
** mg_dline_wrote. The only way to write a line with a guard.
*/
static inline float *mg_dline_wspan(mg_dline *l, uint32_t pos) { return l->buf + (pos & l->mask); }

/* [rt] After writing x[pos .. pos + n) through mg_dline_wspan: refresh the guard's copy of
   whatever part of the ring's head changed. */
static inline void mg_dline_wrote(mg_dline *l, uint32_t pos, uint32_t n)
{
    uint32_t a = pos & l->mask;
    if (a < l->guard) { /* compilers expand a memcpy of a variable few dozen floats badly:
                             fixed runs of eight (vector moves), then single samples */
        uint32_t m = n < l->guard - a ? n : l->guard - a, i = 0;
        const float *src = l->buf + a;
        float *dst = l->buf + l->size + a;
        for (; i + 8 <= m; i += 8)
            memcpy(dst + i, src + i, 8 * sizeof *dst);
        for (; i < m; i++)
            dst[i] = src[i];
    }
}

/* A read kernel for one fixed delay: y = sum_j g[j] x[pos - back + j], j = 0..n-1. */
typedef struct mg_fdtap {
    double d;      /* the delay it was designed for, samples */
    uint32_t back; /* distance from pos to the oldest sample read */
    int n;         /* taps: 1 (integer), 2 (linear) or MG_FD_TAPS (sinc) */
    float g[MG_FD_TAPS];
} mg_fdtap;

/* [rt] Design the kernel for delay d >= 0 (see the file comment for sinc_min). */
void mg_fdtap_design(mg_fdtap *t, double d, uint32_t sinc_min);

/* [rt] x(pos - t->d). */
static inline float mg_fdtap_read(const mg_fdtap *t, const mg_dline *l, uint32_t pos)
{
    uint32_t b = (pos - t->back) & l->mask;
    if (t->n == 1)
        return l->buf[b];
    float acc = 0.0f;
    if (b + (uint32_t)t->n <= l->size) {
        const float *x = l->buf + b;
        for (int j = 0; j < t->n; j++)
            acc += t->g[j] * x[j];
    } else {
        for (int j = 0; j < t->n; j++)
            acc += t->g[j] * l->buf[(b + (uint32_t)j) & l->mask];
    }
    return acc;
}

/*
** [rt] y[i] = mg_fdtap_read(t, l, pos + i) for i = 0..n-1, bit for bit (each output sums its
** taps in the same order). The line needs a guard of at least n + MG_FD_TAPS - 1 samples.
*/
static inline void mg_fdtap_read_block(const mg_fdtap *t, const mg_dline *l, uint32_t pos,
                                       float *y, uint32_t n)
{
    const float *x = mg_dline_span(l, pos - t->back);
    if (t->n == 1) {
        memcpy(y, x, (size_t)n * sizeof *y);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        y[i] = 0.0f;
    for (int j = 0; j < t->n; j++) /* tap-major: every y[i] still adds g[0], g[1], ... in turn */
        for (uint32_t i = 0; i < n; i++)
            y[i] += t->g[j] * x[i + (uint32_t)j];
}

/* Crossfading tap. Zero-initialise, then mg_xtap_setup; mg_xtap_reset on reset. */
typedef struct mg_xtap {
    mg_fdtap cur, next;
    uint32_t len;     /* [control] fade length, samples (>= 1) */
    uint32_t sinc_min;
    uint32_t pos;     /* [rt] samples into the fade */
    int fading;
    int primed;       /* a delay has been set since reset */
    float a;          /* weight of `next` for this sample */
} mg_xtap;

/* [control] Fade length in samples and the sinc threshold (see mg_fdtap_design). */
void mg_xtap_setup(mg_xtap *x, uint32_t len, uint32_t sinc_min);
/* [rt] Forget the delay: the next mg_xtap_step takes its request at once. */
void mg_xtap_reset(mg_xtap *x);

#define MG_XTAP_EPS 1e-6 /* delay changes smaller than this (samples) are ignored */

/* [rt] Whether mg_xtap_step(x, d) would change nothing: no fade runs and d is the delay. */
static inline int mg_xtap_steady(const mg_xtap *x, double d)
{
    return x->primed && !x->fading && fabs(d - x->cur.d) <= MG_XTAP_EPS;
}

/* [rt] mg_xtap_step when it is not steady: primes, advances a fade or starts one. */
void mg_xtap_step_slow(mg_xtap *x, double d);

/*
** [rt] Advance one sample with the delay requested for it. The first request after a reset
** applies at once; later changes (by more than MG_XTAP_EPS samples) start a fade unless one
** runs. The steady case is inline: a fixed delay costs one comparison per sample.
*/
static inline void mg_xtap_step(mg_xtap *x, double d)
{
    if (!mg_xtap_steady(x, d))
        mg_xtap_step_slow(x, d);
}

/* [rt] This sample's output of the tap from line l at position pos. */
static inline float mg_xtap_read(const mg_xtap *x, const mg_dline *l, uint32_t pos)
{
    float y = mg_fdtap_read(&x->cur, l, pos);
    if (x->fading)
        y += x->a * (mg_fdtap_read(&x->next, l, pos) - y);
    return y;
}

/* The delay the tap is heading for (the one it will settle on), samples. */
static inline double mg_xtap_delay(const mg_xtap *x) { return x->fading ? x->next.d : x->cur.d; }

/*
** [rt] One sample of an mg_filter.h biquad (the mg_biquad_run recursion, transposed direct
** form II in double), for filters inside per-sample recirculating loops.
*/
static inline double mg_dl_biquad_step(mg_biquad_state *z, const mg_biquad *q, double x)
{
    double y = q->b0 * x + z->s1;
    z->s1 = q->b1 * x - q->a1 * y + z->s2;
    z->s2 = q->b2 * x - q->a2 * y;
    return y;
}

/*
** A biquad whose coefficients move linearly to a new design over `len` samples, so a node
** that redesigns on a coarse grid (every 32 frames) does not step its filter: set a target at
** each grid point with len = the grid spacing, tick once per sample. Between two stable
** designs that differ little (one grid step of a parameter ramp) the path stays stable.
*/
typedef struct mg_bq_ramp {
    mg_biquad cur, inc, target;
    uint32_t left; /* samples until cur reaches target */
} mg_bq_ramp;

/* [rt] Head for t over len samples (0: jump there). */
static inline void mg_bq_ramp_set(mg_bq_ramp *r, const mg_biquad *t, uint32_t len)
{
    r->target = *t;
    if (len == 0) {
        r->cur = *t;
        r->left = 0;
        return;
    }
    double k = 1.0 / (double)len;
    r->inc = (mg_biquad){(t->b0 - r->cur.b0) * k, (t->b1 - r->cur.b1) * k,
                         (t->b2 - r->cur.b2) * k, (t->a1 - r->cur.a1) * k,
                         (t->a2 - r->cur.a2) * k};
    r->left = len;
}

/* [rt] Advance one sample. */
static inline void mg_bq_ramp_tick(mg_bq_ramp *r)
{
    if (!r->left)
        return;
    if (--r->left == 0) {
        r->cur = r->target;
        return;
    }
    r->cur.b0 += r->inc.b0;
    r->cur.b1 += r->inc.b1;
    r->cur.b2 += r->inc.b2;
    r->cur.a1 += r->inc.a1;
    r->cur.a2 += r->inc.a2;
}

/* [rt] Clear a biquad state that went non-finite or decayed below 1e-30 (once per block). */
static inline void mg_dl_biquad_clean(mg_biquad_state *z)
{
    if (!isfinite(z->s1 + z->s2) || fabs(z->s1) + fabs(z->s2) < 1e-30)
        z->s1 = z->s2 = 0;
}

#endif
