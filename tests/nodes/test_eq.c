/*
** test_eq.c: the `eq` node: BQ-3 (+9/-9 peaks cancel) and BQ-11 (the measured response is the
** product of the bands', and response() agrees with the measurement) on 6-band and 32-band
** settings, the default band layout and its transparency, click-free switching of a band on
** and off through 0 dB (bypass), block-size independence and per-channel state.
*/
#include "filter_test.h"

typedef struct band {
    int type;
    double freq, q, bw, gain;
} band;

/* Parameter list setting bands b[0..n-1] (names kept in `names`), NULL-terminated. */
static dyn_param *band_params(const band *b, int n, char (*names)[16])
{
    static const char *field[MG_FP_COUNT] = {"type", "freq", "q", "bw", "gain"};
    dyn_param *ps = calloc((size_t)(MG_FP_COUNT * n + 1), sizeof *ps);
    for (int k = 0; k < n; k++) {
        double v[MG_FP_COUNT] = {b[k].type, b[k].freq, b[k].q, b[k].bw, b[k].gain};
        for (int f = 0; f < MG_FP_COUNT; f++) {
            char *nm = names[MG_FP_COUNT * k + f];
            snprintf(nm, 16, "%s%d", field[f], k + 1);
            ps[MG_FP_COUNT * k + f] = (dyn_param){nm, v[f]};
        }
    }
    return ps;
}

/* The float64 reference of the bands: cookbook biquads (cascades for steep LP/HP). */
static ft_ref bands_ref(const band *b, int n, int slope, mg_filter_design d)
{
    ft_ref r = {0};
    for (int k = 0; k < n; k++) {
        mg_biquad s[MG_FILTER_MAX_SECTIONS];
        int ns = 0;
        if ((b[k].type == MG_FT_LOWPASS || b[k].type == MG_FT_HIGHPASS) &&
            (slope > 12 || d == MG_FD_LINKWITZ_RILEY))
            ns = mg_biquad_design_cascade(b[k].type, b[k].freq, slope, d, FT_RATE, s);
        for (int i = 0; i < ns; i++)
            ft_ref_add(&r, s[i]);
        if (!ns)
            ft_ref_add(&r, mg_biquad_design(b[k].type, b[k].freq,
                                            b[k].bw > 0 ? ft_q_of_bw(b[k].bw, b[k].freq) : b[k].q,
                                            b[k].gain, FT_RATE));
    }
    return r;
}

/*
** Impulse response of an eq with bands b (options o); checks the spectrum against the product
** of the bands (tol dB) and response() against the measurement (tol dB), over 20 Hz-20 kHz
** wherever the reference is above FT_FLOOR_DB.
*/
static void check_bands(const char *what, const band *b, int n, const mg_opt *extra, int nextra,
                        int slope, mg_filter_design d, double tol)
{
    char names[MG_FP_COUNT * 32][16];
    dyn_param *ps = band_params(b, n, names);
    mg_opt o[4] = {ft_num("bands", n)};
    memcpy(o + 1, extra, (size_t)nextra * sizeof *o);
    float *h = ft_ir("eq", o, 1 + nextra, ps);
    double *db = malloc((FT_NIR / 2 + 1) * sizeof *db);
    ft_spectrum_db(h, FT_NIR, db);
    ft_ref r = bands_ref(b, n, slope, d);
    double at = 0, err = ft_max_err(db, FT_NIR, &r, 20, 20000, &at);
    char line[160];
    snprintf(line, sizeof line, "%s: measured vs product of bands", what);
    mg_test_report(line, err, "dB");
    CHECK(err <= tol, "%s: off by %.4f dB at %.1f Hz", line, err, at);

    /* response() from the node's current values, against the measured spectrum */
    mg_graph *g = mg_test_graph(FT_RATE, 64, 1);
    mg_node *eq = mg_test_node(g, "eq", "eq", o, 1 + nextra);
    for (dyn_param *p = ps; p->name; p++)
        CHECK_OK(mg_node_set(eq, p->name, p->value), g);
    double worst = 0, wf = 0;
    for (long k = 1; k <= FT_NIR / 2; k += 7) {
        double f = (double)k * FT_RATE / FT_NIR;
        if (f < 20 || f > 20000 || ft_ref_db(&r, f) < FT_FLOOR_DB)
            continue;
        double e = fabs(mg_node_response(eq, f) - db[k]);
        if (e > worst) {
            worst = e;
            wf = f;
        }
    }
    snprintf(line, sizeof line, "%s: response() vs measured", what);
    mg_test_report(line, worst, "dB");
    CHECK(worst <= tol, "%s: off by %.4f dB at %.1f Hz", line, worst, wf);
    mg_graph_free(g);
    free(db);
    free(h);
    free(ps);
}

/* BQ-3 and BQ-11. */
static void test_product(void)
{
    band cancel[] = {{MG_FT_PEAK, 1000, 1, 0, 9}, {MG_FT_PEAK, 1000, 1, 0, -9}};
    char names[16][16];
    dyn_param *ps = band_params(cancel, 2, names);
    mg_opt o = ft_num("bands", 2);
    float *h = ft_ir("eq", &o, 1, ps);
    double *db = malloc((FT_NIR / 2 + 1) * sizeof *db), dev = 0;
    ft_spectrum_db(h, FT_NIR, db);
    for (long k = 1; k <= FT_NIR / 2; k++)
        dev = fmax(dev, fabs(db[k]));
    mg_test_report("BQ-3 eq peak +9 dB and -9 dB at 1 kHz Q 1: max deviation", dev, "dB");
    CHECK(dev <= 0.001, "BQ-3: not flat (%.5f dB)", dev);
    free(db);
    free(h);
    free(ps);

    band six[] = {
        {MG_FT_HIGHPASS, 30, FT_Q_BW, 0, 0},   {MG_FT_LOWSHELF, 80, FT_Q_BW, 0, 4},
        {MG_FT_PEAK, 250, 2, 0, -6},           {MG_FT_PEAK, 1200, 0.7, 1, 3},
        {MG_FT_NOTCH, 3000, 4, 0, 0},          {MG_FT_HIGHSHELF, 9000, FT_Q_BW, 0, -5},
    };
    check_bands("BQ-11 6 bands", six, 6, NULL, 0, 12, MG_FD_BUTTERWORTH, 0.02);
    mg_opt lr[] = {ft_num("slope", 24), ft_str("design", "linkwitz-riley")};
    band steep[] = {{MG_FT_HIGHPASS, 60, 1, 0, 0}, {MG_FT_PEAK, 700, 3, 0, 5},
                    {MG_FT_LOWPASS, 12000, 1, 0, 0}, {MG_FT_BANDPASS, 2000, 0.4, 0, 0}};
    check_bands("BQ-11 LR 24 dB/oct LP/HP + peak + bandpass", steep, 4, lr, 2, 24,
                MG_FD_LINKWITZ_RILEY, 0.02);

    /* 32 peaks and shelves with pseudo-random settings */
    band many[32];
    float *r = ft_noise(128, 11, 1);
    for (int k = 0; k < 32; k++)
        many[k] = (band){k % 8 == 0 ? MG_FT_LOWSHELF : k % 8 == 7 ? MG_FT_HIGHSHELF : MG_FT_PEAK,
                         30 * pow(600.0, (k + 0.5 * r[4 * k]) / 32), 0.5 + 2 * (1 + r[4 * k + 1]),
                         0, 6 * r[4 * k + 2]};
    free(r);
    check_bands("BQ-11 32 bands", many, 32, NULL, 0, 12, MG_FD_BUTTERWORTH, 0.02);
}

/* Default layouts, and a fresh eq (every gain 0 dB) passes its input bit for bit. */
static void test_defaults(void)
{
    struct {
        int bands;
        int types[5];
        double freqs[5];
    } cs[] = {
        {1, {MG_FT_PEAK}, {1000}},
        {2, {MG_FT_LOWSHELF, MG_FT_HIGHSHELF}, {100, 8000}},
        {4, {MG_FT_LOWSHELF, MG_FT_PEAK, MG_FT_PEAK, MG_FT_HIGHSHELF}, {100, 430, 1900, 8000}},
        {5, {MG_FT_LOWSHELF, MG_FT_PEAK, MG_FT_PEAK, MG_FT_PEAK, MG_FT_HIGHSHELF},
         {100, 300, 890, 2700, 8000}},
    };
    for (int c = 0; c < 4; c++) {
        mg_graph *g = mg_test_graph(FT_RATE, 64, 1);
        mg_opt o = ft_num("bands", cs[c].bands);
        mg_node *eq = mg_test_node(g, "eq", "eq", &o, 1);
        int ok = mg_node_param_count(eq) == MG_FP_COUNT * cs[c].bands;
        for (int k = 0; k < cs[c].bands; k++) {
            char nm[16];
            snprintf(nm, sizeof nm, "type%d", k + 1);
            ok &= mg_node_get_index(eq, mg_node_param_index(eq, nm)) == cs[c].types[k];
            snprintf(nm, sizeof nm, "freq%d", k + 1);
            ok &= mg_node_get_index(eq, mg_node_param_index(eq, nm)) == cs[c].freqs[k];
            snprintf(nm, sizeof nm, "gain%d", k + 1);
            ok &= mg_node_get_index(eq, mg_node_param_index(eq, nm)) == 0;
        }
        ok &= mg_node_response(eq, 1000) == 0 && mg_node_response(eq, 50) == 0;
        CHECK(ok, "eq with %d bands: default layout or flat response wrong", cs[c].bands);
        mg_graph_free(g);
    }

    const long n = 20000;
    float *x[2] = {ft_noise(n, 12, 0.9), ft_noise(n, 13, 0.9)};
    mg_opt o = ft_num("bands", 8);
    float **y = ft_render("eq", &o, 1, NULL, x, 2, n, 256, NULL, 0);
    int same = memcmp(x[0], y[0], n * sizeof(float)) == 0 &&
               memcmp(x[1], y[1], n * sizeof(float)) == 0;
    mg_test_report("fresh 8-band eq: output identical to input", same, "(1 = yes)");
    CHECK(same, "an eq with every band at 0 dB changes the signal");
    mg_test_free_channels(y, 2);
    free(x[0]);
    free(x[1]);
}

/*
** A band switched on and off through 0 dB on a 50 Hz sine (-6 dBFS): band 2 is a Q 4 peak at
** 60 Hz whose gain goes 0 -> +12 -> 0 -> -12 -> 0 dB (20 ms ramps from the engine). A click is
** a jump, which the second difference d = y[n] - 2 y[n-1] + y[n-2] shows at its own size while
** the sine's own d stays below -80 dBFS (the kinks at the ends of the engine's linear gain
** ramps add up to about -67 dBFS); max |d| must stay below -60 dBFS. After the band returns
** to 0 dB and rings out, the output is the input bit for bit (bypassed).
*/
static void test_band_switching(void)
{
    const long n = 3 * 48000;
    float *x = dyn_sine(50, FT_RATE, -6, n);
    mg_opt o = ft_num("bands", 3);
    dyn_param ps[] = {{"freq2", 60}, {"q2", 4}, {NULL, 0}};
    dyn_event ev[] = {{24000, NULL, "gain2", 12}, {48000, NULL, "gain2", 0},
                      {72000, NULL, "gain2", -12}, {96000, NULL, "gain2", 0}};
    float **y = ft_render("eq", &o, 1, ps, &x, 1, n, 64, ev, 4);
    double dmax = 0, dsig = 0;
    for (long i = 2; i < n; i++) {
        double d = fabs(y[0][i] - 2.0 * y[0][i - 1] + y[0][i - 2]);
        dmax = fmax(dmax, d);
        if (i < 24000)
            dsig = fmax(dsig, d);
    }
    mg_test_report("band on/off through 0 dB: max |2nd difference|", 20 * log10(dmax), "dBFS");
    mg_test_report("  (the sine's own, band at 0 dB)", 20 * log10(dsig), "dBFS");
    CHECK(dmax <= 1e-3, "switching a band clicks: %.1f dBFS", 20 * log10(dmax));
    /* 0.6 s after the last ramp the band has rung out (to -200 dB) and is bypassed */
    long from = 96000 + 28800;
    int same = memcmp(x + from, y[0] + from, (size_t)(n - from) * sizeof(float)) == 0;
    CHECK(same, "a band back at 0 dB does not return to the exact identity");
    long last = 96000;
    for (long i = 96000; i < n; i++)
        if (memcmp(&x[i], &y[0][i], sizeof(float)))
            last = i + 1;
    mg_test_report("  exact identity after the band's return to 0 dB", (last - 96000) / FT_RATE,
                   "s");
    mg_test_free_channels(y, 1);
    free(x);
}

/* Blocks 1, 64 and 4096 agree bit for bit through band changes, bypass and type changes. */
static void test_block_size(void)
{
    mg_opt o[] = {ft_num("bands", 5), ft_num("slope", 36)};
    dyn_param ps[] = {{"gain1", 3}, {"type2", MG_FT_HIGHPASS}, {"freq2", 80}, {"gain3", -4},
                      {NULL, 0}};
    dyn_event ev[] = {
        {4096, NULL, "gain4", 8},  {8192, NULL, "freq3", 5000}, {8192, NULL, "q3", 6},
        {12288, NULL, "gain4", 0}, {16384, NULL, "type5", 1},   {20480, NULL, "freq2", 400},
        {24576, NULL, "gain1", 0}, {24576, NULL, "bw3", 0.5},   {28672, NULL, "gain4", -3},
        {32768, NULL, "type2", 6}, {32768, NULL, "gain2", 5},
    };
    ft_check_blocks("eq", o, 2, ps, ev, 11, 40960);
}

/* Six channels, each its own state: channel 4 equals the same signal through a mono eq. */
static void test_channels(void)
{
    const long n = 8192;
    float *x[6];
    for (int c = 0; c < 6; c++)
        x[c] = ft_noise(n, 20 + (unsigned)c, 0.5);
    mg_opt o = ft_num("bands", 3);
    dyn_param ps[] = {{"gain1", 6}, {"gain2", -8}, {"q2", 5}, {NULL, 0}};
    float **y6 = ft_render("eq", &o, 1, ps, x, 6, n, 128, NULL, 0);
    float **y1 = ft_render("eq", &o, 1, ps, x + 4, 1, n, 128, NULL, 0);
    CHECK(memcmp(y6[4], y1[0], n * sizeof(float)) == 0, "6-channel eq: channel 5 differs");
    mg_test_free_channels(y6, 6);
    mg_test_free_channels(y1, 1);
    for (int c = 0; c < 6; c++)
        free(x[c]);
}

int main(void)
{
    dyn_tmp_open("eq");
    test_product();
    test_defaults();
    test_band_switching();
    test_block_size();
    test_channels();
    dyn_tmp_close();
    return mg_test_done("test_eq");
}
