"""The projection's advisory lock, and the autocommit a concurrent detach needs.

Every batch the writer commits holds the lock shared (``PostgresSink.write``); whoever
changes the projection outside it holds it alone for one transaction: a replacement,
dead letters re-processed, expiry moving a horizon, sealing moving ``sealed_before``, a
migration. So none of them interleaves with a batch half written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

__all__ = ["autocommit", "lock_projection"]


def lock_projection(cur: psycopg.Cursor[Any], schema: str, *, exclusive: bool) -> None:
    """Take projection ``schema``'s lock until the end of the transaction."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    cur.execute(
        sql.SQL("SELECT {}(hashtext(%s))").format(sql.Identifier(function)),
        (f"sitelog projection {schema}",),
    )


@contextmanager
def autocommit(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """The connection in autocommit for the block (``DETACH PARTITION ... CONCURRENTLY``
    cannot run in a transaction block), then as it was."""
    previous = conn.autocommit
    conn.autocommit = True
    try:
        yield
    finally:
        if not conn.closed:
            conn.autocommit = previous
