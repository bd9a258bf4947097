/* pass_fold.c - constant folding.
 *
 * A CONST is a splat, so only ops whose result is again a splat fold:
 * elementwise ops and casts of constants (evaluated through ir/eval.h, the
 * interpreter's own scalar semantics, so folding can never change a result),
 * broadcast/reshape/trans/slice of a constant, reduce.max/min of a
 * constant, concat of two equal constants, argmax/argmin of a constant (0),
 * the values of sort/topk of a constant (and their indices along an axis of 1),
 * and select on a constant condition.  An op that would fail at run time (integer
 * division by zero) is left for the runtime to report.  Folding rewrites the
 * op in place into a CONST, so its result value and uses stay untouched. */
#include <string.h>

#include "eval.h"
#include "passes.h"

static void make_const(ir_op *op, ir_scalar val)
{
    op->code = IR_OP_CONST;
    ir_op_set_operands(op, 0, NULL);
    memset(&op->attr, 0, sizeof op->attr);
    op->attr.cval = val;
}

/* SORT/TOPK of a splat: every element ties, so the values are the splat
 * and the indices count 0, 1, ... along the axis.  The values become a new
 * CONST, the indices too where the axis has length 1 (all 0); DCE drops the
 * op once nothing reads it. */
static void fold_sort(ir_op *op)
{
    ir_scalar x;
    if (op->nresults != 2 || op->noperands != 1 || !ir_value_const(op->operands[0], &x) ||
        !op->parent || !op->parent->func)
        return;
    ir_builder b = {.m = op->parent->func->module};
    ir_builder_before(&b, op);
    b.loc = op->loc;
    ir_scalar zero = {0};
    for (int r = 0; r < 2; r++) {
        const ir_type *t = &op->results[r]->type;
        if (!op->results[r]->uses || (r == 1 && t->shape[op->attr.i] != 1)) continue;
        ir_op *c = ir_build(&b, IR_OP_CONST, 0, NULL, 1, t, 0);
        if (!c) return;
        c->attr.cval = r == 0 ? x : zero;
        ir_replace_all_uses(op->results[r], c->results[0]);
    }
}

static void fold_op(ir_op *op)
{
    const ir_op_info *info = &ir_op_table[op->code];
    if (op->code == IR_OP_SORT || op->code == IR_OP_TOPK) {
        fold_sort(op);
        return;
    }
    if (!(info->flags & IR_PURE) || op->nresults != 1 || op->code == IR_OP_CONST) return;
    ir_scalar x = {0}, y = {0}, r = {0};
    if (op->code == IR_OP_SELECT) {
        if (!ir_value_const(op->operands[0], &x)) return;
        ir_value *taken = op->operands[x.i ? 1 : 2];
        if (ir_type_equal(&taken->type, &op->results[0]->type)) {
            ir_replace_all_uses(op->results[0], taken);
            ir_op_erase(op);
        }
        return;
    }
    for (int i = 0; i < op->noperands; i++)
        if (!ir_value_const(op->operands[i], &x)) return;
    ir_dtype out = op->results[0]->type.dtype;
    switch (op->code) {
    case IR_OP_BROADCAST:
    case IR_OP_RESHAPE:
    case IR_OP_EXPAND_DIMS:
    case IR_OP_TRANS:
    case IR_OP_REDUCE_MAX:
    case IR_OP_REDUCE_MIN:
    case IR_OP_SLICE:
        ir_value_const(op->operands[0], &x);
        if (op->operands[0]->type.dtype == out) make_const(op, x);
        return;
    case IR_OP_CONCAT:
        /* Two splats of the same bits join into one splat. */
        ir_value_const(op->operands[0], &x);
        ir_value_const(op->operands[1], &y);
        if (memcmp(&x, &y, sizeof x) == 0) make_const(op, x);
        return;
    case IR_OP_ARGMAX:
    case IR_OP_ARGMIN:
        /* Every element of a splat ties (a NaN splat: the first NaN): index 0. */
        r.i = 0;
        make_const(op, r);
        return;
    default:
        break;
    }
    if (!(info->flags & IR_ELEMENTWISE)) return;
    ir_dtype in = op->operands[0]->type.dtype;
    ir_value_const(op->operands[0], &x);
    if (op->noperands == 1) {
        if (ir_eval_unary(op->code, in, out, x, &r) == TILE_OK) make_const(op, r);
    } else if (op->noperands == 2) {
        ir_value_const(op->operands[1], &y);
        if (ir_eval_binary(op->code, in, x, y, &r) == TILE_OK) make_const(op, r);
    } else if (op->noperands == 3) {
        ir_scalar z = {0};
        ir_value_const(op->operands[1], &y);
        ir_value_const(op->operands[2], &z);
        if (ir_eval_ternary(op->code, in, x, y, z, &r) == TILE_OK) make_const(op, r);
    }
}

static void fold_block(ir_block *blk)
{
    if (!blk) return;
    for (ir_op *op = blk->first, *next; op; op = next) {
        next = op->next;
        for (int r = 0; r < op->nblocks; r++) fold_block(op->blocks[r]);
        fold_op(op);
    }
}

void pass_fold(ir_func *f)
{
    fold_block(f->grid);
    fold_block(f->body);
}
