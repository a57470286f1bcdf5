/*
** dynamics.c: the shared core of the dynamics nodes (see mg_dynamics.h for the signal flow and
** how a chunk goes through it): the lookahead line ([control] prepare allocates, [rt] reset
** clears), the chunk stages key, detector, link, gains and output ([rt]) and the meters ([rt]
** publish, [any] read).
*/
#include <stdlib.h>
#include <string.h>

#include "mg_dynamics.h"
#if MG_DYN_X86
#include <immintrin.h>
#endif

mg_status mg_dyn_prepare(mg_dyn *d, mg_node *node, mg_prepare *pr, double lookahead_ms)
{
    uint32_t frames = (uint32_t)floor(lookahead_ms * 0.001 * pr->rate + 0.5);
    int ch = pr->out_ch[0];
    float *line = NULL;
    if (frames) {
        line = calloc((size_t)frames * (size_t)ch, sizeof *line);
        if (!line)
            return mg_node_errorf(node, MG_ERR_NOMEM, "cannot allocate a %g ms lookahead line",
                                  lookahead_ms);
    }
    free(d->line);
    d->line = line;
    d->lookahead = frames;
    d->channels = ch;
    d->rate = pr->rate;
    d->avx2 = mg_dyn_has_avx2();
    d->hpf_hz = d->lpf_hz = 0; /* designs depend on the rate */
    pr->latency = frames; /* the engine adds it to the render length; no tail beyond it */
    mg_dyn_reset(d);
    return MG_OK;
}

void mg_dyn_reset(mg_dyn *d)
{
    if (d->line)
        memset(d->line, 0, (size_t)d->lookahead * (size_t)d->channels * sizeof *d->line);
    d->pos = 0;
    for (int k = 0; k < MG_MAX_CHANNELS; k++) {
        d->ms[k] = 0;
        mg_biquad_reset(&d->hpf[k]);
        mg_biquad_reset(&d->lpf[k]);
    }
    atomic_store_explicit(&d->meter_gr, 0.0f, memory_order_relaxed);
    atomic_store_explicit(&d->meter_level, (float)MG_DYN_FLOOR_DB, memory_order_relaxed);
}

void mg_dyn_destroy(mg_dyn *d)
{
    free(d->line);
    d->line = NULL;
}

/* The coefficients for frequency f (redesigned only when f changed). */
static const mg_biquad *key_coef(mg_biquad *c, float *designed, mg_filter_type t, float f,
                                 double rate)
{
    if (f != *designed) {
        *c = mg_biquad_design(t, f, MG_DYN_KEY_Q, 0, rate);
        *designed = f;
    }
    return c;
}

/*
** mg_biquad_run on two channels at once (same arithmetic and end-of-call check, so the same
** bits): their serial chains overlap, a stereo key costs about as much as a mono one.
*/
static void biquad_run2(mg_biquad_state *s0, mg_biquad_state *s1, const mg_biquad *c,
                        const float *x0, const float *x1, float *y0, float *y1, uint32_t n)
{
    const double b0 = c->b0, b1 = c->b1, b2 = c->b2, a1 = c->a1, a2 = c->a2;
    double p1 = s0->s1, p2 = s0->s2, q1 = s1->s1, q2 = s1->s2;
    for (uint32_t i = 0; i < n; i++) {
        double u = x0[i], v = x1[i];
        double yu = b0 * u + p1, yv = b0 * v + q1;
        p1 = (b1 * u + p2) - a1 * yu;
        q1 = (b1 * v + q2) - a1 * yv;
        p2 = b2 * u - a2 * yu;
        q2 = b2 * v - a2 * yv;
        y0[i] = (float)yu;
        y1[i] = (float)yv;
    }
    if (!isfinite(p1 + p2))
        p1 = p2 = 0;
    if (!isfinite(q1 + q2))
        q1 = q2 = 0;
    s0->s1 = p1;
    s0->s2 = p2;
    s1->s1 = q1;
    s1->s2 = q2;
}

/*
** One key filter (t) over frames i0..i0+n-1: x[k] -> buf[k] for each key channel, the cutoff
** from parameter p (Hz, 0 = off: copy and keep the state clear; a cutoff off for the whole
** block is mg_dyn_key's, which skips the call). x[k] is repointed at buf[k].
** A ramping cutoff is designed and run frame by frame, so the result does not depend on how
** the block is cut.
*/
static void key_filter(mg_dyn *d, mg_filter_type t, const mg_pval *p, const float **x,
                       float buf[MG_MAX_CHANNELS][MG_DYN_CHUNK], int nk, uint32_t i0,
                       uint32_t n)
{
    mg_biquad_state *st = t == MG_FT_HIGHPASS ? d->hpf : d->lpf;
    mg_biquad *c = t == MG_FT_HIGHPASS ? &d->hpf_c : &d->lpf_c;
    float *hz = t == MG_FT_HIGHPASS ? &d->hpf_hz : &d->lpf_hz;
    if (p->constant) { /* on (mg_dyn_key handles "off") */
        const mg_biquad *co = key_coef(c, hz, t, p->v[0], d->rate);
        int k = 0;
        for (; k + 1 < nk; k += 2)
            biquad_run2(&st[k], &st[k + 1], co, x[k], x[k + 1], buf[k], buf[k + 1], n);
        for (; k < nk; k++)
            mg_biquad_run(&st[k], co, x[k], buf[k], n);
        for (k = 0; k < nk; k++)
            x[k] = buf[k];
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        float f = p->v[i0 + i];
        for (int k = 0; k < nk; k++) {
            if (f > 0)
                mg_biquad_run(&st[k], key_coef(c, hz, t, f, d->rate), &x[k][i], &buf[k][i], 1);
            else {
                mg_biquad_reset(&st[k]);
                buf[k][i] = x[k][i];
            }
        }
    }
    for (int k = 0; k < nk; k++)
        x[k] = buf[k];
}

/* 1 when a key filter's cutoff parameter is off (0) for the whole block. */
static inline int key_off(const mg_pval *p) { return p->constant && !(p->v[0] > 0); }

/* Clear the states of an unused key filter (inline: this runs for every chunk). */
static inline void key_clear(mg_biquad_state *st, int nk)
{
    for (int k = 0; k < nk; k++)
        st[k].s1 = st[k].s2 = 0;
}

int mg_dyn_key(mg_dyn *d, const mg_block *b, const mg_dyn_params *p, uint32_t i0, uint32_t n,
               const float *key[MG_MAX_CHANNELS], float buf[MG_MAX_CHANNELS][MG_DYN_CHUNK])
{
    const mg_buf *src = b->in[1].connected ? &b->in[1] : &b->in[0];
    int nk = src->channels;
    for (int k = 0; k < nk; k++)
        key[k] = src->ch[k] + i0;
    /* a filter that is off passes the key as it is, from a clear state */
    if (p->key_hpf && key_off(p->key_hpf))
        key_clear(d->hpf, nk);
    else if (p->key_hpf)
        key_filter(d, MG_FT_HIGHPASS, p->key_hpf, key, buf, nk, i0, n);
    if (p->key_lpf && key_off(p->key_lpf))
        key_clear(d->lpf, nk);
    else if (p->key_lpf)
        key_filter(d, MG_FT_LOWPASS, p->key_lpf, key, buf, nk, i0, n);
    return nk;
}

/*
** A key power clamped to -300 .. +300 dB: no subnormals while decaying in silence, and a NaN
** or Inf key does not latch the mean square (NaN becomes 0).
*/
static inline double clamp_power(double p)
{
    return !(p >= 1e-30) ? 0.0 : p > 1e30 ? 1e30 : p;
}

/*
** One step of the rms detector's mean square from a new power x2: the clamp is applied to the
** input (a NaN or Inf key enters as 0 or 1e30), so the recursion itself is one multiply-add and
** one (predictable) test for the floor, and its state stays within [1e-30, 1e30] or 0 up to
** rounding.
*/
static inline double rms_step(double ms, double x2, double b, double b1)
{
    ms = b * ms + b1 * clamp_power(x2);
    return ms >= 1e-30 ? ms : 0.0;
}

/* The largest clamped power of a stereo key's frame (x0, x1): the loops of detect_body's peak
   path for two channels, fused (the same operations). */
static inline double peak2(float x0, float x1)
{
    double v0 = x0, v1 = x1, m = 0.0;
    v0 *= v0;
    v1 *= v1;
    m = v0 > m ? v0 : m;
    m = v1 > m ? v1 : m;
    return clamp_power(m);
}

static MG_DYN_INLINE void detect_body(mg_dyn *d, const float *const *key, int nk, uint32_t n,
                                      int detector, double rms_b, double pmax[MG_DYN_CHUNK],
                                      double (*p)[MG_DYN_CHUNK])
{
    double own[MG_MAX_CHANNELS][MG_DYN_CHUNK];
    if (detector == MG_DYN_PEAK && !p) {
        /* only the loudest: the largest square (a NaN never wins), clamped once; the clamp is
           monotonic, so this is the largest clamped power (vectorised) */
        if (nk == 2) { /* the loops below fused for a stereo key: the same operations */
            for (uint32_t i = 0; i < n; i++)
                pmax[i] = peak2(key[0][i], key[1][i]);
            return;
        }
        for (uint32_t i = 0; i < n; i++)
            pmax[i] = 0.0;
        for (int k = 0; k < nk; k++) {
            const float *x = key[k];
            for (uint32_t i = 0; i < n; i++) {
                double v = x[i];
                v *= v;
                pmax[i] = v > pmax[i] ? v : pmax[i];
            }
        }
        for (uint32_t i = 0; i < n; i++)
            pmax[i] = clamp_power(pmax[i]);
        return;
    }
    if (!p)
        p = own;
    int k = 0;
    if (detector == MG_DYN_RMS) {
        /* serial: one recursion per key channel, two at a time so that their chains overlap */
        double b1 = 1.0 - rms_b;
        for (; k + 1 < nk; k += 2) {
            const float *x0 = key[k], *x1 = key[k + 1];
            double m0 = d->ms[k], m1 = d->ms[k + 1];
            for (uint32_t i = 0; i < n; i++) {
                double v0 = x0[i], v1 = x1[i];
                m0 = rms_step(m0, v0 * v0, rms_b, b1);
                m1 = rms_step(m1, v1 * v1, rms_b, b1);
                p[k][i] = m0 < 1e30 ? m0 : 1e30;
                p[k + 1][i] = m1 < 1e30 ? m1 : 1e30;
            }
            d->ms[k] = m0;
            d->ms[k + 1] = m1;
        }
        for (; k < nk; k++) {
            const float *x0 = key[k];
            double m0 = d->ms[k];
            for (uint32_t i = 0; i < n; i++) {
                double v0 = x0[i];
                m0 = rms_step(m0, v0 * v0, rms_b, b1);
                p[k][i] = m0 < 1e30 ? m0 : 1e30;
            }
            d->ms[k] = m0;
        }
    } else {
        for (; k < nk; k++) { /* vectorised */
            const float *x0 = key[k];
            for (uint32_t i = 0; i < n; i++) {
                double v0 = x0[i];
                p[k][i] = clamp_power(v0 * v0);
            }
        }
    }
    memcpy(pmax, p[0], n * sizeof *pmax);
    for (k = 1; k < nk; k++) /* vectorised */
        for (uint32_t i = 0; i < n; i++)
            pmax[i] = p[k][i] > pmax[i] ? p[k][i] : pmax[i];
}

static MG_DYN_INLINE int link_body(const double pmax[MG_DYN_CHUNK], double (*p)[MG_DYN_CHUNK],
                                   int nk, uint32_t n, double link, int nc,
                                   double lev[MG_MAX_CHANNELS][MG_DYN_CHUNK])
{
    /* element-wise loops: all vectorised */
    if (link >= 1.0) { /* one logarithm per frame */
        for (uint32_t i = 0; i < n; i++)
            lev[0][i] = mg_dyn_db(pmax[i]);
        return 1;
    }
    /* own level per key channel, then the mix with the loudest; pmax[i] is one of the p[k][i],
       so its level is that channel's (taken over, not computed again) */
    double lmax[MG_DYN_CHUNK], own[MG_MAX_CHANNELS][MG_DYN_CHUNK];
    for (int k = 0; k < nk; k++)
        for (uint32_t i = 0; i < n; i++)
            own[k][i] = mg_dyn_db(p[k][i]);
    memcpy(lmax, own[0], n * sizeof *lmax);
    for (int k = 1; k < nk; k++)
        for (uint32_t i = 0; i < n; i++)
            lmax[i] = p[k][i] == pmax[i] ? own[k][i] : lmax[i];
    for (int c = 0; c < nc; c++)
        for (uint32_t i = 0; i < n; i++)
            lev[c][i] = (1.0 - link) * own[c % nk][i] + link * lmax[i];
    return nc;
}

static MG_DYN_INLINE void gains_body(const double *db, double *g, uint32_t n)
{
    uint32_t i = 1;
    while (i < n && db[i] == db[0])
        i++;
    if (i == n) {
        double g0 = mg_dyn_amp_of(db[0]);
        for (i = 0; i < n; i++)
            g[i] = g0;
        return;
    }
    for (i = 0; i < n; i++) /* vectorised */
        g[i] = mg_dyn_amp_of(db[i]);
}

static MG_DYN_INLINE void gains_gr_body(double makeup, const double *y, double *g, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) /* vectorised */
        g[i] = mg_dyn_mute(makeup - y[i]);
    gains_body(g, g, n); /* in place: each gain is read before it is written */
}

static MG_DYN_INLINE void apply_body(mg_dyn *d, const mg_buf *in, mg_buf *out, uint32_t f0,
                                     uint32_t n, const double *const gain[MG_MAX_CHANNELS],
                                     double mix)
{
    uint32_t len = d->lookahead;
    for (int c = 0; c < out->channels; c++) {
        const float *x = in->ch[c] + f0;
        float *y = out->ch[c] + f0;
        const double *g = gain[c];
        float buf[MG_DYN_CHUNK];
        const float *xd = x;
        if (len) { /* through the ring: buf[i] is the input of len frames ago */
            float *line = d->line + (size_t)c * len;
            for (uint32_t i = 0, pos = d->pos; i < n;) {
                uint32_t run = n - i < len - pos ? n - i : len - pos;
                memcpy(buf + i, line + pos, run * sizeof *buf);
                memcpy(line + pos, x + i, run * sizeof *line);
                i += run;
                pos = pos + run == len ? 0 : pos + run;
            }
            xd = buf;
        }
        for (uint32_t i = 0; i < n; i++) { /* vectorised; y may be x */
            double v = xd[i];
            y[i] = (float)(v + mix * v * (g[i] - 1.0));
        }
    }
    if (len)
        d->pos = (uint32_t)((d->pos + n) % len);
}

/*
** The public stages: each body compiled twice, for the baseline and (chosen by d->avx2) with
** AVX2 enabled. Same C, no FMA (ISO C mode does not contract), so the same bits either way;
** the AVX2 build runs the element-wise loops four doubles wide.
*/
#if MG_DYN_X86
/*
** peak2 over frames 0..n-1, four at a time with the instructions its comparisons are (GCC
** vectorises them as compare-and-blend sequences): max(a, b) is a > b ? a : b and min(a, b)
** a < b ? a : b, so m = max(v1, max(v0, 0)) as peak2; m is then >= 0 and not NaN, where
** clamp_power(m) is m >= 1e-30 ? min(1e30, m) : 0. The same results as peak2.
*/
static MG_DYN_AVX2 void peak2_avx2(const float *x0, const float *x1, uint32_t n,
                                   double pmax[MG_DYN_CHUNK])
{
    const __m256d zero = _mm256_setzero_pd(), lo = _mm256_set1_pd(1e-30),
                  hi = _mm256_set1_pd(1e30);
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d v0 = _mm256_cvtps_pd(_mm_loadu_ps(x0 + i));
        __m256d v1 = _mm256_cvtps_pd(_mm_loadu_ps(x1 + i));
        __m256d m = _mm256_max_pd(_mm256_mul_pd(v1, v1),
                                  _mm256_max_pd(_mm256_mul_pd(v0, v0), zero));
        __m256d keep = _mm256_cmp_pd(m, lo, _CMP_GE_OQ);
        _mm256_storeu_pd(pmax + i, _mm256_and_pd(keep, _mm256_min_pd(hi, m)));
    }
    for (; i < n; i++)
        pmax[i] = peak2(x0[i], x1[i]);
}

static MG_DYN_AVX2 void detect_avx2(mg_dyn *d, const float *const *key, int nk, uint32_t n,
                                    int detector, double rms_b, double pmax[MG_DYN_CHUNK],
                                    double (*p)[MG_DYN_CHUNK])
{
    if (detector == MG_DYN_PEAK && !p && nk == 2)
        peak2_avx2(key[0], key[1], n, pmax);
    else
        detect_body(d, key, nk, n, detector, rms_b, pmax, p);
}
static MG_DYN_AVX2 int link_avx2(const double pmax[MG_DYN_CHUNK], double (*p)[MG_DYN_CHUNK],
                                 int nk, uint32_t n, double link, int nc,
                                 double lev[MG_MAX_CHANNELS][MG_DYN_CHUNK])
{
    return link_body(pmax, p, nk, n, link, nc, lev);
}
static MG_DYN_AVX2 void gains_avx2(const double *db, double *g, uint32_t n)
{
    gains_body(db, g, n);
}
static MG_DYN_AVX2 void gains_gr_avx2(double makeup, const double *y, double *g, uint32_t n)
{
    gains_gr_body(makeup, y, g, n);
}
static MG_DYN_AVX2 void apply_avx2(mg_dyn *d, const mg_buf *in, mg_buf *out, uint32_t f0,
                                   uint32_t n, const double *const gain[MG_MAX_CHANNELS],
                                   double mix)
{
    apply_body(d, in, out, f0, n, gain, mix);
}
#define DYN_DISPATCH(d, call_avx2) \
    do {                               \
        if ((d)->avx2) {               \
            call_avx2;                 \
        }                              \
    } while (0)
#else
#define DYN_DISPATCH(d, call_avx2) (void)(d)
#endif

void mg_dyn_detect(mg_dyn *d, const float *const *key, int nk, uint32_t n, int detector,
                   double rms_b, double pmax[MG_DYN_CHUNK], double (*p)[MG_DYN_CHUNK])
{
    DYN_DISPATCH(d, detect_avx2(d, key, nk, n, detector, rms_b, pmax, p); return);
    detect_body(d, key, nk, n, detector, rms_b, pmax, p);
}

int mg_dyn_link(const mg_dyn *d, const double pmax[MG_DYN_CHUNK], double (*p)[MG_DYN_CHUNK],
                int nk, uint32_t n, double link, int nc,
                double lev[MG_MAX_CHANNELS][MG_DYN_CHUNK])
{
    DYN_DISPATCH(d, return link_avx2(pmax, p, nk, n, link, nc, lev));
    return link_body(pmax, p, nk, n, link, nc, lev);
}

void mg_dyn_gains(const mg_dyn *d, const double *db, double *g, uint32_t n)
{
    DYN_DISPATCH(d, gains_avx2(db, g, n); return);
    gains_body(db, g, n);
}

void mg_dyn_gains_gr(const mg_dyn *d, double makeup, const double *y, double *g, uint32_t n)
{
    DYN_DISPATCH(d, gains_gr_avx2(makeup, y, g, n); return);
    gains_gr_body(makeup, y, g, n);
}

void mg_dyn_apply(mg_dyn *d, const mg_buf *in, mg_buf *out, uint32_t f0, uint32_t n,
                  const double *const gain[MG_MAX_CHANNELS], double mix)
{
    DYN_DISPATCH(d, apply_avx2(d, in, out, f0, n, gain, mix); return);
    apply_body(d, in, out, f0, n, gain, mix);
}

double mg_dyn_drive(mg_dyn *d, const mg_block *b, const mg_dyn_params *p, int ramp, void *node,
                    void *coef, mg_dyn_coef_fn coef_at, mg_dyn_run_fn run)
{
    double pmax = 0;
    coef_at(node, coef, b, 0, 1);
    for (uint32_t i0 = 0; i0 < b->n; i0 += MG_DYN_CHUNK) {
        uint32_t n = b->n - i0 < MG_DYN_CHUNK ? b->n - i0 : MG_DYN_CHUNK;
        const float *key[MG_MAX_CHANNELS];
        float kbuf[MG_MAX_CHANNELS][MG_DYN_CHUNK];
        int nk = mg_dyn_key(d, b, p, i0, n, key, kbuf);
        if (!ramp) {
            pmax = run(node, coef, key, nk, b, i0, n);
            continue;
        }
        for (uint32_t i = 0; i < n; i++) {
            const float *ki[MG_MAX_CHANNELS];
            for (int c = 0; c < nk; c++)
                ki[c] = key[c] + i;
            coef_at(node, coef, b, i0 + i, 0);
            pmax = run(node, coef, ki, nk, b, i0 + i, 1);
        }
    }
    return pmax;
}

void mg_dyn_publish(mg_dyn *d, double gain_reduction_db, double level_db)
{
    atomic_store_explicit(&d->meter_gr, (float)gain_reduction_db, memory_order_relaxed);
    atomic_store_explicit(&d->meter_level, (float)level_db, memory_order_relaxed);
}

double mg_dyn_meter(const void *state, const char *name)
{
    mg_dyn *d = (mg_dyn *)state; /* atomic loads only */
    if (strcmp(name, "gain_reduction") == 0)
        return atomic_load_explicit(&d->meter_gr, memory_order_relaxed);
    if (strcmp(name, "key_level") == 0)
        return atomic_load_explicit(&d->meter_level, memory_order_relaxed);
    return NAN;
}
