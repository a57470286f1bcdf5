/*
** mixgraph.h: the engine's public surface: graphs of DSP nodes, parameters, compilation into
** a flat per-block plan, block processing and offline rendering to a file.
**
** Threads: everything here is [control] (may allocate, may do I/O) unless tagged [rt].
** A graph is used by one control thread at a time. mg_graph_process runs the compiled plan;
** offline, the control thread calls it from the render loop; in real time the audio driver
** runs the same plan.
**
** Errors: functions return an mg_status; mg_graph_error() holds a message naming the object
** ("node 'comp': ratio 0.5 out of range [1, 20]").
*/
#ifndef MIXGRAPH_H
#define MIXGRAPH_H

#include <stddef.h>
#include <stdint.h>

#define MG_VERSION "0.1.0"

typedef enum mg_status {
    MG_OK = 0,
    MG_ERR_NOMEM,       /* out of memory */
    MG_ERR_INVALID,     /* invalid argument or state */
    MG_ERR_RANGE,       /* value out of range */
    MG_ERR_TYPE,        /* wrong type of value */
    MG_ERR_NOT_FOUND,   /* no such node type, node, port, parameter or option */
    MG_ERR_CYCLE,       /* connection would close a cycle without a delay */
    MG_ERR_IO,          /* file could not be read or written */
    MG_ERR_FORMAT,      /* unsupported or unknown file format */
    MG_ERR_INTERRUPTED, /* render interrupted */
    MG_ERR_UNBOUNDED,   /* render length unknown: a source never ends */
    MG_ERR_SCRIPT       /* an automation function failed ("patch.lua:LINE: message") */
} mg_status;

const char *mg_strerror(mg_status st);

typedef struct mg_graph mg_graph;
typedef struct mg_node mg_node;
typedef struct mg_node_desc mg_node_desc;

typedef struct mg_graph_config {
    double rate;   /* Hz, 22050..192000 (default 48000) */
    int block;     /* frames per block, 1..8192 (default MG_BLOCK_DEFAULT) */
    int channels;  /* channels of the output node, 1..8 (default 2) */
} mg_graph_config;

#define MG_RATE_MIN 22050.0
#define MG_RATE_MAX 192000.0
#define MG_BLOCK_MAX 8192
/* Default frames per block: offline renders take large blocks (fewer per-block costs, about
   8 % faster than 256 on the benchmark mix); live playback takes short ones (its latency).
   The output does not depend on the block size. */
#define MG_BLOCK_DEFAULT 1024
#define MG_BLOCK_LIVE 256

mg_graph_config mg_graph_config_default(void);
/* NULL on bad config or no memory; *err (if given) receives the reason. */
mg_graph *mg_graph_new(const mg_graph_config *cfg, mg_status *err);
void mg_graph_free(mg_graph *g); /* accepts NULL */
const char *mg_graph_error(const mg_graph *g);
/* The node the last error is about (to prefix its origin, "patch.lua:12: "), or NULL. */
mg_node *mg_graph_error_node(const mg_graph *g);
double mg_graph_rate(const mg_graph *g);
int mg_graph_block(const mg_graph *g);
mg_status mg_graph_set_rate(mg_graph *g, double rate);
mg_status mg_graph_set_block(mg_graph *g, int block);
mg_node *mg_graph_output(mg_graph *g);
/* Tempo in quarter notes per minute (20..400, default 120) for note-valued times (a delay's
   `note`). Nodes read it every block. */
double mg_graph_tempo(const mg_graph *g);
mg_status mg_graph_set_tempo(mg_graph *g, double bpm);
/* Tempo map: from t seconds on, bpm (t <= 0 sets the initial tempo and clears the map;
   changes must come in time order). Nodes read the tempo at the start of each block. */
mg_status mg_graph_tempo_change(mg_graph *g, double t, double bpm);
double mg_graph_tempo_at(const mg_graph *g, double t);
double mg_graph_beat_at(const mg_graph *g, double t);       /* beats elapsed at t seconds */
double mg_graph_beat_time(const mg_graph *g, double beat);  /* seconds at which beat falls */
/* Frames from the current position to the next tempo change (INT64_MAX: none). Nodes see the
   tempo once per block, so drivers end a block there (mg_render does) to keep renders
   identical for every block size. */
int64_t mg_graph_frames_to_change(const mg_graph *g);
double mg_graph_tempo_at_frame(const mg_graph *g, uint64_t pos);
int mg_graph_node_count(const mg_graph *g);
mg_node *mg_graph_node(mg_graph *g, int i); /* in creation order */
mg_node *mg_graph_find(mg_graph *g, const char *name);

/* ---- nodes ---- */

/* Options are name/value pairs; values are strings or numbers. */
typedef struct mg_opt {
    const char *name;
    const char *str; /* used when non-NULL */
    double num;
} mg_opt;

/*
** Create a node of type `type`. `name` may be NULL (an unused "<type><n>" is chosen).
** Options not given take their defaults.
*/
mg_node *mg_node_new(mg_graph *g, const char *type, const char *name, const mg_opt *opts,
                     int n_opts);
/* Remove a node and its connections. The output node cannot be removed. */
mg_status mg_node_remove(mg_node *node);
const char *mg_node_name(const mg_node *node);
const mg_node_desc *mg_node_desc_of(const mg_node *node);
mg_graph *mg_node_graph(const mg_node *node);
/* Where the node was made ("patch.lua:12"), used to prefix compile-time errors. */
void mg_node_set_origin(mg_node *node, const char *origin);
const char *mg_node_origin(const mg_node *node);

int mg_node_param_count(const mg_node *node);
const char *mg_node_param_name(const mg_node *node, int i);
int mg_node_param_index(const mg_node *node, const char *name); /* -1 if none */
/* Set a parameter now; range-checked; smoothed once rendering has started. */
mg_status mg_node_set(mg_node *node, const char *param, double value);
mg_status mg_node_set_index(mg_node *node, int i, double value);
double mg_node_get_index(const mg_node *node, int i); /* current target value */
/* The descriptor entry behind parameter i (a MULTI entry serves gain1..gainN). */
const struct mg_param_desc *mg_node_param_desc(const mg_node *node, int i);
/* ---- parameter automation (engine/param.c, docs/lua.md) ----
**
** Web Audio's AudioParam semantics: each event has a time in seconds that lands on sample
** round(t * rate) whatever the block size; ramps end at their time and start from the
** previous event (its time and value). Values outside the parameter's range are rejected.
*/
typedef enum mg_event_type {
    MG_EV_SET,    /* jump to v at t */
    MG_EV_LINEAR, /* ramp to v, ending at t; k = curvature (0 straight, > 0 slow start,
                     < 0 fast start: shape (1 - e^(k f)) / (1 - e^k) of the fraction f) */
    MG_EV_EXP,    /* exponential ramp to v (v and the start value non-zero, same sign) */
    MG_EV_SCURVE, /* raised-cosine S-curve to v: (1 - cos(pi f)) / 2 */
    MG_EV_STEP,   /* staircase of k equal steps ending on v at t */
    MG_EV_TARGET, /* from t approach v exponentially with time constant `tau` seconds */
    MG_EV_CURVE,  /* from t, `n_values` values spread over `dur` seconds, linearly
                     interpolated; the last one holds */
    MG_EV_CANCEL, /* remove every event at or after t */
    MG_EV_HOLD    /* cancel after t and hold the value the timeline has at t */
} mg_event_type;

typedef struct mg_param_event {
    mg_event_type type;
    double t;              /* seconds from the start of the render */
    double v;
    double k;              /* LINEAR: curvature; STEP: number of steps (0 = 1) */
    double tau;            /* TARGET: time constant, seconds (0 = a jump) */
    double dur;            /* CURVE: seconds */
    const double *values;  /* CURVE: copied */
    int n_values;
} mg_param_event;

/*
** [control] Validate an event and insert it into parameter i's timeline (growing it when it
** is full and not owned by an audio thread). Errors name the node and parameter:
** "node 'f': freq: exp_to 0 ...". See mg_timeline.h for the real-time path.
*/
mg_status mg_node_param_event(mg_node *node, int i, const mg_param_event *e);
/* [control] Value parameter i's timeline gives at `t` seconds (>= the render position). */
double mg_node_param_value_at(const mg_node *node, int i, double t);
/* [control] Events refused by a full timeline (real time) on parameter i. */
uint64_t mg_node_param_overflow(const mg_node *node, int i);

/*
** Audio-rate modulation: channel 1 of src's output `port` times `depth` is added to parameter
** i (in its unit) every sample; the sum with the automation is clamped to the range. depth 0
** (or src NULL) removes it. Refused when it would close a cycle.
*/
mg_status mg_node_param_modulate(mg_node *node, int i, mg_node *src, int port, double depth);

/*
** Generated automation ([control]): fn(ud, t, &value, err, errsz) gives the parameter's value
** at t seconds; it is called at `rate` Hz from `start` seconds and linearly interpolated
** between calls (as linear ramps in the timeline). mg_graph_advance(g, S) calls every
** generator until its events cover sample S, so offline renders call it before each block
** and a real-time driver calls it on the control thread ahead of the audio. A non-zero return
** from fn stops the render with MG_ERR_SCRIPT and err as the message.
*/
typedef int (*mg_param_fn)(void *ud, double t, double *value, char *err, size_t errsz);
mg_status mg_node_param_generate(mg_node *node, int i, double rate, double start,
                                 mg_param_fn fn, void *ud, void (*free_ud)(void *ud));
/* No calls after `stop` seconds (the last value holds); fn NULL above removes a generator. */
mg_status mg_node_param_generate_stop(mg_node *node, int i, double stop);
mg_status mg_graph_advance(mg_graph *g, int64_t until);

/* Value of option `name` as given at creation (numbers) */
int mg_node_option_index(const mg_node *node, const char *name); /* -1 if none */

/* [any] A meter's current value (compressor "gain_reduction" in dB...), NaN when the node has
   no meter of that name. */
double mg_node_meter(const mg_node *node, const char *name);

/* Magnitude response in dB at freq Hz from the current parameter values, for nodes whose
   descriptor has one (filters, EQ); NaN otherwise. */
double mg_node_response(const mg_node *node, double freq);

int mg_node_input_count(const mg_node *node);
int mg_node_output_count(const mg_node *node);
const char *mg_node_input_name(const mg_node *node, int port);
const char *mg_node_output_name(const mg_node *node, int port);
int mg_node_input_index(const mg_node *node, const char *name); /* -1 if none */
int mg_node_output_index(const mg_node *node, const char *name);
/* Channel counts resolved by the last compile. */
int mg_node_input_channels(const mg_node *node, int port);
int mg_node_output_channels(const mg_node *node, int port);
/* Accumulated latency (frames) at the node's output after the last compile. */
int64_t mg_node_path_latency(const mg_node *node);
/* Number of connections into input `port`. */
int mg_node_input_connections(const mg_node *node, int port);

/* ---- connections ---- */

/* Connect src's output port to dst's input port. Several connections into one input are
   summed; fan-out is free. Rejects cycles that do not pass through a delay node. */
mg_status mg_connect(mg_node *src, int out_port, mg_node *dst, int in_port);
mg_status mg_disconnect(mg_node *src, int out_port, mg_node *dst, int in_port);

typedef struct mg_edge_info {
    mg_node *src, *dst;
    int out_port, in_port;
} mg_edge_info;
int mg_graph_edge_count(const mg_graph *g);
mg_edge_info mg_graph_edge(const mg_graph *g, int i);

/*
** Edits while audio runs. Once processing has started (offline mid-render, or live), a new
** connection fades in, a removed one fades out and a removed node keeps running silently
** until its connections have faded, over the graph's crossfade time (default 5 ms, 0 to cut).
** mg_graph_collect then drops what has faded (the renderer and the live engine call it);
** it returns how many connections and nodes went (recompile after a non-zero answer).
*/
double mg_graph_xfade(const mg_graph *g);
mg_status mg_graph_set_xfade(mg_graph *g, double seconds); /* 0..1 s */
int mg_graph_collect(mg_graph *g);
/* Live: parameter changes and the plans compiled from now on take effect at graph sample
   `sample` (0: as soon as possible), so an edit prepared ahead lands on its exact sample.
   Offline edits apply where the renderer stands; the stamp is not used. */
void mg_graph_stamp(mg_graph *g, uint64_t sample);

/*
** Scheduled graph edits (Lua's g:at). fn runs on the control thread when processing reaches
** graph sample round(t * rate) and may add, remove and connect nodes and set parameters; its
** edits take effect on that sample (offline the block ends there; live they are prepared
** ahead and stamped, see mg_graph_stamp), connections crossfading over g.xfade. Each runs
** once. fn returns non-zero with a message in err to stop the run (MG_ERR_SCRIPT).
*/
typedef int (*mg_at_fn)(void *ud, mg_graph *g, char *err, size_t errsz);
mg_status mg_graph_at(mg_graph *g, double t, mg_at_fn fn, void *ud, void (*free_ud)(void *ud));
/* Frames from the current position to the next scheduled edit (INT64_MAX: none). */
int64_t mg_graph_frames_to_at(const mg_graph *g);
/* Run the scheduled edits due before graph sample `until`, in time order. Live, each one's
   edits are stamped with its sample and compiled into a plan that starts there. */
mg_status mg_graph_run_at(mg_graph *g, uint64_t until);

/*
** [control] One block of an offline run, as the renderer does it: run the scheduled edits due
** now, end the block early at the next tempo change or scheduled edit, refill file streams,
** advance automation functions, process, and drop edits that have faded out. *n: the most
** frames wanted in, the frames processed out (at least 1). *out: the output channels.
*/
mg_status mg_graph_step(mg_graph *g, int *n, const float *const **out);
/*
** Give `dst` the nodes, connections, parameter values and tempo of `src`, matching nodes by
** name: a node with the same name, type and options keeps its state; others are replaced.
** Used by live reloads (`mixgraph play --watch`). *changed receives the number of edits (nodes, connections,
** parameter values).
*/
mg_status mg_graph_update(mg_graph *dst, mg_graph *src, int *changed);

/* ---- compile and process ---- */

/* Compile the graph into a plan (topological order, buffers, latency). Called implicitly by
   mg_graph_process and the renderer when the graph changed. */
mg_status mg_graph_compile(mg_graph *g);
/* Nodes in compiled order (a split feedback node appears once, at its write step). */
int mg_graph_order_count(const mg_graph *g);
mg_node *mg_graph_order(const mg_graph *g, int i);

typedef struct mg_plan_stats {
    int steps;        /* process calls per block */
    int buffers;      /* pooled channel buffers (each one block long) */
    size_t bytes;     /* memory of the buffer pool */
    int chains;       /* runs of steps processed as one pass (a track's filter and EQ) */
} mg_plan_stats;
mg_plan_stats mg_graph_plan_stats(const mg_graph *g);

/* Frames the render lasts by default: the end of the last finite source plus tails, or
   MG_FOREVER_FRAMES when some source feeding the output never ends. Measured at the sources'
   time: the output's latency is not included (the renderer removes it). */
#define MG_FOREVER_FRAMES INT64_MAX
int64_t mg_graph_length(mg_graph *g);
/* Latency of the whole graph at the output node, in frames (lookahead and the like). The
   offline renderer runs this many frames ahead and drops them, so a file rendered from a
   patch lines up with its sources, as a DAW's export does. */
int64_t mg_graph_latency(mg_graph *g);
/* The source that never ends, for error messages (after mg_graph_length said forever). */
mg_node *mg_graph_endless_source(mg_graph *g);

/*
** [rt once compiled] Process `n` frames (1..block). Returns the output node's channels
** (n frames each, valid until the next call). Compiles first when the graph changed (which
** is control-side work). Non-finite output samples are replaced by 0 and counted.
*/
const float *const *mg_graph_process(mg_graph *g, int n);
uint64_t mg_graph_position(const mg_graph *g);  /* frames processed so far */
uint64_t mg_graph_nonfinite(const mg_graph *g); /* non-finite samples caught at the output */
/* Reset every node's DSP state and the position to 0. */
void mg_graph_reset(mg_graph *g);
/* [stream] Let file sources refill their prefetch rings (offline: before every block). */
void mg_graph_service(mg_graph *g);

/* [rt] Flush denormals to zero on the calling thread (FTZ/DAZ). Call once per processing
   thread; mg_graph_process does it on every call. */
void mg_fpu_denormals_off(void);

/* Vector instruction sets the DSP kernels may use, as levels (always MG_SIMD_BASE off x86). */
typedef enum mg_simd {
    MG_SIMD_BASE = 0, /* the build's baseline (SSE2 on x86-64) */
    MG_SIMD_AVX,
    MG_SIMD_AVX2,     /* AVX2 with FMA */
    MG_SIMD_AVX512    /* AVX-512 F and DQ */
} mg_simd;
/*
** [any] The highest level the CPU has, capped by the environment variable MIXGRAPH_SIMD
** (base, avx, avx2 or avx512; read once), so that every kernel family can be run and tested
** on one machine. Nodes choose their kernels from it when they are created or prepared.
*/
mg_simd mg_simd_level(void);

/* ---- offline rendering ---- */

typedef enum mg_sample_format {
    MG_BITS_DEFAULT = 0, /* 24 for PCM containers, float where the codec chooses */
    MG_BITS_16 = 16,
    MG_BITS_24 = 24,
    MG_BITS_32F = 32
} mg_sample_format;

/* Dither at the conversion to 16- or 24-bit integers (engine/mg_dither.h); float output is
   never dithered. */
typedef enum mg_dither_mode {
    MG_DITHER_DEFAULT = 0, /* TPDF for 16-bit output, none for 24-bit */
    MG_DITHER_NONE,
    MG_DITHER_TPDF,        /* triangular, 2 LSB peak to peak: white error, LSB^2/4 */
    MG_DITHER_SHAPED       /* TPDF with noise shaping toward high frequencies */
} mg_dither_mode;

typedef struct mg_render_progress {
    uint64_t done, total; /* frames */
    double elapsed;       /* seconds of wall-clock time */
} mg_render_progress;

typedef struct mg_render_opts {
    const char *path;          /* output file; format from its extension */
    mg_sample_format bits;
    mg_dither_mode dither;     /* integer formats only */
    uint64_t dither_seed;      /* the dither's random sequence (same seed, same file) */
    int64_t frames;            /* 0: mg_graph_length() */
    /* called about ten times a second; return non-zero to cancel */
    int (*progress)(const mg_render_progress *p, void *ud);
    void *ud;
    volatile int *interrupt;   /* set non-zero (e.g. from SIGINT) to stop and discard */
    const char *stems_dir;     /* non-NULL: also write every graph stem to DIR/NAME.EXT (the
                                  extension of path); all files appear only on success */
    int scratch;               /* a working file that a later step reads: not synced to disk */
    /* non-NULL: called with every block of the main output as it goes to the file (before
       integer quantization: for 32-bit float files, the file's own values) */
    void (*tap)(const float *const *y, uint32_t frames, void *tap_ud);
    void *tap_ud;
} mg_render_opts;

typedef struct mg_render_result {
    uint64_t frames;
    uint64_t clipped;   /* samples beyond full scale (integer formats) */
    uint64_t nonfinite; /* NaN/Inf samples replaced by silence */
    double seconds;     /* wall-clock time */
} mg_render_result;

/*
** Render the graph to opts->path. Audio goes to a temporary file in the same directory that
** is renamed over the target only on success; on any failure or interruption the temporary
** is removed and an existing target is left untouched.
*/
mg_status mg_render(mg_graph *g, const mg_render_opts *opts, mg_render_result *res);

/*
** Stems: outputs written to their own files by mg_render (opts.stems), sample-aligned with the
** main output. A stem added with automatic = 1 (the mixer's buses) is dropped as soon as the
** patch names one itself.
*/
mg_status mg_graph_add_stem(mg_graph *g, mg_node *node, int port, const char *name,
                            int automatic);
int mg_graph_stem_count(const mg_graph *g);
const char *mg_graph_stem_name(const mg_graph *g, int i);

/* Format for a file name's extension; MG_ERR_FORMAT with a message listing what is known. */
mg_status mg_format_for_path(const char *path, mg_sample_format bits, int *sf_format,
                             char *msg, size_t msgsz);

#endif
