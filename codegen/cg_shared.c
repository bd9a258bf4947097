/* cg_shared.c - the generic path for every op that mixes positions:
 * values go through the shared-memory scratch (row-major, one writer per
 * element since layouts have no replication), and each thread reads the
 * elements its result registers need.  Correct for any pair of layouts and
 * any shape; the fast paths (shuffles, mma layouts) replace it op by op.
 *
 * Index tiles of loads/stores and broadcast sources built from arange,
 * constants, broadcasts and elementwise integer ops are recomputed at the
 * needed coordinates instead ("rematerialised"), which is what makes
 * `rows[:, None] * stride + cols[None, :]` cost no shared memory. */
#include "cg_impl.h"

#include <string.h>

int64_t cg_scratch(cg_ctx *g, int64_t *cursor, int64_t bytes)
{
    int64_t off = (*cursor + 15) & ~(int64_t)15;
    *cursor = off + bytes;
    int64_t top = (g->buffers_live ? g->persist : 0) + *cursor;
    if (top > g->smem_bytes) g->smem_bytes = (int)(top > 0x7fffffff ? 0x7fffffff : top);
    return off;
}

static LLVMValueRef scratch_ptr(cg_ctx *g, ir_dtype t, int64_t offset, LLVMValueRef index)
{
    LLVMTypeRef i8 = LLVMInt8TypeInContext(g->ctx);
    int es = ir_dtype_size(t);
    LLVMValueRef byte = LLVMBuildAdd(g->b, cg_i32(g, offset),
                                     LLVMBuildMul(g->b, index, cg_i32(g, es), ""), "");
    return LLVMBuildGEP2(g->b, i8, g->scratch, &byte, 1, "");
}

LLVMValueRef cg_scratch_load(cg_ctx *g, ir_dtype t, int64_t offset, LLVMValueRef index)
{
    LLVMValueRef v = LLVMBuildLoad2(g->b, cg_mem_type(g, t), scratch_ptr(g, t, offset, index), "");
    LLVMSetAlignment(v, (unsigned)ir_dtype_size(t));
    return t == IR_BOOL ? LLVMBuildTrunc(g->b, v, cg_type(g, IR_BOOL), "") : v;
}

static void scratch_store(cg_ctx *g, ir_dtype t, int64_t offset, LLVMValueRef index, LLVMValueRef v)
{
    if (t == IR_BOOL) v = LLVMBuildZExt(g->b, v, LLVMInt8TypeInContext(g->ctx), "");
    LLVMValueRef st = LLVMBuildStore(g->b, v, scratch_ptr(g, t, offset, index));
    LLVMSetAlignment(st, (unsigned)ir_dtype_size(t));
}

void cg_spill_tile(cg_ctx *g, const ir_value *v, int64_t offset)
{
    const cg_map *m = cg_map_of(g, &v->type);
    cg_val *cv = cg_get(g, v);
    if (!m || !cv) return;
    if (v->type.rank == 0) {
        /* Every thread holds it: thread 0 writes. */
        LLVMBasicBlockRef cont =
            cg_begin_if(g, LLVMBuildICmp(g->b, LLVMIntEQ, g->tid, cg_i32(g, 0), ""));
        scratch_store(g, v->type.dtype, offset, cg_i32(g, 0), cv->regs[0]);
        cg_end_if(g, cont);
        return;
    }
    for (int k = 0; k < m->nregs; k++) {
        LLVMBasicBlockRef cont = cg_begin_if(g, cg_and(g, m->valid[k], m->own ? m->own[k] : NULL));
        LLVMValueRef lin = cg_linear(g, m->rank, m->shape, m->coord + (size_t)k * (size_t)m->rank);
        scratch_store(g, v->type.dtype, offset, lin, cv->regs[k]);
        cg_end_if(g, cont);
    }
}

void cg_clamped_coord(cg_ctx *g, const cg_map *m, int k, LLVMValueRef *coord)
{
    for (int d = 0; d < m->rank; d++) {
        LLVMValueRef c = m->coord[(size_t)k * (size_t)m->rank + d];
        coord[d] = m->valid[k] ? LLVMBuildSelect(g->b, m->valid[k], c, cg_i32(g, 0), "") : c;
    }
}

/* ---- values at coordinates ------------------------------------------------ */

static bool can_remat(const ir_value *v, int depth)
{
    if (v->type.rank == 0) return true;
    if (!v->def || depth > 12) return false;
    const ir_op *op = v->def;
    switch (op->code) {
    case IR_OP_ARANGE:
    case IR_OP_CONST: return true;
    case IR_OP_BROADCAST:
    case IR_OP_EXPAND_DIMS: return can_remat(op->operands[0], depth + 1);
    default: break;
    }
    if (!(ir_op_table[op->code].flags & IR_ELEMENTWISE) || !cg_has_scalar_rule(op->code) ||
        (ir_op_table[op->code].flags & IR_FLOAT_ONLY))
        return false;
    for (int i = 0; i < op->noperands; i++)
        if (!can_remat(op->operands[i], depth + 1)) return false;
    return true;
}

bool cg_prepare_gathers(cg_ctx *g, cg_gather *gs, int n, int64_t base)
{
    bool any = false;
    int64_t cursor = base;
    for (int i = 0; i < n; i++) {
        gs[i].offset = -1;
        if (can_remat(gs[i].v, 0) || cg_is_buffer(gs[i].v)) continue;
        if (!any) cg_barrier(g);
        any = true;
        gs[i].offset = cg_scratch(g, &cursor, ir_type_numel(&gs[i].v->type) * ir_dtype_size(gs[i].v->type.dtype));
        cg_spill_tile(g, gs[i].v, gs[i].offset);
    }
    if (any) cg_barrier(g);
    return any;
}

LLVMValueRef cg_value_at(cg_ctx *g, const cg_gather *gs, int n, const ir_value *v,
                         const LLVMValueRef *coord)
{
    if (g->status != TILE_OK) return NULL;
    const ir_type *t = &v->type;
    if (t->rank == 0) return cg_scalar_of(g, v);
    if (cg_is_buffer(v)) {
        const ir_layout *l = t->layout;
        LLVMValueRef addr = t->rank == 2 ? cg_buffer_addr(g, v, coord[l->order[1]], coord[l->order[0]]) : NULL;
        if (!addr) {
            if (g->status == TILE_OK) cg_error(g, NULL, "internal: reading a buffer of rank %d", t->rank);
            return NULL;
        }
        LLVMTypeRef mt = cg_mem_type(g, t->dtype);
        LLVMValueRef p = LLVMBuildIntToPtr(g->b, addr, LLVMPointerTypeInContext(g->ctx, 3), "");
        LLVMValueRef x = LLVMBuildLoad2(g->b, mt, p, "");
        LLVMSetAlignment(x, (unsigned)ir_dtype_size(t->dtype));
        return x;
    }
    for (int i = 0; i < n; i++)
        if (gs[i].v == v && gs[i].offset >= 0)
            return cg_scratch_load(g, t->dtype, gs[i].offset, cg_linear(g, t->rank, t->shape, coord));
    const ir_op *op = v->def;
    if (!op) {
        cg_error(g, NULL, "internal: value %d is neither gathered nor recomputable", v->id);
        return NULL;
    }
    LLVMValueRef sub[IR_MAX_RANK];
    switch (op->code) {
    case IR_OP_ARANGE: return coord[0];
    case IR_OP_CONST: return cg_const_scalar(g, t->dtype, op->attr.cval);
    case IR_OP_BROADCAST: {
        const ir_type *xt = &op->operands[0]->type;
        int off = t->rank - xt->rank;
        for (int d = 0; d < xt->rank; d++) sub[d] = xt->shape[d] == 1 ? cg_i32(g, 0) : coord[off + d];
        return cg_value_at(g, gs, n, op->operands[0], sub);
    }
    case IR_OP_EXPAND_DIMS:
        for (int d = 0, j = 0; d < t->rank; d++)
            if (d != op->attr.i) sub[j++] = coord[d];
        return cg_value_at(g, gs, n, op->operands[0], sub);
    default: break;
    }
    LLVMValueRef args[3];
    for (int i = 0; i < op->noperands && i < 3; i++)
        if (!(args[i] = cg_value_at(g, gs, n, op->operands[i], coord))) return NULL;
    ir_dtype in = op->operands[op->code == IR_OP_SELECT ? 1 : 0]->type.dtype;
    return cg_scalar_op(g, op->code, in, t->dtype, args);
}

/* ---- broadcast, reshape, expand_dims, trans, convert_layout ---------------- */

/* Source coordinates of result coordinates c for a data-movement op. */
static void source_coord(cg_ctx *g, const ir_op *op, const LLVMValueRef *c, LLVMValueRef *src)
{
    const ir_type *rt = &op->results[0]->type, *xt = &op->operands[0]->type;
    switch (op->code) {
    case IR_OP_BROADCAST: {
        int off = rt->rank - xt->rank;
        for (int d = 0; d < xt->rank; d++) src[d] = xt->shape[d] == 1 ? cg_i32(g, 0) : c[off + d];
        return;
    }
    case IR_OP_EXPAND_DIMS:
        for (int d = 0, j = 0; d < rt->rank; d++)
            if (d != op->attr.i) src[j++] = c[d];
        return;
    case IR_OP_TRANS:
        for (int d = 0; d < rt->rank; d++) src[op->attr.perm[d]] = c[d];
        return;
    case IR_OP_RESHAPE: {
        LLVMValueRef lin = cg_linear(g, rt->rank, rt->shape, c);
        for (int d = xt->rank - 1; d >= 0; d--) {
            src[d] = LLVMBuildURem(g->b, lin, cg_i32(g, xt->shape[d]), "");
            lin = LLVMBuildUDiv(g->b, lin, cg_i32(g, xt->shape[d]), "");
        }
        return;
    }
    default:
        for (int d = 0; d < rt->rank; d++) src[d] = c[d];
        return;
    }
}

void cg_lower_move(cg_ctx *g, ir_op *op)
{
    const ir_value *x = op->operands[0], *r = op->results[0];
    const cg_map *m = cg_map_of(g, &r->type);
    cg_val *xv = cg_get(g, x);
    if (!m || !xv) return;
    if (cg_mma_move(g, op)) return;
    const cg_map *xm = cg_map_of(g, &x->type);
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!out || !xm) return;
    if (x->type.rank == 0 || (xm == m && op->code == IR_OP_CONVERT_LAYOUT)) {
        for (int k = 0; k < m->nregs; k++) out[k] = xv->regs[x->type.rank == 0 ? 0 : k];
        return;
    }
    cg_gather gs = {.v = x};
    cg_prepare_gathers(g, &gs, 1, 0);
    for (int k = 0; k < m->nregs && g->status == TILE_OK; k++) {
        LLVMValueRef c[IR_MAX_RANK], src[IR_MAX_RANK];
        cg_clamped_coord(g, m, k, c);
        source_coord(g, op, c, src);
        out[k] = cg_value_at(g, &gs, 1, x, src);
    }
}

/* ---- loops ------------------------------------------------------------------ */

void cg_counted_loop(cg_ctx *g, int64_t lo, int64_t hi, int n, LLVMValueRef *acc,
                     cg_loop_body body, void *ctx)
{
    if (hi <= lo) return;
    if (hi - lo == 1) {
        body(g, cg_i32(g, lo), acc, ctx);
        return;
    }
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop.exit");
    LLVMBuildBr(g->b, head);
    LLVMPositionBuilderAtEnd(g->b, head);
    LLVMValueRef k = LLVMBuildPhi(g->b, LLVMInt32TypeInContext(g->ctx), "k");
    LLVMValueRef init = cg_i32(g, lo);
    LLVMAddIncoming(k, &init, &pre, 1);
    LLVMValueRef *phis = arena_calloc(g->mem, (size_t)(n ? n : 1), sizeof *phis);
    if (!phis) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    for (int i = 0; i < n; i++) {
        phis[i] = LLVMBuildPhi(g->b, LLVMTypeOf(acc[i]), "");
        LLVMAddIncoming(phis[i], &acc[i], &pre, 1);
        acc[i] = phis[i];
    }
    body(g, k, acc, ctx);
    LLVMValueRef next = LLVMBuildAdd(g->b, k, cg_i32(g, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
    for (int i = 0; i < n; i++) LLVMAddIncoming(phis[i], &acc[i], &latch, 1);
    LLVMAddIncoming(k, &next, &latch, 1);
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, next, cg_i32(g, hi), ""), head, exit);
    /* The exit is reached from the latch alone, so acc (the values after the
     * last trip) is what the loop leaves; the phis would drop that trip. */
    LLVMPositionBuilderAtEnd(g->b, exit);
}

/* ---- reductions and cumsum ---------------------------------------------------- */

typedef struct scan_ctx {
    const ir_op *op;
    const cg_map *m;       /* result map */
    cg_gather gs;
    LLVMValueRef *coord;   /* per register: rank of the source, axis slot filled per k */
    int xrank, axis;
    ir_dtype acc_t;        /* accumulation dtype (f32 for floats) */
} scan_ctx;

static LLVMValueRef combine(cg_ctx *g, ir_opcode code, ir_dtype t, LLVMValueRef a, LLVMValueRef b)
{
    ir_opcode e = code == IR_OP_REDUCE_MAX ? IR_OP_MAX : code == IR_OP_REDUCE_MIN ? IR_OP_MIN : IR_OP_ADD;
    LLVMValueRef args[2] = {a, b};
    return cg_scalar_op(g, e, t, t, args);
}

static LLVMValueRef source_at(cg_ctx *g, scan_ctx *s, int k, LLVMValueRef kk)
{
    LLVMValueRef *c = s->coord + (size_t)k * (size_t)s->xrank;
    c[s->axis] = kk;
    LLVMValueRef v = cg_value_at(g, &s->gs, 1, s->op->operands[0], c);
    return v ? cg_convert(g, v, s->op->operands[0]->type.dtype, s->acc_t) : NULL;
}

static void reduce_body(cg_ctx *g, LLVMValueRef kk, LLVMValueRef *acc, void *ctx)
{
    scan_ctx *s = ctx;
    for (int k = 0; k < s->m->nregs && g->status == TILE_OK; k++) {
        LLVMValueRef v = source_at(g, s, k, kk);
        if (v) acc[k] = combine(g, s->op->code, s->acc_t, acc[k], v);
    }
}

/* Result coordinates with the reduced / scanned axis slot left open. */
static bool scan_setup(cg_ctx *g, ir_op *op, scan_ctx *s)
{
    const ir_value *x = op->operands[0], *r = op->results[0];
    s->op = op;
    s->m = cg_map_of(g, &r->type);
    s->xrank = x->type.rank;
    s->axis = (int)op->attr.i;
    s->acc_t = ir_dtype_is_float(x->type.dtype) ? IR_F32 : x->type.dtype;
    s->gs = (cg_gather){.v = x};
    if (!s->m || !cg_get(g, x)) return false;
    s->coord = arena_calloc(g->mem, (size_t)s->m->nregs * (size_t)s->xrank, sizeof *s->coord);
    if (!s->coord) return false;
    bool keeps_axis = op->code == IR_OP_CUMSUM;
    for (int k = 0; k < s->m->nregs; k++) {
        LLVMValueRef c[IR_MAX_RANK];
        cg_clamped_coord(g, s->m, k, c);
        LLVMValueRef *dst = s->coord + (size_t)k * (size_t)s->xrank;
        for (int d = 0, j = 0; d < s->xrank; d++) {
            if (d == s->axis) {
                dst[d] = keeps_axis ? c[j++] : NULL;
                continue;
            }
            dst[d] = c[j++];
        }
    }
    cg_prepare_gathers(g, &s->gs, 1, 0);
    return g->status == TILE_OK;
}

void cg_lower_reduce(cg_ctx *g, ir_op *op)
{
    if (cg_mma_reduce(g, op)) return;
    scan_ctx s;
    if (!scan_setup(g, op, &s)) return;
    int n = s.m->nregs;
    LLVMValueRef *acc = arena_calloc(g->mem, (size_t)n, sizeof *acc);
    LLVMValueRef *out = cg_def(g, op->results[0], n);
    if (!acc || !out) return;
    for (int k = 0; k < n; k++) acc[k] = source_at(g, &s, k, cg_i32(g, 0));
    cg_counted_loop(g, 1, op->operands[0]->type.shape[s.axis], n, acc, reduce_body, &s);
    for (int k = 0; k < n; k++) out[k] = cg_convert(g, acc[k], s.acc_t, op->results[0]->type.dtype);
}

/* cumsum: register k sums the source along the axis up to its own
 * coordinate there; later positions leave the running sum unchanged. */
static void cumsum_body(cg_ctx *g, LLVMValueRef kk, LLVMValueRef *acc, void *ctx)
{
    scan_ctx *s = ctx;
    for (int k = 0; k < s->m->nregs && g->status == TILE_OK; k++) {
        LLVMValueRef mine = s->coord[(size_t)k * (size_t)s->xrank + s->axis];
        LLVMValueRef v = source_at(g, s, k, kk);
        s->coord[(size_t)k * (size_t)s->xrank + s->axis] = mine;
        if (!v) return;
        LLVMValueRef sum = combine(g, IR_OP_REDUCE_SUM, s->acc_t, acc[k], v);
        LLVMValueRef take = LLVMBuildICmp(g->b, LLVMIntSLE, kk, mine, "");
        acc[k] = LLVMBuildSelect(g->b, take, sum, acc[k], "");
    }
}

void cg_lower_cumsum(cg_ctx *g, ir_op *op)
{
    scan_ctx s;
    if (!scan_setup(g, op, &s)) return;
    int n = s.m->nregs;
    LLVMValueRef *acc = arena_calloc(g->mem, (size_t)n, sizeof *acc);
    LLVMValueRef *out = cg_def(g, op->results[0], n);
    if (!acc || !out) return;
    for (int k = 0; k < n; k++) {
        LLVMValueRef mine = s.coord[(size_t)k * (size_t)s.xrank + s.axis];
        acc[k] = source_at(g, &s, k, cg_i32(g, 0));
        s.coord[(size_t)k * (size_t)s.xrank + s.axis] = mine;
    }
    cg_counted_loop(g, 1, op->operands[0]->type.shape[s.axis], n, acc, cumsum_body, &s);
    for (int k = 0; k < n; k++) out[k] = cg_convert(g, acc[k], s.acc_t, op->results[0]->type.dtype);
}
