/* pass_canon.c - algebraic simplification that is exact for every input.
 *
 *   x + 0, 0 + x, x - 0          ints; floats only with the zero that is an
 *                                identity (x + -0.0, x - +0.0: x + +0.0 turns
 *                                -0.0 into +0.0)
 *   x * 1, 1 * x, x / 1          ints and floats
 *   x * 0, 0 * x                 ints only (floats: NaN, inf, -0.0)
 *   reshape(reshape x) -> reshape x, broadcast(broadcast x) -> broadcast x
 *   cast/broadcast/reshape to the operand's own type, trans with an identity
 *   perm, trans(trans(x)) whose perms compose to the identity -> x
 *   select(c, x, x), select(const, a, b)
 *   if with a constant condition -> the taken region's ops, inline
 *   for whose trip count is a constant 0 (and whose step is a positive
 *   constant: any other step is a runtime error) -> its initial values
 *   assert of a constant true -> removed (a constant false stays: it fails
 *   at run time, where the program reaches it)
 *
 * A replaced op is removed at once (it is pure), so the pass's output is
 * its own fixpoint on straight-line code. */
#include <math.h>
#include <string.h>

#include "passes.h"

typedef enum { K_ZERO, K_NEG_ZERO, K_ONE } konst;

/* Is v a constant equal to k (ints: 0 or 1; floats: +0.0, -0.0 or 1.0)? */
static bool is_const(const ir_value *v, konst k)
{
    ir_scalar s;
    if (!ir_value_const(v, &s)) return false;
    ir_dtype t = v->type.dtype;
    if (ir_dtype_is_int(t)) return k == K_ONE ? s.i == 1 : k == K_ZERO && s.i == 0;
    if (!ir_dtype_is_float(t)) return false;
    switch (k) {
    case K_ZERO: return s.f == 0 && !signbit(s.f);
    case K_NEG_ZERO: return s.f == 0 && signbit(s.f);
    case K_ONE: return s.f == 1;
    }
    return false;
}

static void replace(ir_op *op, ir_value *with)
{
    ir_replace_all_uses(op->results[0], with);
    ir_op_erase(op);
}

/* The additive identity of x's dtype: 0 for ints, -0.0 for floats. */
static bool is_add_identity(const ir_value *v)
{
    return ir_dtype_is_int(v->type.dtype) ? is_const(v, K_ZERO) : is_const(v, K_NEG_ZERO);
}

static bool is_sub_identity(const ir_value *v) { return is_const(v, K_ZERO); }

/* Makes op the integer or bool constant v (its result type stays). */
static void to_const(ir_op *op, int64_t v)
{
    op->code = IR_OP_CONST;
    ir_op_set_operands(op, 0, NULL);
    memset(&op->attr, 0, sizeof op->attr);
    op->attr.cval.i = v;
}

/* Does for loop op step by a positive constant?  (Another step may fail
 * at run time, and says nothing about the induction variable's range.) */
static bool positive_step(const ir_op *op)
{
    ir_scalar step;
    return op->noperands >= 3 && ir_value_const(op->operands[2], &step) && step.i > 0;
}

/* The `for` whose induction variable v is, with a positive constant step;
 * else NULL. */
static const ir_op *counted_loop_of(const ir_value *v)
{
    const ir_op *loop = !v->def && v->owner ? v->owner->parent : NULL;
    if (!loop || loop->code != IR_OP_FOR || v->index != 0) return NULL;
    return positive_step(loop) ? loop : NULL;
}

/* A scalar compare of a loop's induction variable i with the loop's own
 * bounds, in its body, where lo <= i < hi: i < hi and i >= lo hold, i >= hi
 * and i < lo do not (flash_fwd's loop over its segments: whether iteration
 * t is in the first slot, `t < na`, is `t < hi` when the second slot is
 * empty).  1 or 0, or -1 when op is no such compare. */
static int iv_compare(const ir_op *op)
{
    if (op->nresults != 1 || op->results[0]->type.rank != 0) return -1;
    ir_value *x = op->operands[0], *y = op->operands[1];
    ir_opcode code = op->code;
    if (code == IR_OP_CMP_GT || code == IR_OP_CMP_LE) {   /* b > i is i < b; b <= i is i >= b */
        ir_value *t = x;
        x = y, y = t;
        code = code == IR_OP_CMP_GT ? IR_OP_CMP_LT : IR_OP_CMP_GE;
    }
    if (code != IR_OP_CMP_LT && code != IR_OP_CMP_GE) return -1;
    const ir_op *loop = counted_loop_of(x);
    if (!loop) return -1;
    bool lt = code == IR_OP_CMP_LT;
    if (y == loop->operands[1]) return lt ? 1 : 0;
    if (y == loop->operands[0]) return lt ? 0 : 1;
    return -1;
}

static void simplify_binary(ir_op *op)
{
    ir_value *x = op->operands[0], *y = op->operands[1];
    bool is_int = ir_dtype_is_int(op->results[0]->type.dtype);
    switch (op->code) {
    case IR_OP_ADD:
        if (is_add_identity(y)) replace(op, x);
        else if (is_add_identity(x)) replace(op, y);
        break;
    case IR_OP_SUB:
        if (is_sub_identity(y)) replace(op, x);
        else if (is_int && x == y) to_const(op, 0);
        break;
    case IR_OP_MUL:
        if (is_const(y, K_ONE)) replace(op, x);
        else if (is_const(x, K_ONE)) replace(op, y);
        else if (is_int && (is_const(x, K_ZERO) || is_const(y, K_ZERO))) to_const(op, 0);
        break;
    case IR_OP_DIV:
        if (is_const(y, K_ONE)) replace(op, x);
        break;
    default:
        break;
    }
}

static bool trans_identity(const int *perm, int rank)
{
    for (int i = 0; i < rank; i++)
        if (perm[i] != i) return false;
    return true;
}

/* Moves the taken region of a constant-condition IF in front of it. */
static void inline_if(ir_op *op, ir_block *taken)
{
    ir_op *yield = taken->last;
    for (ir_op *o = taken->first, *next; o && o != yield; o = next) {
        next = o->next;
        ir_op_remove(o);
        ir_op_insert_before(op, o);
    }
    for (int i = 0; i < op->nresults; i++)
        ir_replace_all_uses(op->results[i], yield->operands[i]);
    ir_op_erase(op);
}

static void simplify(ir_op *op)
{
    ir_scalar c;
    const ir_type *rt = op->nresults ? &op->results[0]->type : NULL;
    switch (op->code) {
    case IR_OP_ADD:
    case IR_OP_SUB:
    case IR_OP_MUL:
    case IR_OP_DIV:
        simplify_binary(op);
        break;
    case IR_OP_BROADCAST:
    case IR_OP_RESHAPE: {
        /* reshape(reshape x) = reshape x; broadcast(broadcast x) = broadcast x. */
        ir_value *x = op->operands[0];
        if (x->def && x->def->code == op->code) ir_op_set_operand(op, 0, x->def->operands[0]);
    }
        /* fallthrough */
    case IR_OP_CAST:
        if (ir_type_equal(&op->operands[0]->type, rt)) replace(op, op->operands[0]);
        break;
    case IR_OP_TRANS: {
        ir_value *x = op->operands[0];
        if (trans_identity(op->attr.perm, rt->rank)) {
            replace(op, x);
            break;
        }
        if (!x->def || x->def->code != IR_OP_TRANS) break;
        const int *inner = x->def->attr.perm;
        for (int i = 0; i < rt->rank; i++)
            if (inner[op->attr.perm[i]] != i) return;
        replace(op, x->def->operands[0]);
        break;
    }
    case IR_OP_CMP_LT:
    case IR_OP_CMP_LE:
    case IR_OP_CMP_GT:
    case IR_OP_CMP_GE: {
        int v = iv_compare(op);
        if (v >= 0) to_const(op, v);
        break;
    }
    case IR_OP_SELECT:
        if (op->operands[1] == op->operands[2]) replace(op, op->operands[1]);
        else if (ir_value_const(op->operands[0], &c)) replace(op, op->operands[c.i ? 1 : 2]);
        break;
    case IR_OP_IF:
        if (ir_value_const(op->operands[0], &c) && op->nblocks == 2 && op->blocks[c.i ? 0 : 1])
            inline_if(op, op->blocks[c.i ? 0 : 1]);
        break;
    case IR_OP_ASSERT:
        if (op->noperands == 1 && ir_value_const(op->operands[0], &c) && c.i) ir_op_erase(op);
        break;
    case IR_OP_FOR: {
        ir_scalar lo, hi;
        bool empty = positive_step(op) &&
                     (op->operands[0] == op->operands[1] ||   /* for i = x to x */
                      (ir_value_const(op->operands[0], &lo) &&
                       ir_value_const(op->operands[1], &hi) && lo.i >= hi.i));
        if (empty) {
            for (int i = 0; i < op->nresults; i++)
                ir_replace_all_uses(op->results[i], op->operands[3 + i]);
            ir_op_erase(op);
        }
        break;
    }
    default:
        break;
    }
}

static void canon_block(ir_block *blk)
{
    if (!blk) return;
    for (ir_op *op = blk->first, *next; op; op = next) {
        next = op->next;
        for (int r = 0; r < op->nblocks; r++) canon_block(op->blocks[r]);
        simplify(op);
    }
}

void pass_canonicalize(ir_func *f)
{
    canon_block(f->grid);
    canon_block(f->body);
}
