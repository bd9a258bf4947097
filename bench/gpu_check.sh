#!/usr/bin/env bash
# gpu_check.sh - everything a session checks on the GPU machine, in one call:
# the machine, the main job, and the library's semantics against PyTorch
# (bench/oracle_check.py).  Run from the repository root with build/ built
# on the development machine and carried (tilec needs only libc and libm).
# The short table comes last.
set -uo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__, "cuda", torch.cuda.is_available())'
echo "== main job"
build/flash_demo lib
echo "== library vs PyTorch"
PYTHONUNBUFFERED=1 python3 bench/oracle_check.py --tilec build/tilec 2>&1 | tee "${OUT:-/tmp}/oracle.log"
