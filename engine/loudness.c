/*
** loudness.c: the BS.1770-5 / EBU R128 meter behind mg_loudness.h.
**
** Threads: mg_loudness_new/free/set_weight on the control thread (new makes the only two
** allocations); everything else is real-time safe: no allocation, locks or I/O, and the work
** per call is bounded by the frames given (plus a fixed 7501-bin scan in the integrated getter).
**
** Data flow per channel and sample: x -> sample peak, true-peak interpolator -> K-weighting
** (shelf, then high-pass; double states) -> y*y summed into the current tick. A tick is 1/20
** of the 100 ms step (5 ms). At each tick end the weighted channel sums go into a ring of the
** last 3 s of ticks; M and S are plain sums over the last 80 and 600 ticks (no running sums,
** so no drift and no dependence on how the input was chunked). Every 20 ticks the current M
** window is one 400 ms gating block (75 % overlap) and goes into the gating histogram.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_loudness.h"

#define TICKS_PER_STEP 20                /* ticks per 100 ms gating step */
#define M_TICKS (4 * TICKS_PER_STEP)     /* 400 ms */
#define S_TICKS (30 * TICKS_PER_STEP)    /* 3 s */
#define HIST_LO (-70.0)                  /* LUFS; also the absolute gate */
#define HIST_PER_LU 100                  /* bins per LU: 0.01 LU */
#define HIST_BINS (75 * HIST_PER_LU + 1) /* -70..+5 LUFS, then one bin for louder blocks */
#define TP_TAPS MG_LOUDNESS_TP_TAPS
#define DENORMAL_FLOOR 1e-20 /* filter states below this (-400 dB) are flushed each tick */
#define PI 3.14159265358979323846

/* BS.1770-5 Annex 2: the 48-tap interpolator (declared in mg_loudness.h). */
const double mg_loudness_tp_fir[4][TP_TAPS] = {
    {0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875,
     0.1373291015625, 0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250,
     0.0148925781250, -0.0083007812500},
    {-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500,
     0.4650878906250, 0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625,
     0.0330810546875, -0.0189208984375},
    {-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000, -0.2003173828125,
     0.7797851562500, 0.4650878906250, -0.1665039062500, 0.0891113281250, -0.0517578125000,
     0.0292968750000, -0.0291748046875},
    {-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750, -0.1022949218750,
     0.9721679687500, 0.1373291015625, -0.0594482421875, 0.0332031250000, -0.0196533203125,
     0.0109863281250, 0.0017089843750},
};

struct chan {
    double k[4];                 /* K-filter states (transposed direct form II): shelf, hp */
    double acc;                  /* sum of y^2 in the current tick */
    double weight;               /* G_i */
    double peak;                 /* max |x| */
    double tpeak;                /* max |interpolated x| */
    double *in;                  /* TP_TAPS - 1 inputs before the current tick, then the
                                    current tick's inputs so far (points into m->work) */
};

struct bin {
    double energy;  /* sum of the block mean squares that fell here */
    uint64_t count; /* number of blocks */
};

struct mg_loudness {
    /* immutable after new */
    double rate;
    int channels;
    int oversample;              /* 4, 2 or 1 */
    double shelf[5], hp[5];      /* b0 b1 b2 a1 a2 */
    double tp_even[2][TP_TAPS / 2], tp_odd[2][TP_TAPS / 2]; /* see run_channel */
    unsigned tick_len[TICKS_PER_STEP];
    double m_frames, s_frames;   /* frames in a 400 ms and a 3 s window */
    /* measurement state, cleared by reset */
    unsigned tick;               /* index of the current tick in its step, 0..19 */
    unsigned tick_pos;           /* frames already in the current tick */
    uint64_t ticks;              /* ticks completed */
    uint64_t frames, nonfinite;
    double m_now, s_now;         /* mean squares of the latest windows; < 0: none yet */
    double m_max, s_max;
    double ring[S_TICKS];        /* weighted energy of the last S_TICKS ticks */
    struct bin bins[HIST_BINS];  /* gating blocks (integrated loudness) */
    struct bin s_bins[HIST_BINS]; /* short-term values every 100 ms (loudness range) */
    double *work;                /* per channel: TP_TAPS - 1 + longest tick (ch[c].in) */
    struct chan ch[];
};

static double lufs(double mean_square)
{
    return mean_square > 0 ? -0.691 + 10.0 * log10(mean_square) : -HUGE_VAL;
}

/*
** K-weighting from its analog prototype (the parameters libebur128 fitted to BS.1770's 48 kHz
** table), bilinear-transformed with the centre frequency prewarped. The shelf has unit gain
** at DC and Vh at Nyquist at every rate. The high-pass numerator is {1, -2, 1} in the table,
** which leaves a pass-band gain of a0 = 1 + K/Q + K^2 that depends on the rate (+0.0433 dB at
** 48 kHz, +0.0470 at 44.1, +0.0217 at 96); we scale the numerator so that every rate keeps the
** 48 kHz gain that the -0.691 offset was calibrated with. At 48 kHz the scale is exactly 1.
*/
void mg_loudness_k_coefs(double rate, double shelf[5], double highpass[5])
{
    double f0 = 1681.974450955533, G = 3.999843853973347, Q = 0.7071752369554196;
    double K = tan(PI * f0 / rate);
    double Vh = pow(10.0, G / 20.0);
    double Vb = pow(Vh, 0.4996667741545416);
    double a0 = 1.0 + K / Q + K * K;
    shelf[0] = (Vh + Vb * K / Q + K * K) / a0;
    shelf[1] = 2.0 * (K * K - Vh) / a0;
    shelf[2] = (Vh - Vb * K / Q + K * K) / a0;
    shelf[3] = 2.0 * (K * K - 1.0) / a0;
    shelf[4] = (1.0 - K / Q + K * K) / a0;

    f0 = 38.13547087602444;
    Q = 0.5003270373238773;
    K = tan(PI * f0 / rate);
    a0 = 1.0 + K / Q + K * K;
    double K48 = tan(PI * f0 / 48000.0);
    double g = (1.0 + K48 / Q + K48 * K48) / a0;
    highpass[0] = g;
    highpass[1] = -2.0 * g;
    highpass[2] = g;
    highpass[3] = 2.0 * (K * K - 1.0) / a0;
    highpass[4] = (1.0 - K / Q + K * K) / a0;
}

static double default_weight(int channels, int c)
{
    switch (channels) {
    case 4: /* L R Ls Rs */
        return c >= 2 ? 1.41 : 1.0;
    case 5: /* L R C Ls Rs */
        return c >= 3 ? 1.41 : 1.0;
    case 6: /* L R C LFE Ls Rs */
    case 7: /* L R C LFE Cs Ls Rs */
        return c == 3 ? 0.0 : c >= channels - 2 ? 1.41 : 1.0;
    case 8: /* L R C LFE Lb Rb Ls Rs */
        return c == 3 ? 0.0 : c >= 6 ? 1.41 : 1.0;
    default: /* mono, stereo, L R C */
        return 1.0;
    }
}

mg_loudness *mg_loudness_new(double rate, int channels, mg_status *err)
{
    mg_status st = MG_OK;
    mg_loudness *m = NULL;
    if (!(rate >= MG_LOUDNESS_RATE_MIN && rate <= MG_LOUDNESS_RATE_MAX) || channels < 1 ||
        channels > MG_LOUDNESS_MAX_CHANNELS) {
        st = MG_ERR_RANGE;
        goto out;
    }
    /* 100 ms rounded to whole frames (as libebur128); ticks split it as evenly as possible */
    unsigned step = (unsigned)floor(rate / 10.0 + 0.5);
    size_t stride = TP_TAPS - 1 + step / TICKS_PER_STEP + 1; /* of m->work per channel */
    m = calloc(1, sizeof *m + (size_t)channels * sizeof m->ch[0]);
    if (m)
        m->work = calloc((size_t)channels * stride, sizeof(double));
    if (!m || !m->work) {
        free(m);
        m = NULL;
        st = MG_ERR_NOMEM;
        goto out;
    }
    m->rate = rate;
    m->channels = channels;
    m->oversample = rate < 96000.0 ? 4 : rate < 192000.0 ? 2 : 1;
    mg_loudness_k_coefs(rate, m->shelf, m->hp);
    for (int p = 0; p < 2; p++)
        for (int j = 0; j < TP_TAPS / 2; j++) {
            const double *f = mg_loudness_tp_fir[p];
            m->tp_even[p][j] = f[j] + f[TP_TAPS - 1 - j];
            m->tp_odd[p][j] = f[j] - f[TP_TAPS - 1 - j];
        }
    for (unsigned j = 0; j < TICKS_PER_STEP; j++)
        m->tick_len[j] = (j + 1) * step / TICKS_PER_STEP - j * step / TICKS_PER_STEP;
    m->m_frames = 4.0 * step;
    m->s_frames = 30.0 * step;
    for (int c = 0; c < channels; c++) {
        m->ch[c].weight = default_weight(channels, c);
        m->ch[c].in = m->work + (size_t)c * stride;
    }
    mg_loudness_reset(m);
out:
    if (err)
        *err = st;
    return m;
}

void mg_loudness_free(mg_loudness *m)
{
    if (m)
        free(m->work);
    free(m);
}

mg_status mg_loudness_set_weight(mg_loudness *m, int channel, double weight)
{
    if (!m || channel < 0 || channel >= m->channels)
        return MG_ERR_INVALID;
    if (!(weight >= 0.0 && weight <= 10.0))
        return MG_ERR_RANGE;
    m->ch[channel].weight = weight;
    return MG_OK;
}

double mg_loudness_weight(const mg_loudness *m, int channel)
{
    return channel >= 0 && channel < m->channels ? m->ch[channel].weight : 0.0;
}

void mg_loudness_reset(mg_loudness *m)
{
    m->tick = m->tick_pos = 0;
    m->ticks = m->frames = m->nonfinite = 0;
    m->m_now = m->s_now = m->m_max = m->s_max = -1.0;
    memset(m->ring, 0, sizeof m->ring);
    memset(m->bins, 0, sizeof m->bins);
    memset(m->s_bins, 0, sizeof m->s_bins);
    for (int c = 0; c < m->channels; c++) {
        struct chan *ch = &m->ch[c];
        double w = ch->weight, *in = ch->in;
        memset(ch, 0, sizeof *ch);
        memset(in, 0, (TP_TAPS - 1) * sizeof *in);
        ch->weight = w;
        ch->in = in;
    }
}

/* Sum of the last n tick energies (n <= S_TICKS, n <= ticks completed). */
static double ring_sum(const mg_loudness *m, unsigned n)
{
    double s = 0;
    uint64_t t = m->ticks;
    for (unsigned i = 0; i < n; i++)
        s += m->ring[(t - 1 - i) % S_TICKS];
    return s;
}

/* Add one value to a histogram unless it is at or under the absolute gate. */
static void gate_block(struct bin *bins, double mean_square)
{
    double l = lufs(mean_square);
    if (!(l > HIST_LO)) /* absolute gate (strict, as BS.1770-5) */
        return;
    double pos = (l - HIST_LO) * HIST_PER_LU;
    int b = pos >= HIST_BINS - 1 ? HIST_BINS - 1 : (int)pos;
    bins[b].energy += mean_square;
    bins[b].count++;
}

/* End of a tick: store its energy, evaluate M and S, and every 100 ms feed the gate. */
static void end_tick(mg_loudness *m)
{
    double e = 0;
    for (int c = 0; c < m->channels; c++) {
        struct chan *ch = &m->ch[c];
        e += ch->weight * ch->acc;
        ch->acc = 0;
        /* the tick's last inputs become the next tick's true-peak history */
        memmove(ch->in, ch->in + m->tick_len[m->tick], (TP_TAPS - 1) * sizeof *ch->in);
    }
    m->ring[m->ticks % S_TICKS] = e;
    m->ticks++;
    m->tick_pos = 0;
    if (++m->tick == TICKS_PER_STEP)
        m->tick = 0;
    if (m->ticks >= M_TICKS) {
        m->m_now = ring_sum(m, M_TICKS) / m->m_frames;
        if (m->m_now > m->m_max)
            m->m_max = m->m_now;
        if (m->tick == 0)
            gate_block(m->bins, m->m_now);
    }
    if (m->ticks >= S_TICKS) {
        m->s_now = ring_sum(m, S_TICKS) / m->s_frames;
        if (m->s_now > m->s_max)
            m->s_max = m->s_now;
        if (m->tick == 0) /* Tech 3342: S at 10 Hz */
            gate_block(m->s_bins, m->s_now);
    }
    /* Flush decaying filter states at fixed stream positions (so chunking cannot change
       results) before they reach the slow subnormal range in silence: from 1e-20, one tick
       of the fastest pole cannot get there. */
    for (int c = 0; c < m->channels; c++)
        for (int i = 0; i < 4; i++)
            if (fabs(m->ch[c].k[i]) < DENORMAL_FLOOR)
                m->ch[c].k[i] = 0;
}

/*
** One channel over n frames that all lie inside the current tick. First pass: sanitize, sample
** peak, K-weighting, energy; the inputs are also stored in ch->in after the true-peak history
** and what the tick already had. Second pass: the interpolator over those stored inputs
** (reading a sample stored in the same iteration stalls store forwarding, 4x slower).
*/
static void run_channel(mg_loudness *m, struct chan *ch, const float *x, size_t n)
{
    const double b0 = m->shelf[0], b1 = m->shelf[1], b2 = m->shelf[2], a1 = m->shelf[3],
                 a2 = m->shelf[4];
    const double c0 = m->hp[0], c1 = m->hp[1], c2 = m->hp[2], d1 = m->hp[3], d2 = m->hp[4];
    double s1 = ch->k[0], s2 = ch->k[1], h1 = ch->k[2], h2 = ch->k[3];
    double acc = ch->acc, peak = ch->peak;
    double *w = ch->in + (TP_TAPS - 1) + m->tick_pos;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (!isfinite(v)) {
            v = 0;
            m->nonfinite++;
        }
        w[i] = v;
        if (fabs(v) > peak)
            peak = fabs(v);
        double y1 = b0 * v + s1;
        s1 = b1 * v - a1 * y1 + s2;
        s2 = b2 * v - a2 * y1;
        double y2 = c0 * y1 + h1;
        h1 = c1 * y1 - d1 * y2 + h2;
        h2 = c2 * y1 - d2 * y2;
        acc += y2 * y2;
    }
    ch->k[0] = s1;
    ch->k[1] = s2;
    ch->k[2] = h1;
    ch->k[3] = h2;
    ch->acc = acc;
    ch->peak = peak;
    if (m->oversample == 1)
        return;

    /*
    ** y_p[i] = sum_j mg_loudness_tp_fir[p][j] * x[i - j]. Phase 3 is phase 0 reversed and
    ** phase 2 is phase 1 reversed, so with u_j = x[i - j], P_j = u_j + u_(11-j) and
    ** M_j = u_j - u_(11-j):
    **   y0 + y3 = sum_(j<6) tp_even[0][j] * P_j,   y0 - y3 = sum_(j<6) tp_odd[0][j] * M_j
    ** (likewise y1, y2 with row 1): 24 multiplies for four phases instead of 48. And
    ** max(|y0|, |y3|) = (|y0 + y3| + |y0 - y3|) / 2. The max is written out (fmax() is a libm
    ** call at -O2).
    */
    double tpeak = ch->tpeak;
    for (size_t i = 0; i < n; i++) {
        const double *u = w + i - (TP_TAPS - 1); /* u[11 - j] = x[i - j] */
        double s03 = 0, d03 = 0, s12 = 0, d12 = 0;
        for (int j = 0; j < TP_TAPS / 2; j++) {
            double pj = u[TP_TAPS - 1 - j] + u[j], mj = u[TP_TAPS - 1 - j] - u[j];
            s03 += m->tp_even[0][j] * pj;
            d03 += m->tp_odd[0][j] * mj;
            s12 += m->tp_even[1][j] * pj;
            d12 += m->tp_odd[1][j] * mj;
        }
        double a, b;
        if (m->oversample == 4) {
            a = fabs(s03) + fabs(d03);
            b = fabs(s12) + fabs(d12);
        } else { /* phases 0 and 2 */
            a = fabs(s03 + d03);
            b = fabs(s12 - d12);
        }
        a = 0.5 * (a > b ? a : b);
        tpeak = a > tpeak ? a : tpeak;
    }
    ch->tpeak = tpeak;
}

void mg_loudness_add(mg_loudness *m, const float *const *planar, size_t frames)
{
    size_t done = 0;
    while (done < frames) {
        size_t room = m->tick_len[m->tick] - m->tick_pos;
        size_t n = frames - done < room ? frames - done : room;
        for (int c = 0; c < m->channels; c++)
            run_channel(m, &m->ch[c], planar[c] + done, n);
        done += n;
        m->tick_pos += (unsigned)n;
        if (m->tick_pos == m->tick_len[m->tick])
            end_tick(m);
    }
    m->frames += frames;
}

/*
** Relative gating over a histogram: the gate is `rel_lu` under the mean of everything that
** passed the absolute gate (for the integrated loudness, 10 LU: one tenth of the mean energy).
** Bins wholly above it count in full (with their exact energy sums), bins below not at all;
** the bin that contains the gate counts if its mean energy is above the gate (exact when its
** values are alike). Returns the first bin that counts (HIST_BINS when none) and, through
** e_out and n_out, the energy sum and count of what passed.
*/
static int relative_gate(const struct bin *bins, double rel_lu, double *e_out, uint64_t *n_out)
{
    double e = 0;
    uint64_t n = 0;
    for (int b = 0; b < HIST_BINS; b++) {
        e += bins[b].energy;
        n += bins[b].count;
    }
    *e_out = 0;
    *n_out = 0;
    if (!n)
        return HIST_BINS;
    double gate = e / (double)n * pow(10.0, -rel_lu / 10.0);
    double pos = (lufs(gate) - HIST_LO) * HIST_PER_LU;
    int first = pos < 0 ? 0 : pos >= HIST_BINS - 1 ? HIST_BINS - 1 : (int)pos;
    if (pos >= 0 && bins[first].count && !(bins[first].energy / (double)bins[first].count > gate))
        first++;
    e = 0;
    n = 0;
    for (int b = first; b < HIST_BINS; b++) {
        e += bins[b].energy;
        n += bins[b].count;
    }
    *e_out = e;
    *n_out = n;
    return first;
}

/* BS.1770-5 gating of the 400 ms blocks: absolute gate -70 LUFS, relative gate -10 LU. */
double mg_loudness_integrated(const mg_loudness *m)
{
    double e;
    uint64_t n;
    relative_gate(m->bins, 10.0, &e, &n);
    return n ? lufs(e / (double)n) : -HUGE_VAL;
}

/* Loudness (LUFS) of the k-th (0-based) value in ascending order among the bins from `first`;
   a bin stands for its values by their mean energy. */
static double nth_value(const struct bin *bins, int first, uint64_t k)
{
    for (int b = first; b < HIST_BINS; b++) {
        if (k < bins[b].count)
            return lufs(bins[b].energy / (double)bins[b].count);
        k -= bins[b].count;
    }
    return -HUGE_VAL;
}

/*
** EBU Tech 3342 loudness range: short-term values every 100 ms, absolute gate -70 LUFS,
** relative gate -20 LU, then the 95th minus the 10th percentile, nearest rank as in the
** standard's reference code: sorted[round((n - 1) p / 100)] (0-based).
*/
double mg_loudness_range(const mg_loudness *m)
{
    double e;
    uint64_t n;
    int first = relative_gate(m->s_bins, 20.0, &e, &n);
    if (n < 2)
        return 0.0;
    uint64_t k10 = (uint64_t)llround((double)(n - 1) * 0.10);
    uint64_t k95 = (uint64_t)llround((double)(n - 1) * 0.95);
    double lra = nth_value(m->s_bins, first, k95) - nth_value(m->s_bins, first, k10);
    return lra > 0 ? lra : 0.0;
}

double mg_loudness_momentary(const mg_loudness *m)
{
    return m->m_now >= 0 ? lufs(m->m_now) : -HUGE_VAL;
}

double mg_loudness_shortterm(const mg_loudness *m)
{
    return m->s_now >= 0 ? lufs(m->s_now) : -HUGE_VAL;
}

double mg_loudness_momentary_max(const mg_loudness *m)
{
    return m->m_max >= 0 ? lufs(m->m_max) : -HUGE_VAL;
}

double mg_loudness_shortterm_max(const mg_loudness *m)
{
    return m->s_max >= 0 ? lufs(m->s_max) : -HUGE_VAL;
}

double mg_loudness_sample_peak(const mg_loudness *m, int channel)
{
    double p = 0;
    for (int c = 0; c < m->channels; c++)
        if ((channel == MG_LOUDNESS_ALL || channel == c) && m->ch[c].peak > p)
            p = m->ch[c].peak;
    return p;
}

double mg_loudness_true_peak(const mg_loudness *m, int channel)
{
    double p = 0;
    for (int c = 0; c < m->channels; c++) {
        if (channel != MG_LOUDNESS_ALL && channel != c)
            continue;
        if (m->ch[c].peak > p)
            p = m->ch[c].peak;
        if (m->ch[c].tpeak > p)
            p = m->ch[c].tpeak;
    }
    return p;
}

int mg_loudness_oversampling(const mg_loudness *m)
{
    return m->oversample;
}

uint64_t mg_loudness_frames(const mg_loudness *m)
{
    return m->frames;
}

uint64_t mg_loudness_nonfinite(const mg_loudness *m)
{
    return m->nonfinite;
}
