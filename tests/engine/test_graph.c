/*
** test_graph.c: the engine's scheduling contract: topological order, cycle rejection naming
** the nodes, feedback through a delay, fan-in sums, buffer reuse, block-size independence,
** channel up/down-mixing, parameter ranges and smoothing.
*/
#include "mg_test.h"

static mg_opt num(const char *name, double v) { return (mg_opt){.name = name, .num = v}; }
static mg_opt str(const char *name, const char *s) { return (mg_opt){.name = name, .str = s}; }

static int order_of(mg_graph *g, mg_node *n)
{
    for (int i = 0; i < mg_graph_order_count(g); i++)
        if (mg_graph_order(g, i) == n)
            return i;
    return -1;
}

static void test_topological_order(void)
{
    mg_graph *g = mg_test_graph(48000, 64, 1);
    /* created in reverse of signal order on purpose */
    mg_node *c = mg_test_node(g, "gain", "c", NULL, 0);
    mg_node *b = mg_test_node(g, "gain", "b", NULL, 0);
    mg_node *a = mg_test_node(g, "osc", "a", NULL, 0);
    mg_node *d = mg_test_node(g, "gain", "d", NULL, 0);
    CHECK_OK(mg_connect(a, 0, b, 0), g);
    CHECK_OK(mg_connect(b, 0, c, 0), g);
    CHECK_OK(mg_connect(a, 0, d, 0), g);
    CHECK_OK(mg_connect(d, 0, c, 0), g);
    CHECK_OK(mg_connect(c, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_compile(g), g);
    CHECK(order_of(g, a) < order_of(g, b), "a before b");
    CHECK(order_of(g, b) < order_of(g, c), "b before c");
    CHECK(order_of(g, d) < order_of(g, c), "d before c");
    CHECK(order_of(g, c) < order_of(g, mg_graph_output(g)), "c before output");
    CHECK(mg_graph_order_count(g) == 5, "5 steps, got %d", mg_graph_order_count(g));
    mg_graph_free(g);
}

static void test_cycles(void)
{
    mg_graph *g = mg_test_graph(48000, 64, 1);
    mg_node *comp = mg_test_node(g, "gain", "comp", NULL, 0);
    mg_node *eq = mg_test_node(g, "gain", "eq", NULL, 0);
    CHECK_OK(mg_connect(comp, 0, eq, 0), g);
    mg_status st = mg_connect(eq, 0, comp, 0);
    CHECK(st == MG_ERR_CYCLE, "cycle rejected (%s)", mg_strerror(st));
    CHECK(strstr(mg_graph_error(g), "cycle: comp -> eq -> comp") != NULL,
          "message names the cycle: '%s'", mg_graph_error(g));
    CHECK(strstr(mg_graph_error(g), "delay") != NULL, "message suggests a delay");
    /* self loop */
    st = mg_connect(eq, 0, eq, 0);
    CHECK(st == MG_ERR_CYCLE && strstr(mg_graph_error(g), "cycle: eq -> eq"),
          "self loop rejected: '%s'", mg_graph_error(g));
    /* longer cycle */
    mg_node *x = mg_test_node(g, "gain", "x", NULL, 0);
    CHECK_OK(mg_connect(eq, 0, x, 0), g);
    st = mg_connect(x, 0, comp, 0);
    CHECK(st == MG_ERR_CYCLE && strstr(mg_graph_error(g), "cycle: comp -> eq -> x -> comp"),
          "3-cycle named: '%s'", mg_graph_error(g));
    mg_graph_free(g);
}

/*
** Feedback through a delay: y = x + 0.5 * y delayed by D >= block. An impulse gives echoes
** of 0.5^k at multiples of D.
*/
static void test_feedback_delay(void)
{
    const int block = 64, D = 100;
    mg_graph *g = mg_test_graph(48000, block, 1);
    /* src -> sum -> delay -> fb(-6.02 dB) -> sum: a comb whose output we check against a
       double-precision recursion driven by the same noise burst */
    mg_node *src = mg_test_node(g, "noise", "src", (mg_opt[]){num("duration", 0.01)}, 1);
    mg_node *sum = mg_test_node(g, "gain", "sum", NULL, 0);
    mg_node *dl = mg_test_node(g, "delay", "dl", NULL, 0);
    mg_node *fb = mg_test_node(g, "gain", "fb", NULL, 0);
    CHECK_OK(mg_node_set(dl, "time", D * 1000.0 / 48000), g);
    CHECK_OK(mg_node_set(fb, "gain", -6.0206), g);
    CHECK_OK(mg_connect(src, 0, sum, 0), g);
    CHECK_OK(mg_connect(sum, 0, dl, 0), g);
    CHECK_OK(mg_connect(dl, 0, fb, 0), g);
    CHECK_OK(mg_connect(fb, 0, sum, 0), g); /* closes the loop through the delay: legal */
    CHECK_OK(mg_connect(sum, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_compile(g), g);
    int ch;
    float **y = mg_test_render(g, 48000 / 10, &ch);
    /* reference computed in double */
    mg_graph *g2 = mg_test_graph(48000, block, 1);
    mg_node *s2 = mg_test_node(g2, "noise", "src", (mg_opt[]){num("duration", 0.01)}, 1);
    CHECK_OK(mg_connect(s2, 0, mg_graph_output(g2), 0), g2);
    float **x = mg_test_render(g2, 48000 / 10, NULL);
    double maxerr = 0;
    double *ref = calloc(4800, sizeof *ref);
    for (int i = 0; i < 4800; i++) {
        ref[i] = x[0][i] + (i >= D ? 0.5 * ref[i - D] : 0);
        double e = fabs(ref[i] - y[0][i]);
        if (e > maxerr)
            maxerr = e;
    }
    CHECK(maxerr < 1e-5, "feedback loop matches y = x + 0.5 y[n-%d] (max err %g)", D, maxerr);
    mg_test_report("feedback loop max error", maxerr, "");
    free(ref);
    mg_test_free_channels(y, ch);
    mg_test_free_channels(x, 1);
    mg_graph_free(g);
    mg_graph_free(g2);
}

static void test_fan_in_sum(void)
{
    mg_graph *g = mg_test_graph(48000, 64, 1);
    mg_node *a = mg_test_node(g, "noise", "a", (mg_opt[]){num("seed", 1)}, 1);
    mg_node *b = mg_test_node(g, "noise", "b", (mg_opt[]){num("seed", 2)}, 1);
    mg_node *c = mg_test_node(g, "noise", "c", (mg_opt[]){num("seed", 3)}, 1);
    mg_node *out = mg_graph_output(g);
    CHECK_OK(mg_connect(a, 0, out, 0), g);
    CHECK_OK(mg_connect(b, 0, out, 0), g);
    CHECK_OK(mg_connect(c, 0, out, 0), g);
    CHECK(mg_node_input_connections(out, 0) == 3, "three connections");
    float **y = mg_test_render(g, 1000, NULL);
    float *parts[3];
    for (int k = 0; k < 3; k++) {
        mg_graph *g1 = mg_test_graph(48000, 64, 1);
        mg_node *s = mg_test_node(g1, "noise", "s", (mg_opt[]){num("seed", k + 1)}, 1);
        CHECK_OK(mg_connect(s, 0, mg_graph_output(g1), 0), g1);
        float **x = mg_test_render(g1, 1000, NULL);
        parts[k] = x[0];
        free(x);
        mg_graph_free(g1);
    }
    double maxerr = 0;
    for (int i = 0; i < 1000; i++) {
        double e = fabs((double)y[0][i] - ((double)parts[0][i] + parts[1][i] + parts[2][i]));
        maxerr = e > maxerr ? e : maxerr;
    }
    CHECK(maxerr < 1e-6, "fan-in equals the sum of the inputs (max err %g)", maxerr);
    for (int k = 0; k < 3; k++)
        free(parts[k]);
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
}

/* Memory follows the graph's width, not its node count. */
static void test_buffer_reuse(void)
{
    mg_graph *g = mg_test_graph(48000, 256, 1);
    mg_node *prev = mg_test_node(g, "noise", "src", NULL, 0);
    for (int i = 0; i < 1000; i++) {
        mg_node *n = mg_test_node(g, "gain", NULL, NULL, 0);
        CHECK_OK(mg_connect(prev, 0, n, 0), g);
        prev = n;
    }
    CHECK_OK(mg_connect(prev, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_compile(g), g);
    mg_plan_stats s = mg_graph_plan_stats(g);
    mg_test_report("1000-node chain: pooled buffers", s.buffers, "");
    CHECK(s.buffers <= 3, "1000-node chain uses at most 3 buffers, got %d", s.buffers);
    CHECK(s.steps == 1002, "1002 steps, got %d", s.steps);
    mg_graph_free(g);

    g = mg_test_graph(48000, 256, 1);
    mg_node *src = mg_test_node(g, "noise", "src", NULL, 0);
    for (int i = 0; i < 100; i++) {
        mg_node *n = mg_test_node(g, "gain", NULL, NULL, 0);
        CHECK_OK(mg_connect(src, 0, n, 0), g);
        CHECK_OK(mg_connect(n, 0, mg_graph_output(g), 0), g);
    }
    CHECK_OK(mg_graph_compile(g), g);
    s = mg_graph_plan_stats(g);
    mg_test_report("100-wide fan: pooled buffers", s.buffers, "");
    CHECK(s.buffers >= 100 && s.buffers <= 103, "100-wide fan uses ~101 buffers, got %d",
          s.buffers);
    mg_graph_free(g);
}

/* Same samples whatever the block size, for a graph using every node of this issue. */
static float *render_mixed(int block, long frames)
{
    mg_graph *g = mg_test_graph(48000, block, 2);
    mg_node *o1 = mg_test_node(g, "osc", "o1", (mg_opt[]){str("shape", "saw")}, 1);
    mg_node *o2 = mg_test_node(g, "osc", "o2", (mg_opt[]){num("start", 0.01), num("duration", 0.05)}, 2);
    mg_node *nz = mg_test_node(g, "noise", "nz", (mg_opt[]){str("color", "pink")}, 1);
    mg_node *mx = mg_test_node(g, "mix", "mx", (mg_opt[]){num("inputs", 3)}, 1);
    mg_node *pn = mg_test_node(g, "pan", "pn", NULL, 0);
    mg_node *gn = mg_test_node(g, "gain", "gn", NULL, 0);
    mg_node *dl = mg_test_node(g, "delay", "dl", NULL, 0);
    mg_node_set(o1, "freq", 220);
    mg_node_set(dl, "time", 3.3);
    mg_node_set(pn, "pan", -0.3);
    mg_connect(o1, 0, mx, 0);
    mg_connect(o2, 0, mx, 1);
    mg_connect(nz, 0, mx, 2);
    mg_connect(mx, 0, pn, 0);
    mg_connect(pn, 0, gn, 0);
    mg_connect(gn, 0, dl, 0);
    mg_connect(dl, 0, mg_graph_output(g), 0);
    mg_connect(gn, 0, mg_graph_output(g), 0);
    CHECK_OK(mg_graph_compile(g), g);
    float *y = calloc((size_t)frames * 2, sizeof *y);
    for (long done = 0; done < frames;) {
        /* change parameters mid-render at fixed sample positions (smoothed ramps) */
        if (done == 4096) {
            mg_node_set(gn, "gain", -12);
            mg_node_set(o1, "freq", 330);
            mg_node_set(pn, "pan", 0.5);
        }
        long n = frames - done < block ? frames - done : block;
        if (done < 4096 && done + n > 4096)
            n = 4096 - done;
        mg_graph_service(g);
        const float *const *o = mg_graph_process(g, (int)n);
        for (long i = 0; i < n; i++) {
            y[(done + i) * 2] = o[0][i];
            y[(done + i) * 2 + 1] = o[1][i];
        }
        done += n;
    }
    mg_graph_free(g);
    return y;
}

static void test_block_size_independence(void)
{
    long frames = 12000;
    float *ref = render_mixed(64, frames);
    int sizes[] = {1, 4096, 7, 1000};
    for (int k = 0; k < 4; k++) {
        float *y = render_mixed(sizes[k], frames);
        long diff = 0;
        for (long i = 0; i < frames * 2; i++)
            diff += memcmp(&y[i], &ref[i], sizeof(float)) != 0;
        CHECK(diff == 0, "block %d differs from block 64 in %ld samples", sizes[k], diff);
        free(y);
    }
    double pk = mg_test_peak(ref, frames * 2);
    CHECK(pk > 0.01, "the graph makes sound (peak %g)", pk);
    free(ref);
}

/* Up/down-mix rules at input ports with an explicit channel count (the output node). */
static void check_mix(int from, int to, const double *expect)
{
    mg_graph *g = mg_test_graph(48000, 64, to);
    /* channel k of the source: a DC-free constant is not available, so use independent
       osc tones and measure each output channel's projection on each source channel */
    mg_node *o = mg_test_node(g, "osc", "o", (mg_opt[]){num("channels", from)}, 1);
    mg_node_set(o, "gain", 0);
    mg_node_set(o, "freq", 1000);
    CHECK_OK(mg_connect(o, 0, mg_graph_output(g), 0), g);
    int ch;
    float **y = mg_test_render(g, 4800, &ch);
    CHECK(ch == to, "output has %d channels", to);
    /* all source channels carry the same sine, so each output channel's amplitude is the
       sum of its matrix row */
    for (int c = 0; c < to; c++) {
        double amp = mg_test_sine_fit(y[c] + 960, 4800 - 960, 1000, 48000, NULL); /* after attack */
        char what[64];
        snprintf(what, sizeof what, "%d->%d channel %d gain", from, to, c);
        CHECK_NEAR(amp, expect[c], 1e-4, what);
    }
    mg_test_free_channels(y, ch);
    mg_graph_free(g);
}

static void test_updown_mix(void)
{
    const double h = sqrt(0.5);
    check_mix(1, 2, (double[]){1, 1});
    check_mix(2, 1, (double[]){1});               /* 0.5 (L + R) */
    check_mix(1, 6, (double[]){0, 0, 1, 0, 0, 0}); /* mono to centre */
    check_mix(6, 2, (double[]){1 + 2 * h, 1 + 2 * h});
    check_mix(6, 1, (double[]){2 * h + 1 + 1});
    check_mix(4, 2, (double[]){1, 1});
    check_mix(2, 4, (double[]){1, 1, 0, 0});
    check_mix(3, 2, (double[]){1, 1}); /* discrete: extra input dropped */
    check_mix(2, 3, (double[]){1, 1, 0});
}

static void test_params(void)
{
    mg_graph *g = mg_test_graph(48000, 64, 1);
    mg_node *o = mg_test_node(g, "gain", "amp", NULL, 0);
    mg_status st = mg_node_set(o, "gain", 40);
    CHECK(st == MG_ERR_RANGE, "out of range rejected");
    CHECK(strstr(mg_graph_error(g), "node 'amp'") && strstr(mg_graph_error(g), "gain 40") &&
              strstr(mg_graph_error(g), "[-144, 24] dB"),
          "message names node, parameter and range: '%s'", mg_graph_error(g));
    st = mg_node_set(o, "gian", 1);
    CHECK(st == MG_ERR_NOT_FOUND && strstr(mg_graph_error(g), "'gian'"), "unknown param: '%s'",
          mg_graph_error(g));
    CHECK(mg_node_set(o, "gain", NAN) == MG_ERR_RANGE, "NaN rejected");
    CHECK(mg_node_new(g, "nope", NULL, NULL, 0) == NULL &&
              strstr(mg_graph_error(g), "unknown node type 'nope'"),
          "unknown type: '%s'", mg_graph_error(g));
    CHECK(mg_node_new(g, "gain", "amp", NULL, 0) == NULL &&
              strstr(mg_graph_error(g), "already exists"),
          "duplicate name: '%s'", mg_graph_error(g));
    CHECK(mg_node_new(g, "osc", NULL, (mg_opt[]){str("shape", "sqaure")}, 1) == NULL &&
              strstr(mg_graph_error(g), "sine|saw|square|triangle"),
          "bad enum lists choices: '%s'", mg_graph_error(g));
    CHECK(mg_node_new(g, "output", NULL, NULL, 0) == NULL, "second output rejected");
    CHECK(mg_node_remove(mg_graph_output(g)) != MG_OK, "output cannot be removed");
    mg_graph_free(g);
}

/* Offline renders report a clear error when the length is unbounded. */
static void test_length(void)
{
    mg_graph *g = mg_test_graph(48000, 64, 1);
    mg_node *o = mg_test_node(g, "osc", "forever", NULL, 0);
    mg_node *n = mg_test_node(g, "noise", "short", (mg_opt[]){num("start", 0.5), num("duration", 1)}, 2);
    mg_node *dl = mg_test_node(g, "delay", "dl", (mg_opt[]){num("max_time", 0.25)}, 1);
    mg_connect(n, 0, dl, 0);
    mg_connect(dl, 0, mg_graph_output(g), 0);
    int64_t len = mg_graph_length(g);
    CHECK(len == 72000 + 12000, "length = end of source + delay tail: %lld", (long long)len);
    mg_connect(o, 0, mg_graph_output(g), 0);
    CHECK(mg_graph_length(g) == MG_FOREVER, "endless source makes length unbounded");
    CHECK(mg_graph_endless_source(g) == o, "the endless source is named");
    mg_graph_free(g);
}

/*
** A chain of filter nodes (filter -> eq -> eq, each in place on the one before) runs as one
** process_chain pass; the same nodes with 0 dB gains between them run one by one. Both give
** the same bits at every block size, also while a parameter ramps (the chain then falls back
** to its nodes' own process).
*/
static float *render_filters(int block, long frames, int split, int *chains)
{
    mg_graph *g = mg_test_graph(48000, block, 1);
    mg_node *src = mg_test_node(g, "noise", "src", (mg_opt[]){str("color", "pink")}, 1);
    mg_node *f[3] = {mg_test_node(g, "filter", "hp", NULL, 0),
                     mg_test_node(g, "eq", "eq1", (mg_opt[]){num("bands", 1)}, 1),
                     mg_test_node(g, "eq", "eq2", (mg_opt[]){num("bands", 2)}, 1)};
    mg_node_set(f[0], "type", 1); /* highpass */
    mg_node_set(f[0], "freq", 80);
    mg_node_set(f[1], "gain1", 3);
    mg_node_set(f[2], "gain1", -4);
    mg_node_set(f[2], "gain2", 2);
    mg_node *prev = src;
    for (int i = 0; i < 3; i++) {
        if (split && i > 0) {
            mg_node *t = mg_test_node(g, "gain", NULL, NULL, 0);
            mg_connect(prev, 0, t, 0);
            prev = t;
        }
        mg_connect(prev, 0, f[i], 0);
        prev = f[i];
    }
    mg_connect(prev, 0, mg_graph_output(g), 0);
    CHECK_OK(mg_graph_compile(g), g);
    *chains = mg_graph_plan_stats(g).chains;
    float *y = calloc((size_t)frames, sizeof *y);
    for (long done = 0; done < frames;) {
        if (done == 3000)
            mg_node_set(f[1], "gain1", -6); /* a 20 ms ramp */
        long n = frames - done < block ? frames - done : block;
        if (done < 3000 && done + n > 3000)
            n = 3000 - done;
        const float *const *o = mg_graph_process(g, (int)n);
        memcpy(y + done, o[0], (size_t)n * sizeof *y);
        done += n;
    }
    mg_graph_free(g);
    return y;
}

static void test_chains(void)
{
    long frames = 8000;
    int chains;
    float *ref = render_filters(64, frames, 1, &chains);
    CHECK(chains == 0, "filters split by gains: no chain (got %d)", chains);
    int sizes[] = {1, 64, 1000, 4096};
    for (int k = 0; k < 4; k++) {
        float *y = render_filters(sizes[k], frames, 0, &chains);
        CHECK(chains == 1, "filter -> eq -> eq is one chain (got %d)", chains);
        long diff = 0;
        for (long i = 0; i < frames; i++)
            diff += memcmp(&y[i], &ref[i], sizeof(float)) != 0;
        CHECK(diff == 0, "chained filters at block %d differ from unchained in %ld samples",
              sizes[k], diff);
        free(y);
    }
    double pk = mg_test_peak(ref, frames);
    CHECK(pk > 0.01, "the filters pass sound (peak %g)", pk);
    free(ref);
}

int main(void)
{
    test_topological_order();
    test_cycles();
    test_feedback_delay();
    test_fan_in_sum();
    test_buffer_reuse();
    test_block_size_independence();
    test_chains();
    test_updown_mix();
    test_params();
    test_length();
    return mg_test_done("test_graph");
}
