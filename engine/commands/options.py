"""What sub-commands share: their parser (help, and the module's docstring as its
description), and an option whose default comes from an environment variable.

The variable's text goes through the option's ``type`` like a typed-in value (argparse
converts string defaults), so a bad ``SITELOG_LEASE_PERIOD=soon`` is one usage error
naming the option, never a traceback, and only for the command that reads it.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["add_command", "add_database_options", "env_option"]


def env_option(
    parser: argparse.ArgumentParser,
    flag: str,
    env: str,
    help: str,
    default: str | None = None,
    **kwargs: Any,
) -> None:
    """Add ``flag``, defaulting to ``$env`` (else ``default``); the help names the variable."""
    parser.add_argument(
        flag, default=os.environ.get(env, default), help=f"{help} (env {env})", **kwargs
    )


def add_database_options(parser: argparse.ArgumentParser, qualifier: str = "") -> None:
    """``--dsn`` and ``--schema`` of a projection, from ``$SITELOG_DSN`` and
    ``$SITELOG_SCHEMA`` (default ``sitelog``); ``qualifier`` starts their help."""
    env_option(parser, "--dsn", "SITELOG_DSN", f"{qualifier}PostgreSQL connection string")
    env_option(
        parser,
        "--schema",
        "SITELOG_SCHEMA",
        f"{qualifier}PostgreSQL schema of the projection",
        default="sitelog",
    )


def add_command(
    commands: Any, name: str, help: str, description: str | None
) -> argparse.ArgumentParser:
    """The sub-command ``name``; ``description`` (the command module's docstring) is shown
    as written by ``--help``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser
