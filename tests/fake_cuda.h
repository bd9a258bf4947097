/* fake_cuda.h - what tests/fake_cuda.c (a stand-in libcuda for tests on
 * machines without a GPU) records and lets a test control.  The test
 * dlopens the same library the runtime loads (TILE_CUDA_DRIVER) and reads
 * fake_cuda_state(). */
#ifndef TILE_FAKE_CUDA_H
#define TILE_FAKE_CUDA_H

#include <stddef.h>
#include <stdint.h>

enum { FAKE_MAX_PARAMS = 128 };

typedef struct fake_cuda_state {
    /* set by the test */
    int max_grid[3];            /* device attributes read at tile_open */
    int sync_error;             /* cuStreamSynchronize's next result */
    int sm_count, smem_optin;   /* device attributes (0: 132 and 232448, an H100/H200) */
    int reject_cubin;           /* cuModuleLoadDataEx refuses cubins (a driver that cannot
                                   run them) */
    /* cuEventElapsedTime's answers in turn (milliseconds; none: host time) */
    float elapsed_ms[16];
    int nelapsed, elapsed_next;
    /* recorded */
    int ctx_depth;              /* pushes minus pops: 0 between calls */
    int primary_retained;       /* retains minus releases */
    int modules_loaded, modules_unloaded;
    int allocations;            /* outstanding cuMemAlloc blocks */
    int max_dynamic_smem;       /* last cuFuncSetAttribute value */
    int launches;
    int links;                  /* cuLinkComplete calls that made a "cubin" */
    int cubin_loads;            /* modules loaded from such a cubin */
    int events;                 /* outstanding cuEventCreate handles */
    int event_records;          /* cuEventRecord calls */
    struct {
        unsigned grid[3], block[3], smem;
        void *stream;
        const char *ptx;        /* the PTX of the launched function's module */
        const char *entry;
        int nparams;            /* from "nparams N" in the PTX */
        uint64_t params[FAKE_MAX_PARAMS]; /* 8 bytes read through each pointer */
    } last;
} fake_cuda_state;

fake_cuda_state *fake_cuda_state_get(void);

#endif
