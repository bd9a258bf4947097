/* npy.h - NumPy .npy files in and out of interpreter tensors.
 *
 * `tilec run --interp` and the tests exchange tensors with NumPy through
 * .npy files: format versions 1.0, 2.0 and 3.0, little-endian, C order.
 *
 * Reading converts the file's dtype to the dtype the kernel wants:
 *   - floats ('<f8' '<f4' '<f2', bf16) to f32/bf16/f16: rounded once to
 *     nearest even (f64 -> bf16 does not round twice through f32);
 *   - integers and bools ('|b1' '|u1' '|i1' '<u2' '<i2' '<i4' '<u4' '<i8'
 *     '<u8') to floats: rounded to nearest even; to i32/i64: must fit;
 *     to bool: x != 0;
 *   - floats to integers only when every value is an integer that fits
 *     (never a silent truncation); floats to bool are refused;
 *   - bf16 files: ml_dtypes' bfloat16 is saved as '<V2' / '|V2' (or a
 *     "bfloat16" descr); '<u2' for bf16 is refused (raw bits or values?
 *     every other integer file converts by value).
 * Malformed files (bad magic, truncated or oversized header, a shape whose
 * size overflows, a data length that does not match) give a message and
 * TILE_ERR_IO; a conversion that would lose meaning gives TILE_ERR_ARG.
 *
 * Writing: f32 and bf16 as '<f4' (bf16 widens exactly), f16 as '<f2', i32
 * '<i4', i64 '<i8', bool '|b1'; any strides, written in C order. */
#ifndef TILE_NPY_H
#define TILE_NPY_H

#include <stddef.h>

#include "ir/interp.h"

/* Reads `path` into a new contiguous tensor of dtype `want` allocated in
 * `mem`.  On failure writes "path: reason" into err (if errlen > 0). */
tile_status npy_read(const char *path, arena *mem, ir_dtype want, interp_tensor *out, char *err,
                     size_t errlen);

/* Writes `t` (any strides) to `path`. */
tile_status npy_write(const char *path, const interp_tensor *t, char *err, size_t errlen);

#endif
