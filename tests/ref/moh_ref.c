/* moh_ref.c - see moh_ref.h. */
#include "moh_ref.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

static bool moh_ref_block_used(const attn_dims *d, int BM, const float *g, int z, int h, int i)
{
    int lo = i / BM * BM;
    for (int r = lo; r < lo + BM && r < d->M; r++)
        if (g[((size_t)z * d->M + r) * d->H + h] != 0) return true;
    return false;
}

void moh_ref_apply(const attn_dims *d, int BM, const float *g, double *o, double *lse)
{
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++)
            for (int i = 0; i < d->M; i++) {
                size_t row = ((size_t)z * d->H + h) * d->M + i;
                bool used = moh_ref_block_used(d, BM, g, z, h, i);
                double w = g[((size_t)z * d->M + i) * d->H + h];
                for (int c = 0; c < d->D; c++) o[row * d->D + c] = used ? w * o[row * d->D + c] : 0;
                if (!used) lse[row] = -INFINITY;
            }
}
