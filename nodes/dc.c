/*
** dc.c: the `dc` node, a constant (or automated) signal equal to its `value` parameter.
** Runs on the processing thread ([rt] process); the descriptor is read by the control side.
**
** It outputs exactly the parameter values the engine hands it, sample by sample, so it is the
** probe the automation tests read a parameter's timeline through, and a control signal
** (automated offset, envelope) to modulate other parameters with.
*/
#include <string.h>

#include "mg_node.h"

static const mg_port_desc dc_out[] = {
    {.name = "out", .channels = MG_CH_OPTION, .doc = "the value on every channel"}};

static const mg_option_desc dc_opts[] = {
    {.name = "channels", .type = MG_OPT_INT, .min = 1, .max = MG_MAX_CHANNELS, .def = 1,
     .doc = "output channels"},
};

static const mg_param_desc dc_params[] = {
    {.name = "value", .unit = "", .min = -1e6, .max = 1e6, .def = 0, .smooth_ms = 0,
     .doc = "the output sample value"},
};

/* [rt] */
static void dc_process(void *state, const mg_block *b)
{
    (void)state;
    const mg_pval *p = &b->p[0];
    for (int c = 0; c < b->out[0].channels; c++) {
        float *y = b->out[0].ch[c];
        if (p->constant)
            for (uint32_t i = 0; i < b->n; i++)
                y[i] = p->v[0];
        else
            memcpy(y, p->v, b->n * sizeof *y);
    }
}

const mg_node_desc mg_node_dc = {
    .name = "dc",
    .doc = "Outputs its `value` parameter as a signal, sample by sample: a constant, an "
           "automated control signal for modulation, or a probe that shows a parameter's "
           "automation. Never ends (give a duration).",
    .outputs = dc_out, .n_outputs = 1,
    .params = dc_params, .n_params = 1,
    .options = dc_opts, .n_options = 1,
    .process = dc_process,
};
