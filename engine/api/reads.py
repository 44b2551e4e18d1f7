"""Read endpoints over the projection: hosts and services, their details and history.

Everything is answered from this node's PostgreSQL projection; time-dependent flags
(acknowledged, in downtime) are evaluated as of ``at`` (default: now), by the same
SQL functions the projection defines, so two nodes holding the same rows answer the
same for the same ``at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from engine.api import params, queries, views
from engine.api.context import allowed_sites, check_site, context, json
from engine.api.errors import bad_request, not_found
from projections.rows import (
    AcknowledgementRow,
    CommentRow,
    DowntimeRow,
    HistoryRow,
    HostConfigRow,
    ServiceConfigRow,
    StateRow,
)
from projections.table import Table
from projections.tables import (
    ACKNOWLEDGEMENTS,
    COMMENTS,
    CONFIG_HOSTS,
    CONFIG_SERVICES,
    DOWNTIMES,
    STATE_HISTORY,
)

_NAME_KEY = ("host_name", "service_description")
#: Sort orders of the host and service lists; each ends with the primary key.
STATE_SORTS: dict[str, tuple[tuple[str, ...], tuple[type, ...]]] = {
    "name": (_NAME_KEY, (str, str)),
    "state": (("state", *_NAME_KEY), (int, str, str)),
    "last_check": (("last_check", *_NAME_KEY), (int, str, str)),
    "last_state_change": (("last_state_change", *_NAME_KEY), (int, str, str)),
}


def _sort(query: Mapping[str, str]) -> tuple[str, bool]:
    raw = query.get("sort", "name")
    descending = raw.startswith("-")
    name = raw.lstrip("-")
    if name not in STATE_SORTS:
        raise bad_request(
            f"parameter 'sort': {params.quoted(raw)} is not one of {', '.join(STATE_SORTS)}"
            " (- for descending)"
        )
    return name, descending


async def _list_states(request: web.Request, services: bool) -> web.Response:
    ctx, query = context(request), request.query
    limit = params.limit(query)
    at = params.at(query)
    sort, descending = _sort(query)
    key, kinds = STATE_SORTS[sort]
    after = query.get("cursor")
    select = queries.states(ctx.schema, at)
    select.filter("r.service_description <> ''" if services else "r.service_description = ''")
    sites = allowed_sites(request, params.optional_names(query, "site"))
    if sites is not None:
        select.filter("r.target_site = ANY(%(sites)s)", sites=sites)
    if (raw := query.get("state")) is not None:
        allowed = views.SERVICE_STATE_CODES if services else views.HOST_STATE_CODES
        select.filter("r.state = ANY(%(states)s)", states=params.choices(raw, "state", allowed))
    if (raw := query.get("state_type")) is not None:
        types = params.choices(raw, "state_type", views.STATE_TYPE_CODES)
        select.filter("r.state_type = ANY(%(state_types)s)", state_types=types)
    if (raw := query.get("acknowledged")) is not None:
        queries.filter_acknowledged(select, params.boolean(raw, "acknowledged"))
    if (raw := query.get("in_downtime")) is not None:
        queries.filter_in_downtime(select, params.boolean(raw, "in_downtime"))
    queries.filter_groups(
        select,
        params.optional_text(query, "host_group"),
        params.optional_text(query, "service_group") if services else None,
    )
    if (host := params.optional_text(query, "host")) is not None and services:
        select.filter("r.host_name = %(host)s", host=host)
    if (text := params.optional_text(query, "q")) is not None:
        select.filter(
            "(r.host_name ILIKE %(q)s OR r.service_description ILIKE %(q)s"
            " OR r.output ILIKE %(q)s)",
            q=queries.like_pattern(text),
        )
    cursor_key = None if after is None else params.decode_cursor(after, sort, kinds)
    rows = await ctx.fetch(select.page(key, descending, cursor_key, limit), select.params)
    rows, next_cursor = select.split_page(rows, limit, sort, key)
    return json(
        {
            "items": [views.state(StateRow(*r[:-2]), r[-2], r[-1]) for r in rows],
            "next_cursor": next_cursor,
            "at": at,
        }
    )


async def list_hosts(request: web.Request) -> web.Response:
    return await _list_states(request, services=False)


async def list_services(request: web.Request) -> web.Response:
    return await _list_states(request, services=True)


def _subject(request: web.Request) -> tuple[str, str]:
    host = params.text(request.match_info["host"], "host")
    service = params.text(request.match_info.get("service", ""), "service")
    return host, service


async def subject_detail(request: web.Request) -> web.Response:
    """One host or service: current state, configuration, acknowledgement, downtimes and
    comments in effect or to come."""
    host, service = _subject(request)
    return json(await detail_body(request, host, service, params.at(request.query)))


async def detail_body(request: web.Request, host: str, service: str, at: int) -> dict[str, Any]:
    """The body of :func:`subject_detail` (the console's subject page reads it too)."""
    ctx = context(request)
    select = queries.states(ctx.schema, at)
    select.filter("r.host_name = %(host)s AND r.service_description = %(service)s")
    select.params.update(host=host, service=service)
    state_rows = await ctx.fetch(select.query(), select.params)
    config = await _config(request, host, service)
    if not state_rows and config is None:
        what = f"service {service!r} of host {host!r}" if service else f"host {host!r}"
        raise not_found(f"unknown {what} on this node")
    site = state_rows[0][2] if state_rows else config["site"]  # type: ignore[index]
    check_site(request, site, f"host {host!r}")
    state = None
    if state_rows:
        r = state_rows[0]
        state = views.state(StateRow(*r[:-2]), r[-2], r[-1])
    subject = {"host": host, "service": service or None, "site": site}
    ack_rows = await _rows(request, ACKNOWLEDGEMENTS, host, service, "true")
    downtimes = await _rows(
        request,
        DOWNTIMES,
        host,
        service,
        "r.version IS NOT NULL AND r.cancelled_version IS NULL AND r.end_time > %(at)s",
        at=at,
    )
    comments = await _rows(
        request, COMMENTS, host, service, "r.version IS NOT NULL AND r.deleted_version IS NULL"
    )
    acknowledgement = None
    if ack_rows:
        acknowledgement = views.acknowledgement(
            AcknowledgementRow(*ack_rows[0]), active=bool(state and state["acknowledged"])
        )
    return {
        "subject": subject,
        "state": state,
        "config": config,
        "acknowledgement": acknowledgement,
        "downtimes": [views.downtime(DowntimeRow(*r)) for r in downtimes],
        "comments": [views.comment(CommentRow(*r)) for r in comments],
        "at": at,
    }


async def _rows(
    request: web.Request, table: Table[Any], host: str, service: str, condition: str, **extra: Any
) -> list[tuple[Any, ...]]:
    ctx = context(request)
    select = queries.Select(ctx.schema, table)
    select.filter("r.host_name = %(host)s AND r.service_description = %(service)s")
    select.filter(condition, host=host, service=service, **extra)
    return await ctx.fetch(select.query(), select.params)


async def _config(request: web.Request, host: str, service: str) -> dict[str, Any] | None:
    ctx = context(request)
    table: Table[Any] = CONFIG_SERVICES if service else CONFIG_HOSTS
    select = queries.Select(ctx.schema, table)
    select.filter("r.host_name = %(host)s AND NOT r.removed", host=host)
    if service:
        select.filter("r.service_description = %(service)s", service=service)
    rows = await ctx.fetch(select.query(), select.params)
    if not rows:
        return None
    if service:
        s = ServiceConfigRow(*rows[0])
        return {
            "site": s.target_site,
            "groups": list(s.groups),
            "max_check_attempts": s.max_check_attempts,
            "check_interval": s.check_interval,
        }
    h = HostConfigRow(*rows[0])
    return {
        "site": h.target_site,
        "alias": h.alias,
        "address": h.address,
        "poller": h.poller_name,
        "groups": list(h.groups),
        "max_check_attempts": h.max_check_attempts,
        "check_interval": h.check_interval,
    }


async def history(request: web.Request) -> web.Response:
    """State changes of one subject, newest first, between ``from`` and ``to``."""
    host, service = _subject(request)
    return json(await history_body(request, host, service, request.query))


async def history_body(
    request: web.Request, host: str, service: str, query: Mapping[str, str]
) -> dict[str, Any]:
    """The body of :func:`history` for ``query`` (``from``, ``to``, ``limit``, ``cursor``)."""
    ctx = context(request)
    limit = params.limit(query)
    select = queries.Select(ctx.schema, STATE_HISTORY)
    select.filter(
        "r.host_name = %(host)s AND r.service_description = %(service)s",
        host=host,
        service=service,
    )
    if (raw := query.get("from")) is not None:
        select.filter("r.check_time >= %(start)s", start=params.instant(raw, "from"))
    if (raw := query.get("to")) is not None:
        select.filter("r.check_time < %(end)s", end=params.instant(raw, "to"))
    sites = allowed_sites(request, None)
    if sites is not None:
        select.filter("r.target_site = ANY(%(sites)s)", sites=sites)
    after = None
    if (raw := query.get("cursor")) is not None:
        after = params.decode_event_cursor(raw, "history")
    key = ("check_time", "event_id")
    rows = await ctx.fetch(select.page(key, True, after, limit), select.params)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = HistoryRow(*rows[-1])
        next_cursor = params.encode_event_cursor("history", last.check_time, last.event_id)
    return {
        "host": host,
        "service": service or None,
        "items": [views.history(HistoryRow(*r)) for r in rows],
        "next_cursor": next_cursor,
    }
