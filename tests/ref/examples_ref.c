/* examples_ref.c - see examples_ref.h. */
#include "examples_ref.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

static double *ref_alloc(size_t n)
{
    double *p = malloc(sizeof *p * (n ? n : 1));
    if (!p) abort();
    return p;
}

/* softmax of s[0..n) in place; returns nothing (n >= 1). */
static void ref_softmax(double *s, size_t n)
{
    double m = -INFINITY, sum = 0;
    for (size_t j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
    for (size_t j = 0; j < n; j++) sum += s[j] = exp(s[j] - m);
    for (size_t j = 0; j < n; j++) s[j] /= sum;
}

void kron_attention_ref(int Z, int M, int N, int D, const float *q, const float *k1,
                        const float *k2, const float *v1, const float *v2, double scale,
                        double *o)
{
    size_t np = (size_t)N * N;
    double *s = ref_alloc(np);
    for (int z = 0; z < Z; z++)
        for (int i = 0; i < M; i++) {
            const float *qi = q + ((size_t)z * M + i) * D;
            for (int j1 = 0; j1 < N; j1++)
                for (int j2 = 0; j2 < N; j2++) {
                    const float *a = k1 + ((size_t)z * N + j1) * D, *b = k2 + ((size_t)z * N + j2) * D;
                    double dotp = 0;
                    for (int d = 0; d < D; d++) dotp += (double)qi[d] * a[d] * b[d];
                    s[(size_t)j1 * N + j2] = scale * dotp;
                }
            ref_softmax(s, np);
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int j1 = 0; j1 < N; j1++)
                    for (int j2 = 0; j2 < N; j2++)
                        acc += s[(size_t)j1 * N + j2] * v1[((size_t)z * N + j1) * D + d] *
                               v2[((size_t)z * N + j2) * D + d];
                o[((size_t)z * M + i) * D + d] = acc;
            }
        }
    free(s);
}

void positional_attention_ref(int Z, int H, int M, int N, int D, int E, const float *pq,
                              const float *pk, const float *v, double scale, double *o)
{
    double *s = ref_alloc((size_t)N);
    for (int z = 0; z < Z; z++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < M; i++) {
                for (int j = 0; j < N; j++) {
                    double dotp = 0;
                    for (int d = 0; d < D; d++)
                        dotp += (double)pq[((size_t)h * M + i) * D + d] * pk[((size_t)h * N + j) * D + d];
                    s[j] = scale * dotp;
                }
                ref_softmax(s, (size_t)N);
                for (int e = 0; e < E; e++) {
                    double acc = 0;
                    for (int j = 0; j < N; j++)
                        acc += s[j] * v[(((size_t)z * H + h) * N + j) * E + e];
                    o[(((size_t)z * H + h) * M + i) * E + e] = acc;
                }
            }
    free(s);
}

void lowrank_attention_ref(int Z, int N, int DX, int DC, int R, int H, const float *x,
                           const float *u, const float *c, const float *w, const float *p,
                           double *o)
{
    double *ctx = ref_alloc((size_t)R), *g = ref_alloc((size_t)N * R), *s = ref_alloc((size_t)N);
    for (int r = 0; r < R; r++) {
        double t = 0;
        for (int k = 0; k < DC; k++) t += (double)c[k] * w[(size_t)k * R + r];
        ctx[r] = tanh(t);
    }
    for (int z = 0; z < Z; z++) {
        const float *xz = x + (size_t)z * N * DX;
        for (int i = 0; i < N; i++)
            for (int r = 0; r < R; r++) {
                double t = 0;
                for (int k = 0; k < DX; k++) t += (double)xz[(size_t)i * DX + k] * u[(size_t)k * R + r];
                g[(size_t)i * R + r] = tanh(t) * ctx[r];
            }
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < N; i++) {
                s[i] = 0;
                for (int r = 0; r < R; r++) s[i] += p[(size_t)h * R + r] * g[(size_t)i * R + r];
            }
            ref_softmax(s, (size_t)N);
            for (int k = 0; k < DX; k++) {
                double acc = 0;
                for (int i = 0; i < N; i++) acc += s[i] * xz[(size_t)i * DX + k];
                o[((size_t)z * H + h) * DX + k] = acc;
            }
        }
    }
    free(ctx), free(g), free(s);
}
