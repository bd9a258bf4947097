/* sched_layout.h - layout assignment: tile IR -> scheduled IR. */
#ifndef TILE_SCHED_LAYOUT_H
#define TILE_SCHED_LAYOUT_H

#include "ir/ir.h"
#include "ir/target.h"

#define SCHED_DEFAULT_NUM_WARPS 4

/* Gives every tile value of rank >= 1 in every function of m a layout for
 * a block of num_warps warps on target t, records the target attributes
 * and marks m scheduled.  A module already scheduled the same way is left
 * as it is; one scheduled differently is an error (schedule a fresh
 * compilation instead). */
tile_status sched_assign_layouts(ir_module *m, const ir_target *t, int num_warps);

/* The warps per block the compiler picks for f when the user gives none:
 * 4, or 8 when a tile holds 4096 elements or more (then 4 warps would keep
 * 32+ f32 registers per thread per such tile, and the library's D = 128
 * kernels run out of registers). */
int sched_choose_num_warps(const ir_func *f);

/* Hopper's wgmma for tensor-core dots (mma v3 layouts, emitted for sm_90a):
 * on by default on a target that has it; TILE_WGMMA=0 (read here, the one
 * place) keeps mma.sync (m16n8k16), e.g. to compare the two. */
bool sched_wgmma_enabled(const ir_target *t);

/* Would dot `op` at num_warps run on wgmma where it is enabled (16-bit
 * operands, f32 accumulator, every warp along M in whole warpgroups)?  The
 * layout pass's own rule; the cost model reads it before layouts exist. */
bool sched_wgmma_fits(const ir_op *op, int num_warps);

/* The blocked layout chosen for a tile of this shape (exposed for tests). */
/* Does an mma-family layout (mma, slice(mma, 1), dot_operand(mma, 0)) cover a
 * tile of type t exactly (codegen's register maps assume it)? */
bool sched_mma_fits(const ir_layout *l, const ir_type *t);

const ir_layout *sched_default_layout(ir_module *m, int rank, const int64_t *shape, int num_warps);

#endif
