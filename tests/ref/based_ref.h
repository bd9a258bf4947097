/* based_ref.h - naive reference of BASED linear attention (arXiv 2402.18668),
 * in double precision, the O(N^2) sum of ALGORITHMS.md with the feature map
 * expanded explicitly (phi(x) = [1, x, vec(x x^T) / sqrt 2]), so it shares
 * neither the Taylor identity nor the chunked state with lib/attention/based.tile. */
#ifndef TILE_BASED_REF_H
#define TILE_BASED_REF_H

typedef struct based_dims {
    int Z, H, HK, N, F, E;  /* q: [Z, H, N, F]; k: [Z, HK, N, F]; v: [Z, HK, N, E]; o: [Z, H, N, E] */
} based_dims;

/* y_t = sum_{s<=t} (phi(q_t).phi(k_s)) v_s / (1e-6 + sum_{s<=t} phi(q_t).phi(k_s));
 * query head h reads key/value head h / (H / HK).  F <= 16. */
void based_ref(const based_dims *d, const float *q, const float *k, const float *v, double *o);

#endif
