/* test_spec_divisible.c - compiler/spec_divisible.c: specialisation on
 * sizes divisible by the block that tiles them.
 *
 * The candidates a kernel offers; that the specialised IR of flash_fwd has
 * no mask branch for the boundary block, fewer per-element masks and no
 * constant remainder,
 * and its PTX fewer bounds checks; that the interpreter gives bit-identical
 * results for the general and the specialised variant where the facts hold;
 * and that a remainder the facts do not make 0 is left alone (the analysis
 * is exact, not hopeful).  The runtime's choice of variant is tested in
 * test_rt_fakegpu.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compiler/pipeline.h"
#include "ref/harness.h"

static const char *FLASH = TILE_SOURCE_DIR "/lib/attention/flash_fwd.tile";

static tc_unit *compile(const char *path, const char *text, const char *kernel, const char *defines)
{
    arena mem;
    arena_init(&mem);
    const char **defs = NULL;
    int ndefs = defines ? tc_split_defines(&mem, defines, &defs) : 0;
    assert_true(ndefs >= 0);
    tc_options o = {.kernel = kernel, .defines = defs, .ndefines = ndefs, .opt_level = 1,
                    .verify_each = true};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, path, text, &o);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    arena_free(&mem); /* the unit copied what it keeps */
    return u;
}

static int find(const tc_div_candidate *c, int n, const char *dim, int64_t divisor)
{
    for (int j = 0; j < n; j++)
        if (strcmp(c[j].dim, dim) == 0 && c[j].divisor == divisor) return j;
    return -1;
}

/* ---- what the IR holds --------------------------------------------------- */

typedef struct census {
    int loops, ifs, masked_mem, tile_masks, const_rems;
} census;

static void count_op(ir_op *op, void *ctx)
{
    census *c = ctx;
    ir_scalar k;
    if (op->code == IR_OP_FOR) c->loops++;
    if (op->code == IR_OP_IF) c->ifs++;
    if ((op->code == IR_OP_LOAD || op->code == IR_OP_STORE) && (op->attr.i & IR_LOAD_HAS_MASK))
        c->masked_mem++;
    if (op->code == IR_OP_REM && ir_value_const(op->operands[1], &k)) c->const_rems++;
    /* per-element masks: tile compares (`cols[None, :] < N`) */
    if ((ir_op_table[op->code].flags & IR_CMP) && op->results[0]->type.rank > 0) c->tile_masks++;
}

static census count(const ir_func *f)
{
    census c = {0};
    ir_walk(f->grid, count_op, &c);
    ir_walk(f->body, count_op, &c);
    return c;
}

static uint64_t all_facts(const tc_unit *u)
{
    tc_div_candidate c[TC_MAX_DIV_CANDIDATES];
    int n = tc_div_candidates(u->kernel, c, TC_MAX_DIV_CANDIDATES);
    assert_true(n > 0 && n < 64);
    return ((uint64_t)1 << n) - 1;
}

static void candidates(void **state)
{
    (void)state;
    tc_unit *u = compile(FLASH, NULL, "flash_fwd", "D=64,BM=64,BN=32");
    tc_div_candidate c[TC_MAX_DIV_CANDIDATES];
    int n = tc_div_candidates(u->kernel, c, TC_MAX_DIV_CANDIDATES);
    assert_true(find(c, n, "M", 64) >= 0); /* grid(cdiv(M, BM)) */
    assert_true(find(c, n, "N", 32) >= 0); /* the key blocks: full ones, then a partial one */
    assert_true(find(c, n, "N", 64) < 0);
    /* the same IR, the same list: bits mean the same in the runtime and the compiler */
    tc_div_candidate again[TC_MAX_DIV_CANDIDATES];
    assert_int_equal(tc_div_candidates(u->kernel, again, TC_MAX_DIV_CANDIDATES), n);
    for (int j = 0; j < n; j++) {
        assert_string_equal(again[j].dim, c[j].dim);
        assert_int_equal(again[j].divisor, c[j].divisor);
    }
    /* a cap is honoured */
    assert_int_equal(tc_div_candidates(u->kernel, again, 1), 1);
    tc_unit_free(u);
}

/* flash_fwd with M and N multiples of BM and BN: the key loop's trailing
 * partial block is gone, so its full test folds to true (flash_fwd.tile,
 * full_in_slot) and the branch that applies the bounds mask
 * (`cols[None, :] < N`, to the scores) disappears; the constant
 * remainders fold. */
static void specialised_ir_drops_masks(void **state)
{
    (void)state;
    for (int causal = 0; causal < 2; causal++) {
        const char *defs = causal ? "D=64,BM=64,BN=32,mask=causal" : "D=64,BM=64,BN=32";
        tc_unit *gen = compile(FLASH, NULL, "flash_fwd", defs);
        tc_unit *spec = compile(FLASH, NULL, "flash_fwd", defs);
        assert_int_equal(tc_specialise_divisible(spec, all_facts(spec)), TILE_OK);
        census g = count(gen->kernel), s = count(spec->kernel);
        if (getenv("TH_VERBOSE"))
            fprintf(stderr, "%s: loops %d -> %d, ifs %d -> %d, masked loads/stores %d -> %d, "
                    "tile compares %d -> %d, const rems %d -> %d\n", defs, g.loops, s.loops, g.ifs,
                    s.ifs, g.masked_mem, s.masked_mem, g.tile_masks, s.tile_masks, g.const_rems,
                    s.const_rems);
        /* causal: the diagonal blocks keep their branch and mask (the
         * causal mask needs them whatever N is); only the remainders fold */
        assert_int_equal(s.loops, g.loops);
        assert_true(causal ? s.ifs <= g.ifs : s.ifs < g.ifs);
        assert_true(s.masked_mem <= g.masked_mem);
        assert_true(causal ? s.tile_masks <= g.tile_masks : s.tile_masks < g.tile_masks);
        assert_true(g.const_rems > 0);
        assert_int_equal(s.const_rems, 0);
        /* no facts: nothing changes */
        tc_unit *none = compile(FLASH, NULL, "flash_fwd", defs);
        assert_int_equal(tc_specialise_divisible(none, 0), TILE_OK);
        census z = count(none->kernel);
        assert_memory_equal(&z, &g, sizeof z);
        tc_unit_free(none);
        tc_unit_free(gen);
        tc_unit_free(spec);
    }
}

/* ---- the interpreter: both variants, the same bits ------------------------ */

typedef struct attn_run {
    th_tensor q, k, v, o, lse;
} attn_run;

static void attn_new(attn_run *r, int64_t M, int64_t N, uint64_t seed)
{
    th_rng rng = th_rng_new(seed);
    int64_t qs[4] = {1, 2, M, 64}, ks[4] = {1, 1, N, 64}, ls[3] = {1, 2, M};
    r->q = th_tensor_new(IR_BF16, 4, qs, NULL);
    r->k = th_tensor_new(IR_BF16, 4, ks, NULL);
    r->v = th_tensor_new(IR_BF16, 4, ks, NULL);
    r->o = th_tensor_new(IR_BF16, 4, qs, NULL);
    r->lse = th_tensor_new(IR_F32, 3, ls, NULL);
    th_tensor *in[3] = {&r->q, &r->k, &r->v};
    for (int i = 0; i < 3; i++) {
        float *x = TH_NEW(float, in[i]->numel);
        th_fill(&rng, x, in[i]->numel, -2, 2, IR_BF16);
        th_tensor_set(in[i], x);
        free(x);
    }
}

static void attn_free(attn_run *r)
{
    th_tensor *all[5] = {&r->q, &r->k, &r->v, &r->o, &r->lse};
    for (int i = 0; i < 5; i++) th_tensor_free(all[i]);
}

/* Runs u's kernel on r (outputs poisoned first); the outputs' bytes. */
static void attn_launch(tc_unit *u, attn_run *r)
{
    th_tensor_poison(&r->o);
    th_tensor_poison(&r->lse);
    interp_arg a[6];
    memset(a, 0, sizeof a);
    a[0].tensor = r->q.t;
    a[1].tensor = r->k.t;
    a[2].tensor = r->v.t;
    a[3].tensor = r->o.t;
    a[4].tensor = r->lse.t;
    a[5].scalar.f = 0.125;
    tile_status st = interp_launch(u->kernel, a, 6, &u->diags, NULL);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
}

static void interpreter_same_results(void **state)
{
    (void)state;
    static const char *const defs[] = {"D=64,BM=64,BN=32", "D=64,BM=64,BN=32,mask=causal",
                                       "D=64,BM=32,BN=64,mask=causal"};
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        tc_unit *gen = compile(FLASH, NULL, "flash_fwd", defs[i]);
        tc_unit *spec = compile(FLASH, NULL, "flash_fwd", defs[i]);
        assert_int_equal(tc_specialise_divisible(spec, all_facts(spec)), TILE_OK);
        attn_run r;
        attn_new(&r, 128, 192, 7 + i); /* multiples of 64 */
        attn_launch(gen, &r);
        size_t ob = r.o.numel * 2, lb = r.lse.numel * 4;
        void *o = malloc(ob), *lse = malloc(lb);
        memcpy(o, r.o.t.data, ob);
        memcpy(lse, r.lse.t.data, lb);
        attn_launch(spec, &r);
        assert_memory_equal(o, r.o.t.data, ob);
        assert_memory_equal(lse, r.lse.t.data, lb);
        float *of = TH_NEW(float, r.o.numel);
        th_tensor_get(&r.o, of);
        for (size_t e = 0; e < r.o.numel; e++) assert_true(of[e] == of[e]); /* every element written */
        free(of);
        free(o);
        free(lse);
        attn_free(&r);
        tc_unit_free(gen);
        tc_unit_free(spec);
    }
}

/* rem(N + 1, 16) is not 0 when N is a multiple of 16: the analysis keeps
 * the offset (N + 1 = 1 mod 16), so the grid stays cdiv(N + 1, 16) and the
 * specialised kernel writes the same elements as the general one. */
static const char *offset_src =
    "kernel fill(y: out tensor<i32>[N], const B: int = 16) grid(cdiv(N + 1, B) + N % B)\n"
    "{\n"
    "    let i = program_id(0) * B + arange(B);\n"
    "    store(y[i], i * 0 + num_programs(0));\n"
    "}\n";

static void offsets_are_kept(void **state)
{
    (void)state;
    tc_unit *gen = compile("fill.tile", offset_src, "fill", NULL);
    tc_unit *spec = compile("fill.tile", offset_src, "fill", NULL);
    tc_div_candidate c[TC_MAX_DIV_CANDIDATES];
    int n = tc_div_candidates(spec->kernel, c, TC_MAX_DIV_CANDIDATES);
    assert_true(find(c, n, "N", 16) >= 0);
    assert_int_equal(tc_specialise_divisible(spec, all_facts(spec)), TILE_OK);
    /* N % B folded to 0, (N + 1) % B kept */
    assert_int_equal(count(gen->kernel).const_rems, 2);
    assert_int_equal(count(spec->kernel).const_rems, 1);
    int32_t yg[48], ys[48];
    tc_unit *units[2] = {gen, spec};
    int32_t *outs[2] = {yg, ys};
    for (int v = 0; v < 2; v++) {
        for (int e = 0; e < 48; e++) outs[v][e] = -1;
        interp_arg a[1];
        memset(a, 0, sizeof a);
        a[0].tensor = (interp_tensor){.dtype = IR_I32, .rank = 1, .shape = {48}, .data = outs[v]};
        interp_contiguous_strides(&a[0].tensor);
        assert_int_equal(interp_launch(units[v]->kernel, a, 1, &units[v]->diags, NULL), TILE_OK);
    }
    assert_memory_equal(yg, ys, sizeof yg);
    assert_int_equal(yg[0], 4); /* cdiv(49, 16) + 0 programs (3 if (N + 1) % 16 were taken as 0) */
    tc_unit_free(gen);
    tc_unit_free(spec);
}

/* Facts naming a candidate the kernel lacks are an internal error, never
 * applied. */
static void unknown_facts_rejected(void **state)
{
    (void)state;
    tc_unit *u = compile(FLASH, NULL, "flash_fwd", "D=64,BM=64,BN=32");
    assert_int_equal(tc_specialise_divisible(u, (uint64_t)1 << 63), TILE_ERR_INTERNAL);
    assert_non_null(strstr(u->diags.first->msg, "divisibility facts"));
    tc_unit_free(u);
}

/* ---- PTX: fewer bounds checks --------------------------------------------- */

static int occurrences(const char *text, const char *pat)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, pat)); p += strlen(pat)) n++;
    return n;
}

static void ptx_has_fewer_checks(void **state)
{
    (void)state;
    const char *defs = "D=64,BM=64,BN=32";
    int cp[2], setp[2];
    size_t len[2];
    for (int v = 0; v < 2; v++) {
        tc_unit *u = compile(FLASH, NULL, "flash_fwd", defs);
        tc_gpu_options g = {.arch = "sm_90"};
        if (v) g.facts.divisible = all_facts(u);
        tc_gpu_kernel k;
        tile_status st = tc_compile_gpu(u, &g, &k);
        if (st != TILE_OK) diag_print_all(&u->diags, stderr);
        assert_int_equal(st, TILE_OK);
        cp[v] = occurrences(k.ptx, "cp.async.cg");
        setp[v] = occurrences(k.ptx, "setp.");
        len[v] = k.ptx_size;
        tc_unit_free(u);
    }
    if (getenv("TH_VERBOSE"))
        fprintf(stderr, "flash_fwd PTX: cp.async %d -> %d, setp %d -> %d, bytes %zu -> %zu\n", cp[0],
                cp[1], setp[0], setp[1], len[0], len[1]);
    assert_true(cp[1] <= cp[0]);    /* one key loop either way: its copies stay */
    assert_true(setp[1] < setp[0]); /* the mask branch and its compares go */
    assert_true(len[1] < len[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(candidates),
        cmocka_unit_test(specialised_ir_drops_masks),
        cmocka_unit_test(interpreter_same_results),
        cmocka_unit_test(offsets_are_kept),
        cmocka_unit_test(unknown_facts_rejected),
        cmocka_unit_test(ptx_has_fewer_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
