/*
** mg_fft.h: the engine's lock around FFTW's planner. [control]
** FFTW plans must be created and destroyed under one lock process-wide (the planner is not
** thread-safe), while executing a plan is safe anywhere, the audio thread included. Nodes that
** plan FFTs (convolver) take this lock; the engine owns it because only engine/ knows threads.
*/
#ifndef MG_FFT_H
#define MG_FFT_H

void mg_fft_planner_lock(void);
void mg_fft_planner_unlock(void);

#endif
