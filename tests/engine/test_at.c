/*
** test_at.c: scheduled graph edits (mg_graph_at, Lua's g:at) offline and live:
** - an edit at t = 1.2345 s lands at sample round(1.2345 * 48000), measured from the output,
**   at block sizes 1, 64 and 4096 (identical output);
** - with the default crossfade the new connection fades in from that sample (sin^2 over
**   g.xfade), and moving a steady tone between two paths leaves no step above -60 dBFS;
** - removing a node fades its output out, and the node is gone afterwards;
** - an edit that fails stops the render with MG_ERR_SCRIPT and writes no file;
** - live, an edit prepared ahead (as `mixgraph play` does) lands on the same sample as offline:
**   the played samples equal the offline render.
** Runs on the test's main thread (the live part plays the audio thread's role in-line).
*/
#include "../nodes/dyn_signals.h"
#include "mg_live.h"

#define RATE 48000.0
#define T_EDIT 1.2345
#define N 72000L

typedef struct ctx {
    mg_node *src, *dst, *old;
    int remove;
} ctx;

/* the edit: connect src to dst (and disconnect old from dst, or remove old) */
static int edit(void *ud, mg_graph *g, char *err, size_t errsz)
{
    ctx *c = ud;
    mg_status st = mg_connect(c->src, 0, c->dst, 0);
    if (!st && c->old)
        st = c->remove ? mg_node_remove(c->old) : mg_disconnect(c->old, 0, c->dst, 0);
    if (st)
        snprintf(err, errsz, "edit: %s", mg_graph_error(g));
    return st != MG_OK;
}

static int failing(void *ud, mg_graph *g, char *err, size_t errsz)
{
    (void)ud, (void)g;
    snprintf(err, errsz, "patch.lua:9: boom");
    return 1;
}

/* Render N frames through mg_graph_step in blocks of `block` into a new buffer (channel 0). */
static float *run(mg_graph *g, int block)
{
    float *y = calloc((size_t)N, sizeof *y);
    for (long done = 0; done < N;) {
        int n = (int)(N - done < block ? N - done : block);
        const float *const *out;
        CHECK_OK(mg_graph_step(g, &n, &out), g);
        memcpy(y + done, out[0], (size_t)n * sizeof *y);
        done += n;
    }
    return y;
}

/* dc 0.5 connected to the output at T_EDIT */
static mg_graph *dc_graph(int block, double xfade, ctx *c)
{
    mg_graph *g = mg_test_graph(RATE, block, 1);
    c->src = mg_test_node(g, "dc", "dc", NULL, 0);
    c->dst = mg_graph_output(g);
    c->old = NULL;
    c->remove = 0;
    CHECK_OK(mg_node_set(c->src, "value", 0.5), g);
    CHECK_OK(mg_graph_set_xfade(g, xfade), g);
    CHECK_OK(mg_graph_at(g, T_EDIT, edit, c, NULL), g);
    return g;
}

static void test_lands_on_sample(void)
{
    const long S = lround(T_EDIT * RATE);
    static const int blocks[] = {1, 64, 4096};
    float *y[3];
    for (int b = 0; b < 3; b++) {
        ctx c;
        mg_graph *g = dc_graph(blocks[b], 0, &c);
        y[b] = run(g, blocks[b]);
        mg_graph_free(g);
    }
    long first = -1;
    for (long i = 0; i < N && first < 0; i++)
        if (y[0][i] != 0)
            first = i;
    CHECK(first == S && y[0][S] == 0.5f, "edit at %g s: first sample of the new signal %ld "
          "(expect %ld)", T_EDIT, first, S);
    mg_test_report("g:at 1.2345 s: first edited sample (expect 59256)", (double)first, "");
    for (int b = 1; b < 3; b++) {
        long diff = 0;
        for (long i = 0; i < N; i++)
            diff += y[b][i] != y[0][i];
        CHECK(diff == 0, "block %d vs block 1: %ld samples differ", blocks[b], diff);
    }
    for (int b = 0; b < 3; b++)
        free(y[b]);

    /* with the default crossfade: sin^2 from S over xfade */
    ctx c;
    mg_graph *g = dc_graph(64, 0.005, &c);
    float *z = run(g, 64);
    long L = lround(0.005 * RATE);
    double worst = 0;
    for (long i = 0; i < N; i++) {
        double x = i <= S ? 0 : i >= S + L ? 1 : sin(0.5 * M_PI * (double)(i - S) / L);
        worst = fmax(worst, fabs(z[i] - 0.5 * x * x));
    }
    CHECK(worst < 1e-6, "fade-in from the edit's sample: largest error %g", worst);
    free(z);
    mg_graph_free(g);
}

/* A steady tone moved from path a (0 dB) to b (-12 dB), or a removed: no step above -60 dBFS.
   The detector applies the sine recursion e[n] = x[n] - 2cos(w) x[n-1] + x[n-2] twice (as
   tests/rt/rtcheck does): zero for a steady sine and for a sine under a linear gain ramp, a
   step of height h reads h. So it sees discontinuities, not the smooth fades themselves. */
static double step_dbfs(const float *x, long from, long to)
{
    double c = 2 * cos(2 * M_PI * 997 / RATE), worst = 0;
    for (long i = from; i < to; i++) {
        double e0 = x[i] - c * x[i - 1] + x[i - 2];
        double e1 = x[i - 1] - c * x[i - 2] + x[i - 3];
        double e2 = x[i - 2] - c * x[i - 3] + x[i - 4];
        worst = fmax(worst, fabs(e0 - c * e1 + e2));
    }
    return 20 * log10(worst + 1e-300);
}

static void test_crossfaded_edits(int remove)
{
    mg_graph *g = mg_test_graph(RATE, 256, 1);
    mg_node *o = mg_test_node(g, "osc", "o", NULL, 0);
    CHECK_OK(mg_node_set(o, "freq", 997), g);
    CHECK_OK(mg_node_set(o, "gain", -6), g);
    mg_node *a = mg_test_node(g, "gain", "a", NULL, 0);
    mg_node *b = mg_test_node(g, "gain", "b", NULL, 0);
    CHECK_OK(mg_node_set(b, "gain", -12), g);
    CHECK_OK(mg_connect(o, 0, a, 0), g);
    CHECK_OK(mg_connect(o, 0, b, 0), g);
    CHECK_OK(mg_connect(a, 0, mg_graph_output(g), 0), g);
    ctx c = {.src = b, .dst = mg_graph_output(g), .old = a, .remove = remove};
    CHECK_OK(mg_graph_at(g, T_EDIT, edit, &c, NULL), g);
    float *y = run(g, 256);
    const long S = lround(T_EDIT * RATE);
    double st = step_dbfs(y, S - 480, N);
    CHECK(st < -60, "%s at the edit: largest step %.1f dBFS (limit -60)",
          remove ? "removing the old path" : "moving the connection", st);
    mg_test_report(remove ? "g:at remove a path: largest step" : "g:at move a path: largest step",
                   st, "dBFS");
    if (remove)
        CHECK(mg_graph_find(g, "a") == NULL && mg_graph_node_count(g) == 3,
              "the removed node is gone once faded (%d nodes)", mg_graph_node_count(g));
    free(y);
    mg_graph_free(g);
}

static void test_failing_edit(void)
{
    mg_graph *g = mg_test_graph(RATE, 256, 1);
    mg_node *o = mg_test_node(g, "osc", NULL, NULL, 0);
    CHECK_OK(mg_connect(o, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_at(g, 0.5, failing, NULL, NULL), g);
    char path[600];
    snprintf(path, sizeof path, "%s/fail.wav", dyn_tmpdir);
    mg_render_opts ro = {.path = path, .frames = 48000};
    mg_status st = mg_render(g, &ro, NULL);
    CHECK(st == MG_ERR_SCRIPT, "a failing edit stops the render (%s)", mg_strerror(st));
    CHECK(strstr(mg_graph_error(g), "patch.lua:9: boom") != NULL, "its message: %s",
          mg_graph_error(g));
    CHECK(access(path, F_OK) != 0, "no file is written");
    mg_graph_free(g);
}

/* Live: edits prepared 0.25 s ahead (as the play loop does) land where offline ones do. */
static void test_live_same_sample(void)
{
    ctx c;
    mg_graph *g = dc_graph(256, 0.005, &c);
    float *ref = run(g, 256);
    mg_graph_free(g);
    g = dc_graph(256, 0.005, &c);
    mg_live_config lc = {.out_channels = 1};
    mg_live *lv = mg_live_new(g, &lc, NULL);
    CHECK(lv != NULL, "live engine");
    float *y = calloc((size_t)N, sizeof *y);
    for (long done = 0; lv && done < N;) {
        CHECK_OK(mg_graph_run_at(g, mg_live_position(lv) + 12000), g);
        uint32_t n = (uint32_t)(N - done < 700 ? N - done : 700);
        float *out[1] = {y + done};
        mg_live_process(lv, NULL, out, n);
        done += n;
        mg_live_poll(lv);
        if (mg_graph_collect(g))
            CHECK_OK(mg_graph_compile(g), g);
    }
    long diff = 0;
    for (long i = 0; i < N; i++)
        diff += y[i] != ref[i];
    CHECK(diff == 0, "live scheduled edit vs offline: %ld samples differ", diff);
    mg_live_free(lv);
    mg_graph_free(g);
    free(y);
    free(ref);
}

int main(void)
{
    dyn_tmp_open("at");
    test_lands_on_sample();
    test_crossfaded_edits(0);
    test_crossfaded_edits(1);
    test_failing_edit();
    test_live_same_sample();
    dyn_tmp_close();
    return mg_test_done("test_at");
}
