/* rt_internal.h - what the runtime's modules share (not installed).
 *
 *   rt_api.c     contexts, memory, compiling, the thread-local last error
 *   rt_launch.c  argument checks, specialisation facts, variants, launching
 *   rt_cache.c   keys and the disk cache
 *   rt_driver.c  the CUDA Driver API through dlopen
 *   rt_tune.c    measured tuning (tile_tune) and its records on disk
 *   rt_record.c  kernel records: a warm tile_compile without the compiler
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
    tc_unit *unit;             /* the optimised tile IR: interpreter mode, tile_tune; in GPU
                                  mode NULL once the first variant is compiled, or from a
                                  kernel record (nothing compiled) */
    /* What k->fn is in GPU mode: the kernel's signature and grid, read from
     * its kernel record (rt_record.c; body reduced to `return`), whether
     * the record was just built (a cold compile) or read (a warm one). */
    const ir_func *fn;
    src_file *files;           /* the sources the compilation read, in k->mem */
    char sched_text[96];       /* the scheduler's choice (tc_schedule_text) */
    bool warm;                 /* from a kernel record: nothing was compiled */
    /* A fresh unit the first variant's code generation consumes (it would
     * otherwise compile the same sources again). */
    tc_unit *spare;
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
/* Fixes k's schedule to `schedule` (the text a record holds) without
 * compiling; false when it does not parse. */
bool rt_plan_force(tile_kernel *k, const char *schedule);
/* The schedule record's line ("" when there is none): kernel records hold
 * the line they were built under, so a new or changed schedule record
 * (tile_tune in another process) makes them stale. */
void rt_plan_line(const tile_kernel *k, char *line, size_t size);
/* A key from what is known before compiling: the top file's path and text,
 * the kernel, constants, include dirs, options, arch and target; tag
 * separates the records keyed so ("plan", "kernel").  False when the top
 * file cannot be read. */
bool rt_source_key(const tile_kernel *k, const char *tag, uint8_t key[RT_KEY_SIZE]);

/* rt_record.c: kernel records (DIR/<source key>.tkr).  rt_record_build
 * serialises what launching k needs from its compiled unit u;
 * rt_record_apply makes a record k's signature, sources and schedule
 * (false, k untouched, when it is malformed or a source it lists changed);
 * rt_record_load finds, checks and applies k's record from the disk cache;
 * rt_record_store writes one (a failed write is no error). */
bool rt_record_build(const tile_kernel *k, const tc_unit *u, rt_wbuf *out);
bool rt_record_apply(tile_kernel *k, const uint8_t *payload, size_t len);
bool rt_record_load(tile_kernel *k);
void rt_record_store(const tile_kernel *k, const uint8_t *payload, size_t len);
/* Builds k's record from k->unit and stores it (after tile_tune). */
void rt_record_save(const tile_kernel *k);

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
