/* cg_sort.c - sort and topk (ir.h SORT, TOPK) on cg_shared.c's generic
 * path: a rank computation through the shared-memory scratch.
 *
 * Every element of x (round-robin over the block's threads) counts the
 * elements of its line that precede it in the sorted order; that count is
 * its position in the result.  An element whose position is below the
 * result's length along the axis (all of them for sort, k for topk) writes
 * its value and its index there; after a barrier every thread reads its
 * result registers.  Positions are distinct because the order is total: the
 * key (value, index) never ties, which is what makes the sort stable and
 * the result exactly the interpreter's (ir/interp_sort.c) for any layout and
 * any length, odd ones included.  Work is O(n) per element (n the line
 * length), so this is the correct generic lowering, not a fast one; a
 * bitonic network in registers can replace it op by op.
 *
 * Float keys: the f32 bits made monotone (sign set: all bits flipped; else
 * the sign bit set) compared unsigned, NaN mapped to the largest key, so
 * -0.0 < +0.0 and every NaN is one value above +inf, as the interpreter
 * orders them.  16-bit floats are widened exactly to f32 first. */
#include "cg_impl.h"

typedef struct sort_ctx {
    const ir_op *op;
    bool descending, is_float;
    int axis;
    cg_gather gs;
    int64_t val_off, idx_off;
    LLVMValueRef coord[IR_MAX_RANK]; /* the current element's; the axis slot varies */
    LLVMValueRef pos, key;           /* the element's position along the axis, its key */
} sort_ctx;

static LLVMValueRef sort_key(cg_ctx *g, const sort_ctx *s, LLVMValueRef x)
{
    if (!s->is_float) return x;
    LLVMBuilderRef b = g->b;
    LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
    x = cg_convert(g, x, s->op->operands[0]->type.dtype, IR_F32);
    LLVMValueRef bits = LLVMBuildBitCast(b, x, i32, "");
    LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, bits, cg_i32(g, 0), "");
    LLVMValueRef key = LLVMBuildSelect(b, neg, LLVMBuildNot(b, bits, ""),
                                       LLVMBuildOr(b, bits, cg_i32(g, (int32_t)0x80000000u), ""), "");
    LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, x, x, "");
    return LLVMBuildSelect(b, nan, cg_i32(g, -1), key, "");
}

/* Does element (key_j, j) come before the current element? */
static LLVMValueRef precedes(cg_ctx *g, const sort_ctx *s, LLVMValueRef key_j, LLVMValueRef j)
{
    LLVMBuilderRef b = g->b;
    LLVMIntPredicate before = s->is_float ? (s->descending ? LLVMIntUGT : LLVMIntULT)
                                          : (s->descending ? LLVMIntSGT : LLVMIntSLT);
    LLVMValueRef strict = LLVMBuildICmp(b, before, key_j, s->key, "");
    LLVMValueRef tie = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntEQ, key_j, s->key, ""),
                                    LLVMBuildICmp(b, LLVMIntSLT, j, s->pos, ""), "");
    return LLVMBuildOr(b, strict, tie, "");
}

static LLVMValueRef key_at(cg_ctx *g, sort_ctx *s, LLVMValueRef j)
{
    s->coord[s->axis] = j;
    LLVMValueRef x = cg_value_at(g, &s->gs, 1, s->op->operands[0], s->coord);
    return x ? sort_key(g, s, x) : NULL;
}

/* acc[0]: how many elements of the line precede the current one. */
static void count_step(cg_ctx *g, LLVMValueRef j, LLVMValueRef *acc, void *ctx)
{
    sort_ctx *s = ctx;
    LLVMValueRef key_j = key_at(g, s, j);
    if (!key_j) return;
    LLVMValueRef one = LLVMBuildZExt(g->b, precedes(g, s, key_j, j), LLVMInt32TypeInContext(g->ctx), "");
    acc[0] = LLVMBuildAdd(g->b, acc[0], one, "");
}

static void scratch_put(cg_ctx *g, ir_dtype t, int64_t offset, LLVMValueRef index, LLVMValueRef v)
{
    LLVMTypeRef i8 = LLVMInt8TypeInContext(g->ctx);
    LLVMValueRef byte = LLVMBuildAdd(g->b, cg_i32(g, offset),
                                     LLVMBuildMul(g->b, index, cg_i32(g, ir_dtype_size(t)), ""), "");
    LLVMValueRef st = LLVMBuildStore(g->b, v, LLVMBuildGEP2(g->b, i8, g->smem, &byte, 1, ""));
    LLVMSetAlignment(st, (unsigned)ir_dtype_size(t));
}

/* Element `e` (i32, below x's element count): its rank, then its value and
 * index written at that position when the result keeps it. */
static void place_element(cg_ctx *g, sort_ctx *s, LLVMValueRef e)
{
    const ir_type *xt = &s->op->operands[0]->type, *rt = &s->op->results[0]->type;
    LLVMValueRef rest = e;
    for (int d = xt->rank - 1; d >= 0; d--) {
        s->coord[d] = LLVMBuildURem(g->b, rest, cg_i32(g, xt->shape[d]), "");
        rest = LLVMBuildUDiv(g->b, rest, cg_i32(g, xt->shape[d]), "");
    }
    s->pos = s->coord[s->axis];
    LLVMValueRef x = cg_value_at(g, &s->gs, 1, s->op->operands[0], s->coord);
    if (!x) return;
    s->key = sort_key(g, s, x);
    LLVMValueRef saved[IR_MAX_RANK];
    for (int d = 0; d < xt->rank; d++) saved[d] = s->coord[d];
    LLVMValueRef rank = cg_i32(g, 0);
    cg_counted_loop(g, 0, xt->shape[s->axis], 1, &rank, count_step, s);
    for (int d = 0; d < xt->rank; d++) s->coord[d] = saved[d];
    if (g->status != TILE_OK) return;
    LLVMValueRef kept = LLVMBuildICmp(g->b, LLVMIntSLT, rank, cg_i32(g, rt->shape[s->axis]), "");
    LLVMBasicBlockRef cont = cg_begin_if(g, kept);
    s->coord[s->axis] = rank;
    LLVMValueRef at = cg_linear(g, rt->rank, rt->shape, s->coord);
    scratch_put(g, rt->dtype, s->val_off, at, x);
    scratch_put(g, IR_I32, s->idx_off, at, s->pos);
    cg_end_if(g, cont);
}

static void place_round(cg_ctx *g, LLVMValueRef r, LLVMValueRef *acc, void *ctx)
{
    (void)acc;
    sort_ctx *s = ctx;
    int64_t n = ir_type_numel(&s->op->operands[0]->type);
    LLVMValueRef e = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, r, cg_i32(g, g->nthreads), ""), g->tid, "");
    LLVMBasicBlockRef cont = cg_begin_if(g, LLVMBuildICmp(g->b, LLVMIntSLT, e, cg_i32(g, n), ""));
    place_element(g, s, e);
    cg_end_if(g, cont);
}

static void read_result(cg_ctx *g, const ir_value *r, int64_t offset)
{
    const cg_map *m = cg_map_of(g, &r->type);
    LLVMValueRef *out = m ? cg_def(g, r, m->nregs) : NULL;
    if (!out) return;
    for (int k = 0; k < m->nregs; k++) {
        LLVMValueRef c[IR_MAX_RANK];
        cg_clamped_coord(g, m, k, c);
        out[k] = cg_scratch_load(g, r->type.dtype, offset, cg_linear(g, r->type.rank, r->type.shape, c));
    }
}

void cg_lower_sort(cg_ctx *g, ir_op *op)
{
    if (op->noperands != 1 || op->nresults != 2 || op->operands[0]->type.rank < 1 ||
        op->operands[0]->type.dtype == IR_BOOL) {
        cg_error(g, op, "internal: malformed %s", ir_op_table[op->code].name);
        return;
    }
    const ir_value *x = op->operands[0];
    if (!cg_get(g, x)) return;
    sort_ctx s = {.op = op, .descending = op->code == IR_OP_TOPK,
                  .is_float = ir_dtype_is_float(x->type.dtype), .axis = (int)op->attr.i,
                  .gs = {.v = x}};
    int64_t cursor = 0;
    cg_scratch(g, &cursor, ir_type_numel(&x->type) * ir_dtype_size(x->type.dtype)); /* the gather */
    const ir_type *vt = &op->results[0]->type;
    s.val_off = cg_scratch(g, &cursor, ir_type_numel(vt) * ir_dtype_size(vt->dtype));
    s.idx_off = cg_scratch(g, &cursor, ir_type_numel(vt) * ir_dtype_size(IR_I32));
    /* Barrier first even when nothing is gathered: earlier readers of the
     * scratch must be done before the results are written. */
    if (!cg_prepare_gathers(g, &s.gs, 1, 0)) cg_barrier(g);
    int64_t n = ir_type_numel(&x->type);
    cg_counted_loop(g, 0, (n + g->nthreads - 1) / g->nthreads, 0, NULL, place_round, &s);
    if (g->status != TILE_OK) return;
    cg_barrier(g);
    read_result(g, op->results[0], s.val_off);
    read_result(g, op->results[1], s.idx_off);
}
