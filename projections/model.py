"""The whole projection held in memory: the reference every PostgreSQL run must equal.

It is the projection's own logic, not a stand-in for a database: the fold's
registers, every appended row deduplicated by primary key exactly as the sink's
``ON CONFLICT DO NOTHING`` does (first row wins), and the rollups derived the way
the sink derives them. Property tests fold events through it in any order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from projections import fold
from projections.digest import digest
from projections.rollups import rollup_rows
from projections.rows import PointRow
from projections.state import APPEND_TABLES, Changes, ProjectionState
from projections.tables import TABLES_BY_NAME
from schemas.event import Event


class InMemoryProjection:
    def __init__(self) -> None:
        self.state = ProjectionState()
        self.appended: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {
            name: {} for name in APPEND_TABLES
        }

    def apply_batch(self, events: Iterable[Event]) -> Changes:
        changes = Changes()
        for event in events:
            fold.apply(self.state, event, changes)
        self.absorb(changes)
        return changes

    def absorb(self, changes: Changes) -> None:
        """Keep a batch's appended rows (its register rows are already in the state)."""
        for name, rows in changes.appends.items():
            table, kept = TABLES_BY_NAME[name], self.appended[name]
            for row in rows:
                kept.setdefault(table.key_of(row), row)

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        out: dict[str, list[tuple[Any, ...]]] = {
            name: list(rows.values()) for name, rows in self.state.registers.items()
        }
        for name, kept in self.appended.items():
            out[name] = list(kept.values())
        points: Iterable[Any] = self.appended["perfdata_points"].values()
        out["perfdata_rollups"] = list(rollup_rows(PointRow._make(p) for p in points).values())
        return out

    def digest(self, sites: Collection[str] | None = None) -> str:
        return digest(self.rows(), sites)
