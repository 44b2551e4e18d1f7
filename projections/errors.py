"""Errors of the projection layer (see the tree in ``schemas.errors``)."""

from __future__ import annotations

from schemas.errors import SitelogError

__all__ = [
    "DatabaseError",
    "DatabaseUnavailableError",
    "LegacyLayoutError",
    "ProjectionReplacedError",
]


class ProjectionReplacedError(SitelogError):
    """The projection's schema was replaced (``sitelog replay --swap``) since it was loaded.

    The writer's in-memory state and offsets belong to the old projection: it must load
    the new one back before writing again. Nothing of the refused batch was written.
    """

    retriable = True  # once the writer has loaded the new projection back


class DatabaseError(SitelogError):
    """A statement failed in PostgreSQL for a reason that trying again will not change."""


class DatabaseUnavailableError(DatabaseError):
    """PostgreSQL cannot be used now: unreachable, restarting, the connection lost, or a
    transaction that lost a serialization race. One line: where, and why."""

    retriable = True


class LegacyLayoutError(DatabaseError):
    """The projection's schema has the layout of an older sitelog
    (``projections.postgres_legacy``): it is neither written nor converted on start, since
    converting large tables is an administrator's decision (``sitelog migrate``)."""
