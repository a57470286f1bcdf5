/*
** gain.c: the `gain` node, a level change in dB. Runs on the processing thread ([rt] process);
** the descriptor is read by the control side.
**
** y = x * 10^(gain/20). A change of `gain` ramps linearly in dB over the smoothing time, so a
** step from 0 dB to silence is a smooth exponential fade, never a jump. -144 dB is silence.
*/
#include <string.h>

#include "mg_node.h"

static const mg_port_desc gain_in[] = {{.name = "in", .channels = MG_CH_MAX, .doc = "signal"}};
static const mg_port_desc gain_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "signal, same channels as in"}};
typedef struct gain_state {
    float sign; /* [immutable] -1 when inverted */
} gain_state;

static const mg_option_desc gain_opts[] = {
    {.name = "invert", .type = MG_OPT_BOOL, .def = 0,
     .doc = "flip the polarity (multiply by -1), e.g. for null tests"},
};

static const mg_param_desc gain_params[] = {
    {.name = "gain", .unit = "dB", .min = -144, .max = 24, .def = 0, .smooth_ms = 20,
     .doc = "level change; -144 is silence"},
};

/* [control] */
static mg_status gain_create(void *state, mg_node *node)
{
    ((gain_state *)state)->sign = mg_node_opt_num(node, 0) ? -1.0f : 1.0f;
    return MG_OK;
}

/* [rt] */
static void gain_process(void *state, const mg_block *b)
{
    float sign = ((const gain_state *)state)->sign;
    const mg_buf *in = &b->in[0];
    mg_buf *out = &b->out[0];
    const mg_pval *p = &b->p[0];
    if (p->constant) {
        float k = sign * mg_db_to_amp(p->v[0]);
        for (int c = 0; c < out->channels; c++) {
            const float *x = in->ch[c];
            float *y = out->ch[c];
            if (k == 1.0f) { /* x * 1 is x: a mixer's 0 dB input trim or open mute */
                if (y != x)
                    memcpy(y, x, b->n * sizeof *y);
                continue;
            }
            for (uint32_t i = 0; i < b->n; i++)
                y[i] = x[i] * k;
        }
        return;
    }
    for (uint32_t i = 0; i < b->n; i++) {
        float k = sign * mg_db_to_amp(p->v[i]);
        for (int c = 0; c < out->channels; c++)
            out->ch[c][i] = in->ch[c][i] * k;
    }
}

const mg_node_desc mg_node_gain = {
    .name = "gain",
    .doc = "Scales the signal by a gain in dB (y = x * 10^(gain/20), times -1 with `invert`). "
           "Changes ramp linearly in dB over 20 ms. Works on any channel count.",
    .inputs = gain_in, .n_inputs = 1,
    .outputs = gain_out, .n_outputs = 1,
    .params = gain_params, .n_params = 1,
    .options = gain_opts, .n_options = 1,
    .state_size = sizeof(gain_state),
    .flags = MG_NODE_INPLACE,
    .create = gain_create,
    .process = gain_process,
};
