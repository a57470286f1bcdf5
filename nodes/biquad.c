/*
** biquad.c: the `filter` node, one RBJ-cookbook filter of a chosen type (lowpass, highpass,
** bandpass, notch, peak, low/high shelf, allpass) with Butterworth or Linkwitz-Riley
** lowpass/highpass up to 48 dB/oct. [control] create, [rt] reset/process.
**
** Everything but the descriptor is shared with `eq` (nodes/filter.c): a filter node is one
** band. Each second-order section runs as a trapezoidal state-variable filter whose
** coefficients are recomputed every sample while a parameter ramps; mg_filter.h explains the
** structure and why it was chosen over TDF-II for modulation.
*/
#include "mg_filter.h"

enum { OPT_SLOPE };

static const mg_port_desc filter_in[] = {{.name = "in", .channels = MG_CH_MAX, .doc = "signal"}};
static const mg_port_desc filter_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "filtered signal, same channels as in"}};
static const mg_param_desc filter_params[] = {MG_FILTER_PARAMS(0, MG_FT_LOWPASS)};
static const mg_option_desc filter_opts[] = {MG_FILTER_OPTIONS};

/* [control] */
static mg_status filter_create(void *state, mg_node *node)
{
    return mg_filter_node_setup(state, node, OPT_SLOPE, 1);
}

const mg_node_desc mg_node_filter = {
    .name = "filter",
    .doc = "Second-order filter after the RBJ Audio EQ Cookbook, any channel count, no "
           "latency. With w0 = 2 pi freq/rate, A = 10^(gain/40), prototypes (s at freq): "
           "lowpass 1/D, highpass s^2/D, bandpass (s/q)/D (0 dB at freq), notch (s^2+1)/D, "
           "allpass (s^2-s/q+1)/D, D = s^2+s/q+1; peak (s^2+s A/q+1)/(s^2+s/(A q)+1); "
           "lowshelf A (s^2+s sqrt(A)/q+A)/(A s^2+s sqrt(A)/q+1); highshelf "
           "A (A s^2+s sqrt(A)/q+1)/(s^2+s sqrt(A)/q+A); bilinear transform prewarped at "
           "freq (clamped to 0.49 rate). bw > 0 (octaves) sets q = 1/(2 sinh(ln2/2 bw "
           "w0/sin w0)) for bandpass, notch, peak and allpass. Lowpass/highpass: option "
           "slope 12/24/36/48 dB/oct as 1 to 4 cascaded sections; design butterworth "
           "(-3.01 dB at freq; at slope 12 q is the section's Q, 0.7071 = Butterworth) or "
           "linkwitz-riley (Butterworth of half the order squared, -6.02 dB at freq, section "
           "Qs fixed; the 12 and 36 dB/oct highpass is polarity-inverted so lowpass + "
           "highpass at one freq always sum to an allpass). Structure: each section is a "
           "trapezoidal (TPT/Cytomic) state-variable filter in double precision, "
           "g = tan(w0/2), whose coefficients follow freq, q, bw and gain every sample while "
           "they ramp (20 ms), so sweeps are smooth and stay stable; its response is exactly "
           "the cookbook's. A peak or shelf at 0 dB is bypassed (after its state rings out). "
           "type changes apply at once.",
    .inputs = filter_in, .n_inputs = 1,
    .outputs = filter_out, .n_outputs = 1,
    .params = filter_params, .n_params = MG_FP_COUNT,
    .options = filter_opts, .n_options = (int)(sizeof filter_opts / sizeof filter_opts[0]),
    .main_param = "freq",
    .state_size = MG_FILTER_NODE_SIZE(1),
    .flags = MG_NODE_INPLACE,
    .create = filter_create,
    .reset = mg_filter_node_reset,
    .process = mg_filter_node_process,
    .process_chain = mg_filter_node_chain,
    .tail = mg_filter_node_tail,
    .response = mg_filter_node_response,
};
