"""The toy tokenizer of tests/capture/archs.py (not importable from here: test folders are not packages)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_capture_archs", Path(__file__).parents[1] / "capture" / "archs.py")
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
ToyTokenizer = _mod.ToyTokenizer
