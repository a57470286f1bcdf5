/*
** reverb_frames.h: the reverb's feed-forward chunk stages for one vector width, private to
** reverb.c, which includes it once per width with FV (a GCC vector of FW floats), FIV (FW
** int32) and FR(name) (the width's function name) defined. Frames go FW at a time through
** each loop; every lane does the same IEEE operations, so both widths give the same bits.
** Vectors wider than the baseline's registers are passed by pointer, never by value.
*/

static inline void FR(ldv)(FV *v, const float *p) { memcpy(v, p, sizeof *v); }
static inline void FR(stv)(float *p, const FV *v) { memcpy(p, v, sizeof *v); }

/* mg_dline_clean on each lane: NaN, infinities, |x| >= 1e30 and |x| <= 1e-30 become +0. */
#if FW == 16
/* The same by integer arithmetic on the magnitude's bits (ordered as the floats are; NaN above
   infinity): GCC lowers a 16-lane float comparison lane by lane in an inlined function. */
STAGE void FR(cleanv)(FV *v)
{
    FIV x = (FIV)*v, a = x & 0x7fffffff;
    FIV above = (FIV)(0x0da24260 - a) >> 31; /* -1 where a > bits(1e-30f) */
    FIV below = (FIV)(a - 0x7149f2ca) >> 31; /* -1 where a < bits(1e30f) */
    *v = (FV)(x & above & below);
}
#else
static inline void FR(cleanv)(FV *v)
{
    FV x = *v, a = (FV)((FIV)x & 0x7fffffff);
    *v = (FV)((FIV)x & ((a > 1e-30f) & (a < 1e30f)));
}
#endif

/* [rt] In place: the unnormalised Hadamard matrix (Sylvester order) as a butterfly network.
   The pragmas unroll it completely, so v stays in registers. */
STAGE void FR(hadamard)(FV *v, const int n)
{
#pragma GCC unroll 4
    for (int h = 1; h < n; h <<= 1)
#pragma GCC unroll 8
        for (int i = 0; i < n; i += h << 1)
#pragma GCC unroll 8
            for (int j = i; j < i + h; j++) {
                FV a = v[j], c = v[j + h];
                v[j] = a + c;
                v[j + h] = a - c;
            }
}

/* [rt] v[j] into dst[j] at frames t.. of a chunk of L: only frames < L are written. */
STAGE void FR(store_rows)(float *const *dst, const FV *v, const int n, uint32_t t, uint32_t L)
{
    if (t + FW <= L) {
#pragma GCC unroll 16
        for (int j = 0; j < n; j++)
            FR(stv)(dst[j] + t, &v[j]);
    } else { /* through memory, so that v stays in registers on the common path */
        for (int j = 0; j < n; j++) {
            float part[FW];
            FR(stv)(part, &v[j]);
            memcpy(dst[j] + t, part, (size_t)(L - t) * sizeof part[0]);
        }
    }
}

/*
** [rt] dst[j][t] = sum_i H[j][i] g_i src[i][t] for frames 0..L-1, FW frames at a time
** (g_i: g[i FW_MAX .. i FW_MAX + FW), the gain repeated per lane; g NULL: 1). The last group
** may read up to FW - 1 frames past the end of src (don't-care values) but writes only
** frames < L. dst may be src.
*/
STAGE void FR(hadamard_group)(float *const *dst, const float *const *src, const float *g,
                              const int n, uint32_t t, uint32_t L)
{
    FV v[MAX_LINES];
#pragma GCC unroll 16
    for (int j = 0; j < n; j++) {
        FR(ldv)(&v[j], src[j] + t);
        if (g) {
            FV gj;
            FR(ldv)(&gj, g + j * FW_MAX);
            v[j] *= gj;
        }
    }
    FR(hadamard)(v, n);
    FR(store_rows)(dst, v, n, t, L);
}

/* (The whole groups and the partial last one are separate copies of the group, so the
   vectors of the whole ones never go through memory.) */
STAGE void FR(hadamard_rows)(float *const *dst, const float *const *src, const float *g,
                             const int n, uint32_t L)
{
    uint32_t t = 0;
    for (; t + FW <= L; t += FW)
        FR(hadamard_group)(dst, src, g, n, t, t + FW);
    if (t < L)
        FR(hadamard_group)(dst, src, g, n, t, L);
}

/*
** 4b. Mix the line outputs (Hadamard; from s->y, or s->yt in the eight-wide build), add the
** diffused input (s->v from frame c of the front end's run), write the lines, and project the
** result on the two output directions (into s->wet). Feed-forward over the chunk, FW frames
** at a time in registers.
*/
STAGE void FR(lines_group)(reverb_state *s, float *const *o, uint32_t t, uint32_t L,
                           uint32_t c, const int n)
{
    {
        FV v[MAX_LINES], wl = {0}, wr = {0};
#if FW == 8 /* the AVX2 build's line outputs are frame-major: transpose 8 x 8 blocks */
#pragma GCC unroll 2
        for (int j0 = 0; j0 < n; j0 += 8) {
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++)
                FR(ldv)(&v[j0 + l], s->yt[t + l] + j0);
            transpose8(v + j0);
        }
#elif FW == 16 /* the same, two 8 x 8 blocks of frames side by side */
#pragma GCC unroll 2
        for (int j0 = 0; j0 < n; j0 += 8) {
            f8 lo[8], hi[8];
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) {
                memcpy(&lo[l], s->yt[t + l] + j0, sizeof lo[l]);
                memcpy(&hi[l], s->yt[t + 8 + l] + j0, sizeof hi[l]);
            }
            transpose8(lo);
            transpose8(hi);
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++)
                v[j0 + l] = CAT16(lo[l], hi[l]);
        }
#else
#pragma GCC unroll 16
        for (int j = 0; j < n; j++)
            FR(ldv)(&v[j], s->y[j] + t);
#endif
        FR(hadamard)(v, n);
#pragma GCC unroll 16
        for (int j = 0; j < n; j++) {
            FV d;
            FR(ldv)(&d, s->v[j] + c + t);
            v[j] += d;
            FR(cleanv)(&v[j]);
            wl += s->cl[j] * v[j];
            wr += s->cr[j] * v[j];
        }
        FR(stv)(s->wet[0] + t, &wl);
        FR(stv)(s->wet[1] + t, &wr);
        FR(store_rows)(o, v, n, t, L);
    }
}

STAGE void FR(lines_write)(reverb_state *s, uint32_t L, uint32_t pos, uint32_t c, const int n)
{
    float *o[MAX_LINES];
    for (int j = 0; j < n; j++)
        o[j] = mg_dline_wspan(&s->line[j], pos);
    uint32_t t = 0; /* whole groups, then the partial last one, as in hadamard_rows */
    for (; t + FW <= L; t += FW)
        FR(lines_group)(s, o, t, t + FW, c, n);
    if (t < L)
        FR(lines_group)(s, o, t, L, c, n);
    for (int j = 0; j < n; j++)
        mg_dline_wrote(&s->line[j], pos, L);
}
