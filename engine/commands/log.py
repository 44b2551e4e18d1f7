"""``sitelog log``: inspect and audit one site log, for administrators.

``sitelog log inspect`` prints records as JSON lines, one per record, partition by
partition and in offset order within each: ``{"partition", "offset", "event"}``, or
``{"partition", "offset", "dead_letter"}`` for a record that does not decode (those
are always printed, whatever the filters). Offsets are per partition, ``--to-offset``
exclusive; ``--since``/``--until`` keep events whose event_time is in [since, until)
(``--since`` without ``--from-offset`` starts the read where the records from that time
on begin, where the brokers answer that truly; ``-v`` says where).
TIME is ISO 8601 (``2026-12-01T10:00:00Z``; without a zone, UTC) or microseconds
since the epoch.

``sitelog log verify`` reads the whole log and reports offset ranges, events per
type, undecodable records and duplicate event ids. Exit status: 0 when every record
decodes, 1 when some do not, 2 on an error.

Both read up to the log end as it was when they started, so they end on a live log.
See docs/log-tool.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from contextlib import aclosing
from typing import Any, BinaryIO

import orjson

from engine.commands.kafka_options import add_kafka_security_arguments, kafka_settings
from engine.commands.options import add_command
from engine.errors import ConfigError
from engine.log.inspection import (
    EventFilter,
    LogVerification,
    check_offsets,
    plan_ranges,
    read_records,
    since_starts,
)
from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader
from engine.log.records import DeadLetter, topic_for
from engine.times import format_time, parse_time
from schemas.event import Event
from schemas.json_form import event_to_json
from schemas.types import check_site_name, event_id_str

EXIT_UNDECODABLE = 1


def register(commands: Any) -> None:
    parser = add_command(commands, "log", "inspect or verify a site log", __doc__)
    actions = parser.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    inspect = actions.add_parser(
        "inspect",
        help="print a site log's records as JSON lines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_log_arguments(inspect)
    add = inspect.add_argument
    add(
        "--partition",
        type=int,
        action="append",
        default=[],
        metavar="P",
        help="only partition P (repeatable)",
    )
    add("--from-offset", type=int, metavar="N", help="first offset, in every chosen partition")
    add("--to-offset", type=int, metavar="N", help="offset to stop before (exclusive)")
    add("--since", metavar="TIME", help="events with event_time at or after TIME")
    add("--until", metavar="TIME", help="events with event_time before TIME")
    add(
        "--subject",
        action="append",
        default=[],
        help="exact subject: web1 or web1/HTTP (repeatable)",
    )
    add(
        "--host",
        action="append",
        default=[],
        help="every event of a host, services too (repeatable)",
    )
    add(
        "--type",
        action="append",
        default=[],
        help="event type, e.g. ServiceCheckResult (repeatable)",
    )
    add("--limit", type=int, metavar="N", help="print at most N records")
    inspect.set_defaults(run=run_inspect)
    verify = actions.add_parser(
        "verify",
        help="audit a whole site log (exit 1 if a record does not decode)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_log_arguments(verify)
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(run=run_verify)


def _add_log_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", required=True, help="site whose log sitelog.SITE is read")
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("SITELOG_BOOTSTRAP"),
        help="Kafka bootstrap servers of the site (env SITELOG_BOOTSTRAP)",
    )
    add_kafka_security_arguments(parser)
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="give up when the brokers do not answer for this long (default 10)",
    )


def _settings(args: argparse.Namespace) -> KafkaSettings:
    if not args.bootstrap:
        raise ConfigError("no Kafka bootstrap servers: pass --bootstrap or set SITELOG_BOOTSTRAP")
    return kafka_settings(
        args,
        args.bootstrap,
        connect_timeout=args.connect_timeout,
        request_timeout=args.connect_timeout,
    )


def record_json(partition: int, offset: int, item: Event | DeadLetter) -> dict[str, Any]:
    """The JSON line of one record, as ``sitelog log inspect`` prints it."""
    if isinstance(item, Event):
        return {"partition": partition, "offset": offset, "event": event_to_json(item)}
    letter = {
        "reason": item.reason,
        "message": item.message,
        "key": None if item.key is None else item.key.hex(),
        "value_bytes": len(item.value or b""),
    }
    return {"partition": partition, "offset": offset, "dead_letter": letter}


def _optional_time(text: str | None, option: str) -> int | None:
    return None if text is None else parse_time(text, option=option)


def run_inspect(args: argparse.Namespace) -> int:
    # Every option is checked before connecting: a typo costs no broker round trip.
    site = check_site_name(args.site)
    event_filter = EventFilter(
        since=_optional_time(args.since, "--since"),
        until=_optional_time(args.until, "--until"),
        subjects=frozenset(args.subject),
        hosts=frozenset(args.host),
        types=frozenset(args.type),
    )
    check_offsets(args.from_offset, args.to_offset)
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: expected at least 1")
    settings = _settings(args)
    try:
        return asyncio.run(_inspect(site, settings, args, event_filter, sys.stdout.buffer))
    except BrokenPipeError:
        # The reader of our output left (``| head``): it had what it wanted. Point stdout
        # at /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


async def _inspect(
    site: str,
    settings: KafkaSettings,
    args: argparse.Namespace,
    event_filter: EventFilter,
    out: BinaryIO,
) -> int:
    # create_topic=False: inspecting a mistyped site must not create an empty log.
    async with SiteLogReader(site, settings, create_topic=False) as reader:
        offsets = await reader.log_offsets()
        # --since seeks where the brokers answer truly; an explicit --from-offset is
        # where the read starts, seek or not (and so reads everything from there).
        since = event_filter.since if args.from_offset is None else None
        starts = await since_starts(reader, offsets, since)
        ranges = plan_ranges(offsets, args.partition, args.from_offset, args.to_offset, starts)
        printed = 0
        records = read_records(reader, ranges, stall_timeout=settings.request_timeout)
        async with aclosing(records):
            async for partition, offset, item in records:
                if not event_filter.keeps(item):
                    continue
                out.write(orjson.dumps(record_json(partition, offset, item)) + b"\n")
                printed += 1
                if printed == args.limit:
                    break
    out.flush()
    return 0


def run_verify(args: argparse.Namespace) -> int:
    site = check_site_name(args.site)
    settings = _settings(args)
    audit = asyncio.run(_verify(site, settings))
    if args.json:
        summary = {"site": site, "clean": audit.clean, **audit.to_json()}
        sys.stdout.buffer.write(orjson.dumps(summary) + b"\n")
    else:
        sys.stdout.write(render_report(site, audit))
    sys.stdout.flush()
    return 0 if audit.clean else EXIT_UNDECODABLE


async def _verify(site: str, settings: KafkaSettings) -> LogVerification:
    audit = LogVerification()
    async with SiteLogReader(site, settings, create_topic=False) as reader:
        offsets = await reader.log_offsets()
        for partition, bounds in offsets.items():
            audit.add_partition(partition, bounds)
        records = read_records(reader, plan_ranges(offsets), stall_timeout=settings.request_timeout)
        async with aclosing(records):
            async for partition, offset, item in records:
                audit.add(partition, offset, item)
    return audit


def render_report(site: str, audit: LogVerification) -> str:
    """The human form of a verification, as ``sitelog log verify`` prints it."""
    lines = [f"site log {topic_for(site)}", "  partition   log start     log end  records read"]
    for partition, tally in sorted(audit.partitions.items()):
        start, end, read = tally.log_start, tally.log_end, tally.records_read
        lines.append(f"  {partition:9d}  {start:10d}  {end:10d}  {read:12d}")
    lines.append("events by type:")
    width = max((len(name) for name in audit.types), default=0)
    lines += [f"  {name:{width}}  {count}" for name, count in sorted(audit.types.items())]
    if audit.earliest is not None and audit.latest is not None:
        lines.append(f"event times: {format_time(audit.earliest)} to {format_time(audit.latest)}")
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(audit.reasons.items()))
    lines.append(f"undecodable records: {audit.undecodable}" + (f" ({reasons})" if reasons else ""))
    lines += [
        f"  partition {d.partition} offset {d.offset}: {d.message}"
        for d in audit.undecodable_examples
    ]
    lines.append(
        f"duplicate event ids: {audit.duplicates} records repeat an earlier event id"
        " (producer retries write some; not an error)"
    )
    for event_id, seen in audit.duplicate_examples.items():
        where = ", ".join(f"partition {p} offset {o}" for p, o in seen)
        lines.append(f"  {event_id_str(event_id)}: {where}")
    lines.append(
        f"totals: {audit.records} records read, {audit.events} events "
        f"({audit.distinct_events} distinct), {audit.undecodable} undecodable, "
        f"{audit.duplicates} duplicates"
    )
    lines.append("every record decodes" if audit.clean else "SOME RECORDS DO NOT DECODE")
    return "\n".join(lines) + "\n"
