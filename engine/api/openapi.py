"""The OpenAPI 3.1 document of a node's API, served at ``/api/v1/openapi.json``.

Command bodies are generated from the same declarations the handlers validate
against (``engine.node.operator_commands``, served as ``engine.api.commands.COMMANDS``);
the rest is written out here. The test
suite keeps it true: every served route is documented and only those, and
schemathesis checks the real answers against it.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.api import commands
from engine.api.openapi_schemas import (
    BOOL,
    COMPONENTS,
    FIELD_KINDS,
    INSTANT,
    INT,
    STR,
    TEXT,
    Schema,
    nullable,
    obj,
    ref,
)
from engine.api.params import DEFAULT_LIMIT, MAX_LIMIT
from engine.api.problems import SEVERITY
from engine.node.config import NodeConfig
from engine.node.operator_commands import OperatorCommand
from engine.node.write_path import CONFIGURATION
from schemas.types import HostState, ServiceState


def _names(values: list[str]) -> Schema:
    return {"type": "array", "items": {"type": "string", "enum": values}, "minItems": 1}


def _query(name: str, schema: Schema, description: str = "", **extra: Any) -> Schema:
    param = {"name": name, "in": "query", "required": False, "schema": schema, **extra}
    if description:
        param["description"] = description
    return param


def _path(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": TEXT}


_AT = _query("at", INSTANT, "evaluate time-dependent answers at this instant (default: now)")
_LIST = [
    _query(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, f"default {DEFAULT_LIMIT}"
    ),
    _query("cursor", TEXT, "next_cursor of the previous page"),
    _AT,
    _query("site", TEXT, "comma-separated sites"),
]
_SORTS = ["name", "state", "last_check", "last_state_change"]


def _state_filters(states: list[str], services: bool) -> list[Schema]:
    filters = [
        _query("state", _names(states), "comma-separated states", style="form", explode=False),
        _query("state_type", _names(["soft", "hard"]), style="form", explode=False),
        _query("acknowledged", BOOL),
        _query("in_downtime", BOOL),
        _query("host_group", TEXT),
        _query("q", TEXT, "text in the name or the output (case-insensitive)"),
        _query("sort", {"type": "string", "enum": _SORTS + [f"-{s}" for s in _SORTS]}),
    ]
    if services:
        filters += [_query("host", TEXT), _query("service_group", TEXT)]
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
    error = {"description": "error", "content": {"application/json": {"schema": ref("Error")}}}
    operation: Schema = {
        "summary": summary,
        "responses": {
            status: {"description": "success", "content": {media: {"schema": ok}}},
            **{code: error for code in ("400", "401", "403", "404", "409", "413", "415", "503")},
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
    return obj(
        ["items", "next_cursor", "at"],
        items={"type": "array", "items": ref(item)},
        next_cursor=nullable("string"),
        at=INT,
    )


def _command_body(command: OperatorCommand) -> Schema:
    properties = {}
    for field in command.fields:
        schema = dict(FIELD_KINDS[field.kind])
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
    _query(
        "timeout",
        {"type": "number", "exclusiveMinimum": 0, "maximum": commands.MAX_WAIT},
        "seconds",
    ),
]


def _paths() -> Schema:
    host_states = [s.name for s in HostState]
    service_states = [s.name for s in ServiceState]
    subject = [_path("host"), _query("at", INSTANT)]
    service_subject = [_path("host"), _path("service"), _query("at", INSTANT)]
    span = [_query("from", INSTANT), _query("to", INSTANT)]
    history = [*span, _LIST[0], _LIST[1]]
    perfdata = [
        *span,
        _query(
            "step",
            {"type": "integer", "minimum": 1},
            "window in microseconds (rounded up to a multiple of the tier's bucket)",
        ),
        _query("label", TEXT, "comma-separated labels"),
    ]
    operations = [*_LIST, _query("host", TEXT), _query("service", TEXT), _query("all", BOOL)]
    paths: Schema = {
        "/healthz": {"get": _operation("Liveness", ref("Health"), secured=False)},
        "/metrics": {
            "get": _operation("Prometheus metrics", STR, secured=False, media="text/plain")
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
        "/api/v1/problems": {
            "get": _operation(
                "Hosts not UP and services not OK: unhandled first, worst and oldest first",
                ref("Problems"),
                parameters=[
                    *_LIST,
                    _query(
                        "state",
                        _names(list(SEVERITY)),
                        "comma-separated problem states",
                        style="form",
                        explode=False,
                    ),
                    _query("state_type", _names(["soft", "hard"]), style="form", explode=False),
                    _query("handled", BOOL, "acknowledged or in downtime (default: both)"),
                    _query("kind", {"type": "string", "enum": ["host", "service"]}),
                    _query("host_group", TEXT),
                    _query("q", TEXT, "text in the name or the output (case-insensitive)"),
                ],
            )
        },
        "/api/v1/hosts/{host}": {"get": _operation("One host", ref("Detail"), parameters=subject)},
        "/api/v1/hosts/{host}/services/{service}": {
            "get": _operation("One service", ref("Detail"), parameters=service_subject)
        },
        "/api/v1/hosts/{host}/history": {
            "get": _operation(
                "A host's results, newest first",
                ref("History"),
                parameters=[_path("host"), *history],
            )
        },
        "/api/v1/hosts/{host}/services/{service}/history": {
            "get": _operation(
                "A service's results, newest first",
                ref("History"),
                parameters=[_path("host"), _path("service"), *history],
            )
        },
        "/api/v1/hosts/{host}/audit": {
            "get": _operation(
                "A host's operator audit trail, newest first",
                ref("Audit"),
                parameters=[_path("host"), _LIST[0], _LIST[1]],
            )
        },
        "/api/v1/hosts/{host}/services/{service}/audit": {
            "get": _operation(
                "A service's operator audit trail, newest first",
                ref("Audit"),
                parameters=[_path("host"), _path("service"), _LIST[0], _LIST[1]],
            )
        },
        "/api/v1/hosts/{host}/perfdata": {
            "get": _operation(
                "A host's perfdata series", ref("Perfdata"), parameters=[_path("host"), *perfdata]
            )
        },
        "/api/v1/hosts/{host}/services/{service}/perfdata": {
            "get": _operation(
                "A service's perfdata series",
                ref("Perfdata"),
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
            "get": _operation("Replication status per site and partition", ref("Replication"))
        },
        "/api/v1/digest": {
            "get": _operation(
                "State digest of a site subset",
                ref("Digest"),
                parameters=[
                    _query("sites", TEXT, "comma-separated sites (default: all)"),
                    _query(
                        "since",
                        INSTANT,
                        "include the time-kept tables (history, audit trail, perfdata) "
                        "from this instant on (default: only the never-expired ones)",
                    ),
                ],
            )
        },
        "/api/v1/pools": {
            "get": _operation(
                "Resource pools as of an instant: votes, quorum, members' availability",
                ref("Pools"),
                parameters=[_AT],
            )
        },
        "/api/v1/pools/{pool}": {
            "get": _operation(
                "One pool as of an instant, with the owner of each of its targets",
                ref("PoolDetail"),
                parameters=[_path("pool"), _AT],
            )
        },
        "/api/v1/stream": {
            "get": _operation(
                "Live projection changes (Server-Sent Events), resumable with Last-Event-ID",
                STR,
                media="text/event-stream",
                parameters=[
                    _query(
                        "types",
                        _names(["state", "acknowledgement", "downtime", "comment"]),
                        style="form",
                        explode=False,
                    ),
                    _query("site", TEXT),
                    _query("host", TEXT),
                    _query("service", TEXT),
                    _query("state", _names(sorted({*host_states, *service_states}))),
                    _query("last_event_id", TEXT),
                ],
            )
        },
        "/api/v1/configuration": {
            "post": _operation(
                "Append configuration events (central only, admin scope)",
                ref("Accepted"),
                status="202",
                parameters=_WAIT,
                body=obj(
                    ["events"],
                    events={
                        "type": "array",
                        "minItems": 1,
                        "maxItems": commands.MAX_CONFIGURATION_EVENTS,
                        "items": {
                            **obj(
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
                ref("Accepted"),
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
                "schemas": COMPONENTS,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }
    )
