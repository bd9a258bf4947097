/* test_doc.c - `tilec doc` (frontend/fe_doc.c): the library reference
 * generated from signatures and comments.
 *
 * A small library file that uses every convention (header, example command,
 * separator with an introduction, item comments, parameter notes, a chain of
 * specialisations) and a test file with a `Tested (...)` statement are
 * documented, and the page must hold the expected pieces, written out here
 * by hand.  A file without the header, a syntax error, and bad invocations
 * of `tilec doc` must fail with a located message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend/frontend.h"

static char dir[256];

static const char *lib_src =
    "// toy.tile - toy attention (Someone et al., arXiv 0000.00000).\n"
    "//\n"
    "// Computes\n"
    "//     o = 2 * q\n"
    "// for every row.\n"
    "// $ build/tilec run lib/toy.tile -k toy --interp --random 1\n"
    "import \"attention/masks.tile\";\n"
    "\n"
    "// Doubles x.\n"
    "fn twice(x, const K: int = 2) -> f32 {\n"
    "    x * K\n"
    "}\n"
    "\n"
    "// ---- kernels ----------------------------------\n"
    "// Both read q.\n"
    "\n"
    "kernel toy(\n"
    "    q: tensor<T>[Z, M, D],\n"
    "    o: out tensor<T>[Z, M, D],\n"
    "    const T: dtype = bf16,\n"
    "    const D: int,               // head dim\n"
    "    const mask: fn = full_mask,\n"
    "    const BM: int = auto,\n"
    ") grid(cdiv(M, BM), Z)\n"
    "{\n"
    "    let rows = program_id(0) * BM + arange(BM);\n"
    "    store(o[program_id(1), rows, :], load(q[program_id(1), rows, :]) * 2.0);\n"
    "}\n"
    "\n"
    "kernel toy_causal = toy(mask: sliding_window(W: 8, S: 2 * 2));\n"
    "// Head dim 64.\n"
    "kernel toy_causal_64(extra: tensor<i32>[Z]) = toy_causal(D: 64);\n";

static const char *test_src =
    "/* test_lib_toy.c - the toy.\n"
    " *\n"
    " * Tested (toy.tile): toy in f32; D = 64;\n"
    " * M from 1 to 9. */\n"
    "int main(void) { return 0; }\n";

static char *path_of(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* fe_doc on the given paths; the page in *page (malloc'd), diagnostics in *diags. */
static tile_status run_doc(const char *const *paths, int n, char **page, char **diags)
{
    arena mem;
    arena_init(&mem);
    diag_ctx d;
    diag_init(&d, &mem);
    size_t len = 0, dlen = 0;
    FILE *out = open_memstream(page, &len);
    assert_non_null(out);
    tile_status st = fe_doc(&d, paths, n, out);
    fclose(out);
    FILE *derr = open_memstream(diags, &dlen);
    assert_non_null(derr);
    diag_print_all(&d, derr);
    fclose(derr);
    arena_free(&mem);
    return st;
}

static void expect_in(const char *page, const char *want)
{
    if (!strstr(page, want)) fail_msg("missing from the page:\n%s\n---- page:\n%s", want, page);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tile_test_doc.XXXXXX");
    if (!mkdtemp(dir)) return -1;
    write_file("toy.tile", lib_src);
    write_file("test_lib_toy.c", test_src);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void conventions(void **state)
{
    (void)state;
    const char *paths[] = {path_of("toy.tile"), path_of("test_lib_toy.c")};
    char *page, *diags;
    assert_int_equal(run_doc(paths, 2, &page, &diags), TILE_OK);
    assert_string_equal(diags, "");
    /* contents line, file heading with the title cut at the paper */
    expect_in(page, "- `toy.tile`: toy attention (`toy`, `toy_causal`, `toy_causal_64`)\n");
    expect_in(page, "## toy.tile: toy attention\n");
    expect_in(page, "imports `attention/masks.tile`.\n");
    /* header: prose, formula as code, the command as a shell block */
    expect_in(page, "toy attention (Someone et al., arXiv 0000.00000).\n\nComputes\n\n```\n"
                    "    o = 2 * q\n```\n\nfor every row.\n\n```sh\n"
                    "build/tilec run lib/toy.tile -k toy --interp --random 1\n```\n");
    expect_in(page, "**Tested.** `");
    expect_in(page, "test_lib_toy.c`: toy in f32; D = 64;\nM from 1 to 9.\n");
    /* an fn: signature with its default, then its comment */
    expect_in(page, "#### fn `twice`\n\n```\nfn twice(x, const K: int = 2) -> f32\n```\n\n"
                    "Doubles x.\n");
    /* a section with its introduction */
    expect_in(page, "### kernels\n\nBoth read q.\n");
    /* a kernel: one parameter per line, the note of its line, the grid */
    expect_in(page, "kernel toy(\n    q: tensor<T>[Z, M, D],\n    o: out tensor<T>[Z, M, D],\n"
                    "    const T: dtype = bf16,\n    const D: int,  // head dim\n"
                    "    const mask: fn = full_mask,\n    const BM: int = auto,\n"
                    ") grid(cdiv(M, BM), Z)\n");
    expect_in(page, "Constants without a default (give them with `-D` or a specialisation): `D`.\n");
    /* specialisations, with what they leave open through the chain */
    expect_in(page, "kernel toy_causal = toy(mask: sliding_window(W: 8, S: 2 * 2));\n```\n\n"
                    "Open constants (of `toy`): `T = bf16`, `D` (required), `BM = auto`.\n");
    expect_in(page, "kernel toy_causal_64(extra: tensor<i32>[Z]) = toy_causal(D: 64);\n```\n\n"
                    "Open constants (of `toy`): `T = bf16`, `BM = auto`.\n\nHead dim 64.\n");
    /* the separator line itself is no documentation */
    assert_null(strstr(page, "kernels ---"));
    free(page);
    free(diags);
}

static void untested_file_is_said(void **state)
{
    (void)state;
    const char *paths[] = {path_of("toy.tile")};
    char *page, *diags;
    assert_int_equal(run_doc(paths, 1, &page, &diags), TILE_OK);
    expect_in(page, "No library test states what it covers (a `Tested (toy.tile):` paragraph");
    free(page);
    free(diags);
}

static void missing_header_is_an_error(void **state)
{
    (void)state;
    write_file("bare.tile", "fn f(x) { x }\n");
    write_file("wrong.tile", "// other.tile - a title\nfn f(x) { x }\n");
    const char *names[] = {"bare.tile", "wrong.tile"};
    for (int i = 0; i < 2; i++) {
        const char *paths[] = {path_of(names[i])};
        char *page, *diags, want[600];
        assert_int_not_equal(run_doc(paths, 1, &page, &diags), TILE_OK);
        snprintf(want, sizeof want,
                 "%s:1:1: error: a library file starts with a header comment '// %s - title "
                 "(paper)'", paths[0], names[i]);
        if (!strstr(diags, want)) fail_msg("want '%s' in:\n%s", want, diags);
        free(page);
        free(diags);
    }
}

static void syntax_error_is_reported(void **state)
{
    (void)state;
    write_file("broken.tile", "// broken.tile - broken\nfn f(x { x }\n");
    const char *paths[] = {path_of("broken.tile")};
    char *page, *diags;
    assert_int_equal(run_doc(paths, 1, &page, &diags), TILE_ERR_SYNTAX);
    char want[600];
    snprintf(want, sizeof want, "%s:2:", paths[0]);
    if (!strstr(diags, want)) fail_msg("want '%s' in:\n%s", want, diags);
    free(page);
    free(diags);
}

/* `///` doc comments read as `//` ones: prose, formulas and blank lines
 * alike, with no "/ " left over. */
static void triple_slash_comments(void **state)
{
    (void)state;
    write_file("slash.tile",
               "// slash.tile - doc comments with three slashes\n"
               "///\n"
               "/// Header prose.\n"
               "\n"
               "/// Doubles x:\n"
               "///     y = 2 x\n"
               "///\n"
               "/// for every element.\n"
               "fn twice(x) -> f32 {\n"
               "    x * 2.0\n"
               "}\n"
               "\n"
               "/// ---- kernels ----\n"
               "/// The kernels.\n"
               "\n"
               "/// Stores twice q.\n"
               "kernel dbl(q: tensor<f32>[M], o: out tensor<f32>[M]) grid(1)\n"
               "{\n"
               "    store(o[arange(M)], twice(load(q[arange(M)])));\n"
               "}\n");
    const char *paths[] = {path_of("slash.tile")};
    char *page, *diags;
    assert_int_equal(run_doc(paths, 1, &page, &diags), TILE_OK);
    assert_string_equal(diags, "");
    expect_in(page, "doc comments with three slashes\n\nHeader prose.\n");
    expect_in(page, "fn twice(x) -> f32\n```\n\nDoubles x:\n\n```\n    y = 2 x\n```\n\n"
                    "for every element.\n");
    expect_in(page, "### kernels\n\nThe kernels.\n");
    expect_in(page, "Stores twice q.\n");
    if (strstr(page, "\n/ ")) fail_msg("a line starting '/ ' in the page:\n%s", page);
    assert_null(strstr(page, "kernels ---"));
    free(page);
    free(diags);
}

/* Runs `tilec ARGS` in dir; returns the exit status, stderr in err. */
static int tilec(char *err, size_t errlen, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && %s/tilec %s 2>stderr.txt >stdout.txt", dir,
             TILE_BINARY_DIR, args);
    int st = system(cmd);
    FILE *f = fopen(path_of("stderr.txt"), "r");
    size_t n = f ? fread(err, 1, errlen - 1, f) : 0;
    err[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void command_line(void **state)
{
    (void)state;
    char err[2048];
    assert_int_equal(tilec(err, sizeof err, "doc -o page.md toy.tile test_lib_toy.c"), 0);
    assert_string_equal(err, "");
    FILE *f = fopen(path_of("page.md"), "r");
    assert_non_null(f);
    char page[8192];
    size_t n = fread(page, 1, sizeof page - 1, f);
    page[n] = 0;
    fclose(f);
    expect_in(page, "# The attention library\n");
    expect_in(page, "## toy.tile: toy attention\n");

    assert_int_equal(tilec(err, sizeof err, "doc"), 2);
    expect_in(err, "doc needs at least one FILE");
    assert_int_equal(tilec(err, sizeof err, "doc --emit=ir toy.tile"), 2);
    expect_in(err, "unknown option '--emit=ir' for 'doc'");
    assert_int_equal(tilec(err, sizeof err, "doc -o"), 2);
    assert_int_equal(tilec(err, sizeof err, "doc nosuch.tile"), 1);
    expect_in(err, "cannot read nosuch.tile");
    assert_int_equal(tilec(err, sizeof err, "doc test_lib_toy.c"), 1);
    expect_in(err, "no .tile file given");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conventions),
        cmocka_unit_test(untested_file_is_said),
        cmocka_unit_test(missing_header_is_an_error),
        cmocka_unit_test(syntax_error_is_reported),
        cmocka_unit_test(triple_slash_comments),
        cmocka_unit_test(command_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
