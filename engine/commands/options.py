"""Options shared by sub-commands: one whose default comes from an environment variable.

The variable's text goes through the option's ``type`` like a typed-in value (argparse
converts string defaults), so a bad ``SITELOG_LEASE_PERIOD=soon`` is one usage error
naming the option, never a traceback, and only for the command that reads it.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["env_option"]


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
