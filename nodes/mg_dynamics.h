/*
** mg_dynamics.h: the shared core of the dynamics nodes (`compressor`, `gate`, `expander`):
** key selection and key filter, level detector, stereo link, the compressor's gain curve, the
** log-domain attack/release smoother, the lookahead line, the dry/wet output stage and the
** gain-reduction meter. After Giannoulis, Massberg & Reiss, "Digital Dynamic Range Compressor
** Design", JAES 60(6), 2012 (DSP_TESTS.md §6, §7).
**
** Threads: mg_dyn_prepare and mg_dyn_destroy are [control] (prepare allocates the lookahead
** line); everything else is [rt] and never allocates; mg_dyn_meter is [any] (lock-free read).
**
** Signal flow of one frame, per channel (levels and gains in dB):
**   key    = sidechain input when connected, else the main input; optionally high- and/or
**            low-passed (2nd-order Butterworth RBJ biquads, Q = 1/sqrt 2).
**   level  = 10 log10(p): p = key^2 (peak) or p = mean square, a one-pole average
**            p[n] = b p[n-1] + (1 - b) key^2, b = exp(-1/(rms_window * fs)) (rms).
**            Convention: dB re full-scale amplitude, so a full-scale square reads 0 dB in both
**            detectors and a sine of peak x dBFS reads x (peak) or x - 3.01 dB (rms); not the
**            AES17 convention (where that sine would read x). Clamped to -300 .. +300 dB.
**   link   = (1 - link) * level[own key channel] + link * max over key channels (dB).
**   static = the node's gain curve (compressor: gain reduction; gate: gain).
**   smooth = y[n] = a y[n-1] + (1 - a) x[n] on the curve's output, a = exp(-1/(tau fs)),
**            attack coefficient when the curve asks for more reduction (compressor) or more
**            opening (gate) than y[n-1], release otherwise; tau = 0 follows at once.
**   output = xd + mix * xd * (10^(gain/20) - 1), xd the main input delayed by the lookahead:
**            the dry part is the same delayed sample, so dry and wet are time-aligned.
** Main channel c reads key channel c mod (key channels): a mono key drives every channel.
*/
#ifndef MG_DYNAMICS_H
#define MG_DYNAMICS_H

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>

#include "mg_filter.h"
#include "mg_node.h"

#define MG_DYN_CHUNK 64               /* frames per pass of the key stage */
#define MG_DYN_DETECTORS "peak|rms"   /* `detector` choice parameter */
#define MG_DYN_FLOOR_DB (-300.0)      /* level of digital silence */
#define MG_DYN_KEY_Q 0.70710678118654752 /* key filters: Butterworth */
#define MG_DYN_LN10_20 0.11512925464970229 /* ln(10) / 20 */

enum { MG_DYN_PEAK, MG_DYN_RMS };

/* The parameters the shared stages read: pointers into the block's p[] (NULL: absent). */
typedef struct mg_dyn_params {
    const mg_pval *key_hpf, *key_lpf; /* Hz, 0 = off */
} mg_dyn_params;

/*
** Shared state. Must be the first member of each dynamics node's state, so that
** mg_dyn_meter can read any of them.
*/
typedef struct mg_dyn {
    /* [control] set by mg_dyn_prepare */
    double rate;
    int channels;       /* main channels (= output channels) */
    uint32_t lookahead; /* frames: the node's latency */
    float *line;        /* channels x lookahead, channel-major */
    /* [rt] */
    uint32_t pos;                         /* lookahead line position */
    double ms[MG_MAX_CHANNELS];           /* detector power per key channel */
    mg_biquad_state hpf[MG_MAX_CHANNELS]; /* key filters per key channel */
    mg_biquad_state lpf[MG_MAX_CHANNELS];
    mg_biquad hpf_c, lpf_c;               /* coefficients for hpf_hz, lpf_hz */
    float hpf_hz, lpf_hz;                 /* what hpf_c, lpf_c were designed for; 0 = none */
    double amp_db[MG_MAX_CHANNELS];       /* gain cache per main channel: dB ... */
    double amp[MG_MAX_CHANNELS];          /* ... and its amplitude */
    /* meters: written by process at the end of each block, read from any thread */
    _Atomic float meter_gr;    /* gain reduction, dB >= 0, max over channels */
    _Atomic float meter_level; /* detector level, dB, max over key channels */
} mg_dyn;

/* [control] Size the lookahead line (lookahead_ms rounded to whole frames at pr->rate), fill
   pr->latency and pr->tail with it, and reset. */
mg_status mg_dyn_prepare(mg_dyn *d, mg_node *node, mg_prepare *pr, double lookahead_ms);
/* [rt] Clear the detector, key filters and lookahead line. */
void mg_dyn_reset(mg_dyn *d);
/* [control] Free the line; safe on a zeroed or already destroyed state. */
void mg_dyn_destroy(mg_dyn *d);

/*
** [rt] The key for frames i0 .. i0+n-1 (n <= MG_DYN_CHUNK) of block b: key[k][0..n-1] for
** each key channel k (returned count). Points into the block when unfiltered, into buf when
** filtered. Port 1 is the sidechain; when it is unconnected the main input (port 0) is the key.
*/
int mg_dyn_key(mg_dyn *d, const mg_block *b, const mg_dyn_params *p, uint32_t i0, uint32_t n,
               const float *key[MG_MAX_CHANNELS], float buf[MG_MAX_CHANNELS][MG_DYN_CHUNK]);

/* [rt] Publish the meters (end of a block). */
void mg_dyn_publish(mg_dyn *d, double gain_reduction_db, double level_db);

/*
** [any] Meter `name` of a dynamics node's state: "gain_reduction" (dB, positive, max over
** channels, at the end of the last block) or "key_level" (detector level in dB, max over key
** channels). NaN for an unknown name. Ready to become mg_node_desc.meter.
*/
double mg_dyn_meter(const void *state, const char *name);

/* ---- per-frame helpers ([rt], inline) ---- */

/* Parameter value at frame i. */
static inline double mg_dyn_pv(const mg_pval *p, uint32_t i) { return p->v[p->constant ? 0 : i]; }

/* 1 when every parameter of the block is constant. */
static inline int mg_dyn_constant(const mg_pval *p, int n)
{
    for (int k = 0; k < n; k++)
        if (!p[k].constant)
            return 0;
    return 1;
}

/* Smoothing coefficient exp(-1/(tau fs)) for tau = ms milliseconds; 0 (no smoothing) at 0. */
static inline double mg_dyn_coef(double ms, double rate)
{
    return ms > 0 ? exp(-1000.0 / (ms * rate)) : 0.0;
}

/*
** One step of the branching smoother: attack coefficient when x > y. Within 1e-9 dB of its
** target it lands on it exactly, so a steady gain is exact (a -144 dB range is silence), it
** never decays into subnormals, and the gain cache below hits.
*/
static inline double mg_dyn_smooth(double y, double x, double a_attack, double a_release)
{
    double a = x > y ? a_attack : a_release;
    y = a * y + (1.0 - a) * x;
    return fabs(y - x) < 1e-9 ? x : y;
}

/* Level in dB of a power (mean square re full scale); MG_DYN_FLOOR_DB for silence. */
static inline double mg_dyn_db(double p) { return p > 1e-30 ? 10.0 * log10(p) : MG_DYN_FLOOR_DB; }

/*
** Detector power of one key sample on key channel k: x^2 (peak) or the one-pole mean square
** with coefficient rms_b (rms). Its level is mg_dyn_db(power).
*/
static inline double mg_dyn_power(mg_dyn *d, int k, float x, int detector, double rms_b)
{
    double p = (double)x * (double)x;
    if (detector == MG_DYN_RMS)
        p = rms_b * d->ms[k] + (1.0 - rms_b) * p;
    /* -300 .. +300 dB: no subnormals while decaying in silence, and a NaN or Inf key does not
       latch the mean square */
    if (!(p >= 1e-30))
        p = 0.0;
    else if (p > 1e30)
        p = 1e30;
    if (detector == MG_DYN_RMS)
        d->ms[k] = p;
    return p;
}

/* Detector powers p[k] of frame i for the nk key channels; returns the largest. */
static inline double mg_dyn_powers(mg_dyn *d, const float *const *key, int nk, uint32_t i,
                                   int detector, double rms_b, double *p)
{
    double mx = 0.0;
    for (int k = 0; k < nk; k++) {
        p[k] = mg_dyn_power(d, k, key[k][i], detector, rms_b);
        mx = p[k] > mx ? p[k] : mx;
    }
    return mx;
}

/*
** Linked levels (dB) lev[c] of main channels c < nc from the key powers p[0..nk-1] (largest
** pmax): (1 - link) level(own key channel c mod nk) + link level(pmax). One logarithm per frame
** when fully linked.
*/
static inline void mg_dyn_link(const double *p, int nk, double pmax, double link, int nc,
                               double *lev)
{
    double lmax = mg_dyn_db(pmax);
    if (link >= 1.0) {
        for (int c = 0; c < nc; c++)
            lev[c] = lmax;
        return;
    }
    double kl[MG_MAX_CHANNELS];
    for (int k = 0; k < nk; k++)
        kl[k] = mg_dyn_db(p[k]);
    for (int c = 0; c < nc; c++)
        lev[c] = (1.0 - link) * kl[c % nk] + link * lmax;
}

/*
** Compressor gain computer (GMR 2012, eq. 4): gain reduction in dB (>= 0) for level x,
** threshold t, knee width w (dB) and slope s = 1 - 1/ratio:
**   0                             2(x - t) < -w
**   s (x - t + w/2)^2 / (2w)      2|x - t| <= w
**   s (x - t)                     2(x - t) > w
*/
static inline double mg_dyn_comp_gr(double x, double t, double s, double w)
{
    double e = x - t;
    if (w > 0 && 2.0 * fabs(e) <= w) {
        double u = e + 0.5 * w;
        return s * u * u / (2.0 * w);
    }
    return e > 0 ? s * e : 0.0;
}

/* Lookahead: the sample written lookahead frames ago on channel c (x itself without one).
   Call for each channel, then mg_dyn_advance once per frame. */
static inline float mg_dyn_tap(mg_dyn *d, int c, float x)
{
    if (!d->lookahead)
        return x;
    float *slot = d->line + (size_t)c * d->lookahead + d->pos;
    float y = *slot;
    *slot = x;
    return y;
}

static inline void mg_dyn_advance(mg_dyn *d)
{
    if (d->lookahead && ++d->pos == d->lookahead)
        d->pos = 0;
}

/* dB to amplitude in double; -144 dB or below is exactly 0 (as mg_db_to_amp). */
static inline double mg_dyn_amp(double db) { return db > -144.0 ? exp(db * MG_DYN_LN10_20) : 0.0; }

/* mg_dyn_amp through channel c's one-entry cache (gains often hold still: below threshold,
   gate open or closed). The cache always holds a valid pair (reset sets 0 dB -> 1). */
static inline double mg_dyn_amp_cached(mg_dyn *d, int c, double db)
{
    if (db != d->amp_db[c]) {
        d->amp_db[c] = db;
        d->amp[c] = mg_dyn_amp(db);
    }
    return d->amp[c];
}

/* Output of one sample: delayed input xd, wet gain g (linear), dry/wet mix m in [0, 1].
   With g = 1 the result is xd exactly, whatever m. */
static inline float mg_dyn_out(float xd, double g, double m)
{
    return (float)((double)xd + m * (double)xd * (g - 1.0));
}

#endif
