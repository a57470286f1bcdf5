/*
** mg_audio.h: the audio device driver (PortAudio): opens a device stream whose callback runs a
** live engine (mg_live.h). Any PortAudio host API works: ALSA, PulseAudio through ALSA, JACK
** (when a JACK server runs before the stream is opened), OSS.
**
** Threads: everything here is [control]; PortAudio calls mg_live_process from its audio thread.
*/
#ifndef MG_AUDIO_H
#define MG_AUDIO_H

#include <stdio.h>

#include "mg_live.h"

typedef struct mg_audio mg_audio;

typedef struct mg_audio_opts {
    const char *device;  /* index, exact name or case-insensitive substring; NULL: default */
    double latency;      /* suggested device latency in seconds; 0: the device's low default */
    int in_channels;     /* live input channels (0: output only) */
    int out_channels;    /* device output channels */
    const char *client_name; /* name shown by JACK and PulseAudio (default "mixgraph") */
} mg_audio_opts;

/*
** Open the device for graph `lv` (its rate and block). On failure returns an error status and
** writes a message to err naming the device or the host APIs tried when there is none.
*/
mg_status mg_audio_open(mg_live *lv, const mg_audio_opts *o, mg_audio **out, char *err,
                        size_t errsz);
mg_status mg_audio_start(mg_audio *a, char *err, size_t errsz);
/* Stop (lets the last buffers play) and close; accepts NULL. */
void mg_audio_close(mg_audio *a);
/* "ALSA: hw:0,0 (2 in, 2 out)" */
const char *mg_audio_device_name(const mg_audio *a);
double mg_audio_latency(const mg_audio *a); /* output latency reported by the stream, s */
/* Print every device with its host API and channel counts; returns the number of devices or
   -1 when PortAudio could not start (message in err). */
int mg_audio_list(FILE *f, char *err, size_t errsz);

#endif
