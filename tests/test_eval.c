/* test_eval.c - the scalar semantics of docs/language.md "Numerics":
 * wrapping integers, division and shift edge cases, saturating casts,
 * nearest-even rounding to bf16/f16 and NaN rules.  Expected values are
 * written out by hand or computed with an independent bit-level model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "ir/eval.h"

static ir_scalar I(int64_t v) { ir_scalar s; s.i = v; return s; }
static ir_scalar F(double v) { ir_scalar s; s.f = v; return s; }

static int64_t bin_i(ir_opcode op, ir_dtype t, int64_t a, int64_t b)
{
    ir_scalar r = I(12345);
    assert_int_equal(ir_eval_binary(op, t, I(a), I(b), &r), TILE_OK);
    return r.i;
}

static double bin_f(ir_opcode op, ir_dtype t, double a, double b)
{
    ir_scalar r = F(0);
    assert_int_equal(ir_eval_binary(op, t, F(a), F(b), &r), TILE_OK);
    return r.f;
}

static int64_t un_i(ir_opcode op, ir_dtype t, int64_t a)
{
    ir_scalar r = I(0);
    assert_int_equal(ir_eval_unary(op, t, t, I(a), &r), TILE_OK);
    return r.i;
}

static double un_f(ir_opcode op, ir_dtype t, double a)
{
    ir_scalar r = F(0);
    assert_int_equal(ir_eval_unary(op, t, t, F(a), &r), TILE_OK);
    return r.f;
}

static ir_scalar cast(ir_dtype in, ir_dtype out, ir_scalar x)
{
    ir_scalar r = I(0);
    assert_int_equal(ir_eval_unary(IR_OP_CAST, in, out, x, &r), TILE_OK);
    return r;
}

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* Independent model of f32 -> bf16 nearest-even (finite inputs). */
static float ref_bf16(float f)
{
    uint32_t u = bits(f), low = u & 0xffffu, high = u & 0xffff0000u;
    if (low > 0x8000u || (low == 0x8000u && (high & 0x10000u))) high += 0x10000u;
    float r;
    memcpy(&r, &high, 4);
    return r;
}

static void test_int_wrap(void **state)
{
    (void)state;
    assert_int_equal(bin_i(IR_OP_ADD, IR_I32, INT32_MAX, 1), INT32_MIN);
    assert_int_equal(bin_i(IR_OP_SUB, IR_I32, INT32_MIN, 1), INT32_MAX);
    assert_int_equal(bin_i(IR_OP_MUL, IR_I32, 65536, 65536), 0);
    assert_int_equal(bin_i(IR_OP_MUL, IR_I32, 65537, 65537), 131073);
    assert_int_equal(bin_i(IR_OP_ADD, IR_I64, INT64_MAX, 1), INT64_MIN);
    assert_int_equal(bin_i(IR_OP_MUL, IR_I64, INT64_MIN, -1), INT64_MIN);
    assert_int_equal(bin_i(IR_OP_ADD, IR_I64, 1LL << 40, 1LL << 40), 1LL << 41);
    assert_int_equal(un_i(IR_OP_NEG, IR_I32, INT32_MIN), INT32_MIN);
    assert_int_equal(un_i(IR_OP_ABS, IR_I32, INT32_MIN), INT32_MIN);
    assert_int_equal(un_i(IR_OP_ABS, IR_I32, -5), 5);
    assert_int_equal(un_i(IR_OP_NEG, IR_I64, INT64_MIN), INT64_MIN);
    assert_int_equal(un_i(IR_OP_NOT, IR_I32, 5), -6);
    assert_int_equal(un_i(IR_OP_NOT, IR_I64, 0), -1);
    assert_int_equal(un_i(IR_OP_NOT, IR_BOOL, 1), 0);
    assert_int_equal(un_i(IR_OP_NOT, IR_BOOL, 0), 1);
    /* i32 results are sign-extended into .i */
    assert_int_equal(bin_i(IR_OP_ADD, IR_I32, 0x7fffffff, 0x7fffffff), -2);
}

static void test_int_div_rem(void **state)
{
    (void)state;
    assert_int_equal(bin_i(IR_OP_DIV, IR_I32, 7, -2), -3);
    assert_int_equal(bin_i(IR_OP_DIV, IR_I32, -7, 2), -3);
    assert_int_equal(bin_i(IR_OP_REM, IR_I32, -7, 2), -1);
    assert_int_equal(bin_i(IR_OP_REM, IR_I32, 7, -2), 1);
    assert_int_equal(bin_i(IR_OP_DIV, IR_I32, INT32_MIN, -1), INT32_MIN);
    assert_int_equal(bin_i(IR_OP_REM, IR_I32, INT32_MIN, -1), 0);
    assert_int_equal(bin_i(IR_OP_DIV, IR_I64, INT64_MIN, -1), INT64_MIN);
    assert_int_equal(bin_i(IR_OP_REM, IR_I64, INT64_MIN, -1), 0);
    assert_int_equal(bin_i(IR_OP_DIV, IR_I64, INT64_MIN, 2), INT64_MIN / 2);
    ir_scalar r = I(99);
    assert_int_equal(ir_eval_binary(IR_OP_DIV, IR_I32, I(1), I(0), &r), TILE_ERR_RUNTIME);
    assert_int_equal(r.i, 99);
    assert_int_equal(ir_eval_binary(IR_OP_REM, IR_I64, I(1), I(0), &r), TILE_ERR_RUNTIME);
    assert_int_equal(r.i, 99);
    /* floats: IEEE division, fmodf */
    assert_true(isinf(bin_f(IR_OP_DIV, IR_F32, 1.0, 0.0)));
    assert_true(bin_f(IR_OP_REM, IR_F32, 5.5, 2.0) == 1.5);
    assert_true(bin_f(IR_OP_REM, IR_F32, -5.5, 2.0) == -1.5);
    assert_true(isnan(bin_f(IR_OP_REM, IR_F32, 1.0, 0.0)));
}

static void test_shifts(void **state)
{
    (void)state;
    assert_int_equal(bin_i(IR_OP_SHL, IR_I32, 1, 31), INT32_MIN);
    assert_int_equal(bin_i(IR_OP_SHL, IR_I32, 1, 32), 0);
    assert_int_equal(bin_i(IR_OP_SHL, IR_I32, 1, -1), 0);
    assert_int_equal(bin_i(IR_OP_SHL, IR_I32, 3, 31), INT32_MIN);
    assert_int_equal(bin_i(IR_OP_SHL, IR_I32, -1, 4), -16);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I32, -8, 1), -4);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I32, -1, 31), -1);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I32, -8, 32), -1);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I32, -8, -3), -1);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I32, 8, 32), 0);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I32, INT32_MAX, 30), 1);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I32, -7, 1), -4); /* floor */
    assert_int_equal(bin_i(IR_OP_SHL, IR_I64, 1, 63), INT64_MIN);
    assert_int_equal(bin_i(IR_OP_SHL, IR_I64, 1, 64), 0);
    assert_int_equal(bin_i(IR_OP_SHL, IR_I64, 1, 40), 1LL << 40);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I64, INT64_MIN, 63), -1);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I64, -1, 64), -1);
    assert_int_equal(bin_i(IR_OP_SHR, IR_I64, 1LL << 40, 40), 1);
}

static void test_bitwise_cmp(void **state)
{
    (void)state;
    assert_int_equal(bin_i(IR_OP_AND, IR_I32, 0xf0, 0x3c), 0x30);
    assert_int_equal(bin_i(IR_OP_OR, IR_I32, 0xf0, 0x0f), 0xff);
    assert_int_equal(bin_i(IR_OP_XOR, IR_I32, -1, 0x0f), -16);
    assert_int_equal(bin_i(IR_OP_AND, IR_BOOL, 1, 0), 0);
    assert_int_equal(bin_i(IR_OP_OR, IR_BOOL, 1, 0), 1);
    assert_int_equal(bin_i(IR_OP_XOR, IR_BOOL, 1, 1), 0);
    assert_int_equal(bin_i(IR_OP_CMP_LT, IR_I32, -1, 0), 1);
    assert_int_equal(bin_i(IR_OP_CMP_GE, IR_I64, INT64_MIN, INT64_MAX), 0);
    assert_int_equal(bin_i(IR_OP_CMP_EQ, IR_BOOL, 1, 1), 1);
    assert_int_equal(bin_i(IR_OP_MIN, IR_I32, -3, 2), -3);
    assert_int_equal(bin_i(IR_OP_MAX, IR_I64, -3, 2), 2);
    /* float comparisons with NaN: only != is true */
    ir_scalar r;
    assert_int_equal(ir_eval_binary(IR_OP_CMP_EQ, IR_F32, F(NAN), F(NAN), &r), TILE_OK);
    assert_int_equal(r.i, 0);
    assert_int_equal(ir_eval_binary(IR_OP_CMP_NE, IR_F32, F(NAN), F(1), &r), TILE_OK);
    assert_int_equal(r.i, 1);
    assert_int_equal(ir_eval_binary(IR_OP_CMP_LT, IR_F32, F(NAN), F(1), &r), TILE_OK);
    assert_int_equal(r.i, 0);
    assert_int_equal(ir_eval_binary(IR_OP_CMP_GE, IR_BF16, F(1), F(NAN), &r), TILE_OK);
    assert_int_equal(r.i, 0);
    assert_int_equal(ir_eval_binary(IR_OP_CMP_LE, IR_F16, F(-0.0), F(0.0), &r), TILE_OK);
    assert_int_equal(r.i, 1);
    /* shifts and bitwise ops are not float ops */
    assert_int_equal(ir_eval_binary(IR_OP_SHL, IR_F32, F(1), F(1), &r), TILE_ERR_INTERNAL);
    assert_int_equal(ir_eval_unary(IR_OP_EXP, IR_I32, IR_I32, I(1), &r), TILE_ERR_INTERNAL);
}

static void test_casts_to_int(void **state)
{
    (void)state;
    assert_int_equal(cast(IR_F32, IR_I32, F(3.75)).i, 3);
    assert_int_equal(cast(IR_F32, IR_I32, F(-3.75)).i, -3);
    assert_int_equal(cast(IR_F32, IR_I32, F(1e10)).i, INT32_MAX);
    assert_int_equal(cast(IR_F32, IR_I32, F(-1e10)).i, INT32_MIN);
    assert_int_equal(cast(IR_F32, IR_I32, F(2147483648.0)).i, INT32_MAX);
    assert_int_equal(cast(IR_F32, IR_I32, F(-2147483648.0)).i, INT32_MIN);
    assert_int_equal(cast(IR_F32, IR_I32, F(NAN)).i, 0);
    assert_int_equal(cast(IR_F32, IR_I32, F(INFINITY)).i, INT32_MAX);
    assert_int_equal(cast(IR_F32, IR_I64, F(-INFINITY)).i, INT64_MIN);
    assert_int_equal(cast(IR_F32, IR_I64, F(9223372036854775808.0)).i, INT64_MAX);
    assert_int_equal(cast(IR_F32, IR_I64, F(-9223372036854775808.0)).i, INT64_MIN);
    assert_int_equal(cast(IR_F32, IR_I64, F(1099511627776.0)).i, 1099511627776LL);
    assert_int_equal(cast(IR_BF16, IR_I32, F(-0.5)).i, 0);
    assert_int_equal(cast(IR_F16, IR_I64, F(65504.0)).i, 65504);
    assert_int_equal(cast(IR_I64, IR_I32, I(0x100000005LL)).i, 5);
    assert_int_equal(cast(IR_I64, IR_I32, I(0xffffffffLL)).i, -1);
    assert_int_equal(cast(IR_I64, IR_I32, I(0x80000000LL)).i, INT32_MIN);
    assert_int_equal(cast(IR_I32, IR_I64, I(-7)).i, -7);
    assert_int_equal(cast(IR_BOOL, IR_I32, I(1)).i, 1);
    /* any -> bool is x != 0 */
    assert_int_equal(cast(IR_F32, IR_BOOL, F(2.5)).i, 1);
    assert_int_equal(cast(IR_F32, IR_BOOL, F(0.0)).i, 0);
    assert_int_equal(cast(IR_F32, IR_BOOL, F(-0.0)).i, 0);
    assert_int_equal(cast(IR_F32, IR_BOOL, F(NAN)).i, 1);
    assert_int_equal(cast(IR_I64, IR_BOOL, I(1LL << 40)).i, 1);
    assert_int_equal(cast(IR_I32, IR_BOOL, I(0)).i, 0);
}

static void test_casts_to_float(void **state)
{
    (void)state;
    assert_true(cast(IR_BOOL, IR_F32, I(1)).f == 1.0);
    assert_true(cast(IR_BOOL, IR_BF16, I(0)).f == 0.0);
    assert_true(cast(IR_I32, IR_F32, I(16777217)).f == 16777216.0); /* tie -> even */
    assert_true(cast(IR_I32, IR_F32, I(16777219)).f == 16777220.0);
    assert_true(cast(IR_I32, IR_F32, I(-16777219)).f == -16777220.0);
    assert_true(cast(IR_I64, IR_F32, I(INT64_MIN)).f == -9223372036854775808.0);
    assert_true(cast(IR_I64, IR_F32, I(INT64_MAX)).f == 9223372036854775808.0);
    /* int -> bf16: 8 significant bits, nearest even */
    assert_true(cast(IR_I32, IR_BF16, I(257)).f == 256.0);
    assert_true(cast(IR_I32, IR_BF16, I(259)).f == 260.0);
    assert_true(cast(IR_I32, IR_BF16, I(-259)).f == -260.0);
    /* rounded once from the exact integer: through f32 this would tie twice
     * and give 2^24 */
    assert_true(cast(IR_I32, IR_BF16, I((1 << 24) + (1 << 16) + 1)).f == 16908288.0);
    /* int -> f16 */
    assert_true(cast(IR_I32, IR_F16, I(2049)).f == 2048.0);
    assert_true(cast(IR_I32, IR_F16, I(2051)).f == 2052.0);
    assert_true(cast(IR_I32, IR_F16, I(65504)).f == 65504.0);
    assert_true(cast(IR_I32, IR_F16, I(65519)).f == 65504.0);
    assert_true(isinf(cast(IR_I32, IR_F16, I(65520)).f));
    assert_true(isinf(cast(IR_I64, IR_F16, I(-1000000)).f));
    /* float -> float */
    assert_true(cast(IR_F32, IR_BF16, F(1.0 + 1.0 / 256)).f == 1.0);          /* tie, even down */
    assert_true(cast(IR_F32, IR_BF16, F(1.0 + 3.0 / 256)).f == 1.0 + 1.0 / 64); /* tie, even up */
    assert_true(cast(IR_F32, IR_BF16, F(1.0 + 1.0 / 256 + 1.0 / 1048576)).f == 1.0 + 1.0 / 128);
    assert_true(cast(IR_F32, IR_F16, F(65520.0)).f == INFINITY);
    assert_true(cast(IR_F32, IR_F16, F(65519.0)).f == 65504.0);
    assert_true(cast(IR_F32, IR_F16, F(ldexp(1, -25))).f == 0.0);          /* tie to 0 */
    assert_true(cast(IR_F32, IR_F16, F(3 * ldexp(1, -25))).f == ldexp(1, -23));
    assert_true(cast(IR_F16, IR_BF16, F(2049.0 - 1)).f == 2048.0);
    assert_true(cast(IR_BF16, IR_F32, F(3.0)).f == 3.0);
    assert_true(isnan(cast(IR_F32, IR_BF16, F(NAN)).f));
    assert_true(isnan(cast(IR_F32, IR_F16, F(NAN)).f));
    assert_true(signbit(cast(IR_F32, IR_BF16, F(-0.0)).f));
    /* a sweep against the independent model */
    for (uint32_t u = 0x3f800000u; u < 0x3f800000u + 0x40000u; u += 7) {
        float f;
        memcpy(&f, &u, 4);
        assert_true(cast(IR_F32, IR_BF16, F(f)).f == ref_bf16(f));
        assert_true(cast(IR_F32, IR_BF16, F(-f * 1e20f)).f == ref_bf16(-f * 1e20f));
    }
}

static void test_float_arith_rounding(void **state)
{
    (void)state;
    /* f32: one rounding per op */
    float a = 1.0f / 3.0f, b = 1e-8f;
    assert_true(bin_f(IR_OP_ADD, IR_F32, a, b) == (double)(a + b));
    assert_true(bin_f(IR_OP_MUL, IR_F32, a, 3.0) == (double)(a * 3.0f));
    assert_true(bin_f(IR_OP_DIV, IR_F32, 1.0, 3.0) == (double)a);
    /* bf16 ops compute in f32 and round: 1 + 2^-8 ties to 1 */
    assert_true(bin_f(IR_OP_ADD, IR_BF16, 1.0, 1.0 / 256) == 1.0);
    assert_true(bin_f(IR_OP_ADD, IR_BF16, 1.0, 3.0 / 256) == 1.0 + 1.0 / 64);
    assert_true(bin_f(IR_OP_SUB, IR_BF16, 1.0, 1.0 / 512) == 1.0);
    assert_true(bin_f(IR_OP_MUL, IR_BF16, 3.0, 0.33203125) == ref_bf16(3.0f * 0.33203125f));
    assert_true(bin_f(IR_OP_ADD, IR_F16, 2048.0, 1.0) == 2048.0);
    assert_true(bin_f(IR_OP_ADD, IR_F16, 2050.0, 1.0) == 2052.0);
    assert_true(isinf(bin_f(IR_OP_MUL, IR_F16, 300.0, 300.0)));
    assert_true(bin_f(IR_OP_DIV, IR_BF16, 1.0, 3.0) == ref_bf16(1.0f / 3.0f));
    assert_true(un_f(IR_OP_NEG, IR_BF16, 1.5) == -1.5);
    assert_true(un_f(IR_OP_ABS, IR_F16, -2.0) == 2.0);
}

static void test_transcendentals(void **state)
{
    (void)state;
    assert_true(un_f(IR_OP_EXP, IR_F32, 1.0) == (double)expf(1.0f));
    assert_true(un_f(IR_OP_EXP, IR_BF16, 1.0) == (double)ref_bf16(expf(1.0f)));
    assert_true(un_f(IR_OP_EXP2, IR_F32, 10.0) == 1024.0);
    assert_true(un_f(IR_OP_LOG2, IR_F32, 8.0) == 3.0);
    assert_true(un_f(IR_OP_LOG, IR_F32, 1.0) == 0.0);
    assert_true(isinf(un_f(IR_OP_LOG, IR_F32, 0.0)));
    assert_true(un_f(IR_OP_SQRT, IR_F32, 2.0) == (double)sqrtf(2.0f));
    assert_true(isnan(un_f(IR_OP_SQRT, IR_F32, -1.0)));
    assert_true(un_f(IR_OP_RSQRT, IR_F32, 4.0) == 0.5);
    assert_true(un_f(IR_OP_RSQRT, IR_F32, 3.0) == (double)(1.0f / sqrtf(3.0f)));
    assert_true(un_f(IR_OP_SIGMOID, IR_F32, 0.0) == 0.5);
    assert_true(un_f(IR_OP_SIGMOID, IR_F32, 2.0) == (double)(1.0f / (1.0f + expf(-2.0f))));
    assert_true(un_f(IR_OP_SIGMOID, IR_F32, -200.0) == 0.0);
    assert_true(un_f(IR_OP_SIGMOID, IR_F32, 200.0) == 1.0);
    assert_true(un_f(IR_OP_TANH, IR_BF16, 0.5) == (double)ref_bf16(tanhf(0.5f)));
    assert_true(un_f(IR_OP_EXP, IR_F32, -INFINITY) == 0.0);
}

static void test_min_max_nan(void **state)
{
    (void)state;
    assert_true(isnan(bin_f(IR_OP_MAX, IR_F32, NAN, 1.0)));
    assert_true(isnan(bin_f(IR_OP_MAX, IR_F32, 1.0, NAN)));
    assert_true(isnan(bin_f(IR_OP_MIN, IR_BF16, NAN, 1.0)));
    assert_true(isnan(bin_f(IR_OP_MIN, IR_F16, 1.0, NAN)));
    assert_true(bin_f(IR_OP_MAX, IR_F32, -INFINITY, 2.0) == 2.0);
    assert_true(bin_f(IR_OP_MAX, IR_F32, -INFINITY, -INFINITY) == -INFINITY);
    assert_true(bin_f(IR_OP_MIN, IR_F32, INFINITY, -3.0) == -3.0);
    assert_false(signbit(bin_f(IR_OP_MAX, IR_F32, -0.0, 0.0)));
    assert_false(signbit(bin_f(IR_OP_MAX, IR_F32, 0.0, -0.0)));
    assert_true(signbit(bin_f(IR_OP_MIN, IR_F32, -0.0, 0.0)));
    assert_true(signbit(bin_f(IR_OP_MIN, IR_F32, 0.0, -0.0)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_wrap),
        cmocka_unit_test(test_int_div_rem),
        cmocka_unit_test(test_shifts),
        cmocka_unit_test(test_bitwise_cmp),
        cmocka_unit_test(test_casts_to_int),
        cmocka_unit_test(test_casts_to_float),
        cmocka_unit_test(test_float_arith_rounding),
        cmocka_unit_test(test_transcendentals),
        cmocka_unit_test(test_min_max_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
