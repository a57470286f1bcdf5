/*
** jackcap.c: a JACK client of the real-time tests that records exactly what another client
** plays. It connects to the other client's output ports as soon as they are registered, which
** for PortAudio happens when the stream is opened, before it starts, so not one played frame is
** lost (a recorder following system:playback misses the first period or two).
**
**   jackcap [-s SERVER] -m PATTERN -c CHANNELS -o OUT.wav [-n FRAMES] [-t TIMEOUT_S]
**           [-w WAIT_S] [-N CLIENT_NAME] [-p PACING_TOL] [-r READY_FILE] [-j STATS_FILE]
**           [-- CMD [ARGS...]]
**
**   -s SERVER   JACK server name (default: $JACK_DEFAULT_SERVER, else "default")
**   -m PATTERN  extended regex for the source output ports, as jack_get_ports() takes it,
**               e.g. "^PortAudio[^:]*:out_" or "^mixgraph:"; port i (in natural name order,
**               so out_2 before out_10) feeds input i
**   -c N        channels to record (1..64); the capture starts once N ports match
**   -o OUT.wav  32-bit float WAV, every frame from the moment of connection (leading
**               silence included; it is counted in the stats)
**   -n FRAMES   stop FRAMES frames after the first non-silent sample (default: record until
**               the source ports disappear or the timeout)
**   -t SECONDS  longest capture, counted from the connection (default 30); also sizes the
**               preallocated buffer
**   -w SECONDS  how long to wait for the ports to appear (default 10)
**   -N NAME     this client's name (default "jackcap")
**   -p TOL      fail (exit 4) when |pacing_steady - 1| > TOL (default: report only)
**   -r FILE     create FILE once this client is active and watching for ports: start the
**               player after it exists, or its first frames may be lost
**   -j FILE     also write the stats line to FILE
**   -- CMD ...  run CMD (the player) once ready, so there is no start-up race (with -s, CMD
**               gets JACK_DEFAULT_SERVER=SERVER); after the capture ends, wait for it (10 s,
**               then SIGTERM); its exit status is reported
**
** Output: one line on stdout, e.g.
**   {"frames":96000,"leading_silent":2048,"first_signal":2048,"channels":2,"rate":48000,
**    "period":1024,"xruns":0,"max_gap_ms":21.4,"late_ms":0.00,"pacing":1.000012,
**    "pacing_fit":0.999998,"pacing_steady":1.000004,"cycles":94,"stop":"frames",
**    "cmd_status":-1,"ports":["PortAudio:out_0","PortAudio:out_1"]}
** frames/leading_silent/first_signal count frames in OUT.wav; xruns counts the server's xrun
** notifications during the capture; max_gap_ms is the longest time between the starts of two
** process callbacks, late_ms the time lost in gaps longer than 1.5 periods (beyond one period
** each); pacing = frames processed / (wall time * rate) from the first to the last callback of
** the capture, pacing_fit the same from a least-squares line through all callback times,
** pacing_steady the median of the per-cycle rates (frames of a cycle / its duration). The
** dummy driver does not catch up after a late cycle, so every late wake-up (a stall, this
** VM's spontaneous 10-50 ms ones, or the host stealing the CPU) lowers pacing for good;
** pacing_steady is the server's pace apart from them, and stalls show in xruns, max_gap_ms and
** late_ms. stop is frames,
** ports_gone, timeout, shutdown (server went away) or full (buffer full). cmd_status is CMD's
** exit status (128 + N when killed by signal N; -1 without CMD).
**
** Exit: 0 captured, 1 no matching ports within -w (or CMD ended before they appeared),
** 2 usage, 3 runtime failure (no server, connect or write failed, -n not reached before the
** timeout or the ports went away), 4 pacing outside -p, 5 CMD failed (captured otherwise).
**
** Threads: the main thread opens the client, waits for the ports, connects them, waits for
** the end and writes the file. The JACK process thread copies the input ports into the
** preallocated buffer and stamps each callback (no allocation, locks or I/O there). The JACK
** notification thread runs the port-registration, xrun and shutdown callbacks, which only set
** atomic flags and counters. Samples and stamps are handed to the main thread after
** jack_deactivate(), which waits for the process thread.
*/
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#include <jack/jack.h>
#include <sndfile.h>

#define MAX_CHANNELS 64

enum { EXIT_NO_PORTS = 1, EXIT_USAGE = 2, EXIT_RUNTIME = 3, EXIT_PACING = 4, EXIT_CMD = 5 };

enum stop_reason {
    STOP_NONE,
    STOP_FRAMES,
    STOP_PORTS_GONE,
    STOP_TIMEOUT,
    STOP_SHUTDOWN,
    STOP_FULL
};

static const char *const stop_names[] = {"none",    "frames",   "ports_gone",
                                         "timeout", "shutdown", "full"};

typedef struct capture {
    /* [immutable] while active */
    jack_client_t *client;
    jack_port_t *in[MAX_CHANNELS];
    int channels;
    float *buf; /* interleaved, cap_frames * channels, touched before activation */
    size_t cap_frames;
    double *stamp_t;   /* callback start, seconds (CLOCK_MONOTONIC) */
    size_t *stamp_pos; /* frames recorded before that callback */
    size_t cap_stamps;
    long long want_frames; /* -n, or -1 */

    /* [control -> rt] */
    atomic_int recording; /* set just before connecting */
    atomic_int halt;      /* main thread asks the process thread to stop recording */

    /* [rt], read by the main thread after deactivation (pos/done also polled with acquire) */
    atomic_size_t pos;      /* frames recorded */
    atomic_int done;        /* an enum stop_reason set by the process thread */
    long long first_signal; /* frame index of the first non-silent sample, or -1 */
    size_t n_stamps;
    double max_gap; /* seconds between callback starts */
    double last_t;

    /* [notification thread -> control] */
    atomic_int ports_changed;
    atomic_int xruns;
    atomic_int shutdown;
} capture;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
** [rt] Copies this period's inputs into the buffer. Recording runs from the first period after
** the main thread set `recording` until `want_frames` after the first non-silent sample, the
** buffer is full, or the main thread sets `halt`.
*/
static int on_process(jack_nframes_t nframes, void *arg)
{
    capture *c = arg;
    if (!atomic_load_explicit(&c->recording, memory_order_acquire) ||
        atomic_load_explicit(&c->done, memory_order_relaxed) != STOP_NONE ||
        atomic_load_explicit(&c->halt, memory_order_relaxed))
        return 0;

    double t = now_s();
    if (c->n_stamps > 0 && t - c->last_t > c->max_gap)
        c->max_gap = t - c->last_t;
    c->last_t = t;

    size_t pos = atomic_load_explicit(&c->pos, memory_order_relaxed);
    if (c->n_stamps < c->cap_stamps) {
        c->stamp_t[c->n_stamps] = t;
        c->stamp_pos[c->n_stamps] = pos;
        c->n_stamps++;
    }

    size_t n = nframes;
    if (n > c->cap_frames - pos)
        n = c->cap_frames - pos;
    if (c->want_frames >= 0 && c->first_signal >= 0 &&
        (long long)(pos + n) > c->first_signal + c->want_frames)
        n = (size_t)(c->first_signal + c->want_frames - (long long)pos);

    for (int ch = 0; ch < c->channels; ch++) {
        const float *src = jack_port_get_buffer(c->in[ch], nframes);
        float *dst = c->buf + pos * (size_t)c->channels + (size_t)ch;
        for (size_t i = 0; i < n; i++)
            dst[i * (size_t)c->channels] = src[i];
    }
    if (c->first_signal < 0) {
        const float *f = c->buf + pos * (size_t)c->channels;
        for (size_t i = 0; i < n * (size_t)c->channels; i++) {
            if (f[i] != 0.0f) {
                c->first_signal = (long long)(pos + i / (size_t)c->channels);
                break;
            }
        }
        if (c->want_frames >= 0 && c->first_signal >= 0 &&
            (long long)(pos + n) > c->first_signal + c->want_frames)
            n = (size_t)(c->first_signal + c->want_frames - (long long)pos);
    }
    pos += n;
    atomic_store_explicit(&c->pos, pos, memory_order_release);

    if (c->want_frames >= 0 && c->first_signal >= 0 &&
        (long long)pos >= c->first_signal + c->want_frames)
        atomic_store_explicit(&c->done, STOP_FRAMES, memory_order_release);
    else if (pos >= c->cap_frames)
        atomic_store_explicit(&c->done, STOP_FULL, memory_order_release);
    return 0;
}

/* [notification thread] */
static void on_port_registration(jack_port_id_t id, int registered, void *arg)
{
    (void)id;
    (void)registered;
    capture *c = arg;
    atomic_store_explicit(&c->ports_changed, 1, memory_order_release);
}

/* [notification thread] */
static int on_xrun(void *arg)
{
    capture *c = arg;
    if (atomic_load_explicit(&c->recording, memory_order_acquire))
        atomic_fetch_add_explicit(&c->xruns, 1, memory_order_relaxed);
    return 0;
}

/* [any] the server went away; the client must not be used any more except for closing. */
static void on_shutdown(void *arg)
{
    capture *c = arg;
    atomic_store_explicit(&c->shutdown, 1, memory_order_release);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* Natural order: runs of digits compare as numbers, so "out_2" < "out_10". */
static int natural_cmp(const void *a, const void *b)
{
    const char *s = *(const char *const *)a, *t = *(const char *const *)b;
    while (*s && *t) {
        if (*s >= '0' && *s <= '9' && *t >= '0' && *t <= '9') {
            char *es, *et;
            unsigned long long x = strtoull(s, &es, 10), y = strtoull(t, &et, 10);
            if (x != y)
                return x < y ? -1 : 1;
            s = es;
            t = et;
        } else {
            if (*s != *t)
                return (unsigned char)*s - (unsigned char)*t;
            s++;
            t++;
        }
    }
    return (unsigned char)*s - (unsigned char)*t;
}

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "jackcap: %s\n", msg);
    fprintf(stderr, "usage: jackcap [-s SERVER] -m PATTERN -c CHANNELS -o OUT.wav [-n FRAMES]\n"
                    "               [-t TIMEOUT_S] [-w WAIT_S] [-N CLIENT_NAME] [-p PACING_TOL]\n"
                    "               [-r READY_FILE] [-j STATS_FILE] [-- CMD [ARGS...]]\n");
    return EXIT_USAGE;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/*
** Rate over the regular stretches: callbacks are split wherever two starts are less than 0.5 or
** more than 1.5 periods apart (a late cycle is followed by one that comes early), and the
** frames of all stretches are divided by their summed durations. The dummy driver re-anchors
** its clock after a late cycle instead of catching up, so each late wake-up costs wall time
** for good; this measure shows the pace the server keeps otherwise. `late_s` gets the time
** lost in the long gaps beyond one period each.
*/
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double steady_rate(const capture *c, double period_s, double *late_s)
{
    *late_s = 0;
    if (c->n_stamps < 2)
        return 0.0;
    /* the median of the per-cycle rates: late cycles (this VM's, or the host stealing the
       CPU) pull single intervals down, but not the median of them */
    size_t n = c->n_stamps - 1;
    double *r = malloc(n * sizeof *r);
    if (!r)
        return 0.0;
    for (size_t i = 1; i <= n; i++) {
        double dt = c->stamp_t[i] - c->stamp_t[i - 1];
        if (dt > 1.5 * period_s)
            *late_s += dt - period_s;
        r[i - 1] = dt > 0 ? (double)(c->stamp_pos[i] - c->stamp_pos[i - 1]) / dt : 0.0;
    }
    qsort(r, n, sizeof *r, cmp_double);
    double med = n % 2 ? r[n / 2] : 0.5 * (r[n / 2 - 1] + r[n / 2]);
    free(r);
    return med;
}

/* Slope of the least-squares line through (pos, t), as frames per second. */
static double fitted_rate(const capture *c)
{
    size_t n = c->n_stamps;
    if (n < 3)
        return 0.0;
    double mt = 0, mp = 0;
    for (size_t i = 0; i < n; i++) {
        mt += c->stamp_t[i] - c->stamp_t[0];
        mp += (double)c->stamp_pos[i];
    }
    mt /= (double)n;
    mp /= (double)n;
    double stp = 0, stt = 0;
    for (size_t i = 0; i < n; i++) {
        double dt = c->stamp_t[i] - c->stamp_t[0] - mt, dp = (double)c->stamp_pos[i] - mp;
        stp += dt * dp;
        stt += dt * dt;
    }
    return stt > 0 ? stp / stt : 0.0;
}

static int write_wav(const char *path, const float *buf, size_t frames, int channels, int rate)
{
    SF_INFO info = {
        .samplerate = rate, .channels = channels, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) {
        fprintf(stderr, "jackcap: cannot write '%s': %s\n", path, sf_strerror(NULL));
        return -1;
    }
    sf_count_t w = sf_writef_float(f, buf, (sf_count_t)frames);
    int err = (w != (sf_count_t)frames);
    if (err)
        fprintf(stderr, "jackcap: writing '%s': %s\n", path, sf_strerror(f));
    if (sf_close(f) != 0 && !err) {
        fprintf(stderr, "jackcap: closing '%s' failed\n", path);
        err = 1;
    }
    if (err)
        remove(path);
    return err ? -1 : 0;
}

/* Exit status of a waitpid() status word, shell style. */
static int status_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 255;
}

/* Waits up to `grace_s` for the child, then SIGTERM, then SIGKILL; returns its status code. */
static int reap_child(pid_t pid, double grace_s)
{
    int st;
    double t0 = now_s();
    int sent = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return status_code(st);
        if (r < 0)
            return 255;
        double waited = now_s() - t0;
        if (sent == 0 && waited > grace_s) {
            fprintf(stderr, "jackcap: the command still runs %.0f s after the capture, SIGTERM\n",
                    grace_s);
            kill(pid, SIGTERM);
            sent = 1;
        } else if (sent == 1 && waited > grace_s + 5) {
            kill(pid, SIGKILL);
            sent = 2;
        }
        sleep_ms(5);
    }
}

/* A child that already ended: its status code, else -1 (still running or no child). */
static int child_ended(pid_t pid, int *code)
{
    int st;
    if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid) {
        *code = status_code(st);
        return 1;
    }
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        fprintf(stderr, "jackcap: cannot write '%s': %s\n", path, strerror(errno));
}

int main(int argc, char **argv)
{
    const char *server = NULL, *pattern = NULL, *out_path = NULL, *client_name = "jackcap";
    const char *ready_path = NULL, *stats_path = NULL;
    char **cmd = NULL;
    double timeout_s = 30, wait_s = 10, pacing_tol = -1, v;
    long long want_frames = -1;
    int channels = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            if (i + 1 >= argc)
                return usage("'--' needs a command");
            cmd = argv + i + 1;
            break;
        }
        if (a[0] != '-' || !a[1] || a[2])
            return usage("unknown argument");
        if (i + 1 >= argc)
            return usage("option needs a value");
        const char *val = argv[++i];
        switch (a[1]) {
        case 's': server = val; break;
        case 'm': pattern = val; break;
        case 'o': out_path = val; break;
        case 'N': client_name = val; break;
        case 'r': ready_path = val; break;
        case 'j': stats_path = val; break;
        case 'c':
            if (parse_double(val, 1, MAX_CHANNELS, &v) || v != floor(v))
                return usage("-c takes 1..64");
            channels = (int)v;
            break;
        case 'n':
            if (parse_double(val, 1, 1e10, &v) || v != floor(v))
                return usage("-n takes a positive frame count");
            want_frames = (long long)v;
            break;
        case 't':
            if (parse_double(val, 0.01, 3600, &timeout_s))
                return usage("-t takes seconds in (0, 3600]");
            break;
        case 'w':
            if (parse_double(val, 0, 3600, &wait_s))
                return usage("-w takes seconds in [0, 3600]");
            break;
        case 'p':
            if (parse_double(val, 0, 1, &pacing_tol))
                return usage("-p takes a tolerance in [0, 1], e.g. 0.01");
            break;
        default: return usage("unknown option");
        }
    }
    if (!pattern || !out_path || channels == 0)
        return usage("-m, -c and -o are required");
    if (ready_path)
        remove(ready_path);

    static capture cap; /* zeroed; atomics start at 0 */
    capture *c = &cap;
    c->channels = channels;
    c->want_frames = want_frames;
    c->first_signal = -1;

    jack_status_t status;
    jack_options_t opts = JackNoStartServer | (server ? JackServerName : 0);
    c->client = jack_client_open(client_name, opts, &status, server);
    if (!c->client) {
        const char *env = getenv("JACK_DEFAULT_SERVER");
        fprintf(stderr, "jackcap: cannot connect to JACK server '%s' (status 0x%x)\n",
                server ? server
                : env  ? env
                       : "default",
                (unsigned)status);
        return EXIT_RUNTIME;
    }
    int rate = (int)jack_get_sample_rate(c->client);
    int period = (int)jack_get_buffer_size(c->client);

    c->cap_frames = (size_t)ceil(timeout_s * rate) + 2 * (size_t)period;
    if (want_frames >= 0 && (size_t)want_frames + 2 * (size_t)period > c->cap_frames)
        c->cap_frames = (size_t)want_frames + 2 * (size_t)period;
    c->cap_stamps = c->cap_frames / 16 + 16; /* JACK periods are at least 16 frames */
    c->buf = malloc(c->cap_frames * (size_t)channels * sizeof(float));
    c->stamp_t = malloc(c->cap_stamps * sizeof(double));
    c->stamp_pos = malloc(c->cap_stamps * sizeof(size_t));
    if (!c->buf || !c->stamp_t || !c->stamp_pos) {
        fprintf(stderr, "jackcap: out of memory for %zu frames\n", c->cap_frames);
        jack_client_close(c->client);
        return EXIT_RUNTIME;
    }
    /* touch every page now so the process thread never faults one in */
    memset(c->buf, 0, c->cap_frames * (size_t)channels * sizeof(float));
    memset(c->stamp_t, 0, c->cap_stamps * sizeof(double));
    memset(c->stamp_pos, 0, c->cap_stamps * sizeof(size_t));

    for (int ch = 0; ch < channels; ch++) {
        char name[32];
        snprintf(name, sizeof name, "in_%d", ch + 1);
        c->in[ch] =
            jack_port_register(c->client, name, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
        if (!c->in[ch]) {
            fprintf(stderr, "jackcap: cannot register port %s\n", name);
            jack_client_close(c->client);
            return EXIT_RUNTIME;
        }
    }
    jack_set_process_callback(c->client, on_process, c);
    jack_set_port_registration_callback(c->client, on_port_registration, c);
    jack_set_xrun_callback(c->client, on_xrun, c);
    jack_on_shutdown(c->client, on_shutdown, c);
    if (jack_activate(c->client)) {
        fprintf(stderr, "jackcap: cannot activate the client\n");
        jack_client_close(c->client);
        return EXIT_RUNTIME;
    }
    if (ready_path)
        write_file(ready_path, "ready\n");

    pid_t child = -1;
    int cmd_status = -1;
    if (cmd) {
        if (server) /* the player must find the same server */
            setenv("JACK_DEFAULT_SERVER", server, 1);
        int e = posix_spawnp(&child, cmd[0], NULL, NULL, cmd, environ);
        if (e) {
            fprintf(stderr, "jackcap: cannot run '%s': %s\n", cmd[0], strerror(e));
            jack_client_close(c->client);
            return EXIT_RUNTIME;
        }
    }

    /* Wait for the ports: check once now (they may already exist), then on each registration
       notification, polling every millisecond. */
    const char **ports = NULL;
    static char src[MAX_CHANNELS][512]; /* copies: jack_get_ports' strings die with the client */
    int n_ports = 0;
    double t0 = now_s();
    atomic_store(&c->ports_changed, 1);
    for (;;) {
        if (atomic_exchange_explicit(&c->ports_changed, 0, memory_order_acq_rel)) {
            if (ports)
                jack_free(ports);
            ports = jack_get_ports(c->client, pattern, JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput);
            n_ports = 0;
            while (ports && ports[n_ports])
                n_ports++;
            if (n_ports >= channels)
                break;
        }
        int fail = 0;
        if (atomic_load_explicit(&c->shutdown, memory_order_acquire)) {
            fprintf(stderr, "jackcap: the JACK server shut down\n");
            fail = EXIT_RUNTIME;
        } else if (child_ended(child, &cmd_status)) {
            fprintf(stderr, "jackcap: '%s' ended (status %d) before %d port(s) matched '%s'\n",
                    cmd[0], cmd_status, channels, pattern);
            child = -1;
            fail = EXIT_NO_PORTS;
        } else if (now_s() - t0 > wait_s) {
            fprintf(stderr, "jackcap: %d port(s) matching '%s' after %.1f s, need %d\n", n_ports,
                    pattern, wait_s, channels);
            fail = EXIT_NO_PORTS;
        }
        if (fail) {
            if (ports)
                jack_free(ports);
            jack_client_close(c->client);
            if (child > 0)
                reap_child(child, 0);
            return fail;
        }
        sleep_ms(1);
    }
    qsort(ports, (size_t)n_ports, sizeof *ports, natural_cmp);
    if (n_ports > channels)
        fprintf(stderr, "jackcap: %d ports match '%s', recording the first %d\n", n_ports, pattern,
                channels);
    for (int ch = 0; ch < channels; ch++)
        snprintf(src[ch], sizeof src[ch], "%s", ports[ch]);
    jack_free(ports);

    atomic_store_explicit(&c->recording, 1, memory_order_release);
    for (int ch = 0; ch < channels; ch++) {
        int r = jack_connect(c->client, src[ch], jack_port_name(c->in[ch]));
        if (r != 0 && r != EEXIST) {
            fprintf(stderr, "jackcap: cannot connect %s -> %s\n", src[ch],
                    jack_port_name(c->in[ch]));
            jack_client_close(c->client);
            if (child > 0)
                reap_child(child, 0);
            return EXIT_RUNTIME;
        }
    }
    double t_connect = now_s(), t_check = t_connect;

    /* Wait for the end. Port removal is noticed from the notification and, since a closing
       client's notification may arrive before its ports are gone, by a check every 20 ms. */
    enum stop_reason why = STOP_NONE;
    for (;;) {
        int d = atomic_load_explicit(&c->done, memory_order_acquire);
        if (d != STOP_NONE) {
            why = (enum stop_reason)d;
            break;
        }
        if (atomic_load_explicit(&c->shutdown, memory_order_acquire)) {
            why = STOP_SHUTDOWN;
            break;
        }
        double t = now_s();
        if (atomic_exchange_explicit(&c->ports_changed, 0, memory_order_acq_rel) ||
            t - t_check > 0.02) {
            t_check = t;
            int gone = 0;
            for (int ch = 0; ch < channels; ch++)
                gone |= jack_port_by_name(c->client, src[ch]) == NULL;
            if (gone) {
                why = STOP_PORTS_GONE;
                break;
            }
        }
        if (t - t_connect > timeout_s) {
            why = STOP_TIMEOUT;
            break;
        }
        sleep_ms(1);
    }
    atomic_store_explicit(&c->halt, 1, memory_order_release);
    if (why != STOP_SHUTDOWN)
        jack_deactivate(c->client); /* waits for the process thread: its data is ours now */
    jack_client_close(c->client);
    if (child > 0)
        cmd_status = reap_child(child, 10);

    size_t frames = atomic_load_explicit(&c->pos, memory_order_acquire);
    int ok = 1;
    if (want_frames >= 0 && why != STOP_FRAMES) {
        fprintf(stderr, "jackcap: stopped (%s) after %zu frames, before the %lld frames asked\n",
                stop_names[why], frames, want_frames);
        ok = 0;
    }
    if (why == STOP_FULL || why == STOP_SHUTDOWN) {
        fprintf(stderr, "jackcap: stopped early (%s) after %zu frames\n", stop_names[why], frames);
        ok = 0;
    }

    double pacing = 0;
    if (c->n_stamps >= 2) {
        double dt = c->stamp_t[c->n_stamps - 1] - c->stamp_t[0];
        double df = (double)(c->stamp_pos[c->n_stamps - 1] - c->stamp_pos[0]);
        if (dt > 0)
            pacing = df / (dt * rate);
    }
    double pacing_fit = fitted_rate(c) / rate, late_s;
    double pacing_steady = steady_rate(c, (double)period / rate, &late_s) / rate;

    char line[4096];
    long long lead = c->first_signal >= 0 ? c->first_signal : (long long)frames;
    int len = snprintf(line, sizeof line,
                       "{\"frames\":%zu,\"leading_silent\":%lld,\"first_signal\":%lld,"
                       "\"channels\":%d,\"rate\":%d,\"period\":%d,\"xruns\":%d,"
                       "\"max_gap_ms\":%.2f,\"late_ms\":%.2f,\"pacing\":%.6f,"
                       "\"pacing_fit\":%.6f,\"pacing_steady\":%.6f,\"cycles\":%zu,"
                       "\"stop\":\"%s\",\"cmd_status\":%d,\"ports\":[",
                       frames, lead, c->first_signal, channels, rate, period,
                       atomic_load(&c->xruns), c->max_gap * 1e3, late_s * 1e3, pacing, pacing_fit,
                       pacing_steady, c->n_stamps, stop_names[why], cmd_status);
    for (int ch = 0; ch < channels && len > 0 && (size_t)len < sizeof line; ch++)
        len += snprintf(line + len, sizeof line - (size_t)len, "%s\"%s\"", ch ? "," : "", src[ch]);
    if (len > 0 && (size_t)len < sizeof line)
        snprintf(line + len, sizeof line - (size_t)len, "]}\n");
    fputs(line, stdout);
    fflush(stdout);
    if (stats_path)
        write_file(stats_path, line);

    if (write_wav(out_path, c->buf, frames, channels, rate))
        ok = 0;
    free(c->buf);
    free(c->stamp_t);
    free(c->stamp_pos);
    if (!ok)
        return EXIT_RUNTIME;
    if (pacing_tol >= 0 && (c->n_stamps < 3 || fabs(pacing_steady - 1) > pacing_tol)) {
        fprintf(stderr, "jackcap: steady pacing %.5f is off by more than %g (overall %.5f)\n",
                pacing_steady, pacing_tol, pacing);
        return EXIT_PACING;
    }
    if (cmd && cmd_status != 0) {
        fprintf(stderr, "jackcap: '%s' exited with status %d\n", cmd[0], cmd_status);
        return EXIT_CMD;
    }
    return 0;
}
