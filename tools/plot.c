/*
** plot.c: the SVG of `mixgraph analyze --plot` (plot.h). [control], main thread.
**
** Two panels, drawn with plain SVG elements: loudness over time (momentary thin, short-term
** thick, integrated dashed, target dotted) on a LUFS axis, and the averaged spectrum smoothed
** to 1/12 octave on a log frequency axis from 20 Hz to 20 kHz.
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plot.h"

#define W 960
#define PH 300 /* panel height */
#define ML 70  /* left margin */
#define MR 30
#define MT 60
#define GAP 80
#define H (MT + PH + GAP + PH + 50)

typedef struct panel {
    double x0, x1, y0, y1; /* data range */
    int top;               /* pixel top */
    int logx;
} panel;

static double px(const panel *p, double x)
{
    double f = p->logx ? (log10(x) - log10(p->x0)) / (log10(p->x1) - log10(p->x0))
                       : (x - p->x0) / (p->x1 - p->x0);
    return ML + f * (W - ML - MR);
}

static double py(const panel *p, double y)
{
    if (y < p->y0)
        y = p->y0;
    if (y > p->y1)
        y = p->y1;
    return p->top + (p->y1 - y) / (p->y1 - p->y0) * PH;
}

static void frame(FILE *f, const panel *p, const char *title, const char *ylabel, double ystep)
{
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='#fff' stroke='#888'/>\n", ML,
            p->top, W - ML - MR, PH);
    fprintf(f, "<text x='%d' y='%d' font-size='15' font-weight='bold'>%s</text>\n", ML,
            p->top - 10, title);
    for (double y = ceil(p->y0 / ystep) * ystep; y <= p->y1 + 1e-9; y += ystep) {
        fprintf(f, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/>\n", ML, W - MR,
                py(p, y), py(p, y));
        fprintf(f, "<text x='%d' y='%.1f' font-size='11' text-anchor='end'>%g</text>\n", ML - 6,
                py(p, y) + 4, y);
    }
    fprintf(f, "<text x='16' y='%d' font-size='12' transform='rotate(-90 16 %d)' "
               "text-anchor='middle'>%s</text>\n",
            p->top + PH / 2, p->top + PH / 2, ylabel);
}

static void xtick(FILE *f, const panel *p, double x, const char *label)
{
    double X = px(p, x);
    fprintf(f, "<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='#ddd'/>\n", X, X, p->top,
            p->top + PH);
    fprintf(f, "<text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%s</text>\n", X,
            p->top + PH + 16, label);
}

/* A polyline of the finite points of y[i] at x0 + i * dx; gaps where y is not finite. */
static void series(FILE *f, const panel *p, const double *y, size_t n, double x0, double dx,
                   const char *style)
{
    int open = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i]) || y[i] < p->y0 - 10) {
            if (open)
                fprintf(f, "'/>\n");
            open = 0;
            continue;
        }
        if (!open)
            fprintf(f, "<polyline fill='none' %s points='", style);
        fprintf(f, "%.1f,%.1f ", px(p, x0 + (double)i * dx), py(p, y[i]));
        open = 1;
    }
    if (open)
        fprintf(f, "'/>\n");
}

static void hline(FILE *f, const panel *p, double y, const char *color, const char *dash,
                  const char *label)
{
    if (!isfinite(y) || y < p->y0 || y > p->y1)
        return;
    fprintf(f, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='%s' stroke-width='1.5' "
               "stroke-dasharray='%s'/>\n",
            ML, W - MR, py(p, y), py(p, y), color, dash);
    fprintf(f, "<text x='%d' y='%.1f' font-size='11' fill='%s' text-anchor='end'>%s</text>\n",
            W - MR - 4, py(p, y) - 4, color, label);
}

static void escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else
            fputc(*s, f);
    }
}

static void loudness_panel(FILE *f, const mg_file_analysis *a, double target)
{
    double dur = (double)a->frames / a->rate;
    panel p = {0, dur > 0 ? dur : 1, -60, 0, MT, 0};
    double top = a->momentary_max;
    if (isfinite(top) && top > -3)
        p.y1 = ceil((top + 3) / 6) * 6;
    frame(f, &p, "Loudness over time", "LUFS", 6);
    static const double steps[] = {0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800};
    double step = 3600; /* at most about 12 ticks */
    for (int i = (int)(sizeof steps / sizeof *steps) - 1; i >= 0; i--)
        if (p.x1 / steps[i] <= 12)
            step = steps[i];
    for (double t = 0; t <= p.x1 + 1e-9; t += step) {
        char lab[32];
        snprintf(lab, sizeof lab, "%g s", t);
        xtick(f, &p, t, lab);
    }
    series(f, &p, a->momentary, a->n_series, 0.1, 0.1,
           "stroke='#7fa7d9' stroke-width='0.8'");
    series(f, &p, a->shortterm, a->n_series, 0.1, 0.1, "stroke='#1f4e9c' stroke-width='2'");
    char lab[64];
    snprintf(lab, sizeof lab, "integrated %.1f LUFS", a->integrated);
    hline(f, &p, a->integrated, "#2a8a2a", "8 4", lab);
    snprintf(lab, sizeof lab, "target %.1f LUFS", target);
    hline(f, &p, target, "#c0392b", "2 3", lab);
    fprintf(f, "<text x='%d' y='%d' font-size='11' fill='#1f4e9c'>short-term (3 s)</text>\n",
            ML + 8, MT + 16);
    fprintf(f, "<text x='%d' y='%d' font-size='11' fill='#7fa7d9'>momentary (400 ms)</text>\n",
            ML + 120, MT + 16);
}

static void spectrum_panel(FILE *f, const mg_file_analysis *a)
{
    double fmax = a->rate / 2 < 20000 ? a->rate / 2 : 20000;
    panel p = {20, fmax, -120, 0, MT + PH + GAP, 1};
    /* 1/12-octave smoothing: mean power of the bins within 1/24 octave of each point */
    enum { NPTS = 240 };
    double y[NPTS], top = -HUGE_VAL;
    for (int i = 0; i < NPTS; i++) {
        double fc = 20 * pow(fmax / 20, (double)i / (NPTS - 1));
        double lo = fc * pow(2, -1.0 / 24), hi = fc * pow(2, 1.0 / 24), s = 0;
        size_t k0 = (size_t)floor(lo / a->spectrum_hz), k1 = (size_t)ceil(hi / a->spectrum_hz);
        int cnt = 0;
        for (size_t k = k0; k <= k1 && k < a->n_spectrum; k++, cnt++)
            s += pow(10, a->spectrum[k] / 10);
        y[i] = cnt && s > 0 ? 10 * log10(s / cnt) : -HUGE_VAL;
        if (y[i] > top)
            top = y[i];
    }
    if (isfinite(top)) {
        p.y1 = ceil(top / 12) * 12 + 6;
        p.y0 = p.y1 - 108;
    }
    frame(f, &p, "Average spectrum (1/12 octave)", "dB (full-scale sine = 0)", 12);
    static const double ticks[] = {20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000};
    for (size_t i = 0; i < sizeof ticks / sizeof *ticks; i++) {
        if (ticks[i] > fmax)
            break;
        char lab[16];
        snprintf(lab, sizeof lab, ticks[i] >= 1000 ? "%gk" : "%g",
                 ticks[i] >= 1000 ? ticks[i] / 1000 : ticks[i]);
        xtick(f, &p, ticks[i], lab);
    }
    fprintf(f, "<polyline fill='none' stroke='#8e44ad' stroke-width='1.5' points='");
    for (int i = 0; i < NPTS; i++)
        if (isfinite(y[i]))
            fprintf(f, "%.1f,%.1f ", px(&p, 20 * pow(fmax / 20, (double)i / (NPTS - 1))),
                    py(&p, y[i]));
    fprintf(f, "'/>\n<text x='%d' y='%d' font-size='11' text-anchor='middle'>Hz</text>\n",
            (ML + W - MR) / 2, p.top + PH + 34);
}

int mg_plot_svg(const char *out, const char *title, const mg_file_analysis *a, double target,
                char *err, size_t errsz)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.part-%ld", out, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errsz, "%s: %s", out, strerror(errno));
        return -1;
    }
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
               "viewBox='0 0 %d %d' font-family='sans-serif'>\n"
               "<rect width='100%%' height='100%%' fill='#fafafa'/>\n",
            W, H, W, H);
    fprintf(f, "<text x='%d' y='22' font-size='13'>", ML);
    escape(f, title);
    fprintf(f, ": I %.1f LUFS, LRA %.1f LU, true peak %.1f dBTP</text>\n", a->integrated,
            a->lra, a->true_peak);
    loudness_panel(f, a, target);
    spectrum_panel(f, a);
    fprintf(f, "</svg>\n");
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, out) != 0) {
        snprintf(err, errsz, "%s: cannot write the plot: %s", out, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
