/*
** queue.c: the bounded SPSC message queue of mg_queue.h. init/free are [control]; push runs
** on the producing thread and pop/peek on the consuming one, either of which may be [rt].
*/
#include <stdlib.h>
#include <string.h>

#include "mg_queue.h"

mg_status mg_queue_init(mg_queue *q, size_t size, size_t count)
{
    memset(q, 0, sizeof *q);
    if (size == 0 || count == 0 || count > ((size_t)1 << 24))
        return MG_ERR_INVALID;
    size_t cap = 1;
    while (cap < count)
        cap <<= 1;
    q->buf = malloc(cap * size);
    if (!q->buf)
        return MG_ERR_NOMEM;
    q->cap = cap;
    q->mask = cap - 1;
    q->size = size;
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    return MG_OK;
}

void mg_queue_free(mg_queue *q)
{
    free(q->buf);
    q->buf = NULL;
    q->cap = 0;
}

int mg_queue_push(mg_queue *q, const void *msg)
{
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (h - t >= q->cap)
        return 0;
    memcpy(q->buf + (h & q->mask) * q->size, msg, q->size);
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    return 1;
}

const void *mg_queue_peek(mg_queue *q)
{
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    return h == t ? NULL : q->buf + (t & q->mask) * q->size;
}

int mg_queue_pop(mg_queue *q, void *msg)
{
    const void *p = mg_queue_peek(q);
    if (!p)
        return 0;
    memcpy(msg, p, q->size);
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    return 1;
}

size_t mg_queue_count(mg_queue *q)
{
    return atomic_load_explicit(&q->head, memory_order_acquire) -
           atomic_load_explicit(&q->tail, memory_order_acquire);
}
