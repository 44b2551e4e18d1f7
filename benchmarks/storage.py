"""``python -m benchmarks storage``: the storage layout of issue 17, measured.

Four parts, each beside a baseline measured in the same run:

1. bytes on disk per raw perfdata point, indexes included, against the previous
   text-keyed layout filled with the same points (``benchmarks.storage_size``);
2. projection and rebuild throughput with perfdata, this tree against commit 8837509
   (``benchmarks.storage_throughput``);
3. a steady load of simulated days with retention, the database size each day
   (``benchmarks.storage_steady``);
4. the perfdata API's time for a 31-day and a 365-day graph of one metric, against the raw
   points' query over the same span (``benchmarks.storage_api``).

The defaults run in about ten minutes on two cores; ``python -m benchmarks.storage
--help`` lists the options that scale each part up (e.g. ``--steady-services 2000``).
The figures are JSON lines on stdout (``Result``); the per-day sizes and a summary table
go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, fields
from typing import NoReturn

from benchmarks import storage_api, storage_size, storage_steady, storage_throughput
from benchmarks.harness import Result, note
from engine.dev import EmbeddedPostgres
from projections.retention import DEFAULT_RETENTION, RetentionPolicy, parse_duration
from projections.tables import DAY

MIB = 2**20


@dataclass(frozen=True)
class Options:
    size_services: int = 200  # 600 metrics, checked every minute, for half a day:
    size_days: float = 0.5  # 432,000 points in each layout
    projection_events: int = 50_000
    rebuild_events: int = 100_000
    throughput_rounds: int = 3
    # 50 services x 3 metrics every minute: 216,000 points a day; 40 days outlast the
    # default 35 days of the 5-minute tier, so every short-kept table levels off.
    steady_services: int = 50
    steady_interval: int = 60
    steady_days: int = 40
    steady_policy: RetentionPolicy = DEFAULT_RETENTION
    api_repeats: int = 20
    parts: tuple[str, ...] = ("size", "throughput", "steady", "api")


def _size(opts: Options, dsn: str) -> tuple[list[Result], list[str]]:
    f = storage_size.measure(dsn, opts.size_services, 60, opts.size_days)
    new, old = f.new_points_bytes / f.points, f.per_point(f.legacy["perfdata_points"])
    points, legacy = f.new["perfdata_points"], f.legacy["perfdata_points"]
    tiers = {t: f.per_point(f.new[f"perfdata_{t}"]) for t in ("5m", "1h", "1d")}
    # Closed days are sealed (projections.postgres_blocks): what a point costs for good.
    sealed = f.per_point(f.sealed) + (new - f.per_point(points))
    extra = {
        "points": f.points,
        "open_day_bytes_per_point": round(new, 1),
        "sealed_blocks_bytes_per_point": round(f.per_point(f.sealed), 1),
        "heap_bytes_per_point": round(points.heap / f.points, 1),
        "index_bytes_per_point": round(points.index / f.points, 1),
        "index_reindexed_bytes_per_point": round(f.reindexed_points_index / f.points, 1),
        "dictionary_bytes_per_point": round(new - f.per_point(points), 2),
        "baseline_heap_bytes_per_point": round(legacy.heap / f.points, 1),
        "baseline_index_bytes_per_point": round(legacy.index / f.points, 1),
        "target_ratio": 0.25,
        "target_met": sealed <= old / 4,
        "write_points_per_s": round(f.points / f.new_seconds),
        "baseline_write_points_per_s": round(f.points / f.legacy_seconds),
    }
    results = [
        Result(
            "storage_point_bytes",
            sealed,
            "bytes/point",
            old,
            "previous text-keyed perfdata_points, same points",
            extra,
        ),
        Result(
            "storage_tier_bytes",
            sum(tiers.values()),
            "bytes/point",
            f.per_point(f.legacy["perfdata_rollups"]),
            "previous perfdata_rollups (5 minutes only), same points",
            {f"tier_{t}_bytes_per_point": round(v, 1) for t, v in tiers.items()},
        ),
    ]
    rows = [
        f"bytes per raw point (1-min checks)  sealed {sealed:.1f}  previous {old:.1f}  ratio"
        f" {sealed / old:.3f} (target <= 0.25); open day {new:.1f} ({new / old:.3f})",
        f"  new heap {points.heap / f.points:.1f} + index {points.index / f.points:.1f}"
        f" (reindexed {f.reindexed_points_index / f.points:.1f}); previous heap"
        f" {legacy.heap / f.points:.1f} + index {legacy.index / f.points:.1f}",
        "  tiers per raw point  "
        + "  ".join(f"{t} {v:.1f}" for t, v in tiers.items())
        + f"  (previous 5m rollups {f.per_point(f.legacy['perfdata_rollups']):.1f})",
    ]
    return results, rows


def _throughput(opts: Options) -> tuple[list[Result], list[str]]:
    t = storage_throughput.run(opts.projection_events, opts.rebuild_events, opts.throughput_rounds)
    results, rows = [], []
    for name, figures, raw, events in (
        ("projection", t.projection, t.projection_raw, opts.projection_events),
        ("rebuild", t.rebuild, t.rebuild_raw, opts.rebuild_events),
    ):
        extra = {
            "events": events,
            "rounds": opts.throughput_rounds,
            "raw_read_after": round(raw["after"]),
            "raw_read_before": round(raw["before"]),
            "samples_after": [round(r[name]) for r in t.runs["after"]],
            "samples_before": [round(r[name]) for r in t.runs["before"]],
        }
        baseline = f"the same benchmark at {storage_throughput.BEFORE}, alternating runs"
        results.append(
            Result(
                f"storage_{name}", figures["after"], "events/s", figures["before"], baseline, extra
            )
        )
        rows.append(
            f"{name} events/s (median of {opts.throughput_rounds})  after {figures['after']:,.0f}"
            f"  before {figures['before']:,.0f}  ratio {figures['after'] / figures['before']:.3f}"
        )
    return results, rows


def _steady(opts: Options, dsn: str) -> tuple[list[Result], list[str]]:
    days = storage_steady.run(
        dsn, opts.steady_services, opts.steady_interval, opts.steady_days, opts.steady_policy
    )
    first_level = storage_steady.levels_from(opts.steady_policy.tier_5m, DAY) or len(days)
    points_level = storage_steady.levels_from(opts.steady_policy.points, DAY) or len(days)
    last = days[-1].day
    tail = max(first_level, last - 5)
    before = storage_steady.growth_per_day(days, 1, min(points_level, last))
    after = storage_steady.growth_per_day(days, tail, last) if tail < last else float("nan")
    peak = max(d.database for d in days)
    extra = {
        "days": last,
        "services": opts.steady_services,
        "metrics": 3 * opts.steady_services,
        "interval_s": opts.steady_interval,
        "retention": opts.steady_policy.describe(),
        "database_mib_by_day": [round(d.database / MIB, 1) for d in days],
        "points_mib_by_day": [round(d.tables["points"] / MIB, 1) for d in days],
        "tier_5m_mib_by_day": [round(d.tables["5m"] / MIB, 1) for d in days],
        "final_mib": {k: round(v / MIB, 1) for k, v in days[-1].tables.items()},
        "peak_database_mib": round(peak / MIB, 1),
        "growth_window_days": [tail, last],
    }
    results = [
        Result(
            "storage_steady_growth",
            after / MIB,
            "MiB/day",
            before / MIB,
            f"growth per day over days 1-{min(points_level, last)}, before any expiry",
            extra,
        )
    ]
    rows = [
        f"steady load: {opts.steady_services} services x 3 metrics every {opts.steady_interval}s,"
        f" {last} days, {opts.steady_policy.describe()}",
        "  day  database MiB  points  5m  1h  1d  (MiB)",
        *(
            f"  {d.day:3d}  {d.database / MIB:10.1f}  {d.tables['points'] / MIB:6.1f}"
            f"  {d.tables['5m'] / MIB:5.1f}  {d.tables['1h'] / MIB:4.1f}"
            f"  {d.tables['1d'] / MIB:4.1f}"
            for d in days
        ),
        f"  growth: {before / MIB:.1f} MiB/day before expiry, {after / MIB:.2f} MiB/day over"
        f" days {tail}-{last}",
    ]
    return results, rows


def _api(opts: Options, dsn: str) -> tuple[list[Result], list[str]]:
    results, rows = [], []
    for g in storage_api.run(dsn, opts.api_repeats):
        extra = {
            "api_p90_ms": round(g.api_p90_ms, 2),
            "resolution": g.resolution,
            "tier": g.tier,
            "step_s": None if g.step is None else g.step // 1_000_000,
            "values": g.values,
            "raw_points": g.raw_points,
            "repeats": opts.api_repeats,
        }
        baseline = "raw points of the metric over the same span, one psycopg query, no HTTP"
        results.append(Result(f"storage_api_{g.days}d", g.api_ms, "ms", g.raw_ms, baseline, extra))
        rows.append(
            f"API {g.days}-day graph  {g.api_ms:.1f} ms (p90 {g.api_p90_ms:.1f}; {g.values} values"
            f" from tier {g.tier})  raw points query {g.raw_ms:.1f} ms ({g.raw_points:,} points)"
        )
    return results, rows


def measure(opts: Options) -> list[Result]:
    results: list[Result] = []
    table: list[str] = []
    if "throughput" in opts.parts:
        # Its runs start their own broker and PostgreSQL: measured before the others'.
        r, rows = _throughput(opts)
        results += r
        table += rows
    with EmbeddedPostgres() as postgres:
        if "size" in opts.parts:
            r, rows = _size(opts, postgres.create_database("bench_size"))
            results += r
            table = rows + table
        if "api" in opts.parts:
            r, rows = _api(opts, postgres.create_database("bench_api"))
            results += r
            table += rows
        if "steady" in opts.parts:
            r, rows = _steady(opts, postgres.create_database("bench_steady"))
            results += r
            table += rows
    note("\n".join(["", "storage (issue 17), medians; machine shared and noisy:", *table]))
    return results


def run() -> list[Result]:
    return measure(Options())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line naming what is wrong, not the usage text."""
        self.exit(2, f"benchmarks.storage: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m benchmarks.storage", description=__doc__.split("\n")[0])
    d = Options()
    for f in fields(Options):
        if f.name in ("steady_policy", "parts"):
            continue
        p.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=type(getattr(d, f.name)),
            default=getattr(d, f.name),
        )
    p.add_argument(
        "--parts", default=",".join(d.parts), help="comma-separated: size,throughput,steady,api"
    )
    p.add_argument(
        "--steady-retention",
        action="append",
        default=[],
        metavar="KEY=DURATION",
        help='override a retention window for the steady load, e.g. "points=2d" (repeatable)',
    )
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    values = {
        f.name: getattr(args, f.name)
        for f in fields(Options)
        if f.name not in ("steady_policy", "parts")
    }
    parts = tuple(p for p in args.parts.split(",") if p)
    unknown = set(parts) - set(Options.parts)
    if unknown:
        print(
            f"--parts: unknown part {sorted(unknown)[0]!r}; known: {', '.join(Options.parts)}",
            file=sys.stderr,
        )
        return 2
    windows = {}
    for item in args.steady_retention:
        key, _, text = item.partition("=")
        if key not in {f.name for f in fields(RetentionPolicy)}:
            print(f"--steady-retention: unknown window {key!r}", file=sys.stderr)
            return 2
        try:
            windows[key] = parse_duration(text, f"--steady-retention {key}")
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
    try:
        policy = RetentionPolicy(
            **{
                **{f.name: getattr(DEFAULT_RETENTION, f.name) for f in fields(RetentionPolicy)},
                **windows,
            }
        )
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    for result in measure(Options(**values, steady_policy=policy, parts=parts)):
        print(result.json_line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
