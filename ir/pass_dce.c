/* pass_dce.c - dead-code elimination by liveness, not by use counts.
 *
 * Mark: the operands of every op with an effect are live (ir_op_has_effect,
 * from the op table: memory writes, side effects such as print, assert and
 * call, and ops that may stop the launch with a runtime error, e.g. an
 * integer div/rem whose divisor is not a constant without zeros), and those
 * of the function's return and the grid's yield; so are the control
 * operands of structured ops (for bounds, if and while conditions).  A load
 * only reads, so an unused one goes.  Liveness flows from a value to what
 * computes it: an op's operands; for a loop-carried value (a for/while
 * result or region argument), its initial value and what every yield
 * passes back; for an if result, what both branches yield; for a scan
 * (live, or kept because its combine may fail, has an effect or reads:
 * ir_op_may_fail), its operands and what its combine yields.  Carrying
 * liveness through region arguments is what lets a dead accumulator
 * `acc = acc + x` die although it uses itself.
 *
 * Sweep: ops without effects and with no live result, dead carried values
 * of for/while (init operand, result, region arguments, yield operands),
 * dead if results; then for/if ops left with no results and no effects
 * inside.  Repeated to a fixpoint, since removing a loop frees its bounds. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

typedef struct dce {
    unsigned char *live; /* by value id */
    int nids;
    ir_value **work;
    int nwork, capwork;
    bool oom;
} dce;

static bool is_live(const dce *d, const ir_value *v)
{
    return v && v->id >= 0 && v->id < d->nids && d->live[v->id];
}

static void mark(dce *d, ir_value *v)
{
    if (!v || v->id < 0 || v->id >= d->nids || d->live[v->id]) return;
    d->live[v->id] = 1;
    if (d->nwork == d->capwork) {
        int cap = d->capwork ? d->capwork * 2 : 64;
        ir_value **w = realloc(d->work, (size_t)cap * sizeof *w);
        if (!w) {
            d->oom = true;
            return;
        }
        d->work = w;
        d->capwork = cap;
    }
    d->work[d->nwork++] = v;
}

/* A scan's results are what its combine region yields: a live (or kept)
 * scan keeps its region's yielded values. */
static void mark_scan_yield(dce *d, const ir_op *op)
{
    if (op->code != IR_OP_SCAN || op->nblocks != 1 || !op->blocks[0] || !op->blocks[0]->last)
        return;
    const ir_op *y = op->blocks[0]->last;
    for (int i = 0; i < y->noperands; i++) mark(d, y->operands[i]);
}

/* Carried value i of a for/while is live: its init and what yields feed it. */
static void mark_carried(dce *d, ir_op *op, int i)
{
    if (op->code == IR_OP_FOR) {
        mark(d, op->operands[3 + i]);
        mark(d, op->results[i]);
        mark(d, op->blocks[0]->args[1 + i]);
        mark(d, op->blocks[0]->last->operands[i]);
    } else {
        mark(d, op->operands[i]);
        mark(d, op->results[i]);
        mark(d, op->blocks[0]->args[i]);
        mark(d, op->blocks[1]->args[i]);
        mark(d, op->blocks[1]->last->operands[i]);
    }
}

static void propagate(dce *d, ir_value *v)
{
    if (v->def) {
        ir_op *op = v->def;
        if (!(ir_op_table[op->code].flags & IR_REGION_EFFECTS)) {
            for (int i = 0; i < op->noperands; i++) mark(d, op->operands[i]);
            mark_scan_yield(d, op);
        } else if (op->code == IR_OP_FOR || op->code == IR_OP_WHILE) {
            mark_carried(d, op, v->index);
        } else if (op->code == IR_OP_IF) {
            for (int r = 0; r < 2; r++) mark(d, op->blocks[r]->last->operands[v->index]);
        }
        return;
    }
    ir_op *owner = v->owner ? v->owner->parent : NULL;
    if (!owner) return; /* function parameter */
    if (owner->code == IR_OP_FOR && v->index > 0) mark_carried(d, owner, v->index - 1);
    else if (owner->code == IR_OP_WHILE) mark_carried(d, owner, v->index);
}

/* Roots: operands that matter whatever happens to the values they make. */
static void mark_roots(dce *d, ir_block *blk)
{
    if (!blk) return;
    for (ir_op *op = blk->first; op; op = op->next) {
        for (int r = 0; r < op->nblocks; r++) mark_roots(d, op->blocks[r]);
        switch (op->code) {
        case IR_OP_FOR:
            for (int i = 0; i < 3; i++) mark(d, op->operands[i]);
            break;
        case IR_OP_IF:
        case IR_OP_CONDITION:
            mark(d, op->operands[0]);
            break;
        case IR_OP_WHILE:
            break;
        case IR_OP_YIELD:
            if (!blk->parent) /* the grid */
                for (int i = 0; i < op->noperands; i++) mark(d, op->operands[i]);
            break;
        default: /* effects (from the op table) and the function's return */
            if (ir_op_has_effect(op) || (ir_op_table[op->code].flags & IR_TERMINATOR)) {
                for (int i = 0; i < op->noperands; i++) mark(d, op->operands[i]);
                mark_scan_yield(d, op);   /* a scan that may fail runs whole */
            }
            break;
        }
    }
}

/* Removes dead carried values / if results; true if anything changed. */
static bool sweep_results(dce *d, ir_op *op)
{
    bool changed = false;
    for (int i = op->nresults - 1; i >= 0; i--) {
        if (is_live(d, op->results[i])) continue;
        if (op->code == IR_OP_FOR) {
            ir_block *body = op->blocks[0];
            if (is_live(d, body->args[1 + i])) continue;
            ir_op_remove_operand(op, 3 + i);
            ir_block_remove_arg(body, 1 + i);
            ir_op_remove_operand(body->last, i);
        } else if (op->code == IR_OP_WHILE) {
            ir_block *cond = op->blocks[0], *body = op->blocks[1];
            if (is_live(d, cond->args[i]) || is_live(d, body->args[i])) continue;
            ir_op_remove_operand(op, i);
            ir_block_remove_arg(cond, i);
            ir_block_remove_arg(body, i);
            ir_op_remove_operand(body->last, i);
        } else { /* IF */
            for (int r = 0; r < 2; r++)
                ir_op_remove_operand(op->blocks[r]->last, i);
        }
        ir_op_remove_result(op, i);
        changed = true;
    }
    return changed;
}

static bool sweep(dce *d, ir_block *blk)
{
    bool changed = false;
    if (!blk) return false;
    for (ir_op *op = blk->last, *prev; op; op = prev) {
        prev = op->prev;
        for (int r = 0; r < op->nblocks; r++) changed |= sweep(d, op->blocks[r]);
        unsigned fl = ir_op_table[op->code].flags;
        if (fl & IR_TERMINATOR) continue;
        if (fl & IR_REGION_EFFECTS) {
            changed |= sweep_results(d, op);
            if (op->nresults == 0 && !ir_op_has_effect(op)) {
                ir_op_erase(op);
                changed = true;
            }
            continue;
        }
        bool any = false;
        for (int i = 0; i < op->nresults; i++) any |= is_live(d, op->results[i]);
        if (!any && !ir_op_has_effect(op)) {
            ir_op_erase(op);
            changed = true;
        }
    }
    return changed;
}

static bool dce_round(ir_func *f)
{
    dce d = {.nids = f->module->next_value_id};
    d.live = calloc(d.nids > 0 ? (size_t)d.nids : 1, 1);
    if (!d.live) return false;
    mark_roots(&d, f->grid);
    mark_roots(&d, f->body);
    while (d.nwork > 0 && !d.oom) propagate(&d, d.work[--d.nwork]);
    bool changed = false;
    if (!d.oom) {
        changed |= sweep(&d, f->grid);
        changed |= sweep(&d, f->body);
    }
    free(d.live);
    free(d.work);
    return changed;
}

void pass_dce(ir_func *f)
{
    for (int round = 0; round < 16 && dce_round(f); round++) {
    }
}
