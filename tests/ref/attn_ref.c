/* attn_ref.c - naive double-precision attention references (see attn_ref.h).
 * Every function is the definition written as loops; speed is irrelevant. */
#include "attn_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- masks --------------------------------------------------------------- */
bool attn_ref_visible(const attn_mask *mask, const attn_dims *d, int z, int h, int i, int j)
{
    if (!mask) return true;
    long shifted = (long)i + (d->N - d->M); /* i' = i + (N - M) */
    switch (mask->kind) {
    case ATTN_MASK_FULL:
        return true;
    case ATTN_MASK_CAUSAL:
        return j <= shifted;
    case ATTN_MASK_SLIDING:
        return j <= shifted && (shifted - j < mask->window || j < mask->sinks);
    case ATTN_MASK_EXPLICIT:
        return mask->visible[(((size_t)z * d->H + h) * d->M + i) * d->N + j] != 0;
    case ATTN_MASK_DOCUMENT:
    case ATTN_MASK_DOCUMENT_CAUSAL:
        if (shifted < 0 || (mask->kind == ATTN_MASK_DOCUMENT_CAUSAL && j > shifted)) return false;
    {
        const int32_t *doc = ((const attn_doc_mask *)(const void *)mask)->doc;
        return doc[(size_t)z * d->N + (size_t)shifted] == doc[(size_t)z * d->N + j];
    }
    }
    return false;
}

void attn_ref_block_sparse_mask(const attn_dims *d, int BM, int BN, int maxb,
                                const int32_t *kv_idx, const int32_t *kv_cnt,
                                const attn_mask *inner, uint8_t *visible)
{
    int MB = (d->M + BM - 1) / BM;
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++)
            for (int i = 0; i < d->M; i++)
                for (int j = 0; j < d->N; j++) {
                    size_t qb = ((size_t)z * d->H + h) * MB + (size_t)(i / BM);
                    bool listed = false;
                    for (int t = 0; t < kv_cnt[qb]; t++)
                        if (kv_idx[qb * maxb + t] == j / BN) listed = true;
                    visible[(((size_t)z * d->H + h) * d->M + i) * d->N + j] =
                        listed && attn_ref_visible(inner, d, z, h, i, j);
                }
}

/* ---- softmax attention ---------------------------------------------------- */
static size_t qidx(const attn_dims *d, int z, int h, int i) /* row of q, o, dout */
{
    return (((size_t)z * d->H + h) * d->M + i) * d->D;
}

static size_t kidx(const attn_dims *d, int z, int hk, int j) /* row of k, v */
{
    return (((size_t)z * d->HK + hk) * d->N + j) * d->D;
}

/* P[j] = softmax over the visible scores of row (z, h, i); returns the LSE
 * (-inf and P = 0 when no key is visible). */
static double softmax_row(const attn_dims *d, const float *q, const float *k, double scale,
                          const attn_mask *mask, int z, int h, int i, double *p)
{
    int hk = h / (d->H / d->HK);
    double m = -INFINITY;
    for (int j = 0; j < d->N; j++) {
        if (!attn_ref_visible(mask, d, z, h, i, j)) {
            p[j] = -INFINITY;
            continue;
        }
        double s = 0;
        for (int c = 0; c < d->D; c++)
            s += (double)q[qidx(d, z, h, i) + c] * k[kidx(d, z, hk, j) + c];
        p[j] = s * scale;
        if (p[j] > m) m = p[j];
    }
    if (m == -INFINITY) {
        for (int j = 0; j < d->N; j++) p[j] = 0;
        return -INFINITY;
    }
    double sum = 0;
    for (int j = 0; j < d->N; j++) {
        p[j] = exp(p[j] - m); /* exp(-inf) = 0 for masked keys */
        sum += p[j];
    }
    for (int j = 0; j < d->N; j++) p[j] /= sum;
    return m + log(sum);
}

void attn_ref_fwd(const attn_dims *d, const float *q, const float *k, const float *v,
                  double scale, const attn_mask *mask, double *o, double *lse)
{
    double *p = malloc(sizeof *p * (size_t)(d->N > 0 ? d->N : 1));
    if (!p) abort();
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++) {
            int hk = h / (d->H / d->HK);
            for (int i = 0; i < d->M; i++) {
                double row_lse = softmax_row(d, q, k, scale, mask, z, h, i, p);
                if (lse) lse[((size_t)z * d->H + h) * d->M + i] = row_lse;
                for (int c = 0; c < d->D; c++) {
                    double acc = 0;
                    for (int j = 0; j < d->N; j++) acc += p[j] * v[kidx(d, z, hk, j) + c];
                    o[qidx(d, z, h, i) + c] = acc;
                }
            }
        }
    free(p);
}

void attn_ref_bwd(const attn_dims *d, const float *q, const float *k, const float *v,
                  const float *dout, double scale, const attn_mask *mask,
                  double *dq, double *dk, double *dv)
{
    size_t nq = (size_t)d->Z * d->H * d->M * d->D, nk = (size_t)d->Z * d->HK * d->N * d->D;
    memset(dq, 0, sizeof *dq * nq);
    memset(dk, 0, sizeof *dk * nk);
    memset(dv, 0, sizeof *dv * nk);
    size_t n = (size_t)(d->N > 0 ? d->N : 1);
    double *p = malloc(sizeof *p * n), *dp = malloc(sizeof *dp * n);
    if (!p || !dp) abort();
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++) {
            int hk = h / (d->H / d->HK);
            for (int i = 0; i < d->M; i++) {
                softmax_row(d, q, k, scale, mask, z, h, i, p);
                const float *dorow = dout + qidx(d, z, h, i);
                /* dP_ij = dO_i . V_j;  delta_i = sum_j P_ij dP_ij */
                double delta = 0;
                for (int j = 0; j < d->N; j++) {
                    double s = 0;
                    for (int c = 0; c < d->D; c++) s += (double)dorow[c] * v[kidx(d, z, hk, j) + c];
                    dp[j] = s;
                    delta += p[j] * s;
                }
                for (int j = 0; j < d->N; j++) {
                    if (p[j] == 0) continue;
                    double ds = p[j] * (dp[j] - delta);
                    for (int c = 0; c < d->D; c++) {
                        dq[qidx(d, z, h, i) + c] += scale * ds * k[kidx(d, z, hk, j) + c];
                        dk[kidx(d, z, hk, j) + c] += scale * ds * q[qidx(d, z, h, i) + c];
                        dv[kidx(d, z, hk, j) + c] += p[j] * dorow[c];
                    }
                }
            }
        }
    free(p);
    free(dp);
}

/* ---- split-KV decoding ------------------------------------------------------ */
void attn_ref_decode(const attn_paged_dims *d, const float *q, const float *k_cache,
                     const float *v_cache, const int32_t *block_table,
                     const int32_t *seq_lens, double scale, double *o, double *lse)
{
    for (int z = 0; z < d->Z; z++) {
        int len = seq_lens[z];
        double *s = malloc(sizeof *s * (size_t)(len > 0 ? len : 1));
        if (!s) abort();
        for (int h = 0; h < d->H; h++) {
            int hk = h / (d->H / d->HK);
            const float *qrow = q + ((size_t)z * d->H + h) * d->D;
            double m = -INFINITY;
            for (int j = 0; j < len; j++) {
                size_t slot =
                    (size_t)block_table[(size_t)z * d->MAXP + j / d->PS] * d->PS + j % d->PS;
                const float *krow = k_cache + (slot * d->HK + hk) * d->D;
                double dotp = 0;
                for (int c = 0; c < d->D; c++) dotp += (double)qrow[c] * krow[c];
                s[j] = dotp * scale;
                if (s[j] > m) m = s[j];
            }
            double sum = 0;
            for (int j = 0; j < len; j++) sum += exp(s[j] - m);
            double *orow = o + ((size_t)z * d->H + h) * d->D;
            for (int c = 0; c < d->D; c++) {
                double acc = 0;
                for (int j = 0; j < len; j++) {
                    size_t slot =
                        (size_t)block_table[(size_t)z * d->MAXP + j / d->PS] * d->PS + j % d->PS;
                    const float *vrow = v_cache + (slot * d->HK + hk) * d->D;
                    acc += exp(s[j] - m) / sum * vrow[c];
                }
                orow[c] = len > 0 ? acc : 0;
            }
            if (lse) lse[(size_t)z * d->H + h] = len > 0 ? m + log(sum) : -INFINITY;
        }
        free(s);
    }
}

void attn_ref_combine(int rows, int S, int D, const float *o_part, const float *lse_part,
                      double *o, double *lse)
{
    for (int r = 0; r < rows; r++) {
        const float *ls = lse_part + (size_t)r * S;
        double m = -INFINITY;
        for (int s = 0; s < S; s++)
            if (ls[s] > m) m = ls[s];
        double sum = 0;
        if (m != -INFINITY)
            for (int s = 0; s < S; s++) sum += exp(ls[s] - m);
        double total = m == -INFINITY ? -INFINITY : m + log(sum);
        for (int c = 0; c < D; c++) {
            double acc = 0;
            if (total != -INFINITY)
                for (int s = 0; s < S; s++)
                    if (ls[s] != -INFINITY)
                        acc += exp(ls[s] - total) * o_part[((size_t)r * S + s) * D + c];
            o[(size_t)r * D + c] = acc;
        }
        if (lse) lse[r] = total;
    }
}

/* ---- Lightning Attention ----------------------------------------------------- */
void attn_ref_lightning(const lightning_dims *d, const float *q, const float *k,
                        const float *v, const float *decay, double *o)
{
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++) {
            size_t base_qk = ((size_t)z * d->H + h) * d->N * d->D;
            size_t base_v = ((size_t)z * d->H + h) * d->N * d->E;
            for (int t = 0; t < d->N; t++)
                for (int e = 0; e < d->E; e++) {
                    double acc = 0;
                    for (int s = 0; s <= t; s++) {
                        double qk = 0;
                        for (int c = 0; c < d->D; c++)
                            qk += (double)q[base_qk + (size_t)t * d->D + c] *
                                  k[base_qk + (size_t)s * d->D + c];
                        acc += pow(decay[h], t - s) * qk * v[base_v + (size_t)s * d->E + e];
                    }
                    o[base_v + (size_t)t * d->E + e] = acc;
                }
        }
}

void attn_ref_lightning_recurrent(const lightning_dims *d, const float *q, const float *k,
                                  const float *v, const float *decay, double *o)
{
    double *kv = malloc(sizeof *kv * (size_t)d->D * d->E);
    if (!kv) abort();
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++) {
            size_t base_qk = ((size_t)z * d->H + h) * d->N * d->D;
            size_t base_v = ((size_t)z * d->H + h) * d->N * d->E;
            memset(kv, 0, sizeof *kv * (size_t)d->D * d->E);
            for (int t = 0; t < d->N; t++) {
                const float *kt = k + base_qk + (size_t)t * d->D;
                const float *vt = v + base_v + (size_t)t * d->E;
                for (int c = 0; c < d->D; c++)
                    for (int e = 0; e < d->E; e++)
                        kv[(size_t)c * d->E + e] = decay[h] * kv[(size_t)c * d->E + e] +
                                                   (double)kt[c] * vt[e];
                const float *qt = q + base_qk + (size_t)t * d->D;
                for (int e = 0; e < d->E; e++) {
                    double acc = 0;
                    for (int c = 0; c < d->D; c++) acc += (double)qt[c] * kv[(size_t)c * d->E + e];
                    o[base_v + (size_t)t * d->E + e] = acc;
                }
            }
        }
    free(kv);
}
