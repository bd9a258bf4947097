/* test_passes.c - each generic pass on hand-built IR.  The expected text
 * after every pass is written by hand from the pass's rules (docs/ir.md),
 * not copied from a run; every result is also re-verified.  The last tests
 * check the property that matters: optimising never changes what the
 * interpreter computes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/interp.h"
#include "ir/ir.h"
#include "ir/passes.h"
#include "ir_test_util.h"

static const char *const KERNEL_HEAD =
    "kernel @k(%x: tensor<f32>[N,8], %y: out tensor<f32>[N,8], %s: f32) {\n"
    "grid:\n"
    "  %0 = const 1 : i32\n"
    "  yield %0, %0, %0\n"
    "body:\n";

static const ir_type *I32 = &(ir_type){.kind = IR_TY_TILE, .dtype = IR_I32};
static const ir_type *F32 = &(ir_type){.kind = IR_TY_TILE, .dtype = IR_F32};
static const int64_t S4[1] = {4};

static void assert_text(const char *got, const char *head, const char *body)
{
    char *want = malloc(strlen(head) + strlen(body) + 1);
    strcpy(want, head);
    strcat(want, body);
    if (strcmp(got, want) != 0) fprintf(stderr, "--- got:\n%s--- want:\n%s", got, want);
    assert_string_equal(got, want);
    free(want);
}

static void assert_module(fx *t, const char *body)
{
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
    char *got = module_text(t->m);
    assert_text(got, KERNEL_HEAD, body);
    free(got);
}

static ir_value *tdim(ir_builder *b, ir_value *tensor, int axis)
{
    ir_op *op = ir_build(b, IR_OP_TENSOR_DIM, 1, &tensor, 1, I32, 0);
    op->attr.i = axis;
    return op->results[0];
}

static ir_op *print_op(ir_builder *b, const char *label, int n, ir_value *const *vs)
{
    ir_op *op = ir_build(b, IR_OP_PRINT, n, vs, 0, NULL, 0);
    op->attr.str = label;
    return op;
}

/* for %i = lo to hi step st iter(inits...): region with args named. */
static ir_op *build_for(ir_builder *b, ir_value *lo, ir_value *hi, ir_value *st, int n,
                        ir_value *const *inits, const char *const *names)
{
    ir_value *ops[8] = {lo, hi, st};
    ir_type types[8] = {{0}}, argt[8] = {*I32};
    for (int i = 0; i < n; i++) {
        ops[3 + i] = inits[i];
        types[i] = inits[i]->type;
        argt[1 + i] = inits[i]->type;
    }
    ir_op *loop = ir_build(b, IR_OP_FOR, 3 + n, ops, n, types, 1);
    loop->blocks[0] = ir_block_new(b->f, 1 + n, argt);
    loop->blocks[0]->parent = loop;
    loop->blocks[0]->args[0]->name = "i";
    for (int i = 0; i < n; i++) loop->blocks[0]->args[1 + i]->name = names[i];
    return loop;
}

static ir_op *build_if(ir_builder *b, ir_value *c, int n, const ir_type *types)
{
    ir_op *op = ir_build(b, IR_OP_IF, 1, &c, n, types, 2);
    for (int r = 0; r < 2; r++) {
        op->blocks[r] = ir_block_new(b->f, 0, NULL);
        op->blocks[r]->parent = op;
    }
    return op;
}

/* ---- inline ------------------------------------------------------------ */

/* fn @inner(%x: f32[4]) -> f32[4] { neg }
 * fn @outer(%a, %n) -> f32[4] { for ... { call @inner } }
 * kernel: two calls of @outer, then a store. */
static void build_inline_fixture(fx *t)
{
    ir_type v4 = ir_type_tile(IR_F32, 1, S4);
    ir_func *inner = ir_func_new(t->m, "inner", IR_FUNC_FN, (src_loc){0});
    ir_value *x = add_param(inner, "x", v4);
    ir_func_set_results(inner, 1, &v4);
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, inner->body);
    ir_value *nx = ir_unary(&b, IR_OP_NEG, x);
    ir_build(&b, IR_OP_RETURN, 1, &nx, 0, NULL, 0);

    ir_func *outer = ir_func_new(t->m, "outer", IR_FUNC_FN, (src_loc){0});
    ir_value *a = add_param(outer, "a", v4);
    ir_value *n = add_scalar(outer, "n", IR_I32);
    ir_func_set_results(outer, 1, &v4);
    ir_builder_at_end(&b, outer->body);
    ir_value *zero = ir_const_int(&b, IR_I32, 0, 0, NULL);
    ir_value *one = ir_const_int(&b, IR_I32, 1, 0, NULL);
    ir_op *loop = build_for(&b, zero, n, one, 1, &a, (const char *[]){"acc"});
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_op *call = ir_build(&lb, IR_OP_CALL, 1, &loop->blocks[0]->args[1], 1, &v4, 0);
    call->attr.callee = inner;
    yield(&lb, 1, &call->results[0]);
    ir_build(&b, IR_OP_RETURN, 1, &loop->results[0], 0, NULL, 0);

    make_kernel(t);
    ir_value *c2 = ir_const_float(&t->b, IR_F32, 2.0, 1, S4);
    ir_value *c3 = ir_const_int(&t->b, IR_I32, 3, 0, NULL);
    ir_op *call1 = ir_build(&t->b, IR_OP_CALL, 2, (ir_value *[]){c2, c3}, 1, &v4, 0);
    call1->attr.callee = outer;
    ir_op *call2 = ir_build(&t->b, IR_OP_CALL, 2, (ir_value *[]){call1->results[0], c3}, 1, &v4, 0);
    call2->attr.callee = outer;
    ir_value *rows = ir_const_int(&t->b, IR_I32, 0, 1, S4);
    ir_value *col = ir_const_int(&t->b, IR_I32, 0, 0, NULL);
    ir_build(&t->b, IR_OP_STORE, 4, (ir_value *[]){t->y, rows, col, call2->results[0]}, 0, NULL, 0);
    ret(&t->b);
}

static const char *const INLINED_FNS =
    "fn @inner(%x: f32[4]) -> (f32[4]) {\n"
    "  %0 = neg %x : f32[4]\n"
    "  return %0\n"
    "}\n"
    "\n"
    "fn @outer(%a: f32[4], %n: i32) -> (f32[4]) {\n"
    "  %0 = const 0 : i32\n"
    "  %1 = const 1 : i32\n"
    "  %2 = for %i.3 = %0 to %n step %1 iter(%acc.4 = %a) : f32[4] {\n"
    "    %5 = call @inner(%acc.4) : f32[4]\n"
    "    yield %5\n"
    "  }\n"
    "  return %2\n"
    "}\n"
    "\n";

static void test_inline_nested(void **state)
{
    fx *t = *state;
    build_inline_fixture(t);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    char *before = module_text(t->m);
    assert_text(before, INLINED_FNS,
        "kernel @k(%x: tensor<f32>[N,8], %y: out tensor<f32>[N,8], %s: f32) {\n"
        "grid:\n"
        "  %0 = const 1 : i32\n"
        "  yield %0, %0, %0\n"
        "body:\n"
        "  %1 = const 2.0 : f32[4]\n"
        "  %2 = const 3 : i32\n"
        "  %3 = call @outer(%1, %2) : f32[4]\n"
        "  %4 = call @outer(%3, %2) : f32[4]\n"
        "  %5 = const 0 : i32[4]\n"
        "  %6 = const 0 : i32\n"
        "  store %y[%5, %6], %4\n"
        "  return\n"
        "}\n");
    free(before);

    assert_int_equal(pass_inline(t->m), TILE_OK);
    assert_null(ir_module_find(t->m, "inner"));
    assert_null(ir_module_find(t->m, "outer"));
    assert_ptr_equal(t->m->first, t->k);
    assert_ptr_equal(t->m->last, t->k);
    assert_module(t,
        "  %1 = const 2.0 : f32[4]\n"
        "  %2 = const 3 : i32\n"
        "  %3 = const 0 : i32\n"
        "  %4 = const 1 : i32\n"
        "  %5 = for %i.6 = %3 to %2 step %4 iter(%acc.7 = %1) : f32[4] {\n"
        "    %8 = neg %acc.7 : f32[4]\n"
        "    yield %8\n"
        "  }\n"
        "  %9 = const 0 : i32\n"
        "  %10 = const 1 : i32\n"
        "  %11 = for %i.12 = %9 to %2 step %10 iter(%acc.13 = %5) : f32[4] {\n"
        "    %14 = neg %acc.13 : f32[4]\n"
        "    yield %14\n"
        "  }\n"
        "  %15 = const 0 : i32[4]\n"
        "  %16 = const 0 : i32\n"
        "  store %y[%15, %16], %11\n"
        "  return\n"
        "}\n");
}

/* An fn with two results and an if inside, called from inside a loop of
 * the kernel: results feed the loop's yield. */
static void test_inline_multi_result_in_region(void **state)
{
    fx *t = *state;
    ir_func *f = ir_func_new(t->m, "two", IR_FUNC_FN, (src_loc){0});
    ir_value *p = add_scalar(f, "p", IR_F32);
    ir_func_set_results(f, 2, (ir_type[]){*F32, *F32});
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, f->body);
    ir_value *zero = ir_const_float(&b, IR_F32, 0.0, 0, NULL);
    ir_value *pos = ir_binary(&b, IR_OP_CMP_GT, p, zero);
    ir_op *iff = build_if(&b, pos, 1, F32);
    ir_builder rb = {.m = t->m};
    ir_builder_at_end(&rb, iff->blocks[0]);
    yield(&rb, 1, &p);
    ir_builder_at_end(&rb, iff->blocks[1]);
    ir_value *np = ir_unary(&rb, IR_OP_NEG, p);
    yield(&rb, 1, &np);
    ir_build(&b, IR_OP_RETURN, 2, (ir_value *[]){iff->results[0], p}, 0, NULL, 0);

    make_kernel(t);
    ir_value *lo = ir_const_int(&t->b, IR_I32, 0, 0, NULL);
    ir_value *hi = ir_const_int(&t->b, IR_I32, 2, 0, NULL);
    ir_op *loop = build_for(&t->b, lo, hi, hi, 1, &t->s, (const char *[]){"v"});
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_op *call = ir_build(&lb, IR_OP_CALL, 1, &loop->blocks[0]->args[1], 2,
                           (ir_type[]){*F32, *F32}, 0);
    call->attr.callee = f;
    ir_value *sum = ir_binary(&lb, IR_OP_ADD, call->results[0], call->results[1]);
    yield(&lb, 1, &sum);
    print_op(&t->b, "r", 1, &loop->results[0]);
    ret(&t->b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);

    assert_int_equal(pass_inline(t->m), TILE_OK);
    assert_module(t,
        "  %1 = const 0 : i32\n"
        "  %2 = const 2 : i32\n"
        "  %3 = for %i.4 = %1 to %2 step %2 iter(%v.5 = %s) : f32 {\n"
        "    %6 = const 0.0 : f32\n"
        "    %7 = cmp.gt %v.5, %6 : bool\n"
        "    %8 = if %7 : f32 {\n"
        "      yield %v.5\n"
        "    } else {\n"
        "      %9 = neg %v.5 : f32\n"
        "      yield %9\n"
        "    }\n"
        "    %10 = add %8, %v.5 : f32\n"
        "    yield %10\n"
        "  }\n"
        "  print \"r\", %3\n"
        "  return\n"
        "}\n");
}

static void test_inline_recursion_is_internal_error(void **state)
{
    fx *t = *state;
    ir_func *f = ir_func_new(t->m, "f", IR_FUNC_FN, (src_loc){0});
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, f->body);
    ir_op *call = ir_build(&b, IR_OP_CALL, 0, NULL, 0, NULL, 0);
    call->attr.callee = f;
    ret(&b);
    make_kernel(t);
    ir_op *kcall = ir_build(&t->b, IR_OP_CALL, 0, NULL, 0, NULL, 0);
    kcall->attr.callee = f;
    ret(&t->b);
    assert_int_equal(pass_inline(t->m), TILE_ERR_INTERNAL);
    assert_string_equal(t->diags.first->msg, "internal error: inline: recursive call");
}

/* ---- fold -------------------------------------------------------------- */

static void test_fold(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *imax = ir_const_int(b, IR_I32, 2147483647, 0, NULL);
    ir_value *one = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_value *wrapped = ir_binary(b, IR_OP_ADD, imax, one);
    ir_value *zero = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *divz = ir_binary(b, IR_OP_DIV, imax, zero);
    ir_value *h1 = ir_const_float(b, IR_BF16, 1.0, 0, NULL);
    ir_value *tiny = ir_const_float(b, IR_BF16, 1.0 / 256, 0, NULL);
    ir_value *bsum = ir_binary(b, IR_OP_ADD, h1, tiny);
    ir_value *f1 = ir_const_float(b, IR_F32, 1.0, 0, NULL);
    ir_value *f0 = ir_const_float(b, IR_F32, 0.0, 0, NULL);
    ir_value *finf = ir_binary(b, IR_OP_DIV, f1, f0);
    ir_value *lt = ir_binary(b, IR_OP_CMP_LT, imax, one);
    ir_value *f37 = ir_const_float(b, IR_F32, 3.7, 0, NULL);
    ir_value *ci = ir_cast(b, f37, IR_I32);
    ir_value *bc = ir_broadcast(b, wrapped, 1, S4);
    ir_value *sel = ir_select(b, lt, t->s, f1);
    print_op(b, "r", 8, (ir_value *[]){wrapped, divz, bsum, finf, lt, ci, bc, sel});
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    pass_fold(t->k);
    assert_module(t,
        "  %1 = const 2147483647 : i32\n"
        "  %2 = const 1 : i32\n"
        "  %3 = const -2147483648 : i32\n"
        "  %4 = const 0 : i32\n"
        "  %5 = div %1, %4 : i32\n"
        "  %6 = const 1.0 : bf16\n"
        "  %7 = const 0.00390625 : bf16\n"
        "  %8 = const 1.0 : bf16\n"
        "  %9 = const 1.0 : f32\n"
        "  %10 = const 0.0 : f32\n"
        "  %11 = const inf : f32\n"
        "  %12 = const false : bool\n"
        "  %13 = const 3.7 : f32\n"
        "  %14 = const 3 : i32\n"
        "  %15 = const -2147483648 : i32[4]\n"
        "  print \"r\", %3, %5, %8, %11, %12, %14, %15, %9\n"
        "  return\n"
        "}\n");
}

/* Non-splat results (sum, cumsum, dot, arange) and non-const operands stay. */
static void test_fold_leaves_non_splats(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *c = ir_const_float(b, IR_F32, 0.1, 1, S4);
    ir_op *sum = ir_build(b, IR_OP_REDUCE_SUM, 1, &c, 1, F32, 0);
    ir_op *mx = ir_build(b, IR_OP_REDUCE_MAX, 1, &c, 1, F32, 0);
    ir_op *cs = ir_build(b, IR_OP_CUMSUM, 1, &c, 1, &c->type, 0);
    ir_value *ar = ir_build(b, IR_OP_ARANGE, 0, NULL, 1, &(ir_type){.dtype = IR_I32, .rank = 1, .shape = {4}}, 0)->results[0];
    ir_value *ar2 = ir_binary(b, IR_OP_MUL, ar, ar);
    ir_value *sx = ir_binary(b, IR_OP_MUL, t->s, t->s);
    ir_value *e = ir_unary(b, IR_OP_SQRT, ir_const_float(b, IR_F32, 4.0, 0, NULL));
    print_op(b, "r", 6, (ir_value *[]){sum->results[0], mx->results[0], cs->results[0], ar2, sx, e});
    ret(b);
    pass_fold(t->k);
    assert_module(t,
        "  %1 = const 0.1 : f32[4]\n"
        "  %2 = reduce.sum %1, axis=0 : f32\n"
        "  %3 = const 0.1 : f32\n"
        "  %4 = cumsum %1, axis=0 : f32[4]\n"
        "  %5 = arange : i32[4]\n"
        "  %6 = mul %5, %5 : i32[4]\n"
        "  %7 = mul %s, %s : f32\n"
        "  %8 = const 4.0 : f32\n"
        "  %9 = const 2.0 : f32\n"
        "  print \"r\", %2, %3, %4, %6, %7, %9\n"
        "  return\n"
        "}\n");
}

/* ---- canonicalize ------------------------------------------------------ */

static void test_canonicalize(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *n = tdim(b, t->x, 0);
    ir_value *z = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *v[17];
    v[0] = ir_binary(b, IR_OP_ADD, n, z);
    v[1] = ir_binary(b, IR_OP_ADD, z, n);
    ir_value *one = ir_const_int(b, IR_I32, 1, 0, NULL);
    v[2] = ir_binary(b, IR_OP_MUL, one, n);
    v[3] = ir_binary(b, IR_OP_MUL, n, z);
    v[4] = ir_binary(b, IR_OP_DIV, n, one);
    v[5] = ir_binary(b, IR_OP_SUB, n, z);
    ir_value *pz = ir_const_float(b, IR_F32, 0.0, 0, NULL);
    v[6] = ir_binary(b, IR_OP_ADD, t->s, pz);
    ir_value *nz = ir_const_float(b, IR_F32, -0.0, 0, NULL);
    v[7] = ir_binary(b, IR_OP_ADD, t->s, nz);
    v[8] = ir_binary(b, IR_OP_SUB, t->s, pz);
    v[9] = ir_binary(b, IR_OP_SUB, t->s, nz);
    v[10] = ir_binary(b, IR_OP_MUL, t->s, pz);
    v[11] = ir_cast(b, t->s, IR_F32);
    v[12] = ir_broadcast(b, t->s, 0, NULL);
    ir_value *m = ir_broadcast(b, t->s, 2, (int64_t[]){4, 8});
    ir_op *t1 = ir_build(b, IR_OP_TRANS, 1, &m, 1, &(ir_type){.dtype = IR_F32, .rank = 2, .shape = {8, 4}}, 0);
    t1->attr.perm[0] = 1;
    ir_op *t2 = ir_build(b, IR_OP_TRANS, 1, &t1->results[0], 1, &m->type, 0);
    t2->attr.perm[0] = 1;
    v[13] = t2->results[0];
    ir_value *c = ir_binary(b, IR_OP_CMP_GT, n, z);
    v[14] = ir_select(b, c, t->s, t->s);
    ir_value *yes = ir_const_bool(b, true, 0, NULL);
    ir_op *iff = build_if(b, yes, 1, F32);
    ir_builder rb = {.m = t->m};
    ir_builder_at_end(&rb, iff->blocks[0]);
    ir_value *ng = ir_unary(&rb, IR_OP_NEG, t->s);
    yield(&rb, 1, &ng);
    ir_builder_at_end(&rb, iff->blocks[1]);
    yield(&rb, 1, &t->s);
    v[15] = iff->results[0];
    ir_op *loop = build_for(b, z, z, one, 1, &t->s, (const char *[]){"acc"});
    ir_builder_at_end(&rb, loop->blocks[0]);
    ir_value *e = ir_unary(&rb, IR_OP_EXP, loop->blocks[0]->args[1]);
    yield(&rb, 1, &e);
    v[16] = loop->results[0];
    print_op(b, "c", 17, v);
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    pass_canonicalize(t->k);
    assert_module(t,
        "  %1 = tensor_dim %x, 0 : i32\n"
        "  %2 = const 0 : i32\n"
        "  %3 = const 1 : i32\n"
        "  %4 = const 0 : i32\n"
        "  %5 = const 0.0 : f32\n"
        "  %6 = add %s, %5 : f32\n"
        "  %7 = const -0.0 : f32\n"
        "  %8 = sub %s, %7 : f32\n"
        "  %9 = mul %s, %5 : f32\n"
        "  %10 = broadcast %s : f32[4,8]\n"
        "  %11 = trans %10, perm=[1,0] : f32[8,4]\n"
        "  %12 = cmp.gt %1, %2 : bool\n"
        "  %13 = const true : bool\n"
        "  %14 = neg %s : f32\n"
        "  print \"c\", %1, %1, %1, %4, %1, %1, %6, %s, %s, %8, %9, %s, %s, %10, %s, %14, %s\n"
        "  return\n"
        "}\n");
}

/* A trans pair that does not compose to the identity stays; an if with a
 * false condition takes the else region; a for with 0 < 1 stays. */
static void test_canonicalize_negative(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *m = ir_broadcast(b, t->s, 3, (int64_t[]){2, 3, 4});
    ir_op *t1 = ir_build(b, IR_OP_TRANS, 1, &m, 1, &(ir_type){.dtype = IR_F32, .rank = 3, .shape = {3, 4, 2}}, 0);
    memcpy(t1->attr.perm, (int[]){1, 2, 0}, 3 * sizeof(int));
    ir_op *t2 = ir_build(b, IR_OP_TRANS, 1, &t1->results[0], 1, &(ir_type){.dtype = IR_F32, .rank = 3, .shape = {4, 2, 3}}, 0);
    memcpy(t2->attr.perm, (int[]){1, 2, 0}, 3 * sizeof(int));
    ir_value *no = ir_const_bool(b, false, 0, NULL);
    ir_op *iff = build_if(b, no, 1, F32);
    ir_builder rb = {.m = t->m};
    ir_builder_at_end(&rb, iff->blocks[0]);
    yield(&rb, 1, &t->s);
    ir_builder_at_end(&rb, iff->blocks[1]);
    ir_value *ng = ir_unary(&rb, IR_OP_NEG, t->s);
    ir_value *ng2 = ir_unary(&rb, IR_OP_NEG, ng);
    yield(&rb, 1, &ng2);
    ir_value *z = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *one = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_op *loop = build_for(b, z, one, one, 0, NULL, NULL);
    ir_builder_at_end(&rb, loop->blocks[0]);
    yield(&rb, 0, NULL);
    print_op(b, "c", 2, (ir_value *[]){t2->results[0], iff->results[0]});
    ret(b);
    pass_canonicalize(t->k);
    assert_module(t,
        "  %1 = broadcast %s : f32[2,3,4]\n"
        "  %2 = trans %1, perm=[1,2,0] : f32[3,4,2]\n"
        "  %3 = trans %2, perm=[1,2,0] : f32[4,2,3]\n"
        "  %4 = const false : bool\n"
        "  %5 = neg %s : f32\n"
        "  %6 = neg %5 : f32\n"
        "  %7 = const 0 : i32\n"
        "  %8 = const 1 : i32\n"
        "  for %i.9 = %7 to %8 step %8 {\n"
        "    yield\n"
        "  }\n"
        "  print \"c\", %3, %6\n"
        "  return\n"
        "}\n");
}

static void test_canonicalize_shape_chains(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *b1 = ir_broadcast(b, t->s, 2, (int64_t[]){1, 8});
    ir_value *b2 = ir_broadcast(b, b1, 2, (int64_t[]){4, 8});
    ir_value *r1 = ir_reshape(b, b2, 1, (int64_t[]){32});
    ir_value *r2 = ir_reshape(b, r1, 2, (int64_t[]){4, 8});
    print_op(b, "c", 2, (ir_value *[]){b2, r2});
    ret(b);
    pass_canonicalize(t->k);
    assert_module(t,
        "  %1 = broadcast %s : f32[1,8]\n"
        "  %2 = broadcast %s : f32[4,8]\n"
        "  %3 = reshape %2 : f32[32]\n"
        "  print \"c\", %2, %2\n"
        "  return\n"
        "}\n");
}

/* An if with no results and nothing but pure ops inside goes entirely; one
 * that prints stays. */
static void test_dce_effect_free_if(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *c = ir_binary(b, IR_OP_CMP_GT, t->s, t->s);
    for (int k = 0; k < 2; k++) {
        ir_op *iff = build_if(b, c, 0, NULL);
        ir_builder rb = {.m = t->m};
        ir_builder_at_end(&rb, iff->blocks[0]);
        ir_value *n = ir_unary(&rb, IR_OP_NEG, t->s);
        if (k) print_op(&rb, "p", 1, &n);
        yield(&rb, 0, NULL);
        ir_builder_at_end(&rb, iff->blocks[1]);
        yield(&rb, 0, NULL);
    }
    ret(b);
    pass_dce(t->k);
    assert_module(t,
        "  %1 = cmp.gt %s, %s : bool\n"
        "  if %1 {\n"
        "    %2 = neg %s : f32\n"
        "    print \"p\", %2\n"
        "    yield\n"
        "  } else {\n"
        "    yield\n"
        "  }\n"
        "  return\n"
        "}\n");
}

/* ---- cse --------------------------------------------------------------- */

static void test_cse(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *n0 = tdim(b, t->x, 0);
    ir_value *n0b = tdim(b, t->x, 0);
    ir_value *n1 = tdim(b, t->x, 1);
    ir_value *a1 = ir_binary(b, IR_OP_ADD, n0, n1);
    ir_value *a2 = ir_binary(b, IR_OP_ADD, n1, n0b);
    ir_value *s1 = ir_binary(b, IR_OP_SUB, n0, n1);
    ir_value *s2 = ir_binary(b, IR_OP_SUB, n1, n0);
    ir_value *pz = ir_const_float(b, IR_F32, 0.0, 0, NULL);
    ir_value *nz = ir_const_float(b, IR_F32, -0.0, 0, NULL);
    ir_value *pz2 = ir_const_float(b, IR_F32, 0.0, 0, NULL);
    ir_value *lo = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *st = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_op *loop = build_for(b, lo, n0, st, 1, &pz, (const char *[]){"acc"});
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_value *acc = loop->blocks[0]->args[1];
    ir_value *ia = ir_binary(&lb, IR_OP_ADD, n0, n1);
    ir_value *fa = ir_cast(&lb, ia, IR_F32);
    ir_value *x1 = ir_binary(&lb, IR_OP_ADD, acc, fa);
    ir_value *x2 = ir_binary(&lb, IR_OP_ADD, acc, fa);
    ir_value *p = ir_binary(&lb, IR_OP_MUL, x1, x2);
    yield(&lb, 1, &p);
    ir_value *c = ir_binary(b, IR_OP_CMP_GT, n0, n1);
    ir_op *iff = build_if(b, c, 1, F32);
    ir_builder_at_end(&lb, iff->blocks[0]);
    ir_binary(&lb, IR_OP_SUB, n1, n0);
    ir_value *ng1 = ir_unary(&lb, IR_OP_NEG, t->s);
    yield(&lb, 1, &ng1);
    ir_builder_at_end(&lb, iff->blocks[1]);
    ir_value *ng2 = ir_unary(&lb, IR_OP_NEG, t->s);
    yield(&lb, 1, &ng2);
    ir_value *ng3 = ir_unary(b, IR_OP_NEG, t->s);
    print_op(b, "c", 9, (ir_value *[]){a1, a2, s1, s2, nz, pz2, loop->results[0], iff->results[0], ng3});
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    pass_cse(t->k);
    assert_module(t,
        "  %1 = tensor_dim %x, 0 : i32\n"
        "  %2 = tensor_dim %x, 1 : i32\n"
        "  %3 = add %1, %2 : i32\n"
        "  %4 = sub %1, %2 : i32\n"
        "  %5 = sub %2, %1 : i32\n"
        "  %6 = const 0.0 : f32\n"
        "  %7 = const -0.0 : f32\n"
        "  %8 = const 0 : i32\n"
        "  %9 = const 1 : i32\n"
        "  %10 = for %i.11 = %8 to %1 step %9 iter(%acc.12 = %6) : f32 {\n"
        "    %13 = cast %3 : f32\n"
        "    %14 = add %acc.12, %13 : f32\n"
        "    %15 = mul %14, %14 : f32\n"
        "    yield %15\n"
        "  }\n"
        "  %16 = cmp.gt %1, %2 : bool\n"
        "  %17 = if %16 : f32 {\n"
        "    %18 = neg %s : f32\n"
        "    yield %18\n"
        "  } else {\n"
        "    %19 = neg %s : f32\n"
        "    yield %19\n"
        "  }\n"
        "  %20 = neg %s : f32\n"
        "  print \"c\", %3, %3, %4, %5, %7, %6, %10, %17, %20\n"
        "  return\n"
        "}\n");
}

/* Only perm[0..rank) of a trans means anything: two transposes of one tile
 * whose perm arrays differ past the rank are the same op (the front end used
 * to leave those entries uninitialised, so CSE merged or not by chance). */
static void test_cse_trans_ignores_perm_past_rank(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *x = ir_const_float(b, IR_F32, 1.0, 2, (int64_t[]){4, 8});
    ir_value *x2 = ir_binary(b, IR_OP_ADD, x, x); /* not a constant: nothing folds */
    ir_type tt = ir_type_tile(IR_F32, 2, (int64_t[]){8, 4});
    ir_op *t1 = ir_build(b, IR_OP_TRANS, 1, &x2, 1, &tt, 0);
    ir_op *t2 = ir_build(b, IR_OP_TRANS, 1, &x2, 1, &tt, 0);
    int p1[IR_MAX_RANK] = {1, 0, 7, -3, 99, 5}, p2[IR_MAX_RANK] = {1, 0, 0, 0, 0, 0};
    memcpy(t1->attr.perm, p1, sizeof p1);
    memcpy(t2->attr.perm, p2, sizeof p2);
    print_op(b, "t", 2, (ir_value *[]){t1->results[0], t2->results[0]});
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    pass_cse(t->k);
    char *text = func_text(t->k);
    assert_non_null(strstr(text, "print \"t\", %3, %3\n"));
    free(text);
}

/* Loads are not pure: two identical loads both stay. */
static void test_cse_skips_loads(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *z = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *l1 = ir_build(b, IR_OP_LOAD, 3, (ir_value *[]){t->x, z, z}, 1, F32, 0)->results[0];
    ir_value *l2 = ir_build(b, IR_OP_LOAD, 3, (ir_value *[]){t->x, z, z}, 1, F32, 0)->results[0];
    print_op(b, "l", 2, (ir_value *[]){l1, l2});
    ret(b);
    pass_cse(t->k);
    assert_module(t,
        "  %1 = const 0 : i32\n"
        "  %2 = load %x[%1, %1] : f32\n"
        "  %3 = load %x[%1, %1] : f32\n"
        "  print \"l\", %2, %3\n"
        "  return\n"
        "}\n");
}

/* ---- assert: an effect every pass keeps ---------------------------------- */

static ir_op *assert_op(ir_builder *b, ir_value *c, const char *message)
{
    ir_op *op = ir_build(b, IR_OP_ASSERT, 1, &c, 0, NULL, 0);
    op->attr.str = message;
    return op;
}

/* CSE merges the conditions, never the asserts; canonicalize drops only the
 * one that is constant true; DCE keeps every other assert, what it uses, and
 * a loop whose only effect is an assert. */
/* How often pat occurs in s. */
static int count_text(const char *s, const char *pat)
{
    int n = 0;
    for (const char *at = s; (at = strstr(at, pat)); at++) n++;
    return n;
}

static void test_assert_survives_passes(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *n = tdim(b, t->x, 0);
    ir_value *zero = ir_const_int(b, IR_I32, 0, 0, NULL);
    assert_op(b, ir_binary(b, IR_OP_CMP_GT, n, zero), "a");
    assert_op(b, ir_binary(b, IR_OP_CMP_GT, n, zero), "a");
    assert_op(b, ir_const_bool(b, true, 0, NULL), "t");
    assert_op(b, ir_const_bool(b, false, 0, NULL), "f");
    ir_value *one = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_op *loop = build_for(b, zero, n, one, 0, NULL, NULL);
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    /* i <= n: true in the loop, but not one of the compares with the
     * loop's own bounds that canonicalize settles (i < n would fold). */
    assert_op(&lb, ir_binary(&lb, IR_OP_CMP_LE, loop->blocks[0]->args[0], n), "in \"loop\"");
    yield(&lb, 0, NULL);
    ir_binary(b, IR_OP_ADD, n, one); /* dead */
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    pass_cse(t->k);
    pass_canonicalize(t->k);
    pass_dce(t->k);
    assert_module(t,
        "  %1 = tensor_dim %x, 0 : i32\n"
        "  %2 = const 0 : i32\n"
        "  %3 = cmp.gt %1, %2 : bool\n"
        "  assert %3, \"a\"\n"
        "  assert %3, \"a\"\n"
        "  %4 = const false : bool\n"
        "  assert %4, \"f\"\n"
        "  %5 = const 1 : i32\n"
        "  for %i.6 = %2 to %1 step %5 {\n"
        "    %7 = cmp.le %i.6, %1 : bool\n"
        "    assert %7, \"in \\\"loop\\\"\"\n"
        "    yield\n"
        "  }\n"
        "  return\n"
        "}\n");
    /* The whole pipeline agrees. */
    assert_int_equal(ir_optimize(t->m, &(ir_opt_options){.level = 1, .verify_each = true}),
                     TILE_OK);
    char *txt = module_text(t->m);
    assert_int_equal(count_text(txt, "  assert "), 4);
    free(txt);
}

/* ---- dce --------------------------------------------------------------- */

/* Dead ops, a dead accumulator and a dead if result go; so does the unused
 * load (it only reads: IR_MEM_READ is no reason to keep it). */
static void test_dce(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *n = tdim(b, t->x, 0);
    ir_value *z = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *one = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_value *f0 = ir_const_float(b, IR_F32, 0.0, 0, NULL);
    ir_value *dead = ir_unary(b, IR_OP_NEG, t->s);
    ir_unary(b, IR_OP_EXP, dead);
    ir_op *loop = build_for(b, z, n, one, 3, (ir_value *[]){f0, f0, f0},
                            (const char *[]){"acc", "live", "pass"});
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_value **args = loop->blocks[0]->args;
    ir_value *acc = ir_binary(&lb, IR_OP_ADD, args[1], t->s);
    ir_value *live = ir_binary(&lb, IR_OP_ADD, args[2], t->s);
    yield(&lb, 3, (ir_value *[]){acc, live, args[3]});
    ir_value *c = ir_binary(b, IR_OP_CMP_GT, n, z);
    ir_op *iff = build_if(b, c, 2, (ir_type[]){*F32, *F32});
    ir_builder_at_end(&lb, iff->blocks[0]);
    yield(&lb, 2, (ir_value *[]){t->s, f0});
    ir_builder_at_end(&lb, iff->blocks[1]);
    ir_value *ng = ir_unary(&lb, IR_OP_NEG, t->s);
    yield(&lb, 2, (ir_value *[]){f0, ng});
    ir_build(b, IR_OP_LOAD, 3, (ir_value *[]){t->x, z, z}, 1, F32, 0);
    ir_op *pure_loop = build_for(b, z, n, one, 0, NULL, NULL);
    ir_builder_at_end(&lb, pure_loop->blocks[0]);
    ir_unary(&lb, IR_OP_NEG, t->s);
    yield(&lb, 0, NULL);
    print_op(b, "d", 2, (ir_value *[]){loop->results[1], iff->results[0]});
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    pass_dce(t->k);
    assert_module(t,
        "  %1 = tensor_dim %x, 0 : i32\n"
        "  %2 = const 0 : i32\n"
        "  %3 = const 1 : i32\n"
        "  %4 = const 0.0 : f32\n"
        "  %5 = for %i.6 = %2 to %1 step %3 iter(%live.7 = %4) : f32 {\n"
        "    %8 = add %live.7, %s : f32\n"
        "    yield %8\n"
        "  }\n"
        "  %9 = cmp.gt %1, %2 : bool\n"
        "  %10 = if %9 : f32 {\n"
        "    yield %s\n"
        "  } else {\n"
        "    yield %4\n"
        "  }\n"
        "  print \"d\", %5, %10\n"
        "  return\n"
        "}\n");
    assert_int_equal(loop->results[0]->index, 0);
    assert_int_equal(loop->blocks[0]->args[1]->index, 1);
}

/* while: the counter feeds the condition and stays; a dead product and a
 * loop whose body stores stay/go accordingly. */
static void test_dce_while_and_effects(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *n = tdim(b, t->x, 0);
    ir_value *z = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *one = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_type it[2] = {*I32, *F32};
    ir_op *wh = ir_build(b, IR_OP_WHILE, 2, (ir_value *[]){n, t->s}, 2, it, 2);
    for (int r = 0; r < 2; r++) {
        wh->blocks[r] = ir_block_new(t->k, 2, it);
        wh->blocks[r]->parent = wh;
        wh->blocks[r]->args[0]->name = "c";
        wh->blocks[r]->args[1]->name = "w";
    }
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, wh->blocks[0]);
    ir_value *more = ir_binary(&lb, IR_OP_CMP_GT, wh->blocks[0]->args[0], z);
    ir_build(&lb, IR_OP_CONDITION, 1, &more, 0, NULL, 0);
    ir_builder_at_end(&lb, wh->blocks[1]);
    ir_value *dec = ir_binary(&lb, IR_OP_SUB, wh->blocks[1]->args[0], one);
    ir_value *dbl = ir_binary(&lb, IR_OP_MUL, wh->blocks[1]->args[1], wh->blocks[1]->args[1]);
    yield(&lb, 2, (ir_value *[]){dec, dbl});
    ir_op *store_loop = build_for(b, z, n, one, 0, NULL, NULL);
    ir_builder_at_end(&lb, store_loop->blocks[0]);
    ir_build(&lb, IR_OP_STORE, 4, (ir_value *[]){t->y, store_loop->blocks[0]->args[0], z, t->s}, 0, NULL, 0);
    yield(&lb, 0, NULL);
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    pass_dce(t->k);
    assert_module(t,
        "  %1 = tensor_dim %x, 0 : i32\n"
        "  %2 = const 0 : i32\n"
        "  %3 = const 1 : i32\n"
        "  %4 = while iter(%c.5 = %1) : i32 {\n"
        "    %6 = cmp.gt %c.5, %2 : bool\n"
        "    condition %6\n"
        "  } do (%c.7) {\n"
        "    %8 = sub %c.7, %3 : i32\n"
        "    yield %8\n"
        "  }\n"
        "  for %i.9 = %2 to %1 step %3 {\n"
        "    store %y[%i.9, %2], %s\n"
        "    yield\n"
        "  }\n"
        "  return\n"
        "}\n");
}

/* ---- the pipeline ------------------------------------------------------ */

static void test_optimize_pipeline(void **state)
{
    fx *t = *state;
    build_inline_fixture(t);
    char *dump = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&dump, &len);
    ir_opt_options o = {.level = 1, .verify_each = true, .dump = fp};
    assert_int_equal(ir_optimize(t->m, &o), TILE_OK);
    fclose(fp);
    assert_non_null(strstr(dump, "// after inline\n"));
    assert_non_null(strstr(dump, "// after cse\n"));
    assert_non_null(strstr(dump, "// after dce (no change)\n"));
    free(dump);
    assert_module(t,
        "  %1 = const 2.0 : f32[4]\n"
        "  %2 = const 3 : i32\n"
        "  %3 = const 0 : i32\n"
        "  %4 = const 1 : i32\n"
        "  %5 = for %i.6 = %3 to %2 step %4 iter(%acc.7 = %1) : f32[4] {\n"
        "    %8 = neg %acc.7 : f32[4]\n"
        "    yield %8\n"
        "  }\n"
        "  %9 = for %i.10 = %3 to %2 step %4 iter(%acc.11 = %5) : f32[4] {\n"
        "    %12 = neg %acc.11 : f32[4]\n"
        "    yield %12\n"
        "  }\n"
        "  %13 = const 0 : i32[4]\n"
        "  store %y[%13, %3], %9\n"
        "  return\n"
        "}\n");
}

static void test_optimize_level0_inlines_only(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_int(&t->b, IR_I32, 2, 0, NULL);
    ir_binary(&t->b, IR_OP_ADD, a, a);
    ret(&t->b);
    ir_opt_options o = {.level = 0, .verify_each = true};
    assert_int_equal(ir_optimize(t->m, &o), TILE_OK);
    assert_module(t,
        "  %1 = const 2 : i32\n"
        "  %2 = add %1, %1 : i32\n"
        "  return\n"
        "}\n");
    o.level = 1;
    assert_int_equal(ir_optimize(t->m, &o), TILE_OK);
    assert_module(t, "  return\n}\n");
}

/* Folding, canonicalisation and dce together to a fixpoint: an if on a
 * condition that only becomes constant after folding. */
static void test_optimize_fixpoint(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *two = ir_const_int(b, IR_I32, 2, 0, NULL);
    ir_value *three = ir_const_int(b, IR_I32, 3, 0, NULL);
    ir_value *c = ir_binary(b, IR_OP_CMP_LT, two, three);
    ir_op *iff = build_if(b, c, 1, F32);
    ir_builder rb = {.m = t->m};
    ir_builder_at_end(&rb, iff->blocks[0]);
    ir_value *pz = ir_const_float(&rb, IR_F32, -0.0, 0, NULL);
    ir_value *v = ir_binary(&rb, IR_OP_ADD, t->s, pz);
    yield(&rb, 1, &v);
    ir_builder_at_end(&rb, iff->blocks[1]);
    ir_value *ng = ir_unary(&rb, IR_OP_NEG, t->s);
    yield(&rb, 1, &ng);
    ir_value *z = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_build(b, IR_OP_STORE, 4, (ir_value *[]){t->y, z, z, iff->results[0]}, 0, NULL, 0);
    ret(b);
    ir_opt_options o = {.level = 1, .verify_each = true};
    assert_int_equal(ir_optimize(t->m, &o), TILE_OK);
    assert_module(t,
        "  %1 = const 0 : i32\n"
        "  store %y[%1, %1], %s\n"
        "  return\n"
        "}\n");
}

/* ---- what can fail at run time stays ------------------------------------- */

/* A for with constant bounds that give no trips still runs its step check:
 * canonicalize removes it only when the step is a positive constant. */
static void test_canonicalize_keeps_for_with_unknown_step(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *n = tdim(b, t->x, 0);
    ir_value *lo = ir_const_int(b, IR_I32, 5, 0, NULL);
    ir_value *hi = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *one = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_value *v = ir_const_float(b, IR_F32, 1.0, 0, NULL);
    ir_value *inits[3] = {v};
    const char *names[3] = {"a", "b", "c"};
    ir_value *steps[3] = {n, hi, one}; /* runtime, 0, 1 */
    for (int i = 0; i < 3; i++) {
        ir_op *loop = build_for(b, lo, hi, steps[i], 1, &inits[i], &names[i]);
        ir_builder lb = {.m = t->m};
        ir_builder_at_end(&lb, loop->blocks[0]);
        yield(&lb, 1, &loop->blocks[0]->args[1]);
        if (i < 2) inits[i + 1] = loop->results[0];
        else print_op(b, "r", 1, &loop->results[0]);
    }
    ret(b);
    pass_canonicalize(t->k);
    assert_module(t,
        "  %1 = tensor_dim %x, 0 : i32\n"
        "  %2 = const 5 : i32\n"
        "  %3 = const 0 : i32\n"
        "  %4 = const 1 : i32\n"
        "  %5 = const 1.0 : f32\n"
        "  %6 = for %i.7 = %2 to %3 step %1 iter(%a.8 = %5) : f32 {\n"
        "    yield %a.8\n"
        "  }\n"
        "  %9 = for %i.10 = %2 to %3 step %3 iter(%b.11 = %6) : f32 {\n"
        "    yield %b.11\n"
        "  }\n"
        "  print \"r\", %9\n"
        "  return\n"
        "}\n");
}

/* Where pat first occurs in s, or strlen(s). */
static size_t offset_of_text(const char *s, const char *pat)
{
    size_t n = strlen(s), m = strlen(pat);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, pat, m) == 0) return i;
    return n;
}

/* In `for i = lo to hi step 1` the body runs with lo <= i < hi: i < hi,
 * hi > i, i >= lo and lo <= i fold to true, i >= hi and i < lo to false;
 * with a step that is not a positive constant, or against another value,
 * nothing folds.  And an integer x - x is 0. */
static void test_canonicalize_iv_compares(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *n = tdim(b, t->x, 0);
    ir_value *lo = ir_const_int(b, IR_I32, 2, 0, NULL);
    ir_value *one = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_value *steps[2] = {one, n};
    for (int k = 0; k < 2; k++) {
        ir_op *loop = build_for(b, lo, n, steps[k], 0, NULL, NULL);
        ir_builder lb = {.m = t->m};
        ir_builder_at_end(&lb, loop->blocks[0]);
        ir_value *i = loop->blocks[0]->args[0];
        ir_value *c[7] = {
            ir_binary(&lb, IR_OP_CMP_LT, i, n),  ir_binary(&lb, IR_OP_CMP_GT, n, i),
            ir_binary(&lb, IR_OP_CMP_GE, i, lo), ir_binary(&lb, IR_OP_CMP_LE, lo, i),
            ir_binary(&lb, IR_OP_CMP_GE, i, n),  ir_binary(&lb, IR_OP_CMP_LT, i, lo),
            ir_binary(&lb, IR_OP_CMP_LT, i, ir_binary(&lb, IR_OP_SUB, n, n)),
        };
        print_op(&lb, "c", 7, c);
        yield(&lb, 0, NULL);
    }
    ret(b);
    pass_canonicalize(t->k);
    pass_dce(t->k);
    char *txt = module_text(t->m);
    assert_non_null(txt);
    /* Offsets, not pointers into txt (gcc's dangling-pointer check cannot
     * see that open_memstream's buffer outlives module_text). */
    size_t off2 = offset_of_text(txt, "step %1");   /* the loop of unknown step */
    size_t off1 = offset_of_text(txt, "step %3");
    assert_true(off1 < off2 && off2 < strlen(txt));
    /* Step 1: every compare with the bounds settled; i < n - n is i < 0. */
    char head[4096], tail[4096];
    size_t len = off2 - off1 < sizeof head - 1 ? off2 - off1 : sizeof head - 1;
    memcpy(head, txt + off1, len);
    head[len] = 0;
    snprintf(tail, sizeof tail, "%s", txt + off2);
    free(txt);
    /* Step 1: every compare with the bounds settled (four true, two
     * false); i < n - n is i < 0, kept. */
    assert_int_equal(count_text(head, "cmp."), 1);
    assert_int_equal(count_text(head, "const true"), 4);
    assert_int_equal(count_text(head, "const false"), 2);
    assert_int_equal(count_text(head, "sub"), 0);
    /* Unknown step: nothing settled. */
    assert_int_equal(count_text(tail, "cmp."), 7);
}

/* DCE keeps a dead integer division unless its divisor is a constant
 * without zeros, and a dead for unless its step is a positive constant:
 * both would stop the launch with a runtime error. */
static void build_failing_dead_code(fx *t)
{
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *n = tdim(b, t->x, 0);
    ir_value *c7 = ir_const_int(b, IR_I32, 7, 0, NULL);
    ir_binary(b, IR_OP_DIV, c7, n);                            /* stays: n may be 0 */
    ir_binary(b, IR_OP_REM, n, c7);                            /* goes */
    ir_binary(b, IR_OP_REM, n, ir_const_int(b, IR_I32, 0, 0, NULL)); /* stays: by 0 */
    ir_value *f2 = ir_const_float(b, IR_F32, 2.0, 0, NULL);
    ir_binary(b, IR_OP_DIV, f2, ir_const_float(b, IR_F32, 0.0, 0, NULL)); /* goes */
    ir_value *zero = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_op *l1 = build_for(b, zero, c7, n, 0, NULL, NULL);     /* stays: step may be <= 0 */
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, l1->blocks[0]);
    yield(&lb, 0, NULL);
    ir_op *l2 = build_for(b, zero, c7, ir_const_int(b, IR_I32, 2, 0, NULL), 0, NULL, NULL);
    ir_builder_at_end(&lb, l2->blocks[0]);                     /* goes */
    yield(&lb, 0, NULL);
    ret(b);
}

static void test_dce_keeps_what_can_fail(void **state)
{
    fx *t = *state;
    build_failing_dead_code(t);
    pass_dce(t->k);
    assert_module(t,
        "  %1 = tensor_dim %x, 0 : i32\n"
        "  %2 = const 7 : i32\n"
        "  %3 = div %2, %1 : i32\n"
        "  %4 = const 0 : i32\n"
        "  %5 = rem %1, %4 : i32\n"
        "  %6 = const 0 : i32\n"
        "  for %i.7 = %6 to %2 step %1 {\n"
        "    yield\n"
        "  }\n"
        "  return\n"
        "}\n");
}

/* A scan of the f32[4] x whose combine adds, then (kind 1) divides the
 * i32 casts, which may fail, or (kind 2) adds a loaded element: an effect. */
static ir_op *build_scan(fx *t, ir_value *x, int kind)
{
    ir_op *scan = ir_build(&t->b, IR_OP_SCAN, 1, &x, 1, &x->type, 1);
    ir_type f = ir_type_scalar(IR_F32);
    scan->blocks[0] = ir_block_new(t->k, 2, (ir_type[]){f, f});
    scan->blocks[0]->parent = scan;
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, scan->blocks[0]);
    ir_value **a = scan->blocks[0]->args;
    ir_value *dead = ir_unary(&lb, IR_OP_NEG, a[0]);   /* unused in the region: goes */
    (void)dead;
    ir_value *c = ir_binary(&lb, IR_OP_ADD, a[0], a[1]);
    if (kind == 1) {
        ir_value *n = ir_cast(&lb, a[0], IR_I32);
        ir_value *q = ir_binary(&lb, IR_OP_DIV, n, ir_cast(&lb, a[1], IR_I32));
        c = ir_cast(&lb, q, IR_F32);
    } else if (kind == 2) {
        ir_value *z = ir_const_int(&lb, IR_I32, 0, 0, NULL);
        ir_value *l = ir_build(&lb, IR_OP_LOAD, 3, (ir_value *[]){t->x, z, z}, 1, F32, 0)->results[0];
        c = ir_binary(&lb, IR_OP_ADD, c, l);
    }
    yield(&lb, 1, &c);
    return scan;
}

/* DCE keeps what a used scan's region yields, removes an unused scan, and
 * keeps an unused one whose combine can fail or has an effect. */
static void test_dce_scan(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *x = ir_const_float(b, IR_F32, 1.0, 1, S4);
    ir_op *used = build_scan(t, x, 0);
    build_scan(t, x, 0);   /* unused: goes */
    build_scan(t, x, 1);   /* unused but may fail: stays */
    build_scan(t, x, 2);   /* unused but loads: stays */
    print_op(b, "r", 1, used->results);
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    pass_dce(t->k);
    assert_module(t,
        "  %1 = const 1.0 : f32[4]\n"
        "  %2 = scan %1, axis=0 : f32[4] combine(%3, %4) {\n"
        "    %5 = add %3, %4 : f32\n"
        "    yield %5\n"
        "  }\n"
        "  %6 = scan %1, axis=0 : f32[4] combine(%7, %8) {\n"
        "    %9 = cast %7 : i32\n"
        "    %10 = cast %8 : i32\n"
        "    %11 = div %9, %10 : i32\n"
        "    %12 = cast %11 : f32\n"
        "    yield %12\n"
        "  }\n"
        "  %13 = scan %1, axis=0 : f32[4] combine(%14, %15) {\n"
        "    %16 = add %14, %15 : f32\n"
        "    %17 = const 0 : i32\n"
        "    %18 = load %x[%17, %17] : f32\n"
        "    %19 = add %16, %18 : f32\n"
        "    yield %19\n"
        "  }\n"
        "  print \"r\", %2\n"
        "  return\n"
        "}\n");
}

static tile_status run_kernel(fx *t, float *x, float *y, int64_t rows, float s);

/* The same program, optimised or not, stops with the same runtime error. */
static void test_optimize_keeps_runtime_errors(void **state)
{
    fx *t = *state;
    build_failing_dead_code(t);
    float x[8] = {0}, y[8] = {0};
    assert_int_equal(run_kernel(t, x, y, 0, 1.0f), TILE_ERR_RUNTIME);
    assert_non_null(strstr(t->diags.first->msg, "integer division by zero"));
    ir_opt_options o = {.level = 1, .verify_each = true};
    assert_int_equal(ir_optimize(t->m, &o), TILE_OK);
    t->diags.first = t->diags.last = NULL;
    t->diags.nerrors = 0;
    assert_int_equal(run_kernel(t, x, y, 0, 1.0f), TILE_ERR_RUNTIME);
    assert_non_null(strstr(t->diags.first->msg, "integer division by zero"));
}

/* ---- the property: optimising never changes what the program computes -- */

/* kernel: rows r of x (N x 8): y[r, :] = f(x[r, :]) with folding bait. */
static void build_property_kernel(fx *t)
{
    make_kernel(t);
    ir_builder *b = &t->b;
    static const int64_t S8[1] = {8}, S1x8[2] = {1, 8};
    ir_value *pid = ir_build(b, IR_OP_PROGRAM_ID, 0, NULL, 1, I32, 0)->results[0];
    ir_value *cols = ir_build(b, IR_OP_ARANGE, 0, NULL, 1, &(ir_type){.dtype = IR_I32, .rank = 1, .shape = {8}}, 0)->results[0];
    ir_value *ld = ir_build(b, IR_OP_LOAD, 3, (ir_value *[]){t->x, pid, cols}, 1,
                            &(ir_type){.dtype = IR_F32, .rank = 1, .shape = {8}}, 0)->results[0];
    ir_value *k3 = ir_const_float(b, IR_F32, 3.0, 1, S8);
    ir_value *k05 = ir_const_float(b, IR_F32, 0.5, 1, S8);
    ir_value *kk = ir_binary(b, IR_OP_MUL, k3, k05);             /* folds to 1.5 */
    ir_value *nz = ir_const_float(b, IR_F32, -0.0, 1, S8);
    ir_value *x1 = ir_binary(b, IR_OP_ADD, ld, nz);              /* canon: x + -0 */
    ir_value *p1 = ir_binary(b, IR_OP_MUL, x1, kk);
    ir_value *p2 = ir_binary(b, IR_OP_MUL, ld, kk);              /* cse after canon */
    ir_value *sum = ir_binary(b, IR_OP_ADD, p1, p2);
    ir_value *e = ir_unary(b, IR_OP_EXP, ir_const_float(b, IR_F32, 1.0, 1, S8));
    ir_value *v = ir_binary(b, IR_OP_SUB, sum, e);
    ir_value *lo = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *hi = ir_const_int(b, IR_I32, 3, 0, NULL);
    ir_value *st = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_op *loop = build_for(b, lo, hi, st, 2, (ir_value *[]){v, v}, (const char *[]){"acc", "dead"});
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_value *ivf = ir_broadcast(&lb, ir_cast(&lb, loop->blocks[0]->args[0], IR_F32), 1, S8);
    ir_value *na = ir_binary(&lb, IR_OP_ADD, loop->blocks[0]->args[1], ivf);
    ir_value *nd = ir_binary(&lb, IR_OP_MUL, loop->blocks[0]->args[2], ivf);
    yield(&lb, 2, (ir_value *[]){na, nd});
    ir_value *m = ir_reshape(b, loop->results[0], 2, S1x8);
    ir_value *m2 = ir_reshape(b, m, 1, S8);
    ir_build(b, IR_OP_STORE, 4, (ir_value *[]){t->y, pid, cols, m2}, 0, NULL, 0);
    ret(b);
    ir_builder g = {.m = t->m};
    ir_builder_before(&g, t->k->grid->last);
    ir_value *rows = tdim(&g, t->k->grid->args[0], 0);
    ir_op_set_operand(t->k->grid->last, 0, rows);
}

static tile_status run_kernel(fx *t, float *x, float *y, int64_t rows, float s)
{
    interp_arg args[3];
    memset(args, 0, sizeof args);
    for (int i = 0; i < 2; i++) {
        interp_tensor *tt = &args[i].tensor;
        tt->dtype = IR_F32;
        tt->rank = 2;
        tt->shape[0] = rows;
        tt->shape[1] = 8;
        tt->data = i ? (void *)y : (void *)x;
        interp_contiguous_strides(tt);
    }
    args[2].scalar.f = s;
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);
    interp_options o = {.print_out = fp};
    tile_status st = interp_launch(t->k, args, 3, &t->diags, &o);
    fclose(fp);
    free(out);
    return st;
}

static void test_optimize_preserves_results(void **state)
{
    fx *t = *state;
    build_property_kernel(t);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    enum { ROWS = 5 };
    float x[ROWS * 8], y0[ROWS * 8], y1[ROWS * 8];
    for (int i = 0; i < ROWS * 8; i++) {
        x[i] = (float)((i * 37) % 23) / 7.0f - 1.5f;
        y0[i] = y1[i] = -123.0f;
    }
    x[3] = -0.0f;
    assert_int_equal(run_kernel(t, x, y0, ROWS, 2.0f), TILE_OK);
    ir_opt_options o = {.level = 1, .verify_each = true};
    assert_int_equal(ir_optimize(t->m, &o), TILE_OK);
    assert_int_equal(run_kernel(t, x, y1, ROWS, 2.0f), TILE_OK);
    assert_memory_equal(y0, y1, sizeof y0);
    /* The passes did fire: the dead carried value and the exp are gone, the
     * constant product is folded, and the reshape pair collapsed. */
    char *txt = module_text(t->m);
    if (getenv("DUMP")) fputs(txt, stderr);
    assert_null(strstr(txt, "%dead"));
    assert_null(strstr(txt, "exp"));
    assert_non_null(strstr(txt, "const 1.5 : f32[8]"));
    assert_null(strstr(txt, "reshape"));
    free(txt);
}

/* NaN payloads and signs are not part of a result: canonicalize turns
 * x * 1 into x (an x86 multiply would quiet a signalling NaN) and CSE
 * merges a + b with b + a (which return different operands' NaNs), so
 * stores write the one canonical NaN and -O0 and -O1 stay bit-identical. */
static void test_optimize_preserves_nan_bits(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    static const ir_type V8 = {.kind = IR_TY_TILE, .dtype = IR_F32, .rank = 1, .shape = {8}};
    ir_value *cols = ir_build(b, IR_OP_ARANGE, 0, NULL, 1, &(ir_type){.dtype = IR_I32, .rank = 1, .shape = {8}}, 0)->results[0];
    ir_value *row[3];
    for (int r = 0; r < 3; r++) row[r] = ir_const_int(b, IR_I32, r, 0, NULL);
    ir_value *a = ir_build(b, IR_OP_LOAD, 3, (ir_value *[]){t->x, row[0], cols}, 1, &V8, 0)->results[0];
    ir_value *na = ir_unary(b, IR_OP_NEG, a);
    ir_value *vals[3] = {ir_binary(b, IR_OP_MUL, a, ir_const_float(b, IR_F32, 1.0, 1, (int64_t[]){8})),
                         ir_binary(b, IR_OP_ADD, a, na), ir_binary(b, IR_OP_ADD, na, a)};
    for (int r = 0; r < 3; r++)
        ir_build(b, IR_OP_STORE, 4, (ir_value *[]){t->y, row[r], cols, vals[r]}, 0, NULL, 0);
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "build"), TILE_OK);
    static const uint32_t bits[8] = {0x7f800001u, 0xff800001u, 0x7fc00123u, 0xffc00456u,
                                     0x3f800000u, 0x80000000u, 0x7f800000u, 0x7fffffffu};
    float x[3 * 8] = {0}, y0[3 * 8], y1[3 * 8];
    memcpy(x, bits, sizeof bits);
    for (int i = 0; i < 3 * 8; i++) y0[i] = y1[i] = -1.0f;
    assert_int_equal(run_kernel(t, x, y0, 3, 1.0f), TILE_OK);
    ir_opt_options o = {.level = 1, .verify_each = true};
    assert_int_equal(ir_optimize(t->m, &o), TILE_OK);
    assert_int_equal(run_kernel(t, x, y1, 3, 1.0f), TILE_OK);
    assert_memory_equal(y0, y1, sizeof y0);
    uint32_t got;
    memcpy(&got, &y1[0], 4);
    assert_int_equal(got, 0x7fc00000u);
    memcpy(&got, &y1[3], 4);
    assert_int_equal(got, 0x7fc00000u);
    assert_true(y1[4] == 1.0f && y1[8 + 4] == 0.0f);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_inline_nested),
        T(test_inline_multi_result_in_region),
        T(test_inline_recursion_is_internal_error),
        T(test_fold),
        T(test_fold_leaves_non_splats),
        T(test_canonicalize),
        T(test_canonicalize_negative),
        T(test_canonicalize_shape_chains),
        T(test_dce_effect_free_if),
        T(test_cse),
        T(test_cse_trans_ignores_perm_past_rank),
        T(test_cse_skips_loads),
        T(test_assert_survives_passes),
        T(test_dce),
        T(test_dce_while_and_effects),
        T(test_optimize_pipeline),
        T(test_optimize_level0_inlines_only),
        T(test_optimize_fixpoint),
        T(test_optimize_preserves_results),
        T(test_canonicalize_keeps_for_with_unknown_step),
        T(test_canonicalize_iv_compares),
        T(test_dce_keeps_what_can_fail),
        T(test_dce_scan),
        T(test_optimize_keeps_runtime_errors),
        T(test_optimize_preserves_nan_bits),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
