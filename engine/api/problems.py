"""``GET /api/v1/problems``: what is broken now, unhandled first, with counts per state.

A problem is a host that is not UP or a service that is not OK. The list is ordered
as operators triage: unhandled (neither acknowledged nor in downtime, as of ``at``)
before handled, then worst state first (down or critical, then warning, then
unreachable or unknown: Centreon's severity order), then the longest-standing
(oldest ``last_state_change``) first, then by name. Pages are keyset pages over that
whole order, so a walk never repeats or skips a row whose order does not change.

The console's landing page reads this same query (``engine.web.problems``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from engine.api import params, queries, views
from engine.api.context import allowed_sites, context, json
from engine.api.errors import bad_request
from projections.rows import StateRow
from schemas.types import HostState, ServiceState

#: Problem states by name, each with whether it is a host state and its code.
PROBLEM_STATES: dict[str, tuple[bool, int]] = {
    **{s.name: (True, s.value) for s in HostState if s is not HostState.UP},
    **{s.name: (False, s.value) for s in ServiceState if s is not ServiceState.OK},
}
#: Severity rank (0 is worst) of each state, hosts and services alike (Centreon's order).
SEVERITY: dict[str, int] = {
    "DOWN": 0,
    "CRITICAL": 0,
    "WARNING": 1,
    "UNREACHABLE": 2,
    "UNKNOWN": 2,
}
#: The severity rank of a state row ``r`` in SQL: ``SEVERITY`` by code.
RANK = (
    "CASE WHEN r.service_description = '' THEN"
    " (CASE r.state WHEN 1 THEN 0 ELSE 2 END)"
    " ELSE (CASE r.state WHEN 2 THEN 0 WHEN 1 THEN 1 ELSE 2 END) END"
)
_KINDS = (int, int, int, str, str)
_CURSOR = "problems"


def _state_filter(select: queries.Select, raw: str) -> None:
    picked = [part.strip().upper() for part in raw.split(",") if part.strip()]
    for name in picked:
        if name not in PROBLEM_STATES:
            raise bad_request(
                f"parameter 'state': {params.quoted(name)} is not one of {', '.join(SEVERITY)}"
            )
    if not picked:
        raise bad_request("parameter 'state': empty list")
    hosts = sorted({PROBLEM_STATES[n][1] for n in picked if PROBLEM_STATES[n][0]})
    services = sorted({PROBLEM_STATES[n][1] for n in picked if not PROBLEM_STATES[n][0]})
    select.filter(
        "((r.service_description = '' AND r.state = ANY(%(host_states)s))"
        " OR (r.service_description <> '' AND r.state = ANY(%(service_states)s)))",
        host_states=hosts,
        service_states=services,
    )


def filtered(request: web.Request, query: Mapping[str, str], at: int) -> queries.Select:
    """The states matching the filters of ``query`` except ``state`` and ``handled``,
    within the request's token's sites; 400 naming a bad parameter."""
    select = queries.states(context(request).schema, at, flags=False)
    sites = allowed_sites(request, params.optional_names(query, "site"))
    if sites is not None:
        select.filter("r.target_site = ANY(%(sites)s)", sites=sites)
    if (raw := query.get("state_type")) is not None:
        types = params.choices(raw, "state_type", views.STATE_TYPE_CODES)
        select.filter("r.state_type = ANY(%(state_types)s)", state_types=types)
    if (raw := query.get("kind")) is not None:
        if raw not in ("host", "service"):
            raise bad_request(f"parameter 'kind': {params.quoted(raw)} is not host or service")
        select.filter(f"r.service_description {'=' if raw == 'host' else '<>'} ''")
    queries.filter_groups(select, params.optional_text(query, "host_group"), None)
    if (text := params.optional_text(query, "q")) is not None:
        select.filter(
            "(r.host_name ILIKE %(q)s OR r.service_description ILIKE %(q)s"
            " OR r.output ILIKE %(q)s)",
            q=queries.like_pattern(text),
        )
    return select


async def problems_page(request: web.Request, query: Mapping[str, str]) -> dict[str, Any]:
    """One page of problems and the counts per state, as the API answers them."""
    ctx = context(request)
    limit = params.limit(query)
    at = params.at(query)
    handled = None
    if (raw := query.get("handled")) is not None:
        handled = params.boolean(raw, "handled")
    after = None
    if (raw := query.get("cursor")) is not None:
        after = params.decode_cursor(raw, _CURSOR, _KINDS)
    counting = filtered(request, query, at)
    select = filtered(request, query, at)
    select.filter("r.state > 0")
    if (raw := query.get("state")) is not None:
        _state_filter(select, raw)
    sql = queries.problems(select, RANK, handled, after is not None)
    # The page and the counts are independent scans of the whole list: run side by side,
    # on two of the pool's connections, PostgreSQL runs them on two cores.
    rows, counts = await asyncio.gather(
        ctx.fetch(sql, _paged(select, after, limit)),
        ctx.fetch(queries.state_counts(counting), counting.params),
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = params.encode_cursor(_CURSOR, _key(last))
    return {
        "items": [_item(r) for r in rows],
        "next_cursor": next_cursor,
        "at": at,
        "counts": _counts(counts),
    }


def _paged(select: queries.Select, after: tuple[Any, ...] | None, limit: int) -> dict[str, Any]:
    values = dict(select.params, limit=limit + 1)
    if after is not None:
        values.update({f"after{i}": v for i, v in enumerate(after)})
    return values


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    state = StateRow(*row[:-4])
    acknowledged, in_downtime, rank = row[-4], row[-3], row[-2]
    handled = int(bool(acknowledged or in_downtime))
    return (handled, rank, state.last_state_change, state.host_name, state.service_description)


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    view = views.state(StateRow(*row[:-4]), row[-4], row[-3])
    view["handled"] = bool(row[-4] or row[-3])
    return view


def _counts(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Per kind and state: how many subjects, and how many of them are unhandled problems."""
    counts = [
        {
            "kind": "host" if is_host else "service",
            "state": state,
            "state_name": views.state_name("" if is_host else "service", state),
            "total": total,
            "unhandled": unhandled,
        }
        for is_host, state, total, unhandled in rows
    ]
    return sorted(counts, key=lambda c: (c["kind"], c["state"]))


async def list_problems(request: web.Request) -> web.Response:
    return json(await problems_page(request, request.query))
