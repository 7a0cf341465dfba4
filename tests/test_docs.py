"""The method document (docs/method.md) and the citations of it (issue 12, point 8).

- every citation of the method document (`METHOD.md §N`, `METHOD §N`, `docs/method.md §N`,
  `METHOD.md section N`, `§N` on the same line as such a mention, a quoted part name such as
  `METHOD.md "Notation"`, `pitfalls`) resolves to a heading of docs/method.md;
- no file cites a method document outside the repository (every citation reads docs/method.md);
- no absolute path of a development machine appears in the repository's text files;
- documents cited by name exist in the repository; the method document's own links resolve;
- the document's configuration tables agree with the analysis config, and the modules it names exist.

Files are the repository's text files as git sees them (tracked plus untracked-but-not-ignored,
so files of the working tree that are about to be committed count too), or a plain walk of the
tree when git is unavailable. This file is left out of the scans: it spells the patterns it
looks for.

Run as a script (`python tests/test_docs.py`) it prints every citation found, counted per
section and part.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHOD_DOC = ROOT / "docs" / "method.md"
THIS = Path(__file__).resolve()

# Where citations are looked for: the product (src/ includes the report assets, templates and
# package data), its documentation, scripts, benchmarks and the tests.
CITING = ("README.md", "src/", "docs/", "scripts/", "benchmarks/", "tests/")

_SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".venv", "build", "dist",
              "test-artifacts", "sinkscope-demo"}

# A mention of the method document, in any of its spellings (before and after the rename).
MENTION = r"(?:\bdocs/method\.md\b|(?<![\w/])method\.md\b|\bMETHOD(?:\.md)?\b)"
_MENTION_RE = re.compile(MENTION)
# "METHOD.md §4", "METHOD §4", "METHOD.md, §4", "METHOD.md section 2" (also across a line break).
_NUMBERED_RE = re.compile(MENTION + r"[\s,]*(?:section\s+|§\s?)(\d+)")
# Any section sign with its number, and ranges "§1-§7", "§2-3".
_SECTION_RE = re.compile(r"§\s?(\d+)(?:\s*[-–]\s*§?\s?(\d+))?")
# A quoted part name right after a mention (optionally after its section): METHOD.md "Notation",
# METHOD.md §4 "Causal check"; or right after a section sign: (§9, "Contrast"; ...).
_QUOTED_AFTER_MENTION_RE = re.compile(MENTION + r"\s*(?:§\s?(\d+)\s*)?\"([^\"\n]{2,60})\"")
_QUOTED_AFTER_SECTION_RE = re.compile(r"§\s?(\d+)[,;:]?[ \t]+\"([^\"\n]{2,60})\"")
# Unquoted part names used after a mention.
_PITFALL_RE = re.compile(r"\bpitfalls?\b(?:[ \t]+\"([^\"\n]{2,60})\")?", re.IGNORECASE)
_REFERENCE_RE = re.compile(MENTION + r"[ \t]+reference numbers\b", re.IGNORECASE)


@dataclass(frozen=True)
class Citation:
    """One citation: `section` (an int) or `part` (a heading name), or both (a part of §N)."""

    path: str
    line: int
    section: int | None
    part: str | None
    text: str

    def key(self) -> str:
        if self.part is None:
            return f"§{self.section}"
        return f'§{self.section} "{self.part}"' if self.section is not None else f'"{self.part}"'

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.text.strip()[:120]}"


# ---- files ---------------------------------------------------------------------------------------
@functools.cache
def repo_files() -> tuple[Path, ...]:
    """Text files of the repository (see the module docstring), sorted, this file excluded."""
    paths: list[Path] = []
    git = shutil.which("git")
    listed = None
    if git and (ROOT / ".git").exists():
        proc = subprocess.run(
            [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=False,
        )
        if proc.returncode == 0:
            listed = [ROOT / p for p in proc.stdout.decode().split("\0") if p]
    if listed is None:
        listed = [
            p for p in ROOT.rglob("*")
            if p.is_file() and not any(part in _SKIP_DIRS or part.endswith(".egg-info")
                                       for part in p.relative_to(ROOT).parts)
        ]
    for p in listed:
        if p.resolve() == THIS or not p.is_file():
            continue
        paths.append(p)
    return tuple(sorted(paths))


def read_text(path: Path) -> str | None:
    """The file's text, or None for a binary (undecodable or NUL-holding) file."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def repo_lines():
    """(relative path, line number, line) of every line of every text file of the repository."""
    for p in repo_files():
        text = read_text(p)
        if text is not None:
            r = rel(p)
            for i, line in enumerate(text.split("\n"), start=1):
                yield r, i, line


def citing_files() -> list[tuple[str, str]]:
    """(relative path, text) of the files where citations are looked for."""
    out = []
    for p in repo_files():
        r = rel(p)
        if not any(r == c or (c.endswith("/") and r.startswith(c)) for c in CITING):
            continue
        text = read_text(p)
        if text is not None:
            out.append((r, text))
    return out


# ---- citations -----------------------------------------------------------------------------------
def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _sections_in(fragment: str) -> list[int]:
    out: list[int] = []
    for m in _SECTION_RE.finditer(fragment):
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        out.extend(range(a, b + 1) if a <= b else [a, b])
    return out


def citations_in(path: str, text: str) -> list[Citation]:
    """Every citation of the method document in one file (duplicates of one place removed)."""
    lines = text.split("\n")
    found: dict[tuple[int, int | None, str | None], Citation] = {}

    def add(line: int, section: int | None, part: str | None) -> None:
        found.setdefault((line, section, part), Citation(path, line, section, part, lines[line - 1]))

    for m in _NUMBERED_RE.finditer(text):
        add(_line_of(text, m.start(1)), int(m.group(1)), None)
    for m in _QUOTED_AFTER_MENTION_RE.finditer(text):
        add(_line_of(text, m.start(2)), int(m.group(1)) if m.group(1) else None, m.group(2))
    for m in _REFERENCE_RE.finditer(text):
        add(_line_of(text, m.start()), None, "Reference numbers")
    for i, line in enumerate(lines, start=1):
        if not _MENTION_RE.search(line):
            continue
        for n in _sections_in(line):
            add(i, n, None)
        for m in _QUOTED_AFTER_SECTION_RE.finditer(line):
            add(i, int(m.group(1)), m.group(2))
        for m in _PITFALL_RE.finditer(line):
            add(i, None, "Pitfalls")
            if m.group(1):
                add(i, None, m.group(1))
    return sorted(found.values(), key=lambda c: (c.line, c.section or 0, c.part or ""))


def all_citations() -> list[Citation]:
    out: list[Citation] = []
    for path, text in citing_files():
        out.extend(citations_in(path, text))
    return out


def citation_counts(cites: list[Citation]) -> Counter:
    return Counter(c.key() for c in cites)


# ---- the method document's headings --------------------------------------------------------------
@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    line: int


def headings(text: str) -> list[Heading]:
    """ATX headings outside fenced code blocks."""
    out: list[Heading] = []
    fenced = False
    for i, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        m = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if m and not fenced:
            out.append(Heading(len(m.group(1)), m.group(2).replace("`", "").strip(), i))
    return out


def section_heading(hs: list[Heading], n: int) -> Heading | None:
    for h in hs:
        if re.match(rf"^§{n}(?!\d)", h.text):
            return h
    return None


def subheadings(hs: list[Heading], top: Heading) -> list[Heading]:
    """The headings inside `top`'s section (up to the next heading of its level or higher)."""
    out = []
    for h in hs:
        if h.line <= top.line:
            continue
        if h.level <= top.level:
            break
        out.append(h)
    return out


def resolves(hs: list[Heading], c: Citation) -> bool:
    if c.section is not None:
        top = section_heading(hs, c.section)
        if top is None:
            return False
        if c.part is None:
            return True
        pool = [top, *subheadings(hs, top)]
    else:
        pool = hs
    name = c.part.lower()
    return any(h.text.lower().startswith(name) for h in pool)


def slug(heading_text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    s = heading_text.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


@pytest.fixture(scope="module")
def method_text() -> str:
    assert METHOD_DOC.is_file(), "docs/method.md is missing"
    return METHOD_DOC.read_text(encoding="utf-8")


# ---- (a) every citation resolves -----------------------------------------------------------------
def test_the_scan_finds_the_known_citation_forms():
    """The extraction itself: each form of the brief is recognised (so (a) cannot pass vacuously)."""
    sample = "\n".join([
        'a (METHOD.md §4, §5) b',
        'c METHOD §2 d',
        'e docs/method.md §9 f',
        'g METHOD.md\n    section 2. h',
        'i (METHOD.md §1-§3) j (§2-3)',
        'k METHOD.md "Notation" l',
        'm (METHOD §3, pitfall "Late keys look like sinks")',
        'n METHOD.md §4 "Causal check"',
        'o (METHOD.md reference numbers)',
        'p method.md §6 q',
        'r (§6) without a mention on the line',
    ])
    keys = set(citation_counts(citations_in("x", sample)))
    assert {"§1", "§2", "§3", "§4", "§5", "§6", "§9"} <= keys
    assert {'"Notation"', '"Pitfalls"', '"Late keys look like sinks"', '§4 "Causal check"',
            '"Reference numbers"'} <= keys
    lines_of_6 = {c.line for c in citations_in("x", sample) if c.section == 6}
    assert lines_of_6 == {11}  # the bare "(§6)" of the last line has no mention beside it


def test_a_missing_heading_is_caught(method_text):
    """The resolution itself: with §7's heading or a part's heading gone, citations stop resolving."""
    cite7 = Citation("x", 1, 7, None, "METHOD.md §7")
    late = Citation("x", 1, None, "Late keys look like sinks", 'METHOD pitfall "Late keys look like sinks"')
    causal = Citation("x", 1, 4, "Causal check", 'METHOD.md §4 "Causal check"')
    hs = headings(method_text)
    assert resolves(hs, cite7) and resolves(hs, late) and resolves(hs, causal)
    assert not resolves(headings(method_text.replace("## §7 ", "## Seven ")), cite7)
    assert not resolves(headings(method_text.replace("### Late keys", "### Keys")), late)
    assert not resolves(hs, Citation("x", 1, 5, "Causal check", ""))  # a part of another section
    assert not resolves(headings("```\n## §7 in a code block\n```\n"), cite7)


def test_every_citation_resolves_to_a_heading(method_text):
    cites = all_citations()
    assert len(cites) > 50, f"only {len(cites)} citations found: is the scan looking in the right places?"
    hs = headings(method_text)
    bad = [c for c in cites if not resolves(hs, c)]
    assert not bad, "citations without a heading in docs/method.md:\n" + "\n".join(
        f"  {c.key()}  <- {c.where()}" for c in bad
    )


def test_every_section_sign_resolves(method_text):
    """In this repository '§N' only ever refers to the method document, with or without a mention
    on the same line (e.g. a docstring's '(§6)' below a METHOD mention): each N needs a heading."""
    hs = headings(method_text)
    bad = []
    for path, text in citing_files():
        for i, line in enumerate(text.split("\n"), start=1):
            for n in _sections_in(line):
                if section_heading(hs, n) is None:
                    bad.append(f"  §{n}  <- {path}:{i}: {line.strip()[:120]}")
    assert not bad, "section numbers without a heading in docs/method.md:\n" + "\n".join(bad)


def test_method_doc_has_the_cited_structure(method_text):
    hs = headings(method_text)
    for n in range(1, 10):
        top = section_heading(hs, n)
        assert top is not None and top.level == 2, f"docs/method.md lacks a '## §{n} ...' heading"
    names = [h.text.lower() for h in hs if h.level == 2]
    for part in ("the claims to reproduce", "notation", "capture", "prior-work metrics", "pitfalls"):
        assert any(n.startswith(part) for n in names), f"docs/method.md lacks a '## {part}' section"
    numbered = [h for h in hs if h.level == 2 and h.text.startswith("§")]
    assert [int(re.match(r"§(\d+)", h.text).group(1)) for h in numbered] == list(range(1, len(numbered) + 1))


def test_each_section_names_its_modules(method_text):
    """Every numbered section has a 'Where it is implemented' line, and each module it names
    exists under src/ (a module file or a package folder)."""
    hs = headings(method_text)
    lines = method_text.split("\n")
    for n in range(1, 10):
        top = section_heading(hs, n)
        nxt = next((h.line for h in hs if h.line > top.line and h.level <= 2), len(lines) + 1)
        body = "\n".join(lines[top.line : nxt - 1])
        assert "Where it is implemented:" in body, f"§{n} has no 'Where it is implemented' line"
        where = body[body.index("Where it is implemented:") :]
        modules = re.findall(r"`(sinkscope(?:\.\w+)+)`", where)
        assert modules, f"§{n}: the 'Where it is implemented' line names no module"
        for mod in modules:
            parts = mod.split(".")
            base = ROOT / "src" / Path(*parts)
            assert base.with_suffix(".py").is_file() or (base / "__init__.py").is_file(), (
                f"§{n} names {mod}, which is not a module under src/"
            )


def test_configuration_table_matches_the_config(method_text):
    """The Configuration tables list every field of the analysis config (`AnalysisConfig`, or
    `DetectConfig` where there is no extended config) with the code's default."""
    from sinkscope.analysis import config as config_module

    cls = getattr(config_module, "AnalysisConfig", config_module.DetectConfig)
    start = method_text.index("## Configuration")
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", method_text[start:], flags=re.MULTILINE)
    table = {name: value.strip().strip("`") for name, value in rows}
    names = {f.name for f in fields(cls)}
    if cls is config_module.DetectConfig:
        assert names <= set(table), f"undocumented DetectConfig fields: {sorted(names - set(table))}"
        table = {k: v for k, v in table.items() if k in names}
    else:
        assert set(table) == names, (
            f"docs/method.md Configuration vs {cls.__name__}: missing {sorted(names - set(table))}, "
            f"unknown {sorted(set(table) - names)}"
        )
    cfg = cls()
    for name, shown in table.items():
        value = getattr(cfg, name)
        if isinstance(value, str):
            assert shown == value, f"{name}: docs/method.md says {shown!r}, the code says {value!r}"
        elif isinstance(value, tuple):
            got = tuple(float(x) for x in re.findall(r"[-+]?\d*\.?\d+", shown))
            assert got == tuple(float(x) for x in value), f"{name}: docs/method.md says {shown}, the code says {value}"
        else:
            assert float(shown) == float(value), f"{name}: docs/method.md says {shown}, the code says {value}"


def test_method_doc_links_resolve(method_text):
    anchors = {slug(h.text) for h in headings(method_text)}
    for target in re.findall(r"\]\(([^)\s]+)\)", method_text):
        if target.startswith(("http://", "https://")):
            continue
        file_part, _, anchor = target.partition("#")
        if file_part:
            assert (METHOD_DOC.parent / file_part).exists(), f"docs/method.md links to missing {file_part}"
        elif anchor:
            assert anchor in anchors, f"docs/method.md links to #{anchor}, which no heading defines"


# ---- (b) citations point inside the repository ---------------------------------------------------
_OUTSIDE_RE = re.compile(r"\bMETHOD(?:\.md)?\b")
_BARE_LOWER_RE = re.compile(r"(?<![\w/])method\.md\b")


def test_citations_point_inside_the_repo():
    """Every citation reads `docs/method.md`: 'METHOD.md' / 'METHOD §N' name the internal
    specification outside the repository. (A bare 'method.md' is allowed only inside docs/, where
    it is a relative link to the file next to it.)"""
    bad = [
        f"  {r}:{i}: {line.strip()[:120]}"
        for r, i, line in repo_lines()
        if _OUTSIDE_RE.search(line) or (not r.startswith("docs/") and _BARE_LOWER_RE.search(line))
    ]
    assert not bad, (
        f"{len(bad)} line(s) cite a method document outside the repository; cite docs/method.md:\n"
        + "\n".join(bad[:60]) + ("\n  ..." if len(bad) > 60 else "")
    )


# Upper-case document names (README.md, REPRODUCTION.md ...) are project documents: each one a
# file names must be a file of the repository. METHOD.md is the subject of the test above.
_DOC_NAME_RE = re.compile(r"\b([A-Z][A-Z0-9_-]*\.md)\b")


def test_cited_documents_exist_in_the_repo():
    present = {p.name for p in repo_files()} | {THIS.name}
    bad = [
        f"  {name} <- {r}:{i}: {line.strip()[:120]}"
        for r, i, line in repo_lines()
        for name in _DOC_NAME_RE.findall(line)
        if name != "METHOD.md" and name not in present
    ]
    assert not bad, "documents cited but not in the repository:\n" + "\n".join(bad)


# ---- (c) no paths of a development machine -------------------------------------------------------
# Home and work folders of a developer's machine. A match must start a path (not sit inside a URL
# or a longer path). Generic paths are not flagged: /tmp/... in command examples (every Unix
# machine has it), /usr/bin/... of system tools, ~/.cache/... and $SINKSCOPE_HOME (relative to
# whoever runs the command).
_MACHINE_PATH_RE = re.compile(
    r"(?<![\w.:/~$-])/(?:work|home|root|Users)/|\b[A-Za-z]:[\\/]+Users[\\/]", re.IGNORECASE
)
# (relative path, substring) pairs that are allowed to match; none are needed today.
MACHINE_PATH_ALLOWED: tuple[tuple[str, str], ...] = ()


def machine_paths() -> list[str]:
    return [
        f"  {r}:{i}: {line.strip()[:120]}"
        for r, i, line in repo_lines()
        if _MACHINE_PATH_RE.search(line) and not any(r == f and s in line for f, s in MACHINE_PATH_ALLOWED)
    ]


def test_machine_path_pattern():
    hit = _MACHINE_PATH_RE.search
    assert hit("see /work/shared/X.md") and hit("(/home/me/x)") and hit("`/root/.cache`")
    assert hit("C:\\Users\\me") and hit("/Users/me/src")
    assert not hit("--out /tmp/repro") and not hit("/usr/bin/chromium") and not hit("~/.cache/sinkscope")
    assert not hit("https://example.org/home/page") and not hit("src/work/x.py")


def test_no_development_machine_paths():
    bad = machine_paths()
    assert not bad, "absolute paths of a development machine in the repository:\n" + "\n".join(bad)


if __name__ == "__main__":
    cites = all_citations()
    counts = citation_counts(cites)

    def order(k: str) -> tuple:
        m = re.match(r"§(\d+)", k)
        return (0, int(m.group(1)), k) if m else (1, 0, k)

    print(f"{len(cites)} citations in {len({c.path for c in cites})} files")
    for k in sorted(counts, key=order):
        print(f"  {k:40s} {counts[k]}")
