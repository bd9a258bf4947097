/* layout.h - layouts: where each element of a tile lives on the GPU.
 *
 * A layout is plain data attached to a tile type (ir_type.layout) once the
 * IR is scheduled (ir_module.stage == IR_STAGE_SCHEDULED); the tile IR has
 * none.  Layouts are interned per module (ir_layout_* return the one copy),
 * so two types have the same layout exactly when the pointers are equal:
 * type equality, CSE, the printer and the verifier need nothing more.
 * compiler/ chooses layouts; codegen/ only reads them.  The kinds follow
 * Triton's (Tillet et al., MAPL 2019, and its TritonGPU dialect):
 *
 *   blocked(spt, tpw, wpc, order)   registers: along dim d each thread holds
 *       spt[d] consecutive elements, a warp's 32 lanes are split tpw[d] per
 *       dim and the CTA's warps wpc[d]; `order` lists dims fastest first.
 *       The pattern covers spt*tpw*wpc elements per dim and repeats to cover
 *       the shape; a coordinate past the shape is padding (a don't-care
 *       register, masked by every op that reads positions), so each element
 *       lives in exactly one thread.
 *   slice(parent, dim)              the parent layout with dim removed: the
 *       layout of a reduction's result, the operand of expand_dims.
 *   mma(version, wpc)               version 2: mma.sync m16n8k16 accumulators
 *       (f32) spread over wpc[0] x wpc[1] warps.  Version 3: Hopper's wgmma
 *       m64nNk16, wpc = [4 * warpgroups along M, warpgroups along N]; warp
 *       w of a warpgroup owns rows 16w..16w+15 of each 64-row block and, per
 *       8-column chunk, the same 4-element fragment as mma.sync, so with
 *       wpc[1] = 1 its registers are numbered exactly as version 2's with
 *       wpc = [wpc[0], 1] (codegen/cg_mma.c reuses that map).
 *   dot_operand(parent, opidx, kwidth)  operand A (0) or B (1) of an mma
 *       parent, kwidth consecutive k elements per register.
 *   shared(vec, per_phase, max_phase, order[, swizzle=128])  a shared-memory
 *       buffer with the XOR swizzle of Triton (max_phase 1 = unswizzled).
 *       swizzle = 128: the 128-byte swizzle that wgmma's matrix descriptors
 *       (and TMA) read: the fastest dim is cut into slabs of 128 bytes (64
 *       bf16), each slab stored as [rows][128 bytes] from a 1024-byte
 *       aligned base, the 16-byte chunk c of row r at chunk c ^ (r % 8);
 *       vec = 16 bytes of elements, per_phase = 1, max_phase = 8.  The
 *       same buffer is K-major or MN-major for a dot depending on whether
 *       its fastest dim is the dot's k (codegen/cg_wgmma.c).
 */
#ifndef TILE_LAYOUT_H
#define TILE_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IR_LAYOUT_MAX_RANK 6 /* = IR_MAX_RANK */

typedef enum ir_layout_kind {
    IR_LAYOUT_BLOCKED,
    IR_LAYOUT_SLICE,
    IR_LAYOUT_MMA,
    IR_LAYOUT_DOT_OPERAND,
    IR_LAYOUT_SHARED,
} ir_layout_kind;

typedef struct ir_layout ir_layout;
struct ir_layout {
    ir_layout_kind kind;
    int rank;                                   /* dims of the tiles it fits */
    int size_per_thread[IR_LAYOUT_MAX_RANK];    /* blocked */
    int threads_per_warp[IR_LAYOUT_MAX_RANK];   /* blocked */
    int warps_per_cta[IR_LAYOUT_MAX_RANK];      /* blocked, mma */
    int order[IR_LAYOUT_MAX_RANK];              /* blocked, shared: fastest first */
    const ir_layout *parent;                    /* slice, dot_operand */
    int dim;                                    /* slice: removed dim */
    int version;                                /* mma: 2 = mma.sync, 3 = wgmma */
    int opidx, kwidth;                          /* dot_operand */
    int vec, per_phase, max_phase;              /* shared */
    int swizzle;                                /* shared: 0 (Triton's) or 128 (wgmma's) */
    const ir_layout *next;                      /* intern list */
};

/* The interning table; one per module (ir_module.layouts). */
typedef struct ir_layout_set {
    const ir_layout *first;
} ir_layout_set;

struct arena;
const ir_layout *ir_layout_intern(struct arena *mem, ir_layout_set *set, const ir_layout *l);

/* Threads of a blocked layout: product of tpw must be 32, of wpc num_warps. */
int ir_layout_num_warps(const ir_layout *l);

/* Elements of a tile of `shape` (rank dims) each thread holds in registers
 * under l (an upper bound for the threads at the tile's edge; padding
 * included; replicated layouts count every copy a thread holds).  0 for a
 * shared buffer.  The register model of compiler/sched_model.c reads it. */
int64_t ir_layout_elems_per_thread(const ir_layout *l, int rank, const int64_t *shape);

/* "#blocked<spt=[1,4],tpw=[8,4],wpc=[4,1],order=[1,0]>" into buf. */
char *ir_layout_str(const ir_layout *l, char *buf, size_t size);

/* Is l well formed for a tile of `rank` dims in a CTA of num_warps warps?
 * On false, *why says what is wrong. */
bool ir_layout_valid(const ir_layout *l, int rank, int num_warps, const char **why);

#endif
