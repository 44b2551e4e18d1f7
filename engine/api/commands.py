"""Command endpoints: operator actions (and central's configuration) become events.

A command appends one event to this node's site log through the write path and
answers 202 with the event's id and position; it never writes a projection row.
``?wait=projected`` waits (at most ``timeout`` seconds, bounded) until this node's
projection holds the event, so the caller reads its own write; ``projected`` in the
answer says whether it does.

Each operator command is declared once (``engine.node.operator_commands``): the
handler validates the body against that declaration, the write path builds the
payload from it, and the OpenAPI document is generated from it. The handler looks up
the subject's owning site once, when the write path prepares the command, and checks
the token's site on it before appending.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from engine.api import params
from engine.api.context import check_site, context, json, token
from engine.api.errors import ApiError, bad_request
from engine.node.operator_commands import OPERATOR_COMMANDS, OperatorCommand, Values
from engine.node.write_path import Written
from schemas.errors import InvalidEventError
from schemas.json_form import payload_from_json
from schemas.types import event_id_str

DEFAULT_WAIT, MAX_WAIT = 10.0, 30.0  # seconds ?wait=projected waits, by default and at most
MAX_CONFIGURATION_EVENTS = 1000

#: Every operator command is an API command, under its own name.
COMMANDS: Mapping[str, OperatorCommand] = OPERATOR_COMMANDS


def validate(command: OperatorCommand, body: dict[str, Any], author: str) -> Values:
    """The body's fields typed, defaulted and checked; a 400 names the first wrong field.

    The API's own forms: ``author`` defaults to the token's name, and an instant may
    also be RFC 3339 text.
    """
    return command.values(body, defaults={"author": author}, read_instant=params.instant)


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise params.unsupported_media(request.content_type)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        raise ApiError(413, "body-too-large", f"body: larger than {limit} bytes") from None
    except web.RequestPayloadError:
        # aiohttp decodes the body as its Content-Encoding says, and could not.
        encoding = params.quoted(request.headers.get("Content-Encoding", ""))
        raise bad_request(f"body: cannot be decoded as Content-Encoding {encoding} says") from None
    return params.json_object(body)


def _wait(request: web.Request) -> float | None:
    """The bound on waiting for the projection, or None when the caller does not wait."""
    query = request.query
    wait = query.get("wait")
    if wait is None:
        if "timeout" in query:
            raise bad_request("parameter 'timeout' needs wait=projected")
        return None
    if wait != "projected":
        raise bad_request(f"parameter 'wait': {params.quoted(wait)} is not 'projected'")
    if "timeout" not in query:
        return DEFAULT_WAIT
    raw = query["timeout"]
    try:
        timeout = float(raw)
    except ValueError:
        raise bad_request(f"parameter 'timeout': {params.quoted(raw)} is not a number") from None
    if not 0 < timeout <= MAX_WAIT:
        raise bad_request(f"parameter 'timeout': {timeout:g} is not in (0, {MAX_WAIT:g}] seconds")
    return timeout


async def projected(request: web.Request, written: list[Written], timeout: float) -> bool:
    """Whether this node's projection holds every written event, waiting at most
    ``timeout`` seconds per partition."""
    projector = context(request).node.projector
    last = {a.partition: a.offset for _, a in written}
    site = written[0][0].site if written else ""
    done = True
    for partition, offset in last.items():
        done = done and await projector.wait_for(site, partition, offset, timeout)
    return done


async def perform(
    request: web.Request, command: OperatorCommand, bodies: list[dict[str, Any]]
) -> list[Written]:
    """Run ``command`` once per body, as the request's token: every body is validated and
    prepared (its subject found, the token's site checked) before any is appended, so a
    refusal appends nothing."""
    write_path = context(request).node.write_path
    author = token(request).name
    prepared = []
    for body in bodies:
        ready = write_path.prepare(command, validate(command, body, author))
        check_site(request, ready.target_site, "the subject")
        prepared.append(ready)
    return [await write_path.append(p) for p in prepared]


async def _accepted(
    request: web.Request, written: list[Written], timeout: float | None
) -> web.Response:
    done = None if timeout is None else await projected(request, written, timeout)
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
    return json({"events": items, "projected": done}, status=202)


def handler(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The endpoint of one command."""
    command = COMMANDS[name]

    async def run(request: web.Request) -> web.Response:
        timeout = _wait(request)
        written = await perform(request, command, [await _body(request)])
        return await _accepted(request, written, timeout)

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
