/*
** mg_convolver.h: control-side functions of the `convolver` node (nodes/convolver.c) beyond
** its descriptor: changing the impulse response while the graph plays. [control] only.
**
** The new IR is loaded, resampled, normalised and transformed on the control thread; the
** processing thread picks it up at its next multiple of 64 frames (counted from the node's
** reset, i.e. the graph start) and crossfades from the old convolution to the new one with a
** raised cosine w = (1 - cos(pi k / X)) / 2 over X = round(xfade * rate) frames:
** wet = (1 - w) (x * h_old) + w (x * h_new). Both convolutions see the node's whole input
** history, so the new one is the full steady-state convolution from its first frame (no
** truncated tail, nothing to build up): the output changes only as smoothly as w does.
*/
#ifndef MG_CONVOLVER_H
#define MG_CONVOLVER_H

#include "mixgraph.h"

/*
** Replace the impulse response of convolver `node` by the file `path` (same rules as the
** `path` option; the node's `normalize` option applies), crossfading over `xfade` seconds
** (0..10; 0 switches at once, which clicks). The new IR must have as many channels as the
** node's and be no longer than its capacity (the `max_length` option, or else the length of
** the IR the node was made with). Before the node is first compiled the IR is simply
** replaced. Errors: MG_ERR_IO/MG_ERR_FORMAT (file), MG_ERR_RANGE (too long, wrong channel
** count, bad xfade), MG_ERR_INVALID (not a convolver, or the previous change is still
** crossfading: see mg_convolver_busy). The message is in mg_graph_error().
*/
mg_status mg_convolver_set_ir(mg_node *node, const char *path, double xfade);

/*
** Non-zero while a change made by mg_convolver_set_ir has not finished its crossfade; once it
** has, frees the old IR's memory (on this, the control thread) and returns 0.
*/
int mg_convolver_busy(mg_node *node);

#endif
