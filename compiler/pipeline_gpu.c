/* pipeline_gpu.c - PLACEHOLDER for tc_compile_gpu (scheduled IR -> PTX).
 *
 * The codegen branch replaces this file with the real scheduler + LLVM
 * NVPTX code generation; this stub only lets the runtime link and report,
 * through its normal error path, that no code generator is built in. */
#include "pipeline.h"

tile_status tc_compile_gpu(tc_unit *u, const tc_gpu_options *g, tc_gpu_kernel *out)
{
    (void)g;
    if (out) *out = (tc_gpu_kernel){0};
    if (u) diag_error(&u->diags, u->kernel ? u->kernel->loc : (src_loc){0},
                      "GPU code generation is not built in");
    return TILE_ERR_INTERNAL;
}
