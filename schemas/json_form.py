"""The JSON form of events: what `sitelog produce` reads and `sitelog log inspect` prints.

One object per event: ``{"type": "ServiceCheckResult", "payload": {...}}`` plus,
when printed, the envelope (``event_id`` as a UUID string, ``site``, ``origin``,
``hlc``, ``event_time``, ``subject``, ``target_site``). Enums are their names (a
Nagios state may also be given as its return code); lists stand for tuples; a float
that is not finite is the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``.
Validation names the offending field, so a bad input line gets one clear message.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import typing
from collections.abc import Callable, Mapping
from typing import Any

from schemas.errors import InvalidEventError
from schemas.event import PAYLOAD_BY_NAME, Event
from schemas.payload import Payload
from schemas.types import event_id_str

_Check = Callable[[str, Any], Any]
# JSON has no NaN or infinity (orjson writes null): they travel as these strings.
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_NON_FINITE_NAMES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _expect(kind: type | tuple[type, ...], label: str) -> _Check:
    def check(name: str, value: Any) -> Any:
        # bool is an int in Python; a JSON true where a number is expected is a mistake.
        if isinstance(value, bool) and kind is not bool:
            raise InvalidEventError(f"field {name!r}: expected {label}, got a boolean")
        if not isinstance(value, kind):
            raise InvalidEventError(f"field {name!r}: expected {label}, got {type(value).__name__}")
        return value

    return check


def _enum_check(cls: type[enum.Enum]) -> _Check:
    by_code = {m.value: m for m in cls} if issubclass(cls, enum.IntEnum) else {}

    def check(name: str, value: Any) -> Any:
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls.__members__[value.upper()]
        if isinstance(value, int) and not isinstance(value, bool) and value in by_code:
            return by_code[value]
        allowed = ", ".join(cls.__members__)
        raise InvalidEventError(f"field {name!r}: {value!r} is not one of {allowed}")

    return check


def _str_tuple(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidEventError(f"field {name!r}: expected a list of strings")
    return tuple(value)


def _checker(hint: Any) -> _Check:
    args = typing.get_args(hint)
    if type(None) in args:
        inner = _checker(next(a for a in args if a is not type(None)))
        return lambda name, value: None if value is None else inner(name, value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_check(hint)
    if typing.get_origin(hint) is tuple:
        return _str_tuple
    if hint is float:
        float_check = _expect((int, float), "a number")
        return lambda name, value: (
            _NON_FINITE[value]
            if isinstance(value, str) and value in _NON_FINITE
            else float(float_check(name, value))
        )
    labels = {str: "a string", int: "an integer", bool: "a boolean"}
    return _expect(hint, labels[hint])


def _field_checks(cls: type[Payload]) -> tuple[dict[str, _Check], frozenset[str]]:
    hints = typing.get_type_hints(cls)
    checks: dict[str, _Check] = {}
    required = set()
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        checks[field.name] = _checker(hints[field.name])
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            required.add(field.name)
    return checks, frozenset(required)


_CHECKS = {name: _field_checks(cls) for name, cls in PAYLOAD_BY_NAME.items()}


def payload_from_json(type_name: Any, fields: Any) -> Payload:
    """Build a payload from its JSON form, or raise InvalidEventError naming what is wrong."""
    if not isinstance(type_name, str) or type_name not in PAYLOAD_BY_NAME:
        raise InvalidEventError(f"unknown event type {type_name!r}")
    if not isinstance(fields, Mapping):
        raise InvalidEventError(f"{type_name}: 'payload' must be a JSON object")
    checks, required = _CHECKS[type_name]
    unknown = sorted(set(fields) - set(checks))
    if unknown:
        raise InvalidEventError(f"{type_name}: unknown field {unknown[0]!r}")
    missing = sorted(required - set(fields))
    if missing:
        raise InvalidEventError(f"{type_name}: missing field {missing[0]!r}")
    try:
        values = {name: checks[name](name, value) for name, value in fields.items()}
    except InvalidEventError as exc:
        raise InvalidEventError(f"{type_name}: {exc}") from None
    return PAYLOAD_BY_NAME[type_name](**values)


def payload_to_json(payload: Payload) -> dict[str, Any]:
    """The JSON form of a payload's fields (enums by name, tuples as lists)."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(payload):  # type: ignore[arg-type]
        value = getattr(payload, field.name)
        if isinstance(value, enum.Enum):
            value = value.name
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = _NON_FINITE_NAMES[str(value)]
        out[field.name] = value
    return out


def event_to_json(event: Event) -> dict[str, Any]:
    """The JSON form of a whole event, envelope included."""
    return {
        "event_id": event_id_str(event.event_id),
        "site": event.site,
        "origin": event.origin,
        "hlc": event.hlc,
        "event_time": event.event_time,
        "subject": event.subject,
        "target_site": event.target_site,
        "type": event.type_name,
        "payload": payload_to_json(event.payload),
    }
