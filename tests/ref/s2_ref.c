/* s2_ref.c - see s2_ref.h. */
#include "s2_ref.h"

#include <stddef.h>

void s2_ref_mask(const attn_dims *d, int S, int L, uint8_t *visible)
{
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++)
            for (int i = 0; i < d->M; i++)
                for (int j = 0; j < d->N; j++) {
                    int ip = i + (d->N - d->M);
                    int in_shard = j % S == h % S, local = ip - j < L;
                    visible[(((size_t)z * d->H + h) * d->M + i) * d->N + j] =
                        (uint8_t)(j <= ip && (in_shard || local));
                }
}
