"""``sitelog ingest``: a Nagios-family engine's output as it is, into its site's log.

Reads a file, a FIFO or stdin holding, in any mix:

- external command lines ``[timestamp] COMMAND;args``, as written by OCSP/OCHP
  commands (``PROCESS_HOST_CHECK_RESULT``, ``PROCESS_SERVICE_CHECK_RESULT``) or by
  operators (acknowledgements, downtimes, comments);
- host and service perfdata file lines (``DATATYPE::SERVICEPERFDATA\\tTIMET::...``).

``--follow`` keeps reading a file as it grows, across rotation (``tail -F``), and a
FIFO across its writers. A bad line is reported on stderr with its line number and
reason, counted and skipped; the stream goes on. Accepted events go through the
durable spool; the position reached in a regular file and the downtime and comment
numbers are saved beside the spool after each accepted batch, so a restarted ingest
resumes where the last one stopped. Exit status as for ``sitelog produce``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from engine.commands.producer_options import (
    add_producer_arguments,
    exit_status,
    producer_from_args,
    report_end,
)
from engine.line_source import Batch, LineSource, Position
from engine.nagios.command_payloads import NagiosIds
from engine.nagios.lines import parse_line
from engine.producer import Producer
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock

log = logging.getLogger(__name__)

_STATE_FILE = "ingest-state.json"


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "ingest",
        help="ingest Nagios external commands and perfdata files into a site log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_producer_arguments(parser, origin="poller")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep reading as the file grows and rotates (a FIFO: as writers come and go)",
    )
    parser.add_argument("file", nargs="?", default="-", help="file or FIFO (default: stdin)")
    parser.set_defaults(run=run)


class IngestState:
    """What a restarted ingest needs: where it stopped in the file, and Nagios id numbering."""

    def __init__(self, directory: Path, source: str) -> None:
        self.path = directory / _STATE_FILE
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
            raise InvalidEventError(f"ingest state {self.path} is unreadable: {exc}") from None

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


def run(args: argparse.Namespace) -> int:
    producer = producer_from_args(args, "ingest")
    state = IngestState(producer.spool_settings.directory, args.file)
    return asyncio.run(_ingest(args, producer, state))


async def _ingest(args: argparse.Namespace, producer: Producer, state: IngestState) -> int:
    await producer.start()  # creates the spool directory, where the state lives
    source = LineSource(args.file, follow=args.follow)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # A followed file never ends: a signal ends the reading, then the spool drains.
        loop.add_signal_handler(signum, lambda: task.cancel() if task else None)
    try:
        state.load()
        source.start = state.position
        try:
            await ingest(producer, source, state, origin=args.origin, errors=sys.stderr)
        except asyncio.CancelledError:
            if task is not None:
                task.uncancel()  # stopped by a signal: go on to drain the spool
    finally:
        source.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        left = await producer.stop(drain_timeout=args.drain_timeout)
    print(f"{report_end(producer, left)}; rejected {state.rejected} lines", file=sys.stderr)
    return exit_status(state.rejected, left)
