/*
** sndfile_util.c: shared libsndfile helpers (mg_sndfile.h). [control] except where tagged.
*/
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "mg_sndfile.h"
#include "mixgraph.h"

/* stdio buffer per open file: small enough to stay in the L2 cache between a refill and
   the reads it serves (256 KB cost a mix render of eight stems 4 % of its time in cache
   misses; 32 KB is one read system call per 5,000 stereo 24-bit frames) */
#define IO_BUFFER (32 << 10)

static sf_count_t v_filelen(void *ud)
{
    FILE *f = ud;
    off_t cur = ftello(f);
    if (cur < 0 || fseeko(f, 0, SEEK_END) != 0)
        return -1;
    off_t end = ftello(f);
    fseeko(f, cur, SEEK_SET);
    return end;
}

static sf_count_t v_seek(sf_count_t off, int whence, void *ud)
{
    FILE *f = ud;
    off_t cur = ftello(f);
    /* libsndfile seeks to where it already is before most reads and writes; a real fseeko
       would flush or drop the stdio buffer each time */
    if ((whence == SEEK_CUR && off == 0) || (whence == SEEK_SET && (off_t)off == cur))
        return cur;
    return fseeko(f, (off_t)off, whence) == 0 ? ftello(f) : -1;
}

static sf_count_t v_read(void *p, sf_count_t n, void *ud) { return (sf_count_t)fread(p, 1, (size_t)n, ud); }

static sf_count_t v_write(const void *p, sf_count_t n, void *ud)
{
    return (sf_count_t)fwrite(p, 1, (size_t)n, ud);
}

static sf_count_t v_tell(void *ud) { return ftello(ud); }

static SF_VIRTUAL_IO vio = {v_filelen, v_seek, v_read, v_write, v_tell};

static int open_stream(mg_sndfile *f, FILE *fp, int mode, char *why, size_t whysz)
{
    f->fp = fp;
    f->buf = malloc(IO_BUFFER);
    if (f->buf)
        setvbuf(fp, f->buf, _IOFBF, IO_BUFFER);
    f->sf = sf_open_virtual(&vio, mode, &f->info, fp);
    if (!f->sf) {
        snprintf(why, whysz, "%s", sf_strerror(NULL));
        mg_sndfile_close(f);
        return -1;
    }
    return 0;
}

int mg_sndfile_open_read(mg_sndfile *f, const char *path, char *why, size_t whysz)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(why, whysz, "%s", strerror(errno));
        return -1;
    }
    return open_stream(f, fp, SFM_READ, why, whysz);
}

int mg_sndfile_open_fd_write(mg_sndfile *f, int fd, const SF_INFO *info, char *why, size_t whysz)
{
    memset(f, 0, sizeof *f);
    f->info = *info;
    int dupfd = dup(fd);
    FILE *fp = dupfd >= 0 ? fdopen(dupfd, "w+b") : NULL;
    if (!fp) {
        snprintf(why, whysz, "%s", strerror(errno));
        if (dupfd >= 0)
            close(dupfd);
        return -1;
    }
    return open_stream(f, fp, SFM_WRITE, why, whysz);
}

int mg_sndfile_close(mg_sndfile *f)
{
    int err = 0;
    if (f->sf)
        err |= sf_close(f->sf) != 0;
    if (f->fp)
        err |= fclose(f->fp) != 0;
    free(f->buf);
    f->sf = NULL;
    f->fp = NULL;
    f->buf = NULL;
    return err;
}

int mg_sndfile_is_int(const SF_INFO *info)
{
    switch (info->format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
    case SF_FORMAT_PCM_16:
    case SF_FORMAT_PCM_24:
    case SF_FORMAT_PCM_32:
        return 1;
    default:
        return 0;
    }
}

void mg_sndfile_int_to_float(const int *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)in[i] * (1.0f / 2147483648.0f);
}

/* Sample i of little-endian packed PCM of `bytes` bytes, left-justified to 32 bits (what
   libsndfile's integer read gives). */
static inline int32_t pcm_le(const unsigned char *p, int bytes)
{
    uint32_t u = 0;
    for (int k = 0; k < bytes; k++)
        u |= (uint32_t)p[k] << (8 * (4 - bytes + k));
    return (int32_t)u;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define PCM_AVX2 1
/*
** [any] 24-bit samples 0 .. return value - 1 of n, eight at a time: each 128-bit lane loads 16
** bytes (four samples and 4 spare bytes) and a byte shuffle places every sample's three bytes
** in the top of a 32-bit word, then the same int-to-float conversion and scale as the scalar
** loop (round to nearest): the same bits. Stops early enough never to read past the input.
*/
__attribute__((target("avx2"))) static size_t pcm24_avx2(const unsigned char *in, float *out,
                                                         size_t n)
{
    const __m256i shuf = _mm256_setr_epi8(
        -1, 0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11,
        -1, 0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11);
    const __m256 k = _mm256_set1_ps(1.0f / 2147483648.0f);
    size_t i = 0;
    for (; i + 8 + 2 <= n; i += 8) { /* the upper lane reads 4 bytes past sample i + 7 */
        const unsigned char *p = in + 3 * i;
        __m256i v = _mm256_loadu2_m128i((const __m128i *)(p + 12), (const __m128i *)p);
        __m256i w = _mm256_shuffle_epi8(v, shuf);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(w), k));
    }
    return i;
}
#endif

void mg_sndfile_pcm_to_float(const unsigned char *in, float *out, size_t n, int bytes)
{
    const float k = 1.0f / 2147483648.0f;
    size_t i = 0;
#if defined(PCM_AVX2)
    if (bytes == 3 && mg_simd_level() >= MG_SIMD_AVX2)
        i = pcm24_avx2(in, out, n);
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* whole little-endian words: a 24-bit sample is the 32-bit word at its first byte shifted
       up by 8 (the next sample's first byte falls out), so all but the last sample are one
       unaligned load each; 16-bit ones vectorise */
    if (bytes == 3) {
        for (; i + 1 < n; i++) {
            uint32_t u;
            memcpy(&u, in + 3 * i, sizeof u);
            out[i] = (float)(int32_t)(u << 8) * k;
        }
    } else {
        for (; i < n; i++) {
            uint16_t u;
            memcpy(&u, in + 2 * i, sizeof u);
            out[i] = (float)(int32_t)((uint32_t)u << 16) * k;
        }
    }
#endif
    for (; i < n; i++)
        out[i] = (float)pcm_le(in + (size_t)bytes * i, bytes) * k;
}

int mg_sndfile_raw_bytes(mg_sndfile *f)
{
    const SF_INFO *info = &f->info;
    int type = info->format & SF_FORMAT_TYPEMASK, end = info->format & SF_FORMAT_ENDMASK;
    int bytes = 0;
    if ((info->format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_16)
        bytes = 2;
    else if ((info->format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_24)
        bytes = 3;
    if (!bytes || !info->seekable || (end != SF_ENDIAN_FILE && end != SF_ENDIAN_LITTLE) ||
        (type != SF_FORMAT_WAV && type != SF_FORMAT_WAVEX && type != SF_FORMAT_W64 &&
         type != SF_FORMAT_RF64))
        return 0;
    /* check the first frames against libsndfile's own integer read (an unexpected layout,
       e.g. a big-endian RIFX file, then keeps the libsndfile path); back at frame 0 after */
    enum { CHECK = 256 };
    size_t ch = (size_t)info->channels;
    sf_count_t n = info->frames < CHECK ? info->frames : CHECK;
    int *ref = malloc((size_t)n * ch * sizeof *ref);
    unsigned char *raw = malloc((size_t)n * ch * (size_t)bytes);
    int ok = ref && raw && n > 0 && sf_seek(f->sf, 0, SEEK_SET) == 0 &&
             sf_readf_int(f->sf, ref, n) == n && sf_seek(f->sf, 0, SEEK_SET) == 0 &&
             sf_read_raw(f->sf, raw, n * (sf_count_t)(ch * (size_t)bytes)) ==
                 n * (sf_count_t)(ch * (size_t)bytes);
    for (size_t i = 0; ok && i < (size_t)n * ch; i++)
        ok = pcm_le(raw + (size_t)bytes * i, bytes) == ref[i];
    free(ref);
    free(raw);
    if (sf_seek(f->sf, 0, SEEK_SET) != 0)
        return -1;
    return ok ? bytes : 0;
}
