/*
** source_env.h: the note envelope shared by the source nodes (osc, noise): when a source
** sounds and how loud, as a function of the absolute graph sample index. [control] to configure
** and prepare, [rt] to evaluate.
**
** A note starts at frame on = round(start * rate) and, when duration > 0, ends at frame
** off = round((start + duration) * rate); with duration = 0 it never ends. Inside [on, off) the
** gain of frame m (k = m - on frames into the note) is the product
**
**     a(k) * d(k) * r(m)
**     a(k) = k / A            for k < A, else 1          (linear attack, A = round(attack*rate))
**     d(k) = 10^(-3 (k-A)/D)  for k > A, else 1          (60 dB in D = decay*rate frames; 0: off)
**     r(m) = (off - m) / R    for off - m < R, else 1    (linear release, R = round(release*rate))
**
** so the first note frame has gain exactly 0, the release reaches 0 exactly at `off`, and a
** release longer than the note simply starts before it. Outside [on, off) the source is
** silent. Every value is computed from the frame index alone, never accumulated, so a source is
** identical whatever the block size.
*/
#ifndef MG_SOURCE_ENV_H
#define MG_SOURCE_ENV_H

#include <stdint.h>

#include "mg_node.h"

/* The envelope options, written once and included at the end of each source's option table:
   `static const mg_option_desc opts[] = {..., MG_ENV_OPTIONS};` */
#define MG_ENV_OPTIONS                                                                          \
    {.name = "start", .type = MG_OPT_NUMBER, .unit = "s", .min = 0, .max = 86400, .def = 0,     \
     .doc = "graph time at which the sound starts"},                                           \
    {.name = "duration", .type = MG_OPT_NUMBER, .unit = "s", .min = 0, .max = 86400, .def = 0, \
     .doc = "length of the sound including its release; 0 = never ends"},                      \
    {.name = "attack", .type = MG_OPT_NUMBER, .unit = "ms", .min = 0, .max = 60000, .def = 2,   \
     .doc = "linear fade-in from the start"},                                                  \
    {.name = "release", .type = MG_OPT_NUMBER, .unit = "ms", .min = 0, .max = 60000, .def = 5,  \
     .doc = "linear fade-out ending exactly at start + duration (unused when duration = 0)"},  \
    {.name = "decay", .type = MG_OPT_NUMBER, .unit = "s", .min = 0, .max = 3600, .def = 0,      \
     .doc = "time to fall 60 dB (exponentially) after the attack; 0 = sustain"}
#define MG_ENV_N_OPTIONS 5

/* The envelope options as given (seconds and milliseconds). */
typedef struct mg_env_config {
    double start, duration; /* s */
    double attack, release; /* ms */
    double decay;           /* s */
} mg_env_config;

/* A prepared envelope. Fields are [immutable] after mg_env_prepare except `gain`. */
typedef struct mg_env {
    int64_t on, off;         /* note frames [on, off); off = MG_FOREVER when it never ends */
    int64_t attack, release; /* frames */
    double decay;            /* natural-log gain per frame after the attack; 0 = sustain */
    float *gain;             /* [rt] scratch: one block of gains, filled by mg_env_run */
} mg_env;

/* [control] Read the MG_ENV_OPTIONS that start at option index `first` of `node`. */
void mg_env_config_read(mg_env_config *c, const mg_node *node, int first);

/*
** [control] Turn a configuration into frame positions for `rate` and size the gain scratch for
** blocks of up to `block` frames (reallocated on each call; free with mg_env_free). Returns
** MG_ERR_NOMEM (reported on `node`) when the scratch cannot be allocated.
*/
mg_status mg_env_prepare(mg_env *e, const mg_env_config *c, double rate, int block,
                         mg_node *node);

/* [control] Release the scratch; accepts an envelope that was never prepared. */
void mg_env_free(mg_env *e);

/* [any] Frames the source produces before it is silent for good (prepare's `length`). */
int64_t mg_env_length(const mg_env *e);

/*
** [rt] For the block of `n` frames starting at absolute frame `pos`: the frames inside the note
** are [*lo, *lo + count) (block-relative); their gains are written to e->gain[*lo ...] and
** count is returned. 0 means the whole block is silent.
*/
uint32_t mg_env_run(mg_env *e, uint64_t pos, uint32_t n, uint32_t *lo);

/* [rt] Zero the frames of a block outside [lo, lo + count) on every channel of `out`. */
void mg_env_clear_outside(mg_buf *out, uint32_t n, uint32_t lo, uint32_t count);

#endif
