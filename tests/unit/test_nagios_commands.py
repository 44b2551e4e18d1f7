"""Nagios external command lines: the fourteen commands, good and bad lines, their payloads.

Each command is tested with a good line (every payload field checked) and with bad
arguments; deletions with unknown ids and ids of the other kind; plugin output
splitting; ingest's id numbering; and every valid command survives format-then-parse.
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

from engine.poller.nagios.command_payloads import NagiosIds, split_plugin_output
from engine.poller.nagios.external_commands import (
    COMMANDS,
    MAX_SECONDS,
    SUPPORTED,
    ExternalCommand,
    format_command,
    parse_command,
)
from schemas.errors import InvalidEventError
from schemas.monitoring import ServiceCheckResult
from schemas.operations import DowntimeCancelled, DowntimeScheduled
from schemas.payload import Payload
from tests.support.nagios_lines import (
    GOOD,
    ORIGIN,
    T,
    commands_of,
    payload,
    seeded,
)

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


@pytest.mark.parametrize("name", sorted(COMMANDS))
@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_every_command_survives_format_then_parse(name: str, data: st.DataObject) -> None:
    command = data.draw(commands_of(name))
    line = format_command(command)
    assert "\n" not in line
    assert parse_command(line) == command


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
