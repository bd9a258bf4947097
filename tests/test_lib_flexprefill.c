/* test_lib_flexprefill.c - lib/attention/flexprefill.tile on the
 * interpreter: each kernel of the estimate-select chain against a C
 * reference, then the chain through block_sparse_fwd_causal against dense
 * attention with the reference's selection as an explicit mask.
 *
 * References: flex_pool_k, flex_pool_q, flex_estimate and the exact last row in double
 * from the rounded inputs (tolerance: f32 rounding); flex_select EXACTLY:
 * the reference repeats the kernel's f32 operations in the same order
 * (expf, two-level sums: groups of 32 in index order, then the groups; the
 * exclusive prefix of the sorted masses the same way), so
 * the kept lists and counts must be identical, which is what makes a tie or
 * an off-by-one in the selection fail.  It takes the est tensor the estimate
 * kernels produced (checked just before), and, in a separate test, a
 * hand-made est full of ties.  The attention is checked against attn_ref_fwd
 * with the dense mask of the selected blocks intersected with causal, and
 * the kept-mass check against exp(LSE_sparse - LSE_dense) of the reference.
 *
 * Tested (flexprefill.tile): flex_pool_k, flex_pool_q, flex_estimate (BQ = BC
 * = 4: several programs and steps), flex_last_lse and flex_last_mass (the
 * exact last block, 1 to 12 runs of key blocks, more runs than blocks),
 * flex_select (rows of up to 100 blocks: two-level sums across four groups
 * of 32), flex_kept_mass with block_sparse_fwd_causal and
 * block_sparse_fwd (BK = BN and BK = BN / 2); f32 and bf16; (H, HK) = (2, 2), (4, 2), (2, 1), (4, 1);
 * M = N and M != N (odd lengths 37..200, a last partial block, M = 1, N = 1,
 * a last block with a row that sees no key); BM = BN = 16, (BM, BN) = (32,
 * 16) and (32, 32); mass mode (tau 0.5, 0.9, 1.0) and top-k mode (keep = 1,
 * 2, 3); causal and not. */
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

#define FILE_FP "attention/flexprefill.tile"

typedef struct fp_case {
    ir_dtype T;
    int Z, H, HK, M, N, D, BM, BN;
    bool causal, by_mass, exact_last;
    float tau;
    int keep;
    int S; /* runs of key blocks of the exact last row (0: 2) */
} fp_case;

typedef struct fp_dims {
    attn_dims d;
    int MB, NB, NBMAX, maxb;
} fp_dims;

static fp_dims dims_of(const fp_case *c)
{
    fp_dims f = {.d = {c->Z, c->H, c->HK, c->M, c->N, c->D}};
    f.MB = (c->M + c->BM - 1) / c->BM;
    f.NB = (c->N + c->BN - 1) / c->BN;
    f.NBMAX = f.NB < 2 ? 2 : f.NB + 3; /* longer than NB: the padding must stay out */
    f.maxb = f.NB;
    return f;
}

/* ---- the reference ------------------------------------------------------------ */

static int ref_diag(int b, int M, int N, int BM, int BN)
{
    int last = (((b + 1) * BM < M) ? (b + 1) * BM : M) - 1 + (N - M);
    return last < 0 ? -1 : last / BN;
}

/* kbar [Z, HK, NB, D] (double) from k [Z, HK, N, D]. */
static void ref_pool_k(const fp_case *c, const fp_dims *f, const float *k, double *kbar)
{
    for (int zh = 0; zh < c->Z * c->HK; zh++)
        for (int b = 0; b < f->NB; b++) {
            int lo = b * c->BN, hi = lo + c->BN < c->N ? lo + c->BN : c->N;
            for (int d = 0; d < c->D; d++) {
                double s = 0;
                for (int j = lo; j < hi; j++) s += k[((size_t)zh * c->N + j) * c->D + d];
                kbar[((size_t)zh * f->NB + b) * c->D + d] = s / (hi - lo);
            }
        }
}

/* qbar [Z, H, MB, D] (double) from q [Z, H, M, D]. */
static void ref_pool_q(const fp_case *c, const fp_dims *f, const float *q, double *qbar)
{
    for (int zh = 0; zh < c->Z * c->H; zh++)
        for (int b = 0; b < f->MB; b++) {
            int lo = b * c->BM, hi = lo + c->BM < c->M ? lo + c->BM : c->M;
            for (int d = 0; d < c->D; d++) {
                double s = 0;
                for (int i = lo; i < hi; i++) s += q[((size_t)zh * c->M + i) * c->D + d];
                qbar[((size_t)zh * f->MB + b) * c->D + d] = s / (hi - lo);
            }
        }
}

/* est [Z, H, MB, NB] of flex_estimate (double). */
static void ref_estimate(const fp_case *c, const fp_dims *f, const double *qbar, const double *kbar,
                         double scale, double *est)
{
    for (int z = 0; z < c->Z; z++)
        for (int h = 0; h < c->H; h++)
            for (int b = 0; b < f->MB; b++) {
                const double *qr = qbar + (((size_t)z * c->H + h) * f->MB + b) * c->D;
                int hk = h / (c->H / c->HK), diag_b = ref_diag(b, c->M, c->N, c->BM, c->BN);
                for (int kb = 0; kb < f->NB; kb++) {
                    double e = 0;
                    const double *kr = kbar + (((size_t)z * c->HK + hk) * f->NB + kb) * c->D;
                    for (int d = 0; d < c->D; d++) e += qr[d] * kr[d];
                    bool vis = !c->causal || kb <= diag_b;
                    est[(((size_t)z * c->H + h) * f->MB + b) * f->NB + kb] = vis ? e * scale : -INFINITY;
                }
            }
}

/* The last query block's row of est from exact attention (double). */
static void ref_estimate_last(const fp_case *c, const fp_dims *f, const float *q, const float *k,
                              double scale, double *est)
{
    int b = f->MB - 1, lo = b * c->BM;
    double *s = TH_NEW(double, c->N);
    for (int z = 0; z < c->Z; z++)
        for (int h = 0; h < c->H; h++) {
            double *row = est + (((size_t)z * c->H + h) * f->MB + b) * f->NB;
            int hk = h / (c->H / c->HK);
            for (int kb = 0; kb < f->NB; kb++) row[kb] = 0;
            for (int i = lo; i < c->M; i++) {
                double m = -INFINITY, l = 0;
                for (int j = 0; j < c->N; j++) {
                    bool vis = !c->causal || j <= i + (c->N - c->M);
                    double dot = 0;
                    for (int d = 0; d < c->D; d++)
                        dot += (double)q[(((size_t)z * c->H + h) * c->M + i) * c->D + d] *
                               k[(((size_t)z * c->HK + hk) * c->N + j) * c->D + d];
                    s[j] = vis ? dot * scale : -INFINITY;
                    if (s[j] > m) m = s[j];
                }
                if (m == -INFINITY) continue;
                for (int j = 0; j < c->N; j++) l += exp(s[j] - m);
                for (int j = 0; j < c->N; j++) row[j / c->BN] += exp(s[j] - m) / l;
            }
            for (int kb = 0; kb < f->NB; kb++) row[kb] = log(row[kb] / (c->M - lo));
        }
    free(s);
}

/* Sum of x[0..32) in index order, as codegen's and the interpreter's sum. */
static float group_sum(const float *x)
{
    float s = x[0];
    for (int i = 1; i < 32; i++) s += x[i];
    return s;
}

/* flex_select's rule on one row of est (NB entries), in the kernel's f32
 * operations and order: the row padded to NP = ceil(NBMAX / 32) * 32, sums
 * in two levels (groups of 32 in order, then the groups in order), the
 * exclusive prefix the same way.  Writes idx[0..count) and returns count. */
static int ref_select_row(const float *e_row, int NB, int NBMAX, int maxb, int diag_b, bool by_mass,
                          float tau, int keep, int32_t *idx)
{
    enum { CAP = 128 };
    float e[CAP], p[CAP], key[CAP], free_p[CAP], before[CAP], gsum[CAP / 32] = {0};
    int order[CAP];
    int NP = (NBMAX + 31) / 32 * 32, G = NP / 32;
    assert_true(NP <= CAP);
    float e_max = -INFINITY;
    for (int c = 0; c < NP; c++) {
        e[c] = c < NB ? e_row[c] : -INFINITY;
        if (e[c] > e_max) e_max = e[c];
    }
    float shift = e_max == -INFINITY ? 0.0f : e_max, total = 0.0f;
    for (int c = 0; c < NP; c++) p[c] = e[c] > -INFINITY ? expf(e[c] - shift) : 0.0f;
    for (int g = 0; g < G; g++) gsum[g] = group_sum(p + 32 * g);
    total = gsum[0];
    for (int g = 1; g < G; g++) total += gsum[g];
    int n_forced = 0, n_vis = 0;
    float forced_p = 0.0f; /* at most two nonzero terms: any order */
    for (int c = 0; c < NP; c++) {
        bool vis = e[c] > -INFINITY, forced = vis && (c == 0 || c == diag_b);
        p[c] = total > 0.0f ? p[c] / total : 0.0f;
        key[c] = forced ? 2.0f : vis ? p[c] : -1.0f;
        n_forced += forced;
        n_vis += vis;
        forced_p += forced ? p[c] : 0.0f;
    }
    /* stable descending insertion sort of the keys */
    for (int c = 0; c < NP; c++) {
        int t = c;
        while (t > 0 && key[order[t - 1]] < key[c]) {
            order[t] = order[t - 1];
            t--;
        }
        order[t] = c;
    }
    for (int t = 0; t < NP; t++) {
        float s = key[order[t]];
        free_p[t] = s >= 0.0f && s < 2.0f ? s : 0.0f;
    }
    float ahead = 0.0f; /* the groups before this one */
    for (int g = 0; g < G; g++) {
        float inside = 0.0f;
        for (int i = 0; i < 32; i++) {
            before[32 * g + i] = ahead + inside;
            inside += free_p[32 * g + i];
        }
        ahead += group_sum(free_p + 32 * g);
    }
    int count = 0;
    for (int t = 0; t < NP; t++) {
        bool more = by_mass ? forced_p + before[t] < tau : t < keep;
        count += t < n_forced || (t < n_vis && more);
    }
    if (count > maxb) count = maxb;
    for (int t = 0; t < count; t++) idx[t] = order[t];
    return count;
}

/* Every row of est through ref_select_row; est is what the kernels wrote. */
static void ref_select(const fp_case *c, const fp_dims *f, const float *est, int32_t *idx,
                       int32_t *cnt)
{
    for (int zh = 0; zh < c->Z * c->H; zh++)
        for (int b = 0; b < f->MB; b++) {
            size_t row = (size_t)zh * f->MB + b;
            int diag_b = ref_diag(b, c->M, c->N, c->BM, c->BN);
            if (!c->causal && diag_b > f->NB - 1) diag_b = f->NB - 1;
            cnt[row] = ref_select_row(est + row * f->NB, f->NB, f->NBMAX, f->maxb, diag_b,
                                      c->by_mass, c->tau, c->keep, idx + row * f->maxb);
        }
}

/* ---- the kernels ---------------------------------------------------------------- */

static bool compare_selection(const char *label, const fp_case *c, const fp_dims *f,
                              const th_tensor *tidx, const th_tensor *tcnt, const int32_t *ridx,
                              const int32_t *rcnt)
{
    size_t nrows = (size_t)c->Z * c->H * f->MB;
    float *gi = TH_NEW(float, nrows * f->maxb), *gc = TH_NEW(float, nrows);
    th_tensor_get(tidx, gi);
    th_tensor_get(tcnt, gc);
    int bad = 0;
    for (size_t r = 0; r < nrows && bad < 5; r++) {
        bool ok = gc[r] == rcnt[r];
        for (int t = 0; ok && t < rcnt[r]; t++) ok = gi[r * f->maxb + t] == ridx[r * f->maxb + t];
        for (int t = rcnt[r]; ok && t < f->maxb; t++) ok = gi[r * f->maxb + t] == -1; /* empty: -1 */
        if (!ok) {
            fprintf(stderr, "%s: row %zu: count %g, want %d; first entries %g %g, want %d %d\n",
                    label, r, gc[r], rcnt[r], gi[r * f->maxb], gi[r * f->maxb + 1],
                    ridx[r * f->maxb], rcnt[r] > 1 ? ridx[r * f->maxb + 1] : -1);
            bad++;
        }
    }
    free(gi), free(gc);
    return bad == 0;
}

typedef struct chain {
    float *q, *k, *v, *est;
    th_tensor tq, tk, tv, tkbar, test, tidx, tcnt;
} chain;

/* The last query block's exact row: flex_last_lse then flex_last_mass over
 * S runs of key blocks (S = c->S, or 2 when 0).  flex_last_mass overwrites
 * one row of est in place; the harness poisons an output before a launch, so
 * it writes a scratch est here, whose other rows must stay poisoned (NaN:
 * nothing else written), and its last row is copied into ch->test. */
static bool run_last(const fp_case *c, const fp_dims *f, chain *ch, double scale)
{
    char defs[200];
    th_kernel kl, km;
    int S = c->S ? c->S : 2;
    snprintf(defs, sizeof defs, "T=%s,D=%d,BM=%d,BN=%d,is_causal=%s", ir_dtype_name(c->T), c->D, c->BM,
             c->BN, c->causal ? "true" : "false");
    if (!th_compile(&kl, FILE_FP, "flex_last_lse", defs)) return false;
    if (!th_compile(&km, FILE_FP, "flex_last_mass", defs)) return false;
    th_tensor tpart = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, S, c->BM), NULL);
    th_tensor tlast = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, f->MB, f->NB), NULL);
    bool ok = th_launch(&kl, (th_arg[]){TH_T("q", &ch->tq), TH_T("k", &ch->tk), TH_T("lse_part", &tpart),
                                        TH_S("scale", scale)}, 4) &&
              th_launch(&km, (th_arg[]){TH_T("q", &ch->tq), TH_T("k", &ch->tk), TH_T("lse_part", &tpart),
                                        TH_T("est", &tlast), TH_S("scale", scale)}, 5);
    if (ok) {
        size_t n = (size_t)c->Z * c->H * f->MB * f->NB;
        float *est = TH_NEW(float, n), *last = TH_NEW(float, n);
        th_tensor_get(&ch->test, est);
        th_tensor_get(&tlast, last);
        for (size_t i = 0; i < n && ok; i++) {
            bool in_last = (i / (size_t)f->NB) % (size_t)f->MB == (size_t)f->MB - 1;
            if (in_last) est[i] = last[i];
            else if (!isnan(last[i])) {
                fprintf(stderr, "%s: wrote est outside the last query block (element %zu)\n", km.label, i);
                ok = false;
            }
        }
        th_tensor_set(&ch->test, est);
        free(est), free(last);
    }
    th_tensor_free(&tpart), th_tensor_free(&tlast);
    th_kernel_free(&kl), th_kernel_free(&km);
    return ok;
}

static bool run_estimates(const fp_case *c, const fp_dims *f, chain *ch, double scale)
{
    char defs[200];
    th_kernel kp, kq, ke;
    snprintf(defs, sizeof defs, "T=%s,D=%d,BN=%d", ir_dtype_name(c->T), c->D, c->BN);
    if (!th_compile(&kp, FILE_FP, "flex_pool_k", defs)) return false;
    snprintf(defs, sizeof defs, "T=%s,D=%d,BM=%d", ir_dtype_name(c->T), c->D, c->BM);
    if (!th_compile(&kq, FILE_FP, "flex_pool_q", defs)) return false;
    /* BQ = 4 and BC = 4: several programs and steps, partial at the ends */
    snprintf(defs, sizeof defs, "D=%d,BM=%d,BN=%d,BQ=4,BC=4,is_causal=%s", c->D, c->BM, c->BN,
             c->causal ? "true" : "false");
    if (!th_compile(&ke, FILE_FP, "flex_estimate", defs)) return false;
    th_tensor tqbar = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, f->MB, c->D), NULL);
    bool ok = th_launch(&kp, (th_arg[]){TH_T("k", &ch->tk), TH_T("kbar", &ch->tkbar)}, 2) &&
              th_launch(&kq, (th_arg[]){TH_T("q", &ch->tq), TH_T("qbar", &tqbar)}, 2) &&
              th_launch(&ke, (th_arg[]){TH_T("qbar", &tqbar), TH_T("kbar", &ch->tkbar), TH_T("est", &ch->test),
                                        TH_S("M", c->M), TH_S("N", c->N), TH_S("scale", scale)}, 6) &&
              (!c->exact_last || run_last(c, f, ch, scale));
    size_t nkbar = (size_t)c->Z * c->HK * f->NB * c->D, nest = (size_t)c->Z * c->H * f->MB * f->NB;
    size_t nqbar = (size_t)c->Z * c->H * f->MB * c->D;
    double *rkbar = TH_NEW(double, nkbar), *rest = TH_NEW(double, nest), *rqbar = TH_NEW(double, nqbar);
    float *gkbar = TH_NEW(float, nkbar), *gqbar = TH_NEW(float, nqbar);
    ref_pool_k(c, f, ch->k, rkbar);
    ref_pool_q(c, f, ch->q, rqbar);
    ref_estimate(c, f, rqbar, rkbar, scale, rest);
    if (c->exact_last) ref_estimate_last(c, f, ch->q, ch->k, scale, rest);
    if (ok) {
        th_tensor_get(&ch->tkbar, gkbar);
        th_tensor_get(&tqbar, gqbar);
        th_tensor_get(&ch->test, ch->est);
        ok = th_check(kp.label, gkbar, rkbar, TH_DIMS(c->Z, c->HK, f->NB, c->D), 1e-5) &&
             th_check(kq.label, gqbar, rqbar, TH_DIMS(c->Z, c->H, f->MB, c->D), 1e-5) &&
             th_check(ke.label, ch->est, rest, TH_DIMS(c->Z, c->H, f->MB, f->NB), 1e-4);
    }
    free(rkbar), free(rest), free(rqbar), free(gkbar), free(gqbar);
    th_tensor_free(&tqbar);
    th_kernel_free(&kp), th_kernel_free(&kq), th_kernel_free(&ke);
    return ok;
}

/* flex_select on ch->test, compared with ref_select on the same est; the
 * reference's lists are returned for the attention check. */
static bool run_select(const fp_case *c, const fp_dims *f, chain *ch, int32_t *ridx, int32_t *rcnt)
{
    char defs[200];
    th_kernel ks;
    snprintf(defs, sizeof defs, "BM=%d,BN=%d,NBMAX=%d,by_mass=%s,is_causal=%s", c->BM, c->BN,
             f->NBMAX, c->by_mass ? "true" : "false", c->causal ? "true" : "false");
    if (!th_compile(&ks, FILE_FP, "flex_select", defs)) return false;
    bool ok = th_launch(&ks, (th_arg[]){TH_T("est", &ch->test), TH_T("kv_idx", &ch->tidx),
                                        TH_T("kv_cnt", &ch->tcnt), TH_S("M", c->M), TH_S("N", c->N),
                                        TH_S("tau", c->tau), TH_S("keep", c->keep)}, 7);
    th_tensor_get(&ch->test, ch->est);
    ref_select(c, f, ch->est, ridx, rcnt);
    ok = ok && compare_selection(ks.label, c, f, &ch->tidx, &ch->tcnt, ridx, rcnt);
    th_kernel_free(&ks);
    return ok;
}

/* The attention over the selection with BK = BN / 2 (two steps a listed
 * block, as FlexPrefill's 128-key blocks run in 64-key steps) against the
 * same reference as the one-step kernel in run_attend. */
static bool run_attend_half_steps(const fp_case *c, chain *ch, const attn_dims *d, const double *ro,
                                  const double *rl, double scale)
{
    char defs[120];
    th_kernel kb;
    snprintf(defs, sizeof defs, "T=%s,D=%d,BM=%d,BN=%d,BK=%d", ir_dtype_name(c->T), c->D, c->BM, c->BN,
             c->BN / 2);
    if (!th_compile(&kb, "attention/block_sparse.tile", c->causal ? "block_sparse_fwd_causal" : "block_sparse_fwd",
                    defs))
        return false;
    size_t nq = (size_t)d->Z * d->H * d->M * d->D, nrows = (size_t)d->Z * d->H * d->M;
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d->Z, d->H, d->M, d->D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(d->Z, d->H, d->M), NULL);
    float *o = TH_NEW(float, nq), *lse = TH_NEW(float, nrows);
    bool ok = th_launch(&kb, (th_arg[]){TH_T("q", &ch->tq), TH_T("k", &ch->tk), TH_T("v", &ch->tv),
                                        TH_T("kv_idx", &ch->tidx), TH_T("kv_cnt", &ch->tcnt),
                                        TH_T("o", &to), TH_T("lse", &tl), TH_S("scale", scale)}, 8);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        ok = th_check_attention(kb.label, d, c->T, o, lse, ro, rl);
    }
    th_tensor_free(&to), th_tensor_free(&tl);
    free(o), free(lse);
    th_kernel_free(&kb);
    return ok;
}

/* block_sparse_fwd_causal (or block_sparse_fwd) over the selection, and the
 * kept-mass check, against the dense reference. */
static bool run_attend(const fp_case *c, const fp_dims *f, chain *ch, const int32_t *ridx,
                       const int32_t *rcnt, double scale)
{
    char defs[120];
    th_kernel kb, km;
    snprintf(defs, sizeof defs, "T=%s,D=%d,BM=%d,BN=%d", ir_dtype_name(c->T), c->D, c->BM, c->BN);
    if (!th_compile(&kb, "attention/block_sparse.tile",
                 c->causal ? "block_sparse_fwd_causal" : "block_sparse_fwd", defs))
        return false;
    if (!th_compile(&km, FILE_FP, "flex_kept_mass", "BM=32")) return false;
    const attn_dims *d = &f->d;
    size_t nq = (size_t)d->Z * d->H * d->M * d->D, nrows = (size_t)d->Z * d->H * d->M;
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d->Z, d->H, d->M, d->D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(d->Z, d->H, d->M), NULL);
    th_tensor tld = th_tensor_new(IR_F32, TH_DIMS(d->Z, d->H, d->M), NULL);
    th_tensor tfr = th_tensor_new(IR_F32, TH_DIMS(d->Z, d->H, d->M), NULL);
    bool ok = th_launch(&kb, (th_arg[]){TH_T("q", &ch->tq), TH_T("k", &ch->tk), TH_T("v", &ch->tv),
                                        TH_T("kv_idx", &ch->tidx), TH_T("kv_cnt", &ch->tcnt),
                                        TH_T("o", &to), TH_T("lse", &tl), TH_S("scale", scale)}, 8);
    uint8_t *visible = TH_NEW(uint8_t, nrows * d->N);
    attn_mask causal = {.kind = ATTN_MASK_CAUSAL}, full = {.kind = ATTN_MASK_FULL};
    attn_ref_block_sparse_mask(d, c->BM, c->BN, f->maxb, ridx, rcnt, c->causal ? &causal : NULL, visible);
    attn_mask sparse = {.kind = ATTN_MASK_EXPLICIT, .visible = visible};
    double *ro = TH_NEW(double, nq), *rod = TH_NEW(double, nq), *rl = TH_NEW(double, nrows), *rld = TH_NEW(double, nrows);
    double *rfr = TH_NEW(double, nrows);
    float *o = TH_NEW(float, nq), *lse = TH_NEW(float, nrows), *fr = TH_NEW(float, nrows);
    attn_ref_fwd(d, ch->q, ch->k, ch->v, scale, &sparse, ro, rl);
    attn_ref_fwd(d, ch->q, ch->k, ch->v, scale, c->causal ? &causal : &full, rod, rld);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        ok = th_check_attention(kb.label, d, c->T, o, lse, ro, rl);
    }
    ok = ok && run_attend_half_steps(c, ch, d, ro, rl, scale);
    float *lsed = TH_NEW(float, nrows);
    for (size_t r = 0; r < nrows; r++) {
        lsed[r] = (float)rld[r];
        rfr[r] = rld[r] == -INFINITY ? 1.0 : exp(rl[r] - rld[r]);
    }
    th_tensor_set(&tld, lsed);
    ok = ok && th_launch(&km, (th_arg[]){TH_T("lse_sparse", &tl), TH_T("lse_dense", &tld),
                                         TH_T("frac", &tfr)}, 3);
    if (ok) {
        th_tensor_get(&tfr, fr);
        ok = th_check(km.label, fr, rfr, TH_DIMS(d->Z, d->H, d->M), 1e-4);
        /* every row keeps its diagonal key: some mass, never more than all */
        for (size_t r = 0; ok && r < nrows; r++) ok = fr[r] > 0.0f && fr[r] <= 1.0f + 1e-4f;
        if (!ok) fprintf(stderr, "%s: a kept fraction outside (0, 1]\n", km.label);
    }
    th_tensor_free(&to), th_tensor_free(&tl), th_tensor_free(&tld), th_tensor_free(&tfr);
    free(visible), free(ro), free(rod), free(rl), free(rld), free(rfr), free(o), free(lse), free(fr), free(lsed);
    th_kernel_free(&kb), th_kernel_free(&km);
    return ok;
}

static bool run_case(const fp_case *c, uint64_t seed)
{
    fp_dims f = dims_of(c);
    const attn_dims *d = &f.d;
    size_t nq = (size_t)d->Z * d->H * d->M * d->D, nk = (size_t)d->Z * d->HK * d->N * d->D;
    size_t nlists = (size_t)d->Z * d->H * f.MB;
    chain ch = {0};
    th_rng rng = th_rng_new(seed);
    ch.q = TH_NEW(float, nq), ch.k = TH_NEW(float, nk), ch.v = TH_NEW(float, nk);
    ch.est = TH_NEW(float, nlists * f.NB);
    /* keys with a shared offset per block give the estimate something to find */
    th_fill(&rng, ch.q, nq, -1, 1, c->T);
    th_fill(&rng, ch.k, nk, -1, 1, c->T);
    th_fill(&rng, ch.v, nk, -1, 1, c->T);
    for (size_t i = 0; i < nk; i++)
        ch.k[i] = th_round(ch.k[i] + 0.5f * (float)(((i / (size_t)d->D) / (size_t)c->BN * 7) % 5) - 1.0f, c->T);
    ch.tq = th_tensor_new(c->T, TH_DIMS(d->Z, d->H, d->M, d->D), NULL);
    ch.tk = th_tensor_new(c->T, TH_DIMS(d->Z, d->HK, d->N, d->D), NULL);
    ch.tv = th_tensor_new(c->T, TH_DIMS(d->Z, d->HK, d->N, d->D), NULL);
    ch.tkbar = th_tensor_new(IR_F32, TH_DIMS(d->Z, d->HK, f.NB, d->D), NULL);
    ch.test = th_tensor_new(IR_F32, TH_DIMS(d->Z, d->H, f.MB, f.NB), NULL);
    ch.tidx = th_tensor_new(IR_I32, TH_DIMS(d->Z, d->H, f.MB, f.maxb), NULL);
    ch.tcnt = th_tensor_new(IR_I32, TH_DIMS(d->Z, d->H, f.MB), NULL);
    th_tensor_set(&ch.tq, ch.q);
    th_tensor_set(&ch.tk, ch.k);
    th_tensor_set(&ch.tv, ch.v);
    int32_t *ridx = TH_NEW(int32_t, nlists * f.maxb), *rcnt = TH_NEW(int32_t, nlists);
    for (size_t i = 0; i < nlists * f.maxb; i++) ridx[i] = -1;
    double scale = 1 / sqrt(d->D);
    bool ok = run_estimates(c, &f, &ch, scale) && run_select(c, &f, &ch, ridx, rcnt) &&
              run_attend(c, &f, &ch, ridx, rcnt, scale);
    th_tensor_free(&ch.tq), th_tensor_free(&ch.tk), th_tensor_free(&ch.tv);
    th_tensor_free(&ch.tkbar), th_tensor_free(&ch.test), th_tensor_free(&ch.tidx);
    th_tensor_free(&ch.tcnt);
    free(ch.q), free(ch.k), free(ch.v), free(ch.est), free(ridx), free(rcnt);
    return ok;
}

static void run_cases(const fp_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 9100 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void test_chain_mass(void **state)
{
    (void)state;
    const fp_case cases[] = {
        {IR_F32, 1, 2, 2, 100, 100, 32, 16, 16, true, true, true, 0.5f, 0, 0},
        {IR_F32, 1, 4, 2, 77, 130, 32, 16, 16, true, true, true, 0.9f, 0, 0},   /* M < N */
        {IR_F32, 2, 2, 1, 70, 45, 32, 32, 16, true, true, false, 0.9f, 0, 0},   /* M > N */
        {IR_F32, 1, 2, 2, 37, 37, 16, 16, 16, true, true, true, 1.0f, 0, 0},    /* keep all */
        {IR_F32, 1, 2, 2, 90, 61, 32, 16, 16, false, true, true, 0.7f, 0, 0},   /* not causal */
    };
    RUN(cases);
}

static void test_chain_topk(void **state)
{
    (void)state;
    const fp_case cases[] = {
        {IR_F32, 1, 2, 2, 100, 100, 32, 16, 16, true, false, true, 0, 3, 0},
        {IR_F32, 1, 4, 1, 83, 83, 32, 16, 16, true, false, false, 0, 1, 0},    /* forced only */
        {IR_F32, 1, 2, 2, 50, 99, 32, 32, 16, false, false, true, 0, 2, 0},
    };
    RUN(cases);
}

static void test_chain_bf16(void **state)
{
    (void)state;
    const fp_case cases[] = {
        {IR_BF16, 1, 4, 2, 100, 100, 64, 16, 16, true, true, true, 0.9f, 0, 0},
        {IR_BF16, 1, 2, 2, 65, 65, 64, 32, 16, true, false, true, 0, 3, 0},
    };
    RUN(cases);
}

/* The exact last row by runs of key blocks: one run, runs of several
 * blocks with a short last one, more runs than blocks (empty runs: LSE
 * -inf, nothing stored), lengths of 1 (one key, one query), a last block
 * with rows that see no key (M > N), GQA. */
static void test_last_row_runs(void **state)
{
    (void)state;
    const fp_case cases[] = {
        {IR_F32, 1, 4, 2, 77, 130, 32, 16, 16, true, true, true, 0.9f, 0, 1},
        {IR_F32, 1, 4, 2, 77, 130, 32, 16, 16, true, true, true, 0.9f, 0, 5},   /* 9 blocks: 2,2,2,2,1 */
        {IR_F32, 1, 2, 2, 60, 130, 32, 32, 16, false, true, true, 0.9f, 0, 12}, /* 12 runs > 9 blocks */
        {IR_F32, 1, 2, 1, 1, 1, 16, 16, 16, true, true, true, 0.9f, 0, 3},
        {IR_F32, 1, 4, 1, 1, 77, 32, 16, 16, true, false, true, 0, 2, 4},
        {IR_F32, 2, 2, 1, 50, 1, 16, 16, 16, true, true, true, 0.9f, 0, 2},     /* row 48 sees no key */
        {IR_BF16, 1, 4, 2, 95, 200, 64, 32, 32, true, true, true, 0.9f, 0, 3},
    };
    RUN(cases);
}

/* flex_select alone on an est full of ties (values from a set of four),
 * some rows with -inf (invisible) blocks, against ref_select_row. */
static void test_select_ties(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        fp_case c = {IR_F32, 1, 3, 3, 70, 70, 16, 8, 8, true, mode == 0, false, 0.6f, 4, 0};
        fp_dims f = dims_of(&c);
        size_t nlists = (size_t)c.H * f.MB;
        float *est = TH_NEW(float, nlists * f.NB);
        th_rng rng = th_rng_new(77 + mode);
        static const float vals[4] = {0.5f, 1.0f, 1.0f, 2.0f};
        for (size_t r = 0; r < nlists; r++)
            for (int b = 0; b < f.NB; b++) {
                int diag_b = ref_diag((int)(r % f.MB), c.M, c.N, c.BM, c.BN);
                est[r * f.NB + b] = b > diag_b ? -INFINITY : vals[th_rng_int(&rng, 4)];
            }
        chain ch = {.est = est};
        ch.test = th_tensor_new(IR_F32, TH_DIMS(1, c.H, f.MB, f.NB), NULL);
        ch.tidx = th_tensor_new(IR_I32, TH_DIMS(1, c.H, f.MB, f.maxb), NULL);
        ch.tcnt = th_tensor_new(IR_I32, TH_DIMS(1, c.H, f.MB), NULL);
        th_tensor_set(&ch.test, est);
        int32_t *ridx = TH_NEW(int32_t, nlists * f.maxb), *rcnt = TH_NEW(int32_t, nlists);
        assert_true(run_select(&c, &f, &ch, ridx, rcnt));
        /* the rule on a hand-checked row: ties go to the lower block */
        float row[6] = {1.0f, 2.0f, 1.0f, 2.0f, 1.0f, -INFINITY};
        int32_t idx[6];
        assert_int_equal(ref_select_row(row, 6, 6, 6, 4, false, 0, 4, idx), 4);
        assert_int_equal(idx[0], 0), assert_int_equal(idx[1], 4);
        assert_int_equal(idx[2], 1), assert_int_equal(idx[3], 3);
        th_tensor_free(&ch.test), th_tensor_free(&ch.tidx), th_tensor_free(&ch.tcnt);
        free(est), free(ridx), free(rcnt);
    }
}

/* flex_select alone on rows of 100 key blocks (NBMAX 103: a tile of four
 * groups of 32, so the two-level sums and prefix cross groups), random
 * estimates with some ties, causal, both modes. */
static void test_select_wide(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        fp_case c = {IR_F32, 1, 3, 3, 800, 800, 16, 8, 8, true, mode == 0, false, 0.7f, 20, 0};
        fp_dims f = dims_of(&c);
        size_t nlists = (size_t)c.H * f.MB;
        float *est = TH_NEW(float, nlists * f.NB);
        th_rng rng = th_rng_new(91 + mode);
        for (size_t r = 0; r < nlists; r++)
            for (int b = 0; b < f.NB; b++) {
                int diag_b = ref_diag((int)(r % f.MB), c.M, c.N, c.BM, c.BN);
                float x = th_rng_int(&rng, 4) == 0 ? 1.0f : (float)(6 * th_rng_uniform(&rng) - 3);
                est[r * f.NB + b] = b > diag_b ? -INFINITY : x;
            }
        chain ch = {.est = est};
        ch.test = th_tensor_new(IR_F32, TH_DIMS(1, c.H, f.MB, f.NB), NULL);
        ch.tidx = th_tensor_new(IR_I32, TH_DIMS(1, c.H, f.MB, f.maxb), NULL);
        ch.tcnt = th_tensor_new(IR_I32, TH_DIMS(1, c.H, f.MB), NULL);
        th_tensor_set(&ch.test, est);
        int32_t *ridx = TH_NEW(int32_t, nlists * f.maxb), *rcnt = TH_NEW(int32_t, nlists);
        assert_true(f.NBMAX > 96);
        assert_true(run_select(&c, &f, &ch, ridx, rcnt));
        th_tensor_free(&ch.test), th_tensor_free(&ch.tidx), th_tensor_free(&ch.tcnt);
        free(est), free(ridx), free(rcnt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_ties),
        cmocka_unit_test(test_select_wide),
        cmocka_unit_test(test_chain_mass),
        cmocka_unit_test(test_chain_topk),
        cmocka_unit_test(test_chain_bf16),
        cmocka_unit_test(test_last_row_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
