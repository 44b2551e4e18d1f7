"""Shared material of the Nagios format tests: sample lines, expected payloads, strategies.

``GOOD`` holds one good line per external command with the payload it must make;
``SERVICE_LINE`` and ``HOST_LINE`` are perfdata file lines; ``commands`` and
``perfdata_lines`` are hypothesis strategies of valid lines of each format.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from engine.poller.nagios.command_payloads import NagiosIds
from engine.poller.nagios.external_commands import COMMANDS, MAX_SECONDS, ExternalCommand, Kind
from engine.poller.nagios.lines import parse_line
from engine.poller.nagios.perfdata_file import PerfdataLine
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

ORIGIN = "nagios1"
T = 1_700_000_000
US = MICROS_PER_SECOND


def seeded() -> NagiosIds:
    """Ids after two downtimes and two comments, one of each for a host and a service."""
    return NagiosIds(
        next_downtime=3,
        next_comment=3,
        downtimes={1: ("web1", None), 2: ("web1", "HTTP")},
        comments={1: ("db1", None), 2: ("db1", "Postgres")},
    )


def payload(line: str, ids: NagiosIds | None = None) -> Payload:
    return parse_line(line, origin=ORIGIN, ids=seeded() if ids is None else ids)[0]


# --- good lines, one per command -------------------------------------------------------

GOOD: list[tuple[str, Payload, dict[str, Any]]] = [
    (
        f"[{T}] PROCESS_HOST_CHECK_RESULT;web1;1;PING CRITICAL - Packet loss = 100%"
        "|pl=100%;80;100;0",
        HostCheckResult(
            host_name="web1",
            state=HostState.DOWN,
            state_type=StateType.HARD,
            attempt=1,
            max_attempts=1,
            output="PING CRITICAL - Packet loss = 100%",
            long_output="",
            perfdata="pl=100%;80;100;0",
            check_time=T * US,
            execution_time=0.0,
            latency=0.0,
            poller=ORIGIN,
        ),
        {},
    ),
    (
        f"[{T}] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;2;CRITICAL - timeout\\nretried 3 times; "
        "gave up | time=10s;1;2;0",
        ServiceCheckResult(
            host_name="web1",
            service_description="HTTP",
            state=ServiceState.CRITICAL,
            state_type=StateType.HARD,
            attempt=1,
            max_attempts=1,
            output="CRITICAL - timeout",
            long_output="retried 3 times; gave up",
            perfdata="time=10s;1;2;0",
            check_time=T * US,
            execution_time=0.0,
            latency=0.0,
            poller=ORIGIN,
        ),
        {},
    ),
    (
        f"[{T}] ACKNOWLEDGE_HOST_PROBLEM;db1;2;1;0;alice;Looking into it; ETA 10 min",
        AcknowledgementSet(
            host_name="db1",
            service_description=None,
            sticky=True,
            notify=True,
            persistent=False,
            author="alice",
            comment="Looking into it; ETA 10 min",
            expire_time=None,
        ),
        {},
    ),
    (
        f"[{T}] ACKNOWLEDGE_SVC_PROBLEM;db1;Postgres;1;0;1;bob;known",
        AcknowledgementSet(
            host_name="db1",
            service_description="Postgres",
            sticky=False,
            notify=False,
            persistent=True,
            author="bob",
            comment="known",
            expire_time=None,
        ),
        {},
    ),
    (
        f"[{T}] REMOVE_HOST_ACKNOWLEDGEMENT;db1",
        AcknowledgementRemoved(host_name="db1", service_description=None, author=""),
        {},
    ),
    (
        f"[{T}] REMOVE_SVC_ACKNOWLEDGEMENT;db1;Postgres",
        AcknowledgementRemoved(host_name="db1", service_description="Postgres", author=""),
        {},
    ),
    (
        # Fixed: the given duration (0) is replaced by end - start, as Nagios does.
        f"[{T}] SCHEDULE_HOST_DOWNTIME;web1;{T};{T + 7200};1;0;0;alice;kernel upgrade",
        DowntimeScheduled(
            downtime_id="nagios1/downtime/3",
            host_name="web1",
            service_description=None,
            fixed=True,
            start_time=T * US,
            end_time=(T + 7200) * US,
            duration=7200 * US,
            with_services=False,
            author="alice",
            comment="kernel upgrade",
        ),
        {"next_downtime": 4, "downtimes": {**seeded().downtimes, 3: ("web1", None)}},
    ),
    (
        # Flexible, triggered by downtime 5: the trigger is not represented.
        f"[{T}] SCHEDULE_SVC_DOWNTIME;web1;HTTP;{T};{T + 86400};0;5;3600;bob;deploy; window",
        DowntimeScheduled(
            downtime_id="nagios1/downtime/3",
            host_name="web1",
            service_description="HTTP",
            fixed=False,
            start_time=T * US,
            end_time=(T + 86400) * US,
            duration=3600 * US,
            with_services=False,
            author="bob",
            comment="deploy; window",
        ),
        {"next_downtime": 4, "downtimes": {**seeded().downtimes, 3: ("web1", "HTTP")}},
    ),
    (
        f"[{T}] DEL_HOST_DOWNTIME;1",
        DowntimeCancelled(
            downtime_id="nagios1/downtime/1", host_name="web1", service_description=None, author=""
        ),
        {"downtimes": {2: ("web1", "HTTP")}},
    ),
    (
        f"[{T}] DEL_SVC_DOWNTIME;2",
        DowntimeCancelled(
            downtime_id="nagios1/downtime/2",
            host_name="web1",
            service_description="HTTP",
            author="",
        ),
        {"downtimes": {1: ("web1", None)}},
    ),
    (
        f"[{T}] ADD_HOST_COMMENT;db1;1;alice;disk replaced",
        CommentAdded(
            comment_id="nagios1/comment/3",
            host_name="db1",
            service_description=None,
            author="alice",
            text="disk replaced",
            persistent=True,
        ),
        {"next_comment": 4, "comments": {**seeded().comments, 3: ("db1", None)}},
    ),
    (
        f"[{T}] ADD_SVC_COMMENT;db1;Postgres;0;bob;see ticket #42; really",
        CommentAdded(
            comment_id="nagios1/comment/3",
            host_name="db1",
            service_description="Postgres",
            author="bob",
            text="see ticket #42; really",
            persistent=False,
        ),
        {"next_comment": 4, "comments": {**seeded().comments, 3: ("db1", "Postgres")}},
    ),
    (
        f"[{T}] DEL_HOST_COMMENT;1",
        CommentDeleted(
            comment_id="nagios1/comment/1", host_name="db1", service_description=None, author=""
        ),
        {"comments": {2: ("db1", "Postgres")}},
    ),
    (
        f"[{T}] DEL_SVC_COMMENT;2",
        CommentDeleted(
            comment_id="nagios1/comment/2",
            host_name="db1",
            service_description="Postgres",
            author="",
        ),
        {"comments": {1: ("db1", None)}},
    ),
]


SERVICE_LINE = (
    "DATATYPE::SERVICEPERFDATA\tTIMET::1700000000\tHOSTNAME::web1\tSERVICEDESC::HTTP\t"
    "SERVICEPERFDATA::time=0.1s;1;2;0;\tSERVICECHECKCOMMAND::check_http\tHOSTSTATE::UP\t"
    "HOSTSTATETYPE::HARD\tSERVICESTATE::OK\tSERVICESTATETYPE::HARD\tSERVICEOUTPUT::HTTP OK"
)
HOST_LINE = (
    "DATATYPE::HOSTPERFDATA\tTIMET::1700000000\tHOSTNAME::db1\tHOSTPERFDATA::rta=0.05ms;3000;5000;0"
    "\tHOSTCHECKCOMMAND::check-host-alive\tHOSTSTATE::DOWN\tHOSTSTATETYPE::SOFT\t"
    "HOSTOUTPUT::PING CRITICAL - Packet loss = 100%: really"
)


def _texts(exclude: str, min_size: int) -> st.SearchStrategy[str]:
    # The characters the formats treat specially are drawn often, not left to chance.
    special = st.sampled_from([c for c in ";|\\n:[] \t" if c not in exclude])
    other = st.characters(exclude_categories=["Cs"], exclude_characters=exclude)
    return st.text(st.one_of(special, other), min_size=min_size, max_size=20)


_COMMAND_LINE_UNSAFE = "\n\r\x00"
ARG_VALUES: dict[Kind, st.SearchStrategy[str | int]] = {
    Kind.NAME: _texts(_COMMAND_LINE_UNSAFE + ";", 1),
    Kind.OUTPUT: _texts(_COMMAND_LINE_UNSAFE, 0),
    Kind.TEXT: _texts(_COMMAND_LINE_UNSAFE, 1),
    Kind.HOST_CODE: st.integers(0, 2),
    Kind.SERVICE_CODE: st.integers(0, 3),
    Kind.FLAG: st.integers(0, 1),
    Kind.STICKY: st.integers(0, 2),
    Kind.NUMBER: st.one_of(st.integers(0, 9), st.integers(0, MAX_SECONDS)),
}
TIMESTAMPS = st.one_of(st.integers(T - 10, T + 10), st.integers(0, MAX_SECONDS))


def commands_of(name: str) -> st.SearchStrategy[ExternalCommand]:
    values = st.tuples(*(ARG_VALUES[arg.kind] for arg in COMMANDS[name]))
    return st.builds(ExternalCommand, TIMESTAMPS, st.just(name), values)


commands = st.sampled_from(sorted(COMMANDS)).flatmap(commands_of)

_PERFDATA_UNSAFE = "\t\n\r\x00"
SECONDS = st.none() | st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
ATTEMPTS = st.none() | st.integers(1, 2**31 - 1)


@st.composite
def perfdata_lines(draw: st.DrawFn) -> PerfdataLine:
    is_host = draw(st.booleans())
    states: list[HostState | ServiceState] = [*HostState] if is_host else [*ServiceState]
    text = _texts(_PERFDATA_UNSAFE, 0)
    return PerfdataLine(
        kind="host" if is_host else "service",
        timet=draw(TIMESTAMPS),
        host=draw(_texts(_PERFDATA_UNSAFE, 1)),
        service=None if is_host else draw(_texts(_PERFDATA_UNSAFE, 1)),
        state=draw(st.sampled_from(states)),
        state_type=draw(st.sampled_from(StateType)),
        output=draw(text),
        perfdata=draw(text),
        attempt=draw(ATTEMPTS),
        max_attempts=draw(ATTEMPTS),
        execution_time=draw(SECONDS),
        latency=draw(SECONDS),
        check_command=draw(text),
    )
