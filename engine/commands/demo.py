"""``sitelog demo``: start a whole deployment on this machine; Ctrl-C stops it all."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from engine.commands.options import add_command
from engine.dev import demo as demo_module
from engine.dev.brokers import BrokerKind
from engine.dev.demo import Demo


def register(commands: Any) -> None:
    parser = add_command(
        commands,
        "demo",
        "run a central and two remote nodes with pollers, on this machine",
        demo_module.__doc__,
    )
    parser.add_argument("--hosts", type=int, default=150, help="hosts per remote site")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="check results per second and site"
    )
    parser.add_argument(
        "--kafka",
        type=_broker_kind,
        default=BrokerKind.TANSU,
        metavar="{tansu,apache}",
        help="the brokers to run: embedded Tansu (default) or Apache Kafka (needs Java and "
        "Maven; fetches its jars once)",
    )
    parser.add_argument("--report-every", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop by itself after this long (default: run until Ctrl-C)",
    )
    parser.set_defaults(run=run)


def _broker_kind(text: str) -> BrokerKind:
    try:
        return BrokerKind.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await Demo(hosts_per_site=args.hosts, rate=args.rate, kafka=args.kafka).run(
            args.duration, args.report_every, stop
        )

    asyncio.run(main())
    return 0
