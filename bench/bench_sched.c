/*
** bench_sched.c: scheduler overhead, in nanoseconds per node per block beyond the DSP itself.
**
** Two graphs of 1000 `gain` nodes (a chain and a fan whose 1000 outputs sum into the output)
** at blocks of 64 and 256. The DSP cost is measured by calling the gain node's own process
** function 1000 times on a prepared block (and, for the fan, the 1000 block additions of the
** fan-in); what the full graph costs beyond that is the scheduler's share: the step loop,
** parameter handling, mix-op dispatch and cache effects of the buffer layout.
** Single-threaded, runs on the calling thread. Not part of `make test`.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mg_node.h"
#include "mixgraph.h"

enum { NODES = 1000 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best-of-5 time per block of `f`, each trial at least ~0.2 s. */
typedef void (*block_fn)(void *ctx);
static double time_per_block(block_fn f, void *ctx)
{
    long iters = 1;
    for (;;) { /* calibrate */
        double t0 = now();
        for (long i = 0; i < iters; i++)
            f(ctx);
        if (now() - t0 > 0.05)
            break;
        iters *= 2;
    }
    iters *= 4;
    double best = 1e30;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now();
        for (long i = 0; i < iters; i++)
            f(ctx);
        double t = (now() - t0) / (double)iters;
        best = t < best ? t : best;
    }
    return best;
}

typedef struct graph_ctx {
    mg_graph *g;
    int block;
} graph_ctx;

static void run_graph(void *p)
{
    graph_ctx *c = p;
    mg_graph_process(c->g, c->block);
}

typedef struct dsp_ctx {
    const mg_node_desc *gain;
    void *state; /* zeroed gain state: same arithmetic as any other sign */
    mg_block b;
    mg_buf in, out;
    mg_pval pv;
    float value;
    float *x, *y, *acc;
    int fan;
} dsp_ctx;

static void run_dsp(void *p)
{
    dsp_ctx *c = p;
    for (int i = 0; i < NODES; i++) {
        c->gain->process(c->state, &c->b);
        if (c->fan) /* the fan-in sum of one more input */
            for (uint32_t k = 0; k < c->b.n; k++)
                c->acc[k] += c->y[k];
    }
}

static mg_graph *build(int block, int fan)
{
    mg_graph_config cfg = mg_graph_config_default();
    cfg.block = block;
    cfg.channels = 1;
    mg_graph *g = mg_graph_new(&cfg, NULL);
    mg_opt o = {.name = "channels", .num = 1};
    mg_node *src = mg_node_new(g, "noise", "src", &o, 1);
    mg_node *prev = src;
    for (int i = 0; i < NODES; i++) {
        mg_node *n = mg_node_new(g, "gain", NULL, NULL, 0);
        mg_node_set(n, "gain", fan ? -60 : -0.001);
        mg_connect(fan ? src : prev, 0, n, 0);
        if (fan)
            mg_connect(n, 0, mg_graph_output(g), 0);
        prev = n;
    }
    if (!fan)
        mg_connect(prev, 0, mg_graph_output(g), 0);
    if (mg_graph_compile(g)) {
        fprintf(stderr, "compile: %s\n", mg_graph_error(g));
        exit(1);
    }
    return g;
}

int main(void)
{
    printf("scheduler overhead: %d gain nodes, ns per node per block beyond the DSP\n", NODES);
    printf("%-6s %-6s %14s %14s %14s %12s\n", "graph", "block", "graph ns/blk", "dsp ns/blk",
           "overhead ns", "target <=30");
    int worst_fail = 0;
    for (int fan = 0; fan < 2; fan++)
        for (int bi = 0; bi < 2; bi++) {
            int block = bi ? 256 : 64;
            mg_graph *g = build(block, fan);
            graph_ctx gc = {g, block};
            for (int w = 0; w < 100; w++)
                run_graph(&gc);
            double tg = time_per_block(run_graph, &gc);
            dsp_ctx d = {.gain = mg_node_type_find("gain"), .fan = fan};
            d.state = calloc(1, d.gain->state_size + 16);
            d.x = calloc((size_t)block, sizeof(float));
            d.y = calloc((size_t)block, sizeof(float));
            d.acc = calloc((size_t)block, sizeof(float));
            for (int k = 0; k < block; k++)
                d.x[k] = (float)rand() / (float)RAND_MAX - 0.5f;
            d.in.channels = d.out.channels = 1;
            d.in.connected = 1;
            d.in.ch[0] = d.x;
            d.out.ch[0] = fan ? d.y : d.x; /* the chain runs in place */
            d.value = -0.001f;
            d.pv.v = &d.value;
            d.pv.constant = 1;
            d.b = (mg_block){.n = (uint32_t)block, .rate = 48000, .in = &d.in, .out = &d.out,
                             .p = &d.pv};
            double td = time_per_block(run_dsp, &d);
            double over = (tg - td) / NODES * 1e9;
            printf("%-6s %-6d %14.0f %14.0f %14.1f %12s\n", fan ? "fan" : "chain", block,
                   tg * 1e9, td * 1e9, over, over <= 30 ? "ok" : "MISSED");
            worst_fail |= over > 30;
            free(d.state);
            free(d.x);
            free(d.y);
            free(d.acc);
            mg_graph_free(g);
        }
    return 0;
}
