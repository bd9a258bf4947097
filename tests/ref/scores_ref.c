/* scores_ref.c - see scores_ref.h.  One row of scores at a time: the
 * modified scores and their derivatives, then the softmax, its output and
 * the gradients, each a plain loop over the definition. */
#include "scores_ref.h"

#include <math.h>
#include <stdlib.h>

int score_ref_t5_bucket(long rp, int num_buckets, int max_distance, int bidirectional)
{
    long n = -rp;                 /* mesh_tensorflow's n: query minus key */
    int ret = 0, nb = num_buckets;
    if (bidirectional) {
        nb /= 2;
        if (n < 0) ret += nb;
        n = labs(n);
    } else if (n < 0) {
        n = 0;
    }
    int max_exact = nb / 2;
    if (n < max_exact) return ret + (int)n;
    float ratio = logf((float)n / (float)max_exact) / (float)log((double)max_distance / max_exact);
    long large = max_exact + (long)(ratio * (float)(nb - max_exact));
    return ret + (int)(large < nb - 1 ? large : nb - 1);
}

long score_ref_table_len(const score_mod *sm, const attn_dims *d)
{
    switch (sm ? sm->kind : SCORE_IDENTITY) {
    case SCORE_ALIBI: return d->H;
    case SCORE_REL_BIAS: return (long)d->H * (2L * d->N - 1);
    case SCORE_T5: case SCORE_T5_CAUSAL: return (long)d->H * sm->num_buckets;
    default: return 0;
    }
}

/* The flat table entry that (h, i, j) reads (-1: none) and the derivative
 * of the modified score with respect to it in *coef. */
static long table_entry(const score_mod *sm, const attn_dims *d, int h, int i, int j,
                        double *coef)
{
    long rel = (long)j - ((long)i + (d->N - d->M));   /* j - i' */
    *coef = 1;
    switch (sm ? sm->kind : SCORE_IDENTITY) {
    case SCORE_ALIBI:
        *coef = (double)rel;
        return h;
    case SCORE_REL_BIAS: {
        long idx = rel + d->N - 1, R = 2L * d->N - 1;
        return idx >= 0 && idx < R ? (long)h * R + idx : -1;
    }
    case SCORE_T5: case SCORE_T5_CAUSAL:
        return (long)h * sm->num_buckets +
               score_ref_t5_bucket(rel, sm->num_buckets, sm->max_distance, sm->kind == SCORE_T5);
    default:
        return -1;
    }
}

static double entry_value(const score_mod *sm, const float *table, long e)
{
    return table[e] + (e == sm->perturb_at ? sm->perturb : 0.0);
}

double score_ref_apply(const score_mod *sm, const attn_dims *d, int h, int i, int j, double s,
                       double *ds)
{
    long rel = (long)j - ((long)i + (d->N - d->M));   /* j - i' */
    double coef;
    long e = table_entry(sm, d, h, i, j, &coef);
    *ds = 1;
    switch (sm ? sm->kind : SCORE_IDENTITY) {
    case SCORE_IDENTITY:
        return s;
    case SCORE_ALIBI:
        return s + entry_value(sm, sm->slopes, e) * (double)rel;
    case SCORE_SOFTCAP: {
        double t = tanh(s / sm->cap);
        *ds = 1 - t * t;
        return sm->cap * t;
    }
    case SCORE_REL_BIAS: case SCORE_T5: case SCORE_T5_CAUSAL:
        return s + (e >= 0 ? entry_value(sm, sm->bias, e) : 0.0);
    case SCORE_ACT:
        return s + (sm->sink[j] != 0 ? log((double)sm->beta[h]) : 0.0);
    }
    return s;
}

static const float *row(const float *x, const attn_dims *d, int z, int heads, int h, int len, int i)
{
    return x + ((((size_t)z * heads + h) * len + i) * d->D);
}

static double dotd(const float *a, const float *b, int n)
{
    double acc = 0;
    for (int x = 0; x < n; x++) acc += (double)a[x] * b[x];
    return acc;
}

/* Row (z, h, i): P (0 where masked), score'(S) and the LSE; false when the
 * row sees no key. */
static int row_softmax(const attn_dims *d, const float *q, const float *k, double scale,
                       const attn_mask *mask, const score_mod *sm, int z, int h, int i,
                       double *p, double *dscore, double *lse)
{
    int hk = h / (d->H / d->HK), seen = 0;
    double m = -INFINITY;
    for (int j = 0; j < d->N; j++) {
        p[j] = -INFINITY;
        dscore[j] = 0;
        if (!attn_ref_visible(mask, d, z, h, i, j)) continue;
        double s = scale * dotd(row(q, d, z, d->H, h, d->M, i), row(k, d, z, d->HK, hk, d->N, j), d->D);
        p[j] = score_ref_apply(sm, d, h, i, j, s, &dscore[j]);
        m = fmax(m, p[j]);
        seen = 1;
    }
    double l = 0;
    for (int j = 0; j < d->N; j++) {
        p[j] = seen && p[j] != -INFINITY ? exp(p[j] - m) : 0;
        l += p[j];
    }
    for (int j = 0; j < d->N && seen; j++) p[j] /= l;
    *lse = seen ? m + log(l) : -INFINITY;
    return seen;
}

void score_ref_fwd(const attn_dims *d, const float *q, const float *k, const float *v,
                   double scale, const attn_mask *mask, const score_mod *sm, double *o,
                   double *lse)
{
    double *p = malloc(sizeof *p * (size_t)d->N), *ds = malloc(sizeof *ds * (size_t)d->N);
    if (!p || !ds) abort();
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++)
            for (int i = 0; i < d->M; i++) {
                size_t r = ((size_t)z * d->H + h) * d->M + i;
                double l;
                row_softmax(d, q, k, scale, mask, sm, z, h, i, p, ds, &l);
                if (lse) lse[r] = l;
                int hk = h / (d->H / d->HK);
                for (int x = 0; x < d->D; x++) {
                    double acc = 0;
                    for (int j = 0; j < d->N; j++) acc += p[j] * row(v, d, z, d->HK, hk, d->N, j)[x];
                    o[r * d->D + x] = acc;
                }
            }
    free(p), free(ds);
}

void score_ref_bwd(const attn_dims *d, const float *q, const float *k, const float *v,
                   const float *dout, double scale, const attn_mask *mask, const score_mod *sm,
                   double *dq, double *dk, double *dv)
{
    size_t nq = (size_t)d->Z * d->H * d->M * d->D, nk = (size_t)d->Z * d->HK * d->N * d->D;
    for (size_t x = 0; x < nq; x++) dq[x] = 0;
    for (size_t x = 0; x < nk; x++) dk[x] = dv[x] = 0;
    double *p = malloc(sizeof *p * (size_t)d->N), *dscore = malloc(sizeof *dscore * (size_t)d->N);
    double *dp = malloc(sizeof *dp * (size_t)d->N);
    if (!p || !dscore || !dp) abort();
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++)
            for (int i = 0; i < d->M; i++) {
                double l;
                if (!row_softmax(d, q, k, scale, mask, sm, z, h, i, p, dscore, &l)) continue;
                int hk = h / (d->H / d->HK);
                const float *qi = row(q, d, z, d->H, h, d->M, i);
                const float *doi = row(dout, d, z, d->H, h, d->M, i);
                double delta = 0;
                for (int j = 0; j < d->N; j++) {
                    dp[j] = dotd(doi, row(v, d, z, d->HK, hk, d->N, j), d->D);
                    delta += p[j] * dp[j];
                }
                size_t qr = (((size_t)z * d->H + h) * d->M + i) * d->D;
                for (int j = 0; j < d->N; j++) {
                    double ds = p[j] * (dp[j] - delta) * dscore[j];   /* dS' o score'(S) */
                    size_t kr = (((size_t)z * d->HK + hk) * d->N + j) * d->D;
                    const float *kj = k + kr;
                    for (int x = 0; x < d->D; x++) {
                        dq[qr + x] += scale * ds * kj[x];
                        dk[kr + x] += scale * ds * qi[x];
                        dv[kr + x] += p[j] * doi[x];
                    }
                }
            }
    free(p), free(dscore), free(dp);
}

void score_ref_table_grad(const attn_dims *d, const float *q, const float *k, const float *v,
                          const float *dout, double scale, const attn_mask *mask,
                          const score_mod *sm, double *dtable)
{
    long len = score_ref_table_len(sm, d);
    for (long e = 0; e < len; e++) dtable[e] = 0;
    double *p = malloc(sizeof *p * (size_t)d->N), *dscore = malloc(sizeof *dscore * (size_t)d->N);
    double *dp = malloc(sizeof *dp * (size_t)d->N);
    if (!p || !dscore || !dp) abort();
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++)
            for (int i = 0; i < d->M; i++) {
                double l;
                if (!row_softmax(d, q, k, scale, mask, sm, z, h, i, p, dscore, &l)) continue;
                int hk = h / (d->H / d->HK);
                const float *doi = row(dout, d, z, d->H, h, d->M, i);
                double delta = 0;
                for (int j = 0; j < d->N; j++) {
                    dp[j] = dotd(doi, row(v, d, z, d->HK, hk, d->N, j), d->D);
                    delta += p[j] * dp[j];
                }
                for (int j = 0; j < d->N; j++) {
                    double coef;
                    long e = table_entry(sm, d, h, i, j, &coef);
                    if (e >= 0) dtable[e] += p[j] * (dp[j] - delta) * coef;   /* dS' dS'/de */
                }
            }
    free(p), free(dscore), free(dp);
}
