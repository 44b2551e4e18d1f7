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
from typing import Any

from engine.commands.producer_options import add_producing_command, finish, producer_from_args
from engine.poller.json_lines import produce_lines
from engine.poller.line_source import LineSource
from engine.poller.producer import Producer


def register(commands: Any) -> None:
    parser = add_producing_command(
        commands,
        "produce",
        help="append events from JSON lines to a site log",
        description=__doc__,
        origin="sitelog-produce",
    )
    parser.add_argument("file", nargs="?", default="-", help="JSON lines file (default: stdin)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    producer = producer_from_args(args, "produce")
    source = LineSource(args.file)
    return asyncio.run(_produce(args, producer, source))


async def _produce(args: argparse.Namespace, producer: Producer, source: LineSource) -> int:
    await producer.start()
    rejected = 0
    try:
        rejected = await produce_lines(producer, source, origin=args.origin, errors=sys.stderr)
    finally:
        status = await finish(producer, args, rejected)
    return status
