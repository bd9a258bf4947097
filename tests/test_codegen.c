/* test_codegen.c - codegen/ and tc_compile_gpu without a GPU:
 *   - the register map of blocked layouts is a bijection between the valid
 *     (thread, register) pairs and the tile's elements, for the layouts the
 *     scheduler picks (odd sizes, padding) and hand-made ones (other orders),
 *     evaluated through LLVM's constant folding of the real map code;
 *   - every library kernel (the D values and dtypes of the library tests)
 *     and every test kernel compiles to PTX for sm_80 and sm_90, with one
 *     .entry named as the kernel and exactly the parameters of docs/abi.md;
 *   - key patterns: 16-byte vector global loads and stores for row-major
 *     tiles, no vector access where the tile's last dim does not allow it;
 *   - asserts are reported in tc_gpu_kernel.asserts; errors (unknown arch,
 *     bad warps) are diagnostics, not crashes.
 * ptxas itself runs in tests/run_ptxas.sh. */
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
#include "compiler/sched_layout.h"

/* ---- wgmma (Hopper) ------------------------------------------------------------ */

static void check_bijection(const ir_layout *l, int rank, const int64_t *shape, int num_warps);

/* The mma v3 accumulator map is the PTX ISA's m64nNk16 D fragment: warp w
 * of warpgroup g = w / 4 holds, for 8-column chunk j and i = 0..3, d[4j+i]
 * at row 64 * (g + rm * wgm) + 16 * (w % 4) + lane / 4 + 8 * (i / 2) and
 * column 8j + 2 * (lane % 4) + i % 2 (written out here independently of
 * codegen/cg_mma.c). */
static void wgmma_accumulator_map(void **state)
{
    (void)state;
    int64_t coord[2 * 256];
    bool valid[256];
    for (int nw = 4; nw <= 8; nw += 4) {
        ir_layout l = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 3, .warps_per_cta = {nw, 1}};
        int wgm = nw / 4;
        int64_t shape[2] = {128 * wgm, 64};
        check_bijection(&l, 2, shape, nw);
        for (int tid = 0; tid < 32 * nw; tid += 7) {
            int w = tid / 32, lane = tid % 32, nacc = 32;
            int n = cg_layout_thread_map(&l, 2, shape, nw, tid, coord, valid, 256);
            assert_int_equal(n, 2 * nacc); /* two 64-row blocks per warpgroup */
            for (int rm = 0; rm < 2; rm++)
                for (int d = 0; d < nacc; d++) {
                    int k = rm * nacc + d, j = d / 4, i = d % 4;
                    assert_true(valid[k]);
                    assert_int_equal(coord[2 * k], 64 * (w / 4 + rm * wgm) + 16 * (w % 4) + lane / 4 + 8 * (i / 2));
                    assert_int_equal(coord[2 * k + 1], 8 * j + 2 * (lane % 4) + i % 2);
                }
        }
    }
    /* Warpgroups along N are not lowered yet: no map (an error, not a guess). */
    ir_layout wide = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 3, .warps_per_cta = {4, 2}};
    int64_t shape[2] = {64, 64};
    assert_int_equal(cg_layout_thread_map(&wide, 2, shape, 8, 0, coord, valid, 256), -1);
}

/* The 128-byte swizzle as the hardware applies it to a shared-memory byte
 * address (bits 4-6, the 16-byte chunk, XOR bits 7-9). */
static int64_t sw128(int64_t a) { return a ^ (((a >> 7) & 7) << 4); }

typedef struct desc_fields {
    int64_t start, lbo, sbo;
} desc_fields;

static desc_fields decode_desc(uint64_t d)
{
    assert_int_equal(d >> 62, 1);            /* 128-byte swizzle */
    assert_int_equal((d >> 49) & 7, 0);      /* base offset: patterns start 1024-aligned */
    return (desc_fields){(int64_t)(d & 0x3FFF) << 4, (int64_t)((d >> 16) & 0x3FFF) << 4,
                         (int64_t)((d >> 32) & 0x3FFF) << 4};
}

/* Every element (mn, k) of one m64nNk16 operand block (mn < mn_ext, k < 16)
 * that wgmma reads through the lowering's descriptor, by the ISA's
 * canonical layouts (T = 8 16-bit elements):
 *   K-major  ((8,m),(T,2k)):((8T,SBO),(1,T))
 *   MN-major ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO))
 * then swizzled, is where the buffer addressing (cp.async, the scratch
 * copies) stores it. */
static void check_block(bool k_major, int64_t rows, int64_t cols, int64_t base, int64_t mn0, int64_t mn_ext,
                        int64_t k0)
{
    uint64_t d = 0;
    assert_int_equal(cg_wgmma_probe_desc(k_major, rows, base, mn0, k0, &d), 0);
    desc_fields f = decode_desc(d);
    if (k_major) assert_int_equal(f.lbo, 16); /* unused for swizzled K-major: encoded 1 */
    for (int64_t mn = 0; mn < mn_ext; mn++)
        for (int64_t k = 0; k < 16; k++) {
            int64_t logical = k_major ? f.start + (mn % 8) * 128 + (mn / 8) * f.sbo + (k % 8) * 2 + (k / 8) * 16
                                      : f.start + (mn % 8) * 2 + (mn / 8 % 8) * 16 + (mn / 64) * f.lbo +
                                            (k % 8) * 128 + (k / 8) * f.sbo;
            int64_t r = k_major ? mn0 + mn : k0 + k, c = k_major ? k0 + k : mn0 + mn;
            int64_t stored = cg_wgmma_probe_store(rows, cols, base, r, c);
            if (sw128(logical) != stored)
                fail_msg("%s rows=%lld cols=%lld block mn0=%lld k0=%lld: (mn %lld, k %lld) read at %lld, stored at %lld",
                         k_major ? "K-major" : "MN-major", (long long)rows, (long long)cols, (long long)mn0,
                         (long long)k0, (long long)mn, (long long)k, (long long)sw128(logical), (long long)stored);
        }
}

static void wgmma_descriptors_match_buffers(void **state)
{
    (void)state;
    int64_t base = 3 * 1024;
    /* A = Q [128, 128] K-major (two warpgroups' 64-row blocks, two slabs of k). */
    for (int64_t mn0 = 0; mn0 < 128; mn0 += 64)
        for (int64_t k0 = 0; k0 < 128; k0 += 16) check_block(true, 128, 128, base, mn0, 64, k0);
    /* B = K^T from K [BN = 64, D = 128]: K-major, n along the rows, N = 64. */
    for (int64_t k0 = 0; k0 < 128; k0 += 16) check_block(true, 64, 128, base, 0, 64, k0);
    /* B = V [BN = 64, D = 128]: MN-major, N = 128 across two slabs (LBO). */
    for (int64_t k0 = 0; k0 < 64; k0 += 16) check_block(false, 64, 128, base, 0, 128, k0);
    /* B = V [BN = 32, D = 64] (one slab) and an M-major A [K = 64, M = 128]. */
    for (int64_t k0 = 0; k0 < 32; k0 += 16) check_block(false, 32, 64, base, 0, 64, k0);
    for (int64_t mn0 = 0; mn0 < 128; mn0 += 64)
        for (int64_t k0 = 0; k0 < 64; k0 += 16) check_block(false, 64, 128, base, mn0, 64, k0);
}

/* ---- register maps ----------------------------------------------------------- */

/* Every element of `shape` is held by exactly one valid (thread, register). */
static void check_bijection(const ir_layout *l, int rank, const int64_t *shape, int num_warps)
{
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) numel *= shape[d];
    int *seen = calloc((size_t)numel, sizeof *seen);
    int cap = 4096;
    int64_t *coord = malloc(sizeof *coord * (size_t)cap * (size_t)rank);
    bool *valid = malloc(sizeof *valid * (size_t)cap);
    assert_non_null(seen);
    assert_non_null(coord);
    assert_non_null(valid);
    for (int tid = 0; tid < 32 * num_warps; tid++) {
        int n = cg_layout_thread_map(l, rank, shape, num_warps, tid, coord, valid, cap);
        assert_true(n >= 1);
        for (int k = 0; k < n; k++) {
            if (!valid[k]) continue;
            int64_t lin = 0;
            for (int d = 0; d < rank; d++) {
                int64_t c = coord[k * rank + d];
                if (c < 0 || c >= shape[d]) fail_msg("valid register %d of thread %d at %lld in dim %d", k, tid, (long long)c, d);
                lin = lin * shape[d] + c;
            }
            seen[lin]++;
        }
    }
    for (int64_t i = 0; i < numel; i++)
        if (seen[i] != 1) fail_msg("element %lld held %d times", (long long)i, seen[i]);
    free(seen);
    free(coord);
    free(valid);
}

static void default_layouts_are_bijections(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    diag_ctx d;
    diag_init(&d, &mem);
    ir_module *m = ir_module_new(&mem, &d);
    static const int64_t shapes[][3] = {
        {1, 0, 0}, {32, 0, 0}, {111, 0, 0}, {100, 0, 0}, {4096, 0, 0},
        {16, 64, 0}, {128, 128, 0}, {1, 64, 0}, {64, 1, 0}, {50, 45, 0}, {32, 111, 0},
        {3, 5, 7}, {2, 16, 8},
    };
    static const int ranks[] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3};
    static const int warps[] = {1, 2, 4, 8};
    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++)
        for (size_t w = 0; w < sizeof warps / sizeof warps[0]; w++) {
            const ir_layout *l = sched_default_layout(m, ranks[i], shapes[i], warps[w]);
            assert_non_null(l);
            const char *why = NULL;
            assert_true(ir_layout_valid(l, ranks[i], warps[w], &why));
            check_bijection(l, ranks[i], shapes[i], warps[w]);
        }
    arena_free(&mem);
}

static void hand_made_layouts_are_bijections(void **state)
{
    (void)state;
    /* Column-major order, several elements per thread in both dims. */
    ir_layout l = {.kind = IR_LAYOUT_BLOCKED, .rank = 2,
                   .size_per_thread = {2, 2}, .threads_per_warp = {8, 4},
                   .warps_per_cta = {2, 2}, .order = {0, 1}};
    int64_t s1[2] = {64, 24}, s2[2] = {33, 17}, s3[2] = {8, 8};
    check_bijection(&l, 2, s1, 4);
    check_bijection(&l, 2, s2, 4);
    check_bijection(&l, 2, s3, 4); /* tile smaller than the layout: padding */
}

/* The mma family: every element owned once, and the m16n8k16 accumulator
 * fragment of the PTX ISA (lane l, element i at row l/4 + 8*(i/2), column
 * 2*(l%4) + i%2). */
static void mma_layouts_are_bijections(void **state)
{
    (void)state;
    ir_layout mma41 = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 2, .warps_per_cta = {4, 1}};
    ir_layout mma24 = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 2, .warps_per_cta = {2, 4}};
    ir_layout row41 = {.kind = IR_LAYOUT_SLICE, .rank = 1, .parent = &mma41, .dim = 1};
    ir_layout row24 = {.kind = IR_LAYOUT_SLICE, .rank = 1, .parent = &mma24, .dim = 1};
    ir_layout opa = {.kind = IR_LAYOUT_DOT_OPERAND, .rank = 2, .parent = &mma41, .opidx = 0, .kwidth = 2};
    int64_t s64[2] = {64, 64}, s128[2] = {128, 32}, col[2] = {64, 1}, s32[2] = {32, 128}, col32[2] = {32, 1};
    int64_t r64[1] = {64}, r32[1] = {32};
    check_bijection(&mma41, 2, s64, 4);
    check_bijection(&mma41, 2, s128, 4);
    check_bijection(&mma41, 2, col, 4);   /* replicated along the columns */
    check_bijection(&mma24, 2, s32, 8);
    check_bijection(&mma24, 2, col32, 8);
    check_bijection(&row41, 1, r64, 4);   /* replicated over a quad */
    check_bijection(&row24, 1, r32, 8);   /* ... and over the warps along N */
    check_bijection(&opa, 2, s64, 4);
    /* Column slices (a value per column, replicated down the rows) and the
     * [1, N] tile they expand to. */
    ir_layout col41 = {.kind = IR_LAYOUT_SLICE, .rank = 1, .parent = &mma41, .dim = 0};
    ir_layout col24 = {.kind = IR_LAYOUT_SLICE, .rank = 1, .parent = &mma24, .dim = 0};
    int64_t row1[2] = {1, 64};
    check_bijection(&col41, 1, r64, 4);
    check_bijection(&col24, 1, r64, 8);
    check_bijection(&mma41, 2, row1, 4);
    check_bijection(&mma24, 2, row1, 8);

    ir_layout one = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 2, .warps_per_cta = {1, 1}};
    int64_t t[2] = {16, 8}, coord[8];
    bool valid[4];
    for (int lane = 0; lane < 32; lane++) {
        assert_int_equal(cg_layout_thread_map(&one, 2, t, 1, lane, coord, valid, 4), 4);
        for (int i = 0; i < 4; i++) {
            assert_true(valid[i]);
            assert_int_equal(coord[2 * i], lane / 4 + 8 * (i / 2));
            assert_int_equal(coord[2 * i + 1], 2 * (lane % 4) + i % 2);
        }
    }
    /* The row slice: lane l holds rows l/4 and l/4 + 8; warp w of mma41 the
     * 16 rows from 16w. */
    int64_t rc[4];
    assert_int_equal(cg_layout_thread_map(&row41, 1, r64, 4, 2 * 32 + 13, rc, valid, 4), 2);
    assert_int_equal(rc[0], 32 + 3);
    assert_int_equal(rc[1], 32 + 11);
    assert_false(valid[0]); /* lane 13 is not its quad's first lane */
    /* The column slice: lane l holds columns 2(l%4) and 2(l%4) + 1 of each
     * 8-column tile; warp w of mma24 the 8 columns from 8(w/2) of each 32;
     * only row 0's threads (lanes 0-3 of the warps at row 0) own them. */
    int64_t cc[16];
    bool cv[16];
    assert_int_equal(cg_layout_thread_map(&col41, 1, r64, 4, 2 * 32 + 13, cc, cv, 16), 16);
    assert_int_equal(cc[0], 2);
    assert_int_equal(cc[1], 3);
    assert_int_equal(cc[2], 8 + 2);
    assert_false(cv[0]);
    assert_int_equal(cg_layout_thread_map(&col24, 1, r64, 8, 3 * 32 + 2, cc, cv, 16), 4);
    assert_int_equal(cc[0], 8 + 4);
    assert_int_equal(cc[2], 32 + 8 + 4);
    assert_false(cv[0]); /* warp 3 sits at warp row 1 */
    assert_int_equal(cg_layout_thread_map(&col24, 1, r64, 8, 2 * 32 + 2, cc, cv, 16), 4);
    assert_true(cv[0]);
    /* A shape the layout does not cover exactly has no map. */
    int64_t odd[2] = {48, 64};
    assert_int_equal(cg_layout_thread_map(&mma41, 2, odd, 4, 0, coord, valid, 4), -1);
}

/* ---- PTX for every kernel ------------------------------------------------------ */

typedef struct gpu_case {
    const char *file;     /* under lib/ or the source tree */
    const char *kernel;
    const char *defines;
} gpu_case;

static const gpu_case cases[] = {
    {"attention/flash_fwd.tile", "flash_fwd", "T=f32,D=64"},
    {"attention/flash_fwd.tile", "flash_fwd", "T=bf16,D=64"},
    {"attention/flash_fwd.tile", "flash_fwd", "T=bf16,D=128"},
    {"attention/flash_fwd.tile", "flash_fwd", "T=f16,D=128"},
    {"attention/flash_fwd.tile", "flash_fwd", "T=f32,D=16,BM=16,BN=16"},
    {"attention/flash_fwd.tile", "flash_fwd", "T=f32,D=111,BM=16,BN=16"},
    {"attention/flash_fwd.tile", "flash_fwd_causal", "T=bf16,D=64"},
    {"attention/flash_fwd.tile", "flash_fwd_streaming", "T=bf16,D=64"},
    {"attention/flash_fwd.tile", "flash_fwd_document", "T=bf16,D=64"},
    {"attention/flash_fwd.tile", "flash_fwd_document_causal", "T=bf16,D=128"},
    {"attention/flash_bwd.tile", "flash_bwd_preprocess", "T=bf16,D=64"},
    {"attention/flash_bwd.tile", "flash_bwd_dkdv", "T=f32,D=64"},
    {"attention/flash_bwd.tile", "flash_bwd_dkdv", "T=bf16,D=128"},
    {"attention/flash_bwd.tile", "flash_bwd_dq", "T=bf16,D=64"},
    {"attention/flash_bwd.tile", "flash_bwd_dkdv_causal", "T=bf16,D=64"},
    {"attention/flash_bwd.tile", "flash_bwd_dq_causal", "T=f32,D=128"},
    {"attention/decode.tile", "decode_split", "T=bf16,D=64,PS=16,S=4"},
    {"attention/decode.tile", "decode_split", "T=f32,D=128,PS=8,S=3"},
    {"attention/decode.tile", "decode_combine", "T=bf16,D=128,S=4"},
    {"attention/block_sparse.tile", "block_sparse_fwd", "T=bf16,D=64,BM=32,BN=32"},
    {"attention/block_sparse.tile", "block_sparse_fwd_causal", "T=f32,D=128,BM=16,BN=16"},
    {"attention/lightning2.tile", "lightning2", "T=bf16,D=64,E=64"},
    {"attention/lightning2.tile", "lightning2", "T=f32,D=64,E=128,B=16"},
    {"attention/lightning2.tile", "lightning2_chunk_state", "T=bf16,D=128,E=128"},
    {"attention/lightning2.tile", "lightning2_state_scan", "D=64,E=48,U=4"},
    {"attention/lightning2.tile", "lightning2_chunk_out", "T=bf16,D=64,E=128,CH=128"},
    {"attention/masks.tile", "check_kv_range", "mask=causal,kv_range=causal_range,M=64,N=64,BM=16,BN=16"},
    {"attention/masks.tile", "check_q_range", "mask=causal,q_range=causal_q_range,M=64,N=64,BM=16,BN=16"},
    /* The programs added with issue 5 (scan, slices, new math), the
     * constants of their `// $ build/tilec` header lines and tests. */
    {"attention/aaren.tile", "aaren_fwd", "D=64,E=64"},
    {"attention/aaren.tile", "aaren_fwd", "T=f32,D=32,E=48"},
    {"attention/based.tile", "based_fwd", "E=64"},
    {"attention/based.tile", "based_window", "D=64"},
    {"attention/based.tile", "based_chunk_state", "E=64"},
    {"attention/based.tile", "based_state_scan", "E=64"},
    {"attention/based.tile", "based_chunk_out", "T=f32,E=32,CH=64"},
    {"attention/s2.tile", "s2_fwd", "D=64,S=4,L=16"},
    {"attention/s2.tile", "s2_fwd", "T=f32,D=128,S=2,L=32"},
    {"attention/duo.tile", "duo_prefill", "D=64,W=64,S=4"},
    {"attention/duo.tile", "duo_decode_split", "D=128,PS=16,NS=4,W=64,S=4"},
    {"attention/moh.tile", "moh_fwd", "D=64"},
    {"attention/moh.tile", "moh_fwd_causal", "D=64"},
    {"attention/moh.tile", "moh_fwd_causal", "T=f32,D=128"},
    {"attention/sqa.tile", "sqa_fwd", "D=64"},
    {"attention/sqa.tile", "sqa_fwd_causal", "T=f16,D=128"},
};

/* Test kernels of the source tree: tests/golden and examples. */
static const gpu_case tree_cases[] = {
    {"examples/scale_rows.tile", "scale_rows", ""},
    {"examples/local_global.tile", "longformer", ""},
    {"tests/golden/ir_assert.tile", "k", ""},
    {"tests/golden/ir_capture.tile", "k", "N=8"},
    {"tests/golden/ir_defines.tile", "k", "D=16"},
    {"tests/golden/ir_if.tile", "k", ""},
    {"tests/golden/ir_import.tile", "k", ""},
    {"tests/golden/ir_loop.tile", "k", ""},
    {"tests/golden/ir_partial.tile", "local", ""},
    {"tests/golden/ir_reduce.tile", "k", ""},
    {"tests/golden/ir_view_mask.tile", "k", ""},
    {"tests/golden/ir_weak.tile", "k", ""},
    {"tests/golden/ok_compose.tile", "k", ""},
    {"tests/golden/ok_misc.tile", "k", ""},
    {"tests/golden/ok_fn_tensor.tile", "k", ""},
    {"tests/golden/ok_import.tile", "k", ""},
    {"tests/golden/ptx_ops.tile", "ops", ""},
    {"tests/golden/ptx_newops.tile", "newops", ""},
    {"tests/golden/ir_scan.tile", "k", ""},
    {"tests/golden/ops_ir_index.tile", "k", ""},
    {"tests/golden/ops_ir_math.tile", "k", ""},
    {"tests/golden/ptx_flash_fwd.tile", "fwd64", ""},
};

/* The PTX parameter count docs/abi.md gives for f's parameters. */
static int abi_param_count(const ir_func *f)
{
    int n = 1; /* status */
    for (int i = 0; i < f->nparams; i++)
        n += f->params[i].type.kind == IR_TY_TENSOR ? 1 + 2 * f->params[i].type.rank : 1;
    return n;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

/* Compiles c for arch; returns the unit (free it) and fills k. */
static tc_unit *compile_case_facts(const gpu_case *c, const char *root, const char *arch, int warps,
                                   tc_arg_facts facts, tc_gpu_kernel *k)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, c->file);
    arena scratch;
    arena_init(&scratch);
    const char **defs = NULL;
    int ndefs = c->defines[0] ? tc_split_defines(&scratch, c->defines, &defs) : 0;
    assert_true(ndefs >= 0);
    tc_options o = {.kernel = c->kernel, .defines = defs, .ndefines = ndefs, .opt_level = 1};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, path, NULL, &o);
    if (st == TILE_OK) {
        tc_gpu_options g = {.arch = arch, .num_warps = warps, .facts = facts};
        st = tc_compile_gpu(u, &g, k);
    }
    arena_free(&scratch);
    if (st != TILE_OK) {
        diag_print_all(&u->diags, stderr);
        fail_msg("%s -k %s [%s] for %s: %s", c->file, c->kernel, c->defines, arch, tile_status_name(st));
    }
    return u;
}

static tc_unit *compile_case(const gpu_case *c, const char *root, const char *arch, int warps,
                             tc_gpu_kernel *k)
{
    return compile_case_facts(c, root, arch, warps, (tc_arg_facts){0}, k);
}

static void check_ptx(const gpu_case *c, const char *root, const char *arch)
{
    tc_gpu_kernel k;
    tc_unit *u = compile_case(c, root, arch, 0, &k);
    char entry[160];
    snprintf(entry, sizeof entry, ".entry %s(", c->kernel);
    if (!strstr(k.ptx, entry)) fail_msg("%s: no '%s' in the PTX", c->kernel, entry);
    char target[32];
    snprintf(target, sizeof target, ".target %s", arch);
    assert_non_null(strstr(k.ptx, target));
    assert_int_equal(count(k.ptx, ".entry"), 1);
    /* Parameters of the entry's signature (calls to vprintf declare more). */
    const char *sig = strstr(k.ptx, entry);
    const char *end = strchr(sig, ')');
    int params = 0;
    for (const char *p = strstr(sig, ".param ."); p && p < end; p = strstr(p + 1, ".param .")) params++;
    if (params != abi_param_count(u->kernel))
        fail_msg("%s: %d PTX parameters, docs/abi.md says %d", c->kernel, params, abi_param_count(u->kernel));
    assert_int_equal((int)strlen(k.ptx), (int)k.ptx_size);
    assert_true(k.num_warps == 4 || k.num_warps == 8);
    char ntid[48];
    snprintf(ntid, sizeof ntid, ".maxntid %d, 1, 1", 32 * k.num_warps);
    assert_non_null(strstr(k.ptx, ntid));
    assert_string_equal(k.entry, c->kernel);
    assert_true(k.smem_bytes >= 0 && k.smem_bytes <= 227 * 1024);
    tc_unit_free(u);
}

static void warps_follow_tile_sizes(void **state)
{
    (void)state;
    tc_gpu_kernel k;
    /* Explicit tile sizes: the layout heuristic picks the warps unless the
     * model predicts a row more than 3% faster (sched_fixed_prefer; with
     * `auto` constants the scheduler picks them: test_sched_model.c). */
    gpu_case d64 = {"attention/flash_fwd.tile", "flash_fwd", "T=bf16,D=64,BM=32,BN=32"};
    tc_unit *u = compile_case(&d64, TILE_LIB_DIR, "sm_90", 0, &k);
    assert_int_equal(k.num_warps, 4);   /* largest tile [32,64] */
    assert_int_equal(k.num_stages, 2);
    tc_unit_free(u);
    gpu_case d128 = {"attention/flash_fwd.tile", "flash_fwd", "T=bf16,D=128,BM=32,BN=32"};
    u = compile_case(&d128, TILE_LIB_DIR, "sm_90", 0, &k);
    /* The heuristic says 8 ([32,128] accumulator), the model 4: 8 warps
     * on 32 rows put warps along the keys, and each row reduction crosses
     * warps through shared memory (half the time in the model). */
    assert_int_equal(k.num_warps, 4);
    tc_unit_free(u);
    /* Where the model only ties, the heuristic's row stays: no dot in a
     * loop (bucket_sort).  block_sparse_fwd's loop over the listed blocks
     * is costed at its asserted maximum (count <= MAXB), so it is
     * compute-bound, and BK, the compiler's, is 64 at 4 warps (D=64; H200:
     * as fast as 8 warps, bench/sparse_sweep.py); its 8-warp rows the model
     * puts on shared memory. */
    gpu_case sort = {"attention/hyper.tile", "bucket_sort", "NCODE=256"};
    u = compile_case(&sort, TILE_LIB_DIR, "sm_90", 0, &k);
    assert_int_equal(k.num_warps, 8);   /* the heuristic's, for [64,256] tiles */
    assert_int_equal(k.num_stages, 2);
    tc_unit_free(u);
    gpu_case sparse = {"attention/block_sparse.tile", "block_sparse_fwd",
                       "T=bf16,D=64,BM=128,BN=128,Z=4,H=32,HK=32,M=4096,N=4096,MB=32,MAXB=32"};
    u = compile_case(&sparse, TILE_LIB_DIR, "sm_90", 0, &k);
    assert_int_equal(k.num_warps, 4);
    assert_int_equal(k.num_stages, 2);
    tc_unit_free(u);
    /* At D=128 the whole 128-key block a step, 8 warps (345 TFLOP/s against
     * 303 in 64-key steps at L=4k, the same call). */
    gpu_case sparse128 = {"attention/block_sparse.tile", "block_sparse_fwd",
                          "T=bf16,D=128,BM=128,BN=128,Z=4,H=16,HK=16,M=4096,N=4096,MB=32,MAXB=32"};
    u = compile_case(&sparse128, TILE_LIB_DIR, "sm_90", 0, &k);
    assert_int_equal(k.num_warps, 8);
    assert_int_equal(k.num_stages, 2);
    tc_unit_free(u);
    /* A gathered block that a trans reads, staged outside any loop, at 4
     * warps and 2 stages: the pipeliner took the erased trans for the
     * place of its view and failed (reported as out of memory). */
    gpu_case hyper = {"attention/hyper.tile", "hyper_attn", "T=bf16,D=64,BB=64,MS=64"};
    u = compile_case(&hyper, TILE_LIB_DIR, "sm_90", 4, &k);
    assert_int_equal(k.num_warps, 4);
    assert_int_equal(k.num_stages, 2);
    tc_unit_free(u);
}

static void library_kernels_compile(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_ptx(&cases[i], TILE_LIB_DIR, "sm_90");
        check_ptx(&cases[i], TILE_LIB_DIR, "sm_80");
    }
}

static void test_kernels_compile(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof tree_cases / sizeof tree_cases[0]; i++) {
        check_ptx(&tree_cases[i], TILE_SOURCE_DIR, "sm_90");
        check_ptx(&tree_cases[i], TILE_SOURCE_DIR, "sm_80");
    }
}

/* A paged gather (the page of each key from a block table): the K and V
 * copies are pipelined with the table's entries loaded ahead with them
 * (sched_pipeline.c: an integer load of a tensor the kernel never writes
 * may be recomputed for a later iteration); with a table the kernel writes
 * they stay plain loads. */
static const char *paged_src =
    "kernel paged(q: tensor<bf16>[16, 64], k: tensor<bf16>[NS, 64], v: tensor<bf16>[NS, 64],\n"
    "             table: %stensor<i32>[MAXP], o: out tensor<f32>[16, 64]) grid(1)\n"
    "{\n"
    "    let qb = load(q[arange(16), :]);\n"
    "    var acc = zeros([16, 64]);\n"
    "    for b in range(MAXP / 2) {\n"
    "        let j = b * 32 + arange(32);\n"
    "        let slots = load(table[j / 16]) * 16 + j %% 16;\n"
    "        let s = dot(qb, trans(load(k[slots, :])));\n"
    "        acc = dot(cast<bf16>(s), load(v[slots, :]), acc);\n"
    "    }\n"
    "    store(o[arange(16), :], acc);\n"
    "}\n";

/* The cp.async instructions of the kernel's PTX. */
static int paged_copies(bool table_written)
{
    char src[1024];
    snprintf(src, sizeof src, paged_src, table_written ? "out " : "");
    tc_options o = {.kernel = "paged", .opt_level = 1};
    tc_unit *u = NULL;
    tc_gpu_kernel k;
    tile_status st = tc_compile(&u, "paged.tile", src, &o);
    if (st == TILE_OK) {
        tc_gpu_options g = {.arch = "sm_90", .num_warps = 4, .num_stages = 2};
        st = tc_compile_gpu(u, &g, &k);
    }
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    int copies = 0;
    for (const char *at = k.ptx; (at = strstr(at, "cp.async.cg.shared.global")); at++) copies++;
    tc_unit_free(u);
    return copies;
}

static void paged_copies_pipelined(void **state)
{
    (void)state;
    /* Q (loop-invariant) is staged by cp.async either way; K and V add
     * theirs (prologue and loop) only when the table is read-only. */
    int staged_q_only = paged_copies(true);
    assert_true(staged_q_only > 0);
    assert_true(paged_copies(false) > staged_q_only);
}

/* A loop-free kernel at one stage whose dot reads a column tile at an
 * offset, program_id(1) * 64 + arange(64) (lightning2_block_out's v): the
 * tiles are staged by 16-byte cp.async (the pipeliner stages loop-free
 * wgmma operands at one stage too; codegen vectorises an arange plus a
 * multiple of the chunk), not loaded 16 bits at a time.  With an offset of
 * 60 (not a multiple of 8 elements) the copy must not be vectorised. */
static const char *offset_cols_src =
    "kernel cols(a: tensor<bf16>[64, 64], b: tensor<bf16>[64, 128], o: out tensor<f32>[64, 128]) grid(1, 2)\n"
    "{\n"
    "    let r = arange(64);\n"
    "    let c = program_id(1) * %d + arange(64);\n"
    "    store(o[r, c], dot(load(a[r, :]), load(b[r, c])));\n"
    "}\n";

static const char *offset_cols_ptx(int step, tc_unit **u, tc_gpu_kernel *k)
{
    char src[512];
    snprintf(src, sizeof src, offset_cols_src, step);
    tc_options o = {.kernel = "cols", .opt_level = 1};
    tile_status st = tc_compile(u, "cols.tile", src, &o);
    if (st == TILE_OK) {
        tc_gpu_options g = {.arch = "sm_90", .num_warps = 4, .num_stages = 1,
                            .facts = {.aligned16 = ~0ull, .unit_stride = ~0ull}};
        st = tc_compile_gpu(*u, &g, k);
    }
    if (st != TILE_OK) diag_print_all(&(*u)->diags, stderr);
    assert_int_equal(st, TILE_OK);
    return k->ptx;
}

static void offset_columns_vectorised(void **state)
{
    (void)state;
    tc_unit *u = NULL;
    tc_gpu_kernel k;
    const char *ptx = offset_cols_ptx(64, &u, &k);
    int copies = 0;
    for (const char *at = ptx; (at = strstr(at, "cp.async.cg.shared.global")); at++) copies++;
    assert_true(copies >= 64 * 64 * 2 / 16 / 128);   /* b at least: one 16-byte copy each 8 elements */
    assert_null(strstr(ptx, "ld.global.b16"));
    tc_unit_free(u);
    u = NULL;
    ptx = offset_cols_ptx(60, &u, &k);
    assert_non_null(strstr(ptx, "ld.global.b16"));   /* b's copy: unaligned columns, scalar */
    tc_unit_free(u);
}

static void vector_accesses(void **state)
{
    (void)state;
    tc_gpu_kernel k;
    /* f32[16,64] row-major tiles: ld/st.global.v4 behind the alignment check,
     * scalar accesses as the fallback. */
    gpu_case rows = {"examples/scale_rows.tile", "scale_rows", ""};
    tc_unit *u = compile_case(&rows, TILE_SOURCE_DIR, "sm_90", 0, &k);
    assert_non_null(strstr(k.ptx, "ld.global.v4.b32"));
    assert_non_null(strstr(k.ptx, "st.global.v4.b32"));
    assert_non_null(strstr(k.ptx, "ld.global.b32"));
    tc_unit_free(u);
    /* bf16 Q/K/V rows: 8 elements = one 16-byte cp.async into shared
     * memory (sched_pipeline.c); O from the mma accumulator: pairs of
     * neighbours, one 32-bit store each. */
    gpu_case fwd = {"attention/flash_fwd.tile", "flash_fwd", "T=bf16,D=64"};
    u = compile_case(&fwd, TILE_LIB_DIR, "sm_90", 0, &k);
    assert_non_null(strstr(k.ptx, "cp.async.cg.shared.global"));
    assert_non_null(strstr(k.ptx, "st.global.b32"));
    tc_unit_free(u);
    /* The bisecting switches turn vectors and tensor cores off. */
    setenv("TILE_CG_NO_VECTOR", "1", 1);
    setenv("TILE_CG_GENERIC_DOT", "1", 1);
    u = compile_case(&fwd, TILE_LIB_DIR, "sm_90", 0, &k);
    assert_null(strstr(k.ptx, "ld.global.v"));
    assert_null(strstr(k.ptx, "mma.sync"));
    tc_unit_free(u);
    unsetenv("TILE_CG_NO_VECTOR");
    unsetenv("TILE_CG_GENERIC_DOT");
    /* sm_90 runs its dots on wgmma by default, TILE_WGMMA=0 on mma.sync;
     * sm_80 has only mma.sync. */
    u = compile_case(&fwd, TILE_LIB_DIR, "sm_90", 0, &k);
    assert_non_null(strstr(k.ptx, "wgmma.mma_async.sync.aligned"));
    assert_non_null(strstr(k.ptx, ".target sm_90a"));
    tc_unit_free(u);
    setenv("TILE_WGMMA", "0", 1);
    u = compile_case(&fwd, TILE_LIB_DIR, "sm_90", 0, &k);
    unsetenv("TILE_WGMMA");
    assert_non_null(strstr(k.ptx, "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
    assert_null(strstr(k.ptx, "wgmma"));
    tc_unit_free(u);
    u = compile_case(&fwd, TILE_LIB_DIR, "sm_80", 0, &k);
    assert_non_null(strstr(k.ptx, "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
    assert_null(strstr(k.ptx, "wgmma"));
    tc_unit_free(u);
    /* D = 111: no vector fits the last dim. */
    gpu_case odd = {"attention/flash_fwd.tile", "flash_fwd", "T=f32,D=111,BM=16,BN=16"};
    u = compile_case(&odd, TILE_LIB_DIR, "sm_90", 0, &k);
    assert_null(strstr(k.ptx, "ld.global.v"));
    tc_unit_free(u);
}

/* Under the runtime's facts (aligned rows, unit last stride) a tensor's
 * vector accesses need neither the run-time check nor the scalar path;
 * a tensor without them keeps both. */
static void aligned_facts_drop_fallback(void **state)
{
    (void)state;
    tc_gpu_kernel k;
    gpu_case rows = {"examples/scale_rows.tile", "scale_rows", ""};
    tc_unit *u = compile_case_facts(&rows, TILE_SOURCE_DIR, "sm_90", 0,
                                    (tc_arg_facts){.aligned16 = ~0ull, .unit_stride = ~0ull}, &k);
    assert_non_null(strstr(k.ptx, "ld.global.v4.b32"));
    assert_non_null(strstr(k.ptx, "st.global.v4.b32"));
    assert_null(strstr(k.ptx, "ld.global.b32"));
    assert_null(strstr(k.ptx, "st.global.b32"));
    tc_unit_free(u);
    /* aligned16 without unit_stride is not enough */
    u = compile_case_facts(&rows, TILE_SOURCE_DIR, "sm_90", 0, (tc_arg_facts){.aligned16 = ~0ull}, &k);
    assert_non_null(strstr(k.ptx, "ld.global.b32"));
    tc_unit_free(u);
    /* flash_fwd's cp.async copies lose their scalar fallback (ld.global.b16) */
    gpu_case fwd = {"attention/flash_fwd.tile", "flash_fwd", "T=bf16,D=64"};
    u = compile_case(&fwd, TILE_LIB_DIR, "sm_90", 0, &k);
    int general = count(k.ptx, "ld.global.b16");
    tc_unit_free(u);
    u = compile_case_facts(&fwd, TILE_LIB_DIR, "sm_90", 0,
                           (tc_arg_facts){.aligned16 = ~0ull, .unit_stride = ~0ull}, &k);
    assert_true(general > 0);
    assert_int_equal(count(k.ptx, "ld.global.b16"), 0);
    assert_non_null(strstr(k.ptx, "cp.async.cg.shared.global"));
    tc_unit_free(u);
}

/* A mask that is the same along the last dim (`live[:, None]`: a gather
 * of whole rows, quest_score's page summaries) keeps 16-byte accesses, one
 * predicate a chunk; a mask that varies along the last dim does not. */
static const char MASKED_ROWS[] =
    "kernel rows(x: tensor<bf16>[N, 64], idx: tensor<i32>[R], y: out tensor<bf16>[R, 64],\n"
    "            const R: int = 32) grid(1) {\n"
    "    let r = arange(R);\n"
    "    let live = r < 20;\n"
    "    let i = load(idx[r], mask: live);\n"
    "    let v = load(x[i, :], mask: live[:, None]);\n"
    "    store(y[r, :], v * 2.0, mask: live[:, None]);\n"
    "}\n"
    "kernel cols(x: tensor<bf16>[N, 64], y: out tensor<bf16>[N, 64]) grid(1) {\n"
    "    let c = arange(64);\n"
    "    let v = load(x[arange(32), :], mask: (c < 60)[None, :]);\n"
    "    store(y[arange(32), :], v);\n"
    "}\n";

static const char *compile_text_ptx(tc_unit **u, const char *kernel, tc_gpu_kernel *k)
{
    tc_options o = {.kernel = kernel, .opt_level = 1};
    tile_status st = tc_compile(u, "masked_rows.tile", MASKED_ROWS, &o);
    if (st == TILE_OK) {
        tc_gpu_options g = {.arch = "sm_90", .facts = {.aligned16 = ~0ull, .unit_stride = ~0ull}};
        st = tc_compile_gpu(*u, &g, k);
    }
    if (st != TILE_OK) {
        diag_print_all(&(*u)->diags, stderr);
        fail_msg("masked_rows.tile -k %s: %s", kernel, tile_status_name(st));
    }
    return k->ptx;
}

static void row_masks_stay_vector(void **state)
{
    (void)state;
    tc_gpu_kernel k;
    tc_unit *u = NULL;
    const char *ptx = compile_text_ptx(&u, "rows", &k);
    assert_non_null(strstr(ptx, "ld.global.v4.b32"));
    assert_non_null(strstr(ptx, "st.global.v4.b32"));
    assert_int_equal(count(ptx, "ld.global.b16"), 0);
    assert_int_equal(count(ptx, "st.global.b16"), 0);
    tc_unit_free(u);
    u = NULL;
    ptx = compile_text_ptx(&u, "cols", &k);
    assert_true(count(ptx, "ld.global.b16") > 0);
    assert_null(strstr(ptx, "ld.global.v4.b32"));
    tc_unit_free(u);
}

static void asserts_and_warps(void **state)
{
    (void)state;
    tc_gpu_kernel k;
    gpu_case fwd = {"attention/flash_fwd.tile", "flash_fwd", "T=bf16,D=64"};
    tc_unit *u = compile_case(&fwd, TILE_LIB_DIR, "sm_90", 8, &k);
    assert_int_equal(k.num_warps, 8);
    assert_non_null(strstr(k.ptx, ".maxntid 256, 1, 1"));
    assert_true(k.nasserts >= 1);
    assert_string_equal(k.asserts[0].message, "query heads must be a multiple of key/value heads");
    assert_true(k.asserts[0].loc.line > 0);
    /* The failure path: compare-and-swap on status[0], then return. */
    assert_non_null(strstr(k.ptx, "atom.relaxed.global.cas.b32") ? strstr(k.ptx, "atom.relaxed.global.cas.b32")
                                                                 : strstr(k.ptx, "atom.global.cas.b32"));
    assert_null(strstr(k.ptx, "trap"));
    tc_unit_free(u);
}

static void bad_options(void **state)
{
    (void)state;
    tc_options o = {.kernel = "scale_rows", .opt_level = 1};
    char path[512];
    snprintf(path, sizeof path, "%s/examples/scale_rows.tile", TILE_SOURCE_DIR);
    tc_unit *u = NULL;
    assert_int_equal(tc_compile(&u, path, NULL, &o), TILE_OK);
    tc_gpu_kernel k;
    tc_gpu_options g = {.arch = "sm_70"};
    assert_int_equal(tc_compile_gpu(u, &g, &k), TILE_ERR_ARG);
    assert_true(u->diags.nerrors >= 1);
    g = (tc_gpu_options){.arch = "sm_90", .num_warps = 3};
    assert_int_equal(tc_compile_gpu(u, &g, &k), TILE_ERR_ARG);
    /* Scheduled once for 4 warps; the same unit cannot be rescheduled for 8. */
    g = (tc_gpu_options){.arch = "sm_90", .num_warps = 4};
    assert_int_equal(tc_compile_gpu(u, &g, &k), TILE_OK);
    g.num_warps = 8;
    assert_int_equal(tc_compile_gpu(u, &g, &k), TILE_ERR_INTERNAL);
    tc_unit_free(u);
}

/* A print in an associative_scan combine would put a barrier in one
 * thread's branch: a located error, not a hang. */
static void scan_combine_effects(void **state)
{
    (void)state;
    tc_options o = {.kernel = "k", .opt_level = 1};
    char path[512];
    snprintf(path, sizeof path, "%s/tests/golden/ok_scan_print.tile", TILE_SOURCE_DIR);
    tc_unit *u = NULL;
    assert_int_equal(tc_compile(&u, path, NULL, &o), TILE_OK);
    tc_gpu_kernel k;
    tc_gpu_options g = {.arch = "sm_90"};
    assert_int_not_equal(tc_compile_gpu(u, &g, &k), TILE_OK);
    assert_true(u->diags.nerrors >= 1);
    const diag *d = u->diags.first;
    while (d && !strstr(d->msg, "associative_scan: 'print' in the combine fn")) d = d->next;
    assert_non_null(d);
    assert_int_equal(d->loc.line, 3);   /* the print, in the fn body */
    tc_unit_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_layouts_are_bijections),
        cmocka_unit_test(hand_made_layouts_are_bijections),
        cmocka_unit_test(mma_layouts_are_bijections),
        cmocka_unit_test(aligned_facts_drop_fallback),
        cmocka_unit_test(row_masks_stay_vector),
        cmocka_unit_test(wgmma_accumulator_map),
        cmocka_unit_test(wgmma_descriptors_match_buffers),
        cmocka_unit_test(vector_accesses),
        cmocka_unit_test(offset_columns_vectorised),
        cmocka_unit_test(paged_copies_pipelined),
        cmocka_unit_test(asserts_and_warps),
        cmocka_unit_test(bad_options),
        cmocka_unit_test(warps_follow_tile_sizes),
        cmocka_unit_test(test_kernels_compile),
        cmocka_unit_test(library_kernels_compile),
        cmocka_unit_test(scan_combine_effects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
