/*
** master.c: closed-loop loudness normalisation of a graph's output (mg_master.h). [control]
** Runs the compiled plan from the control thread, like the offline renderer: measuring passes
** render into a meter (no file), the last pass renders the file through mg_render.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "mg_internal.h"
#include "mg_master.h"
#include "mg_sndfile.h"

const mg_target mg_targets[] = {
    {"spotify", -14.0, -1.0, "Spotify for Artists, Loudness normalization (Normal level)"},
    {"apple", -16.0, -1.0, "Apple Music Sound Check; Apple Digital Masters"},
    {"youtube", -14.0, -1.0, "YouTube playback reference loudness"},
    {"amazon", -14.0, -2.0, "Amazon Music normalisation; -2 dBTP recommended"},
    {"tidal", -14.0, -1.0, "TIDAL loudness normalisation (since 2021)"},
    {"deezer", -15.0, -1.0, "Deezer loudness normalisation"},
    {"ebu", -23.0, -1.0, "EBU R 128 (2023): -23 LUFS, max true peak -1 dBTP"},
    {NULL, 0, 0, NULL},
};

const mg_target *mg_target_find(const char *name)
{
    for (const mg_target *t = mg_targets; t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

/* The gain node named "loudness", or a gain node put between the output and what feeds it. */
static mg_node *find_gain(mg_graph *g)
{
    mg_node *n = mg_graph_find(g, "loudness");
    if (n)
        return strcmp(mg_node_desc_of(n)->name, "gain") == 0 ? n : NULL;
    mg_node *out = mg_graph_output(g);
    n = mg_node_new(g, "gain", "loudness", NULL, 0);
    if (!n)
        return NULL;
    for (int i = mg_graph_edge_count(g) - 1; i >= 0; i--) {
        mg_edge_info e = mg_graph_edge(g, i);
        if (e.dst != out)
            continue;
        if (mg_disconnect(e.src, e.out_port, out, e.in_port) ||
            mg_connect(e.src, e.out_port, n, 0))
            return NULL;
    }
    return mg_connect(n, 0, out, 0) ? NULL : n;
}

static mg_node *find_limiter(mg_graph *g)
{
    mg_node *n = mg_graph_find(g, "limiter");
    if (n)
        return n;
    for (int i = 0; i < mg_graph_node_count(g); i++)
        if (strcmp(mg_node_desc_of(mg_graph_node(g, i))->name, "limiter") == 0)
            return mg_graph_node(g, i);
    return NULL;
}

/*
** One measuring pass: render `total` frames from the start into an analyzer (the graph's
** latency run through and dropped first, as mg_render does) and track the limiter's largest
** gain reduction.
*/
static mg_status measure_pass(mg_graph *g, int64_t total, mg_node *limiter,
                              const mg_render_opts *ro, mg_file_analysis *a, double *max_gr)
{
    mg_status st;
    if ((st = mg_graph_compile(g)))
        return st;
    int ch = g->output->in[0].channels;
    mg_analyzer *an = mg_analyzer_new(g->rate, ch, 0, &st);
    if (!an)
        return mg_graph_errorf(g, st, "cannot measure the output (%s)", mg_strerror(st));
    mg_graph_reset(g);
    *max_gr = 0;
    /* the same steps as mg_render (automation, tempo changes, scheduled edits) */
    const float *const *y;
    for (int64_t pre = mg_graph_latency(g); pre > 0;) {
        int n = pre < g->block ? (int)pre : g->block;
        if ((st = mg_graph_step(g, &n, &y))) {
            mg_analyzer_free(an);
            return st;
        }
        pre -= n;
    }
    for (int64_t done = 0; done < total;) {
        if (ro->interrupt && *ro->interrupt) {
            mg_analyzer_free(an);
            return mg_graph_errorf(g, MG_ERR_INTERRUPTED, "interrupted");
        }
        int n = total - done < g->block ? (int)(total - done) : g->block;
        if ((st = mg_graph_step(g, &n, &y))) {
            mg_analyzer_free(an);
            return st;
        }
        mg_analyzer_add(an, y, (size_t)n);
        if (limiter) {
            double gr = fabs(mg_node_meter(limiter, "gr"));
            if (gr > *max_gr)
                *max_gr = gr;
        }
        done += n;
    }
    st = mg_analyzer_finish(an, a);
    mg_analyzer_free(an);
    mg_graph_reset(g);
    return st;
}

mg_status mg_graph_analyze(mg_graph *g, int64_t frames, mg_file_analysis *a)
{
    memset(a, 0, sizeof *a);
    mg_status st = mg_graph_compile(g);
    if (st)
        return st;
    if (frames <= 0)
        frames = mg_graph_length(g);
    if (frames == MG_FOREVER || frames <= 0)
        return mg_graph_errorf(g, MG_ERR_UNBOUNDED,
                               "nothing to measure: give a duration (a source plays forever or "
                               "none reaches the output)");
    mg_render_opts ro = {0};
    double gr;
    return measure_pass(g, frames, NULL, &ro, a, &gr);
}

static mg_status stop(mg_graph *g, mg_master_report *rep, mg_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static mg_status stop(mg_graph *g, mg_master_report *rep, mg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->note, sizeof rep->note, fmt, ap);
    va_end(ap);
    return mg_graph_errorf(g, st, "%s", rep->note);
}

/* Record one measuring pass in the report's log. */
static void log_pass(mg_master_report *rep, double gain, const mg_file_analysis *m, double gr)
{
    if (rep->n_log >= MG_MASTER_LOG)
        return;
    rep->log[rep->n_log++] = (mg_master_pass){gain, m->integrated, m->true_peak, gr};
}

/* The file name ro->path is first written to: DIR/.BASE.master-PID.EXT (same extension, so
   the same format). */
static void temp_name(const char *path, char *buf, size_t sz)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    int dirlen = (int)(base - path);
    snprintf(buf, sz, "%.*s.%.*s.master-%ld%s", dirlen, path,
             dot ? (int)(dot - base) : (int)strlen(base), base, (long)getpid(), dot ? dot : "");
}

/*
** The fast path. Everything upstream of the loudness gain is the same in every pass, so when
** the nodes from the gain to the output form a plain chain (one connection in and out each)
** the signal entering the gain is rendered once, to a float file beside the output, and the
** passes and the final render run a small graph: that file -> copies of the gain and of the
** chain -> output. Copies take the originals' names, options and parameter values.
*/
typedef struct work {
    mg_graph *g2;          /* NULL: no fast path, passes run on the patch's graph */
    mg_node *gain, *lim;   /* in the graph the passes run on */
    char pre[4096];        /* the pre-rendered file ("" when none) */
    mg_file_analysis x;    /* of the pre-rendered signal (gain 0 dB) */
    int plain;             /* the chain after the gain is at most a limiter at 0 dB drive: below
                              its ceiling the output is the input times the gain */
    /* The proxy (long inputs only): PROXY_CHUNK s of every PROXY_STRIDE s of the
       pre-rendered signal, joined, through copies of the gain and chain. Searching passes
       measure it instead of the whole file; d (LU) is the loudness of the whole output minus
       the proxy's at the same gain, from the latest full render (at first from the
       unlimited signals). */
    mg_graph *gp;
    mg_node *pgain, *plim;
    char proxy[4096];
    int64_t ptotal;
    double d;
} work;

#define PROXY_CHUNK 1.6   /* s: four 400 ms blocks */
#define PROXY_STRIDE 12.8 /* s: the proxy is an eighth of the input */
#define MASTER_ROUNDS 3
#define PROXY_MIN 4       /* strides at least: shorter inputs are searched whole */

/* Nodes after `gain` up to the output when they form a plain chain; -1 otherwise. */
static int chain_after(mg_graph *g, mg_node *gain, mg_node **chain, int max)
{
    mg_node *out = mg_graph_output(g), *cur = gain;
    for (int n = 0;;) {
        mg_node *next = NULL;
        for (int i = 0; i < mg_graph_edge_count(g); i++) {
            mg_edge_info e = mg_graph_edge(g, i);
            if (e.src != cur)
                continue;
            if (next || e.out_port != 0 || e.in_port != 0)
                return -1;
            next = e.dst;
        }
        if (!next)
            return -1;
        if (next == out)
            return mg_node_input_connections(out, 0) == 1 ? n : -1;
        if (n == max || mg_node_input_count(next) != 1 || mg_node_input_connections(next, 0) != 1 ||
            mg_node_output_count(next) != 1)
            return -1;
        chain[n++] = next;
        cur = next;
    }
}

/* A copy of node n in g2: same type, name, options and parameter values. */
static mg_node *clone_node(mg_graph *g2, const mg_node *n)
{
    const mg_node_desc *d = mg_node_desc_of(n);
    mg_opt opts[32];
    char names[32][64];
    int k = 0;
    for (int i = 0; i < d->n_options && k < 32; i++) {
        const mg_option_desc *od = &d->options[i];
        opts[k] = (mg_opt){od->name, NULL, mg_node_opt_num(n, i)};
        if (od->type == MG_OPT_STRING && !(opts[k].str = mg_node_opt_str(n, i)))
            continue;
        if (od->type == MG_OPT_ENUM)
            opts[k].str = mg_choice_name(od->choices, (int)mg_node_opt_num(n, i), names[k],
                                         sizeof names[k]);
        k++;
    }
    mg_node *c = mg_node_new(g2, d->name, mg_node_name(n), opts, k);
    for (int i = 0; c && i < mg_node_param_count(n); i++)
        if (mg_node_set_index(c, i, mg_node_get_index(n, i)))
            return NULL;
    return c;
}

static void analyzer_tap(const float *const *y, uint32_t n, void *an)
{
    mg_analyzer_add(an, y, n);
}

/* Render the signal entering `gain` to w->pre and analyse it on the way (*x): the gain (set
   to 0 dB) is wired straight to the output for the time of the render, then everything is
   put back. */
static mg_status prerender(mg_graph *g, mg_node *gain, int gi, int64_t total, const char *path,
                           const mg_render_opts *ro, mg_file_analysis *x)
{
    mg_node *out = mg_graph_output(g);
    mg_edge_info saved[64];
    int n = 0;
    for (int i = mg_graph_edge_count(g) - 1; i >= 0 && n < 64; i--) {
        mg_edge_info e = mg_graph_edge(g, i);
        if (e.src == gain || e.dst == out)
            saved[n++] = e;
    }
    double g0 = mg_node_get_index(gain, gi);
    mg_status st = MG_OK;
    for (int i = 0; i < n && !st; i++)
        st = mg_disconnect(saved[i].src, saved[i].out_port, saved[i].dst, saved[i].in_port);
    if (!st)
        st = mg_connect(gain, 0, out, 0);
    if (!st)
        st = mg_node_set_index(gain, gi, 0);
    mg_analyzer *an = NULL;
    if (!st && !(an = mg_analyzer_new(g->rate, mg_node_output_channels(gain, 0), 0, &st)))
        st = st ? st : MG_ERR_NOMEM;
    if (!st) {
        /* a float file: the analyser sees the file's own values */
        mg_render_opts po = {.path = path, .bits = MG_BITS_32F, .frames = total,
                             .interrupt = ro->interrupt, .scratch = 1, .tap = analyzer_tap,
                             .tap_ud = an};
        st = mg_render(g, &po, NULL);
    }
    if (!st)
        st = mg_analyzer_finish(an, x);
    mg_analyzer_free(an);
    mg_disconnect(gain, 0, out, 0);
    for (int i = n - 1; i >= 0; i--)
        mg_connect(saved[i].src, saved[i].out_port, saved[i].dst, saved[i].in_port);
    mg_node_set_index(gain, gi, g0);
    return st;
}

/* A graph of the file at `path` -> copies of the gain and of the chain -> output; NULL on
   failure. *plain: the chain is the limiter alone at 0 dB drive. */
static mg_graph *chain_graph(const mg_graph_config *cfg, const char *path, mg_node *gain,
                             mg_node **chain, int n, mg_node *lim, mg_node **gain2,
                             mg_node **lim2, int *plain)
{
    mg_graph *g2 = mg_graph_new(cfg, NULL);
    mg_opt fo[] = {{"path", path, 0}};
    mg_node *prev = g2 ? mg_node_new(g2, "file", "pre", fo, 1) : NULL;
    mg_node *g2gain = prev ? clone_node(g2, gain) : NULL;
    int ok = g2gain && !mg_connect(prev, 0, g2gain, 0);
    prev = g2gain;
    *plain = 1;
    *lim2 = NULL;
    for (int i = 0; ok && i < n; i++) {
        mg_node *c = clone_node(g2, chain[i]);
        ok = c && !mg_connect(prev, 0, c, 0);
        if (chain[i] == lim)
            *lim2 = c;
        int drive = c ? mg_node_param_index(c, "gain") : -1;
        *plain &= chain[i] == lim && (drive < 0 || mg_node_get_index(c, drive) == 0);
        prev = c;
    }
    if (!ok || mg_connect(prev, 0, mg_graph_output(g2), 0)) {
        mg_graph_free(g2);
        *lim2 = NULL;
        return NULL;
    }
    *gain2 = g2gain;
    return g2;
}

/* Write the proxy's signal (PROXY_CHUNK s every PROXY_STRIDE s of w->pre) to w->proxy and
   measure it; 0 when done. */
static int write_proxy(work *w, const mg_graph_config *cfg, int64_t total, mg_file_analysis *xp)
{
    int chunk = (int)(PROXY_CHUNK * cfg->rate + 0.5);
    int64_t stride = (int64_t)(PROXY_STRIDE * cfg->rate + 0.5);
    if (total < PROXY_MIN * stride)
        return -1;
    snprintf(w->proxy, sizeof w->proxy, "%s", w->pre);
    size_t len = strlen(w->proxy);
    if (len < 8)
        return -1;
    snprintf(w->proxy + len - 8, sizeof w->proxy - (len - 8), ".proxy.wav");
    char why[256];
    mg_sndfile in, out;
    if (mg_sndfile_open_read(&in, w->pre, why, sizeof why))
        return -1;
    int fd = open(w->proxy, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        mg_sndfile_close(&in);
        return -1;
    }
    SF_INFO info = in.info;
    float *buf = malloc((size_t)chunk * (size_t)info.channels * sizeof(float));
    int bad = !buf || mg_sndfile_open_fd_write(&out, fd, &info, why, sizeof why);
    int opened = !bad;
    w->ptotal = 0;
    for (int64_t at = 0; !bad && at + chunk <= total; at += stride) {
        bad = sf_seek(in.sf, at, SEEK_SET) != at || sf_readf_float(in.sf, buf, chunk) != chunk ||
              sf_writef_float(out.sf, buf, chunk) != chunk;
        w->ptotal += chunk;
    }
    if (opened)
        bad |= mg_sndfile_close(&out);
    mg_sndfile_close(&in);
    bad |= close(fd);
    free(buf);
    char err[64];
    return bad || mg_analyze_file(w->proxy, xp, err, sizeof err);
}

/* Set up the proxy when the input is long enough; otherwise leave w->gp NULL. */
static void make_proxy(work *w, const mg_graph_config *cfg, mg_node *gain, mg_node **chain,
                       int n, mg_node *lim, int64_t total)
{
    mg_file_analysis xp;
    int plain;
    if (write_proxy(w, cfg, total, &xp) || !isfinite(xp.integrated) ||
        !isfinite(w->x.integrated) ||
        !(w->gp = chain_graph(cfg, w->proxy, gain, chain, n, lim, &w->pgain, &w->plim, &plain))) {
        if (w->proxy[0])
            unlink(w->proxy);
        w->proxy[0] = 0;
        return;
    }
    w->d = w->x.integrated - xp.integrated;
}

/* Set up the fast path when the graph allows it; otherwise leave w->g2 NULL. */
static void fast_path(mg_graph *g, mg_node *gain, int gi, mg_node *lim, int64_t total,
                      const mg_render_opts *ro, work *w)
{
    mg_node *chain[16];
    int n = chain_after(g, gain, chain, 16);
    int lim_in_chain = !lim;
    for (int i = 0; i < n; i++)
        lim_in_chain |= chain[i] == lim;
    mg_node *out = mg_graph_output(g);
    if (n < 0 || !lim_in_chain ||
        mg_node_output_channels(gain, 0) != mg_node_input_channels(out, 0))
        return;
    /* DIR/.BASE.master-PID.pre.wav: hidden, beside the output */
    temp_name(ro->path, w->pre, sizeof w->pre);
    char *dot = strrchr(w->pre, '.'), *slash = strrchr(w->pre, '/');
    if (dot && dot > w->pre && (!slash || dot > slash + 1))
        *dot = 0;
    size_t len = strlen(w->pre);
    snprintf(w->pre + len, sizeof w->pre - len, ".pre.wav");
    if (prerender(g, gain, gi, total, w->pre, ro, &w->x)) {
        unlink(w->pre);
        w->pre[0] = 0;
        return;
    }
    mg_graph_config cfg = {mg_graph_rate(g), mg_graph_block(g), mg_node_input_channels(out, 0)};
    if (!(w->g2 = chain_graph(&cfg, w->pre, gain, chain, n, lim, &w->gain, &w->lim, &w->plain))) {
        unlink(w->pre);
        w->pre[0] = 0;
        return;
    }
    make_proxy(w, &cfg, gain, chain, n, lim, total);
}

/* An analysis moved by `db` of gain (what a plain chain below its ceiling does). */
static mg_file_analysis shifted(const mg_file_analysis *a, double db)
{
    mg_file_analysis r = *a;
    double k = pow(10.0, db / 20.0);
    r.integrated += db;
    r.momentary_max += db;
    r.shortterm_max += db;
    r.sample_peak += db;
    r.true_peak += db;
    for (int c = 0; c < r.channels; c++) {
        r.peak[c] += db;
        r.rms[c] += db;
        r.dc[c] *= k;
    }
    r.momentary = r.shortterm = r.spectrum = r.bands = NULL;
    return r;
}

/*
** One measuring pass at gain `gv` (dB on the loudness node): computed from the pre-rendered
** signal when the chain is plain and stays under the ceiling, else rendered (the proxy plus
** w->d when there is one).
*/
static mg_status pass(work *w, mg_graph *g, int gi, double gv, double aim, int64_t total,
                      const mg_render_opts *ro, mg_file_analysis *m, double *gr)
{
    if (w->g2 && w->plain && w->x.true_peak + gv <= aim - 0.01) {
        *m = shifted(&w->x, gv);
        *gr = 0;
        return mg_node_set_index(w->gain, gi, gv);
    }
    mg_status st = mg_node_set_index(w->gain, gi, gv);
    if (!st && w->gp)
        st = mg_node_set_index(w->pgain, gi, gv);
    if (st)
        return st;
    mg_graph *pg = w->gp ? w->gp : w->g2 ? w->g2 : g;
    st = measure_pass(pg, w->gp ? w->ptotal : total, w->gp ? w->plim : w->lim, ro, m, gr);
    if (st && pg != g)
        mg_graph_errorf(g, st, "%s", mg_graph_error(pg));
    if (!st && w->gp)
        m->integrated += w->d;
    return st;
}

mg_status mg_master_render(mg_graph *g, const mg_master_opts *mo, const mg_render_opts *ro,
                           mg_master_report *rep)
{
    memset(rep, 0, sizeof *rep);
    double target = mo->target_lufs, ceiling = mo->ceiling_dbtp;
    double tol = mo->tolerance_lu > 0 ? mo->tolerance_lu : 0.1;
    double max_gain = mo->max_gain_db > 0 ? mo->max_gain_db : 24.0;
    double max_gr = mo->max_gr_db > 0 ? mo->max_gr_db : 12.0;
    int max_passes = mo->max_passes > 0 ? mo->max_passes : 8;
    if (!(target >= -70.0 && target <= 0.0))
        return stop(g, rep, MG_ERR_RANGE, "target %g LUFS out of range [-70, 0]", target);
    if (!(ceiling >= -20.0 && ceiling <= 0.0))
        return stop(g, rep, MG_ERR_RANGE, "ceiling %g dBTP out of range [-20, 0]", ceiling);
    mg_node *gain = mo->gain ? mo->gain : find_gain(g);
    if (!gain)
        return stop(g, rep, MG_ERR_INVALID,
                    "normalising needs a gain node named 'loudness' (a node of another type "
                    "has that name)");
    mg_node *lim = mo->no_limiter ? NULL : mo->limiter ? mo->limiter : find_limiter(g);
    int gi = mg_node_param_index(gain, "gain");
    if (gi < 0)
        return stop(g, rep, MG_ERR_INVALID, "node '%s' has no gain parameter",
                    mg_node_name(gain));
    /* peaks aim a little under the ceiling: other true-peak meters (ffmpeg's, a 32x
       reference) read up to a few hundredths of a dB above the BS.1770 4x meter */
    double aim = ceiling - (mo->tp_margin_db > 0 ? mo->tp_margin_db : 0.05);
    if (mo->tp_margin_db < 0)
        aim = ceiling;
    /* the limiter's own ceiling follows the target's */
    if (lim && mg_node_param_index(lim, "ceiling") >= 0 && mg_node_set(lim, "ceiling", aim))
        return MG_ERR_RANGE;
    mg_status st = mg_graph_compile(g);
    if (st)
        return st;
    int64_t total = ro->frames > 0 ? ro->frames : mg_graph_length(g);
    if (total == MG_FOREVER || total <= 0)
        return mg_render(g, ro, NULL); /* the renderer explains */
    double g0 = mg_node_get_index(gain, gi), gcur = g0, gr = 0;
    work w = {.gain = gain, .lim = lim};
    fast_path(g, gain, gi, lim, total, ro, &w);
    char tmp[4096] = "";
    mg_file_analysis m;
    if ((st = pass(&w, g, gi, g0, aim, total, ro, &rep->before, &gr)))
        goto done;
    rep->passes = 1;
    m = rep->before;
    log_pass(rep, 0, &m, gr);
    if (!isfinite(m.integrated)) {
        if ((double)total < 0.4 * g->rate)
            st = stop(g, rep, MG_ERR_RANGE,
                      "the input is %.3f s long, under the 400 ms of one loudness block: "
                      "its integrated loudness is undefined, nothing to normalise",
                      (double)total / g->rate);
        else
            st = stop(g, rep, MG_ERR_RANGE,
                      "the input is silent (no 400 ms block above -70 LUFS): no gain applied");
        goto done;
    }
    /*
    ** Root finding on loudness(gain), which rises with the gain, at slope 1 without limiting
    ** and ever slower as the limiter works harder (concave: plain secant steps then always
    ** fall short). Until the target is bracketed: secant steps (slope 1 at first), stretched
    ** by half once the limiter is working so that the target gets bracketed; then false
    ** position inside the bracket, with a bisection whenever two steps in a row land on the
    ** same side.
    */
    double prev_g = NAN, prev_i = NAN;
    double lo_g = NAN, lo_i = NAN, hi_g = NAN, hi_i = NAN;
    int last_side = 0, same_side = 0;
    /* With a proxy the search ends with a render of the file (a round); when that measures
       off the aim, the proxy's offset is corrected and the search goes on (MASTER_ROUNDS at
       most, max_passes searching passes each). */
    for (int round = 0;; round++) {
        int round_start = rep->passes;
        for (;;) {
            double err = target - m.integrated;
            int tp_ok = m.true_peak <= aim + 1e-9;
            /* aim at half the tolerance (margin for other meters); accept the tolerance when the
               passes run out */
            if (tp_ok && (fabs(err) <= 0.5 * tol ||
                          (fabs(err) <= tol && rep->passes - round_start >= max_passes)))
                break;
            if (!lim && !tp_ok && !mo->peak_respecting && fabs(err) <= tol)
                {
                    st = stop(g, rep, MG_ERR_RANGE,
                            "at %.2f LUFS the true peak is %+.2f dBTP, over the %.1f dBTP ceiling, "
                            "and the chain has no limiter (add one, or accept a quieter result "
                            "with peak-respecting normalisation)",
                            m.integrated, m.true_peak, ceiling);
                    goto done;
                }
            int side = err > 0 ? -1 : 1; /* -1: too quiet */
            if (side < 0) {
                lo_g = gcur;
                lo_i = m.integrated;
            } else {
                hi_g = gcur;
                hi_i = m.integrated;
            }
            same_side = side == last_side ? same_side + 1 : 0;
            last_side = side;
            double next;
            if (isfinite(lo_g) && isfinite(hi_g) && hi_i > lo_i) {
                next = same_side ? 0.5 * (lo_g + hi_g)
                                 : lo_g + (target - lo_i) * (hi_g - lo_g) / (hi_i - lo_i);
            } else {
                double slope = 1.0;
                if (isfinite(prev_g) && fabs(gcur - prev_g) > 1e-6) {
                    slope = (m.integrated - prev_i) / (gcur - prev_g);
                    slope = slope < 0.02 ? 0.02 : slope > 1.0 ? 1.0 : slope;
                }
                double step = err / slope;
                if (lim && gr > 0.1 && rep->passes >= 2)
                    step *= 1.5;
                next = gcur + step;
            }
            if (!lim) {
                double headroom = aim - m.true_peak; /* gain only: TP moves with the gain */
                if (next - gcur > headroom) {
                    if (!mo->peak_respecting) {
                        st = stop(g, rep, MG_ERR_RANGE,
                                  "reaching %.1f LUFS needs %+.2f dB of gain, which puts the "
                                  "true peak at %+.2f dBTP, over the %.1f dBTP ceiling, and the "
                                  "chain has no limiter (add one, or accept a quieter result "
                                  "with peak-respecting normalisation)",
                                  target, next - g0, m.true_peak + next - gcur, ceiling);
                        goto done;
                    }
                    next = gcur + headroom;
                    if (headroom < 0.01) { /* already at the ceiling */
                        snprintf(rep->note, sizeof rep->note,
                                 "peak-respecting: stopped %.2f LU under the target, where the "
                                 "true peak reaches the %.1f dBTP ceiling",
                                 target - m.integrated, ceiling);
                        break;
                    }
                }
            }
            if (next - g0 > max_gain)
                {
                    st = stop(g, rep, MG_ERR_RANGE,
                            "reaching %.1f LUFS from %.2f LUFS needs %+.2f dB of gain, more than "
                            "the %.0f dB allowed",
                            target, rep->before.integrated, next - g0, max_gain);
                    goto done;
                }
            if (next > mg_node_param_desc(gain, gi)->max ||
                next < mg_node_param_desc(gain, gi)->min)
                {
                    st = stop(g, rep, MG_ERR_RANGE,
                            "gain %+.2f dB is outside node '%s''s range", next, mg_node_name(gain));
                    goto done;
                }
            if (rep->passes - round_start >= max_passes)
                {
                    st = stop(g, rep, MG_ERR_RANGE,
                            "no convergence after %d passes: %.2f LUFS, true peak %+.2f dBTP "
                            "(target %.1f LUFS, ceiling %.1f dBTP)",
                            rep->passes, m.integrated, m.true_peak, target, ceiling);
                    goto done;
                }
            prev_g = gcur;
            prev_i = m.integrated;
            gcur = next;
            if ((st = pass(&w, g, gi, gcur, aim, total, ro, &m, &gr)))
                goto done;
            rep->passes++;
            log_pass(rep, gcur - g0, &m, gr);
            /* limiting grows with the gain: too much of it at or under the target is final */
            if (lim && gr > max_gr && m.integrated <= target + tol)
                {
                    st = stop(g, rep, MG_ERR_RANGE,
                            "reaching %.1f LUFS needs %.1f dB of limiting, more than the %.1f dB "
                            "allowed (lower the target, or allow more gain reduction)",
                            target, gr, max_gr);
                    goto done;
                }
            if (lim && m.true_peak > aim + 1e-9 && fabs(target - m.integrated) <= tol)
                {
                    st = stop(g, rep, MG_ERR_RANGE,
                            "the limiter let the true peak reach %+.2f dBTP, over the %.1f dBTP "
                            "ceiling",
                            m.true_peak, ceiling);
                    goto done;
                }
        }
        /* the file: rendered beside the target, checked, then moved into place */
        temp_name(ro->path, tmp, sizeof tmp);
        mg_render_opts fo = *ro;
        fo.path = tmp;
        fo.frames = total;
        if ((st = mg_node_set_index(w.gain, gi, gcur)) ||
            (st = mg_render(w.g2 ? w.g2 : g, &fo, NULL))) {
            if (w.g2)
                mg_graph_errorf(g, st, "%s", mg_graph_error(w.g2));
            goto done;
        }
        mg_node_set_index(gain, gi, gcur); /* the patch's graph keeps the gain found */
        rep->passes++;
        rep->renders++;
        rep->gain_db = gcur - g0;
        rep->max_gr_db = gr;
        if (w.gp && w.lim) { /* the proxy's reduction is a sample's: take the file's */
            double gm = fabs(mg_node_meter(w.lim, "gr_max"));
            rep->max_gr_db = isfinite(gm) ? gm : gr;
        }
        char err[1024];
        if ((st = mg_analyze_file(tmp, &rep->after, err, sizeof err))) {
            st = stop(g, rep, st, "%s", err);
            goto done;
        }
        if (w.gp && round + 1 < MASTER_ROUNDS &&
            !(fabs(rep->after.integrated - target) <= 0.5 * tol) &&
            rep->after.true_peak <= ceiling) {
            /* correct the proxy's offset by what the file reads at this gain, search on */
            log_pass(rep, gcur - g0, &rep->after, gr);
            double delta = rep->after.integrated - m.integrated;
            w.d += delta;
            prev_i += delta;
            lo_i += delta;
            hi_i += delta;
            m.integrated = rep->after.integrated;
            mg_analysis_free(&rep->after);
            continue;
        }
        break;
    }
    rep->on_target = fabs(rep->after.integrated - target) <= tol + 1e-9 &&
                     rep->after.true_peak <= ceiling;
    if (!rep->on_target && !(mo->peak_respecting && !lim && rep->after.true_peak <= ceiling)) {
        st = stop(g, rep, MG_ERR_RANGE,
                  "the written file measures %.2f LUFS, true peak %+.2f dBTP: off the target "
                  "%.1f LUFS / %.1f dBTP (quantization or a lossy format)",
                  rep->after.integrated, rep->after.true_peak, target, ceiling);
        goto done;
    }
    if (rename(tmp, ro->path) != 0)
        st = stop(g, rep, MG_ERR_IO, "%s: cannot move the result into place", ro->path);
    else
        tmp[0] = 0;
done:
    if (tmp[0])
        unlink(tmp);
    if (w.pre[0])
        unlink(w.pre);
    if (w.proxy[0])
        unlink(w.proxy);
    mg_graph_free(w.g2);
    mg_graph_free(w.gp);
    return st;
}
