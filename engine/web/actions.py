"""The console's actions, single and bulk: one request runs one operator command on many
subjects, through the API's own write path (``engine.api.commands.perform``).

``POST /actions/{command}`` takes JSON: ``{"subjects": [{"host", "service"}, ...],
"values": {...}}`` for a command on subjects (acknowledge, schedule a downtime, add a
comment, remove an acknowledgement, re-check now), or ``{"items": [{...}, ...]}`` for a
command on recorded things (cancel a downtime or delete a comment by id).
``cancel-downtimes`` cancels every downtime of the given subjects that is not over.
Every subject is validated and prepared before any event is appended: one refused
subject refuses the whole request and changes nothing. The answer comes once this
node's projection holds the events (``wait=projected``), so the page that asked shows
the rows handled at its next refresh. Errors are the API's JSON errors; the page shows
their one line in the dialog.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from psycopg import sql

from engine.api import commands, params
from engine.api.app import same_origin
from engine.api.context import context, json, token
from engine.api.errors import ApiError, bad_request, translate
from engine.web.pages import signed_in
from schemas.errors import SitelogError

__all__ = ["MAX_SUBJECTS", "ROUTES"]

#: The most subjects one request acts on (a page of the list holds at most 1000 rows).
MAX_SUBJECTS = 1000
#: Seconds an action waits for this node's projection to hold its events.
WAIT = 10.0
_ON_SUBJECTS = ("acknowledge", "schedule-downtime", "add-comment", "remove-acknowledgement")
_ON_ITEMS = ("cancel-downtime", "delete-comment")
ACTIONS = (*_ON_SUBJECTS, "reschedule-check", "cancel-downtimes", *_ON_ITEMS)


def _subjects(body: dict[str, Any]) -> list[dict[str, Any]]:
    subjects = body.get("subjects")
    if not isinstance(subjects, list) or not subjects:
        raise bad_request("select at least one row")
    if len(subjects) > MAX_SUBJECTS:
        raise bad_request(f"at most {MAX_SUBJECTS} rows at once")
    picked = []
    for index, subject in enumerate(subjects):
        if not isinstance(subject, dict) or not isinstance(subject.get("host"), str):
            raise bad_request(f"subjects[{index}]: expected {{'host': ..., 'service': ...}}")
        service = subject.get("service") or None
        if service is not None and not isinstance(service, str):
            raise bad_request(f"subjects[{index}]: 'service' is a name")
        picked.append({"host": subject["host"], "service": service})
    return picked


async def _downtimes_of(request: web.Request, subjects: list[dict[str, Any]]) -> list[str]:
    """The ids of the downtimes of ``subjects`` that are neither cancelled nor over."""
    ctx = context(request)
    rows = await ctx.fetch(
        sql.SQL(
            "SELECT downtime_id FROM {}.downtimes d"
            " JOIN unnest(%(hosts)s::text[], %(services)s::text[]) s(h, sv)"
            " ON d.host_name = s.h AND d.service_description = s.sv"
            " WHERE d.version IS NOT NULL AND d.cancelled_version IS NULL"
            " AND d.end_time > %(now)s ORDER BY downtime_id"
        ).format(sql.Identifier(ctx.schema)),
        {
            "hosts": [s["host"] for s in subjects],
            "services": [s["service"] or "" for s in subjects],
            "now": int(time.time() * 1_000_000),
        },
    )
    return [r[0] for r in rows]


async def _bodies(request: web.Request, name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The API command bodies a console action stands for."""
    if name in _ON_ITEMS:
        items = body.get("items")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise bad_request("give the items to act on")
        return items
    subjects = _subjects(body)
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise bad_request("'values' must be an object")
    if name == "cancel-downtimes":
        ids = await _downtimes_of(request, subjects)
        if not ids:
            raise bad_request("none of the selected rows has a downtime to cancel")
        return [{"downtime_id": i} for i in ids]
    if name == "reschedule-check":
        values = {"next_check": int(time.time() * 1_000_000), "forced": True}
    if name == "acknowledge" and not str(values.get("comment") or "").strip():
        raise bad_request("field 'comment': an acknowledgement needs a comment")
    return [{**values, **subject} for subject in subjects]


async def act(request: web.Request) -> web.Response:
    name = request.match_info["command"]
    try:
        if not same_origin(request):
            raise ApiError(403, "cross-site", "that action was not sent from this console")
        if "operate" not in token(request).scopes:
            raise ApiError(
                403,
                "insufficient-scope",
                f"token {token(request).name!r} may read but not act (no 'operate' scope)",
            )
        if name not in ACTIONS:
            raise ApiError(404, "not-found", f"unknown action {name!r}")
        if request.content_type != "application/json":
            raise bad_request(f"an action is JSON, not {request.content_type!r}")
        body = params.json_object(await request.read())
        command = commands.COMMANDS["cancel-downtime" if name == "cancel-downtimes" else name]
        written = await commands.perform(request, command, await _bodies(request, name, body))
        done = await commands.projected(request, written, WAIT)
    except ApiError as exc:
        return _error(exc)
    except SitelogError as exc:
        return _error(translate(exc))
    return json({"done": len(written), "projected": done})


def _error(exc: ApiError) -> web.Response:
    return json({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
    ("POST", "/actions/{command}", signed_in(act)),
]
