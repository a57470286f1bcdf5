/*
** mg_analyze.h: measurements of a sound file or of any stream of audio: loudness (BS.1770 /
** R128: integrated, range, maxima), peaks, per-channel RMS and DC, clipping, stereo
** correlation, crest factor; optionally loudness over time, an averaged spectrum and
** critical-band levels over time (for masking between tracks). Used by `mixgraph analyze`,
** `mixgraph master`, `make demo` and the Lua module. [control] throughout: allocates and
** reads files.
*/
#ifndef MG_ANALYZE_H
#define MG_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "mixgraph.h"

#define MG_ANALYZE_MAX_CHANNELS 8

/* What to collect besides the scalar figures (mg_analyze_file_ex `what`). */
#define MG_ANALYZE_SERIES 0x1u   /* momentary and short-term loudness every 100 ms */
#define MG_ANALYZE_SPECTRUM 0x2u /* averaged power spectrum of the channels' mean */
#define MG_ANALYZE_BANDS 0x4u    /* critical-band levels every frame (masking) */

/* Critical bands (Zwicker): MG_BANDS bands, band k spans mg_band_edges[k]..[k+1] Hz. */
#define MG_BANDS 24
extern const double mg_band_edges[MG_BANDS + 1];

typedef struct mg_file_analysis {
    double rate;
    int channels;
    int64_t frames;
    char format[64];                     /* "WAV (Microsoft), Signed 24 bit PCM" */
    double integrated;                   /* LUFS; -HUGE_VAL: silence or under 400 ms */
    double lra;                          /* LU (Tech 3342); 0 under about 3 s */
    double momentary_max, shortterm_max; /* LUFS (-HUGE_VAL: input too short) */
    double sample_peak;                  /* dBFS, all channels */
    double true_peak;                    /* dBTP, all channels */
    double peak[MG_ANALYZE_MAX_CHANNELS]; /* dBFS per channel */
    double rms[MG_ANALYZE_MAX_CHANNELS];  /* dBFS per channel (a full-scale sine: -3.01) */
    double dc[MG_ANALYZE_MAX_CHANNELS];   /* mean sample value per channel (linear) */
    uint64_t clipped;    /* samples at full scale or beyond: |x| >= 32767/32768 */
    double correlation;  /* stereo: sum(LR)/sqrt(sum(LL) sum(RR)) in [-1, 1]; 0 when one
                            channel is silent; NaN when not stereo */
    double crest;        /* dB: sample peak over RMS of all channels; 0 for silence */
    /* MG_ANALYZE_SERIES: n_series values each, the first at 0.1 s; -HUGE_VAL before a window
       is full or for silence */
    double *momentary, *shortterm;
    size_t n_series;
    /* MG_ANALYZE_SPECTRUM: n_spectrum bins of spectrum_hz each, power in dB relative to a
       full-scale sine (a sine at -6 dBFS peaks at about -6) */
    double *spectrum;
    size_t n_spectrum;
    double spectrum_hz;
    /* MG_ANALYZE_BANDS: n_frames frames of frame_s seconds, MG_BANDS levels (dBFS, at least
       -144) each: bands[frame * MG_BANDS + band] */
    double *bands;
    size_t n_frames;
    double frame_s;
} mg_file_analysis;

/* Streaming analysis: feed planar blocks, then finish. */
typedef struct mg_analyzer mg_analyzer;
/* NULL on bad rate/channels (*err MG_ERR_RANGE) or no memory. */
mg_analyzer *mg_analyzer_new(double rate, int channels, unsigned what, mg_status *err);
void mg_analyzer_add(mg_analyzer *an, const float *const *planar, size_t frames);
/* Fill `a` (format is left empty); the series arrays move to `a` (mg_analysis_free). */
mg_status mg_analyzer_finish(mg_analyzer *an, mg_file_analysis *a);
void mg_analyzer_free(mg_analyzer *an); /* accepts NULL */

/* Measure the file at `path`; on failure err gets "PATH: reason". */
mg_status mg_analyze_file(const char *path, mg_file_analysis *a, char *err, size_t errsz);
mg_status mg_analyze_file_ex(const char *path, unsigned what, mg_file_analysis *a, char *err,
                             size_t errsz);
/* Free the arrays of an analysis (safe on one without them, and twice). */
void mg_analysis_free(mg_file_analysis *a);

/*
** Masking between two analyses made with MG_ANALYZE_BANDS at the same rate: share[k] is the
** fraction (0..1) of the frames in which `b` sounds in band k (band level above -60 dBFS)
** and `a` is at least MG_MASK_MARGIN dB louder there, i.e. `a` covers `b` in that band.
** Frames beyond the shorter analysis are ignored. Bands where `b` never sounds get 0.
*/
#define MG_MASK_MARGIN 10.0
void mg_analyze_masking(const mg_file_analysis *a, const mg_file_analysis *b,
                        double share[MG_BANDS]);
/* The bands where `a` masks `b` most of the time (share >= MG_MASK_SHARE), in order: their
   indices and shares; returns how many. */
#define MG_MASK_SHARE 0.5
int mg_analyze_masked_bands(const mg_file_analysis *a, const mg_file_analysis *b,
                            int band[MG_BANDS], double share[MG_BANDS]);

#endif
