"""Options shared by the commands that produce into a site log through the spool.

``sitelog produce``, ``sitelog ingest`` and ``sitelog simulate`` take the same site,
broker, origin and spool options, each also from an environment variable; produce and
ingest also the brokers' TLS and SASL options (``engine.commands.kafka_options``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from engine.commands.kafka_options import add_kafka_security_arguments, kafka_settings
from engine.commands.options import add_command, env_option
from engine.errors import ConfigError
from engine.poller.metrics import serve_metrics
from engine.poller.producer import WHEN_FULL, Producer, SpoolSettings
from schemas.types import check_site_name

_SIZE = re.compile(r"^(\d+)\s*([KMGT]?i?B?)?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """Bytes from ``512MiB``, ``2G``, ``1048576``; binary units."""
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 512MiB or 2GiB")
    unit = (match.group(2) or "").upper().rstrip("B").rstrip("I")
    return int(match.group(1)) * _UNITS[unit]


def default_spool(site: str, command: str) -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "sitelog" / "spool" / f"{command}-{site}"


def add_producing_command(
    commands: Any, name: str, *, help: str, description: str | None, origin: str
) -> argparse.ArgumentParser:
    """The sub-command ``name`` with every producer option (site, brokers, spool, ...)."""
    parser = add_command(commands, name, help, description)
    add_producer_arguments(parser, origin=origin)
    return parser


async def finish(producer: Producer, args: argparse.Namespace, rejected: int) -> int:
    """Drain the spool (bounded), print the closing line, and return the exit status."""
    left = await producer.stop(drain_timeout=args.drain_timeout)
    print(f"{report_end(producer, left)}; rejected {rejected} lines", file=sys.stderr)
    return exit_status(rejected, left)


def add_producer_arguments(parser: argparse.ArgumentParser, *, origin: str) -> None:
    parser.add_argument("--site", required=True, help="site whose log receives the events")
    env_option(parser, "--bootstrap", "SITELOG_BOOTSTRAP", "Kafka bootstrap servers of the site")
    add_kafka_security_arguments(parser)
    env_option(
        parser,
        "--origin",
        "SITELOG_ORIGIN",
        f"who writes the events: the poller's name (default {origin})",
        origin,
    )
    env_option(
        parser,
        "--spool",
        "SITELOG_SPOOL",
        "durable spool directory (default ~/.local/state/sitelog/spool/COMMAND-SITE); "
        "what it holds is sent first on restart",
        type=Path,
        metavar="DIR",
    )
    env_option(
        parser,
        "--spool-max-bytes",
        "SITELOG_SPOOL_MAX_BYTES",
        "disk bound of the spool (default 1GiB)",
        "1GiB",
        type=parse_size,
        metavar="SIZE",
    )
    env_option(
        parser,
        "--when-full",
        "SITELOG_SPOOL_WHEN_FULL",
        "at the bound: hold the input (block, default) or drop the oldest spooled results",
        "block",
        choices=WHEN_FULL,
    )
    env_option(
        parser,
        "--drain-timeout",
        "SITELOG_DRAIN_TIMEOUT",
        "at the end of the input, wait this long for the brokers to take the spool "
        "(what is left stays spooled for the next run)",
        "60",
        type=float,
        metavar="SECONDS",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="one attempt to reach the brokers gives up after this long (then retries)",
    )
    env_option(
        parser,
        "--metrics-listen",
        "SITELOG_METRICS_LISTEN",
        "serve Prometheus metrics at http://HOST:PORT/metrics",
        metavar="HOST:PORT",
    )


def producer_from_args(args: argparse.Namespace, command: str) -> Producer:
    if not args.bootstrap:
        raise ConfigError("no Kafka bootstrap servers: pass --bootstrap or set SITELOG_BOOTSTRAP")
    site = check_site_name(args.site)
    settings = kafka_settings(
        args,
        args.bootstrap,
        connect_timeout=args.connect_timeout,
        request_timeout=args.connect_timeout,
    )
    spool = SpoolSettings(
        args.spool or default_spool(site, command),
        max_bytes=args.spool_max_bytes,
        when_full=args.when_full,
    )
    producer = Producer(site, settings, spool)
    if args.metrics_listen:
        serve_metrics(producer, args.metrics_listen)
    return producer


def report_end(producer: Producer, left: int) -> str:
    """The closing line of a producing command: what was accepted, sent, left and dropped."""
    stats = producer.stats
    line = (
        f"accepted {stats.accepted} events for {producer.topic}, {stats.acknowledged} acknowledged"
    )
    if left:
        line += f"; brokers {producer.settings.bootstrap_servers} did not take them all: "
        line += f"{left} wait in spool {producer.spool_settings.directory} for the next run"
    if stats.dropped:
        line += f"; {stats.dropped} dropped when the spool was full"
    return line


EXIT_REJECTED = 1
EXIT_SPOOLED = 3


def exit_status(rejected: int, left: int) -> int:
    """1 if input was rejected, else 3 if accepted events still wait in the spool, else 0."""
    return EXIT_REJECTED if rejected else EXIT_SPOOLED if left else 0
