"""Hypothesis strategies for events, derived from the Avro schema itself.

Deriving them from the schema (not from the Python classes) means a field added to
an ``.avsc`` file is exercised at once, with values in the range its Avro type allows.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from schemas.codec import record_to_event
from schemas.event import PAYLOAD_TYPES, Event
from schemas.payload import Payload
from schemas.registry import load_current_schema

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
site_names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
# No NUL: PostgreSQL text cannot hold it, so the codec refuses it (tested on its own).
texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)


def _named_types(schema: Any, found: dict[str, Any]) -> None:
    if isinstance(schema, dict):
        if "name" in schema and schema.get("type") in ("record", "enum", "fixed"):
            name = schema["name"]
            full = name if "." in name else f"{schema.get('namespace', 'sitelog')}.{name}"
            found[full] = schema
        for value in schema.values():
            _named_types(value, found)
    elif isinstance(schema, list):
        for item in schema:
            _named_types(item, found)


_SCHEMA = load_current_schema()
_NAMED: dict[str, Any] = {}
_named_types(_SCHEMA, _NAMED)


def avro_values(schema: Any) -> st.SearchStrategy[Any]:
    """Values fastavro accepts for an Avro type."""
    if isinstance(schema, list):
        return st.one_of(*[avro_values(s) for s in schema])
    if isinstance(schema, str):
        primitive = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": INT32,
            "long": INT64,
            "double": st.floats(allow_nan=False),
            "string": texts,
        }
        if schema in primitive:
            return primitive[schema]
        return avro_values(_NAMED[schema])
    kind = schema["type"]
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    if kind == "array":
        return st.lists(avro_values(schema["items"]), max_size=4)
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: avro_values(f["type"]) for f in schema["fields"]})
    return avro_values(kind)


def payload_records(cls: type[Payload]) -> st.SearchStrategy[dict[str, Any]]:
    return avro_values(cls.AVRO_NAME)


def events_of(cls: type[Payload]) -> st.SearchStrategy[Event]:
    """Events with a payload of class ``cls``; every envelope field drawn too."""
    return st.builds(
        lambda env, body: record_to_event({**env, "payload": (cls.AVRO_NAME, body)}),
        st.fixed_dictionaries(
            {
                "event_id": st.binary(min_size=16, max_size=16),
                "site": site_names,
                "origin": texts,
                "hlc": st.integers(0, 2**63 - 1),
                "event_time": INT64,
                "subject": texts,
                "target_site": site_names,
            }
        ),
        payload_records(cls),
    )


events = st.one_of(*[events_of(cls) for cls in PAYLOAD_TYPES])
