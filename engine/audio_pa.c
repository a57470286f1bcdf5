/*
** audio_pa.c: the PortAudio driver of mg_audio.h. [control] functions open and close the
** stream; pa_callback runs on PortAudio's audio thread and only calls mg_live_process.
*/
#include <ctype.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <pa_jack.h>
#include <portaudio.h>

#include "mg_audio.h"
#include "mg_internal.h"

struct mg_audio {
    mg_live *lv;
    PaStream *stream;
    int in_ch, out_ch;
    char name[256];
    double latency;
};

static int pa_users; /* Pa_Initialize/Pa_Terminate pairs we hold */
static int a_locked; /* mlockall succeeded */

static int pa_callback(const void *input, void *output, unsigned long frames,
                       const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *ud)
{
    (void)ti;
    mg_audio *a = ud;
    if (flags & (paInputOverflow | paOutputUnderflow | paOutputOverflow | paInputUnderflow))
        mg_live_note_xrun(a->lv);
    mg_live_process(a->lv, (const float *const *)input, (float *const *)output,
                    (uint32_t)frames);
    return paContinue;
}

/* Names of the host APIs PortAudio knows here, for "no device" messages. */
static void host_apis(char *buf, size_t sz)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < Pa_GetHostApiCount() && o + 2 < sz; i++) {
        const PaHostApiInfo *h = Pa_GetHostApiInfo(i);
        o += (size_t)snprintf(buf + o, sz - o, "%s%s (%d device%s)", i ? ", " : "", h->name,
                              h->deviceCount, h->deviceCount == 1 ? "" : "s");
    }
    if (!buf[0])
        snprintf(buf, sz, "none");
}

static mg_status pa_start_lib(const char *client, char *err, size_t errsz)
{
    if (pa_users == 0) {
        PaJack_SetClientName(client ? client : "mixgraph");
        /* ALSA prints its probing failures (missing dmix, no card) to stderr: hide them, the
           error we report names what matters */
        fflush(stderr);
        int saved = dup(2), null = open("/dev/null", O_WRONLY);
        if (saved >= 0 && null >= 0)
            dup2(null, 2);
        PaError pe = Pa_Initialize();
        if (saved >= 0 && null >= 0)
            dup2(saved, 2);
        if (saved >= 0)
            close(saved);
        if (null >= 0)
            close(null);
        if (pe != paNoError) {
            snprintf(err, errsz, "audio: PortAudio failed to start: %s", Pa_GetErrorText(pe));
            return MG_ERR_IO;
        }
    }
    pa_users++;
    return MG_OK;
}

static void pa_stop_lib(void)
{
    if (pa_users > 0 && --pa_users == 0)
        Pa_Terminate();
}

static int ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

/* Resolve a device spec: an index, "HostAPI:name" or a substring of the name. */
static PaDeviceIndex find_device(const char *spec, int want_out, char *err, size_t errsz)
{
    char apis[512];
    host_apis(apis, sizeof apis);
    if (!spec || !*spec) {
        PaDeviceIndex d = want_out ? Pa_GetDefaultOutputDevice() : Pa_GetDefaultInputDevice();
        if (d == paNoDevice)
            snprintf(err, errsz, "audio: no default %s device (host APIs tried: %s); see "
                     "`mixgraph play --list-devices`", want_out ? "output" : "input", apis);
        return d;
    }
    char *end;
    long idx = strtol(spec, &end, 10);
    if (*end == 0 && end != spec) {
        if (idx < 0 || idx >= Pa_GetDeviceCount()) {
            snprintf(err, errsz, "audio: no device #%ld (there are %d; host APIs: %s)", idx,
                     Pa_GetDeviceCount(), apis);
            return paNoDevice;
        }
        return (PaDeviceIndex)idx;
    }
    for (int pass = 0; pass < 2; pass++)
        for (PaDeviceIndex i = 0; i < Pa_GetDeviceCount(); i++) {
            const PaDeviceInfo *di = Pa_GetDeviceInfo(i);
            const char *api = Pa_GetHostApiInfo(di->hostApi)->name;
            char full[512];
            snprintf(full, sizeof full, "%s:%s", api, di->name);
            int chans = want_out ? di->maxOutputChannels : di->maxInputChannels;
            if (chans <= 0)
                continue;
            if (pass == 0 ? (strcmp(spec, di->name) == 0 || strcmp(spec, full) == 0)
                          : ci_contains(full, spec))
                return i;
        }
    snprintf(err, errsz, "audio: no %s device matches '%s' (host APIs: %s); see "
             "`mixgraph play --list-devices`", want_out ? "output" : "input", spec, apis);
    return paNoDevice;
}

mg_status mg_audio_open(mg_live *lv, const mg_audio_opts *o, mg_audio **out, char *err,
                        size_t errsz)
{
    mg_graph *g = mg_live_graph(lv);
    /* keep every page of the process in memory, present and future, so that the audio thread
       never takes a page fault on a buffer touched for the first time (best effort: needs
       root or a large enough RLIMIT_MEMLOCK) */
    a_locked = a_locked || mlockall(MCL_CURRENT | MCL_FUTURE) == 0;
    mg_status st = pa_start_lib(o->client_name, err, errsz);
    if (st)
        return st;
    mg_audio *a = calloc(1, sizeof *a);
    if (!a) {
        pa_stop_lib();
        snprintf(err, errsz, "audio: out of memory");
        return MG_ERR_NOMEM;
    }
    a->lv = lv;
    a->out_ch = o->out_channels;
    a->in_ch = o->in_channels;
    PaDeviceIndex od = find_device(o->device, 1, err, errsz);
    PaDeviceIndex id = paNoDevice;
    if (od == paNoDevice)
        goto fail;
    const PaDeviceInfo *odi = Pa_GetDeviceInfo(od);
    if (a->in_ch > 0) {
        /* the same device when it has inputs (JACK, duplex cards), else the default input */
        id = odi->maxInputChannels >= a->in_ch ? od : find_device(NULL, 0, err, errsz);
        if (id == paNoDevice)
            goto fail;
        if (Pa_GetDeviceInfo(id)->maxInputChannels < a->in_ch) {
            snprintf(err, errsz, "audio: '%s' has %d input channels, the patch wants %d",
                     Pa_GetDeviceInfo(id)->name, Pa_GetDeviceInfo(id)->maxInputChannels,
                     a->in_ch);
            goto fail;
        }
    }
    if (odi->maxOutputChannels < a->out_ch) {
        snprintf(err, errsz, "audio: '%s' has %d output channel%s, the graph has %d (set "
                 "channels in the patch)", odi->name, odi->maxOutputChannels,
                 odi->maxOutputChannels == 1 ? "" : "s", a->out_ch);
        goto fail;
    }
    PaStreamParameters op = {.device = od, .channelCount = a->out_ch,
                             .sampleFormat = paFloat32 | paNonInterleaved,
                             .suggestedLatency = o->latency > 0 ? o->latency
                                                                : odi->defaultLowOutputLatency};
    PaStreamParameters ip = {0};
    if (id != paNoDevice) {
        const PaDeviceInfo *idi = Pa_GetDeviceInfo(id);
        ip = (PaStreamParameters){.device = id, .channelCount = a->in_ch,
                                  .sampleFormat = paFloat32 | paNonInterleaved,
                                  .suggestedLatency = o->latency > 0
                                                          ? o->latency
                                                          : idi->defaultLowInputLatency};
    }
    PaError pe = Pa_OpenStream(&a->stream, id != paNoDevice ? &ip : NULL, &op, g->rate,
                               (unsigned long)g->block, paNoFlag, pa_callback, a);
    if (pe != paNoError) {
        snprintf(err, errsz, "audio: cannot open '%s' (%s) at %g Hz, block %d: %s", odi->name,
                 Pa_GetHostApiInfo(odi->hostApi)->name, g->rate, g->block, Pa_GetErrorText(pe));
        goto fail;
    }
    const PaStreamInfo *si = Pa_GetStreamInfo(a->stream);
    a->latency = si ? si->outputLatency : 0;
    snprintf(a->name, sizeof a->name, "%s: %s", Pa_GetHostApiInfo(odi->hostApi)->name,
             odi->name);
    *out = a;
    return MG_OK;
fail:
    free(a);
    pa_stop_lib();
    return MG_ERR_IO;
}

mg_status mg_audio_start(mg_audio *a, char *err, size_t errsz)
{
    PaError pe = Pa_StartStream(a->stream);
    if (pe != paNoError) {
        snprintf(err, errsz, "audio: cannot start '%s': %s", a->name, Pa_GetErrorText(pe));
        return MG_ERR_IO;
    }
    return MG_OK;
}

/*
** Debian builds PortAudio with assertions on, and its JACK host API asserts that
** jack_deactivate() succeeds. It fails when the server has already dropped the client
** (zombified it after a stall on a starved machine), so a session that played to its end then
** aborts while closing (PortAudio issue #819, Debian bug 1036645). Closing catches that one
** abort (a SIGABRT handler that does not return, which POSIX allows) and carries on: the
** stream is dead by then, and PortAudio is not called again.
*/
static sigjmp_buf close_jmp;
static volatile sig_atomic_t closing;

static void abort_in_close(int sig)
{
    if (closing)
        siglongjmp(close_jmp, 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

void mg_audio_close(mg_audio *a)
{
    if (!a)
        return;
    struct sigaction sa = {0}, old;
    sa.sa_handler = abort_in_close;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, &old);
    if (sigsetjmp(close_jmp, 1) == 0) {
        closing = 1;
        if (a->stream) {
            Pa_StopStream(a->stream);
            Pa_CloseStream(a->stream);
        }
        pa_stop_lib();
    } else {
        fprintf(stderr, "mixgraph: audio: the audio server had dropped mixgraph's stream; "
                        "PortAudio failed while closing it (ignored)\n");
        pa_users = 0; /* PortAudio is left as it is: not called again */
    }
    closing = 0;
    sigaction(SIGABRT, &old, NULL);
    free(a);
}

const char *mg_audio_device_name(const mg_audio *a) { return a->name; }
double mg_audio_latency(const mg_audio *a) { return a->latency; }

int mg_audio_list(FILE *f, char *err, size_t errsz)
{
    if (pa_start_lib(NULL, err, errsz))
        return -1;
    int n = Pa_GetDeviceCount();
    PaDeviceIndex dout = Pa_GetDefaultOutputDevice(), din = Pa_GetDefaultInputDevice();
    char apis[512];
    host_apis(apis, sizeof apis);
    fprintf(f, "host APIs: %s\n", apis);
    for (PaDeviceIndex i = 0; i < n; i++) {
        const PaDeviceInfo *di = Pa_GetDeviceInfo(i);
        fprintf(f, "%3d%s %s: %s  (%d in, %d out, %g Hz)\n", i,
                i == dout ? " *" : i == din ? " >" : "  ", Pa_GetHostApiInfo(di->hostApi)->name,
                di->name, di->maxInputChannels, di->maxOutputChannels, di->defaultSampleRate);
    }
    if (n == 0)
        fprintf(f, "no audio devices (is a sound server or card present? JACK must run before "
                   "mixgraph starts)\n");
    else
        fprintf(f, "* default output, > default input; pick one with --device N or a part of "
                   "its name\n");
    pa_stop_lib();
    return n;
}
