"""The operator audit trail of one host or service: who did what to it, newest first.

Every operator action and configuration change is a row of ``audit_log`` (written by
``projections.operations.audit``), labelled with its event's subject: ``host`` for a
host, ``host/service`` for a service (``schemas.payload.HostScoped``). The trail is
keyset-paged on (event time, event id), newest first, and shows only the rows of the
token's sites, as the history does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from engine.api import params, queries
from engine.api.context import allowed_sites, context, json
from projections.rows import AuditRow
from projections.tables import AUDIT_LOG

_KEY = ("event_time", "event_id")
_CURSOR = "audit"


def subject_label(host: str, service: str) -> str:
    """The subject an event about ``host`` (or its ``service``, when not '') carries."""
    return f"{host}/{service}" if service else host


def view(row: AuditRow) -> dict[str, Any]:
    """One entry of the trail; ``details`` is the event's payload as JSON."""
    try:
        details = orjson.loads(row.details)
    except orjson.JSONDecodeError:
        details = {"text": row.details}  # never written so; shown as it is rather than lost
    return {
        "event_id": row.event_id.hex(),
        "event_time": row.event_time,
        "action": row.action,
        "author": row.author,
        "site": row.site,
        "origin": row.origin,
        "target_site": row.target_site,
        "details": details if isinstance(details, dict) else {"value": details},
    }


async def audit_body(
    request: web.Request, host: str, service: str, query: Mapping[str, str]
) -> dict[str, Any]:
    """The trail of one subject, a page of ``limit`` entries after ``cursor``."""
    ctx = context(request)
    limit = params.limit(query)
    select = queries.Select(ctx.schema, AUDIT_LOG)
    select.filter("r.subject = %(subject)s", subject=subject_label(host, service))
    sites = allowed_sites(request, None)
    if sites is not None:
        select.filter("r.target_site = ANY(%(sites)s)", sites=sites)
    after = None
    if (raw := query.get("cursor")) is not None:
        after = params.decode_event_cursor(raw, _CURSOR)
    rows = await ctx.fetch(select.page(_KEY, True, after, limit), select.params)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = AuditRow(*rows[-1])
        next_cursor = params.encode_event_cursor(_CURSOR, last.event_time, last.event_id)
    return {
        "host": host,
        "service": service or None,
        "items": [view(AuditRow(*r)) for r in rows],
        "next_cursor": next_cursor,
    }


async def audit(request: web.Request) -> web.Response:
    """``GET /api/v1/hosts/{host}[/services/{service}]/audit``."""
    host = params.text(request.match_info["host"], "host")
    service = params.text(request.match_info.get("service", ""), "service")
    return json(await audit_body(request, host, service, request.query))
