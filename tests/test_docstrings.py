"""The docstring layout of docs/INTERNALS.md "Docstring layout" (issue 23, item 8).

Every public function and method of a converted module whose signature takes or returns an array
(numpy `ndarray`, torch `Tensor`, or a container of them, read from the annotations) opens with a
one-line summary, keeps the sections in the layout's order (Args, Shapes, Returns, Raises) and has a
`Shapes:` section, and that section names every array argument (`name: [L, T] ...`) and, for an
array result, `returns:`. The dimensions inside the brackets are the project's letters (L, H, KV,
T, C, D, B, docs/method.md "Notation"), integers, simple arithmetic of them, or a letter the
section itself defines (`N = number of records`).

Modules join `CONVERTED` as they are converted; every module of the analysis package is either
in `CONVERTED` or in `NOT_YET_CONVERTED`, so a new analysis module has to choose.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re

import pytest

import sinkscope.analysis

CONVERTED: tuple[str, ...] = (
    "sinkscope.analysis.scores",
    "sinkscope.analysis.levels",
    "sinkscope.analysis.normlaw",
    "sinkscope.analysis.weakening",
    "sinkscope.analysis.properties",
    "sinkscope.analysis.anatomy",
    "sinkscope.analysis.massive",
    "sinkscope.analysis.gates",
    "sinkscope.analysis.regions",
    "sinkscope.analysis.outcomes",
    "sinkscope.analysis.formation",
    "sinkscope.analysis.columns",
    "sinkscope.analysis.summary",
    "sinkscope.analysis.pooled",
    "sinkscope.analysis.config",
    "sinkscope.analysis.detection",
    "sinkscope.analysis.findings",
    "sinkscope.core.errors",
    "sinkscope.core.fileio",
    "sinkscope.core.hashing",
    "sinkscope.core.version",
    "sinkscope.models.base",
    "sinkscope.models.catalog",
    "sinkscope.models.gguf",
    "sinkscope.models.loading",
    "sinkscope.models.progress",
    "sinkscope.models.pull",
    "sinkscope.models.wheels",
    "sinkscope.report.figures",
    "sinkscope.report.anatomy_figures",
    "sinkscope.report.anatomy_html",
    "sinkscope.workflows.reproduce",
    "sinkscope.workflows.reproduce.causal",
    "sinkscope.workflows.reproduce.figures",
    "sinkscope.workflows.reproduce.long",
    "sinkscope.workflows.reproduce.long_figures",
    "sinkscope.workflows.reproduce.long_render",
    "sinkscope.workflows.reproduce.long_stats",
    "sinkscope.workflows.reproduce.plans",
    "sinkscope.workflows.reproduce.render",
    "sinkscope.workflows.reproduce.rules",
    "sinkscope.workflows.reproduce.run",
    "sinkscope.workflows.reproduce.stats",
    "sinkscope.workflows.reproduce.traces",
    "sinkscope.workflows.reproduce.values",
    "sinkscope.workflows.kv",
    "sinkscope.workflows.kv.inputs",
    "sinkscope.workflows.kv.result",
    "sinkscope.workflows.kv.work",
    "sinkscope.capture",
    "sinkscope.capture.adapters",
    "sinkscope.capture.attention",
    "sinkscope.capture.device",
    "sinkscope.capture.engine",
    "sinkscope.capture.hooks",
    "sinkscope.capture.inputs",
    "sinkscope.capture.kv_policies",
    "sinkscope.capture.probe",
    "sinkscope.capture.selfcheck",
    "sinkscope.capture.trace",
    "sinkscope.capture.twopass",
    "sinkscope.report",
    "sinkscope.report.anatomy_console",
    "sinkscope.report.console",
    "sinkscope.report.html",
    "sinkscope.report.interventions_console",
    "sinkscope.report.kv",
    "sinkscope.report.notebook",
    "sinkscope.report.payload",
    "sinkscope.report.templates",
    "sinkscope.report.types",
    "sinkscope.workflows",
    "sinkscope.workflows.anatomy",
    "sinkscope.workflows.interventions",
    "sinkscope.workflows.interventions.auto",
    "sinkscope.workflows.interventions.core",
    "sinkscope.workflows.interventions.dose",
    "sinkscope.workflows.interventions.result",
    "sinkscope.workflows.interventions.spec",
    "sinkscope.workflows.outputs",
    "sinkscope.workflows.runs",
    "sinkscope.workflows.scan",
    "sinkscope.workflows.sweep",
    "sinkscope.workflows.sweep.compare",
    "sinkscope.workflows.sweep.executor",
    "sinkscope.workflows.sweep.ray_executor",
    "sinkscope.workflows.sweep.store",
    "sinkscope.workflows.sweep.units",
    "sinkscope.cli",
    "sinkscope.cli.anatomy",
    "sinkscope.cli.common",
    "sinkscope.cli.intervene",
    "sinkscope.cli.kv",
    "sinkscope.cli.levels",
    "sinkscope.cli.models",
    "sinkscope.cli.options",
    "sinkscope.cli.report",
    "sinkscope.cli.reproduce",
    "sinkscope.cli.scan",
    "sinkscope.cli.sweep",
    "sinkscope.kv",
)

# Analysis modules rewritten on other branches of issue 23; they join CONVERTED when converted.
NOT_YET_CONVERTED: tuple[str, ...] = ()

PROJECT_LETTERS = frozenset({"L", "H", "KV", "T", "C", "D", "B"})
_DTYPES = frozenset({"or", "bool", "float32", "float64", "int32", "int64", "uint8", "str", "object"})

_ARRAY_ANNOTATION = re.compile(r"\b(?:ndarray|NDArray|ArrayLike|Tensor)\b")
_SECTION_HEAD = re.compile(r"^\s*(Args|Shapes|Returns|Raises|Yields|Example|Examples|Notes?):\s*$")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_DEFINED_LETTER = re.compile(r"\b([A-Za-z][A-Za-z_0-9]{0,3})\s*=\s")


def _is_array(annotation: object) -> bool:
    return isinstance(annotation, str) and bool(_ARRAY_ANNOTATION.search(annotation))


def _public_callables(module) -> list[tuple[str, object]]:
    """(qualified name, function) of the module's public functions and its public classes' methods."""
    out: list[tuple[str, object]] = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            out.append((name, obj))
        elif inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                elif isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member) and member.__qualname__.startswith(obj.__name__ + "."):
                    out.append((f"{name}.{attr}", member))
    return out


def _array_names(func) -> tuple[list[str], bool]:
    annotations = inspect.get_annotations(func)
    params = [n for n, a in annotations.items() if n != "return" and _is_array(a)]
    return params, _is_array(annotations.get("return"))


def shapes_section(doc: str) -> str | None:
    """The text of the docstring's `Shapes:` section (up to the next section head), or None."""
    lines = inspect.cleandoc(doc).splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Shapes:":
            body = []
            for rest in lines[i + 1:]:
                if _SECTION_HEAD.match(rest):
                    break
                body.append(rest)
            return "\n".join(body)
    return None


SECTION_ORDER = ("Args", "Shapes", "Returns", "Raises")


def section_order(doc: str) -> list[str]:
    """The layout sections (`SECTION_ORDER`) of a docstring, in the order they appear."""
    heads = [line.strip()[:-1] for line in inspect.cleandoc(doc).splitlines() if line.strip().endswith(":")]
    return [h for h in heads if h in SECTION_ORDER]


def _named(section: str, name: str) -> bool:
    """`name` heads an entry of the section: `name: [..]` or `a, name, b: [..]`."""
    for line in section.splitlines():
        head, sep, _ = line.partition(":")
        if sep and name in [part.strip() for part in head.split(",")]:
            return True
    return False


def _unknown_letters(section: str) -> set[str]:
    defined = set(_DEFINED_LETTER.findall(section)) | PROJECT_LETTERS
    unknown: set[str] = set()
    for inside in _BRACKETS.findall(section):
        for token in re.findall(r"[A-Za-z_]+", inside):
            if token not in defined and token not in _DTYPES:
                unknown.add(token)
    return unknown


def _exists(modname: str) -> bool:
    try:
        return importlib.util.find_spec(modname) is not None
    except ModuleNotFoundError:  # a parent package is gone
        return False


def _targets() -> list[tuple[str, object, list[str], bool]]:
    out = []
    for modname in CONVERTED:
        if not _exists(modname):
            continue  # reported by test_converted_modules_exist
        module = importlib.import_module(modname)
        for qual, func in _public_callables(module):
            params, returns = _array_names(func)
            if params or returns:
                out.append((f"{modname}.{qual}", func, params, returns))
    return out


TARGETS = _targets()


def test_converted_modules_have_array_functions():
    """The scan finds the functions it is meant to check (guards against a silently empty list)."""
    names = {name for name, *_ in TARGETS}
    assert "sinkscope.analysis.scores.layer_scores" in names
    assert "sinkscope.analysis.levels.sink_levels" in names or any(
        n.startswith("sinkscope.analysis.levels.") for n in names
    )
    assert len(TARGETS) >= 25


@pytest.mark.parametrize(("name", "func", "params", "returns"), TARGETS, ids=[t[0] for t in TARGETS])
def test_shapes_section(name, func, params, returns):
    doc = func.__doc__
    assert doc, f"{name} takes or returns arrays but has no docstring"
    section = shapes_section(doc)
    assert section is not None, f"{name} takes or returns arrays but its docstring has no 'Shapes:' section"
    missing = [p for p in params if not _named(section, p)]
    assert not missing, f"{name}: the Shapes section does not name the array argument(s) {missing}"
    if returns:
        assert _named(section, "returns"), (
            f"{name} returns an array: its Shapes section needs 'returns: [..]'"
        )
    lines = inspect.cleandoc(doc).splitlines()
    assert len(lines) == 1 or not lines[1].strip(), (
        f"{name}: the docstring's first line must be a one-line summary"
    )
    order = section_order(doc)
    assert order == sorted(order, key=SECTION_ORDER.index), (
        f"{name}: sections {order} are not in the layout's order {SECTION_ORDER}"
    )
    unknown = _unknown_letters(section)
    assert not unknown, (
        f"{name}: the Shapes section uses dimension letters {sorted(unknown)} that are neither the "
        f"project's ({sorted(PROJECT_LETTERS)}) nor defined in the section ('N = ...')"
    )


def test_converted_modules_exist():
    """A renamed or removed module leaves CONVERTED (or the checks would silently skip it)."""
    missing = [m for m in CONVERTED + NOT_YET_CONVERTED if not _exists(m)]
    assert not missing, f"modules listed in tests/test_docstrings.py that do not exist: {missing}"


def test_every_analysis_module_is_listed():
    found = {
        f"sinkscope.analysis.{info.name}"
        for info in pkgutil.iter_modules(sinkscope.analysis.__path__)
        if not info.name.startswith("_")
    }
    listed = set(CONVERTED) | set(NOT_YET_CONVERTED)
    assert found - listed == set(), f"analysis modules in neither list: {sorted(found - listed)}"
    assert set(CONVERTED) & set(NOT_YET_CONVERTED) == set()


def test_the_checker_catches_a_missing_entry():
    """The section parser and the entry check on a made-up docstring (so the checks can fail)."""
    doc = """Summary.

    Shapes:
        scores: [L, H, T] per-head scores.
        a, b: [N, D] with N = number of records.
        returns: [L, T]

    Returns:
        The layer scores.
    """
    section = shapes_section(doc)
    assert section is not None
    assert _named(section, "scores") and _named(section, "b") and _named(section, "returns")
    assert not _named(section, "mask")
    assert _unknown_letters(section) == set()
    assert _unknown_letters("x: [Q, T]") == {"Q"}
    assert shapes_section("Summary only.") is None
    assert section_order(doc) == ["Shapes", "Returns"]
