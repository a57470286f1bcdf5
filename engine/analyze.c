/*
** analyze.c: measures a sound file with the BS.1770 meter (loudness.c). [control]
** Streams the file in blocks, so memory does not grow with its length.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "mg_analyze.h"
#include "mg_loudness.h"
#include "mg_node.h"
#include "mg_sndfile.h"

static double to_db(double v) { return v > 0 ? 20 * log10(v) : -HUGE_VAL; }

static void describe_format(int format, char *buf, size_t sz)
{
    SF_FORMAT_INFO major = {.format = format & SF_FORMAT_TYPEMASK};
    SF_FORMAT_INFO sub = {.format = format & SF_FORMAT_SUBMASK};
    sf_command(NULL, SFC_GET_FORMAT_INFO, &major, sizeof major);
    sf_command(NULL, SFC_GET_FORMAT_INFO, &sub, sizeof sub);
    snprintf(buf, sz, "%s, %s", major.name ? major.name : "?", sub.name ? sub.name : "?");
}

mg_status mg_analyze_file(const char *path, mg_file_analysis *a, char *err, size_t errsz)
{
    memset(a, 0, sizeof *a);
    mg_sndfile snd;
    char why[256];
    if (mg_sndfile_open_read(&snd, path, why, sizeof why)) {
        snprintf(err, errsz, "%s: %s", path, why);
        return MG_ERR_IO;
    }
    SNDFILE *sf = snd.sf;
    SF_INFO info = snd.info;
    if (info.channels < 1 || info.channels > MG_MAX_CHANNELS) {
        snprintf(err, errsz, "%s: %d channels (at most %d supported)", path, info.channels,
                 MG_MAX_CHANNELS);
        mg_sndfile_close(&snd);
        return MG_ERR_FORMAT;
    }
    a->rate = info.samplerate;
    a->channels = info.channels;
    describe_format(info.format, a->format, sizeof a->format);
    mg_status st;
    mg_loudness *m = mg_loudness_new(info.samplerate, info.channels, &st);
    enum { BLOCK = 4096 };
    float *inter = malloc(sizeof(float) * BLOCK * (size_t)info.channels);
    float *planar = malloc(sizeof(float) * BLOCK * (size_t)info.channels);
    if (!m || !inter || !planar) {
        snprintf(err, errsz, "%s: %s", path,
                 m ? "out of memory" : "sample rate outside what the meter supports");
        st = m ? MG_ERR_NOMEM : MG_ERR_FORMAT;
        goto done;
    }
    const float *ch[MG_MAX_CHANNELS];
    for (int c = 0; c < info.channels; c++)
        ch[c] = planar + (size_t)c * BLOCK;
    sf_count_t n;
    while ((n = sf_readf_float(sf, inter, BLOCK)) > 0) {
        for (sf_count_t i = 0; i < n; i++)
            for (int c = 0; c < info.channels; c++)
                planar[(size_t)c * BLOCK + (size_t)i] = inter[i * info.channels + c];
        mg_loudness_add(m, ch, (size_t)n);
        a->frames += n;
    }
    if (sf_error(sf)) {
        snprintf(err, errsz, "%s: %s", path, sf_strerror(sf));
        st = MG_ERR_IO;
        goto done;
    }
    a->integrated = mg_loudness_integrated(m);
    a->momentary_max = mg_loudness_momentary_max(m);
    a->shortterm_max = mg_loudness_shortterm_max(m);
    a->sample_peak = to_db(mg_loudness_sample_peak(m, MG_LOUDNESS_ALL));
    a->true_peak = to_db(mg_loudness_true_peak(m, MG_LOUDNESS_ALL));
    st = MG_OK;
done:
    free(inter);
    free(planar);
    mg_loudness_free(m);
    mg_sndfile_close(&snd);
    return st;
}
