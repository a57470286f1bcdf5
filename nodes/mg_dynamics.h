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
** Levels and gains go through mg_dyn_db and mg_dyn_amp (below; within 1.3e-7 and 4.4e-8 dB of
** the exact values).
**
** How it runs: a block is cut into chunks of MG_DYN_CHUNK frames and each chunk goes through
** stages, each a loop over the chunk: key (mg_dyn_key), detector (mg_dyn_detect), link
** (mg_dyn_link), the node's static curve, the smoother, dB to gain (mg_dyn_gains), output
** (mg_dyn_apply). Only the smoother and the rms mean square are serial; the other loops are
** element-wise and vectorised. A fully linked key with every channel's smoother in the same
** state needs one curve, smoother and gain row for all channels. With constant parameters a
** chunk goes through in one pass; while any parameter ramps, frame by frame with the frame's
** coefficients. The arithmetic of a frame is the same either way, so the output never depends
** on the block size.
*/
#ifndef MG_DYNAMICS_H
#define MG_DYNAMICS_H

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "mg_filter.h"
#include "mg_node.h"

#define MG_DYN_CHUNK 64               /* frames per pass of the stages */
#define MG_DYN_DETECTORS "peak|rms"   /* `detector` choice parameter */
#define MG_DYN_FLOOR_DB (-300.0)      /* level of digital silence */
#define MG_DYN_KEY_Q 0.70710678118654752 /* key filters: Butterworth */

enum { MG_DYN_PEAK, MG_DYN_RMS };

/*
** Runtime dispatch of the chunk stages: on x86 with GCC/Clang, each stage (and each node's
** chunk runner) is also compiled with AVX2 and FMA enabled (MG_DYN_AVX2 on a wrapper around an
** always-inline body) and mg_dyn_prepare picks that build when the CPU has both. ISO C does
** not contract a * b + c, so the same C gives the same bits in both builds, except where a
** body asks for a fused multiply-add in the AVX2 build with mg_dyn_madd (the compressor's
** smoother): there the builds differ by rounding (each gives the same bits whatever the block
** size).
*/
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MG_DYN_X86 1
#define MG_DYN_AVX2 __attribute__((target("avx2,fma")))
#else
#define MG_DYN_X86 0
#endif
#define MG_DYN_INLINE inline __attribute__((always_inline))

/* a b + c, rounded once when `fused` (a constant: 1 only in an MG_DYN_AVX2 body, where fma()
   is one instruction), twice otherwise. */
static MG_DYN_INLINE double mg_dyn_madd(double a, double b, double c, int fused)
{
    return fused ? fma(a, b, c) : a * b + c;
}

/* [any] 1 when the stages' AVX2 build can run here. */
static inline int mg_dyn_has_avx2(void)
{
#if MG_DYN_X86
    return mg_simd_level() >= MG_SIMD_AVX2;
#else
    return 0;
#endif
}

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
    int avx2;                             /* [control] run the stages' AVX2 build */
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

/*
** [rt] Detector for frames 0..n-1 (n <= MG_DYN_CHUNK) of the nk-channel key from mg_dyn_key:
** pmax[i] is the largest key power of frame i and, when p is not NULL, p[k][i] the power of
** key channel k. Powers are 0 or clamped to [1e-30, 1e30] (-300 .. +300 dB).
*/
void mg_dyn_detect(mg_dyn *d, const float *const *key, int nk, uint32_t n, int detector,
                   double rms_b, double pmax[MG_DYN_CHUNK], double (*p)[MG_DYN_CHUNK]);

/*
** [rt] Link: levels in dB lev[c][i] of main channels c < nc from the powers of mg_dyn_detect
** (p is only read, and only when link < 1). Returns how many rows were written: 1 when
** link >= 1 (every channel's level is lev[0]), else nc.
*/
int mg_dyn_link(const mg_dyn *d, const double pmax[MG_DYN_CHUNK], double (*p)[MG_DYN_CHUNK],
                int nk, uint32_t n, double link, int nc,
                double lev[MG_MAX_CHANNELS][MG_DYN_CHUNK]);

/* [rt] Linear gains g[i] = mg_dyn_amp_of(db[i]) of n gains in dB already through mg_dyn_mute;
   converted once when they are all the same (a gain holding still). */
void mg_dyn_gains(const mg_dyn *d, const double *db, double *g, uint32_t n);

/* [rt] mg_dyn_gains of the gains in dB mg_dyn_mute(makeup - y[i]) of a smoothed gain
   reduction y (the subtraction and the -144 dB rule done here, vectorised, instead of in the
   caller's serial smoother loop); the same results. */
void mg_dyn_gains_gr(const mg_dyn *d, double makeup, const double *y, double *g, uint32_t n);

/*
** [rt] Output stage of block frames f0..f0+n-1 (n <= MG_DYN_CHUNK) on every main channel c:
** out = xd + mix xd (g - 1) with g = gain[c][i] (linear) and xd the input delayed by the
** lookahead; with g = 1 the result is xd exactly, whatever the mix. Advances the lookahead line
** by n frames. in and out may alias (each frame is read before it is written).
*/
void mg_dyn_apply(mg_dyn *d, const mg_buf *in, mg_buf *out, uint32_t f0, uint32_t n,
                  const double *const gain[MG_MAX_CHANNELS], double mix);

/*
** [rt] The block structure the compressor, gate and expander share: for each chunk of
** MG_DYN_CHUNK frames, the key (mg_dyn_key), then the node's `run` over the whole chunk with
** the coefficients `coef_at` computed at frame 0 when the parameters are constant (ramp 0),
** or frame by frame with coefficients refreshed per frame while they ramp. `coef` is the
** node's coefficient struct, `node` its state. Returns the key peak (linear) `run` reported
** for the block's last frame.
*/
typedef void (*mg_dyn_coef_fn)(const void *node, void *coef, const mg_block *b, uint32_t frame,
                               int all);
typedef double (*mg_dyn_run_fn)(void *node, const void *coef, const float *const *key, int nk,
                                const mg_block *b, uint32_t f0, uint32_t n);
double mg_dyn_drive(mg_dyn *d, const mg_block *b, const mg_dyn_params *p, int ramp, void *node,
                    void *coef, mg_dyn_coef_fn coef_at, mg_dyn_run_fn run);

/* [rt] Publish the meters (end of a block). */
void mg_dyn_publish(mg_dyn *d, double gain_reduction_db, double level_db);

/*
** [any] Meter `name` of a dynamics node's state: "gain_reduction" (dB, positive, max over
** channels, at the end of the last block) or "key_level" (detector level in dB, max over key
** channels). NaN for an unknown name. Ready to become mg_node_desc.meter.
*/
double mg_dyn_meter(const void *state, const char *name);

/* ---- fast level and gain conversions ([any], inline) ---- */

/*
** The dB conversions run once or twice per frame, so they are written out instead of calling
** libm's log10/exp (which cost most of the compressor's time before). Both are branch-free
** double and 64-bit integer arithmetic, which GCC vectorises with plain SSE2 in the chunk loops
** of dynamics.c, compressor.c and gate.c; each lane does the same IEEE-754 operations as the
** scalar code (round to nearest, no FMA contraction: ISO C without -ffast-math), so the result
** of a frame never depends on the block size or on whether the loop was vectorised.
**
** mg_dyn_db: p = m 2^e with m in [sqrt(1/2), sqrt(2)), t = (m - 1)/(m + 1), |t| <= 0.1716;
**   10 log10 p = e 10 log10(2) + (20/ln 10) atanh(t), atanh(t) = t + t^3/3 + t^5/5 + t^7/7 + R,
**   |R| <= t^9/(9 (1 - t^2)): at most 1.3e-7 dB from the exact level (measured 1.27e-7).
** mg_dyn_amp_of: 10^(db/20) = 2^x, x = db log2(10)/20 = n + f, n the nearest integer,
**   |f| <= 1/2; 2^f = 1 + f q(f), q of degree 5 interpolating (2^f - 1)/f at the Chebyshev
**   nodes of [-1/2, 1/2] (near-minimax): relative error below 5.1e-9, i.e. 4.4e-8 dB; 2^n is
**   exact (exponent bits). 0 dB gives exactly 1.
** tests/nodes/test_compressor.c measures both against libm over their whole range.
*/

/* Gains at or below -144 dB are silence: this dB value, which mg_dyn_amp_of maps to exactly 0
   (n = -1023 makes the 2^n scale +0). */
#define MG_DYN_MUTE_DB (-6159.0)

/*
** Level in dB of a detector power p (0, or clamped to [1e-30, 1e30]): -300 dB
** (MG_DYN_FLOOR_DB) for silence. The exponent is read with 64-bit integer operations and
** turned into a double by the 2^52 trick (no int64 conversion, which SSE2 lacks); p = 0 comes
** out near -3080 and is floored.
*/
static inline double mg_dyn_db(double p)
{
    uint64_t u, mb, eb;
    memcpy(&u, &p, sizeof u);
    /* e + 2048 in the top 12 bits of tmp, for p = m 2^e with m in [sqrt(1/2), sqrt(2)) */
    uint64_t tmp = u - 0x3fe6a09e667f3bcdULL /* sqrt(1/2) */ + 0x8000000000000000ULL;
    mb = u - (tmp & 0xfff0000000000000ULL) + 0x8000000000000000ULL;
    eb = (tmp >> 52) | 0x4330000000000000ULL; /* the double 2^52 + e + 2048 */
    double m, e;
    memcpy(&m, &mb, sizeof m);
    memcpy(&e, &eb, sizeof e);
    e -= 4503599627370496.0 + 2048.0;
    double t = (m - 1.0) / (m + 1.0), t2 = t * t;
    double at = t + t * t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7))); /* atanh t */
    double db = e * 3.0102999566398120 + 8.6858896380650366 * at;
    return db > MG_DYN_FLOOR_DB ? db : MG_DYN_FLOOR_DB;
}

/*
** 10^(db/20) for db in [MG_DYN_MUTE_DB, 6000] (use mg_dyn_mute first: this one has no
** -144 dB rule, so that loops over it vectorise). The nearest integer n of x comes from adding
** and subtracting 1.5 2^52, whose sum also holds n in its low bits.
*/
static inline double mg_dyn_amp_of(double db)
{
    double x = db * 0.16609640474436813; /* log2(10)/20 */
    double big = x + 6755399441055744.0; /* 1.5 2^52: the low bits are now n */
    double f = x - (big - 6755399441055744.0);
    double p = 1.0 + f * (0.6931471880262288 +
                          f * (0.24022650760568126 +
                               f * (0.05550357114219078 +
                                    f * (0.009618082557277852 +
                                         f * (0.0013390863364671234 +
                                              f * 0.0001545316294512069)))));
    uint64_t nb, sb;
    memcpy(&nb, &big, sizeof nb);
    sb = (nb + 1023) << 52; /* the double 2^n (the high bits of big shift out) */
    double s;
    memcpy(&s, &sb, sizeof s);
    return p * s;
}

/* The -144 dB rule of mg_db_to_amp: db, or MG_DYN_MUTE_DB at or below -144 dB (and for NaN). */
static inline double mg_dyn_mute(double db) { return db > -144.0 ? db : MG_DYN_MUTE_DB; }

/* dB to amplitude; -144 dB or below is exactly 0 (as mg_db_to_amp). */
static inline double mg_dyn_amp(double db) { return mg_dyn_amp_of(mg_dyn_mute(db)); }

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
** One step of the branching smoother, y + (1 - a)(x - y) written as x + a (y - x): attack
** coefficient when x > y. Once what is left of the distance is below 1e-9 dB it lands on x
** exactly, so a steady gain is exact (a -144 dB range is silence) and never decays into
** subnormals. The serial dependency is one subtraction, one multiplication and one addition.
*/
static inline double mg_dyn_smooth(double y, double x, double a_attack, double a_release)
{
    double left;
    /* a branch, not a select: predicted, the choice stays off the serial chain (measured
       faster than a select even on noisy music, where the direction changes often) */
    if (x > y)
        left = a_attack * (y - x);
    else
        left = a_release * (y - x);
    return fabs(left) < 1e-9 ? x : x + left;
}

/* The soft knee's curvature s/(2w) for mg_dyn_comp_gr (0 for a hard knee). */
static inline double mg_dyn_knee_h(double s, double w) { return w > 0 ? s / (2.0 * w) : 0.0; }

/*
** Compressor gain computer (GMR 2012, eq. 4): gain reduction in dB (>= 0) for level x,
** threshold t, knee width w (dB), slope s = 1 - 1/ratio and h = mg_dyn_knee_h(s, w):
**   0                             2(x - t) < -w
**   s (x - t + w/2)^2 / (2w)      2|x - t| <= w
**   s (x - t)                     2(x - t) > w
** evaluated without branches (so that a loop over it vectorises) as
** h (c + w/2)^2 + s max(x - t - w/2, 0) with c = x - t clamped to [-w/2, w/2]: exactly 0 below
** the knee, the parabola inside it, s w/2 + s (x - t - w/2) above it.
*/
static inline double mg_dyn_comp_gr(double x, double t, double s, double w, double h)
{
    double e = x - t, hw = 0.5 * w;
    double c = e < -hw ? -hw : e;
    c = c > hw ? hw : c;
    double u = c + hw, above = e - hw;
    above = above > 0.0 ? above : 0.0;
    return h * u * u + s * above;
}

#endif
