/*
** ring.c: the single-producer/single-consumer frame ring (see mg_ring.h for the protocol).
** mg_ring_init/free/clear run on the control thread; the producer functions on the [stream]
** thread; the consumer functions on the [rt] thread. No function here allocates after init,
** locks or waits.
*/
#include <stdlib.h>
#include <string.h>

#include "mg_ring.h"

mg_status mg_ring_init(mg_ring *r, int channels, size_t frames)
{
    memset(r, 0, sizeof *r);
    if (channels < 1 || frames < 1 || frames > ((size_t)1 << 30))
        return MG_ERR_INVALID;
    size_t cap = 1;
    while (cap < frames)
        cap <<= 1;
    r->buf = calloc(cap * (size_t)channels, sizeof(float));
    if (!r->buf)
        return MG_ERR_NOMEM;
    r->cap = cap;
    r->mask = cap - 1;
    r->channels = channels;
    mg_ring_clear(r);
    return MG_OK;
}

void mg_ring_free(mg_ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->mask = 0;
}

void mg_ring_clear(mg_ring *r)
{
    atomic_store(&r->wpos, 0);
    atomic_store(&r->rpos, 0);
    atomic_store(&r->req, 0);
    atomic_store(&r->ack, 0);
    atomic_store(&r->mark, 0);
    r->applied = 0;
}

/* ---- producer ---- */

size_t mg_ring_write_space(const mg_ring *r)
{
    size_t w = atomic_load_explicit(&r->wpos, memory_order_relaxed);
    size_t rd = atomic_load_explicit(&r->rpos, memory_order_acquire);
    return r->cap - (w - rd);
}

float *mg_ring_write_ptr(mg_ring *r, size_t *contig)
{
    size_t w = atomic_load_explicit(&r->wpos, memory_order_relaxed);
    size_t space = mg_ring_write_space(r);
    size_t idx = w & r->mask;
    size_t run = r->cap - idx;
    *contig = space < run ? space : run;
    return r->buf + idx * (size_t)r->channels;
}

void mg_ring_commit(mg_ring *r, size_t n)
{
    size_t w = atomic_load_explicit(&r->wpos, memory_order_relaxed);
    atomic_store_explicit(&r->wpos, w + n, memory_order_release);
}

size_t mg_ring_write(mg_ring *r, const float *frames, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t contig;
        float *p = mg_ring_write_ptr(r, &contig);
        if (contig == 0)
            break;
        size_t k = n - done < contig ? n - done : contig;
        memcpy(p, frames + done * (size_t)r->channels, k * (size_t)r->channels * sizeof(float));
        mg_ring_commit(r, k);
        done += k;
    }
    return done;
}

int mg_ring_flush_requested(const mg_ring *r)
{
    unsigned q = atomic_load_explicit(&r->req, memory_order_acquire);
    return q != atomic_load_explicit(&r->ack, memory_order_relaxed);
}

/*
** The mark is stored before the acknowledgement (release), so a consumer that sees the new
** `ack` with acquire also sees a mark covering every stale frame.
*/
void mg_ring_flush_ack(mg_ring *r)
{
    unsigned q = atomic_load_explicit(&r->req, memory_order_acquire);
    atomic_store_explicit(&r->mark, atomic_load_explicit(&r->wpos, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&r->ack, q, memory_order_release);
}

/* ---- consumer ---- */

size_t mg_ring_read_avail(mg_ring *r)
{
    unsigned a = atomic_load_explicit(&r->ack, memory_order_acquire);
    if (a != atomic_load_explicit(&r->req, memory_order_relaxed))
        return 0;
    if (a != r->applied) {
        size_t m = atomic_load_explicit(&r->mark, memory_order_relaxed);
        atomic_store_explicit(&r->rpos, m, memory_order_release);
        r->applied = a;
    }
    size_t w = atomic_load_explicit(&r->wpos, memory_order_acquire);
    return w - atomic_load_explicit(&r->rpos, memory_order_relaxed);
}

const float *mg_ring_read_ptr(mg_ring *r, size_t *contig)
{
    size_t avail = mg_ring_read_avail(r);
    size_t idx = atomic_load_explicit(&r->rpos, memory_order_relaxed) & r->mask;
    size_t run = r->cap - idx;
    *contig = avail < run ? avail : run;
    return r->buf + idx * (size_t)r->channels;
}

void mg_ring_consume(mg_ring *r, size_t n)
{
    size_t rd = atomic_load_explicit(&r->rpos, memory_order_relaxed);
    atomic_store_explicit(&r->rpos, rd + n, memory_order_release);
}

size_t mg_ring_read(mg_ring *r, float *frames, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t contig;
        const float *p = mg_ring_read_ptr(r, &contig);
        if (contig == 0)
            break;
        size_t k = n - done < contig ? n - done : contig;
        memcpy(frames + done * (size_t)r->channels, p, k * (size_t)r->channels * sizeof(float));
        mg_ring_consume(r, k);
        done += k;
    }
    return done;
}

void mg_ring_flush_request(mg_ring *r)
{
    /* drop what is buffered now so the producer has room for the new stream at once; frames
       it writes before acknowledging are dropped later through the mark */
    size_t w = atomic_load_explicit(&r->wpos, memory_order_acquire);
    atomic_store_explicit(&r->rpos, w, memory_order_release);
    unsigned q = atomic_load_explicit(&r->req, memory_order_relaxed);
    atomic_store_explicit(&r->req, q + 1, memory_order_release);
}

int mg_ring_flush_pending(const mg_ring *r)
{
    return atomic_load_explicit(&r->ack, memory_order_acquire) !=
           atomic_load_explicit(&r->req, memory_order_relaxed);
}
