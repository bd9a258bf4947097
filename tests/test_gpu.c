/* test_gpu.c - every library program on the GPU through tile.h, checked
 * against the CPU interpreter run through the same API on the same inputs.
 *
 * Each case compiles one kernel in a GPU context and in an interpreter
 * context, fills the inputs from a seeded generator (rounded to the
 * dtype), poisons every output (NaN / INT32_MIN) in both runs, launches,
 * and compares each output: |gpu - interp| <= rtol(dtype) * max(1, max
 * |interp|), infinities exactly, any NaN fails.  Cases cover every mask of
 * the library (full, causal, streaming, document, document-causal,
 * block-sparse), the backward kernels, paged decoding with its combine,
 * Lightning-2 and its chunk-parallel chain, odd lengths, M != N both ways,
 * length 1, GQA/MQA, f16, bf16 and f32, strided and misaligned arguments
 * (the general variant), and a failed assert on the device.  Also: the disk cache is used by a second
 * context and a corrupt entry is recompiled.
 *
 * Exits 77 (CTest: skipped) when there is no CUDA driver or device; never
 * passes without running.  With TILE_TEST_GPU_SELFTEST=1 the "GPU" side is
 * a second interpreter context instead (ctest's test_gpu_selftest, on
 * machines without a GPU): that checks the cases themselves (valid inputs,
 * every output written, arguments matching the kernels), not the device;
 * the device-only tests are then skipped.  TEST_GPU_FILTER=pattern runs the
 * matching tests only (bench/gpu_check.sh uses it under compute-sanitizer). */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "support/fp16.h"
#include "ref/rng.h"
#include "runtime/tile.h"

static tile_context *gpu, *cpu;
static bool selftest; /* TILE_TEST_GPU_SELFTEST=1: "gpu" is an interpreter */
static char cache_dir[64];

/* ---- one argument of a case ------------------------------------------------------ */
typedef enum { IN_RANDOM, IN_INTS, IN_FLOATS, OUT, SCALAR } gkind;

typedef struct garg {
    const char *name;
    gkind kind;
    tile_dtype dtype;
    int rank;
    int64_t shape[TILE_MAX_RANK];
    const void *data;      /* IN_INTS: int32_t[]; IN_FLOATS: float[] (logical row-major) */
    double value;          /* SCALAR */
    int swap;              /* 12: stored with dims 1 and 2 swapped (strided);
                              23: dims 2 and 3 (the last stride is not 1) */
    int offset;            /* elements before element 0 (misaligned if odd) */
    int ulps;              /* > 0: compare element by element within ulps units in
                              the last place of the dtype (exact zero signs; i32:
                              exactly), not rtol * the output's max (test_new_ops) */
    float *result;         /* OUT: the interpreter's output, logical order (malloc'd) */
    bool zeroed;           /* OUT: starts as zeros, not poison (a kernel adds to it) */
} garg;

#define SHAPE(...) .rank = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), .shape = {__VA_ARGS__}
#define GIN(n, dt, ...) ((garg){.name = (n), .kind = IN_RANDOM, .dtype = (dt), SHAPE(__VA_ARGS__)})
#define GOUT(n, dt, ...) ((garg){.name = (n), .kind = OUT, .dtype = (dt), SHAPE(__VA_ARGS__)})
#define GOUT_ZERO(n, dt, ...) \
    ((garg){.name = (n), .kind = OUT, .dtype = (dt), .zeroed = true, SHAPE(__VA_ARGS__)})
#define GINT(n, d, ...) ((garg){.name = (n), .kind = IN_INTS, .dtype = TILE_I32, .data = (d), SHAPE(__VA_ARGS__)})
#define GFLT(n, dt, d, ...) ((garg){.name = (n), .kind = IN_FLOATS, .dtype = (dt), .data = (d), SHAPE(__VA_ARGS__)})
#define GSCALAR(n, v) ((garg){.name = (n), .kind = SCALAR, .value = (v)})

static size_t numel(const garg *a)
{
    size_t n = 1;
    for (int i = 0; i < a->rank; i++) n *= (size_t)a->shape[i];
    return n;
}

static size_t esize(tile_dtype t) { return t == TILE_F16 || t == TILE_BF16 ? 2 : t == TILE_I64 ? 8 : t == TILE_BOOL ? 1 : 4; }

/* Strides of a's memory layout (contiguous, or dims 1 and 2 swapped). */
static void layout(const garg *a, int64_t *strides)
{
    int order[TILE_MAX_RANK];
    for (int i = 0; i < a->rank; i++) order[i] = i;
    if (a->swap == 12 && a->rank >= 3) order[1] = 2, order[2] = 1;
    if (a->swap == 23 && a->rank >= 4) order[2] = 3, order[3] = 2;
    int64_t s = 1;
    for (int i = a->rank - 1; i >= 0; i--) {
        strides[order[i]] = s;
        s *= a->shape[order[i]];
    }
}

/* Memory offset (elements) of logical row-major index `flat`. */
static size_t mem_index(const garg *a, const int64_t *strides, size_t flat)
{
    size_t off = 0;
    for (int i = a->rank - 1; i >= 0; i--) {
        off += (size_t)strides[i] * (flat % (size_t)a->shape[i]);
        flat /= (size_t)a->shape[i];
    }
    return off + (size_t)a->offset;
}

static void store_value(tile_dtype t, void *mem, size_t i, float x)
{
    if (t == TILE_BF16) ((uint16_t *)mem)[i] = fp_f32_to_bf16(x);
    else if (t == TILE_F16) ((uint16_t *)mem)[i] = fp_f32_to_f16(x);
    else if (t == TILE_F32) ((float *)mem)[i] = x;
    else ((int32_t *)mem)[i] = (int32_t)x;
}

static float load_value(tile_dtype t, const void *mem, size_t i)
{
    if (t == TILE_BF16) return fp_bf16_to_f32(((const uint16_t *)mem)[i]);
    if (t == TILE_F16) return fp_f16_to_f32(((const uint16_t *)mem)[i]);
    if (t == TILE_F32) return ((const float *)mem)[i];
    int32_t v = ((const int32_t *)mem)[i];
    return v == INT32_MIN ? NAN : (float)v;
}

/* The host image of a tensor argument: inputs filled, outputs poisoned. */
static void *host_image(const garg *a, th_rng *rng, size_t *bytes)
{
    int64_t strides[TILE_MAX_RANK];
    layout(a, strides);
    size_t n = numel(a), span = (size_t)a->offset + n;
    *bytes = span * esize(a->dtype);
    void *mem = TH_NEW(char, *bytes);
    for (size_t i = 0; i < span; i++) store_value(a->dtype, mem, i, NAN);
    if (a->dtype == TILE_I32)
        for (size_t i = 0; i < span; i++) ((int32_t *)mem)[i] = INT32_MIN;
    for (size_t i = 0; i < n && a->zeroed; i++) store_value(a->dtype, mem, mem_index(a, strides, i), 0);
    for (size_t i = 0; i < n && a->kind != OUT; i++) {
        size_t m = mem_index(a, strides, i);
        if (a->kind == IN_INTS) ((int32_t *)mem)[m] = ((const int32_t *)a->data)[i];
        else if (a->kind == IN_FLOATS) store_value(a->dtype, mem, m, ((const float *)a->data)[i]);
        else store_value(a->dtype, mem, m, (float)(th_rng_uniform(rng) * 2 - 1));
    }
    return mem;
}

static float *logical(const garg *a, const void *mem)
{
    int64_t strides[TILE_MAX_RANK];
    layout(a, strides);
    size_t n = numel(a);
    float *x = TH_NEW(float, n ? n : 1);
    for (size_t i = 0; i < n; i++) x[i] = load_value(a->dtype, mem, mem_index(a, strides, i));
    return x;
}

static double rtol(tile_dtype t) { return t == TILE_BF16 ? 2e-2 : t == TILE_F16 ? 1e-2 : 2e-3; }

/* One unit in the last place of w in dtype t (subnormals included). */
static double ulp_of(tile_dtype t, double w)
{
    int p = t == TILE_BF16 ? 8 : t == TILE_F16 ? 11 : 24;
    int emin = t == TILE_BF16 ? -125 : t == TILE_F16 ? -13 : -125;
    int e;
    frexp(w, &e);
    if (e < emin) e = emin;
    return ldexp(1.0, e - p);
}

/* The ulps comparison: NaN anywhere fails (the kernel maps computed NaNs
 * to a sentinel, so a NaN is an unwritten element), infinities and zeros
 * (with their signs) must match exactly. */
static bool elem_bad_ulps(const garg *a, float got, float want, double *err)
{
    if (isnan(want) || isnan(got)) return true;
    if (a->dtype == TILE_I32) return got != want;   /* integers: exact */
    if (isinf(want) || isinf(got) || want == 0) return got != want || signbit(got) != signbit(want);
    *err = fabs((double)got - want) / ulp_of(a->dtype, want);
    return *err > a->ulps;
}

/* Compares one output; prints the worst element on failure. */
static bool compare(const char *label, const garg *a, const float *got, const float *want)
{
    size_t n = numel(a), worst = 0, nbad = 0;
    double scale = 1, max_err = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) > scale) scale = fabs(want[i]);
    double tol = rtol(a->dtype) * scale;
    for (size_t i = 0; i < n; i++) {
        bool bad;
        double err = 0;
        if (a->ulps > 0) bad = elem_bad_ulps(a, got[i], want[i], &err);
        else if (isnan(want[i]) || isnan(got[i])) bad = true; /* an unwritten element stays NaN */
        else if (isinf(want[i]) || isinf(got[i])) bad = got[i] != want[i];
        else bad = (err = fabs((double)got[i] - want[i])) > tol;
        if (err > max_err) max_err = err;
        if (bad && nbad++ == 0) worst = i;
    }
    if (nbad)
        fprintf(stderr, "FAIL %s: %s: %zu of %zu elements off, first at %zu: gpu %.9g interp %.9g "
                "(tol %.2g%s, max_err %.2g)\n", label, a->name, nbad, n, worst, got[worst],
                want[worst], a->ulps > 0 ? (double)a->ulps : tol, a->ulps > 0 ? " ulps" : "", max_err);
    return nbad == 0;
}

/* ---- one case ------------------------------------------------------------------- */
static tile_kernel *compile(tile_context *ctx, const char *file, const char *kernel,
                            const char *defines)
{
    tile_kernel *k = NULL;
    if (tile_compile_file(ctx, file, kernel, defines, &k) != TILE_OK)
        fprintf(stderr, "FAIL compiling %s %s [%s] for %s:\n%s\n", file, kernel, defines,
                ctx == gpu ? "the GPU" : "the interpreter", tile_last_error());
    return k;
}

/* Runs kernel on both, compares every output; outputs' interpreter results
 * go to args[i].result for chaining.  Returns false on any failure. */
static bool run_case(const char *label, const char *file, const char *kernel,
                     const char *defines, garg *args, int nargs, uint64_t seed)
{
    tile_kernel *kg = compile(gpu, file, kernel, defines), *kc = compile(cpu, file, kernel, defines);
    bool ok = kg && kc && tile_kernel_nparams(kg) == nargs;
    if (kg && kc && !ok) fprintf(stderr, "FAIL %s: kernel has %d parameters, case gives %d\n",
                                 label, tile_kernel_nparams(kg), nargs);
    tile_arg targs_g[16], targs_c[16];
    void *host[16] = {0}, *dev[16] = {0}, *cmem[16] = {0};
    size_t bytes[16] = {0};
    th_rng rng = th_rng_new(seed);
    for (int p = 0; ok && p < nargs; p++) {
        tile_param_info info;
        tile_kernel_param(kg, p, &info);
        garg *a = NULL;
        for (int i = 0; i < nargs; i++)
            if (strcmp(args[i].name, info.name) == 0) a = &args[i];
        if (!a || (a->kind == SCALAR) == (bool)info.is_tensor || (a->kind == OUT) != (bool)info.is_out) {
            fprintf(stderr, "FAIL %s: no matching argument for parameter '%s'\n", label, info.name);
            ok = false;
            break;
        }
        int i = (int)(a - args);
        if (a->kind == SCALAR) {
            targs_g[p] = targs_c[p] = info.dtype == TILE_F32 || info.dtype == TILE_F16 || info.dtype == TILE_BF16
                                          ? tile_scalar_float(info.dtype, a->value)
                                          : tile_scalar_int(info.dtype, (int64_t)a->value);
            continue;
        }
        host[i] = host_image(a, &rng, &bytes[i]);
        cmem[i] = TH_NEW(char, bytes[i]);
        memcpy(cmem[i], host[i], bytes[i]);
        ok = tile_alloc(gpu, bytes[i], &dev[i]) == TILE_OK &&
             tile_upload(gpu, dev[i], host[i], bytes[i]) == TILE_OK;
        int64_t strides[TILE_MAX_RANK];
        layout(a, strides);
        size_t off = (size_t)a->offset * esize(a->dtype);
        targs_g[p] = tile_tensor(a->dtype, (char *)dev[i] + off, a->rank, a->shape, strides);
        targs_c[p] = tile_tensor(a->dtype, (char *)cmem[i] + off, a->rank, a->shape, strides);
    }
    if (ok && tile_launch(kc, targs_c, nargs, NULL) != TILE_OK) {
        fprintf(stderr, "FAIL %s: interpreter: %s\n", label, tile_last_error());
        ok = false;
    }
    if (ok && (tile_launch(kg, targs_g, nargs, NULL) != TILE_OK || tile_sync(gpu, NULL) != TILE_OK)) {
        fprintf(stderr, "FAIL %s: GPU: %s\n", label, tile_last_error());
        ok = false;
    }
    for (int i = 0; ok && i < nargs; i++) {
        if (args[i].kind != OUT) continue;
        ok = tile_download(gpu, host[i], dev[i], bytes[i]) == TILE_OK;
        float *got = logical(&args[i], host[i]);
        free(args[i].result);
        args[i].result = logical(&args[i], cmem[i]);
        ok = ok && compare(label, &args[i], got, args[i].result);
        free(got);
    }
    for (int i = 0; i < nargs; i++) {
        free(host[i]);
        free(cmem[i]);
        if (dev[i]) tile_free(gpu, dev[i]);
    }
    tile_kernel_free(kg);
    tile_kernel_free(kc);
    if (ok && getenv("TH_VERBOSE")) fprintf(stderr, "ok %s\n", label);
    return ok;
}

static void free_results(garg *args, int n)
{
    for (int i = 0; i < n; i++) free(args[i].result), args[i].result = NULL;
}

/* ---- attention forward -------------------------------------------------------------- */
typedef struct fwd_case {
    const char *kernel;
    tile_dtype T;
    int Z, H, HK, M, N, D;
    bool strided_q, misaligned_k;
    bool transposed_v;   /* v stored [Z, HK, D, N]: last stride != 1 */
    const char *extra;   /* more defines */
} fwd_case;

static const char *dtname(tile_dtype t) { return t == TILE_BF16 ? "bf16" : t == TILE_F16 ? "f16" : "f32"; }

static bool run_fwd(const fwd_case *c, uint64_t seed)
{
    char label[256], defines[128];
    snprintf(defines, sizeof defines, "D=%d,T=%s%s%s", c->D, dtname(c->T), c->extra ? "," : "",
             c->extra ? c->extra : "");
    snprintf(label, sizeof label, "%s %s Z=%d H=%d HK=%d M=%d N=%d D=%d%s%s%s", c->kernel,
             dtname(c->T), c->Z, c->H, c->HK, c->M, c->N, c->D, c->strided_q ? " strided-q" : "",
             c->misaligned_k ? " misaligned-k" : "", c->transposed_v ? " transposed-v" : "");
    bool doc = strstr(c->kernel, "document") != NULL;
    int32_t *docs = TH_NEW(int32_t, (size_t)c->Z * c->N);
    for (int z = 0; z < c->Z; z++)   /* three documents of uneven length per batch */
        for (int p = 0; p < c->N; p++) docs[z * c->N + p] = p < c->N / 5 ? 0 : p < c->N / 2 + z ? 1 : 2;
    garg args[7] = {
        GIN("q", c->T, c->Z, c->H, c->M, c->D), GIN("k", c->T, c->Z, c->HK, c->N, c->D),
        GIN("v", c->T, c->Z, c->HK, c->N, c->D), GOUT("o", c->T, c->Z, c->H, c->M, c->D),
        GOUT("lse", TILE_F32, c->Z, c->H, c->M), GSCALAR("scale", 1 / sqrt(c->D)),
        GINT("doc", docs, c->Z, c->N),
    };
    args[0].swap = c->strided_q ? 12 : 0;
    args[1].offset = c->misaligned_k;
    args[2].swap = c->transposed_v ? 23 : 0;
    bool ok = run_case(label, "attention/flash_fwd.tile", c->kernel, defines, args, doc ? 7 : 6, seed);
    free_results(args, 7);
    free(docs);
    return ok;
}

static void test_flash_fwd(void **state)
{
    (void)state;
    static const fwd_case cases[] = {
        {"flash_fwd", TILE_BF16, 2, 4, 4, 77, 131, 64, false, false, false, NULL},
        {"flash_fwd", TILE_BF16, 1, 2, 2, 256, 256, 128, false, false, false, NULL},
        {"flash_fwd_causal", TILE_BF16, 1, 4, 2, 131, 77, 64, false, false, false, NULL},    /* GQA, M > N */
        {"flash_fwd_causal", TILE_BF16, 1, 4, 2, 77, 131, 64, false, false, false, NULL},    /* M < N */
        {"flash_fwd_causal", TILE_F16, 1, 4, 1, 128, 128, 128, false, false, false, NULL},   /* MQA */
        {"flash_fwd_causal", TILE_BF16, 1, 2, 1, 1, 1, 64, false, false, false, NULL},       /* length 1 */
        {"flash_fwd", TILE_F32, 1, 2, 2, 33, 65, 40, false, false, false, NULL},
        {"flash_fwd", TILE_BF16, 1, 2, 2, 50, 50, 80, false, false, false, NULL},
        {"flash_fwd", TILE_BF16, 1, 1, 1, 40, 40, 96, false, false, false, NULL},
        {"flash_fwd_streaming", TILE_BF16, 1, 2, 1, 64, 1100, 64, false, false, false, NULL},
        {"flash_fwd_document", TILE_BF16, 2, 2, 2, 97, 97, 64, false, false, false, NULL},
        {"flash_fwd_document_causal", TILE_BF16, 2, 2, 1, 50, 97, 64, false, false, false, NULL},
        {"flash_fwd_causal", TILE_BF16, 1, 2, 2, 70, 70, 64, true, true, false, NULL}, /* general variant */
        {"flash_fwd_causal", TILE_BF16, 1, 2, 1, 70, 85, 64, false, false, true, NULL},
        {"flash_fwd", TILE_F16, 1, 2, 2, 70, 90, 64, false, true, true, NULL},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) failed += !run_fwd(&cases[i], 100 + i);
    assert_int_equal(failed, 0);
}

/* ---- attention backward: o, lse from the interpreter's forward ---------------------------- */
static bool run_bwd(bool causal, tile_dtype T, int Z, int H, int HK, int M, int N, int D, uint64_t seed)
{
    char defines[64], label[160];
    snprintf(defines, sizeof defines, "D=%d,T=%s", D, dtname(T));
    th_rng rng = th_rng_new(seed);
    size_t nq = (size_t)Z * H * M * D, nk = (size_t)Z * HK * N * D;
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nk), *dout = TH_NEW(float, nq);
    th_fill(&rng, q, nq, -1, 1, (ir_dtype)T);
    th_fill(&rng, k, nk, -1, 1, (ir_dtype)T);
    th_fill(&rng, v, nk, -1, 1, (ir_dtype)T);
    th_fill(&rng, dout, nq, -1, 1, (ir_dtype)T);
    double scale = 1 / sqrt(D);
    garg fwd[6] = {GFLT("q", T, q, Z, H, M, D), GFLT("k", T, k, Z, HK, N, D), GFLT("v", T, v, Z, HK, N, D),
                   GOUT("o", T, Z, H, M, D), GOUT("lse", TILE_F32, Z, H, M), GSCALAR("scale", scale)};
    snprintf(label, sizeof label, "flash_bwd forward %s %s Z=%d H=%d HK=%d M=%d N=%d D=%d",
             causal ? "causal" : "full", dtname(T), Z, H, HK, M, N, D);
    bool ok = run_case(label, "attention/flash_fwd.tile", causal ? "flash_fwd_causal" : "flash_fwd",
                       defines, fwd, 6, seed);
    garg pre[3] = {GFLT("o", T, fwd[3].result, Z, H, M, D), GFLT("dout", T, dout, Z, H, M, D),
                   GOUT("delta", TILE_F32, Z, H, M)};
    snprintf(label, sizeof label, "flash_bwd_preprocess %s Z=%d H=%d M=%d D=%d", dtname(T), Z, H, M, D);
    ok = ok && run_case(label, "attention/flash_bwd.tile", "flash_bwd_preprocess", defines, pre, 3, seed);
    garg dkdv[9] = {GFLT("q", T, q, Z, H, M, D), GFLT("k", T, k, Z, HK, N, D), GFLT("v", T, v, Z, HK, N, D),
                    GFLT("dout", T, dout, Z, H, M, D), GFLT("lse", TILE_F32, fwd[4].result, Z, H, M),
                    GFLT("delta", TILE_F32, pre[2].result, Z, H, M), GOUT("dk", T, Z, HK, N, D),
                    GOUT("dv", T, Z, HK, N, D), GSCALAR("scale", scale)};
    snprintf(label, sizeof label, "flash_bwd_dkdv%s %s Z=%d H=%d HK=%d M=%d N=%d D=%d",
             causal ? "_causal" : "", dtname(T), Z, H, HK, M, N, D);
    ok = ok && run_case(label, "attention/flash_bwd.tile", causal ? "flash_bwd_dkdv_causal" : "flash_bwd_dkdv",
                        defines, dkdv, 9, seed);
    garg dq[8] = {dkdv[0], dkdv[1], dkdv[2], dkdv[3], dkdv[4], dkdv[5], GOUT("dq", T, Z, H, M, D),
                  GSCALAR("scale", scale)};
    dq[0].result = dq[1].result = dq[2].result = dq[3].result = dq[4].result = dq[5].result = NULL;
    snprintf(label, sizeof label, "flash_bwd_dq%s %s Z=%d H=%d HK=%d M=%d N=%d D=%d",
             causal ? "_causal" : "", dtname(T), Z, H, HK, M, N, D);
    ok = ok && run_case(label, "attention/flash_bwd.tile", causal ? "flash_bwd_dq_causal" : "flash_bwd_dq",
                        defines, dq, 8, seed);
    free_results(fwd, 6), free_results(pre, 3), free_results(dkdv, 9), free_results(dq, 8);
    free(q), free(k), free(v), free(dout);
    return ok;
}

static void test_flash_bwd(void **state)
{
    (void)state;
    int failed = 0;
    failed += !run_bwd(false, TILE_BF16, 1, 4, 2, 67, 93, 64, 1);
    failed += !run_bwd(true, TILE_BF16, 1, 4, 2, 93, 67, 64, 2);
    failed += !run_bwd(true, TILE_F16, 2, 2, 1, 64, 64, 128, 3);
    failed += !run_bwd(false, TILE_F32, 1, 2, 2, 33, 47, 32, 4);
    assert_int_equal(failed, 0);
}

/* ---- paged decoding ---------------------------------------------------------------- */
static bool run_decode(tile_dtype T, int Z, int H, int HK, int D, int PS, int S, uint64_t seed)
{
    enum { MAXP = 5 };
    int P = Z * MAXP + 1;
    char defines[64], label[160];
    snprintf(defines, sizeof defines, "D=%d,T=%s,PS=%d,S=%d", D, dtname(T), PS, S);
    int32_t *table = TH_NEW(int32_t, (size_t)Z * MAXP), *lens = TH_NEW(int32_t, (size_t)Z);
    int32_t *perm = TH_NEW(int32_t, (size_t)P);
    th_rng rng = th_rng_new(seed);
    for (int i = 0; i < P; i++) perm[i] = i;
    th_rng_shuffle(&rng, perm, P);
    for (int i = 0; i < Z * MAXP; i++) table[i] = perm[i];
    for (int z = 0; z < Z; z++) lens[z] = z == 0 ? 0 : z == 1 ? 1 : th_rng_int(&rng, MAXP * PS + 1);
    garg split[9] = {GIN("q", T, Z, H, D), GIN("k_cache", T, P, PS, HK, D), GIN("v_cache", T, P, PS, HK, D),
                     GINT("block_table", table, Z, MAXP), GINT("seq_lens", lens, Z),
                     GOUT("o_part", TILE_F32, Z, H, S, D), GOUT("lse_part", TILE_F32, Z, H, S),
                     GSCALAR("scale", 1 / sqrt(D))};
    snprintf(label, sizeof label, "decode_split %s Z=%d H=%d HK=%d D=%d PS=%d S=%d", dtname(T), Z, H, HK, D, PS, S);
    bool ok = run_case(label, "attention/decode.tile", "decode_split", defines, split, 8, seed);
    garg comb[4] = {GFLT("o_part", TILE_F32, split[5].result, Z, H, S, D),
                    GFLT("lse_part", TILE_F32, split[6].result, Z, H, S), GOUT("o", T, Z, H, D),
                    GOUT("lse", TILE_F32, Z, H)};
    snprintf(label, sizeof label, "decode_combine %s Z=%d H=%d D=%d S=%d", dtname(T), Z, H, D, S);
    ok = ok && run_case(label, "attention/decode.tile", "decode_combine", defines, comb, 4, seed);
    free_results(split, 8), free_results(comb, 4);
    free(table), free(lens), free(perm);
    return ok;
}

/* decode_gqa (one program per key/value head; S is the partials' shape) and
 * decode_merge (any S; BS = 2 loops over the splits). */
static bool run_decode_gqa(tile_dtype T, int Z, int H, int HK, int D, int PS, int S, int BN, uint64_t seed)
{
    enum { MAXP = 5 };
    int P = Z * MAXP + 1;
    char defines[64], label[160];
    snprintf(defines, sizeof defines, "D=%d,T=%s,G=%d,PS=%d,BN=%d", D, dtname(T), H / HK, PS, BN);
    int32_t *table = TH_NEW(int32_t, (size_t)Z * MAXP), *lens = TH_NEW(int32_t, (size_t)Z);
    int32_t *perm = TH_NEW(int32_t, (size_t)P);
    th_rng rng = th_rng_new(seed);
    for (int i = 0; i < P; i++) perm[i] = i;
    th_rng_shuffle(&rng, perm, P);
    for (int i = 0; i < Z * MAXP; i++) table[i] = perm[i];
    for (int z = 0; z < Z; z++) lens[z] = z == 0 ? 0 : z == 1 ? 1 : th_rng_int(&rng, MAXP * PS + 1);
    garg split[8] = {GIN("q", T, Z, H, D), GIN("k_slots", T, P * PS, HK, D), GIN("v_slots", T, P * PS, HK, D),
                     GINT("block_table", table, Z, MAXP), GINT("seq_lens", lens, Z),
                     GOUT("o_part", TILE_F32, Z, H, S, D), GOUT("lse_part", TILE_F32, Z, H, S),
                     GSCALAR("scale", 1 / sqrt(D))};
    snprintf(label, sizeof label, "decode_gqa %s Z=%d H=%d HK=%d D=%d PS=%d S=%d", dtname(T), Z, H, HK, D, PS, S);
    bool ok = run_case(label, "attention/decode.tile", "decode_gqa", defines, split, 8, seed);
    garg comb[4] = {GFLT("o_part", TILE_F32, split[5].result, Z, H, S, D),
                    GFLT("lse_part", TILE_F32, split[6].result, Z, H, S), GOUT("o", T, Z, H, D),
                    GOUT("lse", TILE_F32, Z, H)};
    snprintf(label, sizeof label, "decode_merge %s Z=%d H=%d D=%d S=%d", dtname(T), Z, H, D, S);
    snprintf(defines, sizeof defines, "D=%d,T=%s,BS=2", D, dtname(T));
    ok = ok && run_case(label, "attention/decode.tile", "decode_merge", defines, comb, 4, seed);
    free_results(split, 8), free_results(comb, 4);
    free(table), free(lens), free(perm);
    return ok;
}

static void test_decode(void **state)
{
    (void)state;
    int failed = 0;
    failed += !run_decode(TILE_BF16, 5, 8, 2, 64, 16, 3, 11);
    failed += !run_decode(TILE_F16, 4, 4, 4, 128, 32, 2, 12);
    failed += !run_decode(TILE_BF16, 3, 8, 1, 128, 16, 4, 13);
    failed += !run_decode_gqa(TILE_BF16, 5, 8, 2, 128, 16, 3, 64, 14);    /* G = 4 */
    failed += !run_decode_gqa(TILE_BF16, 3, 4, 4, 128, 16, 2, 64, 15);    /* G = 1 */
    failed += !run_decode_gqa(TILE_F16, 3, 8, 1, 64, 16, 5, 32, 16);      /* MQA, G = 8 */
    failed += !run_decode_gqa(TILE_F32, 2, 4, 2, 64, 8, 3, 16, 17);
    assert_int_equal(failed, 0);
}

/* ---- Lightning-2 and block-sparse ------------------------------------------------------ */
/* Random q, k ([.., D]) and v ([.., E]) in T's precision, nqk and nv elements. */
static void lightning_inputs(tile_dtype T, size_t nqk, size_t nv, uint64_t seed, float **q, float **k, float **v)
{
    th_rng rng = th_rng_new(seed);
    *q = TH_NEW(float, nqk), *k = TH_NEW(float, nqk), *v = TH_NEW(float, nv);
    th_fill(&rng, *q, nqk, -1, 1, (ir_dtype)T);
    th_fill(&rng, *k, nqk, -1, 1, (ir_dtype)T);
    th_fill(&rng, *v, nv, -1, 1, (ir_dtype)T);
}

/* The chunk-parallel chain: each step's GPU output against the interpreter's,
 * the next step fed the interpreter's (CH = 32: B <= 32; NC = 10 chunks, 3
 * scan groups of U = 4; E = 96 leaves a partial column tile at BE = 64). */
static bool run_lightning_chain(tile_dtype T, int Z, int H, int N, int D, int E, uint64_t seed)
{
    enum { CH = 32, U = 4 };
    int NC = (N + CH - 1) / CH;
    char defines[96], scan_defines[64], label[160];
    snprintf(defines, sizeof defines, "D=%d,E=%d,T=%s,CH=%d", D, E, dtname(T), CH);
    snprintf(scan_defines, sizeof scan_defines, "D=%d,E=%d,CH=%d,U=%d", D, E, CH, U);
    float *q, *k, *v;
    lightning_inputs(T, (size_t)Z * H * N * D, (size_t)Z * H * N * E, seed, &q, &k, &v);
    float decay[4] = {0.97f, 1.0f, 0.5f, 0.9f};
    garg st[4] = {GFLT("k", T, k, Z, H, N, D), GFLT("v", T, v, Z, H, N, E), GFLT("decay", TILE_F32, decay, H),
                  GOUT("kv_chunk", TILE_F32, Z, H, NC, D, E)};
    snprintf(label, sizeof label, "lightning2_chunk_state %s Z=%d H=%d N=%d D=%d E=%d", dtname(T), Z, H, N, D, E);
    bool ok = run_case(label, "attention/lightning2.tile", "lightning2_chunk_state", defines, st, 4, seed);
    garg scan[3] = {GFLT("kv_chunk", TILE_F32, st[3].result, Z, H, NC, D, E),
                    GFLT("decay", TILE_F32, decay, H), GOUT("kv_in", TILE_F32, Z, H, NC, D, E)};
    snprintf(label, sizeof label, "lightning2_state_scan Z=%d H=%d NC=%d D=%d E=%d", Z, H, NC, D, E);
    ok = ok && run_case(label, "attention/lightning2.tile", "lightning2_state_scan", scan_defines, scan, 3, seed);
    garg out[6] = {GFLT("q", T, q, Z, H, N, D), GFLT("k", T, k, Z, H, N, D), GFLT("v", T, v, Z, H, N, E),
                   GFLT("decay", TILE_F32, decay, H), GFLT("kv_in", TILE_F32, scan[2].result, Z, H, NC, D, E),
                   GOUT("o", T, Z, H, N, E)};
    snprintf(label, sizeof label, "lightning2_chunk_out %s Z=%d H=%d N=%d D=%d E=%d", dtname(T), Z, H, N, D, E);
    ok = ok && run_case(label, "attention/lightning2.tile", "lightning2_chunk_out", defines, out, 6, seed);
    free_results(st, 4), free_results(scan, 3), free_results(out, 6);
    free(q), free(k), free(v);
    return ok;
}

/* The block-state chain: block_states' GPU states against the interpreter's,
 * then block_out fed the interpreter's states (B = 32: NB = 10 blocks with a
 * partial last one; D = 80 leaves a partial row tile at BD = 64, E = 96 a
 * partial column tile at BE = 64; the states' v tile staged through shared
 * memory and read back into registers to take its decay). */
static bool run_lightning_blocks(tile_dtype T, int Z, int H, int N, int D, int E, const char *tiles,
                                 uint64_t seed)
{
    enum { B = 32 };
    int NB = (N + B - 1) / B;
    char defines[128], label[192];
    snprintf(defines, sizeof defines, "D=%d,E=%d,T=%s,B=%d%s", D, E, dtname(T), B, tiles);
    float *q, *k, *v;
    lightning_inputs(T, (size_t)Z * H * N * D, (size_t)Z * H * N * E, seed, &q, &k, &v);
    float decay[4] = {0.97f, 1.0f, 0.5f, 0.9f};
    garg st[4] = {GFLT("k", T, k, Z, H, N, D), GFLT("v", T, v, Z, H, N, E), GFLT("decay", TILE_F32, decay, H),
                  GOUT("h_in", T, Z, H, NB, D, E)};
    snprintf(label, sizeof label, "lightning2_block_states %s Z=%d H=%d N=%d D=%d E=%d%s", dtname(T), Z, H, N, D,
             E, tiles);
    bool ok = run_case(label, "attention/lightning2.tile", "lightning2_block_states", defines, st, 4, seed);
    /* block_out takes no BD */
    snprintf(defines, sizeof defines, "D=%d,E=%d,T=%s,B=%d", D, E, dtname(T), B);
    garg out[6] = {GFLT("q", T, q, Z, H, N, D), GFLT("k", T, k, Z, H, N, D), GFLT("v", T, v, Z, H, N, E),
                   GFLT("decay", TILE_F32, decay, H), GFLT("h_in", T, st[3].result, Z, H, NB, D, E),
                   GOUT("o", T, Z, H, N, E)};
    snprintf(label, sizeof label, "lightning2_block_out %s Z=%d H=%d N=%d D=%d E=%d", dtname(T), Z, H, N, D, E);
    ok = ok && run_case(label, "attention/lightning2.tile", "lightning2_block_out", defines, out, 6, seed);
    free_results(st, 4), free_results(out, 6);
    free(q), free(k), free(v);
    return ok;
}

static void test_lightning2(void **state)
{
    (void)state;
    struct { tile_dtype T; int Z, H, N, D, E; } cases[] = {
        {TILE_BF16, 1, 2, 131, 32, 48}, {TILE_F16, 2, 2, 64, 64, 64}, {TILE_F32, 1, 1, 37, 16, 16}};
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char defines[64], label[128];
        snprintf(defines, sizeof defines, "D=%d,E=%d,T=%s", cases[i].D, cases[i].E, dtname(cases[i].T));
        snprintf(label, sizeof label, "lightning2 %s Z=%d H=%d N=%d D=%d E=%d", dtname(cases[i].T),
                 cases[i].Z, cases[i].H, cases[i].N, cases[i].D, cases[i].E);
        float decay[4] = {0.97f, 1.0f, 0.9f, 0.5f};
        int Z = cases[i].Z, H = cases[i].H, N = cases[i].N;
        garg args[5] = {GIN("q", cases[i].T, Z, H, N, cases[i].D), GIN("k", cases[i].T, Z, H, N, cases[i].D),
                        GIN("v", cases[i].T, Z, H, N, cases[i].E), GFLT("decay", TILE_F32, decay, H),
                        GOUT("o", cases[i].T, Z, H, N, cases[i].E)};
        failed += !run_case(label, "attention/lightning2.tile", "lightning2", defines, args, 5, 20 + i);
        free_results(args, 5);
    }
    failed += !run_lightning_chain(TILE_BF16, 1, 3, 300, 64, 96, 24);
    failed += !run_lightning_blocks(TILE_BF16, 1, 3, 300, 80, 96, ",BD=64,BE=64", 25);
    failed += !run_lightning_blocks(TILE_BF16, 2, 2, 257, 128, 128, "", 26);     /* the scheduler's BD, BE */
    failed += !run_lightning_blocks(TILE_F16, 1, 2, 100, 64, 64, ",BD=64,BE=32", 27);
    assert_int_equal(failed, 0);
}

static void test_block_sparse(void **state)
{
    (void)state;
    enum { Z = 1, H = 2, HK = 1, M = 100, N = 130, D = 64, BM = 32, BN = 32, MAXB = 3 };
    enum { MB = (M + BM - 1) / BM, NB = (N + BN - 1) / BN };
    int32_t idx[Z * H * MB * MAXB], cnt[Z * H * MB];
    th_rng rng = th_rng_new(30);
    for (int r = 0; r < Z * H * MB; r++) {
        int32_t blocks[NB];
        for (int b = 0; b < NB; b++) blocks[b] = b;
        th_rng_shuffle(&rng, blocks, NB);
        cnt[r] = r == 1 ? 0 : th_rng_int(&rng, MAXB + 1);
        for (int j = 0; j < MAXB; j++) idx[r * MAXB + j] = blocks[j];
    }
    int failed = 0;
    const char *kernels[] = {"block_sparse_fwd", "block_sparse_fwd_causal"};
    for (int c = 0; c < 2; c++) {
        garg args[8] = {GIN("q", TILE_BF16, Z, H, M, D), GIN("k", TILE_BF16, Z, HK, N, D),
                        GIN("v", TILE_BF16, Z, HK, N, D), GINT("kv_idx", idx, Z, H, MB, MAXB),
                        GINT("kv_cnt", cnt, Z, H, MB), GOUT("o", TILE_BF16, Z, H, M, D),
                        GOUT("lse", TILE_F32, Z, H, M), GSCALAR("scale", 0.125)};
        char label[96];
        snprintf(label, sizeof label, "%s bf16 M=%d N=%d BM=BN=32", kernels[c], M, N);
        failed += !run_case(label, "attention/block_sparse.tile", kernels[c], "D=64,T=bf16,BM=32,BN=32",
                            args, 8, 31 + c);
        free_results(args, 8);
    }
    assert_int_equal(failed, 0);
}

/* ---- the programs added with issue 5 ------------------------------------------------ */
/* Flash-style signature (q, k, v, o, lse, scale) kernels: based_window,
 * s2_fwd, sqa_fwd(_causal). */
static bool run_flashlike(const char *file, const char *kernel, const char *extra, tile_dtype T, int Z,
                          int H, int HK, int M, int N, int D, uint64_t seed)
{
    char defines[128], label[192];
    snprintf(defines, sizeof defines, "D=%d,T=%s%s%s", D, dtname(T), *extra ? "," : "", extra);
    snprintf(label, sizeof label, "%s %s Z=%d H=%d HK=%d M=%d N=%d [%s]", kernel, dtname(T), Z, H, HK, M, N, defines);
    garg args[6] = {GIN("q", T, Z, H, M, D), GIN("k", T, Z, HK, N, D), GIN("v", T, Z, HK, N, D),
                    GOUT("o", T, Z, H, M, D), GOUT("lse", TILE_F32, Z, H, M), GSCALAR("scale", 1 / sqrt(D))};
    bool ok = run_case(label, file, kernel, defines, args, 6, seed);
    free_results(args, 6);
    return ok;
}

static bool run_aaren(tile_dtype T, int Z, int H, int N, int D, int E, uint64_t seed)
{
    char defines[64], label[128];
    snprintf(defines, sizeof defines, "D=%d,E=%d,T=%s", D, E, dtname(T));
    snprintf(label, sizeof label, "aaren_fwd %s Z=%d H=%d N=%d D=%d E=%d", dtname(T), Z, H, N, D, E);
    garg args[4] = {GIN("q", T, H, D), GIN("k", T, Z, H, N, D), GIN("v", T, Z, H, N, E), GOUT("o", T, Z, H, N, E)};
    bool ok = run_case(label, "attention/aaren.tile", "aaren_fwd", defines, args, 4, seed);
    free_results(args, 4);
    return ok;
}

static bool run_based(tile_dtype T, int Z, int H, int HK, int N, int E, uint64_t seed)
{
    enum { F = 16 };
    char defines[64], label[128];
    snprintf(defines, sizeof defines, "E=%d,T=%s", E, dtname(T));
    snprintf(label, sizeof label, "based_fwd %s Z=%d H=%d HK=%d N=%d E=%d", dtname(T), Z, H, HK, N, E);
    garg args[4] = {GIN("q", T, Z, H, N, F), GIN("k", T, Z, HK, N, F), GIN("v", T, Z, HK, N, E),
                    GOUT("o", T, Z, H, N, E)};
    bool ok = run_case(label, "attention/based.tile", "based_fwd", defines, args, 4, seed);
    free_results(args, 4);
    return ok;
}

/* BASED's chunk-parallel chain, each step against the interpreter, the next
 * step fed the interpreter's (CH = 32, NC = 4 chunks, U = 8: one partial
 * scan group). */
static bool run_based_chain(tile_dtype T, int Z, int H, int HK, int N, int E, uint64_t seed)
{
    enum { F = 16, P = 1 + F + F * F, CH = 32 };
    int NC = (N + CH - 1) / CH;
    char defines[64], scan_defines[32], label[160];
    snprintf(defines, sizeof defines, "E=%d,T=%s,CH=%d", E, dtname(T), CH);
    snprintf(scan_defines, sizeof scan_defines, "E=%d", E);
    th_rng rng = th_rng_new(seed);
    size_t nq = (size_t)Z * H * N * F, nk = (size_t)Z * HK * N * F, nv = (size_t)Z * HK * N * E;
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nv);
    th_fill(&rng, q, nq, -0.5, 0.5, (ir_dtype)T);
    th_fill(&rng, k, nk, -0.5, 0.5, (ir_dtype)T);
    th_fill(&rng, v, nv, -1, 1, (ir_dtype)T);
    garg st[4] = {GFLT("k", T, k, Z, HK, N, F), GFLT("v", T, v, Z, HK, N, E),
                  GOUT("kv_chunk", TILE_F32, Z, HK, NC, P, E), GOUT("ksum_chunk", TILE_F32, Z, HK, NC, P)};
    snprintf(label, sizeof label, "based_chunk_state %s Z=%d HK=%d N=%d E=%d", dtname(T), Z, HK, N, E);
    bool ok = run_case(label, "attention/based.tile", "based_chunk_state", defines, st, 4, seed);
    garg scan[4] = {GFLT("kv_chunk", TILE_F32, st[2].result, Z, HK, NC, P, E),
                    GFLT("ksum_chunk", TILE_F32, st[3].result, Z, HK, NC, P),
                    GOUT("kv_in", TILE_F32, Z, HK, NC, P, E), GOUT("ksum_in", TILE_F32, Z, HK, NC, P)};
    snprintf(label, sizeof label, "based_state_scan Z=%d HK=%d NC=%d E=%d", Z, HK, NC, E);
    ok = ok && run_case(label, "attention/based.tile", "based_state_scan", scan_defines, scan, 4, seed);
    garg out[6] = {GFLT("q", T, q, Z, H, N, F), GFLT("k", T, k, Z, HK, N, F), GFLT("v", T, v, Z, HK, N, E),
                   GFLT("kv_in", TILE_F32, scan[2].result, Z, HK, NC, P, E),
                   GFLT("ksum_in", TILE_F32, scan[3].result, Z, HK, NC, P), GOUT("o", T, Z, H, N, E)};
    snprintf(label, sizeof label, "based_chunk_out %s Z=%d H=%d HK=%d N=%d E=%d", dtname(T), Z, H, HK, N, E);
    ok = ok && run_case(label, "attention/based.tile", "based_chunk_out", defines, out, 6, seed);
    free_results(st, 4), free_results(scan, 4), free_results(out, 6);
    free(q), free(k), free(v);
    return ok;
}

static bool run_duo_prefill(tile_dtype T, int Z, int H, int HK, int M, int N, int D, int W, int S, uint64_t seed)
{
    char defines[64], label[160];
    snprintf(defines, sizeof defines, "D=%d,W=%d,S=%d,T=%s", D, W, S, dtname(T));
    snprintf(label, sizeof label, "duo_prefill %s Z=%d H=%d HK=%d M=%d N=%d [%s]", dtname(T), Z, H, HK, M, N, defines);
    int32_t streaming[8];
    for (int h = 0; h < H && h < 8; h++) streaming[h] = (h + 1) / 2 % 2;   /* 0 1 1 0 0 1 1 0 */
    garg args[7] = {GIN("q", T, Z, H, M, D), GIN("k", T, Z, HK, N, D), GIN("v", T, Z, HK, N, D),
                    GINT("streaming", streaming, H), GOUT("o", T, Z, H, M, D),
                    GOUT("lse", TILE_F32, Z, H, M), GSCALAR("scale", 1 / sqrt(D))};
    bool ok = run_case(label, "attention/duo.tile", "duo_prefill", defines, args, 7, seed);
    free_results(args, 7);
    return ok;
}

static bool run_duo_decode(tile_dtype T, int Z, int H, int HK, int D, int PS, int NS, int W, int S, uint64_t seed)
{
    enum { MAXP = 6 };
    int P = Z * MAXP + 1;
    char defines[96], label[192];
    snprintf(defines, sizeof defines, "D=%d,PS=%d,NS=%d,W=%d,S=%d,T=%s", D, PS, NS, W, S, dtname(T));
    snprintf(label, sizeof label, "duo_decode_split %s Z=%d H=%d HK=%d [%s]", dtname(T), Z, H, HK, defines);
    int32_t *table = TH_NEW(int32_t, (size_t)Z * MAXP), *lens = TH_NEW(int32_t, (size_t)Z);
    int32_t *perm = TH_NEW(int32_t, (size_t)P), streaming[8];
    th_rng rng = th_rng_new(seed);
    for (int i = 0; i < P; i++) perm[i] = i;
    th_rng_shuffle(&rng, perm, P);
    for (int i = 0; i < Z * MAXP; i++) table[i] = perm[i];
    for (int z = 0; z < Z; z++) lens[z] = z == 0 ? 1 : z == 1 ? MAXP * PS : th_rng_int(&rng, MAXP * PS + 1);
    for (int h = 0; h < H && h < 8; h++) streaming[h] = h % 2;
    garg args[9] = {GIN("q", T, Z, H, D), GIN("k_cache", T, P, PS, HK, D), GIN("v_cache", T, P, PS, HK, D),
                    GINT("block_table", table, Z, MAXP), GINT("seq_lens", lens, Z), GINT("streaming", streaming, H),
                    GOUT("o_part", TILE_F32, Z, H, NS, D), GOUT("lse_part", TILE_F32, Z, H, NS),
                    GSCALAR("scale", 1 / sqrt(D))};
    bool ok = run_case(label, "attention/duo.tile", "duo_decode_split", defines, args, 9, seed);
    free_results(args, 9);
    free(table), free(lens), free(perm);
    return ok;
}

static bool run_moh(const char *kernel, tile_dtype T, int Z, int H, int HK, int M, int N, int D, uint64_t seed)
{
    char defines[64], label[160];
    snprintf(defines, sizeof defines, "D=%d,T=%s", D, dtname(T));
    snprintf(label, sizeof label, "%s %s Z=%d H=%d HK=%d M=%d N=%d D=%d", kernel, dtname(T), Z, H, HK, M, N, D);
    /* Gates: head 1 unused by every token (its blocks skip the key loop),
     * head 0 by the odd tokens, the rest dense. */
    float *g = TH_NEW(float, (size_t)Z * M * H);
    th_rng rng = th_rng_new(seed + 100);
    for (int z = 0; z < Z; z++)
        for (int i = 0; i < M; i++)
            for (int h = 0; h < H; h++)
                g[((size_t)z * M + i) * H + h] = h == 1 || (h == 0 && i % 2) ? 0.0f : (float)th_rng_uniform(&rng);
    garg args[7] = {GIN("q", T, Z, H, M, D), GIN("k", T, Z, HK, N, D), GIN("v", T, Z, HK, N, D),
                    GFLT("g", TILE_F32, g, Z, M, H), GOUT("o", T, Z, H, M, D),
                    GOUT("lse", TILE_F32, Z, H, M), GSCALAR("scale", 1 / sqrt(D))};
    bool ok = run_case(label, "attention/moh.tile", kernel, defines, args, 7, seed);
    free_results(args, 7);
    free(g);
    return ok;
}

static void test_new_library(void **state)
{
    (void)state;
    int failed = 0;
    failed += !run_aaren(TILE_BF16, 1, 2, 100, 64, 64, 41);
    failed += !run_aaren(TILE_F32, 2, 3, 37, 32, 48, 42);
    failed += !run_aaren(TILE_BF16, 1, 1, 1, 64, 64, 43);                      /* length 1 */
    failed += !run_based(TILE_BF16, 1, 4, 2, 100, 64, 44);                     /* GQA */
    failed += !run_based(TILE_F32, 2, 2, 1, 37, 32, 45);
    failed += !run_based_chain(TILE_BF16, 1, 4, 2, 100, 64, 158);            /* GQA */
    failed += !run_flashlike("attention/based.tile", "based_window", "", TILE_BF16, 1, 2, 1, 100, 100, 64, 46);
    failed += !run_flashlike("attention/based.tile", "based_window", "", TILE_F32, 1, 4, 2, 77, 131, 32, 47);
    failed += !run_flashlike("attention/s2.tile", "s2_fwd", "S=4,L=16", TILE_BF16, 1, 4, 2, 100, 100, 64, 48);
    failed += !run_flashlike("attention/s2.tile", "s2_fwd", "S=2,L=8", TILE_F32, 2, 2, 2, 67, 67, 32, 49);
    failed += !run_duo_prefill(TILE_BF16, 1, 4, 2, 100, 100, 64, 64, 4, 50);
    failed += !run_duo_prefill(TILE_F32, 1, 2, 1, 77, 77, 32, 16, 2, 51);
    failed += !run_duo_decode(TILE_BF16, 3, 4, 2, 128, 16, 4, 64, 4, 52);
    failed += !run_duo_decode(TILE_F32, 2, 2, 1, 64, 8, 3, 16, 2, 53);
    failed += !run_moh("moh_fwd_causal", TILE_BF16, 1, 4, 2, 100, 100, 64, 54);
    failed += !run_moh("moh_fwd_causal", TILE_F32, 1, 3, 1, 45, 45, 32, 55);
    failed += !run_moh("moh_fwd", TILE_BF16, 2, 2, 1, 70, 90, 64, 59);      /* M != N */
    failed += !run_flashlike("attention/sqa.tile", "sqa_fwd", "", TILE_BF16, 1, 2, 1, 100, 100, 64, 56);
    failed += !run_flashlike("attention/sqa.tile", "sqa_fwd_causal", "", TILE_BF16, 1, 2, 1, 100, 100, 64, 57);
    failed += !run_flashlike("attention/sqa.tile", "sqa_fwd_causal", "", TILE_F32, 2, 4, 2, 77, 131, 32, 58);
    assert_int_equal(failed, 0);
}

/* Every op added with issue 5 on edge values (tests/golden/ptx_newops.tile):
 * x and y pair up for pow's C99 Annex F cases; x holds NaN, +-inf, +-0,
 * ties for round, arguments of sin/cos up to 3.4e38, log1p/expm1 limits. */
static void test_new_ops(void **state)
{
    (void)state;
    static const float x[32] = {
        NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, -1.0f, -1.5f,
        1e-5f, -1e-7f, 3.0f, 0.75f, 1e4f, -1e6f, 1e30f, 3.4e38f, 16777216.0f, 123456.789f,
        10.0f, -3.999f, 88.0f, 89.0f, -20.0f, 0.3f, 2.0f, -2.0f, 1.0f, 7.5f};
    static const float y[32] = {
        0.0f, -2.0f, 3.0f, -1.0f, -3.0f, INFINITY, -INFINITY, 2.0f, 0.5f, 3.0f, INFINITY, -2.0f,
        0.5f, 2.0f, NAN, 1e4f, 3.5f, 2.0f, 2.0f, -1.0f, 0.5f, -0.5f,
        38.0f, -3.0f, 0.25f, 1.0f, 0.0f, 1.7f, -149.0f, 127.0f, NAN, -0.0f};
    /* bf16: the same kinds of values, in range (x rounds to bf16 in the image). */
    static const float g[8 * 12] = {
        /* columns: equal | tie at 1 | NaNs at 3, 5 | -0 +0 | +0 -0 | -inf | inf at 6 | data...   */
        1, 1, 2, -0.0f, 0.0f, -INFINITY, 0, 5, -1, 0.25f, 3, NAN,
        1, 3, 1, 0.0f, -0.0f, -INFINITY, -5, 5, -1, 0.25f, 3, 2,
        1, 3, 0, -0.0f, 0.0f, -INFINITY, 1, -7, -2, 0.5f, 3, 2,
        1, 2, NAN, 0.0f, -0.0f, -INFINITY, 2, 5, -2, 0.5f, -3, 1,
        1, -1, 4, -0.0f, 0.0f, -INFINITY, 3, -7, -3, 0.75f, -3, 1,
        1, 0, NAN, 0.0f, -0.0f, -INFINITY, 4, 6, -3, 0.75f, 3, 0,
        1, 3, -9, -0.0f, 0.0f, -INFINITY, INFINITY, 6, -4, 1, -3, 0,
        1, -4, 9, 0.0f, -0.0f, -INFINITY, INFINITY, -7, -4, 1, 3, -1,
    };
    garg args[13] = {
        GFLT("x", TILE_F32, x, 32), GFLT("y", TILE_F32, y, 32), GFLT("xb", TILE_BF16, x, 32),
        GFLT("yb", TILE_BF16, y, 32), GFLT("g", TILE_F32, g, 8, 12), GIN("h", TILE_F32, 8, 12),
        GOUT("math", TILE_F32, 10, 32), GOUT("mathb", TILE_BF16, 10, 32), GOUT("ia", TILE_I32, 3, 12),
        GOUT("ib", TILE_I32, 2, 8), GOUT("moved", TILE_F32, 8, 12), GOUT("sc", TILE_F32, 3, 8, 12),
        GOUT("si", TILE_I32, 8, 12)};
    args[6].ulps = 2;    /* f32: sin cos erf log1p expm1 pow within 2 ulps, the rest exact */
    args[7].ulps = 1;    /* bf16: one rounding of a value within 2 f32 ulps */
    args[8].ulps = args[9].ulps = args[12].ulps = 1;   /* i32: exact */
    bool ok = run_case("newops edge values", "golden/ptx_newops.tile", "newops", "", args, 13, 60);
    free_results(args, 13);
    assert_true(ok);
}

/* ---- asserts and the cache on the device ------------------------------------------------ */
static void test_device_assert(void **state)
{
    (void)state;
    if (selftest) skip();
    /* flash_fwd asserts H % HK == 0: H = 3, HK = 2 fails in every program. */
    fwd_case c = {"flash_fwd", TILE_BF16, 1, 3, 2, 16, 16, 64, false, false, false, NULL};
    tile_kernel *k = compile(gpu, "attention/flash_fwd.tile", c.kernel, "D=64,T=bf16");
    assert_non_null(k);
    void *buf;
    assert_int_equal(tile_alloc(gpu, 1 << 20, &buf), TILE_OK);
    char *b = buf;
    tile_arg args[6] = {
        tile_tensor(TILE_BF16, b, 4, (int64_t[]){1, 3, 16, 64}, NULL),
        tile_tensor(TILE_BF16, b + 65536, 4, (int64_t[]){1, 2, 16, 64}, NULL),
        tile_tensor(TILE_BF16, b + 2 * 65536, 4, (int64_t[]){1, 2, 16, 64}, NULL),
        tile_tensor(TILE_BF16, b + 3 * 65536, 4, (int64_t[]){1, 3, 16, 64}, NULL),
        tile_tensor(TILE_F32, b + 4 * 65536, 3, (int64_t[]){1, 3, 16}, NULL),
        tile_scalar_float(TILE_F32, 0.125)};
    assert_int_equal(tile_launch(k, args, 6, NULL), TILE_OK);
    assert_int_equal(tile_sync(gpu, NULL), TILE_ERR_RUNTIME);
    const char *msg = tile_last_error();
    if (!strstr(msg, "flash_fwd.tile:") || !strstr(msg, ": runtime error: assertion failed: query heads "
                                                         "must be a multiple of key/value heads (program "))
        fail_msg("unexpected assert report: %s", msg);
    /* reported once; the next sync is clean */
    assert_int_equal(tile_sync(gpu, NULL), TILE_OK);
    tile_free(gpu, buf);
    tile_kernel_free(k);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tkc") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_disk_cache(void **state)
{
    (void)state;
    if (selftest) skip();
    tile_context *a, *b;
    assert_int_equal(tile_open(&a, &(tile_config){.mode = TILE_MODE_GPU, .cache_dir = cache_dir}), TILE_OK);
    int before = count_entries(cache_dir);
    tile_kernel *k = compile(a, "attention/flash_fwd.tile", "flash_fwd_causal", "D=32,T=f16");
    assert_non_null(k);
    assert_int_equal(count_entries(cache_dir), before + 1);
    tile_kernel_free(k);
    /* a second context finds it on disk; then corrupt every entry: recompiled */
    assert_int_equal(tile_open(&b, &(tile_config){.mode = TILE_MODE_GPU, .cache_dir = cache_dir}), TILE_OK);
    k = compile(b, "attention/flash_fwd.tile", "flash_fwd_causal", "D=32,T=f16");
    assert_non_null(k);
    assert_int_equal(count_entries(cache_dir), before + 1);
    tile_kernel_free(k);
    tile_close(b);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "for f in %s/*.tkc; do printf garbage | dd of=$f bs=1 seek=100 conv=notrunc 2>/dev/null; done", cache_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tile_open(&b, &(tile_config){.mode = TILE_MODE_GPU, .cache_dir = cache_dir}), TILE_OK);
    fwd_case c = {"flash_fwd_causal", TILE_F16, 1, 2, 2, 45, 45, 32, false, false, false, NULL};
    tile_context *keep = gpu;
    gpu = b; /* the whole case through the repaired cache */
    assert_true(run_fwd(&c, 77));
    gpu = keep;
    tile_close(b);
    tile_close(a);
}

/* ---- score modifiers (scores.tile): forward and the derived backward ------------------ */
/* The named specialisations flash_fwd_NAME, flash_bwd_dkdv_NAME, flash_bwd_dq_NAME
 * with their captured tensors (caps[0..ncaps)), chained forward -> backward as in
 * run_bwd. */
static bool run_scored_ex(const char *name, const garg *caps, int ncaps, tile_dtype T, int Z,
                          int H, int HK, int M, int N, int D, uint64_t seed, const char *dq_name,
                          const garg *grad);

static bool run_scored(const char *name, const garg *caps, int ncaps, tile_dtype T, int Z, int H,
                       int HK, int M, int N, int D, uint64_t seed)
{
    return run_scored_ex(name, caps, ncaps, T, Z, H, HK, M, N, D, seed, NULL, NULL);
}

/* As run_scored; flash_bwd_dq_DQ_NAME (if not NULL) also writes the
 * modifier's table gradient `grad` (zeroed first: atomic adds). */
static bool run_scored_ex(const char *name, const garg *caps, int ncaps, tile_dtype T, int Z,
                          int H, int HK, int M, int N, int D, uint64_t seed, const char *dq_name,
                          const garg *grad)
{
    char defines[64], label[192], kernel[64];
    snprintf(defines, sizeof defines, "D=%d,T=%s", D, dtname(T));
    th_rng rng = th_rng_new(seed);
    size_t nq = (size_t)Z * H * M * D, nk = (size_t)Z * HK * N * D;
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nk), *dout = TH_NEW(float, nq);
    th_fill(&rng, q, nq, -2, 2, (ir_dtype)T);   /* scores up to ~15: softcap bends them */
    th_fill(&rng, k, nk, -2, 2, (ir_dtype)T);
    th_fill(&rng, v, nk, -1, 1, (ir_dtype)T);
    th_fill(&rng, dout, nq, -1, 1, (ir_dtype)T);
    double scale = 1 / sqrt(D);
    garg fwd[10] = {GFLT("q", T, q, Z, H, M, D), GFLT("k", T, k, Z, HK, N, D), GFLT("v", T, v, Z, HK, N, D),
                    GOUT("o", T, Z, H, M, D), GOUT("lse", TILE_F32, Z, H, M), GSCALAR("scale", scale)};
    for (int i = 0; i < ncaps; i++) fwd[6 + i] = caps[i];
    snprintf(kernel, sizeof kernel, "flash_fwd_%s", name);
    snprintf(label, sizeof label, "%s %s Z=%d H=%d HK=%d M=%d N=%d D=%d", kernel, dtname(T), Z, H, HK, M, N, D);
    bool ok = run_case(label, "attention/flash_fwd.tile", kernel, defines, fwd, 6 + ncaps, seed);
    garg pre[3] = {GFLT("o", T, fwd[3].result, Z, H, M, D), GFLT("dout", T, dout, Z, H, M, D),
                   GOUT("delta", TILE_F32, Z, H, M)};
    ok = ok && run_case("flash_bwd_preprocess (scored)", "attention/flash_bwd.tile", "flash_bwd_preprocess",
                        defines, pre, 3, seed);
    garg dkdv[13] = {GFLT("q", T, q, Z, H, M, D), GFLT("k", T, k, Z, HK, N, D), GFLT("v", T, v, Z, HK, N, D),
                     GFLT("dout", T, dout, Z, H, M, D), GFLT("lse", TILE_F32, fwd[4].result, Z, H, M),
                     GFLT("delta", TILE_F32, pre[2].result, Z, H, M), GOUT("dk", T, Z, HK, N, D),
                     GOUT("dv", T, Z, HK, N, D), GSCALAR("scale", scale)};
    for (int i = 0; i < ncaps; i++) dkdv[9 + i] = caps[i];
    snprintf(kernel, sizeof kernel, "flash_bwd_dkdv_%s", name);
    snprintf(label, sizeof label, "%s %s Z=%d H=%d HK=%d M=%d N=%d D=%d", kernel, dtname(T), Z, H, HK, M, N, D);
    ok = ok && run_case(label, "attention/flash_bwd.tile", kernel, defines, dkdv, 9 + ncaps, seed);
    garg dq[12] = {dkdv[0], dkdv[1], dkdv[2], dkdv[3], dkdv[4], dkdv[5], GOUT("dq", T, Z, H, M, D),
                   GSCALAR("scale", scale)};
    for (int i = 0; i < 6; i++) dq[i].result = NULL;
    for (int i = 0; i < ncaps; i++) dq[8 + i] = caps[i];
    int ndq = 8 + ncaps;
    if (grad) dq[ndq++] = *grad;
    snprintf(kernel, sizeof kernel, "flash_bwd_dq_%s", dq_name ? dq_name : name);
    snprintf(label, sizeof label, "%s %s Z=%d H=%d HK=%d M=%d N=%d D=%d", kernel, dtname(T), Z, H, HK, M, N, D);
    ok = ok && run_case(label, "attention/flash_bwd.tile", kernel, defines, dq, ndq, seed);
    free_results(fwd, 6 + ncaps), free_results(pre, 3), free_results(dkdv, 9 + ncaps);
    free_results(dq, ndq);
    free(q), free(k), free(v), free(dout);
    return ok;
}

static void test_score_modifiers(void **state)
{
    (void)state;
    enum { H = 4, HK = 2, M = 131, N = 77 };
    float slopes[H], beta[H];
    int32_t sink[N];
    for (int h = 0; h < H; h++) {
        slopes[h] = (float)pow(2.0, -8.0 * (h + 1) / H);
        beta[h] = h % 2 ? 0.2f + 0.2f * (float)h : 1.0f;
    }
    for (int j = 0; j < N; j++) sink[j] = j < 4 || j % 17 == 0;
    garg alibi[1] = {GFLT("slopes", TILE_F32, slopes, H)};
    garg bias[1] = {GIN("bias", TILE_F32, H, 2 * N - 1)};
    garg act[2] = {GINT("sink", sink, N), GFLT("beta", TILE_F32, beta, H)};
    int failed = 0;
    failed += !run_scored("alibi", alibi, 1, TILE_BF16, 1, H, HK, M, N, 64, 31);
    failed += !run_scored("softcap", NULL, 0, TILE_BF16, 1, H, HK, N, M, 64, 32);
    failed += !run_scored("softcap", NULL, 0, TILE_F32, 1, H, HK, 64, 64, 64, 33);
    failed += !run_scored("act", act, 2, TILE_BF16, 2, H, HK, M, N, 128, 34);
    /* rel_bias: the table is [H, 2N - 1] of this case's N */
    garg bias_mn[1] = {GIN("bias", TILE_F32, H, 2 * M - 1)};
    failed += !run_scored("rel_bias", bias, 1, TILE_BF16, 1, H, HK, M, N, 64, 35);
    failed += !run_scored("rel_bias", bias_mn, 1, TILE_F16, 1, H, HK, N, M, 64, 36);
    assert_int_equal(failed, 0);
}

/* T5's bucketed bias (32 buckets, max_distance 128: N = 300 reaches the
 * clamp) and the learned tables' gradients (accumulate_grad: atomic adds
 * into a zeroed d(table), compared at f32's tolerance: the sums' order
 * differs on the GPU). */
static void test_score_tables(void **state)
{
    (void)state;
    enum { H = 4, HK = 2, M = 131, N = 77, NB = 32 };
    float slopes[H];
    for (int h = 0; h < H; h++) slopes[h] = (float)pow(2.0, -8.0 * (h + 1) / H);
    garg t5[1] = {GIN("bias", TILE_F32, H, NB)};
    garg t5_grad = GOUT_ZERO("dbias", TILE_F32, H, NB);
    garg bias[1] = {GIN("bias", TILE_F32, H, 2 * N - 1)};
    garg bias_grad = GOUT_ZERO("dbias", TILE_F32, H, 2 * N - 1);
    garg alibi[1] = {GFLT("slopes", TILE_F32, slopes, H)};
    garg alibi_grad = GOUT_ZERO("dslopes", TILE_F32, H);
    int failed = 0;
    failed += !run_scored_ex("t5", t5, 1, TILE_BF16, 1, H, HK, M, N, 64, 41, NULL, &t5_grad);
    failed += !run_scored_ex("t5", t5, 1, TILE_F32, 2, H, HK, 300, 300, 64, 42, NULL, &t5_grad);
    failed += !run_scored_ex("t5_causal", t5, 1, TILE_F16, 1, H, HK, 300, 257, 128, 43, NULL,
                             &t5_grad);
    failed += !run_scored_ex("rel_bias", bias, 1, TILE_BF16, 1, H, HK, M, N, 64, 44,
                             "rel_bias_grad", &bias_grad);
    failed += !run_scored_ex("alibi", alibi, 1, TILE_F32, 1, H, HK, M, N, 64, 45, "alibi_grad",
                             &alibi_grad);
    assert_int_equal(failed, 0);
}

/* ---- issue 9: sort/topk and the dynamic sparse attention programs ---------------- */

/* The interpreter's result of an i32 output as ints, for the next stage. */
static int32_t *ints_of(const garg *a)
{
    size_t n = numel(a);
    int32_t *x = TH_NEW(int32_t, n);
    for (size_t i = 0; i < n; i++) x[i] = (int32_t)a->result[i];
    return x;
}

/* Uniform floats in [lo, hi) for the host side of a chain. */
static float *uniform_floats(th_rng *rng, size_t n, float lo, float hi)
{
    float *x = TH_NEW(float, n);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)th_rng_uniform(rng);
    return x;
}

/* sort/argsort/topk on edge values (tests/golden/ptx_sort.tile): ties,
 * NaNs, +-0 and infinities, bf16 rounding ties, i32 extremes; exact. */
static void test_sort_ops(void **state)
{
    (void)state;
    static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.5f, -1.5f, 1.5f};
    float x[3 * 37];
    int32_t n[3 * 37];
    th_rng rng = th_rng_new(90);
    for (int i = 0; i < 3 * 37; i++) {
        int r = th_rng_int(&rng, 12);
        x[i] = r < 8 ? special[r] : 1.0f + (float)r * 0.00390625f; /* bf16 ties among these */
        n[i] = th_rng_int(&rng, 5) == 0 ? (i % 2 ? INT32_MAX : INT32_MIN + 1) : th_rng_int(&rng, 7) - 3;
    }
    garg args[8] = {
        GFLT("x", TILE_F32, x, 3, 37), GINT("n", n, 3, 37), GOUT("s", TILE_F32, 4, 3, 37),
        GOUT("i", TILE_I32, 4, 3, 37), GOUT("t", TILE_F32, 3, 6), GOUT("j", TILE_I32, 3, 6),
        GOUT("a0", TILE_I32, 2, 37), GOUT("ni", TILE_I32, 2, 3, 37)};
    for (int a = 2; a < 8; a++) args[a].ulps = 1; /* floats moved unchanged, ints exact */
    bool ok = run_case("sort/argsort/topk edge values", "golden/ptx_sort.tile", "sortops", "", args, 8, 91);
    free_results(args, 8);
    /* lines of 700: cg_sort.c's bitonic network (padded to 1024) */
    float xb[2 * 700];
    int32_t wb[700];
    for (int i = 0; i < 2 * 700; i++) {
        int r = th_rng_int(&rng, 40);
        xb[i] = r < 8 ? special[r] : (float)(r - 20) * 0.25f + (r % 3 ? 0.0f : 0.001953125f);
    }
    for (int i = 0; i < 700; i++) wb[i] = th_rng_int(&rng, 50) - 25 + (i % 97 == 0 ? 1000000 : 0);
    garg big[7] = {
        GFLT("x", TILE_F32, xb, 2, 700), GINT("w", wb, 700), GOUT("s", TILE_F32, 3, 2, 700),
        GOUT("i", TILE_I32, 3, 2, 700), GOUT("t", TILE_F32, 2, 100), GOUT("j", TILE_I32, 2, 100),
        GOUT("ni", TILE_I32, 3, 700)};
    for (int a = 2; a < 7; a++) big[a].ulps = 1;
    ok = run_case("sort/argsort/topk lines of 700", "golden/ptx_sort.tile", "sortbig", "", big, 7, 92) && ok;
    free_results(big, 7);
    assert_true(ok);
}

/* The FlexPrefill chain, stage by stage, each stage's interpreter result the
 * next stage's input on both sides (so the selection must be exact). */
static bool run_flex_chain(tile_dtype T, int H, int HK, int M, int N, int D, int BM, int BN,
                           bool by_mass, uint64_t seed)
{
    char label[160], defs[160];
    int MB = (M + BM - 1) / BM, NB = (N + BN - 1) / BN, NBMAX = NB + 2;
    th_rng rng = th_rng_new(seed);
    float *q = uniform_floats(&rng, (size_t)H * M * D, -1, 1), *k = uniform_floats(&rng, (size_t)HK * N * D, -1, 1);
    float *v = uniform_floats(&rng, (size_t)HK * N * D, -1, 1);
    snprintf(label, sizeof label, "flexprefill %s H=%d HK=%d M=%d N=%d D=%d BM=%d BN=%d %s", dtname(T), H,
             HK, M, N, D, BM, BN, by_mass ? "mass" : "top-k");
    garg pool[2] = {GFLT("k", T, k, 1, HK, N, D), GOUT("kbar", TILE_F32, 1, HK, NB, D)};
    snprintf(defs, sizeof defs, "T=%s,D=%d,BN=%d", dtname(T), D, BN);
    bool ok = run_case(label, "attention/flexprefill.tile", "flex_pool_k", defs, pool, 2, seed);
    garg pq[2] = {GFLT("q", T, q, 1, H, M, D), GOUT("qbar", TILE_F32, 1, H, MB, D)};
    snprintf(defs, sizeof defs, "T=%s,D=%d,BM=%d", dtname(T), D, BM);
    ok = ok && run_case(label, "attention/flexprefill.tile", "flex_pool_q", defs, pq, 2, seed);
    garg est[6] = {GFLT("qbar", TILE_F32, pq[1].result, 1, H, MB, D),
                   GFLT("kbar", TILE_F32, pool[1].result, 1, HK, NB, D), GOUT("est", TILE_F32, 1, H, MB, NB),
                   GSCALAR("M", M), GSCALAR("N", N), GSCALAR("scale", 1 / sqrt(D))};
    snprintf(defs, sizeof defs, "D=%d,BM=%d,BN=%d,BQ=4,BC=4", D, BM, BN);
    ok = ok && run_case(label, "attention/flexprefill.tile", "flex_estimate", defs, est, 6, seed);
    /* the exact last row in 3 runs of key blocks; est starts as zeros (the
     * kernel writes one row), its row MB - 1 replaces the pooled one */
    garg ll[4] = {GFLT("q", T, q, 1, H, M, D), GFLT("k", T, k, 1, HK, N, D), GOUT("lse_part", TILE_F32, 1, H, 3, BM),
                  GSCALAR("scale", 1 / sqrt(D))};
    snprintf(defs, sizeof defs, "T=%s,D=%d,BM=%d,BN=%d", dtname(T), D, BM, BN);
    ok = ok && run_case(label, "attention/flexprefill.tile", "flex_last_lse", defs, ll, 4, seed);
    garg lm[5] = {GFLT("q", T, q, 1, H, M, D), GFLT("k", T, k, 1, HK, N, D),
                  GFLT("lse_part", TILE_F32, ok ? ll[2].result : q, 1, H, 3, BM), GOUT_ZERO("est", TILE_F32, 1, H, MB, NB),
                  GSCALAR("scale", 1 / sqrt(D))};
    ok = ok && run_case(label, "attention/flexprefill.tile", "flex_last_mass", defs, lm, 5, seed);
    for (int h = 0; ok && h < H; h++)
        memcpy(est[2].result + ((size_t)h * MB + MB - 1) * NB, lm[3].result + ((size_t)h * MB + MB - 1) * NB,
               sizeof(float) * (size_t)NB);
    garg sel[7] = {GFLT("est", TILE_F32, est[2].result, 1, H, MB, NB), GOUT("kv_idx", TILE_I32, 1, H, MB, NB),
                   GOUT("kv_cnt", TILE_I32, 1, H, MB), GSCALAR("M", M), GSCALAR("N", N), GSCALAR("tau", 0.8),
                   GSCALAR("keep", 3)};
    sel[1].ulps = sel[2].ulps = 1;
    snprintf(defs, sizeof defs, "BM=%d,BN=%d,NBMAX=%d,by_mass=%s", BM, BN, NBMAX, by_mass ? "true" : "false");
    ok = ok && run_case(label, "attention/flexprefill.tile", "flex_select", defs, sel, 7, seed);
    int32_t *idx = ok ? ints_of(&sel[1]) : NULL, *cnt = ok ? ints_of(&sel[2]) : NULL;
    garg att[8] = {GFLT("q", T, q, 1, H, M, D), GFLT("k", T, k, 1, HK, N, D), GFLT("v", T, v, 1, HK, N, D),
                   GINT("kv_idx", idx, 1, H, MB, NB), GINT("kv_cnt", cnt, 1, H, MB), GOUT("o", T, 1, H, M, D),
                   GOUT("lse", TILE_F32, 1, H, M), GSCALAR("scale", 1 / sqrt(D))};
    snprintf(defs, sizeof defs, "T=%s,D=%d,BM=%d,BN=%d", dtname(T), D, BM, BN);
    ok = ok && run_case(label, "attention/block_sparse.tile", "block_sparse_fwd_causal", defs, att, 8, seed);
    garg km[3] = {GFLT("lse_sparse", TILE_F32, ok ? att[6].result : q, 1, H, M), GIN("lse_dense", TILE_F32, 1, H, M),
                  GOUT("frac", TILE_F32, 1, H, M)};
    ok = ok && run_case(label, "attention/flexprefill.tile", "flex_kept_mass", "BM=32", km, 3, seed);
    free_results(pool, 2), free_results(pq, 2), free_results(est, 6), free_results(ll, 4), free_results(lm, 5);
    free_results(sel, 7), free_results(att, 8), free_results(km, 3);
    free(q), free(k), free(v), free(idx), free(cnt);
    return ok;
}

/* TokenSelect and Quest decoding, stage by stage as above; every sequence
 * holds n tokens (so the score and page tables are fully written). */
static bool run_token_chain(tile_dtype T, int Z, int H, int HK, int D, int PS, int n, int K, int C,
                            int KP, uint64_t seed)
{
    char label[160], defs[160];
    int S = 4, W = 16, S2 = 3, MAXP = (n + PS - 1) / PS, P = Z * MAXP, NS = P * PS;
    int NCK = (n + C - 1) / C * K, TMAX = S + W + K, TQ = (KP + 2) * PS;
    th_rng rng = th_rng_new(seed);
    float *q = uniform_floats(&rng, (size_t)Z * H * D, -2, 2), *k = uniform_floats(&rng, (size_t)NS * HK * D, -1, 1);
    float *v = uniform_floats(&rng, (size_t)NS * HK * D, -1, 1);
    int32_t *table = TH_NEW(int32_t, P), *lens = TH_NEW(int32_t, Z);
    for (int i = 0; i < P; i++) table[i] = (int32_t)((i * 7L + 3) % P);
    for (int z = 0; z < Z; z++) lens[z] = n;
    snprintf(label, sizeof label, "token_select %s Z=%d H=%d HK=%d D=%d PS=%d n=%d K=%d", dtname(T), Z, H, HK,
             D, PS, n, K);
    garg lse[6] = {GFLT("q", T, q, Z, H, D), GFLT("k_slots", T, k, NS, HK, D), GINT("block_table", table, Z, MAXP),
                   GINT("seq_lens", lens, Z), GOUT("lse_part", TILE_F32, Z, H, 2), GSCALAR("scale", 1 / sqrt(D))};
    snprintf(defs, sizeof defs, "T=%s,D=%d,PS=%d,S=2", dtname(T), D, PS);
    bool ok = run_case(label, "attention/token_select.tile", "ts_lse_split", defs, lse, 6, seed);
    garg sc[7] = {GFLT("q", T, q, Z, H, D), GFLT("k_slots", T, k, NS, HK, D), GINT("block_table", table, Z, MAXP),
                  GINT("seq_lens", lens, Z), GFLT("lse_part", TILE_F32, ok ? lse[4].result : q, Z, H, 2),
                  GOUT("score", TILE_F32, Z, HK, n), GSCALAR("scale", 1 / sqrt(D))};
    ok = ok && run_case(label, "attention/token_select.tile", "ts_score", defs, sc, 7, seed);
    /* the one-pass scores (each key read once), against the same tolerance */
    garg lg[7] = {GFLT("q", T, q, Z, H, D), GFLT("k_slots", T, k, NS, HK, D), GINT("block_table", table, Z, MAXP),
                  GINT("seq_lens", lens, Z), GOUT("logits", TILE_F32, Z, H, n), GOUT("lse_part", TILE_F32, Z, H, 3),
                  GSCALAR("scale", 1 / sqrt(D))};
    snprintf(defs, sizeof defs, "T=%s,D=%d,G=%d,PS=%d", dtname(T), D, H / HK, PS);
    ok = ok && run_case(label, "attention/token_select.tile", "ts_logits", defs, lg, 7, seed);
    garg sl[4] = {GFLT("logits", TILE_F32, ok ? lg[4].result : q, Z, H, n),
                  GFLT("lse_part", TILE_F32, ok ? lg[5].result : q, Z, H, 3), GINT("seq_lens", lens, Z),
                  GOUT("score", TILE_F32, Z, HK, n)};
    snprintf(defs, sizeof defs, "G=%d,C=64,BS=2", H / HK);
    ok = ok && run_case(label, "attention/token_select.tile", "ts_score_logits", defs, sl, 4, seed);
    free_results(lg, 7), free_results(sl, 4);
    garg ch[4] = {GFLT("score", TILE_F32, ok ? sc[5].result : q, Z, HK, n), GINT("seq_lens", lens, Z),
                  GOUT("cand_score", TILE_F32, Z, HK, NCK), GOUT("cand_pos", TILE_I32, Z, HK, NCK)};
    ch[2].ulps = ch[3].ulps = 1;
    snprintf(defs, sizeof defs, "K=%d,C=%d,S=%d,W=%d", K, C, S, W);
    ok = ok && run_case(label, "attention/token_select.tile", "ts_select_chunk", defs, ch, 4, seed);
    int32_t *cpos = ok ? ints_of(&ch[3]) : NULL;
    garg sel[5] = {GFLT("cand_score", TILE_F32, ok ? ch[2].result : q, Z, HK, NCK), GINT("cand_pos", cpos, Z, HK, NCK),
                   GINT("seq_lens", lens, Z), GOUT("tok_idx", TILE_I32, Z, HK, TMAX), GOUT("tok_cnt", TILE_I32, Z, HK)};
    sel[3].ulps = sel[4].ulps = 1;
    snprintf(defs, sizeof defs, "K=%d,NCMAX=%d,S=%d,W=%d", K, NCK / K + 1, S, W);
    ok = ok && run_case(label, "attention/token_select.tile", "ts_select", defs, sel, 5, seed);
    /* Quest on the same cache */
    garg sum[5] = {GFLT("k_slots", T, k, NS, HK, D), GINT("block_table", table, Z, MAXP), GINT("seq_lens", lens, Z),
                   GOUT("kmin", T, P, HK, D), GOUT("kmax", T, P, HK, D)};
    sum[3].ulps = sum[4].ulps = 1;
    snprintf(defs, sizeof defs, "T=%s,D=%d,PS=%d", dtname(T), D, PS);
    ok = ok && run_case(label, "attention/token_select.tile", "quest_summaries", defs, sum, 5, seed);
    garg qs[6] = {GFLT("q", T, q, Z, H, D), GINT("block_table", table, Z, MAXP), GINT("seq_lens", lens, Z),
                  GFLT("kmin", T, ok ? sum[3].result : q, P, HK, D),
                  GFLT("kmax", T, ok ? sum[4].result : q, P, HK, D), GOUT("page_score", TILE_F32, Z, HK, MAXP)};
    snprintf(defs, sizeof defs, "T=%s,D=%d,G=%d,PS=%d,BP=8", dtname(T), D, H / HK, PS);
    ok = ok && run_case(label, "attention/token_select.tile", "quest_score", defs, qs, 6, seed);
    garg qsel[4] = {GFLT("page_score", TILE_F32, ok ? qs[5].result : q, Z, HK, MAXP), GINT("seq_lens", lens, Z),
                    GOUT("tok_idx", TILE_I32, Z, HK, TQ), GOUT("tok_cnt", TILE_I32, Z, HK)};
    qsel[2].ulps = qsel[3].ulps = 1;
    snprintf(defs, sizeof defs, "PS=%d,KP=%d,PMAX=%d", PS, KP, MAXP + KP + 1);
    ok = ok && run_case(label, "attention/token_select.tile", "quest_select", defs, qsel, 4, seed);
    /* attention over both lists, then the combine */
    for (int variant = 0; ok && variant < 2; variant++) {
        garg *lists = variant ? qsel + 2 : sel + 3;
        int tmax = variant ? TQ : TMAX;
        int32_t *ti = ints_of(&lists[0]), *tc = ints_of(&lists[1]);
        garg att[9] = {GFLT("q", T, q, Z, H, D), GFLT("k_slots", T, k, NS, HK, D), GFLT("v_slots", T, v, NS, HK, D),
                       GINT("block_table", table, Z, MAXP), GINT("tok_idx", ti, Z, HK, tmax), GINT("tok_cnt", tc, Z, HK),
                       GOUT("o_part", TILE_F32, Z, H, S2, D), GOUT("lse_part", TILE_F32, Z, H, S2),
                       GSCALAR("scale", 1 / sqrt(D))};
        snprintf(defs, sizeof defs, "T=%s,D=%d,PS=%d,S2=%d,BT=8", dtname(T), D, PS, S2);
        ok = run_case(label, "attention/token_select.tile", "ts_decode_split", defs, att, 9, seed);
        garg cb[4] = {GFLT("o_part", TILE_F32, ok ? att[6].result : q, Z, H, S2, D),
                      GFLT("lse_part", TILE_F32, ok ? att[7].result : q, Z, H, S2), GOUT("o", T, Z, H, D),
                      GOUT("lse", TILE_F32, Z, H)};
        snprintf(defs, sizeof defs, "T=%s,D=%d,S=%d", dtname(T), D, S2);
        ok = ok && run_case(label, "attention/decode.tile", "decode_combine", defs, cb, 4, seed);
        free_results(att, 9), free_results(cb, 4);
        /* the grouped kernel over the same list, merged by decode_merge */
        garg ag[9] = {GFLT("q", T, q, Z, H, D), GFLT("k_slots", T, k, NS, HK, D), GFLT("v_slots", T, v, NS, HK, D),
                      GINT("block_table", table, Z, MAXP), GINT("tok_idx", ti, Z, HK, tmax), GINT("tok_cnt", tc, Z, HK),
                      GOUT("o_part", TILE_F32, Z, H, S2, D), GOUT("lse_part", TILE_F32, Z, H, S2),
                      GSCALAR("scale", 1 / sqrt(D))};
        snprintf(defs, sizeof defs, "T=%s,D=%d,G=%d,PS=%d,BT=8", dtname(T), D, H / HK, PS);
        ok = ok && run_case(label, "attention/token_select.tile", "ts_decode_gqa", defs, ag, 9, seed);
        garg mg[4] = {GFLT("o_part", TILE_F32, ok ? ag[6].result : q, Z, H, S2, D),
                      GFLT("lse_part", TILE_F32, ok ? ag[7].result : q, Z, H, S2), GOUT("o", T, Z, H, D),
                      GOUT("lse", TILE_F32, Z, H)};
        snprintf(defs, sizeof defs, "T=%s,D=%d", dtname(T), D);
        ok = ok && run_case(label, "attention/decode.tile", "decode_merge", defs, mg, 4, seed);
        free_results(ag, 9), free_results(mg, 4);
        free(ti), free(tc);
    }
    free_results(lse, 6), free_results(sc, 7), free_results(ch, 4), free_results(sel, 5);
    free_results(sum, 5), free_results(qs, 6), free_results(qsel, 4);
    free(q), free(k), free(v), free(table), free(lens), free(cpos);
    return ok;
}

/* The chunked counting sort (bucket_count, bucket_offsets, bucket_place,
 * chunks of 32 positions) on the GPU and the interpreter; its perm, pos and
 * starts must also equal bucket_sort's (sorted[0..2], interpreter results). */
static bool run_chunked_sort(const char *label, const int32_t *code, int HX, int L, int ncode,
                             const garg *sorted, uint64_t seed)
{
    char defs[96];
    int NCH = (L + 31) / 32;
    garg bc[2] = {GINT("code", code, 1, HX, L), GOUT("counts", TILE_I32, 1, HX, NCH, ncode)};
    bc[1].ulps = 1;
    snprintf(defs, sizeof defs, "NCODE=%d,CH=32,BL=16", ncode);
    bool ok = run_case(label, "attention/hyper.tile", "bucket_count", defs, bc, 2, seed);
    int32_t *counts = ok ? ints_of(&bc[1]) : NULL;
    garg bo[3] = {GINT("counts", counts, 1, HX, NCH, ncode), GOUT("offsets", TILE_I32, 1, HX, NCH, ncode),
                  GOUT("starts", TILE_I32, 1, HX, ncode + 1)};
    bo[1].ulps = bo[2].ulps = 1;
    snprintf(defs, sizeof defs, "NCODE=%d", ncode);
    ok = ok && run_case(label, "attention/hyper.tile", "bucket_offsets", defs, bo, 3, seed);
    int32_t *offs = ok ? ints_of(&bo[1]) : NULL;
    garg bp[4] = {GINT("code", code, 1, HX, L), GINT("offsets", offs, 1, HX, NCH, ncode),
                  GOUT("perm", TILE_I32, 1, HX, L), GOUT("pos", TILE_I32, 1, HX, L)};
    bp[2].ulps = bp[3].ulps = 1;
    snprintf(defs, sizeof defs, "NCODE=%d,CH=32,BL=16", ncode);
    ok = ok && run_case(label, "attention/hyper.tile", "bucket_place", defs, bp, 4, seed);
    const float *mine[3] = {ok ? bp[2].result : NULL, ok ? bp[3].result : NULL, ok ? bo[2].result : NULL};
    for (int a = 0; ok && a < 3; a++)
        ok = memcmp(mine[a], sorted[a].result, sizeof(float) * numel(&sorted[a])) == 0;
    if (!ok) fprintf(stderr, "FAIL %s: the chunked sort differs from bucket_sort\n", label);
    free_results(bc, 2), free_results(bo, 3), free_results(bp, 4);
    free(counts), free(offs);
    return ok;
}

/* HyperAttention and routing: planes, codes, the counting sort, samples and
 * the attention kernels, each on the interpreter's results of the stage
 * before (codes and orders exact). */
static bool run_hyper_chain(tile_dtype T, int H, int HK, int M, int N, int D, int NP, int BB, int MS,
                            int C, uint64_t seed)
{
    char label[160], defs[160];
    th_rng rng = th_rng_new(seed);
    float *q = uniform_floats(&rng, (size_t)H * M * D, -1, 1), *k = uniform_floats(&rng, (size_t)HK * N * D, -1, 1);
    float *v = uniform_floats(&rng, (size_t)HK * N * D, -1, 1), *cen = uniform_floats(&rng, (size_t)C * D, -1, 1);
    snprintf(label, sizeof label, "hyper %s H=%d HK=%d M=%d N=%d D=%d NP=%d BB=%d MS=%d C=%d", dtname(T), H,
             HK, M, N, D, NP, BB, MS, C);
    garg pl[2] = {GOUT("planes", TILE_F32, NP, D), GSCALAR("seed", 12345)};
    pl[0].ulps = 1;
    snprintf(defs, sizeof defs, "NP=%d,D=%d", NP, D);
    bool ok = run_case(label, "attention/hyper.tile", "hyper_planes", defs, pl, 2, seed);
    int32_t *perm[2][2] = {{0}}, *pos[2][2] = {{0}}, *codes[2][2] = {{0}}, *starts[2][2] = {{0}};
    for (int route = 0; route < 2; route++)
        for (int side = 0; ok && side < 2; side++) {   /* queries, keys */
            int HX = side ? HK : H, L = side ? N : M, ncode = route ? C : 1 << NP;
            garg hs[3] = {GFLT("x", T, side ? k : q, 1, HX, L, D),
                          GFLT(route ? "centroids" : "planes", TILE_F32, route ? cen : pl[0].result, route ? C : NP, D),
                          GOUT("code", TILE_I32, 1, HX, L)};
            hs[2].ulps = 1;
            if (route) snprintf(defs, sizeof defs, "T=%s,D=%d,C=%d,BL=16", dtname(T), D, C);
            else snprintf(defs, sizeof defs, "T=%s,D=%d,NP=%d,BL=16", dtname(T), D, NP);
            ok = run_case(label, "attention/hyper.tile", route ? "route_code" : "hyper_hash", defs, hs, 3, seed);
            codes[route][side] = ok ? ints_of(&hs[2]) : NULL;
            garg bs[4] = {GINT("code", codes[route][side], 1, HX, L), GOUT("perm", TILE_I32, 1, HX, L),
                          GOUT("pos", TILE_I32, 1, HX, L), GOUT("starts", TILE_I32, 1, HX, ncode + 1)};
            bs[1].ulps = bs[2].ulps = bs[3].ulps = 1;
            snprintf(defs, sizeof defs, "NCODE=%d,BL=16", ncode);
            ok = ok && run_case(label, "attention/hyper.tile", "bucket_sort", defs, bs, 4, seed);
            if (ok) perm[route][side] = ints_of(&bs[1]), pos[route][side] = ints_of(&bs[2]), starts[route][side] = ints_of(&bs[3]);
            ok = ok && run_chunked_sort(label, codes[route][side], HX, L, ncode, &bs[1], seed);
            free_results(hs, 3), free_results(bs, 4);
        }
    garg sm[3] = {GOUT("cols", TILE_I32, 1, H, MS), GSCALAR("N", N), GSCALAR("seed", 777)};
    sm[0].ulps = 1;
    snprintf(defs, sizeof defs, "MS=%d", MS);
    ok = ok && run_case(label, "attention/hyper.tile", "hyper_sample", defs, sm, 3, seed);
    int32_t *cols = ok ? ints_of(&sm[0]) : NULL;
    garg ha[10] = {GFLT("q", T, q, 1, H, M, D), GFLT("k", T, k, 1, HK, N, D), GFLT("v", T, v, 1, HK, N, D),
                   GINT("perm_q", perm[0][0], 1, H, M), GINT("perm_k", perm[0][1], 1, HK, N),
                   GINT("pos_k", pos[0][1], 1, HK, N), GINT("cols", cols, 1, H, MS), GOUT("o", T, 1, H, M, D),
                   GOUT("lse", TILE_F32, 1, H, M), GSCALAR("scale", 1 / sqrt(D))};
    snprintf(defs, sizeof defs, "T=%s,D=%d,BB=%d,MS=%d", dtname(T), D, BB, MS);
    ok = ok && run_case(label, "attention/hyper.tile", "hyper_attn", defs, ha, 10, seed);
    garg ra[11] = {GFLT("q", T, q, 1, H, M, D), GFLT("k", T, k, 1, HK, N, D), GFLT("v", T, v, 1, HK, N, D),
                   GINT("perm_q", perm[1][0], 1, H, M), GINT("code_q", codes[1][0], 1, H, M),
                   GINT("perm_k", perm[1][1], 1, HK, N), GINT("code_k", codes[1][1], 1, HK, N),
                   GINT("starts_k", starts[1][1], 1, HK, C + 1), GOUT("o", T, 1, H, M, D),
                   GOUT("lse", TILE_F32, 1, H, M), GSCALAR("scale", 1 / sqrt(D))};
    snprintf(defs, sizeof defs, "T=%s,D=%d,BM=16,BN=16,is_causal=true", dtname(T), D);
    ok = ok && run_case(label, "attention/hyper.tile", "routing_attn", defs, ra, 11, seed);
    free_results(pl, 2), free_results(sm, 3), free_results(ha, 10), free_results(ra, 11);
    for (int r = 0; r < 2; r++)
        for (int s2 = 0; s2 < 2; s2++) free(perm[r][s2]), free(pos[r][s2]), free(codes[r][s2]), free(starts[r][s2]);
    free(q), free(k), free(v), free(cen), free(cols);
    return ok;
}

static void test_dynsparse(void **state)
{
    (void)state;
    int failed = 0;
    failed += !run_flex_chain(TILE_BF16, 4, 2, 197, 197, 64, 32, 32, true, 101);
    failed += !run_flex_chain(TILE_F32, 2, 1, 100, 163, 32, 16, 16, false, 102);
    failed += !run_token_chain(TILE_BF16, 2, 4, 2, 64, 16, 301, 32, 128, 4, 103);
    failed += !run_token_chain(TILE_F32, 3, 2, 1, 32, 8, 77, 8, 32, 2, 104);
    failed += !run_hyper_chain(TILE_BF16, 4, 2, 150, 150, 64, 5, 32, 16, 7, 105);
    failed += !run_hyper_chain(TILE_F32, 2, 2, 61, 97, 32, 3, 16, 8, 5, 106);
    /* the bench's blocks (BB=128, D=128: wgmma, Q and K staged, both
     * [128, 128]; K once took Q's buffer, bench/RESULTS.md session 12) */
    failed += !run_hyper_chain(TILE_BF16, 2, 1, 300, 300, 128, 5, 128, 64, 9, 107);
    assert_int_equal(failed, 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(cache_dir, sizeof cache_dir, "/tmp/tile_gpu_cache_XXXXXX");
    if (!mkdtemp(cache_dir)) return -1;
    tile_mode mode = selftest ? TILE_MODE_INTERPRET : TILE_MODE_GPU;
    if (tile_open(&gpu, &(tile_config){.mode = mode, .cache_dir = cache_dir}) != TILE_OK ||
        tile_open(&cpu, &(tile_config){.mode = TILE_MODE_INTERPRET, .cache_dir = ""}) != TILE_OK) {
        fprintf(stderr, "%s\n", tile_last_error());
        return -1;
    }
    tile_device_info info;
    tile_device(gpu, &info);
    fprintf(stderr, "test_gpu on %s (%s, %d SMs), cache %s\n", info.name, info.arch, info.sm_count, cache_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tile_close(gpu);
    tile_close(cpu);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cache_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- block skipping derived from the mask (issue 7 item 5) ------------------------- */
/* flash_fwd with the default kv_range (derived from the mask: full blocks without
 * mask arithmetic, partial ones masked, empty ones skipped) for masks with one and
 * two slots; then a block classification built on the device from a document mask
 * (block_mask.tile) and the forward that consumes it, chained. */
static void test_derived_blocks(void **state)
{
    (void)state;
    static const fwd_case cases[] = {
        {"flash_fwd", TILE_BF16, 1, 2, 1, 300, 400, 64, false, false, false, "mask=sliding_window(W: 100, S: 4)"},
        {"flash_fwd", TILE_BF16, 1, 2, 2, 200, 200, 128, false, false, false, "mask=prefix_lm(P: 64)"},
        {"flash_fwd", TILE_F16, 1, 4, 2, 150, 90, 64, false, false, false, "mask=sliding_window(W: 33)"},
        {"flash_fwd", TILE_BF16, 1, 2, 2, 129, 129, 64, false, false, false, "mask=full_mask,BM=64,BN=64"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) failed += !run_fwd(&cases[i], 70 + i);

    enum { Z = 2, H = 2, HK = 1, M = 150, N = 150, D = 64, BM = 32, BN = 32 };
    enum { MB = (M + BM - 1) / BM, NB = (N + BN - 1) / BN };
    int32_t docs[Z * N];
    for (int z = 0; z < Z; z++)
        for (int p = 0; p < N; p++) docs[z * N + p] = p < 40 + z ? 0 : p < 41 ? 1 : p < 120 ? 2 : 3;
    garg bm[7] = {GOUT("full_idx", TILE_I32, Z, 1, MB, NB), GOUT("full_cnt", TILE_I32, Z, 1, MB),
                  GOUT("partial_idx", TILE_I32, Z, 1, MB, NB), GOUT("partial_cnt", TILE_I32, Z, 1, MB),
                  GSCALAR("M", M), GSCALAR("N", N), GINT("doc", docs, Z, N)};
    const char *defines = "D=64,T=bf16,BM=32,BN=32";
    if (!run_case("block_mask_document_causal", "attention/block_mask.tile",
                  "block_mask_document_causal", defines, bm, 7, 80)) {
        failed++;
    } else {
        int32_t lists[4][Z * MB * NB];
        for (int t = 0; t < 4; t++) {
            size_t n = t % 2 == 0 ? (size_t)Z * MB * NB : (size_t)Z * MB;
            for (size_t e = 0; e < n; e++) lists[t][e] = (int32_t)bm[t].result[e];
        }
        garg fa[11] = {GIN("q", TILE_BF16, Z, H, M, D), GIN("k", TILE_BF16, Z, HK, N, D),
                       GIN("v", TILE_BF16, Z, HK, N, D), GINT("full_idx", lists[0], Z, 1, MB, NB),
                       GINT("full_cnt", lists[1], Z, 1, MB), GINT("partial_idx", lists[2], Z, 1, MB, NB),
                       GINT("partial_cnt", lists[3], Z, 1, MB), GOUT("o", TILE_BF16, Z, H, M, D),
                       GOUT("lse", TILE_F32, Z, H, M), GSCALAR("scale", 0.125), GINT("doc", docs, Z, N)};
        failed += !run_case("flash_fwd_document_causal_blocks", "attention/block_mask.tile",
                            "flash_fwd_document_causal_blocks", defines, fa, 11, 81);
        free_results(fa, 11);
    }
    free_results(bm, 7);
    assert_int_equal(failed, 0);
}

/* ---- Hopper's wgmma (mma v3, the default on sm_90) ------------------------------------ */
/* Runs when the device is sm_90 (H100/H200) and in the selftest (which
 * checks the cases and that the PTX takes the wgmma path; codegen needs no
 * GPU); skipped on other devices.  Every other test here runs the library
 * on wgmma too wherever its layouts allow (TILE_WGMMA=0 runs them all on
 * mma.sync: bench/gpu_check.sh MMA_SYNC_TESTS=1); this one pins the
 * instruction's own corners.  The compiles happen with TILE_WGMMA=1 (even
 * if the caller set 0) in fresh contexts without a disk cache, with the
 * warps fixed (4 = one warpgroup, 8 = two along M).  Cases: plain dots
 * with A and B from shared memory (M = 64/128 rows a block, N = 64/128,
 * K = 64/128, bf16 and f16, odd M and N), a chain whose second dot takes A
 * from the first's accumulator registers, and flash_fwd (D = 64/128, causal,
 * odd lengths, GQA) with K and V pipelined into the 128-byte swizzle.
 * Just these: TEST_GPU_FILTER=test_wgmma build/tests/test_gpu (from tests/). */
static bool wgmma_ptx(tile_context *ctx, const char *file, const char *kernel, const char *defines)
{
    tile_kernel *k = compile(ctx, file, kernel, defines);
    char *ptx = NULL;
    bool ok = k && tile_kernel_ptx(k, "sm_90", &ptx) == TILE_OK && ptx && strstr(ptx, "wgmma.mma_async") &&
              strstr(ptx, ".target sm_90a");
    if (!ok) fprintf(stderr, "FAIL %s %s [%s]: the PTX does not take the wgmma path\n", file, kernel, defines);
    free(ptx);
    tile_kernel_free(k);
    return ok;
}

static bool run_wgmma_dot(tile_dtype T, int M, int N, int K, int BM, int BN, uint64_t seed)
{
    char defines[96], label[160];
    snprintf(defines, sizeof defines, "T=%s,K=%d,BM=%d,BN=%d", dtname(T), K, BM, BN);
    snprintf(label, sizeof label, "wgmma dot %s M=%d N=%d K=%d BM=%d BN=%d", dtname(T), M, N, K, BM, BN);
    garg args[3] = {GIN("a", T, M, K), GIN("b", T, K, N), GOUT("c", TILE_F32, M, N)};
    bool ok = wgmma_ptx(gpu, "golden/ptx_wgmma_dot.tile", "wg_dot", defines) &&
              run_case(label, "golden/ptx_wgmma_dot.tile", "wg_dot", defines, args, 3, seed);
    free_results(args, 3);
    return ok;
}

static bool run_wgmma_chain(tile_dtype T, int M, int K, int N, int P, int BM, uint64_t seed)
{
    char defines[96], label[160];
    snprintf(defines, sizeof defines, "T=%s,K=%d,N=%d,P=%d,BM=%d", dtname(T), K, N, P, BM);
    snprintf(label, sizeof label, "wgmma chain %s M=%d K=%d N=%d P=%d BM=%d", dtname(T), M, K, N, P, BM);
    garg args[5] = {GIN("a", T, M, K), GIN("b", T, K, N), GIN("e", T, N, P), GOUT("c", TILE_F32, M, N),
                    GOUT("d", T, M, P)};
    bool ok = wgmma_ptx(gpu, "golden/ptx_wgmma_dot.tile", "wg_chain", defines) &&
              run_case(label, "golden/ptx_wgmma_dot.tile", "wg_chain", defines, args, 5, seed);
    free_results(args, 5);
    return ok;
}

static bool run_wgmma_fwd(const fwd_case *c, uint64_t seed)
{
    char defines[128];
    snprintf(defines, sizeof defines, "D=%d,T=%s%s%s", c->D, dtname(c->T), c->extra ? "," : "", c->extra ? c->extra : "");
    return wgmma_ptx(gpu, "attention/flash_fwd.tile", c->kernel, defines) && run_fwd(c, seed);
}

static void test_wgmma(void **state)
{
    (void)state;
    tile_device_info info;
    tile_device(gpu, &info);
    if (!selftest && strcmp(info.arch, "sm_90") != 0) {
        fprintf(stderr, "test_wgmma: skipped: %s is not sm_90\n", info.arch);
        skip();
    }
    setenv("TILE_WGMMA", "1", 1);
    tile_context *saved = gpu, *ctx[2] = {NULL, NULL};
    tile_mode mode = selftest ? TILE_MODE_INTERPRET : TILE_MODE_GPU;
    int failed = 0;
    for (int w = 0; w < 2; w++)
        if (tile_open(&ctx[w], &(tile_config){.mode = mode, .cache_dir = "", .num_warps = 4 * (w + 1)}) != TILE_OK) {
            fprintf(stderr, "FAIL test_wgmma: %s\n", tile_last_error());
            failed++;
        }
    uint64_t seed = 400;
    if (!failed) {
        gpu = ctx[0]; /* one warpgroup */
        for (int t = 0; t < 2; t++) {
            tile_dtype T = t ? TILE_F16 : TILE_BF16;
            for (int bm = 64; bm <= 128; bm += 64)
                for (int bn = 64; bn <= 128; bn += 64)
                    for (int k = 64; k <= 128; k += 64) failed += !run_wgmma_dot(T, 200, 150, k, bm, bn, seed++);
        }
        failed += !run_wgmma_dot(TILE_BF16, 64, 16, 64, 64, 16, seed++);   /* N = 16: B K-major */
        failed += !run_wgmma_dot(TILE_BF16, 100, 64, 32, 64, 64, seed++);  /* K = 32: A M-major, B N-major */
        failed += !run_wgmma_dot(TILE_F16, 70, 128, 48, 64, 128, seed++);  /* K = 48, two slabs of N */
        failed += !run_wgmma_chain(TILE_BF16, 100, 64, 64, 64, 64, seed++);
        failed += !run_wgmma_chain(TILE_F16, 130, 128, 128, 64, 128, seed++);
        static const fwd_case fwd4[] = {
            {"flash_fwd", TILE_BF16, 1, 2, 2, 77, 131, 64, false, false, false, "BM=64,BN=64"},
            {"flash_fwd_causal", TILE_BF16, 1, 4, 2, 131, 77, 64, false, false, false, "BM=64,BN=64"},
            {"flash_fwd", TILE_BF16, 1, 2, 1, 100, 200, 128, false, false, false, "BM=64,BN=64"},
            {"flash_fwd_causal", TILE_F16, 1, 2, 2, 129, 129, 128, false, false, false, "BM=64,BN=64"},
        };
        for (size_t i = 0; i < sizeof fwd4 / sizeof fwd4[0]; i++) failed += !run_wgmma_fwd(&fwd4[i], seed++);
        gpu = ctx[1]; /* two warpgroups along M */
        failed += !run_wgmma_dot(TILE_BF16, 300, 150, 128, 128, 128, seed++);
        failed += !run_wgmma_chain(TILE_BF16, 250, 64, 64, 128, 128, seed++);
        /* The model's tiles for the context's 8 warps (the search costs only
         * those rows: at 4 warps flash_fwd_causal D=64 takes BM=64, one
         * warpgroup), and BM=128 BN=64 asked for explicitly. */
        static const fwd_case fwd8[] = {
            {"flash_fwd", TILE_BF16, 2, 4, 4, 77, 131, 64, false, false, false, NULL},
            {"flash_fwd", TILE_BF16, 1, 2, 2, 256, 256, 128, false, false, false, NULL},
            {"flash_fwd_causal", TILE_BF16, 1, 4, 2, 131, 77, 64, false, false, false, NULL},
            {"flash_fwd_causal", TILE_F16, 1, 4, 1, 300, 300, 128, false, false, false, NULL},
            {"flash_fwd_causal", TILE_BF16, 1, 2, 1, 1, 1, 64, false, false, false, NULL},
            {"flash_fwd_causal", TILE_BF16, 1, 4, 2, 131, 77, 64, false, false, false, "BM=128,BN=64"},
        };
        for (size_t i = 0; i < sizeof fwd8 / sizeof fwd8[0]; i++) failed += !run_wgmma_fwd(&fwd8[i], seed++);
    }
    gpu = saved;
    for (int w = 0; w < 2; w++)
        if (ctx[w]) tile_close(ctx[w]);
    unsetenv("TILE_WGMMA");
    assert_int_equal(failed, 0);
}

int main(void)
{
    const char *env = getenv("TILE_TEST_GPU_SELFTEST");
    selftest = env && strcmp(env, "1") == 0;
    tile_context *probe;
    tile_status st = tile_open(&probe, &(tile_config){
        .mode = selftest ? TILE_MODE_INTERPRET : TILE_MODE_GPU, .cache_dir = ""});
    if (st == TILE_ERR_NO_DEVICE) {
        fprintf(stderr, "test_gpu: skipped: %s\n", tile_last_error());
        return 77;
    }
    if (st != TILE_OK) {
        fprintf(stderr, "test_gpu: %s\n", tile_last_error());
        return 1;
    }
    tile_close(probe);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flash_fwd),     cmocka_unit_test(test_flash_bwd),
        cmocka_unit_test(test_decode),        cmocka_unit_test(test_lightning2),
        cmocka_unit_test(test_block_sparse),  cmocka_unit_test(test_device_assert),
        cmocka_unit_test(test_disk_cache),    cmocka_unit_test(test_new_library),
        cmocka_unit_test(test_new_ops),       cmocka_unit_test(test_score_modifiers),
        cmocka_unit_test(test_score_tables),
        cmocka_unit_test(test_sort_ops),      cmocka_unit_test(test_dynsparse),
        cmocka_unit_test(test_derived_blocks),
        cmocka_unit_test(test_wgmma),
    };
    const char *filter = getenv("TEST_GPU_FILTER"); /* e.g. "test_flash_*" */
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, setup, teardown);
}
