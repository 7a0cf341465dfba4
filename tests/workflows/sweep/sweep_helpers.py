"""Helpers shared by the sweep tests (imported as a plain module: the test folders are not packages)."""

from __future__ import annotations

import json
from pathlib import Path

PROMPTS = [
    "The cat sat on the mat and looked out of the window at the rain falling on the garden.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "Question: what is 12 times 7? Answer: 12 times 7 is 84, because 10 times 7 is 70 and 2 times 7 is 14.",
]
MODEL = "smollm2-135m"


def write_prompts(path: Path, texts=PROMPTS, bad_lines: bool = False) -> Path:
    lines = [json.dumps({"text": t}) for t in texts]
    if bad_lines:
        lines.insert(1, "{not json")  # line 2
        lines.insert(3, json.dumps({"prompt": "no text field"}))  # line 4
    path.write_text("\n".join(lines) + "\n")
    return path


def records(out: Path) -> dict[tuple[str, str], dict]:
    """{(model, key): completion record} of a store."""
    return {
        (f.parent.name, f.stem): json.loads(f.read_text())
        for f in (out / "done").glob("*/*.json")
        if not f.name.startswith(".")
    }
