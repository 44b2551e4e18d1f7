"""Errors of the vocabulary layer, and the root of every sitelog error.

Every error sitelog raises derives from :class:`SitelogError`, so callers at a
boundary (the CLI, the HTTP API) can turn any of them into one clear line
without catching library exceptions they do not know.
"""

from __future__ import annotations


class SitelogError(Exception):
    """Root of all sitelog errors. ``str(err)`` is one line meant for a human."""


class SchemaError(SitelogError):
    """A schema file is missing or invalid (a packaging bug, not user input)."""


class InvalidEventError(SitelogError, ValueError):
    """An event was built or encoded with values that the schema rejects."""


class DecodeError(SitelogError):
    """Bytes read from a log could not be turned into an event.

    ``reason`` is a short machine-friendly tag (``bad-magic``,
    ``unknown-fingerprint``, ``bad-body``, ``bad-value``) stored with the dead letter;
    the message says what exactly was wrong.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
