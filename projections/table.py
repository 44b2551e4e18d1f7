"""How a projection table is declared: its columns, and ``Table``, generic in its row type.

A table is generic in its row type: ``STATES`` is a ``Table[StateRow]``, so code that
reads a register through it (``state.get(STATES, key)``) gets a ``StateRow | None``,
and code that writes one gets a type error for a row of another table. The table
objects themselves, not their names, are what the fold and the sinks pass around;
``name`` is for SQL identifiers and for rows read back by table name. The tables
themselves are declared in ``projections.tables``.

Kinds:
- ``register``: one row per key, rewritten with its latest value (the fold owns it
  and keeps it in memory; the sink upserts the batch's final rows).
- ``append``: rows only ever added, deduplicated by primary key (an event written
  twice by a producer retry inserts nothing the second time).
- ``derived``: recomputed by the sink from other tables (perfdata rollup tiers).

Time-kept tables (``time_column`` set) are the ones retention expires
(``projections.retention``); the rest, registers above all, are never expired. Those
with a ``partition_span`` too are partitioned by ranges of that column in PostgreSQL,
so that expiry drops whole partitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

__all__ = ["Column", "Kind", "R", "Table", "columns"]

Kind = Literal["register", "append", "derived"]

#: A table's row type: one of the NamedTuples of ``projections.rows``.
R = TypeVar("R", bound=tuple[Any, ...])


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    nullable: bool = False
    #: False for a column the fold produces and the sink only stages (a point's perfdata
    #: problem, counted into ``perfdata_problems``): it is never read back or digested.
    stored: bool = True


# eq=False: each table is declared once, so identity is equality, and hashing a table
# (the key of every register and append lookup in the fold's hot path) costs nothing.
@dataclass(frozen=True, eq=False)
class Table(Generic[R]):
    name: str
    #: The NamedTuple of its rows, fields in column order (checked by tests/unit/test_tables.py).
    row: type[R]
    kind: Kind
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    #: Extra indexes, each a tuple of column names.
    indexes: tuple[tuple[str, ...], ...] = ()
    #: Part of the state digest (node-local bookkeeping is not).
    digested: bool = True
    #: The instant (microseconds) retention measures a row by; None: never expired.
    time_column: str | None = None
    #: Microseconds of each PostgreSQL partition by ``time_column``; None: not partitioned.
    partition_span: int | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """The columns a database holds (all but the staged-only ones)."""
        return tuple(c for c in self.columns if c.stored)

    @property
    def stored_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.stored)

    def stored(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """``row`` as a database holds it: its stored columns' values."""
        if len(self.stored_columns) == len(self.columns):
            return tuple(row)
        return tuple(row[: len(self.stored_columns)])

    def key_of(self, row: tuple[object, ...]) -> tuple[object, ...]:
        return tuple(row[self.column_names.index(k)] for k in self.primary_key)

    def make(self, values: Iterable[Any]) -> R:
        """A typed row from values in column order (a row read back from PostgreSQL)."""
        return self.row(*values)

    def __repr__(self) -> str:
        return f"Table({self.name!r})"


def columns(spec: str) -> tuple[Column, ...]:
    """Columns from ``name type[?] [staged]`` lines (``?`` marks a nullable column,
    ``staged`` one that is not stored; staged columns come last)."""
    columns = []
    for line in spec.strip().splitlines():
        name, sql_type = line.split(maxsplit=1)
        stored = not sql_type.endswith(" staged")
        sql_type = sql_type.removesuffix(" staged")
        nullable = sql_type.endswith("?")
        columns.append(Column(name, sql_type.rstrip("?"), nullable, stored))
    stored_flags = [c.stored for c in columns]
    if stored_flags != sorted(stored_flags, reverse=True):
        raise ValueError("staged columns come after the stored ones")
    return tuple(columns)
