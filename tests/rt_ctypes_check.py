#!/usr/bin/env python3
"""rt_ctypes_check.py - libtile.so from Python (bench/tile_ctypes.py), on the
interpreter: the ctypes mirrors of tile.h's structures must match the C
layout, or bench/bench_attn.py would pass garbage on the GPU machine.
Usage: rt_ctypes_check.py BUILD_DIR SOURCE_DIR; exits non-zero on failure."""
import ctypes as C
import os
import sys

build, src = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "bench"))
import tile_ctypes as T  # noqa: E402

assert C.sizeof(T.TileArg) == 128, C.sizeof(T.TileArg)
t = T.Tile(os.path.join(build, "libtile.so"), mode=T.MODE_INTERPRET, cache_dir="",
           lib_dir=os.path.join(src, "lib"))
assert t.interpreted and t.device == "CPU interpreter"
k = t.kernel(os.path.join(src, "examples", "scale_rows.tile"), "scale_rows", {"C": 8, "BR": 4})
assert [p[0] for p in k.params] == ["x", "y", "s"], k.params
R, COLS = 10, 8
x = (C.c_float * (R * COLS))(*[float(i) for i in range(R * COLS)])
y = (C.c_float * (R * COLS))(*([float("nan")] * (R * COLS)))
shape, strides = [R, COLS], [COLS, 1]
k(x=T.tensor_arg(C.addressof(x), T.F32, shape, strides),
  y=T.tensor_arg(C.addressof(y), T.F32, shape, strides), s=-0.5)
t.sync()
assert all(y[i] == -0.5 * x[i] for i in range(R * COLS)), list(y)

# transposed view of y: strides in elements pass through unchanged
yt = (C.c_float * (R * COLS))(*([float("nan")] * (R * COLS)))
k(x=T.tensor_arg(C.addressof(x), T.F32, shape, strides),
  y=T.tensor_arg(C.addressof(yt), T.F32, shape, [1, R]), s=2)
assert all(yt[c * R + r] == 2 * x[r * COLS + c] for r in range(R) for c in range(COLS))

# a bad argument: status and located message come back
try:
    k(x=T.tensor_arg(C.addressof(x), T.I32, shape, strides),
      y=T.tensor_arg(C.addressof(y), T.F32, shape, strides), s=1)
    raise SystemExit("a wrong dtype was accepted")
except T.TileError as e:
    assert e.status == 5 and "invalid argument" in str(e), str(e)
    assert "scale_rows.tile:3:" in str(e) and "expected tensor<f32>, got tensor<i32>" in str(e), str(e)

# the library through lib_dir, a kernel with the flash_fwd signature
f = t.kernel("attention/flash_fwd.tile", "flash_fwd_causal", {"D": 16, "T": "f32"})
assert [p[0] for p in f.params] == ["q", "k", "v", "o", "lse", "scale"], f.params
print("rt_ctypes_check: ok")
