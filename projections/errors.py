"""Errors of the projection layer."""

from __future__ import annotations

from schemas.errors import SitelogError


class ProjectionReplacedError(SitelogError):
    """The projection's schema was replaced (``sitelog replay --swap``) since it was loaded.

    The writer's in-memory state and offsets belong to the old projection: it must load
    the new one back before writing again. Nothing of the refused batch was written.
    """


class DatabaseUnavailableError(SitelogError):
    """PostgreSQL could not be reached with the configured DSN (one line: where, and why)."""
