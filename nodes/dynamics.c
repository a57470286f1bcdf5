/*
** dynamics.c: the shared core of the dynamics nodes (see mg_dynamics.h for the signal flow):
** the lookahead line ([control] prepare allocates, [rt] reset clears), the key stage ([rt])
** and the meters ([rt] publish, [any] read).
*/
#include <stdlib.h>
#include <string.h>

#include "mg_dynamics.h"

mg_status mg_dyn_prepare(mg_dyn *d, mg_node *node, mg_prepare *pr, double lookahead_ms)
{
    uint32_t frames = (uint32_t)floor(lookahead_ms * 0.001 * pr->rate + 0.5);
    int ch = pr->out_ch[0];
    float *line = NULL;
    if (frames) {
        line = calloc((size_t)frames * (size_t)ch, sizeof *line);
        if (!line)
            return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate a %g ms lookahead line",
                                  lookahead_ms);
    }
    free(d->line);
    d->line = line;
    d->lookahead = frames;
    d->channels = ch;
    d->rate = pr->rate;
    d->hpf_hz = d->lpf_hz = 0; /* designs depend on the rate */
    pr->latency = frames; /* the engine adds it to the render length; no tail beyond it */
    mg_dyn_reset(d);
    return MG_OK;
}

void mg_dyn_reset(mg_dyn *d)
{
    if (d->line)
        memset(d->line, 0, (size_t)d->lookahead * (size_t)d->channels * sizeof *d->line);
    d->pos = 0;
    for (int k = 0; k < MG_MAX_CHANNELS; k++) {
        d->ms[k] = 0;
        d->amp_db[k] = 0;
        d->amp[k] = 1;
        mg_biquad_reset(&d->hpf[k]);
        mg_biquad_reset(&d->lpf[k]);
    }
    atomic_store_explicit(&d->meter_gr, 0.0f, memory_order_relaxed);
    atomic_store_explicit(&d->meter_level, (float)MG_DYN_FLOOR_DB, memory_order_relaxed);
}

void mg_dyn_destroy(mg_dyn *d)
{
    free(d->line);
    d->line = NULL;
}

/* The coefficients for frequency f (redesigned only when f changed). */
static const mg_biquad *key_coef(mg_biquad *c, float *designed, mg_filter_type t, float f,
                                 double rate)
{
    if (f != *designed) {
        *c = mg_biquad_design(t, f, MG_DYN_KEY_Q, 0, rate);
        *designed = f;
    }
    return c;
}

/*
** One key filter (t) over frames i0..i0+n-1: x[k] -> buf[k] for each key channel, the cutoff
** from parameter p (Hz, 0 = off: copy and keep the state clear). x[k] is repointed at buf[k].
** A ramping cutoff is designed and run frame by frame, so the result does not depend on how
** the block is cut.
*/
static void key_filter(mg_dyn *d, mg_filter_type t, const mg_pval *p, const float **x,
                       float buf[MG_MAX_CHANNELS][MG_DYN_CHUNK], int nk, uint32_t i0,
                       uint32_t n)
{
    mg_biquad_state *st = t == MG_FT_HIGHPASS ? d->hpf : d->lpf;
    mg_biquad *c = t == MG_FT_HIGHPASS ? &d->hpf_c : &d->lpf_c;
    float *hz = t == MG_FT_HIGHPASS ? &d->hpf_hz : &d->lpf_hz;
    if (p->constant && !(p->v[0] > 0)) {
        for (int k = 0; k < nk; k++) /* off: the key passes as it is, from a clear state */
            mg_biquad_reset(&st[k]);
        return;
    }
    if (p->constant) {
        const mg_biquad *co = key_coef(c, hz, t, p->v[0], d->rate);
        for (int k = 0; k < nk; k++) {
            mg_biquad_run(&st[k], co, x[k], buf[k], n);
            x[k] = buf[k];
        }
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        float f = p->v[i0 + i];
        for (int k = 0; k < nk; k++) {
            if (f > 0)
                mg_biquad_run(&st[k], key_coef(c, hz, t, f, d->rate), &x[k][i], &buf[k][i], 1);
            else {
                mg_biquad_reset(&st[k]);
                buf[k][i] = x[k][i];
            }
        }
    }
    for (int k = 0; k < nk; k++)
        x[k] = buf[k];
}

int mg_dyn_key(mg_dyn *d, const mg_block *b, const mg_dyn_params *p, uint32_t i0, uint32_t n,
               const float *key[MG_MAX_CHANNELS], float buf[MG_MAX_CHANNELS][MG_DYN_CHUNK])
{
    const mg_buf *src = b->in[1].connected ? &b->in[1] : &b->in[0];
    int nk = src->channels;
    for (int k = 0; k < nk; k++)
        key[k] = src->ch[k] + i0;
    if (p->key_hpf)
        key_filter(d, MG_FT_HIGHPASS, p->key_hpf, key, buf, nk, i0, n);
    if (p->key_lpf)
        key_filter(d, MG_FT_LOWPASS, p->key_lpf, key, buf, nk, i0, n);
    return nk;
}

void mg_dyn_publish(mg_dyn *d, double gain_reduction_db, double level_db)
{
    atomic_store_explicit(&d->meter_gr, (float)gain_reduction_db, memory_order_relaxed);
    atomic_store_explicit(&d->meter_level, (float)level_db, memory_order_relaxed);
}

double mg_dyn_meter(const void *state, const char *name)
{
    mg_dyn *d = (mg_dyn *)state; /* atomic loads only */
    if (strcmp(name, "gain_reduction") == 0)
        return atomic_load_explicit(&d->meter_gr, memory_order_relaxed);
    if (strcmp(name, "key_level") == 0)
        return atomic_load_explicit(&d->meter_level, memory_order_relaxed);
    return NAN;
}
