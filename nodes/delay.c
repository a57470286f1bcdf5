/*
** delay.c: the `delay` node, an echo (fractional delay line with filtered, limited feedback,
** ping-pong and a wet/dry mix), and the one node type allowed to close a feedback loop in the
** graph. [control] create/prepare/tail/destroy; [rt] reset and the process functions.
**
** Per sample n and channel c, with d the delay in samples (from `time`, or from `note` at
** `bpm`), g = feedback/100, m = mix/100:
**   y_c[n] = s_c(n - d)                         read through the crossfading tap
**   s_c[n] = in_c[n] + L(g * F_c(y_src[n]))     the line's content
**   out_c[n] = (1 - m) x_c[n] + m y_c[n]
** where src = c, or with `ping_pong` the previous channel (c - 1 mod channels) and the input
** of line 0 is the mean of all input channels (the others get none), so echoes alternate.
** F is the loop filter: a 2nd-order Butterworth low-pass at `damp` (off at 20000 Hz) then a
** 2nd-order Butterworth high-pass at `low_cut` (off at 0 Hz), designed with mg_filter.h.
** L limits the fed-back signal: identity for |v| <= 1, sign(v) (1 + tanh(|v| - 1)) above, so
** the loop is linear for feedback signals up to 0 dBFS and the line never exceeds |in| + 2
** even at feedback >= 100 % (which then holds or self-oscillates instead of growing); a
** fractional read can add inter-sample overshoot up to the kernel's sum |g| <= 1.95.
**
** Interpolation: mg_delayline.h's 16-tap Kaiser-sinc kernel (integer delays exact, fractional
** ones flat within 0.001 dB to 10 kHz at 48 kHz), linear below 8 samples. A change of the
** delay (time, note, bpm, or a clamp) crossfades from the old tap to the new one over `fade`
** ms (raised cosine), so time changes do not click and do not bend the pitch.
**
** Parameters are read per sample while they ramp; the loop filter is redesigned at frames
** whose graph index is a multiple of 32 (and at the first frame after a reset) when its
** frequencies changed, its coefficients moving linearly to the new design over the next 32
** frames (no steps), so the output does not depend on the block size.
**
** Limits: d <= max_time (longer requests are clamped); d >= 1 sample while feedback > 0 (a
** loop needs a delay). Inside a graph feedback loop the engine runs process_read (this block's
** output from earlier input) first and process_write (consume the input) last; there
** d >= the block size and the output is the wet part only, m * y (the dry signal cannot pass
** a read half). Latency: none (the delay is the effect).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_delayline.h"
#include "mg_filter.h"
#include "mg_node.h"

enum { OPT_MAX_TIME, OPT_PING_PONG, OPT_FADE };
enum { P_TIME, P_NOTE, P_BPM, P_FEEDBACK, P_DAMP, P_LOW_CUT, P_MIX, N_PARAMS };

#define DAMP_OFF 20000.0f /* damp at its maximum: no low-pass */
#define COEF_EVERY 32     /* loop filter redesign grid, frames of graph time */
#define TAIL_CAP_S 60.0   /* tail reported for endless feedback (>= 100 %), seconds */
#define BUTTERWORTH_Q 0.70710678118654752

/* Note values: "off", then for 1/1 .. 1/64 the plain, dotted and triplet value. */
#define NOTE_CHOICES                                                                            \
    "off|1/1|1/1.|1/1t|1/2|1/2.|1/2t|1/4|1/4.|1/4t|1/8|1/8.|1/8t|1/16|1/16.|1/16t|1/32|1/32.|" \
    "1/32t|1/64|1/64.|1/64t"
#define NOTE_COUNT 22

typedef struct delay_state {
    int ping_pong;  /* [immutable] */
    double fade_ms; /* [immutable] */
    /* [control] set by prepare */
    mg_dline line[MG_MAX_CHANNELS];
    float *fb;      /* channels x block: feedback the read half leaves for the write half */
    int channels;
    int block;
    double rate;
    double dmax;    /* longest delay, samples */
    /* [rt] */
    uint32_t w;     /* line index of the next frame to write */
    int mode;       /* 0 not yet run, 1 whole (process), 2 split (read/write halves) */
    mg_xtap tap;
    int coef_ok;
    float damp_hz, low_cut_hz; /* what the filters were designed for */
    mg_bq_ramp lp, hp; /* move to each new design over COEF_EVERY frames */
    mg_biquad_state lps[MG_MAX_CHANNELS], hps[MG_MAX_CHANNELS];
} delay_state;

static const mg_port_desc delay_in[] = {{.name = "in", .channels = MG_CH_MAX, .doc = "signal"}};
static const mg_port_desc delay_out[] = {
    {.name = "out", .channels = MG_CH_FOLLOW, .doc = "echoes mixed with the signal"}};
static const mg_param_desc delay_params[] = {
    {.name = "time", .unit = "ms", .min = 0, .max = 60000, .def = 250, .smooth_ms = 0,
     .doc = "delay time when note = off; fractional samples allowed; at most max_time"},
    {.name = "note", .unit = "", .min = 0, .max = NOTE_COUNT - 1, .def = 0, .smooth_ms = 0,
     .choices = NOTE_CHOICES,
     .doc = "delay as a note value at bpm (1/4 = one beat, '.' dotted x1.5, 't' triplet x2/3); "
            "off = use time"},
    {.name = "bpm", .unit = "", .min = 0, .max = 400, .def = 0, .smooth_ms = 0,
     .doc = "tempo for note, quarter notes per minute: d = 60/bpm * 4/N * (1.5 | 2/3) s; "
            "0 = the graph's tempo (g.tempo, default 120)"},
    {.name = "feedback", .unit = "%", .min = 0, .max = 120, .def = 0, .smooth_ms = 20,
     .doc = "echo repeat gain g = feedback/100 (echo k has g^(k-1)); 100 holds, above 100 "
            "self-oscillates, both bounded by the loop limiter"},
    {.name = "damp", .unit = "Hz", .min = 200, .max = 20000, .def = 20000, .smooth_ms = 20,
     .doc = "2nd-order Butterworth low-pass in the feedback loop; 20000 = off"},
    {.name = "low_cut", .unit = "Hz", .min = 0, .max = 2000, .def = 0, .smooth_ms = 20,
     .doc = "2nd-order Butterworth high-pass in the feedback loop; 0 = off"},
    {.name = "mix", .unit = "%", .min = 0, .max = 100, .def = 100, .smooth_ms = 20,
     .doc = "wet share, linear: out = (1 - mix) dry + mix wet; 100 = delayed signal only"},
};
static const mg_option_desc delay_opts[] = {
    {.name = "max_time", .type = MG_OPT_NUMBER, .unit = "s", .min = 0.001, .max = 60, .def = 5,
     .doc = "longest delay the line can hold (sets its memory: max_time * rate floats per "
            "channel)"},
    {.name = "ping_pong", .type = MG_OPT_BOOL, .min = 0, .max = 1, .def = 0,
     .doc = "cross-feedback: the mean input enters channel 1 and each channel's echo feeds "
            "the next channel (stereo: L, R, L, ...)"},
    {.name = "fade", .type = MG_OPT_NUMBER, .unit = "ms", .min = 1, .max = 1000, .def = 50,
     .doc = "crossfade length for delay-time changes (raised cosine between two read taps)"},
};

static mg_status delay_create(void *state, mg_node *node)
{
    delay_state *s = state;
    s->ping_pong = mg_node_opt_num(node, OPT_PING_PONG) != 0;
    s->fade_ms = mg_node_opt_num(node, OPT_FADE);
    return MG_OK;
}

static void delay_reset(void *state)
{
    delay_state *s = state;
    for (int c = 0; c < s->channels; c++) {
        mg_dline_clear(&s->line[c]);
        mg_biquad_reset(&s->lps[c]);
        mg_biquad_reset(&s->hps[c]);
    }
    s->w = 0;
    s->mode = 0;
    s->coef_ok = 0;
    mg_xtap_reset(&s->tap);
}

static mg_status delay_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    delay_state *s = state;
    double max_s = mg_node_opt_num(node, OPT_MAX_TIME);
    int ch = pr->out_ch[0];
    uint64_t need = (uint64_t)ceil(max_s * pr->rate) + (uint64_t)pr->block + MG_FD_TAPS + 4;
    float *fb = calloc((size_t)ch * (size_t)pr->block, sizeof *fb);
    mg_dline lines[MG_MAX_CHANNELS] = {{0}};
    int ok = fb != NULL;
    for (int c = 0; c < ch && ok; c++)
        ok = mg_dline_init(&lines[c], need) == 0;
    if (!ok) {
        free(fb);
        for (int c = 0; c < ch; c++)
            mg_dline_free(&lines[c]);
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate a %g s delay line", max_s);
    }
    for (int c = 0; c < MG_MAX_CHANNELS; c++) {
        mg_dline_free(&s->line[c]);
        s->line[c] = lines[c];
    }
    free(s->fb);
    s->fb = fb;
    s->channels = ch;
    s->block = pr->block;
    s->rate = pr->rate;
    s->dmax = floor(max_s * pr->rate);
    mg_xtap_setup(&s->tap, (uint32_t)lrint(s->fade_ms * 0.001 * pr->rate), MG_FD_HALF);
    delay_reset(s);
    return MG_OK;
}

/* [any] Delay in samples requested by time/note/bpm (before clamping); bpm 0 follows the
   graph tempo. */
static double requested(double time_ms, double note, double bpm, double tempo, double rate)
{
    int k = (int)note;
    if (k <= 0 || k >= NOTE_COUNT)
        return time_ms * rate / 1000.0;
    if (bpm <= 0)
        bpm = tempo;
    double beats = 4.0 / (double)(1 << ((k - 1) / 3));
    static const double kind[3] = {1.0, 1.5, 2.0 / 3.0};
    return 60.0 / bpm * beats * kind[(k - 1) % 3] * rate;
}

/* [control] Echoes until they fall below -60 dB: ceil(3 / -log10 g) repeats of d (one when
   g = 0), capped at TAIL_CAP_S for g >= 1. */
static int64_t delay_tail(const void *state, const mg_node *node, double rate)
{
    const delay_state *s = state;
    double d = requested(mg_node_get_index(node, P_TIME), mg_node_get_index(node, P_NOTE),
                         mg_node_get_index(node, P_BPM), mg_graph_tempo(mg_node_graph(node)),
                         rate);
    double dmax = s->dmax > 0 ? s->dmax : floor(mg_node_opt_num(node, OPT_MAX_TIME) * rate);
    double g = mg_node_get_index(node, P_FEEDBACK) / 100.0;
    d = d < dmax ? d : dmax;
    double repeats = 1;
    if (g >= 1)
        return (int64_t)ceil(TAIL_CAP_S * rate);
    if (g > 1e-6)
        repeats = fmax(1.0, ceil(3.0 / -log10(g)));
    double t = repeats * fmax(d, g > 1e-6 ? 1.0 : 0.0);
    if (t > TAIL_CAP_S * rate)
        t = TAIL_CAP_S * rate;
    int64_t frames = (int64_t)ceil(t - 1e-9);
    return frames + (d != floor(d) ? MG_FD_HALF : 0);
}

/* [rt] the loop limiter L */
static inline float limit(float v)
{
    float a = fabsf(v);
    if (a <= 1.0f)
        return v;
    float l = 1.0f + tanhf(a - 1.0f);
    return v < 0 ? -l : l;
}

/*
** [rt] Redesign the loop filters when their frequencies changed; the coefficients move to
** the new design over the next COEF_EVERY frames. A filter switched on starts from a clear
** state.
*/
static void update_filters(delay_state *s, float damp, float low_cut)
{
    if (s->coef_ok && damp == s->damp_hz && low_cut == s->low_cut_hz)
        return;
    if (damp != s->damp_hz || !s->coef_ok) {
        int was_on = s->coef_ok && s->damp_hz < DAMP_OFF;
        mg_biquad q = mg_biquad_design(MG_FT_LOWPASS, damp, BUTTERWORTH_Q, 0, s->rate);
        mg_bq_ramp_set(&s->lp, &q, was_on && damp < DAMP_OFF ? COEF_EVERY : 0);
        for (int c = 0; c < s->channels && !was_on; c++)
            mg_biquad_reset(&s->lps[c]);
    }
    if (low_cut != s->low_cut_hz || !s->coef_ok) {
        int was_on = s->coef_ok && s->low_cut_hz > 0;
        mg_biquad q = mg_biquad_design(MG_FT_HIGHPASS, low_cut, BUTTERWORTH_Q, 0, s->rate);
        mg_bq_ramp_set(&s->hp, &q, was_on && low_cut > 0 ? COEF_EVERY : 0);
        for (int c = 0; c < s->channels && !was_on; c++)
            mg_biquad_reset(&s->hps[c]);
    }
    s->damp_hz = damp;
    s->low_cut_hz = low_cut;
    s->coef_ok = 1;
}

static inline float pv(const mg_pval *p, uint32_t i) { return p->constant ? p->v[0] : p->v[i]; }

/* [rt] After a plan change the node may move between whole and split running: re-prime the
   tap with the look-ahead the new mode allows. */
static void set_mode(delay_state *s, int mode)
{
    if (s->mode == mode)
        return;
    s->mode = mode;
    s->tap.sinc_min = mode == 2 ? (uint32_t)s->block + MG_FD_HALF - 1 : MG_FD_HALF;
    mg_xtap_reset(&s->tap);
}

/*
** [rt] The per-sample core of the whole node (in != NULL: writes the line) and of the read
** half (in == NULL: leaves the feedback in s->fb for the write half). dmin_loop is the
** smallest delay the mode allows (0 whole, the block size split).
*/
static void run(delay_state *s, const mg_block *b, const mg_buf *in, double dmin_loop)
{
    const int C = s->channels;
    const mg_pval *P = b->p;
    int all_const = 1;
    for (int k = 0; k < N_PARAMS; k++)
        all_const &= P[k].constant;
    double dreq = requested(P[P_TIME].v[0], P[P_NOTE].v[0], P[P_BPM].v[0], b->tempo, s->rate);
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t pos = s->w + i;
        if (!all_const)
            dreq = requested(pv(&P[P_TIME], i), pv(&P[P_NOTE], i), pv(&P[P_BPM], i), b->tempo,
                             s->rate);
        float g = pv(&P[P_FEEDBACK], i) * 0.01f, m = pv(&P[P_MIX], i) * 0.01f;
        if (!s->coef_ok || ((b->pos + i) % COEF_EVERY) == 0)
            update_filters(s, pv(&P[P_DAMP], i), pv(&P[P_LOW_CUT], i));
        double dmin = g > 0 ? fmax(dmin_loop, 1.0) : dmin_loop;
        double d = dreq < dmin ? dmin : dreq > s->dmax ? s->dmax : dreq;
        mg_xtap_step(&s->tap, d);
        float y[MG_MAX_CHANNELS], xin[MG_MAX_CHANNELS];
        if (in) { /* whole node: the input goes into the line before the read (d < 1 reads it) */
            float mean = 0;
            for (int c = 0; c < C; c++)
                mean += in->ch[c][i];
            mean /= (float)C;
            for (int c = 0; c < C; c++) {
                xin[c] = s->ping_pong ? (c == 0 ? mean : 0.0f) : in->ch[c][i];
                mg_dline_put(&s->line[c], pos, xin[c]);
            }
        }
        for (int c = 0; c < C; c++)
            y[c] = mg_xtap_read(&s->tap, &s->line[c], pos);
        int lp_on = s->damp_hz < DAMP_OFF, hp_on = s->low_cut_hz > 0;
        mg_bq_ramp_tick(&s->lp);
        mg_bq_ramp_tick(&s->hp);
        for (int c = 0; c < C; c++) {
            double v = y[s->ping_pong ? (c + C - 1) % C : c];
            if (lp_on)
                v = mg_dl_biquad_step(&s->lps[c], &s->lp.cur, v);
            if (hp_on)
                v = mg_dl_biquad_step(&s->hps[c], &s->hp.cur, v);
            float fbv = limit(g * (float)v);
            if (in)
                mg_dline_put(&s->line[c], pos, xin[c] + fbv);
            else
                s->fb[(size_t)c * (size_t)s->block + i] = fbv;
            b->out[0].ch[c][i] = in ? (1.0f - m) * in->ch[c][i] + m * y[c] : m * y[c];
        }
    }
    for (int c = 0; c < C; c++) { /* filter state: no NaN latch, no subnormals */
        mg_dl_biquad_clean(&s->lps[c]);
        mg_dl_biquad_clean(&s->hps[c]);
    }
}

/* [rt] whole node */
static void delay_process(void *state, const mg_block *b)
{
    delay_state *s = state;
    set_mode(s, 1);
    run(s, b, &b->in[0], 0.0);
    s->w += b->n;
}

/* [rt] read half: this block's output from input written in earlier blocks */
static void delay_process_read(void *state, const mg_block *b)
{
    delay_state *s = state;
    set_mode(s, 2);
    run(s, b, NULL, (double)s->block);
}

/* [rt] write half: the input plus the feedback the read half computed */
static void delay_process_write(void *state, const mg_block *b)
{
    delay_state *s = state;
    const int C = s->channels;
    for (uint32_t i = 0; i < b->n; i++) {
        float m = 0;
        if (s->ping_pong) {
            for (int c = 0; c < C; c++)
                m += b->in[0].ch[c][i];
            m /= (float)C;
        }
        for (int c = 0; c < C; c++) {
            float x = s->ping_pong ? (c == 0 ? m : 0.0f) : b->in[0].ch[c][i];
            mg_dline_put(&s->line[c], s->w + i, x + s->fb[(size_t)c * (size_t)s->block + i]);
        }
    }
    s->w += b->n;
}

static void delay_destroy(void *state)
{
    delay_state *s = state;
    for (int c = 0; c < MG_MAX_CHANNELS; c++)
        mg_dline_free(&s->line[c]);
    free(s->fb);
}

const mg_node_desc mg_node_delay = {
    .name = "delay",
    .doc = "Echo: the signal delayed by `time` ms (or a `note` value at `bpm`: 1/8 at 120 is 0.25 "
           "s), fed back with gain feedback/100 through a loop filter (Butterworth low-pass "
           "`damp`, high-pass `low_cut`) and a limiter (the fed-back signal is linear up to 0 dBFS"
           " and never exceeds +6 dBFS), optionally ping-pong between channels, mixed linearly "
           "with the dry signal by `mix` %. Echo k of an impulse has amplitude "
           "(feedback/100)^(k-1) at k*d. Fractional delays use a 16-tap Kaiser-windowed sinc (flat"
           " within 0.001 dB to 10 kHz at 48 kHz; integer delays exact; linear interpolation below"
           " 8 samples). Delay changes crossfade between two read taps over `fade` ms: no clicks, "
           "no pitch bend. Ramping parameters are read per sample (loop filters redesigned every "
           "32 frames), block-size independent. Tail: until the echoes fall below -60 dB, capped "
           "at 60 s. No latency. The only node that may close a feedback loop: there the delay is "
           "at least one block and the output is the wet part only (mix * delayed).",
    .inputs = delay_in, .n_inputs = 1,
    .outputs = delay_out, .n_outputs = 1,
    .params = delay_params, .n_params = N_PARAMS,
    .options = delay_opts, .n_options = 3,
    .main_param = "time",
    .state_size = sizeof(delay_state),
    .flags = MG_NODE_FEEDBACK,
    .create = delay_create,
    .prepare = delay_prepare,
    .reset = delay_reset,
    .process = delay_process,
    .process_read = delay_process_read,
    .process_write = delay_process_write,
    .tail = delay_tail,
    .destroy = delay_destroy,
};
