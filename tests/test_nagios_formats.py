"""Nagios engine formats: external command lines, perfdata file lines, and their payloads.

Each of the fourteen external commands is tested with a good line (every payload field
checked) and with bad arguments; deletions with unknown ids and ids of the other kind;
and properties: every valid command and perfdata line survives format-then-parse, any
text given to ``parse_line`` fails with InvalidEventError or not at all, and what it makes
can be encoded for a site log.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.nagios.command_payloads import NagiosIds, split_plugin_output
from engine.nagios.external_commands import (
    COMMANDS,
    MAX_SECONDS,
    SUPPORTED,
    ExternalCommand,
    Kind,
    format_command,
    parse_command,
)
from engine.nagios.lines import parse_line
from engine.nagios.perfdata_file import PerfdataLine, format_perfdata_line, parse_perfdata_line
from engine.nagios.perfdata_file import to_payload as perfdata_payload
from schemas.codec import Codec
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
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


# --- the table -------------------------------------------------------------------------

# Nagios 4 argument order, written out here independently of the module's table.
FIELDS = {
    "PROCESS_HOST_CHECK_RESULT": "host return_code plugin_output",
    "PROCESS_SERVICE_CHECK_RESULT": "host service return_code plugin_output",
    "ACKNOWLEDGE_HOST_PROBLEM": "host sticky notify persistent author comment",
    "ACKNOWLEDGE_SVC_PROBLEM": "host service sticky notify persistent author comment",
    "REMOVE_HOST_ACKNOWLEDGEMENT": "host",
    "REMOVE_SVC_ACKNOWLEDGEMENT": "host service",
    "SCHEDULE_HOST_DOWNTIME": "host start_time end_time fixed trigger_id duration author comment",
    "SCHEDULE_SVC_DOWNTIME": (
        "host service start_time end_time fixed trigger_id duration author comment"
    ),
    "DEL_HOST_DOWNTIME": "downtime_id",
    "DEL_SVC_DOWNTIME": "downtime_id",
    "ADD_HOST_COMMENT": "host persistent author comment",
    "ADD_SVC_COMMENT": "host service persistent author comment",
    "DEL_HOST_COMMENT": "comment_id",
    "DEL_SVC_COMMENT": "comment_id",
}


def test_the_table_has_exactly_the_fourteen_commands_in_nagios_order() -> None:
    assert {name: " ".join(arg.name for arg in spec) for name, spec in COMMANDS.items()} == FIELDS


def test_the_supported_list_in_messages_names_every_command() -> None:
    names = set()
    for pattern in SUPPORTED.split(", "):
        head, rest = pattern.split("{")
        choices, tail = rest.split("}")
        names |= {head + choice + tail for choice in choices.split(",")}
    assert names == set(COMMANDS)


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


def _name_of(line: str) -> str:
    return line.split(" ", 1)[1].split(";", 1)[0]


def test_every_command_has_a_good_line() -> None:
    assert sorted(_name_of(line) for line, _, _ in GOOD) == sorted(COMMANDS)


@pytest.mark.parametrize(
    ("line", "expected", "ids_changes"), GOOD, ids=[_name_of(g[0]) for g in GOOD]
)
def test_a_good_line_makes_its_payload(
    line: str, expected: Payload, ids_changes: dict[str, Any]
) -> None:
    ids = seeded()
    made = payload(line, ids)
    assert type(made) is type(expected)
    assert made == expected
    assert ids == dataclasses.replace(seeded(), **ids_changes)
    assert format_command(parse_command(line)) == line
    assert parse_command(line + "\r\n") == parse_command(line + "\n") == parse_command(line)


def test_command_names_are_matched_ignoring_case_and_kept_in_upper_case() -> None:
    command = parse_command(f"[{T}] remove_host_acknowledgement;db1")
    assert command == ExternalCommand(T, "REMOVE_HOST_ACKNOWLEDGEMENT", ("db1",))


def test_typed_arguments() -> None:
    command = parse_command(f"[{T}] SCHEDULE_SVC_DOWNTIME;web1;HTTP;{T};{T + 60};0;5;30;me;a;b")
    assert command.args == ("web1", "HTTP", T, T + 60, 0, 5, 30, "me", "a;b")


@pytest.mark.parametrize(
    ("timestamp", "name", "args", "message"),
    [
        (T, "remove_host_acknowledgement", ("db1",), "unknown command 'remove_host_ack"),
        (T, "DEL_HOST_DOWNTIME", (1, 2), "DEL_HOST_DOWNTIME: expected 1 field after the"),
        (T, "DEL_HOST_DOWNTIME", ("1",), "DEL_HOST_DOWNTIME field 'downtime_id': expected a"),
        (T, "ADD_HOST_COMMENT", ("h", True, "a", "c"), "field 'persistent': expected 0 or 1, got"),
        (T, "ADD_HOST_COMMENT", ("h;i", 1, "a", "c"), "field 'host': expected a non-empty name"),
        (T, "ADD_HOST_COMMENT", ("h", 1, "a", "c\nd"), "field 'comment': expected a non-empty"),
        (-1, "DEL_HOST_COMMENT", (1,), "bad timestamp -1: expected seconds since the epoch"),
        (MAX_SECONDS + 1, "DEL_HOST_COMMENT", (1,), "bad timestamp"),
    ],
)
def test_a_command_that_cannot_be_written_cannot_be_made(
    timestamp: int, name: str, args: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(InvalidEventError, match=re.escape(message)):
        ExternalCommand(timestamp, name, args)


# --- bad lines -------------------------------------------------------------------------

BAD = [
    ("", "empty line"),
    ("  \n", "empty line"),
    ("PROCESS_HOST_CHECK_RESULT;web1;0;OK", "expected '[timestamp] COMMAND;...', got 'PROCESS_"),
    ("[abc] PROCESS_HOST_CHECK_RESULT;web1;0;OK", "bad timestamp '[abc]': expected [seconds "),
    ("[-5] PROCESS_HOST_CHECK_RESULT;web1;0;OK", "bad timestamp '[-5]'"),
    ("[] PROCESS_HOST_CHECK_RESULT;web1;0;OK", "bad timestamp '[]'"),
    ("[99999999999999] PROCESS_HOST_CHECK_RESULT;web1;0;OK", "bad timestamp '[99999999999999]'"),
    (f"[{T} PROCESS_HOST_CHECK_RESULT;web1;0;OK", "bad timestamp '[1700000000 PROCESS_HOST_CHECK"),
    (f"[{T}]PROCESS_HOST_CHECK_RESULT;web1;0;OK", "expected one space between the timestamp and"),
    (f"[{T}]  PROCESS_HOST_CHECK_RESULT;web1;0;OK", "unknown command ' PROCESS_HOST_CHECK_"),
    (f"[{T}] ", "missing command name after the timestamp"),
    (f"[{T}] FOO;1", "unknown command 'FOO' (supported: PROCESS_{HOST,SERVICE}_CHECK_RESULT, "),
    (f"[{T}] SCHEDULE_HOSTGROUP_HOST_DOWNTIME;g;1;2;1;0;0;a;c", "unknown command 'SCHEDULE_HOSTG"),
    (f"[{T}] PROCESS_HOST_CHECK_RESULT;web1;0;OK\nsecond", "unexpected '\\n' inside the line"),
    (f"[{T}] PROCESS_HOST_CHECK_RESULT;web1;0;O\rK", "unexpected '\\r' inside the line"),
    (f"[{T}] PROCESS_HOST_CHECK_RESULT;web1;0;O\x00K", "unexpected '\\x00' inside the line"),
    (
        f"[{T}] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;0",
        "PROCESS_SERVICE_CHECK_RESULT: expected 4 fields after the command name, got 3",
    ),
    (
        f"[{T}] REMOVE_HOST_ACKNOWLEDGEMENT",
        "REMOVE_HOST_ACKNOWLEDGEMENT: expected 1 field after the command name, got 0",
    ),
    (
        f"[{T}] REMOVE_SVC_ACKNOWLEDGEMENT;web1;HTTP;extra",
        "REMOVE_SVC_ACKNOWLEDGEMENT: expected 2 fields after the command name, got 3",
    ),
    (
        f"[{T}] DEL_HOST_DOWNTIME;1;2",
        "DEL_HOST_DOWNTIME: expected 1 field after the command name, got 2",
    ),
    (
        f"[{T}] PROCESS_HOST_CHECK_RESULT;web1;3;OK",
        "PROCESS_HOST_CHECK_RESULT field 'return_code': expected 0, 1 or 2, got '3'",
    ),
    (
        f"[{T}] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;4;OK",
        "PROCESS_SERVICE_CHECK_RESULT field 'return_code': expected 0, 1, 2 or 3, got '4'",
    ),
    (f"[{T}] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;-1;OK", "'return_code': expected 0, 1, 2 or 3"),
    (f"[{T}] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP; 0;OK", "got ' 0'"),
    (f"[{T}] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;\u0661;OK", "got '\u0661'"),  # Arabic-Indic 1
    (f"[{T}] PROCESS_HOST_CHECK_RESULT;;0;OK", "field 'host': expected a non-empty name without"),
    (
        f"[{T}] PROCESS_SERVICE_CHECK_RESULT;web1;;0;OK",
        "field 'service': expected a non-empty name",
    ),
    (
        f"[{T}] ACKNOWLEDGE_HOST_PROBLEM;db1;x;1;0;alice;c",
        "ACKNOWLEDGE_HOST_PROBLEM field 'sticky': expected 0, 1 or 2, got 'x'",
    ),
    (f"[{T}] ACKNOWLEDGE_HOST_PROBLEM;db1;3;1;0;alice;c", "'sticky': expected 0, 1 or 2, got '3'"),
    (
        f"[{T}] ACKNOWLEDGE_SVC_PROBLEM;db1;Postgres;2;2;0;alice;c",
        "ACKNOWLEDGE_SVC_PROBLEM field 'notify': expected 0 or 1, got '2'",
    ),
    (f"[{T}] ACKNOWLEDGE_SVC_PROBLEM;db1;Pg;2;1;yes;alice;c", "'persistent': expected 0 or 1"),
    (f"[{T}] ACKNOWLEDGE_HOST_PROBLEM;db1;2;1;0;;c", "field 'author': expected a non-empty name"),
    (
        f"[{T}] ACKNOWLEDGE_HOST_PROBLEM;db1;2;1;0;alice;",
        "ACKNOWLEDGE_HOST_PROBLEM field 'comment': expected a non-empty text (the rest of the "
        "line), got ''",
    ),
    (
        f"[{T}] SCHEDULE_HOST_DOWNTIME;web1;soon;{T};1;0;0;alice;c",
        "SCHEDULE_HOST_DOWNTIME field 'start_time': expected a whole number from 0 to "
        f"{MAX_SECONDS}, got 'soon'",
    ),
    (f"[{T}] SCHEDULE_HOST_DOWNTIME;web1;{T};{T + 1};2;0;0;a;c", "'fixed': expected 0 or 1"),
    (f"[{T}] SCHEDULE_SVC_DOWNTIME;w;s;{T};{T + 1};1;x;0;a;c", "'trigger_id': expected a whole"),
    (f"[{T}] SCHEDULE_SVC_DOWNTIME;w;s;{T};{T + 1};0;0;1.5;a;c", "'duration': expected a whole"),
    (f"[{T}] SCHEDULE_SVC_DOWNTIME;w;s;{T};{T + 1};1;0;0;a;", "'comment': expected a non-empty"),
    (f"[{T}] DEL_HOST_DOWNTIME;abc", "DEL_HOST_DOWNTIME field 'downtime_id': expected a whole"),
    (f"[{T}] DEL_SVC_DOWNTIME;", "DEL_SVC_DOWNTIME field 'downtime_id': expected a whole"),
    (f"[{T}] ADD_HOST_COMMENT;db1;2;alice;c", "ADD_HOST_COMMENT field 'persistent': expected 0 or"),
    (f"[{T}] ADD_SVC_COMMENT;db1;Pg;1;alice;", "ADD_SVC_COMMENT field 'comment': expected a non-"),
    (f"[{T}] DEL_HOST_COMMENT;-1", "DEL_HOST_COMMENT field 'comment_id': expected a whole number"),
    (f"[{T}] DEL_SVC_COMMENT;1" + "0" * 30, "DEL_SVC_COMMENT field 'comment_id': expected a whole"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_a_bad_line_is_rejected_in_one_clear_line(line: str, message: str) -> None:
    with pytest.raises(InvalidEventError, match=re.escape(message)) as caught:
        parse_command(line)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("line", [line for line, _, _ in GOOD], ids=_name_of)
def test_a_line_cut_short_names_the_field_count(line: str) -> None:
    name = _name_of(line)
    count = len(FIELDS[name].split())
    fields = "field" if count == 1 else "fields"
    message = f"{name}: expected {count} {fields} after the command name, got {count - 1}"
    with pytest.raises(InvalidEventError, match=re.escape(message)):
        parse_command(";".join(line.split(";", count)[:count]))  # the last field left out


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            f"[{T}] SCHEDULE_HOST_DOWNTIME;web1;{T + 60};{T + 60};1;0;0;alice;c",
            f"SCHEDULE_HOST_DOWNTIME: end_time {T + 60} is not after start_time {T + 60}",
        ),
        (
            f"[{T}] SCHEDULE_SVC_DOWNTIME;web1;HTTP;{T + 60};{T + 30};1;0;0;alice;c",
            f"SCHEDULE_SVC_DOWNTIME: end_time {T + 30} is not after start_time {T + 60}",
        ),
        (
            f"[{T}] SCHEDULE_HOST_DOWNTIME;web1;{T - 600};{T};1;0;0;alice;c",
            f"SCHEDULE_HOST_DOWNTIME: end_time {T} is not after the command's time",
        ),
        (
            f"[{T}] SCHEDULE_SVC_DOWNTIME;web1;HTTP;{T};{T + 600};0;0;0;alice;c",
            "SCHEDULE_SVC_DOWNTIME: a flexible downtime (fixed 0) needs a duration > 0",
        ),
        (
            f"[{T}] DEL_HOST_DOWNTIME;17",
            "DEL_HOST_DOWNTIME: unknown downtime id 17 (ingest numbers the downtimes it has "
            "seen: 1..2)",
        ),
        (f"[{T}] DEL_HOST_DOWNTIME;0", "DEL_HOST_DOWNTIME: unknown downtime id 0 (ingest numbers"),
        (
            f"[{T}] DEL_HOST_DOWNTIME;2",
            "DEL_HOST_DOWNTIME: downtime id 2 is a service downtime (web1/HTTP): use "
            "DEL_SVC_DOWNTIME",
        ),
        (
            f"[{T}] DEL_SVC_DOWNTIME;1",
            "DEL_SVC_DOWNTIME: downtime id 1 is a host downtime (web1): use DEL_HOST_DOWNTIME",
        ),
        (f"[{T}] DEL_SVC_COMMENT;3", "DEL_SVC_COMMENT: unknown comment id 3 (ingest numbers the"),
        (
            f"[{T}] DEL_HOST_COMMENT;2",
            "DEL_HOST_COMMENT: comment id 2 is a service comment (db1/Postgres): use "
            "DEL_SVC_COMMENT",
        ),
        (
            f"[{T}] DEL_SVC_COMMENT;1",
            "DEL_SVC_COMMENT: comment id 1 is a host comment (db1): use DEL_HOST_COMMENT",
        ),
    ],
)
def test_what_nagios_would_drop_is_rejected_and_leaves_the_ids_alone(
    line: str, message: str
) -> None:
    ids = seeded()
    with pytest.raises(InvalidEventError, match=re.escape(message)):
        payload(line, ids)
    assert ids == seeded()


def test_ids_of_deleted_and_never_seen_downtimes_and_comments() -> None:
    ids = NagiosIds()
    with pytest.raises(InvalidEventError, match=re.escape("it has seen: none yet)")):
        payload(f"[{T}] DEL_HOST_COMMENT;1", ids)
    payload(f"[{T}] SCHEDULE_HOST_DOWNTIME;web1;{T};{T + 60};1;0;0;a;c", ids)
    cancelled = payload(f"[{T}] DEL_HOST_DOWNTIME;1", ids)
    assert cancelled == DowntimeCancelled(downtime_id="nagios1/downtime/1", host_name="web1")
    message = "unknown downtime id 1 (ingest numbers the downtimes it has seen: 1..1, and 1 was"
    with pytest.raises(InvalidEventError, match=re.escape(message)):
        payload(f"[{T}] DEL_HOST_DOWNTIME;1", ids)
    again = payload(f"[{T}] SCHEDULE_HOST_DOWNTIME;web2;{T};{T + 60};1;0;0;a;c", ids)
    assert isinstance(again, DowntimeScheduled)
    assert again.downtime_id == "nagios1/downtime/2"  # numbers are never reused, as in Nagios
    assert ids == NagiosIds(next_downtime=3, downtimes={2: ("web2", None)})


# --- plugin output ---------------------------------------------------------------------

# Inputs are as external commands carry them: a newline is the two characters \ and n.
SPLITS = [
    ("OK", ("OK", "", "")),
    ("", ("", "", "")),
    ("OK - all fine | a=1", ("OK - all fine", "", "a=1")),
    ("OK|a=1;2;3 'b c'=2ms ", ("OK", "", "a=1;2;3 'b c'=2ms")),
    ("OK | ", ("OK", "", "")),
    ("OK; with semicolons: fine", ("OK; with semicolons: fine", "", "")),
    ("OK\\nline 2\\nline 3", ("OK", "line 2\nline 3", "")),
    ("OK\\nline 2\\n", ("OK", "line 2", "")),
    ("OK | a=1\\nline 2 | b=2\\nc=3\\n d=4 ", ("OK", "line 2", "a=1 b=2 c=3 d=4")),
    ("OK\\n| b=1", ("OK", "", "b=1")),
    ("OK\\nline 2|b=1|x", ("OK", "line 2", "b=1|x")),
    (
        # The Monitoring Plugins guidelines' multi-line example.
        "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\\n"
        "/ 15272 MB (77%);\\n/boot 68 MB (69%);\\n/home 69357 MB (27%);\\n"
        "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\\n"
        "/home=69357MB;253404;253409;0;253414 \\n/var/log=818MB;970;975;0;980",
        (
            "DISK OK - free space: / 3326 MB (56%);",
            "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);",
            "/=2643MB;5948;5958;0;5968 /boot=68MB;88;93;0;98 "
            "/home=69357MB;253404;253409;0;253414 /var/log=818MB;970;975;0;980",
        ),
    ),
    # Nagios 4 unescapes \\ and \n only; any other backslash stays as it is.
    ("C:\\\\temp is full", ("C:\\temp is full", "", "")),
    ("a\\\\nb", ("a\\nb", "", "")),
    ("tab\\there\\", ("tab\\there\\", "", "")),
]


@pytest.mark.parametrize(("escaped", "expected"), SPLITS)
def test_plugin_output_splits_into_output_long_output_and_perfdata(
    escaped: str, expected: tuple[str, str, str]
) -> None:
    assert split_plugin_output(escaped) == expected
    made = payload(f"[{T}] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;0;{escaped}")
    assert isinstance(made, ServiceCheckResult)
    assert (made.output, made.long_output, made.perfdata) == expected


# --- NagiosIds as JSON -----------------------------------------------------------------


def test_ids_survive_json() -> None:
    ids = seeded()
    text = orjson.dumps(ids.to_json())
    assert NagiosIds.from_json(orjson.loads(text)) == ids
    assert NagiosIds.from_json(NagiosIds().to_json()) == NagiosIds()


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        {"next_downtime": 1, "next_comment": 1, "downtimes": {}},
        {"next_downtime": 0, "next_comment": 1, "downtimes": {}, "comments": {}},
        {"next_downtime": True, "next_comment": 1, "downtimes": {}, "comments": {}},
        {"next_downtime": 1, "next_comment": 1, "downtimes": [], "comments": {}},
        {"next_downtime": 2, "next_comment": 1, "downtimes": {"2": ["h", None]}, "comments": {}},
        {"next_downtime": 2, "next_comment": 1, "downtimes": {"x": ["h", None]}, "comments": {}},
        {"next_downtime": 2, "next_comment": 1, "downtimes": {"1": ["", None]}, "comments": {}},
        {"next_downtime": 2, "next_comment": 1, "downtimes": {"1": ["h"]}, "comments": {}},
        {"next_downtime": 1, "next_comment": 2, "downtimes": {}, "comments": {"1": ["h", 3]}},
    ],
)
def test_ids_of_a_bad_shape_are_a_value_error(obj: object) -> None:
    with pytest.raises(ValueError, match=r"^Nagios ids: ") as caught:
        NagiosIds.from_json(obj)
    assert not isinstance(caught.value, InvalidEventError)  # a state file, not an event


# --- perfdata file lines ---------------------------------------------------------------

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


def test_the_line_formats_are_told_apart() -> None:
    with pytest.raises(InvalidEventError) as caught:
        payload("HOSTNAME::web1\tDATATYPE::HOSTPERFDATA")
    assert str(caught.value) == (
        "neither an external command ([timestamp] COMMAND;...) nor a perfdata line (DATATYPE::...)"
    )


# --- properties ------------------------------------------------------------------------


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


@pytest.mark.parametrize("name", sorted(COMMANDS))
@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_every_command_survives_format_then_parse(name: str, data: st.DataObject) -> None:
    command = data.draw(commands_of(name))
    line = format_command(command)
    assert "\n" not in line
    assert parse_command(line) == command


@given(perfdata_lines())
@settings(max_examples=150, deadline=None)
def test_every_perfdata_line_survives_format_then_parse(line: PerfdataLine) -> None:
    text = format_perfdata_line(line)
    assert "\n" not in text
    parsed = parse_perfdata_line(text)
    assert parsed == line
    assert type(parsed.state) is type(line.state)


CODEC = Codec()


@given(st.one_of(commands.map(format_command), perfdata_lines().map(format_perfdata_line)))
@settings(max_examples=150, deadline=None)
def test_what_a_valid_line_makes_can_be_appended_to_a_site_log(line: str) -> None:
    ids = seeded()
    try:
        made = payload(line, ids)
    except InvalidEventError:
        return  # a downtime Nagios would drop, or an id ingest has not seen
    event = Event.create(made, site="s1", origin=ORIGIN, clock=HybridLogicalClock())
    assert CODEC.decode(CODEC.encode(event)) == event


def _mutated(lines: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Lines with a few characters replaced, inserted or deleted."""
    pieces = st.sampled_from(["", ";", "\t", "::", "[", "]", " ", "\n", "\r", "x", "0", "9", "-"])

    @st.composite
    def edit(draw: st.DrawFn) -> str:
        text = draw(lines)
        for _ in range(draw(st.integers(1, 3))):
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, min(len(text), start + 3)))
            text = text[:start] + draw(pieces | st.characters()) + text[end:]
        return text

    return edit()


random_lines = st.one_of(
    st.text(),
    st.text().map("[".__add__),
    st.text().map(f"[{T}] ".__add__),
    st.text().map("DATATYPE::".__add__),
    _mutated(commands.map(format_command)),
    _mutated(perfdata_lines().map(format_perfdata_line)),
    _mutated(st.sampled_from([line for line, _, _ in GOOD] + [SERVICE_LINE, HOST_LINE])),
)


@given(random_lines)
@settings(max_examples=400, deadline=None)
def test_any_text_is_a_payload_or_an_invalid_event_error(line: str) -> None:
    ids = seeded()
    try:
        made = payload(line, ids)
    except InvalidEventError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert ids == seeded()
    else:
        assert isinstance(made, Payload)


def test_numbering_follows_the_order_of_the_lines() -> None:
    ids = NagiosIds()
    made = [
        payload(f"[{T}] SCHEDULE_SVC_DOWNTIME;h{n};s;{T};{T + 60};1;0;0;a;c", ids) for n in range(3)
    ] + [payload(f"[{T}] ADD_HOST_COMMENT;h{n};1;a;c", ids) for n in range(2)]
    assert [getattr(p, "downtime_id", getattr(p, "comment_id", None)) for p in made] == [
        f"{ORIGIN}/downtime/1",
        f"{ORIGIN}/downtime/2",
        f"{ORIGIN}/downtime/3",
        f"{ORIGIN}/comment/1",
        f"{ORIGIN}/comment/2",
    ]
    assert list(itertools.chain(ids.downtimes, ids.comments)) == [1, 2, 3, 1, 2]
