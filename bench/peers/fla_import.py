"""fla_import.py - flash-linear-attention's kernels as benchmark peers, without pip.

The GPU machine has torch and Triton but no network, so the fla package comes
as a source tree (bench/pack_gpu.sh exports it from the mirror to
build-gpu/peers/fla, inside the tarball it carries).  Its top-level fla/__init__.py and fla/ops/__init__.py import
every layer and op (transformers, einops, ...), so they are not run: empty
package modules stand in for `fla`, `fla.ops` and the op packages, and only
the leaf modules holding the kernels are imported (they need torch, triton,
fla.utils and fla.ops.utils / fla.ops.common, which import normally).

    fns, why = fla_import.load()
    fns["chunk_simple_gla"]   # or absent, with why["chunk_simple_gla"] saying why

load() returns ({name: function}, {name: reason}) and never raises.
"""
import importlib
import os
import re
import sys
import traceback
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# public name -> the module that defines it (imported without its package's __init__)
WANTED = {
    "chunk_simple_gla": "fla.ops.simple_gla.chunk",
    "chunk_lightning_attn": "fla.ops.lightning_attn.chunk",
    "parallel_based": "fla.ops.based.parallel",
    "fused_chunk_based": "fla.ops.based.fused_chunk",
}
EMPTY_PACKAGES = ("fla", "fla.ops", "fla.ops.simple_gla", "fla.ops.lightning_attn", "fla.ops.based")


def find_tree():
    """The folder holding fla/ (FLA_PATH, then build-gpu/peers and build-pack/peers as
    bench/pack_gpu.sh leaves them, then sys.path), or None."""
    for d in [os.environ.get("FLA_PATH"), os.path.join(ROOT, "build-gpu", "peers"),
              os.path.join(ROOT, "build-pack", "peers")] + sys.path:
        if d and os.path.isfile(os.path.join(d, "fla", "ops", "__init__.py")):
            return os.path.abspath(d)
    return None


def _packaging_shim():
    """fla.utils compares versions with packaging.version.parse; a minimal stand-in
    (numeric components only: '2.11.0+cu128' -> (2, 11, 0)) where packaging is absent."""
    try:
        import packaging.version  # noqa: F401
        return
    except ImportError:
        pass

    def parse(s):
        nums = re.findall(r"\d+", str(s).split("+")[0])
        return tuple(int(n) for n in nums[:3]) + (0,) * (3 - len(nums[:3]))
    pkg = types.ModuleType("packaging")
    pkg.__path__ = []
    ver = types.ModuleType("packaging.version")
    ver.parse = parse
    ver.Version = parse
    pkg.version = ver
    sys.modules["packaging"] = pkg
    sys.modules["packaging.version"] = ver


def _register_empty(tree):
    version = "0"
    try:
        with open(os.path.join(tree, "fla", "__init__.py")) as f:
            m = re.search(r'__version__\s*=\s*"([^"]+)"', f.read())
            version = m.group(1) if m else version
    except OSError:
        pass
    for name in EMPTY_PACKAGES:
        if name in sys.modules:
            continue
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(tree, *name.split("."))]
        mod.__package__ = name
        if name == "fla":
            mod.__version__ = version
        sys.modules[name] = mod


def load():
    fns, why = {}, {}
    tree = find_tree()
    if tree is None:
        for name in WANTED:
            why[name] = "no fla source tree (FLA_PATH, build-gpu/peers, build-pack/peers, sys.path)"
        return fns, why
    if tree not in sys.path:
        sys.path.insert(0, tree)
    try:
        import torch  # noqa: F401
        import triton  # noqa: F401
    except ImportError as e:
        for name in WANTED:
            why[name] = f"{type(e).__name__}: {e}"
        return fns, why
    _packaging_shim()
    _register_empty(tree)
    for name, module in WANTED.items():
        try:
            fns[name] = getattr(importlib.import_module(module), name)
        except Exception as e:  # noqa: BLE001 - any failure is a reason to report
            last = traceback.extract_tb(e.__traceback__)[-1]
            why[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''} " \
                        f"({os.path.basename(last.filename)}:{last.lineno})"
    return fns, why


if __name__ == "__main__":
    f, w = load()
    for n in WANTED:
        print(f"{n:22s} {'ok' if n in f else 'unavailable: ' + w.get(n, '?')}")
    sys.exit(0 if f else 1)
