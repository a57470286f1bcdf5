/*
** mg_loudness.h: loudness and peak measurement after ITU-R BS.1770-5 / EBU R128 (Tech 3341):
** integrated loudness with the two-stage gate, momentary (400 ms) and short-term (3 s)
** loudness and their maxima, sample peak and true peak (BS.1770-5 Annex 2).
**
** Threads: a meter is used by one thread at a time. mg_loudness_new, _free and _set_weight are
** [control] (new allocates everything the meter will ever need); mg_loudness_add, _reset and
** every getter are [rt]: no allocation, locks or I/O, bounded time. A meter fed on the audio
** thread must be read on the audio thread too (or the values copied out through the engine's
** telemetry queue); nothing here is atomic.
**
** Results do not depend on how the audio is split into calls of mg_loudness_add: every value
** is computed by the same operations, in an order fixed by the stream position, whatever the
** chunk sizes (bit-identical). The vector code is picked at run time (SSE2, AVX2 + FMA,
** AVX-512); machines with and without FMA may differ in the last bits.
**
** Measurement, in short (details in loudness.c):
** - K-weighting: two biquads (direct form I, double) computed from the analog prototype for
**   any rate (libebur128's parameters); at 48 kHz they equal BS.1770-5 Table 1. The high-pass stage keeps the
**   48 kHz table's pass-band gain (+0.0433 dB) at every rate, so 44.1, 48 and 96 kHz read alike.
** - Channel weights by channel count (override with mg_loudness_set_weight):
**     1: mono (weight 1.0)           2: L R                3: L R C
**     4: L R Ls Rs (quad)            5: L R C Ls Rs        6: L R C LFE Ls Rs (5.1)
**     7: L R C LFE Cs Ls Rs (6.1)    8: L R C LFE Lb Rb Ls Rs (7.1, WAVE order)
**   L, R, C, Cs, Lb, Rb: 1.0; Ls, Rs (side/surround, 60..120 degrees): 1.41; LFE: 0.
**   Peaks are measured on every channel whatever its weight.
** - M and S are evaluated every 5 ms (20 times per 100 ms step; at rates where 5 ms is not a
**   whole number of frames the hop alternates between the two nearest counts). The maxima are
**   taken over those evaluations. M exists after 400 ms of input, S after 3 s.
** - Integrated: 400 ms blocks every 100 ms, absolute gate -70 LUFS, relative gate -10 LU. Block
**   energies go into a fixed histogram of 0.01 LU bins from -70 to +5 LUFS (plus one bin for
**   everything louder) holding the exact energy sum and count of each bin, so memory does not
**   grow with duration; only the blocks in the one bin that straddles the relative gate are
**   classified together (by that bin's mean energy).
** - True peak: the Annex 2 48-tap, 4-phase interpolator. Rates below 96 kHz use all 4 phases
**   (4x); 96 kHz up to 192 kHz use phases 0 and 2 (2x, the even outputs of the same 4x
**   filter); 192 kHz and above use the samples themselves (as libebur128). The reading is the
**   larger of the interpolated peak and the sample peak, so it never reads below the sample
**   peak. Values are linear; they are not clamped at full scale.
** - Loudness range (Tech 3342): the short-term value at every 100 ms step goes into a second
**   histogram like the integrated one; percentiles are read from it with 0.01 LU resolution.
** - Non-finite input samples are measured as 0 and counted (mg_loudness_nonfinite).
*/
#ifndef MG_LOUDNESS_H
#define MG_LOUDNESS_H

#include <stddef.h>
#include <stdint.h>

#include "mixgraph.h"

#define MG_LOUDNESS_MAX_CHANNELS 8
#define MG_LOUDNESS_RATE_MIN 8000.0
#define MG_LOUDNESS_RATE_MAX 768000.0
/* Channel argument of the peak getters: the maximum over all channels. */
#define MG_LOUDNESS_ALL (-1)

typedef struct mg_loudness mg_loudness;

/*
** [control] A meter for `channels` (1..MG_LOUDNESS_MAX_CHANNELS) planar channels at `rate` Hz
** (MG_LOUDNESS_RATE_MIN..MAX). NULL on failure; *err (if given) receives MG_ERR_RANGE or
** MG_ERR_NOMEM.
*/
mg_loudness *mg_loudness_new(double rate, int channels, mg_status *err);
/* [control] Accepts NULL. */
void mg_loudness_free(mg_loudness *m);
/* [control] Weight of one channel (0..10), replacing the default above. Call before feeding
   audio or right after a reset; changing it mid-measurement mixes two weightings. */
mg_status mg_loudness_set_weight(mg_loudness *m, int channel, double weight);
double mg_loudness_weight(const mg_loudness *m, int channel); /* [any] */

/* [rt] Forget everything measured (weights are kept). */
void mg_loudness_reset(mg_loudness *m);
/* [rt] Measure `frames` more frames; planar[c] holds channel c. Cannot fail. */
void mg_loudness_add(mg_loudness *m, const float *const *planar, size_t frames);

/*
** [rt] Getters. Loudness values are in LUFS; -HUGE_VAL means "nothing to report" (no block
** above the absolute gate; window not yet filled; silence). Never NaN.
*/
double mg_loudness_integrated(const mg_loudness *m);
double mg_loudness_momentary(const mg_loudness *m);     /* latest 400 ms window */
double mg_loudness_shortterm(const mg_loudness *m);     /* latest 3 s window */
double mg_loudness_momentary_max(const mg_loudness *m); /* since new/reset */
double mg_loudness_shortterm_max(const mg_loudness *m);
/* Loudness range (EBU Tech 3342) in LU: short-term values taken every 100 ms, gated at
   -70 LUFS and 20 LU under their mean, 95th minus 10th percentile. 0 when fewer than two
   values passed (input under about 3.1 s, or silence). */
double mg_loudness_range(const mg_loudness *m);
/* Linear peaks (1.0 = full scale) of one channel or of MG_LOUDNESS_ALL. */
double mg_loudness_sample_peak(const mg_loudness *m, int channel);
double mg_loudness_true_peak(const mg_loudness *m, int channel);
int mg_loudness_oversampling(const mg_loudness *m); /* 4, 2 or 1 */
uint64_t mg_loudness_frames(const mg_loudness *m);    /* frames measured */
uint64_t mg_loudness_nonfinite(const mg_loudness *m); /* samples replaced by 0 */

/*
** [any] The BS.1770-5 Annex 2 true-peak interpolator as 4 phases of 12 taps:
** y[4n + p] = sum_j mg_loudness_tp_fir[p][j] * x[n - j] (the meter above uses it; the limiter
** node uses it as its output guard, so that its output reads under the ceiling on this meter).
*/
#define MG_LOUDNESS_TP_TAPS 12
extern const double mg_loudness_tp_fir[4][MG_LOUDNESS_TP_TAPS];

/* [any] The K-weighting biquads used at `rate`, each as {b0, b1, b2, a1, a2} (a0 = 1). */
void mg_loudness_k_coefs(double rate, double shelf[5], double highpass[5]);

#endif
