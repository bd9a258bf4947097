/* cg_kernel.c - one scheduled kernel -> one LLVM function marked as a PTX
 * .entry: the ABI parameters of docs/abi.md, the op dispatch, structured
 * control flow (for/while/if become loops and diamonds whose phis carry
 * every register of every carried tile), and the helpers the other cg_*.c
 * files share. */
#include "cg_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

void cg_error(cg_ctx *g, const ir_op *op, const char *fmt, ...)
{
    if (g->status != TILE_OK) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(g->diags, op ? op->loc : g->f->loc, "code generation: %s", msg);
    g->status = TILE_ERR_INTERNAL;
}

cg_val *cg_get(cg_ctx *g, const ir_value *v)
{
    if (!v || v->id < 0 || v->id >= g->nvals || !g->vals[v->id].lowered) {
        cg_error(g, NULL, "internal: value %d used before it was lowered", v ? v->id : -1);
        return NULL;
    }
    if (g->vals[v->id].wg_group) cg_wgmma_await(g, v);
    return &g->vals[v->id];
}

LLVMValueRef *cg_def(cg_ctx *g, const ir_value *v, int n)
{
    if (v->id < 0 || v->id >= g->nvals) {
        cg_error(g, NULL, "internal: value id %d out of range", v->id);
        return NULL;
    }
    cg_val *cv = &g->vals[v->id];
    cv->regs = arena_calloc(g->mem, (size_t)(n ? n : 1), sizeof *cv->regs);
    if (!cv->regs) {
        g->status = TILE_ERR_NOMEM;
        return NULL;
    }
    cv->nregs = n;
    cv->lowered = true;
    return cv->regs;
}

LLVMValueRef cg_scalar_of(cg_ctx *g, const ir_value *v)
{
    cg_val *cv = cg_get(g, v);
    return cv && cv->nregs >= 1 ? cv->regs[0] : NULL;
}

LLVMTypeRef cg_type(cg_ctx *g, ir_dtype t)
{
    switch (t) {
    case IR_BOOL: return LLVMInt1TypeInContext(g->ctx);
    case IR_I32: return LLVMInt32TypeInContext(g->ctx);
    case IR_I64: return LLVMInt64TypeInContext(g->ctx);
    case IR_F16: return LLVMHalfTypeInContext(g->ctx);
    case IR_BF16: return LLVMBFloatTypeInContext(g->ctx);
    case IR_F32: return LLVMFloatTypeInContext(g->ctx);
    default: return LLVMInt32TypeInContext(g->ctx);
    }
}

LLVMTypeRef cg_mem_type(cg_ctx *g, ir_dtype t)
{
    return t == IR_BOOL ? LLVMInt8TypeInContext(g->ctx) : cg_type(g, t);
}

LLVMValueRef cg_i32(cg_ctx *g, int64_t v) { return LLVMConstInt(LLVMInt32TypeInContext(g->ctx), (unsigned long long)v, 1); }
LLVMValueRef cg_i64(cg_ctx *g, int64_t v) { return LLVMConstInt(LLVMInt64TypeInContext(g->ctx), (unsigned long long)v, 1); }

LLVMValueRef cg_intrinsic(cg_ctx *g, const char *name, LLVMTypeRef *overloads, int noverloads,
                          LLVMValueRef *args, int nargs)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    if (!id) {
        cg_error(g, NULL, "internal: no LLVM intrinsic %s", name);
        return NULL;
    }
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, overloads, (size_t)noverloads);
    LLVMTypeRef ty = LLVMIntrinsicGetType(g->ctx, id, overloads, (size_t)noverloads);
    return LLVMBuildCall2(g->b, ty, fn, args, (unsigned)nargs, "");
}

LLVMValueRef cg_inline_asm(cg_ctx *g, LLVMTypeRef ret, const char *text, const char *constraints,
                           LLVMValueRef *args, int nargs, bool side_effects)
{
    LLVMTypeRef at[CG_MAX_ASM_ARGS]; /* wgmma m64n256: 128 accumulators + A + B */
    if (nargs > CG_MAX_ASM_ARGS) {
        cg_error(g, NULL, "internal error: inline asm with %d operands", nargs);
        nargs = CG_MAX_ASM_ARGS;
    }
    for (int i = 0; i < nargs; i++) at[i] = LLVMTypeOf(args[i]);
    LLVMTypeRef fty = LLVMFunctionType(ret, at, (unsigned)nargs, 0);
    LLVMValueRef asmv = LLVMGetInlineAsm(fty, (char *)text, strlen(text), (char *)constraints,
                                         strlen(constraints), side_effects, 0,
                                         LLVMInlineAsmDialectATT, 0);
    return LLVMBuildCall2(g->b, fty, asmv, args, (unsigned)nargs, "");
}

LLVMValueRef cg_opaque(cg_ctx *g, LLVMValueRef v)
{
    LLVMTypeRef t = LLVMTypeOf(v);
    if (LLVMGetTypeKind(t) == LLVMPointerTypeKind) {
        LLVMTypeRef i64 = LLVMInt64TypeInContext(g->ctx);
        LLVMValueRef x = cg_opaque(g, LLVMBuildPtrToInt(g->b, v, i64, ""));
        return LLVMBuildIntToPtr(g->b, x, t, "");
    }
    bool wide = LLVMGetIntTypeWidth(t) == 64;
    return cg_inline_asm(g, t, wide ? "mov.b64 $0, $1;" : "mov.b32 $0, $1;", wide ? "=l,l" : "=r,r", &v, 1,
                         true);
}

LLVMValueRef cg_and(cg_ctx *g, LLVMValueRef a, LLVMValueRef b)
{
    if (!a) return b;
    if (!b) return a;
    return LLVMBuildAnd(g->b, a, b, "");
}

LLVMBasicBlockRef cg_begin_if(cg_ctx *g, LLVMValueRef cond)
{
    if (!cond) return NULL;
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "if");
    LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "endif");
    LLVMBuildCondBr(g->b, cond, then, cont);
    LLVMPositionBuilderAtEnd(g->b, then);
    return cont;
}

void cg_end_if(cg_ctx *g, LLVMBasicBlockRef cont)
{
    if (!cont) return;
    LLVMBuildBr(g->b, cont);
    LLVMPositionBuilderAtEnd(g->b, cont);
}

void cg_barrier(cg_ctx *g) { cg_intrinsic(g, "llvm.nvvm.barrier0", NULL, 0, NULL, 0); }

/* ---- ops ---------------------------------------------------------------- */

static void lower_ops(cg_ctx *g, ir_block *blk);

static const cg_map *map_of(cg_ctx *g, const ir_value *v) { return cg_map_of(g, &v->type); }

static void lower_elementwise(cg_ctx *g, ir_op *op)
{
    const ir_value *r = op->results[0];
    const cg_map *m = map_of(g, r);
    if (!m) return;
    cg_val *in[3] = {NULL};
    for (int i = 0; i < op->noperands && i < 3; i++)
        if (!(in[i] = cg_get(g, op->operands[i]))) return;
    ir_dtype dt = op->operands[op->code == IR_OP_SELECT ? 1 : 0]->type.dtype;
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!out) return;
    for (int k = 0; k < m->nregs; k++) {
        LLVMValueRef args[3];
        for (int i = 0; i < op->noperands && i < 3; i++) args[i] = in[i]->regs[k];
        out[k] = cg_scalar_op(g, op->code, dt, r->type.dtype, args);
        if (!out[k]) {
            cg_error(g, op, "no lowering for elementwise op '%s'", ir_op_table[op->code].name);
            return;
        }
    }
}

static void lower_const(cg_ctx *g, ir_op *op)
{
    const ir_value *r = op->results[0];
    const cg_map *m = map_of(g, r);
    LLVMValueRef *out = m ? cg_def(g, r, m->nregs) : NULL;
    if (!out) return;
    LLVMValueRef c = cg_const_scalar(g, r->type.dtype, op->attr.cval);
    for (int k = 0; k < m->nregs; k++) out[k] = c;
}

static void lower_arange(cg_ctx *g, ir_op *op)
{
    const cg_map *m = map_of(g, op->results[0]);
    LLVMValueRef *out = m ? cg_def(g, op->results[0], m->nregs) : NULL;
    if (!out) return;
    for (int k = 0; k < m->nregs; k++) out[k] = m->coord[k];
}

static void lower_sreg(cg_ctx *g, ir_op *op)
{
    static const char *const ctaid[3] = {"llvm.nvvm.read.ptx.sreg.ctaid.x",
                                         "llvm.nvvm.read.ptx.sreg.ctaid.y",
                                         "llvm.nvvm.read.ptx.sreg.ctaid.z"};
    static const char *const nctaid[3] = {"llvm.nvvm.read.ptx.sreg.nctaid.x",
                                          "llvm.nvvm.read.ptx.sreg.nctaid.y",
                                          "llvm.nvvm.read.ptx.sreg.nctaid.z"};
    int axis = (int)op->attr.i;
    LLVMValueRef *out = cg_def(g, op->results[0], 1);
    if (out)
        out[0] = cg_intrinsic(g, op->code == IR_OP_PROGRAM_ID ? ctaid[axis] : nctaid[axis], NULL, 0,
                              NULL, 0);
}

static void lower_tensor_dim(cg_ctx *g, ir_op *op)
{
    cg_val *t = cg_get(g, op->operands[0]);
    LLVMValueRef *out = t ? cg_def(g, op->results[0], 1) : NULL;
    if (out)
        out[0] = LLVMBuildTrunc(g->b, t->tensor.size[op->attr.i], LLVMInt32TypeInContext(g->ctx), "");
}

/* Phis for the registers of values vs, in the current block. */
static LLVMValueRef **make_phis(cg_ctx *g, int n, ir_value *const *vs, int **counts)
{
    LLVMValueRef **phis = arena_calloc(g->mem, (size_t)(n ? n : 1), sizeof *phis);
    *counts = arena_calloc(g->mem, (size_t)(n ? n : 1), sizeof **counts);
    if (!phis || !*counts) return NULL;
    for (int i = 0; i < n; i++) {
        const cg_map *m = map_of(g, vs[i]);
        if (!m) return NULL;
        (*counts)[i] = m->nregs;
        phis[i] = arena_calloc(g->mem, (size_t)m->nregs, sizeof **phis);
        if (!phis[i]) return NULL;
        for (int k = 0; k < m->nregs; k++)
            phis[i][k] = LLVMBuildPhi(g->b, cg_type(g, vs[i]->type.dtype), "");
    }
    return phis;
}

static void add_incoming(cg_ctx *g, LLVMValueRef **phis, const int *counts, int n,
                         ir_value *const *from, LLVMBasicBlockRef bb)
{
    for (int i = 0; i < n; i++) {
        cg_val *cv = cg_get(g, from[i]);
        if (!cv) return;
        for (int k = 0; k < counts[i]; k++) LLVMAddIncoming(phis[i][k], &cv->regs[k], &bb, 1);
    }
}

static void bind(cg_ctx *g, const ir_value *v, LLVMValueRef *regs, int n)
{
    LLVMValueRef *out = cg_def(g, v, n);
    if (out) memcpy(out, regs, sizeof *regs * (size_t)n);
}

static ir_op *terminator(ir_block *blk) { return blk->last; }

static void lower_for(cg_ctx *g, ir_op *op)
{
    int n = op->noperands - 3;
    LLVMValueRef lo = cg_scalar_of(g, op->operands[0]), hi = cg_scalar_of(g, op->operands[1]);
    LLVMValueRef step = cg_scalar_of(g, op->operands[2]);
    if (!lo || !hi || !step) return;
    ir_scalar c;
    if (!ir_value_const(op->operands[2], &c) || c.i <= 0)
        cg_check(g, op, LLVMBuildICmp(g->b, LLVMIntSGT, step, cg_i32(g, 0), ""),
                 "for: the step must be positive");
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "for.head");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "for.body");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "for.exit");
    LLVMBuildBr(g->b, head);
    LLVMPositionBuilderAtEnd(g->b, head);
    LLVMValueRef iv = LLVMBuildPhi(g->b, LLVMInt32TypeInContext(g->ctx), "iv");
    LLVMAddIncoming(iv, &lo, &pre, 1);
    int *counts;
    LLVMValueRef **phis = make_phis(g, n, op->operands + 3, &counts);
    if (!phis) return;
    add_incoming(g, phis, counts, n, op->operands + 3, pre);
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, iv, hi, ""), body, exit);

    LLVMPositionBuilderAtEnd(g->b, body);
    ir_block *blk = op->blocks[0];
    bind(g, blk->args[0], &iv, 1);
    for (int i = 0; i < n; i++) bind(g, blk->args[1 + i], phis[i], counts[i]);
    lower_ops(g, blk);
    if (g->status == TILE_OK) cg_wgmma_copy_carried(g, blk, 1);
    if (g->status != TILE_OK) return;
    LLVMValueRef next = LLVMBuildAdd(g->b, iv, step, "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
    add_incoming(g, phis, counts, n, terminator(blk)->operands, latch);
    LLVMAddIncoming(iv, &next, &latch, 1);
    LLVMBuildBr(g->b, head);

    LLVMPositionBuilderAtEnd(g->b, exit);
    for (int i = 0; i < n; i++) bind(g, op->results[i], phis[i], counts[i]);
}

static void lower_while(cg_ctx *g, ir_op *op)
{
    int n = op->noperands;
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "while.head");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "while.body");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "while.exit");
    LLVMBuildBr(g->b, head);
    LLVMPositionBuilderAtEnd(g->b, head);
    int *counts;
    LLVMValueRef **phis = make_phis(g, n, op->operands, &counts);
    if (!phis) return;
    add_incoming(g, phis, counts, n, op->operands, pre);
    ir_block *cond = op->blocks[0], *blk = op->blocks[1];
    for (int i = 0; i < n; i++) bind(g, cond->args[i], phis[i], counts[i]);
    lower_ops(g, cond);
    if (g->status != TILE_OK) return;
    LLVMValueRef c = cg_scalar_of(g, terminator(cond)->operands[0]);
    if (!c) return;
    LLVMBuildCondBr(g->b, c, body, exit);

    LLVMPositionBuilderAtEnd(g->b, body);
    for (int i = 0; i < n; i++) bind(g, blk->args[i], phis[i], counts[i]);
    lower_ops(g, blk);
    if (g->status == TILE_OK) cg_wgmma_copy_carried(g, blk, 0);
    if (g->status != TILE_OK) return;
    add_incoming(g, phis, counts, n, terminator(blk)->operands, LLVMGetInsertBlock(g->b));
    LLVMBuildBr(g->b, head);

    LLVMPositionBuilderAtEnd(g->b, exit);
    for (int i = 0; i < n; i++) bind(g, op->results[i], phis[i], counts[i]);
}

static void lower_if(cg_ctx *g, ir_op *op)
{
    LLVMValueRef c = cg_scalar_of(g, op->operands[0]);
    if (!c) return;
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "then");
    LLVMBasicBlockRef els = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "else");
    LLVMBasicBlockRef merge = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "endif");
    LLVMBuildCondBr(g->b, c, then, els);
    LLVMBasicBlockRef ends[2];
    LLVMBasicBlockRef starts[2] = {then, els};
    for (int r = 0; r < 2; r++) {
        LLVMPositionBuilderAtEnd(g->b, starts[r]);
        lower_ops(g, op->blocks[r]);
        if (g->status != TILE_OK) return;
        ends[r] = LLVMGetInsertBlock(g->b);
        LLVMBuildBr(g->b, merge);
    }
    LLVMPositionBuilderAtEnd(g->b, merge);
    int *counts;
    LLVMValueRef **phis = make_phis(g, op->nresults, op->results, &counts);
    if (!phis) return;
    for (int r = 0; r < 2; r++)
        add_incoming(g, phis, counts, op->nresults, terminator(op->blocks[r])->operands, ends[r]);
    for (int i = 0; i < op->nresults; i++) bind(g, op->results[i], phis[i], counts[i]);
}

static void lower_op(cg_ctx *g, ir_op *op)
{
    if (g->wg_npending && !cg_wgmma_beside(op)) cg_wgmma_flush(g);
    unsigned flags = ir_op_table[op->code].flags;
    if (flags & IR_ELEMENTWISE) {
        lower_elementwise(g, op);
        return;
    }
    switch (op->code) {
    case IR_OP_CONST: lower_const(g, op); return;
    case IR_OP_ARANGE: lower_arange(g, op); return;
    case IR_OP_PROGRAM_ID:
    case IR_OP_NUM_PROGRAMS: lower_sreg(g, op); return;
    case IR_OP_TENSOR_DIM: lower_tensor_dim(g, op); return;
    case IR_OP_BROADCAST:
    case IR_OP_RESHAPE:
    case IR_OP_EXPAND_DIMS:
    case IR_OP_TRANS:
        if (cg_is_buffer(op->operands[0])) cg_lower_local(g, op);
        else cg_lower_move(g, op);
        return;
    case IR_OP_CONVERT_LAYOUT:
        if (cg_is_buffer(op->operands[0])) cg_read_buffer(g, op);
        else cg_lower_move(g, op);
        return;
    case IR_OP_LOCAL_ALLOC:
    case IR_OP_LOCAL_VIEW: cg_lower_local(g, op); return;
    case IR_OP_ASYNC_COPY: cg_lower_async_copy(g, op); return;
    case IR_OP_ASYNC_COMMIT:
    case IR_OP_ASYNC_WAIT:
    case IR_OP_BARRIER: cg_lower_async(g, op); return;
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MAX:
    case IR_OP_REDUCE_MIN: cg_lower_reduce(g, op); return;
    case IR_OP_CUMSUM: cg_lower_cumsum(g, op); return;
    case IR_OP_SLICE: cg_lower_slice(g, op); return;
    case IR_OP_CONCAT: cg_lower_concat(g, op); return;
    case IR_OP_ARGMAX:
    case IR_OP_ARGMIN: cg_lower_argext(g, op); return;
    case IR_OP_SCAN: cg_lower_scan(g, op); return;
    case IR_OP_SORT: case IR_OP_TOPK: cg_lower_sort(g, op); return;
    case IR_OP_DOT: cg_lower_dot(g, op); return;
    case IR_OP_LOAD: cg_lower_load(g, op); return;
    case IR_OP_STORE:
    case IR_OP_ATOMIC_ADD: cg_lower_store(g, op); return;
    case IR_OP_FOR: lower_for(g, op); return;
    case IR_OP_WHILE: lower_while(g, op); return;
    case IR_OP_IF: lower_if(g, op); return;
    case IR_OP_ASSERT: cg_lower_assert(g, op); return;
    case IR_OP_PRINT: cg_lower_print(g, op); return;
    case IR_OP_RETURN: LLVMBuildRetVoid(g->b); return;
    case IR_OP_YIELD:
    case IR_OP_CONDITION: return; /* read by the parent op */
    default:
        cg_error(g, op, "no lowering for op '%s'", ir_op_table[op->code].name);
        return;
    }
}

static void lower_ops(cg_ctx *g, ir_block *blk)
{
    for (ir_op *op = blk->first; op && g->status == TILE_OK; op = op->next) lower_op(g, op);
    if (g->status == TILE_OK) cg_wgmma_flush(g);
}

void cg_lower_block(cg_ctx *g, ir_block *blk) { lower_ops(g, blk); }

/* ---- the entry point ----------------------------------------------------- */

/* docs/abi.md: tensor = u64 pointer, rank x s64 sizes, rank x s64 strides;
 * bool u32; i32; i64; f32; f16/bf16 as b16; then the u64 status pointer. */
static int abi_param_types(cg_ctx *g, LLVMTypeRef *types)
{
    LLVMTypeRef i64 = LLVMInt64TypeInContext(g->ctx), i32 = LLVMInt32TypeInContext(g->ctx);
    int n = 0;
    for (int i = 0; i < g->f->nparams; i++) {
        const ir_type *t = &g->f->params[i].type;
        if (t->kind == IR_TY_TENSOR) {
            types[n++] = i64;
            for (int d = 0; d < 2 * t->rank; d++) types[n++] = i64;
            continue;
        }
        switch (t->dtype) {
        case IR_BOOL: types[n++] = i32; break;
        case IR_F16:
        case IR_BF16: types[n++] = LLVMInt16TypeInContext(g->ctx); break;
        default: types[n++] = cg_type(g, t->dtype); break;
        }
    }
    types[n++] = i64;
    return n;
}

static LLVMValueRef global_ptr(cg_ctx *g, LLVMValueRef addr)
{
    return LLVMBuildIntToPtr(g->b, addr, LLVMPointerTypeInContext(g->ctx, 1), "");
}

static void bind_params(cg_ctx *g)
{
    int k = 0;
    for (int i = 0; i < g->f->nparams; i++) {
        const ir_param *p = &g->f->params[i];
        const ir_value *arg = g->f->body->args[i];
        cg_val *cv = &g->vals[arg->id];
        if (p->type.kind == IR_TY_TENSOR) {
            cv->lowered = cv->is_tensor = true;
            cv->tensor.param = i;
            cv->tensor.ptr = global_ptr(g, LLVMGetParam(g->fn, (unsigned)k++));
            for (int d = 0; d < p->type.rank; d++) {
                cv->tensor.size[d] = LLVMGetParam(g->fn, (unsigned)k++);
                cv->tensor.static_size[d] = p->dims[d].size;
            }
            for (int d = 0; d < p->type.rank; d++) cv->tensor.stride[d] = LLVMGetParam(g->fn, (unsigned)k++);
            /* Under the vector fact the last stride is 1 (docs/abi.md): a
             * constant, so the addresses of a row's elements differ by
             * constants that fold into the loads' offsets, rather than by
             * products LLVM would hoist out of loops into 64-bit registers
             * (flash_bwd_dkdv's LSE across its columns: 32 of them). */
            if (p->type.rank > 0 && i < 64 && (g->vector_ok >> i & 1))
                cv->tensor.stride[p->type.rank - 1] = LLVMConstInt(LLVMInt64TypeInContext(g->ctx), 1, 0);
            continue;
        }
        LLVMValueRef v = LLVMGetParam(g->fn, (unsigned)k++);
        if (p->type.dtype == IR_BOOL) v = LLVMBuildICmp(g->b, LLVMIntNE, v, cg_i32(g, 0), "");
        else if (p->type.dtype == IR_F16 || p->type.dtype == IR_BF16)
            v = LLVMBuildBitCast(g->b, v, cg_type(g, p->type.dtype), "");
        LLVMValueRef *out = cg_def(g, arg, 1);
        if (out) out[0] = v;
    }
    g->status_ptr = global_ptr(g, LLVMGetParam(g->fn, (unsigned)k));
}

static void annotate(cg_ctx *g, const char *key, int value)
{
    LLVMMetadataRef ops[3] = {
        LLVMValueAsMetadata(g->fn),
        LLVMMDStringInContext2(g->ctx, key, strlen(key)),
        LLVMValueAsMetadata(cg_i32(g, value)),
    };
    LLVMValueRef node = LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, ops, 3));
    LLVMAddNamedMetadataOperand(g->mod, "nvvm.annotations", node);
}

static void build_entry(cg_ctx *g)
{
    LLVMTypeRef types[1 + IR_MAX_RANK * 2 * 64 + 64];
    if (g->f->nparams > 64) {
        cg_error(g, NULL, "more than 64 kernel parameters");
        return;
    }
    int n = abi_param_types(g, types);
    LLVMTypeRef fty = LLVMFunctionType(LLVMVoidTypeInContext(g->ctx), types, (unsigned)n, 0);
    g->fn = LLVMAddFunction(g->mod, g->f->name, fty);
    LLVMSetFunctionCallConv(g->fn, 71); /* PTX_Kernel: a .entry */
    annotate(g, "kernel", 1);
    annotate(g, "maxntidx", g->nthreads);
    /* One block per SM is enough: without this ptxas caps a 256-thread
     * block at 128 registers (two blocks) and spills rather than go past. */
    annotate(g, "minctasm", 1);

    LLVMTypeRef smem_ty = LLVMArrayType2(LLVMInt8TypeInContext(g->ctx), 0);
    g->smem = LLVMAddGlobalInAddressSpace(g->mod, smem_ty, "tile_smem", 3);
    LLVMSetLinkage(g->smem, LLVMExternalLinkage);
    LLVMSetAlignment(g->smem, g->wgmma ? 1024 : 16);

    g->entry = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "entry");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "body");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    if (g->wgmma) {
        /* The declared alignment of dynamic shared memory is not a promise
         * of the launch: round the base up at run time (1 KiB more is
         * requested, cg_emit_kernel). */
        LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
        LLVMValueRef raw = LLVMBuildPtrToInt(g->b, g->smem, i32, "");
        LLVMValueRef up = LLVMBuildAnd(g->b, LLVMBuildAdd(g->b, raw, cg_i32(g, 1023), ""), cg_i32(g, ~1023), "");
        g->smem = LLVMBuildIntToPtr(g->b, up, LLVMTypeOf(g->smem), "smem1k");
    }
    g->tid = cg_intrinsic(g, "llvm.nvvm.read.ptx.sreg.tid.x", NULL, 0, NULL, 0);
    g->lane = LLVMBuildAnd(g->b, g->tid, cg_i32(g, 31), "lane");
    g->warp = LLVMBuildLShr(g->b, g->tid, cg_i32(g, 5), "warp");
    bind_params(g);
    g->entry_end = LLVMBuildBr(g->b, body);
    LLVMPositionBuilderAtEnd(g->b, body);
}

tile_status cg_emit_kernel(ir_func *f, const ir_target *t, cg_emit_kind kind, cg_result *out)
{
    return cg_emit_kernel_with(f, t, NULL, kind, out);
}

tile_status cg_emit_kernel_with(ir_func *f, const ir_target *t, const cg_options *o,
                                cg_emit_kind kind, cg_result *out)
{
    ir_module *m = f->module;
    memset(out, 0, sizeof *out);
    if (m->stage != IR_STAGE_SCHEDULED) {
        diag_error(m->diags, f->loc, "internal error: code generation needs scheduled IR");
        return TILE_ERR_INTERNAL;
    }
    cg_ctx g = {
        .f = f, .m = m, .target = t, .mem = m->mem, .diags = m->diags,
        .num_warps = m->target.num_warps, .nthreads = 32 * m->target.num_warps,
        .nvals = m->next_value_id, .vector_ok = o ? o->vector_ok : 0,
    };
    const char *env = getenv("TILE_CG_GENERIC_DOT");
    g.no_mma = env && *env && strcmp(env, "0") != 0;
    env = getenv("TILE_CG_NO_VECTOR");
    g.no_vector = env && *env && strcmp(env, "0") != 0;
    env = getenv("TILE_WGMMA_DEFER");
    g.wg_defer = !(env && strcmp(env, "0") == 0);
    g.vals = arena_calloc(g.mem, (size_t)(g.nvals ? g.nvals : 1), sizeof *g.vals);
    if (!g.vals) return TILE_ERR_NOMEM;
    char *err = NULL;
    for (const ir_layout *l = m->layouts.first; l; l = l->next)
        if (l->kind == IR_LAYOUT_MMA && l->version == 3) g.wgmma = true;
    if (g.wgmma && !t->has_wgmma) {
        diag_error(g.diags, f->loc, "the schedule uses wgmma (mma v3), which target %s does not have", t->arch);
        return TILE_ERR_ARG;
    }
    g.tm = cg_target_machine(t, g.wgmma ? "sm_90a" : NULL, &err);
    if (!g.tm) {
        diag_error(g.diags, f->loc, "internal error: no NVPTX target: %s", err ? err : "?");
        LLVMDisposeMessage(err);
        return TILE_ERR_INTERNAL;
    }
    g.ctx = LLVMContextCreate();
    g.mod = LLVMModuleCreateWithNameInContext(f->name, g.ctx);
    LLVMSetTarget(g.mod, CG_TRIPLE);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(g.tm);
    LLVMSetModuleDataLayout(g.mod, dl);
    LLVMDisposeTargetData(dl);
    g.b = LLVMCreateBuilderInContext(g.ctx);

    build_entry(&g);
    if (g.status == TILE_OK && !cg_place_buffers(&g)) g.status = TILE_ERR_NOMEM;
    if (g.status == TILE_OK) lower_ops(&g, f->body);
    if (g.status == TILE_OK) {
        out->smem_bytes = g.smem_bytes + (g.wgmma && g.smem_bytes > 0 ? 1024 : 0);
        out->nasserts = g.nasserts;
        out->asserts = g.asserts;
        if (kind != CG_EMIT_ANALYSIS) g.status = cg_finish(&g, kind, out);
    }
    tile_status st = g.status;
    LLVMDisposeBuilder(g.b);
    LLVMDisposeModule(g.mod);
    LLVMContextDispose(g.ctx);
    LLVMDisposeTargetMachine(g.tm);
    return st;
}
