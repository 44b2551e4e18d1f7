"""``sitelog produce``: append events given as JSON lines to a site log.

Each line is ``{"type": "ServiceCheckResult", "payload": {...}}`` with optional
``target_site``, ``event_time`` (microseconds) and ``event_id`` (a UUID, so that a
retried line keeps its identity). A bad line is reported on stderr with its line
number and reason, counted and skipped; the others are still appended. The exit
status is 0 when every line was appended, 1 when some were rejected.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import orjson

from engine.errors import ConfigError
from engine.kafka import KafkaSettings
from engine.site_log import SiteLogWriter
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.json_form import payload_from_json
from schemas.types import check_site_name, now_us, parse_event_id

_ENVELOPE_KEYS = {"type", "payload", "target_site", "event_time", "event_id"}
_FLUSH_EVERY = 1000


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "produce",
        help="append events from JSON lines to a site log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--site", required=True, help="site whose log receives the events")
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("SITELOG_BOOTSTRAP"),
        help="Kafka bootstrap servers of the site (env SITELOG_BOOTSTRAP)",
    )
    parser.add_argument(
        "--origin",
        default=os.environ.get("SITELOG_ORIGIN", "sitelog-produce"),
        help="who writes the events (env SITELOG_ORIGIN)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="give up when the brokers do not answer within this time",
    )
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


def _lines(stream: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


async def produce_lines(
    writer: SiteLogWriter, lines: Iterable[tuple[int, str]], *, origin: str, errors: TextIO
) -> tuple[int, int]:
    """Append every valid line; report the others. Returns (appended, rejected)."""
    clock = HybridLogicalClock()
    pending = []
    appended = rejected = 0
    for number, line in lines:
        try:
            event = parse_line(line, site=writer.site, origin=origin, clock=clock)
            pending.append(await writer.send(event))
        except InvalidEventError as exc:
            rejected += 1
            print(f"sitelog produce: line {number}: {exc}", file=errors)
            continue
        if len(pending) >= _FLUSH_EVERY:
            appended += len(await writer.acknowledged(pending))
            pending.clear()
    appended += len(await writer.acknowledged(pending))
    return appended, rejected


def run(args: argparse.Namespace) -> int:
    if not args.bootstrap:
        raise ConfigError("no Kafka bootstrap servers: pass --bootstrap or set SITELOG_BOOTSTRAP")
    settings = KafkaSettings(
        args.bootstrap, connect_timeout=args.connect_timeout, request_timeout=args.connect_timeout
    )
    check_site_name(args.site)
    if args.file == "-":
        return asyncio.run(_produce(args, settings, sys.stdin))
    try:
        with open(args.file, encoding="utf-8") as stream:
            return asyncio.run(_produce(args, settings, stream))
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from None


async def _produce(args: argparse.Namespace, settings: KafkaSettings, stream: TextIO) -> int:
    async with SiteLogWriter(args.site, settings) as writer:
        appended, rejected = await produce_lines(
            writer, _lines(stream), origin=args.origin, errors=sys.stderr
        )
    print(
        f"appended {appended} events to {writer.topic}, rejected {rejected} lines", file=sys.stderr
    )
    return 1 if rejected else 0
