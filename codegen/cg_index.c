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
 *   scan     one thread per line folds it in order, r = combine(r, x[t])
 *            with the combine region's ops emitted in the loop body, into
 *            the scratch; then every thread reads its registers: the
 *            interpreter's left fold in its order (no regrouping, so the
 *            results match bit for bit). */
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

/* One thread per line (lines round-robin over the block): the line is
 * folded in order, each step's values written to the result scratch;
 * after a barrier every thread reads its result registers there.  Work per
 * thread is O(lines / threads * length) and only k accumulators are live,
 * instead of a loop per result register. */
typedef struct scan_ctx {
    const ir_op *op;
    int nops, xrank, axis;
    cg_gather *gs;
    int64_t res_off[IR_SCAN_MAX_OPERANDS];
    LLVMValueRef coord[IR_MAX_RANK]; /* the current line's; axis slot per step */
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

/* Reads the operands at step kk of the current line and writes acc there. */
static bool scan_sources(cg_ctx *g, scan_ctx *s, LLVMValueRef kk, LLVMValueRef *x)
{
    s->coord[s->axis] = kk;
    for (int i = 0; i < s->nops; i++)
        if (!(x[i] = cg_value_at(g, s->gs, s->nops, s->op->operands[i], s->coord))) return false;
    return true;
}

/* Element `index` of a dtype-t array at byte `offset` of the scratch. */
static void scratch_put(cg_ctx *g, ir_dtype t, int64_t offset, LLVMValueRef index, LLVMValueRef v)
{
    LLVMTypeRef i8 = LLVMInt8TypeInContext(g->ctx);
    if (t == IR_BOOL) v = LLVMBuildZExt(g->b, v, i8, "");
    LLVMValueRef byte = LLVMBuildAdd(g->b, cg_i32(g, offset),
                                     LLVMBuildMul(g->b, index, cg_i32(g, ir_dtype_size(t)), ""), "");
    LLVMValueRef st = LLVMBuildStore(g->b, v, LLVMBuildGEP2(g->b, i8, g->scratch, &byte, 1, ""));
    LLVMSetAlignment(st, (unsigned)ir_dtype_size(t));
}

static void scan_write(cg_ctx *g, scan_ctx *s, LLVMValueRef kk, LLVMValueRef *acc)
{
    s->coord[s->axis] = kk;
    const ir_type *t = &s->op->operands[0]->type;
    LLVMValueRef lin = cg_linear(g, t->rank, t->shape, s->coord);
    for (int i = 0; i < s->nops; i++) scratch_put(g, s->op->results[i]->type.dtype, s->res_off[i], lin, acc[i]);
}

static void scan_step(cg_ctx *g, LLVMValueRef kk, LLVMValueRef *acc, void *ctx)
{
    scan_ctx *s = ctx;
    LLVMValueRef x[IR_SCAN_MAX_OPERANDS];
    if (!scan_sources(g, s, kk, x) || !combine(g, s, acc, x, acc)) return;
    scan_write(g, s, kk, acc);
}

/* The line `line` (i32; the caller checks it is < the line count). */
static void scan_line(cg_ctx *g, scan_ctx *s, LLVMValueRef line)
{
    const ir_type *t = &s->op->operands[0]->type;
    LLVMValueRef rest = line;
    for (int d = s->xrank - 1; d >= 0; d--) {
        if (d == s->axis) continue;
        s->coord[d] = LLVMBuildURem(g->b, rest, cg_i32(g, t->shape[d]), "");
        rest = LLVMBuildUDiv(g->b, rest, cg_i32(g, t->shape[d]), "");
    }
    LLVMValueRef acc[IR_SCAN_MAX_OPERANDS];
    if (!scan_sources(g, s, cg_i32(g, 0), acc)) return;
    scan_write(g, s, cg_i32(g, 0), acc);
    LLVMValueRef saved[IR_MAX_RANK];
    memcpy(saved, s->coord, sizeof saved);
    cg_counted_loop(g, 1, t->shape[s->axis], s->nops, acc, scan_step, s);
    memcpy(s->coord, saved, sizeof saved);
}

static void scan_round(cg_ctx *g, LLVMValueRef r, LLVMValueRef *acc, void *ctx)
{
    (void)acc;
    scan_ctx *s = ctx;
    const ir_type *t = &s->op->operands[0]->type;
    int64_t nlines = ir_type_numel(t) / t->shape[s->axis];
    LLVMValueRef line = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, r, cg_i32(g, g->nthreads), ""), g->tid, "");
    LLVMBasicBlockRef cont = cg_begin_if(g, LLVMBuildICmp(g->b, LLVMIntSLT, line, cg_i32(g, nlines), ""));
    scan_line(g, s, line);
    cg_end_if(g, cont);
}

/* The combine runs in one thread per line, inside a per-thread branch:
 * an op there that synchronises the block (print: barriers) or that the
 * GPU runs in thread 0 only (a store, an atomic) cannot be lowered so. */
static const ir_op *unlowerable_in_combine(const ir_block *blk)
{
    for (const ir_op *o = blk->first; o; o = o->next) {
        if (o->code == IR_OP_PRINT || o->code == IR_OP_STORE || o->code == IR_OP_ATOMIC_ADD) return o;
        for (int r = 0; r < o->nblocks; r++) {
            const ir_op *bad = o->blocks[r] ? unlowerable_in_combine(o->blocks[r]) : NULL;
            if (bad) return bad;
        }
    }
    return NULL;
}

void cg_lower_scan(cg_ctx *g, ir_op *op)
{
    int nops = op->noperands;
    if (nops < 1 || nops > IR_SCAN_MAX_OPERANDS || op->nresults != nops || op->nblocks != 1 ||
        !op->blocks[0] || op->blocks[0]->nargs != 2 * nops || op->operands[0]->type.rank < 1) {
        cg_error(g, op, "internal: malformed scan");
        return;
    }
    const ir_op *bad = unlowerable_in_combine(op->blocks[0]);
    if (bad) {
        cg_error(g, bad, "associative_scan: '%s' in the combine fn is not supported on the GPU",
                 ir_op_table[bad->code].name);
        return;
    }
    cg_gather gs[IR_SCAN_MAX_OPERANDS];
    scan_ctx s = {.op = op, .nops = nops, .xrank = op->operands[0]->type.rank,
                  .axis = (int)op->attr.i, .gs = gs};
    int64_t cursor = 0;
    for (int i = 0; i < nops; i++) {
        if (!cg_get(g, op->operands[i])) return;
        gs[i] = (cg_gather){.v = op->operands[i]};
        const ir_type *t = &op->operands[i]->type;
        cg_scratch(g, &cursor, ir_type_numel(t) * ir_dtype_size(t->dtype)); /* room for the gathers */
    }
    for (int i = 0; i < nops; i++) {
        const ir_type *t = &op->results[i]->type;
        s.res_off[i] = cg_scratch(g, &cursor, ir_type_numel(t) * ir_dtype_size(t->dtype));
    }
    /* Barrier first even when nothing is gathered: earlier readers of the
     * scratch must be done before the lines are written. */
    if (!cg_prepare_gathers(g, gs, nops, 0)) cg_barrier(g);
    const ir_type *xt = &op->operands[0]->type;
    int64_t nlines = ir_type_numel(xt) / xt->shape[s.axis];
    cg_counted_loop(g, 0, (nlines + g->nthreads - 1) / g->nthreads, 0, NULL, scan_round, &s);
    if (g->status != TILE_OK) return;
    cg_barrier(g);
    for (int i = 0; i < nops; i++) {
        const ir_value *r = op->results[i];
        const cg_map *m = cg_map_of(g, &r->type);
        LLVMValueRef *out = m ? cg_def(g, r, m->nregs) : NULL;
        if (!out) return;
        for (int k = 0; k < m->nregs; k++) {
            LLVMValueRef c[IR_MAX_RANK];
            cg_clamped_coord(g, m, k, c);
            out[k] = cg_scratch_load(g, r->type.dtype, s.res_off[i], cg_linear(g, r->type.rank, r->type.shape, c));
        }
    }
}
