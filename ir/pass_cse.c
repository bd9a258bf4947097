/* pass_cse.c - common-subexpression elimination of pure ops.
 *
 * A scoped hash table, dominator-tree style: walking a block, each pure op
 * (IR_PURE in the op table: no effects) is looked up among the ops of this
 * block and of the blocks enclosing it
 * (exactly the values visible here); a match with the same opcode,
 * attributes, operands (in either order for commutative ops) and result
 * types replaces it.  Leaving a block drops its entries, so sibling regions
 * never share values.  Attributes compare through ir_attr_equal (constants
 * bit for bit: -0.0 is not 0.0). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"

typedef struct entry {
    ir_op *op;
    uint64_t hash;
    struct entry *next; /* bucket chain, newest first */
} entry;

typedef struct cse {
    entry **buckets;
    size_t nbuckets;
    entry *pool;        /* entries, used as a stack: scopes pop back to a mark */
    size_t npool, cap;
    bool oom;
} cse;

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

/* Operand i, with commutative pairs put in a canonical order. */
static const ir_value *operand(const ir_op *op, int i)
{
    if ((ir_op_table[op->code].flags & IR_COMMUTATIVE) && op->noperands == 2 &&
        op->operands[0]->id > op->operands[1]->id)
        return op->operands[1 - i];
    return op->operands[i];
}

static uint64_t hash_type(uint64_t h, const ir_type *t)
{
    h = mix(h, (uint64_t)t->kind);
    h = mix(h, (uint64_t)t->dtype);
    h = mix(h, (uint64_t)t->rank);
    for (int i = 0; i < t->rank; i++) h = mix(h, (uint64_t)t->shape[i]);
    return h;
}

static uint64_t hash_op(const ir_op *op)
{
    uint64_t h = mix(0, (uint64_t)op->code);
    for (int i = 0; i < op->noperands; i++) h = mix(h, (uint64_t)operand(op, i)->id);
    for (int i = 0; i < op->nresults; i++) h = hash_type(h, &op->results[i]->type);
    return ir_attr_hash(op, h);
}

static bool same_op(const ir_op *a, const ir_op *b)
{
    if (a->code != b->code || a->noperands != b->noperands || a->nresults != b->nresults)
        return false;
    for (int i = 0; i < a->noperands; i++)
        if (operand(a, i) != operand(b, i)) return false;
    for (int i = 0; i < a->nresults; i++)
        if (!ir_type_equal(&a->results[i]->type, &b->results[i]->type)) return false;
    return ir_attr_equal(a, b);
}

static ir_op *lookup_or_insert(cse *c, ir_op *op)
{
    uint64_t h = hash_op(op);
    size_t bi = (size_t)(h % c->nbuckets);
    for (entry *e = c->buckets[bi]; e; e = e->next)
        if (e->hash == h && same_op(e->op, op)) return e->op;
    if (c->npool == c->cap) {
        /* Never reallocate: chains point into the pool.  Stop adding. */
        c->oom = true;
        return NULL;
    }
    entry *e = &c->pool[c->npool++];
    e->op = op;
    e->hash = h;
    e->next = c->buckets[bi];
    c->buckets[bi] = e;
    return NULL;
}

static void pop_to(cse *c, size_t mark)
{
    while (c->npool > mark) {
        entry *e = &c->pool[--c->npool];
        size_t bi = (size_t)(e->hash % c->nbuckets);
        c->buckets[bi] = e->next; /* e is the newest entry of its bucket */
    }
}

static void cse_block(cse *c, ir_block *blk)
{
    if (!blk) return;
    size_t mark = c->npool;
    for (ir_op *op = blk->first, *next; op; op = next) {
        next = op->next;
        for (int r = 0; r < op->nblocks; r++) cse_block(c, op->blocks[r]);
        if (!(ir_op_table[op->code].flags & IR_PURE) || op->nblocks) continue;
        ir_op *prev = lookup_or_insert(c, op);
        if (!prev) continue;
        for (int i = 0; i < op->nresults; i++)
            ir_replace_all_uses(op->results[i], prev->results[i]);
        ir_op_erase(op);
    }
    pop_to(c, mark);
}

static size_t count_ops(const ir_block *blk)
{
    size_t n = 0;
    if (!blk) return 0;
    for (const ir_op *op = blk->first; op; op = op->next) {
        n++;
        for (int r = 0; r < op->nblocks; r++) n += count_ops(op->blocks[r]);
    }
    return n;
}

void pass_cse(ir_func *f)
{
    cse c = {0};
    c.cap = count_ops(f->grid) + count_ops(f->body) + 1;
    c.nbuckets = c.cap * 2 + 1;
    c.buckets = calloc(c.nbuckets, sizeof *c.buckets);
    c.pool = calloc(c.cap, sizeof *c.pool);
    if (c.buckets && c.pool) {
        cse_block(&c, f->grid);
        cse_block(&c, f->body);
    }
    free(c.buckets);
    free(c.pool);
}
