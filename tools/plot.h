/*
** plot.h: SVG plots of an analysis, written directly (no plotting tool). [control]
*/
#ifndef MG_PLOT_H
#define MG_PLOT_H

#include <stddef.h>

#include "mg_analyze.h"

/*
** Write OUT.svg: momentary and short-term loudness over time with the integrated and target
** (LUFS) lines, above the averaged spectrum on a log frequency axis. `a` must hold the series
** and the spectrum (MG_ANALYZE_SERIES | MG_ANALYZE_SPECTRUM). Non-zero with a message on
** failure; the file is written to a temporary name and renamed, so a failure leaves none.
*/
int mg_plot_svg(const char *out, const char *title, const mg_file_analysis *a, double target,
                char *err, size_t errsz);

#endif
