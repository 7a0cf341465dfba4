"""Checks on the bundled prompt data (src/sinkscope/data).

The bundled prompts.jsonl is the source of the texts (no generator script); this module is
its one checker. These tests use only the standard library and read the files by path, so they
run without importing sinkscope or any of its heavy dependencies.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "src" / "sinkscope" / "data"
PROMPTS = DATA / "prompts.jsonl"
EXAMPLE = DATA / "example.txt"
CATEGORIES = ("math", "code", "prose", "chat")


def _load() -> list[dict]:
    records = []
    with open(PROMPTS, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            assert line.strip(), f"blank line {lineno} in prompts.jsonl"
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:  # pragma: no cover - failure path
                pytest.fail(f"line {lineno} is not valid JSON: {exc}")
    return records


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return _load()


# --------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------
def test_files_exist():
    assert PROMPTS.is_file()
    assert EXAMPLE.is_file()
    assert (DATA / "LICENSE-DATA.md").is_file()


def test_every_line_is_valid_json_object(records):
    for rec in records:
        assert isinstance(rec, dict)
        assert set(rec) == {"id", "category", "text"}, rec.get("id")
        assert all(isinstance(rec[k], str) for k in rec), rec["id"]


def test_at_least_100_prompts(records):
    assert len(records) >= 100


def test_ids_unique_and_well_formed(records):
    ids = [r["id"] for r in records]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes, f"duplicate ids: {dupes}"
    for rec in records:
        assert re.fullmatch(r"[a-z]+-\d{3}", rec["id"]), rec["id"]
        assert rec["id"].startswith(rec["category"] + "-"), rec["id"]


def test_categories_present_and_large_enough(records):
    counts = Counter(r["category"] for r in records)
    assert set(counts) == set(CATEGORIES), counts
    for cat in CATEGORIES:
        assert counts[cat] >= 15, (cat, counts[cat])


def test_texts_non_empty(records):
    for rec in records:
        assert rec["text"].strip(), rec["id"]
        assert len(rec["text"].split()) >= 20, rec["id"]


def test_chat_entries_are_dialogues(records):
    for rec in records:
        if rec["category"] == "chat":
            assert rec["text"].startswith("User: "), rec["id"]
            assert "\nAssistant: " in rec["text"], rec["id"]


def test_code_keeps_newlines_and_indentation(records):
    code = [r for r in records if r["category"] == "code"]
    assert all("\n" in r["text"] for r in code)
    # every code prompt has at least one indented line (leading spaces then code)
    indented = [r["id"] for r in code if re.search(r"\n {2,}\S", r["text"])]
    assert indented == [r["id"] for r in code]


def test_example_txt_non_empty():
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.strip()
    assert 300 <= len(text.split()) <= 500


# --------------------------------------------------------------------------
# Arithmetic in math texts
# --------------------------------------------------------------------------
# A number: optional "$", optional minus, digits (with optional thousands
# separators) and an optional decimal part.
_NUM = r"\$?-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# Operators: + - * / and a letter x with spaces around it ("3 x 4").
_OP = r"(?:[ \t]*[-+*/][ \t]*|[ \t]+x[ \t]+)"
_EXPR = rf"{_NUM}(?:{_OP}{_NUM})*"
# One or more "=" joining expressions: "12 x 24 = 288", "1/6 + 2/6 = 3/6".
CHAIN = re.compile(rf"(?<![\w.,$]){_EXPR}(?:[ \t]*=[ \t]*{_EXPR})+")
_TOKEN = re.compile(rf"({_NUM})|[ \t]*([-+*/]|x)[ \t]*")


def _evaluate(expr: str) -> Fraction:
    """Exact value of numbers joined by + - * / x, with the usual precedence."""
    nums: list[Fraction] = []
    ops: list[str] = []
    pos, expect_num = 0, True
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        assert m is not None, f"cannot parse {expr!r}"
        if expect_num and m.group(1) is not None:
            nums.append(Fraction(m.group(1).replace("$", "").replace(",", "")))
        elif not expect_num and m.group(2) is not None:
            ops.append("*" if m.group(2) == "x" else m.group(2))
        else:
            raise AssertionError(f"cannot parse {expr!r}")
        expect_num = not expect_num
        pos = m.end()
    terms, add_ops = [nums[0]], []
    for op, n in zip(ops, nums[1:]):
        if op == "*":
            terms[-1] *= n
        elif op == "/":
            terms[-1] /= n
        else:
            add_ops.append(op)
            terms.append(n)
    total = terms[0]
    for op, t in zip(add_ops, terms[1:]):
        total = total + t if op == "+" else total - t
    return total


def _chains(text: str):
    """Yield (chain, values of each side) for every stand-alone arithmetic chain.

    Chains glued to algebra ("3n + 7 = 46"), brackets, powers or percent signs
    are skipped: only plain number arithmetic is checked.
    """
    for m in CHAIN.finditer(text):
        chain = m.group(0)
        before = text[: m.start()].rstrip(" \t")
        after_raw = text[m.end() :]
        after = after_raw.lstrip(" \t")
        if before and (before[-1] in "+-*/^()[]" or re.search(r"[\d)\]][ \t]+x$", before)):
            continue
        if after_raw[:1] and (after_raw[:1].isalnum() or after_raw[:1] in "%([^"):
            continue
        if (after[:1] and after[:1] in "+-*/^(") or re.match(r"x[ \t]+\d", after):
            continue
        sides = re.split(r"[ \t]*=[ \t]*", chain)
        if not any(re.search(_OP, s) for s in sides):
            continue
        yield chain, [_evaluate(s) for s in sides]


@pytest.mark.parametrize(
    "text, ok",
    [
        ("so 12 x 24 = 288 muffins.", True),
        ("so 12 x 24 = 289 muffins.", False),
        ("205 + 63 = 268", True),
        ("288 - 268 = 21", False),
        ("3 * 7 = 21", True),
        ("Then 1/6 + 2/6 = 3/6, which", True),
        ("80 x 0.83 = 66.40 dollars", True),
        ("5 + 76 = 80.", False),
    ],
)
def test_checker_catches_errors(text, ok):
    found = list(_chains(text))
    assert len(found) == 1, found
    chain, values = found[0]
    assert all(v == values[0] for v in values) is ok, chain


def test_checker_skips_algebra():
    assert list(_chains("So 3n + 7 = 46, and 4s + 20 = 2(s + 20).")) == []
    assert list(_chains("The area is 2.5 + 3 = 5.5 here.")) == [("2.5 + 3 = 5.5", [Fraction(11, 2), Fraction(11, 2)])]
    assert list(_chains("The text (3 + 4) x 2 + 1 = 15 is skipped.")) == []


# Matches the simple forms named in the data spec: a + b = c, a - b = c,
# a * b = c and a x b = c, where a, b and c are integers.
SIMPLE = re.compile(r"(?<![\w.,/$-])(\d+)[ \t]*([-+*]|x(?=[ \t]))[ \t]*(\d+)[ \t]*=[ \t]*(\d+)(?![\w.]\d|\d)")


def _simple_errors(text: str) -> tuple[int, list[str]]:
    checked, bad = 0, []
    for m in SIMPLE.finditer(text):
        before = text[: m.start()].rstrip(" \t")
        after = text[m.end() :].lstrip(" \t")
        # Part of a longer expression: "2 + 3 + 4 = 9" or "(3 + 4) x 2 = 14".
        if before[-1:] in tuple("+-*/x()^") or after[:1] in tuple("+-*/^(x%"):
            continue
        if text[m.end() : m.end() + 1].isalpha():
            continue
        a, op, b, c = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        value = {"+": a + b, "-": a - b, "*": a * b, "x": a * b}[op]
        checked += 1
        if value != c:
            bad.append(m.group(0))
    return checked, bad


def _math_texts(records) -> list[tuple[str, str]]:
    texts = [(r["id"], r["text"]) for r in records if r["category"] == "math"]
    texts.append(("example.txt", EXAMPLE.read_text(encoding="utf-8")))
    return texts


def test_math_simple_integer_arithmetic_is_correct(records):
    total, errors = 0, []
    for rid, text in _math_texts(records):
        checked, bad = _simple_errors(text)
        total += checked
        errors += [f"{rid}: {b}" for b in bad]
    assert not errors, errors
    assert total >= 150, f"only {total} simple equations found; is the checker broken?"


def test_math_arithmetic_chains_are_correct(records):
    total, errors = 0, []
    for rid, text in _math_texts(records):
        for chain, values in _chains(text):
            total += 1
            if any(v != values[0] for v in values):
                errors.append(f"{rid}: {chain}")
    assert not errors, errors
    assert total >= 200


def test_non_code_arithmetic_is_correct(records):
    errors = []
    for rec in records:
        if rec["category"] in ("prose", "chat"):
            for chain, values in _chains(rec["text"]):
                if any(v != values[0] for v in values):
                    errors.append(f"{rec['id']}: {chain}")
    assert not errors, errors


def test_every_math_entry_has_worked_arithmetic(records):
    for rid, text in _math_texts(records):
        assert len(list(_chains(text))) >= 3, rid
        assert "=" in text, rid


# --------------------------------------------------------------------------
# The licence note describes the data as it is
# --------------------------------------------------------------------------
def test_licence_note_counts_match_the_data(records):
    note = (DATA / "LICENSE-DATA.md").read_text(encoding="utf-8")
    assert f"`prompts.jsonl`: {len(records)} prompts" in note
    counts = Counter(r["category"] for r in records)
    for cat in CATEGORIES:
        assert re.search(rf"\|\s*{cat}\s*\|\s*{counts[cat]}\s*\|", note), (cat, counts[cat])
    words = sum(len(r["text"].split()) for r in records)
    assert f"Total: {words} words in `prompts.jsonl`." in note
    example_words = len(EXAMPLE.read_text(encoding="utf-8").split())
    assert f"({example_words} words)" in note
