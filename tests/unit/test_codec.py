"""The codec: every event type round-trips; bad bytes of any kind become a DecodeError."""

from __future__ import annotations

import copy
import dataclasses
from io import BytesIO
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.poller import simulation
from schemas.avro_codegen import source_of
from schemas.codec import HEADER_SIZE, MAGIC, Codec, event_to_record
from schemas.errors import DecodeError, InvalidEventError
from schemas.event import PAYLOAD_TYPES, Event
from schemas.monitoring import ServiceCheckResult
from schemas.payload import Payload
from schemas.registry import SchemaRegistry, WriterSchema, load_current_schema, load_history
from tests.support.strategies import events, events_of

CODEC = Codec()


@pytest.mark.parametrize("cls", PAYLOAD_TYPES, ids=lambda c: c.__name__)
@given(data=st.data())
@settings(max_examples=40)
def test_every_event_type_round_trips(cls: type[Payload], data: st.DataObject) -> None:
    event = data.draw(events_of(cls))
    encoded = CODEC.encode(event)
    assert encoded[:2] == MAGIC
    assert encoded[2:HEADER_SIZE] == CODEC.fingerprint
    assert CODEC.decode(encoded) == event


@pytest.mark.parametrize("cls", PAYLOAD_TYPES, ids=lambda c: c.__name__)
@given(data=st.data())
@settings(max_examples=40)
def test_the_compiled_writer_writes_the_bytes_fastavro_writes(
    cls: type[Payload], data: st.DataObject
) -> None:
    event = data.draw(events_of(cls))
    assert CODEC.encode(event) == CODEC.encode_with_fastavro(event)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hlc": 1 << 63}, "field 'hlc': .* does not fit in 64 bits"),
        ({"event_id": b"short"}, "field 'event_id': expected 16 bytes"),
        ({"site": 12}, "cannot encode ServiceCheckResult"),
    ],
)
def test_the_compiled_writer_names_the_bad_field(change: dict[str, Any], message: str) -> None:
    event = next(iter(_sample_events()))
    with pytest.raises(InvalidEventError, match=message):
        CODEC.encode(dataclasses.replace(event, **change))


def _sample_events() -> list[Event]:
    return [e for e in simulation.events(10) if isinstance(e.payload, ServiceCheckResult)]


def _union_names(schema: dict[str, Any]) -> list[str]:
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    return [b if isinstance(b, str) else f"sitelog.{b['name']}" for b in payload["type"]]


def test_payload_classes_match_the_avro_union_and_fields() -> None:
    schema = load_current_schema()
    assert _union_names(schema) == [cls.AVRO_NAME for cls in PAYLOAD_TYPES]
    records = {}
    for branch in next(f for f in schema["fields"] if f["name"] == "payload")["type"]:
        if isinstance(branch, dict):
            records[f"sitelog.{branch['name']}"] = branch
    for cls in PAYLOAD_TYPES:
        avro_fields = [f["name"] for f in records[cls.AVRO_NAME]["fields"]]
        class_fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        assert class_fields == avro_fields, cls.__name__


def test_current_schema_is_frozen_in_history() -> None:
    current = WriterSchema.from_json(load_current_schema())
    frozen = {w.fingerprint for w in load_history()}
    assert current.fingerprint in frozen, (
        "the Avro schema changed: run `python -m schemas.registry` to freeze the new version"
    )


def _older_schema() -> dict[str, Any]:
    """The current schema as it might have been one release ago.

    ServiceCheckResult had no ``latency`` nor ``poller`` (both have defaults now),
    and the union did not have the last payload type yet.
    """
    schema = copy.deepcopy(load_current_schema())
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    payload["type"] = payload["type"][:-1]
    for branch in payload["type"]:
        if isinstance(branch, dict) and branch["name"] == "ServiceCheckResult":
            branch["fields"] = [
                f for f in branch["fields"] if f["name"] not in ("latency", "poller")
            ]
    return schema


@given(event=events_of(ServiceCheckResult))
@settings(max_examples=30)
def test_record_of_an_older_schema_decodes_under_the_current_one(event: Event) -> None:
    old = WriterSchema.from_json(_older_schema())
    assert old.fingerprint != CODEC.fingerprint
    record = event_to_record(event)
    for dropped in ("latency", "poller"):
        del record["payload"][1][dropped]
    body = BytesIO()
    schemaless_writer(body, old.parsed, record)
    data = MAGIC + old.fingerprint + body.getvalue()

    registry = SchemaRegistry.default()
    with pytest.raises(DecodeError) as unknown:
        Codec(registry).decode(data)
    assert unknown.value.reason == "unknown-fingerprint"

    registry.register(old)
    decoded = Codec(registry).decode(data)
    expected_payload = dataclasses.replace(event.payload, latency=0.0, poller="")  # type: ignore[type-var]
    assert decoded == dataclasses.replace(event, payload=expected_payload)


@given(data=st.binary(max_size=300))
def test_random_bytes_never_decode_silently(data: bytes) -> None:
    with pytest.raises(DecodeError) as err:
        CODEC.decode(data)
    assert err.value.reason in ("bad-magic", "unknown-fingerprint", "bad-body")


@given(body=st.binary(max_size=300))
def test_random_body_behind_a_valid_header_is_a_bad_body(body: bytes) -> None:
    try:
        event = CODEC.decode(MAGIC + CODEC.fingerprint + body)
    except DecodeError as err:
        assert err.reason == "bad-body"
    else:
        # Rarely random bytes are a valid record; then they must re-encode to themselves.
        assert CODEC.encode(event) == MAGIC + CODEC.fingerprint + body


@given(event=events, cut=st.integers(min_value=1))
def test_truncated_records_are_bad_bodies(event: Event, cut: int) -> None:
    encoded = CODEC.encode(event)
    truncated = encoded[: max(HEADER_SIZE, len(encoded) - cut)]
    with pytest.raises(DecodeError):
        CODEC.decode(truncated)


@given(event=events)
@settings(max_examples=20)
def test_trailing_garbage_is_a_bad_body(event: Event) -> None:
    with pytest.raises(DecodeError) as err:
        CODEC.decode(CODEC.encode(event) + b"\x00")
    assert err.value.reason == "bad-body"


@given(event=events, where=st.sampled_from(["origin", "payload"]))
@settings(max_examples=30)
def test_a_nul_character_is_refused_on_encode_and_a_dead_letter_on_decode(
    event: Event, where: str
) -> None:
    # PostgreSQL text cannot hold NUL: such an event would stop every projection.
    if where == "origin":
        poisoned = dataclasses.replace(event, origin=event.origin + "\x00")
    else:
        text_fields = [
            f.name
            for f in dataclasses.fields(event.payload)  # type: ignore[arg-type]
            if isinstance(getattr(event.payload, f.name), str)
        ]
        if not text_fields:
            return
        payload = dataclasses.replace(event.payload, **{text_fields[0]: "a\x00b"})  # type: ignore[type-var]
        poisoned = dataclasses.replace(event, payload=payload)
    with pytest.raises(InvalidEventError, match="contains a NUL character"):
        CODEC.encode(poisoned)
    record = event_to_record(poisoned)
    body = BytesIO()
    schemaless_writer(body, CODEC.registry.current.parsed, record)
    with pytest.raises(DecodeError) as err:
        CODEC.decode(MAGIC + CODEC.fingerprint + body.getvalue())
    assert err.value.reason == "bad-value"


@pytest.mark.parametrize("cls", PAYLOAD_TYPES, ids=lambda c: c.__name__)
@given(data=st.data())
@settings(max_examples=40)
def test_the_compiled_reader_reads_what_fastavro_reads(
    cls: type[Payload], data: st.DataObject
) -> None:
    encoded = CODEC.encode(data.draw(events_of(cls)))
    assert CODEC.decode(encoded) == CODEC.decode_with_fastavro(encoded)


def test_the_generated_source_can_be_read() -> None:
    source = source_of(CODEC._write)
    assert source.startswith("def write_sitelog_Event(out, record):")
    assert "def read_sitelog_ServiceCheckResult(data, pos):" in source_of(CODEC._read)
