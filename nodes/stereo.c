/*
** stereo.c: the `stereo` node: mid/side width, bass to mono below a crossover, balance, mid/side
** encoding and decoding, and a correlation meter. [control] prepare/destroy, [rt]
** reset/process, [any] the meter.
**
** width mode, per frame (DSP_TESTS §9): M = (L + R)/2, S = (L - R)/2, S' = w S,
**   L' = M + S', R' = M - S' (no level compensation: w = 1 is the identity, w = 0 is mono
**   (L + R)/2 on both sides, and L' + R' = L + R for every w). With `bass_mono` > 0 the side
**   goes through a 24 dB/oct Linkwitz-Riley highpass at that frequency (mg_filter.h) and the mid
**   through the matching allpass (lowpass + highpass), so below the crossover the image is
**   mono and above it M and S keep their phase relation. Then `balance` b attenuates one side
**   linearly: L' (1 - b) for b > 0, R' (1 + b) for b < 0.
** encode: outputs M on the left, S on the right; decode: L = M + S, R = M - S from M on the
**   left and S on the right (decode after encode gives the input back).
** Meter `correlation`: sum(L R) / sqrt(sum(L^2) sum(R^2)) of the output over exponential
** windows with a 300 ms time constant; 0 in silence.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_dynamics.h"
#include "mg_filter.h"

#define CORR_MS 300.0

enum { P_MODE, P_WIDTH, P_BASS_MONO, P_BALANCE, N_PARAMS };
enum { MODE_WIDTH, MODE_ENCODE, MODE_DECODE };

typedef struct stereo_state {
    /* [control] prepare */
    float *buf; /* 3 x block: mid, side, mid's highpass part */
    uint32_t block;
    double corr_a;
    /* [rt] */
    mg_filter_band side_hp, mid_lp, mid_hp;
    int filtering; /* the crossover ran in the last block */
    double s_lr, s_ll, s_rr;
    _Atomic float meter_corr;
} stereo_state;

static const mg_port_desc st_in[] = {
    {.name = "in", .channels = 2, .doc = "stereo signal (mono is spread to both sides)"}};
static const mg_port_desc st_out[] = {{.name = "out", .channels = 2, .doc = "stereo signal"}};

static const mg_param_desc st_params[] = {
    {.name = "mode", .unit = "", .min = 0, .max = 2, .def = MODE_WIDTH, .smooth_ms = 0,
     .choices = "width|encode|decode",
     .doc = "width: L/R in and out with the width, bass and balance controls; encode: L/R to "
            "M/S; decode: M/S to L/R"},
    {.name = "width", .unit = "", .min = 0, .max = 4, .def = 1, .smooth_ms = 20,
     .doc = "side gain w: 0 mono, 1 unchanged, 2 twice the side signal"},
    {.name = "bass_mono", .unit = "Hz", .min = 0, .max = 1000, .def = 0, .smooth_ms = 20,
     .doc = "side removed below this frequency (24 dB/oct Linkwitz-Riley); 0 = off"},
    {.name = "balance", .unit = "", .min = -1, .max = 1, .def = 0, .smooth_ms = 20,
     .doc = "-1 left only .. 0 centre .. 1 right only (the other side attenuated linearly)"},
};

/* [control] */
static mg_status st_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    stereo_state *s = state;
    float *buf = calloc(3 * (size_t)pr->block, sizeof *buf);
    if (!buf)
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate the work buffers");
    free(s->buf);
    s->buf = buf;
    s->block = (uint32_t)pr->block;
    s->corr_a = exp(-1000.0 / (CORR_MS * pr->rate));
    mg_filter_band_init(&s->side_hp, 24, MG_FD_LINKWITZ_RILEY);
    mg_filter_band_init(&s->mid_lp, 24, MG_FD_LINKWITZ_RILEY);
    mg_filter_band_init(&s->mid_hp, 24, MG_FD_LINKWITZ_RILEY);
    s->filtering = 0;
    s->s_lr = s->s_ll = s->s_rr = 0;
    atomic_store_explicit(&s->meter_corr, 0.0f, memory_order_relaxed);
    return MG_OK;
}

/* [rt] */
static void st_reset(void *state)
{
    stereo_state *s = state;
    mg_filter_band_reset(&s->side_hp);
    mg_filter_band_reset(&s->mid_lp);
    mg_filter_band_reset(&s->mid_hp);
    s->filtering = 0;
    s->s_lr = s->s_ll = s->s_rr = 0;
    atomic_store_explicit(&s->meter_corr, 0.0f, memory_order_relaxed);
}

/* [control] */
static void st_destroy(void *state)
{
    stereo_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

/*
** [rt] The crossover on m[0..n-1] and sd[0..n-1] in place: side highpassed, mid allpassed
** (lowpass + highpass). f is the `bass_mono` parameter.
*/
static void crossover(stereo_state *s, const mg_pval *f, float *m, float *sd, uint32_t n,
                      double rate)
{
    static const float hp = MG_FT_HIGHPASS, lp = MG_FT_LOWPASS, q = 0.7071067811865476f,
                       zero = 0;
    mg_pval p[MG_FP_COUNT] = {{&hp, 1}, *f, {&q, 1}, {&zero, 1}, {&zero, 1}};
    float *mh = s->buf + 2 * (size_t)s->block;
    memcpy(mh, m, n * sizeof *m);
    mg_filter_band_process(&s->side_hp, p, 1, &sd, 1, n, rate);
    mg_filter_band_process(&s->mid_hp, p, 1, &mh, 1, n, rate);
    p[MG_FP_TYPE] = (mg_pval){&lp, 1};
    mg_filter_band_process(&s->mid_lp, p, 1, &m, 1, n, rate);
    for (uint32_t i = 0; i < n; i++)
        m[i] += mh[i];
}

/* [rt] */
static void st_process(void *state, const mg_block *b)
{
    stereo_state *s = state;
    const mg_pval *p = b->p;
    const float *l = b->in[0].ch[0], *r = b->in[0].ch[1];
    float *ol = b->out[0].ch[0], *orr = b->out[0].ch[1];
    uint32_t n = b->n;
    int mode = (int)p[P_MODE].v[0];
    if (mode == MODE_ENCODE || mode == MODE_DECODE) {
        double k = mode == MODE_ENCODE ? 0.5 : 1.0;
        for (uint32_t i = 0; i < n; i++) {
            double a = l[i], c = r[i];
            ol[i] = (float)(k * (a + c));
            orr[i] = (float)(k * (a - c));
        }
    } else {
        float *m = s->buf, *sd = s->buf + s->block;
        const mg_pval *f = &p[P_BASS_MONO];
        int on = !(f->constant && !(f->v[0] > 0));
        if (on) {
            for (uint32_t i = 0; i < n; i++) {
                double a = l[i], c = r[i];
                m[i] = (float)(0.5 * (a + c));
                sd[i] = (float)(0.5 * (a - c));
            }
            crossover(s, f, m, sd, n, b->rate);
        } else if (s->filtering) { /* switched off: the next start is from rest */
            mg_filter_band_reset(&s->side_hp);
            mg_filter_band_reset(&s->mid_lp);
            mg_filter_band_reset(&s->mid_hp);
        }
        s->filtering = on;
        if (!on && p[P_WIDTH].constant && p[P_BALANCE].constant) {
            /* the same sums as the loop below, with the settings taken out of it */
            double w = p[P_WIDTH].v[0], bal = p[P_BALANCE].v[0];
            double gl = bal > 0 ? 1 - bal : 1, gr = bal < 0 ? 1 + bal : 1;
            if (w == 1 && gl == 1 && gr == 1) {
                /* M + S and M - S in double are L and R to far under a float's precision:
                   the output is the input */
                if (ol != l)
                    memmove(ol, l, n * sizeof *ol);
                if (orr != r)
                    memmove(orr, r, n * sizeof *orr);
            } else {
                for (uint32_t i = 0; i < n; i++) {
                    double mm = 0.5 * ((double)l[i] + r[i]);
                    double ss = w * 0.5 * ((double)l[i] - r[i]);
                    ol[i] = (float)(gl * (mm + ss));
                    orr[i] = (float)(gr * (mm - ss));
                }
            }
        } else {
            for (uint32_t i = 0; i < n; i++) {
                double w = mg_dyn_pv(&p[P_WIDTH], i), bal = mg_dyn_pv(&p[P_BALANCE], i);
                double mm = m[i], ss = w * sd[i];
                if (!on) { /* exact: M and S from the input in double */
                    mm = 0.5 * ((double)l[i] + r[i]);
                    ss = w * 0.5 * ((double)l[i] - r[i]);
                }
                double gl = bal > 0 ? 1 - bal : 1, gr = bal < 0 ? 1 + bal : 1;
                ol[i] = (float)(gl * (mm + ss));
                orr[i] = (float)(gr * (mm - ss));
            }
        }
    }
    /* correlation of the output */
    double a = s->corr_a, a1 = 1 - a, lr = s->s_lr, ll = s->s_ll, rr = s->s_rr;
    for (uint32_t i = 0; i < n; i++) {
        double x = ol[i], y = orr[i];
        lr = a * lr + a1 * x * y;
        ll = a * ll + a1 * x * x;
        rr = a * rr + a1 * y * y;
    }
    if (!isfinite(lr + ll + rr)) /* a NaN or Inf went through: start the meter again */
        lr = ll = rr = 0;
    if (ll < 1e-30 || rr < 1e-30) { /* silence: no subnormals, correlation 0 */
        ll = ll < 1e-30 ? 0 : ll;
        rr = rr < 1e-30 ? 0 : rr;
        lr = 0;
    }
    s->s_lr = lr;
    s->s_ll = ll;
    s->s_rr = rr;
    double rho = ll > 0 && rr > 0 ? lr / sqrt(ll * rr) : 0.0;
    atomic_store_explicit(&s->meter_corr, (float)rho, memory_order_relaxed);
}

/* [control] Ringing of the bass-mono crossover after the input stops (0 when it is off). */
static int64_t st_tail(const void *state, const mg_node *node, double rate)
{
    (void)state;
    double f = mg_node_get_index(node, P_BASS_MONO);
    if (!(f > 0))
        return 0;
    mg_filter_params fp = {.type = MG_FT_LOWPASS, .freq = f, .q = 0.7071067811865476};
    return 2 * mg_filter_band_tail(&fp, 24, MG_FD_LINKWITZ_RILEY, rate);
}

/* [any] */
static double st_meter(const void *state, const char *name)
{
    stereo_state *s = (stereo_state *)state; /* atomic load only */
    if (strcmp(name, "correlation") == 0)
        return atomic_load_explicit(&s->meter_corr, memory_order_relaxed);
    return NAN;
}

const mg_node_desc mg_node_stereo = {
    .name = "stereo",
    .doc = "Stereo image tools on mid/side. width mode: M = (L + R)/2, S = (L - R)/2, L' = M + w "
           "S, R' = M - w S (no level compensation: w = 1 passes the input unchanged, w = 0 is "
           "mono, L' + R' = L + R always); bass_mono removes the side below a frequency "
           "(24 dB/oct Linkwitz-Riley highpass on S, the matching allpass on M); balance "
           "attenuates one side linearly. encode: L/R to M/S; decode: M/S to L/R (their "
           "inverse). Meter: correlation of the output (-1..1, 300 ms window, 0 in silence). "
           "No latency.",
    .inputs = st_in, .n_inputs = 1,
    .outputs = st_out, .n_outputs = 1,
    .params = st_params, .n_params = N_PARAMS,
    .main_param = "width",
    .state_size = sizeof(stereo_state),
    .flags = MG_NODE_INPLACE,
    .prepare = st_prepare,
    .reset = st_reset,
    .process = st_process,
    .tail = st_tail,
    .meter = st_meter,
    .meters = "correlation",
    .destroy = st_destroy,
};
