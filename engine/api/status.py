"""Replication status, state digests and liveness: how far this node is, and whether it
holds the same as another.

The stored offset and last event time come from PostgreSQL (what is durably
projected); log ends, connectivity and errors from the projector's live status.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from psycopg import sql

from engine.api import params
from engine.api.context import allowed_sites, context, json
from engine.node.site_status import DatabaseState, SiteState, SiteStatus
from engine.times import format_time
from projections.postgres import PostgresSink


async def replication(request: web.Request) -> web.Response:
    return json(await replication_body(request))


async def replication_body(request: web.Request) -> dict[str, Any]:
    """What ``GET /api/v1/replication`` answers: every followed site, per partition."""
    ctx = context(request)
    node = ctx.node
    stored = await ctx.fetch(
        sql.SQL("SELECT site, partition, next_offset, last_event_time FROM {}.offsets").format(
            sql.Identifier(ctx.schema)
        ),
        {},
    )
    letters = dict(
        await ctx.fetch(
            sql.SQL("SELECT site, count(*) FROM {}.dead_letters GROUP BY site").format(
                sql.Identifier(ctx.schema)
            ),
            {},
        )
    )
    by_site: dict[str, dict[int, tuple[int, int | None]]] = {}
    for site, partition, next_offset, last_event_time in stored:
        by_site.setdefault(site, {})[partition] = (next_offset, last_event_time)
    sites = [
        _site(name, status, by_site.get(name, {}), letters.get(name, 0))
        for name, status in sorted(node.status.items())
    ]
    config = node.config
    return {"node": config.name, "role": config.role, "site": config.site, "sites": sites}


async def dead_letters_body(
    request: web.Request, sites: list[str] | None, limit: int
) -> dict[str, Any]:
    """The dead letters of ``sites`` (all when None), by site, partition and offset: up to
    ``limit`` of them, and how many there are. The raw record is left out: it is bytes
    that did not decode, for ``sitelog dead-letters``, not for a page."""
    ctx = context(request)
    where = sql.SQL("") if sites is None else sql.SQL(" WHERE site = ANY(%(sites)s)")
    table = sql.SQL("{}.{}").format(sql.Identifier(ctx.schema), sql.Identifier("dead_letters"))
    values: dict[str, Any] = {"sites": sites, "limit": limit}
    rows = await ctx.fetch(
        sql.SQL(
            "SELECT site, partition, record_offset, reason, message FROM {}{}"
            " ORDER BY site, partition, record_offset LIMIT %(limit)s"
        ).format(table, where),
        values,
    )
    ((total,),) = await ctx.fetch(sql.SQL("SELECT count(*) FROM {}{}").format(table, where), values)
    items = [
        {"site": s, "partition": p, "offset": o, "reason": r, "message": m}
        for s, p, o, r, m in rows
    ]
    return {"total": total, "items": items}


def _site(
    name: str, status: SiteStatus, offsets: dict[int, tuple[int, int | None]], letters: int
) -> dict[str, Any]:
    """One site's replication: a lag not known yet (log end not read) is null, not 0."""
    partitions = []
    for partition in sorted(set(offsets) | set(status.log_end) | set(status.partitions)):
        next_offset, last_event_time = offsets.get(partition, (0, None))
        end = status.log_end.get(partition)
        partitions.append(
            {
                "partition": partition,
                "stored_offset": next_offset,
                "log_end": end,
                "lag": None if end is None else max(0, end - next_offset),
                "last_event_time": last_event_time,
            }
        )
    lags = [p["lag"] for p in partitions]
    times = [p["last_event_time"] for p in partitions if p["last_event_time"] is not None]
    return {
        "site": name,
        "state": status.state,
        "connected": status.state is SiteState.RUNNING,
        "error": status.error,
        "lag": None if not status.partitions or None in lags else sum(lags),
        "events_applied": status.events,
        "dead_letters": letters,
        "last_event_time": max(times) if times else None,
        "partitions": partitions,
    }


async def digest(request: web.Request) -> web.Response:
    """The state digest of the rows owned by ``sites`` (all the node holds when absent):
    the never-expired tables, and the time-kept ones from ``since`` on when it is given
    (``projections.digest``)."""
    ctx = context(request)
    sites = allowed_sites(request, params.optional_names(request.query, "sites"))
    since = None
    if (raw := request.query.get("since")) is not None:
        since = params.instant(raw, "since")

    def compute() -> str:
        sink = PostgresSink.connect(ctx.node.config.dsn, ctx.schema)
        try:
            return sink.digest(sites, since)
        finally:
            sink.close()

    value = await asyncio.to_thread(compute)
    return json({"sites": sites, "since": since, "digest": value})


async def healthz(request: web.Request) -> web.Response:
    """200 while the projection is applying (a lagging or disconnected site is reported,
    not fatal: it is what partitions look like); 503 naming each cause when a site failed
    for good, when PostgreSQL is unavailable (the node waits for it) or when the projector
    stopped on an error."""
    projector = context(request).node.projector
    statuses = projector.status
    causes = [
        f"site {s.site} failed: {s.error}"
        for s in sorted(statuses.values(), key=lambda s: s.site)
        if s.state is SiteState.FAILED
    ]
    database = projector.database
    if database.state is not DatabaseState.AVAILABLE:
        since = "" if database.since is None else f" since {format_time(int(database.since * 1e6))}"
        causes.append(f"database {database.state}{since}: {database.error}")
    if projector.failure is not None and database.state is not DatabaseState.FAILED:
        causes.append(f"projector stopped: {projector.failure}")
    body: dict[str, Any] = {
        "status": "failing" if causes else "ok",
        "causes": causes,
        "database": database.state,
        "sites": {s.site: s.state for s in statuses.values()},
    }
    return json(body, status=503 if causes else 200)
