/* fuzz_frontend.c - libFuzzer target for the whole front end.
 *
 * Each input is a .tile file.  It is parsed on its own (fe_parse, then the
 * AST dump and the diagnostics are rendered), then compiled (fe_compile of
 * every kernel) and, if that succeeds, verified and optimised: nothing may
 * crash, hang, leak or hit undefined behaviour on any input.  Everything
 * lives in a fresh arena per input.  Build with TILE_FUZZ=ON (see README.md);
 * TILE_FUZZ_PARSE_ONLY=ON stops after the parser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ast.h"
#include "frontend/frontend.h"
#include "ir/passes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink) sink = fopen("/dev/null", "w");
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
        fe_options opts = {0};
        if (fe_compile(m, "fuzz.tile", text, NULL, &opts) == TILE_OK &&
            ir_verify_module(m, "front end") == TILE_OK) {
            ir_opt_options o = {.level = 1, .verify_each = true, .dump = NULL};
            (void)ir_optimize(m, &o);
        }
        (void)diag_render(&diags, &mem);
    }
#endif

    arena_free(&mem);
    free(text);
    return 0;
}
