/*
** test_render.c: the offline renderer's conversion to integer formats: every sample rounded
** to nearest (ties to even) and clamped, the clipped count exact, against a scalar reference
** computed from the float render of the same graph; and float output untouched.
*/
#include <sndfile.h>
#include <unistd.h>

#include "mg_test.h"

static mg_graph *loud_graph(void)
{
    mg_graph *g = mg_test_graph(48000, 100, 2);
    mg_opt o[] = {{.name = "duration", .num = 0.05}, {.name = "shape", .str = "saw"}};
    mg_node *s = mg_test_node(g, "osc", "s", o, 2);
    mg_node_set(s, "gain", 4); /* peaks well over full scale */
    mg_node_set(s, "freq", 997);
    mg_node *n = mg_test_node(g, "noise", "n", (mg_opt[]){{.name = "duration", .num = 0.05}}, 1);
    mg_connect(s, 0, mg_graph_output(g), 0);
    mg_connect(n, 0, mg_graph_output(g), 0);
    return g;
}

static void check_bits(int bits, const char *path)
{
    mg_graph *g = loud_graph();
    int ch;
    float **ref = mg_test_render(g, 2400, &ch);
    mg_graph_reset(g);
    mg_render_opts o = {.path = path, .bits = bits == 16 ? MG_BITS_16 : MG_BITS_24,
                        .dither = MG_DITHER_NONE}; /* the plain quantizer (test_dither: dither) */
    mg_render_result r;
    CHECK_OK(mg_render(g, &o, &r), g);
    CHECK(r.frames == 2400, "2400 frames rendered, got %llu", (unsigned long long)r.frames);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    CHECK(sf != NULL, "rendered file opens");
    if (!sf)
        return;
    int *q = calloc(2400 * 2, sizeof *q);
    sf_readf_int(sf, q, 2400);
    sf_close(sf);
    double scale = bits == 16 ? 32768.0 : 8388608.0;
    long qmax = (long)scale - 1, qmin = -(long)scale, clipped = 0, wrong = 0;
    for (long i = 0; i < 2400; i++)
        for (int c = 0; c < 2; c++) {
            long e = lrint((double)ref[c][i] * scale);
            if (e > qmax || e < qmin) {
                clipped++;
                e = e > qmax ? qmax : qmin;
            }
            wrong += (long)(q[i * 2 + c] >> (32 - bits)) != e;
        }
    char what[64];
    snprintf(what, sizeof what, "%d-bit: samples differing from round-and-clamp", bits);
    CHECK(wrong == 0, "%s: %ld", what, wrong);
    CHECK(clipped > 100, "%d-bit: the test signal clips (%ld)", bits, clipped);
    CHECK(r.clipped == (uint64_t)clipped, "%d-bit: clipped count %llu, expected %ld", bits,
          (unsigned long long)r.clipped, clipped);
    mg_test_report(bits == 16 ? "16-bit: clipped samples counted" : "24-bit: clipped samples counted",
                   (double)r.clipped, "");
    free(q);
    mg_test_free_channels(ref, ch);
    mg_graph_free(g);
    unlink(path);
}

static void check_float(const char *path)
{
    mg_graph *g = loud_graph();
    int ch;
    float **ref = mg_test_render(g, 2400, &ch);
    mg_graph_reset(g);
    mg_render_opts o = {.path = path, .bits = MG_BITS_32F};
    mg_render_result r;
    CHECK_OK(mg_render(g, &o, &r), g);
    CHECK(r.clipped == 0, "float output never clips");
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    float *x = calloc(2400 * 2, sizeof *x);
    sf_command(sf, SFC_SET_NORM_FLOAT, NULL, SF_FALSE);
    sf_readf_float(sf, x, 2400);
    sf_close(sf);
    long wrong = 0;
    for (long i = 0; i < 2400; i++)
        for (int c = 0; c < 2; c++)
            wrong += memcmp(&x[i * 2 + c], &ref[c][i], sizeof(float)) != 0;
    CHECK(wrong == 0, "32-bit float output is the render, bit for bit (%ld differ)", wrong);
    free(x);
    mg_test_free_channels(ref, ch);
    mg_graph_free(g);
    unlink(path);
}

/* The output node is the last line of defence: NaN and Inf become silence and are counted. */
static void check_nonfinite(void)
{
    const mg_node_desc *d = mg_node_type_find("output");
    float x[8] = {0.5f, NAN, -0.25f, INFINITY, -INFINITY, 1.0f, -NAN, 0.0f};
    float y[8];
    mg_buf in = {.channels = 1, .connected = 1, .ch = {x}};
    mg_buf out = {.channels = 1, .connected = 1, .ch = {y}};
    uint64_t state[8] = {0}; /* larger than the node's state */
    CHECK(d->state_size <= sizeof state, "output state fits");
    mg_block b = {.n = 8, .rate = 48000, .in = &in, .out = &out};
    d->process(state, &b);
    const float want[8] = {0.5f, 0, -0.25f, 0, 0, 1.0f, 0, 0};
    CHECK(memcmp(y, want, sizeof y) == 0, "non-finite samples replaced by 0, others kept");
    CHECK(state[0] == 4, "4 non-finite samples counted, got %llu", (unsigned long long)state[0]);
    /* in place, as the compiler may schedule it */
    b.out = &in;
    d->process(state, &b);
    CHECK(memcmp(x, want, sizeof x) == 0, "in-place repair");
}

int main(void)
{
    check_nonfinite();
    char dir[] = "/tmp/mg_test_render_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[256];
    snprintf(path, sizeof path, "%s/x16.wav", dir);
    check_bits(16, path);
    snprintf(path, sizeof path, "%s/x24.wav", dir);
    check_bits(24, path);
    snprintf(path, sizeof path, "%s/xf.wav", dir);
    check_float(path);
    rmdir(dir);
    return mg_test_done("test_render");
}
