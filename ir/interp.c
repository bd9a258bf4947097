/* interp.c - the CPU interpreter: launch, control flow, memory access and
 * print (see interp.h; compute kernels in interp_ops.c, argument checks in
 * interp_args.c).
 *
 * Values live in a table of slots indexed by value id (sized from the
 * module's next_value_id).  Shapes are static, so each value's buffer has a
 * fixed size: it is allocated from the launch's one arena the first time
 * the value is defined and reused every time its op runs again (the next
 * loop iteration, the next program).  Memory is therefore the sum of the
 * kernel's tile sizes, however long the loops run, and is freed at once
 * when the launch ends.  Loop-carried values are copied into the region's
 * argument slots at each yield (staged when a yield permutes arguments of
 * its own block).  CONST and ARANGE results never change, so they are
 * computed once per launch. */
#include "interp.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_ops.h"
#include "interp_impl.h"

enum {
    MAX_CALL_DEPTH = 64,
};
#define MAX_LOOP_TRIPS ((int64_t)1 << 40)
#define MAX_TILE_BYTES ((uint64_t)1 << 32) /* one tile; a sanity bound */

typedef struct slot {
    void *data;                  /* tile storage, NULL until first defined */
    const interp_tensor *tensor; /* tensor values */
} slot;

typedef struct interp {
    const ir_module *m;
    diag_ctx *d;
    FILE *out;
    arena mem;
    slot *slots;
    int nslots;
    int64_t pid[3], nprog[3];
    unsigned char *scratch;      /* per-op temporaries, grown in the arena */
    size_t scratch_cap;
    const ir_func *calls[MAX_CALL_DEPTH];
    int depth;
    interp_bounds_check bounds;
    uint64_t bytes, max_bytes;   /* tile and scratch memory taken, and its budget */
    uint64_t ops, max_ops;       /* ops and blocks executed, and their budget */
} interp;

static tile_status exec_block(interp *st, const ir_block *blk, const ir_op **term);

/* ---- errors ------------------------------------------------------------ */

static const char *op_name(const ir_op *op)
{
    return (unsigned)op->code < IR_OP_COUNT ? ir_op_table[op->code].name : "?";
}

static tile_status internal(interp *st, const ir_op *op, const char *what)
{
    src_loc loc = op ? op->loc : (src_loc){0};
    diag_error(st->d, loc, "internal error: interpreter: %s%s%s", op ? op_name(op) : "",
               op ? ": " : "", what);
    return TILE_ERR_INTERNAL;
}

static tile_status nomem(interp *st, const ir_op *op)
{
    src_loc loc = op ? op->loc : (src_loc){0};
    diag_error(st->d, loc, "interpreter: out of memory");
    return TILE_ERR_NOMEM;
}

static tile_status runtime(interp *st, const ir_op *op, const char *what)
{
    if (!op) {
        diag_error(st->d, (src_loc){0}, "%s", what);
        return TILE_ERR_RUNTIME;
    }
    diag_error(st->d, op->loc, "%s (program %" PRId64 ", %" PRId64 ", %" PRId64 ")", what,
               st->pid[0], st->pid[1], st->pid[2]);
    return TILE_ERR_RUNTIME;
}

/* ---- budgets ----------------------------------------------------------- */

/* Takes bytes from the launch's memory budget (before allocating them), so
 * a kernel of many large tiles stops with an error, not an OOM kill. */
static tile_status take_memory(interp *st, const ir_op *op, size_t bytes)
{
    if (bytes > st->max_bytes - st->bytes) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "interpreter: the launch needs more than its memory budget of %" PRIu64
                 " bytes for tiles (raise it with --max-memory)", st->max_bytes);
        diag_error(st->d, op ? op->loc : (src_loc){0}, "%s", msg);
        return TILE_ERR_RUNTIME;
    }
    st->bytes += bytes;
    return TILE_OK;
}

/* Counts one executed op or block against the budget that ends a kernel
 * that never stops (`while true {}`). */
static tile_status take_step(interp *st, const ir_op *op)
{
    if (++st->ops <= st->max_ops) return TILE_OK;
    char msg[200];
    snprintf(msg, sizeof msg,
             "interpreter: the launch ran over its budget of %" PRIu64
             " executed ops (an endless loop?  raise it with --max-ops)", st->max_ops);
    return runtime(st, op, msg);
}

/* ---- slots ------------------------------------------------------------- */

static slot *slot_of(interp *st, const ir_value *v)
{
    if (!v || v->id < 0 || v->id >= st->nslots) return NULL;
    return &st->slots[v->id];
}

/* Bytes of a tile in interpreter storage; 0 if the shape is bad or the
 * tile is beyond MAX_TILE_BYTES. */
static size_t tile_bytes(const ir_type *t)
{
    int64_t n = ir_type_numel(t);
    if (n < 1 || (uint64_t)n > MAX_TILE_BYTES / 8) return 0;
    return (size_t)n * iop_elem_size(t->dtype);
}

static int64_t numel(const ir_value *v) { return ir_type_numel(&v->type); }

/* Buffer to define v into (allocated once per launch); NULL on error, with
 * *status set and the message reported. */
static void *out_tile(interp *st, const ir_op *op, const ir_value *v, tile_status *status)
{
    slot *s = slot_of(st, v);
    if (!s || v->type.kind != IR_TY_TILE) {
        *status = internal(st, op, "result is not a tile value of this module");
        return NULL;
    }
    if (!s->data) {
        size_t bytes = tile_bytes(&v->type);
        if (!bytes) {
            char shape[128];
            ir_shape_str(v->type.rank, v->type.shape, shape, sizeof shape);
            diag_error(st->d, op ? op->loc : (src_loc){0},
                       "interpreter: tile %s is too large (limit %llu bytes)", shape,
                       (unsigned long long)MAX_TILE_BYTES);
            *status = TILE_ERR_RUNTIME;
            return NULL;
        }
        if ((*status = take_memory(st, op, bytes)) != TILE_OK) return NULL;
        s->data = arena_alloc(&st->mem, bytes);
        if (!s->data) {
            *status = nomem(st, op);
            return NULL;
        }
    }
    return s->data;
}

static const void *in_tile(interp *st, const ir_op *op, const ir_value *v, tile_status *status)
{
    slot *s = slot_of(st, v);
    if (!s || !s->data || v->type.kind != IR_TY_TILE) {
        *status = internal(st, op, "operand used before it is defined");
        return NULL;
    }
    return s->data;
}

static const interp_tensor *in_tensor(interp *st, const ir_op *op, const ir_value *v,
                                      tile_status *status)
{
    slot *s = slot_of(st, v);
    if (!s || !s->tensor || v->type.kind != IR_TY_TENSOR) {
        *status = internal(st, op, "operand is not a bound tensor");
        return NULL;
    }
    return s->tensor;
}

/* Reads an integer or bool scalar operand. */
static tile_status scalar_int(interp *st, const ir_op *op, const ir_value *v, int64_t *out)
{
    tile_status s = TILE_OK;
    if (ir_dtype_is_float(v->type.dtype) || v->type.kind != IR_TY_TILE)
        return internal(st, op, "expected an integer scalar operand");
    const int64_t *p = in_tile(st, op, v, &s);
    if (!p) return s;
    *out = p[0];
    return TILE_OK;
}

static void *scratch(interp *st, size_t bytes)
{
    if (bytes > st->scratch_cap) {
        size_t cap = st->scratch_cap ? st->scratch_cap : 4096;
        while (cap < bytes) {
            if (cap > SIZE_MAX / 2) return NULL;
            cap *= 2;
        }
        if (cap > st->max_bytes - st->bytes) return NULL; /* reported as out of memory */
        st->bytes += cap;
        unsigned char *p = arena_alloc(&st->mem, cap); /* the old one is abandoned */
        if (!p) return NULL;
        st->scratch = p;
        st->scratch_cap = cap;
    }
    return st->scratch;
}

/* dst := src (same type); tensors by reference. */
static tile_status copy_value(interp *st, const ir_op *op, const ir_value *dst,
                              const ir_value *src)
{
    if (dst == src) return TILE_OK;
    slot *ds = slot_of(st, dst), *ss = slot_of(st, src);
    if (!ds || !ss) return internal(st, op, "value of another module");
    if (src->type.kind == IR_TY_TENSOR || dst->type.kind == IR_TY_TENSOR) {
        if (src->type.kind != dst->type.kind || !ss->tensor)
            return internal(st, op, "tensor passed where a tile is expected");
        ds->tensor = ss->tensor;
        return TILE_OK;
    }
    if (numel(dst) != numel(src) || iop_elem_size(dst->type.dtype) != iop_elem_size(src->type.dtype))
        return internal(st, op, "carried value changes type");
    tile_status s = TILE_OK;
    const void *from = in_tile(st, op, src, &s);
    void *to = from ? out_tile(st, op, dst, &s) : NULL;
    if (!to) return s;
    memcpy(to, from, tile_bytes(&dst->type));
    return TILE_OK;
}

/* Copies the operands of terminator `term` into values dst[0..n).  A source
 * that is itself an argument of block `blk` (which dst may belong to) is
 * read into scratch first, so permuting yields such as (b, a) work. */
static tile_status carry(interp *st, const ir_op *term, const ir_block *blk,
                         ir_value *const *dst, int n)
{
    if (!term || term->noperands != n) return internal(st, term, "wrong number of yielded values");
    size_t staged = 0;
    for (int j = 0; j < n; j++) {
        const ir_value *src = term->operands[j];
        if (src != dst[j] && src->owner == blk && src->type.kind == IR_TY_TILE)
            staged += tile_bytes(&src->type);
    }
    unsigned char *stage = NULL;
    if (staged) {
        stage = scratch(st, staged);
        if (!stage) return nomem(st, term);
        size_t at = 0;
        for (int j = 0; j < n; j++) {
            const ir_value *src = term->operands[j];
            if (src == dst[j] || src->owner != blk || src->type.kind != IR_TY_TILE) continue;
            tile_status s = TILE_OK;
            const void *from = in_tile(st, term, src, &s);
            if (!from) return s;
            memcpy(stage + at, from, tile_bytes(&src->type));
            at += tile_bytes(&src->type);
        }
    }
    size_t at = 0;
    for (int j = 0; j < n; j++) {
        const ir_value *src = term->operands[j];
        if (src == dst[j]) continue;
        if (src->owner == blk && src->type.kind == IR_TY_TILE) {
            tile_status s = TILE_OK;
            size_t bytes = tile_bytes(&src->type);
            if (tile_bytes(&dst[j]->type) != bytes)
                return internal(st, term, "carried value changes type");
            void *to = out_tile(st, term, dst[j], &s);
            if (!to) return s;
            memcpy(to, stage + at, bytes);
            at += bytes;
        } else {
            tile_status s = copy_value(st, term, dst[j], src);
            if (s != TILE_OK) return s;
        }
    }
    return TILE_OK;
}

/* ---- memory access ----------------------------------------------------- */

static float read_f(ir_dtype t, const unsigned char *p)
{
    if (t == IR_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return t == IR_BF16 ? fp_bf16_to_f32(h) : fp_f16_to_f32(h);
}

static int64_t read_i(ir_dtype t, const unsigned char *p)
{
    if (t == IR_I32) {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    if (t == IR_I64) {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    return *p != 0;
}

/* Writes one element converted to memory dtype t (cast semantics).  A NaN
 * is written as the one canonical quiet NaN: its sign and payload depend on
 * operand order and on which identities the optimiser applied, so they are
 * not part of a result (docs/ir.md, "Memory"). */
static void write_elem(ir_dtype t, unsigned char *p, int is_float, float f, int64_t i)
{
    if (is_float && f != f) f = NAN;
    switch (t) {
    case IR_F32: {
        float v = is_float ? f : ev_i2f(IR_F32, i);
        memcpy(p, &v, 4);
        break;
    }
    case IR_BF16:
    case IR_F16: {
        float v = is_float ? f : ev_i2f(t, i);
        uint16_t h = t == IR_BF16 ? fp_f32_to_bf16(v) : fp_f32_to_f16(v);
        memcpy(p, &h, 2);
        break;
    }
    case IR_I32: {
        int32_t v = (int32_t)(is_float ? ev_f2i(IR_I32, f) : ev_wrap(IR_I32, (uint64_t)i));
        memcpy(p, &v, 4);
        break;
    }
    case IR_I64: {
        int64_t v = is_float ? ev_f2i(IR_I64, f) : i;
        memcpy(p, &v, 8);
        break;
    }
    default:
        *p = is_float ? f != 0 : i != 0;
        break;
    }
}

/* atomic_add of one element: mem := mem + value in the memory dtype. */
static void add_elem(ir_dtype t, unsigned char *p, int is_float, float f, int64_t i)
{
    if (ir_dtype_is_float(t)) {
        float v = is_float ? ev_round(t, f) : ev_i2f(t, i);
        write_elem(t, p, 1, ev_round(t, read_f(t, p) + v), 0);
    } else {
        int64_t v = is_float ? ev_f2i(t, f) : i;
        write_elem(t, p, 0, 0, ev_wrap(t, (uint64_t)read_i(t, p) + (uint64_t)v));
    }
}

/* --check-bounds: element e (position j[0..rank-1), l in the last dim) of a
 * view is live by its mask but out of range along some dimension.  Reports
 * it if the dimension is one the check covers; false if not. */
static bool out_of_bounds(interp *st, const ir_op *op, const interp_tensor *t,
                          const int64_t *const *idx, const unsigned char *const *ok_d,
                          const int64_t *j, int64_t l)
{
    int rank = t->rank, bad = -1;
    for (int d = 0; d < rank && bad < 0; d++) {
        int64_t at = d < rank - 1 ? j[d] : l;
        if (!ok_d[d][at] && (st->bounds == INTERP_BOUNDS_ALL || op->operands[1 + d]->type.rank == 0))
            bad = d;
    }
    if (bad < 0) return false;
    char where[256];
    size_t n = 0;
    for (int d = 0; d < rank && n < sizeof where; d++)
        n += (size_t)snprintf(where + n, sizeof where - n, "%s%" PRId64, d ? ", " : "",
                              idx[d][d < rank - 1 ? j[d] : l]);
    const char *name = op->operands[0]->name ? op->operands[0]->name : "tensor";
    int64_t bad_at = idx[bad][bad < rank - 1 ? j[bad] : l];
    char msg[512];
    snprintf(msg, sizeof msg, "%s %s %s[%s]: index %" PRId64 " is outside dimension %d (size %" PRId64 ")",
             op->code == IR_OP_LOAD ? "load" : op->code == IR_OP_STORE ? "store" : "atomic_add",
             op->code == IR_OP_LOAD ? "reads" : "writes", name, where, bad_at, bad, t->shape[bad]);
    runtime(st, op, msg);
    return true;
}

/* LOAD, STORE, ATOMIC_ADD: orthogonal indexing.  Per tensor dim d, the
 * index tile gives cnt[d] positions; the view is their cartesian product in
 * row-major order.  An element is touched only if every index is in range
 * and its mask is true. */
static tile_status exec_memory(interp *st, const ir_op *op)
{
    tile_status s = TILE_OK;
    const interp_tensor *t = in_tensor(st, op, op->operands[0], &s);
    if (!t) return s;
    int rank = op->operands[0]->type.rank;
    if (rank != t->rank || rank < 0 || rank > IR_MAX_RANK)
        return internal(st, op, "tensor rank differs from its type");
    int is_load = op->code == IR_OP_LOAD;
    int has_mask = (op->attr.i & IR_LOAD_HAS_MASK) != 0;
    int has_other = is_load && (op->attr.i & IR_LOAD_HAS_OTHER) != 0;
    if (op->noperands != 1 + rank + !is_load + has_mask + has_other)
        return internal(st, op, "wrong operand count");

    int64_t cnt[IR_MAX_RANK];
    const int64_t *idx[IR_MAX_RANK];
    size_t total = 0;
    for (int d = 0; d < rank; d++) {
        const ir_value *iv = op->operands[1 + d];
        if (ir_dtype_is_float(iv->type.dtype)) return internal(st, op, "float index");
        idx[d] = in_tile(st, op, iv, &s);
        if (!idx[d]) return s;
        cnt[d] = numel(iv);
        total += (size_t)cnt[d];
    }
    int k = 1 + rank;
    const ir_value *val = is_load ? op->results[0] : op->operands[k++];
    const int64_t *mask = NULL;
    if (has_mask) {
        mask = in_tile(st, op, op->operands[k++], &s);
        if (!mask) return s;
    }
    const void *other = NULL;
    if (has_other) {
        other = in_tile(st, op, op->operands[k++], &s);
        if (!other) return s;
    }
    int64_t n = numel(val), view = 1;
    for (int d = 0; d < rank; d++) view *= cnt[d];
    if (n != view || (has_mask && numel(op->operands[1 + rank + !is_load]) != n) ||
        (has_other && numel(op->operands[op->noperands - 1]) != n))
        return internal(st, op, "value, mask or other does not have the view's shape");
    int vfloat = ir_dtype_is_float(val->type.dtype);
    if (has_other && ir_dtype_is_float(op->operands[op->noperands - 1]->type.dtype) != vfloat)
        return internal(st, op, "other does not have the result's dtype");
    void *vdata = is_load ? out_tile(st, op, val, &s) : (void *)in_tile(st, op, val, &s);
    if (!vdata) return s;
    if (is_load && vfloat != ir_dtype_is_float(t->dtype))
        return internal(st, op, "load result dtype differs from the tensor's");

    /* Per-dim element offsets and in-range flags. */
    int64_t *offs = scratch(st, total * (sizeof(int64_t) + 1) + 16);
    if (!offs && total) return nomem(st, op);
    unsigned char *ok = (unsigned char *)(offs + total);
    int64_t *off_d[IR_MAX_RANK];
    unsigned char *ok_d[IR_MAX_RANK];
    size_t at = 0;
    for (int d = 0; d < rank; d++) {
        off_d[d] = offs + at;
        ok_d[d] = ok + at;
        for (int64_t j = 0; j < cnt[d]; j++) {
            int64_t x = idx[d][j];
            int in = x >= 0 && x < t->shape[d];
            ok_d[d][j] = (unsigned char)in;
            off_d[d][j] = in ? x * t->strides[d] : 0;
        }
        at += (size_t)cnt[d];
    }

    const size_t msize = (size_t)ir_dtype_size(t->dtype);
    unsigned char *base = t->data;
    int64_t inner = rank ? cnt[rank - 1] : 1;
    int64_t j[IR_MAX_RANK] = {0};
    int64_t e = 0;
    float *vf = vfloat ? vdata : NULL;
    int64_t *vi = vfloat ? NULL : vdata;
    const float *of = other && vfloat ? other : NULL;
    const int64_t *oi = other && !vfloat ? other : NULL;
    while (e < n) {
        int row_ok = 1;
        int64_t row_off = 0;
        for (int d = 0; d < rank - 1; d++) {
            row_ok &= ok_d[d][j[d]];
            row_off += off_d[d][j[d]];
        }
        const unsigned char *okl = rank ? ok_d[rank - 1] : NULL;
        const int64_t *offl = rank ? off_d[rank - 1] : NULL;
        for (int64_t l = 0; l < inner; l++, e++) {
            int live = row_ok && (!okl || okl[l]) && (!mask || mask[e]);
            if (st->bounds && !live && (!mask || mask[e]) &&
                out_of_bounds(st, op, t, idx, (const unsigned char *const *)ok_d, j, l))
                return TILE_ERR_RUNTIME;
            unsigned char *p = live ? base + (row_off + (offl ? offl[l] : 0)) * (int64_t)msize
                                    : NULL;
            if (is_load) {
                if (vfloat) vf[e] = p ? read_f(t->dtype, p) : of ? of[e] : 0.0f;
                else vi[e] = p ? read_i(t->dtype, p) : oi ? oi[e] : 0;
            } else if (p) {
                if (op->code == IR_OP_STORE)
                    write_elem(t->dtype, p, vfloat, vf ? vf[e] : 0, vi ? vi[e] : 0);
                else
                    add_elem(t->dtype, p, vfloat, vf ? vf[e] : 0, vi ? vi[e] : 0);
            }
        }
        for (int d = rank - 2; d >= 0; d--) {
            if (++j[d] < cnt[d]) break;
            j[d] = 0;
        }
    }
    return TILE_OK;
}

/* ---- print ------------------------------------------------------------- */

static void print_float(FILE *f, ir_dtype t, float v)
{
    if (isnan(v)) {
        fputs("nan", f);
        return;
    }
    if (isinf(v)) {
        fputs(v < 0 ? "-inf" : "inf", f);
        return;
    }
    char buf[48];
    for (int prec = 1; prec <= 9; prec++) { /* shortest text that reads back */
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (ev_round(t, strtof(buf, NULL)) == v) break;
    }
    fputs(buf, f);
    if (!strpbrk(buf, ".e")) fputs(".0", f);
}

static void print_elems(FILE *f, const ir_type *t, const void *data, int dim, int64_t *at)
{
    if (dim == t->rank) {
        if (ir_dtype_is_float(t->dtype)) print_float(f, t->dtype, ((const float *)data)[*at]);
        else if (t->dtype == IR_BOOL) fputs(((const int64_t *)data)[*at] ? "true" : "false", f);
        else fprintf(f, "%" PRId64, ((const int64_t *)data)[*at]);
        ++*at;
        return;
    }
    fputc('[', f);
    for (int64_t i = 0; i < t->shape[dim]; i++) {
        if (i) fputs(", ", f);
        print_elems(f, t, data, dim + 1, at);
    }
    fputc(']', f);
}

static tile_status exec_print(interp *st, const ir_op *op)
{
    FILE *f = st->out;
    if (op->attr.str) fprintf(f, "%s:", op->attr.str);
    for (int i = 0; i < op->noperands; i++) {
        const ir_value *v = op->operands[i];
        if (op->attr.str || i) fputc(' ', f);
        if (v->type.kind == IR_TY_TENSOR) {
            tile_status s = TILE_OK;
            const interp_tensor *t = in_tensor(st, op, v, &s);
            if (!t) return s;
            fprintf(f, "tensor<%s>", ir_dtype_name(t->dtype));
            char buf[128];
            fputs(ir_shape_str(t->rank, t->shape, buf, sizeof buf), f);
            continue;
        }
        tile_status s = TILE_OK;
        const void *data = in_tile(st, op, v, &s);
        if (!data) return s;
        int64_t at = 0;
        print_elems(f, &v->type, data, 0, &at);
    }
    fputc('\n', f);
    return TILE_OK;
}

/* A false condition ends the launch: "assertion failed: MESSAGE (program x, y, z)". */
static tile_status exec_assert(interp *st, const ir_op *op)
{
    int64_t c;
    if (op->noperands != 1) return internal(st, op, "expected one operand");
    tile_status s = scalar_int(st, op, op->operands[0], &c);
    if (s != TILE_OK || c) return s;
    size_t n = strlen(op->attr.str ? op->attr.str : "") + 32;
    char *msg = arena_alloc(&st->mem, n);
    if (!msg) return nomem(st, op);
    snprintf(msg, n, "assertion failed: %s", op->attr.str ? op->attr.str : "");
    return runtime(st, op, msg);
}

/* ---- control flow ------------------------------------------------------ */

static tile_status exec_for(interp *st, const ir_op *op)
{
    int64_t lo, hi, step;
    tile_status s;
    if ((s = scalar_int(st, op, op->operands[0], &lo)) != TILE_OK ||
        (s = scalar_int(st, op, op->operands[1], &hi)) != TILE_OK ||
        (s = scalar_int(st, op, op->operands[2], &step)) != TILE_OK)
        return s;
    const ir_block *body = op->nblocks >= 1 ? op->blocks[0] : NULL;
    int ncarried = op->noperands - 3;
    if (!body || body->nargs != ncarried + 1 || op->nresults != ncarried)
        return internal(st, op, "malformed loop");
    if (step <= 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "for loop step is %" PRId64 ", must be positive", step);
        return runtime(st, op, msg);
    }
    uint64_t trips = 0;
    if (hi > lo) trips = ((uint64_t)hi - (uint64_t)lo - 1) / (uint64_t)step + 1;
    if (trips > (uint64_t)MAX_LOOP_TRIPS) return runtime(st, op, "for loop runs over 2^40 iterations");
    for (int i = 0; i < ncarried; i++)
        if ((s = copy_value(st, op, body->args[1 + i], op->operands[3 + i])) != TILE_OK) return s;
    const ir_value *ivv = body->args[0];
    for (uint64_t trip = 0; trip < trips; trip++) {
        int64_t *iv = out_tile(st, op, ivv, &s);
        if (!iv) return s;
        if (ir_dtype_is_float(ivv->type.dtype)) return internal(st, op, "induction variable is not an integer");
        iv[0] = ev_wrap(ivv->type.dtype, (uint64_t)lo + trip * (uint64_t)step);
        const ir_op *term = NULL;
        if ((s = exec_block(st, body, &term)) != TILE_OK) return s;
        if (!term || term->code != IR_OP_YIELD) return internal(st, op, "body does not end in yield");
        if ((s = carry(st, term, body, body->args + 1, ncarried)) != TILE_OK) return s;
    }
    for (int i = 0; i < ncarried; i++)
        if ((s = copy_value(st, op, op->results[i], body->args[1 + i])) != TILE_OK) return s;
    return TILE_OK;
}

static tile_status exec_while(interp *st, const ir_op *op)
{
    const ir_block *cond = op->nblocks >= 2 ? op->blocks[0] : NULL;
    const ir_block *body = op->nblocks >= 2 ? op->blocks[1] : NULL;
    int n = op->noperands;
    if (!cond || !body || cond->nargs != n || body->nargs != n || op->nresults != n)
        return internal(st, op, "malformed while");
    tile_status s;
    for (int i = 0; i < n; i++)
        if ((s = copy_value(st, op, cond->args[i], op->operands[i])) != TILE_OK) return s;
    for (int64_t trip = 0;; trip++) {
        if (trip > MAX_LOOP_TRIPS) return runtime(st, op, "while loop runs over 2^40 iterations");
        const ir_op *term = NULL;
        if ((s = exec_block(st, cond, &term)) != TILE_OK) return s;
        if (!term || term->code != IR_OP_CONDITION || term->noperands != 1)
            return internal(st, op, "condition region does not end in condition");
        int64_t c;
        if ((s = scalar_int(st, term, term->operands[0], &c)) != TILE_OK) return s;
        if (!c) break;
        for (int i = 0; i < n; i++)
            if ((s = copy_value(st, op, body->args[i], cond->args[i])) != TILE_OK) return s;
        if ((s = exec_block(st, body, &term)) != TILE_OK) return s;
        if (!term || term->code != IR_OP_YIELD) return internal(st, op, "body does not end in yield");
        if ((s = carry(st, term, cond, cond->args, n)) != TILE_OK) return s;
    }
    for (int i = 0; i < n; i++)
        if ((s = copy_value(st, op, op->results[i], cond->args[i])) != TILE_OK) return s;
    return TILE_OK;
}

static tile_status exec_if(interp *st, const ir_op *op)
{
    int64_t c;
    tile_status s = scalar_int(st, op, op->operands[0], &c);
    if (s != TILE_OK) return s;
    const ir_block *blk = op->nblocks > (c ? 0 : 1) ? op->blocks[c ? 0 : 1] : NULL;
    if (!blk) {
        if (op->nresults) return internal(st, op, "missing region");
        return TILE_OK;
    }
    const ir_op *term = NULL;
    if ((s = exec_block(st, blk, &term)) != TILE_OK) return s;
    if (!term || term->code != IR_OP_YIELD) return internal(st, op, "region does not end in yield");
    return carry(st, term, blk, op->results, op->nresults);
}

/* One step of a scan line: r[at] = combine(r[prev], x[at]) for all k
 * operands at once, through the combine region's scalar arguments. */
static tile_status scan_step(interp *st, const ir_op *op, const ir_block *combine,
                             const unsigned char **x, unsigned char **r, int64_t prev, int64_t at)
{
    int k = op->noperands;
    tile_status s = TILE_OK;
    for (int i = 0; i < 2 * k; i++) {
        size_t es = iop_elem_size(op->operands[i % k]->type.dtype);
        unsigned char *arg = out_tile(st, op, combine->args[i], &s);
        if (!arg) return s;
        memcpy(arg, i < k ? r[i] + (size_t)prev * es : x[i - k] + (size_t)at * es, es);
    }
    const ir_op *term = NULL;
    if ((s = exec_block(st, combine, &term)) != TILE_OK) return s;
    if (!term || term->code != IR_OP_YIELD || term->noperands != k)
        return internal(st, op, "combine region does not yield one value per operand");
    for (int i = 0; i < k; i++) {
        size_t es = iop_elem_size(op->operands[i]->type.dtype);
        const unsigned char *c = in_tile(st, term, term->operands[i], &s);
        if (!c) return s;
        memcpy(r[i] + (size_t)at * es, c, es);
    }
    return TILE_OK;
}

/* Inclusive scan along attr.i with the combine region, folding each line
 * in index order: r[0] = x[0], r[t] = combine(r[t-1], x[t]). */
static tile_status exec_scan(interp *st, const ir_op *op)
{
    int k = op->noperands;
    const ir_block *combine = op->nblocks == 1 ? op->blocks[0] : NULL;
    if (k < 1 || k > IR_SCAN_MAX_OPERANDS || op->nresults != k || !combine ||
        combine->nargs != 2 * k)
        return internal(st, op, "malformed scan");
    const ir_type *xt = &op->operands[0]->type;
    if (op->attr.i < 0 || op->attr.i >= xt->rank) return internal(st, op, "axis out of range");
    /* Not in scratch: the combine region's ops may use it. */
    const unsigned char *x[IR_SCAN_MAX_OPERANDS];
    unsigned char *r[IR_SCAN_MAX_OPERANDS];
    tile_status s = TILE_OK;
    int64_t total = ir_type_numel(xt);
    for (int i = 0; i < k; i++) {
        const ir_type *t = &op->operands[i]->type;
        if (ir_type_numel(t) != total || ir_type_numel(&op->results[i]->type) != total ||
            t->dtype != op->results[i]->type.dtype)
            return internal(st, op, "operands and results differ in shape");
        if (!(x[i] = in_tile(st, op, op->operands[i], &s))) return s;
        if (!(r[i] = out_tile(st, op, op->results[i], &s))) return s;
        memcpy(r[i], x[i], tile_bytes(t));   /* r[0] = x[0] on every line */
    }
    int64_t len = xt->shape[op->attr.i], inner = 1;
    for (int d = (int)op->attr.i + 1; d < xt->rank; d++) inner *= xt->shape[d];
    for (int64_t base = 0; base < total; base++) {
        if (base / inner % len != 0) continue;     /* not the start of a line */
        for (int64_t t = 1; t < len; t++)
            if ((s = scan_step(st, op, combine, x, r, base + (t - 1) * inner, base + t * inner)) !=
                TILE_OK)
                return s;
    }
    return TILE_OK;
}

static tile_status exec_call(interp *st, const ir_op *op)
{
    const ir_func *f = op->attr.callee;
    if (!f || !f->body || f->body->nargs != op->noperands)
        return internal(st, op, "call does not match its callee");
    for (int i = 0; i < st->depth; i++)
        if (st->calls[i] == f) {
            char msg[160];
            snprintf(msg, sizeof msg, "recursive call to '%s'", f->name ? f->name : "?");
            return runtime(st, op, msg);
        }
    if (st->depth == MAX_CALL_DEPTH) return runtime(st, op, "calls nested too deeply");
    tile_status s;
    for (int i = 0; i < op->noperands; i++)
        if ((s = copy_value(st, op, f->body->args[i], op->operands[i])) != TILE_OK) return s;
    st->calls[st->depth++] = f;
    const ir_op *term = NULL;
    s = exec_block(st, f->body, &term);
    st->depth--;
    if (s != TILE_OK) return s;
    if (!term || term->code != IR_OP_RETURN) return internal(st, op, "callee does not end in return");
    return carry(st, term, f->body, op->results, op->nresults);
}

/* ---- ops --------------------------------------------------------------- */

/* Shape agreements the compute kernels rely on to stay in bounds.  The
 * verifier guarantees them; checking is cheap and keeps unverified IR from
 * reading out of bounds. */
static tile_status check_shapes(interp *st, const ir_op *op)
{
    const ir_type *rt = &op->results[0]->type;
    const ir_type *xt = op->noperands ? &op->operands[0]->type : NULL;
    int64_t n = ir_type_numel(rt);
    unsigned flags = ir_op_table[op->code].flags;
    if (flags & IR_ELEMENTWISE) {
        bool ternary = op->code == IR_OP_SELECT || op->code == IR_OP_FMA;
        if (op->noperands < 1 || op->noperands > 3 || ternary != (op->noperands == 3))
            return internal(st, op, "wrong operand count");
        for (int i = 0; i < op->noperands; i++)
            if (ir_type_numel(&op->operands[i]->type) != n)
                return internal(st, op, "operand shape differs from the result's");
        if (op->code == IR_OP_SELECT &&
            (op->operands[0]->type.dtype != IR_BOOL ||
             ir_dtype_is_float(op->operands[1]->type.dtype) != ir_dtype_is_float(rt->dtype) ||
             ir_dtype_is_float(op->operands[2]->type.dtype) != ir_dtype_is_float(rt->dtype)))
            return internal(st, op, "operand dtypes do not match");
        if (op->noperands == 2 && op->operands[0]->type.dtype != op->operands[1]->type.dtype)
            return internal(st, op, "operand dtypes differ");
        if (op->code == IR_OP_FMA && (op->operands[1]->type.dtype != rt->dtype ||
                                      op->operands[2]->type.dtype != rt->dtype))
            return internal(st, op, "operand dtypes differ");
        if (!(flags & IR_CMP) && op->code != IR_OP_CAST && op->code != IR_OP_SELECT &&
            ir_dtype_is_float(xt->dtype) != ir_dtype_is_float(rt->dtype))
            return internal(st, op, "operand dtype differs from the result's");
        return TILE_OK;
    }
    if (op->noperands < 1) return internal(st, op, "missing operand");
    bool arg_ext = op->code == IR_OP_ARGMAX || op->code == IR_OP_ARGMIN;
    if (op->code != IR_OP_DOT && !arg_ext && iop_elem_size(xt->dtype) != iop_elem_size(rt->dtype))
        return internal(st, op, "operand dtype differs from the result's");
    switch (op->code) {
    case IR_OP_BROADCAST:
        if (xt->rank > rt->rank) return internal(st, op, "rank shrinks");
        for (int d = 0; d < xt->rank; d++) {
            int64_t xs = xt->shape[d], rs = rt->shape[rt->rank - xt->rank + d];
            if (xs != 1 && xs != rs) return internal(st, op, "shapes do not broadcast");
        }
        return TILE_OK;
    case IR_OP_TRANS: {
        if (xt->rank != rt->rank) return internal(st, op, "rank changes");
        bool used[IR_MAX_RANK] = {false};
        for (int d = 0; d < rt->rank; d++) {
            int p = op->attr.perm[d];
            if (p < 0 || p >= rt->rank || used[p] || xt->shape[p] != rt->shape[d])
                return internal(st, op, "bad permutation");
            used[p] = true;
        }
        return TILE_OK;
    }
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MAX:
    case IR_OP_REDUCE_MIN:
    case IR_OP_CUMSUM:
        if (op->attr.i < 0 || op->attr.i >= xt->rank) return internal(st, op, "axis out of range");
        if (ir_type_numel(xt) / xt->shape[op->attr.i] * (op->code == IR_OP_CUMSUM ? xt->shape[op->attr.i] : 1) != n)
            return internal(st, op, "result shape does not match");
        return TILE_OK;
    case IR_OP_SLICE: {
        int64_t ax = op->attr.i;
        if (xt->rank != rt->rank || ax < 0 || ax >= xt->rank || op->attr.start < 0 ||
            op->attr.step < 1 || xt->dtype != rt->dtype)
            return internal(st, op, "bad slice");
        for (int d = 0; d < rt->rank; d++)
            if (d != ax && rt->shape[d] != xt->shape[d]) return internal(st, op, "bad slice");
        if (op->attr.start >= xt->shape[ax] ||
            rt->shape[ax] - 1 > (xt->shape[ax] - 1 - op->attr.start) / op->attr.step)
            return internal(st, op, "slice reads past the end");
        return TILE_OK;
    }
    case IR_OP_CONCAT: {
        const ir_type *bt = &op->operands[1]->type;
        int64_t ax = op->attr.i;
        if (xt->rank != rt->rank || bt->rank != rt->rank || ax < 0 || ax >= rt->rank ||
            bt->dtype != xt->dtype || rt->dtype != xt->dtype)
            return internal(st, op, "bad concat");
        for (int d = 0; d < rt->rank; d++)
            if (d == ax ? rt->shape[d] != xt->shape[d] + bt->shape[d]
                        : rt->shape[d] != xt->shape[d] || bt->shape[d] != xt->shape[d])
                return internal(st, op, "bad concat");
        return TILE_OK;
    }
    case IR_OP_ARGMAX:
    case IR_OP_ARGMIN:
        if (op->attr.i < 0 || op->attr.i >= xt->rank) return internal(st, op, "axis out of range");
        if (ir_type_numel(xt) / xt->shape[op->attr.i] != n || rt->dtype != IR_I32)
            return internal(st, op, "result shape does not match");
        return TILE_OK;
    case IR_OP_DOT: {
        if (op->noperands < 2 || op->noperands > 3) return internal(st, op, "wrong operand count");
        const ir_type *bt = &op->operands[1]->type;
        if (xt->rank != 2 || bt->rank != 2 || rt->rank != 2 || xt->shape[1] != bt->shape[0] ||
            rt->shape[0] != xt->shape[0] || rt->shape[1] != bt->shape[1] || xt->dtype != bt->dtype)
            return internal(st, op, "operands are not [M,K] x [K,N] -> [M,N]");
        if (op->noperands == 3 && (ir_type_numel(&op->operands[2]->type) != n ||
                                   ir_dtype_is_float(op->operands[2]->type.dtype) != ir_dtype_is_float(rt->dtype)))
            return internal(st, op, "accumulator does not match the result");
        return TILE_OK;
    }
    default:
        return TILE_OK;
    }
}

static tile_status exec_compute(interp *st, const ir_op *op)
{
    tile_status s = TILE_OK;
    if (op->nresults != 1) return internal(st, op, "expected one result");
    const ir_value *res = op->results[0];
    const ir_type *rt = &res->type;
    const void *x[3] = {NULL, NULL, NULL};
    if (op->noperands > 3) return internal(st, op, "too many operands");
    for (int i = 0; i < op->noperands; i++) {
        x[i] = in_tile(st, op, op->operands[i], &s);
        if (!x[i]) return s;
    }
    const ir_type *xt = op->noperands ? &op->operands[0]->type : NULL;
    void *r = out_tile(st, op, res, &s);
    if (!r) return s;
    int64_t n = ir_type_numel(rt);
    size_t esize = iop_elem_size(rt->dtype);
    unsigned flags = ir_op_table[op->code].flags;
    if ((s = check_shapes(st, op)) != TILE_OK) return s;

    if (op->code == IR_OP_SELECT) {
        iop_select(rt->dtype, n, x[0], x[1], x[2], r);
        return TILE_OK;
    }
    if (flags & IR_ELEMENTWISE) {
        if (op->noperands == 1) s = iop_unary(op->code, xt->dtype, rt->dtype, n, x[0], r);
        else if (op->noperands == 2) s = iop_binary(op->code, xt->dtype, n, x[0], x[1], r);
        else if (op->code == IR_OP_FMA) s = iop_fma(rt->dtype, n, x[0], x[1], x[2], r);
        else s = TILE_ERR_INTERNAL;
        if (s == TILE_ERR_RUNTIME) return runtime(st, op, "integer division by zero");
        if (s != TILE_OK) return internal(st, op, "unsupported operand dtype");
        return TILE_OK;
    }
    switch (op->code) {
    case IR_OP_BROADCAST:
        iop_broadcast(esize, xt->rank, xt->shape, x[0], rt->rank, rt->shape, r);
        return TILE_OK;
    case IR_OP_RESHAPE:
    case IR_OP_EXPAND_DIMS:     /* same elements, same row-major order */
    case IR_OP_CONVERT_LAYOUT:  /* layouts do not change values */
        if (ir_type_numel(xt) != n) return internal(st, op, "element count changes");
        memcpy(r, x[0], (size_t)n * esize);
        return TILE_OK;
    case IR_OP_TRANS:
        iop_transpose(esize, xt->rank, xt->shape, op->attr.perm, x[0], r);
        return TILE_OK;
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MAX:
    case IR_OP_REDUCE_MIN:
        s = iop_reduce(op->code, xt->dtype, xt->rank, xt->shape, (int)op->attr.i, x[0], r);
        break;
    case IR_OP_CUMSUM:
        s = iop_cumsum(xt->dtype, xt->rank, xt->shape, (int)op->attr.i, x[0], r);
        break;
    case IR_OP_SLICE:
        iop_slice(esize, xt->rank, xt->shape, (int)op->attr.i, op->attr.start, op->attr.step,
                  x[0], rt->shape, r);
        return TILE_OK;
    case IR_OP_CONCAT:
        iop_concat(esize, rt->rank, xt->shape, op->operands[1]->type.shape, (int)op->attr.i, x[0],
                   x[1], r);
        return TILE_OK;
    case IR_OP_ARGMAX:
    case IR_OP_ARGMIN:
        s = iop_argext(op->code, xt->dtype, xt->rank, xt->shape, (int)op->attr.i, x[0], r);
        break;
    case IR_OP_DOT: {
        s = iop_dot(xt->dtype, rt->dtype, rt->shape[0], rt->shape[1], xt->shape[1], x[0], x[1],
                    op->noperands == 3 ? x[2] : NULL, r);
        break;
    }
    default:
        return internal(st, op, "not a compute op");
    }
    return s == TILE_OK ? s : internal(st, op, "unsupported operand dtype or axis");
}

/* SORT/TOPK: two results (values, indices); shapes as the verifier wants
 * them, checked again so unverified IR cannot write out of bounds. */
static tile_status exec_sort(interp *st, const ir_op *op)
{
    tile_status s = TILE_OK;
    if (op->noperands != 1 || op->nresults != 2) return internal(st, op, "expected 1 operand, 2 results");
    const ir_type *xt = &op->operands[0]->type, *vt = &op->results[0]->type;
    const ir_type *it = &op->results[1]->type;
    int axis = (int)op->attr.i;
    if (axis < 0 || axis >= xt->rank || vt->rank != xt->rank || it->rank != xt->rank ||
        vt->dtype != xt->dtype || it->dtype != IR_I32)
        return internal(st, op, "result types do not match the operand");
    for (int d = 0; d < xt->rank; d++)
        if (it->shape[d] != vt->shape[d] || (d != axis && vt->shape[d] != xt->shape[d]))
            return internal(st, op, "result shapes do not match the operand");
    const void *x = in_tile(st, op, op->operands[0], &s);
    if (!x) return s;
    void *values = out_tile(st, op, op->results[0], &s);
    if (!values) return s;
    int64_t *indices = out_tile(st, op, op->results[1], &s);
    if (!indices) return s;
    s = iop_sort(op->code == IR_OP_TOPK, xt->dtype, xt->rank, xt->shape, axis, vt->shape[axis], x,
                 values, indices);
    if (s == TILE_ERR_NOMEM) return nomem(st, op);
    return s == TILE_OK ? s : internal(st, op, "bad operand dtype, axis or k");
}

static tile_status exec_op(interp *st, const ir_op *op)
{
    tile_status s = TILE_OK;
    switch (op->code) {
    case IR_OP_CONST:
    case IR_OP_ARANGE: {
        slot *sl = slot_of(st, op->results[0]);
        if (sl && sl->data) return TILE_OK; /* constant for the whole launch */
        void *r = out_tile(st, op, op->results[0], &s);
        if (!r) return s;
        const ir_type *rt = &op->results[0]->type;
        int64_t n = ir_type_numel(rt);
        if (op->code == IR_OP_CONST) {
            iop_splat(rt->dtype, n, op->attr.cval, r);
        } else {
            if (ir_dtype_is_float(rt->dtype)) return internal(st, op, "float arange");
            int64_t *ri = r;
            for (int64_t i = 0; i < n; i++) ri[i] = ev_wrap(rt->dtype, (uint64_t)i);
        }
        return TILE_OK;
    }
    case IR_OP_PROGRAM_ID:
    case IR_OP_NUM_PROGRAMS:
    case IR_OP_TENSOR_DIM: {
        int64_t axis = op->attr.i, v;
        if (op->code == IR_OP_TENSOR_DIM) {
            const interp_tensor *t = in_tensor(st, op, op->operands[0], &s);
            if (!t) return s;
            if (axis < 0 || axis >= t->rank) return internal(st, op, "axis out of range");
            v = t->shape[axis];
        } else {
            if (axis < 0 || axis > 2) return internal(st, op, "axis out of range");
            v = op->code == IR_OP_PROGRAM_ID ? st->pid[axis] : st->nprog[axis];
        }
        if (ir_dtype_is_float(op->results[0]->type.dtype)) return internal(st, op, "float result");
        int64_t *r = out_tile(st, op, op->results[0], &s);
        if (!r) return s;
        r[0] = ev_wrap(op->results[0]->type.dtype, (uint64_t)v);
        return TILE_OK;
    }
    case IR_OP_LOAD:
    case IR_OP_STORE:
    case IR_OP_ATOMIC_ADD: return exec_memory(st, op);
    case IR_OP_FOR: return exec_for(st, op);
    case IR_OP_WHILE: return exec_while(st, op);
    case IR_OP_IF: return exec_if(st, op);
    case IR_OP_SCAN: return exec_scan(st, op);
    case IR_OP_SORT:
    case IR_OP_TOPK: return exec_sort(st, op);
    case IR_OP_CALL: return exec_call(st, op);
    case IR_OP_PRINT: return exec_print(st, op);
    case IR_OP_ASSERT: return exec_assert(st, op);
    case IR_OP_YIELD:
    case IR_OP_CONDITION:
    case IR_OP_RETURN: return internal(st, op, "terminator in the middle of a block");
    default: return exec_compute(st, op);
    }
}

/* Runs blk's ops in order; *term is its terminator (NULL if it has none). */
static tile_status exec_block(interp *st, const ir_block *blk, const ir_op **term)
{
    *term = NULL;
    tile_status s = take_step(st, blk->first);
    if (s != TILE_OK) return s;
    for (const ir_op *op = blk->first; op; op = op->next) {
        if ((unsigned)op->code >= IR_OP_COUNT) return internal(st, op, "bad opcode");
        if (ir_op_table[op->code].flags & IR_TERMINATOR) {
            *term = op;
            return TILE_OK;
        }
        if ((s = take_step(st, op)) != TILE_OK) return s;
        s = exec_op(st, op);
        if (s != TILE_OK) return s;
    }
    return TILE_OK;
}

/* ---- launch ------------------------------------------------------------ */

void interp_contiguous_strides(interp_tensor *t)
{
    int64_t s = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        t->strides[d] = s;
        int64_t size = t->shape[d] > 0 ? t->shape[d] : 1;
        s = s > INT64_MAX / size ? INT64_MAX : s * size;
    }
}

/* Binds block arguments (one per parameter) to the launch arguments. */
static tile_status bind_params(interp *st, const ir_func *k, const ir_block *blk,
                               const interp_arg *args)
{
    if (!blk || blk->nargs != k->nparams) return internal(st, NULL, "block arguments do not match parameters");
    for (int i = 0; i < k->nparams; i++) {
        const ir_value *v = blk->args[i];
        slot *s = slot_of(st, v);
        if (!s) return internal(st, NULL, "parameter value of another module");
        if (v->type.kind == IR_TY_TENSOR) {
            s->tensor = &args[i].tensor;
            continue;
        }
        tile_status status = TILE_OK;
        void *r = out_tile(st, NULL, v, &status);
        if (!r) return status;
        ir_scalar x = args[i].scalar;
        if (ir_dtype_is_float(v->type.dtype)) x.f = ev_from_double(v->type.dtype, x.f);
        else x.i = v->type.dtype == IR_BOOL ? x.i != 0 : x.i;
        iop_splat(v->type.dtype, ir_type_numel(&v->type), x, r);
    }
    return TILE_OK;
}

/* Runs the grid block: st->nprog = the grid the clause gives for args. */
static tile_status eval_grid(interp *st, const ir_func *k, const interp_arg *args)
{
    tile_status s = bind_params(st, k, k->grid, args);
    if (s != TILE_OK) return s;
    const ir_op *term = NULL;
    if ((s = exec_block(st, k->grid, &term)) != TILE_OK) return s;
    if (!term || term->code != IR_OP_YIELD || term->noperands > 3)
        return internal(st, term, "grid does not end in yield of up to 3 sizes");
    for (int a = 0; a < 3; a++) {
        st->nprog[a] = 1;
        if (a < term->noperands && (s = scalar_int(st, term, term->operands[a], &st->nprog[a])) != TILE_OK)
            return s;
        if (st->nprog[a] < 0) {
            diag_error(st->d, term->loc, "grid size along axis %d is %" PRId64, a, st->nprog[a]);
            return TILE_ERR_RUNTIME;
        }
    }
    return TILE_OK;
}

static tile_status run_grid(interp *st, const ir_func *k, const interp_arg *args)
{
    tile_status s = eval_grid(st, k, args);
    if (s != TILE_OK) return s;
    const ir_op *term = NULL;
    if ((s = bind_params(st, k, k->body, args)) != TILE_OK) return s;
    for (int64_t z = 0; z < st->nprog[2]; z++)
        for (int64_t y = 0; y < st->nprog[1]; y++)
            for (int64_t x = 0; x < st->nprog[0]; x++) {
                st->pid[0] = x;
                st->pid[1] = y;
                st->pid[2] = z;
                if ((s = exec_block(st, k->body, &term)) != TILE_OK) return s;
                if (!term || term->code != IR_OP_RETURN)
                    return internal(st, term, "kernel body does not end in return");
            }
    return TILE_OK;
}

/* The run's state around one of the two entry points below; `grid` set
 * evaluates only the grid clause (tensor data are never read there). */
static tile_status run(const ir_func *kernel, const interp_arg *args, int nargs, diag_ctx *d,
                       const interp_options *opts, int64_t *grid)
{
    if (!kernel || !kernel->module || !d) return TILE_ERR_INTERNAL;
    interp st;
    memset(&st, 0, sizeof st);
    st.m = kernel->module;
    st.d = d;
    st.out = opts && opts->print_out ? opts->print_out : stdout;
    st.bounds = opts ? opts->check_bounds : INTERP_BOUNDS_OFF;
    st.max_bytes = opts && opts->max_bytes ? opts->max_bytes : INTERP_DEFAULT_MAX_BYTES;
    st.max_ops = opts && opts->max_ops ? opts->max_ops : INTERP_DEFAULT_MAX_OPS;
    if (kernel->kind != IR_FUNC_KERNEL || !kernel->grid || !kernel->body) {
        diag_error(d, kernel->loc, "'%s' is not a kernel", kernel->name ? kernel->name : "?");
        return TILE_ERR_ARG;
    }
    if (!interp_check_args(d, kernel, args, nargs)) return TILE_ERR_ARG;
    arena_init(&st.mem);
    st.nslots = st.m->next_value_id;
    st.slots = arena_calloc(&st.mem, st.nslots > 0 ? (size_t)st.nslots : 1, sizeof *st.slots);
    tile_status s;
    if (!st.slots) s = nomem(&st, NULL);
    else if (grid) {
        s = eval_grid(&st, kernel, args);
        for (int a = 0; a < 3; a++) grid[a] = st.nprog[a];
    } else {
        s = run_grid(&st, kernel, args);
        if (st.out) fflush(st.out);
    }
    arena_free(&st.mem);
    return s;
}

tile_status interp_eval_grid(const ir_func *kernel, const interp_arg *args, int nargs,
                             diag_ctx *d, int64_t grid[3])
{
    return run(kernel, args, nargs, d, NULL, grid);
}

tile_status interp_launch(const ir_func *kernel, const interp_arg *args, int nargs,
                          diag_ctx *d, const interp_options *opts)
{
    return run(kernel, args, nargs, d, opts, NULL);
}
