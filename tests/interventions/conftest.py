"""Test helpers for interventions: the random-init architectures of tests/capture/archs.py."""

from __future__ import annotations

import sys
from pathlib import Path

_CAPTURE = str(Path(__file__).resolve().parents[1] / "capture")
if _CAPTURE not in sys.path:
    sys.path.insert(0, _CAPTURE)
