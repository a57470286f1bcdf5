/*
** mg_node.h: the node descriptor, the contract between a node type and the engine.
**
** A node type is one `mg_node_desc` table (see nodes/gain.c for the smallest example). The
** engine, the Lua bindings, `mixgraph nodes` and the generated docs all read that table;
** nothing about a node is written down twice.
**
** Threads: descriptors are immutable. `create`, `prepare` and `destroy` run on the control
** thread and may allocate or do I/O. `reset`, `process`, `process_read` and `process_write`
** run on the processing (audio) thread: no allocation, locks, I/O or Lua. `service` runs on
** the thread that feeds streams (the control thread offline, a disk thread in real time) and
** may do I/O but must not touch what `process` owns except through a lock-free ring.
*/
#ifndef MG_NODE_H
#define MG_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "mixgraph.h"

#define MG_MAX_CHANNELS 8
#define MG_FOREVER INT64_MAX /* length of a source that never ends, or an endless tail */

/* Channel rules for ports (mg_port_desc.channels). */
enum {
    MG_CH_MAX = 0,     /* input: max of what is connected (1 when nothing is) */
                       /* inputs may also use MG_CH_OPTION (the "channels" option) */
    MG_CH_FOLLOW = -1, /* output: channel count of input port 0 */
    MG_CH_OPTION = -2, /* output: value of the node's "channels" option */
    MG_CH_CUSTOM = -3, /* output: asked from desc->out_channels() */
    MG_CH_WIDEST = -4  /* input: as wide as the widest connection into any of the node's
                          MG_CH_WIDEST inputs; narrower ones are up-mixed by the engine */
};

/* Port flags. */
#define MG_PORT_MULTI 0x1u /* repeated N times, N = the option named by desc->multi_option */

typedef struct mg_port_desc {
    const char *name; /* "in", "out", "sidechain"; a MULTI port "in" becomes in1..inN */
    int channels;     /* > 0 fixed count (inputs are up/down-mixed to it) or an MG_CH_ rule */
    int max_channels; /* inputs with MG_CH_MAX: clamp to this (0 = MG_MAX_CHANNELS) */
    unsigned flags;
    const char *doc;
} mg_port_desc;

/* Parameter flags. */
#define MG_PARAM_MULTI 0x1u /* one per MULTI input port: "gain" becomes gain1..gainN */
#define MG_PARAM_INT 0x2u   /* integral values only */

/*
** A parameter: automatable, smoothed, range-checked. Values are in `unit` ("Hz", "dB", "ms",
** "s", "" for plain numbers). An immediate change ramps linearly (in the parameter's own unit)
** over smooth_ms; values set before the first rendered sample apply at once.
*/
typedef struct mg_param_desc {
    const char *name;
    const char *unit;
    double min, max, def;
    double smooth_ms;
    unsigned flags;
    const char *doc;
    /* A choice parameter ("lowpass|highpass|peak"): values are the indices 0..n-1 (set min 0,
       max n-1, smooth_ms 0); Lua reads and writes the names. NULL for numeric parameters. */
    const char *choices;
} mg_param_desc;

/* Options are fixed at creation (file path, channel count, waveform...). */
typedef enum mg_opt_type {
    MG_OPT_NUMBER,
    MG_OPT_INT,
    MG_OPT_BOOL,
    MG_OPT_STRING,
    MG_OPT_ENUM /* one of `choices` ("sine|saw|square"); value is the index */
} mg_opt_type;

typedef struct mg_option_desc {
    const char *name;
    mg_opt_type type;
    const char *unit;
    double min, max, def;  /* numeric types; ENUM: def is the default index */
    const char *def_str;   /* STRING default (NULL = required) */
    const char *choices;   /* ENUM: '|'-separated names */
    const char *doc;
} mg_option_desc;

typedef struct mg_optval {
    double num;      /* NUMBER, INT, BOOL (0/1), ENUM (index) */
    const char *str; /* STRING (owned by the node; NULL when unset) */
} mg_optval;

/* A block of channels on one port. `ch[c]` holds `n` frames (see mg_block). */
typedef struct mg_buf {
    int channels;
    int connected; /* inputs: something feeds this port; unconnected inputs read zeros */
    float *ch[MG_MAX_CHANNELS];
} mg_buf;

/*
** Per-block parameter values. When `constant` is set only v[0] is meaningful; otherwise
** v[0..n-1] holds one value per frame (a ramp in progress).
*/
typedef struct mg_pval {
    const float *v;
    int constant;
} mg_pval;

/* What a process function sees. Buffers do not move between blocks of one plan. */
typedef struct mg_block {
    uint32_t n;       /* frames in this block, 1..block size */
    uint64_t pos;     /* graph sample index of frame 0 */
    double rate;      /* sample rate in Hz */
    double tempo;     /* graph tempo, quarter notes per minute (g.tempo), for note values */
    const mg_buf *in; /* in[port]: read only (may alias out[port] for MG_NODE_INPLACE nodes) */
    mg_buf *out;      /* out[port] */
    const mg_pval *p; /* p[i]: parameters in descriptor order, a MULTI one expanded in
                         place (gain1..gainN) */
} mg_block;

/* What prepare sees and fills. */
typedef struct mg_prepare {
    double rate;
    int block;       /* largest block the node will be asked to process */
    const int *in_ch;  /* resolved channel counts per input port */
    const int *out_ch; /* resolved channel counts per output port */
    /* filled by prepare (defaults: length MG_FOREVER for nodes without inputs, else 0;
       tail 0; latency 0) */
    int64_t length;  /* frames a source produces before it falls silent for good */
    int64_t tail;    /* frames of output after its inputs go silent, not counting the
                        latency (a reverb's decay; MG_FOREVER: never) */
    int64_t latency; /* frames of delay the node adds on its main path (lookahead); the
                        engine compensates it at sums and adds it to the render length */
} mg_prepare;

/* Longest run of steps given to one process_chain call. */
#define MG_CHAIN_MAX 8

/* Node flags. */
#define MG_NODE_INPLACE 0x1u  /* out[0].ch[c] may alias in[0].ch[c]: sample-wise processing */
#define MG_NODE_FEEDBACK 0x2u /* may close a cycle: has process_read/process_write (delay) */
#define MG_NODE_SINK 0x4u     /* the graph's output */

typedef struct mg_node_desc {
    const char *name;
    const char *doc;      /* one paragraph: what it does, laws and formulas, latency */
    const mg_port_desc *inputs;
    int n_inputs;
    const mg_port_desc *outputs;
    int n_outputs;
    const mg_param_desc *params;
    int n_params;
    const mg_option_desc *options;
    int n_options;
    const char *multi_option; /* option giving the count of MULTI ports/params (e.g. "inputs") */
    const char *main_param;   /* shown in `mixgraph graph` (NULL: first param) */
    size_t state_size;        /* zeroed by the engine before create */
    unsigned flags;

    /* [control] Read options (mg_node_opt*), open resources. Report failures with
       mg_node_errorf and return its status. May be NULL. */
    mg_status (*create)(void *state, mg_node *node);
    /* [control] Size buffers for rate/block/channels; called at compile whenever any of them
       changed since the last call (state persists otherwise). Must leave the node reset.
       May be NULL. */
    mg_status (*prepare)(void *state, mg_node *node, mg_prepare *pr);
    /* [rt] Clear DSP memory (filters, delay lines, phase); keeps configuration. May be NULL. */
    void (*reset)(void *state);
    /* [rt] Produce out from in and p. Cannot fail. */
    void (*process)(void *state, const mg_block *b);
    /* [rt] MG_NODE_FEEDBACK only, used when the node sits on a cycle: read produces this
       block's output from past input (no in), write consumes this block's input (no out). */
    void (*process_read)(void *state, const mg_block *b);
    void (*process_write)(void *state, const mg_block *b);
    /* [rt] Optional: run n (2..MG_CHAIN_MAX) nodes of this type as one pass, with exactly the
       output their `process` calls give one after the other. The plan calls it for runs of
       consecutive steps where b[i + 1] reads b[i]'s output and works in place on it (one
       input, same channels, no other reader in between, parameters not modulated by audio),
       with every block's parameters already rendered. NULL: never chained. */
    void (*process_chain)(void *const *states, const mg_block *const *b, int n);
    /* [stream] Refill prefetch rings (file sources). May be NULL. */
    void (*service)(void *state);
    /* [control] Frames of output after the input falls silent, from the current parameter
       values (mg_node_get_index); NULL: the tail prepare reported. */
    int64_t (*tail)(const void *state, const mg_node *node, double rate);
    /* [control] Frames a source produces, from the current parameter values (a varispeed
       rate); NULL: the length prepare reported. */
    int64_t (*length)(const void *state, const mg_node *node, double rate);
    /* [control] Magnitude response in dB at `freq` Hz from the current parameter values
       (eq:response(freqs) in Lua, plots, tests). NULL when the node has none. */
    double (*response)(const void *state, const mg_node *node, double freq, double rate);
    /* [any] Current value of meter `name` (see `meters`), NaN for unknown names. Reads what
       process published at the end of its last block; lock-free. NULL: no meters. */
    double (*meter)(const void *state, const char *name);
    const char *meters; /* '|'-separated meter names ("gain_reduction|key_level") */
    /* [control] MG_CH_CUSTOM outputs: channel count of output `port`. */
    int (*out_channels)(const void *state, int port, const int *in_ch);
    /* [control] Release everything create/prepare acquired. Must accept a state whose
       create failed part-way. May be NULL. */
    void (*destroy)(void *state);
} mg_node_desc;

/* ---- helpers for node implementations ([control] unless marked) ---- */

/* Option value by index into desc->options. */
double mg_node_opt_num(const mg_node *node, int opt);
const char *mg_node_opt_str(const mg_node *node, int opt);
/* Record "node 'NAME': <message>" as the graph's error; returns `st` for chaining. */
mg_status mg_node_errorf(mg_node *node, mg_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The state of `node`, for a node type's own control-side functions (the convolver's IR
   swap); check mg_node_desc_of(node) is your descriptor first. */
void *mg_node_state(mg_node *node);

/* Number of MULTI ports (value of multi_option), 0 for nodes without one. */
int mg_node_multi_count(const mg_node *node);

/* Index of `name` in a '|'-separated choice list, or -1; and the k-th name into buf. */
int mg_choice_index(const char *choices, const char *name);
const char *mg_choice_name(const char *choices, int k, char *buf, size_t sz);

/* [any] dB to linear amplitude; -144 dB or below (and NaN) is exactly 0, i.e. silence. */
float mg_db_to_amp(float db);

/*
** [any] The engine's up/down-mix matrix from `from` to `to` channels (docs/architecture.md):
** dst[c] = sum over s of m[c][s] * src[s].
*/
void mg_chanmix_matrix(int from, int to, float m[MG_MAX_CHANNELS][MG_MAX_CHANNELS]);

/* All node types known to this build, NULL-terminated (nodes/registry.c). */
extern const mg_node_desc *const mg_node_types[];
const mg_node_desc *mg_node_type_find(const char *name);
/* [control] Add a node type of the host program's own (before graphs use it). The descriptor
   must outlive every graph. MG_ERR_INVALID for a duplicate name or missing process. */
mg_status mg_node_type_register(const mg_node_desc *d);

#endif
