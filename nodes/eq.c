/*
** eq.c: the `eq` node, a parametric equaliser with any number of bands (option `bands`),
** each band a `filter` (type, freq, q, bw, gain) in series. [control] create, [rt]
** reset/process (shared with `filter`, nodes/filter.c).
**
** Parameters are MULTI: type1..typeN, freq1..freqN, q1..qN, bw1..bwN, gain1..gainN, which Lua
** shows as eq.bands[k].type etc. The response is the product of the bands' responses. A peak
** or shelf band at 0 dB costs nothing once its state has rung out, and its state is then
** exactly zero, which is also what a 0 dB band's state is in this structure: turning it up
** later is as smooth as the gain ramp.
*/
#include <math.h>

#include "mg_filter.h"

#define EQ_MAX_BANDS 32

enum { OPT_BANDS, OPT_SLOPE };

static const mg_port_desc eq_in[] = {{.name = "in", .channels = MG_CH_MAX, .doc = "signal"}};
static const mg_port_desc eq_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "equalised signal, same channels as in"}};
static const mg_param_desc eq_params[] = {MG_FILTER_PARAMS(MG_PARAM_MULTI, MG_FT_PEAK)};
static const mg_option_desc eq_opts[] = {
    {.name = "bands", .type = MG_OPT_INT, .min = 1, .max = EQ_MAX_BANDS, .def = 4,
     .doc = "number of bands (type1..typeN, freq1..freqN, ...; Lua: eq.bands[k].gain)"},
    MG_FILTER_OPTIONS,
};

/* [any] x rounded to two significant digits (default frequencies read 430, not 430.887). */
static double round2(double x)
{
    double scale = pow(10.0, floor(log10(x)) - 1);
    return round(x / scale) * scale;
}

/*
** [control] Default layout: one band is a peak at 1 kHz; otherwise band 1 is a low shelf at
** 100 Hz, band N a high shelf at 8 kHz and the bands between peaks log-spaced between them.
** Every gain starts at 0 dB, so a new eq is transparent.
*/
static mg_status eq_create(void *state, mg_node *node)
{
    mg_filter_node *s = state;
    int n = mg_node_multi_count(node);
    mg_status st = mg_filter_node_setup(s, node, OPT_SLOPE, n);
    for (int k = 0; k < n && n > 1 && !st; k++) {
        int type = k == 0 ? MG_FT_LOWSHELF : k == n - 1 ? MG_FT_HIGHSHELF : MG_FT_PEAK;
        double freq = k == 0 ? 100 : k == n - 1 ? 8000 : round2(100 * pow(80.0, k / (n - 1.0)));
        st = mg_node_set_index(node, MG_FP_TYPE * n + k, type);
        if (!st)
            st = mg_node_set_index(node, MG_FP_FREQ * n + k, freq);
    }
    return st;
}

const mg_node_desc mg_node_eq = {
    .name = "eq",
    .doc = "Parametric equaliser: `bands` (1..32) filters in series, band k with parameters "
           "typek, freqk, qk, bwk, gaink exactly as the `filter` node (RBJ cookbook types "
           "lowpass, highpass, bandpass, notch, peak, lowshelf, highshelf, allpass; options "
           "slope and design apply to its lowpass/highpass bands). Response = product of the "
           "band responses (sum in dB). Defaults: with one band a 1 kHz peak; otherwise band "
           "1 lowshelf 100 Hz, band N highshelf 8 kHz, bands between peaks log-spaced as "
           "100*80^((k-1)/(N-1)) Hz rounded to 2 digits; q 0.7071 (shelf slope S = 1), bw 0, "
           "gain 0 dB. Peaks and shelves at 0 dB are bypassed at no cost (their state rings "
           "out first and is then exactly zero, so turning a band up later is click-free). "
           "Each section is a trapezoidal state-variable filter in double precision whose "
           "coefficients follow ramping parameters (20 ms) every sample. Any channel count, "
           "no latency.",
    .inputs = eq_in, .n_inputs = 1,
    .outputs = eq_out, .n_outputs = 1,
    .params = eq_params, .n_params = MG_FP_COUNT,
    .options = eq_opts, .n_options = (int)(sizeof eq_opts / sizeof eq_opts[0]),
    .multi_option = "bands",
    .main_param = "gain1",
    .state_size = MG_FILTER_NODE_SIZE(EQ_MAX_BANDS),
    .flags = MG_NODE_INPLACE,
    .create = eq_create,
    .reset = mg_filter_node_reset,
    .process = mg_filter_node_process,
    .process_chain = mg_filter_node_chain,
    .tail = mg_filter_node_tail,
    .response = mg_filter_node_response,
};
