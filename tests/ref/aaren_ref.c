/* aaren_ref.c - see aaren_ref.h. */
#include "aaren_ref.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

void aaren_ref(const aaren_dims *d, const float *q, const float *k, const float *v, double *o)
{
    double *s = malloc(sizeof *s * (size_t)(d->N > 0 ? d->N : 1));
    if (!s) abort();
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++) {
            size_t base = ((size_t)z * d->H + h) * d->N;
            for (int i = 0; i < d->N; i++) {
                s[i] = 0;
                for (int c = 0; c < d->D; c++)
                    s[i] += (double)q[(size_t)h * d->D + c] * k[(base + i) * d->D + c];
            }
            for (int t = 0; t < d->N; t++) {
                double m = -INFINITY, den = 0;
                for (int i = 0; i <= t; i++) m = s[i] > m ? s[i] : m;
                for (int i = 0; i <= t; i++) den += exp(s[i] - m);
                for (int e = 0; e < d->E; e++) {
                    double num = 0;
                    for (int i = 0; i <= t; i++) num += exp(s[i] - m) * v[(base + i) * d->E + e];
                    o[(base + t) * d->E + e] = num / den;
                }
            }
        }
    free(s);
}
