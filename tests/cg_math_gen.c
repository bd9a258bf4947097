/* cg_math_gen.c - emits codegen/cg_math.c's routines as host LLVM IR,
 * `float tile_<op>(float[, float])`, so that tests/run_cg_math.sh can
 * compile them for this CPU (llc) and compare them with the C library,
 * the interpreter's reference: the GPU routines' numerics, checked without
 * a GPU (the IR is the same; only the NVPTX instruction selection differs).
 * Links cg_math.c alone, with a minimal cg_intrinsic. */
#include <stdio.h>
#include <string.h>

#include "codegen/cg_impl.h"

LLVMValueRef cg_intrinsic(cg_ctx *g, const char *name, LLVMTypeRef *overloads, int noverloads,
                          LLVMValueRef *args, int nargs)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    if (!id) {
        fprintf(stderr, "cg_math_gen: no LLVM intrinsic %s\n", name);
        g->status = TILE_ERR_INTERNAL;
        return LLVMGetUndef(LLVMTypeOf(args[0]));
    }
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, overloads, (size_t)noverloads);
    LLVMTypeRef ty = LLVMIntrinsicGetType(g->ctx, id, overloads, (size_t)noverloads);
    return LLVMBuildCall2(g->b, ty, fn, args, (unsigned)nargs, "");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cg_math_gen OUT.ll\n");
        return 2;
    }
    cg_ctx g = {.status = TILE_OK};
    g.ctx = LLVMContextCreate();
    g.mod = LLVMModuleCreateWithNameInContext("cg_math", g.ctx);
    g.b = LLVMCreateBuilderInContext(g.ctx);
    static const struct { const char *name; ir_opcode code; int nargs; } fns[] = {
        {"tile_sin", IR_OP_SIN, 1},     {"tile_cos", IR_OP_COS, 1},
        {"tile_erf", IR_OP_ERF, 1},     {"tile_log1p", IR_OP_LOG1P, 1},
        {"tile_expm1", IR_OP_EXPM1, 1}, {"tile_pow", IR_OP_POW, 2},
    };
    LLVMTypeRef f32 = LLVMFloatTypeInContext(g.ctx);
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        LLVMTypeRef params[2] = {f32, f32};
        LLVMValueRef fn = LLVMAddFunction(g.mod, fns[i].name, LLVMFunctionType(f32, params, (unsigned)fns[i].nargs, 0));
        LLVMPositionBuilderAtEnd(g.b, LLVMAppendBasicBlockInContext(g.ctx, fn, "entry"));
        LLVMValueRef a[2] = {LLVMGetParam(fn, 0), fns[i].nargs > 1 ? LLVMGetParam(fn, 1) : NULL};
        LLVMValueRef r = cg_math_op(&g, fns[i].code, a);
        if (!r) return 1;
        LLVMBuildRet(g.b, r);
    }
    char *err = NULL;
    bool bad = g.status != TILE_OK || LLVMVerifyModule(g.mod, LLVMPrintMessageAction, &err);
    LLVMDisposeMessage(err);
    err = NULL;
    if (bad) return 1;
    if (LLVMPrintModuleToFile(g.mod, argv[1], &err)) {
        fprintf(stderr, "cg_math_gen: %s\n", err);
        LLVMDisposeMessage(err);
        return 1;
    }
    LLVMDisposeBuilder(g.b);
    LLVMDisposeModule(g.mod);
    LLVMContextDispose(g.ctx);
    return 0;
}
