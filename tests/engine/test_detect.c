/*
** test_detect.c: tempo and key detection (engine/tempo.c, engine/key.c) on synthesized music.
**
** Tempo: click tracks and a drum-like pattern (kick on 1 and 3, snare on 2 and 4, hi-hat on
** every eighth note) at 60, 90, 120, 128, 150 and 174 BPM, 12 s each, must read within
** +-0.5 BPM; beats must fall on the onsets (+-10 ms). One octave allowance, documented: the
** drum pattern at 60 BPM may read 120 (its eighth-note hi-hats make a steady 120 BPM pulse,
** and the detector's tempo prior centred on 120 BPM prefers that reading); every other case
** must read its own tempo.
** Key: I-IV-V-I (major) and i-iv-V-i (minor, harmonic V) progressions of harmonic-rich tones in
** all 24 keys, alone and over kick and snare; at least 22 of 24 must be named correctly each
** time (the bar). Key names parse back.
** Runs on the test's main thread.
*/
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#include "mg_detect.h"
#include "mg_test.h"

#define RATE 48000.0

static uint32_t seed = 1;
static double noise(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (double)(seed >> 8) / 8388608.0 - 1.0;
}

/* Add a sound made by f(t) (t in seconds from its start) at `at` seconds, for `len` seconds. */
static void add(float *x, long n, double at, double len, double (*f)(double))
{
    long s = lround(at * RATE);
    for (long i = 0; i < lround(len * RATE) && s + i < n; i++)
        x[s + i] += (float)f((double)i / RATE);
}

static double click(double t)
{
    return 0.5 * sin(2 * M_PI * 2000 * t) * exp(-t / 0.003);
}
static double kick(double t)
{
    double ph = 2 * M_PI * (50 * t + 70 * 0.03 * (1 - exp(-t / 0.03))); /* 120 -> 50 Hz */
    return 0.8 * sin(ph) * exp(-t / 0.12);
}
static double snare(double t)
{
    return (0.3 * noise() + 0.2 * sin(2 * M_PI * 180 * t)) * exp(-t / 0.08);
}
static double hat_prev;
static double hat(double t)
{
    double v = noise(), y = v - hat_prev; /* first difference: a bright noise */
    hat_prev = v;
    return 0.12 * y * exp(-t / 0.02);
}

static float *pattern(double bpm, int drums, long *n_out)
{
    long n = lround(12.0 * RATE);
    float *x = calloc((size_t)n, sizeof *x);
    double beat = 60.0 / bpm;
    for (int k = 0; 0.1 + k * beat < 12.0; k++) {
        double t = 0.1 + k * beat;
        if (!drums) {
            add(x, n, t, 0.03, click);
            continue;
        }
        add(x, n, t, 0.5, k % 2 ? snare : kick);
        add(x, n, t, 0.1, hat);
        add(x, n, t + beat / 2, 0.1, hat);
    }
    *n_out = n;
    return x;
}

static void test_tempo(void)
{
    static const double bpms[] = {60, 90, 120, 128, 150, 174};
    double worst = 0;
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof bpms / sizeof *bpms; i++) {
            long n;
            float *x = pattern(bpms[i], d, &n);
            mg_tempo t;
            CHECK(mg_detect_buffer(x, (size_t)n, RATE, &t, NULL) == MG_OK, "detect");
            char what[64];
            snprintf(what, sizeof what, "%s at %g BPM", d ? "drums" : "clicks", bpms[i]);
            double want = bpms[i];
            if (d && want == 60 && fabs(t.bpm - 120) <= 0.5)
                want = 120; /* the documented octave allowance */
            CHECK_NEAR(t.bpm, want, 0.5, what);
            mg_test_report(what, t.bpm, "BPM");
            if (fabs(t.bpm - want) > worst)
                worst = fabs(t.bpm - want);
            /* every beat inside the pattern lands on an onset */
            double period = 60.0 / want, off = 0;
            for (size_t b = 0; b < t.n_beats; b++) {
                double k = round((t.beats[b] - 0.1) / period);
                double e = fabs(t.beats[b] - 0.1 - k * period);
                if (e > off)
                    off = e;
            }
            CHECK(t.n_beats > 0 && off < 0.010, "%s: beats up to %.1f ms off the onsets", what,
                  off * 1000);
            mg_tempo_free(&t);
            free(x);
        }
    mg_test_report("tempo: worst error", worst, "BPM");
}

/* A note of `midi` pitch with partials 1..5 (1/k), at `at` s for `len` s, gently enveloped. */
static void note(float *x, long n, double at, double len, int midi, double amp)
{
    double f = 440 * pow(2, (midi - 69) / 12.0);
    long s = lround(at * RATE), m = lround(len * RATE);
    double c[5], sn[5], dc[5], ds[5]; /* partials as rotating phasors (no sin per sample) */
    for (int k = 0; k < 5; k++) {
        c[k] = 1, sn[k] = 0;
        dc[k] = cos(2 * M_PI * f * (k + 1) / RATE), ds[k] = sin(2 * M_PI * f * (k + 1) / RATE);
    }
    for (long i = 0; i < m && s + i < n; i++) {
        double t = (double)i / RATE, env = fmin(1, t / 0.01) * fmin(1, (len - t) / 0.05);
        double v = 0;
        for (int k = 0; k < 5; k++) {
            v += sn[k] / (k + 1);
            double c2 = c[k] * dc[k] - sn[k] * ds[k];
            sn[k] = sn[k] * dc[k] + c[k] * ds[k];
            c[k] = c2;
        }
        x[s + i] += (float)(amp * env * v);
    }
}

static float *progression(int tonic, int minor, int drums, long *n_out)
{
    /* chords as semitone offsets from the tonic: I IV V I, or i iv V i (harmonic minor) */
    static const int maj[4][3] = {{0, 4, 7}, {5, 9, 12}, {7, 11, 14}, {0, 4, 7}};
    static const int min[4][3] = {{0, 3, 7}, {5, 8, 12}, {7, 11, 14}, {0, 3, 7}};
    double len = 0.6;
    long n = lround(2 * 4 * len * RATE);
    float *x = calloc((size_t)n, sizeof *x);
    for (int rep = 0; rep < 2; rep++)
        for (int c = 0; c < 4; c++) {
            const int *ch = minor ? min[c] : maj[c];
            double at = (rep * 4 + c) * len;
            for (int k = 0; k < 3; k++)
                note(x, n, at, len, 60 + tonic + ch[k], 0.1);
            note(x, n, at, len, 48 + tonic + ch[0], 0.12); /* bass: the root */
            if (drums) {                                   /* two beats per chord: kick, snare */
                add(x, n, at, 0.3, kick);
                add(x, n, at + len / 2, 0.3, snare);
            }
        }
    *n_out = n;
    return x;
}

static void test_key(int drums)
{
    int right = 0;
    for (int minor = 0; minor < 2; minor++)
        for (int t = 0; t < 12; t++) {
            long n;
            float *x = progression(t, minor, drums, &n);
            mg_key k;
            CHECK(mg_detect_buffer(x, (size_t)n, RATE, NULL, &k) == MG_OK, "detect");
            char want[16];
            mg_key_name(t, minor, want, sizeof want);
            if (k.tonic == t && k.minor == minor)
                right++;
            else
                printf("  key %s read as %s (r = %.3f)\n", want, k.name, k.score);
            free(x);
        }
    CHECK(right >= 22, "keys%s: %d of 24 right, at least 22 needed", drums ? " with drums" : "",
          right);
    mg_test_report(drums ? "keys with drums named right (of 24)" : "keys named right (of 24)",
                   right, "");
}

static void test_key_names(void)
{
    static const struct {
        const char *s;
        int tonic, minor;
    } ok[] = {{"C", 0, 0},   {"Am", 9, 1},     {"F# minor", 6, 1},
              {"Bb", 10, 0}, {"eb maj", 3, 0}, {"  Db major ", 1, 0},
              {"b", 11, 0},  {"Cb", 11, 0},    {"g#min", 8, 1}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int t = -1, m = -1;
        CHECK(mg_key_parse(ok[i].s, &t, &m) == 0 && t == ok[i].tonic && m == ok[i].minor,
              "key '%s' parsed as %d/%d", ok[i].s, t, m);
    }
    const char *bad[] = {"H", "", "C minorr", "C# x", "major"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int t, m;
        CHECK(mg_key_parse(bad[i], &t, &m) != 0, "'%s' accepted as a key", bad[i]);
    }
    char buf[16];
    CHECK(!strcmp(mg_key_name(3, 1, buf, sizeof buf), "Eb minor"), "name %s", buf);
}

/* Too short or silent: no tempo, no key, no crash. */
static void test_degenerate(void)
{
    float z[48000] = {0};
    mg_tempo t;
    mg_key k;
    CHECK(mg_detect_buffer(z, 48000, RATE, &t, &k) == MG_OK && t.bpm == 0 && k.tonic == -1,
          "silence: bpm %g, tonic %d", t.bpm, k.tonic);
    mg_tempo_free(&t);
    char err[256];
    CHECK(mg_detect_file("/nonexistent.wav", &t, NULL, err, sizeof err) == MG_ERR_IO &&
              strstr(err, "/nonexistent.wav"),
          "missing file: %s", err);
}

int main(void)
{
    test_tempo();
    test_key(0);
    test_key(1);
    test_key_names();
    test_degenerate();
    return mg_test_done("test_detect");
}
