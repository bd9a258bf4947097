/* ir.h - the tile IR: typed SSA over tiles with structured control flow.
 *
 * Shape of the IR
 *   ir_module  - every function of one compilation, plus its arena and diags.
 *   ir_func    - a kernel (entry point, has a grid block) or an fn (inlined).
 *   ir_block   - a list of ops with block arguments.  A function body is one
 *                block; structured ops (for/while/if) own one block per region.
 *                There are no branches: control flow is the nesting itself.
 *   ir_op      - opcode + operands + results + regions + attributes.
 *   ir_value   - an SSA value: an op result or a block argument.
 *
 * Types: every value is a tile (dtype + static shape; rank 0 is a scalar) or
 * a tensor (a kernel parameter: pointer + dynamic sizes/strides, only usable
 * by load/store/atomic_add/tensor_dim).
 *
 * Invariants (checked by ir_verify): elementwise ops take operands of exactly
 * the result's shape (the front end inserts explicit broadcast/cast ops, so
 * nothing below it re-derives broadcasting or promotion); every block ends in
 * its terminator; a value is used only in the block that defines it or in
 * blocks nested inside it.
 *
 * Room for the scheduled IR: every value carries a `layout` (NULL in tile
 * IR); scheduling adds layout attributes and its own ops (shared-memory
 * buffers, async copies, barriers) to the same table, so the printer,
 * verifier and interpreter keep working on scheduled IR.
 *
 * One op table (IR_OPS below) is shared by the printer, reader, verifier,
 * passes and interpreter: adding an op starts there, with its effects and
 * attributes declared in its flags. */
#ifndef TILE_IR_H
#define TILE_IR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "support/arena.h"
#include "support/diag.h"
#include "layout.h"
#include "support/tile_status.h"

#define IR_MAX_RANK 6
#define IR_MAX_NUMEL (1 << 24) /* elements of one tile (docs/language.md) */

typedef enum ir_dtype {
    IR_BOOL,
    IR_I32,
    IR_I64,
    IR_F16,
    IR_BF16,
    IR_F32,
    IR_DTYPE_COUNT
} ir_dtype;

typedef enum ir_type_kind { IR_TY_TILE, IR_TY_TENSOR } ir_type_kind;

typedef struct ir_type {
    ir_type_kind kind;
    ir_dtype dtype;
    int rank;                       /* tile: 0 = scalar; tensor: number of dims */
    int64_t shape[IR_MAX_RANK];     /* tile only: static sizes, each >= 1,
                                       at most IR_MAX_NUMEL elements in all */
    const ir_layout *layout;        /* scheduled IR, tiles of rank >= 1:
                                       interned (layout.h); NULL before */
} ir_type;

/* A compile-time scalar.  Which member is live follows the dtype: bool and
 * integers use .i, floats use .f (already rounded to the dtype). */
typedef union ir_scalar {
    int64_t i;
    double f;
} ir_scalar;

typedef struct ir_op ir_op;
typedef struct ir_block ir_block;
typedef struct ir_func ir_func;
typedef struct ir_module ir_module;

/* One operand slot, linked into the use list of the value it holds.  Every
 * op has one per operand (op->operand_uses[i] for op->operands[i]); the
 * builder and the editing functions below keep the lists exact, so operands
 * are only ever changed through them (the verifier checks the lists). */
typedef struct ir_use {
    ir_op *user;
    int index;                  /* user->operands[index] is the value */
    struct ir_use *prev, *next; /* the value's use list, in no set order */
} ir_use;

typedef struct ir_value {
    int id;              /* unique within the module; the printer renumbers */
    ir_type type;
    ir_op *def;          /* defining op, or NULL for a block argument */
    ir_block *owner;     /* block of a block argument, else NULL */
    int index;           /* result index in def, or argument index in owner */
    const char *name;    /* source name hint ("acc", "m_i"), may be NULL */
    ir_use *uses;        /* first use; NULL when unused */
} ir_value;

/* Op flags: structure, memory effects and attributes, all declared per op
 * in IR_OPS so that passes ask the table instead of keeping opcode lists.
 *
 * Effects.  An op is exactly one of: IR_PURE (its results depend only on
 * its operands and attributes; CSE may merge it, DCE may drop it when its
 * results are unused); an op with declared effects (IR_MEM_READ,
 * IR_MEM_WRITE, IR_SIDE_EFFECT); a structured op whose effects are those of
 * its regions (IR_REGION_EFFECTS); or a terminator.  IR_MAY_FAIL marks ops
 * that may stop the launch with a runtime error (ir_op_may_fail says
 * whether a given one can): DCE keeps them although their results are
 * unused.  tests/test_ir.c checks that every op is classified.
 *
 * Attributes.  Which ir_attr fields an op uses, and how the text form shows
 * them (docs/ir.md); ir_attr_equal/hash/copy compare, hash and copy exactly
 * these, and the printer and reader follow them. */
enum {
    IR_PURE = 1 << 0,           /* no effects */
    IR_COMMUTATIVE = 1 << 1,
    IR_TERMINATOR = 1 << 2,
    IR_ELEMENTWISE = 1 << 3,    /* operands (except SELECT's cond dtype) match result shape */
    IR_CMP = 1 << 4,            /* elementwise, result bool */
    IR_FLOAT_ONLY = 1 << 5,     /* transcendental: float operands only */
    /* effects */
    IR_MEM_READ = 1 << 6,       /* reads tensor memory (ordered after earlier writes) */
    IR_MEM_WRITE = 1 << 7,      /* writes tensor memory */
    IR_SIDE_EFFECT = 1 << 8,    /* observable otherwise (print, assert, call): never
                                   removed, merged or reordered across effects */
    IR_REGION_EFFECTS = 1 << 9, /* effects are those of the ops in its regions */
    IR_MAY_FAIL = 1 << 10,      /* may raise a runtime error (see ir_op_may_fail) */
    /* attributes */
    IR_A_CVAL = 1 << 16,        /* attr.cval, by result dtype: `const 1.5` */
    IR_A_INDEX = 1 << 17,       /* attr.i after the operands: `program_id 0`, `tensor_dim %x, 1` */
    IR_A_AXIS = 1 << 18,        /* attr.i as `axis=N` */
    IR_A_PERM = 1 << 19,        /* attr.perm[0..result rank) as `perm=[1,0]` */
    IR_A_LABEL = 1 << 20,       /* attr.str before the operands: `print "x=", %a` */
    IR_A_MESSAGE = 1 << 21,     /* attr.str after the operands: `assert %c, "msg"` */
    IR_A_CALLEE = 1 << 22,      /* attr.callee: `call @f(%a)` */
    IR_A_MEMFLAGS = 1 << 23,    /* attr.i mask/other bits, shown by the memory syntax */
    IR_A_SLICE = 1 << 24,       /* attr.start, attr.step after axis=: `start=S, step=T` */
};
#define IR_EFFECT_FLAGS (IR_MEM_READ | IR_MEM_WRITE | IR_SIDE_EFFECT | IR_REGION_EFFECTS)
#define IR_ATTR_FLAGS                                                              \
    (IR_A_CVAL | IR_A_INDEX | IR_A_AXIS | IR_A_PERM | IR_A_LABEL | IR_A_MESSAGE |  \
     IR_A_CALLEE | IR_A_MEMFLAGS | IR_A_SLICE)

/* X(ENUM, "name", noperands (-1 = variadic), nresults (-1 = variadic), flags)
 *
 * Operand and attribute conventions (attr fields in ir_attr):
 *   CONST        () -> tile; attr.cval, splat to the result shape
 *   ARANGE       () -> i32[n]; values 0..n-1 (n = result shape[0])
 *   BROADCAST    (x) -> result shape; numpy rules, right aligned, rank may grow
 *   RESHAPE      (x) -> same element count, row-major order
 *   TRANS        (x) -> permuted dims; attr.perm[i] = source dim of result dim i
 *   CAST         (x) -> same shape, result dtype; float->int truncates toward 0,
 *                       to bf16/f16 rounds to nearest even; to bool is x != 0
 *   unary/binary elementwise: see docs/language.md for exact semantics
 *   SELECT       (cond bool, a, b) -> where(cond, a, b)
 *   REDUCE_*     (x) -> x without dim attr.axis
 *   CUMSUM       (x) -> inclusive prefix sum along attr.axis
 *   SCAN         (x_0..x_{k-1}) -> (r_0..r_{k-1}); inclusive prefix scan along
 *                attr.axis with a user combine: region 0 has args (a_0..a_{k-1},
 *                b_0..b_{k-1}), rank-0 tiles of the operands' dtypes, and ends
 *                in YIELD(c_0..c_{k-1}) of the same types.  All x_i have one
 *                shape; r_i has x_i's type.  Along each line, r[0] = x[0] and
 *                r[t] = combine(r[t-1], x[t]) (the interpreter's order; the
 *                combine is meant to be associative, so others may regroup).
 *                Pure (CSE leaves it alone: it has a region); IR_MAY_FAIL
 *                because ir_op_may_fail counts a combine that may fail, has
 *                an effect or reads memory, and DCE then keeps the scan.
 *   DOT          (a[M,K], b[K,N] [, acc[M,N]]) -> [M,N]; float inputs accumulate
 *                in f32 (result f32), i32 inputs in i32; k runs 0..K-1 in order
 *   PROGRAM_ID   () -> i32 scalar; attr.axis in 0..2
 *   NUM_PROGRAMS () -> i32 scalar; attr.axis in 0..2
 *   TENSOR_DIM   (tensor) -> i32 scalar size of dim attr.axis
 *   LOAD         (tensor, idx_0..idx_{r-1} [, mask] [, other]) -> tile
 *                attr.i bit0 = has mask, bit1 = has other.  Orthogonal
 *                indexing: result shape = concat of the idx shapes (scalars
 *                add no dims).  An element whose index is out of [0, dim) in
 *                any dim, or whose mask is false, reads `other` (default 0).
 *                mask/other have the result shape (broadcast by the front end).
 *   STORE        (tensor, idx..., value [, mask]); attr.i bit0 = has mask.
 *                Out-of-range or masked elements are not written; a NaN is
 *                written as the canonical quiet NaN (sign and payload are
 *                not part of a result).  Only `out` tensors are written.
 *   ATOMIC_ADD   like STORE, adds value atomically (f32, i32).
 *   FOR          (lo, hi, step, init...) -> carried...; region 0 = body with
 *                args (iv i32, carried...), ends in YIELD(carried...).
 *                Runs iv = lo, lo+step, ... while iv < hi; a step <= 0
 *                is a runtime error (even when lo >= hi).
 *   WHILE        (init...) -> carried...; region 0 = cond (args: carried),
 *                ends in CONDITION(bool scalar); region 1 = body (args:
 *                carried), ends in YIELD(carried...).
 *   IF           (cond bool scalar) -> results...; region 0 then, region 1
 *                else, each ends in YIELD(results...).
 *   CALL         (args...) -> results...; attr.callee
 *   RETURN       (values...) terminator of a function body
 *   PRINT        (values...) attr.str = label; interpreter prints them
 *   ASSERT       (cond bool scalar) attr.str = message; a false cond stops the
 *                launch with a runtime error.  An effect: never removed or
 *                merged by DCE/CSE (canonicalize drops one whose cond is a
 *                constant true).
 *
 *   Added for issue 5 (tile operations); the codegen lowers each exactly so:
 *   SIN COS ERF LOG1P EXPM1 (x) -> float only; f32 as the C library's sinf,
 *                cosf, erff, log1pf, expm1f; bf16/f16 compute in f32 on the
 *                exact widened value and round once to nearest even.
 *   FLOOR CEIL ROUND (x) -> float only; floorf, ceilf, and ROUND = rintf in
 *                the default mode: to nearest, ties to EVEN (2.5 -> 2,
 *                -0.5 -> -0.0); exact in every dtype (no rounding needed),
 *                NaN/inf/-0.0 pass through.
 *   POW          (x, y) -> float only; powf(x, y) (C99 Annex F special
 *                cases: pow(x, 0) = 1 even for NaN x, pow(1, y) = 1,
 *                pow(-8, 1/3) = NaN); 16-bit: f32 then round.
 *   FMA          (a, b, c) -> float only; fmaf(a, b, c): a*b+c with ONE
 *                rounding in f32 (never split into mul+add); bf16/f16: the
 *                f32 fma then one rounding to the 16-bit dtype.
 *   SLICE        (x) -> x with dim attr.i cut: result[.., i, ..] =
 *                x[.., attr.start + i*attr.step, ..] for i < result.shape[i];
 *                attr.start >= 0, attr.step >= 1, the last index read is
 *                < x.shape[attr.i]; other dims and the dtype unchanged.
 *   CONCAT       (a, b) -> a then b along dim attr.i (same dtype, other dims
 *                equal; result dim = the sum).
 *   ARGMAX ARGMIN (x) -> i32, x without dim attr.i: the index along that dim
 *                of the element reduce.max/min picks: the FIRST (lowest
 *                index) extreme value, where a NaN is more extreme than any
 *                number (the first NaN wins) and +0.0 > -0.0.  So
 *                x[argmax] is bit-identical to reduce.max(x).  Any numeric
 *                dtype (not bool).
 *   SORT         (x) -> (values, indices i32), both x's shape: each line
 *                along attr.i sorted ascending, STABLY (equal keys keep
 *                their index order); indices[.., t, ..] is the position in
 *                x of values[.., t, ..].  The order is total: -inf < ..
 *                < -0.0 < +0.0 < .. < +inf < NaN, every NaN equal (so NaNs
 *                come last, in index order).  Any numeric dtype (not bool).
 *   TOPK         (x) -> (values, indices i32), x's shape with dim attr.i
 *                cut to k (1 <= k <= x's size there, the result's): the
 *                first k of the stable DESCENDING order (same total order:
 *                NaNs first; ties: lower index first).  k = size is the
 *                descending sort (`sort(x, descending: true)`).
 *   EXPAND_DIMS  (x) -> x with a dim of size 1 inserted at attr.i (x[:, None]
 *                is expand_dims axis 1); its own op, not a reshape, so the
 *                scheduled IR can give x the slice layout of the result.
 *   CONVERT_LAYOUT (x) -> x with another layout (scheduled IR only); the one
 *                place where data moves between threads to change layout.
 *
 *   Shared memory and asynchronous copies (scheduled IR only; inserted by
 *   compiler/sched_pipeline.c, docs/ir.md "Software pipelining").  A tile
 *   with a #shared layout lives in shared memory: it is a buffer, never
 *   registers, and only these ops, TRANS, DOT's operands 0/1 and
 *   CONVERT_LAYOUT use one (a rank-2 view converted to a register layout
 *   is read from shared memory: the staged load's register copy).
 *   LOCAL_ALLOC  () -> T[S,R,C]#shared: a buffer of S slots of R x C
 *                elements for the whole kernel (codegen places it below
 *                the per-op scratch).  Side effect: never merged or dropped.
 *   LOCAL_VIEW   (buf T[S,R,C]#shared, slot i32) -> T[R,C]#shared: slot
 *                `slot` of buf (an address: pure).
 *   ASYNC_COPY   (dst T[R,C]#shared, pred bool, tensor, idx_0..idx_{r-1})
 *                -> T[R,C]#blocked: starts copying tensor[idx...] (LOAD's
 *                indexing; out-of-range elements are 0) into dst when pred
 *                holds.  The result is no value: its layout says which
 *                thread copies which elements.  The copy is complete after
 *                the ASYNC_WAIT that retires its group, visible to the other
 *                threads after the BARRIER that follows.
 *   ASYNC_COMMIT () closes the group of the copies this thread started.
 *   ASYNC_WAIT   () waits until at most attr.i groups are still in flight.
 *   BARRIER      () every thread of the block arrives before any goes on;
 *                orders shared-memory accesses across threads.
 */
#define IR_OPS(X)                                                          \
    X(CONST, "const", 0, 1, IR_PURE | IR_A_CVAL)                           \
    X(ARANGE, "arange", 0, 1, IR_PURE)                                     \
    X(BROADCAST, "broadcast", 1, 1, IR_PURE)                               \
    X(RESHAPE, "reshape", 1, 1, IR_PURE)                                   \
    X(TRANS, "trans", 1, 1, IR_PURE | IR_A_PERM)                           \
    X(CAST, "cast", 1, 1, IR_PURE | IR_ELEMENTWISE)                        \
    X(NEG, "neg", 1, 1, IR_PURE | IR_ELEMENTWISE)                          \
    X(NOT, "not", 1, 1, IR_PURE | IR_ELEMENTWISE)                          \
    X(ABS, "abs", 1, 1, IR_PURE | IR_ELEMENTWISE)                          \
    X(EXP, "exp", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)          \
    X(EXP2, "exp2", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)        \
    X(LOG, "log", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)          \
    X(LOG2, "log2", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)        \
    X(SQRT, "sqrt", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)        \
    X(RSQRT, "rsqrt", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)      \
    X(SIGMOID, "sigmoid", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)  \
    X(TANH, "tanh", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)        \
    X(ADD, "add", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_COMMUTATIVE)         \
    X(SUB, "sub", 2, 1, IR_PURE | IR_ELEMENTWISE)                          \
    X(MUL, "mul", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_COMMUTATIVE)         \
    X(DIV, "div", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_MAY_FAIL)            \
    X(REM, "rem", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_MAY_FAIL)            \
    X(MIN, "min", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_COMMUTATIVE)         \
    X(MAX, "max", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_COMMUTATIVE)         \
    X(AND, "and", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_COMMUTATIVE)         \
    X(OR, "or", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_COMMUTATIVE)           \
    X(XOR, "xor", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_COMMUTATIVE)         \
    X(SHL, "shl", 2, 1, IR_PURE | IR_ELEMENTWISE)                          \
    X(SHR, "shr", 2, 1, IR_PURE | IR_ELEMENTWISE)                          \
    X(CMP_EQ, "cmp.eq", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_CMP | IR_COMMUTATIVE) \
    X(CMP_NE, "cmp.ne", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_CMP | IR_COMMUTATIVE) \
    X(CMP_LT, "cmp.lt", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_CMP)           \
    X(CMP_LE, "cmp.le", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_CMP)           \
    X(CMP_GT, "cmp.gt", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_CMP)           \
    X(CMP_GE, "cmp.ge", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_CMP)           \
    X(SELECT, "select", 3, 1, IR_PURE | IR_ELEMENTWISE)                    \
    X(REDUCE_SUM, "reduce.sum", 1, 1, IR_PURE | IR_A_AXIS)                 \
    X(REDUCE_MAX, "reduce.max", 1, 1, IR_PURE | IR_A_AXIS)                 \
    X(REDUCE_MIN, "reduce.min", 1, 1, IR_PURE | IR_A_AXIS)                 \
    X(CUMSUM, "cumsum", 1, 1, IR_PURE | IR_A_AXIS)                         \
    X(SCAN, "scan", -1, -1, IR_PURE | IR_MAY_FAIL | IR_A_AXIS)             \
    X(DOT, "dot", -1, 1, IR_PURE)                                          \
    X(PROGRAM_ID, "program_id", 0, 1, IR_PURE | IR_A_INDEX)                \
    X(NUM_PROGRAMS, "num_programs", 0, 1, IR_PURE | IR_A_INDEX)            \
    X(TENSOR_DIM, "tensor_dim", 1, 1, IR_PURE | IR_A_INDEX)                \
    X(LOAD, "load", -1, 1, IR_MEM_READ | IR_A_MEMFLAGS)                    \
    X(STORE, "store", -1, 0, IR_MEM_WRITE | IR_A_MEMFLAGS)                 \
    X(ATOMIC_ADD, "atomic_add", -1, 0, IR_MEM_READ | IR_MEM_WRITE | IR_A_MEMFLAGS) \
    X(FOR, "for", -1, -1, IR_REGION_EFFECTS | IR_MAY_FAIL)                 \
    X(WHILE, "while", -1, -1, IR_REGION_EFFECTS)                           \
    X(IF, "if", 1, -1, IR_REGION_EFFECTS)                                  \
    X(YIELD, "yield", -1, 0, IR_TERMINATOR)                                \
    X(CONDITION, "condition", 1, 0, IR_TERMINATOR)                         \
    X(CALL, "call", -1, -1, IR_SIDE_EFFECT | IR_A_CALLEE)                  \
    X(RETURN, "return", -1, 0, IR_TERMINATOR)                              \
    X(PRINT, "print", -1, 0, IR_SIDE_EFFECT | IR_A_LABEL)                  \
    X(ASSERT, "assert", 1, 0, IR_SIDE_EFFECT | IR_MAY_FAIL | IR_A_MESSAGE) \
    X(SIN, "sin", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)          \
    X(COS, "cos", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)          \
    X(FLOOR, "floor", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)      \
    X(CEIL, "ceil", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)        \
    X(ROUND, "round", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)      \
    X(ERF, "erf", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)          \
    X(LOG1P, "log1p", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)      \
    X(EXPM1, "expm1", 1, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)      \
    X(POW, "pow", 2, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)          \
    X(FMA, "fma", 3, 1, IR_PURE | IR_ELEMENTWISE | IR_FLOAT_ONLY)          \
    X(SLICE, "slice", 1, 1, IR_PURE | IR_A_AXIS | IR_A_SLICE)              \
    X(CONCAT, "concat", 2, 1, IR_PURE | IR_A_AXIS)                         \
    X(ARGMAX, "argmax", 1, 1, IR_PURE | IR_A_AXIS)                         \
    X(ARGMIN, "argmin", 1, 1, IR_PURE | IR_A_AXIS)                         \
    X(SORT, "sort", 1, 2, IR_PURE | IR_A_AXIS)                             \
    X(TOPK, "topk", 1, 2, IR_PURE | IR_A_AXIS)                             \
    X(EXPAND_DIMS, "expand_dims", 1, 1, IR_PURE | IR_A_AXIS)               \
    X(CONVERT_LAYOUT, "convert_layout", 1, 1, IR_PURE)                     \
    /* scheduled IR only: shared-memory buffers and asynchronous copies */ \
    X(LOCAL_ALLOC, "local_alloc", 0, 1, IR_SIDE_EFFECT)                    \
    X(LOCAL_VIEW, "local_view", 2, 1, IR_PURE)                             \
    X(ASYNC_COPY, "async_copy", -1, 1, IR_MEM_READ | IR_MEM_WRITE)         \
    X(ASYNC_COMMIT, "async_commit", 0, 0, IR_SIDE_EFFECT)                  \
    X(ASYNC_WAIT, "async_wait", 0, 0, IR_SIDE_EFFECT | IR_A_INDEX)         \
    X(BARRIER, "barrier", 0, 0, IR_SIDE_EFFECT)

typedef enum ir_opcode {
#define X(e, n, no, nr, fl) IR_OP_##e,
    IR_OPS(X)
#undef X
    IR_OP_COUNT
} ir_opcode;

typedef struct ir_op_info {
    const char *name;
    int noperands; /* -1: variadic */
    int nresults;  /* -1: variadic */
    unsigned flags;
} ir_op_info;

extern const ir_op_info ir_op_table[IR_OP_COUNT];

enum { IR_LOAD_HAS_MASK = 1, IR_LOAD_HAS_OTHER = 2 };
enum { IR_SCAN_MAX_OPERANDS = 16 };   /* k of one SCAN */

/* The attribute fields; which of them an op uses is declared by the IR_A_*
 * flags of its row in IR_OPS (the rest are zero after ir_attr_copy and
 * ignored by ir_attr_equal/ir_attr_hash, whatever they hold). */
typedef struct ir_attr {
    int64_t i;               /* IR_A_INDEX, IR_A_AXIS, IR_A_MEMFLAGS */
    ir_scalar cval;          /* IR_A_CVAL (dtype = result dtype) */
    int perm[IR_MAX_RANK];   /* IR_A_PERM: entries [0, result rank) */
    int64_t start, step;     /* IR_A_SLICE: first index and stride along attr.i */
    const char *str;         /* IR_A_LABEL, IR_A_MESSAGE */
    ir_func *callee;         /* IR_A_CALLEE */
} ir_attr;

struct ir_op {
    ir_opcode code;
    int noperands, nresults, nblocks;
    ir_value **operands;     /* read freely; change only through ir_op_set_operand & co */
    ir_use *operand_uses;    /* noperands: the use record of each operand slot */
    ir_value **results;
    ir_block **blocks;       /* regions, one block each */
    ir_attr attr;
    src_loc loc;             /* where in the .tile source this op came from */
    ir_op *prev, *next;
    ir_block *parent;
};

struct ir_block {
    int nargs;
    ir_value **args;
    ir_op *first, *last;
    ir_op *parent;           /* op owning this region; NULL for a function body/grid */
    ir_func *func;
};

typedef enum ir_func_kind { IR_FUNC_KERNEL, IR_FUNC_FN } ir_func_kind;

/* One dimension of a tensor parameter: named (`M`), static (`64` or a const
 * like `D`), or both (a const name: then `size` is its value).  Dims with the
 * same name must agree at launch. */
typedef struct ir_dim {
    const char *name; /* NULL for a literal size */
    int64_t size;     /* >= 1 if known at compile time, else -1 */
} ir_dim;

typedef struct ir_param {
    const char *name;
    ir_type type;            /* IR_TY_TENSOR, or a scalar tile type */
    bool is_out;             /* tensor written by the kernel */
    ir_dim dims[IR_MAX_RANK];/* tensors: one per dim */
    src_loc loc;
} ir_param;

/* A compile-time constant a kernel was specialised with, kept for printing,
 * cache keys and --explain. */
typedef struct ir_const_binding {
    const char *name;
    const char *value;       /* printed form: "128", "true", "bf16", "causal" */
    bool was_auto;           /* chosen by the compiler, not the user */
    src_loc loc;             /* where the value was given (a -D, a default, the
                                `auto`); {0} when unknown (read from IR text) */
} ir_const_binding;

struct ir_func {
    const char *name;
    ir_func_kind kind;
    ir_module *module;
    int nparams;
    ir_param *params;        /* kernels: the ABI; fns: param names/types */
    ir_block *body;          /* args = one value per param */
    ir_block *grid;          /* kernels only: args = one value per param,
                                ends in YIELD(gx, gy, gz) of i32 scalars */
    int nresults;            /* fns: result types */
    ir_type *result_types;
    int nconsts;
    ir_const_binding *consts;
    src_loc loc;
    ir_func *next;
};

/* Tile IR has no layouts; scheduled IR (compiler/, before codegen/) has a
 * layout on every tile value of rank >= 1 and target attributes.  The
 * verifier enforces both. */
typedef enum ir_stage { IR_STAGE_TILE, IR_STAGE_SCHEDULED } ir_stage;

typedef struct ir_target_attrs {
    const char *arch;        /* "sm_90" (ir/target.h) */
    int num_warps;           /* block = 32 * num_warps threads */
    int smem_budget;         /* bytes of shared memory a block may use */
    int num_stages;          /* software pipeline slots (0: not pipelined yet) */
} ir_target_attrs;

struct ir_module {
    arena *mem;
    diag_ctx *diags;
    ir_func *first, *last;
    int next_value_id;
    ir_stage stage;
    ir_target_attrs target;  /* scheduled IR only */
    ir_layout_set layouts;   /* interned layouts of this module */
};

/* ---- types ------------------------------------------------------------- */
const char *ir_dtype_name(ir_dtype t);           /* "bf16" */
bool ir_dtype_from_name(const char *s, ir_dtype *out);
bool ir_dtype_is_float(ir_dtype t);
bool ir_dtype_is_int(ir_dtype t);                /* i32, i64 (not bool) */
int ir_dtype_size(ir_dtype t);                   /* bytes in memory */
ir_type ir_type_scalar(ir_dtype t);
ir_type ir_type_tile(ir_dtype t, int rank, const int64_t *shape);
ir_type ir_type_tensor(ir_dtype t, int rank);
bool ir_type_equal(const ir_type *a, const ir_type *b);  /* layouts too */
bool ir_type_same_shape(const ir_type *a, const ir_type *b);
/* Tiles: the element count (1 for scalars; 0 if a dim is < 1; INT64_MAX
 * when it does not fit).  Tensors: 1. */
int64_t ir_type_numel(const ir_type *t);
/* "f32[64,128]", "i32", "tensor<bf16,4>" into buf; returns buf. */
char *ir_type_str(const ir_type *t, char *buf, size_t size);
char *ir_shape_str(int rank, const int64_t *shape, char *buf, size_t size); /* "[64,128]" */
/* Rounds a double to what dtype can hold: floats to nearest even, once (a
 * double never rounds to bf16/f16 through f32); ints wrap; bool is v != 0. */
ir_scalar ir_scalar_round(ir_dtype t, double v);

/* ---- construction ------------------------------------------------------ */
ir_module *ir_module_new(arena *mem, diag_ctx *diags);
ir_func *ir_func_new(ir_module *m, const char *name, ir_func_kind kind, src_loc loc);
/* Appends a parameter; adds a block argument to body (and grid for kernels).
 * Returns the body's argument. */
ir_value *ir_func_add_param(ir_func *f, const ir_param *p);
void ir_func_set_results(ir_func *f, int n, const ir_type *types);
ir_func *ir_module_find(const ir_module *m, const char *name);
ir_block *ir_block_new(ir_func *f, int nargs, const ir_type *arg_types);
/* Creates region i of an inserted op (a block of the op's function with the
 * given arguments), stores it in op->blocks[i] and sets its parent to op.
 * Equivalent to ir_block_new + the two assignments.  NULL on OOM. */
ir_block *ir_op_new_region(ir_op *op, int i, int nargs, const ir_type *arg_types);
ir_value *ir_value_new(ir_module *m, ir_type type);

/* Insertion point: before `before`, or at the end of `block` when NULL. */
typedef struct ir_builder {
    ir_module *m;
    ir_func *f;
    ir_block *block;
    ir_op *before;
    src_loc loc;   /* stamped on every op built */
} ir_builder;

void ir_builder_at_end(ir_builder *b, ir_block *block);
void ir_builder_before(ir_builder *b, ir_op *op);

/* Generic: builds and inserts an op.  result_types may be NULL if nresults is
 * 0.  Regions are created empty (nblocks entries, NULL) for the caller to
 * fill with ir_block_new.  Returns NULL on OOM. */
ir_op *ir_build(ir_builder *b, ir_opcode code, int noperands, ir_value *const *operands,
                int nresults, const ir_type *result_types, int nblocks);

/* Convenience builders (NULL on OOM).  They do not insert implicit
 * broadcasts or casts: callers pass operands that already agree. */
ir_value *ir_const_int(ir_builder *b, ir_dtype t, int64_t v, int rank, const int64_t *shape);
ir_value *ir_const_float(ir_builder *b, ir_dtype t, double v, int rank, const int64_t *shape);
ir_value *ir_const_bool(ir_builder *b, bool v, int rank, const int64_t *shape);
ir_value *ir_unary(ir_builder *b, ir_opcode code, ir_value *x);
ir_value *ir_binary(ir_builder *b, ir_opcode code, ir_value *x, ir_value *y);
ir_value *ir_select(ir_builder *b, ir_value *c, ir_value *x, ir_value *y);
ir_value *ir_cast(ir_builder *b, ir_value *x, ir_dtype t);
ir_value *ir_broadcast(ir_builder *b, ir_value *x, int rank, const int64_t *shape);
ir_value *ir_reshape(ir_builder *b, ir_value *x, int rank, const int64_t *shape);
ir_value *ir_expand_dims(ir_builder *b, ir_value *x, int axis);

/* ---- editing (for passes) ---------------------------------------------- */
/* Is v the result of a CONST (a splat of one value)?  Then *out is it. */
bool ir_value_const(const ir_value *v, ir_scalar *out);
/* Unlinks op from its block; it keeps its operands (and their uses), so it
 * can be inserted elsewhere: this is a move.  To delete, use ir_op_erase. */
void ir_op_remove(ir_op *op);
/* Deletes op: unlinks it and drops the uses held by it and by every op in
 * its regions.  Its results should have no uses left. */
void ir_op_erase(ir_op *op);
void ir_op_insert_before(ir_op *pos, ir_op *op);
void ir_op_append(ir_block *blk, ir_op *op);
/* Operand edits that keep use lists exact. */
void ir_op_set_operand(ir_op *op, int i, ir_value *v);
bool ir_op_set_operands(ir_op *op, int n, ir_value *const *vs); /* false on OOM */
void ir_op_remove_operand(ir_op *op, int i);                    /* later ones shift down */
/* Removes result i of op / argument i of blk (both should be unused);
 * later ones shift down and are reindexed. */
void ir_op_remove_result(ir_op *op, int i);
void ir_block_remove_arg(ir_block *blk, int i);
int ir_value_num_uses(const ir_value *v);
/* Adds a value carried by the for loop `loop`: `init` becomes its last
 * operand, a new argument `arg` of its body holds it in each iteration,
 * `next(arg, ctx)` builds the value the body passes on (appended to the
 * body's yield) and the loop's new last result, returned, is the final
 * one.  NULL on OOM, or if next fails or loop is not a for with a yield. */
ir_value *ir_for_add_carried(ir_op *loop, ir_value *init, ir_value *(*next)(ir_value *arg, void *ctx),
                             void *ctx);
/* Replaces every use of `from` by an op inside `scope` (recursively) with
 * `to`, through from's use list. */
void ir_replace_uses(ir_block *scope, ir_value *from, ir_value *to);
void ir_replace_all_uses(ir_value *from, ir_value *to);
/* Is op inside blk (directly or in a region nested in it)? */
bool ir_op_is_inside(const ir_op *op, const ir_block *blk);

/* Walks ops in program order.  ir_walk visits an op before the ops in its
 * regions (pre-order), ir_walk_post after them (post-order).  `fn` may
 * erase or move the op it is given (the walk goes on with the op's original
 * successor; post-order: its regions are already walked) but no other op
 * of the same block. */
typedef void (*ir_walk_fn)(ir_op *op, void *ctx);
void ir_walk(ir_block *blk, ir_walk_fn fn, void *ctx);
void ir_walk_post(ir_block *blk, ir_walk_fn fn, void *ctx);

/* ---- cloning (clone.c) -------------------------------------------------- */
/* Source value -> copy, indexed by the source's id; grows as needed.
 * Zero-initialise, then ir_value_map_free.  A value not in the map stands
 * for itself (a value defined outside what is cloned). */
typedef struct ir_value_map {
    ir_value **to;
    int n;
    bool oom;
} ir_value_map;
bool ir_value_map_set(ir_value_map *map, const ir_value *from, ir_value *to);
ir_value *ir_value_map_get(const ir_value_map *map, ir_value *v);
void ir_value_map_free(ir_value_map *map);
/* Copies op (attributes, source location, name hints, layouts, regions) to
 * b's insertion point, its operands mapped through map; its results and
 * region arguments are added to map.  NULL on OOM. */
ir_op *ir_clone_op(ir_builder *b, const ir_op *op, ir_value_map *map);
/* Copies src as a new region of `parent` (an op of f), arguments and ops,
 * mapping as ir_clone_op.  The caller stores it in parent->blocks[i]. */
ir_block *ir_clone_block(ir_func *f, const ir_block *src, ir_op *parent, ir_value_map *map);
/* Copies f into m (the same or another module) as a new function named
 * `name` (f's name when NULL), appended at the end; calls keep their
 * callees.  NULL on OOM. */
ir_func *ir_clone_func(ir_module *m, const ir_func *f, const char *name);

/* ---- attributes and effects, generic over the op table (attr.c) -------- */
/* a and b have the same opcode: are the attributes it uses equal?  Constants
 * compare bit for bit (-0.0 is not 0.0, NaNs by payload); strings by
 * content; perm entries up to the result rank. */
bool ir_attr_equal(const ir_op *a, const ir_op *b);
/* Mixes the attributes op uses into h (consistent with ir_attr_equal). */
uint64_t ir_attr_hash(const ir_op *op, uint64_t h);
/* Copies the attributes src's opcode uses; dst's other fields become zero. */
void ir_attr_copy(ir_op *dst, const ir_op *src);
/* Can this op stop the launch with a runtime error?  IR_MAY_FAIL ops, less
 * those whose operands prove they cannot (a float div, an integer one by a
 * constant without zeros, a for with a positive constant step); a scan
 * whose combine has an effect, reads memory or may fail counts as failing. */
bool ir_op_may_fail(const ir_op *op);
/* Must op stay although nothing uses its results?  A memory write, a side
 * effect, a possible runtime error, or such an op inside its regions (a
 * while loop always: it might not terminate).  Reads alone are not. */
bool ir_op_has_effect(const ir_op *op);

/* ---- printer, verifier ------------------------------------------------- */
/* Stable textual form (golden tests depend on it; see docs/architecture.md).
 * A scheduled module starts with its attributes (ir_print_module_attrs). */
void ir_print_module(FILE *out, const ir_module *m);
void ir_print_func(FILE *out, const ir_func *f);
/* The module line of scheduled IR, `module scheduled, arch=sm_90,
 * num_warps=4, smem_budget=N, num_stages=S` and a newline; nothing for
 * tile IR. */
void ir_print_module_attrs(FILE *out, const ir_module *m);

/* Checks all invariants; reports "internal error: ir verifier (after PASS): ..."
 * diagnostics.  Returns TILE_OK or TILE_ERR_INTERNAL. */
tile_status ir_verify_module(ir_module *m, const char *after_pass);
/* The same checks on IR read from text, where a failure is the input's
 * fault: "invalid IR: in @f: ..." at the op's location, TILE_ERR_SEMA. */
tile_status ir_verify_input(ir_module *m);

/* ---- reader (parse.c) -------------------------------------------------- */
/* Reads the text form that ir_print_module writes (docs/ir.md) and appends
 * its functions to m, then verifies them (ir_verify_input).  `path` names
 * the text in diagnostics (the text is registered with m->diags, so errors
 * show the line and a caret).  Returns TILE_OK, TILE_ERR_SYNTAX (a located
 * error in the text), TILE_ERR_SEMA (well-formed text, invalid IR) or
 * TILE_ERR_NOMEM.  On failure m may hold a partly read function. */
tile_status ir_parse_module(ir_module *m, const char *path, const char *text, size_t len);

#endif
