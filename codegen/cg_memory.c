/* cg_memory.c - load, store and atomic_add on global memory, with the
 * interpreter's semantics (ir/ir.h, docs/language.md): orthogonal
 * indexing; an element whose index is out of [0, dim) in any dim, or whose
 * mask is false, reads `other` (0 without one) and is never written; a
 * stored NaN is the canonical quiet NaN.
 *
 * Accesses are predicated PTX instructions through inline asm (as Triton
 * does): `@p ld.global` leaves `other` in the register when p is false, so
 * there is no branch per element.  Where the layout gives a thread vec
 * consecutive elements of the tensor's last dim (an arange index over a
 * dim of static size, or an arange plus a uniform offset that is a multiple
 * of the chunk: `program_id(1) * BE + arange(BE)`), the access is 16-byte vectorised behind a uniform
 * run-time check that the addresses are aligned (base pointer, strides);
 * otherwise the scalar path runs.  Both paths are always correct. */
#include "cg_impl.h"

#include <stdio.h>
#include <string.h>

typedef struct mem_access {
    ir_op *op;
    bool is_load, is_atomic;
    cg_val *tensor;
    int trank;
    const ir_value *idx[IR_MAX_RANK];
    int idx_off[IR_MAX_RANK];     /* first result dim of index d */
    const ir_value *value, *mask, *other;
    ir_dtype dt;
    const cg_map *m;              /* map of the accessed view */
    cg_gather gs[IR_MAX_RANK];
    int ngs;
} mem_access;

static LLVMTypeRef i64t(cg_ctx *g) { return LLVMInt64TypeInContext(g->ctx); }

static bool setup(cg_ctx *g, ir_op *op, mem_access *a)
{
    memset(a, 0, sizeof *a);
    a->op = op;
    /* An async copy reads like a load: (dst, pred, tensor, idx...). */
    int first = op->code == IR_OP_ASYNC_COPY ? 2 : 0;
    a->is_load = op->code == IR_OP_LOAD || first > 0;
    a->is_atomic = op->code == IR_OP_ATOMIC_ADD;
    a->tensor = cg_get(g, op->operands[first]);
    if (!a->tensor) return false;
    a->trank = op->operands[first]->type.rank;
    a->dt = op->operands[first]->type.dtype;
    int k = first + 1, off = 0;
    for (int d = 0; d < a->trank; d++, k++) {
        a->idx[d] = op->operands[k];
        a->idx_off[d] = off;
        off += op->operands[k]->type.rank;
        if (op->operands[k]->type.rank > 0) a->gs[a->ngs++] = (cg_gather){.v = op->operands[k]};
    }
    if (!a->is_load) a->value = op->operands[k++];
    if (first == 0 && (op->attr.i & IR_LOAD_HAS_MASK)) a->mask = op->operands[k++];
    if (first == 0 && a->is_load && (op->attr.i & IR_LOAD_HAS_OTHER)) a->other = op->operands[k++];
    a->m = cg_map_of(g, a->is_load ? &op->results[0]->type : &a->value->type);
    if (!a->m) return false;
    cg_prepare_gathers(g, a->gs, a->ngs, 0);
    return g->status == TILE_OK;
}

static LLVMValueRef dim_size(cg_ctx *g, const mem_access *a, int d)
{
    int64_t s = a->tensor->tensor.static_size[d];
    return s > 0 ? LLVMConstInt(i64t(g), (unsigned long long)s, 0) : a->tensor->tensor.size[d];
}

/* Element offset (i64) of register k and whether its indices are in range.
 * With skip_last, the last tensor dim's index is not added or checked. */
static LLVMValueRef element_offset(cg_ctx *g, const mem_access *a, const LLVMValueRef *c,
                                   LLVMValueRef *inrange)
{
    LLVMValueRef off = LLVMConstInt(i64t(g), 0, 0), ok = NULL;
    for (int d = 0; d < a->trank; d++) {
        LLVMValueRef iv = cg_value_at(g, a->gs, a->ngs, a->idx[d], c + a->idx_off[d]);
        if (!iv) return NULL;
        iv = LLVMBuildIntCast2(g->b, iv, i64t(g), 1, "");
        LLVMValueRef lo = LLVMBuildICmp(g->b, LLVMIntSGE, iv, LLVMConstInt(i64t(g), 0, 0), "");
        LLVMValueRef hi = LLVMBuildICmp(g->b, LLVMIntSLT, iv, dim_size(g, a, d), "");
        ok = cg_and(g, ok, LLVMBuildAnd(g->b, lo, hi, ""));
        off = LLVMBuildAdd(g->b, off, LLVMBuildMul(g->b, iv, a->tensor->tensor.stride[d], ""), "");
    }
    *inrange = ok;
    return off;
}

static LLVMValueRef address(cg_ctx *g, const mem_access *a, LLVMValueRef elem_off)
{
    LLVMValueRef base = LLVMBuildPtrToInt(g->b, a->tensor->tensor.ptr, i64t(g), "");
    LLVMValueRef bytes = LLVMBuildMul(g->b, elem_off,
                                      LLVMConstInt(i64t(g), (unsigned long long)ir_dtype_size(a->dt), 0), "");
    return LLVMBuildAdd(g->b, base, bytes, "");
}

/* Bits of one element in a b16/b32/b64 (or u8 for bool) PTX register. */
typedef struct elem_kind {
    LLVMTypeRef bits;
    const char *ptx;   /* b16, b32, b64, u8 */
    const char *reg;   /* h, r, l */
} elem_kind;

static elem_kind kind_of(cg_ctx *g, ir_dtype t)
{
    switch (ir_dtype_size(t)) {
    case 1: return (elem_kind){LLVMInt32TypeInContext(g->ctx), "u8", "r"};
    case 2: return (elem_kind){LLVMInt16TypeInContext(g->ctx), "b16", "h"};
    case 8: return (elem_kind){i64t(g), "b64", "l"};
    default: return (elem_kind){LLVMInt32TypeInContext(g->ctx), "b32", "r"};
    }
}

static LLVMValueRef to_bits(cg_ctx *g, ir_dtype t, LLVMValueRef v)
{
    elem_kind ek = kind_of(g, t);
    if (t == IR_BOOL) return LLVMBuildZExt(g->b, v, ek.bits, "");
    return LLVMBuildBitCast(g->b, v, ek.bits, "");
}

static LLVMValueRef from_bits(cg_ctx *g, ir_dtype t, LLVMValueRef v)
{
    if (t == IR_BOOL) return LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(LLVMTypeOf(v), 0, 0), "");
    return LLVMBuildBitCast(g->b, v, cg_type(g, t), "");
}

static LLVMValueRef pred_or_true(cg_ctx *g, LLVMValueRef p)
{
    return p ? p : LLVMConstInt(LLVMInt1TypeInContext(g->ctx), 1, 0);
}

static LLVMValueRef canonical_nan(cg_ctx *g, ir_dtype t, LLVMValueRef v)
{
    if (!ir_dtype_is_float(t)) return v;
    LLVMValueRef isnan = LLVMBuildFCmp(g->b, LLVMRealUNO, v, v, "");
    LLVMValueRef qnan = LLVMConstReal(cg_type(g, t), __builtin_nan(""));
    return LLVMBuildSelect(g->b, isnan, qnan, v, "");
}

/* Thread 0 alone writes a rank-0 view (every thread holds the value, and
 * an atomic must add it once); every thread loads one. */
static LLVMValueRef scalar_owner(cg_ctx *g, const mem_access *a, LLVMValueRef p)
{
    if (a->m->rank > 0) return p;
    return cg_and(g, p, LLVMBuildICmp(g->b, LLVMIntEQ, g->tid, cg_i32(g, 0), ""));
}

/* ---- scalar path ----------------------------------------------------------- */

static void access_scalar(cg_ctx *g, mem_access *a, LLVMValueRef *out)
{
    const cg_map *m = a->m;
    cg_val *val = a->value ? cg_get(g, a->value) : NULL;
    cg_val *mask = a->mask ? cg_get(g, a->mask) : NULL;
    cg_val *other = a->other ? cg_get(g, a->other) : NULL;
    elem_kind ek = kind_of(g, a->dt);
    char text[160], cons[64];
    for (int k = 0; k < m->nregs && g->status == TILE_OK; k++) {
        LLVMValueRef c[IR_MAX_RANK], inr;
        cg_clamped_coord(g, m, k, c);
        LLVMValueRef off = element_offset(g, a, c, &inr);
        if (!off) return;
        LLVMValueRef p = cg_and(g, cg_and(g, m->valid[k], inr), mask ? mask->regs[k] : NULL);
        /* A replicated layout (slice of mma) writes each element once. */
        if (!a->is_load && m->own) p = cg_and(g, p, m->own[k]);
        p = pred_or_true(g, a->is_load ? p : scalar_owner(g, a, p));
        LLVMValueRef addr = address(g, a, off);
        if (a->is_load) {
            LLVMValueRef dflt = other ? other->regs[k]
                                      : cg_const_scalar(g, a->dt, (ir_scalar){.i = 0});
            if (ir_dtype_is_float(a->dt) && !other) dflt = LLVMConstReal(cg_type(g, a->dt), 0.0);
            /* The default is tied to the result: when p is false the
             * register keeps it. */
            snprintf(text, sizeof text, "@$1 ld.global.%s $0, [$2];", ek.ptx);
            snprintf(cons, sizeof cons, "=%s,b,l,0", ek.reg);
            LLVMValueRef args[3] = {p, addr, to_bits(g, a->dt, dflt)};
            out[k] = from_bits(g, a->dt, cg_inline_asm(g, ek.bits, text, cons, args, 3, true));
            continue;
        }
        LLVMValueRef v = val->regs[k];
        if (a->is_atomic) {
            bool f = a->dt == IR_F32;
            snprintf(text, sizeof text, "@$0 red.global.add.%s [$1], $2;", f ? "f32" : "s32");
            snprintf(cons, sizeof cons, "b,l,%s", f ? "f" : "r");
            LLVMValueRef args[3] = {p, addr, v};
            cg_inline_asm(g, LLVMVoidTypeInContext(g->ctx), text, cons, args, 3, true);
            continue;
        }
        snprintf(text, sizeof text, "@$0 st.global.%s [$1], $2;", ek.ptx);
        snprintf(cons, sizeof cons, "b,l,%s", ek.reg);
        LLVMValueRef args[3] = {p, addr, to_bits(g, a->dt, canonical_nan(g, a->dt, v))};
        cg_inline_asm(g, LLVMVoidTypeInContext(g->ctx), text, cons, args, 3, true);
    }
}

/* ---- vector path ------------------------------------------------------------ */

/* Is the mask the same along the view's last dim (a broadcast of a tile
 * whose last extent is 1, as `mask: live[:, None]` is)?  Then one chunk
 * of consecutive last-dim elements has one predicate: its first
 * element's. */
static bool row_uniform_mask(const mem_access *a)
{
    const ir_value *mk = a->mask;
    if (!mk || !mk->def || mk->def->code != IR_OP_BROADCAST) return false;
    const ir_type *src = &mk->def->operands[0]->type, *t = &mk->type;
    return src->rank == t->rank && t->rank > 0 && src->shape[t->rank - 1] == 1;
}

/* Is integer scalar s a multiple of w by its construction (a constant, a
 * product with one, a sum of such)? */
static bool multiple_of(const ir_value *s, int w, int depth)
{
    const ir_op *d = s->def;
    if (!d || depth > 8 || !ir_dtype_is_int(s->type.dtype)) return false;
    switch (d->code) {
    case IR_OP_CONST: return d->attr.cval.i % w == 0;
    case IR_OP_BROADCAST: return multiple_of(d->operands[0], w, depth + 1);
    case IR_OP_MUL: return multiple_of(d->operands[0], w, depth + 1) || multiple_of(d->operands[1], w, depth + 1);
    case IR_OP_ADD: return multiple_of(d->operands[0], w, depth + 1) && multiple_of(d->operands[1], w, depth + 1);
    default: return false;
    }
}

/* Does index tile ix walk consecutive elements from a multiple of w:
 * arange(n), or arange(n) plus a uniform offset (a broadcast scalar, such
 * as program_id(1) * BE) that is a multiple of w?  Then w-element chunks
 * are contiguous and aligned like the tensor's rows. */
static bool contiguous_index(const ir_value *ix, int w)
{
    const ir_op *d = ix->def;
    if (!d) return false;
    if (d->code == IR_OP_ARANGE) return true;
    if (d->code != IR_OP_ADD) return false;
    for (int i = 0; i < 2; i++) {
        const ir_value *r = d->operands[i], *u = d->operands[1 - i];
        if (r->def && r->def->code == IR_OP_ARANGE && u->def && u->def->code == IR_OP_BROADCAST &&
            u->def->operands[0]->type.rank == 0 && multiple_of(u->def->operands[0], w, 0))
            return true;
    }
    return false;
}

/* Elements per 16-byte (or smaller) chunk when the view allows vectors. */
static int vector_width(const mem_access *a)
{
    const cg_map *m = a->m;
    int last = a->trank - 1;
    if (m->rank == 0 || m->vec < 2 || (a->mask && !row_uniform_mask(a)) || a->is_atomic ||
        a->dt == IR_BOOL || a->dt == IR_I64)
        return 1;
    const ir_value *ix = a->idx[last];
    if (ix->type.rank != 1 || a->idx_off[last] != m->rank - 1) return 1;
    int64_t s = a->tensor->tensor.static_size[last];
    int es = ir_dtype_size(a->dt);
    int w = m->vec;
    while (w * es > 16) w /= 2;
    if (w < 2 || s <= 0 || s % w != 0 || m->shape[m->rank - 1] % w != 0 || !contiguous_index(ix, w)) return 1;
    return w;
}

/* The uniform condition under which vector accesses are aligned: unit
 * last stride, base and other strides multiples of the chunk. */
static LLVMValueRef vector_ok(cg_ctx *g, const mem_access *a, int w)
{
    int param = a->tensor->tensor.param;
    if (param >= 0 && param < 64 && (g->vector_ok >> param & 1))
        return LLVMConstInt(LLVMInt1TypeInContext(g->ctx), 1, 0);
    int64_t bytes = (int64_t)w * ir_dtype_size(a->dt);
    LLVMValueRef base = LLVMBuildPtrToInt(g->b, a->tensor->tensor.ptr, i64t(g), "");
    LLVMValueRef ok = LLVMBuildICmp(g->b, LLVMIntEQ,
                                    LLVMBuildAnd(g->b, base, LLVMConstInt(i64t(g), (unsigned long long)(bytes - 1), 0), ""),
                                    LLVMConstInt(i64t(g), 0, 0), "");
    int last = a->trank - 1;
    ok = LLVMBuildAnd(g->b, ok, LLVMBuildICmp(g->b, LLVMIntEQ, a->tensor->tensor.stride[last],
                                               LLVMConstInt(i64t(g), 1, 0), ""), "");
    for (int d = 0; d < last; d++) {
        LLVMValueRef r = LLVMBuildSRem(g->b, a->tensor->tensor.stride[d], LLVMConstInt(i64t(g), (unsigned long long)w, 0), "");
        ok = LLVMBuildAnd(g->b, ok, LLVMBuildICmp(g->b, LLVMIntEQ, r, LLVMConstInt(i64t(g), 0, 0), ""), "");
    }
    return ok;
}

/* One chunk = w elements in registers k..k+w-1, moved as nw 32-bit words
 * (w * size / 4), or one 16/8-byte... words of b32 in every case here. */
static void access_vector(cg_ctx *g, mem_access *a, int w, LLVMValueRef *out)
{
    const cg_map *m = a->m;
    cg_val *val = a->value ? cg_get(g, a->value) : NULL;
    cg_val *other = a->other ? cg_get(g, a->other) : NULL;
    int es = ir_dtype_size(a->dt);
    int nw = w * es / 4; /* b32 words: 1, 2 or 4 */
    LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
    LLVMTypeRef et = cg_type(g, a->dt);
    int per_word = 4 / es;
    LLVMTypeRef word_vec = LLVMVectorType(et, (unsigned)per_word);
    cg_val *mask = a->mask ? cg_get(g, a->mask) : NULL; /* row-uniform (vector_width) */
    char text[256], cons[96];
    for (int k = 0; k < m->nregs && g->status == TILE_OK; k += w) {
        LLVMValueRef c[IR_MAX_RANK], inr;
        cg_clamped_coord(g, m, k, c);
        LLVMValueRef off = element_offset(g, a, c, &inr);
        if (!off) return;
        LLVMValueRef p = cg_and(g, cg_and(g, m->valid[k], inr), mask ? mask->regs[k] : NULL);
        if (!a->is_load && m->own) p = cg_and(g, p, m->own[k]);
        p = pred_or_true(g, p);
        LLVMValueRef addr = address(g, a, off);
        LLVMValueRef words[4];
        if (a->is_load) {
            /* Defaults (other) packed into words, overwritten when p holds. */
            for (int i = 0; i < nw; i++) {
                LLVMValueRef v = LLVMGetUndef(word_vec);
                for (int j = 0; j < per_word; j++) {
                    int r = k + i * per_word + j;
                    LLVMValueRef e = other ? other->regs[r] : LLVMConstNull(et);
                    v = LLVMBuildInsertElement(g->b, v, e, cg_i32(g, j), "");
                }
                words[i] = LLVMBuildBitCast(g->b, v, i32, "");
            }
            int n = 0;
            n += snprintf(text + n, sizeof text - (size_t)n, "@$%d ld.global%s.b32 %s", nw,
                          nw == 1 ? "" : nw == 2 ? ".v2" : ".v4", nw == 1 ? "" : "{");
            for (int i = 0; i < nw; i++) n += snprintf(text + n, sizeof text - (size_t)n, "%s$%d", i ? ", " : "", i);
            snprintf(text + n, sizeof text - (size_t)n, "%s, [$%d];", nw == 1 ? "" : "}", nw + 1);
            n = 0;
            for (int i = 0; i < nw; i++) n += snprintf(cons + n, sizeof cons - (size_t)n, "=r,");
            n += snprintf(cons + n, sizeof cons - (size_t)n, "b,l");
            for (int i = 0; i < nw; i++) n += snprintf(cons + n, sizeof cons - (size_t)n, ",%d", i);
            LLVMValueRef args[6] = {p, addr, words[0], words[1], words[2], words[3]};
            LLVMTypeRef st_elems[4] = {i32, i32, i32, i32};
            LLVMTypeRef ret = nw == 1 ? i32 : LLVMStructTypeInContext(g->ctx, st_elems, (unsigned)nw, 0);
            LLVMValueRef res = cg_inline_asm(g, ret, text, cons, args, 2 + nw, true);
            for (int i = 0; i < nw; i++) {
                LLVMValueRef wv = nw == 1 ? res : LLVMBuildExtractValue(g->b, res, (unsigned)i, "");
                LLVMValueRef v = LLVMBuildBitCast(g->b, wv, word_vec, "");
                for (int j = 0; j < per_word; j++)
                    out[k + i * per_word + j] = LLVMBuildExtractElement(g->b, v, cg_i32(g, j), "");
            }
            continue;
        }
        for (int i = 0; i < nw; i++) {
            LLVMValueRef v = LLVMGetUndef(word_vec);
            for (int j = 0; j < per_word; j++) {
                LLVMValueRef e = canonical_nan(g, a->dt, val->regs[k + i * per_word + j]);
                v = LLVMBuildInsertElement(g->b, v, e, cg_i32(g, j), "");
            }
            words[i] = LLVMBuildBitCast(g->b, v, i32, "");
        }
        int n = snprintf(text, sizeof text, "@$0 st.global%s.b32 [$1], %s", nw == 1 ? "" : nw == 2 ? ".v2" : ".v4",
                         nw == 1 ? "" : "{");
        for (int i = 0; i < nw; i++) n += snprintf(text + n, sizeof text - (size_t)n, "%s$%d", i ? ", " : "", i + 2);
        snprintf(text + n, sizeof text - (size_t)n, "%s;", nw == 1 ? "" : "}");
        n = snprintf(cons, sizeof cons, "b,l");
        for (int i = 0; i < nw; i++) n += snprintf(cons + n, sizeof cons - (size_t)n, ",r");
        LLVMValueRef args[6] = {p, addr, words[0], words[1], words[2], words[3]};
        cg_inline_asm(g, LLVMVoidTypeInContext(g->ctx), text, cons, args, 2 + nw, true);
    }
}

/* Vector path under the alignment check, scalar path otherwise; a load's
 * registers meet in phis. */
static void lower_access(cg_ctx *g, ir_op *op)
{
    mem_access a;
    if (!setup(g, op, &a)) return;
    int n = a.m->nregs;
    LLVMValueRef *out = NULL;
    if (a.is_load && !(out = cg_def(g, op->results[0], n))) return;
    int w = g->no_vector ? 1 : vector_width(&a);
    if (w < 2) {
        access_scalar(g, &a, out);
        return;
    }
    LLVMValueRef *vec_out = a.is_load ? arena_calloc(g->mem, (size_t)n, sizeof *vec_out) : NULL;
    LLVMValueRef *sc_out = a.is_load ? arena_calloc(g->mem, (size_t)n, sizeof *sc_out) : NULL;
    if (a.is_load && (!vec_out || !sc_out)) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    LLVMBasicBlockRef vb = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "vec");
    LLVMBasicBlockRef sb = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "novec");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "vec.join");
    LLVMBuildCondBr(g->b, vector_ok(g, &a, w), vb, sb);
    LLVMPositionBuilderAtEnd(g->b, vb);
    access_vector(g, &a, w, vec_out);
    LLVMBasicBlockRef vend = LLVMGetInsertBlock(g->b);
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, sb);
    access_scalar(g, &a, sc_out);
    LLVMBasicBlockRef send = LLVMGetInsertBlock(g->b);
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
    if (!a.is_load || g->status != TILE_OK) return;
    for (int k = 0; k < n; k++) {
        out[k] = LLVMBuildPhi(g->b, cg_type(g, a.dt), "");
        LLVMAddIncoming(out[k], &vec_out[k], &vend, 1);
        LLVMAddIncoming(out[k], &sc_out[k], &send, 1);
    }
}

void cg_lower_load(cg_ctx *g, ir_op *op) { lower_access(g, op); }
void cg_lower_store(cg_ctx *g, ir_op *op) { lower_access(g, op); }

/* ---- async copies into shared memory ------------------------------------------
 *
 * async_copy (ir.h) moves the view a load of the same operands would read
 * into a shared buffer.  Where the vector path applies, each w-element
 * chunk is one cp.async (16 bytes: .cg, bypassing L1; 4 or 8: .ca) whose
 * source size is 0 for an out-of-range chunk, so the hardware writes the
 * zeros a load would read.  Otherwise the scalar path loads registers and
 * stores them: synchronous, but ordered by the same wait and barrier. */

static void buffer_store(cg_ctx *g, const ir_value *dst, const LLVMValueRef *c, ir_dtype t, LLVMValueRef v)
{
    const ir_layout *l = dst->type.layout;
    LLVMValueRef addr = cg_buffer_addr(g, dst, c[l->order[1]], c[l->order[0]]);
    if (!addr) return;
    elem_kind ek = kind_of(g, t);
    char text[64], cons[16];
    snprintf(text, sizeof text, "st.shared.%s [$0], $1;", ek.ptx);
    snprintf(cons, sizeof cons, "r,%s,~{memory}", ek.reg);
    LLVMValueRef args[2] = {addr, to_bits(g, t, v)};
    cg_inline_asm(g, LLVMVoidTypeInContext(g->ctx), text, cons, args, 2, true);
}

/* The map's coordinates rebuilt here from opaque bases: the slow path's
 * per-element coordinates and addresses then stay inside it instead of
 * being hoisted into registers live across the loop around. */
static const cg_map *local_map(cg_ctx *g, const cg_map *m)
{
    if (!m->coff || m->rank == 0) return m;
    cg_map *lm = arena_alloc(g->mem, sizeof *lm);
    LLVMValueRef *coord = arena_calloc(g->mem, (size_t)m->nregs * (size_t)m->rank, sizeof *coord);
    if (!lm || !coord) return m;
    *lm = *m;
    for (int d = 0; d < m->rank; d++) {
        LLVMValueRef b = cg_opaque(g, m->cbase[d]);
        for (int k = 0; k < m->nregs; k++)
            coord[(size_t)k * (size_t)m->rank + d] = LLVMBuildAdd(g->b, b, cg_i32(g, m->coff[(size_t)k * (size_t)m->rank + d]), "");
    }
    lm->coord = coord;
    return lm;
}

static void copy_scalar(cg_ctx *g, mem_access *a, const ir_value *dst, LLVMValueRef pred)
{
    LLVMBasicBlockRef cont0 = cg_begin_if(g, pred);
    a->m = local_map(g, a->m);
    const cg_map *m = a->m;
    LLVMValueRef *regs = arena_calloc(g->mem, (size_t)m->nregs, sizeof *regs);
    if (!regs) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    access_scalar(g, a, regs);
    for (int k = 0; k < m->nregs && g->status == TILE_OK; k++) {
        LLVMValueRef c[IR_MAX_RANK];
        cg_clamped_coord(g, m, k, c);
        LLVMBasicBlockRef in = cg_begin_if(g, m->valid[k]);
        buffer_store(g, dst, c, a->dt, regs[k]);
        cg_end_if(g, in);
    }
    cg_end_if(g, cont0);
}

static void copy_vector(cg_ctx *g, mem_access *a, const ir_value *dst, LLVMValueRef pred, int w)
{
    const cg_map *m = a->m;
    const ir_layout *l = dst->type.layout;
    int bytes = w * ir_dtype_size(a->dt);
    char text[96];
    snprintf(text, sizeof text, "@$0 cp.async.%s.shared.global [$1], [$2], %d, $3;", bytes == 16 ? "cg" : "ca",
             bytes);
    LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
    for (int k = 0; k < m->nregs && g->status == TILE_OK; k += w) {
        LLVMValueRef c[IR_MAX_RANK], inr;
        cg_clamped_coord(g, m, k, c);
        LLVMValueRef off = element_offset(g, a, c, &inr);
        if (!off) return;
        LLVMValueRef p = pred_or_true(g, cg_and(g, m->valid[k], pred));
        LLVMValueRef size = inr ? LLVMBuildSelect(g->b, inr, LLVMConstInt(i32, (unsigned)bytes, 0),
                                                  LLVMConstInt(i32, 0, 0), "")
                                : LLVMConstInt(i32, (unsigned)bytes, 0);
        LLVMValueRef dst_addr =
            m->coff && !m->valid[k]
                ? cg_buffer_addr_split(g, dst, m->cbase[l->order[1]], m->coff[(size_t)k * 2 + l->order[1]],
                                       m->cbase[l->order[0]], m->coff[(size_t)k * 2 + l->order[0]])
                : cg_buffer_addr(g, dst, c[l->order[1]], c[l->order[0]]);
        if (!dst_addr) return;
        LLVMValueRef args[4] = {p, dst_addr, address(g, a, off), size};
        cg_inline_asm(g, LLVMVoidTypeInContext(g->ctx), text, "b,r,l,r,~{memory}", args, 4, true);
    }
}

void cg_lower_async_copy(cg_ctx *g, ir_op *op)
{
    const ir_value *dst = op->operands[0];
    if (!cg_get(g, dst) || dst->type.rank != 2) {
        if (g->status == TILE_OK) cg_error(g, op, "async_copy: the destination must be a rank-2 buffer");
        return;
    }
    mem_access a;
    if (!setup(g, op, &a)) return;
    /* Recompute the addresses from opaque copies of the base and strides:
     * cheap ALU in the loop instead of a register per chunk across it. */
    cg_val t = *a.tensor;
    t.tensor.ptr = cg_opaque(g, t.tensor.ptr);
    for (int d = 0; d < a.trank; d++)
        if (t.tensor.stride[d] && !LLVMIsConstant(t.tensor.stride[d])) t.tensor.stride[d] = cg_opaque(g, t.tensor.stride[d]);
    a.tensor = &t;
    LLVMValueRef pred = cg_scalar_of(g, op->operands[1]);
    int w = g->no_vector ? 1 : vector_width(&a);
    int bytes = w * ir_dtype_size(a.dt);
    /* cp.async moves 4, 8 or 16 bytes, whole chunks of the swizzle. */
    if (w < 2 || (bytes != 4 && bytes != 8 && bytes != 16) || dst->type.layout->vec % w != 0 ||
        dst->type.layout->order[0] != 1) {
        copy_scalar(g, &a, dst, pred);
        return;
    }
    LLVMBasicBlockRef vb = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "cpasync");
    LLVMBasicBlockRef sb = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "cpasync.novec");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "cpasync.join");
    LLVMBuildCondBr(g->b, vector_ok(g, &a, w), vb, sb);
    LLVMPositionBuilderAtEnd(g->b, vb);
    copy_vector(g, &a, dst, pred, w);
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, sb);
    copy_scalar(g, &a, dst, pred);
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
}
