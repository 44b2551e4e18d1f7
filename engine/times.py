"""Instants given on the command line: ISO 8601 text or microseconds since the epoch."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from engine.errors import ConfigError
from schemas.types import MICROS_PER_SECOND

_DIGITS = re.compile(r"[0-9]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts ``²``, which ``int`` refuses)."""
    return _DIGITS.fullmatch(text.strip()) is not None


def parse_time(text: str, *, option: str = "time") -> int:
    """Microseconds since the epoch from ``2026-12-01T10:00:00Z`` (naive is UTC) or digits."""
    value = text.strip()
    if is_number(value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: expected ISO 8601 (2026-12-01T10:00:00Z) "
            "or microseconds since the epoch"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return micros_of(moment)


def micros_of(moment: datetime) -> int:
    """Microseconds since the epoch of a time-zone aware datetime, exactly (no float)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


def format_time(micros: int) -> str:
    """ISO 8601 in UTC with microseconds, ``Z`` suffix: what :func:`parse_time` reads back."""
    moment = datetime.fromtimestamp(micros // MICROS_PER_SECOND, UTC)
    return moment.replace(microsecond=micros % MICROS_PER_SECOND).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
