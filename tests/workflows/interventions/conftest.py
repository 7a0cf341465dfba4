"""Test helpers for interventions live in tests/workflows/interventions/planted.py and
tests/capture/archs.py (imported as the `tests` package)."""
