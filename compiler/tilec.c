/* tilec.c - the command-line driver.
 *
 *   tilec check FILE [options]             parse + type-check every kernel
 *   tilec FILE --emit=ast|ir [options]     print the syntax tree or tile IR
 *   tilec run FILE -k KERNEL --interp ...  run a kernel on the CPU interpreter
 *
 * Everything is compiled through tc_compile (compiler/pipeline.c); this file
 * only parses arguments, moves .npy data in and out, and reports.  Exit
 * status: 0 success, 1 an error in the user's program or data, 2 bad usage. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../ir/fp16.h"
#include "npy.h"
#include "pipeline.h"

static const char usage[] =
    "usage: tilec check FILE [-D NAME=VALUE]... [-I DIR]...\n"
    "       tilec FILE --emit=ast|ir [-k KERNEL] [-D NAME=VALUE]... [-I DIR]... [-O0|-O1]\n"
    "             [--verify-each] [--dump-passes] [-o OUT]\n"
    "       tilec run FILE -k KERNEL --interp [--in NAME=FILE.npy]... [--random SEED]\n"
    "             [-D NAME=VALUE]... [-I DIR]... [--out-dir DIR]\n"
    "       tilec --help | --version\n"
    "\n"
    "Commands:\n"
    "  check FILE          parse and type-check every kernel of FILE; print errors as\n"
    "                      FILE:LINE:COL: error: ... and exit 1 if there are any\n"
    "  FILE --emit=KIND    print KIND for FILE: 'ast' (the syntax tree, no imports\n"
    "                      followed) or 'ir' (optimised tile IR of the kernels)\n"
    "  run FILE            run kernel -k on the CPU interpreter (--interp; the GPU\n"
    "                      path arrives with the code generator)\n"
    "\n"
    "Options:\n"
    "  -k, --kernel NAME   the kernel (or 'kernel x = y(...)' specialisation) to use;\n"
    "                      --emit=ir without -k prints every fully bound kernel\n"
    "  -D NAME=VALUE       bind a compile-time constant of the kernel or override a\n"
    "                      top-level const; VALUE is a tile expression (128, true,\n"
    "                      bf16, causal, sliding_window(W: 64, S: 4)).  With 'run'\n"
    "                      it also gives runtime scalars (-D scale=0.125) and\n"
    "                      dimension sizes (-D M=100)\n"
    "  -I DIR              search DIR for imports (after the importing file's\n"
    "                      folder, before the library root " TILE_LIB_DIR ")\n"
    "  -O0, -O1            optimisation level: -O0 inlines only, -O1 (default) runs\n"
    "                      canonicalize, fold, CSE and DCE\n"
    "  --verify-each       run the IR verifier after every pass\n"
    "  --dump-passes       print the IR after every pass (to stderr)\n"
    "  -o OUT              write --emit output to OUT instead of stdout\n"
    "  --interp            run on the CPU interpreter (the reference semantics)\n"
    "  --in NAME=FILE      read input tensor NAME from a .npy file (converted to the\n"
    "                      parameter's dtype, rounding to nearest even)\n"
    "  --random SEED       fill float input tensors not given with --in with uniform\n"
    "                      values in [-1, 1) from SEED (shapes from -D and --in)\n"
    "  --out-dir DIR       write each output tensor NAME to DIR/NAME.npy (default .);\n"
    "                      bf16 outputs are written as f32 (exact)\n"
    "  -h, --help          this text\n"
    "  --version           print the version\n";

typedef struct cli {
    const char *cmd;          /* "check", "emit", "run" */
    const char *file, *kernel, *emit, *out, *out_dir;
    ptr_vec defines, includes, inputs;
    bool interp, have_seed, verify_each, dump_passes;
    uint64_t seed;
    int opt_level;
} cli;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "tilec: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run 'tilec --help' for usage)\n");
    return 2;
}

/* Returns 0 on success, else the exit status to use. */
static int parse_args(arena *mem, int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof *c);
    c->opt_level = 1;
    c->out_dir = ".";
    int i = 1;
    if (i < argc && (strcmp(argv[i], "check") == 0 || strcmp(argv[i], "run") == 0))
        c->cmd = argv[i++];
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                   \
    do {                                                               \
        if (!val) return usage_error("option %s needs a value", a);    \
        i++;                                                           \
    } while (0)
        if (strcmp(a, "-k") == 0 || strcmp(a, "--kernel") == 0) { NEED_VALUE(); c->kernel = val; }
        else if (strcmp(a, "-D") == 0) { NEED_VALUE(); ptr_vec_push(mem, &c->defines, (void *)val); }
        else if (strncmp(a, "-D", 2) == 0) ptr_vec_push(mem, &c->defines, (void *)(a + 2));
        else if (strcmp(a, "-I") == 0) { NEED_VALUE(); ptr_vec_push(mem, &c->includes, (void *)val); }
        else if (strncmp(a, "-I", 2) == 0) ptr_vec_push(mem, &c->includes, (void *)(a + 2));
        else if (strcmp(a, "-o") == 0) { NEED_VALUE(); c->out = val; }
        else if (strcmp(a, "--in") == 0) { NEED_VALUE(); ptr_vec_push(mem, &c->inputs, (void *)val); }
        else if (strcmp(a, "--out-dir") == 0) { NEED_VALUE(); c->out_dir = val; }
        else if (strcmp(a, "--random") == 0) {
            NEED_VALUE();
            char *end;
            errno = 0;
            c->seed = strtoull(val, &end, 0);
            if (errno || *end || !*val) return usage_error("--random needs an integer seed, got '%s'", val);
            c->have_seed = true;
        }
        else if (strncmp(a, "--emit=", 7) == 0) c->emit = a + 7;
        else if (strcmp(a, "--interp") == 0) c->interp = true;
        else if (strcmp(a, "-O0") == 0) c->opt_level = 0;
        else if (strcmp(a, "-O1") == 0) c->opt_level = 1;
        else if (strcmp(a, "--verify-each") == 0) c->verify_each = true;
        else if (strcmp(a, "--dump-passes") == 0) c->dump_passes = true;
        else if (a[0] == '-' && a[1]) return usage_error("unknown option '%s'", a);
        else if (!c->file) c->file = a;
        else return usage_error("unexpected argument '%s' (one FILE at a time)", a);
#undef NEED_VALUE
    }
    if (!c->file) return usage_error("%s", "no input FILE");
    if (!c->cmd) {
        if (!c->emit) return usage_error("%s", "nothing to do: give 'check', 'run' or --emit=ast|ir");
        if (strcmp(c->emit, "ast") != 0 && strcmp(c->emit, "ir") != 0)
            return usage_error("unknown --emit kind '%s' (ast, ir)", c->emit);
        c->cmd = "emit";
    } else if (c->emit) {
        return usage_error("--emit cannot be combined with '%s'", c->cmd);
    }
    if (strcmp(c->cmd, "run") == 0) {
        if (!c->kernel) return usage_error("%s", "run needs -k KERNEL");
        if (!c->interp)
            return usage_error("%s", "run needs --interp (the GPU backend is not built yet)");
    }
    return 0;
}

/* The library next to the binary (<prefix>/lib beside <prefix>/build/tilec or
 * <prefix>/bin/tilec) is searched after -I, so a build copied elsewhere with
 * its source tree still finds `import "attention/..."`; the root compiled in
 * (TILE_LIB_DIR) stays the last resort. */
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
    struct stat st;
    if (lib && stat(lib, &st) == 0 && S_ISDIR(st.st_mode)) ptr_vec_push(mem, &c->includes, lib);
}

static tc_options compile_options(const cli *c)
{
    return (tc_options){
        .kernel = c->kernel,
        .defines = (const char *const *)c->defines.items, .ndefines = c->defines.len,
        .include_dirs = (const char *const *)c->includes.items, .ninclude = c->includes.len,
        .opt_level = c->opt_level, .verify_each = c->verify_each,
        .dump_passes = c->dump_passes ? stderr : NULL,
    };
}

static int cmd_check(const cli *c)
{
    arena mem;
    arena_init(&mem);
    diag_ctx d;
    diag_init(&d, &mem);
    ir_module *m = ir_module_new(&mem, &d);
    tile_status st = TILE_ERR_NOMEM;
    if (m) {
        tc_options o = compile_options(c);
        fe_define *defs = arena_calloc(&mem, (size_t)o.ndefines + 1, sizeof *defs);
        for (int i = 0; defs && i < o.ndefines; i++) {
            const char *eq = strchr(o.defines[i], '=');
            if (!eq) {
                diag_error(&d, (src_loc){0}, "bad define '%s': expected NAME=VALUE", o.defines[i]);
                st = TILE_ERR_ARG;
                goto done;
            }
            defs[i].name = arena_strndup(&mem, o.defines[i], (size_t)(eq - o.defines[i]));
            defs[i].value = eq + 1;
        }
        fe_options fo = {.include_dirs = o.include_dirs, .ninclude = o.ninclude,
                         .defines = defs, .ndefines = o.ndefines};
        st = fe_check(m, c->file, &fo);
        if (st == TILE_OK) st = ir_verify_module(m, "front end");
    }
done:
    diag_print_all(&d, stderr);
    if (st == TILE_ERR_NOMEM) fprintf(stderr, "tilec: out of memory\n");
    arena_free(&mem);
    return st == TILE_OK ? 0 : 1;
}

static int cmd_emit(const cli *c)
{
    FILE *out = stdout;
    if (c->out && !(out = fopen(c->out, "w"))) {
        fprintf(stderr, "tilec: cannot write %s: %s\n", c->out, strerror(errno));
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
        if (u) diag_print_all(&u->diags, stderr);
        if (st == TILE_OK) {
            if (u->kernel) ir_print_func(out, u->kernel);
            else ir_print_module(out, u->module);
        } else if (st == TILE_ERR_NOMEM) {
            fprintf(stderr, "tilec: out of memory\n");
        }
        tc_unit_free(u);
        rc = st == TILE_OK ? 0 : 1;
    }
    if (out != stdout && fclose(out) != 0) {
        fprintf(stderr, "tilec: cannot write %s: %s\n", c->out, strerror(errno));
        rc = 1;
    }
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
} run_state;

static dim_binding *find_dim(run_state *r, const char *name)
{
    for (int i = 0; i < r->dims.len; i++) {
        dim_binding *b = r->dims.items[i];
        if (strcmp(b->name, name) == 0) return b;
    }
    return NULL;
}

static const char *define_value(const cli *c, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < c->defines.len; i++) {
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
            char *end;
            long long n = strtoll(v, &end, 0);
            if (*end || n < 0) {
                fprintf(stderr, "tilec: -D %s=%s: a dimension size must be a non-negative integer\n", name, v);
                return -1;
            }
            if (bind_dim(r, name, n, "-D")) return -1;
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
    t->data = arena_alloc(r->mem, (size_t)(n > 0 ? n : 1) * (size_t)ir_dtype_size(t->dtype));
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
    errno = 0;
    if (ir_dtype_is_float(pa->type.dtype)) {
        double x = strtod(v, &end);
        if (*end || end == v) goto bad;
        *out = ir_scalar_round(pa->type.dtype, x);
    } else if (pa->type.dtype == IR_BOOL) {
        if (strcmp(v, "true") == 0) out->i = 1;
        else if (strcmp(v, "false") == 0) out->i = 0;
        else goto bad;
    } else {
        long long x = strtoll(v, &end, 0);
        if (*end || end == v || errno) goto bad;
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
static int check_defines_used(run_state *r)
{
    for (int i = 0; i < r->c->defines.len; i++) {
        const char *d = r->c->defines.items[i];
        size_t n = strcspn(d, "=");
        bool used = false;
        for (int j = 0; j < r->k->nconsts && !used; j++)
            used = strlen(r->k->consts[j].name) == n && strncmp(r->k->consts[j].name, d, n) == 0;
        for (int p = 0; p < r->k->nparams && !used; p++) {
            const ir_param *pa = &r->k->params[p];
            used = strlen(pa->name) == n && strncmp(pa->name, d, n) == 0;
            for (int k = 0; k < pa->type.rank && !used && pa->type.kind == IR_TY_TENSOR; k++)
                used = pa->dims[k].name && strlen(pa->dims[k].name) == n &&
                       strncmp(pa->dims[k].name, d, n) == 0;
        }
        if (!used) {
            fprintf(stderr, "tilec: -D %.*s: kernel '%s' has no constant, scalar parameter or "
                            "dimension named '%.*s'\n", (int)n, d, r->k->name, (int)n, d);
            return -1;
        }
    }
    return 0;
}

static int write_outputs(run_state *r)
{
    if (mkdir(r->c->out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "tilec: cannot create %s: %s\n", r->c->out_dir, strerror(errno));
        return -1;
    }
    for (int p = 0; p < r->k->nparams; p++) {
        const ir_param *pa = &r->k->params[p];
        if (pa->type.kind != IR_TY_TENSOR || !pa->is_out) continue;
        char *path = arena_printf(r->mem, "%s/%s.npy", r->c->out_dir, pa->name);
        char err[256];
        if (!path || npy_write(path, &r->args[p].tensor, err, sizeof err) != TILE_OK) {
            fprintf(stderr, "tilec: writing %s: %s\n", path ? path : pa->name, path ? err : "out of memory");
            return -1;
        }
        char shape[128];
        ir_shape_str(r->args[p].tensor.rank, r->args[p].tensor.shape, shape, sizeof shape);
        printf("%s: %s%s -> %s\n", pa->name, ir_dtype_name(pa->type.dtype), shape, path);
    }
    return 0;
}

static int cmd_run(const cli *c)
{
    tc_options o = compile_options(c);
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, c->file, NULL, &o);
    if (st != TILE_OK) {
        if (u) diag_print_all(&u->diags, stderr);
        if (st == TILE_ERR_NOMEM) fprintf(stderr, "tilec: out of memory\n");
        tc_unit_free(u);
        return 1;
    }
    run_state r = {.mem = &u->mem, .c = c, .k = u->kernel};
    r.args = arena_calloc(&u->mem, (size_t)r.k->nparams + 1, sizeof *r.args);
    r.given = arena_calloc(&u->mem, (size_t)r.k->nparams + 1, sizeof *r.given);
    int rc = 1;
    if (!r.args || !r.given) {
        fprintf(stderr, "tilec: out of memory\n");
    } else if (check_defines_used(&r) == 0 && read_inputs(&r) == 0 &&
               bind_dims_from_defines(&r) == 0 && setup_params(&r) == 0) {
        st = interp_launch(r.k, r.args, r.k->nparams, &u->diags, NULL);
        diag_print_all(&u->diags, stderr);
        if (st == TILE_OK) rc = write_outputs(&r) == 0 ? 0 : 1;
    }
    tc_unit_free(u);
    return rc;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            puts("tilec 0.1 (tile IR + CPU interpreter)");
            return 0;
        }
    }
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    arena mem;
    arena_init(&mem);
    cli c;
    int rc = parse_args(&mem, argc, argv, &c);
    if (rc == 0) add_library_beside_binary(&mem, &c);
    if (rc == 0) {
        if (strcmp(c.cmd, "check") == 0) rc = cmd_check(&c);
        else if (strcmp(c.cmd, "emit") == 0) rc = cmd_emit(&c);
        else rc = cmd_run(&c);
    }
    arena_free(&mem);
    return rc;
}
