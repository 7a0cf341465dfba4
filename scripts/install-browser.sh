#!/usr/bin/env bash
# Install what the report's browser tests need: Debian's chromium (apt) and the Playwright Python
# driver (pip). Never `playwright install`: that downloads browsers from the internet.
# Idempotent (does nothing when both are present) and never fails the caller: where chromium
# cannot be installed, tests/report/test_report_browser.py skips with the reason.
set -u
PY=${PYTHON:-python3}
have_chromium() { [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; }
if ! have_chromium; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO="none"; fi
  fi
  if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "sinkscope: chromium is missing and cannot be installed here (needs apt-get as root); browser tests will be skipped" >&2
  else
    echo "sinkscope: installing chromium (apt-get) for the report's browser tests" >&2
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null 2>&1 \
      || echo "sinkscope: apt-get install chromium failed; browser tests will be skipped" >&2
  fi
fi
if ! "$PY" -c "import playwright.sync_api" >/dev/null 2>&1; then
  echo "sinkscope: installing playwright (pip, driver only) for the report's browser tests" >&2
  "$PY" -m pip install -q playwright >/dev/null 2>&1 \
    || echo "sinkscope: pip install playwright failed; browser tests will be skipped" >&2
fi
exit 0
