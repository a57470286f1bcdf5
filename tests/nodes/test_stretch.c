/*
** test_stretch.c: pitch and time. The `stretch` node against DSP_TESTS.md §14 (RB-1 pitch,
** RB-2 time ratio, RB-3 level, RB-4 THD+N, RB-5 alignment) and the `file` node's varispeed
** `rate` (2.0 plays 440 Hz at 880 Hz and ends at half the duration; block-size independence;
** a tape-stop ramp), formant preservation, and a rewind after a partial run.
**
** Inputs are synthesized here into a temporary directory that is removed at the end. Runs on
** the test's main thread (control, stream and processing side in turn).
*/
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#include "mg_test.h"
#include "tmp_files.h"

#define RATE 48000.0

/* A sine of `freq` Hz at `db` dBFS for `seconds`, silent before `delay` seconds. */
static const char *tone_file(const char *name, double freq, double db, double seconds, double delay)
{
    long n = lrint(seconds * RATE);
    float *x = calloc((size_t)n, sizeof *x);
    double a = pow(10, db / 20);
    for (long i = lrint(delay * RATE); i < n; i++)
        x[i] = (float)(a * sin(2 * M_PI * freq * (double)i / RATE));
    const char *p = write_mono(name, (int)RATE, x, n);
    free(x);
    return p;
}

/* Source -> output; returns the graph, the source in *src. */
static mg_graph *source_graph(const char *type, const mg_opt *o, int n_opt, int block,
                              mg_node **src)
{
    mg_graph *g = mg_test_graph(RATE, block, 1);
    *src = mg_test_node(g, type, "src", o, n_opt);
    CHECK_OK(mg_connect(*src, 0, mg_graph_output(g), 0), g);
    return g;
}

/*
** Frequency of a steady tone near f0 from the phase advance between two least-squares fits one
** second apart (unambiguous within +-0.5 Hz of f0, precise to well under 1 mHz on a clean tone).
*/
static double tone_freq(const float *x, long from, double f0)
{
    long w = lrint(0.25 * RATE), d = lrint(RATE);
    double ph[2];
    for (int k = 0; k < 2; k++) {
        double s = 0, c = 0, om = 2 * M_PI * f0 / RATE;
        long o = from + k * d;
        for (long i = 0; i < w; i++) {
            s += x[o + i] * sin(om * (double)(o + i));
            c += x[o + i] * cos(om * (double)(o + i));
        }
        ph[k] = atan2(c, s);
    }
    double dp = ph[1] - ph[0];
    while (dp > M_PI)
        dp -= 2 * M_PI;
    while (dp < -M_PI)
        dp += 2 * M_PI;
    return f0 + dp / (2 * M_PI * (double)d / RATE);
}

/* THD+N in dB: what a sine fit at `f` leaves, relative to the sine, over x[from, from+n). */
static double thdn_db(const float *x, long from, long n, double f, double *level_db)
{
    double resid;
    double amp = mg_test_sine_fit(x + from, n, f, RATE, &resid);
    if (level_db)
        *level_db = 20 * log10(amp);
    return 20 * log10(resid / (amp / sqrt(2.0)));
}

/* First frame where the 1 ms RMS envelope reaches half of `level` (linear RMS). */
static long onset(const float *x, long n, double level)
{
    long w = lrint(0.001 * RATE);
    double s = 0;
    for (long i = 0; i < n; i++) {
        s += (double)x[i] * x[i];
        if (i >= w)
            s -= (double)x[i - w] * x[i - w];
        if (i >= w && sqrt(s / (double)w) >= 0.5 * level)
            return i - w / 2;
    }
    return -1;
}

/* One past the last frame where the 1 ms RMS envelope is at least half of `level`. */
static long sound_end(const float *x, long n, double level)
{
    long w = lrint(0.001 * RATE);
    double s = 0;
    for (long i = n - 1; i >= 0; i--) {
        s += (double)x[i] * x[i];
        if (i + w < n)
            s -= (double)x[i + w] * x[i + w];
        if (i + w <= n && sqrt(s / (double)w) >= 0.5 * level)
            return i + w / 2;
    }
    return -1;
}

/* RB-1, RB-3, RB-4: pitch shift by n semitones, length unchanged. */
static void test_pitch(const char *in, double semis)
{
    mg_opt o[] = {{"path", in, 0}, {"pitch", NULL, semis}};
    mg_node *s;
    mg_graph *g = source_graph("stretch", o, 2, 256, &s);
    long n_in = lrint(3.0 * RATE), len = (long)mg_graph_length(g);
    CHECK(len == n_in, "pitch %+g: length %ld frames, expected %ld (unchanged)", semis, len, n_in);
    float **y = mg_test_render(g, n_in, NULL);
    double f0 = 440 * pow(2, semis / 12), lvl;
    double f = tone_freq(y[0], lrint(0.5 * RATE), f0);
    double thd = thdn_db(y[0], lrint(0.5 * RATE), lrint(2.0 * RATE), f, &lvl);
    double half = pow(10, -6 / 20.0) / sqrt(2.0);
    double end = (double)(n_in - sound_end(y[0], n_in, half)) / RATE * 1000;
    char what[64];
    snprintf(what, sizeof what, "RB-1 pitch %+g st: frequency", semis);
    CHECK_NEAR(f, f0, 0.05, what);
    mg_test_report(what, f, "Hz");
    snprintf(what, sizeof what, "RB-3 pitch %+g st: level", semis);
    CHECK_NEAR(lvl, -6.0, 0.5, what);
    mg_test_report(what, lvl, "dBFS");
    snprintf(what, sizeof what, "RB-4 pitch %+g st: THD+N", semis);
    CHECK(thd <= -50, "%s %.1f dB > -50 dB", what, thd);
    mg_test_report(what, thd, "dB");
    /* the tone runs to the end: Rubber Band's last window fades it over a few ms */
    snprintf(what, sizeof what, "pitch %+g: tone ends before the end by", semis);
    CHECK(end < 5, "%s %.2f ms", what, end);
    mg_test_report(what, end, "ms");
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
}

/* RB-2, RB-3, RB-4: time ratio; length r*N, pitch kept. */
static void test_tempo(const char *in, double tempo)
{
    mg_opt o[] = {{"path", in, 0}, {"tempo", NULL, tempo}};
    mg_node *s;
    mg_graph *g = source_graph("stretch", o, 2, 256, &s);
    long len = (long)mg_graph_length(g);
    double want = 3.0 / tempo;
    char what[64];
    snprintf(what, sizeof what, "RB-2 tempo %g: length", tempo);
    CHECK_NEAR((double)len / RATE, want, 0.001, what);
    mg_test_report(what, (double)len / RATE, "s");
    float **y = mg_test_render(g, len + 4800, NULL);
    double lvl, f = tone_freq(y[0], lrint(0.4 * RATE), 440);
    double thd = thdn_db(y[0], lrint(0.4 * RATE), lrint(1.5 * RATE), f, &lvl);
    double half = pow(10, -6 / 20.0) / sqrt(2.0);
    double end = (double)(len - sound_end(y[0], len, half)) / RATE * 1000;
    double after = mg_test_peak(y[0] + len, 4800);
    snprintf(what, sizeof what, "RB-2 tempo %g: frequency", tempo);
    CHECK_NEAR(f, 440.0, 0.05, what);
    mg_test_report(what, f, "Hz");
    snprintf(what, sizeof what, "RB-3 tempo %g: level", tempo);
    CHECK_NEAR(lvl, -6.0, 0.5, what);
    snprintf(what, sizeof what, "RB-4 tempo %g: THD+N", tempo);
    CHECK(thd <= -50, "%s %.1f dB > -50 dB", what, thd);
    mg_test_report(what, thd, "dB");
    snprintf(what, sizeof what, "tempo %g: tone ends before the end by", tempo);
    CHECK(end < 5 && after == 0, "%s %.2f ms; peak after the end %g", what, end, after);
    mg_test_report(what, end, "ms");
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
}

/*
** RB-5 input: twelve drum-like hits (white noise with a 10 ms decay, broadband like the
** transients one aligns takes by) every 0.1 s from 0.1 s, each nudged by a golden-ratio
** fraction of 1024 frames so they sample all places of R3's transient grid and of the node's
** 1024-frame chunks evenly, then a 440 Hz tone from 1.4 s to 1.8 s.
*/
#define N_HITS 12
#define TONE_AT 1.4

/* Frame of hit k in the source. */
static double hit_at(int k)
{
    return (double)lrint((0.1 + 0.1 * k) * RATE + 1024 * fmod(0.6180339887 * k, 1.0));
}

/* Returns the path; the samples (1.8 s) in *out, to free. */
static const char *hits_file(const char *name, float **out)
{
    long n = lrint(1.8 * RATE);
    float *x = calloc((size_t)n, sizeof *x);
    unsigned long r = 12345;
    for (int k = 0; k < N_HITS; k++) {
        long at = (long)hit_at(k);
        for (long i = 0; i < lrint(0.06 * RATE); i++) {
            r = r * 6364136223846793005UL + 1442695040888963407UL;
            double u = (double)(r >> 11) / 9007199254740992.0 * 2 - 1;
            x[at + i] = (float)(0.5 * u * exp(-(double)i / (0.01 * RATE)));
        }
    }
    long t0 = lrint(TONE_AT * RATE);
    for (long i = t0; i < n; i++)
        x[i] = (float)(0.5 * sin(2 * M_PI * 440 * (double)(i - t0) / RATE));
    *out = x;
    return write_mono(name, (int)RATE, x, n);
}

/* Peak of the 1 ms RMS envelope over x[a, b). */
static double env_peak(const float *x, long a, long b)
{
    long w = lrint(0.001 * RATE);
    double s = 0, m = 0;
    for (long i = a; i < b; i++) {
        s += (double)x[i] * x[i];
        if (i - w >= a)
            s -= (double)x[i - w] * x[i - w];
        if (i - a >= w && s > m)
            m = s;
    }
    return sqrt(m / (double)w);
}

/*
** Onset times (frames) of the hits and of the tone in x, a render at `tempo` of hits_file:
** where the 1 ms RMS envelope first reaches half (-6 dB) of the hit's peak, or of the tone's
** steady level, searched from 35 ms (tone: 60 ms) before each event's nominal time.
*/
static void event_onsets(const float *x, long n, double tempo, double *hit, double *tone)
{
    for (int k = 0; k < N_HITS; k++) {
        long a = lrint((hit_at(k) - 0.035 * RATE) / tempo);
        long b = lrint((hit_at(k) + 0.05 * RATE) / tempo);
        hit[k] = (double)(a + onset(x + a, b - a, env_peak(x, a, b)));
    }
    long a = lrint((TONE_AT - 0.06) * RATE / tempo);
    *tone = (double)(a + onset(x + a, n - a, 0.5 / sqrt(2.0)));
}

/*
** RB-5: every event of hits_file lands at its input time / tempo (start delay removed inside
** the node, nothing reported downstream). Hits: the mean offset within +-1 ms (the constant
** shift one would correct when aligning takes), each hit within +-hit_ms (R3 places
** transients on a grid: single hits move by up to ~1.1 ms). Tone: its -6 dB point within
** +-tone_ms.
*/
static void test_alignment(const char *in, const float *x, double tempo, double semis,
                           double hit_ms, double tone_ms)
{
    mg_opt o[] = {{"path", in, 0}, {"tempo", NULL, tempo}, {"pitch", NULL, semis}};
    mg_node *s;
    mg_graph *g = source_graph("stretch", o, 3, 256, &s);
    CHECK_OK(mg_graph_compile(g), g);
    CHECK(mg_graph_latency(g) == 0, "stretch reports latency %lld", (long long)mg_graph_latency(g));
    long n = (long)mg_graph_length(g), n_in = lrint(1.8 * RATE);
    float **y = mg_test_render(g, n, NULL);
    double hin[N_HITS], hout[N_HITS], tin, tout, mean = 0, worst = 0;
    event_onsets(x, n_in, 1.0, hin, &tin);
    event_onsets(y[0], n, tempo, hout, &tout);
    for (int k = 0; k < N_HITS; k++) {
        double d = (hout[k] - hin[k] / tempo) / RATE * 1000;
        mean += d / N_HITS;
        if (fabs(d) > fabs(worst))
            worst = d;
    }
    double dt = (tout - tin / tempo) / RATE * 1000;
    char what[80];
    snprintf(what, sizeof what, "RB-5 tempo %g pitch %+g: hits, mean offset", tempo, semis);
    CHECK_NEAR(mean, 0, 1.0, what);
    mg_test_report(what, mean, "ms");
    snprintf(what, sizeof what, "RB-5 tempo %g pitch %+g: hits, worst offset", tempo, semis);
    CHECK_NEAR(worst, 0, hit_ms, what);
    mg_test_report(what, worst, "ms");
    snprintf(what, sizeof what, "RB-5 tempo %g pitch %+g: tone -6 dB point", tempo, semis);
    CHECK_NEAR(dt, 0, tone_ms, what);
    mg_test_report(what, dt, "ms");
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
}

/* Varispeed: rate 2 plays 440 Hz at 880 Hz and lasts half as long (+-1 frame). */
static void test_varispeed(const char *in)
{
    long n_in = lrint(3.0 * RATE);
    int blocks[] = {256, 1000};
    float *first = NULL;
    for (int b = 0; b < 2; b++) {
        mg_opt o[] = {{"path", in, 0}};
        mg_node *f;
        mg_graph *g = source_graph("file", o, 1, blocks[b], &f);
        CHECK_OK(mg_node_set(f, "rate", 2.0), g);
        long len = (long)mg_graph_length(g);
        CHECK(labs(len - n_in / 2) <= 1, "varispeed 2: length %ld, expected %ld +-1", len,
              n_in / 2);
        float **y = mg_test_render(g, n_in, NULL);
        long last = n_in - 1;
        while (last > 0 && y[0][last] == 0)
            last--;
        CHECK(labs(last + 1 - n_in / 2) <= 1, "varispeed 2: sound ends at frame %ld, expected %ld",
              last + 1, n_in / 2);
        double fr = tone_freq(y[0], lrint(0.2 * RATE), 880), lvl;
        double thd = thdn_db(y[0], lrint(0.2 * RATE), lrint(1.0 * RATE), fr, &lvl);
        if (b == 0) {
            CHECK_NEAR(fr, 880.0, 0.05, "varispeed 2: frequency");
            mg_test_report("varispeed 2: frequency", fr, "Hz");
            mg_test_report("varispeed 2: last sounding frame + 1", (double)(last + 1), "");
            CHECK_NEAR(lvl, -6.0, 0.1, "varispeed 2: level");
            CHECK(thd < -90, "varispeed 2: THD+N %.1f dB", thd);
            mg_test_report("varispeed 2: THD+N", thd, "dB");
            first = y[0];
            free(y);
        } else {
            long diff = 0;
            for (long i = 0; i < n_in; i++)
                diff += y[0][i] != first[i];
            CHECK(diff == 0, "varispeed: blocks 256 and 1000 differ in %ld frames", diff);
            mg_test_free_channels(y, 1);
        }
        mg_graph_free(g);
    }
    free(first);
}

/*
** Tape stop: the rate ramps from 1 to 0.25 over 2 s, set block by block while audio runs (the
** converter switches on mid-stream). Afterwards 440 Hz plays at 110 Hz at its level.
*/
static void test_tape_stop(const char *in)
{
    mg_opt o[] = {{"path", in, 0}};
    mg_node *f;
    mg_graph *g = source_graph("file", o, 1, 256, &f);
    CHECK_OK(mg_graph_compile(g), g);
    long n = 256 * 563; /* 3 s */
    float *y = calloc((size_t)n, sizeof *y);
    long ramp = lrint(2.0 * RATE);
    for (long done = 0; done < n; done += 256) {
        /* the parameter has no smoothing: ramp it by hand, one step per block */
        if (done >= 256 && done <= 256 + ramp)
            CHECK_OK(mg_node_set(f, "rate", 1.0 - 0.75 * (double)(done - 256) / (double)ramp), g);
        mg_graph_service(g);
        const float *const *o2 = mg_graph_process(g, 256);
        memcpy(y + done, o2[0], 256 * sizeof(float));
    }
    /* after the ramp the rate stays 0.25: 440 Hz plays at 110 Hz */
    double s = 0, c = 0, om = 2 * M_PI * 110 / RATE;
    long a = lrint(2.1 * RATE), w = lrint(0.5 * RATE);
    for (long i = a; i < a + w; i++) {
        s += y[i] * sin(om * (double)i);
        c += y[i] * cos(om * (double)i);
    }
    double amp = 2 * sqrt(s * s + c * c) / (double)w;
    CHECK_NEAR(20 * log10(amp), -6.0, 0.5, "tape stop: 110 Hz amplitude after the ramp (dB)");
    mg_test_report("tape stop: 110 Hz level after the ramp", 20 * log10(amp), "dBFS");
    free(y);
    mg_graph_free(g);
}

/*
** Formants: a 150 Hz harmonic tone shaped by one resonance at 1 kHz, shifted up 5 semitones
** (f0 200.2 Hz). With `formant` the strongest harmonic stays at the resonance (5 x 200.2 =
** 1001 Hz); without, the resonance moves up with the pitch to 1335 Hz (strongest: 7 x 200.2).
*/
static void test_formant(void)
{
    long n = lrint(2.0 * RATE);
    float *x = calloc((size_t)n, sizeof *x);
    for (int k = 1; 150.0 * k < 6000; k++) {
        double f = 150.0 * k, d = (f - 1000) / 150, a = 0.05 / (1 + d * d);
        for (long i = 0; i < n; i++)
            x[i] += (float)(a * sin(2 * M_PI * f * (double)i / RATE));
    }
    const char *in = write_mono("formant.wav", (int)RATE, x, n);
    free(x);
    double f0 = 150 * pow(2, 5 / 12.0);
    for (int keep = 0; keep < 2; keep++) {
        mg_opt o[] = {{"path", in, 0}, {"pitch", NULL, 5}, {"formant", NULL, keep}};
        mg_node *s;
        mg_graph *g = source_graph("stretch", o, 3, 256, &s);
        float **y = mg_test_render(g, n, NULL);
        int best = 0;
        double top = 0;
        for (int k = 1; k <= 12; k++) {
            double a = mg_test_sine_fit(y[0] + lrint(0.5 * RATE), lrint(RATE), k * f0, RATE, NULL);
            if (a > top)
                top = a, best = k;
        }
        int want = keep ? 5 : 7;
        CHECK(best == want, "formant %s: strongest harmonic %d (%.0f Hz), expected %d (%.0f Hz)",
              keep ? "on" : "off", best, best * f0, want, want * f0);
        mg_test_report(keep ? "formant on: strongest harmonic" : "formant off: strongest harmonic",
                       best * f0, "Hz");
        mg_test_free_channels(y, 1);
        mg_graph_free(g);
    }
}

/*
** A stretch rewound after a partial run (a measure, a stop) plays exactly what a fresh one
** plays: the stretcher is rebuilt, not reset.
*/
static void test_rewind(const char *in)
{
    mg_opt o[] = {{"path", in, 0}, {"tempo", NULL, 0.9}, {"pitch", NULL, -2}};
    mg_node *s;
    mg_graph *fresh = source_graph("stretch", o, 3, 256, &s);
    mg_graph *again = source_graph("stretch", o, 3, 256, &s);
    long n = (long)mg_graph_length(fresh);
    float **a = mg_test_render(fresh, n, NULL);
    mg_test_free_channels(mg_test_render(again, n / 3, NULL), 1);
    mg_graph_reset(again);
    float **b = mg_test_render(again, n, NULL);
    long diff = 0;
    for (long i = 0; i < n; i++)
        diff += a[0][i] != b[0][i];
    CHECK(diff == 0, "stretch after a partial run and a reset differs in %ld of %ld frames", diff,
          n);
    mg_test_free_channels(a, 1);
    mg_test_free_channels(b, 1);
    mg_graph_free(fresh);
    mg_graph_free(again);
}

int main(void)
{
    make_tmpdir("mg_test_stretch");
    const char *tone = tone_file("tone.wav", 440, -6, 3.0, 0);
    test_varispeed(tone);
    test_tape_stop(tone_file("tone10.wav", 440, -6, 10.0, 0));
    test_pitch(tone, 12);
    test_pitch(tone, -7);
    test_pitch(tone, 3.5);
    test_tempo(tone, 1.5);
    test_tempo(tone, 0.8);
    test_rewind(tone);
    test_formant();
    float *x;
    const char *hits = hits_file("hits.wav", &x);
    test_alignment(hits, x, 1.25, 0, 1.5, 1);
    test_alignment(hits, x, 1.5, 0, 1.5, 1);
    test_alignment(hits, x, 0.8, 0, 1.5, 1);
    test_alignment(hits, x, 1.0, 3.5, 1.5, 1);
    test_alignment(hits, x, 1.0, 5, 1.5, 1);
    test_alignment(hits, x, 1.0, -7, 1.5, 1);
    test_alignment(hits, x, 1.0, 12, 1.5, 1);
    test_alignment(hits, x, 0.8, -3, 1.5, 1);
    test_alignment(hits, x, 0.8, 12, 1.5, 1);
    /* An octave down R3 spreads a tone's onset over ~11 ms (10 % to 90 %) with its -6 dB point
       3.3 ms late, and moves single hits by up to ~2.5 ms either way; the `rubberband --fine`
       command gives the same (see docs/architecture.md "Time-stretched sources"). */
    test_alignment(hits, x, 1.0, -12, 3, 4);
    free(x);
    remove_tmpdir();
    return mg_test_done("test_stretch");
}
