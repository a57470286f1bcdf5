/*
** mg_oversample.h: polyphase oversampling shared by nodes (the limiter's 8x true-peak
** detector, saturate's 2/4/8x processing): Kaiser-windowed sinc design, an interpolator that
** turns one input frame into L output phases, and a decimator that turns L phases back into
** one frame. Design is [control] (allocates); mg_os_up / mg_os_down are [rt].
**
** Interpolation: phases[p] = sum_k up[k][p] x[n - k], p = 0..L-1, the polyphase split of a
** lowpass h of N = L K + 1 taps (times L, so a phase has unit gain). Decimation: one output
** sum_m h[m] u[L n + L - 1 - m] from the last N values u of the L-times signal. Both filters
** are linear phase; up then down delays by (N - 1)/L = K input frames exactly.
**
** Two ways to run them. mg_os_up / mg_os_down take one frame at a time with the taps as vector
** lanes (the limiter's detector). mg_os_up_block / mg_os_down_block take a block of frames and
** run each phase of either filter as an FIR over time, consecutive frames as vector lanes
** (AVX-512 or AVX2 + FMA when the CPU has them, which give the same values, else SSE2, else
** plain C: chosen at design). A lane's sum
** is the same whatever frame it lands on (a block's last, partial vector is computed whole
** and only its valid lanes kept), so the output does not depend on how the signal is split
** into blocks. A channel is driven either by the frame functions or by the block functions:
** each pair keeps its own history.
*/
#ifndef MG_OVERSAMPLE_H
#define MG_OVERSAMPLE_H

#include <stdint.h>

#include "mg_node.h"

#define MG_OS_MAX 8 /* largest factor */

/* [any] Zeroth-order modified Bessel function of the first kind (Kaiser windows). */
double mg_bessel_i0(double x);

/*
** [any] h[0..n-1] = 2 fc sinc(2 fc (i - (n - 1)/2)) w(i), w the Kaiser window of shape beta:
** a linear-phase lowpass with cutoff fc (cycles per sample, 0 < fc <= 0.5).
*/
void mg_kaiser_lowpass(double *h, int n, double fc, double beta);

/* A designed oversampler (immutable once made). */
typedef struct mg_os {
    int factor;  /* L */
    int k;       /* taps per phase of the interpolator (history length) */
    int taps;    /* N, the decimator's length, padded to a multiple of 4 with zeros */
    int latency; /* input frames of delay of up then down: (N - 1)/L */
    float *up;   /* [k][MG_OS_MAX]: phase p of tap k at up[k * MG_OS_MAX + p] */
    float *down; /* [taps], reversed: down[j] weighs the j-th oldest value of the history */
    int avx;     /* factors over 4 interpolate with 8-wide vectors (CPU checked at design) */
    float *dpoly; /* [L][k]: the decimator's phases, dpoly[q k + j] weighs u[L (n - j) + q] */
    int simd;     /* block filters: 3 AVX-512, 2 AVX2 + FMA, 1 SSE2, 0 plain C (CPU checked at
                     design; 3 gives the same values as 2) */
} mg_os;

/*
** [control] Design from an explicit prototype h[0..n-1] (n = L k + 1 or L k; the sum of h is
** normalised to L). factor 1 makes a pass-through (no filters, latency 0).
*/
mg_status mg_os_make(mg_os *os, int factor, const double *h, int n);
/* [control] Free; safe on a zeroed or already freed one. */
void mg_os_free(mg_os *os);

/*
** Per-channel history: the last k input frames and the last `taps` oversampled values (frame
** functions); for the block functions, linear buffers of MG_OS_BLEN(k) floats (one for the
** input, L for the phases) whose first k - 1 + b_len values are the history then the current
** chunk, slid back to the start when a chunk would not fit.
*/
typedef struct mg_os_chan {
    float *in;  /* 2 k (written twice: contiguous windows) */
    float *hi;  /* 2 taps */
    uint32_t in_pos, hi_pos;
    float *bx, *bu;           /* block histories: input [MG_OS_BLEN], phases [L][MG_OS_BLEN] */
    uint32_t bx_len, bu_len;  /* values held in bx / in each row of bu (k - 1 after reset) */
} mg_os_chan;

#define MG_OS_CHUNK 256 /* frames filtered per pass by the block functions */
#define MG_OS_BLEN(k) ((uint32_t)(k) - 1 + MG_OS_CHUNK + 16) /* + slack for a partial vector */

/* [control] Allocate / free a channel's history for os. */
mg_status mg_os_chan_init(mg_os_chan *c, const mg_os *os);
void mg_os_chan_free(mg_os_chan *c);
/* [rt] Clear a channel's history. */
void mg_os_chan_reset(mg_os_chan *c, const mg_os *os);

/* [rt] Push input frame x; phases[0..L-1] receive the L interpolated values (oldest first). */
void mg_os_up(const mg_os *os, mg_os_chan *c, float x, float phases[MG_OS_MAX]);
/* [rt] Push input frame x into the history without interpolating (mg_os_up's first step). */
void mg_os_push(const mg_os *os, mg_os_chan *c, float x);
/* [control] The largest sum of |coefficients| of a phase of the interpolator: no
   interpolated value exceeds it times the largest |input| in the history. */
double mg_os_up_norm(const mg_os *os);
/* [rt] Push L oversampled values (oldest first); returns one decimated frame. */
float mg_os_down(const mg_os *os, mg_os_chan *c, const float *u);

/*
** [rt] Interpolate n input frames x[0..n-1]: out[p n + i] (phase-major, p = 0..L-1) is phase
** p of frame i, the value mg_os_up would put in phases[p] (up to rounding). factor 1 copies.
*/
void mg_os_up_block(const mg_os *os, mg_os_chan *c, const float *x, uint32_t n, float *out);
/*
** [rt] Decimate n frames given phase-major as mg_os_up_block makes them (u[p n + i] the
** oversampled value L i + p of the block): y[i] is what mg_os_down returns for frame i (up to
** rounding). factor 1 copies. u and y must not overlap.
*/
void mg_os_down_block(const mg_os *os, mg_os_chan *c, const float *u, uint32_t n, float *y);

#endif
