/* rt_internal.h - what the runtime's modules share (not installed).
 *
 *   rt_api.c     contexts, memory, compiling, the thread-local last error
 *   rt_launch.c  argument checks, specialisation facts, variants, launching
 *   rt_cache.c   keys and the disk cache
 *   rt_driver.c  the CUDA Driver API through dlopen
 *   rt_tune.c    measured tuning (tile_tune) and its records on disk
 *
 * Locking: one mutex per context guards its variant list and the driver
 * work done for it (module loads, status buffers); kernels are immutable
 * after tile_compile except their link to variants, also under the mutex. */
#ifndef TILE_RT_INTERNAL_H
#define TILE_RT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "compiler/pipeline.h"
#include "rt_cache.h"
#include "rt_driver.h"
#include "tile.h"

/* One compiled, loaded variant: the kernel under one set of facts. */
typedef struct rt_variant {
    uint8_t key[RT_KEY_SIZE];
    rt_entry entry;
    CUmodule module;
    CUfunction fn;
    CUdeviceptr status;        /* 8 x int32, zero unless an assert failed */
    bool pending;              /* launched since the last tile_sync of its stream */
    void *stream;              /* the stream of the last launch */
    struct rt_variant *next;
} rt_variant;

struct tile_context {
    bool interpret;
    const rt_driver *drv;      /* GPU mode */
    rt_device dev;
    char arch[16];
    ir_target target;          /* arch's description refined from the device (GPU mode): */
    bool have_target;          /*   what the scheduler plans for */
    char *cache_dir;           /* NULL: no disk cache */
    char *lib_dir;             /* NULL: none found */
    int num_warps;
    bool no_specialise;
    pthread_mutex_t lock;
    rt_variant *variants;      /* the memory cache, by key */
};

struct tile_kernel {
    tile_context *ctx;
    arena mem;                 /* the copies below */
    tc_options opts;           /* kernel, defines, include dirs (+ lib_dir) */
    const char *path, *text;   /* text: NULL = read path */
    tc_unit *unit;             /* the optimised tile IR: checks, grid, interpreter */
    const ir_func *fn;
    /* Its divisibility candidates (tc_div_candidates): bit j of a launch's
     * facts.divisible says whether candidate j holds for its arguments. */
    tc_div_candidate div[TC_MAX_DIV_CANDIDATES];
    int ndiv;
    /* Variants this kernel used, by facts (under ctx->lock): a launch finds
     * its variant without hashing the sources again. */
    struct { tc_arg_facts facts; rt_variant *variant; } used[8];
    int nused;
    /* A schedule fixed by tile_tune or a tuning record (rt_tune.c): the
     * `auto` values sit in opts.auto_values, warps and stages here, and
     * `schedule` (its text) enters the cache key.  forced false: the
     * scheduler's own choice. */
    bool forced, tuned;
    int num_warps, num_stages;
    char schedule[96];
};

/* rt_tune.c: the schedule record of k's disk cache.  rt_plan_load compiles
 * k->unit with the recorded schedule (no search) and says whether it did;
 * a missing, corrupt or stale record is no error, just false.
 * rt_plan_store records k's schedule (the scheduler's, or tuned). */
bool rt_plan_load(tile_kernel *k);
void rt_plan_store(const tile_kernel *k, const char *schedule, bool tuned);

/* Sets the calling thread's last error; returns st. */
tile_status rt_error(tile_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same from rendered diagnostics. */
tile_status rt_error_diags(tile_status st, const diag_ctx *d);
void rt_clear_error(void);

/* rt_launch.c: the facts of fully aligned, unit-stride arguments. */
tc_arg_facts rt_best_facts(const ir_func *fn);
/* Finds or compiles and loads the variant of k for facts (ctx locked). */
tile_status rt_variant_get(tile_kernel *k, tc_arg_facts facts, rt_variant **out);
void rt_variant_free(tile_context *ctx, rt_variant *v);

/* Checks args against fn's signature (see tile_launch) and evaluates the
 * grid; max_grid NULL skips the device-limit check.  Problems go to d.
 * On success iargs (fn->nparams entries) holds the converted arguments. */
tile_status rt_check_args(const ir_func *fn, const tile_arg *args, int nargs,
                          const int max_grid[3], diag_ctx *d, interp_arg *iargs,
                          int64_t grid[3]);
/* Bit j: candidate j of k->div holds for args (its dim's size, from the
 * first tensor with that dim, is a multiple of its divisor). */
uint64_t rt_div_facts(const tile_kernel *k, const tile_arg *args);
/* The facts args give (all zero when ctx->no_specialise). */
tc_arg_facts rt_arg_facts(const ir_func *fn, const tile_arg *args);

/* The kernel's parameters as docs/abi.md lays them out, one 8-byte slot
 * per PTX parameter (value in the low bytes), the hidden status pointer
 * last; slot needs rt_marshal_count(fn) entries.  Returns the count. */
int rt_marshal(const ir_func *fn, const tile_arg *args, uint64_t status, uint64_t *slot);
int rt_marshal_count(const ir_func *fn);

#endif
