"""HTTP errors of the API, and the translation of sitelog's errors into them.

Every error answer is ``{"error": {"code": ..., "message": ...}}`` with a 4xx status
for anything the client can fix. Library and engine exceptions are translated here,
at the boundary, and nowhere else.
"""

from __future__ import annotations

from engine.errors import (
    BrokerUnavailableError,
    CentralOnlyError,
    ConflictError,
    LogError,
    OutsideSubsetError,
    SiteStoppedError,
    UnknownSubjectError,
)
from projections.errors import DatabaseUnavailableError
from schemas.errors import InvalidEventError, SitelogError


class ApiError(Exception):
    """An answer other than success: status, a stable code and a one-line message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid-request", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not-found", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def translate(exc: SitelogError) -> ApiError:
    """The answer for an error raised by the engine while serving a request."""
    if isinstance(exc, InvalidEventError):
        return bad_request(str(exc))
    if isinstance(exc, UnknownSubjectError):
        return not_found(str(exc))
    if isinstance(exc, OutsideSubsetError):
        return ApiError(403, "outside-subset", str(exc))
    if isinstance(exc, CentralOnlyError):
        return ApiError(403, "central-only", str(exc))
    if isinstance(exc, ConflictError):
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, SiteStoppedError):
        return ApiError(503, "site-stopped", str(exc))
    if isinstance(exc, BrokerUnavailableError | LogError):
        return ApiError(503, "log-unavailable", str(exc))
    if isinstance(exc, DatabaseUnavailableError):
        return ApiError(503, "database-unavailable", str(exc))
    return ApiError(500, "internal", str(exc))
