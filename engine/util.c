/*
** util.c: small shared helpers: status strings, dB conversion, denormal control, the vector
** instruction level. [any]
*/
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mg_node.h"
#include "mixgraph.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

const char *mg_strerror(mg_status st)
{
    switch (st) {
    case MG_OK: return "ok";
    case MG_ERR_NOMEM: return "out of memory";
    case MG_ERR_INVALID: return "invalid argument";
    case MG_ERR_RANGE: return "value out of range";
    case MG_ERR_TYPE: return "wrong type";
    case MG_ERR_NOT_FOUND: return "not found";
    case MG_ERR_CYCLE: return "cycle in graph";
    case MG_ERR_IO: return "input/output error";
    case MG_ERR_FORMAT: return "unsupported format";
    case MG_ERR_INTERRUPTED: return "interrupted";
    case MG_ERR_UNBOUNDED: return "render length unknown";
    case MG_ERR_SCRIPT: return "automation function failed";
    }
    return "unknown error";
}

float mg_db_to_amp(float db)
{
    if (!(db > -144.0f))
        return 0.0f;
    return powf(10.0f, db * 0.05f);
}

/*
** Flush-to-zero and denormals-are-zero: subnormal floats in decaying filter and reverb states
** cost up to 100x per operation on x86. Called on every processing thread.
*/
void mg_fpu_denormals_off(void)
{
#if defined(__SSE__) || defined(__x86_64__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ (bit 15) | DAZ (bit 6) */
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    __asm__ __volatile__("msr fpcr, %0" ::"r"(fpcr | (1ULL << 24)));
#endif
}

static mg_simd cpu_level(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return MG_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return MG_SIMD_AVX2;
    if (__builtin_cpu_supports("avx"))
        return MG_SIMD_AVX;
#endif
    return MG_SIMD_BASE;
}

mg_simd mg_simd_level(void)
{
    static _Atomic int level = -1; /* computed once; a race computes the same value twice */
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l >= 0)
        return (mg_simd)l;
    l = (int)cpu_level();
    const char *cap = getenv("MIXGRAPH_SIMD");
    static const char *const names[] = {"base", "avx", "avx2", "avx512"};
    for (int i = 0; cap && i < 4; i++)
        if (strcmp(cap, names[i]) == 0 && i < l)
            l = i;
    atomic_store_explicit(&level, l, memory_order_relaxed);
    return (mg_simd)l;
}
