/* test_lib_hyper.c - lib/attention/hyper.tile on the interpreter: the
 * hyperplanes, LSH and centroid codes, the stable counting sort and the
 * stratified samples EXACTLY against C (the same integer hash, the same f32
 * products summed in d order, a stable insertion sort), then HyperAttention
 * and routing attention against double references of the formulas in
 * /work/shared/design/ALGORITHMS.md, given the orders and samples the
 * kernels produced (checked just before).
 *
 * Tested (hyper.tile): every kernel (the chunked sort, bucket_count,
 * bucket_offsets and bucket_place, with chunks of 32, 48 and 256 positions:
 * several chunks, chunks of 3 steps, one chunk); f32 and bf16; (H, HK) = (2, 2), (4, 2),
 * (2, 1); M = N and M != N,
 * odd lengths (37 .. 150); NP = 3 and 6 hyperplanes; bucket blocks of 16 and
 * 32; 8 and 24 samples; routing with 5 and 7 centroids, causal and not, with
 * clusters that hold queries but no keys (O = 0, LSE = -inf). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref/attn_ref.h"
#include "ref/harness.h"

#define FILE_H "attention/hyper.tile"

typedef struct hy_case {
    ir_dtype T;
    int Z, H, HK, M, N, D;
    int NP, BB, MS;           /* HyperAttention */
    int C, BM, BN;            /* routing: centroids (0: skip), blocks */
    bool causal;
} hy_case;

/* ---- exact references ---------------------------------------------------------------- */

static uint32_t ref_hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static uint32_t ref_draw(int32_t seed, int64_t n)
{
    return ref_hash32(ref_hash32((uint32_t)seed) ^ ref_hash32((uint32_t)n));
}

static float ref_uniform(uint32_t h) { return ((float)(h >> 8) + 0.5f) / 16777216.0f; }

static void ref_planes(int NP, int D, int32_t seed, float *planes)
{
    for (int e = 0; e < NP * D; e++) {
        int64_t n = (int64_t)e * 4;
        planes[e] = ref_uniform(ref_draw(seed, n)) + ref_uniform(ref_draw(seed, n + 1)) +
                    ref_uniform(ref_draw(seed, n + 2)) + ref_uniform(ref_draw(seed, n + 3)) - 2.0f;
    }
}

/* x.row_r in f32, products rounded, summed in d order. */
static float ref_dot_f32(const float *x, const float *row, int D)
{
    float s = 0.0f;
    for (int d = 0; d < D; d++) {
        float p = x[d] * row[d];
        s += p;
    }
    return s;
}

/* codes [rows] of x [rows, D]: LSH (planes, NP) or nearest centroid (C). */
static void ref_codes(const float *x, int rows, int D, const float *w, int nw, bool lsh, int32_t *code)
{
    for (int i = 0; i < rows; i++) {
        int32_t c = 0;
        float best = -INFINITY;
        for (int r = 0; r < nw; r++) {
            float s = ref_dot_f32(x + (size_t)i * D, w + (size_t)r * D, D);
            if (lsh) c |= (s > 0.0f) << r;
            else if (r == 0 || s > best) best = s, c = r; /* ties: the lower index */
        }
        code[i] = c;
    }
}

/* Stable sort of rows [L] by code: perm, pos, starts [ncode + 1]. */
static void ref_bucket_sort(const int32_t *code, int L, int ncode, int32_t *perm, int32_t *pos, int32_t *starts)
{
    int p = 0;
    for (int c = 0; c < ncode; c++) {
        starts[c] = p;
        for (int i = 0; i < L; i++)
            if (code[i] == c) pos[i] = p, perm[p++] = i;
    }
    starts[ncode] = L;
}

/* ---- double references of the attention ---------------------------------------------- */

static const float *row_of(const float *x, int heads, int len, int D, int z, int h, int i)
{
    return x + (((size_t)z * heads + h) * len + i) * D;
}

/* HyperAttention for query i (original index) given its sorted block qb. */
static void ref_hyper_row(const hy_case *c, const float *q, const float *k, const float *v, int z,
                          int h, int i, int qb, const int32_t *perm_k, const int32_t *pos_k,
                          const int32_t *cols, double scale, double *o, double *lse)
{
    int hk = h / (c->H / c->HK);
    const float *qi = row_of(q, c->H, c->M, c->D, z, h, i);
    double m = -INFINITY, l = 0, *w = TH_NEW(double, c->BB + c->MS);
    int32_t *who = TH_NEW(int32_t, c->BB + c->MS);
    int n = 0;
    for (int p = qb * c->BB; p < (qb + 1) * c->BB && p < c->N; p++) who[n] = perm_k[p], w[n++] = 0;
    int nblock = n;
    for (int t = 0; t < c->MS; t++)
        if (pos_k[cols[t]] / c->BB != qb) who[n] = cols[t], w[n++] = log((double)c->N / c->MS);
    for (int t = 0; t < n; t++) {
        double s = 0;
        const float *kj = row_of(k, c->HK, c->N, c->D, z, hk, who[t]);
        for (int d = 0; d < c->D; d++) s += (double)qi[d] * kj[d];
        w[t] += s * scale;
        if (w[t] > m) m = w[t];
    }
    for (int d = 0; d < c->D; d++) o[d] = 0;
    for (int t = 0; t < n; t++) {
        double p = exp(w[t] - m);
        const float *vj = row_of(v, c->HK, c->N, c->D, z, hk, who[t]);
        l += p;
        for (int d = 0; d < c->D; d++) o[d] += p * vj[d];
    }
    for (int d = 0; d < c->D && n > 0; d++) o[d] /= l;
    *lse = n > 0 ? m + log(l) : -INFINITY;
    (void)nblock;
    free(w), free(who);
}

/* ---- the chain -------------------------------------------------------------------------- */

typedef struct hy_data {
    float *q, *k, *v;
    th_tensor tq, tk, tv;
} hy_data;

static float *get_all(const th_tensor *t)
{
    float *x = TH_NEW(float, t->numel);
    th_tensor_get(t, x);
    return x;
}

static bool same_ints(const char *what, const th_tensor *t, const int32_t *want)
{
    float *got = get_all(t);
    for (size_t i = 0; i < t->numel; i++)
        if (got[i] != (float)want[i]) {
            fprintf(stderr, "%s: element %zu is %g, want %d\n", what, i, got[i], want[i]);
            free(got);
            return false;
        }
    free(got);
    return true;
}

/* The chunked sort (bucket_count, bucket_offsets, bucket_place) with CH
 * positions a chunk on the same codes: perm, pos and starts must equal the
 * reference's (and so bucket_sort's) element for element. */
static bool chunked_sort(int Z, int HX, int L, int ncode, int CH, const th_tensor *tcode, const int32_t *perm,
                         const int32_t *pos, const int32_t *starts)
{
    char defs[120];
    th_kernel kc, ko, kp;
    int NCH = (L + CH - 1) / CH;
    snprintf(defs, sizeof defs, "NCODE=%d,CH=%d,BL=16", ncode, CH);
    if (!th_compile(&kc, FILE_H, "bucket_count", defs) || !th_compile(&kp, FILE_H, "bucket_place", defs))
        return false;
    snprintf(defs, sizeof defs, "NCODE=%d", ncode);
    if (!th_compile(&ko, FILE_H, "bucket_offsets", defs)) return false;
    th_tensor tcounts = th_tensor_new(IR_I32, TH_DIMS(Z, HX, NCH, ncode), NULL);
    th_tensor toffs = th_tensor_new(IR_I32, TH_DIMS(Z, HX, NCH, ncode), NULL);
    th_tensor tstarts = th_tensor_new(IR_I32, TH_DIMS(Z, HX, ncode + 1), NULL);
    th_tensor tperm = th_tensor_new(IR_I32, TH_DIMS(Z, HX, L), NULL);
    th_tensor tpos = th_tensor_new(IR_I32, TH_DIMS(Z, HX, L), NULL);
    bool ok = th_launch(&kc, (th_arg[]){TH_T("code", (th_tensor *)tcode), TH_T("counts", &tcounts)}, 2) &&
              th_launch(&ko, (th_arg[]){TH_T("counts", &tcounts), TH_T("offsets", &toffs),
                                        TH_T("starts", &tstarts)}, 3) &&
              th_launch(&kp, (th_arg[]){TH_T("code", (th_tensor *)tcode), TH_T("offsets", &toffs),
                                        TH_T("perm", &tperm), TH_T("pos", &tpos)}, 4) &&
              same_ints("bucket_place perm", &tperm, perm) && same_ints("bucket_place pos", &tpos, pos) &&
              same_ints("bucket_offsets starts", &tstarts, starts);
    if (!ok) fprintf(stderr, "chunked sort: L=%d NCODE=%d CH=%d (%d chunks)\n", L, ncode, CH, NCH);
    th_tensor_free(&tcounts), th_tensor_free(&toffs), th_tensor_free(&tstarts);
    th_tensor_free(&tperm), th_tensor_free(&tpos);
    th_kernel_free(&kc), th_kernel_free(&ko), th_kernel_free(&kp);
    return ok;
}

/* codes (LSH or centroids) of x [Z, HX, L, D] by the kernel, checked, then
 * sorted by bucket_sort, checked; returns the kernel's outputs. */
static bool codes_and_sort(const hy_case *c, const th_tensor *tx, const float *x, int HX, int L,
                           const th_tensor *tw, const float *w, bool lsh, int32_t *code,
                           th_tensor *tcode, th_tensor *tperm, th_tensor *tpos, th_tensor *tstarts,
                           int32_t *perm, int32_t *pos)
{
    char defs[120];
    th_kernel kc, ks;
    int ncode = lsh ? 1 << c->NP : c->C;
    if (lsh) snprintf(defs, sizeof defs, "T=%s,D=%d,NP=%d,BL=16", ir_dtype_name(c->T), c->D, c->NP);
    else snprintf(defs, sizeof defs, "T=%s,D=%d,C=%d,BL=16", ir_dtype_name(c->T), c->D, c->C);
    if (!th_compile(&kc, FILE_H, lsh ? "hyper_hash" : "route_code", defs)) return false;
    snprintf(defs, sizeof defs, "NCODE=%d,BL=16", ncode);
    if (!th_compile(&ks, FILE_H, "bucket_sort", defs)) return false;
    bool ok = th_launch(&kc, (th_arg[]){TH_T("x", (th_tensor *)tx), TH_T(lsh ? "planes" : "centroids", (th_tensor *)tw),
                                        TH_T("code", tcode)}, 3);
    size_t rows = (size_t)c->Z * HX;
    int32_t *starts = TH_NEW(int32_t, rows * (ncode + 1));
    for (size_t r = 0; r < rows; r++) {
        ref_codes(x + r * L * c->D, L, c->D, w, lsh ? c->NP : c->C, lsh, code + r * L);
        ref_bucket_sort(code + r * L, L, ncode, perm + r * L, pos + r * L, starts + r * (ncode + 1));
    }
    ok = ok && same_ints(kc.label, tcode, code) &&
         th_launch(&ks, (th_arg[]){TH_T("code", tcode), TH_T("perm", tperm), TH_T("pos", tpos),
                                   TH_T("starts", tstarts)}, 4) &&
         same_ints("bucket_sort perm", tperm, perm) && same_ints("bucket_sort pos", tpos, pos) &&
         same_ints("bucket_sort starts", tstarts, starts) &&
         chunked_sort(c->Z, HX, L, ncode, 32, tcode, perm, pos, starts) &&    /* several chunks */
         chunked_sort(c->Z, HX, L, ncode, 48, tcode, perm, pos, starts) &&    /* chunks of 3 steps */
         chunked_sort(c->Z, HX, L, ncode, 256, tcode, perm, pos, starts);     /* one chunk */
    free(starts);
    th_kernel_free(&kc), th_kernel_free(&ks);
    return ok;
}

static void data_new(hy_data *dt, const hy_case *c, uint64_t seed)
{
    th_rng rng = th_rng_new(seed);
    size_t nq = (size_t)c->Z * c->H * c->M * c->D, nk = (size_t)c->Z * c->HK * c->N * c->D;
    dt->q = TH_NEW(float, nq), dt->k = TH_NEW(float, nk), dt->v = TH_NEW(float, nk);
    th_fill(&rng, dt->q, nq, -1, 1, c->T);
    th_fill(&rng, dt->k, nk, -1, 1, c->T);
    th_fill(&rng, dt->v, nk, -1, 1, c->T);
    dt->tq = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->M, c->D), NULL);
    dt->tk = th_tensor_new(c->T, TH_DIMS(c->Z, c->HK, c->N, c->D), NULL);
    dt->tv = th_tensor_new(c->T, TH_DIMS(c->Z, c->HK, c->N, c->D), NULL);
    th_tensor_set(&dt->tq, dt->q);
    th_tensor_set(&dt->tk, dt->k);
    th_tensor_set(&dt->tv, dt->v);
}

static void data_free(hy_data *dt)
{
    th_tensor_free(&dt->tq), th_tensor_free(&dt->tk), th_tensor_free(&dt->tv);
    free(dt->q), free(dt->k), free(dt->v);
}

/* The sorted orders of queries and keys (codes by planes or centroids). */
typedef struct orders {
    int32_t *code_q, *perm_q, *pos_q, *code_k, *perm_k, *pos_k;
    th_tensor tcq, tpq, tposq, tsq, tck, tpk, tposk, tsk;
} orders;

static bool orders_new(orders *od, const hy_case *c, const hy_data *dt, const th_tensor *tw,
                       const float *w, bool lsh)
{
    int ncode = lsh ? 1 << c->NP : c->C;
    size_t nq = (size_t)c->Z * c->H * c->M, nk = (size_t)c->Z * c->HK * c->N;
    od->code_q = TH_NEW(int32_t, nq), od->perm_q = TH_NEW(int32_t, nq), od->pos_q = TH_NEW(int32_t, nq);
    od->code_k = TH_NEW(int32_t, nk), od->perm_k = TH_NEW(int32_t, nk), od->pos_k = TH_NEW(int32_t, nk);
    od->tcq = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->H, c->M), NULL);
    od->tpq = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->H, c->M), NULL);
    od->tposq = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->H, c->M), NULL);
    od->tsq = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->H, ncode + 1), NULL);
    od->tck = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HK, c->N), NULL);
    od->tpk = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HK, c->N), NULL);
    od->tposk = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HK, c->N), NULL);
    od->tsk = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HK, ncode + 1), NULL);
    return codes_and_sort(c, &dt->tq, dt->q, c->H, c->M, tw, w, lsh, od->code_q, &od->tcq, &od->tpq,
                          &od->tposq, &od->tsq, od->perm_q, od->pos_q) &&
           codes_and_sort(c, &dt->tk, dt->k, c->HK, c->N, tw, w, lsh, od->code_k, &od->tck, &od->tpk,
                          &od->tposk, &od->tsk, od->perm_k, od->pos_k);
}

static void orders_free(orders *od)
{
    th_tensor_free(&od->tcq), th_tensor_free(&od->tpq), th_tensor_free(&od->tposq), th_tensor_free(&od->tsq);
    th_tensor_free(&od->tck), th_tensor_free(&od->tpk), th_tensor_free(&od->tposk), th_tensor_free(&od->tsk);
    free(od->code_q), free(od->perm_q), free(od->pos_q), free(od->code_k), free(od->perm_k), free(od->pos_k);
}

static bool check_outputs(const char *label, const hy_case *c, const th_tensor *to, const th_tensor *tl,
                          const double *ro, const double *rl)
{
    attn_dims d = {c->Z, c->H, c->HK, c->M, c->N, c->D};
    float *o = get_all(to), *lse = get_all(tl);
    bool ok = th_check_attention(label, &d, c->T, o, lse, ro, rl);
    free(o), free(lse);
    return ok;
}

static bool run_hyper(const hy_case *c, uint64_t seed)
{
    hy_data dt;
    data_new(&dt, c, seed);
    th_kernel kp, ksm, ka;
    char defs[120];
    snprintf(defs, sizeof defs, "NP=%d,D=%d", c->NP, c->D);
    bool ok = th_compile(&kp, FILE_H, "hyper_planes", defs);
    snprintf(defs, sizeof defs, "MS=%d", c->MS);
    ok = ok && th_compile(&ksm, FILE_H, "hyper_sample", defs);
    snprintf(defs, sizeof defs, "T=%s,D=%d,BB=%d,MS=%d", ir_dtype_name(c->T), c->D, c->BB, c->MS);
    ok = ok && th_compile(&ka, FILE_H, "hyper_attn", defs);
    if (!ok) return false;
    int32_t seed32 = (int32_t)(seed * 2654435761u);
    th_tensor tpl = th_tensor_new(IR_F32, TH_DIMS(c->NP, c->D), NULL);
    float *planes = TH_NEW(float, (size_t)c->NP * c->D), *rplanes = TH_NEW(float, (size_t)c->NP * c->D);
    ok = th_launch(&kp, (th_arg[]){TH_T("planes", &tpl), TH_S("seed", seed32)}, 2);
    th_tensor_get(&tpl, planes);
    ref_planes(c->NP, c->D, seed32, rplanes);
    if (ok && memcmp(planes, rplanes, sizeof *planes * (size_t)c->NP * c->D) != 0) {
        fprintf(stderr, "%s: the planes differ from the reference\n", kp.label);
        ok = false;
    }
    orders od;
    ok = ok && orders_new(&od, c, &dt, &tpl, planes, true);
    /* samples, exact */
    size_t ncols = (size_t)c->Z * c->H * c->MS;
    int32_t *cols = TH_NEW(int32_t, ncols);
    for (size_t zh = 0; zh < (size_t)c->Z * c->H; zh++)
        for (int t = 0; t < c->MS; t++) {
            int64_t lo = (int64_t)t * c->N / c->MS, size = (int64_t)(t + 1) * c->N / c->MS - lo;
            cols[zh * c->MS + t] = (int32_t)(lo + ref_draw(seed32, (int64_t)zh * c->MS + t) % size);
        }
    th_tensor tcols = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->H, c->MS), NULL);
    ok = ok && th_launch(&ksm, (th_arg[]){TH_T("cols", &tcols), TH_S("N", c->N), TH_S("seed", seed32)}, 3) &&
         same_ints(ksm.label, &tcols, cols);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->M, c->D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, c->M), NULL);
    double scale = 1 / sqrt(c->D);
    ok = ok && th_launch(&ka, (th_arg[]){TH_T("q", &dt.tq), TH_T("k", &dt.tk), TH_T("v", &dt.tv),
                                         TH_T("perm_q", &od.tpq), TH_T("perm_k", &od.tpk), TH_T("pos_k", &od.tposk),
                                         TH_T("cols", &tcols), TH_T("o", &to), TH_T("lse", &tl),
                                         TH_S("scale", scale)}, 10);
    if (ok) {
        size_t no = (size_t)c->Z * c->H * c->M * c->D, nl = (size_t)c->Z * c->H * c->M;
        double *ro = TH_NEW(double, no), *rl = TH_NEW(double, nl);
        for (int z = 0; z < c->Z; z++)
            for (int h = 0; h < c->H; h++) {
                size_t zh = (size_t)z * c->H + h, zk = (size_t)z * c->HK + h / (c->H / c->HK);
                for (int i = 0; i < c->M; i++)
                    ref_hyper_row(c, dt.q, dt.k, dt.v, z, h, i, od.pos_q[zh * c->M + i] / c->BB,
                                  od.perm_k + zk * c->N, od.pos_k + zk * c->N, cols + zh * c->MS, scale,
                                  ro + (zh * c->M + i) * c->D, rl + zh * c->M + i);
            }
        ok = check_outputs(ka.label, c, &to, &tl, ro, rl);
        free(ro), free(rl);
    }
    orders_free(&od);
    th_tensor_free(&tpl), th_tensor_free(&tcols), th_tensor_free(&to), th_tensor_free(&tl);
    free(planes), free(rplanes), free(cols);
    th_kernel_free(&kp), th_kernel_free(&ksm), th_kernel_free(&ka);
    data_free(&dt);
    return ok;
}

static bool run_routing(const hy_case *c, uint64_t seed)
{
    hy_data dt;
    data_new(&dt, c, seed);
    th_rng rng = th_rng_new(seed + 7);
    float *cen = TH_NEW(float, (size_t)c->C * c->D);
    th_fill(&rng, cen, (size_t)c->C * c->D, -1, 1, IR_F32);
    th_tensor tcen = th_tensor_new(IR_F32, TH_DIMS(c->C, c->D), NULL);
    th_tensor_set(&tcen, cen);
    orders od;
    bool ok = orders_new(&od, c, &dt, &tcen, cen, false);
    th_kernel ka;
    char defs[120];
    snprintf(defs, sizeof defs, "T=%s,D=%d,BM=%d,BN=%d,is_causal=%s", ir_dtype_name(c->T), c->D, c->BM,
             c->BN, c->causal ? "true" : "false");
    ok = ok && th_compile(&ka, FILE_H, "routing_attn", defs);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->M, c->D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, c->M), NULL);
    double scale = 1 / sqrt(c->D);
    ok = ok && th_launch(&ka, (th_arg[]){TH_T("q", &dt.tq), TH_T("k", &dt.tk), TH_T("v", &dt.tv),
                                         TH_T("perm_q", &od.tpq), TH_T("code_q", &od.tcq), TH_T("perm_k", &od.tpk),
                                         TH_T("code_k", &od.tck), TH_T("starts_k", &od.tsk), TH_T("o", &to),
                                         TH_T("lse", &tl), TH_S("scale", scale)}, 11);
    if (ok) {
        /* exact attention within each query's cluster (and causal) */
        attn_dims d = {c->Z, c->H, c->HK, c->M, c->N, c->D};
        size_t nrows = (size_t)c->Z * c->H * c->M;
        uint8_t *vis = TH_NEW(uint8_t, nrows * c->N);
        for (size_t r = 0; r < nrows; r++) {
            int z = (int)(r / ((size_t)c->H * c->M)), h = (int)(r / c->M % c->H), i = (int)(r % c->M);
            const int32_t *ck = od.code_k + ((size_t)z * c->HK + h / (c->H / c->HK)) * c->N;
            for (int j = 0; j < c->N; j++)
                vis[r * c->N + j] = ck[j] == od.code_q[r] && (!c->causal || j <= i + (c->N - c->M));
        }
        attn_mask mask = {.kind = ATTN_MASK_EXPLICIT, .visible = vis};
        double *ro = TH_NEW(double, nrows * c->D), *rl = TH_NEW(double, nrows);
        attn_ref_fwd(&d, dt.q, dt.k, dt.v, scale, &mask, ro, rl);
        int empty = 0;
        for (size_t r = 0; r < nrows; r++) empty += rl[r] == -INFINITY;
        ok = check_outputs(ka.label, c, &to, &tl, ro, rl);
        if (c->N < c->C && empty == 0) { /* the case is meant to have clusters without keys */
            fprintf(stderr, "%s: no query without keys: the case tests nothing of that\n", ka.label);
            ok = false;
        }
        free(vis), free(ro), free(rl);
        th_kernel_free(&ka);
    }
    orders_free(&od);
    th_tensor_free(&tcen), th_tensor_free(&to), th_tensor_free(&tl);
    free(cen);
    data_free(&dt);
    return ok;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_hyper(void **state)
{
    (void)state;
    const hy_case cases[] = {
        {IR_F32, 1, 2, 2, 100, 100, 32, 3, 16, 8, 0, 0, 0, false},
        {IR_F32, 2, 4, 2, 37, 150, 32, 6, 32, 24, 0, 0, 0, false},   /* M < N */
        {IR_F32, 1, 2, 1, 130, 61, 16, 4, 16, 8, 0, 0, 0, false},    /* M > N: blocks without keys */
        {IR_BF16, 1, 4, 2, 90, 90, 64, 5, 32, 16, 0, 0, 0, false},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) failed += !run_hyper(&cases[i], 700 + i);
    assert_int_equal(failed, 0);
}

static void test_routing(void **state)
{
    (void)state;
    const hy_case cases[] = {
        {IR_F32, 1, 2, 2, 100, 100, 32, 0, 0, 0, 5, 16, 16, false},
        {IR_F32, 2, 4, 2, 77, 120, 32, 0, 0, 0, 7, 16, 8, true},     /* causal, M < N */
        {IR_F32, 1, 2, 1, 90, 45, 16, 0, 0, 0, 7, 32, 16, false},
        {IR_F32, 1, 2, 2, 90, 5, 16, 0, 0, 0, 7, 32, 16, false},     /* 5 keys, 7 clusters */
        {IR_BF16, 1, 4, 2, 64, 64, 64, 0, 0, 0, 5, 16, 16, true},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) failed += !run_routing(&cases[i], 800 + i);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hyper),
        cmocka_unit_test(test_routing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
