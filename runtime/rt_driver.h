/* rt_driver.h - the CUDA Driver API, loaded at run time.
 *
 * Nothing links against libcuda: rt_driver_get() dlopens libcuda.so.1 once
 * per process and looks up every entry point by its versioned name
 * (cuMemAlloc_v2, ...).  The types are our own: CUDA 13's cuda.h #defines
 * some names to new signatures (cuCtxCreate -> cuCtxCreate_v4), so
 * including it would silently call the wrong ABI (shared/design/GPU.md). */
#ifndef TILE_RT_DRIVER_H
#define TILE_RT_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "support/tile_status.h"

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUlinkState_st *CUlinkState;
typedef struct CUevent_st *CUevent;

enum {
    RT_CUDA_SUCCESS = 0,
    RT_CUDA_ERROR_NO_DEVICE = 100,
    RT_CUDA_ERROR_STUB_LIBRARY = 34,
    RT_CU_JIT_INFO_LOG_BUFFER = 3,
    RT_CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
    RT_CU_JIT_ERROR_LOG_BUFFER = 5,
    RT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
    RT_CU_JIT_LOG_VERBOSE = 12,
    RT_CU_JIT_INPUT_PTX = 1,
    RT_CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X = 5,
    RT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    RT_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
    RT_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
};

/* X(name, versioned symbol, parameter list) */
#define RT_DRIVER_FUNCS(X)                                                                    \
    X(cuInit, "cuInit", (unsigned flags))                                                     \
    X(cuDriverGetVersion, "cuDriverGetVersion", (int *version))                               \
    X(cuGetErrorName, "cuGetErrorName", (CUresult e, const char **s))                         \
    X(cuGetErrorString, "cuGetErrorString", (CUresult e, const char **s))                     \
    X(cuDeviceGetCount, "cuDeviceGetCount", (int *n))                                         \
    X(cuDeviceGet, "cuDeviceGet", (CUdevice *d, int ordinal))                                 \
    X(cuDeviceGetName, "cuDeviceGetName", (char *name, int len, CUdevice d))                  \
    X(cuDeviceGetAttribute, "cuDeviceGetAttribute", (int *v, int attr, CUdevice d))           \
    X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", (CUcontext *c, CUdevice d))       \
    X(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", (CUdevice d))                \
    X(cuCtxPushCurrent, "cuCtxPushCurrent_v2", (CUcontext c))                                 \
    X(cuCtxPopCurrent, "cuCtxPopCurrent_v2", (CUcontext *c))                                  \
    X(cuModuleLoadDataEx, "cuModuleLoadDataEx",                                               \
      (CUmodule *m, const void *image, unsigned n, int *options, void **values))              \
    X(cuModuleUnload, "cuModuleUnload", (CUmodule m))                                         \
    X(cuLinkCreate, "cuLinkCreate_v2", (unsigned n, int *options, void **values, CUlinkState *s)) \
    X(cuLinkAddData, "cuLinkAddData_v2",                                                      \
      (CUlinkState s, int type, void *data, size_t size, const char *name, unsigned n,        \
       int *options, void **values))                                                          \
    X(cuLinkComplete, "cuLinkComplete", (CUlinkState s, void **cubin, size_t *size))          \
    X(cuLinkDestroy, "cuLinkDestroy", (CUlinkState s))                                        \
    X(cuModuleGetFunction, "cuModuleGetFunction", (CUfunction *f, CUmodule m, const char *n)) \
    X(cuFuncSetAttribute, "cuFuncSetAttribute", (CUfunction f, int attr, int value))          \
    X(cuLaunchKernel, "cuLaunchKernel",                                                       \
      (CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,         \
       unsigned bz, unsigned smem, CUstream s, void **params, void **extra))                  \
    X(cuStreamSynchronize, "cuStreamSynchronize", (CUstream s))                               \
    X(cuMemAlloc, "cuMemAlloc_v2", (CUdeviceptr *p, size_t bytes))                            \
    X(cuMemFree, "cuMemFree_v2", (CUdeviceptr p))                                             \
    X(cuMemcpyHtoD, "cuMemcpyHtoD_v2", (CUdeviceptr dst, const void *src, size_t bytes))      \
    X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", (void *dst, CUdeviceptr src, size_t bytes))            \
    X(cuMemsetD32, "cuMemsetD32_v2", (CUdeviceptr dst, unsigned value, size_t n))            \
    X(cuEventCreate, "cuEventCreate", (CUevent *e, unsigned flags))                           \
    X(cuEventRecord, "cuEventRecord", (CUevent e, CUstream s))                                \
    X(cuEventSynchronize, "cuEventSynchronize", (CUevent e))                                  \
    X(cuEventElapsedTime, "cuEventElapsedTime", (float *ms, CUevent start, CUevent end))      \
    X(cuEventDestroy, "cuEventDestroy_v2", (CUevent e))

typedef struct rt_driver {
    void *lib;
#define RT_DRIVER_FIELD(name, sym, params) CUresult (*name) params;
    RT_DRIVER_FUNCS(RT_DRIVER_FIELD)
#undef RT_DRIVER_FIELD
} rt_driver;

/* Loads the driver from `libname` and calls cuInit(0).  On failure returns
 * TILE_ERR_NO_DEVICE with the reason in why (no library, a missing entry
 * point, the toolkit's stub library, no device).  rt_driver_get() is this
 * once per process for "libcuda.so.1"; tests call it with other names. */
tile_status rt_driver_load(rt_driver *drv, const char *libname, char *why, size_t size);
void rt_driver_unload(rt_driver *drv);

/* The process's driver, loaded and cuInit'ed on first use.  NULL when there
 * is none; then *why says why in one sentence (static storage). */
const rt_driver *rt_driver_get(tile_status *st, const char **why);

/* "CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered)"
 * into buf. */
const char *rt_cuda_error(const rt_driver *drv, CUresult r, char *buf, size_t size);

/* What a context needs to know of its device. */
typedef struct rt_device {
    CUdevice dev;
    CUcontext ctx;             /* the retained primary context */
    char name[128];
    char arch[16];             /* "sm_90" */
    int sm_count, smem_optin;
    int max_grid[3];
} rt_device;

/* Retains device `ordinal`'s primary context and reads its attributes.
 * On failure returns a status and writes the reason into err. */
tile_status rt_device_open(const rt_driver *drv, int ordinal, rt_device *out, char *err,
                           size_t errsize);
void rt_device_close(const rt_driver *drv, rt_device *d);

/* Loads PTX or a cubin and finds `entry` (the current context must be the
 * device's).  On failure err holds the driver's error and the ptxas log. */
tile_status rt_module_load(const rt_driver *drv, const char *ptx, const char *entry,
                           int smem_bytes, CUmodule *mod, CUfunction *fn, char *err,
                           size_t errsize);

/* Compiles PTX to the device's machine code (cuLink*: the work a PTX
 * module load does, kept so that a load from the disk cache skips it even
 * when the driver's own JIT cache is cold).  *cubin is malloc'd.  False
 * when the driver cannot (the PTX load then reports why). */
bool rt_module_link(const rt_driver *drv, const char *ptx, size_t ptx_size, uint8_t **cubin,
                    size_t *cubin_size);

#endif
