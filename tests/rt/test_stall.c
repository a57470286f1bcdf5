/*
** test_stall.c: an injected stall must be reported. A test node sleeps 100 ms inside the
** audio callback once, 0.3 s into the run (which lasts until 1 s has played, at most 8 s of wall time) on the default device (a JACK dummy server started
** by test_play_jack.sh); the live engine must count a late callback of about that length.
** Threads: main = control; PortAudio's thread runs the callback (and the sleeping node).
*/
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mg_audio.h"
#include "mg_node.h"

#define STALL_MS 100

typedef struct stall_state {
    int done;
} stall_state;

static void stall_process(void *state, const mg_block *b)
{
    stall_state *s = state;
    if (!s->done && b->pos >= (uint64_t)(0.3 * b->rate)) {
        struct timespec t = {0, STALL_MS * 1000000L};
        nanosleep(&t, NULL); /* the defect under test: never do this in a real node */
        s->done = 1;
    }
    for (int c = 0; c < b->out[0].channels; c++)
        memcpy(b->out[0].ch[c], b->in[0].ch[c], b->n * sizeof(float));
}

static const mg_port_desc st_in[] = {{.name = "in", .channels = MG_CH_MAX}};
static const mg_port_desc st_out[] = {{.name = "out", .channels = MG_CH_FOLLOW}};
static const mg_node_desc stall_desc = {.name = "test_stall", .doc = "test only",
                                        .inputs = st_in, .n_inputs = 1, .outputs = st_out,
                                        .n_outputs = 1, .state_size = sizeof(stall_state),
                                        .process = stall_process};

int main(void)
{
    mg_node_type_register(&stall_desc);
    mg_graph_config cfg = mg_graph_config_default();
    cfg.block = 256;
    mg_graph *g = mg_graph_new(&cfg, NULL);
    mg_node *o = mg_node_new(g, "osc", NULL, NULL, 0);
    mg_node *s = mg_node_new(g, "test_stall", NULL, NULL, 0);
    mg_connect(o, 0, s, 0);
    mg_connect(s, 0, mg_graph_output(g), 0);
    mg_live_config lc = {.out_channels = 2};
    mg_live *lv = mg_live_new(g, &lc, NULL);
    mg_audio_opts ao = {.out_channels = 2, .client_name = "mixgraph_stall"};
    mg_audio *a = NULL;
    char err[512];
    if (!lv || mg_audio_open(lv, &ao, &a, err, sizeof err) || mg_audio_start(a, err, sizeof err)) {
        fprintf(stderr, "test_stall: %s\n", lv ? err : mg_graph_error(g));
        return 1;
    }
    struct timespec t = {0, 50000000};
    for (int i = 0; i < 160 && mg_live_position(lv) < 48000; i++) {
        nanosleep(&t, NULL);
        mg_live_poll(lv);
    }
    mg_audio_close(a);
    mg_live_stats st = mg_live_stats_take(lv);
    printf("test_stall: %.2f s played, late callbacks %llu, longest %.1f ms, xruns %llu\n",
           (double)st.frames / 48000, (unsigned long long)st.late, st.cb_max_all_ms,
           (unsigned long long)st.xruns);
    int ok = st.late >= 1 && st.cb_max_all_ms >= STALL_MS * 0.9 && st.frames >= 48000;
    printf("test_stall: %s\n", ok ? "stall reported" : "STALL NOT REPORTED");
    mg_live_free(lv);
    mg_graph_free(g);
    return ok ? 0 : 1;
}
