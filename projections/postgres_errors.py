"""psycopg's errors translated into sitelog's, with their policy: the one place that decides
which database faults are worth waiting out.

Transient (``DatabaseUnavailableError``, retriable): the server cannot be reached, is
starting up or shutting down, dropped the connection, or rolled a transaction back
because it lost a serialization or deadlock race. Anything else (a constraint or a
statement the server refuses) is a ``DatabaseError``: trying the same write again would
fail the same way. The message is one line: where, and PostgreSQL's first line of why.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from projections.errors import DatabaseError, DatabaseUnavailableError

__all__ = ["database_error", "place_of", "translated", "translating"]


def place_of(dsn: str) -> str:
    """``host:port/dbname`` of a DSN, for messages (never the password)."""
    try:
        where = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable DSN)"
    return f"{where.get('host', 'localhost')}:{where.get('port', 5432)}/{where.get('dbname', '')}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def database_error(exc: psycopg.Error, what: str) -> DatabaseError:
    """The sitelog error for ``exc``, raised while doing ``what``."""
    # OperationalError covers lost connections, AdminShutdown, CannotConnectNow and the
    # TransactionRollback family (serialization failures, deadlocks); InterfaceError is
    # what psycopg raises on a connection that is already closed.
    kind = (
        DatabaseUnavailableError
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        else DatabaseError
    )
    return kind(f"{what}: {_first_line(exc)}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Raise sitelog's error instead of any psycopg error raised in the block."""
    try:
        yield
    except psycopg.Error as exc:
        raise database_error(exc, what) from None


class _OfSchema(Protocol):
    schema: str


S = TypeVar("S", bound=_OfSchema)
P = ParamSpec("P")
T = TypeVar("T")


def translating(
    what: str,
) -> Callable[[Callable[Concatenate[S, P], T]], Callable[Concatenate[S, P], T]]:
    """A sink method whose psycopg errors become sitelog's; ``what`` may name ``{schema}``."""

    def decorate(method: Callable[Concatenate[S, P], T]) -> Callable[Concatenate[S, P], T]:
        @functools.wraps(method)
        def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
            with translated(what.format(schema=self.schema)):
                return method(self, *args, **kwargs)

        return run

    return decorate
