#!/usr/bin/env bash
# The GPU check, in one script for a machine with an NVIDIA GPU and CuPy already installed.
# It installs nothing. It runs the CuPy test suite (every device-parametrised test on "cuda", plus
# the tests marked gpu, among them the NCCL data-parallel test of tests/test_distributed.py: one rank
# on one GPU, two ranks over mpiexec where there are two GPUs and mpi4py), then the benchmarks at
# batch 128 and 4096 on the GPU: minimm against the hand-written reference running on CuPy and,
# where PyTorch is installed, against PyTorch CUDA.
#
#   bash benchmarks/gpu.sh            # from the repository root
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! $PY -c "import minimm, sys; sys.exit(0 if minimm.cuda.is_available() else 1)"; then
    echo "gpu.sh: no usable GPU (CuPy missing or no device): $($PY -m minimm info | grep cuda)"
    exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
$PY -c "import cupy; print('CuPy', cupy.__version__)"
status=0
echo "== CuPy test suite (pytest -m gpu) =="
# one process (-o addopts= drops the suite's "-n auto"): the GPU tests share one device, and pytest-xdist
# need not be installed on the GPU machine
$PY -m pytest -q -m gpu tests -o addopts= -p no:cacheprovider || status=1
TORCH=""
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null && TORCH="--torch"
for batch in 128 4096; do
    echo "== benchmarks, batch $batch =="
    $PY -m benchmarks.run --device cuda --batch "$batch" --workloads W1,W2 --steps 100 $TORCH \
        --json "benchmarks/gpu_batch${batch}.json" || status=1
done
exit $status
