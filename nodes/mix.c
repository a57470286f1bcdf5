/*
** mix.c: the `mix` node, a summing mixer with N inputs (option `inputs`) and one gain per input
** (gain1..gainN, dB, ramped like `gain`). [control] create, [rt] process.
**
** out = sum_k 10^(gain_k/20) * in_k. The inputs are MG_CH_WIDEST ports: the engine brings
** every input to the width of the widest with its up/down-mix rules (mono into stereo feeds
** both sides, L = R = M), so the output is as wide as the widest input and this node only
** adds. Unconnected inputs are skipped.
*/
#include <string.h>

#include "mg_node.h"

typedef struct mix_state {
    int inputs; /* [immutable] */
} mix_state;

static const mg_port_desc mix_in[] = {
    {.name = "in", .channels = MG_CH_WIDEST, .flags = MG_PORT_MULTI,
     .doc = "signal to add; widened like the engine's up-mix to the widest input"}};
static const mg_port_desc mix_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "sum, as wide as the widest input"}};
static const mg_param_desc mix_params[] = {
    {.name = "gain", .unit = "dB", .min = -144, .max = 24, .def = 0, .smooth_ms = 20,
     .flags = MG_PARAM_MULTI, .doc = "level of the matching input; -144 is silence"},
};
static const mg_option_desc mix_opts[] = {
    {.name = "inputs", .type = MG_OPT_INT, .min = 1, .max = 64, .def = 2,
     .doc = "number of inputs (in1..inN, gain1..gainN)"},
};

/* [control] */
static mg_status mix_create(void *state, mg_node *node)
{
    mix_state *s = state;
    s->inputs = mg_node_multi_count(node);
    return MG_OK;
}

/* [rt] y += x * gain over the block (gain constant or one value per frame). */
static void add_scaled(float *y, const float *x, const mg_pval *p, uint32_t n)
{
    if (p->constant) {
        float k = mg_db_to_amp(p->v[0]);
        if (k == 0.0f)
            return;
        for (uint32_t i = 0; i < n; i++)
            y[i] += x[i] * k;
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        y[i] += x[i] * mg_db_to_amp(p->v[i]);
}

/* [rt] */
static void mix_process(void *state, const mg_block *b)
{
    const mix_state *s = state;
    mg_buf *out = &b->out[0];
    for (int c = 0; c < out->channels; c++)
        memset(out->ch[c], 0, b->n * sizeof(float));
    for (int k = 0; k < s->inputs; k++)
        if (b->in[k].connected)
            for (int c = 0; c < out->channels; c++)
                add_scaled(out->ch[c], b->in[k].ch[c], &b->p[k], b->n);
}

const mg_node_desc mg_node_mix = {
    .name = "mix",
    .doc = "Sums N inputs (option `inputs`, ports in1..inN), each scaled by its own gain in dB "
           "(gain1..gainN, ramped over 20 ms; -144 is silence). The output is as wide as the "
           "widest input; narrower inputs are widened by the engine's up-mix rules (mono into "
           "stereo: L = R = M; see docs/architecture.md). No latency.",
    .inputs = mix_in, .n_inputs = 1,
    .outputs = mix_out, .n_outputs = 1,
    .params = mix_params, .n_params = 1,
    .options = mix_opts, .n_options = 1,
    .multi_option = "inputs",
    .state_size = sizeof(mix_state),
    .create = mix_create,
    .process = mix_process,
};
