/* pass_dce.c - dead-code elimination by liveness, not by use counts.
 *
 * Mark: the operands of every op with an effect are live: store,
 * atomic_add, load, print, assert, call, return, the grid's yield, and an
 * op that may stop the launch with a runtime error (an integer div/rem
 * whose divisor is not a constant without zeros, a for whose step is not a
 * positive constant); so are the control operands of structured ops (for
 * bounds, if and while conditions).  Liveness flows from a value to what
 * computes it: a pure op's operands; for a loop-carried value (a for/while
 * result or region argument), its initial value and what every yield
 * passes back; for an if result, what both branches yield.  Carrying
 * liveness through region arguments is what lets a dead accumulator
 * `acc = acc + x` die although it uses itself.
 *
 * Sweep: pure ops with no live result that cannot fail, dead carried values
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

static bool has_effects(const ir_block *blk);

/* Could running op stop the launch with a runtime error?  Removing it
 * would hide the error, so DCE treats it as an effect.  A scan counts as
 * failing when its combine region can fail or has any effect (a load, a
 * store, a print: the combine is meant to be pure, but removing one that
 * is not would change what the program does). */
static bool may_fail(const ir_op *op)
{
    ir_scalar c;
    switch (op->code) {
    case IR_OP_SCAN:
        return op->nblocks == 1 && op->blocks[0] && has_effects(op->blocks[0]);
    case IR_OP_DIV:
    case IR_OP_REM: /* integers only; a constant divisor is a splat */
        return !ir_dtype_is_float(op->results[0]->type.dtype) &&
               !(ir_value_const(op->operands[1], &c) && c.i != 0);
    case IR_OP_FOR:
        return !(ir_value_const(op->operands[2], &c) && c.i > 0);
    default:
        return false;
    }
}

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
        if (ir_op_table[op->code].flags & IR_PURE) {
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
        default:
            if (!(ir_op_table[op->code].flags & IR_PURE) || may_fail(op)) {
                for (int i = 0; i < op->noperands; i++) mark(d, op->operands[i]);
                mark_scan_yield(d, op);   /* a scan that may fail runs whole */
            }
            break;
        }
    }
}

static void remove_at(ir_value **vs, int *n, int i)
{
    memmove(vs + i, vs + i + 1, (size_t)(*n - i - 1) * sizeof *vs);
    (*n)--;
}

static void reindex_results(ir_op *op)
{
    for (int i = 0; i < op->nresults; i++) op->results[i]->index = i;
}

static void reindex_args(ir_block *blk)
{
    for (int i = 0; i < blk->nargs; i++) blk->args[i]->index = i;
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
            remove_at(op->operands, &op->noperands, 3 + i);
            remove_at(body->args, &body->nargs, 1 + i);
            remove_at(body->last->operands, &body->last->noperands, i);
            reindex_args(body);
        } else if (op->code == IR_OP_WHILE) {
            ir_block *cond = op->blocks[0], *body = op->blocks[1];
            if (is_live(d, cond->args[i]) || is_live(d, body->args[i])) continue;
            remove_at(op->operands, &op->noperands, i);
            remove_at(cond->args, &cond->nargs, i);
            remove_at(body->args, &body->nargs, i);
            remove_at(body->last->operands, &body->last->noperands, i);
            reindex_args(cond);
            reindex_args(body);
        } else { /* IF */
            for (int r = 0; r < 2; r++)
                remove_at(op->blocks[r]->last->operands, &op->blocks[r]->last->noperands, i);
        }
        remove_at(op->results, &op->nresults, i);
        changed = true;
    }
    if (changed) reindex_results(op);
    return changed;
}

/* Does running blk do anything besides computing values? */
static bool has_effects(const ir_block *blk)
{
    for (const ir_op *op = blk->first; op; op = op->next) {
        unsigned fl = ir_op_table[op->code].flags;
        if (may_fail(op)) return true;
        if (fl & (IR_PURE | IR_TERMINATOR)) continue;
        if ((op->code == IR_OP_FOR || op->code == IR_OP_IF) && op->nresults == 0) {
            bool inner = false;
            for (int r = 0; r < op->nblocks && !inner; r++) inner = has_effects(op->blocks[r]);
            if (!inner) continue;
        }
        return true;
    }
    return false;
}

static bool sweep(dce *d, ir_block *blk)
{
    bool changed = false;
    if (!blk) return false;
    for (ir_op *op = blk->last, *prev; op; op = prev) {
        prev = op->prev;
        for (int r = 0; r < op->nblocks; r++) changed |= sweep(d, op->blocks[r]);
        unsigned fl = ir_op_table[op->code].flags;
        if (fl & IR_PURE) {
            bool any = false;
            for (int i = 0; i < op->nresults; i++) any |= is_live(d, op->results[i]);
            if (!any && !may_fail(op)) {
                ir_op_remove(op);
                changed = true;
            }
            continue;
        }
        if (op->code == IR_OP_FOR || op->code == IR_OP_WHILE || op->code == IR_OP_IF) {
            changed |= sweep_results(d, op);
            if (op->code != IR_OP_WHILE && op->nresults == 0) {
                bool effects = may_fail(op);
                for (int r = 0; r < op->nblocks && !effects; r++)
                    effects = has_effects(op->blocks[r]);
                if (!effects) {
                    ir_op_remove(op);
                    changed = true;
                }
            }
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
