"""``sitelog produce``: append events given as JSON lines to a site log, through the spool.

Each line is ``{"type": "ServiceCheckResult", "payload": {...}}`` with optional
``target_site``, ``event_time`` (microseconds) and ``event_id`` (a UUID, so that a
retried line keeps its identity). A bad line is reported on stderr with its line
number and reason, counted and skipped; the others are still appended. Accepted
events go to a durable spool first, so they survive a broker outage and a restart
of this command (the next run sends them). Exit status: 0 when every line was
accepted and delivered, 1 when some lines were rejected, 3 when accepted events
still wait in the spool after ``--drain-timeout`` (the brokers were unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

import orjson

from engine.commands.producer_options import (
    add_producer_arguments,
    exit_status,
    producer_from_args,
    report_end,
)
from engine.line_source import LineSource
from engine.producer import Producer
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.json_form import payload_from_json
from schemas.types import now_us, parse_event_id

_ENVELOPE_KEYS = {"type", "payload", "target_site", "event_time", "event_id"}


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "produce",
        help="append events from JSON lines to a site log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_producer_arguments(parser, origin="sitelog-produce")
    parser.add_argument("file", nargs="?", default="-", help="JSON lines file (default: stdin)")
    parser.set_defaults(run=run)


def parse_line(line: str, *, site: str, origin: str, clock: HybridLogicalClock) -> Event:
    """The event of one JSON line, or InvalidEventError saying what is wrong with it."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidEventError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEventError("expected a JSON object")
    unknown = sorted(set(obj) - _ENVELOPE_KEYS)
    if unknown:
        raise InvalidEventError(f"unknown key {unknown[0]!r}")
    payload = payload_from_json(obj.get("type"), obj.get("payload"))
    event_time = obj.get("event_time", now_us())
    if not isinstance(event_time, int) or isinstance(event_time, bool) or event_time < 0:
        raise InvalidEventError("'event_time' must be microseconds since the epoch")
    target = obj.get("target_site")
    if target is not None and not isinstance(target, str):
        raise InvalidEventError("'target_site' must be a string")
    event = Event.create(
        payload, site=site, origin=origin, clock=clock, target_site=target, event_time=event_time
    )
    if "event_id" in obj:
        if not isinstance(obj["event_id"], str):
            raise InvalidEventError("'event_id' must be a UUID string")
        event = Event(**{**_fields(event), "event_id": parse_event_id(obj["event_id"])})
    return event


def _fields(event: Event) -> dict[str, Any]:
    return {name: getattr(event, name) for name in Event.__dataclass_fields__}


async def produce_lines(
    producer: Producer, source: LineSource, *, origin: str, errors: TextIO
) -> int:
    """Accept every valid line into the producer; report the others. Returns the rejected count."""
    clock = HybridLogicalClock()
    rejected = 0
    async for batch in source.batches():
        records = []
        for number, line in batch.lines:
            if not line.strip():
                continue
            try:
                event = parse_line(line, site=producer.site, origin=origin, clock=clock)
                # Encoded here, so that a value the schema refuses rejects this line only.
                records.append((event.key.encode(), producer.codec.encode(event)))
            except InvalidEventError as exc:
                rejected += 1
                print(f"sitelog produce: line {number}: {exc}", file=errors)
        await producer.submit_records(records)
    return rejected


def run(args: argparse.Namespace) -> int:
    producer = producer_from_args(args, "produce")
    source = LineSource(args.file)
    return asyncio.run(_produce(args, producer, source))


async def _produce(args: argparse.Namespace, producer: Producer, source: LineSource) -> int:
    await producer.start()
    try:
        rejected = await produce_lines(producer, source, origin=args.origin, errors=sys.stderr)
    finally:
        left = await producer.stop(drain_timeout=args.drain_timeout)
    print(f"{report_end(producer, left)}; rejected {rejected} lines", file=sys.stderr)
    return exit_status(rejected, left)
