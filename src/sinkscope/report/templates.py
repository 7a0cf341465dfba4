"""The report's assets (package data under `sinkscope/report/assets/`) and the Jinja2 environment.

    asset_text("report.css")            the text of an asset file (importlib.resources)
    render("report.html.j2", page=...)  a template rendered with autoescaping on

Templates get two number filters: `fmt` (the page's style: thousands separators, 3 significant
digits, "–" for missing) and `num` (the fragments' style: scientific notation outside
[1e-3, 1e4)). Everything a template prints is HTML-escaped unless the template says `|safe`,
which it does only for markup built here (inline CSS / JS assets, script-safe JSON, fragments).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
import numpy as np

from sinkscope.core.fileio import jsonable

ASSETS = "assets"


def asset_text(name: str) -> str:
    """The text of `sinkscope/report/assets/NAME` (shipped as package data)."""
    return resources.files("sinkscope.report").joinpath(ASSETS, name).read_text(encoding="utf-8")


def fmt(v: Any, digits: int = 3) -> str:
    """A number as the report page shows it: None / non-finite -> "–", bool -> yes/no, ints with
    thousands separators, floats with `digits` significant digits (no decimals from 1000 on)."""
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return "–"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def num(v: Any, digits: int = 3) -> str:
    """A number as the §8 / §9 fragments show it: scientific notation outside [1e-3, 1e4), "–" for
    missing, booleans as "yes" / "" (a marker column). Non-numbers are returned as text."""
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else ""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return "–"
    if f != 0 and (abs(f) >= 1e4 or abs(f) < 1e-3):
        return f"{f:.{digits - 1}e}"
    return f"{f:.{digits}g}" if abs(f) >= 1 else f"{f:.{digits}f}".rstrip("0").rstrip(".") or "0"


def safe_utf8(s: str) -> str:
    """`s` with anything UTF-8 cannot encode (tokenizers can emit lone surrogates) replaced by "?"."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace").decode("utf-8")


def script_json(obj: Any) -> str:
    """JSON (via `jsonable`) for a <script type="application/json"> element: '<', '>' and '&'
    escaped, so no token text can close the element or open a comment."""
    text = json.dumps(jsonable(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sinkscope.report", ASSETS),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    env.filters["num"] = num
    return env


def render(template: str, **context: Any) -> str:
    """Render the asset template `template` with `context` (autoescaped)."""
    return environment().get_template(template).render(**context)


__all__ = ["asset_text", "environment", "fmt", "num", "render", "safe_utf8", "script_json"]
