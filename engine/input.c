/*
** input.c: the `input` node, a live input source (microphone, instrument) fed by the audio
** driver. [rt] process; the driver writes the graph's live input buffers (mg_live_process)
** before each block on the same thread.
**
** Offline there is no live input: the node plays silence (and never ends, like any live
** source, so an offline render of a patch with an input needs a duration).
*/
#include <string.h>

#include "mg_internal.h"

typedef struct input_state {
    const mg_buf *ext; /* [immutable] the graph's live input (channels 0 offline) */
    int first;         /* [immutable] first device channel, 0-based */
} input_state;

static const mg_port_desc input_out[] = {
    {.name = "out", .channels = MG_CH_OPTION, .doc = "the device's input channels"}};
static const mg_option_desc input_opts[] = {
    {.name = "channels", .type = MG_OPT_INT, .min = 1, .max = MG_MAX_CHANNELS, .def = 1,
     .doc = "how many device input channels to take"},
    {.name = "first", .type = MG_OPT_INT, .min = 1, .max = MG_MAX_CHANNELS, .def = 1,
     .doc = "the first of them (1 = the device's first input)"},
};

/* [control] */
static mg_status input_create(void *state, mg_node *node)
{
    input_state *s = state;
    s->ext = &mg_node_graph(node)->ext_in;
    s->first = (int)mg_node_opt_num(node, 1) - 1;
    if (s->first + (int)mg_node_opt_num(node, 0) > MG_MAX_CHANNELS)
        return mg_node_errorf(node, MG_ERR_RANGE, "channels %g from %d go past input %d",
                              mg_node_opt_num(node, 0), s->first + 1, MG_MAX_CHANNELS);
    return MG_OK;
}

/* [rt] */
static void input_process(void *state, const mg_block *b)
{
    const input_state *s = state;
    mg_buf *out = &b->out[0];
    for (int c = 0; c < out->channels; c++) {
        int k = s->first + c;
        if (k < s->ext->channels)
            memcpy(out->ch[c], s->ext->ch[k], b->n * sizeof(float));
        else
            memset(out->ch[c], 0, b->n * sizeof(float));
    }
}

const mg_node_desc mg_node_input = {
    .name = "input",
    .doc = "Live input from the audio device (`mixgraph play`): `channels` device inputs from "
           "`first` on. Offline it is silent and endless, so give the render a duration.",
    .outputs = input_out, .n_outputs = 1,
    .options = input_opts, .n_options = 2,
    .state_size = sizeof(input_state),
    .create = input_create,
    .process = input_process,
};

int mg_graph_input_channels(const mg_graph *g)
{
    int need = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const mg_node *n = g->nodes[i];
        if (n->d != &mg_node_input)
            continue;
        int top = (int)(n->opt[1].num + n->opt[0].num) - 1;
        if (top > need)
            need = top;
    }
    return need;
}
