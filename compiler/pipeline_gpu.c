/* pipeline_gpu.c - the GPU half of the pipeline (pipeline.h):
 *
 *   optimised tile IR [--tc_specialise_divisible-->] --sched_assign_layouts--> scheduled IR
 *                     --cg_emit_kernel--> LLVM IR --O3--> PTX
 *
 * Its own file so that executables which never compile for the GPU link
 * no LLVM object (static archives pull in only what is referenced). */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "sched_choose.h"
#include "sched_layout.h"
#include "sched_pipeline.h"
#include "support/timing.h"

/* Explicit constants: the row of that fixed schedule over the warps and
 * stages g leaves open that sched_fixed_prefer takes (the default row
 * unless the model predicts better by more than its tie), as `tilec
 * --explain` marks it; NULL when g sets both or nothing fits (then the
 * default, and sched_check_fixed's located error if it does not fit). */
static const sched_candidate *fixed_choice(tc_unit *u, const tc_gpu_options *g,
                                           const ir_target *t, sched_plan *fixed)
{
    int warps = g && g->num_warps > 0 ? g->num_warps : 0;
    int stages = g && g->num_stages > 0 ? g->num_stages : 0;
    if ((warps && stages) || (!u->path && !u->text)) return NULL;
    tt_begin(TT_SCHED_SEARCH);
    tile_status st = sched_cost_fixed(u->path, u->text, &u->opts, u->kernel->name, t, warps,
                                      stages, &u->mem, fixed);
    tt_end(TT_SCHED_SEARCH);
    if (st != TILE_OK) return NULL;
    sched_fixed_prefer(fixed, warps ? warps : sched_choose_num_warps(u->kernel),
                       stages ? stages : SCHED_DEFAULT_STAGES);
    return fixed->best >= 0 ? &fixed->cand[fixed->best] : NULL;
}

static tile_status compile_gpu(tc_unit *u, const tc_gpu_options *g, cg_emit_kind kind,
                               tc_gpu_kernel *out)
{
    memset(out, 0, sizeof *out);
    if (!u || !u->kernel) {
        if (u) diag_error(&u->diags, (src_loc){0}, "no kernel selected for GPU compilation");
        return TILE_ERR_ARG;
    }
    const char *arch = g && g->arch ? g->arch : "sm_90";
    const ir_target *t = g && g->target ? g->target : ir_target_find(arch);
    if (!t) {
        diag_error(&u->diags, u->kernel->loc, "unknown GPU architecture '%s' (known: %s)", arch,
                   ir_target_names());
        return TILE_ERR_ARG;
    }
    /* The scheduler's choice when it chose the kernel's `auto` constants;
     * otherwise (explicit constants) the layout heuristic's warps and 2
     * stages, or the model's row where it predicts better (fixed_choice). */
    const sched_plan *plan = tc_unit_plan(u, u->kernel->name);
    const sched_candidate *best = plan && plan->best >= 0 ? &plan->cand[plan->best] : NULL;
    sched_plan fixed;
    const sched_candidate *model = best ? NULL : fixed_choice(u, g, t, &fixed);
    int num_warps = g && g->num_warps > 0 ? g->num_warps
                    : best ? best->num_warps
                    : model ? model->num_warps : sched_choose_num_warps(u->kernel);
    int num_stages = g && g->num_stages > 0 ? g->num_stages
                     : best ? best->num_stages : model ? model->num_stages : 2;
    if (num_warps > 32 || (num_warps & (num_warps - 1)) != 0) {
        diag_error(&u->diags, u->kernel->loc, "num_warps must be a power of two up to 32, got %d",
                   num_warps);
        return TILE_ERR_ARG;
    }
    tile_status st = TILE_OK;
    tt_begin(TT_SPECIALISE);
    if (g && g->facts.divisible && u->module->stage == IR_STAGE_TILE)
        st = tc_specialise_divisible(u, g->facts.divisible);
    tt_end(TT_SPECIALISE);
    if (st != TILE_OK) return st;
    tt_begin(TT_SCHED_LAYOUT);
    st = sched_assign_layouts(u->module, t, num_warps);
    tt_end(TT_SCHED_LAYOUT);
    if (st != TILE_OK) return st;
    /* Explicit constants whose live tiles cannot fit in registers are an
     * error before code generation (which would take long to fail); the
     * scheduler's choice keeps its own stages. */
    /* Explicit constants without --stages: 2 (measured: 3 stages cost
     * flash_fwd BM=128 BN=64 4 warps 296 -> 162 TFLOP/s in registers). */
    int stages = g && g->num_stages > 0 ? g->num_stages
                 : model ? model->num_stages : SCHED_DEFAULT_STAGES;
    tt_begin(TT_SCHED_LAYOUT);
    if (!best) st = sched_check_fixed(u, t, num_warps, 0, &stages);
    tt_end(TT_SCHED_LAYOUT);
    if (st != TILE_OK) return st;
    if (best) stages = num_stages;
    if (stages <= 0) stages = SCHED_DEFAULT_STAGES;
    if (u->module->target.num_stages == 0) {
        tt_begin(TT_SCHED_PIPELINE);
        st = sched_pipeline(u->module, t, stages, NULL);
        tt_end(TT_SCHED_PIPELINE);
        if (st != TILE_OK) return st;
        u->module->target.num_stages = stages;
    }
    cg_result r;
    /* A tensor with aligned rows and a unit last stride needs no run-time
     * alignment check before its vector accesses (docs/abi.md). */
    cg_options co = {.vector_ok = g ? g->facts.aligned16 & g->facts.unit_stride : 0};
    tt_begin(TT_LLVM_BUILD);
    st = cg_emit_kernel_with(u->kernel, t, &co, kind, &r);
    tt_end(TT_LLVM_BUILD);
    if (st != TILE_OK) return st;
    if (!best) {
        /* Explicit constants: a located error when codegen's shared memory
         * (the pipeline's buffers included) does not fit. */
        if ((st = sched_check_fixed(u, t, num_warps, r.smem_bytes, &stages)) != TILE_OK) return st;
    } else if (r.smem_bytes > t->smem_per_block) {
        diag_error(&u->diags, u->kernel->loc,
                   "internal error: kernel '%s' needs %d bytes of shared memory, more than the "
                   "%d of %s, although its schedule was costed to fit", u->kernel->name,
                   r.smem_bytes, t->smem_per_block, t->arch);
        return TILE_ERR_INTERNAL;
    }
    tc_gpu_assert *asserts = NULL;
    if (r.nasserts) {
        asserts = arena_calloc(&u->mem, (size_t)r.nasserts, sizeof *asserts);
        if (!asserts) return TILE_ERR_NOMEM;
        for (int i = 0; i < r.nasserts; i++)
            asserts[i] = (tc_gpu_assert){.loc = r.asserts[i].loc, .message = r.asserts[i].message};
    }
    *out = (tc_gpu_kernel){
        .ptx = r.text, .ptx_size = r.size, .entry = u->kernel->name, .arch = t->arch,
        .num_warps = num_warps, .num_stages = num_stages, .smem_bytes = r.smem_bytes, .nasserts = r.nasserts,
        .asserts = asserts,
    };
    return TILE_OK;
}

tile_status tc_compile_gpu(tc_unit *u, const tc_gpu_options *g, tc_gpu_kernel *out)
{
    return compile_gpu(u, g, CG_EMIT_PTX, out);
}

tile_status tc_compile_gpu_llvm(tc_unit *u, const tc_gpu_options *g, tc_gpu_kernel *out)
{
    return compile_gpu(u, g, CG_EMIT_LLVM, out);
}

void tc_codegen_switches(char *buf, size_t size)
{
    static const char *const names[] = {"TILE_WGMMA", "TILE_WGMMA_DEFER", "TILE_CG_GENERIC_DOT", "TILE_CG_NO_VECTOR"};
    size_t n = 0;
    if (size) buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        int w = snprintf(buf + n, n < size ? size - n : 0, "%s=%s;", names[i], v ? v : "");
        if (w > 0) n += (size_t)w;
    }
}
