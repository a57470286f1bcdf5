/*
** fade.c: the `fade` node (fade in and fade out at sample-exact times) and the `crossfade` node
** (from input a to input b), sharing one set of fade curves. [control] create/prepare/destroy,
** [rt] process.
**
** A fade curve f maps the position u in [0, 1] through a fade to a gain, with f(0) = 0 and
** f(1) = 1 exactly (the ends are clamped, not computed):
**   linear       f = u                                      -6.02 dB at u = 1/2
**   equal-power  f = sin(pi u / 2)                          -3.01 dB; f(u)^2 + f(1-u)^2 = 1
**   exponential  f = (A^u - 1) / (A - 1), A = 10^(60/20)    linear in dB over a 60 dB range
**                                                           (offset so f(0) = 0); -30.27 dB
**   logarithmic  f = ln(1 + (A - 1) u) / ln A               the inverse of exponential; -0.92 dB
**   s-curve      f = (1 - cos(pi u)) / 2                    -6.02 dB, flat at both ends;
**                                                           f(u) + f(1-u) = 1
** A fade that starts at frame S and ends at frame E (N = E - S frames) has u = (n - S) / N at
** frame n; a fade-out uses the mirror f((E - n) / N). Every gain is a function of the absolute
** frame index alone, so the output is the same at any block size.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_node.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define FADE_SHAPES "linear|equal-power|exponential|logarithmic|s-curve"
enum { SHAPE_LINEAR, SHAPE_POWER, SHAPE_EXP, SHAPE_LOG, SHAPE_SCURVE };
#define FADE_RANGE_AMP 1000.0 /* A = 10^(60/20): the exponential and logarithmic range */

/* [any] The fade curve: gain at position u through a fade (see the file comment). */
static double fade_curve(int shape, double u)
{
    if (!(u > 0))
        return 0;
    if (u >= 1)
        return 1;
    switch (shape) {
    case SHAPE_POWER: return sin(0.5 * M_PI * u);
    case SHAPE_EXP: return (pow(FADE_RANGE_AMP, u) - 1) / (FADE_RANGE_AMP - 1);
    case SHAPE_LOG: return log1p((FADE_RANGE_AMP - 1) * u) / log(FADE_RANGE_AMP);
    case SHAPE_SCURVE: return 0.5 - 0.5 * cos(M_PI * u);
    default: return u;
    }
}

/* [any] Gain of a rise from 0 at frame s to 1 at frame e (e == s: a step at s). */
static float rise(int shape, int64_t s, int64_t e, int64_t n)
{
    if (n < s)
        return 0.0f;
    if (n >= e)
        return 1.0f;
    return (float)fade_curve(shape, (double)(n - s) / (double)(e - s));
}

/* [any] Gain of a fall from 1 at frame s to 0 at frame e (e == s: a cut at s). */
static float fall(int shape, int64_t s, int64_t e, int64_t n)
{
    if (n < s)
        return 1.0f;
    if (n >= e)
        return 0.0f;
    return (float)fade_curve(shape, (double)(e - n) / (double)(e - s));
}

/* ---- fade ---- */

enum { F_IN_START, F_IN_LENGTH, F_OUT_START, F_OUT_LENGTH, F_SHAPE };

typedef struct fade_state {
    double in_start, in_length, out_start, out_length; /* [immutable] s */
    int shape;                                         /* [immutable] */
    int has_out;                                       /* [immutable] a fade-out was asked */
    int64_t s1, e1, s2, e2; /* [control] frames: rise [s1, e1], fall [s2, e2] */
    float *gain;            /* [rt] scratch: one gain per frame of a block */
} fade_state;

static mg_status fade_create(void *state, mg_node *node)
{
    fade_state *s = state;
    s->in_start = mg_node_opt_num(node, F_IN_START);
    s->in_length = mg_node_opt_num(node, F_IN_LENGTH);
    s->out_start = mg_node_opt_num(node, F_OUT_START);
    s->out_length = mg_node_opt_num(node, F_OUT_LENGTH);
    s->shape = (int)mg_node_opt_num(node, F_SHAPE);
    s->has_out = s->out_start >= 0;
    if (s->out_start < 0 && s->out_start != -1)
        return mg_node_errorf(node, MG_ERR_RANGE,
                              "out_start %g: give a time >= 0, or -1 for no fade-out",
                              s->out_start);
    return MG_OK;
}

static mg_status fade_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    fade_state *s = state;
    s->s1 = llround(s->in_start * pr->rate);
    s->e1 = llround((s->in_start + s->in_length) * pr->rate);
    s->s2 = s->has_out ? llround(s->out_start * pr->rate) : INT64_MAX;
    s->e2 = s->has_out ? llround((s->out_start + s->out_length) * pr->rate) : INT64_MAX;
    float *g = malloc((size_t)pr->block * sizeof *g);
    if (!g)
        return mg_node_errorf(node, MG_ERR_NOMEM, "out of memory");
    free(s->gain);
    s->gain = g;
    return MG_OK;
}

static void fade_destroy(void *state)
{
    fade_state *s = state;
    free(s->gain);
    s->gain = NULL;
}

/* [rt] */
static void fade_process(void *state, const mg_block *b)
{
    fade_state *s = state;
    const mg_buf *in = &b->in[0];
    mg_buf *out = &b->out[0];
    int64_t p0 = (int64_t)b->pos, p1 = p0 + b->n; /* the block is frames [p0, p1) */
    if (p1 <= s->s1 || p0 >= s->e2) {             /* before the fade-in, after the fade-out */
        for (int c = 0; c < out->channels; c++)
            memset(out->ch[c], 0, b->n * sizeof(float));
        return;
    }
    if (p0 >= s->e1 && p1 <= s->s2) { /* between the fades: unity */
        for (int c = 0; c < out->channels; c++)
            if (out->ch[c] != in->ch[c])
                memcpy(out->ch[c], in->ch[c], b->n * sizeof(float));
        return;
    }
    float *g = s->gain;
    for (uint32_t i = 0; i < b->n; i++) {
        int64_t n = p0 + (int64_t)i;
        g[i] = rise(s->shape, s->s1, s->e1, n) * fall(s->shape, s->s2, s->e2, n);
    }
    for (int c = 0; c < out->channels; c++) {
        const float *x = in->ch[c];
        float *y = out->ch[c];
        for (uint32_t i = 0; i < b->n; i++)
            y[i] = x[i] * g[i];
    }
}

static const mg_port_desc fade_in[] = {{.name = "in", .channels = MG_CH_MAX, .doc = "signal"}};
static const mg_port_desc fade_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "faded signal, same channels as in"}};
static const mg_option_desc fade_opts[] = {
    {.name = "in_start",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = 0,
     .max = 1e6,
     .def = 0,
     .doc = "graph time where the fade-in starts (gain 0 there and before)"},
    {.name = "in_length",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = 0,
     .max = 1e6,
     .def = 0,
     .doc = "fade-in duration; 0 = the signal starts at full level at in_start"},
    {.name = "out_start",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = -1,
     .max = 1e6,
     .def = -1,
     .doc = "graph time where the fade-out starts (gain 1 there); -1 = no fade-out"},
    {.name = "out_length",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = 0,
     .max = 1e6,
     .def = 0,
     .doc = "fade-out duration; gain 0 from its end on; 0 = a cut at out_start"},
    {.name = "shape",
     .type = MG_OPT_ENUM,
     .choices = FADE_SHAPES,
     .def = SHAPE_LINEAR,
     .doc = "fade curve (both fades): linear, equal-power (sin), exponential (60 dB, dB-linear), "
            "logarithmic (its inverse), s-curve (raised cosine)"},
};

const mg_node_desc mg_node_fade = {
    .name = "fade",
    .doc = "Fades the signal in and out at sample-exact graph times: y = x * rise(n) * fall(n). "
           "The fade-in rises from gain 0 at frame S1 = round(in_start*rate) to exactly 1 at "
           "E1 = round((in_start+in_length)*rate) (silence before S1); the fade-out falls from "
           "1 at S2 = round(out_start*rate) to exactly 0 at E2 = round((out_start+out_length)*"
           "rate) (silence from E2 on; out_start -1: none). With N frames in a fade and k "
           "frames into it, u = k/N and the gain is c(u) (in) or c(1-u) (out), c the `shape`: "
           "linear u (-6.02 dB at the midpoint); equal-power sin(pi u/2) (-3.01 dB); "
           "exponential (1000^u - 1)/999, dB-linear over 60 dB (-30.27 dB); logarithmic "
           "ln(1 + 999 u)/ln 1000, its inverse (-0.92 dB); s-curve (1 - cos(pi u))/2 "
           "(-6.02 dB, flat ends). Overlapping fades multiply. Any channel count, no latency, "
           "no tail. The node does not shorten a render: an endless input stays endless "
           "(silent after E2).",
    .inputs = fade_in,
    .n_inputs = 1,
    .outputs = fade_out,
    .n_outputs = 1,
    .options = fade_opts,
    .n_options = 5,
    .state_size = sizeof(fade_state),
    .flags = MG_NODE_INPLACE,
    .create = fade_create,
    .prepare = fade_prepare,
    .process = fade_process,
    .destroy = fade_destroy,
};

/* ---- crossfade ---- */

enum { X_START, X_LENGTH, X_SHAPE };

typedef struct xfade_state {
    double start, length; /* [immutable] s */
    int shape;            /* [immutable] */
    int64_t s, e;         /* [control] frames: the crossfade runs over [s, e] */
    float *ga, *gb;       /* [rt] scratch: gains of a and b per frame of a block */
} xfade_state;

static mg_status xfade_create(void *state, mg_node *node)
{
    xfade_state *s = state;
    s->start = mg_node_opt_num(node, X_START);
    s->length = mg_node_opt_num(node, X_LENGTH);
    s->shape = (int)mg_node_opt_num(node, X_SHAPE);
    return MG_OK;
}

static mg_status xfade_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    xfade_state *s = state;
    s->s = llround(s->start * pr->rate);
    s->e = llround((s->start + s->length) * pr->rate);
    float *ga = malloc((size_t)pr->block * sizeof *ga),
          *gb = malloc((size_t)pr->block * sizeof *gb);
    if (!ga || !gb) {
        free(ga);
        free(gb);
        return mg_node_errorf(node, MG_ERR_NOMEM, "out of memory");
    }
    free(s->ga);
    free(s->gb);
    s->ga = ga;
    s->gb = gb;
    return MG_OK;
}

static void xfade_destroy(void *state)
{
    xfade_state *s = state;
    free(s->ga);
    free(s->gb);
    s->ga = s->gb = NULL;
}

/* [rt] */
static void xfade_process(void *state, const mg_block *b)
{
    xfade_state *s = state;
    const mg_buf *a = &b->in[0], *bb = &b->in[1];
    mg_buf *out = &b->out[0];
    int64_t p0 = (int64_t)b->pos, p1 = p0 + b->n;
    if (p1 <= s->s || p0 >= s->e) { /* only a, or only b */
        const mg_buf *src = p1 <= s->s ? a : bb;
        for (int c = 0; c < out->channels; c++)
            memcpy(out->ch[c], src->ch[c], b->n * sizeof(float));
        return;
    }
    for (uint32_t i = 0; i < b->n; i++) {
        int64_t n = p0 + (int64_t)i;
        s->ga[i] = fall(s->shape, s->s, s->e, n);
        s->gb[i] = rise(s->shape, s->s, s->e, n);
    }
    for (int c = 0; c < out->channels; c++) {
        const float *xa = a->ch[c], *xb = bb->ch[c];
        float *y = out->ch[c];
        for (uint32_t i = 0; i < b->n; i++)
            y[i] = xa[i] * s->ga[i] + xb[i] * s->gb[i];
    }
}

static const mg_port_desc xfade_in[] = {
    {.name = "a", .channels = MG_CH_WIDEST, .doc = "signal before the crossfade"},
    {.name = "b", .channels = MG_CH_WIDEST, .doc = "signal after the crossfade"},
};
static const mg_port_desc xfade_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "as wide as the wider input"}};
static const mg_option_desc xfade_opts[] = {
    {.name = "start",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = 0,
     .max = 1e6,
     .def = 0,
     .doc = "graph time where the crossfade starts (only a before)"},
    {.name = "length",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = 0,
     .max = 1e6,
     .def = 1,
     .doc = "crossfade duration (only b from its end on); 0 = a cut from a to b"},
    {.name = "shape",
     .type = MG_OPT_ENUM,
     .choices = FADE_SHAPES,
     .def = SHAPE_POWER,
     .doc = "curve: equal-power for unrelated signals (constant power), linear or s-curve for "
            "identical or correlated ones (constant amplitude)"},
};

const mg_node_desc mg_node_crossfade = {
    .name = "crossfade",
    .doc = "Crossfades from input a to input b: y = c(1-u) a + c(u) b over frames "
           "S = round(start*rate) to E = round((start+length)*rate), u = (n-S)/(E-S); only a "
           "before S (gains exactly 1 and 0 at S), only b from E on (exactly 0 and 1). c is the "
           "`shape`, the same curves as `fade`: equal-power sin(pi u/2) (the default: "
           "c(u)^2 + c(1-u)^2 = 1, so uncorrelated signals of equal level keep their power, "
           "and identical ones bump +3.01 dB at the midpoint); linear u and s-curve "
           "(1 - cos(pi u))/2 (c(u) + c(1-u) = 1: identical signals pass unchanged, "
           "uncorrelated ones dip -3.01 dB at the midpoint); exponential and logarithmic as in "
           "`fade`. Inputs are widened to the wider one by the engine's up-mix rules; an "
           "unconnected input is silence. No latency, no tail.",
    .inputs = xfade_in,
    .n_inputs = 2,
    .outputs = xfade_out,
    .n_outputs = 1,
    .options = xfade_opts,
    .n_options = 3,
    .state_size = sizeof(xfade_state),
    .create = xfade_create,
    .prepare = xfade_prepare,
    .process = xfade_process,
    .destroy = xfade_destroy,
};
