/* cg_async.c - shared-memory buffers (local_alloc, local_view, trans of a
 * buffer) and the synchronisation around asynchronous copies
 * (async_commit, async_wait, barrier); the copies themselves are memory
 * accesses (cg_memory.c).
 *
 * A buffer value is one i32 register: its shared-memory address.  The
 * buffers live for the whole kernel, so they are placed before anything
 * is lowered, below the per-op scratch (which other ops reuse op by op).
 * Elements are stored in memory order (`order` of the #shared layout,
 * fastest dim first) with Triton's XOR swizzle: in memory row r, the
 * vec-element chunk j is stored at chunk j ^ ((r / per_phase) % max_phase),
 * so the eight 16-byte rows one ldmatrix reads, and the 16-byte chunks a
 * warp's cp.async writes, fall in different banks without padding.
 * swizzle=128 (wgmma's operands, cg_wgmma.c): the fastest dim in slabs of
 * 128 bytes, each [rows][128 bytes]; chunk c of row r at c ^ (r % 8); such
 * buffers and, in a wgmma module, the scratch above them start on
 * 1024-byte boundaries, where the hardware's swizzle pattern starts. */
#include "cg_impl.h"

#include <stdio.h>

static int64_t buffer_bytes(const ir_type *t)
{
    return ir_type_numel(t) * ir_dtype_size(t->dtype);
}

static void place(ir_op *op, void *ctx)
{
    cg_ctx *g = ctx;
    if (op->code != IR_OP_LOCAL_ALLOC) return;
    const ir_value *v = op->results[0];
    int64_t align = v->type.layout && v->type.layout->swizzle == 128 ? 1024 : 128;
    g->persist = (g->persist + align - 1) & ~(align - 1);
    if (v->id >= 0 && v->id < g->nvals) g->buf_off[v->id] = g->persist;
    g->persist += buffer_bytes(&v->type);
}

bool cg_place_buffers(cg_ctx *g)
{
    g->buf_off = arena_calloc(g->mem, (size_t)(g->nvals ? g->nvals : 1), sizeof *g->buf_off);
    if (!g->buf_off) return false;
    g->persist = 0;
    ir_walk(g->f->body, place, g);
    int64_t align = g->wgmma ? 1024 : 128;
    g->persist = (g->persist + align - 1) & ~(align - 1);
    /* Until the first buffer comes alive, the scratch may use its place
     * too (flash_fwd's conversion of Q before the loop needs no memory of
     * its own): cg_lower_local moves the scratch up at the first alloc. */
    g->scratch = g->smem;
    g->buffers_live = g->persist == 0;
    return true;
}

/* The first buffer: everything lowered from here on keeps its scratch
 * above the buffers; a barrier first, since threads may still be reading
 * what an earlier op left in the scratch that the buffers now cover. */
static void buffers_come_alive(cg_ctx *g)
{
    if (g->buffers_live) return;
    if (g->smem_bytes > 0) cg_barrier(g);
    g->buffers_live = true;
    LLVMValueRef off = cg_i32(g, g->persist);
    if (LLVMIsConstant(g->smem)) {
        g->scratch = LLVMConstGEP2(LLVMInt8TypeInContext(g->ctx), g->smem, &off, 1);
    } else { /* the run-time aligned base (wgmma): computed in the entry block */
        LLVMBasicBlockRef at = LLVMGetInsertBlock(g->b);
        LLVMPositionBuilderBefore(g->b, g->entry_end);
        g->scratch = LLVMBuildGEP2(g->b, LLVMInt8TypeInContext(g->ctx), g->smem, &off, 1, "scratch");
        LLVMPositionBuilderAtEnd(g->b, at);
    }
    if (g->persist > g->smem_bytes) g->smem_bytes = (int)g->persist;
}

bool cg_is_buffer(const ir_value *v)
{
    return v->type.kind == IR_TY_TILE && v->type.layout && v->type.layout->kind == IR_LAYOUT_SHARED;
}

static LLVMValueRef smem_base_i32(cg_ctx *g)
{
    return LLVMBuildPtrToInt(g->b, g->smem, LLVMInt32TypeInContext(g->ctx), "");
}

void cg_lower_local(cg_ctx *g, ir_op *op)
{
    const ir_value *r = op->results[0];
    LLVMValueRef *out = cg_def(g, r, 1);
    if (!out) return;
    switch (op->code) {
    case IR_OP_LOCAL_ALLOC:
        buffers_come_alive(g);
        out[0] = LLVMBuildAdd(g->b, smem_base_i32(g), cg_i32(g, g->buf_off[r->id]), "buf");
        return;
    case IR_OP_LOCAL_VIEW: {
        cg_val *buf = cg_get(g, op->operands[0]);
        if (!buf) return;
        LLVMValueRef slot = cg_scalar_of(g, op->operands[1]);
        LLVMValueRef stride = cg_i32(g, buffer_bytes(&r->type));
        out[0] = LLVMBuildAdd(g->b, buf->regs[0], LLVMBuildMul(g->b, slot, stride, ""), "view");
        return;
    }
    default: { /* trans: the same memory, another order (the layout says) */
        cg_val *x = cg_get(g, op->operands[0]);
        if (x) out[0] = x->regs[0];
        return;
    }
    }
}

/* Swizzled address with each coordinate split into a run-time part and a
 * compile-time one (ldmatrix walks a tile with constant steps from a few
 * lane-dependent bases).  With the row step a multiple of the swizzle
 * period and the column step whole chunks, the address is
 *     base + rv * pitch + (rc * pitch + hi(cc)) + ((cv + lo(cc)) ^ phase(rv))
 * in chunks, where hi/lo split cc at max_phase: only max_phase distinct
 * run-time terms exist for a whole loop of ldmatrix, so after LICM a few
 * registers hold them all (one add each per use), instead of one per
 * ldmatrix.  (x + hi) ^ p = hi + (x ^ p) because hi is a multiple of
 * max_phase and p < max_phase. */
/* swizzle=128: slab c / W (W = 128 / es elements), row r, chunk ^ r % 8.
 * The row's constant part keeps the phase when a multiple of 8. */
static LLVMValueRef slab_addr(cg_ctx *g, const ir_value *v, LLVMValueRef base, LLVMValueRef rv, int64_t rc,
                              LLVMValueRef cv, int64_t cc)
{
    LLVMBuilderRef b = g->b;
    const ir_layout *l = v->type.layout;
    int64_t es = ir_dtype_size(v->type.dtype), w = 128 / es, rows = v->type.shape[l->order[1]];
    if (rc % 8 != 0) {
        rv = LLVMBuildAdd(b, rv, cg_i32(g, rc), "");
        rc = 0;
    }
    LLVMValueRef c = LLVMBuildAdd(b, cv, cg_i32(g, cc), "");
    LLVMValueRef slab = LLVMBuildUDiv(b, c, cg_i32(g, w), "");
    LLVMValueRef inrow = LLVMBuildURem(b, c, cg_i32(g, w), "");
    LLVMValueRef chunk = LLVMBuildXor(b, LLVMBuildUDiv(b, inrow, cg_i32(g, 16 / es), ""),
                                      LLVMBuildAnd(b, rv, cg_i32(g, 7), ""), "");
    LLVMValueRef off = LLVMBuildMul(b, slab, cg_i32(g, rows * 128), "");
    off = LLVMBuildAdd(b, off, LLVMBuildMul(b, rv, cg_i32(g, 128), ""), "");
    off = LLVMBuildAdd(b, off, LLVMBuildMul(b, chunk, cg_i32(g, 16), ""), "");
    off = LLVMBuildAdd(b, off, LLVMBuildMul(b, LLVMBuildURem(b, inrow, cg_i32(g, 16 / es), ""), cg_i32(g, es), ""), "");
    return LLVMBuildAdd(b, LLVMBuildAdd(b, base, off, ""), cg_i32(g, rc * 128), "");
}

LLVMValueRef cg_buffer_addr_split(cg_ctx *g, const ir_value *v, LLVMValueRef rv, int64_t rc, LLVMValueRef cv,
                                  int64_t cc)
{
    const ir_layout *l = v->type.layout;
    cg_val *bv = cg_get(g, v);
    if (!bv) return NULL;
    if (l->swizzle == 128) return slab_addr(g, v, bv->regs[0], rv, rc, cv, cc);
    LLVMBuilderRef b = g->b;
    int64_t es = ir_dtype_size(v->type.dtype), pitch = v->type.shape[l->order[0]];
    int64_t period = (int64_t)l->per_phase * l->max_phase;
    if (rc % period != 0 || cc % l->vec != 0) {
        rv = LLVMBuildAdd(b, rv, cg_i32(g, rc), "");
        cv = LLVMBuildAdd(b, cv, cg_i32(g, cc), "");
        rc = cc = 0;
    }
    LLVMValueRef phase = LLVMBuildURem(b, LLVMBuildUDiv(b, rv, cg_i32(g, l->per_phase), ""),
                                       cg_i32(g, l->max_phase), "");
    int64_t cchunk = cc / l->vec, lo = cchunk % l->max_phase, hi = cchunk - lo;
    LLVMValueRef chunk = LLVMBuildUDiv(b, cv, cg_i32(g, l->vec), "");
    LLVMValueRef within = LLVMBuildURem(b, cv, cg_i32(g, l->vec), "");
    chunk = LLVMBuildXor(b, LLVMBuildAdd(b, chunk, cg_i32(g, lo), ""), phase, "");
    LLVMValueRef col = LLVMBuildAdd(b, LLVMBuildMul(b, chunk, cg_i32(g, l->vec), ""), within, "");
    LLVMValueRef var = LLVMBuildAdd(b, LLVMBuildMul(b, rv, cg_i32(g, pitch), ""), col, "");
    var = LLVMBuildAdd(b, bv->regs[0], LLVMBuildMul(b, var, cg_i32(g, es), ""), "");
    return LLVMBuildAdd(b, var, cg_i32(g, (rc * pitch + hi * l->vec) * es), "");
}

LLVMValueRef cg_buffer_addr(cg_ctx *g, const ir_value *v, LLVMValueRef r, LLVMValueRef c)
{
    return cg_buffer_addr_split(g, v, r, 0, c, 0);
}

void cg_lower_async(cg_ctx *g, ir_op *op)
{
    LLVMTypeRef v = LLVMVoidTypeInContext(g->ctx);
    char text[64];
    switch (op->code) {
    case IR_OP_ASYNC_COMMIT: cg_inline_asm(g, v, "cp.async.commit_group;", "~{memory}", NULL, 0, true); return;
    case IR_OP_ASYNC_WAIT:
        snprintf(text, sizeof text, "cp.async.wait_group %d;", (int)op->attr.i);
        cg_inline_asm(g, v, text, "~{memory}", NULL, 0, true);
        /* cp.async writes through the generic proxy; wgmma reads through
         * the async one (the barrier that follows publishes both). */
        if (g->wgmma) cg_fence_proxy_async(g);
        return;
    default: cg_barrier(g); return;
    }
}

/* convert_layout of a rank-2 buffer view to a register layout: the register
 * copy of a staged load (sched_pipeline.c), each thread reading the
 * elements its own async_copy wrote.  A run of w elements that the result
 * layout gives one register run along the buffer's fastest dim, inside one
 * chunk of the swizzle, is one vector ld.shared. */
void cg_read_buffer(cg_ctx *g, ir_op *op)
{
    const ir_value *x = op->operands[0], *r = op->results[0];
    const ir_layout *l = x->type.layout;
    const cg_map *m = cg_map_of(g, &r->type);
    if (!m) return;
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!out) return;
    ir_dtype t = r->type.dtype;
    int es = ir_dtype_size(t);
    int w = l->order[0] == 1 && m->vec > 1 ? m->vec : 1;
    while (w > 1 && (w * es > 16 || l->vec % w != 0 || m->nregs % w != 0)) w /= 2;
    LLVMTypeRef et = cg_type(g, t), vt = LLVMVectorType(et, (unsigned)w);
    LLVMTypeRef p3 = LLVMPointerTypeInContext(g->ctx, 3);
    for (int k = 0; k < m->nregs && g->status == TILE_OK; k += w) {
        LLVMValueRef c[IR_MAX_RANK];
        cg_clamped_coord(g, m, k, c);
        LLVMValueRef addr = cg_buffer_addr(g, x, c[l->order[1]], c[l->order[0]]);
        if (!addr) return;
        LLVMValueRef ptr = LLVMBuildIntToPtr(g->b, addr, p3, "");
        LLVMValueRef v = LLVMBuildLoad2(g->b, w > 1 ? vt : et, ptr, "");
        LLVMSetAlignment(v, (unsigned)(w * es));
        if (w == 1) {
            out[k] = v;
            continue;
        }
        for (int i = 0; i < w; i++) out[k + i] = LLVMBuildExtractElement(g->b, v, cg_i32(g, i), "");
    }
}
