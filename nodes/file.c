/*
** file.c: the `file` node, a sound file played as a source, resampled to the graph rate.
**
** Threads: create, prepare and destroy run on the control thread (open, size, prime). `service`
** runs on the stream side (the control thread offline, a disk thread in real time): it reads
** the file with libsndfile, resamples with libsamplerate and pushes frames into an mg_ring.
** `process` and `reset` run on the processing thread and only touch the ring: process copies
** frames out (zeros and a counted underrun when the ring is short; it never waits), reset asks
** the stream side to rewind through the ring's flush handshake.
**
** Memory is bounded by the block size and the resampling ratio, never by the file's length:
** the ring holds max(4 * block, 16384) frames and the resampler works on fixed chunks.
**
** Timing. Graph frame `start_frame = round(start * rate)` plays region frame 0. The region is
** [offset, offset + length) of the file (file seconds); it lasts `out_len` graph frames,
** round(region frames * graph rate / file rate). The stream side produces exactly that many
** frames (truncating the resampler's flush or padding it with silence), so the node's length is
** exact and the output is the same whatever the block size: the resampler is always fed the
** same fixed input chunks, independent of how the ring is drained.
*/
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mg_node.h"
#include "mg_sndfile.h"
#include "mg_ring.h"

enum { OPT_PATH, OPT_START, OPT_OFFSET, OPT_LENGTH, OPT_LOOP };

#define RING_MIN_FRAMES 16384
#define SRC_OUT_CHUNK 4096 /* target resampler output frames per call */
#define SKIP_FRAMES 1024

struct file_state {
    /* [control] configuration: fixed after create (file) and prepare (rate) */
    char *path;
    mg_sndfile snd; /* [stream] after create */
    int channels;
    int loop;
    int64_t offset_in; /* region start, file frames */
    int64_t region_in; /* region length, file frames (>= 1) */
    double start_s;
    int64_t start_frame; /* graph frame where region frame 0 plays */
    int64_t out_len;     /* region length in graph frames (MG_FOREVER when looping) */
    int resample;
    double ratio; /* graph rate / file rate */
    int prepared;

    /* shared: the ring, and the underrun counter the control side may read */
    mg_ring ring;
    atomic_uint_fast64_t underruns; /* frames output as zeros for want of data */

    /* [stream] producer */
    SRC_STATE *src;
    float *inbuf;   /* chunk_in frames: file input to the resampler */
    float *skipbuf; /* SKIP_FRAMES frames: scratch for seeking by reading */
    size_t chunk_in;
    size_t in_off, in_have; /* pending input frames in inbuf */
    float *stage;           /* resampler output not yet in the ring */
    size_t stage_cap, stage_pos, stage_n;
    int64_t in_pos;   /* region frames read in the current pass */
    int file_eof;     /* the file ended before the region did: pad with silence */
    int int_read;     /* [immutable] integer samples: read as int, convert here */
    int eoi;          /* end of input passed to the resampler */
    int src_done;     /* resampler flushed (or failed) */
    int64_t out_made; /* graph frames produced (not looping) */

    /* [rt] consumer */
    int64_t played; /* region frames (graph rate) taken from the ring since the rewind */
};

/* ---- stream side ---- */

/*
** Read up to k frames as normalised floats. PCM and FLAC files are read as integers and
** converted here, in SKIP_FRAMES pieces through skipbuf: the same values as libsndfile's float
** path, at a fraction of its cost. Returns the frames read (0 at the end or on error).
*/
static sf_count_t read_frames(struct file_state *st, float *dst, sf_count_t k)
{
    if (!st->int_read)
        return sf_readf_float(st->snd.sf, dst, k);
    sf_count_t done = 0;
    size_t ch = (size_t)st->channels;
    int *ibuf = (int *)st->skipbuf;
    while (done < k) {
        sf_count_t want = k - done < SKIP_FRAMES ? k - done : SKIP_FRAMES;
        sf_count_t got = sf_readf_int(st->snd.sf, ibuf, want);
        if (got <= 0)
            break;
        mg_sndfile_int_to_float(ibuf, dst + (size_t)done * ch, (size_t)got * ch);
        done += got;
        if (got < want)
            break;
    }
    return done;
}

/*
** Position the file at absolute frame `frame`. Formats that cannot seek are reopened and read
** forward. A file that cannot be reopened plays silence from here on ([stream] cannot fail).
*/
static void seek_file(struct file_state *st, int64_t frame)
{
    st->file_eof = 0;
    if (st->snd.sf && sf_seek(st->snd.sf, (sf_count_t)frame, SEEK_SET) == (sf_count_t)frame)
        return;
    mg_sndfile_close(&st->snd);
    char why[256];
    if (mg_sndfile_open_read(&st->snd, st->path, why, sizeof why)) {
        st->file_eof = 1;
        return;
    }
    while (frame > 0) {
        sf_count_t k = frame < SKIP_FRAMES ? frame : SKIP_FRAMES;
        sf_count_t got = sf_readf_float(st->snd.sf, st->skipbuf, k);
        if (got <= 0) {
            st->file_eof = 1;
            return;
        }
        frame -= got;
    }
}

/*
** Read up to `want` region frames into dst (interleaved). Looping wraps to the region start;
** otherwise fewer frames are returned at the region end. Frames past the physical end of the
** file inside the region are silence.
*/
static size_t read_region(struct file_state *st, float *dst, size_t want)
{
    size_t got = 0;
    size_t ch = (size_t)st->channels;
    while (got < want) {
        if (st->in_pos >= st->region_in) {
            if (!st->loop)
                break;
            seek_file(st, st->offset_in);
            st->in_pos = 0;
        }
        int64_t left = st->region_in - st->in_pos;
        size_t k = want - got;
        if ((int64_t)k > left)
            k = (size_t)left;
        sf_count_t r = 0;
        if (!st->file_eof) {
            r = read_frames(st, dst + got * ch, (sf_count_t)k);
            if (r < 0)
                r = 0;
            if ((size_t)r < k)
                st->file_eof = 1;
        }
        memset(dst + (got + (size_t)r) * ch, 0, (k - (size_t)r) * ch * sizeof(float));
        got += k;
        st->in_pos += (int64_t)k;
    }
    return got;
}

/* Rewind the producer to the region start with a fresh resampler. */
static void rewind_stream(struct file_state *st)
{
    seek_file(st, st->offset_in);
    st->in_pos = 0;
    st->in_off = st->in_have = 0;
    st->stage_pos = st->stage_n = 0;
    st->eoi = st->src_done = 0;
    st->out_made = 0;
    if (st->src)
        src_reset(st->src);
}

/*
** Produce the next chunk of resampled frames into `stage`. The sequence of src_process calls
** depends only on the data (fixed input chunks, fixed output room), so the output stream is
** the same however the ring is drained. Not looping, the stream is cut or padded with silence
** to exactly out_len frames.
*/
static void resample_chunk(struct file_state *st)
{
    size_t ch = (size_t)st->channels;
    st->stage_pos = st->stage_n = 0;
    if (!st->src_done) {
        if (st->in_have == 0 && !st->eoi) {
            st->in_have = read_region(st, st->inbuf, st->chunk_in);
            st->in_off = 0;
            if (!st->loop && st->in_pos >= st->region_in)
                st->eoi = 1;
        }
        SRC_DATA d = {
            .data_in = st->inbuf + st->in_off * ch,
            .data_out = st->stage,
            .input_frames = (long)st->in_have,
            .output_frames = (long)st->stage_cap,
            .end_of_input = st->eoi,
            .src_ratio = st->ratio,
        };
        if (src_process(st->src, &d) != 0) {
            st->src_done = 1; /* cannot happen with valid state; play silence rather than spin */
        } else {
            st->in_off += (size_t)d.input_frames_used;
            st->in_have -= (size_t)d.input_frames_used;
            st->stage_n = (size_t)d.output_frames_gen;
            if (st->eoi && d.output_frames_gen == 0 && st->in_have == 0)
                st->src_done = 1;
        }
    }
    if (st->loop)
        return;
    int64_t left = st->out_len - st->out_made;
    if ((int64_t)st->stage_n > left)
        st->stage_n = (size_t)left;
    if (st->src_done && st->stage_n == 0 && left > 0) {
        st->stage_n = (int64_t)st->stage_cap < left ? st->stage_cap : (size_t)left;
        memset(st->stage, 0, st->stage_n * ch * sizeof(float));
    }
    st->out_made += (int64_t)st->stage_n;
}

/* Fill the ring as far as it has room. */
static void fill_ring(struct file_state *st)
{
    mg_ring *r = &st->ring;
    if (!st->resample) {
        for (;;) {
            size_t contig;
            float *p = mg_ring_write_ptr(r, &contig);
            if (contig == 0)
                return;
            size_t got = read_region(st, p, contig);
            mg_ring_commit(r, got);
            if (got < contig)
                return;
        }
    }
    for (;;) {
        if (st->stage_pos < st->stage_n) {
            size_t ch = (size_t)st->channels;
            st->stage_pos +=
                mg_ring_write(r, st->stage + st->stage_pos * ch, st->stage_n - st->stage_pos);
            if (st->stage_pos < st->stage_n)
                return; /* ring full */
        }
        if (!st->loop && st->out_made >= st->out_len)
            return;
        if (st->loop && st->src_done)
            return;
        resample_chunk(st);
    }
}

/* [stream] Honour a pending rewind, then refill. */
static void file_service(void *state)
{
    struct file_state *st = state;
    if (!st->prepared)
        return;
    if (mg_ring_flush_requested(&st->ring)) {
        rewind_stream(st);
        mg_ring_flush_ack(&st->ring);
    }
    /* Refill in large reads, once half the ring is free: the ring holds at least 4 blocks,
       so at least 2 stay buffered, and the disk sees few big requests instead of one per
       block. */
    if (mg_ring_write_space(&st->ring) >= st->ring.cap / 2)
        fill_ring(st);
}

/* ---- control side ---- */

static void release_buffers(struct file_state *st)
{
    st->prepared = 0;
    mg_ring_free(&st->ring);
    if (st->src)
        src_delete(st->src);
    st->src = NULL;
    free(st->inbuf);
    free(st->stage);
    free(st->skipbuf);
    st->inbuf = st->stage = st->skipbuf = NULL;
}

static void file_destroy(void *state)
{
    struct file_state *st = state;
    release_buffers(st);
    mg_sndfile_close(&st->snd);
    free(st->path);
    st->path = NULL;
}

static mg_status file_create(void *state, mg_node *node)
{
    struct file_state *st = state;
    const char *path = mg_node_opt_str(node, OPT_PATH);
    if (!path || !*path)
        return mg_node_errorf(node, MG_ERR_INVALID, "option 'path' is required");
    st->path = malloc(strlen(path) + 1);
    if (!st->path)
        return mg_node_errorf(node, MG_ERR_NOMEM, "out of memory");
    strcpy(st->path, path);

    char why[256];
    if (mg_sndfile_open_read(&st->snd, path, why, sizeof why))
        return mg_node_errorf(node, MG_ERR_IO, "cannot open '%s': %s", path, why);
    st->int_read = mg_sndfile_is_int(&st->snd.info);
    if (st->snd.info.channels < 1 || st->snd.info.channels > MG_MAX_CHANNELS)
        return mg_node_errorf(node, MG_ERR_FORMAT, "'%s' has %d channels; at most %d are supported",
                              path, st->snd.info.channels, MG_MAX_CHANNELS);
    if (st->snd.info.samplerate < 1)
        return mg_node_errorf(node, MG_ERR_FORMAT, "'%s' has no valid sample rate", path);
    if (st->snd.info.frames < 1)
        return mg_node_errorf(node, MG_ERR_FORMAT, "'%s' contains no audio", path);
    st->channels = st->snd.info.channels;

    double fr = st->snd.info.samplerate;
    double offset = mg_node_opt_num(node, OPT_OFFSET);
    double length = mg_node_opt_num(node, OPT_LENGTH);
    st->start_s = mg_node_opt_num(node, OPT_START);
    st->loop = mg_node_opt_num(node, OPT_LOOP) != 0;
    st->offset_in = llround(offset * fr);
    if (st->offset_in >= (int64_t)st->snd.info.frames)
        return mg_node_errorf(node, MG_ERR_RANGE,
                              "offset %g s is at or beyond the end of '%s' (%g s)", offset, path,
                              (double)st->snd.info.frames / fr);
    if (length > 0) {
        st->region_in = llround(length * fr);
        if (st->region_in < 1)
            return mg_node_errorf(node, MG_ERR_RANGE,
                                  "length %g s is shorter than one sample of '%s'", length, path);
    } else {
        st->region_in = (int64_t)st->snd.info.frames - st->offset_in;
    }
    atomic_init(&st->underruns, 0);
    return MG_OK;
}

static int file_out_channels(const void *state, int port, const int *in_ch)
{
    (void)port;
    (void)in_ch;
    return ((const struct file_state *)state)->channels;
}

/*
** Size the ring and the resampler for this rate and block, rewind and prime. Reallocates from
** scratch each time (prepare only runs when rate, block or channels changed).
*/
static mg_status file_prepare(void *state, mg_node *node, mg_prepare *pr)
{
    struct file_state *st = state;
    release_buffers(st);
    double fr = st->snd.info.samplerate;
    st->ratio = pr->rate / fr;
    st->resample = pr->rate != fr;
    st->start_frame = llround(st->start_s * pr->rate);
    st->out_len = st->loop       ? MG_FOREVER
                  : st->resample ? llround((double)st->region_in * st->ratio)
                                 : st->region_in;

    size_t ch = (size_t)st->channels;
    if (st->resample) {
        if (src_is_valid_ratio(st->ratio) == 0)
            return mg_node_errorf(node, MG_ERR_RANGE,
                                  "cannot resample '%s' from %g Hz to %g Hz (ratio beyond 256)",
                                  st->path, fr, pr->rate);
        double cin = ceil(SRC_OUT_CHUNK / st->ratio);
        st->chunk_in = cin < 64 ? 64 : cin > 65536 ? 65536 : (size_t)cin;
        st->stage_cap = (size_t)ceil((double)st->chunk_in * st->ratio) + 256;
        int err = 0;
        st->src = src_new(SRC_SINC_BEST_QUALITY, st->channels, &err);
        if (!st->src)
            return mg_node_errorf(node, MG_ERR_NOMEM, "resampler for '%s': %s", st->path,
                                  src_strerror(err));
        st->stage = malloc(st->stage_cap * ch * sizeof(float));
        st->inbuf = malloc(st->chunk_in * ch * sizeof(float));
    }
    st->skipbuf = malloc(SKIP_FRAMES * ch * sizeof(float));
    size_t frames = (size_t)pr->block * 4;
    if (frames < RING_MIN_FRAMES)
        frames = RING_MIN_FRAMES;
    mg_status s = mg_ring_init(&st->ring, st->channels, frames);
    if (s != MG_OK || !st->skipbuf || (st->resample && (!st->inbuf || !st->stage))) {
        release_buffers(st);
        return mg_node_errorf(node, MG_ERR_NOMEM, "out of memory for '%s'", st->path);
    }

    rewind_stream(st);
    st->played = 0;
    st->prepared = 1;
    fill_ring(st);
    pr->length = st->loop ? MG_FOREVER : st->start_frame + st->out_len;
    return MG_OK;
}

/* ---- processing thread ---- */

/*
** [rt] Ask the stream side to rewind. Nothing to do when no frame was taken since the last
** rewind (e.g. the reset that follows prepare): the ring already holds the stream's start.
*/
static void file_reset(void *state)
{
    struct file_state *st = state;
    if (!st->prepared || st->played == 0)
        return;
    mg_ring_flush_request(&st->ring);
    st->played = 0;
}

static void zero(mg_buf *out, uint32_t from, uint32_t to)
{
    for (int c = 0; c < out->channels; c++)
        for (uint32_t i = from; i < to; i++)
            out->ch[c][i] = 0.0f;
}

/*
** [rt] Frames [i0, i1) of the block are region frames [a, a + i1 - i0). The ring is read in
** order; frames missed by an earlier underrun are skipped when they arrive so the file stays in
** time with the graph. Whatever the ring cannot supply is silence and counted.
*/
static void file_process(void *state, const mg_block *b)
{
    struct file_state *st = state;
    mg_buf *out = &b->out[0];
    const mg_pval *g = &b->p[0];
    uint32_t n = b->n;
    int64_t pos = (int64_t)b->pos;
    uint32_t i0 = 0, i1 = n;
    if (pos < st->start_frame)
        i0 = st->start_frame - pos < (int64_t)n ? (uint32_t)(st->start_frame - pos) : n;
    int64_t a = pos + i0 - st->start_frame;
    if (i0 < n && st->out_len != MG_FOREVER) {
        int64_t left = st->out_len - a;
        i1 = left <= 0 ? i0 : left < (int64_t)(n - i0) ? i0 + (uint32_t)left : n;
    }
    zero(out, 0, i0);
    zero(out, i1, n);
    if (i1 <= i0)
        return;

    mg_ring *r = &st->ring;
    uint32_t j = i0;
    if (st->prepared) {
        size_t contig;
        while (st->played < a) { /* catch up after an underrun */
            mg_ring_read_ptr(r, &contig);
            if (contig == 0)
                break;
            size_t k = (int64_t)contig < a - st->played ? contig : (size_t)(a - st->played);
            mg_ring_consume(r, k);
            st->played += (int64_t)k;
        }
        int nch = out->channels < st->channels ? out->channels : st->channels;
        size_t stride = (size_t)st->channels;
        while (st->played >= a && j < i1) {
            const float *p = mg_ring_read_ptr(r, &contig);
            if (contig == 0)
                break;
            uint32_t k = contig < (size_t)(i1 - j) ? (uint32_t)contig : i1 - j;
            if (g->constant) {
                float amp = mg_db_to_amp(g->v[0]);
                for (int c = 0; c < nch; c++) {
                    float *y = out->ch[c] + j;
                    const float *x = p + c;
                    for (uint32_t i = 0; i < k; i++)
                        y[i] = x[i * stride] * amp;
                }
            } else {
                for (uint32_t i = 0; i < k; i++) {
                    float amp = mg_db_to_amp(g->v[j + i]);
                    for (int c = 0; c < nch; c++)
                        out->ch[c][j + i] = p[i * stride + (size_t)c] * amp;
                }
            }
            mg_ring_consume(r, k);
            st->played += k;
            j += k;
        }
    }
    if (j < i1) {
        zero(out, j, i1);
        atomic_fetch_add_explicit(&st->underruns, i1 - j, memory_order_relaxed);
    }
}

static const mg_port_desc file_out[] = {
    {.name = "out", .channels = MG_CH_CUSTOM, .doc = "the file's channels (1..8)"}};

static const mg_param_desc file_params[] = {
    {.name = "gain",
     .unit = "dB",
     .min = -144,
     .max = 24,
     .def = 0,
     .smooth_ms = 20,
     .doc = "playback level; -144 is silence"},
};

static const mg_option_desc file_options[] = {
    {.name = "path",
     .type = MG_OPT_STRING,
     .def_str = NULL,
     .doc =
         "sound file to play (WAV, AIFF, FLAC, Ogg Vorbis, Opus, MP3: whatever libsndfile reads)"},
    {.name = "start",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = 0,
     .max = 1e9,
     .def = 0,
     .doc = "graph time at which playback begins"},
    {.name = "offset",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = 0,
     .max = 1e9,
     .def = 0,
     .doc = "position in the file where playback begins; must lie inside the file"},
    {.name = "length",
     .type = MG_OPT_NUMBER,
     .unit = "s",
     .min = 0,
     .max = 1e9,
     .def = 0,
     .doc = "seconds of the file to play from offset; 0 = to the end; past the end is silence"},
    {.name = "loop",
     .type = MG_OPT_BOOL,
     .min = 0,
     .max = 1,
     .def = 0,
     .doc = "repeat the region [offset, offset+length) forever"},
};

/* [any] "underruns": frames played as silence because the prefetch ring was short. */
static double file_meter(const void *state, const char *name)
{
    const struct file_state *st = state;
    if (strcmp(name, "underruns") != 0)
        return NAN;
    return (double)atomic_load_explicit(&((struct file_state *)st)->underruns,
                                        memory_order_relaxed);
}

const mg_node_desc mg_node_file = {
    .name = "file",
    .doc =
        "Plays a sound file (any format libsndfile reads: WAV, AIFF, FLAC, Ogg Vorbis, Opus, "
        "MP3, ...; 1 to 8 channels, the output has the file's channels). The region "
        "[offset, offset+length) of the file (file seconds; length 0 = to the end, frames past "
        "the end of the file are silence) starts at graph time `start` (frame round(start*rate)) "
        "and plays once, or forever with `loop`. A file at another rate is resampled to the "
        "graph rate with libsamplerate SRC_SINC_BEST_QUALITY (streaming, zero delay, >= 135 dB "
        "SNR); the region then lasts round(frames*ratio) graph frames. Integer PCM at the graph "
        "rate passes bit-exact at 0 dB. The file is streamed through a fixed prefetch ring, "
        "so memory does not grow with its length. `gain` in dB, smoothed over 20 ms.",
    .outputs = file_out,
    .n_outputs = 1,
    .params = file_params,
    .n_params = 1,
    .options = file_options,
    .n_options = 5,
    .state_size = sizeof(struct file_state),
    .create = file_create,
    .prepare = file_prepare,
    .reset = file_reset,
    .process = file_process,
    .service = file_service,
    .meter = file_meter,
    .meters = "underruns",
    .out_channels = file_out_channels,
    .destroy = file_destroy,
};
