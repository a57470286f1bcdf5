/*
** bench_callback.c: mixgraph's own time per audio callback, without a sound server: the
** patch bench/live_mix.lua (N tracks) played through the live engine by this program's
** thread in 64- and 256-frame callbacks, back to back, timing each. Reports mean, 99th,
** 99.9th percentile and largest callback as a fraction of the callback's period. This is
** the figure bench_live.sh measures under JACK, minus the server's scheduling. Run pinned
** to one core (taskset -c 0); the machine's own preemption still shows in the largest.
**   bench_callback PATCH TRACKS
*/
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mg_live.h"
#include "mg_lua.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_callback PATCH TRACKS\n");
        return 2;
    }
    static const int blocks[] = {64, 256};
    for (int bi = 0; bi < 2; bi++) {
        mg_graph_config cfg = mg_graph_config_default();
        cfg.block = blocks[bi];
        mg_patch_arg arg = {"tracks", argv[2]};
        char err[1024];
        mg_patch *p = mg_patch_run(argv[1], &cfg, &arg, 1, err, sizeof err);
        if (!p) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        mg_graph *g = mg_patch_graph(p);
        mg_live_config lc = {.out_channels = 2};
        mg_live *lv = mg_live_new(g, &lc, NULL);
        int n = (int)(10 * 48000 / blocks[bi]); /* 10 s of audio */
        double *t = malloc((size_t)n * sizeof *t), sum = 0;
        float *l = calloc((size_t)blocks[bi], sizeof(float)), *r = calloc((size_t)blocks[bi], sizeof(float));
        float *out[2] = {l, r};
        for (int i = 0; i < 200; i++) /* warm up: caches, first touches */
            mg_live_process(lv, NULL, out, (uint32_t)blocks[bi]);
        for (int i = 0; i < n; i++) {
            double t0 = now_s();
            mg_live_process(lv, NULL, out, (uint32_t)blocks[bi]);
            t[i] = now_s() - t0;
            sum += t[i];
            if (i % 64 == 0)
                mg_live_poll(lv);
        }
        qsort(t, (size_t)n, sizeof *t, cmp);
        double period = blocks[bi] / 48000.0;
        printf("%-7s %-6d %-8.1f %-8.1f %-8.1f %-8.1f\n", argv[2], blocks[bi],
               100 * sum / n / period, 100 * t[(int)(0.99 * n)] / period,
               100 * t[(int)(0.999 * n)] / period, 100 * t[n - 1] / period);
        free(t);
        free(l);
        free(r);
        mg_live_free(lv);
        mg_patch_free(p);
    }
    return 0;
}
