/* cg_index.c - slice, concat, argmax/argmin and the user scan
 * (associative_scan), on cg_shared.c's generic path: operands that cannot
 * be recomputed at a coordinate go to the shared-memory scratch, and each
 * thread reads what its result registers need.
 *
 *   slice    result[.., i, ..] = x[.., start + i*step, ..]
 *   concat   a's coordinates below a.shape[axis], b's (shifted) above
 *   argmax   one loop along the axis per result register carrying (best
 *   argmin   value, best index); a candidate replaces the best exactly when
 *            ev_float_better (ir/eval_ops.h) says so: first index wins, NaN
 *            beats numbers (the first NaN stays), +0 > -0 for max
 *   scan     per result register a loop over the line up to its own
 *            coordinate, r = combine(r, x[t]) with the combine region's ops
 *            emitted once per step: the interpreter's left fold, in its
 *            order (no regrouping, so results match bit for bit). */
#include "cg_impl.h"

#include <string.h>

/* ---- slice, concat ------------------------------------------------------------ */

void cg_lower_slice(cg_ctx *g, ir_op *op)
{
    const ir_value *x = op->operands[0], *r = op->results[0];
    const cg_map *m = cg_map_of(g, &r->type);
    if (!m || !cg_get(g, x)) return;
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!out) return;
    cg_gather gs = {.v = x};
    cg_prepare_gathers(g, &gs, 1, 0);
    int axis = (int)op->attr.i;
    for (int k = 0; k < m->nregs && g->status == TILE_OK; k++) {
        LLVMValueRef c[IR_MAX_RANK];
        cg_clamped_coord(g, m, k, c);
        c[axis] = LLVMBuildAdd(g->b, cg_i32(g, op->attr.start),
                               LLVMBuildMul(g->b, c[axis], cg_i32(g, op->attr.step), ""), "");
        out[k] = cg_value_at(g, &gs, 1, x, c);
    }
}

void cg_lower_concat(cg_ctx *g, ir_op *op)
{
    const ir_value *a = op->operands[0], *bv = op->operands[1], *r = op->results[0];
    const cg_map *m = cg_map_of(g, &r->type);
    if (!m || !cg_get(g, a) || !cg_get(g, bv)) return;
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!out) return;
    cg_gather gs[2] = {{.v = a}, {.v = bv}};
    cg_prepare_gathers(g, gs, 2, 0);
    int axis = (int)op->attr.i;
    int64_t na = a->type.shape[axis];
    for (int k = 0; k < m->nregs && g->status == TILE_OK; k++) {
        LLVMValueRef c[IR_MAX_RANK], ca[IR_MAX_RANK], cb[IR_MAX_RANK];
        cg_clamped_coord(g, m, k, c);
        memcpy(ca, c, sizeof c);
        memcpy(cb, c, sizeof c);
        LLVMValueRef in_a = LLVMBuildICmp(g->b, LLVMIntSLT, c[axis], cg_i32(g, na), "");
        /* Both reads stay inside their tiles; the select keeps the right one. */
        ca[axis] = LLVMBuildSelect(g->b, in_a, c[axis], cg_i32(g, 0), "");
        cb[axis] = LLVMBuildSelect(g->b, in_a, cg_i32(g, 0), LLVMBuildSub(g->b, c[axis], cg_i32(g, na), ""), "");
        LLVMValueRef va = cg_value_at(g, gs, 2, a, ca), vb = cg_value_at(g, gs, 2, bv, cb);
        if (!va || !vb) return;
        out[k] = LLVMBuildSelect(g->b, in_a, va, vb, "");
    }
}

/* ---- lines along an axis ---------------------------------------------------------- */

/* Source coordinates (x's rank) of every register of result map m: the
 * result's coordinates with the axis slot inserted (keeps_axis: the result
 * has the axis itself, the slot starts at its own coordinate). */
static LLVMValueRef *line_coords(cg_ctx *g, const cg_map *m, int xrank, int axis, bool keeps_axis)
{
    LLVMValueRef *coord = arena_calloc(g->mem, (size_t)m->nregs * (size_t)xrank + 1, sizeof *coord);
    if (!coord) {
        g->status = TILE_ERR_NOMEM;
        return NULL;
    }
    for (int k = 0; k < m->nregs; k++) {
        LLVMValueRef c[IR_MAX_RANK];
        cg_clamped_coord(g, m, k, c);
        LLVMValueRef *dst = coord + (size_t)k * (size_t)xrank;
        for (int d = 0, j = 0; d < xrank; d++)
            dst[d] = d == axis ? (keeps_axis ? c[j++] : cg_i32(g, 0)) : c[j++];
    }
    return coord;
}

/* ---- argmax / argmin ----------------------------------------------------------------- */

typedef struct arg_ctx {
    const ir_op *op;
    int n, xrank, axis;
    cg_gather gs;
    LLVMValueRef *coord;
    bool is_max, is_float;
} arg_ctx;

static LLVMValueRef sign_bit(cg_ctx *g, LLVMValueRef f)
{
    LLVMValueRef i = LLVMBuildBitCast(g->b, f, LLVMInt32TypeInContext(g->ctx), "");
    return LLVMBuildICmp(g->b, LLVMIntSLT, i, cg_i32(g, 0), "");
}

/* ev_float_better(is_max, x, best) and its integer counterpart. */
static LLVMValueRef better(cg_ctx *g, const arg_ctx *a, LLVMValueRef x, LLVMValueRef best)
{
    LLVMBuilderRef b = g->b;
    if (!a->is_float) return LLVMBuildICmp(b, a->is_max ? LLVMIntSGT : LLVMIntSLT, x, best, "");
    LLVMValueRef zero = LLVMConstReal(LLVMTypeOf(x), 0.0);
    LLVMValueRef best_nan = LLVMBuildFCmp(b, LLVMRealUNO, best, best, "");
    LLVMValueRef x_nan = LLVMBuildFCmp(b, LLVMRealUNO, x, x, "");
    LLVMValueRef eq = LLVMBuildFCmp(b, LLVMRealOEQ, x, best, "");
    LLVMValueRef sx = sign_bit(g, x), sb = sign_bit(g, best);
    /* equal zeros: max prefers +0 over -0, min -0 over +0 */
    LLVMValueRef zero_pick = a->is_max ? LLVMBuildAnd(b, LLVMBuildNot(b, sx, ""), sb, "")
                                       : LLVMBuildAnd(b, sx, LLVMBuildNot(b, sb, ""), "");
    LLVMValueRef on_eq = LLVMBuildAnd(b, LLVMBuildFCmp(b, LLVMRealOEQ, x, zero, ""), zero_pick, "");
    LLVMValueRef strict = LLVMBuildFCmp(b, a->is_max ? LLVMRealOGT : LLVMRealOLT, x, best, "");
    LLVMValueRef num = LLVMBuildSelect(b, eq, on_eq, strict, "");
    LLVMValueRef v = LLVMBuildSelect(b, x_nan, LLVMConstInt(LLVMInt1TypeInContext(g->ctx), 1, 0), num, "");
    return LLVMBuildSelect(b, best_nan, LLVMConstInt(LLVMInt1TypeInContext(g->ctx), 0, 0), v, "");
}

static LLVMValueRef arg_source(cg_ctx *g, arg_ctx *a, int k, LLVMValueRef kk)
{
    LLVMValueRef *c = a->coord + (size_t)k * (size_t)a->xrank;
    c[a->axis] = kk;
    LLVMValueRef v = cg_value_at(g, &a->gs, 1, a->op->operands[0], c);
    ir_dtype t = a->op->operands[0]->type.dtype;
    return v && a->is_float ? cg_convert(g, v, t, IR_F32) : v;
}

/* acc = n best values, then n best indices. */
static void arg_body(cg_ctx *g, LLVMValueRef kk, LLVMValueRef *acc, void *ctx)
{
    arg_ctx *a = ctx;
    for (int k = 0; k < a->n && g->status == TILE_OK; k++) {
        LLVMValueRef x = arg_source(g, a, k, kk);
        if (!x) return;
        LLVMValueRef take = better(g, a, x, acc[k]);
        acc[k] = LLVMBuildSelect(g->b, take, x, acc[k], "");
        acc[a->n + k] = LLVMBuildSelect(g->b, take, kk, acc[a->n + k], "");
    }
}

void cg_lower_argext(cg_ctx *g, ir_op *op)
{
    const ir_value *x = op->operands[0], *r = op->results[0];
    arg_ctx a = {.op = op, .xrank = x->type.rank, .axis = (int)op->attr.i, .gs = {.v = x},
                 .is_max = op->code == IR_OP_ARGMAX, .is_float = ir_dtype_is_float(x->type.dtype)};
    const cg_map *m = cg_map_of(g, &r->type);
    if (!m || !cg_get(g, x)) return;
    a.n = m->nregs;
    if (!(a.coord = line_coords(g, m, a.xrank, a.axis, false))) return;
    cg_prepare_gathers(g, &a.gs, 1, 0);
    LLVMValueRef *acc = arena_calloc(g->mem, 2 * (size_t)a.n, sizeof *acc);
    LLVMValueRef *out = cg_def(g, r, a.n);
    if (!acc || !out || g->status != TILE_OK) return;
    for (int k = 0; k < a.n; k++) {
        acc[k] = arg_source(g, &a, k, cg_i32(g, 0));
        acc[a.n + k] = cg_i32(g, 0);
    }
    cg_counted_loop(g, 1, x->type.shape[a.axis], 2 * a.n, acc, arg_body, &a);
    for (int k = 0; k < a.n; k++) out[k] = acc[a.n + k];
}

/* ---- scan (associative_scan) -------------------------------------------------------- */

typedef struct scan_ctx {
    const ir_op *op;
    const cg_map *m;
    int nops, xrank, axis;
    cg_gather *gs;
    LLVMValueRef *coord;   /* per register, the axis slot rewritten per step */
    LLVMValueRef *mine;    /* per register: its coordinate along the axis */
} scan_ctx;

/* combine(acc, x) through the region: its arguments bound to the
 * registers, its ops lowered here, its yield read back. */
static bool combine(cg_ctx *g, const scan_ctx *s, LLVMValueRef *acc, LLVMValueRef *x, LLVMValueRef *res)
{
    ir_block *blk = s->op->blocks[0];
    for (int i = 0; i < 2 * s->nops; i++) {
        LLVMValueRef *reg = cg_def(g, blk->args[i], 1);
        if (!reg) return false;
        reg[0] = i < s->nops ? acc[i] : x[i - s->nops];
    }
    cg_lower_block(g, blk);
    ir_op *y = blk->last;
    if (g->status != TILE_OK) return false;
    if (!y || y->code != IR_OP_YIELD || y->noperands != s->nops) {
        cg_error(g, s->op, "internal: scan combine does not yield one value per operand");
        return false;
    }
    for (int i = 0; i < s->nops; i++)
        if (!(res[i] = cg_scalar_of(g, y->operands[i]))) return false;
    return true;
}

static bool scan_sources(cg_ctx *g, scan_ctx *s, int k, LLVMValueRef kk, LLVMValueRef *x)
{
    LLVMValueRef *c = s->coord + (size_t)k * (size_t)s->xrank;
    c[s->axis] = kk;
    for (int i = 0; i < s->nops; i++)
        if (!(x[i] = cg_value_at(g, s->gs, s->nops, s->op->operands[i], c))) return false;
    return true;
}

/* acc: register k's running values at acc[k * nops + i]; positions past
 * the register's own coordinate leave them unchanged. */
static void scan_body(cg_ctx *g, LLVMValueRef kk, LLVMValueRef *acc, void *ctx)
{
    scan_ctx *s = ctx;
    for (int k = 0; k < s->m->nregs && g->status == TILE_OK; k++) {
        LLVMValueRef x[IR_SCAN_MAX_OPERANDS], res[IR_SCAN_MAX_OPERANDS];
        LLVMValueRef *a = acc + (size_t)k * (size_t)s->nops;
        LLVMValueRef take = LLVMBuildICmp(g->b, LLVMIntSLE, kk, s->mine[k], "");
        /* The combine runs only where it is taken: it may assert or divide. */
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
        LLVMBasicBlockRef cont = cg_begin_if(g, take);
        if (!scan_sources(g, s, k, kk, x) || !combine(g, s, a, x, res)) return;
        LLVMBasicBlockRef done = LLVMGetInsertBlock(g->b);
        cg_end_if(g, cont);
        for (int i = 0; i < s->nops; i++) {
            LLVMValueRef phi = LLVMBuildPhi(g->b, LLVMTypeOf(a[i]), "");
            LLVMAddIncoming(phi, &res[i], &done, 1);
            LLVMAddIncoming(phi, &a[i], &pre, 1);
            a[i] = phi;
        }
    }
}

/* The scan for every result whose register map is m. */
static void scan_map(cg_ctx *g, ir_op *op, const cg_map *m, cg_gather *gs)
{
    int nops = op->noperands, xrank = op->operands[0]->type.rank;
    scan_ctx s = {.op = op, .m = m, .nops = nops, .xrank = xrank, .axis = (int)op->attr.i, .gs = gs};
    if (!(s.coord = line_coords(g, m, xrank, s.axis, true))) return;
    s.mine = arena_calloc(g->mem, (size_t)m->nregs + 1, sizeof *s.mine);
    LLVMValueRef *acc = arena_calloc(g->mem, (size_t)m->nregs * (size_t)nops + 1, sizeof *acc);
    if (!s.mine || !acc) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    for (int k = 0; k < m->nregs; k++) {
        s.mine[k] = s.coord[(size_t)k * (size_t)xrank + s.axis];
        if (!scan_sources(g, &s, k, cg_i32(g, 0), acc + (size_t)k * (size_t)nops)) return;
    }
    cg_counted_loop(g, 1, op->operands[0]->type.shape[s.axis], m->nregs * nops, acc, scan_body, &s);
    if (g->status != TILE_OK) return;
    for (int i = 0; i < op->nresults; i++) {
        if (cg_map_of(g, &op->results[i]->type) != m) continue;
        LLVMValueRef *out = cg_def(g, op->results[i], m->nregs);
        if (!out) return;
        for (int k = 0; k < m->nregs; k++) out[k] = acc[(size_t)k * (size_t)nops + i];
    }
}

void cg_lower_scan(cg_ctx *g, ir_op *op)
{
    int nops = op->noperands;
    if (nops < 1 || nops > IR_SCAN_MAX_OPERANDS || op->nresults != nops || op->nblocks != 1 ||
        !op->blocks[0] || op->blocks[0]->nargs != 2 * nops) {
        cg_error(g, op, "internal: malformed scan");
        return;
    }
    cg_gather gs[IR_SCAN_MAX_OPERANDS];
    for (int i = 0; i < nops; i++) {
        if (!cg_get(g, op->operands[i])) return;
        gs[i] = (cg_gather){.v = op->operands[i]};
    }
    cg_prepare_gathers(g, gs, nops, 0);
    /* Results under different layouts (not expected) each get their own loop. */
    for (int i = 0; i < op->nresults && g->status == TILE_OK; i++) {
        const cg_map *m = cg_map_of(g, &op->results[i]->type);
        if (!m) return;
        bool seen = false;
        for (int j = 0; j < i; j++) seen |= cg_map_of(g, &op->results[j]->type) == m;
        if (!seen) scan_map(g, op, m, gs);
    }
}
