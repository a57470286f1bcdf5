/*
** test_live.c: the live engine (engine/live.c) without a sound card: a test thread plays the
** role of the driver's audio callback and calls mg_live_process, under the real-time malloc
** trap (tools/malloc_trap.c), while the main thread edits the graph as the REPL and reloads
** do. Checks:
** - the trap fires for a node that allocates on the audio thread (so the rest is meaningful);
** - a graph with every node type plays through every kind of edit (parameters, tempo, add,
**   remove, connect, disconnect, reconnect, channel change, reload diff, collection) with no
**   allocation or free on the audio thread, no NaN, and edits landing (plans swapped);
** - the live output equals an offline render sample for sample, whatever the callback size;
** - commands stamped for a sample land on that sample;
** - crossfades of moved connections: no step above -60 dBFS, and sin^2 + cos^2 = 1 exactly;
** - mg_graph_update keeps the state of unchanged nodes and replaces changed ones.
** Threads: main = control; "audio" = a pthread calling mg_live_process.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "../nodes/dyn_signals.h"
#include "mg_live.h"

extern int mg_trap_count_only;
extern unsigned long mg_trap_hits;

#define RATE 48000.0
#define BLOCK 256

/* ---- a node that allocates in process: the trap must see it ---- */
static void bad_process(void *state, const mg_block *b)
{
    (void)state;
    void *volatile p = malloc(16);
    free(p);
    for (int c = 0; c < b->out[0].channels; c++)
        memcpy(b->out[0].ch[c], b->in[0].ch[c], b->n * sizeof(float));
}
static const mg_port_desc bad_in[] = {{.name = "in", .channels = MG_CH_MAX}};
static const mg_port_desc bad_out[] = {{.name = "out", .channels = MG_CH_FOLLOW}};
static const mg_node_desc bad_desc = {.name = "test_allocates", .doc = "test only",
                                      .inputs = bad_in, .n_inputs = 1, .outputs = bad_out,
                                      .n_outputs = 1, .process = bad_process};

/* ---- the fake audio thread ---- */
typedef struct audio {
    mg_live *lv;
    atomic_int run;
    uint32_t frames; /* per callback */
    float *out[2];
    uint64_t nan;
    pthread_t th;
} audio;

static void *audio_main(void *arg)
{
    audio *a = arg;
    struct timespec nap = {0, 200000}; /* ~1.3 ms per 256 frames: about 4x real time */
    while (atomic_load(&a->run)) {
        mg_live_process(a->lv, NULL, a->out, a->frames);
        for (uint32_t i = 0; i < a->frames; i++)
            a->nan += !isfinite(a->out[0][i]) + !isfinite(a->out[1][i]);
        nanosleep(&nap, NULL);
    }
    return NULL;
}

static void audio_start(audio *a, mg_live *lv, uint32_t frames)
{
    a->lv = lv;
    a->frames = frames;
    a->nan = 0;
    for (int c = 0; c < 2; c++)
        a->out[c] = calloc(frames, sizeof(float));
    atomic_store(&a->run, 1);
    pthread_create(&a->th, NULL, audio_main, a);
}

static void audio_stop(audio *a)
{
    atomic_store(&a->run, 0);
    pthread_join(a->th, NULL);
    for (int c = 0; c < 2; c++)
        free(a->out[c]);
}

static void pause_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static mg_live *live_new(mg_graph *g, int disk)
{
    mg_live_config lc = {.in_channels = 0, .out_channels = 2, .disk_thread = disk};
    mg_status st;
    mg_live *lv = mg_live_new(g, &lc, &st);
    if (!lv) {
        fprintf(stderr, "mg_live_new: %s\n", mg_graph_error(g));
        exit(1);
    }
    return lv;
}

/* Apply an edit the way `mixgraph play` does: under the lock, then compile. */
#define EDIT(lv, g, what)                                                                       \
    do {                                                                                        \
        mg_live_lock(lv);                                                                       \
        what;                                                                                   \
        mg_status st_ = mg_graph_compile(g);                                                    \
        mg_live_unlock(lv);                                                                     \
        CHECK(st_ == MG_OK, "compile after %s: %s", #what, mg_graph_error(g));                  \
        pause_ms(15);                                                                           \
    } while (0)

static void test_trap_fires(void)
{
    mg_graph *g = mg_test_graph(RATE, BLOCK, 2);
    mg_node *o = mg_test_node(g, "osc", NULL, NULL, 0);
    mg_node *b = mg_test_node(g, "test_allocates", NULL, NULL, 0);
    CHECK_OK(mg_connect(o, 0, b, 0), g);
    CHECK_OK(mg_connect(b, 0, mg_graph_output(g), 0), g);
    mg_live *lv = live_new(g, 0);
    float l[BLOCK], r[BLOCK];
    float *out[2] = {l, r};
    mg_trap_count_only = 1;
    mg_trap_hits = 0;
    mg_live_process(lv, NULL, out, BLOCK);
    unsigned long hits = mg_trap_hits;
    mg_trap_count_only = 0;
    CHECK(hits >= 2, "malloc/free inside the callback trapped %lu times (expect 2)", hits);
    void *p = malloc(8); /* outside the callback: allowed */
    free(p);
    mg_live_free(lv);
    mg_graph_free(g);
}

/* Options for a node type with required strings: a sound file. */
static int opts_for(const mg_node_desc *d, mg_opt *o, const char *wav)
{
    int n = 0;
    for (int i = 0; i < d->n_options; i++)
        if (d->options[i].type == MG_OPT_STRING && !d->options[i].def_str)
            o[n++] = (mg_opt){.name = d->options[i].name, .str = wav};
    return n;
}

static void test_every_node_every_edit(void)
{
    mg_graph *g = mg_test_graph(RATE, BLOCK, 2);
    float *tone = dyn_sine(220, RATE, -12, (long)RATE);
    float *two[2] = {tone, tone};
    char wav[600];
    mg_node *f = dyn_source(g, "clip", two, 2, (long)RATE);
    snprintf(wav, sizeof wav, "%s", mg_node_opt_str(f, 0));
    mg_node *src = mg_test_node(g, "osc", "src", NULL, 0);
    int ntypes = 0;
    for (int i = 0; mg_node_types[i]; i++)
        ntypes++;
    mg_opt mo = {.name = "inputs", .num = ntypes + 2};
    mg_node *sum = mg_test_node(g, "mix", "sum", &mo, 1);
    int k = 0, made = 0;
    mg_node *nodes[64];
    for (int i = 0; mg_node_types[i]; i++) {
        const mg_node_desc *d = mg_node_types[i];
        if (d->flags & MG_NODE_SINK)
            continue;
        mg_opt o[8];
        int no = opts_for(d, o, wav);
        mg_node *n = mg_node_new(g, d->name, NULL, o, no);
        CHECK(n != NULL, "create %s: %s", d->name, mg_graph_error(g));
        if (!n)
            continue;
        nodes[made++] = n;
        for (int p = 0; p < mg_node_input_count(n); p++)
            CHECK_OK(mg_connect(src, 0, n, p), g);
        if (mg_node_output_count(n) > 0)
            CHECK_OK(mg_connect(n, 0, sum, k++), g);
    }
    CHECK_OK(mg_connect(f, 0, sum, k++), g);
    mg_node *trim = mg_test_node(g, "gain", "trim", &(mg_opt){.name = "invert", .num = 0}, 1);
    CHECK_OK(mg_connect(sum, 0, trim, 0), g);
    CHECK_OK(mg_connect(trim, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_node_set(trim, "gain", -30), g);

    mg_live *lv = live_new(g, 1);
    audio a;
    audio_start(&a, lv, BLOCK);
    pause_ms(30);
    /* parameters: every one of every node, to a value inside its range */
    for (int i = 0; i < made; i++)
        for (int p = 0; p < mg_node_param_count(nodes[i]); p++) {
            const mg_param_desc *pd = mg_node_param_desc(nodes[i], p);
            double v = pd->choices || (pd->flags & MG_PARAM_INT) ? pd->min
                                                                   : 0.5 * (pd->def + pd->max);
            CHECK_OK(mg_node_set_index(nodes[i], p, v), g);
        }
    pause_ms(20);
    CHECK_OK(mg_graph_set_tempo(g, 97), g);
    /* add a node and connect it */
    mg_node *extra = NULL;
    EDIT(lv, g, extra = mg_node_new(g, "filter", "late", NULL, 0);
         mg_connect(src, 0, extra, 0); mg_connect(extra, 0, sum, k));
    /* reconnect: move the filter's input from the osc to the file */
    EDIT(lv, g, mg_disconnect(src, 0, extra, 0); mg_connect(f, 0, extra, 0));
    /* channel change: a stereo source into a mono-fed chain re-prepares it */
    mg_node *ns = NULL;
    EDIT(lv, g, ns = mg_node_new(g, "noise", "wide", &(mg_opt){.name = "channels", .num = 2}, 1);
         mg_connect(ns, 0, nodes[made - 1], 0));
    /* remove nodes (fading out), then collect them */
    EDIT(lv, g, mg_node_remove(extra));
    EDIT(lv, g, mg_node_remove(nodes[0]));
    pause_ms(30);
    for (int i = 0; i < 50 && mg_graph_collect(g) == 0; i++)
        pause_ms(5);
    EDIT(lv, g, (void)0);
    /* a reload: a second graph of the same shape with one change */
    mg_graph *h = mg_test_graph(RATE, BLOCK, 2);
    mg_node *h1 = mg_test_node(h, "osc", "src", NULL, 0);
    mg_node *h2 = mg_test_node(h, "gain", "trim", &(mg_opt){.name = "invert", .num = 0}, 1);
    CHECK_OK(mg_connect(h1, 0, h2, 0), h);
    CHECK_OK(mg_connect(h2, 0, mg_graph_output(h), 0), h);
    CHECK_OK(mg_node_set(h2, "gain", -20), h);
    mg_node *h3 = mg_test_node(h, "osc", "new_saw", &(mg_opt){.name = "shape", .str = "saw"}, 1);
    CHECK_OK(mg_connect(h3, 0, h2, 0), h);
    int changed = 0;
    EDIT(lv, g, CHECK_OK(mg_graph_update(g, h, &changed), g));
    CHECK(changed > 5, "reload made %d changes", changed);
    CHECK(mg_graph_find(g, "trim") == trim, "reload kept the unchanged node 'trim'");
    pause_ms(30);
    for (int i = 0; i < 50 && mg_graph_collect(g) == 0; i++)
        pause_ms(5);
    EDIT(lv, g, (void)0);
    CHECK(mg_live_sync(lv, 2.0), "the audio thread runs the newest plan");
    pause_ms(30);
    audio_stop(&a);
    mg_live_poll(lv);
    mg_live_stats s = mg_live_stats_take(lv);
    CHECK(a.nan == 0, "%llu non-finite samples played", (unsigned long long)a.nan);
    CHECK(s.plans >= 8, "plans swapped in: %llu", (unsigned long long)s.plans);
    CHECK(s.dropped_cmds == 0, "commands dropped: %llu", (unsigned long long)s.dropped_cmds);
    CHECK(mg_graph_node_count(g) == 4, "after the reload: %d nodes (expect src, new_saw, trim, "
          "output)", mg_graph_node_count(g));
    mg_node *saw = mg_graph_find(g, "new_saw");
    CHECK(saw && mg_node_opt_num(saw, 0) == 1, "a node made by the reload keeps its options "
          "(shape saw)");
    mg_test_report("live: node types played under the malloc trap", made, "");
    mg_test_report("live: plans swapped", (double)s.plans, "");
    mg_live_free(lv);
    mg_graph_free(h);
    mg_graph_free(g);
    free(tone);
}

/* The same patch rendered offline and played in callbacks of odd sizes: identical. */
static mg_graph *tone_graph(void)
{
    mg_graph *g = mg_test_graph(RATE, BLOCK, 2);
    mg_node *o = mg_test_node(g, "osc", "o", NULL, 0);
    mg_node *e = mg_test_node(g, "eq", "e", NULL, 0);
    mg_node *c = mg_test_node(g, "compressor", "c", NULL, 0);
    mg_node *r = mg_test_node(g, "reverb", "r", NULL, 0);
    mg_node *m = mg_test_node(g, "mix", "m", &(mg_opt){.name = "inputs", .num = 2}, 1);
    mg_node_set(o, "freq", 997);
    CHECK_OK(mg_connect(o, 0, e, 0), g);
    CHECK_OK(mg_connect(e, 0, c, 0), g);
    CHECK_OK(mg_connect(c, 0, m, 0), g);
    CHECK_OK(mg_connect(c, 0, r, 0), g);
    CHECK_OK(mg_connect(r, 0, m, 1), g);
    CHECK_OK(mg_connect(m, 0, mg_graph_output(g), 0), g);
    return g;
}

static void test_live_equals_offline(void)
{
    const long N = 48000;
    mg_graph *g = tone_graph();
    int ch;
    float **ref = mg_test_render(g, N, &ch);
    mg_graph_free(g);
    g = tone_graph();
    mg_live *lv = live_new(g, 0);
    float *l = calloc((size_t)N, sizeof(float)), *r = calloc((size_t)N, sizeof(float));
    static const uint32_t sizes[] = {1, 64, 1000, 256, 4096, 333};
    long done = 0;
    for (int i = 0; done < N; i++) {
        uint32_t n = sizes[i % 6];
        if ((long)n > N - done)
            n = (uint32_t)(N - done);
        float *out[2] = {l + done, r + done};
        mg_live_process(lv, NULL, out, n);
        done += n;
    }
    long diff = 0;
    for (long i = 0; i < N; i++)
        diff += l[i] != ref[0][i] || r[i] != ref[1][i];
    CHECK(diff == 0, "live callbacks of 1..4096 frames vs offline: %ld samples differ", diff);
    mg_live_free(lv);
    mg_graph_free(g);
    mg_test_free_channels(ref, ch);
    free(l);
    free(r);
}

/* A parameter command stamped for sample S changes the output exactly at S. */
static mg_graph *noise_graph(mg_node **k)
{
    mg_graph *g = mg_test_graph(RATE, BLOCK, 2);
    mg_node *o = mg_test_node(g, "noise", "n", NULL, 0);
    *k = mg_test_node(g, "gain", "k", NULL, 0);
    mg_node_set(o, "gain", 0);
    CHECK_OK(mg_connect(o, 0, *k, 0), g);
    CHECK_OK(mg_connect(*k, 0, mg_graph_output(g), 0), g);
    return g;
}

/* The noise graph rendered offline (16384 frames into *ref), and a fresh one to play live. */
static mg_graph *noise_vs_reference(mg_node **k, float ***ref, int *ch)
{
    mg_graph *g = noise_graph(k);
    *ref = mg_test_render(g, 16384, ch);
    mg_graph_free(g);
    return noise_graph(k);
}

static void test_stamped_command(void)
{
    mg_node *k;
    int ch;
    float **ref;
    mg_graph *g = noise_vs_reference(&k, &ref, &ch);
    mg_live *lv = live_new(g, 0);
    const uint64_t S = 12345;
    CHECK_OK(mg_live_param(lv, k, 0, -144, S), g);
    float *l = calloc(16384, sizeof(float)), *r = calloc(16384, sizeof(float));
    for (long done = 0; done < 16384; done += 1000) {
        float *out[2] = {l + done, r + done};
        mg_live_process(lv, NULL, out, (uint32_t)(16384 - done < 1000 ? 16384 - done : 1000));
    }
    long first = -1;
    for (long i = 0; i < 16384 && first < 0; i++)
        if (l[i] != ref[0][i])
            first = i;
    /* the ramp's first value is the old one: the first changed sample is S + 1 */
    CHECK(first == (long)S + 1, "command stamped %llu: first changed sample %ld (expect %llu)",
          (unsigned long long)S, first, (unsigned long long)S + 1);
    double ramp = mg_node_param_desc(k, 0)->smooth_ms;
    long end = (long)S + lround(ramp * 1e-3 * RATE);
    CHECK(end + 1 < 16384 && l[end + 1] == 0, "silent once the %g ms ramp is over", ramp);
    mg_live_free(lv);
    mg_graph_free(g);
    mg_test_free_channels(ref, ch);
    free(l);
    free(r);
}

/* A graph edit prepared ahead and stamped for sample S lands on S (its fade starts there). */
static void test_stamped_plan(void)
{
    mg_node *k;
    int ch;
    float **ref;
    mg_graph *g = noise_vs_reference(&k, &ref, &ch);
    mg_live *lv = live_new(g, 0);
    float *l = calloc(16384, sizeof(float)), *r = calloc(16384, sizeof(float));
    float *out[2] = {l, r};
    mg_live_process(lv, NULL, out, 1000);
    const uint64_t S = 9876;
    mg_graph_stamp(g, S);
    mg_node *o = mg_test_node(g, "osc", "late", NULL, 0);
    CHECK_OK(mg_connect(o, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_graph_compile(g), g);
    mg_graph_stamp(g, 0);
    for (long done = 1000; done < 16384; done += 700) {
        float *o2[2] = {l + done, r + done};
        mg_live_process(lv, NULL, o2, (uint32_t)(16384 - done < 700 ? 16384 - done : 700));
    }
    long first = -1;
    for (long i = 0; i < 16384 && first < 0; i++)
        if (l[i] != ref[0][i])
            first = i;
    CHECK(first == (long)S + 1, "edit stamped %llu: first changed sample %ld (expect %llu: the "
          "fade-in's first gain is 0)", (unsigned long long)S, first, (unsigned long long)S + 1);
    mg_live_free(lv);
    mg_graph_free(g);
    mg_test_free_channels(ref, ch);
    free(l);
    free(r);
}

/* A file source whose disk side does not keep up plays silence and says so; it never waits. */
static void test_underrun_reported(void)
{
    mg_graph *g = mg_test_graph(RATE, BLOCK, 2);
    const long n = 10 * (long)RATE;
    float *x = dyn_sine(440, RATE, -6, n);
    mg_node *f = dyn_source1(g, "long", x, n);
    CHECK_OK(mg_connect(f, 0, mg_graph_output(g), 0), g);
    mg_live *lv = live_new(g, 0); /* no disk thread: the ring is never refilled */
    float l[BLOCK], r[BLOCK];
    float *out[2] = {l, r};
    long blocks = 2 * (long)RATE / BLOCK; /* 2 s: longer than the primed ring */
    for (long i = 0; i < blocks; i++)
        mg_live_process(lv, NULL, out, BLOCK);
    mg_live_stats s = mg_live_stats_take(lv);
    CHECK(s.underruns > 0, "starved file source: %llu underrun frames reported",
          (unsigned long long)s.underruns);
    CHECK(l[BLOCK - 1] == 0, "an underrun plays silence");
    mg_test_report("underrun frames over 2 s without a disk thread", (double)s.underruns, "");
    mg_live_free(lv);
    mg_graph_free(g);
    free(x);
}

/* Automation live = offline: events scheduled before and during play, a generated function
   (evaluated ahead on the control side and sent as events), a tempo change under a delay. */
static int wobble(void *ud, double t, double *v, char *err, size_t errsz)
{
    (void)ud, (void)err, (void)errsz;
    *v = 1000 + 600 * sin(2 * M_PI * 1.5 * t);
    return 0;
}

static mg_graph *auto_graph(mg_node **amp)
{
    mg_graph *g = mg_test_graph(RATE, BLOCK, 2);
    mg_node *o = mg_test_node(g, "osc", "o", &(mg_opt){.name = "shape", .str = "saw"}, 1);
    mg_node *f = mg_test_node(g, "filter", "f", NULL, 0);
    mg_node *d = mg_test_node(g, "delay", "d", NULL, 0);
    *amp = mg_test_node(g, "gain", "amp", NULL, 0);
    CHECK_OK(mg_connect(o, 0, f, 0), g);
    CHECK_OK(mg_connect(f, 0, d, 0), g);
    CHECK_OK(mg_connect(d, 0, *amp, 0), g);
    CHECK_OK(mg_connect(*amp, 0, mg_graph_output(g), 0), g);
    CHECK_OK(mg_node_set(d, "note", 10), g); /* 1/8 */
    CHECK_OK(mg_node_set(d, "feedback", 30), g);
    CHECK_OK(mg_graph_tempo_change(g, 0.4, 150), g);
    int fi = mg_node_param_index(f, "freq"), oi = mg_node_param_index(o, "freq");
    CHECK_OK(mg_node_param_generate(f, fi, 200, 0, wobble, NULL, NULL), g);
    mg_param_event e1 = {.type = MG_EV_EXP, .t = 0.7, .v = 880};
    CHECK_OK(mg_node_param_event(o, oi, &e1), g);
    return g;
}

static void test_live_automation(void)
{
    const long N = 48000;
    mg_node *amp;
    mg_graph *g = auto_graph(&amp);
    int ai = mg_node_param_index(amp, "gain");
    /* a set then a ramp, both in the future when they are scheduled during play */
    mg_param_event from = {.type = MG_EV_SET, .t = 0.6, .v = -3};
    mg_param_event late = {.type = MG_EV_LINEAR, .t = 0.9, .v = -20};
    CHECK_OK(mg_node_param_event(amp, ai, &from), g);
    CHECK_OK(mg_node_param_event(amp, ai, &late), g);
    /* the reference is a real offline render (it advances generators and splits blocks at
       tempo changes), read back from a float file */
    char path[600];
    snprintf(path, sizeof path, "%s/auto_ref.wav", dyn_tmpdir);
    mg_render_opts ro = {.path = path, .bits = MG_BITS_32F, .frames = N};
    CHECK_OK(mg_render(g, &ro, NULL), g);
    mg_graph_free(g);
    SF_INFO si = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &si);
    float *il = calloc((size_t)N * 2, sizeof *il);
    CHECK(sf && sf_readf_float(sf, il, N) == N, "read back the offline render");
    if (sf)
        sf_close(sf);
    int ch = 2;
    float **ref = calloc(2, sizeof *ref);
    for (int c = 0; c < 2; c++) {
        ref[c] = calloc((size_t)N, sizeof(float));
        for (long i = 0; i < N; i++)
            ref[c][i] = il[2 * i + c];
    }
    free(il);

    g = auto_graph(&amp);
    mg_live *lv = live_new(g, 0);
    CHECK_OK(mg_live_advance(lv, 0.25), g);
    float *l = calloc((size_t)N, sizeof(float)), *r = calloc((size_t)N, sizeof(float));
    long done = 0;
    while (done < N) {
        uint32_t n = (uint32_t)(N - done < 512 ? N - done : 512);
        float *out[2] = {l + done, r + done};
        mg_live_process(lv, NULL, out, n);
        done += n;
        if (done == 24064) { /* scheduled while playing, before they are due */
            CHECK_OK(mg_node_param_event(amp, ai, &from), g);
            CHECK_OK(mg_node_param_event(amp, ai, &late), g);
        }
        CHECK_OK(mg_live_advance(lv, 0.25), g);
    }
    long diff = 0, first = -1;
    double worst = 0;
    for (long i = 0; i < N; i++) {
        if (first < 0 && l[i] != ref[0][i])
            first = i;
        diff += l[i] != ref[0][i];
        worst = fmax(worst, fabs((double)l[i] - ref[0][i]));
    }
    mg_node *fn_node = mg_graph_find(g, "f");
    int fi = mg_node_param_index(fn_node, "freq");
    CHECK(mg_node_param_overflow(fn_node, fi) == 0, "fn events refused by a full timeline: %llu",
          (unsigned long long)mg_node_param_overflow(fn_node, fi));
    CHECK(mg_node_param_generate(fn_node, fi, 100, 0, wobble, NULL, NULL) == MG_ERR_INVALID,
          "adding a fn while playing live is refused with a message");
    CHECK(diff == 0, "live automation (events, fn, tempo change) vs offline: %ld samples differ "
          "(largest %g, first at %ld)", diff, worst, first);
    mg_live_free(lv);
    mg_graph_free(g);
    mg_test_free_channels(ref, ch);
    free(l);
    free(r);
}

/* Live input: what the driver delivers comes out of `input` nodes unchanged; offline they are
   silent. */
static void test_live_input(void)
{
    mg_graph *g = mg_test_graph(RATE, BLOCK, 2);
    mg_node *in = mg_test_node(g, "input", "mic", &(mg_opt){.name = "channels", .num = 2}, 1);
    CHECK_OK(mg_connect(in, 0, mg_graph_output(g), 0), g);
    CHECK(mg_graph_input_channels(g) == 2, "the graph asks for %d input channels (expect 2)",
          mg_graph_input_channels(g));
    int ch;
    float **off = mg_test_render(g, 512, &ch);
    CHECK(mg_test_peak(off[0], 512) == 0, "offline an input is silent");
    mg_test_free_channels(off, ch);
    mg_graph_reset(g);
    mg_live_config lc = {.in_channels = 2, .out_channels = 2};
    mg_live *lv = mg_live_new(g, &lc, NULL);
    float a[700], b[700], l[700], r[700];
    for (int i = 0; i < 700; i++) {
        a[i] = (float)sin(0.01 * i);
        b[i] = (float)(i % 13) / 13.0f;
    }
    const float *ins[2] = {a, b};
    float *outs[2] = {l, r};
    mg_live_process(lv, ins, outs, 700);
    long diff = 0;
    for (int i = 0; i < 700; i++)
        diff += l[i] != a[i] || r[i] != b[i];
    CHECK(diff == 0, "live input to output: %ld samples differ", diff);
    mg_live_free(lv);
    mg_graph_free(g);
}

/* Largest error of the sine recursion e[n] = x[n] - 2cos(w)x[n-1] + x[n-2] applied twice over
   [from, to): zero for a clean sine, also under a linear gain ramp; a step of height h reads
   h (the detector of tests/rt/rtcheck -o 4). */
static double sine_step(const float *x, long from, long to, double freq)
{
    double c = 2 * cos(2 * M_PI * freq / RATE), worst = 0;
    for (long i = from < 4 ? 4 : from; i < to; i++) {
        double e0 = x[i] - c * x[i - 1] + x[i - 2];
        double e1 = x[i - 1] - c * x[i - 2] + x[i - 3];
        double e2 = x[i - 2] - c * x[i - 3] + x[i - 4];
        worst = fmax(worst, fabs(e0 - c * e1 + e2));
    }
    return worst;
}

#define MOVE_N 9600
#define MOVE_AT (4800 + 17)

/* Move a connection while playing: old gain node -> new one (edit = 0: no move). */
static float *moved_connection(double xfade, double new_gain_db, int edit)
{
    mg_graph *g = mg_test_graph(RATE, 64, 1);
    mg_node *o = mg_test_node(g, "osc", "o", NULL, 0);
    mg_node_set(o, "freq", 997);
    mg_node_set(o, "gain", -6);
    mg_node *a = mg_test_node(g, "gain", "a", NULL, 0);
    mg_node *b = mg_test_node(g, "gain", "b", NULL, 0);
    mg_node_set(b, "gain", new_gain_db);
    CHECK_OK(mg_connect(o, 0, a, 0), g);
    CHECK_OK(mg_connect(o, 0, b, 0), g);
    CHECK_OK(mg_connect(a, 0, mg_graph_output(g), 0), g);
    mg_graph_set_xfade(g, xfade);
    const long N = MOVE_N, EDIT_AT = MOVE_AT;
    float *y = calloc((size_t)N, sizeof *y);
    long done = 0;
    while (done < N) {
        if (done == EDIT_AT && edit) {
            CHECK_OK(mg_disconnect(a, 0, mg_graph_output(g), 0), g);
            CHECK_OK(mg_connect(b, 0, mg_graph_output(g), 0), g);
        }
        int n = (int)(done < EDIT_AT && EDIT_AT - done < 64 ? EDIT_AT - done : 64);
        if (n > N - done)
            n = (int)(N - done);
        const float *const *out = mg_graph_process(g, n);
        memcpy(y + done, out[0], (size_t)n * sizeof(float));
        done += n;
        if (mg_graph_collect(g))
            mg_graph_compile(g);
    }
    CHECK(!edit || mg_graph_edge_count(g) == 3, "faded connection collected (%d edges)",
          mg_graph_edge_count(g));
    mg_graph_free(g);
    return y;
}

static double move_step(double xfade, double gain_db)
{
    float *y = moved_connection(xfade, gain_db, 1);
    double step = sine_step(y, MOVE_AT - 64, MOVE_N, 997);
    free(y);
    return step;
}

static void test_crossfade(void)
{
    float *ref = moved_connection(0.005, 0, 0), *y = moved_connection(0.005, 0, 1);
    double dev = 0;
    for (long i = 0; i < MOVE_N; i++)
        dev = fmax(dev, fabs((double)y[i] - ref[i]));
    free(ref);
    free(y);
    CHECK(dev < 1e-6, "moving a connection between equal signals: max deviation %g", dev);
    double faded = move_step(0.005, -12);
    double cut = move_step(0, -12);
    CHECK(20 * log10(faded) < -60, "crossfaded move -6 -> -18 dBFS: step %.1f dBFS",
          20 * log10(faded));
    CHECK(20 * log10(cut) > -20, "the same move without a fade is a step of %.1f dBFS (the "
          "measure sees it)", 20 * log10(cut));
    mg_test_report("crossfade: equal signals, max deviation", dev, "");
    mg_test_report("crossfade: 5 ms move, largest step", 20 * log10(faded), "dBFS");
    mg_test_report("cut: largest step", 20 * log10(cut), "dBFS");
}

int main(void)
{
    dyn_tmp_open("live");
    CHECK_OK(mg_node_type_register(&bad_desc), NULL);
    test_trap_fires();
    test_every_node_every_edit();
    test_live_equals_offline();
    test_stamped_command();
    test_stamped_plan();
    test_underrun_reported();
    test_live_automation();
    test_live_input();
    test_crossfade();
    dyn_tmp_close();
    return mg_test_done("test_live");
}
