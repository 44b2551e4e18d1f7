"""``sitelog token NAME --scopes read,operate [--sites paris]``: make an API token.

Prints the secret once (give it to the token's holder; the node never stores it) and
the ``[api.tokens.NAME]`` table to add to the node's configuration, which holds only
the secret's SHA-256.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.errors import ConfigError
from engine.tokens import SCOPES, make_token


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "token",
        help="make an API token and print its configuration",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="who holds it (the default author of their commands)")
    parser.add_argument(
        "--scopes",
        default="read",
        help=f"comma-separated, among {', '.join(SCOPES)} (default: read)",
    )
    parser.add_argument("--sites", help="comma-separated sites it is limited to (default: all)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    if not scopes or (bad := sorted(set(scopes) - set(SCOPES))):
        wrong = bad[0] if scopes else ""
        raise ConfigError(f"--scopes: {wrong!r} is not one of {', '.join(SCOPES)}")
    if not args.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"token name {args.name!r}: use letters, digits, '-', '_' or '.'")
    sites = None if args.sites is None else [s.strip() for s in args.sites.split(",") if s.strip()]
    secret, token = make_token(args.name, scopes, sites)
    print(f"# secret for {args.name} (shown once): {secret}")
    print(f'[api.tokens."{args.name}"]')
    print(f'sha256 = "{token.sha256}"')
    print("scopes = [" + ", ".join(f'"{s}"' for s in scopes) + "]")
    if sites is not None:
        print("sites = [" + ", ".join(f'"{s}"' for s in sites) + "]")
    return 0
