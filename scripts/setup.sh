#!/usr/bin/env bash
# Create .venv and install the project into it. Safe to re-run.
# torch is installed first and pinned (torch==2.13.0): on CPU machines pip then finds the local
# CPU wheel and never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
# LPIPS calibration weights ship inside the lpips package; it is never imported (it imports
# torchvision, which has no CPU build here), so it is installed without its dependencies.
.venv/bin/python -m pip install -q --no-deps "lpips==0.1.4"
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
