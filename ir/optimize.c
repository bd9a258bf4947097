/* optimize.c - the generic tile-IR pass pipeline, as one flat sequence.
 *
 *   inline; then (level >= 1) repeat { canonicalize, fold, dce, cse, dce }
 *   until a round changes nothing (at most MAX_ROUNDS rounds).  The dce
 *   before cse drops what fold left dead first: cse would otherwise make
 *   it the leader of a live copy, hoisting it out of an `if` (an identity
 *   score modifier's index tiles, out of flash_fwd's masked branch).
 *
 * "Changed" is decided by a structural fingerprint of the module (opcodes,
 * operand ids, attributes, result types), so passes stay plain
 * `void pass(ir_func *)` functions.  With verify_each the verifier runs
 * after every pass and names it; with dump the module is printed after
 * every pass that changed it. */
#include <stdint.h>
#include <string.h>

#include "passes.h"

enum { MAX_ROUNDS = 8 };

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint64_t fp_block(uint64_t h, const ir_block *blk)
{
    if (!blk) return mix(h, 1);
    h = mix(h, (uint64_t)blk->nargs);
    for (const ir_op *op = blk->first; op; op = op->next) {
        h = mix(h, (uint64_t)op->code);
        h = mix(h, ((uint64_t)op->noperands << 32) | (uint64_t)op->nresults);
        for (int i = 0; i < op->noperands; i++) h = mix(h, (uint64_t)op->operands[i]->id);
        for (int i = 0; i < op->nresults; i++) {
            const ir_type *t = &op->results[i]->type;
            h = mix(h, (uint64_t)op->results[i]->id);
            h = mix(h, (uint64_t)t->dtype * 31 + (uint64_t)t->rank);
        }
        h = ir_attr_hash(op, h);
        for (int r = 0; r < op->nblocks; r++) h = fp_block(h, op->blocks[r]);
    }
    return h;
}

static uint64_t fingerprint(const ir_module *m)
{
    uint64_t h = 0;
    for (const ir_func *f = m->first; f; f = f->next) {
        h = fp_block(mix(h, (uint64_t)(uintptr_t)f), f->grid);
        h = fp_block(h, f->body);
    }
    return h;
}

static tile_status after(ir_module *m, const ir_opt_options *o, const char *pass,
                         uint64_t before)
{
    if (o->dump) {
        if (fingerprint(m) == before) {
            fprintf(o->dump, "// after %s (no change)\n", pass);
        } else {
            fprintf(o->dump, "// after %s\n", pass);
            ir_print_module(o->dump, m);
        }
    }
    return o->verify_each ? ir_verify_module(m, pass) : TILE_OK;
}

typedef void (*func_pass)(ir_func *f);

static const struct {
    const char *name;
    func_pass run;
} func_passes[] = {
    {"canonicalize", pass_canonicalize},
    {"fold", pass_fold},
    {"dce", pass_dce},
    {"cse", pass_cse},
    {"dce", pass_dce},
};
enum { NFUNC_PASSES = sizeof func_passes / sizeof func_passes[0] };

tile_status ir_optimize(ir_module *m, const ir_opt_options *o)
{
    static const ir_opt_options defaults = {.level = 1};
    if (!o) o = &defaults;
    uint64_t h = fingerprint(m);
    tile_status st = pass_inline(m);
    if (st != TILE_OK) return st;
    st = after(m, o, "inline", h);
    if (st != TILE_OK || o->level < 1) return st;

    for (int round = 0; round < MAX_ROUNDS; round++) {
        uint64_t round_start = fingerprint(m);
        for (int p = 0; p < NFUNC_PASSES; p++) {
            uint64_t before = o->dump ? fingerprint(m) : 0;
            for (ir_func *f = m->first; f; f = f->next) func_passes[p].run(f);
            st = after(m, o, func_passes[p].name, before);
            if (st != TILE_OK) return st;
        }
        if (fingerprint(m) == round_start) break;
    }
    return TILE_OK;
}

/* The pass named by list[0..n): a function pass's index, or -1 inline,
 * -2 optimize, -3 unknown. */
static int pass_index(const char *name, size_t n)
{
    for (int p = 0; p < NFUNC_PASSES; p++)
        if (strlen(func_passes[p].name) == n && memcmp(func_passes[p].name, name, n) == 0)
            return p;
    if (n == 6 && memcmp(name, "inline", 6) == 0) return -1;
    if (n == 8 && memcmp(name, "optimize", 8) == 0) return -2;
    return -3;
}

static tile_status run_one(ir_module *m, int p, const ir_opt_options *o)
{
    uint64_t before = o->dump ? fingerprint(m) : 0;
    if (p == -2) return ir_optimize(m, o);
    if (p == -1) {
        tile_status st = pass_inline(m);
        return st != TILE_OK ? st : after(m, o, "inline", before);
    }
    for (ir_func *f = m->first; f; f = f->next) func_passes[p].run(f);
    return after(m, o, func_passes[p].name, before);
}

tile_status ir_run_passes(ir_module *m, const char *list, const ir_opt_options *o)
{
    static const ir_opt_options defaults = {.level = 1};
    if (!o) o = &defaults;
    for (int pass = 0; pass < 2; pass++) { /* check every name, then run */
        for (const char *s = list ? list : ""; *s;) {
            size_t n = strcspn(s, ",");
            if (n) {
                int p = pass_index(s, n);
                if (p == -3) return TILE_ERR_ARG;
                if (pass == 1) {
                    tile_status st = run_one(m, p, o);
                    if (st != TILE_OK) return st;
                }
            }
            s += n + (s[n] == ',');
        }
    }
    return TILE_OK;
}
