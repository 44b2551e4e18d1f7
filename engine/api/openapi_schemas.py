"""The schemas of the OpenAPI document: the shapes of every answer and their parts.

They describe what ``engine.api.views`` and the handlers return (the test suite
validates real answers against them), and the kinds of command fields.
"""

from __future__ import annotations

from typing import Any

from engine.api.params import MAX_PARAMETER
from engine.node.operator_commands import MAX_MICROS, MAX_TEXT, Kind

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def obj(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


TEXT: Schema = {"type": "string", "maxLength": MAX_PARAMETER, "pattern": "^[^\\u0000]*$"}
INSTANT: Schema = {
    "description": "microseconds since the Unix epoch, or an RFC 3339 time with a zone",
    "oneOf": [
        {"type": "integer", "minimum": 0, "maximum": 2**62 - 1},
        {"type": "string", "format": "date-time"},
    ],
}
INT, BOOL, STR, NUM = (
    {"type": "integer"},
    {"type": "boolean"},
    {"type": "string"},
    {"type": ["number", "null"]},
)

#: The body schema of a command field of each kind (``engine.node.operator_commands``).
FIELD_KINDS: dict[Kind, Schema] = {
    "text": {"type": "string", "maxLength": MAX_TEXT, "pattern": "^[^\\u0000]*$"},
    "nonblank": {
        "type": "string",
        "maxLength": MAX_TEXT,
        "pattern": "^[^\\u0000]*\\S[^\\u0000]*$",
    },
    "bool": BOOL,
    "instant": INSTANT,
    "micros": {"type": "integer", "minimum": 0, "maximum": MAX_MICROS - 1},
}


def _subject_page(item: Schema) -> Schema:
    """One page of a subject's list (its history, its audit trail), newest first."""
    return obj(
        ["host", "service", "items", "next_cursor"],
        host=STR,
        service=nullable("string"),
        next_cursor=nullable("string"),
        items={"type": "array", "items": item},
    )


#: What a perfdata series says of its metric besides its points (its latest values).
_SERIES_LIMITS = ("label", "unit", "warn", "crit", "min", "max")

COMPONENTS: Schema = {
    "Error": obj(["error"], error=obj(["code", "message"], code=STR, message=STR)),
    "State": obj(
        ["host", "service", "site", "state", "state_name", "state_type", "output"],
        host=STR,
        service=nullable("string"),
        site=STR,
        state=INT,
        state_name=STR,
        state_type=STR,
        attempt=INT,
        max_attempts=INT,
        output=STR,
        long_output=STR,
        perfdata=STR,
        last_check=INT,
        last_state_change=INT,
        last_hard_state_change=nullable("integer"),
        last_hard_state=nullable("integer"),
        execution_time=NUM,
        latency=NUM,
        poller=STR,
        acknowledged=BOOL,
        in_downtime=BOOL,
        handled=BOOL,
    ),
    "Problems": obj(
        ["items", "next_cursor", "at", "counts"],
        items={"type": "array", "items": ref("State")},
        next_cursor=nullable("string"),
        at=INT,
        counts={
            "type": "array",
            "items": obj(
                ["kind", "state", "state_name", "total", "unhandled"],
                kind={"type": "string", "enum": ["host", "service"]},
                state=INT,
                state_name=STR,
                total=INT,
                unhandled=INT,
            ),
        },
    ),
    "Acknowledgement": obj(
        ["host", "service", "site", "author", "removed"],
        host=STR,
        service=nullable("string"),
        site=STR,
        author=STR,
        comment=STR,
        sticky=BOOL,
        notify=BOOL,
        persistent=BOOL,
        expire_time=nullable("integer"),
        entry_time=INT,
        removed=BOOL,
        active=BOOL,
    ),
    "Downtime": obj(
        ["downtime_id", "host", "service", "site", "cancelled"],
        downtime_id=STR,
        host=STR,
        service=nullable("string"),
        site=STR,
        fixed=nullable("boolean"),
        start_time=nullable("integer"),
        end_time=nullable("integer"),
        duration=nullable("integer"),
        with_services=nullable("boolean"),
        author=nullable("string"),
        comment=nullable("string"),
        entry_time=nullable("integer"),
        cancelled=BOOL,
    ),
    "Comment": obj(
        ["comment_id", "host", "service", "site", "deleted"],
        comment_id=STR,
        host=STR,
        service=nullable("string"),
        site=STR,
        author=nullable("string"),
        text=nullable("string"),
        persistent=nullable("boolean"),
        entry_time=nullable("integer"),
        deleted=BOOL,
    ),
    "Detail": obj(
        ["subject", "state", "config", "acknowledgement", "downtimes", "comments", "at"],
        subject=obj(["host", "service", "site"], host=STR, service=nullable("string"), site=STR),
        state={"oneOf": [ref("State"), {"type": "null"}]},
        config={"type": ["object", "null"]},
        acknowledgement={"oneOf": [ref("Acknowledgement"), {"type": "null"}]},
        downtimes={"type": "array", "items": ref("Downtime")},
        comments={"type": "array", "items": ref("Comment")},
        at=INT,
    ),
    "History": _subject_page(
        obj(
            ["check_time", "state", "state_type", "output"],
            check_time=INT,
            state=INT,
            state_name=STR,
            state_type=STR,
            previous_state=nullable("integer"),
            previous_state_name=nullable("string"),
            attempt=INT,
            output=STR,
        ),
    ),
    "Audit": _subject_page(
        obj(
            ["event_id", "event_time", "action", "author", "site", "origin", "details"],
            event_id=STR,
            event_time=INT,
            action=STR,
            author=STR,
            site=STR,
            origin=STR,
            target_site=STR,
            details={"type": "object"},
        ),
    ),
    "Perfdata": obj(
        ["host", "service", "from", "to", "resolution", "tier", "step", "series"],
        host=STR,
        service=nullable("string"),
        **{"from": INT},
        to=INT,
        resolution={"type": "string", "enum": ["raw", "rollup"]},
        tier={
            "description": "the rollup tier read (null: raw points)",
            "enum": ["5m", "1h", "1d", None],
        },
        step={**nullable("integer"), "description": "window of a rollup point (µs)"},
        series={
            "type": "array",
            "items": obj(
                [*_SERIES_LIMITS, "thresholds", "problems", "columns", "points"],
                label=STR,
                unit=nullable("string"),
                warn=nullable("string"),
                crit=nullable("string"),
                min=nullable("number"),
                max=nullable("number"),
                thresholds={
                    "description": "changes within the range, the one in force at from first",
                    "type": "array",
                    "items": obj(
                        ["since", "unit", "warn", "crit", "min", "max"],
                        since=INT,
                        unit=STR,
                        warn=nullable("string"),
                        crit=nullable("string"),
                        min=nullable("number"),
                        max=nullable("number"),
                    ),
                },
                problems={
                    "description": "points whose perfdata had a field that did not parse",
                    "oneOf": [
                        {"type": "null"},
                        obj(
                            ["points", "last_time", "last_problem"],
                            points=INT,
                            last_time=INT,
                            last_problem=STR,
                        ),
                    ],
                },
                columns={
                    "description": "[t, value] (raw) or [t, avg, min, max, samples, last]",
                    "type": "array",
                    "items": STR,
                },
                points={
                    "type": "array",
                    "items": {"type": "array", "items": nullable("number")},
                },
            ),
        },
    ),
    "Replication": obj(
        ["node", "role", "site", "sites"],
        node=STR,
        role={"type": "string", "enum": ["central", "remote"]},
        site=STR,
        sites={
            "type": "array",
            "items": obj(
                ["site", "state", "connected", "lag", "dead_letters", "partitions"],
                site=STR,
                state=STR,
                connected=BOOL,
                error=nullable("string"),
                lag=INT,
                events_applied=INT,
                dead_letters=INT,
                last_event_time=nullable("integer"),
                partitions={
                    "type": "array",
                    "items": obj(
                        ["partition", "stored_offset", "log_end", "lag"],
                        partition=INT,
                        stored_offset=INT,
                        log_end=nullable("integer"),
                        lag=nullable("integer"),
                        last_event_time=nullable("integer"),
                    ),
                },
            ),
        },
    ),
    "PoolMember": obj(
        ["server", "role", "observer", "available", "lease_expires_at", "missing_roots"],
        server=STR,
        role={"enum": ["management_server", "gateway"]},
        observer=BOOL,
        available=BOOL,
        lease_expires_at=nullable("integer"),
        missing_roots={"type": "array", "items": STR},
    ),
    "Pool": obj(
        [
            "name",
            "builtin",
            "membership",
            "default_observer",
            "votes",
            "quorum",
            "available_votes",
            "may_fail",
            "has_quorum",
            "reason",
            "members",
            "unregistered",
            "targets",
            "assigned",
        ],
        name=STR,
        builtin=BOOL,
        description=STR,
        membership={"enum": ["automatic", "manual"]},
        default_observer=obj(
            ["enabled", "votes", "available"], enabled=BOOL, votes=BOOL, available=BOOL
        ),
        votes=INT,
        quorum=INT,
        available_votes=INT,
        may_fail=INT,
        has_quorum=BOOL,
        reason=nullable("string"),
        members={"type": "array", "items": ref("PoolMember")},
        unregistered={"type": "array", "items": STR},
        targets={"description": "how many targets the pool runs", "type": "integer"},
        assigned={"description": "how many of them have an owner", "type": "integer"},
    ),
    "Pools": obj(["at", "pools"], at=INT, pools={"type": "array", "items": ref("Pool")}),
    "PoolDetail": obj(
        ["at", "pool"],
        at=INT,
        pool={
            "allOf": [
                ref("Pool"),
                obj(
                    ["assignment"],
                    assignment={
                        "type": "array",
                        "items": obj(
                            ["name", "kind", "signing_root", "owner"],
                            name=STR,
                            kind={"enum": ["network_device", "unix_agent", "url_monitor"]},
                            signing_root=nullable("string"),
                            owner=nullable("string"),
                        ),
                    },
                ),
            ]
        },
    ),
    "Digest": obj(
        ["sites", "since", "digest"],
        sites={"type": ["array", "null"], "items": STR},
        since={"type": ["integer", "null"]},
        digest={"type": "string", "pattern": "^[0-9a-f]{64}$"},
    ),
    "Accepted": obj(
        ["events", "projected"],
        events={
            "type": "array",
            "items": obj(
                ["event_id", "type", "site", "target_site", "partition", "offset"],
                event_id=STR,
                type=STR,
                site=STR,
                target_site=STR,
                partition=INT,
                offset=INT,
            ),
        },
        projected=nullable("boolean"),
    ),
    "Health": obj(
        ["status", "sites"],
        status={"type": "string", "enum": ["ok", "failing"]},
        sites={"type": "object", "additionalProperties": STR},
    ),
}
