/*
** mg_queue.h: a bounded single-producer/single-consumer queue of fixed-size messages.
**
** It carries commands from the control thread to the audio thread (parameter events, new
** plans) and results back (retired plans). Storage is allocated once by mg_queue_init on the
** control thread; after that push and pop never allocate, lock or wait, so either end may be
** the audio thread. Positions are monotonic counters published with release stores and read
** with acquire loads (the same discipline as mg_ring.h).
*/
#ifndef MG_QUEUE_H
#define MG_QUEUE_H

#include <stdatomic.h>
#include <stddef.h>

#include "mixgraph.h"

typedef struct mg_queue {
    unsigned char *buf; /* cap * size bytes; immutable after init */
    size_t cap, mask;   /* messages, a power of two */
    size_t size;        /* bytes per message */
    atomic_size_t head; /* next to write; written by the producer only */
    atomic_size_t tail; /* next to read; written by the consumer only */
} mg_queue;

/* [control] Room for at least `count` messages of `size` bytes. */
mg_status mg_queue_init(mg_queue *q, size_t size, size_t count);
/* [control] Free the storage; accepts a zeroed queue. */
void mg_queue_free(mg_queue *q);
/* [producer] Copy one message in; 0 when the queue is full (nothing written). */
int mg_queue_push(mg_queue *q, const void *msg);
/* [consumer] Copy the oldest message out; 0 when empty. */
int mg_queue_pop(mg_queue *q, void *msg);
/* [consumer] The oldest message without removing it, or NULL when empty. */
const void *mg_queue_peek(mg_queue *q);
/* [any] Messages waiting (a snapshot). */
size_t mg_queue_count(mg_queue *q);

#endif
