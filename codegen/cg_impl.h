/* cg_impl.h - private to codegen/: the lowering context shared by the
 * cg_*.c files (one concern per file):
 *
 *   cg_kernel.c      the kernel entry, ABI parameters, op dispatch, control flow
 *   cg_layout.c      which element each register of a thread holds
 *   cg_scalar.c      the scalar op table (elementwise ops and casts)
 *   cg_shared.c      generic moves through shared memory: broadcast, reshape,
 *                    expand_dims, trans, convert_layout, reductions, cumsum
 *   cg_index.c       slice, concat, argmax/argmin, associative_scan
 *   cg_math.c        sin cos erf log1p expm1 pow (f64 software routines)
 *   cg_dot.c         dot: the generic SIMT path, mma.sync for bf16/f16
 *   cg_wgmma.c       dot: Hopper's wgmma.mma_async (mma v3 layouts, sm_90a)
 *   cg_memory.c      load, store, atomic_add (predicated, vectorised)
 *   cg_effects.c     assert and print
 *   cg_emit.c        target machine, O3, PTX text
 *
 * Model: a tile value of rank >= 1 is, in every thread, an array of LLVM
 * scalars ("registers"), one per element the thread holds under the value's
 * layout (cg_layout.c); registers whose coordinates fall outside the tile
 * are padding: don't-care values, never stored, never mixed into a real
 * element.  A rank-0 value is one register held by every thread.  Control
 * flow in the tile IR is uniform across the block (conditions are scalars),
 * so barriers may appear anywhere in straight-line op lowering. */
#ifndef TILE_CG_IMPL_H
#define TILE_CG_IMPL_H

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "codegen.h"
#include "ir/ir.h"

#define CG_TRIPLE "nvptx64-nvidia-cuda"
#define CG_MAX_REGS 4096 /* registers of one tile in one thread */
#define CG_MAX_ASM_ARGS 160 /* inputs of one inline asm */

typedef struct cg_tensor {
    LLVMValueRef ptr;                  /* ptr addrspace(1) to element [0,...] */
    LLVMValueRef size[IR_MAX_RANK];    /* i64 */
    LLVMValueRef stride[IR_MAX_RANK];  /* i64, in elements */
    int64_t static_size[IR_MAX_RANK];  /* >= 1 when known at compile time */
    int param;                         /* index in ir_func.params */
} cg_tensor;

typedef struct cg_val {
    bool lowered;
    bool is_tensor;
    cg_tensor tensor;
    int nregs;
    LLVMValueRef *regs;
    int wg_group;           /* > 0: the result of wgmma group wg_group - 1, not yet waited for */
} cg_val;

/* Per-thread register map of one (shape, layout): nregs registers, each with
 * rank coordinates (i32 values; constants where possible) and a validity
 * flag (i1; NULL = always valid).  Cached per layout and shape. */
typedef struct cg_map {
    const ir_layout *layout;
    int rank;
    int64_t shape[IR_MAX_RANK];
    int nregs;
    LLVMValueRef *coord;   /* nregs * rank */
    LLVMValueRef *valid;   /* nregs, entries may be NULL (always valid) */
    int vec;               /* consecutive registers along the last dim */
    /* Replicated layouts (slices of mma, [M,1] mma tiles): own[k] (i1; NULL
     * entry = true) marks the one copy of an element that is written to
     * memory; own itself is NULL when nothing is replicated. */
    LLVMValueRef *own;
    /* Blocked maps: coord = cbase[d] + coff[k * rank + d] (one run-time base
     * per dim), for address arithmetic that keeps the constant apart. */
    LLVMValueRef cbase[IR_MAX_RANK];
    int64_t *coff;
    struct cg_map *next;
} cg_map;

#define CG_WG_MAX_PENDING 8

typedef struct cg_ctx {
    ir_func *f;
    ir_module *m;
    const ir_target *target;
    arena *mem;
    diag_ctx *diags;
    tile_status status;     /* first error; lowering stops at it */

    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTargetMachineRef tm;
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;     /* allocas and per-thread constants go here */
    LLVMValueRef entry_end;      /* insert point: the entry block's terminator */
    LLVMValueRef status_ptr;     /* hidden ABI parameter */
    LLVMValueRef smem;           /* dynamic shared memory, addrspace(3) */
    /* Layout of it: the LOCAL_ALLOC buffers (cg_async.c) in [0, persist),
     * then the per-op scratch (cg_shared.c), which `scratch` points to. */
    LLVMValueRef scratch;
    int64_t persist;
    int64_t *buf_off;            /* by value id: offset of a LOCAL_ALLOC buffer */
    bool buffers_live;           /* the scratch sits above the buffers (cg_async.c) */
    int smem_bytes;              /* high-water mark: persist + scratch */

    int num_warps, nthreads;
    /* Bisecting a wrong result on the GPU: TILE_CG_GENERIC_DOT=1 turns off
     * mma.sync, TILE_CG_NO_VECTOR=1 the vector global accesses. */
    bool no_mma, no_vector;
    uint64_t vector_ok;          /* cg_options.vector_ok: by parameter index */
    /* The module has mma v3 (wgmma) layouts: emitted for sm_90a, with the
     * dynamic shared memory aligned to 1024 bytes at run time (the 128-byte
     * swizzle pattern of wgmma's descriptors starts at such a boundary). */
    bool wgmma;
    /* wgmma groups in flight (cg_wgmma.c): a dot's wait is deferred to the
     * first use of its result, so that the next dot and the ops in between
     * run while it computes (TILE_WGMMA_DEFER=0: wait at once). */
    bool wg_defer;
    int wg_committed;            /* groups committed so far */
    int wg_done;                 /* groups 0 .. wg_done - 1 are known complete */
    int wg_pending[CG_WG_MAX_PENDING];  /* value ids */
    int wg_npending;
    /* The first instruction of the fence of the oldest group in flight: a
     * later dot computes its descriptors and packs A before it (ptxas
     * serialises the groups when a non-wgmma instruction defines an input
     * of a wgmma while one is in flight: C7513). */
    LLVMValueRef wg_anchor;
    /* Loop-carried values a deferred wgmma read as A from registers: the
     * loop's next value of each is copied after the body's final wait
     * (cg_wgmma_copy_carried), else LLVM may write the next P into the
     * registers the product in flight reads. */
    const ir_value **wg_a_args;
    int wg_na, wg_cap;
    LLVMValueRef tid, lane, warp; /* i32, computed in the entry block */

    cg_val *vals;                /* by ir_value id */
    int nvals;
    cg_map *maps;

    cg_assert_info *asserts;     /* in order of status index */
    int nasserts, cap_asserts;
} cg_ctx;

/* ---- cg_kernel.c ---- */
void cg_error(cg_ctx *g, const ir_op *op, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
cg_val *cg_get(cg_ctx *g, const ir_value *v);
/* Registers of a result: fresh array of n entries, recorded for v. */
LLVMValueRef *cg_def(cg_ctx *g, const ir_value *v, int n);
/* The register of a rank-0 operand. */
LLVMValueRef cg_scalar_of(cg_ctx *g, const ir_value *v);
LLVMTypeRef cg_type(cg_ctx *g, ir_dtype t);      /* register type of a dtype */
LLVMTypeRef cg_mem_type(cg_ctx *g, ir_dtype t);  /* in memory (bool: i8) */
LLVMValueRef cg_i32(cg_ctx *g, int64_t v);
LLVMValueRef cg_i64(cg_ctx *g, int64_t v);
LLVMValueRef cg_intrinsic(cg_ctx *g, const char *name, LLVMTypeRef *overloads, int noverloads,
                          LLVMValueRef *args, int nargs);
LLVMValueRef cg_inline_asm(cg_ctx *g, LLVMTypeRef ret, const char *text, const char *constraints,
                           LLVMValueRef *args, int nargs, bool side_effects);
/* Starts a block that runs only when cond holds and returns the block to
 * continue in; call cg_end_if with it.  cond NULL: always (no branch). */
LLVMBasicBlockRef cg_begin_if(cg_ctx *g, LLVMValueRef cond);
void cg_end_if(cg_ctx *g, LLVMBasicBlockRef cont);
void cg_barrier(cg_ctx *g);
/* Lowers the ops of a region whose arguments are already bound (the scan's
 * combine, once per step). */
void cg_lower_block(cg_ctx *g, ir_block *blk);
LLVMValueRef cg_and(cg_ctx *g, LLVMValueRef a, LLVMValueRef b); /* NULL = true */
/* mma.sync's A fragment (four .b32 registers, bf16/f16 pairs) of row tile
 * rm and k-step ks, packed from A registers in the accumulator's shape
 * (P of flash attention; K columns): cg_dot.c's register path and
 * cg_wgmma.c's A-in-registers operand share it. */
void cg_pack_a_fragment(cg_ctx *g, const cg_val *av, int64_t K, int rm, int ks, LLVMValueRef *fa);
/* v, through a volatile mov: what is computed from it here is not hoisted
 * out of the loop around (a loop of 16 cp.async would otherwise keep 16
 * loop-invariant 64-bit offsets in registers for its whole length). */
LLVMValueRef cg_opaque(cg_ctx *g, LLVMValueRef v);

/* ---- cg_layout.c ---- */
const cg_map *cg_map_of(cg_ctx *g, const ir_type *t);
/* Row-major linear index (i32) of coordinates in shape. */
LLVMValueRef cg_linear(cg_ctx *g, int rank, const int64_t *shape, const LLVMValueRef *coord);

/* ---- cg_scalar.c ---- */
/* One element of an elementwise op: args are registers of the operand
 * dtypes; `in` is operand 0's dtype (operand 1's for SELECT), out the
 * result's.  NULL if the op has no rule (reported by the caller). */
LLVMValueRef cg_scalar_op(cg_ctx *g, ir_opcode code, ir_dtype in, ir_dtype out, LLVMValueRef *args);
bool cg_has_scalar_rule(ir_opcode code);
LLVMValueRef cg_convert(cg_ctx *g, LLVMValueRef x, ir_dtype from, ir_dtype to);
LLVMValueRef cg_const_scalar(cg_ctx *g, ir_dtype t, ir_scalar c);

/* ---- cg_math.c ---- */
/* sin cos erf log1p expm1 pow of f32 registers (NULL for other ops). */
LLVMValueRef cg_math_op(cg_ctx *g, ir_opcode code, LLVMValueRef *a);

/* ---- cg_shared.c ---- */
/* Reserves `bytes` of scratch at *cursor (16-byte aligned) and advances
 * it; returns the offset.  The scratch is reused op by op: an op that
 * writes it starts with a barrier (earlier readers are done), writes,
 * and barriers again before reading. */
int64_t cg_scratch(cg_ctx *g, int64_t *cursor, int64_t bytes);
/* Writes every valid register of v to scratch at `offset` (row-major). */
void cg_spill_tile(cg_ctx *g, const ir_value *v, int64_t offset);
LLVMValueRef cg_scratch_load(cg_ctx *g, ir_dtype t, int64_t offset, LLVMValueRef index);
/* The value of v at coordinates coord (v's rank), for address arithmetic:
 * recomputed from arange/const/broadcast/elementwise producers where
 * possible, else read from scratch where prepare_gather put it. */
typedef struct cg_gather {
    const ir_value *v;
    int64_t offset;      /* -1: recomputed */
} cg_gather;
bool cg_prepare_gathers(cg_ctx *g, cg_gather *gs, int n, int64_t base);
LLVMValueRef cg_value_at(cg_ctx *g, const cg_gather *gs, int n, const ir_value *v,
                         const LLVMValueRef *coord);
void cg_lower_move(cg_ctx *g, ir_op *op);     /* broadcast, reshape, expand_dims, trans, convert_layout */
void cg_lower_reduce(cg_ctx *g, ir_op *op);
void cg_lower_cumsum(cg_ctx *g, ir_op *op);
/* Register coordinates of map m clamped to 0 in padding registers (so
 * derived scratch indices stay inside the tile); coord has m->rank entries. */
void cg_clamped_coord(cg_ctx *g, const cg_map *m, int k, LLVMValueRef *coord);
/* A counted loop k = lo..hi-1 (i32) carrying n values: acc holds the
 * initial values and receives the final ones; body updates acc in place. */
typedef void (*cg_loop_body)(cg_ctx *g, LLVMValueRef k, LLVMValueRef *acc, void *ctx);
void cg_counted_loop(cg_ctx *g, int64_t lo, int64_t hi, int n, LLVMValueRef *acc,
                     cg_loop_body body, void *ctx);

/* ---- cg_index.c ---- */
void cg_lower_slice(cg_ctx *g, ir_op *op);
void cg_lower_concat(cg_ctx *g, ir_op *op);
void cg_lower_argext(cg_ctx *g, ir_op *op);  /* argmax, argmin */
void cg_lower_scan(cg_ctx *g, ir_op *op);    /* associative_scan */
/* ---- cg_sort.c ---- */
void cg_lower_sort(cg_ctx *g, ir_op *op);    /* sort, topk */
/* ---- cg_mma.c ---- */
/* Register map of an mma, slice(mma, 1) or dot_operand(mma, 0) layout;
 * false if the shape does not fit it. */
bool cg_mma_build_map(cg_ctx *g, cg_map *m, const ir_layout *l);
/* The warp's index along M and N of an mma layout. */
void cg_mma_warp(cg_ctx *g, const ir_layout *l, LLVMValueRef *wm_idx, LLVMValueRef *wn_idx);
/* Fast paths in registers; false: not applicable (take the generic path). */
bool cg_mma_move(cg_ctx *g, ir_op *op);
bool cg_mma_reduce(cg_ctx *g, ir_op *op);

/* ---- cg_dot.c ---- */
void cg_lower_dot(cg_ctx *g, ir_op *op);

/* ---- cg_wgmma.c ---- */
bool cg_wgmma_applies(cg_ctx *g, const ir_op *op);
void cg_lower_dot_wgmma(cg_ctx *g, ir_op *op);
/* Waits for the wgmma group that computes v (a deferred dot's result) and
 * ties its registers through the wait; cg_get calls it. */
void cg_wgmma_await(cg_ctx *g, const ir_value *v);
/* Waits for every group in flight: before an op that may not run beside
 * them (control flow, shared-memory writes, barriers) and at a block's end. */
void cg_wgmma_flush(cg_ctx *g);
/* The loop body's yielded values whose block argument was a deferred
 * wgmma's A in registers: their registers are copied here, after the
 * body's final wait, so that no register of a product in flight is
 * overwritten (ptxas would serialise the groups: C7513). */
void cg_wgmma_copy_carried(cg_ctx *g, ir_block *body, int first_arg);
/* Whether op may be lowered while wgmma groups are in flight. */
bool cg_wgmma_beside(const ir_op *op);
/* fence.proxy.async.shared::cta: this thread's shared-memory writes become
 * visible to wgmma (the async proxy) after the next barrier. */
void cg_fence_proxy_async(cg_ctx *g);

/* ---- cg_memory.c ---- */
void cg_lower_load(cg_ctx *g, ir_op *op);
void cg_lower_store(cg_ctx *g, ir_op *op);   /* store and atomic_add */

/* ---- cg_effects.c ---- */
void cg_lower_assert(cg_ctx *g, ir_op *op);
void cg_lower_print(cg_ctx *g, ir_op *op);
/* A runtime check the tile IR implies (a loop step <= 0): fails like an
 * assert with `message` at op's location when cond is false. */
void cg_check(cg_ctx *g, const ir_op *op, LLVMValueRef cond, const char *message);

/* ---- cg_async.c ---- */
/* Places the LOCAL_ALLOC buffers of the kernel (before any lowering). */
bool cg_place_buffers(cg_ctx *g);
void cg_lower_local(cg_ctx *g, ir_op *op);      /* local_alloc, local_view, trans of a buffer */
void cg_lower_async(cg_ctx *g, ir_op *op);      /* async_commit, async_wait, barrier */
void cg_read_buffer(cg_ctx *g, ir_op *op);      /* convert_layout of a buffer view into registers */
/* The i32 shared-memory address of element (r, c) (c a multiple of the
 * layout's vec) of a rank-2 buffer value v, by its swizzle; r, c are the
 * coordinates in memory order (row = the slower dim). */
LLVMValueRef cg_buffer_addr(cg_ctx *g, const ir_value *v, LLVMValueRef r, LLVMValueRef c);
bool cg_is_buffer(const ir_value *v);
/* The same with the coordinates split into run-time + constant parts
 * (rv + rc, cv + cc): cheaper code for constant strides (cg_async.c). */
LLVMValueRef cg_buffer_addr_split(cg_ctx *g, const ir_value *v, LLVMValueRef rv, int64_t rc, LLVMValueRef cv,
                                  int64_t cc);
/* ---- cg_memory.c (async copies) ---- */
void cg_lower_async_copy(cg_ctx *g, ir_op *op);
/* ---- cg_emit.c ---- */
/* arch: the NVPTX CPU (t->arch, or "sm_90a" for wgmma). */
LLVMTargetMachineRef cg_target_machine(const ir_target *t, const char *arch, char **error);
tile_status cg_finish(cg_ctx *g, cg_emit_kind kind, cg_result *out);

#endif
