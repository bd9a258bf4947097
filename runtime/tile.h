/* tile.h - the tile runtime: JIT-compile a .tile kernel and launch it.
 *
 * A host program opens a context, compiles a kernel (from a file or a source
 * string, with compile-time constants in the `tilec -D` forms), and launches
 * it with an array of arguments on a stream:
 *
 *     tile_context *ctx;   tile_kernel *k;
 *     tile_open(&ctx, NULL);                        // GPU, or TILE_INTERPRET=1
 *     tile_compile_file(ctx, "scale_rows.tile", "scale_rows", "BR=16", &k);
 *     tile_arg args[] = {tile_tensor(TILE_F32, x, 2, shape, NULL),
 *                        tile_tensor(TILE_F32, y, 2, shape, NULL),
 *                        tile_scalar_float(TILE_F32, 2.0)};
 *     tile_launch(k, args, 3, NULL);                // NULL: the default stream
 *     tile_sync(ctx, NULL);                         // reports failed asserts
 *     tile_kernel_free(k);  tile_close(ctx);
 *
 * Two modes behind one API:
 *   GPU        CUDA Driver API through dlopen("libcuda.so.1", or the library
 *              $TILE_CUDA_DRIVER names) on the device's primary context (so
 *              it shares memory with the CUDA runtime and PyTorch); tensor
 *              data are device pointers.
 *   interpret  the CPU interpreter (the reference semantics); tensor data are
 *              host pointers.  Chosen by TILE_INTERPRET=1 in the environment
 *              or tile_config.mode; works without any GPU or driver.
 * tile_alloc/tile_free/tile_upload/tile_download move memory in either mode,
 * so a host program written against them runs unchanged in both.
 *
 * Every call returns a tile_status; on failure tile_last_error() (per thread)
 * holds the explanation: for a bad .tile file the same located diagnostics as
 * tilec (`file:line:col: error: ...`, source line, caret); for bad launch
 * arguments the parameter's location and what is wrong.  The library never
 * exits, aborts or writes to stdout.  All calls are thread safe; a context's
 * caches are shared by its threads.
 *
 * Compiled code is cached in memory (per context) and on disk
 * ($TILE_CACHE_DIR, default ~/.cache/tile), keyed by a SHA-256 of every
 * source file the compilation read, the constants, the target, the
 * specialisation facts of the arguments and the compiler version.  The
 * schedule chosen for `auto` constants (or measured by tile_tune) is kept
 * there too, so a warm tile_compile skips the scheduler's search. */
#ifndef TILE_H
#define TILE_H

#include <stddef.h>
#include <stdint.h>

/* The status codes of every layer (TILE_OK, TILE_ERR_*) and
 * tile_status_name(): support/tile_status.h, the one definition. */
#include "tile_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types (the same order as the compiler's ir_dtype). */
typedef enum tile_dtype {
    TILE_BOOL,  /* one byte, 0 or 1 */
    TILE_I32,
    TILE_I64,
    TILE_F16,   /* raw IEEE binary16 bits */
    TILE_BF16,  /* raw bfloat16 bits */
    TILE_F32,
} tile_dtype;

#define TILE_MAX_RANK 6

/* The explanation of the calling thread's last failed call ("" if none). */
const char *tile_last_error(void);

/* ---- contexts -------------------------------------------------------------- */
typedef enum tile_mode {
    TILE_MODE_AUTO = 0,   /* interpret if TILE_INTERPRET=1, else GPU */
    TILE_MODE_GPU,
    TILE_MODE_INTERPRET,
} tile_mode;

typedef struct tile_config {    /* zero-initialise, then set what you need */
    tile_mode mode;
    int device;                 /* CUDA device ordinal (GPU mode) */
    const char *cache_dir;      /* NULL: $TILE_CACHE_DIR, else ~/.cache/tile;
                                   "": no disk cache */
    const char *arch;           /* NULL: the device's ("sm_90"); a PTX target */
    const char *lib_dir;        /* the library root searched after the
                                   include dirs (`import "attention/..."`);
                                   NULL: $TILE_LIB, else lib/ beside the
                                   build, else the source tree's lib/ */
    int num_warps;              /* 0: the compiler's choice; 4 or 8: `auto`
                                   constants are chosen for those warps */
    int no_specialise;          /* 1: always compile the general variant */
} tile_config;

typedef struct tile_context tile_context;

/* Opens a context (cfg NULL: defaults).  GPU mode without a driver or
 * device returns TILE_ERR_NO_DEVICE and says why. */
tile_status tile_open(tile_context **out, const tile_config *cfg);
/* Frees every kernel's device code; kernels must be freed before. */
void tile_close(tile_context *ctx);

typedef struct tile_device_info {
    int interpreted;            /* 1: the CPU interpreter */
    char name[128];             /* "NVIDIA H200", or "CPU interpreter" */
    char arch[16];              /* "sm_90" (GPU mode) */
    int sm_count;
    int smem_per_block_optin;   /* bytes */
    int max_grid[3];
} tile_device_info;

tile_status tile_device(const tile_context *ctx, tile_device_info *out);

/* The split count S of split-KV decoding (decode_gqa and decode_merge in
 * lib/attention/decode.tile; token_select.tile's ts_decode_gqa): for
 * `programs` programs per split (batch x key/value heads) over `blocks` key
 * blocks (the pages of the longest sequence, or steps of a token list),
 * chosen from the shape and the SM count of ctx's device (sm_90's
 * description when interpreting) by the rule in docs/scheduling.md
 * ("Split-KV decoding").  Allocate the partials [Z, H, S, D] and [Z, H, S]
 * with it; the kernels take S from their shape.  S >= 1 always. */
tile_status tile_split_count(const tile_context *ctx, int64_t programs, int64_t blocks,
                             int64_t *splits);

/* ---- memory (device memory in GPU mode, host memory when interpreting) ----- */
tile_status tile_alloc(tile_context *ctx, size_t bytes, void **out);
tile_status tile_free(tile_context *ctx, void *ptr);
tile_status tile_upload(tile_context *ctx, void *dst, const void *src_host, size_t bytes);
tile_status tile_download(tile_context *ctx, void *dst_host, const void *src, size_t bytes);

/* ---- kernels ------------------------------------------------------------------ */
typedef struct tile_source {
    const char *path;           /* the file, or the name diagnostics use for text */
    const char *text;           /* NULL: read path */
    const char *kernel;         /* the kernel (or specialisation) to compile */
    const char *const *defines; /* "NAME=VALUE", as tilec -D */
    int ndefines;
    const char *const *include_dirs;
    int ninclude;
} tile_source;

typedef struct tile_kernel tile_kernel;

/* Compiles (or finds in the caches) the kernel.  In GPU mode the variant for
 * 16-byte aligned, unit-stride arguments is compiled and loaded now; other
 * variants when a launch needs them.  A kernel whose record is in the disk
 * cache is not compiled at all (runtime/README.md); TILE_TIMING=1 prints
 * where the time went to stderr. */
tile_status tile_compile(tile_context *ctx, const tile_source *src, tile_kernel **out);
/* The same for a file, with the constants as one comma-separated list
 * ("D=64,T=bf16,mask=causal"; commas inside parentheses are kept; NULL for
 * none). */
tile_status tile_compile_file(tile_context *ctx, const char *path, const char *kernel,
                              const char *defines, tile_kernel **out);
void tile_kernel_free(tile_kernel *k);

typedef struct tile_param_info {
    const char *name;
    int is_tensor;
    int is_out;                 /* a tensor the kernel writes */
    tile_dtype dtype;
    int rank;                   /* tensors */
} tile_param_info;

int tile_kernel_nparams(const tile_kernel *k);
tile_status tile_kernel_param(const tile_kernel *k, int i, tile_param_info *out);

/* The PTX of k's general variant (no assumption on the arguments' alignment
 * or strides) for `arch` ("sm_80", "sm_90"; NULL: the context's device, or
 * sm_90 without one).  Needs no GPU: code generation runs on the host, so an
 * interpreter-mode context can inspect what the GPU would run.  *ptx is a
 * NUL-terminated copy the caller frees with free(). */
tile_status tile_kernel_ptx(tile_kernel *k, const char *arch, char **ptx);

/* ---- arguments ------------------------------------------------------------------ */
typedef enum tile_arg_kind { TILE_ARG_NONE = 0, TILE_ARG_TENSOR, TILE_ARG_SCALAR } tile_arg_kind;

typedef struct tile_arg {       /* one per kernel parameter, in order */
    tile_arg_kind kind;
    tile_dtype dtype;
    int rank;                                  /* tensors */
    void *data;                                /* tensors: element [0, ..., 0] */
    int64_t shape[TILE_MAX_RANK];
    int64_t strides[TILE_MAX_RANK];            /* in elements, any sign */
    union { int64_t i; double f; } value;      /* scalars: .i for bool and
                                                  integers, .f for floats */
} tile_arg;

/* A tensor argument; strides NULL = contiguous row-major. */
tile_arg tile_tensor(tile_dtype dtype, void *data, int rank, const int64_t *shape,
                     const int64_t *strides);
tile_arg tile_scalar_int(tile_dtype dtype, int64_t v);   /* bool, i32, i64 */
tile_arg tile_scalar_float(tile_dtype dtype, double v);  /* f32, f16, bf16 */

/* ---- launching ------------------------------------------------------------------ */
/* Checks every argument against the kernel's signature before anything runs
 * (count, kinds, dtypes, ranks, static and same-named dimensions, NULL data,
 * outputs overlapping another argument's memory, scalar ranges, the grid
 * against the device's limits), evaluates the kernel's grid(...) clause,
 * picks the variant specialised for the arguments and launches it on
 * `stream` (a CUstream; NULL = the default stream).  GPU launches are
 * asynchronous; interpreted ones run to completion before returning (and
 * report a failed assert themselves). */
tile_status tile_launch(tile_kernel *k, const tile_arg *args, int nargs, void *stream);
/* Waits for `stream`, then reports the first failed assert of the launches
 * of ctx on that stream since its last tile_sync as TILE_ERR_RUNTIME:
 *   FILE:LINE:COL: runtime error: assertion failed: MESSAGE (program x, y, z)
 * (A kernel launched on several streams is checked at the sync of the last
 * one it was launched on.)  Also reports a kernel that faulted. */
tile_status tile_sync(tile_context *ctx, void *stream);
/* The grid the kernel's grid(...) clause gives for these arguments. */
tile_status tile_grid(tile_kernel *k, const tile_arg *args, int nargs, int64_t grid[3]);

/* ---- measured tuning (optional) ------------------------------------------------ */
/* The scheduler chooses `auto` constants, warps and stages from its cost
 * model; tile_tune checks that choice by timing the model's best candidates
 * on the device with these arguments (GPU mode only; outputs are
 * overwritten).  The fastest becomes k's schedule for later launches, and
 * is stored in the disk cache beside the compiled code, so a later
 * tile_compile of the same source, kernel, constants and device uses it.
 * Not to be called while another thread launches k. */
#define TILE_TUNE_MAX 16
typedef struct tile_tune_options {   /* zero-initialise */
    int top;                    /* candidates timed, best predicted first (0: 8) */
    int warmup, iters;          /* launches per candidate, untimed and timed (0: 2 and 10) */
    /* Called with one line per candidate as it finishes (NULL: silent). */
    void (*progress)(void *user, const char *line);
    void *user;
} tile_tune_options;

typedef struct tile_tune_candidate {
    char schedule[96];          /* "BM=128,BN=64 w4 s2" */
    double predicted_us;        /* the cost model's time */
    double measured_us;         /* median per launch (CUDA events); < 0 when it failed */
    int model_choice;           /* 1: what the model chose */
    int model_rejected;         /* 1: over the model's register limit (timed to check it) */
} tile_tune_candidate;

typedef struct tile_tune_result {
    int n;
    tile_tune_candidate cand[TILE_TUNE_MAX];
    int best;                   /* index of the fastest */
    int model;                  /* index of the model's choice */
    double model_over_best;     /* measured time of the model's choice / the best's */
} tile_tune_result;

tile_status tile_tune(tile_kernel *k, const tile_arg *args, int nargs, void *stream,
                      const tile_tune_options *opts, tile_tune_result *out);
/* The schedule k uses now ("BM=128,BN=64 w4 s2"; "" without `auto`
 * constants) and whether it came from tuning. */
tile_status tile_kernel_schedule(const tile_kernel *k, char *buf, size_t size, int *tuned);

#ifdef __cplusplus
}
#endif
#endif
