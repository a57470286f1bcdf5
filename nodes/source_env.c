/*
** source_env.c: the note envelope of the source nodes (see source_env.h for the shape and its
** formulas). [control] config/prepare/free, [rt] mg_env_run and mg_env_clear_outside.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "source_env.h"

void mg_env_config_read(mg_env_config *c, const mg_node *node, int first)
{
    c->start = mg_node_opt_num(node, first + 0);
    c->duration = mg_node_opt_num(node, first + 1);
    c->attack = mg_node_opt_num(node, first + 2);
    c->release = mg_node_opt_num(node, first + 3);
    c->decay = mg_node_opt_num(node, first + 4);
}

/* [any] round(t * rate) as a frame index; t is range-checked by the option table. */
static int64_t frames(double t, double rate)
{
    return (int64_t)llround(t * rate);
}

mg_status mg_env_prepare(mg_env *e, const mg_env_config *c, double rate, int block,
                         mg_node *node)
{
    float *gain = malloc((size_t)(block > 0 ? block : 1) * sizeof *gain);
    if (!gain)
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the envelope scratch");
    free(e->gain);
    e->gain = gain;
    e->on = frames(c->start, rate);
    e->off = c->duration > 0 ? frames(c->start + c->duration, rate) : MG_FOREVER;
    if (e->off < e->on)
        e->off = e->on;
    e->attack = frames(c->attack * 0.001, rate);
    e->release = c->duration > 0 ? frames(c->release * 0.001, rate) : 0;
    e->decay = c->decay > 0 ? log(1e-3) / (c->decay * rate) : 0.0;
    return MG_OK;
}

void mg_env_free(mg_env *e)
{
    free(e->gain);
    e->gain = NULL;
}

int64_t mg_env_length(const mg_env *e)
{
    return e->off;
}

/* [rt] Gain of frame m, known to lie inside [on, off). */
static float gain_in_note(const mg_env *e, int64_t m)
{
    int64_t k = m - e->on;
    double g = 1.0;
    if (k < e->attack)
        g = (double)k / (double)e->attack;
    else if (e->decay != 0.0 && k > e->attack)
        g = exp(e->decay * (double)(k - e->attack));
    if (e->off - m < e->release)
        g *= (double)(e->off - m) / (double)e->release;
    return (float)g;
}

uint32_t mg_env_run(mg_env *e, uint64_t pos, uint32_t n, uint32_t *lo)
{
    /* the note as block-relative frames, clipped to [0, n) */
    int64_t p = (int64_t)pos;
    int64_t a = e->on - p, b = e->off == MG_FOREVER ? (int64_t)n : e->off - p;
    if (a < 0)
        a = 0;
    if (b > (int64_t)n)
        b = n;
    *lo = 0;
    if (b <= a)
        return 0;
    /* frames past the attack, before the release and without decay have gain 1 */
    int64_t flat0 = e->on + e->attack;
    int64_t flat1 = e->off == MG_FOREVER ? INT64_MAX : e->off - e->release;
    for (int64_t i = a; i < b; i++) {
        int64_t m = p + i;
        e->gain[i] = (e->decay == 0.0 && m >= flat0 && m < flat1) ? 1.0f : gain_in_note(e, m);
    }
    *lo = (uint32_t)a;
    return (uint32_t)(b - a);
}

void mg_env_clear_outside(mg_buf *out, uint32_t n, uint32_t lo, uint32_t count)
{
    for (int c = 0; c < out->channels; c++) {
        if (lo > 0)
            memset(out->ch[c], 0, lo * sizeof(float));
        if (lo + count < n)
            memset(out->ch[c] + lo + count, 0, (n - lo - count) * sizeof(float));
    }
}
