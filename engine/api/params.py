"""Query parameters and request bodies: parsing and validation, no I/O.

Each parser takes the raw text (or JSON value) and its name, and either returns the
typed value or raises a 400 naming the parameter. Instants are microseconds since
the Unix epoch, given as an integer or as an RFC 3339 text
(``2026-11-22T10:00:00Z``); durations are microseconds.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from engine.api.errors import ApiError, bad_request
from engine.times import is_number, micros_of
from schemas.types import now_us

#: The biggest page a list answers, and the default one.
MAX_LIMIT, DEFAULT_LIMIT = 1000, 50
#: The longest text parameter (names, searches, cursors).
MAX_PARAMETER = 1024
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_MAX_INSTANT = 2**62  # microseconds; bigints beyond are not instants anybody means
_QUOTED = 40  # characters of a refused value a message quotes


def quoted(value: str) -> str:
    """``value`` as an error message quotes it: its repr (so one line, whatever it holds),
    cut short when long, so a huge parameter does not make a huge message."""
    return repr(value) if len(value) <= _QUOTED else repr(value[:_QUOTED]) + "..."


def single_values(query: Mapping[str, str]) -> None:
    """400 if a parameter is given twice: every parameter has one value (a list is
    comma-separated), and silently taking the first would hide the mistake."""
    # The items of a multidict (request.query) hold a key as often as it is given.
    key, times = Counter(k for k, _ in query.items()).most_common(1)[0] if query else ("", 0)
    if times > 1:
        raise bad_request(
            f"parameter {quoted(key)}: given {times} times; give it once"
            " (a list is comma-separated)"
        )


def text(value: str, name: str, *, max_length: int = MAX_PARAMETER, what: str = "parameter") -> str:
    if "\x00" in value:
        raise bad_request(f"{what} {name!r}: NUL characters are not allowed")
    if len(value) > max_length:
        raise bad_request(f"{what} {name!r}: longer than {max_length} characters")
    return value


def boolean(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise bad_request(f"parameter {name!r}: {quoted(value)} is not true or false")


def integer(value: str, name: str, *, minimum: int, maximum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"parameter {name!r}: {quoted(value)} is not an integer") from None
    if not minimum <= number <= maximum:
        raise bad_request(f"parameter {name!r}: {number} is not in [{minimum}, {maximum}]")
    return number


def limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    return DEFAULT_LIMIT if raw is None else integer(raw, "limit", minimum=1, maximum=MAX_LIMIT)


def instant(value: Any, name: str) -> int:
    """An instant in microseconds, from an integer (or its text) or an RFC 3339 text."""
    if isinstance(value, bool):
        raise bad_request(f"{name!r}: expected an instant, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            number = _rfc3339(value, name)
    else:
        raise bad_request(f"{name!r}: expected an instant (microseconds or RFC 3339 text)")
    if not 0 <= number < _MAX_INSTANT:
        raise bad_request(f"{name!r}: {number} is not an instant in microseconds since 1970")
    return number


def _rfc3339(value: str, name: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(
            f"{name!r}: {quoted(value)} is neither microseconds nor an RFC 3339 time"
        ) from None
    if moment.tzinfo is None:
        raise bad_request(f"{name!r}: {quoted(value)} has no time zone (add Z or +HH:MM)")
    return micros_of(moment)


def choices(value: str, name: str, allowed: Mapping[str, int]) -> list[int]:
    """A comma-separated list of names or codes (``CRITICAL,WARNING`` or ``2,1``)."""
    picked = []
    for part in value.split(","):
        word = part.strip().upper()
        if word in allowed:
            picked.append(allowed[word])
        # is_number, not str.isdigit, which also takes digits like '²' that int refuses.
        elif is_number(word) and int(word) in allowed.values():
            picked.append(int(word))
        else:
            raise bad_request(
                f"parameter {name!r}: {quoted(part.strip())} is not one of {', '.join(allowed)}"
            )
    return sorted(set(picked))


def names(value: str, name: str) -> list[str]:
    """A comma-separated list of names (sites, labels)."""
    items = [text(p.strip(), name) for p in value.split(",") if p.strip()]
    if not items:
        raise bad_request(f"parameter {name!r}: empty list")
    return items


def at(query: Mapping[str, str]) -> int:
    """The instant time-dependent answers are evaluated at: ``at``, or now."""
    raw = query.get("at")
    return now_us() if raw is None else instant(raw, "at")


def optional_text(query: Mapping[str, str], name: str) -> str | None:
    raw = query.get(name)
    return None if raw is None else text(raw, name)


def optional_names(query: Mapping[str, str], name: str) -> list[str] | None:
    raw = query.get(name)
    return None if raw is None else names(raw, name)


def encode_cursor(sort: str, key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, list(key)])).decode().rstrip("=")


def decode_cursor(value: str, sort: str, kinds: tuple[type, ...]) -> tuple[Any, ...]:
    """The sort key a cursor stands for; 400 if it is not one of ours for this sort."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        cursor_sort, key = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise bad_request("parameter 'cursor': not a cursor this API gave") from None
    if cursor_sort != sort:
        raise bad_request(
            f"parameter 'cursor': it was given for sort {cursor_sort!r}, not {sort!r}"
        )
    if (
        not isinstance(key, list)
        or len(key) != len(kinds)
        or not all(
            isinstance(v, k) and not isinstance(v, bool) for v, k in zip(key, kinds, strict=True)
        )
        or any(isinstance(v, str) and "\x00" in v for v in key)
    ):
        raise bad_request("parameter 'cursor': not a cursor this API gave")
    return tuple(key)


def encode_event_cursor(sort: str, instant: int, event_id: bytes) -> str:
    """The cursor of a list ordered by an instant, then by event id (history, audit)."""
    return encode_cursor(sort, (instant, event_id.hex()))


def decode_event_cursor(value: str, sort: str) -> tuple[int, bytes]:
    """The (instant, event id) an :func:`encode_event_cursor` cursor stands for; 400 if it
    is not one of ours for this sort."""
    instant, event_hex = decode_cursor(value, sort, (int, str))
    try:
        return instant, bytes.fromhex(event_hex)
    except ValueError:
        raise bad_request("parameter 'cursor': not a cursor this API gave") from None


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise bad_request("body must be a JSON object")
    return value


def unsupported_media(content_type: str) -> ApiError:
    return ApiError(
        415, "unsupported-media-type", f"expected application/json, got {quoted(content_type)}"
    )
