/* npy.c - .npy reader and writer (see npy.h).
 *
 * The header is a Python dict literal; we parse just the subset NumPy
 * writes ({'descr': STR, 'fortran_order': BOOL, 'shape': TUPLE}) and
 * reject everything else with a message.  Every size is checked for
 * overflow against the file's real length before anything is allocated, so
 * a hostile shape cannot make us allocate or read out of bounds.  Element
 * conversion goes through ir_eval_unary(CAST) and support/fp16.h, the same
 * rounding rules as the language (docs/language.md, "Numerics"). */
#include "npy.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/eval.h"
#include "support/fp16.h"

enum { NPY_MAX_HEADER = 1 << 20 };

static tile_status fail(tile_status s, char *err, size_t errlen, const char *path,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static tile_status fail(tile_status s, char *err, size_t errlen, const char *path,
                        const char *fmt, ...)
{
    if (!err || !errlen) return s;
    int n = snprintf(err, errlen, "%s: ", path ? path : "?");
    if (n < 0 || (size_t)n >= errlen) return s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- file dtypes ------------------------------------------------------- */

typedef enum { K_BOOL, K_INT, K_UINT, K_FLOAT, K_BF16 } npy_kind;

typedef struct npy_dtype {
    npy_kind kind;
    int size; /* bytes per element */
} npy_dtype;

/* Parses a descr string such as "<f4"; false if unsupported (msg set). */
static bool parse_descr(const char *d, npy_dtype *t, const char **msg)
{
    if (strcmp(d, "bfloat16") == 0) {
        t->kind = K_BF16;
        t->size = 2;
        return true;
    }
    size_t n = strlen(d);
    if (n < 3 || n > 4 || !strchr("<>|=", d[0])) {
        *msg = "unsupported dtype";
        return false;
    }
    char kind = d[1];
    int size = atoi(d + 2);
    if (d[2] < '1' || d[2] > '9' || (n == 4 && (d[3] < '0' || d[3] > '9'))) {
        *msg = "unsupported dtype";
        return false;
    }
    if (d[0] == '>' && size > 1) {
        *msg = "big-endian data is not supported (use '<' byte order)";
        return false;
    }
    t->size = size;
    switch (kind) {
    case 'b': t->kind = K_BOOL; return size == 1 || (*msg = "unsupported dtype", false);
    case 'i': t->kind = K_INT; break;
    case 'u': t->kind = K_UINT; break;
    case 'f':
        t->kind = K_FLOAT;
        if (size == 2 || size == 4 || size == 8) return true;
        *msg = "unsupported float size";
        return false;
    case 'V':
        t->kind = K_BF16; /* ml_dtypes bfloat16 */
        if (size == 2) return true;
        *msg = "unsupported void dtype (only 2-byte bfloat16)";
        return false;
    default: *msg = "unsupported dtype"; return false;
    }
    if (size == 1 || size == 2 || size == 4 || size == 8) return true;
    *msg = "unsupported integer size";
    return false;
}

/* ---- header ------------------------------------------------------------ */

typedef struct header {
    char descr[32];
    bool has_descr, has_order, has_shape, fortran;
    int ndim;
    int64_t shape[IR_MAX_RANK];
} header;

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool parse_str(cursor *c, char *out, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return false;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= cap) return false;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return false;
    c->p++;
    out[n] = 0;
    return true;
}

static bool parse_word(cursor *c, const char *w)
{
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return false;
    c->p += n;
    return true;
}

/* Parses "(d0, d1, ...)" into h->shape; msg set on failure. */
static bool parse_shape(cursor *c, header *h, const char **msg)
{
    *msg = "malformed shape";
    if (!eat(c, '(')) return false;
    h->ndim = 0;
    for (;;) {
        if (eat(c, ')')) return true;
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return false;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            int digit = *c->p++ - '0';
            if (v > (INT64_MAX - digit) / 10) {
                *msg = "dimension too large";
                return false;
            }
            v = v * 10 + digit;
        }
        if (c->p < c->end && *c->p == 'L') c->p++;
        if (h->ndim == IR_MAX_RANK) {
            *msg = "more dimensions than tile supports (6)";
            return false;
        }
        h->shape[h->ndim++] = v;
        if (!eat(c, ',')) return eat(c, ')');
    }
}

static bool parse_header(const char *text, size_t len, header *h, const char **msg)
{
    cursor c = {text, text + len};
    memset(h, 0, sizeof *h);
    *msg = "malformed header";
    if (!eat(&c, '{')) return false;
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32];
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':')) return false;
        if (strcmp(key, "descr") == 0) {
            skip_ws(&c);
            if (c.p < c.end && *c.p == '[') {
                *msg = "structured dtypes are not supported";
                return false;
            }
            if (!parse_str(&c, h->descr, sizeof h->descr)) return false;
            h->has_descr = true;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (parse_word(&c, "True")) h->fortran = true;
            else if (parse_word(&c, "False")) h->fortran = false;
            else return false;
            h->has_order = true;
        } else if (strcmp(key, "shape") == 0) {
            if (!parse_shape(&c, h, msg)) return false;
            *msg = "malformed header";
            h->has_shape = true;
        } else {
            *msg = "unexpected key in header";
            return false;
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}')) return false;
            break;
        }
    }
    skip_ws(&c); /* NumPy pads with spaces and a newline; anything else is not ours */
    if (c.p != c.end) return false;
    if (!h->has_descr || !h->has_order || !h->has_shape) {
        *msg = "header lacks descr, fortran_order or shape";
        return false;
    }
    return true;
}

/* ---- conversion -------------------------------------------------------- */

static void put_float(ir_dtype want, unsigned char *p, float v)
{
    if (want == IR_F32) {
        memcpy(p, &v, 4);
    } else {
        uint16_t bits = want == IR_BF16 ? fp_f32_to_bf16(v) : fp_f32_to_f16(v);
        memcpy(p, &bits, 2);
    }
}

static void put_int(ir_dtype want, unsigned char *p, int64_t v)
{
    if (want == IR_I32) {
        int32_t x = (int32_t)v; /* range checked by the caller */
        memcpy(p, &x, 4);
    } else if (want == IR_I64) {
        memcpy(p, &v, 8);
    } else {
        *p = v != 0;
    }
}

typedef struct elem {
    bool is_float;
    double f;  /* floats, exact */
    int64_t i; /* integers and bools */
} elem;

/* Decodes element `p` of file dtype t; false if it does not fit in int64. */
static bool get_elem(const npy_dtype *t, const unsigned char *p, elem *e)
{
    e->is_float = false;
    e->f = 0;
    e->i = 0;
    switch (t->kind) {
    case K_BOOL: e->i = *p != 0; return true;
    case K_BF16:
    case K_FLOAT: {
        e->is_float = true;
        if (t->kind == K_BF16) {
            uint16_t h;
            memcpy(&h, p, 2);
            e->f = fp_bf16_to_f32(h);
        } else if (t->size == 2) {
            uint16_t h;
            memcpy(&h, p, 2);
            e->f = fp_f16_to_f32(h);
        } else if (t->size == 4) {
            float f;
            memcpy(&f, p, 4);
            e->f = f;
        } else {
            memcpy(&e->f, p, 8);
        }
        return true;
    }
    case K_INT: {
        if (t->size == 1) e->i = (int8_t)p[0];
        else if (t->size == 2) { int16_t v; memcpy(&v, p, 2); e->i = v; }
        else if (t->size == 4) { int32_t v; memcpy(&v, p, 4); e->i = v; }
        else memcpy(&e->i, p, 8);
        return true;
    }
    case K_UINT: {
        uint64_t v = 0;
        if (t->size == 1) v = p[0];
        else if (t->size == 2) { uint16_t x; memcpy(&x, p, 2); v = x; }
        else if (t->size == 4) { uint32_t x; memcpy(&x, p, 4); v = x; }
        else memcpy(&v, p, 8);
        if (v > (uint64_t)INT64_MAX) return false;
        e->i = (int64_t)v;
        return true;
    }
    }
    return false;
}

/* Converts n elements from file bytes `src` to `want` at `dst`. */
static tile_status convert(const char *path, const npy_dtype *ft, const char *descr,
                           ir_dtype want, int64_t n, const unsigned char *src, unsigned char *dst,
                           char *err, size_t errlen)
{
    const size_t ws = (size_t)ir_dtype_size(want);
    /* '<u2' is how bf16 bits are often saved (x.view(np.uint16)), but '<i2'
     * and every other integer file converts by value: rather than guess,
     * refuse it. */
    if (want == IR_BF16 && ft->kind == K_UINT && ft->size == 2)
        return fail(TILE_ERR_ARG, err, errlen, path,
                    "'%s' data for a bf16 tensor is ambiguous (raw bf16 bits, or integer values "
                    "to convert?): save bf16 as ml_dtypes.bfloat16 ('<V2'), or as '<f4'", descr);
    if (want == IR_BF16 && ft->kind == K_BF16) {
        memcpy(dst, src, (size_t)n * 2);
        return TILE_OK;
    }
    if ((ft->kind == K_FLOAT || ft->kind == K_BF16) && want == IR_BOOL)
        return fail(TILE_ERR_ARG, err, errlen, path, "cannot read float data ('%s') as bool",
                    descr);
    for (int64_t k = 0; k < n; k++) {
        elem e;
        unsigned char *out = dst + (size_t)k * ws;
        if (!get_elem(ft, src + (size_t)k * (size_t)ft->size, &e))
            return fail(TILE_ERR_ARG, err, errlen, path,
                        "element %" PRId64 " does not fit in a 64-bit integer", k);
        if (ir_dtype_is_float(want)) {
            if (e.is_float) {
                put_float(want, out, (float)ir_scalar_round(want, e.f).f); /* rounded once */
            } else {
                ir_scalar r;
                ir_eval_unary(IR_OP_CAST, IR_I64, want, (ir_scalar){.i = e.i}, &r);
                put_float(want, out, (float)r.f);
            }
            continue;
        }
        int64_t v = e.i;
        if (e.is_float) {
            /* Only exact integers: never a silent truncation. */
            if (!(e.f >= -9223372036854775808.0 && e.f < 9223372036854775808.0) ||
                e.f != floor(e.f))
                return fail(TILE_ERR_ARG, err, errlen, path,
                            "element %" PRId64 " is %g, not an integer: refusing to truncate "
                            "float data ('%s') to %s", k, e.f, descr, ir_dtype_name(want));
            v = (int64_t)e.f;
        }
        if (want == IR_I32 && (v < INT32_MIN || v > INT32_MAX))
            return fail(TILE_ERR_ARG, err, errlen, path,
                        "element %" PRId64 " is %" PRId64 ", which does not fit in i32", k, v);
        put_int(want, out, v);
    }
    return TILE_OK;
}

/* ---- read -------------------------------------------------------------- */

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

tile_status npy_read(const char *path, arena *mem, ir_dtype want, interp_tensor *out, char *err,
                     size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if ((unsigned)want >= IR_DTYPE_COUNT)
        return fail(TILE_ERR_ARG, err, errlen, path, "bad requested dtype");
    FILE *f = fopen(path, "rb");
    if (!f) return fail(TILE_ERR_IO, err, errlen, path, "cannot open: %s", strerror(errno));
    tile_status s = TILE_OK;
    char *text = NULL;
    unsigned char *raw = NULL;
    unsigned char pre[12];
    long file_size = -1;
    if (fseek(f, 0, SEEK_END) == 0) file_size = ftell(f);
    if (file_size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        s = fail(TILE_ERR_IO, err, errlen, path, "cannot determine the file size");
        goto done;
    }
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        s = fail(TILE_ERR_IO, err, errlen, path, "not a .npy file (bad magic)");
        goto done;
    }
    int major = pre[6];
    size_t hlen, pre_len;
    if (major == 1) {
        if (fread(pre + 8, 1, 2, f) != 2) goto truncated;
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        pre_len = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 8, 1, 4, f) != 4) goto truncated;
        hlen = le32(pre + 8);
        pre_len = 12;
    } else {
        s = fail(TILE_ERR_IO, err, errlen, path, "unsupported .npy format version %d.%d", major,
                 pre[7]);
        goto done;
    }
    if (hlen > NPY_MAX_HEADER) {
        s = fail(TILE_ERR_IO, err, errlen, path, "header of %zu bytes is too large", hlen);
        goto done;
    }
    if ((uint64_t)file_size < pre_len + hlen) goto truncated;
    text = malloc(hlen + 1);
    if (!text) {
        s = fail(TILE_ERR_NOMEM, err, errlen, path, "out of memory");
        goto done;
    }
    if (fread(text, 1, hlen, f) != hlen) goto truncated;
    text[hlen] = 0;
    if (memchr(text, 0, hlen)) {
        s = fail(TILE_ERR_IO, err, errlen, path, "malformed header (NUL byte)");
        goto done;
    }
    header h;
    const char *msg;
    if (!parse_header(text, hlen, &h, &msg)) {
        s = fail(TILE_ERR_IO, err, errlen, path, "%s", msg);
        goto done;
    }
    if (h.fortran) {
        s = fail(TILE_ERR_IO, err, errlen, path,
                 "Fortran-order arrays are not supported; save a C-order array "
                 "(numpy.ascontiguousarray)");
        goto done;
    }
    npy_dtype ft;
    if (!parse_descr(h.descr, &ft, &msg)) {
        s = fail(TILE_ERR_IO, err, errlen, path, "%s '%s'", msg, h.descr);
        goto done;
    }
    /* Element count and byte size, checked against the real file size. */
    uint64_t data_len = (uint64_t)file_size - pre_len - hlen;
    uint64_t count = 1;
    for (int d = 0; d < h.ndim; d++) {
        uint64_t dim = (uint64_t)h.shape[d];
        if (dim && count > UINT64_MAX / dim) {
            s = fail(TILE_ERR_IO, err, errlen, path, "shape is too large");
            goto done;
        }
        count *= dim;
    }
    if (count > data_len / (uint64_t)ft.size) {
        s = fail(TILE_ERR_IO, err, errlen, path,
                 "truncated data: shape needs %" PRIu64 " elements of %d bytes, file has %" PRIu64
                 " bytes of data", count, ft.size, data_len);
        goto done;
    }
    if (count * (uint64_t)ft.size != data_len) {
        s = fail(TILE_ERR_IO, err, errlen, path, "%" PRIu64 " bytes after the array data",
                 data_len - count * (uint64_t)ft.size);
        goto done;
    }
    if (count > SIZE_MAX / 8) {
        s = fail(TILE_ERR_NOMEM, err, errlen, path, "array too large");
        goto done;
    }
    size_t nbytes = (size_t)count * (size_t)ft.size;
    raw = malloc(nbytes ? nbytes : 1);
    unsigned char *dst = arena_alloc(mem, count ? (size_t)count * (size_t)ir_dtype_size(want) : 1);
    if (!raw || !dst) {
        s = fail(TILE_ERR_NOMEM, err, errlen, path, "out of memory");
        goto done;
    }
    if (fread(raw, 1, nbytes, f) != nbytes) goto truncated;
    s = convert(path, &ft, h.descr, want, (int64_t)count, raw, dst, err, errlen);
    if (s != TILE_OK) goto done;
    memset(out, 0, sizeof *out);
    out->dtype = want;
    out->rank = h.ndim;
    for (int d = 0; d < h.ndim; d++) out->shape[d] = h.shape[d];
    interp_contiguous_strides(out);
    out->data = dst;
    goto done;
truncated:
    s = fail(TILE_ERR_IO, err, errlen, path, "truncated file");
done:
    free(text);
    free(raw);
    fclose(f);
    return s;
}

/* ---- write ------------------------------------------------------------- */

tile_status npy_write(const char *path, const interp_tensor *t, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    const char *descr;
    size_t fsize;
    switch (t->dtype) {
    case IR_F32:
    case IR_BF16: descr = "<f4"; fsize = 4; break;
    case IR_F16: descr = "<f2"; fsize = 2; break;
    case IR_I32: descr = "<i4"; fsize = 4; break;
    case IR_I64: descr = "<i8"; fsize = 8; break;
    case IR_BOOL: descr = "|b1"; fsize = 1; break;
    default: return fail(TILE_ERR_ARG, err, errlen, path, "bad tensor dtype");
    }
    if (t->rank < 0 || t->rank > IR_MAX_RANK)
        return fail(TILE_ERR_ARG, err, errlen, path, "bad tensor rank %d", t->rank);
    uint64_t count = 1;
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] < 0) return fail(TILE_ERR_ARG, err, errlen, path, "negative dimension");
        if (t->shape[d] && count > (uint64_t)INT64_MAX / (uint64_t)t->shape[d])
            return fail(TILE_ERR_ARG, err, errlen, path, "shape is too large");
        count *= (uint64_t)t->shape[d];
    }
    if (count && !t->data) return fail(TILE_ERR_ARG, err, errlen, path, "tensor data is NULL");

    char shape[IR_MAX_RANK * 24 + 8];
    size_t at = 0;
    shape[at++] = '(';
    for (int d = 0; d < t->rank; d++)
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%" PRId64, d ? ", " : "",
                               t->shape[d]);
    if (t->rank == 1) shape[at++] = ',';
    shape[at++] = ')';
    shape[at] = 0;
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, shape);
    size_t hlen = (size_t)n + 1; /* + '\n' */
    size_t pad = (64 - (10 + hlen) % 64) % 64;
    if (hlen + pad > sizeof hdr - 1) return fail(TILE_ERR_ARG, err, errlen, path, "header too long");
    memset(hdr + n, ' ', pad);
    hdr[n + pad] = '\n';
    hlen += pad;

    FILE *f = fopen(path, "wb");
    if (!f) return fail(TILE_ERR_IO, err, errlen, path, "cannot create: %s", strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, hlen, f) == hlen;

    /* Elements in C order through the strides, one row of the last dim at
     * a time. */
    const size_t ms = (size_t)ir_dtype_size(t->dtype);
    int64_t inner = t->rank ? t->shape[t->rank - 1] : 1;
    int64_t is = t->rank ? t->strides[t->rank - 1] : 0;
    /* An empty array writes no row: (0, 2^40) must not allocate one. */
    unsigned char *row = malloc(inner > 0 && count > 0 ? (size_t)inner * fsize : 1);
    if (!row) {
        fclose(f);
        return fail(TILE_ERR_NOMEM, err, errlen, path, "out of memory");
    }
    int64_t idx[IR_MAX_RANK] = {0};
    uint64_t rows = inner > 0 ? count / (uint64_t)inner : 0;
    for (uint64_t r = 0; ok && r < rows; r++) {
        int64_t base = 0;
        for (int d = 0; d < t->rank - 1; d++) base += idx[d] * t->strides[d];
        for (int64_t k = 0; k < inner; k++) {
            const unsigned char *p = (const unsigned char *)t->data + (base + k * is) * (int64_t)ms;
            unsigned char *q = row + (size_t)k * fsize;
            if (t->dtype == IR_BF16) {
                uint16_t h;
                memcpy(&h, p, 2);
                float v = fp_bf16_to_f32(h);
                memcpy(q, &v, 4);
            } else if (t->dtype == IR_BOOL) {
                *q = *p != 0;
            } else {
                memcpy(q, p, fsize);
            }
        }
        ok = fwrite(row, fsize, (size_t)inner, f) == (size_t)inner;
        for (int d = t->rank - 2; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    free(row);
    if (fclose(f) != 0) ok = false;
    if (!ok) return fail(TILE_ERR_IO, err, errlen, path, "write failed: %s", strerror(errno));
    return TILE_OK;
}
