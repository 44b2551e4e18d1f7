"""``sitelog project``: run a projector alone: follow site logs into a PostgreSQL schema.

Sites are given as ``NAME=BOOTSTRAP`` (``--site paris=127.0.0.1:9092``, repeatable,
or ``SITELOG_SITES="central=h1:9092,paris=h2:9092"``). Without ``--until-caught-up``
it runs until interrupted (SIGINT or SIGTERM stop it cleanly; what was not yet
committed is read again at the next start).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from engine.commands.options import add_command, add_database_options
from engine.errors import ConfigError
from engine.log.kafka import KafkaSettings
from engine.node.projector import Projector
from schemas.types import check_site_name


def register(commands: Any) -> None:
    parser = add_command(
        commands, "project", "follow site logs into a PostgreSQL projection", __doc__
    )
    add_database_options(parser)
    parser.add_argument(
        "--site",
        action="append",
        default=[],
        metavar="NAME=BOOTSTRAP",
        help="a site log to follow (repeatable; env SITELOG_SITES)",
    )
    parser.add_argument(
        "--batch-events",
        type=int,
        default=20_000,
        metavar="N",
        help="most events folded into one transaction (default 20000)",
    )
    parser.add_argument(
        "--until-caught-up", action="store_true", help="exit once every site's log end is projected"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="with --until-caught-up: give up after this long (exit 1)",
    )
    parser.set_defaults(run=run)


def parse_sites(values: list[str]) -> dict[str, KafkaSettings]:
    if not values and os.environ.get("SITELOG_SITES"):
        values = os.environ["SITELOG_SITES"].split(",")
    if not values:
        raise ConfigError("no site to follow: pass --site NAME=BOOTSTRAP or set SITELOG_SITES")
    sites = {}
    for value in values:
        name, sep, bootstrap = value.strip().partition("=")
        if not sep or not bootstrap:
            raise ConfigError(f"--site {value!r}: expected NAME=BOOTSTRAP")
        sites[check_site_name(name)] = KafkaSettings(bootstrap)
    return sites


def run(args: argparse.Namespace) -> int:
    if not args.dsn:
        raise ConfigError("no PostgreSQL DSN: pass --dsn or set SITELOG_DSN")
    return asyncio.run(_project(args, parse_sites(args.site)))


async def _project(args: argparse.Namespace, sites: dict[str, KafkaSettings]) -> int:
    projector = Projector(args.dsn, sites, schema=args.schema, max_batch_events=args.batch_events)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await projector.start()
    try:
        if args.until_caught_up:
            caught_up = await projector.wait_caught_up(args.timeout)
        else:
            await stop.wait()
            caught_up = True
    finally:
        await projector.stop()
    for status in projector.status.values():
        print(status.summary(), file=sys.stderr)
    failed = any(s.state == "failed" for s in projector.status.values())
    return 0 if caught_up and not failed else 1
