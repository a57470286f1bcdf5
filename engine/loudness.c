/*
** loudness.c: the BS.1770-5 / EBU R128 meter behind mg_loudness.h.
**
** Threads: mg_loudness_new/free/set_weight on the control thread (new makes the only two
** allocations); everything else is real-time safe: no allocation, locks or I/O, and the work
** per call is bounded by the frames given (plus a fixed 7501-bin scan in the integrated getter).
**
** Data flow per channel and sample: x -> sample peak, true-peak interpolator -> K-weighting
** (shelf, then high-pass; double states) -> y*y summed into the current tick. A tick is 1/20
** of the 100 ms step (5 ms). M and S are sums over the last 80 and 600 tick energies, put
** together from whole steps and two partial steps (see window_sum): no running sums across
** steps, so no drift, and every sum is made in an order fixed by the stream position, never by
** how the input was chunked. Every 20 ticks the current M window is one 400 ms gating block
** (75 % overlap) and goes into the gating histogram.
**
** Speed (the meter reads whole files several times in `mixgraph master`): each chunk of a tick
** is done in passes over a double copy of the input: sanitize + sample peak (4 floats per SSE
** vector), K-weighting of two channels at once (the two lanes of one SSE vector, each lane the
** same arithmetic as a lone channel), and the interpolator over 2 (SSE2) or 4 (AVX2 + FMA)
** consecutive frames per vector. Every value is computed by the same operations whatever the
** chunking (a vector lane and the scalar tail agree bit for bit; the last partial vector is
** computed whole and its unused lanes masked), so results stay independent of the chunking.
** The instruction set is picked once in mg_loudness_new; machines with and without FMA may
** differ by rounding.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_loudness.h"

#if defined(__GNUC__) && defined(__SSE2__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define LOUD_X86 1
#endif

#define TICKS_PER_STEP 20                /* ticks per 100 ms gating step */
#define M_TICKS (4 * TICKS_PER_STEP)     /* 400 ms */
#define S_TICKS (30 * TICKS_PER_STEP)    /* 3 s */
#define M_STEPS (M_TICKS / TICKS_PER_STEP)
#define S_STEPS (S_TICKS / TICKS_PER_STEP)
#define HIST_LO (-70.0)                  /* LUFS; also the absolute gate */
#define HIST_PER_LU 100                  /* bins per LU: 0.01 LU */
#define HIST_BINS (75 * HIST_PER_LU + 1) /* -70..+5 LUFS, then one bin for louder blocks */
#define TP_TAPS MG_LOUDNESS_TP_TAPS
#define DENORMAL_FLOOR 1e-20 /* filter states below this (-400 dB) are flushed each tick */
#define TP_PAD 8 /* doubles after each channel's work area: a masked last vector reads past */
#define TP_SHORT 4     /* chunks shorter than this skip the vector set-up of the interpolator */
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

/* Instruction sets of the kernels, chosen once in mg_loudness_new. */
enum { ISA_PORTABLE, ISA_SSE2, ISA_AVX2, ISA_AVX512 };

struct chan {
    double k[6];                 /* K-filter history (direct form I): x[n-1], x[n-2], shelf
                                    output y[n-1], y[n-2], high-pass output z[n-1], z[n-2] */
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

struct hist {
    struct bin bins[HIST_BINS];
    int lo, hi; /* the bins outside lo..hi-1 are empty (lo = HIST_BINS, hi = 0: all) */
    double energy;  /* of all bins, summed in the order the values came */
    uint64_t count;
};

struct mg_loudness {
    /* immutable after new */
    double rate;
    int channels;
    int oversample;              /* 4, 2 or 1 */
    int isa;                     /* ISA_* */
    double shelf[5], hp[5];      /* b0 b1 b2 a1 a2 */
    double tp_even[2][TP_TAPS / 2], tp_odd[2][TP_TAPS / 2]; /* see tp_one */
    unsigned tick_len[TICKS_PER_STEP];
    double m_frames, s_frames;   /* frames in a 400 ms and a 3 s window */
    /* measurement state, cleared by reset */
    unsigned tick;               /* index of the current tick in its step, 0..19 */
    unsigned tick_pos;           /* frames already in the current tick */
    uint64_t ticks;              /* ticks completed */
    uint64_t frames, nonfinite;
    double m_now, s_now;         /* mean squares of the latest windows; < 0: none yet */
    double m_max, s_max;
    double tick_e[TICKS_PER_STEP]; /* weighted energy of the current step's ticks so far */
    double head;                 /* their sum (in tick order) */
    double tail[S_STEPS][TICKS_PER_STEP]; /* of the last S_STEPS whole steps, step k in slot
                                    k % S_STEPS: tail[j] = sum of its ticks j..19 */
    double step_e[S_STEPS];      /* their energies (same slots) */
    double m_whole[2], s_whole[2]; /* sums of the last M_STEPS (S_STEPS) whole steps: [0] all,
                                    [1] all but the oldest */
    struct hist gate;            /* gating blocks (integrated loudness) */
    struct hist s_hist;          /* short-term values every 100 ms (loudness range) */
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
    size_t stride = TP_TAPS - 1 + step / TICKS_PER_STEP + 1 + TP_PAD; /* of m->work per channel */
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
#if defined(LOUD_X86)
    m->isa = ISA_SSE2;
    if (mg_simd_level() >= MG_SIMD_AVX2)
        m->isa = mg_simd_level() >= MG_SIMD_AVX512 ? ISA_AVX512 : ISA_AVX2;
#else
    m->isa = ISA_PORTABLE;
#endif
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
    memset(m->tick_e, 0, sizeof m->tick_e);
    memset(m->tail, 0, sizeof m->tail);
    memset(m->step_e, 0, sizeof m->step_e);
    m->head = m->m_whole[0] = m->m_whole[1] = m->s_whole[0] = m->s_whole[1] = 0;
    struct hist *hs[2] = {&m->gate, &m->s_hist};
    for (int i = 0; i < 2; i++) {
        memset(hs[i]->bins, 0, sizeof hs[i]->bins);
        hs[i]->lo = HIST_BINS;
        hs[i]->hi = 0;
        hs[i]->energy = 0;
        hs[i]->count = 0;
    }
    for (int c = 0; c < m->channels; c++) {
        struct chan *ch = &m->ch[c];
        double w = ch->weight, *in = ch->in;
        memset(ch, 0, sizeof *ch);
        memset(in, 0, (TP_TAPS - 1) * sizeof *in);
        ch->weight = w;
        ch->in = in;
    }
}

/*
** A step (20 ticks) has just ended: keep its energy and its tail sums, and the sums of the
** last whole steps that the M and S windows use until the next step ends.
*/
static void end_step(mg_loudness *m)
{
    uint64_t k = m->ticks / TICKS_PER_STEP - 1; /* the step that ended */
    double *tail = m->tail[k % S_STEPS], t = 0;
    for (int j = TICKS_PER_STEP - 1; j >= 0; j--)
        tail[j] = t = m->tick_e[j] + t;
    m->step_e[k % S_STEPS] = m->head;
    double *whole[2] = {m->m_whole, m->s_whole};
    const unsigned steps[2] = {M_STEPS, S_STEPS};
    for (int w = 0; w < 2; w++) {
        double sum = 0; /* oldest first, the oldest one added last */
        for (unsigned i = steps[w] - 1; i >= 1; i--)
            sum += m->step_e[(k + S_STEPS - (i - 1)) % S_STEPS];
        whole[w][1] = sum;
        whole[w][0] = sum + m->step_e[(k + S_STEPS - (steps[w] - 1)) % S_STEPS];
    }
}

/*
** Sum of the last `steps` * 20 tick energies (that many ticks completed). On a step boundary
** that is `steps` whole steps; otherwise, r ticks into the current step, the tail of the step
** `steps` back from its tick r on, the steps - 1 whole steps after it and the current head.
*/
static double window_sum(const mg_loudness *m, unsigned steps, const double whole[2])
{
    unsigned r = m->tick;
    if (r == 0)
        return whole[0];
    uint64_t old = m->ticks / TICKS_PER_STEP - steps;
    return (m->tail[old % S_STEPS][r] + whole[1]) + m->head;
}

/* Add one value to a histogram unless it is at or under the absolute gate. */
static void gate_block(struct hist *h, double mean_square)
{
    double l = lufs(mean_square);
    if (!(l > HIST_LO)) /* absolute gate (strict, as BS.1770-5) */
        return;
    double pos = (l - HIST_LO) * HIST_PER_LU;
    int b = pos >= HIST_BINS - 1 ? HIST_BINS - 1 : (int)pos;
    h->bins[b].energy += mean_square;
    h->bins[b].count++;
    h->energy += mean_square;
    h->count++;
    h->lo = b < h->lo ? b : h->lo;
    h->hi = b + 1 > h->hi ? b + 1 : h->hi;
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
    m->tick_e[m->tick] = e;
    m->head = m->tick == 0 ? e : m->head + e;
    m->ticks++;
    m->tick_pos = 0;
    if (++m->tick == TICKS_PER_STEP) {
        m->tick = 0;
        end_step(m);
    }
    if (m->ticks >= M_TICKS) {
        m->m_now = window_sum(m, M_STEPS, m->m_whole) / m->m_frames;
        if (m->m_now > m->m_max)
            m->m_max = m->m_now;
        if (m->tick == 0)
            gate_block(&m->gate, m->m_now);
    }
    if (m->ticks >= S_TICKS) {
        m->s_now = window_sum(m, S_STEPS, m->s_whole) / m->s_frames;
        if (m->s_now > m->s_max)
            m->s_max = m->s_now;
        if (m->tick == 0) /* Tech 3342: S at 10 Hz */
            gate_block(&m->s_hist, m->s_now);
    }
    /* Flush decaying filter states at fixed stream positions (so chunking cannot change
       results) before they reach the slow subnormal range in silence: from 1e-20, one tick
       of the fastest pole cannot get there. The input history k[0..1] is exact floats and
       never subnormal as a double. */
    for (int c = 0; c < m->channels; c++)
        for (int i = 2; i < 6; i++)
            if (fabs(m->ch[c].k[i]) < DENORMAL_FLOOR)
                m->ch[c].k[i] = 0;
}

/*
** Pass 1, one channel: x sanitized (non-finite -> 0, counted) into w as doubles; sample peak.
** The peak is a maximum, so its grouping does not matter.
*/
#if defined(LOUD_X86)
/* The vector loops' partial peaks and non-finite counts folded into *peak and *bad. */
static void fold_lanes(const float *pf, const int32_t *bf, int lanes, double *peak, uint64_t *bad)
{
    for (int l = 0; l < lanes; l++) {
        *peak = pf[l] > *peak ? pf[l] : *peak;
        *bad += (uint64_t)bf[l];
    }
}

/* prep_channel's vector loop with 8 frames per vector; returns the frames done (n & ~7). */
__attribute__((target("avx2"))) static size_t prep_avx2(const float *x, double *w, size_t n,
                                                        double *peak, uint64_t *bad)
{
    const __m256i expo = _mm256_set1_epi32(0x7f800000);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 pk = _mm256_setzero_ps();
    __m256i nbad = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256i nf = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(v), expo), expo);
        v = _mm256_andnot_ps(_mm256_castsi256_ps(nf), v);
        nbad = _mm256_sub_epi32(nbad, nf);
        pk = _mm256_max_ps(pk, _mm256_and_ps(v, absmask));
        _mm256_storeu_pd(w + i, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        _mm256_storeu_pd(w + i + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    float pf[8];
    int32_t bf[8];
    _mm256_storeu_ps(pf, pk);
    _mm256_storeu_si256((__m256i *)bf, nbad);
    fold_lanes(pf, bf, 8, peak, bad);
    return i;
}
#endif

static void prep_channel(mg_loudness *m, struct chan *ch, const float *x, double *w, size_t n)
{
    size_t i = 0;
    uint64_t bad = 0;
    double peak = ch->peak;
#if defined(LOUD_X86)
    if (m->isa >= ISA_AVX2 && n >= 8)
        i = prep_avx2(x, w, n, &peak, &bad);
    const __m128i expo = _mm_set1_epi32(0x7f800000);
    const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    __m128 pk = _mm_setzero_ps();
    __m128i nbad = _mm_setzero_si128();
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_loadu_ps(x + i);
        __m128i nf = _mm_cmpeq_epi32(_mm_and_si128(_mm_castps_si128(v), expo), expo);
        v = _mm_andnot_ps(_mm_castsi128_ps(nf), v);
        nbad = _mm_sub_epi32(nbad, nf);
        pk = _mm_max_ps(pk, _mm_and_ps(v, absmask));
        _mm_storeu_pd(w + i, _mm_cvtps_pd(v));
        _mm_storeu_pd(w + i + 2, _mm_cvtps_pd(_mm_movehl_ps(v, v)));
    }
    float pf[4];
    int32_t bf[4];
    _mm_storeu_ps(pf, pk);
    _mm_storeu_si128((__m128i *)bf, nbad);
    fold_lanes(pf, bf, 4, &peak, &bad);
#endif
    for (; i < n; i++) {
        double v = x[i];
        if (!isfinite(v)) {
            v = 0;
            bad++;
        }
        w[i] = v;
        peak = fabs(v) > peak ? fabs(v) : peak;
    }
    ch->peak = peak;
    m->nonfinite += bad;
}

/*
** Pass 2: K-weighting (direct form I: the shelf, then the high-pass on the shelf's output, so
** the high-pass input history is the shelf output history) and the energy of the result.
** The feedback terms come last, so that the loop-carried paths are one multiply and one
** subtraction (or one fused multiply-add) per sample. k and acc as in struct chan.
*/
static void kweight_one(const mg_loudness *m, double *k, double *acc_io, const double *w,
                        size_t n)
{
    const double b0 = m->shelf[0], b1 = m->shelf[1], b2 = m->shelf[2], a1 = m->shelf[3],
                 a2 = m->shelf[4];
    const double c0 = m->hp[0], c1 = m->hp[1], c2 = m->hp[2], d1 = m->hp[3], d2 = m->hp[4];
    double x1 = k[0], x2 = k[1], y1 = k[2], y2 = k[3], z1 = k[4], z2 = k[5], acc = *acc_io;
    for (size_t i = 0; i < n; i++) {
        double x = w[i];
        double t = b2 * x2 + b1 * x1;
        t = t + b0 * x;
        t = t - a2 * y2;
        double y = t - a1 * y1;
        double u = c2 * y2 + c1 * y1;
        u = u + c0 * y;
        u = u - d2 * z2;
        double z = u - d1 * z1;
        acc = acc + z * z;
        x2 = x1;
        x1 = x;
        y2 = y1;
        y1 = y;
        z2 = z1;
        z1 = z;
    }
    k[0] = x1;
    k[1] = x2;
    k[2] = y1;
    k[3] = y2;
    k[4] = z1;
    k[5] = z2;
    *acc_io = acc;
}

#if defined(LOUD_X86)
/* Loads of the two channels' histories as the lanes of one vector, and the way back. */
#define PAIR_LOAD(ka, kb, i) _mm_set_pd((kb)[i], (ka)[i])
#define PAIR_STORE(ka, kb, i, v)                                                               \
    do {                                                                                       \
        _mm_storel_pd(&(ka)[i], (v));                                                          \
        _mm_storeh_pd(&(kb)[i], (v));                                                          \
    } while (0)

/*
** kweight_one for two channels as the two lanes of a vector, lane by lane the same operations,
** with MADD(a, b, c) = a * b + c and MSUB(a, b, c) = c - a * b either separate or fused (the
** fused kernel's loop-carried paths are one FMA long). KW_STEP is one sample: the new shelf
** and high-pass outputs replace Y2 and Z2, and the loop swaps the roles of the 1 and 2
** states every other sample instead of moving registers.
*/
#define KW_STEP(MADD, MSUB, X, X1, X2, Y1, Y2, Z1, Z2)                                        \
    do {                                                                                       \
        __m128d t_ = MADD(b1, X1, _mm_mul_pd(b2, X2));                                         \
        __m128d u_ = MADD(c1, Y1, _mm_mul_pd(c2, Y2));                                         \
        t_ = MADD(b0, X, t_);                                                                  \
        t_ = MSUB(a2, Y2, t_);                                                                 \
        Y2 = MSUB(a1, Y1, t_);                                                                 \
        u_ = MADD(c0, Y2, u_);                                                                 \
        u_ = MSUB(d2, Z2, u_);                                                                 \
        Z2 = MSUB(d1, Z1, u_);                                                                 \
        e = MADD(Z2, Z2, e);                                                                   \
    } while (0)
#define KW_PAIR_KERNEL(MADD, MSUB)                                                             \
    {                                                                                          \
        const __m128d b0 = _mm_set1_pd(m->shelf[0]), b1 = _mm_set1_pd(m->shelf[1]),            \
                      b2 = _mm_set1_pd(m->shelf[2]), a1 = _mm_set1_pd(m->shelf[3]),            \
                      a2 = _mm_set1_pd(m->shelf[4]);                                           \
        const __m128d c0 = _mm_set1_pd(m->hp[0]), c1 = _mm_set1_pd(m->hp[1]),                  \
                      c2 = _mm_set1_pd(m->hp[2]), d1 = _mm_set1_pd(m->hp[3]),                  \
                      d2 = _mm_set1_pd(m->hp[4]);                                              \
        __m128d x1 = PAIR_LOAD(ka, kb, 0), x2 = PAIR_LOAD(ka, kb, 1),                          \
                y1 = PAIR_LOAD(ka, kb, 2), y2 = PAIR_LOAD(ka, kb, 3),                          \
                z1 = PAIR_LOAD(ka, kb, 4), z2 = PAIR_LOAD(ka, kb, 5), e = _mm_loadu_pd(acc);   \
        size_t i = 0;                                                                          \
        for (; i + 2 <= n; i += 2) {                                                           \
            __m128d xa = _mm_loadh_pd(_mm_load_sd(wa + i), wb + i);                            \
            __m128d xb = _mm_loadh_pd(_mm_load_sd(wa + i + 1), wb + i + 1);                    \
            KW_STEP(MADD, MSUB, xa, x1, x2, y1, y2, z1, z2); /* y2, z2: sample i */            \
            KW_STEP(MADD, MSUB, xb, xa, x1, y2, y1, z2, z1); /* y1, z1: sample i + 1 */        \
            x2 = xa;                                                                           \
            x1 = xb;                                                                           \
        }                                                                                      \
        if (i < n) {                                                                           \
            __m128d x = _mm_loadh_pd(_mm_load_sd(wa + i), wb + i), swap;                       \
            KW_STEP(MADD, MSUB, x, x1, x2, y1, y2, z1, z2);                                    \
            x2 = x1;                                                                           \
            x1 = x;                                                                            \
            swap = y1;                                                                         \
            y1 = y2;                                                                           \
            y2 = swap;                                                                         \
            swap = z1;                                                                         \
            z1 = z2;                                                                           \
            z2 = swap;                                                                         \
        }                                                                                      \
        PAIR_STORE(ka, kb, 0, x1);                                                             \
        PAIR_STORE(ka, kb, 1, x2);                                                             \
        PAIR_STORE(ka, kb, 2, y1);                                                             \
        PAIR_STORE(ka, kb, 3, y2);                                                             \
        PAIR_STORE(ka, kb, 4, z1);                                                             \
        PAIR_STORE(ka, kb, 5, z2);                                                             \
        _mm_storeu_pd(acc, e);                                                                 \
    }
#define MADD_SSE2(a, b, c) _mm_add_pd(_mm_mul_pd(a, b), c)
#define MSUB_SSE2(a, b, c) _mm_sub_pd(c, _mm_mul_pd(a, b))
#define MADD_FMA(a, b, c) _mm_fmadd_pd(a, b, c)
#define MSUB_FMA(a, b, c) _mm_fnmadd_pd(a, b, c)

static void kweight_pair_sse2(const mg_loudness *m, double *ka, double *kb, double acc[2],
                              const double *wa, const double *wb, size_t n)
    KW_PAIR_KERNEL(MADD_SSE2, MSUB_SSE2)

__attribute__((target("avx2,fma"))) static void
kweight_pair_fma(const mg_loudness *m, double *ka, double *kb, double acc[2], const double *wa,
                 const double *wb, size_t n) KW_PAIR_KERNEL(MADD_FMA, MSUB_FMA)
#endif

/* Pass 2 for all channels: pairs of channels in the vector kernels, one left over alone. */
static void kweight_all(mg_loudness *m, double *const *w, size_t n)
{
    int c = 0;
#if defined(LOUD_X86)
    for (; c < m->channels; c += 2) {
        struct chan *a = &m->ch[c];
        double kb[6], acc[2] = {a->acc, 0}, *pkb = kb;
        const double *wb = w[c];
        if (c + 1 < m->channels) { /* else: a second lane on a copy, then dropped */
            pkb = m->ch[c + 1].k;
            acc[1] = m->ch[c + 1].acc;
            wb = w[c + 1];
        } else {
            memcpy(kb, a->k, sizeof kb);
        }
        if (m->isa >= ISA_AVX2)
            kweight_pair_fma(m, a->k, pkb, acc, w[c], wb, n);
        else
            kweight_pair_sse2(m, a->k, pkb, acc, w[c], wb, n);
        a->acc = acc[0];
        if (c + 1 < m->channels)
            m->ch[c + 1].acc = acc[1];
    }
#endif
    for (; c < m->channels; c++)
        kweight_one(m, m->ch[c].k, &m->ch[c].acc, w[c], n);
}

/*
** Pass 3: the true-peak interpolator, y_p[i] = sum_j mg_loudness_tp_fir[p][j] * x[i - j].
** Phase 3 is phase 0 reversed and phase 2 is phase 1 reversed, so with u_j = x[i - j],
** P_j = u_j + u_(11-j) and M_j = u_j - u_(11-j):
**   y0 + y3 = sum_(j<6) tp_even[0][j] * P_j,   y0 - y3 = sum_(j<6) tp_odd[0][j] * M_j
** (likewise y1, y2 with row 1): 24 multiplies for four phases instead of 48. And
** max(|y0|, |y3|) = (|y0 + y3| + |y0 - y3|) / 2. The kernels return the largest of these
** sums before the halving (halving is exact and monotonic, so it can come last) over frames
** 0..n-1 of w; w[-11..-1] is the history.
*/
/* One frame: u[11 - j] = x[i - j]; `fused`: the vector kernels' fused multiply-adds. */
static inline double tp_frame(const mg_loudness *m, const double *u, int fused)
{
    double s03 = 0, d03 = 0, s12 = 0, d12 = 0;
    for (int j = 0; j < TP_TAPS / 2; j++) {
        double pj = u[TP_TAPS - 1 - j] + u[j], mj = u[TP_TAPS - 1 - j] - u[j];
        if (j == 0) {
            s03 = m->tp_even[0][j] * pj;
            d03 = m->tp_odd[0][j] * mj;
            s12 = m->tp_even[1][j] * pj;
            d12 = m->tp_odd[1][j] * mj;
        } else if (fused) {
            s03 = fma(m->tp_even[0][j], pj, s03);
            d03 = fma(m->tp_odd[0][j], mj, d03);
            s12 = fma(m->tp_even[1][j], pj, s12);
            d12 = fma(m->tp_odd[1][j], mj, d12);
        } else {
            s03 = s03 + m->tp_even[0][j] * pj;
            d03 = d03 + m->tp_odd[0][j] * mj;
            s12 = s12 + m->tp_even[1][j] * pj;
            d12 = d12 + m->tp_odd[1][j] * mj;
        }
    }
    double a, b;
    if (m->oversample == 4) {
        a = fabs(s03) + fabs(d03);
        b = fabs(s12) + fabs(d12);
    } else { /* phases 0 and 2 */
        a = fabs(s03 + d03);
        b = fabs(s12 - d12);
    }
    return a > b ? a : b;
}

/* tp_frame over frames 0..n-1 of w: their largest value. */
static inline double tp_one(const mg_loudness *m, const double *w, size_t n, int fused)
{
    double best = 0;
    for (size_t i = 0; i < n; i++) {
        double a = tp_frame(m, w + i - (TP_TAPS - 1), fused);
        best = a > best ? a : best;
    }
    return best;
}

#if defined(LOUD_X86)
/*
** tp_one over W consecutive frames per vector of type V (intrinsics prefix P), each lane the
** same operations as tp_one (MADD unfused) or tp_one_fma (MADD fused). The last partial vector
** is computed whole (reading into the TP_PAD doubles after the work area) and its lanes past
** n are masked off, so every frame is computed by the same operations wherever the chunk
** boundaries fall.
*/
static const int64_t tp_lanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#define TP_KERNEL(V, P, W, MADD)                                                               \
    {                                                                                          \
        const double *u = w - (TP_TAPS - 1);                                                   \
        const V sign = P##_set1_pd(-0.0);                                                      \
        V e0[TP_TAPS / 2], o0[TP_TAPS / 2], e1[TP_TAPS / 2], o1[TP_TAPS / 2];                   \
        for (int j = 0; j < TP_TAPS / 2; j++) {                                                \
            e0[j] = P##_set1_pd(m->tp_even[0][j]);                                             \
            o0[j] = P##_set1_pd(m->tp_odd[0][j]);                                              \
            e1[j] = P##_set1_pd(m->tp_even[1][j]);                                             \
            o1[j] = P##_set1_pd(m->tp_odd[1][j]);                                              \
        }                                                                                      \
        V best = P##_setzero_pd();                                                             \
        for (size_t i = 0; i < n; i += W) {                                                    \
            V hi = P##_loadu_pd(u + i + TP_TAPS - 1), lo = P##_loadu_pd(u + i);                \
            V p = P##_add_pd(hi, lo), q = P##_sub_pd(hi, lo);                                  \
            V s03 = P##_mul_pd(e0[0], p), d03 = P##_mul_pd(o0[0], q),                          \
              s12 = P##_mul_pd(e1[0], p), d12 = P##_mul_pd(o1[0], q);                          \
            for (int j = 1; j < TP_TAPS / 2; j++) {                                            \
                hi = P##_loadu_pd(u + i + TP_TAPS - 1 - j);                                    \
                lo = P##_loadu_pd(u + i + j);                                                  \
                p = P##_add_pd(hi, lo);                                                        \
                q = P##_sub_pd(hi, lo);                                                        \
                s03 = MADD(e0[j], p, s03);                                                     \
                d03 = MADD(o0[j], q, d03);                                                     \
                s12 = MADD(e1[j], p, s12);                                                     \
                d12 = MADD(o1[j], q, d12);                                                     \
            }                                                                                  \
            V a, b;                                                                            \
            if (m->oversample == 4) {                                                          \
                a = P##_add_pd(P##_andnot_pd(sign, s03), P##_andnot_pd(sign, d03));            \
                b = P##_add_pd(P##_andnot_pd(sign, s12), P##_andnot_pd(sign, d12));            \
            } else { /* phases 0 and 2 */                                                      \
                a = P##_andnot_pd(sign, P##_add_pd(s03, d03));                                 \
                b = P##_andnot_pd(sign, P##_sub_pd(s12, d12));                                 \
            }                                                                                  \
            a = P##_max_pd(a, b);                                                              \
            if (i + W > n) /* lanes n - i .. W - 1 are past the chunk */                       \
                a = P##_and_pd(a, P##_loadu_pd((const double *)(tp_lanes + 8 - (n - i))));     \
            best = P##_max_pd(best, a);                                                        \
        }                                                                                      \
        double r[W], t = 0;                                                                    \
        P##_storeu_pd(r, best);                                                                \
        for (int l = 0; l < W; l++)                                                            \
            t = r[l] > t ? r[l] : t;                                                           \
        return t;                                                                              \
    }
#define MADD_SSE2_TP(a, b, c) _mm_add_pd(c, _mm_mul_pd(a, b))
#define MADD_AVX2(a, b, c) _mm256_fmadd_pd(a, b, c)
#define MADD_AVX512(a, b, c) _mm512_fmadd_pd(a, b, c)

static double tp_sse2(const mg_loudness *m, const double *w, size_t n)
    TP_KERNEL(__m128d, _mm, 2, MADD_SSE2_TP)

__attribute__((target("avx2,fma"))) static double tp_avx2(const mg_loudness *m, const double *w,
                                                          size_t n)
    TP_KERNEL(__m256d, _mm256, 4, MADD_AVX2)

__attribute__((target("avx512f,avx512dq"))) static double tp_avx512(const mg_loudness *m,
                                                                    const double *w, size_t n)
    TP_KERNEL(__m512d, _mm512, 8, MADD_AVX512)

/* A few frames alone (the vector kernels' set-up costs more), the same operations as a lane. */
__attribute__((target("avx2,fma"))) static double tp_one_fma(const mg_loudness *m,
                                                            const double *w, size_t n)
{
    return tp_one(m, w, n, 1);
}

#endif

/* Pass 3 for one channel: fold the chunk's interpolated peak into ch->tpeak. */
static void true_peak(const mg_loudness *m, struct chan *ch, const double *w, size_t n)
{
    double best;
#if defined(LOUD_X86)
    if (m->isa >= ISA_AVX2 && n < TP_SHORT)
        best = tp_one_fma(m, w, n);
    else if (m->isa == ISA_AVX512)
        best = tp_avx512(m, w, n);
    else if (m->isa == ISA_AVX2)
        best = tp_avx2(m, w, n);
    else
        best = tp_sse2(m, w, n);
#else
    best = tp_one(m, w, n, 0);
#endif
    best *= 0.5;
    ch->tpeak = best > ch->tpeak ? best : ch->tpeak;
}

void mg_loudness_add(mg_loudness *m, const float *const *planar, size_t frames)
{
    size_t done = 0;
    double *w[MG_LOUDNESS_MAX_CHANNELS];
    while (done < frames) {
        size_t room = m->tick_len[m->tick] - m->tick_pos;
        size_t n = frames - done < room ? frames - done : room;
        for (int c = 0; c < m->channels; c++) {
            w[c] = m->ch[c].in + (TP_TAPS - 1) + m->tick_pos;
            prep_channel(m, &m->ch[c], planar[c] + done, w[c], n);
        }
        kweight_all(m, w, n);
        if (m->oversample > 1)
            for (int c = 0; c < m->channels; c++)
                true_peak(m, &m->ch[c], w[c], n);
        done += n;
        m->tick_pos += (unsigned)n;
        if (m->tick_pos == m->tick_len[m->tick])
            end_tick(m);
    }
    m->frames += frames;
}

/* Energy and count of bins from..to-1 (energies in 4 partial sums: a fixed order). */
static void bins_sum(const struct bin *bins, int from, int to, double *e_out, uint64_t *n_out)
{
    double e[4] = {0, 0, 0, 0};
    uint64_t n = 0;
    int b = from;
    for (; b + 4 <= to; b += 4)
        for (int l = 0; l < 4; l++) {
            e[l] += bins[b + l].energy;
            n += bins[b + l].count;
        }
    for (int l = 0; b < to; b++, l++) {
        e[l] += bins[b].energy;
        n += bins[b].count;
    }
    *e_out = (e[0] + e[1]) + (e[2] + e[3]);
    *n_out = n;
}

/*
** Relative gating over a histogram: the gate is `rel_lu` under the mean of everything that
** passed the absolute gate (for the integrated loudness, 10 LU: one tenth of the mean energy).
** Bins wholly above it count in full (with their exact energy sums), bins below not at all;
** the bin that contains the gate counts if its mean energy is above the gate (exact when its
** values are alike). Returns the first bin that counts (HIST_BINS when none) and, through
** e_out and n_out, the energy sum and count of what passed.
*/
static int relative_gate(const struct hist *h, double rel_lu, double *e_out, uint64_t *n_out)
{
    const struct bin *bins = h->bins;
    double e = h->energy;
    uint64_t n = h->count;
    *e_out = 0;
    *n_out = 0;
    if (!n)
        return HIST_BINS;
    double gate = e / (double)n * pow(10.0, -rel_lu / 10.0);
    double pos = (lufs(gate) - HIST_LO) * HIST_PER_LU;
    int first = pos < 0 ? 0 : pos >= HIST_BINS - 1 ? HIST_BINS - 1 : (int)pos;
    if (pos >= 0 && bins[first].count && !(bins[first].energy / (double)bins[first].count > gate))
        first++;
    bins_sum(bins, first > h->lo ? first : h->lo, h->hi, e_out, n_out);
    return first;
}

/* BS.1770-5 gating of the 400 ms blocks: absolute gate -70 LUFS, relative gate -10 LU. */
double mg_loudness_integrated(const mg_loudness *m)
{
    double e;
    uint64_t n;
    relative_gate(&m->gate, 10.0, &e, &n);
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
    int first = relative_gate(&m->s_hist, 20.0, &e, &n);
    if (n < 2)
        return 0.0;
    uint64_t k10 = (uint64_t)llround((double)(n - 1) * 0.10);
    uint64_t k95 = (uint64_t)llround((double)(n - 1) * 0.95);
    double lra = nth_value(m->s_hist.bins, first, k95) - nth_value(m->s_hist.bins, first, k10);
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
