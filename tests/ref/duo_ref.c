/* duo_ref.c - see duo_ref.h. */
#include "duo_ref.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

int duo_ref_visible(int streaming, int W, int S, int ip, int j)
{
    if (j > ip) return 0;
    return !streaming || ip - j < W || j < S;
}

void duo_ref_mask(const attn_dims *d, const int32_t *streaming, int W, int S, uint8_t *visible)
{
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++)
            for (int i = 0; i < d->M; i++)
                for (int j = 0; j < d->N; j++)
                    visible[(((size_t)z * d->H + h) * d->M + i) * d->N + j] =
                        (uint8_t)duo_ref_visible(streaming[h], W, S, i + (d->N - d->M), j);
}

/* The cache row of key j of sequence z for key/value head hk. */
static const float *duo_ref_row(const attn_paged_dims *d, const float *cache,
                                const int32_t *block_table, int z, int hk, int j)
{
    size_t slot = (size_t)block_table[(size_t)z * d->MAXP + j / d->PS] * d->PS + j % d->PS;
    return cache + (slot * d->HK + hk) * d->D;
}

void duo_ref_decode(const attn_paged_dims *d, const float *q, const float *k_cache,
                    const float *v_cache, const int32_t *block_table, const int32_t *seq_lens,
                    const int32_t *streaming, int W, int S, double scale, double *o, double *lse)
{
    for (int z = 0; z < d->Z; z++) {
        int n = seq_lens[z];
        double *s = malloc(sizeof *s * (size_t)(n > 0 ? n : 1));
        if (!s) abort();
        for (int h = 0; h < d->H; h++) {
            int hk = h / (d->H / d->HK);
            const float *qrow = q + ((size_t)z * d->H + h) * d->D;
            double m = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++) {
                s[j] = -INFINITY;
                if (!duo_ref_visible(streaming[h], W, S, n - 1, j)) continue;
                const float *krow = duo_ref_row(d, k_cache, block_table, z, hk, j);
                double dotp = 0;
                for (int c = 0; c < d->D; c++) dotp += (double)qrow[c] * krow[c];
                s[j] = dotp * scale;
                if (s[j] > m) m = s[j];
            }
            for (int j = 0; j < n; j++)
                if (s[j] > -INFINITY) sum += exp(s[j] - m);
            double *orow = o + ((size_t)z * d->H + h) * d->D;
            for (int c = 0; c < d->D; c++) orow[c] = 0;
            for (int j = 0; j < n; j++) {
                if (s[j] == -INFINITY) continue;
                const float *vrow = duo_ref_row(d, v_cache, block_table, z, hk, j);
                for (int c = 0; c < d->D; c++) orow[c] += exp(s[j] - m) / sum * vrow[c];
            }
            lse[(size_t)z * d->H + h] = sum > 0 ? m + log(sum) : -INFINITY;
        }
        free(s);
    }
}
