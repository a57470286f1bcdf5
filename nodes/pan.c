/*
** pan.c: the `pan` node, mono panning and stereo balance to a stereo output. Runs on the
** processing thread ([rt] process); the descriptor is read by the control side.
**
** Mono input, with theta = (p + 1) pi / 4 (p = pan in [-1, 1]):
**   power   gL = cos theta,         gR = sin theta          centre -3.01 dB, gL^2 + gR^2 = 1
**   linear  gL = (1 - p) / 2,       gR = (1 + p) / 2        centre -6.02 dB, gL + gR = 1
**   -4.5    gL = cos(theta)^x,      gR = sin(theta)^x       centre -4.50 dB,
**           x = 4.5 / (10 log10 2)  (the power law raised so that its -3.0103 dB becomes -4.5)
** A hard pan silences the other side exactly under every law.
** Stereo input is a balance control whatever the law: p < 0 scales R by 1 + p, p > 0 scales L
** by 1 - p, the centre leaves both sides untouched.
*/
#include <math.h>

#include "mg_node.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { OPT_LAW };
enum { P_PAN };
enum { LAW_POWER, LAW_LINEAR, LAW_45 };

typedef struct pan_state {
    int law; /* [immutable] */
} pan_state;

static const mg_port_desc pan_in[] = {
    {.name = "in", .channels = MG_CH_MAX, .max_channels = 2,
     .doc = "mono (panned) or stereo (balanced); wider inputs are downmixed to stereo"}};
static const mg_port_desc pan_out[] = {{.name = "out", .channels = 2, .doc = "stereo"}};
static const mg_param_desc pan_params[] = {
    {.name = "pan", .unit = "", .min = -1, .max = 1, .def = 0, .smooth_ms = 20,
     .doc = "-1 hard left, 0 centre, 1 hard right"},
};
static const mg_option_desc pan_opts[] = {
    {.name = "law", .type = MG_OPT_ENUM, .choices = "power|linear|-4.5", .def = LAW_POWER,
     .doc = "mono pan law: constant power (-3 dB centre), linear (-6 dB), or -4.5 dB"},
};

/* [rt] Gains of a mono input under `law` at pan position p. */
static void mono_gains(int law, double p, float *gl, float *gr)
{
    if (law == LAW_LINEAR) {
        *gl = (float)((1 - p) * 0.5);
        *gr = (float)((1 + p) * 0.5);
        return;
    }
    /* cos(pi/2) is 6e-17, not 0: a hard pan must silence the other side exactly */
    double th = (p + 1) * (M_PI / 4);
    double c = p >= 1 ? 0.0 : cos(th), s = p <= -1 ? 0.0 : sin(th);
    if (law == LAW_45) {
        const double x = 4.5 / (10 * log10(2.0));
        c = pow(c, x);
        s = pow(s, x);
    }
    *gl = (float)c;
    *gr = (float)s;
}

/* [rt] Balance gains of a stereo input at p. */
static void balance_gains(double p, float *gl, float *gr)
{
    *gl = p > 0 ? (float)(1 - p) : 1.0f;
    *gr = p < 0 ? (float)(1 + p) : 1.0f;
}

/* [control] */
static mg_status pan_create(void *state, mg_node *node)
{
    pan_state *s = state;
    s->law = (int)mg_node_opt_num(node, OPT_LAW);
    return MG_OK;
}

/* [rt] */
static void pan_process(void *state, const mg_block *b)
{
    const pan_state *s = state;
    const mg_buf *in = &b->in[0];
    mg_buf *out = &b->out[0];
    const mg_pval *pp = &b->p[P_PAN];
    int stereo = in->channels >= 2;
    const float *xl = in->ch[0], *xr = in->ch[stereo ? 1 : 0];
    float *yl = out->ch[0], *yr = out->ch[1];
    float gl, gr;
    if (pp->constant) {
        if (stereo)
            balance_gains(pp->v[0], &gl, &gr);
        else
            mono_gains(s->law, pp->v[0], &gl, &gr);
        for (uint32_t i = 0; i < b->n; i++) {
            float l = xl[i], r = xr[i];
            yl[i] = l * gl;
            yr[i] = r * gr;
        }
        return;
    }
    for (uint32_t i = 0; i < b->n; i++) {
        if (stereo)
            balance_gains(pp->v[i], &gl, &gr);
        else
            mono_gains(s->law, pp->v[i], &gl, &gr);
        float l = xl[i], r = xr[i];
        yl[i] = l * gl;
        yr[i] = r * gr;
    }
}

const mg_node_desc mg_node_pan = {
    .name = "pan",
    .doc = "Pans a mono input or balances a stereo one onto a stereo output. Mono, theta = "
           "(pan+1) pi/4: law 'power' gL = cos theta, gR = sin theta (centre -3.01 dB, constant "
           "power); 'linear' gL = (1-pan)/2, gR = (1+pan)/2 (centre -6.02 dB); '-4.5' gL = "
           "cos(theta)^x, gR = sin(theta)^x with x = 4.5/3.0103 (centre -4.5 dB). Hard pan "
           "silences the other side. Stereo: balance, pan < 0 scales R by 1+pan, pan > 0 "
           "scales L by 1-pan, centre is unity. Pan changes ramp over 20 ms. No latency.",
    .inputs = pan_in, .n_inputs = 1,
    .outputs = pan_out, .n_outputs = 1,
    .params = pan_params, .n_params = 1,
    .options = pan_opts, .n_options = 1,
    .state_size = sizeof(pan_state),
    .flags = MG_NODE_INPLACE,
    .create = pan_create,
    .process = pan_process,
};
