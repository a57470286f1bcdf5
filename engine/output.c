/*
** output.c: the `output` node, the graph's sink. Every graph has exactly one, made with the
** graph; what reaches its input is the rendered or played result. [rt] process.
**
** It is the last line of defence for files and speakers: a non-finite sample (NaN, Inf) is
** replaced by silence and counted, so NaN never reaches a file or a device.
*/
#include <math.h>
#include <string.h>

#include "mg_internal.h"

typedef struct output_state {
    uint64_t nonfinite; /* [rt] written; read by the control thread between blocks */
} output_state;

static const mg_port_desc output_in[] = {
    {.name = "in", .channels = MG_CH_OPTION,
     .doc = "the mix; up/down-mixed to the output's channel count"}};
static const mg_port_desc output_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "the final signal (for meters)"}};
static const mg_option_desc output_opts[] = {
    {.name = "channels", .type = MG_OPT_INT, .min = 1, .max = MG_MAX_CHANNELS, .def = 2,
     .doc = "output channels (graph setting)"},
};

/*
** [rt] The output may run in place (its buffer is then the input's). A quick vectorizable scan
** finds whether anything is non-finite; only then is the block repaired sample by sample.
*/
static void output_process(void *state, const mg_block *b)
{
    output_state *s = state;
    for (int c = 0; c < b->out[0].channels; c++) {
        const float *x = b->in[0].ch[c];
        float *y = b->out[0].ch[c];
        uint32_t bad = 0;
        for (uint32_t i = 0; i < b->n; i++) {
            uint32_t u; /* exponent all ones: Inf or NaN */
            memcpy(&u, &x[i], sizeof u);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
        }
        if (!bad) {
            if (y != x)
                memcpy(y, x, b->n * sizeof *y);
            continue;
        }
        for (uint32_t i = 0; i < b->n; i++) {
            int ok = isfinite(x[i]);
            s->nonfinite += !ok;
            y[i] = ok ? x[i] : 0.0f;
        }
    }
}

static void output_reset(void *state) { ((output_state *)state)->nonfinite = 0; }

const mg_node_desc mg_node_output = {
    .name = "output",
    .doc = "The graph's sink: what reaches it is rendered to the file or played. Non-finite "
           "samples (NaN, Inf) are replaced by silence and counted. Each graph has one, "
           "`g.output` in Lua.",
    .inputs = output_in, .n_inputs = 1,
    .outputs = output_out, .n_outputs = 1,
    .options = output_opts, .n_options = 1,
    .state_size = sizeof(output_state),
    .flags = MG_NODE_SINK | MG_NODE_INPLACE,
    .reset = output_reset,
    .process = output_process,
};

uint64_t mg_graph_nonfinite(const mg_graph *g)
{
    return ((const output_state *)g->output->state)->nonfinite;
}
