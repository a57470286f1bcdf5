/*
** reverb.c: the `reverb` node, an algorithmic stereo reverb: predelay, a multichannel
** diffuser, and a feedback delay network (FDN) of 8 or 16 modulated lines with per-line
** absorption filters. [control] create/prepare/tail/destroy; [rt] reset/process.
**
** Signal path, per sample (N = `lines`):
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
** Parameters are read per sample while they ramp (predelay, width, mix, freeze input gain);
** the gains, shelves and the low-cut are redesigned at frames whose graph index is a multiple
** of 32 (and at the first frame after a reset) when their inputs changed, and their
** coefficients move linearly to the new design over the next 32 frames (stepping them
** measured up to 9 dB more splatter on a decay change). A `size` change
** crossfades (raised cosine, 50 ms) from every line's old read tap to one at the new length,
** each with its own allpass state; changes arriving during a fade wait for its end. (Sliding
** the taps instead makes the allpass interpolators ring at every integer crossing: measured
** -12 to -25 dB of splatter on a tone.) The output is therefore the same for every block
** size. No latency (the predelay is the effect). Tail: predelay + diffuser + longest line +
** decay (to -60 dB); 60 s when frozen. Cost: about 0.6 us per stereo frame with 8 lines
** (1.2 us with 16) on the development machine, i.e. ~35x real time at 48 kHz.
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
#define COEF_EVERY 32       /* coefficient grid, frames of graph time */
#define SIZE_MAX_X 2.0      /* largest `size` */
#define PREDELAY_MAX_MS 500.0
#define PREDELAY_FADE_MS 50.0
#define SIZE_FADE_MS 50.0
#define TAIL_CAP_S 60.0
#define BUTTERWORTH_Q 0.70710678118654752

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

typedef struct reverb_state {
    /* [immutable] after create */
    int n;      /* lines */
    int preset; /* index into presets */
    /* [control] prepare */
    double rate;
    int block;
    mg_dline pre[2];
    mg_dline diff[STAGES][MAX_LINES];
    uint32_t diff_d[STAGES][MAX_LINES];
    float diff_sign[STAGES][MAX_LINES];
    float in_sign[MAX_LINES];
    float cl[MAX_LINES], cr[MAX_LINES]; /* output projections */
    mg_dline line[MAX_LINES];
    double base[MAX_LINES];             /* line lengths at size 1, samples */
    double depth;                       /* modulation depth, samples */
    double lfo_cr[MAX_LINES], lfo_sr[MAX_LINES]; /* per-sample rotation */
    int64_t tail_extra;                 /* diffuser + longest line at size 1, samples */
    /* [rt] */
    uint32_t w;
    mg_xtap pretap;
    int primed;                          /* line lengths and coefficients initialised */
    float size_cur, size_next;          /* line lengths are base * size (+ modulation) */
    uint32_t size_pos, size_len;         /* size crossfade: position, length (samples) */
    int size_fading;
    double lfo_c[MAX_LINES], lfo_s[MAX_LINES];
    float ap[MAX_LINES], ap_next[MAX_LINES]; /* allpass interpolator states */
    mg_bq_ramp absorb[MAX_LINES];        /* gamma_j * shelf_j */
    mg_biquad_state absorb_z[MAX_LINES];
    mg_bq_ramp hp;
    mg_biquad_state hp_z[2];
    /* inputs of the last design */
    float k_decay, k_damping, k_damp_freq, k_freeze, k_low_cut, k_size;
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
    {.name = "size", .unit = "", .min = 0.25, .max = SIZE_MAX_X, .def = 1, .smooth_ms = 0,
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

/* [rt] in-place normalised Hadamard transform (Sylvester order), n a power of two */
static inline void hadamard(float *v, int n)
{
    for (int h = 1; h < n; h <<= 1)
        for (int i = 0; i < n; i += h << 1)
            for (int j = i; j < i + h; j++) {
                float a = v[j], b = v[j + h];
                v[j] = a + b;
                v[j + h] = a - b;
            }
    float k = n == 16 ? 0.25f : 0.35355339059327376f;
    for (int i = 0; i < n; i++)
        v[i] *= k;
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
        mg_biquad_reset(&s->absorb_z[j]);
        s->ap[j] = s->ap_next[j] = 0;
        double ph = 2 * M_PI * 0.6180339887 * j;
        s->lfo_c[j] = cos(ph);
        s->lfo_s[j] = sin(ph);
    }
    s->w = 0;
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
** output to a single line).
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
    s->depth = p->mod_ms * 0.001 * fs;
    int ok = 1;
    uint64_t pre_len = (uint64_t)ceil(PREDELAY_MAX_MS * 0.001 * fs) + MG_FD_TAPS + 4;
    for (int c = 0; c < 2 && ok; c++)
        ok = mg_dline_init(&s->pre[c], pre_len) == 0;
    uint32_t seed = 0x5eed0000u + (uint32_t)s->preset * 7919u + (uint32_t)n;
    long prev = 0;
    double diff_total = 0;
    for (int k = 0; k < STAGES; k++) {
        double span = p->diff_ms[k] * 0.001 * fs;
        diff_total += span;
        for (int j = 0; j < n && ok; j++) {
            double d = span * ((double)j + rnd(&seed)) / n;
            s->diff_d[k][j] = d < 1 ? 1 : (uint32_t)d;
            s->diff_sign[k][j] = rnd(&seed) < 0.5 ? -1.0f : 1.0f;
            ok = mg_dline_init(&s->diff[k][j], (uint64_t)s->diff_d[k][j] + 2) == 0;
        }
    }
    double longest = 0;
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
        ok = mg_dline_init(&s->line[j], (uint64_t)ceil(v * SIZE_MAX_X + s->depth) + 8) == 0;
        double hz = p->mod_hz * (0.6 + 0.8 * j / (n - 1.0));
        s->lfo_cr[j] = cos(2 * M_PI * hz / fs);
        s->lfo_sr[j] = sin(2 * M_PI * hz / fs);
        s->in_sign[j] = rnd(&seed) < 0.5 ? -1.0f : 1.0f;
    }
    if (!ok) {
        reverb_free_lines(s);
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the reverb's delay lines");
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

/*
** [rt] Redesign what changed (line gains and shelves, the low-cut) for the coming grid step:
** the filters move to the new designs linearly over COEF_EVERY samples. `size` is the lines'
** effective scale (during a size crossfade, the mix of the two).
*/
static void design(reverb_state *s, float decay, float damping, float damp_freq, float freeze,
                   float low_cut, float size)
{
    uint32_t len = s->primed ? COEF_EVERY : 0;
    int lines = !s->primed || decay != s->k_decay || damping != s->k_damping ||
                damp_freq != s->k_damp_freq || freeze != s->k_freeze || size != s->k_size;
    if (lines) {
        double live = 1.0 - freeze;
        for (int j = 0; j < s->n; j++) {
            double m = s->base[j] * size; /* mean loop delay, samples */
            double gdb = -60.0 * m / (s->rate * decay) * live; /* gamma in dB */
            double g = pow(10.0, gdb / 20.0);
            mg_biquad q = mg_biquad_design(MG_FT_HIGHSHELF, damp_freq, BUTTERWORTH_Q,
                                           gdb * (1.0 / damping - 1.0), s->rate);
            q.b0 *= g;
            q.b1 *= g;
            q.b2 *= g;
            mg_bq_ramp_set(&s->absorb[j], &q, len);
        }
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

static inline float pv(const mg_pval *p, uint32_t i) { return p->constant ? p->v[0] : p->v[i]; }

/* [rt] raised-cosine weight of the new line lengths during a size crossfade */
static inline float size_weight(const reverb_state *s)
{
    return (float)(0.5 - 0.5 * cos(M_PI * (double)s->size_pos / (double)s->size_len));
}

/* [rt] The per-sample loop; n is a constant in each of the two specialisations below. */
static inline void run(reverb_state *s, const mg_block *b, const int n)
{
    const mg_pval *P = b->p;
    const float spread = sqrtf(2.0f / (float)n);
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t pos = s->w + i;
        float size = pv(&P[P_SIZE], i);
        if (!s->primed)
            s->size_cur = size;
        else if (!s->size_fading && size != s->size_cur) {
            s->size_next = size;
            s->size_fading = 1;
            s->size_pos = 0;
        }
        float a = s->size_fading ? size_weight(s) : 0.0f; /* weight of the new lengths */
        if (!s->primed || ((b->pos + i) % COEF_EVERY) == 0) {
            design(s, pv(&P[P_DECAY], i), pv(&P[P_DAMPING], i), pv(&P[P_DAMP_FREQ], i),
                   pv(&P[P_FREEZE], i), pv(&P[P_LOW_CUT], i),
                   s->size_cur + a * (s->size_next - s->size_cur));
            s->primed = 1;
        }
        float live = 1.0f - pv(&P[P_FREEZE], i);
        float xl = b->in[0].ch[0][i], xr = b->in[0].ch[1][i];

        /* 1. predelay */
        mg_xtap_step(&s->pretap, pv(&P[P_PREDELAY], i) * 0.001 * s->rate);
        mg_dline_put(&s->pre[0], pos, xl * live);
        mg_dline_put(&s->pre[1], pos, xr * live);
        float pl = mg_xtap_read(&s->pretap, &s->pre[0], pos);
        float pr = mg_xtap_read(&s->pretap, &s->pre[1], pos);

        /* 2-3. spread and diffuse */
        float v[MAX_LINES];
        for (int j = 0; j < n; j++)
            v[j] = ((j & 1) ? pr : pl) * spread * s->in_sign[j];
        for (int k = 0; k < STAGES; k++) {
            for (int j = 0; j < n; j++) { /* v is clean: it comes from the predelay lines */
                mg_dline *dl = &s->diff[k][j];
                dl->buf[pos & dl->mask] = v[j];
                v[j] = mg_dline_at(dl, pos - s->diff_d[k][j]) * s->diff_sign[k][j];
            }
            hadamard(v, n);
        }

        /* 4. FDN */
        float y[MAX_LINES];
        for (int j = 0; j < n; j++) {
            double c = s->lfo_c[j], sn = s->lfo_s[j];
            double c2 = c * s->lfo_cr[j] - sn * s->lfo_sr[j];
            double s2 = sn * s->lfo_cr[j] + c * s->lfo_sr[j];
            double norm = 1.5 - 0.5 * (c2 * c2 + s2 * s2); /* keep the rotation on the circle */
            s->lfo_c[j] = c2 * norm;
            s->lfo_s[j] = s2 * norm;
            double mod = s->depth * s->lfo_s[j];
            float r = mg_dline_read_ap(&s->line[j], pos, s->base[j] * s->size_cur + mod, &s->ap[j]);
            if (s->size_fading) {
                float r2 = mg_dline_read_ap(&s->line[j], pos, s->base[j] * s->size_next + mod,
                                            &s->ap_next[j]);
                r += a * (r2 - r);
            }
            mg_bq_ramp_tick(&s->absorb[j]);
            y[j] = (float)mg_dl_biquad_step(&s->absorb_z[j], &s->absorb[j].cur, r);
        }
        hadamard(y, n);
        float wl = 0, wr = 0;
        for (int j = 0; j < n; j++) {
            float in = y[j] + v[j];
            mg_dline_put(&s->line[j], pos, in);
            wl += s->cl[j] * in;
            wr += s->cr[j] * in;
        }

        if (s->size_fading && ++s->size_pos >= s->size_len) { /* the new lengths take over */
            s->size_cur = s->size_next;
            s->size_fading = 0;
            for (int j = 0; j < n; j++) {
                s->ap[j] = s->ap_next[j];
                s->ap_next[j] = 0;
            }
        }

        /* 5. low-cut, width, mix */
        if (s->k_low_cut > 0) {
            mg_bq_ramp_tick(&s->hp);
            wl = (float)mg_dl_biquad_step(&s->hp_z[0], &s->hp.cur, wl);
            wr = (float)mg_dl_biquad_step(&s->hp_z[1], &s->hp.cur, wr);
        }
        float wd = pv(&P[P_WIDTH], i) * 0.01f, mx = pv(&P[P_MIX], i) * 0.01f;
        float mid = 0.5f * (wl + wr), side = 0.5f * (wl - wr) * wd;
        b->out[0].ch[0][i] = (1.0f - mx) * xl + mx * (mid + side);
        b->out[0].ch[1][i] = (1.0f - mx) * xr + mx * (mid - side);
    }
    s->w += b->n;
    for (int j = 0; j < n; j++) {
        mg_dl_biquad_clean(&s->absorb_z[j]);
        s->ap[j] = mg_dline_clean(s->ap[j]);
        s->ap_next[j] = mg_dline_clean(s->ap_next[j]);
    }
    mg_dl_biquad_clean(&s->hp_z[0]);
    mg_dl_biquad_clean(&s->hp_z[1]);
}

static void run8(reverb_state *s, const mg_block *b) { run(s, b, 8); }
static void run16(reverb_state *s, const mg_block *b) { run(s, b, 16); }

/* [rt] */
static void reverb_process(void *state, const mg_block *b)
{
    reverb_state *s = state;
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
