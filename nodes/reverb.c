/*
** reverb.c: the `reverb` node, an algorithmic stereo reverb: predelay, a multichannel
** diffuser, and a feedback delay network (FDN) of 8 or 16 modulated lines with per-line
** absorption filters. [control] create/prepare/tail/destroy; [rt] reset/process.
**
** Signal path (N = `lines`):
**   1. predelay: a stereo delay line read through mg_delayline.h's crossfading tap (changes of
**      `predelay` crossfade over 50 ms); the input is scaled by (1 - freeze) first.
**   2. spread: channel j of N gets L (j even) or R (j odd) times sqrt(2/N) and a fixed sign.
**   3. diffuser: 6 stages, each delays channel j by a fixed integer time drawn inside the j-th
**      of N equal slices of the stage's span, flips fixed signs and mixes the channels with a
**      normalised Hadamard matrix. Every stage is orthogonal (a multichannel allpass: no
**      colour, no ringing); the echo count multiplies by N per stage (N^6 paths), and the
**      stage spans double (the last one is longer than the shortest line, so the diffuser's
**      output overlaps the network's first returns): the echo density is Gaussian-like
**      within ~15 ms of the onset (tests/nodes/test_reverb.c, REV-8).
**   4. FDN: line j is read at delay m_j = base_j * size + depth * sin(2 pi r_j t + phi_j)
**      (slow sines, 0.6..1.4 x the preset rate, ~0.1-0.3 ms deep, so the modes move and do
**      not ring metallically) through a first-order allpass interpolator (unit magnitude:
**      no extra high-frequency loss per pass), then its absorption filter
**          A_j(z) = gamma_j * S_j(z),  gamma_j = 10^(-3 m_j / (fs * decay))
**      where S_j is an RBJ high shelf (mg_filter.h, S = 1) at `damp_freq` with high-frequency
**      gain gamma_j^(1/damping - 1). So every line loses 60 dB in `decay` seconds at low
**      frequencies and in damping * decay seconds at high frequencies; in between
**          1/T60(f) = (1/decay) (1 + (1/damping - 1) s(f)),
**      s(f) = the shelf's dB response over its high-frequency gain (0 at DC, 1/2 at
**      damp_freq, 1 at Nyquist; exact at DC and Nyquist, first order in the per-pass
**      loss in between). The N line outputs are mixed by the normalised Hadamard matrix
**      (orthogonal: the network's decay is set by the gammas alone) and added to the diffused
**      input to form what is written into the lines.
**   5. output: L and R are two orthogonal +-1/sqrt(N) projections of the N line inputs (so
**      the late tails are decorrelated), then a 2nd-order Butterworth high-pass at `low_cut`
**      (0 = off), mid/side width w: L' = M + w S, R' = M - w S, and the linear mix
**      out = (1 - mix) dry + mix wet.
** `freeze` = 1 makes every gamma 1 and every shelf flat (a lossless loop that holds the
** tail) and mutes the input; it is smoothed over 50 ms, intermediate values interpolate
** both (decay exponent and input gain times 1 - freeze).
**
** Presets (option `preset`) set the structure (line lengths, diffuser spans, modulation)
** and, at creation, the defaults of decay, predelay, damping, damp_freq, low_cut and width;
** parameters set afterwards override them.
**
** Control grid. Frames whose graph index is a multiple of GRID (32), and the first frame
** after a reset, start a grid step. There the gains, shelves and the low-cut are redesigned
** when their inputs changed, and their coefficients move linearly to the new design over the
** next 32 frames (stepping them measured up to 9 dB more splatter on a decay change). There
** too the modulation sines are evaluated (a rotating phasor per line, advanced one step at a
** time) for the step's first frame and the next step's, and each line's read is fixed for
** the step: the integer part D of the delay at the step's middle, and allpass coefficients
** eta = (1 - f)/(1 + f) for the fractions f = d - D at both ends, between which eta moves
** linearly, frame by frame. The delays move by at most 0.051 samples in a step (32 x depth x
** 2 pi x rate, plate), so f stays in [0.47, 1.53] (|eta| < 0.4: the interpolator's pole
** stays far inside the unit circle) and the linear eta is within 5e-4 samples of the exact
** fraction.
** Parameters that ramp are still read per frame (predelay, width, mix, the freeze input
** gain, and `size` changes, which start where they arrive). A `size` change crossfades
** (raised cosine, 50 ms) from every line's old read tap to one at the new length, each with
** its own allpass state; changes arriving during a fade wait for its end. (Sliding the taps
** instead makes the allpass interpolators ring at every integer crossing: measured -12 to
** -25 dB of splatter on a tone.) Everything is a function of graph time, so the output is the
** same for every block size.
**
** Processing order. The feed-forward front end (predelay, spread, diffuser) runs over runs of
** up to SEG (256) frames inside aligned windows of SEG frames; each run is then cut into
** chunks at grid points, so a chunk has at most 32 frames, for the lines and the output. Each
** stage runs over its whole run or chunk before the next (structure of arrays: channel j's
** frames are contiguous, and the loops over frames are vectorised). This reorders nothing
** that matters: the front end is feed-forward and depends on neither the grid steps nor the
** lines, and an FDN line is read at least D >= 32 frames back (checked in prepare), so every
** sample a chunk reads from a line was written by an earlier chunk; the lines' recursive
** parts (allpass, absorption filter) run frame by frame across all lines at once.
** Normalisations are folded into fixed gains (the diffuser's into its signs, the FDN
** matrix's into the absorption filters), so each Hadamard is a bare butterfly network. No
** latency (the predelay is the effect). Tail: predelay + diffuser + longest line + decay (to
** -60 dB); 60 s when frozen.
** Cost (one core, the node alone, bench_nodes, hall): the per-sample version took 375 ns per
** stereo frame with 8 lines (800 ns with 16). Three builds of the chunk stages, chosen in
** prepare: the baseline (SSE2: four frames per vector in the feed-forward stages, four lines
** per vector in the recursive part), AVX2 + FMA (eight frames per vector; the lines'
** recursive part eight lines per float vector and four per double vector with its states in
** registers; taps gathered and line outputs handed over frame-major through 8 x 8 register
** transposes; the recursive filters fused, see run8_avx2) and AVX-512 (sixteen frames per
** vector, eight lines per double vector). On a shared AVX-512 machine, measured side by side
** with the chunk-by-chunk builds of before (AVX2: 50-63 ns with 8 lines, 115-120 ns with 16):
** AVX-512 about 0.6 x that (33-37 ns; 16 lines 0.58 x), AVX2 + FMA 0.67 x, and the baseline
** build 0.7-0.8 x the baseline build of before.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_delayline.h"
#include "mg_filter.h"
#include "mg_node.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define REVERB_AVX2 1
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define AVX512_TARGET __attribute__((target("avx512f,avx512dq,avx2,fma")))
/* a * b + c rounded once, on vectors (only in functions built for AVX2 + FMA) */
#define FMA_F8(a, b, c) ((f8)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define FMA_D4(a, b, c) ((d4)_mm256_fmadd_pd((__m256d)(a), (__m256d)(b), (__m256d)(c)))
#define FMA_D8(a, b, c) ((d8)_mm512_fmadd_pd((__m512d)(a), (__m512d)(b), (__m512d)(c)))
#else
#define REVERB_AVX2 0
#define AVX2_TARGET
#define AVX512_TARGET
#define FMA_F8(a, b, c) ((a) * (b) + (c))
#define FMA_D4(a, b, c) ((a) * (b) + (c))
#define FMA_D8(a, b, c) ((a) * (b) + (c))
#endif
/* the chunk stages: inlined into each build of run */
#define STAGE static inline __attribute__((always_inline))

enum { OPT_PRESET, OPT_LINES };
enum {
    P_DECAY,
    P_PREDELAY,
    P_SIZE,
    P_DAMPING,
    P_DAMP_FREQ,
    P_LOW_CUT,
    P_WIDTH,
    P_MIX,
    P_FREEZE,
    N_PARAMS
};

#define MAX_LINES 16
#define STAGES 6
#define GRID 32 /* control grid (frames of graph time) and the longest chunk */
#define SEG 256 /* the longest run of the feed-forward front end (predelay, diffuser): a
                   multiple of GRID */
#define LANES 4 /* lines per vector in the lines' recursive stage (f4) */
#define FW_MAX 16 /* frames per vector in the feed-forward stages: 4 (f4), 8 (AVX2), 16 (AVX-512) */
/* ring samples mirrored past the end for contiguous spans: a chunk's worth, plus the sinc
   kernel for the predelay's fractional tap, plus the second interpolation point for the
   lines' allpass taps */
#define GUARD_PRE (SEG + MG_FD_TAPS)
#define GUARD_DIFF (SEG + FW_MAX) /* the last group of a run may read past its end */
#define GUARD_LINE (GRID + FW_MAX) /* gather8 reads whole groups of eight frames */
/* (a guard > GRID (SEG) also makes every ring at least 2 GRID (2 SEG) long: a chunk (a run),
   which lies inside an aligned window of GRID (SEG) frames, never wraps one) */
#define SIZE_MIN_X 0.25 /* smallest `size` */
#define SIZE_MAX_X 2.0  /* largest `size` */
#define PREDELAY_MAX_MS 500.0
#define PREDELAY_FADE_MS 50.0
#define SIZE_FADE_MS 50.0
#define TAIL_CAP_S 60.0
#define BUTTERWORTH_Q 0.70710678118654752

/*
** The hot loops use the GCC/Clang vector extension: f4 is LANES floats, f8 eight (the
** feed-forward stages of the AVX2 build, see reverb_process), d2 two doubles, and the
** compiler maps them to SSE2, AVX2, NEON... or scalar code. The arithmetic is IEEE per element
** and the build does not fuse a * b + c (GCC in ISO C mode; baseline x86-64 has no FMA) except
** where the code says so (FMA_*, fma(): the AVX2 and AVX-512 builds' recursive filters, the
** same in every loop), so a lane computes exactly what scalar code would: the output is the
** same whichever way a block is cut, whichever loop a frame goes through. Memory is reached
** through memcpy (unaligned loads and stores), so nothing in the state needs more than
** malloc's alignment (the delay lines are 64-byte aligned for speed only).
*/
typedef float f4 __attribute__((vector_size(LANES * sizeof(float))));
typedef double d2 __attribute__((vector_size(2 * sizeof(double))));
typedef int32_t i4 __attribute__((vector_size(LANES * sizeof(int32_t)))); /* f4's bits */
typedef float f8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t i8 __attribute__((vector_size(8 * sizeof(int32_t))));
typedef double d4 __attribute__((vector_size(4 * sizeof(double))));
typedef float f16 __attribute__((vector_size(16 * sizeof(float))));
typedef int32_t i16 __attribute__((vector_size(16 * sizeof(int32_t))));
typedef double d8 __attribute__((vector_size(8 * sizeof(double))));

static inline f4 ld4(const float *p)
{
    f4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st4(float *p, f4 v) { memcpy(p, &v, sizeof v); }
static inline d2 ld2(const double *p)
{
    d2 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st2(double *p, d2 v) { memcpy(p, &v, sizeof v); }


typedef struct preset {
    double decay, predelay, damping, damp_freq, low_cut, width; /* parameter defaults */
    double line_min_ms, line_max_ms;                            /* FDN lines at size 1 */
    double diff_ms[STAGES];                                     /* diffuser stage spans */
    double mod_ms, mod_hz;                                      /* line modulation */
} preset;

#define PRESET_CHOICES "room|plate|hall"
static const preset presets[] = {
    /* room: short lines, quick build, darker */
    {0.7, 4, 0.45, 4000, 60, 100, 9, 29, {0.4, 0.8, 1.5, 2.9, 5.9, 11.3}, 0.12, 0.7},
    /* plate: dense, bright, no predelay */
    {1.8, 0, 0.7, 6500, 40, 100, 11, 37, {0.4, 0.9, 1.7, 3.3, 6.7, 13.1}, 0.2, 0.9},
    /* hall: long lines, longer diffusion, predelay */
    {2.4, 18, 0.5, 3000, 30, 100, 29, 97, {1.3, 2.5, 4.9, 9.7, 19.9, 39.1}, 0.3, 0.35},
};

/*
** The lines' reads for one grid step (see the file comment): first-order Thiran allpass
** interpolation, y = eta (x[pos - D] - y1) + x[pos - D - 1] with eta = (1 - f)/(1 + f) for the
** delay D + f. Unit magnitude at every frequency, so a recirculating line loses no highs to
** it; the phase delay is D + f at DC and moves towards D + 1 near Nyquist (a fraction of a
** sample of dispersion, harmless in a reverb).
*/
typedef struct line_tap {
    uint32_t D[MAX_LINES]; /* integer delay: reads x[pos - D] and x[pos - D - 1] */
    float eta0[MAX_LINES]; /* allpass coefficient at the step's first frame */
    float deta[MAX_LINES]; /* its change per frame */
    float y1[MAX_LINES];   /* allpass state: y = eta (x[pos-D] - y1) + x[pos-D-1] */
} line_tap;

/* The N absorption biquads as arrays over lines (mg_bq_ramp semantics, one shared ramp). */
typedef struct absorb {
    double b0[MAX_LINES], b1[MAX_LINES], b2[MAX_LINES], a1[MAX_LINES], a2[MAX_LINES];
    double step[5][MAX_LINES];           /* per-frame increments of b0 b1 b2 a1 a2 */
    double target[5][MAX_LINES];         /* the design being ramped to */
    uint32_t left;                       /* frames until the coefficients reach the target */
    double s1[MAX_LINES], s2[MAX_LINES]; /* transposed direct form II states */
} absorb;

typedef struct reverb_state {
    /* [immutable] after create */
    int n;      /* lines */
    int preset; /* index into presets */
    /* [control] prepare */
    double rate;
    int block;
    int simd; /* the build of the chunk stages: 0 baseline, 1 AVX2, 2 AVX-512 */
    mg_dline pre[2];
    mg_dline diff[STAGES][MAX_LINES];
    uint32_t diff_d[STAGES][MAX_LINES];
    float diff_g[STAGES][MAX_LINES][FW_MAX]; /* fixed sign / sqrt(N) (the Hadamard's scale),
                                               repeated per lane */
    float in_g[MAX_LINES];                  /* spread gain sqrt(2/N) with a fixed sign */
    float cl[MAX_LINES], cr[MAX_LINES];     /* output projections */
    mg_dline line[MAX_LINES];
    double base[MAX_LINES];                      /* line lengths at size 1, samples */
    double depth;                                /* modulation depth, samples */
    double lfo_w[MAX_LINES];                     /* modulation rate, radians per frame */
    double lfo_cr[MAX_LINES], lfo_sr[MAX_LINES]; /* rotation by one grid step */
    int64_t tail_extra;                          /* diffuser + longest line at size 1 */
    /* [rt] (ring positions are graph indices mod 2^32: chunks never wrap a ring) */
    mg_xtap pretap;
    int primed;                  /* line lengths and coefficients initialised */
    float size_cur, size_next;   /* line lengths are base * size (+ modulation) */
    uint32_t size_pos, size_len; /* size crossfade: position, length (samples) */
    int size_fading;
    uint64_t step_at;  /* graph index of the current grid step's first frame */
    uint32_t step_len; /* its length: GRID, or less for the first after a reset */
    double lfo_c[MAX_LINES], lfo_s[MAX_LINES]; /* modulation phasor at the next step */
    double mod0[MAX_LINES], mod1[MAX_LINES];   /* modulation at this step's start, the next's */
    line_tap tap[2]; /* tap[cur]: lengths at size_cur; the other at size_next (fading) */
    int cur;
    absorb ab; /* gamma_j * shelf_j / sqrt(N) */
    mg_bq_ramp hp;
    mg_biquad_state hp_z[2];
    /* inputs of the last design */
    float k_decay, k_damping, k_damp_freq, k_freeze, k_low_cut, k_size;
    /* [rt] scratch: rows of a run of the front end (SEG frames), of a chunk (GRID) */
    float x[2][SEG];                  /* the predelay output */
    float v[MAX_LINES][SEG + FW_MAX]; /* diffuser channels (a chunk's last group may read
                                         past its end) */
    float y[MAX_LINES][GRID];         /* line outputs (interpolated and absorbed) */
    float yt[GRID][MAX_LINES];        /* the same, frame-major (the AVX2 build) */
    float tx[2][GRID + FW_MAX][MAX_LINES]; /* samples under each tap, frame-major (rows
                                              past L + 1: don't care) */
    float wet[2][GRID];
} reverb_state;

static const mg_port_desc reverb_in[] = {
    {.name = "in", .channels = 2, .doc = "stereo signal (mono is up-mixed by the engine)"}};
static const mg_port_desc reverb_out[] = {
    {.name = "out", .channels = 2, .doc = "stereo reverb mixed with the signal"}};
static const mg_param_desc reverb_params[] = {
    {.name = "decay", .unit = "s", .min = 0.1, .max = 60, .def = 2.4, .smooth_ms = 50,
     .doc = "RT60 below damp_freq: 60 dB of decay in this time; line gain "
            "gamma = 10^(-3 m / (fs decay)) for a line of m samples"},
    {.name = "predelay", .unit = "ms", .min = 0, .max = PREDELAY_MAX_MS, .def = 18,
     .smooth_ms = 0, .doc = "delay before the reverb starts; changes crossfade over 50 ms"},
    {.name = "size", .unit = "", .min = SIZE_MIN_X, .max = SIZE_MAX_X, .def = 1, .smooth_ms = 0,
     .doc = "scales the delay-line lengths (echo spacing; decay is kept); changes crossfade "
            "over 50 ms"},
    {.name = "damping", .unit = "", .min = 0.05, .max = 1, .def = 0.5, .smooth_ms = 50,
     .doc = "high-frequency decay ratio T60(high)/T60(low); 1 = no damping"},
    {.name = "damp_freq", .unit = "Hz", .min = 200, .max = 20000, .def = 3000, .smooth_ms = 50,
     .doc = "corner of the damping shelf: decay rate half-way (in dB) between low and high"},
    {.name = "low_cut", .unit = "Hz", .min = 0, .max = 1000, .def = 30, .smooth_ms = 50,
     .doc = "2nd-order Butterworth high-pass on the wet signal; 0 = off"},
    {.name = "width", .unit = "%", .min = 0, .max = 100, .def = 100, .smooth_ms = 20,
     .doc = "stereo width of the wet signal (side gain); 0 = mono"},
    {.name = "mix", .unit = "%", .min = 0, .max = 100, .def = 100, .smooth_ms = 20,
     .doc = "wet share, linear: out = (1 - mix) dry + mix wet"},
    {.name = "freeze", .unit = "", .min = 0, .max = 1, .def = 0, .smooth_ms = 50,
     .flags = MG_PARAM_INT,
     .doc = "1 = infinite decay: the loop becomes lossless and the input is muted"},
};
static const mg_option_desc reverb_opts[] = {
    {.name = "preset", .type = MG_OPT_ENUM, .choices = PRESET_CHOICES, .def = 2,
     .doc = "structure and parameter defaults: room (0.7 s, lines 9-29 ms), plate (1.8 s, "
            "lines 11-37 ms), hall (2.4 s, lines 29-97 ms, 18 ms predelay)"},
    {.name = "lines", .type = MG_OPT_INT, .min = 8, .max = 16, .def = 8,
     .doc = "FDN delay lines: 8 or 16 (16: denser modes, twice the work)"},
};

/* ---- structure ---- */

/* [any] deterministic generator for the fixed structure (LCG, Numerical Recipes constants) */
static double rnd(uint32_t *x)
{
    *x = *x * 1664525u + 1013904223u;
    return (double)(*x >> 8) / 16777216.0;
}

static int is_prime(long v)
{
    if (v < 2)
        return 0;
    for (long k = 2; k * k <= v; k++)
        if (v % k == 0)
            return 0;
    return 1;
}

static mg_status reverb_create(void *state, mg_node *node)
{
    reverb_state *s = state;
    s->preset = (int)mg_node_opt_num(node, OPT_PRESET);
    s->n = (int)mg_node_opt_num(node, OPT_LINES);
    if (s->n != 8 && s->n != 16)
        return mg_node_errorf(node, MG_ERR_RANGE, "lines must be 8 or 16, got %d", s->n);
    const preset *p = &presets[s->preset];
    /* preset defaults; parameters set after creation override them */
    mg_node_set_index(node, P_DECAY, p->decay);
    mg_node_set_index(node, P_PREDELAY, p->predelay);
    mg_node_set_index(node, P_DAMPING, p->damping);
    mg_node_set_index(node, P_DAMP_FREQ, p->damp_freq);
    mg_node_set_index(node, P_LOW_CUT, p->low_cut);
    mg_node_set_index(node, P_WIDTH, p->width);
    return MG_OK;
}

static void reverb_free_lines(reverb_state *s)
{
    for (int c = 0; c < 2; c++)
        mg_dline_free(&s->pre[c]);
    for (int j = 0; j < MAX_LINES; j++) {
        mg_dline_free(&s->line[j]);
        for (int k = 0; k < STAGES; k++)
            mg_dline_free(&s->diff[k][j]);
    }
}

static void reverb_reset(void *state)
{
    reverb_state *s = state;
    for (int c = 0; c < 2; c++) {
        mg_dline_clear(&s->pre[c]);
        mg_biquad_reset(&s->hp_z[c]);
    }
    for (int j = 0; j < s->n; j++) {
        mg_dline_clear(&s->line[j]);
        for (int k = 0; k < STAGES; k++)
            mg_dline_clear(&s->diff[k][j]);
        s->ab.s1[j] = s->ab.s2[j] = 0;
        s->tap[0].y1[j] = s->tap[1].y1[j] = 0;
        double ph = 2 * M_PI * 0.6180339887 * j;
        s->lfo_c[j] = cos(ph);
        s->lfo_s[j] = sin(ph);
    }
    s->ab.left = 0;
    s->cur = 0;
    s->primed = 0;
    s->size_fading = 0;
    s->size_pos = 0;
    mg_xtap_reset(&s->pretap);
}

/*
** [control] Lay out the structure for the rate: line lengths spread geometrically between the
** preset's extremes and moved to distinct primes (no common echo periods), diffuser delays
** one per slice of each stage's span, fixed signs, and output projections that are
** orthogonal to each other and not aligned with any Hadamard row (which would reduce an
** output to a single line). Rings get room for a chunk on top of their longest delay.
*/
static mg_status reverb_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    reverb_state *s = state;
    const preset *p = &presets[s->preset];
    const int n = s->n;
    double fs = pr->rate;
    reverb_free_lines(s);
    s->rate = fs;
    s->block = pr->block;
#if REVERB_AVX2
    s->simd = mg_simd_level() >= MG_SIMD_AVX512 ? 2 : mg_simd_level() >= MG_SIMD_AVX2;
#endif
    s->depth = p->mod_ms * 0.001 * fs;
    int ok = 1;
    uint64_t pre_len = (uint64_t)ceil(PREDELAY_MAX_MS * 0.001 * fs) + MG_FD_TAPS + SEG + 4;
    for (int c = 0; c < 2 && ok; c++)
        ok = mg_dline_init_guard(&s->pre[c], pre_len, GUARD_PRE) == 0;
    uint32_t seed = 0x5eed0000u + (uint32_t)s->preset * 7919u + (uint32_t)n;
    long prev = 0;
    double diff_total = 0, hk = 1.0 / sqrt((double)n);
    for (int k = 0; k < STAGES; k++) {
        double span = p->diff_ms[k] * 0.001 * fs;
        diff_total += span;
        for (int j = 0; j < n && ok; j++) {
            double d = span * ((double)j + rnd(&seed)) / n;
            s->diff_d[k][j] = d < 1 ? 1 : (uint32_t)d;
            float g = (float)(rnd(&seed) < 0.5 ? -hk : hk);
            for (int l = 0; l < FW_MAX; l++)
                s->diff_g[k][j][l] = g;
            /* at least 4 SEG: the guard's copy (SEG + FW_MAX samples per turn) stays small */
            uint64_t len = (uint64_t)s->diff_d[k][j] + SEG + 2;
            ok = mg_dline_init_guard(&s->diff[k][j], len < 4 * SEG ? 4 * SEG : len,
                                     GUARD_DIFF) == 0;
        }
    }
    double longest = 0, shortest = 0;
    for (int j = 0; j < n && ok; j++) {
        double ms = p->line_min_ms * pow(p->line_max_ms / p->line_min_ms, (double)j / (n - 1));
        long v = lrint(ms * 0.001 * fs);
        if (v <= prev)
            v = prev + 1;
        while (!is_prime(v))
            v++;
        prev = v;
        s->base[j] = (double)v;
        longest = (double)v;
        if (j == 0)
            shortest = (double)v;
        ok = mg_dline_init_guard(&s->line[j], (uint64_t)ceil(v * SIZE_MAX_X + s->depth) + 8,
                                 GUARD_LINE) == 0;
        double hz = p->mod_hz * (0.6 + 0.8 * j / (n - 1.0));
        s->lfo_w[j] = 2 * M_PI * hz / fs;
        s->lfo_cr[j] = cos(s->lfo_w[j] * GRID);
        s->lfo_sr[j] = sin(s->lfo_w[j] * GRID);
        s->in_g[j] = (float)(sqrt(2.0 / n) * (rnd(&seed) < 0.5 ? -1.0 : 1.0));
    }
    if (!ok) {
        reverb_free_lines(s);
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the reverb's delay lines");
    }
    /* a chunk reads only what earlier chunks wrote: D >= GRID on the shortest line at the
       smallest size with the modulation at its trough (D = floor(d - 0.5) > d - 1.5) */
    if (shortest * SIZE_MIN_X - s->depth - 1.6 < GRID) {
        reverb_free_lines(s);
        return mg_node_errorf(node, MG_ERR_RANGE, "rate %g Hz too low for the reverb's lines",
                              fs);
    }
    s->tail_extra = (int64_t)ceil(diff_total + longest * SIZE_MAX_X);
    /* output projections: a fixed sign pattern, and the same with every other sign flipped
       (orthogonal to it). The patterns' Hadamard transforms are spread evenly: over 4 of 8
       rows (the most 3 bits allow), over all 16 rows (a bent function, x0 x1 ^ x2 x3). */
    static const uint16_t pat[2] = {0x1d, 0x7888}; /* bit j set: element j negative */
    float k = 1.0f / sqrtf((float)n);
    for (int j = 0; j < n; j++) {
        s->cl[j] = ((pat[n == 16] >> j) & 1 ? -k : k);
        s->cr[j] = (j & 1) ? -s->cl[j] : s->cl[j];
    }
    mg_xtap_setup(&s->pretap, (uint32_t)lrint(PREDELAY_FADE_MS * 0.001 * fs), MG_FD_HALF);
    s->size_len = (uint32_t)lrint(SIZE_FADE_MS * 0.001 * fs);
    reverb_reset(s);
    return MG_OK;
}

/* [control] predelay + diffuser + longest line + decay, or the cap when frozen */
static int64_t reverb_tail(const void *state, const mg_node *node, double rate)
{
    const reverb_state *s = state;
    if (mg_node_get_index(node, P_FREEZE) >= 0.5)
        return (int64_t)ceil(TAIL_CAP_S * rate);
    double t = mg_node_get_index(node, P_DECAY) + mg_node_get_index(node, P_PREDELAY) * 0.001;
    return (int64_t)ceil(t * rate) + s->tail_extra + MG_FD_TAPS;
}

/* ---- the grid step ---- */

/* [rt] Head the absorption filters for line j to q over len frames (0: jump), as
   mg_bq_ramp_set does for one biquad. */
static void absorb_set(absorb *ab, int j, const mg_biquad *q, uint32_t len)
{
    const double t[5] = {q->b0, q->b1, q->b2, q->a1, q->a2};
    double *c[5] = {ab->b0, ab->b1, ab->b2, ab->a1, ab->a2};
    for (int m = 0; m < 5; m++) {
        ab->target[m][j] = t[m];
        if (len == 0)
            c[m][j] = t[m];
        else
            ab->step[m][j] = (t[m] - c[m][j]) / (double)len;
    }
}

/*
** [rt] Redesign what changed (line gains and shelves, the low-cut) for the coming grid step:
** the filters move to the new designs linearly over GRID frames. `size` is the lines'
** effective scale (during a size crossfade, the mix of the two).
*/
static void design(reverb_state *s, float decay, float damping, float damp_freq, float freeze,
                   float low_cut, float size)
{
    uint32_t len = s->primed ? GRID : 0;
    int lines = !s->primed || decay != s->k_decay || damping != s->k_damping ||
                damp_freq != s->k_damp_freq || freeze != s->k_freeze || size != s->k_size;
    if (lines) {
        double live = 1.0 - freeze, hk = 1.0 / sqrt((double)s->n);
        for (int j = 0; j < s->n; j++) {
            double m = s->base[j] * size; /* mean loop delay, samples */
            double gdb = -60.0 * m / (s->rate * decay) * live; /* gamma in dB */
            double g = pow(10.0, gdb / 20.0) * hk; /* the FDN matrix's scale rides along */
            mg_biquad q = mg_biquad_design(MG_FT_HIGHSHELF, damp_freq, BUTTERWORTH_Q,
                                           gdb * (1.0 / damping - 1.0), s->rate);
            q.b0 *= g;
            q.b1 *= g;
            q.b2 *= g;
            absorb_set(&s->ab, j, &q, len);
        }
        s->ab.left = len;
        s->k_size = size;
        s->k_decay = decay;
        s->k_damping = damping;
        s->k_damp_freq = damp_freq;
        s->k_freeze = freeze;
    }
    if (!s->primed || low_cut != s->k_low_cut) {
        mg_biquad q = mg_biquad_design(MG_FT_HIGHPASS, low_cut, BUTTERWORTH_Q, 0, s->rate);
        int was_on = s->primed && s->k_low_cut > 0;
        mg_bq_ramp_set(&s->hp, &q, low_cut > 0 && was_on ? len : 0);
        if (!was_on) { /* switched on: start from silence, not from a stale state */
            mg_biquad_reset(&s->hp_z[0]);
            mg_biquad_reset(&s->hp_z[1]);
        }
        s->k_low_cut = low_cut;
    }
}

/*
** [rt] The lines' reads at `size` for the current grid step: the integer delay at the step's
** middle and the allpass coefficients at its two ends (see the file comment). The allpass
** states are kept.
*/
STAGE void tap_setup(const reverb_state *s, line_tap *tp, float size, const int n)
{
    double len = (double)s->step_len;
    int32_t Di[MAX_LINES];
    float eta0[MAX_LINES], deta[MAX_LINES]; /* (locals: tp may alias s, and the loop then
                                               stays scalar) */
    for (int j = 0; j < n; j++) { /* vectorised */
        double m = s->base[j] * size;
        double d0 = m + s->mod0[j], d1 = m + s->mod1[j];
        /* floor by truncation: the argument is positive (> GRID, checked in prepare) */
        Di[j] = (int32_t)(0.5 * (d0 + d1) - 0.5);
        double D = (double)Di[j];
        double f0 = d0 - D, f1 = d1 - D;
        double e0 = (1 - f0) / (1 + f0), e1 = (1 - f1) / (1 + f1);
        eta0[j] = (float)e0;
        deta[j] = (float)((e1 - e0) / len);
    }
    memcpy(tp->D, Di, (size_t)n * sizeof Di[0]);
    memcpy(tp->eta0, eta0, (size_t)n * sizeof eta0[0]);
    memcpy(tp->deta, deta, (size_t)n * sizeof deta[0]);
}

static inline float pv(const mg_pval *p, uint32_t i) { return p->constant ? p->v[0] : p->v[i]; }

/* [rt] Whether parameter p is v at every frame i0 .. i0 + L - 1 (so a chunk may skip the
   per-frame handling of changes). */
static inline int pv_all(const mg_pval *p, uint32_t i0, uint32_t L, float v)
{
    if (p->constant)
        return p->v[0] == v;
    for (uint32_t t = 0; t < L; t++)
        if (p->v[i0 + t] != v)
            return 0;
    return 1;
}

/* [rt] raised-cosine weight of the new line lengths during a size crossfade */
static inline float size_weight(const reverb_state *s)
{
    return (float)(0.5 - 0.5 * cos(M_PI * (double)s->size_pos / (double)s->size_len));
}

/* [rt] Clean the recursive states (NaN, infinities, values decayed below 1e-30). */
STAGE void clean_states(reverb_state *s, const int n)
{
    for (int j = 0; j < n; j++) { /* branch-free, so that it vectorises */
        double z1 = s->ab.s1[j], z2 = s->ab.s2[j], sum = z1 + z2;
        /* sum - sum is 0 exactly when sum is finite */
        int keep = (sum - sum == 0) & (fabs(z1) + fabs(z2) >= 1e-30);
        s->ab.s1[j] = keep ? z1 : 0;
        s->ab.s2[j] = keep ? z2 : 0;
        s->tap[0].y1[j] = mg_dline_clean(s->tap[0].y1[j]);
        s->tap[1].y1[j] = mg_dline_clean(s->tap[1].y1[j]);
    }
    mg_dl_biquad_clean(&s->hp_z[0]);
    mg_dl_biquad_clean(&s->hp_z[1]);
}

/*
** [rt] Start the grid step at frame i of the block: clean the states, advance the modulation
** phasors to the step's end, redesign, and fix the lines' reads for the step.
*/
STAGE void step_begin(reverb_state *s, const mg_block *b, uint32_t i, const int n)
{
    const mg_pval *P = b->p;
    uint64_t g = b->pos + i;
    clean_states(s, n);
    if (!s->primed)
        s->size_cur = pv(&P[P_SIZE], i);
    s->step_at = g;
    s->step_len = GRID - (uint32_t)(g % GRID);
    double rc[MAX_LINES], rs[MAX_LINES]; /* the rotation over this step */
    if (s->step_len != GRID) { /* the first step after a reset may be short */
        for (int j = 0; j < n; j++) {
            rc[j] = cos(s->lfo_w[j] * s->step_len);
            rs[j] = sin(s->lfo_w[j] * s->step_len);
        }
    } else {
        memcpy(rc, s->lfo_cr, sizeof rc);
        memcpy(rs, s->lfo_sr, sizeof rs);
    }
    for (int j = 0; j < n; j++) { /* vectorised */
        double c = s->lfo_c[j], sn = s->lfo_s[j], cr = rc[j], sr = rs[j];
        double c2 = c * cr - sn * sr, s2 = sn * cr + c * sr;
        double norm = 1.5 - 0.5 * (c2 * c2 + s2 * s2); /* keep the rotation on the circle */
        s->mod0[j] = s->depth * sn;
        s->lfo_c[j] = c2 * norm;
        s->lfo_s[j] = s2 * norm;
        s->mod1[j] = s->depth * s->lfo_s[j];
    }
    float a = s->size_fading ? size_weight(s) : 0.0f; /* weight of the new lengths */
    design(s, pv(&P[P_DECAY], i), pv(&P[P_DAMPING], i), pv(&P[P_DAMP_FREQ], i),
           pv(&P[P_FREEZE], i), pv(&P[P_LOW_CUT], i),
           s->size_cur + a * (s->size_next - s->size_cur));
    tap_setup(s, &s->tap[s->cur], s->size_cur, n);
    if (s->size_fading)
        tap_setup(s, &s->tap[!s->cur], s->size_next, n);
    s->primed = 1;
}

/* ---- the chunk stages ([rt]; n is a constant in each specialisation of run) ---- */

#if defined(__clang__)
#define SHUF8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUF8(a, b, ...) __builtin_shuffle(a, b, (i8){__VA_ARGS__})
#endif

/* [rt] In place: the 8 x 8 transpose of r (r[i][l] <-> r[l][i]), in three rounds of
   shuffles (AVX2: unpack, shuffle, 128-bit permute). */
STAGE void transpose8(f8 *r)
{
    f8 a[8], c[8];
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        a[i] = SHUF8(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        a[i + 1] = SHUF8(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4) {
        c[i] = SHUF8(a[i], a[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        c[i + 1] = SHUF8(a[i], a[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        c[i + 2] = SHUF8(a[i + 1], a[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        c[i + 3] = SHUF8(a[i + 1], a[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[i] = SHUF8(c[i], c[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        r[i + 4] = SHUF8(c[i], c[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/* [rt] The 16 frames of lo then hi in one vector. */
#if defined(__clang__) || __GNUC__ >= 12
#define CAT16(lo, hi) \
    __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#else
STAGE f16 cat16(f8 lo, f8 hi)
{
    float v[16];
    memcpy(v, &lo, sizeof lo);
    memcpy(v + 8, &hi, sizeof hi);
    f16 r;
    memcpy(&r, v, sizeof r);
    return r;
}
#define CAT16(lo, hi) cat16(lo, hi)
#endif

/* The feed-forward stages (Hadamard rows, line writes) four frames wide (hadamard_rows4,
   lines_write4), eight wide for the AVX2 build (hadamard_rows8, lines_write8) and sixteen
   for the AVX-512 one (hadamard_rows16, lines_write16). */
#define FV f4
#define FIV i4
#define FW 4
#define FR(name) name##4
#include "reverb_frames.h"
#undef FV
#undef FIV
#undef FW
#undef FR
#define FV f8
#define FIV i8
#define FW 8
#define FR(name) name##8
#include "reverb_frames.h"
#undef FV
#undef FIV
#undef FW
#undef FR
#define FV f16
#define FIV i16
#define FW 16
#define FR(name) name##16
#include "reverb_frames.h"
#undef FV
#undef FIV
#undef FW
#undef FR


/* 1. The input (times 1 - freeze, cleaned) into the predelay lines, then their tap into x. */
STAGE void predelay(reverb_state *s, const mg_block *b, uint32_t i0, uint32_t L,
                            uint32_t pos)
{
    const mg_pval *P = b->p;
    const mg_pval *fz = &P[P_FREEZE];
    for (int c = 0; c < 2; c++) {
        const float *in = b->in[0].ch[c] + i0;
        float *o = mg_dline_wspan(&s->pre[c], pos);
        if (fz->constant)
            for (uint32_t t = 0; t < L; t++)
                o[t] = mg_dline_clean(in[t] * (1.0f - fz->v[0]));
        else
            for (uint32_t t = 0; t < L; t++)
                o[t] = mg_dline_clean(in[t] * (1.0f - fz->v[i0 + t]));
        mg_dline_wrote(&s->pre[c], pos, L);
    }
    float ms = pv(&P[P_PREDELAY], i0);
    if (mg_xtap_steady(&s->pretap, ms * 0.001 * s->rate) && pv_all(&P[P_PREDELAY], i0, L, ms)) {
        /* stepping the tap would change nothing */
        for (int c = 0; c < 2; c++)
            mg_fdtap_read_block(&s->pretap.cur, &s->pre[c], pos, s->x[c], L);
        return;
    }
    for (uint32_t t = 0; t < L; t++) {
        mg_xtap_step(&s->pretap, pv(&P[P_PREDELAY], i0 + t) * 0.001 * s->rate);
        s->x[0][t] = mg_xtap_read(&s->pretap, &s->pre[0], pos + t);
        s->x[1][t] = mg_xtap_read(&s->pretap, &s->pre[1], pos + t);
    }
}

/*
** 2-3. Spread the predelayed pair over the N channels and diffuse them: each stage reads its
** rings and writes its output straight into the next stage's (the last one into s->v).
*/
STAGE void diffuse(reverb_state *s, uint32_t L, uint32_t pos, const int n, const int wide)
{
    const float *src[MAX_LINES];
    float *dst[MAX_LINES];
    for (int j = 0; j < n; j++) {
        float *o = mg_dline_wspan(&s->diff[0][j], pos);
        for (uint32_t t = 0; t < L; t++)
            o[t] = s->x[j & 1][t] * s->in_g[j];
        mg_dline_wrote(&s->diff[0][j], pos, L);
    }
    for (int k = 0; k < STAGES; k++) {
        for (int j = 0; j < n; j++) {
            src[j] = mg_dline_span(&s->diff[k][j], pos - s->diff_d[k][j]);
            dst[j] = k + 1 < STAGES ? mg_dline_wspan(&s->diff[k + 1][j], pos) : s->v[j];
        }
        if (wide == 2)
            hadamard_rows16(dst, src, s->diff_g[k][0], n, L);
        else if (wide)
            hadamard_rows8(dst, src, s->diff_g[k][0], n, L);
        else
            hadamard_rows4(dst, src, s->diff_g[k][0], n, L);
        if (k + 1 < STAGES)
            for (int j = 0; j < n; j++)
                mg_dline_wrote(&s->diff[k + 1][j], pos, L);
    }
}

/* The samples under tap tp for frames 0..L of the chunk, frame-major: tx[t][j] holds
   x[pos + t - D_j - 1], so frame t reads tx[t + 1][j] (x[pos-D]) and tx[t][j]. */
STAGE void gather(const reverb_state *s, const line_tap *tp, float (*tx)[MAX_LINES],
                          uint32_t L, uint32_t pos, const int n)
{
    for (int j = 0; j < n; j++) {
        const float *x = mg_dline_span(&s->line[j], pos - tp->D[j] - 1);
        for (uint32_t t = 0; t <= L; t++)
            tx[t][j] = x[t];
    }
}

/* gather for the AVX2 build: eight frames of eight lines at a time, transposed in registers
   (frames up to the next multiple of eight past L: don't-care values) */
STAGE void gather8(const reverb_state *s, const line_tap *tp, float (*tx)[MAX_LINES],
                   uint32_t L, uint32_t pos, const int n)
{
#pragma GCC unroll 2
    for (int j0 = 0; j0 < n; j0 += 8) {
        const float *x[8];
        for (int l = 0; l < 8; l++)
            x[l] = mg_dline_span(&s->line[j0 + l], pos - tp->D[j0 + l] - 1);
        for (uint32_t t = 0; t <= L; t += 8) {
            f8 r[8];
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++)
                memcpy(&r[l], x[l] + t, sizeof r[l]);
            transpose8(r);
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++)
                memcpy(tx[t + l] + j0, &r[l], sizeof r[l]);
        }
    }
}

/* One frame of the absorption filters' coefficient ramp (mg_bq_ramp_tick on the arrays). */
STAGE void absorb_tick(absorb *ab, const int n)
{
    if (!ab->left)
        return;
    if (--ab->left == 0) {
        memcpy(ab->b0, ab->target[0], sizeof ab->b0);
        memcpy(ab->b1, ab->target[1], sizeof ab->b1);
        memcpy(ab->b2, ab->target[2], sizeof ab->b2);
        memcpy(ab->a1, ab->target[3], sizeof ab->a1);
        memcpy(ab->a2, ab->target[4], sizeof ab->a2);
        return;
    }
    for (int j = 0; j < n; j++) {
        ab->b0[j] += ab->step[0][j];
        ab->b1[j] += ab->step[1][j];
        ab->b2[j] += ab->step[2][j];
        ab->a1[j] += ab->step[3][j];
        ab->a2[j] += ab->step[4][j];
    }
}

/*
** One frame of line j's absorption filter: transposed direct form II in double, as
** mg_dl_biquad_step, but with the first state's update summed as (b1 x + s2) - a1 y, so the
** loop-carried path is one multiply and two adds (12 cycles, not 16, on current x86).
*/
STAGE float absorb_step(absorb *ab, double *z1, double *z2, int j, float r, const int fused)
{
    double x = r, y;
    if (fused) { /* the AVX2 and AVX-512 builds: fused multiply-adds, 8 cycles per frame */
        y = fma(ab->b0[j], x, z1[j]);
        z1[j] = fma(-ab->a1[j], y, fma(ab->b1[j], x, z2[j]));
        z2[j] = fma(-ab->a2[j], y, ab->b2[j] * x);
        return (float)y;
    }
    y = ab->b0[j] * x + z1[j];
    z1[j] = ab->b1[j] * x + z2[j] - ab->a1[j] * y;
    z2[j] = ab->b2[j] * x - ab->a2[j] * y;
    return (float)y;
}

/* One step of a line's allpass interpolator (see line_tap), fused as absorb_step. */
STAGE float allpass_step(float eta, float x1, float y1, float x0, const int fused)
{
    return fused ? fmaf(eta, x1 - y1, x0) : eta * (x1 - y1) + x0;
}

/* One frame of the absorption filters of lines j, j + 1 (absorb_step, two lanes). */
STAGE d2 absorb_step2(const absorb *ab, double *z1, double *z2, int j, d2 x)
{
    d2 y = ld2(ab->b0 + j) * x + ld2(z1 + j);
    st2(z1 + j, ld2(ab->b1 + j) * x + ld2(z2 + j) - ld2(ab->a1 + j) * y);
    st2(z2 + j, ld2(ab->b2 + j) * x - ld2(ab->a2 + j) * y);
    return y;
}

/*
** 4a, the common case: no size fade in the chunk. The same arithmetic as the general loop
** below, lane for lane, LANES lines at a time.
*/
STAGE void lines_read_steady(reverb_state *s, const line_tap *A,
                                     float (*ta)[MAX_LINES], float *ya, double *z1, double *z2,
                                     uint32_t L, uint32_t k0, const int n)
{
    absorb *ab = &s->ab;
    for (uint32_t t = 0; t < L; t++) {
        float kf = (float)(k0 + t);
        absorb_tick(ab, n);
        for (int j = 0; j < n; j += LANES) {
            f4 eta = ld4(A->eta0 + j) + kf * ld4(A->deta + j);
            f4 r = eta * (ld4(ta[t + 1] + j) - ld4(ya + j)) + ld4(ta[t] + j);
            st4(ya + j, r);
            d2 lo = absorb_step2(ab, z1, z2, j, (d2){r[0], r[1]});
            d2 hi = absorb_step2(ab, z1, z2, j + 2, (d2){r[2], r[3]});
            s->y[j][t] = (float)lo[0];
            s->y[j + 1][t] = (float)lo[1];
            s->y[j + 2][t] = (float)hi[0];
            s->y[j + 3][t] = (float)hi[1];
        }
    }
}

/* The allpass states and coefficients of lines 8q .. 8q + 7 as vectors (the steady loops). */
static inline __attribute__((always_inline)) AVX2_TARGET void
allpass8_load(const float *ya, const line_tap *A, int q, f8 *y1, f8 *e0, f8 *de)
{
    memcpy(y1, ya + 8 * q, sizeof *y1);
    memcpy(e0, A->eta0 + 8 * q, sizeof *e0);
    memcpy(de, A->deta + 8 * q, sizeof *de);
}

/* One frame of the allpass interpolators of lines 8q .. 8q + 7 (allpass_step, fused), in
   the AVX2 and AVX-512 builds: returns their outputs, which are also the new states y1. */
static inline __attribute__((always_inline)) AVX2_TARGET f8
allpass8(float (*ta)[MAX_LINES], uint32_t t, int q, f8 e0, f8 de, float kf, f8 *y1)
{
    f8 x1, x0;
    memcpy(&x1, ta[t + 1] + 8 * q, sizeof x1);
    memcpy(&x0, ta[t] + 8 * q, sizeof x0);
    f8 eta = e0 + kf * de;
    *y1 = FMA_F8(eta, x1 - *y1, x0);
    return *y1;
}

/* One frame of the absorption filters (absorb_step, fused) of the lines at i.. in the arrays
   of ab, as many as the double vector type V holds, with FMA its fused multiply-add: input x,
   states Z1 and Z2 (updated), output into y. */
#define ABSORB_FUSED(V, FMA, ab, i, x, Z1, Z2, y)                                              \
    do {                                                                                       \
        V b0_, b1_, b2_, a1_, a2_;                                                             \
        memcpy(&b0_, (ab)->b0 + (i), sizeof b0_);                                              \
        memcpy(&b1_, (ab)->b1 + (i), sizeof b1_);                                              \
        memcpy(&b2_, (ab)->b2 + (i), sizeof b2_);                                              \
        memcpy(&a1_, (ab)->a1 + (i), sizeof a1_);                                              \
        memcpy(&a2_, (ab)->a2 + (i), sizeof a2_);                                              \
        (y) = FMA(b0_, x, Z1);                                                                 \
        (Z1) = FMA(-a1_, y, FMA(b1_, x, Z2));                                                  \
        (Z2) = FMA(-a2_, y, b2_ * (x));                                                        \
    } while (0)

/*
** 4a, the common case in the AVX2 build: the general loop's arithmetic (with fused
** multiply-adds, as that loop has in this build), lane for lane, eight lines per float vector
** and four per double vector, with the recursive states held in registers across the chunk.
** (Not forced inline: it is built for AVX2 + FMA only.)
*/
static inline AVX2_TARGET void lines_read_steady8(reverb_state *s, const line_tap *A,
                                                  float (*ta)[MAX_LINES], float *ya, double *z1,
                                                  double *z2, uint32_t L, uint32_t k0,
                                                  const int n)
{
    absorb *ab = &s->ab;
    enum { NF = MAX_LINES / 8, ND = MAX_LINES / 4 };
    f8 y1[NF], e0[NF], de[NF];
    d4 Z1[ND], Z2[ND];
#pragma GCC unroll 4
    for (int q = 0; q < n / 8; q++)
        allpass8_load(ya, A, q, &y1[q], &e0[q], &de[q]);
#pragma GCC unroll 4
    for (int q = 0; q < n / 4; q++) {
        memcpy(&Z1[q], z1 + 4 * q, sizeof Z1[q]);
        memcpy(&Z2[q], z2 + 4 * q, sizeof Z2[q]);
    }
    for (uint32_t t = 0; t < L; t++) {
        float kf = (float)(k0 + t);
        absorb_tick(ab, n);
#pragma GCC unroll 4
        for (int q = 0; q < n / 8; q++) {
            f8 r = allpass8(ta, t, q, e0[q], de[q], kf, &y1[q]);
            f4 rl, rh; /* the halves of r */
            memcpy(&rl, &r, sizeof rl);
            memcpy(&rh, (const char *)&r + sizeof rl, sizeof rh);
            d4 xs[2] = {__builtin_convertvector(rl, d4), __builtin_convertvector(rh, d4)};
            f4 ys[2];
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const int m = 2 * q + h;
                d4 y;
                ABSORB_FUSED(d4, FMA_D4, ab, 4 * m, xs[h], Z1[m], Z2[m], y);
                ys[h] = __builtin_convertvector(y, f4);
            }
            memcpy(s->yt[t] + 8 * q, &ys[0], sizeof ys[0]);
            memcpy(s->yt[t] + 8 * q + 4, &ys[1], sizeof ys[1]);
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < n / 8; q++)
        memcpy(ya + 8 * q, &y1[q], sizeof y1[q]);
#pragma GCC unroll 4
    for (int q = 0; q < n / 4; q++) {
        memcpy(z1 + 4 * q, &Z1[q], sizeof Z1[q]);
        memcpy(z2 + 4 * q, &Z2[q], sizeof Z2[q]);
    }
}

/*
** 4a, the common case in the AVX-512 build: lines_read_steady8 with the absorption filters of
** eight lines in one double vector (the same arithmetic, lane for lane).
*/
static inline AVX512_TARGET void lines_read_steady16(reverb_state *s, const line_tap *A,
                                                     float (*ta)[MAX_LINES], float *ya,
                                                     double *z1, double *z2, uint32_t L,
                                                     uint32_t k0, const int n)
{
    absorb *ab = &s->ab;
    enum { NF = MAX_LINES / 8 };
    f8 y1[NF], e0[NF], de[NF];
    d8 Z1[NF], Z2[NF];
#pragma GCC unroll 2
    for (int q = 0; q < n / 8; q++) {
        allpass8_load(ya, A, q, &y1[q], &e0[q], &de[q]);
        memcpy(&Z1[q], z1 + 8 * q, sizeof Z1[q]);
        memcpy(&Z2[q], z2 + 8 * q, sizeof Z2[q]);
    }
    for (uint32_t t = 0; t < L; t++) {
        absorb_tick(ab, n);
#pragma GCC unroll 2
        for (int q = 0; q < n / 8; q++) {
            f8 r = allpass8(ta, t, q, e0[q], de[q], (float)(k0 + t), &y1[q]);
            d8 x = __builtin_convertvector(r, d8), y;
            ABSORB_FUSED(d8, FMA_D8, ab, 8 * q, x, Z1[q], Z2[q], y);
            f8 ys = __builtin_convertvector(y, f8);
            memcpy(s->yt[t] + 8 * q, &ys, sizeof ys);
        }
    }
#pragma GCC unroll 2
    for (int q = 0; q < n / 8; q++) {
        memcpy(ya + 8 * q, &y1[q], sizeof y1[q]);
        memcpy(z1 + 8 * q, &Z1[q], sizeof Z1[q]);
        memcpy(z2 + 8 * q, &Z2[q], sizeof Z2[q]);
    }
}

/*
** 4a. Read the lines (allpass interpolation, the size crossfade) and filter them (absorb):
** the recursive part, frame by frame, all lines at once. Line outputs go to s->y. The common
** case (no size change or fade in the chunk) has a loop of its own.
*/
STAGE void lines_read(reverb_state *s, const mg_block *b, uint32_t i0, uint32_t L,
                              uint32_t pos, const int n, const int wide)
{
    const mg_pval *P = b->p;
    absorb *ab = &s->ab;
    line_tap *A = &s->tap[s->cur], *B = &s->tap[!s->cur];
    float(*ta)[MAX_LINES] = s->tx[s->cur], (*tb)[MAX_LINES] = s->tx[!s->cur];
    double z1[MAX_LINES], z2[MAX_LINES];
    float ya[MAX_LINES];
    for (int j = 0; j < n; j++) {
        z1[j] = ab->s1[j];
        z2[j] = ab->s2[j];
        ya[j] = A->y1[j];
    }
    if (wide)
        gather8(s, A, ta, L, pos, n);
    else
        gather(s, A, ta, L, pos, n);
    uint32_t k0 = (uint32_t)(b->pos + i0 - s->step_at); /* frames into the grid step */
    if (!s->size_fading && pv_all(&P[P_SIZE], i0, L, s->size_cur)) {
        if (wide == 2)
            lines_read_steady16(s, A, ta, ya, z1, z2, L, k0, n);
        else if (wide)
            lines_read_steady8(s, A, ta, ya, z1, z2, L, k0, n);
        else
            lines_read_steady(s, A, ta, ya, z1, z2, L, k0, n);
        goto done;
    }
    if (s->size_fading)
        gather(s, B, tb, L, pos, n);
    for (uint32_t t = 0; t < L; t++) {
        float size = pv(&P[P_SIZE], i0 + t);
        if (!s->size_fading && size != s->size_cur) { /* fade to a tap at the new lengths */
            s->size_next = size;
            s->size_fading = 1;
            s->size_pos = 0;
            tap_setup(s, B, size, n);
            for (int j = 0; j < n; j++)
                B->y1[j] = 0;
            gather(s, B, tb, L, pos, n);
        }
        float kf = (float)(k0 + t), r[MAX_LINES];
        for (int j = 0; j < n; j++) {
            float eta = A->eta0[j] + kf * A->deta[j];
            ya[j] = allpass_step(eta, ta[t + 1][j], ya[j], ta[t][j], wide);
            r[j] = ya[j];
        }
        if (s->size_fading) {
            float a = size_weight(s);
            for (int j = 0; j < n; j++) {
                float eta = B->eta0[j] + kf * B->deta[j];
                float y = allpass_step(eta, tb[t + 1][j], B->y1[j], tb[t][j], wide);
                B->y1[j] = y;
                r[j] += a * (y - r[j]);
            }
        }
        absorb_tick(ab, n);
        for (int j = 0; j < n; j++) {
            float y = absorb_step(ab, z1, z2, j, r[j], wide);
            if (wide)
                s->yt[t][j] = y;
            else
                s->y[j][t] = y;
        }
        if (s->size_fading && ++s->size_pos >= s->size_len) { /* the new lengths take over */
            s->size_cur = s->size_next;
            s->size_fading = 0;
            s->cur = !s->cur;
            line_tap *sw = A;
            A = B;
            B = sw;
            float(*swx)[MAX_LINES] = ta;
            ta = tb;
            tb = swx;
            memcpy(ya, A->y1, sizeof ya);
        }
    }
done:
    for (int j = 0; j < n; j++) {
        ab->s1[j] = z1[j];
        ab->s2[j] = z2[j];
        A->y1[j] = ya[j];
    }
}


/* One output frame: width wd and mix mx (fractions) applied to s->wet[.][t]. */
STAGE void mix_frame(const reverb_state *s, const float *xl, const float *xr, float *outl,
                     float *outr, uint32_t t, float wd, float mx)
{
    float wl = s->wet[0][t], wr = s->wet[1][t];
    float mid = 0.5f * (wl + wr), side = 0.5f * (wl - wr) * wd;
    outl[t] = (1.0f - mx) * xl[t] + mx * (mid + side);
    outr[t] = (1.0f - mx) * xr[t] + mx * (mid - side);
}

/* 5. Low-cut, width and mix into the block's output. */
STAGE void output(reverb_state *s, const mg_block *b, uint32_t i0, uint32_t L, const int fused)
{
    const mg_pval *P = b->p;
    if (s->k_low_cut > 0 && fused) { /* L and R, fused as in absorb_step */
        double z1l = s->hp_z[0].s1, z2l = s->hp_z[0].s2, z1r = s->hp_z[1].s1,
               z2r = s->hp_z[1].s2;
        for (uint32_t t = 0; t < L; t++) {
            mg_bq_ramp_tick(&s->hp);
            const mg_biquad *q = &s->hp.cur;
            double xl = s->wet[0][t], xr = s->wet[1][t];
            double yl = fma(q->b0, xl, z1l), yr = fma(q->b0, xr, z1r);
            z1l = fma(-q->a1, yl, fma(q->b1, xl, z2l));
            z1r = fma(-q->a1, yr, fma(q->b1, xr, z2r));
            z2l = fma(-q->a2, yl, q->b2 * xl);
            z2r = fma(-q->a2, yr, q->b2 * xr);
            s->wet[0][t] = (float)yl;
            s->wet[1][t] = (float)yr;
        }
        s->hp_z[0] = (mg_biquad_state){z1l, z2l};
        s->hp_z[1] = (mg_biquad_state){z1r, z2r};
    } else if (s->k_low_cut > 0) { /* L and R together, summed as in absorb_step */
        d2 z1 = {s->hp_z[0].s1, s->hp_z[1].s1}, z2 = {s->hp_z[0].s2, s->hp_z[1].s2};
        for (uint32_t t = 0; t < L; t++) {
            mg_bq_ramp_tick(&s->hp);
            const mg_biquad *q = &s->hp.cur;
            d2 x = {s->wet[0][t], s->wet[1][t]}, y = q->b0 * x + z1;
            z1 = q->b1 * x + z2 - q->a1 * y;
            z2 = q->b2 * x - q->a2 * y;
            s->wet[0][t] = (float)y[0];
            s->wet[1][t] = (float)y[1];
        }
        s->hp_z[0] = (mg_biquad_state){z1[0], z2[0]};
        s->hp_z[1] = (mg_biquad_state){z1[1], z2[1]};
    }
    const float *xl = b->in[0].ch[0] + i0, *xr = b->in[0].ch[1] + i0;
    float *outl = b->out[0].ch[0] + i0, *outr = b->out[0].ch[1] + i0;
    if (P[P_WIDTH].constant && P[P_MIX].constant) { /* the same arithmetic, vectorised */
        float wd = P[P_WIDTH].v[0] * 0.01f, mx = P[P_MIX].v[0] * 0.01f;
        for (uint32_t t = 0; t < L; t++)
            mix_frame(s, xl, xr, outl, outr, t, wd, mx);
        return;
    }
    for (uint32_t t = 0; t < L; t++)
        mix_frame(s, xl, xr, outl, outr, t, pv(&P[P_WIDTH], i0 + t) * 0.01f,
                  pv(&P[P_MIX], i0 + t) * 0.01f);
}

/*
** [rt] One block. The feed-forward front end (predelay, diffuser) runs over up to SEG frames
** at a time (runs inside aligned windows of SEG frames: no run wraps a ring), then the runs are
** cut into chunks at grid points for the lines and the output. n (lines) and wide (frames per
** vector in the feed-forward stages: 4, 8 or 16 for wide = 0, 1, 2) are constants in each
** specialisation. Nothing in the front end depends on the grid steps or the lines, so this
** order computes what running every stage chunk by chunk would.
*/
STAGE void run(reverb_state *s, const mg_block *b, const int n, const int wide)
{
    for (uint32_t i = 0; i < b->n;) {
        uint32_t S = SEG - (uint32_t)((b->pos + i) % SEG);
        if (S > b->n - i)
            S = b->n - i;
        predelay(s, b, i, S, (uint32_t)(b->pos + i));
        diffuse(s, S, (uint32_t)(b->pos + i), n, wide);
        for (uint32_t c = 0; c < S;) {
            uint64_t g = b->pos + i + c;
            if (!s->primed || g % GRID == 0)
                step_begin(s, b, i + c, n);
            uint32_t L = GRID - (uint32_t)(g % GRID);
            if (L > S - c)
                L = S - c;
            uint32_t pos = (uint32_t)g;
            lines_read(s, b, i + c, L, pos, n, wide);
            if (wide == 2)
                lines_write16(s, L, pos, c, n);
            else if (wide)
                lines_write8(s, L, pos, c, n);
            else
                lines_write4(s, L, pos, c, n);
            output(s, b, i + c, L, wide);
            c += L;
        }
        i += S;
    }
}

static void run8(reverb_state *s, const mg_block *b) { run(s, b, 8, 0); }
static void run16(reverb_state *s, const mg_block *b) { run(s, b, 16, 0); }

#if REVERB_AVX2
/* The same code built with AVX2 and FMA enabled, eight frames per vector in the feed-forward
   stages; the recursive filters (lines' allpass and absorption, low-cut) fuse their
   multiply-adds, in every loop alike (so the bits differ from the baseline build's by
   rounding, and do not depend on the block partition); prepare chooses it when the CPU has
   AVX2 and FMA. */
static AVX2_TARGET void run8_avx2(reverb_state *s, const mg_block *b) { run(s, b, 8, 1); }
static AVX2_TARGET void run16_avx2(reverb_state *s, const mg_block *b) { run(s, b, 16, 1); }
/* and with AVX-512: sixteen frames per vector in the feed-forward stages, eight lines per
   double vector in the recursive one (the AVX2 build's arithmetic) */
static AVX512_TARGET void run8_avx512(reverb_state *s, const mg_block *b) { run(s, b, 8, 2); }
static AVX512_TARGET void run16_avx512(reverb_state *s, const mg_block *b) { run(s, b, 16, 2); }
#endif

/* [rt] */
static void reverb_process(void *state, const mg_block *b)
{
    reverb_state *s = state;
#if REVERB_AVX2
    if (s->simd == 2) {
        if (s->n == 16)
            run16_avx512(s, b);
        else
            run8_avx512(s, b);
        return;
    }
    if (s->simd) {
        if (s->n == 16)
            run16_avx2(s, b);
        else
            run8_avx2(s, b);
        return;
    }
#endif
    if (s->n == 16)
        run16(s, b);
    else
        run8(s, b);
}

static void reverb_destroy(void *state) { reverb_free_lines(state); }

const mg_node_desc mg_node_reverb = {
    .name = "reverb",
    .doc = "Algorithmic stereo reverb: predelay, a 6-stage orthogonal (Hadamard) diffuser, and "
           "a feedback delay network of 8 or 16 slowly modulated lines (allpass-interpolated) "
           "mixed by a Hadamard matrix. Line j (m_j samples) has gain "
           "gamma_j = 10^(-3 m_j / (fs decay)) and an RBJ high shelf at damp_freq whose "
           "high-frequency gain is gamma_j^(1/damping - 1), so T60 is `decay` at low "
           "frequencies and damping * decay at high ones: 1/T60(f) = (1/decay)(1 + "
           "(1/damping - 1) s(f)), s = the shelf's normalised dB shape. `size` scales the "
           "line lengths, `size` and `predelay` changes crossfade, `low_cut` is a Butterworth "
           "high-pass on the wet signal, `width` scales its side signal, `mix` is linear "
           "wet/dry. `freeze` holds the tail (lossless loop, input muted). Presets "
           "room|plate|hall set the structure and default parameters. Ramping parameters are "
           "read per sample, gains and filters redesigned every 32 frames (block-size "
           "independent). Stereo in and out, no latency; tail = predelay + decay + "
           "structure (60 s when frozen).",
    .inputs = reverb_in, .n_inputs = 1,
    .outputs = reverb_out, .n_outputs = 1,
    .params = reverb_params, .n_params = N_PARAMS,
    .options = reverb_opts, .n_options = 2,
    .main_param = "decay",
    .state_size = sizeof(reverb_state),
    .create = reverb_create,
    .prepare = reverb_prepare,
    .reset = reverb_reset,
    .process = reverb_process,
    .tail = reverb_tail,
    .destroy = reverb_destroy,
};
