/*
** file.c: the file sources: `file` (a sound file played as a source, resampled to the graph
** rate, with a varispeed `rate`) and `stretch` (the same, time-stretched and pitch-shifted by
** Rubber Band). One family: both share the reader, the prefetch ring and the varispeed stage.
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
** Stretch. The `stretch` node runs Rubber Band (R3 "finer" engine, real-time mode, fixed chunks
** so the output does not depend on the block size) on the stream side, after the rate
** conversion: region frames -> libsamplerate -> Rubber Band -> ring. Its start delay is removed
** there (preferred start pad in, start delay out), so the ring holds frames aligned with the
** graph clock and the node reports no latency. R3's own misplacement of its output (see
** rb_early_frames) is corrected there too, so a stretched take lines up with the others
** (hits within 0.15 ms on average). The stretched region lasts round(frames / tempo) frames.
**
** Varispeed. The `rate` parameter (pitch and tempo together, 2 = an octave up at half the
** length) is applied on the processing side, after the ring, by a libsamplerate converter in
** variable-ratio mode fed by the ring (ratio 1/rate, stepped on a 64-frame grid of graph time
** so the output is the same whatever the block size). While the rate stays exactly 1 from the
** start, the converter is not
** used and PCM stays bit-exact; once it departs from 1 it stays engaged until the next reset.
** Playback ends when the integral of the rate reaches the region's length, so a constant rate
** r gives ceil(frames / r) frames.
**
** Timing. Graph frame `start_frame = round(start * rate)` plays region frame 0. The region is
** [offset, offset + length) of the file (file seconds); it lasts `out_len` graph frames,
** round(region frames * graph rate / file rate). The stream side produces exactly that many
** frames (truncating the resampler's flush or padding it with silence), so the node's length is
** exact and the output is the same whatever the block size: the resampler is always fed the
** same fixed input chunks, independent of how the ring is drained.
*/
#include <math.h>
#include <rubberband/rubberband-c.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mg_node.h"
#include "mg_sndfile.h"
#include "mg_ring.h"

enum { OPT_PATH, OPT_START, OPT_OFFSET, OPT_LENGTH, OPT_LOOP, OPT_TEMPO, OPT_PITCH, OPT_FORMANT };
enum { P_GAIN, P_RATE };

extern const mg_node_desc mg_node_stretch;

#define RING_MIN_FRAMES 16384
#define RATE_MAX 4.0 /* varispeed range [RATE_MIN, RATE_MAX] */
#define RATE_MIN 0.01
#define VS_PIECE 64        /* varispeed: frames per ratio step */
#define VS_CHUNK 256       /* varispeed: ring frames handed to the converter per callback */
#define RB_CHUNK 1024      /* stretch: frames fed to Rubber Band per call */
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
    int64_t region_len;  /* region length in graph frames before stretching */
    int64_t out_len;     /* frames the ring delivers (MG_FOREVER when looping) */
    int resample;
    int stretch;       /* the `stretch` node */
    double tempo;      /* stretch: speed ratio (2 = twice as fast) */
    double pitch;      /* stretch: semitones */
    int formant;       /* stretch: preserve formants */
    double graph_rate; /* Hz, for the stretcher */
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
    int raw_bytes;    /* [immutable] 2 or 3: read packed PCM raw, decode here (0: no) */
    int eoi;          /* end of input passed to the resampler */
    int src_done;     /* resampler flushed (or failed) */
    int64_t out_made; /* graph frames out of the resampler (not looping) */
    RubberBandState rb;            /* stretch only */
    float *rb_io;                  /* RB_CHUNK interleaved frames */
    float *rb_ch[MG_MAX_CHANNELS]; /* RB_CHUNK frames per channel */
    int64_t rb_skip;               /* output frames still to drop (the start delay) */
    int64_t rb_made;               /* frames delivered to the ring (not looping) */
    int rb_final;                  /* the last input went in */

    /* [rt] consumer */
    int64_t played;  /* frames taken from the ring since the rewind */
    SRC_STATE *vs;   /* varispeed converter (callback mode, fed from the ring) */
    float *vs_in;    /* VS_CHUNK interleaved frames handed to the converter */
    float *vs_out;   /* VS_PIECE interleaved frames out of it */
    int vs_on;       /* the rate has departed from 1 since the last reset */
    int vs_end;      /* the varispeed output reached the end of the region */
    double vs_pos;   /* ring frames played through so far (integral of the rate) */
    double vs_ratio; /* converter ratio in use (1/rate); 0 after a reset */
};

/* ---- stream side ---- */

/*
** Read up to k frames as normalised floats. PCM and FLAC files are read as integers and
** converted here, in SKIP_FRAMES pieces through skipbuf: the same values as libsndfile's float
** path, at a fraction of its cost; 16- and 24-bit PCM in WAV-like files is read raw and
** decoded here (mg_sndfile_pcm_to_float: the same values again, without libsndfile's
** conversion to int). Returns the frames read (0 at the end or on error).
*/
static sf_count_t read_frames(struct file_state *st, float *dst, sf_count_t k)
{
    if (!st->int_read)
        return sf_readf_float(st->snd.sf, dst, k);
    sf_count_t done = 0;
    size_t ch = (size_t)st->channels;
    if (st->raw_bytes > 0) { /* packed PCM straight from the file (skipbuf holds 4 bytes a
                                sample, raw_bytes <= 3) */
        sf_count_t fb = (sf_count_t)ch * st->raw_bytes;
        unsigned char *raw = (unsigned char *)st->skipbuf;
        while (done < k) {
            sf_count_t want = k - done < SKIP_FRAMES ? k - done : SKIP_FRAMES;
            sf_count_t got = sf_read_raw(st->snd.sf, raw, want * fb) / fb;
            if (got <= 0)
                break;
            mg_sndfile_pcm_to_float(raw, dst + (size_t)done * ch, (size_t)got * ch,
                                    st->raw_bytes);
            done += got;
            if (got < want)
                break;
        }
        return done;
    }
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

/*
** How early R3 (Rubber Band 3.1.2) puts its output relative to the reported start delay, in
** frames of its stretched signal, against its internal stretch ratio r = pitch scale / tempo
** (it stretches by r, then resamples by the pitch scale, which divides the offset by it).
** Measured at 48 kHz as the mean onset offset of 28 noise hits through R3 in real-time mode
** with tempo 1 / r; pitch shifts, tones of 110 Hz to 5 kHz and 44.1 kHz give the same, and the
** `rubberband` command (--fine) shows the same offsets, so they are R3's, not our start-pad
** handling. For r <= 1 R3 stays within +-0.3 ms, by amounts that depend on the signal: no
** correction. Above 50 kHz R3 configures itself differently and the table does not apply.
*/
static const double rb_early_r[] = {1.0, 1.05, 1.1, 1.2,  1.3, 1.4, 1.5, 1.6,
                                    1.7, 1.8,  2.0, 2.25, 2.5, 3.0, 3.5, 4.0};
static const double rb_early_frames[] = {0,   5,   11,  24,  52,  77,  108, 145,
                                         159, 181, 251, 332, 385, 541, 708, 908};

/* Frames R3's output comes early for a pitch scale p and a tempo (see above). [stream] */
static double rb_early(double p, double tempo, double graph_rate)
{
    double r = p / tempo;
    size_t n = sizeof rb_early_r / sizeof rb_early_r[0];
    if (graph_rate > 50000 || r <= 1)
        return 0;
    size_t i = 1;
    while (i < n - 1 && r > rb_early_r[i])
        i++; /* beyond the last point: extrapolate the last segment */
    double u = (r - rb_early_r[i - 1]) / (rb_early_r[i] - rb_early_r[i - 1]);
    return (rb_early_frames[i - 1] + u * (rb_early_frames[i] - rb_early_frames[i - 1])) / p;
}

/*
** A fresh Rubber Band, primed with its preferred start pad of silence so that dropping its
** start delay (corrected by R3's offset above) aligns the output. Made anew rather than
** reset: after a run cut short (a measure, a stop) rubberband_reset left R3 in a state that
** changed the next 2.5 s slightly.
** [stream] may allocate (not the processing thread); on failure the node plays silence.
*/
static void new_stretcher(struct file_state *st)
{
    if (st->rb)
        rubberband_delete(st->rb);
    RubberBandOptions o = RubberBandOptionProcessRealTime | RubberBandOptionEngineFiner |
                          RubberBandOptionThreadingNever | RubberBandOptionChannelsTogether |
                          RubberBandOptionPitchHighConsistency |
                          (st->formant ? RubberBandOptionFormantPreserved : 0);
    st->rb = rubberband_new((unsigned)lrint(st->graph_rate), (unsigned)st->channels, o,
                            1.0 / st->tempo, pow(2.0, st->pitch / 12.0));
    st->rb_made = 0;
    st->rb_final = 0;
    st->rb_skip = 0;
    if (!st->rb)
        return;
    rubberband_set_max_process_size(st->rb, RB_CHUNK);
    unsigned pad = rubberband_get_preferred_start_pad(st->rb);
    for (int c = 0; c < st->channels; c++)
        memset(st->rb_ch[c], 0, RB_CHUNK * sizeof(float));
    while (pad > 0) {
        unsigned k = pad < RB_CHUNK ? pad : RB_CHUNK;
        rubberband_process(st->rb, (const float *const *)st->rb_ch, k, 0);
        pad -= k;
    }
    st->rb_skip = rubberband_get_start_delay(st->rb);
    st->rb_skip -= llround(rb_early(pow(2.0, st->pitch / 12.0), st->tempo, st->graph_rate));
    if (st->rb_skip < 0)
        st->rb_skip = 0;
}

/* Rewind the producer to the region start with a fresh resampler (and Rubber Band). */
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
    if (st->stretch)
        new_stretcher(st);
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
    int64_t left = st->region_len - st->out_made;
    if ((int64_t)st->stage_n > left)
        st->stage_n = (size_t)left;
    if (st->src_done && st->stage_n == 0 && left > 0) {
        st->stage_n = (int64_t)st->stage_cap < left ? st->stage_cap : (size_t)left;
        memset(st->stage, 0, st->stage_n * ch * sizeof(float));
    }
    st->out_made += (int64_t)st->stage_n;
}

/*
** Up to `want` region frames at the graph rate (interleaved) into dst: read directly, or
** through the resampler's stage. Fewer only at the end of a region that does not loop.
*/
static size_t produce_region(struct file_state *st, float *dst, size_t want)
{
    if (!st->resample)
        return read_region(st, dst, want);
    size_t ch = (size_t)st->channels, got = 0;
    while (got < want) {
        if (st->stage_pos == st->stage_n) {
            if ((!st->loop && st->out_made >= st->region_len) || (st->loop && st->src_done))
                break;
            resample_chunk(st);
            continue;
        }
        size_t k = st->stage_n - st->stage_pos;
        if (k > want - got)
            k = want - got;
        memcpy(dst + got * ch, st->stage + st->stage_pos * ch, k * ch * sizeof(float));
        st->stage_pos += k;
        got += k;
    }
    return got;
}

/* Move up to `room` frames of Rubber Band output into the ring; returns how many were taken. */
static size_t drain_stretch(struct file_state *st, size_t room)
{
    int avail = rubberband_available(st->rb);
    if (avail <= 0)
        return 0;
    size_t k = (size_t)avail < room ? (size_t)avail : room;
    if (k > RB_CHUNK)
        k = RB_CHUNK;
    k = rubberband_retrieve(st->rb, st->rb_ch, (unsigned)k);
    size_t from = 0;
    if (st->rb_skip > 0) {
        from = (int64_t)k < st->rb_skip ? k : (size_t)st->rb_skip;
        st->rb_skip -= (int64_t)from;
    }
    size_t n = k - from, ch = (size_t)st->channels;
    if (!st->loop && (int64_t)n > st->out_len - st->rb_made)
        n = (size_t)(st->out_len - st->rb_made);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < ch; c++)
            st->rb_io[i * ch + c] = st->rb_ch[c][from + i];
    mg_ring_write(&st->ring, st->rb_io, n);
    st->rb_made += (int64_t)n;
    return k;
}

/*
** Stretch: feed Rubber Band fixed RB_CHUNK pieces of the region and move what it returns
** into the ring, exactly out_len frames in all (its flush cut or padded with silence).
*/
static void fill_stretch(struct file_state *st)
{
    size_t ch = (size_t)st->channels;
    for (;;) {
        size_t room = mg_ring_write_space(&st->ring);
        if (room == 0 || (!st->loop && st->rb_made >= st->out_len))
            return;
        if (st->rb && drain_stretch(st, room) > 0)
            continue;
        if (st->rb_final || !st->rb) { /* flushed (or no stretcher): silence to the end */
            int64_t left = st->loop ? (int64_t)room : st->out_len - st->rb_made;
            size_t k = (int64_t)room < left ? room : (size_t)left;
            if (k > RB_CHUNK)
                k = RB_CHUNK;
            memset(st->rb_io, 0, k * ch * sizeof(float));
            mg_ring_write(&st->ring, st->rb_io, k);
            st->rb_made += (int64_t)k;
            continue;
        }
        size_t got = produce_region(st, st->rb_io, RB_CHUNK);
        st->rb_final = got < RB_CHUNK;
        for (size_t i = 0; i < got; i++)
            for (size_t c = 0; c < ch; c++)
                st->rb_ch[c][i] = st->rb_io[i * ch + c];
        rubberband_process(st->rb, (const float *const *)st->rb_ch, (unsigned)got, st->rb_final);
    }
}

/* Fill the ring as far as it has room. */
static void fill_ring(struct file_state *st)
{
    if (st->stretch) {
        fill_stretch(st);
        return;
    }
    mg_ring *r = &st->ring;
    for (;;) {
        size_t contig;
        float *p = mg_ring_write_ptr(r, &contig);
        if (contig == 0)
            return;
        size_t got = produce_region(st, p, contig);
        mg_ring_commit(r, got);
        if (got < contig)
            return;
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

static long vs_feed(void *cb_data, float **data);

static void release_buffers(struct file_state *st)
{
    st->prepared = 0;
    mg_ring_free(&st->ring);
    if (st->src)
        src_delete(st->src);
    st->src = NULL;
    if (st->vs)
        src_delete(st->vs);
    st->vs = NULL;
    if (st->rb)
        rubberband_delete(st->rb);
    st->rb = NULL;
    for (int c = 0; c < MG_MAX_CHANNELS; c++) {
        free(st->rb_ch[c]);
        st->rb_ch[c] = NULL;
    }
    free(st->rb_io);
    free(st->vs_in);
    free(st->vs_out);
    st->rb_io = st->vs_in = st->vs_out = NULL;
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
    st->raw_bytes = mg_sndfile_raw_bytes(&st->snd);
    if (st->raw_bytes < 0)
        return mg_node_errorf(node, MG_ERR_IO, "cannot read '%s': seeking to its start failed",
                              path);
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
    if (mg_node_desc_of(node) == &mg_node_stretch) {
        st->stretch = 1;
        st->tempo = mg_node_opt_num(node, OPT_TEMPO);
        st->pitch = mg_node_opt_num(node, OPT_PITCH);
        st->formant = mg_node_opt_num(node, OPT_FORMANT) != 0;
    }
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
    st->region_len = st->resample ? llround((double)st->region_in * st->ratio) : st->region_in;
    st->out_len = st->loop      ? MG_FOREVER
                  : st->stretch ? llround((double)st->region_len / st->tempo)
                                : st->region_len;
    if (st->out_len < 1)
        st->out_len = 1;

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
    int nomem = 0;
    if (st->stretch) { /* the stretcher itself is made by rewind_stream */
        st->graph_rate = pr->rate;
        st->rb_io = malloc(RB_CHUNK * ch * sizeof(float));
        for (int c = 0; c < st->channels; c++)
            nomem |= !(st->rb_ch[c] = malloc(RB_CHUNK * sizeof(float)));
        nomem |= !st->rb_io;
    }
    int err = 0;
    st->vs = src_callback_new(vs_feed, SRC_SINC_MEDIUM_QUALITY, st->channels, &err, st);
    st->vs_in = malloc(VS_CHUNK * ch * sizeof(float));
    st->vs_out = malloc(VS_PIECE * ch * sizeof(float));
    nomem |= !st->vs || !st->vs_in || !st->vs_out;
    st->skipbuf = malloc(SKIP_FRAMES * ch * sizeof(float));
    /* room for 4 blocks at the fastest varispeed rate */
    size_t frames = (size_t)pr->block * 4 * (size_t)RATE_MAX;
    if (frames < RING_MIN_FRAMES)
        frames = RING_MIN_FRAMES;
    mg_status s = mg_ring_init(&st->ring, st->channels, frames);
    if (s != MG_OK || nomem || !st->skipbuf || (st->resample && (!st->inbuf || !st->stage))) {
        release_buffers(st);
        return mg_node_errorf(node, MG_ERR_NOMEM, "out of memory for '%s'", st->path);
    }

    rewind_stream(st);
    if (st->stretch && !st->rb) {
        release_buffers(st);
        return mg_node_errorf(node, MG_ERR_NOMEM, "cannot make a Rubber Band stretcher for '%s'",
                              st->path);
    }
    st->played = 0;
    st->vs_on = st->vs_end = 0;
    st->vs_pos = st->vs_ratio = 0;
    st->prepared = 1;
    fill_ring(st);
    pr->length = st->loop ? MG_FOREVER : st->start_frame + st->out_len;
    return MG_OK;
}

/*
** [control] Frames the source plays, from the current `rate`: ceil(out_len / rate) after the
** start (an automated rate is taken at its value when the graph is compiled).
*/
static int64_t file_length(const void *state, const mg_node *node, double rate)
{
    (void)rate;
    const struct file_state *st = state;
    if (st->loop || !st->prepared)
        return MG_FOREVER;
    double r = mg_node_get_index(node, P_RATE);
    if (r == 1.0)
        return st->start_frame + st->out_len;
    return st->start_frame + (int64_t)ceil((double)st->out_len / r);
}

/* ---- processing thread ---- */

static void zero(mg_buf *out, uint32_t from, uint32_t to)
{
    for (int c = 0; c < out->channels; c++)
        for (uint32_t i = from; i < to; i++)
            out->ch[c][i] = 0.0f;
}

/*
** [rt] Ask the stream side to rewind. Nothing to do when no frame was taken since the last
** rewind (e.g. the reset that follows prepare): the ring already holds the stream's start.
*/
static void file_reset(void *state)
{
    struct file_state *st = state;
    if (!st->prepared)
        return;
    if (st->vs_on)
        src_reset(st->vs);
    st->vs_on = st->vs_end = 0;
    st->vs_pos = st->vs_ratio = 0;
    if (st->played == 0)
        return;
    mg_ring_flush_request(&st->ring);
    st->played = 0;
}

/*
** [rt] The varispeed converter's input: the next VS_CHUNK ring frames (fewer at the end of the
** region, 0 after it). Frames the ring cannot supply yet are silence, counted as underruns, so
** the file keeps its place.
*/
static long vs_feed(void *cb_data, float **data)
{
    struct file_state *st = cb_data;
    size_t ch = (size_t)st->channels, want = VS_CHUNK, got = 0;
    if (st->out_len != MG_FOREVER) {
        if (st->played >= st->out_len)
            return 0;
        if ((int64_t)want > st->out_len - st->played)
            want = (size_t)(st->out_len - st->played);
    }
    while (got < want) {
        size_t contig;
        const float *p = mg_ring_read_ptr(&st->ring, &contig);
        if (contig == 0)
            break;
        size_t k = contig < want - got ? contig : want - got;
        memcpy(st->vs_in + got * ch, p, k * ch * sizeof(float));
        mg_ring_consume(&st->ring, k);
        got += k;
    }
    if (got < want) {
        memset(st->vs_in + got * ch, 0, (want - got) * ch * sizeof(float));
        atomic_fetch_add_explicit(&st->underruns, want - got, memory_order_relaxed);
    }
    st->played += (int64_t)want;
    *data = st->vs_in;
    return (long)want;
}

/*
** [rt] Frames [j, n) of the block through the varispeed converter. The ratio 1/rate steps on a
** grid of VS_PIECE graph frames (the rate at each piece's first frame; libsamplerate does not
** ramp between them), so the output is the same whatever the block size. The output stops
** where the integral of the rate reaches out_len.
*/
static void vs_process(struct file_state *st, const mg_block *b, uint32_t j)
{
    mg_buf *out = &b->out[0];
    const mg_pval *g = &b->p[P_GAIN], *rp = &b->p[P_RATE];
    int nch = out->channels < st->channels ? out->channels : st->channels;
    size_t stride = (size_t)st->channels;
    double end = st->out_len == MG_FOREVER ? INFINITY : (double)st->out_len;
    while (j < b->n && !st->vs_end) {
        uint64_t apos = b->pos + j;
        uint32_t lim = VS_PIECE - (uint32_t)(apos % VS_PIECE);
        if (lim > b->n - j)
            lim = b->n - j;
        if (apos % VS_PIECE == 0 || st->vs_ratio == 0) {
            double ratio = 1.0 / rp->v[rp->constant ? 0 : j];
            if (ratio != st->vs_ratio)
                src_set_ratio(st->vs, ratio);
            st->vs_ratio = ratio;
        }
        uint32_t k = 0;
        while (k < lim && st->vs_pos < end) {
            st->vs_pos += rp->v[rp->constant ? 0 : j + k];
            k++;
        }
        if (k == 0) {
            st->vs_end = 1;
            break;
        }
        long got = src_callback_read(st->vs, st->vs_ratio, (long)k, st->vs_out);
        if (got < 0)
            got = 0;
        for (long i = got; i < (long)k; i++) /* the converter ran dry: silence */
            for (size_t c = 0; c < stride; c++)
                st->vs_out[(size_t)i * stride + c] = 0.0f;
        for (uint32_t i = 0; i < k; i++) {
            float amp = mg_db_to_amp(g->v[g->constant ? 0 : j + i]);
            for (int c = 0; c < nch; c++)
                out->ch[c][j + i] = st->vs_out[i * stride + (size_t)c] * amp;
        }
        j += k;
    }
    zero(out, j, b->n);
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
    if (i0 < n && st->prepared && !st->vs_on) {
        const mg_pval *rp = &b->p[P_RATE];
        st->vs_on = !rp->constant || rp->v[0] != 1.0f;
        st->vs_pos = (double)a; /* region frames played so far at rate 1 */
    }
    if (st->vs_on) {
        vs_process(st, b, i0);
        return;
    }
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
                if (nch == 2 && stride == 2) { /* stereo: both channels in one pass (vectorised) */
                    float *restrict y0 = out->ch[0] + j, *restrict y1 = out->ch[1] + j;
                    for (size_t i = 0; i < k; i++) { /* size_t: 2 i cannot wrap */
                        y0[i] = p[2 * i] * amp;
                        y1[i] = p[2 * i + 1] * amp;
                    }
                } else {
                    for (int c = 0; c < nch; c++) {
                        float *y = out->ch[c] + j;
                        const float *x = p + c;
                        for (uint32_t i = 0; i < k; i++)
                            y[i] = x[i * stride] * amp;
                    }
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
    {.name = "rate",
     .unit = "",
     .min = RATE_MIN,
     .max = RATE_MAX,
     .def = 1,
     .smooth_ms = 0,
     .doc = "varispeed: playback speed, pitch and tempo together (2 = an octave up, half as "
            "long); ramp it for a tape stop or start"},
};

/* `file` uses the first five options, `stretch` all of them. */
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
    {.name = "tempo",
     .type = MG_OPT_NUMBER,
     .unit = "",
     .min = 0.25,
     .max = 4,
     .def = 1,
     .doc = "speed ratio, pitch unchanged (1.25 = 25 % faster, 0.8 times as long)"},
    {.name = "pitch",
     .type = MG_OPT_NUMBER,
     .unit = "st",
     .min = -24,
     .max = 24,
     .def = 0,
     .doc = "transposition in semitones (st; fractions allowed), length unchanged"},
    {.name = "formant",
     .type = MG_OPT_BOOL,
     .min = 0,
     .max = 1,
     .def = 0,
     .doc = "preserve formants (voices keep their timbre when transposed)"},
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

/* What `file` and `stretch` share: the output, parameters and lifecycle. */
#define FILE_SOURCE_COMMON                                                                         \
    .outputs = file_out, .n_outputs = 1, .params = file_params, .n_params = 2,                     \
    .options = file_options, .state_size = sizeof(struct file_state), .create = file_create,       \
    .prepare = file_prepare, .reset = file_reset, .process = file_process,                         \
    .service = file_service, .length = file_length, .meter = file_meter, .meters = "underruns", .out_channels = file_out_channels,             \
    .destroy = file_destroy

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
        "so memory does not grow with its length. `gain` in dB, smoothed over 20 ms. `rate` is "
        "varispeed (libsamplerate variable ratio, SINC_MEDIUM): pitch and tempo change "
        "together, a constant rate r plays ceil(frames/r) frames; automate it for tape "
        "effects.",
    .n_options = 5, /* path .. loop */
    FILE_SOURCE_COMMON,
};

const mg_node_desc mg_node_stretch = {
    .name = "stretch",
    .doc = "A sound file region (options as `file`), time-stretched and pitch-shifted "
           "independently by Rubber Band 3 (R3 \"finer\" engine, real-time mode): `tempo` is the "
           "speed ratio (the region lasts round(frames/tempo) graph frames), `pitch` the "
           "transposition in semitones, `formant` keeps formants. It is a source, so the graph "
           "clock is unchanged downstream; Rubber Band's start delay is removed inside (no "
           "latency; the output lines up with the other sources). `gain` and the "
           "varispeed `rate` work as on `file`. Measured: 440 Hz at +12 semitones reads "
           "880.000 Hz, THD+N below -50 dB.",
    .n_options = 8, /* path .. loop, tempo, pitch, formant */
    FILE_SOURCE_COMMON,
};
