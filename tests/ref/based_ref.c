/* based_ref.c - see based_ref.h. */
#include "based_ref.h"

#include <math.h>
#include <stdlib.h>

enum { BASED_MAX_F = 16, BASED_MAX_PHI = 1 + BASED_MAX_F + BASED_MAX_F * BASED_MAX_F };

/* phi(x) = [1, x, vec(x x^T) / sqrt 2]; returns its length. */
static int based_phi(const float *x, int F, double *phi)
{
    int n = 0;
    phi[n++] = 1;
    for (int a = 0; a < F; a++) phi[n++] = x[a];
    for (int a = 0; a < F; a++)
        for (int b = 0; b < F; b++) phi[n++] = (double)x[a] * x[b] / sqrt(2.0);
    return n;
}

void based_ref(const based_dims *d, const float *q, const float *k, const float *v, double *o)
{
    double pq[BASED_MAX_PHI], pk[BASED_MAX_PHI];
    int group = d->H / d->HK;
    for (int z = 0; z < d->Z; z++)
        for (int h = 0; h < d->H; h++) {
            int hk = h / group;
            for (int t = 0; t < d->N; t++) {
                const float *qt = q + (((size_t)z * d->H + h) * d->N + t) * d->F;
                int np = based_phi(qt, d->F, pq);
                double *ot = o + (((size_t)z * d->H + h) * d->N + t) * d->E;
                double den = 0;
                for (int e = 0; e < d->E; e++) ot[e] = 0;
                for (int s = 0; s <= t; s++) {
                    size_t row = ((size_t)z * d->HK + hk) * d->N + s;
                    based_phi(k + row * d->F, d->F, pk);
                    double w = 0;
                    for (int p = 0; p < np; p++) w += pq[p] * pk[p];
                    den += w;
                    for (int e = 0; e < d->E; e++) ot[e] += w * v[row * d->E + e];
                }
                for (int e = 0; e < d->E; e++) ot[e] /= 1e-6 + den;
            }
        }
}
