/*
** multiband.c: the `multiband` node, a 2- to 4-band compressor on Linkwitz-Riley crossovers.
** [control] create/prepare/destroy, [rt] reset/process, [any] the meters.
**
** Split (crossovers f1 < f2 < f3, slope 24 or 48 dB/oct; mg_filter.h bands): the input is
** lowpassed at f1 for band 1 and highpassed for the rest, which is split again at f2, and so
** on. Each split's lowpass + highpass sums to an allpass A(f), so band k is also passed
** through the allpasses of the crossovers above its own (band 1 through A(f2) A(f3), ...):
** every band then carries the same total phase and the bands sum to A(f1) A(f2) A(f3), flat
** in magnitude. A(f) for Linkwitz-Riley slope 2m dB/oct is the cascade of RBJ allpasses with
** the Q values of the order-m/6 Butterworth (mg_filter_cascade_q).
**
** Each band is compressed by the compressor's gain computer and smoother (mg_dynamics.h):
** peak level in dB, linked across channels by `link`, gain reduction from thresholdk, ratiok,
** kneek (Giannoulis, Massberg & Reiss), attackk / releasek smoothing, makeupk; then the bands
** are summed. With ratio 1 and makeup 0 a band's gain is exactly 1, so a neutral multiband is
** the allpass cascade: output magnitude = input magnitude. No latency.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_dynamics.h"
#include "mg_filter.h"

#define MB_MAX 4

enum { OPT_BANDS, OPT_SLOPE };
enum { P_XOVER1, P_XOVER2, P_XOVER3, P_LINK, P_MULTI };
enum { M_THRESHOLD, M_RATIO, M_KNEE, M_ATTACK, M_RELEASE, M_MAKEUP, M_COUNT };

typedef struct mb_state {
    int bands;  /* [immutable] */
    int slope;  /* [immutable] 24 or 48 */
    int n_ap;   /* [immutable] allpass sections per crossover */
    double ap_q[MG_FILTER_MAX_SECTIONS];
    /* [control] prepare */
    float *buf; /* (bands + 1) x channels x block */
    uint32_t block;
    int channels;
    /* [rt] */
    mg_filter_band lp[MB_MAX - 1], hp[MB_MAX - 1];
    mg_filter_band ap[MB_MAX][MB_MAX - 1][2]; /* band k, crossover j, section */
    double gr[MB_MAX][MG_MAX_CHANNELS];       /* smoothed gain reduction, dB */
    _Atomic float meter_gr[MB_MAX];
} mb_state;

static const mg_port_desc mb_in[] = {{.name = "in", .channels = MG_CH_MAX, .doc = "signal"}};
static const mg_port_desc mb_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "sum of the bands, same channels as in"}};

static const mg_param_desc mb_params[] = {
    {.name = "xover1", .unit = "Hz", .min = 20, .max = 20000, .def = 200, .smooth_ms = 20,
     .doc = "crossover between bands 1 and 2"},
    {.name = "xover2", .unit = "Hz", .min = 20, .max = 20000, .def = 2000, .smooth_ms = 20,
     .doc = "crossover between bands 2 and 3 (3 or 4 bands; above xover1)"},
    {.name = "xover3", .unit = "Hz", .min = 20, .max = 20000, .def = 8000, .smooth_ms = 20,
     .doc = "crossover between bands 3 and 4 (4 bands; above xover2)"},
    {.name = "link", .unit = "%", .min = 0, .max = 100, .def = 100, .smooth_ms = 20,
     .doc = "stereo link of every band's detector (as the compressor's)"},
    {.name = "threshold", .unit = "dB", .min = -90, .max = 24, .def = -20, .smooth_ms = 20,
     .flags = MG_PARAM_MULTI, .doc = "band threshold (peak level, dBFS)"},
    {.name = "ratio", .unit = "", .min = 1, .max = 100, .def = 1, .smooth_ms = 20,
     .flags = MG_PARAM_MULTI, .doc = "band ratio; 1 = the band passes unchanged"},
    {.name = "knee", .unit = "dB", .min = 0, .max = 48, .def = 6, .smooth_ms = 20,
     .flags = MG_PARAM_MULTI, .doc = "band soft-knee width"},
    {.name = "attack", .unit = "ms", .min = 0, .max = 1000, .def = 10, .smooth_ms = 0,
     .flags = MG_PARAM_MULTI, .doc = "band attack time constant"},
    {.name = "release", .unit = "ms", .min = 0, .max = 5000, .def = 150, .smooth_ms = 0,
     .flags = MG_PARAM_MULTI, .doc = "band release time constant"},
    {.name = "makeup", .unit = "dB", .min = -24, .max = 24, .def = 0, .smooth_ms = 20,
     .flags = MG_PARAM_MULTI, .doc = "band gain after compression"},
};

static const mg_option_desc mb_opts[] = {
    {.name = "bands", .type = MG_OPT_INT, .min = 2, .max = MB_MAX, .def = 3,
     .doc = "number of bands, 2..4 (threshold1..N, ...; Lua: mb.bands[k].ratio)"},
    {.name = "slope", .type = MG_OPT_INT, .unit = "dB/oct", .min = 24, .max = 48, .def = 24,
     .doc = "crossover slope: 24 (LR4) or 48 (LR8)"},
};

/* [control] */
static mg_status mb_create(void *state, mg_node *node)
{
    mb_state *s = state;
    s->bands = mg_node_multi_count(node);
    s->slope = (int)mg_node_opt_num(node, OPT_SLOPE);
    if (s->slope != 24 && s->slope != 48)
        return mg_node_errorf(node, MG_ERR_RANGE, "slope %d: use 24 or 48 dB/oct", s->slope);
    s->n_ap = mg_filter_cascade_q(s->slope / 2, MG_FD_BUTTERWORTH, s->ap_q);
    for (int j = 0; j < MB_MAX - 1; j++) {
        mg_filter_band_init(&s->lp[j], s->slope, MG_FD_LINKWITZ_RILEY);
        mg_filter_band_init(&s->hp[j], s->slope, MG_FD_LINKWITZ_RILEY);
        for (int k = 0; k < MB_MAX; k++)
            for (int m = 0; m < 2; m++)
                mg_filter_band_init(&s->ap[k][j][m], 12, MG_FD_BUTTERWORTH);
    }
    /* default crossovers: 2 bands 200 Hz; 3 bands 200, 2000; 4 bands 120, 1000, 6000 */
    static const double x4[3] = {120, 1000, 6000};
    mg_status st = MG_OK;
    for (int j = 0; j < 3 && s->bands == 4 && !st; j++)
        st = mg_node_set_index(node, P_XOVER1 + j, x4[j]);
    return st;
}

/* [rt] */
static void mb_reset(void *state)
{
    mb_state *s = state;
    for (int j = 0; j < MB_MAX - 1; j++) {
        mg_filter_band_reset(&s->lp[j]);
        mg_filter_band_reset(&s->hp[j]);
        for (int k = 0; k < MB_MAX; k++)
            for (int m = 0; m < 2; m++)
                mg_filter_band_reset(&s->ap[k][j][m]);
    }
    memset(s->gr, 0, sizeof s->gr);
    for (int k = 0; k < MB_MAX; k++)
        atomic_store_explicit(&s->meter_gr[k], 0.0f, memory_order_relaxed);
}

/* [control] */
static mg_status mb_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    mb_state *s = state;
    int ch = pr->out_ch[0];
    float *buf = calloc((size_t)(s->bands + 1) * (size_t)ch * (size_t)pr->block, sizeof *buf);
    if (!buf)
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the band buffers");
    free(s->buf);
    s->buf = buf;
    s->block = (uint32_t)pr->block;
    s->channels = ch;
    mb_reset(s);
    return MG_OK;
}

/* [control] */
static void mb_destroy(void *state)
{
    mb_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

/* [rt] Channel c of band k's buffer (k = bands: the running highpass remainder). */
static inline float *band_buf(const mb_state *s, int k, int c)
{
    return s->buf + ((size_t)k * (size_t)s->channels + (size_t)c) * s->block;
}

/* [rt] Run filter band f of `type` at frequency pval freq with quality q over io. */
static void run_band(mg_filter_band *f, int type, const mg_pval *freq, float q, float *const *io,
                     int nc, uint32_t n, double rate)
{
    const float t = (float)type, zero = 0;
    mg_pval p[MG_FP_COUNT] = {{&t, 1}, *freq, {&q, 1}, {&zero, 1}, {&zero, 1}};
    mg_filter_band_process(f, p, 1, io, nc, n, rate);
}

/* [rt] The band's compressor over n frames of io (nc channels), parameters of band k. */
static void compress(mb_state *s, int k, float *const *io, int nc, const mg_block *b)
{
    const mg_pval *p = b->p + P_MULTI;
    int nb = s->bands;
    const mg_pval *pt = &p[M_THRESHOLD * nb + k], *pr = &p[M_RATIO * nb + k],
                  *pk = &p[M_KNEE * nb + k], *pm = &p[M_MAKEUP * nb + k];
    double a_att = mg_dyn_coef(p[M_ATTACK * nb + k].v[0], b->rate);
    double a_rel = mg_dyn_coef(p[M_RELEASE * nb + k].v[0], b->rate);
    double *y = s->gr[k];
    for (uint32_t i = 0; i < b->n; i++) {
        double t = mg_dyn_pv(pt, i), sl = 1.0 - 1.0 / mg_dyn_pv(pr, i), w = mg_dyn_pv(pk, i);
        double h = mg_dyn_knee_h(sl, w), makeup = mg_dyn_pv(pm, i);
        double link = mg_dyn_pv(&b->p[P_LINK], i) * 0.01;
        double lev[MG_MAX_CHANNELS], lmax = MG_DYN_FLOOR_DB, g = 1.0;
        for (int c = 0; c < nc; c++) {
            double v = (double)io[c][i] * io[c][i];
            lev[c] = mg_dyn_db(!(v >= 1e-30) ? 0.0 : v > 1e30 ? 1e30 : v);
            lmax = lev[c] > lmax ? lev[c] : lmax;
        }
        /* fully linked with every channel's smoother in step: one gain for all */
        int same = link >= 1.0;
        for (int c = 1; c < nc && same; c++)
            same = y[c] == y[0];
        for (int c = 0; c < nc; c++) {
            if (same && c > 0) {
                y[c] = y[0];
            } else {
                double l = link >= 1.0 ? lmax : (1.0 - link) * lev[c] + link * lmax;
                y[c] = mg_dyn_smooth(y[c], mg_dyn_comp_gr(l, t, sl, w, h), a_att, a_rel);
                g = makeup - y[c] != 0.0 ? mg_dyn_amp(makeup - y[c]) : 1.0;
            }
            if (g != 1.0)
                io[c][i] = (float)(io[c][i] * g);
        }
    }
    double gr = 0;
    for (int c = 0; c < nc; c++)
        gr = y[c] > gr ? y[c] : gr;
    atomic_store_explicit(&s->meter_gr[k], (float)gr, memory_order_relaxed);
}

/* [rt] Split, compensate, compress, sum. */
static void mb_process(void *state, const mg_block *b)
{
    mb_state *s = state;
    int nc = b->out[0].channels, nb = s->bands;
    uint32_t n = b->n;
    const mg_pval *xo = &b->p[P_XOVER1];
    float *band[MB_MAX + 1][MG_MAX_CHANNELS] = {{NULL}};
    for (int k = 0; k <= nb; k++)
        for (int c = 0; c < nc; c++)
            band[k][c] = band_buf(s, k, c);
    float **rest = band[nb]; /* what is above the crossovers handled so far */
    for (int c = 0; c < nc; c++)
        memcpy(rest[c], b->in[0].ch[c], n * sizeof(float));
    for (int j = 0; j < nb - 1; j++) {
        for (int c = 0; c < nc; c++)
            memcpy(band[j][c], rest[c], n * sizeof(float));
        run_band(&s->lp[j], MG_FT_LOWPASS, &xo[j], 0.7071067811865476f, band[j], nc, n,
                 b->rate);
        run_band(&s->hp[j], MG_FT_HIGHPASS, &xo[j], 0.7071067811865476f, rest, nc, n,
                 b->rate);
        /* band j meets the allpasses of the crossovers above it */
        for (int a = j + 1; a < nb - 1; a++)
            for (int m = 0; m < s->n_ap; m++)
                run_band(&s->ap[j][a][m], MG_FT_ALLPASS, &xo[a], (float)s->ap_q[m], band[j], nc,
                         n, b->rate);
    }
    for (int c = 0; c < nc; c++)
        memcpy(band[nb - 1][c], rest[c], n * sizeof(float));
    for (int k = 0; k < nb; k++)
        compress(s, k, band[k], nc, b);
    for (int c = 0; c < nc; c++) {
        float *y = b->out[0].ch[c];
        for (uint32_t i = 0; i < n; i++) {
            float sum = 0;
            for (int k = 0; k < nb; k++)
                sum += band[k][c][i];
            y[i] = sum;
        }
    }
}

/* [any] */
static double mb_meter(const void *state, const char *name)
{
    mb_state *s = (mb_state *)state; /* atomic loads only */
    if (strcmp(name, "gain_reduction") == 0) {
        double m = 0;
        for (int k = 0; k < MB_MAX; k++) {
            double g = atomic_load_explicit(&s->meter_gr[k], memory_order_relaxed);
            m = g > m ? g : m;
        }
        return m;
    }
    if (strncmp(name, "gr", 2) == 0 && name[2] >= '1' && name[2] <= '0' + MB_MAX && !name[3])
        return atomic_load_explicit(&s->meter_gr[name[2] - '1'], memory_order_relaxed);
    return NAN;
}

const mg_node_desc mg_node_multiband = {
    .name = "multiband",
    .doc = "Multiband compressor: `bands` (2..4) bands split by Linkwitz-Riley crossovers "
           "xover1 < xover2 < xover3 (slope 24 or 48 dB/oct), each band compressed like the "
           "`compressor` node (peak detector, thresholdk, ratiok, kneek, attackk, releasek, "
           "makeupk; channels linked by `link`), then summed. Lower bands pass through the "
           "allpasses of the crossovers above them, so all bands share one phase response and "
           "with every ratio at 1 and makeup at 0 the output has exactly the input's magnitude "
           "spectrum (an allpass). Defaults: ratio 1 (neutral); crossovers 200 Hz (2 bands), "
           "200 and 2000 Hz (3), 120, 1000 and 6000 Hz (4). Meters: gr1..gr4 (band gain "
           "reduction, dB), gain_reduction (largest). No latency.",
    .inputs = mb_in, .n_inputs = 1,
    .outputs = mb_out, .n_outputs = 1,
    .params = mb_params, .n_params = (int)(sizeof mb_params / sizeof mb_params[0]),
    .options = mb_opts, .n_options = 2,
    .multi_option = "bands",
    .main_param = "threshold1",
    .state_size = sizeof(mb_state),
    .flags = MG_NODE_INPLACE,
    .create = mb_create,
    .prepare = mb_prepare,
    .reset = mb_reset,
    .process = mb_process,
    .meter = mb_meter,
    .meters = "gain_reduction|gr1|gr2|gr3|gr4",
    .destroy = mb_destroy,
};
