/* fake_cuda.c - a stand-in for libcuda.so.1, for testing the runtime's GPU
 * path (driver calls, variants, parameter marshalling, assert reports,
 * cleanup) on machines without a GPU.  One device ("Fake GPU", sm_90, 132
 * SMs); device memory is host memory; a module keeps its PTX text; a
 * launch runs nothing and records what it was given (fake_cuda.h).  A PTX
 * text containing PTXAS_ERROR fails to load with a ptxas-like log.  Only
 * the entry points runtime/rt_driver.h looks up exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_cuda.h"

typedef int CUresult;
typedef struct fake_module fake_module;
typedef struct fake_function {
    fake_module *module;
    char name[128];
} fake_function;
struct fake_module {
    char *ptx;
    fake_function fn; /* the runtime takes one function per module */
};

static fake_cuda_state state = {.max_grid = {2147483647, 65535, 65535}};
static int primary_ctx; /* its address is the context handle */

fake_cuda_state *fake_cuda_state_get(void) { return &state; }

CUresult cuInit(unsigned flags) { return flags == 0 ? 0 : 1; }
CUresult cuDriverGetVersion(int *v) { return *v = 13000, 0; }
CUresult cuGetErrorName(CUresult e, const char **s) { return *s = e ? "CUDA_ERROR_FAKE" : "CUDA_SUCCESS", 0; }
CUresult cuGetErrorString(CUresult e, const char **s) { return *s = e ? "a fake failure" : "no error", 0; }
CUresult cuDeviceGetCount(int *n) { return *n = 1, 0; }
CUresult cuDeviceGet(int *d, int ordinal) { return ordinal == 0 ? (*d = 0, 0) : 101; }

CUresult cuDeviceGetName(char *name, int len, int d)
{
    snprintf(name, (size_t)len, "Fake GPU %d", d);
    return 0;
}

CUresult cuDeviceGetAttribute(int *v, int attr, int d)
{
    (void)d;
    switch (attr) {
    case 5: case 6: case 7: *v = state.max_grid[attr - 5]; return 0;
    case 16: *v = state.sm_count ? state.sm_count : 132; return 0;
    case 75: *v = 9; return 0;
    case 76: *v = 0; return 0;
    case 97: *v = state.smem_optin ? state.smem_optin : 232448; return 0;
    }
    return 1;
}

CUresult cuDevicePrimaryCtxRetain(void **c, int d)
{
    (void)d;
    state.primary_retained++;
    *c = &primary_ctx;
    return 0;
}

CUresult cuDevicePrimaryCtxRelease_v2(int d) { return (void)d, state.primary_retained--, 0; }
CUresult cuCtxPushCurrent_v2(void *c) { return c == &primary_ctx ? (state.ctx_depth++, 0) : 201; }
CUresult cuCtxPopCurrent_v2(void **c) { return *c = &primary_ctx, state.ctx_depth--, 0; }

/* A "cubin": this prefix and the PTX it was linked from. */
static const char CUBIN[] = "FAKECUBIN\n";

typedef struct fake_link {
    char *ptx, *cubin;
} fake_link;

CUresult cuLinkCreate_v2(unsigned n, int *options, void **values, void **s)
{
    (void)n, (void)options, (void)values;
    if (state.ctx_depth <= 0) return 201;
    *s = calloc(1, sizeof(fake_link));
    return 0;
}

CUresult cuLinkAddData_v2(void *s, int type, void *data, size_t size, const char *name, unsigned n,
                          int *options, void **values)
{
    (void)name, (void)n, (void)options, (void)values;
    fake_link *l = s;
    if (type != 1 || l->ptx || strstr(data, "PTXAS_ERROR")) return 218;
    l->ptx = strndup(data, size);
    return 0;
}

CUresult cuLinkComplete(void *s, void **cubin, size_t *size)
{
    fake_link *l = s;
    if (!l->ptx) return 1;
    size_t n = strlen(CUBIN) + strlen(l->ptx) + 1;
    l->cubin = malloc(n);
    snprintf(l->cubin, n, "%s%s", CUBIN, l->ptx);
    *cubin = l->cubin;
    *size = n;
    state.links++;
    return 0;
}

CUresult cuLinkDestroy(void *s)
{
    fake_link *l = s;
    free(l->ptx);
    free(l->cubin);
    free(l);
    return 0;
}

/* options: 3/4 info log buffer/size, 5/6 error log buffer/size. */
CUresult cuModuleLoadDataEx(void **m, const void *image, unsigned n, int *options, void **values)
{
    if (state.ctx_depth <= 0) return 201; /* no current context */
    if (strncmp(image, CUBIN, strlen(CUBIN)) == 0) {
        if (state.reject_cubin) return 209; /* CUDA_ERROR_NO_BINARY_FOR_GPU */
        image = (const char *)image + strlen(CUBIN);
        state.cubin_loads++;
    }
    if (strstr(image, "PTXAS_ERROR")) {
        for (unsigned i = 0; i < n; i++)
            if (options[i] == 5) snprintf(values[i], 64, "fake ptxas error: line 1");
        return 218;
    }
    fake_module *mod = calloc(1, sizeof *mod);
    mod->ptx = strdup(image);
    state.modules_loaded++;
    *m = mod;
    return 0;
}

CUresult cuModuleUnload(void *m)
{
    fake_module *mod = m;
    free(mod->ptx);
    free(mod);
    state.modules_unloaded++;
    return 0;
}

CUresult cuModuleGetFunction(void **f, void *m, const char *name)
{
    fake_module *mod = m;
    char pattern[160];
    snprintf(pattern, sizeof pattern, ".entry %s", name);
    if (!strstr(mod->ptx, pattern)) return 500;
    fake_function *fn = &mod->fn;
    fn->module = mod;
    snprintf(fn->name, sizeof fn->name, "%s", name);
    *f = fn;
    return 0;
}

CUresult cuFuncSetAttribute(void *f, int attr, int value)
{
    (void)f;
    if (attr != 8 || value > 232448) return 1;
    state.max_dynamic_smem = value;
    return 0;
}

CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned smem, void *stream, void **params, void **extra)
{
    fake_function *fn = f;
    if (state.ctx_depth <= 0 || extra) return 201;
    state.launches++;
    state.last.grid[0] = gx, state.last.grid[1] = gy, state.last.grid[2] = gz;
    state.last.block[0] = bx, state.last.block[1] = by, state.last.block[2] = bz;
    state.last.smem = smem;
    state.last.stream = stream;
    state.last.ptx = fn->module->ptx;
    state.last.entry = fn->name;
    const char *np = strstr(fn->module->ptx, "nparams ");
    state.last.nparams = np ? atoi(np + 8) : 0;
    for (int i = 0; i < state.last.nparams && i < FAKE_MAX_PARAMS; i++)
        memcpy(&state.last.params[i], params[i], 8);
    return 0;
}

CUresult cuStreamSynchronize(void *s)
{
    (void)s;
    CUresult r = state.sync_error;
    state.sync_error = 0;
    return r;
}

CUresult cuMemAlloc_v2(unsigned long long *p, size_t bytes)
{
    void *mem = aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!mem) return 2;
    state.allocations++;
    *p = (unsigned long long)(uintptr_t)mem;
    return 0;
}

CUresult cuMemFree_v2(unsigned long long p)
{
    free((void *)(uintptr_t)p);
    state.allocations--;
    return 0;
}

CUresult cuMemcpyHtoD_v2(unsigned long long dst, const void *src, size_t n)
{
    memcpy((void *)(uintptr_t)dst, src, n);
    return 0;
}

CUresult cuMemcpyDtoH_v2(void *dst, unsigned long long src, size_t n)
{
    memcpy(dst, (const void *)(uintptr_t)src, n);
    return 0;
}

CUresult cuMemsetD32_v2(unsigned long long dst, unsigned v, size_t n)
{
    for (size_t i = 0; i < n; i++) ((unsigned *)(uintptr_t)dst)[i] = v;
    return 0;
}

/* Events hold the host's time when recorded; elapsed times come from
 * state.elapsed_ms in turn when the test set some. */
typedef struct fake_event {
    double recorded_ms;
    int recorded;
} fake_event;

CUresult cuEventCreate(void **e, unsigned flags)
{
    (void)flags;
    if (state.ctx_depth <= 0) return 201;
    fake_event *ev = calloc(1, sizeof *ev);
    if (!ev) return 2;
    state.events++;
    *e = ev;
    return 0;
}

CUresult cuEventRecord(void *e, void *stream)
{
    (void)stream;
    fake_event *ev = e;
    if (state.ctx_depth <= 0 || !ev) return 201;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ev->recorded_ms = (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
    ev->recorded = 1;
    state.event_records++;
    return 0;
}

CUresult cuEventSynchronize(void *e) { return e && ((fake_event *)e)->recorded ? 0 : 400; }

CUresult cuEventElapsedTime(float *ms, void *start, void *end)
{
    fake_event *a = start, *b = end;
    if (!a || !b || !a->recorded || !b->recorded) return 600;   /* CUDA_ERROR_NOT_READY */
    if (state.nelapsed > 0)
        *ms = state.elapsed_ms[state.elapsed_next++ % state.nelapsed];
    else
        *ms = (float)(b->recorded_ms - a->recorded_ms);
    return 0;
}

CUresult cuEventDestroy_v2(void *e)
{
    free(e);
    state.events--;
    return 0;
}
