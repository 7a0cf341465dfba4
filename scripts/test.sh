#!/usr/bin/env bash
# One command: install everything (with dev tools) and run the test suite.
# Fails (non-zero) when any test fails and when no test ran (pytest exit code 5).
# SINKSCOPE_SLOW=1 also runs the slow real-model tests.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev || exit 1
bash scripts/install-browser.sh  # chromium + playwright for the report tests (skipped if impossible)
PY=${PYTHON:-python3}
"$PY" -m ruff check src tests benchmarks scripts || exit 1
# The import contract of pyproject.toml: layers only point down, no import cycle anywhere.
lint-imports --no-cache || exit 1
"$PY" -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "sinkscope: no tests ran - treating as a failure" >&2
  exit 1
fi
exit "$rc"
