/*
** update.c: bring one graph to the shape of another, matching nodes by name (live reloads).
** [control]
**
** A node of `dst` whose name, type and options match a node of `src` is kept, with its state
** (a reverb's tail, a filter's memory) and takes src's parameter values as ordinary parameter
** changes (smoothed). Other dst nodes are removed and src nodes without a match are created.
** Then connections are diffed the same way. While the graph plays, removed connections fade
** out and new ones fade in (see the crossfade in plan.c).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_internal.h"

static int same_options(const mg_node *a, const mg_node *b)
{
    if (a->d != b->d)
        return 0;
    for (int i = 0; i < a->d->n_options; i++) {
        const mg_optval *x = &a->opt[i], *y = &b->opt[i];
        if (x->num != y->num)
            return 0;
        if ((x->str == NULL) != (y->str == NULL) || (x->str && strcmp(x->str, y->str) != 0))
            return 0;
    }
    return 1;
}

/* Options of src node n as an mg_opt list (strings borrowed from n; choice names written to
   names[i], which must hold n_options entries of 64 bytes). */
static mg_opt *options_of(const mg_node *n, char (*names)[64])
{
    mg_opt *o = calloc((size_t)n->d->n_options + 1, sizeof *o);
    if (!o)
        return NULL;
    for (int i = 0; i < n->d->n_options; i++) {
        const mg_option_desc *od = &n->d->options[i];
        o[i].name = od->name;
        o[i].str = n->opt[i].str;
        o[i].num = n->opt[i].num;
        if (od->type == MG_OPT_ENUM) /* choices are given by name */
            o[i].str = mg_choice_name(od->choices, (int)n->opt[i].num, names[i], 64);
    }
    return o;
}

static mg_node *counterpart(mg_graph *g, const mg_node *n, mg_graph *src)
{
    return n == src->output ? g->output : mg_graph_find(g, n->name);
}

mg_status mg_graph_update(mg_graph *dst, mg_graph *src, int *changed)
{
    int nchg = 0;
    if (dst->rate != src->rate || dst->block != src->block || dst->channels != src->channels)
        return mg_graph_errorf(dst, MG_ERR_INVALID, "the new patch changes the rate, block "
                               "size or output channels; restart to apply that");
    /* 1. nodes of dst that have no identical counterpart go */
    for (int i = dst->n_nodes - 1; i >= 0; i--) {
        mg_node *n = dst->nodes[i];
        if (n == dst->output || n->dying)
            continue;
        mg_node *m = mg_graph_find(src, n->name);
        if (m && same_options(n, m))
            continue;
        mg_status st = mg_node_remove(n);
        if (st)
            return st;
        nchg++;
    }
    /* 2. new nodes; parameter values of all */
    for (int i = 0; i < src->n_nodes; i++) {
        mg_node *m = src->nodes[i];
        mg_node *n = counterpart(dst, m, src);
        if (!n) {
            char(*names)[64] = calloc((size_t)m->d->n_options + 1, sizeof *names);
            mg_opt *o = names ? options_of(m, names) : NULL;
            if (!o) {
                free(names);
                return MG_ERR_NOMEM;
            }
            n = mg_node_new(dst, m->d->name, m->name, o, m->d->n_options);
            free(o);
            free(names);
            if (!n)
                return mg_graph_error_node(dst) ? MG_ERR_INVALID : MG_ERR_NOMEM;
            if (m->origin)
                mg_node_set_origin(n, m->origin);
            nchg++;
        }
        for (int k = 0; k < m->n_params && k < n->n_params; k++)
            if (m->params[k].ctl != n->params[k].ctl) {
                mg_status st = mg_node_set_index(n, k, m->params[k].ctl);
                if (st)
                    return st;
                nchg++;
            }
    }
    /* 3. connections: remove what src lacks, add what dst lacks */
    for (int i = dst->n_edges - 1; i >= 0; i--) {
        mg_edge e = dst->edges[i];
        if (e.fade < 0)
            continue;
        mg_node *s = e.src == dst->output ? src->output : mg_graph_find(src, e.src->name);
        mg_node *d = e.dst == dst->output ? src->output : mg_graph_find(src, e.dst->name);
        int keep = 0;
        for (int k = 0; s && d && k < src->n_edges && !keep; k++) {
            const mg_edge *f = &src->edges[k];
            keep = f->src == s && f->dst == d && f->out == e.out && f->in == e.in;
        }
        if (!keep) {
            mg_status st = mg_disconnect(e.src, e.out, e.dst, e.in);
            if (st)
                return st;
            nchg++;
        }
    }
    for (int k = 0; k < src->n_edges; k++) {
        const mg_edge *f = &src->edges[k];
        mg_node *s = counterpart(dst, f->src, src), *d = counterpart(dst, f->dst, src);
        int have = 0;
        for (int i = 0; i < dst->n_edges && !have; i++) {
            const mg_edge *e = &dst->edges[i];
            have = e->fade >= 0 && e->src == s && e->dst == d && e->out == f->out &&
                   e->in == f->in;
        }
        if (!have) {
            mg_status st = mg_connect(s, f->out, d, f->in);
            if (st)
                return st;
            nchg++;
        }
    }
    if (src->tempo != dst->tempo)
        mg_graph_set_tempo(dst, src->tempo);
    if (changed)
        *changed = nchg;
    return MG_OK;
}
