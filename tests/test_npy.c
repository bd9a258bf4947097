/* test_npy.c - .npy reading and writing: round trips, files written byte
 * by byte the way NumPy writes them, dtype conversions (and refusals),
 * and malformed files that must give a message rather than a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/npy.h"
#include "support/fp16.h"

static char tmpdir[64];
static int nfiles;
static char paths[64][128];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/tile_npy_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < nfiles; i++) unlink(paths[i]);
    return rmdir(tmpdir);
}

static const char *tmp_path(const char *name)
{
    assert_true(nfiles < 64);
    snprintf(paths[nfiles], sizeof paths[0], "%s/%s", tmpdir, name);
    return paths[nfiles++];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static size_t read_bytes(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* Builds a file: magic, version, header dict padded NumPy's way, data. */
static size_t make_npy(unsigned char *buf, int major, const char *dict, const void *data,
                       size_t ndata)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = dl + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)(hlen & 0xff);
        buf[9] = (unsigned char)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl - 1);
    buf[pre + hlen - 1] = '\n';
    if (ndata) memcpy(buf + pre + hlen, data, ndata);
    return pre + hlen + ndata;
}

static tile_status read_as(const char *path, ir_dtype want, interp_tensor *t, arena *mem,
                           char *err)
{
    return npy_read(path, mem, want, t, err, 256);
}

static uint16_t u16_at(const interp_tensor *t, int i) { return ((const uint16_t *)t->data)[i]; }

/* ---- tests ------------------------------------------------------------- */

static void test_numpy_bytes(void **state)
{
    (void)state;
    /* np.save('x.npy', np.array([1, 2, 3], dtype='<f4')) */
    float v[3] = {1, 2, 3};
    interp_tensor t = {IR_F32, 1, {3}, {1}, v};
    const char *p = tmp_path("f32.npy");
    char err[256];
    assert_int_equal(npy_write(p, &t, err, sizeof err), TILE_OK);
    unsigned char got[256], want[256];
    size_t n = read_bytes(p, got, sizeof got);
    size_t m = make_npy(want, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", v, 12);
    assert_int_equal(n, 140);
    assert_int_equal(m, 140);
    assert_memory_equal(got, want, n);
    assert_int_equal(got[8], 118); /* header length as NumPy writes it */
}

static void test_hand_written_f64(void **state)
{
    (void)state;
    double d[4] = {1.5, -2.0, 1.0 + 1.0 / 256 + ldexp(1, -40), 1e300};
    unsigned char buf[512];
    size_t n = make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", d,
                        sizeof d);
    const char *p = tmp_path("f64.npy");
    write_bytes(p, buf, n);
    arena mem;
    arena_init(&mem);
    char err[256];
    interp_tensor t;
    assert_int_equal(read_as(p, IR_F32, &t, &mem, err), TILE_OK);
    assert_int_equal(t.rank, 2);
    assert_int_equal(t.shape[0], 2);
    assert_int_equal(t.shape[1], 2);
    assert_int_equal(t.strides[0], 2);
    assert_int_equal(t.strides[1], 1);
    const float *f = t.data;
    assert_true(f[0] == 1.5f && f[1] == -2.0f);
    assert_true(f[2] == 1.0f + 1.0f / 256); /* f32 nearest */
    assert_true(isinf(f[3]));
    /* to bf16: rounded once from the double.  Through f32 it would tie and
     * go to 1.0; the exact value is just above the tie: 1 + 2^-7. */
    assert_int_equal(read_as(p, IR_BF16, &t, &mem, err), TILE_OK);
    assert_true(fp_bf16_to_f32(u16_at(&t, 2)) == 1.0f + 1.0f / 128);
    assert_true(fp_bf16_to_f32(u16_at(&t, 0)) == 1.5f);
    assert_int_equal(u16_at(&t, 3), 0x7f80); /* inf */
    assert_int_equal(read_as(p, IR_F16, &t, &mem, err), TILE_OK);
    assert_true(fp_f16_to_f32(u16_at(&t, 1)) == -2.0f);
    assert_true(fp_f16_to_f32(u16_at(&t, 2)) == 1.0f + 1.0f / 256); /* exact in f16 */
    assert_int_equal(u16_at(&t, 3), 0x7c00);
    /* refusal: 1.5 is not an integer */
    assert_int_equal(read_as(p, IR_I32, &t, &mem, err), TILE_ERR_ARG);
    assert_non_null(strstr(err, "refusing to truncate float data ('<f8') to i32"));
    assert_int_equal(read_as(p, IR_BOOL, &t, &mem, err), TILE_ERR_ARG);
    arena_free(&mem);
}

static void test_versions_2_and_3(void **state)
{
    (void)state;
    int32_t v[6] = {1, -2, 3, -4, 5, 2147483647};
    unsigned char buf[512];
    arena mem;
    arena_init(&mem);
    char err[256];
    interp_tensor t;
    for (int major = 2; major <= 3; major++) {
        size_t n = make_npy(buf, major,
                            "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2)}", v, 24);
        const char *p = tmp_path(major == 2 ? "v2.npy" : "v3.npy");
        write_bytes(p, buf, n);
        assert_int_equal(read_as(p, IR_I64, &t, &mem, err), TILE_OK);
        assert_int_equal(t.rank, 2);
        for (int i = 0; i < 6; i++) assert_int_equal(((int64_t *)t.data)[i], v[i]);
        assert_int_equal(read_as(p, IR_F32, &t, &mem, err), TILE_OK);
        assert_true(((float *)t.data)[5] == 2147483648.0f);
        assert_int_equal(read_as(p, IR_BF16, &t, &mem, err), TILE_OK);
        assert_true(fp_bf16_to_f32(u16_at(&t, 1)) == -2.0f);
    }
    arena_free(&mem);
}

static void test_round_trips(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    char err[256];
    interp_tensor r;

    /* f32 through a transposed (strided) view: written in C order */
    float base[6] = {0, 1, 2, 3, 4, 5}; /* [2,3] row-major */
    interp_tensor tv = {IR_F32, 2, {3, 2}, {1, 3}, base};
    const char *p = tmp_path("rt_f32.npy");
    assert_int_equal(npy_write(p, &tv, err, sizeof err), TILE_OK);
    assert_int_equal(read_as(p, IR_F32, &r, &mem, err), TILE_OK);
    assert_int_equal(r.shape[0], 3);
    assert_int_equal(r.shape[1], 2);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) assert_true(((float *)r.data)[i * 2 + j] == base[j * 3 + i]);

    /* bf16: written as exact f32, read back bit-identical */
    uint16_t hb[5] = {0x3f80, 0xc0a0, 0x0001, 0x7f80, 0x3eab};
    interp_tensor tb = {IR_BF16, 1, {5}, {1}, hb};
    p = tmp_path("rt_bf16.npy");
    assert_int_equal(npy_write(p, &tb, err, sizeof err), TILE_OK);
    assert_int_equal(read_as(p, IR_BF16, &r, &mem, err), TILE_OK);
    assert_memory_equal(r.data, hb, sizeof hb);
    unsigned char raw[256];
    size_t n = read_bytes(p, raw, sizeof raw);
    raw[n < sizeof raw ? n : sizeof raw - 1] = 0;
    assert_non_null(strstr((char *)raw + 10, "'descr': '<f4'"));

    /* f16 as '<f2' */
    uint16_t h16[3] = {0x3c00, 0x0001, 0xfbff};
    interp_tensor th = {IR_F16, 1, {3}, {1}, h16};
    p = tmp_path("rt_f16.npy");
    assert_int_equal(npy_write(p, &th, err, sizeof err), TILE_OK);
    assert_int_equal(read_as(p, IR_F16, &r, &mem, err), TILE_OK);
    assert_memory_equal(r.data, h16, sizeof h16);
    assert_int_equal(read_as(p, IR_F32, &r, &mem, err), TILE_OK);
    assert_true(((float *)r.data)[2] == -65504.0f);

    /* i32, i64, bool */
    int32_t i32[4] = {INT32_MIN, -1, 0, INT32_MAX};
    interp_tensor ti = {IR_I32, 2, {2, 2}, {2, 1}, i32};
    p = tmp_path("rt_i32.npy");
    assert_int_equal(npy_write(p, &ti, err, sizeof err), TILE_OK);
    assert_int_equal(read_as(p, IR_I32, &r, &mem, err), TILE_OK);
    assert_memory_equal(r.data, i32, sizeof i32);
    int64_t i64[2] = {INT64_MIN, (int64_t)1 << 40};
    interp_tensor tl = {IR_I64, 1, {2}, {1}, i64};
    p = tmp_path("rt_i64.npy");
    assert_int_equal(npy_write(p, &tl, err, sizeof err), TILE_OK);
    assert_int_equal(read_as(p, IR_I64, &r, &mem, err), TILE_OK);
    assert_memory_equal(r.data, i64, sizeof i64);
    assert_int_equal(read_as(p, IR_I32, &r, &mem, err), TILE_ERR_ARG);
    assert_non_null(strstr(err, "does not fit in i32"));
    uint8_t bl[3] = {1, 0, 7};
    interp_tensor tbo = {IR_BOOL, 1, {3}, {1}, bl};
    p = tmp_path("rt_bool.npy");
    assert_int_equal(npy_write(p, &tbo, err, sizeof err), TILE_OK);
    assert_int_equal(read_as(p, IR_BOOL, &r, &mem, err), TILE_OK);
    assert_int_equal(((uint8_t *)r.data)[2], 1);
    assert_int_equal(read_as(p, IR_F32, &r, &mem, err), TILE_OK);
    assert_true(((float *)r.data)[0] == 1.0f && ((float *)r.data)[1] == 0.0f);

    /* rank 0 and empty arrays */
    float one = 42.0f;
    interp_tensor t0 = {IR_F32, 0, {0}, {0}, &one};
    p = tmp_path("rt_scalar.npy");
    assert_int_equal(npy_write(p, &t0, err, sizeof err), TILE_OK);
    assert_int_equal(read_as(p, IR_F32, &r, &mem, err), TILE_OK);
    assert_int_equal(r.rank, 0);
    assert_true(*(float *)r.data == 42.0f);
    interp_tensor te = {IR_F32, 2, {0, 3}, {3, 1}, NULL};
    p = tmp_path("rt_empty.npy");
    assert_int_equal(npy_write(p, &te, err, sizeof err), TILE_OK);
    assert_int_equal(read_as(p, IR_F32, &r, &mem, err), TILE_OK);
    assert_int_equal(r.rank, 2);
    assert_int_equal(r.shape[0], 0);
    assert_int_equal(r.shape[1], 3);
    arena_free(&mem);
}

static void test_bf16_descrs(void **state)
{
    (void)state;
    uint16_t bits[3] = {0x3f80, 0x4049, 0xbf00};
    const char *dicts[3] = {"{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }",
                            "{'descr': '|V2', 'fortran_order': False, 'shape': (3,), }",
                            "{'descr': 'bfloat16', 'fortran_order': False, 'shape': (3,), }"};
    arena mem;
    arena_init(&mem);
    char err[256];
    interp_tensor r;
    unsigned char buf[256];
    for (int k = 0; k < 3; k++) {
        size_t n = make_npy(buf, 1, dicts[k], bits, sizeof bits);
        const char *p = tmp_path(k == 0 ? "bf_u2.npy" : k == 1 ? "bf_v2.npy" : "bf_name.npy");
        write_bytes(p, buf, n);
        if (k == 0) { /* '<u2' for bf16: raw bits or values?  Refused, not guessed */
            assert_int_equal(read_as(p, IR_BF16, &r, &mem, err), TILE_ERR_ARG);
            assert_non_null(strstr(err, "'<u2' data for a bf16 tensor is ambiguous"));
        } else {
            assert_int_equal(read_as(p, IR_BF16, &r, &mem, err), TILE_OK);
            assert_memory_equal(r.data, bits, sizeof bits);
        }
        if (k) { /* V2 / bfloat16 are bf16 values for any float dtype */
            assert_int_equal(read_as(p, IR_F32, &r, &mem, err), TILE_OK);
            assert_true(((float *)r.data)[1] == 3.140625f);
            assert_true(((float *)r.data)[2] == -0.5f);
        } else { /* '<u2' for a non-bf16 request is an integer array */
            assert_int_equal(read_as(p, IR_I32, &r, &mem, err), TILE_OK);
            assert_int_equal(((int32_t *)r.data)[0], 0x3f80);
        }
    }
    arena_free(&mem);
}

static void test_int_conversions(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    char err[256];
    interp_tensor r;
    unsigned char buf[256];
    /* integral floats may become ints; others are refused */
    float fl[3] = {3.0f, -7.0f, 16777216.0f};
    size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", fl, 12);
    const char *p = tmp_path("int_f4.npy");
    write_bytes(p, buf, n);
    assert_int_equal(read_as(p, IR_I32, &r, &mem, err), TILE_OK);
    assert_int_equal(((int32_t *)r.data)[1], -7);
    assert_int_equal(((int32_t *)r.data)[2], 16777216);
    /* u8 beyond i64 */
    uint64_t big[1] = {UINT64_MAX};
    n = make_npy(buf, 1, "{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", big, 8);
    p = tmp_path("int_u8.npy");
    write_bytes(p, buf, n);
    assert_int_equal(read_as(p, IR_I64, &r, &mem, err), TILE_ERR_ARG);
    assert_non_null(strstr(err, "does not fit in a 64-bit integer"));
    /* int -> bf16 rounds once: 2^24 + 2^16 + 1 -> 2^24 + 2^17 */
    int64_t iv[2] = {(1 << 24) + (1 << 16) + 1, 257};
    n = make_npy(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", iv, 16);
    p = tmp_path("int_i8.npy");
    write_bytes(p, buf, n);
    assert_int_equal(read_as(p, IR_BF16, &r, &mem, err), TILE_OK);
    assert_true(fp_bf16_to_f32(u16_at(&r, 0)) == 16908288.0f);
    assert_true(fp_bf16_to_f32(u16_at(&r, 1)) == 256.0f);
    /* u1 and i1 */
    uint8_t u1[2] = {255, 0};
    n = make_npy(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", u1, 2);
    p = tmp_path("int_u1.npy");
    write_bytes(p, buf, n);
    assert_int_equal(read_as(p, IR_I32, &r, &mem, err), TILE_OK);
    assert_int_equal(((int32_t *)r.data)[0], 255);
    n = make_npy(buf, 1, "{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", u1, 2);
    p = tmp_path("int_i1.npy");
    write_bytes(p, buf, n);
    assert_int_equal(read_as(p, IR_I32, &r, &mem, err), TILE_OK);
    assert_int_equal(((int32_t *)r.data)[0], -1);
    assert_int_equal(read_as(p, IR_BOOL, &r, &mem, err), TILE_OK);
    assert_int_equal(((uint8_t *)r.data)[0], 1);
    assert_int_equal(((uint8_t *)r.data)[1], 0);
    arena_free(&mem);
}

/* Each malformed file must fail with TILE_ERR_IO and a message. */
static void expect_bad(const char *name, const void *bytes, size_t n, const char *needle)
{
    const char *p = tmp_path(name);
    write_bytes(p, bytes, n);
    arena mem;
    arena_init(&mem);
    char err[256];
    interp_tensor r;
    tile_status s = read_as(p, IR_F32, &r, &mem, err);
    if (s != TILE_ERR_IO || !strstr(err, needle))
        fail_msg("%s: status %d, message '%s', expected '%s'", name, (int)s, err, needle);
    assert_non_null(strstr(err, p)); /* the message names the file */
    arena_free(&mem);
}

static void test_malformed(void **state)
{
    (void)state;
    unsigned char buf[1024];
    float data[4] = {1, 2, 3, 4};
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
    size_t n = make_npy(buf, 1, good, data, 16);

    expect_bad("magic.npy", "\x93NUMPX\x01\x00", 8, "bad magic");
    expect_bad("short.npy", "\x93NUM", 4, "bad magic");
    expect_bad("empty.npy", "", 0, "bad magic");
    expect_bad("cut_header.npy", buf, 40, "truncated");
    expect_bad("cut_len.npy", buf, 9, "truncated");
    expect_bad("cut_data.npy", buf, n - 1, "truncated data");
    unsigned char extra[1024];
    memcpy(extra, buf, n);
    extra[n] = 0;
    expect_bad("extra.npy", extra, n + 1, "1 bytes after the array data");
    unsigned char v9[1024];
    memcpy(v9, buf, n);
    v9[6] = 9;
    expect_bad("version.npy", v9, n, "unsupported .npy format version 9.0");
    unsigned char hl[16];
    memcpy(hl, "\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12);
    expect_bad("huge_hlen.npy", hl, 12, "too large");

    struct {
        const char *name, *dict, *needle;
    } cases[] = {
        {"fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "Fortran-order"},
        {"bigend.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", "big-endian"},
        {"struct.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", "structured"},
        {"nokey.npy", "{'descr': '<f4', 'shape': (4,), }", "lacks"},
        {"badkey.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", "unexpected key"},
        {"garbage.npy", "hello world", "malformed header"},
        {"badshape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,-1), }", "malformed shape"},
        {"rank7.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,4), }", "more dimensions"},
        {"overflow.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "too large"},
        {"hugeshape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", "too large"},
        {"bigshape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }", "truncated data"},
        {"dtype.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", "unsupported dtype"},
        {"dtype2.npy", "{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }", "unsupported float size"},
        {"unterminated.npy", "{'descr': '<f4", "malformed header"},
        {"noclose.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,", "malformed shape"},
        {"trailing.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } (8,)", "malformed header"},
        {"aftershape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,) 'x': 1}", "malformed header"},
        {"twodicts.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }{}", "malformed header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t m = make_npy(buf, 1, cases[i].dict, data, 16);
        expect_bad(cases[i].name, buf, m, cases[i].needle);
    }
    /* a NUL inside the header */
    size_t m = make_npy(buf, 1, good, data, 16);
    buf[20] = 0;
    expect_bad("nul.npy", buf, m, "NUL");

    arena mem;
    arena_init(&mem);
    char err[256];
    interp_tensor r;
    assert_int_equal(npy_read("/nonexistent/x.npy", &mem, IR_F32, &r, err, sizeof err), TILE_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/x.npy: cannot open"));
    arena_free(&mem);
}

static void test_write_errors(void **state)
{
    (void)state;
    char err[256];
    interp_tensor t = {IR_F32, 1, {3}, {1}, NULL};
    assert_int_equal(npy_write(tmp_path("null.npy"), &t, err, sizeof err), TILE_ERR_ARG);
    assert_non_null(strstr(err, "NULL"));
    float v[3] = {0};
    t.data = v;
    assert_int_equal(npy_write("/nonexistent/dir/x.npy", &t, err, sizeof err), TILE_ERR_IO);
    assert_non_null(strstr(err, "cannot create"));
    t.shape[0] = -2;
    assert_int_equal(npy_write(tmp_path("neg.npy"), &t, err, sizeof err), TILE_ERR_ARG);
}

/* A shape whose element count is 0 needs no data however large its other
 * dims; its contiguous strides saturate instead of overflowing. */
static void test_empty_with_huge_dims(void **state)
{
    (void)state;
    unsigned char buf[256];
    size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (0, 4294967296, 4294967296, 4294967296), }", NULL, 0);
    const char *p = tmp_path("empty_huge.npy");
    write_bytes(p, buf, n);
    arena mem;
    arena_init(&mem);
    char err[256];
    interp_tensor t;
    assert_int_equal(read_as(p, IR_BF16, &t, &mem, err), TILE_OK);
    assert_int_equal(t.rank, 4);
    assert_int_equal(t.shape[0], 0);
    assert_int_equal(t.shape[3], 4294967296LL);
    assert_int_equal(t.strides[3], 1);
    assert_int_equal(t.strides[2], 4294967296LL);
    assert_true(t.strides[1] == INT64_MAX && t.strides[0] == INT64_MAX);
    /* and writes back without allocating a row of the huge inner dim (it
     * allocated inner * 4 bytes: 2^52 here, so it failed) */
    interp_tensor w = {.dtype = IR_F32, .rank = 2, .shape = {0, (int64_t)1 << 50}};
    interp_contiguous_strides(&w);
    const char *q = tmp_path("empty_huge_out.npy");
    assert_int_equal(npy_write(q, &w, err, sizeof err), TILE_OK);
    assert_int_equal(read_as(q, IR_F32, &t, &mem, err), TILE_OK);
    assert_int_equal(t.shape[0], 0);
    assert_int_equal(t.shape[1], (int64_t)1 << 50);
    arena_free(&mem);
}

/* ---- fuzzing: mutated headers must give a result or a message ---------- */

static uint64_t fuzz_state = 0x5eed;
static uint32_t fuzz_rand(void)
{
    fuzz_state = fuzz_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(fuzz_state >> 33);
}

/* Reads `path` as every dtype: each read either succeeds with a tensor the
 * file really holds or fails with a message naming the file.  Under the
 * sanitizer build any out-of-bounds access or UB aborts the test. */
static int fuzz_reads_ok, fuzz_reads;

static void read_every_way(const char *path, size_t file_len)
{
    for (int want = 0; want < IR_DTYPE_COUNT; want++) {
        arena mem;
        arena_init(&mem);
        char err[256] = "";
        interp_tensor t;
        memset(&t, 0xab, sizeof t);
        tile_status s = npy_read(path, &mem, (ir_dtype)want, &t, err, sizeof err);
        fuzz_reads++;
        if (s == TILE_OK) {
            fuzz_reads_ok++;
            assert_true(t.rank >= 0 && t.rank <= IR_MAX_RANK);
            assert_int_equal(t.dtype, want);
            assert_non_null(t.data);
            uint64_t count = 1;
            for (int d = 0; d < t.rank; d++) {
                assert_true(t.shape[d] >= 0 && t.strides[d] >= 0);
                count = t.shape[d] && count > UINT64_MAX / (uint64_t)t.shape[d]
                            ? UINT64_MAX : count * (uint64_t)t.shape[d];
            }
            assert_true(count <= file_len); /* every element came from a byte of the file */
        } else {
            if (s != TILE_ERR_IO && s != TILE_ERR_ARG)
                fail_msg("%s as %s: status %d (%s)", path, ir_dtype_name((ir_dtype)want), (int)s, err);
            assert_true(strncmp(err, path, strlen(path)) == 0 && strlen(err) > strlen(path) + 2);
        }
        arena_free(&mem);
    }
}

static void test_fuzz_headers(void **state)
{
    (void)state;
    static const struct {
        const char *dict;
        size_t ndata;
    } seeds[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24},
        {"{'descr': '<V2', 'fortran_order': False, 'shape': (4,), }", 8},
        {"{'descr': '|b1', 'fortran_order': False, 'shape': (3, 1, 2), }", 6},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (), }", 8},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (0, 5), }", 0},
        {"{\"descr\": \"<u2\", \"fortran_order\": False, \"shape\": (2L,)}", 4},
        {"{'descr': 'bfloat16', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 2), }", 4},
    };
    static const char alphabet[] = "{}()[],:'\" \n\t<>|=0123456789LbfiuVTrueFalsdcpxh\\-.";
    const char *path = tmp_path("fuzz.npy");
    unsigned char file[2048], data[512];
    char dict[512];
    for (int iter = 0; iter < 3000; iter++) {
        size_t k = fuzz_rand() % (sizeof seeds / sizeof seeds[0]);
        size_t dl = strlen(seeds[k].dict), ndata = seeds[k].ndata;
        memcpy(dict, seeds[k].dict, dl + 1);
        int mode = (int)(fuzz_rand() % 4);
        /* 0: edit the dict; 1: valid header, random data (conversions);
         * 2: flip raw bytes anywhere; 3: wrong data length */
        int nmut = mode == 0 ? 1 + (int)(fuzz_rand() % 3) : 0;
        for (int m = 0; m < nmut; m++) {
            size_t at = dl ? fuzz_rand() % dl : 0;
            char c = fuzz_rand() % 8 ? alphabet[fuzz_rand() % (sizeof alphabet - 1)]
                                     : (char)(fuzz_rand() % 256);
            switch (fuzz_rand() % 3) {
            case 0: if (dl) dict[at] = c; break;                             /* replace */
            case 1: if (dl + 1 < sizeof dict - 1) {                           /* insert */
                        memmove(dict + at + 1, dict + at, dl - at + 1);
                        dict[at] = c;
                        dl++;
                    }
                    break;
            default: if (dl) { memmove(dict + at, dict + at + 1, dl - at); dl--; } /* delete */
            }
        }
        if (mode == 3) ndata = fuzz_rand() % 64;
        for (size_t i = 0; i < ndata; i++) data[i] = (unsigned char)fuzz_rand();
        size_t n = make_npy(file, fuzz_rand() % 5 ? 1 : 2 + (int)(fuzz_rand() % 2), dict, data, ndata);
        if (mode == 2) {
            int flips = 1 + (int)(fuzz_rand() % 3);
            for (int f = 0; f < flips; f++) file[fuzz_rand() % n] = (unsigned char)fuzz_rand();
        }
        if (mode == 3 && fuzz_rand() % 2) n = fuzz_rand() % (n + 1); /* truncated */
        write_bytes(path, file, n);
        read_every_way(path, n);
    }
    /* The mutations must leave enough files readable to reach conversion. */
    assert_true(fuzz_reads_ok * 10 > fuzz_reads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numpy_bytes),
        cmocka_unit_test(test_hand_written_f64),
        cmocka_unit_test(test_versions_2_and_3),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_bf16_descrs),
        cmocka_unit_test(test_int_conversions),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_empty_with_huge_dims),
        cmocka_unit_test(test_fuzz_headers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
