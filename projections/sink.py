"""The sink contract: what the projector and a rebuild need of wherever a projection lives.

A sink stores what the fold produced, batch by batch, and gives it back. Three sinks
keep this contract:

- ``projections.postgres.PostgresSink``, the live projection in PostgreSQL;
- ``projections.postgres_bulk.BulkSink``, a rebuild into a fresh schema, whose perfdata
  points are inserted all at once by ``finish``;
- ``projections.model.InMemoryProjection``, the projection held in memory: the
  reference every PostgreSQL run must equal.

``tests/integration/test_sink_contract.py`` runs one suite of tests against each.

Rows come back by table name (``Table.name``), as a database holds them: register rows
typed (``projections.rows``), so ``ProjectionState.from_rows`` rebuilds the fold's state
from them; digested rows as tuples in column order, as ``projections.digest`` hashes them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from projections.digest import Since
from projections.state import Changes

#: Rows by table name, each a tuple in its table's column order.
RowsByTable = dict[str, list[tuple[Any, ...]]]
#: The next offset to read, by site and partition.
Offsets = dict[str, dict[int, int]]


class Sink(Protocol):
    """Where a projection is written, and read back from."""

    def write(self, changes: Changes) -> None:
        """Store one batch (register rows, appended rows, offsets, dead letters) at once.

        All of it or none: the offsets in ``changes`` say the batch was stored. Writing
        the same batch again changes nothing (at-least-once delivery, effectively once).
        """
        ...

    def finish(self) -> None:
        """Complete what writes left pending, after the last batch (a no-op for most)."""
        ...

    def load_registers(self) -> RowsByTable:
        """Every register row but the offsets, typed: the state a restarted fold resumes."""
        ...

    def load_offsets(self) -> Offsets:
        """The next offset to read, by site and partition, as the last write left them."""
        ...

    def read_rows(self, sites: Collection[str] | None = None) -> RowsByTable:
        """The digested tables' rows whose target_site is in ``sites`` (all when None)."""
        ...

    def digest(self, sites: Collection[str] | None = None, since: Since = None) -> str:
        """The state digest (``projections.digest``) of the rows of ``sites``, time-kept
        tables included from ``since`` on."""
        ...
