/*
** analyze.c: measures a stream of audio or a sound file (mg_analyze.h). [control]
** Files are streamed in blocks; memory grows only with the optional series (a few values per
** 100 ms). Loudness comes from the BS.1770 meter (loudness.c); the spectrum and band levels
** from FFTW on the channels' mean, Hann-windowed frames of a power of two near 100 ms, without
** overlap. The sums behind RMS, DC and correlation are kept in STAT_LANES partial sums, frame
** f going to sum f % STAT_LANES, so that they vectorize and yet do not depend on how the
** input was chunked.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__SSE2__) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define AN_AVX2 1
#endif

#include <fftw3.h>
#include <sndfile.h>

#include "mg_analyze.h"
#include "mg_fft.h"
#include "mg_loudness.h"
#include "mg_sndfile.h"

#define PI 3.14159265358979323846
#define FULL_SCALE (32767.0 / 32768.0) /* the largest 16-bit value: "clipped" from here */
#define FLOOR_DB (-144.0)
#define STAT_LANES 8 /* partial sums per statistic (frame f goes to f % STAT_LANES) */
_Static_assert(STAT_LANES == 8, "the AVX2 loops hold the lanes in two 4-double vectors");

const double mg_band_edges[MG_BANDS + 1] = {
    20,   100,  200,  300,  400,  510,  630,  770,  920,   1080,  1270,  1480, 1720,
    2000, 2320, 2700, 3150, 3700, 4400, 5300, 6400, 7700, 9500, 12000, 15500};

struct mg_analyzer {
    double rate;
    int channels;
    unsigned what;
    int avx2; /* the AVX2 loops of the statistics (same sums, fewer instructions) */
    mg_loudness *m;
    uint64_t frames, clipped;
    double peak[MG_ANALYZE_MAX_CHANNELS];
    double sum[MG_ANALYZE_MAX_CHANNELS][STAT_LANES], sq[MG_ANALYZE_MAX_CHANNELS][STAT_LANES],
        lr[STAT_LANES];
    /* series: one value per 100 ms step */
    size_t step, step_pos;
    double *mom, *sht;
    size_t n_series, cap_series;
    /* spectrum and bands */
    int N;          /* FFT frame length */
    int fill;       /* frames in the current FFT frame */
    float *frame;   /* N inputs (the channels' mean), then windowed in place */
    fftwf_complex *spec;
    fftwf_plan plan;
    double *window, *power; /* N; N/2 + 1 */
    size_t n_frames, cap_frames;
    double *bands;
    int *band_of; /* bin -> band, -1 outside 20 Hz..15.5 kHz */
};

static double to_db(double v) { return v > 0 ? 20 * log10(v) : -HUGE_VAL; }

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * size);
    if (q)
        *cap = c;
    return q;
}

mg_analyzer *mg_analyzer_new(double rate, int channels, unsigned what, mg_status *err)
{
    mg_status st = MG_OK;
    mg_analyzer *an = NULL;
    if (channels < 1 || channels > MG_ANALYZE_MAX_CHANNELS) {
        st = MG_ERR_RANGE;
        goto out;
    }
    an = calloc(1, sizeof *an);
    if (!an) {
        st = MG_ERR_NOMEM;
        goto out;
    }
    an->rate = rate;
    an->channels = channels;
    an->what = what;
#if defined(AN_AVX2)
    an->avx2 = mg_simd_level() >= MG_SIMD_AVX2;
#endif
    an->m = mg_loudness_new(rate, channels, &st);
    if (!an->m)
        goto fail;
    an->step = (size_t)floor(rate / 10.0 + 0.5);
    if (what & (MG_ANALYZE_SPECTRUM | MG_ANALYZE_BANDS)) {
        int N = 1;
        while (N * 2 <= rate / 10.0)
            N *= 2;
        an->N = N;
        an->frame = fftwf_alloc_real((size_t)N);
        an->spec = fftwf_alloc_complex((size_t)N / 2 + 1);
        an->window = malloc(sizeof(double) * (size_t)N);
        an->power = calloc((size_t)N / 2 + 1, sizeof(double));
        an->band_of = malloc(sizeof(int) * ((size_t)N / 2 + 1));
        if (!an->frame || !an->spec || !an->window || !an->power || !an->band_of) {
            st = MG_ERR_NOMEM;
            goto fail;
        }
        mg_fft_planner_lock();
        an->plan = fftwf_plan_dft_r2c_1d(N, an->frame, an->spec, FFTW_ESTIMATE);
        mg_fft_planner_unlock();
        if (!an->plan) {
            st = MG_ERR_NOMEM;
            goto fail;
        }
        for (int i = 0; i < N; i++)
            an->window[i] = 0.5 - 0.5 * cos(2 * PI * i / N);
        for (int k = 0; k <= N / 2; k++) {
            double f = k * rate / N;
            an->band_of[k] = -1;
            for (int b = 0; b < MG_BANDS; b++)
                if (f >= mg_band_edges[b] && f < mg_band_edges[b + 1])
                    an->band_of[k] = b;
        }
    }
    goto out;
fail:
    mg_analyzer_free(an);
    an = NULL;
out:
    if (err)
        *err = st;
    return an;
}

void mg_analyzer_free(mg_analyzer *an)
{
    if (!an)
        return;
    mg_loudness_free(an->m);
    free(an->mom);
    free(an->sht);
    if (an->plan) {
        mg_fft_planner_lock();
        fftwf_destroy_plan(an->plan);
        mg_fft_planner_unlock();
    }
    fftwf_free(an->frame);
    fftwf_free(an->spec);
    free(an->window);
    free(an->power);
    free(an->band_of);
    free(an->bands);
    free(an);
}

/*
** One full FFT frame: window, transform, add the power to the average and, with BANDS, store
** the frame's band levels. Calibrated so a sine of peak amplitude A reads 20 log10 A both at
** its spectrum bin and as the level of the band that holds it: with a Hann window a sine's
** bin has |X| = A N / 4, and the half-spectrum energy of the sine is 3 N^2 A^2 / 32.
*/
static void fft_frame(mg_analyzer *an)
{
    int N = an->N;
    for (int i = 0; i < N; i++)
        an->frame[i] = (float)(an->frame[i] * an->window[i]);
    fftwf_execute(an->plan);
    double band[MG_BANDS] = {0};
    for (int k = 0; k <= N / 2; k++) {
        double re = an->spec[k][0], im = an->spec[k][1], p = re * re + im * im;
        an->power[k] += p;
        if (an->band_of[k] >= 0)
            band[an->band_of[k]] += p;
    }
    if (an->what & MG_ANALYZE_BANDS) {
        double *nb = grow(an->bands, &an->cap_frames, (an->n_frames + 1) * MG_BANDS,
                          sizeof *an->bands);
        if (nb) {
            an->bands = nb;
            double scale = 32.0 / (3.0 * (double)N * (double)N);
            for (int b = 0; b < MG_BANDS; b++) {
                double l = band[b] > 0 ? 10 * log10(band[b] * scale) : FLOOR_DB;
                an->bands[an->n_frames * MG_BANDS + (size_t)b] = l > FLOOR_DB ? l : FLOOR_DB;
            }
        }
    }
    an->n_frames++;
    an->fill = 0;
}

#if defined(AN_AVX2)
/*
** The vector loops of channel_stats and stereo_stats with the STAT_LANES (8) lanes in two
** 4-double vectors: per lane the same additions as the SSE2 loops. v starts at lane 0; they
** return the frames done (a multiple of 8).
*/
__attribute__((target("avx2"))) static size_t stats_avx2(const float *v, size_t n, double *sum,
                                                         double *sq, double *pk,
                                                         uint64_t *clip)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 full = _mm256_set1_ps((float)FULL_SCALE);
    __m256 vpk = _mm256_setzero_ps();
    __m256i nclip = _mm256_setzero_si256();
    __m256d s0 = _mm256_loadu_pd(sum), s1 = _mm256_loadu_pd(sum + 4);
    __m256d q0 = _mm256_loadu_pd(sq), q1 = _mm256_loadu_pd(sq + 4);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(v + i), a = _mm256_and_ps(x, absmask);
        vpk = _mm256_max_ps(a, vpk);
        nclip = _mm256_sub_epi32(nclip, _mm256_castps_si256(_mm256_cmp_ps(a, full, _CMP_GE_OQ)));
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
        s0 = _mm256_add_pd(s0, lo);
        s1 = _mm256_add_pd(s1, hi);
        q0 = _mm256_add_pd(q0, _mm256_mul_pd(lo, lo));
        q1 = _mm256_add_pd(q1, _mm256_mul_pd(hi, hi));
    }
    _mm256_storeu_pd(sum, s0);
    _mm256_storeu_pd(sum + 4, s1);
    _mm256_storeu_pd(sq, q0);
    _mm256_storeu_pd(sq + 4, q1);
    float pf[8];
    int32_t cf[8];
    _mm256_storeu_ps(pf, vpk);
    _mm256_storeu_si256((__m256i *)cf, nclip);
    for (int l = 0; l < 8; l++) {
        *pk = pf[l] > *pk ? pf[l] : *pk;
        *clip += (uint64_t)cf[l];
    }
    return i;
}

__attribute__((target("avx2"))) static size_t lr_avx2(const float *l, const float *r, size_t n,
                                                      double *lr)
{
    __m256d p0 = _mm256_loadu_pd(lr), p1 = _mm256_loadu_pd(lr + 4);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(l + i), b = _mm256_loadu_ps(r + i);
        p0 = _mm256_add_pd(p0, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)),
                                             _mm256_cvtps_pd(_mm256_castps256_ps128(b))));
        p1 = _mm256_add_pd(p1, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)),
                                             _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1))));
    }
    _mm256_storeu_pd(lr, p0);
    _mm256_storeu_pd(lr + 4, p1);
    return i;
}
#endif

/* channel_stats frame by frame over v[from..to); returns `to`. */
static size_t stats_frames(const float *v, size_t from, size_t to, uint64_t pos, double *sum,
                           double *sq, double *pk, uint64_t *clip)
{
    for (size_t i = from; i < to; i++) {
        double a = fabs(v[i]);
        unsigned l = (unsigned)((pos + i) % STAT_LANES);
        *pk = a > *pk ? a : *pk;
        *clip += a >= FULL_SCALE;
        sum[l] += v[i];
        sq[l] += (double)v[i] * v[i];
    }
    return to;
}

/*
** Peak, clipped count, sum and sum of squares of one channel's n frames, the first of which
** is frame number `pos` of the stream: lane l of sum and sq accumulates the frames f with
** f % STAT_LANES == l, in stream order, whatever the chunking. Squares of floats are exact in
** double, so only the additions round.
*/
static void channel_stats(mg_analyzer *an, int c, const float *v, size_t n, uint64_t pos)
{
    double pk = an->peak[c], *sum = an->sum[c], *sq = an->sq[c];
    uint64_t clip = 0;
    size_t head = (size_t)((STAT_LANES - pos % STAT_LANES) % STAT_LANES); /* to lane 0 */
    size_t i = stats_frames(v, 0, head < n ? head : n, pos, sum, sq, &pk, &clip);
#if defined(AN_AVX2)
    if (an->avx2)
        i += stats_avx2(v + i, n - i, sum, sq, &pk, &clip);
#endif
#if defined(__SSE2__)
    const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    const __m128 full = _mm_set1_ps((float)FULL_SCALE); /* 1 - 2^-15: exact in float */
    __m128 vpk = _mm_setzero_ps();
    __m128i nclip = _mm_setzero_si128();
    __m128d s[STAT_LANES / 2], q[STAT_LANES / 2];
    for (int k = 0; k < STAT_LANES / 2; k++) {
        s[k] = _mm_loadu_pd(sum + 2 * k);
        q[k] = _mm_loadu_pd(sq + 2 * k);
    }
    for (; i + STAT_LANES <= n; i += STAT_LANES)
        for (int k = 0; k < STAT_LANES / 4; k++) {
            __m128 x = _mm_loadu_ps(v + i + 4 * k), a = _mm_and_ps(x, absmask);
            vpk = _mm_max_ps(a, vpk); /* a NaN leaves the peak as it was, as below */
            nclip = _mm_sub_epi32(nclip, _mm_castps_si128(_mm_cmpge_ps(a, full)));
            __m128d lo = _mm_cvtps_pd(x), hi = _mm_cvtps_pd(_mm_movehl_ps(x, x));
            s[2 * k] = _mm_add_pd(s[2 * k], lo);
            s[2 * k + 1] = _mm_add_pd(s[2 * k + 1], hi);
            q[2 * k] = _mm_add_pd(q[2 * k], _mm_mul_pd(lo, lo));
            q[2 * k + 1] = _mm_add_pd(q[2 * k + 1], _mm_mul_pd(hi, hi));
        }
    for (int k = 0; k < STAT_LANES / 2; k++) {
        _mm_storeu_pd(sum + 2 * k, s[k]);
        _mm_storeu_pd(sq + 2 * k, q[k]);
    }
    float pf[4];
    int32_t cf[4];
    _mm_storeu_ps(pf, vpk);
    _mm_storeu_si128((__m128i *)cf, nclip);
    for (int l = 0; l < 4; l++) {
        pk = pf[l] > pk ? pf[l] : pk;
        clip += (uint64_t)cf[l];
    }
#endif
    stats_frames(v, i, n, pos, sum, sq, &pk, &clip);
    an->peak[c] = pk;
    an->clipped += clip;
}

/* The sum of L * R for the correlation, in lanes as channel_stats. */
static void stereo_stats(mg_analyzer *an, const float *l, const float *r, size_t n, uint64_t pos)
{
    double *lr = an->lr;
    size_t i = 0;
    for (; i < n && (pos + i) % STAT_LANES; i++)
        lr[(pos + i) % STAT_LANES] += (double)l[i] * r[i];
#if defined(AN_AVX2)
    if (an->avx2)
        i += lr_avx2(l + i, r + i, n - i, lr);
#endif
#if defined(__SSE2__)
    __m128d p[STAT_LANES / 2];
    for (int k = 0; k < STAT_LANES / 2; k++)
        p[k] = _mm_loadu_pd(lr + 2 * k);
    for (; i + STAT_LANES <= n; i += STAT_LANES)
        for (int k = 0; k < STAT_LANES / 4; k++) {
            __m128 a = _mm_loadu_ps(l + i + 4 * k), b = _mm_loadu_ps(r + i + 4 * k);
            p[2 * k] = _mm_add_pd(p[2 * k], _mm_mul_pd(_mm_cvtps_pd(a), _mm_cvtps_pd(b)));
            p[2 * k + 1] = _mm_add_pd(p[2 * k + 1], _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(a, a)),
                                                               _mm_cvtps_pd(_mm_movehl_ps(b, b))));
        }
    for (int k = 0; k < STAT_LANES / 2; k++)
        _mm_storeu_pd(lr + 2 * k, p[k]);
#endif
    for (; i < n; i++)
        lr[(pos + i) % STAT_LANES] += (double)l[i] * r[i];
}

/* The partial sums added pairwise (a fixed order). */
static double lanes_sum(const double *p)
{
    double t[STAT_LANES];
    memcpy(t, p, sizeof t);
    for (int w = STAT_LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++)
            t[l] += t[l + w];
    return t[0];
}

/* Feed n frames that do not cross a 100 ms step boundary. */
static void add_piece(mg_analyzer *an, const float *const *x, size_t n)
{
    int ch = an->channels;
    for (int c = 0; c < ch; c++)
        channel_stats(an, c, x[c], n, an->frames);
    if (ch == 2)
        stereo_stats(an, x[0], x[1], n, an->frames);
    mg_loudness_add(an->m, x, n);
    if (an->N) {
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (int c = 0; c < ch; c++)
                s += x[c][i];
            an->frame[an->fill++] = (float)(s / ch);
            if (an->fill == an->N)
                fft_frame(an);
        }
    }
    an->frames += n;
    an->step_pos += n;
    if (an->step_pos == an->step) {
        an->step_pos = 0;
        if (an->what & MG_ANALYZE_SERIES) {
            size_t cap = an->cap_series;
            double *nm = grow(an->mom, &cap, an->n_series + 1, sizeof *nm);
            if (nm)
                an->mom = nm;
            double *ns = nm ? grow(an->sht, &an->cap_series, an->n_series + 1, sizeof *ns) : NULL;
            if (ns) {
                an->sht = ns;
                an->mom[an->n_series] = mg_loudness_momentary(an->m);
                an->sht[an->n_series] = mg_loudness_shortterm(an->m);
                an->n_series++;
            }
        }
    }
}

void mg_analyzer_add(mg_analyzer *an, const float *const *planar, size_t frames)
{
    const float *p[MG_ANALYZE_MAX_CHANNELS];
    for (size_t done = 0; done < frames;) {
        size_t room = an->step - an->step_pos;
        size_t n = frames - done < room ? frames - done : room;
        for (int c = 0; c < an->channels; c++)
            p[c] = planar[c] + done;
        add_piece(an, p, n);
        done += n;
    }
}

mg_status mg_analyzer_finish(mg_analyzer *an, mg_file_analysis *a)
{
    memset(a, 0, sizeof *a);
    a->rate = an->rate;
    a->channels = an->channels;
    a->frames = (int64_t)an->frames;
    a->integrated = mg_loudness_integrated(an->m);
    a->lra = mg_loudness_range(an->m);
    a->momentary_max = mg_loudness_momentary_max(an->m);
    a->shortterm_max = mg_loudness_shortterm_max(an->m);
    a->sample_peak = to_db(mg_loudness_sample_peak(an->m, MG_LOUDNESS_ALL));
    a->true_peak = to_db(mg_loudness_true_peak(an->m, MG_LOUDNESS_ALL));
    double n = an->frames ? (double)an->frames : 1, all = 0, sq[MG_ANALYZE_MAX_CHANNELS];
    for (int c = 0; c < an->channels; c++) {
        sq[c] = lanes_sum(an->sq[c]);
        a->peak[c] = to_db(an->peak[c]);
        a->rms[c] = to_db(sqrt(sq[c] / n));
        a->dc[c] = lanes_sum(an->sum[c]) / n;
        all += sq[c];
    }
    a->clipped = an->clipped;
    double rms_all = sqrt(all / (n * an->channels));
    a->crest = rms_all > 0 ? to_db(mg_loudness_sample_peak(an->m, MG_LOUDNESS_ALL) / rms_all) : 0;
    if (an->channels == 2) {
        double d = sqrt(sq[0] * sq[1]);
        a->correlation = d > 0 ? lanes_sum(an->lr) / d : 0;
    } else {
        a->correlation = NAN;
    }
    if (an->what & MG_ANALYZE_SERIES) {
        a->momentary = an->mom;
        a->shortterm = an->sht;
        a->n_series = an->n_series;
        an->mom = an->sht = NULL;
        an->n_series = an->cap_series = 0;
    }
    if (an->N && (an->what & MG_ANALYZE_SPECTRUM)) {
        size_t bins = (size_t)an->N / 2 + 1;
        a->spectrum = malloc(bins * sizeof *a->spectrum);
        if (!a->spectrum)
            return MG_ERR_NOMEM;
        double frames = an->n_frames ? (double)an->n_frames : 1;
        double scale = 16.0 / ((double)an->N * (double)an->N);
        for (size_t k = 0; k < bins; k++) {
            /* DC and Nyquist have no mirror image: a quarter of the power for the same
               calibration (a constant c reads 20 log10 |c|) */
            double p = an->power[k] / frames * scale * (k == 0 || k == bins - 1 ? 0.25 : 1.0);
            double l = p > 0 ? 10 * log10(p) : FLOOR_DB;
            a->spectrum[k] = l > FLOOR_DB ? l : FLOOR_DB;
        }
        a->n_spectrum = bins;
        a->spectrum_hz = an->rate / an->N;
    }
    if (an->N && (an->what & MG_ANALYZE_BANDS)) {
        a->bands = an->bands;
        a->n_frames = an->n_frames;
        a->frame_s = an->N / an->rate;
        an->bands = NULL;
        an->n_frames = an->cap_frames = 0;
    }
    return MG_OK;
}

void mg_analysis_free(mg_file_analysis *a)
{
    free(a->momentary);
    free(a->shortterm);
    free(a->spectrum);
    free(a->bands);
    a->momentary = a->shortterm = a->spectrum = a->bands = NULL;
    a->n_series = a->n_spectrum = a->n_frames = 0;
}

static void describe_format(int format, char *buf, size_t sz)
{
    SF_FORMAT_INFO major = {.format = format & SF_FORMAT_TYPEMASK};
    SF_FORMAT_INFO sub = {.format = format & SF_FORMAT_SUBMASK};
    sf_command(NULL, SFC_GET_FORMAT_INFO, &major, sizeof major);
    sf_command(NULL, SFC_GET_FORMAT_INFO, &sub, sizeof sub);
    snprintf(buf, sz, "%s, %s", major.name ? major.name : "?", sub.name ? sub.name : "?");
}

/* Interleaved frames to planar channels `stride` floats apart (stereo spelled out: it
   vectorizes). */
static void deinterleave(float *planar, size_t stride, const float *inter, int channels,
                         size_t n)
{
    if (channels == 2) {
        float *l = planar, *r = planar + stride;
        for (size_t i = 0; i < n; i++) {
            l[i] = inter[2 * i];
            r[i] = inter[2 * i + 1];
        }
        return;
    }
    for (int c = 0; c < channels; c++)
        for (size_t i = 0; i < n; i++)
            planar[(size_t)c * stride + i] = inter[i * (size_t)channels + (size_t)c];
}

mg_status mg_analyze_file_ex(const char *path, unsigned what, mg_file_analysis *a, char *err,
                             size_t errsz)
{
    memset(a, 0, sizeof *a);
    mg_sndfile snd;
    char why[256];
    if (mg_sndfile_open_read(&snd, path, why, sizeof why)) {
        snprintf(err, errsz, "%s: %s", path, why);
        return MG_ERR_IO;
    }
    SF_INFO info = snd.info;
    if (info.channels < 1 || info.channels > MG_ANALYZE_MAX_CHANNELS) {
        snprintf(err, errsz, "%s: %d channels (at most %d supported)", path, info.channels,
                 MG_ANALYZE_MAX_CHANNELS);
        mg_sndfile_close(&snd);
        return MG_ERR_FORMAT;
    }
    mg_status st;
    mg_analyzer *an = mg_analyzer_new(info.samplerate, info.channels, what, &st);
    enum { BLOCK = 4096 };
    float *inter = malloc(sizeof(float) * BLOCK * (size_t)info.channels);
    float *planar = malloc(sizeof(float) * BLOCK * (size_t)info.channels);
    if (!an || !inter || !planar) {
        snprintf(err, errsz, "%s: %s", path,
                 st == MG_ERR_RANGE ? "sample rate outside what the meter supports"
                                    : "out of memory");
        st = st == MG_ERR_RANGE ? MG_ERR_FORMAT : MG_ERR_NOMEM;
        goto done;
    }
    const float *ch[MG_ANALYZE_MAX_CHANNELS];
    for (int c = 0; c < info.channels; c++)
        ch[c] = planar + (size_t)c * BLOCK;
    sf_count_t n;
    while ((n = sf_readf_float(snd.sf, inter, BLOCK)) > 0) {
        deinterleave(planar, BLOCK, inter, info.channels, (size_t)n);
        mg_analyzer_add(an, ch, (size_t)n);
    }
    if (sf_error(snd.sf)) {
        snprintf(err, errsz, "%s: %s", path, sf_strerror(snd.sf));
        st = MG_ERR_IO;
        goto done;
    }
    st = mg_analyzer_finish(an, a);
    if (st)
        snprintf(err, errsz, "%s: out of memory", path);
    describe_format(info.format, a->format, sizeof a->format);
done:
    free(inter);
    free(planar);
    mg_analyzer_free(an);
    mg_sndfile_close(&snd);
    return st;
}

mg_status mg_analyze_file(const char *path, mg_file_analysis *a, char *err, size_t errsz)
{
    return mg_analyze_file_ex(path, 0, a, err, errsz);
}

void mg_analyze_masking(const mg_file_analysis *a, const mg_file_analysis *b,
                        double share[MG_BANDS])
{
    size_t n = a->n_frames < b->n_frames ? a->n_frames : b->n_frames;
    for (int k = 0; k < MG_BANDS; k++) {
        size_t on = 0, covered = 0;
        for (size_t f = 0; f < n; f++) {
            double lb = b->bands[f * MG_BANDS + (size_t)k], la = a->bands[f * MG_BANDS + (size_t)k];
            if (lb > -60.0) {
                on++;
                covered += la >= lb + MG_MASK_MARGIN;
            }
        }
        share[k] = on ? (double)covered / (double)on : 0.0;
    }
}

int mg_analyze_masked_bands(const mg_file_analysis *a, const mg_file_analysis *b,
                            int band[MG_BANDS], double share[MG_BANDS])
{
    double all[MG_BANDS];
    int n = 0;
    mg_analyze_masking(a, b, all);
    for (int k = 0; k < MG_BANDS; k++)
        if (all[k] >= MG_MASK_SHARE) {
            band[n] = k;
            share[n++] = all[k];
        }
    return n;
}
