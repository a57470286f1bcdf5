/*
** compressor.c: the `compressor` node, a feed-forward log-domain compressor after Giannoulis,
** Massberg & Reiss (JAES 60(6), 2012) with soft knee, peak/rms detector, stereo link,
** lookahead, makeup (manual and automatic), parallel dry/wet mix and a sidechain input.
** [control] create/prepare/destroy, [rt] reset/process, [any] the meter.
**
** Per frame and channel (shared stages in mg_dynamics.h):
**   L    key level (dB), linked across channels
**   GR   static gain reduction from threshold T, ratio R, knee W (mg_dyn_comp_gr)
**   y    smoothed GR: attack coefficient while GR rises, release while it falls
**   out  xd + mix (xd 10^((M - y)/20) - xd), xd = input delayed by the lookahead,
**        M = makeup + (auto_makeup ? GR(0 dBFS) : 0)
** The key is never delayed, so the gain moves `lookahead` frames before the audio it acts on.
*/
#include <math.h>

#include "mg_dynamics.h"

enum { OPT_LOOKAHEAD };
enum {
    P_THRESHOLD,
    P_RATIO,
    P_KNEE,
    P_ATTACK,
    P_RELEASE,
    P_DETECTOR,
    P_RMS_WINDOW,
    P_MAKEUP,
    P_AUTO_MAKEUP,
    P_LINK,
    P_MIX,
    P_KEY_HPF,
    P_KEY_LPF,
    N_PARAMS
};

typedef struct comp_state {
    mg_dyn dyn;                 /* first: mg_dyn_meter reads it */
    double lookahead_ms;        /* [immutable] option */
    /* [rt] per channel, dB: the smoother's state (comp_smooth) is the last frame's static gain
       reduction x and what is left of the distance to it, e = y - x; y = x + e is the smoothed
       gain reduction */
    double x[MG_MAX_CHANNELS], e[MG_MAX_CHANNELS];
} comp_state;

/* Values derived from the parameters at one frame. */
typedef struct comp_coef {
    double t, s, w, a_att, a_rel, rms_b, makeup, link, mix; /* s = 1 - 1/ratio */
    double snap_att, snap_rel; /* 1e-9 / a_att, 1e-9 / a_rel (inf for a = 0): see comp_smooth */
    double h; /* the knee's curvature, mg_dyn_knee_h(s, w) */
    double p_skip; /* key power safely below the knee: no gain reduction (see comp_run) */
    int detector;
} comp_coef;

static const mg_port_desc comp_in[] = {
    {.name = "in", .channels = MG_CH_MAX, .doc = "signal to compress"},
    {.name = "sidechain", .channels = MG_CH_MAX,
     .doc = "key signal (any node); when unconnected the main input is the key"},
};
static const mg_port_desc comp_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "compressed signal, same channels as in"}};

static const mg_param_desc comp_params[] = {
    {.name = "threshold", .unit = "dB", .min = -90, .max = 24, .def = -20, .smooth_ms = 20,
     .doc = "level (dBFS, see `detector`) where compression starts (the knee's centre)"},
    {.name = "ratio", .unit = "", .min = 1, .max = 100, .def = 4, .smooth_ms = 20,
     .doc = "input dB per output dB above the threshold; 1 = no compression"},
    {.name = "knee", .unit = "dB", .min = 0, .max = 48, .def = 6, .smooth_ms = 20,
     .doc = "width of the quadratic soft knee centred on the threshold; 0 = hard knee"},
    {.name = "attack", .unit = "ms", .min = 0, .max = 1000, .def = 10, .smooth_ms = 0,
     .doc = "time constant while gain reduction rises (63.2 % of a step); 0 = instant"},
    {.name = "release", .unit = "ms", .min = 0, .max = 5000, .def = 100, .smooth_ms = 0,
     .doc = "time constant while gain reduction falls (to 36.8 % of a step); 0 = instant"},
    {.name = "detector", .unit = "", .min = 0, .max = 1, .def = MG_DYN_PEAK, .smooth_ms = 0,
     .choices = MG_DYN_DETECTORS,
     .doc = "peak: instantaneous |key|; rms: one-pole mean square over `rms_window` (a sine of "
            "peak x dBFS reads x - 3.01 dB)"},
    {.name = "rms_window", .unit = "ms", .min = 0.1, .max = 1000, .def = 10, .smooth_ms = 0,
     .doc = "time constant of the rms detector's mean square"},
    {.name = "makeup", .unit = "dB", .min = -24, .max = 48, .def = 0, .smooth_ms = 20,
     .doc = "gain after compression (wet path only)"},
    {.name = "auto_makeup", .unit = "", .min = 0, .max = 1, .def = 0, .smooth_ms = 0,
     .choices = "off|on",
     .doc = "on: add the static gain reduction at 0 dBFS, GR(0) (a full-scale steady signal "
            "comes out at full scale)"},
    {.name = "link", .unit = "%", .min = 0, .max = 100, .def = 100, .smooth_ms = 20,
     .doc = "stereo link: each channel's key level in dB moves this far toward the loudest "
            "key channel's; 100 = identical gain on every channel"},
    {.name = "mix", .unit = "%", .min = 0, .max = 100, .def = 100, .smooth_ms = 20,
     .doc = "wet share for parallel compression; the dry part is delayed like the wet"},
    {.name = "key_hpf", .unit = "Hz", .min = 0, .max = 20000, .def = 0, .smooth_ms = 20,
     .doc = "high-pass on the key (2nd-order Butterworth); 0 = off"},
    {.name = "key_lpf", .unit = "Hz", .min = 0, .max = 20000, .def = 0, .smooth_ms = 20,
     .doc = "low-pass on the key (2nd-order Butterworth); 0 = off"},
};

static const mg_option_desc comp_opts[] = {
    {.name = "lookahead", .type = MG_OPT_NUMBER, .unit = "ms", .min = 0, .max = 500, .def = 0,
     .doc = "delay of the audio (not the key), round(lookahead * rate / 1000) frames; "
            "reported as the node's latency"},
};

/* [control] */
static mg_status comp_create(void *state, mg_node *node)
{
    comp_state *s = state;
    s->lookahead_ms = mg_node_opt_num(node, OPT_LOOKAHEAD);
    return MG_OK;
}

/* [rt] */
static void comp_reset(void *state)
{
    comp_state *s = state;
    mg_dyn_reset(&s->dyn);
    for (int c = 0; c < MG_MAX_CHANNELS; c++)
        s->x[c] = s->e[c] = 0;
}

/* [control] */
static mg_status comp_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    comp_state *s = state;
    mg_status st = mg_dyn_prepare(&s->dyn, node, pr, s->lookahead_ms);
    if (st == MG_OK)
        comp_reset(s);
    return st;
}

/* [control] */
static void comp_destroy(void *state) { mg_dyn_destroy(&((comp_state *)state)->dyn); }

/* [rt] Derive the frame-i values; `all` recomputes everything, else only ramping parameters'
   exponentials are redone (the rest are cheap). */
static void comp_coef_at(comp_coef *k, const mg_block *b, uint32_t i, int all)
{
    const mg_pval *p = b->p;
    k->t = mg_dyn_pv(&p[P_THRESHOLD], i);
    k->s = 1.0 - 1.0 / mg_dyn_pv(&p[P_RATIO], i);
    k->w = mg_dyn_pv(&p[P_KNEE], i);
    if (all || !p[P_ATTACK].constant) {
        k->a_att = mg_dyn_coef(mg_dyn_pv(&p[P_ATTACK], i), b->rate);
        k->snap_att = k->a_att > 0 ? 1e-9 / k->a_att : INFINITY;
    }
    if (all || !p[P_RELEASE].constant) {
        k->a_rel = mg_dyn_coef(mg_dyn_pv(&p[P_RELEASE], i), b->rate);
        k->snap_rel = k->a_rel > 0 ? 1e-9 / k->a_rel : INFINITY;
    }
    if (all || !p[P_RMS_WINDOW].constant)
        k->rms_b = mg_dyn_coef(mg_dyn_pv(&p[P_RMS_WINDOW], i), b->rate);
    if (all || !p[P_THRESHOLD].constant || !p[P_KNEE].constant)
        k->p_skip = pow(10.0, (k->t - 0.5 * k->w - 1e-6) * 0.1);
    k->h = mg_dyn_knee_h(k->s, k->w);
    k->detector = mg_dyn_pv(&p[P_DETECTOR], i) >= 0.5 ? MG_DYN_RMS : MG_DYN_PEAK;
    k->makeup = mg_dyn_pv(&p[P_MAKEUP], i);
    if (mg_dyn_pv(&p[P_AUTO_MAKEUP], i) >= 0.5)
        k->makeup += mg_dyn_comp_gr(0.0, k->t, k->s, k->w, k->h);
    k->link = mg_dyn_pv(&p[P_LINK], i) * 0.01;
    k->mix = mg_dyn_pv(&p[P_MIX], i) * 0.01;
}

/* 1 when every channel's smoother is in the same state (then a linked key keeps them the
   same, and one channel's gains serve all). */
static int comp_in_step(const comp_state *s, int nc)
{
    for (int c = 1; c < nc; c++)
        if (s->x[c] != s->x[0] || s->e[c] != s->e[0])
            return 0;
    return 1;
}

/*
** [rt] One step of the smoother y[n] = x[n] + a (y[n-1] - x[n]) (mg_dyn_smooth's recursion:
** attack coefficient when x[n] > y[n-1], and y[n] = x[n] exactly once |a (y[n-1] - x[n])| is
** below 1e-9 dB), run on the distance e = y - x to the static gain reduction x:
**   e[n] = a e[n-1] + a d[n],  d[n] = x[n-1] - x[n]
** e is the state (returned), d the input. The serial dependency is then one multiply-add
** (fused in the AVX2 build: `fused`, a constant where it is called), where y's form has a
** subtraction, a multiplication and an addition. The direction (y[n-1] < x[n], i.e. e < -d)
** and the snap (to e = 0 when -d - 1e-9/a_att < e < -d + 1e-9/a_rel: snap_att, snap_rel) are
** compares on e, taken as branches: predicted, they stay off the chain (measured faster than
** computing both results and selecting with bit masks, even on a peak key whose direction
** changes often).
*/
static MG_DYN_INLINE double comp_step(double e, double d, const comp_coef *k, int fused)
{
    double nd = -d;
    if (__builtin_expect((e > nd - k->snap_att) & (e < nd + k->snap_rel), 0))
        return 0.0;
    if (e < nd)
        return mg_dyn_madd(k->a_att, e, k->a_att * d, fused);
    return mg_dyn_madd(k->a_rel, e, k->a_rel * d, fused);
}

/*
** [rt] The smoother over n frames for channels c .. c+m-1 (m = 1 or 2, a constant where it is
** called): gain reduction x0[i] (channel c) and x1[i] (channel c + 1) in, smoothed gain
** reduction y0[i] = x0[i] + e, y1[i] out (in place: y0 may be x0). Two channels share a loop
** so that their serial chains overlap.
*/
static MG_DYN_INLINE void comp_smooth(comp_state *s, const comp_coef *k, int c, int m,
                                      const double *x0, const double *x1, double *y0,
                                      double *y1, uint32_t n, int fused)
{
    double p0 = s->x[c], e0 = s->e[c];
    double p1 = m > 1 ? s->x[c + 1] : 0.0, e1 = m > 1 ? s->e[c + 1] : 0.0;
    for (uint32_t i = 0; i < n; i++) {
        double v0 = x0[i];
        e0 = comp_step(e0, p0 - v0, k, fused);
        p0 = v0;
        y0[i] = v0 + e0;
        if (m > 1) {
            double v1 = x1[i];
            e1 = comp_step(e1, p1 - v1, k, fused);
            p1 = v1;
            y1[i] = v1 + e1;
        }
    }
    s->x[c] = p0;
    s->e[c] = e0;
    if (m > 1) {
        s->x[c + 1] = p1;
        s->e[c + 1] = e1;
    }
}

/*
** [rt] Frames f0..f0+n-1 of the block (n <= MG_DYN_CHUNK) with the coefficients k; key[] holds
** their key (index 0 = frame f0). Stages: detector and link (mg_dyn_detect, mg_dyn_link; a
** fully linked key's level row is computed in the gain computer's loop); per channel the gain
** computer (vectorised), the smoother (the one serial step, alone in its loop) and the
** dB-to-gain conversion (mg_dyn_gains_gr: vectorised, or once while the gain holds still); the
** output stage.
** With a fully linked key and every channel's smoother in the same state the channels' gains
** are identical, so they are computed once.
**
** Quiet chunks: when every frame's key power is below p_skip, whose level is 1e-6 dB under the
** knee (far more than mg_dyn_db's error), the gain computer gives exactly 0 for every frame;
** if the smoothers rest at 0 too, they stay there and every gain is the makeup: the
** logarithms and exponentials are skipped, with the same result as the full path (which is
** what keeps the output independent of where blocks, and so chunks, start).
** Returns the last frame's largest key power (for the meter).
*/
static MG_DYN_INLINE double comp_run(comp_state *s, const comp_coef *k, const float *const *key,
                                     int nk, const mg_block *b, uint32_t f0, uint32_t n,
                                     int fused)
{
    mg_dyn *d = &s->dyn;
    int nc = b->out[0].channels;
    double pmax[MG_DYN_CHUNK], p[MG_MAX_CHANNELS][MG_DYN_CHUNK];
    double lev[MG_MAX_CHANNELS][MG_DYN_CHUNK], gain[MG_MAX_CHANNELS][MG_DYN_CHUNK];
    const double *rows[MG_MAX_CHANNELS];
    int linked = k->link >= 1.0;
    mg_dyn_detect(d, key, nk, n, k->detector, k->rms_b, pmax, linked ? NULL : p);
    uint32_t quiet = 0;
    while (quiet < n && pmax[quiet] < k->p_skip)
        quiet++;
    /* level rows: 0 when the whole chunk is quiet (not computed); a fully linked key's one row
       goes straight from the loudest power through the gain computer (below) */
    int nl = quiet == n ? 0 : linked ? 1 : mg_dyn_link(d, pmax, p, nk, n, k->link, nc, lev);
    int ng = nl <= 1 && comp_in_step(s, nc) ? 1 : nc;
    if (nl == 0 && ng == 1 && s->x[0] == 0.0 && s->e[0] == 0.0) {
        double g = mg_dyn_amp(k->makeup);
        for (uint32_t i = 0; i < n; i++)
            gain[0][i] = g;
    } else {
        double gr[MG_MAX_CHANNELS][MG_DYN_CHUNK];
        for (int c = 0; c < ng; c++) {
            if (nl == 0) {
                for (uint32_t i = 0; i < n; i++)
                    gr[c][i] = 0.0;
            } else if (linked) { /* mg_dyn_link's row for link >= 1, in this loop (vectorised) */
                for (uint32_t i = 0; i < n; i++)
                    gr[c][i] = mg_dyn_comp_gr(mg_dyn_db(pmax[i]), k->t, k->s, k->w, k->h);
            } else {
                const double *L = lev[nl == 1 ? 0 : c];
                for (uint32_t i = 0; i < n; i++) /* vectorised */
                    gr[c][i] = mg_dyn_comp_gr(L[i], k->t, k->s, k->w, k->h);
            }
        }
        int c = 0;
        for (; c + 1 < ng; c += 2)
            comp_smooth(s, k, c, 2, gr[c], gr[c + 1], gr[c], gr[c + 1], n, fused);
        if (c < ng)
            comp_smooth(s, k, c, 1, gr[c], gr[c], gr[c], gr[c], n, fused);
        for (c = 0; c < ng; c++)
            mg_dyn_gains_gr(d, k->makeup, gr[c], gain[c], n);
    }
    for (int c = 0; c < nc; c++) {
        if (c >= ng) {
            s->x[c] = s->x[0];
            s->e[c] = s->e[0];
        }
        rows[c] = gain[c < ng ? c : 0];
    }
    mg_dyn_apply(d, &b->in[0], &b->out[0], f0, n, rows, k->mix);
    return pmax[n - 1];
}

/*
** [rt] Chunks of MG_DYN_CHUNK frames: the key stage fills (and filters) the chunk's key, then
** comp_run processes it, the whole chunk at once with constant parameters, frame by frame
** while any parameter ramps. Every stage is sample-sequential (the same arithmetic per frame
** on either path), so the output does not depend on the block size.
*/
/* mg_dyn_drive's view of comp_coef_at and comp_run */
static void comp_coef_cb(const void *s, void *k, const mg_block *b, uint32_t i, int all)
{
    (void)s;
    comp_coef_at(k, b, i, all);
}

#if MG_DYN_X86
/* comp_run's AVX2 build (the smoother's multiply-adds fused, see mg_dynamics.h) */
static MG_DYN_AVX2 double comp_run_avx2(comp_state *s, const comp_coef *k,
                                        const float *const *key, int nk, const mg_block *b,
                                        uint32_t f0, uint32_t n)
{
    return comp_run(s, k, key, nk, b, f0, n, 1);
}
#endif

static double comp_run_cb(void *s, const void *k, const float *const *key, int nk,
                          const mg_block *b, uint32_t f0, uint32_t n)
{
#if MG_DYN_X86
    if (((comp_state *)s)->dyn.avx2)
        return comp_run_avx2(s, k, key, nk, b, f0, n);
#endif
    return comp_run(s, k, key, nk, b, f0, n, 0);
}

static void comp_process(void *state, const mg_block *b)
{
    comp_state *s = state;
    mg_dyn *d = &s->dyn;
    int nc = b->out[0].channels;
    int ramp = !mg_dyn_constant(b->p, N_PARAMS);
    mg_dyn_params dp = {.key_hpf = &b->p[P_KEY_HPF], .key_lpf = &b->p[P_KEY_LPF]};
    comp_coef k;
    double pmax = mg_dyn_drive(d, b, &dp, ramp, s, &k, comp_coef_cb, comp_run_cb);
    double gr = 0;
    for (int c = 0; c < nc; c++)
        gr = s->x[c] + s->e[c] > gr ? s->x[c] + s->e[c] : gr;
    mg_dyn_publish(d, gr, mg_dyn_db(pmax));
}

const mg_node_desc mg_node_compressor = {
    .name = "compressor",
    .meter = mg_dyn_meter,
    .meters = "gain_reduction|key_level",
    .doc = "Feed-forward compressor, log domain (Giannoulis, Massberg & Reiss 2012). Key level L "
           "in dB re full-scale amplitude (peak: 20 log10|k|; rms: one-pole mean square over "
           "rms_window, so a sine of peak x dBFS reads x - 3.01 dB), linked across channels as "
           "(1 - link) L_own + link max(L). Gain reduction GR = 0 below the knee, "
           "(1 - 1/ratio)(L - T + W/2)^2 / (2W) inside it (|L - T| <= W/2), (1 - 1/ratio)(L - T) "
           "above; smoothed y[n] = a y[n-1] + (1 - a) GR[n], a = exp(-1/(tau fs)) with tau = "
           "attack while GR rises, release while it falls. out = xd + mix (xd 10^((M - y)/20) - "
           "xd), xd the input delayed by the lookahead, M = makeup + (auto_makeup: GR at 0 dBFS, "
           "e.g. 15 dB for T = -20, ratio 4). The key is the `sidechain` input when connected "
           "(a mono key drives every channel), else the input; key_hpf / key_lpf filter it "
           "(2nd-order Butterworth, 0 = off). Latency: round(lookahead * rate / 1000) frames, "
           "dry and wet alike. Meter: gain_reduction (dB).",
    .inputs = comp_in, .n_inputs = 2,
    .outputs = comp_out, .n_outputs = 1,
    .params = comp_params, .n_params = N_PARAMS,
    .options = comp_opts, .n_options = 1,
    .main_param = "threshold",
    .state_size = sizeof(comp_state),
    .flags = MG_NODE_INPLACE,
    .create = comp_create,
    .prepare = comp_prepare,
    .reset = comp_reset,
    .process = comp_process,
    .destroy = comp_destroy,
};
