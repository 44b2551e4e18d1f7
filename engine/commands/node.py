"""``sitelog node --config FILE``: run a central or remote node until SIGINT or SIGTERM.

Every setting of the file may come from an environment variable instead (see
``engine/node/config.py``). The node serves its HTTP API on ``api.listen``; requests need
a token from ``[api.tokens.NAME]`` (make one with ``sitelog token``). The node
prints one status line per followed site every ``--status-every`` seconds: state,
events applied, lag, dead letters.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from contextlib import suppress
from typing import Any

from engine.commands.options import add_command
from engine.errors import ConfigError
from engine.node import config as node_config
from engine.node.node import Node
from engine.web import NodeServer


def register(commands: Any) -> None:
    parser = add_command(commands, "node", "run a central or remote node", __doc__)
    parser.add_argument(
        "--config",
        default=os.environ.get("SITELOG_CONFIG"),
        required=False,
        metavar="FILE",
        help="the node's TOML file (env SITELOG_CONFIG)",
    )
    parser.add_argument(
        "--status-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="print each site's status this often (0: never)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.config:
        raise ConfigError("no configuration: pass --config FILE or set SITELOG_CONFIG")
    return asyncio.run(_run(node_config.load(args.config), args.status_every))


async def _run(config: node_config.NodeConfig, status_every: float) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Node(config) as node, NodeServer(node) as api:
        print(
            f"node {config.name} ({config.role}, site {config.site}) follows "
            f"{', '.join(sorted(config.followed))}; API on {api.url}/api/v1/",
            file=sys.stderr,
            flush=True,
        )
        if not config.tokens:
            print(
                "warning: no API tokens configured, so every API request is refused "
                "(add one with `sitelog token NAME`)",
                file=sys.stderr,
                flush=True,
            )
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), status_every if status_every > 0 else None)
            if status_every > 0:
                for status in node.status.values():
                    print(status.summary(), file=sys.stderr, flush=True)
    return 0
