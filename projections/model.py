"""The whole projection held in memory: the reference every PostgreSQL run must equal.

It is the projection's own logic, not a stand-in for a database, and a sink in its own
right (``projections.sink.Sink``): ``write`` keeps a batch's register rows and its
appended rows, deduplicated by primary key exactly as the PostgreSQL sink's
``ON CONFLICT DO NOTHING`` does (first row wins), and the rollups are derived from the
points the way the sink derives them. What it holds comes from the batches written to
it only, never from the fold's state, so it can be checked against that state.

``apply_batch`` is a convenience for property tests: it folds events into the
projection's own ``state`` and writes the resulting batch.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from projections import fold
from projections.digest import digest
from projections.rollups import rollup_rows
from projections.sink import Offsets, RowsByTable
from projections.state import APPEND_TABLES, REGISTER_TABLES, Changes, Key, ProjectionState
from projections.table import R, Table
from projections.tables import OFFSETS, PERFDATA_POINTS, PERFDATA_ROLLUPS, TABLES
from schemas.event import Event


class InMemoryProjection:
    """The projection in memory: a sink (``write``...) and, for tests, a fold (``apply_batch``)."""

    def __init__(self) -> None:
        #: The fold's state for ``apply_batch``; a caller folding with a state of its own
        #: writes its batches here with ``write`` and leaves this one empty.
        self.state = ProjectionState()
        self.registers: dict[Table[Any], dict[Key, Any]] = {t: {} for t in REGISTER_TABLES}
        self.appended: dict[Table[Any], dict[Key, Any]] = {t: {} for t in APPEND_TABLES}

    def apply_batch(self, events: Iterable[Event]) -> Changes:
        """Fold ``events`` into ``state`` as one batch, write it, and return it."""
        changes = Changes()
        for event in events:
            fold.apply(self.state, event, changes)
        self.write(changes)
        return changes

    def write(self, changes: Changes) -> None:
        """Keep a batch: its final register rows, and its appended rows not yet held."""
        for table, rows in changes.registers.items():
            self.registers[table].update(rows)
        for table, appended in changes.appends.items():
            kept = self.appended[table]
            for row in appended:
                kept.setdefault(table.key_of(row), row)

    def finish(self) -> None:
        """Nothing is pending: every batch was kept whole when it was written."""

    def load_registers(self) -> RowsByTable:
        return {
            t.name: list(self.registers[t].values()) for t in REGISTER_TABLES if t is not OFFSETS
        }

    def load_offsets(self) -> Offsets:
        offsets: Offsets = {}
        for row in self.table_rows(OFFSETS):
            offsets.setdefault(row.site, {})[row.partition] = row.next_offset
        return offsets

    def table_rows(self, table: Table[R]) -> list[R]:
        """The rows held for ``table`` (register, appended or derived)."""
        if table is PERFDATA_ROLLUPS:
            rollups: list[Any] = list(rollup_rows(self.appended[PERFDATA_POINTS].values()).values())
            return rollups
        held = self.registers if table.kind == "register" else self.appended
        return list(held[table].values())

    def rows(self) -> RowsByTable:
        """Every table's rows, digested or not, by table name."""
        return {table.name: self.table_rows(table) for table in TABLES}

    def read_rows(self, sites: Collection[str] | None = None) -> RowsByTable:
        out: RowsByTable = {}
        for table in TABLES:
            if table.digested:
                site_at = table.column_names.index("target_site")
                rows = self.table_rows(table)
                out[table.name] = [r for r in rows if sites is None or r[site_at] in sites]
        return out

    def digest(self, sites: Collection[str] | None = None) -> str:
        return digest(self.read_rows(sites), sites)
