/*
** mg_master.h: loudness normalisation of a graph's output to a target, in a closed loop, and
** the streaming platforms' targets. Used by `mixgraph master` and by g:render{target_lufs=}.
** [control] throughout: renders the graph several times and writes a file.
**
** The loop: render in memory and measure (BS.1770: integrated, true peak); set the loudness
** gain node to target minus measured; let the limiter (when the chain has one) take only the
** peaks that the gain pushes over the ceiling; render and measure again; correct (secant
** steps, since limiting makes loudness grow slower than the gain) until the integrated
** loudness is within half the tolerance of the target (the whole tolerance once the passes
** run out) and the true peak at or under the ceiling.
** Then the file is rendered, measured once more from the file itself, and moved into place.
** It stops, writing nothing, and says why when the target cannot be reached: silent or too
** short input, more gain than allowed, more limiting than allowed, a peak over the ceiling
** with no limiter to catch it, or no convergence.
*/
#ifndef MG_MASTER_H
#define MG_MASTER_H

#include "mg_analyze.h"
#include "mixgraph.h"

/* A platform's published loudness target and true-peak ceiling (docs/targets.md). */
typedef struct mg_target {
    const char *name;
    double lufs, ceiling_dbtp;
    const char *source;
} mg_target;

/* NULL-terminated table: spotify, apple, youtube, amazon, tidal, deezer, ebu. */
extern const mg_target mg_targets[];
const mg_target *mg_target_find(const char *name);

typedef struct mg_master_opts {
    double target_lufs;   /* required */
    double ceiling_dbtp;  /* true-peak ceiling (default -1 when 0 is not meant: see below) */
    double tolerance_lu;  /* 0: 0.1 */
    double max_gain_db;   /* largest gain the loop may set; 0: 24 (the gain node's maximum) */
    double max_gr_db;     /* most limiting allowed (peak gain reduction); 0: 12 */
    int max_passes;       /* measuring renders before giving up; 0: 8 */
    int peak_respecting;  /* without a limiter: cap the gain so the true peak stays at the
                             ceiling and accept missing the target (Spotify's rule) */
    mg_node *gain;        /* the gain node the loop drives; NULL: "loudness" if the graph has
                             one, else a gain node inserted in front of the output */
    mg_node *limiter;     /* NULL: a node named "limiter" or of type limiter, if any; its
                             `ceiling` follows ceiling_dbtp, its `gr` meter is watched */
    int no_limiter;       /* ignore any limiter (gain only) */
    double tp_margin_db;  /* peaks aim this far under the ceiling (0: 0.05 dB; < 0: none), so
                             independent meters agree; the limiter's ceiling is set there */
} mg_master_opts;

/* One measuring pass: the gain tried (relative to the patch's) and what it gave. */
typedef struct mg_master_pass {
    double gain_db, integrated, true_peak, max_gr_db;
} mg_master_pass;
#define MG_MASTER_LOG 16

typedef struct mg_master_report {
    mg_file_analysis before; /* the output at the gain the patch set (first pass) */
    mg_file_analysis after;  /* the written file */
    double gain_db;          /* gain set on the loudness node (relative to the patch's) */
    double max_gr_db;        /* largest limiter gain reduction of the final render (dB, >= 0) */
    int passes;              /* renders used, the final file included */
    int renders;             /* of those, renders of the whole output: inputs of 51.2 s or
                                more are searched on a proxy (1.6 s of every 12.8 s) and the
                                file render checks it (corrected, up to 3 times) */
    int on_target;           /* I within tolerance and TP at or under the ceiling */
    char note[512];          /* why it stopped, or what to know (peak-respecting shortfall) */
    mg_master_pass log[MG_MASTER_LOG]; /* the measuring passes in order */
    int n_log;
} mg_master_report;

/*
** Normalise and render to ro->path (ro->frames, bits, progress and interrupt apply to the
** final render). MG_OK when the file was written; otherwise nothing is written, rep->note
** and mg_graph_error say why. With peak_respecting the file is written even though the
** target is missed; rep->on_target and rep->note tell.
*/
mg_status mg_master_render(mg_graph *g, const mg_master_opts *mo, const mg_render_opts *ro,
                           mg_master_report *rep);

/* Render `frames` (<= 0: the graph's length) in memory from the start, as mg_render would
   write them, and measure them (no series). The graph is reset before and after. */
mg_status mg_graph_analyze(mg_graph *g, int64_t frames, mg_file_analysis *a);

#endif
