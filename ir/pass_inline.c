/* pass_inline.c - inlines every CALL, then drops the fns.
 *
 * fns are processed callee-first: before a fn's body is copied into a
 * caller, every call inside it has itself been inlined, so each copy is
 * call-free and a copy never needs revisiting.  A fn reached again while it
 * is being processed is a recursive cycle, which the front end rejects: here
 * it is an internal error.  Copies keep the callee ops' source locations, so
 * a runtime error inside an inlined fn still points into the fn. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

typedef enum { FN_TODO, FN_ACTIVE, FN_DONE } fn_state;

typedef struct inliner {
    ir_module *m;
    ir_func **funcs; /* module functions, indexed in list order */
    fn_state *state;
    int nfuncs;
    ir_value **map;  /* old value id -> copy; sized per clone */
    int nmap;
    tile_status st;
} inliner;

static void inline_block(inliner *in, ir_block *blk);

static ir_value *mapped(inliner *in, ir_value *v)
{
    if (v && v->id >= 0 && v->id < in->nmap && in->map[v->id]) return in->map[v->id];
    return v;
}

static void map_value(inliner *in, ir_value *from, ir_value *to)
{
    if (from->id >= 0 && from->id < in->nmap) in->map[from->id] = to;
}

static ir_block *clone_block(inliner *in, ir_func *f, const ir_block *src, ir_op *parent);

/* Copies `op` (with its regions) to b's insertion point. */
static ir_op *clone_op(inliner *in, ir_builder *b, const ir_op *op)
{
    ir_value *stack_ops[8];
    ir_type stack_types[8];
    ir_value **ops = op->noperands <= 8 ? stack_ops
                     : arena_calloc(in->m->mem, (size_t)op->noperands, sizeof *ops);
    ir_type *types = op->nresults <= 8 ? stack_types
                     : arena_calloc(in->m->mem, (size_t)op->nresults, sizeof *types);
    if (!ops || !types) return NULL;
    for (int i = 0; i < op->noperands; i++) ops[i] = mapped(in, op->operands[i]);
    for (int i = 0; i < op->nresults; i++) types[i] = op->results[i]->type;
    b->loc = op->loc;
    ir_op *copy = ir_build(b, op->code, op->noperands, ops, op->nresults, types, op->nblocks);
    if (!copy) return NULL;
    copy->attr = op->attr;
    for (int i = 0; i < op->nresults; i++) {
        copy->results[i]->name = op->results[i]->name;
        map_value(in, op->results[i], copy->results[i]);
    }
    for (int r = 0; r < op->nblocks; r++) {
        if (!op->blocks[r]) continue;
        copy->blocks[r] = clone_block(in, b->f, op->blocks[r], copy);
        if (!copy->blocks[r]) return NULL;
    }
    return copy;
}

static ir_block *clone_block(inliner *in, ir_func *f, const ir_block *src, ir_op *parent)
{
    ir_type stack_types[8];
    ir_type *types = src->nargs <= 8 ? stack_types
                     : arena_calloc(in->m->mem, (size_t)src->nargs, sizeof *types);
    if (!types) return NULL;
    for (int i = 0; i < src->nargs; i++) types[i] = src->args[i]->type;
    ir_block *blk = ir_block_new(f, src->nargs, types);
    if (!blk) return NULL;
    blk->parent = parent;
    for (int i = 0; i < src->nargs; i++) {
        blk->args[i]->name = src->args[i]->name;
        map_value(in, src->args[i], blk->args[i]);
    }
    ir_builder b = {.m = in->m};
    ir_builder_at_end(&b, blk);
    for (const ir_op *op = src->first; op; op = op->next)
        if (!clone_op(in, &b, op)) return NULL;
    return blk;
}

static int func_index(const inliner *in, const ir_func *f)
{
    for (int i = 0; i < in->nfuncs; i++)
        if (in->funcs[i] == f) return i;
    return -1;
}

static void fail(inliner *in, const ir_op *op, tile_status st, const char *what)
{
    if (in->st != TILE_OK) return;
    in->st = st;
    if (in->m->diags && st == TILE_ERR_INTERNAL)
        diag_error(in->m->diags, op->loc, "internal error: inline: %s", what);
}

static void process_func(inliner *in, ir_func *f)
{
    int i = func_index(in, f);
    if (i < 0 || in->state[i] == FN_DONE) return;
    in->state[i] = FN_ACTIVE;
    if (f->grid) inline_block(in, f->grid);
    inline_block(in, f->body);
    in->state[i] = FN_DONE;
}

/* Replaces `call` (already checked) by a copy of the callee body. */
static void inline_call(inliner *in, ir_op *call)
{
    ir_func *callee = call->attr.callee;
    int nvalues = in->m->next_value_id;
    in->map = calloc(nvalues > 0 ? (size_t)nvalues : 1, sizeof *in->map);
    if (!in->map) {
        fail(in, call, TILE_ERR_NOMEM, "out of memory");
        return;
    }
    in->nmap = nvalues;
    for (int i = 0; i < callee->body->nargs && i < call->noperands; i++)
        map_value(in, callee->body->args[i], call->operands[i]);
    ir_builder b = {.m = in->m};
    ir_builder_before(&b, call);
    const ir_op *ret = NULL;
    for (const ir_op *op = callee->body->first; op; op = op->next) {
        if (op->code == IR_OP_RETURN) {
            ret = op;
            break;
        }
        if (!clone_op(in, &b, op)) {
            fail(in, call, TILE_ERR_NOMEM, "out of memory");
            break;
        }
    }
    if (in->st == TILE_OK && (!ret || ret->noperands != call->nresults))
        fail(in, call, TILE_ERR_INTERNAL, "callee does not end in a matching return");
    if (in->st == TILE_OK) {
        for (int i = 0; i < call->nresults; i++)
            ir_replace_uses(call->parent, call->results[i], mapped(in, ret->operands[i]));
        ir_op_remove(call);
    }
    free(in->map);
    in->map = NULL;
    in->nmap = 0;
}

static void inline_block(inliner *in, ir_block *blk)
{
    if (!blk) return;
    for (ir_op *op = blk->first, *next; op && in->st == TILE_OK; op = next) {
        next = op->next;
        for (int r = 0; r < op->nblocks; r++) inline_block(in, op->blocks[r]);
        if (op->code != IR_OP_CALL || in->st != TILE_OK) continue;
        ir_func *callee = op->attr.callee;
        int i = callee ? func_index(in, callee) : -1;
        if (i < 0 || callee->kind != IR_FUNC_FN) {
            fail(in, op, TILE_ERR_INTERNAL, "call to a function that is not an fn of this module");
            return;
        }
        if (in->state[i] == FN_ACTIVE) {
            fail(in, op, TILE_ERR_INTERNAL, "recursive call");
            return;
        }
        process_func(in, callee);
        if (in->st != TILE_OK) return;
        inline_call(in, op);
    }
}

tile_status pass_inline(ir_module *m)
{
    inliner in = {.m = m, .st = TILE_OK};
    for (ir_func *f = m->first; f; f = f->next) in.nfuncs++;
    if (in.nfuncs == 0) return TILE_OK;
    in.funcs = calloc((size_t)in.nfuncs, sizeof *in.funcs);
    in.state = calloc((size_t)in.nfuncs, sizeof *in.state);
    if (!in.funcs || !in.state) {
        free(in.funcs);
        free(in.state);
        return TILE_ERR_NOMEM;
    }
    int n = 0;
    for (ir_func *f = m->first; f; f = f->next) in.funcs[n++] = f;
    for (int i = 0; i < in.nfuncs && in.st == TILE_OK; i++)
        if (in.funcs[i]->kind == IR_FUNC_KERNEL) process_func(&in, in.funcs[i]);
    free(in.funcs);
    free(in.state);
    if (in.st != TILE_OK) return in.st;
    ir_func **link = &m->first;
    m->last = NULL;
    while (*link) {
        if ((*link)->kind == IR_FUNC_FN) {
            *link = (*link)->next;
        } else {
            m->last = *link;
            link = &(*link)->next;
        }
    }
    return TILE_OK;
}
