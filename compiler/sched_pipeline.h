/* sched_pipeline.h - software pipelining of tensor-core operand loads
 * (scheduled IR -> scheduled IR with shared buffers and async copies). */
#ifndef TILE_SCHED_PIPELINE_H
#define TILE_SCHED_PIPELINE_H

#include "ir/ir.h"
#include "ir/target.h"

#define SCHED_DEFAULT_STAGES 2
/* A loop tile that something besides an mma dot reads is staged (and read
 * back into registers) only with rows of at least this many bytes: based's
 * 32-byte rows so staged ran 26% slower on the H200.  The model
 * (sched_model.c) counts staged bytes by the same rule. */
#define SCHED_MIN_READ_ROW_BYTES 128

/* Pipelines, with `stages` buffer slots (fewer where they would take more
 * than three quarters of the block's shared memory; no loop below 2
 * stages; nothing on a target without cp.async), every `for` loop of m's
 * kernels whose body loads 16-bit tiles (read as mma operands in place, or
 * read back into registers: sched_pipeline.c), and stages the tiles loaded
 * outside loops that mma dots read, at any stage count.  m must be
 * scheduled (sched_assign_layouts).  *npipelined (may be NULL) counts the
 * loops. */
tile_status sched_pipeline(ir_module *m, const ir_target *t, int stages, int *npipelined);

/* The #shared layout of a row-major buffer whose rows hold `cols` 16-bit
 * elements (cols % 8 == 0): 16-byte chunks with an XOR swizzle that keeps
 * each row's chunks within the row (exposed for tests). */
const ir_layout *sched_shared_layout(ir_module *m, int rank, int64_t cols);

#endif
