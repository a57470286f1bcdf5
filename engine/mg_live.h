/*
** mg_live.h: running a graph in real time. The live engine sits between the control thread
** (Lua, the graph model, compilation, all allocation) and the audio thread (a driver callback
** that runs the current plan), and owns the disk thread that feeds file sources.
**
** Threads and data flow:
** - control -> audio: one SPSC queue of sample-stamped commands (parameter values, tempo, new
**   plans). While a live engine is attached, mg_node_set and mg_graph_set_tempo queue a command
**   instead of touching the running state, and mg_graph_compile hands its new plan over instead
**   of freeing the old one.
** - audio -> control: retired plans (freed here, on the control thread, with the nodes, node
**   states and delay lines that edits removed while that plan was playing), a copy of the output
**   for meters, and counters (atomics).
** - disk thread: calls the file sources' service functions every few milliseconds. It and the
**   control thread exclude each other with mg_live_lock (a mutex the audio thread never sees):
**   hold it around any graph edit made while playing (the Lua REPL and reloads do).
**
** The audio thread never allocates, frees, locks, does I/O or calls Lua: mg_live_process only
** pops commands, swaps plan pointers, runs the plan, and pushes to preallocated queues.
** Debug builds (MG_RT_TRAP) abort when malloc and friends run inside mg_live_process.
*/
#ifndef MG_LIVE_H
#define MG_LIVE_H

#include <stdint.h>

#include "mixgraph.h"

typedef struct mg_live mg_live;

typedef struct mg_live_config {
    int in_channels;  /* live input channels the driver delivers (0..8) */
    int out_channels; /* device output channels (1..8); the graph's output is mapped onto them */
    double period;    /* seconds per driver callback, for the load figures (0: block/rate) */
    int disk_thread;  /* non-zero: service file sources from a thread of the engine */
} mg_live_config;

/* [control] Attach a live engine to `g` (compiles it). The graph stays in live mode until
   mg_live_free. NULL on error with the reason in mg_graph_error(g). */
mg_live *mg_live_new(mg_graph *g, const mg_live_config *cfg, mg_status *err);
/* [control] Detach and free; the driver must be stopped first. Accepts NULL. */
void mg_live_free(mg_live *lv);
mg_graph *mg_live_graph(mg_live *lv);

/*
** [rt] The driver callback's work: `frames` frames of input (in[c], may be NULL when there is
** no input) to output (out[c], cfg.out_channels channels). Applies due commands at their exact
** sample (splitting the block), runs the plan, publishes counters. Never blocks.
*/
void mg_live_process(mg_live *lv, const float *const *in, float *const *out, uint32_t frames);

/* [control] Exclude the disk thread while editing the graph. */
void mg_live_lock(mg_live *lv);
void mg_live_unlock(mg_live *lv);

/* [control] Queue a parameter value to take effect at graph sample `at` (0: as soon as
   possible, smoothed as an immediate change). What mg_node_set does while live. */
mg_status mg_live_param(mg_live *lv, mg_node *node, int param, double value, uint64_t at);
/* [control] Evaluate automation functions (param:fn) until `horizon` seconds ahead of the
   audio and send their values as sample-stamped events. The play loop calls it often; with
   a horizon longer than the loop's period the audio never runs past the last value. */
mg_status mg_live_advance(mg_live *lv, double horizon);
/* [control] Free plans the audio thread has retired and update the meters. Call a few times
   a second (the play loop does). */
void mg_live_poll(mg_live *lv);
/* [control] Wait (polling) until the audio thread runs the newest plan, at most `seconds`.
   Returns non-zero when it does. */
int mg_live_sync(mg_live *lv, double seconds);

typedef struct mg_live_stats {
    uint64_t frames;       /* frames played */
    uint64_t callbacks;    /* driver callbacks */
    double load_mean;      /* time inside mg_live_process / period, averaged */
    double load_max;       /* largest single callback, as a fraction of its period */
    double cb_max_ms;      /* longest callback since the last call, ms */
    double load_max_all;   /* largest single callback since the start, fraction of period */
    double cb_max_all_ms;  /* longest callback since the start, ms */
    double cpu_max_all_ms; /* thread CPU time of the costliest callback (preemption excluded) */
    double load_p999;      /* 99.9th percentile of the callback load (1 % resolution) */
    uint64_t late;         /* callbacks that took longer than their period (DSP overload) */
    uint64_t xruns;        /* reported by the driver (mg_live_note_xrun) */
    uint64_t underruns;    /* frames file sources played as silence for want of data */
    uint64_t dropped_cmds; /* commands refused because the queue was full */
    uint64_t plans;        /* plans swapped in */
    uint64_t nonfinite;    /* NaN/Inf samples silenced at the output */
    int channels;          /* meter channels */
    double peak_db[8];     /* output sample peak since the last mg_live_stats call, dBFS */
    double momentary;      /* momentary loudness of the output, LUFS (400 ms) */
    double momentary_ch[8]; /* the same per channel (each measured as a mono signal) */
} mg_live_stats;
/* [control] Counters and meters (after mg_live_poll); resets the peak hold and load max. */
mg_live_stats mg_live_stats_take(mg_live *lv);
/* [any] Frames the audio thread has played (the graph position). */
uint64_t mg_live_position(mg_live *lv);
/* [rt] The driver saw an xrun (under- or overflow). */
void mg_live_note_xrun(mg_live *lv);

/* [control] Device input channels the graph's `input` nodes need (0: none). */
int mg_graph_input_channels(const mg_graph *g);

/* [any] Non-zero on a thread inside mg_live_process (the debug malloc trap reads it). */
int mg_rt_active(void);

#endif
