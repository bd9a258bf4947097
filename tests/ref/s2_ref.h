/* s2_ref.h - the dense mask of S2-Attention (heterogeneous context sharding),
 * straight from its definition in ALGORITHMS.md, for attn_ref_fwd's
 * ATTN_MASK_EXPLICIT: query i of head h sees key j iff j <= i' and
 * (j mod S == h mod S or i' - j < L), i' = i + (N - M). */
#ifndef TILE_S2_REF_H
#define TILE_S2_REF_H

#include <stdint.h>

#include "attn_ref.h"

/* visible: [Z, H, M, N], 1 where visible. */
void s2_ref_mask(const attn_dims *d, int S, int L, uint8_t *visible);

#endif
