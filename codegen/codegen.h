/* codegen.h - scheduled tile IR -> LLVM IR -> PTX (the public face of
 * codegen/).  It translates and decides nothing: layouts, warps and the
 * target arrive in the scheduled IR (ir/layout.h, ir/target.h); what the
 * lowering itself needs (scratch shared memory) it reports back.  No LLVM
 * type appears here, so nothing outside codegen/ sees LLVM. */
#ifndef TILE_CODEGEN_H
#define TILE_CODEGEN_H

#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"
#include "ir/target.h"

/* CG_EMIT_ANALYSIS builds the kernel and stops before LLVM's optimisation:
 * out->smem_bytes and the asserts are filled, out->text is NULL.  The
 * scheduler's cost model calls it so that it counts the shared memory
 * codegen will allocate, whatever codegen allocates. */
typedef enum cg_emit_kind { CG_EMIT_LLVM, CG_EMIT_PTX, CG_EMIT_ANALYSIS } cg_emit_kind;

/* A runtime check of the kernel: status[0] = index + 1 when it fails
 * (docs/abi.md); asserts of the source and checks the IR implies. */
typedef struct cg_assert_info {
    src_loc loc;
    const char *message;
} cg_assert_info;

typedef struct cg_result {
    char *text;          /* NUL-terminated LLVM IR or PTX, in the arena */
    size_t size;         /* strlen(text) */
    int smem_bytes;      /* dynamic shared memory the lowering uses */
    int nasserts;
    const cg_assert_info *asserts;
} cg_result;

/* Lowers the scheduled kernel f (ir_module.stage == IR_STAGE_SCHEDULED) for
 * target t with f->module's num_warps.  Errors go to f->module->diags. */
tile_status cg_emit_kernel(ir_func *f, const ir_target *t, cg_emit_kind kind, cg_result *out);

/* What the launches of the code are guaranteed (the runtime's specialisation
 * facts, docs/abi.md): bit i of vector_ok says that tensor parameter i has a
 * unit last stride and 16-byte aligned rows, so vector accesses to it need no
 * run-time check and no scalar fallback path.  Code emitted under a fact may
 * only run on arguments that have it. */
typedef struct cg_options {
    uint64_t vector_ok;
} cg_options;

/* cg_emit_kernel under the facts of o (NULL: none). */
tile_status cg_emit_kernel_with(ir_func *f, const ir_target *t, const cg_options *o,
                                cg_emit_kind kind, cg_result *out);

/* For tests, without a GPU: the register map of thread `tid` in a block of
 * num_warps warps under layout l for a tile of `shape`, evaluated by LLVM's
 * constant folding.  Fills coord[k * rank + d] and valid[k] for each of the
 * thread's registers k (at most cap); returns their number, or -1.  Blocked
 * and mma-family layouts; for replicated ones (slice(mma), [M,1] mma tiles)
 * valid[k] marks the one copy of each element that is written. */
int cg_layout_thread_map(const ir_layout *l, int rank, const int64_t *shape, int num_warps,
                         int tid, int64_t *coord, bool *valid, int cap);

/* For tests, without a GPU: wgmma's shared-memory addressing (cg_wgmma.c,
 * cg_async.c) evaluated on constants.  probe_store: the byte address at
 * which a 16-bit buffer of rows x cols in the 128-byte swizzle (swizzle=128,
 * rows the slower dim) at `base` keeps element (r, c), or -1.  probe_desc:
 * the matrix descriptor the lowering builds for an operand in such a
 * buffer of `rows` rows at `base` (k_major: its rows run along M/N),
 * for the block starting at M/N index mn0 and k index k0; 0, or -1. */
int64_t cg_wgmma_probe_store(int64_t rows, int64_t cols, int64_t base, int64_t r, int64_t c);
int64_t cg_wgmma_probe_desc(bool k_major, int64_t rows, int64_t base, int64_t mn0, int64_t k0, uint64_t *desc);

#endif
