"""``sitelog simulate``: a poller load generator appending simulated check results to a site log.

Hosts ``<site>-host-NNNN`` with up to 5 services each (Load, HTTP, Disk /var, Memory,
Ping) report at ``--rate`` results per second with realistic output and perfdata;
states change at ``--state-change-rate`` and operators act at ``--operator-rate``
(fractions of results). Runs for ``--count`` results, ``--duration`` seconds, or until
Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from typing import Any

from engine import simulation
from engine.errors import ConfigError
from engine.kafka import KafkaSettings
from engine.site_log import SiteLogWriter
from schemas.types import MICROS_PER_SECOND, check_site_name, now_us

TICK = 0.5  # seconds between batches


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "simulate",
        help="simulate a poller: check results with perfdata into a site log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--site", required=True, help="the poller's site")
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
    parser.add_argument(
        "--rate", type=float, default=100.0, help="check results per second (default 100)"
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
    if args.rate <= 0 or args.hosts <= 0:
        raise ConfigError("--rate and --hosts must be positive")
    check_site_name(args.site)
    return asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    subjects = args.hosts * (1 + args.services)
    traffic = simulation.Traffic(
        sites=(args.site,),
        hosts_per_site=args.hosts,
        services_per_host=args.services,
        state_change_rate=args.state_change_rate,
        operator_rate=args.operator_rate,
        interval_us=int(subjects / args.rate * MICROS_PER_SECOND),
    )
    total = args.count if args.count is not None else 10**15
    results = simulation.events(total, traffic, seed=args.seed, start=now_us())
    per_tick = max(1, round(args.rate * TICK))
    started = time.monotonic()
    sent = 0
    async with SiteLogWriter(args.site, KafkaSettings(args.bootstrap)) as writer:
        while not stop.is_set() and sent < total:
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
            tick = time.monotonic()
            batch = [
                event for _, event in zip(range(min(per_tick, total - sent)), results, strict=False)
            ]
            if not batch:
                break
            await writer.append_many(batch)
            sent += len(batch)
            wait = TICK - (time.monotonic() - tick)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
    print(f"simulated {sent} results into {writer.topic}", file=sys.stderr)
    return 0
