/* interp_impl.h - private to the interpreter (ir/interp*.c).
 *
 * Tile storage: every float dtype (f32, bf16, f16) is a float array holding
 * values the dtype can represent; bool, i32 and i64 are int64_t arrays (i32
 * sign-extended, bool 0/1).  Two storage kinds keep the per-op loops few
 * and tight; 16-bit results are rounded where they are produced.
 *
 * The compute kernels below work on flat row-major buffers and know nothing
 * about values, slots or control flow (that is ir/interp.c).  They return
 * TILE_OK, TILE_ERR_RUNTIME (integer division by zero) or TILE_ERR_INTERNAL
 * (an op/dtype combination the verifier rejects). */
#ifndef TILE_INTERP_IMPL_H
#define TILE_INTERP_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir.h"

/* Bytes per element of a tile of dtype t in interpreter storage. */
static inline size_t iop_elem_size(ir_dtype t) { return ir_dtype_is_float(t) ? sizeof(float) : sizeof(int64_t); }

/* CAST and unary elementwise ops: r[i] = op(x[i]). */
tile_status iop_unary(ir_opcode op, ir_dtype in, ir_dtype out, int64_t n, const void *x, void *r);
/* Binary elementwise ops and comparisons; both operands of dtype `in`. */
tile_status iop_binary(ir_opcode op, ir_dtype in, int64_t n, const void *a, const void *b,
                       void *r);
/* r[i] = c[i] ? a[i] : b[i]. */
void iop_select(ir_dtype t, int64_t n, const int64_t *c, const void *a, const void *b, void *r);

/* r[i] = fma(a[i], b[i], c[i]) rounded once to float dtype t. */
tile_status iop_fma(ir_dtype t, int64_t n, const void *a, const void *b, const void *c, void *r);
/* SLICE along axis (rshape: the result's shape) and CONCAT of a, b along axis. */
void iop_slice(size_t esize, int rank, const int64_t *xshape, int axis, int64_t start,
               int64_t step, const void *x, const int64_t *rshape, void *r);
void iop_concat(size_t esize, int rank, const int64_t *ashape, const int64_t *bshape, int axis,
                const void *a, const void *b, void *r);
/* ARGMAX/ARGMIN over axis: r (the axis removed) gets i32 indices. */
tile_status iop_argext(ir_opcode op, ir_dtype t, int rank, const int64_t *shape, int axis,
                       const void *x, int64_t *r);

/* SORT (ascending) and TOPK (descending, the first k): each line along
 * axis sorted stably on (key, index); values has x's shape with the axis
 * cut to k, indices the same shape (i32 positions). */
tile_status iop_sort(bool descending, ir_dtype t, int rank, const int64_t *shape, int axis,
                     int64_t k, const void *x, void *values, int64_t *indices);
/* The total-order key of an f32 value for SORT/TOPK (NaN above +inf). */
int64_t iop_sort_key_f32(float x);

/* Splat of a constant (already in the dtype's storage form). */
void iop_splat(ir_dtype t, int64_t n, ir_scalar v, void *r);

/* Row-major copy of x (shape xshape, rank xrank) broadcast to rshape. */
void iop_broadcast(size_t esize, int xrank, const int64_t *xshape, const void *x, int rrank,
                   const int64_t *rshape, void *r);
/* r = x with dims permuted: result dim i is source dim perm[i]. */
void iop_transpose(size_t esize, int rank, const int64_t *xshape, const int *perm, const void *x,
                   void *r);

/* Reductions over `axis` of x (shape, rank); r has the axis removed. */
tile_status iop_reduce(ir_opcode op, ir_dtype t, int rank, const int64_t *shape, int axis,
                       const void *x, void *r);
tile_status iop_cumsum(ir_dtype t, int rank, const int64_t *shape, int axis, const void *x,
                       void *r);

/* c[M,N] = acc (or 0) + a[M,K] b[K,N], k ascending.  Float operands: f32
 * products and sums, result rounded to `out`.  Integers wrap in `out`. */
tile_status iop_dot(ir_dtype in, ir_dtype out, int64_t M, int64_t N, int64_t K, const void *a,
                    const void *b, const void *acc, void *c);


#endif
