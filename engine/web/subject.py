"""The console's subject detail page: one host or one service, as an operator needs it.

``GET /hosts/{host}`` and ``GET /hosts/{host}/services/{service}`` show the current
state (output, long output), the acknowledgement, the downtimes (with their progress)
and comments with their authors, the state-change timeline and the operator audit
trail, and the perfdata graphs (drawn in the browser by ``static/graphs.js`` from the
API's ``perfdata`` answers). Every part is read through the API's own functions
(``engine.api.reads.detail_body``, ``history_body``, ``engine.api.audit.audit_body``)
with the session's token, so the page shows exactly what the API answers that token:
an unknown subject is a 404 page, another site's subject a 403 page, each with its one
line. The live parts (current state, timeline, audit) are also served alone to htmx,
named by ``HX-Target``, so a change refreshes them in place.

The URL holds what the page shows: ``range`` (a graph preset) or ``from``/``to`` (a
custom range), ``cursor`` (a page of the timeline) and ``audit_cursor``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from engine.api import params
from engine.api.audit import audit_body
from engine.api.errors import bad_request
from engine.api.reads import detail_body, history_body
from engine.web.pages import CONSOLE, SESSION, duration, is_fragment, segment, signed_in
from projections.perfdata import Range, parse_perfdata

__all__ = ["PAGE_ROWS", "RANGES", "ROUTES", "downtime_progress", "graph_range"]

HOUR = 3_600_000_000
#: The graph presets, as the URL's ``range`` names them, and their spans.
RANGES = {"4h": 4 * HOUR, "1d": 24 * HOUR, "7d": 7 * 24 * HOUR, "31d": 31 * 24 * HOUR}
_RANGE_NAMES = {"4h": "4 h", "1d": "1 day", "7d": "7 days", "31d": "31 days"}
#: Rows per page of the timeline and of the audit trail.
PAGE_ROWS = 20
_PARAMETERS = ("range", "from", "to", "cursor", "audit_cursor")
#: The parts of the page htmx may ask for alone, and their templates.
_PARTS = {
    "current": "subject_current.html",
    "timeline": "subject_timeline.html",
    "audit": "subject_audit.html",
}


def graph_range(query: Mapping[str, str]) -> dict[str, Any]:
    """The graphs' range from the URL: a preset (default 4 h) or ``from`` and ``to``."""
    if "from" in query or "to" in query:
        if "range" in query:
            raise bad_request("give either 'range' or 'from' and 'to', not both")
        if "from" not in query or "to" not in query:
            raise bad_request("a custom range needs both 'from' and 'to'")
        start = params.instant(query["from"], "from")
        end = params.instant(query["to"], "to")
        if start >= end:
            raise bad_request("parameter 'from' must be before 'to'")
        return {"preset": None, "from": start, "to": end}
    preset = query.get("range", "4h")
    if preset not in RANGES:
        raise bad_request(
            f"parameter 'range': {params.quoted(preset)} is not one of {', '.join(RANGES)}"
        )
    return {"preset": preset, "from": None, "to": None}


def downtime_progress(downtime: Mapping[str, Any], now: int) -> dict[str, Any]:
    """Where a downtime stands at ``now``: ``phase`` (scheduled, running), the percentage
    of its window gone by, and a line of text saying so."""
    start, end = downtime["start_time"] or 0, downtime["end_time"] or 0
    if now < start:
        return {"phase": "scheduled", "percent": 0, "text": f"starts in {duration(start - now)}"}
    percent = min(100, (now - start) * 100 // max(1, end - start))
    left = duration(end - now)
    if downtime["fixed"] is False:
        text = f"flexible window open, {percent}% gone, {left} left"
    else:
        text = f"in progress, {percent}%, {left} left"
    return {"phase": "running", "percent": percent, "text": text}


def _upper(bound: Range | None) -> float | None:
    """The number a threshold line is drawn at: the range's upper bound, when it has one."""
    return None if bound is None else bound.end


def _thresholds(perfdata: str) -> dict[str, dict[str, float | None]]:
    """Warn and crit per label from the current perfdata: the lines of rollup graphs,
    whose windows carry no thresholds."""
    return {
        m.label: {"warn": _upper(m.warn), "crit": _upper(m.crit)}
        for m in parse_perfdata(perfdata).metrics
    }


def _query(request: web.Request) -> dict[str, str]:
    query: dict[str, str] = {}
    for key in request.query:
        if key not in _PARAMETERS:
            raise bad_request(
                f"parameter {params.quoted(key)}: not one of this page's ({', '.join(_PARAMETERS)})"
            )
        values = request.query.getall(key)
        if len(values) > 1:
            raise bad_request(f"parameter {key!r}: given {len(values)} times; give it once")
        query[key] = values[0]
    return query


def _page_of(query: Mapping[str, str], cursor: str) -> dict[str, str]:
    """The query of one page of a list of the page (its cursor is ``cursor`` in the URL)."""
    page = {"limit": str(PAGE_ROWS)}
    if cursor in query:
        page["cursor"] = query[cursor]
    return page


def _path(host: str, service: str) -> str:
    """The subject's path (names URL-encoded, a '/' in a name too)."""
    path = f"/hosts/{segment(host)}"
    return path + (f"/services/{segment(service)}" if service else "")


async def detail(request: web.Request) -> web.Response:
    console, session = request.app[CONSOLE], request[SESSION]
    host = params.text(request.match_info["host"], "host")
    service = params.text(request.match_info.get("service", ""), "service")
    query = _query(request)
    graphs = graph_range(query)
    now = int(time.time() * 1_000_000)
    body = await detail_body(request, host, service, now)
    timeline = await history_body(request, host, service, _page_of(query, "cursor"))
    trail = await audit_body(request, host, service, _page_of(query, "audit_cursor"))
    state = body["state"]
    path = _path(host, service)

    def link(**changes: str | None) -> str:
        """This page's URL with ``changes`` (None removes a parameter)."""
        text = urlencode({k: v for k, v in {**query, **changes}.items() if v is not None})
        return path + (f"?{text}" if text else "")

    values: dict[str, Any] = {
        "host": host,
        "service": service,
        "subject": body["subject"],
        "state": state,
        "config": body["config"],
        "acknowledgement": body["acknowledgement"],
        "downtimes": [{**d, "progress": downtime_progress(d, now)} for d in body["downtimes"]],
        "comments": body["comments"],
        "timeline": timeline,
        "audit": trail,
        "can_operate": "operate" in session.token.scopes,
        "graphs": graphs,
        "ranges": _RANGE_NAMES,
        "thresholds": _thresholds(state["perfdata"] if state else ""),
        "api_path": "/api/v1" + path,
        "host_path": _path(host, ""),
        "link": link,
        "duration": duration,
        "now": now,
    }
    target = request.headers.get("HX-Target", "")
    if is_fragment(request) and target in _PARTS:
        html = console.render(_PARTS[target], session=session, **values)
        response = web.Response(text=html, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response
    return console.page("subject.html", session=session, **values)


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
    ("GET", "/hosts/{host}", signed_in(detail)),
    ("GET", "/hosts/{host}/services/{service}", signed_in(detail)),
]
