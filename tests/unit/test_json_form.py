"""The JSON form of events: round trips, and one clear message for each kind of bad input."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given

from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.json_form import event_to_json, payload_from_json, payload_to_json
from schemas.types import ServiceState
from tests.support.strategies import events


@given(event=events)
def test_json_form_round_trips_through_orjson(event: Event) -> None:
    as_json = orjson.loads(orjson.dumps(event_to_json(event)))
    assert payload_from_json(as_json["type"], as_json["payload"]) == event.payload
    assert as_json["subject"] == event.subject


GOOD = {
    "host_name": "web01",
    "service_description": "HTTP",
    "state": "CRITICAL",
    "state_type": "HARD",
    "attempt": 3,
    "max_attempts": 3,
    "output": "connection refused",
    "check_time": 1_700_000_000_000_000,
}


def test_states_by_name_or_by_nagios_return_code() -> None:
    by_name = payload_from_json("ServiceCheckResult", GOOD)
    by_code = payload_from_json("ServiceCheckResult", {**GOOD, "state": 2})
    assert by_name == by_code
    assert by_name.state is ServiceState.CRITICAL  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("type_name", "fields", "message"),
    [
        ("Nope", GOOD, "unknown event type 'Nope'"),
        ("ServiceCheckResult", [], "'payload' must be a JSON object"),
        ("ServiceCheckResult", {**GOOD, "colour": 1}, "unknown field 'colour'"),
        (
            "ServiceCheckResult",
            {k: v for k, v in GOOD.items() if k != "output"},
            "missing field 'output'",
        ),
        ("ServiceCheckResult", {**GOOD, "state": "RED"}, "field 'state': 'RED' is not one of"),
        ("ServiceCheckResult", {**GOOD, "state": 9}, "field 'state': 9 is not one of"),
        ("ServiceCheckResult", {**GOOD, "attempt": "3"}, "field 'attempt': expected an integer"),
        ("ServiceCheckResult", {**GOOD, "attempt": True}, "field 'attempt': expected an integer"),
        (
            "HostDefined",
            {"host_name": "h", "site_name": "p", "groups": "g"},
            "field 'groups': expected a list of strings",
        ),
    ],
)
def test_bad_input_names_what_is_wrong(type_name: str, fields: object, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message.replace("(", r"\(")):
        payload_from_json(type_name, fields)


def test_non_finite_floats_travel_as_strings() -> None:
    # Found by hypothesis: orjson writes infinity as null, which then failed validation.
    for value, text in ((math.inf, "Infinity"), (-math.inf, "-Infinity")):
        fields = GOOD | {"latency": value}
        payload = payload_from_json("ServiceCheckResult", fields)
        as_json = orjson.loads(orjson.dumps(payload_to_json(payload)))
        assert as_json["latency"] == text
        assert payload_from_json("ServiceCheckResult", as_json) == payload
    nan = payload_from_json("ServiceCheckResult", GOOD | {"latency": "NaN"})
    assert math.isnan(nan.latency)  # type: ignore[attr-defined]
