"""Perfdata series of one host or service: raw points, or a rollup tier for long ranges.

What is read is chosen by range and step (``plan``), and the answer says which:

- raw points (``resolution: "raw"``) when the range spans at most ``RAW_SPAN``, no step of
  at least the finest tier's bucket is asked, the raw points' retention still holds the
  range's start, and there are at most ``MAX_POINTS`` of them;
- otherwise a tier (``resolution: "rollup"``, ``tier: "5m" | "1h" | "1d"``): the finest
  whose buckets number at most ``MAX_BUCKETS`` per label over the range (so a graph over a
  year reads 365 daily buckets per label), and whose retention horizon is at or before the
  range's start (else the next coarser; when none holds it, the one holding the most of
  it). Its buckets that start in the range are merged into windows of ``step``: what was
  asked, rounded up to a multiple of the tier's bucket, coarse enough for at most
  ``MAX_WINDOWS`` windows. Windows start at the first bucket boundary at or after ``from``.

Each series also carries its metric's latest unit, thresholds and bounds, the threshold
changes within the range (the one in force at ``from`` first), and the count of its
points whose perfdata had a field that did not parse (``problems``), when there are any.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from engine.api import params, queries
from engine.api.context import Context, check_site, context, json
from engine.api.errors import bad_request
from projections.rollups import TIERS, Tier
from projections.tables import PERFDATA_POINTS
from schemas.types import now_us

HOUR = 3_600_000_000
RAW_SPAN = 6 * HOUR
MAX_POINTS = 10_000
MAX_BUCKETS = 3_000
MAX_WINDOWS = 1_000
RAW_COLUMNS = ["t", "value"]
ROLLUP_COLUMNS = ["t", "avg", "min", "max", "samples", "last"]
#: Digits of a window's mean before it is rounded to a float: far more than a float holds,
#: so the mean is the float nearest sum / samples (as ``projections.rollups`` defines it).
_MEAN = decimal.Context(prec=50)


@dataclass(frozen=True)
class Plan:
    """What a range is answered from: raw points first (when ``raw``), else ``tier``
    merged into windows of ``step`` starting at ``origin``."""

    raw: bool
    tier: Tier
    step: int
    origin: int


def choose_tier(start: int, end: int, horizons: Mapping[str, int]) -> Tier:
    """The finest tier with at most ``MAX_BUCKETS`` buckets over [start, end) that still
    holds ``start`` (retention horizon at or before it); when no coarser one holds it
    either, the one whose horizon is the oldest (the coarsest of equals)."""
    span = end - start
    fit = [t for t in TIERS if -(-span // t.bucket) <= MAX_BUCKETS] or [TIERS[-1]]
    for tier in fit:
        if horizons.get(tier.table.name, 0) <= start:
            return tier
    return min(reversed(fit), key=lambda t: horizons.get(t.table.name, 0))


def plan(start: int, end: int, asked: int | None, horizons: Mapping[str, int]) -> Plan:
    """How [start, end) is read, ``asked`` the step asked for (None: none)."""
    raw = (
        (asked is None or asked < TIERS[0].bucket)
        and end - start <= RAW_SPAN
        and horizons.get(PERFDATA_POINTS.name, 0) <= start
    )
    tier = choose_tier(start, end, horizons)
    origin = -(-start // tier.bucket) * tier.bucket
    step = max(asked or 0, -(-(end - origin) // MAX_WINDOWS), tier.bucket)
    return Plan(raw, tier, -(-step // tier.bucket) * tier.bucket, origin)


def mean(total: Decimal | None, samples: int) -> float | None:
    """A window's average: its exact sum over its samples, as the nearest float."""
    return None if total is None or not samples else float(_MEAN.divide(total, samples))


async def perfdata(request: web.Request) -> web.Response:
    ctx, query = context(request), request.query
    host = params.text(request.match_info["host"], "host")
    service = params.text(request.match_info.get("service", ""), "service")
    end = params.instant(query["to"], "to") if "to" in query else now_us()
    start = params.instant(query["from"], "from") if "from" in query else max(0, end - HOUR)
    if start >= end:
        raise bad_request("parameter 'from' must be before 'to'")
    asked = None
    if (raw := query.get("step")) is not None:
        asked = params.integer(raw, "step", minimum=1, maximum=2**62)
    labels = params.optional_names(query, "label")
    subject = {"host": host, "service": service}
    sites = await ctx.fetch(queries.subject_site(ctx.schema), subject)
    if sites:
        check_site(request, sites[0][0], f"host {host!r}")
    tables = [PERFDATA_POINTS.name, *(t.table.name for t in TIERS)]
    horizons = dict(await ctx.fetch(queries.perfdata_horizons(ctx.schema), {"tables": tables}))
    how = plan(start, end, asked, horizons)
    metrics = await ctx.fetch(queries.perfdata_metrics(ctx.schema), {**subject, "labels": labels})
    body: dict[str, Any] = {"host": host, "service": service or None, "from": start, "to": end}
    if not metrics:
        # No such metric: the answer has the shape of the one it would have had.
        resolution = "raw" if how.raw else "rollup"
        tier, step = (None, None) if how.raw else (how.tier.name, how.step)
        body.update(resolution=resolution, tier=tier, step=step, series=[])
        return json(body)
    series = _series(metrics)
    bounds = {**subject, "start": start, "end": end, "labels": [m[1] for m in metrics]}
    for label, since, *values in await ctx.fetch(queries.perfdata_thresholds(ctx.schema), bounds):
        series[label]["thresholds"].append(
            dict(zip(("since", *_LIMITS), (since, *values), strict=True))
        )
    ids = {m[0]: series[m[1]] for m in metrics}
    if how.raw and await _raw(ctx, ids, start, end):
        body.update(resolution="raw", tier=None, step=None)
    else:
        await _rollup(ctx, ids, how, end)
        body.update(resolution="rollup", tier=how.tier.name, step=how.step)
    body["series"] = [s for s in series.values() if s["points"]]
    return json(body)


_LIMITS = ("unit", "warn", "crit", "min", "max")


def _series(metrics: Iterable[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    """An empty series per metric, with what its metric row and problem count say."""
    out = {}
    for _id, label, unit, warn, crit, low, high, count, last_time, last_problem in metrics:
        problems = None
        if count is not None:
            problems = {"points": count, "last_time": last_time, "last_problem": last_problem}
        out[label] = {
            "label": label,
            **dict(zip(_LIMITS, (unit, warn, crit, low, high), strict=True)),
            "thresholds": [],
            "problems": problems,
            "columns": RAW_COLUMNS,
            "points": [],
        }
    return out


async def _raw(ctx: Context, ids: dict[int, dict[str, Any]], start: int, end: int) -> bool:
    """Fill the series with their raw points; False (and nothing filled) if too many."""
    rows = await ctx.fetch(
        queries.perfdata_raw(ctx.schema),
        {"ids": list(ids), "start": start, "end": end, "limit": MAX_POINTS + 1},
    )
    if len(rows) > MAX_POINTS:
        return False
    for metric_id, t, value in rows:
        ids[metric_id]["points"].append([t, value])
    return True


async def _rollup(ctx: Context, ids: dict[int, dict[str, Any]], how: Plan, end: int) -> None:
    """Fill the series with the windows of ``how``'s tier."""
    rows = await ctx.fetch(
        queries.perfdata_tier(ctx.schema, how.tier.table.name),
        {"ids": list(ids), "origin": how.origin, "end": end, "step": how.step},
    )
    for entry in ids.values():
        entry["columns"] = ROLLUP_COLUMNS
    for metric_id, t, samples, total, low, high, last in rows:
        ids[metric_id]["points"].append([t, mean(total, samples), low, high, samples, last])
