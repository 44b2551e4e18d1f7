"""``sitelog pool-member --server NAME``: run a server's pool membership agent.

Renews the server's lease in every pool it belongs to (a lease lasts
``--lease-period + 2 x --network-latency`` seconds of event time), follows the pool
configuration in central's log, and prints a JSON line whenever what the server
should run changes: ``{"server", "at", "pools": {NAME: {"targets": [...],
"has_quorum", ...}}}``. With ``--listen HOST:PORT`` it also serves the current one at
``GET /assignment``, for a workflow host to poll. Ctrl-C or SIGTERM gives the leases
back, so the targets move at once; a crash moves them when the leases expire.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

from engine.commands.options import add_command, env_option
from engine.commands.pool import ROLES
from engine.errors import ConfigError
from engine.log.kafka import KafkaSettings
from engine.member.agent import Assignment, MemberSettings, PoolMember
from engine.member.server import serve_assignment
from engine.member.trust_store import fingerprints
from schemas.types import ServerRole


def register(commands: Any) -> None:
    parser = add_command(
        commands,
        "pool-member",
        "run a pool member: leases, and the workflows this server should run",
        __doc__,
    )
    env_option(parser, "--server", "SITELOG_SERVER", "this server's name")
    env_option(
        parser, "--bootstrap", "SITELOG_BOOTSTRAP", "Kafka bootstrap servers of central's log"
    )
    env_option(
        parser,
        "--role",
        "SITELOG_ROLE",
        "register the server with this role on start",
        choices=sorted(ROLES),
    )
    parser.add_argument("--site", default="", help="the site the server is in (with --role)")
    seconds: dict[str, Any] = {"type": float, "metavar": "SECONDS"}
    env_option(
        parser,
        "--lease-period",
        "SITELOG_LEASE_PERIOD",
        "seconds between lease renewals (default 130, SCOM's)",
        "130",
        **seconds,
    )
    env_option(
        parser,
        "--network-latency",
        "SITELOG_NETWORK_LATENCY",
        "allowance for network latency (default 30)",
        "30",
        **seconds,
    )
    parser.add_argument(
        "--trust-store",
        type=Path,
        help="directory of PEM root certificates this server trusts: their SHA-256 "
        "fingerprints are reported, so the pool can tell which agents it could take over",
    )
    parser.add_argument("--listen", help="serve GET /assignment on HOST:PORT")
    parser.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS")
    parser.set_defaults(run=run)


def settings_from(args: argparse.Namespace) -> MemberSettings:
    if not args.server:
        raise ConfigError("no server name: pass --server or set SITELOG_SERVER")
    if not args.bootstrap:
        raise ConfigError("no Kafka bootstrap servers: pass --bootstrap or set SITELOG_BOOTSTRAP")
    if not 0 < args.lease_period <= 86_400:
        raise ConfigError("--lease-period: expected 0 < seconds <= 86400")
    if not 0 <= args.network_latency <= 3_600:
        raise ConfigError("--network-latency: expected 0 <= seconds <= 3600")
    if args.role is None and args.site:
        raise ConfigError("--site goes with --role (it is part of the registration)")
    return MemberSettings(
        server=args.server,
        kafka=KafkaSettings(
            args.bootstrap,
            connect_timeout=args.connect_timeout,
            request_timeout=args.connect_timeout,
        ),
        role=None if args.role is None else ServerRole(ROLES[args.role]),
        site_name=args.site,
        lease_request_period=args.lease_period,
        network_latency=args.network_latency,
        trust_anchors=None if args.trust_store is None else fingerprints(args.trust_store),
    )


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    listen = None
    if args.listen is not None:
        host, _, port = args.listen.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--listen {args.listen!r}: expected HOST:PORT")
        listen = (host, int(port))
    return asyncio.run(_run(settings, listen))


def _print(assignment: Assignment) -> None:
    sys.stdout.write(orjson.dumps(assignment).decode() + "\n")
    sys.stdout.flush()


async def _run(settings: MemberSettings, listen: tuple[str, int] | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with PoolMember(settings, on_change=_print) as member:
        runner = None if listen is None else await serve_assignment(member, *listen)
        print(
            f"pool member {settings.server}: following central's log on "
            f"{settings.kafka.bootstrap_servers}"
            + (f", serving http://{listen[0]}:{listen[1]}/assignment" if listen else ""),
            file=sys.stderr,
            flush=True,
        )
        try:
            # Until Ctrl-C or SIGTERM, or an error retrying cannot fix (then exit 2).
            waits = [asyncio.create_task(stop.wait()), asyncio.create_task(member.failed.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
        finally:
            if runner is not None:
                await runner.cleanup()
    if member.failure is not None:
        raise member.failure
    return 0
