/* rt_driver.c - the CUDA Driver API through dlopen (see rt_driver.h): the
 * loader, the primary context of a device and its attributes, and PTX
 * module loading with the driver's ptxas log on failure. */
#include "rt_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rt_cuda_error(const rt_driver *drv, CUresult r, char *buf, size_t size)
{
    const char *name = NULL, *text = NULL;
    if (drv && drv->cuGetErrorName) drv->cuGetErrorName(r, &name);
    if (drv && drv->cuGetErrorString) drv->cuGetErrorString(r, &text);
    if (name && text) snprintf(buf, size, "%s (%s)", name, text);
    else snprintf(buf, size, "CUDA error %d", r);
    return buf;
}

tile_status rt_driver_load(rt_driver *drv, const char *libname, char *why, size_t size)
{
    memset(drv, 0, sizeof *drv);
    drv->lib = dlopen(libname, RTLD_NOW | RTLD_LOCAL);
    if (!drv->lib) {
        snprintf(why, size, "no CUDA driver: cannot load %s (%s)", libname, dlerror());
        return TILE_ERR_NO_DEVICE;
    }
#define RT_DRIVER_LOOKUP(name, sym, params)                                                   \
    *(void **)&drv->name = dlsym(drv->lib, sym);                                              \
    if (!drv->name) {                                                                         \
        snprintf(why, size, "no usable CUDA driver: %s lacks %s", libname, sym);              \
        rt_driver_unload(drv);                                                                \
        return TILE_ERR_NO_DEVICE;                                                            \
    }
    RT_DRIVER_FUNCS(RT_DRIVER_LOOKUP)
#undef RT_DRIVER_LOOKUP
    CUresult r = drv->cuInit(0);
    if (r != RT_CUDA_SUCCESS) {
        char e[256];
        if (r == RT_CUDA_ERROR_STUB_LIBRARY)
            snprintf(why, size, "no CUDA driver: %s is the toolkit's stub library", libname);
        else if (r == RT_CUDA_ERROR_NO_DEVICE)
            snprintf(why, size, "no CUDA device: cuInit: %s", rt_cuda_error(drv, r, e, sizeof e));
        else
            snprintf(why, size, "CUDA driver unusable: cuInit: %s",
                     rt_cuda_error(drv, r, e, sizeof e));
        rt_driver_unload(drv);
        return TILE_ERR_NO_DEVICE;
    }
    return TILE_OK;
}

void rt_driver_unload(rt_driver *drv)
{
    if (drv->lib) dlclose(drv->lib);
    memset(drv, 0, sizeof *drv);
}

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;
static rt_driver driver;
static tile_status driver_status;
static char driver_why[512];

/* $TILE_CUDA_DRIVER names another driver library (a driver outside the
 * loader's path; tests/fake_cuda.c in the tests). */
static void load_driver_once(void)
{
    const char *lib = getenv("TILE_CUDA_DRIVER");
    driver_status = rt_driver_load(&driver, lib && *lib ? lib : "libcuda.so.1", driver_why,
                                   sizeof driver_why);
}

const rt_driver *rt_driver_get(tile_status *st, const char **why)
{
    pthread_once(&driver_once, load_driver_once);
    *st = driver_status;
    *why = driver_why;
    return driver_status == TILE_OK ? &driver : NULL;
}

static tile_status device_attributes(const rt_driver *drv, rt_device *d, char *err, size_t size)
{
    int major = 0, minor = 0;
    struct { int attr; int *out; } attrs[] = {
        {RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &major},
        {RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &minor},
        {RT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &d->sm_count},
        {RT_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, &d->smem_optin},
        {RT_CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, &d->max_grid[0]},
        {RT_CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X + 1, &d->max_grid[1]},
        {RT_CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X + 2, &d->max_grid[2]},
    };
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        CUresult r = drv->cuDeviceGetAttribute(attrs[i].out, attrs[i].attr, d->dev);
        if (r != RT_CUDA_SUCCESS) {
            char e[256];
            snprintf(err, size, "cuDeviceGetAttribute(%d): %s", attrs[i].attr,
                     rt_cuda_error(drv, r, e, sizeof e));
            return TILE_ERR_NO_DEVICE;
        }
    }
    /* LLVM 19's NVPTX knows targets up to sm_90: newer devices run sm_90
     * PTX (the driver JIT-compiles it forward). */
    int cc = major * 10 + minor;
    if (cc > 90) cc = 90;
    snprintf(d->arch, sizeof d->arch, "sm_%d", cc);
    if (drv->cuDeviceGetName(d->name, (int)sizeof d->name, d->dev) != RT_CUDA_SUCCESS)
        snprintf(d->name, sizeof d->name, "CUDA device");
    return TILE_OK;
}

tile_status rt_device_open(const rt_driver *drv, int ordinal, rt_device *out, char *err,
                           size_t errsize)
{
    memset(out, 0, sizeof *out);
    int count = 0;
    char e[256];
    CUresult r = drv->cuDeviceGetCount(&count);
    if (r != RT_CUDA_SUCCESS || count == 0) {
        snprintf(err, errsize, "no CUDA device (%s)",
                 r != RT_CUDA_SUCCESS ? rt_cuda_error(drv, r, e, sizeof e) : "count is 0");
        return TILE_ERR_NO_DEVICE;
    }
    if (ordinal < 0 || ordinal >= count) {
        snprintf(err, errsize, "no CUDA device %d (there %s %d)", ordinal,
                 count == 1 ? "is" : "are", count);
        return TILE_ERR_NO_DEVICE;
    }
    if ((r = drv->cuDeviceGet(&out->dev, ordinal)) != RT_CUDA_SUCCESS ||
        (r = drv->cuDevicePrimaryCtxRetain(&out->ctx, out->dev)) != RT_CUDA_SUCCESS) {
        snprintf(err, errsize, "cannot open CUDA device %d: %s", ordinal,
                 rt_cuda_error(drv, r, e, sizeof e));
        out->ctx = NULL;
        return TILE_ERR_NO_DEVICE;
    }
    tile_status st = device_attributes(drv, out, err, errsize);
    if (st != TILE_OK) rt_device_close(drv, out);
    return st;
}

void rt_device_close(const rt_driver *drv, rt_device *d)
{
    if (d->ctx) drv->cuDevicePrimaryCtxRelease(d->dev);
    d->ctx = NULL;
}

tile_status rt_module_load(const rt_driver *drv, const char *ptx, const char *entry,
                           int smem_bytes, CUmodule *mod, CUfunction *fn, char *err,
                           size_t errsize)
{
    enum { LOG = 16384 };
    static _Thread_local char error_log[LOG], info_log[LOG];
    error_log[0] = info_log[0] = 0;
    int options[] = {RT_CU_JIT_ERROR_LOG_BUFFER, RT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                     RT_CU_JIT_INFO_LOG_BUFFER, RT_CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                     RT_CU_JIT_LOG_VERBOSE};
    void *values[] = {error_log, (void *)(uintptr_t)LOG, info_log, (void *)(uintptr_t)LOG,
                      (void *)(uintptr_t)1};
    char e[256];
    *mod = NULL;
    *fn = NULL;
    CUresult r = drv->cuModuleLoadDataEx(mod, ptx, 5, options, values);
    if (r != RT_CUDA_SUCCESS) {
        snprintf(err, errsize, "cannot load the kernel's PTX: %s\nptxas: %s%s%s",
                 rt_cuda_error(drv, r, e, sizeof e), error_log, info_log[0] ? "\n" : "",
                 info_log);
        *mod = NULL;
        return TILE_ERR_INTERNAL;
    }
    if ((r = drv->cuModuleGetFunction(fn, *mod, entry)) != RT_CUDA_SUCCESS) {
        snprintf(err, errsize, "PTX has no entry '%s': %s", entry,
                 rt_cuda_error(drv, r, e, sizeof e));
    } else if (smem_bytes > 48 * 1024 &&
               (r = drv->cuFuncSetAttribute(*fn, RT_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                            smem_bytes)) != RT_CUDA_SUCCESS) {
        snprintf(err, errsize, "kernel '%s' needs %d bytes of shared memory: %s", entry,
                 smem_bytes, rt_cuda_error(drv, r, e, sizeof e));
    } else {
        return TILE_OK;
    }
    drv->cuModuleUnload(*mod);
    *mod = NULL;
    *fn = NULL;
    return TILE_ERR_INTERNAL;
}

bool rt_module_link(const rt_driver *drv, const char *ptx, size_t ptx_size, uint8_t **cubin,
                    size_t *cubin_size)
{
    *cubin = NULL;
    *cubin_size = 0;
    CUlinkState link = NULL;
    void *image = NULL;
    size_t size = 0;
    bool ok = drv->cuLinkCreate(0, NULL, NULL, &link) == RT_CUDA_SUCCESS &&
              drv->cuLinkAddData(link, RT_CU_JIT_INPUT_PTX, (void *)ptx, ptx_size + 1, "kernel.ptx",
                                 0, NULL, NULL) == RT_CUDA_SUCCESS &&
              drv->cuLinkComplete(link, &image, &size) == RT_CUDA_SUCCESS && image && size;
    if (ok && (*cubin = malloc(size))) {   /* the image lives as long as the link state */
        memcpy(*cubin, image, size);
        *cubin_size = size;
    }
    if (link) drv->cuLinkDestroy(link);
    return *cubin != NULL;
}
