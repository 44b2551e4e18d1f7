"""``sitelog simulate``: a poller load generator appending simulated check results to site logs.

For each ``--site`` (repeat it for several), hosts ``<site>-host-NNNN`` with up to 5
services each (Load, HTTP, Disk /var, Memory, Ping) report with realistic output and
(unless ``--no-perfdata``) perfdata, every subject once per ``--interval`` seconds, or
at ``--rate`` results per second in all. States change at ``--state-change-rate`` and
operators act at ``--operator-rate`` (fractions of results). Runs for ``--count``
results, ``--duration`` seconds, or until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from typing import Any

from engine.commands.options import add_command
from engine.errors import ConfigError
from engine.log.kafka import KafkaSettings
from engine.log.writer import SiteLogWriter
from engine.poller import simulation
from schemas.event import Event
from schemas.types import MICROS_PER_SECOND, check_site_name, now_us

TICK = 0.5  # seconds between batches


def register(commands: Any) -> None:
    parser = add_command(
        commands,
        "simulate",
        "simulate a poller: check results with perfdata into a site log",
        __doc__,
    )
    parser.add_argument(
        "--site",
        required=True,
        action="append",
        help="a site whose pollers are simulated (repeat for several)",
    )
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("SITELOG_BOOTSTRAP"),
        help="Kafka bootstrap servers of the site (env SITELOG_BOOTSTRAP)",
    )
    parser.add_argument("--hosts", type=int, default=100, help="hosts (default 100)")
    parser.add_argument(
        "--services",
        type=int,
        default=5,
        choices=range(0, 6),
        metavar="0-5",
        help="services per host (default 5)",
    )
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--rate", type=float, default=None, help="check results per second in all (default 100)"
    )
    pace.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="check interval of every host and service (sets the rate)",
    )
    parser.add_argument(
        "--perfdata",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="results carry perfdata (default) or not",
    )
    parser.add_argument("--state-change-rate", type=float, default=0.02)
    parser.add_argument("--operator-rate", type=float, default=0.002)
    parser.add_argument("--count", type=int, default=None, help="stop after this many")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.bootstrap:
        raise ConfigError("no Kafka bootstrap servers: pass --bootstrap or set SITELOG_BOOTSTRAP")
    if args.hosts <= 0 or (args.rate or 1) <= 0 or (args.interval or 1) <= 0:
        raise ConfigError("--hosts, --rate and --interval must be positive")
    for site in args.site:
        check_site_name(site)
    return asyncio.run(_simulate(args))


def _rate(args: argparse.Namespace) -> float:
    if args.interval is not None:
        subjects: int = len(args.site) * args.hosts * (1 + args.services)
        return subjects / float(args.interval)
    return float(args.rate or 100.0)


async def _simulate(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    rate = _rate(args)
    subjects = len(args.site) * args.hosts * (1 + args.services)
    traffic = simulation.Traffic(
        sites=tuple(args.site),
        hosts_per_site=args.hosts,
        services_per_host=args.services,
        state_change_rate=args.state_change_rate,
        operator_rate=args.operator_rate,
        interval_us=int(subjects / rate * MICROS_PER_SECOND),
        perfdata=args.perfdata,
    )
    total = args.count if args.count is not None else 10**15
    results = simulation.events(total, traffic, seed=args.seed, start=now_us())
    per_tick = max(1, round(rate * TICK))
    started = time.monotonic()
    sent = 0
    settings = KafkaSettings(args.bootstrap)
    async with contextlib.AsyncExitStack() as stack:
        writers = {
            site: await stack.enter_async_context(SiteLogWriter(site, settings))
            for site in args.site
        }
        while not stop.is_set() and sent < total:
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
            tick = time.monotonic()
            batch = list(itertools.islice(results, min(per_tick, total - sent)))
            if not batch:
                break
            by_site: dict[str, list[Event]] = {}
            for event in batch:
                by_site.setdefault(event.site, []).append(event)
            await asyncio.gather(*(writers[s].append_many(e) for s, e in by_site.items()))
            sent += len(batch)
            wait = TICK - (time.monotonic() - tick)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
    topics = ", ".join(f"sitelog.{site}" for site in args.site)
    print(f"simulated {sent} results into {topics}", file=sys.stderr)
    return 0
