"""``sitelog dead-letters --config node.toml``: the records a node's projection could not read.

Lists the dead letters (site, partition, offset, reason, message). After an upgrade
that can read them (a newer schema version, a fixed decoder), ``--retry`` folds the
ones that now decode into the projection and forgets them; a running node loads the
result back at its next write. Exit status: 0 when no dead letter is left, 1 when
some remain.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.commands.options import add_command
from engine.node import config as node_config
from engine.recovery.dead_letters import list_dead_letters, retry

EXIT_LEFT = 1


def register(commands: Any) -> None:
    parser = add_command(
        commands,
        "dead-letters",
        "list a node's dead letters, or re-process them after an upgrade",
        __doc__,
    )
    parser.add_argument("--config", required=True, help="the node's TOML file")
    parser.add_argument(
        "--retry",
        action="store_true",
        help="fold the ones this version decodes into the projection",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = node_config.load(args.config)
    if args.retry:
        result = retry(config.dsn, config.schema, accept=lambda e: config.accepts(e.target_site))
        print(f"re-processed {len(result.reprocessed)} dead letters")
        for letter, reason in result.still_dead:
            print(f"still dead: {letter.site}/{letter.partition}@{letter.record_offset}: {reason}")
        return EXIT_LEFT if result.still_dead else 0
    letters = list_dead_letters(config.dsn, config.schema)
    for letter in letters:
        size = len(letter.record_value or b"")
        print(
            f"{letter.site}/{letter.partition}@{letter.record_offset}  {letter.reason}  "
            f"{letter.message}  ({size} bytes)"
        )
    print(f"{len(letters)} dead letters in {config.schema}")
    return EXIT_LEFT if letters else 0
