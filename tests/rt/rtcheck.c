/*
** rtcheck.c: checks audio captured from a real-time run (see jackcap.c) against what it should
** be. A command-line tool of the real-time tests; single-threaded, reads whole files.
**
**   rtcheck match [-e TOL] [-n MIN_FRAMES] [-t THRESH] [-f FREQ] REF.wav CAP.wav
**       Aligns the capture on the reference by their first sample with |x| > THRESH (default 0,
**       i.e. the first non-zero sample), then compares ref[j] with cap[j + offset] for every
**       reference frame from there on (reference frames before that are silence and may be
**       missing from the capture: leading silence is not signal). Passes when every compared
**       sample differs by at most TOL (default 0: bit-exact float compare), the channel counts
**       and rates agree, and the capture covers the whole reference (or at least MIN_FRAMES
**       frames of it with -n). On a mismatch it also tells whether the capture lacks the
**       start of the signal (head_lost: frames) or jumps at the first bad frame (shift: the
**       capture continues d reference frames later, d > 0 dropped, d < 0 repeated; 0 if the
**       audio differs otherwise), searching up to 65536 frames. With -f, also runs the sine
**       check below on the compared part of the capture and reports it (informational; use
**       `rtcheck sine` to gate on it).
**
**   rtcheck sine [-f FREQ] [-o 2|4] [-l LIMIT_DBFS] [-a FROM] [-b TO] [-m MARGIN] CAP.wav
**       Discontinuity detector for a steady sine of known frequency (default 997 Hz; -f 0 uses
**       the frequency estimated from the file). A sine obeys x[n] = 2cos(w) x[n-1] - x[n-2]
**       whatever its amplitude and phase, so the prediction error of that recursion is zero up
**       to float rounding, and a step, phase jump, dropped or repeated block shows as a spike.
**       -o 4 applies the recursion twice, which also cancels a linear amplitude ramp (a
**       smoothed gain change). The error is scaled so that a step of height h reads h, and
**       reported in dBFS. Passes when it stays at or below LIMIT_DBFS (default -60). Analyses
**       frames [FROM, TO) (default: the non-silent span of each channel shrunk by MARGIN frames,
**       default 16, at both ends, since a tone's start and end are steps).
**
**   rtcheck info FILE.wav
**       Frames, channels, rate, leading/trailing silence, peak, RMS.
**
** Output: one JSON-like line on stdout per command; failures are explained on stderr.
** Exit: 0 pass, 1 fail, 2 usage or unreadable file.
*/
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

enum { PASS = 0, FAIL = 1, USAGE = 2 };

static const double TWO_PI = 6.283185307179586476925;

typedef struct audio {
    float *x; /* interleaved */
    long long frames;
    int channels;
    int rate;
} audio;

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "rtcheck: %s\n", msg);
    fprintf(stderr,
            "usage: rtcheck match [-e TOL] [-n MIN_FRAMES] [-t THRESH] [-f FREQ] REF.wav CAP.wav\n"
            "       rtcheck sine [-f FREQ] [-o 2|4] [-l LIMIT_DBFS] [-a FROM] [-b TO] [-m MARGIN]"
            " CAP.wav\n"
            "       rtcheck info FILE.wav\n");
    return USAGE;
}

static int load(const char *path, audio *a)
{
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f) {
        fprintf(stderr, "rtcheck: cannot read '%s': %s\n", path, sf_strerror(NULL));
        return -1;
    }
    a->frames = info.frames;
    a->channels = info.channels;
    a->rate = info.samplerate;
    a->x =
        malloc((size_t)(info.frames > 0 ? info.frames : 1) * (size_t)info.channels * sizeof(float));
    if (!a->x) {
        fprintf(stderr, "rtcheck: '%s': out of memory\n", path);
        sf_close(f);
        return -1;
    }
    sf_count_t got = sf_readf_float(f, a->x, info.frames);
    sf_close(f);
    if (got != info.frames) {
        fprintf(stderr, "rtcheck: '%s': read %lld of %lld frames\n", path, (long long)got,
                (long long)info.frames);
        free(a->x);
        return -1;
    }
    return 0;
}

static double db(double v)
{
    return v > 0 ? 20.0 * log10(v) : -INFINITY;
}

/* JSON has no -inf: print very small levels as -999. */
static double db_json(double v)
{
    double d = db(v);
    return d < -999 ? -999 : d;
}

/* First frame with any |sample| > thresh in channel ch (ch < 0: any channel), or -1. */
static long long first_above(const audio *a, int ch, double thresh)
{
    for (long long i = 0; i < a->frames; i++)
        for (int c = 0; c < a->channels; c++)
            if ((ch < 0 || c == ch) && fabs(a->x[i * a->channels + c]) > thresh)
                return i;
    return -1;
}

static long long last_above(const audio *a, int ch, double thresh)
{
    for (long long i = a->frames - 1; i >= 0; i--)
        for (int c = 0; c < a->channels; c++)
            if ((ch < 0 || c == ch) && fabs(a->x[i * a->channels + c]) > thresh)
                return i;
    return -1;
}

static int parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/*
** Sine check on channel ch over frames [from, to). freq <= 0 uses the estimate. Fills the
** worst normalised prediction error (linear), its frame, the estimated frequency, and the
** largest second difference relative to a sine of the channel's peak amplitude.
*/
typedef struct sine_result {
    double resid;    /* step-equivalent height of the worst prediction error */
    long long at;    /* frame of the worst error */
    double freq_est; /* Hz */
    double d2_ratio; /* max |x[n+1] - 2x[n] + x[n-1]| / (peak * (2 - 2cos w)) */
    long long n;     /* frames analysed */
} sine_result;

static void sine_check(const audio *a, int ch, long long from, long long to, double freq, int order,
                       sine_result *r)
{
    const int C = a->channels;
    const float *x = a->x;
    memset(r, 0, sizeof *r);
    r->at = -1;
    if (from < 0)
        from = 0;
    if (to > a->frames)
        to = a->frames;
    if (to - from < 8)
        return;
    r->n = to - from;

    /* least squares for c2 = 2cos(w): minimise sum (x[n+1] + x[n-1] - c2 x[n])^2 */
    double num = 0, den = 0, peak = 0;
    for (long long i = from + 1; i < to - 1; i++) {
        double xm = x[(i - 1) * C + ch], x0 = x[i * C + ch], xp = x[(i + 1) * C + ch];
        num += x0 * (xp + xm);
        den += x0 * x0;
        if (fabs(x0) > peak)
            peak = fabs(x0);
    }
    double c2est = den > 0 ? num / den : 2.0;
    if (c2est > 2)
        c2est = 2;
    if (c2est < -2)
        c2est = -2;
    r->freq_est = acos(c2est / 2) * a->rate / TWO_PI;
    double c2 = freq > 0 ? 2 * cos(TWO_PI * freq / a->rate) : c2est;

    /* prediction filter h and its step gain (largest partial sum), so a step h reads h */
    double h[5];
    int taps;
    if (order == 4) {
        h[0] = 1, h[1] = -2 * c2, h[2] = 2 + c2 * c2, h[3] = -2 * c2, h[4] = 1;
        taps = 5;
    } else {
        h[0] = 1, h[1] = -c2, h[2] = 1;
        taps = 3;
    }
    double acc = 0, gain = 0;
    for (int j = 0; j < taps; j++) {
        acc += h[j];
        if (fabs(acc) > gain)
            gain = fabs(acc);
    }

    double d2max = 0;
    for (long long i = from + taps - 1; i < to; i++) {
        double e = 0;
        for (int j = 0; j < taps; j++)
            e += h[j] * x[(i - j) * C + ch];
        e = fabs(e) / gain;
        if (e > r->resid) {
            r->resid = e;
            r->at = i;
        }
        double d2 = fabs(x[i * C + ch] - 2.0 * x[(i - 1) * C + ch] + x[(i - 2) * C + ch]);
        if (d2 > d2max)
            d2max = d2;
    }
    double expect = peak * (2 - c2);
    r->d2_ratio = expect > 0 ? d2max / expect : 0;
}

static void print_sine(const char *key, const sine_result *r, int ch)
{
    printf("\"%s\":{\"channel\":%d,\"resid_dbfs\":%.2f,\"at\":%lld,\"freq_est\":%.4f,"
           "\"d2_ratio\":%.4f,\"frames\":%lld}",
           key, ch, db_json(r->resid), r->at, r->freq_est, r->d2_ratio, r->n);
}

/* ---- match ---- */

enum { SHIFT_MAX = 1 << 16, SHIFT_VERIFY = 256, NO_SHIFT = 1 << 30 };

/* Frames a and b (in files ra and rb) agree within tol for n frames. */
static int run_agrees(const audio *ra, long long a, const audio *rb, long long b, long long n,
                      double tol)
{
    if (a < 0 || b < 0 || a + n > ra->frames || b + n > rb->frames)
        return 0;
    const int C = ra->channels;
    for (long long i = 0; i < n * C; i++)
        if (!(fabs((double)ra->x[a * C + i] - (double)rb->x[b * C + i]) <= tol))
            return 0;
    return 1;
}

/*
** Diagnosis after a mismatch: the smallest |d| <= SHIFT_MAX such that the capture from frame
** `cpos` on equals the reference from `rpos + d` on for SHIFT_VERIFY frames. d > 0: the capture
** skipped d reference frames there (dropped block); d < 0: it repeated -d frames or inserted
** something. NO_SHIFT when no such d exists (the audio changed, not just shifted).
*/
static long long find_shift(const audio *ref, long long rpos, const audio *cap, long long cpos,
                            double tol)
{
    for (long long k = 1; k <= SHIFT_MAX; k++) {
        if (run_agrees(ref, rpos + k, cap, cpos, SHIFT_VERIFY, tol))
            return k;
        if (run_agrees(ref, rpos - k, cap, cpos, SHIFT_VERIFY, tol))
            return -k;
    }
    return NO_SHIFT;
}

static int cmd_match(int argc, char **argv)
{
    double tol = 0, thresh = 0, freq = -1, v;
    long long min_frames = -1;
    int i = 0;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i += 2) {
        if (argv[i][2] || i + 1 >= argc || parse_num(argv[i + 1], &v))
            return usage("match: bad option");
        switch (argv[i][1]) {
        case 'e': tol = v; break;
        case 't': thresh = v; break;
        case 'f': freq = v; break;
        case 'n': min_frames = (long long)v; break;
        default: return usage("match: unknown option");
        }
    }
    if (argc - i != 2 || tol < 0 || thresh < 0)
        return usage("match needs REF.wav CAP.wav");
    audio ref, cap;
    if (load(argv[i], &ref))
        return USAGE;
    if (load(argv[i + 1], &cap))
        return USAGE;
    if (ref.channels != cap.channels || ref.rate != cap.rate) {
        fprintf(stderr, "rtcheck: reference has %d ch at %d Hz, capture %d ch at %d Hz\n",
                ref.channels, ref.rate, cap.channels, cap.rate);
        printf("{\"match\":false,\"reason\":\"format\"}\n");
        return FAIL;
    }
    const int C = ref.channels;
    long long r0 = first_above(&ref, -1, thresh), c0 = first_above(&cap, -1, thresh);
    if (r0 < 0 || c0 < 0) {
        fprintf(stderr, "rtcheck: %s is silent\n", r0 < 0 ? "the reference" : "the capture");
        printf("{\"match\":false,\"reason\":\"silent\",\"ref_first\":%lld,\"cap_first\":%lld}\n",
               r0, c0);
        return FAIL;
    }
    long long off = c0 - r0; /* capture frame of reference frame 0 */
    long long j0 = off < 0 ? -off : 0;
    long long j1 = ref.frames;
    if (j1 + off > cap.frames)
        j1 = cap.frames - off;
    long long compared = j1 > j0 ? j1 - j0 : 0;
    long long missing = ref.frames - j0 - compared; /* reference frames after the capture end */

    long long exact = 0, bad = 0, first_bad = -1;
    double maxdiff = 0;
    for (long long j = j0; j < j1; j++) {
        int same = 1, within = 1;
        for (int c = 0; c < C; c++) {
            float a = ref.x[j * C + c], b = cap.x[(j + off) * C + c];
            double d = fabs((double)a - (double)b);
            if (memcmp(&a, &b, sizeof a) != 0)
                same = 0;
            if (d > maxdiff)
                maxdiff = d;
            if (!(d <= tol))
                within = 0;
        }
        exact += same;
        if (!within) {
            bad++;
            if (first_bad < 0)
                first_bad = j;
        }
    }
    /* what the capture holds after the end of the reference */
    long long tail = cap.frames - (ref.frames + off);
    double tail_peak = 0;
    for (long long k = ref.frames + off; k < cap.frames; k++)
        for (int c = 0; c < C; c++)
            if (k >= 0 && fabs(cap.x[k * C + c]) > tail_peak)
                tail_peak = fabs(cap.x[k * C + c]);

    /* where a mismatch comes from: frames lost before the first captured one, or a jump */
    long long head_lost = 0, shift = 0;
    if (first_bad >= 0) {
        if (first_bad == (r0 > j0 ? r0 : j0)) {
            long long d = find_shift(&ref, r0, &cap, c0, tol);
            head_lost = d != NO_SHIFT && d > 0 ? d : 0;
        }
        if (head_lost == 0) {
            /* look a little past the first bad frame so the run compared is all new audio */
            long long d = find_shift(&ref, first_bad + 1, &cap, first_bad + 1 + off, tol);
            shift = d == NO_SHIFT ? 0 : d;
        }
    }

    int need_ok = min_frames >= 0 ? compared >= min_frames : missing == 0;
    int ok = bad == 0 && need_ok && compared > 0;

    printf("{\"match\":%s,\"ref_frames\":%lld,\"cap_frames\":%lld,\"channels\":%d,\"rate\":%d,"
           "\"ref_first\":%lld,\"cap_first\":%lld,\"offset\":%lld,\"compared\":%lld,"
           "\"exact\":%lld,\"mismatches\":%lld,\"first_mismatch\":%lld,\"max_abs_diff\":%.9g,"
           "\"max_diff_dbfs\":%.2f,\"head_lost\":%lld,\"shift\":%lld,\"missing\":%lld,"
           "\"tail\":%lld,\"tail_peak\":%.9g",
           ok ? "true" : "false", ref.frames, cap.frames, C, ref.rate, r0, c0, off, compared, exact,
           bad, first_bad, maxdiff, db_json(maxdiff), head_lost, shift, missing,
           tail > 0 ? tail : 0, tail_peak);
    if (freq >= 0 && compared > 0) {
        sine_result worst = {0}, r;
        int worst_ch = 0;
        for (int c = 0; c < C; c++) {
            long long a = first_above(&cap, c, 0), b = last_above(&cap, c, 0);
            long long from = j0 + off, to = j1 + off;
            if (a > from)
                from = a;
            if (b + 1 < to)
                to = b + 1;
            sine_check(&cap, c, from + 16, to - 16, freq, 2, &r);
            if (c == 0 || r.resid > worst.resid) {
                worst = r;
                worst_ch = c;
            }
        }
        printf(",");
        print_sine("sine", &worst, worst_ch);
    }
    printf("}\n");

    if (!ok) {
        if (compared == 0)
            fprintf(stderr, "rtcheck: the capture does not overlap the reference\n");
        if (bad)
            fprintf(stderr,
                    "rtcheck: %lld of %lld frames differ by more than %g (first at reference "
                    "frame %lld = capture frame %lld, largest difference %.3g)\n",
                    bad, compared, tol, first_bad, first_bad + off, maxdiff);
        if (head_lost)
            fprintf(stderr, "rtcheck: the capture lacks the first %lld frames of the signal\n",
                    head_lost);
        if (shift > 0)
            fprintf(stderr, "rtcheck: at that point the capture skips %lld reference frames\n",
                    shift);
        if (shift < 0)
            fprintf(stderr, "rtcheck: at that point the capture repeats or inserts %lld frames\n",
                    -shift);
        if (!need_ok) {
            if (min_frames >= 0)
                fprintf(stderr, "rtcheck: compared %lld frames, need %lld\n", compared, min_frames);
            else
                fprintf(stderr, "rtcheck: the capture ends %lld frames before the reference\n",
                        missing);
        }
    }
    free(ref.x);
    free(cap.x);
    return ok ? PASS : FAIL;
}

/* ---- sine ---- */

static int cmd_sine(int argc, char **argv)
{
    double freq = 997, limit = -60, v;
    long long from = -1, to = -1, margin = 16;
    int order = 2;
    int i = 0;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i += 2) {
        if (argv[i][2] || i + 1 >= argc || parse_num(argv[i + 1], &v))
            return usage("sine: bad option");
        switch (argv[i][1]) {
        case 'f': freq = v; break;
        case 'l': limit = v; break;
        case 'a': from = (long long)v; break;
        case 'b': to = (long long)v; break;
        case 'm': margin = (long long)v; break;
        case 'o':
            if (v != 2 && v != 4)
                return usage("sine: -o takes 2 or 4");
            order = (int)v;
            break;
        default: return usage("sine: unknown option");
        }
    }
    if (argc - i != 1 || margin < 0)
        return usage("sine needs one file");
    audio a;
    if (load(argv[i], &a))
        return USAGE;
    sine_result worst = {.at = -1}, r;
    int worst_ch = 0, any = 0;
    for (int c = 0; c < a.channels; c++) {
        long long f = from, t = to;
        if (f < 0 || t < 0) {
            long long s = first_above(&a, c, 0), e = last_above(&a, c, 0);
            if (s < 0)
                continue; /* silent channel */
            if (f < 0)
                f = s + margin;
            if (t < 0)
                t = e + 1 - margin;
        }
        sine_check(&a, c, f, t, freq, order, &r);
        if (r.n == 0)
            continue;
        if (!any || r.resid > worst.resid) {
            worst = r;
            worst_ch = c;
        }
        any = 1;
    }
    int ok = any && db(worst.resid) <= limit;
    printf("{\"steady\":%s,\"limit_dbfs\":%.2f,\"order\":%d,\"freq\":%.4f,", ok ? "true" : "false",
           limit, order, freq);
    print_sine("sine", &worst, worst_ch);
    printf("}\n");
    if (!any)
        fprintf(stderr, "rtcheck: '%s' has no sine to analyse (silent or too short)\n", argv[i]);
    else if (!ok)
        fprintf(stderr,
                "rtcheck: '%s' channel %d: discontinuity of %.1f dBFS at frame %lld (limit %.1f)\n",
                argv[i], worst_ch, db(worst.resid), worst.at, limit);
    free(a.x);
    return ok ? PASS : FAIL;
}

/* ---- info ---- */

static int cmd_info(int argc, char **argv)
{
    if (argc != 1)
        return usage("info needs one file");
    audio a;
    if (load(argv[0], &a))
        return USAGE;
    long long s = first_above(&a, -1, 0), e = last_above(&a, -1, 0);
    double peak = 0, sum = 0;
    for (long long i = 0; i < a.frames * a.channels; i++) {
        double x = a.x[i];
        if (fabs(x) > peak)
            peak = fabs(x);
        sum += x * x;
    }
    double rms = a.frames > 0 ? sqrt(sum / (double)(a.frames * a.channels)) : 0;
    printf("{\"frames\":%lld,\"channels\":%d,\"rate\":%d,\"leading_silent\":%lld,"
           "\"trailing_silent\":%lld,\"peak_dbfs\":%.2f,\"rms_dbfs\":%.2f}\n",
           a.frames, a.channels, a.rate, s < 0 ? a.frames : s, s < 0 ? 0 : a.frames - 1 - e,
           db_json(peak), db_json(rms));
    free(a.x);
    return PASS;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    if (!strcmp(argv[1], "match"))
        return cmd_match(argc - 2, argv + 2);
    if (!strcmp(argv[1], "sine"))
        return cmd_sine(argc - 2, argv + 2);
    if (!strcmp(argv[1], "info"))
        return cmd_info(argc - 2, argv + 2);
    return usage("unknown command");
}
