/*
** render.c: offline rendering of a graph to a sound file through libsndfile. [control]
**
** The render loop runs the same plan a real-time driver would, block after block, and calls
** the stream service (file prefetch) before each block so nothing is ever waited on inside the
** plan. Audio goes to a temporary file beside the target, renamed over it only when everything
** succeeded: a failed or interrupted render leaves no file at the target and never clobbers an
** existing one.
**
** Integer formats are quantized here (round to nearest, clamp, count clipped samples) instead
** of by libsndfile, so a 24-bit file read and written again is bit-exact; with dither
** (mg_dither.h: TPDF by default for 16 bit) the dither module quantizes instead.
*/
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sndfile.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "mg_dither.h"
#include "mg_internal.h"
#include "mg_sndfile.h"

typedef struct fmt_entry {
    const char *ext;
    int major;
    int pcm; /* 1: subtype chosen from bits (16/24/32f); 0: the codec's own subtype */
    int subtype;
} fmt_entry;

static const fmt_entry formats[] = {
    {"wav", SF_FORMAT_WAV, 1, 0},     {"wave", SF_FORMAT_WAV, 1, 0},
    {"w64", SF_FORMAT_W64, 1, 0},     {"rf64", SF_FORMAT_RF64, 1, 0},
    {"aiff", SF_FORMAT_AIFF, 1, 0},   {"aif", SF_FORMAT_AIFF, 1, 0},
    {"aifc", SF_FORMAT_AIFF, 1, 0},   {"caf", SF_FORMAT_CAF, 1, 0},
    {"flac", SF_FORMAT_FLAC, 1, 0},   {"ogg", SF_FORMAT_OGG, 0, SF_FORMAT_VORBIS},
    {"oga", SF_FORMAT_OGG, 0, SF_FORMAT_VORBIS}, {"opus", SF_FORMAT_OGG, 0, SF_FORMAT_OPUS},
    {"mp3", SF_FORMAT_MPEG, 0, SF_FORMAT_MPEG_LAYER_III},
};

mg_status mg_format_for_path(const char *path, mg_sample_format bits, int *sf_format, char *msg,
                             size_t msgsz)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    const fmt_entry *f = NULL;
    for (size_t i = 0; dot && (!slash || dot > slash) && i < sizeof formats / sizeof *formats; i++)
        if (strcasecmp(dot + 1, formats[i].ext) == 0)
            f = &formats[i];
    if (!f) {
        snprintf(msg, msgsz,
                 "%s: unknown output format (use .wav, .flac, .aiff, .caf, .w64, .rf64, .ogg, "
                 ".opus or .mp3)",
                 path);
        return MG_ERR_FORMAT;
    }
    int sub = f->subtype;
    if (f->pcm) {
        switch (bits) {
        case MG_BITS_16: sub = SF_FORMAT_PCM_16; break;
        case MG_BITS_DEFAULT:
        case MG_BITS_24: sub = SF_FORMAT_PCM_24; break;
        case MG_BITS_32F: sub = SF_FORMAT_FLOAT; break;
        default:
            snprintf(msg, msgsz, "%s: bits must be 16, 24 or 32f", path);
            return MG_ERR_FORMAT;
        }
        if (f->major == SF_FORMAT_FLAC && sub == SF_FORMAT_FLOAT) {
            snprintf(msg, msgsz, "%s: FLAC stores 16 or 24 bit, not 32-bit float", path);
            return MG_ERR_FORMAT;
        }
    } else if (bits != MG_BITS_DEFAULT) {
        snprintf(msg, msgsz, "%s: --bits applies to PCM formats, not %s", path, f->ext);
        return MG_ERR_FORMAT;
    }
    *sf_format = f->major | sub;
    return MG_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
** The file is synced before it is renamed into place (a crash must not leave a renamed but
** empty file). Writing back 70 MB at that point stalls the end of a render for a fraction of a
** second, so the kernel is asked to start writing back every SYNC_AHEAD bytes as the render
** goes (without waiting), and the final fsync finds little left to do.
*/
#define SYNC_AHEAD (8u << 20)
static void sync_ahead(int fd)
{
#if defined(__linux__)
    sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
#endif
}

/* Temporary file beside `path`: DIR/.BASE.XXXXXX.part */
static int make_temp(const char *path, char *tmp, size_t sz)
{
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    if ((size_t)snprintf(tmp, sz, "%.*s.%s.XXXXXX", dirlen, path, base) >= sz)
        return -1;
    return mkstemp(tmp);
}

/*
** Quantize one channel to left-justified 32-bit ints (what libsndfile's int path takes; it
** truncates, so rounding happens here). lrintf(v) leaves [qmin, qmax] exactly when
** v >= qmax + 0.5 or v < qmin - 0.5 (ties go to even), so clamping before converting is exact.
** Returns the clipped count.
*/
static uint32_t quantize(const float *x, uint32_t n, float scale, int shift, int32_t *q)
{
    float qmax = scale - 1, qmin = -scale;
    uint32_t clip = 0, i = 0;
#if defined(__SSE2__)
    /* cvtps2dq rounds to nearest even like lrintf; compilers do not vectorize lrintf */
    const __m128 vs = _mm_set1_ps(scale), vmax = _mm_set1_ps(qmax), vmin = _mm_set1_ps(qmin);
    const __m128 vhi = _mm_set1_ps(qmax + 0.5f), vlo = _mm_set1_ps(qmin - 0.5f);
    const __m128i sh = _mm_cvtsi32_si128(shift);
    __m128i vclip = _mm_setzero_si128(); /* per lane: minus the count of clipped samples */
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_mul_ps(_mm_loadu_ps(x + i), vs);
        __m128 out = _mm_or_ps(_mm_cmpge_ps(v, vhi), _mm_cmplt_ps(v, vlo));
        vclip = _mm_add_epi32(vclip, _mm_castps_si128(out)); /* true lanes are -1 */
        v = _mm_min_ps(_mm_max_ps(v, vmin), vmax);
        _mm_storeu_si128((__m128i *)(q + i), _mm_sll_epi32(_mm_cvtps_epi32(v), sh));
    }
    int32_t lanes[4];
    _mm_storeu_si128((__m128i *)lanes, vclip);
    clip = (uint32_t)-(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
#endif
    for (; i < n; i++) {
        float v = x[i] * scale;
        clip += (v >= qmax + 0.5f) | (v < qmin - 0.5f);
        v = v > qmax ? qmax : v;
        v = v < qmin ? qmin : v;
        q[i] = (int32_t)((uint32_t)(int32_t)lrintf(v) << shift);
    }
    return clip;
}

/* Interleave (and quantize for PCM, dithered when dith is given) one block into out. Returns
   the clipped sample count. */
static uint64_t interleave(const float *const *y, int ch, uint32_t n, int sub, void *out,
                           int32_t *scratch, mg_dither *dith)
{
    uint64_t clipped = 0;
    if (sub == SF_FORMAT_PCM_16 || sub == SF_FORMAT_PCM_24) {
        float scale = sub == SF_FORMAT_PCM_16 ? 32768.0f : 8388608.0f;
        int shift = sub == SF_FORMAT_PCM_16 ? 16 : 8;
        int32_t *o = out;
        for (int c = 0; c < ch; c++)
            clipped += dith ? mg_dither_quantize(dith, c, y[c], n, scale, shift,
                                                 scratch + (size_t)c * n)
                            : quantize(y[c], n, scale, shift, scratch + (size_t)c * n);
        if (ch == 2) { /* the common case, written so the compiler vectorizes it */
            const int32_t *l = scratch, *r = scratch + n;
            for (uint32_t i = 0; i < n; i++) {
                o[2 * i] = l[i];
                o[2 * i + 1] = r[i];
            }
        } else {
            for (uint32_t i = 0; i < n; i++)
                for (int c = 0; c < ch; c++)
                    o[i * (uint32_t)ch + (uint32_t)c] = scratch[(size_t)c * n + i];
        }
    } else {
        float *o = out;
        int count = sub != SF_FORMAT_FLOAT; /* lossy codecs clip above full scale */
        for (int c = 0; c < ch; c++)
            for (uint32_t i = 0; i < n; i++) {
                float v = y[c][i];
                clipped += count && (v > 1.0f || v < -1.0f);
                o[i * (uint32_t)ch + (uint32_t)c] = v;
            }
    }
    return clipped;
}

/*
** Stems (--stems DIR): each graph stem is written to DIR/NAME.EXT in the same pass, through its
** own temporary file, renamed into place only when the whole render (main file and every
** stem) succeeded. A stem tapped at path latency L holds the source time the main file does
** when it takes graph frames [L, L + total): every file starts at source time 0.
*/
typedef struct stem_out {
    char path[4096], tmp[4096];
    int fd, ch;
    mg_sndfile sf;
    int64_t lat;      /* graph frames before its source time 0 */
    uint64_t written;
    char *ibuf;
    int32_t *qbuf;
} stem_out;

static mg_status stems_open(mg_graph *g, const mg_render_opts *o, const SF_INFO *main,
                            stem_out **out, int *n_out)
{
    int n = g->plan ? g->plan->n_stems : 0;
    *out = NULL;
    *n_out = 0;
    if (!o->stems_dir || n == 0)
        return MG_OK;
    if (mkdir(o->stems_dir, 0777) != 0 && errno != EEXIST)
        return mg_graph_errorf(g, MG_ERR_IO, "%s: cannot create the stems folder: %s",
                               o->stems_dir, strerror(errno));
    stem_out *st = calloc((size_t)n, sizeof *st);
    if (!st)
        return mg_graph_errorf(g, MG_ERR_NOMEM, "out of memory");
    *out = st;
    const char *dot = strrchr(o->path, '.');
    for (int i = 0; i < n; i++) {
        stem_out *so = &st[i];
        so->fd = -1;
        so->ch = g->plan->stems[i]->channels;
        so->lat = g->stems[i].node->path_latency;
        snprintf(so->path, sizeof so->path, "%s/%s%s", o->stems_dir, g->stems[i].name,
                 dot ? dot : "");
        SF_INFO info = *main;
        info.channels = so->ch;
        char why[256];
        so->ibuf = malloc((size_t)g->block * (size_t)so->ch * 4);
        so->qbuf = malloc((size_t)g->block * (size_t)so->ch * sizeof *so->qbuf);
        if (!so->ibuf || !so->qbuf)
            return mg_graph_errorf(g, MG_ERR_NOMEM, "out of memory");
        if (!sf_format_check(&info))
            return mg_graph_errorf(g, MG_ERR_FORMAT, "%s: this format cannot hold %d channels",
                                   so->path, so->ch);
        if ((so->fd = make_temp(so->path, so->tmp, sizeof so->tmp)) < 0)
            return mg_graph_errorf(g, MG_ERR_IO, "%s: cannot create a file there: %s", so->path,
                                   strerror(errno));
        *n_out = i + 1;
        if (mg_sndfile_open_fd_write(&so->sf, so->fd, &info, why, sizeof why))
            return mg_graph_errorf(g, MG_ERR_IO, "%s: %s", so->path, why);
        if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV)
            sf_command(so->sf.sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    }
    return MG_OK;
}

/* After a block of n frames that ended at graph position `pos_end`: write what each stem owes. */
static mg_status stems_write(mg_graph *g, stem_out *st, int n_st, uint64_t pos_end, uint32_t n,
                             uint64_t total, int sub)
{
    int use_int = sub == SF_FORMAT_PCM_16 || sub == SF_FORMAT_PCM_24;
    for (int i = 0; i < n_st; i++) {
        stem_out *so = &st[i];
        int64_t first = (int64_t)pos_end - (int64_t)n; /* graph frame of y[0] */
        int64_t from = so->lat + (int64_t)so->written; /* next graph frame the stem needs */
        if (so->written >= total || from >= (int64_t)pos_end || from < first)
            continue;
        uint32_t off = (uint32_t)(from - first), m = n - off;
        if ((uint64_t)m > total - so->written)
            m = (uint32_t)(total - so->written);
        const float *y[MG_MAX_CHANNELS];
        for (int c = 0; c < so->ch; c++)
            y[c] = g->plan->stems[i]->ch[c] + off;
        interleave(y, so->ch, m, sub, so->ibuf, so->qbuf, NULL);
        sf_count_t w = use_int ? sf_writef_int(so->sf.sf, (int *)so->ibuf, m)
                               : sf_writef_float(so->sf.sf, (float *)so->ibuf, m);
        if (w != (sf_count_t)m)
            return mg_graph_errorf(g, MG_ERR_IO, "%s: write failed: %s", so->path,
                                   sf_strerror(so->sf.sf));
        so->written += m;
    }
    return MG_OK;
}

/* Close every stem; on success (st == MG_OK) pad short ones with silence and rename them into
   place, else remove the temporaries. Returns the first failure. */
static mg_status stems_close(mg_graph *g, stem_out *so_all, int n_st, uint64_t total,
                             mg_status st)
{
    for (int i = 0; i < n_st; i++) {
        stem_out *so = &so_all[i];
        if (!st && so->written < total) { /* a stem behind more latency than the output */
            float *z = calloc((size_t)so->ch, sizeof *z);
            for (; z && so->written < total; so->written++)
                sf_writef_float(so->sf.sf, z, 1);
            free(z);
        }
        if (mg_sndfile_close(&so->sf) && !st)
            st = mg_graph_errorf(g, MG_ERR_IO, "%s: cannot finish writing", so->path);
        if (!st && fsync(so->fd) != 0)
            st = mg_graph_errorf(g, MG_ERR_IO, "%s: %s", so->path, strerror(errno));
        if (so->fd >= 0)
            close(so->fd);
    }
    for (int i = 0; i < n_st; i++) {
        if (!st && rename(so_all[i].tmp, so_all[i].path) != 0)
            st = mg_graph_errorf(g, MG_ERR_IO, "%s: cannot move the result into place: %s",
                                 so_all[i].path, strerror(errno));
        if (st)
            unlink(so_all[i].tmp);
    }
    return st;
}

static void stems_free(stem_out *st, int n)
{
    for (int i = 0; st && i < n; i++) {
        free(st[i].ibuf);
        free(st[i].qbuf);
    }
    free(st);
}

mg_status mg_render(mg_graph *g, const mg_render_opts *o, mg_render_result *res)
{
    mg_render_result r = {0};
    char msg[512];
    int fmt;
    if (g->live)
        return mg_graph_errorf(g, MG_ERR_INVALID, "cannot render a graph that is playing live");
    mg_status st = mg_format_for_path(o->path, o->bits, &fmt, msg, sizeof msg);
    if (st)
        return mg_graph_errorf(g, st, "%s", msg);
    if ((st = mg_graph_compile(g)))
        return st;
    int64_t total = o->frames > 0 ? o->frames : mg_graph_length(g);
    if (total == MG_FOREVER) {
        mg_node *src = mg_graph_endless_source(g);
        return mg_graph_errorf(g, MG_ERR_UNBOUNDED,
                               "the render would never end: node '%s' (%s) plays forever; give "
                               "a duration (--duration, or duration= on the source)",
                               src ? mg_node_name(src) : "?", src ? src->d->name : "?");
    }
    if (total <= 0)
        return mg_graph_errorf(g, MG_ERR_UNBOUNDED,
                               "nothing to render: no sound source reaches the output (give a "
                               "duration to render silence)");
    int ch = g->output->in[0].channels;
    SF_INFO info = {.samplerate = (int)lrint(g->rate), .channels = ch, .format = fmt};
    if (!sf_format_check(&info))
        return mg_graph_errorf(g, MG_ERR_FORMAT, "%s: this format cannot hold %d channels at %g Hz",
                               o->path, ch, g->rate);
    char tmp[4096];
    int fd = make_temp(o->path, tmp, sizeof tmp);
    if (fd < 0)
        return mg_graph_errorf(g, MG_ERR_IO, "%s: cannot create a file there: %s", o->path,
                               strerror(errno));
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    mg_sndfile out;
    char why[256];
    if (mg_sndfile_open_fd_write(&out, fd, &info, why, sizeof why)) {
        st = mg_graph_errorf(g, MG_ERR_IO, "%s: %s", o->path, why);
        close(fd);
        unlink(tmp);
        return st;
    }
    SNDFILE *sf = out.sf;
    if ((fmt & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV)
        sf_command(sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE); /* deterministic bytes */
    int sub = fmt & SF_FORMAT_SUBMASK;
    int use_int = sub == SF_FORMAT_PCM_16 || sub == SF_FORMAT_PCM_24;
    mg_dither_mode dm = o->dither == MG_DITHER_DEFAULT
                            ? (sub == SF_FORMAT_PCM_16 ? MG_DITHER_TPDF : MG_DITHER_NONE)
                            : o->dither;
    mg_dither dith;
    if (use_int && dm != MG_DITHER_NONE)
        mg_dither_init(&dith, dm, o->dither_seed);
    /* blocks are gathered into chunks of at least 8192 frames per write */
    uint32_t chunk = g->block > 8192 ? (uint32_t)g->block : 8192u / (uint32_t)g->block * (uint32_t)g->block;
    char *ibuf = malloc((size_t)chunk * (size_t)ch * 4);
    int32_t *qbuf = malloc((size_t)g->block * (size_t)ch * sizeof *qbuf);
    uint32_t fill = 0;
    uint64_t written = 0; /* bytes since the last sync_ahead (roughly: 4 per sample) */
    if (!ibuf || !qbuf)
        st = mg_graph_errorf(g, MG_ERR_NOMEM, "out of memory");
    if (g->pos != 0)
        mg_graph_reset(g);
    stem_out *stems = NULL;
    int n_stems = 0;
    if (!st)
        st = stems_open(g, o, &info, &stems, &n_stems);
    uint64_t nonfinite0 = mg_graph_nonfinite(g);
    double t0 = now_s(), last = t0;
    uint64_t done = 0;
    /* run through the graph's latency first and drop it: the file starts at source time 0 */
    for (int64_t pre = mg_graph_latency(g); !st && pre > 0;) {
        int n = pre < g->block ? (int)pre : g->block;
        const float *const *y;
        if (!(st = mg_graph_step(g, &n, &y)))
            st = stems_write(g, stems, n_stems, g->pos, (uint32_t)n, (uint64_t)total, sub);
        pre -= n;
    }
    while (!st && done < (uint64_t)total) {
        if (o->interrupt && *o->interrupt) {
            st = mg_graph_errorf(g, MG_ERR_INTERRUPTED, "render interrupted");
            break;
        }
        int bn = (int)((uint64_t)total - done < (uint64_t)g->block ? (uint64_t)total - done
                                                                   : (uint64_t)g->block);
        const float *const *y;
        if ((st = mg_graph_step(g, &bn, &y)))
            break;
        uint32_t n = (uint32_t)bn;
        if ((st = stems_write(g, stems, n_stems, g->pos, n, (uint64_t)total, sub)))
            break;
        if (o->tap)
            o->tap(y, n, o->tap_ud);
        r.clipped += interleave(y, ch, n, sub, ibuf + (size_t)fill * (size_t)ch * 4, qbuf,
                                use_int && dm != MG_DITHER_NONE ? &dith : NULL);
        fill += n;
        done += n;
        if (fill + (uint32_t)g->block > chunk || done == (uint64_t)total) {
            sf_count_t w = use_int ? sf_writef_int(sf, (int *)ibuf, fill)
                                   : sf_writef_float(sf, (float *)ibuf, fill);
            if (w != (sf_count_t)fill) {
                st = mg_graph_errorf(g, MG_ERR_IO, "%s: write failed: %s", o->path,
                                     sf_strerror(sf));
                break;
            }
            fill = 0;
            written += w * (uint64_t)ch * 4;
            if (!o->scratch && written >= SYNC_AHEAD) { /* see sync_ahead */
                sync_ahead(fd);
                written = 0;
            }
        }
        if (o->progress) {
            double t = now_s();
            if (t - last >= 0.1 || done == (uint64_t)total) {
                last = t;
                mg_render_progress p = {done, (uint64_t)total, t - t0};
                if (o->progress(&p, o->ud))
                    st = mg_graph_errorf(g, MG_ERR_INTERRUPTED, "render cancelled");
            }
        }
    }
    free(ibuf);
    free(qbuf);
    if (mg_sndfile_close(&out) && !st)
        st = mg_graph_errorf(g, MG_ERR_IO, "%s: cannot finish writing: %s", o->path,
                             strerror(errno));
    if (!st && !o->scratch && fsync(fd) != 0)
        st = mg_graph_errorf(g, MG_ERR_IO, "%s: %s", o->path, strerror(errno));
    if (close(fd) != 0 && !st)
        st = mg_graph_errorf(g, MG_ERR_IO, "%s: %s", o->path, strerror(errno));
    st = stems_close(g, stems, n_stems, (uint64_t)total, st);
    stems_free(stems, n_stems);
    if (!st && rename(tmp, o->path) != 0)
        st = mg_graph_errorf(g, MG_ERR_IO, "%s: cannot move the result into place: %s", o->path,
                             strerror(errno));
    if (st)
        unlink(tmp);
    r.frames = done;
    /* the render is over: values set from now on are where the next one starts (meters and
       node state stay readable until then) */
    g->started = 0;
    r.nonfinite = mg_graph_nonfinite(g) - nonfinite0;
    r.seconds = now_s() - t0;
    if (res)
        *res = r;
    return st;
}
