/*
** noise.c: the `noise` node, white or pink noise playing one note shaped by the shared source
** envelope (source_env.h). [control] create/prepare/destroy, [rt] reset/process.
**
** White: uniform samples in [-sqrt(3), sqrt(3)) (unit variance) times A = 10^(gain/20), so the
** long-run RMS is A and the peak at most +4.77 dB above it. Each channel has its own PCG32
** generator (O'Neill 2014, XSH-RR 64/32) whose state and stream are derived from `seed` and the
** channel index by SplitMix64: the same seed always gives the same samples, channels are
** uncorrelated. The generator advances only on note frames, so the output is a function of the
** absolute frame index and independent of the block size.
**
** Pink: the white samples through a cascade of first-order sections (1 - z_k/z)/(1 - p_k/z):
** a lone pole at f0 = 0.238 fs, then one pole and one zero per octave, pole k at f0 / 2^k with
** its zero half an octave above, down to the first pole below 5 Hz (13 sections at 48 kHz,
** -3.01 dB/octave on average, slightly rippled between corners). The corner
** frequencies are fixed fractions of the rate (matched z-transform: p = exp(-2 pi f / fs)), so
** the shape near Nyquist is the same at every rate. The top pole position was found by an
** offline search to keep the response within +-0.2 dB of 1/f from 20 Hz to 0.45 fs (+-0.23 dB
** at 22.05 and 44.1 kHz); below ~5 Hz it is flat. The output is scaled by 1/sqrt(sum h[n]^2)
** of the cascade's impulse response (computed in prepare), so the long-run RMS equals A as for
** white noise, to within the estimation noise of a finite measurement (pink noise has much of
** its variance at low frequencies: 20 s measure within 0.15 dB).
*/
#include <math.h>
#include <string.h>

#include "mg_node.h"
#include "source_env.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { OPT_COLOR, OPT_SEED, OPT_CHANNELS, OPT_ENV };
enum { P_GAIN };
enum { COLOR_WHITE, COLOR_PINK };

#define PINK_MAX 24    /* sections: 13 at 48 kHz, 15 at 192 kHz */
#define PINK_TOP 0.238 /* highest pole, fraction of the rate */
#define PINK_LOW 5.0   /* Hz: the ladder stops at the first pole below this */

typedef struct pcg32 {
    uint64_t state, inc;
} pcg32;

typedef struct noise_chan {
    pcg32 rng;          /* [rt] */
    double z[PINK_MAX]; /* [rt] one state per pink section (transposed direct form II) */
} noise_chan;

typedef struct noise_state {
    int color;                             /* [immutable] */
    uint64_t seed;                         /* [immutable] */
    mg_env_config envc;                    /* [immutable] */
    mg_env env;                            /* [control] prepared, [rt] scratch */
    int n_sec;                             /* [control] pink sections */
    double pole[PINK_MAX], zero[PINK_MAX]; /* [control] pink design for the rate */
    double norm;                           /* [control] pink: 1 / RMS gain of the cascade */
    noise_chan ch[MG_MAX_CHANNELS];
} noise_state;

static const mg_port_desc noise_out[] = {
    {.name = "out", .channels = MG_CH_OPTION, .doc = "one independent stream per channel"}};
static const mg_param_desc noise_params[] = {
    {.name = "gain", .unit = "dB", .min = -144, .max = 24, .def = -12, .smooth_ms = 20,
     .doc = "RMS level; -144 is silence"},
};
static const mg_option_desc noise_opts[] = {
    {.name = "color", .type = MG_OPT_ENUM, .choices = "white|pink", .def = 0,
     .doc = "white: flat spectrum; pink: -3 dB per octave"},
    {.name = "seed", .type = MG_OPT_INT, .min = 0, .max = 4294967295.0, .def = 1,
     .doc = "generator seed; the same seed gives the same noise"},
    {.name = "channels", .type = MG_OPT_INT, .min = 1, .max = MG_MAX_CHANNELS, .def = 1,
     .doc = "output channels (independent streams)"},
    MG_ENV_OPTIONS,
};

/* [any] SplitMix64 (Steele, Lea & Flood 2014): seeds the generators. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* [rt] PCG32, XSH-RR output. */
static uint32_t pcg32_next(pcg32 *g)
{
    uint64_t old = g->state;
    g->state = old * 6364136223846793005u + g->inc;
    uint32_t xs = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xs >> rot) | (xs << ((32u - rot) & 31u));
}

/* [rt] Uniform on (-sqrt 3, sqrt 3) with 24-bit resolution, symmetric about 0: unit variance. */
static double unit_uniform(pcg32 *g)
{
    double u = ((double)(pcg32_next(g) >> 8) + 0.5) * (1.0 / 16777216.0); /* (0, 1) */
    return (2.0 * u - 1.0) * 1.7320508075688772;
}

/* [control] Pink cascade for `rate`: poles and zeros, and the normalisation. */
static void pink_compute(noise_state *s, double rate)
{
    int n = 0;
    double p = PINK_TOP * rate;
    s->pole[n] = exp(-2 * M_PI * p / rate);
    s->zero[n++] = 0; /* the lone top pole */
    while (p >= PINK_LOW && n < PINK_MAX) {
        double z = p * 0.70710678118654752; /* half an octave above the new pole */
        p *= 0.5;
        s->zero[n] = exp(-2 * M_PI * z / rate);
        s->pole[n++] = exp(-2 * M_PI * p / rate);
    }
    s->n_sec = n;
    /* energy of the impulse response, run until the slowest pole has decayed by 1e-9 */
    double z[PINK_MAX] = {0}, energy = 0;
    long len = (long)ceil(log(1e-9) / log(s->pole[n - 1])) + 64;
    for (long i = 0; i < len; i++) {
        double x = i == 0 ? 1.0 : 0.0;
        for (int k = 0; k < n; k++) {
            double y = x + z[k];
            z[k] = s->pole[k] * y - s->zero[k] * x;
            x = y;
        }
        energy += x * x;
    }
    s->norm = 1.0 / sqrt(energy);
}

/* [control] The design for the last rate asked, kept: a patch makes many noise nodes at one
   rate, and the normalisation above runs the impulse response for tens of thousands of
   samples. */
static void pink_design(noise_state *s, double rate)
{
    static noise_state cache;
    static double cache_rate;
    if (cache_rate != rate) {
        pink_compute(&cache, rate);
        cache_rate = rate;
    }
    s->n_sec = cache.n_sec;
    s->norm = cache.norm;
    memcpy(s->pole, cache.pole, sizeof s->pole);
    memcpy(s->zero, cache.zero, sizeof s->zero);
}

/* [control] */
static mg_status noise_create(void *state, mg_node *node)
{
    noise_state *s = state;
    s->color = (int)mg_node_opt_num(node, OPT_COLOR);
    s->seed = (uint64_t)mg_node_opt_num(node, OPT_SEED);
    mg_env_config_read(&s->envc, node, OPT_ENV);
    return MG_OK;
}

/* [rt] Generators back to their seeded state, filters cleared. */
static void noise_reset(void *state)
{
    noise_state *s = state;
    for (int c = 0; c < MG_MAX_CHANNELS; c++) {
        uint64_t x = s->seed ^ ((uint64_t)(c + 1) << 40);
        pcg32 *g = &s->ch[c].rng;
        g->inc = splitmix64(&x) | 1u;
        g->state = 0;
        pcg32_next(g);
        g->state += splitmix64(&x);
        pcg32_next(g);
        memset(s->ch[c].z, 0, sizeof s->ch[c].z);
    }
}

/* [control] Envelope and pink design for the rate. Leaves the node reset. */
static mg_status noise_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    noise_state *s = state;
    mg_status st = mg_env_prepare(&s->env, &s->envc, pr->rate, pr->block, node);
    if (st)
        return st;
    if (s->color == COLOR_PINK)
        pink_design(s, pr->rate);
    pr->length = mg_env_length(&s->env);
    noise_reset(s);
    return MG_OK;
}

/* [rt] One stream per channel, generated on the note frames only. */
static void noise_process(void *state, const mg_block *b)
{
    noise_state *s = state;
    mg_buf *out = &b->out[0];
    uint32_t lo, count = mg_env_run(&s->env, b->pos, b->n, &lo);
    mg_env_clear_outside(out, b->n, lo, count);
    const mg_pval *pg = &b->p[P_GAIN];
    const float *env = s->env.gain;
    double norm = s->color == COLOR_PINK ? s->norm : 1.0;
    float amp0 = mg_db_to_amp(pg->v[0]);
    for (int c = 0; c < out->channels; c++) {
        noise_chan *nc = &s->ch[c];
        float *y = out->ch[c];
        for (uint32_t i = lo; i < lo + count; i++) {
            double x = unit_uniform(&nc->rng);
            if (s->color == COLOR_PINK) {
                for (int k = 0; k < s->n_sec; k++) {
                    double v = x + nc->z[k];
                    nc->z[k] = s->pole[k] * v - s->zero[k] * x;
                    x = v;
                }
            }
            float amp = pg->constant ? amp0 : mg_db_to_amp(pg->v[i]);
            y[i] = (float)(x * norm) * amp * env[i];
        }
    }
}

/* [control] */
static void noise_destroy(void *state)
{
    noise_state *s = state;
    mg_env_free(&s->env);
}

const mg_node_desc mg_node_noise = {
    .name = "noise",
    .doc = "White or pink noise playing one note. White: uniform samples scaled to RMS "
           "10^(gain/20) (peak +4.77 dB above the RMS); PCG32 per channel seeded from `seed` "
           "and the channel index, so a seed always gives the same noise and channels are "
           "independent. Pink: white through a cascade of first-order pole/zero sections, one "
           "pole and one zero per octave from 0.238 fs down to ~5 Hz, designed for the sample "
           "rate: within +-0.25 dB of -3.01 dB/octave from 20 Hz to 0.45 fs, flat below ~5 Hz; "
           "scaled so its long-run RMS equals the gain like white noise. The note envelope "
           "(start, duration, attack, release, decay) works as for `osc`. No latency.",
    .outputs = noise_out, .n_outputs = 1,
    .params = noise_params, .n_params = 1,
    .options = noise_opts, .n_options = (int)(sizeof noise_opts / sizeof noise_opts[0]),
    .main_param = "gain",
    .state_size = sizeof(noise_state),
    .create = noise_create,
    .prepare = noise_prepare,
    .reset = noise_reset,
    .process = noise_process,
    .destroy = noise_destroy,
};
