/* interp.h - the CPU interpreter: the reference semantics of tile IR.
 *
 * Runs a kernel over its whole launch grid, one program at a time, on host
 * memory.  f32/i32/i64/bool are exact; bf16 and f16 values are computed in
 * f32 and rounded to nearest even at every op that produces them (see
 * docs/language.md, "Numerics").  Errors (bad launch arguments, integer
 * division by zero) are reported through the diag context with the .tile
 * location of the op, and the run stops with a status; so are a launch that
 * exceeds its budgets (tile memory, executed ops) and, with check_bounds, an
 * out-of-range access. */
#ifndef TILE_INTERP_H
#define TILE_INTERP_H

#include <stdio.h>

#include "ir.h"

typedef struct interp_tensor {
    ir_dtype dtype;
    int rank;
    int64_t shape[IR_MAX_RANK];
    int64_t strides[IR_MAX_RANK];  /* in elements; any layout */
    void *data;                    /* bf16/f16 as raw 16-bit patterns, bool as uint8 */
} interp_tensor;

typedef struct interp_arg {        /* one per kernel parameter, in order */
    interp_tensor tensor;          /* tensor parameters */
    ir_scalar scalar;              /* scalar parameters (by the param's dtype) */
} interp_arg;

/* What --check-bounds reports (see interp_options.check_bounds). */
typedef enum interp_bounds_check {
    INTERP_BOUNDS_OFF = 0,         /* out-of-range elements read `other`, are not written */
    INTERP_BOUNDS_SCALAR,          /* ... except along a dimension indexed by a scalar */
    INTERP_BOUNDS_ALL,             /* ... and along any dimension */
} interp_bounds_check;

/* Budgets: a run that needs more stops with an error naming the budget and
 * the option that raises it.  The defaults are far above what the library's
 * kernels need (a few MiB, a few million ops) and below what hurts a
 * workstation. */
#define INTERP_DEFAULT_MAX_BYTES ((uint64_t)4 << 30)   /* 4 GiB of tiles */
#define INTERP_DEFAULT_MAX_OPS ((uint64_t)1 << 31)     /* ~2.1e9 ops executed */

typedef struct interp_options {
    FILE *print_out;               /* where print() writes; NULL = stdout */
    /* A load, store or atomic_add element whose mask is absent or true but
     * whose index is outside the tensor is an error (with the op's .tile
     * location and the program id) instead of the language's silent bounds
     * masking.  SCALAR checks only dimensions indexed by a scalar (the head
     * `h` of q[z, h, rows, :]: one position, never a ragged block edge);
     * ALL checks every dimension (for kernels that mask explicitly). */
    interp_bounds_check check_bounds;
    uint64_t max_bytes;            /* tile memory of one launch; 0 = default */
    uint64_t max_ops;              /* ops executed by one launch; 0 = default */
} interp_options;

/* Checks args against the kernel's parameters (dtypes, ranks, static dims,
 * same-named dims equal, no NULL data), evaluates the grid, runs every
 * program.  Returns TILE_ERR_ARG for bad arguments, TILE_ERR_RUNTIME for
 * errors while running, TILE_ERR_NOMEM. */
tile_status interp_launch(const ir_func *kernel, const interp_arg *args, int nargs,
                          diag_ctx *d, const interp_options *opts);

/* Checks args as interp_launch does and evaluates only the kernel's
 * grid(...) clause into grid[0..2] (tensor data are not read: device
 * pointers are fine).  For the runtime, which launches elsewhere. */
tile_status interp_eval_grid(const ir_func *kernel, const interp_arg *args, int nargs,
                             diag_ctx *d, int64_t grid[3]);

/* The argument checks of interp_launch alone (interp_args.c): every
 * problem reported through d; false if any. */
bool interp_check_args(diag_ctx *d, const ir_func *k, const interp_arg *args, int nargs);

/* Helpers for hosts: contiguous row-major strides for a shape (sizes < 1
 * count as 1; a stride past INT64_MAX saturates: only an empty tensor can
 * have one). */
void interp_contiguous_strides(interp_tensor *t);

#endif
