/* sched_mask.c - the figures of the block plan derived from a mask
 * (sched_mask.h).
 *
 * Rather than re-deriving the plan in C (a second copy that could drift from
 * the library's), it compiles a small probe program next to the user's file
 * that calls the library's own kv_segments and evaluates the mask block by
 * block, runs it on the interpreter for the shape, and counts. */
#include "sched_mask.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

/* One program per query block: the eight segment bounds, mask_slots, then
 * the key blocks holding a visible pair and those entirely visible. */
static const char PROBE[] =
    "import \"attention/masks.tile\";\n"
    "%s"
    "kernel __mask_plan(seg: out tensor<i32>[MB, 11], M: i32, N: i32, const mask: fn,\n"
    "                   const BM: int, const BN: int) grid(MB)\n"
    "{\n"
    "    let qb = program_id(0);\n"
    "    let q_lo = qb * BM;\n"
    "    let rows = q_lo + arange(BM);\n"
    "    let (a0, a1, a2, a3, b0, b1, b2, b3) =\n"
    "        kv_segments(0, 0, q_lo, min(q_lo + BM, M), M, N, mask, derived_range, BN);\n"
    "    store(seg[qb, 0], a0); store(seg[qb, 1], a1); store(seg[qb, 2], a2);\n"
    "    store(seg[qb, 3], a3); store(seg[qb, 4], b0); store(seg[qb, 5], b1);\n"
    "    store(seg[qb, 6], b2); store(seg[qb, 7], b3); store(seg[qb, 8], mask_slots(mask));\n"
    "    var nvis = 0;\n"
    "    var nall = 0;\n"
    "    for kb in range(cdiv(N, BN)) {\n"
    "        let cols = kb * BN + arange(BN);\n"
    "        let in_rows = rows[:, None] < M;\n"
    "        let vis = visible_keys(0, 0, rows, cols, M, N, mask) & in_rows;\n"
    "        nvis += cast<i32>(any(vis));\n"
    "        nall += cast<i32>(all(vis | !in_rows) & ((kb + 1) * BN <= N));\n"
    "    }\n"
    "    store(seg[qb, 9], nvis);\n"
    "    store(seg[qb, 10], nall);\n"
    "}\n";

/* The probe's path: beside `path`, so the file imports by its base name. */
static char *probe_path(const char *path, char **import_line)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path ? path + dir : NULL;
    char *p = malloc(dir + 32);
    *import_line = malloc(base ? strlen(base) + 16 : 1);
    if (!p || !*import_line) {
        free(p);
        free(*import_line);
        return NULL;
    }
    memcpy(p, path ? path : "", dir);
    strcpy(p + dir, "__mask_plan.tile");
    if (base) sprintf(*import_line, "import \"%s\";\n", base);
    else (*import_line)[0] = '\0';
    return p;
}

/* Runs the compiled probe and fills the counts. */
static tile_status run_probe(const tc_unit *u, sched_mask_plan *p, FILE *err)
{
    int64_t MB = p->qblocks;
    int32_t *seg = calloc((size_t)MB * 11, sizeof *seg);
    if (!seg) return TILE_ERR_NOMEM;
    interp_arg args[3] = {0};
    args[0].tensor = (interp_tensor){.dtype = IR_I32, .rank = 2, .shape = {MB, 11}, .data = seg};
    interp_contiguous_strides(&args[0].tensor);
    args[1].scalar.i = p->M;
    args[2].scalar.i = p->N;
    diag_ctx d;
    arena mem;
    arena_init(&mem);
    diag_init(&d, &mem);
    tile_status st = interp_launch(u->kernel, args, 3, &d, NULL);
    if (st != TILE_OK) diag_print_all(&d, err);
    for (int64_t qb = 0; st == TILE_OK && qb < MB; qb++) {
        const int32_t *r = seg + qb * 11;
        p->slots = r[8];
        int nseg = r[8] > 1 ? 2 : 1;
        for (int s = 0; s < nseg; s++) {
            const int32_t *q = r + 4 * s;
            p->full += q[2] - q[1];
            p->partial += (q[1] - q[0]) + (q[3] - q[2]);
        }
        p->visible += r[9];
        p->all_visible += r[10];
    }
    arena_free(&mem);
    free(seg);
    return st;
}

tile_status sched_mask_plan_compute(const char *path, const char *mask, int64_t M, int64_t N,
                                    int BM, int BN, sched_mask_plan *out, FILE *err)
{
    memset(out, 0, sizeof *out);
    if (!mask || M < 1 || N < 1 || BM < 1 || BN < 1 || M > INT32_MAX || N > INT32_MAX)
        return TILE_ERR_ARG;
    snprintf(out->mask, sizeof out->mask, "%s", mask);
    out->M = M, out->N = N, out->BM = BM, out->BN = BN;
    out->qblocks = (M + BM - 1) / BM;
    out->kblocks = (N + BN - 1) / BN;

    char *import_line, *ppath = probe_path(path, &import_line);
    if (!ppath) return TILE_ERR_NOMEM;
    size_t n = sizeof PROBE + strlen(import_line);
    char *text = malloc(n);
    char defs[3][200];
    snprintf(defs[0], sizeof defs[0], "mask=%s", mask);
    snprintf(defs[1], sizeof defs[1], "BM=%d", BM);
    snprintf(defs[2], sizeof defs[2], "BN=%d", BN);
    const char *defines[3] = {defs[0], defs[1], defs[2]};
    tc_options o = {.kernel = "__mask_plan", .defines = defines, .ndefines = 3, .opt_level = 1};
    tc_unit *u = NULL;
    tile_status st = TILE_ERR_NOMEM;
    if (text) {
        snprintf(text, n, PROBE, import_line);
        st = tc_compile(&u, ppath, text, &o);
    }
    if (st == TILE_OK && u && u->kernel) {
        st = run_probe(u, out, err);
    } else if (u && st != TILE_ERR_NOMEM) {
        /* A mask that captures a kernel's tensor (document(doc: doc)) has
         * nothing to read here: say so instead of failing. */
        char *msg = diag_render(&u->diags, &u->mem);
        if (msg && strstr(mask, ": ") && strstr(msg, "unknown name")) {
            out->data = true;
            snprintf(out->note, sizeof out->note,
                     "the mask reads data (%s): its analysable part bounds the key loop, the "
                     "rest needs a block mask built on the device (block_mask.tile)", mask);
            st = TILE_OK;
        } else {
            diag_print_all(&u->diags, err);
        }
    }
    if (u) tc_unit_free(u);
    free(text);
    free(ppath);
    free(import_line);
    return st;
}

static double pct(int64_t a, int64_t b) { return b ? 100.0 * (double)a / (double)b : 0.0; }

void sched_mask_plan_describe(FILE *out, const sched_mask_plan *p)
{
    fprintf(out, "block plan of mask %s: M=%lld N=%lld, BM=%d BN=%d (head 0)\n", p->mask,
            (long long)p->M, (long long)p->N, p->BM, p->BN);
    if (p->data) {
        fprintf(out, "  %s\n", p->note);
        return;
    }
    int64_t total = p->qblocks * p->kblocks, visited = p->full + p->partial;
    fprintf(out, "  key-block ranges per query block: %d slot%s (derived from the mask)\n",
            p->slots, p->slots > 1 ? "s" : "");
    fprintf(out, "  blocks: %lld = %lld x %lld; visited %lld (%.1f%%): full %lld (%.1f%%, no mask "
            "arithmetic), partial %lld (%.1f%%, masked); skipped %lld (%.1f%%)\n",
            (long long)total, (long long)p->qblocks, (long long)p->kblocks, (long long)visited,
            pct(visited, total), (long long)p->full, pct(p->full, total), (long long)p->partial,
            pct(p->partial, total), (long long)(total - visited), pct(total - visited, total));
    bool exact = visited == p->visible && p->full == p->all_visible;
    if (exact)
        fprintf(out, "  exact: every visited block holds a visible pair, every entirely visible "
                "block is full\n");
    else
        fprintf(out, "  not exact: %lld blocks hold a visible pair (%lld visited), %lld are "
                "entirely visible (%lld full); the mask has parts the analysis cannot bound "
                "(treated as maybe-visible, never skipped)\n", (long long)p->visible,
                (long long)visited, (long long)p->all_visible, (long long)p->full);
}

/* A JSON string of s: the masks and notes are ASCII; quotes, backslashes
 * and control characters escaped. */
static void json_text(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(out, "\\%c", *c);
        else if (*c < 0x20) fprintf(out, "\\u%04x", *c);
        else fputc(*c, out);
    }
    fputc('"', out);
}

void sched_mask_plan_json(FILE *out, const sched_mask_plan *p)
{
    int64_t total = p->qblocks * p->kblocks, visited = p->full + p->partial;
    fputs("{\"mask\": ", out);
    json_text(out, p->mask);
    fprintf(out, ", \"M\": %lld, \"N\": %lld, \"BM\": %d, \"BN\": %d, \"reads_data\": %s",
            (long long)p->M, (long long)p->N, p->BM, p->BN, p->data ? "true" : "false");
    if (p->data) {
        fputs(", \"note\": ", out);
        json_text(out, p->note);
    } else {
        fprintf(out, ", \"slots\": %d, \"blocks\": %lld, \"full\": %lld, \"partial\": %lld, "
                "\"skipped\": %lld, \"skipped_fraction\": %.6g, \"visible\": %lld, "
                "\"all_visible\": %lld, \"exact\": %s", p->slots, (long long)total,
                (long long)p->full, (long long)p->partial, (long long)(total - visited),
                total ? (double)(total - visited) / (double)total : 0.0, (long long)p->visible,
                (long long)p->all_visible,
                visited == p->visible && p->full == p->all_visible ? "true" : "false");
    }
    fputc('}', out);
}
