"""``sitelog migrate --config node.toml``: convert a projection made by an older sitelog.

A node refuses to start on a schema of the previous storage layout (text-keyed perfdata
points, one rollup table, unpartitioned state history and audit trail) and names this
command: converting large tables is an administrator's decision, not a side effect of a
restart. The conversion runs in place, in one transaction that holds the projection
alone (a node writing to it waits, then reloads); what fails leaves the old layout as it
was (``projections.postgres_migrate``).

Points older than the node's retention window for raw points (``[retention]`` in the
TOML file; the defaults with ``--dsn``) are left out; the rollup tiers are made from
every old point; state history and audit trail are moved whole (expiry applies
retention to them next). ``--keep-old`` keeps the old tables as ``legacy_<name>``.
A schema of today's layout has nothing to convert: it says so and exits 0.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.commands.options import add_command, add_database_options
from engine.errors import ConfigError
from engine.node import config as node_config
from projections.postgres import connect
from projections.postgres_migrate import migrate
from projections.retention import DEFAULT_RETENTION, RetentionPolicy
from schemas.types import now_us


def register(commands: Any) -> None:
    parser = add_command(
        commands, "migrate", "convert a projection made by an older sitelog", __doc__
    )
    parser.add_argument("--config", help="the node's TOML file (database and retention)")
    add_database_options(parser, "without --config: ")
    parser.add_argument(
        "--keep-old", action="store_true", help="keep the old tables, renamed legacy_<name>"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    policy: RetentionPolicy = DEFAULT_RETENTION
    if args.config:
        config = node_config.load(args.config)
        dsn, schema, policy = config.dsn, config.schema, config.retention
    elif args.dsn:
        dsn, schema = args.dsn, args.schema
    else:
        raise ConfigError("no database: pass --config FILE, or --dsn (or set SITELOG_DSN)")
    conn = connect(dsn)
    try:
        report = migrate(conn, schema, policy, now_us(), keep_old=args.keep_old)
    finally:
        conn.close()
    for line in report.lines():
        print(line)
    return 0
