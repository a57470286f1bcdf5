/*
** test_file.c: the `file` node: bit-exact PCM passthrough, resampling quality and timing
** (DSP_TESTS.md §13 SRC-1, SRC-4, SRC-5), start/offset/length/loop positions, gain, the rewind
** handshake, underruns, bounded memory and error messages for bad files.
**
** Every input is synthesized here with libsndfile into a temporary directory under /tmp that is
** removed at the end. Runs on the test's main thread (it plays control, stream and rt side).
*/
#ifndef M_PI
#define M_PI 3.14159265358979323846 /* not declared by <math.h> under strict C11 + POSIX */
#endif

#include <fcntl.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdint.h>
#include <threads.h>
#include <unistd.h>

#include "mg_ring.h"
#include "mg_sndfile.h"
#include "mg_test.h"
#include "tmp_files.h"

/* Write interleaved floats (or ints when `ints` is given, left-justified) to a sound file. */
static void write_file(const char *path, int format, int rate, int ch, const float *x,
                       const int *ints, long frames)
{
    SF_INFO si = {.samplerate = rate, .channels = ch, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &si);
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, sf_strerror(NULL));
        exit(1);
    }
    if (ints) {
        sf_command(f, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
        sf_writef_int(f, ints, frames);
    } else {
        sf_writef_float(f, x, frames);
    }
    sf_close(f);
}

static void write_mono_at(const char *path, int rate, const float *x, long frames)
{
    write_file(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, rate, 1, x, NULL, frames);
}

/* `file -> output` with the given options. */
static mg_graph *file_graph(double rate, int block, int ch, const char *path, double start,
                            double offset, double length, int loop)
{
    mg_graph *g = mg_test_graph(rate, block, ch);
    mg_opt o[] = {{"path", path, 0},
                  {"start", NULL, start},
                  {"offset", NULL, offset},
                  {"length", NULL, length},
                  {"loop", NULL, loop}};
    mg_node *f = mg_test_node(g, "file", "f", o, 5);
    CHECK_OK(mg_connect(f, 0, mg_graph_output(g), 0), g);
    return g;
}

static uint32_t lcg_state = 12345;
static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state;
}

/* ---- the ring across two threads: order, no loss, flush handshake ---- */

typedef struct ring_stress {
    mg_ring ring;
    atomic_int stop;
} ring_stress;

/* Producer: frames {counter, generation}; a flush restarts the counter in a new generation. */
static int ring_producer(void *arg)
{
    ring_stress *rs = arg;
    uint32_t seed = 777, counter = 0, gen = 0;
    float chunk[2 * 128];
    while (!atomic_load(&rs->stop)) {
        if (mg_ring_flush_requested(&rs->ring)) {
            counter = 0;
            gen++;
            mg_ring_flush_ack(&rs->ring);
        }
        seed = seed * 1664525u + 1013904223u;
        size_t n = 1 + (seed >> 16) % 128;
        for (size_t i = 0; i < n; i++) {
            chunk[2 * i] = (float)(counter + i);
            chunk[2 * i + 1] = (float)gen;
        }
        size_t w = mg_ring_write(&rs->ring, chunk, n);
        counter += (uint32_t)w;
        if (w < n)
            thrd_yield();
    }
    return 0;
}

static void test_ring_threads(void)
{
    ring_stress rs;
    CHECK(mg_ring_init(&rs.ring, 2, 200) == MG_OK && rs.ring.cap == 256, "ring init");
    atomic_init(&rs.stop, 0);
    thrd_t t;
    if (thrd_create(&t, ring_producer, &rs) != thrd_success) {
        fprintf(stderr, "thrd_create failed\n");
        exit(1);
    }
    long frames = 0, errors = 0, flushes = 0;
    uint32_t expect = 0, seed = 99;
    float buf[2 * 100];
    while (frames < 3000000) {
        seed = seed * 1664525u + 1013904223u;
        if ((seed >> 8) % 64 == 0) {
            mg_ring_flush_request(&rs.ring);
            flushes++;
            expect = 0;
            /* nothing is readable until the producer acknowledged (it may do so any time) */
            while (mg_ring_flush_pending(&rs.ring)) {
                errors += mg_ring_read_avail(&rs.ring) != 0 && mg_ring_flush_pending(&rs.ring);
                thrd_yield();
            }
        }
        size_t n = mg_ring_read(&rs.ring, buf, 1 + (seed >> 16) % 100);
        for (size_t i = 0; i < n; i++, expect++)
            errors += buf[2 * i] != (float)expect || buf[2 * i + 1] != (float)flushes;
        frames += (long)n;
        if (n == 0)
            thrd_yield();
    }
    atomic_store(&rs.stop, 1);
    thrd_join(t, NULL);
    mg_ring_free(&rs.ring);
    mg_test_report("ring, 2 threads: frames checked", (double)frames, "");
    mg_test_report("ring, 2 threads: flushes", (double)flushes, "");
    CHECK(errors == 0,
          "ring: %ld frames out of order, lost, stale after a flush, or readable "
          "while a flush was pending",
          errors);
}

/* ---- 24-bit round trip ---- */

static void test_roundtrip_24(const char *in_name, int format, int block)
{
    const long n = 48000;
    int *x = malloc((size_t)n * 2 * sizeof *x);
    static const int extremes[] = {8388607, -8388608, 8388606, -8388607, 1, -1, 0, 4194304};
    for (long i = 0; i < n; i++) {
        int a = (int)lrint(8388607.0 * 0.9 * sin(2 * M_PI * 997.0 * (double)i / 48000.0));
        int b = (int)(lcg() >> 8) - 8388608; /* uniform over the whole 24-bit range */
        if (i < 8)
            a = extremes[i], b = -extremes[7 - i];
        if (i >= n - 8)
            a = extremes[n - 1 - i], b = extremes[i - (n - 8)];
        x[2 * i] = (int)((unsigned)a << 8);
        x[2 * i + 1] = (int)((unsigned)b << 8);
    }
    const char *in = tmp_path(in_name), *out = tmp_path("rt_out.wav");
    write_file(in, format, 48000, 2, NULL, x, n);

    mg_graph *g = file_graph(48000, block, 2, in, 0, 0, 0, 0);
    CHECK(mg_graph_length(g) == n, "%s: length %lld, expected %ld", in_name,
          (long long)mg_graph_length(g), n);
    mg_render_opts ro = {.path = out, .bits = MG_BITS_24};
    mg_render_result res = {0};
    CHECK_OK(mg_render(g, &ro, &res), g);
    CHECK(res.frames == (uint64_t)n && res.clipped == 0, "%s: rendered %llu frames, %llu clipped",
          in_name, (unsigned long long)res.frames, (unsigned long long)res.clipped);

    SF_INFO si = {0};
    SNDFILE *f = sf_open(out, SFM_READ, &si);
    CHECK(f && si.channels == 2 && si.frames == n &&
              (si.format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_24,
          "%s: output not a %ld-frame 24-bit stereo file", in_name, n);
    long mismatches = n * 2;
    if (f) {
        int *y = calloc((size_t)n * 2, sizeof *y);
        sf_count_t got = sf_readf_int(f, y, n);
        sf_close(f);
        mismatches = 0;
        for (long i = 0; i < 2 * n; i++)
            mismatches += i >= 2 * got || (x[i] >> 8) != (y[i] >> 8);
        free(y);
    }
    char what[96];
    snprintf(what, sizeof what, "%s -> 24-bit WAV, block %d: differing samples", in_name, block);
    mg_test_report(what, (double)mismatches, "");
    CHECK(mismatches == 0, "%s: %ld of %ld samples differ after the round trip", in_name,
          mismatches, 2 * n);
    mg_graph_free(g);
    free(x);
    unlink(in);
    unlink(out);
}

/* ---- SRC-1: SNR of a resampled 1 kHz tone ---- */

static void test_src_snr(int file_rate, double graph_rate)
{
    long n = 3L * file_rate;
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++)
        x[i] = (float)(0.5 * sin(2 * M_PI * 1000.0 * (double)i / file_rate));
    const char *path = tmp_path("snr.wav");
    write_mono_at(path, file_rate, x, n);
    mg_graph *g = file_graph(graph_rate, 256, 1, path, 0, 0, 0, 0);
    long len = (long)mg_graph_length(g);
    float **y = mg_test_render(g, len, NULL);
    long edge = (long)(0.1 * graph_rate);
    double resid;
    double amp = mg_test_sine_fit(y[0] + edge, len - 2 * edge, 1000.0, graph_rate, &resid);
    double snr = 20 * log10(amp / sqrt(2.0) / resid);
    double gain_db = 20 * log10(amp / 0.5);
    char what[96];
    snprintf(what, sizeof what, "SRC-1 %d -> %g Hz, 1 kHz -6 dBFS: SNR", file_rate, graph_rate);
    mg_test_report(what, snr, "dB");
    snprintf(what, sizeof what, "SRC-1 %d -> %g Hz: gain", file_rate, graph_rate);
    mg_test_report(what, gain_db, "dB");
    CHECK(snr >= 135.0, "SRC-1 %d -> %g: SNR %.1f dB < 135 dB", file_rate, graph_rate, snr);
    CHECK_NEAR(gain_db, 0.0, 0.001, "SRC-1 gain (dB)");
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
    free(x);
    unlink(path);
}

/* ---- SRC-4: length and time alignment of a click ---- */

static void test_src_timing(int file_rate, double graph_rate, long click)
{
    long n = 2L * file_rate;
    float *x = calloc((size_t)n, sizeof *x);
    x[click] = 0.5f;
    const char *path = tmp_path("click.wav");
    write_mono_at(path, file_rate, x, n);
    mg_graph *g = file_graph(graph_rate, 256, 1, path, 0, 0, 0, 0);
    double ratio = graph_rate / file_rate;
    long expect_len = lrint((double)n * ratio);
    long len = (long)mg_graph_length(g);
    char what[96];
    snprintf(what, sizeof what, "SRC-4 %d -> %g Hz: length - round(N*ratio)", file_rate,
             graph_rate);
    mg_test_report(what, (double)(len - expect_len), "frames");
    CHECK(labs(len - expect_len) <= 1, "SRC-4: length %ld, expected %ld +- 1", len, expect_len);

    float **y = mg_test_render(g, len, NULL);
    long k = 1;
    for (long i = 1; i < len - 1; i++)
        if (fabsf(y[0][i]) > fabsf(y[0][k]))
            k = i;
    /* parabola through the three samples around the peak */
    double a = y[0][k - 1], b = y[0][k], c = y[0][k + 1];
    double peak = (double)k + 0.5 * (a - c) / (a - 2 * b + c);
    double lag = peak - (double)click * ratio;
    snprintf(what, sizeof what, "SRC-4 %d -> %g Hz: click peak lag", file_rate, graph_rate);
    mg_test_report(what, lag, "samples");
    CHECK(fabs(lag) <= 0.5, "SRC-4 %d -> %g: click at %.3f, expected %.3f", file_rate, graph_rate,
          peak, (double)click * ratio);
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
    free(x);
    unlink(path);
}

/* ---- SRC-5: streaming equals one src_simple call; block sizes agree bit for bit ---- */

static void test_src_streaming(void)
{
    const int fr = 44100, ch = 2;
    const double gr = 48000;
    long n = 2L * fr;
    float *x = malloc((size_t)n * ch * sizeof *x);
    for (long i = 0; i < n; i++) {
        double t = (double)i / fr;
        x[2 * i] = (float)(0.3 * sin(2 * M_PI * 440 * t) + 0.2 * sin(2 * M_PI * 15000 * t) +
                           0.2 * ((double)lcg() / 4294967296.0 - 0.5));
        x[2 * i + 1] =
            (float)(0.4 * sin(2 * M_PI * 3000 * t) + 0.3 * ((double)lcg() / 4294967296.0 - 0.5));
    }
    const char *path = tmp_path("stream.wav");
    write_file(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, fr, ch, x, NULL, n);

    long cap = lrint((double)n * gr / fr) + 1024;
    float *ref = calloc((size_t)cap * ch, sizeof *ref);
    SRC_DATA d = {.data_in = x,
                  .data_out = ref,
                  .input_frames = n,
                  .output_frames = cap,
                  .end_of_input = 1,
                  .src_ratio = gr / fr};
    int err = src_simple(&d, SRC_SINC_BEST_QUALITY, ch);
    CHECK(err == 0, "src_simple: %s", src_strerror(err));

    static const int blocks[] = {64, 1, 1000, 4096};
    float **first = NULL;
    long len0 = 0;
    for (int bi = 0; bi < 4; bi++) {
        mg_graph *g = file_graph(gr, blocks[bi], ch, path, 0, 0, 0, 0);
        long len = (long)mg_graph_length(g);
        float **y = mg_test_render(g, len, NULL);
        long m = len < d.output_frames_gen ? len : d.output_frames_gen;
        double maxd = 0;
        for (int c = 0; c < ch; c++)
            for (long i = 0; i < m; i++)
                maxd = fmax(maxd, fabs((double)y[c][i] - ref[i * ch + c]));
        char what[96];
        snprintf(what, sizeof what, "SRC-5 block %d: max |stream - src_simple|", blocks[bi]);
        mg_test_report(what, maxd, "");
        CHECK(maxd <= 1e-6, "SRC-5 block %d: differs from src_simple by %g", blocks[bi], maxd);
        CHECK(labs(len - d.output_frames_gen) <= 1, "SRC-5: length %ld, src_simple made %ld", len,
              d.output_frames_gen);
        if (!first) {
            first = y;
            len0 = len;
        } else {
            int same = len == len0;
            for (int c = 0; c < ch && same; c++)
                same = memcmp(first[c], y[c], (size_t)len * sizeof(float)) == 0;
            CHECK(same, "SRC-5: block %d output differs from block 64", blocks[bi]);
            mg_test_free_channels(y, ch);
        }
        mg_graph_free(g);
    }
    mg_test_free_channels(first, ch);
    free(ref);
    free(x);
    unlink(path);
}

/* ---- start / offset / length / loop, exact to the sample ---- */

static float ramp_value(long i)
{
    return (float)(i + 1) * (1.0f / 1048576.0f);
}

/* Expected output at graph frame p; region [off, off+len) of a file with `fn` frames. */
static float expect_at(long p, long start, long off, long len, int loop, long fn)
{
    if (p < start)
        return 0.0f;
    long k = p - start;
    if (loop)
        k %= len;
    else if (k >= len)
        return 0.0f;
    return off + k < fn ? ramp_value(off + k) : 0.0f;
}

static void test_positions(void)
{
    const long fn = 48000;
    float *x = malloc((size_t)fn * sizeof *x);
    for (long i = 0; i < fn; i++)
        x[i] = ramp_value(i);
    const char *path = tmp_path("ramp.wav");
    write_mono_at(path, 48000, x, fn);

    struct {
        double start, offset, length;
        int loop;
        long s, o, l; /* the same in frames */
        long frames;  /* frames to render */
        const char *what;
    } cases[] = {
        {0.01, 0.02, 0.005, 0, 480, 960, 240, 1200, "start 10 ms, offset 20 ms, length 5 ms"},
        {0, 0, 0, 0, 0, 0, 48000, 50000, "whole file"},
        {0.001, 0.5, 0.01, 1, 48, 24000, 480, 40000, "loop 10 ms from 0.5 s, start 1 ms"},
        {0, 0.9, 0, 1, 0, 43200, 4800, 40000, "loop offset 0.9 s to the end"},
        {0.25, 0.99, 0.02, 0, 12000, 47520, 960, 14000, "length past the end: silence"},
        {0, 0.75, 0, 0, 0, 36000, 12000, 13000, "offset 0.75 s to the end"},
    };
    static const int blocks[] = {64, 1, 1000};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        float *first = NULL;
        for (int bi = 0; bi < 3; bi++) {
            mg_graph *g = file_graph(48000, blocks[bi], 1, path, cases[ci].start, cases[ci].offset,
                                     cases[ci].length, cases[ci].loop);
            int64_t len = mg_graph_length(g);
            int64_t want_len = cases[ci].loop ? MG_FOREVER_FRAMES : cases[ci].s + cases[ci].l;
            CHECK(len == want_len, "%s: length %lld, expected %lld", cases[ci].what, (long long)len,
                  (long long)want_len);
            float **y = mg_test_render(g, cases[ci].frames, NULL);
            long bad = 0, first_bad = -1;
            for (long p = 0; p < cases[ci].frames; p++) {
                float e = expect_at(p, cases[ci].s, cases[ci].o, cases[ci].l, cases[ci].loop, fn);
                if (y[0][p] != e && bad++ == 0)
                    first_bad = p;
            }
            CHECK(bad == 0, "%s, block %d: %ld wrong samples, first at %ld (%g, expected %g)",
                  cases[ci].what, blocks[bi], bad, first_bad, first_bad >= 0 ? y[0][first_bad] : 0,
                  first_bad >= 0 ? expect_at(first_bad, cases[ci].s, cases[ci].o, cases[ci].l,
                                             cases[ci].loop, fn)
                                 : 0);
            if (!first)
                first = y[0];
            else {
                CHECK(memcmp(first, y[0], (size_t)cases[ci].frames * sizeof(float)) == 0,
                      "%s: block %d differs from block 64", cases[ci].what, blocks[bi]);
                free(y[0]);
            }
            free(y);
            mg_graph_free(g);
        }
        free(first);
    }
    mg_test_report("positions: cases exact to the sample at blocks 64, 1, 1000",
                   (double)(sizeof cases / sizeof *cases), "cases");

    /* rewind: mg_graph_reset mid-loop replays the same samples; so does a new block size */
    mg_graph *g = file_graph(48000, 64, 1, path, 0.001, 0.5, 0.01, 1);
    float **a = mg_test_render(g, 30000, NULL);
    mg_graph_reset(g);
    float **b = mg_test_render(g, 30000, NULL);
    CHECK(memcmp(a[0], b[0], 30000 * sizeof(float)) == 0, "render after mg_graph_reset differs");
    CHECK_OK(mg_graph_set_block(g, 1000), g);
    mg_graph_reset(g);
    float **c = mg_test_render(g, 30000, NULL);
    CHECK(memcmp(a[0], c[0], 30000 * sizeof(float)) == 0, "render after a block change differs");
    mg_test_free_channels(a, 1);
    mg_test_free_channels(b, 1);
    mg_test_free_channels(c, 1);
    mg_graph_free(g);

    /* offset at or beyond the end is an error naming the file */
    mg_graph *ge = mg_test_graph(48000, 64, 1);
    mg_opt o[] = {{"path", path, 0}, {"offset", NULL, 1.5}};
    mg_node *f = mg_node_new(ge, "file", "f", o, 2);
    const char *msg = mg_graph_error(ge);
    printf("  offset 1.5 s of a 1 s file: %s\n", msg);
    CHECK(!f && strstr(msg, "offset") && strstr(msg, path),
          "offset beyond the end: expected an error naming offset and file, got '%s'", msg);
    mg_graph_free(ge);

    free(x);
    unlink(path);
}

/* ---- gain: constant and ramped ---- */

static void test_gain(void)
{
    const long fn = 48000;
    float *x = malloc((size_t)fn * sizeof *x);
    for (long i = 0; i < fn; i++)
        x[i] = (float)(0.5 + 0.25 * sin(2 * M_PI * 50 * (double)i / 48000));
    const char *path = tmp_path("gain.wav");
    write_mono_at(path, 48000, x, fn);

    /* constant: exactly x * mg_db_to_amp(g) */
    mg_graph *g = file_graph(48000, 64, 1, path, 0, 0, 0, 0);
    CHECK_OK(mg_node_set(mg_graph_find(g, "f"), "gain", -6.0), g);
    float **y = mg_test_render(g, 4800, NULL);
    float k = mg_db_to_amp(-6.0f);
    long bad = 0;
    for (long i = 0; i < 4800; i++)
        bad += y[0][i] != x[i] * k;
    CHECK(bad == 0, "gain -6 dB: %ld samples differ from x * 10^(-6/20)", bad);
    mg_test_report("gain -6 dB: measured level", 20 * log10(y[0][1000] / x[1000]), "dB");
    mg_test_free_channels(y, 1);
    mg_graph_free(g);

    /* a change while playing ramps over 20 ms (960 frames), the same at any block size */
    float *first = NULL;
    static const int blocks[] = {64, 1, 96};
    for (int bi = 0; bi < 3; bi++) {
        g = file_graph(48000, blocks[bi], 1, path, 0, 0, 0, 0);
        float **a = mg_test_render(g, 1920, NULL);
        CHECK_OK(mg_node_set(mg_graph_find(g, "f"), "gain", -20.0), g);
        float **b = mg_test_render(g, 4800, NULL); /* continues at frame 1920 */
        float kt = mg_db_to_amp(-20.0f);
        long before = 0, after = 0, nonmono = 0;
        for (long i = 0; i < 1920; i++)
            before += a[0][i] != x[i];
        double prev = 1.0;
        for (long i = 0; i < 4800; i++) {
            double r = b[0][i] / x[1920 + i];
            if (i >= 960)
                after += b[0][i] != x[1920 + i] * kt;
            else if (r > prev + 1e-6 || r < kt - 1e-6)
                nonmono++;
            prev = r;
        }
        CHECK(before == 0 && after == 0 && nonmono == 0,
              "gain ramp, block %d: %ld wrong before, %ld wrong after, %ld out of ramp", blocks[bi],
              before, after, nonmono);
        if (!first) {
            first = b[0];
            b[0] = NULL;
        } else {
            CHECK(memcmp(first, b[0], 4800 * sizeof(float)) == 0,
                  "gain ramp: block %d differs from block 64", blocks[bi]);
        }
        mg_test_free_channels(a, 1);
        mg_test_free_channels(b, 1);
        mg_graph_free(g);
    }
    free(first);
    free(x);
    unlink(path);
}

/* ---- underrun: without service the node plays silence, never waits, and keeps time ---- */

static void test_underrun(void)
{
    const long fn = 48000;
    float *x = malloc((size_t)fn * sizeof *x);
    for (long i = 0; i < fn; i++)
        x[i] = ramp_value(i);
    const char *path = tmp_path("underrun.wav");
    write_mono_at(path, 48000, x, fn);
    mg_graph *g = file_graph(48000, 64, 1, path, 0, 0, 0, 1);
    CHECK_OK(mg_graph_compile(g), g);
    long total = 120000, starve_until = 40000, first_zero = -1, resumed = -1, bad = 0;
    for (long p = 0; p < total; p += 64) {
        if (p >= starve_until)
            mg_graph_service(g);
        const float *const *y = mg_graph_process(g, 64);
        for (long i = 0; i < 64; i++) {
            float v = y[0][i], e = ramp_value((p + i) % fn);
            if (p + i < starve_until) {
                if (first_zero < 0 && v == 0.0f)
                    first_zero = p + i;
                bad += first_zero < 0 ? v != e : v != 0.0f;
            } else {
                if (resumed < 0 && v != 0.0f)
                    resumed = p + i;
                bad += resumed < 0 ? v != 0.0f : v != e;
            }
        }
    }
    mg_test_report("underrun: first silent frame without service", (double)first_zero, "frames");
    mg_test_report("underrun: frames to catch up once service resumes",
                   (double)(resumed - starve_until), "frames");
    CHECK(first_zero >= 256 && first_zero < starve_until,
          "underrun: expected silence once the prefetch ring ran dry, first zero at %ld",
          first_zero);
    CHECK(resumed >= starve_until && resumed < starve_until + 48000,
          "underrun: playback did not resume within 1 s of service (at %ld)", resumed);
    CHECK(bad == 0,
          "underrun: %ld samples wrong (before: the file; starved: zeros; after "
          "service resumes: the file, in time)",
          bad);
    mg_graph_free(g);
    free(x);
    unlink(path);
}

/* ---- bounded memory: a 10-minute file is not loaded ---- */

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A 16-bit stereo WAV of `frames` frames of silence, written as a sparse file (instant). */
static void write_sparse_wav(const char *path, uint32_t frames)
{
    uint32_t data = frames * 4;
    unsigned char h[44];
    memcpy(h, "RIFF", 4);
    put_le(h + 4, 36 + data, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 16, 4);
    put_le(h + 20, 1, 2);
    put_le(h + 22, 2, 2);
    put_le(h + 24, 48000, 4);
    put_le(h + 28, 48000 * 4, 4);
    put_le(h + 32, 4, 2);
    put_le(h + 34, 16, 2);
    memcpy(h + 36, "data", 4);
    put_le(h + 40, data, 4);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, h, 44) != 44 || ftruncate(fd, 44 + (off_t)data) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    close(fd);
}

static void test_memory(void)
{
    const uint32_t long_frames = 10u * 60u * 48000u;
    const char *lpath = tmp_path("long.wav"), *spath = tmp_path("short.wav");
    write_sparse_wav(lpath, long_frames);
    write_sparse_wav(spath, 48000);
    long delta[2];
    const char *paths[2] = {spath, lpath};
    for (int i = 0; i < 2; i++) {
        long r0 = rss_bytes();
        mg_graph *g = file_graph(48000, 256, 2, paths[i], 0, 0, 0, 0);
        CHECK_OK(mg_graph_compile(g), g);
        float **y = mg_test_render(g, 48000, NULL);
        delta[i] = rss_bytes() - r0;
        mg_test_free_channels(y, 2);
        mg_graph_free(g);
    }
    mg_test_report("memory: RSS growth playing a 1 s file", delta[0] / 1048576.0, "MiB");
    mg_test_report("memory: RSS growth playing a 10 min file", delta[1] / 1048576.0, "MiB");
    double whole = long_frames * 2.0 * sizeof(float) / 1048576.0;
    CHECK(delta[1] < 16L << 20,
          "memory: a 10-minute file grew RSS by %.1f MiB (whole file as "
          "float: %.0f MiB)",
          delta[1] / 1048576.0, whole);
    CHECK(delta[1] - delta[0] < 4L << 20,
          "memory: growth depends on file length (%ld vs %ld bytes)", delta[1], delta[0]);
    unlink(lpath);
    unlink(spath);
}

/* ---- raw PCM decoding (mg_sndfile_pcm_to_float) ---- */

/* Every 16- and 24-bit sample value decoded from packed little-endian bytes gives the float of
   libsndfile's integer read (left-justified int) through mg_sndfile_int_to_float, bit for bit. */
static void test_pcm_decode(void)
{
    enum { PIECE = 4096 };
    unsigned char raw[PIECE * 3];
    int ref[PIECE];
    float a[PIECE], b[PIECE];
    long bad = 0;
    for (int bytes = 2; bytes <= 3; bytes++) {
        long count = 1L << (8 * bytes);
        for (long v0 = 0; v0 < count; v0 += PIECE) {
            for (int i = 0; i < PIECE; i++) {
                uint32_t u = (uint32_t)(v0 + i);
                for (int k = 0; k < bytes; k++)
                    raw[bytes * i + k] = (unsigned char)(u >> (8 * k));
                ref[i] = (int)(u << (8 * (4 - bytes)));
            }
            mg_sndfile_pcm_to_float(raw, a, PIECE, bytes);
            mg_sndfile_int_to_float(ref, b, PIECE);
            bad += memcmp(a, b, sizeof a) != 0;
        }
    }
    mg_test_report("raw 16/24-bit decode vs integer read: differing pieces", (double)bad, "");
    CHECK(bad == 0, "raw PCM decoding differs from the integer path in %ld pieces", bad);
}

/* ---- other formats ---- */

static void test_formats(void)
{
    struct {
        const char *name;
        int format;
        double min_snr;
    } fmts[] = {
        {"tone.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 90},
        {"tone.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24, 130},
        {"tone.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 20},
        {"tone.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 20},
        {"tone.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 20},
    };
    const long n = 48000;
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++)
        x[i] = (float)(0.5 * sin(2 * M_PI * 1000.0 * (double)i / 48000.0));
    for (size_t k = 0; k < sizeof fmts / sizeof *fmts; k++) {
        SF_INFO si = {.samplerate = 48000, .channels = 1, .format = fmts[k].format};
        if (!sf_format_check(&si)) {
            printf("  skipped %s: this libsndfile cannot write it\n", fmts[k].name);
            continue;
        }
        const char *path = tmp_path(fmts[k].name);
        write_file(path, fmts[k].format, 48000, 1, x, NULL, n);
        mg_graph *g = file_graph(48000, 256, 1, path, 0, 0, 0, 0);
        long len = (long)mg_graph_length(g);
        float **y = mg_test_render(g, len, NULL);
        long a = len / 4, m = len / 2;
        double resid;
        double amp = mg_test_sine_fit(y[0] + a, m, 1000.0, 48000, &resid);
        double snr = 20 * log10(amp / sqrt(2.0) / resid);
        char what[96];
        snprintf(what, sizeof what, "format %s: length %ld, SNR of the middle half", fmts[k].name,
                 len);
        mg_test_report(what, snr, "dB");
        CHECK(snr >= fmts[k].min_snr && labs(len - n) < 4800,
              "%s: SNR %.1f dB, length %ld (wrote %ld)", fmts[k].name, snr, len, n);
        mg_test_free_channels(y, 1);
        mg_graph_free(g);
        unlink(path);
    }
    free(x);
}

/* ---- bad files ---- */

static void expect_open_error(const char *path, const char *reason, const char *what)
{
    mg_graph *g = mg_test_graph(48000, 64, 2);
    mg_opt o[] = {{"path", path, 0}};
    mg_node *f = mg_node_new(g, "file", "f", o, 1);
    const char *msg = mg_graph_error(g);
    printf("  %s: %s\n", what, msg);
    /* the status itself is not returned by mg_node_new; the message carries it */
    CHECK(!f, "%s: node created", what);
    CHECK(strstr(msg, path) != NULL, "%s: message does not name the file: '%s'", what, msg);
    CHECK(strstr(msg, reason) != NULL, "%s: message lacks the reason '%s': '%s'", what, reason,
          msg);
    mg_graph_free(g);
}

static void test_bad_files(void)
{
    expect_open_error(tmp_path("missing.wav"), "No such file", "nonexistent file");

    const char *garbage = tmp_path("garbage.wav");
    FILE *f = fopen(garbage, "wb");
    for (int i = 0; i < 4096; i++)
        fputc((int)(lcg() >> 24), f);
    fclose(f);
    expect_open_error(garbage, "cannot open", "garbage file");
    /* the reason libsndfile gives must follow the name */
    mg_graph *g = mg_test_graph(48000, 64, 2);
    mg_opt o[] = {{"path", garbage, 0}};
    mg_node_new(g, "file", "f", o, 1);
    const char *after = strstr(mg_graph_error(g), "': ");
    CHECK(after && strlen(after) > 5, "garbage file: no reason after the name: '%s'",
          mg_graph_error(g));
    mg_graph_free(g);
    unlink(garbage);

    const char *nine = tmp_path("nine.wav");
    float *z = calloc(9 * 100, sizeof *z);
    write_file(nine, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 9, z, NULL, 100);
    expect_open_error(nine, "9 channels", "9-channel file");
    free(z);
    unlink(nine);
}

int main(void)
{
    make_tmpdir("mg_test_file");
    test_memory(); /* first, while the heap is fresh */
    test_ring_threads();
    test_roundtrip_24("rt_in.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 256);
    test_roundtrip_24("rt_in.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 1000);
    /* WAV-like files are read raw and decoded by mixgraph (mg_sndfile_raw_bytes) */
    test_roundtrip_24("rt_in.w64", SF_FORMAT_W64 | SF_FORMAT_PCM_24, 64);
    test_roundtrip_24("rt_in_x.wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_24, 4096);
    test_roundtrip_24("rt_in.rf64", SF_FORMAT_RF64 | SF_FORMAT_PCM_24, 1);
    test_pcm_decode();
    test_src_snr(44100, 48000);
    test_src_snr(48000, 44100);
    test_src_snr(48000, 96000);
    test_src_timing(44100, 48000, 22051);
    test_src_timing(48000, 44100, 24001);
    test_src_timing(48000, 96000, 24001);
    test_src_streaming();
    test_positions();
    test_gain();
    test_underrun();
    test_formats();
    test_bad_files();
    remove_tmpdir();
    return mg_test_done("test_file");
}
