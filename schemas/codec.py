"""Avro single-object encoding of events: ``C3 01`` + 8-byte fingerprint + Avro body.

Encoding and decoding do no I/O. Decoding resolves a record written with any known
writer schema to the current reader schema (Avro schema resolution); a record with a
bad header, an unknown fingerprint or a body that does not decode raises
:class:`DecodeError`, which the site log reader turns into a dead letter.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
import typing
from collections.abc import Callable, Mapping
from functools import partial
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.avro_reader import NulError, Read, compile_reader
from schemas.avro_writer import Write, compile_writer
from schemas.errors import DecodeError, InvalidEventError
from schemas.event import PAYLOAD_TYPES, Event
from schemas.payload import Payload
from schemas.registry import SchemaRegistry, WriterSchema

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8

_Convert = Callable[[Any], Any]


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else hint), True
    return hint, False


def _field_converters(cls: type[Payload]) -> tuple[dict[str, _Convert], dict[str, _Convert]]:
    """Per-field conversions between Python values and fastavro values, for fields that need one.

    Enums travel as their symbol name and tuples as lists; everything else maps 1:1.
    Built once per class, so encoding and decoding stay a dict comprehension.
    """
    to_avro: dict[str, _Convert] = {}
    from_avro: dict[str, _Convert] = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint, optional = _unwrap_optional(hints[field.name])
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            members: Mapping[str, Any] = hint.__members__
            if optional:
                to_avro[field.name] = lambda v: None if v is None else v.name
                from_avro[field.name] = partial(_optional_member, members)
            else:
                to_avro[field.name] = lambda v: v.name
                from_avro[field.name] = members.__getitem__
        elif typing.get_origin(hint) is tuple:
            to_avro[field.name] = list
            from_avro[field.name] = tuple
    return to_avro, from_avro


def _optional_member(members: Mapping[str, Any], symbol: str | None) -> Any:
    return None if symbol is None else members[symbol]


class _PayloadMapping:
    """How one payload class maps to and from its Avro record."""

    __slots__ = ("cls", "field_names", "from_avro", "text_fields", "to_avro")

    def __init__(self, cls: type[Payload]) -> None:
        self.cls = cls
        self.field_names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        self.to_avro, self.from_avro = _field_converters(cls)
        hints = typing.get_type_hints(cls)
        self.text_fields = tuple(
            name
            for name in self.field_names
            if _unwrap_optional(hints[name])[0] is str or typing.get_origin(hints[name]) is tuple
        )

    def nul_field(self, record: dict[str, Any]) -> str | None:
        """The first text field holding a NUL character (PostgreSQL text cannot store one)."""
        for name in self.text_fields:
            value = record[name]
            if value is None:
                continue
            if isinstance(value, str):
                if "\x00" in value:
                    return name
            elif any("\x00" in item for item in value):
                return name
        return None

    def record(self, payload: Payload) -> dict[str, Any]:
        record = {name: getattr(payload, name) for name in self.field_names}
        for name, convert in self.to_avro.items():
            record[name] = convert(record[name])
        return record

    def payload(self, record: dict[str, Any]) -> Payload:
        for name, convert in self.from_avro.items():
            record[name] = convert(record[name])
        return self.cls(**record)


_BY_CLASS = {cls: _PayloadMapping(cls) for cls in PAYLOAD_TYPES}
_BY_AVRO_NAME = {cls.AVRO_NAME: mapping for cls, mapping in _BY_CLASS.items()}


def event_to_record(event: Event) -> dict[str, Any]:
    """The fastavro record of an event (payload as a ``(name, record)`` union tuple)."""
    mapping = _BY_CLASS[type(event.payload)]
    return {
        "event_id": event.event_id,
        "site": event.site,
        "origin": event.origin,
        "hlc": event.hlc,
        "event_time": event.event_time,
        "subject": event.subject,
        "target_site": event.target_site,
        "payload": (mapping.cls.AVRO_NAME, mapping.record(event.payload)),
    }


_ENVELOPE_TEXT = ("site", "origin", "subject", "target_site")


def nul_field(record: dict[str, Any]) -> str | None:
    """The first text field of an event record holding a NUL character, if any."""
    for name in _ENVELOPE_TEXT:
        if "\x00" in record[name]:
            return name
    type_name, body = record["payload"]
    found = _BY_AVRO_NAME[type_name].nul_field(body)
    return None if found is None else f"payload.{found}"


def record_to_event(record: dict[str, Any]) -> Event:
    """The event of a fastavro record read with ``return_record_name=True``."""
    name, body = record["payload"]
    return Event(
        event_id=record["event_id"],
        site=record["site"],
        origin=record["origin"],
        hlc=record["hlc"],
        event_time=record["event_time"],
        subject=record["subject"],
        target_site=record["target_site"],
        payload=_BY_AVRO_NAME[name].payload(body),
    )


_CLASSES: dict[str, type] = {cls.AVRO_NAME: cls for cls in PAYLOAD_TYPES} | {"sitelog.Event": Event}
_COMPILED: dict[bytes, tuple[Read, Write]] = {}


def _compiled(schema: WriterSchema) -> tuple[Read, Write]:
    """The compiled reader and writer of a schema, generated once per process (tens of ms)."""
    if schema.fingerprint not in _COMPILED:
        _COMPILED[schema.fingerprint] = (
            compile_reader(schema.parsed, _CLASSES),
            compile_writer(schema.parsed, _CLASSES),
        )
    return _COMPILED[schema.fingerprint]


class Codec:
    """Encodes events with the current schema; decodes any known writer schema."""

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry or SchemaRegistry.default()
        self._current = self.registry.current
        self._header = MAGIC + self._current.fingerprint
        self._read, self._write = _compiled(self._current)

    @property
    def fingerprint(self) -> bytes:
        return self._current.fingerprint

    def encode(self, event: Event) -> bytes:
        """The single-object encoding of ``event``; InvalidEventError if a field is wrong."""
        out = bytearray(self._header)
        try:
            self._write(out, event)
        except InvalidEventError as exc:
            raise InvalidEventError(f"{event.type_name}: {exc}") from None
        except (TypeError, ValueError, AttributeError, OverflowError, struct.error) as exc:
            raise InvalidEventError(f"cannot encode {event.type_name}: {exc}") from exc
        return bytes(out)

    def encode_with_fastavro(self, event: Event) -> bytes:
        """``encode`` through fastavro's generic writer: the reference the compiled one matches."""
        buf = BytesIO()
        buf.write(self._header)
        schemaless_writer(buf, self._current.parsed, event_to_record(event))
        return buf.getvalue()

    def decode(self, data: bytes) -> Event:
        """The event in ``data``, resolved to the current schema; DecodeError if it is not one."""
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise DecodeError("bad-magic", "not an Avro single-object encoded record")
        fingerprint = data[2:HEADER_SIZE]
        writer = self.registry.writer(fingerprint)
        if writer is None:
            raise DecodeError(
                "unknown-fingerprint", f"no known schema has fingerprint {fingerprint.hex()}"
            )
        if writer is self._current:
            return self._decode_current(data)
        return self.decode_with_fastavro(data, writer)

    def _decode_current(self, data: bytes) -> Event:
        try:
            event, end = self._read(data, HEADER_SIZE)
        except NulError as exc:
            raise DecodeError("bad-value", f"field {exc.path!r} contains a NUL character") from None
        except Exception as exc:  # a corrupt body fails in many ways
            raise DecodeError("bad-body", f"{type(exc).__name__}: {exc}") from None
        if end != len(data):
            raise DecodeError("bad-body", f"{len(data) - end} trailing bytes after the record")
        return event  # type: ignore[no-any-return]

    def decode_with_fastavro(self, data: bytes, writer: WriterSchema | None = None) -> Event:
        """``decode`` through fastavro, resolving ``writer``'s records to the current schema."""
        writer = writer or self._current
        reader = None if writer is self._current else self._current.parsed
        buf = BytesIO(data)
        buf.seek(HEADER_SIZE)
        try:
            record: Any = schemaless_reader(buf, writer.parsed, reader, return_record_name=True)
            bad_field = nul_field(record)
            event = record_to_event(record)
        except Exception as exc:  # fastavro raises many types on a corrupt body
            raise DecodeError("bad-body", f"{type(exc).__name__}: {exc}") from None
        if bad_field is not None:
            raise DecodeError("bad-value", f"field {bad_field!r} contains a NUL character")
        if buf.tell() != len(data):
            raise DecodeError(
                "bad-body", f"{len(data) - buf.tell()} trailing bytes after the record"
            )
        return event
