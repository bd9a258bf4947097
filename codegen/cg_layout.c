/* cg_layout.c - the register map of a layout: for one thread, which tile
 * element each of its registers holds (ir/layout.h defines the layouts).
 *
 * Blocked layout, dim d, per thread: spt[d] consecutive elements, repeated
 * every C[d] = spt*tpw*wpc elements; register j along d holds coordinate
 *     base[d] + (j / spt[d]) * C[d] + j % spt[d],
 *     base[d] = (warp_d * tpw[d] + lane_d) * spt[d],
 * with lane_d / warp_d the thread's lane / warp split over the dims in
 * `order` (fastest first).  Registers are numbered row-major over the
 * per-dim indices, so the spt registers of the last dim are adjacent (a
 * vector access when the last dim is fastest).  Coordinates past the shape
 * are padding.  Everything is computed once, in the entry block. */
#include "cg_impl.h"

#include <string.h>

static LLVMValueRef lane_split(cg_ctx *g, LLVMValueRef id, const int *sizes, const int *order,
                               int rank, int dim)
{
    /* id = sum over k in order of part_k * prod(sizes of earlier dims in order). */
    int64_t below = 1;
    for (int i = 0; i < rank; i++) {
        int d = order[i];
        if (d == dim) break;
        below *= sizes[d];
    }
    LLVMValueRef v = below > 1 ? LLVMBuildUDiv(g->b, id, cg_i32(g, below), "") : id;
    return LLVMBuildURem(g->b, v, cg_i32(g, sizes[dim]), "");
}

static bool build_blocked(cg_ctx *g, cg_map *m, const ir_layout *l)
{
    int r = m->rank;
    int64_t cta[IR_MAX_RANK], per[IR_MAX_RANK];
    LLVMValueRef base[IR_MAX_RANK];
    int64_t n = 1;
    for (int d = 0; d < r; d++) {
        cta[d] = (int64_t)l->size_per_thread[d] * l->threads_per_warp[d] * l->warps_per_cta[d];
        per[d] = l->size_per_thread[d] * ((m->shape[d] + cta[d] - 1) / cta[d]);
        n *= per[d];
        if (n > CG_MAX_REGS) return false;
    }
    m->nregs = (int)n;
    for (int d = 0; d < r; d++) {
        LLVMValueRef ld = lane_split(g, g->lane, l->threads_per_warp, l->order, r, d);
        LLVMValueRef wd = lane_split(g, g->warp, l->warps_per_cta, l->order, r, d);
        LLVMValueRef t = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, wd, cg_i32(g, l->threads_per_warp[d]), ""), ld, "");
        base[d] = LLVMBuildMul(g->b, t, cg_i32(g, l->size_per_thread[d]), "");
    }
    m->coord = arena_calloc(g->mem, (size_t)n * (size_t)(r ? r : 1), sizeof *m->coord);
    m->coff = arena_calloc(g->mem, (size_t)n * (size_t)(r ? r : 1), sizeof *m->coff);
    m->valid = arena_calloc(g->mem, (size_t)n, sizeof *m->valid);
    if (!m->coord || !m->coff || !m->valid) return false;
    for (int d = 0; d < r; d++) m->cbase[d] = base[d];
    for (int64_t i = 0; i < n; i++) {
        int64_t rest = i;
        LLVMValueRef ok = NULL;
        for (int d = r - 1; d >= 0; d--) {
            int64_t j = rest % per[d];
            rest /= per[d];
            int64_t off = (j / l->size_per_thread[d]) * cta[d] + j % l->size_per_thread[d];
            LLVMValueRef c = LLVMBuildAdd(g->b, base[d], cg_i32(g, off), "");
            m->coord[i * r + d] = c;
            m->coff[i * r + d] = off;
            if (m->shape[d] % cta[d] != 0)
                ok = cg_and(g, ok, LLVMBuildICmp(g->b, LLVMIntULT, c, cg_i32(g, m->shape[d]), ""));
        }
        m->valid[i] = ok;
    }
    m->vec = r > 0 && l->order[0] == r - 1 ? l->size_per_thread[r - 1] : 1;
    return true;
}

const cg_map *cg_map_of(cg_ctx *g, const ir_type *t)
{
    for (cg_map *m = g->maps; m; m = m->next)
        if (m->layout == t->layout && m->rank == t->rank &&
            memcmp(m->shape, t->shape, sizeof *t->shape * (size_t)t->rank) == 0)
            return m;
    cg_map *m = arena_calloc(g->mem, 1, sizeof *m);
    if (!m) return NULL;
    m->layout = t->layout;
    m->rank = t->rank;
    memcpy(m->shape, t->shape, sizeof *t->shape * (size_t)t->rank);
    if (t->rank == 0) {
        m->nregs = 1;
        m->vec = 1;
        m->valid = arena_calloc(g->mem, 1, sizeof *m->valid);
        m->coord = NULL;
    } else if (!t->layout || t->layout->kind == IR_LAYOUT_SHARED) {
        cg_error(g, NULL, "codegen: a register tile needs a blocked or mma-family layout (got %s)",
                 t->layout ? "shared" : "none");
        return NULL;
    } else {
        LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
        LLVMPositionBuilderBefore(g->b, g->entry_end);
        bool ok = t->layout->kind == IR_LAYOUT_BLOCKED ? build_blocked(g, m, t->layout)
                                                       : cg_mma_build_map(g, m, t->layout);
        LLVMPositionBuilderAtEnd(g->b, here);
        if (!ok) {
            cg_error(g, NULL, "a tile of this shape needs more than %d registers per thread "
                              "or does not fit its layout", CG_MAX_REGS);
            return NULL;
        }
    }
    m->next = g->maps;
    g->maps = m;
    return m;
}

LLVMValueRef cg_linear(cg_ctx *g, int rank, const int64_t *shape, const LLVMValueRef *coord)
{
    LLVMValueRef lin = cg_i32(g, 0);
    for (int d = 0; d < rank; d++) {
        lin = LLVMBuildMul(g->b, lin, cg_i32(g, shape[d]), "");
        lin = LLVMBuildAdd(g->b, lin, coord[d], "");
    }
    return lin;
}

int cg_layout_thread_map(const ir_layout *l, int rank, const int64_t *shape, int num_warps,
                         int tid, int64_t *coord, bool *valid, int cap)
{
    if (!l || l->kind == IR_LAYOUT_SHARED || l->rank != rank) return -1;
    arena mem;
    arena_init(&mem);
    cg_ctx g = {.mem = &mem, .num_warps = num_warps, .nthreads = 32 * num_warps};
    g.ctx = LLVMContextCreate();
    g.b = LLVMCreateBuilderInContext(g.ctx);
    g.tid = cg_i32(&g, tid);
    g.lane = cg_i32(&g, tid % 32);
    g.warp = cg_i32(&g, tid / 32);
    cg_map m = {.layout = l, .rank = rank};
    for (int d = 0; d < rank; d++) m.shape[d] = shape[d];
    int n = -1;
    bool built = l->kind == IR_LAYOUT_BLOCKED ? build_blocked(&g, &m, l) : cg_mma_build_map(&g, &m, l);
    if (built && m.nregs <= cap) {
        n = m.nregs;
        for (int k = 0; k < n; k++) {
            for (int d = 0; d < rank; d++)
                coord[k * rank + d] = LLVMConstIntGetSExtValue(m.coord[k * rank + d]);
            valid[k] = !m.valid[k] || LLVMConstIntGetZExtValue(m.valid[k]) != 0;
            if (m.own && m.own[k]) valid[k] = valid[k] && LLVMConstIntGetZExtValue(m.own[k]) != 0;
        }
    }
    LLVMDisposeBuilder(g.b);
    LLVMContextDispose(g.ctx);
    arena_free(&mem);
    return n;
}
