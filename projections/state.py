"""The fold's state and its output, no I/O.

``ProjectionState`` holds every register row (current states, acknowledgements,
downtimes, comments, configuration, pools) in memory; ``projections.fold.apply`` folds
one event into it and records what changed in a ``Changes``: the final row of each
register key the batch touched (so a hundred results for one service become one
upsert) and the rows to append (history, audit, perfdata points).

Convergence by design: registers are last-writer-wins on version bytes
(``projections.version``), downtimes and comments are add/remove sets where the
removal wins whatever the order, and appended rows carry their event id in their
primary key, so an event delivered twice appends nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from projections.tables import TABLES

Key = tuple[Any, ...]
Row = tuple[Any, ...]

REGISTER_TABLES = tuple(t.name for t in TABLES if t.kind == "register")
APPEND_TABLES = tuple(t.name for t in TABLES if t.kind == "append")


class Changes:
    """Row changes of one batch: final register rows by key, and appended rows."""

    __slots__ = ("appends", "registers")

    def __init__(self) -> None:
        self.registers: dict[str, dict[Key, Row]] = {name: {} for name in REGISTER_TABLES}
        self.appends: dict[str, list[Row]] = {name: [] for name in APPEND_TABLES}

    def put(self, table: str, key: Key, row: Row) -> None:
        self.registers[table][key] = row

    def append(self, table: str, row: Row) -> None:
        self.appends[table].append(row)

    @property
    def row_count(self) -> int:
        return sum(map(len, self.registers.values())) + sum(map(len, self.appends.values()))


class ProjectionState:
    """Every register row of the projection, and the fold that updates them."""

    def __init__(self, registers: Mapping[str, Mapping[Key, Row]] | None = None) -> None:
        # Values are the tables' NamedTuple rows (projections.rows).
        self.registers: dict[str, dict[Key, Any]] = {name: {} for name in REGISTER_TABLES}
        for name, rows in (registers or {}).items():
            self.registers[name].update(rows)

    @classmethod
    def from_rows(cls, rows: Mapping[str, Iterable[Row]]) -> ProjectionState:
        """Rebuild the state from register rows read back from the sink."""
        by_table = {t.name: t for t in TABLES}
        return cls(
            {
                name: {by_table[name].key_of(r): r for r in table_rows}
                for name, table_rows in rows.items()
            }
        )

    def get(self, table: str, key: Key) -> Any:
        return self.registers[table].get(key)

    def put(self, table: str, key: Key, row: Row, changes: Changes) -> None:
        self.registers[table][key] = row
        changes.put(table, key, row)
