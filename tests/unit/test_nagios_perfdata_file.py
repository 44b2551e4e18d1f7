"""Nagios perfdata file lines (``DATATYPE::...\tTIMET::...``): parsing, errors, round trips."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from hypothesis import given, settings

from engine.poller.nagios.perfdata_file import (
    PerfdataLine,
    format_perfdata_line,
    parse_perfdata_line,
)
from engine.poller.nagios.perfdata_file import to_payload as perfdata_payload
from schemas.errors import InvalidEventError
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.types import HostState, ServiceState, StateType
from tests.support.nagios_lines import (
    HOST_LINE,
    ORIGIN,
    SERVICE_LINE,
    US,
    T,
    payload,
    perfdata_lines,
)


def test_a_service_perfdata_line() -> None:
    line = parse_perfdata_line(SERVICE_LINE + "\n")
    assert line == PerfdataLine(
        kind="service",
        timet=T,
        host="web1",
        service="HTTP",
        state=ServiceState.OK,
        state_type=StateType.HARD,
        output="HTTP OK",
        perfdata="time=0.1s;1;2;0;",
        attempt=None,
        max_attempts=None,
        execution_time=None,
        latency=None,
        check_command="check_http",
    )
    assert payload(SERVICE_LINE) == ServiceCheckResult(
        host_name="web1",
        service_description="HTTP",
        state=ServiceState.OK,
        state_type=StateType.HARD,
        attempt=1,
        max_attempts=1,
        output="HTTP OK",
        long_output="",
        perfdata="time=0.1s;1;2;0;",
        check_time=T * US,
        execution_time=0.0,
        latency=0.0,
        poller=ORIGIN,
    )


def test_a_host_perfdata_line() -> None:
    line = parse_perfdata_line(HOST_LINE + "\r\n")
    assert type(line.state) is HostState
    assert (line.kind, line.host, line.service, line.state, line.state_type) == (
        "host",
        "db1",
        None,
        HostState.DOWN,
        StateType.SOFT,
    )
    assert line.output == "PING CRITICAL - Packet loss = 100%: really"
    assert payload(HOST_LINE) == HostCheckResult(
        host_name="db1",
        state=HostState.DOWN,
        state_type=StateType.SOFT,
        attempt=1,
        max_attempts=1,
        output="PING CRITICAL - Packet loss = 100%: really",
        perfdata="rta=0.05ms;3000;5000;0",
        check_time=T * US,
        poller=ORIGIN,
    )


def test_optional_perfdata_fields_ids_and_unknown_keys() -> None:
    line = (
        "DATATYPE::SERVICEPERFDATA\tTIMET::1700000000\tHOSTNAME::web1\tSERVICEDESC::Disk /var\t"
        "SERVICESTATEID::1\tSERVICEATTEMPT::2\tMAXSERVICEATTEMPTS::4\tSERVICEEXECUTIONTIME::0.012\t"
        "SERVICELATENCY::1.5e-3\tSERVICESTATETYPE::SOFT\tSERVICEOUTPUT::a::b\tCUSTOM::x\t"
        "HOSTSTATE::garbage\t"
    )
    made = payload(line)
    assert made == ServiceCheckResult(
        host_name="web1",
        service_description="Disk /var",
        state=ServiceState.WARNING,
        state_type=StateType.SOFT,
        attempt=2,
        max_attempts=4,
        output="a::b",
        check_time=T * US,
        execution_time=0.012,
        latency=0.0015,
        poller=ORIGIN,
    )
    only_attempt = parse_perfdata_line(
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATEID::0\tHOSTATTEMPT::3"
    )
    made = perfdata_payload(only_attempt, origin=ORIGIN)
    assert (made.attempt, made.max_attempts, made.check_time) == (3, 3, US)


PERFDATA_BAD = [
    ("", "empty line"),
    ("DATATYPE::HOSTPERFDATA\tTIMET 1", "field 'TIMET 1': expected KEY::VALUE"),
    ("DATATYPE::OTHER\tTIMET::1", "DATATYPE 'OTHER': expected HOSTPERFDATA or SERVICEPERFDATA"),
    ("TIMET::1\tHOSTNAME::h", "perfdata line without DATATYPE"),
    ("DATATYPE::HOSTPERFDATA\tHOSTNAME::h\tHOSTSTATE::UP", "HOSTPERFDATA line without TIMET"),
    ("DATATYPE::HOSTPERFDATA\tTIMET::x\tHOSTNAME::h", "TIMET 'x': expected a whole number from 0"),
    ("DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTSTATE::UP", "HOSTPERFDATA line without HOSTNAME"),
    ("DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::\tHOSTSTATE::UP", "HOSTNAME '': expected a name"),
    (
        "DATATYPE::SERVICEPERFDATA\tTIMET::1\tHOSTNAME::h\tSERVICESTATE::OK",
        "SERVICEPERFDATA line without SERVICEDESC",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h",
        "HOSTPERFDATA line without HOSTSTATE or HOSTSTATEID",
    ),
    (
        "DATATYPE::SERVICEPERFDATA\tTIMET::1\tHOSTNAME::h\tSERVICEDESC::s\tHOSTSTATE::UP",
        "SERVICEPERFDATA line without SERVICESTATE or SERVICESTATEID",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATE::OK",
        "HOSTSTATE 'OK': expected one of UP, DOWN, UNREACHABLE",
    ),
    (
        "DATATYPE::SERVICEPERFDATA\tTIMET::1\tHOSTNAME::h\tSERVICEDESC::s\tSERVICESTATE::ok",
        "SERVICESTATE 'ok': expected one of OK, WARNING, CRITICAL, UNKNOWN",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATEID::3",
        "HOSTSTATEID '3': expected a whole number from 0 to 2",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATE::UP\tHOSTSTATEID::1",
        "HOSTSTATE UP and HOSTSTATEID 1 disagree",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATE::UP\tHOSTSTATETYPE::hard",
        "HOSTSTATETYPE 'hard': expected HARD or SOFT",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATE::UP\tHOSTATTEMPT::0",
        "HOSTATTEMPT '0': expected a whole number from 1 to 2147483647",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATE::UP\tMAXHOSTATTEMPTS::three",
        "MAXHOSTATTEMPTS 'three': expected a whole number from 1",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATE::UP\tHOSTLATENCY::nan",
        "HOSTLATENCY 'nan': expected seconds, like 0.012",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATE::UP\tHOSTEXECUTIONTIME::-1",
        "HOSTEXECUTIONTIME '-1': expected seconds",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTSTATE::UP\tHOSTLATENCY::1e999",
        "HOSTLATENCY '1e999': expected seconds",
    ),
    (
        "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::h\tHOSTNAME::g\tHOSTSTATE::UP",
        "field HOSTNAME appears twice",
    ),
    ("DATATYPE::HOSTPERFDATA\tTIMET::1\nHOSTNAME::h", "unexpected '\\n' inside the line"),
]


@pytest.mark.parametrize(("line", "message"), PERFDATA_BAD)
def test_a_bad_perfdata_line_names_the_key_and_value(line: str, message: str) -> None:
    with pytest.raises(InvalidEventError, match=re.escape(message)) as caught:
        parse_perfdata_line(line)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "other"},
        {"service": "HTTP"},
        {"state": ServiceState.OK},
        {"host": ""},
        {"output": "a\tb"},
        {"perfdata": "a\nb"},
        {"attempt": 0},
        {"latency": -0.0},
        {"execution_time": float("nan")},
        {"timet": -1},
    ],
)
def test_a_perfdata_line_that_cannot_be_written_cannot_be_made(changes: dict[str, Any]) -> None:
    good = PerfdataLine(kind="host", timet=T, host="h", service=None, state=HostState.UP)
    with pytest.raises(InvalidEventError):
        dataclasses.replace(good, **changes)


@given(perfdata_lines())
@settings(max_examples=150, deadline=None)
def test_every_perfdata_line_survives_format_then_parse(line: PerfdataLine) -> None:
    text = format_perfdata_line(line)
    assert "\n" not in text
    parsed = parse_perfdata_line(text)
    assert parsed == line
    assert type(parsed.state) is type(line.state)
