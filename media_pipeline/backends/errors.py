"""Typed errors every backend raises, so the pipeline knows what to retry."""

from __future__ import annotations


class BackendError(Exception):
    """Base class. The message is shown to users: say what went wrong and what to do."""


class PermanentError(BackendError):
    """Bad input or configuration; retrying the same thing cannot help."""


class TransientError(BackendError):
    """A timeout, an overloaded or unreachable server: worth another attempt later."""
