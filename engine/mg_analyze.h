/*
** mg_analyze.h: measurements of a sound file (loudness, peaks, format), used by
** `mixgraph analyze` and `make demo`. [control]: reads the file.
*/
#ifndef MG_ANALYZE_H
#define MG_ANALYZE_H

#include <stdint.h>

#include "mixgraph.h"

typedef struct mg_file_analysis {
    double rate;
    int channels;
    int64_t frames;
    char format[64];     /* "WAV, 24-bit PCM" */
    double integrated;   /* LUFS; -HUGE_VAL for silence */
    double momentary_max, shortterm_max; /* LUFS */
    double sample_peak;  /* dBFS */
    double true_peak;    /* dBTP */
} mg_file_analysis;

/* Measure the file at `path`; on failure err gets "PATH: reason". */
mg_status mg_analyze_file(const char *path, mg_file_analysis *a, char *err, size_t errsz);

#endif
