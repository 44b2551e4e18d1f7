"""Options shared by the commands that produce into a site log through the spool.

``sitelog produce``, ``sitelog ingest`` and ``sitelog simulate`` take the same site,
broker, origin and spool options, each also from an environment variable.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from engine.errors import ConfigError
from engine.log.kafka import KafkaSettings
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


def add_producer_arguments(parser: argparse.ArgumentParser, *, origin: str) -> None:
    env = os.environ.get
    parser.add_argument("--site", required=True, help="site whose log receives the events")
    parser.add_argument(
        "--bootstrap",
        default=env("SITELOG_BOOTSTRAP"),
        help="Kafka bootstrap servers of the site (env SITELOG_BOOTSTRAP)",
    )
    parser.add_argument(
        "--origin",
        default=env("SITELOG_ORIGIN", origin),
        help=f"who writes the events: the poller's name (env SITELOG_ORIGIN, default {origin})",
    )
    parser.add_argument(
        "--spool",
        type=Path,
        default=env("SITELOG_SPOOL"),
        metavar="DIR",
        help="durable spool directory (env SITELOG_SPOOL; default "
        "~/.local/state/sitelog/spool/COMMAND-SITE); what it holds is sent first on restart",
    )
    parser.add_argument(
        "--spool-max-bytes",
        type=parse_size,
        default=parse_size(env("SITELOG_SPOOL_MAX_BYTES", "1GiB")),
        metavar="SIZE",
        help="disk bound of the spool (env SITELOG_SPOOL_MAX_BYTES, default 1GiB)",
    )
    parser.add_argument(
        "--when-full",
        choices=WHEN_FULL,
        default=env("SITELOG_SPOOL_WHEN_FULL", "block"),
        help="at the bound: hold the input (block, default) or drop the oldest spooled results",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=float(env("SITELOG_DRAIN_TIMEOUT", "60")),
        metavar="SECONDS",
        help="at the end of the input, wait this long for the brokers to take the spool "
        "(what is left stays spooled for the next run)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="one attempt to reach the brokers gives up after this long (then retries)",
    )
    parser.add_argument(
        "--metrics-listen",
        default=env("SITELOG_METRICS_LISTEN"),
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (env SITELOG_METRICS_LISTEN)",
    )


def producer_from_args(args: argparse.Namespace, command: str) -> Producer:
    if not args.bootstrap:
        raise ConfigError("no Kafka bootstrap servers: pass --bootstrap or set SITELOG_BOOTSTRAP")
    site = check_site_name(args.site)
    settings = KafkaSettings(
        args.bootstrap, connect_timeout=args.connect_timeout, request_timeout=args.connect_timeout
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
