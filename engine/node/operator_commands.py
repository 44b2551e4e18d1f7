"""Operator commands, each declared once: its fields, its rules, its payload and its subject.

An operator command (acknowledge, schedule a downtime, add a comment, ...) is one
:class:`OperatorCommand`. Every layer reads that one declaration: the API validates a
request body against its fields and documents them (``engine.api.commands``,
``engine.api.openapi``), and the write path (``engine.node.write_path``) validates the
values, finds the subject's host, looks up the site owning it and builds the payload
(``schemas.operations``) from the values. Nothing here appends or reads a log.

Field kinds: ``text``, ``nonblank`` (text with a non-space character), ``bool``,
``instant`` (microseconds since the Unix epoch) and ``micros`` (a duration in
microseconds). Every refusal is an :class:`InvalidEventError` of one line that starts
``field 'name':``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NewType, Protocol

from engine.errors import UnknownSubjectError
from projections import lookup
from projections.state import ProjectionState
from schemas import operations
from schemas.errors import InvalidEventError
from schemas.payload import HostScoped

Kind = Literal["text", "nonblank", "bool", "instant", "micros"]

#: Values checked by :meth:`OperatorCommand.values`, by field name; nothing else makes them.
Values = NewType("Values", Mapping[str, Any])

MAX_TEXT = 8192
#: Instants and durations stay below this (bigints beyond are not times anybody means).
MAX_MICROS = 2**62

#: The API's short field names for the payload's subject fields.
_PAYLOAD_NAMES = {"host": "host_name", "service": "service_description"}


@dataclass(frozen=True)
class Field:
    """One field of a command. ``default`` is used when the field is absent or null.

    A ``nonblank`` field cannot be absent: its default, if any, must come from the
    caller (the API's author is its token's name).
    """

    name: str
    kind: Kind
    required: bool = False
    default: Any = None
    description: str = ""

    @property
    def payload_name(self) -> str:
        """The payload field this field fills."""
        return _PAYLOAD_NAMES.get(self.name, self.name)


@dataclass(frozen=True)
class Subject:
    """The host, or one of its services, that a command acts on."""

    host_name: str
    service_description: str | None


#: How a command finds its subject among the values and the projection.
SubjectOf = Callable[[ProjectionState, Values], Subject]
#: A rule between fields; raises InvalidEventError naming the field it refuses.
Rule = Callable[[Values], None]


@dataclass(frozen=True)
class OperatorCommand:
    """One operator command: what the API accepts, and the payload the write path appends.

    ``fields`` are the values the caller gives (``host`` and ``service`` fill
    ``host_name`` and ``service_description``); ``subject`` finds the host the payload
    is about; ``new_id`` names the payload field that gets a fresh uuid4 (the id of a
    new downtime or comment).
    """

    name: str
    summary: str
    payload: type[HostScoped]
    fields: tuple[Field, ...]
    subject: SubjectOf
    rules: tuple[Rule, ...] = ()
    new_id: str | None = None

    def values(
        self,
        given: Mapping[str, Any],
        *,
        defaults: Mapping[str, Any] | None = None,
        read_instant: Callable[[Any, str], int] | None = None,
    ) -> Values:
        """``given`` typed, defaulted and checked against the fields and the rules.

        ``defaults`` fill absent fields before the declared defaults do (the API's
        author is its token's name); ``read_instant`` reads an instant given in the
        caller's own form (the API also takes RFC 3339 text). The first wrong field,
        in declaration order, is the one refused.
        """
        if unknown := sorted(set(given) - {f.name for f in self.fields}):
            raise InvalidEventError(f"field {unknown[0]!r}: unknown for command {self.name}")
        supplied = {**(defaults or {}), **{k: v for k, v in given.items() if v is not None}}
        values = {f.name: self._value(f, supplied.get(f.name), read_instant) for f in self.fields}
        if values.get("service") == "":
            values["service"] = None  # an empty service names the host, as an absent one does
        for rule in self.rules:
            rule(Values(values))
        return Values(values)

    def _value(
        self, field: Field, value: Any, read_instant: Callable[[Any, str], int] | None
    ) -> Any:
        if value is None:
            if field.required or field.kind == "nonblank":
                raise InvalidEventError(f"field {field.name!r}: required for command {self.name}")
            return field.default
        if field.kind == "instant" and read_instant is not None:
            value = read_instant(value, field.name)
        if complaint := _COMPLAINTS[field.kind](value):
            raise InvalidEventError(f"field {field.name!r}: {complaint}")
        return value

    def build(self, values: Values, subject: Subject) -> HostScoped:
        """The payload: the values under their payload names, about ``subject``."""
        fields = {f.payload_name: values[f.name] for f in self.fields}
        fields |= {
            "host_name": subject.host_name,
            "service_description": subject.service_description,
        }
        if self.new_id is not None:
            # A new downtime or comment is named here, before it is appended, so the
            # caller has its id with the event.
            fields[self.new_id] = str(uuid.uuid4())
        return self.payload(**fields)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return "expected a string"
    if "\x00" in value or len(value) > MAX_TEXT:
        return f"NUL characters or longer than {MAX_TEXT} characters"
    return None


def _nonblank(value: Any) -> str | None:
    return _text(value) or (None if value.strip() else "must not be blank")


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "expected true or false"


def _micros(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_MICROS


def _instant(value: Any) -> str | None:
    return None if _micros(value) else "expected an instant in microseconds since 1970"


def _duration(value: Any) -> str | None:
    return None if _micros(value) else "expected a non-negative integer (microseconds)"


#: What is wrong with a present value of each kind, or None.
_COMPLAINTS: dict[Kind, Callable[[Any], str | None]] = {
    "text": _text,
    "nonblank": _nonblank,
    "bool": _bool,
    "instant": _instant,
    "micros": _duration,
}


def named_host(state: ProjectionState, values: Values) -> Subject:
    """The subject the values name: ``host``, and ``service`` when set."""
    return Subject(values["host"], values["service"])


class _Recorded(Protocol):
    @property
    def host_name(self) -> str: ...

    @property
    def service_description(self) -> str: ...


#: How a downtime or comment is found by its id in the projection.
_RECORDS: dict[str, Callable[[ProjectionState, str], _Recorded | None]] = {
    "downtime": lookup.downtime,
    "comment": lookup.comment,
}


def recorded(what: str) -> SubjectOf:
    """The subject of the ``what`` (downtime, comment) that the ``<what>_id`` field names."""
    key, find = f"{what}_id", _RECORDS[what]

    def subject(state: ProjectionState, values: Values) -> Subject:
        row = find(state, values[key])
        if row is None:
            raise UnknownSubjectError(f"unknown {what} {values[key]!r}")
        # Projection rows say "" for the host itself, payloads say None.
        return Subject(row.host_name, row.service_description or None)

    return subject


def _ends_after_start(values: Values) -> None:
    if values["end_time"] <= values["start_time"]:
        raise InvalidEventError("field 'end_time': must be after start_time")


def _flexible_has_duration(values: Values) -> None:
    if not values["fixed"] and values["duration"] <= 0:
        raise InvalidEventError("field 'duration': a flexible downtime needs a positive one")


_HOST = Field("host", "text", True, description="host name")
_SERVICE = Field("service", "text", description="service description; absent for the host")
_AUTHOR = Field("author", "nonblank", description="who acts; defaults to the token's name")
_ON_HOST = (_HOST, _SERVICE, _AUTHOR)


def _on_recorded(name: str, summary: str, payload: type[HostScoped], what: str) -> OperatorCommand:
    """A command on a projected downtime or comment: its id field and lookup agree."""
    return OperatorCommand(
        name, summary, payload, (Field(f"{what}_id", "text", True), _AUTHOR), recorded(what)
    )


OPERATOR_COMMANDS: Mapping[str, OperatorCommand] = {
    c.name: c
    for c in (
        OperatorCommand(
            "acknowledge",
            "Acknowledge a host or service problem",
            operations.AcknowledgementSet,
            (
                *_ON_HOST,
                Field("comment", "text", default=""),
                Field("sticky", "bool", default=False, description="hold until recovery"),
                Field("notify", "bool", default=True),
                Field("persistent", "bool", default=False),
                Field("expire_time", "instant", description="when it lapses by itself"),
            ),
            named_host,
        ),
        OperatorCommand(
            "remove-acknowledgement",
            "Remove the acknowledgement of a host or service",
            operations.AcknowledgementRemoved,
            _ON_HOST,
            named_host,
        ),
        OperatorCommand(
            "schedule-downtime",
            "Schedule a fixed or flexible downtime",
            operations.DowntimeScheduled,
            (
                *_ON_HOST,
                Field("start_time", "instant", True),
                Field("end_time", "instant", True),
                Field("fixed", "bool", default=True),
                Field("duration", "micros", default=0, description="for a flexible downtime"),
                Field("with_services", "bool", default=False, description="host: cover services"),
                Field("comment", "text", default=""),
            ),
            named_host,
            rules=(_ends_after_start, _flexible_has_duration),
            new_id="downtime_id",
        ),
        _on_recorded(
            "cancel-downtime", "Cancel a downtime", operations.DowntimeCancelled, "downtime"
        ),
        OperatorCommand(
            "add-comment",
            "Add a comment to a host or service",
            operations.CommentAdded,
            (*_ON_HOST, Field("text", "nonblank", True), Field("persistent", "bool", default=True)),
            named_host,
            new_id="comment_id",
        ),
        _on_recorded("delete-comment", "Delete a comment", operations.CommentDeleted, "comment"),
        OperatorCommand(
            "reschedule-check",
            "Ask for the next check of a host or service at a given time",
            operations.CheckRescheduled,
            (
                *_ON_HOST,
                Field("next_check", "instant", True),
                Field("forced", "bool", default=False),
            ),
            named_host,
        ),
    )
}
