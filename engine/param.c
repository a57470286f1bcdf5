/*
** param.c: parameter values and their smoothing ramps.
**
** A parameter change made while audio runs becomes a linear ramp (in the parameter's unit)
** from the value at that sample to the new one, over desc->smooth_ms. The ramp is evaluated
** from the absolute sample index, never by accumulating increments, so the samples are the same
** whatever the block size. mg_param_set is [control] (issue: real-time edits will reach it
** through the command queue); mg_param_render is [rt].
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mg_internal.h"

void mg_param_init(mg_param *p, const mg_param_desc *d, const char *name)
{
    memset(p, 0, sizeof *p);
    p->d = d;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->value = p->start = p->target = p->ctl = (float)d->def;
}

/* Value of the ramp at graph sample `t`. */
static float ramp_at(const mg_param *p, uint64_t t)
{
    if (!p->ramping || t >= p->t0 + p->len)
        return p->ramping ? p->target : p->value;
    if (t <= p->t0)
        return p->start;
    float f = (float)(t - p->t0) / (float)p->len;
    return p->start + (p->target - p->start) * f;
}

void mg_param_set(mg_param *p, float v, uint64_t now, int smooth, double rate)
{
    uint32_t len = smooth ? (uint32_t)lrint(p->d->smooth_ms * 0.001 * rate) : 0;
    if (len == 0) {
        p->value = p->start = p->target = v;
        p->ramping = 0;
        return;
    }
    p->start = ramp_at(p, now);
    p->target = v;
    p->t0 = now;
    p->len = len;
    p->ramping = 1;
}

void mg_param_settle(mg_param *p)
{
    if (p->ramping)
        p->value = p->start = p->target;
    p->ramping = 0;
}

void mg_param_render(mg_param *p, uint64_t pos, uint32_t n, float *scratch, mg_pval *pv)
{
    if (!p->ramping) {
        pv->v = &p->value;
        pv->constant = 1;
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        scratch[i] = ramp_at(p, pos + i);
    pv->v = scratch;
    pv->constant = 0;
    p->value = scratch[n - 1];
    if (pos + n >= p->t0 + p->len) {
        p->value = p->target;
        p->ramping = 0;
    }
}

void mg_param_range_str(const mg_param_desc *d, char *buf, size_t sz)
{
    snprintf(buf, sz, "[%g, %g]%s%s", d->min, d->max, d->unit && *d->unit ? " " : "",
             d->unit ? d->unit : "");
}
