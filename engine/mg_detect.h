/*
** mg_detect.h: musical analysis of audio: tempo (BPM) with beat positions, and key (24 major
** and minor keys). Used by `mixgraph analyze --tempo --key`, by Lua's mixgraph.detect_tempo
** and detect_key, and by the matching helpers. [control]: reads files, allocates.
**
** Both work on the mono mix, streamed in frames (memory grows with the length only by the
** onset envelope, 375 values per second):
**   tempo  spectral-flux onset envelope (2.7 ms hop at 48 kHz) -> autocorrelation comb over
**          50..200 BPM picks the beat period -> a least-squares fit of the onset peaks to that
**          grid refines it (precise to a few hundredths of a BPM on steady material) and
**          places the beats.
**   key    chroma from spectral peaks that are not overtones (8192-point frames,
**          100 Hz..5 kHz), correlated with Temperley's major and minor key profiles in all 12
**          rotations; the best wins.
*/
#ifndef MG_DETECT_H
#define MG_DETECT_H

#include <stddef.h>

#include "mixgraph.h"

#define MG_TEMPO_MIN 50.0 /* BPM range searched */
#define MG_TEMPO_MAX 200.0

typedef struct mg_tempo {
    double bpm;        /* 0 when no steady pulse was found */
    double confidence; /* 0..1: how much of the onset energy sits on the beat grid */
    double *beats;     /* beat times in seconds (malloc'd, mg_tempo_free) */
    size_t n_beats;
} mg_tempo;

typedef struct mg_key {
    int tonic;        /* pitch class: 0 = C, 1 = C#, ... 11 = B; -1 when undetermined */
    int minor;        /* 0 major, 1 minor */
    double score;     /* correlation with the winning profile, -1..1 */
    double runner_up; /* correlation of the second-best key */
    char name[16];    /* "A minor", "Eb major" */
} mg_key;

/* Detect tempo and/or key (either pointer may be NULL) of a sound file, or of a mono buffer.
   File errors name the file: "PATH: reason". */
mg_status mg_detect_file(const char *path, mg_tempo *tempo, mg_key *key, char *err, size_t errsz);
mg_status mg_detect_buffer(const float *x, size_t n, double rate, mg_tempo *tempo, mg_key *key);
void mg_tempo_free(mg_tempo *t); /* accepts a zeroed or freed result */

/* The onset envelope the tempo detector works on (spectral flux, one value per hop seconds,
   value k centred at t0 + k * hop seconds), for aligning files by cross-correlation. */
typedef struct mg_onsets {
    float *env; /* malloc'd */
    size_t n;
    double hop, t0;
} mg_onsets;
mg_status mg_detect_onsets(const char *path, mg_onsets *on, char *err, size_t errsz);

/* Key names: "C", "F#", "Bb", "Am", "C# minor", "eb maj" ... -> tonic 0..11 and minor 0/1;
   0 on success, -1 when the text is not a key. */
int mg_key_parse(const char *s, int *tonic, int *minor);
/* "A minor" into buf. */
const char *mg_key_name(int tonic, int minor, char *buf, size_t sz);

/* ---- internals shared by detect.c, tempo.c and key.c ---- */

typedef struct mg_tempo_acc mg_tempo_acc; /* onset envelope under construction */
typedef struct mg_key_acc mg_key_acc;     /* chroma under construction */

mg_tempo_acc *mg_tempo_acc_new(double rate);
void mg_tempo_acc_feed(mg_tempo_acc *a, const float *x, size_t n);
mg_status mg_tempo_acc_finish(mg_tempo_acc *a, mg_tempo *out); /* frees a */
const float *mg_tempo_acc_env(mg_tempo_acc *a, size_t *n, double *hop_s, double *t0);
mg_key_acc *mg_key_acc_new(double rate);
void mg_key_acc_feed(mg_key_acc *a, const float *x, size_t n);
void mg_key_acc_finish(mg_key_acc *a, mg_key *out); /* frees a */

/* A sliding window over a mono stream: Hann-windowed frames transformed with FFTW (r2c). The
   frame is the power of two nearest `size48k * rate / 48000` (the same duration at any rate),
   one every size / overlap samples. */
typedef struct mg_stft {
    size_t size, hop, fill;
    float *buf, *win, *frame, *mag;
    void *plan, *spec;
} mg_stft;
int mg_stft_init(mg_stft *s, double rate, size_t size48k, size_t overlap);
void mg_stft_free(mg_stft *s);
/* Push n samples; `frame(ctx, mag)` receives the magnitudes mag[0..size/2] of each frame
   completed. */
void mg_stft_feed(mg_stft *s, const float *x, size_t n, void (*frame)(void *ctx, const float *mag),
                  void *ctx);

#endif
