"""Nagios 4 external command lines: parse them and format them (``command_payloads`` reads them).

This module is responsible for the fourteen external commands that carry what a site
log replicates (passive check results, acknowledgements, downtimes, comments), in Nagios
4's argument order, e.g. ``[1700000000] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;0;OK``.
It does no I/O. Where Nagios is lenient this module is strict, so that a mistyped line is
reported instead of acted on:

* The line is ``[digits] NAME;args`` exactly; the name is matched ignoring case (as
  Nagios does) and kept in upper case.
* Every field must be present, also an empty plugin output's (Nagios would accept
  ``...;0`` with no output field; here a line cut short is more likely a bug).
* The last field of a command that ends in text (plugin output, comment) is the rest of
  the line, ``;`` included, as in Nagios. Plugin output may be empty (Nagios: "may be
  empty"); comments may not: Nagios drops acknowledgements, downtimes and comments
  whose comment is empty.
* Numbers are ASCII digits within the field's range (Nagios's ``atoi`` reads ``x`` as 0).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from schemas.errors import InvalidEventError
from schemas.types import MICROS_PER_SECOND

#: The largest number of seconds whose microseconds still fit an Avro long.
MAX_SECONDS = (2**63 - 1) // MICROS_PER_SECOND


class Kind(enum.Enum):
    """What a field holds; the value is how error messages describe it."""

    NAME = "a non-empty name without ';'"
    HOST_CODE = "0, 1 or 2"
    SERVICE_CODE = "0, 1, 2 or 3"
    FLAG = "0 or 1"
    STICKY = "0, 1 or 2"
    NUMBER = f"a whole number from 0 to {MAX_SECONDS}"
    OUTPUT = "plugin output (the rest of the line, may be empty)"
    TEXT = "a non-empty text (the rest of the line)"


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    kind: Kind


_INT_RANGES = {
    Kind.HOST_CODE: range(3),
    Kind.SERVICE_CODE: range(4),
    Kind.FLAG: range(2),
    Kind.STICKY: range(3),
    Kind.NUMBER: range(MAX_SECONDS + 1),
}
_REST_OF_LINE = (Kind.OUTPUT, Kind.TEXT)
DIGITS = re.compile(r"[0-9]{1,20}")
# A line is one command: these would end it early in Nagios, or cannot be stored.
_FORBIDDEN = ("\n", "\r", "\x00")

_HOST = Arg("host", Kind.NAME)
_SERVICE = Arg("service", Kind.NAME)
_AUTHOR = Arg("author", Kind.NAME)
_COMMENT = Arg("comment", Kind.TEXT)
_ACK = (Arg("sticky", Kind.STICKY), Arg("notify", Kind.FLAG), Arg("persistent", Kind.FLAG))
_DOWNTIME = (
    *(Arg(name, Kind.NUMBER) for name in ("start_time", "end_time")),
    Arg("fixed", Kind.FLAG),
    *(Arg(name, Kind.NUMBER) for name in ("trigger_id", "duration")),
    _AUTHOR,
    _COMMENT,
)

COMMANDS: dict[str, tuple[Arg, ...]] = {
    "PROCESS_HOST_CHECK_RESULT": (
        _HOST,
        Arg("return_code", Kind.HOST_CODE),
        Arg("plugin_output", Kind.OUTPUT),
    ),
    "PROCESS_SERVICE_CHECK_RESULT": (
        _HOST,
        _SERVICE,
        Arg("return_code", Kind.SERVICE_CODE),
        Arg("plugin_output", Kind.OUTPUT),
    ),
    "ACKNOWLEDGE_HOST_PROBLEM": (_HOST, *_ACK, _AUTHOR, _COMMENT),
    "ACKNOWLEDGE_SVC_PROBLEM": (_HOST, _SERVICE, *_ACK, _AUTHOR, _COMMENT),
    "REMOVE_HOST_ACKNOWLEDGEMENT": (_HOST,),
    "REMOVE_SVC_ACKNOWLEDGEMENT": (_HOST, _SERVICE),
    "SCHEDULE_HOST_DOWNTIME": (_HOST, *_DOWNTIME),
    "SCHEDULE_SVC_DOWNTIME": (_HOST, _SERVICE, *_DOWNTIME),
    "DEL_HOST_DOWNTIME": (Arg("downtime_id", Kind.NUMBER),),
    "DEL_SVC_DOWNTIME": (Arg("downtime_id", Kind.NUMBER),),
    "ADD_HOST_COMMENT": (_HOST, Arg("persistent", Kind.FLAG), _AUTHOR, _COMMENT),
    "ADD_SVC_COMMENT": (_HOST, _SERVICE, Arg("persistent", Kind.FLAG), _AUTHOR, _COMMENT),
    "DEL_HOST_COMMENT": (Arg("comment_id", Kind.NUMBER),),
    "DEL_SVC_COMMENT": (Arg("comment_id", Kind.NUMBER),),
}
SUPPORTED = (
    "PROCESS_{HOST,SERVICE}_CHECK_RESULT, ACKNOWLEDGE_{HOST,SVC}_PROBLEM, "
    "REMOVE_{HOST,SVC}_ACKNOWLEDGEMENT, SCHEDULE_{HOST,SVC}_DOWNTIME, DEL_{HOST,SVC}_DOWNTIME, "
    "ADD_{HOST,SVC}_COMMENT, DEL_{HOST,SVC}_COMMENT"
)


@dataclass(frozen=True, slots=True)
class ExternalCommand:
    """One command line, its arguments typed per ``COMMANDS`` (ints for numbers and flags).

    Only a command that can be written is made: anything else raises InvalidEventError.
    """

    timestamp: int
    name: str
    args: tuple[str | int, ...]

    def __post_init__(self) -> None:
        spec = _spec(self.name)
        if not _is_int(self.timestamp) or not 0 <= self.timestamp <= MAX_SECONDS:
            raise InvalidEventError(
                f"bad timestamp {self.timestamp!r}: expected seconds since the epoch"
            )
        if len(self.args) != len(spec):
            raise _count_error(self.name, spec, len(self.args))
        for arg, value in zip(spec, self.args, strict=True):
            if not _valid(arg.kind, value):
                raise _field_error(self.name, arg, value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid(kind: Kind, value: str | int) -> bool:
    if kind in _INT_RANGES:
        return _is_int(value) and value in _INT_RANGES[kind]
    if not isinstance(value, str) or any(char in value for char in _FORBIDDEN):
        return False
    if kind is Kind.NAME:
        return value != "" and ";" not in value
    return kind is Kind.OUTPUT or value != ""


def _spec(name: str) -> tuple[Arg, ...]:
    if name not in COMMANDS:
        raise InvalidEventError(f"unknown command {name!r} (supported: {SUPPORTED})")
    return COMMANDS[name]


def _count_error(name: str, spec: tuple[Arg, ...], got: int) -> InvalidEventError:
    fields = "field" if len(spec) == 1 else "fields"
    return InvalidEventError(
        f"{name}: expected {len(spec)} {fields} after the command name, got {got}"
    )


def _field_error(name: str, arg: Arg, got: str | int) -> InvalidEventError:
    return InvalidEventError(f"{name} field {arg.name!r}: expected {arg.kind.value}, got {got!r}")


def parse_command(line: str) -> ExternalCommand:
    """The command on ``line`` (a trailing newline or CR is fine), or InvalidEventError."""
    text = line.removesuffix("\n").removesuffix("\r")
    if not text.strip():
        raise InvalidEventError("empty line")
    for char in _FORBIDDEN:
        if char in text:
            raise InvalidEventError(f"unexpected {char!r} inside the line: one command per line")
    if not text.startswith("["):
        raise InvalidEventError(f"expected '[timestamp] COMMAND;...', got {text[:30]!r}")
    close = text.find("]")
    stamp = text[1:close] if close > 0 else ""
    if not DIGITS.fullmatch(stamp) or int(stamp) > MAX_SECONDS:
        shown = text[: close + 1] if close > 0 else text[:30]
        raise InvalidEventError(f"bad timestamp {shown!r}: expected [seconds since the epoch]")
    if text[close + 1 : close + 2] != " ":
        raise InvalidEventError("expected one space between the timestamp and the command name")
    name, semicolon, args = text[close + 2 :].partition(";")
    if not name:
        raise InvalidEventError("missing command name after the timestamp")
    key = name.upper()
    if key not in COMMANDS:
        raise InvalidEventError(f"unknown command {name!r} (supported: {SUPPORTED})")
    spec = COMMANDS[key]
    raws = _split_fields(key, spec, args if semicolon else None)
    typed = tuple(_parse_field(key, arg, raw) for arg, raw in zip(spec, raws, strict=True))
    return ExternalCommand(int(stamp), key, typed)


def _split_fields(name: str, spec: tuple[Arg, ...], args: str | None) -> list[str]:
    if args is None:
        raise _count_error(name, spec, 0)
    # Only a final text field may hold ';': it takes the rest of the line.
    rest_of_line = spec[-1].kind in _REST_OF_LINE
    raws = args.split(";", len(spec) - 1) if rest_of_line else args.split(";")
    if len(raws) != len(spec):
        raise _count_error(name, spec, len(raws))
    return raws


def _parse_field(name: str, arg: Arg, raw: str) -> str | int:
    if arg.kind in _INT_RANGES:
        if not DIGITS.fullmatch(raw) or int(raw) not in _INT_RANGES[arg.kind]:
            raise _field_error(name, arg, raw)
        return int(raw)
    if not _valid(arg.kind, raw):
        raise _field_error(name, arg, raw)
    return raw


def format_command(cmd: ExternalCommand) -> str:
    """The command line of ``cmd``, without a newline; ``parse_command`` reads it back."""
    return f"[{cmd.timestamp}] {cmd.name};" + ";".join(str(arg) for arg in cmd.args)
