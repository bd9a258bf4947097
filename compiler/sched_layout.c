/* sched_layout.c - layout assignment (compiler/ decides, ir/layout.h holds
 * the result, codegen/ obeys).
 *
 * Today every tile of rank >= 1 gets the blocked layout its shape implies
 * (sched_default_layout): the last dim fastest, up to 8 consecutive
 * elements per thread along it (one 16-byte vector for bf16, two for f32,
 * so loads and stores of row-major tiles are vectorised and coalesced),
 * lanes then warps spread over the dims from the last to the first, and
 * what is left over covers padding.  A layout that depends on the shape
 * alone makes every elementwise op, loop-carried value and if/while result
 * agree without a single convert_layout; the ops that mix positions
 * (reductions, dot, trans, broadcast, expand_dims) move data explicitly in
 * codegen's generic path.  Anchored layouts (mma for dot, slices for
 * reductions) with convert_layout where they meet come next and change only
 * this file. */
#include "sched_layout.h"

static int pow2_floor(int64_t x)
{
    int p = 1;
    while ((int64_t)p * 2 <= x && p < (1 << 30)) p *= 2;
    return p;
}

static int pow2_ceil(int64_t x)
{
    int p = 1;
    while (p < x && p < (1 << 30)) p *= 2;
    return p;
}

/* Largest power of two dividing x (x >= 1). */
static int pow2_divisor(int64_t x)
{
    int p = 1;
    while (x % (2 * p) == 0 && p < (1 << 30)) p *= 2;
    return p;
}

const ir_layout *sched_default_layout(ir_module *m, int rank, const int64_t *shape, int num_warps)
{
    ir_layout l = {.kind = IR_LAYOUT_BLOCKED, .rank = rank};
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) {
        numel *= shape[d];
        l.size_per_thread[d] = 1;
        l.order[d] = rank - 1 - d;
    }
    int last = rank - 1;
    int64_t per_thread = numel / (32 * num_warps);
    int vec = pow2_divisor(shape[last]);
    if (vec > 8) vec = 8;
    if (vec > pow2_floor(per_thread > 1 ? per_thread : 1)) vec = pow2_floor(per_thread > 1 ? per_thread : 1);
    l.size_per_thread[last] = vec;

    int lanes = 32;
    for (int d = last; d >= 0; d--) {
        int64_t need = (shape[d] + l.size_per_thread[d] - 1) / l.size_per_thread[d];
        int t = pow2_ceil(need);
        if (t > lanes) t = lanes;
        l.threads_per_warp[d] = t;
        lanes /= t;
    }
    l.threads_per_warp[0] *= lanes; /* left-over lanes cover padding */

    int warps = num_warps;
    for (int d = 0; d < rank; d++) {
        int64_t cover = (int64_t)l.size_per_thread[d] * l.threads_per_warp[d];
        int w = pow2_ceil((shape[d] + cover - 1) / cover);
        if (w > warps) w = warps;
        l.warps_per_cta[d] = w;
        warps /= w;
    }
    l.warps_per_cta[0] *= warps;
    return ir_layout_intern(m->mem, &m->layouts, &l);
}

static void largest_tile(ir_op *op, void *ctx)
{
    int64_t *max = ctx;
    for (int i = 0; i < op->nresults; i++) {
        int64_t n = ir_type_numel(&op->results[i]->type);
        if (op->results[i]->type.kind == IR_TY_TILE && n > *max) *max = n;
    }
}

int sched_choose_num_warps(const ir_func *f)
{
    int64_t max = 0;
    ir_walk(f->body, largest_tile, &max);
    return max >= 4096 ? 8 : SCHED_DEFAULT_NUM_WARPS;
}

typedef struct assign_ctx {
    ir_module *m;
    int num_warps;
    bool oom;
} assign_ctx;

static void assign_value(assign_ctx *a, ir_value *v)
{
    ir_type *t = &v->type;
    if (t->kind != IR_TY_TILE || t->rank == 0) return;
    t->layout = sched_default_layout(a->m, t->rank, t->shape, a->num_warps);
    if (!t->layout) a->oom = true;
}

static void assign_block(assign_ctx *a, ir_block *blk);

static void assign_op(ir_op *op, void *ctx)
{
    assign_ctx *a = ctx;
    for (int i = 0; i < op->nresults; i++) assign_value(a, op->results[i]);
    for (int r = 0; r < op->nblocks; r++)
        if (op->blocks[r])
            for (int i = 0; i < op->blocks[r]->nargs; i++) assign_value(a, op->blocks[r]->args[i]);
}

static void assign_block(assign_ctx *a, ir_block *blk)
{
    if (!blk) return;
    for (int i = 0; i < blk->nargs; i++) assign_value(a, blk->args[i]);
    ir_walk(blk, assign_op, a);
}

tile_status sched_assign_layouts(ir_module *m, const ir_target *t, int num_warps)
{
    if (num_warps <= 0) num_warps = SCHED_DEFAULT_NUM_WARPS;
    if (m->stage == IR_STAGE_SCHEDULED) {
        if (m->target.num_warps == num_warps) {
            m->target.arch = t->arch;
            return TILE_OK;
        }
        diag_error(m->diags, (src_loc){0}, "internal error: module already scheduled for %d warps",
                   m->target.num_warps);
        return TILE_ERR_INTERNAL;
    }
    assign_ctx a = {.m = m, .num_warps = num_warps};
    for (ir_func *f = m->first; f; f = f->next) {
        for (int i = 0; i < f->nparams; i++) {
            ir_type *pt = &f->params[i].type;
            if (pt->kind == IR_TY_TILE && pt->rank > 0)
                pt->layout = sched_default_layout(m, pt->rank, pt->shape, num_warps);
        }
        for (int i = 0; i < f->nresults; i++) {
            ir_type *rt = &f->result_types[i];
            if (rt->kind == IR_TY_TILE && rt->rank > 0)
                rt->layout = sched_default_layout(m, rt->rank, rt->shape, num_warps);
        }
        assign_block(&a, f->body);
        assign_block(&a, f->grid);
    }
    if (a.oom) return TILE_ERR_NOMEM;
    m->stage = IR_STAGE_SCHEDULED;
    m->target = (ir_target_attrs){.arch = t->arch, .num_warps = num_warps,
                                  .smem_budget = t->smem_per_block};
    return ir_verify_module(m, "layout assignment");
}
