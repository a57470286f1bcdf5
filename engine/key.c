/*
** key.c: musical key detection over the 24 major and minor keys, and key names (mg_detect.h).
** [control]
**
** Chroma: 8192-point Hann frames (at 48 kHz; scaled with the rate) every half frame; each
** spectral peak between 100 Hz and 5 kHz that is not an overtone of a stronger peak below it
** adds its magnitude to the pitch class of its nearest equal-tempered semitone (A4 = 440 Hz).
** The floor leaves out kick drums, whose pitch sweeps would otherwise colour the chroma. The
** summed chroma is correlated (Pearson) with Temperley's key profiles (Temperley 2001, from
** the Kostka-Payne corpus) rotated to each tonic; the highest correlation names the key.
** (Krumhansl-Kessler's probe-tone profiles were tried first: they weigh the fifth so much that
** a minor progression over harmonic-rich tones read as the parallel major.)
*/
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_detect.h"

static const double prof_major[12] = {5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0};
static const double prof_minor[12] = {5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0};

struct mg_key_acc {
    double rate;
    mg_stft stft;
    double chroma[12];
    int *pc; /* pitch class per bin, -1 outside 100 Hz..5 kHz */
};

mg_key_acc *mg_key_acc_new(double rate)
{
    mg_key_acc *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->rate = rate;
    size_t size = 0;
    if (mg_stft_init(&a->stft, rate, 8192, 2) ||
        !(a->pc = malloc(((size = a->stft.size) / 2 + 1) * sizeof(int)))) {
        mg_stft_free(&a->stft);
        free(a);
        return NULL;
    }
    for (size_t b = 0; b <= size / 2; b++) {
        double f = (double)b * rate / (double)size;
        a->pc[b] = -1;
        if (f >= 100 && f <= 5000) {
            long midi = lround(69 + 12 * log2(f / 440));
            a->pc[b] = (int)(midi % 12);
        }
    }
    return a;
}

/*
** A peak at bin b is taken for an overtone (and left out) when a peak at least as strong sits
** at b/k for k = 2..5: the octave, fifth and major third that harmonics add above every note
** would otherwise pull minor keys towards major.
*/
static int overtone(const float *m, size_t b)
{
    for (size_t k = 2; k <= 5; k++) {
        size_t f = (b + k / 2) / k;
        if (f < 3)
            break;
        for (size_t j = f - 1; j <= f + 1; j++)
            if (m[j] >= m[b] && m[j] > m[j - 1] && m[j] >= m[j + 1])
                return 1;
    }
    return 0;
}

/* One frame: its spectral peaks that are not overtones, into the chroma. */
static void key_frame(void *ctx, const float *m)
{
    mg_key_acc *a = ctx;
    for (size_t b = 1; b < a->stft.size / 2; b++)
        if (a->pc[b] >= 0 && m[b] > m[b - 1] && m[b] >= m[b + 1] && !overtone(m, b))
            a->chroma[a->pc[b]] += m[b];
}

void mg_key_acc_feed(mg_key_acc *a, const float *x, size_t n)
{
    mg_stft_feed(&a->stft, x, n, key_frame, a);
}

static double pearson(const double *x, const double *prof, int rot)
{
    double mx = 0, mp = 0;
    for (int i = 0; i < 12; i++) {
        mx += x[i];
        mp += prof[i];
    }
    mx /= 12;
    mp /= 12;
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < 12; i++) {
        double dx = x[(i + rot) % 12] - mx, dy = prof[i] - mp;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0;
}

void mg_key_acc_finish(mg_key_acc *a, mg_key *out)
{
    memset(out, 0, sizeof *out);
    out->tonic = -1;
    out->score = out->runner_up = -1;
    double total = 0;
    for (int i = 0; i < 12; i++)
        total += a->chroma[i];
    if (total > 0) {
        for (int minor = 0; minor < 2; minor++)
            for (int t = 0; t < 12; t++) {
                double r = pearson(a->chroma, minor ? prof_minor : prof_major, t);
                if (r > out->score) {
                    out->runner_up = out->score;
                    out->score = r;
                    out->tonic = t;
                    out->minor = minor;
                } else if (r > out->runner_up) {
                    out->runner_up = r;
                }
            }
        mg_key_name(out->tonic, out->minor, out->name, sizeof out->name);
    } else {
        snprintf(out->name, sizeof out->name, "none");
    }
    mg_stft_free(&a->stft);
    free(a->pc);
    free(a);
}

static const char *const names[12] = {"C",  "C#", "D",  "Eb", "E",  "F",
                                      "F#", "G",  "Ab", "A",  "Bb", "B"};

const char *mg_key_name(int tonic, int minor, char *buf, size_t sz)
{
    snprintf(buf, sz, "%s %s", names[((tonic % 12) + 12) % 12], minor ? "minor" : "major");
    return buf;
}

int mg_key_parse(const char *s, int *tonic, int *minor)
{
    static const int letter[7] = {9, 11, 0, 2, 4, 5, 7}; /* A..G */
    while (isspace((unsigned char)*s))
        s++;
    int c = toupper((unsigned char)*s);
    if (c < 'A' || c > 'G')
        return -1;
    int t = letter[c - 'A'];
    s++;
    if (*s == '#')
        t++, s++;
    else if (*s == 'b')
        t--, s++;
    while (isspace((unsigned char)*s))
        s++;
    int m = 0;
    if (*s) {
        char w[16];
        size_t k = 0;
        while (*s && !isspace((unsigned char)*s) && k + 1 < sizeof w)
            w[k++] = (char)tolower((unsigned char)*s++);
        w[k] = 0;
        while (isspace((unsigned char)*s))
            s++;
        if (*s)
            return -1;
        if (!strcmp(w, "m") || !strcmp(w, "min") || !strcmp(w, "minor"))
            m = 1;
        else if (strcmp(w, "maj") && strcmp(w, "major"))
            return -1;
    }
    *tonic = (t + 12) % 12;
    *minor = m;
    return 0;
}
