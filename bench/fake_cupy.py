"""fake_cupy.py - just enough of CuPy for cg_gpu_check.py --fake-gpu on a
machine without a GPU: device arrays are numpy arrays, a launch checks the
arguments against the PTX entry's parameter list (count and byte size of
each, as docs/abi.md lays them out) and then "runs" the kernel by copying in
the interpreter's outputs, so that everything around the launch (argument
packing, poisoning, bit conversions, comparison) is exercised."""
import re

import numpy as np

FAKE = True
_arrays = {}
_expect = {}
_next_ptr = [0x10000]


class _Mem:
    def __init__(self, ptr):
        self.ptr = ptr


class _Array:
    def __init__(self, a):
        self.a = np.array(a, copy=True)
        self.data = _Mem(_next_ptr[0])
        _next_ptr[0] += max(16, self.a.nbytes + 16)
        self.strides = self.a.strides
        self.itemsize = self.a.itemsize
        _arrays[self.data.ptr] = self


def asarray(a):
    return _Array(a)


def zeros(n, dtype):
    return _Array(np.zeros(n, dtype))


int32 = np.int32


def asnumpy(d):
    return d.a.copy()


def expect(d, path, to_bits):
    _expect[d.data.ptr] = (path, to_bits)


class _Function:
    def __init__(self, params):
        self.params = params
        self.expect = dict(_expect)  # the outputs of this case
        _expect.clear()
        self.max_dynamic_shared_size_bytes = 0

    def __call__(self, grid, block, args, shared_mem=0):
        sizes = {"u64": 8, "s64": 8, "b64": 8, "f32": 4, "u32": 4, "s32": 4, "b32": 4, "b16": 2}
        if len(args) != len(self.params):
            raise RuntimeError(f"launch with {len(args)} arguments, the PTX entry has {len(self.params)}")
        for i, (arg, ty) in enumerate(zip(args, self.params)):
            if np.asarray(arg).dtype.itemsize != sizes[ty]:
                raise RuntimeError(f"argument {i}: {np.asarray(arg).dtype} for a .{ty} parameter")
        if shared_mem > 48 * 1024 and self.max_dynamic_shared_size_bytes < shared_mem:
            raise RuntimeError("dynamic shared memory above 48 KiB without the attribute")
        for ptr, (path, to_bits) in self.expect.items():
            _arrays[ptr].a[...] = to_bits(np.load(path)).reshape(_arrays[ptr].a.shape)


class RawModule:
    def __init__(self, path):
        self.text = open(path).read()

    def get_function(self, name):
        m = re.search(r"\.entry " + re.escape(name) + r"\((.*?)\)", self.text, re.S)
        if not m:
            raise RuntimeError(f"no .entry {name}")
        return _Function(re.findall(r"\.param \.(\w+)", m.group(1)))


class cuda:
    class runtime:
        @staticmethod
        def deviceSynchronize():
            pass
