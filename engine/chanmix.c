/*
** chanmix.c: channel up/down-mixing rules between ports of different widths. [control]
** (matrices are built at compile; the plan applies them on the processing thread).
**
** "Speakers" rules after Web Audio for the layouts 1 (mono), 2 (L R), 4 (L R SL SR) and
** 6 (L R C LFE SL SR); every other pair is "discrete": channel k goes to channel k, extra
** inputs are dropped and extra outputs are silent. docs/architecture.md lists the matrices.
*/
#include <string.h>

#include "mg_internal.h"

#define H 0.70710678118654752f /* sqrt(1/2) */

enum { L, R, C, LFE, SL6 = 4, SR6 = 5, SL4 = 2, SR4 = 3 };

void mg_chanmix_matrix(int from, int to, float m[MG_MAX_CHANNELS][MG_MAX_CHANNELS])
{
    memset(m, 0, sizeof(float) * MG_MAX_CHANNELS * MG_MAX_CHANNELS);
    if (from == 1 && to == 2) {
        m[L][0] = m[R][0] = 1;
    } else if (from == 1 && to == 4) {
        m[L][0] = m[R][0] = 1;
    } else if (from == 1 && to == 6) {
        m[C][0] = 1;
    } else if (from == 2 && to == 1) {
        m[0][L] = m[0][R] = 0.5f;
    } else if (from == 4 && to == 1) {
        m[0][L] = m[0][R] = m[0][SL4] = m[0][SR4] = 0.25f;
    } else if (from == 4 && to == 2) {
        m[L][L] = m[L][SL4] = 0.5f;
        m[R][R] = m[R][SR4] = 0.5f;
    } else if (from == 6 && to == 1) {
        m[0][L] = m[0][R] = H;
        m[0][C] = 1;
        m[0][SL6] = m[0][SR6] = 0.5f;
    } else if (from == 6 && to == 2) {
        m[L][L] = 1, m[L][C] = H, m[L][SL6] = H;
        m[R][R] = 1, m[R][C] = H, m[R][SR6] = H;
    } else if (from == 6 && to == 4) {
        m[L][L] = 1, m[L][C] = H;
        m[R][R] = 1, m[R][C] = H;
        m[SL4][SL6] = 1, m[SR4][SR6] = 1;
    } else if (from == 2 && to == 6) {
        m[L][L] = m[R][R] = 1;
    } else if (from == 4 && to == 6) {
        m[L][L] = m[R][R] = 1;
        m[SL6][SL4] = m[SR6][SR4] = 1;
    } else {
        for (int k = 0; k < from && k < to; k++)
            m[k][k] = 1;
    }
}
