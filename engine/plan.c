/*
** plan.c: compiles the graph into a plan and runs it.
**
** Compile ([control], allocates): split feedback nodes that sit on a cycle into a read step and
** a write step, order the steps topologically (ties by creation order, so plans are
** deterministic), resolve channel counts, prepare nodes whose configuration changed, compute
** path latency and the render length, assign buffers from a pool with reuse (a buffer returns
** to the pool after its last reader, so memory follows the graph's width, not its node count),
** and lay out a flat step list.
**
** Run ([rt]): for each step, run its fan-in/up-down-mix ops, render its parameters, call the
** node. No allocation, no locks, no I/O.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_internal.h"

#define MG_ALIGN 64

void mg_plan_free(mg_plan *p)
{
    if (!p)
        return;
    free(p->steps);
    free(p->mixops);
    free(p->ports);
    free(p->pvals);
    free(p->pmods);
    free(p->stems);
    free(p->pscratch);
    free(p->chain_state);
    free(p->chain_blk);
    free(p->dtmp);
    free(p->mem);
    free(p->order);
    free(p);
}

/* ---- compile-time working data ---- */

/* A unit is one step: a node, or one half of a split feedback node. */
typedef struct unit {
    mg_node *node;
    int kind;     /* 0 normal, 1 read (produces outputs), 2 write (consumes inputs) */
    int indeg;
    int step;     /* position in the order */
} unit;

/* Buffer reference during assignment: pool index, or one of the special buffers. */
enum { BUF_ZERO = -1, BUF_DISCARD = -2 };

typedef struct pool {
    int *free_list, n_free;
    int n;          /* buffers created */
    int *last;      /* last step reading buffer i */
    int cap;
} pool;

static int pool_get(pool *pl, int last)
{
    int b;
    if (pl->n_free)
        b = pl->free_list[--pl->n_free];
    else
        b = pl->n++;
    pl->last[b] = last;
    return b;
}

static void pool_put(pool *pl, int b) { pl->free_list[pl->n_free++] = b; }

typedef struct compiler {
    mg_graph *g;
    unit *units;
    int n_units;
    int *cons_of;  /* node index -> unit consuming its inputs (its write half if split) */
    int *order;    /* units in step order */
} compiler;

static int node_index(const mg_node *n) { return n->mark; }

/* Does feedback node f reach itself (is it on a cycle)? Iterative DFS. */
static int on_cycle(mg_graph *g, mg_node *f, char *seen, int *stack)
{
    memset(seen, 0, (size_t)g->n_nodes);
    int sp = 0;
    stack[sp++] = node_index(f);
    while (sp) {
        int v = stack[--sp];
        for (int i = 0; i < g->n_edges; i++) {
            mg_edge *e = &g->edges[i];
            if (node_index(e->src) != v)
                continue;
            int w = node_index(e->dst);
            if (e->dst == f)
                return 1;
            if (!seen[w]) {
                seen[w] = 1;
                stack[sp++] = w;
            }
        }
    }
    return 0;
}

/*
** Modulation links (a node's output driving another node's parameter) are dependencies too:
** the modulated node's parameter-rendering unit (its read half when split) waits for the
** source. `release` 0 counts them into indeg; 1 releases the units that `src` modulates.
*/
static void mod_deps(compiler *cc, mg_node *src, int release, int *queue, int *tail)
{
    mg_graph *g = cc->g;
    for (int i = 0; i < g->n_nodes; i++) {
        mg_node *n = g->nodes[i];
        int u = cc->cons_of[i];
        if (cc->units[u].kind == 2)
            u--; /* the read half renders the parameters */
        for (int k = 0; k < n->n_params; k++) {
            mg_node *m = n->params[k].mod_src;
            if (!m || (release && m != src))
                continue;
            if (!release)
                cc->units[u].indeg++;
            else if (--cc->units[u].indeg == 0)
                queue[(*tail)++] = u;
        }
    }
}

static mg_status order_units(compiler *cc)
{
    mg_graph *g = cc->g;
    int N = g->n_nodes;
    char *seen = calloc((size_t)N + 1, 1);
    int *stack = malloc((2 * (size_t)N + (size_t)g->n_edges + 1) * sizeof *stack);
    cc->units = calloc(2 * (size_t)N + 1, sizeof *cc->units);
    cc->cons_of = malloc(((size_t)N + 1) * sizeof *cc->cons_of);
    cc->order = malloc((2 * (size_t)N + 1) * sizeof *cc->order);
    if (!seen || !stack || !cc->units || !cc->cons_of || !cc->order) {
        free(seen);
        free(stack);
        return MG_ERR_NOMEM;
    }
    for (int i = 0; i < N; i++) {
        mg_node *n = g->nodes[i];
        int split = (n->d->flags & MG_NODE_FEEDBACK) && on_cycle(g, n, seen, stack);
        cc->cons_of[i] = cc->n_units;
        cc->units[cc->n_units++] = (unit){n, split ? 1 : 0, 0, 0};
        if (split) {
            cc->cons_of[i] = cc->n_units;
            cc->units[cc->n_units++] = (unit){n, 2, 1, 0}; /* write waits for read */
        }
    }
    free(seen);
    for (int i = 0; i < g->n_edges; i++)
        cc->units[cc->cons_of[node_index(g->edges[i].dst)]].indeg++;
    /*
    ** Kahn's algorithm with a LIFO: deterministic, and depth first: a node's consumer runs right
    ** after it once it is ready, so a track's chain of nodes runs as consecutive steps (its
    ** buffers stay in cache, and process_chain can take the run). Sources start in creation
    ** order; a node's consumers in the order of its connections; the output comes last.
    */
    int top = 0;
    int *ready = stack;
    mod_deps(cc, NULL, 0, NULL, NULL);
    for (int u = cc->n_units - 1; u >= 0; u--)
        if (cc->units[u].indeg == 0)
            ready[top++] = u;
    int k = 0, sink = -1; /* the output runs last, once everything else has */
    while (top > 0 || sink >= 0) {
        int u = top > 0 ? ready[--top] : sink;
        if (u == sink)
            sink = -1;
        else if (cc->units[u].node->d->flags & MG_NODE_SINK) {
            sink = u;
            continue;
        }
        cc->units[u].step = k;
        cc->order[k++] = u;
        mg_node *n = cc->units[u].node;
        int first = top;
        if (cc->units[u].kind == 1) { /* read half releases its write half */
            int w = cc->cons_of[node_index(n)];
            if (--cc->units[w].indeg == 0)
                ready[top++] = w;
        }
        if (cc->units[u].kind != 2) { /* the write half produces nothing */
            mod_deps(cc, n, 1, ready, &top);
            for (int i = 0; i < g->n_edges; i++) {
                mg_edge *e = &g->edges[i];
                if (e->src != n)
                    continue;
                int w = cc->cons_of[node_index(e->dst)];
                if (--cc->units[w].indeg == 0)
                    ready[top++] = w;
            }
        }
        for (int a = first, b = top - 1; a < b; a++, b--) { /* the first released on top */
            int t = ready[a];
            ready[a] = ready[b];
            ready[b] = t;
        }
    }
    free(stack);
    if (k != cc->n_units)
        return mg_graph_errorf(g, MG_ERR_CYCLE, "cycle without a delay node in the graph");
    return MG_OK;
}

/* Channels: inputs from what feeds them, outputs by their rule. Iterated to a fixed point so
   that feedback loops (whose read half runs before its input is known) settle. */
static void resolve_channels(compiler *cc)
{
    mg_graph *g = cc->g;
    for (int pass = 0; pass < 4; pass++) {
        int changed = 0;
        for (int k = 0; k < cc->n_units; k++) {
            mg_node *n = cc->units[cc->order[k]].node;
            int widest = 0; /* over the node's MG_CH_WIDEST inputs */
            for (int i = 0; i < g->n_edges; i++) {
                mg_edge *e = &g->edges[i];
                if (e->dst == n && n->in[e->in].d->channels == MG_CH_WIDEST &&
                    e->src->out[e->out].channels > widest)
                    widest = e->src->out[e->out].channels;
            }
            for (int p = 0; p < n->n_in; p++) {
                const mg_port_desc *pd = n->in[p].d;
                int ch = pd->channels > 0 ? pd->channels : 0;
                if (pd->channels == MG_CH_OPTION) {
                    int o = mg_node_option_index(n, "channels");
                    ch = o >= 0 ? (int)n->opt[o].num : 1;
                } else if (!ch) {
                    if (pd->channels == MG_CH_WIDEST)
                        ch = widest;
                    else
                        for (int i = 0; i < g->n_edges; i++) {
                            mg_edge *e = &g->edges[i];
                            if (e->dst == n && e->in == p && e->src->out[e->out].channels > ch)
                                ch = e->src->out[e->out].channels;
                        }
                    int mx = pd->max_channels ? pd->max_channels : MG_MAX_CHANNELS;
                    ch = ch < 1 ? 1 : ch > mx ? mx : ch;
                }
                changed |= n->in[p].channels != ch;
                n->in[p].channels = ch;
            }
            int in_ch[64 + 1];
            for (int p = 0; p < n->n_in && p < 64; p++)
                in_ch[p] = n->in[p].channels;
            for (int p = 0; p < n->n_out; p++) {
                const mg_port_desc *pd = n->out[p].d;
                int ch = pd->channels;
                if (ch == MG_CH_FOLLOW)
                    ch = n->n_in ? n->in[0].channels : 1;
                else if (ch == MG_CH_OPTION) {
                    int o = mg_node_option_index(n, "channels");
                    ch = o >= 0 ? (int)n->opt[o].num : 1;
                } else if (ch == MG_CH_CUSTOM)
                    ch = n->d->out_channels ? n->d->out_channels(n->state, p, in_ch) : 1;
                ch = ch < 1 ? 1 : ch > MG_MAX_CHANNELS ? MG_MAX_CHANNELS : ch;
                changed |= n->out[p].channels != ch;
                n->out[p].channels = ch;
            }
        }
        if (!changed && pass > 0)
            break;
    }
}

/* Prepare nodes whose rate, block or channel counts changed since they were last prepared. */
static mg_status prepare_nodes(mg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        mg_node *n = g->nodes[i];
        int same = n->prepared && n->prep_rate == g->rate && n->prep_block == g->block;
        for (int p = 0; same && p < n->n_in; p++)
            same = n->prep_ch[p] == n->in[p].channels;
        for (int p = 0; same && p < n->n_out; p++)
            same = n->prep_ch[n->n_in + p] == n->out[p].channels;
        if (same)
            continue;
        int ch[2 * 64 + 2];
        int nin = n->n_in < 64 ? n->n_in : 64, nout = n->n_out < 64 ? n->n_out : 64;
        for (int p = 0; p < nin; p++)
            ch[p] = n->prep_ch[p] = n->in[p].channels;
        for (int p = 0; p < nout; p++)
            ch[64 + p] = n->prep_ch[n->n_in + p] = n->out[p].channels;
        mg_prepare pr = {.rate = g->rate, .block = g->block, .in_ch = ch, .out_ch = ch + 64,
                         .length = n->n_in ? 0 : MG_FOREVER};
        /* Live, a prepared node's state is in use by the audio thread: prepare a fresh one
           and retire the old with the plan that plays it. */
        void *state = n->state;
        if (g->live && n->prepared) {
            mg_status st = mg_node_state_new(n, &state);
            if (st)
                return st;
        }
        if (n->d->prepare) {
            mg_status st = n->d->prepare(state, n, &pr);
            if (st) {
                if (state != n->state)
                    mg_trash_put(g, MG_TRASH_STATE, state, n->d);
                else
                    n->prepared = 0;
                return st;
            }
        } else if (n->d->reset) {
            n->d->reset(state);
        }
        if (state != n->state) {
            mg_trash_put(g, MG_TRASH_STATE, n->state, n->d);
            n->state = state;
        }
        n->length = pr.length;
        n->tail = pr.tail;
        n->latency = pr.latency;
        n->prepared = 1;
        n->prep_rate = g->rate;
        n->prep_block = g->block;
    }
    return MG_OK;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    return (a == MG_FOREVER || b == MG_FOREVER || a > MG_FOREVER - b) ? MG_FOREVER : a + b;
}

/*
** Path latency, latency compensation and end of sound, in step order. Every signal arriving
** at a node is held back to the latest arrival: edge->comp frames on each connection (back
** edges into the write half of a feedback node are not compensated). A node's output ends
** its latency after its inputs end, plus its tail.
*/
static void measure_paths(compiler *cc)
{
    mg_graph *g = cc->g;
    for (int i = 0; i < g->n_edges; i++)
        g->edges[i].comp = 0;
    for (int k = 0; k < cc->n_units; k++) {
        unit *u = &cc->units[cc->order[k]];
        if (u->kind == 2)
            continue;
        mg_node *n = u->node;
        int64_t lat = 0, end = 0;
        mg_node *endless = NULL;
        int fed = 0;
        for (int i = 0; i < g->n_edges && u->kind == 0; i++)
            if (g->edges[i].dst == n && g->edges[i].src->path_latency > lat)
                lat = g->edges[i].src->path_latency;
        for (int i = 0; i < g->n_edges && u->kind == 0; i++) {
            mg_edge *e = &g->edges[i];
            if (e->dst != n)
                continue;
            fed = 1;
            e->comp = lat - e->src->path_latency;
            int64_t e_end = sat_add(e->src->end, e->comp);
            if (e_end > end || (e_end == MG_FOREVER && !endless)) {
                end = e_end;
                endless = e->src->endless;
            }
        }
        n->path_latency = lat + n->latency;
        if (fed && end > 0) {
            int64_t tail = n->d->tail ? n->d->tail(n->state, n, g->rate) : n->tail;
            end = sat_add(end, sat_add(tail, n->latency));
        }
        int64_t len = n->d->length ? n->d->length(n->state, n, g->rate) : n->length;
        if (len > end || (len == MG_FOREVER && !endless)) {
            end = len;
            endless = len == MG_FOREVER ? n : NULL;
        }
        n->end = end;
        n->endless = end == MG_FOREVER ? endless : NULL;
    }
}

void mg_edge_delay_free(mg_edge_delay *d)
{
    if (d)
        free(d->buf);
    free(d);
}

/* Give every compensated edge a delay line of the right length and width, keeping the ones
   that already fit (their contents carry over). */
static mg_status size_edge_delays(mg_graph *g)
{
    for (int i = 0; i < g->n_edges; i++) {
        mg_edge *e = &g->edges[i];
        int ch = e->src->out[e->out].channels;
        if (e->comp <= 0 || e->comp > (int64_t)UINT32_MAX / 4) {
            if (e->line)
                mg_trash_put(g, MG_TRASH_LINE, e->line, NULL);
            e->line = NULL;
            if (e->comp > 0)
                return mg_graph_errorf(g, MG_ERR_RANGE, "latency of %lld frames into '%s' is "
                                       "too large to compensate", (long long)e->comp,
                                       e->dst->name);
            continue;
        }
        uint32_t need = (uint32_t)e->comp + (uint32_t)g->block + 1, size = 1;
        while (size < need)
            size <<= 1;
        mg_edge_delay *d = e->line;
        if (d && d->channels == ch && d->delay == (uint32_t)e->comp && d->size >= need)
            continue;
        if (d)
            mg_trash_put(g, MG_TRASH_LINE, d, NULL);
        e->line = d = calloc(1, sizeof *d);
        if (d)
            d->buf = calloc((size_t)size * (size_t)ch, sizeof *d->buf);
        if (!d || !d->buf)
            return MG_ERR_NOMEM;
        d->size = size;
        d->delay = (uint32_t)e->comp;
        d->channels = ch;
    }
    return MG_OK;
}

/* Assignment record for one port's channels before the pool memory exists. */
typedef struct portref {
    int buf[MG_MAX_CHANNELS]; /* pool index or BUF_* */
    int channels, connected;
} portref;

/*
** Outputs read outside the edges: a modulation source lives until the step that renders the
** modulated parameters; a stem's tapped output until the end of the block (the renderer reads
** it after the plan ran).
*/
static void keep_alive(compiler *cc, const int *out_off, int *out_last)
{
    mg_graph *g = cc->g;
    for (int i = 0; i < g->n_nodes; i++) {
        mg_node *n = g->nodes[i];
        int u = cc->cons_of[i];
        if (cc->units[u].kind == 2)
            u--;
        for (int k = 0; k < n->n_params; k++) {
            mg_node *m = n->params[k].mod_src;
            if (!m)
                continue;
            int o = out_off[node_index(m)] + n->params[k].mod_port;
            if (cc->units[u].step > out_last[o])
                out_last[o] = cc->units[u].step;
        }
    }
    for (int i = 0; i < g->n_stems; i++)
        out_last[out_off[node_index(g->stems[i].node)] + g->stems[i].port] = cc->n_units + 1;
}

/* After layout: where each modulated parameter reads its source, and each stem its audio. */
static mg_status link_taps(compiler *cc, mg_plan *pl, const int *out_off, int n_pv)
{
    mg_graph *g = cc->g;
    pl->pmods = calloc((size_t)n_pv + 1, sizeof *pl->pmods);
    pl->stems = calloc((size_t)g->n_stems + 1, sizeof *pl->stems);
    if (!pl->pmods || !pl->stems)
        return MG_ERR_NOMEM;
    for (int k = 0; k < pl->n_steps; k++) {
        mg_step *s = &pl->steps[k];
        mg_node *n = s->node;
        for (int i = 0; i < n->n_params && s->kind != 2; i++) {
            mg_node *m = n->params[i].mod_src;
            if (m)
                pl->pmods[s->pv - pl->pvals + i] =
                    &pl->ports[out_off[node_index(m)] + n->params[i].mod_port];
        }
    }
    pl->n_stems = g->n_stems;
    for (int i = 0; i < g->n_stems; i++)
        pl->stems[i] = &pl->ports[out_off[node_index(g->stems[i].node)] + g->stems[i].port];
    return MG_OK;
}

/* Whether step b can run in one process_chain call with step a, the step before it. */
static int chains_on(const mg_plan *pl, const mg_step *a, const mg_step *b)
{
    void (*fn)(void *const *, const mg_block *const *, int) = a->node->d->process_chain;
    if (a->kind || b->kind || !fn || b->node->d->process_chain != fn || b->nmix ||
        b->node->n_in != 1 || a->node->n_out < 1)
        return 0;
    const mg_buf *ao = &a->blk.out[0], *bi = &b->blk.in[0], *bo = &b->blk.out[0];
    if (!bi->connected || bi->channels < 1 || bi->channels != ao->channels ||
        bo->channels != bi->channels)
        return 0;
    for (int c = 0; c < bi->channels; c++)
        if (bi->ch[c] != ao->ch[c] || bo->ch[c] != bi->ch[c])
            return 0;
    for (int i = 0; i < b->node->n_params; i++)
        if (pl->pmods[b->pv - pl->pvals + i])
            return 0;
    return 1;
}

/*
** Runs of steps that one process_chain call takes (see mg_node_desc): each next step reads the
** step before's output in place. The steps of a run render their parameters before the run
** starts, so each gets its own pscratch rows (pscratch grows when a run needs more).
*/
static mg_status link_chains(mg_plan *pl, int max_params)
{
    int need = max_params;
    for (int k = 0; k < pl->n_steps;) {
        mg_step *s = &pl->steps[k];
        int m = 1, np = s->node->n_params;
        while (m < MG_CHAIN_MAX && k + m < pl->n_steps && chains_on(pl, &s[m - 1], &s[m])) {
            s[m].pbase = np;
            np += s[m].node->n_params;
            m++;
        }
        s->chain = m;
        need = np > need ? np : need;
        k += m;
    }
    pl->chain_state = malloc(((size_t)pl->n_steps + 1) * sizeof *pl->chain_state);
    pl->chain_blk = malloc(((size_t)pl->n_steps + 1) * sizeof *pl->chain_blk);
    if (!pl->chain_state || !pl->chain_blk)
        return MG_ERR_NOMEM;
    for (int k = 0; k < pl->n_steps; k++) {
        pl->chain_state[k] = pl->steps[k].state;
        pl->chain_blk[k] = &pl->steps[k].blk;
    }
    if (need > max_params) {
        free(pl->pscratch);
        pl->pscratch = aligned_alloc(MG_ALIGN, pl->stride * sizeof(float) * (size_t)need);
        if (!pl->pscratch)
            return MG_ERR_NOMEM;
    }
    return MG_OK;
}

/*
** Buffer assignment. For each node port we record which pool buffer each channel lives in.
** An input with exactly one connection of the same width reads the producer's buffer
** directly; any other connected input gets scratch buffers filled by mix ops.
*/
static mg_status build(compiler *cc, mg_plan *pl)
{
    mg_graph *g = cc->g;
    int U = cc->n_units, N = g->n_nodes, E = g->n_edges;
    /* port ref offsets: per node, inputs then outputs */
    int *in_off = malloc(((size_t)N + 1) * sizeof *in_off);
    int *out_off = malloc(((size_t)N + 1) * sizeof *out_off);
    int total = 0, max_params = 1;
    for (int i = 0; i < N && in_off && out_off; i++) {
        in_off[i] = total;
        total += g->nodes[i]->n_in;
        out_off[i] = total;
        total += g->nodes[i]->n_out;
        if (g->nodes[i]->n_params > max_params)
            max_params = g->nodes[i]->n_params;
    }
    portref *pr = calloc((size_t)total + 1, sizeof *pr);
    int *out_last = calloc((size_t)total + 1, sizeof *out_last); /* last reader of an output */
    char *direct = calloc((size_t)total + 1, 1);               /* input reads producer buffer */
    int *direct_src = calloc((size_t)total + 1, sizeof *direct_src);
    pool pl_ = {0};
    pl_.cap = total * MG_MAX_CHANNELS + 8;
    pl_.free_list = malloc((size_t)pl_.cap * sizeof(int));
    pl_.last = malloc((size_t)pl_.cap * sizeof(int));
    int n_mix = 0;
    mg_status st = MG_OK;
    if (!in_off || !out_off || !pr || !out_last || !direct || !direct_src || !pl_.free_list ||
        !pl_.last) {
        st = MG_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < total; i++)
        out_last[i] = -1;
    /* readers: input ports, counted per edge */
    for (int i = 0; i < N; i++) {
        mg_node *n = g->nodes[i];
        for (int p = 0; p < n->n_in; p++) {
            int cnt = 0, src = -1;
            for (int e = 0; e < E; e++)
                if (g->edges[e].dst == n && g->edges[e].in == p) {
                    cnt++;
                    mg_edge *ed = &g->edges[e];
                    src = out_off[node_index(ed->src)] + ed->out;
                    int reader = cc->units[cc->cons_of[i]].step;
                    if (reader > out_last[src])
                        out_last[src] = reader;
                }
            portref *r = &pr[in_off[i] + p];
            r->channels = n->in[p].channels;
            r->connected = cnt > 0;
            if (cnt == 1) {
                mg_edge *ed = NULL;
                for (int e = 0; e < E; e++)
                    if (g->edges[e].dst == n && g->edges[e].in == p)
                        ed = &g->edges[e];
                if (ed->src->out[ed->out].channels == r->channels && ed->comp == 0 &&
                    ed->fade == 0) {
                    direct[in_off[i] + p] = 1;
                    direct_src[in_off[i] + p] = src;
                }
            }
            if (cnt && !direct[in_off[i] + p])
                n_mix += cnt;
        }
    }
    keep_alive(cc, out_off, out_last);
    /* the sink's outputs stay alive to the end of the block */
    {
        int oi = node_index(g->output);
        for (int p = 0; p < g->output->n_out; p++)
            out_last[out_off[oi] + p] = U + 1;
    }
    /* walk the steps */
    int *dying = malloc(((size_t)pl_.cap + 1) * sizeof *dying);
    char *live = calloc((size_t)pl_.cap + 1, 1);
    if (!dying || !live) {
        free(dying);
        free(live);
        st = MG_ERR_NOMEM;
        goto done;
    }
    for (int k = 0; k < U; k++) {
        unit *u = &cc->units[cc->order[k]];
        mg_node *n = u->node;
        int ni = node_index(n);
        int n_dying = 0;
        if (u->kind != 1) { /* consumes inputs */
            for (int p = 0; p < n->n_in; p++) {
                portref *r = &pr[in_off[ni] + p];
                if (!r->connected) {
                    for (int c = 0; c < r->channels; c++)
                        r->buf[c] = BUF_ZERO;
                } else if (direct[in_off[ni] + p]) {
                    portref *s = &pr[direct_src[in_off[ni] + p]];
                    for (int c = 0; c < r->channels; c++)
                        r->buf[c] = s->buf[c];
                } else {
                    for (int c = 0; c < r->channels; c++) {
                        r->buf[c] = pool_get(&pl_, k);
                        live[r->buf[c]] = 1;
                    }
                }
            }
            /* buffers whose last reader is this step */
            for (int b = 0; b < pl_.n; b++)
                if (live[b] && pl_.last[b] == k)
                    dying[n_dying++] = b;
        }
        if (u->kind != 2) { /* produces outputs */
            for (int p = 0; p < n->n_out; p++) {
                portref *r = &pr[out_off[ni] + p];
                int last = out_last[out_off[ni] + p];
                r->channels = n->out[p].channels;
                r->connected = 1;
                for (int c = 0; c < r->channels; c++) {
                    if (last < 0) {
                        r->buf[c] = BUF_DISCARD;
                        continue;
                    }
                    int b = -1;
                    if ((n->d->flags & MG_NODE_INPLACE) && p == 0 && n->n_in > 0 &&
                        c < n->in[0].channels) {
                        int cand = pr[in_off[ni]].buf[c];
                        int shared = 0;
                        for (int q = 1; q < n->n_in && cand >= 0; q++)
                            for (int cc2 = 0; cc2 < n->in[q].channels; cc2++)
                                shared |= pr[in_off[ni] + q].buf[cc2] == cand;
                        for (int c2 = 0; c2 < n->in[0].channels && cand >= 0; c2++)
                            shared |= c2 != c && pr[in_off[ni]].buf[c2] == cand;
                        if (cand >= 0 && live[cand] && pl_.last[cand] == k && !shared) {
                            b = cand;
                            pl_.last[b] = last;
                        }
                    }
                    if (b < 0) {
                        b = pool_get(&pl_, last);
                        live[b] = 1;
                    }
                    r->buf[c] = b;
                }
            }
        }
        for (int i = 0; i < n_dying; i++) {
            int b = dying[i];
            if (live[b] && pl_.last[b] == k) {
                live[b] = 0;
                pool_put(&pl_, b);
            }
        }
    }
    free(dying);
    free(live);

    /* memory: pool buffers, a zero buffer and MG_MAX_CHANNELS discard buffers */
    size_t stride = ((size_t)g->block * sizeof(float) + MG_ALIGN - 1) / MG_ALIGN * MG_ALIGN;
    pl->stride = stride / sizeof(float);
    size_t nbuf = (size_t)pl_.n + 1 + MG_MAX_CHANNELS;
    pl->bytes = nbuf * stride;
    pl->mem = aligned_alloc(MG_ALIGN, pl->bytes);
    pl->n_pool = pl_.n;
    pl->steps = calloc((size_t)U, sizeof *pl->steps);
    pl->ports = calloc((size_t)total + 1, sizeof *pl->ports);
    pl->mixops = calloc((size_t)n_mix + 1, sizeof *pl->mixops);
    int n_pv = 0;
    for (int k = 0; k < U; k++)
        n_pv += cc->units[cc->order[k]].node->n_params;
    pl->pvals = calloc((size_t)n_pv + 1, sizeof *pl->pvals);
    pl->pscratch = aligned_alloc(MG_ALIGN, stride * (size_t)max_params);
    pl->dtmp = aligned_alloc(MG_ALIGN, stride * MG_MAX_CHANNELS);
    pl->order = malloc(((size_t)U + 1) * sizeof *pl->order);
    if (!pl->mem || !pl->steps || !pl->ports || !pl->mixops || !pl->pvals || !pl->pscratch ||
        !pl->dtmp || !pl->order) {
        st = MG_ERR_NOMEM;
        goto done;
    }
    memset(pl->mem, 0, pl->bytes);
    float *zero = (float *)((char *)pl->mem + (size_t)pl_.n * stride);
    for (int i = 0; i < total; i++) {
        mg_buf *b = &pl->ports[i];
        b->channels = pr[i].channels;
        b->connected = pr[i].connected;
        for (int c = 0; c < pr[i].channels; c++) {
            int ix = pr[i].buf[c];
            b->ch[c] = ix == BUF_ZERO      ? zero
                       : ix == BUF_DISCARD ? (float *)((char *)zero + (size_t)(1 + c) * stride)
                                           : (float *)((char *)pl->mem + (size_t)ix * stride);
        }
    }
    /* steps and mix ops */
    int mi = 0, pv = 0;
    pl->n_steps = U;
    pl->n_order = 0;
    for (int k = 0; k < U; k++) {
        unit *u = &cc->units[cc->order[k]];
        mg_node *n = u->node;
        int ni = node_index(n);
        mg_step *s = &pl->steps[k];
        s->node = n;
        s->state = n->state;
        s->kind = u->kind;
        s->fn = u->kind == 1 ? n->d->process_read : u->kind == 2 ? n->d->process_write
                                                                 : n->d->process;
        s->blk.rate = g->rate;
        s->blk.in = &pl->ports[in_off[ni]];
        s->blk.out = &pl->ports[out_off[ni]];
        s->pv = &pl->pvals[pv];
        pv += n->n_params;
        s->blk.p = u->kind == 2 ? NULL : s->pv;
        s->mix0 = mi;
        if (u->kind != 1) {
            for (int p = 0; p < n->n_in; p++) {
                if (direct[in_off[ni] + p] || !pr[in_off[ni] + p].connected)
                    continue;
                int first = 1;
                for (int e = 0; e < E; e++) {
                    mg_edge *ed = &g->edges[e];
                    if (ed->dst != n || ed->in != p)
                        continue;
                    mg_mixop *op = &pl->mixops[mi++];
                    op->src = &pl->ports[out_off[node_index(ed->src)] + ed->out];
                    op->dst = &pl->ports[in_off[ni] + p];
                    op->add = !first;
                    first = 0;
                    int from = ed->src->out[ed->out].channels, to = n->in[p].channels;
                    op->identity = from == to;
                    op->delay = ed->comp > 0 ? ed->line : NULL;
                    op->fade = ed->fade;
                    op->flen = (uint32_t)fmax(1, llround(g->xfade * g->rate));
                    mg_chanmix_matrix(from, to, op->m);
                }
            }
        }
        s->nmix = mi - s->mix0;
        if (u->kind != 1)
            pl->order[pl->n_order++] = n;
    }
    pl->n_mixops = mi;
    pl->final = &pl->ports[out_off[node_index(g->output)]];
    st = link_taps(cc, pl, out_off, n_pv);
    if (!st)
        st = link_chains(pl, max_params);
done:
    free(in_off);
    free(out_off);
    free(pr);
    free(out_last);
    free(direct);
    free(direct_src);
    free(pl_.free_list);
    free(pl_.last);
    return st;
}

mg_status mg_plan_build(mg_graph *g, mg_plan **out)
{
    compiler cc = {.g = g};
    mg_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return MG_ERR_NOMEM;
    pl->block = g->block;
    pl->rate = g->rate;
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i]->mark = i; /* node_index() during compile */
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->d->flags & MG_NODE_FEEDBACK &&
            (!g->nodes[i]->d->process_read || !g->nodes[i]->d->process_write))
            return mg_graph_errorf(g, MG_ERR_INVALID, "node type %s lacks feedback halves",
                                   g->nodes[i]->d->name);
    mg_status st = order_units(&cc);
    if (!st) {
        resolve_channels(&cc);
        st = prepare_nodes(g);
    }
    if (!st) {
        measure_paths(&cc);
        st = size_edge_delays(g);
    }
    if (!st)
        st = build(&cc, pl);
    free(cc.units);
    free(cc.cons_of);
    free(cc.order);
    if (st) {
        if (st == MG_ERR_NOMEM)
            mg_graph_errorf(g, st, "out of memory compiling the graph");
        mg_plan_free(pl);
        return st;
    }
    *out = pl;
    return MG_OK;
}

/*
** [rt] Push this block into a compensation line and point `out` at the block delayed by the
** line's length (in tmp, one block per channel).
*/
static void delay_block(mg_edge_delay *d, const mg_buf *src, uint32_t n, float *tmp,
                        size_t stride, mg_buf *out)
{
    uint32_t mask = d->size - 1;
    out->channels = src->channels;
    for (int c = 0; c < src->channels; c++) {
        float *line = d->buf + (size_t)c * d->size;
        const float *x = src->ch[c];
        float *y = tmp + (size_t)c * stride;
        for (uint32_t i = 0; i < n; i++)
            line[(d->w + i) & mask] = x[i];
        for (uint32_t i = 0; i < n; i++)
            y[i] = line[(d->w + i - d->delay) & mask];
        out->ch[c] = y;
    }
    d->w += n;
}

/*
** [rt] The crossfade of an edited connection: gain per frame, 0 -> 1 (fade in) or 1 -> 0
** (fade out) over op->flen frames from the plan's start, shaped sin^2 and cos^2: they sum to
** exactly 1, so moving a connection between two equal signals changes nothing.
** Writes n gains into g; returns 0 when the gain is 1 all along (nothing to do).
*/
static int fade_gains(const mg_mixop *op, uint64_t since, uint32_t n, float *g)
{
    if (op->fade == MG_FADE_GONE) {
        memset(g, 0, n * sizeof *g);
        return 1;
    }
    if (since >= op->flen) {
        if (op->fade == MG_FADE_IN)
            return 0;
        memset(g, 0, n * sizeof *g);
        return 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t t = since + i;
        double x = t >= op->flen ? 1.0 : (double)t / op->flen;
        double s = sin(0.5 * 3.14159265358979323846 * x);
        g[i] = (float)(op->fade == MG_FADE_IN ? s * s : 1.0 - s * s);
    }
    return 1;
}

/* [rt] */
static void run_mixop(const mg_mixop *op, uint32_t n, float *tmp, size_t stride,
                      uint64_t since, float *gain)
{
    const mg_buf *s = op->src;
    const mg_buf *d = op->dst;
    mg_buf delayed;
    if (op->delay) {
        delay_block(op->delay, s, n, tmp, stride, &delayed);
        s = &delayed;
    }
    if (op->fade && fade_gains(op, since, n, gain)) {
        for (int c = 0; c < d->channels; c++) {
            float *y = d->ch[c];
            if (!op->add)
                memset(y, 0, n * sizeof *y);
            for (int k = 0; k < s->channels; k++) {
                float m = op->identity ? (k == c) : op->m[c][k];
                if (m == 0.0f)
                    continue;
                const float *x = s->ch[k];
                for (uint32_t i = 0; i < n; i++)
                    y[i] += m * gain[i] * x[i];
            }
        }
        return;
    }
    if (op->identity) {
        for (int c = 0; c < d->channels; c++) {
            const float *x = s->ch[c];
            float *y = d->ch[c];
            if (op->add)
                for (uint32_t i = 0; i < n; i++)
                    y[i] += x[i];
            else
                memcpy(y, x, n * sizeof *y);
        }
        return;
    }
    for (int c = 0; c < d->channels; c++) {
        float *y = d->ch[c];
        if (!op->add)
            memset(y, 0, n * sizeof *y);
        for (int k = 0; k < s->channels; k++) {
            float m = op->m[c][k];
            if (m == 0.0f)
                continue;
            const float *x = s->ch[k];
            for (uint32_t i = 0; i < n; i++)
                y[i] += m * x[i];
        }
    }
}

/*
** [rt] Ask for the cache lines that a step's parameter renders read. They run between two
** nodes' processing, which evicts them (a reverb's delay lines alone outsize the caches), and
** the misses were 6 % of a mix render; fetched while the step before runs, they are there.
*/
static inline void prefetch_params(const mg_node *node)
{
    for (int i = 0; i < node->n_params; i++) {
        __builtin_prefetch(&node->params[i].value);
        __builtin_prefetch(&node->params[i].tl.steady);
    }
}

void mg_plan_run(mg_plan *p, uint64_t pos, uint32_t n, double tempo)
{
    for (int k = 0; k < p->n_steps;) {
        mg_step *s = &p->steps[k];
        int m = s->chain > 1 ? s->chain : 1;
        if (k + m < p->n_steps && p->steps[k + m].kind != 2)
            prefetch_params(p->steps[k + m].node);
        for (int j = 0; j < s->nmix; j++)
            run_mixop(&p->mixops[s->mix0 + j], n, p->dtmp, p->stride, pos - p->t_start,
                      p->pscratch);
        for (int j = 0; j < m; j++) { /* a chain's steps have no mix ops after the first */
            mg_step *t = s + j;
            mg_node *node = t->node;
            if (t->kind != 2)
                for (int i = 0; i < node->n_params; i++) {
                    const mg_buf *mb = p->pmods[t->pv - p->pvals + i];
                    mg_param_render(&node->params[i], pos, n,
                                    p->pscratch + (size_t)(t->pbase + i) * p->block, &t->pv[i],
                                    mb ? mb->ch[0] : NULL, (float)node->params[i].mod_depth);
                }
            t->blk.n = n;
            t->blk.pos = pos;
            t->blk.tempo = tempo;
        }
        if (m > 1)
            s->node->d->process_chain(p->chain_state + k, p->chain_blk + k, m);
        else
            s->fn(s->state, &s->blk);
        k += m;
    }
}

/* ---- graph-level entry points ---- */

mg_status mg_graph_compile(mg_graph *g)
{
    if (!g->dirty && g->plan)
        return MG_OK;
    mg_plan *p = NULL;
    mg_status st = mg_plan_build(g, &p);
    if (st)
        return st;
    /* Edits made since the last plan fade with this one; removed ones wait for collection. */
    for (int i = 0; i < g->n_edges; i++) {
        mg_edge *e = &g->edges[i];
        if (e->fade == MG_FADE_IN)
            e->fade = 0;
        else if (e->fade == MG_FADE_OUT)
            e->fade = MG_FADE_GONE;
        if (e->fade == MG_FADE_GONE)
            g->fading = 1;
    }
    p->t_start = g->pos;
    /* Offline the old plan can go at once; the audio thread hands a live one back first. */
    if (g->live && g->plan) {
        st = mg_live_install(g->live, p);
        if (st) {
            mg_plan_free(p);
            return st;
        }
    } else {
        mg_plan_free(g->plan);
        g->plan = p;
    }
    g->dirty = 0;
    return MG_OK;
}

int mg_graph_order_count(const mg_graph *g) { return g->plan ? g->plan->n_order : 0; }

mg_node *mg_graph_order(const mg_graph *g, int i)
{
    return g->plan && i >= 0 && i < g->plan->n_order ? g->plan->order[i] : NULL;
}

mg_plan_stats mg_graph_plan_stats(const mg_graph *g)
{
    mg_plan_stats s = {0};
    if (g->plan) {
        s.steps = g->plan->n_steps;
        s.buffers = g->plan->n_pool;
        s.bytes = g->plan->bytes;
        for (int k = 0; k < g->plan->n_steps; k++)
            s.chains += g->plan->steps[k].chain > 1;
    }
    return s;
}

int64_t mg_graph_length(mg_graph *g)
{
    if (mg_graph_compile(g))
        return -1;
    int64_t end = g->output->end, lat = g->output->path_latency;
    return end == MG_FOREVER ? end : end > lat ? end - lat : 0;
}

int64_t mg_graph_latency(mg_graph *g)
{
    return mg_graph_compile(g) ? -1 : g->output->path_latency;
}

mg_node *mg_graph_endless_source(mg_graph *g)
{
    return mg_graph_compile(g) ? NULL : g->output->endless;
}

const float *const *mg_graph_process(mg_graph *g, int n)
{
    if (n < 1 || n > g->block || mg_graph_compile(g))
        return NULL;
    mg_fpu_denormals_off();
    double tempo = g->n_tempo ? mg_graph_tempo_at_frame(g, g->pos) : g->tempo;
    mg_plan_run(g->plan, g->pos, (uint32_t)n, tempo);
    g->pos += (uint64_t)n;
    g->started = 1;
    return (const float *const *)g->plan->final->ch;
}

mg_status mg_graph_step(mg_graph *g, int *n, const float *const **out)
{
    mg_graph_collect(g); /* edits whose fades are over (before compiling: it drops the plan) */
    mg_status st = mg_graph_run_at(g, g->pos + 1);
    if (st || (st = mg_graph_compile(g)))
        return st;
    int64_t lim = mg_graph_frames_to_change(g), at = mg_graph_frames_to_at(g);
    if (at < lim)
        lim = at;
    if (lim < *n)
        *n = (int)lim; /* >= 1: what was due now has run */
    mg_graph_service(g);
    if ((st = mg_graph_advance(g, (int64_t)g->pos + *n)))
        return st;
    *out = mg_graph_process(g, *n);
    if (!*out)
        return mg_graph_errorf(g, MG_ERR_INVALID, "cannot process %d frames", *n);
    return MG_OK;
}

void mg_graph_service(mg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->d->service && g->nodes[i]->prepared)
            g->nodes[i]->d->service(g->nodes[i]->state);
}

void mg_graph_reset(mg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        mg_node *n = g->nodes[i];
        if (n->d->reset && n->prepared)
            n->d->reset(n->state);
        for (int k = 0; k < n->n_params; k++)
            mg_param_settle(&n->params[k]);
    }
    for (int i = 0; i < g->n_edges; i++) {
        mg_edge_delay *d = g->edges[i].line;
        if (d) {
            memset(d->buf, 0, (size_t)d->size * (size_t)d->channels * sizeof *d->buf);
            d->w = 0;
        }
    }
    g->pos = 0;
    g->started = 0;
}
