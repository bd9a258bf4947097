"""tile_ctypes.py - libtile.so (runtime/tile.h) from Python through ctypes.

No dependency beyond the standard library: bench/bench_attn.py adapts it to
torch tensors, tests/rt_ctypes_check.py runs it on the interpreter with ctypes
arrays (so the structure layouts below are checked in CI).

    t = Tile("build/libtile.so", mode=MODE_INTERPRET)
    k = t.kernel("attention/flash_fwd.tile", "flash_fwd", {"D": 64})
    k(q=tensor_arg(ptr, BF16, shape, strides), ..., scale=0.125)
    t.sync()
"""
import ctypes as C
import time

OK, ERR_NO_DEVICE = 0, 7
MODE_AUTO, MODE_GPU, MODE_INTERPRET = 0, 1, 2
ARG_TENSOR, ARG_SCALAR = 1, 2
BOOL, I32, I64, F16, BF16, F32 = range(6)
FLOATS = (F16, BF16, F32)


class TileValue(C.Union):
    _fields_ = [("i", C.c_int64), ("f", C.c_double)]


class TileArg(C.Structure):
    _fields_ = [("kind", C.c_int), ("dtype", C.c_int), ("rank", C.c_int), ("data", C.c_void_p),
                ("shape", C.c_int64 * 6), ("strides", C.c_int64 * 6), ("value", TileValue)]


class TileConfig(C.Structure):
    _fields_ = [("mode", C.c_int), ("device", C.c_int), ("cache_dir", C.c_char_p),
                ("arch", C.c_char_p), ("lib_dir", C.c_char_p), ("num_warps", C.c_int),
                ("no_specialise", C.c_int)]


class TileParamInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("is_tensor", C.c_int), ("is_out", C.c_int),
                ("dtype", C.c_int), ("rank", C.c_int)]


class TileDeviceInfo(C.Structure):
    _fields_ = [("interpreted", C.c_int), ("name", C.c_char * 128), ("arch", C.c_char * 16),
                ("sm_count", C.c_int), ("smem_per_block_optin", C.c_int),
                ("max_grid", C.c_int * 3)]


class TileError(RuntimeError):
    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def tensor_arg(ptr, dtype, shape, strides):
    a = TileArg(kind=ARG_TENSOR, dtype=dtype, rank=len(shape), data=ptr)
    for d, (n, s) in enumerate(zip(shape, strides)):
        a.shape[d], a.strides[d] = n, s
    return a


def bind(lib):
    vp = C.c_void_p
    lib.tile_open.argtypes = [C.POINTER(vp), C.POINTER(TileConfig)]
    lib.tile_close.argtypes = [vp]
    lib.tile_compile_file.argtypes = [vp, C.c_char_p, C.c_char_p, C.c_char_p, C.POINTER(vp)]
    lib.tile_kernel_free.argtypes = [vp]
    lib.tile_kernel_nparams.argtypes = [vp]
    lib.tile_kernel_param.argtypes = [vp, C.c_int, C.POINTER(TileParamInfo)]
    lib.tile_launch.argtypes = [vp, C.POINTER(TileArg), C.c_int, vp]
    lib.tile_sync.argtypes = [vp, vp]
    lib.tile_device.argtypes = [vp, C.POINTER(TileDeviceInfo)]
    lib.tile_split_count.argtypes = [vp, C.c_int64, C.c_int64, C.POINTER(C.c_int64)]
    lib.tile_last_error.restype = C.c_char_p
    lib.tile_status_name.restype = C.c_char_p
    return lib


class Tile:
    """One context.  stream: a function giving the CUstream handle to launch
    on (None: the default stream); to_arg: turns a tensor object into a
    TileArg (default: the value must already be a TileArg)."""

    def __init__(self, path, mode=MODE_AUTO, lib_dir=None, cache_dir=None, stream=None, to_arg=None, num_warps=0):
        self.lib = bind(C.CDLL(path))
        self.stream = stream or (lambda: None)
        self.to_arg = to_arg or (lambda a: a)
        cfg = TileConfig(mode=mode, lib_dir=lib_dir.encode() if lib_dir else None,
                         cache_dir=None if cache_dir is None else cache_dir.encode(), num_warps=num_warps)
        self.ctx = C.c_void_p()
        self.check(self.lib.tile_open(C.byref(self.ctx), C.byref(cfg)), "tile_open")
        info = TileDeviceInfo()
        self.lib.tile_device(self.ctx, C.byref(info))
        self.interpreted = bool(info.interpreted)
        self.device = (info.name.decode() if self.interpreted else
                       f"{info.name.decode()} ({info.arch.decode()}, {info.sm_count} SMs)")

    def check(self, status, what):
        if status != OK:
            raise TileError(f"{what}: {self.lib.tile_status_name(status).decode()}:\n"
                            f"{self.lib.tile_last_error().decode()}", status)

    def split_count(self, programs, blocks):
        """The split count of split-KV decoding for the device (tile_split_count)."""
        splits = C.c_int64(0)
        self.check(self.lib.tile_split_count(self.ctx, programs, blocks, C.byref(splits)), "tile_split_count")
        return splits.value

    def close(self):
        self.lib.tile_close(self.ctx)

    def kernel(self, path, name, defines=None):
        return Kernel(self, path, name, defines or {})

    def sync(self):
        self.check(self.lib.tile_sync(self.ctx, C.c_void_p(self.stream())), "tile_sync")


class Kernel:
    def __init__(self, tile, path, name, defines):
        self.tile, self.name = tile, name
        self.k = C.c_void_p()
        d = ",".join(f"{a}={b}" for a, b in defines.items())
        t0 = time.perf_counter()
        tile.check(tile.lib.tile_compile_file(tile.ctx, path.encode(), name.encode(), d.encode(),
                                              C.byref(self.k)), f"compiling {name} [{d}]")
        self.compile_s = time.perf_counter() - t0
        self.params = []
        for i in range(tile.lib.tile_kernel_nparams(self.k)):
            p = TileParamInfo()
            tile.check(tile.lib.tile_kernel_param(self.k, i, C.byref(p)), "tile_kernel_param")
            self.params.append((p.name.decode(), bool(p.is_tensor), p.dtype))

    def __del__(self):
        if getattr(self, "k", None):
            self.tile.lib.tile_kernel_free(self.k)

    def args(self, **named):
        """The argument array, values given by parameter name.  It holds only the tensors'
        addresses, so it keeps the tensor objects too: a tensor made just for the call (a
        partial-result buffer, a .contiguous() copy) must not be freed while the array can
        still be launched."""
        arr = (TileArg * len(self.params))()
        arr.keep_alive = named
        for i, (name, is_tensor, dtype) in enumerate(self.params):
            if name not in named:
                raise TileError(f"{self.name}: no value for parameter '{name}'", 5)
            v = named[name]
            if is_tensor:
                arr[i] = self.tile.to_arg(v)
            else:
                arr[i].kind, arr[i].dtype = ARG_SCALAR, dtype
                if dtype in FLOATS:
                    arr[i].value.f = float(v)
                else:
                    arr[i].value.i = int(v)
        return arr

    def launch(self, arr):
        self.tile.check(self.tile.lib.tile_launch(self.k, arr, len(arr), C.c_void_p(self.stream_handle())),
                        f"launching {self.name}")

    def stream_handle(self):
        return self.tile.stream()

    def __call__(self, **named):
        self.launch(self.args(**named))
