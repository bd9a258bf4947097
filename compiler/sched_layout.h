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

/* The blocked layout chosen for a tile of this shape (exposed for tests). */
const ir_layout *sched_default_layout(ir_module *m, int rank, const int64_t *shape, int num_warps);

#endif
