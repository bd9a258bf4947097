/* flash_demo.c - the main job in one program: JIT-compile the
 * FlashAttention-2 forward from the library (lib/attention/flash_fwd.tile,
 * its causal specialisation) through the runtime API (tile.h), run it with
 * grouped-query heads in bf16, check O and LSE against a naive
 * double-precision reference, and print one line.
 *
 *   GPU          a large problem, timed: the line gives the time per launch
 *                and TFLOP/s; a sample of rows is checked (the reference is
 *                O(M N D) per head in double).
 *   interpreter  (no GPU, or TILE_INTERPRET=1) a small problem, every row
 *                checked; the PTX the GPU would run is generated too
 *                (tile_kernel_ptx), so the line shows its size.
 * Exits 0 when the result is within tolerance, 1 otherwise.
 *
 * usage: flash_demo [LIBDIR]   (LIBDIR: the library root; default: lib/
 *                               beside the build, else the source tree's) */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tile.h"

typedef struct problem {
    int Z, H, HK, M, N, D;
} problem;

static const problem GPU_PROBLEM = {2, 16, 4, 4096, 4096, 128};
static const problem CPU_PROBLEM = {1, 4, 2, 100, 100, 64};
static const double TOLERANCE = 2e-2; /* bf16: |err| <= tol * max(1, |ref|) */

/* ---- bf16 and random numbers (the demo depends on tile.h alone) ------------ */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);               /* nearest even */
}

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* n bf16 values uniform in [-1, 1) (NaN without a seed: an output). */
static uint16_t *bf16_array(size_t n, uint64_t *seed)
{
    uint16_t *x = malloc(n * sizeof *x);
    if (!x) exit(1);
    for (size_t i = 0; i < n; i++) {
        if (!seed) {
            x[i] = 0x7fc0;
            continue;
        }
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = to_bf16((float)((double)(*seed >> 11) * 0x1.0p-53 * 2 - 1));
    }
    return x;
}

/* ---- the reference: one query row of causal attention, in double ------------ */
/* Row i of head h sees keys j <= i + (N - M) (bottom-right aligned) of key
 * head h / (H / HK); fills o[0..D) and returns the LSE (-inf: no key). */
static double ref_row(const problem *p, const uint16_t *q, const uint16_t *k, const uint16_t *v,
                      double scale, int z, int h, int i, double *o, double *s)
{
    int hk = h / (p->H / p->HK), last = i + (p->N - p->M);
    const uint16_t *qi = q + (((size_t)z * p->H + h) * p->M + i) * p->D;
    const uint16_t *kz = k + ((size_t)z * p->HK + hk) * p->N * p->D;
    const uint16_t *vz = v + ((size_t)z * p->HK + hk) * p->N * p->D;
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j <= last && j < p->N; j++) {
        double dot = 0;
        for (int d = 0; d < p->D; d++) dot += (double)from_bf16(qi[d]) * from_bf16(kz[(size_t)j * p->D + d]);
        s[j] = dot * scale;
        if (s[j] > mx) mx = s[j];
    }
    for (int d = 0; d < p->D; d++) o[d] = 0;
    for (int j = 0; j <= last && j < p->N; j++) {
        double e = exp(s[j] - mx);
        sum += e;
        for (int d = 0; d < p->D; d++) o[d] += e * from_bf16(vz[(size_t)j * p->D + d]);
    }
    for (int d = 0; d < p->D && sum > 0; d++) o[d] /= sum;
    return sum > 0 ? mx + log(sum) : -INFINITY;
}

/* Checks every `step`-th row; returns the worst err / allowed (> 1: FAIL)
 * and the largest absolute error of O in *max_err. */
static double check(const problem *p, const uint16_t *q, const uint16_t *k, const uint16_t *v,
                    double scale, const uint16_t *o, const float *lse, size_t step,
                    double *max_err)
{
    double *ref = malloc(sizeof(double) * (size_t)(p->D + p->N)), worst = 0;
    if (!ref) exit(1);
    size_t rows = (size_t)p->Z * p->H * p->M;
    *max_err = 0;
    for (size_t r = 0; r < rows; r += step) {
        int i = (int)(r % p->M), h = (int)(r / p->M % p->H), z = (int)(r / p->M / p->H);
        double ref_lse = ref_row(p, q, k, v, scale, z, h, i, ref, ref + p->D);
        for (int d = 0; d < p->D; d++) {
            double err = fabs(from_bf16(o[r * p->D + d]) - ref[d]);
            if (!(err <= *max_err)) *max_err = err; /* NaN sticks */
            double ratio = err / (TOLERANCE * fmax(1, fabs(ref[d])));
            if (!(ratio <= worst)) worst = ratio;
        }
        double ratio = isinf(ref_lse) ? (lse[r] == ref_lse ? 0 : INFINITY)
                                      : fabs(lse[r] - ref_lse) / (TOLERANCE * fmax(1, fabs(ref_lse)));
        if (!(ratio <= worst)) worst = ratio;
    }
    free(ref);
    return worst;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "flash_demo: %s failed:\n%s\n", what, tile_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    tile_config cfg = {.lib_dir = argc > 1 ? argv[1] : NULL};
    tile_context *ctx;
    tile_status st = tile_open(&ctx, &cfg);
    if (st == TILE_ERR_NO_DEVICE) {
        cfg.mode = TILE_MODE_INTERPRET; /* no GPU here: the same API on the CPU */
        st = tile_open(&ctx, &cfg);
    }
    if (st != TILE_OK) return fail("tile_open");
    tile_device_info dev;
    tile_device(ctx, &dev);
    const problem *p = dev.interpreted ? &CPU_PROBLEM : &GPU_PROBLEM;
    char defines[64];
    snprintf(defines, sizeof defines, "D=%d,T=bf16", p->D);
    tile_kernel *kernel;
    double t0 = now();
    if (tile_compile_file(ctx, "attention/flash_fwd.tile", "flash_fwd_causal", defines, &kernel) != TILE_OK)
        return fail("compiling lib/attention/flash_fwd.tile");
    double compile_s = now() - t0;

    size_t nq = (size_t)p->Z * p->H * p->M * p->D, nkv = (size_t)p->Z * p->HK * p->N * p->D;
    size_t nlse = (size_t)p->Z * p->H * p->M;
    uint64_t seed = 42;
    uint16_t *q = bf16_array(nq, &seed), *k = bf16_array(nkv, &seed), *v = bf16_array(nkv, &seed);
    uint16_t *o = bf16_array(nq, NULL);
    float *lse = malloc(nlse * sizeof *lse);
    if (!lse) return 1;
    for (size_t i = 0; i < nlse; i++) lse[i] = NAN;
    void *dq, *dk, *dv, *dout, *dlse;
    if (tile_alloc(ctx, nq * 2, &dq) || tile_alloc(ctx, nkv * 2, &dk) || tile_alloc(ctx, nkv * 2, &dv) ||
        tile_alloc(ctx, nq * 2, &dout) || tile_alloc(ctx, nlse * 4, &dlse) ||
        tile_upload(ctx, dq, q, nq * 2) || tile_upload(ctx, dk, k, nkv * 2) ||
        tile_upload(ctx, dv, v, nkv * 2) || tile_upload(ctx, dout, o, nq * 2) ||
        tile_upload(ctx, dlse, lse, nlse * 4))
        return fail("allocating and uploading the inputs");

    /* Arguments in the kernel's parameter order, matched by name. */
    double scale = 1 / sqrt(p->D);
    int64_t qshape[4] = {p->Z, p->H, p->M, p->D}, kvshape[4] = {p->Z, p->HK, p->N, p->D};
    struct { const char *name; tile_arg arg; } named[] = {
        {"q", tile_tensor(TILE_BF16, dq, 4, qshape, NULL)},
        {"k", tile_tensor(TILE_BF16, dk, 4, kvshape, NULL)},
        {"v", tile_tensor(TILE_BF16, dv, 4, kvshape, NULL)},
        {"o", tile_tensor(TILE_BF16, dout, 4, qshape, NULL)},
        {"lse", tile_tensor(TILE_F32, dlse, 3, qshape, NULL)},
        {"scale", tile_scalar_float(TILE_F32, scale)},
    };
    tile_arg args[8] = {{0}};
    int nargs = tile_kernel_nparams(kernel);
    for (int i = 0; i < nargs && i < 8; i++) {
        tile_param_info info;
        tile_kernel_param(kernel, i, &info);
        for (size_t n = 0; n < sizeof named / sizeof named[0]; n++)
            if (strcmp(info.name, named[n].name) == 0) args[i] = named[n].arg;
    }

    int runs = dev.interpreted ? 1 : 10;
    if (!dev.interpreted && (tile_launch(kernel, args, nargs, NULL) || tile_sync(ctx, NULL)))
        return fail("the warm-up launch");
    t0 = now();
    for (int r = 0; r < runs; r++)
        if (tile_launch(kernel, args, nargs, NULL) != TILE_OK) return fail("tile_launch");
    if (tile_sync(ctx, NULL) != TILE_OK) return fail("the kernel");
    double seconds = (now() - t0) / runs;
    if (tile_download(ctx, o, dout, nq * 2) || tile_download(ctx, lse, dlse, nlse * 4))
        return fail("downloading the outputs");

    double max_err;
    size_t step = dev.interpreted ? 1 : 997; /* a prime: rows of every head and position */
    bool ok = check(p, q, k, v, scale, o, lse, step, &max_err) <= 1;
    printf("flash_fwd %s Z=%d H=%d HK=%d M=%d N=%d D=%d mask=causal bf16: max_abs_err=%.1e "
           "(tol %.0e) %s",
           dev.interpreted ? "interp" : dev.name, p->Z, p->H, p->HK, p->M, p->N, p->D, max_err,
           TOLERANCE, ok ? "OK" : "FAIL");
    if (dev.interpreted) {
        /* No GPU: still generate what the GPU would run (the PTX for sm_90),
         * so the whole compiler is exercised. */
        char *ptx = NULL;
        if (tile_kernel_ptx(kernel, "sm_90", &ptx) != TILE_OK) return fail("generating PTX");
        size_t mma = 0;
        for (const char *at = ptx; (at = strstr(at, "mma.sync")); at++) mma++;
        printf(", PTX for sm_90: %zu bytes, %zu mma.sync", strlen(ptx), mma);
        free(ptx);
    } else {
        /* Causal: about half of the 4 M N D flops per head (QK^T and PV). */
        double flops = 2.0 * p->Z * p->H * (double)p->M * p->N * p->D;
        printf(", %.3f ms, %.1f TFLOP/s (compile %.2f s)", seconds * 1e3, flops / seconds * 1e-12,
               compile_s);
    }
    printf("\n");
    tile_free(ctx, dq), tile_free(ctx, dk), tile_free(ctx, dv), tile_free(ctx, dout), tile_free(ctx, dlse);
    free(q), free(k), free(v), free(o), free(lse);
    tile_kernel_free(kernel);
    tile_close(ctx);
    return ok ? 0 : 1;
}
