/*
** meter.c: the `meter` node, a BS.1770-5 / EBU R128 loudness meter in the signal path. It
** passes its input through unchanged and measures it with the engine's meter
** (engine/loudness.c): momentary, short-term, integrated, loudness range, sample and true
** peak, readable as meters from Lua (m.integrated) and from any thread while audio runs.
**
** Threads: create/prepare/destroy [control] (prepare allocates the meter); reset/process [rt]
** (the meter's add and getters do not allocate or lock); the meter callback [any] (atomic
** loads of what process published). M, S and the peaks are published every block; the
** integrated loudness and the range, which scan the gating histograms, in the blocks where
** one of the meter's 100 ms steps ends (the only moments they can change).
*/
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "mg_loudness.h"
#include "mg_node.h"

enum { M_MOM, M_SHORT, M_INT, M_LRA, M_TP, M_SP, M_MMAX, M_SMAX, N_METERS };
#define METER_NAMES                                                                             \
    "momentary|shortterm|integrated|lra|true_peak|sample_peak|momentary_max|shortterm_max"

typedef struct meter_state {
    mg_loudness *m;               /* [control] made in prepare; fed [rt] */
    uint64_t frames;              /* [rt] frames measured */
    uint64_t step;                /* [control] frames in the meter's 100 ms step */
    _Atomic double out[N_METERS]; /* [rt] written, [any] read */
} meter_state;

static const mg_port_desc meter_in[] = {
    {.name = "in", .channels = MG_CH_MAX, .doc = "signal to measure (1..8 channels)"}};
static const mg_port_desc meter_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "the input, unchanged"}};

static double to_db(double v) { return v > 0 ? 20 * log10(v) : -HUGE_VAL; }

/* [rt] Publish the meter's readings; `all` includes I and LRA. */
static void publish(meter_state *s, int all)
{
    double v[N_METERS] = {
        mg_loudness_momentary(s->m),
        mg_loudness_shortterm(s->m),
        0,
        0,
        to_db(mg_loudness_true_peak(s->m, MG_LOUDNESS_ALL)),
        to_db(mg_loudness_sample_peak(s->m, MG_LOUDNESS_ALL)),
        mg_loudness_momentary_max(s->m),
        mg_loudness_shortterm_max(s->m),
    };
    for (int i = 0; i < N_METERS; i++)
        if (i != M_INT && i != M_LRA)
            atomic_store_explicit(&s->out[i], v[i], memory_order_relaxed);
    if (all) {
        atomic_store_explicit(&s->out[M_INT], mg_loudness_integrated(s->m), memory_order_relaxed);
        atomic_store_explicit(&s->out[M_LRA], mg_loudness_range(s->m), memory_order_relaxed);
    }
}

/* [rt] */
static void meter_reset(void *state)
{
    meter_state *s = state;
    if (!s->m)
        return;
    mg_loudness_reset(s->m);
    s->frames = 0;
    publish(s, 1);
}

/* [control] Nothing measured yet: every reading is -inf (the range 0). */
static mg_status meter_create(void *state, mg_node *node)
{
    meter_state *s = state;
    (void)node;
    for (int i = 0; i < N_METERS; i++)
        atomic_store_explicit(&s->out[i], i == M_LRA ? 0.0 : -HUGE_VAL, memory_order_relaxed);
    return MG_OK;
}

/* [control] */
static mg_status meter_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    meter_state *s = state;
    mg_loudness_free(s->m);
    mg_status st;
    s->m = mg_loudness_new(pr->rate, pr->in_ch[0], &st);
    if (!s->m)
        return mg_node_errorf(node, st, "cannot make a loudness meter for %d channels at %g Hz",
                              pr->in_ch[0], pr->rate);
    s->step = (uint64_t)floor(pr->rate / 10.0 + 0.5);
    meter_reset(s);
    return MG_OK;
}

/* [rt] */
static void meter_process(void *state, const mg_block *b)
{
    meter_state *s = state;
    const mg_buf *in = &b->in[0];
    mg_buf *out = &b->out[0];
    for (int c = 0; c < out->channels; c++)
        if (out->ch[c] != in->ch[c])
            memcpy(out->ch[c], in->ch[c], b->n * sizeof(float));
    mg_loudness_add(s->m, (const float *const *)in->ch, b->n);
    /* I and the range change only when a 100 ms step of the meter ends (a new gating block
       and short-term value): publish them exactly then */
    uint64_t before = s->frames;
    s->frames += b->n;
    publish(s, s->frames / s->step != before / s->step);
}

/* [any] */
static double meter_meter(const void *state, const char *name)
{
    meter_state *s = (meter_state *)state;
    int i = mg_choice_index(METER_NAMES, name);
    return i < 0 ? NAN : atomic_load_explicit(&s->out[i], memory_order_relaxed);
}

/* [control] */
static void meter_destroy(void *state) { mg_loudness_free(((meter_state *)state)->m); }

/* (the symbol is not mg_node_meter: that name is the engine's meter reader) */
const mg_node_desc mg_node_loudness_meter = {
    .name = "meter",
    .doc = "Loudness meter after ITU-R BS.1770-5 / EBU R128 (Tech 3341, 3342) that passes its "
           "input through unchanged. Meters (read-only, also while rendering): `momentary` "
           "(400 ms) and `shortterm` (3 s) loudness and their maxima `momentary_max`, "
           "`shortterm_max` (evaluated every 5 ms), `integrated` (gated, since the start) in "
           "LUFS, `lra` (loudness range) in LU, `true_peak` (4x oversampled below 96 kHz) in "
           "dBTP and `sample_peak` in dBFS; -inf until there is something to report. Integrated "
           "and range update at the end of each 100 ms gating step. Channel weights by count: L R C 1.0, "
           "surrounds 1.41, LFE 0 (5.1 as L R C LFE Ls Rs). No latency.",
    .inputs = meter_in, .n_inputs = 1,
    .outputs = meter_out, .n_outputs = 1,
    .state_size = sizeof(meter_state),
    .flags = MG_NODE_INPLACE,
    .create = meter_create,
    .prepare = meter_prepare,
    .reset = meter_reset,
    .process = meter_process,
    .meter = meter_meter,
    .meters = METER_NAMES,
    .destroy = meter_destroy,
};
