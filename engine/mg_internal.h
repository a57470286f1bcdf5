/*
** mg_internal.h: engine-private structures shared by graph.c, plan.c, param.c and render.c.
** Not installed; nodes and Lua bindings use mixgraph.h and mg_node.h only.
**
** Thread contract per field: [control] written only by the control thread; [rt] owned by the
** thread running the plan; [immutable] fixed after creation.
*/
#ifndef MG_INTERNAL_H
#define MG_INTERNAL_H

#include "mg_node.h"
#include "mixgraph.h"
#include "mg_timeline.h"

/* A control-rate generator of automation (param:fn): see mg_node_param_generate. */
typedef struct mg_param_gen {
    mg_param_fn fn;
    void *ud;
    void (*free_ud)(void *ud);
    double rate;     /* calls per second */
    double start;    /* seconds of call 0 */
    double stop;     /* no calls after this time (INFINITY: none) */
    int64_t k;       /* next call index */
    int64_t last_s;  /* sample of the last value produced (-1: none yet) */
} mg_param_gen;

/* A parameter's live state: its timeline, modulation and generator. */
typedef struct mg_param {
    const mg_param_desc *d; /* [immutable] */
    char name[40];          /* [immutable] expanded name ("gain3" for MULTI params) */
    float value;            /* [rt] value at the last rendered sample */
    float ctl;              /* [control] the last value set from the control side */
    mg_timeline tl;         /* events; see mg_timeline.h */
    float **curves;         /* [control] curve values owned by this parameter */
    int n_curves;
    mg_node *mod_src;       /* [control] audio-rate modulation source, or NULL */
    int mod_port;
    double mod_depth;
    mg_param_gen *gen;      /* [control] param:fn automation, or NULL */
} mg_param;

typedef struct mg_port {
    const mg_port_desc *d; /* [immutable] */
    char name[40];         /* [immutable] expanded name ("in3") */
    int channels;          /* [control] resolved by the last compile */
} mg_port;

struct mg_node {
    mg_graph *g;
    const mg_node_desc *d; /* [immutable] */
    char *name;            /* [immutable] unique in the graph */
    char *origin;          /* [control] "patch.lua:12" or NULL */
    int id;                /* [immutable] creation order, ties broken by it everywhere */
    void *state;           /* [rt] during processing; created/prepared on control */
    int created;           /* create succeeded: destroy may run, process may run */
    mg_optval *opt;        /* [immutable] one per desc option */
    int multi;             /* value of desc->multi_option (0 if none) */
    int n_in, n_out, n_params;
    mg_port *in, *out;
    mg_param *params;
    /* what prepare last saw; a change triggers a new prepare at compile */
    int prepared;
    double prep_rate;
    int prep_block;
    int *prep_ch;  /* n_in + n_out channel counts */
    int64_t length, tail, latency; /* from prepare */
    /* results of the last compile [control] */
    int64_t path_latency, end;
    mg_node *endless;              /* the never-ending source behind `end` */
    int mark;                      /* scratch for graph walks */
    int dying; /* [control] removed while playing: its connections fade out, then it goes */
};

/*
** A latency-compensation delay on one connection: it holds the source's output back by
** `delay` frames so that every signal arriving at the destination has the same latency.
** Owned by the edge, so its contents survive recompilation like node state.
*/
typedef struct mg_edge_delay {
    float *buf;       /* channels x size */
    uint32_t size;    /* power of two > delay + block */
    uint32_t delay;   /* frames */
    int channels;
    uint64_t w;       /* [rt] frames written */
} mg_edge_delay;

typedef struct mg_edge {
    mg_node *src, *dst;
    int out, in;
    int64_t comp;          /* [control] compensation in frames from the last compile */
    mg_edge_delay *line;   /* allocated when comp > 0 */
    /* [control] crossfade state of edits made while playing: 0 steady; MG_FADE_IN made since
       the last compile (fades in with the next plan); MG_FADE_OUT removed since the last
       compile (fades out with the next plan); MG_FADE_GONE faded out, kept until
       mg_graph_collect so the order stays valid */
    int fade;
} mg_edge;

enum { MG_FADE_IN = 1, MG_FADE_OUT = -1, MG_FADE_GONE = -2 };

/* An up/down-mix or fan-in step into an input's scratch buffers. */
typedef struct mg_mixop {
    const mg_buf *src; /* the producer's output port */
    mg_buf *dst;       /* the consumer's input port (scratch buffers) */
    int add;           /* 0: first contribution overwrites, 1: accumulates */
    int identity;      /* same channel count: plain copy/add */
    mg_edge_delay *delay; /* latency compensation on this connection, or NULL */
    int fade;             /* an MG_FADE_ state: gain ramps 0->1, 1->0, or stays 0 */
    uint32_t flen;        /* fade length in frames, from the plan's t_start */
    float m[MG_MAX_CHANNELS][MG_MAX_CHANNELS]; /* dst[c] = sum_s m[c][s] * src[s] */
} mg_mixop;

typedef struct mg_step {
    mg_node *node;
    void (*fn)(void *state, const mg_block *b);
    void *state;
    mg_block blk;   /* in/out point into the plan's port arrays */
    int mix0, nmix; /* plan->mixops[mix0 .. mix0+nmix) run before fn */
    mg_pval *pv;    /* one per node param */
    int kind;       /* 0 normal, 1 feedback read, 2 feedback write */
    int chain;      /* > 1: this step and the chain - 1 after it run as one process_chain */
    int pbase;      /* first pscratch row of this step's parameters */
} mg_step;

/*
** A compiled plan: a flat list of steps over a fixed set of buffers. Built on the control
** thread (allocates); run block by block without allocating. It references node state but does
** not own it, so a new plan can replace an old one while node memory (filter states, reverb
** tails) carries over.
*/
typedef struct mg_plan {
    int block;
    double rate;
    int n_steps;
    mg_step *steps;
    int n_mixops;
    mg_mixop *mixops;
    mg_buf *ports;   /* every port buffer of every step */
    mg_pval *pvals;
    float *pscratch; /* per-sample parameter values: a row of `block` per parameter of a
                        step, or of a chain of steps */
    void **chain_state;            /* per step: its node state (process_chain's states) */
    const mg_block **chain_blk;    /* per step: its block (process_chain's blocks) */
    float *dtmp;     /* MG_MAX_CHANNELS x stride: delayed signals of compensated edges */
    size_t stride;   /* floats between consecutive channel buffers */
    float *mem;      /* pool + zero + discard buffers, one allocation */
    int n_pool;      /* pooled channel buffers */
    size_t bytes;
    const mg_buf *final; /* the output node's out port */
    mg_node **order;     /* nodes in compiled order */
    int n_order;
    const mg_buf **pmods; /* per pval: the modulating output port, or NULL */
    const mg_buf **stems; /* per graph stem: the tapped output port */
    int n_stems;
    uint64_t t_start;    /* [rt] graph sample where the plan started playing */
    struct mg_trash *trash; /* [control] freed with the plan (live edits, see graph.c) */
} mg_plan;

/* An output written to its own file by the renderer (--stems). */
typedef struct mg_stem {
    mg_node *node;
    int port;
    char *name;
    int automatic; /* added by the mixer for a bus; dropped when the patch names stems */
} mg_stem;

/* A tempo change: from `t` seconds on, `bpm` quarter notes per minute. */
typedef struct mg_tempo_seg {
    double t, bpm;
    double beat; /* beats elapsed at t */
} mg_tempo_seg;

/*
** Things an edit removed while a live engine plays: the audio thread may still be using them
** through the plan it runs, so they are freed with that plan when it is handed back.
*/
typedef struct mg_trash {
    enum { MG_TRASH_NODE, MG_TRASH_LINE, MG_TRASH_STATE } kind;
    void *p;
    const mg_node_desc *d; /* MG_TRASH_STATE: whose destroy to call */
    struct mg_trash *next;
} mg_trash;

struct mg_live;

struct mg_graph {
    double rate;   /* [control] */
    int block;     /* [control] */
    double tempo;  /* [control] quarter notes per minute, read by the plan every block */
    int channels;  /* [immutable] output channels */
    mg_node **nodes;
    int n_nodes, cap_nodes;
    mg_edge *edges;
    int n_edges, cap_edges;
    mg_node *output;
    int next_id;
    int dirty;       /* topology or settings changed since the last compile */
    mg_plan *plan;   /* current plan */
    uint64_t pos;    /* [rt] frames processed since the last reset */
    mg_stem *stems;  /* [control] */
    int n_stems;
    mg_tempo_seg *tempo_map; /* [control] changes after the initial tempo, in time order */
    int n_tempo;
    int started;     /* [rt] something was processed: parameter changes now ramp */
    struct mg_live *live; /* [control] the live engine playing this graph, or NULL */
    mg_trash *trash;      /* [control] removed while live, not yet attached to a plan */
    mg_buf ext_in;        /* [rt] live input for `input` nodes (0 channels offline) */
    double xfade;         /* [control] seconds over which edited connections crossfade */
    uint64_t stamp;       /* [control] live edits take effect at this sample (0: at once) */
    struct mg_at *at;     /* [control] scheduled edits (g:at), sorted by sample */
    int n_at, cap_at;
    int fading;           /* [control] edges or nodes wait for mg_graph_collect */
    char err[1024];
    mg_node *err_node; /* node the last error is about, or NULL */
};

/* graph.c */
mg_status mg_graph_errorf(mg_graph *g, mg_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

typedef struct mg_at {
    int64_t s; /* graph sample */
    mg_at_fn fn;
    void *ud;
    void (*free_ud)(void *ud);
} mg_at;

/* graph.c: while live, keep `p` until the plan playing now is retired; else free it now */
void mg_trash_put(mg_graph *g, int kind, void *p, const mg_node_desc *d);
void mg_trash_free(mg_trash *t);
/* A second state for node `n` (create run on it), for re-preparing a node while it plays. */
mg_status mg_node_state_new(mg_node *n, void **out);

/* live.c */
/* Non-zero when the audio thread plays plan p; *start is where it began, *now the position. */
int mg_live_playing(struct mg_live *lv, const mg_plan *p, uint64_t *start, uint64_t *now);
mg_status mg_live_install(struct mg_live *lv, mg_plan *p);
mg_status mg_live_tempo(struct mg_live *lv, double bpm);
struct mg_tl_event;
/* [control] Queue a prepared timeline event (mg_node_param_event while live). */
mg_status mg_live_event(struct mg_live *lv, mg_node *node, int param,
                        const struct mg_tl_event *e);

/* param.c */
mg_status mg_param_init(mg_param *p, const mg_param_desc *d, const char *name);
void mg_param_free(mg_param *p);
/* [rt] Immediate change: before the render starts (smooth 0) it is the initial value; later
   hold(now) and a linear ramp over desc->smooth_ms, inserted without allocating (MG_ERR_NOMEM
   and the overflow count when the timeline is full). */
mg_status mg_param_set(mg_param *p, float v, uint64_t now, int smooth, double rate);
/* [control] Make room for `more` events (grows the array; never while an audio thread owns
   the timeline). */
mg_status mg_param_reserve(mg_param *p, int more);
void mg_param_settle(mg_param *p);
/* [rt] Fill pv for frames [pos, pos+n); scratch holds n floats; mod (or NULL) is the
   modulating signal, added times depth and clamped to the range. */
void mg_param_render(mg_param *p, uint64_t pos, uint32_t n, float *scratch, mg_pval *pv,
                     const float *mod, float depth);
/* "[min, max] unit" into buf */
void mg_param_range_str(const mg_param_desc *d, char *buf, size_t sz);

/* plan.c */
void mg_edge_delay_free(mg_edge_delay *d);
mg_status mg_plan_build(mg_graph *g, mg_plan **out);
void mg_plan_free(mg_plan *p);
/* [rt] */
void mg_plan_run(mg_plan *p, uint64_t pos, uint32_t n, double tempo);


#endif
