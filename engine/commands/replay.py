"""``sitelog replay --config node.toml``: rebuild a node's projection from the logs.

The logs are the truth. A rebuild folds every followed site's log, from the log
starts (or ``--from``) up to the log ends as they are when it starts, into a fresh
schema beside the live one (``--into``, default ``<schema>_rebuild``), with a
progress bar per site; the node may keep running meanwhile.

``--swap`` then replaces the live projection with the rebuilt one, offsets included,
in one transaction (a lost database is created anew); a running node notices at its
next write and carries on from the rebuilt offsets.
``--until TIME`` keeps the events that happened before TIME (their event time): the
state as it was at that instant, for a post-mortem, in ``<schema>_at_<TIME>``.
``--verify`` rebuilds up to the live projection's own offsets and compares the two:
it prints the subjects whose rows differ and exits 1 if any, 0 if none.

Retention (``[retention]`` of the node's file, docs/retention.md) applies to a rebuild as
to the live projection: the history, audit trail, points and tiers are rebuilt only
within their windows, counted from now, and the command says from when each one is.
``--verify`` compares the time-kept tables from the later of the two projections'
horizons on. An ``--until`` older than a table's horizon says that table has nothing
then; the registers are rebuilt as of that instant from whatever the logs still hold.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from engine.commands.options import add_command
from engine.errors import ConfigError
from engine.node import config as node_config
from engine.node.config import NodeConfig
from engine.recovery.replay import (
    Offsets,
    RebuildStats,
    compare,
    drop_schema,
    live_snapshot,
    log_bounds,
    prepare_target,
    read_rows,
    rebuild,
    refuse_legacy,
    schema_horizons,
    swap,
    time_starts,
    within,
)
from engine.times import format_time, is_number, parse_time
from projections.digest import digest
from projections.retention import format_duration
from projections.tables import TABLES
from schemas.event import Event
from schemas.types import now_us

EXIT_DIFFERENT = 1
_SHOWN = 50  # differing subjects printed at most


def register(commands: Any) -> None:
    parser = add_command(
        commands,
        "replay",
        "rebuild, verify or time-travel a node's projection from the logs",
        __doc__,
    )
    parser.add_argument("--config", required=True, help="the node's TOML file")
    parser.add_argument("--into", help="schema to rebuild into (default from the mode)")
    parser.add_argument(
        "--from",
        dest="start",
        metavar="OFFSET|TIME",
        help="start at this offset in every partition, or with the events from this time on",
    )
    parser.add_argument("--until", metavar="TIME", help="the state as it was at TIME")
    parser.add_argument(
        "--verify", action="store_true", help="compare a rebuild with the live projection"
    )
    parser.add_argument(
        "--swap", action="store_true", help="replace the live projection with the rebuild"
    )
    parser.add_argument("--force", action="store_true", help="drop the target schema if it exists")
    parser.add_argument(
        "--keep", action="store_true", help="with --verify: keep the rebuilt schema"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = node_config.load(args.config)
    if (args.verify or args.swap) and (args.until or args.start):
        raise ConfigError("--verify and --swap take whole projections: no --from or --until")
    if args.verify and args.swap:
        raise ConfigError("choose one of --verify and --swap")
    return asyncio.run(_verify(args, config) if args.verify else _rebuild(args, config))


@dataclass(frozen=True)
class Window:
    """What --from and --until keep: from an offset, or events in [since, until)."""

    offset: int | None = None
    since: int | None = None
    until: int | None = None

    @classmethod
    def of(cls, args: argparse.Namespace) -> Window:
        offset = since = until = None
        if args.start is not None:
            if is_number(args.start):  # an offset; a time is ISO 8601
                offset = int(args.start)
            else:
                since = parse_time(args.start, option="--from")
        if args.until is not None:
            until = parse_time(args.until, option="--until")
        return cls(offset, since, until)


def _accept(config: NodeConfig, window: Window) -> Callable[[Event], bool]:
    """The events a rebuild keeps: the node's subset, within the window."""

    def accept(event: Event) -> bool:
        if window.since is not None and event.event_time < window.since:
            return False
        if window.until is not None and event.event_time >= window.until:
            return False
        return config.accepts(event.target_site)

    return accept


async def _rebuild(args: argparse.Namespace, config: NodeConfig) -> int:
    window = Window.of(args)
    target = args.into or _default_target(args, config, window.until)
    prepare_target(config, target, replace=args.force)
    if args.swap:
        # Before the rebuild, not after it: the swap writes into the live schema.
        refuse_legacy(config.dsn, config.schema)
    starts, ends = await log_bounds(config.followed)
    if window.since is not None:  # skip what was written before it, where the brokers can say
        starts = await time_starts(config.followed, starts, ends, window.since)
    if window.offset is not None:
        starts = {
            s: {p: max(o, window.offset) for p, o in parts.items()} for s, parts in starts.items()
        }
    horizons = config.retention.horizons(now_us())
    for line in describe_retention(config, horizons, window.until):
        print(line, file=sys.stderr)
    started = time.monotonic()
    stats = await _with_progress(config, target, starts, ends, _accept(config, window), horizons)
    elapsed = time.monotonic() - started
    rate = stats.total / elapsed if elapsed > 0 else 0.0
    print(
        f"rebuilt {target} from {stats.total} records in {elapsed:.1f}s ({rate:,.0f} records/s)",
        file=sys.stderr,
    )
    if args.swap:
        generation = await asyncio.to_thread(swap, config.dsn, config.schema, target)
        print(
            f"replaced the live projection {config.schema} with it (generation {generation})",
            file=sys.stderr,
        )
    return 0


def _default_target(args: argparse.Namespace, config: NodeConfig, until: int | None) -> str:
    if args.swap:
        return f"{config.schema}_swap"
    if until is None:
        return f"{config.schema}_rebuild"
    stamp = format_time(until)
    return f"{config.schema}_at_" + stamp[:19].replace("-", "").replace(":", "")


async def _with_progress(
    config: NodeConfig,
    target: str,
    starts: Offsets,
    ends: Offsets,
    accept: Callable[[Event], bool],
    horizons: dict[str, int],
) -> RebuildStats:
    bars = {
        site: tqdm(
            total=sum(max(0, e - starts[site].get(p, 0)) for p, e in ends[site].items()),
            desc=site,
            unit=" events",
            position=i,
            file=sys.stderr,
            disable=None,  # no bar when stderr is not a terminal
        )
        for i, site in enumerate(ends)
    }

    def progress(site: str, done: int, todo: int) -> None:
        bars[site].update(done - bars[site].n)

    try:
        return await rebuild(
            config.dsn,
            target,
            config.followed,
            starts,
            ends,
            accept=accept,
            progress=progress,
            horizons=horizons,
        )
    finally:
        for bar in bars.values():
            bar.close()


async def _verify(args: argparse.Namespace, config: NodeConfig) -> int:
    target = args.into or f"{config.schema}_verify"
    prepare_target(config, target, replace=args.force)
    committed, live_rows = live_snapshot(config.dsn, config.schema)
    starts, ends = await log_bounds(config.followed)
    for site, partitions in ends.items():
        for partition in partitions:
            partitions[partition] = committed.get(site, {}).get(partition, starts[site][partition])
            if partitions[partition] < starts[site][partition]:
                raise ConfigError(
                    f"{site} partition {partition}: the live projection is at offset "
                    f"{partitions[partition]}, before the log start {starts[site][partition]}: "
                    "retention deleted what a rebuild would need"
                )
    horizons = config.retention.horizons(now_us())
    for line in describe_retention(config, horizons, None):
        print(line, file=sys.stderr)
    try:
        await _with_progress(config, target, starts, ends, _accept(config, Window()), horizons)
        rebuilt_rows = read_rows(config.dsn, target)
    finally:
        if not args.keep:
            drop_schema(config.dsn, target)
    # The time-kept tables from when both hold them: the later horizon of the two.
    live_horizons = schema_horizons(config.dsn, config.schema)
    since = {name: max(kept, live_horizons.get(name, kept)) for name, kept in horizons.items()}
    for name, kept in live_horizons.items():
        since.setdefault(name, kept)
    live_rows, rebuilt_rows = within(live_rows, since), within(rebuilt_rows, since)
    live_digest, rebuilt_digest = digest(live_rows, since=0), digest(rebuilt_rows, since=0)
    if live_digest == rebuilt_digest:
        print(f"live projection {config.schema} matches the logs: digest {live_digest}")
        return 0
    differing = compare(live_rows, rebuilt_rows)
    print(
        f"live projection {config.schema} differs from the logs: digest {live_digest}, "
        f"rebuilt {rebuilt_digest}; {len(differing)} differing subjects:"
    )
    for line in differing[:_SHOWN]:
        print(f"  {line}")
    if len(differing) > _SHOWN:
        print(f"  ... and {len(differing) - _SHOWN} more")
    return EXIT_DIFFERENT


def describe_retention(
    config: NodeConfig, horizons: dict[str, int], until: int | None
) -> list[str]:
    """One line per time-kept table: from when it is rebuilt, or that it has nothing."""
    lines = []
    for table in TABLES:
        if table.time_column is None or not table.digested:
            continue
        kept = horizons.get(table.name)
        window = format_duration(config.retention.window(table))
        if kept is None:
            lines.append(f"{table.name}: rebuilt whole (retention {window})")
        elif until is not None and until <= kept:
            lines.append(
                f"{table.name}: nothing before --until {format_time(until)}: it is kept from "
                f"{format_time(kept)} on (retention {window})"
            )
        else:
            lines.append(f"{table.name}: rebuilt from {format_time(kept)} on (retention {window})")
    return lines
