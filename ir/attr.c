/* attr.c - attributes and effects, generic over the op table.
 *
 * Each op's row in IR_OPS declares which ir_attr fields it uses (IR_A_*)
 * and which effects it has (IR_MEM_*, IR_SIDE_EFFECT, IR_REGION_EFFECTS,
 * IR_MAY_FAIL).  Comparing, hashing and copying attributes, and asking
 * whether an op may be removed, go through here, so CSE, DCE, the inliner,
 * the pipeline's change fingerprint and the text reader never list opcodes
 * or fields: an op added to the table with its flags is handled by all. */
#include <string.h>

#include "ir.h"

static unsigned attr_flags(const ir_op *op)
{
    return (unsigned)op->code < IR_OP_COUNT ? ir_op_table[op->code].flags & IR_ATTR_FLAGS : 0;
}

/* Entries of attr.perm that mean something: the result rank. */
static int perm_len(const ir_op *op)
{
    int r = op->nresults >= 1 && op->results[0] ? op->results[0]->type.rank : 0;
    return r < 0 ? 0 : r > IR_MAX_RANK ? IR_MAX_RANK : r;
}

static bool same_str(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

bool ir_attr_equal(const ir_op *a, const ir_op *b)
{
    unsigned fl = attr_flags(a);
    if (a->code != b->code) return false;
    if ((fl & IR_A_CVAL) && memcmp(&a->attr.cval, &b->attr.cval, sizeof a->attr.cval) != 0)
        return false;
    if ((fl & (IR_A_INDEX | IR_A_AXIS | IR_A_MEMFLAGS)) && a->attr.i != b->attr.i) return false;
    if (fl & IR_A_PERM) {
        int n = perm_len(a);
        if (n != perm_len(b)) return false;
        for (int i = 0; i < n; i++)
            if (a->attr.perm[i] != b->attr.perm[i]) return false;
    }
    if ((fl & (IR_A_LABEL | IR_A_MESSAGE)) && !same_str(a->attr.str, b->attr.str)) return false;
    if ((fl & IR_A_CALLEE) && a->attr.callee != b->attr.callee) return false;
    if ((fl & IR_A_SLICE) && (a->attr.start != b->attr.start || a->attr.step != b->attr.step))
        return false;
    return true;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

uint64_t ir_attr_hash(const ir_op *op, uint64_t h)
{
    unsigned fl = attr_flags(op);
    if (fl & IR_A_CVAL) {
        uint64_t bits;
        memcpy(&bits, &op->attr.cval, sizeof bits);
        h = mix(h, bits);
    }
    if (fl & (IR_A_INDEX | IR_A_AXIS | IR_A_MEMFLAGS)) h = mix(h, (uint64_t)op->attr.i);
    if (fl & IR_A_PERM)
        for (int i = 0, n = perm_len(op); i < n; i++) h = mix(h, (uint64_t)op->attr.perm[i]);
    if ((fl & (IR_A_LABEL | IR_A_MESSAGE)) && op->attr.str)
        for (const char *s = op->attr.str; *s; s++) h = mix(h, (unsigned char)*s);
    if (fl & IR_A_CALLEE) h = mix(h, (uint64_t)(uintptr_t)op->attr.callee);
    if (fl & IR_A_SLICE) {
        h = mix(h, (uint64_t)op->attr.start);
        h = mix(h, (uint64_t)op->attr.step);
    }
    return h;
}

void ir_attr_copy(ir_op *dst, const ir_op *src)
{
    unsigned fl = attr_flags(src);
    memset(&dst->attr, 0, sizeof dst->attr);
    if (fl & IR_A_CVAL) dst->attr.cval = src->attr.cval;
    if (fl & (IR_A_INDEX | IR_A_AXIS | IR_A_MEMFLAGS)) dst->attr.i = src->attr.i;
    if (fl & IR_A_PERM)
        for (int i = 0, n = perm_len(src); i < n; i++) dst->attr.perm[i] = src->attr.perm[i];
    if (fl & (IR_A_LABEL | IR_A_MESSAGE)) dst->attr.str = src->attr.str;
    if (fl & IR_A_CALLEE) dst->attr.callee = src->attr.callee;
    if (fl & IR_A_SLICE) {
        dst->attr.start = src->attr.start;
        dst->attr.step = src->attr.step;
    }
}

/* Does running blk do more than compute its values?  An op with an effect
 * (which includes one that may fail) or one that reads memory: a scan whose
 * combine does either is kept by DCE (the combine is meant to be pure, but
 * removing one that is not would change what the program does). */
static bool block_impure(const ir_block *blk)
{
    for (const ir_op *o = blk ? blk->first : NULL; o; o = o->next) {
        if ((unsigned)o->code >= IR_OP_COUNT || ir_op_has_effect(o) ||
            (ir_op_table[o->code].flags & IR_MEM_READ))
            return true;
        for (int r = 0; r < o->nblocks; r++)
            if (block_impure(o->blocks[r])) return true;
    }
    return false;
}

bool ir_op_may_fail(const ir_op *op)
{
    ir_scalar c;
    if ((unsigned)op->code >= IR_OP_COUNT || !(ir_op_table[op->code].flags & IR_MAY_FAIL))
        return false;
    switch (op->code) {
    case IR_OP_DIV:
    case IR_OP_REM: /* integers only; a constant divisor is a splat */
        return op->nresults == 1 && op->noperands == 2 &&
               !ir_dtype_is_float(op->results[0]->type.dtype) &&
               !(ir_value_const(op->operands[1], &c) && c.i != 0);
    case IR_OP_FOR:
        return !(op->noperands >= 3 && ir_value_const(op->operands[2], &c) && c.i > 0);
    case IR_OP_SCAN: /* what its combine does, once per element */
        return op->nblocks >= 1 && block_impure(op->blocks[0]);
    default:
        return true;
    }
}

bool ir_op_has_effect(const ir_op *op)
{
    if ((unsigned)op->code >= IR_OP_COUNT) return true;
    unsigned fl = ir_op_table[op->code].flags;
    if (fl & (IR_MEM_WRITE | IR_SIDE_EFFECT)) return true;
    if (ir_op_may_fail(op)) return true;
    if (!(fl & IR_REGION_EFFECTS)) return false;
    if (op->code == IR_OP_WHILE) return true; /* might not terminate */
    for (int r = 0; r < op->nblocks; r++) {
        if (!op->blocks[r]) continue;
        for (const ir_op *o = op->blocks[r]->first; o; o = o->next)
            if (ir_op_has_effect(o)) return true;
    }
    return false;
}
