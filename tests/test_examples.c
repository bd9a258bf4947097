/* test_examples.c - the attention examples under examples/ run as a user
 * runs them, through `tilec run --interp` with .npy inputs, and checked
 * against the naive double references of tests/ref/examples_ref.c:
 * kronecker_attention.tile (pairs of keys), positional_attention.tile
 * (scores from positions only, shared over the batch), lowrank_attention.tile
 * (LAMA's low-rank bilinear heads).  Fresh random inputs per case; odd
 * lengths, length 1 and M != N; f32 tolerance (th_rtol); each run also at
 * -O0, bit-identical. */
#include <math.h>
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

#include "compiler/npy.h"
#include "ref/examples_ref.h"
#include "ref/harness.h"

static char dir[256];

/* Runs tilec with `args` (shell words) in dir, its stderr passed on;
 * returns the exit status. */
static int tilec(const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && { %s/tilec %s >/dev/null 2>stderr.txt; rc=$?; "
             "cat stderr.txt >&2; exit $rc; }", dir, TILE_BINARY_DIR, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Random inputs uniform in [-1, 1), written to dir/NAME.npy (f32). */
static float *put(th_rng *rng, const char *name, int rank, const int64_t *shape)
{
    interp_tensor t = {.dtype = IR_F32, .rank = rank};
    size_t n = 1;
    for (int d = 0; d < rank; d++) n *= (size_t)(t.shape[d] = shape[d]);
    float *x = TH_NEW(float, n);
    th_fill(rng, x, n, -1, 1, IR_F32);
    t.data = x;
    interp_contiguous_strides(&t);
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    assert_int_equal(npy_write(path, &t, err, sizeof err), TILE_OK);
    return x;
}

/* dir/REL as n floats (checks the element count). */
static float *get(const char *rel, size_t n)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    arena mem;
    arena_init(&mem);
    interp_tensor t;
    assert_int_equal(npy_read(path, &mem, IR_F32, &t, err, sizeof err), TILE_OK);
    size_t got = 1;
    for (int d = 0; d < t.rank; d++) got *= (size_t)t.shape[d];
    assert_int_equal(got, n);
    float *x = TH_NEW(float, n);
    memcpy(x, t.data, n * sizeof *x);
    arena_free(&mem);
    return x;
}

/* Runs `args` at -O1 into OUT1 and at -O0 into OUT1-O0 (args end with
 * "--out-dir OUT1"); the two outputs REL must be bit-identical (the IR
 * passes never change a result).  Returns the -O1 output of n floats, or
 * NULL if a run failed. */
static float *run_both(const char *args, const char *out1, const char *rel, size_t n)
{
    if (tilec("%s", args) != 0 || tilec("%s-O0 -O0", args) != 0) return NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", out1, rel);
    float *o = get(path, n);
    snprintf(path, sizeof path, "%s-O0/%s", out1, rel);
    float *o0 = get(path, n);
    bool same = memcmp(o, o0, n * sizeof *o) == 0;
    if (!same) fprintf(stderr, "%s: -O0 and -O1 outputs differ\n", out1);
    free(o0);
    if (!same) {
        free(o);
        return NULL;
    }
    return o;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tile_test_examples.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static bool kronecker_case(int Z, int M, int N, uint64_t seed)
{
    const int D = 16;
    const double scale = 0.25;
    th_rng rng = th_rng_new(seed);
    float *q = put(&rng, "q", TH_DIMS(Z, M, D));
    float *k1 = put(&rng, "k1", TH_DIMS(Z, N, D)), *k2 = put(&rng, "k2", TH_DIMS(Z, N, D));
    float *v1 = put(&rng, "v1", TH_DIMS(Z, N, D)), *v2 = put(&rng, "v2", TH_DIMS(Z, N, D));
    char args[1024];
    snprintf(args, sizeof args, "run %s/examples/kronecker_attention.tile -k kronecker_attention "
             "--interp --in q=q.npy --in k1=k1.npy --in k2=k2.npy --in v1=v1.npy --in v2=v2.npy "
             "-D scale=%g --out-dir kron", TILE_SOURCE_DIR, scale);
    size_t n = (size_t)Z * M * D;
    float *o = run_both(args, "kron", "o.npy", n);
    bool ok = o != NULL;
    if (ok) {
        double *ref = TH_NEW(double, n);
        kron_attention_ref(Z, M, N, D, q, k1, k2, v1, v2, (float)scale, ref);
        char what[128];
        snprintf(what, sizeof what, "kronecker_attention Z=%d M=%d N=%d: O", Z, M, N);
        ok = th_check(what, o, ref, TH_DIMS(Z, M, D), th_rtol(IR_F32));
        free(o), free(ref);
    }
    free(q), free(k1), free(k2), free(v1), free(v2);
    return ok;
}

static void test_kronecker(void **state)
{
    (void)state;
    assert_true(kronecker_case(2, 21, 11, 11));
    assert_true(kronecker_case(1, 40, 19, 12));   /* several query and key blocks */
    assert_true(kronecker_case(1, 1, 1, 13));
}

static bool positional_case(int Z, int H, int M, int N, uint64_t seed)
{
    const int D = 16, E = 16;
    const double scale = 0.25;
    th_rng rng = th_rng_new(seed);
    float *pq = put(&rng, "pq", TH_DIMS(H, M, D)), *pk = put(&rng, "pk", TH_DIMS(H, N, D));
    float *v = put(&rng, "v", TH_DIMS(Z, H, N, E));
    char args[1024];
    snprintf(args, sizeof args, "run %s/examples/positional_attention.tile -k positional_attention "
             "--interp --in pq=pq.npy --in pk=pk.npy --in v=v.npy -D scale=%g --out-dir pos",
             TILE_SOURCE_DIR, scale);
    size_t n = (size_t)Z * H * M * E;
    float *o = run_both(args, "pos", "o.npy", n);
    bool ok = o != NULL;
    if (ok) {
        double *ref = TH_NEW(double, n);
        positional_attention_ref(Z, H, M, N, D, E, pq, pk, v, (float)scale, ref);
        char what[128];
        snprintf(what, sizeof what, "positional_attention Z=%d H=%d M=%d N=%d: O", Z, H, M, N);
        ok = th_check(what, o, ref, TH_DIMS(Z, H, M, E), th_rtol(IR_F32));
        free(o), free(ref);
    }
    free(pq), free(pk), free(v);
    return ok;
}

static void test_positional(void **state)
{
    (void)state;
    assert_true(positional_case(3, 2, 37, 29, 21));
    assert_true(positional_case(2, 1, 20, 45, 22));
    assert_true(positional_case(1, 2, 1, 1, 23));
}

static bool lowrank_case(int Z, int N, uint64_t seed)
{
    const int DX = 16, DC = 8, R = 4, H = 3;
    th_rng rng = th_rng_new(seed);
    float *x = put(&rng, "x", TH_DIMS(Z, N, DX)), *u = put(&rng, "u", TH_DIMS(DX, R));
    float *c = put(&rng, "c", TH_DIMS(DC)), *w = put(&rng, "w", TH_DIMS(DC, R));
    float *p = put(&rng, "p", TH_DIMS(H, R));
    char args[1024];
    snprintf(args, sizeof args, "run %s/examples/lowrank_attention.tile -k lowrank_attention "
             "--interp --in x=x.npy --in u=u.npy --in c=c.npy --in w=w.npy --in p=p.npy "
             "--out-dir lama", TILE_SOURCE_DIR);
    size_t n = (size_t)Z * H * DX;
    float *o = run_both(args, "lama", "o.npy", n);
    bool ok = o != NULL;
    if (ok) {
        double *ref = TH_NEW(double, n);
        lowrank_attention_ref(Z, N, DX, DC, R, H, x, u, c, w, p, ref);
        char what[128];
        snprintf(what, sizeof what, "lowrank_attention Z=%d N=%d: O", Z, N);
        ok = th_check(what, o, ref, TH_DIMS(Z, H, DX), th_rtol(IR_F32));
        free(o), free(ref);
    }
    free(x), free(u), free(c), free(w), free(p);
    return ok;
}

static void test_lowrank(void **state)
{
    (void)state;
    assert_true(lowrank_case(2, 50, 31));
    assert_true(lowrank_case(3, 17, 32));
    assert_true(lowrank_case(1, 1, 33));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kronecker),
        cmocka_unit_test(test_positional),
        cmocka_unit_test(test_lowrank),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
