"""Rebuilding a node's projection from the logs, into a schema of its own, between offsets.

The logs are the truth: a projection is the fold of the events a node keeps, so it
can be rebuilt from them at any time, next to the live one and without stopping
the node. A rebuild reads every followed site's log from given start offsets up to
given end offsets (a snapshot of the log ends, or the live projection's own offsets
when comparing), folds the accepted events with the projection's own fold, and
writes rows, dead letters and the end offsets into a fresh schema. Reading stops at
the end offsets, so the result is exactly comparable with a projection that
committed those offsets. A rebuild of the events from a time on starts where the
records from that time on begin (:func:`time_starts`), where the brokers say so truly.

``compare`` diffs two projections table by table and names the subjects whose rows
differ (``web1/HTTP``, ``pool/Network``), for ``sitelog replay --verify``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from engine.errors import ConfigError
from engine.log.identity import Mark, last_mark
from engine.log.kafka import KafkaSettings
from engine.log.offsets import time_starts as seek_by_time
from engine.log.reader import SiteLogReader
from engine.log.records import PartitionOffsets, ReadBatch, topic_for
from engine.node.config import NodeConfig
from projections.digest import canonical
from projections.fold import fold_batch
from projections.postgres import PostgresSink, connect
from projections.postgres_bulk import BulkSink
from projections.postgres_layout import RETENTION, layout_complete, read_horizons
from projections.postgres_legacy import refuse_legacy_layout
from projections.rows import OffsetRow
from projections.state import Changes, ProjectionState
from projections.tables import OFFSETS, TABLES
from schemas.event import Event

log = logging.getLogger(__name__)

#: site -> partition -> offset
Offsets = dict[str, dict[int, int]]
Progress = Callable[[str, int, int], None]  # site, records done, records to do

_BATCH_EVENTS = 20_000
#: Seconds without a record before a partition short of its end offset is an error.
STALL_TIMEOUT = 30.0


@dataclass
class RebuildStats:
    """What a rebuild read: records per site."""

    records: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.records.values())


async def log_bounds(sites: Mapping[str, KafkaSettings]) -> tuple[Offsets, Offsets]:
    """Each followed site's log starts and ends, per partition, asked of the brokers now."""
    starts: Offsets = {}
    ends: Offsets = {}
    for site, settings in sites.items():
        async with SiteLogReader(site, settings, create_topic=False) as reader:
            bounds = await reader.log_offsets()
        starts[site] = {p: b.start for p, b in bounds.items()}
        ends[site] = {p: b.end for p, b in bounds.items()}
    return starts, ends


async def time_starts(
    sites: Mapping[str, KafkaSettings], starts: Offsets, ends: Offsets, since: int
) -> Offsets:
    """The start offsets of a rebuild that keeps the events from ``since`` on: each
    partition's start moved up to where its records from that time on begin, where the
    brokers answer that truly, and left at ``starts`` elsewhere
    (``engine.log.offsets.time_starts``, which logs which it did)."""
    moved: Offsets = {}
    for site, settings in sites.items():
        bounds = {p: PartitionOffsets(starts[site][p], end) for p, end in ends[site].items()}
        found = await seek_by_time(settings, topic_for(site), bounds, since)
        moved[site] = {p: max(starts[site][p], found[p].offset) for p in ends[site]}
    return moved


def schema_exists(dsn: str, schema: str) -> bool:
    with connect(dsn) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    return found is not None


def drop_schema(dsn: str, schema: str) -> None:
    with connect(dsn) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def prepare_target(config: NodeConfig, schema: str, *, replace: bool) -> None:
    """Make sure ``schema`` is free for a rebuild: never the live one, dropped if asked."""
    if schema == config.schema:
        raise ConfigError(f"the rebuild cannot go into the live schema {schema!r}; use --swap")
    if schema_exists(config.dsn, schema):
        if not replace:
            raise ConfigError(f"schema {schema!r} exists: drop it, pass --force, or choose --into")
        drop_schema(config.dsn, schema)


async def rebuild(
    dsn: str,
    schema: str,
    sites: Mapping[str, KafkaSettings],
    starts: Offsets,
    ends: Offsets,
    *,
    accept: Callable[[Event], bool] | None = None,
    progress: Progress | None = None,
    horizons: Mapping[str, int] | None = None,
) -> RebuildStats:
    """Fold every site's records in [starts, ends) into the fresh schema ``schema``;
    the time-kept tables only from their ``horizons`` on (``projections.retention``)."""
    sink = await asyncio.to_thread(_fresh_sink, dsn, schema, horizons or {})
    queue: asyncio.Queue[ReadBatch | None] = asyncio.Queue(maxsize=8)
    stats = RebuildStats()
    readers = [
        asyncio.create_task(_read(site, settings, starts[site], ends[site], queue))
        for site, settings in sites.items()
    ]
    try:
        await _apply(sink, queue, len(readers), starts, ends, stats, accept, progress)
        await asyncio.gather(*readers)
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.to_thread(sink.close)
    return stats


def _fresh_sink(dsn: str, schema: str, horizons: Mapping[str, int]) -> BulkSink:
    sink = BulkSink(connect(dsn), schema)
    sink.create_tables()
    # The sinks leave out what is older than a table's horizon, as the live one does.
    write_horizons(sink.conn, schema, horizons)
    return sink


def write_horizons(conn: psycopg.Connection[Any], schema: str, horizons: Mapping[str, int]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "INSERT INTO {}.{} (table_name, kept_from) VALUES (%s, %s)"
                " ON CONFLICT (table_name) DO UPDATE SET kept_from = EXCLUDED.kept_from"
            ).format(sql.Identifier(schema), sql.Identifier(RETENTION)),
            list(horizons.items()),
        )


def refuse_legacy(dsn: str, schema: str) -> None:
    """LegacyLayoutError if ``schema`` has an older sitelog's layout (``sitelog migrate``)."""
    with connect(dsn) as conn, conn.cursor() as cur:
        refuse_legacy_layout(cur, schema)


def schema_horizons(dsn: str, schema: str) -> dict[str, int]:
    """The retention horizons of projection ``schema`` (none for a schema without them)."""
    with connect(dsn) as conn, conn.cursor() as cur:
        if not layout_complete(cur, schema):
            return {}
        return read_horizons(cur, schema)


async def _read(
    site: str,
    settings: KafkaSettings,
    starts: Mapping[int, int],
    ends: Mapping[int, int],
    queue: asyncio.Queue[ReadBatch | None],
) -> None:
    """Queue the site's batches, cut at the end offsets, then None."""
    try:
        if any(ends[p] > starts.get(p, 0) for p in ends):
            async with SiteLogReader(site, settings, create_topic=False) as reader:
                await reader.assign(dict(starts))
                async for batch in reader.read_until(ends, stall_timeout=STALL_TIMEOUT):
                    await queue.put(batch)
    finally:
        await queue.put(None)


async def _apply(
    sink: BulkSink,
    queue: asyncio.Queue[ReadBatch | None],
    readers: int,
    starts: Offsets,
    ends: Offsets,
    stats: RebuildStats,
    accept: Callable[[Event], bool] | None,
    progress: Progress | None,
) -> None:
    state = ProjectionState()
    done = stats.records  # records read per site: the progress and the result
    done.update(dict.fromkeys(ends, 0))
    todo = {
        site: sum(max(0, end - starts[site].get(p, 0)) for p, end in ends[site].items())
        for site in ends
    }
    last_time: dict[str, int | None] = {site: None for site in ends}
    # The last event read per partition: the rebuilt offset rows name it, as the
    # projector's do, so the node checks the log it resumes on (engine.log.identity).
    marks: dict[tuple[str, int], Mark] = {}
    changes, pending = Changes(), 0
    # One write in flight while the next batches are folded: PostgreSQL works on one core
    # while this process decodes and folds on the other.
    writing: asyncio.Task[None] | None = None
    while readers:
        batch = await queue.get()
        if batch is None:
            readers -= 1
        else:
            when = fold_batch(
                state,
                batch.events,
                (letter.row() for letter in batch.dead_letters),
                changes,
                accept,
            )
            last_time[batch.site] = when if when is not None else last_time[batch.site]
            if (mark := last_mark(batch)) is not None:
                marks[batch.site, batch.partition] = mark
            done[batch.site] += len(batch.events) + len(batch.dead_letters)
            pending += len(batch.events)
        if pending >= _BATCH_EVENTS or (batch is None and not readers):
            if writing is not None:
                await writing
            writing = asyncio.create_task(asyncio.to_thread(sink.write, changes))
            changes, pending = Changes(), 0
            if progress is not None:
                for site in ends:
                    progress(site, done[site], todo[site])
    if writing is not None:
        await writing
    # Every partition's end offset, read or not: the rebuilt projection resumes from there.
    for site, partitions in ends.items():
        for partition, end in partitions.items():
            mark = marks.get((site, partition))
            row = OffsetRow(
                site,
                partition,
                end,
                last_time[site],
                None if mark is None else mark.offset,
                None if mark is None else mark.event_id,
            )
            changes.put(OFFSETS, (site, partition), row)
    await asyncio.to_thread(sink.write, changes)
    await asyncio.to_thread(sink.finish)


def swap(dsn: str, live: str, rebuilt: str) -> int:
    """Replace projection ``live`` (created if it was lost) by ``rebuilt``, which is dropped.

    Returns the live projection's new generation.
    """
    with PostgresSink.connect(dsn, live) as sink:
        sink.create_tables()
        generation = sink.replace_with(rebuilt)
    drop_schema(dsn, rebuilt)
    return generation


def live_snapshot(dsn: str, schema: str) -> tuple[Offsets, dict[str, list[tuple[Any, ...]]]]:
    """The live projection's committed offsets and digested rows, from one snapshot."""
    with PostgresSink.connect(dsn, schema) as sink:
        # One REPEATABLE READ transaction: rows and offsets of the same commit, even while
        # the node keeps writing.
        sink.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with sink.conn.transaction():
            offsets = sink.load_offsets()
            rows = sink.read_rows()
    return offsets, rows


def read_rows(dsn: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    with PostgresSink.connect(dsn, schema) as sink:
        return sink.read_rows()


def within(
    rows: Mapping[str, list[tuple[Any, ...]]], since: Mapping[str, int]
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of time-kept tables from their instant in ``since`` on (others whole)."""
    out = {}
    for table in TABLES:
        kept = rows.get(table.name, [])
        start = since.get(table.name)
        if table.time_column is not None and start is not None:
            at = table.column_names.index(table.time_column)
            kept = [r for r in kept if r[at] is not None and r[at] >= start]
        out[table.name] = list(kept)
    return out


def compare(
    live: Mapping[str, list[tuple[Any, ...]]], rebuilt: Mapping[str, list[tuple[Any, ...]]]
) -> list[str]:
    """``subject (table)`` for every row that differs between two projections, sorted."""
    differing = set()
    for table in TABLES:
        if not table.digested:
            continue
        mine = {table.key_of(row): canonical(row) for row in live.get(table.name, ())}
        theirs = {table.key_of(row): canonical(row) for row in rebuilt.get(table.name, ())}
        for key in mine.keys() | theirs.keys():
            if mine.get(key) != theirs.get(key):
                row = mine.get(key) or theirs[key]
                differing.add(f"{_subject(table.column_names, row)} ({table.name})")
    return sorted(differing)


def _subject(columns: tuple[str, ...], row: Any) -> str:
    values = dict(zip(columns, row, strict=False))
    if "host_name" in values:
        service = values.get("service_description") or ""
        return f"{values['host_name']}/{service}" if service else str(values["host_name"])
    if "pool_name" in values:
        return f"pool/{values['pool_name']}"
    for name in ("site_name", "poller_name", "server_name"):
        if name in values:
            return f"{name.removesuffix('_name')}/{values[name]}"
    return repr(row[:2])
