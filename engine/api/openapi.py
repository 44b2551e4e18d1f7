"""The OpenAPI 3.1 document of a node's API, served at ``/api/v1/openapi.json``.

Command bodies are generated from the same declarations the handlers validate
against (``engine.api.commands.COMMANDS``); the rest is written out here. The test
suite keeps it true: every served route is documented and only those, and
schemathesis checks the real answers against it.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.api import commands
from engine.api.params import DEFAULT_LIMIT, MAX_LIMIT
from engine.config import NodeConfig
from engine.write_path import CONFIGURATION
from schemas.types import HostState, ServiceState

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def _object(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


_TEXT: Schema = {"type": "string", "maxLength": 1024, "pattern": "^[^\\u0000]*$"}
_INSTANT: Schema = {
    "description": "microseconds since the Unix epoch, or an RFC 3339 time with a zone",
    "oneOf": [
        {"type": "integer", "minimum": 0, "maximum": 2**62 - 1},
        {"type": "string", "format": "date-time"},
    ],
}
_INT, _BOOL, _STR, _NUM = (
    {"type": "integer"},
    {"type": "boolean"},
    {"type": "string"},
    {"type": ["number", "null"]},
)


def _names(values: list[str]) -> Schema:
    return {"type": "array", "items": {"type": "string", "enum": values}, "minItems": 1}


def _query(name: str, schema: Schema, description: str = "", **extra: Any) -> Schema:
    param = {"name": name, "in": "query", "required": False, "schema": schema, **extra}
    if description:
        param["description"] = description
    return param


def _path(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": _TEXT}


_LIST = [
    _query(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, f"default {DEFAULT_LIMIT}"
    ),
    _query("cursor", _TEXT, "next_cursor of the previous page"),
    _query("at", _INSTANT, "evaluate time-dependent answers at this instant (default: now)"),
    _query("site", _TEXT, "comma-separated sites"),
]
_SORTS = ["name", "state", "last_check", "last_state_change"]


def _state_filters(states: list[str], services: bool) -> list[Schema]:
    filters = [
        _query("state", _names(states), "comma-separated states", style="form", explode=False),
        _query("state_type", _names(["soft", "hard"]), style="form", explode=False),
        _query("acknowledged", _BOOL),
        _query("in_downtime", _BOOL),
        _query("host_group", _TEXT),
        _query("q", _TEXT, "text in the name or the output (case-insensitive)"),
        _query("sort", {"type": "string", "enum": _SORTS + [f"-{s}" for s in _SORTS]}),
    ]
    if services:
        filters += [_query("host", _TEXT), _query("service_group", _TEXT)]
    return filters


def _operation(
    summary: str,
    ok: Schema,
    *,
    parameters: list[Schema] | None = None,
    status: str = "200",
    secured: bool = True,
    body: Schema | None = None,
    media: str = "application/json",
) -> Schema:
    error = {"description": "error", "content": {"application/json": {"schema": _ref("Error")}}}
    operation: Schema = {
        "summary": summary,
        "responses": {
            status: {"description": "success", "content": {media: {"schema": ok}}},
            **{code: error for code in ("400", "401", "403", "404", "413", "415", "503")},
            "default": error,
        },
        "security": [{"bearer": []}] if secured else [],
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def _page(item: str) -> Schema:
    return _object(
        ["items", "next_cursor", "at"],
        items={"type": "array", "items": _ref(item)},
        next_cursor=_nullable("string"),
        at=_INT,
    )


def _command_body(command: commands.Command) -> Schema:
    kinds: dict[str, Schema] = {
        "text": {"type": "string", "maxLength": commands.MAX_TEXT, "pattern": "^[^\\u0000]*$"},
        "nonblank": {
            "type": "string",
            "maxLength": commands.MAX_TEXT,
            "pattern": "^[^\\u0000]*\\S[^\\u0000]*$",
        },
        "bool": _BOOL,
        "instant": _INSTANT,
        "micros": {"type": "integer", "minimum": 0, "maximum": 2**62 - 1},
    }
    properties = {}
    for field in command.fields:
        schema = dict(kinds[field.kind])
        if field.description:
            schema["description"] = field.description
        properties[field.name] = schema
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in command.fields if f.required],
        "properties": properties,
    }


_WAIT = [
    _query("wait", {"type": "string", "enum": ["projected"]}, "answer once projected here"),
    _query("timeout", {"type": "number", "exclusiveMinimum": 0, "maximum": 30}, "seconds"),
]

_COMPONENTS: Schema = {
    "Error": _object(["error"], error=_object(["code", "message"], code=_STR, message=_STR)),
    "State": _object(
        ["host", "service", "site", "state", "state_name", "state_type", "output"],
        host=_STR,
        service=_nullable("string"),
        site=_STR,
        state=_INT,
        state_name=_STR,
        state_type=_STR,
        attempt=_INT,
        max_attempts=_INT,
        output=_STR,
        long_output=_STR,
        perfdata=_STR,
        last_check=_INT,
        last_state_change=_INT,
        last_hard_state_change=_nullable("integer"),
        last_hard_state=_nullable("integer"),
        execution_time=_NUM,
        latency=_NUM,
        poller=_STR,
        acknowledged=_BOOL,
        in_downtime=_BOOL,
    ),
    "Acknowledgement": _object(
        ["host", "service", "site", "author", "removed"],
        host=_STR,
        service=_nullable("string"),
        site=_STR,
        author=_STR,
        comment=_STR,
        sticky=_BOOL,
        notify=_BOOL,
        persistent=_BOOL,
        expire_time=_nullable("integer"),
        entry_time=_INT,
        removed=_BOOL,
        active=_BOOL,
    ),
    "Downtime": _object(
        ["downtime_id", "host", "service", "site", "cancelled"],
        downtime_id=_STR,
        host=_STR,
        service=_nullable("string"),
        site=_STR,
        fixed=_nullable("boolean"),
        start_time=_nullable("integer"),
        end_time=_nullable("integer"),
        duration=_nullable("integer"),
        with_services=_nullable("boolean"),
        author=_nullable("string"),
        comment=_nullable("string"),
        entry_time=_nullable("integer"),
        cancelled=_BOOL,
    ),
    "Comment": _object(
        ["comment_id", "host", "service", "site", "deleted"],
        comment_id=_STR,
        host=_STR,
        service=_nullable("string"),
        site=_STR,
        author=_nullable("string"),
        text=_nullable("string"),
        persistent=_nullable("boolean"),
        entry_time=_nullable("integer"),
        deleted=_BOOL,
    ),
    "Detail": _object(
        ["subject", "state", "config", "acknowledgement", "downtimes", "comments", "at"],
        subject=_object(
            ["host", "service", "site"], host=_STR, service=_nullable("string"), site=_STR
        ),
        state={"oneOf": [_ref("State"), {"type": "null"}]},
        config={"type": ["object", "null"]},
        acknowledgement={"oneOf": [_ref("Acknowledgement"), {"type": "null"}]},
        downtimes={"type": "array", "items": _ref("Downtime")},
        comments={"type": "array", "items": _ref("Comment")},
        at=_INT,
    ),
    "History": _object(
        ["host", "service", "items", "next_cursor"],
        host=_STR,
        service=_nullable("string"),
        next_cursor=_nullable("string"),
        items={
            "type": "array",
            "items": _object(
                ["check_time", "state", "state_type", "output"],
                check_time=_INT,
                state=_INT,
                state_name=_STR,
                state_type=_STR,
                previous_state=_nullable("integer"),
                previous_state_name=_nullable("string"),
                attempt=_INT,
                output=_STR,
            ),
        },
    ),
    "Perfdata": _object(
        ["host", "service", "from", "to", "resolution", "step", "series"],
        host=_STR,
        service=_nullable("string"),
        **{"from": _INT},
        to=_INT,
        resolution={"type": "string", "enum": ["raw", "rollup"]},
        step=_nullable("integer"),
        series={
            "type": "array",
            "items": _object(
                ["label", "columns", "points"],
                label=_STR,
                unit=_nullable("string"),
                columns={"type": "array", "items": _STR},
                points={"type": "array", "items": {"type": "array", "items": _NUM}},
            ),
        },
    ),
    "Replication": _object(
        ["node", "role", "site", "sites"],
        node=_STR,
        role={"type": "string", "enum": ["central", "remote"]},
        site=_STR,
        sites={
            "type": "array",
            "items": _object(
                ["site", "state", "connected", "lag", "dead_letters", "partitions"],
                site=_STR,
                state=_STR,
                connected=_BOOL,
                error=_nullable("string"),
                lag=_INT,
                events_applied=_INT,
                dead_letters=_INT,
                last_event_time=_nullable("integer"),
                partitions={
                    "type": "array",
                    "items": _object(
                        ["partition", "stored_offset", "log_end", "lag"],
                        partition=_INT,
                        stored_offset=_INT,
                        log_end=_nullable("integer"),
                        lag=_nullable("integer"),
                        last_event_time=_nullable("integer"),
                    ),
                },
            ),
        },
    ),
    "Digest": _object(
        ["sites", "digest"],
        sites={"type": ["array", "null"], "items": _STR},
        digest={"type": "string", "pattern": "^[0-9a-f]{64}$"},
    ),
    "Accepted": _object(
        ["events", "projected"],
        events={
            "type": "array",
            "items": _object(
                ["event_id", "type", "site", "target_site", "partition", "offset"],
                event_id=_STR,
                type=_STR,
                site=_STR,
                target_site=_STR,
                partition=_INT,
                offset=_INT,
            ),
        },
        projected=_nullable("boolean"),
    ),
    "Health": _object(
        ["status", "sites"],
        status={"type": "string", "enum": ["ok", "failing"]},
        sites={"type": "object", "additionalProperties": _STR},
    ),
}


def _paths() -> Schema:
    host_states = [s.name for s in HostState]
    service_states = [s.name for s in ServiceState]
    subject = [_path("host"), _query("at", _INSTANT)]
    service_subject = [_path("host"), _path("service"), _query("at", _INSTANT)]
    span = [_query("from", _INSTANT), _query("to", _INSTANT)]
    history = [*span, _LIST[0], _LIST[1]]
    perfdata = [
        *span,
        _query("step", {"type": "integer", "minimum": 1}, "window in microseconds"),
        _query("label", _TEXT, "comma-separated labels"),
    ]
    operations = [*_LIST, _query("host", _TEXT), _query("service", _TEXT), _query("all", _BOOL)]
    paths: Schema = {
        "/healthz": {"get": _operation("Liveness", _ref("Health"), secured=False)},
        "/metrics": {
            "get": _operation("Prometheus metrics", _STR, secured=False, media="text/plain")
        },
        "/api/v1/openapi.json": {
            "get": _operation("This document", {"type": "object"}, secured=False)
        },
        "/api/v1/hosts": {
            "get": _operation(
                "Hosts and their states",
                _page("State"),
                parameters=[*_LIST, *_state_filters(host_states, False)],
            )
        },
        "/api/v1/services": {
            "get": _operation(
                "Services and their states",
                _page("State"),
                parameters=[*_LIST, *_state_filters(service_states, True)],
            )
        },
        "/api/v1/hosts/{host}": {"get": _operation("One host", _ref("Detail"), parameters=subject)},
        "/api/v1/hosts/{host}/services/{service}": {
            "get": _operation("One service", _ref("Detail"), parameters=service_subject)
        },
        "/api/v1/hosts/{host}/history": {
            "get": _operation(
                "A host's results, newest first",
                _ref("History"),
                parameters=[_path("host"), *history],
            )
        },
        "/api/v1/hosts/{host}/services/{service}/history": {
            "get": _operation(
                "A service's results, newest first",
                _ref("History"),
                parameters=[_path("host"), _path("service"), *history],
            )
        },
        "/api/v1/hosts/{host}/perfdata": {
            "get": _operation(
                "A host's perfdata series", _ref("Perfdata"), parameters=[_path("host"), *perfdata]
            )
        },
        "/api/v1/hosts/{host}/services/{service}/perfdata": {
            "get": _operation(
                "A service's perfdata series",
                _ref("Perfdata"),
                parameters=[_path("host"), _path("service"), *perfdata],
            )
        },
        "/api/v1/acknowledgements": {
            "get": _operation("Acknowledgements", _page("Acknowledgement"), parameters=operations)
        },
        "/api/v1/downtimes": {
            "get": _operation("Downtimes", _page("Downtime"), parameters=operations)
        },
        "/api/v1/comments": {
            "get": _operation("Comments", _page("Comment"), parameters=operations)
        },
        "/api/v1/replication": {
            "get": _operation("Replication status per site and partition", _ref("Replication"))
        },
        "/api/v1/digest": {
            "get": _operation(
                "State digest of a site subset",
                _ref("Digest"),
                parameters=[_query("sites", _TEXT, "comma-separated sites (default: all)")],
            )
        },
        "/api/v1/stream": {
            "get": _operation(
                "Live projection changes (Server-Sent Events), resumable with Last-Event-ID",
                _STR,
                media="text/event-stream",
                parameters=[
                    _query(
                        "types",
                        _names(["state", "acknowledgement", "downtime", "comment"]),
                        style="form",
                        explode=False,
                    ),
                    _query("site", _TEXT),
                    _query("host", _TEXT),
                    _query("service", _TEXT),
                    _query("state", _names(sorted({*host_states, *service_states}))),
                    _query("last_event_id", _TEXT),
                ],
            )
        },
        "/api/v1/configuration": {
            "post": _operation(
                "Append configuration events (central only, admin scope)",
                _ref("Accepted"),
                status="202",
                parameters=_WAIT,
                body=_object(
                    ["events"],
                    events={
                        "type": "array",
                        "minItems": 1,
                        "maxItems": commands.MAX_CONFIGURATION_EVENTS,
                        "items": {
                            **_object(
                                ["type", "payload"],
                                type={"type": "string", "enum": _CONFIGURATION},
                                payload={"type": "object"},
                            ),
                            "additionalProperties": False,
                        },
                    },
                )
                | {"additionalProperties": False},
            )
        },
    }
    for name, command in commands.COMMANDS.items():
        paths[f"/api/v1/commands/{name}"] = {
            "post": _operation(
                command.summary,
                _ref("Accepted"),
                status="202",
                parameters=_WAIT,
                body=_command_body(command),
            )
        }
    return paths


_CONFIGURATION = sorted(c.__name__ for c in CONFIGURATION)


def document(config: NodeConfig) -> bytes:
    """The document, as served by the node described by ``config``."""
    return orjson.dumps(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "sitelog node API",
                "version": "1",
                "description": (
                    f"Node {config.name} ({config.role}, site {config.site}). Instants are "
                    "microseconds since the Unix epoch; errors are "
                    '{"error": {"code", "message"}}.'
                ),
            },
            "paths": _paths(),
            "components": {
                "schemas": _COMPONENTS,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }
    )
