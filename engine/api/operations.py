"""Lists of operator state: acknowledgements, downtimes and comments.

By default each list shows what is in effect as of ``at`` (now): acknowledgements
that acknowledge (``projections.asof`` rules), downtimes not cancelled and not over,
comments not deleted. ``all=true`` shows removed, cancelled and deleted ones too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from engine.api import params, queries, views
from engine.api.context import allowed_sites, context, json
from projections.rows import AcknowledgementRow, CommentRow, DowntimeRow
from projections.table import Table
from projections.tables import ACKNOWLEDGEMENTS, COMMENTS, DOWNTIMES

_NAME_KEY = ("host_name", "service_description")


async def _list(
    request: web.Request,
    table: Table[Any],
    key: tuple[str, ...],
    kinds: tuple[type, ...],
    in_effect: str,
    always: str,
    view: Callable[[tuple[Any, ...]], dict[str, Any]],
) -> web.Response:
    ctx, query = context(request), request.query
    limit = params.limit(query)
    at = params.at(query)
    select = queries.Select(ctx.schema, table)
    select.params["at"] = at
    select.filter(always)
    show_all = params.boolean(query["all"], "all") if "all" in query else False
    if not show_all:
        select.filter(in_effect)
    sites = allowed_sites(request, params.optional_names(query, "site"))
    if sites is not None:
        select.filter("r.target_site = ANY(%(sites)s)", sites=sites)
    if (host := params.optional_text(query, "host")) is not None:
        select.filter("r.host_name = %(host)s", host=host)
    if (service := params.optional_text(query, "service")) is not None:
        select.filter("r.service_description = %(service)s", service=service)
    after = None
    if (raw := query.get("cursor")) is not None:
        after = params.decode_cursor(raw, table.name, kinds)
    rows = await ctx.fetch(select.page(key, False, after, limit), select.params)
    rows, next_cursor = select.split_page(rows, limit, table.name, key)
    return json({"items": [view(r) for r in rows], "next_cursor": next_cursor, "at": at})


async def list_acknowledgements(request: web.Request) -> web.Response:
    return await _list(
        request,
        ACKNOWLEDGEMENTS,
        _NAME_KEY,
        (str, str),
        "{s}.acknowledged(r.host_name, r.service_description, %(at)s)",
        "r.set_version IS NOT NULL",
        lambda r: views.acknowledgement(AcknowledgementRow(*r)),
    )


async def list_downtimes(request: web.Request) -> web.Response:
    return await _list(
        request,
        DOWNTIMES,
        (*_NAME_KEY, "downtime_id"),
        (str, str, str),
        "r.cancelled_version IS NULL AND r.end_time > %(at)s",
        "r.version IS NOT NULL",
        lambda r: views.downtime(DowntimeRow(*r)),
    )


async def list_comments(request: web.Request) -> web.Response:
    return await _list(
        request,
        COMMENTS,
        (*_NAME_KEY, "comment_id"),
        (str, str, str),
        "r.deleted_version IS NULL",
        "r.version IS NOT NULL",
        lambda r: views.comment(CommentRow(*r)),
    )
