/*
** tmp_files.h: a temporary folder for tests that read sound files, and a float WAV writer.
** make_tmpdir() once, tmp_path(name) for paths inside, remove_tmpdir() at the end.
*/
#ifndef TMP_FILES_H
#define TMP_FILES_H

#include <dirent.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static inline void make_tmpdir(const char *prefix)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/%s.XXXXXX", prefix);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* A path in the folder; the last 8 results stay valid. */
static inline const char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static inline void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(tmp_path(e->d_name));
    closedir(d);
    rmdir(tmpdir);
}

/* Write planar channels x[c][0, frames) as a 32-bit float WAV (exact float values) named
   `name` in the folder; returns its path. */
static inline const char *write_wav(const char *name, int rate, int ch, float *const *x,
                                    long frames)
{
    const char *path = tmp_path(name);
    SF_INFO si = {.samplerate = rate, .channels = ch, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(path, SFM_WRITE, &si);
    float *buf = malloc((size_t)frames * (size_t)ch * sizeof *buf);
    if (!f || !buf) {
        fprintf(stderr, "cannot write %s: %s\n", path, sf_strerror(NULL));
        exit(1);
    }
    for (long i = 0; i < frames; i++)
        for (int c = 0; c < ch; c++)
            buf[i * ch + c] = x[c][i];
    sf_writef_float(f, buf, frames);
    sf_close(f);
    free(buf);
    return path;
}

static inline const char *write_mono(const char *name, int rate, float *x, long frames)
{
    return write_wav(name, rate, 1, &x, frames);
}

#endif
