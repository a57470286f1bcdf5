/*
** analyze_cmd.c: `mixgraph analyze`: loudness, peaks, levels and format of sound files, as
** text or JSON; --plot draws loudness over time and the spectrum (plot.c); --tracks compares
** tracks of a mix (loudness and masking per critical band). [control], main thread.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mg_analyze.h"
#include "mg_detect.h"
#include "mg_master.h"
#include "plot.h"

const char help_analyze[] =
    "usage: mixgraph analyze FILE... [--json] [--tempo] [--key]\n"
    "                        [--plot OUT.svg [--target LUFS|PLATFORM]]\n"
    "       mixgraph analyze --tracks FILE1 FILE2... [--json]\n"
    "\n"
    "For each file: format, duration, integrated loudness, loudness range, maximum momentary\n"
    "and short-term loudness (ITU-R BS.1770-5 / EBU R128, Tech 3342), sample and true peak,\n"
    "crest factor, clipped samples (|x| >= 32767/32768), stereo correlation, and per channel\n"
    "peak, RMS and DC offset.\n"
    "\n"
    "options:\n"
    "  --json           one JSON array of objects, one per file (-inf is null)\n"
    "  --tempo          also the tempo (BPM, 50..200), its confidence and the first beat\n"
    "  --key            also the musical key (24 major and minor keys) and its correlation\n"
    "  --plot OUT.svg   draw momentary and short-term loudness over time with the integrated\n"
    "                   and target lines, and the averaged spectrum (first file)\n"
    "  --target T       target line of the plot: LUFS or a platform (default spotify, -14)\n"
    "  --tracks         the files are tracks of one mix: each track's loudness relative to\n"
    "                   the loudest, and for each pair the critical bands where one track is\n"
    "                   10 dB or more above the other during at least half of the time the\n"
    "                   other sounds there (it masks it)\n";

static void print_db(const char *label, double v, const char *unit)
{
    if (isfinite(v))
        printf("  %-22s %8.2f %s\n", label, v, unit);
    else
        printf("  %-22s %8s %s\n", label, "-inf", unit);
}

static void json_num(const char *key, double v, int comma)
{
    if (isfinite(v))
        printf("\"%s\": %.4f%s", key, v, comma ? ", " : "");
    else
        printf("\"%s\": null%s", key, comma ? ", " : "");
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void print_text(const char *path, const mg_file_analysis *a)
{
    printf("%s\n", path);
    printf("  %-22s %s, %d ch, %g Hz\n", "format", a->format, a->channels, a->rate);
    printf("  %-22s %8.3f s\n", "duration", (double)a->frames / a->rate);
    print_db("integrated loudness", a->integrated, "LUFS");
    printf("  %-22s %8.2f LU\n", "loudness range", a->lra);
    print_db("max momentary", a->momentary_max, "LUFS");
    print_db("max short-term", a->shortterm_max, "LUFS");
    print_db("sample peak", a->sample_peak, "dBFS");
    print_db("true peak", a->true_peak, "dBTP");
    printf("  %-22s %8.2f dB\n", "crest factor", a->crest);
    printf("  %-22s %8llu\n", "clipped samples", (unsigned long long)a->clipped);
    if (a->channels == 2)
        printf("  %-22s %8.3f\n", "stereo correlation", a->correlation);
    printf("  %-8s %10s %10s %12s\n", "channel", "peak dBFS", "RMS dBFS", "DC offset");
    for (int c = 0; c < a->channels; c++) {
        char pk[16], rms[16];
        snprintf(pk, sizeof pk, isfinite(a->peak[c]) ? "%.2f" : "-inf", a->peak[c]);
        snprintf(rms, sizeof rms, isfinite(a->rms[c]) ? "%.2f" : "-inf", a->rms[c]);
        printf("  %-8d %10s %10s %12.6f\n", c + 1, pk, rms, a->dc[c]);
    }
}

static void print_json(const char *path, const mg_file_analysis *a)
{
    printf("{\"file\": ");
    json_str(path);
    printf(", \"format\": ");
    json_str(a->format);
    printf(", \"channels\": %d, \"rate\": %g, \"frames\": %lld, ", a->channels, a->rate,
           (long long)a->frames);
    json_num("duration", (double)a->frames / a->rate, 1);
    json_num("integrated", a->integrated, 1);
    json_num("lra", a->lra, 1);
    json_num("momentary_max", a->momentary_max, 1);
    json_num("shortterm_max", a->shortterm_max, 1);
    json_num("sample_peak", a->sample_peak, 1);
    json_num("true_peak", a->true_peak, 1);
    json_num("crest", a->crest, 1);
    json_num("correlation", a->correlation, 1);
    printf("\"clipped\": %llu, \"per_channel\": [", (unsigned long long)a->clipped);
    for (int c = 0; c < a->channels; c++) {
        printf("%s{", c ? ", " : "");
        json_num("peak", a->peak[c], 1);
        json_num("rms", a->rms[c], 1);
        printf("\"dc\": %.8f}", a->dc[c]);
    }
    printf("]");
}

/* --tempo / --key: detect, then print as text or as JSON fields (before the closing brace).
   Non-zero (after a message) when the file cannot be read. */
static int print_musical(const char *path, int tempo, int key, int json)
{
    mg_tempo t = {0};
    mg_key k;
    char err[1024];
    if (mg_detect_file(path, tempo ? &t : NULL, key ? &k : NULL, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    if (json) {
        if (tempo) {
            printf(", ");
            json_num("tempo", t.bpm > 0 ? t.bpm : -INFINITY, 1);
            json_num("tempo_confidence", t.confidence, 1);
            json_num("first_beat", t.n_beats ? t.beats[0] : -INFINITY, 0);
        }
        if (key) {
            printf(", \"key\": ");
            json_str(k.name);
            printf(", ");
            json_num("key_correlation", k.score, 0);
        }
    } else {
        if (tempo && t.bpm > 0)
            printf("  %-22s %8.2f BPM (confidence %.2f, first beat %.3f s)\n", "tempo", t.bpm,
                   t.confidence, t.n_beats ? t.beats[0] : 0.0);
        else if (tempo)
            printf("  %-22s %8s (no steady pulse)\n", "tempo", "-");
        if (key)
            printf("  %-22s %s (r = %.2f)\n", "key", k.name, k.score);
    }
    mg_tempo_free(&t);
    return 0;
}

/* Target LUFS from a number or a platform name; die_usage otherwise. */
static double parse_target(const char *v)
{
    const mg_target *t = mg_target_find(v);
    if (t)
        return t->lufs;
    return parse_num("analyze ", "--target", v);
}

static void band_name(int k, char *buf, size_t sz)
{
    double lo = mg_band_edges[k], hi = mg_band_edges[k + 1];
    if (lo >= 1000)
        snprintf(buf, sz, "%g-%g kHz", lo / 1000, hi / 1000);
    else if (hi > 1000)
        snprintf(buf, sz, "%g Hz-%g kHz", lo, hi / 1000);
    else
        snprintf(buf, sz, "%g-%g Hz", lo, hi);
}

/* --tracks: loudness relative to the loudest, then masking for each ordered pair. */
static int tracks_report(char **files, int n, const mg_file_analysis *a, int json)
{
    double loudest = -HUGE_VAL;
    for (int i = 0; i < n; i++)
        if (a[i].integrated > loudest)
            loudest = a[i].integrated;
    if (json)
        printf("{\"tracks\": [");
    else
        printf("tracks (integrated loudness; relative to the loudest)\n");
    for (int i = 0; i < n; i++) {
        double rel = a[i].integrated - loudest;
        if (json) {
            printf("%s{\"file\": ", i ? ", " : "");
            json_str(files[i]);
            printf(", ");
            json_num("integrated", a[i].integrated, 1);
            json_num("relative", rel, 1);
            json_num("shortterm_max", a[i].shortterm_max, 0);
            printf("}");
        } else if (isfinite(a[i].integrated)) {
            printf("  %-32s %8.2f LUFS %+7.2f LU\n", files[i], a[i].integrated,
                   isfinite(rel) ? rel : 0);
        } else {
            printf("  %-32s %8s LUFS (silent)\n", files[i], "-inf");
        }
    }
    if (json)
        printf("], \"masking\": [");
    else
        printf("masking (critical bands where the first track is >= %g dB above the second "
               "for at least half of the time the second sounds there)\n",
               MG_MASK_MARGIN);
    int first = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j)
                continue;
            int band[MG_BANDS];
            double share[MG_BANDS];
            int nb = mg_analyze_masked_bands(&a[i], &a[j], band, share);
            if (json) {
                printf("%s{\"masker\": ", first ? "" : ", ");
                json_str(files[i]);
                printf(", \"masked\": ");
                json_str(files[j]);
                printf(", \"bands\": [");
            } else {
                printf("  %s masks %s:", files[i], files[j]);
            }
            first = 0;
            for (int b = 0; b < nb; b++) {
                char name[64];
                band_name(band[b], name, sizeof name);
                if (json)
                    printf("%s{\"low\": %g, \"high\": %g, \"share\": %.3f}", b ? ", " : "",
                           mg_band_edges[band[b]], mg_band_edges[band[b] + 1], share[b]);
                else
                    printf("%s %s (%.0f%%)", b ? "," : "", name, 100 * share[b]);
            }
            if (json)
                printf("]}");
            else
                printf("%s\n", nb ? "" : " nowhere");
        }
    if (json)
        printf("]}\n");
    return EXIT_OK;
}

int cmd_analyze(int argc, char **argv)
{
    if (wants_help(argc, argv))
        return fputs(help_analyze, stdout), EXIT_OK;
    int json = 0, tracks = 0, tempo = 0, key = 0;
    const char *plot = NULL;
    double target = -14.0;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--tracks") == 0) {
            tracks = 1;
        } else if (strcmp(a, "--tempo") == 0) {
            tempo = 1;
        } else if (strcmp(a, "--key") == 0) {
            key = 1;
        } else if (strcmp(a, "--plot") == 0 || strcmp(a, "--target") == 0) {
            if (i + 1 >= argc)
                die_usage("analyze ", "option %s needs a value", a);
            if (a[2] == 'p')
                plot = argv[++i];
            else
                target = parse_target(argv[++i]);
        } else if (a[0] == '-' && a[1]) {
            die_usage("analyze ", "unknown option '%s'", a);
        } else {
            files[n++] = argv[i];
        }
    }
    if (n == 0)
        die_usage("analyze ", "missing FILE%s", "");
    if (tracks && n < 2)
        die_usage("analyze ", "--tracks needs at least two files%s", "");
    unsigned what = (plot ? MG_ANALYZE_SERIES | MG_ANALYZE_SPECTRUM : 0) |
                    (tracks ? MG_ANALYZE_BANDS : 0);
    mg_file_analysis *res = calloc((size_t)n, sizeof *res);
    int code = EXIT_OK, ok = 0;
    if (json && !tracks)
        printf("[");
    for (int i = 0; i < n; i++) {
        char err[1024];
        unsigned w = i == 0 || tracks ? what : 0;
        if (mg_analyze_file_ex(files[i], w, &res[i], err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", prog, err);
            code = EXIT_RUNTIME;
            continue;
        }
        if (tracks) {
            if (i > 0 && res[i].rate != res[0].rate) {
                fprintf(stderr, "%s: %s: %g Hz, but %s is %g Hz (tracks of one mix share a "
                        "rate)\n", prog, files[i], res[i].rate, files[0], res[0].rate);
                code = EXIT_RUNTIME;
            }
            continue;
        }
        if (json) {
            printf("%s", ok ? ",\n " : "");
            print_json(files[i], &res[i]);
        } else {
            print_text(files[i], &res[i]);
        }
        if ((tempo || key) && print_musical(files[i], tempo, key, json))
            code = EXIT_RUNTIME;
        if (json)
            printf("}");
        ok++;
        if (i == 0 && plot) {
            char perr[512];
            if (mg_plot_svg(plot, files[0], &res[0], target, perr, sizeof perr)) {
                fprintf(stderr, "%s: %s\n", prog, perr);
                code = EXIT_RUNTIME;
            }
        }
    }
    if (json && !tracks)
        printf("]\n");
    if (tracks && code == EXIT_OK)
        code = tracks_report(files, n, res, json);
    for (int i = 0; i < n; i++)
        mg_analysis_free(&res[i]);
    free(res);
    free(files);
    return code;
}
