/* pass_inline.c - inlines every CALL, then drops the fns.
 *
 * fns are processed callee-first: before a fn's body is copied into a
 * caller, every call inside it has itself been inlined, so each copy is
 * call-free and a copy never needs revisiting.  A fn reached again while it
 * is being processed is a recursive cycle, which the front end rejects: here
 * it is an internal error.  Copies (ir_clone_op) keep the callee ops' source
 * locations, so a runtime error inside an inlined fn still points into it. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

typedef enum { FN_TODO, FN_ACTIVE, FN_DONE } fn_state;

typedef struct inliner {
    ir_module *m;
    ir_func **funcs; /* module functions, indexed in list order */
    fn_state *state;
    int nfuncs;
    tile_status st;
} inliner;

static void inline_block(inliner *in, ir_block *blk);

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
    ir_value_map map = {0};
    for (int i = 0; i < callee->body->nargs && i < call->noperands; i++)
        if (!ir_value_map_set(&map, callee->body->args[i], call->operands[i])) break;
    ir_builder b = {.m = in->m};
    ir_builder_before(&b, call);
    const ir_op *ret = NULL;
    for (const ir_op *op = callee->body->first; op && !map.oom; op = op->next) {
        if (op->code == IR_OP_RETURN) {
            ret = op;
            break;
        }
        if (!ir_clone_op(&b, op, &map)) {
            map.oom = true;
            break;
        }
    }
    if (map.oom) fail(in, call, TILE_ERR_NOMEM, "out of memory");
    if (in->st == TILE_OK && (!ret || ret->noperands != call->nresults))
        fail(in, call, TILE_ERR_INTERNAL, "callee does not end in a matching return");
    if (in->st == TILE_OK) {
        for (int i = 0; i < call->nresults; i++)
            ir_replace_all_uses(call->results[i], ir_value_map_get(&map, ret->operands[i]));
        ir_op_erase(call);
    }
    ir_value_map_free(&map);
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
