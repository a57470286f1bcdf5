/*
** mg_ring.h: a single-producer/single-consumer ring of interleaved float frames.
**
** Threads: exactly one producer (the [stream] side: the control thread offline, a disk thread in
** real time) and one consumer (the [rt] processing thread). Storage is allocated once by
** mg_ring_init on the control thread; neither side allocates, locks or waits afterwards.
** Positions are monotonic frame counters: the producer publishes `wpos` with a release store
** after writing the frames, the consumer publishes `rpos` with a release store after reading
** them, and each side loads the other's counter with acquire.
**
** Flush handshake. The consumer cannot discard data the producer may still be writing, and the
** producer cannot move `rpos`. So a flush is a request/acknowledge pair: the consumer bumps
** `req` ([rt], never waits) and reads nothing until the producer, having rewound its source,
** acknowledges; the acknowledgement carries the write position at that moment (`mark`), and
** the consumer drops everything before the mark. Frames written after the acknowledgement are
** the new stream.
*/
#ifndef MG_RING_H
#define MG_RING_H

#include <stdatomic.h>
#include <stddef.h>

#include "mixgraph.h"

typedef struct mg_ring {
    float *buf;         /* cap * channels floats; immutable after init */
    size_t cap;         /* frames, a power of two; immutable after init */
    size_t mask;        /* cap - 1 */
    int channels;       /* immutable after init */
    atomic_size_t wpos; /* written by the producer only */
    atomic_size_t rpos; /* written by the consumer only */
    atomic_uint req;    /* flush requests; written by the consumer only */
    atomic_uint ack;    /* last request honoured; written by the producer only */
    atomic_size_t mark; /* wpos when `ack` was stored; written by the producer only */
    unsigned applied;   /* [rt] last acknowledgement the consumer acted on */
} mg_ring;

/* [control] Allocate room for at least `frames` frames (rounded up to a power of two) of
   `channels` interleaved floats. The ring starts empty. MG_ERR_NOMEM or MG_ERR_INVALID. */
mg_status mg_ring_init(mg_ring *r, int channels, size_t frames);
/* [control] Free the storage; accepts a zeroed or already freed ring. */
void mg_ring_free(mg_ring *r);
/* [control] Empty the ring and forget pending flushes. Neither side may run concurrently. */
void mg_ring_clear(mg_ring *r);

/* ---- producer side [stream] ---- */

/* Frames that can be written now. */
size_t mg_ring_write_space(const mg_ring *r);
/* Where to write next: up to *contig frames are contiguous there (0 when full). */
float *mg_ring_write_ptr(mg_ring *r, size_t *contig);
/* Publish n frames written through mg_ring_write_ptr (release). */
void mg_ring_commit(mg_ring *r, size_t n);
/* Copy up to n frames in; returns how many fitted. */
size_t mg_ring_write(mg_ring *r, const float *frames, size_t n);
/* Non-zero when the consumer asked for a flush that has not been acknowledged yet. */
int mg_ring_flush_requested(const mg_ring *r);
/* Acknowledge the pending flush: every frame written so far is stale. Call after rewinding the
   source and before writing the first frame of the new stream. */
void mg_ring_flush_ack(mg_ring *r);

/* ---- consumer side [rt] ---- */

/* Frames readable now; 0 while a flush is pending (applies an acknowledged flush first). */
size_t mg_ring_read_avail(mg_ring *r);
/* Where to read next: up to *contig frames are contiguous there (0 when empty). */
const float *mg_ring_read_ptr(mg_ring *r, size_t *contig);
/* Release n frames read through mg_ring_read_ptr (or skipped) back to the producer. */
void mg_ring_consume(mg_ring *r, size_t n);
/* Copy up to n frames out; returns how many were available. */
size_t mg_ring_read(mg_ring *r, float *frames, size_t n);
/* Ask the producer to flush (see above); drops what is readable now; never waits. */
void mg_ring_flush_request(mg_ring *r);
/* Non-zero while a flush request is not yet acknowledged. */
int mg_ring_flush_pending(const mg_ring *r);

#endif
