/* aaren_ref.h - naive reference of Aaren ("Attention as an RNN", arXiv
 * 2405.13956): every prefix's softmax attention of one query per head,
 * recomputed from scratch for each prefix (O(N^2)), in double precision,
 * with no scan and no code shared with lib/attention/aaren.tile. */
#ifndef TILE_AAREN_REF_H
#define TILE_AAREN_REF_H

typedef struct aaren_dims {
    int Z, H, N, D, E;  /* q: [H, D]; k: [Z, H, N, D]; v, o: [Z, H, N, E] */
} aaren_dims;

/* o[z, h, t] = sum_{i<=t} e^{s_i} v_i / sum_{i<=t} e^{s_i}, s_i = q[h] . k[z, h, i]. */
void aaren_ref(const aaren_dims *d, const float *q, const float *k, const float *v, double *o);

#endif
