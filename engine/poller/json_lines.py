"""Events given as JSON lines (``sitelog produce``): parsing one line, submitting a stream.

A line is ``{"type": "ServiceCheckResult", "payload": {...}}`` with optional
``target_site``, ``event_time`` (microseconds) and ``event_id`` (a UUID, so that a
retried line keeps its identity). A bad line is reported with its number and
skipped; the others are submitted.
"""

from __future__ import annotations

from typing import Any, TextIO

import orjson

from engine.poller.line_source import LineSource
from engine.poller.producer import Producer
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.json_form import payload_from_json
from schemas.types import now_us, parse_event_id

__all__ = ["parse_line", "produce_lines"]

_ENVELOPE_KEYS = {"type", "payload", "target_site", "event_time", "event_id"}


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
