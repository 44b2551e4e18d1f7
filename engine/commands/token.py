"""``sitelog token NAME --scopes read,operate [--sites paris]``: make an API token.

Prints the secret once (give it to the token's holder; the node never stores it) and
the ``[api.tokens.NAME]`` table to add to the node's configuration, which holds only
the secret's SHA-256.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.commands.options import add_command
from engine.errors import ConfigError
from engine.node.tokens import SCOPES, TokenConfigError, hash_secret, new_secret, parse_token


def register(commands: Any) -> None:
    parser = add_command(
        commands, "token", "make an API token and print its configuration", __doc__
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
    if not args.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"token name {args.name!r}: use letters, digits, '-', '_' or '.'")
    secret = new_secret()
    # The same validation as the node's configuration applies to what is printed for it.
    entries = {"sha256": hash_secret(secret), "scopes": args.scopes}
    if args.sites is not None:
        entries["sites"] = args.sites
    try:
        token = parse_token(args.name, entries)
    except TokenConfigError as exc:
        raise ConfigError(str(exc)) from None

    def listed(names: frozenset[str]) -> str:
        return "[" + ", ".join(f'"{n}"' for n in sorted(names)) + "]"

    print(f"# secret for {args.name} (shown once): {secret}")
    print(f'[api.tokens."{args.name}"]')
    print(f'sha256 = "{token.sha256}"')
    print(f"scopes = {listed(token.scopes)}")
    if token.sites is not None:
        print(f"sites = {listed(token.sites)}")
    return 0
