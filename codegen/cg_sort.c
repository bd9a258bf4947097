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
 * orders them.  16-bit floats are widened exactly to f32 first.
 *
 * Lines of SORT_NETWORK_MIN elements or more take a bitonic network instead
 * (O(n log^2 n) work, not O(n^2)): every line, padded to a power of two, is
 * an array of (key, index) pairs in the scratch, keys made unsigned and
 * ascending whatever the direction (descending: the key's complement) and
 * the padding (all ones, index >= n) last; the pairs never tie, so the
 * network's result is the same unique order as the ranks give.  Each of its
 * log n (log n + 1) / 2 compare-exchange steps is a round-robin loop over the
 * pairs followed by a barrier, the steps themselves runtime loops (so the code
 * does not grow with n); then each result register reads its index and
 * gathers the value of x there. */
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

/* ---- long lines: the bitonic network ---------------------------------------------- */

enum { SORT_NETWORK_MIN = 257 };

typedef struct net_ctx {
    sort_ctx *s;
    int64_t len, npow2, nlines, total;     /* total: elements or pairs of the round */
    ir_dtype kt;                           /* key dtype: i32 (unsigned) or i64 */
    int64_t key_off, idx_off;
    int log_n;
    LLVMValueRef log_j, log_k;             /* the current step (i32): j = 2^log_j, k = 2^log_k */
} net_ctx;

/* The element's key as an unsigned, ascending integer (descending: the
 * complement): floats through sort_key, integers with the sign bit flipped. */
static LLVMValueRef net_key(cg_ctx *g, const net_ctx *n, LLVMValueRef x)
{
    LLVMValueRef key;
    if (n->s->is_float) key = sort_key(g, n->s, x);
    else if (n->kt == IR_I64) key = LLVMBuildXor(g->b, x, cg_i64(g, INT64_MIN), "");
    else key = LLVMBuildXor(g->b, x, cg_i32(g, INT32_MIN), "");
    return n->s->descending ? LLVMBuildNot(g->b, key, "") : key;
}

/* Coordinates of line `line` (the dims other than the axis, row-major). */
static void line_coord(cg_ctx *g, const ir_type *t, int axis, LLVMValueRef line, LLVMValueRef *coord)
{
    LLVMValueRef rest = line;
    for (int d = t->rank - 1; d >= 0; d--) {
        if (d == axis) continue;
        coord[d] = LLVMBuildURem(g->b, rest, cg_i32(g, t->shape[d]), "");
        rest = LLVMBuildUDiv(g->b, rest, cg_i32(g, t->shape[d]), "");
    }
}

/* The round's item e = r * threads + tid, and whether it exists. */
static LLVMValueRef net_item(cg_ctx *g, const net_ctx *n, LLVMValueRef r, LLVMValueRef *e)
{
    *e = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, r, cg_i32(g, g->nthreads), ""), g->tid, "");
    return LLVMBuildICmp(g->b, LLVMIntSLT, *e, cg_i32(g, n->total), "");
}

static void net_fill(cg_ctx *g, LLVMValueRef r, LLVMValueRef *acc, void *ctx)
{
    (void)acc;
    net_ctx *n = ctx;
    sort_ctx *s = n->s;
    LLVMValueRef e;
    LLVMBasicBlockRef cont = cg_begin_if(g, net_item(g, n, r, &e));
    LLVMValueRef p = LLVMBuildURem(g->b, e, cg_i32(g, n->npow2), "");
    LLVMValueRef real = LLVMBuildICmp(g->b, LLVMIntSLT, p, cg_i32(g, n->len), "");
    line_coord(g, &s->op->operands[0]->type, s->axis, LLVMBuildUDiv(g->b, e, cg_i32(g, n->npow2), ""), s->coord);
    s->coord[s->axis] = LLVMBuildSelect(g->b, real, p, cg_i32(g, 0), "");
    LLVMValueRef x = cg_value_at(g, &s->gs, 1, s->op->operands[0], s->coord);
    if (!x) return;
    LLVMValueRef pad = n->kt == IR_I64 ? cg_i64(g, -1) : cg_i32(g, -1);
    scratch_put(g, n->kt, n->key_off, e, LLVMBuildSelect(g->b, real, net_key(g, n, x), pad, ""));
    scratch_put(g, IR_I32, n->idx_off, e, p);
    cg_end_if(g, cont);
}

/* One compare-exchange of the step (j, k): pair e of the round. */
static void net_step(cg_ctx *g, LLVMValueRef r, LLVMValueRef *acc, void *ctx)
{
    (void)acc;
    net_ctx *n = ctx;
    LLVMBuilderRef b = g->b;
    LLVMValueRef e;
    LLVMBasicBlockRef cont = cg_begin_if(g, net_item(g, n, r, &e));
    int64_t half = n->npow2 / 2;
    LLVMValueRef line = LLVMBuildUDiv(b, e, cg_i32(g, half), ""), t = LLVMBuildURem(b, e, cg_i32(g, half), "");
    /* i: t with a 0 bit inserted at position log_j; its partner has it set */
    LLVMValueRef j = LLVMBuildShl(b, cg_i32(g, 1), n->log_j, "");
    LLVMValueRef hi = LLVMBuildShl(b, LLVMBuildLShr(b, t, n->log_j, ""), LLVMBuildAdd(b, n->log_j, cg_i32(g, 1), ""), "");
    LLVMValueRef i = LLVMBuildOr(b, hi, LLVMBuildAnd(b, t, LLVMBuildSub(b, j, cg_i32(g, 1), ""), ""), "");
    LLVMValueRef up = LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildAnd(b, i, LLVMBuildShl(b, cg_i32(g, 1), n->log_k, ""), ""),
                                    cg_i32(g, 0), "");
    LLVMValueRef a = LLVMBuildAdd(b, LLVMBuildMul(b, line, cg_i32(g, n->npow2), ""), i, "");
    LLVMValueRef c = LLVMBuildAdd(b, a, j, "");
    LLVMValueRef ka = cg_scratch_load(g, n->kt, n->key_off, a), kc = cg_scratch_load(g, n->kt, n->key_off, c);
    LLVMValueRef ia = cg_scratch_load(g, IR_I32, n->idx_off, a), ic = cg_scratch_load(g, IR_I32, n->idx_off, c);
    LLVMValueRef gt = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntUGT, ka, kc, ""),
                                  LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntEQ, ka, kc, ""),
                                               LLVMBuildICmp(b, LLVMIntSGT, ia, ic, ""), ""), "");
    LLVMValueRef swap = LLVMBuildXor(b, gt, LLVMBuildNot(b, up, ""), "");
    scratch_put(g, n->kt, n->key_off, a, LLVMBuildSelect(b, swap, kc, ka, ""));
    scratch_put(g, n->kt, n->key_off, c, LLVMBuildSelect(b, swap, ka, kc, ""));
    scratch_put(g, IR_I32, n->idx_off, a, LLVMBuildSelect(b, swap, ic, ia, ""));
    scratch_put(g, IR_I32, n->idx_off, c, LLVMBuildSelect(b, swap, ia, ic, ""));
    cg_end_if(g, cont);
}

static void net_rounds(cg_ctx *g, net_ctx *n, int64_t total, cg_loop_body body)
{
    n->total = total;
    cg_counted_loop(g, 0, (total + g->nthreads - 1) / g->nthreads, 0, NULL, body, n);
    cg_barrier(g);
}

/* The steps as two runtime loops (one copy of the step's code, however
 * long the line): log_k = 1 .. log_n, then r = 0 .. log_n - 1 with
 * log_j = log_k - 1 - r while r < log_k (a uniform branch: its barriers are
 * reached by every thread). */
static void net_inner(cg_ctx *g, LLVMValueRef r, LLVMValueRef *acc, void *ctx)
{
    (void)acc;
    net_ctx *n = ctx;
    LLVMBasicBlockRef cont = cg_begin_if(g, LLVMBuildICmp(g->b, LLVMIntSLT, r, n->log_k, ""));
    n->log_j = LLVMBuildSub(g->b, LLVMBuildSub(g->b, n->log_k, cg_i32(g, 1), ""), r, "");
    net_rounds(g, n, n->nlines * n->npow2 / 2, net_step);
    cg_end_if(g, cont);
}

static void net_outer(cg_ctx *g, LLVMValueRef log_k, LLVMValueRef *acc, void *ctx)
{
    (void)acc;
    net_ctx *n = ctx;
    n->log_k = log_k;
    cg_counted_loop(g, 0, n->log_n, 0, NULL, net_inner, n);
}

/* Result registers: the index at their sorted position, the value of x there. */
static void net_read(cg_ctx *g, net_ctx *n)
{
    sort_ctx *s = n->s;
    const ir_value *vr = s->op->results[0], *ir = s->op->results[1];
    const cg_map *m = cg_map_of(g, &vr->type);
    LLVMValueRef *vals = m ? cg_def(g, vr, m->nregs) : NULL, *idxs = m ? cg_def(g, ir, m->nregs) : NULL;
    if (!vals || !idxs) return;
    const ir_type *xt = &s->op->operands[0]->type;
    for (int k = 0; k < m->nregs && g->status == TILE_OK; k++) {
        LLVMValueRef c[IR_MAX_RANK], line = cg_i32(g, 0);
        cg_clamped_coord(g, m, k, c);
        for (int d = 0; d < xt->rank; d++)
            if (d != s->axis)
                line = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, line, cg_i32(g, xt->shape[d]), ""), c[d], "");
        LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, line, cg_i32(g, n->npow2), ""), c[s->axis], "");
        idxs[k] = cg_scratch_load(g, IR_I32, n->idx_off, at);
        c[s->axis] = idxs[k];
        vals[k] = cg_value_at(g, &s->gs, 1, s->op->operands[0], c);
    }
}

static void lower_network(cg_ctx *g, sort_ctx *s, int64_t cursor)
{
    const ir_type *xt = &s->op->operands[0]->type;
    net_ctx n = {.s = s, .len = xt->shape[s->axis], .npow2 = 1,
                 .kt = xt->dtype == IR_I64 ? IR_I64 : IR_I32};
    while (n.npow2 < n.len) n.npow2 *= 2, n.log_n++;
    n.nlines = ir_type_numel(xt) / n.len;
    n.key_off = cg_scratch(g, &cursor, n.nlines * n.npow2 * ir_dtype_size(n.kt));
    n.idx_off = cg_scratch(g, &cursor, n.nlines * n.npow2 * 4);
    if (!cg_prepare_gathers(g, &s->gs, 1, 0)) cg_barrier(g);
    net_rounds(g, &n, n.nlines * n.npow2, net_fill);
    cg_counted_loop(g, 1, n.log_n + 1, 0, NULL, net_outer, &n);
    if (g->status == TILE_OK) net_read(g, &n);
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
    if (x->type.shape[s.axis] >= SORT_NETWORK_MIN) {
        lower_network(g, &s, cursor);
        return;
    }
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
