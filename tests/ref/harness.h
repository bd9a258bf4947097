/* harness.h - shared helpers of the library tests.
 *
 * What every library test does, in one place:
 *   - seeded random inputs (uniform, rounded to the kernel's dtype, so the
 *     reference sees exactly the values the kernel sees);
 *   - host tensors in any dtype and memory layout, filled from and read back
 *     into logical row-major float arrays;
 *   - compile + launch on the interpreter through tc_compile/interp_launch,
 *     arguments matched to kernel parameters by name, every `out` tensor
 *     poisoned (NaN, or INT32_MIN) before the run so an unwritten element is
 *     caught;
 *   - comparison against a double reference with a tolerance relative to the
 *     output's scale, reporting the worst element.
 * Failures print one line to stderr saying what and where; the functions
 * return false and the test asserts on that. */
#ifndef TILE_TEST_HARNESS_H
#define TILE_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler/pipeline.h"
#include "attn_ref.h"

/* Random numbers, rounding to a dtype, allocation: rng.h (its own object,
 * so that test_gpu links them without the compiler). */
#include "rng.h"

/* ---- host tensors ------------------------------------------------------------ */
typedef struct th_tensor {
    interp_tensor t;
    size_t numel;
} th_tensor;

/* A tensor of the given logical shape.  `order` (NULL = row-major) lists the
 * dims from outermost to innermost in memory, e.g. {0, 2, 1, 3} stores a
 * logical [Z, H, M, D] tensor as [Z, M, H, D] (strides follow). */
th_tensor th_tensor_new(ir_dtype dt, int rank, const int64_t *shape, const int *order);
void th_tensor_free(th_tensor *t);
/* From / to a logical row-major array (floats round to the dtype, nearest even). */
void th_tensor_set(th_tensor *t, const float *src);
void th_tensor_set_i32(th_tensor *t, const int32_t *src);
void th_tensor_get(const th_tensor *t, float *dst);
/* Every element NaN (float dtypes) or INT32_MIN (integers). */
void th_tensor_poison(th_tensor *t);

/* TH_DIMS(a, b, c) -> 3, (int64_t[]){a, b, c}: the (rank, shape) argument pair. */
#define TH_DIMS(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

/* ---- compile and launch ------------------------------------------------------ */
typedef struct th_kernel {
    tc_unit *unit;
    const ir_func *fn;
    tc_unit *unit_O0;  /* the same kernel compiled with -O0 (inlining only) */
    const ir_func *fn_O0;
    char label[160];   /* "flash_fwd[D=64,mask=causal]" for messages */
} th_kernel;

/* Compiles kernel `name` of lib/<file> (e.g. "attention/flash_fwd.tile") with
 * the comma-separated defines ("D=64,mask=causal", may be NULL), both
 * optimised and at -O0.  Prints the diagnostics and returns false on
 * failure. */
bool th_compile(th_kernel *k, const char *file, const char *name, const char *defines);
void th_kernel_free(th_kernel *k);

typedef struct th_arg {
    const char *name;
    th_tensor *tensor;   /* tensor parameters */
    double value;        /* scalar parameters (converted to the param's dtype) */
    bool zeroed;         /* an `out` tensor the kernel adds to (atomic_add): zeros
                            before each run, not poison */
} th_arg;
#define TH_T(n, tp) ((th_arg){.name = (n), .tensor = (tp)})
#define TH_ZERO(n, tp) ((th_arg){.name = (n), .tensor = (tp), .zeroed = true})
#define TH_S(n, v) ((th_arg){.name = (n), .value = (v)})

/* Matches args to the kernel's parameters by name (every parameter must be
 * given, no extra names), poisons the `out` tensors (zeroes those given with
 * TH_ZERO), runs on the interpreter.
 * Then runs the -O0 compilation on the same inputs and requires bit-identical
 * outputs: every library test is also a test that the IR passes never change
 * a result (SQLite's optimisations-off habit), and, since the optimised
 * kernel runs as scheduled IR (th_compile assigns layouts), that layout
 * assignment never changes one either.  Prints diagnostics and
 * returns false on failure. */
bool th_launch(th_kernel *k, const th_arg *args, int nargs);

/* ---- comparison ---------------------------------------------------------------- */
typedef struct th_cmp {
    double max_err;      /* largest |got - ref| over finite refs */
    double tol;          /* absolute tolerance used: rtol * max(1, max |ref|) */
    size_t worst;        /* flat index of the worst element */
    size_t nbad;         /* elements out of tolerance (or wrong inf/NaN) */
    bool ok;
} th_cmp;

/* Compares got (the kernel's output) with ref elementwise.  An infinite ref
 * must be matched exactly; a NaN in got always fails.  On failure prints
 * "what: N bad of M, worst [i,j,..] got G ref R (max_err E, tol T)"; with
 * the environment variable TH_VERBOSE set, also prints every passing check. */
th_cmp th_compare(const char *what, const float *got, const double *ref,
                  int rank, const int64_t *shape, double rtol);
bool th_check(const char *what, const float *got, const double *ref,
              int rank, const int64_t *shape, double rtol);

/* The fully-masked-row convention: for every row r with ref_lse[r] == -inf,
 * lse[r] must be exactly -inf and o[r, 0..width) exactly 0. */
bool th_check_masked_rows(const char *what, const float *o, const float *lse,
                          const double *ref_lse, size_t rows, size_t width);

/* The whole check of an attention forward's outputs against the reference:
 * O at the tolerance of dtype T, LSE at the f32 tolerance (it is f32
 * arithmetic on exact products of the rounded inputs, whatever T), and the
 * fully-masked-row convention.  `label` names the case in messages. */
bool th_check_attention(const char *label, const attn_dims *d, ir_dtype T, const float *o,
                        const float *lse, const double *ref_o, const double *ref_lse);

/* Tolerance for comparisons by kernel dtype: tight for f32 (checks the
 * algorithm), bf16/f16 loose enough for 16-bit rounding of P and outputs. */
double th_rtol(ir_dtype dt);

#endif
