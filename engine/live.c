/*
** live.c: the live engine of mg_live.h: command queue to the audio thread, plan swap and
** retirement, the disk thread, counters and output meters.
**
** Threads: mg_live_process is [rt] (the driver's callback); the disk thread runs disk_main;
** everything else is [control]. Shared state is either in SPSC queues, in atomics, or guarded
** by `lock`, which the audio thread never takes.
*/
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mg_internal.h"
#include "mg_live.h"
#include "mg_loudness.h"
#include "mg_queue.h"
#include "mg_ring.h"
#include "mg_timeline.h"

enum { CMD_PARAM, CMD_EVENT, CMD_TEMPO, CMD_PLAN };

typedef struct live_cmd {
    int kind;
    int param;
    uint64_t at; /* graph sample; 0 = now */
    double value;
    mg_node *node;
    mg_plan *plan;
    mg_tl_event ev; /* CMD_EVENT: a prepared timeline event */
} live_cmd;

#define METER_FRAMES 32768
#define LOAD_BINS 101 /* output copy for the meters: 0.68 s at 48 kHz */

struct mg_live {
    mg_graph *g;
    mg_live_config cfg;
    mg_queue cmds;    /* control -> audio */
    mg_queue retired; /* audio -> control: mg_plan * */
    mg_ring meter;    /* audio -> control: interleaved output frames */
    mg_plan *cur;     /* [rt] */
    const float *zero;       /* [immutable] a silent block for absent input */
    float *in_planar;        /* [immutable] scratch: input channel pointers */
    _Atomic(mg_plan *) playing; /* the plan the audio thread runs, for mg_live_sync */
    /* counters written by the audio thread */
    atomic_uint_fast64_t frames, callbacks, late, xruns, dropped, plans;
    atomic_uint_fast64_t pos; /* graph position for the control side */
    atomic_uint_fast64_t busy_ns_total, period_ns_total, cb_max_ns, load_max_ppm;
    atomic_uint_fast64_t cb_max_all_ns, load_max_all_ppm;
    atomic_uint_fast64_t cpu_max_all_ns; /* thread CPU time of the longest callback */
    atomic_uint_fast64_t hist[LOAD_BINS]; /* callbacks per 1 % of load (last: >= 100 %) */
    /* control-side meter state */
    mg_loudness *loud;
    mg_loudness *loud_ch[MG_MAX_CHANNELS];
    float *mbuf;
    float mtmp[MG_MAX_CHANNELS][1024];
    double peak[MG_MAX_CHANNELS];
    /* disk thread */
    pthread_mutex_t lock;
    pthread_t disk;
    atomic_int disk_run;
    int disk_started;
};

static _Thread_local int rt_depth;
int mg_rt_active(void) { return rt_depth > 0; }

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static void *disk_main(void *arg)
{
    mg_live *lv = arg;
    struct timespec nap = {0, 2000000}; /* 2 ms: a ring of 16384 frames lasts 340 ms */
    while (atomic_load(&lv->disk_run)) {
        pthread_mutex_lock(&lv->lock);
        mg_graph_service(lv->g);
        pthread_mutex_unlock(&lv->lock);
        nanosleep(&nap, NULL);
    }
    return NULL;
}

/* Queues, rings, meters and buffers, and the engine itself. */
static void live_storage_free(mg_live *lv)
{
    mg_queue_free(&lv->cmds);
    mg_queue_free(&lv->retired);
    mg_ring_free(&lv->meter);
    mg_loudness_free(lv->loud);
    for (int c = 0; c < MG_MAX_CHANNELS; c++)
        mg_loudness_free(lv->loud_ch[c]);
    free((void *)lv->zero);
    free(lv->mbuf);
    free(lv);
}

/* Automation functions send their values MG_LIVE_AHEAD_MAX seconds ahead at most; their
   timelines get room for that many events now, since the audio thread cannot grow them. */
#define MG_LIVE_AHEAD_MAX 0.5
static mg_status reserve_generated(mg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i]->n_params; k++) {
            mg_param *p = &g->nodes[i]->params[k];
            if (p->gen && mg_param_reserve(p, (int)ceil(p->gen->rate * MG_LIVE_AHEAD_MAX) + 64))
                return mg_graph_errorf(g, MG_ERR_NOMEM, "out of memory for automation events");
        }
    return MG_OK;
}

mg_live *mg_live_new(mg_graph *g, const mg_live_config *cfg, mg_status *err)
{
    mg_status st = MG_OK;
    mg_live *lv = NULL;
    if (g->live) {
        st = mg_graph_errorf(g, MG_ERR_INVALID, "the graph is already playing");
        goto fail;
    }
    if (cfg->in_channels < 0 || cfg->in_channels > MG_MAX_CHANNELS || cfg->out_channels < 1 ||
        cfg->out_channels > MG_MAX_CHANNELS) {
        st = mg_graph_errorf(g, MG_ERR_RANGE, "live engine: channels out of range (in 0..8, "
                             "out 1..8)");
        goto fail;
    }
    if ((st = mg_graph_compile(g)) || (st = reserve_generated(g)))
        goto fail;
    lv = calloc(1, sizeof *lv);
    if (!lv) {
        st = MG_ERR_NOMEM;
        goto fail;
    }
    lv->g = g;
    lv->cfg = *cfg;
    if (lv->cfg.period <= 0)
        lv->cfg.period = g->block / g->rate;
    int ch = g->channels;
    lv->zero = calloc((size_t)g->block, sizeof(float));
    lv->mbuf = malloc((size_t)METER_FRAMES * (size_t)ch * sizeof(float));
    lv->loud = mg_loudness_new(g->rate, ch, &st);
    for (int c = 0; c < ch && lv->loud; c++)
        if (!(lv->loud_ch[c] = mg_loudness_new(g->rate, 1, &st)))
            break;
    if (!lv->zero || !lv->mbuf || !lv->loud || !lv->loud_ch[ch - 1] || mg_queue_init(&lv->cmds, sizeof(live_cmd), 4096) ||
        mg_queue_init(&lv->retired, sizeof(mg_plan *), 256) ||
        mg_ring_init(&lv->meter, ch, METER_FRAMES)) {
        st = MG_ERR_NOMEM;
        goto fail;
    }
    for (int c = 0; c < MG_MAX_CHANNELS; c++)
        lv->peak[c] = 0;
    pthread_mutex_init(&lv->lock, NULL);
    lv->cur = g->plan;
    atomic_store(&lv->playing, g->plan);
    g->live = lv;
    g->started = 1; /* parameter changes ramp from now on */
    if (cfg->disk_thread) {
        atomic_store(&lv->disk_run, 1);
        if (pthread_create(&lv->disk, NULL, disk_main, lv) == 0)
            lv->disk_started = 1;
    }
    if (err)
        *err = MG_OK;
    return lv;
fail:
    if (lv)
        live_storage_free(lv);
    if (st == MG_ERR_NOMEM)
        mg_graph_errorf(g, st, "out of memory starting the live engine");
    if (err)
        *err = st;
    return NULL;
}

mg_graph *mg_live_graph(mg_live *lv) { return lv->g; }

/* [control] Free what the audio thread handed back. */
static void reap(mg_live *lv)
{
    mg_plan *p;
    while (mg_queue_pop(&lv->retired, &p)) {
        mg_trash_free(p->trash);
        p->trash = NULL;
        mg_plan_free(p);
    }
}

void mg_live_free(mg_live *lv)
{
    if (!lv)
        return;
    if (lv->disk_started) {
        atomic_store(&lv->disk_run, 0);
        pthread_join(lv->disk, NULL);
    }
    mg_graph *g = lv->g;
    /* Nothing runs any more: every queued plan but the last sent one is garbage. */
    reap(lv);
    live_cmd c;
    while (mg_queue_pop(&lv->cmds, &c)) {
        if (c.kind == CMD_PARAM)
            mg_param_set(&c.node->params[c.param], (float)c.value, g->pos, 1, g->rate);
        else if (c.kind == CMD_EVENT)
            mg_timeline_insert(mg_node_param_timeline(c.node, c.param), &c.ev);
        else if (c.kind == CMD_TEMPO)
            g->tempo = c.value;
        else if (c.kind == CMD_PLAN && c.plan != g->plan) {
            mg_trash_free(c.plan->trash);
            mg_plan_free(c.plan);
        }
    }
    if (lv->cur && lv->cur != g->plan) {
        mg_trash_free(lv->cur->trash);
        mg_plan_free(lv->cur);
    }
    if (g->plan) {
        mg_trash_free(g->plan->trash);
        g->plan->trash = NULL;
    }
    g->live = NULL;
    mg_trash_free(g->trash);
    g->trash = NULL;
    g->ext_in.channels = 0;
    pthread_mutex_destroy(&lv->lock);
    live_storage_free(lv);
}

void mg_live_lock(mg_live *lv) { pthread_mutex_lock(&lv->lock); }
void mg_live_unlock(mg_live *lv) { pthread_mutex_unlock(&lv->lock); }

static mg_status push(mg_live *lv, const live_cmd *c)
{
    if (mg_queue_push(&lv->cmds, c))
        return MG_OK;
    atomic_fetch_add(&lv->dropped, 1);
    return mg_graph_errorf(lv->g, MG_ERR_INVALID, "the audio thread is not taking commands "
                           "(queue full); is the device running?");
}

mg_status mg_live_param(mg_live *lv, mg_node *node, int param, double value, uint64_t at)
{
    live_cmd c = {.kind = CMD_PARAM, .node = node, .param = param, .value = value, .at = at};
    return push(lv, &c);
}

mg_status mg_live_event(mg_live *lv, mg_node *node, int param, const mg_tl_event *e)
{
    live_cmd c = {.kind = CMD_EVENT, .node = node, .param = param, .ev = *e,
                  .at = lv->g->stamp};
    return push(lv, &c);
}

static mg_status live_sink(void *ud, mg_node *node, int param, const mg_tl_event *e)
{
    return mg_live_event(ud, node, param, e);
}

mg_status mg_live_advance(mg_live *lv, double horizon)
{
    if (horizon > MG_LIVE_AHEAD_MAX)
        horizon = MG_LIVE_AHEAD_MAX;
    int64_t until = (int64_t)mg_live_position(lv) + (int64_t)llround(horizon * lv->g->rate);
    return mg_graph_advance_to(lv->g, until, live_sink, lv);
}

mg_status mg_live_tempo(mg_live *lv, double bpm)
{
    live_cmd c = {.kind = CMD_TEMPO, .value = bpm};
    return push(lv, &c);
}

/*
** [control] Called by mg_graph_compile with a freshly built plan. What edits removed since the
** previous plan was built may still be in use by it (or by the plan playing now), so it rides
** on the previous plan and is freed when that one comes back.
*/
mg_status mg_live_install(mg_live *lv, mg_plan *p)
{
    mg_graph *g = lv->g;
    reap(lv);
    live_cmd c = {.kind = CMD_PLAN, .plan = p, .at = g->stamp};
    mg_status st = push(lv, &c);
    if (st)
        return st;
    mg_plan *old = g->plan;
    mg_trash **tail = &old->trash;
    while (*tail)
        tail = &(*tail)->next;
    *tail = g->trash;
    g->trash = NULL;
    g->plan = p;
    return MG_OK;
}

int mg_live_playing(mg_live *lv, const mg_plan *p, uint64_t *start, uint64_t *now)
{
    if (atomic_load_explicit(&lv->playing, memory_order_acquire) != p)
        return 0;
    *start = p->t_start; /* written before `playing` was published */
    *now = atomic_load_explicit(&lv->pos, memory_order_relaxed);
    return 1;
}

int mg_live_sync(mg_live *lv, double seconds)
{
    struct timespec nap = {0, 1000000};
    for (double t = 0; t < seconds; t += 0.001) {
        mg_live_poll(lv);
        if (atomic_load(&lv->playing) == lv->g->plan)
            return 1;
        nanosleep(&nap, NULL);
    }
    return atomic_load(&lv->playing) == lv->g->plan;
}

/* [rt] Apply one command. Returns 0 when a plan could not be retired yet (queue full). */
static int apply(mg_live *lv, const live_cmd *c)
{
    mg_graph *g = lv->g;
    switch (c->kind) {
    case CMD_PARAM:
        mg_param_set(&c->node->params[c->param], (float)c->value, g->pos, 1, g->rate);
        return 1;
    case CMD_EVENT: /* a full timeline refuses it and counts it (mg_node_param_overflow) */
        mg_timeline_insert(mg_node_param_timeline(c->node, c->param), &c->ev);
        return 1;
    case CMD_TEMPO:
        g->tempo = c->value;
        return 1;
    default:
        if (!mg_queue_push(&lv->retired, &lv->cur))
            return 0;
        lv->cur = c->plan;
        lv->cur->t_start = g->pos;
        atomic_store_explicit(&lv->pos, g->pos, memory_order_relaxed);
        atomic_store_explicit(&lv->playing, c->plan, memory_order_release);
        atomic_fetch_add_explicit(&lv->plans, 1, memory_order_relaxed);
        return 1;
    }
}

void mg_live_process(mg_live *lv, const float *const *in, float *const *out, uint32_t frames)
{
    rt_depth++;
    uint64_t t0 = now_ns(), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    mg_fpu_denormals_off();
    mg_graph *g = lv->g;
    int och = g->channels, dch = lv->cfg.out_channels;
    uint32_t done = 0;
    while (done < frames) {
        uint32_t n = frames - done;
        if (n > (uint32_t)lv->cur->block)
            n = (uint32_t)lv->cur->block;
        /* commands due now; a later one shortens this chunk so it lands on its sample */
        const live_cmd *c;
        while ((c = mg_queue_peek(&lv->cmds))) {
            if (c->at > g->pos) {
                if (c->at - g->pos < n)
                    n = (uint32_t)(c->at - g->pos);
                break;
            }
            if (!apply(lv, c))
                break;
            live_cmd tmp;
            mg_queue_pop(&lv->cmds, &tmp);
        }
        /* a tempo change ends the chunk, as offline (nodes see the new tempo from there) */
        int64_t tc = mg_graph_frames_to_change(g);
        if (tc < (int64_t)n)
            n = (uint32_t)tc;
        for (int k = 0; k < lv->cfg.in_channels && k < MG_MAX_CHANNELS; k++)
            g->ext_in.ch[k] = (float *)(in && in[k] ? in[k] + done : lv->zero);
        g->ext_in.channels = lv->cfg.in_channels;
        mg_plan_run(lv->cur, g->pos, n, g->n_tempo ? mg_graph_tempo_at_frame(g, g->pos) : g->tempo);
        const mg_buf *fin = lv->cur->final;
        for (int k = 0; k < dch; k++) {
            if (k < och)
                memcpy(out[k] + done, fin->ch[k], n * sizeof(float));
            else
                memset(out[k] + done, 0, n * sizeof(float));
        }
        /* a copy for the meters; dropped when the control side is not reading */
        size_t contig;
        float *w = mg_ring_write_ptr(&lv->meter, &contig);
        if (contig >= n) {
            for (uint32_t i = 0; i < n; i++)
                for (int k = 0; k < och; k++)
                    w[i * (size_t)och + (size_t)k] = fin->ch[k][i];
            mg_ring_commit(&lv->meter, n);
        }
        g->pos += n;
        done += n;
    }
    atomic_store_explicit(&lv->pos, g->pos, memory_order_relaxed);
    uint64_t busy = now_ns() - t0, cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    if (cpu > atomic_load_explicit(&lv->cpu_max_all_ns, memory_order_relaxed))
        atomic_store_explicit(&lv->cpu_max_all_ns, cpu, memory_order_relaxed);
    uint64_t period = (uint64_t)llround(frames / g->rate * 1e9);
    atomic_fetch_add_explicit(&lv->frames, frames, memory_order_relaxed);
    atomic_fetch_add_explicit(&lv->callbacks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lv->busy_ns_total, busy, memory_order_relaxed);
    atomic_fetch_add_explicit(&lv->period_ns_total, period, memory_order_relaxed);
    if (busy > atomic_load_explicit(&lv->cb_max_ns, memory_order_relaxed))
        atomic_store_explicit(&lv->cb_max_ns, busy, memory_order_relaxed);
    uint64_t ppm = period ? busy * 1000000u / period : 0;
    if (ppm > atomic_load_explicit(&lv->load_max_ppm, memory_order_relaxed))
        atomic_store_explicit(&lv->load_max_ppm, ppm, memory_order_relaxed);
    if (busy > atomic_load_explicit(&lv->cb_max_all_ns, memory_order_relaxed))
        atomic_store_explicit(&lv->cb_max_all_ns, busy, memory_order_relaxed);
    if (ppm > atomic_load_explicit(&lv->load_max_all_ppm, memory_order_relaxed))
        atomic_store_explicit(&lv->load_max_all_ppm, ppm, memory_order_relaxed);
    if (busy > period)
        atomic_fetch_add_explicit(&lv->late, 1, memory_order_relaxed);
    uint64_t bin = ppm / 10000;
    atomic_fetch_add_explicit(&lv->hist[bin < LOAD_BINS ? bin : LOAD_BINS - 1], 1,
                              memory_order_relaxed);
    rt_depth--;
}

uint64_t mg_live_position(mg_live *lv) { return atomic_load(&lv->pos); }

void mg_live_note_xrun(mg_live *lv) { atomic_fetch_add_explicit(&lv->xruns, 1, memory_order_relaxed); }

void mg_live_poll(mg_live *lv)
{
    reap(lv);
    int ch = lv->g->channels;
    for (;;) {
        size_t n = mg_ring_read(&lv->meter, lv->mbuf, METER_FRAMES);
        if (n == 0)
            break;
        float *planar[MG_MAX_CHANNELS];
        float(*tmp)[1024] = lv->mtmp;
        for (size_t i = 0; i < n; i += 1024) {
            size_t m = n - i < 1024 ? n - i : 1024;
            for (int k = 0; k < ch; k++) {
                planar[k] = tmp[k];
                for (size_t j = 0; j < m; j++) {
                    float v = lv->mbuf[(i + j) * (size_t)ch + (size_t)k];
                    tmp[k][j] = v;
                    double a = fabs((double)v);
                    if (a > lv->peak[k])
                        lv->peak[k] = a;
                }
            }
            mg_loudness_add(lv->loud, (const float *const *)planar, m);
            for (int k = 0; k < ch; k++)
                mg_loudness_add(lv->loud_ch[k], (const float *const *)&planar[k], m);
        }
    }
}

mg_live_stats mg_live_stats_take(mg_live *lv)
{
    mg_live_stats s = {0};
    s.frames = atomic_load(&lv->frames);
    s.callbacks = atomic_load(&lv->callbacks);
    double busy = (double)atomic_load(&lv->busy_ns_total);
    double per = (double)atomic_load(&lv->period_ns_total);
    s.load_mean = per > 0 ? busy / per : 0;
    s.load_max = (double)atomic_exchange(&lv->load_max_ppm, 0) / 1e6;
    s.cb_max_ms = (double)atomic_exchange(&lv->cb_max_ns, 0) / 1e6;
    s.load_max_all = (double)atomic_load(&lv->load_max_all_ppm) / 1e6;
    s.cb_max_all_ms = (double)atomic_load(&lv->cb_max_all_ns) / 1e6;
    s.cpu_max_all_ms = (double)atomic_load(&lv->cpu_max_all_ns) / 1e6;
    uint64_t total = 0, seen = 0;
    for (int b = 0; b < LOAD_BINS; b++)
        total += atomic_load(&lv->hist[b]);
    s.load_p999 = 0;
    for (int b = 0; b < LOAD_BINS && total; b++) {
        seen += atomic_load(&lv->hist[b]);
        if (seen * 1000 >= total * 999) {
            s.load_p999 = (b + 1) / 100.0; /* the bin's upper edge */
            break;
        }
    }
    s.late = atomic_load(&lv->late);
    s.xruns = atomic_load(&lv->xruns);
    s.dropped_cmds = atomic_load(&lv->dropped);
    s.plans = atomic_load(&lv->plans);
    s.nonfinite = mg_graph_nonfinite(lv->g);
    mg_graph *g = lv->g;
    pthread_mutex_lock(&lv->lock);
    for (int i = 0; i < g->n_nodes; i++) {
        double u = mg_node_meter(g->nodes[i], "underruns");
        if (u == u && u > 0)
            s.underruns += (uint64_t)u;
    }
    pthread_mutex_unlock(&lv->lock);
    s.channels = g->channels;
    for (int k = 0; k < g->channels; k++) {
        s.peak_db[k] = lv->peak[k] > 0 ? 20 * log10(lv->peak[k]) : -INFINITY;
        lv->peak[k] = 0;
    }
    s.momentary = mg_loudness_momentary(lv->loud);
    for (int k = 0; k < g->channels; k++)
        s.momentary_ch[k] = mg_loudness_momentary(lv->loud_ch[k]);
    return s;
}
