/* test_rt_cache.c - runtime/rt_cache.c: what the key covers (every field,
 * an imported file's text), entries that round-trip, truncated, corrupted
 * and misplaced entries refused, and several processes writing and reading
 * one key at once never seeing a torn entry. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/rt_cache.h"

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tile_rt_cache_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- keys --------------------------------------------------------------------- */
static void key_with(const rt_key_parts *p, uint8_t *key) { rt_cache_key(p, key); }

static void test_key_fields(void **state)
{
    (void)state;
    src_file b = {.path = "b.tile", .text = "fn f() {}", .len = 9};
    src_file a = {.path = "a.tile", .text = "kernel k", .len = 8, .next = &b};
    rt_key_parts base = {.files = &a, .kernel = "k", .arch = "sm_90",
                         .facts = {.aligned16 = 3, .unit_stride = 1}, .num_warps = 4, .opt_level = 1};
    uint8_t k0[RT_KEY_SIZE], k1[RT_KEY_SIZE];
    key_with(&base, k0);
    key_with(&base, k1);
    assert_memory_equal(k0, k1, RT_KEY_SIZE); /* deterministic */
    rt_key_parts p[8];
    for (int i = 0; i < 8; i++) p[i] = base;
    src_file b2 = b, a2 = a, a3 = a;
    b2.text = "fn g() {}";           /* an imported file's text */
    a2.next = &b2;
    a3.path = "c.tile";              /* a path (assert locations name it) */
    p[0].files = &a2;
    p[1].files = &a3;
    p[2].kernel = "k2";
    p[3].arch = "sm_80";
    p[4].facts.aligned16 = 1;
    p[5].facts.unit_stride = 3;
    p[6].num_warps = 8;
    p[7].opt_level = 0;
    for (int i = 0; i < 8; i++) {
        key_with(&p[i], k1);
        if (memcmp(k0, k1, RT_KEY_SIZE) == 0) fail_msg("field %d does not change the key", i);
    }
    /* Length prefixes: moving a byte between two fields changes the key. */
    src_file x1 = {.path = "ab", .text = "c", .len = 1}, x2 = {.path = "a", .text = "bc", .len = 2};
    rt_key_parts q1 = base, q2 = base;
    q1.files = &x1, q2.files = &x2;
    key_with(&q1, k0);
    key_with(&q2, k1);
    assert_memory_not_equal(k0, k1, RT_KEY_SIZE);
    char hex[2 * RT_KEY_SIZE + 1];
    rt_key_hex(k0, hex);
    assert_int_equal(strlen(hex), 64);
    /* The switches that change generated code are part of the key. */
    const char *names[] = {"TILE_WGMMA", "TILE_CG_GENERIC_DOT", "TILE_CG_NO_VECTOR"};
    key_with(&base, k0);
    for (int i = 0; i < 3; i++) {
        setenv(names[i], "1", 1);
        key_with(&base, k1);
        unsetenv(names[i]);
        if (memcmp(k0, k1, RT_KEY_SIZE) == 0) fail_msg("%s does not change the key", names[i]);
    }
    key_with(&base, k1);
    assert_memory_equal(k0, k1, RT_KEY_SIZE);
}

/* A source listed again (same path and text) leaves the key as it is:
 * the scheduler's search registers the sources a second time, and a compile
 * with the schedule fixed must find the entries of the one that chose it.
 * Another text under the same path is no repeat. */
static void test_key_skips_repeats(void **state)
{
    (void)state;
    src_file b = {.path = "b.tile", .text = "fn f() {}", .len = 9};
    src_file a = {.path = "a.tile", .text = "kernel k() {}", .len = 13, .next = &b};
    src_file b2 = b, a2 = a;
    a2.next = &b2;
    b2.next = &a;                 /* a2, b2, a, b: the list registered twice */
    rt_key_parts once = {.files = &a, .kernel = "k", .arch = "sm_90", .opt_level = 1};
    rt_key_parts twice = once;
    twice.files = &a2;
    uint8_t k0[RT_KEY_SIZE], k1[RT_KEY_SIZE];
    key_with(&once, k0);
    key_with(&twice, k1);
    assert_memory_equal(k0, k1, RT_KEY_SIZE);
    assert_false(rt_file_repeated(&a2, &a2));
    assert_true(rt_file_repeated(&a2, &a));
    src_file a3 = a;
    a3.text = "kernel k() { }";   /* the same path, other text: counted */
    a3.len = 14;
    b2.next = &a3;
    a3.next = NULL;
    assert_false(rt_file_repeated(&a2, &a3));
    key_with(&twice, k1);
    assert_memory_not_equal(k0, k1, RT_KEY_SIZE);
}

/* A compilation's key follows the text of the files it imports. */
static void unit_key(const char *path, uint8_t *key)
{
    tc_unit *u = NULL;
    tc_options o = {.kernel = "k", .opt_level = 1};
    if (tc_compile(&u, path, NULL, &o) != TILE_OK) {
        diag_print_all(&u->diags, stderr);
        fail_msg("compile failed");
    }
    rt_key_parts p = {.files = u->diags.files, .kernel = "k", .arch = "sm_90", .opt_level = 1};
    rt_cache_key(&p, key);
    tc_unit_free(u);
}

static void test_key_follows_imports(void **state)
{
    (void)state;
    write_text("helper.tile", "fn twice(x) { x * 2.0 }\n");
    write_text("main.tile", "import \"helper.tile\";\n"
                            "kernel k(x: tensor<f32>[N], y: out tensor<f32>[N]) grid(1)\n"
                            "{ store(y[arange(4)], twice(load(x[arange(4)]))); }\n");
    char path[256];
    snprintf(path, sizeof path, "%s/main.tile", dir);
    uint8_t k0[RT_KEY_SIZE], k1[RT_KEY_SIZE];
    unit_key(path, k0);
    unit_key(path, k1);
    assert_memory_equal(k0, k1, RT_KEY_SIZE);
    write_text("helper.tile", "fn twice(x) { x + x }\n"); /* only the import changes */
    unit_key(path, k1);
    assert_memory_not_equal(k0, k1, RT_KEY_SIZE);
}

/* ---- entries ------------------------------------------------------------------- */
static rt_entry sample_entry(const char *ptx)
{
    tc_gpu_assert asserts[2] = {{.loc = {"lib/attention/flash_fwd.tile", 51, 5}, .message = "heads"},
                                {.loc = {"x.tile", 2, 9}, .message = ""}};
    tc_gpu_kernel gk = {.ptx = ptx, .ptx_size = strlen(ptx), .entry = "flash_fwd", .arch = "sm_90",
                        .num_warps = 4, .smem_bytes = 65536, .nasserts = 2, .asserts = asserts};
    rt_entry e;
    assert_int_equal(rt_entry_from_gpu(&e, &gk), TILE_OK);
    return e;
}

static void assert_same_entry(const rt_entry *a, const rt_entry *b)
{
    assert_int_equal(a->ptx_size, b->ptx_size);
    assert_string_equal(a->ptx, b->ptx);
    assert_string_equal(a->entry, b->entry);
    assert_string_equal(a->arch, b->arch);
    assert_int_equal(a->num_warps, b->num_warps);
    assert_int_equal(a->smem_bytes, b->smem_bytes);
    assert_int_equal(a->nasserts, b->nasserts);
    for (int i = 0; i < a->nasserts; i++) {
        assert_string_equal(a->asserts[i].file, b->asserts[i].file);
        assert_int_equal(a->asserts[i].line, b->asserts[i].line);
        assert_int_equal(a->asserts[i].col, b->asserts[i].col);
        assert_string_equal(a->asserts[i].message, b->asserts[i].message);
    }
}

static const uint8_t KEY[RT_KEY_SIZE] = {1, 2, 3, 4, 5};

static void test_round_trip(void **state)
{
    (void)state;
    rt_entry e = sample_entry(".version 8.0\n.target sm_90\n"), got;
    char sub[128], err[256];
    snprintf(sub, sizeof sub, "%s/new/nested", dir); /* created on demand */
    assert_false(rt_cache_load(sub, KEY, &got));
    assert_int_equal(rt_cache_store(sub, KEY, &e, err, sizeof err), TILE_OK);
    assert_true(rt_cache_load(sub, KEY, &got));
    assert_same_entry(&e, &got);
    rt_entry_free(&got);
    /* no disk cache: nothing stored, nothing found */
    assert_int_equal(rt_cache_store("", KEY, &e, err, sizeof err), TILE_OK);
    assert_false(rt_cache_load(NULL, KEY, &got));
    /* an unwritable folder is an I/O error with the path */
    assert_int_equal(rt_cache_store("/proc/no_such_dir", KEY, &e, err, sizeof err), TILE_ERR_IO);
    assert_non_null(strstr(err, "cannot write the kernel cache entry /proc/no_such_dir/"));
    rt_entry_free(&e);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    rt_entry e = sample_entry("// some PTX\n.entry flash_fwd()\n{\n ret;\n}\n"), got;
    char err[256], path[512];
    assert_int_equal(rt_cache_store(dir, KEY, &e, err, sizeof err), TILE_OK);
    rt_cache_path(dir, KEY, path, sizeof path);
    long size = file_size(path);
    assert_true(size > 80 && size < 100000);
    FILE *f = fopen(path, "rb");
    unsigned char *good = malloc((size_t)size & 0xfffff);
    assert_int_equal(fread(good, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    /* every truncation is refused */
    for (long n = 0; n < size; n += (n < 100 ? 1 : 7)) {
        f = fopen(path, "wb");
        fwrite(good, 1, (size_t)n, f);
        fclose(f);
        if (rt_cache_load(dir, KEY, &got)) fail_msg("an entry truncated to %ld bytes was trusted", n);
    }
    /* every flipped byte (header and payload) is refused */
    for (long i = 0; i < size; i++) {
        good[i] ^= 0x20;
        f = fopen(path, "wb");
        fwrite(good, 1, (size_t)size, f);
        fclose(f);
        good[i] ^= 0x20;
        if (rt_cache_load(dir, KEY, &got)) fail_msg("an entry with byte %ld flipped was trusted", i);
    }
    /* trailing garbage too */
    f = fopen(path, "wb");
    fwrite(good, 1, (size_t)size, f);
    fputc(0, f);
    fclose(f);
    assert_false(rt_cache_load(dir, KEY, &got));
    /* an intact entry under another key's name is not that key's */
    uint8_t other[RT_KEY_SIZE] = {9};
    char other_path[512];
    rt_cache_path(dir, other, other_path, sizeof other_path);
    f = fopen(other_path, "wb");
    fwrite(good, 1, (size_t)size, f);
    fclose(f);
    assert_false(rt_cache_load(dir, other, &got));
    /* rewriting repairs it (what the runtime does after recompiling) */
    assert_int_equal(rt_cache_store(dir, KEY, &e, err, sizeof err), TILE_OK);
    assert_true(rt_cache_load(dir, KEY, &got));
    assert_same_entry(&e, &got);
    rt_entry_free(&got);
    rt_entry_free(&e);
    free(good);
}

/* Writers store different (valid) entries under one key while readers
 * load it: every load is a miss or one writer's entry, whole. */
enum { WRITERS = 6, ROUNDS = 40, PTX_SIZE = 300000 };

static char *writer_ptx(int w)
{
    char *ptx = malloc(PTX_SIZE + 1);
    memset(ptx, 'a' + w, PTX_SIZE);
    ptx[PTX_SIZE] = 0;
    return ptx;
}

static int child(int w)
{
    char *ptx = writer_ptx(w), err[256];
    rt_entry e = sample_entry(ptx), got;
    for (int r = 0; r < ROUNDS; r++) {
        if (rt_cache_store(dir, KEY, &e, err, sizeof err) != TILE_OK) return 2;
        if (!rt_cache_load(dir, KEY, &got)) return 3; /* once written, never a miss */
        char c = got.ptx[0];
        bool whole = got.ptx_size == PTX_SIZE && c >= 'a' && c < 'a' + WRITERS;
        for (size_t i = 0; whole && i < got.ptx_size; i++) whole = got.ptx[i] == c;
        rt_entry_free(&got);
        if (!whole) return 4;
    }
    rt_entry_free(&e);
    free(ptx);
    return 0;
}

static void test_concurrent_writers(void **state)
{
    (void)state;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/concurrent", dir);
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/concurrent");
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) _exit(child(w));
    }
    for (int w = 0; w < WRITERS; w++) {
        int st;
        assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("writer %d failed (status %d)", w, st);
    }
    /* one entry left, no temporary files */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", sub);
    assert_int_equal(system(cmd), 0);
    *strrchr(dir, '/') = 0;
}

static void test_default_dir(void **state)
{
    (void)state;
    setenv("TILE_CACHE_DIR", "/x/y", 1);
    char *d = rt_cache_default_dir();
    assert_string_equal(d, "/x/y");
    free(d);
    unsetenv("TILE_CACHE_DIR");
    setenv("HOME", "/home/someone", 1);
    d = rt_cache_default_dir();
    assert_string_equal(d, "/home/someone/.cache/tile");
    free(d);
    assert_non_null(strstr(rt_compiler_version(), "tile "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_fields),
        cmocka_unit_test(test_key_skips_repeats),
        cmocka_unit_test_setup_teardown(test_key_follows_imports, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_round_trip, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_truncated_and_corrupt, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, make_dir, remove_dir),
        cmocka_unit_test(test_default_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
