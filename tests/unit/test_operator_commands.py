"""The operator command declarations: they match the payloads, build events the codec
round-trips, refuse bad values in one line naming the field, and the write path prepares
them with the subject's owning site, without a broker or a database."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, cast

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.errors import OutsideSubsetError, UnknownSubjectError
from engine.log.writer import SiteLogWriter
from engine.node.config import NodeRole
from engine.node.operator_commands import (
    MAX_MICROS,
    MAX_TEXT,
    OPERATOR_COMMANDS,
    Field,
    OperatorCommand,
    Subject,
    named_host,
)
from engine.node.write_path import WritePath
from projections import fold
from projections.state import Changes, ProjectionState
from schemas.codec import Codec
from schemas.configuration import HostDefined
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.operations import DowntimeCancelled, DowntimeScheduled
from schemas.payload import Payload
from tests.support.strategies import texts

CODEC = Codec()
DECLARED = list(OPERATOR_COMMANDS.values())
SUBJECT_FIELDS = {"host_name", "service_description"}


def payload_fields(command: OperatorCommand) -> set[str]:
    return {f.name for f in dataclasses.fields(command.payload)}  # type: ignore[arg-type]


@pytest.mark.parametrize("command", DECLARED, ids=lambda c: c.name)
def test_fields_are_the_payload_fields(command: OperatorCommand) -> None:
    given_names = [f.payload_name for f in command.fields]
    assert len(given_names) == len(set(given_names)), "a payload field is filled twice"
    assert set(given_names) <= payload_fields(command), "a field the payload does not have"
    made = SUBJECT_FIELDS | ({command.new_id} if command.new_id else set())
    assert command.new_id not in given_names, "a new id is made, never given"
    assert set(given_names) | made == payload_fields(command), "a payload field nobody fills"
    if command.subject is named_host:
        assert {"host", "service"} <= {f.name for f in command.fields}


_KINDS: dict[str, st.SearchStrategy[Any]] = {
    "text": texts,
    "nonblank": texts.filter(str.strip),
    "bool": st.booleans(),
    "instant": st.integers(0, MAX_MICROS - 1),
    "micros": st.integers(0, MAX_MICROS - 1),
}


def field_value(field: Field) -> st.SearchStrategy[Any]:
    """A valid value of the field; an optional field may also be absent (None)."""
    value = _KINDS[field.kind]
    return value if field.required or field.kind == "nonblank" else st.none() | value


def given_values(command: OperatorCommand) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({f.name: field_value(f) for f in command.fields}).map(
        lambda drawn: {k: v for k, v in drawn.items() if v is not None}
    )


@pytest.mark.parametrize("command", DECLARED, ids=lambda c: c.name)
@given(data=st.data())
@settings(max_examples=60)
def test_valid_values_build_a_payload_the_codec_round_trips(
    command: OperatorCommand, data: st.DataObject
) -> None:
    values_given = data.draw(given_values(command))
    if command.name == "schedule-downtime":  # the rules between its fields
        assume(values_given["end_time"] > values_given["start_time"])
        assume(values_given.get("fixed", True) or values_given.get("duration", 0) > 0)
    values = command.values(values_given)
    subject = data.draw(st.builds(Subject, texts, st.none() | texts.filter(bool)))
    payload = command.build(values, subject)

    assert (payload.host_name, payload.service_description) == (
        subject.host_name,
        subject.service_description,
    )
    for field in command.fields:
        if field.payload_name not in SUBJECT_FIELDS:
            assert getattr(payload, field.payload_name) == values[field.name], field.name
    if command.new_id:
        assert uuid.UUID(getattr(payload, command.new_id)).version == 4
    event = Event.create(payload, site="paris", origin="paris-1", clock=HybridLogicalClock())
    assert CODEC.decode(CODEC.encode(event)) == event


START = 1_700_000_000_000_000
EXAMPLES: dict[str, dict[str, Any]] = {
    "acknowledge": {"host": "web-1", "author": "alice"},
    "add-comment": {"host": "web-1", "author": "alice", "text": "disk ordered"},
    "schedule-downtime": {
        "host": "web-1",
        "author": "alice",
        "start_time": START,
        "end_time": START + 1,
    },
    "cancel-downtime": {"downtime_id": "d-1", "author": "alice"},
    "reschedule-check": {"host": "web-1", "author": "alice", "next_check": START},
}


@pytest.mark.parametrize(
    ("name", "change", "field"),
    [
        ("acknowledge", {"author": ""}, "author"),
        ("acknowledge", {"author": " \t"}, "author"),
        ("acknowledge", {"author": None}, "author"),
        ("acknowledge", {"host": None}, "host"),
        ("acknowledge", {"colour": 1}, "colour"),
        ("acknowledge", {"sticky": "yes"}, "sticky"),
        ("acknowledge", {"comment": "a\x00b"}, "comment"),
        ("acknowledge", {"comment": "x" * (MAX_TEXT + 1)}, "comment"),
        ("acknowledge", {"expire_time": True}, "expire_time"),
        ("add-comment", {"text": "  "}, "text"),
        ("schedule-downtime", {"end_time": START}, "end_time"),
        ("schedule-downtime", {"end_time": START - 1}, "end_time"),
        ("schedule-downtime", {"fixed": False}, "duration"),
        ("schedule-downtime", {"fixed": False, "duration": 0}, "duration"),
        ("schedule-downtime", {"duration": -1}, "duration"),
        ("cancel-downtime", {"downtime_id": 5}, "downtime_id"),
        ("reschedule-check", {"next_check": MAX_MICROS}, "next_check"),
        ("reschedule-check", {"next_check": "tomorrow"}, "next_check"),
    ],
)
def test_each_refusal_is_one_line_naming_the_field(
    name: str, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidEventError, match=rf"^field '{field}': [^\n]+$"):
        OPERATOR_COMMANDS[name].values(EXAMPLES[name] | change)


def test_caller_defaults_and_instant_reader_fill_in() -> None:
    command = OPERATOR_COMMANDS["acknowledge"]
    values = command.values(
        {"host": "web-1", "service": "", "expire_time": "later"},
        defaults={"author": "operator"},
        read_instant=lambda value, name: START,
    )
    assert values["author"] == "operator"
    assert values["service"] is None  # an empty service is the host
    assert values["expire_time"] == START
    assert (values["sticky"], values["notify"]) == (False, True)  # the declared defaults
    given_author = command.values({"host": "web-1", "author": "alice"}, defaults={"author": "op"})
    assert given_author["author"] == "alice"


def projected(*payloads: Payload) -> ProjectionState:
    state = ProjectionState()
    for payload in payloads:
        event = Event.create(payload, site="central", origin="c-1", clock=HybridLogicalClock())
        fold.apply(state, event, Changes())
    return state


def write_path(state: ProjectionState, *, role: NodeRole, site: str) -> WritePath:
    # prepare() never appends, so no writer is needed.
    return WritePath(
        origin=f"{site}-1",
        role=role,
        site=site,
        writer=cast(SiteLogWriter, None),
        state=lambda: state,
    )


DOWNTIME = DowntimeScheduled(
    downtime_id="d-1",
    host_name="web-1",
    service_description="cpu",
    start_time=START,
    end_time=START + 1,
    author="alice",
)
STATE = projected(HostDefined(host_name="web-1", site_name="paris"), DOWNTIME)


def test_prepare_finds_the_subject_and_its_site_once() -> None:
    on_central = write_path(STATE, role=NodeRole.CENTRAL, site="central")
    cancel = OPERATOR_COMMANDS["cancel-downtime"]
    prepared = on_central.prepare(cancel, cancel.values({"downtime_id": "d-1", "author": "bob"}))
    assert prepared.target_site == "paris"
    assert prepared.payload == DowntimeCancelled(
        downtime_id="d-1", host_name="web-1", service_description="cpu", author="bob"
    )
    schedule = OPERATOR_COMMANDS["schedule-downtime"]
    values = schedule.values(EXAMPLES["schedule-downtime"])
    first, second = (on_central.prepare(schedule, values).payload for _ in range(2))
    assert isinstance(first, DowntimeScheduled) and isinstance(second, DowntimeScheduled)
    assert first.downtime_id != second.downtime_id  # each prepared downtime is a new one


@pytest.mark.parametrize(
    ("name", "values", "role", "site", "error", "message"),
    [
        ("acknowledge", {"host": "db-1"}, NodeRole.CENTRAL, "central", UnknownSubjectError, "host"),
        (
            "cancel-downtime",
            {"downtime_id": "d-9"},
            NodeRole.CENTRAL,
            "central",
            UnknownSubjectError,
            "unknown downtime 'd-9'",
        ),
        (
            "delete-comment",
            {"comment_id": "c-9"},
            NodeRole.CENTRAL,
            "central",
            UnknownSubjectError,
            "unknown comment 'c-9'",
        ),
        (
            "acknowledge",
            {"host": "web-1"},
            NodeRole.REMOTE,
            "lyon",
            OutsideSubsetError,
            "belongs to site 'paris'",
        ),
    ],
)
def test_prepare_refuses_unknown_subjects_and_others_subsets(
    name: str,
    values: dict[str, Any],
    role: NodeRole,
    site: str,
    error: type[Exception],
    message: str,
) -> None:
    command = OPERATOR_COMMANDS[name]
    with pytest.raises(error, match=message):
        write_path(STATE, role=role, site=site).prepare(
            command, command.values(values | {"author": "alice"})
        )
