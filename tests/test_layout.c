/* test_layout.c - ir/layout.c, ir/target.c and compiler/sched_layout.c:
 * interning, printing and validity of layouts; the verifier's stage rules
 * (no layout in tile IR, one on every tile in scheduled IR, no implicit
 * conversion); the layouts the scheduler picks; explicit convert_layout
 * ops run on the interpreter and compile to PTX; target descriptions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compiler/pipeline.h"
#include "compiler/sched_layout.h"
#include "compiler/sched_model.h"
#include "compiler/sched_pipeline.h"
#include "ir/target.h"

static ir_layout blocked2(int s0, int s1, int t0, int t1, int w0, int w1)
{
    return (ir_layout){.kind = IR_LAYOUT_BLOCKED, .rank = 2, .size_per_thread = {s0, s1},
                       .threads_per_warp = {t0, t1}, .warps_per_cta = {w0, w1}, .order = {1, 0}};
}

static void interning_and_printing(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    ir_layout_set set = {0};
    ir_layout a = blocked2(1, 4, 8, 4, 4, 1), b = blocked2(1, 4, 8, 4, 4, 1), c = blocked2(1, 4, 8, 4, 2, 2);
    const ir_layout *la = ir_layout_intern(&mem, &set, &a), *lb = ir_layout_intern(&mem, &set, &b);
    const ir_layout *lc = ir_layout_intern(&mem, &set, &c);
    assert_ptr_equal(la, lb);
    assert_ptr_not_equal(la, lc);
    char buf[256];
    assert_string_equal(ir_layout_str(la, buf, sizeof buf),
                        "#blocked<spt=[1,4],tpw=[8,4],wpc=[4,1],order=[1,0]>");
    ir_layout s = {.kind = IR_LAYOUT_SLICE, .rank = 1, .parent = la, .dim = 1};
    const ir_layout *ls = ir_layout_intern(&mem, &set, &s);
    assert_ptr_equal(ls, ir_layout_intern(&mem, &set, &s));
    assert_string_equal(ir_layout_str(ls, buf, sizeof buf),
                        "#slice<dim=1,#blocked<spt=[1,4],tpw=[8,4],wpc=[4,1],order=[1,0]>>");
    ir_layout mma = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 2, .warps_per_cta = {2, 2}};
    const ir_layout *lm = ir_layout_intern(&mem, &set, &mma);
    ir_layout op = {.kind = IR_LAYOUT_DOT_OPERAND, .rank = 2, .parent = lm, .opidx = 0, .kwidth = 8};
    assert_string_equal(ir_layout_str(ir_layout_intern(&mem, &set, &op), buf, sizeof buf),
                        "#dot_op<0,kwidth=8,#mma<v2,wpc=[2,2]>>");
    /* wgmma: mma v3 and the 128-byte swizzled buffer; swizzle is part of
     * the identity (an interned v3 differs from v2, a swizzle=128 buffer from
     * the same fields without it) and printed only when set. */
    ir_layout v3 = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 3, .warps_per_cta = {8, 1}};
    ir_layout v2 = v3;
    v2.version = 2;
    const ir_layout *l3 = ir_layout_intern(&mem, &set, &v3);
    assert_ptr_equal(l3, ir_layout_intern(&mem, &set, &v3));
    assert_ptr_not_equal(l3, ir_layout_intern(&mem, &set, &v2));
    assert_string_equal(ir_layout_str(l3, buf, sizeof buf), "#mma<v3,wpc=[8,1]>");
    ir_layout sw = {.kind = IR_LAYOUT_SHARED, .rank = 3, .vec = 8, .per_phase = 1, .max_phase = 8,
                    .order = {2, 1, 0}, .swizzle = 128};
    ir_layout plain = sw;
    plain.swizzle = 0;
    const ir_layout *lsw = ir_layout_intern(&mem, &set, &sw), *lpl = ir_layout_intern(&mem, &set, &plain);
    assert_ptr_not_equal(lsw, lpl);
    assert_ptr_equal(lsw, ir_layout_intern(&mem, &set, &sw));
    assert_string_equal(ir_layout_str(lsw, buf, sizeof buf),
                        "#shared<vec=8,per_phase=1,max_phase=8,order=[2,1,0],swizzle=128>");
    assert_string_equal(ir_layout_str(lpl, buf, sizeof buf), "#shared<vec=8,per_phase=1,max_phase=8,order=[2,1,0]>");
    /* A short buffer truncates, never overflows. */
    char tiny[8];
    assert_int_equal(strlen(ir_layout_str(la, tiny, sizeof tiny)), 7);
    arena_free(&mem);
}

static void validity(void **state)
{
    (void)state;
    const char *why = NULL;
    ir_layout ok = blocked2(1, 4, 8, 4, 4, 1);
    assert_true(ir_layout_valid(&ok, 2, 4, &why));
    assert_false(ir_layout_valid(&ok, 2, 8, &why));          /* 4 warps, module has 8 */
    assert_non_null(strstr(why, "num_warps"));
    ir_layout lanes = blocked2(1, 4, 8, 8, 4, 1);
    assert_false(ir_layout_valid(&lanes, 2, 4, &why));       /* 64 lanes */
    assert_non_null(strstr(why, "32"));
    assert_false(ir_layout_valid(&ok, 3, 4, &why));          /* rank */
    ir_layout order = ok;
    order.order[1] = 1;
    assert_false(ir_layout_valid(&order, 2, 4, &why));
    ir_layout zero = blocked2(0, 4, 8, 4, 4, 1);
    assert_false(ir_layout_valid(&zero, 2, 4, &why));
    ir_layout shared = {.kind = IR_LAYOUT_SHARED, .rank = 2, .vec = 8, .per_phase = 1, .max_phase = 8,
                        .order = {1, 0}};
    assert_true(ir_layout_valid(&shared, 2, 4, &why));       /* a buffer (local_alloc) */
    shared.order[1] = 1;
    assert_false(ir_layout_valid(&shared, 2, 4, &why));
    shared.order[1] = 0;
    shared.max_phase = 0;
    assert_false(ir_layout_valid(&shared, 2, 4, &why));
    /* wgmma: whole warpgroups along M; the 128-byte swizzle only with its
     * fixed phases. */
    ir_layout v3 = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 3, .warps_per_cta = {4, 1}};
    assert_true(ir_layout_valid(&v3, 2, 4, &why));
    v3.warps_per_cta[0] = 8;
    assert_true(ir_layout_valid(&v3, 2, 8, &why));
    v3.warps_per_cta[0] = 2;
    v3.warps_per_cta[1] = 2;
    assert_false(ir_layout_valid(&v3, 2, 4, &why)); /* half a warpgroup along M */
    v3.warps_per_cta[0] = 4;
    v3.warps_per_cta[1] = 2;
    assert_true(ir_layout_valid(&v3, 2, 8, &why)); /* valid data; codegen lowers wpc[1] = 1 only */
    v3.version = 4;
    assert_false(ir_layout_valid(&v3, 2, 8, &why));
    ir_layout sw = {.kind = IR_LAYOUT_SHARED, .rank = 2, .vec = 8, .per_phase = 1, .max_phase = 8,
                    .order = {1, 0}, .swizzle = 128};
    assert_true(ir_layout_valid(&sw, 2, 4, &why));
    sw.max_phase = 4;
    assert_false(ir_layout_valid(&sw, 2, 4, &why));
    sw.max_phase = 8;
    sw.swizzle = 64;
    assert_false(ir_layout_valid(&sw, 2, 4, &why));
    ir_layout sl = {.kind = IR_LAYOUT_SLICE, .rank = 1, .parent = &ok, .dim = 1};
    assert_true(ir_layout_valid(&sl, 1, 4, &why));
    sl.dim = 2;
    assert_false(ir_layout_valid(&sl, 1, 4, &why));
}

/* Registers a thread holds under the wgmma layouts (the register model of
 * compiler/sched_model.c reads them): m64nNk16 gives each thread N/2 f32
 * accumulators per 64-row block of its warpgroup, A in registers 8 per
 * k16 step (K/2), a row vector 2 per block; a buffer none. */
static void wgmma_elems_per_thread(void **state)
{
    (void)state;
    ir_layout v3 = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 3, .warps_per_cta = {4, 1}};
    assert_int_equal(ir_layout_elems_per_thread(&v3, 2, (int64_t[]){64, 64}), 32);
    assert_int_equal(ir_layout_elems_per_thread(&v3, 2, (int64_t[]){128, 64}), 64);   /* two blocks */
    assert_int_equal(ir_layout_elems_per_thread(&v3, 2, (int64_t[]){64, 256}), 128);  /* m64n256 */
    ir_layout v3w2 = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 3, .warps_per_cta = {8, 1}};
    assert_int_equal(ir_layout_elems_per_thread(&v3w2, 2, (int64_t[]){128, 128}), 64); /* one block each */
    assert_int_equal(ir_layout_elems_per_thread(&v3w2, 2, (int64_t[]){256, 64}), 64);
    ir_layout a = {.kind = IR_LAYOUT_DOT_OPERAND, .rank = 2, .parent = &v3, .opidx = 0, .kwidth = 2};
    assert_int_equal(ir_layout_elems_per_thread(&a, 2, (int64_t[]){64, 64}), 32);
    assert_int_equal(ir_layout_elems_per_thread(&a, 2, (int64_t[]){128, 128}), 128);
    ir_layout rows = {.kind = IR_LAYOUT_SLICE, .rank = 1, .parent = &v3, .dim = 1};
    assert_int_equal(ir_layout_elems_per_thread(&rows, 1, (int64_t[]){128}), 4);
    ir_layout sw = {.kind = IR_LAYOUT_SHARED, .rank = 2, .vec = 8, .per_phase = 1, .max_phase = 8,
                    .order = {1, 0}, .swizzle = 128};
    assert_int_equal(ir_layout_elems_per_thread(&sw, 2, (int64_t[]){64, 128}), 0);
}

/* The pipeliner's swizzle maps each row's 16-byte chunks onto themselves
 * (a permutation: every element has one place, inside its row) for every
 * row length, and the 8 rows an ldmatrix reads at one logical chunk land
 * in 8 different 16-byte bank groups when rows are 128 bytes or more. */
static void shared_swizzle(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    ir_module *m = ir_module_new(&mem, NULL);
    for (int64_t cols = 8; cols <= 256; cols += 8) {
        const ir_layout *l = sched_shared_layout(m, 2, cols);
        assert_non_null(l);
        const char *why = NULL;
        assert_true(ir_layout_valid(l, 2, 4, &why));
        int64_t chunks = cols / 8;
        for (int64_t r = 0; r < 64; r++) {
            bool seen[64] = {false};
            for (int64_t c = 0; c < chunks; c++) {
                int64_t p = c ^ ((r / l->per_phase) % l->max_phase);
                assert_true(p >= 0 && p < chunks);
                assert_false(seen[p]);
                seen[p] = true;
            }
        }
        if (chunks % 8 == 0)
            for (int64_t c = 0; c < chunks; c++) {
                bool bank[8] = {false};
                for (int64_t r = 0; r < 8; r++) {
                    int64_t g = ((r * chunks + (c ^ ((r / l->per_phase) % l->max_phase))) % 8);
                    assert_false(bank[g]);
                    bank[g] = true;
                }
            }
    }
    arena_free(&mem);
}

static void scheduler_layouts(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    diag_ctx d;
    diag_init(&d, &mem);
    ir_module *m = ir_module_new(&mem, &d);
    char buf[256];
    /* Row-major f32 rows of 64: 8 per thread along the row (two 16-byte
     * vectors), 8 lanes per row, 4 rows per warp, warps down the rows. */
    const ir_layout *l = sched_default_layout(m, 2, (int64_t[]){16, 64}, 4);
    assert_string_equal(ir_layout_str(l, buf, sizeof buf),
                        "#blocked<spt=[1,8],tpw=[4,8],wpc=[4,1],order=[1,0]>");
    /* Same shape, same layout (interned): elementwise ops agree for free. */
    assert_ptr_equal(l, sched_default_layout(m, 2, (int64_t[]){16, 64}, 4));
    /* An odd last dim gets one element per thread. */
    l = sched_default_layout(m, 2, (int64_t[]){16, 111}, 4);
    assert_int_equal(l->size_per_thread[1], 1);
    /* A small 1-D tile: lanes beyond it are padding, warps multiply to 8. */
    l = sched_default_layout(m, 1, (int64_t[]){16}, 8);
    const char *why;
    assert_true(ir_layout_valid(l, 1, 8, &why));
    arena_free(&mem);
}

static void targets(void **state)
{
    (void)state;
    const ir_target *a = ir_target_find("sm_80"), *h = ir_target_find("sm_90");
    assert_non_null(a);
    assert_non_null(h);
    assert_null(ir_target_find("sm_70"));
    assert_null(ir_target_find(NULL));
    assert_int_equal(h->warp_size, 32);
    assert_true(h->smem_per_block > a->smem_per_block);
    assert_true(a->has_mma_m16n8k16 && h->has_mma_m16n8k16);
    assert_true(h->has_wgmma); /* emitted as sm_90a when the schedule uses it */
    assert_false(a->has_wgmma);
    assert_int_equal(h->regs_per_thread, 255);
}

/* ---- the verifier's stage rules --------------------------------------------- */

static const char *src =
    "kernel k(x: tensor<f32>[R, 64], y: out tensor<f32>[R, 64], s: f32) grid(cdiv(R, 16))\n"
    "{\n"
    "    let rows = program_id(0) * 16 + arange(16);\n"
    "    let t = load(x[rows, :]);\n"
    "    store(y[rows, :], t * s + rowmax(t)[:, None]);\n"
    "}\n";

static tc_unit *compile(void)
{
    tc_options o = {.kernel = "k", .opt_level = 1};
    tc_unit *u = NULL;
    assert_int_equal(tc_compile(&u, "k.tile", src, &o), TILE_OK);
    return u;
}

/* The first op of this kind with a 2-D result (skips scalar index math). */
static ir_op *find_op(ir_func *f, ir_opcode code)
{
    for (ir_op *op = f->body->first; op; op = op->next)
        if (op->code == code && op->nresults == 1 && op->results[0]->type.rank == 2) return op;
    return NULL;
}

static bool has_error(tc_unit *u, const char *what)
{
    for (const diag *d = u->diags.first; d; d = d->next)
        if (d->msg && strstr(d->msg, what)) return true;
    return false;
}

static void stage_rules(void **state)
{
    (void)state;
    /* Tile IR: expand_dims for [:, None], no layouts; a layout is an error. */
    tc_unit *u = compile();
    ir_op *mul = find_op(u->kernel, IR_OP_MUL);
    assert_non_null(find_op(u->kernel, IR_OP_EXPAND_DIMS));
    assert_null(find_op(u->kernel, IR_OP_RESHAPE));
    assert_non_null(mul);
    mul->results[0]->type.layout = sched_default_layout(u->module, 2, mul->results[0]->type.shape, 4);
    FILE *devnull = fopen("/dev/null", "w");
    FILE *saved = stderr;
    stderr = devnull; /* the verifier dumps the function */
    assert_int_equal(ir_verify_module(u->module, "test"), TILE_ERR_INTERNAL);
    stderr = saved;
    if (!has_error(u, "before scheduling")) diag_print_all(&u->diags, stdout);
    assert_true(has_error(u, "before scheduling"));
    tc_unit_free(u);

    /* Scheduled IR verifies; a tile without a layout does not. */
    u = compile();
    assert_int_equal(sched_assign_layouts(u->module, ir_target_find("sm_90"), 4), TILE_OK);
    assert_int_equal(u->module->stage, IR_STAGE_SCHEDULED);
    assert_int_equal(u->module->target.num_warps, 4);
    mul = find_op(u->kernel, IR_OP_MUL);
    const ir_layout *keep = mul->results[0]->type.layout;
    mul->results[0]->type.layout = NULL;
    stderr = devnull;
    assert_int_equal(ir_verify_module(u->module, "test"), TILE_ERR_INTERNAL);
    stderr = saved;
    assert_true(has_error(u, "has no layout in scheduled IR"));
    tc_unit_free(u);

    /* An elementwise operand in another layout is an implicit conversion. */
    u = compile();
    assert_int_equal(sched_assign_layouts(u->module, ir_target_find("sm_90"), 4), TILE_OK);
    mul = find_op(u->kernel, IR_OP_MUL);
    ir_layout other = *mul->operands[0]->type.layout;
    other.size_per_thread[1] = 1;
    other.threads_per_warp[0] = 1;
    other.threads_per_warp[1] = 32;
    keep = ir_layout_intern(u->module->mem, &u->module->layouts, &other);
    mul->operands[0]->type.layout = keep;
    stderr = devnull;
    assert_int_equal(ir_verify_module(u->module, "test"), TILE_ERR_INTERNAL);
    stderr = saved;
    assert_true(has_error(u, "another layout than the result"));
    tc_unit_free(u);
    fclose(devnull);
}

/* load -> convert_layout (column-major lanes) -> convert_layout back -> mul:
 * verifies, runs on the interpreter with the same result, and lowers. */
static void explicit_conversions(void **state)
{
    (void)state;
    tc_unit *u = compile();
    assert_int_equal(sched_assign_layouts(u->module, ir_target_find("sm_90"), 4), TILE_OK);
    ir_op *mul = find_op(u->kernel, IR_OP_MUL);
    ir_value *t = mul->operands[0];
    ir_layout col = {.kind = IR_LAYOUT_BLOCKED, .rank = 2, .size_per_thread = {2, 1},
                     .threads_per_warp = {16, 2}, .warps_per_cta = {1, 4}, .order = {0, 1}};
    ir_type ct = t->type;
    ct.layout = ir_layout_intern(u->module->mem, &u->module->layouts, &col);
    ir_builder b = {.m = u->module, .f = u->kernel};
    ir_builder_before(&b, mul);
    ir_op *to = ir_build(&b, IR_OP_CONVERT_LAYOUT, 1, &t, 1, &ct, 0);
    ir_op *back = ir_build(&b, IR_OP_CONVERT_LAYOUT, 1, &to->results[0], 1, &t->type, 0);
    ir_op_set_operand(mul, 0, back->results[0]);
    tile_status vst = ir_verify_module(u->module, "test");
    if (vst != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(vst, TILE_OK);

    /* Interpreter: y = x * s + rowmax(x) for R = 20 rows. */
    enum { R = 20, C = 64 };
    static float x[R * C], y[R * C];
    for (int i = 0; i < R * C; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    interp_arg args[3] = {
        {.tensor = {.dtype = IR_F32, .rank = 2, .shape = {R, C}, .data = x}},
        {.tensor = {.dtype = IR_F32, .rank = 2, .shape = {R, C}, .data = y}},
        {.scalar = {.f = 2.0}},
    };
    interp_contiguous_strides(&args[0].tensor);
    interp_contiguous_strides(&args[1].tensor);
    assert_int_equal(interp_launch(u->kernel, args, 3, &u->diags, NULL), TILE_OK);
    for (int r = 0; r < R; r++) {
        float mx = -INFINITY;
        for (int c = 0; c < C; c++) mx = x[r * C + c] > mx ? x[r * C + c] : mx;
        for (int c = 0; c < C; c++) assert_true(y[r * C + c] == x[r * C + c] * 2.0f + mx);
    }
    /* And the code generator lowers both conversions. */
    tc_gpu_kernel k;
    tc_gpu_options g = {.arch = "sm_90", .num_warps = 4};
    assert_int_equal(tc_compile_gpu(u, &g, &k), TILE_OK);
    assert_non_null(strstr(k.ptx, "bar.sync"));
    tc_unit_free(u);
}


/* ---- anchored layouts: the online softmax loop of FlashAttention ---------- */

static const char *fa_src =
    "kernel fa(q: tensor<bf16>[M, 64], k: tensor<bf16>[N, 64], v: tensor<bf16>[N, 64],\n"
    "          o: out tensor<f32>[M, 64], l: out tensor<f32>[M]) grid(cdiv(M, 64))\n"
    "{\n"
    "    let rows = program_id(0) * 64 + arange(64);\n"
    "    let qb = load(q[rows, :]);\n"
    "    var m_i = full([64], -inf);\n"
    "    var l_i = zeros([64]);\n"
    "    var acc = zeros([64, 64]);\n"
    "    for b in range(cdiv(N, 64)) {\n"
    "        let cols = b * 64 + arange(64);\n"
    "        let s = dot(qb, trans(load(k[cols, :])));\n"
    "        let m_new = max(m_i, rowmax(s));\n"
    "        let p = exp(s - m_new[:, None]);\n"
    "        let alpha = exp(m_i - m_new);\n"
    "        l_i = l_i * alpha + rowsum(p);\n"
    "        acc = dot(cast<bf16>(p), load(v[cols, :]), acc * alpha[:, None]);\n"
    "        m_i = m_new;\n"
    "    }\n"
    "    store(o[rows, :], acc / l_i[:, None]);\n"
    "    store(l[rows], l_i);\n"
    "}\n";

static ir_op *first_op(ir_block *blk, ir_opcode code)
{
    for (ir_op *op = blk->first; op; op = op->next)
        if (op->code == code) return op;
    return NULL;
}

/* A carried value by its source name (the loop's order is the front end's). */
static ir_value *arg_named(ir_block *blk, const char *name)
{
    for (int i = 0; i < blk->nargs; i++)
        if (blk->args[i]->name && strcmp(blk->args[i]->name, name) == 0) return blk->args[i];
    fail_msg("no loop-carried value %s", name);
    return NULL;
}

static int count_ops(ir_block *blk, ir_opcode code)
{
    int n = 0;
    for (ir_op *op = blk->first; op; op = op->next) n += op->code == code;
    return n;
}

/* Two [128, 128] blocks staged outside any loop for wgmma (sm_90): Q,
 * read by both dots, and K, staged between them.  K must not take Q's
 * buffer (hyper_attn read K for Q in its second dot, and its LSE came out
 * 1.7e7 times the dense one on the H200). */
static const char *two_blocks_src =
    "kernel two(q: tensor<bf16>[128, 128], k: tensor<bf16>[128, 128], w: tensor<bf16>[128, 128],\n"
    "           o: out tensor<f32>[128, 128]) grid(1)\n"
    "{\n"
    "    let r = arange(128);\n"
    "    let qb = load(q[r, :]);\n"
    "    let s1 = dot(qb, trans(load(k[r, :])));\n"
    "    let s2 = dot(qb, trans(load(w[r, :])));\n"
    "    store(o[r, :], s1 + s2);\n"
    "}\n";

/* Kernel `name` of src compiled, scheduled for sm_90 at 4 warps and
 * pipelined with 2 stages. */
static tc_unit *pipelined(const char *name, const char *text)
{
    tc_options o = {.kernel = name, .opt_level = 1};
    tc_unit *u = NULL;
    assert_int_equal(tc_compile(&u, "pipelined.tile", text, &o), TILE_OK);
    const ir_target *t = ir_target_find("sm_90");
    assert_int_equal(sched_assign_layouts(u->module, t, 4), TILE_OK);
    assert_int_equal(sched_pipeline(u->module, t, 2, NULL), TILE_OK);
    return u;
}

/* The view a dot operand reads (through trans), or NULL. */
static ir_op *view_of(ir_value *v)
{
    while (v->def && v->def->code == IR_OP_TRANS) v = v->def->operands[0];
    return v->def && v->def->code == IR_OP_LOCAL_VIEW ? v->def : NULL;
}

/* A loop that scales its v tile before the product (lightning2's decay):
 * v is staged like k (an async copy S - 1 iterations ahead) and read back
 * into registers where its load stood; the narrow w tile (32-byte rows) of
 * the same loop, also scaled, stays a plain load. */
static const char *scaled_src =
    "kernel scaled(k: tensor<bf16>[N, 64], v: tensor<bf16>[N, 64], w: tensor<bf16>[N, 16],\n"
    "              o: out tensor<f32>[64, 64], p: out tensor<f32>[64, 16]) grid(1)\n"
    "{\n"
    "    let j = arange(64);\n"
    "    var kv = zeros([64, 64]);\n"
    "    var kw = zeros([64, 16]);\n"
    "    for c in range(0, N, 64) {\n"
    "        let kb = load(k[c + j, :]);\n"
    "        let vb = load(v[c + j, :]);\n"
    "        kv = dot(trans(kb), cast<bf16>(vb * 0.5), kv);\n"
    "        kw = dot(trans(kb), cast<bf16>(load(w[c + j, :]) * 0.5), kw);\n"
    "    }\n"
    "    store(o[j, :], kv);\n"
    "    store(p[j, :], kw);\n"
    "}\n";

static void scaled_loads_staged_and_read(void **state)
{
    (void)state;
    tc_unit *u = pipelined("scaled", scaled_src);
    ir_op *loop = first_op(u->kernel->body, IR_OP_FOR);
    assert_non_null(loop);
    ir_block *body = loop->blocks[0];
    assert_int_equal(count_ops(body, IR_OP_ASYNC_COPY), 2);   /* k and v */
    assert_int_equal(count_ops(body, IR_OP_LOAD), 1);         /* w */
    int reads = 0;
    for (ir_op *op = body->first; op; op = op->next) {
        if (op->code != IR_OP_CONVERT_LAYOUT || !op->operands[0]->type.layout ||
            op->operands[0]->type.layout->kind != IR_LAYOUT_SHARED)
            continue;
        reads++;
        assert_int_equal(op->results[0]->type.layout->kind, IR_LAYOUT_BLOCKED);
        assert_int_equal(op->results[0]->type.shape[1], 64);
        assert_non_null(op->results[0]->uses);
    }
    assert_int_equal(reads, 1);
    assert_true(sched_staged_reads(u->kernel));
    tc_unit_free(u);
}

/* A paged gather (decode_gqa's keys): the rows of each step come from a
 * block table.  The pipeliner loads the table entries of iteration it + S
 * at the body's head and carries them to the next iteration, so the copies
 * of it + S - 1 are issued from carried entries, not behind a load of the
 * table (two round trips an iteration: H200, decode_gqa +2-5%,
 * block_sparse_fwd D=128 +5%, 2026-12-04). */
static const char *paged_src =
    "kernel paged(q: tensor<bf16>[64, 64], kc: tensor<bf16>[NS, 64], table: tensor<i32>[P],\n"
    "             o: out tensor<f32>[64, 64]) grid(1)\n"
    "{\n"
    "    let j = arange(64);\n"
    "    let qb = load(q[j, :]);\n"
    "    var acc = zeros([64, 64]);\n"
    "    for c in range(0, P * 16, 64) {\n"
    "        let slots = load(table[(c + j) / 16]) * 16 + (c + j) % 16;\n"
    "        acc = dot(qb, trans(load(kc[slots, :])), acc);\n"
    "    }\n"
    "    store(o[j, :], acc);\n"
    "}\n";

static void index_loads_prefetched(void **state)
{
    (void)state;
    tc_unit *u = pipelined("paged", paged_src);
    ir_op *loop = first_op(u->kernel->body, IR_OP_FOR);
    assert_non_null(loop);
    ir_block *body = loop->blocks[0];
    /* acc and the carried entries: an i32 tile, initialised before the loop. */
    assert_int_equal(loop->noperands, 3 + 2);
    ir_value *carried = body->args[2];
    assert_int_equal(carried->type.dtype, IR_I32);
    assert_non_null(loop->operands[4]->def);
    assert_int_equal(loop->operands[4]->def->code, IR_OP_LOAD);
    ir_op *yield = body->last;
    assert_int_equal(yield->code, IR_OP_YIELD);
    ir_op *next = yield->operands[1]->def;
    assert_true(next && next->code == IR_OP_LOAD && next->parent == body);
    /* The copy reads the carried entries, and comes after the load of the
     * next ones: no table load between the loop's head and the copy waits
     * on the copy. */
    ir_op *copy = first_op(body, IR_OP_ASYNC_COPY);
    assert_non_null(copy);
    bool reads_carried = false;
    for (ir_op *x = body->first; x != copy; x = x->next) {
        assert_true(x->code != IR_OP_LOAD || x == next);
        for (int i = 0; i < x->noperands; i++) reads_carried |= x->operands[i] == carried;
    }
    assert_true(reads_carried);
    assert_true(ir_op_is_inside(next, body));
    tc_unit_free(u);
}

static void staged_buffers_not_overwritten(void **state)
{
    (void)state;
    tc_unit *u = pipelined("two", two_blocks_src);
    /* Every dot operand read from shared memory: no copy into its buffer
     * between the view it reads and the dot (K's buffer may take W once
     * K's dot is done; Q's may not). */
    int dots = 0, copies = 0, staged = 0;
    for (ir_op *op = u->kernel->body->first; op; op = op->next) {
        copies += op->code == IR_OP_ASYNC_COPY;
        if (op->code != IR_OP_DOT) continue;
        dots++;
        for (int k = 0; k < 2; k++) {
            ir_op *view = view_of(op->operands[k]);
            if (!view) continue;
            staged++;
            for (ir_op *x = view->next; x != op; x = x->next) {
                assert_non_null(x);
                if (x->code != IR_OP_ASYNC_COPY) continue;
                ir_op *into = view_of(x->operands[0]);
                assert_true(into && into->operands[0] != view->operands[0]);
            }
        }
    }
    assert_int_equal(dots, 2);
    assert_int_equal(copies, 3);   /* Q, K and W all staged */
    assert_int_equal(staged, 4);
    tc_unit_free(u);
}

static void flash_loop_layouts(void **state)
{
    (void)state;
    tc_options o = {.kernel = "fa", .opt_level = 1};
    tc_unit *u = NULL;
    assert_int_equal(tc_compile(&u, "fa.tile", fa_src, &o), TILE_OK);
    assert_int_equal(sched_choose_num_warps(u->kernel), 4); /* 64 rows: one 16-row tile per warp */
    tile_status st = sched_assign_layouts(u->module, ir_target_find("sm_80"), 4);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);

    ir_op *loop = first_op(u->kernel->body, IR_OP_FOR);
    assert_non_null(loop);
    ir_block *body = loop->blocks[0];
    assert_int_equal(loop->nresults, 3);
    /* Carried values: acc in the mma layout, warps along M; m_i and l_i its
     * row slice; the loop's results the same. */
    const ir_layout *acc = arg_named(body, "acc")->type.layout, *mi = arg_named(body, "m_i")->type.layout;
    assert_non_null(acc);
    assert_int_equal(acc->kind, IR_LAYOUT_MMA);
    assert_int_equal(acc->version, 2);
    assert_int_equal(acc->warps_per_cta[0], 4);
    assert_int_equal(acc->warps_per_cta[1], 1);
    assert_int_equal(mi->kind, IR_LAYOUT_SLICE);
    assert_ptr_equal(mi->parent, acc);
    assert_int_equal(mi->dim, 1);
    assert_ptr_equal(arg_named(body, "l_i")->type.layout, mi);
    for (int i = 0; i < 3; i++) assert_ptr_equal(loop->results[i]->type.layout, body->args[1 + i]->type.layout);

    /* Both dots accumulate in that layout; the second one's A operand (P) is
     * converted straight from it to dot_operand(A) of the same parent. */
    ir_op *d1 = first_op(body, IR_OP_DOT), *d2 = NULL;
    for (ir_op *op = d1->next; op; op = op->next)
        if (op->code == IR_OP_DOT) d2 = op;
    assert_non_null(d2);
    assert_ptr_equal(d1->results[0]->type.layout, acc);
    assert_ptr_equal(d2->results[0]->type.layout, acc);
    ir_value *pa = d2->operands[0];
    assert_int_equal(pa->type.layout->kind, IR_LAYOUT_DOT_OPERAND);
    assert_int_equal(pa->type.layout->opidx, 0);
    assert_ptr_equal(pa->type.layout->parent, acc);
    assert_int_equal(pa->def->code, IR_OP_CONVERT_LAYOUT);
    assert_int_equal(pa->def->operands[0]->def->code, IR_OP_CAST);
    assert_ptr_equal(pa->def->operands[0]->type.layout, acc); /* P rounded in the mma layout */
    assert_ptr_equal(d2->operands[2]->type.layout, acc);      /* acc * alpha, no conversion */
    assert_int_not_equal(d2->operands[2]->def->code, IR_OP_CONVERT_LAYOUT);

    /* Row reductions give the slice; the row vectors broadcast back through
     * expand_dims to [64, 1] mma tiles. */
    int reductions = 0, expands = 0;
    for (ir_op *op = body->first; op; op = op->next) {
        if (op->code == IR_OP_REDUCE_MAX || op->code == IR_OP_REDUCE_SUM) {
            reductions++;
            assert_ptr_equal(op->operands[0]->type.layout, acc);
            assert_ptr_equal(op->results[0]->type.layout, mi);
        }
        if (op->code == IR_OP_EXPAND_DIMS && op->operands[0]->type.layout == mi) {
            expands++;
            assert_ptr_equal(op->results[0]->type.layout, acc);
        }
    }
    assert_int_equal(reductions, 2);
    assert_int_equal(expands, 2);
    /* The only conversions in the loop: P to the A operand, and the blocked
     * [1, 64] / [64, 64] inputs that are recomputed from aranges. */
    int to_blocked = 0;
    for (ir_op *op = body->first; op; op = op->next)
        if (op->code == IR_OP_CONVERT_LAYOUT && op->results[0]->type.layout->kind == IR_LAYOUT_BLOCKED)
            to_blocked++;
    assert_int_equal(to_blocked, 0);
    assert_true(count_ops(body, IR_OP_CONVERT_LAYOUT) >= 1);
    /* Stores: O straight from the accumulator's mma registers, LSE from the
     * row slice (no conversion through the scratch after the loop); the
     * index tiles keep their blocked layouts. */
    int stores = 0;
    for (ir_op *op = u->kernel->body->first; op; op = op->next)
        if (op->code == IR_OP_STORE) {
            int tr = op->operands[0]->type.rank;
            const ir_layout *vl = op->operands[1 + tr]->type.layout;
            assert_ptr_equal(vl, stores == 0 ? acc : mi);
            assert_true(op->operands[1 + tr]->def && op->operands[1 + tr]->def->code != IR_OP_CONVERT_LAYOUT);
            for (int i = 1; i < 1 + tr; i++)
                if (op->operands[i]->type.rank > 0)
                    assert_int_equal(op->operands[i]->type.layout->kind, IR_LAYOUT_BLOCKED);
            stores++;
        }
    assert_int_equal(stores, 2);
    assert_int_equal(ir_verify_module(u->module, "test"), TILE_OK);

    /* It compiles, and the loop keeps everything in registers: row
     * reductions by shuffles, no ldmatrix for P. */
    tc_gpu_kernel k;
    tc_gpu_options g = {.arch = "sm_80", .num_warps = 4};
    assert_int_equal(tc_compile_gpu(u, &g, &k), TILE_OK);
    assert_non_null(strstr(k.ptx, "shfl.sync.bfly.b32"));
    assert_non_null(strstr(k.ptx, "mma.sync.aligned.m16n8k16"));
    tc_unit_free(u);
}

/* f32 dots and 8 warps on 16 rows: no mma layout, or warps along N. */
static void anchored_layouts_fallbacks(void **state)
{
    (void)state;
    static const char *f32src =
        "kernel g(a: tensor<f32>[16, 16], c: out tensor<f32>[16, 16]) grid(1)\n"
        "{\n"
        "    let x = load(a[arange(16), :]);\n"
        "    store(c[arange(16), :], dot(x, x));\n"
        "}\n";
    tc_options o = {.kernel = "g", .opt_level = 1};
    tc_unit *u = NULL;
    assert_int_equal(tc_compile(&u, "g.tile", f32src, &o), TILE_OK);
    assert_int_equal(sched_assign_layouts(u->module, ir_target_find("sm_90"), 4), TILE_OK);
    ir_op *d = first_op(u->kernel->body, IR_OP_DOT);
    assert_int_equal(d->results[0]->type.layout->kind, IR_LAYOUT_BLOCKED);
    tc_unit_free(u);

    o.kernel = "fa";
    assert_int_equal(tc_compile(&u, "fa.tile", fa_src, &o), TILE_OK);
    assert_int_equal(sched_assign_layouts(u->module, ir_target_find("sm_90"), 8), TILE_OK);
    ir_op *loop = first_op(u->kernel->body, IR_OP_FOR);
    const ir_layout *acc = arg_named(loop->blocks[0], "acc")->type.layout;
    assert_int_equal(acc->kind, IR_LAYOUT_MMA);
    assert_int_equal(acc->warps_per_cta[0], 4);
    assert_int_equal(acc->warps_per_cta[1], 2);
    /* P cannot feed the A operand from registers (its rows' columns are
     * split over two warps): the dot takes it as it is. */
    ir_op *d2 = NULL;
    for (ir_op *op = loop->blocks[0]->first; op; op = op->next)
        if (op->code == IR_OP_DOT) d2 = op;
    assert_ptr_equal(d2->operands[0]->type.layout, acc);
    assert_int_equal(ir_verify_module(u->module, "test"), TILE_OK);
    tc_unit_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(interning_and_printing),
        cmocka_unit_test(validity),
        cmocka_unit_test(wgmma_elems_per_thread),
        cmocka_unit_test(shared_swizzle),
        cmocka_unit_test(scheduler_layouts),
        cmocka_unit_test(targets),
        cmocka_unit_test(stage_rules),
        cmocka_unit_test(explicit_conversions),
        cmocka_unit_test(flash_loop_layouts),
        cmocka_unit_test(staged_buffers_not_overwritten),
        cmocka_unit_test(scaled_loads_staged_and_read),
        cmocka_unit_test(index_loads_prefetched),
        cmocka_unit_test(anchored_layouts_fallbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
