/* test_ir.c - the IR core: types, builder, editing, the printer's exact
 * text, and the verifier (accepts good IR, rejects each kind of broken IR
 * with the exact message).  Expected printer output is written by hand from
 * docs/ir.md, not copied from a run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "ir_test_util.h"

static const int64_t S4[1] = {4}, S8[1] = {8}, S4x8[2] = {4, 8}, S8x4[2] = {8, 4};

/* ---- types ------------------------------------------------------------- */

static void test_dtypes(void **state)
{
    (void)state;
    static const char *names[IR_DTYPE_COUNT] = {"bool", "i32", "i64", "f16", "bf16", "f32"};
    static const int sizes[IR_DTYPE_COUNT] = {1, 4, 8, 2, 2, 4};
    for (int t = 0; t < IR_DTYPE_COUNT; t++) {
        ir_dtype back;
        assert_string_equal(ir_dtype_name((ir_dtype)t), names[t]);
        assert_true(ir_dtype_from_name(names[t], &back));
        assert_int_equal(back, t);
        assert_int_equal(ir_dtype_size((ir_dtype)t), sizes[t]);
    }
    ir_dtype d;
    assert_false(ir_dtype_from_name("f64", &d));
    assert_false(ir_dtype_from_name("", &d));
    assert_true(ir_dtype_is_float(IR_BF16) && ir_dtype_is_float(IR_F16) && ir_dtype_is_float(IR_F32));
    assert_false(ir_dtype_is_float(IR_I32) || ir_dtype_is_float(IR_BOOL));
    assert_true(ir_dtype_is_int(IR_I32) && ir_dtype_is_int(IR_I64));
    assert_false(ir_dtype_is_int(IR_BOOL) || ir_dtype_is_int(IR_F32));
}

static void test_types(void **state)
{
    (void)state;
    char buf[64];
    ir_type s = ir_type_scalar(IR_I32);
    ir_type t = ir_type_tile(IR_F32, 2, (int64_t[]){64, 128});
    ir_type u = ir_type_tile(IR_BF16, 2, (int64_t[]){64, 128});
    ir_type q = ir_type_tensor(IR_BF16, 4);
    assert_string_equal(ir_type_str(&s, buf, sizeof buf), "i32");
    assert_string_equal(ir_type_str(&t, buf, sizeof buf), "f32[64,128]");
    assert_string_equal(ir_type_str(&q, buf, sizeof buf), "tensor<bf16,4>");
    assert_string_equal(ir_shape_str(2, t.shape, buf, sizeof buf), "[64,128]");
    assert_string_equal(ir_shape_str(0, t.shape, buf, sizeof buf), "[]");
    /* Truncation stays NUL-terminated. */
    assert_string_equal(ir_type_str(&t, buf, 6), "f32[6");
    assert_int_equal(ir_type_numel(&t), 64 * 128);
    assert_int_equal(ir_type_numel(&s), 1);
    /* An element count past int64 saturates (no signed overflow). */
    ir_type huge = ir_type_tile(IR_F32, 3, (int64_t[]){1LL << 40, 1LL << 40, 1LL << 40});
    assert_true(ir_type_numel(&huge) == INT64_MAX);
    assert_true(ir_type_same_shape(&t, &u));
    assert_false(ir_type_equal(&t, &u));
    ir_type t2 = t;
    assert_true(ir_type_equal(&t, &t2));
    t2.shape[1] = 64;
    assert_false(ir_type_equal(&t, &t2));
    assert_false(ir_type_same_shape(&s, &t));
    ir_type q2 = ir_type_tensor(IR_BF16, 4);
    assert_true(ir_type_equal(&q, &q2));
    assert_false(ir_type_equal(&q, &u));
}

static void test_scalar_round(void **state)
{
    (void)state;
    /* bf16 keeps 8 significant bits: 1 + 2^-8 is a tie -> even (1.0);
     * 1 + 3*2^-8 is a tie -> even (1 + 2^-6). */
    assert_true(ir_scalar_round(IR_BF16, 1.0 + 1.0 / 256).f == 1.0);
    assert_true(ir_scalar_round(IR_BF16, 1.0 + 3.0 / 256).f == 1.0 + 1.0 / 64);
    assert_true(ir_scalar_round(IR_BF16, 0.1).f == 0.10009765625);
    /* f16 keeps 11 significant bits. */
    assert_true(ir_scalar_round(IR_F16, 1.0 + 1.0 / 2048).f == 1.0);
    assert_true(ir_scalar_round(IR_F16, 1.0 + 3.0 / 2048).f == 1.0 + 1.0 / 512);
    assert_true(isinf(ir_scalar_round(IR_F16, 70000.0).f));
    assert_true(ir_scalar_round(IR_F32, 0.1).f == (double)0.1f);
    assert_true(isnan(ir_scalar_round(IR_BF16, NAN).f));
    /* Integers wrap. */
    assert_int_equal(ir_scalar_round(IR_I32, 2147483648.0).i, INT32_MIN);
    assert_int_equal(ir_scalar_round(IR_I32, 4294967297.0).i, 1);
    assert_int_equal(ir_scalar_round(IR_I32, -1.0).i, -1);
    assert_int_equal(ir_scalar_round(IR_I32, -2.75).i, -2);
    assert_int_equal(ir_scalar_round(IR_I64, 9223372036854775808.0).i, INT64_MIN);
    assert_int_equal(ir_scalar_round(IR_I64, 18446744073709551616.0 + 4096.0).i, 4096);
    assert_int_equal(ir_scalar_round(IR_I64, -9223372036854775808.0).i, INT64_MIN);
    assert_int_equal(ir_scalar_round(IR_I64, NAN).i, 0);
    assert_int_equal(ir_scalar_round(IR_BOOL, 2.0).i, 1);
    assert_int_equal(ir_scalar_round(IR_BOOL, 0.0).i, 0);
    /* A double rounds to bf16/f16 once, not through f32: just above a tie,
     * f32 would land on the tie and round to even (down). */
    double above = ldexp(1, -30);
    assert_true(ir_scalar_round(IR_BF16, 1.0 + 1.0 / 256 + above).f == 1.0 + 1.0 / 128);
    assert_true(ir_scalar_round(IR_BF16, -(1.0 + 1.0 / 256 + above)).f == -(1.0 + 1.0 / 128));
    assert_true(ir_scalar_round(IR_F16, 1.0 + 1.0 / 2048 + above).f == 1.0 + 1.0 / 1024);
    /* Just below the f16 overflow threshold (65520) stays finite. */
    assert_true(ir_scalar_round(IR_F16, 65520.0 - ldexp(1, -20)).f == 65504.0);
    assert_true(isinf(ir_scalar_round(IR_F16, 65520.0).f));
    assert_true(isinf(ir_scalar_round(IR_BF16, 1e300).f));
    assert_true(ir_scalar_round(IR_BF16, 1e-300).f == 0.0);
}

/* Sizes near SIZE_MAX fail instead of wrapping around to a small block. */
static void test_arena_limits(void **state)
{
    (void)state;
    arena a;
    arena_init(&a);
    assert_null(arena_alloc(&a, SIZE_MAX));
    assert_null(arena_alloc(&a, SIZE_MAX - 3));
    assert_null(arena_calloc(&a, SIZE_MAX / 8, 8));
    assert_null(arena_calloc(&a, 3, SIZE_MAX / 2));
    unsigned char *big = arena_alloc(&a, 200000); /* larger than a chunk */
    assert_non_null(big);
    big[199999] = 1;
    assert_non_null(arena_alloc(&a, 0));
    arena_free(&a);
}

/* ---- construction and editing ------------------------------------------ */

static void test_func_params(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_func *k = t->k;
    assert_int_equal(k->nparams, 3);
    assert_int_equal(k->body->nargs, 3);
    assert_int_equal(k->grid->nargs, 3);
    assert_ptr_equal(k->body->args[0], t->x);
    assert_ptr_not_equal(k->grid->args[0], t->x);
    assert_true(ir_type_equal(&k->grid->args[2]->type, &t->s->type));
    assert_ptr_equal(t->s->owner, k->body);
    assert_int_equal(t->s->index, 2);
    assert_null(t->s->def);
    assert_string_equal(t->s->name, "s");
    assert_string_equal(k->params[1].name, "y");
    assert_true(k->params[1].is_out);
    assert_ptr_equal(ir_module_find(t->m, "k"), k);
    assert_null(ir_module_find(t->m, "nope"));

    ir_func *f = ir_func_new(t->m, "f", IR_FUNC_FN, (src_loc){0});
    assert_null(f->grid);
    add_scalar(f, "a", IR_F32);
    assert_int_equal(f->body->nargs, 1);
    ir_func_set_results(f, 1, (ir_type[]){ir_type_scalar(IR_F32)});
    assert_int_equal(f->nresults, 1);
    assert_ptr_equal(t->m->first, k);
    assert_ptr_equal(t->m->last, f);
    assert_ptr_equal(k->next, f);

    /* Every value in the module has a distinct id. */
    int ids[6] = {k->body->args[0]->id, k->body->args[1]->id, k->body->args[2]->id,
                  k->grid->args[0]->id, k->grid->args[2]->id, f->body->args[0]->id};
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++) assert_int_not_equal(ids[i], ids[j]);
}

static void test_builders(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    b->loc = (src_loc){"k.tile", 3, 7};
    ir_value *a = ir_const_float(b, IR_BF16, 0.1, 1, S4);
    assert_true(a->def->attr.cval.f == 0.10009765625);
    assert_int_equal(a->def->loc.line, 3);
    ir_value *c = ir_binary(b, IR_OP_CMP_LT, a, a);
    assert_int_equal(c->type.dtype, IR_BOOL);
    assert_int_equal(c->type.rank, 1);
    ir_value *sum = ir_binary(b, IR_OP_ADD, a, a);
    assert_true(ir_type_equal(&sum->type, &a->type));
    ir_value *f = ir_cast(b, sum, IR_F32);
    assert_int_equal(f->type.dtype, IR_F32);
    assert_int_equal(f->type.shape[0], 4);
    ir_value *bc = ir_broadcast(b, f, 2, S8x4);
    assert_int_equal(bc->type.rank, 2);
    ir_value *rs = ir_reshape(b, bc, 2, S4x8);
    assert_int_equal(rs->type.shape[0], 4);
    assert_int_equal(rs->type.dtype, IR_F32);
    ir_value *sel = ir_select(b, c, a, sum);
    assert_true(ir_type_equal(&sel->type, &a->type));
    ir_value *e = ir_unary(b, IR_OP_EXP, a);
    assert_true(ir_type_equal(&e->type, &a->type));
    ir_value *i = ir_const_int(b, IR_I32, 4294967296LL + 5, 0, NULL);
    assert_int_equal(i->def->attr.cval.i, 5);
    ir_value *bo = ir_const_bool(b, true, 0, NULL);
    assert_int_equal(bo->def->attr.cval.i, 1);
    ir_value *fi = ir_const_int(b, IR_F32, 3, 0, NULL);
    assert_true(fi->def->attr.cval.f == 3.0);
    /* Program order: the ops were appended in build order. */
    assert_ptr_equal(t->k->body->first, a->def);
    assert_ptr_equal(t->k->body->last, fi->def);
    assert_ptr_equal(a->def->parent, t->k->body);
    /* Insert before. */
    ir_builder bb = {.m = t->m};
    ir_builder_before(&bb, c->def);
    ir_value *z = ir_const_int(&bb, IR_I32, 0, 0, NULL);
    assert_ptr_equal(z->def->next, c->def);
    assert_ptr_equal(a->def->next, z->def);
    ir_op_remove(z->def);
    assert_ptr_equal(a->def->next, c->def);
    assert_ptr_equal(c->def->prev, a->def);
    assert_null(z->def->parent);
    ir_op_remove(a->def);
    assert_ptr_equal(t->k->body->first, c->def);
    ir_op_insert_before(c->def, a->def);
    assert_ptr_equal(t->k->body->first, a->def);
    ir_op_remove(fi->def);
    assert_ptr_equal(t->k->body->last, bo->def);
    ir_op_append(t->k->body, fi->def);
    assert_ptr_equal(t->k->body->last, fi->def);
    assert_null(fi->def->next);
}

typedef struct walk_log { char names[256]; } walk_log;

static void log_op(ir_op *op, void *ctx)
{
    walk_log *l = ctx;
    strcat(l->names, ir_op_table[op->code].name);
    strcat(l->names, " ");
}

/* %r = if %c { %u = neg %a; yield %u } else { yield %a }; replace %a. */
static void test_walk_and_replace(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *a = ir_const_float(b, IR_F32, 1.0, 0, NULL);
    ir_value *a2 = ir_const_float(b, IR_F32, 2.0, 0, NULL);
    ir_value *c = ir_const_bool(b, true, 0, NULL);
    ir_type ft = ir_type_scalar(IR_F32);
    ir_op *iff = ir_build(b, IR_OP_IF, 1, &c, 1, &ft, 2);
    for (int r = 0; r < 2; r++) {
        ir_block *blk = ir_op_new_region(iff, r, 0, NULL);
        assert_ptr_equal(iff->blocks[r], blk);
        assert_ptr_equal(blk->parent, iff);
        assert_ptr_equal(blk->func, t->k);
    }
    assert_null(ir_op_new_region(iff, 2, 0, NULL));
    ir_builder rb = {.m = t->m};
    ir_builder_at_end(&rb, iff->blocks[0]);
    ir_value *u = ir_unary(&rb, IR_OP_NEG, a);
    ir_build(&rb, IR_OP_YIELD, 1, &u, 0, NULL, 0);
    ir_builder_at_end(&rb, iff->blocks[1]);
    ir_build(&rb, IR_OP_YIELD, 1, &a, 0, NULL, 0);
    ir_value *use = ir_binary(b, IR_OP_ADD, iff->results[0], a);
    ret(b);
    (void)use;

    walk_log l = {{0}};
    ir_walk(t->k->body, log_op, &l);
    assert_string_equal(l.names, "const const const if neg yield yield add return ");

    ir_replace_uses(t->k->body, a, a2);
    assert_ptr_equal(u->def->operands[0], a2);
    assert_ptr_equal(iff->blocks[1]->last->operands[0], a2);
    assert_ptr_equal(use->def->operands[1], a2);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
}

/* ---- printer ----------------------------------------------------------- */

static void test_print_kernel(void **state)
{
    fx *t = *state;
    static const char *const dims[2] = {"R", "C"};
    static const int64_t sizes[2] = {-1, 64};
    ir_func *k = ir_func_new(t->m, "scale_rows", IR_FUNC_KERNEL, (src_loc){0});
    ir_value *x = add_tensor(k, "x", IR_F32, 2, dims, sizes, false);
    ir_value *y = add_tensor(k, "y", IR_F32, 2, dims, sizes, true);
    ir_value *s = add_scalar(k, "s", IR_F32);
    k->nconsts = 2;
    k->consts = (ir_const_binding[]){{"BR", "16", false, {0}}, {"C", "64", true, {0}}};
    ir_builder g = {.m = t->m};
    ir_builder_at_end(&g, k->grid);
    ir_op *dim = ir_build(&g, IR_OP_TENSOR_DIM, 1, &k->grid->args[0], 1,
                          (ir_type[]){ir_type_scalar(IR_I32)}, 0);
    dim->attr.i = 0;
    ir_value *one = ir_const_int(&g, IR_I32, 1, 0, NULL);
    ir_build(&g, IR_OP_YIELD, 3, (ir_value *[]){dim->results[0], one, one}, 0, NULL, 0);

    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, k->body);
    ir_op *pid = ir_build(&b, IR_OP_PROGRAM_ID, 0, NULL, 1, (ir_type[]){ir_type_scalar(IR_I32)}, 0);
    ir_value *br = ir_const_int(&b, IR_I32, 16, 0, NULL);
    ir_value *row0 = ir_binary(&b, IR_OP_MUL, pid->results[0], br);
    int64_t s16[1] = {16}, s64[1] = {64}, s16x64[2] = {16, 64};
    ir_value *row0b = ir_broadcast(&b, row0, 1, s16);
    ir_value *ar = ir_build(&b, IR_OP_ARANGE, 0, NULL, 1, (ir_type[]){ir_type_tile(IR_I32, 1, s16)}, 0)->results[0];
    ir_value *rows = ir_binary(&b, IR_OP_ADD, row0b, ar);
    rows->name = "rows";
    ir_value *cols = ir_build(&b, IR_OP_ARANGE, 0, NULL, 1, (ir_type[]){ir_type_tile(IR_I32, 1, s64)}, 0)->results[0];
    ir_value *tile = ir_build(&b, IR_OP_LOAD, 3, (ir_value *[]){x, rows, cols}, 1,
                              (ir_type[]){ir_type_tile(IR_F32, 2, s16x64)}, 0)->results[0];
    ir_value *sb = ir_broadcast(&b, s, 2, s16x64);
    ir_value *prod = ir_binary(&b, IR_OP_MUL, tile, sb);
    ir_build(&b, IR_OP_STORE, 4, (ir_value *[]){y, rows, cols, prod}, 0, NULL, 0);
    ret(&b);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
    assert_func_text(k,
        "kernel @scale_rows(%x: tensor<f32>[R,64], %y: out tensor<f32>[R,64], %s: f32) consts(BR=16, C=64 auto) {\n"
        "grid:\n"
        "  %0 = tensor_dim %x, 0 : i32\n"
        "  %1 = const 1 : i32\n"
        "  yield %0, %1, %1\n"
        "body:\n"
        "  %2 = program_id 0 : i32\n"
        "  %3 = const 16 : i32\n"
        "  %4 = mul %2, %3 : i32\n"
        "  %5 = broadcast %4 : i32[16]\n"
        "  %6 = arange : i32[16]\n"
        "  %rows.7 = add %5, %6 : i32[16]\n"
        "  %8 = arange : i32[64]\n"
        "  %9 = load %x[%rows.7, %8] : f32[16,64]\n"
        "  %10 = broadcast %s : f32[16,64]\n"
        "  %11 = mul %9, %10 : f32[16,64]\n"
        "  store %y[%rows.7, %8], %11\n"
        "  return\n"
        "}\n");
}

/* An fn with for, if, while, print, masked load-free control flow. */
static ir_func *build_control_fn(fx *t)
{
    ir_func *f = ir_func_new(t->m, "f", IR_FUNC_FN, (src_loc){0});
    ir_type v4 = ir_type_tile(IR_F32, 1, S4), i32 = ir_type_scalar(IR_I32);
    ir_value *a = ir_func_add_param(f, &(ir_param){.name = "a", .type = v4});
    ir_value *n = add_scalar(f, "n", IR_I32);
    ir_func_set_results(f, 1, &v4);
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, f->body);
    ir_value *zero = ir_const_int(&b, IR_I32, 0, 0, NULL);
    ir_value *one = ir_const_int(&b, IR_I32, 1, 0, NULL);
    ir_op *loop = ir_build(&b, IR_OP_FOR, 4, (ir_value *[]){zero, n, one, a}, 1, &v4, 1);
    loop->blocks[0] = ir_block_new(f, 2, (ir_type[]){i32, v4});
    loop->blocks[0]->parent = loop;
    loop->blocks[0]->args[0]->name = "i";
    loop->blocks[0]->args[1]->name = "acc";
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_value *e = ir_unary(&lb, IR_OP_EXP, loop->blocks[0]->args[1]);
    ir_build(&lb, IR_OP_YIELD, 1, &e, 0, NULL, 0);

    ir_value *c = ir_binary(&b, IR_OP_CMP_GT, n, zero);
    ir_op *iff = ir_build(&b, IR_OP_IF, 1, &c, 1, &v4, 2);
    for (int r = 0; r < 2; r++) {
        iff->blocks[r] = ir_block_new(f, 0, NULL);
        iff->blocks[r]->parent = iff;
    }
    ir_builder_at_end(&lb, iff->blocks[0]);
    ir_build(&lb, IR_OP_YIELD, 1, &loop->results[0], 0, NULL, 0);
    ir_builder_at_end(&lb, iff->blocks[1]);
    ir_value *ng = ir_unary(&lb, IR_OP_NEG, loop->results[0]);
    ir_build(&lb, IR_OP_YIELD, 1, &ng, 0, NULL, 0);

    ir_op *wh = ir_build(&b, IR_OP_WHILE, 1, &n, 1, &i32, 2);
    for (int r = 0; r < 2; r++) {
        wh->blocks[r] = ir_block_new(f, 1, &i32);
        wh->blocks[r]->parent = wh;
        wh->blocks[r]->args[0]->name = "c";
    }
    ir_builder_at_end(&lb, wh->blocks[0]);
    ir_value *more = ir_binary(&lb, IR_OP_CMP_GT, wh->blocks[0]->args[0], zero);
    ir_build(&lb, IR_OP_CONDITION, 1, &more, 0, NULL, 0);
    ir_builder_at_end(&lb, wh->blocks[1]);
    ir_value *dec = ir_binary(&lb, IR_OP_SUB, wh->blocks[1]->args[0], one);
    ir_build(&lb, IR_OP_YIELD, 1, &dec, 0, NULL, 0);

    ir_op *pr = ir_build(&b, IR_OP_PRINT, 2, (ir_value *[]){wh->results[0], iff->results[0]}, 0, NULL, 0);
    pr->attr.str = "n=\"x\"\n";
    ir_build(&b, IR_OP_RETURN, 1, &iff->results[0], 0, NULL, 0);
    return f;
}

static void test_print_control(void **state)
{
    fx *t = *state;
    ir_func *f = build_control_fn(t);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
    assert_func_text(f,
        "fn @f(%a: f32[4], %n: i32) -> (f32[4]) {\n"
        "  %0 = const 0 : i32\n"
        "  %1 = const 1 : i32\n"
        "  %2 = for %i.3 = %0 to %n step %1 iter(%acc.4 = %a) : f32[4] {\n"
        "    %5 = exp %acc.4 : f32[4]\n"
        "    yield %5\n"
        "  }\n"
        "  %6 = cmp.gt %n, %0 : bool\n"
        "  %7 = if %6 : f32[4] {\n"
        "    yield %2\n"
        "  } else {\n"
        "    %8 = neg %2 : f32[4]\n"
        "    yield %8\n"
        "  }\n"
        "  %9 = while iter(%c.10 = %n) : i32 {\n"
        "    %11 = cmp.gt %c.10, %0 : bool\n"
        "    condition %11\n"
        "  } do (%c.12) {\n"
        "    %13 = sub %c.12, %1 : i32\n"
        "    yield %13\n"
        "  }\n"
        "  print \"n=\\\"x\\\"\\n\", %9, %7\n"
        "  return %7\n"
        "}\n");
}

/* ir_for_add_carried: the loop gains an operand, a body argument, a yield
 * operand and a result, all of init's type, and stays valid. */
static ir_value *doubled(ir_value *arg, void *ctx)
{
    ir_builder *lb = ctx;
    return ir_binary(lb, IR_OP_ADD, arg, arg);
}

static void test_for_add_carried(void **state)
{
    fx *t = *state;
    ir_func *f = build_control_fn(t);
    ir_op *loop = f->body->first;
    while (loop && loop->code != IR_OP_FOR) loop = loop->next;
    assert_non_null(loop);
    ir_builder lb = {.m = t->m, .block = loop->blocks[0], .before = loop->blocks[0]->last};
    ir_value *zero = f->body->first->results[0];   /* %0 = const 0 : i32 */
    ir_value *r = ir_for_add_carried(loop, zero, doubled, &lb);
    assert_non_null(r);
    assert_int_equal(loop->noperands, 5);
    assert_int_equal(loop->nresults, 2);
    assert_ptr_equal(loop->results[1], r);
    assert_int_equal(r->index, 1);
    assert_ptr_equal(r->def, loop);
    ir_block *body = loop->blocks[0];
    assert_int_equal(body->nargs, 3);
    assert_int_equal(body->args[2]->type.dtype, IR_I32);
    ir_op *y = body->last;
    assert_int_equal(y->noperands, 2);
    assert_int_equal(y->operands[1]->def->code, IR_OP_ADD);
    assert_ptr_equal(y->operands[1]->def->operands[0], body->args[2]);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
    /* Not a for: nothing added. */
    ir_op *wh = loop->next;
    while (wh && wh->code != IR_OP_WHILE) wh = wh->next;
    assert_null(ir_for_add_carried(wh, zero, doubled, &lb));
}

static void test_print_consts_and_attrs(void **state)
{
    fx *t = *state;
    ir_func *f = ir_func_new(t->m, "g", IR_FUNC_FN, (src_loc){0});
    ir_func *callee = ir_func_new(t->m, "h", IR_FUNC_FN, (src_loc){0});
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, f->body);
    ir_const_float(&b, IR_F32, 0.1, 0, NULL);
    ir_const_float(&b, IR_F32, 1.0, 0, NULL);
    ir_const_float(&b, IR_F32, -0.0, 0, NULL);
    ir_const_float(&b, IR_F32, 1e20, 0, NULL);
    ir_const_float(&b, IR_F32, 1.5e-5, 0, NULL);
    ir_const_float(&b, IR_F32, INFINITY, 0, NULL);
    ir_const_float(&b, IR_F32, -INFINITY, 0, NULL);
    ir_const_float(&b, IR_F32, NAN, 0, NULL);
    ir_const_float(&b, IR_BF16, 0.1, 0, NULL);
    ir_const_float(&b, IR_F16, 65504.0, 2, S4x8);
    ir_const_int(&b, IR_I64, INT64_MIN, 0, NULL);
    ir_const_int(&b, IR_I32, -7, 1, S8);
    ir_const_bool(&b, false, 0, NULL);
    ir_value *m = ir_const_float(&b, IR_F32, 2.0, 2, S4x8);
    ir_op *tr = ir_build(&b, IR_OP_TRANS, 1, &m, 1, (ir_type[]){ir_type_tile(IR_F32, 2, S8x4)}, 0);
    tr->attr.perm[0] = 1;
    tr->attr.perm[1] = 0;
    ir_op *rd = ir_build(&b, IR_OP_REDUCE_MAX, 1, &m, 1, (ir_type[]){ir_type_tile(IR_F32, 1, S4)}, 0);
    rd->attr.i = 1;
    ir_op *cs = ir_build(&b, IR_OP_CUMSUM, 1, &m, 1, &m->type, 0);
    cs->attr.i = 0;
    ir_op *np = ir_build(&b, IR_OP_NUM_PROGRAMS, 0, NULL, 1, (ir_type[]){ir_type_scalar(IR_I32)}, 0);
    np->attr.i = 2;
    ir_op *call = ir_build(&b, IR_OP_CALL, 1, &rd->results[0], 0, NULL, 0);
    call->attr.callee = callee;
    ir_build(&b, IR_OP_DOT, 2, (ir_value *[]){tr->results[0], m}, 1,
             (ir_type[]){ir_type_tile(IR_F32, 2, (int64_t[]){8, 8})}, 0);
    ret(&b);
    assert_func_text(f,
        "fn @g() -> () {\n"
        "  %0 = const 0.1 : f32\n"
        "  %1 = const 1.0 : f32\n"
        "  %2 = const -0.0 : f32\n"
        "  %3 = const 1e+20 : f32\n"
        "  %4 = const 1.5e-05 : f32\n"
        "  %5 = const inf : f32\n"
        "  %6 = const -inf : f32\n"
        "  %7 = const nan : f32\n"
        "  %8 = const 0.100097656 : bf16\n"
        "  %9 = const 65504.0 : f16[4,8]\n"
        "  %10 = const -9223372036854775808 : i64\n"
        "  %11 = const -7 : i32[8]\n"
        "  %12 = const false : bool\n"
        "  %13 = const 2.0 : f32[4,8]\n"
        "  %14 = trans %13, perm=[1,0] : f32[8,4]\n"
        "  %15 = reduce.max %13, axis=1 : f32[4]\n"
        "  %16 = cumsum %13, axis=0 : f32[4,8]\n"
        "  %17 = num_programs 2 : i32\n"
        "  call @h(%15)\n"
        "  %18 = dot %14, %13 : f32[8,8]\n"
        "  return\n"
        "}\n");
}

static void test_print_masked_load_and_module(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *i = ir_const_int(b, IR_I32, 0, 1, S4);
    ir_value *j = ir_const_int(b, IR_I64, 3, 0, NULL);
    ir_value *m = ir_const_bool(b, true, 1, S4);
    ir_value *o = ir_const_float(b, IR_F32, -1.0, 1, S4);
    ir_op *ld = ir_build(b, IR_OP_LOAD, 5, (ir_value *[]){t->x, i, j, m, o}, 1,
                         (ir_type[]){ir_type_tile(IR_F32, 1, S4)}, 0);
    ld->attr.i = IR_LOAD_HAS_MASK | IR_LOAD_HAS_OTHER;
    ir_op *st = ir_build(b, IR_OP_ATOMIC_ADD, 5, (ir_value *[]){t->y, i, j, ld->results[0], m}, 0, NULL, 0);
    st->attr.i = IR_LOAD_HAS_MASK;
    ret(b);
    ir_func *f = ir_func_new(t->m, "e", IR_FUNC_FN, (src_loc){0});
    ir_builder fb = {.m = t->m};
    ir_builder_at_end(&fb, f->body);
    ret(&fb);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    ir_print_module(fp, t->m);
    fclose(fp);
    assert_string_equal(buf,
        "kernel @k(%x: tensor<f32>[N,8], %y: out tensor<f32>[N,8], %s: f32) {\n"
        "grid:\n"
        "  %0 = const 1 : i32\n"
        "  yield %0, %0, %0\n"
        "body:\n"
        "  %1 = const 0 : i32[4]\n"
        "  %2 = const 3 : i64\n"
        "  %3 = const true : bool[4]\n"
        "  %4 = const -1.0 : f32[4]\n"
        "  %5 = load %x[%1, %2] mask %3 other %4 : f32[4]\n"
        "  atomic_add %y[%1, %2], %5 mask %3\n"
        "  return\n"
        "}\n"
        "\n"
        "fn @e() -> () {\n"
        "  return\n"
        "}\n");
    free(buf);
}

/* ---- verifier ---------------------------------------------------------- */

static const char *first_diag(fx *t)
{
    return t->diags.first ? t->diags.first->msg : "(no diagnostic)";
}

static void expect_reject(fx *t, const char *what)
{
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_ERR_INTERNAL);
    char want[512];
    snprintf(want, sizeof want, "internal error: ir verifier (after test): in @k: %s", what);
    assert_string_equal(first_diag(t), want);
    assert_int_equal(t->diags.nerrors, 1);
}

static void test_verify_good(void **state)
{
    fx *t = *state;
    build_control_fn(t);
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *a = ir_const_float(b, IR_BF16, 1.0, 2, (int64_t[]){4, 16});
    ir_value *c = ir_const_float(b, IR_BF16, 1.0, 2, (int64_t[]){16, 8});
    ir_value *d = ir_build(b, IR_OP_DOT, 2, (ir_value *[]){a, c}, 1, (ir_type[]){ir_type_tile(IR_F32, 2, S4x8)}, 0)->results[0];
    ir_build(b, IR_OP_DOT, 3, (ir_value *[]){a, c, d}, 1, (ir_type[]){ir_type_tile(IR_F32, 2, S4x8)}, 0);
    ir_value *v = ir_const_float(b, IR_F32, 1.0, 1, S8);
    ir_broadcast(b, v, 2, S4x8);
    ir_value *one = ir_const_float(b, IR_F32, 1.0, 2, (int64_t[]){1, 8});
    ir_broadcast(b, one, 3, (int64_t[]){2, 4, 8});
    ir_value *sc = ir_const_int(b, IR_I32, 3, 0, NULL);
    ir_broadcast(b, sc, 2, S4x8);
    ir_op *call = ir_build(b, IR_OP_CALL, 2, (ir_value *[]){ir_const_float(b, IR_F32, 0, 1, S4), sc}, 1,
                           (ir_type[]){ir_type_tile(IR_F32, 1, S4)}, 0);
    call->attr.callee = ir_module_find(t->m, "f");
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
    assert_int_equal(t->diags.nerrors, 0);
}

static void test_verify_elementwise(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 1.0, 1, S4);
    ir_value *c = ir_const_float(&t->b, IR_F32, 1.0, 1, S8);
    ir_value *r = ir_binary(&t->b, IR_OP_ADD, a, c);
    r->def->loc = (src_loc){"k.tile", 9, 4};
    ret(&t->b);
    expect_reject(t, "add: operand 1 has type f32[8], expected f32[4]");
    assert_int_equal(t->diags.first->loc.line, 9);
}

static void test_verify_cmp_not_bool(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 1.0, 1, S4);
    ir_value *r = ir_binary(&t->b, IR_OP_CMP_LT, a, a);
    r->type.dtype = IR_F32;
    ret(&t->b);
    expect_reject(t, "cmp.lt: result has type f32[4], expected bool");
}

static void test_verify_select_cond(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 1.0, 1, S4);
    ir_select(&t->b, a, a, a);
    ret(&t->b);
    expect_reject(t, "select: condition has type f32[4], expected bool with shape of f32[4]");
}

static void test_verify_dtype_rules(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_int(&t->b, IR_I32, 1, 1, S4);
    ir_unary(&t->b, IR_OP_EXP, a);
    ret(&t->b);
    expect_reject(t, "exp: not defined on i32");
}

static void test_verify_cast_shape(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_int(&t->b, IR_I32, 1, 1, S4);
    ir_value *r = ir_cast(&t->b, a, IR_F32);
    r->type.shape[0] = 8;
    ret(&t->b);
    expect_reject(t, "cast: operand shape i32[4] differs from result f32[8]");
}

static void test_verify_broadcast(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_int(&t->b, IR_I32, 1, 1, S4);
    ir_broadcast(&t->b, a, 2, S4x8);
    ret(&t->b);
    expect_reject(t, "broadcast: cannot broadcast i32[4] to i32[4,8]");
}

static void test_verify_reshape(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_int(&t->b, IR_I32, 1, 1, S4);
    ir_reshape(&t->b, a, 1, S8);
    ret(&t->b);
    expect_reject(t, "reshape: cannot reshape i32[4] to i32[8]");
}

static void test_verify_trans_perm(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_int(&t->b, IR_I32, 1, 2, S4x8);
    ir_op *tr = ir_build(&t->b, IR_OP_TRANS, 1, &a, 1, (ir_type[]){ir_type_tile(IR_I32, 2, S4x8)}, 0);
    tr->attr.perm[0] = 0;
    tr->attr.perm[1] = 0;
    ret(&t->b);
    expect_reject(t, "trans: perm is not a permutation of 0..1");
}

static void test_verify_reduce_axis(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_int(&t->b, IR_I32, 1, 2, S4x8);
    ir_op *r = ir_build(&t->b, IR_OP_REDUCE_SUM, 1, &a, 1, (ir_type[]){ir_type_tile(IR_I32, 1, S4)}, 0);
    r->attr.i = 2;
    ret(&t->b);
    expect_reject(t, "reduce.sum: axis 2 out of range for rank 2");
}

static void test_verify_reduce_shape(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_int(&t->b, IR_I32, 1, 2, S4x8);
    ir_op *r = ir_build(&t->b, IR_OP_REDUCE_SUM, 1, &a, 1, (ir_type[]){ir_type_tile(IR_I32, 1, S4)}, 0);
    r->attr.i = 0;
    ret(&t->b);
    expect_reject(t, "reduce.sum: result has type i32[4], expected i32[8]");
}

static void test_verify_dot(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_BF16, 1.0, 2, S4x8);
    ir_build(&t->b, IR_OP_DOT, 2, (ir_value *[]){a, a}, 1, (ir_type[]){ir_type_tile(IR_F32, 2, S4x8)}, 0);
    ret(&t->b);
    expect_reject(t, "dot: expects [M,K]x[K,N], got bf16[4,8] x bf16[4,8]");
}

static void test_verify_dot_result_dtype(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_BF16, 1.0, 2, S4x8);
    ir_value *c = ir_const_float(&t->b, IR_BF16, 1.0, 2, S8x4);
    ir_build(&t->b, IR_OP_DOT, 2, (ir_value *[]){a, c}, 1, (ir_type[]){ir_type_tile(IR_BF16, 2, (int64_t[]){4, 4})}, 0);
    ret(&t->b);
    expect_reject(t, "dot: result has type bf16[4,4], expected f32[4,4]");
}

static void test_verify_program_id_axis(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_op *p = ir_build(&t->b, IR_OP_PROGRAM_ID, 0, NULL, 1, (ir_type[]){ir_type_scalar(IR_I32)}, 0);
    p->attr.i = 3;
    ret(&t->b);
    expect_reject(t, "program_id: axis 3 is not 0..2");
}

static void test_verify_tensor_dim(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_op *d = ir_build(&t->b, IR_OP_TENSOR_DIM, 1, &t->s, 1, (ir_type[]){ir_type_scalar(IR_I32)}, 0);
    d->attr.i = 0;
    ret(&t->b);
    expect_reject(t, "tensor_dim: operand is not a tensor");
}

static void test_verify_load_index_count(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *i = ir_const_int(&t->b, IR_I32, 0, 1, S4);
    ir_build(&t->b, IR_OP_LOAD, 2, (ir_value *[]){t->x, i}, 1, (ir_type[]){ir_type_tile(IR_F32, 1, S4)}, 0);
    ret(&t->b);
    expect_reject(t, "load: expected 3 operands for a rank-2 tensor, got 2");
}

static void test_verify_load_index_type(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *i = ir_const_float(&t->b, IR_F32, 0, 1, S4);
    ir_build(&t->b, IR_OP_LOAD, 3, (ir_value *[]){t->x, i, i}, 1,
             (ir_type[]){ir_type_tile(IR_F32, 2, (int64_t[]){4, 4})}, 0);
    ret(&t->b);
    expect_reject(t, "load: index 0 has type f32[4], expected an integer tile");
}

static void test_verify_load_shape(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *i = ir_const_int(&t->b, IR_I32, 0, 1, S4);
    ir_value *j = ir_const_int(&t->b, IR_I32, 0, 1, S8);
    ir_build(&t->b, IR_OP_LOAD, 3, (ir_value *[]){t->x, i, j}, 1,
             (ir_type[]){ir_type_tile(IR_F32, 2, S8x4)}, 0);
    ret(&t->b);
    expect_reject(t, "load: result has type f32[8,4], expected f32[4,8]");
}

static void test_verify_load_mask(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *i = ir_const_int(&t->b, IR_I32, 0, 1, S4);
    ir_value *j = ir_const_int(&t->b, IR_I32, 0, 0, NULL);
    ir_op *ld = ir_build(&t->b, IR_OP_LOAD, 4, (ir_value *[]){t->x, i, j, i}, 1,
                         (ir_type[]){ir_type_tile(IR_F32, 1, S4)}, 0);
    ld->attr.i = IR_LOAD_HAS_MASK;
    ret(&t->b);
    expect_reject(t, "load: mask has type i32[4], expected bool with shape of f32[4]");
}

static void test_verify_store_first_operand(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *i = ir_const_int(&t->b, IR_I32, 0, 0, NULL);
    ir_build(&t->b, IR_OP_STORE, 3, (ir_value *[]){i, i, i}, 0, NULL, 0);
    ret(&t->b);
    expect_reject(t, "store: first operand must be a tensor");
}

static void test_verify_tensor_misuse(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_build(&t->b, IR_OP_NEG, 1, &t->x, 1, (ir_type[]){ir_type_scalar(IR_F32)}, 0);
    ret(&t->b);
    expect_reject(t, "neg: operand 0 is a tensor; tensors are only used by "
                     "load/store/atomic_add/tensor_dim/call");
}

static ir_op *make_for(fx *t, ir_value *init, ir_type arg_type)
{
    ir_value *zero = ir_const_int(&t->b, IR_I32, 0, 0, NULL);
    ir_op *loop = ir_build(&t->b, IR_OP_FOR, 4, (ir_value *[]){zero, zero, zero, init}, 1,
                           &init->type, 1);
    ir_type i32 = ir_type_scalar(IR_I32);
    loop->blocks[0] = ir_block_new(t->k, 2, (ir_type[]){i32, arg_type});
    loop->blocks[0]->parent = loop;
    return loop;
}

static void test_verify_for_yield(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 0, 1, S4);
    ir_op *loop = make_for(t, a, a->type);
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_value *c = ir_cast(&lb, loop->blocks[0]->args[1], IR_BF16);
    ir_build(&lb, IR_OP_YIELD, 1, &c, 0, NULL, 0);
    ret(&t->b);
    expect_reject(t, "for: body yields bf16[4] for value 0, expected f32[4]");
}

static void test_verify_for_region_args(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 0, 1, S4);
    ir_op *loop = make_for(t, a, ir_type_scalar(IR_F32));
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_build(&lb, IR_OP_YIELD, 1, &a, 0, NULL, 0);
    ret(&t->b);
    expect_reject(t, "for: body region argument 1 does not have type f32[4]");
}

/* A scan of x (f32[4]) and y (i32[4]) whose combine region has argument
 * types args[0..3] and yields (c0, c1) computed by `yield_vals`. */
static ir_op *make_scan(fx *t, const ir_type *args, int axis)
{
    ir_value *x = ir_const_float(&t->b, IR_F32, 0, 1, S4);
    ir_value *y = ir_const_int(&t->b, IR_I32, 0, 1, S4);
    ir_op *scan = ir_build(&t->b, IR_OP_SCAN, 2, (ir_value *[]){x, y}, 2,
                           (ir_type[]){x->type, y->type}, 1);
    scan->attr.i = axis;
    scan->blocks[0] = ir_block_new(t->k, 4, args);
    scan->blocks[0]->parent = scan;
    return scan;
}

static void test_verify_scan(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_type f = ir_type_scalar(IR_F32), i = ir_type_scalar(IR_I32);
    ir_op *scan = make_scan(t, (ir_type[]){f, i, f, i}, 0);
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, scan->blocks[0]);
    ir_value **a = scan->blocks[0]->args;
    ir_value *c0 = ir_binary(&lb, IR_OP_ADD, a[0], a[2]);
    ir_value *c1 = ir_binary(&lb, IR_OP_MAX, a[1], a[3]);
    ir_build(&lb, IR_OP_YIELD, 2, (ir_value *[]){c0, c1}, 0, NULL, 0);
    ret(&t->b);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ir_print_func(out, t->k);
    fclose(out);
    assert_non_null(strstr(buf, "  %3, %4 = scan %1, %2, axis=0 : f32[4], i32[4] combine(%5, %6, %7, %8) {\n"
                                "    %9 = add %5, %7 : f32\n"
                                "    %10 = max %6, %8 : i32\n"
                                "    yield %9, %10\n"
                                "  }\n"));
    free(buf);
}

static void test_verify_scan_region_args(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_type f = ir_type_scalar(IR_F32), i = ir_type_scalar(IR_I32);
    ir_op *scan = make_scan(t, (ir_type[]){f, f, f, i}, 0);
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, scan->blocks[0]);
    ir_value **a = scan->blocks[0]->args;
    ir_build(&lb, IR_OP_YIELD, 2, (ir_value *[]){a[0], a[3]}, 0, NULL, 0);
    ret(&t->b);
    expect_reject(t, "scan: combine region argument 1 has type f32, expected i32");
}

static void test_verify_scan_yield(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_type f = ir_type_scalar(IR_F32), i = ir_type_scalar(IR_I32);
    ir_op *scan = make_scan(t, (ir_type[]){f, i, f, i}, 0);
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, scan->blocks[0]);
    ir_value **a = scan->blocks[0]->args;
    ir_build(&lb, IR_OP_YIELD, 2, (ir_value *[]){a[0], a[0]}, 0, NULL, 0);
    ret(&t->b);
    expect_reject(t, "scan: combine yields f32 for value 1, expected i32");
}

static void test_verify_scan_axis(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_type f = ir_type_scalar(IR_F32), i = ir_type_scalar(IR_I32);
    ir_op *scan = make_scan(t, (ir_type[]){f, i, f, i}, 1);
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, scan->blocks[0]);
    ir_value **a = scan->blocks[0]->args;
    ir_build(&lb, IR_OP_YIELD, 2, (ir_value *[]){a[0], a[1]}, 0, NULL, 0);
    ret(&t->b);
    expect_reject(t, "scan: axis 1 out of range for rank 1");
}

/* A for loop counts in i32 or i64, all of lo, hi, step and the induction
 * variable in one dtype. */
static void test_verify_for_dtypes(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 0, 1, S4);
    ir_value *lo = ir_const_int(&t->b, IR_I64, 0, 0, NULL);
    ir_value *hi = ir_const_int(&t->b, IR_I64, 4, 0, NULL);
    ir_value *hi32 = ir_const_int(&t->b, IR_I32, 4, 0, NULL);
    ir_op *loop = ir_build(&t->b, IR_OP_FOR, 4, (ir_value *[]){lo, hi, hi, a}, 1, &a->type, 1);
    loop->blocks[0] = ir_block_new(t->k, 2, (ir_type[]){ir_type_scalar(IR_I64), a->type});
    loop->blocks[0]->parent = loop;
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_build(&lb, IR_OP_YIELD, 1, &a, 0, NULL, 0);
    ret(&t->b);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
    loop->operands[1] = hi32;
    expect_reject(t, "for: hi must be an i32 or i64 scalar, of the same dtype as lo");
}

/* Parameters and block arguments grow geometrically: 3000 parameters take
 * linear memory (they were copied at every addition: quadratic). */
static void test_many_params(void **state)
{
    fx *t = *state;
    ir_func *f = ir_func_new(t->m, "many", IR_FUNC_KERNEL, (src_loc){"k.tile", 1, 1});
    size_t before = t->mem.used_total;
    enum { N = 3000 };
    char name[16];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "p%d", i);
        ir_value *v = add_scalar(f, name, i % 2 ? IR_F32 : IR_I32);
        assert_non_null(v);
        assert_int_equal(v->index, i);
    }
    assert_int_equal(f->nparams, N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "p%d", i);
        assert_string_equal(f->params[i].name, name);
        assert_ptr_equal(f->body->args[i]->owner, f->body);
        assert_int_equal(f->grid->args[i]->type.dtype, i % 2 ? IR_F32 : IR_I32);
    }
    /* quadratic growth would take N^2/2 * sizeof(ir_param) > 600 MB */
    assert_true(t->mem.used_total - before < (size_t)N * 4096);
}

static void test_verify_region_parent(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 0, 1, S4);
    ir_op *loop = make_for(t, a, a->type);
    loop->blocks[0]->parent = NULL;
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, loop->blocks[0]);
    ir_build(&lb, IR_OP_YIELD, 1, &a, 0, NULL, 0);
    ret(&t->b);
    expect_reject(t, "for: region block's parent is not its op");
}

static void test_verify_no_terminator(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_const_float(&t->b, IR_F32, 0, 1, S4);
    expect_reject(t, "body: block does not end in a terminator");
}

static void test_verify_terminator_not_last(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ret(&t->b);
    ir_const_float(&t->b, IR_F32, 0, 1, S4);
    ret(&t->b);
    expect_reject(t, "body: terminator return is not the last op of its block");
}

static void test_verify_wrong_terminator(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_build(&t->b, IR_OP_YIELD, 0, NULL, 0, NULL, 0);
    expect_reject(t, "body: block ends in yield, expected return");
}

static void test_verify_use_before_def(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 0, 1, S4);
    ir_value *n = ir_unary(&t->b, IR_OP_NEG, a);
    ret(&t->b);
    /* Move the const after its use. */
    ir_op_remove(a->def);
    ir_op_insert_before(t->k->body->last, a->def);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_ERR_INTERNAL);
    char want[256];
    snprintf(want, sizeof want,
             "internal error: ir verifier (after test): in @k: neg: operand 0 (value id %d) is "
             "not defined before this use in an enclosing block", a->id);
    assert_string_equal(first_diag(t), want);
    (void)n;
}

static void test_verify_use_from_sibling_region(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *c = ir_const_bool(&t->b, true, 0, NULL);
    ir_type ft = ir_type_scalar(IR_F32);
    ir_op *iff = ir_build(&t->b, IR_OP_IF, 1, &c, 1, &ft, 2);
    for (int r = 0; r < 2; r++) {
        iff->blocks[r] = ir_block_new(t->k, 0, NULL);
        iff->blocks[r]->parent = iff;
    }
    ir_builder rb = {.m = t->m};
    ir_builder_at_end(&rb, iff->blocks[0]);
    ir_value *inner = ir_const_float(&rb, IR_F32, 1, 0, NULL);
    ir_build(&rb, IR_OP_YIELD, 1, &inner, 0, NULL, 0);
    ir_builder_at_end(&rb, iff->blocks[1]);
    ir_build(&rb, IR_OP_YIELD, 1, &inner, 0, NULL, 0);
    ret(&t->b);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_ERR_INTERNAL);
    char want[256];
    snprintf(want, sizeof want,
             "internal error: ir verifier (after test): in @k: yield: operand 0 (value id %d) "
             "is not defined before this use in an enclosing block", inner->id);
    assert_string_equal(first_diag(t), want);
}

static void test_verify_if_cond(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *c = ir_const_bool(&t->b, true, 1, S4);
    ir_op *iff = ir_build(&t->b, IR_OP_IF, 1, &c, 0, NULL, 2);
    for (int r = 0; r < 2; r++) {
        iff->blocks[r] = ir_block_new(t->k, 0, NULL);
        iff->blocks[r]->parent = iff;
        ir_builder rb = {.m = t->m};
        ir_builder_at_end(&rb, iff->blocks[r]);
        ir_build(&rb, IR_OP_YIELD, 0, NULL, 0, NULL, 0);
    }
    ret(&t->b);
    expect_reject(t, "if: condition has type bool[4], expected bool");
}

static void test_verify_call(void **state)
{
    fx *t = *state;
    ir_func *f = ir_func_new(t->m, "f", IR_FUNC_FN, (src_loc){0});
    add_scalar(f, "a", IR_F32);
    ir_builder fb = {.m = t->m};
    ir_builder_at_end(&fb, f->body);
    ret(&fb);
    make_kernel(t);
    ir_value *i = ir_const_int(&t->b, IR_I32, 0, 0, NULL);
    ir_op *call = ir_build(&t->b, IR_OP_CALL, 1, &i, 0, NULL, 0);
    call->attr.callee = f;
    ret(&t->b);
    expect_reject(t, "call: argument 0 of @f has type i32, expected f32");
}

static void test_verify_return_arity(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *i = ir_const_int(&t->b, IR_I32, 0, 0, NULL);
    ir_build(&t->b, IR_OP_RETURN, 1, &i, 0, NULL, 0);
    expect_reject(t, "return: 1 values, @k returns 0");
}

static void test_verify_operand_count(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *i = ir_const_int(&t->b, IR_I32, 0, 0, NULL);
    ir_build(&t->b, IR_OP_ADD, 1, &i, 1, &i->type, 0);
    ret(&t->b);
    expect_reject(t, "add: expected 2 operands, got 1");
}

static void test_verify_const_range(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *c = ir_const_float(&t->b, IR_BF16, 1.0, 0, NULL);
    c->def->attr.cval.f = 1.0 + 1.0 / 256; /* not a bf16 value */
    ret(&t->b);
    expect_reject(t, "const: value is not representable in bf16");
}

static void test_verify_grid(void **state)
{
    fx *t = *state;
    ir_func *k = ir_func_new(t->m, "k", IR_FUNC_KERNEL, (src_loc){0});
    ir_builder g = {.m = t->m};
    ir_builder_at_end(&g, k->grid);
    ir_value *one = ir_const_int(&g, IR_I64, 1, 0, NULL);
    ir_build(&g, IR_OP_YIELD, 3, (ir_value *[]){one, one, one}, 0, NULL, 0);
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, k->body);
    ret(&b);
    expect_reject(t, "grid: must yield three i32 scalars");
}

/* Tiles are bounded (docs/language.md: at most 2^24 elements), so no
 * element count or byte size computed from a verified type overflows. */
static void test_verify_tile_size(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_const_float(&t->b, IR_F32, 0.0, 2, (int64_t[]){4096, 4096}); /* 2^24: fine */
    ir_const_float(&t->b, IR_F32, 0.0, 3, (int64_t[]){1LL << 40, 1LL << 40, 1LL << 40});
    ret(&t->b);
    expect_reject(t, "result has type f32[1099511627776,1099511627776,1099511627776], "
                     "more than 16777216 elements");
}

static void test_verify_tile_size_param(void **state)
{
    fx *t = *state;
    ir_func *f = ir_func_new(t->m, "k", IR_FUNC_FN, (src_loc){0});
    add_param(f, "big", ir_type_tile(IR_F32, 2, (int64_t[]){4097, 4096}));
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, f->body);
    ret(&b);
    expect_reject(t, "block argument has type f32[4097,4096], more than 16777216 elements");
}

/* Only `out` tensors are written (the front end checks it; the backend may
 * put the others in read-only caches). */
static void test_verify_store_to_input(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *i = ir_const_int(&t->b, IR_I32, 0, 0, NULL);
    ir_value *v = ir_const_float(&t->b, IR_F32, 1.0, 0, NULL);
    ir_build(&t->b, IR_OP_STORE, 4, (ir_value *[]){t->y, i, i, v}, 0, NULL, 0);
    ir_build(&t->b, IR_OP_ATOMIC_ADD, 4, (ir_value *[]){t->x, i, i, v}, 0, NULL, 0);
    ret(&t->b);
    expect_reject(t, "atomic_add: tensor 'x' is not an out parameter");
}

/* Inside an fn the tensor is the fn's parameter, with its own `out`. */
static void test_verify_store_to_fn_input(void **state)
{
    fx *t = *state;
    ir_func *f = ir_func_new(t->m, "k", IR_FUNC_FN, (src_loc){0});
    ir_param p = {.name = "a", .type = ir_type_tensor(IR_I32, 1)};
    p.dims[0] = (ir_dim){"M", -1};
    ir_value *a = ir_func_add_param(f, &p);
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, f->body);
    ir_value *i = ir_const_int(&b, IR_I32, 0, 0, NULL);
    ir_build(&b, IR_OP_STORE, 3, (ir_value *[]){a, i, i}, 0, NULL, 0);
    ret(&b);
    expect_reject(t, "store: tensor 'a' is not an out parameter");
    f->params[0].is_out = true;
    t->diags.first = t->diags.last = NULL;
    t->diags.nerrors = 0;
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
}

/* Every tensor dim has a name or a static size (else it prints as '?'). */
static void test_verify_tensor_param_dims(void **state)
{
    fx *t = *state;
    ir_func *k = ir_func_new(t->m, "k", IR_FUNC_KERNEL, (src_loc){0});
    add_tensor(k, "q", IR_F32, 2, (const char *[]){"M", NULL}, (int64_t[]){-1, -1}, false);
    grid_ones(t, k);
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, k->body);
    ret(&b);
    expect_reject(t, "parameter 'q': dimension 1 has neither a name nor a size");
}

static void test_verify_tensor_param_zero_dim(void **state)
{
    fx *t = *state;
    ir_func *k = ir_func_new(t->m, "k", IR_FUNC_KERNEL, (src_loc){0});
    add_tensor(k, "q", IR_F32, 1, NULL, (int64_t[]){0}, false);
    grid_ones(t, k);
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, k->body);
    ret(&b);
    expect_reject(t, "parameter 'q': dimension 0 has size 0");
}

/* Labels are printed so that the text is one line and reads back: every
 * control character is escaped.  A NaN keeps its sign (CSE tells -nan and
 * nan apart, so the text must too). */
static void test_print_escapes_and_nan_sign(void **state)
{
    fx *t = *state;
    ir_func *f = ir_func_new(t->m, "g", IR_FUNC_FN, (src_loc){0});
    ir_builder b = {.m = t->m};
    ir_builder_at_end(&b, f->body);
    ir_value *n = ir_const_float(&b, IR_F32, -NAN, 0, NULL);
    ir_value *p = ir_const_float(&b, IR_F32, NAN, 0, NULL);
    ir_op *pr = ir_build(&b, IR_OP_PRINT, 2, (ir_value *[]){n, p}, 0, NULL, 0);
    pr->attr.str = "a\"b\\c\nd\te\rf\001g\177h\x80";
    ret(&b);
    assert_func_text(f,
        "fn @g() -> () {\n"
        "  %0 = const -nan : f32\n"
        "  %1 = const nan : f32\n"
        "  print \"a\\\"b\\\\c\\nd\\te\\x0df\\x01g\\x7fh\x80\", %0, %1\n"
        "  return\n"
        "}\n");
}

/* ---- op table: effects and attribute schema ---------------------------- */

/* Every op is exactly one of pure, effectful, region, terminator; the
 * effects DCE/CSE rely on are the ones the semantics need. */
static void test_op_effects_declared(void **state)
{
    (void)state;
    for (int c = 0; c < IR_OP_COUNT; c++) {
        unsigned fl = ir_op_table[c].flags;
        int kinds = !!(fl & IR_PURE) + !!(fl & (IR_MEM_READ | IR_MEM_WRITE | IR_SIDE_EFFECT)) +
                    !!(fl & IR_REGION_EFFECTS) + !!(fl & IR_TERMINATOR);
        if (kinds != 1) fprintf(stderr, "op %s is classified %d times\n", ir_op_table[c].name, kinds);
        assert_int_equal(kinds, 1);
        /* At most one way of showing attr.i and attr.str each. */
        assert_true(__builtin_popcount(fl & (IR_A_INDEX | IR_A_AXIS | IR_A_MEMFLAGS)) <= 1);
        assert_true(__builtin_popcount(fl & (IR_A_LABEL | IR_A_MESSAGE)) <= 1);
    }
    assert_int_equal(ir_op_table[IR_OP_LOAD].flags & IR_EFFECT_FLAGS, IR_MEM_READ);
    assert_true(ir_op_table[IR_OP_STORE].flags & IR_MEM_WRITE);
    assert_true(ir_op_table[IR_OP_ATOMIC_ADD].flags & IR_MEM_WRITE);
    assert_true(ir_op_table[IR_OP_ATOMIC_ADD].flags & IR_MEM_READ);
    assert_true(ir_op_table[IR_OP_PRINT].flags & IR_SIDE_EFFECT);
    assert_true(ir_op_table[IR_OP_ASSERT].flags & IR_SIDE_EFFECT);
    assert_true(ir_op_table[IR_OP_CALL].flags & IR_SIDE_EFFECT);
    assert_true(ir_op_table[IR_OP_DIV].flags & IR_MAY_FAIL);
    assert_true(ir_op_table[IR_OP_FOR].flags & IR_REGION_EFFECTS);
    assert_true(ir_op_table[IR_OP_TRANS].flags & IR_A_PERM);
    assert_true(ir_op_table[IR_OP_CONST].flags & IR_A_CVAL);
    /* The ops added at the end of the table: pure, attributes declared. */
    assert_int_equal(ir_op_table[IR_OP_SCAN].flags & (IR_EFFECT_FLAGS | IR_PURE | IR_MAY_FAIL),
                     IR_PURE | IR_MAY_FAIL);
    assert_true(ir_op_table[IR_OP_SCAN].flags & IR_A_AXIS);
    assert_int_equal(ir_op_table[IR_OP_SLICE].flags & IR_ATTR_FLAGS, IR_A_AXIS | IR_A_SLICE);
    assert_int_equal(ir_op_table[IR_OP_CONCAT].flags & IR_ATTR_FLAGS, IR_A_AXIS);
    assert_int_equal(ir_op_table[IR_OP_ARGMAX].flags & IR_ATTR_FLAGS, IR_A_AXIS);
    assert_int_equal(ir_op_table[IR_OP_ARGMIN].flags & IR_ATTR_FLAGS, IR_A_AXIS);
    assert_int_equal(ir_op_table[IR_OP_FMA].flags & (IR_ATTR_FLAGS | IR_EFFECT_FLAGS), 0);
    /* issue 9: sort/topk, pure, two results, an axis */
    for (int op = IR_OP_SORT; op <= IR_OP_TOPK; op++) {
        assert_int_equal(ir_op_table[op].flags & (IR_ATTR_FLAGS | IR_EFFECT_FLAGS | IR_PURE | IR_MAY_FAIL),
                         IR_PURE | IR_A_AXIS);
        assert_int_equal(ir_op_table[op].nresults, 2);
    }
}

/* ir_op_may_fail / ir_op_has_effect, op by op and through regions. */
static void test_op_has_effect(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *zero = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *two = ir_const_int(b, IR_I32, 2, 0, NULL);
    ir_value *n = ir_build(b, IR_OP_TENSOR_DIM, 1, &t->x, 1, (ir_type[]){ir_type_scalar(IR_I32)}, 0)->results[0];
    ir_value *by_n = ir_binary(b, IR_OP_DIV, two, n);
    ir_value *by_two = ir_binary(b, IR_OP_DIV, n, two);
    ir_value *fdiv = ir_binary(b, IR_OP_DIV, t->s, t->s);
    ir_value *ld = ir_build(b, IR_OP_LOAD, 3, (ir_value *[]){t->x, zero, zero}, 1,
                            (ir_type[]){ir_type_scalar(IR_F32)}, 0)->results[0];
    assert_true(ir_op_may_fail(by_n->def) && ir_op_has_effect(by_n->def));
    assert_false(ir_op_may_fail(by_two->def) || ir_op_has_effect(by_two->def));
    assert_false(ir_op_may_fail(fdiv->def));
    assert_false(ir_op_has_effect(ld->def)); /* a read alone may go */
    assert_false(ir_op_has_effect(zero->def));
    ir_op *iff = ir_build(b, IR_OP_IF, 1, (ir_value *[]){ir_const_bool(b, true, 0, NULL)}, 0, NULL, 2);
    ir_builder rb = {.m = t->m};
    ir_builder_at_end(&rb, ir_op_new_region(iff, 0, 0, NULL));
    ir_unary(&rb, IR_OP_NEG, t->s);
    yield(&rb, 0, NULL);
    ir_builder_at_end(&rb, ir_op_new_region(iff, 1, 0, NULL));
    yield(&rb, 0, NULL);
    assert_false(ir_op_has_effect(iff));
    ir_builder_before(&rb, iff->blocks[1]->last);
    ir_build(&rb, IR_OP_PRINT, 1, &t->s, 0, NULL, 0);
    assert_true(ir_op_has_effect(iff));
}

/* A scan fails (and so has an effect) exactly when its combine may fail,
 * has an effect or reads memory. */
static void test_scan_may_fail(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_type f = ir_type_scalar(IR_F32), i = ir_type_scalar(IR_I32);
    ir_op *scan = make_scan(t, (ir_type[]){f, i, f, i}, 0);
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, scan->blocks[0]);
    ir_value **a = scan->blocks[0]->args;
    ir_value *two = ir_const_int(&lb, IR_I32, 2, 0, NULL);
    ir_value *c0 = ir_binary(&lb, IR_OP_ADD, a[0], a[2]);
    ir_value *c1 = ir_binary(&lb, IR_OP_DIV, a[1], two); /* cannot fail */
    ir_op *y = ir_build(&lb, IR_OP_YIELD, 2, (ir_value *[]){c0, c1}, 0, NULL, 0);
    assert_false(ir_op_may_fail(scan) || ir_op_has_effect(scan));
    ir_builder_before(&lb, y);
    ir_value *q = ir_binary(&lb, IR_OP_DIV, a[1], a[3]); /* may divide by zero */
    assert_true(ir_op_may_fail(scan) && ir_op_has_effect(scan));
    ir_op_erase(q->def);
    assert_false(ir_op_may_fail(scan));
    ir_value *zero = ir_const_int(&lb, IR_I32, 0, 0, NULL);
    ir_build(&lb, IR_OP_LOAD, 3, (ir_value *[]){t->x, zero, zero}, 1, &f, 0);
    assert_true(ir_op_may_fail(scan) && ir_op_has_effect(scan)); /* a read counts here */
}

/* Attributes compare, hash and copy by what the op table says each op uses:
 * trans looks at perm up to its result rank only, whatever lies beyond. */
static void test_attr_generic(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *m = ir_const_float(b, IR_F32, 1.0, 2, S4x8);
    ir_type tt = ir_type_tile(IR_F32, 2, S8x4);
    ir_op *t1 = ir_build(b, IR_OP_TRANS, 1, &m, 1, &tt, 0);
    ir_op *t2 = ir_build(b, IR_OP_TRANS, 1, &m, 1, &tt, 0);
    t1->attr.perm[0] = t2->attr.perm[0] = 1;
    t1->attr.perm[1] = t2->attr.perm[1] = 0;
    t1->attr.perm[4] = 77;  /* garbage past the rank */
    t2->attr.perm[5] = -3;
    t1->attr.i = 5;         /* a field trans does not use */
    assert_true(ir_attr_equal(t1, t2));
    assert_true(ir_attr_hash(t1, 0) == ir_attr_hash(t2, 0));
    t2->attr.perm[1] = 1;
    assert_false(ir_attr_equal(t1, t2));
    ir_attr_copy(t2, t1);
    assert_true(ir_attr_equal(t1, t2));
    assert_int_equal(t2->attr.perm[4], 0);
    assert_int_equal(t2->attr.i, 0);
    /* Constants bit for bit. */
    ir_value *pz = ir_const_float(b, IR_F32, 0.0, 0, NULL);
    ir_value *nz = ir_const_float(b, IR_F32, -0.0, 0, NULL);
    ir_value *pz2 = ir_const_float(b, IR_F32, 0.0, 0, NULL);
    assert_false(ir_attr_equal(pz->def, nz->def));
    assert_true(ir_attr_equal(pz->def, pz2->def));
    assert_true(ir_attr_hash(pz->def, 7) == ir_attr_hash(pz2->def, 7));
    /* Strings by content; axes. */
    ir_op *p1 = ir_build(b, IR_OP_PRINT, 0, NULL, 0, NULL, 0);
    ir_op *p2 = ir_build(b, IR_OP_PRINT, 0, NULL, 0, NULL, 0);
    char label[] = "x=";
    p1->attr.str = "x=";
    p2->attr.str = label;
    assert_true(ir_attr_equal(p1, p2));
    assert_true(ir_attr_hash(p1, 0) == ir_attr_hash(p2, 0));
    ir_type r4 = ir_type_tile(IR_F32, 1, S4), r8 = ir_type_tile(IR_F32, 1, S8);
    ir_op *s0 = ir_build(b, IR_OP_REDUCE_SUM, 1, &m, 1, &r8, 0);
    ir_op *s1 = ir_build(b, IR_OP_REDUCE_SUM, 1, &m, 1, &r4, 0);
    s1->attr.i = 1;
    assert_false(ir_attr_equal(s0, s1));
    assert_false(ir_attr_equal(s0, t1)); /* different opcodes */
    /* slice: axis, start and step all count. */
    ir_type r2 = ir_type_tile(IR_F32, 2, (int64_t[]){2, 8});
    ir_op *l1 = ir_build(b, IR_OP_SLICE, 1, &m, 1, &r2, 0);
    ir_op *l2 = ir_build(b, IR_OP_SLICE, 1, &m, 1, &r2, 0);
    l1->attr.start = l2->attr.start = 1;
    l1->attr.step = l2->attr.step = 2;
    l1->attr.perm[0] = 9; /* unused by slice */
    assert_true(ir_attr_equal(l1, l2));
    assert_true(ir_attr_hash(l1, 0) == ir_attr_hash(l2, 0));
    l2->attr.start = 0;
    assert_false(ir_attr_equal(l1, l2));
    assert_true(ir_attr_hash(l1, 0) != ir_attr_hash(l2, 0));
    l2->attr.start = 1;
    l2->attr.step = 1;
    assert_false(ir_attr_equal(l1, l2));
    ir_attr_copy(l2, l1);
    assert_true(ir_attr_equal(l1, l2));
    assert_int_equal(l2->attr.start, 1);
    assert_int_equal(l2->attr.step, 2);
    assert_int_equal(l2->attr.perm[0], 0);
}

/* ---- def-use lists ------------------------------------------------------ */

static bool has_use(const ir_value *v, const ir_op *user, int index)
{
    for (const ir_use *u = v->uses; u; u = u->next)
        if (u->user == user && u->index == index) return true;
    return false;
}

static void test_use_lists(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *a = ir_const_float(b, IR_F32, 1.0, 0, NULL);
    ir_value *c = ir_const_float(b, IR_F32, 2.0, 0, NULL);
    ir_value *sum = ir_binary(b, IR_OP_ADD, a, a);
    ir_value *prod = ir_binary(b, IR_OP_MUL, sum, t->s);
    assert_int_equal(ir_value_num_uses(a), 2);
    assert_true(has_use(a, sum->def, 0) && has_use(a, sum->def, 1));
    assert_int_equal(ir_value_num_uses(t->s), 1);
    assert_int_equal(ir_value_num_uses(prod), 0);
    ir_op_set_operand(sum->def, 1, c);
    assert_int_equal(ir_value_num_uses(a), 1);
    assert_true(has_use(c, sum->def, 1));
    ir_replace_all_uses(a, c);
    assert_int_equal(ir_value_num_uses(a), 0);
    assert_int_equal(ir_value_num_uses(c), 2);
    assert_ptr_equal(sum->def->operands[0], c);
    /* Removing an operand reindexes the later ones. */
    ir_value *three[3] = {t->s, c, t->s};
    ir_op *pr = ir_build(b, IR_OP_PRINT, 3, three, 0, NULL, 0);
    ir_op_remove_operand(pr, 0);
    assert_int_equal(pr->noperands, 2);
    assert_true(has_use(c, pr, 0) && has_use(t->s, pr, 1));
    assert_false(has_use(t->s, pr, 2));
    assert_true(ir_op_set_operands(pr, 3, (ir_value *[]){a, a, a}));
    assert_int_equal(ir_value_num_uses(a), 3);
    assert_int_equal(ir_value_num_uses(c), 2);
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
    /* Erasing drops the uses the op held; moving keeps them. */
    ir_op_remove(pr);
    ir_op_insert_before(t->k->body->last, pr);
    assert_int_equal(ir_value_num_uses(a), 3);
    ir_op_erase(pr);
    assert_int_equal(ir_value_num_uses(a), 0);
    ir_op_erase(prod->def);
    assert_int_equal(ir_value_num_uses(t->s), 0);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
}

/* ir_replace_uses limits itself to the scope; erasing an op with regions
 * drops the uses inside them too. */
static void test_use_lists_regions(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *a = ir_const_float(b, IR_F32, 1.0, 0, NULL);
    ir_value *a2 = ir_const_float(b, IR_F32, 2.0, 0, NULL);
    ir_value *c = ir_const_bool(b, true, 0, NULL);
    ir_type ft = ir_type_scalar(IR_F32);
    ir_op *iff = ir_build(b, IR_OP_IF, 1, &c, 1, &ft, 2);
    ir_builder rb = {.m = t->m};
    ir_builder_at_end(&rb, ir_op_new_region(iff, 0, 0, NULL));
    ir_value *u = ir_unary(&rb, IR_OP_NEG, a);
    yield(&rb, 1, &u);
    ir_builder_at_end(&rb, ir_op_new_region(iff, 1, 0, NULL));
    yield(&rb, 1, &a);
    ir_value *outer = ir_binary(b, IR_OP_ADD, iff->results[0], a);
    ret(b);
    ir_replace_uses(iff->blocks[0], a, a2);
    assert_ptr_equal(u->def->operands[0], a2);
    assert_ptr_equal(iff->blocks[1]->last->operands[0], a);
    assert_ptr_equal(outer->def->operands[1], a);
    assert_int_equal(ir_value_num_uses(a), 2);
    assert_true(ir_op_is_inside(u->def, t->k->body));
    assert_false(ir_op_is_inside(outer->def, iff->blocks[0]));
    ir_replace_all_uses(iff->results[0], a2);
    ir_op_erase(iff);
    assert_int_equal(ir_value_num_uses(a), 1);
    assert_int_equal(ir_value_num_uses(a2), 1);
    assert_int_equal(ir_value_num_uses(c), 0);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
}

/* The verifier catches use lists out of step with the operands. */
static void test_verify_use_lists(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 1.0, 0, NULL);
    ir_value *n = ir_unary(&t->b, IR_OP_NEG, a);
    ret(&t->b);
    n->def->operands[0] = t->s; /* behind the lists' back */
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_ERR_INTERNAL);
    char want[256];
    snprintf(want, sizeof want, "internal error: ir verifier (after test): in @k: use list of "
             "value id %d is out of date (an operand was changed without ir_op_set_operand)", a->id);
    assert_string_equal(first_diag(t), want);
}

static void test_verify_removed_not_erased(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_value *a = ir_const_float(&t->b, IR_F32, 1.0, 0, NULL);
    ir_value *n = ir_unary(&t->b, IR_OP_NEG, a);
    ret(&t->b);
    ir_op_remove(n->def);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_ERR_INTERNAL);
    char want[256];
    snprintf(want, sizeof want, "internal error: ir verifier (after test): in @k: value id %d is "
             "used by neg, which is in no block (removed, not erased: use ir_op_erase)", a->id);
    assert_string_equal(first_diag(t), want);
}

/* ---- clone and walks --------------------------------------------------- */

static void test_clone_func(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *lo = ir_const_int(b, IR_I32, 0, 0, NULL);
    ir_value *st = ir_const_int(b, IR_I32, 1, 0, NULL);
    ir_value *n = ir_build(b, IR_OP_TENSOR_DIM, 1, &t->x, 1, (ir_type[]){ir_type_scalar(IR_I32)}, 0)->results[0];
    n->def->attr.i = 0;
    ir_type ft = ir_type_scalar(IR_F32);
    ir_op *loop = ir_build(b, IR_OP_FOR, 4, (ir_value *[]){lo, n, st, t->s}, 1, &ft, 1);
    ir_block *body = ir_op_new_region(loop, 0, 2, (ir_type[]){ir_type_scalar(IR_I32), ft});
    body->args[1]->name = "acc";
    ir_builder lb = {.m = t->m};
    ir_builder_at_end(&lb, body);
    ir_value *e = ir_unary(&lb, IR_OP_EXP, body->args[1]);
    yield(&lb, 1, &e);
    ir_value *tt = ir_build(b, IR_OP_TRANS, 1, (ir_value *[]){ir_const_float(b, IR_F32, 0, 2, S4x8)},
                            1, (ir_type[]){ir_type_tile(IR_F32, 2, S8x4)}, 0)->results[0];
    tt->def->attr.perm[0] = 1;
    tt->def->attr.perm[3] = 9; /* garbage past the rank: not copied */
    ir_build(b, IR_OP_PRINT, 2, (ir_value *[]){loop->results[0], tt}, 0, NULL, 0)->attr.str = "r";
    ret(b);
    ir_func *copy = ir_clone_func(t->m, t->k, "k2");
    assert_non_null(copy);
    assert_int_equal(ir_verify_module(t->m, "clone"), TILE_OK);
    char *a = func_text(t->k), *c = func_text(copy);
    assert_string_equal(c + strlen("kernel @k2"), a + strlen("kernel @k"));
    free(a);
    free(c);
    ir_op *tcopy = copy->body->last->prev->prev;
    assert_int_equal(tcopy->code, IR_OP_TRANS);
    assert_int_equal(tcopy->attr.perm[3], 0);
    /* The copy shares no value with the original. */
    ir_op *lcopy = copy->body->first->next->next->next;
    assert_int_equal(lcopy->code, IR_OP_FOR);
    assert_ptr_not_equal(lcopy->operands[0], lo);
    assert_ptr_equal(lcopy->blocks[0]->parent, lcopy);
    assert_ptr_equal(lcopy->blocks[0]->func, copy);
    assert_int_equal(ir_value_num_uses(lo), 1);
}

/* ir_clone_op with a caller-filled map: the inliner's way. */
static void test_clone_op_mapped(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *a = ir_const_float(b, IR_F32, 1.0, 0, NULL);
    ir_value *n = ir_unary(b, IR_OP_NEG, a);
    n->name = "n";
    ir_value *other = ir_const_float(b, IR_F32, 5.0, 0, NULL);
    ir_value_map map = {0};
    assert_true(ir_value_map_set(&map, a, other));
    ir_op *copy = ir_clone_op(b, n->def, &map);
    assert_non_null(copy);
    assert_ptr_equal(copy->operands[0], other);
    assert_string_equal(copy->results[0]->name, "n");
    assert_ptr_equal(ir_value_map_get(&map, n), copy->results[0]);
    assert_ptr_equal(ir_value_map_get(&map, t->s), t->s);
    ir_value_map_free(&map);
    ret(b);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_OK);
}

static void test_walk_post(void **state)
{
    fx *t = *state;
    make_kernel(t);
    ir_builder *b = &t->b;
    ir_value *a = ir_const_float(b, IR_F32, 1.0, 0, NULL);
    ir_value *c = ir_const_bool(b, true, 0, NULL);
    ir_type ft = ir_type_scalar(IR_F32);
    ir_op *iff = ir_build(b, IR_OP_IF, 1, &c, 1, &ft, 2);
    ir_builder rb = {.m = t->m};
    ir_builder_at_end(&rb, ir_op_new_region(iff, 0, 0, NULL));
    ir_value *u = ir_unary(&rb, IR_OP_NEG, a);
    yield(&rb, 1, &u);
    ir_builder_at_end(&rb, ir_op_new_region(iff, 1, 0, NULL));
    yield(&rb, 1, &a);
    ret(b);
    walk_log pre = {{0}}, post = {{0}};
    ir_walk(t->k->body, log_op, &pre);
    ir_walk_post(t->k->body, log_op, &post);
    assert_string_equal(pre.names, "const const if neg yield yield return ");
    assert_string_equal(post.names, "const const neg yield yield if return ");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_dtypes),
        T(test_types),
        T(test_scalar_round),
        T(test_func_params),
        T(test_builders),
        T(test_walk_and_replace),
        T(test_op_effects_declared),
        T(test_op_has_effect),
        T(test_attr_generic),
        T(test_use_lists),
        T(test_use_lists_regions),
        T(test_verify_use_lists),
        T(test_verify_removed_not_erased),
        T(test_clone_func),
        T(test_clone_op_mapped),
        T(test_walk_post),
        T(test_print_kernel),
        T(test_print_control),
        T(test_for_add_carried),
        T(test_print_consts_and_attrs),
        T(test_print_masked_load_and_module),
        T(test_verify_good),
        T(test_verify_elementwise),
        T(test_verify_cmp_not_bool),
        T(test_verify_select_cond),
        T(test_verify_dtype_rules),
        T(test_verify_cast_shape),
        T(test_verify_broadcast),
        T(test_verify_reshape),
        T(test_verify_trans_perm),
        T(test_verify_reduce_axis),
        T(test_verify_reduce_shape),
        T(test_verify_dot),
        T(test_verify_dot_result_dtype),
        T(test_verify_program_id_axis),
        T(test_verify_tensor_dim),
        T(test_verify_load_index_count),
        T(test_verify_load_index_type),
        T(test_verify_load_shape),
        T(test_verify_load_mask),
        T(test_verify_store_first_operand),
        T(test_verify_tensor_misuse),
        T(test_verify_for_yield),
        T(test_verify_for_region_args),
        T(test_verify_scan),
        T(test_verify_scan_region_args),
        T(test_verify_scan_yield),
        T(test_verify_scan_axis),
        T(test_scan_may_fail),
        T(test_verify_for_dtypes),
        T(test_many_params),
        T(test_verify_region_parent),
        T(test_verify_no_terminator),
        T(test_verify_terminator_not_last),
        T(test_verify_wrong_terminator),
        T(test_verify_use_before_def),
        T(test_verify_use_from_sibling_region),
        T(test_verify_if_cond),
        T(test_verify_call),
        T(test_verify_return_arity),
        T(test_verify_operand_count),
        T(test_verify_const_range),
        T(test_verify_grid),
        T(test_verify_tile_size),
        T(test_verify_tile_size_param),
        T(test_verify_store_to_input),
        T(test_verify_store_to_fn_input),
        T(test_verify_tensor_param_dims),
        T(test_verify_tensor_param_zero_dim),
        T(test_print_escapes_and_nan_sign),
        T(test_arena_limits),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
