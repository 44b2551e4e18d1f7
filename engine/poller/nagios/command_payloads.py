"""What each Nagios external command means for sitelog: the payload it becomes.

This module is responsible for the meaning of the commands ``external_commands``
parses: passive check results become check results (plugin output split as Nagios
splits it), acknowledgements, downtimes and comments become operator events. Nagios
numbers downtimes and comments itself, and ``NagiosIds`` keeps ingest's own numbering
so that a ``DEL_*`` command, which names only an id, can name the host. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.poller.nagios.external_commands import COMMANDS, DIGITS, ExternalCommand
from schemas.errors import InvalidEventError
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.operations import (
    AcknowledgementRemoved,
    AcknowledgementSet,
    CommentAdded,
    CommentDeleted,
    DowntimeCancelled,
    DowntimeScheduled,
)
from schemas.payload import Payload
from schemas.types import MICROS_PER_SECOND, HostState, ServiceState, StateType

# Nagios 4 unescapes exactly these two in plugin output: "\\" and "\n" (backslash, n).
_ESCAPE = re.compile(r"\\[\\n]")


def split_plugin_output(escaped: str) -> tuple[str, str, str]:
    """(output, long_output, perfdata) of plugin output as external commands carry it.

    As Nagios does: the first line up to ``|`` is the output; the later lines up to the
    next ``|`` are the long output; what follows a ``|`` (on every later line too) is
    perfdata, joined by single spaces.
    """
    first, *rest = _ESCAPE.sub(lambda m: "\\" if m[0] == "\\\\" else "\n", escaped).split("\n")
    output, _, perf = first.partition("|")
    perfdata, long_lines = [perf.strip()], []
    in_perfdata = False
    for line in rest:
        if in_perfdata:
            perfdata.append(line.strip())
            continue
        text, bar, perf = line.partition("|")
        if bar:
            in_perfdata = True
            perfdata.append(perf.strip())
            text = text.rstrip()
        if text or not bar:
            long_lines.append(text)
    long_output = "\n".join(long_lines).rstrip("\n")
    return output.strip(), long_output, " ".join(part for part in perfdata if part)


@dataclass
class NagiosIds:
    """The downtime and comment numbers a fresh Nagios engine would give, and their subjects.

    Nagios numbers downtimes and comments itself and the numbers never leave the engine,
    yet DEL_* commands give nothing but a number, and events are partitioned by host. So
    ingest numbers the downtimes and the comments it sees from 1, in order, and remembers
    whose each is until it is deleted. Keep one per origin, across restarts
    (``to_json``/``from_json``). A real engine also spends comment numbers on the comments
    it writes itself (one per downtime and per acknowledgement) and keeps counting from its
    retention file; ids seen by an operator there need not match these.
    """

    next_downtime: int = 1
    next_comment: int = 1
    downtimes: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    comments: dict[int, tuple[str, str | None]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "next_downtime": self.next_downtime,
            "next_comment": self.next_comment,
            "downtimes": {str(n): list(subject) for n, subject in sorted(self.downtimes.items())},
            "comments": {str(n): list(subject) for n, subject in sorted(self.comments.items())},
        }

    @classmethod
    def from_json(cls, obj: object) -> NagiosIds:
        """Read back ``to_json``; a plain ValueError on a bad shape (a state file, not an event)."""
        keys = {"next_downtime", "next_comment", "downtimes", "comments"}
        if not isinstance(obj, dict) or set(obj) != keys:
            raise ValueError(f"Nagios ids: expected an object with exactly {sorted(keys)}")
        next_downtime = _next_id(obj, "next_downtime")
        next_comment = _next_id(obj, "next_comment")
        return cls(
            next_downtime,
            next_comment,
            _subjects(obj["downtimes"], "downtimes", next_downtime),
            _subjects(obj["comments"], "comments", next_comment),
        )


def _next_id(obj: Mapping[str, object], key: str) -> int:
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Nagios ids: {key!r} must be a whole number of at least 1")
    return value


def _subjects(obj: object, key: str, next_id: int) -> dict[int, tuple[str, str | None]]:
    if not isinstance(obj, dict):
        raise ValueError(f"Nagios ids: {key!r} must be an object")
    found: dict[int, tuple[str, str | None]] = {}
    for number, subject in obj.items():
        if not (isinstance(number, str) and DIGITS.fullmatch(number) and 0 < int(number) < next_id):
            raise ValueError(f"Nagios ids: {key!r} key {number!r} is not an id below {next_id}")
        match subject:
            case [str(host), str() | None as service] if host:
                found[int(number)] = (host, service)
            case _:
                raise ValueError(f"Nagios ids: {key}[{number!r}] must be [host, service or null]")
    return found


class _Args:
    """A checked command's arguments by field name, typed."""

    def __init__(self, cmd: ExternalCommand) -> None:
        self._values = dict(zip((arg.name for arg in COMMANDS[cmd.name]), cmd.args, strict=True))

    def text(self, name: str) -> str:
        value = self._values[name]
        assert isinstance(value, str)  # ExternalCommand checked the types
        return value

    def number(self, name: str) -> int:
        value = self._values[name]
        assert isinstance(value, int)  # ExternalCommand checked the types
        return value

    @property
    def service(self) -> str | None:
        return self.text("service") if "service" in self._values else None


def to_payload(cmd: ExternalCommand, *, origin: str, ids: NagiosIds) -> Payload:
    """The payload ``cmd`` stands for; numbers downtimes and comments in ``ids``.

    Raises InvalidEventError for a command Nagios would drop or cannot place, leaving
    ``ids`` as it was.
    """
    args = _Args(cmd)
    action = cmd.name.replace("_HOST", "").replace("_SVC", "").replace("_SERVICE", "")
    if action == "PROCESS_CHECK_RESULT":
        return _check_result(cmd, args, origin)
    if action == "ACKNOWLEDGE_PROBLEM":
        return AcknowledgementSet(
            host_name=args.text("host"),
            service_description=args.service,
            sticky=args.number("sticky") == 2,  # Nagios: 2 is sticky, 0 and 1 are not
            notify=args.number("notify") == 1,
            persistent=args.number("persistent") == 1,
            author=args.text("author"),
            comment=args.text("comment"),
        )
    if action == "REMOVE_ACKNOWLEDGEMENT":
        return AcknowledgementRemoved(host_name=args.text("host"), service_description=args.service)
    if action == "SCHEDULE_DOWNTIME":
        return _schedule_downtime(cmd, args, origin, ids)
    if action == "ADD_COMMENT":
        return _add_comment(args, origin, ids)
    return _delete(cmd, args, origin, ids)


def _check_result(cmd: ExternalCommand, args: _Args, origin: str) -> Payload:
    output, long_output, perfdata = split_plugin_output(args.text("plugin_output"))
    code = args.number("return_code")
    # Passive results carry no attempt or state type: the poller that ran the check did
    # its retries, and Nagios itself takes passive host results as HARD (the default
    # passive_host_checks_are_soft=0). So each one is a hard state, attempt 1 of 1.
    common: dict[str, Any] = {
        "host_name": args.text("host"),
        "state_type": StateType.HARD,
        "attempt": 1,
        "max_attempts": 1,
        "output": output,
        "long_output": long_output,
        "perfdata": perfdata,
        "check_time": cmd.timestamp * MICROS_PER_SECOND,
        "poller": origin,
    }
    if args.service is None:
        return HostCheckResult(state=HostState(code), **common)
    return ServiceCheckResult(service_description=args.service, state=ServiceState(code), **common)


def _schedule_downtime(cmd: ExternalCommand, args: _Args, origin: str, ids: NagiosIds) -> Payload:
    start, end = args.number("start_time"), args.number("end_time")
    fixed, duration = args.number("fixed") == 1, args.number("duration")
    # Nagios drops these three. (trigger_id has no counterpart in DowntimeScheduled.)
    if end <= start:
        raise InvalidEventError(f"{cmd.name}: end_time {end} is not after start_time {start}")
    if end <= cmd.timestamp:
        raise InvalidEventError(
            f"{cmd.name}: end_time {end} is not after the command's time {cmd.timestamp}"
        )
    if not fixed and duration == 0:
        raise InvalidEventError(f"{cmd.name}: a flexible downtime (fixed 0) needs a duration > 0")
    if fixed:
        duration = end - start  # as Nagios: a fixed downtime lasts from start to end
    number, host = ids.next_downtime, args.text("host")
    payload = DowntimeScheduled(
        downtime_id=f"{origin}/downtime/{number}",
        host_name=host,
        service_description=args.service,
        fixed=fixed,
        start_time=start * MICROS_PER_SECOND,
        end_time=end * MICROS_PER_SECOND,
        duration=duration * MICROS_PER_SECOND,
        author=args.text("author"),
        comment=args.text("comment"),
    )
    ids.downtimes[number] = (host, args.service)
    ids.next_downtime = number + 1
    return payload


def _add_comment(args: _Args, origin: str, ids: NagiosIds) -> Payload:
    number, host = ids.next_comment, args.text("host")
    payload = CommentAdded(
        comment_id=f"{origin}/comment/{number}",
        host_name=host,
        service_description=args.service,
        author=args.text("author"),
        text=args.text("comment"),
        persistent=args.number("persistent") == 1,
    )
    ids.comments[number] = (host, args.service)
    ids.next_comment = number + 1
    return payload


def _delete(cmd: ExternalCommand, args: _Args, origin: str, ids: NagiosIds) -> Payload:
    """DEL_*_DOWNTIME and DEL_*_COMMENT: find whose the number is, then forget it."""
    is_downtime = cmd.name.endswith("DOWNTIME")
    noun = "downtime" if is_downtime else "comment"
    known, next_id = (
        (ids.downtimes, ids.next_downtime) if is_downtime else (ids.comments, ids.next_comment)
    )
    number = args.number(f"{noun}_id")
    if number not in known:
        seen = f"1..{next_id - 1}" if next_id > 1 else "none yet"
        gone = f", and {number} was deleted" if 0 < number < next_id else ""
        raise InvalidEventError(
            f"{cmd.name}: unknown {noun} id {number} "
            f"(ingest numbers the {noun}s it has seen: {seen}{gone})"
        )
    host, service = known[number]
    if ("_SVC_" in cmd.name) != (service is not None):
        kind, whose = ("host", host) if service is None else ("service", f"{host}/{service}")
        other = f"DEL_{'HOST' if service is None else 'SVC'}_{noun.upper()}"
        raise InvalidEventError(
            f"{cmd.name}: {noun} id {number} is a {kind} {noun} ({whose}): use {other}"
        )
    del known[number]
    subject_id = f"{origin}/{noun}/{number}"
    if is_downtime:
        return DowntimeCancelled(
            downtime_id=subject_id, host_name=host, service_description=service
        )
    return CommentDeleted(comment_id=subject_id, host_name=host, service_description=service)
