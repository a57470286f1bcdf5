/*
** mg_sndfile.h: shared libsndfile plumbing for every reader and writer of sound files.
** [control] except where tagged.
**
** Files are opened through libsndfile's virtual I/O on a stdio stream with a large buffer,
** so the disk sees few big requests instead of libsndfile's 8 KB ones, and a missing file is
** reported as "No such file or directory" (from errno) rather than libsndfile's
** "System error : ...".
*/
#ifndef MG_SNDFILE_H
#define MG_SNDFILE_H

#include <stddef.h>
#include <stdio.h>

#include <sndfile.h>

typedef struct mg_sndfile {
    SNDFILE *sf;
    FILE *fp;
    char *buf; /* the stream's buffer (glibc ignores a size given without one) */
    SF_INFO info;
} mg_sndfile;

/* Open `path` for reading. MG_OK (0) or non-zero with the reason (without the path) in why. */
int mg_sndfile_open_read(mg_sndfile *f, const char *path, char *why, size_t whysz);
/* Open an already created file descriptor for writing with info->format etc. The descriptor
   stays open after mg_sndfile_close (the caller syncs and closes it). */
int mg_sndfile_open_fd_write(mg_sndfile *f, int fd, const SF_INFO *info, char *why,
                             size_t whysz);
/* Close; returns non-zero when buffered data could not be written. Accepts a closed file. */
int mg_sndfile_close(mg_sndfile *f);

/* Non-zero when the file's samples are integers that sf_readf_int returns exactly (PCM and
   FLAC), so a reader can convert them to float itself, faster than libsndfile does. */
int mg_sndfile_is_int(const SF_INFO *info);

/* [any] Left-justified 32-bit samples to float in [-1, 1): x = i / 2^31, the same values
   libsndfile's normalised float reads give (exact up to 24 bits). */
void mg_sndfile_int_to_float(const int *in, float *out, size_t n);

/*
** Bytes per sample (2 or 3) when the file's audio data can be read with sf_read_raw and
** decoded by mg_sndfile_pcm_to_float (16- or 24-bit little-endian PCM in WAV, WAVEX, W64 or
** RF64; checked on the first frames against libsndfile's integer read), 0 when not, -1 when
** the file could not be put back at frame 0 (unusable). Leaves the file at frame 0.
*/
int mg_sndfile_raw_bytes(mg_sndfile *f);

/* [any] n little-endian packed PCM samples of `bytes` (2 or 3) bytes to float: the values of
   sf_readf_int + mg_sndfile_int_to_float, bit for bit, without libsndfile's conversion. */
void mg_sndfile_pcm_to_float(const unsigned char *in, float *out, size_t n, int bytes);

#endif
