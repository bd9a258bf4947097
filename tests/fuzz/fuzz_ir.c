/* fuzz_ir.c - libFuzzer target for the IR text reader (ir/parse.c).
 *
 * Each input is IR text.  ir_parse_module must never crash, hang, leak or
 * hit undefined behaviour; when it accepts the input, printing it and
 * reading the print back must give the same text again (the reader and the
 * printer agree), and the generic passes must run on it with the verifier
 * after each (an internal error there is reported, not a crash).  Inputs
 * over 64 KiB are skipped, which bounds the work per input.  Build with
 * TILE_FUZZ=ON (see README.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/passes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print_text(const ir_module *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) return NULL;
    ir_print_module(fp, m);
    fclose(fp);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    arena mem;
    arena_init(&mem);
    diag_ctx diags;
    diag_init(&diags, &mem);
    ir_module *m = ir_module_new(&mem, &diags);
    if (m && ir_parse_module(m, "fuzz.ir", (const char *)data, size) == TILE_OK) {
        char *once = print_text(m);
        ir_module *again = ir_module_new(&mem, &diags);
        if (once && again) {
            if (ir_parse_module(again, "print.ir", once, strlen(once)) != TILE_OK) abort();
            char *twice = print_text(again);
            if (!twice || strcmp(once, twice) != 0) abort();
            free(twice);
        }
        free(once);
        ir_opt_options o = {.level = 1, .verify_each = true, .dump = NULL};
        (void)ir_run_passes(m, "optimize", &o);
    }
    (void)diag_render(&diags, &mem);
    arena_free(&mem);
    return 0;
}
