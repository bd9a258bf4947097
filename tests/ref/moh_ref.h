/* moh_ref.h - Mixture-of-Head attention (MoH, arXiv 2410.11842) on top of a
 * softmax attention reference: O[z, h, i] = g[z, i, h] O[z, h, i], LSE
 * unchanged, except that a block of BM rows of a head whose router weights
 * are all 0 is skipped by the kernel: its rows are O = 0, LSE = -inf. */
#ifndef TILE_MOH_REF_H
#define TILE_MOH_REF_H

#include "attn_ref.h"

/* o: [Z, H, M, D], lse: [Z, H, M] from attn_ref_fwd, rewritten in place;
 * g: [Z, M, H]. */
void moh_ref_apply(const attn_dims *d, int BM, const float *g, double *o, double *lse);

#endif
