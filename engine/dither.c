/*
** dither.c: TPDF and noise-shaped dither at the conversion to integer samples (see
** mg_dither.h). [any] init, [rt] quantize; no allocation.
*/
#include <math.h>
#include <string.h>

#include "mg_dither.h"

/* SplitMix64 (Steele, Lea & Flood 2014): seeds the per-channel generators. */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* xorshift64* (Vigna 2016): one uniform double in [0, 1) from the top 53 bits. */
static inline double uniform(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) * (1.0 / 9007199254740992.0);
}

void mg_dither_init(mg_dither *d, mg_dither_mode mode, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->mode = mode;
    for (int c = 0; c < MG_DITHER_CHANNELS; c++) {
        uint64_t s = seed ^ (0x6a09e667f3bcc909ULL * (uint64_t)(c + 1));
        d->rng[c] = splitmix(&s) | 1; /* xorshift needs a non-zero state */
    }
}

/* The noise transfer function 1 + A1 z^-1 + A2 z^-2 = (1 - 0.85 z^-1)^2. */
#define A1 (-1.7)
#define A2 0.7225

uint32_t mg_dither_quantize(mg_dither *d, int c, const float *x, uint32_t n, float scale,
                            int shift, int32_t *q)
{
    double qmax = scale - 1.0, qmin = -scale;
    uint64_t *rng = &d->rng[c];
    double e1 = d->e[c][0], e2 = d->e[c][1];
    int shaped = d->mode == MG_DITHER_SHAPED;
    uint32_t clip = 0;
    for (uint32_t i = 0; i < n; i++) {
        double v = (double)x[i] * scale;
        if (shaped)
            v += A1 * e1 + A2 * e2;
        double r = floor(v + (uniform(rng) - uniform(rng)) + 0.5);
        if (shaped) { /* the error fed back, bounded so that a clipped stretch cannot grow */
            double e = r - v;
            e2 = e1;
            e1 = e > 2.0 ? 2.0 : e < -2.0 ? -2.0 : e;
        }
        int out = r > qmax || r < qmin;
        clip += (uint32_t)out;
        r = r > qmax ? qmax : r < qmin ? qmin : r;
        q[i] = (int32_t)((uint32_t)(int32_t)r << shift);
    }
    d->e[c][0] = e1;
    d->e[c][1] = e2;
    return clip;
}
