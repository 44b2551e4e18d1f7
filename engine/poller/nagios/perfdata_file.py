"""Lines of Nagios host and service perfdata files: parse them, format them, make check results.

This module is responsible for the pnp4nagios-style template format, in which each line is
tab-separated ``KEY::VALUE`` fields, e.g. (tabs shown as ``→``)::

    DATATYPE::SERVICEPERFDATA→TIMET::1700000000→HOSTNAME::web1→SERVICEDESC::HTTP→
    SERVICEPERFDATA::time=0.1s;1;2;0;→SERVICECHECKCOMMAND::check_http→SERVICESTATE::OK→...

Templates vary, so keys this module does not read are ignored, and so are empty fields
(a stray tab). A field is split at its first ``::``: values may hold ``::`` but no tab or
line break. On a service line the host's state fields belong to another check and are
not read. It does no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from engine.poller.nagios.external_commands import MAX_SECONDS
from schemas.errors import InvalidEventError
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.types import MICROS_PER_SECOND, HostState, ServiceState, StateType

_DATATYPES: dict[str, Literal["host", "service"]] = {
    "HOSTPERFDATA": "host",
    "SERVICEPERFDATA": "service",
}
# Attempts are Avro ints in the check result schemas.
_MAX_ATTEMPT = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,20}")
# Python's float() also takes " 1", "1_0", "nan" and "inf"; perfdata files hold none of these.
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_UNSAFE = ("\t", "\n", "\r", "\x00")


@dataclass(frozen=True, slots=True)
class PerfdataLine:
    """One line; ``state`` is a HostState on host lines, a ServiceState on service lines."""

    kind: Literal["host", "service"]
    timet: int
    host: str
    service: str | None
    state: HostState | ServiceState
    state_type: StateType = StateType.HARD
    output: str = ""
    perfdata: str = ""
    attempt: int | None = None
    max_attempts: int | None = None
    execution_time: float | None = None
    latency: float | None = None
    check_command: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("host", "service"):
            raise InvalidEventError(f"perfdata line kind {self.kind!r}: expected host or service")
        if not _is_int(self.timet) or not 0 <= self.timet <= MAX_SECONDS:
            raise InvalidEventError(f"perfdata line timet {self.timet!r}: expected seconds")
        state_class = HostState if self.kind == "host" else ServiceState
        if type(self.state) is not state_class or not isinstance(self.state_type, StateType):
            raise InvalidEventError(f"{self.kind} perfdata line: bad state {self.state!r}")
        if (self.service is None) != (self.kind == "host"):
            raise InvalidEventError(f"{self.kind} perfdata line: bad service {self.service!r}")
        texts = (self.output, self.perfdata, self.check_command)
        for text in (self.host, self.service or "x", *texts):
            if not isinstance(text, str) or any(char in text for char in _UNSAFE):
                raise InvalidEventError(f"perfdata line text {text!r}: tab or line break in it")
        if not self.host or self.service == "":
            raise InvalidEventError("perfdata line: empty host or service name")
        for count in (self.attempt, self.max_attempts):
            if count is not None and not (_is_int(count) and 1 <= count <= _MAX_ATTEMPT):
                raise InvalidEventError(f"perfdata line attempt {count!r}: expected 1 or more")
        for seconds in (self.execution_time, self.latency):
            if seconds is not None and not _is_seconds(seconds):
                raise InvalidEventError(f"perfdata line time {seconds!r}: expected seconds >= 0")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and math.copysign(1.0, value) > 0  # also not -0.0, which would format as "-0.0"
    )


def _keys(prefix: str) -> dict[str, str]:
    """The template keys of one kind of line, by PerfdataLine field."""
    return {
        "perfdata": f"{prefix}PERFDATA",
        "check_command": f"{prefix}CHECKCOMMAND",
        "state": f"{prefix}STATE",
        "state_id": f"{prefix}STATEID",
        "state_type": f"{prefix}STATETYPE",
        "attempt": f"{prefix}ATTEMPT",
        "max_attempts": f"MAX{prefix}ATTEMPTS",
        "execution_time": f"{prefix}EXECUTIONTIME",
        "latency": f"{prefix}LATENCY",
        "output": f"{prefix}OUTPUT",
    }


_KEYS = {"host": _keys("HOST"), "service": _keys("SERVICE")}
_READ = {"DATATYPE", "TIMET", "HOSTNAME", "SERVICEDESC"} | {
    key for keys in _KEYS.values() for key in keys.values()
}


def parse_perfdata_line(line: str) -> PerfdataLine:
    """The line's fields (a trailing newline or CR is fine), or InvalidEventError."""
    fields = _split(line.removesuffix("\n").removesuffix("\r"))
    datatype = _required(fields, "DATATYPE", "perfdata")
    if datatype not in _DATATYPES:
        raise InvalidEventError(f"DATATYPE {datatype!r}: expected HOSTPERFDATA or SERVICEPERFDATA")
    kind = _DATATYPES[datatype]
    keys = _KEYS[kind]
    return PerfdataLine(
        kind=kind,
        timet=_number("TIMET", _required(fields, "TIMET", datatype), MAX_SECONDS, 0),
        host=_name(fields, "HOSTNAME", datatype),
        service=_name(fields, "SERVICEDESC", datatype) if kind == "service" else None,
        state=_state(fields, keys, HostState if kind == "host" else ServiceState, datatype),
        state_type=_state_type(fields, keys["state_type"]),
        output=fields.get(keys["output"], ""),
        perfdata=fields.get(keys["perfdata"], ""),
        attempt=_optional_count(fields, keys["attempt"]),
        max_attempts=_optional_count(fields, keys["max_attempts"]),
        execution_time=_optional_seconds(fields, keys["execution_time"]),
        latency=_optional_seconds(fields, keys["latency"]),
        check_command=fields.get(keys["check_command"], ""),
    )


def _split(text: str) -> dict[str, str]:
    if not text.strip():
        raise InvalidEventError("empty line")
    for char in ("\n", "\r", "\x00"):
        if char in text:
            raise InvalidEventError(f"unexpected {char!r} inside the line: one check per line")
    fields: dict[str, str] = {}
    for part in text.split("\t"):
        if not part:
            continue
        key, colons, value = part.partition("::")
        if not colons:
            raise InvalidEventError(f"field {part[:40]!r}: expected KEY::VALUE")
        if key in fields and key in _READ:
            raise InvalidEventError(f"field {key} appears twice")
        fields[key] = value
    return fields


def _required(fields: dict[str, str], key: str, datatype: str) -> str:
    if key not in fields:
        raise InvalidEventError(f"{datatype} line without {key}")
    return fields[key]


def _name(fields: dict[str, str], key: str, datatype: str) -> str:
    value = _required(fields, key, datatype)
    if not value:
        raise InvalidEventError(f"{key} '': expected a name")
    return value


def _number(key: str, value: str, high: int, low: int) -> int:
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise InvalidEventError(f"{key} {value!r}: expected a whole number from {low} to {high}")
    return int(value)


def _state(
    fields: dict[str, str],
    keys: dict[str, str],
    states: type[HostState] | type[ServiceState],
    datatype: str,
) -> HostState | ServiceState:
    by_name = by_id = None
    if keys["state"] in fields:
        value = fields[keys["state"]]
        if value not in states.__members__:
            names = ", ".join(states.__members__)
            raise InvalidEventError(f"{keys['state']} {value!r}: expected one of {names}")
        by_name = states[value]
    if keys["state_id"] in fields:
        value = fields[keys["state_id"]]
        by_id = states(_number(keys["state_id"], value, len(states) - 1, 0))
    if by_name is None and by_id is None:
        raise InvalidEventError(f"{datatype} line without {keys['state']} or {keys['state_id']}")
    if by_name is not None and by_id is not None and by_name != by_id:
        raise InvalidEventError(
            f"{keys['state']} {by_name.name} and {keys['state_id']} {by_id.value} disagree"
        )
    state = by_name if by_name is not None else by_id
    assert state is not None
    return state


def _state_type(fields: dict[str, str], key: str) -> StateType:
    value = fields.get(key, "HARD")
    if value not in StateType.__members__:
        raise InvalidEventError(f"{key} {value!r}: expected HARD or SOFT")
    return StateType[value]


def _optional_count(fields: dict[str, str], key: str) -> int | None:
    return _number(key, fields[key], _MAX_ATTEMPT, 1) if key in fields else None


def _optional_seconds(fields: dict[str, str], key: str) -> float | None:
    if key not in fields:
        return None
    value = fields[key]
    if not _DECIMAL.fullmatch(value) or not math.isfinite(float(value)):
        raise InvalidEventError(f"{key} {value!r}: expected seconds, like 0.012")
    return float(value)


def format_perfdata_line(p: PerfdataLine) -> str:
    """The line of ``p``, without a newline; ``parse_perfdata_line`` reads it back."""
    keys = _KEYS[p.kind]
    fields = [("DATATYPE", f"{p.kind.upper()}PERFDATA"), ("TIMET", str(p.timet))]
    fields.append(("HOSTNAME", p.host))
    if p.service is not None:
        fields.append(("SERVICEDESC", p.service))
    fields += [
        (keys["perfdata"], p.perfdata),
        (keys["check_command"], p.check_command),
        (keys["state"], p.state.name),
        (keys["state_type"], p.state_type.name),
    ]
    optional = {
        "attempt": p.attempt,
        "max_attempts": p.max_attempts,
        "execution_time": None if p.execution_time is None else repr(float(p.execution_time)),
        "latency": None if p.latency is None else repr(float(p.latency)),
    }
    fields += [(keys[name], str(value)) for name, value in optional.items() if value is not None]
    fields.append((keys["output"], p.output))
    return "\t".join(f"{key}::{value}" for key, value in fields)


def to_payload(p: PerfdataLine, *, origin: str) -> HostCheckResult | ServiceCheckResult:
    """The check result a perfdata line records; what the line leaves out takes defaults.

    Attempt 1 when not given, max attempts the attempt, times 0.0, no long output.
    """
    attempt = 1 if p.attempt is None else p.attempt
    max_attempts = attempt if p.max_attempts is None else p.max_attempts
    execution_time = 0.0 if p.execution_time is None else float(p.execution_time)
    latency = 0.0 if p.latency is None else float(p.latency)
    common: dict[str, Any] = {
        "host_name": p.host,
        "state": p.state,
        "state_type": p.state_type,
        "attempt": attempt,
        "max_attempts": max_attempts,
        "output": p.output,
        "perfdata": p.perfdata,
        "check_time": p.timet * MICROS_PER_SECOND,
        "execution_time": execution_time,
        "latency": latency,
        "poller": origin,
    }
    if isinstance(p.state, ServiceState):
        assert p.service is not None  # PerfdataLine checked the kind
        return ServiceCheckResult(service_description=p.service, **common)
    return HostCheckResult(**common)
