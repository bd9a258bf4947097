/* clone.c - copying ops, regions and functions through a value map.
 *
 * The map is indexed by the source value's id, so a copy is one pass in
 * program order: an operand defined inside what is being copied was copied
 * (and mapped) before its use; one defined outside maps to itself, or to
 * whatever the caller put in the map first (the inliner maps the callee's
 * parameters to the call's arguments).  Copies go through ir_build, so use
 * lists, source locations and attributes (ir_attr_copy) come out right. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

bool ir_value_map_set(ir_value_map *map, const ir_value *from, ir_value *to)
{
    if (!from || from->id < 0) return false;
    if (from->id >= map->n) {
        int n = map->n ? map->n : 64;
        while (n <= from->id) n *= 2;
        ir_value **grown = realloc(map->to, (size_t)n * sizeof *grown);
        if (!grown) {
            map->oom = true;
            return false;
        }
        memset(grown + map->n, 0, (size_t)(n - map->n) * sizeof *grown);
        map->to = grown;
        map->n = n;
    }
    map->to[from->id] = to;
    return true;
}

ir_value *ir_value_map_get(const ir_value_map *map, ir_value *v)
{
    if (v && v->id >= 0 && v->id < map->n && map->to[v->id]) return map->to[v->id];
    return v;
}

void ir_value_map_free(ir_value_map *map)
{
    free(map->to);
    map->to = NULL;
    map->n = 0;
}

/* A copy of the value's decoration, its name hint (the layout is part of
 * the type, copied with it). */
static bool map_copy(ir_value_map *map, const ir_value *from, ir_value *to)
{
    to->name = from->name;
    return ir_value_map_set(map, from, to);
}

ir_op *ir_clone_op(ir_builder *b, const ir_op *op, ir_value_map *map)
{
    ir_value *stack_ops[8];
    ir_type stack_types[8];
    ir_value **ops = op->noperands <= 8 ? stack_ops
                     : arena_calloc(b->m->mem, (size_t)op->noperands, sizeof *ops);
    ir_type *types = op->nresults <= 8 ? stack_types
                     : arena_calloc(b->m->mem, (size_t)op->nresults, sizeof *types);
    if (!ops || !types) return NULL;
    for (int i = 0; i < op->noperands; i++) ops[i] = ir_value_map_get(map, op->operands[i]);
    for (int i = 0; i < op->nresults; i++) types[i] = op->results[i]->type;
    src_loc saved = b->loc;
    b->loc = op->loc;
    ir_op *copy = ir_build(b, op->code, op->noperands, ops, op->nresults, types, op->nblocks);
    b->loc = saved;
    if (!copy) return NULL;
    ir_attr_copy(copy, op);
    for (int i = 0; i < op->nresults; i++)
        if (!map_copy(map, op->results[i], copy->results[i])) return NULL;
    for (int r = 0; r < op->nblocks; r++) {
        if (!op->blocks[r]) continue;
        copy->blocks[r] = ir_clone_block(b->f, op->blocks[r], copy, map);
        if (!copy->blocks[r]) return NULL;
    }
    return copy;
}

ir_block *ir_clone_block(ir_func *f, const ir_block *src, ir_op *parent, ir_value_map *map)
{
    ir_type stack_types[8];
    ir_type *types = src->nargs <= 8 ? stack_types
                     : arena_calloc(f->module->mem, (size_t)src->nargs, sizeof *types);
    if (!types) return NULL;
    for (int i = 0; i < src->nargs; i++) types[i] = src->args[i]->type;
    ir_block *blk = ir_block_new(f, src->nargs, types);
    if (!blk) return NULL;
    blk->parent = parent;
    for (int i = 0; i < src->nargs; i++)
        if (!map_copy(map, src->args[i], blk->args[i])) return NULL;
    ir_builder b = {.m = f->module};
    ir_builder_at_end(&b, blk);
    for (const ir_op *op = src->first; op; op = op->next)
        if (!ir_clone_op(&b, op, map)) return NULL;
    return blk;
}

static bool clone_into(ir_block *dst, const ir_block *src, ir_value_map *map)
{
    if (!src) return true;
    for (int i = 0; i < src->nargs && i < dst->nargs; i++)
        if (!ir_value_map_set(map, src->args[i], dst->args[i])) return false;
    ir_builder b = {.m = dst->func->module};
    ir_builder_at_end(&b, dst);
    for (const ir_op *op = src->first; op; op = op->next)
        if (!ir_clone_op(&b, op, map)) return false;
    return true;
}

ir_func *ir_clone_func(ir_module *m, const ir_func *f, const char *name)
{
    ir_func *copy = ir_func_new(m, name ? name : f->name, f->kind, f->loc);
    if (!copy) return NULL;
    for (int i = 0; i < f->nparams; i++)
        if (!ir_func_add_param(copy, &f->params[i])) return NULL;
    ir_func_set_results(copy, f->nresults, f->result_types);
    if (f->nresults && !copy->result_types) return NULL;
    if (f->nconsts) {
        copy->consts = arena_calloc(m->mem, (size_t)f->nconsts, sizeof *copy->consts);
        if (!copy->consts) return NULL;
        memcpy(copy->consts, f->consts, (size_t)f->nconsts * sizeof *copy->consts);
        copy->nconsts = f->nconsts;
    }
    ir_value_map map = {0};
    bool ok = clone_into(copy->body, f->body, &map) &&
              (!f->grid || clone_into(copy->grid, f->grid, &map));
    ir_value_map_free(&map);
    return ok ? copy : NULL;
}
