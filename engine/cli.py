"""The ``sitelog`` command line: one sub-command per module in ``engine/commands``.

This is the boundary where errors become one line on stderr and an exit status:
a :class:`SitelogError` (bad input, unreachable broker, invalid setting) prints
``sitelog: error: <message>`` and exits 2; Ctrl-C exits 130. A traceback means a bug.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from engine.commands import (
    dead_letters,
    demo,
    ingest,
    log,
    migrate,
    node,
    pool,
    pool_member,
    produce,
    project,
    replay,
    simulate,
    token,
)
from schemas.errors import SitelogError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitelog",
        description="Event-sourced replication for distributed monitoring: "
        "per-site Kafka logs replayed into PostgreSQL projections.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging on stderr (-vv for the Kafka client too)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    dead_letters.register(commands)
    demo.register(commands)
    ingest.register(commands)
    log.register(commands)
    migrate.register(commands)
    node.register(commands)
    pool.register(commands)
    pool_member.register(commands)
    produce.register(commands)
    project.register(commands)
    replay.register(commands)
    simulate.register(commands)
    token.register(commands)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiokafka logs every failed connection attempt at ERROR; our own error line says it once.
    logging.getLogger("aiokafka").setLevel(logging.DEBUG if verbosity > 1 else logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return int(args.run(args))
    except SitelogError as exc:
        print(f"sitelog: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("sitelog: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
