/*
** tempo.c: tempo (BPM) and beat detection (mg_detect.h). [control]
**
** 1. Onset envelope: spectral flux of mildly log-compressed magnitudes (1024-point Hann frames every
**    128 samples at 48 kHz, scaled with the rate), 30 Hz..12 kHz, minus its local mean.
** 2. Beat period: autocorrelation of the envelope, scored as a comb (the period and its first
**    three multiples must all correlate) over 50..200 BPM. The best comb wins, then halves and
**    thirds of it are preferred while their comb scores at least HALF_PREF of it: a steady
**    pulse scores the same at P, 2P and 3P, so the fastest reading is the beat, but a weaker
**    off-beat layer (eighth-note hi-hats) does not double the tempo.
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
/* log(1 + COMPRESS |X|), |X| = 1 for a full-scale sine: mild compression, so loud hits (kick,
   snare) outweigh quiet bright ones (hi-hats) as they do to the ear; measured to keep the
   beat level of the test patterns from -20 to +6 dB */
#define COMPRESS 10.0
#define MIN_SECONDS 2.0

struct mg_tempo_acc {
    double rate;
    mg_stft stft;
    float *prev; /* last frame's compressed magnitudes */
    size_t b0, b1; /* flux bins */
    float *env;
    size_t n, cap;
    int oom; /* frames were dropped for want of memory */
};

mg_tempo_acc *mg_tempo_acc_new(double rate)
{
    mg_tempo_acc *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->rate = rate;
    size_t size = 256;
    while ((double)size < rate * 1024.0 / 48000.0 * 0.75)
        size *= 2;
    if (mg_stft_init(&a->stft, size, size / 8)) {
        mg_stft_free(&a->stft);
        free(a);
        return NULL;
    }
    a->prev = calloc(size / 2 + 1, sizeof(float));
    a->b0 = (size_t)ceil(30.0 * (double)size / rate);
    double top = rate / 2 < 12000 ? rate / 2 : 12000;
    a->b1 = (size_t)floor(top * (double)size / rate);
    if (a->b1 > size / 2)
        a->b1 = size / 2;
    if (!a->prev) {
        mg_stft_free(&a->stft);
        free(a);
        return NULL;
    }
    return a;
}

void mg_tempo_acc_feed(mg_tempo_acc *a, const float *x, size_t n)
{
    while (n > 0) {
        int ready;
        size_t k = mg_stft_push(&a->stft, x, n, &ready);
        x += k;
        n -= k;
        if (!ready)
            continue;
        double flux = 0, norm = 4.0 / (double)a->stft.size;
        for (size_t b = a->b0; b <= a->b1; b++) {
            float l = (float)log1p(COMPRESS * norm * a->stft.mag[b]);
            if (l > a->prev[b])
                flux += l - a->prev[b];
            a->prev[b] = l;
        }
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 4096;
            float *e = realloc(a->env, cap * sizeof *e);
            if (!e) {
                a->oom = 1; /* finish reports it */
                continue;
            }
            a->env = e;
            a->cap = cap;
        }
        a->env[a->n++] = (float)flux;
    }
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

static double comb(const double *ac, size_t nac, double lag)
{
    double s = 0;
    for (int k = 1; k <= 4; k++)
        s += ac_at(ac, nac, lag * k);
    return s / 4;
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
static double fit_grid(const peak *p, size_t np, double a0, double h, double *a_out,
                       double *b_out)
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
        double c = comb(ac, nac, (double)l);
        if (c > best)
            best = c, lag = (double)l;
    }
    for (int again = 1; again;) {
        again = 0;
        for (int d = 2; d <= 3 && !again; d++)
            if (lag / d >= lag_min && comb(ac, nac, lag / d) >= HALF_PREF * comb(ac, nac, lag)) {
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
    double first = a_beat - period * floor(a_beat / period);
    size_t nb = (size_t)((double)n - first > 0 ? ((double)n - first) / period + 1 : 0);
    out->beats = malloc((nb ? nb : 1) * sizeof *out->beats);
    if (!out->beats) {
        st = MG_ERR_NOMEM;
        goto done;
    }
    double centre = (double)acc->stft.size / 2 / acc->rate; /* frame t is centred here */
    for (size_t i = 0; i < nb; i++)
        out->beats[i] = (first + (double)i * period) * hop_s + centre;
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
    free(acc);
    return st;
}
