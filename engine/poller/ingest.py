"""Ingesting a Nagios-family engine's output: lines to events, and where a restart resumes.

``ingest`` reads batches of lines (``engine.poller.line_source``), turns each into an
event (``engine.poller.nagios.lines``), rejects and reports bad lines one by one,
submits the rest to the producer, and saves the position reached and the Nagios id
numbering (``IngestState``) after each accepted batch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import orjson

from engine.errors import IngestStateError
from engine.poller.line_source import Batch, LineSource, Position
from engine.poller.nagios.command_payloads import NagiosIds
from engine.poller.nagios.lines import parse_line
from engine.poller.producer import Producer
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock

__all__ = ["STATE_FILE", "IngestState", "events_of", "ingest"]

#: The file beside the spool that holds a restarted ingest's position and id numbering.
STATE_FILE = "ingest-state.json"


class IngestState:
    """What a restarted ingest needs: where it stopped in the file, and Nagios id numbering."""

    def __init__(self, directory: Path, source: str) -> None:
        self.path = directory / STATE_FILE
        self.source = os.path.abspath(source) if source != "-" else "-"
        self.ids = NagiosIds()
        self.position: Position | None = None
        self.rejected = 0

    def load(self) -> None:
        try:
            saved = orjson.loads(self.path.read_bytes())
            self.ids = NagiosIds.from_json(saved["ids"])
            where = saved.get("position")
            if where and where["source"] == self.source:
                self.position = Position(where["inode"], where["offset"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IngestStateError(f"ingest state {self.path} is unreadable: {exc}") from None

    def save(self, position: Position) -> None:
        where = None
        if self.source != "-":
            where = {"source": self.source, "inode": position.inode, "offset": position.offset}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"position": where, "ids": self.ids.to_json()}))
        os.replace(tmp, self.path)


def events_of(
    batch: Batch,
    *,
    site: str,
    origin: str,
    ids: NagiosIds,
    clock: HybridLogicalClock,
    errors: TextIO,
) -> tuple[list[Event], int]:
    """The events of a batch of lines, and how many lines were rejected (reported on ``errors``)."""
    events = []
    rejected = 0
    for number, line in batch.lines:
        if not line.strip():
            continue
        try:
            payload, when = parse_line(line, origin=origin, ids=ids)
            events.append(
                Event.create(payload, site=site, origin=origin, clock=clock, event_time=when)
            )
        except InvalidEventError as exc:
            rejected += 1
            print(f"sitelog ingest: line {number}: {exc}", file=errors)
    return events, rejected


async def ingest(
    producer: Producer, source: LineSource, state: IngestState, *, origin: str, errors: TextIO
) -> None:
    """Accept every good line of ``source``; counts the rejected ones in ``state.rejected``."""
    clock = HybridLogicalClock()
    async for batch in source.batches():
        events, bad = events_of(
            batch, site=producer.site, origin=origin, ids=state.ids, clock=clock, errors=errors
        )
        state.rejected += bad
        records = []
        for event in events:
            try:
                records.append((event.key.encode(), producer.codec.encode(event)))
            except InvalidEventError as exc:  # e.g. a NUL character in an output
                state.rejected += 1
                print(f"sitelog ingest: {event.subject}: {exc}", file=errors)
        await producer.submit_records(records)
        state.save(batch.position)
