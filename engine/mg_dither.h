/*
** mg_dither.h: dither for the final conversion of float audio to 16- or 24-bit integers
** (engine/render.c). Only integer output is dithered; float output never is.
**
** TPDF: d = u1 - u2 LSB with u1, u2 uniform on [0, 1) (triangular on (-1, 1) LSB), then
** q = round(x / LSB + d). The total error is white with power LSB^2 / 4 (LSB^2/12 from the
** rounding plus LSB^2/6 from the dither) and independent of the signal: no distortion and no
** noise modulation, and tones below one LSB survive as tone plus noise (DSP_TESTS §15).
** Shaped: the same TPDF inside an error-feedback loop whose noise transfer function is
** (1 - 0.85 z^-1)^2: about 8 dB less noise from DC to 4 kHz at 48 kHz and more toward
** Nyquist (about 10 dB more in total power), where hearing is least sensitive.
**
** Each channel has its own generator (xorshift64*, seeded by SplitMix64 from the seed and the
** channel), so the output depends only on the seed and the samples: renders are
** deterministic and independent of the block size.
**
** Threads: mg_dither_init is [any] (no allocation); mg_dither_quantize is [rt].
*/
#ifndef MG_DITHER_H
#define MG_DITHER_H

#include <stdint.h>

#include "mixgraph.h"

#define MG_DITHER_CHANNELS 8

typedef struct mg_dither {
    mg_dither_mode mode;                 /* MG_DITHER_TPDF or MG_DITHER_SHAPED */
    uint64_t rng[MG_DITHER_CHANNELS];    /* per channel */
    double e[MG_DITHER_CHANNELS][2];     /* shaped: the last two errors, LSB */
} mg_dither;

/* [any] Ready `d` for mode (TPDF or SHAPED) with the given seed. */
void mg_dither_init(mg_dither *d, mg_dither_mode mode, uint64_t seed);

/*
** [rt] Quantize x[0..n-1] of channel c to integers of `scale` steps per unit (32768 for 16
** bit, 8388608 for 24), dithered, clamped to [-scale, scale - 1] and shifted left by `shift`
** (left-justified 32-bit, as render.c writes them). Returns the number of clipped samples.
*/
uint32_t mg_dither_quantize(mg_dither *d, int c, const float *x, uint32_t n, float scale,
                            int shift, int32_t *q);

#endif
