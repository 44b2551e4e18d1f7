"""The console's landing page: the problems of the signed-in token's sites, unhandled first.

The page reads the API's own query (``engine.api.problems``) with the session's token,
so it lists exactly what ``GET /api/v1/problems`` answers that token. The whole filter
lives in the URL (``?state=CRITICAL,WARNING&handled=false&q=web``): a reload or Back
shows the same list. A form's checkboxes send a parameter once per box; they are joined
with commas here, the API's list form. The list part is also served alone, to htmx
(``HX-Target: problems``), which swaps it in place by morphing, so a refresh keeps the
selection, the focus and the scroll position.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping
from psycopg import sql

from engine.api import params
from engine.api.context import allowed_sites, context
from engine.api.errors import bad_request
from engine.api.problems import SEVERITY, problems_page
from engine.web.pages import CONSOLE, SESSION, duration, is_fragment, signed_in

__all__ = ["FILTERS", "ROUTES", "filter_of", "link", "since"]

#: The URL parameters of the list, in the order they are shown.
FILTERS = ("state", "state_type", "handled", "kind", "site", "host_group", "q", "cursor", "limit")
_LIST_PARAMETERS = ("state", "state_type")


def filter_of(query: MultiMapping[str]) -> dict[str, str]:
    """The list's filter from a URL query: each parameter once, lists comma-joined; empty
    values (a form's "any") dropped; a parameter the list does not know is refused."""
    result: dict[str, str] = {}
    for key in query:
        if key not in FILTERS:
            raise bad_request(
                f"parameter {params.quoted(key)}: not a filter of this list"
                f" (filters: {', '.join(FILTERS)})"
            )
    for key in FILTERS:
        values = [v.strip() for v in query.getall(key, []) if v.strip()]
        if not values:
            continue
        if len(values) > 1 and key not in _LIST_PARAMETERS:
            raise bad_request(f"parameter {key!r}: given {len(values)} times; give it once")
        result[key] = ",".join(values)
    return result


async def _choices(request: web.Request) -> tuple[list[str], list[str]]:
    """The sites and host groups the filter offers, within the token's sites."""
    ctx = context(request)
    followed = sorted(ctx.node.config.followed)
    sites = allowed_sites(request, None)
    offered = followed if sites is None else [s for s in followed if s in sites]
    rows = await ctx.fetch(
        sql.SQL(
            "SELECT DISTINCT g FROM {}.config_hosts, unnest(groups) g"
            " WHERE NOT removed AND target_site = ANY(%(sites)s) ORDER BY g LIMIT 500"
        ).format(sql.Identifier(ctx.schema)),
        {"sites": offered},
    )
    return offered, [r[0] for r in rows]


def since(now_us: int, then_us: int | None) -> str:
    """How long ago ``then_us`` was, as an operator reads it (``3 h 5 min``)."""
    return "" if then_us is None else duration(now_us - then_us)


def link(filter_: Mapping[str, str], **changes: str | None) -> str:
    """The list's URL for ``filter_`` with ``changes`` (None removes a parameter)."""
    text = urlencode({k: v for k, v in {**filter_, **changes}.items() if v is not None})
    return "/" + (f"?{text}" if text else "")


async def problems(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = request[SESSION]
    filter_ = filter_of(request.query)
    page = await problems_page(request, filter_)
    now = int(time.time() * 1_000_000)
    for item in page["items"]:
        item["since"] = since(now, item["last_state_change"])
    values: dict[str, Any] = {
        "filter": filter_,
        "page": page,
        "states": list(SEVERITY),
        "can_operate": "operate" in session.token.scopes,
        "link": link,
        "next_link": None
        if page["next_cursor"] is None
        else link(filter_, cursor=page["next_cursor"]),
        "first_link": link(filter_, cursor=None) if "cursor" in filter_ else None,
    }
    if is_fragment(request) and request.headers.get("HX-Target") == "problems":
        html = console.render("problems_list.html", session=session, **values)
        response = web.Response(text=html, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response
    sites, groups = await _choices(request)
    return console.page(
        "problems.html", session=session, active="problems", sites=sites, groups=groups, **values
    )


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
    ("GET", "/", signed_in(problems)),
]
