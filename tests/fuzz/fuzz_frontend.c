/* fuzz_frontend.c - libFuzzer target for the whole front end, the
 * interpreter and the .npy reader.
 *
 * An input that starts with the .npy magic (\x93NUMPY) is a .npy file: it is
 * read (npy_read) as every dtype.  Any other input is a .tile file, all of its
 * bytes (a NUL inside is compiled, not an end): it is parsed on its own
 * (fe_parse, then the AST dump and the diagnostics are rendered), then
 * compiled (fe_compile of every kernel) and, if that succeeds, verified,
 * optimised, and every kernel is launched on the interpreter with small
 * arguments made up from the input (dimensions 1..4, values from a hash),
 * under tight budgets (memory, executed ops) so that no kernel runs long.
 * Nothing may crash, hang, leak or hit undefined behaviour on any input.
 * Everything lives in a fresh arena per input.  Build with TILE_FUZZ=ON (see
 * README.md); TILE_FUZZ_PARSE_ONLY=ON stops after the parser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/npy.h"
#include "frontend/ast.h"
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "ir/passes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    MAX_TENSOR_ELEMS = 1 << 12,    /* per tensor argument */
    FUZZ_MAX_OPS = 5000,           /* per launch: keeps an input to milliseconds */
};
#define FUZZ_MAX_BYTES ((uint64_t)32 << 20)

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xbf58476d1ce4e5b9ull;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; s && *s; s++) h = mix(h, (unsigned char)*s);
    return h;
}

/* A dimension's size: 1..4, the same for every use of one name. */
static int64_t dim_size(uint64_t seed, const ir_dim *d)
{
    if (d->size >= 0) return d->size;
    return 1 + (int64_t)(hash_str(seed, d->name ? d->name : "?") % 4);
}

static void fill(interp_tensor *t, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = mix(seed, (uint64_t)i);
        int64_t v = (int64_t)(seed % 7) - 3;
        switch (t->dtype) {
        case IR_F32: ((float *)t->data)[i] = (float)v * 0.5f; break;
        case IR_BF16:
        case IR_F16: ((uint16_t *)t->data)[i] = (uint16_t)(v < 0 ? 0xbf80 : v ? 0x3f80 : 0); break;
        case IR_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
        case IR_I64: ((int64_t *)t->data)[i] = v; break;
        default: ((uint8_t *)t->data)[i] = (uint8_t)(v > 0); break;
        }
    }
}

/* Launches kernel k with made-up arguments; anything may fail, cleanly. */
static void launch(const ir_func *k, arena *mem, diag_ctx *d, FILE *sink, uint64_t seed)
{
    interp_arg *args = arena_calloc(mem, (size_t)k->nparams + 1, sizeof *args);
    if (!args) return;
    for (int p = 0; p < k->nparams; p++) {
        const ir_param *pa = &k->params[p];
        uint64_t h = hash_str(seed, pa->name);
        if (pa->type.kind != IR_TY_TENSOR) {
            int64_t v = 1 + (int64_t)(h % 4);
            if (ir_dtype_is_float(pa->type.dtype)) args[p].scalar.f = (double)v * 0.25;
            else args[p].scalar.i = pa->type.dtype == IR_BOOL ? v & 1 : v;
            continue;
        }
        interp_tensor *t = &args[p].tensor;
        t->dtype = pa->type.dtype;
        t->rank = pa->type.rank;
        int64_t n = 1;
        for (int i = 0; i < t->rank; i++) {
            t->shape[i] = dim_size(seed, &pa->dims[i]);
            if (t->shape[i] < 0 || t->shape[i] > MAX_TENSOR_ELEMS) return;
            n *= t->shape[i];
            if (n > MAX_TENSOR_ELEMS) return;
        }
        interp_contiguous_strides(t);
        t->data = arena_alloc(mem, (size_t)(n > 0 ? n : 1) * (size_t)ir_dtype_size(t->dtype));
        if (!t->data) return;
        fill(t, n, h);
    }
    interp_options o = {.print_out = sink, .check_bounds = seed % 2 ? INTERP_BOUNDS_ALL : INTERP_BOUNDS_OFF,
                        .max_bytes = FUZZ_MAX_BYTES, .max_ops = FUZZ_MAX_OPS};
    (void)interp_launch(k, args, k->nparams, d, &o);
}

/* The .npy reader takes a path: the input goes through a per-process file. */
static void fuzz_npy(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_npy.%d.npy", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return;
    bool ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0 || !ok) return;
    static const ir_dtype want[] = {IR_F32, IR_BF16, IR_F16, IR_I32, IR_I64, IR_BOOL};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        arena mem;
        arena_init(&mem);
        interp_tensor t;
        char err[256];
        if (npy_read(path, &mem, want[i], &t, err, sizeof err) == TILE_OK) {
            char out[80];
            snprintf(out, sizeof out, "%s.out", path);
            (void)npy_write(out, &t, err, sizeof err);
        }
        arena_free(&mem);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink) sink = fopen("/dev/null", "w");
    if (size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0) {
        fuzz_npy(data, size);
        return 0;
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;

    arena mem;
    arena_init(&mem);
    diag_ctx parse_diags;
    diag_init(&parse_diags, &mem);
    const src_file *src = diag_add_source(&parse_diags, "fuzz.tile", text, size);
    if (src) {
        ast_file *f = fe_parse(&mem, &parse_diags, src->path, src->text, src->len);
        if (f && sink) ast_print(sink, f);
        (void)diag_render(&parse_diags, &mem);
    }

#ifndef FUZZ_PARSE_ONLY
    diag_ctx diags;
    diag_init(&diags, &mem);
    ir_module *m = ir_module_new(&mem, &diags);
    if (m) {
        fe_options opts = {.text_len = size};
        if (size > 0 && fe_compile(m, "fuzz.tile", text, NULL, &opts) == TILE_OK &&
            ir_verify_module(m, "front end") == TILE_OK) {
            ir_opt_options o = {.level = 1, .verify_each = true, .dump = NULL};
            if (ir_optimize(m, &o) == TILE_OK) {
                uint64_t seed = 0;
                for (size_t i = 0; i < size; i += 97) seed = mix(seed, data[i]);
                uint64_t i = 0;
                for (const ir_func *k = m->first; k; k = k->next, i++)
                    if (k->kind == IR_FUNC_KERNEL) launch(k, &mem, &diags, sink, seed + i);
            }
        }
        (void)diag_render(&diags, &mem);
    }
#endif

    arena_free(&mem);
    free(text);
    return 0;
}
