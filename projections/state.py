"""The fold's state and its output, no I/O.

``ProjectionState`` holds every register row (current states, acknowledgements,
downtimes, comments, configuration, pools) in memory; ``projections.fold.apply`` folds
one event into it and records what changed in a ``Changes``: the final row of each
register key the batch touched (so a hundred results for one service become one
upsert) and the rows to append (history, audit, perfdata points).

Both are keyed by the table objects of ``projections.tables`` and typed by them:
``state.get(STATES, key)`` is a ``StateRow | None``, ``changes.put(STATES, key, row)``
takes a ``StateRow`` only.

Convergence by design: registers are last-writer-wins on version bytes
(``projections.version``), downtimes and comments are add/remove sets where the
removal wins whatever the order, and appended rows carry their event id in their
primary key, so an event delivered twice appends nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from projections.table import R, Table
from projections.tables import TABLES, TABLES_BY_NAME

Key = tuple[Any, ...]
Row = tuple[Any, ...]

REGISTER_TABLES: tuple[Table[Any], ...] = tuple(t for t in TABLES if t.kind == "register")
APPEND_TABLES: tuple[Table[Any], ...] = tuple(t for t in TABLES if t.kind == "append")

# The dictionaries below hold each table's own row type; their values are typed Any
# because one dictionary holds every table, and the accessors give each table's rows
# back with their type (``dict[Key, Any]`` is assignable to ``dict[Key, StateRow]``).


class Changes:
    """Row changes of one batch: final register rows by key, and appended rows."""

    __slots__ = ("appends", "registers")

    def __init__(self) -> None:
        self.registers: dict[Table[Any], dict[Key, Any]] = {t: {} for t in REGISTER_TABLES}
        self.appends: dict[Table[Any], list[Any]] = {t: [] for t in APPEND_TABLES}

    def put(self, table: Table[R], key: Key, row: R) -> None:
        self.registers[table][key] = row

    def append(self, table: Table[R], row: R) -> None:
        self.appends[table].append(row)

    def rows(self, table: Table[R]) -> dict[Key, R]:
        """The batch's final rows of register ``table``, by key."""
        return self.registers[table]

    def appended(self, table: Table[R]) -> list[R]:
        """The rows the batch appends to ``table``, in fold order (duplicates included)."""
        return self.appends[table]

    @property
    def row_count(self) -> int:
        return sum(map(len, self.registers.values())) + sum(map(len, self.appends.values()))


class ProjectionState:
    """Every register row of the projection, and the fold that updates them."""

    def __init__(self, registers: Mapping[Table[Any], Mapping[Key, Row]] | None = None) -> None:
        # Values are the tables' NamedTuple rows (projections.rows).
        self.registers: dict[Table[Any], dict[Key, Any]] = {t: {} for t in REGISTER_TABLES}
        for table, rows in (registers or {}).items():
            self.registers[table].update(rows)

    @classmethod
    def from_rows(cls, rows: Mapping[str, Iterable[Row]]) -> ProjectionState:
        """Rebuild the state from register rows read back from the sink, by table name."""
        tables = {name: TABLES_BY_NAME[name] for name in rows}
        return cls(
            {
                tables[name]: {tables[name].key_of(r): r for r in table_rows}
                for name, table_rows in rows.items()
            }
        )

    def rows(self, table: Table[R]) -> dict[Key, R]:
        """Every row of register ``table``, by key (the state's own dictionary: read only)."""
        return self.registers[table]

    def get(self, table: Table[R], key: Key) -> R | None:
        rows: dict[Key, R] = self.registers[table]
        return rows.get(key)

    def put(self, table: Table[R], key: Key, row: R, changes: Changes) -> None:
        self.registers[table][key] = row
        changes.registers[table][key] = row
