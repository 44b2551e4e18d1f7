"""Perfdata series of one host or service: raw points, or rollups for long ranges.

Raw points are answered for ranges up to ``RAW_SPAN`` when no coarser ``step`` is
asked; beyond, or when raw points would exceed ``MAX_POINTS``, the 5-minute rollups
are merged into windows of ``step`` (a multiple of 5 minutes, at least what keeps
the answer under ``MAX_POINTS`` windows per label). The answer says which it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from engine.api import params, queries
from engine.api.context import check_site, context, json
from engine.api.errors import bad_request
from projections.rollups import BUCKET
from schemas.types import now_us

HOUR = 3_600_000_000
RAW_SPAN = 6 * HOUR
MAX_POINTS = 10_000
MAX_WINDOWS = 1_000


def _step(span: int, asked: int | None) -> int:
    least = -(-span // MAX_WINDOWS)
    step = max(asked or 0, least, BUCKET)
    return -(-step // BUCKET) * BUCKET


async def perfdata(request: web.Request) -> web.Response:
    ctx, query = context(request), request.query
    host = params.text(request.match_info["host"], "host")
    service = params.text(request.match_info.get("service", ""), "service")
    end = params.instant(query["to"], "to") if "to" in query else now_us()
    start = params.instant(query["from"], "from") if "from" in query else max(0, end - HOUR)
    if start >= end:
        raise bad_request("parameter 'from' must be before 'to'")
    step = None
    if (raw := query.get("step")) is not None:
        step = params.integer(raw, "step", minimum=1, maximum=2**62)
    labels = params.optional_names(query, "label")
    sites = await ctx.fetch(queries.subject_site(ctx.schema), {"host": host, "service": service})
    if sites:
        check_site(request, sites[0][0], f"host {host!r}")
    bounds: dict[str, Any] = {
        "host": host,
        "service": service,
        "start": start,
        "end": end,
        "labels": labels,
    }
    body: dict[str, Any] = {"host": host, "service": service or None, "from": start, "to": end}
    if (step is None or step < BUCKET) and end - start <= RAW_SPAN:
        rows = await ctx.fetch(
            queries.perfdata_raw(ctx.schema), {**bounds, "limit": MAX_POINTS + 1}
        )
        if len(rows) <= MAX_POINTS:
            body.update(resolution="raw", step=None, series=_raw_series(rows))
            return json(body)
    window = _step(end - start, step)
    rows = await ctx.fetch(queries.perfdata_rollup(ctx.schema), {**bounds, "step": window})
    body.update(resolution="rollup", step=window, series=_rollup_series(rows))
    return json(body)


def _raw_series(rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    series: dict[str, dict[str, Any]] = {}
    for label, unit, t, value, warn, crit, low, high in rows:
        entry = series.setdefault(
            label, {"label": label, "unit": unit, "columns": ["t", "value"], "points": []}
        )
        entry.update(unit=unit, warn=warn, crit=crit, min=low, max=high)
        entry["points"].append([t, value])
    return list(series.values())


def _rollup_series(rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    series: dict[str, dict[str, Any]] = {}
    for label, t, samples, mean, low, high, unit in rows:
        entry = series.setdefault(
            label,
            {
                "label": label,
                "unit": unit,
                "columns": ["t", "avg", "min", "max", "samples"],
                "points": [],
            },
        )
        entry["points"].append([t, mean, low, high, samples])
    return list(series.values())
