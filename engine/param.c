/*
** param.c: parameter automation: timelines of sample-stamped events (Web Audio semantics),
** immediate changes with smoothing, audio-rate modulation at render time, and generated
** (Lua function) automation.
**
** Two sides (see mg_timeline.h):
**   [rt]       mg_timeline_* and mg_param_render: evaluate and edit a timeline inside its fixed
**              array; no allocation, locks or I/O. Values are computed from the absolute sample
**              index in double precision, never by accumulating increments, so the samples are
**              the same whatever the block size.
**   [control]  mg_node_param_event, mg_param_set, generators: validate, convert seconds to
**              samples (round(t * rate)), copy curve values, grow arrays, then insert.
**
** Evaluation. Events sort by their time: the start of a set, target or curve, the end of a
** ramp (or the hold that cuts it). An event is "reached" at its time and becomes `last`; it
** leaves an anchor (time, value) where a following ramp starts: a set's own time and value, a
** ramp's end, a curve's end and last value, a target's start and the value it started from (a
** ramp after a target replaces it, as in Web Audio). At sample t the value is the pending
** ramp's (when the next event is a ramp and t is past its anchor), otherwise what `last` says.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_internal.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- the timeline, [rt] ---- */

static int is_ramp(mg_event_type t)
{
    return t == MG_EV_LINEAR || t == MG_EV_EXP || t == MG_EV_SCURVE || t == MG_EV_STEP;
}

int64_t mg_tl_event_time(const mg_tl_event *e)
{
    return is_ramp(e->type) && e->cut < e->s ? e->cut : e->s;
}

/* A ramp's value at t, from the anchor (a_s, a_v) to (e->s, e->v). */
static double ramp_value(double a_v, int64_t a_s, const mg_tl_event *e, int64_t t)
{
    if (e->s <= a_s || t >= e->s)
        return e->v;
    if (t <= a_s)
        return a_v;
    int64_t len = e->s - a_s;
    double f = (double)(t - a_s) / (double)len, d = e->v - a_v;
    switch (e->type) {
    case MG_EV_LINEAR:
        if (fabs(e->k) < 1e-9)
            return a_v + d * f;
        return a_v + d * (expm1(e->k * f) / expm1(e->k));
    case MG_EV_EXP:
        if (!(a_v * e->v > 0)) /* through 0: hold, then jump at the end (Web Audio) */
            return a_v;
        return a_v * pow(e->v / a_v, f);
    case MG_EV_SCURVE:
        return a_v + d * 0.5 * (1.0 - cos(M_PI * f));
    case MG_EV_STEP: {
        int64_t k = e->k >= 1 ? (int64_t)e->k : 1;
        return a_v + d * (double)((t - a_s) * k / len) / (double)k;
    }
    default:
        return e->v;
    }
}

/* What the last reached event gives at t (no ramp pending). */
static double state_value(const mg_tl_state *st, int64_t t)
{
    const mg_tl_event *e = &st->last;
    switch (e->type) {
    case MG_EV_TARGET:
        if (e->k <= 0)
            return e->v;
        if (t <= e->s)
            return st->v0;
        return e->v + (st->v0 - e->v) * exp(-(double)(t - e->s) / e->k);
    case MG_EV_CURVE: {
        if (t >= e->s + e->len)
            return e->curve[e->n_curve - 1];
        if (t <= e->s)
            return e->curve[0];
        double x = (double)(t - e->s) * (double)(e->n_curve - 1) / (double)e->len;
        int k = (int)x;
        if (k >= e->n_curve - 1)
            return e->curve[e->n_curve - 1];
        double f = x - k;
        return e->curve[k] + (e->curve[k + 1] - e->curve[k]) * f;
    }
    case MG_EV_SET:
        return e->v;
    default: /* a finished ramp */
        return st->anchor_v;
    }
}

static double value_with(const mg_tl_state *st, const mg_tl_event *next, int64_t t)
{
    if (next && is_ramp(next->type) && t >= st->anchor_s)
        return ramp_value(st->anchor_v, st->anchor_s, next, t);
    return state_value(st, t);
}

static void reach(mg_tl_state *st, const mg_tl_event *e)
{
    int64_t t = mg_tl_event_time(e);
    switch (e->type) {
    case MG_EV_TARGET:
        st->v0 = state_value(st, t);
        st->anchor_s = t;
        st->anchor_v = st->v0;
        break;
    case MG_EV_CURVE:
        st->anchor_s = e->s + e->len;
        st->anchor_v = e->curve[e->n_curve - 1];
        break;
    case MG_EV_SET:
        st->anchor_s = t;
        st->anchor_v = e->v;
        break;
    default: { /* ramps */
        double v = e->v;
        if (e->cut < e->s) /* stopped by a hold: the value the ramp had there */
            v = t >= st->anchor_s ? ramp_value(st->anchor_v, st->anchor_s, e, t)
                                  : state_value(st, t);
        st->anchor_s = t;
        st->anchor_v = v;
        break;
    }
    }
    st->last = *e;
}

static void state_init(mg_tl_state *st, double v)
{
    memset(st, 0, sizeof *st);
    st->last.type = MG_EV_SET;
    st->last.v = v;
    st->last.cut = INT64_MAX;
    st->anchor_v = st->v0 = v;
}

void mg_timeline_rewind(mg_timeline *tl)
{
    tl->head = 0;
    tl->steady = 0;
    state_init(&tl->st, tl->init);
}

/* The state after reaching every pending event up to time s; *next_i: the first one left. */
static mg_tl_state state_at(const mg_timeline *tl, int64_t s, int *next_i)
{
    mg_tl_state st = tl->st;
    int i = tl->head;
    for (; i < tl->n && mg_tl_event_time(&tl->ev[i]) <= s; i++)
        reach(&st, &tl->ev[i]);
    if (next_i)
        *next_i = i;
    return st;
}

double mg_timeline_value_at(const mg_timeline *tl, int64_t s)
{
    int i;
    mg_tl_state st = state_at(tl, s, &i);
    return value_with(&st, i < tl->n ? &tl->ev[i] : NULL, s);
}

/* First pending index whose time is > t (events of equal time stay in insertion order). */
static int upper(const mg_timeline *tl, int64_t t)
{
    int lo = tl->head, hi = tl->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (mg_tl_event_time(&tl->ev[mid]) <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int place(mg_timeline *tl, const mg_tl_event *e)
{
    if (tl->n == tl->cap) {
        if (tl->head == 0) {
            tl->overflow++;
            return -1;
        }
        memmove(tl->ev, tl->ev + tl->head, (size_t)(tl->n - tl->head) * sizeof *tl->ev);
        tl->n -= tl->head;
        tl->head = 0;
        tl->compacted = 1;
    }
    int i = upper(tl, mg_tl_event_time(e));
    memmove(tl->ev + i + 1, tl->ev + i, (size_t)(tl->n - i) * sizeof *tl->ev);
    tl->ev[i] = *e;
    tl->ev[i].cut = is_ramp(e->type) ? e->cut : INT64_MAX;
    tl->n++;
    return 0;
}

int mg_timeline_insert(mg_timeline *tl, const mg_tl_event *e)
{
    tl->steady = 0;
    if (e->type == MG_EV_CANCEL) {
        int i = upper(tl, e->s - 1); /* first pending event at or after s */
        tl->n = i;
        return 0;
    }
    if (e->type != MG_EV_HOLD)
        return place(tl, e);
    /* hold: cut a ramp running at s, drop everything after s, hold the value from s */
    int i;
    mg_tl_state st = state_at(tl, e->s, &i);
    double v = value_with(&st, i < tl->n ? &tl->ev[i] : NULL, e->s);
    if (i < tl->n && is_ramp(tl->ev[i].type) && st.anchor_s <= e->s) {
        tl->ev[i].cut = e->s;
        tl->n = i + 1;
        return 0;
    }
    tl->n = i;
    mg_tl_event set = {.type = MG_EV_SET, .s = e->s, .v = v, .cut = INT64_MAX};
    return place(tl, &set);
}

static int state_constant(const mg_tl_state *st, int64_t pos)
{
    const mg_tl_event *e = &st->last;
    if (e->type == MG_EV_TARGET)
        return e->k <= 0;
    if (e->type == MG_EV_CURVE)
        return pos >= e->s + e->len;
    return 1;
}

int mg_timeline_render(mg_timeline *tl, int64_t pos, uint32_t n, float *out)
{
    int64_t end = pos + (int64_t)n;
    while (tl->head < tl->n && mg_tl_event_time(&tl->ev[tl->head]) <= pos)
        reach(&tl->st, &tl->ev[tl->head++]);
    const mg_tl_event *nx = tl->head < tl->n ? &tl->ev[tl->head] : NULL;
    if (state_constant(&tl->st, pos) &&
        (!nx || (mg_tl_event_time(nx) >= end && !(is_ramp(nx->type) && tl->st.anchor_s < end)))) {
        out[0] = (float)value_with(&tl->st, nx, pos);
        tl->steady = !nx; /* nothing will move until the next insert or rewind */
        return 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        int64_t t = pos + (int64_t)i;
        while (tl->head < tl->n && mg_tl_event_time(&tl->ev[tl->head]) <= t)
            reach(&tl->st, &tl->ev[tl->head++]);
        out[i] = (float)value_with(&tl->st, tl->head < tl->n ? &tl->ev[tl->head] : NULL, t);
    }
    return 0;
}

/* ---- a node's parameter ---- */

mg_status mg_param_init(mg_param *p, const mg_param_desc *d, const char *name)
{
    memset(p, 0, sizeof *p);
    p->d = d;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->value = p->ctl = (float)d->def;
    p->tl.init = d->def;
    mg_timeline_rewind(&p->tl);
    p->tl.ev = malloc(MG_TIMELINE_CAP * sizeof *p->tl.ev); /* room for real-time inserts */
    p->tl.cap = p->tl.ev ? MG_TIMELINE_CAP : 0;
    return p->tl.ev ? MG_OK : MG_ERR_NOMEM;
}

void mg_param_free(mg_param *p)
{
    free(p->tl.ev);
    for (int i = 0; i < p->n_curves; i++)
        free(p->curves[i]);
    free(p->curves);
    if (p->gen && p->gen->free_ud)
        p->gen->free_ud(p->gen->ud);
    free(p->gen);
    memset(&p->tl, 0, sizeof p->tl);
    p->curves = NULL;
    p->gen = NULL;
}

/* [control] Insert, growing the array when it is full. */
static mg_status insert_control(mg_param *p, const mg_tl_event *e)
{
    mg_status st = mg_param_reserve(p, 1);
    return st ? st : mg_timeline_insert(&p->tl, e) ? MG_ERR_NOMEM : MG_OK;
}

mg_status mg_param_reserve(mg_param *p, int more)
{
    while (p->tl.n + more > p->tl.cap) {
        int cap = p->tl.cap ? 2 * p->tl.cap : MG_TIMELINE_CAP;
        mg_tl_event *ev = realloc(p->tl.ev, (size_t)cap * sizeof *ev);
        if (!ev)
            return MG_ERR_NOMEM;
        p->tl.ev = ev;
        p->tl.cap = cap;
    }
    return MG_OK;
}

mg_status mg_param_set(mg_param *p, float v, uint64_t now, int smooth, double rate)
{
    int64_t len = smooth ? (int64_t)llround(p->d->smooth_ms * 0.001 * rate) : 0;
    if (!smooth) {
        p->tl.init = v;
        p->value = v;
        mg_timeline_rewind(&p->tl);
        return MG_OK;
    }
    mg_tl_event hold = {.type = MG_EV_HOLD, .s = (int64_t)now, .cut = INT64_MAX};
    mg_tl_event to = {.type = len ? MG_EV_LINEAR : MG_EV_SET, .s = (int64_t)now + len, .v = v,
                      .cut = INT64_MAX};
    /* no allocation here: a live engine applies this on the audio thread */
    if (mg_timeline_insert(&p->tl, &hold) || mg_timeline_insert(&p->tl, &to))
        return MG_ERR_NOMEM;
    return MG_OK;
}

void mg_param_settle(mg_param *p)
{
    mg_timeline_rewind(&p->tl);
    p->value = (float)p->tl.init;
}

void mg_param_render(mg_param *p, uint64_t pos, uint32_t n, float *scratch, mg_pval *pv,
                     const float *mod, float depth)
{
    if (p->tl.steady && !mod) { /* the common case: nothing scheduled, value unchanged */
        pv->v = &p->value;
        pv->constant = 1;
        return;
    }
    int c = mg_timeline_render(&p->tl, (int64_t)pos, n, scratch);
    if (c && !mod) {
        p->value = scratch[0];
        pv->v = &p->value;
        pv->constant = 1;
        return;
    }
    if (c)
        for (uint32_t i = 1; i < n; i++)
            scratch[i] = scratch[0];
    if (mod) {
        p->tl.steady = 0; /* p->value will hold a modulated value */
        float lo = (float)p->d->min, hi = (float)p->d->max;
        for (uint32_t i = 0; i < n; i++) {
            float v = scratch[i] + depth * mod[i];
            scratch[i] = v < lo ? lo : v > hi ? hi : v == v ? v : lo;
        }
    }
    pv->v = scratch;
    pv->constant = 0;
    p->value = scratch[n - 1];
}

void mg_param_range_str(const mg_param_desc *d, char *buf, size_t sz)
{
    snprintf(buf, sz, "[%g, %g]%s%s", d->min, d->max, d->unit && *d->unit ? " " : "",
             d->unit ? d->unit : "");
}

/* ---- events from the control thread ---- */

static const char *const event_names[] = {"set",     "linear_to", "exp_to", "scurve_to",
                                          "step_to", "target",    "curve",  "cancel",
                                          "hold"};

static mg_status check_value(mg_node *node, mg_param *p, const char *what, double v)
{
    if (v >= p->d->min && v <= p->d->max)
        return MG_OK;
    char range[96];
    mg_param_range_str(p->d, range, sizeof range);
    return mg_node_errorf(node, MG_ERR_RANGE, "%s: %s %g out of range %s", p->name, what, v,
                          range);
}

/* A pending curve whose span contains sample s strictly inside, or NULL. */
static const mg_tl_event *curve_around(const mg_timeline *tl, int64_t s)
{
    for (int i = tl->head; i < tl->n; i++) {
        const mg_tl_event *c = &tl->ev[i];
        if (c->type == MG_EV_CURVE && s > c->s && s < c->s + c->len)
            return c;
    }
    return NULL;
}

mg_status mg_node_param_event(mg_node *node, int i, const mg_param_event *e)
{
    mg_tl_event x;
    mg_status st = mg_node_param_event_prepare(node, i, e, &x);
    if (st)
        return st;
    /* the audio thread owns a live node's timeline: the event goes through the live queue */
    if (node->g->live && node->prepared)
        return mg_live_event(node->g->live, node, i, &x);
    return insert_control(&node->params[i], &x);
}

mg_status mg_node_param_event_prepare(mg_node *node, int i, const mg_param_event *e,
                                      mg_tl_event *out)
{
    if (i < 0 || i >= node->n_params)
        return mg_node_errorf(node, MG_ERR_NOT_FOUND, "no parameter #%d", i);
    mg_param *p = &node->params[i];
    double rate = node->g->rate;
    if ((unsigned)e->type > MG_EV_HOLD)
        return mg_node_errorf(node, MG_ERR_INVALID, "%s: unknown event type", p->name);
    const char *what = event_names[e->type];
    if (!(e->t >= 0 && e->t < 1e7))
        return mg_node_errorf(node, MG_ERR_RANGE, "%s: %s at %g s: time must be in [0, 1e7) s",
                              p->name, what, e->t);
    mg_tl_event x = {.type = e->type, .s = llround(e->t * rate), .v = e->v, .cut = INT64_MAX};
    mg_status st = MG_OK;
    switch (e->type) {
    case MG_EV_CANCEL:
    case MG_EV_HOLD:
        return *out = x, MG_OK;
    case MG_EV_CURVE: {
        if (e->n_values < 2 || !e->values)
            return mg_node_errorf(node, MG_ERR_INVALID, "%s: curve needs at least 2 values",
                                  p->name);
        if (!(e->dur > 0 && e->dur < 1e7))
            return mg_node_errorf(node, MG_ERR_RANGE, "%s: curve duration %g s must be > 0",
                                  p->name, e->dur);
        for (int k = 0; k < e->n_values; k++)
            if ((st = check_value(node, p, "curve value", e->values[k])))
                return st;
        x.len = llround(e->dur * rate);
        x.len = x.len < 1 ? 1 : x.len;
        for (int k = p->tl.head; k < p->tl.n; k++) {
            const mg_tl_event *o = &p->tl.ev[k];
            int64_t ot = mg_tl_event_time(o), oend = o->type == MG_EV_CURVE ? ot + o->len : ot;
            if (oend >= x.s && ot <= x.s + x.len)
                return mg_node_errorf(node, MG_ERR_INVALID,
                                      "%s: curve from %g s to %g s overlaps the %s at %g s",
                                      p->name, e->t, e->t + e->dur, event_names[o->type],
                                      (double)ot / rate);
        }
        float *vals = malloc((size_t)e->n_values * sizeof *vals);
        float **list = realloc(p->curves, (size_t)(p->n_curves + 1) * sizeof *list);
        if (!vals || !list) {
            free(vals);
            if (list)
                p->curves = list;
            return MG_ERR_NOMEM;
        }
        p->curves = list;
        p->curves[p->n_curves++] = vals;
        for (int k = 0; k < e->n_values; k++)
            vals[k] = (float)e->values[k];
        x.curve = vals;
        x.n_curve = e->n_values;
        return *out = x, MG_OK;
    }
    default:
        break;
    }
    if ((st = check_value(node, p, "value", e->v)))
        return st;
    const mg_tl_event *c = curve_around(&p->tl, x.s);
    if (c)
        return mg_node_errorf(node, MG_ERR_INVALID,
                              "%s: %s at %g s falls inside the curve from %g s to %g s", p->name,
                              what, e->t, (double)c->s / rate, (double)(c->s + c->len) / rate);
    switch (e->type) {
    case MG_EV_LINEAR:
        if (!(fabs(e->k) <= 50))
            return mg_node_errorf(node, MG_ERR_RANGE, "%s: curvature %g out of range [-50, 50]",
                                  p->name, e->k);
        x.k = e->k;
        break;
    case MG_EV_STEP:
        if (e->k != floor(e->k) || e->k < 0 || e->k > 1e6)
            return mg_node_errorf(node, MG_ERR_RANGE, "%s: step_to needs a whole number of "
                                  "steps >= 1, got %g", p->name, e->k);
        x.k = e->k < 1 ? 1 : e->k;
        break;
    case MG_EV_EXP: {
        if (e->v == 0)
            return mg_node_errorf(node, MG_ERR_RANGE, "%s: exp_to 0: an exponential ramp cannot "
                                  "reach 0 (use linear_to or target)", p->name);
        mg_tl_state s0 = state_at(&p->tl, x.s, NULL);
        if (!(s0.anchor_v * e->v > 0))
            return mg_node_errorf(node, MG_ERR_RANGE, "%s: exp_to %g: an exponential ramp cannot "
                                  "pass through 0 (it starts from %g)", p->name, e->v,
                                  s0.anchor_v);
        break;
    }
    case MG_EV_TARGET:
        if (!(e->tau >= 0 && e->tau < 1e7))
            return mg_node_errorf(node, MG_ERR_RANGE, "%s: target time constant %g s must be "
                                  ">= 0", p->name, e->tau);
        x.k = e->tau * rate;
        if (x.k < 1e-9)
            x.type = MG_EV_SET;
        break;
    default:
        break;
    }
    return *out = x, MG_OK;
}

double mg_node_param_value_at(const mg_node *node, int i, double t)
{
    const mg_param *p = &node->params[i];
    int64_t s = llround(t * node->g->rate);
    if (s < (int64_t)node->g->pos)
        s = (int64_t)node->g->pos;
    return mg_timeline_value_at(&p->tl, s);
}

uint64_t mg_node_param_overflow(const mg_node *node, int i) { return node->params[i].tl.overflow; }

/* ---- generated automation ---- */

mg_status mg_node_param_generate(mg_node *node, int i, double rate, double start,
                                 mg_param_fn fn, void *ud, void (*free_ud)(void *ud))
{
    mg_param *p = &node->params[i];
    if (!fn) {
        if (p->gen && p->gen->free_ud)
            p->gen->free_ud(p->gen->ud);
        free(p->gen);
        p->gen = NULL;
        return MG_OK;
    }
    if (node->g->live && node->prepared) {
        /* its timeline would need room the audio thread cannot make */
        if (free_ud)
            free_ud(ud);
        return mg_node_errorf(node, MG_ERR_INVALID, "%s: fn cannot be added while playing "
                              "live (put it in the patch, or schedule events)", p->name);
    }
    if (!(rate > 0 && rate <= node->g->rate)) {
        if (free_ud)
            free_ud(ud);
        return mg_node_errorf(node, MG_ERR_RANGE, "%s: fn rate %g Hz out of range (0, %g]",
                              p->name, rate, node->g->rate);
    }
    if (!(start >= 0 && start < 1e7)) {
        if (free_ud)
            free_ud(ud);
        return mg_node_errorf(node, MG_ERR_RANGE, "%s: fn start %g s must be >= 0", p->name,
                              start);
    }
    mg_param_gen *gn = calloc(1, sizeof *gn);
    if (!gn) {
        if (free_ud)
            free_ud(ud);
        return MG_ERR_NOMEM;
    }
    if (p->gen && p->gen->free_ud)
        p->gen->free_ud(p->gen->ud);
    free(p->gen);
    *gn = (mg_param_gen){fn, ud, free_ud, rate, start, INFINITY, 0, -1};
    p->gen = gn;
    return MG_OK;
}

mg_status mg_node_param_generate_stop(mg_node *node, int i, double stop)
{
    mg_param *p = &node->params[i];
    if (!p->gen)
        return mg_node_errorf(node, MG_ERR_INVALID, "%s: no fn to stop", p->name);
    if (!(stop >= p->gen->start))
        return mg_node_errorf(node, MG_ERR_RANGE, "%s: fn stop %g s comes before its start "
                              "%g s", p->name, stop, p->gen->start);
    p->gen->stop = stop;
    return MG_OK;
}

/* [control] One call of the generator: the next control point becomes an event, inserted
   (sink NULL) or handed to the sink. */
static mg_status gen_step(mg_node *node, mg_param *p, mg_event_sink sink, void *ud)
{
    mg_param_gen *gn = p->gen;
    mg_graph *g = node->g;
    double t = gn->start + (double)gn->k / gn->rate, v = 0;
    char err[512] = "";
    if (gn->fn(gn->ud, t, &v, err, sizeof err)) {
        mg_graph_errorf(g, MG_ERR_SCRIPT, "%s", err);
        return MG_ERR_SCRIPT;
    }
    if (!isfinite(v))
        return mg_node_errorf(node, MG_ERR_SCRIPT, "%s: fn returned %g at %g s", p->name, v, t);
    v = v < p->d->min ? p->d->min : v > p->d->max ? p->d->max : v;
    mg_tl_event x = {.type = gn->k ? MG_EV_LINEAR : MG_EV_SET, .s = llround(t * g->rate),
                     .v = v, .cut = INT64_MAX};
    mg_status st = sink ? sink(ud, node, (int)(p - node->params), &x) : insert_control(p, &x);
    if (st)
        return st == MG_ERR_NOMEM
                   ? mg_node_errorf(node, st, "%s: out of memory for its events", p->name)
                   : st;
    gn->k++;
    gn->last_s = x.s;
    return MG_OK;
}

/*
** Calls go out in time order across all generators (ties: node, then parameter order) until
** every generator covers `until`, so the calls made are always a prefix of one sequence,
** whatever steps the caller advances by: functions sharing state (mixgraph.random) give the
** same values for every block size.
*/
mg_status mg_graph_advance(mg_graph *g, int64_t until)
{
    return mg_graph_advance_to(g, until, NULL, NULL);
}

mg_status mg_graph_advance_to(mg_graph *g, int64_t until, mg_event_sink sink, void *ud)
{
    for (;;) {
        mg_node *bn = NULL;
        mg_param *bp = NULL;
        double bt = INFINITY;
        int behind = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            mg_node *n = g->nodes[i];
            for (int k = 0; k < n->n_params; k++) {
                mg_param_gen *gn = n->params[k].gen;
                double t = gn ? gn->start + (double)gn->k / gn->rate : 0;
                if (!gn || t > gn->stop)
                    continue;
                behind |= gn->last_s < until;
                if (t < bt) {
                    bt = t;
                    bn = n;
                    bp = &n->params[k];
                }
            }
        }
        if (!behind)
            return MG_OK;
        mg_status st = gen_step(bn, bp, sink, ud);
        if (st)
            return st;
    }
}

mg_timeline *mg_node_param_timeline(mg_node *node, int i) { return &node->params[i].tl; }
