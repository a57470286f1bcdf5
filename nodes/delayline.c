/*
** delayline.c: delay line storage and the fractional-delay kernels (see mg_delayline.h).
** init/free are [control]; the rest is [rt] and never allocates.
*/
#include <stdlib.h>
#include <string.h>

#include "mg_delayline.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define FD_BETA 8.0 /* Kaiser window shape of the sinc kernel */

int mg_dline_init_guard(mg_dline *l, uint64_t min_len, uint32_t guard)
{
    uint64_t size = 16;
    while (size < min_len || size < guard)
        size <<= 1;
    if (size > (1u << 31))
        return -1;
    /* 64-byte aligned (a cache line), so that whole vectors written at positions that are
       multiples of 16 never straddle two lines; calloc keeps large lines lazily zeroed */
    char *raw = calloc((size_t)size + guard + 16, sizeof(float));
    if (!raw)
        return -1;
    free(l->raw);
    l->raw = raw;
    l->buf = (float *)(void *)(raw + ((64 - (uintptr_t)raw % 64) % 64));
    l->size = (uint32_t)size;
    l->mask = (uint32_t)size - 1;
    l->guard = guard;
    l->w = 0;
    return 0;
}

int mg_dline_init(mg_dline *l, uint64_t min_len) { return mg_dline_init_guard(l, min_len, 0); }

void mg_dline_free(mg_dline *l)
{
    free(l->raw);
    l->raw = NULL;
    l->buf = NULL;
    l->size = l->mask = l->guard = l->w = 0;
}

void mg_dline_clear(mg_dline *l)
{
    if (l->buf)
        memset(l->buf, 0, ((size_t)l->size + l->guard) * sizeof *l->buf);
    l->w = 0;
}

/* Zeroth-order modified Bessel function of the first kind, by its power series. */
static double bessel_i0(double x)
{
    double sum = 1, term = 1, q = 0.25 * x * x;
    for (int k = 1; k < 50; k++) {
        term *= q / ((double)k * (double)k);
        sum += term;
        if (term < 1e-17 * sum)
            break;
    }
    return sum;
}

/*
** The kernel for d = D + f reads x[pos - D - k] for k = -7..8 with weight
** w(k - f) sinc(k - f), w the Kaiser window over (-8, 8); stored oldest sample first
** (g[j] multiplies x[pos - D - 8 + j], i.e. k = 8 - j) and normalised to sum 1.
*/
void mg_fdtap_design(mg_fdtap *t, double d, uint32_t sinc_min)
{
    if (!(d >= 0))
        d = 0;
    double D = floor(d), f = d - D;
    if (f > 1 - 1e-9) { /* rounding noise just below an integer */
        D += 1;
        f = 0;
    }
    t->d = d;
    if (f < 1e-9) {
        t->n = 1;
        t->back = (uint32_t)D;
        t->g[0] = 1.0f;
        return;
    }
    if (D < (double)sinc_min) {
        t->n = 2; /* x[pos-D-1] weight f, x[pos-D] weight 1-f */
        t->back = (uint32_t)D + 1;
        t->g[0] = (float)f;
        t->g[1] = (float)(1 - f);
        return;
    }
    double h[MG_FD_TAPS], sum = 0, i0b = bessel_i0(FD_BETA);
    double sf = sin(M_PI * f);
    for (int j = 0; j < MG_FD_TAPS; j++) {
        int k = MG_FD_HALF - j;
        double x = (double)k - f;                       /* in (-8, 8) */
        double s = -((k & 1) ? -1.0 : 1.0) * sf / (M_PI * x); /* sin(pi (k - f)) / (pi (k - f)) */
        double u = x / MG_FD_HALF;
        h[j] = s * bessel_i0(FD_BETA * sqrt(1 - u * u)) / i0b;
        sum += h[j];
    }
    t->n = MG_FD_TAPS;
    t->back = (uint32_t)D + MG_FD_HALF;
    for (int j = 0; j < MG_FD_TAPS; j++)
        t->g[j] = (float)(h[j] / sum);
}

void mg_xtap_setup(mg_xtap *x, uint32_t len, uint32_t sinc_min)
{
    x->len = len ? len : 1;
    x->sinc_min = sinc_min;
    mg_xtap_reset(x);
}

void mg_xtap_reset(mg_xtap *x)
{
    x->pos = 0;
    x->fading = 0;
    x->primed = 0;
    x->a = 0;
}

void mg_xtap_step_slow(mg_xtap *x, double d)
{
    if (!x->primed) {
        mg_fdtap_design(&x->cur, d, x->sinc_min);
        x->primed = 1;
        return;
    }
    if (x->fading && ++x->pos >= x->len) {
        x->cur = x->next;
        x->fading = 0;
    }
    if (!x->fading && fabs(d - x->cur.d) > MG_XTAP_EPS) {
        mg_fdtap_design(&x->next, d, x->sinc_min);
        x->fading = 1;
        x->pos = 0;
    }
    x->a = x->fading ? (float)(0.5 - 0.5 * cos(M_PI * (double)x->pos / (double)x->len)) : 0.0f;
}
