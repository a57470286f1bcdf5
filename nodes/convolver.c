/*
** convolver.c: the `convolver` node, convolution with an impulse response (IR) read from a
** sound file: convolution reverb, cabinets, any long FIR. [control] create, prepare, destroy
** and the IR swap of mg_convolver.h; [rt] reset and process.
**
** Algorithm: zero-latency non-uniformly partitioned convolution (after Gardner, JAES 1995),
** float32 with FFTW. The IR is cut into
**   - a head h[0, 64) run as a direct-form FIR, sample by sample, and
**   - levels of uniform partitions of B = 64, 256, 1024, 4096, 16384 frames; the level of
**     partition B covers h[B, 4B) in 3 partitions, the last level everything from its B to
**     the end, in as many partitions as needed.
** Each level is a uniformly partitioned overlap-save convolver (FFT size 2B, a frequency-domain
** delay line of input spectra, one complex multiply-add per partition and bin). It runs at the
** level's block boundaries (every B frames since reset): the input spectrum of x[t-2B, t) is
** pushed, the sum over partitions is inverse transformed, and its valid half is the level's
** contribution to the next B output frames. Because a level starts B frames into the IR, that
** contribution is due exactly when it is computed: no latency. All boundaries fall on
** multiples of 64 frames from reset whatever the host block size, and every sum is formed in
** the same order, so the output is bit-identical at any block size.
** Cost per frame and channel: 64 multiply-adds, ~5 FFT pairs amortised, and 4 (B+1)/B complex
** multiply-adds per partition; the work of level B arrives in one burst every B frames (at
** most a 32768-point FFT pair and the tail level's partitions), which matters only for
** real-time use with small host blocks.
**
** Channels: with C IR channels and I input channels the output has I channels when C = 1 or
** I > 1, else C; output channel c convolves input channel (I = 1 ? 0 : c) with IR channel
** c mod C. So a mono IR applies to every channel, a stereo IR to L/R of a stereo input and
** turns a mono input into stereo; other counts map channel c to IR channel c mod C.
**
** Threads: FFTW plans are made in prepare, on the control thread, under the engine's planner
** lock (mg_fft.h: the planner is not thread-safe); the processing thread
** only executes them (fftwf_execute is thread-safe) and allocates nothing. An IR swap
** (mg_convolver.h) builds the new kernel on the control
** thread and hands it over through an atomic pointer; the processing thread hands the old one
** back the same way when its crossfade ends, and the control thread frees it.
*/
#include <fftw3.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mg_convolver.h"
#include "mg_fft.h"
#include "mg_node.h"
#include "mg_sndfile.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define HEAD 64        /* direct-form taps, and the grain of all boundaries */
#define B_FIRST 64     /* partition of the first FFT level */
#define B_LAST 16384   /* largest partition */
#define LEVEL_PARTS 3  /* partitions per level but the last: level B covers h[B, 4B) */
#define MAX_LEVELS 5   /* 64, 256, 1024, 4096, 16384 */
#define IR_MAX_S 120.0 /* longest IR accepted, seconds */
#define XFADE_MAX_S 10.0

enum { OPT_PATH, OPT_NORMALIZE, OPT_MAX_LENGTH };
enum { P_MIX, P_GAIN };
enum { NORM_NONE, NORM_ENERGY, NORM_PEAK };

/* [control] An IR as read from its file: interleaved floats at the file's rate. */
typedef struct ir_source {
    float *data;
    int64_t frames;
    int channels;
    double rate;
} ir_source;

/*
** The IR prepared for one rate and level layout. [immutable] once handed to the processing
** thread. H[l] holds, per IR channel, parts[l] partition spectra of B+1 bins, scaled by 1/(2B)
** (FFTW's inverse is unnormalised).
*/
typedef struct kernel {
    int channels;
    int64_t len;                       /* frames at the graph rate */
    uint32_t xfade;                    /* frames of crossfade when swapped in */
    float head[MG_MAX_CHANNELS][HEAD]; /* time-reversed: head[c][HEAD - 1 - j] = h_c[j] */
    int parts[MAX_LEVELS];
    fftwf_complex *H[MAX_LEVELS];
} kernel;

/* One uniformly partitioned level. Arrays are fftwf_malloc'd (the plans' alignment). */
typedef struct level {
    int B;
    int parts;           /* [control] delay-line slots: partitions the capacity needs */
    fftwf_plan fwd, inv; /* [control] made in prepare; executed [rt] */
    float *tin;          /* 2B: input segment (fwd's input) */
    fftwf_complex *spec; /* B+1: fwd's output */
    fftwf_complex *acc;  /* B+1: sum over partitions (inv's input) */
    float *tout;         /* 2B: inv's output */
    fftwf_complex *fdl;  /* [rt] input channels x parts x (B+1): input spectra */
    int pos;             /* [rt] slot of the newest spectrum */
    float *out[2];       /* [rt] output channels x B per kernel slot: this period's part */
} level;

typedef struct conv_state {
    /* [control] */
    mg_node *node;
    char *path;
    ir_source src; /* the current IR, kept for the next prepare */
    int normalize;
    double max_length;
    int prepared;
    double rate;
    int in_ch, out_ch;
    int ic_of[MG_MAX_CHANNELS], hc_of[MG_MAX_CHANNELS]; /* input and IR channel per output */
    int64_t cap;  /* longest IR (frames) the levels are laid out for */
    int64_t tail; /* frames: length of the newest IR */
    int n_levels;
    level lv[MAX_LEVELS];
    float *hist[MG_MAX_CHANNELS]; /* per input channel: the most recent input, linear */
    int hist_cap, hist_keep;
    float *wet[2]; /* HEAD frames of wet signal per kernel slot */

    /* shared between control and processing thread */
    _Atomic(kernel *) pending; /* control -> rt: a new kernel to crossfade to */
    _Atomic(kernel *) retired; /* rt -> control: the kernel a finished crossfade left */
    atomic_int busy;           /* set by control on a swap, cleared by rt when it is done */

    /* [rt] */
    kernel *kern[2];
    int cur;   /* slot of the current kernel */
    int xf_on; /* crossfading from kern[cur] to kern[cur ^ 1] */
    uint32_t xf_pos, xf_len;
    uint64_t t; /* frames since reset */
    int hist_n; /* valid frames in hist; x[t - 1] is hist[c][hist_n - 1] */
} conv_state;

/* ---- control side: IR files and kernels ---- */

static void ir_free(ir_source *s)
{
    free(s->data);
    memset(s, 0, sizeof *s);
}

/* Read a whole IR file. 0, or -1 with the reason in why. */
static int ir_load(ir_source *s, const char *path, char *why, size_t whysz)
{
    memset(s, 0, sizeof *s);
    mg_sndfile f;
    if (mg_sndfile_open_read(&f, path, why, whysz))
        return -1;
    const SF_INFO *in = &f.info;
    int err = 0;
    if (in->channels < 1 || in->channels > MG_MAX_CHANNELS)
        err = snprintf(why, whysz, "%d channels; at most %d are supported", in->channels,
                       MG_MAX_CHANNELS);
    else if (in->samplerate < 1)
        err = snprintf(why, whysz, "no valid sample rate");
    else if (in->frames < 1)
        err = snprintf(why, whysz, "contains no audio");
    else if ((double)in->frames > IR_MAX_S * in->samplerate)
        err = snprintf(why, whysz, "%.1f s long; impulse responses may last %g s at most",
                       (double)in->frames / in->samplerate, IR_MAX_S);
    if (err) {
        mg_sndfile_close(&f);
        return -1;
    }
    s->channels = in->channels;
    s->rate = in->samplerate;
    s->data = malloc((size_t)in->frames * (size_t)in->channels * sizeof(float));
    if (!s->data) {
        mg_sndfile_close(&f);
        snprintf(why, whysz, "out of memory");
        return -1;
    }
    int64_t got = 0;
    while (got < in->frames) {
        sf_count_t r = sf_readf_float(f.sf, s->data + got * in->channels, in->frames - got);
        if (r <= 0)
            break;
        got += r;
    }
    mg_sndfile_close(&f);
    if (got < 1) {
        ir_free(s);
        snprintf(why, whysz, "contains no audio");
        return -1;
    }
    s->frames = got;
    return 0;
}

static void kernel_free(kernel *k)
{
    if (!k)
        return;
    for (int l = 0; l < MAX_LEVELS; l++)
        fftwf_free(k->H[l]);
    free(k);
}

/*
** The IR at `rate` as planar channels h[c][0, *len): resampled with libsamplerate
** (SRC_SINC_BEST_QUALITY) to round(frames * ratio) frames and scaled by file rate / rate so
** that the frequency response H(f) stays the same (resampling the samples alone would scale it
** by the rate ratio). Returns one allocation holding all channels, or NULL.
*/
static float *ir_at_rate(const ir_source *s, double rate, int64_t *len, char *why, size_t whysz)
{
    int ch = s->channels;
    const float *x = s->data;
    float *rs = NULL;
    int64_t n = s->frames;
    double g = 1.0;
    if (rate != s->rate) {
        double ratio = rate / s->rate;
        if (!src_is_valid_ratio(ratio)) {
            snprintf(why, whysz, "cannot resample from %g Hz to %g Hz", s->rate, rate);
            return NULL;
        }
        int64_t want = llround((double)s->frames * ratio);
        if (want < 1)
            want = 1;
        long room = (long)want + 64;
        rs = calloc((size_t)room * (size_t)ch, sizeof(float));
        if (!rs) {
            snprintf(why, whysz, "out of memory");
            return NULL;
        }
        SRC_DATA d = {.data_in = x,
                      .data_out = rs,
                      .input_frames = (long)s->frames,
                      .output_frames = room,
                      .src_ratio = ratio};
        int e = src_simple(&d, SRC_SINC_BEST_QUALITY, ch);
        if (e) {
            free(rs);
            snprintf(why, whysz, "resampling: %s", src_strerror(e));
            return NULL;
        }
        /* frames the converter did not produce stay zero (calloc): exactly `want` frames */
        x = rs;
        n = want;
        g = s->rate / rate;
    }
    float *h = malloc((size_t)n * (size_t)ch * sizeof(float));
    if (!h) {
        free(rs);
        snprintf(why, whysz, "out of memory");
        return NULL;
    }
    for (int c = 0; c < ch; c++)
        for (int64_t i = 0; i < n; i++)
            h[(size_t)c * (size_t)n + (size_t)i] = (float)(x[(size_t)i * ch + c] * g);
    free(rs);
    *len = n;
    return h;
}

/*
** Scale for the `normalize` option. energy: 1 / sqrt(mean over channels of sum h^2), so the
** channels' average energy is 1 (white noise keeps its RMS). peak: 1 / max over channels and
** bins of |H[k]|, H the DFT of size N = smallest power of two >= 2 len (>= 64), so the
** magnitude response peaks at 0 dB on that grid. 0 when the IR is silent; -1 on no memory.
*/
static double norm_scale(int mode, const float *h, int ch, int64_t len)
{
    if (mode == NORM_ENERGY) {
        double e = 0;
        for (int64_t i = 0; i < len * ch; i++)
            e += (double)h[i] * h[i];
        e /= ch;
        return e > 0 ? 1.0 / sqrt(e) : 0;
    }
    int64_t N = 64;
    while (N < 2 * len)
        N *= 2;
    float *buf = fftwf_malloc((size_t)N * sizeof(float));
    fftwf_complex *spec = fftwf_malloc(((size_t)N / 2 + 1) * sizeof(fftwf_complex));
    mg_fft_planner_lock();
    fftwf_plan p = buf && spec ? fftwf_plan_dft_r2c_1d((int)N, buf, spec, FFTW_ESTIMATE) : NULL;
    mg_fft_planner_unlock();
    double peak = -1;
    if (p) {
        peak = 0;
        for (int c = 0; c < ch; c++) {
            memset(buf, 0, (size_t)N * sizeof(float));
            memcpy(buf, h + (size_t)c * (size_t)len, (size_t)len * sizeof(float));
            fftwf_execute(p);
            for (int64_t k = 0; k <= N / 2; k++) {
                double m = hypot(spec[k][0], spec[k][1]);
                if (m > peak)
                    peak = m;
            }
        }
        mg_fft_planner_lock();
        fftwf_destroy_plan(p);
        mg_fft_planner_unlock();
    }
    fftwf_free(buf);
    fftwf_free(spec);
    return peak < 0 ? -1 : peak > 0 ? 1.0 / peak : 0;
}

/*
** Build a kernel from `s` for the prepared rate and levels. `limit` > 0 refuses IRs longer
** than that many frames (a swap must fit the delay lines). NULL with the reason in why.
*/
static kernel *kernel_make(conv_state *st, const ir_source *s, int64_t limit, char *why,
                           size_t whysz)
{
    int64_t len;
    float *h = ir_at_rate(s, st->rate, &len, why, whysz);
    if (!h)
        return NULL;
    int ch = s->channels;
    kernel *k = NULL;
    float *tin = NULL;
    fftwf_complex *spec = NULL;
    if (limit > 0 && len > limit) {
        snprintf(why, whysz,
                 "%.3f s long, longer than the node's capacity of %.3f s (set "
                 "option max_length)",
                 (double)len / st->rate, (double)limit / st->rate);
        goto fail;
    }
    if (st->normalize != NORM_NONE) {
        double g = norm_scale(st->normalize, h, ch, len);
        if (g < 0) {
            snprintf(why, whysz, "out of memory");
            goto fail;
        }
        if (g == 0) {
            snprintf(why, whysz, "the impulse response is silent; it cannot be normalized");
            goto fail;
        }
        for (int64_t i = 0; i < len * ch; i++)
            h[i] = (float)(h[i] * g);
    }
    k = calloc(1, sizeof *k);
    if (!k)
        goto nomem;
    k->channels = ch;
    k->len = len;
    for (int c = 0; c < ch; c++) {
        const float *hc = h + (size_t)c * (size_t)len;
        for (int j = 0; j < HEAD && j < len; j++)
            k->head[c][HEAD - 1 - j] = hc[j];
    }
    for (int l = 0; l < st->n_levels; l++) {
        level *L = &st->lv[l];
        int64_t B = L->B;
        int parts = len > B ? (int)((len - B + B - 1) / B) : 0;
        if (parts > L->parts)
            parts = L->parts;
        k->parts[l] = parts;
        if (!parts)
            continue;
        k->H[l] =
            fftwf_malloc((size_t)ch * (size_t)parts * (size_t)(B + 1) * sizeof(fftwf_complex));
        tin = fftwf_malloc(2 * (size_t)B * sizeof(float));
        spec = fftwf_malloc(((size_t)B + 1) * sizeof(fftwf_complex));
        if (!k->H[l] || !tin || !spec)
            goto nomem;
        float scale = (float)(1.0 / (2.0 * (double)B));
        for (int c = 0; c < ch; c++) {
            const float *hc = h + (size_t)c * (size_t)len;
            for (int p = 0; p < parts; p++) {
                int64_t o = B + (int64_t)p * B;
                int64_t m = len - o < B ? len - o : B;
                memset(tin, 0, 2 * (size_t)B * sizeof(float));
                memcpy(tin, hc + o, (size_t)m * sizeof(float));
                fftwf_execute_dft_r2c(L->fwd, tin, spec); /* same alignment as the plan's */
                fftwf_complex *dst =
                    k->H[l] + ((size_t)c * (size_t)parts + (size_t)p) * (size_t)(B + 1);
                for (int64_t b = 0; b <= B; b++) {
                    dst[b][0] = spec[b][0] * scale;
                    dst[b][1] = spec[b][1] * scale;
                }
            }
        }
        fftwf_free(tin);
        fftwf_free(spec);
        tin = NULL;
        spec = NULL;
    }
    free(h);
    return k;
nomem:
    snprintf(why, whysz, "out of memory");
fail:
    fftwf_free(tin);
    fftwf_free(spec);
    kernel_free(k);
    free(h);
    return NULL;
}

/* Free what prepare made (plans, buffers, kernels). Leaves the node unprepared. */
static void release(conv_state *st)
{
    st->prepared = 0;
    mg_fft_planner_lock();
    for (int l = 0; l < MAX_LEVELS; l++) {
        if (st->lv[l].fwd)
            fftwf_destroy_plan(st->lv[l].fwd);
        if (st->lv[l].inv)
            fftwf_destroy_plan(st->lv[l].inv);
    }
    mg_fft_planner_unlock();
    for (int l = 0; l < MAX_LEVELS; l++) {
        level *L = &st->lv[l];
        fftwf_free(L->tin);
        fftwf_free(L->spec);
        fftwf_free(L->acc);
        fftwf_free(L->tout);
        fftwf_free(L->fdl);
        fftwf_free(L->out[0]);
        fftwf_free(L->out[1]);
        memset(L, 0, sizeof *L);
    }
    st->n_levels = 0;
    for (int c = 0; c < MG_MAX_CHANNELS; c++) {
        free(st->hist[c]);
        st->hist[c] = NULL;
    }
    free(st->wet[0]);
    free(st->wet[1]);
    st->wet[0] = st->wet[1] = NULL;
    kernel_free(st->kern[0]);
    kernel_free(st->kern[1]);
    st->kern[0] = st->kern[1] = NULL;
    kernel_free(atomic_exchange(&st->pending, NULL));
    kernel_free(atomic_exchange(&st->retired, NULL));
    atomic_store(&st->busy, 0);
    st->xf_on = 0;
}

/* ---- processing thread ---- */

/* [rt] Clear the delay lines and history; finish a crossfade in progress at once. */
static void conv_reset(void *state)
{
    conv_state *st = state;
    if (!st->prepared)
        return;
    if (st->xf_on) {
        kernel *old = st->kern[st->cur];
        st->kern[st->cur] = NULL;
        st->cur ^= 1;
        st->xf_on = 0;
        atomic_store_explicit(&st->retired, old, memory_order_release);
        atomic_store_explicit(&st->busy, 0, memory_order_release);
    }
    for (int l = 0; l < st->n_levels; l++) {
        level *L = &st->lv[l];
        memset(L->fdl, 0,
               (size_t)st->in_ch * (size_t)L->parts * (size_t)(L->B + 1) * sizeof(fftwf_complex));
        memset(L->out[0], 0, (size_t)st->out_ch * (size_t)L->B * sizeof(float));
        memset(L->out[1], 0, (size_t)st->out_ch * (size_t)L->B * sizeof(float));
        L->pos = 0;
    }
    for (int c = 0; c < st->in_ch; c++)
        memset(st->hist[c], 0, (size_t)st->hist_cap * sizeof(float));
    st->hist_n = st->hist_keep; /* the past is silence */
    st->t = 0;
}

/*
** [rt] Level L's output for its current period, for the kernel in `slot`: per output channel,
** sum over partitions p of X[newest - p] * H[p], inverse transform, keep the valid half.
*/
static void level_out(conv_state *st, int l, int slot)
{
    level *L = &st->lv[l];
    const kernel *k = st->kern[slot];
    int B = L->B, parts = k->parts[l];
    size_t nb = (size_t)B + 1;
    for (int c = 0; c < st->out_ch; c++) {
        float *o = L->out[slot] + (size_t)c * (size_t)B;
        if (!parts) {
            memset(o, 0, (size_t)B * sizeof(float));
            continue;
        }
        float *acc = (float *)L->acc;
        memset(acc, 0, 2 * nb * sizeof(float));
        /* spectra as interleaved floats (re, im): 2 nb floats per partition */
        const float *X0 = (const float *)(L->fdl + (size_t)st->ic_of[c] * (size_t)L->parts * nb);
        const float *H0 = (const float *)(k->H[l] + (size_t)st->hc_of[c] * (size_t)parts * nb);
        for (int p = 0; p < parts; p++) {
            int s = L->pos - p;
            if (s < 0)
                s += L->parts;
            const float *X = X0 + 2 * (size_t)s * nb;
            const float *H = H0 + 2 * (size_t)p * nb;
            for (size_t b = 0; b < 2 * nb; b += 2) {
                float xr = X[b], xi = X[b + 1], hr = H[b], hi = H[b + 1];
                acc[b] += xr * hr - xi * hi;
                acc[b + 1] += xr * hi + xi * hr;
            }
        }
        fftwf_execute(L->inv);
        memcpy(o, L->tout + B, (size_t)B * sizeof(float));
    }
}

/* [rt] After frame t - 1 (t a multiple of HEAD): run the levels whose boundary this is, then
   start a pending IR change. */
static void boundary(conv_state *st)
{
    for (int l = 0; l < st->n_levels; l++) {
        level *L = &st->lv[l];
        if (st->t % (uint64_t)L->B)
            break; /* partitions grow by 4: no later level has a boundary here either */
        size_t nb = (size_t)L->B + 1;
        if (++L->pos == L->parts)
            L->pos = 0;
        for (int c = 0; c < st->in_ch; c++) {
            memcpy(L->tin, st->hist[c] + st->hist_n - 2 * L->B, 2 * (size_t)L->B * sizeof(float));
            fftwf_execute(L->fwd);
            memcpy(L->fdl + ((size_t)c * (size_t)L->parts + (size_t)L->pos) * nb, L->spec,
                   nb * sizeof(fftwf_complex));
        }
        level_out(st, l, st->cur);
        if (st->xf_on)
            level_out(st, l, st->cur ^ 1);
    }
    if (st->xf_on || !atomic_load_explicit(&st->pending, memory_order_relaxed))
        return;
    kernel *k = atomic_exchange_explicit(&st->pending, NULL, memory_order_acquire);
    if (!k)
        return;
    int slot = st->cur ^ 1;
    st->kern[slot] = k;
    for (int l = 0; l < st->n_levels; l++) /* its share of each level's current period */
        level_out(st, l, slot);
    st->xf_on = 1;
    st->xf_pos = 0;
    st->xf_len = k->xfade;
}

/* [rt] Wet signal of output channel c for frames [t, t + n) of the kernel in `slot`. */
static void wet_run(const conv_state *st, int slot, int c, int base, uint32_t n, float *w)
{
    const kernel *k = st->kern[slot];
    const float *x = st->hist[st->ic_of[c]] + base - (HEAD - 1);
    const float *hr = k->head[st->hc_of[c]];
    /* tap-major so the inner loop vectorises; each w[j] still sums its taps in order m */
    for (uint32_t j = 0; j < n; j++)
        w[j] = 0.0f;
    for (int m = 0; m < HEAD; m++) {
        float hm = hr[m];
        const float *xm = x + m;
        for (uint32_t j = 0; j < n; j++)
            w[j] += hm * xm[j];
    }
    for (int l = 0; l < st->n_levels; l++) {
        const level *L = &st->lv[l];
        const float *o = L->out[slot] + (size_t)c * (size_t)L->B + st->t % (uint64_t)L->B;
        for (uint32_t j = 0; j < n; j++)
            w[j] += o[j];
    }
}

/* [rt] */
static void conv_process(void *state, const mg_block *b)
{
    conv_state *st = state;
    const mg_buf *in = &b->in[0];
    mg_buf *out = &b->out[0];
    if (!st->prepared) {
        for (int c = 0; c < out->channels; c++)
            memset(out->ch[c], 0, b->n * sizeof(float));
        return;
    }
    const mg_pval *pm = &b->p[P_MIX], *pg = &b->p[P_GAIN];
    float m0 = pm->v[0] * 0.01f, g0 = mg_db_to_amp(pg->v[0]);
    uint32_t i = 0;
    while (i < b->n) {
        uint32_t n = HEAD - (uint32_t)(st->t % HEAD);
        if (n > b->n - i)
            n = b->n - i;
        if (st->hist_n + (int)n > st->hist_cap) {
            for (int c = 0; c < st->in_ch; c++)
                memmove(st->hist[c], st->hist[c] + st->hist_n - st->hist_keep,
                        (size_t)st->hist_keep * sizeof(float));
            st->hist_n = st->hist_keep;
        }
        for (int c = 0; c < st->in_ch; c++)
            memcpy(st->hist[c] + st->hist_n, in->ch[c] + i, n * sizeof(float));
        int base = st->hist_n;
        st->hist_n += (int)n;
        for (int c = 0; c < st->out_ch; c++) {
            float *w = st->wet[0];
            wet_run(st, st->cur, c, base, n, w);
            if (st->xf_on) {
                float *w1 = st->wet[1];
                wet_run(st, st->cur ^ 1, c, base, n, w1);
                for (uint32_t j = 0; j < n; j++) {
                    uint32_t q = st->xf_pos + j;
                    float x = q >= st->xf_len
                                  ? 1.0f
                                  : (float)(0.5 - 0.5 * cos(M_PI * (double)q / st->xf_len));
                    w[j] += x * (w1[j] - w[j]);
                }
            }
            const float *dry = st->hist[st->ic_of[c]] + base;
            float *y = out->ch[c] + i;
            if (pm->constant && pg->constant) {
                float a = 1.0f - m0, bw = m0 * g0;
                for (uint32_t j = 0; j < n; j++)
                    y[j] = a * dry[j] + bw * w[j];
            } else {
                for (uint32_t j = 0; j < n; j++) {
                    float m = pm->constant ? m0 : pm->v[i + j] * 0.01f;
                    float g = pg->constant ? g0 : mg_db_to_amp(pg->v[i + j]);
                    y[j] = (1.0f - m) * dry[j] + m * g * w[j];
                }
            }
        }
        if (st->xf_on) {
            st->xf_pos += n;
            if (st->xf_pos >= st->xf_len) { /* the new kernel is current; hand the old back */
                kernel *old = st->kern[st->cur];
                st->kern[st->cur] = NULL;
                st->cur ^= 1;
                st->xf_on = 0;
                atomic_store_explicit(&st->retired, old, memory_order_release);
                atomic_store_explicit(&st->busy, 0, memory_order_release);
            }
        }
        st->t += n;
        i += n;
        if (st->t % HEAD == 0)
            boundary(st);
    }
}

/* ---- control side: lifecycle ---- */

static void conv_destroy(void *state)
{
    conv_state *st = state;
    release(st);
    ir_free(&st->src);
    free(st->path);
    st->path = NULL;
}

static mg_status conv_create(void *state, mg_node *node)
{
    conv_state *st = state;
    st->node = node;
    atomic_init(&st->pending, NULL);
    atomic_init(&st->retired, NULL);
    atomic_init(&st->busy, 0);
    const char *path = mg_node_opt_str(node, OPT_PATH);
    if (!path || !*path)
        return mg_node_errorf(node, MG_ERR_INVALID, "option 'path' is required");
    st->path = malloc(strlen(path) + 1);
    if (!st->path)
        return mg_node_errorf(node, MG_ERR_NOMEM, "out of memory");
    strcpy(st->path, path);
    st->normalize = (int)mg_node_opt_num(node, OPT_NORMALIZE);
    st->max_length = mg_node_opt_num(node, OPT_MAX_LENGTH);
    char why[256];
    if (ir_load(&st->src, path, why, sizeof why))
        return mg_node_errorf(node, MG_ERR_IO, "cannot load impulse response '%s': %s", path, why);
    return MG_OK;
}

static int conv_out_channels(const void *state, int port, const int *in_ch)
{
    (void)port;
    const conv_state *st = state;
    int ir = st->src.channels, in = in_ch[0];
    return ir == 1 || in > 1 ? in : ir;
}

/*
** Lay out the levels for a capacity of `cap` frames, make the FFTW plans (control thread),
** the delay lines and the history, build the kernel, and leave the node reset.
*/
static mg_status conv_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    conv_state *st = state;
    release(st);
    st->rate = pr->rate;
    st->in_ch = pr->in_ch[0];
    st->out_ch = pr->out_ch[0];
    for (int c = 0; c < st->out_ch; c++) {
        st->ic_of[c] = st->in_ch == 1 ? 0 : c;
        st->hc_of[c] = c % st->src.channels;
    }
    /* the capacity follows the IR at this rate (resampled length) or max_length */
    int64_t len = st->rate == st->src.rate
                      ? st->src.frames
                      : llround((double)st->src.frames * st->rate / st->src.rate);
    int64_t cap = llround(st->max_length * st->rate);
    st->cap = cap > len ? cap : len;
    int bmax = B_FIRST;
    for (int B = B_FIRST; B <= B_LAST && st->cap > B; B *= 4) {
        level *L = &st->lv[st->n_levels++];
        L->B = B;
        int last = B == B_LAST || st->cap <= 4 * (int64_t)B;
        L->parts = last ? (int)((st->cap - B + B - 1) / B) : LEVEL_PARTS;
        bmax = B;
        size_t nb = (size_t)B + 1;
        L->tin = fftwf_malloc(2 * (size_t)B * sizeof(float));
        L->tout = fftwf_malloc(2 * (size_t)B * sizeof(float));
        L->spec = fftwf_malloc(nb * sizeof(fftwf_complex));
        L->acc = fftwf_malloc(nb * sizeof(fftwf_complex));
        L->fdl = fftwf_malloc((size_t)st->in_ch * (size_t)L->parts * nb * sizeof(fftwf_complex));
        L->out[0] = fftwf_malloc((size_t)st->out_ch * (size_t)B * sizeof(float));
        L->out[1] = fftwf_malloc((size_t)st->out_ch * (size_t)B * sizeof(float));
        if (!L->tin || !L->tout || !L->spec || !L->acc || !L->fdl || !L->out[0] || !L->out[1])
            goto nomem;
        mg_fft_planner_lock();
        L->fwd = fftwf_plan_dft_r2c_1d(2 * B, L->tin, L->spec, FFTW_ESTIMATE);
        L->inv = fftwf_plan_dft_c2r_1d(2 * B, L->acc, L->tout, FFTW_ESTIMATE);
        mg_fft_planner_unlock();
        if (!L->fwd || !L->inv)
            goto nomem;
        if (last)
            break;
    }
    st->hist_keep = 2 * bmax;
    st->hist_cap = 4 * bmax;
    for (int c = 0; c < st->in_ch; c++)
        if (!(st->hist[c] = malloc((size_t)st->hist_cap * sizeof(float))))
            goto nomem;
    st->wet[0] = malloc(HEAD * sizeof(float));
    st->wet[1] = malloc(HEAD * sizeof(float));
    if (!st->wet[0] || !st->wet[1])
        goto nomem;
    char why[256];
    kernel *k = kernel_make(st, &st->src, 0, why, sizeof why);
    if (!k) {
        release(st);
        return mg_node_errorf(node, MG_ERR_FORMAT, "impulse response '%s': %s", st->path, why);
    }
    st->cur = 0;
    st->kern[0] = k;
    st->tail = k->len;
    st->prepared = 1;
    conv_reset(st);
    pr->latency = 0;
    pr->tail = k->len;
    return MG_OK;
nomem:
    release(st);
    return mg_node_errorf(node, MG_ERR_NOMEM, "out of memory for '%s'", st->path);
}

static int64_t conv_tail(const void *state, const mg_node *node, double rate)
{
    (void)node;
    (void)rate;
    return ((const conv_state *)state)->tail;
}

/* ---- control side: IR changes (mg_convolver.h) ---- */

extern const mg_node_desc mg_node_convolver;

/* The state behind a convolver node, or NULL for any other node. */
static conv_state *find_live(mg_node *node)
{
    return mg_node_desc_of(node) == &mg_node_convolver ? mg_node_state(node) : NULL;
}

int mg_convolver_busy(mg_node *node)
{
    conv_state *st = find_live(node);
    if (!st)
        return 0;
    if (atomic_load_explicit(&st->busy, memory_order_acquire))
        return 1;
    kernel_free(atomic_exchange_explicit(&st->retired, NULL, memory_order_acquire));
    return 0;
}

mg_status mg_convolver_set_ir(mg_node *node, const char *path, double xfade)
{
    conv_state *st = find_live(node);
    if (!st)
        return mg_node_errorf(node, MG_ERR_INVALID, "not a convolver");
    if (!path || !*path)
        return mg_node_errorf(node, MG_ERR_INVALID, "impulse response path is empty");
    if (!(xfade >= 0 && xfade <= XFADE_MAX_S))
        return mg_node_errorf(node, MG_ERR_RANGE, "crossfade %g s out of range [0, %g] s", xfade,
                              XFADE_MAX_S);
    if (mg_convolver_busy(node))
        return mg_node_errorf(node, MG_ERR_INVALID,
                              "the previous impulse response change is still crossfading");
    char why[256];
    ir_source s;
    if (ir_load(&s, path, why, sizeof why))
        return mg_node_errorf(node, MG_ERR_IO, "cannot load impulse response '%s': %s", path, why);
    if (s.channels != st->src.channels) {
        ir_free(&s);
        return mg_node_errorf(node, MG_ERR_RANGE,
                              "impulse response '%s' has %d channels; this convolver has %d", path,
                              s.channels, st->src.channels);
    }
    char *p = malloc(strlen(path) + 1);
    if (!p) {
        ir_free(&s);
        return mg_node_errorf(node, MG_ERR_NOMEM, "out of memory");
    }
    strcpy(p, path);
    if (st->prepared) {
        kernel *k = kernel_make(st, &s, st->cap, why, sizeof why);
        if (!k) {
            free(p);
            ir_free(&s);
            return mg_node_errorf(node, MG_ERR_RANGE, "impulse response '%s': %s", path, why);
        }
        k->xfade = (uint32_t)llround(xfade * st->rate);
        st->tail = k->len;
        atomic_store_explicit(&st->busy, 1, memory_order_relaxed);
        atomic_store_explicit(&st->pending, k, memory_order_release);
    }
    ir_free(&st->src);
    st->src = s;
    free(st->path);
    st->path = p;
    return MG_OK;
}

/* ---- descriptor ---- */

static const mg_port_desc conv_in[] = {
    {.name = "in", .channels = MG_CH_MAX, .doc = "signal (any channel count)"}};
static const mg_port_desc conv_out[] = {
    {.name = "out",
     .channels = MG_CH_CUSTOM,
     .doc = "the input's channels; a mono input through a multichannel IR gets the IR's"}};
static const mg_param_desc conv_params[] = {
    {.name = "mix",
     .unit = "%",
     .min = 0,
     .max = 100,
     .def = 100,
     .smooth_ms = 20,
     .doc = "wet share: y = (1 - mix/100) dry + (mix/100) 10^(gain/20) wet"},
    {.name = "gain",
     .unit = "dB",
     .min = -144,
     .max = 24,
     .def = 0,
     .smooth_ms = 20,
     .doc = "level of the wet (convolved) signal; -144 is silence"},
};
static const mg_option_desc conv_opts[] = {
    {.name = "path",
     .type = MG_OPT_STRING,
     .def_str = NULL,
     .doc = "impulse response file (any format libsndfile reads; 1 to 8 channels, up to 120 s)"},
    {.name = "normalize",
     .type = MG_OPT_ENUM,
     .choices = "none|energy|peak",
     .def = 0,
     .doc = "none: as in the file; energy: mean over channels of sum h^2 = 1; peak: "
            "max |H(f)| = 1 (0 dB)"},
    {.name = "max_length",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = 0,
     .max = IR_MAX_S,
     .def = 0,
     .doc = "longest IR a later change (mg_convolver_set_ir) may bring; 0 = this IR's length"},
};

const mg_node_desc mg_node_convolver = {
    .name = "convolver",
    .doc = "Convolves the input with an impulse response h read from a file (option `path`, "
           "any format libsndfile reads, 1 to 8 channels, up to 120 s): wet = x * h, "
           "y = (1 - mix/100) x + (mix/100) 10^(gain/20) wet. A mono IR applies to every "
           "channel; a stereo IR to L/R of a stereo input, and makes a mono input stereo; "
           "otherwise output channel c uses IR channel c mod C. An IR at another rate is "
           "resampled to the graph rate with libsamplerate (SRC_SINC_BEST_QUALITY) and scaled "
           "by file rate / graph rate so its frequency response (and decay time) is kept. "
           "`normalize`: none; energy (mean over channels of sum h^2 = 1, white noise keeps "
           "its RMS); peak (max over channels and frequency of |H| = 1, on the DFT grid of the "
           "smallest power of two >= 2 len). Zero latency: a 64-tap direct-form head plus "
           "non-uniformly partitioned FFT convolution (FFTW, float32; partitions 64 to 16384 "
           "frames); identical output at every block size. Tail: the IR length. The IR can be "
           "changed while playing with a raised-cosine crossfade (mg_convolver_set_ir).",
    .inputs = conv_in,
    .n_inputs = 1,
    .outputs = conv_out,
    .n_outputs = 1,
    .params = conv_params,
    .n_params = 2,
    .options = conv_opts,
    .n_options = 3,
    .main_param = "mix",
    .state_size = sizeof(conv_state),
    .create = conv_create,
    .prepare = conv_prepare,
    .reset = conv_reset,
    .process = conv_process,
    .tail = conv_tail,
    .out_channels = conv_out_channels,
    .destroy = conv_destroy,
};
