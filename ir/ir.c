/* ir.c - the IR core: the op table, types, construction and editing.
 *
 * Everything is allocated from the module's arena and never freed alone;
 * growing arrays (params, block args) are reallocated in the arena and the
 * old storage abandoned.  Every function that allocates returns NULL on OOM
 * and leaves the IR as it was. */
#include "ir.h"

#include <math.h>
#include <string.h>

#include "eval_ops.h"

const ir_op_info ir_op_table[IR_OP_COUNT] = {
#define X(e, n, no, nr, fl) [IR_OP_##e] = {n, no, nr, fl},
    IR_OPS(X)
#undef X
};

/* ---- types ------------------------------------------------------------- */

static const char *const dtype_names[IR_DTYPE_COUNT] = {
    [IR_BOOL] = "bool", [IR_I32] = "i32", [IR_I64] = "i64",
    [IR_F16] = "f16",   [IR_BF16] = "bf16", [IR_F32] = "f32",
};

const char *ir_dtype_name(ir_dtype t)
{
    return (unsigned)t < IR_DTYPE_COUNT ? dtype_names[t] : "?";
}

bool ir_dtype_from_name(const char *s, ir_dtype *out)
{
    if (!s) return false;
    for (int t = 0; t < IR_DTYPE_COUNT; t++)
        if (strcmp(s, dtype_names[t]) == 0) {
            *out = (ir_dtype)t;
            return true;
        }
    return false;
}

bool ir_dtype_is_float(ir_dtype t) { return t == IR_F16 || t == IR_BF16 || t == IR_F32; }
bool ir_dtype_is_int(ir_dtype t) { return t == IR_I32 || t == IR_I64; }

int ir_dtype_size(ir_dtype t)
{
    switch (t) {
    case IR_BOOL: return 1;
    case IR_I32: return 4;
    case IR_I64: return 8;
    case IR_F16: return 2;
    case IR_BF16: return 2;
    case IR_F32: return 4;
    default: return 0;
    }
}

ir_type ir_type_scalar(ir_dtype t)
{
    ir_type ty;
    memset(&ty, 0, sizeof ty);
    ty.kind = IR_TY_TILE;
    ty.dtype = t;
    return ty;
}

ir_type ir_type_tile(ir_dtype t, int rank, const int64_t *shape)
{
    ir_type ty = ir_type_scalar(t);
    if (rank < 0) rank = 0;
    if (rank > IR_MAX_RANK) rank = IR_MAX_RANK;
    ty.rank = rank;
    for (int i = 0; i < rank; i++) ty.shape[i] = shape[i];
    return ty;
}

ir_type ir_type_tensor(ir_dtype t, int rank)
{
    ir_type ty = ir_type_scalar(t);
    ty.kind = IR_TY_TENSOR;
    ty.rank = rank;
    return ty;
}

bool ir_type_same_shape(const ir_type *a, const ir_type *b)
{
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

bool ir_type_equal(const ir_type *a, const ir_type *b)
{
    if (a->kind != b->kind || a->dtype != b->dtype || a->rank != b->rank) return false;
    if (a->layout != b->layout) return false; /* interned: pointer equality */
    return a->kind == IR_TY_TENSOR || ir_type_same_shape(a, b);
}

int64_t ir_type_numel(const ir_type *t)
{
    if (t->kind != IR_TY_TILE) return 1;
    for (int i = 0; i < t->rank; i++)
        if (t->shape[i] < 1) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (n > INT64_MAX / t->shape[i]) return INT64_MAX;
        n *= t->shape[i];
    }
    return n;
}

char *ir_shape_str(int rank, const int64_t *shape, char *buf, size_t size)
{
    size_t n = 0;
    if (!size) return buf;
    buf[0] = 0;
#define PUT(...)                                                            \
    do {                                                                    \
        int k_ = snprintf(buf + n, size - n, __VA_ARGS__);                  \
        if (k_ < 0) return buf;                                             \
        n += (size_t)k_;                                                    \
        if (n >= size) return buf;                                          \
    } while (0)
    PUT("[");
    for (int i = 0; i < rank; i++) PUT("%s%lld", i ? "," : "", (long long)shape[i]);
    PUT("]");
#undef PUT
    return buf;
}

char *ir_type_str(const ir_type *t, char *buf, size_t size)
{
    if (!size) return buf;
    if (t->kind == IR_TY_TENSOR) {
        snprintf(buf, size, "tensor<%s,%d>", ir_dtype_name(t->dtype), t->rank);
        return buf;
    }
    int n = snprintf(buf, size, "%s", ir_dtype_name(t->dtype));
    if (t->rank > 0 && n >= 0 && (size_t)n < size)
        ir_shape_str(t->rank, t->shape, buf + n, size - (size_t)n);
    size_t len = strlen(buf);
    if (t->layout && len < size) ir_layout_str(t->layout, buf + len, size - len);
    return buf;
}

/* Wraps an integral double to two's complement int64 (mod 2^64). */
static int64_t wrap_i64(double v)
{
    if (isnan(v)) return 0;
    if (isinf(v)) return 0;
    double t = trunc(v);
    if (t >= -9223372036854775808.0 && t < 9223372036854775808.0) return (int64_t)t;
    /* |t| >= 2^63: t is a multiple of 2^11, so fmod and the shift are exact. */
    const double two64 = 18446744073709551616.0, two63 = 9223372036854775808.0;
    double r = fmod(t, two64);
    if (r < 0) r += two64;
    uint64_t u = r >= two63 ? (uint64_t)(r - two63) + ((uint64_t)1 << 63) : (uint64_t)r;
    return (int64_t)u;
}

ir_scalar ir_scalar_round(ir_dtype t, double v)
{
    ir_scalar s;
    s.i = 0;
    switch (t) {
    case IR_BOOL: s.i = v != 0; break;
    case IR_I32: s.i = (int64_t)(int32_t)(uint32_t)(uint64_t)wrap_i64(v); break;
    case IR_I64: s.i = wrap_i64(v); break;
    case IR_F16:
    case IR_BF16:
    case IR_F32: s.f = ev_from_double(t, v); break; /* one rounding, never via f32 */
    default: break;
    }
    return s;
}

/* ---- construction ------------------------------------------------------ */

ir_module *ir_module_new(arena *mem, diag_ctx *diags)
{
    ir_module *m = arena_alloc(mem, sizeof *m);
    if (!m) return NULL;
    m->mem = mem;
    m->diags = diags;
    return m;
}

ir_value *ir_value_new(ir_module *m, ir_type type)
{
    ir_value *v = arena_alloc(m->mem, sizeof *v);
    if (!v) return NULL;
    v->id = m->next_value_id++;
    v->type = type;
    return v;
}

/* Block arguments and function parameters grow one at a time (a kernel of
 * thousands of parameters must not copy its array thousands of times), so
 * their arrays are allocated with room for array_cap(n) entries: n rounded up
 * to a power of two.  Growing copies only when n is a power of two. */
static size_t array_cap(int n)
{
    size_t cap = 1;
    while (cap < (size_t)n) cap *= 2;
    return cap;
}

/* Makes room for entry n (the n-th append) in *items of elem bytes; false on OOM. */
static bool array_grow(arena *mem, void **items, int n, size_t elem)
{
    if (n > 0 && array_cap(n) > (size_t)n) return true; /* room left */
    void *bigger = arena_calloc(mem, array_cap(n + 1), elem);
    if (!bigger) return false;
    if (n) memcpy(bigger, *items, (size_t)n * elem);
    *items = bigger;
    return true;
}

ir_block *ir_block_new(ir_func *f, int nargs, const ir_type *arg_types)
{
    ir_module *m = f->module;
    ir_block *blk = arena_alloc(m->mem, sizeof *blk);
    if (!blk) return NULL;
    blk->func = f;
    if (nargs > 0) {
        blk->args = arena_calloc(m->mem, array_cap(nargs), sizeof *blk->args);
        if (!blk->args) return NULL;
        for (int i = 0; i < nargs; i++) {
            ir_value *v = ir_value_new(m, arg_types[i]);
            if (!v) return NULL;
            v->owner = blk;
            v->index = i;
            blk->args[i] = v;
        }
    }
    blk->nargs = nargs > 0 ? nargs : 0;
    return blk;
}

ir_block *ir_op_new_region(ir_op *op, int i, int nargs, const ir_type *arg_types)
{
    if (!op->parent || !op->parent->func || i < 0 || i >= op->nblocks) return NULL;
    ir_block *blk = ir_block_new(op->parent->func, nargs, arg_types);
    if (!blk) return NULL;
    blk->parent = op;
    op->blocks[i] = blk;
    return blk;
}

ir_func *ir_func_new(ir_module *m, const char *name, ir_func_kind kind, src_loc loc)
{
    ir_func *f = arena_alloc(m->mem, sizeof *f);
    if (!f) return NULL;
    f->name = name ? arena_strdup(m->mem, name) : NULL;
    if (name && !f->name) return NULL;
    f->kind = kind;
    f->module = m;
    f->loc = loc;
    f->body = ir_block_new(f, 0, NULL);
    if (!f->body) return NULL;
    if (kind == IR_FUNC_KERNEL) {
        f->grid = ir_block_new(f, 0, NULL);
        if (!f->grid) return NULL;
    }
    if (m->last) m->last->next = f; else m->first = f;
    m->last = f;
    return f;
}

/* Appends a new argument of type `t` to blk; returns it (NULL on OOM). */
static ir_value *block_add_arg(ir_block *blk, ir_type t, const char *name)
{
    ir_module *m = blk->func->module;
    ir_value *v = ir_value_new(m, t);
    void *args = blk->args;
    if (!v || !array_grow(m->mem, &args, blk->nargs, sizeof *blk->args)) return NULL;
    blk->args = args;
    v->owner = blk;
    v->index = blk->nargs;
    v->name = name;
    blk->args[blk->nargs++] = v;
    return v;
}

ir_value *ir_func_add_param(ir_func *f, const ir_param *p)
{
    ir_module *m = f->module;
    void *grown = f->params;
    if (!array_grow(m->mem, &grown, f->nparams, sizeof *f->params)) return NULL;
    ir_param *params = grown;
    params[f->nparams] = *p;
    if (p->name) {
        params[f->nparams].name = arena_strdup(m->mem, p->name);
        if (!params[f->nparams].name) return NULL;
    }
    const char *name = params[f->nparams].name;
    /* Add to grid first so an OOM there leaves the body untouched. */
    if (f->grid && !block_add_arg(f->grid, p->type, name)) return NULL;
    ir_value *v = block_add_arg(f->body, p->type, name);
    if (!v) return NULL;
    f->params = params;
    f->nparams++;
    return v;
}

void ir_func_set_results(ir_func *f, int n, const ir_type *types)
{
    if (n <= 0) {
        f->nresults = 0;
        f->result_types = NULL;
        return;
    }
    ir_type *rt = arena_calloc(f->module->mem, (size_t)n, sizeof *rt);
    if (!rt) return;
    memcpy(rt, types, (size_t)n * sizeof *rt);
    f->result_types = rt;
    f->nresults = n;
}

ir_func *ir_module_find(const ir_module *m, const char *name)
{
    for (ir_func *f = m->first; f; f = f->next)
        if (f->name && name && strcmp(f->name, name) == 0) return f;
    return NULL;
}

void ir_builder_at_end(ir_builder *b, ir_block *block)
{
    b->block = block;
    b->before = NULL;
    if (block && block->func) {
        b->f = block->func;
        b->m = block->func->module;
    }
}

void ir_builder_before(ir_builder *b, ir_op *op)
{
    b->block = op->parent;
    b->before = op;
    if (op->parent && op->parent->func) {
        b->f = op->parent->func;
        b->m = op->parent->func->module;
    }
}

static bool set_operands(arena *mem, ir_op *op, int n, ir_value *const *vs);

ir_op *ir_build(ir_builder *b, ir_opcode code, int noperands, ir_value *const *operands,
                int nresults, const ir_type *result_types, int nblocks)
{
    ir_module *m = b->m;
    ir_op *op = arena_alloc(m->mem, sizeof *op);
    if (!op) return NULL;
    op->code = code;
    op->loc = b->loc;
    if (noperands > 0 && !set_operands(m->mem, op, noperands, operands)) return NULL;
    if (nresults > 0) {
        op->results = arena_calloc(m->mem, (size_t)nresults, sizeof *op->results);
        if (!op->results) return NULL;
        for (int i = 0; i < nresults; i++) {
            ir_value *v = ir_value_new(m, result_types[i]);
            if (!v) return NULL;
            v->def = op;
            v->index = i;
            op->results[i] = v;
        }
        op->nresults = nresults;
    }
    if (nblocks > 0) {
        op->blocks = arena_calloc(m->mem, (size_t)nblocks, sizeof *op->blocks);
        if (!op->blocks) return NULL;
        op->nblocks = nblocks;
    }
    if (b->before) ir_op_insert_before(b->before, op);
    else if (b->block) ir_op_append(b->block, op);
    return op;
}

static ir_value *build1(ir_builder *b, ir_opcode code, int n, ir_value *const *ops, ir_type t)
{
    for (int i = 0; i < n; i++)
        if (!ops[i]) return NULL;
    ir_op *op = ir_build(b, code, n, ops, 1, &t, 0);
    return op ? op->results[0] : NULL;
}

static ir_value *build_const(ir_builder *b, ir_type t, ir_scalar v)
{
    ir_op *op = ir_build(b, IR_OP_CONST, 0, NULL, 1, &t, 0);
    if (!op) return NULL;
    op->attr.cval = v;
    return op->results[0];
}

ir_value *ir_const_int(ir_builder *b, ir_dtype t, int64_t v, int rank, const int64_t *shape)
{
    ir_scalar s;
    if (ir_dtype_is_float(t)) s = ir_scalar_round(t, (double)v);
    else if (t == IR_BOOL) s.i = v != 0;
    else if (t == IR_I32) s.i = (int64_t)(int32_t)(uint32_t)(uint64_t)v;
    else s.i = v;
    return build_const(b, ir_type_tile(t, rank, shape), s);
}

ir_value *ir_const_float(ir_builder *b, ir_dtype t, double v, int rank, const int64_t *shape)
{
    return build_const(b, ir_type_tile(t, rank, shape), ir_scalar_round(t, v));
}

ir_value *ir_const_bool(ir_builder *b, bool v, int rank, const int64_t *shape)
{
    ir_scalar s;
    s.i = v ? 1 : 0;
    return build_const(b, ir_type_tile(IR_BOOL, rank, shape), s);
}

ir_value *ir_unary(ir_builder *b, ir_opcode code, ir_value *x)
{
    if (!x) return NULL;
    return build1(b, code, 1, &x, x->type);
}

ir_value *ir_binary(ir_builder *b, ir_opcode code, ir_value *x, ir_value *y)
{
    if (!x || !y) return NULL;
    ir_type t = x->type;
    if (ir_op_table[code].flags & IR_CMP) t.dtype = IR_BOOL;
    ir_value *ops[2] = {x, y};
    return build1(b, code, 2, ops, t);
}

ir_value *ir_select(ir_builder *b, ir_value *c, ir_value *x, ir_value *y)
{
    if (!c || !x || !y) return NULL;
    ir_value *ops[3] = {c, x, y};
    return build1(b, IR_OP_SELECT, 3, ops, x->type);
}

ir_value *ir_cast(ir_builder *b, ir_value *x, ir_dtype t)
{
    if (!x) return NULL;
    ir_type ty = x->type;
    ty.dtype = t;
    return build1(b, IR_OP_CAST, 1, &x, ty);
}

ir_value *ir_broadcast(ir_builder *b, ir_value *x, int rank, const int64_t *shape)
{
    if (!x) return NULL;
    return build1(b, IR_OP_BROADCAST, 1, &x, ir_type_tile(x->type.dtype, rank, shape));
}

ir_value *ir_reshape(ir_builder *b, ir_value *x, int rank, const int64_t *shape)
{
    if (!x) return NULL;
    return build1(b, IR_OP_RESHAPE, 1, &x, ir_type_tile(x->type.dtype, rank, shape));
}

ir_value *ir_expand_dims(ir_builder *b, ir_value *x, int axis)
{
    if (!x) return NULL;
    ir_type t = x->type;
    for (int i = t.rank; i > axis; i--) t.shape[i] = t.shape[i - 1];
    t.shape[axis] = 1;
    t.rank++;
    t.layout = NULL;
    ir_op *op = ir_build(b, IR_OP_EXPAND_DIMS, 1, &x, 1, &t, 0);
    if (!op) return NULL;
    op->attr.i = axis;
    return op->results[0];
}

/* ---- editing ----------------------------------------------------------- */

bool ir_value_const(const ir_value *v, ir_scalar *out)
{
    if (!v || !v->def || v->def->code != IR_OP_CONST) return false;
    *out = v->def->attr.cval;
    return true;
}

/* Use lists: every operand slot's ir_use is in its value's list. */
static void use_link(ir_op *op, int i)
{
    ir_use *u = &op->operand_uses[i];
    ir_value *v = op->operands[i];
    u->user = op;
    u->index = i;
    u->prev = NULL;
    u->next = NULL;
    if (!v) return;
    u->next = v->uses;
    if (v->uses) v->uses->prev = u;
    v->uses = u;
}

static void use_unlink(ir_op *op, int i)
{
    ir_use *u = &op->operand_uses[i];
    ir_value *v = op->operands[i];
    if (!v) return;
    if (u->prev) u->prev->next = u->next;
    else if (v->uses == u) v->uses = u->next;
    if (u->next) u->next->prev = u->prev;
    u->prev = u->next = NULL;
}

void ir_op_set_operand(ir_op *op, int i, ir_value *v)
{
    if (i < 0 || i >= op->noperands || op->operands[i] == v) return;
    use_unlink(op, i);
    op->operands[i] = v;
    use_link(op, i);
}

/* Growing takes new storage from mem (the old is abandoned). */
static bool set_operands(arena *mem, ir_op *op, int n, ir_value *const *vs)
{
    if (n < 0) n = 0;
    ir_value **ops = op->operands;
    ir_use *uses = op->operand_uses;
    if (n > op->noperands) {
        if (!mem) return false;
        ops = arena_calloc(mem, (size_t)n, sizeof *ops);
        uses = arena_calloc(mem, (size_t)n, sizeof *uses);
        if (!ops || !uses) return false;
    }
    for (int i = 0; i < op->noperands; i++) use_unlink(op, i);
    op->operands = n ? ops : NULL;
    op->operand_uses = n ? uses : NULL;
    op->noperands = n;
    for (int i = 0; i < n; i++) {
        op->operands[i] = vs[i];
        use_link(op, i);
    }
    return true;
}

bool ir_op_set_operands(ir_op *op, int n, ir_value *const *vs)
{
    ir_func *f = op->parent ? op->parent->func : NULL;
    return set_operands(f && f->module ? f->module->mem : NULL, op, n, vs);
}

void ir_op_remove_operand(ir_op *op, int i)
{
    if (i < 0 || i >= op->noperands) return;
    for (int k = i; k < op->noperands; k++) use_unlink(op, k);
    memmove(op->operands + i, op->operands + i + 1,
            (size_t)(op->noperands - i - 1) * sizeof *op->operands);
    op->noperands--;
    for (int k = i; k < op->noperands; k++) use_link(op, k);
}

/* Appends v to op's operands (a copy of the list: v may be read from it). */
static bool append_operand(ir_op *op, ir_value *v)
{
    ir_module *m = op->parent->func->module;
    ir_value **ops = arena_calloc(m->mem, (size_t)op->noperands + 1, sizeof *ops);
    if (!ops) return false;
    if (op->noperands) memcpy(ops, op->operands, (size_t)op->noperands * sizeof *ops);
    ops[op->noperands] = v;
    return ir_op_set_operands(op, op->noperands + 1, ops);
}

ir_value *ir_for_add_carried(ir_op *loop, ir_value *init, ir_value *(*next)(ir_value *arg, void *ctx),
                             void *ctx)
{
    ir_block *body = loop->code == IR_OP_FOR && loop->nblocks == 1 ? loop->blocks[0] : NULL;
    ir_op *yield = body ? body->last : NULL;
    if (!yield || yield->code != IR_OP_YIELD || !loop->parent) return NULL;
    ir_module *m = body->func->module;
    ir_value *arg = block_add_arg(body, init->type, init->name);
    ir_value *r = ir_value_new(m, init->type);
    ir_value **res = arena_calloc(m->mem, (size_t)loop->nresults + 1, sizeof *res);
    if (!arg || !r || !res) return NULL;
    ir_value *nv = next(arg, ctx);
    if (!nv || !append_operand(loop, init) || !append_operand(yield, nv)) return NULL;
    if (loop->nresults) memcpy(res, loop->results, (size_t)loop->nresults * sizeof *res);
    r->def = loop;
    r->index = loop->nresults;
    r->name = init->name;
    res[loop->nresults++] = r;
    loop->results = res;
    return r;
}

void ir_op_remove_result(ir_op *op, int i)
{
    if (i < 0 || i >= op->nresults) return;
    memmove(op->results + i, op->results + i + 1,
            (size_t)(op->nresults - i - 1) * sizeof *op->results);
    op->nresults--;
    for (int k = i; k < op->nresults; k++) op->results[k]->index = k;
}

void ir_block_remove_arg(ir_block *blk, int i)
{
    if (i < 0 || i >= blk->nargs) return;
    memmove(blk->args + i, blk->args + i + 1, (size_t)(blk->nargs - i - 1) * sizeof *blk->args);
    blk->nargs--;
    for (int k = i; k < blk->nargs; k++) blk->args[k]->index = k;
}

int ir_value_num_uses(const ir_value *v)
{
    int n = 0;
    for (const ir_use *u = v ? v->uses : NULL; u; u = u->next) n++;
    return n;
}

void ir_op_remove(ir_op *op)
{
    ir_block *blk = op->parent;
    if (!blk) return;
    if (op->prev) op->prev->next = op->next; else blk->first = op->next;
    if (op->next) op->next->prev = op->prev; else blk->last = op->prev;
    op->prev = op->next = NULL;
    op->parent = NULL;
}

static void drop_uses(ir_op *op)
{
    for (int i = 0; i < op->noperands; i++) use_unlink(op, i);
    for (int r = 0; r < op->nblocks; r++)
        for (ir_op *o = op->blocks[r] ? op->blocks[r]->first : NULL; o; o = o->next)
            drop_uses(o);
}

void ir_op_erase(ir_op *op)
{
    ir_op_remove(op);
    drop_uses(op);
}

void ir_op_insert_before(ir_op *pos, ir_op *op)
{
    ir_block *blk = pos->parent;
    op->parent = blk;
    op->next = pos;
    op->prev = pos->prev;
    if (pos->prev) pos->prev->next = op; else if (blk) blk->first = op;
    pos->prev = op;
}

void ir_op_append(ir_block *blk, ir_op *op)
{
    op->parent = blk;
    op->next = NULL;
    op->prev = blk->last;
    if (blk->last) blk->last->next = op; else blk->first = op;
    blk->last = op;
}

bool ir_op_is_inside(const ir_op *op, const ir_block *blk)
{
    for (const ir_block *b = op ? op->parent : NULL; b; b = b->parent ? b->parent->parent : NULL)
        if (b == blk) return true;
    return false;
}

void ir_replace_uses(ir_block *scope, ir_value *from, ir_value *to)
{
    if (!scope || !from || from == to) return;
    for (ir_use *u = from->uses, *next; u; u = next) {
        next = u->next;
        if (ir_op_is_inside(u->user, scope)) ir_op_set_operand(u->user, u->index, to);
    }
}

void ir_replace_all_uses(ir_value *from, ir_value *to)
{
    if (!from || from == to) return;
    for (ir_use *u = from->uses, *next; u; u = next) {
        next = u->next;
        ir_op_set_operand(u->user, u->index, to);
    }
}

/* `fn` may remove `op` (the walk goes on with op's original successor) but
 * should not remove other ops of the same block. */
void ir_walk(ir_block *blk, ir_walk_fn fn, void *ctx)
{
    if (!blk) return;
    for (ir_op *op = blk->first, *next; op; op = next) {
        next = op->next;
        fn(op, ctx);
        for (int r = 0; r < op->nblocks; r++) ir_walk(op->blocks[r], fn, ctx);
    }
}

void ir_walk_post(ir_block *blk, ir_walk_fn fn, void *ctx)
{
    if (!blk) return;
    for (ir_op *op = blk->first, *next; op; op = next) {
        next = op->next;
        for (int r = 0; r < op->nblocks; r++) ir_walk_post(op->blocks[r], fn, ctx);
        fn(op, ctx);
    }
}
