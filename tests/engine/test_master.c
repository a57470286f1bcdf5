/*
** test_master.c: closed-loop loudness normalisation (engine/master.c, mg_master.h) against
** DSP_TESTS.md §4.2 LN-1..LN-7, on signals synthesized in the graph (pink noise, tones):
** gain-only accuracy, the peak-respecting rule, exact gain, silent and too-short input, LRA
** preserved; with a `limiter` node in the build also LN-3 (gain plus true-peak limiter).
** Also: failed runs leave no file and never replace an existing one. Main thread only.
*/
#include <errno.h>
#include <fftw3.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_master.h"
#include "mg_test.h"

static char dir[256];

/* DIR/name in one of a few rotating buffers (several paths are alive at once) */
static const char *path(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Stereo pink noise of `secs` seconds named "src", set so the output measures `lufs`. */
static mg_graph *pink(double secs, double lufs, mg_node **src)
{
    mg_graph *g = mg_test_graph(48000, 256, 2);
    mg_opt o[] = {{"color", "pink", 0}, {"channels", NULL, 2}, {"duration", NULL, secs},
                  {"seed", NULL, 7}};
    *src = mg_test_node(g, "noise", "src", o, 4);
    CHECK_OK(mg_connect(*src, 0, mg_graph_output(g), 0), g);
    mg_file_analysis a;
    CHECK_OK(mg_graph_analyze(g, 0, &a), g);
    CHECK_OK(mg_node_set(*src, "gain", -12 + lufs - a.integrated), g);
    CHECK_OK(mg_graph_analyze(g, 0, &a), g);
    CHECK_NEAR(a.integrated, lufs, 0.001, "pink noise level set");
    return g;
}

static void ln1(void)
{
    mg_node *src;
    mg_graph *g = pink(30, -30, &src);
    mg_master_opts mo = {.target_lufs = -14, .ceiling_dbtp = -1};
    mg_render_opts ro = {.path = path("ln1.wav")};
    mg_master_report r;
    CHECK_OK(mg_master_render(g, &mo, &ro, &r), g);
    CHECK_NEAR(r.gain_db, 16.0, 0.01, "LN-1 gain");
    CHECK_NEAR(r.after.integrated, -14.0, 0.1, "LN-1 output I");
    CHECK(r.after.true_peak <= -1.0, "LN-1 TP %.3f over -1", r.after.true_peak);
    CHECK(r.on_target, "LN-1 not on target");
    mg_test_report("LN-1 gain (expect +16.00 +-0.01)", r.gain_db, "dB");
    mg_test_report("LN-1 output I (expect -14 +-0.1)", r.after.integrated, "LUFS");
    mg_test_report("LN-1 output TP (expect <= -1)", r.after.true_peak, "dBTP");
    mg_test_report("LN-1 passes", r.passes, "");
    /* the same with a meter tapped off the loudness gain: no plain chain after the gain, so
       every pass renders the whole graph (no fast path); the result must not change */
    mg_node *tap = mg_test_node(g, "meter", "tap", NULL, 0);
    CHECK_OK(mg_connect(mg_graph_find(g, "loudness"), 0, tap, 0), g);
    CHECK_OK(mg_node_set(mg_graph_find(g, "loudness"), "gain", 0), g);
    mg_master_report r2;
    CHECK_OK(mg_master_render(g, &mo, &ro, &r2), g);
    CHECK_NEAR(r2.after.integrated, r.after.integrated, 1e-6, "LN-1 without the fast path");
    CHECK_NEAR(r2.gain_db, r.gain_db, 1e-6, "LN-1 gain without the fast path");
    CHECK_NEAR(mg_node_meter(tap, "integrated"), -14.0, 0.1, "meter tap after the last pass");
    mg_graph_free(g);
}

/* Pink noise at -20 LUFS plus a 50 ms 1 kHz burst that sets the true peak near -5 dBTP. */
static mg_graph *ln2_signal(void)
{
    mg_node *src;
    mg_graph *g = pink(30, -20, &src);
    mg_opt o[] = {{"start", NULL, 10}, {"duration", NULL, 0.05}, {"attack", NULL, 5},
                  {"release", NULL, 5}};
    mg_node *burst = mg_test_node(g, "osc", "burst", o, 4);
    CHECK_OK(mg_node_set(burst, "gain", -8), g);
    CHECK_OK(mg_node_set(burst, "freq", 1000), g);
    CHECK_OK(mg_connect(burst, 0, mg_graph_output(g), 0), g);
    return g;
}

static void ln2(void)
{
    mg_graph *g = ln2_signal();
    mg_file_analysis in;
    CHECK_OK(mg_graph_analyze(g, 0, &in), g);
    CHECK_NEAR(in.integrated, -20, 0.2, "LN-2 input I");
    CHECK_NEAR(in.true_peak, -5, 0.5, "LN-2 input TP");
    CHECK(-1 - in.true_peak < -14 - in.integrated - 1, "LN-2: the peak rule must bind");
    double expect = fmin(-14 - in.integrated, -1 - 0.05 - in.true_peak); /* 0.05: margin */
    /* without peak_respecting the loop refuses and says why; nothing is written */
    mg_master_opts mo = {.target_lufs = -14, .ceiling_dbtp = -1};
    mg_render_opts ro = {.path = path("ln2.wav")};
    mg_master_report r;
    CHECK(mg_master_render(g, &mo, &ro, &r) == MG_ERR_RANGE, "LN-2 without a limiter passed");
    CHECK(strstr(r.note, "no limiter") != NULL, "LN-2 reason: '%s'", r.note);
    CHECK(!exists(ro.path), "LN-2: a refused run left %s", ro.path);
    mo.peak_respecting = 1;
    CHECK_OK(mg_master_render(g, &mo, &ro, &r), g);
    CHECK_NEAR(r.gain_db, expect, 0.01, "LN-2 gain = min(-14 - I, -1 - TP)");
    CHECK_NEAR(r.after.integrated, in.integrated + expect, 0.1, "LN-2 output I");
    CHECK(r.after.true_peak <= -1.0 && r.after.true_peak >= -1.1, "LN-2 TP %.3f not in "
          "[-1.1, -1]", r.after.true_peak);
    CHECK(!r.on_target && r.note[0], "LN-2 should be flagged as short of the target");
    mg_test_report("LN-2 gain (expect min(-14 - I, -1 - TP))", r.gain_db, "dB");
    mg_test_report("LN-2 output I (expect about -16)", r.after.integrated, "LUFS");
    mg_test_report("LN-2 output TP (expect -1.0 +0/-0.1)", r.after.true_peak, "dBTP");
    mg_graph_free(g);
}

/*
** Independent 32x true peak of interleaved stereo x (n frames): around each of the `spots`
** largest samples, a 4096-frame window is interpolated 32x by zero-padding its spectrum (ideal
** band-limited interpolation of the window taken as periodic); only the middle 1024 frames are
** read, far from the wrap-around. In dB.
*/
static double tp32(const float *x, long n, int spots)
{
    enum { WIN = 4096, OS = 32, MID = 1024 };
    float *in = fftwf_alloc_real(WIN), *out = fftwf_alloc_real(WIN * OS);
    fftwf_complex *sp = fftwf_alloc_complex(WIN * OS / 2 + 1);
    fftwf_plan fwd = fftwf_plan_dft_r2c_1d(WIN, in, sp, FFTW_ESTIMATE);
    fftwf_plan inv = fftwf_plan_dft_c2r_1d(WIN * OS, sp, out, FFTW_ESTIMATE);
    double best = 0;
    char *used = calloc((size_t)n, 1);
    for (int s = 0; s < spots; s++)
        for (int c = 0; c < 2; c++) {
            long at = -1;
            for (long i = WIN; i < n - WIN; i++)
                if (!used[i] && (at < 0 || fabsf(x[2 * i + c]) > fabsf(x[2 * at + c])))
                    at = i;
            if (at < 0)
                continue;
            for (long i = at - MID / 2; i < at + MID / 2; i++)
                used[i] = 1;
            for (int i = 0; i < WIN; i++)
                in[i] = x[2 * (at - WIN / 2 + i) + c];
            fftwf_execute(fwd);
            for (int k = WIN / 2 + 1; k <= WIN * OS / 2; k++)
                sp[k][0] = sp[k][1] = 0;
            sp[WIN / 2][0] *= 0.5f; /* split the Nyquist bin between its two images */
            sp[WIN / 2][1] *= 0.5f;
            fftwf_execute(inv);
            for (int i = (WIN / 2 - MID / 2) * OS; i < (WIN / 2 + MID / 2) * OS; i++)
                best = fmax(best, fabs(out[i]) / WIN);
        }
    free(used);
    fftwf_destroy_plan(fwd);
    fftwf_destroy_plan(inv);
    fftwf_free(in);
    fftwf_free(out);
    fftwf_free(sp);
    return 20 * log10(best);
}

static float *read_all(const char *p, long *frames);

/* The reference itself: fs/4 and fs/6 sines at 45 degrees, amplitude 0.5, whose sample peaks
   read 3 dB and 1.25 dB low, must read -6.02 dBTP. */
static void tp32_self_check(void)
{
    long n = 48000;
    float *x = malloc(sizeof(float) * 2 * (size_t)n);
    for (int k = 4; k <= 6; k += 2) {
        for (long i = 0; i < n; i++)
            x[2 * i] = x[2 * i + 1] = (float)(0.5 * sin(2 * M_PI * i / k + M_PI / 4));
        CHECK_NEAR(tp32(x, n, 2), 20 * log10(0.5), 0.01, "32x reference on a sine at fs/k");
    }
    free(x);
}

static void ln3(void)
{
    tp32_self_check();
    if (!mg_node_type_find("limiter")) {
        printf("LN-3: no limiter node in this build; skipped\n");
        return;
    }
    mg_graph *g = ln2_signal();
    mg_node *out = mg_graph_output(g);
    mg_node *gain = mg_test_node(g, "gain", "loudness", NULL, 0);
    mg_node *lim = mg_test_node(g, "limiter", "limiter", NULL, 0);
    for (int i = mg_graph_edge_count(g) - 1; i >= 0; i--) {
        mg_edge_info e = mg_graph_edge(g, i);
        if (e.dst == out) {
            CHECK_OK(mg_disconnect(e.src, e.out_port, out, 0), g);
            CHECK_OK(mg_connect(e.src, e.out_port, gain, 0), g);
        }
    }
    CHECK_OK(mg_connect(gain, 0, lim, 0), g);
    CHECK_OK(mg_connect(lim, 0, out, 0), g);
    mg_master_opts mo = {.target_lufs = -14, .ceiling_dbtp = -1};
    mg_render_opts ro = {.path = path("ln3.wav")};
    mg_master_report r;
    CHECK_OK(mg_master_render(g, &mo, &ro, &r), g);
    CHECK_NEAR(r.after.integrated, -14.0, 0.1, "LN-3 output I (DSP_TESTS: +-0.3; ours 0.1)");
    CHECK(r.after.true_peak <= -1.0, "LN-3 TP %.3f over -1", r.after.true_peak);
    CHECK(r.max_gr_db > 0.5, "LN-3: limiter did not work (GR %.2f dB)", r.max_gr_db);
    long n;
    float *y = read_all(ro.path, &n);
    double ref = y ? tp32(y, n, 8) : 0;
    CHECK(y && ref <= -0.9, "LN-3 TP by the 32x reference %.3f over -0.9", ref);
    CHECK(ref >= r.after.true_peak - 0.05, "32x reference %.3f reads under the 4x meter %.3f",
          ref, r.after.true_peak);
    free(y);
    mg_test_report("LN-3 output I (expect -14 +-0.3)", r.after.integrated, "LUFS");
    mg_test_report("LN-3 output TP, 32x reference (expect <= -0.9)", ref, "dBTP");
    mg_test_report("LN-3 output TP (expect <= -1)", r.after.true_peak, "dBTP");
    mg_test_report("LN-3 max gain reduction", r.max_gr_db, "dB");
    mg_test_report("LN-3 passes", r.passes, "");
    mg_graph_free(g);
}

static float *read_all(const char *p, long *frames)
{
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(p, SFM_READ, &info);
    if (!sf) {
        *frames = 0;
        return NULL;
    }
    float *x = malloc(sizeof(float) * (size_t)info.frames * (size_t)info.channels);
    *frames = (long)sf_readf_float(sf, x, info.frames);
    sf_close(sf);
    return x;
}

static void ln4(void)
{
    mg_node *src;
    mg_graph *g = pink(10, -8, &src);
    mg_render_opts ro0 = {.path = path("ln4_in.wav"), .bits = MG_BITS_32F};
    CHECK_OK(mg_render(g, &ro0, NULL), g);
    mg_master_opts mo = {.target_lufs = -14, .ceiling_dbtp = -1};
    mg_render_opts ro = {.path = path("ln4.wav"), .bits = MG_BITS_32F};
    mg_master_report r;
    CHECK_OK(mg_master_render(g, &mo, &ro, &r), g);
    CHECK_NEAR(r.gain_db, -6.0, 0.01, "LN-4 gain");
    long n0, n1;
    float *x = read_all(path("ln4_in.wav"), &n0), *y = read_all(ro.path, &n1);
    CHECK(x && y && n0 == n1 && n0 > 0, "LN-4 files: %ld and %ld frames", n0, n1);
    double k = pow(10.0, r.gain_db / 20.0), worst = 0;
    for (long i = 0; x && y && i < 2 * n0; i++)
        worst = fmax(worst, fabs(y[i] - x[i] * k));
    CHECK(worst <= 1e-6, "LN-4: output differs from input x gain by %g", worst);
    CHECK_NEAR(r.gain_db, -6.0, 1e-4, "LN-4 gain exact (pink noise measured to 0.001 LU)");
    mg_test_report("LN-4 gain (expect -6)", r.gain_db, "dB");
    mg_test_report("LN-4 max |output - input x gain| (expect <= 1e-6)", worst, "");
    free(x);
    free(y);
    mg_graph_free(g);
}

static void ln5_ln6(void)
{
    /* an existing file at the target must survive every refused run */
    const char *keep = path("keep.wav");
    FILE *f = fopen(keep, "w");
    fputs("not audio", f);
    fclose(f);
    mg_node *src;
    mg_graph *g = pink(10, -30, &src);
    double at30 = mg_node_get_index(src, 0);
    for (int i = 0; i < 2; i++) {
        /* silence, then the noise 50 dB down: about -80 LUFS */
        CHECK_OK(mg_node_set(src, "gain", i == 0 ? -144 : at30 - 50), g);
        mg_master_opts mo = {.target_lufs = -14, .ceiling_dbtp = -1};
        mg_render_opts ro = {.path = keep};
        mg_master_report r;
        mg_status st = mg_master_render(g, &mo, &ro, &r);
        CHECK(st == MG_ERR_RANGE, "LN-5 (%s): status %s", i ? "-80 LUFS" : "silence",
              mg_strerror(st));
        CHECK(strstr(r.note, "silent") != NULL, "LN-5 reason '%s'", r.note);
        CHECK(r.gain_db == 0 && !isnan(r.before.integrated), "LN-5: gain %g", r.gain_db);
        f = fopen(keep, "r");
        char buf[16] = {0};
        CHECK(f && fgets(buf, sizeof buf, f) && strcmp(buf, "not audio") == 0,
              "LN-5: the existing target was replaced");
        if (f)
            fclose(f);
        printf("  LN-5 %s: refused: %s\n", i ? "noise at -80 LUFS" : "silence", r.note);
    }
    mg_graph_free(g);
    g = mg_test_graph(48000, 256, 2);
    mg_opt o[] = {{"color", "pink", 0}, {"channels", NULL, 2}, {"duration", NULL, 0.3}};
    src = mg_test_node(g, "noise", "blip", o, 3);
    CHECK_OK(mg_connect(src, 0, mg_graph_output(g), 0), g);
    mg_master_opts mo = {.target_lufs = -14, .ceiling_dbtp = -1};
    mg_render_opts ro = {.path = path("ln6.wav")};
    mg_master_report r;
    mg_status st = mg_master_render(g, &mo, &ro, &r);
    CHECK(st == MG_ERR_RANGE && strstr(r.note, "400 ms"), "LN-6: %s '%s'", mg_strerror(st),
          r.note);
    CHECK(!exists(ro.path), "LN-6 left a file");
    CHECK(!isnan(r.gain_db) && r.gain_db == 0, "LN-6 gain %g", r.gain_db);
    printf("  LN-6 300 ms blip: refused: %s\n", r.note);
    mg_graph_free(g);
}

static void ln7(void)
{
    mg_graph *g = mg_test_graph(48000, 256, 2);
    static const double lv[5] = {-50, -35, -20, -35, -50};
    for (int i = 0; i < 5; i++) {
        mg_opt o[] = {{"start", NULL, 20.0 * i}, {"duration", NULL, 20}, {"attack", NULL, 0},
                      {"release", NULL, 0}, {"phase", NULL, 0}};
        mg_node *s = mg_test_node(g, "osc", NULL, o, 4);
        CHECK_OK(mg_node_set(s, "freq", 1000), g);
        CHECK_OK(mg_node_set(s, "gain", lv[i]), g);
        CHECK_OK(mg_connect(s, 0, mg_graph_output(g), 0), g);
    }
    mg_file_analysis in;
    CHECK_OK(mg_graph_analyze(g, 0, &in), g);
    mg_master_opts mo = {.target_lufs = -23, .ceiling_dbtp = -1};
    mg_render_opts ro = {.path = path("ln7.wav")};
    mg_master_report r;
    CHECK_OK(mg_master_render(g, &mo, &ro, &r), g);
    CHECK_NEAR(r.after.integrated, -23.0, 0.1, "LN-7 output I");
    CHECK_NEAR(in.lra, 15.0, 1.0, "LN-7 input LRA (Tech 3342 case 4)");
    CHECK_NEAR(r.after.lra, in.lra, 0.1, "LN-7 LRA unchanged");
    mg_test_report("LN-7 output I (expect -23 +-0.1)", r.after.integrated, "LUFS");
    mg_test_report("LN-7 LRA in", in.lra, "LU");
    mg_test_report("LN-7 LRA out (expect in +-0.1)", r.after.lra, "LU");
    mg_graph_free(g);
}

static void targets(void)
{
    const mg_target *t = mg_target_find("spotify");
    CHECK(t && t->lufs == -14 && t->ceiling_dbtp == -1, "spotify target");
    t = mg_target_find("ebu");
    CHECK(t && t->lufs == -23 && t->ceiling_dbtp == -1, "EBU R 128 target");
    CHECK(!mg_target_find("nowhere"), "unknown target found");
}

/*
** LN-3 on a long input (64 s, searched on the proxy): pink noise at -20 LUFS with a loud
** 1 kHz tone from 20 to 35 s, a section the proxy samples once in five chunks (a biased
** sample), so the file render must correct the proxy's offset. On target, TP under the
** ceiling by the 32x reference, and at most 3 renders of the whole output.
*/
static void ln3_long(void)
{
    if (!mg_node_type_find("limiter"))
        return;
    mg_node *src;
    mg_graph *g = pink(64, -20, &src);
    mg_opt o[] = {{"start", NULL, 20}, {"duration", NULL, 15}, {"attack", NULL, 5},
                  {"release", NULL, 5}};
    mg_node *tone = mg_test_node(g, "osc", "tone", o, 4);
    CHECK_OK(mg_node_set(tone, "gain", -12), g);
    CHECK_OK(mg_node_set(tone, "freq", 1000), g);
    mg_node *out = mg_graph_output(g);
    mg_node *gain = mg_test_node(g, "gain", "loudness", NULL, 0);
    mg_node *lim = mg_test_node(g, "limiter", "limiter", NULL, 0);
    CHECK_OK(mg_disconnect(src, 0, out, 0), g);
    CHECK_OK(mg_connect(src, 0, gain, 0), g);
    CHECK_OK(mg_connect(tone, 0, gain, 0), g);
    CHECK_OK(mg_connect(gain, 0, lim, 0), g);
    CHECK_OK(mg_connect(lim, 0, out, 0), g);
    mg_master_opts mo = {.target_lufs = -10, .ceiling_dbtp = -1};
    mg_render_opts ro = {.path = path("ln3_long.wav")};
    mg_master_report r;
    CHECK_OK(mg_master_render(g, &mo, &ro, &r), g);
    CHECK_NEAR(r.after.integrated, -10.0, 0.1, "LN-3 long: output I");
    CHECK(r.after.true_peak <= -1.0, "LN-3 long: TP %.3f over -1", r.after.true_peak);
    CHECK(r.max_gr_db > 2, "LN-3 long: limiter did not work (GR %.2f dB)", r.max_gr_db);
    CHECK(r.renders >= 1 && r.renders <= 3 && r.renders < r.passes,
          "LN-3 long: %d renders of the whole output in %d passes (proxy not used?)", r.renders,
          r.passes);
    long n;
    float *y = read_all(ro.path, &n);
    double ref = y ? tp32(y, n, 8) : 0;
    CHECK(y && ref <= -0.9, "LN-3 long: TP by the 32x reference %.3f over -0.9", ref);
    free(y);
    mg_test_report("LN-3 long output I (expect -10 +-0.1)", r.after.integrated, "LUFS");
    mg_test_report("LN-3 long output TP (expect <= -1)", r.after.true_peak, "dBTP");
    mg_test_report("LN-3 long max gain reduction", r.max_gr_db, "dB");
    mg_test_report("LN-3 long passes", r.passes, "");
    mg_test_report("LN-3 long renders of the whole output (expect 1..3)", r.renders, "");
    mg_graph_free(g);
}

/* A measuring pass runs automation functions like the render: a gain drawn by a function
   measures the same in memory (mg_graph_analyze) as in the rendered file. */
static int fade_in(void *ud, double t, double *v, char *err, size_t errsz)
{
    (void)ud, (void)err, (void)errsz;
    *v = -40 + 10 * t;
    return 0;
}

static void measure_follows_automation(void)
{
    mg_node *src;
    mg_graph *g = pink(4, -20, &src);
    mg_node *amp = mg_node_new(g, "gain", "amp", NULL, 0);
    mg_node *out = mg_graph_output(g);
    for (int i = mg_graph_edge_count(g) - 1; i >= 0; i--) {
        mg_edge_info e = mg_graph_edge(g, i);
        if (e.dst == out)
            CHECK_OK(mg_disconnect(e.src, e.out_port, out, e.in_port), g);
    }
    CHECK_OK(mg_connect(src, 0, amp, 0), g);
    CHECK_OK(mg_connect(amp, 0, out, 0), g);
    CHECK_OK(mg_node_param_generate(amp, 0, 100, 0, fade_in, NULL, NULL), g);
    mg_file_analysis a, b;
    CHECK_OK(mg_graph_analyze(g, 0, &a), g);
    mg_render_opts ro = {.path = path("fn.wav"), .bits = MG_BITS_32F};
    CHECK_OK(mg_render(g, &ro, NULL), g);
    char err[512];
    CHECK(mg_analyze_file(ro.path, &b, err, sizeof err) == MG_OK, "%s", err);
    CHECK_NEAR(a.integrated, b.integrated, 0.01, "measuring pass with fn automation vs file");
    mg_analysis_free(&a);
    mg_analysis_free(&b);
    mg_graph_free(g);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/mg_test_master.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    targets();
    ln1();
    ln2();
    ln3();
    ln3_long();
    ln4();
    ln5_ln6();
    ln7();
    measure_follows_automation();
    static const char *const files[] = {"ln1.wav", "ln2.wav", "ln3.wav", "ln4_in.wav",
                                        "ln4.wav", "ln6.wav", "ln7.wav", "keep.wav",
                                        "ln3_long.wav", "fn.wav"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        unlink(path(files[i]));
    rmdir(dir);
    return mg_test_done("test_master");
}
