/*
** saturate.c: the `saturate` node, a static waveshaper (tanh, cubic soft clip, asymmetric)
** with drive, bias, dry/wet mix and output gain, run oversampled 1, 2, 4 or 8 times so that
** the harmonics it creates above the input Nyquist are filtered out instead of folding back.
** [control] create/prepare/destroy, [rt] reset/process.
**
** Per frame: u = 10^(drive/20) x, interpolated L times (mg_oversample.h); each value goes
** through y = (f(u + b) - f(b)) / f'(b) (b = bias: 0 maps to 0 and the small-signal slope is 1,
** so a quiet signal comes out at exactly `drive` dB); decimated; a 1 Hz one-pole DC blocker
** removes the offset an asymmetric curve creates; wet = 10^(gain/20) y;
** out = dry + mix (wet - dry) with dry the input delayed like the wet path.
**
** Filters: a Kaiser-windowed sinc (stopband 110 dB) at half the input rate, whose transition
** runs from fp = min(20 kHz, 0.45 fs) to fs - fp: what folds back from above the input Nyquist
** lands above fp, out of the audio band. Latency: the filter pair's delay, a whole number of
** frames (reported; the dry path is delayed to match).
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
    float *dry;       /* latency frames of input (ring) */
    double dc_x, dc_y; /* DC blocker state */
} sat_chan;

typedef struct sat_state {
    int factor;        /* [immutable] option: 1, 2, 4, 8 */
    /* [control] prepare */
    mg_os os;
    int channels;
    uint32_t latency, dry_pos;
    double dc_r;
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

static inline double curve(int c, double u)
{
    switch (c) {
    case CURVE_SOFT:
        if (u >= 1.5)
            return 1.0;
        if (u <= -1.5)
            return -1.0;
        return u - (4.0 / 27.0) * u * u * u;
    case CURVE_ASYM:
        return u >= 0 ? tanh(u) : 0.5 * tanh(2 * u);
    default:
        return tanh(u);
    }
}

static inline double curve_slope(int c, double u)
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
    s->dry_pos = 0;
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
        for (int c = 0; c < pr->out_ch[0] && st == MG_OK; c++) {
            st = mg_os_chan_init(&s->ch[c].os, &s->os);
            if (st == MG_OK && !(s->ch[c].dry = calloc((size_t)s->os.latency, sizeof(float))))
                st = MG_ERR_NOMEM;
        }
        if (st != MG_OK) {
            sat_free(s);
            return mg_node_errorf(node, st, "cannot allocate the oversampling filters");
        }
        s->latency = (uint32_t)s->os.latency;
    } else {
        s->os.factor = 1;
        s->latency = 0;
    }
    s->channels = pr->out_ch[0];
    s->dc_r = exp(-2 * M_PI * SAT_DC_HZ / pr->rate);
    pr->latency = s->latency;
    sat_reset(s);
    return MG_OK;
}

/* [control] */
static void sat_destroy(void *state) { sat_free(state); }

/* ---- processing ---- */

/* [rt] Frame by frame (the filters are serial); parameters read per frame. */
static void sat_process(void *state, const mg_block *b)
{
    sat_state *s = state;
    const mg_pval *p = b->p;
    int nc = b->out[0].channels, L = s->factor;
    int cur = (int)p[P_CURVE].v[0];
    double drive = mg_dyn_amp(p[P_DRIVE].v[0]), gain = mg_dyn_amp(p[P_GAIN].v[0]);
    double bias = p[P_BIAS].v[0], fb = curve(cur, bias), kb = 1.0 / curve_slope(cur, bias);
    double mix = p[P_MIX].v[0] * 0.01;
    int ramp = !mg_dyn_constant(p, N_PARAMS);
    for (uint32_t i = 0; i < b->n; i++) {
        if (ramp) {
            cur = (int)mg_dyn_pv(&p[P_CURVE], i);
            drive = mg_dyn_amp(mg_dyn_pv(&p[P_DRIVE], i));
            gain = mg_dyn_amp(mg_dyn_pv(&p[P_GAIN], i));
            bias = mg_dyn_pv(&p[P_BIAS], i);
            fb = curve(cur, bias);
            kb = 1.0 / curve_slope(cur, bias);
            mix = mg_dyn_pv(&p[P_MIX], i) * 0.01;
        }
        for (int c = 0; c < nc; c++) {
            sat_chan *h = &s->ch[c];
            float x = b->in[0].ch[c][i];
            x = isfinite(x) ? x : 0.0f; /* NaN or Inf would latch the DC blocker */
            float u = (float)(x * drive), y;
            if (L > 1) {
                float ph[MG_OS_MAX];
                mg_os_up(&s->os, &h->os, u, ph);
                for (int k = 0; k < L; k++)
                    ph[k] = (float)((curve(cur, ph[k] + bias) - fb) * kb);
                y = mg_os_down(&s->os, &h->os, ph);
            } else {
                y = (float)((curve(cur, u + bias) - fb) * kb);
            }
            /* DC blocker: v[n] = y[n] - y[n-1] + r v[n-1] */
            double v = y - h->dc_x + s->dc_r * h->dc_y;
            h->dc_x = y;
            h->dc_y = fabs(v) > 1e-30 ? v : 0.0;
            float dry = x;
            if (s->latency) {
                dry = h->dry[s->dry_pos];
                h->dry[s->dry_pos] = x;
            }
            b->out[0].ch[c][i] = (float)(dry + mix * (v * gain - dry));
        }
        if (s->latency)
            s->dry_pos = s->dry_pos + 1 == s->latency ? 0 : s->dry_pos + 1;
    }
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
