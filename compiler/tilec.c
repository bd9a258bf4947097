/* tilec.c - the command-line driver.
 *
 *   tilec check FILE [options]             parse + type-check every kernel
 *   tilec FILE --emit=ast|ir [options]     print the syntax tree or tile IR
 *   tilec FILE -k K --emit=sched|llvm|ptx  scheduled IR, LLVM IR or PTX (GPU)
 *   tilec FILE -k K --ptxas                assemble the PTX, report resources
 *   tilec run FILE -k KERNEL --interp ...  run a kernel on the CPU interpreter
 *   tilec doc [-o OUT] FILE...             the library reference (docs/library.md)
 *   tilec opt FILE.ir --passes=LIST        run IR passes on IR text (cmd_opt)
 *
 * Everything is compiled through tc_compile (compiler/pipeline.c); this file
 * only parses arguments, moves .npy data in and out, and reports.  Exit
 * status: 0 success, 1 an error in the user's program or data, 2 bad usage. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/wait.h>

#include "support/fp16.h"
#include "support/timing.h"
#include "npy.h"
#include "pipeline.h"
#include "sched_choose.h"
#include "sched_layout.h"
#include "sched_mask.h"
#include "sched_pipeline.h"
#include "runtime/tile.h"

static const char usage[] =
    "usage: tilec check FILE [-D NAME=VALUE]... [-I DIR]...\n"
    "       tilec FILE --emit=ast|ir [-k KERNEL] [-D NAME=VALUE]... [-I DIR]... [-O0|-O1]\n"
    "             [--verify-each] [--dump-passes] [-o OUT]\n"
    "       tilec FILE -k KERNEL --emit=sched|llvm|ptx [--arch sm_80|sm_90] [--warps N]\n"
    "             [-D NAME=VALUE]... [-I DIR]... [-o OUT]\n"
    "       tilec FILE -k KERNEL --ptxas [--arch sm_80|sm_90] [--warps N] [-D ...]\n"
    "       tilec FILE -k KERNEL --explain[=json] [--arch sm_80|sm_90] [--warps N] [-D ...]\n"
    "       tilec run FILE -k KERNEL --interp [--in NAME=FILE.npy]... [--random SEED]\n"
    "             [-D NAME=VALUE]... [-I DIR]... [--out-dir DIR] [--save-inputs DIR]\n"
    "             [--check-bounds[=all]] [--max-memory BYTES] [--max-ops N]\n"
    "       tilec FILE -k KERNEL --explain-blocks[=M,N] [-D NAME=VALUE]... [-I DIR]...\n"
    "       tilec tune FILE -k KERNEL --random SEED [--in NAME=FILE.npy]... [-D NAME=VALUE]...\n"
    "             [--top N] [--iters N]\n"
    "       tilec doc [-o OUT] FILE.tile... [TEST.c]...\n"
    "       tilec opt FILE.ir [--passes=LIST] [--verify-each] [--arch A] [--warps N]\n"
    "                 [--stages S] [-o OUT]\n"
    "       tilec splits PROGRAMS PAGES [--arch sm_80|sm_90]\n"
    "       tilec --help | --version\n"
    "\n"
    "Commands:\n"
    "  check FILE          parse and type-check every kernel of FILE (a constant\n"
    "                      without a value takes the value of a '// tilec: -D ...'\n"
    "                      line of FILE, or a representative one), print one line\n"
    "                      per kernel checked, print errors as\n"
    "                      FILE:LINE:COL: error: ... and exit 1 if there are any\n"
    "  FILE --emit=KIND    print KIND for FILE: 'ast' (the syntax tree, no imports\n"
    "                      followed), 'ir' (optimised tile IR of the kernels), and\n"
    "                      for one kernel (-k) on the GPU: 'sched' (scheduled IR:\n"
    "                      layouts on every tile), 'llvm' (optimised LLVM IR) or\n"
    "                      'ptx' (the PTX module; launch contract in docs/abi.md)\n"
    "  FILE --ptxas        compile kernel -k to PTX and assemble it with ptxas -v\n"
    "                      ($TILE_PTXAS, default /usr/local/cuda/bin/ptxas); print\n"
    "                      registers, shared memory, stack and spills; exit 1 if\n"
    "                      ptxas fails, 3 if it is not installed\n"
    "  FILE --explain      the scheduler's table for kernel -k: every candidate\n"
    "                      (auto constants, warps, stages) with its shared memory,\n"
    "                      registers, HBM bytes, FLOPs, arithmetic intensity,\n"
    "                      predicted time and bound, and verdict; then the passes\n"
    "                      over HBM per tensor and the blocks its mask's derived\n"
    "                      ranges skip (as --explain-blocks, at the chosen BM, BN).\n"
    "                      Dimensions given with -D (M=4096) are the shape it\n"
    "                      plans for.  --explain=json: the same as JSON\n"
    "                      (docs/scheduling.md)\n"
    "  run FILE            run kernel -k on the CPU interpreter (--interp)\n"
    "  tune FILE           on the GPU, time the scheduler's best candidates for kernel\n"
    "                      -k (the model's choice first, then up to --top N in all,\n"
    "                      default 8; --iters launches each, default 10) on inputs\n"
    "                      made as for run (-D sizes and scalars, --random, --in);\n"
    "                      print each with its predicted and measured time, and\n"
    "                      store the fastest in the disk cache for tile_compile\n"
    "  splits P N          the split count of split-KV decoding (decode_gqa) for P\n"
    "                      programs per split (batch x KV heads) over N pages, with\n"
    "                      the table it is chosen from (tile_split_count's rule,\n"
    "                      docs/scheduling.md)\n"
    "  doc FILE...         write the Markdown reference of library files (with the\n"
    "                      'Tested (NAME.tile):' statements of TEST.c files)\n"
    "  FILE --explain-blocks[=M,N]  for kernel -k, the key blocks its mask's derived\n"
    "                      bounds visit (full: no mask arithmetic; partial) and\n"
    "                      skip, for M query rows and N keys (default 4096,4096)\n"
    "  opt FILE.ir         read tile IR text (as --emit=ir or --emit=sched prints it;\n"
    "                      '-' is stdin), run the passes of --passes=LIST in order\n"
    "                      and print the result; passes: " IR_PASS_NAMES ",\n"
    "                      " TC_SCHED_PASS_NAMES " (on --arch, --warps, --stages, else\n"
    "                      the module's attributes)\n"
    "\n"
    "Options:\n"
    "  -k, --kernel NAME   the kernel (or 'kernel x = y(...)' specialisation) to use;\n"
    "                      --emit=ir without -k prints every fully bound kernel\n"
    "  -D NAME=VALUE       bind a compile-time constant of the kernel or override a\n"
    "                      top-level const; VALUE is a tile expression (128, true,\n"
    "                      bf16, causal, sliding_window(W: 64, S: 4)).  With 'run'\n"
    "                      it also gives runtime scalars (-D scale=0.125) and\n"
    "                      dimension sizes (-D M=100); a name given twice, or\n"
    "                      that names nothing, is an error\n"
    "  -I DIR              search DIR for imports (after the importing file's\n"
    "                      folder, before the library root " TILE_LIB_DIR ")\n"
    "  -O0, -O1            optimisation level: -O0 inlines only, -O1 (default) runs\n"
    "                      canonicalize, fold, CSE and DCE\n"
    "  --verify-each       run the IR verifier after every pass\n"
    "  --dump-passes       print the IR after every pass (to stderr)\n"
    "  -o OUT              write --emit output to OUT instead of stdout\n"
    "  --time              print where compile time went, by phase, to stderr\n"
    "                      (TILE_TIMING=1 does the same, in the runtime too)\n"
    "  --arch ARCH         GPU target: sm_80 or sm_90 (default sm_90)\n"
    "  --warps N           warps per block (a power of two up to 32; default: the\n"
    "                      scheduler's choice, --explain says which and why)\n"
    "  --stages N          software pipeline slots of tensor-core operand loads (1: none;\n"
    "                      default: the scheduler's choice)\n"
    "  --aligned           compile as the runtime does for tensors whose rows are 16-byte\n"
    "                      aligned with a unit last stride (its usual variant): vector\n"
    "                      accesses without a run-time check or scalar fallback\n"
    "  --interp            run on the CPU interpreter (the reference semantics)\n"
    "  --in NAME=FILE      read input tensor NAME from a .npy file (converted to the\n"
    "                      parameter's dtype, rounding to nearest even; '<u2' data\n"
    "                      for a bf16 parameter is refused: save bf16 as '<V2' or '<f4')\n"
    "  --random SEED       fill float input tensors not given with --in with uniform\n"
    "                      values in [-1, 1) from SEED (shapes from -D and --in)\n"
    "  --out-dir DIR       write each output tensor NAME to DIR/NAME.npy (default .);\n"
    "                      bf16 outputs are written as f32 (exact)\n"
    "  --save-inputs DIR   also write every input tensor (given or --random) to\n"
    "                      DIR/NAME.npy, as the kernel saw it (bf16 as f32)\n"
    "  --check-bounds[=all] stop at the first load/store element whose mask is absent\n"
    "                      or true but whose index is outside the tensor, with its\n"
    "                      .tile location and program id; by default only along\n"
    "                      dimensions indexed by a scalar (the head in q[z, h, rows, :]),\n"
    "                      =all along every dimension (ragged block edges included)\n"
    "  --max-memory BYTES  the interpreter's budget for the tiles of one launch and\n"
    "                      for the tensors tilec allocates (suffix K, M, G; default 4G)\n"
    "  --max-ops N         stop a launch after N executed ops (default 2147483648)\n"
    "  -h, --help          this text\n"
    "  --version           print the version\n";

/* Which commands an option means something for; -D and -I mean something
 * for all.  An option given to a command it does not apply to is an error. */
enum { FOR_CHECK = 1, FOR_EMIT = 2, FOR_RUN = 4, FOR_TUNE = 8 };

typedef struct cli {
    const char *cmd;          /* "check", "emit", "run" */
    const char *file, *kernel, *emit, *out, *out_dir; /* out_dir NULL: "." */
    const char *save_inputs;  /* --save-inputs DIR, or NULL */
    interp_bounds_check check_bounds;
    uint64_t max_bytes, max_ops; /* 0: the interpreter's defaults */
    const char *arch;         /* --arch, NULL: sm_90 */
    int warps;                /* --warps, 0: default */
    int stages;               /* --stages, 0: default */
    bool aligned;             /* --aligned: the runtime's facts for aligned arguments */
    int top, iters;           /* tune: --top, --iters (0: the runtime's defaults) */
    bool ptxas;
    const char *explain;      /* --explain: "text" or "json", else NULL */
    const char *explain_blocks; /* --explain-blocks[=M,N]: "M,N" */
    ptr_vec defines, includes, inputs;
    bool interp, have_seed, verify_each, dump_passes;
    uint64_t seed;
    int opt_level;
    struct {
        const char *name;
        unsigned cmds;
    } used[16];               /* distinct options given, with where they apply */
    int nused;
} cli;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tilec: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(run 'tilec --help' for usage)\n");
    va_end(ap);
    return 2;
}

static void note_option(cli *c, const char *name, unsigned cmds)
{
    for (int i = 0; i < c->nused; i++)
        if (strcmp(c->used[i].name, name) == 0) return;
    if (c->nused < (int)(sizeof c->used / sizeof c->used[0])) {
        c->used[c->nused].name = name;
        c->used[c->nused++].cmds = cmds;
    }
}

/* Digits as a .tile integer literal spells them (decimal, or 0x hex: "010"
 * is ten), at most max; false for anything else. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s) return false;
    uint64_t v = 0;
    for (; *s; s++) {
        unsigned d = *s >= '0' && *s <= '9' ? (unsigned)(*s - '0')
                     : *s >= 'a' && *s <= 'f' ? (unsigned)(*s - 'a' + 10)
                     : *s >= 'A' && *s <= 'F' ? (unsigned)(*s - 'A' + 10) : 16;
        if (d >= base || v > (max - d) / base) return false;
        v = v * base + d;
    }
    *out = v;
    return true;
}

/* An int64 with an optional leading '-'. */
static bool parse_int(const char *s, int64_t *out)
{
    uint64_t v;
    if (*s != '-') {
        if (!parse_uint(s, INT64_MAX, &v)) return false;
        *out = (int64_t)v;
    } else {
        if (!parse_uint(s + 1, (uint64_t)INT64_MAX + 1, &v)) return false;
        *out = v ? -(int64_t)(v - 1) - 1 : 0;
    }
    return true;
}

/* A positive budget; with_suffix allows K, M, G (powers of 1024). */
static bool parse_budget(const char *s, bool with_suffix, uint64_t *out)
{
    size_t n = strlen(s);
    unsigned shift = 0;
    char digits[32];
    if (with_suffix && n > 1 && strchr("KkMmGg", s[n - 1])) {
        char u = (char)(s[n - 1] | 0x20);
        shift = u == 'k' ? 10 : u == 'm' ? 20 : 30;
        n--;
    }
    if (n == 0 || n >= sizeof digits) return false;
    memcpy(digits, s, n);
    digits[n] = 0;
    uint64_t v;
    if (!parse_uint(digits, UINT64_MAX >> shift, &v) || v == 0) return false;
    *out = v << shift;
    return true;
}

/* Returns 0 on success, else the exit status to use. */
static int parse_args(arena *mem, int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof *c);
    c->opt_level = 1;
    int i = 1;
    if (i < argc && (strcmp(argv[i], "check") == 0 || strcmp(argv[i], "run") == 0 ||
                     strcmp(argv[i], "tune") == 0))
        c->cmd = argv[i++];
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                   \
    do {                                                               \
        if (!val) return usage_error("option %s needs a value", a);    \
        i++;                                                           \
    } while (0)
#define ONCE(field)                                                    \
    do {                                                               \
        if (c->field) return usage_error("option %s given twice", a);  \
        c->field = val;                                                \
    } while (0)
        if (strcmp(a, "-k") == 0 || strcmp(a, "--kernel") == 0) {
            NEED_VALUE();
            ONCE(kernel);
            note_option(c, a, FOR_EMIT | FOR_RUN | FOR_TUNE);
        }
        else if (strcmp(a, "-D") == 0) { NEED_VALUE(); ptr_vec_push(mem, &c->defines, (void *)val); }
        else if (strncmp(a, "-D", 2) == 0) ptr_vec_push(mem, &c->defines, (void *)(a + 2));
        else if (strcmp(a, "-I") == 0) { NEED_VALUE(); ptr_vec_push(mem, &c->includes, (void *)val); }
        else if (strncmp(a, "-I", 2) == 0) ptr_vec_push(mem, &c->includes, (void *)(a + 2));
        else if (strcmp(a, "-o") == 0) { NEED_VALUE(); ONCE(out); note_option(c, a, FOR_EMIT); }
        else if (strcmp(a, "--in") == 0) {
            NEED_VALUE();
            ptr_vec_push(mem, &c->inputs, (void *)val);
            note_option(c, a, FOR_RUN | FOR_TUNE);
        }
        else if (strcmp(a, "--out-dir") == 0) { NEED_VALUE(); ONCE(out_dir); note_option(c, a, FOR_RUN); }
        else if (strcmp(a, "--random") == 0) {
            NEED_VALUE();
            if (c->have_seed) return usage_error("option %s given twice", a);
            if (!parse_uint(val, UINT64_MAX, &c->seed))
                return usage_error("--random needs an integer seed, got '%s'", val);
            c->have_seed = true;
            note_option(c, a, FOR_RUN | FOR_TUNE);
        }
        else if (strncmp(a, "--emit=", 7) == 0) {
            if (c->emit) return usage_error("%s", "--emit given twice");
            c->emit = a + 7;
        }
        else if (strcmp(a, "--interp") == 0) { c->interp = true; note_option(c, a, FOR_RUN); }
        else if (strcmp(a, "--time") == 0) tt_enable(true);
        else if (strcmp(a, "--save-inputs") == 0) {
            NEED_VALUE();
            if (c->save_inputs) return usage_error("option %s given twice", a);
            c->save_inputs = val;
            note_option(c, a, FOR_RUN);
        }
        else if (strcmp(a, "--check-bounds") == 0 || strcmp(a, "--check-bounds=all") == 0) {
            c->check_bounds = a[14] ? INTERP_BOUNDS_ALL : INTERP_BOUNDS_SCALAR;
            note_option(c, "--check-bounds", FOR_RUN);
        }
        else if (strcmp(a, "--max-memory") == 0 || strcmp(a, "--max-ops") == 0) {
            NEED_VALUE();
            bool bytes = a[6] == 'm';
            if (!parse_budget(val, bytes, bytes ? &c->max_bytes : &c->max_ops))
                return usage_error("%s needs a positive integer%s, got '%s'", a,
                                   bytes ? " (suffix K, M or G allowed)" : "", val);
            note_option(c, a, FOR_RUN | (bytes ? FOR_TUNE : 0));
        }
        else if (strcmp(a, "--arch") == 0) { NEED_VALUE(); ONCE(arch); note_option(c, a, FOR_EMIT); }
        else if (strcmp(a, "--warps") == 0) {
            NEED_VALUE();
            uint64_t w;
            if (!parse_uint(val, 32, &w) || w == 0)
                return usage_error("--warps needs a number from 1 to 32, got '%s'", val);
            c->warps = (int)w;
            note_option(c, a, FOR_EMIT);
        }
        else if (strcmp(a, "--stages") == 0) {
            NEED_VALUE();
            uint64_t w;
            if (!parse_uint(val, 8, &w) || w == 0)
                return usage_error("--stages needs a number from 1 to 8, got '%s'", val);
            c->stages = (int)w;
            note_option(c, a, FOR_EMIT);
        }
        else if (strcmp(a, "--ptxas") == 0) { c->ptxas = true; note_option(c, a, FOR_EMIT); }
        else if (strcmp(a, "--aligned") == 0) { c->aligned = true; note_option(c, a, FOR_EMIT); }
        else if (strcmp(a, "--top") == 0 || strcmp(a, "--iters") == 0) {
            NEED_VALUE();
            uint64_t n;
            if (!parse_uint(val, a[2] == 't' ? TILE_TUNE_MAX : 100000, &n) || n == 0)
                return usage_error("%s needs a number from 1 to %d, got '%s'", a,
                                   a[2] == 't' ? TILE_TUNE_MAX : 100000, val);
            *(a[2] == 't' ? &c->top : &c->iters) = (int)n;
            note_option(c, a, FOR_TUNE);
        }
        else if (strcmp(a, "--explain") == 0 || strcmp(a, "--explain=json") == 0 ||
                 strcmp(a, "--explain=text") == 0) {
            c->explain = a[9] ? a + 10 : "text";
            note_option(c, "--explain", FOR_EMIT);
        }
        else if (strcmp(a, "-O0") == 0 || strcmp(a, "-O1") == 0) {
            c->opt_level = a[2] - '0';
            note_option(c, a, FOR_EMIT | FOR_RUN);
        }
        else if (strcmp(a, "--verify-each") == 0) {
            c->verify_each = true;
            note_option(c, a, FOR_EMIT | FOR_RUN);
        }
        else if (strcmp(a, "--dump-passes") == 0) {
            c->dump_passes = true;
            note_option(c, a, FOR_EMIT | FOR_RUN);
        }
        else if (strncmp(a, "--explain-blocks", 16) == 0 && (a[16] == 0 || a[16] == '=')) {
            c->explain_blocks = a[16] ? a + 17 : "4096,4096";
        }
        else if (a[0] == '-' && a[1]) return usage_error("unknown option '%s'", a);
        else if (!c->file) c->file = a;
        else return usage_error("unexpected argument '%s' (one FILE at a time)", a);
#undef ONCE
#undef NEED_VALUE
    }
    if (!c->file) return usage_error("%s", "no input FILE");
    if (c->explain_blocks) {    /* the plan at any M, N (--explain: at the shape and tiles it schedules) */
        if (c->cmd || c->emit || c->ptxas || c->interp || c->out || c->arch || c->warps)
            return usage_error("%s", "--explain-blocks cannot be combined with a command, --emit, --ptxas or their options");
        if (!c->kernel) return usage_error("%s", "--explain-blocks needs -k KERNEL");
        c->cmd = "explain-blocks";
        return 0;
    }
    if (!c->cmd) {
        if (c->ptxas && c->emit) return usage_error("%s", "--ptxas cannot be combined with --emit");
        if (c->explain && (c->emit || c->ptxas))
            return usage_error("%s", "--explain cannot be combined with --emit or --ptxas");
        if (c->explain && !c->kernel) return usage_error("%s", "--explain needs -k KERNEL");
        if (c->ptxas || c->explain) c->emit = "ptx";
        if (!c->emit)
            return usage_error("%s", "nothing to do: give 'check', 'run', --emit=KIND or --ptxas");
        static const char *const kinds[] = {"ast", "ir", "sched", "llvm", "ptx"};
        bool known = false;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) known |= strcmp(c->emit, kinds[k]) == 0;
        if (!known) return usage_error("unknown --emit kind '%s' (ast, ir, sched, llvm, ptx)", c->emit);
        bool gpu = strcmp(c->emit, "sched") == 0 || strcmp(c->emit, "llvm") == 0 || strcmp(c->emit, "ptx") == 0;
        if (gpu && !c->kernel) return usage_error("--emit=%s needs -k KERNEL", c->emit);
        if (!gpu && (c->arch || c->warps || c->stages))
            return usage_error("%s", "--arch, --warps and --stages apply to --emit=sched|llvm|ptx and --ptxas");
        if (c->arch && strcmp(c->arch, "sm_80") != 0 && strcmp(c->arch, "sm_90") != 0)
            return usage_error("unknown --arch '%s' (sm_80, sm_90)", c->arch);
        if (c->warps & (c->warps - 1)) return usage_error("--warps must be a power of two, got %d", c->warps);
        c->cmd = "emit";
    } else if (c->emit) {
        return usage_error("--emit cannot be combined with '%s'", c->cmd);
    }
    unsigned cmd = strcmp(c->cmd, "check") == 0 ? FOR_CHECK
                   : strcmp(c->cmd, "emit") == 0 ? FOR_EMIT
                   : strcmp(c->cmd, "tune") == 0 ? FOR_TUNE : FOR_RUN;
    for (int u = 0; u < c->nused; u++)
        if (!(c->used[u].cmds & cmd))
            return usage_error("option %s does not apply to '%s'", c->used[u].name,
                               cmd == FOR_EMIT ? "--emit" : c->cmd);
    if (cmd == FOR_TUNE && !c->kernel) return usage_error("%s", "tune needs -k KERNEL");
    if (cmd == FOR_RUN) {
        if (!c->kernel) return usage_error("%s", "run needs -k KERNEL");
        if (!c->interp)
            return usage_error("%s", "run needs --interp (the GPU backend is not built yet)");
    }
    return 0;
}

/* The library next to the binary (<prefix>/lib beside <prefix>/build/tilec or
 * <prefix>/bin/tilec) is searched after -I, so a build copied elsewhere with
 * its source tree still finds `import "attention/..."`; the root compiled in
 * (TILE_LIB_DIR) stays the last resort.  Only a folder that holds the
 * library (lib/attention) counts, and not the compiled-in root itself (a
 * build inside the source tree would search it twice and name it in every
 * "cannot find" message). */
static void add_library_beside_binary(arena *mem, cli *c)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = 0;
    char *lib = arena_printf(mem, "%s/../lib", exe);
    char *marker = lib ? arena_printf(mem, "%s/attention", lib) : NULL;
    struct stat st;
    if (!marker || stat(marker, &st) != 0 || !S_ISDIR(st.st_mode)) return;
    char *real = realpath(lib, NULL), *root = realpath(TILE_LIB_DIR, NULL);
    bool same = real && root && strcmp(real, root) == 0;
    free(real);
    free(root);
    if (!same) ptr_vec_push(mem, &c->includes, lib);
}

static tc_options compile_options(const cli *c)
{
    return (tc_options){
        .kernel = c->kernel,
        .defines = (const char *const *)c->defines.items, .ndefines = c->defines.len,
        .include_dirs = (const char *const *)c->includes.items, .ninclude = c->includes.len,
        .opt_level = c->opt_level, .verify_each = c->verify_each,
        .dump_passes = c->dump_passes ? stderr : NULL,
        .target = c->arch ? ir_target_find(c->arch) : NULL,
        .num_warps = c->warps,
    };
}

static int cmd_check(const cli *c)
{
    tc_options o = compile_options(c);
    tc_unit *u = NULL;
    tile_status st = tc_check(&u, c->file, &o);
    for (int i = 0; u && i < u->checked.len; i++) printf("%s\n", (const char *)u->checked.items[i]);
    fflush(stdout);
    if (u) diag_print_all(&u->diags, stderr);
    if (st == TILE_ERR_NOMEM) fprintf(stderr, "tilec: out of memory\n");
    tc_unit_free(u);
    return st == TILE_OK ? 0 : 1;
}

/* Writes text to path (stdout when NULL); 0 or 1 with a message. */
static int write_text(const char *path, const char *text, size_t len)
{
    FILE *f = path ? fopen(path, "w") : stdout;
    bool ok = f && fwrite(text, 1, len, f) == len;
    if (f && f != stdout) ok &= fclose(f) == 0;
    else if (f) ok &= fflush(f) == 0;
    if (ok) return 0;
    fprintf(stderr, "tilec: cannot write %s: %s\n", path ? path : "to stdout", strerror(errno));
    return 1;
}

static int check_defines_used(arena *mem, const cli *c, const ir_func *k);
static tc_gpu_options gpu_options(const cli *c)
{
    tc_gpu_options g = {.arch = c->arch ? c->arch : "sm_90", .num_warps = c->warps,
                        .num_stages = c->stages};
    if (c->aligned) g.facts = (tc_arg_facts){.aligned16 = ~0ull, .unit_stride = ~0ull};
    return g;
}

/* --emit=sched|llvm|ptx for u->kernel, into out. */
static tile_status emit_gpu(const cli *c, tc_unit *u, FILE *out)
{
    tc_gpu_options g = gpu_options(c);
    tc_gpu_kernel k;
    tile_status st;
    if (strcmp(c->emit, "llvm") == 0) st = tc_compile_gpu_llvm(u, &g, &k);
    else st = tc_compile_gpu(u, &g, &k);
    if (st != TILE_OK) return st;
    if (strcmp(c->emit, "sched") == 0) {
        fprintf(out, "// arch %s, num_warps %d, num_stages %d, smem_bytes %d\n", k.arch, k.num_warps,
                k.num_stages, k.smem_bytes);
        ir_print_module_attrs(out, u->module); /* so `tilec opt` reads it back */
        ir_print_func(out, u->kernel);
    } else {
        if (strcmp(c->emit, "ptx") == 0)
            fprintf(out, "// tile kernel %s: num_warps %d, smem_bytes %d, asserts %d\n", k.entry,
                    k.num_warps, k.smem_bytes, k.nasserts);
        fputs(k.ptx, out);
    }
    return TILE_OK;
}

/* What --explain's block-skipping line needs beyond the plan: the unit
 * (its mask and tile constants) and its file (the mask's definitions). */
static struct {
    const char *file;
    const tc_unit *u;
} explain_ctx;

/* The value of constant `name` in the plan's chosen row, else the kernel's. */
static bool plan_const(const sched_plan *p, const tc_unit *u, const char *name, int64_t *out)
{
    for (int i = 0; p->best >= 0 && i < p->nautos; i++)
        if (strcmp(p->names[i], name) == 0) return *out = p->cand[p->best].values[i], true;
    for (int i = 0; i < u->kernel->nconsts; i++)
        if (strcmp(u->kernel->consts[i].name, name) == 0) {
            char *end;
            long long v = strtoll(u->kernel->consts[i].value, &end, 10);
            return *end == 0 && (*out = v, true);
        }
    return false;
}

/* sched_explain_ranges for --explain: the block plan of the kernel's mask
 * (sched_mask.h) at the plan's M and N and its BM, BN; kernels with no mask
 * constant say so.  1 when something was printed. */
static int explain_ranges(FILE *out, const sched_plan *p, bool json)
{
    const tc_unit *u = explain_ctx.u;
    const char *mask = NULL;
    for (int i = 0; u && u->kernel && i < u->kernel->nconsts; i++)
        if (strcmp(u->kernel->consts[i].name, "mask") == 0) mask = u->kernel->consts[i].value;
    int64_t bm = 0, bn = 0;
    if (!mask || !plan_const(p, u, "BM", &bm) || !plan_const(p, u, "BN", &bn) || bm < 1 ||
        bn < 1 || bm > INT32_MAX || bn > INT32_MAX) {
        if (!json) fprintf(out, " none (kernel '%s' has no mask, BM and BN constants)\n", p->kernel);
        return !json;
    }
    sched_mask_plan mp;
    int64_t M = sched_shape_dim(&p->shape, "M"), N = sched_shape_dim(&p->shape, "N");
    if (sched_mask_plan_compute(explain_ctx.file, mask, M, N, (int)bm, (int)bn, &mp, stderr) != TILE_OK)
        return 0;
    if (json) {
        sched_mask_plan_json(out, &mp);
    } else {
        fputc('\n', out);
        sched_mask_plan_describe(out, &mp);
    }
    return 1;
}

/* --explain[=json]: the scheduler's plan for kernel -k: the one that chose
 * its `auto` constants, or, with every constant explicit, the costs of
 * that fixed schedule for each warps/stages choice. */
static int cmd_explain(const cli *c)
{
    tc_options o = compile_options(c);
    const ir_target *t = o.target ? o.target : ir_target_find("sm_90");
    o.target = t;
    o.sched_exhaustive = true;
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, c->file, NULL, &o);
    if (st == TILE_OK && check_defines_used(&u->mem, c, u->kernel) != 0) st = TILE_ERR_ARG;
    const sched_plan *plan = st == TILE_OK ? tc_unit_plan(u, u->kernel->name) : NULL;
    sched_plan fixed;
    if (st == TILE_OK && !plan) {
        st = sched_cost_fixed(c->file, NULL, &o, c->kernel, t, c->warps, c->stages, &u->mem,
                              &fixed);
        /* mark the row the compiler uses for these constants (pipeline_gpu.c) */
        if (st == TILE_OK)
            sched_fixed_prefer(&fixed, c->warps ? c->warps : sched_choose_num_warps(u->kernel),
                               c->stages ? c->stages : SCHED_DEFAULT_STAGES);
        plan = &fixed;
    }
    if (u) diag_print_all(&u->diags, stderr);
    explain_ctx.file = c->file, explain_ctx.u = u;
    sched_explain_ranges = explain_ranges;
    if (st == TILE_OK && strcmp(c->explain, "json") == 0) sched_explain_json(stdout, plan);
    else if (st == TILE_OK) sched_explain_text(stdout, plan);
    else if (st == TILE_ERR_NOMEM) fprintf(stderr, "tilec: out of memory\n");
    tc_unit_free(u);
    return st == TILE_OK ? 0 : 1;
}

/* --ptxas: the PTX of kernel -k through `ptxas -v`; its report, then one
 * summary line. */
static int cmd_ptxas(const cli *c)
{
    const char *ptxas = getenv("TILE_PTXAS");
    if (!ptxas || !*ptxas) ptxas = "/usr/local/cuda/bin/ptxas";
    if (access(ptxas, X_OK) != 0) {
        fprintf(stderr, "tilec: ptxas not found at %s (set TILE_PTXAS)\n", ptxas);
        return 3;
    }
    tc_options o = compile_options(c);
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, c->file, NULL, &o);
    tc_gpu_options g = gpu_options(c);
    tc_gpu_kernel k = {0};
    if (st == TILE_OK) st = tc_compile_gpu(u, &g, &k);
    if (u) diag_print_all(&u->diags, stderr);
    int rc = st == TILE_OK ? 0 : 1;
    char ptx_path[] = "/tmp/tilec-ptx-XXXXXX";
    int fd = rc == 0 ? mkstemp(ptx_path) : -1;
    if (rc == 0 && (fd < 0 || write(fd, k.ptx, k.ptx_size) != (ssize_t)k.ptx_size)) {
        fprintf(stderr, "tilec: cannot write a temporary PTX file: %s\n", strerror(errno));
        rc = 1;
    }
    if (fd >= 0) close(fd);
    if (rc == 0) {
        /* wgmma kernels are emitted for sm_90a, which ptxas -arch=sm_90 refuses. */
        const char *arch = strstr(k.ptx, ".target sm_90a") ? "sm_90a" : k.arch;
        char *cmd = arena_printf(&u->mem, "'%s' -arch=%s -v '%s' -o /dev/null 2>&1", ptxas, arch, ptx_path);
        FILE *p = cmd ? popen(cmd, "r") : NULL;
        char line[1024];
        long regs = -1, stack = -1, spill_st = -1, spill_ld = -1;
        while (p && fgets(line, sizeof line, p)) {
            fputs(line, stdout);
            const char *s;
            if ((s = strstr(line, "Used "))) sscanf(s, "Used %ld registers", &regs);
            if (strstr(line, "stack frame"))
                sscanf(line, " %ld bytes stack frame, %ld bytes spill stores, %ld bytes spill loads",
                       &stack, &spill_st, &spill_ld);
        }
        int status = p ? pclose(p) : -1;
        if (status != 0) {
            fprintf(stderr, "tilec: ptxas failed on the PTX of '%s' (kept in %s)\n", k.entry, ptx_path);
            rc = 1;
        } else {
            printf("tilec: %s %s: registers %ld, shared memory %d bytes (dynamic), stack %ld "
                   "bytes, spill stores %ld bytes, spill loads %ld bytes, warps %d\n",
                   k.entry, k.arch, regs, k.smem_bytes, stack, spill_st, spill_ld, k.num_warps);
            unlink(ptx_path);
        }
    }
    tc_unit_free(u);
    return rc;
}

/* The text is produced in memory and written (to -o or stdout) only when
 * everything succeeded: a failed run leaves -o alone, and -o may name the
 * input file. */
static int cmd_emit(const cli *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        fprintf(stderr, "tilec: out of memory\n");
        return 1;
    }
    int rc;
    if (strcmp(c->emit, "ast") == 0) {
        arena mem;
        arena_init(&mem);
        diag_ctx d;
        diag_init(&d, &mem);
        tile_status st = fe_dump_ast(&d, c->file, out);
        diag_print_all(&d, stderr);
        arena_free(&mem);
        rc = st == TILE_OK ? 0 : 1;
    } else {
        tc_options o = compile_options(c);
        tc_unit *u = NULL;
        tile_status st = tc_compile(&u, c->file, NULL, &o);
        /* A -D that names nothing in the kernel is refused as by 'run'. */
        if (st == TILE_OK && u->kernel && check_defines_used(&u->mem, c, u->kernel) != 0)
            st = TILE_ERR_ARG;
        if (st == TILE_OK && strcmp(c->emit, "ir") != 0) st = emit_gpu(c, u, out);
        if (u) diag_print_all(&u->diags, stderr);
        if (st == TILE_OK && strcmp(c->emit, "ir") == 0) {
            if (u->kernel) ir_print_func(out, u->kernel);
            else ir_print_module(out, u->module);
        } else if (st == TILE_ERR_NOMEM) {
            fprintf(stderr, "tilec: out of memory\n");
        }
        tc_unit_free(u);
        rc = st == TILE_OK ? 0 : 1;
    }
    if (fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "tilec: out of memory\n");
        rc = 1;
    }
    if (rc == 0) rc = write_text(c->out, text, len);
    free(text);
    return rc;
}

/* --explain-blocks: the block plan the kernel's mask gives (sched_mask.h). */
static int cmd_explain_blocks(const cli *c)
{
    long long M = 0, N = 0;
    char tail = 0;
    if (sscanf(c->explain_blocks, "%lld,%lld%c", &M, &N, &tail) != 2 || M < 1 || N < 1)
        return usage_error("--explain-blocks=M,N needs two positive sizes, got '%s'",
                           c->explain_blocks);
    tc_options o = compile_options(c);
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, c->file, NULL, &o);
    if (u) diag_print_all(&u->diags, stderr);
    const char *mask = NULL;
    int bm = 0, bn = 0;
    for (int i = 0; st == TILE_OK && u->kernel && i < u->kernel->nconsts; i++) {
        const ir_const_binding *b = &u->kernel->consts[i];
        if (strcmp(b->name, "mask") == 0) mask = b->value;
        if (strcmp(b->name, "BM") == 0) bm = atoi(b->value);
        if (strcmp(b->name, "BN") == 0) bn = atoi(b->value);
    }
    int rc = st == TILE_OK ? 0 : 1;
    if (rc == 0 && (!mask || bm < 1 || bn < 1)) {
        fprintf(stderr, "tilec: kernel '%s' has no mask, BM and BN constants to explain\n", c->kernel);
        rc = 1;
    }
    if (rc == 0) {
        sched_mask_plan p;
        st = sched_mask_plan_compute(c->file, mask, M, N, bm, bn, &p, stderr);
        if (st == TILE_OK) sched_mask_plan_describe(stdout, &p);
        rc = st == TILE_OK ? 0 : 1;
    }
    tc_unit_free(u);
    return rc;
}

/* ---- tilec run ---------------------------------------------------------- */

typedef struct dim_binding {
    const char *name;
    int64_t size;
    const char *from; /* what fixed it: "-D", or a tensor name */
} dim_binding;

typedef struct run_state {
    arena *mem;
    const cli *c;
    const ir_func *k;
    interp_arg *args;
    ptr_vec dims;     /* dim_binding* */
    bool *given;      /* per param: value supplied */
    uint64_t tensor_bytes; /* allocated for tensors so far (within max_bytes) */
} run_state;

static dim_binding *find_dim(run_state *r, const char *name)
{
    for (int i = 0; i < r->dims.len; i++) {
        dim_binding *b = r->dims.items[i];
        if (strcmp(b->name, name) == 0) return b;
    }
    return NULL;
}

/* The value of the last -D NAME=..., as in the front end. */
static const char *define_value(const cli *c, const char *name)
{
    size_t n = strlen(name);
    for (int i = c->defines.len - 1; i >= 0; i--) {
        const char *d = c->defines.items[i];
        if (strncmp(d, name, n) == 0 && d[n] == '=') return d + n + 1;
    }
    return NULL;
}

static int param_index(const ir_func *k, const char *name)
{
    for (int i = 0; i < k->nparams; i++)
        if (strcmp(k->params[i].name, name) == 0) return i;
    return -1;
}

static int bind_dim(run_state *r, const char *name, int64_t size, const char *from)
{
    dim_binding *b = find_dim(r, name);
    if (b) {
        if (b->size != size) {
            fprintf(stderr, "tilec: dimension '%s' is %lld from %s but %lld from %s\n", name,
                    (long long)b->size, b->from, (long long)size, from);
            return -1;
        }
        return 0;
    }
    b = arena_alloc(r->mem, sizeof *b);
    if (!b) return -1;
    *b = (dim_binding){name, size, from};
    return ptr_vec_push(r->mem, &r->dims, b);
}

static int read_inputs(run_state *r)
{
    for (int i = 0; i < r->c->inputs.len; i++) {
        const char *spec = r->c->inputs.items[i];
        const char *eq = strchr(spec, '=');
        if (!eq || eq == spec) {
            fprintf(stderr, "tilec: --in needs NAME=FILE.npy, got '%s'\n", spec);
            return -1;
        }
        char *name = arena_strndup(r->mem, spec, (size_t)(eq - spec));
        int p = param_index(r->k, name);
        if (p < 0 || r->k->params[p].type.kind != IR_TY_TENSOR) {
            fprintf(stderr, "tilec: --in %s: kernel '%s' has no tensor parameter '%s'\n",
                    spec, r->k->name, name);
            return -1;
        }
        const ir_param *pa = &r->k->params[p];
        if (r->given[p]) {
            fprintf(stderr, "tilec: --in %s: '%s' is given twice\n", spec, name);
            return -1;
        }
        char err[256];
        if (npy_read(eq + 1, r->mem, pa->type.dtype, &r->args[p].tensor, err, sizeof err) != TILE_OK) {
            fprintf(stderr, "tilec: --in %s: %s\n", spec, err);
            return -1;
        }
        if (r->args[p].tensor.rank != pa->type.rank) {
            fprintf(stderr, "tilec: --in %s: '%s' has %d dimensions but the file has %d\n",
                    spec, name, pa->type.rank, r->args[p].tensor.rank);
            return -1;
        }
        r->given[p] = true;
        for (int d = 0; d < pa->type.rank; d++)
            if (pa->dims[d].name && bind_dim(r, pa->dims[d].name, r->args[p].tensor.shape[d], name))
                return -1;
    }
    return 0;
}

static int bind_dims_from_defines(run_state *r)
{
    for (int p = 0; p < r->k->nparams; p++) {
        const ir_param *pa = &r->k->params[p];
        if (pa->type.kind != IR_TY_TENSOR) continue;
        for (int d = 0; d < pa->type.rank; d++) {
            const char *name = pa->dims[d].name;
            if (pa->dims[d].size > 0) {
                if (name && bind_dim(r, name, pa->dims[d].size, "its constant value")) return -1;
                continue;
            }
            const char *v = name ? define_value(r->c, name) : NULL;
            if (!v) continue;
            uint64_t n;
            if (!parse_uint(v, INT64_MAX, &n)) {
                fprintf(stderr, "tilec: -D %s=%s: a dimension size must be a non-negative integer\n", name, v);
                return -1;
            }
            if (n > INT32_MAX) { /* the launch's limit, checked before anything is allocated */
                fprintf(stderr, "tilec: -D %s=%s: a dimension size must be at most %d\n", name, v,
                        INT32_MAX);
                return -1;
            }
            if (bind_dim(r, name, (int64_t)n, "-D")) return -1;
        }
    }
    return 0;
}

/* splitmix64: a tiny, well-known generator; inputs only need to be
 * reproducible from the seed. */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill_tensor(interp_tensor *t, int64_t n, uint64_t *rng, bool poison)
{
    for (int64_t i = 0; i < n; i++) {
        float f = poison ? NAN : (float)((double)(next_random(rng) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
        switch (t->dtype) {
        case IR_F32: ((float *)t->data)[i] = f; break;
        case IR_BF16: ((uint16_t *)t->data)[i] = fp_f32_to_bf16(f); break;
        case IR_F16: ((uint16_t *)t->data)[i] = fp_f32_to_f16(f); break;
        case IR_I32: ((int32_t *)t->data)[i] = INT32_MIN; break;
        case IR_I64: ((int64_t *)t->data)[i] = INT64_MIN; break;
        case IR_BOOL: ((uint8_t *)t->data)[i] = 0; break;
        case IR_DTYPE_COUNT: break;
        }
    }
}

static int make_tensor(run_state *r, int p, uint64_t *rng)
{
    const ir_param *pa = &r->k->params[p];
    interp_tensor *t = &r->args[p].tensor;
    t->dtype = pa->type.dtype;
    t->rank = pa->type.rank;
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) {
        int64_t size = pa->dims[d].size;
        if (size < 0) {
            dim_binding *b = find_dim(r, pa->dims[d].name);
            if (!b) {
                fprintf(stderr, "tilec: size of dimension '%s' of '%s' is unknown: give -D %s=N "
                                "or an input with --in\n", pa->dims[d].name, pa->name, pa->dims[d].name);
                return -1;
            }
            size = b->size;
        }
        t->shape[d] = size;
        if (size > 0 && n > INT64_MAX / 16 / size) {
            fprintf(stderr, "tilec: tensor '%s' is too large\n", pa->name);
            return -1;
        }
        n *= size;
    }
    interp_contiguous_strides(t);
    uint64_t bytes = (uint64_t)(n > 0 ? n : 1) * (uint64_t)ir_dtype_size(t->dtype);
    uint64_t budget = r->c->max_bytes ? r->c->max_bytes : INTERP_DEFAULT_MAX_BYTES;
    if (bytes > budget - r->tensor_bytes) {
        char shape[128];
        ir_shape_str(t->rank, t->shape, shape, sizeof shape);
        fprintf(stderr, "tilec: tensor '%s' (%s%s) does not fit the memory budget of %llu bytes "
                        "(raise it with --max-memory)\n", pa->name, ir_dtype_name(t->dtype), shape,
                (unsigned long long)budget);
        return -1;
    }
    r->tensor_bytes += bytes;
    t->data = arena_alloc(r->mem, (size_t)bytes);
    if (!t->data) {
        fprintf(stderr, "tilec: out of memory for tensor '%s'\n", pa->name);
        return -1;
    }
    if (!pa->is_out && !ir_dtype_is_float(t->dtype)) {
        fprintf(stderr, "tilec: input '%s' is %s: --random fills only float tensors; give it "
                        "with --in %s=FILE.npy\n", pa->name, ir_dtype_name(t->dtype), pa->name);
        return -1;
    }
    /* Outputs start poisoned (NaN / INT_MIN) so unwritten elements show. */
    fill_tensor(t, n, rng, pa->is_out);
    return 0;
}

static int parse_scalar(const ir_param *pa, const char *v, ir_scalar *out)
{
    char *end;
    if (ir_dtype_is_float(pa->type.dtype)) {
        double x = strtod(v, &end);
        if (*end || end == v) goto bad;
        *out = ir_scalar_round(pa->type.dtype, x);
    } else if (pa->type.dtype == IR_BOOL) {
        if (strcmp(v, "true") == 0) out->i = 1;
        else if (strcmp(v, "false") == 0) out->i = 0;
        else goto bad;
    } else {
        int64_t x;
        if (!parse_int(v, &x)) goto bad;
        if (pa->type.dtype == IR_I32 && (x < INT32_MIN || x > INT32_MAX)) goto bad;
        out->i = x;
    }
    return 0;
bad:
    fprintf(stderr, "tilec: -D %s=%s is not a valid %s\n", pa->name, v, ir_dtype_name(pa->type.dtype));
    return -1;
}

static int setup_params(run_state *r)
{
    uint64_t rng = r->c->seed;
    for (int p = 0; p < r->k->nparams; p++) {
        const ir_param *pa = &r->k->params[p];
        if (r->given[p]) continue;
        if (pa->type.kind == IR_TY_TENSOR) {
            if (!pa->is_out && !r->c->have_seed) {
                fprintf(stderr, "tilec: input tensor '%s' is missing: give --in %s=FILE.npy "
                                "or --random SEED\n", pa->name, pa->name);
                return -1;
            }
            if (make_tensor(r, p, &rng)) return -1;
        } else {
            const char *v = define_value(r->c, pa->name);
            if (!v) {
                fprintf(stderr, "tilec: scalar parameter '%s' (%s) needs a value: -D %s=...\n",
                        pa->name, ir_dtype_name(pa->type.dtype), pa->name);
                return -1;
            }
            if (parse_scalar(pa, v, &r->args[p].scalar)) return -1;
        }
    }
    return 0;
}

/* A -D that names nothing is almost always a typo: refuse it. */
static int check_defines_used(arena *mem, const cli *c, const ir_func *k)
{
    for (int i = 0; i < c->defines.len; i++) {
        const char *d = c->defines.items[i];
        size_t n = strcspn(d, "=");
        bool used = false;
        for (int j = 0; j < k->nconsts && !used; j++)
            used = strlen(k->consts[j].name) == n && strncmp(k->consts[j].name, d, n) == 0;
        for (int p = 0; p < k->nparams && !used; p++) {
            const ir_param *pa = &k->params[p];
            used = strlen(pa->name) == n && strncmp(pa->name, d, n) == 0;
            if (used && pa->type.kind == IR_TY_TENSOR) {
                fprintf(stderr, "tilec: -D %s: '%s' is a tensor: give it with --in %s=FILE.npy\n",
                        pa->name, pa->name, pa->name);
                return -1;
            }
            for (int a = 0; a < pa->type.rank && !used && pa->type.kind == IR_TY_TENSOR; a++)
                used = pa->dims[a].name && strlen(pa->dims[a].name) == n &&
                       strncmp(pa->dims[a].name, d, n) == 0;
        }
        if (!used) {
            char *name = arena_strndup(mem, d, n);
            fe_suggest s;
            fe_suggest_init(&s, name);
            for (int j = 0; j < k->nconsts; j++) fe_suggest_add(&s, k->consts[j].name);
            for (int p = 0; p < k->nparams; p++) {
                const ir_param *pa = &k->params[p];
                fe_suggest_add(&s, pa->name);
                for (int a = 0; pa->type.kind == IR_TY_TENSOR && a < pa->type.rank; a++)
                    fe_suggest_add(&s, pa->dims[a].name);
            }
            fprintf(stderr, "tilec: -D %.*s: kernel '%s' has no constant, scalar parameter or "
                            "dimension named '%.*s'%s\n", (int)n, d, k->name, (int)n, d,
                    name ? fe_did_you_mean(mem, &s) : "");
            return -1;
        }
    }
    return 0;
}

/* mkdir -p: --out-dir out/run1 works on a fresh checkout. */
static int make_dirs(arena *mem, const char *dir)
{
    char *path = arena_strdup(mem, dir);
    if (!path) return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* Writes the output tensors (outputs true) or the input tensors to out_dir. */
static int write_tensors(run_state *r, const char *out_dir, bool outputs)
{
    if (make_dirs(r->mem, out_dir) != 0) {
        fprintf(stderr, "tilec: cannot create %s: %s\n", out_dir, strerror(errno));
        return -1;
    }
    for (int p = 0; p < r->k->nparams; p++) {
        const ir_param *pa = &r->k->params[p];
        if (pa->type.kind != IR_TY_TENSOR || pa->is_out != outputs) continue;
        char *path = arena_printf(r->mem, "%s/%s.npy", out_dir, pa->name);
        char err[256];
        if (!path || npy_write(path, &r->args[p].tensor, err, sizeof err) != TILE_OK) {
            fprintf(stderr, "tilec: writing %s: %s\n", path ? path : pa->name, path ? err : "out of memory");
            return -1;
        }
        char shape[128];
        ir_shape_str(r->args[p].tensor.rank, r->args[p].tensor.shape, shape, sizeof shape);
        printf("%s%s: %s%s -> %s\n", outputs ? "" : "input ", pa->name,
               ir_dtype_name(pa->type.dtype), shape, path);
    }
    return 0;
}

/* What `run` and `tune` share: the kernel compiled with c's options and
 * r filled with its arguments (--in files, -D dimensions and scalars,
 * random tensors).  Returns the unit that owns r's memory (the caller
 * frees it), or NULL after printing why. */
static tc_unit *prepare_inputs(const cli *c, run_state *r)
{
    tc_options o = compile_options(c);
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, c->file, NULL, &o);
    if (st != TILE_OK) {
        if (u) diag_print_all(&u->diags, stderr);
        if (st == TILE_ERR_NOMEM) fprintf(stderr, "tilec: out of memory\n");
        tc_unit_free(u);
        return NULL;
    }
    *r = (run_state){.mem = &u->mem, .c = c, .k = u->kernel};
    r->args = arena_calloc(&u->mem, (size_t)r->k->nparams + 1, sizeof *r->args);
    r->given = arena_calloc(&u->mem, (size_t)r->k->nparams + 1, sizeof *r->given);
    if (!r->args || !r->given) {
        fprintf(stderr, "tilec: out of memory\n");
    } else if (check_defines_used(r->mem, c, r->k) == 0 && read_inputs(r) == 0 &&
               bind_dims_from_defines(r) == 0 && setup_params(r) == 0) {
        return u;
    }
    tc_unit_free(u);
    return NULL;
}

static int cmd_run(const cli *c)
{
    run_state r;
    tc_unit *u = prepare_inputs(c, &r);
    if (!u) return 1;
    int rc = 1;
    /* Inputs are saved before the launch: a kernel may write to them. */
    if (!c->save_inputs || write_tensors(&r, c->save_inputs, false) == 0) {
        interp_options io = {.check_bounds = c->check_bounds, .max_bytes = c->max_bytes,
                             .max_ops = c->max_ops};
        tile_status st = interp_launch(r.k, r.args, r.k->nparams, &u->diags, &io);
        diag_print_all(&u->diags, stderr);
        if (st == TILE_OK) rc = write_tensors(&r, c->out_dir ? c->out_dir : ".", true) == 0 ? 0 : 1;
    }
    tc_unit_free(u);
    return rc;
}

/* ---- tilec tune --------------------------------------------------------- */

static void print_progress(void *user, const char *line)
{
    (void)user;
    printf("  %s\n", line);
    fflush(stdout);
}

/* Device copies of r's arguments (inputs as made for `run`, random or
 * --in), as tile_args. */
static int upload_args(run_state *r, tile_context *ctx, tile_arg *args, void **bufs)
{
    for (int p = 0; p < r->k->nparams; p++) {
        const ir_param *pa = &r->k->params[p];
        if (pa->type.kind != IR_TY_TENSOR) {
            args[p] = ir_dtype_is_float(pa->type.dtype)
                          ? tile_scalar_float((tile_dtype)pa->type.dtype, r->args[p].scalar.f)
                          : tile_scalar_int((tile_dtype)pa->type.dtype, r->args[p].scalar.i);
            continue;
        }
        const interp_tensor *t = &r->args[p].tensor;
        size_t bytes = ir_dtype_size(t->dtype);
        for (int d = 0; d < t->rank; d++) bytes *= (size_t)t->shape[d];
        if (tile_alloc(ctx, bytes ? bytes : 1, &bufs[p]) != TILE_OK ||
            tile_upload(ctx, bufs[p], t->data, bytes) != TILE_OK) {
            fprintf(stderr, "tilec: tensor '%s': %s\n", pa->name, tile_last_error());
            return -1;
        }
        args[p] = tile_tensor((tile_dtype)t->dtype, bufs[p], t->rank, t->shape, NULL);
    }
    return 0;
}

static int tune_on_device(run_state *r, const cli *c)
{
    tile_context *ctx = NULL;
    tile_config cfg = {.mode = TILE_MODE_GPU};
    if (tile_open(&ctx, &cfg) != TILE_OK) {
        fprintf(stderr, "tilec: tune needs a GPU: %s\n", tile_last_error());
        return 1;
    }
    tile_source src = {.path = c->file, .kernel = c->kernel,
                       .defines = (const char *const *)c->defines.items, .ndefines = c->defines.len,
                       .include_dirs = (const char *const *)c->includes.items,
                       .ninclude = c->includes.len};
    tile_kernel *k = NULL;
    int n = r->k->nparams, rc = 1;
    tile_arg *args = arena_calloc(r->mem, (size_t)n + 1, sizeof *args);
    void **bufs = arena_calloc(r->mem, (size_t)n + 1, sizeof *bufs);
    tile_tune_result res;
    tile_tune_options o = {.top = c->top, .iters = c->iters, .progress = print_progress};
    if (!args || !bufs) fprintf(stderr, "tilec: out of memory\n");
    else if (tile_compile(ctx, &src, &k) != TILE_OK) fprintf(stderr, "%s\n", tile_last_error());
    else if (upload_args(r, ctx, args, bufs) == 0) {
        printf("tuning %s on the device: the model's choice first\n", c->kernel);
        if (tile_tune(k, args, n, NULL, &o, &res) != TILE_OK) {
            fprintf(stderr, "tilec: %s\n", tile_last_error());
        } else {
            const tile_tune_candidate *b = &res.cand[res.best], *m = &res.cand[res.model];
            printf("best: %s, %.1f us; the model's choice %s, %.1f us (%.2fx the best)\n",
                   b->schedule, b->measured_us, m->schedule, m->measured_us, res.model_over_best);
            printf("stored in the disk cache: tile_compile of this kernel and these constants "
                   "now uses %s\n", b->schedule);
            rc = 0;
        }
    }
    tile_kernel_free(k);
    for (int p = 0; bufs && p < n; p++)
        if (bufs[p]) tile_free(ctx, bufs[p]);
    tile_close(ctx);
    return rc;
}

static int cmd_tune(const cli *c)
{
    run_state r;
    tc_unit *u = prepare_inputs(c, &r);
    if (!u) return 1;
    int rc = tune_on_device(&r, c);
    tc_unit_free(u);
    return rc;
}

/* tilec doc [-o OUT] FILE...: its own arguments, so the other commands'
 * one-FILE rule stays as it is. */
static int cmd_doc(int argc, char **argv)
{
    const char *out_path = NULL;
    int nfiles = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0) {
            if (++i == argc) return usage_error("%s", "option -o needs a value");
            out_path = argv[i];
        } else if (argv[i][0] == '-') {
            return usage_error("unknown option '%s' for 'doc'", argv[i]);
        } else {
            argv[nfiles++] = argv[i];
        }
    }
    if (!nfiles) return usage_error("%s", "doc needs at least one FILE");
    arena mem;
    arena_init(&mem);
    diag_ctx d;
    diag_init(&d, &mem);
    char *text = NULL;
    size_t len = 0;
    FILE *buf = open_memstream(&text, &len);
    tile_status st = buf ? fe_doc(&d, (const char *const *)argv, nfiles, buf) : TILE_ERR_NOMEM;
    if (buf) fclose(buf);
    diag_print_all(&d, stderr);
    int rc = st == TILE_OK ? 0 : 1;
    if (rc == 0) {
        FILE *out = out_path ? fopen(out_path, "w") : stdout;
        if (!out || fwrite(text, 1, len, out) != len || (out_path && fclose(out) != 0)) {
            fprintf(stderr, "tilec: cannot write %s: %s\n", out_path ? out_path : "stdout",
                    strerror(errno));
            rc = 1;
        }
    }
    free(text);
    arena_free(&mem);
    return rc;
}

/* ---- tilec opt ---------------------------------------------------------- */

/* Reads all of path ("-": stdin) into malloc'd memory; NULL with a message. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tilec: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            char *grown = realloc(text, cap = cap ? 2 * cap : 65536);
            if (!grown) break;
            text = grown;
        }
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool ok = n < cap && !ferror(f);
    if (f != stdin) fclose(f);
    if (!ok) {
        fprintf(stderr, "tilec: cannot read %s\n", path);
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

/* tilec opt FILE.ir [--passes=LIST] [--verify-each] [-o OUT]: the text
 * reader, ir_run_passes, the printer; golden pass tests run through here. */
static int cmd_opt(int argc, char **argv)
{
    const char *file = NULL, *passes = "", *out = NULL;
    tc_opt_options o = {.ir = {.level = 1}};
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--passes=", 9) == 0) passes = argv[i] + 9;
        else if (strcmp(argv[i], "--verify-each") == 0) o.ir.verify_each = true;
        else if (strcmp(argv[i], "--arch") == 0 && i + 1 < argc) o.arch = argv[++i];
        else if (strcmp(argv[i], "--warps") == 0 && i + 1 < argc) o.num_warps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--stages") == 0 && i + 1 < argc) o.num_stages = atoi(argv[++i]);
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1]) return usage_error("opt: unknown option '%s'", argv[i]);
        else if (!file) file = argv[i];
        else return usage_error("opt: unexpected argument '%s' (one FILE at a time)", argv[i]);
    }
    if (!file) return usage_error("%s", "opt: no input FILE.ir");
    size_t len = 0;
    char *text = read_all(file, &len);
    if (!text) return 1;
    arena mem;
    arena_init(&mem);
    diag_ctx d;
    diag_init(&d, &mem);
    ir_module *m = ir_module_new(&mem, &d);
    tile_status st = m ? ir_parse_module(m, strcmp(file, "-") ? file : "<stdin>", text, len)
                       : TILE_ERR_NOMEM;
    free(text);
    if (st == TILE_OK) st = tc_run_passes(m, passes, &o);
    diag_print_all(&d, stderr);
    int rc = st == TILE_OK ? 0 : 1;
    if (st == TILE_ERR_ARG && !d.nerrors)
        rc = usage_error("opt: unknown pass in '%s' (passes: %s, %s)", passes, IR_PASS_NAMES,
                         TC_SCHED_PASS_NAMES);
    if (rc == 0) {
        char *buf = NULL;
        size_t n = 0;
        FILE *mf = open_memstream(&buf, &n);
        if (mf) {
            ir_print_module(mf, m);
            fclose(mf);
        }
        rc = buf ? write_text(out, buf, n) : 1;
        free(buf);
    }
    arena_free(&mem);
    return rc;
}

/* tilec splits PROGRAMS PAGES [--arch A] */
static int cmd_splits(int argc, char **argv)
{
    const char *arch = "sm_90";
    int64_t nums[2];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--arch") == 0) {
            if (++i == argc) return usage_error("%s", "option --arch needs a value");
            arch = argv[i];
        } else {
            char *end;
            long long v = strtoll(argv[i], &end, 10);
            if (n == 2 || *end || end == argv[i] || v < 0)
                return usage_error("splits takes PROGRAMS and PAGES (integers >= 0), got '%s'",
                                   argv[i]);
            nums[n++] = v;
        }
    }
    if (n != 2) return usage_error("%s", "splits needs PROGRAMS and PAGES");
    const ir_target *t = ir_target_find(arch);
    if (!t) return usage_error("unknown --arch '%s' (known: %s)", arch, ir_target_names());
    sched_split_explain(stdout, t->arch, t->sm_count, nums[0], nums[1]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "doc") == 0) return cmd_doc(argc - 2, argv + 2);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            puts("tilec 0.1 (tile IR, CPU interpreter, NVPTX code generator)");
            return 0;
        }
    }
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(argv[1], "opt") == 0) return cmd_opt(argc - 2, argv + 2);
    if (strcmp(argv[1], "splits") == 0) return cmd_splits(argc - 2, argv + 2);
    arena mem;
    arena_init(&mem);
    cli c;
    int rc = parse_args(&mem, argc, argv, &c);
    if (rc == 0) add_library_beside_binary(&mem, &c);
    if (rc == 0) {
        if (strcmp(c.cmd, "check") == 0) rc = cmd_check(&c);
        else if (strcmp(c.cmd, "explain-blocks") == 0) rc = cmd_explain_blocks(&c);
        else if (c.ptxas) rc = cmd_ptxas(&c);
        else if (c.explain) rc = cmd_explain(&c);
        else if (strcmp(c.cmd, "emit") == 0) rc = cmd_emit(&c);
        else if (strcmp(c.cmd, "tune") == 0) rc = cmd_tune(&c);
        else rc = cmd_run(&c);
    }
    if (tt_enabled()) tt_report(stderr, argv[1]); /* --time, TILE_TIMING=1 */
    arena_free(&mem);
    return rc;
}
