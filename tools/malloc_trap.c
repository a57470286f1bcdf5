/*
** malloc_trap.c: the debug build's real-time allocation trap. Linked into the `mixgraph`
** command when built with MG_RT_TRAP (the default for CMAKE_BUILD_TYPE=Debug) and into the
** live-engine tests. It replaces malloc and friends for the whole program; a call made on a
** thread that is inside mg_live_process (the audio callback) prints what was called and
** aborts, so a test that plays a patch under the trap proves the audio path never allocates
** or frees. [any] thread.
*/
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_live.h"

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

/* Tests set this to count instead of aborting (to prove the trap fires). */
int mg_trap_count_only;
unsigned long mg_trap_hits;

static void trap(const char *what)
{
    if (!mg_rt_active())
        return;
    if (mg_trap_count_only) {
        mg_trap_hits++;
        return;
    }
    static const char a[] = "mixgraph: real-time violation: ";
    static const char b[] = " called on the audio thread\n";
    ssize_t r = write(2, a, sizeof a - 1);
    r = write(2, what, strlen(what));
    r = write(2, b, sizeof b - 1);
    (void)r;
    abort();
}

void *malloc(size_t n)
{
    trap("malloc");
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    trap("calloc");
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    trap("realloc");
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (p)
        trap("free");
    __libc_free(p);
}

void *aligned_alloc(size_t align, size_t n)
{
    trap("aligned_alloc");
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    trap("memalign");
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    trap("posix_memalign");
    void *p = __libc_memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void *valloc(size_t n)
{
    trap("valloc");
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), n);
}
