/*
** tempo.c: tempo (BPM) and beat detection (mg_detect.h). [control]
**
** 1. Onset envelope: spectral flux of mildly log-compressed magnitudes (1024-point Hann frames
**    every 128 samples at 48 kHz, scaled with the rate) in three bands (30-200 Hz, 200 Hz-2 kHz,
**    2-12 kHz), each divided by its mean and summed, minus the local mean.
** 2. Beat period: autocorrelation of the envelope, scored as a comb (the period and its first
**    three multiples must all correlate) over 50..200 BPM, weighted by a tempo prior (log-normal
**    around 120 BPM, one octave wide, as in common beat trackers). The best comb wins, then
**    halves and thirds of it are preferred while their comb scores at least HALF_PREF of it: a
**    steady pulse scores the same at P, 2P and 3P, so the fastest reading is the beat, but a
**    weaker off-beat layer does not double the tempo. Octave choice stays a judgement: a
**    60 BPM kick/snare pattern with eighth-note hi-hats reads 120 (see tests/engine).
** 3. Refinement: onset peaks are fitted by weighted least squares to a grid of half periods
**    (inliers within an eighth of the period, three passes); the slope gives the period to a
**    fraction of a millisecond over a few bars. The beat phase is the grid parity holding more
**    onset energy.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_detect.h"

#define HALF_PREF 0.85
#define PRIOR_BPM 120.0
#define PRIOR_OCT 1.0
/* log(1 + COMPRESS |X|), |X| = 1 for a full-scale sine: mild compression, so loud hits (kick,
   snare) outweigh quiet bright ones (hi-hats) as they do to the ear; measured to keep the
   beat level of the test patterns from -20 to +6 dB */
#define COMPRESS 10.0
#define MIN_SECONDS 2.0
#define NBANDS 3 /* 30-200 Hz, 200 Hz-2 kHz, 2-12 kHz */

struct mg_tempo_acc {
    double rate;
    mg_stft stft;
    float *prev;             /* last frame's compressed magnitudes */
    size_t edge[NBANDS + 1]; /* band edges in bins */
    float *flux;             /* NBANDS values per frame */
    float *env;              /* the combined envelope (combine()) */
    size_t n, cap;
    int oom; /* frames were dropped for want of memory */
};

mg_tempo_acc *mg_tempo_acc_new(double rate)
{
    mg_tempo_acc *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->rate = rate;
    int bad = mg_stft_init(&a->stft, rate, 1024, 8);
    size_t size = a->stft.size;
    a->prev = calloc(size / 2 + 1, sizeof(float));
    static const double hz[NBANDS + 1] = {30, 200, 2000, 12000};
    for (int k = 0; k <= NBANDS; k++) {
        double f = hz[k] < rate / 2 ? hz[k] : rate / 2;
        a->edge[k] = (size_t)floor(f * (double)size / rate);
    }
    if (bad || !a->prev) {
        free(a->prev);
        mg_stft_free(&a->stft);
        free(a);
        return NULL;
    }
    return a;
}

/* One frame: the bands' spectral flux, appended. */
static void tempo_frame(void *ctx, const float *mag)
{
    mg_tempo_acc *a = ctx;
    double flux[NBANDS] = {0}, norm = 4.0 / (double)a->stft.size;
    for (int k = 0; k < NBANDS; k++)
        for (size_t b = a->edge[k]; b < a->edge[k + 1]; b++) {
            float l = (float)log1p(COMPRESS * norm * mag[b]);
            if (l > a->prev[b])
                flux[k] += l - a->prev[b];
            a->prev[b] = l;
        }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        float *e = realloc(a->flux, cap * NBANDS * sizeof *e);
        if (!e) {
            a->oom = 1; /* finish reports it */
            return;
        }
        a->flux = e;
        a->cap = cap;
    }
    for (int k = 0; k < NBANDS; k++)
        a->flux[a->n * NBANDS + (size_t)k] = (float)flux[k];
    a->n++;
}

void mg_tempo_acc_feed(mg_tempo_acc *a, const float *x, size_t n)
{
    mg_stft_feed(&a->stft, x, n, tempo_frame, a);
}

/*
** The onset envelope: the bands' fluxes, each divided by its mean, summed. Every band then
** counts alike, so a soft snare weighs as much against a loud kick as it does to the ear.
*/
static int combine(mg_tempo_acc *a)
{
    if (a->env)
        return 0;
    a->env = calloc(a->n ? a->n : 1, sizeof *a->env);
    if (!a->env)
        return -1;
    for (int k = 0; k < NBANDS; k++) {
        double mean = 0;
        for (size_t t = 0; t < a->n; t++)
            mean += a->flux[t * NBANDS + (size_t)k];
        mean /= a->n ? (double)a->n : 1;
        if (mean <= 0)
            continue;
        for (size_t t = 0; t < a->n; t++)
            a->env[t] += (float)(a->flux[t * NBANDS + (size_t)k] / mean);
    }
    return 0;
}

const float *mg_tempo_acc_env(mg_tempo_acc *a, size_t *n, double *hop_s, double *t0)
{
    *n = combine(a) ? 0 : a->n;
    *hop_s = (double)a->stft.hop / a->rate;
    *t0 = (double)a->stft.size / 2 / a->rate;
    return a->env;
}

/* Largest autocorrelation value within one lag of x. */
static double ac_at(const double *ac, size_t nac, double x)
{
    long c = lround(x);
    double m = -HUGE_VAL;
    for (long j = c - 1; j <= c + 1; j++)
        if (j >= 0 && (size_t)j < nac && ac[j] > m)
            m = ac[j];
    return m;
}

/*
** Comb score of a beat period of `lag` hops: the mean autocorrelation at the period and its
** first three multiples, weighted by the tempo prior (a log-normal around PRIOR_BPM, PRIOR_OCT
** octaves wide) that settles which octave of a steady pulse is the beat.
*/
static double comb(const double *ac, size_t nac, double lag, double hop_s)
{
    double s = 0;
    for (int k = 1; k <= 4; k++)
        s += ac_at(ac, nac, lag * k);
    double x = log2(60.0 / (lag * hop_s) / PRIOR_BPM) / PRIOR_OCT;
    return s / 4 * exp(-0.5 * x * x);
}

typedef struct peak {
    double t, w;
} peak;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/*
** Fit t = a + b n to the peaks near a grid of spacing h anchored at a0; returns the inlier
** weight share. Three passes, each re-deriving n from the last fit.
*/
static double fit_grid(const peak *p, size_t np, double a0, double h, double *a_out, double *b_out)
{
    double a = a0, b = h, share = 0;
    for (int pass = 0; pass < 3; pass++) {
        double tol = b / (pass == 0 ? 4 : 6);
        double sw = 0, sn = 0, st = 0, snn = 0, snt = 0, wall = 0;
        for (size_t i = 0; i < np; i++) {
            double nn = round((p[i].t - a) / b);
            wall += p[i].w;
            if (fabs(p[i].t - a - nn * b) > tol)
                continue;
            sw += p[i].w;
            sn += p[i].w * nn;
            st += p[i].w * p[i].t;
            snn += p[i].w * nn * nn;
            snt += p[i].w * nn * p[i].t;
        }
        double det = sw * snn - sn * sn;
        if (sw <= 0 || det <= 1e-9 * sw * sw)
            break;
        b = (sw * snt - sn * st) / det;
        a = (st - b * sn) / sw;
        share = sw / wall;
    }
    *a_out = a;
    *b_out = b;
    return share;
}

mg_status mg_tempo_acc_finish(mg_tempo_acc *acc, mg_tempo *out)
{
    memset(out, 0, sizeof *out);
    mg_status st = MG_OK;
    size_t n = acc->n;
    double hop_s = (double)acc->stft.hop / acc->rate;
    double lag_min = 60.0 / (MG_TEMPO_MAX * hop_s), lag_max = 60.0 / (MG_TEMPO_MIN * hop_s);
    size_t nac = (size_t)ceil(lag_max * 4) + 3;
    double *o = NULL, *ac = NULL, *vals = NULL;
    peak *pk = NULL;
    if ((double)n * hop_s < MIN_SECONDS || nac >= n)
        goto done;
    if (combine(acc)) {
        st = MG_ERR_NOMEM;
        goto done;
    }
    o = malloc(n * sizeof *o);
    ac = calloc(nac, sizeof *ac);
    pk = malloc(n * sizeof *pk);
    vals = malloc(n * sizeof *vals);
    if (!o || !ac || !pk || !vals) {
        st = MG_ERR_NOMEM;
        goto done;
    }
    /* envelope minus its local mean over +-0.1 s, rectified */
    long w = lround(0.1 / hop_s);
    double run = 0;
    long lo = 0, hi = -1;
    for (long t = 0; t < (long)n; t++) {
        while (hi < t + w && hi + 1 < (long)n)
            run += acc->env[++hi];
        while (lo < t - w)
            run -= acc->env[lo++];
        double m = run / (double)(hi - lo + 1);
        o[t] = acc->env[t] > m ? acc->env[t] - m : 0;
    }
    for (size_t l = 0; l < nac; l++) {
        double s = 0;
        for (size_t t = 0; t + l < n; t++)
            s += o[t] * o[t + l];
        ac[l] = s / (double)(n - l);
    }
    if (ac[0] <= 0)
        goto done;
    double best = -HUGE_VAL, lag = 0;
    for (long l = (long)ceil(lag_min); l <= (long)floor(lag_max); l++) {
        double c = comb(ac, nac, (double)l, hop_s);
        if (c > best)
            best = c, lag = (double)l;
    }
    for (int again = 1; again;) {
        again = 0;
        for (int d = 2; d <= 3 && !again; d++)
            if (lag / d >= lag_min &&
                comb(ac, nac, lag / d, hop_s) >= HALF_PREF * comb(ac, nac, lag, hop_s)) {
                lag /= d;
                again = 1;
            }
    }

    /* onset peaks: local maxima over +-lag/8, at least 0.3 of the 90th percentile */
    long m = lround(lag / 8) > 1 ? lround(lag / 8) : 1;
    size_t np = 0;
    for (long t = 1; t + 1 < (long)n; t++) {
        if (o[t] <= 0)
            continue;
        int is_max = 1;
        for (long j = t - m; j <= t + m && is_max; j++)
            if (j >= 0 && j < (long)n && j != t && (o[j] > o[t] || (o[j] == o[t] && j < t)))
                is_max = 0;
        if (!is_max)
            continue;
        double y0 = o[t - 1], y1 = o[t], y2 = o[t + 1], den = y0 - 2 * y1 + y2;
        double d = den < 0 ? 0.5 * (y0 - y2) / den : 0;
        pk[np].t = (double)t + d;
        pk[np].w = y1;
        vals[np] = y1;
        np++;
    }
    if (np < 4)
        goto done;
    qsort(vals, np, sizeof *vals, cmp_double);
    double thr = 0.3 * vals[(size_t)(0.9 * (double)(np - 1))];
    size_t k = 0, strongest = 0;
    for (size_t i = 0; i < np; i++)
        if (pk[i].w >= thr) {
            pk[k] = pk[i];
            if (pk[k].w > pk[strongest].w)
                strongest = k;
            k++;
        }
    np = k;
    double a, b;
    double share = fit_grid(pk, np, pk[strongest].t, lag / 2, &a, &b);
    double period = 2 * b;
    if (!(period >= lag_min * 0.9 && period <= lag_max * 1.1))
        goto done;
    /* beat parity: the half-period grid phase holding more onset energy */
    double e[2] = {0, 0};
    for (long q = (long)floor(-a / b); a + (double)q * b < (double)n; q++) {
        long t = lround(a + (double)q * b);
        if (t >= 0 && t < (long)n)
            e[labs(q) % 2] += o[t];
    }
    double a_beat = e[1] > e[0] ? a + b : a;
    double centre = (double)acc->stft.size / 2 / acc->rate; /* frame t is centred here */
    /* beats from the first at or after -20 ms (an onset at 0 can read a little early; it is
       then reported at 0) to the end */
    double k0 = ceil((-(0.02 + centre) / hop_s - a_beat) / period);
    size_t nb = 0;
    while ((a_beat + (k0 + (double)nb) * period) < (double)n)
        nb++;
    out->beats = malloc((nb ? nb : 1) * sizeof *out->beats);
    if (!out->beats) {
        st = MG_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < nb; i++) {
        double t = (a_beat + (k0 + (double)i) * period) * hop_s + centre;
        out->beats[i] = t > 0 ? t : 0;
    }
    out->n_beats = nb;
    out->bpm = 60.0 / (period * hop_s);
    out->confidence = share;
done:
    free(o);
    free(ac);
    free(pk);
    free(vals);
    if (acc->oom)
        st = MG_ERR_NOMEM;
    mg_stft_free(&acc->stft);
    free(acc->prev);
    free(acc->env);
    free(acc->flux);
    free(acc);
    return st;
}
