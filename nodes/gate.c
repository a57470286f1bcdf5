/*
** gate.c: the `gate` and `expander` nodes, downward expansion after Giannoulis, Massberg &
** Reiss (JAES 60(6), 2012; DSP_TESTS.md §7). One implementation: the gate is the expander with
** an infinite ratio. [control] create/prepare/destroy, [rt] reset/process, [any] the meter.
**
** Per frame and channel, with the shared key, detector, link and lookahead of mg_dynamics.h:
**   state  open/closed with hysteresis and hold: a closed channel opens when its key level
**          L >= T; an open one stays open while L >= T - hysteresis and for `hold` frames
**          after L last was there, then closes.
**   target gain (dB): 0 when open; when closed, the range (gate) or the expander curve
**          max(range, -(ratio - 1)(T - L)), i.e. y = T + ratio (L - T) floored at the range.
**   smooth g[n] = a g[n-1] + (1 - a) target, attack while the gain rises (opening), release
**          while it falls; the first frame after a reset takes the target at once.
**   out    xd 10^(g/20), xd = input delayed by the lookahead; a range of -144 dB is silence.
*/
#include <math.h>

#include "mg_dynamics.h"

enum { OPT_LOOKAHEAD };
/* Logical parameters; each descriptor maps them to its own order (ix). */
enum {
    G_THRESHOLD,
    G_RATIO,
    G_HYSTERESIS,
    G_RANGE,
    G_HOLD,
    G_ATTACK,
    G_RELEASE,
    G_DETECTOR,
    G_RMS_WINDOW,
    G_LINK,
    G_KEY_HPF,
    G_KEY_LPF,
    G_N
};

typedef struct gate_state {
    mg_dyn dyn;         /* first: mg_dyn_meter reads it */
    int expander;       /* [immutable] 0: gate (infinite ratio) */
    int ix[G_N];        /* [immutable] block parameter index per G_ name; -1: absent */
    int n_params;       /* [immutable] */
    double lookahead_ms; /* [immutable] option */
    /* [rt] per channel */
    double g[MG_MAX_CHANNELS];        /* smoothed gain, dB <= 0 */
    uint32_t hold[MG_MAX_CHANNELS];   /* frames of hold left while open */
    unsigned char open[MG_MAX_CHANNELS];
    int fresh;                        /* first frame after a reset */
} gate_state;

typedef struct gate_coef {
    double t_open, t_close, r, range, a_att, a_rel, rms_b, link;
    double p_open, p_close; /* the thresholds as powers, 10^(t/10) */
    uint32_t hold;
    int detector;
} gate_coef;

static const mg_port_desc gate_in[] = {
    {.name = "in", .channels = MG_CH_MAX, .doc = "signal to gate"},
    {.name = "sidechain", .channels = MG_CH_MAX,
     .doc = "key signal (any node); when unconnected the main input is the key"},
};
static const mg_port_desc gate_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "gated signal, same channels as in"}};

#define THRESHOLD_DOC "opening threshold: a closed gate opens when the key level reaches it"
#define HYSTERESIS_DOC                                                                         \
    "an open gate closes only below threshold - hysteresis (the closing threshold)"
#define RANGE_DOC "gain floor when closed (the most attenuation); -144 is silence"
#define HOLD_DOC "time the gate stays open after the key falls below the closing threshold"
#define ATTACK_DOC "time constant of opening (63.2 % of the gain change in dB); 0 = instant"
#define RELEASE_DOC "time constant of closing (63.2 % of the gain change in dB); 0 = instant"
#define DETECTOR_DOC                                                                           \
    "peak: instantaneous |key| (use hold or rms against chatter on low tones); rms: one-pole " \
    "mean square over `rms_window` (a sine of peak x dBFS reads x - 3.01 dB)"
#define LINK_DOC                                                                               \
    "stereo link: each channel's key level in dB moves this far toward the loudest key "     \
    "channel's; 100 = every channel opens and closes together"

/* The shared entries (same in both tables, after threshold/ratio). */
#define GATE_COMMON_PARAMS(hyst_def, range_def, hold_def)                                      \
    {.name = "hysteresis", .unit = "dB", .min = 0, .max = 24, .def = hyst_def,               \
     .smooth_ms = 20, .doc = HYSTERESIS_DOC},                                                  \
    {.name = "range", .unit = "dB", .min = -144, .max = 0, .def = range_def, .smooth_ms = 20, \
     .doc = RANGE_DOC},                                                                        \
    {.name = "hold", .unit = "ms", .min = 0, .max = 5000, .def = hold_def, .smooth_ms = 0,    \
     .doc = HOLD_DOC},                                                                         \
    {.name = "attack", .unit = "ms", .min = 0, .max = 1000, .def = 1, .smooth_ms = 0,         \
     .doc = ATTACK_DOC},                                                                       \
    {.name = "release", .unit = "ms", .min = 0, .max = 5000, .def = 100, .smooth_ms = 0,      \
     .doc = RELEASE_DOC},                                                                      \
    {.name = "detector", .unit = "", .min = 0, .max = 1, .def = MG_DYN_PEAK, .smooth_ms = 0,  \
     .choices = MG_DYN_DETECTORS, .doc = DETECTOR_DOC},                                        \
    {.name = "rms_window", .unit = "ms", .min = 0.1, .max = 1000, .def = 10, .smooth_ms = 0,  \
     .doc = "time constant of the rms detector's mean square"},                                \
    {.name = "link", .unit = "%", .min = 0, .max = 100, .def = 100, .smooth_ms = 20,          \
     .doc = LINK_DOC},                                                                         \
    {.name = "key_hpf", .unit = "Hz", .min = 0, .max = 20000, .def = 0, .smooth_ms = 20,      \
     .doc = "high-pass on the key (2nd-order Butterworth); 0 = off"},                          \
    {.name = "key_lpf", .unit = "Hz", .min = 0, .max = 20000, .def = 0, .smooth_ms = 20,      \
     .doc = "low-pass on the key (2nd-order Butterworth); 0 = off"}

static const mg_param_desc gate_params[] = {
    {.name = "threshold", .unit = "dB", .min = -120, .max = 0, .def = -40, .smooth_ms = 20,
     .doc = THRESHOLD_DOC},
    GATE_COMMON_PARAMS(3, -80, 10),
};
static const mg_param_desc expander_params[] = {
    {.name = "threshold", .unit = "dB", .min = -120, .max = 0, .def = -40, .smooth_ms = 20,
     .doc = "level below which the gain falls by (ratio - 1) dB per dB"},
    {.name = "ratio", .unit = "", .min = 1, .max = 100, .def = 2, .smooth_ms = 20,
     .doc = "expansion ratio: output dB per input dB below the threshold (2 = 1:2)"},
    GATE_COMMON_PARAMS(0, -80, 0),
};

static const mg_option_desc gate_opts[] = {
    {.name = "lookahead", .type = MG_OPT_NUMBER, .unit = "ms", .min = 0, .max = 500, .def = 0,
     .doc = "delay of the audio (not the key), round(lookahead * rate / 1000) frames, so the "
            "gate opens before a transient; reported as the node's latency"},
};

/* [control] Map the logical parameters onto this descriptor's order. */
static mg_status gate_init(gate_state *s, mg_node *node, int expander)
{
    s->expander = expander;
    s->lookahead_ms = mg_node_opt_num(node, OPT_LOOKAHEAD);
    int k = 0;
    for (int g = 0; g < G_N; g++)
        s->ix[g] = (g == G_RATIO && !expander) ? -1 : k++;
    s->n_params = k;
    return MG_OK;
}

static mg_status gate_create(void *state, mg_node *node) { return gate_init(state, node, 0); }
static mg_status expander_create(void *state, mg_node *node)
{
    return gate_init(state, node, 1);
}

/* [rt] */
static void gate_reset(void *state)
{
    gate_state *s = state;
    mg_dyn_reset(&s->dyn);
    for (int c = 0; c < MG_MAX_CHANNELS; c++) {
        s->g[c] = 0;
        s->hold[c] = 0;
        s->open[c] = 0;
    }
    s->fresh = 1;
}

/* [control] */
static mg_status gate_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    gate_state *s = state;
    mg_status st = mg_dyn_prepare(&s->dyn, node, pr, s->lookahead_ms);
    if (st == MG_OK)
        gate_reset(s);
    return st;
}

/* [control] */
static void gate_destroy(void *state) { mg_dyn_destroy(&((gate_state *)state)->dyn); }

/* [rt] Derive the frame-i values (all: everything; else skip constant exponentials). */
static void gate_coef_at(const gate_state *s, gate_coef *k, const mg_block *b, uint32_t i,
                         int all)
{
    const mg_pval *p = b->p;
    const int *ix = s->ix;
    k->t_open = mg_dyn_pv(&p[ix[G_THRESHOLD]], i);
    k->t_close = k->t_open - mg_dyn_pv(&p[ix[G_HYSTERESIS]], i);
    if (all || !p[ix[G_THRESHOLD]].constant || !p[ix[G_HYSTERESIS]].constant) {
        k->p_open = pow(10.0, k->t_open * 0.1);
        k->p_close = pow(10.0, k->t_close * 0.1);
    }
    k->r = s->expander ? mg_dyn_pv(&p[ix[G_RATIO]], i) : INFINITY;
    k->range = mg_dyn_pv(&p[ix[G_RANGE]], i);
    k->hold = (uint32_t)floor(mg_dyn_pv(&p[ix[G_HOLD]], i) * 0.001 * b->rate + 0.5);
    if (all || !p[ix[G_ATTACK]].constant)
        k->a_att = mg_dyn_coef(mg_dyn_pv(&p[ix[G_ATTACK]], i), b->rate);
    if (all || !p[ix[G_RELEASE]].constant)
        k->a_rel = mg_dyn_coef(mg_dyn_pv(&p[ix[G_RELEASE]], i), b->rate);
    if (all || !p[ix[G_RMS_WINDOW]].constant)
        k->rms_b = mg_dyn_coef(mg_dyn_pv(&p[ix[G_RMS_WINDOW]], i), b->rate);
    k->detector = mg_dyn_pv(&p[ix[G_DETECTOR]], i) >= 0.5 ? MG_DYN_RMS : MG_DYN_PEAK;
    k->link = mg_dyn_pv(&p[ix[G_LINK]], i) * 0.01;
}

/* One channel's open/closed state and hold count, kept in locals across a chunk. */
typedef struct gate_ch {
    int open;
    uint32_t hold;
} gate_ch;

/* [rt] Advance a channel's state for key level L; returns the target gain in dB. */
static inline double gate_target(const gate_state *s, const gate_coef *k, gate_ch *ch, double L)
{
    if (ch->open) {
        if (L >= k->t_close)
            ch->hold = k->hold;
        else if (ch->hold)
            ch->hold--;
        else
            ch->open = 0;
    } else if (L >= k->t_open) {
        ch->open = 1;
        ch->hold = k->hold;
    }
    if (ch->open)
        return 0.0;
    if (!s->expander)
        return k->range;
    double g = -(k->r - 1.0) * (k->t_open - L);
    return g > k->range ? g : k->range;
}

/* 1 when every channel's gate is in the same state (gain, open, hold): then a linked key
   keeps them so, and one channel's gains serve all. */
static int gate_in_step(const gate_state *s, int nc)
{
    for (int c = 1; c < nc; c++)
        if (s->g[c] != s->g[0] || s->open[c] != s->open[0] || s->hold[c] != s->hold[0])
            return 0;
    return 1;
}

/*
** [rt] Frames f0..f0+n-1 of the block (n <= MG_DYN_CHUNK) with the coefficients k, key[]
** holding their key: the compressor's stages (see comp_run in compressor.c) with the gate's
** open/hold state and target in place of the gain computer. A fully linked gate (not the
** expander, whose curve needs the level) decides L >= T as P >= 10^(T/10) on the key power P,
** exactly and without a logarithm. Returns the last frame's largest key power.
*/
static double gate_run(gate_state *s, const gate_coef *k, const float *const *key, int nk,
                       const mg_block *b, uint32_t f0, uint32_t n)
{
    mg_dyn *d = &s->dyn;
    int nc = b->out[0].channels;
    double pmax[MG_DYN_CHUNK], p[MG_MAX_CHANNELS][MG_DYN_CHUNK];
    double lev[MG_MAX_CHANNELS][MG_DYN_CHUNK], gain[MG_MAX_CHANNELS][MG_DYN_CHUNK];
    const double *rows[MG_MAX_CHANNELS];
    int linked = k->link >= 1.0;
    mg_dyn_detect(d, key, nk, n, k->detector, k->rms_b, pmax, linked ? NULL : p);
    /* a linked gate only compares the level with its thresholds: it compares the power with
       theirs instead, and needs no logarithm */
    gate_coef kp = *k;
    int powers = linked && !s->expander;
    if (powers) {
        kp.t_open = k->p_open;
        kp.t_close = k->p_close;
        k = &kp;
    }
    int nl = powers ? 1 : mg_dyn_link(d, pmax, p, nk, n, k->link, nc, lev);
    int ng = nl == 1 && gate_in_step(s, nc) ? 1 : nc;
    for (int c = 0; c < ng; c++) {
        const double *L = powers ? pmax : lev[nl == 1 ? 0 : c];
        double db[MG_DYN_CHUNK];
        double g = s->g[c];
        gate_ch ch = {s->open[c], s->hold[c]};
        uint32_t i = 0;
        if (s->fresh) { /* the first frame after a reset takes its target at once */
            g = gate_target(s, k, &ch, L[0]);
            db[i++] = mg_dyn_mute(g);
        }
        for (; i < n; i++) {
            g = mg_dyn_smooth(g, gate_target(s, k, &ch, L[i]), k->a_att, k->a_rel);
            db[i] = mg_dyn_mute(g);
        }
        s->g[c] = g;
        s->open[c] = (unsigned char)ch.open;
        s->hold[c] = ch.hold;
        mg_dyn_gains(d, db, gain[c], n);
    }
    for (int c = 0; c < nc; c++) {
        if (c >= ng) {
            s->g[c] = s->g[0];
            s->open[c] = s->open[0];
            s->hold[c] = s->hold[0];
        }
        rows[c] = gain[c < ng ? c : 0];
    }
    s->fresh = 0;
    mg_dyn_apply(d, &b->in[0], &b->out[0], f0, n, rows, 1.0);
    return pmax[n - 1];
}

/* mg_dyn_drive's view of gate_coef_at and gate_run */
static void gate_coef_cb(const void *s, void *k, const mg_block *b, uint32_t i, int all)
{
    gate_coef_at(s, k, b, i, all);
}

static double gate_run_cb(void *s, const void *k, const float *const *key, int nk,
                          const mg_block *b, uint32_t f0, uint32_t n)
{
    return gate_run(s, k, key, nk, b, f0, n);
}

/* [rt] The dynamics block structure (mg_dyn_drive), as in the compressor. */
static void gate_process(void *state, const mg_block *b)
{
    gate_state *s = state;
    mg_dyn *d = &s->dyn;
    int nc = b->out[0].channels;
    int ramp = !mg_dyn_constant(b->p, s->n_params);
    mg_dyn_params dp = {.key_hpf = &b->p[s->ix[G_KEY_HPF]], .key_lpf = &b->p[s->ix[G_KEY_LPF]]};
    gate_coef k;
    double pmax = mg_dyn_drive(d, b, &dp, ramp, s, &k, gate_coef_cb, gate_run_cb);
    double gr = 0;
    for (int c = 0; c < nc; c++)
        gr = -s->g[c] > gr ? -s->g[c] : gr;
    mg_dyn_publish(d, gr, mg_dyn_db(pmax));
}

#define GATE_DOC_COMMON                                                                        \
    "Key level L in dB re full-scale amplitude (peak: 20 log10|k|; rms: one-pole mean square " \
    "over rms_window, a sine of peak x dBFS reads x - 3.01 dB), linked across channels as "  \
    "(1 - link) L_own + link max(L). A closed channel opens when L >= threshold; an open one " \
    "stays open while L >= threshold - hysteresis and for `hold` ms after, then closes. The " \
    "gain g (dB) is smoothed g[n] = a g[n-1] + (1 - a) target, a = exp(-1/(tau fs)), tau = "  \
    "attack while opening, release while closing; out = xd 10^(g/20), xd the input delayed "  \
    "by the lookahead. The key is the `sidechain` input when connected (a mono key drives "   \
    "every channel), else the input; key_hpf / key_lpf filter it (2nd-order Butterworth, 0 = " \
    "off). Latency: round(lookahead * rate / 1000) frames. Meter: gain_reduction (dB)."

const mg_node_desc mg_node_gate = {
    .name = "gate",
    .meter = mg_dyn_meter,
    .meters = "gain_reduction|key_level",
    .doc = "Noise gate: gain 0 dB when open, `range` dB when closed (an expander with an "
           "infinite ratio). " GATE_DOC_COMMON,
    .inputs = gate_in, .n_inputs = 2,
    .outputs = gate_out, .n_outputs = 1,
    .params = gate_params, .n_params = (int)(sizeof gate_params / sizeof gate_params[0]),
    .options = gate_opts, .n_options = 1,
    .main_param = "threshold",
    .state_size = sizeof(gate_state),
    .flags = MG_NODE_INPLACE,
    .create = gate_create,
    .prepare = gate_prepare,
    .reset = gate_reset,
    .process = gate_process,
    .destroy = gate_destroy,
};

const mg_node_desc mg_node_expander = {
    .name = "expander",
    .meter = mg_dyn_meter,
    .meters = "gain_reduction|key_level",
    .doc = "Downward expander: when closed the gain follows y = T + ratio (L - T) below the "
           "threshold T, i.e. target = max(range, -(ratio - 1)(T - L)) dB; 0 dB when open. "
           GATE_DOC_COMMON,
    .inputs = gate_in, .n_inputs = 2,
    .outputs = gate_out, .n_outputs = 1,
    .params = expander_params,
    .n_params = (int)(sizeof expander_params / sizeof expander_params[0]),
    .options = gate_opts, .n_options = 1,
    .main_param = "threshold",
    .state_size = sizeof(gate_state),
    .flags = MG_NODE_INPLACE,
    .create = expander_create,
    .prepare = gate_prepare,
    .reset = gate_reset,
    .process = gate_process,
    .destroy = gate_destroy,
};
