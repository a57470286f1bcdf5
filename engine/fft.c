/*
** fft.c: the process-wide lock around FFTW's planner (mg_fft.h). [control]
*/
#include <threads.h>

#include "mg_fft.h"

static once_flag planner_once = ONCE_FLAG_INIT;
static mtx_t planner;

static void planner_init(void) { mtx_init(&planner, mtx_plain); }

void mg_fft_planner_lock(void)
{
    call_once(&planner_once, planner_init);
    mtx_lock(&planner);
}

void mg_fft_planner_unlock(void) { mtx_unlock(&planner); }
