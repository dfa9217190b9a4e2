#!/usr/bin/env bash
# Creates the virtual environment and installs the project with its test extras.
# torch: where no NVIDIA GPU is visible, the CPU build (a local wheel when the machine has one, else
# PyTorch's CPU index); on a GPU machine, the default (CUDA) build from PyPI.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "GPU found: installing torch==$TORCH_VERSION (CUDA build)"
    $PIP install -q "torch==$TORCH_VERSION"
  elif $PIP download -q --no-deps --no-index -d "$(mktemp -d)" "torch==$TORCH_VERSION+cpu" >/dev/null 2>&1; then
    echo "no GPU: installing the local CPU build of torch==$TORCH_VERSION"
    $PIP install -q "torch==$TORCH_VERSION+cpu"
  else
    echo "no GPU: installing torch==$TORCH_VERSION from PyTorch's CPU index"
    $PIP install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
$PIP install -q -e ".[dev]"
echo "environment ready in $VENV"
