/*
** mg_timeline.h: a parameter's automation timeline, the part the processing thread owns.
**
** Every parameter of every node has one timeline: a sorted array of sample-stamped events
** with a FIXED capacity, allocated on the control thread. The processing thread renders it
** (mg_timeline_render) and may insert into it (mg_timeline_insert) without allocating, so a
** real-time driver can pass events through a lock-free queue and insert them inside its
** callback. What cannot be done without allocating or without seeing the whole timeline
** (growing the array, copying a curve's values, validating an exponential ramp or a curve's
** overlap) happens on the control thread first, in mg_node_param_event (mixgraph.h), which
** offline then inserts directly.
**
** Threads: fields are [rt] once the graph runs on an audio thread, [control] before.
** Functions are tagged.
*/
#ifndef MG_TIMELINE_H
#define MG_TIMELINE_H

#include <stdint.h>

#include "mixgraph.h"

/* An event in samples: what the processing thread sees. */
typedef struct mg_tl_event {
    mg_event_type type;
    int64_t s;     /* graph sample: the start (set, target, curve, cancel, hold) or the end
                      (ramps: linear, exp, scurve, step) */
    double v;      /* value: the level set, the ramp's end value, the target */
    double k;      /* linear: curvature (0 = straight); target: time constant in samples;
                      step: number of steps (>= 1) */
    int64_t len;   /* curve: duration in samples (>= 1) */
    const float *curve; /* curve: n_curve values, owned by the node's parameter, never freed
                           while the node lives (the processing thread may read them) */
    int n_curve;
    int64_t cut;   /* ramps: stopped by a hold at this sample (INT64_MAX: not cut) */
} mg_tl_event;

/* Evaluation state: what the last reached event left behind. */
typedef struct mg_tl_state {
    mg_tl_event last;  /* the last event reached (a ramp is reached at its end) */
    int64_t anchor_s;  /* where a following ramp starts */
    double anchor_v;   /* and from which value */
    double v0;         /* target: the value when it started */
} mg_tl_state;

typedef struct mg_timeline {
    mg_tl_event *ev;   /* ev[0 .. n): sorted by event time (ramps by their end), stable */
    int cap, n;
    int head;          /* ev[head .. n) not reached yet */
    mg_tl_state st;    /* [rt] */
    double init;       /* value before any event (set on the control thread before running) */
    uint64_t overflow; /* [rt] events refused because the array was full */
    int compacted;     /* [rt] reached events were dropped to make room: a reset cannot replay */
    int steady;        /* [rt] no event pending and the value constant: renders skip it */
} mg_timeline;

/* Default capacity of a timeline the control thread has not grown. */
#define MG_TIMELINE_CAP 32

/* [rt] Time at which an event is reached and sorts (ramps: their end, or the hold cutting
   them). */
int64_t mg_tl_event_time(const mg_tl_event *e);

/*
** [rt] Insert one event without allocating. CANCEL and HOLD are applied at once; others are
** placed after events of equal time. Events in the past take effect at the next rendered
** sample. When the array is full, reached events are dropped to make room; if none can be,
** the event is refused: returns -1 and counts it in `overflow`. Returns 0 on success.
*/
int mg_timeline_insert(mg_timeline *tl, const mg_tl_event *e);

/* [rt] Value the timeline gives at sample s >= the next sample to render (reads only). */
double mg_timeline_value_at(const mg_timeline *tl, int64_t s);

/*
** [rt] Values for samples [pos, pos + n) into out; returns 1 (and fills out[0] only) when the
** value is constant over the block, else 0.
*/
int mg_timeline_render(mg_timeline *tl, int64_t pos, uint32_t n, float *out);

/* [rt] Back to sample 0: replay the events from the start (unless some were compacted). */
void mg_timeline_rewind(mg_timeline *tl);

/* ---- the control side's entry points for a real-time driver ---- */

/* [any] Parameter i's timeline (what the audio thread inserts into). */
mg_timeline *mg_node_param_timeline(mg_node *node, int i);

/*
** [control] Validate e and convert it to samples (round(t * rate)) without inserting: the
** checks of mg_node_param_event (range, exponential ramps through 0, curve overlaps, read
** against the timeline as it stands), a curve's values copied into memory the node owns. The
** result can cross a lock-free queue and be inserted on the audio thread with
** mg_timeline_insert(mg_node_param_timeline(node, i), &out).
*/
mg_status mg_node_param_event_prepare(mg_node *node, int i, const mg_param_event *e,
                                      mg_tl_event *out);

/*
** [control] Generated automation with a horizon: call the generators (param:fn) until their
** events cover sample `until`, handing each event to sink(ud, node, param, event) instead of
** inserting it (a real-time driver queues it for the audio thread). A non-zero status from the
** sink stops and is returned. mg_graph_advance(g, until) is this with direct insertion.
*/
typedef mg_status (*mg_event_sink)(void *ud, mg_node *node, int param, const mg_tl_event *e);
mg_status mg_graph_advance_to(mg_graph *g, int64_t until, mg_event_sink sink, void *ud);

#endif
