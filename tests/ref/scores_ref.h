/* scores_ref.h - naive softmax attention with a score modifier, in double:
 * the forward and its gradient by the chain rule written out by hand (the
 * autograd of S' = score(S), S = scale Q K^T), for tests/test_lib_scores.c.
 * Shares no code with lib/attention/scores.tile; masks are attn_ref's.
 *
 * Forward: S'_ij = score(scale q_i . k_j), masked entries -inf, P = softmax
 * rows of S', O = P V, LSE = log sum_j exp S'_ij.  Backward of L = sum(dO o O):
 * dV = P^T dO, dP = dO V^T, dS' = P o (dP - rowsum(P o dP)),
 * dS = dS' o score'(S), dQ = scale dS K, dK = scale dS^T Q (dK, dV summed
 * over the query heads of a GQA group).  Row i sits at key position
 * i' = i + (N - M) (bottom-right aligned). */
#ifndef TILE_SCORES_REF_H
#define TILE_SCORES_REF_H

#include <stdint.h>

#include "attn_ref.h"

typedef enum score_kind {
    SCORE_IDENTITY,
    SCORE_ALIBI,    /* s + slopes[h] (j - i') */
    SCORE_SOFTCAP,  /* cap tanh(s / cap) */
    SCORE_REL_BIAS, /* s + bias[h, (j - i') + N - 1] (0 outside [0, 2N - 1)) */
    SCORE_ACT,      /* s + log(beta[h]) where sink[j] != 0 */
    SCORE_T5,       /* s + bias[h, t5_bucket(j - i', bidirectional)] */
    SCORE_T5_CAUSAL, /* s + bias[h, t5_bucket(j - i', causal)] */
} score_kind;

typedef struct score_mod {
    score_kind kind;
    const float *slopes;   /* ALIBI: [H] */
    double cap;            /* SOFTCAP */
    const float *bias;     /* REL_BIAS: [H, 2N - 1] */
    const int32_t *sink;   /* ACT: [N] */
    const float *beta;     /* ACT: [H] */
    int num_buckets;       /* T5*: bias is [H, num_buckets] */
    int max_distance;
    long perturb_at;       /* adds `perturb` to this flat entry of the learned */
    double perturb;        /* table (finite differences in double) */
} score_mod;

/* T5's relative-position bucket of rp = key - query position, as
 * mesh_tensorflow's _relative_position_bucket computes it (f32 log, the
 * ratio truncated toward zero): bidirectional != 0 splits the buckets by the
 * sign of rp. */
int score_ref_t5_bucket(long rp, int num_buckets, int max_distance, int bidirectional);

/* The learned table of the modifier (ALIBI: slopes [H]; REL_BIAS: bias
 * [H, 2N - 1]; T5*: bias [H, num_buckets]): its length (0 for the others),
 * and the gradient of L = sum(dO o O) with respect to it, summed over every
 * (z, h, i, j) that reads an entry. */
long score_ref_table_len(const score_mod *sm, const attn_dims *d);
void score_ref_table_grad(const attn_dims *d, const float *q, const float *k, const float *v,
                          const float *dout, double scale, const attn_mask *mask,
                          const score_mod *sm, double *dtable);

/* score(s) at (h, i, j), and its derivative with respect to s in *ds. */
double score_ref_apply(const score_mod *sm, const attn_dims *d, int h, int i, int j, double s,
                       double *ds);

/* As attn_ref_fwd / attn_ref_bwd, with the modifier. */
void score_ref_fwd(const attn_dims *d, const float *q, const float *k, const float *v,
                   double scale, const attn_mask *mask, const score_mod *sm, double *o,
                   double *lse);
void score_ref_bwd(const attn_dims *d, const float *q, const float *k, const float *v,
                   const float *dout, double scale, const attn_mask *mask, const score_mod *sm,
                   double *dq, double *dk, double *dv);

#endif
