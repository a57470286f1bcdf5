/*
** delay.c: the `delay` node, a plain delay line, and the one node type allowed to close a
** feedback loop. [rt] process halves; [control] prepare allocates the line.
**
** y[n] = x[n - d], d = round(time * rate / 1000) samples. Outside a loop any d >= 0 is exact
** at every block size. Inside a feedback loop the engine splits the node: its read half runs
** first (producing this block from earlier input) and its write half last, so there the
** effective delay is max(d, block size). (The mixing issue adds interpolation, feedback
** filtering and click-free time changes.)
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_node.h"

enum { OPT_MAX_TIME };
enum { P_TIME };

typedef struct delay_state {
    float *line;      /* channels x size, channel-major */
    uint32_t size;    /* power of two >= max delay + block */
    uint32_t mask;
    int channels;
    uint64_t w;       /* frames written since reset */
    int block;
    double rate;
} delay_state;

static const mg_port_desc delay_in[] = {{.name = "in", .channels = MG_CH_MAX, .doc = "signal"}};
static const mg_port_desc delay_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "delayed signal"}};
static const mg_param_desc delay_params[] = {
    {.name = "time", .unit = "ms", .min = 0, .max = 60000, .def = 250, .smooth_ms = 0,
     .doc = "delay time, rounded to whole samples; at most max_time"},
};
static const mg_option_desc delay_opts[] = {
    {.name = "max_time", .type = MG_OPT_NUMBER, .unit = "s", .min = 0.001, .max = 60, .def = 5,
     .doc = "longest delay the line can hold (sets its memory)"},
};

static mg_status delay_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    delay_state *s = state;
    double max_s = mg_node_opt_num(node, OPT_MAX_TIME);
    uint64_t need = (uint64_t)ceil(max_s * pr->rate) + (uint64_t)pr->block + 1;
    uint32_t size = 1;
    while (size < need)
        size <<= 1;
    int ch = pr->out_ch[0];
    float *line = calloc((size_t)size * (size_t)ch, sizeof *line);
    if (!line)
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate a %g s delay line", max_s);
    free(s->line);
    s->line = line;
    s->size = size;
    s->mask = size - 1;
    s->channels = ch;
    s->w = 0;
    s->block = pr->block;
    s->rate = pr->rate;
    return MG_OK;
}

/* [control] the echo ends one delay time after the input */
static int64_t delay_tail(const void *state, const mg_node *node, double rate)
{
    const delay_state *s = state;
    double t = mg_node_get_index(node, P_TIME) * 0.001;
    double max_s = (double)(s->size - (uint32_t)s->block - 1) / rate;
    return (int64_t)ceil((t < max_s ? t : max_s) * rate);
}

static void delay_reset(void *state)
{
    delay_state *s = state;
    if (s->line)
        memset(s->line, 0, (size_t)s->size * (size_t)s->channels * sizeof *s->line);
    s->w = 0;
}

static uint32_t delay_frames(const delay_state *s, float time_ms, uint32_t min)
{
    double d = floor(time_ms * 0.001 * s->rate + 0.5);
    uint32_t lim = s->size - (uint32_t)s->block - 1;
    uint32_t di = d > lim ? lim : (uint32_t)d;
    return di < min ? min : di;
}

/* [rt] */
static void write_block(delay_state *s, const mg_block *b)
{
    for (int c = 0; c < s->channels; c++) {
        float *line = s->line + (size_t)c * s->size;
        const float *x = b->in[0].ch[c];
        for (uint32_t i = 0; i < b->n; i++)
            line[(s->w + i) & s->mask] = x[i];
    }
    s->w += b->n;
}

/* [rt] read this block's output, the write position being at frame 0 of the block */
static void read_block(delay_state *s, const mg_block *b, uint32_t min)
{
    uint32_t d = delay_frames(s, b->p[P_TIME].v[0], min);
    for (int c = 0; c < s->channels; c++) {
        const float *line = s->line + (size_t)c * s->size;
        float *y = b->out[0].ch[c];
        for (uint32_t i = 0; i < b->n; i++)
            y[i] = line[(s->w + i - d) & s->mask];
    }
}

/* [rt] whole node: write first so that delays shorter than a block are exact */
static void delay_process(void *state, const mg_block *b)
{
    delay_state *s = state;
    write_block(s, b);
    s->w -= b->n;
    read_block(s, b, 0);
    s->w += b->n;
}

static void delay_process_read(void *state, const mg_block *b)
{
    delay_state *s = state;
    read_block(s, b, (uint32_t)s->block);
}

static void delay_process_write(void *state, const mg_block *b) { write_block(state, b); }

static void delay_destroy(void *state) { free(((delay_state *)state)->line); }

const mg_node_desc mg_node_delay = {
    .name = "delay",
    .doc = "Delays the signal by `time` ms, rounded to whole samples. The only node that may "
           "close a feedback loop; inside a loop the effective delay is at least one block.",
    .inputs = delay_in, .n_inputs = 1,
    .outputs = delay_out, .n_outputs = 1,
    .params = delay_params, .n_params = 1,
    .options = delay_opts, .n_options = 1,
    .state_size = sizeof(delay_state),
    .flags = MG_NODE_FEEDBACK,
    .prepare = delay_prepare,
    .reset = delay_reset,
    .process = delay_process,
    .process_read = delay_process_read,
    .process_write = delay_process_write,
    .tail = delay_tail,
    .destroy = delay_destroy,
};
