/* test_ir_parse.c - ir/parse.c, the IR text reader.
 *
 * Round trips (print -> parse -> print is the identity) for the optimised
 * IR of every library kernel, for its scheduled IR after the whole GPU
 * pipeline (layouts, shared buffers, async copies, module attributes: the
 * parsed kernel also generates the same PTX), and for every golden .ir
 * file; what a parsed
 * module holds (attributes, constants bit for bit, name hints, use lists,
 * locations); that parsed IR runs like the original on the interpreter; and
 * exact located diagnostics for bad input. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codegen/codegen.h"
#include "compiler/pipeline.h"
#include "ir/ir.h"
#include "ir/passes.h"
#include "ir/target.h"

static char *print_text(const ir_module *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    ir_print_module(fp, m);
    fclose(fp);
    return buf;
}

/* A module read from text in its own arena. */
typedef struct parsed {
    arena mem;
    diag_ctx diags;
    ir_module *m;
    tile_status st;
} parsed;

static parsed *parse(const char *path, const char *text)
{
    parsed *p = calloc(1, sizeof *p);
    assert_non_null(p);
    arena_init(&p->mem);
    diag_init(&p->diags, &p->mem);
    p->m = ir_module_new(&p->mem, &p->diags);
    p->st = ir_parse_module(p->m, path, text, strlen(text));
    return p;
}

static void parsed_free(parsed *p)
{
    arena_free(&p->mem);
    free(p);
}

/* Parses text, prints it and requires the same text back. */
static void assert_round_trip(const char *path, const char *text)
{
    parsed *p = parse(path, text);
    if (p->st != TILE_OK) diag_print_all(&p->diags, stderr);
    assert_int_equal(p->st, TILE_OK);
    char *again = print_text(p->m);
    if (strcmp(again, text) != 0) fprintf(stderr, "round trip of %s differs:\n%s", path, again);
    assert_string_equal(again, text);
    free(again);
    parsed_free(p);
}

/* ---- round trips ------------------------------------------------------- */

typedef struct lib_case {
    const char *file;
    const char *kernel; /* NULL: every fully bound kernel */
    const char *defines;
} lib_case;

static const lib_case lib_cases[] = {
    {"flash_fwd.tile", NULL, "D=64"},
    {"flash_bwd.tile", NULL, "D=64"},
    {"decode.tile", NULL, "D=64,PS=16,S=4"},
    {"lightning2.tile", NULL, "D=64,E=64"},
    {"block_sparse.tile", "block_sparse_fwd", "D=64,BM=32,BN=32"},
    {"block_sparse.tile", "block_sparse_fwd_causal", "D=64,BM=32,BN=32"},
    {"masks.tile", "check_kv_range", "mask=causal,kv_range=causal_range,M=100,N=130"},
    {"masks.tile", "check_q_range", "mask=causal,q_range=causal_q_range,M=100,N=130"},
    {"aaren.tile", "aaren_fwd", "D=64,E=64"}, /* a scan with its combine region */
    {"aaren.tile", "aaren_fwd", "T=f32,D=32,E=16,BN=8"},
    {"based.tile", "based_fwd", "E=64"},
    {"based.tile", "based_window", "D=64"},
    {"s2.tile", "s2_fwd", "D=64,S=4,L=8"},
    {"s2.tile", "flash_fwd", "T=f32,D=32,BM=16,BN=16,mask=s2_mask(S:4,L:8)"},
    {"duo.tile", "duo_prefill", "D=64,W=64,S=4"},
    {"duo.tile", "duo_decode_split", "D=64,PS=16,NS=4,W=64,S=4"},
    {"moh.tile", "moh_fwd", "D=64"},
    {"moh.tile", "moh_fwd_causal", "D=64"},
    {"sqa.tile", "sqa_fwd", "D=64"},
    {"sqa.tile", "sqa_fwd_causal", "D=64"},
};

static void library_round_trip(void **state)
{
    (void)state;
    int nkernels = 0;
    for (size_t i = 0; i < sizeof lib_cases / sizeof lib_cases[0]; i++) {
        const lib_case *c = &lib_cases[i];
        arena mem;
        arena_init(&mem);
        const char **defs = NULL;
        int ndefs = tc_split_defines(&mem, c->defines, &defs);
        assert_true(ndefs > 0);
        char path[512];
        snprintf(path, sizeof path, "%s/lib/attention/%s", TILE_SOURCE_DIR, c->file);
        tc_options o = {.kernel = c->kernel, .defines = defs, .ndefines = ndefs, .opt_level = 1};
        tc_unit *u = NULL;
        tile_status st = tc_compile(&u, path, NULL, &o);
        if (st != TILE_OK) diag_print_all(&u->diags, stderr);
        assert_int_equal(st, TILE_OK);
        char *text = print_text(u->module);
        nkernels += strncmp(text, "kernel @", 8) == 0;
        for (const char *at = text; (at = strstr(at, "\nkernel @")); at++) nkernels++;
        assert_round_trip(c->file, text);
        free(text);
        tc_unit_free(u);
        arena_free(&mem);
    }
    assert_true(nkernels >= 27); /* every library kernel at least once */
}

/* ---- scheduled IR ------------------------------------------------------ */

static ir_op *nth_op(ir_block *blk, int n)
{
    ir_op *op = blk->first;
    while (op && n-- > 0) op = op->next;
    assert_non_null(op);
    return op;
}


/* PTX without the numbers of its `// callseq N` comments: NVPTX counts
 * call sequences per process, not per module. */
static char *without_callseq(const char *ptx)
{
    char *out = strdup(ptx), *w = out;
    assert_non_null(out);
    for (const char *q = ptx; *q;) {
        if (strncmp(q, "callseq ", 8) == 0) {
            memcpy(w, q, 8);
            w += 8;
            q += 8;
            while (*q >= '0' && *q <= '9') q++;
        } else {
            *w++ = *q++;
        }
    }
    *w = 0;
    return out;
}

/* The PTX of an already scheduled kernel f, generated again from f. */
static char *ptx_of(ir_func *f)
{
    const ir_target *t = ir_target_find(f->module->target.arch);
    assert_non_null(t);
    cg_result r;
    tile_status st = cg_emit_kernel(f, t, CG_EMIT_PTX, &r);
    if (st != TILE_OK) diag_print_all(f->module->diags, stderr);
    assert_int_equal(st, TILE_OK);
    return without_callseq(r.text);
}

/* Kernel `name` of lib file c through the whole GPU pipeline (scheduler,
 * layouts, pipelining, codegen): its scheduled IR must read back to the
 * same text, module attributes and the same PTX.  Returns 1. */
static int scheduled_round_trip(const lib_case *c, const char *name, bool check_ptx)
{
    arena mem;
    arena_init(&mem);
    const char **defs = NULL;
    int ndefs = tc_split_defines(&mem, c->defines, &defs);
    assert_true(ndefs > 0);
    char path[512];
    snprintf(path, sizeof path, "%s/lib/attention/%s", TILE_SOURCE_DIR, c->file);
    tc_options o = {.kernel = name, .defines = defs, .ndefines = ndefs, .opt_level = 1};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, path, NULL, &o);
    tc_gpu_kernel k;
    tc_gpu_options g = {.arch = "sm_90"};
    if (st == TILE_OK) st = tc_compile_gpu(u, &g, &k);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    assert_int_equal(u->module->stage, IR_STAGE_SCHEDULED);
    char *text = print_text(u->module);
    assert_true(strncmp(text, "module scheduled, arch=sm_90, num_warps=", 40) == 0);
    char label[256];
    snprintf(label, sizeof label, "%s:%s (scheduled)", c->file, name);
    assert_round_trip(label, text);
    parsed *p = parse(label, text);
    assert_int_equal(p->st, TILE_OK);
    assert_int_equal(p->m->stage, IR_STAGE_SCHEDULED);
    assert_string_equal(p->m->target.arch, u->module->target.arch);
    assert_int_equal(p->m->target.num_warps, u->module->target.num_warps);
    assert_int_equal(p->m->target.smem_budget, u->module->target.smem_budget);
    assert_int_equal(p->m->target.num_stages, u->module->target.num_stages);
    if (check_ptx) {
        ir_func *f = ir_module_find(p->m, name);
        assert_non_null(f);
        char *again = ptx_of(f), *orig = without_callseq(k.ptx);
        assert_string_equal(again, orig);
        free(again);
        free(orig);
    }
    parsed_free(p);
    free(text);
    tc_unit_free(u);
    arena_free(&mem);
    return 1;
}

/* Every kernel of every library case, scheduled: print -> parse -> print;
 * the PTX of the parsed IR is compared for one kernel per file. */
static void library_scheduled_round_trip(void **state)
{
    (void)state;
    int nkernels = 0;
    for (size_t i = 0; i < sizeof lib_cases / sizeof lib_cases[0]; i++) {
        const lib_case *c = &lib_cases[i];
        if (c->kernel) {
            nkernels += scheduled_round_trip(c, c->kernel, true);
            continue;
        }
        /* Every fully bound kernel of the file, by name. */
        arena mem;
        arena_init(&mem);
        const char **defs = NULL;
        int ndefs = tc_split_defines(&mem, c->defines, &defs);
        char path[512];
        snprintf(path, sizeof path, "%s/lib/attention/%s", TILE_SOURCE_DIR, c->file);
        tc_options o = {.defines = defs, .ndefines = ndefs, .opt_level = 1};
        tc_unit *u = NULL;
        assert_int_equal(tc_compile(&u, path, NULL, &o), TILE_OK);
        bool first = true;
        for (const ir_func *f = u->module->first; f; f = f->next)
            if (f->kind == IR_FUNC_KERNEL) {
                nkernels += scheduled_round_trip(c, f->name, first);
                first = false;
            }
        tc_unit_free(u);
        arena_free(&mem);
    }
    assert_true(nkernels >= 27); /* every library kernel at least once */
}

/* The module line and layouts of every kind, hand-written as printed. */
static const char scheduled_form[] =
    "module scheduled, arch=sm_80, num_warps=4, smem_budget=1000, num_stages=2\n"
    "\n"
    "kernel @k(%x: tensor<bf16>[64,32], %y: out tensor<f32>[64]) {\n"
    "grid:\n"
    "  %0 = const 1 : i32\n"
    "  yield %0, %0, %0\n"
    "body:\n"
    "  %1 = arange : i32[64]#blocked<spt=[1],tpw=[32],wpc=[4],order=[0]>\n"
    "  %2 = arange : i32[32]#blocked<spt=[1],tpw=[32],wpc=[4],order=[0]>\n"
    "  %3 = expand_dims %1, axis=1 : i32[64,1]#blocked<spt=[1,1],tpw=[32,1],wpc=[4,1],order=[0,1]>\n"
    "  %4 = expand_dims %2, axis=0 : i32[1,32]#blocked<spt=[1,1],tpw=[1,32],wpc=[4,1],order=[1,0]>\n"
    "  %5 = broadcast %3 : i32[64,32]#blocked<spt=[1,8],tpw=[8,4],wpc=[4,1],order=[1,0]>\n"
    "  %6 = broadcast %4 : i32[64,32]#blocked<spt=[1,8],tpw=[8,4],wpc=[4,1],order=[1,0]>\n"
    "  %7 = local_alloc : bf16[2,64,32]#shared<vec=8,per_phase=2,max_phase=4,order=[2,1,0]>\n"
    "  %8 = const 0 : i32\n"
    "  %9 = local_view %7, %8 : bf16[64,32]#shared<vec=8,per_phase=2,max_phase=4,order=[1,0]>\n"
    "  %10 = const true : bool\n"
    "  %11 = async_copy %9, %10, %x, %1, %2 : bf16[64,32]#blocked<spt=[1,8],tpw=[8,4],wpc=[4,1],order=[1,0]>\n"
    "  async_commit\n"
    "  async_wait 0\n"
    "  barrier\n"
    "  %12 = load %x[%1, %2] : bf16[64,32]#blocked<spt=[1,8],tpw=[8,4],wpc=[4,1],order=[1,0]>\n"
    "  %13 = convert_layout %12 : bf16[64,32]#dot_op<0,kwidth=2,#mma<v2,wpc=[4,1]>>\n"
    "  %14 = trans %9, perm=[1,0] : bf16[32,64]#shared<vec=8,per_phase=2,max_phase=4,order=[0,1]>\n"
    "  %15 = dot %13, %14 : f32[64,64]#mma<v2,wpc=[4,1]>\n"
    "  %16 = reduce.sum %15, axis=1 : f32[64]#slice<dim=1,#mma<v2,wpc=[4,1]>>\n"
    "  store %y[%1], %16\n"
    "  return\n"
    "}\n";

static void scheduled_forms_round_trip(void **state)
{
    (void)state;
    assert_round_trip("sched.ir", scheduled_form);
    parsed *p = parse("sched.ir", scheduled_form);
    assert_int_equal(p->st, TILE_OK);
    assert_int_equal(p->m->stage, IR_STAGE_SCHEDULED);
    assert_string_equal(p->m->target.arch, "sm_80");
    assert_int_equal(p->m->target.num_warps, 4);
    assert_int_equal(p->m->target.smem_budget, 1000);
    assert_int_equal(p->m->target.num_stages, 2);
    /* Interned: the two equal blocked layouts of %5 and %6 are one object,
     * the slice's parent is the dot's mma layout. */
    ir_block *body = p->m->first->body;
    const ir_value *v5 = nth_op(body, 4)->results[0], *v6 = nth_op(body, 5)->results[0];
    assert_ptr_equal(v5->type.layout, v6->type.layout);
    const ir_layout *mma = nth_op(body, 17)->results[0]->type.layout;
    const ir_layout *slice = nth_op(body, 18)->results[0]->type.layout;
    assert_int_equal(mma->kind, IR_LAYOUT_MMA);
    assert_int_equal(slice->kind, IR_LAYOUT_SLICE);
    assert_ptr_equal(slice->parent, mma);
    assert_int_equal(slice->rank, 1);
    const ir_layout *dop = nth_op(body, 15)->results[0]->type.layout;
    assert_int_equal(dop->kind, IR_LAYOUT_DOT_OPERAND);
    assert_ptr_equal(dop->parent, mma);
    const ir_layout *sh = nth_op(body, 6)->results[0]->type.layout;
    assert_int_equal(sh->kind, IR_LAYOUT_SHARED);
    assert_int_equal(sh->vec, 8);
    assert_int_equal(sh->per_phase, 2);
    assert_int_equal(sh->max_phase, 4);
    assert_int_equal(sh->rank, 3);
    parsed_free(p);
}

static int round_trip_dir(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    size_t ls = strlen(suffix);
    for (struct dirent *e; (e = readdir(d));) {
        size_t ln = strlen(e->d_name);
        if (ln < ls || strcmp(e->d_name + ln - ls, suffix) != 0) continue;
        if (strcmp(suffix, ".ir") == 0 && ln > 7 && strcmp(e->d_name + ln - 6, ".in.ir") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char *text = calloc(1, 1 << 20);
        assert_non_null(text);
        size_t len = fread(text, 1, (1 << 20) - 1, f);
        fclose(f);
        assert_true(len > 0);
        assert_round_trip(e->d_name, text);
        free(text);
        n++;
    }
    closedir(d);
    return n;
}

static void golden_files_round_trip(void **state)
{
    (void)state;
    assert_true(round_trip_dir(TILE_SOURCE_DIR "/tests/golden", ".ir") >= 10);
    assert_true(round_trip_dir(TILE_SOURCE_DIR "/tests/golden/passes", ".out.ir") >= 8);
}

/* Every op, attribute and literal form the printer has, hand-written in the
 * printed form; the text must come back unchanged. */
static const char every_form[] =
    "kernel @k(%x: tensor<bf16>[M,64], %y: out tensor<f32>[M,64], %c: out tensor<i32>[L], "
    "%s: f32, %n: i32) consts(T=bf16, mask=sliding_window(W: 64, S: 4), BM=16 auto) {\n"
    "grid:\n"
    "  %M.0 = tensor_dim %x, 0 : i32\n"
    "  %1 = const 1 : i32\n"
    "  yield %M.0, %1, %1\n"
    "body:\n"
    "  %2 = program_id 0 : i32\n"
    "  %3 = num_programs 2 : i32\n"
    "  %4 = arange : i32[16]\n"
    "  %5 = arange : i32[64]\n"
    "  %6 = broadcast %2 : i32[16]\n"
    "  %rows.7 = add %6, %4 : i32[16]\n"
    "  %8 = cmp.lt %rows.7, %6 : bool[16]\n"
    "  %9 = reshape %8 : bool[16,1]\n"
    "  %10 = broadcast %9 : bool[16,64]\n"
    "  %11 = const -0.0 : bf16[16,64]\n"
    "  %12 = load %x[%rows.7, %5] mask %10 other %11 : bf16[16,64]\n"
    "  %13 = load %x[%2, %5] : bf16[64]\n"
    "  %14 = cast %12 : f32[16,64]\n"
    "  %15 = trans %14, perm=[1,0] : f32[64,16]\n"
    "  %16 = dot %14, %15 : f32[16,16]\n"
    "  %17 = reduce.max %14, axis=1 : f32[16]\n"
    "  %18 = cumsum %17, axis=0 : f32[16]\n"
    "  %19 = reshape %15 : f32[1024]\n"
    "  %20 = const nan : f32\n"
    "  %21 = const -nan : f32\n"
    "  %22 = const inf : f32\n"
    "  %23 = const 1.5e-05 : f32\n"
    "  %24 = const 0.100097656 : bf16\n"
    "  %25 = const -9223372036854775808 : i64\n"
    "  %26 = const true : bool\n"
    "  %27 = select %26, %20, %21 : f32\n"
    "  %28 = const 0 : i32\n"
    "  %29 = const 1 : i32\n"
    "  %acc.30, %k.31 = for %i.32 = %28 to %n step %29 iter(%acc.33 = %14, %k.34 = %28) : "
    "f32[16,64], i32 {\n"
    "    %35 = exp %acc.33 : f32[16,64]\n"
    "    %36 = add %k.34, %29 : i32\n"
    "    yield %35, %36\n"
    "  }\n"
    "  for %i.37 = %28 to %n step %29 {\n"
    "    yield\n"
    "  }\n"
    "  %38 = while iter(%w.39 = %n) : i32 {\n"
    "    %40 = cmp.gt %w.39, %28 : bool\n"
    "    condition %40\n"
    "  } do (%w.41) {\n"
    "    %42 = sub %w.41, %29 : i32\n"
    "    yield %42\n"
    "  }\n"
    "  %43 = cmp.gt %n, %28 : bool\n"
    "  %44 = if %43 : f32 {\n"
    "    %45 = call @twice(%s) : f32\n"
    "    yield %45\n"
    "  } else {\n"
    "    yield %27\n"
    "  }\n"
    "  print \"tab\\there \\\"q\\\" \\\\ \\x01\", %44, %38, %k.31\n"
    "  print \"\"\n"
    "  assert %43, \"n must be > 0\\n\"\n"
    "  store %y[%rows.7, %5], %acc.30 mask %10\n"
    "  %46 = broadcast %n : i32[16]\n"
    "  atomic_add %c[%4], %46\n"
    "  return\n"
    "}\n"
    "\n"
    "fn @twice(%v: f32) -> (f32) {\n"
    "  %0 = add %v, %v : f32\n"
    "  return %0\n"
    "}\n";

static void every_form_round_trips(void **state)
{
    (void)state;
    assert_round_trip("every.ir", every_form);
}

static void what_a_parsed_module_holds(void **state)
{
    (void)state;
    parsed *p = parse("every.ir", every_form);
    assert_int_equal(p->st, TILE_OK);
    ir_func *k = p->m->first, *fn = k->next;
    assert_string_equal(k->name, "k");
    assert_int_equal(k->kind, IR_FUNC_KERNEL);
    assert_string_equal(fn->name, "twice");
    assert_int_equal(fn->kind, IR_FUNC_FN);
    assert_int_equal(fn->nresults, 1);
    /* Parameters and dims. */
    assert_int_equal(k->nparams, 5);
    assert_int_equal(k->params[0].type.kind, IR_TY_TENSOR);
    assert_int_equal(k->params[0].type.dtype, IR_BF16);
    assert_string_equal(k->params[0].dims[0].name, "M");
    assert_int_equal(k->params[0].dims[0].size, -1);
    assert_null(k->params[0].dims[1].name);
    assert_int_equal(k->params[0].dims[1].size, 64);
    assert_true(k->params[1].is_out);
    assert_string_equal(k->params[2].dims[0].name, "L");
    assert_int_equal(k->params[3].type.kind, IR_TY_TILE);
    /* Constants. */
    assert_int_equal(k->nconsts, 3);
    assert_string_equal(k->consts[1].value, "sliding_window(W: 64, S: 4)");
    assert_false(k->consts[1].was_auto);
    assert_string_equal(k->consts[2].name, "BM");
    assert_string_equal(k->consts[2].value, "16");
    assert_true(k->consts[2].was_auto);
    /* Attributes and constants bit for bit. */
    ir_block *body = k->body;
    assert_int_equal(nth_op(body, 1)->attr.i, 2);              /* num_programs 2 */
    assert_int_equal(k->grid->first->attr.i, 0);               /* tensor_dim %x, 0 */
    ir_op *masked = nth_op(body, 10);
    assert_int_equal(masked->code, IR_OP_LOAD);
    assert_int_equal(masked->attr.i, IR_LOAD_HAS_MASK | IR_LOAD_HAS_OTHER);
    assert_int_equal(masked->noperands, 5);
    assert_int_equal(nth_op(body, 11)->attr.i, 0);
    ir_op *negz = nth_op(body, 9);
    assert_true(negz->attr.cval.f == 0 && signbit(negz->attr.cval.f));
    ir_op *tr = nth_op(body, 13);
    assert_int_equal(tr->attr.perm[0], 1);
    assert_int_equal(tr->attr.perm[1], 0);
    assert_int_equal(nth_op(body, 15)->attr.i, 1);             /* reduce.max axis=1 */
    assert_true(isnan(nth_op(body, 18)->attr.cval.f) && !signbit(nth_op(body, 18)->attr.cval.f));
    assert_true(isnan(nth_op(body, 19)->attr.cval.f) && signbit(nth_op(body, 19)->attr.cval.f));
    assert_true(isinf(nth_op(body, 20)->attr.cval.f));
    assert_true(nth_op(body, 21)->attr.cval.f == (double)1.5e-05f);
    assert_true(nth_op(body, 22)->attr.cval.f == 0.100097656250);
    assert_true(nth_op(body, 23)->attr.cval.i == INT64_MIN);
    assert_int_equal(nth_op(body, 24)->attr.cval.i, 1);
    /* Name hints and use lists. */
    ir_op *loop = nth_op(body, 28);
    assert_int_equal(loop->code, IR_OP_FOR);
    assert_string_equal(loop->results[0]->name, "acc");
    assert_string_equal(loop->blocks[0]->args[0]->name, "i");
    assert_null(nth_op(body, 0)->results[0]->name);
    ir_value *zero = nth_op(body, 26)->results[0];
    assert_int_equal(ir_value_num_uses(zero), 5);
    /* The call is resolved to the fn defined after it; strings unescaped. */
    ir_op *iff = nth_op(body, 32);
    assert_int_equal(iff->code, IR_OP_IF);
    assert_ptr_equal(iff->blocks[0]->first->attr.callee, fn);
    ir_op *pr = nth_op(body, 33);
    assert_string_equal(pr->attr.str, "tab\there \"q\" \\ \x01");
    assert_string_equal(nth_op(body, 35)->attr.str, "n must be > 0\n");
    /* Locations point into the text. */
    assert_string_equal(pr->loc.file, "every.ir");
    assert_int_equal(pr->loc.line, 57);
    assert_int_equal(pr->loc.col, 3);
    parsed_free(p);
}

/* Hand-written IR: comments, blank lines, plain %names. */
static void hand_written_input(void **state)
{
    (void)state;
    parsed *p = parse("hand.ir",
                      "// a comment line\n"
                      "\n"
                      "kernel @k(%y: out tensor<f32>[4]) {   // trailing comment\n"
                      "grid:\n"
                      "  %one = const 1 : i32\n"
                      "  yield %one, %one, %one\n"
                      "body:\n"
                      "\n"
                      "  %idx = arange : i32[4]\n"
                      "  %v = const 2.5 : f32[4]\n"
                      "  store %y[%idx], %v\n"
                      "  return\n"
                      "}\n");
    if (p->st != TILE_OK) diag_print_all(&p->diags, stderr);
    assert_int_equal(p->st, TILE_OK);
    char *text = print_text(p->m);
    assert_string_equal(text, "kernel @k(%y: out tensor<f32>[4]) {\n"
                              "grid:\n"
                              "  %one.0 = const 1 : i32\n"
                              "  yield %one.0, %one.0, %one.0\n"
                              "body:\n"
                              "  %idx.1 = arange : i32[4]\n"
                              "  %v.2 = const 2.5 : f32[4]\n"
                              "  store %y[%idx.1], %v.2\n"
                              "  return\n"
                              "}\n");
    free(text);
    parsed_free(p);
}

/* Parsed IR computes what the IR it was printed from computes. */
static void parsed_ir_runs_the_same(void **state)
{
    (void)state;
    static const char src[] =
        "kernel f(x: tensor<f32>[N], y: out tensor<f32>[N], a: f32, const B: int = 8)\n"
        "    grid(cdiv(N, B))\n"
        "{\n"
        "    let i = program_id(0) * B + arange(B);\n"
        "    var acc = load(x[i]);\n"
        "    for k in range(0, 3) { acc = acc * a + exp(acc) / (k + 1); }\n"
        "    store(y[i], acc - max(acc, 0.5));\n"
        "}\n";
    tc_options o = {.kernel = "f", .opt_level = 1};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, "f.tile", src, &o);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    char *text = print_text(u->module);
    parsed *p = parse("f.ir", text);
    assert_int_equal(p->st, TILE_OK);
    enum { N = 21 };
    float x[N], y[2][N];
    for (int i = 0; i < N; i++) x[i] = (float)i * 0.37f - 3.0f;
    const ir_func *kernels[2] = {u->kernel, p->m->first};
    for (int r = 0; r < 2; r++) {
        interp_arg args[3];
        memset(args, 0, sizeof args);
        float *data[2] = {x, y[r]};
        for (int t = 0; t < 2; t++) {
            args[t].tensor = (interp_tensor){.dtype = IR_F32, .rank = 1, .shape = {N}, .data = data[t]};
            interp_contiguous_strides(&args[t].tensor);
        }
        args[2].scalar.f = 0.75;
        memset(y[r], 0xff, sizeof y[r]);
        st = interp_launch(kernels[r], args, 3, &u->diags, NULL);
        assert_int_equal(st, TILE_OK);
    }
    assert_memory_equal(y[0], y[1], sizeof y[0]);
    free(text);
    parsed_free(p);
    tc_unit_free(u);
}

/* ---- errors ------------------------------------------------------------ */

#define KHEAD "kernel @k(%y: out tensor<f32>[4], %s: f32) {\ngrid:\n  %0 = const 1 : i32\n" \
              "  yield %0, %0, %0\nbody:\n"

typedef struct bad_case {
    const char *text;
    tile_status st;
    const char *want; /* "line:col: message" of the first diagnostic */
} bad_case;

static const bad_case bad_cases[] = {
    {KHEAD "  %1 = frobnicate %s : f32\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:8: unknown op 'frobnicate'"},
    {KHEAD "  %1 = neg %t : f32\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:12: use of undefined value '%t'"},
    {KHEAD "  %1 = neg %s : f32\n  %1 = neg %s : f32\n  return\n}\n", TILE_ERR_SYNTAX,
     "7:3: value '%1' is defined twice"},
    {KHEAD "  %s = neg %s : f32\n  return\n}\n", TILE_ERR_SYNTAX, "6:3: '%s' is a parameter"},
    {KHEAD "  %1 = neg %s\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:14: expected ':' and the result types"},
    {KHEAD "  %1 = neg %s : f33\n  return\n}\n", TILE_ERR_SYNTAX, "6:17: unknown dtype 'f33'"},
    {KHEAD "  %1 = add %s : f32\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:8: 'add' takes 2 operands, not 1"},
    {KHEAD "  %1, %2 = neg %s : f32\n  return\n}\n", TILE_ERR_SYNTAX, "6:19: 2 results but 1 type"},
    {KHEAD "  %1 = arange : i32[4]\n  %2 = trans %1, perm=[1,0] : i32[4]\n  return\n}\n",
     TILE_ERR_SYNTAX, "7:18: perm has 2 entries but the result has rank 1"},
    {KHEAD "  print \"abc\n  return\n}\n", TILE_ERR_SYNTAX, "6:9: unterminated string"},
    {KHEAD "  print \"a\\qb\"\n  return\n}\n", TILE_ERR_SYNTAX, "6:11: unknown escape '\\q'"},
    {KHEAD "  %1 = call @nowhere(%s) : f32\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:13: call of undefined function '@nowhere'"},
    {KHEAD "  %1 = const 4294967296 : i32\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:14: constant 4294967296 does not fit i32"},
    {KHEAD "  %1 = const 1 : bool\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:14: a bool constant is 'true' or 'false', not '1'"},
    {KHEAD "  %1 = const 1.5 : i32\n  return\n}\n", TILE_ERR_SYNTAX, "6:14: bad i32 constant '1.5'"},
    {KHEAD "  %1 = neg %s : f32 extra\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:21: expected the end of the line"},
    {KHEAD "  %1 = neg %!3 : f32\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:12: use of undefined value '%!3'"},
    /* Layouts (scheduled IR) and the module line. */
    {KHEAD "  %1 = arange : i32[4]#blocked<>\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:32: expected 'spt='"},
    {KHEAD "  %1 = neg %s : f32#blocked<spt=[1],tpw=[32],wpc=[4],order=[0]>\n  return\n}\n",
     TILE_ERR_SYNTAX, "6:20: only a tile of rank 1 or more has a layout"},
    {KHEAD "  %1 = arange : i32[4]#blocked<spt=[1,1],tpw=[4,8],wpc=[4,1],order=[1,0]>\n"
           "  return\n}\n",
     TILE_ERR_SYNTAX, "6:23: a layout of rank 2 on a tile of rank 1"},
    {KHEAD "  %1 = arange : i32[4]#blocked<spt=[1],tpw=[4,8],wpc=[4],order=[0]>\n  return\n}\n",
     TILE_ERR_SYNTAX,
     "6:23: #blocked: spt, tpw, wpc and order need one entry per dim each (1, 2, 1, 1)"},
    {KHEAD "  %1 = arange : i32[4,4]#blocked<spt=[1,1],tpw=[4,8],wpc=[4,1],order=[1,1]>\n"
           "  return\n}\n",
     TILE_ERR_SYNTAX, "6:25: layout order is not a permutation of the 2 dims"},
    {KHEAD "  %1 = arange : i32[4,4]#blocked<spt=[1,1],tpw=[65536,65536],wpc=[1,1],order=[1,0]>\n"
           "  return\n}\n",
     TILE_ERR_SYNTAX, "6:25: #blocked: tpw must multiply to 32 lanes and wpc to at most 32 warps"},
    {KHEAD "  %1 = arange : i32[4,4]#mma<v2,wpc=[64,64]>\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:25: #mma: wpc multiplies to more than 32 warps"},
    {KHEAD "  %1 = arange : i32[4]#swizzled<1>\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:24: unknown layout (#blocked, #slice, #mma, #dot_op or #shared)"},
    {KHEAD "  %1 = arange : i32[4,4]#mma<v2,wpc=[2,2,1]>\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:25: #mma: wpc takes 2 entries, not 3"},
    {KHEAD "  %1 = arange : i32[4,4]#mma<v7,wpc=[2,2]>\n  return\n}\n", TILE_ERR_SYNTAX,
     "6:25: #mma: version 7 (2: mma.sync, 3: wgmma)"},
    {KHEAD "  %1 = arange : i32[4,4]#dot_op<0,kwidth=2,#blocked<spt=[1,1],tpw=[4,8],wpc=[4,1],"
           "order=[1,0]>>\n  return\n}\n",
     TILE_ERR_SYNTAX, "6:25: #dot_op: operand 0 or 1 of an #mma parent"},
    {KHEAD "  %1 = arange : i32[4]#slice<dim=2,#mma<v2,wpc=[4,1]>>\n  return\n}\n",
     TILE_ERR_SYNTAX, "6:23: #slice: dim 2 is not a dim of its rank-2 parent"},
    {KHEAD "  %1 = arange : i32[4]#shared<vec=0,per_phase=1,max_phase=1,order=[0]>\n"
           "  return\n}\n",
     TILE_ERR_SYNTAX, "6:35: layout field 0 out of range"},
    {KHEAD "  %1 = arange : i32[4,64]#shared<vec=8,per_phase=1,max_phase=8,order=[1,0],swizzle=64>\n"
           "  return\n}\n",
     TILE_ERR_SYNTAX, "6:26: #shared: swizzle=64 (0 or 128)"},
    {KHEAD "  %1 = arange : i32[4,64]#shared<vec=8,per_phase=1,max_phase=8,order=[1,0],swizle=128>\n"
           "  return\n}\n",
     TILE_ERR_SYNTAX, "6:75: expected ',swizzle='"},
    {"module scheduled, arch=sm_70, num_warps=4, smem_budget=0, num_stages=0\n", TILE_ERR_SYNTAX,
     "1:24: unknown GPU architecture 'sm_70' (known: sm_80, sm_90)"},
    {"module scheduled, arch=sm_80, num_warps=3, smem_budget=0, num_stages=0\n", TILE_ERR_SYNTAX,
     "1:1: num_warps must be a power of two up to 32, not 3"},
    {"module scheduled, arch=sm_80, num_warps=4, smem_budget=0\n", TILE_ERR_SYNTAX,
     "1:57: expected ','"},
    {"module tiled\n", TILE_ERR_SYNTAX, "1:8: expected 'scheduled'"},
    {KHEAD "  return\n}\nmodule scheduled, arch=sm_80, num_warps=4, smem_budget=0, num_stages=0\n",
     TILE_ERR_SYNTAX, "8:1: expected 'kernel' or 'fn'"},
    {KHEAD "  %1 = neg %s : f32\n", TILE_ERR_SYNTAX, "7:1: unexpected end of input: expected '}'"},
    {KHEAD "  %1 = arange : i32[4]\n  %2 = slice %1, axis=0 : i32[2]\n  return\n}\n",
     TILE_ERR_SYNTAX, "7:25: 'slice' needs 'start=S, step=T'"},
    {KHEAD "  %1 = arange : i32[4]\n  %2 = slice %1, axis=0, step=1, start=0 : i32[2]\n  return\n}\n",
     TILE_ERR_SYNTAX, "7:26: 'slice' needs 'start=S, step=T'"},
    {KHEAD "  %1 = arange : i32[4]\n  %2 = scan %1, axis=0 : i32[4] combine(%a) {\n    yield %a\n"
           "  }\n  return\n}\n",
     TILE_ERR_SYNTAX, "7:8: 'scan' of 1 operand needs a combine of 2 arguments, not 1"},
    {KHEAD "  %1 = arange : i32[4]\n  %2 = scan %1, axis=0 : i32[4] {\n    yield %1\n  }\n  return\n}\n",
     TILE_ERR_SYNTAX, "7:33: expected 'combine'"},
    {KHEAD "  %1 = arange : i32[4]\n  %2, %3 = scan %1, axis=0 : i32[4], i32[4] combine(%a, %b) {\n"
           "    yield %a\n  }\n  return\n}\n",
     TILE_ERR_SYNTAX, "7:12: 'scan' of 1 operand has 2 results"},
    {"kernal @k() {\n}\n", TILE_ERR_SYNTAX, "1:1: expected 'kernel' or 'fn'"},
    {"kernel @k(%y: out f32) {\n}\n", TILE_ERR_SYNTAX,
     "1:15: only a tensor parameter can be 'out'"},
    /* Well-formed text, invalid IR: the verifier, at the op. */
    {KHEAD "  %1 = const 1 : i32\n  %2 = add %s, %1 : f32\n  return\n}\n", TILE_ERR_SEMA,
     "7:3: invalid IR: in @k: add: operand 1 has type i32, expected f32"},
    {KHEAD "  %1 = arange : i32[4]\n  %2 = slice %1, axis=0, start=3, step=1 : i32[2]\n  return\n}\n",
     TILE_ERR_SEMA, "7:3: invalid IR: in @k: slice: i32[2] is not i32[4] along axis 0 from 3 step 1"},
    {KHEAD "  %1 = arange : i32[4]\n  %2 = scan %1, axis=0 : i32[4] combine(%a, %b) {\n"
           "    %c = add %a, %b : i32\n    yield %c, %c\n  }\n  return\n}\n",
     TILE_ERR_SEMA, "9:5: invalid IR: in @k: scan: combine yields 2 values, expected 1"},
    {KHEAD "  %1 = neg %s : f32\n}\n", TILE_ERR_SEMA,
     "6:3: invalid IR: in @k: body: block does not end in a terminator"},
    /* A layout in tile IR (no module line), and one that does not fit the
     * module's warps: the verifier. */
    {KHEAD "  %1 = arange : i32[4]#blocked<spt=[1],tpw=[32],wpc=[4],order=[0]>\n  return\n}\n",
     TILE_ERR_SEMA, "6:3: invalid IR: in @k: result has a layout before scheduling"},
    {"module scheduled, arch=sm_80, num_warps=8, smem_budget=0, num_stages=0\n" KHEAD
     "  %1 = arange : i32[4]#blocked<spt=[1],tpw=[32],wpc=[4],order=[0]>\n  return\n}\n",
     TILE_ERR_SEMA,
     "7:3: invalid IR: in @k: result: bad layout: warps_per_cta does not multiply to the module's num_warps"},
};

static void bad_input_is_located(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        parsed *p = parse("bad.ir", c->text);
        char got[512] = "(no diagnostic)";
        if (p->diags.first)
            snprintf(got, sizeof got, "%d:%d: %s", p->diags.first->loc.line,
                     p->diags.first->loc.col, p->diags.first->msg);
        if (p->st != c->st || strcmp(got, c->want) != 0)
            fprintf(stderr, "case %zu: status %d, got \"%s\", want \"%s\"\n", i, (int)p->st, got,
                    c->want);
        assert_int_equal(p->st, c->st);
        assert_string_equal(got, c->want);
        assert_string_equal(p->diags.first->loc.file, "bad.ir");
        parsed_free(p);
    }
}

/* The rendered form has the file name, the source line and a caret. */
static void errors_render_with_caret(void **state)
{
    (void)state;
    parsed *p = parse("bad.ir", KHEAD "  %1 = neg %t : f32\n  return\n}\n");
    char *out = diag_render(&p->diags, &p->mem);
    assert_non_null(strstr(out, "bad.ir:6:12: error: use of undefined value '%t'\n"));
    assert_non_null(strstr(out, "  %1 = neg %t : f32\n"));
    assert_non_null(strstr(out, "^"));
    parsed_free(p);
}

static void empty_input_is_an_empty_module(void **state)
{
    (void)state;
    parsed *p = parse("empty.ir", "\n// nothing\n");
    assert_int_equal(p->st, TILE_OK);
    assert_null(p->m->first);
    parsed_free(p);
}

/* Every prefix of a valid text is read without a crash (ASan checks the
 * reads); all but the empty ones and the full text are rejected. */
static void truncated_input_never_crashes(void **state)
{
    (void)state;
    size_t n = strlen(every_form);
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    for (size_t len = 0; len < n; len += 7) {
        memcpy(buf, every_form, len);
        buf[len] = 0;
        parsed *p = parse("cut.ir", buf);
        if (len > 0) assert_int_not_equal(p->st, TILE_OK);
        parsed_free(p);
    }
    free(buf);
}

/* A NUL inside a consts value is an error, not a value cut short (found by
 * fuzz_ir: the cut value printed as `D=` and did not read back). */
static void nul_in_consts_is_an_error(void **state)
{
    (void)state;
    static const char text[] = "kernel @k() consts(D=\0 16) {\ngrid:\n  %0 = const 1 : i32\n"
                               "  yield %0, %0, %0\nbody:\n  return\n}\n";
    arena mem;
    arena_init(&mem);
    diag_ctx d;
    diag_init(&d, &mem);
    ir_module *m = ir_module_new(&mem, &d);
    assert_int_equal(ir_parse_module(m, "nul.ir", text, sizeof text - 1), TILE_ERR_SYNTAX);
    assert_non_null(d.first);
    assert_int_equal(d.first->loc.line, 1);
    assert_int_equal(d.first->loc.col, 22);
    assert_non_null(strstr(d.first->msg, "expected the value of 'D'"));
    arena_free(&mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_form_round_trips),
        cmocka_unit_test(what_a_parsed_module_holds),
        cmocka_unit_test(hand_written_input),
        cmocka_unit_test(library_round_trip),
        cmocka_unit_test(scheduled_forms_round_trip),
        cmocka_unit_test(library_scheduled_round_trip),
        cmocka_unit_test(golden_files_round_trip),
        cmocka_unit_test(parsed_ir_runs_the_same),
        cmocka_unit_test(bad_input_is_located),
        cmocka_unit_test(errors_render_with_caret),
        cmocka_unit_test(empty_input_is_an_empty_module),
        cmocka_unit_test(truncated_input_never_crashes),
        cmocka_unit_test(nul_in_consts_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
