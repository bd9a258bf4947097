/* eval.h - the scalar semantics of every elementwise op, in one place.
 *
 * Constant folding (ir/pass_fold.c) and the interpreter (ir/interp*.c) both
 * evaluate through these, so a folded program and an interpreted one can
 * never disagree.  Values are ir_scalar by dtype: bool/i32/i64 in .i (i32
 * kept sign-extended), floats in .f holding a value already rounded to the
 * dtype (bf16/f16 values are exactly representable).  16-bit float ops
 * compute in f32 and round (docs/language.md, "Numerics"). */
#ifndef TILE_EVAL_H
#define TILE_EVAL_H

#include "ir.h"

/* Unary elementwise ops and CAST.  `in` is the operand dtype, `out` the
 * result dtype (equal to `in` except for CAST). */
tile_status ir_eval_unary(ir_opcode op, ir_dtype in, ir_dtype out, ir_scalar x, ir_scalar *r);

/* Binary elementwise ops (ADD..SHR, CMP_*).  Both operands have dtype `in`;
 * the result has dtype `in`, or bool for comparisons.  Integer DIV/REM by
 * zero returns TILE_ERR_RUNTIME and leaves *r unchanged. */
tile_status ir_eval_binary(ir_opcode op, ir_dtype in, ir_scalar x, ir_scalar y, ir_scalar *r);

/* FMA: a*b+c rounded once (in f32, then to a 16-bit `in`); floats only. */
tile_status ir_eval_ternary(ir_opcode op, ir_dtype in, ir_scalar x, ir_scalar y, ir_scalar z,
                            ir_scalar *r);

#endif
