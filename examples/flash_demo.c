/* flash_demo.c - the main job in one program: compile the FlashAttention-2
 * forward from the library (lib/attention/flash_fwd.tile, its causal
 * specialisation), run it on the CPU interpreter on a small random bf16
 * problem with grouped-query heads, and check it against the naive
 * double-precision reference.  Prints one line and exits 0 when the result
 * is within tolerance, 1 otherwise.
 *
 * This is also the smallest complete use of the compiler as a library:
 * tc_compile -> interp_launch with interp_tensor arguments. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/pipeline.h"
#include "ir/fp16.h"
#include "tests/ref/attn_ref.h"

enum { Z = 1, H = 4, HK = 2, M = 100, N = 100, D = 64 };
static const double TOLERANCE = 2e-2; /* bf16: |err| <= tol * max(1, |ref|) */

/* A bf16 tensor, contiguous, filled uniform in [-1, 1); `values` receives
 * what it holds as floats (what the reference must see).  Without `values`
 * (an output) it is filled with NaN, so an element left unwritten shows. */
static interp_tensor bf16_tensor(int rank, const int64_t *shape, float *values, uint64_t *seed)
{
    interp_tensor t = {.dtype = IR_BF16, .rank = rank};
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)(t.shape[i] = shape[i]);
    interp_contiguous_strides(&t);
    uint16_t *data = calloc(n, sizeof *data);
    if (!data) abort();
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        float x = (float)((double)(*seed >> 11) * 0x1.0p-53 * 2 - 1);
        data[i] = fp_f32_to_bf16(values ? x : NAN);
        if (values) values[i] = fp_bf16_to_f32(data[i]);
    }
    t.data = data;
    return t;
}

/* Compares the kernel's O (bf16) and LSE with the reference; prints the line. */
static bool check(const float *q, const float *k, const float *v, float scale,
                  const uint16_t *o, const float *lse)
{
    static double ref_o[Z * H * M * D], ref_lse[Z * H * M];
    attn_dims dims = {.Z = Z, .H = H, .HK = HK, .M = M, .N = N, .D = D};
    attn_mask causal = {.kind = ATTN_MASK_CAUSAL};
    attn_ref_fwd(&dims, q, k, v, scale, &causal, ref_o, ref_lse);
    double max_err = 0, worst = 0; /* worst = err / allowed, over O and LSE */
    for (size_t i = 0; i < (size_t)Z * H * M * D; i++) {
        double err = fabs(fp_bf16_to_f32(o[i]) - ref_o[i]);
        if (!(err <= max_err)) max_err = err; /* NaN sticks */
        double r = err / (TOLERANCE * fmax(1, fabs(ref_o[i])));
        if (!(r <= worst)) worst = r;
    }
    for (size_t i = 0; i < (size_t)Z * H * M; i++) {
        double r = fabs(lse[i] - ref_lse[i]) / (TOLERANCE * fmax(1, fabs(ref_lse[i])));
        if (!(r <= worst)) worst = r;
    }
    bool ok = worst <= 1;
    printf("flash_fwd interp Z=%d H=%d HK=%d M=%d N=%d D=%d mask=causal bf16: "
           "max_abs_err=%.1e (tol %.0e) %s\n",
           Z, H, HK, M, N, D, max_err, TOLERANCE, ok ? "OK" : "FAIL");
    return ok;
}

/* usage: flash_demo [LIBDIR]  (LIBDIR: the library root, default the
 * source tree's lib/, for a build copied to another machine) */
int main(int argc, char **argv)
{
    const char *lib = argc > 1 ? argv[1] : TILE_LIB_DIR;
    char path[4096];
    snprintf(path, sizeof path, "%s/attention/flash_fwd.tile", lib);
    const char *defines[] = {"D=64", "T=bf16"};
    tc_options opts = {.kernel = "flash_fwd_causal", .defines = defines, .ndefines = 2,
                       .include_dirs = &lib, .ninclude = 1, .opt_level = 1};
    tc_unit *unit = NULL;
    if (tc_compile(&unit, path, NULL, &opts) != TILE_OK) {
        fprintf(stderr, "flash_demo: cannot compile %s\n", path);
        if (unit) diag_print_all(&unit->diags, stderr);
        tc_unit_free(unit);
        return 1;
    }

    static float q[Z * H * M * D], k[Z * HK * N * D], v[Z * HK * N * D];
    uint64_t seed = 42;
    interp_tensor tq = bf16_tensor(4, (int64_t[]){Z, H, M, D}, q, &seed);
    interp_tensor tk = bf16_tensor(4, (int64_t[]){Z, HK, N, D}, k, &seed);
    interp_tensor tv = bf16_tensor(4, (int64_t[]){Z, HK, N, D}, v, &seed);
    interp_tensor to = bf16_tensor(4, (int64_t[]){Z, H, M, D}, NULL, &seed);
    interp_tensor tl = {.dtype = IR_F32, .rank = 3, .shape = {Z, H, M}};
    interp_contiguous_strides(&tl);
    static float lse[Z * H * M];
    tl.data = lse;
    float scale = (float)(1 / sqrt(D));

    /* Arguments go in the kernel's parameter order; match them by name. */
    const ir_func *kernel = unit->kernel;
    interp_arg args[8] = {0};
    struct { const char *name; interp_tensor *t; } tensors[] = {
        {"q", &tq}, {"k", &tk}, {"v", &tv}, {"o", &to}, {"lse", &tl}};
    int status = 1;
    for (int p = 0; p < kernel->nparams && p < 8; p++) {
        if (strcmp(kernel->params[p].name, "scale") == 0) args[p].scalar.f = scale;
        for (size_t t = 0; t < sizeof tensors / sizeof tensors[0]; t++)
            if (strcmp(kernel->params[p].name, tensors[t].name) == 0)
                args[p].tensor = *tensors[t].t;
    }
    if (interp_launch(kernel, args, kernel->nparams, &unit->diags, NULL) == TILE_OK) {
        status = check(q, k, v, scale, to.data, lse) ? 0 : 1;
    } else {
        fprintf(stderr, "flash_demo: launch failed\n");
        diag_print_all(&unit->diags, stderr);
    }
    free(tq.data), free(tk.data), free(tv.data), free(to.data);
    tc_unit_free(unit);
    return status;
}
