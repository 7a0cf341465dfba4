"""Errors sinkscope raises on bad input.

Every error names the input that was wrong and says what to do about it; the CLI prints the
message (no stack trace) and exits non-zero.
"""

from __future__ import annotations


class SinkscopeError(Exception):
    """Base class: a user-facing error with an actionable message."""


class ModelNotFoundError(SinkscopeError):
    """A model reference that is not a catalog name, a local path, or a reachable hub id."""


class CorruptWeightsError(SinkscopeError):
    """Weights on disk that cannot be read (truncated or corrupt GGUF / safetensors)."""


class UnsupportedArchitectureError(SinkscopeError):
    """A model whose attention does not go through the HF attention interface."""


class InputError(SinkscopeError):
    """Bad text / file / option given by the user (empty text, too long, bad JSONL, ...)."""


class NumericalError(SinkscopeError):
    """NaN or inf appeared in the model's activations."""


class PullError(SinkscopeError):
    """The weight packages of a catalog model could not be installed or assembled (network, pip, disk)."""
