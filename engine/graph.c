/*
** graph.c: the graph model: nodes, options, parameters, ports and connections, with the
** checks that keep it valid (names, ranges, cycles). [control] throughout; only
** mg_graph_process (plan.c) runs on the processing thread.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_internal.h"
#include "mg_live.h"

mg_status mg_graph_errorf(mg_graph *g, mg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
    g->err_node = NULL;
    return st;
}

mg_node *mg_graph_error_node(const mg_graph *g) { return g->err_node; }

mg_status mg_node_errorf(mg_node *node, mg_status st, const char *fmt, ...)
{
    char msg[sizeof node->g->err - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mg_graph_errorf(node->g, st, "node '%s': %s", node->name, msg);
    node->g->err_node = node;
    return st;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- graph ---- */

mg_graph_config mg_graph_config_default(void)
{
    return (mg_graph_config){.rate = 48000, .block = MG_BLOCK_DEFAULT, .channels = 2};
}

static mg_status check_rate(mg_graph *g, double rate)
{
    if (!(rate >= MG_RATE_MIN && rate <= MG_RATE_MAX))
        return g ? mg_graph_errorf(g, MG_ERR_RANGE, "sample rate %g Hz out of range [%g, %g]",
                                   rate, MG_RATE_MIN, MG_RATE_MAX)
                 : MG_ERR_RANGE;
    return MG_OK;
}

static mg_status check_block(mg_graph *g, int block)
{
    if (block < 1 || block > MG_BLOCK_MAX)
        return g ? mg_graph_errorf(g, MG_ERR_RANGE, "block size %d out of range [1, %d]",
                                   block, MG_BLOCK_MAX)
                 : MG_ERR_RANGE;
    return MG_OK;
}

mg_graph *mg_graph_new(const mg_graph_config *cfg, mg_status *err)
{
    mg_graph_config c = cfg ? *cfg : mg_graph_config_default();
    mg_status st = MG_OK;
    if (check_rate(NULL, c.rate) || check_block(NULL, c.block) || c.channels < 1 ||
        c.channels > MG_MAX_CHANNELS)
        st = MG_ERR_RANGE;
    mg_graph *g = st ? NULL : calloc(1, sizeof *g);
    if (!g && !st)
        st = MG_ERR_NOMEM;
    if (g) {
        g->rate = c.rate;
        g->block = c.block;
        g->tempo = 120;
        g->xfade = 0.005;
        g->channels = c.channels;
        g->dirty = 1;
        mg_opt o = {.name = "channels", .num = c.channels};
        g->output = mg_node_new(g, "output", "output", &o, 1);
        if (!g->output) {
            mg_graph_free(g);
            g = NULL;
            st = MG_ERR_NOMEM;
        }
    }
    if (err)
        *err = st;
    return g;
}

/* A node state made by create (and maybe prepare): destroy, then free. */
static void state_free(const mg_node_desc *d, void *state)
{
    if (d->destroy)
        d->destroy(state);
    free(state);
}

static void node_free(mg_node *n)
{
    if (!n)
        return;
    if (n->g && n->g->err_node == n)
        n->g->err_node = NULL;
    if (n->created)
        state_free(n->d, n->state);
    else
        free(n->state);
    for (int i = 0; n->opt && i < n->d->n_options; i++)
        free((char *)n->opt[i].str);
    free(n->opt);
    free(n->in);
    free(n->out);
    for (int i = 0; n->params && i < n->n_params; i++)
        mg_param_free(&n->params[i]);
    free(n->params);
    free(n->prep_ch);
    free(n->name);
    free(n->origin);
    free(n);
}

static void trash_item_free(int kind, void *p, const mg_node_desc *d)
{
    if (kind == MG_TRASH_NODE)
        node_free(p);
    else if (kind == MG_TRASH_LINE)
        mg_edge_delay_free(p);
    else
        state_free(d, p);
}

void mg_trash_put(mg_graph *g, int kind, void *p, const mg_node_desc *d)
{
    mg_trash *t = g->live ? malloc(sizeof *t) : NULL;
    if (!t) { /* offline, or out of memory (then leak rather than free under the audio) */
        if (!g->live)
            trash_item_free(kind, p, d);
        return;
    }
    *t = (mg_trash){.kind = kind, .p = p, .d = d, .next = g->trash};
    g->trash = t;
}

void mg_trash_free(mg_trash *t)
{
    while (t) {
        mg_trash *next = t->next;
        trash_item_free((int)t->kind, t->p, t->d);
        free(t);
        t = next;
    }
}

void mg_graph_free(mg_graph *g)
{
    if (!g)
        return;
    mg_live_free(g->live); /* a host should have stopped it; do not leave it dangling */
    for (int i = 0; i < g->n_at; i++)
        if (g->at[i].free_ud)
            g->at[i].free_ud(g->at[i].ud);
    free(g->at);
    mg_plan_free(g->plan);
    mg_trash_free(g->trash);
    for (int i = 0; i < g->n_nodes; i++)
        node_free(g->nodes[i]);
    for (int i = 0; i < g->n_edges; i++)
        mg_edge_delay_free(g->edges[i].line);
    for (int i = 0; i < g->n_stems; i++)
        free(g->stems[i].name);
    free(g->stems);
    free(g->tempo_map);
    free(g->nodes);
    free(g->edges);
    free(g);
}

const char *mg_graph_error(const mg_graph *g) { return g->err; }
double mg_graph_rate(const mg_graph *g) { return g->rate; }
int mg_graph_block(const mg_graph *g) { return g->block; }
mg_node *mg_graph_output(mg_graph *g) { return g->output; }
int mg_graph_node_count(const mg_graph *g) { return g->n_nodes; }
mg_node *mg_graph_node(mg_graph *g, int i) { return i >= 0 && i < g->n_nodes ? g->nodes[i] : NULL; }
uint64_t mg_graph_position(const mg_graph *g) { return g->pos; }

mg_node *mg_graph_find(mg_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0)
            return g->nodes[i];
    return NULL;
}

mg_status mg_graph_set_rate(mg_graph *g, double rate)
{
    mg_status st = check_rate(g, rate);
    if (!st && rate != g->rate && g->live)
        return mg_graph_errorf(g, MG_ERR_INVALID, "the rate cannot change while playing");
    if (!st && rate != g->rate) {
        g->rate = rate;
        g->dirty = 1;
    }
    return st;
}

double mg_graph_tempo(const mg_graph *g) { return g->tempo; }

mg_status mg_graph_set_tempo(mg_graph *g, double bpm)
{
    if (!(bpm >= 20 && bpm <= 400))
        return mg_graph_errorf(g, MG_ERR_RANGE, "tempo %g BPM out of range [20, 400]", bpm);
    if (g->live)
        return mg_live_tempo(g->live, bpm);
    g->tempo = bpm;
    return MG_OK;
}

mg_status mg_graph_set_block(mg_graph *g, int block)
{
    mg_status st = check_block(g, block);
    if (!st && block != g->block && g->live)
        return mg_graph_errorf(g, MG_ERR_INVALID, "the block size cannot change while playing");
    if (!st && block != g->block) {
        g->block = block;
        g->dirty = 1;
    }
    return st;
}

/* ---- nodes ---- */

static const char *opt_type_name(mg_opt_type t)
{
    static const char *const names[] = {"a number", "an integer", "a boolean", "a string",
                                        "one of"};
    return names[t];
}

int mg_choice_index(const char *choices, const char *name)
{
    size_t len = strlen(name);
    int k = 0;
    for (const char *p = choices; *p; k++) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0)
            return k;
        if (!e)
            break;
        p = e + 1;
    }
    return -1;
}

const char *mg_choice_name(const char *choices, int k, char *buf, size_t sz)
{
    const char *p = choices;
    for (; k > 0 && p; k--)
        p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL;
    const char *e = p ? strchr(p, '|') : NULL;
    snprintf(buf, sz, "%.*s", p ? (e ? (int)(e - p) : (int)strlen(p)) : 0, p ? p : "");
    return buf;
}

static mg_status set_option(mg_node *n, const mg_option_desc *od, mg_optval *ov, const mg_opt *o)
{
    mg_graph *g = n->g;
    const char *tn = n->d->name;
    switch (od->type) {
    case MG_OPT_STRING:
        if (!o->str)
            return mg_graph_errorf(g, MG_ERR_TYPE, "%s: option '%s' expects a string", tn,
                                   od->name);
        free((char *)ov->str);
        ov->str = dupstr(o->str);
        return ov->str ? MG_OK : MG_ERR_NOMEM;
    case MG_OPT_ENUM: {
        int k = o->str ? mg_choice_index(od->choices, o->str) : -1;
        if (k < 0)
            return mg_graph_errorf(g, MG_ERR_RANGE, "%s: option '%s' expects one of %s%s%s%s",
                                   tn, od->name, od->choices, o->str ? ", got '" : "",
                                   o->str ? o->str : "", o->str ? "'" : "");
        ov->num = k;
        return MG_OK;
    }
    default:
        break;
    }
    if (o->str)
        return mg_graph_errorf(g, MG_ERR_TYPE, "%s: option '%s' expects %s, got a string", tn,
                               od->name, opt_type_name(od->type));
    double v = o->num;
    if (od->type == MG_OPT_BOOL) {
        if (v != 0 && v != 1)
            return mg_graph_errorf(g, MG_ERR_TYPE, "%s: option '%s' expects a boolean", tn,
                                   od->name);
    } else {
        if (od->type == MG_OPT_INT && v != floor(v))
            return mg_graph_errorf(g, MG_ERR_TYPE, "%s: option '%s' expects an integer, got %g",
                                   tn, od->name, v);
        if (!(v >= od->min && v <= od->max))
            return mg_graph_errorf(g, MG_ERR_RANGE, "%s: option '%s' = %g out of range [%g, %g]%s%s",
                                   tn, od->name, v, od->min, od->max, od->unit ? " " : "",
                                   od->unit ? od->unit : "");
    }
    ov->num = v;
    return MG_OK;
}

static mg_status unique_name(mg_graph *g, const mg_node_desc *d, const char *name, char **out)
{
    char buf[128];
    if (name) {
        if (!*name || strlen(name) >= sizeof buf)
            return mg_graph_errorf(g, MG_ERR_INVALID, "invalid node name '%s'", name);
        if (mg_graph_find(g, name))
            return mg_graph_errorf(g, MG_ERR_INVALID, "a node named '%s' already exists", name);
        snprintf(buf, sizeof buf, "%s", name);
    } else {
        for (int k = 1;; k++) {
            snprintf(buf, sizeof buf, "%s%d", d->name, k);
            if (!mg_graph_find(g, buf))
                break;
        }
    }
    *out = dupstr(buf);
    return *out ? MG_OK : MG_ERR_NOMEM;
}

/* Expand MULTI ports: a desc list becomes the node's port instances. */
static mg_port *expand_ports(const mg_port_desc *pd, int n, int multi, int *count)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        total += (pd[i].flags & MG_PORT_MULTI) ? multi : 1;
    mg_port *p = calloc(total ? (size_t)total : 1, sizeof *p);
    if (!p)
        return NULL;
    int k = 0;
    for (int i = 0; i < n; i++) {
        int reps = (pd[i].flags & MG_PORT_MULTI) ? multi : 1;
        for (int r = 0; r < reps; r++, k++) {
            p[k].d = &pd[i];
            p[k].channels = pd[i].channels > 0 ? pd[i].channels : 1;
            if (pd[i].flags & MG_PORT_MULTI)
                snprintf(p[k].name, sizeof p[k].name, "%s%d", pd[i].name, r + 1);
            else
                snprintf(p[k].name, sizeof p[k].name, "%s", pd[i].name);
        }
    }
    *count = total;
    return p;
}

static mg_status node_setup(mg_node *n, const mg_opt *opts, int n_opts)
{
    const mg_node_desc *d = n->d;
    mg_graph *g = n->g;
    n->opt = calloc(d->n_options ? (size_t)d->n_options : 1, sizeof *n->opt);
    n->state = calloc(1, d->state_size ? d->state_size : 1);
    if (!n->opt || !n->state)
        return MG_ERR_NOMEM;
    for (int i = 0; i < d->n_options; i++) {
        n->opt[i].num = d->options[i].def;
        if (d->options[i].type == MG_OPT_STRING && d->options[i].def_str &&
            !(n->opt[i].str = dupstr(d->options[i].def_str)))
            return MG_ERR_NOMEM;
    }
    for (int k = 0; k < n_opts; k++) {
        int i = mg_node_option_index(n, opts[k].name);
        if (i < 0)
            return mg_graph_errorf(g, MG_ERR_NOT_FOUND, "%s has no option '%s'", d->name,
                                   opts[k].name);
        mg_status st = set_option(n, &d->options[i], &n->opt[i], &opts[k]);
        if (st)
            return st;
    }
    for (int i = 0; i < d->n_options; i++)
        if (d->options[i].type == MG_OPT_STRING && !n->opt[i].str)
            return mg_graph_errorf(g, MG_ERR_INVALID, "%s needs option '%s' (%s)", d->name,
                                   d->options[i].name, d->options[i].doc);
    if (d->multi_option) {
        int i = mg_node_option_index(n, d->multi_option);
        n->multi = i >= 0 ? (int)n->opt[i].num : 0;
    }
    n->in = expand_ports(d->inputs, d->n_inputs, n->multi, &n->n_in);
    n->out = expand_ports(d->outputs, d->n_outputs, n->multi, &n->n_out);
    if (!n->in || !n->out)
        return MG_ERR_NOMEM;
    for (int i = 0; i < d->n_params; i++)
        n->n_params += (d->params[i].flags & MG_PARAM_MULTI) ? n->multi : 1;
    n->params = calloc(n->n_params ? (size_t)n->n_params : 1, sizeof *n->params);
    n->prep_ch = calloc((size_t)(n->n_in + n->n_out + 1), sizeof *n->prep_ch);
    if (!n->params || !n->prep_ch)
        return MG_ERR_NOMEM;
    int k = 0;
    for (int i = 0; i < d->n_params; i++) {
        const mg_param_desc *pd = &d->params[i];
        if (pd->flags & MG_PARAM_MULTI) {
            for (int r = 0; r < n->multi; r++) {
                char nm[40];
                snprintf(nm, sizeof nm, "%s%d", pd->name, r + 1);
                if (mg_param_init(&n->params[k++], pd, nm))
                    return MG_ERR_NOMEM;
            }
        } else if (mg_param_init(&n->params[k++], pd, pd->name)) {
            return MG_ERR_NOMEM;
        }
    }
    if (d->create) {
        mg_status st = d->create(n->state, n);
        n->created = 1; /* destroy must run even after a partial create */
        return st;
    }
    n->created = 1;
    return MG_OK;
}

mg_status mg_node_state_new(mg_node *n, void **out)
{
    void *state = calloc(1, n->d->state_size ? n->d->state_size : 1);
    if (!state)
        return mg_graph_errorf(n->g, MG_ERR_NOMEM, "out of memory preparing '%s'", n->name);
    mg_status st = n->d->create ? n->d->create(state, n) : MG_OK;
    if (st) {
        state_free(n->d, state);
        return st;
    }
    *out = state;
    return MG_OK;
}

mg_node *mg_node_new(mg_graph *g, const char *type, const char *name, const mg_opt *opts,
                     int n_opts)
{
    const mg_node_desc *d = mg_node_type_find(type);
    if (!d) {
        mg_graph_errorf(g, MG_ERR_NOT_FOUND, "unknown node type '%s' (see `mixgraph nodes`)",
                        type);
        return NULL;
    }
    if ((d->flags & MG_NODE_SINK) && g->output) {
        mg_graph_errorf(g, MG_ERR_INVALID, "a graph has exactly one output node");
        return NULL;
    }
    mg_node *n = calloc(1, sizeof *n);
    mg_node **nodes = g->nodes;
    if (n && g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 16;
        nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (nodes) {
            g->nodes = nodes;
            g->cap_nodes = cap;
        }
    }
    if (!n || !nodes) {
        free(n);
        mg_graph_errorf(g, MG_ERR_NOMEM, "out of memory creating a %s node", type);
        return NULL;
    }
    n->g = g;
    n->d = d;
    n->id = g->next_id++;
    mg_status st = unique_name(g, d, name, &n->name);
    if (!st)
        st = node_setup(n, opts, n_opts);
    if (st) {
        if (st == MG_ERR_NOMEM)
            mg_graph_errorf(g, st, "out of memory creating a %s node", type);
        node_free(n);
        return NULL;
    }
    g->nodes[g->n_nodes++] = n;
    g->dirty = 1;
    return n;
}

/* Connections and nodes edited while audio runs fade instead of vanishing (see plan.c). */
static int fades(const mg_graph *g) { return g->started && g->xfade > 0; }

/* Remove edge i now; its delay line may still be in use by a live plan. */
static void edge_drop(mg_graph *g, int i)
{
    mg_edge *e = &g->edges[i];
    if (!g->live) { /* the plan may read this edge's delay line */
        mg_plan_free(g->plan);
        g->plan = NULL;
    }
    if (e->line)
        mg_trash_put(g, MG_TRASH_LINE, e->line, NULL);
    memmove(e, e + 1, (size_t)(g->n_edges - i - 1) * sizeof *e);
    g->n_edges--;
    g->dirty = 1;
}

/* Remove a node and its connections now. */
static void node_drop(mg_graph *g, mg_node *node)
{
    for (int i = g->n_edges - 1; i >= 0; i--)
        if (g->edges[i].src == node || g->edges[i].dst == node)
            edge_drop(g, i);
    if (!g->live) {
        mg_plan_free(g->plan);
        g->plan = NULL;
    }
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i] != node)
            g->nodes[k++] = g->nodes[i];
    g->n_nodes = k;
    for (int i = 0; i < g->n_nodes; i++) /* modulation it gave */
        for (int j = 0; j < g->nodes[i]->n_params; j++)
            if (g->nodes[i]->params[j].mod_src == node)
                g->nodes[i]->params[j].mod_src = NULL;
    k = 0;
    for (int i = 0; i < g->n_stems; i++) {
        if (g->stems[i].node != node)
            g->stems[k++] = g->stems[i];
        else
            free(g->stems[i].name);
    }
    g->n_stems = k;
    g->dirty = 1;
    if (g->err_node == node)
        g->err_node = NULL;
    mg_trash_put(g, MG_TRASH_NODE, node, NULL);
}

/* Start fading edge i out (or drop it if it never played). */
static void edge_fade_out(mg_graph *g, int i)
{
    if (g->edges[i].fade == MG_FADE_IN || !fades(g)) {
        edge_drop(g, i);
        return;
    }
    if (g->edges[i].fade == 0)
        g->edges[i].fade = MG_FADE_OUT;
    g->dirty = 1;
}

mg_status mg_node_remove(mg_node *node)
{
    mg_graph *g = node->g;
    if (node == g->output)
        return mg_graph_errorf(g, MG_ERR_INVALID, "the output node cannot be removed");
    if (node->dying)
        return MG_OK;
    if (!fades(g) || !node->prepared) {
        node_drop(g, node);
        return MG_OK;
    }
    /* it keeps running, unnamed, while its connections fade; mg_graph_collect removes it */
    char *name = malloc(strlen(node->name) + 24);
    if (!name)
        return mg_graph_errorf(g, MG_ERR_NOMEM, "out of memory removing '%s'", node->name);
    sprintf(name, "~%s#%d", node->name, node->id);
    free(node->name);
    node->name = name;
    node->dying = 1;
    for (int i = g->n_edges - 1; i >= 0; i--)
        if (g->edges[i].src == node || g->edges[i].dst == node)
            edge_fade_out(g, i);
    if (g->err_node == node)
        g->err_node = NULL;
    g->dirty = 1;
    return MG_OK;
}

/* Drop every faded connection and removed node at once (no fade). */
static void drop_fading(mg_graph *g)
{
    for (int i = g->n_edges - 1; i >= 0; i--)
        if (g->edges[i].fade < 0)
            edge_drop(g, i);
    for (int i = g->n_nodes - 1; i >= 0; i--)
        if (g->nodes[i]->dying)
            node_drop(g, g->nodes[i]);
    g->fading = 0;
}

int mg_graph_collect(mg_graph *g)
{
    if (!g->fading || !g->plan)
        return 0;
    uint64_t start = g->plan->t_start, now = g->pos;
    if (g->live && !mg_live_playing(g->live, g->plan, &start, &now))
        return 0;
    if (now < start + (uint64_t)llround(g->xfade * g->rate))
        return 0;
    int n = 0;
    for (int i = g->n_edges - 1; i >= 0; i--)
        if (g->edges[i].fade == MG_FADE_GONE) {
            edge_drop(g, i);
            n++;
        }
    int pending = 0;
    for (int i = 0; i < g->n_edges; i++)
        pending |= g->edges[i].fade < 0;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        mg_node *d = g->nodes[i];
        int wired = 0;
        for (int k = 0; k < g->n_edges && !wired; k++)
            wired = g->edges[k].src == d || g->edges[k].dst == d;
        if (d->dying && !wired) {
            node_drop(g, d);
            n++;
        }
    }
    g->fading = pending;
    return n;
}

mg_status mg_graph_at(mg_graph *g, double t, mg_at_fn fn, void *ud, void (*free_ud)(void *ud))
{
    mg_status st = MG_OK;
    if (!(t >= 0 && t < 1e7))
        st = mg_graph_errorf(g, MG_ERR_RANGE, "at %g s: time must be in [0, 1e7) s", t);
    int64_t s = llround(t * g->rate);
    if (!st && g->started && s < (int64_t)g->pos) /* scheduled from an edit, for the past */
        s = (int64_t)g->pos;
    if (!st && g->n_at == g->cap_at) {
        int cap = g->cap_at ? 2 * g->cap_at : 16;
        mg_at *a = realloc(g->at, (size_t)cap * sizeof *a);
        if (!a)
            st = mg_graph_errorf(g, MG_ERR_NOMEM, "out of memory scheduling an edit");
        else {
            g->at = a;
            g->cap_at = cap;
        }
    }
    if (st) {
        if (free_ud)
            free_ud(ud);
        return st;
    }
    int k = g->n_at; /* after every edit at or before s: same-time edits keep their order */
    while (k > 0 && g->at[k - 1].s > s)
        k--;
    memmove(&g->at[k + 1], &g->at[k], (size_t)(g->n_at - k) * sizeof *g->at);
    g->at[k] = (mg_at){s, fn, ud, free_ud};
    g->n_at++;
    return MG_OK;
}

int64_t mg_graph_frames_to_at(const mg_graph *g)
{
    return g->n_at ? (g->at[0].s > (int64_t)g->pos ? g->at[0].s - (int64_t)g->pos : 0)
                   : INT64_MAX;
}

mg_status mg_graph_run_at(mg_graph *g, uint64_t until)
{
    while (g->n_at && g->at[0].s < (int64_t)until) {
        mg_at a = g->at[0];
        memmove(&g->at[0], &g->at[1], (size_t)(g->n_at - 1) * sizeof *g->at);
        g->n_at--;
        /* live: the edits land on their sample, whenever they were prepared */
        uint64_t pos = g->live ? mg_live_position(g->live) : g->pos;
        if (g->live)
            mg_graph_stamp(g, a.s > (int64_t)pos ? (uint64_t)a.s : 0);
        char err[1024] = "";
        int bad = a.fn(a.ud, g, err, sizeof err);
        if (a.free_ud)
            a.free_ud(a.ud);
        mg_status st = bad ? mg_graph_errorf(g, MG_ERR_SCRIPT, "%s", err) : MG_OK;
        if (!st && g->live)
            st = mg_graph_compile(g);
        mg_graph_stamp(g, 0);
        if (st)
            return st;
    }
    return MG_OK;
}

double mg_graph_xfade(const mg_graph *g) { return g->xfade; }

void mg_graph_stamp(mg_graph *g, uint64_t sample) { g->stamp = sample; }

mg_status mg_graph_set_xfade(mg_graph *g, double seconds)
{
    if (!(seconds >= 0 && seconds <= 1))
        return mg_graph_errorf(g, MG_ERR_RANGE, "crossfade %g s out of range [0, 1]", seconds);
    g->xfade = seconds;
    return MG_OK;
}

const char *mg_node_name(const mg_node *node) { return node->name; }
const mg_node_desc *mg_node_desc_of(const mg_node *node) { return node->d; }
mg_graph *mg_node_graph(const mg_node *node) { return node->g; }
const char *mg_node_origin(const mg_node *node) { return node->origin; }

void mg_node_set_origin(mg_node *node, const char *origin)
{
    free(node->origin);
    node->origin = origin ? dupstr(origin) : NULL;
}

double mg_node_opt_num(const mg_node *node, int opt) { return node->opt[opt].num; }
const char *mg_node_opt_str(const mg_node *node, int opt) { return node->opt[opt].str; }
int mg_node_multi_count(const mg_node *node) { return node->multi; }
void *mg_node_state(mg_node *node) { return node->state; }

int mg_node_option_index(const mg_node *node, const char *name)
{
    for (int i = 0; i < node->d->n_options; i++)
        if (strcmp(node->d->options[i].name, name) == 0)
            return i;
    return -1;
}

int mg_node_param_count(const mg_node *node) { return node->n_params; }
const char *mg_node_param_name(const mg_node *node, int i) { return node->params[i].name; }

int mg_node_param_index(const mg_node *node, const char *name)
{
    for (int i = 0; i < node->n_params; i++)
        if (strcmp(node->params[i].name, name) == 0)
            return i;
    return -1;
}

mg_status mg_node_set_index(mg_node *node, int i, double v)
{
    if (i < 0 || i >= node->n_params)
        return mg_node_errorf(node, MG_ERR_NOT_FOUND, "no parameter #%d", i);
    mg_param *p = &node->params[i];
    if (!(v >= p->d->min && v <= p->d->max) ||
        ((p->d->flags & MG_PARAM_INT || p->d->choices) && v != floor(v))) {
        if (p->d->choices)
            return mg_node_errorf(node, MG_ERR_RANGE, "%s %g is not a choice: one of %s",
                                  p->name, v, p->d->choices);
        char range[96];
        mg_param_range_str(p->d, range, sizeof range);
        return mg_node_errorf(node, MG_ERR_RANGE, "%s %g out of range %s%s", p->name, v, range,
                              (p->d->flags & MG_PARAM_INT) ? " (integers)" : "");
    }
    p->ctl = (float)v;
    /* live: the audio thread owns the running value; nodes not yet in a plan take it now */
    if (node->g->live && node->prepared)
        return mg_live_param(node->g->live, node, i, v, node->g->stamp);
    /* values given while the node is being made (create) apply at once */
    mg_status st = mg_param_reserve(p, 2);
    if (!st)
        st = mg_param_set(p, (float)v, node->g->pos, node->g->started && node->created,
                          node->g->rate);
    return st ? mg_node_errorf(node, st, "%s: out of memory for its events", p->name) : MG_OK;
}

mg_status mg_node_set(mg_node *node, const char *param, double v)
{
    int i = mg_node_param_index(node, param);
    if (i < 0)
        return mg_node_errorf(node, MG_ERR_NOT_FOUND, "%s has no parameter '%s'", node->d->name,
                              param);
    return mg_node_set_index(node, i, v);
}

double mg_node_get_index(const mg_node *node, int i) { return node->params[i].ctl; }
const mg_param_desc *mg_node_param_desc(const mg_node *node, int i) { return node->params[i].d; }

double mg_node_meter(const mg_node *node, const char *name)
{
    if (!node->d->meter || !node->d->meters || mg_choice_index(node->d->meters, name) < 0)
        return NAN;
    return node->d->meter(node->state, name);
}

double mg_node_response(const mg_node *node, double freq)
{
    if (!node->d->response)
        return NAN;
    return node->d->response(node->state, node, freq, node->g->rate);
}

/* ---- ports ---- */

int mg_node_input_count(const mg_node *node) { return node->n_in; }
int mg_node_output_count(const mg_node *node) { return node->n_out; }
const char *mg_node_input_name(const mg_node *node, int p) { return node->in[p].name; }
const char *mg_node_output_name(const mg_node *node, int p) { return node->out[p].name; }
int mg_node_input_channels(const mg_node *node, int p) { return node->in[p].channels; }
int mg_node_output_channels(const mg_node *node, int p) { return node->out[p].channels; }
int64_t mg_node_path_latency(const mg_node *node) { return node->path_latency; }

int mg_node_input_index(const mg_node *node, const char *name)
{
    for (int i = 0; i < node->n_in; i++)
        if (strcmp(node->in[i].name, name) == 0)
            return i;
    return -1;
}

int mg_node_output_index(const mg_node *node, const char *name)
{
    for (int i = 0; i < node->n_out; i++)
        if (strcmp(node->out[i].name, name) == 0)
            return i;
    return -1;
}

int mg_node_input_connections(const mg_node *node, int port)
{
    int k = 0;
    for (int i = 0; i < node->g->n_edges; i++)
        k += node->g->edges[i].dst == node && node->g->edges[i].in == port &&
             node->g->edges[i].fade >= 0;
    return k;
}

/* ---- connections ---- */

/*
** Depth-first search for a path from `from` to `to` that does not pass through a feedback
** node (delay). Records the path in path[] (returns its length, 0 if none).
*/
static int find_path(mg_graph *g, mg_node *from, mg_node *to, mg_node **path, int depth)
{
    path[depth] = from;
    if (from == to)
        return depth + 1;
    if (from->mark || (from->d->flags & MG_NODE_FEEDBACK))
        return 0;
    from->mark = 1;
    for (int i = 0; i < g->n_edges; i++)
        if (g->edges[i].src == from) {
            int len = find_path(g, g->edges[i].dst, to, path, depth + 1);
            if (len)
                return len;
        }
    return 0;
}

mg_status mg_connect(mg_node *src, int out_port, mg_node *dst, int in_port)
{
    mg_graph *g = src->g;
    if (dst->g != g)
        return mg_graph_errorf(g, MG_ERR_INVALID, "cannot connect '%s' to '%s': different graphs",
                               src->name, dst->name);
    if (out_port < 0 || out_port >= src->n_out)
        return mg_graph_errorf(g, MG_ERR_NOT_FOUND, "node '%s' (%s) has no output #%d",
                               src->name, src->d->name, out_port + 1);
    if (in_port < 0 || in_port >= dst->n_in)
        return mg_graph_errorf(g, MG_ERR_NOT_FOUND, "node '%s' (%s) has no input #%d",
                               dst->name, dst->d->name, in_port + 1);
    if (src->dying || dst->dying)
        return mg_graph_errorf(g, MG_ERR_INVALID, "'%s' was removed",
                               src->dying ? src->name : dst->name);
    for (int i = 0; i < g->n_edges; i++) {
        mg_edge *e = &g->edges[i];
        if (e->src != src || e->dst != dst || e->out != out_port || e->in != in_port)
            continue;
        if (e->fade >= 0)
            return mg_graph_errorf(g, MG_ERR_INVALID, "'%s' is already connected to '%s.%s'",
                                   src->name, dst->name, dst->in[in_port].name);
        /* connected again while fading out: not yet played keeps playing, else fade in */
        e->fade = e->fade == MG_FADE_OUT ? 0 : MG_FADE_IN;
        g->dirty = 1;
        return MG_OK;
    }
    /* A new edge src -> dst closes a cycle when dst already reaches src. It is legal only if
       every such cycle passes through a feedback node (src or dst themselves included). */
    if (!(src->d->flags & MG_NODE_FEEDBACK) && !(dst->d->flags & MG_NODE_FEEDBACK)) {
        mg_node **path = malloc((size_t)(g->n_nodes + 1) * sizeof *path);
        if (!path)
            return MG_ERR_NOMEM;
        for (int i = 0; i < g->n_nodes; i++)
            g->nodes[i]->mark = 0;
        int len = find_path(g, dst, src, path, 0);
        if (len) {
            /* a connection still fading out may close the loop: finish those fades now */
            int any = 0;
            for (int i = 0; i < g->n_edges; i++)
                any |= g->edges[i].fade < 0;
            if (any) {
                drop_fading(g);
                for (int i = 0; i < g->n_nodes; i++)
                    g->nodes[i]->mark = 0;
                len = find_path(g, dst, src, path, 0);
            }
        }
        if (len) {
            char msg[768];
            size_t o = 0;
            for (int i = 0; i < len && o < sizeof msg - 64; i++)
                o += (size_t)snprintf(msg + o, sizeof msg - o, "%s -> ", path[i]->name);
            snprintf(msg + o, sizeof msg - o, "%s", dst->name);
            free(path);
            return mg_graph_errorf(g, MG_ERR_CYCLE,
                                   "cycle: %s (route feedback through a delay node)", msg);
        }
        free(path);
    }
    if (g->n_edges == g->cap_edges) {
        int cap = g->cap_edges ? 2 * g->cap_edges : 32;
        mg_edge *e = realloc(g->edges, (size_t)cap * sizeof *e);
        if (!e)
            return MG_ERR_NOMEM;
        g->edges = e;
        g->cap_edges = cap;
    }
    g->edges[g->n_edges++] =
        (mg_edge){src, dst, out_port, in_port, 0, NULL, fades(g) ? MG_FADE_IN : 0};
    g->dirty = 1;
    return MG_OK;
}

mg_status mg_disconnect(mg_node *src, int out_port, mg_node *dst, int in_port)
{
    mg_graph *g = src->g;
    for (int i = 0; i < g->n_edges; i++) {
        mg_edge *e = &g->edges[i];
        if (e->src == src && e->dst == dst && e->out == out_port && e->in == in_port &&
            e->fade >= 0) {
            edge_fade_out(g, i);
            return MG_OK;
        }
    }
    return mg_graph_errorf(g, MG_ERR_NOT_FOUND, "'%s' is not connected to '%s'", src->name,
                           dst->name);
}

int mg_graph_edge_count(const mg_graph *g) { return g->n_edges; }

mg_edge_info mg_graph_edge(const mg_graph *g, int i)
{
    const mg_edge *e = &g->edges[i];
    return (mg_edge_info){e->src, e->dst, e->out, e->in};
}

/* ---- modulation ---- */

/* Does `from` reach `to` through connections or modulation (delays included)? */
static int reaches(mg_graph *g, mg_node *from, mg_node *to)
{
    if (from == to)
        return 1;
    if (from->mark)
        return 0;
    from->mark = 1;
    for (int i = 0; i < g->n_edges; i++)
        if (g->edges[i].src == from && reaches(g, g->edges[i].dst, to))
            return 1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i]->n_params; k++)
            if (g->nodes[i]->params[k].mod_src == from && reaches(g, g->nodes[i], to))
                return 1;
    return 0;
}

mg_status mg_node_param_modulate(mg_node *node, int i, mg_node *src, int port, double depth)
{
    mg_graph *g = node->g;
    if (i < 0 || i >= node->n_params)
        return mg_node_errorf(node, MG_ERR_NOT_FOUND, "no parameter #%d", i);
    mg_param *p = &node->params[i];
    if (!src || depth == 0) {
        p->mod_src = NULL;
        p->mod_depth = 0;
        g->dirty = 1;
        return MG_OK;
    }
    if (src->g != g || port < 0 || port >= src->n_out)
        return mg_node_errorf(node, MG_ERR_INVALID, "%s: cannot be modulated by '%s' output #%d",
                              p->name, src->name, port + 1);
    if (!isfinite(depth))
        return mg_node_errorf(node, MG_ERR_RANGE, "%s: modulation depth must be finite",
                              p->name);
    for (int k = 0; k < g->n_nodes; k++)
        g->nodes[k]->mark = 0;
    if (reaches(g, node, src))
        return mg_node_errorf(node, MG_ERR_CYCLE, "%s: modulation by '%s' would close a loop "
                              "('%s' depends on '%s')", p->name, src->name, src->name,
                              node->name);
    p->mod_src = src;
    p->mod_port = port;
    p->mod_depth = depth;
    g->dirty = 1;
    return MG_OK;
}

/* ---- stems ---- */

mg_status mg_graph_add_stem(mg_graph *g, mg_node *node, int port, const char *name,
                            int automatic)
{
    int explicit_ = 0;
    for (int i = 0; i < g->n_stems; i++)
        explicit_ |= !g->stems[i].automatic;
    if (automatic && explicit_)
        return MG_OK;
    if (port < 0 || port >= node->n_out)
        return mg_node_errorf(node, MG_ERR_INVALID, "stem: no output #%d", port + 1);
    if (!name || !*name || strchr(name, '/'))
        return mg_graph_errorf(g, MG_ERR_INVALID, "stem name '%s' must be a plain file name",
                               name ? name : "");
    if (!automatic && !explicit_) { /* the patch chooses: forget the mixer's buses */
        for (int i = 0; i < g->n_stems; i++)
            free(g->stems[i].name);
        g->n_stems = 0;
    }
    for (int i = 0; i < g->n_stems; i++)
        if (strcmp(g->stems[i].name, name) == 0)
            return mg_graph_errorf(g, MG_ERR_INVALID, "a stem named '%s' already exists", name);
    mg_stem *st = realloc(g->stems, (size_t)(g->n_stems + 1) * sizeof *st);
    if (!st)
        return MG_ERR_NOMEM;
    g->stems = st;
    char *nm = dupstr(name);
    if (!nm)
        return MG_ERR_NOMEM;
    g->stems[g->n_stems++] = (mg_stem){node, port, nm, automatic};
    g->dirty = 1;
    return MG_OK;
}

int mg_graph_stem_count(const mg_graph *g) { return g->n_stems; }
const char *mg_graph_stem_name(const mg_graph *g, int i) { return g->stems[i].name; }

/* ---- tempo map ---- */

mg_status mg_graph_tempo_change(mg_graph *g, double t, double bpm)
{
    if (!(bpm >= 20 && bpm <= 400))
        return mg_graph_errorf(g, MG_ERR_RANGE, "tempo %g BPM out of range [20, 400]", bpm);
    if (t <= 0) {
        g->n_tempo = 0;
        return mg_graph_set_tempo(g, bpm); /* live: through the engine's queue */
    }
    if (g->live) /* the audio thread reads the map: it may not move under it */
        return mg_graph_errorf(g, MG_ERR_INVALID, "tempo changes at a time cannot be added "
                               "while playing live (set g.tempo instead)");
    double last_t = g->n_tempo ? g->tempo_map[g->n_tempo - 1].t : 0;
    if (!(t > last_t && t < 1e7))
        return mg_graph_errorf(g, MG_ERR_INVALID, "tempo change at %g s must come after the "
                               "previous one (%g s)", t, last_t);
    mg_tempo_seg *m = realloc(g->tempo_map, (size_t)(g->n_tempo + 1) * sizeof *m);
    if (!m)
        return MG_ERR_NOMEM;
    g->tempo_map = m;
    double beat = mg_graph_beat_at(g, t);
    m[g->n_tempo++] = (mg_tempo_seg){t, bpm, beat};
    return MG_OK;
}

/* The tempo segment in force at time x (by_beat 0) or beat x (by_beat 1): its start time,
   beats elapsed at its start and tempo. */
static void tempo_seg(const mg_graph *g, int by_beat, double x, double *t0, double *b0,
                      double *bpm)
{
    *t0 = 0, *b0 = 0, *bpm = g->tempo;
    for (int i = 0; i < g->n_tempo && (by_beat ? g->tempo_map[i].beat : g->tempo_map[i].t) <= x;
         i++) {
        *t0 = g->tempo_map[i].t;
        *b0 = g->tempo_map[i].beat;
        *bpm = g->tempo_map[i].bpm;
    }
}

double mg_graph_beat_at(const mg_graph *g, double t)
{
    double t0, b0, bpm;
    tempo_seg(g, 0, t, &t0, &b0, &bpm);
    return b0 + (t - t0) * bpm / 60.0;
}

double mg_graph_beat_time(const mg_graph *g, double beat)
{
    double t0, b0, bpm;
    tempo_seg(g, 1, beat, &t0, &b0, &bpm);
    return t0 + (beat - b0) * 60.0 / bpm;
}

double mg_graph_tempo_at(const mg_graph *g, double t)
{
    double t0, b0, bpm;
    tempo_seg(g, 0, t, &t0, &b0, &bpm);
    return bpm;
}

/* Tempo in force at graph frame pos: a change at t seconds takes effect at frame round(t * rate). */
double mg_graph_tempo_at_frame(const mg_graph *g, uint64_t pos)
{
    double bpm = g->tempo;
    for (int i = 0; i < g->n_tempo && llround(g->tempo_map[i].t * g->rate) <= (int64_t)pos; i++)
        bpm = g->tempo_map[i].bpm;
    return bpm;
}

int64_t mg_graph_frames_to_change(const mg_graph *g)
{
    for (int i = 0; i < g->n_tempo; i++) {
        int64_t s = llround(g->tempo_map[i].t * g->rate);
        if (s > (int64_t)g->pos)
            return s - (int64_t)g->pos;
    }
    return INT64_MAX;
}
