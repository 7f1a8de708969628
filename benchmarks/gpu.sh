#!/usr/bin/env bash
# The one prepared GPU run: runs benchmarks/gpu_check.py. On a lent CUDA machine whose python3
# has torch, pytest, numpy, safetensors and pillow, from the repository root:
#   bash benchmarks/gpu.sh ROSINALITY_DIR [OUT_DIR]
# ROSINALITY_DIR: a rosinality/stylegan2-pytorch checkout (model.py and op/); nothing is installed,
# the repository itself is put on PYTHONPATH as the `datasetgan` namespace.
set -euo pipefail
ROS="${1:?usage: gpu.sh ROSINALITY_DIR [OUT_DIR]}"
OUT_DIR="${2:-${OUT:-benchmarks/results}}"
mkdir -p "$OUT_DIR"
PKG="$(mktemp -d)"
ln -s "$PWD" "$PKG/datasetgan"
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export DATASETGAN_KERNEL_CACHE="${DATASETGAN_KERNEL_CACHE:-$PKG/kernels}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 benchmarks/gpu_check.py --rosinality "$ROS" --out "$OUT_DIR" 2>&1 | tee "$OUT_DIR/gpu_check.log"
