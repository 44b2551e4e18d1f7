"""Command endpoints: operator actions (and central's configuration) become events.

A command appends one event to this node's site log through the write path and
answers 202 with the event's id and position; it never writes a projection row.
``?wait=projected`` waits (at most ``timeout`` seconds, bounded) until this node's
projection holds the event, so the caller reads its own write; ``projected`` in the
answer says whether it does.

Each command's body is declared once (``COMMANDS``): the handler validates against
it and the OpenAPI document is generated from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.api import params
from engine.api.context import check_site, context, json, token
from engine.api.errors import ApiError, bad_request
from engine.log.records import Appended
from engine.node.write_path import WritePath, Written
from projections import lookup
from projections.state import ProjectionState
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.json_form import payload_from_json
from schemas.types import event_id_str

MAX_TEXT = 8192
DEFAULT_WAIT, MAX_WAIT = 10.0, 30.0  # seconds ?wait=projected waits, by default and at most
MAX_CONFIGURATION_EVENTS = 1000


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text, nonblank (text with a non-space character), bool, instant, micros
    required: bool = False
    default: Any = None
    description: str = ""


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    fields: tuple[Field, ...]
    run: Callable[[WritePath, dict[str, Any]], Awaitable[Written]]
    #: The site owning the command's subject, when this node knows it.
    owner: Callable[[ProjectionState, dict[str, Any]], str | None]


_HOST = Field("host", "text", True, description="host name")
_SERVICE = Field("service", "text", description="service description; absent for the host")
_AUTHOR = Field("author", "nonblank", description="who acts; defaults to the token's name")


def _host_owner(state: ProjectionState, body: dict[str, Any]) -> str | None:
    return lookup.host_site(state, body["host"])


def _downtime_owner(state: ProjectionState, body: dict[str, Any]) -> str | None:
    row = lookup.downtime(state, body["downtime_id"])
    return None if row is None else row.target_site


def _comment_owner(state: ProjectionState, body: dict[str, Any]) -> str | None:
    row = lookup.comment(state, body["comment_id"])
    return None if row is None else row.target_site


COMMANDS = {
    c.name: c
    for c in (
        Command(
            "acknowledge",
            "Acknowledge a host or service problem",
            (
                _HOST,
                _SERVICE,
                _AUTHOR,
                Field("comment", "text", default=""),
                Field("sticky", "bool", default=False, description="hold until recovery"),
                Field("notify", "bool", default=True),
                Field("persistent", "bool", default=False),
                Field("expire_time", "instant", description="when it lapses by itself"),
            ),
            lambda w, b: w.acknowledge(
                b["host"],
                b["service"],
                author=b["author"],
                comment=b["comment"],
                sticky=b["sticky"],
                notify=b["notify"],
                persistent=b["persistent"],
                expire_time=b["expire_time"],
            ),
            _host_owner,
        ),
        Command(
            "remove-acknowledgement",
            "Remove the acknowledgement of a host or service",
            (_HOST, _SERVICE, _AUTHOR),
            lambda w, b: w.remove_acknowledgement(b["host"], b["service"], author=b["author"]),
            _host_owner,
        ),
        Command(
            "schedule-downtime",
            "Schedule a fixed or flexible downtime",
            (
                _HOST,
                _SERVICE,
                _AUTHOR,
                Field("start_time", "instant", True),
                Field("end_time", "instant", True),
                Field("fixed", "bool", default=True),
                Field("duration", "micros", default=0, description="for a flexible downtime"),
                Field("with_services", "bool", default=False, description="host: cover services"),
                Field("comment", "text", default=""),
            ),
            lambda w, b: w.schedule_downtime(
                b["host"],
                b["service"],
                author=b["author"],
                start_time=b["start_time"],
                end_time=b["end_time"],
                fixed=b["fixed"],
                duration=b["duration"],
                with_services=b["with_services"],
                comment=b["comment"],
            ),
            _host_owner,
        ),
        Command(
            "cancel-downtime",
            "Cancel a downtime",
            (Field("downtime_id", "text", True), _AUTHOR),
            lambda w, b: w.cancel_downtime(b["downtime_id"], author=b["author"]),
            _downtime_owner,
        ),
        Command(
            "add-comment",
            "Add a comment to a host or service",
            (
                _HOST,
                _SERVICE,
                _AUTHOR,
                Field("text", "nonblank", True),
                Field("persistent", "bool", default=True),
            ),
            lambda w, b: w.add_comment(
                b["host"],
                b["service"],
                author=b["author"],
                text=b["text"],
                persistent=b["persistent"],
            ),
            _host_owner,
        ),
        Command(
            "delete-comment",
            "Delete a comment",
            (Field("comment_id", "text", True), _AUTHOR),
            lambda w, b: w.delete_comment(b["comment_id"], author=b["author"]),
            _comment_owner,
        ),
        Command(
            "reschedule-check",
            "Ask for the next check of a host or service at a given time",
            (
                _HOST,
                _SERVICE,
                _AUTHOR,
                Field("next_check", "instant", True),
                Field("forced", "bool", default=False),
            ),
            lambda w, b: w.reschedule_check(
                b["host"],
                b["service"],
                author=b["author"],
                next_check=b["next_check"],
                forced=b["forced"],
            ),
            _host_owner,
        ),
    )
}


def _value(field: Field, value: Any) -> Any:
    where = f"field {field.name!r}"
    if field.kind in ("text", "nonblank"):
        if not isinstance(value, str):
            raise bad_request(f"{where}: expected a string")
        if "\x00" in value or len(value) > MAX_TEXT:
            raise bad_request(f"{where}: NUL characters or longer than {MAX_TEXT} characters")
        if field.kind == "nonblank" and not value.strip():
            raise bad_request(f"{where}: must not be blank")
        return value
    if field.kind == "bool":
        if not isinstance(value, bool):
            raise bad_request(f"{where}: expected true or false")
        return value
    if field.kind == "instant":
        return params.instant(value, field.name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
        raise bad_request(f"{where}: expected a non-negative integer (microseconds)")
    return value


def validate(command: Command, body: dict[str, Any], author: str) -> dict[str, Any]:
    """The body's fields typed and defaulted; 400 naming the first wrong field."""
    known = {f.name: f for f in command.fields}
    if unknown := sorted(set(body) - set(known)):
        raise bad_request(f"field {unknown[0]!r}: unknown for command {command.name}")
    values = {}
    for field in command.fields:
        if body.get(field.name) is None:
            if field.required:
                raise bad_request(f"field {field.name!r}: required for command {command.name}")
            values[field.name] = field.default
        else:
            values[field.name] = _value(field, body[field.name])
    if "author" in known and values["author"] is None:
        values["author"] = author
    if values.get("service") == "":
        values["service"] = None
    return values


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise params.unsupported_media(request.content_type)
    return params.json_object(await request.read())


def _wait(request: web.Request) -> float | None:
    """The bound on waiting for the projection, or None when the caller does not wait."""
    query = request.query
    wait = query.get("wait")
    if wait is None:
        if "timeout" in query:
            raise bad_request("parameter 'timeout' needs wait=projected")
        return None
    if wait != "projected":
        raise bad_request(f"parameter 'wait': {wait!r} is not 'projected'")
    if "timeout" not in query:
        return DEFAULT_WAIT
    try:
        timeout = float(query["timeout"])
    except ValueError:
        raise bad_request(f"parameter 'timeout': {query['timeout']!r} is not a number") from None
    if not 0 < timeout <= MAX_WAIT:
        raise bad_request(f"parameter 'timeout': {timeout:g} is not in (0, {MAX_WAIT:g}] seconds")
    return timeout


async def _accepted(
    request: web.Request, written: list[tuple[Event, Appended]], timeout: float | None
) -> web.Response:
    projector = context(request).node.projector
    projected = None
    if timeout is not None:
        last = {(a.partition): a.offset for _, a in written}
        site = written[0][0].site if written else ""
        projected = True
        for partition, offset in last.items():
            projected = projected and await projector.wait_for(site, partition, offset, timeout)
    items = [
        {
            "event_id": event_id_str(event.event_id),
            "type": type(event.payload).__name__,
            "site": event.site,
            "target_site": event.target_site,
            "partition": appended.partition,
            "offset": appended.offset,
        }
        for event, appended in written
    ]
    return json({"events": items, "projected": projected}, status=202)


def handler(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The endpoint of one command."""
    command = COMMANDS[name]

    async def run(request: web.Request) -> web.Response:
        timeout = _wait(request)
        values = validate(command, await _body(request), token(request).name)
        node = context(request).node
        owner = command.owner(node.projector.state, values)
        if owner is not None:
            check_site(request, owner, "the subject")
        event, appended = await command.run(node.write_path, values)
        return await _accepted(request, [(event, appended)], timeout)

    run.__name__ = run.__qualname__ = f"command_{name.replace('-', '_')}"
    return run


async def configure(request: web.Request) -> web.Response:
    """Append configuration events (central only, admin scope) in the given order."""
    if token(request).sites is not None:
        raise ApiError(403, "forbidden-site", "configuration needs a token not limited to sites")
    timeout = _wait(request)
    body = await _body(request)
    if set(body) != {"events"} or not isinstance(body["events"], list):
        raise bad_request('body must be {"events": [{"type": ..., "payload": {...}}, ...]}')
    items = body["events"]
    if not 0 < len(items) <= MAX_CONFIGURATION_EVENTS:
        raise bad_request(f"give 1 to {MAX_CONFIGURATION_EVENTS} events")
    payloads = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"type", "payload"}:
            raise bad_request(f'events[{index}]: expected {{"type": ..., "payload": {{...}}}}')
        try:
            payloads.append(payload_from_json(item["type"], item["payload"]))
        except InvalidEventError as exc:
            raise bad_request(f"events[{index}]: {exc}") from None
    written = await context(request).node.write_path.configure_many(payloads)
    return await _accepted(request, written, timeout)
