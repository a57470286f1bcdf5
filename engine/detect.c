/*
** detect.c: the front of tempo and key detection (mg_detect.h): reads a sound file (or takes a
** buffer), mixes it to mono and streams it to the tempo (tempo.c) and key (key.c)
** accumulators; the short-time Fourier transform both use. [control]
*/
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_detect.h"
#include "mg_fft.h"
#include "mg_node.h"
#include "mg_sndfile.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

int mg_stft_init(mg_stft *s, double rate, size_t size48k, size_t overlap)
{
    memset(s, 0, sizeof *s);
    size_t size = 64;
    while ((double)size < rate * (double)size48k / 48000.0 * 0.75)
        size *= 2;
    s->size = size;
    s->hop = size / overlap;
    s->buf = calloc(size, sizeof(float));
    s->win = malloc(size * sizeof(float));
    s->frame = fftwf_malloc(size * sizeof(float));
    s->spec = fftwf_malloc((size / 2 + 1) * sizeof(fftwf_complex));
    s->mag = malloc((size / 2 + 1) * sizeof(float));
    if (!s->buf || !s->win || !s->frame || !s->spec || !s->mag)
        return -1;
    for (size_t i = 0; i < size; i++)
        s->win[i] = (float)(0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)size));
    mg_fft_planner_lock();
    s->plan = fftwf_plan_dft_r2c_1d((int)size, s->frame, s->spec, FFTW_ESTIMATE);
    mg_fft_planner_unlock();
    return s->plan ? 0 : -1;
}

void mg_stft_free(mg_stft *s)
{
    if (s->plan) {
        mg_fft_planner_lock();
        fftwf_destroy_plan(s->plan);
        mg_fft_planner_unlock();
    }
    free(s->buf);
    free(s->win);
    fftwf_free(s->frame);
    fftwf_free(s->spec);
    free(s->mag);
    memset(s, 0, sizeof *s);
}

void mg_stft_feed(mg_stft *s, const float *x, size_t n, void (*frame)(void *ctx, const float *mag),
                  void *ctx)
{
    while (n > 0) {
        size_t k = s->size - s->fill < n ? s->size - s->fill : n;
        memcpy(s->buf + s->fill, x, k * sizeof(float));
        s->fill += k;
        x += k;
        n -= k;
        if (s->fill < s->size)
            continue;
        for (size_t i = 0; i < s->size; i++)
            s->frame[i] = s->buf[i] * s->win[i];
        fftwf_execute(s->plan);
        const fftwf_complex *X = s->spec;
        for (size_t i = 0; i <= s->size / 2; i++)
            s->mag[i] = sqrtf(X[i][0] * X[i][0] + X[i][1] * X[i][1]);
        memmove(s->buf, s->buf + s->hop, (s->size - s->hop) * sizeof(float));
        s->fill = s->size - s->hop;
        frame(ctx, s->mag);
    }
}

void mg_tempo_free(mg_tempo *t)
{
    if (!t)
        return;
    free(t->beats);
    t->beats = NULL;
    t->n_beats = 0;
}

typedef struct accs {
    mg_tempo_acc *t;
    mg_key_acc *k;
} accs;

static mg_status accs_new(accs *a, double rate, int tempo, int key)
{
    a->t = tempo ? mg_tempo_acc_new(rate) : NULL;
    a->k = key ? mg_key_acc_new(rate) : NULL;
    return (tempo && !a->t) || (key && !a->k) ? MG_ERR_NOMEM : MG_OK;
}

static void accs_feed(accs *a, const float *x, size_t n)
{
    if (a->t)
        mg_tempo_acc_feed(a->t, x, n);
    if (a->k)
        mg_key_acc_feed(a->k, x, n);
}

static mg_status accs_finish(accs *a, mg_tempo *tempo, mg_key *key)
{
    mg_status st = MG_OK;
    if (a->t)
        st = mg_tempo_acc_finish(a->t, tempo);
    if (a->k)
        mg_key_acc_finish(a->k, key);
    a->t = NULL;
    a->k = NULL;
    return st;
}

mg_status mg_detect_buffer(const float *x, size_t n, double rate, mg_tempo *tempo, mg_key *key)
{
    accs a;
    if (accs_new(&a, rate, tempo != NULL, key != NULL)) {
        accs_finish(&a, NULL, NULL);
        return MG_ERR_NOMEM;
    }
    accs_feed(&a, x, n);
    return accs_finish(&a, tempo, key);
}

/* Open `path` and feed its mono mix to new accumulators (tempo and/or key). */
static mg_status stream_file(const char *path, accs *a, int tempo, int key, char *err, size_t errsz)
{
    a->t = NULL;
    a->k = NULL;
    mg_sndfile snd;
    char why[256];
    if (mg_sndfile_open_read(&snd, path, why, sizeof why)) {
        snprintf(err, errsz, "%s: %s", path, why);
        return MG_ERR_IO;
    }
    int ch = snd.info.channels;
    if (ch < 1 || ch > MG_MAX_CHANNELS || snd.info.samplerate < 8000) {
        snprintf(err, errsz, "%s: unsupported format (%d channels, %d Hz)", path, ch,
                 snd.info.samplerate);
        mg_sndfile_close(&snd);
        return MG_ERR_FORMAT;
    }
    enum { BLOCK = 4096 };
    float *inter = malloc(sizeof(float) * BLOCK * (size_t)ch);
    float *mono = malloc(sizeof(float) * BLOCK);
    mg_status st = accs_new(a, snd.info.samplerate, tempo, key);
    if (!inter || !mono || st) {
        snprintf(err, errsz, "%s: out of memory", path);
        free(inter);
        free(mono);
        accs_finish(a, NULL, NULL);
        mg_sndfile_close(&snd);
        return MG_ERR_NOMEM;
    }
    sf_count_t got;
    while ((got = sf_readf_float(snd.sf, inter, BLOCK)) > 0) {
        for (sf_count_t i = 0; i < got; i++) {
            float s = 0;
            for (int c = 0; c < ch; c++)
                s += inter[i * ch + c];
            mono[i] = s / (float)ch;
        }
        accs_feed(a, mono, (size_t)got);
    }
    free(inter);
    free(mono);
    mg_sndfile_close(&snd);
    return MG_OK;
}

mg_status mg_detect_file(const char *path, mg_tempo *tempo, mg_key *key, char *err, size_t errsz)
{
    if (tempo)
        memset(tempo, 0, sizeof *tempo);
    accs a;
    mg_status st = stream_file(path, &a, tempo != NULL, key != NULL, err, errsz);
    if (st)
        return st;
    st = accs_finish(&a, tempo, key);
    if (st)
        snprintf(err, errsz, "%s: out of memory", path);
    return st;
}

mg_status mg_detect_onsets(const char *path, mg_onsets *on, char *err, size_t errsz)
{
    memset(on, 0, sizeof *on);
    accs a;
    mg_status st = stream_file(path, &a, 1, 0, err, errsz);
    if (st)
        return st;
    size_t n;
    const float *env = mg_tempo_acc_env(a.t, &n, &on->hop, &on->t0);
    on->env = malloc((n ? n : 1) * sizeof *on->env);
    if (on->env) {
        memcpy(on->env, env, n * sizeof *env);
        on->n = n;
    }
    mg_tempo t;
    st = accs_finish(&a, &t, NULL);
    mg_tempo_free(&t);
    if (!on->env || st) {
        snprintf(err, errsz, "%s: out of memory", path);
        return MG_ERR_NOMEM;
    }
    return MG_OK;
}
