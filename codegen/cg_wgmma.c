/* cg_wgmma.c - dot on Hopper's warpgroup tensor cores: wgmma.mma_async
 * m64nNk16 (bf16/f16 operands, f32 accumulation), for a result in the
 * mma v3 layout (ir/layout.h), chosen by compiler/sched_layout.c (the
 * default on sm_90; TILE_WGMMA=0 keeps mma.sync).  The module is then
 * emitted for sm_90a (cg_kernel.c).
 *
 * Registers.  With wpc = [4 * wgm, 1] the accumulator registers of v3 are
 * numbered as v2's (cg_mma.c): register (rm * N/8 + j) * 4 + i of warp w
 * holds row 64 * (w/4 + rm * wgm) + 16 * (w%4) + lane/4 + 8 * (i/2),
 * column 8j + 2 * (lane%4) + i%2, which is d[4j + i] of the warpgroup's
 * m64nN accumulator for its 64-row block rm (PTX ISA, "Matrix fragments
 * for wgmma.mma_async.m64nNk16", accumulator D).  A in registers (the
 * dot_operand of v3: P of flash attention) is mma.sync's A fragment per
 * warp, rows 16 * (w%4) of the block: four .b32 registers per k-step,
 * packed from the accumulator-shaped registers exactly as cg_dot.c does.
 *
 * Shared memory.  wgmma reads B (and A when not in registers) through a
 * 64-bit matrix descriptor: bits 0-13 start address >> 4, 16-29 leading
 * dimension byte offset (LBO) >> 4, 32-45 stride dimension byte offset
 * (SBO) >> 4, 49-51 base offset (0: every pattern starts 1024-aligned),
 * 62-63 swizzle mode (1 = 128-byte).  Operands are in the 128-byte
 * swizzle of a #shared<...,swizzle=128> buffer (cg_async.c): slabs of 64
 * elements of the fastest dim, [rows][128 bytes] each, 1024-aligned.  In
 * the ISA's canonical layouts (T = 8 elements = 16 bytes):
 *   K-major  ((8,m),(T,2k)):((8T,SBO),(1,T)): rows along M/N, 128 bytes
 *            apart; SBO = 1024 (8 rows); LBO unused (1).  k-step s of
 *            slab s/4 starts 32 * (s%4) bytes into the row: the hardware
 *            applies the XOR to the address bits, so the start moves by
 *            plain bytes.
 *   MN-major ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)): rows along K; SBO =
 *            1024 (8 k-rows); LBO = bytes of one slab (the next 64
 *            elements of M/N).  k-step s starts 16 rows = 2048 bytes on.
 * trans-a / trans-b = 1 selects MN-major (for .bf16/.f16 only).  An
 * operand that is not in such a buffer is written to a 1024-aligned
 * scratch region in the same form first.
 *
 * Order (PTX ISA, wgmma): wgmma.fence before the first mma_async (the
 * accumulator registers were written by ordinary instructions); the
 * shared-memory writes of the generic proxy (st.shared, cp.async) are
 * made visible to wgmma's async proxy by fence.proxy.async.shared::cta in
 * the writing threads before the barrier that publishes them (here after
 * a scratch spill, and after every cp.async.wait_group: cg_async.c); the
 * mma_asyncs of the dot are committed as one group, waited for at the first
 * use of the result (wait_group N: N groups committed since may stay in
 * flight), the accumulators tied through the wait so that nothing reads
 * them before it.  ptxas keeps groups in flight together only while no
 * other instruction writes a wgmma input register (C7513): descriptors and
 * A's packed fragments go before the fence of the oldest group in flight,
 * and a loop-carried A gets its next value copied after the body's final
 * wait. */
#include "cg_impl.h"

#include <stdio.h>
#include <string.h>

#define WG_MAX_N 256
#define WG_SLAB 64          /* 16-bit elements per 128-byte row */

/* Where an operand lives in shared memory for the descriptors. */
typedef struct wg_operand {
    bool regs;              /* A in registers */
    LLVMValueRef base;      /* i32 shared address, 1024-aligned */
    int64_t rows;           /* extent of the slower memory dim */
    bool k_major;           /* the fastest memory dim is k */
    LLVMValueRef desc0;     /* descriptor() of offset 0, made once per dot */
    bool fold;              /* base not made opaque (the unit probes fold it) */
} wg_operand;

static bool is_v3(const ir_layout *l) { return l && l->kind == IR_LAYOUT_MMA && l->version == 3; }

static bool swizzled_buffer(const ir_value *v)
{
    const ir_layout *l = v->type.layout;
    if (!cg_is_buffer(v) || l->swizzle != 128 || v->type.rank != 2) return false;
    return v->type.shape[l->order[0]] % WG_SLAB == 0 && v->type.shape[l->order[1]] % 8 == 0;
}

bool cg_wgmma_applies(cg_ctx *g, const ir_op *op)
{
    const ir_type *a = &op->operands[0]->type, *b = &op->operands[1]->type, *r = &op->results[0]->type;
    const ir_layout *rl = r->layout;
    if (!g->target->has_wgmma || !is_v3(rl) || rl->warps_per_cta[1] != 1 || g->no_mma) return false;
    if (r->dtype != IR_F32 || a->dtype != b->dtype || (a->dtype != IR_BF16 && a->dtype != IR_F16)) return false;
    if (a->rank != 2 || b->rank != 2) return false;
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    if (M % (16 * rl->warps_per_cta[0]) != 0 || K % 16 != 0 || N % 8 != 0 || N > WG_MAX_N) return false;
    /* A buffer in the pipeliner's own swizzle (rows not whole 128-byte
     * slabs: D = 32 or 96) is read by mma.sync's ldmatrix instead, into
     * the same v3 registers (cg_dot.c), rather than copied a second time. */
    for (int i = 0; i < 2; i++)
        if (cg_is_buffer(op->operands[i]) && !swizzled_buffer(op->operands[i])) return false;
    /* An operand written to the scratch needs whole 64-element slabs along
     * one of its dims (M always has them: 64 rows per warpgroup). */
    if (!swizzled_buffer(op->operands[1]) && N % WG_SLAB != 0 && K % WG_SLAB != 0) return false;
    return true;
}

/* ---- scratch copies in the swizzled form ------------------------------------ */

/* Byte offset of memory element (row, col) in a swizzled region of `rows`
 * rows: slab col/64, row, 16-byte chunk XOR row % 8. */
static LLVMValueRef swz_offset(cg_ctx *g, int64_t rows, LLVMValueRef row, LLVMValueRef col)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef slab = LLVMBuildUDiv(b, col, cg_i32(g, WG_SLAB), "");
    LLVMValueRef inrow = LLVMBuildURem(b, col, cg_i32(g, WG_SLAB), "");
    LLVMValueRef chunk = LLVMBuildXor(b, LLVMBuildLShr(b, inrow, cg_i32(g, 3), ""),
                                      LLVMBuildAnd(b, row, cg_i32(g, 7), ""), "");
    LLVMValueRef off = LLVMBuildMul(b, slab, cg_i32(g, rows * 128), "");
    off = LLVMBuildAdd(b, off, LLVMBuildMul(b, row, cg_i32(g, 128), ""), "");
    off = LLVMBuildAdd(b, off, LLVMBuildMul(b, chunk, cg_i32(g, 16), ""), "");
    return LLVMBuildAdd(b, off, LLVMBuildMul(b, LLVMBuildAnd(b, inrow, cg_i32(g, 7), ""), cg_i32(g, 2), ""), "");
}

/* Writes v (rank 2, 16-bit, registers) into the scratch at `offset`, its
 * dim `fast` as the fastest memory dim. */
static void spill_swizzled(cg_ctx *g, const ir_value *v, int64_t offset, int fast)
{
    const cg_map *m = cg_map_of(g, &v->type);
    cg_val *cv = cg_get(g, v);
    if (!m || !cv) return;
    int64_t rows = v->type.shape[1 - fast];
    for (int k = 0; k < m->nregs; k++) {
        LLVMBasicBlockRef cont = cg_begin_if(g, cg_and(g, m->valid[k], m->own ? m->own[k] : NULL));
        LLVMValueRef row = m->coord[2 * k + (1 - fast)], col = m->coord[2 * k + fast];
        LLVMValueRef byte = LLVMBuildAdd(g->b, cg_i32(g, offset), swz_offset(g, rows, row, col), "");
        LLVMValueRef p = LLVMBuildGEP2(g->b, LLVMInt8TypeInContext(g->ctx), g->scratch, &byte, 1, "");
        LLVMSetAlignment(LLVMBuildStore(g->b, cv->regs[k], p), 2);
        cg_end_if(g, cont);
    }
}

/* The generic proxy's shared-memory writes of this thread become visible
 * to the async proxy (wgmma) once a barrier follows. */
void cg_fence_proxy_async(cg_ctx *g)
{
    cg_inline_asm(g, LLVMVoidTypeInContext(g->ctx), "fence.proxy.async.shared::cta;", "~{memory}", NULL, 0,
                  true);
}

static LLVMValueRef scratch_addr(cg_ctx *g, int64_t offset)
{
    LLVMValueRef off = cg_i32(g, offset);
    LLVMValueRef p = LLVMBuildGEP2(g->b, LLVMInt8TypeInContext(g->ctx), g->scratch, &off, 1, "");
    return LLVMBuildPtrToInt(g->b, p, LLVMInt32TypeInContext(g->ctx), "");
}

/* Operand i (0: A [M,K], 1: B [K,N]) as the descriptors see it: a swizzled
 * buffer in place, A's registers, or a scratch copy made now (*spilled). */
static wg_operand operand(cg_ctx *g, const ir_op *op, int i, int64_t *cursor, bool *spilled)
{
    const ir_value *v = op->operands[i];
    const ir_layout *rl = op->results[0]->type.layout, *l = v->type.layout;
    wg_operand o = {0};
    int kdim = i == 0 ? 1 : 0;
    if (i == 0 && l && l->kind == IR_LAYOUT_DOT_OPERAND && l->parent == rl && l->opidx == 0) {
        o.regs = true;
        return o;
    }
    if (swizzled_buffer(v)) {
        cg_val *bv = cg_get(g, v);
        o.base = bv ? bv->regs[0] : NULL;
        o.rows = v->type.shape[l->order[1]];
        o.k_major = l->order[0] == kdim;
        return o;
    }
    /* K-major when k has whole slabs, else MN-major (M: 64-row blocks; N
     * checked by cg_wgmma_applies). */
    int64_t kext = v->type.shape[kdim];
    int fast = kext % WG_SLAB == 0 ? kdim : 1 - kdim;
    int64_t bytes = v->type.shape[0] * v->type.shape[1] * 2;
    *cursor = (*cursor + 1023) & ~(int64_t)1023;
    int64_t off = cg_scratch(g, cursor, bytes);
    if (!*spilled) cg_barrier(g); /* earlier readers of the scratch are done */
    *spilled = true;
    spill_swizzled(g, v, off, fast);
    o.base = scratch_addr(g, off);
    o.rows = v->type.shape[1 - fast];
    o.k_major = fast == kdim;
    return o;
}

/* Descriptor of operand o for the block whose first M/N index is mn0
 * (mn_var run-time + mn_cst; a multiple of 64 for MN-major) at k0. */
static LLVMValueRef descriptor(cg_ctx *g, wg_operand *o, LLVMValueRef mn_var, int64_t mn_cst, int64_t k0)
{
    LLVMBuilderRef b = g->b;
    int64_t slab = o->rows * 128, lbo, cst;
    LLVMValueRef var;
    if (o->k_major) {
        lbo = 16; /* unused for swizzled K-major: "assumed 1" (encoded) */
        cst = (k0 / WG_SLAB) * slab + mn_cst * 128 + (k0 % WG_SLAB) * 2;
        var = mn_var ? LLVMBuildMul(b, mn_var, cg_i32(g, 128), "") : NULL;
    } else {
        lbo = slab;
        cst = (mn_cst / WG_SLAB) * slab + k0 * 128;
        var = mn_var ? LLVMBuildMul(b, LLVMBuildUDiv(b, mn_var, cg_i32(g, WG_SLAB), ""), cg_i32(g, slab), "") : NULL;
    }
    LLVMTypeRef i64 = LLVMInt64TypeInContext(g->ctx);
    if (!o->desc0) {
        /* The base made opaque here: every k-step's descriptor is then an
         * add to one register made at the dot, where LLVM would otherwise
         * hoist each of a loop-invariant operand's descriptors out of the
         * loop and keep them all live in 64-bit registers across it. */
        LLVMValueRef addr = o->fold ? o->base : cg_opaque(g, o->base);
        if (var) addr = LLVMBuildAdd(b, addr, var, "");
        LLVMValueRef lo = LLVMBuildZExt(b, LLVMBuildLShr(b, LLVMBuildAnd(b, addr, cg_i32(g, 0x3FFFF), ""),
                                                         cg_i32(g, 4), ""), i64, "");
        uint64_t hi = ((uint64_t)((lbo & 0x3FFFF) >> 4) << 16) | ((uint64_t)((1024 & 0x3FFFF) >> 4) << 32) |
                      ((uint64_t)1 << 62);
        o->desc0 = LLVMBuildOr(b, lo, LLVMConstInt(i64, hi, 0), "desc");
    }
    /* The start address (bits 0-13, in 16-byte units) of a buffer below
     * 256 KB: adding the offset never carries out of the field. */
    return cst ? LLVMBuildAdd(b, o->desc0, LLVMConstInt(i64, (uint64_t)(cst >> 4), 0), "desc") : o->desc0;
}

/* "wgmma.mma_async... {$0..$n-1}, A, $n+?, 1, 1, 1[, ta], tb;" with the
 * accumulators tied in and out. */
static void mma_text(char *text, size_t size, int N, bool bf16, bool a_regs, bool ta, bool tb)
{
    int nacc = N / 2;
    size_t n = (size_t)snprintf(text, size, "wgmma.mma_async.sync.aligned.m64n%dk16.f32.%s.%s {", N,
                                bf16 ? "bf16" : "f16", bf16 ? "bf16" : "f16");
    for (int i = 0; i < nacc && n < size; i++) n += (size_t)snprintf(text + n, size - n, "%s$%d", i ? "," : "", i);
    if (a_regs)
        n += (size_t)snprintf(text + n, size - n, "}, {$%d,$%d,$%d,$%d}, $%d, 1, 1, 1, %d;", nacc, nacc + 1, nacc + 2,
                              nacc + 3, nacc + 4, tb);
    else
        n += (size_t)snprintf(text + n, size - n, "}, $%d, $%d, 1, 1, 1, %d, %d;", nacc, nacc + 1, ta, tb);
    (void)n;
}

static char *constraints(cg_ctx *g, int nacc, int nin_regs, bool a_regs)
{
    size_t size = (size_t)nacc * 12 + 64;
    char *c = arena_alloc(g->mem, size);
    if (!c) return NULL;
    size_t n = 0;
    for (int i = 0; i < nacc; i++) n += (size_t)snprintf(c + n, size - n, "%s=f", i ? "," : "");
    for (int i = 0; i < nin_regs; i++) n += (size_t)snprintf(c + n, size - n, a_regs && i < 4 ? ",r" : ",l");
    for (int i = 0; i < nacc; i++) n += (size_t)snprintf(c + n, size - n, ",%d", i);
    return c;
}

static void simple_asm(cg_ctx *g, const char *text)
{
    cg_inline_asm(g, LLVMVoidTypeInContext(g->ctx), text, "~{memory}", NULL, 0, true);
}

/* An asm statement `text` that takes vals[0..n) and gives them back (tied
 * operands): every computation of them happens before it and every use of
 * the results after it.  Around wgmma this orders the ordinary register
 * writes (zeroing, rescaling the accumulator, packing P) before
 * wgmma.fence, and the reads of the accumulators after wgmma.wait_group. */
static void tie(cg_ctx *g, const char *text, LLVMValueRef *vals, int n)
{
    LLVMTypeRef *ts = arena_alloc(g->mem, sizeof *ts * (size_t)(n ? n : 1));
    size_t size = (size_t)n * 12 + 64;
    char *c = arena_alloc(g->mem, size);
    if (!ts || !c) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    size_t k = 0;
    c[0] = 0;
    for (int i = 0; i < n; i++) {
        ts[i] = LLVMTypeOf(vals[i]);
        bool fl = LLVMGetTypeKind(ts[i]) == LLVMFloatTypeKind;
        k += (size_t)snprintf(c + k, size - k, "%s=%s", i ? "," : "", fl ? "f" : "r");
    }
    for (int i = 0; i < n; i++) k += (size_t)snprintf(c + k, size - k, ",%d", i);
    snprintf(c + k, size - k, "%s~{memory}", n ? "," : "");
    if (n == 0) {
        cg_inline_asm(g, LLVMVoidTypeInContext(g->ctx), text, c, NULL, 0, true);
        return;
    }
    LLVMTypeRef st = LLVMStructTypeInContext(g->ctx, ts, (unsigned)n, 0);
    LLVMValueRef r = cg_inline_asm(g, st, text, c, vals, n, true);
    for (int i = 0; i < n; i++) vals[i] = LLVMBuildExtractValue(g->b, r, (unsigned)i, "");
}

/* tie() over any number of values, 128 per statement, `text` on the last
 * statement (a fence, before which every value is written) or, `first`,
 * on the first (a wait, after which every value is read); the others are
 * empty. */
static void tie_chunks(cg_ctx *g, const char *text, bool first, LLVMValueRef *vals, int n)
{
    for (int i = 0; i < n || i == 0; i += 128) {
        int k = n - i < 128 ? n - i : 128;
        bool here = first ? i == 0 : i + 128 >= n;
        tie(g, here ? text : "", vals + i, k);
    }
}

/* Is v defined before the anchor (an argument, a constant, or an
 * instruction of an earlier block or earlier in the anchor's block)?  The
 * dot is lowered in the anchor's block, so an instruction of another block
 * dominates it. */
static bool before_anchor(cg_ctx *g, LLVMValueRef v)
{
    if (!v || !LLVMIsAInstruction(v)) return true;
    if (LLVMGetInstructionParent(v) != LLVMGetInstructionParent(g->wg_anchor)) return true;
    for (LLVMValueRef x = LLVMGetPreviousInstruction(g->wg_anchor); x; x = LLVMGetPreviousInstruction(x))
        if (x == v) return true;
    return false;
}

/* Are the inputs of a dot's descriptors and packed A there before the
 * anchor? */
static bool available(cg_ctx *g, const cg_val *av, const wg_operand *oa, const wg_operand *ob)
{
    if (!before_anchor(g, g->warp) || !before_anchor(g, ob->base) || (!oa->regs && !before_anchor(g, oa->base)))
        return false;
    for (int i = 0; av && i < av->nregs; i++)
        if (!before_anchor(g, av->regs[i])) return false;
    return true;
}

/* A in registers from a block argument (through layout conversions): the
 * value a loop carries into the product. */
static void mark_carried(cg_ctx *g, const ir_value *a)
{
    while (a->def && a->def->code == IR_OP_CONVERT_LAYOUT) a = a->def->operands[0];
    if (a->def || !a->owner) return;
    if (g->wg_na == g->wg_cap) {
        int cap = g->wg_cap ? 2 * g->wg_cap : 8;
        const ir_value **n = arena_alloc(g->mem, sizeof *n * (size_t)cap);
        if (!n) {
            g->status = TILE_ERR_NOMEM;
            return;
        }
        if (g->wg_na) memcpy(n, g->wg_a_args, sizeof *n * (size_t)g->wg_na);
        g->wg_a_args = n;
        g->wg_cap = cap;
    }
    g->wg_a_args[g->wg_na++] = a;
}

void cg_lower_dot_wgmma(cg_ctx *g, ir_op *op)
{
    const ir_value *a = op->operands[0], *r = op->results[0];
    const ir_layout *rl = r->type.layout;
    int64_t M = a->type.shape[0], K = a->type.shape[1], N = op->operands[1]->type.shape[1];
    int wgm = rl->warps_per_cta[0] / 4, reps_m = (int)(M / (64 * wgm)), nacc = (int)(N / 2);
    bool bf16 = a->type.dtype == IR_BF16;
    const cg_map *m = cg_map_of(g, &r->type);
    if (!m || !cg_get(g, a) || !cg_get(g, op->operands[1])) return;
    int64_t cursor = 0;
    bool spilled = false;
    wg_operand oa = operand(g, op, 0, &cursor, &spilled);
    wg_operand ob = operand(g, op, 1, &cursor, &spilled);
    if (g->status != TILE_OK) return;
    if ((!oa.regs && !oa.base) || !ob.base) return;
    if (spilled) {
        cg_fence_proxy_async(g);
        cg_barrier(g);
    }
    const cg_val *av = NULL;
    if (oa.regs) {
        if (!cg_map_of(g, &a->type)) return;
        av = cg_get(g, a);
    }
    cg_val *init = op->noperands == 3 ? cg_get(g, op->operands[2]) : NULL;
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!out) return;
    for (int k = 0; k < m->nregs; k++)
        out[k] = init ? init->regs[k] : LLVMConstReal(LLVMFloatTypeInContext(g->ctx), 0.0);
    char text[4096];
    mma_text(text, sizeof text, (int)N, bf16, oa.regs, !oa.k_major, !ob.k_major);
    int nin = oa.regs ? 5 : 2;
    char *cons = constraints(g, nacc, nin, oa.regs);
    LLVMTypeRef f32 = LLVMFloatTypeInContext(g->ctx);
    LLVMTypeRef ts[WG_MAX_N / 2];
    for (int i = 0; i < nacc; i++) ts[i] = f32;
    LLVMTypeRef st = LLVMStructTypeInContext(g->ctx, ts, (unsigned)nacc, 0);
    if (!cons) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    int ksteps = (int)(K / 16);
    bool in_flight = g->wg_done < g->wg_committed;
    /* Where A's packed fragments and the descriptors go: before the fence of
     * the oldest group in flight when this dot's inputs are there already
     * (the loop-carried P of flash_fwd's rotated loop, the slot's buffer),
     * else here. */
    LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
    bool hoist = in_flight && g->wg_anchor && LLVMGetInstructionParent(g->wg_anchor) == here &&
                 available(g, oa.regs ? av : NULL, &oa, &ob);
    if (hoist) LLVMPositionBuilderBefore(g->b, g->wg_anchor);
    /* The warpgroup's first row along M: 64 * (warp / 4). */
    LLVMValueRef wg_row = LLVMBuildMul(g->b, LLVMBuildLShr(g->b, g->warp, cg_i32(g, 2), ""), cg_i32(g, 64), "");
    /* A's fragments, packed: 4 registers per (row block, k-step); or A's
     * descriptors; and B's: all before the fence. */
    size_t nsteps = (size_t)reps_m * (size_t)ksteps;
    LLVMValueRef *fa = arena_calloc(g->mem, nsteps * 4, sizeof *fa);
    LLVMValueRef *db = arena_calloc(g->mem, (size_t)ksteps, sizeof *db);
    if (!fa || !db) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    for (int rm = 0; rm < reps_m; rm++)
        for (int ks = 0; ks < ksteps; ks++) {
            LLVMValueRef *f = fa + ((size_t)rm * (size_t)ksteps + (size_t)ks) * 4;
            if (oa.regs) cg_pack_a_fragment(g, av, K, rm, ks, f);
            else f[0] = descriptor(g, &oa, wg_row, (int64_t)rm * 64 * wgm, (int64_t)ks * 16);
        }
    for (int ks = 0; ks < ksteps; ks++) db[ks] = descriptor(g, &ob, NULL, 0, (int64_t)ks * 16);
    if (oa.regs) tie_chunks(g, "", false, fa, (int)nsteps * 4);
    if (hoist) LLVMPositionBuilderAtEnd(g->b, here);
    LLVMValueRef before = LLVMGetLastInstruction(here);
    tie_chunks(g, "wgmma.fence.sync.aligned;", false, out, m->nregs);
    if (!in_flight)
        g->wg_anchor = before ? LLVMGetNextInstruction(before) : LLVMGetFirstInstruction(here);
    LLVMValueRef args[WG_MAX_N / 2 + 8];
    for (int rm = 0; rm < reps_m; rm++) {
        LLVMValueRef *acc = out + (size_t)rm * (size_t)nacc;
        for (int ks = 0; ks < ksteps; ks++) {
            const LLVMValueRef *f = fa + ((size_t)rm * (size_t)ksteps + (size_t)ks) * 4;
            int n = 0;
            for (int i = 0; i < (oa.regs ? 4 : 1); i++) args[n++] = f[i];
            args[n++] = db[ks];
            for (int i = 0; i < nacc; i++) args[n++] = acc[i];
            LLVMValueRef d = cg_inline_asm(g, st, text, cons, args, n, true);
            for (int i = 0; i < nacc; i++) acc[i] = LLVMBuildExtractValue(g->b, d, (unsigned)i, "");
        }
    }
    simple_asm(g, "wgmma.commit_group.sync.aligned;");
    int group = g->wg_committed++;
    /* A spilled operand sits in the scratch region, which the ops that
     * follow may overwrite: such a dot is waited for at once. */
    if (g->wg_defer && !spilled && g->wg_npending < CG_WG_MAX_PENDING) {
        g->vals[r->id].wg_group = group + 1;
        g->wg_pending[g->wg_npending++] = r->id;
        if (oa.regs) mark_carried(g, a);
        return;
    }
    tie_chunks(g, "wgmma.wait_group.sync.aligned 0;", true, out, m->nregs);
    g->wg_done = g->wg_committed;
}

/* ---- deferred waits ----------------------------------------------------------- */

/* A real copy (not a tie: the tie's output shares the input's register). */
static LLVMValueRef copy_reg(cg_ctx *g, LLVMValueRef v)
{
    LLVMTypeRef t = LLVMTypeOf(v), i16 = LLVMInt16TypeInContext(g->ctx);
    LLVMTypeKind k = LLVMGetTypeKind(t);
    if (k == LLVMIntegerTypeKind && LLVMGetIntTypeWidth(t) == 1) return v;   /* a predicate: no A input */
    bool half = k == LLVMBFloatTypeKind || k == LLVMHalfTypeKind;
    LLVMValueRef x = half ? LLVMBuildBitCast(g->b, v, i16, "") : v;
    LLVMTypeRef xt = LLVMTypeOf(x);
    unsigned bits = LLVMGetTypeKind(xt) == LLVMIntegerTypeKind ? LLVMGetIntTypeWidth(xt) : 32;
    const char *text = bits == 16 ? "mov.b16 $0, $1;" : bits == 64 ? "mov.b64 $0, $1;" : "mov.b32 $0, $1;";
    const char *cons = bits == 16 ? "=h,h" : bits == 64 ? "=l,l" : k == LLVMFloatTypeKind ? "=f,f" : "=r,r";
    LLVMValueRef r = cg_inline_asm(g, xt, text, cons, &x, 1, true);
    return half ? LLVMBuildBitCast(g->b, r, t, "") : r;
}

void cg_wgmma_copy_carried(cg_ctx *g, ir_block *body, int first_arg)
{
    const ir_op *y = body->last;
    if (!g->wg_na || !y || y->code != IR_OP_YIELD) return;
    for (int i = 0; i < y->noperands && first_arg + i < body->nargs; i++) {
        bool marked = false;
        for (int j = 0; j < g->wg_na && !marked; j++) marked = g->wg_a_args[j] == body->args[first_arg + i];
        cg_val *v = marked ? cg_get(g, y->operands[i]) : NULL;
        for (int k = 0; v && k < v->nregs; k++) v->regs[k] = copy_reg(g, v->regs[k]);
    }
}

/* wait_group N lets the N most recent groups stay in flight and completes
 * all older ones (PTX ISA, wgmma.wait_group): v's group is done once at
 * most (groups committed after it) are pending. */
void cg_wgmma_await(cg_ctx *g, const ir_value *v)
{
    cg_val *cv = &g->vals[v->id];
    int group = cv->wg_group - 1;
    if (group < 0) return;
    cv->wg_group = 0;
    if (group >= g->wg_done) {
        char text[64];
        snprintf(text, sizeof text, "wgmma.wait_group.sync.aligned %d;", g->wg_committed - 1 - group);
        tie_chunks(g, text, true, cv->regs, cv->nregs);
        g->wg_done = group + 1;
    } else {
        tie_chunks(g, "", true, cv->regs, cv->nregs);
    }
    for (int i = 0; i < g->wg_npending; i++)
        if (g->wg_pending[i] == v->id) g->wg_pending[i] = g->wg_pending[--g->wg_npending];
}

void cg_wgmma_flush(cg_ctx *g)
{
    if (g->wg_npending == 0) return;
    if (g->wg_done < g->wg_committed) {
        simple_asm(g, "wgmma.wait_group.sync.aligned 0;");
        g->wg_done = g->wg_committed;
    }
    while (g->wg_npending > 0 && g->status == TILE_OK) {
        ir_value v = {.id = g->wg_pending[g->wg_npending - 1]};
        cg_wgmma_await(g, &v);
    }
    g->wg_npending = 0;
}

/* Ops that neither write the shared memory a pending group reads (the
 * pipeliner's buffers: only cp.async writes them, after a barrier) nor
 * leave the block: register arithmetic, reductions and moves (their
 * scratch is not read by a deferred dot), global loads, buffer views and
 * further dots. */
bool cg_wgmma_beside(const ir_op *op)
{
    if (ir_op_table[op->code].flags & IR_ELEMENTWISE) return true;
    switch (op->code) {
    case IR_OP_CONST: case IR_OP_ARANGE: case IR_OP_PROGRAM_ID: case IR_OP_NUM_PROGRAMS:
    case IR_OP_TENSOR_DIM: case IR_OP_BROADCAST: case IR_OP_RESHAPE: case IR_OP_EXPAND_DIMS:
    case IR_OP_TRANS: case IR_OP_CONVERT_LAYOUT: case IR_OP_LOCAL_VIEW:
    case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MAX: case IR_OP_REDUCE_MIN:
    case IR_OP_DOT: case IR_OP_LOAD:
        return true;
    default:
        return false;
    }
}

/* ---- probes for tests (codegen.h) ------------------------------------------- */

typedef struct probe {
    arena mem;
    cg_ctx g;
    cg_val val;
    ir_value buf;
    ir_layout layout;
} probe;

/* A context whose builder has no block: every LLVM value built from
 * constants folds to a constant.  One buffer value (id 0) of `rows` x
 * `cols` 16-bit elements, swizzle=128, rows the slower dim, at `base`. */
static void probe_open(probe *p, int64_t rows, int64_t cols, int64_t base)
{
    memset(p, 0, sizeof *p);
    arena_init(&p->mem);
    p->g.mem = &p->mem;
    p->g.ctx = LLVMContextCreate();
    p->g.b = LLVMCreateBuilderInContext(p->g.ctx);
    p->layout = (ir_layout){.kind = IR_LAYOUT_SHARED, .rank = 2, .vec = 8, .per_phase = 1, .max_phase = 8,
                            .swizzle = 128, .order = {1, 0}};
    p->buf = (ir_value){.id = 0, .type = {.kind = IR_TY_TILE, .dtype = IR_BF16, .rank = 2, .shape = {rows, cols},
                                          .layout = &p->layout}};
    p->val = (cg_val){.lowered = true, .nregs = 1};
    p->val.regs = arena_calloc(&p->mem, 1, sizeof *p->val.regs);
    if (p->val.regs) p->val.regs[0] = cg_i32(&p->g, base);
    p->g.vals = &p->val;
    p->g.nvals = 1;
}

static void probe_close(probe *p)
{
    LLVMDisposeBuilder(p->g.b);
    LLVMContextDispose(p->g.ctx);
    arena_free(&p->mem);
}

static int64_t const_of(LLVMValueRef v) { return v && LLVMIsConstant(v) ? (int64_t)LLVMConstIntGetZExtValue(v) : -1; }

int64_t cg_wgmma_probe_store(int64_t rows, int64_t cols, int64_t base, int64_t r, int64_t c)
{
    probe p;
    probe_open(&p, rows, cols, base);
    int64_t a = -1;
    if (p.val.regs) a = const_of(cg_buffer_addr(&p.g, &p.buf, cg_i32(&p.g, r), cg_i32(&p.g, c)));
    probe_close(&p);
    return a;
}

int64_t cg_wgmma_probe_desc(bool k_major, int64_t rows, int64_t base, int64_t mn0, int64_t k0, uint64_t *desc)
{
    probe p;
    probe_open(&p, rows, WG_SLAB, base);
    wg_operand o = {.base = p.val.regs ? p.val.regs[0] : NULL, .rows = rows, .k_major = k_major, .fold = true};
    int64_t ok = -1;
    if (o.base) {
        /* mn0 as the lowering's run-time part (the warpgroup's rows). */
        LLVMValueRef d = descriptor(&p.g, &o, cg_i32(&p.g, mn0), 0, k0);
        if (d && LLVMIsConstant(d)) {
            *desc = LLVMConstIntGetZExtValue(d);
            ok = 0;
        }
    }
    probe_close(&p);
    return ok;
}
