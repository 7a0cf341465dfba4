#!/usr/bin/env bash
# Install sinkscope (and, with --dev, the test tools) into the current Python.
# torch is pinned to the local CPU build 2.13.0 when no torch is present, so pip never pulls
# a multi-GB CUDA build; an existing torch in the supported range is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "sinkscope: installing torch 2.13.0 (CPU)" >&2
  "$PY" -m pip install -q "torch==2.13.0"
fi
"$PY" -m pip install -q -e ".${extra}"
