/* examples_ref.h - naive double-precision references of the attention
 * examples under examples/ (kronecker_attention.tile,
 * positional_attention.tile, lowrank_attention.tile): straight loops over
 * the formulas in each example's header, row-major float inputs. */
#ifndef TILE_EXAMPLES_REF_H
#define TILE_EXAMPLES_REF_H

/* q: [Z, M, D]; k1, k2, v1, v2: [Z, N, D]; o: [Z, M, D].
 * o[z, i] = sum_{j1, j2} softmax(scale sum_d q k1[j1] k2[j2]) v1[j1] * v2[j2]. */
void kron_attention_ref(int Z, int M, int N, int D, const float *q, const float *k1,
                        const float *k2, const float *v1, const float *v2, double scale,
                        double *o);

/* pq: [H, M, D]; pk: [H, N, D]; v: [Z, H, N, E]; o: [Z, H, M, E].
 * o[z, h] = softmax(scale pq[h] pk[h]^T) v[z, h]. */
void positional_attention_ref(int Z, int H, int M, int N, int D, int E, const float *pq,
                              const float *pk, const float *v, double scale, double *o);

/* x: [Z, N, DX]; u: [DX, R]; c: [DC]; w: [DC, R]; p: [H, R]; o: [Z, H, DX].
 * s[h, i] = sum_r p[h, r] tanh((x_i U)_r) tanh((c W)_r); o[z, h] = sum_i softmax_i(s[h]) x_i. */
void lowrank_attention_ref(int Z, int N, int DX, int DC, int R, int H, const float *x,
                           const float *u, const float *c, const float *w, const float *p,
                           double *o);

#endif
