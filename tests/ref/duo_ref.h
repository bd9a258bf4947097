/* duo_ref.h - references for per-head attention policies (DuoAttention,
 * RazorAttention), from ALGORITHMS.md: streaming[h] != 0 makes head h a
 * streaming head (S sinks + window of W keys), else a retrieval head (causal).
 * Double precision, no tiling, no code shared with lib/attention/duo.tile. */
#ifndef TILE_DUO_REF_H
#define TILE_DUO_REF_H

#include <stdint.h>

#include "attn_ref.h"

/* Whether key j is visible to the query at position ip (bottom-right
 * aligned: ip = i + (N - M)) under the head's policy. */
int duo_ref_visible(int streaming, int W, int S, int ip, int j);

/* The dense [Z, H, M, N] mask for attn_ref_fwd's ATTN_MASK_EXPLICIT. */
void duo_ref_mask(const attn_dims *d, const int32_t *streaming, int W, int S, uint8_t *visible);

/* Decoding over a paged cache (attn_ref_decode's layout) under the policy:
 * the new token is at position n - 1 of its sequence (n = seq_lens[z]).
 * o: [Z, H, D]; lse: [Z, H]; a head that sees nothing gets 0, -inf. */
void duo_ref_decode(const attn_paged_dims *d, const float *q, const float *k_cache,
                    const float *v_cache, const int32_t *block_table, const int32_t *seq_lens,
                    const int32_t *streaming, int W, int S, double scale, double *o, double *lse);

#endif
