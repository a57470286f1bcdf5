/*
** test_stems.c: mg_render with stems: every stem file is written in the same pass and is
** sample-aligned with the main output, also when the output sits behind latency (a compressor
** with 5 ms lookahead that does not compress, so the main output equals the sum of the stems
** exactly); stems have the main file's length; a failed render leaves neither main file nor
** stems.
*/
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_test.h"

static char dir[] = "/tmp/mg_test_stems_XXXXXX";

static float *read_file(const char *path, long *frames, int *ch)
{
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    CHECK(sf != NULL, "%s opens", path);
    if (!sf)
        return NULL;
    float *x = calloc((size_t)info.frames * (size_t)info.channels, sizeof *x);
    sf_readf_float(sf, x, info.frames);
    sf_close(sf);
    *frames = (long)info.frames;
    *ch = info.channels;
    return x;
}

static mg_graph *build(mg_node **a, mg_node **b)
{
    mg_graph *g = mg_test_graph(48000, 64, 1);
    mg_opt d[] = {{.name = "duration", .num = 0.25}};
    mg_node *s1 = mg_test_node(g, "osc", "s1", d, 1), *s2 = mg_test_node(g, "noise", "s2", d, 1);
    mg_node_set(s1, "freq", 997);
    mg_node_set(s1, "gain", -12);
    mg_node_set(s2, "gain", -24);
    *a = mg_test_node(g, "gain", "bus_a", NULL, 0);
    *b = mg_test_node(g, "gain", "bus_b", NULL, 0);
    mg_node_set(*a, "gain", -3);
    /* automated, so the stems carry automation too */
    mg_param_event e = {.type = MG_EV_LINEAR, .t = 0.2, .v = -20};
    mg_node_param_event(*b, 0, &e);
    mg_opt la[] = {{.name = "lookahead", .num = 5}};
    mg_node *comp = mg_test_node(g, "compressor", "comp", la, 1);
    mg_node_set(comp, "threshold", 0); /* nothing reaches it: a pure 5 ms delay */
    mg_connect(s1, 0, *a, 0);
    mg_connect(s2, 0, *b, 0);
    mg_connect(*a, 0, comp, 0);
    mg_connect(*b, 0, comp, 0);
    mg_connect(comp, 0, mg_graph_output(g), 0);
    return g;
}

static void test_aligned(void)
{
    mg_node *a, *b;
    mg_graph *g = build(&a, &b);
    CHECK_OK(mg_graph_add_stem(g, a, 0, "bus_a", 0), g);
    CHECK_OK(mg_graph_add_stem(g, b, 0, "bus_b", 0), g);
    CHECK(mg_graph_stem_count(g) == 2, "2 stems");
    char path[600], sdir[600], pa[700], pb[700];
    snprintf(path, sizeof path, "%s/mix.wav", dir);
    snprintf(sdir, sizeof sdir, "%s/stems", dir);
    mg_render_opts o = {.path = path, .bits = MG_BITS_32F, .stems_dir = sdir};
    mg_render_result r;
    CHECK_OK(mg_render(g, &o, &r), g);
    CHECK(mg_graph_latency(g) == 240, "output latency 240 frames, got %lld",
          (long long)mg_graph_latency(g));
    snprintf(pa, sizeof pa, "%s/bus_a.wav", sdir);
    snprintf(pb, sizeof pb, "%s/bus_b.wav", sdir);
    long nm = 0, na = 0, nb = 0;
    int cm = 0, ca = 0, cb = 0;
    float *m = read_file(path, &nm, &cm), *xa = read_file(pa, &na, &ca), *xb = read_file(pb, &nb, &cb);
    if (m && xa && xb) {
        CHECK(na == nm && nb == nm, "stem lengths %ld %ld equal the main %ld", na, nb, nm);
        double worst = 0;
        for (long i = 0; i < nm && i < na && i < nb; i++)
            worst = fmax(worst, fabs(m[i] - (xa[i] + xb[i])));
        mg_test_report("main output minus the sum of the stems, worst", worst, "");
        CHECK(worst <= 1e-6, "stems aligned with the main output: worst difference %g", worst);
        /* and one sample off would not match */
        double off = 0;
        for (long i = 1; i < nm; i++)
            off = fmax(off, fabs(m[i] - (xa[i - 1] + xb[i - 1])));
        CHECK(off > 1e-3, "a one-sample shift is detected (%g)", off);
    }
    free(m);
    free(xa);
    free(xb);
    unlink(pa);
    unlink(pb);
    unlink(path);
    rmdir(sdir);
    mg_graph_free(g);
}

static void test_failed_leaves_nothing(void)
{
    mg_node *a, *b;
    mg_graph *g = build(&a, &b);
    CHECK_OK(mg_graph_add_stem(g, a, 0, "bus_a", 0), g);
    char path[600], sdir[600], pa[700];
    snprintf(path, sizeof path, "%s/mix.wav", dir);
    snprintf(sdir, sizeof sdir, "%s/stems2", dir);
    snprintf(pa, sizeof pa, "%s/bus_a.wav", sdir);
    volatile int stop = 1;
    mg_render_opts o = {.path = path, .stems_dir = sdir, .interrupt = &stop};
    CHECK(mg_render(g, &o, NULL) == MG_ERR_INTERRUPTED, "interrupted");
    CHECK(access(path, F_OK) != 0, "no main file after a failed render");
    CHECK(access(pa, F_OK) != 0, "no stem after a failed render");
    rmdir(sdir);
    mg_graph_free(g);
}

static void test_automatic(void)
{
    mg_node *a, *b;
    mg_graph *g = build(&a, &b);
    CHECK_OK(mg_graph_add_stem(g, a, 0, "bus_a", 1), g);
    CHECK_OK(mg_graph_add_stem(g, b, 0, "bus_b", 1), g);
    CHECK(mg_graph_stem_count(g) == 2, "2 automatic stems");
    CHECK_OK(mg_graph_add_stem(g, b, 0, "mine", 0), g);
    CHECK(mg_graph_stem_count(g) == 1 && strcmp(mg_graph_stem_name(g, 0), "mine") == 0,
          "a stem named by the patch replaces the automatic ones");
    CHECK_OK(mg_graph_add_stem(g, a, 0, "bus_a", 1), g);
    CHECK(mg_graph_stem_count(g) == 1, "automatic stems are ignored once the patch names one");
    CHECK(mg_graph_add_stem(g, a, 0, "mine", 0) != MG_OK, "duplicate stem names refused");
    CHECK(mg_graph_add_stem(g, a, 0, "x/y", 0) != MG_OK, "stem names are plain file names");
    mg_graph_free(g);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_aligned();
    test_failed_leaves_nothing();
    test_automatic();
    rmdir(dir);
    return mg_test_done("test_stems");
}
