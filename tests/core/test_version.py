"""`core.version.command_line`: manifests record the command, never the install path."""

from __future__ import annotations

from sinkscope.core.version import command_line


def test_command_line_names_the_program_not_its_path():
    assert command_line(["/usr/local/bin/sinkscope", "scan", "a b"]) == "sinkscope scan a b"
    assert command_line(["/tmp/x/src/sinkscope/cli/__main__.py", "kv", "--limit", "8"]) == "sinkscope kv --limit 8"
    assert command_line(["/opt/venv/bin/pytest", "-q"]) == "pytest -q"
    assert command_line(["/srv/other/__main__.py", "x"]) == "__main__.py x"
    assert command_line([]) is None
