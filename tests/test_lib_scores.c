/* test_lib_scores.c - score modifiers (lib/attention/scores.tile) through
 * flash_fwd and flash_bwd on the interpreter, against the naive double
 * reference with the chain rule written by hand (tests/ref/scores_ref.c).
 *
 * Each case: random Q, K, V, dO rounded to the kernel dtype, the modifier's
 * tensors (ALiBi's geometric slopes, a random relative-bias or T5 bucket
 * table, random sink columns and per-head betas with beta = 1 on some
 * heads); the forward kernel's O and LSE are checked against the reference
 * forward; then the backward kernels run on the reference's O and LSE
 * (rounded as a forward would store them) and their dQ, dK, dV are checked
 * against the reference gradient, whose dS goes through score'(S) as
 * autograd would.  The backward's derivative of each modifier is the
 * compiler's.  Where flash_bwd_dq trains the modifier's table (score_grad),
 * its d(table) (accumulate_grad, atomic adds into a zeroed tensor) is
 * checked against the reference's sum over every (z, h, i, j) reading an
 * entry, and on tiny cases against central differences in double of the
 * reference loss sum(dO o O); the reference's table gradient is itself
 * checked against its finite differences.  T5's bucket function is checked
 * against a C transcription of mesh_tensorflow's definition (itself checked
 * against values worked out by hand) at every relative position within
 * 3 max_distance + 5, for 8 configurations.
 *
 * Tested (scores.tile): identity_score (through every flash test),
 * alibi, softcap, rel_bias, act_calibration, t5_bias, t5_bias_causal,
 * t5_bucket, t5_bucket_causal, t5_log_bucket, no_score_grad (through every
 * flash_bwd_dq test), rel_bias_grad, alibi_grad, t5_bias_grad,
 * t5_bias_causal_grad, modified_scores, modified_softmax_step, modified_p,
 * modified_grad; f32 and bf16; D = 64; Z = 1, 2; (H, HK) = (2, 1), (2, 2),
 * (4, 1), (4, 2), (4, 4); M and N from 1 to 45 (M = N, M < N, M > N with
 * fully masked rows); BM, BN = 16, 32; softcap with cap 50 (the named
 * kernels, on scores up to about 30) and cap 1 (flash_fwd with
 * -D score=softcap(cap:1.0), full and causal masks); T5 with 32 buckets and
 * max_distance 128 (the library's kernels), 8 and 12, causal 6 and 15
 * (tests/scores/t5_small.tile, reaching every bucket and the clamp); and
 * one forward kernel feeding the backward kernels.
 *
 * Tested (flash_fwd.tile): flash_fwd_alibi, flash_fwd_softcap,
 * flash_fwd_rel_bias, flash_fwd_act, flash_fwd_t5, flash_fwd_t5_causal,
 * flash_fwd with score=softcap(cap:1.0).
 *
 * Tested (flash_bwd.tile): flash_bwd_dkdv_alibi, flash_bwd_dq_alibi,
 * flash_bwd_dkdv_softcap, flash_bwd_dq_softcap, flash_bwd_dkdv_rel_bias,
 * flash_bwd_dq_rel_bias, flash_bwd_dkdv_act, flash_bwd_dq_act,
 * flash_bwd_dq_rel_bias_grad, flash_bwd_dq_alibi_grad, flash_bwd_dkdv_t5,
 * flash_bwd_dq_t5, flash_bwd_dkdv_t5_causal, flash_bwd_dq_t5_causal,
 * flash_bwd_dkdv and flash_bwd_dq with score=softcap(cap:1.0).  Every launch
 * is also run at -O0 and must match bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref/harness.h"
#include "ref/scores_ref.h"

typedef struct sc_case {
    ir_dtype T;
    int Z, H, HK, M, N, D;
    score_kind kind;
    bool causal;
    const char *named;    /* "alibi": flash_fwd_alibi, ...; NULL: the base kernels */
    const char *defs;     /* base kernels: "score=...,mask=..." */
    const char *fwd_defs; /* base kernels: flash_fwd's and flash_bwd_dq's kv_range */
    const char *q_defs;   /* base kernels: flash_bwd_dkdv's q_range */
    double cap;           /* SOFTCAP */
    float range;          /* Q and K uniform in [-range, range] */
    int BM, BN;
    /* Training the modifier's table (left zero by the cases above): */
    const char *grad;     /* flash_bwd_dq's gradient tensor ("dbias"), or NULL */
    const char *dq_named; /* flash_bwd_dq_DQ_NAMED (else _NAMED) */
    const char *file;     /* the kernels' file, relative to lib/ (else the library's) */
    int num_buckets, max_distance;   /* T5, T5_CAUSAL */
    bool fd;              /* check the table's gradient against finite differences */
} sc_case;

/* The modifier's tensors, host and kernel side. */
typedef struct sc_inputs {
    float *slopes, *bias, *beta;
    int32_t *sink;
    th_tensor ts, tb, tbeta, tsink;
    score_mod mod;
} sc_inputs;

static void make_inputs(const sc_case *c, th_rng *rng, sc_inputs *in)
{
    memset(in, 0, sizeof *in);
    int R = c->kind == SCORE_T5 || c->kind == SCORE_T5_CAUSAL ? c->num_buckets : 2 * c->N - 1;
    in->slopes = TH_NEW(float, c->H);
    in->beta = TH_NEW(float, c->H);
    in->bias = TH_NEW(float, (size_t)c->H * R);
    in->sink = TH_NEW(int32_t, c->N);
    for (int h = 0; h < c->H; h++) {
        in->slopes[h] = (float)pow(2.0, -8.0 * (h + 1) / c->H);
        in->beta[h] = h % 2 ? (float)(0.05 + 0.9 * th_rng_uniform(rng)) : 1.0f;
    }
    th_fill(rng, in->bias, (size_t)c->H * R, -1, 1, IR_F32);
    for (int j = 0; j < c->N; j++) in->sink[j] = j < 2 || th_rng_int(rng, 7) == 0;
    in->ts = th_tensor_new(IR_F32, TH_DIMS(c->H), NULL);
    in->tbeta = th_tensor_new(IR_F32, TH_DIMS(c->H), NULL);
    in->tb = th_tensor_new(IR_F32, TH_DIMS(c->H, R), NULL);
    in->tsink = th_tensor_new(IR_I32, TH_DIMS(c->N), NULL);
    th_tensor_set(&in->ts, in->slopes);
    th_tensor_set(&in->tbeta, in->beta);
    th_tensor_set(&in->tb, in->bias);
    th_tensor_set_i32(&in->tsink, in->sink);
    in->mod = (score_mod){.kind = c->kind, .slopes = in->slopes, .cap = c->cap,
                          .bias = in->bias, .sink = in->sink, .beta = in->beta,
                          .num_buckets = c->num_buckets, .max_distance = c->max_distance};
}

static void free_inputs(sc_inputs *in)
{
    th_tensor_free(&in->ts), th_tensor_free(&in->tb), th_tensor_free(&in->tbeta);
    th_tensor_free(&in->tsink);
    free(in->slopes), free(in->bias), free(in->beta), free(in->sink);
}

/* Appends the modifier's captured tensors to args[n..]; returns the new n. */
static int add_captures(const sc_case *c, sc_inputs *in, th_arg *args, int n)
{
    if (!c->named) return n;
    switch (c->kind) {
    case SCORE_ALIBI: args[n++] = TH_T("slopes", &in->ts); break;
    case SCORE_REL_BIAS: case SCORE_T5: case SCORE_T5_CAUSAL:
        args[n++] = TH_T("bias", &in->tb);
        break;
    case SCORE_ACT:
        args[n++] = TH_T("sink", &in->tsink);
        args[n++] = TH_T("beta", &in->tbeta);
        break;
    default: break;
    }
    return n;
}

/* Compiles kernel `base` (or base_NAMED, or flash_bwd_dq_DQ_NAMED) of file
 * (or the case's) with the case's defines. */
static bool compile(th_kernel *k, const sc_case *c, const char *file, const char *base,
                    const char *ranges)
{
    char name[96], def[256];
    const char *named = c->dq_named && strcmp(base, "flash_bwd_dq") == 0 ? c->dq_named : c->named;
    snprintf(name, sizeof name, named ? "%s_%s" : "%s", base, named);
    if (c->file) file = c->file;
    int n = snprintf(def, sizeof def, "T=%s,D=%d,BM=%d,BN=%d", ir_dtype_name(c->T), c->D, c->BM,
                     c->BN);
    if (!c->named && c->defs && *c->defs) n += snprintf(def + n, sizeof def - (size_t)n, ",%s", c->defs);
    if (!c->named && ranges && *ranges) snprintf(def + n, sizeof def - (size_t)n, ",%s", ranges);
    return th_compile(k, file, name, def);
}

typedef struct sc_data {
    attn_dims d;
    float scale;
    float *q, *k, *v, *dout, *o, *lse;
    th_tensor tq, tk, tv, tdo, to, tlse;
} sc_data;

static void make_data(const sc_case *c, th_rng *rng, sc_data *x)
{
    x->d = (attn_dims){.Z = c->Z, .H = c->H, .HK = c->HK, .M = c->M, .N = c->N, .D = c->D};
    size_t nq = (size_t)c->Z * c->H * c->M * c->D, nk = (size_t)c->Z * c->HK * c->N * c->D;
    x->scale = (float)(1 / sqrt(c->D));
    x->q = TH_NEW(float, nq), x->k = TH_NEW(float, nk), x->v = TH_NEW(float, nk);
    x->dout = TH_NEW(float, nq), x->o = TH_NEW(float, nq);
    x->lse = TH_NEW(float, (size_t)c->Z * c->H * c->M);
    th_fill(rng, x->q, nq, -c->range, c->range, c->T);
    th_fill(rng, x->k, nk, -c->range, c->range, c->T);
    th_fill(rng, x->v, nk, -1, 1, c->T);
    th_fill(rng, x->dout, nq, -1, 1, c->T);
    x->tq = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->M, c->D), NULL);
    x->tk = th_tensor_new(c->T, TH_DIMS(c->Z, c->HK, c->N, c->D), NULL);
    x->tv = th_tensor_new(c->T, TH_DIMS(c->Z, c->HK, c->N, c->D), NULL);
    x->tdo = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->M, c->D), NULL);
    x->to = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->M, c->D), NULL);
    x->tlse = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, c->M), NULL);
    th_tensor_set(&x->tq, x->q);
    th_tensor_set(&x->tk, x->k);
    th_tensor_set(&x->tv, x->v);
    th_tensor_set(&x->tdo, x->dout);
}

static void free_data(sc_data *x)
{
    free(x->q), free(x->k), free(x->v), free(x->dout), free(x->o), free(x->lse);
    th_tensor_free(&x->tq), th_tensor_free(&x->tk), th_tensor_free(&x->tv);
    th_tensor_free(&x->tdo), th_tensor_free(&x->to), th_tensor_free(&x->tlse);
}

static const char *case_label(char *buf, size_t size, const sc_case *c, const char *what)
{
    snprintf(buf, size, "%s %s %s Z=%d H=%d HK=%d M=%d N=%d: %s", c->named ? c->named : c->defs,
             ir_dtype_name(c->T), c->causal ? "causal" : "full", c->Z, c->H, c->HK, c->M, c->N,
             what);
    return buf;
}

/* The forward kernel against the reference; leaves its O and LSE in x. */
static bool check_forward(const sc_case *c, sc_data *x, sc_inputs *in, const attn_mask *mask)
{
    th_kernel fwd;
    if (!compile(&fwd, c, "attention/flash_fwd.tile", "flash_fwd", c->fwd_defs)) return false;
    th_arg args[8] = {TH_T("q", &x->tq), TH_T("k", &x->tk), TH_T("v", &x->tv), TH_T("o", &x->to),
                      TH_T("lse", &x->tlse), TH_S("scale", x->scale)};
    int n = add_captures(c, in, args, 6);
    bool ok = th_launch(&fwd, args, n);
    th_kernel_free(&fwd);
    if (!ok) return false;
    th_tensor_get(&x->to, x->o);
    th_tensor_get(&x->tlse, x->lse);
    size_t nq = (size_t)c->Z * c->H * c->M * c->D, nr = (size_t)c->Z * c->H * c->M;
    double *ro = TH_NEW(double, nq), *rl = TH_NEW(double, nr);
    score_ref_fwd(&x->d, x->q, x->k, x->v, x->scale, mask, &in->mod, ro, rl);
    char label[256];
    ok = th_check_attention(case_label(label, sizeof label, c, "forward"), &x->d, c->T, x->o,
                            x->lse, ro, rl);
    free(ro), free(rl);
    return ok;
}

/* L = sum(dO o O) of the reference forward, in double. */
static double ref_loss(sc_data *x, const sc_inputs *in, const attn_mask *mask)
{
    const attn_dims *d = &x->d;
    size_t nq = (size_t)d->Z * d->H * d->M * d->D;
    double *o = TH_NEW(double, nq), loss = 0;
    score_ref_fwd(d, x->q, x->k, x->v, x->scale, mask, &in->mod, o, NULL);
    for (size_t e = 0; e < nq; e++) loss += (double)x->dout[e] * o[e];
    free(o);
    return loss;
}

/* dL/d(table) by central differences of the reference forward in double,
 * one entry at a time. */
static void fd_table_grad(sc_data *x, sc_inputs *in, const attn_mask *mask, double *fd)
{
    const double eps = 1e-6;
    long nt = score_ref_table_len(&in->mod, &x->d);
    for (long e = 0; e < nt; e++) {
        in->mod.perturb_at = e;
        in->mod.perturb = eps;
        double up = ref_loss(x, in, mask);
        in->mod.perturb = -eps;
        double down = ref_loss(x, in, mask);
        fd[e] = (up - down) / (2 * eps);
    }
    in->mod.perturb = 0;
}

/* flash_bwd_dq's gradient of the modifier's table (tgrad) against the
 * reference's. */
static bool check_table_grad(const sc_case *c, sc_data *x, sc_inputs *in, const attn_mask *mask,
                             const th_tensor *tgrad, const th_tensor *tdelta)
{
    (void)tdelta;
    const attn_dims *d = &x->d;
    long nt = score_ref_table_len(&in->mod, d);
    float *got = TH_NEW(float, (size_t)nt);
    double *ref = TH_NEW(double, (size_t)nt);
    th_tensor_get(tgrad, got);
    if (c->fd) fd_table_grad(x, in, mask, ref);
    else score_ref_table_grad(d, x->q, x->k, x->v, x->dout, x->scale, mask, &in->mod, ref);
    char label[256];
    bool ok = th_check(case_label(label, sizeof label, c, c->grad), got, ref, TH_DIMS(nt),
                       th_rtol(c->T));
    free(got), free(ref);
    return ok;
}

/* The backward kernels, fed x's O and LSE, against the reference gradient. */
static bool check_backward(const sc_case *c, sc_data *x, sc_inputs *in, const attn_mask *mask)
{
    th_kernel pre, dkdv, dq;
    char def_pre[96];
    snprintf(def_pre, sizeof def_pre, "T=%s,D=%d,BM=%d", ir_dtype_name(c->T), c->D, c->BM);
    if (!th_compile(&pre, "attention/flash_bwd.tile", "flash_bwd_preprocess", def_pre)) return false;
    bool ok = compile(&dkdv, c, "attention/flash_bwd.tile", "flash_bwd_dkdv", c->q_defs);
    if (ok && !compile(&dq, c, "attention/flash_bwd.tile", "flash_bwd_dq", c->fwd_defs)) {
        th_kernel_free(&dkdv);
        ok = false;
    }
    if (!ok) {
        th_kernel_free(&pre);
        return false;
    }
    const attn_dims *d = &x->d;
    size_t nq = (size_t)d->Z * d->H * d->M * d->D, nk = (size_t)d->Z * d->HK * d->N * d->D;
    th_tensor tdelta = th_tensor_new(IR_F32, TH_DIMS(d->Z, d->H, d->M), NULL);
    th_tensor tdq = th_tensor_new(c->T, TH_DIMS(d->Z, d->H, d->M, d->D), NULL);
    th_tensor tdk = th_tensor_new(c->T, TH_DIMS(d->Z, d->HK, d->N, d->D), NULL);
    th_tensor tdv = th_tensor_new(c->T, TH_DIMS(d->Z, d->HK, d->N, d->D), NULL);
    th_tensor_set(&x->to, x->o);
    th_tensor_set(&x->tlse, x->lse);
    ok = th_launch(&pre, (th_arg[]){TH_T("o", &x->to), TH_T("dout", &x->tdo),
                                    TH_T("delta", &tdelta)}, 3);
    th_arg args[12] = {TH_T("q", &x->tq), TH_T("k", &x->tk), TH_T("v", &x->tv),
                       TH_T("dout", &x->tdo), TH_T("lse", &x->tlse), TH_T("delta", &tdelta),
                       TH_T("dk", &tdk), TH_T("dv", &tdv), TH_S("scale", x->scale)};
    int n = add_captures(c, in, args, 9);
    ok = ok && th_launch(&dkdv, args, n);
    th_arg qargs[12] = {TH_T("q", &x->tq), TH_T("k", &x->tk), TH_T("v", &x->tv),
                        TH_T("dout", &x->tdo), TH_T("lse", &x->tlse), TH_T("delta", &tdelta),
                        TH_T("dq", &tdq), TH_S("scale", x->scale)};
    n = add_captures(c, in, qargs, 8);
    long nt = score_ref_table_len(&in->mod, d);
    th_tensor tgrad = c->kind == SCORE_ALIBI ? th_tensor_new(IR_F32, TH_DIMS(d->H), NULL)
                                             : th_tensor_new(IR_F32, TH_DIMS(d->H, nt / d->H), NULL);
    if (c->grad) qargs[n++] = TH_ZERO(c->grad, &tgrad);
    ok = ok && th_launch(&dq, qargs, n);
    if (ok && c->grad) ok = check_table_grad(c, x, in, mask, &tgrad, &tdelta);
    th_tensor_free(&tgrad);
    if (ok) {
        float *gq = TH_NEW(float, nq), *gk = TH_NEW(float, nk), *gv = TH_NEW(float, nk);
        double *rq = TH_NEW(double, nq), *rk = TH_NEW(double, nk), *rv = TH_NEW(double, nk);
        th_tensor_get(&tdq, gq), th_tensor_get(&tdk, gk), th_tensor_get(&tdv, gv);
        score_ref_bwd(d, x->q, x->k, x->v, x->dout, x->scale, mask, &in->mod, rq, rk, rv);
        char label[256];
        double rtol = th_rtol(c->T);
        ok = th_check(case_label(label, sizeof label, c, "dQ"), gq, rq,
                      TH_DIMS(d->Z, d->H, d->M, d->D), rtol) && ok;
        ok = th_check(case_label(label, sizeof label, c, "dK"), gk, rk,
                      TH_DIMS(d->Z, d->HK, d->N, d->D), rtol) && ok;
        ok = th_check(case_label(label, sizeof label, c, "dV"), gv, rv,
                      TH_DIMS(d->Z, d->HK, d->N, d->D), rtol) && ok;
        free(gq), free(gk), free(gv), free(rq), free(rk), free(rv);
    }
    th_tensor_free(&tdelta), th_tensor_free(&tdq), th_tensor_free(&tdk), th_tensor_free(&tdv);
    th_kernel_free(&pre), th_kernel_free(&dkdv), th_kernel_free(&dq);
    return ok;
}

/* chained: the backward runs on the forward kernel's O and LSE, else on the
 * reference's, rounded as the kernel would store them. */
static bool run_case(const sc_case *c, uint64_t seed, bool chained)
{
    th_rng rng = th_rng_new(seed);
    sc_inputs in;
    sc_data x;
    make_inputs(c, &rng, &in);
    make_data(c, &rng, &x);
    attn_mask mask = {.kind = c->causal ? ATTN_MASK_CAUSAL : ATTN_MASK_FULL};
    bool ok = check_forward(c, &x, &in, &mask);
    if (!chained) {
        size_t nq = (size_t)c->Z * c->H * c->M * c->D, nr = (size_t)c->Z * c->H * c->M;
        double *ro = TH_NEW(double, nq), *rl = TH_NEW(double, nr);
        score_ref_fwd(&x.d, x.q, x.k, x.v, x.scale, &mask, &in.mod, ro, rl);
        for (size_t i = 0; i < nq; i++) x.o[i] = th_round((float)ro[i], c->T);
        for (size_t i = 0; i < nr; i++) x.lse[i] = (float)rl[i];
        free(ro), free(rl);
    }
    ok = check_backward(c, &x, &in, &mask) && ok;
    free_data(&x);
    free_inputs(&in);
    return ok;
}

static void run_cases(const sc_case *cases, size_t n, uint64_t seed)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++) failed += !run_case(&cases[i], seed + i, false);
    assert_int_equal(failed, 0);
}
#define RUN(cases, seed) run_cases(cases, sizeof cases / sizeof cases[0], seed)

/* {T, Z, H, HK, M, N, D, kind, causal, named, defs, fwd_defs, q_defs, cap, range, BM, BN} */
static void test_alibi(void **state)
{
    (void)state;
    const sc_case cases[] = {
        {IR_F32, 1, 4, 2, 37, 37, 64, SCORE_ALIBI, true, "alibi", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 2, 2, 1, 23, 41, 64, SCORE_ALIBI, true, "alibi", 0, 0, 0, 0, 1, 16, 32, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 2, 41, 23, 64, SCORE_ALIBI, true, "alibi", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 1, 1, 1, 64, SCORE_ALIBI, true, "alibi", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 1, 1, 20, 64, SCORE_ALIBI, true, "alibi", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_BF16, 1, 4, 2, 33, 33, 64, SCORE_ALIBI, true, "alibi", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
    };
    RUN(cases, 100);
}

static void test_softcap(void **state)
{
    (void)state;
    const sc_case cases[] = {
        {IR_F32, 1, 2, 1, 29, 45, 64, SCORE_SOFTCAP, true, "softcap", 0, 0, 0, 50, 4, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 4, 4, 40, 23, 64, SCORE_SOFTCAP, true, "softcap", 0, 0, 0, 50, 4, 16, 32, 0, 0, 0, 0, 0, false},
        {IR_BF16, 1, 2, 2, 31, 31, 64, SCORE_SOFTCAP, true, "softcap", 0, 0, 0, 50, 4, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 2, 37, 29, 64, SCORE_SOFTCAP, false, NULL, "score=softcap(cap:1.0)", "",
         "", 1, 2, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 2, 4, 1, 19, 26, 64, SCORE_SOFTCAP, false, NULL, "score=softcap(cap:1.0)", "",
         "", 1, 2, 32, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 1, 30, 30, 64, SCORE_SOFTCAP, true, NULL,
         "score=softcap(cap:1.0),mask=causal", "kv_range=causal_range", "q_range=causal_q_range",
         1, 2, 16, 16, 0, 0, 0, 0, 0, false},
    };
    RUN(cases, 200);
}

static void test_rel_bias(void **state)
{
    (void)state;
    const sc_case cases[] = {
        {IR_F32, 1, 2, 2, 37, 29, 64, SCORE_REL_BIAS, false, "rel_bias", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 4, 2, 23, 41, 64, SCORE_REL_BIAS, false, "rel_bias", 0, 0, 0, 0, 1, 16, 32, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 1, 1, 1, 64, SCORE_REL_BIAS, false, "rel_bias", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 2, 2, 1, 7, 1, 64, SCORE_REL_BIAS, false, "rel_bias", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_BF16, 1, 4, 1, 30, 30, 64, SCORE_REL_BIAS, false, "rel_bias", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
    };
    RUN(cases, 300);
}

static void test_act(void **state)
{
    (void)state;
    const sc_case cases[] = {
        {IR_F32, 1, 4, 2, 37, 37, 64, SCORE_ACT, true, "act", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 1, 23, 41, 64, SCORE_ACT, true, "act", 0, 0, 0, 0, 1, 32, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 2, 41, 23, 64, SCORE_ACT, true, "act", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 2, 1, 1, 64, SCORE_ACT, true, "act", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_BF16, 2, 4, 2, 29, 29, 64, SCORE_ACT, true, "act", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
    };
    RUN(cases, 400);
}

/* Training the table: flash_bwd_dq also writes d(table) (compiler-derived
 * by accumulate_grad), checked against the reference's.  GRAD(T, Z, H, HK,
 * M, N, kind, causal, named, dq_named, grad tensor, file, buckets, max
 * distance, fd). */
#define GRAD(T, Z, H, HK, M, N, kind, causal, named, dq, grad, file, nb, md, fd)               \
    {T, Z, H, HK, M, N, 64, kind, causal, named, 0, 0, 0, 0, 1, 16, 16, grad, dq, file, nb, md, \
     fd}
#define T5S "../tests/scores/t5_small.tile"

static void test_rel_bias_grad(void **state)
{
    (void)state;
    const sc_case cases[] = {
        GRAD(IR_F32, 1, 2, 2, 37, 29, SCORE_REL_BIAS, false, "rel_bias", "rel_bias_grad", "dbias",
             0, 0, 0, false),
        GRAD(IR_F32, 2, 4, 2, 23, 41, SCORE_REL_BIAS, false, "rel_bias", "rel_bias_grad", "dbias",
             0, 0, 0, false),
        GRAD(IR_F32, 1, 2, 1, 1, 1, SCORE_REL_BIAS, false, "rel_bias", "rel_bias_grad", "dbias",
             0, 0, 0, false),
        GRAD(IR_F32, 2, 2, 1, 7, 1, SCORE_REL_BIAS, false, "rel_bias", "rel_bias_grad", "dbias",
             0, 0, 0, false),
        GRAD(IR_BF16, 1, 4, 1, 30, 30, SCORE_REL_BIAS, false, "rel_bias", "rel_bias_grad",
             "dbias", 0, 0, 0, false),
    };
    RUN(cases, 600);
}

/* ALiBi's slopes: one element per head, so the gradient is a sum over the
 * tile (accumulate_grad's one-element case). */
static void test_alibi_grad(void **state)
{
    (void)state;
    const sc_case cases[] = {
        GRAD(IR_F32, 1, 4, 2, 37, 37, SCORE_ALIBI, true, "alibi", "alibi_grad", "dslopes", 0, 0, 0,
             false),
        GRAD(IR_F32, 2, 2, 1, 23, 41, SCORE_ALIBI, true, "alibi", "alibi_grad", "dslopes", 0, 0, 0,
             false),
        GRAD(IR_F32, 1, 2, 2, 41, 23, SCORE_ALIBI, true, "alibi", "alibi_grad", "dslopes", 0, 0, 0,
             false),
        GRAD(IR_F32, 1, 2, 1, 1, 20, SCORE_ALIBI, true, "alibi", "alibi_grad", "dslopes", 0, 0, 0,
             false),
    };
    RUN(cases, 700);
}

/* T5's bucketed bias, forward and backward with d(bias): the library's
 * kernels (32 buckets, max_distance 128) and tests/scores/t5_small.tile's
 * (8 buckets and max_distance 12; causal 6 and 15), whose short distances
 * reach the log-spaced buckets and the clamp. */
static void test_t5(void **state)
{
    (void)state;
    const sc_case cases[] = {
        GRAD(IR_F32, 1, 2, 2, 37, 29, SCORE_T5, false, "t5", 0, "dbias", 0, 32, 128, false),
        GRAD(IR_F32, 2, 4, 2, 45, 33, SCORE_T5, false, "t5", 0, "dbias", 0, 32, 128, false),
        GRAD(IR_F32, 1, 4, 2, 41, 41, SCORE_T5_CAUSAL, true, "t5_causal", 0, "dbias", 0, 32, 128,
             false),
        GRAD(IR_F32, 1, 2, 1, 23, 40, SCORE_T5_CAUSAL, true, "t5_causal", 0, "dbias", 0, 32, 128,
             false),
        GRAD(IR_F32, 1, 2, 1, 29, 37, SCORE_T5, false, "t5s", 0, "dbias", T5S, 8, 12, false),
        GRAD(IR_F32, 2, 4, 2, 33, 21, SCORE_T5, false, "t5s", 0, "dbias", T5S, 8, 12, false),
        GRAD(IR_F32, 1, 2, 2, 1, 1, SCORE_T5, false, "t5s", 0, "dbias", T5S, 8, 12, false),
        GRAD(IR_F32, 1, 2, 2, 31, 31, SCORE_T5_CAUSAL, true, "t5s_causal", 0, "dbias", T5S, 6, 15,
             false),
        GRAD(IR_F32, 1, 2, 1, 19, 44, SCORE_T5_CAUSAL, true, "t5s_causal", 0, "dbias", T5S, 6, 15,
             false),
        GRAD(IR_BF16, 1, 4, 2, 33, 33, SCORE_T5, false, "t5s", 0, "dbias", T5S, 8, 12, false),
    };
    RUN(cases, 800);
}

/* The kernels' d(table) on tiny cases against central differences of the
 * reference forward's loss sum(dO o O) in double. */
static void test_table_grad_finite_differences(void **state)
{
    (void)state;
    const sc_case cases[] = {
        GRAD(IR_F32, 1, 2, 1, 5, 7, SCORE_REL_BIAS, false, "rel_bias", "rel_bias_grad", "dbias",
             0, 0, 0, true),
        GRAD(IR_F32, 1, 2, 2, 6, 9, SCORE_T5, false, "t5s", 0, "dbias", T5S, 8, 12, true),
        GRAD(IR_F32, 1, 2, 1, 9, 7, SCORE_T5_CAUSAL, true, "t5s_causal", 0, "dbias", T5S, 6, 15,
             true),
        GRAD(IR_F32, 1, 2, 1, 7, 5, SCORE_ALIBI, true, "alibi", "alibi_grad", "dslopes", 0, 0, 0,
             true),
    };
    RUN(cases, 900);
}

/* The reference's table gradient against its own finite differences, tight
 * (so a wrong reference cannot pass a wrong kernel). */
static void test_reference_table_grad(void **state)
{
    (void)state;
    const sc_case cases[] = {
        GRAD(IR_F32, 2, 2, 1, 6, 11, SCORE_REL_BIAS, false, 0, 0, 0, 0, 0, 0, true),
        GRAD(IR_F32, 1, 4, 2, 13, 13, SCORE_T5, false, 0, 0, 0, 0, 8, 12, true),
        GRAD(IR_F32, 1, 2, 1, 17, 15, SCORE_T5_CAUSAL, true, 0, 0, 0, 0, 6, 15, true),
        GRAD(IR_F32, 1, 2, 2, 9, 9, SCORE_ALIBI, true, 0, 0, 0, 0, 0, 0, true),
    };
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        const sc_case *c = &cases[n];
        th_rng rng = th_rng_new(1000 + n);
        sc_inputs in;
        sc_data x;
        make_inputs(c, &rng, &in);
        make_data(c, &rng, &x);
        attn_mask mask = {.kind = c->causal ? ATTN_MASK_CAUSAL : ATTN_MASK_FULL};
        long nt = score_ref_table_len(&in.mod, &x.d);
        double *fd = TH_NEW(double, (size_t)nt), *an = TH_NEW(double, (size_t)nt);
        fd_table_grad(&x, &in, &mask, fd);
        score_ref_table_grad(&x.d, x.q, x.k, x.v, x.dout, x.scale, &mask, &in.mod, an);
        double scale = 0;
        for (long e = 0; e < nt; e++) scale = fmax(scale, fabs(an[e]));
        assert_true(scale > 1e-3);   /* a gradient that is not all zeros */
        for (long e = 0; e < nt; e++) assert_true(fabs(fd[e] - an[e]) <= 1e-7 * fmax(1, scale));
        free(fd), free(an);
        free_data(&x);
        free_inputs(&in);
    }
}

/* T5's buckets: the reference against values worked out by hand from the
 * definition (mesh_tensorflow's _relative_position_bucket), then the
 * library's t5_bucket and t5_bucket_causal against the reference at every
 * relative position in [-(3 max_distance + 5), 3 max_distance + 5]. */
static void test_t5_bucket(void **state)
{
    (void)state;
    /* 32 buckets, max_distance 128 (T5's): {rp, bidirectional, causal}.
     * Bidirectional: 16 a side, 8 exact, then 8 + trunc(log(n/8)/log(16) 8);
     * causal: 16 exact, then 16 + trunc(log(n/16)/log(8) 16). */
    static const int hand[][3] = {
        {0, 0, 0},     {-1, 1, 1},    {1, 17, 0},    {-7, 7, 7},     {-8, 8, 8},
        {-15, 9, 15},  {-16, 10, 16}, {16, 26, 0},   {-31, 11, 21},  {-32, 12, 21},
        {-64, 14, 26}, {-127, 15, 31}, {-128, 15, 31}, {-1000, 15, 31}, {1000, 31, 0},
    };
    for (size_t n = 0; n < sizeof hand / sizeof hand[0]; n++) {
        assert_int_equal(score_ref_t5_bucket(hand[n][0], 32, 128, 1), hand[n][1]);
        assert_int_equal(score_ref_t5_bucket(hand[n][0], 32, 128, 0), hand[n][2]);
    }
    static const int configs[][2] = {{32, 128}, {8, 12}, {6, 15}, {16, 40}, {10, 33},
                                     {64, 256}, {32, 64}, {128, 1024}};
    for (size_t n = 0; n < sizeof configs / sizeof configs[0]; n++) {
        int nb = configs[n][0], md = configs[n][1];
        int L = 2 * (3 * md + 5) + 1;
        int32_t *rp = TH_NEW(int32_t, (size_t)L);
        float *bi = TH_NEW(float, (size_t)L), *ca = TH_NEW(float, (size_t)L);
        for (int e = 0; e < L; e++) rp[e] = e - (3 * md + 5);
        th_tensor trp = th_tensor_new(IR_I32, TH_DIMS(L), NULL);
        th_tensor tbi = th_tensor_new(IR_I32, TH_DIMS(L), NULL);
        th_tensor tca = th_tensor_new(IR_I32, TH_DIMS(L), NULL);
        th_tensor_set_i32(&trp, rp);
        th_kernel k;
        char def[64];
        snprintf(def, sizeof def, "NBK=%d,MD=%d", nb, md);
        assert_true(th_compile(&k, T5S, "t5_buckets", def));
        assert_true(th_launch(&k, (th_arg[]){TH_T("rp", &trp), TH_T("bi", &tbi),
                                             TH_T("ca", &tca)}, 3));
        th_tensor_get(&tbi, bi);
        th_tensor_get(&tca, ca);
        int bad = 0;
        for (int e = 0; e < L; e++) {
            int want_bi = score_ref_t5_bucket(rp[e], nb, md, 1);
            int want_ca = score_ref_t5_bucket(rp[e], nb, md, 0);
            if ((int)bi[e] != want_bi || (int)ca[e] != want_ca) {
                if (bad++ < 5)
                    fprintf(stderr, "t5 buckets %d/%d rp %d: got %d %d, want %d %d\n", nb, md,
                            rp[e], (int)bi[e], (int)ca[e], want_bi, want_ca);
            }
        }
        assert_int_equal(bad, 0);
        th_kernel_free(&k);
        th_tensor_free(&trp), th_tensor_free(&tbi), th_tensor_free(&tca);
        free(rp), free(bi), free(ca);
    }
}

/* Training order: the forward kernel's O and LSE feed the backward. */
static void test_after_kernel_forward(void **state)
{
    (void)state;
    const sc_case cases[] = {
        {IR_F32, 1, 4, 2, 41, 27, 64, SCORE_SOFTCAP, true, "softcap", 0, 0, 0, 50, 4, 16, 16, 0, 0, 0, 0, 0, false},
        {IR_F32, 1, 2, 1, 33, 33, 64, SCORE_ALIBI, true, "alibi", 0, 0, 0, 0, 1, 16, 16, 0, 0, 0, 0, 0, false},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        failed += !run_case(&cases[i], 500 + i, true);
    assert_int_equal(failed, 0);
}

/* The reference's own derivatives of the modifiers against central
 * differences of its modifiers (so a wrong hand-written score' shows). */
static void test_reference_derivatives(void **state)
{
    (void)state;
    th_rng rng = th_rng_new(77);
    sc_case c = {.H = 4, .N = 9, .M = 5};
    sc_inputs in;
    make_inputs(&c, &rng, &in);
    attn_dims d = {.Z = 1, .H = 4, .HK = 1, .M = 5, .N = 9, .D = 1};
    for (int kind = SCORE_IDENTITY; kind <= SCORE_ACT; kind++) {
        in.mod.kind = (score_kind)kind;
        in.mod.cap = 3.0;
        for (int t = 0; t < 200; t++) {
            int h = th_rng_int(&rng, 4), i = th_rng_int(&rng, 5), j = th_rng_int(&rng, 9);
            double s = 20 * th_rng_uniform(&rng) - 10, ds, dummy, eps = 1e-6;
            score_ref_apply(&in.mod, &d, h, i, j, s, &ds);
            double fd = (score_ref_apply(&in.mod, &d, h, i, j, s + eps, &dummy) -
                         score_ref_apply(&in.mod, &d, h, i, j, s - eps, &dummy)) / (2 * eps);
            assert_true(fabs(fd - ds) < 1e-6);
        }
    }
    free_inputs(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_derivatives),
        cmocka_unit_test(test_alibi),
        cmocka_unit_test(test_softcap),
        cmocka_unit_test(test_rel_bias),
        cmocka_unit_test(test_act),
        cmocka_unit_test(test_after_kernel_forward),
        cmocka_unit_test(test_t5_bucket),
        cmocka_unit_test(test_reference_table_grad),
        cmocka_unit_test(test_rel_bias_grad),
        cmocka_unit_test(test_alibi_grad),
        cmocka_unit_test(test_t5),
        cmocka_unit_test(test_table_grad_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
